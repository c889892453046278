//! The properties the fuzz targets check, as plain functions over bytes, so that
//! `tests/fuzz_regressions.rs` replays every committed seed through exactly the same checks
//! on a plain `cargo test`. Each function panics, with a message saying which property broke,
//! if the input violates it; any input that does not panic upholds it.
//!
//! Nothing here is used by the server. The model in [`actions_vs_model`] is deliberately a
//! second, naive implementation of the 19 actions over a `HashMap`, written from the spec and
//! not from the code it checks.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::action::{self, Outcome, Writes};
use crate::persist::{format, legacy};
use crate::protocol::parse::{to_owned, OwnedElement, QueryParser};
use crate::protocol::{write, Element, ProtocolError};
use crate::table::Table;

fn entries(table: &Table) -> BTreeMap<Vec<u8>, Vec<u8>> {
    table
        .iter()
        .map(|(key, value)| (key.to_vec(), value.to_vec()))
        .collect()
}

/// A decoded table, encoded again and decoded again, is the same table; and its running
/// figures agree with its entries.
fn assert_round_trip(table: &Table) {
    let before = entries(table);
    assert_eq!(
        before.len(),
        table.len(),
        "table length disagrees with its entries"
    );
    let payload: u64 = before.iter().map(|(k, v)| (k.len() + v.len()) as u64).sum();
    assert_eq!(
        payload,
        table.payload_bytes(),
        "payload bytes disagree with the entries"
    );
    let encoded = format::encode_to_vec(table);
    assert_eq!(
        encoded.len() as u64,
        format::encoded_len(table),
        "encoded length"
    );
    let again = format::decode(&encoded).expect("an encoded table decodes");
    assert_eq!(entries(&again), before, "round trip changed the table");
}

/// `format_decode`: arbitrary bytes as a data file decode to a table or give a typed error,
/// never a panic; a table that decodes survives a round trip; its payload is no larger than
/// the input (nothing was invented from declared sizes).
pub fn format_decode(bytes: &[u8]) {
    if let Ok(table) = format::decode(bytes) {
        assert!(
            table.payload_bytes() <= bytes.len() as u64,
            "decoded more payload than the file holds"
        );
        assert_round_trip(&table);
    }
}

/// `format_decode_sealed`: the input behind a valid header with matching checksums, so the
/// entry decoder behind the checksums is exercised. The first two bytes choose the entry count
/// the header claims (the largest values stand for huge counts).
pub fn format_decode_sealed(bytes: &[u8]) {
    let (count, payload) = match bytes {
        [high, low, payload @ ..] => {
            let selector = u16::from_be_bytes([*high, *low]);
            let count = match selector {
                0xffff => u64::MAX,
                0xfffe => u64::from(u32::MAX) + 1,
                selector => u64::from(selector),
            };
            (count, payload)
        }
        _ => (0, bytes),
    };
    let file = format::seal(count, payload);
    match format::decode(&file) {
        Ok(table) => {
            assert_eq!(table.len() as u64, count, "decoded a different entry count");
            assert_round_trip(&table);
        }
        Err(error) => assert!(
            error.offset >= format::HEADER_LEN as u64,
            "a sealed header was refused: {error}"
        ),
    }
}

/// `legacy_decode`: the Skytable 0.6 importer on arbitrary bytes: a table or a typed error,
/// never a panic; what it imports survives a round trip through the Stratus format.
pub fn legacy_decode(bytes: &[u8]) {
    if let Ok(file) = legacy::decode(bytes) {
        assert!(
            file.table.payload_bytes() + file.ignored_trailing_bytes <= bytes.len() as u64,
            "imported more than the file holds"
        );
        assert_round_trip(&file.table);
    }
}

type ParseOutcome = Vec<Result<Vec<OwnedElement>, ProtocolError>>;

/// Parses every query in `input` the way a connection does when all of it arrives at once.
fn parse_whole(input: &[u8], max_query_bytes: usize) -> ParseOutcome {
    parse_in_chunks(input, max_query_bytes, &[input.len()])
}

/// Parses `input` arriving in chunks of the given sizes (cycled), keeping one parser and one
/// growing buffer as a connection does, and removing each complete query from the buffer.
fn parse_in_chunks(input: &[u8], max_query_bytes: usize, chunk_sizes: &[usize]) -> ParseOutcome {
    let mut parser = QueryParser::new(max_query_bytes);
    let mut buffer: Vec<u8> = Vec::new();
    let mut outcome = Vec::new();
    let mut fed = 0;
    for size in chunk_sizes.iter().cycle() {
        let end = (fed + size.max(&1)).min(input.len());
        buffer.extend_from_slice(&input[fed..end]);
        fed = end;
        loop {
            match parser.parse(&buffer) {
                Ok(Some(len)) => {
                    outcome.push(Ok(to_owned(parser.query(&buffer[..len]))));
                    buffer.drain(..len);
                    parser.reset();
                }
                Ok(None) => break,
                Err(error) => {
                    outcome.push(Err(error));
                    return outcome;
                }
            }
        }
        if fed == input.len() {
            return outcome;
        }
    }
    unreachable!("the chunk sizes are never empty")
}

/// `protocol_parse`: however the input is split, the incremental parser yields exactly the
/// queries (and the error) it yields on the whole input; and every action it yields, encoded
/// again as a client would, parses back to itself. The first byte chooses the split pattern,
/// the second the query size limit; the rest is the input.
pub fn protocol_parse(bytes: &[u8]) {
    let [pattern, limit, input @ ..] = bytes else {
        return;
    };
    let max_query_bytes = match limit {
        0 => 1 << 20,
        limit => 8 + usize::from(*limit) * 4,
    };
    let whole = parse_whole(input, max_query_bytes);
    let mut state = u32::from(*pattern) | 0x100;
    let chunk_sizes: Vec<usize> = (0..16)
        .map(|_| {
            state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            1 + (state >> 16) as usize % 9
        })
        .collect();
    for sizes in [&[1][..], &chunk_sizes] {
        assert_eq!(
            parse_in_chunks(input, max_query_bytes, sizes),
            whole,
            "split parsing ({sizes:?}) disagrees with whole parsing"
        );
    }
    for query in whole.iter().flatten() {
        for element in query {
            if let OwnedElement::Action(parts) = element {
                let parts: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
                let mut encoded = Vec::new();
                write::action_query(&mut encoded, &parts);
                let reparsed = parse_whole(&encoded, u32::MAX as usize);
                assert_eq!(
                    reparsed,
                    vec![Ok(vec![element.clone()])],
                    "an action did not survive re-encoding"
                );
            }
        }
    }
}

/// Strings the action generator builds queries from: colliding keys, binary bytes, numbers
/// LSKEYS accepts and refuses, snapshot names valid and not, SYS words.
const WORDS: [&[u8]; 24] = [
    b"a",
    b"b",
    b"c",
    b"",
    b"\x00\xff",
    b"100",
    b"1",
    b"+2",
    b"0",
    b"18446744073709551616",
    b"x y",
    b"..",
    b"a/b",
    b"snap",
    b"METRIC",
    b"health",
    b"INFO",
    b"persistence",
    b"storage",
    b"version",
    b"-1",
    b"\n",
    b"A",
    b"\xff",
];

/// Action names the generator picks from: the 19, SYS, and names that are not actions.
const NAMES: [&str; 22] = [
    "GET", "SET", "UPDATE", "DEL", "HEYA", "EXISTS", "MSET", "MGET", "MUPDATE", "SSET", "SDEL",
    "SUPDATE", "DBSIZE", "FLUSHDB", "USET", "KEYLEN", "MKSNAP", "LSKEYS", "POP", "SYS", "JGET",
    "PING",
];

/// What the model expects an action to produce.
#[derive(Debug, PartialEq, Eq)]
enum Expected {
    /// Exactly these response bytes.
    Bytes(Vec<u8>),
    /// LSKEYS: a flat array of this many distinct existing keys, in any order.
    KeyList(usize),
    /// Handed to the server as an admin request (MKSNAP, SYS).
    Admin,
}

/// The naive model of the table.
#[derive(Default)]
struct Model {
    map: HashMap<Vec<u8>, Vec<u8>>,
}

fn code(code: u8) -> Expected {
    Expected::Bytes(vec![b'!', b'1', b'\n', b'0' + code, b'\n'])
}

fn text(text: &str) -> Expected {
    Expected::Bytes(format!("!{}\n{text}\n", text.len()).into_bytes())
}

fn number(n: usize) -> Expected {
    let digits = n.to_string();
    Expected::Bytes(format!(":{}\n{digits}\n", digits.len()).into_bytes())
}

fn string_element(bytes: &[u8]) -> Vec<u8> {
    let mut element = format!("+{}\n", bytes.len()).into_bytes();
    element.extend_from_slice(bytes);
    element.push(b'\n');
    element
}

impl Model {
    fn value_or_nil(&self, key: &[u8]) -> Vec<u8> {
        match self.map.get(key) {
            Some(value) => string_element(value),
            None => b"!1\n1\n".to_vec(),
        }
    }

    /// skyd 0.6.4's rules, written out one action at a time.
    fn respond(&mut self, poisoned: bool, parts: &[&[u8]]) -> Expected {
        let Some((name, args)) = parts.split_first() else {
            return code(4);
        };
        let upper = name.to_ascii_uppercase();
        let Some(name) = NAMES[..20]
            .iter()
            .find(|n| n.as_bytes() == upper.as_slice())
        else {
            return text("Unknown action");
        };
        let n = args.len();
        let pairs = n > 0 && n % 2 == 0;
        let arity_ok = match *name {
            "GET" | "KEYLEN" => n == 1,
            "SET" | "UPDATE" | "SYS" => n == 2,
            "DBSIZE" | "FLUSHDB" => n == 0,
            "MKSNAP" | "LSKEYS" => n <= 1,
            "HEYA" => true,
            "MSET" | "MUPDATE" | "SSET" | "SUPDATE" | "USET" => pairs,
            _ => n >= 1,
        };
        if !arity_ok {
            return code(3);
        }
        let writes = [
            "SET", "UPDATE", "DEL", "MSET", "MUPDATE", "USET", "SSET", "SDEL", "SUPDATE",
            "FLUSHDB", "POP",
        ];
        if poisoned && writes.contains(name) {
            return code(5);
        }
        let kv: Vec<(Vec<u8>, Vec<u8>)> = args
            .chunks(2)
            .filter(|pair| pair.len() == 2)
            .map(|pair| (pair[0].to_vec(), pair[1].to_vec()))
            .collect();
        match *name {
            "GET" => Expected::Bytes(self.value_or_nil(args[0])),
            "SET" => {
                if self.map.contains_key(args[0]) {
                    return code(2);
                }
                self.map.insert(args[0].to_vec(), args[1].to_vec());
                code(0)
            }
            "UPDATE" => match self.map.get_mut(args[0]) {
                Some(value) => {
                    *value = args[1].to_vec();
                    code(0)
                }
                None => code(1),
            },
            "DEL" => number(
                args.iter()
                    .filter(|k| self.map.remove(**k).is_some())
                    .count(),
            ),
            "HEYA" => Expected::Bytes(string_element(b"HEY!")),
            "EXISTS" => number(args.iter().filter(|k| self.map.contains_key(**k)).count()),
            "MSET" => {
                let mut inserted = 0;
                for (key, value) in kv {
                    if let std::collections::hash_map::Entry::Vacant(slot) = self.map.entry(key) {
                        slot.insert(value);
                        inserted += 1;
                    }
                }
                number(inserted)
            }
            "MGET" => {
                let mut bytes = format!("&{}\n", n).into_bytes();
                for key in args {
                    bytes.extend(self.value_or_nil(key));
                }
                Expected::Bytes(bytes)
            }
            "MUPDATE" => {
                let mut updated = 0;
                for (key, value) in kv {
                    if let Some(slot) = self.map.get_mut(&key) {
                        *slot = value;
                        updated += 1;
                    }
                }
                number(updated)
            }
            "USET" => {
                for (key, value) in kv {
                    self.map.insert(key, value);
                }
                number(n / 2)
            }
            "SSET" => {
                if kv.iter().any(|(key, _)| self.map.contains_key(key)) {
                    return code(2);
                }
                for (key, value) in kv {
                    self.map.entry(key).or_insert(value);
                }
                code(0)
            }
            "SDEL" => {
                if !args.iter().all(|key| self.map.contains_key(*key)) {
                    return code(1);
                }
                for key in args {
                    self.map.remove(*key);
                }
                code(0)
            }
            "SUPDATE" => {
                if !kv.iter().all(|(key, _)| self.map.contains_key(key)) {
                    return code(1);
                }
                self.map.extend(kv);
                code(0)
            }
            "DBSIZE" => number(self.map.len()),
            "FLUSHDB" => {
                self.map.clear();
                code(0)
            }
            "KEYLEN" => match self.map.get(args[0]) {
                Some(value) => number(value.len()),
                None => code(1),
            },
            "LSKEYS" => {
                let limit = match args.first() {
                    None => Some(10),
                    Some(text) => std::str::from_utf8(text)
                        .ok()
                        .and_then(|text| text.parse::<usize>().ok()),
                };
                match limit {
                    Some(limit) => Expected::KeyList(limit.min(self.map.len())),
                    None => code(7),
                }
            }
            "POP" => {
                let mut bytes = format!("&{}\n", n).into_bytes();
                for key in args {
                    match self.map.remove(*key) {
                        Some(value) => bytes.extend(string_element(&value)),
                        None => bytes.extend_from_slice(b"!1\n1\n"),
                    }
                }
                Expected::Bytes(bytes)
            }
            "MKSNAP" => match args.first() {
                None => Expected::Admin,
                Some(name) => {
                    let plain = std::str::from_utf8(name).is_ok_and(|name| {
                        !name.is_empty()
                            && name.len() <= 231
                            && name != "."
                            && !name.contains("..")
                            && !name.contains('/')
                            && !name.chars().any(char::is_control)
                    });
                    if plain {
                        Expected::Admin
                    } else {
                        text("err-invalid-snapshot-name")
                    }
                }
            },
            "SYS" => {
                let words = (args[0].to_ascii_uppercase(), args[1].to_ascii_lowercase());
                let known = matches!(
                    (words.0.as_slice(), words.1.as_slice()),
                    (b"METRIC", b"health" | b"storage") | (b"INFO", b"version" | b"persistence")
                );
                if known {
                    Expected::Admin
                } else {
                    text("err-unknown-property")
                }
            }
            other => unreachable!("{other} is not in the model"),
        }
    }
}

/// Splits a flat-array response `_<n>\n(+<len>\n<bytes>\n)*` into its strings.
fn flat_array_strings(response: &[u8]) -> Option<Vec<Vec<u8>>> {
    let rest = response.strip_prefix(b"_")?;
    let newline = rest.iter().position(|&b| b == b'\n')?;
    let count: usize = std::str::from_utf8(&rest[..newline]).ok()?.parse().ok()?;
    let mut rest = &rest[newline + 1..];
    let mut strings = Vec::with_capacity(count.min(rest.len()));
    for _ in 0..count {
        rest = rest.strip_prefix(b"+")?;
        let newline = rest.iter().position(|&b| b == b'\n')?;
        let len: usize = std::str::from_utf8(&rest[..newline]).ok()?.parse().ok()?;
        let body = rest.get(newline + 1..newline + 1 + len)?;
        strings.push(body.to_vec());
        rest = rest.get(newline + 2 + len..)?;
    }
    rest.is_empty().then_some(strings)
}

/// `actions_vs_model`: a sequence of actions, decoded from the bytes, gives the same response
/// from the real dispatcher and table as from the model, byte for byte (LSKEYS, whose order is
/// unspecified, as a set), and both hold the same entries after every step.
pub fn actions_vs_model(bytes: &[u8]) {
    let mut table = Table::new();
    let mut model = Model::default();
    let mut poisoned = false;
    let mut input = bytes.iter().copied();
    while let Some(selector) = input.next() {
        let selector = usize::from(selector);
        if selector == 0xff {
            poisoned = !poisoned;
            continue;
        }
        let name = NAMES[selector % NAMES.len()];
        // Bit 7 mixes the case of the name.
        let name: String = if selector & 0x80 != 0 {
            name.chars()
                .enumerate()
                .map(|(i, c)| {
                    if i % 2 == 0 {
                        c.to_ascii_lowercase()
                    } else {
                        c
                    }
                })
                .collect()
        } else {
            name.to_owned()
        };
        let count = usize::from(input.next().unwrap_or(0) % 7);
        let mut parts: Vec<&[u8]> = vec![name.as_bytes()];
        for _ in 0..count {
            parts.push(WORDS[usize::from(input.next().unwrap_or(0)) % WORDS.len()]);
        }
        let mut query = Vec::new();
        write::action_query(&mut query, &parts);
        let mut parser = QueryParser::new(1 << 20);
        let len = parser.parse(&query).expect("a generated query parses");
        assert_eq!(len, Some(query.len()), "a generated query is complete");
        let parsed = parser.query(&query);
        let Element::Action { first, count } = parsed.element(0) else {
            panic!("a generated query is not an action");
        };
        let writes = if poisoned {
            Writes::Refused
        } else {
            Writes::Accepted
        };
        let mut out = Vec::new();
        let outcome = action::execute(
            &mut table,
            writes,
            parsed.action_args(first, count),
            &mut out,
        );
        let expected = model.respond(poisoned, &parts);
        match (&expected, outcome) {
            (Expected::Admin, Outcome::Admin(_)) => {}
            (Expected::Bytes(bytes), Outcome::Answered) => assert_eq!(
                String::from_utf8_lossy(&out),
                String::from_utf8_lossy(bytes),
                "{parts:?}"
            ),
            (Expected::KeyList(len), Outcome::Answered) => {
                let keys = flat_array_strings(&out).expect("LSKEYS answers a flat array");
                let distinct: BTreeSet<&Vec<u8>> = keys.iter().collect();
                assert_eq!((keys.len(), distinct.len()), (*len, *len), "{parts:?}");
                assert!(
                    keys.iter().all(|key| model.map.contains_key(key)),
                    "LSKEYS listed a key that does not exist: {parts:?}"
                );
            }
            (expected, outcome) => {
                panic!("{parts:?}: expected {expected:?}, got {outcome:?} writing {out:?}")
            }
        }
        let model_entries: BTreeMap<Vec<u8>, Vec<u8>> = model.map.clone().into_iter().collect();
        assert_eq!(entries(&table), model_entries, "after {parts:?}");
        let payload: u64 = model_entries
            .iter()
            .map(|(k, v)| (k.len() + v.len()) as u64)
            .sum();
        assert_eq!(
            table.payload_bytes(),
            payload,
            "payload bytes after {parts:?}"
        );
    }
}

//! The properties the fuzz targets check, as plain functions over bytes, so that
//! `tests/fuzz_regressions.rs` replays every committed seed through exactly the same checks
//! on a plain `cargo test`. Each function panics, with a message saying which property broke,
//! if the input violates it; any input that does not panic upholds it.
//!
//! Nothing here is used by the server. The model in [`actions_vs_model`] is deliberately a
//! second, naive implementation of the 19 actions over a `HashMap`, written from the spec and
//! not from the code it checks; [`commands_vs_model`]'s is the same for the Redis commands
//! over the table, written from Redis 7.0.15's behaviour.
//!
//! A decoder must also never allocate in proportion to a count or length a file merely
//! declares. libFuzzer's own memory limits need a sanitizer, which the stable toolchain does
//! not give us, so a [`CountingAllocator`] (installed as the global allocator by the fuzz
//! targets and the regression tests) measures the peak, and [`decode_allocation_bound`] states
//! what the format allows.

// Unsafe here: the counting allocator, which forwards to the system allocator.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::action::{self, Outcome, Writes};
use crate::persist::journal::format as journal_format;
use crate::persist::{format, legacy};
use crate::protocol::parse::{to_owned, OwnedElement, QueryParser};
use crate::protocol::{reply, write, Element, ProtocolError};
use crate::resp;
use crate::table::{Table, Undoable};

mod commands;
mod journal;
mod steps;
pub use commands::{commands_vs_model, encode_command_steps, COMMAND_NAMES};
pub use journal::{
    journal_decode, journal_decode_allocation_bound, journal_decode_sealed,
    sealed_journal_decode_allocation_bound,
};
pub use steps::ModelStep;
use steps::Step;

fn entries(table: &Table) -> BTreeMap<Vec<u8>, Vec<u8>> {
    table
        .iter()
        .map(|(key, value)| (key.to_vec(), value.to_vec()))
        .collect()
}

/// A decoded table, encoded again (recording `journal_segment`) and decoded again, is the same
/// table with the same journal segment; and its running figures agree with its entries.
fn assert_round_trip(table: &Table, journal_segment: u64) {
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
    let encoded = format::encode_to_vec_with(table, journal_segment);
    assert_eq!(
        encoded.len() as u64,
        format::encoded_len(table),
        "encoded length"
    );
    let again = format::decode_file(&encoded).expect("an encoded table decodes");
    assert_eq!(
        (again.version, again.journal_segment),
        (format::VERSION, journal_segment),
        "round trip changed the header"
    );
    assert_eq!(
        entries(&again.table),
        before,
        "round trip changed the table"
    );
}

/// `format_decode`: arbitrary bytes as a data file (either version) decode to a table or give
/// a typed error, never a panic; a table that decodes survives a round trip with its journal
/// segment; its payload is no larger than the input (nothing was invented from declared
/// sizes).
pub fn format_decode(bytes: &[u8]) {
    if let Ok(file) = format::decode_file(bytes) {
        assert!(
            file.table.payload_bytes() <= bytes.len() as u64,
            "decoded more payload than the file holds"
        );
        assert!(
            file.version == format::VERSION || file.journal_segment == 0,
            "a version {} file named journal segment {}",
            file.version,
            file.journal_segment
        );
        assert_round_trip(&file.table, file.journal_segment);
    }
}

/// What decoding a sealed payload gave, compared across the two versions: the table's size and
/// an order-independent digest of its entries, or the fault with its offset in the payload.
type SealedOutcome = Result<(usize, u64, u32), (u64, format::Fault)>;

/// Decodes `payload` sealed as a file of `version` claiming `count` entries and (version 2)
/// `journal_segment`; checks what any decoded table must satisfy.
fn decode_sealed(version: u32, journal_segment: u64, count: u64, payload: &[u8]) -> SealedOutcome {
    let file = format::seal(version, journal_segment, count, payload);
    let header_len = (file.len() - payload.len()) as u64;
    match format::decode_file(&file) {
        Ok(decoded) => {
            assert_eq!(decoded.version, version, "decoded a different version");
            assert_eq!(
                decoded.journal_segment, journal_segment,
                "decoded a different journal segment"
            );
            let table = decoded.table;
            assert_eq!(table.len() as u64, count, "decoded a different entry count");
            assert_round_trip(&table, journal_segment);
            let digest = table.iter().fold(0u32, |digest, (key, value)| {
                let mut hasher = crc32fast::Hasher::new();
                hasher.update(&(key.len() as u64).to_le_bytes());
                hasher.update(key);
                hasher.update(value);
                digest.wrapping_add(hasher.finalize())
            });
            Ok((table.len(), table.payload_bytes(), digest))
        }
        Err(error) => {
            assert!(
                error.offset >= header_len,
                "a sealed version {version} header was refused: {error}"
            );
            Err((error.offset - header_len, error.fault))
        }
    }
}

/// `format_decode_sealed`: the input behind a valid header with matching checksums, so the
/// entry decoder behind the checksums is exercised, once in each version: both give the same
/// table, or the same fault at the same place in the payload. The first two bytes choose the
/// entry count the header claims (the largest values stand for huge counts), which version 2
/// also records as its journal segment.
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
    let version_1 = decode_sealed(format::VERSION_1, 0, count, payload);
    let version_2 = decode_sealed(format::VERSION, count, count, payload);
    assert_eq!(
        version_1, version_2,
        "the versions decode the payload apart"
    );
}

/// `legacy_decode`: the Skytable 0.6 importer on arbitrary bytes: a table or a typed error,
/// never a panic; what it imports survives a round trip through the Stratus format.
pub fn legacy_decode(bytes: &[u8]) {
    if let Ok(file) = legacy::decode(bytes) {
        assert!(
            file.table.payload_bytes() + file.ignored_trailing_bytes <= bytes.len() as u64,
            "imported more than the file holds"
        );
        assert_round_trip(&file.table, 0);
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

/// The chunk sizes (1 to 9 bytes, cycled) a split-pattern byte stands for.
fn chunk_sizes(pattern: u8) -> Vec<usize> {
    let mut state = u32::from(pattern) | 0x100;
    (0..16)
        .map(|_| {
            state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            1 + (state >> 16) as usize % 9
        })
        .collect()
}

/// The query limit a limit byte stands for: 0 is 1 MiB, `n` is `8 + 4n` bytes.
fn query_limit(limit: u8) -> usize {
    match limit {
        0 => 1 << 20,
        limit => 8 + usize::from(limit) * 4,
    }
}

/// `protocol_parse`: however the input is split, the incremental parser yields exactly the
/// queries (and the error) it yields on the whole input; and every action it yields, encoded
/// again as a client would, parses back to itself. The first byte chooses the split pattern,
/// the second the query size limit; the rest is the input.
pub fn protocol_parse(bytes: &[u8]) {
    let [pattern, limit, input @ ..] = bytes else {
        return;
    };
    let max_query_bytes = query_limit(*limit);
    let whole = parse_whole(input, max_query_bytes);
    let chunk_sizes = chunk_sizes(*pattern);
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

type RespOutcome = Vec<Result<Vec<Vec<u8>>, resp::ProtocolError>>;

/// Parses RESP requests from `input` arriving in chunks of the given sizes (cycled), keeping
/// one parser and one growing buffer as a connection does.
fn resp_in_chunks(input: &[u8], max_query_bytes: usize, chunk_sizes: &[usize]) -> RespOutcome {
    let mut parser = resp::RequestParser::new(max_query_bytes);
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
                    let args = parser.args(&buffer[..len]).iter().map(<[u8]>::to_vec);
                    outcome.push(Ok(args.collect()));
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

/// `resp_parse`: however the input is split, the incremental RESP parser yields exactly the
/// requests (and the error) it yields on the whole input; and every request, encoded again as
/// a multibulk, parses back to the same arguments. Control bytes as for `protocol_parse`.
pub fn resp_parse(bytes: &[u8]) {
    let [pattern, limit, input @ ..] = bytes else {
        return;
    };
    let max_query_bytes = query_limit(*limit);
    let whole = resp_in_chunks(input, max_query_bytes, &[input.len()]);
    for sizes in [&[1][..], &chunk_sizes(*pattern)] {
        assert_eq!(
            resp_in_chunks(input, max_query_bytes, sizes),
            whole,
            "split parsing ({sizes:?}) disagrees with whole parsing"
        );
    }
    for args in whole.iter().flatten() {
        let parts: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
        let mut encoded = Vec::new();
        resp::write::request(&mut encoded, &parts);
        let reparsed = resp_in_chunks(&encoded, u32::MAX as usize, &[encoded.len()]);
        assert_eq!(
            reparsed,
            vec![Ok(args.clone())],
            "a request did not survive re-encoding"
        );
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
            // Whether a name is a valid file name is the snapshot code's to say, after
            // dispatch; the action only requires text.
            "MKSNAP" => match args.first() {
                Some(name) if std::str::from_utf8(name).is_err() => {
                    text("err-invalid-snapshot-name")
                }
                _ => Expected::Admin,
            },
            "SYS" => {
                let words = (args[0].to_ascii_uppercase(), args[1].to_ascii_lowercase());
                let known = matches!(
                    (words.0.as_slice(), words.1.as_slice()),
                    (b"METRIC", b"health" | b"storage")
                        | (b"INFO", b"version" | b"persistence" | b"clients")
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

/// The strings of a flat-array response element, if it is exactly one.
fn flat_array_strings(response: &[u8]) -> Option<Vec<Vec<u8>>> {
    match reply::parse_element(response) {
        Ok(Some((reply::Element::FlatArray(strings), len))) if len == response.len() => {
            Some(strings.into_iter().map(<[u8]>::to_vec).collect())
        }
        _ => None,
    }
}

/// `actions_vs_model`: a sequence of actions, decoded from the bytes, gives the same response
/// from the real dispatcher and table as from the model, byte for byte (LSKEYS, whose order is
/// unspecified, as a set), and both hold the same entries after every step.
pub fn actions_vs_model(bytes: &[u8]) {
    let mut table = Table::new();
    table.start_change_log(Undoable::Yes);
    // What replaying the journal would rebuild: every step's records, framed as the journal
    // writes them, scanned and applied to a second table.
    let mut replayed = Table::new();
    let mut frames = Vec::new();
    let mut model = Model::default();
    let mut poisoned = false;
    let mut input = bytes.iter().copied();
    while let Some(step) = steps::next_step(&mut input, &NAMES, &WORDS) {
        let Step::Request { name, args } = step else {
            poisoned = !poisoned;
            continue;
        };
        let parts: Vec<&[u8]> = std::iter::once(name.as_bytes()).chain(args).collect();
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
        assert_entries_agree(&mut table, &mut replayed, &mut frames, &model.map, &parts);
    }
}

/// After a step: the table holds the model's entries, and the payload bytes they add up to;
/// and the step's change log, replayed through the journal format, leaves the same entries.
fn assert_entries_agree(
    table: &mut Table,
    replayed: &mut Table,
    frames: &mut Vec<u8>,
    model: &HashMap<Vec<u8>, Vec<u8>>,
    parts: &[&[u8]],
) {
    let model_entries: BTreeMap<Vec<u8>, Vec<u8>> = model.clone().into_iter().collect();
    assert_eq!(entries(table), model_entries, "after {}", shown(parts));
    replay_step(table, replayed, frames);
    assert_eq!(
        entries(replayed),
        model_entries,
        "replayed after {}",
        shown(parts)
    );
    let payload: u64 = model_entries
        .iter()
        .map(|(k, v)| (k.len() + v.len()) as u64)
        .sum();
    assert_eq!(
        table.payload_bytes(),
        payload,
        "payload bytes after {}",
        shown(parts)
    );
}

/// A request for a failure message: each part quoted, its bytes escaped.
fn shown(parts: &[&[u8]]) -> String {
    let quoted: Vec<String> = parts
        .iter()
        .map(|part| format!("\"{}\"", part.escape_ascii()))
        .collect();
    quoted.join(" ")
}

/// Commits the table's change log as one journal frame (if it holds anything), and replays
/// the frame, read back through the journal's scanner, into `replayed`.
fn replay_step(table: &mut Table, replayed: &mut Table, frames: &mut Vec<u8>) {
    let Some(log) = table.change_log() else {
        return;
    };
    let (body, records) = log.effects();
    if records == 0 {
        return;
    }
    let mut segment = journal_format::encode_segment_header(&journal_format::SegmentHeader {
        segment: 1,
        first_frame: 1,
    })
    .to_vec();
    frames.clear();
    journal_format::encode_frame(frames, 1, records, body);
    segment.extend_from_slice(frames);
    let scan = journal_format::scan_segment(&segment);
    assert_eq!(
        scan.end,
        journal_format::ScanEnd::Clean,
        "a step's frame scans clean"
    );
    let [frame] = scan.frames.as_slice() else {
        panic!("one frame per step, found {}", scan.frames.len());
    };
    let decoded = frame.records().expect("a step's records decode");
    journal_format::apply(replayed, &decoded);
    table.commit_changes();
}

/// The bytes [`actions_vs_model`] decodes into `steps`: the inverse of its decoding, so seeds
/// name their actions and stay right if the lists change. Panics on a name, word or argument
/// count the generator cannot produce.
pub fn encode_model_steps(steps: &[ModelStep<'_>]) -> Vec<u8> {
    steps::encode_steps(steps, &NAMES, &WORDS)
}

/// The system allocator, counting for each thread the bytes it has allocated and not freed, and
/// the most it ever had at once, so a property can bound what the code under test holds.
/// Counting per thread keeps a measurement to the code that runs it: another thread (the test
/// harness's, a parallel test's) allocating or freeing meanwhile does not move it. Sizes are
/// the requested ones (`Layout::size`), not what the system rounds them up to.
pub struct CountingAllocator;

thread_local! {
    /// Bytes this thread allocated minus bytes it freed (negative if it frees another's).
    static CURRENT: Cell<isize> = const { Cell::new(0) };
    /// The highest `CURRENT` since the last measurement started.
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

impl CountingAllocator {
    pub const fn new() -> Self {
        CountingAllocator
    }

    /// Runs `work` and returns the most bytes this thread held allocated at once during it,
    /// above what it held when it started.
    pub fn peak_during(&self, work: impl FnOnce()) -> usize {
        let baseline = CURRENT.with(Cell::get);
        PEAK.with(|peak| peak.set(baseline));
        work();
        let peak = PEAK.with(Cell::get);
        usize::try_from(peak - baseline).unwrap_or(0)
    }

    fn grew(&self, bytes: usize) {
        // `try_with`: a thread's last frees may come after its counters are gone.
        let _ = CURRENT.try_with(|current| {
            let now = current.get().saturating_add_unsigned(bytes);
            current.set(now);
            let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
        });
    }

    fn shrank(&self, bytes: usize) {
        let _ =
            CURRENT.try_with(|current| current.set(current.get().saturating_sub_unsigned(bytes)));
    }
}

impl Default for CountingAllocator {
    fn default() -> Self {
        Self::new()
    }
}

// SAFETY: every method forwards to `System` with the caller's own arguments, so `System`'s
// guarantees are ours; the counting only touches const-initialised thread-locals without
// destructors, which never allocate.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `alloc`'s contract (a non-zero size), which is `System`'s.
        let block = unsafe { System.alloc(layout) };
        if !block.is_null() {
            self.grew(layout.size());
        }
        block
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let block = unsafe { System.alloc_zeroed(layout) };
        if !block.is_null() {
            self.grew(layout.size());
        }
        block
    }

    unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
        // SAFETY: `block` came from this allocator, hence from `System`, with this `layout`.
        unsafe { System.dealloc(block, layout) };
        self.shrank(layout.size());
    }

    unsafe fn realloc(&self, block: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `block` came from `System` with `layout`, and the caller upholds `realloc`'s
        // contract for `new_size`.
        let moved = unsafe { System.realloc(block, layout, new_size) };
        if !moved.is_null() {
            // On failure the old block is still allocated and nothing changed.
            if new_size >= layout.size() {
                self.grew(new_size - layout.size());
            } else {
                self.shrank(layout.size() - new_size);
            }
        }
        moved
    }
}

/// Bytes a `Table`'s hash table takes per entry of capacity: 17 per bucket (a 16-byte entry
/// handle and a control byte) and at most 16/7 buckets per entry (a 7/8 load factor, rounded
/// up to a power of two): 38.9, rounded up.
const HASH_TABLE_BYTES_PER_ENTRY: usize = 39;
/// A hash table's bytes beyond its per-entry share: a small table has at least 8 buckets
/// (8 × 17) and every table 16 trailing control bytes.
const HASH_TABLE_FIXED_BYTES: usize = 8 * 17 + 16;
/// An entry's own allocation besides its key and value: the 4-byte key length.
const ENTRY_PREFIX_BYTES: usize = 4;
/// What the property's sorted copy of a table (`entries`) takes per entry besides the key and
/// value bytes: its share of B-tree nodes (a leaf, 11 pairs of 24-byte `Vec`s, is 544 bytes
/// and holds at least 5 pairs; an internal node, 12 edges more, is 640 bytes and has at least
/// 6 children, so there is at most one per 5 leaves), and the 48-byte pair that `collect`
/// buffers before it builds the tree.
const SORTED_COPY_BYTES_PER_ENTRY: usize = 544 / 5 + 640 / 5 / 5 + 48;
/// Bytes not proportional to the input: mostly the nodes of the sorted copies that a table of
/// a few entries leaves nearly empty (a root and the right edge of each tree level).
const FIXED_BYTES: usize = 4096;

/// The most bytes [`format_decode`] (or [`format_decode_sealed`] or [`legacy_decode`]) may
/// hold allocated at once for an input of `input_len` bytes.
///
/// Every entry of a Stratus file takes at least [`format::ENTRY_OVERHEAD`] input bytes (a
/// Skytable 0.6 entry at least 16), so a decoder that trusts no declared count or length holds
/// at most `input_len / 8` entries and `input_len` bytes of keys and values. The property holds
/// two decoded tables at once (the decoded one and the one decoded again from its encoding),
/// each a hash table and one allocation per entry; the encoding itself (no longer than the
/// input, plus a header for an imported file); and two sorted copies for the comparison.
pub fn decode_allocation_bound(input_len: usize) -> usize {
    let entries = input_len / format::ENTRY_OVERHEAD;
    let payload = input_len;
    let table = entries * (HASH_TABLE_BYTES_PER_ENTRY + ENTRY_PREFIX_BYTES)
        + HASH_TABLE_FIXED_BYTES
        + payload;
    let encoding = format::HEADER_LEN + input_len;
    let sorted_copy = entries * SORTED_COPY_BYTES_PER_ENTRY + payload;
    2 * table + encoding + 2 * sorted_copy + FIXED_BYTES
}

/// The most bytes [`format_decode_sealed`] may hold for an input of `input_len` bytes: the
/// bound of decoding the sealed file (the payload behind a header), plus that file.
pub fn sealed_decode_allocation_bound(input_len: usize) -> usize {
    let file_len = format::HEADER_LEN + input_len;
    decode_allocation_bound(file_len) + file_len
}

/// Runs `property` and panics if it held more than `bound` bytes allocated at once, as
/// measured by `allocator` (which must be the global allocator).
pub fn assert_allocation_within(
    allocator: &CountingAllocator,
    bound: usize,
    property: impl FnOnce(),
) {
    let peak = allocator.peak_during(property);
    assert!(
        peak <= bound,
        "allocated {peak} bytes at once, more than the bound of {bound}"
    );
}

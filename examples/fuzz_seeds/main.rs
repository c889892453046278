//! Writes the fuzz seeds into `fuzz/seeds/<target>/`: data files of both versions made by the
//! encoder and a few damaged ones, journal segments and frame bodies (in `journal.rs`), Skytable
//! 0.6 files, every query of the spec's byte-exact examples, the RESP requests and protocol
//! errors Redis 7.0.15 was seen to give, action sequences that reach every action, and Redis
//! command sequences that reach every command (in `commands.rs`); and the dictionaries of the
//! two model targets, `fuzz/dicts/{actions,commands}_vs_model.dict`, whose entries are encoded
//! steps. Run `cargo run --example fuzz_seeds` after a format or a generator's list changes,
//! and commit the result; `tests/fuzz_regressions.rs` replays every seed.
//!
//! It only (over)writes the files it makes: crash reproducers committed beside them are kept.

mod commands;
mod journal;

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use stratus::persist::format;
use stratus::properties::{encode_model_steps, ModelStep};
use stratus::protocol::write;
use stratus::resp;
use stratus::table::Table;

use format::{ENTRY_COUNT_OFFSET, FLAGS_OFFSET, JOURNAL_SEGMENT_OFFSET, VERSION_OFFSET};

/// The journal segment the version 2 seeds record.
const SEED_JOURNAL_SEGMENT: u64 = 7;

/// One seed: a file name saying what it holds, and its bytes.
type Seed = (String, Vec<u8>);

fn main() -> io::Result<()> {
    let root = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/seeds"));
    let targets: [(&str, Vec<Seed>); 9] = [
        ("format_decode", format_decode_seeds()),
        ("format_decode_sealed", format_decode_sealed_seeds()),
        ("journal_decode", journal::journal_decode_seeds()),
        (
            "journal_decode_sealed",
            journal::journal_decode_sealed_seeds(),
        ),
        ("legacy_decode", legacy_decode_seeds()),
        ("protocol_parse", protocol_parse_seeds()),
        ("resp_parse", resp_parse_seeds()),
        ("actions_vs_model", actions_vs_model_seeds()),
        ("commands_vs_model", commands::commands_vs_model_seeds()),
    ];
    for (target, seeds) in targets {
        let dir = root.join(target);
        fs::create_dir_all(&dir)?;
        for (name, bytes) in &seeds {
            write_seed(&dir, name, bytes)?;
        }
        println!("{}: {} seeds", dir.display(), seeds.len());
    }
    let dicts = [
        (
            "actions_vs_model",
            steps_dict("actions_vs_model", encode_model_steps, &ACTION_NAMES, &[]),
        ),
        ("commands_vs_model", commands::commands_vs_model_dict()),
    ];
    for (target, dict) in dicts {
        let path = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/dicts"))
            .join(format!("{target}.dict"));
        fs::write(&path, dict)?;
        println!("{}", path.display());
    }
    Ok(())
}

/// The 19 actions of skyd 0.6.4 and SYS.
const ACTION_NAMES: [&str; 20] = [
    "GET", "SET", "UPDATE", "DEL", "HEYA", "EXISTS", "MSET", "MGET", "MUPDATE", "SSET", "SDEL",
    "SUPDATE", "DBSIZE", "FLUSHDB", "USET", "KEYLEN", "MKSNAP", "LSKEYS", "POP", "SYS",
];

/// A model target reads bytes, not names, so its dictionary holds encoded steps: every name
/// with no, one and two arguments, the poisoning toggle, and the `extra` steps.
fn steps_dict(
    target: &str,
    encode: fn(&[ModelStep<'_>]) -> Vec<u8>,
    names: &[&str],
    extra: &[(&str, ModelStep<'_>)],
) -> String {
    let mut dict = format!(
        "# libFuzzer dictionary for {target}: each entry is one encoded step (see\n\
         # src/properties/steps.rs). Written by `cargo run --example fuzz_seeds`.\n\n"
    );
    let mut entry = |name: &str, step: &ModelStep<'_>| {
        let escaped: String = encode(std::slice::from_ref(step))
            .iter()
            .map(|byte| format!("\\x{byte:02x}"))
            .collect();
        dict.push_str(&format!("{name}=\"{escaped}\"\n"));
    };
    entry("toggle_poison", &ModelStep::TogglePoison);
    let arg_lists: [&[&[u8]]; 3] = [&[], &[b"a"], &[b"a", b"100"]];
    for name in names {
        for args in arg_lists {
            entry(&format!("{name}_{}", args.len()), &act(name, args));
        }
    }
    for (name, step) in extra {
        entry(name, step);
    }
    dict
}

fn write_seed(dir: &Path, name: &str, bytes: &[u8]) -> io::Result<()> {
    fs::write(dir.join(name), bytes)
}

fn table(entries: &[(&[u8], &[u8])]) -> Table {
    let mut table = Table::new();
    for (key, value) in entries {
        table.insert_new(key, value);
    }
    table
}

/// Tables the encoder writes, by name: the shapes a data file can take.
fn sample_tables() -> Vec<(&'static str, Table)> {
    let big_value: Vec<u8> = (0..64 * 1024).map(|i| (i % 251) as u8).collect();
    let mut many_keys = Table::new();
    for i in 0..1000 {
        many_keys.insert_new(format!("key:{i}").as_bytes(), &[b'v'; 3]);
    }
    // The densest file: the most entries per byte, the worst case for memory per input byte.
    let mut one_byte_keys = Table::new();
    for key in 0..=255u8 {
        one_byte_keys.insert_new(&[key], b"");
    }
    vec![
        ("empty-table", Table::new()),
        ("one-key", table(&[(b"x", b"100")])),
        (
            "binary-keys",
            table(&[
                (b"\x00\xff", &[0xab; 300]),
                (b"\x00", b"\r\n"),
                (b"\xff\xfe\xfd", b"\x00\x00\x00\x00"),
            ]),
        ),
        (
            "empty-key-and-empty-value",
            table(&[(b"", b"empty key"), (b"empty value", b""), (b"k", b"v")]),
        ),
        ("value-64-kib", table(&[(b"big", &big_value)])),
        ("many-small-keys", many_keys),
        ("256-one-byte-keys-empty-values", one_byte_keys),
    ]
}

/// Recomputes the header checksum after an edit of the header, so the edit itself is what the
/// decoder sees; `header_crc` is where the file's version keeps it.
fn reseal_header(file: &mut [u8], header_crc: usize) {
    let crc = crc32fast::hash(&file[..header_crc]);
    file[header_crc..header_crc + 4].copy_from_slice(&crc.to_le_bytes());
}

/// `entries` as a file of format `version` (recording [`SEED_JOURNAL_SEGMENT`] if version 2),
/// in the order given.
fn sealed_file(version: u32, entries: &[(&[u8], &[u8])]) -> Vec<u8> {
    let payload: Vec<u8> = entries
        .iter()
        .flat_map(|(key, value)| format::entry_bytes(key, value))
        .collect();
    let segment = if version == format::VERSION {
        SEED_JOURNAL_SEGMENT
    } else {
        0
    };
    format::seal(version, segment, entries.len() as u64, &payload)
}

/// What the encoder of `version` writes for `table`, with the entries in key order. The
/// encoder writes them in hash order, which changes from run to run; sorting keeps the seeds
/// the same bytes every time they are generated.
fn encoded_in_key_order(version: u32, table: &Table) -> Vec<u8> {
    let mut entries: Vec<(&[u8], &[u8])> = table.iter().collect();
    entries.sort();
    let file = sealed_file(version, &entries);
    if version == format::VERSION {
        let encoded = format::encode_to_vec_with(table, SEED_JOURNAL_SEGMENT);
        assert_eq!(file.len(), encoded.len(), "the encoder's layout");
        if table.len() <= 1 {
            assert_eq!(file, encoded, "the encoder's layout");
        }
    }
    file
}

/// Files of format `version` damaged in every way the decoder tells apart; `prefix` starts
/// their names. Version 1's are the seeds from before version 2, unchanged.
fn damaged_seeds(version: u32, prefix: &str) -> Vec<Seed> {
    let (header_len, header_crc) = match version {
        format::VERSION_1 => (format::HEADER_LEN_V1, format::HEADER_CRC_OFFSET_V1),
        _ => (format::HEADER_LEN, format::HEADER_CRC_OFFSET),
    };
    let good = sealed_file(version, &[(b"x", b"100"), (b"", b"empty key")]);
    let damaged = |edit: &dyn Fn(&mut Vec<u8>)| {
        let mut file = good.clone();
        edit(&mut file);
        file
    };
    let resealed = |edit: &dyn Fn(&mut Vec<u8>)| {
        damaged(&|file| {
            edit(file);
            reseal_header(file, header_crc);
        })
    };
    let last = good.len() - 1;
    let mut seeds = vec![
        ("damaged-truncated", good[..last].to_vec()),
        ("damaged-header-only", good[..header_len].to_vec()),
        ("damaged-shorter-than-header", good[..20].to_vec()),
        ("damaged-trailing-byte", damaged(&|f| f.push(0))),
        ("damaged-payload-bit-flip", damaged(&|f| f[last] ^= 0x10)),
        ("damaged-bad-magic", damaged(&|f| f[1] = b's')),
        ("damaged-header-checksum", damaged(&|f| f[20] ^= 1)),
        (
            "damaged-flags-set-resealed",
            resealed(&|f| f[FLAGS_OFFSET + 3] = 0x80),
        ),
        (
            "damaged-count-too-high-resealed",
            resealed(&|f| f[ENTRY_COUNT_OFFSET] += 1),
        ),
        (
            "damaged-count-huge-resealed",
            resealed(&|f| {
                f[ENTRY_COUNT_OFFSET..ENTRY_COUNT_OFFSET + 8].copy_from_slice(&[0xff; 8])
            }),
        ),
        (
            "sealed-duplicate-key",
            sealed_file(version, &[(b"k", b"1"), (b"k", b"2")]),
        ),
        ("sealed-key-length-u32-max", {
            let mut file = sealed_file(version, &[(b"k", b"v")]);
            file[header_len..header_len + 4].copy_from_slice(&u32::MAX.to_le_bytes());
            reseal_payload(&mut file, version);
            file
        }),
    ];
    if version == format::VERSION_1 {
        seeds.push((
            "damaged-version-2-resealed",
            resealed(&|f| f[VERSION_OFFSET] = 2),
        ));
    } else {
        seeds.extend([
            (
                "damaged-version-3-resealed",
                resealed(&|f| f[VERSION_OFFSET] = 3),
            ),
            (
                "damaged-version-1-resealed",
                resealed(&|f| f[VERSION_OFFSET] = 1),
            ),
            (
                "damaged-journal-segment-bit-flip",
                damaged(&|f| f[JOURNAL_SEGMENT_OFFSET] ^= 1),
            ),
            (
                "journal-segment-u64-max-resealed",
                resealed(&|f| {
                    f[JOURNAL_SEGMENT_OFFSET..JOURNAL_SEGMENT_OFFSET + 8]
                        .copy_from_slice(&[0xff; 8])
                }),
            ),
        ]);
    }
    seeds
        .into_iter()
        .map(|(name, bytes)| (format!("{prefix}{name}"), bytes))
        .collect()
}

/// Recomputes both checksums of a file of `version` whose payload was edited.
fn reseal_payload(file: &mut [u8], version: u32) {
    let (header_len, payload_crc, header_crc) = match version {
        format::VERSION_1 => (
            format::HEADER_LEN_V1,
            format::PAYLOAD_CRC_OFFSET_V1,
            format::HEADER_CRC_OFFSET_V1,
        ),
        _ => (
            format::HEADER_LEN,
            format::PAYLOAD_CRC_OFFSET,
            format::HEADER_CRC_OFFSET,
        ),
    };
    let crc = crc32fast::hash(&file[header_len..]);
    file[payload_crc..payload_crc + 4].copy_from_slice(&crc.to_le_bytes());
    reseal_header(file, header_crc);
}

fn format_decode_seeds() -> Vec<Seed> {
    let mut seeds = Vec::new();
    for (version, prefix) in [(format::VERSION_1, ""), (format::VERSION, "v2-")] {
        seeds.extend(sample_tables().into_iter().map(|(name, table)| {
            let file = encoded_in_key_order(version, &table);
            (format!("{prefix}encoded-{name}"), file)
        }));
        seeds.extend(damaged_seeds(version, prefix));
    }
    seeds
}

/// The sealed target's input: a big-endian u16 that chooses the entry count, then a payload.
fn sealed_input(count_selector: u16, payload: &[u8]) -> Vec<u8> {
    let mut input = count_selector.to_be_bytes().to_vec();
    input.extend_from_slice(payload);
    input
}

fn format_decode_sealed_seeds() -> Vec<Seed> {
    let mut seeds: Vec<Seed> = sample_tables()
        .into_iter()
        .map(|(name, table)| {
            let file = encoded_in_key_order(format::VERSION, &table);
            let count = u16::try_from(table.len()).expect("sample tables are small");
            let input = sealed_input(count, &file[format::HEADER_LEN..]);
            (format!("payload-{name}"), input)
        })
        .collect();
    let one = format::entry_bytes(b"k", b"v");
    let two = [
        format::entry_bytes(b"a", b"1"),
        format::entry_bytes(b"b", b"22"),
    ]
    .concat();
    let mut long_key = one.clone();
    long_key[..4].copy_from_slice(&u32::MAX.to_le_bytes());
    let mut long_value = one.clone();
    long_value[4..8].copy_from_slice(&(u32::MAX - 1).to_le_bytes());
    seeds.extend(
        [
            ("count-one-more-than-entries", sealed_input(3, &two)),
            ("count-one-less-than-entries", sealed_input(1, &two)),
            ("count-u64-max", sealed_input(0xffff, &one)),
            ("count-u32-max-plus-one", sealed_input(0xfffe, &one)),
            ("entry-cut-in-lengths", sealed_input(1, &one[..5])),
            ("entry-cut-in-value", sealed_input(1, &one[..9])),
            ("key-length-u32-max", sealed_input(1, &long_key)),
            ("value-length-u32-max", sealed_input(1, &long_value)),
            (
                "duplicate-key",
                sealed_input(2, &[one.clone(), one].concat()),
            ),
            ("count-only", vec![0x00]),
        ]
        .map(|(name, bytes)| (name.to_owned(), bytes)),
    );
    seeds
}

/// A Skytable 0.6 file: a u64 LE count, then per entry a u64 LE length and bytes for the key
/// and again for the value.
fn legacy_file(count: u64, entries: &[(&[u8], &[u8])]) -> Vec<u8> {
    let mut bytes = count.to_le_bytes().to_vec();
    for (key, value) in entries {
        for part in [key, value] {
            bytes.extend_from_slice(&(part.len() as u64).to_le_bytes());
            bytes.extend_from_slice(part);
        }
    }
    bytes
}

fn legacy_decode_seeds() -> Vec<Seed> {
    let one_key = legacy_file(1, &[(b"x", b"100")]);
    assert_eq!(one_key.len(), 28, "the file skyd 0.6.4 writes for x = 100");
    let several: [(&[u8], &[u8]); 4] = [
        (b"x", b"100"),
        (b"", b"empty key"),
        (b"empty value", b""),
        (b"\x00\xff", b"\xfe\x00"),
    ];
    let mut trailing = one_key.clone();
    trailing.extend_from_slice(&[7; 5]);
    let mut huge_key = one_key.clone();
    huge_key[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
    let mut huge_count = one_key.clone();
    huge_count[..8].copy_from_slice(&u64::MAX.to_le_bytes());
    let mut value_past_end = one_key.clone();
    value_past_end[17] = 4;
    [
        ("skyd-x-100", one_key.clone()),
        ("empty-table", legacy_file(0, &[])),
        ("empty-file", Vec::new()),
        ("several-entries", legacy_file(4, &several)),
        ("trailing-bytes-after-last-entry", trailing),
        ("truncated-value", one_key[..27].to_vec()),
        ("truncated-count", one_key[..5].to_vec()),
        (
            "count-one-more-than-entries",
            legacy_file(2, &[(b"x", b"100")]),
        ),
        ("count-u64-max", huge_count),
        ("key-length-u64-max", huge_key),
        ("value-length-one-past-end", value_past_end),
        (
            "duplicate-key",
            legacy_file(2, &[(b"k", b"1"), (b"k", b"2")]),
        ),
    ]
    .map(|(name, bytes)| (name.to_owned(), bytes))
    .to_vec()
}

/// The protocol target's input: a byte choosing how the input is split, a byte choosing the
/// query limit (0: 1 MiB; n: 8 + 4n bytes), then the bytes a client sends.
fn protocol_input(split: u8, limit: u8, query: &[u8]) -> Vec<u8> {
    let mut input = vec![split, limit];
    input.extend_from_slice(query);
    input
}

fn action_query(parts: &[&[u8]]) -> Vec<u8> {
    let mut query = Vec::new();
    write::action_query(&mut query, parts);
    query
}

fn protocol_parse_seeds() -> Vec<Seed> {
    // Every query of the spec's byte-exact examples (§1.7), each under its own name.
    let spec: [(&str, &[u8]); 16] = [
        ("spec-set-x-100", b"*1\n_3\n+3\nSET\n+1\nx\n+3\n100\n"),
        ("spec-set-x-200", b"*1\n_3\n+3\nSET\n+1\nx\n+3\n200\n"),
        ("spec-get-x", b"*1\n_2\n+3\nGET\n+1\nx\n"),
        ("spec-get-missing", b"*1\n_2\n+3\nGET\n+7\nmissing\n"),
        ("spec-get-no-key", b"*1\n_1\n+3\nGET\n"),
        ("spec-heya", b"*1\n_1\n+4\nHEYA\n"),
        ("spec-dbsize", b"*1\n_1\n+6\nDBSIZE\n"),
        ("spec-mget-x-nope", b"*1\n_3\n+4\nMGET\n+1\nx\n+4\nnope\n"),
        ("spec-lskeys", b"*1\n_1\n+6\nLSKEYS\n"),
        ("spec-lskeys-abc", b"*1\n_2\n+6\nLSKEYS\n+3\nabc\n"),
        ("spec-unknown-action", b"*1\n_1\n+6\nFOOBAR\n"),
        ("spec-pipelined", b"*2\n_2\n+3\nGET\n+1\nx\n_1\n+4\nHEYA\n"),
        ("spec-bad-metaframe", b"$1\n"),
        ("spec-zero-action-packet", b"*0\n"),
        ("spec-bad-size-line", b"*1\n_x\n"),
        ("spec-mksnap", b"*1\n_1\n+6\nMKSNAP\n"),
    ];
    let others: [(&str, &[u8]); 24] = [
        ("empty-flat-array", b"*1\n_0\n"),
        ("empty-strings", b"*1\n_2\n+0\n\n+0\n\n"),
        ("string-not-an-action", b"*1\n+5\nsayan\n"),
        ("unsigned-u64-max", b"*1\n:20\n18446744073709551615\n"),
        ("unsigned-overflow", b"*1\n:21\n184467440737095516156\n"),
        ("unsigned-not-digits", b"*1\n:2\n1a\n"),
        (
            "nested-arrays",
            b"*1\n&3\n+3\nACT\n+3\nfoo\n&4\n+1\na\n:1\n1\n_1\n+1\nb\n&0\n",
        ),
        (
            "nested-and-action-mixed",
            b"*3\n&1\n_1\n+1\nz\n_1\n+4\nHEYA\n+0\n\n",
        ),
        ("deeply-nested", b"*1\n&1\n&1\n&1\n&1\n&1\n&1\n_1\n+1\nz\n"),
        ("leading-zeros", b"*0001\n_01\n+004\nHEYA\n"),
        ("binary-argument", b"*1\n_2\n+3\nGET\n+2\n\xff\x00\n"),
        ("payload-not-followed-by-lf", b"*1\n_1\n+4\nHEYA\r"),
        ("payload-longer-than-declared", b"*1\n_1\n+4\nHEYAB\n"),
        ("skyhash-1-1-type", b"*1\n~1\n+1\nx\n"),
        ("unsigned-inside-flat-array", b"*1\n_1\n:1\n1\n"),
        ("flat-array-inside-flat-array", b"*1\n_1\n_0\n"),
        ("query-inside-query", b"*2\n_1\n+1\nx\n*1\n"),
        ("count-overflows-u64", b"*99999999999999999999999\n"),
        (
            "size-line-too-long",
            b"*1\n+000000000000000000000000000000001\nx\n",
        ),
        ("length-u64-max", b"*1\n+18446744073709551615\n"),
        ("flat-array-count-u64-max", b"*1\n_18446744073709551615\n"),
        ("query-count-u64-max", b"*18446744073709551615\n"),
        ("lf-first", b"\n\n\n"),
        ("complete-then-garbage", b"*1\n_1\n+4\nHEYA\n\n"),
    ];
    let mut seeds: Vec<Seed> = spec
        .iter()
        .chain(&others)
        .map(|(name, query)| (name.to_string(), protocol_input(0, 0, query)))
        .collect();
    let set = action_query(&[b"SET", b"x", b"100"]);
    let get = action_query(&[b"GET", b"x"]);
    let heya = action_query(&[b"HEYA"]);
    let mut stream = [set.as_slice(), &get, &heya, &get].concat();
    seeds.push((
        "stream-of-four-queries".to_owned(),
        protocol_input(7, 0, &stream),
    ));
    stream.extend_from_slice(b"*1\n_1\n+3\nGE");
    seeds.push((
        "stream-ending-in-partial-query".to_owned(),
        protocol_input(42, 0, &stream),
    ));
    // Small limits: 8 + 4 * 3 = 20 bytes admits GET x (19 bytes) but not SET x 100 (26 bytes).
    seeds.push((
        "limit-20-bytes-get-then-set".to_owned(),
        protocol_input(3, 3, &[get.as_slice(), &set].concat()),
    ));
    seeds.push((
        "limit-12-bytes-declared-too-long".to_owned(),
        protocol_input(1, 1, b"*1\n_1\n+100\n"),
    ));
    let large_value = vec![b'v'; 3000];
    seeds.push((
        "limit-1-mib-3000-byte-value".to_owned(),
        protocol_input(200, 0, &action_query(&[b"SET", b"big", &large_value])),
    ));
    seeds
}

fn resp_request(parts: &[&[u8]]) -> Vec<u8> {
    let mut request = Vec::new();
    resp::write::request(&mut request, parts);
    request
}

fn resp_parse_seeds() -> Vec<Seed> {
    let requests: [(&str, &[u8]); 30] = [
        ("multibulk-ping", b"*1\r\n$4\r\nPING\r\n"),
        (
            "multibulk-set-empty-value",
            b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n",
        ),
        (
            "multibulk-binary-argument",
            b"*2\r\n$3\r\nGET\r\n$2\r\n\xff\x00\r\n",
        ),
        ("terminators-skipped-unread", b"*1\rX$4\r\nPINGxx"),
        ("multibulk-zero", b"*0\r\n"),
        ("multibulk-minus-one", b"*-1\r\n"),
        ("inline-ping-crlf", b"PING\r\n"),
        ("inline-ping-lf", b"PING\n"),
        ("inline-blank-lines", b"\r\n\n  \t \r\nPING\r\n"),
        ("inline-double-quotes", b"set \"x y\" \"1 2\"\r\n"),
        ("inline-escapes", b"set \"a\\x41\\n\\q\" ''\n"),
        ("inline-single-quote-escape", b"get 'it\\'s'\n"),
        ("inline-quote-mid-word", b"get a\"b c\"\n"),
        ("inline-nul-ends-line", b"get a\x00b c\n"),
        ("inline-vertical-tab", b"get \x0ba\n"),
        ("count-not-a-number", b"*x\r\n"),
        ("count-leading-zero", b"*01\r\n"),
        ("count-above-int-max", b"*2147483648\r\n"),
        ("count-int-max", b"*2147483647\r\n"),
        ("count-past-i64", b"*99999999999999999999\r\n"),
        ("bulk-without-dollar", b"*1\r\n+4\r\n"),
        ("bulk-length-negative", b"*1\r\n$-1\r\n"),
        ("bulk-length-leading-zero", b"*1\r\n$04\r\nPING\r\n"),
        ("bulk-length-over-512-mib", b"*1\r\n$536870913\r\n"),
        ("bulk-length-past-limit", b"*1\r\n$1048576\r\n"),
        ("unbalanced-double-quote", b"get \"abc\r\n"),
        ("quote-not-followed-by-space", b"get \"a\"b\r\n"),
        ("single-quote-not-followed-by-space", b"get 'a'b\n"),
        ("inline-then-multibulk", b"PING\r\n*1\r\n$4\r\nPING\r\n"),
        ("partial-bulk", b"*2\r\n$3\r\nGET\r\n$10\r\nabc"),
    ];
    let mut seeds: Vec<Seed> = requests
        .iter()
        .map(|(name, bytes)| (name.to_string(), protocol_input(0, 0, bytes)))
        .collect();
    let set = resp_request(&[b"SET", b"x", b"100"]);
    let get = resp_request(&[b"GET", b"x"]);
    let stream = [set.as_slice(), &get, b"PING\r\n", &get].concat();
    seeds.push((
        "stream-of-four-requests".to_owned(),
        protocol_input(7, 0, &stream),
    ));
    // 8 + 4 * 4 = 24 bytes admits GET x (22 bytes) but not SET x 100 (31 bytes).
    seeds.push((
        "limit-24-bytes-get-then-set".to_owned(),
        protocol_input(3, 4, &[get.as_slice(), &set].concat()),
    ));
    let mut long_line = vec![b'a'; 70 * 1024];
    long_line.push(b'\n');
    seeds.push((
        "inline-over-64-kib".to_owned(),
        protocol_input(9, 0, &long_line),
    ));
    seeds
}

/// An action step for [`encode_model_steps`].
fn act<'a>(name: &'a str, args: &'a [&'a [u8]]) -> ModelStep<'a> {
    ModelStep::Action {
        name,
        mixed_case: false,
        args,
    }
}

/// The same, with the letter case of the name mixed (`gEt`).
fn mixed<'a>(name: &'a str, args: &'a [&'a [u8]]) -> ModelStep<'a> {
    ModelStep::Action {
        name,
        mixed_case: true,
        args,
    }
}

fn actions_vs_model_seeds() -> Vec<Seed> {
    use ModelStep::TogglePoison;
    let sequences: Vec<(&str, Vec<ModelStep>)> = vec![
        (
            "set-get-update-del",
            vec![
                act("SET", &[b"a", b"100"]),
                act("GET", &[b"a"]),
                act("SET", &[b"a", b"1"]),
                act("UPDATE", &[b"a", b"1"]),
                act("UPDATE", &[b"b", b"1"]),
                act("GET", &[b"a"]),
                act("DEL", &[b"a", b"a", b"b"]),
                act("GET", &[b"a"]),
                act("GET", &[]),
                act("SET", &[b"a"]),
            ],
        ),
        (
            "multi-key-actions",
            vec![
                act("MSET", &[b"a", b"1", b"b", b"100", b"a", b"0"]),
                act("MGET", &[b"a", b"b", b"c"]),
                act("MUPDATE", &[b"a", b"0", b"c", b"1"]),
                act("EXISTS", &[b"a", b"a", b"c"]),
                act("USET", &[b"c", b"1", b"c", b"100"]),
                act("MGET", &[b"c"]),
                act("USET", &[b"a"]),
                act("MSET", &[]),
                act("DEL", &[b"a", b"b", b"c"]),
            ],
        ),
        (
            "strong-actions",
            vec![
                act("SSET", &[b"a", b"1", b"b", b"1"]),
                act("SSET", &[b"c", b"1", b"a", b"1"]),
                act("SSET", &[b"c", b"a", b"c", b"b"]),
                act("SUPDATE", &[b"a", b"0", b"c", b"1"]),
                act("SUPDATE", &[b"a", b"0", b"a", b"100"]),
                act("SDEL", &[b"a", b"x y"]),
                act("SDEL", &[b"a", b"a"]),
                act("SDEL", &[b"a"]),
                act("SSET", &[b"a"]),
            ],
        ),
        (
            "keylen-pop",
            vec![
                act("SET", &[b"a", b"100"]),
                act("SET", &[b"", b""]),
                act("KEYLEN", &[b"a"]),
                act("KEYLEN", &[b""]),
                act("KEYLEN", &[b"b"]),
                act("POP", &[b"a", b"a", b"b", b""]),
                act("KEYLEN", &[]),
                act("POP", &[]),
            ],
        ),
        (
            "lskeys-limits",
            vec![
                act("MSET", &[b"a", b"1", b"b", b"1", b"c", b"1"]),
                act("LSKEYS", &[]),
                act("LSKEYS", &[b"1"]),
                act("LSKEYS", &[b"+2"]),
                act("LSKEYS", &[b"0"]),
                act("LSKEYS", &[b"100"]),
                act("LSKEYS", &[b"-1"]),
                act("LSKEYS", &[b"18446744073709551616"]),
                act("LSKEYS", &[b"x y"]),
                act("LSKEYS", &[b""]),
                act("LSKEYS", &[b"1", b"1"]),
            ],
        ),
        (
            "dbsize-flushdb-heya",
            vec![
                act("DBSIZE", &[]),
                act("USET", &[b"a", b"1", b"b", b"1"]),
                act("DBSIZE", &[]),
                act("DBSIZE", &[b"a"]),
                act("FLUSHDB", &[b"a"]),
                act("FLUSHDB", &[]),
                act("DBSIZE", &[]),
                act("HEYA", &[]),
                act("HEYA", &[b"a", b"b", b"c", b"\n", b"", b"\xff"]),
            ],
        ),
        (
            "mksnap-names",
            vec![
                act("MKSNAP", &[]),
                act("MKSNAP", &[b"snap"]),
                act("MKSNAP", &[b".."]),
                act("MKSNAP", &[b"a/b"]),
                act("MKSNAP", &[b""]),
                act("MKSNAP", &[b"\n"]),
                act("MKSNAP", &[b"\xff"]),
                act("MKSNAP", &[b"x y"]),
                act("MKSNAP", &[b"snap", b"snap"]),
            ],
        ),
        (
            "sys-properties",
            vec![
                act("SYS", &[b"METRIC", b"health"]),
                act("SYS", &[b"METRIC", b"storage"]),
                act("SYS", &[b"INFO", b"version"]),
                act("SYS", &[b"INFO", b"persistence"]),
                act("SYS", &[b"INFO", b"health"]),
                act("SYS", &[b"METRIC", b"version"]),
                act("SYS", &[b"A", b"a"]),
                act("SYS", &[b"METRIC"]),
                act("SYS", &[]),
            ],
        ),
        (
            "unknown-actions",
            vec![act("JGET", &[b"a"]), act("PING", &[]), mixed("JGET", &[])],
        ),
        (
            "binary-and-empty-keys",
            vec![
                act("SET", &[b"", b""]),
                act("SET", &[b"\x00\xff", b"\n"]),
                act("SET", &[b"\xff", b"\x00\xff"]),
                act("GET", &[b""]),
                act("MGET", &[b"\x00\xff", b"\xff", b"A"]),
                act("EXISTS", &[b"", b"\n"]),
                act("UPDATE", &[b"\x00\xff", b"18446744073709551616"]),
                act("KEYLEN", &[b"\x00\xff"]),
            ],
        ),
        (
            "poisoned-refuses-writes-serves-reads",
            vec![
                act("SET", &[b"a", b"1"]),
                TogglePoison,
                act("SET", &[b"b", b"1"]),
                act("SET", &[b"b"]),
                act("UPDATE", &[b"a", b"0"]),
                act("DEL", &[b"c"]),
                act("MSET", &[b"b", b"1"]),
                act("MUPDATE", &[b"a", b"0"]),
                act("USET", &[b"a", b"0"]),
                act("SSET", &[b"b", b"1"]),
                act("SDEL", &[b"a"]),
                act("SUPDATE", &[b"a", b"0"]),
                act("FLUSHDB", &[]),
                act("POP", &[b"a"]),
                act("GET", &[b"a"]),
                act("EXISTS", &[b"a"]),
                act("MGET", &[b"a"]),
                act("DBSIZE", &[]),
                act("KEYLEN", &[b"a"]),
                act("LSKEYS", &[]),
                act("HEYA", &[]),
                act("MKSNAP", &[]),
                act("SYS", &[b"METRIC", b"health"]),
                TogglePoison,
                act("DEL", &[b"a"]),
            ],
        ),
        (
            "mixed-case-names",
            vec![
                mixed("SET", &[b"a", b"1"]),
                mixed("GET", &[b"a"]),
                mixed("UPDATE", &[b"a", b"0"]),
                mixed("EXISTS", &[b"a"]),
                mixed("MSET", &[b"b", b"1"]),
                mixed("MGET", &[b"a", b"b"]),
                mixed("MUPDATE", &[b"b", b"0"]),
                mixed("USET", &[b"c", b"1"]),
                mixed("SSET", &[b"A", b"1"]),
                mixed("SUPDATE", &[b"A", b"0"]),
                mixed("SDEL", &[b"A"]),
                mixed("KEYLEN", &[b"a"]),
                mixed("LSKEYS", &[]),
                mixed("DBSIZE", &[]),
                mixed("HEYA", &[]),
                mixed("MKSNAP", &[]),
                mixed("SYS", &[b"INFO", b"version"]),
                mixed("POP", &[b"a"]),
                mixed("DEL", &[b"b"]),
                mixed("FLUSHDB", &[]),
            ],
        ),
    ];
    sequences
        .into_iter()
        .map(|(name, steps)| (name.to_owned(), encode_model_steps(&steps)))
        .collect()
}

//! A damaged data.bin is refused, never half-loaded: one flipped bit at any offset, a
//! truncation, trailing bytes, an empty file or garbage makes startup fail with exit status 1
//! and an error line that names the file and says what is wrong and where, and the file is
//! left byte for byte as it was (no rewrite, no backup copy, no import).

mod common;

use std::path::Path;

use common::files::{build_table, dir_names};
use common::server::ServerBuilder;
use stratus::persist::format;

/// A small valid data file: four keys, one binary, one with an empty value.
fn valid_file() -> Vec<u8> {
    let table = build_table([
        (&b"alpha"[..], &b"1"[..]),
        (b"\x00\xff", b"binary key"),
        (b"empty", b""),
        (b"k", b"a longer value, so the payload is not all lengths"),
    ]);
    let bytes = format::encode_to_vec(&table);
    assert!(
        format::decode(&bytes).is_ok(),
        "the test file must be valid"
    );
    bytes
}

/// Starts the server on `contents` as data.bin and checks that it refuses to start.
/// `what` describes the damage, for failure messages. Returns the error line.
fn assert_refused(contents: &[u8], what: &str) -> String {
    let builder = ServerBuilder::new();
    let data_file = builder.write_bytes("data/data.bin", contents);
    let data_dir = builder.data_dir();
    // run_to_exit consumes the builder; this keeps the directory alive for the checks.
    let _keep_directory = builder.same_dir();
    let output = builder.run_to_exit();
    output.assert_exit_code(1);
    let path = data_file.display().to_string();
    let prefix = format!("Error while initializing database: {path}: ");
    let line = output
        .stderr
        .lines()
        .find(|line| line.contains("ERROR") && line.contains(&prefix))
        .unwrap_or_else(|| {
            panic!(
                "{what}: no ERROR line containing {prefix:?}\n{}",
                output.describe()
            )
        })
        .to_owned();
    assert!(
        line.contains(" at offset "),
        "{what}: the error line does not say where the damage is: {line:?}"
    );
    assert_eq!(
        std::fs::read(&data_file).expect("data.bin still exists"),
        contents,
        "{what}: data.bin was modified by the refused start"
    );
    assert_untouched_directory(&data_dir, what);
    line
}

/// Nothing but the file, the lock and the snapshot directory: no backup, no temporary file,
/// no rewrite.
fn assert_untouched_directory(data_dir: &Path, what: &str) {
    let names = dir_names(data_dir);
    assert!(
        names
            .iter()
            .all(|name| name == "data.bin" || name == "stratus.pid" || name == "snapshots"),
        "{what}: unexpected files in the data directory after a refused start: {names:?}"
    );
}

/// The exact fault text the decoder gives for `contents`: the server must say the same.
fn expected_fault(contents: &[u8], what: &str) -> String {
    match format::decode(contents) {
        Ok(_) => panic!("{what}: the library decoder accepts the damaged file"),
        Err(error) => error.to_string(),
    }
}

/// Like [`assert_refused`], and the line carries exactly the decoder's verdict on the file.
fn assert_refused_with_fault(contents: &[u8], what: &str) -> String {
    let line = assert_refused(contents, what);
    let fault = expected_fault(contents, what);
    assert!(
        line.contains(&format!(": {fault}")),
        "{what}: expected the fault {fault:?} in the error line {line:?}"
    );
    line
}

#[test]
fn one_flipped_bit_at_any_offset_is_refused() {
    let valid = valid_file();
    for offset in 0..valid.len() {
        let mut damaged = valid.clone();
        // A different bit at each offset, so every bit position is exercised.
        damaged[offset] ^= 1 << (offset % 8);
        let what = format!(
            "bit {} of byte {offset} (of {}) flipped",
            offset % 8,
            valid.len()
        );
        assert_refused_with_fault(&damaged, &what);
    }
}

#[test]
fn the_whole_byte_inverted_at_header_and_payload_edges_is_refused() {
    let valid = valid_file();
    let last = valid.len() - 1;
    for offset in [0, 7, 8, 16, 24, 32, 35, 36, 39, 40, 48, last] {
        let mut damaged = valid.clone();
        damaged[offset] ^= 0xff;
        assert_refused_with_fault(&damaged, &format!("byte {offset} inverted"));
    }
}

#[test]
fn truncated_files_are_refused() {
    let valid = valid_file();
    let len = valid.len();
    let declared = (len - format::HEADER_LEN).to_string();
    for keep in [8, 20, 39, 40, 41, 47, 48, 49, len / 2, len - 8, len - 1] {
        let what = format!("truncated to {keep} of {len} bytes");
        let line = assert_refused_with_fault(&valid[..keep], &what);
        // Beyond the decoder's own words: the numbers an operator needs are in the line.
        let (named, numbers) = if keep < format::HEADER_LEN {
            (
                "too short",
                [keep.to_string(), format::HEADER_LEN.to_string()],
            )
        } else {
            (
                "truncated",
                [declared.clone(), (keep - format::HEADER_LEN).to_string()],
            )
        };
        assert!(
            line.contains(named) && numbers.iter().all(|number| line.contains(number.as_str())),
            "{what}: expected {named:?} and {numbers:?} in {line:?}"
        );
    }
}

#[test]
fn a_file_cut_inside_the_magic_is_refused() {
    let valid = valid_file();
    for keep in [1, 3, 5, 7] {
        let line = assert_refused(&valid[..keep], &format!("truncated to {keep} bytes"));
        assert!(
            line.contains("file too short") || line.contains("not a Stratus data file"),
            "truncated to {keep} bytes: {line:?}"
        );
    }
}

#[test]
fn trailing_bytes_are_refused() {
    let valid = valid_file();
    for extra in [&b"\x00"[..], b"\n", &[0xab; 100]] {
        let mut damaged = valid.clone();
        damaged.extend_from_slice(extra);
        let what = format!("{} trailing bytes", extra.len());
        let line = assert_refused_with_fault(&damaged, &what);
        let numbers = [
            format!("offset {}", valid.len()),
            (valid.len() - format::HEADER_LEN).to_string(),
            (damaged.len() - format::HEADER_LEN).to_string(),
        ];
        assert!(
            line.contains("trailing")
                && numbers.iter().all(|number| line.contains(number.as_str())),
            "{what}: expected \"trailing\" and {numbers:?} in {line:?}"
        );
    }
}

#[test]
fn an_empty_file_is_refused() {
    let line = assert_refused(b"", "an empty data.bin");
    assert!(
        line.contains("not a Stratus data file") || line.contains("file too short"),
        "empty file: {line:?}"
    );
}

/// xorshift64*: reproducible garbage without a dependency.
fn garbage(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed;
    (0..len)
        .map(|_| {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            (state.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8
        })
        .collect()
}

#[test]
fn garbage_is_refused_as_neither_stratus_nor_skytable() {
    for (seed, len) in [(1, 9), (2, 40), (3, 100), (4, 4096), (5, 65_536)] {
        let bytes = garbage(seed, len);
        let what = format!("{len} bytes of garbage (seed {seed})");
        let line = assert_refused(&bytes, &what);
        assert!(
            line.contains("not a Stratus data file") && line.contains("not a Skytable 0.6"),
            "{what}: {line:?}"
        );
    }
    let text = b"this is a text file that someone saved as data.bin by mistake\n";
    let line = assert_refused(text, "a text file");
    assert!(
        line.contains("not a Stratus data file"),
        "text file: {line:?}"
    );
}

#[test]
fn garbage_after_a_valid_magic_is_refused_as_a_damaged_stratus_file() {
    for (seed, len) in [(11, 40), (12, 200)] {
        let mut bytes = format::MAGIC.to_vec();
        bytes.extend(garbage(seed, len));
        let what = format!("the magic followed by {len} bytes of garbage");
        assert_refused_with_fault(&bytes, &what);
    }
}

/// CRC-32 (IEEE 802.3, as zlib computes it), bit by bit: slow, short and independent of the
/// server's implementation.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A file of format `version` (1, or 2 tied to no journal) with correct checksums around
/// `payload`, announcing `count` entries: damage that no checksum can see, only the structural
/// checks.
fn file_with_valid_checksums(version: u32, count: u64, payload: &[u8]) -> Vec<u8> {
    let mut header = format::MAGIC.to_vec();
    header.extend_from_slice(&version.to_le_bytes());
    header.extend_from_slice(&0u32.to_le_bytes());
    header.extend_from_slice(&count.to_le_bytes());
    header.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    if version == format::VERSION {
        header.extend_from_slice(&0u64.to_le_bytes());
    }
    header.extend_from_slice(&crc32(payload).to_le_bytes());
    let header_crc = crc32(&header);
    header.extend_from_slice(&header_crc.to_le_bytes());
    let header_len = match version {
        format::VERSION_1 => format::HEADER_LEN_V1,
        _ => format::HEADER_LEN,
    };
    assert_eq!(header.len(), header_len);
    header.extend_from_slice(payload);
    header
}

fn entry(key: &[u8], value: &[u8]) -> Vec<u8> {
    let mut bytes = (key.len() as u32).to_le_bytes().to_vec();
    bytes.extend_from_slice(&(value.len() as u32).to_le_bytes());
    bytes.extend_from_slice(key);
    bytes.extend_from_slice(value);
    bytes
}

#[test]
fn structurally_bad_files_with_valid_checksums_are_refused() {
    for version in [format::VERSION_1, format::VERSION] {
        let sealed = |count, payload: &[u8]| file_with_valid_checksums(version, count, payload);
        let one = entry(b"a", b"1");
        let two = [one.clone(), entry(b"b", b"2")].concat();
        // The hand-built layout is the real one: a correct file built this way loads.
        assert!(
            format::decode(&sealed(2, &two)).is_ok(),
            "the hand-built version {version} file should be valid"
        );
        let mut overrun = entry(b"a", b"1");
        overrun[4..8].copy_from_slice(&1000u32.to_le_bytes());
        let mut huge_key = entry(b"a", b"1");
        huge_key[0..4].copy_from_slice(&u32::MAX.to_le_bytes());
        let cases: [(&str, Vec<u8>); 6] = [
            (
                "a duplicate key",
                sealed(2, &[one.clone(), entry(b"a", b"2")].concat()),
            ),
            ("one entry more announced than present", sealed(3, &two)),
            ("one entry fewer announced than present", sealed(1, &two)),
            ("a value length past the end", sealed(1, &overrun)),
            ("a key length of 4 GiB", sealed(1, &huge_key)),
            ("half an entry header", sealed(1, &one[..6])),
        ];
        for (what, bytes) in cases {
            assert_refused_with_fault(&bytes, &format!("version {version}: {what}"));
        }
    }
}

/// A version 1 file, as a build before the journal wrote it (tests/persistence_roundtrip.rs
/// checks that it loads), is refused when damaged, like a version 2 one.
#[test]
fn damaged_version_1_files_are_refused() {
    let file = file_with_valid_checksums(format::VERSION_1, 1, &entry(b"a", b"1"));
    assert!(format::decode(&file).is_ok(), "the version 1 file is valid");
    for (what, damaged) in [
        ("cut inside the header", file[..39].to_vec()),
        ("cut inside the payload", file[..49].to_vec()),
        ("a flipped payload byte", {
            let mut damaged = file.clone();
            damaged[45] ^= 4;
            damaged
        }),
        ("a flipped header byte", {
            let mut damaged = file.clone();
            damaged[16] ^= 1;
            damaged
        }),
    ] {
        assert_refused_with_fault(&damaged, &format!("version 1, {what}"));
    }
}

#[test]
fn damaged_skytable_files_are_refused() {
    // The 28 bytes skyd 0.6.4 writes for `x = 100`, damaged three ways.
    let skyd: [u8; 28] = [
        1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, b'x', 3, 0, 0, 0, 0, 0, 0, 0, b'1', b'0',
        b'0',
    ];
    let mut two_announced = skyd;
    two_announced[0] = 2;
    let mut long_value = skyd;
    long_value[17] = 4;
    for (what, bytes) in [
        ("a Skytable file cut by one byte", &skyd[..27]),
        ("a Skytable file announcing two entries", &two_announced[..]),
        ("a Skytable value length past the end", &long_value[..]),
    ] {
        let line = assert_refused(bytes, what);
        assert!(
            line.contains("not a Skytable 0.6 data file"),
            "{what}: {line:?}"
        );
    }
}

//! Data written by skyd 0.6 is served: a Skytable 0.6 data.bin is imported (its original kept as
//! data.bin.skytable-0.6) and rewritten in the Stratus format at the next save, and a data.bin
//! left in the working directory (where skyd 0.5 kept it) is moved into the data directory.

mod common;

use std::net::TcpStream;

use common::entries::Entries;
use common::files::{build_table, file_mode, read_data_file};
use common::server::ServerBuilder;
use common::wire::{escape, exchange, simple_query, uint_response, value_response};
use common::PATIENCE;
use stratus::persist::format;

/// The 28 bytes skyd 0.6.4 writes for a table holding only `x = 100`.
const SKYD_X_100: [u8; 28] = [
    0x01, 0, 0, 0, 0, 0, 0, 0, 0x01, 0, 0, 0, 0, 0, 0, 0, 0x78, 0x03, 0, 0, 0, 0, 0, 0, 0, 0x31,
    0x30, 0x30,
];

/// Skytable 0.6's layout, built by hand: u64 count, then u64 length and bytes of each key and
/// value, all little-endian.
fn skytable_file(entries: &Entries) -> Vec<u8> {
    let mut bytes = (entries.len() as u64).to_le_bytes().to_vec();
    for (key, value) in entries {
        for part in [key, value] {
            bytes.extend_from_slice(&(part.len() as u64).to_le_bytes());
            bytes.extend_from_slice(part);
        }
    }
    bytes
}

fn x_100() -> Entries {
    [(b"x".to_vec(), b"100".to_vec())].into_iter().collect()
}

fn binary_entries() -> Entries {
    [
        (&b"\x00"[..], &b"nul key"[..]),
        (b"\xff\xfe", b"\x00\x01\x02"),
        (b"", b"empty key"),
        (b"empty value", b""),
        (b"new\nline", b"\r\n"),
        (b"x", b"100"),
    ]
    .into_iter()
    .map(|(key, value)| (key.to_vec(), value.to_vec()))
    .chain([(
        b"big".to_vec(),
        (0..10_000u32).map(|i| (i * 7) as u8).collect(),
    )])
    .collect()
}

fn assert_serves_exactly(con: &mut TcpStream, entries: &Entries) {
    for (key, value) in entries {
        exchange(con, &simple_query(&[b"GET", key]), &value_response(value));
    }
    exchange(
        con,
        &simple_query(&[b"DBSIZE"]),
        &uint_response(entries.len() as u64),
    );
}

/// Imports `original` from `relative` (a path in the server's directory), checks the service,
/// the backup, the rewrite at shutdown and the next start.
fn import(relative: &str, original: &[u8], entries: &Entries) {
    let builder = ServerBuilder::new();
    let written = builder.write_bytes(relative, original);
    let server = builder.start();
    let data_file = server.data_file();
    if written != data_file {
        server.wait_for_log(
            "Your data file was found in the working directory",
            PATIENCE,
        );
        assert!(
            !written.exists(),
            "{written:?} is still there after the move"
        );
    }
    let backup = server.data_dir().join("data.bin.skytable-0.6");
    server.wait_for_log(
        &format!(
            "Imported a Skytable 0.6 data file; the original is kept as {}",
            backup.display()
        ),
        PATIENCE,
    );
    let mut con = server.raw();
    assert_serves_exactly(&mut con, entries);
    assert_eq!(
        std::fs::read(&backup).expect("read the backup"),
        original,
        "the backup must hold the original bytes"
    );
    drop(con);

    let mut server = server;
    server.signal("TERM");
    let status = server.wait_exit(PATIENCE);
    assert!(status.success(), "exit status after SIGTERM: {status:?}");
    let rewritten = std::fs::read(&data_file).expect("read data.bin");
    assert!(
        rewritten.starts_with(&format::MAGIC),
        "data.bin after the shutdown save does not start with the Stratus magic: \"{}\"",
        escape(&rewritten[..rewritten.len().min(16)])
    );
    assert!(
        read_data_file(&data_file) == *entries,
        "the rewritten data.bin does not decode to the imported table"
    );
    assert_eq!(
        format!("{:o}", file_mode(&data_file)),
        "600",
        "mode of the rewritten data.bin"
    );
    assert_eq!(
        std::fs::read(&backup).unwrap(),
        original,
        "backup changed at shutdown"
    );

    let restarted = server.same_dir().start();
    assert!(
        restarted
            .logs()
            .iter()
            .all(|line| !line.contains("Imported a Skytable")),
        "the rewritten file was imported again:\n{}",
        restarted.logs().join("\n")
    );
    assert_serves_exactly(&mut restarted.raw(), entries);
}

#[test]
fn skyd_file_for_x_100_is_served_and_rewritten() {
    assert_eq!(skytable_file(&x_100()), SKYD_X_100, "the hand-built layout");
    import("data/data.bin", &SKYD_X_100, &x_100());
}

#[test]
fn skytable_file_with_binary_keys_is_served_and_rewritten() {
    let entries = binary_entries();
    import("data/data.bin", &skytable_file(&entries), &entries);
}

#[test]
fn imported_file_is_rewritten_by_a_background_save_too() {
    let entries = binary_entries();
    let original = skytable_file(&entries);
    let builder = ServerBuilder::new().args(&["-S", "1"]);
    builder.write_bytes("data/data.bin", &original);
    let server = builder.start();
    // No change is made: the save is due because the file is not in the Stratus format yet.
    server.wait_for_log("BGSAVE completed successfully", PATIENCE);
    assert!(
        read_data_file(&server.data_file()) == entries,
        "data.bin after the first BGSAVE does not decode to the imported table"
    );
    assert_eq!(
        std::fs::read(server.data_dir().join("data.bin.skytable-0.6")).unwrap(),
        original
    );
}

#[test]
fn stratus_file_in_the_working_directory_is_moved_into_the_data_directory() {
    let entries = binary_entries();
    let table = build_table(entries.iter().map(|(k, v)| (k.as_slice(), v.as_slice())));
    let original = format::encode_to_vec(&table);
    let builder = ServerBuilder::new();
    let old = builder.write_bytes("data.bin", &original);
    let server = builder.start();
    server.wait_for_log(
        "Your data file was found in the working directory",
        PATIENCE,
    );
    assert!(!old.exists(), "the working-directory copy is still there");
    assert_eq!(
        std::fs::read(server.data_file()).expect("data.bin in the data directory"),
        original,
        "the moved file must be byte-identical"
    );
    assert_serves_exactly(&mut server.raw(), &entries);
    assert!(
        !server.data_dir().join("data.bin.skytable-0.6").exists(),
        "a Stratus file must not get a Skytable backup"
    );
}

#[test]
fn skytable_file_in_the_working_directory_is_moved_and_imported() {
    import("data.bin", &SKYD_X_100, &x_100());
}

#[test]
fn working_directory_file_is_ignored_when_the_data_directory_has_one() {
    let in_data_dir = x_100();
    let table = build_table(
        in_data_dir
            .iter()
            .map(|(k, v)| (k.as_slice(), v.as_slice())),
    );
    let builder = ServerBuilder::new();
    builder.write_bytes("data/data.bin", &format::encode_to_vec(&table));
    let stray = skytable_file(&binary_entries());
    let old = builder.write_bytes("data.bin", &stray);
    let server = builder.start();
    assert_serves_exactly(&mut server.raw(), &in_data_dir);
    assert_eq!(
        std::fs::read(&old).expect("the working-directory file is left alone"),
        stray
    );
    assert!(
        server
            .logs()
            .iter()
            .all(|line| !line.contains("found in the working directory")),
        "{}",
        server.logs().join("\n")
    );
}

#[test]
fn backup_of_the_imported_file_is_private_like_every_data_file() {
    let builder = ServerBuilder::new();
    let original = builder.write_bytes("data/data.bin", &SKYD_X_100);
    assert_eq!(
        file_mode(&original),
        0o644,
        "the test writes a world-readable original"
    );
    let server = builder.start();
    let backup = server.data_dir().join("data.bin.skytable-0.6");
    server.wait_for_log("Imported a Skytable 0.6 data file", PATIENCE);
    assert_eq!(
        format!("{:o}", file_mode(&backup)),
        "600",
        "{backup:?} holds the whole database: it should be created with mode 0600 like data.bin"
    );
}

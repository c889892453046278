//! Restart round trips: what a client stored is served again, byte for byte, after a restart
//! that followed SIGTERM, SIGINT, or a `--nosave` run (which still saves at shutdown). Keys and
//! values include NUL, 0xFF, line breaks, the empty string and a 64 KiB value. The data.bin
//! written decodes to exactly the table, and has mode 0600.

mod common;

use std::net::TcpStream;

use common::entries::Entries;
use common::files::{file_mode, read_data_file, temp_file_names};
use common::server::{ServerBuilder, TestServer};
use common::status::{persistence_info, wait_for_settled_save};
use common::wire::{ask, escape, exchange, simple_query, uint_response, value_response, NIL, OKAY};
use common::PATIENCE;

/// Keys and values that a text-minded encoder would get wrong.
fn awkward_entries() -> Entries {
    let big: Vec<u8> = (0..64 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    [
        (&b"\x00"[..], &b"the NUL key"[..]),
        (b"\xff", b"\xff\xfe\x00\x01"),
        (b"", b"value of the empty key"),
        (b"empty value", b""),
        (b"\x00\xff\x00", b"\x00"),
        (b"line\nbreak\r\n", b"\n\n*1\n!1\n0\n"),
        (b"utf-8 \xc3\xa9", b"\xc3\xa9t\xc3\xa9"),
        (b"spaces  and\ttabs", b" "),
    ]
    .into_iter()
    .map(|(key, value)| (key.to_vec(), value.to_vec()))
    .chain([
        (b"big".to_vec(), big),
        (b"all bytes".to_vec(), (0..=255u8).collect()),
    ])
    .collect()
}

fn set_all(con: &mut TcpStream, entries: &Entries) {
    for (key, value) in entries {
        exchange(con, &simple_query(&[b"SET", key, value]), OKAY);
    }
}

/// Every key answers its exact value, DBSIZE and EXISTS count exactly these keys.
fn assert_serves_exactly(con: &mut TcpStream, entries: &Entries) {
    for (key, value) in entries {
        let response = ask(con, &[b"GET", key]);
        assert!(
            response == value_response(value),
            "GET \"{}\" after the restart: expected {} bytes \"{}\", got \"{}\"",
            escape(key),
            value.len(),
            escape(&value[..value.len().min(64)]),
            escape(&response[..response.len().min(80)])
        );
    }
    exchange(
        con,
        &simple_query(&[b"DBSIZE"]),
        &uint_response(entries.len() as u64),
    );
    let mut exists: Vec<&[u8]> = vec![b"EXISTS"];
    exists.extend(entries.keys().map(Vec::as_slice));
    exchange(
        con,
        &simple_query(&exists),
        &uint_response(entries.len() as u64),
    );
}

/// Stops the server with `signal`, expects exit 0 and a data.bin of mode 0600 holding exactly
/// `entries`.
fn stop_and_check_file(mut server: TestServer, signal: &str, entries: &Entries) -> ServerBuilder {
    let before = server.logs().len();
    server.signal(signal);
    let status = server.wait_exit(PATIENCE);
    assert!(
        status.success(),
        "exit status after SIG{signal}: {status:?}\n{}",
        server.logs().join("\n")
    );
    server.wait_for_log_after(
        before,
        &format!("Successfully saved data to disk: {} keys", entries.len()),
        PATIENCE,
    );
    let data_file = server.data_file();
    assert_eq!(
        format!("{:o}", file_mode(&data_file)),
        "600",
        "mode of {data_file:?} after the shutdown save"
    );
    assert!(
        read_data_file(&data_file) == *entries,
        "{data_file:?} does not decode to the table the server held"
    );
    assert_eq!(
        temp_file_names(&server.data_dir()),
        Vec::<String>::new(),
        "temporary files left after a successful shutdown save"
    );
    server.same_dir()
}

/// Stores the awkward entries, stops with `first_signal`, restarts and checks everything;
/// then deletes, updates and adds, stops with `second_signal`, restarts and checks again.
fn round_trip(first_signal: &str, second_signal: &str, extra_args: &[&str]) {
    let server = ServerBuilder::new().args(extra_args).start();
    let mut con = server.raw();
    let mut entries = awkward_entries();
    set_all(&mut con, &entries);
    assert_serves_exactly(&mut con, &entries);
    drop(con);

    let restart = stop_and_check_file(server, first_signal, &entries);
    let server = restart.args(extra_args).start();
    server.wait_for_log(
        &format!(
            "Loaded {} keys ({} bytes) from {}",
            entries.len(),
            std::fs::metadata(server.data_file()).unwrap().len(),
            server.data_file().display()
        ),
        PATIENCE,
    );
    let mut con = server.raw();
    assert_serves_exactly(&mut con, &entries);

    // Deletions and updates must survive too: a key removed before the shutdown stays gone.
    exchange(
        &mut con,
        &simple_query(&[b"DEL", b"\x00", b"big"]),
        &uint_response(2),
    );
    entries.remove(&b"\x00"[..]);
    entries.remove(&b"big"[..]);
    exchange(
        &mut con,
        &simple_query(&[b"UPDATE", b"", b"\x00\x00"]),
        OKAY,
    );
    entries.insert(b"".to_vec(), b"\x00\x00".to_vec());
    exchange(
        &mut con,
        &simple_query(&[b"SET", b"new\xff", b"\xff"]),
        OKAY,
    );
    entries.insert(b"new\xff".to_vec(), b"\xff".to_vec());
    drop(con);

    let restart = stop_and_check_file(server, second_signal, &entries);
    let server = restart.args(extra_args).start();
    let mut con = server.raw();
    assert_serves_exactly(&mut con, &entries);
    for gone in [&b"\x00"[..], b"big"] {
        exchange(&mut con, &simple_query(&[b"GET", gone]), NIL);
    }
}

#[test]
fn sigterm_restart_serves_every_key_exactly() {
    round_trip("TERM", "TERM", &[]);
}

#[test]
fn sigint_restart_serves_every_key_exactly() {
    round_trip("INT", "INT", &[]);
}

#[test]
fn nosave_still_saves_at_shutdown_and_restarts_exactly() {
    let server = TestServer::start_with(&["--nosave"]);
    server.wait_for_log("BGSAVE is disabled", PATIENCE);
    let mut con = server.raw();
    let entries = awkward_entries();
    set_all(&mut con, &entries);
    drop(con);
    assert!(
        !server.data_file().exists(),
        "with --nosave nothing should have been saved before the shutdown"
    );
    let restart = stop_and_check_file(server, "TERM", &entries);
    let server = restart.args(&["--nosave"]).start();
    assert_serves_exactly(&mut server.raw(), &entries);

    // And back to the default (periodic saves): the same data is loaded.
    let restart = stop_and_check_file(server, "INT", &entries);
    let server = restart.start();
    assert_serves_exactly(&mut server.raw(), &entries);
}

#[test]
fn background_save_file_decodes_to_the_table() {
    let server = TestServer::start_with(&["-S", "1"]);
    let mut con = server.raw();
    let entries = awkward_entries();
    set_all(&mut con, &entries);
    wait_for_settled_save(&mut con, PATIENCE);
    let data_file = server.data_file();
    assert_eq!(
        format!("{:o}", file_mode(&data_file)),
        "600",
        "mode of {data_file:?} after a BGSAVE"
    );
    assert!(
        read_data_file(&data_file) == entries,
        "{data_file:?} written by BGSAVE does not decode to the table"
    );
    let info = persistence_info(&mut con);
    let size = std::fs::metadata(&data_file).unwrap().len();
    assert_eq!(info["last_save_kind"], "bgsave");
    assert_eq!(info["last_save_keys"], entries.len().to_string());
    assert_eq!(info["last_save_bytes"], size.to_string());
    assert_eq!(info["data_file_bytes"], size.to_string());
    exchange(
        &mut con,
        &simple_query(&[b"SYS", b"METRIC", b"storage"]),
        &uint_response(size),
    );
}

#[test]
fn flushed_table_restarts_empty() {
    let server = TestServer::start();
    let mut con = server.raw();
    set_all(&mut con, &awkward_entries());
    exchange(&mut con, &simple_query(&[b"FLUSHDB"]), OKAY);
    drop(con);
    let restart = stop_and_check_file(server, "TERM", &Entries::new());
    let server = restart.start();
    let data_file = server.data_file();
    assert_eq!(
        std::fs::metadata(&data_file).unwrap().len(),
        48,
        "an empty table's file is the header"
    );
    server.wait_for_log(
        &format!("Loaded 0 keys (48 bytes) from {}", data_file.display()),
        PATIENCE,
    );
    exchange(
        &mut server.raw(),
        &simple_query(&[b"DBSIZE"]),
        &uint_response(0),
    );
}

#[test]
fn a_version_1_data_file_loads_and_is_saved_again_as_version_2() {
    use stratus::persist::format;
    let entries = awkward_entries();
    let payload: Vec<u8> = entries
        .iter()
        .flat_map(|(key, value)| format::entry_bytes(key, value))
        .collect();
    let builder = ServerBuilder::new();
    let version_1 = format::seal(format::VERSION_1, 0, entries.len() as u64, &payload);
    builder.write_bytes("data/data.bin", &version_1);
    let server = builder.start();
    server.wait_for_log(
        &format!(
            "Loaded {} keys ({} bytes) from {}",
            entries.len(),
            version_1.len(),
            server.data_file().display()
        ),
        PATIENCE,
    );
    assert_serves_exactly(&mut server.raw(), &entries);
    let restart = stop_and_check_file(server, "TERM", &entries);
    let saved = std::fs::read(restart.data_file()).unwrap();
    let file = format::decode_file(&saved).unwrap();
    assert_eq!((file.version, file.journal_segment), (format::VERSION, 0));
}

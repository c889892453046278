//! `--restore NAME` starts the server on exactly the state a snapshot holds, named or
//! timestamped, Stratus or Skytable 0.6 format, whatever data.bin holds; data.bin is left as
//! it is until the next save (a BGSAVE, even with nothing changed, or the shutdown save), which
//! replaces it with the restored state. A missing or damaged snapshot, or a name outside the
//! snapshot directory, makes startup fail with exit status 1 and touches no file.

mod common;

use std::path::{Path, PathBuf};
use std::time::Instant;

use common::entries::{text_entries, Entries};
use common::files::{build_table, dir_names, read_data_file, table_entries};
use common::process::child_pid_in;
use common::server::{RunOutput, ServerBuilder, TestServer};
use common::wire::{exchange, simple_query, uint_response, value_response, NIL, OKAY};
use common::PATIENCE;
use stratus::persist::format;

fn encode(pairs: &[(&str, &str)]) -> Vec<u8> {
    format::encode_to_vec(&build_table(
        pairs
            .iter()
            .map(|(key, value)| (key.as_bytes(), value.as_bytes())),
    ))
}

/// Asserts the server serves exactly `expected`, and that each of `absent` is absent.
fn assert_serves_exactly(server: &TestServer, expected: &Entries, absent: &[&str]) {
    let mut con = server.raw();
    exchange(
        &mut con,
        &simple_query(&[b"DBSIZE"]),
        &uint_response(expected.len() as u64),
    );
    for (key, value) in expected {
        exchange(
            &mut con,
            &simple_query(&[b"GET", key]),
            &value_response(value),
        );
    }
    for key in absent {
        exchange(&mut con, &simple_query(&[b"GET", key.as_bytes()]), NIL);
    }
}

/// The restore log line the contract gives for `snapshot` and the data file.
fn restored_line(keys: usize, snapshot: &Path, data_file: &Path) -> String {
    format!(
        "Restored {keys} keys from {}; {} will be replaced by them at the next save",
        snapshot.display(),
        data_file.display()
    )
}

#[test]
fn restoring_a_named_snapshot_gives_its_state_and_the_next_bgsave_writes_it_to_data_bin() {
    let mut first = TestServer::start();
    let mut con = first.raw();
    for (key, value) in [("a", "1"), ("b", "2"), ("c", "3")] {
        exchange(
            &mut con,
            &simple_query(&[b"SET", key.as_bytes(), value.as_bytes()]),
            OKAY,
        );
    }
    exchange(&mut con, &simple_query(&[b"MKSNAP", b"before"]), OKAY);
    // After the snapshot: a new key, a deleted one, a changed one.
    exchange(&mut con, &simple_query(&[b"SET", b"d", b"4"]), OKAY);
    exchange(&mut con, &simple_query(&[b"DEL", b"a"]), &uint_response(1));
    exchange(&mut con, &simple_query(&[b"UPDATE", b"b", b"20"]), OKAY);
    drop(con);
    first.stop_cleanly();
    let snapshot = first.named_snapshot("before");
    let snapshot_bytes = std::fs::read(&snapshot).unwrap();
    assert_eq!(
        read_data_file(&first.data_file()),
        text_entries(&[("b", "20"), ("c", "3"), ("d", "4")])
    );

    let restored = first
        .same_dir()
        .args(&["--restore", "remote/before.snapshot", "-S", "1"])
        .start();
    restored.wait_for_log(
        &restored_line(3, &snapshot, &restored.data_file()),
        PATIENCE,
    );
    let state = text_entries(&[("a", "1"), ("b", "2"), ("c", "3")]);
    assert_serves_exactly(&restored, &state, &["d"]);
    // Nothing changed since the restore, and still the next BGSAVE rewrites data.bin.
    restored.wait_for_log("BGSAVE completed successfully", PATIENCE);
    assert_eq!(read_data_file(&restored.data_file()), state);
    assert_eq!(std::fs::read(&snapshot).unwrap(), snapshot_bytes);
}

/// Waits for a periodic snapshot that holds exactly `state` (one that started before the
/// last change may hold less); returns its path.
fn periodic_snapshot_holding(server: &TestServer, state: &Entries) -> PathBuf {
    let deadline = Instant::now() + 2 * PATIENCE;
    let mut from = 0;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let done = server.wait_for_log_after(
            from,
            "periodic snapshot completed successfully by child",
            left,
        );
        from = server
            .logs()
            .iter()
            .position(|line| *line == done)
            .expect("the line just found")
            + 1;
        let path = server.path_written_by_child(child_pid_in(&done));
        if read_data_file(&path) == *state {
            return path;
        }
    }
}

#[test]
fn restoring_a_periodic_snapshot_gives_its_state_and_the_shutdown_save_writes_it() {
    let mut first = TestServer::start_with(&["--snapevery", "1", "--snapkeep", "0", "--nosave"]);
    let mut con = first.raw();
    let state = text_entries(&[("k0", "zero"), ("k1", "one"), ("k2", "two")]);
    for (key, value) in &state {
        exchange(&mut con, &simple_query(&[b"SET", key, value]), OKAY);
    }
    let snapshot = periodic_snapshot_holding(&first, &state);
    exchange(&mut con, &simple_query(&[b"SET", b"late", b"x"]), OKAY);
    exchange(&mut con, &simple_query(&[b"DEL", b"k0"]), &uint_response(1));
    exchange(
        &mut con,
        &simple_query(&[b"UPDATE", b"k1", b"changed"]),
        OKAY,
    );
    drop(con);
    first.stop_cleanly();
    let data_bin_before = std::fs::read(first.data_file()).unwrap();
    assert_eq!(
        format::decode(&data_bin_before).map(|table| table_entries(&table)),
        Ok(text_entries(&[
            ("k1", "changed"),
            ("k2", "two"),
            ("late", "x")
        ]))
    );
    let snapshot_bytes = std::fs::read(&snapshot).unwrap();
    let name = snapshot.file_name().unwrap().to_str().unwrap().to_owned();

    let mut restored = first
        .same_dir()
        .args(&["--restore", &name, "--nosave"])
        .start();
    restored.wait_for_log(
        &restored_line(3, &snapshot, &restored.data_file()),
        PATIENCE,
    );
    assert_serves_exactly(&restored, &state, &["late"]);
    assert_eq!(
        std::fs::read(restored.data_file()).unwrap(),
        data_bin_before,
        "data.bin changed before any save"
    );
    restored.stop_cleanly();
    assert_eq!(read_data_file(&restored.data_file()), state);
    assert_eq!(std::fs::read(&snapshot).unwrap(), snapshot_bytes);

    let restarted = restored.same_dir().start();
    assert_serves_exactly(&restarted, &state, &["late"]);
}

#[test]
fn restoring_works_whatever_data_bin_holds() {
    let builder = ServerBuilder::new();
    let mut damaged = encode(&[("old", "state")]);
    let last = damaged.len() - 1;
    damaged[last] ^= 0xff;
    let data_file = builder.write_bytes("data/data.bin", &damaged);
    builder.write_bytes(
        "data/snapshots/remote/good.snapshot",
        &encode(&[("good", "state")]),
    );
    let mut server = builder
        .args(&["--restore", "remote/good.snapshot", "--nosave"])
        .start();
    let state = text_entries(&[("good", "state")]);
    assert_serves_exactly(&server, &state, &["old"]);
    assert_eq!(std::fs::read(&data_file).unwrap(), damaged);
    server.stop_cleanly();
    assert_eq!(read_data_file(&data_file), state);
}

#[test]
fn a_skytable_snapshot_restores() {
    const SKYTABLE_X_100: [u8; 28] = [
        0x01, 0, 0, 0, 0, 0, 0, 0, 0x01, 0, 0, 0, 0, 0, 0, 0, 0x78, 0x03, 0, 0, 0, 0, 0, 0, 0,
        0x31, 0x30, 0x30,
    ];
    let builder = ServerBuilder::new();
    let snapshot = builder.write_bytes("data/snapshots/20200101-000000.snapshot", &SKYTABLE_X_100);
    let mut server = builder
        .args(&["--restore", "20200101-000000.snapshot", "--nosave"])
        .start();
    server.wait_for_log(&restored_line(1, &snapshot, &server.data_file()), PATIENCE);
    let state = text_entries(&[("x", "100")]);
    assert_serves_exactly(&server, &state, &[]);
    server.stop_cleanly();
    assert_eq!(read_data_file(&server.data_file()), state);
    assert_eq!(std::fs::read(&snapshot).unwrap(), SKYTABLE_X_100);
}

/// A data directory with a valid data.bin, and what `--restore` must leave untouched.
struct Setup {
    builder: ServerBuilder,
    data_bin: Vec<u8>,
}

fn setup_with_data_bin() -> Setup {
    let builder = ServerBuilder::new();
    let data_bin = encode(&[("kept", "as it was")]);
    builder.write_bytes("data/data.bin", &data_bin);
    Setup { builder, data_bin }
}

impl Setup {
    /// Runs with `--restore name` and asserts exit 1 with an ERROR line containing `text`,
    /// data.bin untouched and no file but data.bin, the lock and the snapshot directory.
    /// Returns the output, and a builder that keeps the directory for more checks.
    fn assert_refused(self, name: &str, text: &str) -> (RunOutput, ServerBuilder) {
        let keep = self.builder.same_dir();
        let output = self.builder.args(&["--restore", name]).run_to_exit();
        output.assert_error(text);
        assert_eq!(
            std::fs::read(keep.data_file()).unwrap(),
            self.data_bin,
            "--restore {name:?}: data.bin changed"
        );
        let names = dir_names(&keep.data_dir());
        assert!(
            names
                .iter()
                .all(|name| ["data.bin", "snapshots", "stratus.pid"].contains(&name.as_str())),
            "--restore {name:?}: unexpected files {names:?}"
        );
        (output, keep)
    }
}

#[test]
fn restoring_a_missing_snapshot_exits_1_naming_it() {
    for name in ["nothing.snapshot", "remote/nothing.snapshot"] {
        let setup = setup_with_data_bin();
        let path = setup.builder.snapshot_dir().join(name);
        setup.assert_refused(
            name,
            &format!(
                "Error while initializing database: cannot restore {}: no such snapshot",
                path.display()
            ),
        );
    }
}

#[test]
fn restoring_a_damaged_snapshot_exits_1_and_touches_nothing() {
    let valid = encode(&[("x", "100"), ("y", "a longer value of the snapshot")]);
    let last = valid.len() - 1;
    let mut damages: Vec<(String, Vec<u8>)> = [0, 8, 20, 36, 40, 48, last]
        .into_iter()
        .map(|offset| {
            let mut damaged = valid.clone();
            damaged[offset] ^= 0xff;
            (format!("byte {offset} inverted"), damaged)
        })
        .collect();
    damages.push(("cut short".to_owned(), valid[..last].to_vec()));
    damages.push(("a byte too many".to_owned(), [&valid[..], b"!"].concat()));
    for (what, damaged) in damages {
        let fault = match format::decode(&damaged) {
            Ok(_) => panic!("{what}: the library decoder accepts the damaged file"),
            Err(error) => error.to_string(),
        };
        for name in ["remote/damaged.snapshot", "20261127-120000.snapshot"] {
            let setup = setup_with_data_bin();
            let path = setup
                .builder
                .write_bytes(&format!("data/snapshots/{name}"), &damaged);
            let (output, _keep) = setup.assert_refused(
                name,
                &format!(
                    "Error while initializing database: {}: {fault}",
                    path.display()
                ),
            );
            assert!(
                output.stderr.contains(" at offset "),
                "{what}: the error does not say where\n{}",
                output.describe()
            );
            assert_eq!(
                std::fs::read(&path).unwrap(),
                damaged,
                "{what}: the snapshot changed"
            );
        }
    }
}

#[test]
fn restore_names_outside_the_snapshot_directory_exit_1() {
    let probe = setup_with_data_bin();
    let absolute_data_bin = probe.builder.data_file().display().to_string();
    let absolute_snapshot = probe
        .builder
        .write_bytes(
            "data/snapshots/remote/real.snapshot",
            &encode(&[("x", "1")]),
        )
        .display()
        .to_string();
    for name in [
        "../data.bin",
        "remote/../../data.bin",
        "..",
        absolute_data_bin.as_str(),
        absolute_snapshot.as_str(),
        "/etc/passwd",
    ] {
        setup_with_data_bin().assert_refused(
            name,
            &format!("Argument error: Invalid value for `--restore`: {name}"),
        );
    }
    // The empty name is refused by the flag parser, in the words it uses for every flag.
    setup_with_data_bin().assert_refused("", "Argument error: Invalid value for `--restore`");
}

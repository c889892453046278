//! One server per data directory: a second server on the same `--data-dir` exits with status 1
//! and names the process that has it, without disturbing the first; the lock dies with its
//! process, so a server killed with SIGKILL never blocks the next start.

mod common;

use common::files::dir_names;
use common::server::TestServer;
use common::status::wait_for_settled_save;
use common::wire::{assert_usable, exchange, simple_query, uint_response, value_response, OKAY};
use common::PATIENCE;

/// The PID recorded in the lock file.
fn lock_file_pid(server: &TestServer) -> String {
    std::fs::read_to_string(server.data_dir().join("stratus.pid")).expect("read stratus.pid")
}

#[test]
fn second_server_on_the_same_data_directory_exits_1_naming_the_first() {
    let first = TestServer::start_with(&["-S", "1"]);
    let mut con = first.raw();
    exchange(&mut con, &simple_query(&[b"SET", b"owner", b"first"]), OKAY);
    wait_for_settled_save(&mut con, PATIENCE);
    let saved = std::fs::read(first.data_file()).expect("read data.bin");

    for extra in [&[][..], &["--nosave"][..]] {
        let output = first.same_dir().args(extra).run_to_exit();
        output.assert_error(&format!(
            "Startup failure: Another process with PID {} is using the data directory",
            first.pid()
        ));
        assert!(
            output
                .stderr
                .contains(&first.data_dir().display().to_string()),
            "the message should name the data directory\n{}",
            output.describe()
        );
    }

    // The first server is undisturbed: its lock file, its data, its service.
    assert_eq!(lock_file_pid(&first), first.pid().to_string());
    assert_eq!(std::fs::read(first.data_file()).unwrap(), saved);
    exchange(
        &mut con,
        &simple_query(&[b"GET", b"owner"]),
        &value_response(b"first"),
    );
    exchange(
        &mut con,
        &simple_query(&[b"SET", b"still", b"writable"]),
        OKAY,
    );
}

#[test]
fn after_kill_9_a_new_server_starts_at_once_with_the_saved_data() {
    let mut first = TestServer::start_with(&["-S", "1"]);
    let mut con = first.raw();
    exchange(
        &mut con,
        &simple_query(&[b"SET", b"survivor", b"\x00saved\xff"]),
        OKAY,
    );
    wait_for_settled_save(&mut con, PATIENCE);
    drop(con);
    first.kill9();
    assert!(
        first.output_closed_within(PATIENCE),
        "a process forked by the killed server still holds its output"
    );
    // The lock file is still there, naming a dead process: it must not matter.
    assert_eq!(lock_file_pid(&first), first.pid().to_string());

    let second = first.same_dir().start();
    assert!(
        second
            .logs()
            .iter()
            .all(|line| !line.contains("Another process")),
        "the restart complained about the killed server's lock:\n{}",
        second.logs().join("\n")
    );
    assert_eq!(lock_file_pid(&second), second.pid().to_string());
    let mut con = second.raw();
    exchange(
        &mut con,
        &simple_query(&[b"GET", b"survivor"]),
        &value_response(b"\x00saved\xff"),
    );
    exchange(&mut con, &simple_query(&[b"DBSIZE"]), &uint_response(1));

    // And the new server holds the lock in turn.
    let third = second.same_dir().run_to_exit();
    third.assert_error(&format!(
        "Another process with PID {} is using the data directory",
        second.pid()
    ));
}

#[test]
fn after_a_clean_shutdown_the_next_server_starts() {
    let mut first = TestServer::start();
    exchange(&mut first.raw(), &simple_query(&[b"SET", b"a", b"1"]), OKAY);
    first.signal("TERM");
    assert!(first.wait_exit(PATIENCE).success());
    let second = first.same_dir().start();
    exchange(
        &mut second.raw(),
        &simple_query(&[b"GET", b"a"]),
        &value_response(b"1"),
    );
}

#[test]
fn refused_second_server_touches_no_file() {
    let first = TestServer::start();
    // Things a starting server would act on once it holds the lock: a temporary file it would
    // take for a crash leftover, and a data.bin in its working directory it would move in.
    let temp = first.data_dir().join("data.bin.tmp-999999");
    std::fs::write(&temp, b"a save in progress, as far as anyone knows").unwrap();
    // skyd 0.6's file for `x = 100`: count 1, key length 1, "x", value length 3, "100".
    let skyd_file = [
        &1u64.to_le_bytes()[..],
        &1u64.to_le_bytes(),
        b"x",
        &3u64.to_le_bytes(),
        b"100",
    ]
    .concat();
    let stray = first.same_dir().write_bytes("data.bin", &skyd_file);
    let before = dir_names(&first.data_dir());

    let output = first.same_dir().run_to_exit();
    output.assert_error("Another process with PID");
    assert!(temp.exists(), "the refused server removed {temp:?}");
    assert!(stray.exists(), "the refused server moved {stray:?}");
    assert_eq!(dir_names(&first.data_dir()), before);
    assert_eq!(
        std::fs::read_to_string(first.data_dir().join("stratus.pid")).unwrap(),
        first.pid().to_string()
    );
    assert_usable(&mut first.raw());
}

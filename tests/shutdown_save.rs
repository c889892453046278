//! The shutdown save decides the exit status: the server never exits 0 unless it saved. A
//! failing shutdown save (a directory where data.bin must go, RLIMIT_FSIZE) is retried with
//! back-off and the process stays up; a second SIGINT or SIGTERM gives up with exit status 1,
//! leaving the last good data.bin untouched. A shutdown that arrives while a background save
//! runs waits for it, then saves and exits 0.

mod common;

use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use common::entries::{assert_bulk_and_extras_saved, load_bulk, Entries, SLOW_SAVE_KEYS};
use common::files::{read_data_file, temp_file_names};
use common::process::{
    child_pid_in, is_live_stratus, kill_pid, process_state, set_file_size_limit,
};
use common::server::TestServer;
use common::status::wait_for_settled_save;
use common::wire::{
    exchange, simple_query, uint_response, value_response, NIL, OKAY, SERVER_ERROR,
};
use common::{PATIENCE, SILENCE};

/// The process must still be alive this long after the first signal.
const STILL_RETRYING_AFTER: Duration = Duration::from_secs(3);

fn entries(prefix: &str, count: usize) -> Entries {
    (0..count)
        .map(|i| {
            let mut value = format!("{prefix} value {i} ").into_bytes();
            value.resize(150, b'.');
            (format!("{prefix}-{i}").into_bytes(), value)
        })
        .collect()
}

fn mset(con: &mut TcpStream, entries: &Entries) {
    let mut args: Vec<&[u8]> = vec![b"MSET"];
    for (key, value) in entries {
        args.push(key);
        args.push(value);
    }
    exchange(
        con,
        &simple_query(&args),
        &uint_response(entries.len() as u64),
    );
}

/// Sends `first`, checks that the save fails, is retried and the process stays up for
/// `STILL_RETRYING_AFTER`; then sends `second` and expects exit status 1 with the
/// abandonment logged. Returns the retry line.
fn assert_retries_until_second_signal(
    server: &mut TestServer,
    first: &str,
    second: &str,
) -> String {
    let from = server.logs().len();
    let signalled = Instant::now();
    server.signal(first);
    let failure = server.wait_for_log_after(from, "shutdown save failed", PATIENCE);
    assert!(failure.contains("ERROR"), "not an ERROR line: {failure:?}");
    let retry = server.wait_for_log_after(from, "Retrying the shutdown save in 1 s", PATIENCE);
    // The back-off doubles: the second failure announces 2 s.
    server.wait_for_log_after(from, "Retrying the shutdown save in 2 s", PATIENCE);
    thread::sleep(STILL_RETRYING_AFTER.saturating_sub(signalled.elapsed()));
    assert!(
        server.is_running(),
        "the server exited although its shutdown save failed\n{}",
        server.logs().join("\n")
    );
    assert!(
        server.logs()[from..]
            .iter()
            .all(|line| !line.contains("Successfully saved data to disk")),
        "a failed shutdown save was reported as a success"
    );
    let abandon_from = server.logs().len();
    server.signal(second);
    let status = server.wait_exit(PATIENCE);
    assert_eq!(
        status.code(),
        Some(1),
        "exit status after giving up on the shutdown save: {status:?}\n{}",
        server.logs().join("\n")
    );
    let abandoned =
        server.wait_for_log_after(abandon_from, "Shutdown save abandoned after", PATIENCE);
    let attempts: u32 = abandoned
        .split("Shutdown save abandoned after ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|number| number.parse().ok())
        .unwrap_or_else(|| panic!("no attempt count in {abandoned:?}"));
    assert!(
        abandoned.contains("ERROR") && attempts >= 2,
        "expected an ERROR line counting at least 2 attempts: {abandoned:?}"
    );
    assert!(
        abandoned.contains(&server.data_file().display().to_string()),
        "the abandonment line should name data.bin: {abandoned:?}"
    );
    retry
}

/// The retry line is one readable sentence that says how to give up.
fn assert_retry_line_readable(retry: &str) {
    assert!(
        retry.contains(
            "Retrying the shutdown save in 1 s; send SIGINT or SIGTERM again to give up and exit \
             with the last good save in place"
        ),
        "the retry line is garbled: {retry:?}"
    );
}

#[test]
fn directory_in_the_way_keeps_retrying_until_a_second_sigterm_then_exits_1() {
    let mut server = TestServer::start();
    let mut con = server.raw();
    mset(&mut con, &entries("lost", 5));
    drop(con);
    std::fs::create_dir(server.data_file()).expect("create a directory named data.bin");
    let retry = assert_retries_until_second_signal(&mut server, "TERM", "TERM");
    assert!(
        server.data_file().is_dir(),
        "data.bin (a directory) was replaced although every save failed"
    );
    assert_eq!(
        temp_file_names(&server.data_dir()),
        Vec::<String>::new(),
        "failed shutdown saves left temporary files"
    );
    assert_retry_line_readable(&retry);
}

#[test]
fn file_size_limit_keeps_retrying_until_a_second_signal_and_keeps_the_last_good_save() {
    let mut server = TestServer::start_with(&["-S", "1"]);
    let mut con = server.raw();
    let saved = entries("saved", 20);
    mset(&mut con, &saved);
    wait_for_settled_save(&mut con, PATIENCE);
    let good = std::fs::read(server.data_file()).expect("read the good data.bin");
    assert!(good.len() > 1024, "the limit must be below the file size");

    set_file_size_limit(server.pid(), "1024");
    mset(&mut con, &entries("lost", 20));
    drop(con);
    let retry = assert_retries_until_second_signal(&mut server, "INT", "TERM");
    assert_eq!(
        std::fs::read(server.data_file()).expect("read data.bin"),
        good,
        "data.bin must still be the last good save"
    );
    assert_eq!(
        temp_file_names(&server.data_dir()),
        Vec::<String>::new(),
        "failed shutdown saves left temporary files"
    );

    let restarted = server.same_dir().start();
    let mut con = restarted.raw();
    for (key, value) in &saved {
        exchange(
            &mut con,
            &simple_query(&[b"GET", key]),
            &value_response(value),
        );
    }
    exchange(&mut con, &simple_query(&[b"GET", b"lost-0"]), NIL);
    exchange(
        &mut con,
        &simple_query(&[b"DBSIZE"]),
        &uint_response(saved.len() as u64),
    );
    assert_retry_line_readable(&retry);
}

#[test]
fn shutdown_save_succeeds_once_the_fault_is_gone_and_exits_0() {
    let mut server = TestServer::start();
    let mut con = server.raw();
    let kept = entries("kept", 5);
    mset(&mut con, &kept);
    drop(con);
    std::fs::create_dir(server.data_file()).expect("create a directory named data.bin");
    let from = server.logs().len();
    server.signal("TERM");
    server.wait_for_log_after(from, "Retrying the shutdown save in", PATIENCE);
    assert!(server.is_running(), "exited after a failed shutdown save");
    std::fs::remove_dir(server.data_file()).expect("remove the directory");
    let status = server.wait_exit(3 * PATIENCE);
    assert!(
        status.success(),
        "exit status once the retried shutdown save could succeed: {status:?}\n{}",
        server.logs().join("\n")
    );
    server.wait_for_log_after(from, "Successfully saved data to disk", PATIENCE);
    assert!(read_data_file(&server.data_file()) == kept);
    let restarted = server.same_dir().start();
    exchange(
        &mut restarted.raw(),
        &simple_query(&[b"DBSIZE"]),
        &uint_response(kept.len() as u64),
    );
}

/// Loads enough data for saves to take a while, then catches a background save child and
/// stops it (SIGSTOP) while it runs, retrying on later saves if it finished first. Returns
/// the child's pid and the small keys written besides the bulk.
fn stop_a_running_save(server: &TestServer, con: &mut TcpStream) -> (u32, Entries) {
    const ATTEMPTS: usize = 20;
    load_bulk(con, SLOW_SAVE_KEYS);
    let mut extras = Entries::new();
    for attempt in 0..ATTEMPTS {
        let key = format!("extra-{attempt}").into_bytes();
        exchange(con, &simple_query(&[b"SET", &key, b"x"]), OKAY);
        extras.insert(key, b"x".to_vec());
        let from = server.logs().len();
        let started = server.wait_for_log_after(from, "BGSAVE started by child", PATIENCE);
        let pid = child_pid_in(&started);
        kill_pid(pid, "STOP");
        let deadline = Instant::now() + PATIENCE;
        loop {
            match process_state(pid) {
                Some(('T', _)) => return (pid, extras),
                Some(('Z', _)) | None => break,
                Some(_) => {}
            }
            assert!(
                Instant::now() < deadline,
                "save child {pid} neither stopped nor ended"
            );
            thread::sleep(Duration::from_millis(5));
        }
    }
    panic!("every one of {ATTEMPTS} save children finished before SIGSTOP reached it");
}

/// A server whose background save child is stopped (SIGSTOP), sent SIGTERM, and logging that
/// it waits for that save. Returns it, the child's pid, the keys written besides the bulk, and
/// the log position before the signal.
fn sigterm_while_a_save_is_held() -> (TestServer, u32, Entries, usize) {
    let server = TestServer::start_with(&["-S", "1"]);
    let mut con = server.raw();
    let (pid, extras) = stop_a_running_save(&server, &mut con);
    drop(con);
    let from = server.logs().len();
    server.signal("TERM");
    server.wait_for_log_after(
        from,
        "Waiting for the running save to finish before the final save",
        PATIENCE,
    );
    (server, pid, extras, from)
}

#[test]
fn shutdown_during_a_background_save_waits_for_it_then_saves_and_exits_0() {
    let (mut server, pid, extras, from) = sigterm_while_a_save_is_held();
    thread::sleep(SILENCE);
    assert!(
        server.is_running(),
        "the server exited while its save child was still running"
    );
    assert!(kill_pid(pid, "CONT"), "SIGCONT to the save child {pid}");
    let status = server.wait_exit(3 * PATIENCE);
    assert!(
        status.success(),
        "exit status: {status:?}\n{}",
        server.logs().join("\n")
    );
    let logs = server.logs();
    let completed = logs[from..]
        .iter()
        .position(|line| line.contains(&format!("BGSAVE completed successfully by child {pid}")));
    let goodbye = logs[from..]
        .iter()
        .position(|line| line.contains("Successfully saved data to disk"));
    assert!(
        matches!((completed, goodbye), (Some(c), Some(g)) if c < g),
        "expected the background save to complete, then the shutdown save\n{}",
        logs[from..].join("\n")
    );
    assert_bulk_and_extras_saved(&server, &extras);
}

#[test]
fn second_signal_while_waiting_for_a_background_save_stops_it_and_still_saves() {
    let (mut server, pid, extras, from) = sigterm_while_a_save_is_held();
    server.signal("INT");
    let status = server.wait_exit(3 * PATIENCE);
    assert!(
        status.success(),
        "exit status: {status:?}\n{}",
        server.logs().join("\n")
    );
    server.wait_for_log_after(
        from,
        &format!("save child {pid} was killed by SIGKILL"),
        PATIENCE,
    );
    server.wait_for_log_after(from, "Successfully saved data to disk", PATIENCE);
    assert!(
        !is_live_stratus(pid),
        "the stopped save child {pid} survived"
    );
    assert_eq!(
        temp_file_names(&server.data_dir()),
        Vec::<String>::new(),
        "the killed save child's temporary file was left behind"
    );
    assert_bulk_and_extras_saved(&server, &extras);
}

#[test]
fn poisoned_server_still_saves_at_shutdown_once_it_can() {
    let mut server = TestServer::start_with(&["-S", "1"]);
    let mut con = server.raw();
    let kept = entries("kept", 5);
    mset(&mut con, &kept);
    wait_for_settled_save(&mut con, PATIENCE);
    std::fs::remove_file(server.data_file()).unwrap();
    std::fs::create_dir(server.data_file()).unwrap();
    let mut all = kept.clone();
    let late = entries("late", 3);
    mset(&mut con, &late);
    all.extend(late);
    server.wait_for_log("Writes are refused until a save succeeds", PATIENCE);
    exchange(
        &mut con,
        &simple_query(&[b"SET", b"refused", b"v"]),
        SERVER_ERROR,
    );
    drop(con);
    let from = server.logs().len();
    server.signal("TERM");
    server.wait_for_log_after(from, "Retrying the shutdown save in", PATIENCE);
    std::fs::remove_dir(server.data_file()).unwrap();
    let status = server.wait_exit(3 * PATIENCE);
    assert!(
        status.success(),
        "exit status: {status:?}\n{}",
        server.logs().join("\n")
    );
    assert!(
        read_data_file(&server.data_file()) == all,
        "data.bin after the shutdown of a poisoned server"
    );
}

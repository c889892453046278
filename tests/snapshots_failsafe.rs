//! A snapshot that cannot be written, with real faults: the snapshot directory made immutable
//! (`chattr +i`) and RLIMIT_FSIZE lowered on the running server (with `--nosave`, so that only
//! snapshots fail). With failsafe (the default) a failed periodic snapshot poisons the server
//! like a failed BGSAVE: writes answer a server error, reads are served, the status says so,
//! and once the fault is gone writes are accepted again by themselves. Without failsafe
//! (`--stop-write-on-fail false`, or `failsafe = false` in the file) no write ever fails. A
//! failing MKSNAP, named or not, answers a server error and never poisons.

mod common;

use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use common::entries::Entries;
use common::files::{dir_names, read_data_file, table_entries, ImmutableDir};
use common::process::set_file_size_limit;
use common::server::{ServerBuilder, TestServer};
use common::snapshots::{timestamped_snapshots, MKSNAP, SNAPSHOT_BUSY};
use common::status::{persistence_info, HEALTH_CRITICAL, HEALTH_GOOD};
use common::wire::{
    ask, escape, exchange, simple_query, uint_response, value_response, ACTION_ERROR, NIL, OKAY,
    SERVER_ERROR,
};
use common::{wait_until, PATIENCE};

/// How long recovery may take once the fault is gone (snapshots are retried every second).
const RECOVERY: Duration = Duration::from_secs(15);

/// A way to make snapshot writes fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// `chattr +i` on `snapshots/` (timestamped snapshots) or `snapshots/remote` (named).
    Immutable,
    /// Soft RLIMIT_FSIZE of 1024 bytes on the server (and so on its save children).
    FileSizeLimit,
}

impl Fault {
    /// A fragment of the error the fault causes.
    fn cause(self) -> &'static str {
        match self {
            Fault::Immutable => "Operation not permitted",
            Fault::FileSizeLimit => "File too large",
        }
    }
}

/// A fault in place; removed by [`ActiveFault::remove`] or when dropped.
struct ActiveFault {
    immutable: Option<ImmutableDir>,
    limited_pid: Option<u32>,
}

impl ActiveFault {
    /// Applies `fault`: an immutable directory is `dir`.
    fn apply(fault: Fault, server: &TestServer, dir: &std::path::Path) -> ActiveFault {
        match fault {
            Fault::Immutable => ActiveFault {
                immutable: Some(ImmutableDir::set(dir)),
                limited_pid: None,
            },
            Fault::FileSizeLimit => {
                set_file_size_limit(server.pid(), "1024");
                ActiveFault {
                    immutable: None,
                    limited_pid: Some(server.pid()),
                }
            }
        }
    }

    fn remove(&mut self) {
        if let Some(mut dir) = self.immutable.take() {
            dir.clear();
        }
        if let Some(pid) = self.limited_pid.take() {
            set_file_size_limit(pid, "unlimited");
        }
    }
}

impl Drop for ActiveFault {
    fn drop(&mut self) {
        if let Some(pid) = self.limited_pid.take() {
            let _ = std::process::Command::new("prlimit")
                .args(["--pid", &pid.to_string(), "--fsize=unlimited:unlimited"])
                .status();
        }
    }
}

/// Ten keys of 200 bytes: about 2.5 KB in a snapshot, more than the 1024-byte limit.
fn stored_entries() -> Entries {
    (0..10)
        .map(|i| {
            let key = format!("stored-{i}").into_bytes();
            let mut value = format!("value {i} ").into_bytes();
            value.resize(200, b'a' + i as u8);
            (key, value)
        })
        .collect()
}

fn store(con: &mut TcpStream, entries: &Entries) {
    for (key, value) in entries {
        exchange(con, &simple_query(&[b"SET", key, value]), OKAY);
    }
}

/// Sends unnamed MKSNAPs until one is not busy (a periodic snapshot may be queued or
/// running); returns that answer.
fn mksnap_past_busy(con: &mut TcpStream) -> Vec<u8> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let answer = ask(con, &[b"MKSNAP"]);
        if answer != SNAPSHOT_BUSY {
            return answer;
        }
        assert!(Instant::now() < deadline, "MKSNAP busy for {PATIENCE:?}");
        thread::sleep(Duration::from_millis(20));
    }
}

/// Retries `SET key value` until it is accepted (a refusal changes nothing); fails after
/// `RECOVERY`.
fn set_once_recovered(con: &mut TcpStream, key: &[u8], value: &[u8]) {
    let deadline = Instant::now() + RECOVERY;
    loop {
        let answer = ask(con, &[b"SET", key, value]);
        if answer == OKAY {
            return;
        }
        assert_eq!(
            escape(&answer),
            escape(SERVER_ERROR),
            "SET while waiting for recovery"
        );
        assert!(
            Instant::now() < deadline,
            "writes still refused {RECOVERY:?} after the fault was removed"
        );
        thread::sleep(Duration::from_millis(50));
    }
}

fn assert_health(con: &mut TcpStream, expected: &[u8]) {
    exchange(
        con,
        &simple_query(&[b"SYS", b"METRIC", b"health"]),
        expected,
    );
}

/// Everything a server poisoned by a failed snapshot must answer and report.
fn assert_poisoned_by_snapshot(con: &mut TcpStream, entries: &Entries, cause: &str) {
    for query in [
        vec![&b"SET"[..], b"refused", b"v"],
        vec![b"DEL", b"stored-0"],
        vec![b"USET", b"refused", b"v"],
        vec![b"UPDATE", b"stored-1", b"v"],
        vec![b"FLUSHDB"],
    ] {
        let answer = ask(con, &query);
        assert!(
            answer == SERVER_ERROR,
            "poisoned: {:?} answered \"{}\"",
            query.iter().map(|part| escape(part)).collect::<Vec<_>>(),
            escape(&answer)
        );
    }
    exchange(con, &simple_query(&[b"SET", b"a"]), ACTION_ERROR);
    for (key, value) in entries {
        exchange(con, &simple_query(&[b"GET", key]), &value_response(value));
    }
    exchange(con, &simple_query(&[b"GET", b"refused"]), NIL);
    exchange(
        con,
        &simple_query(&[b"DBSIZE"]),
        &uint_response(entries.len() as u64),
    );
    assert_health(con, HEALTH_CRITICAL);
    let info = persistence_info(con);
    let has = |key: &str, value: &str| assert_eq!(info[key], value, "{key} in {info:#?}");
    has("health", "critical");
    has("last_snapshot_status", "failed");
    // Not a save of data.bin.
    has("saves_failed", "0");
    has("last_save_status", "none");
    for key in ["last_snapshot_error", "poisoned_cause"] {
        assert!(
            info[key].contains(cause),
            "{key} should name {cause:?}: {info:#?}"
        );
    }
    assert!(!info["poisoned_since"].is_empty(), "{info:#?}");
    assert_ne!(info["snapshots_failed"], "0", "{info:#?}");
}

fn failing_periodic_snapshot_poisons_until_the_fault_is_gone(fault: Fault) {
    let server = TestServer::start_with(&["--snapevery", "1", "--snapkeep", "2", "--nosave"]);
    let mut con = server.raw();
    let mut entries = stored_entries();
    store(&mut con, &entries);
    server.wait_for_log("periodic snapshot completed successfully", PATIENCE);

    let from = server.logs().len();
    let mut active = ActiveFault::apply(fault, &server, &server.snapshot_dir());
    let failure = server.wait_for_log_after(from, "periodic snapshot failed", PATIENCE);
    assert!(
        failure.contains("ERROR") && failure.contains(fault.cause()),
        "{fault:?}: {failure:?}"
    );
    server.wait_for_log_after(from, "Writes are refused until a save succeeds", PATIENCE);
    assert_poisoned_by_snapshot(&mut con, &entries, fault.cause());

    // A failing MKSNAP answers a server error; a named one that works (the immutable
    // directory is not its directory) does not clear the poison.
    let answer = mksnap_past_busy(&mut con);
    assert_eq!(escape(&answer), escape(SERVER_ERROR), "{fault:?}: MKSNAP");
    let named = ask(&mut con, &[b"MKSNAP", b"while-poisoned"]);
    match fault {
        Fault::Immutable => {
            assert_eq!(escape(&named), escape(OKAY), "named MKSNAP");
            assert_eq!(
                read_data_file(&server.named_snapshot("while-poisoned")),
                entries
            );
        }
        Fault::FileSizeLimit => assert_eq!(escape(&named), escape(SERVER_ERROR), "named"),
    }
    exchange(
        &mut con,
        &simple_query(&[b"SET", b"refused", b"v"]),
        SERVER_ERROR,
    );
    assert_health(&mut con, HEALTH_CRITICAL);
    let snapshot_files = dir_names(&server.snapshot_dir());
    assert!(
        snapshot_files.iter().all(|name| !name.contains(".tmp-")),
        "a failed snapshot left its temporary file: {snapshot_files:?}"
    );

    let removed_at = server.logs().len();
    active.remove();
    set_once_recovered(&mut con, b"after", b"recovered");
    entries.insert(b"after".to_vec(), b"recovered".to_vec());
    server.wait_for_log_after(
        removed_at,
        "periodic snapshot succeeded: writes are accepted again",
        PATIENCE,
    );
    assert_health(&mut con, HEALTH_GOOD);
    let info = persistence_info(&mut con);
    assert_eq!(info["poisoned_cause"], "", "{info:#?}");
    let newest = timestamped_snapshots(&server.snapshot_dir());
    assert!(!newest.is_empty());
    // Once the next periodic snapshot holds the write made after recovery.
    wait_until(PATIENCE, "a snapshot holding the recovered write", || {
        timestamped_snapshots(&server.snapshot_dir())
            .last()
            .is_some_and(|name| {
                std::fs::read(server.snapshot_dir().join(name))
                    .ok()
                    .and_then(|bytes| stratus::persist::format::decode(&bytes).ok())
                    .is_some_and(|table| table_entries(&table) == entries)
            })
    });
}

#[test]
fn immutable_snapshot_directory_poisons_with_failsafe_until_it_is_writable() {
    failing_periodic_snapshot_poisons_until_the_fault_is_gone(Fault::Immutable);
}

#[test]
fn file_size_limit_poisons_with_failsafe_until_it_is_lifted() {
    failing_periodic_snapshot_poisons_until_the_fault_is_gone(Fault::FileSizeLimit);
}

/// Each fault in turn, until two periodic snapshots failed under it, while writing: every
/// write is accepted and the server stays healthy.
fn failing_snapshots_never_refuse_a_write(server: TestServer) {
    let mut con = server.raw();
    store(&mut con, &stored_entries());
    server.wait_for_log("periodic snapshot completed successfully", PATIENCE);
    let mut key = 0;
    for fault in [Fault::Immutable, Fault::FileSizeLimit] {
        let from = server.logs().len();
        let mut active = ActiveFault::apply(fault, &server, &server.snapshot_dir());
        let deadline = Instant::now() + 2 * PATIENCE;
        loop {
            let failures = server.logs()[from..]
                .iter()
                .filter(|line| line.contains("periodic snapshot failed"))
                .count();
            if failures >= 2 {
                break;
            }
            assert!(Instant::now() < deadline, "{fault:?}: {failures} failures");
            exchange(
                &mut con,
                &simple_query(&[b"SET", format!("k{key}").as_bytes(), b"v"]),
                OKAY,
            );
            key += 1;
            thread::sleep(Duration::from_millis(20));
        }
        assert!(
            server.logs()[from..]
                .iter()
                .any(|line| line.contains("periodic snapshot failed")
                    && line.contains(fault.cause())),
            "{fault:?}: the failures do not name {:?}",
            fault.cause()
        );
        exchange(&mut con, &simple_query(&[b"SET", b"x", b"1"]), OKAY);
        exchange(&mut con, &simple_query(&[b"DEL", b"x"]), &uint_response(1));
        assert_health(&mut con, HEALTH_GOOD);
        let info = persistence_info(&mut con);
        assert_eq!(info["health"], "good", "{info:#?}");
        assert_eq!(info["last_snapshot_status"], "failed", "{info:#?}");
        assert!(
            info["last_snapshot_error"].contains(fault.cause()),
            "{info:#?}"
        );
        active.remove();
        let removed_at = server.logs().len();
        server.wait_for_log_after(
            removed_at,
            "periodic snapshot completed successfully",
            PATIENCE,
        );
    }
    assert!(
        !server
            .logs()
            .iter()
            .any(|line| line.contains("Writes are refused")),
        "the server refused writes without failsafe"
    );
    exchange(
        &mut con,
        &simple_query(&[b"DBSIZE"]),
        &uint_response(10 + key as u64),
    );
}

#[test]
fn stop_write_on_fail_false_never_refuses_a_write() {
    failing_snapshots_never_refuse_a_write(TestServer::start_with(&[
        "--snapevery",
        "1",
        "--snapkeep",
        "2",
        "--nosave",
        "--stop-write-on-fail",
        "false",
    ]));
}

#[test]
fn failsafe_false_in_the_config_file_never_refuses_a_write() {
    let builder = ServerBuilder::new();
    let config = builder.write_file(
        "stratus.toml",
        "[server]\nhost = \"127.0.0.1\"\nport = 0\nnoart = true\n\n\
         [bgsave]\nenabled = false\n\n\
         [snapshot]\nevery = 1\natmost = 2\nfailsafe = false\n",
    );
    failing_snapshots_never_refuse_a_write(
        builder
            .exact_args(&["-c", config.to_str().unwrap()])
            .start(),
    );
}

/// Writes and health after a failed MKSNAP: nothing poisoned.
fn assert_not_poisoned(server: &TestServer, con: &mut TcpStream, key: &[u8]) {
    exchange(con, &simple_query(&[b"SET", key, b"v"]), OKAY);
    assert_health(con, HEALTH_GOOD);
    let info = persistence_info(con);
    assert_eq!(info["health"], "good", "{info:#?}");
    assert_eq!(info["last_snapshot_status"], "failed", "{info:#?}");
    assert!(
        !server
            .logs()
            .iter()
            .any(|line| line.contains("Writes are refused")),
        "a failed MKSNAP poisoned the server"
    );
}

#[test]
fn a_failing_unnamed_mksnap_answers_server_error_and_does_not_poison() {
    // Snapshots with failsafe, but no periodic one during the test.
    let server = TestServer::start_with(&["--snapevery", "3600", "--snapkeep", "2", "--nosave"]);
    let mut con = server.raw();
    let mut entries = stored_entries();
    store(&mut con, &entries);
    for (round, fault) in [Fault::Immutable, Fault::FileSizeLimit]
        .into_iter()
        .enumerate()
    {
        let from = server.logs().len();
        let mut active = ActiveFault::apply(fault, &server, &server.snapshot_dir());
        exchange(&mut con, MKSNAP, SERVER_ERROR);
        let failure = server.wait_for_log_after(from, "MKSNAP failed: ", PATIENCE);
        assert!(
            failure.contains("ERROR") && failure.contains(fault.cause()),
            "{fault:?}: {failure:?}"
        );
        let key = format!("after-failure-{round}").into_bytes();
        assert_not_poisoned(&server, &mut con, &key);
        entries.insert(key, b"v".to_vec());
        let info = persistence_info(&mut con);
        assert_eq!(
            info["snapshots_failed"],
            (round + 1).to_string(),
            "{info:#?}"
        );
        assert!(
            dir_names(&server.snapshot_dir())
                .iter()
                .all(|name| !name.contains(".tmp-")),
            "{fault:?}: a temporary file was left"
        );
        active.remove();
        let before = timestamped_snapshots(&server.snapshot_dir());
        exchange(&mut con, MKSNAP, OKAY);
        let after = timestamped_snapshots(&server.snapshot_dir());
        let new: Vec<&String> = after.iter().filter(|name| !before.contains(name)).collect();
        assert_eq!(new.len(), 1, "{before:?} -> {after:?}");
        assert_eq!(read_data_file(&server.snapshot_dir().join(new[0])), entries);
    }
}

#[test]
fn a_failing_named_mksnap_answers_server_error_and_does_not_poison() {
    let server = TestServer::start_with(&["--snapevery", "3600", "--snapkeep", "2", "--nosave"]);
    let mut con = server.raw();
    let mut entries = stored_entries();
    store(&mut con, &entries);
    let remote = server.snapshot_dir().join("remote");
    for (round, fault) in [Fault::Immutable, Fault::FileSizeLimit]
        .into_iter()
        .enumerate()
    {
        let name = format!("attempt-{round}");
        let from = server.logs().len();
        let mut active = ActiveFault::apply(fault, &server, &remote);
        exchange(
            &mut con,
            &simple_query(&[b"MKSNAP", name.as_bytes()]),
            SERVER_ERROR,
        );
        let failure = server.wait_for_log_after(from, &format!("MKSNAP {name} failed: "), PATIENCE);
        assert!(
            failure.contains("ERROR") && failure.contains(fault.cause()),
            "{fault:?}: {failure:?}"
        );
        let key = format!("after-failure-{round}").into_bytes();
        assert_not_poisoned(&server, &mut con, &key);
        entries.insert(key, b"v".to_vec());
        assert!(
            !server.named_snapshot(&name).exists(),
            "{fault:?}: the failed snapshot exists"
        );
        assert!(
            dir_names(&remote)
                .iter()
                .all(|file| !file.contains(".tmp-")),
            "{fault:?}: a temporary file was left"
        );
        // The failure did not take the name.
        active.remove();
        exchange(&mut con, &simple_query(&[b"MKSNAP", name.as_bytes()]), OKAY);
        assert_eq!(read_data_file(&server.named_snapshot(&name)), entries);
    }
}

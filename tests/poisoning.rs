//! A failed background save poisons the server: every write action answers a server error
//! (after its arity check), reads are served, the status actions say so; the save is retried,
//! and once the fault is gone writes are accepted again by themselves, with nothing lost.
//! Faults are real: a directory where data.bin must go, RLIMIT_FSIZE lowered on the running
//! server, and a save child killed with SIGKILL.

mod common;

use std::net::TcpStream;
use std::time::Duration;

use common::entries::{
    assert_bulk_and_extras_saved, bulk_key, bulk_value, load_bulk, Entries, SLOW_SAVE_KEYS,
};
use common::files::temp_file_names;
use common::process::{child_pid_in, kill_pid, set_file_size_limit};
use common::server::TestServer;
use common::status::{persistence_info, wait_for_settled_save, HEALTH_CRITICAL, HEALTH_GOOD};
use common::wire::{
    ask, assert_usable, escape, exchange, flat_array_strings, simple_query, string_element,
    uint_response, value_response, ACTION_ERROR, NIL, OKAY, SERVER_ERROR,
};
use common::PATIENCE;

/// How long recovery may take once the fault is gone (saves are retried every 1–5 s).
const RECOVERY: Duration = Duration::from_secs(15);

/// Every write action, with arguments that would succeed on a healthy server (or, for
/// `DEL missing`, change nothing): all must answer exactly a server error while poisoned.
fn writes_that_must_be_refused() -> Vec<Vec<&'static [u8]>> {
    vec![
        vec![b"SET", b"refused-set", b"v"],
        vec![b"UPDATE", b"before-0", b"new"],
        vec![b"DEL", b"before-0"],
        vec![b"DEL", b"missing"],
        vec![b"MSET", b"refused-mset-1", b"v", b"refused-mset-2", b"v"],
        vec![b"MUPDATE", b"before-1", b"new"],
        vec![b"USET", b"refused-uset", b"v", b"before-2", b"new"],
        vec![b"SSET", b"refused-sset", b"v"],
        vec![b"SDEL", b"before-3"],
        vec![b"SUPDATE", b"before-4", b"new"],
        vec![b"FLUSHDB"],
        // Two keys: the refusal is a single code, not an array of per-key answers.
        vec![b"POP", b"before-5", b"before-6"],
        vec![b"set", b"refused-lowercase", b"v"],
    ]
}

/// Write actions with the wrong number of arguments: the arity check comes first.
fn writes_with_bad_arity() -> Vec<Vec<&'static [u8]>> {
    vec![
        vec![b"SET", b"a"],
        vec![b"UPDATE", b"a"],
        vec![b"DEL"],
        vec![b"MSET", b"a"],
        vec![b"MUPDATE", b"a", b"b", b"c"],
        vec![b"USET", b"a"],
        vec![b"SSET", b"a"],
        vec![b"SDEL"],
        vec![b"SUPDATE", b"a"],
        vec![b"FLUSHDB", b"x"],
        vec![b"POP"],
    ]
}

fn before_entries() -> Entries {
    // About 2.5 KB in the file: more than the 1024-byte RLIMIT_FSIZE used below.
    (0..10)
        .map(|i| {
            let key = format!("before-{i}").into_bytes();
            let mut value = format!("value {i} ").into_bytes();
            value.resize(200, b'a' + i as u8);
            (key, value)
        })
        .collect()
}

/// Reads are served with the right values while poisoned.
fn assert_reads_served(con: &mut TcpStream, entries: &Entries) {
    for (key, value) in entries {
        exchange(con, &simple_query(&[b"GET", key]), &value_response(value));
    }
    exchange(con, &simple_query(&[b"GET", b"refused-set"]), NIL);
    exchange(
        con,
        &simple_query(&[b"EXISTS", b"before-0", b"before-9", b"refused-set"]),
        &uint_response(2),
    );
    let mut mget = b"*1\n&2\n".to_vec();
    mget.extend(string_element(&entries[&b"before-0"[..]]));
    mget.extend_from_slice(b"!1\n1\n");
    exchange(
        con,
        &simple_query(&[b"MGET", b"before-0", b"refused-set"]),
        &mget,
    );
    exchange(
        con,
        &simple_query(&[b"DBSIZE"]),
        &uint_response(entries.len() as u64),
    );
    exchange(
        con,
        &simple_query(&[b"KEYLEN", b"before-0"]),
        &uint_response(entries[&b"before-0"[..]].len() as u64),
    );
    let mut listed = flat_array_strings(&ask(con, &[b"LSKEYS", b"1000"]));
    listed.sort();
    let keys: Vec<Vec<u8>> = entries.keys().cloned().collect();
    assert_eq!(listed, keys, "LSKEYS 1000 while poisoned");
    assert_usable(con);
}

/// Everything a poisoned server must answer, and the status it must report. `cause` is a
/// fragment the save error must contain.
fn assert_poisoned(con: &mut TcpStream, entries: &Entries, cause: &str) {
    for query in writes_that_must_be_refused() {
        let response = ask(con, &query);
        assert!(
            response == SERVER_ERROR,
            "poisoned: {:?} answered \"{}\", expected \"{}\"",
            query.iter().map(|part| escape(part)).collect::<Vec<_>>(),
            escape(&response),
            escape(SERVER_ERROR)
        );
    }
    for query in writes_with_bad_arity() {
        exchange(con, &simple_query(&query), ACTION_ERROR);
    }
    assert_reads_served(con, entries);
    exchange(
        con,
        &simple_query(&[b"SYS", b"METRIC", b"health"]),
        HEALTH_CRITICAL,
    );
    let info = persistence_info(con);
    assert_eq!(info["health"], "critical", "{info:#?}");
    assert_eq!(info["last_save_status"], "failed", "{info:#?}");
    assert!(
        info["last_save_error"].contains(cause),
        "last_save_error should contain {cause:?}: {info:#?}"
    );
    assert!(!info["poisoned_cause"].is_empty(), "{info:#?}");
    assert!(!info["poisoned_since"].is_empty(), "{info:#?}");
    assert_ne!(info["saves_failed"], "0", "{info:#?}");
}

fn assert_healthy(con: &mut TcpStream) {
    exchange(
        con,
        &simple_query(&[b"SYS", b"METRIC", b"health"]),
        HEALTH_GOOD,
    );
    let info = persistence_info(con);
    assert_eq!(info["health"], "good", "{info:#?}");
    assert_eq!(info["last_save_status"], "ok", "{info:#?}");
    assert_eq!(info["last_save_error"], "", "{info:#?}");
    assert_eq!(info["poisoned_cause"], "", "{info:#?}");
}

/// Retries `SET key value` until it is accepted (the answer while poisoned is a server
/// error, which changes nothing); fails after `RECOVERY`.
fn set_once_recovered(con: &mut TcpStream, key: &[u8], value: &[u8]) {
    let mut last = Vec::new();
    let deadline = std::time::Instant::now() + RECOVERY;
    while std::time::Instant::now() < deadline {
        last = ask(con, &[b"SET", key, value]);
        if last == OKAY {
            return;
        }
        assert_eq!(last, SERVER_ERROR, "SET while waiting for recovery");
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!(
        "writes still refused {RECOVERY:?} after the fault was removed (last answer \"{}\")",
        escape(&last)
    );
}

/// Stops with SIGTERM, restarts on the same directory and checks every key and DBSIZE.
fn assert_restart_serves(mut server: TestServer, entries: &Entries) {
    server.signal("TERM");
    let status = server.wait_exit(3 * PATIENCE);
    assert!(
        status.success(),
        "exit status after SIGTERM: {status:?}\n{}",
        server.logs().join("\n")
    );
    let restarted = server.same_dir().start();
    let mut con = restarted.raw();
    for (key, value) in entries {
        exchange(
            &mut con,
            &simple_query(&[b"GET", key]),
            &value_response(value),
        );
    }
    exchange(
        &mut con,
        &simple_query(&[b"DBSIZE"]),
        &uint_response(entries.len() as u64),
    );
}

/// A fault to inject into a running server and remove again.
struct Fault {
    apply: fn(&TestServer),
    remove: fn(&TestServer),
    /// A fragment of the save error this fault causes.
    cause: &'static str,
}

fn poison_then_recover(fault: Fault) {
    let server = TestServer::start_with(&["-S", "1"]);
    let mut con = server.raw();
    let mut entries = before_entries();
    for (key, value) in &entries {
        exchange(&mut con, &simple_query(&[b"SET", key, value]), OKAY);
    }
    wait_for_settled_save(&mut con, PATIENCE);

    let from = server.logs().len();
    (fault.apply)(&server);
    // A change, so the next BGSAVE has something to save (and fails).
    exchange(&mut con, &simple_query(&[b"SET", b"trigger", b"t"]), OKAY);
    entries.insert(b"trigger".to_vec(), b"t".to_vec());
    let failure = server.wait_for_log_after(from, "BGSAVE failed", PATIENCE);
    assert!(
        failure.contains("ERROR") && failure.contains(fault.cause),
        "the failure line should be an ERROR naming {:?}: {failure:?}",
        fault.cause
    );
    server.wait_for_log_after(from, "Writes are refused until a save succeeds", PATIENCE);
    assert_poisoned(&mut con, &entries, fault.cause);
    assert_eq!(
        temp_file_names(&server.data_dir()),
        Vec::<String>::new(),
        "a failed save must remove its temporary file"
    );

    // Still failing while the fault is there: retried, still poisoned.
    let retry_from = server.logs().len();
    server.wait_for_log_after(retry_from, "BGSAVE failed", PATIENCE);
    exchange(
        &mut con,
        &simple_query(&[b"SET", b"refused-set", b"v"]),
        SERVER_ERROR,
    );

    let removed_at = server.logs().len();
    (fault.remove)(&server);
    set_once_recovered(&mut con, b"after-0", b"written after recovery");
    entries.insert(b"after-0".to_vec(), b"written after recovery".to_vec());
    server.wait_for_log_after(removed_at, "writes are accepted again", PATIENCE);
    assert_healthy(&mut con);
    exchange(
        &mut con,
        &simple_query(&[b"UPDATE", b"before-1", b"updated"]),
        OKAY,
    );
    entries.insert(b"before-1".to_vec(), b"updated".to_vec());
    exchange(
        &mut con,
        &simple_query(&[b"DEL", b"before-2"]),
        &uint_response(1),
    );
    entries.remove(&b"before-2"[..]);
    // Nothing a refused write asked for happened.
    assert_reads_served(&mut con, &entries);
    drop(con);
    assert_restart_serves(server, &entries);
}

#[test]
fn directory_in_place_of_data_bin_poisons_then_recovers() {
    poison_then_recover(Fault {
        apply: |server| {
            let data_file = server.data_file();
            std::fs::remove_file(&data_file).expect("remove data.bin");
            std::fs::create_dir(&data_file).expect("create a directory named data.bin");
        },
        remove: |server| std::fs::remove_dir(server.data_file()).expect("remove the directory"),
        cause: "Is a directory",
    });
}

#[test]
fn file_size_limit_poisons_then_recovers() {
    poison_then_recover(Fault {
        apply: |server| set_file_size_limit(server.pid(), "1024"),
        remove: |server| set_file_size_limit(server.pid(), "unlimited"),
        cause: "File too large",
    });
}

#[test]
fn killed_save_child_poisons_until_the_next_save_succeeds() {
    const ATTEMPTS: usize = 20;
    let server = TestServer::start_with(&["-S", "1"]);
    let mut con = server.raw();
    load_bulk(&mut con, SLOW_SAVE_KEYS);
    let mut extras = Entries::new();
    let mut killed = None;
    let mut attempts = Vec::new();
    for attempt in 0..ATTEMPTS {
        // Every BGSAVE needs a change to run at all.
        let key = format!("extra-{attempt}").into_bytes();
        exchange(&mut con, &simple_query(&[b"SET", &key, b"x"]), OKAY);
        extras.insert(key, b"x".to_vec());
        let from = server.logs().len();
        let started = server.wait_for_log_after(from, "BGSAVE started by child", PATIENCE);
        let pid = child_pid_in(&started);
        kill_pid(pid, "KILL");
        let needle = format!("child {pid}");
        let outcome = server
            .find_log_after(from, 3 * PATIENCE, |line| {
                line.contains(&needle)
                    && (line.contains("completed successfully") || line.contains("failed"))
            })
            .unwrap_or_else(|| {
                panic!(
                    "no outcome logged for save child {pid}\n{}",
                    server.logs().join("\n")
                )
            });
        attempts.push(outcome.clone());
        if outcome.contains("failed") {
            assert!(
                outcome.contains("ERROR") && outcome.contains("killed by SIGKILL"),
                "the failure of a SIGKILLed child should say so: {outcome:?}"
            );
            killed = Some(pid);
            break;
        }
    }
    let Some(pid) = killed else {
        panic!("the save child finished before every one of {ATTEMPTS} kills: {attempts:#?}");
    };
    server.wait_for_log("Writes are refused until a save succeeds", PATIENCE);
    assert!(
        !server
            .data_dir()
            .join(format!("data.bin.tmp-{pid}"))
            .exists(),
        "the temporary file of the killed save child {pid} was left behind"
    );
    exchange(
        &mut con,
        &simple_query(&[b"SET", b"refused", b"v"]),
        SERVER_ERROR,
    );
    exchange(
        &mut con,
        &simple_query(&[b"POP", b"extra-0", b"bulk00000000"]),
        SERVER_ERROR,
    );
    exchange(
        &mut con,
        &simple_query(&[b"SYS", b"METRIC", b"health"]),
        HEALTH_CRITICAL,
    );
    exchange(
        &mut con,
        &simple_query(&[b"GET", &bulk_key(7)]),
        &value_response(&bulk_value(7)),
    );
    let info = persistence_info(&mut con);
    assert!(
        info["last_save_error"].contains("killed by SIGKILL"),
        "{info:#?}"
    );

    set_once_recovered(&mut con, b"after-kill", b"accepted again");
    extras.insert(b"after-kill".to_vec(), b"accepted again".to_vec());
    assert_healthy(&mut con);
    exchange(&mut con, &simple_query(&[b"GET", b"refused"]), NIL);
    drop(con);

    let mut server = server;
    server.signal("TERM");
    let status = server.wait_exit(3 * PATIENCE);
    assert!(status.success(), "exit status after SIGTERM: {status:?}");
    assert_bulk_and_extras_saved(&server, &extras);
}

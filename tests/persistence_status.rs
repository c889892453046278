//! The persistence status over the protocol: `SYS METRIC health|storage` and `SYS INFO
//! version|persistence` answer exact bytes, unknown properties and wrong argument counts are
//! errors, and the skytable 0.4.0 client can read every answer.

mod common;

use common::client::{int, string};
use common::server::TestServer;
use common::status::{persistence_info, wait_for_settled_save, HEALTH_GOOD};
use common::wire::{
    assert_usable, exchange, flat_array, simple_query, uint_response, value_response, ACTION_ERROR,
    NIL, OKAY,
};
use common::PATIENCE;
use skytable::{Element, Query, Response};

#[test]
fn fresh_server_reports_exact_status() {
    let server = TestServer::start();
    let mut con = server.raw();
    exchange(
        &mut con,
        &simple_query(&[b"SYS", b"METRIC", b"health"]),
        HEALTH_GOOD,
    );
    exchange(
        &mut con,
        &simple_query(&[b"SYS", b"METRIC", b"storage"]),
        &uint_response(0),
    );
    exchange(
        &mut con,
        &simple_query(&[b"SYS", b"INFO", b"version"]),
        &value_response(env!("CARGO_PKG_VERSION").as_bytes()),
    );
    let lines: [&[u8]; 30] = [
        b"health=good",
        b"poisoned_cause=",
        b"poisoned_since=",
        b"save_in_progress=0",
        b"changes_since_last_save=0",
        b"saves_succeeded=0",
        b"saves_failed=0",
        b"last_save_kind=none",
        b"last_save_status=none",
        b"last_save_time=",
        b"last_save_duration_ms=",
        b"last_fork_time_us=",
        b"last_save_keys=",
        b"last_save_bytes=",
        b"last_save_error=",
        b"snapshots_succeeded=0",
        b"snapshots_failed=0",
        b"last_snapshot=",
        b"last_snapshot_status=none",
        b"last_snapshot_time=",
        b"last_snapshot_error=",
        b"data_file_bytes=0",
        b"journal_mode=off",
        b"journal_segment=",
        b"journal_bytes_since_compaction=",
        b"journal_commits=",
        b"journal_fsyncs=",
        b"journal_last_fsync_us=",
        b"journal_max_fsync_us=",
        b"journal_last_error=",
    ];
    let mut expected = b"*1\n".to_vec();
    expected.extend(flat_array(&lines));
    exchange(
        &mut con,
        &simple_query(&[b"SYS", b"INFO", b"persistence"]),
        &expected,
    );
    exchange(&mut con, &simple_query(&[b"SET", b"a", b"1"]), OKAY);
    let info = persistence_info(&mut con);
    assert_eq!(info["changes_since_last_save"], "1", "{info:#?}");
}

#[test]
fn status_after_a_save_describes_it() {
    let server = TestServer::start_with(&["-S", "1"]);
    let mut con = server.raw();
    exchange(&mut con, &simple_query(&[b"SET", b"key", b"value"]), OKAY);
    wait_for_settled_save(&mut con, PATIENCE);
    let size = std::fs::metadata(server.data_file()).unwrap().len();
    // Header, then one entry: two u32 lengths, "key", "value".
    assert_eq!(size, 48 + 8 + 3 + 5);
    let info = persistence_info(&mut con);
    let expect = |name: &str, value: &str| {
        assert_eq!(info[name], value, "{name} in {info:#?}");
    };
    expect("health", "good");
    expect("saves_succeeded", "1");
    expect("saves_failed", "0");
    expect("last_save_kind", "bgsave");
    expect("last_save_status", "ok");
    expect("last_save_keys", "1");
    expect("last_save_bytes", &size.to_string());
    expect("data_file_bytes", &size.to_string());
    expect("last_save_error", "");
    // A save of data.bin is not a snapshot.
    expect("snapshots_succeeded", "0");
    expect("snapshots_failed", "0");
    expect("last_snapshot", "");
    expect("last_snapshot_status", "none");
    expect("last_snapshot_time", "");
    expect("last_snapshot_error", "");
    expect("journal_mode", "off");
    assert_eq!(info.len(), 30, "{info:#?}");
    for name in [
        "last_save_time",
        "last_save_duration_ms",
        "last_fork_time_us",
    ] {
        assert!(!info[name].is_empty(), "{name} is empty: {info:#?}");
    }
    assert!(
        info["last_save_time"].ends_with('Z') && info["last_save_time"].contains('T'),
        "last_save_time is not an RFC 3339 UTC time: {info:#?}"
    );
    exchange(
        &mut con,
        &simple_query(&[b"SYS", b"METRIC", b"storage"]),
        &uint_response(size),
    );
}

#[test]
fn unknown_properties_and_wrong_arity_are_errors() {
    let server = TestServer::start();
    let mut con = server.raw();
    let unknown = b"*1\n!20\nerr-unknown-property\n";
    for query in [
        &[&b"SYS"[..], b"METRIC", b"nothing"][..],
        &[b"SYS", b"INFO", b"health"],
        &[b"SYS", b"METRIC", b"version"],
        &[b"SYS", b"", b""],
    ] {
        exchange(&mut con, &simple_query(query), unknown);
    }
    for query in [
        &[&b"SYS"[..]][..],
        &[b"SYS", b"METRIC"],
        &[b"SYS", b"METRIC", b"health", b"extra"],
    ] {
        exchange(&mut con, &simple_query(query), ACTION_ERROR);
    }
    assert_usable(&mut con);
}

#[test]
fn skytable_client_reads_every_status_answer() {
    let server = TestServer::start();
    let mut con = server.client();
    let run = |con: &mut skytable::Connection, group: &str, name: &str| {
        let query = Query::from("sys").arg(group).arg(name);
        match con.run_simple_query(&query) {
            Ok(Response::Item(element)) => element,
            other => panic!("SYS {group} {name}: {other:?}"),
        }
    };
    assert_eq!(run(&mut con, "metric", "health"), string("good"));
    assert_eq!(run(&mut con, "metric", "storage"), int(0));
    assert_eq!(
        run(&mut con, "info", "version"),
        string(env!("CARGO_PKG_VERSION"))
    );
    match run(&mut con, "info", "persistence") {
        Element::FlatArray(lines) => {
            assert_eq!(lines.len(), 30, "{lines:?}");
            assert_eq!(lines[0], "health=good");
            assert_eq!(lines[15], "snapshots_succeeded=0");
            assert_eq!(lines[18], "last_snapshot_status=none");
            assert_eq!(lines[21], "data_file_bytes=0");
        }
        other => panic!("SYS INFO persistence: {other:?}"),
    }
}

#[test]
fn the_journal_reports_its_mode_segment_commits_and_fsyncs() {
    let server = TestServer::start_with(&["--journal", "always"]);
    let mut con = server.raw();
    for i in 0..3 {
        exchange(
            &mut con,
            &simple_query(&[b"SET", format!("k{i}").as_bytes(), b"v"]),
            OKAY,
        );
    }
    exchange(&mut con, &simple_query(&[b"GET", b"missing"]), NIL);
    let info = persistence_info(&mut con);
    let expect = |name: &str, value: &str| {
        assert_eq!(info[name], value, "{name} in {info:#?}");
    };
    expect("journal_mode", "always");
    expect("journal_segment", "1");
    // Three commits (the GET wrote nothing), each fsynced: a 40-byte header is not counted.
    expect("journal_commits", "3");
    expect("journal_fsyncs", "3");
    expect(
        "journal_bytes_since_compaction",
        &(3 * (24 + 9 + 2 + 1)).to_string(),
    );
    expect("journal_last_error", "");
    for name in ["journal_last_fsync_us", "journal_max_fsync_us"] {
        assert!(info[name].parse::<u64>().is_ok(), "{name}: {info:#?}");
    }
}

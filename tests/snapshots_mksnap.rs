//! MKSNAP on request. Unnamed: answered Okay only once its timestamped file is in place and
//! decodes to the table as it was when the MKSNAP ran, refused when snapshots are off, busy
//! while another timestamped snapshot is queued or written (the server serving everyone else
//! meanwhile), in order within a pipeline. Named: `snapshots/remote/<name>.snapshot`, also
//! with snapshots off, never replaced, outside retention; every name that cannot be one plain
//! file name is refused.

mod common;

use std::path::Path;

use common::entries::{bulk_key, bulk_value, load_bulk, text_entries, Entries, SLOW_SAVE_KEYS};
use common::files::{dir_names, file_mode, read_data_file};
use common::process::{child_pid_in, hold_process, kill_pid, written_path_in};
use common::server::{ServerBuilder, TestServer};
use common::snapshots::{
    parse_timestamped_name, timestamped_snapshots, INVALID_SNAPSHOT_NAME, MKSNAP, SNAPSHOT_BUSY,
    SNAPSHOT_DISABLED, SNAPSHOT_EXISTS,
};
use common::status::persistence_info;
use common::wire::{
    ask, assert_usable, escape, exchange, expect_exact, read_up_to, send, simple_query,
    uint_response, value_response, OKAY,
};
use common::{PATIENCE, SILENCE};

/// Decodes a snapshot file; panics with the fault.
fn decode_file(path: &Path) -> stratus::table::Table {
    let bytes = std::fs::read(path).unwrap_or_else(|error| panic!("read {path:?}: {error}"));
    stratus::persist::format::decode(&bytes)
        .unwrap_or_else(|error| panic!("{path:?} ({} bytes) does not decode: {error}", bytes.len()))
}

/// Asserts `table` holds exactly the slow-save bulk plus `extras`.
fn assert_bulk_plus(table: &stratus::table::Table, extras: &Entries, what: &str) {
    assert_eq!(table.len(), SLOW_SAVE_KEYS + extras.len(), "{what}: keys");
    for i in 0..SLOW_SAVE_KEYS {
        assert!(
            table.get(&bulk_key(i)) == Some(&bulk_value(i)[..]),
            "{what}: bulk key {i} is missing or wrong"
        );
    }
    for (key, value) in extras {
        assert_eq!(table.get(key), Some(&value[..]), "{what}: {}", escape(key));
    }
}

/// Names in `dir` that look like a save's temporary file.
fn temp_files(dir: &Path) -> Vec<String> {
    dir_names(dir)
        .into_iter()
        .filter(|name| name.contains(".tmp-"))
        .collect()
}

// ---- unnamed MKSNAP --------------------------------------------------------------------------

#[test]
fn unnamed_mksnap_answers_once_its_file_is_in_place_with_the_table_as_it_was() {
    let server = TestServer::start_with(&["--snapevery", "3600", "--snapkeep", "0"]);
    let dir = server.snapshot_dir();
    let mut asker = server.raw();
    let mut other = server.raw();
    for (key, value) in [("a", "1"), ("b", "2")] {
        exchange(
            &mut asker,
            &simple_query(&[b"SET", key.as_bytes(), value.as_bytes()]),
            OKAY,
        );
    }
    let from = server.logs().len();
    send(&mut asker, MKSNAP);
    let started = server.wait_for_log_after(from, "MKSNAP started by child", PATIENCE);
    let path = written_path_in(&started);
    // The fork has happened: these changes come after the snapshot's moment.
    exchange(&mut other, &simple_query(&[b"SET", b"late", b"3"]), OKAY);
    exchange(
        &mut other,
        &simple_query(&[b"DEL", b"a"]),
        &uint_response(1),
    );
    expect_exact(&mut asker, OKAY);

    // Right when the answer arrives: the file is there, complete, alone.
    assert_eq!(
        read_data_file(&path),
        text_entries(&[("a", "1"), ("b", "2")]),
        "{path:?}"
    );
    assert_eq!(
        path.parent(),
        Some(dir.as_path()),
        "an unnamed snapshot goes straight into the snapshot directory"
    );
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    assert!(parse_timestamped_name(&name).is_some(), "{name}");
    assert_eq!(timestamped_snapshots(&dir), vec![name]);
    assert_eq!(temp_files(&dir), Vec::<String>::new());
    assert_eq!(file_mode(&path), 0o600);

    let info = persistence_info(&mut asker);
    let expect = |key: &str, value: &str| assert_eq!(info[key], value, "{key} in {info:#?}");
    expect("snapshots_succeeded", "1");
    expect("snapshots_failed", "0");
    expect("last_snapshot", &path.display().to_string());
    expect("last_snapshot_status", "ok");
    expect("last_snapshot_error", "");
    expect("health", "good");
    // A snapshot is not a save of data.bin.
    expect("saves_succeeded", "0");
    expect("last_save_kind", "none");
    let time = &info["last_snapshot_time"];
    assert!(time.contains('T') && time.ends_with('Z'), "{info:#?}");
}

#[test]
fn unnamed_mksnap_without_snapshots_configured_is_disabled_and_writes_nothing() {
    let server = TestServer::start();
    let mut con = server.raw();
    exchange(&mut con, &simple_query(&[b"SET", b"x", b"100"]), OKAY);
    exchange(&mut con, MKSNAP, SNAPSHOT_DISABLED);
    exchange(&mut con, &simple_query(&[b"mksnap"]), SNAPSHOT_DISABLED);
    assert_eq!(dir_names(&server.snapshot_dir()), vec!["remote".to_owned()]);
    assert_eq!(
        dir_names(&server.snapshot_dir().join("remote")),
        Vec::<String>::new()
    );
    let info = persistence_info(&mut con);
    assert_eq!(info["snapshots_succeeded"], "0", "{info:#?}");
    assert_eq!(info["snapshots_failed"], "0", "{info:#?}");
    assert_eq!(info["last_snapshot_status"], "none", "{info:#?}");
}

#[test]
fn mksnap_is_busy_while_another_snapshot_is_written_and_everyone_else_is_served() {
    const ATTEMPTS: usize = 10;
    let server = TestServer::start_with(&["--snapevery", "3600", "--snapkeep", "0"]);
    let dir = server.snapshot_dir();
    let mut asker = server.raw();
    load_bulk(&mut asker, SLOW_SAVE_KEYS);

    // Catch a MKSNAP child while it writes and hold it with SIGSTOP.
    let mut held = None;
    for _ in 0..ATTEMPTS {
        let from = server.logs().len();
        send(&mut asker, MKSNAP);
        let started = server.wait_for_log_after(from, "MKSNAP started by child", PATIENCE);
        let pid = child_pid_in(&started);
        if hold_process(pid) {
            held = Some((pid, written_path_in(&started)));
            break;
        }
        expect_exact(&mut asker, OKAY);
    }
    let Some((pid, held_path)) = held else {
        panic!("every one of {ATTEMPTS} MKSNAP children finished before SIGSTOP reached it")
    };
    let before: Vec<String> = timestamped_snapshots(&dir);

    // While it is held: no file yet, another unnamed MKSNAP is busy.
    assert!(
        !held_path.exists(),
        "{held_path:?} exists before the child finished"
    );
    let mut second = server.raw();
    exchange(&mut second, MKSNAP, SNAPSHOT_BUSY);
    exchange(&mut second, &simple_query(&[b"MKSNAP"]), SNAPSHOT_BUSY);

    // Everyone else is served meanwhile, writes included.
    let mut writer = server.raw();
    exchange(&mut writer, &simple_query(&[b"SET", b"during", b"1"]), OKAY);
    exchange(
        &mut writer,
        &simple_query(&[b"GET", &bulk_key(7)]),
        &value_response(&bulk_value(7)),
    );
    exchange(
        &mut writer,
        &simple_query(&[b"DBSIZE"]),
        &uint_response(SLOW_SAVE_KEYS as u64 + 1),
    );

    // A named snapshot is not busy: it waits its turn. Its name is taken while it waits, so
    // of two connections asking for the same name one waits and the other is refused (which
    // one depends on the order the server reads them in).
    let mut first_named = server.raw();
    let mut second_named = server.raw();
    let query = simple_query(&[b"MKSNAP", b"queued"]);
    send(&mut first_named, &query);
    send(&mut second_named, &query);
    let (mut named, mut named_early) = one_is_refused_as_existing(first_named, second_named);
    // Whatever the two waiting connections received before their snapshots were written.
    let (asker_early, _) = read_up_to(&mut asker, OKAY.len(), SILENCE);
    named_early.extend(read_up_to(&mut named, OKAY.len() - named_early.len(), SILENCE).0);

    assert!(kill_pid(pid, "CONT"), "SIGCONT to {pid}");
    let asker_answer = [asker_early.clone(), read_rest(&mut asker, &asker_early)].concat();
    assert_eq!(escape(&asker_answer), escape(OKAY), "the held MKSNAP");
    assert_bulk_plus(&decode_file(&held_path), &Entries::new(), "held MKSNAP");
    let named_answer = [named_early.clone(), read_rest(&mut named, &named_early)].concat();
    assert_eq!(
        escape(&named_answer),
        escape(OKAY),
        "the queued named MKSNAP"
    );
    let during = text_entries(&[("during", "1")]);
    assert_bulk_plus(
        &decode_file(&server.named_snapshot("queued")),
        &during,
        "the named snapshot that waited",
    );
    let held_name = held_path
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert!(
        !before.contains(&held_name) && timestamped_snapshots(&dir).contains(&held_name),
        "{held_name} is not new"
    );

    // Not busy any more.
    let from = server.logs().len();
    exchange(&mut second, MKSNAP, OKAY);
    let started = server.wait_for_log_after(from, "MKSNAP started by child", PATIENCE);
    assert_bulk_plus(
        &decode_file(&written_path_in(&started)),
        &during,
        "MKSNAP after the busy one",
    );

    // Checked last, so that everything above is known to hold when this fails: a waiting
    // MKSNAP gets its answer once the file is in place, not a part of it before.
    assert!(
        asker_early.is_empty() && named_early.is_empty(),
        "bytes sent before the snapshots were written: unnamed \"{}\", named \"{}\"",
        escape(&asker_early),
        escape(&named_early)
    );
}

/// Of two connections that asked for the same new name, waits until one of them is answered
/// exactly `err-snapshot-exists`; returns the other, and what it has received meanwhile.
fn one_is_refused_as_existing(
    mut first: std::net::TcpStream,
    mut second: std::net::TcpStream,
) -> (std::net::TcpStream, Vec<u8>) {
    let deadline = std::time::Instant::now() + PATIENCE;
    let (mut got_first, mut got_second) = (Vec::new(), Vec::new());
    loop {
        for (stream, got) in [(&mut first, &mut got_first), (&mut second, &mut got_second)] {
            let wanted = SNAPSHOT_EXISTS.len().saturating_sub(got.len()).max(1);
            let (bytes, _) = read_up_to(stream, wanted, std::time::Duration::from_millis(20));
            got.extend(bytes);
        }
        if got_first == SNAPSHOT_EXISTS {
            return (second, got_second);
        }
        if got_second == SNAPSHOT_EXISTS {
            return (first, got_first);
        }
        assert!(
            std::time::Instant::now() < deadline,
            "neither was refused: \"{}\" and \"{}\"",
            escape(&got_first),
            escape(&got_second)
        );
    }
}

/// Reads the rest of an Okay answer of which `early` has arrived already.
fn read_rest(stream: &mut std::net::TcpStream, early: &[u8]) -> Vec<u8> {
    let (rest, ending) = read_up_to(stream, OKAY.len() - early.len(), PATIENCE);
    assert_eq!(
        rest.len(),
        OKAY.len() - early.len(),
        "reading an answer: {ending}"
    );
    rest
}

#[test]
fn pipelined_mksnap_answers_stay_in_order() {
    let server = TestServer::start_with(&["--snapevery", "3600", "--snapkeep", "0"]);
    let dir = server.snapshot_dir();
    let mut con = server.raw();
    exchange(&mut con, &simple_query(&[b"SET", b"x", b"100"]), OKAY);
    exchange(
        &mut con,
        b"*2\n_1\n+6\nMKSNAP\n_2\n+3\nGET\n+1\nx\n",
        b"*2\n!1\n0\n+3\n100\n",
    );
    let first = timestamped_snapshots(&dir);
    assert_eq!(first.len(), 1, "{first:?}");
    assert_eq!(
        read_data_file(&dir.join(&first[0])),
        text_entries(&[("x", "100")])
    );

    // Each action runs after the one before it has been answered.
    exchange(
        &mut con,
        b"*6\n_3\n+3\nSET\n+1\ny\n+1\n1\n_1\n+6\nMKSNAP\n_2\n+6\nMKSNAP\n+1\np\n\
          _3\n+3\nSET\n+1\nz\n+1\n2\n_1\n+6\nMKSNAP\n_2\n+3\nGET\n+1\nz\n",
        b"*6\n!1\n0\n!1\n0\n!1\n0\n!1\n0\n!1\n0\n+1\n2\n",
    );
    let all = timestamped_snapshots(&dir);
    assert_eq!(all.len(), 3, "{all:?}");
    assert_eq!(all[0], first[0]);
    let before_z = text_entries(&[("x", "100"), ("y", "1")]);
    assert_eq!(read_data_file(&dir.join(&all[1])), before_z);
    assert_eq!(read_data_file(&server.named_snapshot("p")), before_z);
    assert_eq!(
        read_data_file(&dir.join(&all[2])),
        text_entries(&[("x", "100"), ("y", "1"), ("z", "2")])
    );
}

// ---- named MKSNAP ----------------------------------------------------------------------------

#[test]
fn named_mksnap_writes_remote_name_snapshot_with_snapshots_disabled() {
    let server = TestServer::start();
    let mut con = server.raw();
    exchange(&mut con, &simple_query(&[b"SET", b"k", b"v"]), OKAY);
    exchange(&mut con, &simple_query(&[b"MKSNAP", b"nightly"]), OKAY);
    let path = server.named_snapshot("nightly");
    assert_eq!(read_data_file(&path), text_entries(&[("k", "v")]));
    assert_eq!(file_mode(&path), 0o600);
    let remote = server.snapshot_dir().join("remote");
    assert_eq!(dir_names(&remote), vec!["nightly.snapshot".to_owned()]);
    assert_eq!(dir_names(&server.snapshot_dir()), vec!["remote".to_owned()]);
    let info = persistence_info(&mut con);
    assert_eq!(
        info["last_snapshot"],
        path.display().to_string(),
        "{info:#?}"
    );
    assert_eq!(info["last_snapshot_status"], "ok", "{info:#?}");
    assert_eq!(info["snapshots_succeeded"], "1", "{info:#?}");
}

#[test]
fn named_snapshots_are_outside_retention() {
    let server = TestServer::start_with(&["--snapevery", "3600", "--snapkeep", "1"]);
    let mut con = server.raw();
    exchange(&mut con, &simple_query(&[b"SET", b"k", b"1"]), OKAY);
    exchange(&mut con, &simple_query(&[b"MKSNAP", b"first"]), OKAY);
    for _ in 0..3 {
        exchange(&mut con, MKSNAP, OKAY);
    }
    exchange(&mut con, &simple_query(&[b"MKSNAP", b"second"]), OKAY);
    exchange(&mut con, MKSNAP, OKAY);
    assert_eq!(timestamped_snapshots(&server.snapshot_dir()).len(), 1);
    assert_eq!(
        dir_names(&server.snapshot_dir().join("remote")),
        vec!["first.snapshot".to_owned(), "second.snapshot".to_owned()]
    );
    for name in ["first", "second"] {
        assert_eq!(
            read_data_file(&server.named_snapshot(name)),
            text_entries(&[("k", "1")])
        );
    }
}

#[test]
fn a_taken_name_is_refused_and_its_file_left_as_it_was() {
    let builder = ServerBuilder::new();
    // Taken by something that is not a snapshot the server wrote: a file, a directory.
    builder.write_bytes("data/snapshots/remote/handmade.snapshot", b"not a snapshot");
    std::fs::create_dir_all(builder.snapshot_dir().join("remote/folder.snapshot")).unwrap();
    let server = builder.start();
    let mut con = server.raw();
    exchange(&mut con, &simple_query(&[b"SET", b"k", b"1"]), OKAY);
    exchange(&mut con, &simple_query(&[b"MKSNAP", b"once"]), OKAY);
    let path = server.named_snapshot("once");
    let first = std::fs::read(&path).unwrap();
    exchange(&mut con, &simple_query(&[b"SET", b"k2", b"2"]), OKAY);
    exchange(
        &mut con,
        &simple_query(&[b"MKSNAP", b"once"]),
        SNAPSHOT_EXISTS,
    );
    assert_eq!(std::fs::read(&path).unwrap(), first, "{path:?} changed");
    assert_eq!(read_data_file(&path), text_entries(&[("k", "1")]));
    for name in ["handmade", "folder"] {
        exchange(
            &mut con,
            &simple_query(&[b"MKSNAP", name.as_bytes()]),
            SNAPSHOT_EXISTS,
        );
    }
    assert_eq!(
        std::fs::read(server.named_snapshot("handmade")).unwrap(),
        b"not a snapshot"
    );
    assert!(server.named_snapshot("folder").is_dir());
    assert_eq!(
        temp_files(&server.snapshot_dir().join("remote")),
        Vec::<String>::new()
    );
    assert_usable(&mut con);
}

#[test]
fn every_name_that_is_not_one_plain_file_name_is_refused() {
    let server = TestServer::start_with(&["--snapevery", "3600", "--snapkeep", "0"]);
    let mut con = server.raw();
    exchange(&mut con, &simple_query(&[b"SET", b"k", b"1"]), OKAY);
    // 231 bytes is the longest name: `<name>.snapshot.tmp-<pid>` must fit in 255 bytes.
    let too_long = "x".repeat(232);
    let too_long_multibyte = "é".repeat(116);
    let bad: Vec<&[u8]> = vec![
        b"",
        b".",
        b"..",
        b"...",
        b"../x",
        b"x/..",
        b"a..b",
        b"x..",
        b"/",
        b"/var/x",
        b"a/b",
        b"a/",
        b"\0",
        b"a\0b",
        b"a\nb",
        b"a\rb",
        b"tab\t",
        b"\x01",
        b"\x1b[31mred",
        b"\x7f",
        "next\u{85}line".as_bytes(),
        "c1\u{9f}".as_bytes(),
        b"\xff",
        b"caf\xe9",
        b"\xc3",
        b"\xc0\xaf",
        b"\xed\xa0\x80",
        too_long.as_bytes(),
        too_long_multibyte.as_bytes(),
    ];
    for name in &bad {
        let answer = ask(&mut con, &[b"MKSNAP", name]);
        assert!(
            answer == INVALID_SNAPSHOT_NAME,
            "MKSNAP \"{}\" answered \"{}\"",
            escape(name),
            escape(&answer)
        );
    }
    let remote = server.snapshot_dir().join("remote");
    assert_eq!(dir_names(&remote), Vec::<String>::new());
    assert_eq!(dir_names(&server.snapshot_dir()), vec!["remote".to_owned()]);
    assert_eq!(persistence_info(&mut con)["last_snapshot_status"], "none");

    let longest = "x".repeat(231);
    let longest_multibyte = "é".repeat(115) + "x";
    let good = [
        longest.as_str(),
        longest_multibyte.as_str(),
        "with space",
        ".hidden",
        "ünïcode",
        "a.b",
        "20261127-120000",
    ];
    let mut refused = Vec::new();
    for name in good {
        let answer = ask(&mut con, &[b"MKSNAP", name.as_bytes()]);
        if answer != OKAY {
            refused.push(format!("{} bytes: \"{}\"", name.len(), escape(&answer)));
            continue;
        }
        assert_eq!(
            read_data_file(&server.named_snapshot(name)),
            text_entries(&[("k", "1")]),
            "{name}"
        );
    }
    assert_eq!(refused, Vec::<String>::new(), "valid names not accepted");
    let mut expected: Vec<String> = good.iter().map(|name| format!("{name}.snapshot")).collect();
    expected.sort();
    assert_eq!(dir_names(&remote), expected);
    assert_eq!(
        timestamped_snapshots(&server.snapshot_dir()),
        Vec::<String>::new()
    );
}

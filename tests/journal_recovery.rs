//! Starting from a journal: a torn tail (the last segment cut at every byte of its last
//! frames) is cut off with one warning and the server starts with the prefix; any other damage
//! (a flipped byte before valid frames, a missing middle segment) refuses the start with exit
//! status 1, naming the file and offset, and changes nothing; each crash point of a compaction
//! restarts with everything; a journal that is now off is folded into data.bin; `--restore`
//! starts the journal over; and a journal past its size threshold compacts with --nosave.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use stratus::persist::journal::format::{scan_segment, segment_file_name};

use common::files::dir_names;
use common::server::{ServerBuilder, TestServer};
use common::status::persistence_info;
use common::wire::{exchange, simple_query, uint_response, value_response, NIL, OKAY};
use common::{wait_until, PATIENCE};

fn journal_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("journal")
}

fn segment_path(data_dir: &Path, segment: u64) -> PathBuf {
    journal_dir(data_dir).join(segment_file_name(segment))
}

fn key(i: usize) -> Vec<u8> {
    format!("key-{i}").into_bytes()
}

fn value(i: usize) -> Vec<u8> {
    format!("value of key {i}").into_bytes()
}

/// Starts a journaled server, SETs `count` keys one by one (a commit each), and kills it:
/// its journal then holds one frame per key in segment 1.
fn journal_of(count: usize) -> (ServerBuilder, Vec<u8>) {
    let mut server = TestServer::start_with(&["--journal", "always", "--nosave"]);
    let mut con = server.raw();
    for i in 0..count {
        exchange(&mut con, &simple_query(&[b"SET", &key(i), &value(i)]), OKAY);
    }
    server.crash();
    let bytes = fs::read(segment_path(&server.data_dir(), 1)).expect("segment 1");
    (server.same_dir(), bytes)
}

/// Asserts the server holds exactly keys 0..count.
fn assert_holds_prefix(server: &TestServer, count: usize) {
    let mut con = server.raw();
    exchange(
        &mut con,
        &simple_query(&[b"DBSIZE"]),
        &uint_response(count as u64),
    );
    for i in 0..count {
        exchange(
            &mut con,
            &simple_query(&[b"GET", &key(i)]),
            &value_response(&value(i)),
        );
    }
    exchange(&mut con, &simple_query(&[b"GET", &key(count)]), NIL);
}

#[test]
fn a_torn_tail_is_cut_at_every_byte_of_the_last_frames() {
    let (_, bytes) = journal_of(6);
    let scan = scan_segment(&bytes);
    let offsets: Vec<u64> = scan.frames.iter().map(|frame| frame.offset).collect();
    assert_eq!(offsets.len(), 6, "one frame per SET");
    let fourth = offsets[4] as usize;
    for cut in fourth..bytes.len() {
        let builder = ServerBuilder::new();
        let relative = format!("data/journal/{}", segment_file_name(1));
        let path = builder.write_bytes(&relative, &bytes[..cut]);
        let server = builder.args(&["--journal", "always"]).start();
        let whole_frames = offsets.iter().filter(|&&start| start < cut as u64).count();
        let at_boundary = offsets.contains(&(cut as u64));
        let kept = if at_boundary {
            whole_frames
        } else {
            whole_frames - 1
        };
        assert_holds_prefix(&server, kept);
        if !at_boundary {
            let torn_at = offsets[kept];
            let line = server.wait_for_log(
                &format!(
                    "truncated the torn tail of {} at offset {torn_at} ({} bytes dropped",
                    path.display(),
                    cut as u64 - torn_at
                ),
                PATIENCE,
            );
            assert!(line.contains("WARN"), "{line}");
            assert_eq!(fs::metadata(&path).unwrap().len(), torn_at, "cut at {cut}");
        }
    }
}

#[test]
fn a_flipped_byte_before_valid_frames_refuses_the_start_and_changes_nothing() {
    let (builder, bytes) = journal_of(6);
    let scan = scan_segment(&bytes);
    let target = scan.frames[2].offset as usize + 30;
    let mut damaged = bytes.clone();
    damaged[target] ^= 0x40;
    let path = segment_path(&builder.data_dir(), 1);
    fs::write(&path, &damaged).unwrap();
    let names = dir_names(&builder.data_dir());
    let run = builder
        .same_dir()
        .args(&["--journal", "always"])
        .run_to_exit();
    run.assert_error(&format!(
        "journal/{}: checksum mismatch at offset {}",
        segment_file_name(1),
        scan.frames[2].offset
    ));
    assert_eq!(
        fs::read(&path).unwrap(),
        damaged,
        "the segment is untouched"
    );
    assert_eq!(dir_names(&builder.data_dir()), names);
    // The journal off does not make it acceptable either: it is still replayed.
    builder.same_dir().run_to_exit().assert_exit_code(1);
}

#[test]
fn a_missing_middle_segment_refuses_the_start() {
    // Each start opens a fresh segment: three starts, three segments.
    let builder = ServerBuilder::new();
    for round in 0..3 {
        let mut server = builder.same_dir().args(&["--journal", "always"]).start();
        exchange(
            &mut server.raw(),
            &simple_query(&[b"SET", &key(round), &value(round)]),
            OKAY,
        );
        server.crash();
    }
    let data_dir = builder.data_dir();
    assert_eq!(
        dir_names(&journal_dir(&data_dir)),
        (1..=3).map(segment_file_name).collect::<Vec<_>>()
    );
    let server = builder.same_dir().args(&["--journal", "always"]).start();
    assert_holds_prefix(&server, 3);
    drop(server);
    fs::remove_file(segment_path(&data_dir, 2)).unwrap();
    builder
        .same_dir()
        .args(&["--journal", "always"])
        .run_to_exit()
        .assert_error(&format!("journal/{}", segment_file_name(2)));
}

#[test]
fn a_journal_turned_off_is_folded_into_data_bin() {
    let (builder, _) = journal_of(5);
    let server = builder.same_dir().start();
    server.wait_for_log("The journal is off", PATIENCE);
    assert_holds_prefix(&server, 5);
    assert!(dir_names(&journal_dir(&builder.data_dir())).is_empty());
    drop(server);
    let again = builder.same_dir().start();
    assert_holds_prefix(&again, 5);
}

#[test]
fn every_crash_point_of_a_compaction_restarts_with_everything() {
    let args = ["--journal", "always", "-S", "1"];
    let builder = ServerBuilder::new();
    let data_dir = builder.data_dir();
    let mut server = builder.same_dir().args(&args).start();
    let mut con = server.raw();
    for i in 0..20 {
        exchange(&mut con, &simple_query(&[b"SET", &key(i), &value(i)]), OKAY);
    }
    // Killed as soon as the BGSAVE has forked: the fresh segment exists, data.bin is the old
    // one (or none), a temporary file may be half written.
    let from = server.logs().len();
    server.wait_for_log_after(from, "BGSAVE started by child", PATIENCE);
    server.crash();
    let mut server = builder.same_dir().args(&args).start();
    assert_holds_prefix(&server, 20);
    let mut con = server.raw();
    for i in 20..40 {
        exchange(&mut con, &simple_query(&[b"SET", &key(i), &value(i)]), OKAY);
    }
    // After the new data.bin: put back the segments the compaction deleted, as a crash between
    // the rename and the deletion would leave them.
    let before = journal_dir(&data_dir);
    let saved: Vec<(String, Vec<u8>)> = dir_names(&before)
        .into_iter()
        .map(|name| (name.clone(), fs::read(before.join(&name)).unwrap()))
        .collect();
    let from = server.logs().len();
    server.wait_for_log_after(from, "BGSAVE completed successfully", PATIENCE);
    server.crash();
    for (name, bytes) in &saved {
        let path = before.join(name);
        if !path.exists() {
            fs::write(path, bytes).unwrap();
        }
    }
    let server = builder.same_dir().args(&args).start();
    assert_holds_prefix(&server, 40);
    let info = persistence_info(&mut server.raw());
    assert_eq!(info["journal_mode"], "always");
}

#[test]
fn restore_starts_the_journal_over_from_the_snapshot() {
    let mut server = TestServer::start_with(&[
        "--journal",
        "always",
        "--snapevery",
        "3600",
        "--snapkeep",
        "0",
    ]);
    let mut con = server.raw();
    exchange(&mut con, &simple_query(&[b"SET", &key(0), &value(0)]), OKAY);
    exchange(&mut con, &simple_query(&[b"MKSNAP", b"before"]), OKAY);
    exchange(&mut con, &simple_query(&[b"SET", &key(1), &value(1)]), OKAY);
    server.crash();
    let args = ["--journal", "always", "-r", "remote/before.snapshot"];
    let mut restored = server.same_dir().args(&args).start();
    restored.wait_for_log("the journal starts over", PATIENCE);
    assert_holds_prefix(&restored, 1);
    let mut con = restored.raw();
    exchange(&mut con, &simple_query(&[b"SET", &key(1), &value(1)]), OKAY);
    exchange(&mut con, &simple_query(&[b"SET", &key(2), &value(2)]), OKAY);
    restored.crash();
    let again = server.same_dir().args(&["--journal", "always"]).start();
    assert_holds_prefix(&again, 3);
}

#[test]
fn a_large_journal_compacts_itself_even_with_nosave() {
    let server = TestServer::start_with(&["--journal", "no", "--nosave"]);
    let mut con = server.raw();
    let value = vec![b'j'; 1 << 20];
    let from = server.logs().len();
    for i in 0..70 {
        exchange(
            &mut con,
            &simple_query(&[b"USET", format!("big-{i}").as_bytes(), &value]),
            &uint_response(1),
        );
    }
    server.wait_for_log_after(from, "BGSAVE completed successfully", PATIENCE);
    wait_until(PATIENCE, "the old segment to go", || {
        !segment_path(&server.data_dir(), 1).exists()
    });
    let info = persistence_info(&mut con);
    let bytes: u64 = info["journal_bytes_since_compaction"].parse().unwrap();
    assert!(bytes < 64 << 20, "{bytes} bytes since the compaction");
    assert_eq!(info["journal_segment"], "2");
}

//! `stratus-check` run as a program on good, truncated and corrupted files of every kind (data
//! files of both versions and of Skytable 0.6, journal segments, whole data directories): the
//! exact lines it prints, its exit status (0 good, 1 a fault, 2 bad usage), and `--repair`,
//! which truncates only a torn tail of the last segment, after a backup, and nothing else.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use stratus::persist::format;
use stratus::persist::journal::format::{
    encode_frame, encode_segment_header, put_record, segment_file_name, SegmentHeader,
};
use stratus::table::Table;
use tempfile::TempDir;

/// What a run printed and how it ended.
struct Run {
    stdout: String,
    stderr: String,
    code: i32,
}

fn check(args: &[&Path]) -> Run {
    let output = Command::new(env!("CARGO_BIN_EXE_stratus-check"))
        .args(args)
        .output()
        .expect("stratus-check runs");
    Run {
        stdout: String::from_utf8(output.stdout).expect("the report is text"),
        stderr: String::from_utf8(output.stderr).expect("errors are text"),
        code: output.status.code().expect("stratus-check exits"),
    }
}

/// Asserts the exact report and exit status.
fn assert_report(args: &[&Path], lines: &[String], code: i32) {
    let run = check(args);
    let expected: String = lines.iter().map(|line| format!("{line}\n")).collect();
    assert_eq!(run.stdout, expected, "stderr: {}", run.stderr);
    assert_eq!(run.code, code, "exit status of\n{}", run.stdout);
    assert_eq!(run.stderr, "");
}

fn line(path: &Path, what: &str) -> String {
    format!("{}: {what}", path.display())
}

fn table(entries: &[(&[u8], &[u8])]) -> Table {
    let mut table = Table::new();
    for (key, value) in entries {
        table.insert_new(key, value);
    }
    table
}

/// A one-key data file of version 2 continuing in journal segment `segment`.
fn data_file(segment: u64) -> Vec<u8> {
    format::encode_to_vec_with(&table(&[(b"key", b"value")]), segment)
}

/// Bytes of one frame of [`segment`]: a frame header and one 17-byte PUT.
const FRAME_LEN: u64 = 24 + 17;

/// Segment `number` holding `frames` frames from `first_frame` on, each one PUT key = value.
fn segment(number: u64, first_frame: u64, frames: u64) -> Vec<u8> {
    let mut bytes = encode_segment_header(&SegmentHeader {
        segment: number,
        first_frame,
    })
    .to_vec();
    for seq in first_frame..first_frame + frames {
        let mut body = Vec::new();
        put_record(&mut body, b"key", b"value");
        encode_frame(&mut bytes, seq, 1, &body);
    }
    bytes
}

fn write(dir: &Path, relative: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(relative);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(&path, bytes).unwrap();
    path
}

fn journal_path(data_dir: &Path, number: u64) -> PathBuf {
    data_dir.join("journal").join(segment_file_name(number))
}

/// The names in `dir`, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn usage() {
    let run = check(&[]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.starts_with(
            "stratus-check: no PATH to check\n\nUsage: stratus-check [--repair] PATH...\n"
        ),
        "{}",
        run.stderr
    );
    let run = check(&[Path::new("--frobnicate"), Path::new("x")]);
    assert_eq!(run.code, 2);
    assert!(run
        .stderr
        .starts_with("stratus-check: Unrecognized option: 'frobnicate'\n\nUsage:"));
    let run = check(&[Path::new("--help")]);
    assert_eq!(run.code, 0);
    assert!(run
        .stdout
        .starts_with("Usage: stratus-check [--repair] PATH...\n"));
    assert!(run.stdout.contains("Exit status: 0 if every file is good (or repaired), 1 if a fault is left, 2 on bad usage.\n"));
    assert_eq!(run.stderr, "");
}

#[test]
fn good_data_files_of_every_kind() {
    let dir = TempDir::new().unwrap();
    let version_2 = write(dir.path(), "v2", &data_file(5));
    let untied = write(
        dir.path(),
        "untied",
        &format::encode_to_vec(&table(&[(b"a", b"1"), (b"b", b"22")])),
    );
    let entry = format::entry_bytes(b"x", b"100");
    let version_1 = write(
        dir.path(),
        "v1",
        &format::seal(format::VERSION_1, 0, 1, &entry),
    );
    // The 28 bytes skyd 0.6.4 writes for x = 100, and the same with bytes after the entry.
    let skyd: [u8; 28] = [
        1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, b'x', 3, 0, 0, 0, 0, 0, 0, 0, b'1', b'0',
        b'0',
    ];
    let skytable = write(dir.path(), "skytable", &skyd);
    let trailing = write(dir.path(), "trailing", &[&skyd[..], b"junk"].concat());
    assert_report(
        &[&version_2, &untied, &version_1, &skytable, &trailing],
        &[
            line(
                &version_2,
                "Stratus data file, version 2, 1 key, 8 bytes of keys and values, journal \
                 from segment 5",
            ),
            line(
                &untied,
                "Stratus data file, version 2, 2 keys, 5 bytes of keys and values, tied to no \
                 journal",
            ),
            line(
                &version_1,
                "Stratus data file, version 1, 1 key, 4 bytes of keys and values, tied to no \
                 journal",
            ),
            line(
                &skytable,
                "Skytable 0.6 data file, 1 key, 4 bytes of keys and values",
            ),
            line(
                &trailing,
                "Skytable 0.6 data file, 1 key, 4 bytes of keys and values, 4 bytes after the \
                 last entry ignored (as skyd did)",
            ),
            "stratus-check: no fault".to_owned(),
        ],
        0,
    );
}

#[test]
fn damaged_data_files_are_faults_with_their_offset() {
    let dir = TempDir::new().unwrap();
    let good = data_file(5);
    let truncated = write(dir.path(), "truncated", &good[..good.len() - 1]);
    let mut flipped_bytes = good.clone();
    flipped_bytes[format::HEADER_LEN + 9] ^= 0x04;
    let flipped = write(dir.path(), "flipped", &flipped_bytes);
    let payload_crc = u32::from_le_bytes(good[40..44].try_into().unwrap());
    let computed = crc32fast::hash(&flipped_bytes[format::HEADER_LEN..]);
    let mut old = format::seal(format::VERSION_1, 0, 1, &format::entry_bytes(b"x", b"100"));
    old[20] ^= 1;
    let version_1 = write(dir.path(), "version-1", &old);
    let garbage = write(dir.path(), "garbage", b"not a data file at all\n");
    let missing = dir.path().join("missing");
    let run = check(&[&truncated, &flipped, &version_1, &garbage, &missing]);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(run.code, 1);
    assert_eq!(
        lines[0],
        line(
            &truncated,
            "fault: truncated at offset 63: the header announces 16 payload bytes, 15 are present"
        )
    );
    assert_eq!(
        lines[1],
        line(
            &flipped,
            &format!(
                "fault: checksum mismatch at offset 48: stored 0x{payload_crc:08x}, computed \
                 0x{computed:08x}"
            )
        )
    );
    assert!(
        lines[2].starts_with(&line(
            &version_1,
            "fault: header checksum mismatch at offset 36: stored 0x"
        )),
        "{}",
        lines[2]
    );
    assert!(
        lines[3].starts_with(&line(
            &garbage,
            "fault: not a Stratus data file (no magic at offset 0), and not a Skytable 0.6 \
             data file either ("
        )),
        "{}",
        lines[3]
    );
    assert_eq!(
        lines[4],
        line(
            &missing,
            "fault: cannot read: No such file or directory (os error 2)"
        )
    );
    assert_eq!(lines[5..], ["stratus-check: 5 faults"]);
}

#[test]
fn journal_segments_good_truncated_and_corrupted() {
    let dir = TempDir::new().unwrap();
    let good_bytes = segment(3, 10, 3);
    let good = write(dir.path(), &segment_file_name(3), &good_bytes);
    let empty = write(dir.path(), "empty.sjl", &segment(4, 13, 0));
    let cut = good_bytes.len() - 7;
    let torn = write(dir.path(), "torn", &good_bytes[..cut]);
    let mut flipped_bytes = good_bytes.clone();
    flipped_bytes[(40 + FRAME_LEN + 30) as usize] ^= 0x01;
    let flipped = write(dir.path(), "flipped", &flipped_bytes);
    let wrong_name = write(dir.path(), &segment_file_name(9), &good_bytes);
    let bad_header = write(dir.path(), &segment_file_name(1), &good_bytes[..30]);
    let run = check(&[&good, &empty, &torn, &flipped, &wrong_name, &bad_header]);
    let lines: Vec<&str> = run.stdout.lines().collect();
    let second_frame = 40 + FRAME_LEN;
    let expected = [
        line(
            &good,
            "journal segment 3, version 1, 3 frames (sequence 10 to 12), 3 records",
        ),
        line(
            &empty,
            "journal segment 4, version 1, no frame (the first will be 13), 0 records",
        ),
        line(
            &torn,
            "journal segment 3, version 1, 2 frames (sequence 10 to 11), 2 records",
        ),
        line(
            &torn,
            &format!(
                "fault: torn tail at offset {}: 34 bytes after the last good frame (a start, \
                 or --repair, truncates them)",
                40 + 2 * FRAME_LEN
            ),
        ),
        line(
            &flipped,
            "journal segment 3, version 1, 1 frame (sequence 10), 1 record",
        ),
        format!(
            "{}: fault: checksum mismatch at offset {second_frame}: stored 0x",
            flipped.display()
        ),
        line(
            &wrong_name,
            "journal segment 3, version 1, 3 frames (sequence 10 to 12), 3 records",
        ),
        line(
            &wrong_name,
            "fault: wrong segment number at offset 16: the header says segment 3",
        ),
        line(
            &bad_header,
            "fault: segment too short for a header at offset 30: 30 of 40 bytes",
        ),
        "stratus-check: 4 faults".to_owned(),
    ];
    assert_eq!(lines.len(), expected.len(), "{}", run.stdout);
    for (found, expected) in lines.iter().zip(&expected) {
        assert!(
            found.starts_with(expected.as_str()),
            "{found}\nexpected {expected}"
        );
    }
    assert_eq!(run.code, 1);
}

/// A data directory as a crash between data.bin's rename and the old segments' deletion
/// leaves it: data.bin continues at segment 2, segment 1 is obsolete, 2 and 3 are live.
fn data_dir() -> TempDir {
    let dir = TempDir::new().unwrap();
    write(dir.path(), "data.bin", &data_file(2));
    write(dir.path(), "stratus.pid", b"");
    write(
        dir.path(),
        "snapshots/20260101-120000.snapshot",
        &data_file(0),
    );
    write(
        dir.path(),
        "snapshots/20260101-120000.snapshot.tmp-123",
        b"half",
    );
    write(dir.path(), "snapshots/remote/named.snapshot", &data_file(1));
    write(
        dir.path(),
        &format!("journal/{}", segment_file_name(1)),
        &segment(1, 1, 4),
    );
    write(
        dir.path(),
        &format!("journal/{}", segment_file_name(2)),
        &segment(2, 5, 2),
    );
    write(
        dir.path(),
        &format!("journal/{}", segment_file_name(3)),
        &segment(3, 7, 1),
    );
    dir
}

/// The lines [`data_dir`] gives before its journal's.
fn data_dir_lines(dir: &Path) -> Vec<String> {
    let snapshots = dir.join("snapshots");
    vec![
        line(
            &dir.join("data.bin"),
            "Stratus data file, version 2, 1 key, 8 bytes of keys and values, journal from \
             segment 2",
        ),
        line(
            &snapshots.join("20260101-120000.snapshot"),
            "Stratus data file, version 2, 1 key, 8 bytes of keys and values, tied to no journal",
        ),
        line(
            &snapshots.join("20260101-120000.snapshot.tmp-123"),
            "skipped: the temporary file of an unfinished save (a start removes it)",
        ),
        line(
            &snapshots.join("remote/named.snapshot"),
            "Stratus data file, version 2, 1 key, 8 bytes of keys and values, journal from \
             segment 1",
        ),
        line(
            &journal_path(dir, 1),
            "obsolete: data.bin contains it (it continues at segment 2); a start deletes it",
        ),
        line(
            &journal_path(dir, 2),
            "journal segment 2, version 1, 2 frames (sequence 5 to 6), 2 records",
        ),
    ]
}

#[test]
fn a_good_data_directory() {
    let dir = data_dir();
    let dir = dir.path();
    let mut lines = data_dir_lines(dir);
    lines.extend([
        line(
            &journal_path(dir, 3),
            "journal segment 3, version 1, 1 frame (sequence 7), 1 record",
        ),
        line(
            &dir.join("journal"),
            "a start replays 3 frames (sequence 5 to 7) after data.bin, then writes segment 4 \
             from frame 8; it deletes obsolete segment 1",
        ),
        "stratus-check: no fault".to_owned(),
    ]);
    assert_report(&[dir], &lines, 0);
}

#[test]
fn a_data_directory_missing_a_middle_segment_is_refused() {
    let dir = data_dir();
    let dir = dir.path();
    write(
        dir,
        &format!("journal/{}", segment_file_name(4)),
        &segment(4, 8, 1),
    );
    fs::remove_file(journal_path(dir, 3)).unwrap();
    let mut lines = data_dir_lines(dir);
    lines.extend([
        line(
            &journal_path(dir, 4),
            "journal segment 4, version 1, 1 frame (sequence 8), 1 record",
        ),
        line(
            &dir.join("journal"),
            "fault: a start refuses it: journal/0000000000000003.sjl: missing between segments \
             2 and 4",
        ),
        "stratus-check: 1 fault".to_owned(),
    ]);
    assert_report(&[dir], &lines, 1);
}

#[test]
fn repair_truncates_a_torn_tail_of_the_last_segment_after_a_backup() {
    let dir = data_dir();
    let dir = dir.path();
    let last = journal_path(dir, 3);
    let original = [&segment(3, 7, 1)[..], &[0; 100]].concat();
    fs::write(&last, &original).unwrap();
    let torn_at = 40 + FRAME_LEN;
    let mut before = data_dir_lines(dir);
    before.extend([
        line(
            &last,
            "journal segment 3, version 1, 1 frame (sequence 7), 1 record",
        ),
        line(
            &last,
            &format!(
                "fault: torn tail at offset {torn_at}: 100 bytes after the last good frame (a \
                 start, or --repair, truncates them)"
            ),
        ),
        line(
            &dir.join("journal"),
            &format!(
                "a start replays 3 frames (sequence 5 to 7) after data.bin, then writes \
                 segment 4 from frame 8; it first truncates 0000000000000003.sjl at offset \
                 {torn_at} (100 bytes); it deletes obsolete segment 1"
            ),
        ),
    ]);
    let mut unrepaired = before.clone();
    unrepaired.push("stratus-check: 1 fault".to_owned());
    assert_report(&[dir], &unrepaired, 1);
    assert_eq!(
        fs::read(&last).unwrap(),
        original,
        "checking changed the file"
    );

    let run = check(&[Path::new("--repair"), dir]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    let backups: Vec<String> = names(&dir.join("journal"))
        .into_iter()
        .filter(|name| name.starts_with("0000000000000003.sjl.bak-"))
        .collect();
    assert_eq!(backups.len(), 1, "{backups:?}");
    let backup = dir.join("journal").join(&backups[0]);
    let mut repaired = before;
    repaired.extend([
        line(
            &last,
            &format!(
                "repaired: truncated at offset {torn_at}, 100 bytes dropped; the original is \
                 kept as {}",
                backup.display()
            ),
        ),
        "stratus-check: no fault".to_owned(),
    ]);
    let expected: String = repaired.iter().map(|line| format!("{line}\n")).collect();
    assert_eq!(run.stdout, expected);
    assert_eq!(fs::read(&backup).unwrap(), original);
    assert_eq!(fs::read(&last).unwrap(), &original[..torn_at as usize]);

    // Checked again, the directory is good; the backup is not a segment.
    let run = check(&[dir]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(run
        .stdout
        .contains(&line(&backup, "skipped: not a journal segment's name")));
}

#[test]
fn repair_refuses_corruption_and_data_files_and_changes_nothing() {
    let dir = data_dir();
    let dir = dir.path();
    let middle = journal_path(dir, 2);
    let mut corrupt = segment(2, 5, 2);
    corrupt[40 + 30] ^= 0x10;
    fs::write(&middle, &corrupt).unwrap();
    let snapshot = dir.join("snapshots/20260101-120000.snapshot");
    let damaged = data_file(0)[..50].to_vec();
    fs::write(&snapshot, &damaged).unwrap();
    let before: Vec<(String, Vec<u8>)> = names(&dir.join("journal"))
        .into_iter()
        .map(|name| {
            let bytes = fs::read(dir.join("journal").join(&name)).unwrap();
            (name, bytes)
        })
        .collect();
    let run = check(&[Path::new("--repair"), dir]);
    assert_eq!(run.code, 1);
    for expected in [
        line(
            &snapshot,
            "fault: truncated at offset 50: the header announces 16 payload bytes, 2 are present",
        ),
        line(
            &snapshot,
            "not repaired: data files are never repaired (start from a snapshot with --restore)",
        ),
        line(
            &dir.join("journal"),
            "not repaired: only a torn tail of the last segment is truncated; this damage is \
             not one",
        ),
        "stratus-check: 3 faults".to_owned(),
    ] {
        assert!(
            run.stdout.lines().any(|line| line == expected),
            "no line {expected:?} in\n{}",
            run.stdout
        );
    }
    assert!(run.stdout.contains(&format!(
        "{}: fault: checksum mismatch at offset 40: ",
        middle.display()
    )));
    let after: Vec<(String, Vec<u8>)> = names(&dir.join("journal"))
        .into_iter()
        .map(|name| {
            let bytes = fs::read(dir.join("journal").join(&name)).unwrap();
            (name, bytes)
        })
        .collect();
    assert_eq!(after, before, "the journal changed");
    assert_eq!(fs::read(&snapshot).unwrap(), damaged);
}

#[test]
fn repair_of_a_lone_segment_only_if_it_is_the_last() {
    let dir = data_dir();
    let dir = dir.path();
    let second = journal_path(dir, 2);
    let torn = [&segment(2, 5, 2)[..], &[0xee; 9]].concat();
    fs::write(&second, &torn).unwrap();
    let run = check(&[Path::new("--repair"), &second]);
    assert_eq!(run.code, 1);
    assert!(
        run.stdout.contains(&line(
            &second,
            "not repaired: segment 3 follows it, and only the last segment's tail is truncated"
        )),
        "{}",
        run.stdout
    );
    assert_eq!(fs::read(&second).unwrap(), torn);
    fs::remove_file(journal_path(dir, 3)).unwrap();
    let run = check(&[Path::new("--repair"), &second]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(fs::read(&second).unwrap(), &torn[..torn.len() - 9]);
}

#[test]
fn repair_refuses_while_a_server_holds_the_data_directory() {
    let dir = data_dir();
    let dir = dir.path();
    let last = journal_path(dir, 3);
    let torn = [&segment(3, 7, 1)[..], &[0; 5]].concat();
    fs::write(&last, &torn).unwrap();
    let _held = stratus::persist::lock::acquire(dir).unwrap();
    let run = check(&[Path::new("--repair"), dir]);
    assert_eq!(run.code, 1);
    let first = run.stdout.lines().next().unwrap_or_default();
    assert!(
        first.starts_with(&line(
            dir,
            &format!(
                "fault: cannot repair: Another process with PID {} is using the data directory",
                std::process::id()
            )
        )),
        "{}",
        run.stdout
    );
    assert_eq!(fs::read(&last).unwrap(), torn);
    assert!(
        run.stdout.ends_with("stratus-check: 2 faults\n"),
        "{}",
        run.stdout
    );
}

//! Snapshot files: their names, finding them, retention, and where a named one or a restore
//! lives. Writing one is the data-file writer's job; this module only decides paths.
//!
//! ```text
//! <data dir>/snapshots/YYYYMMDD-HHMMSS.snapshot        timestamped (periodic, or MKSNAP)
//! <data dir>/snapshots/YYYYMMDD-HHMMSS_NNNN.snapshot   a later one in the same second
//! <data dir>/snapshots/remote/<name>.snapshot          named (MKSNAP <name>)
//! ```
//!
//! Timestamps are UTC. Names sort by time: `.` sorts before `_`, and the counter has a fixed
//! width. A new name always sorts after every existing one, even if the clock went back, so
//! retention (which deletes the first names in sorted order) always deletes the oldest.

use std::fmt;
use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf};

use super::save::{PID_MAX_DIGITS, TEMP_MARKER};
use crate::utc::UtcTime;

/// The snapshot directory's name inside the data directory.
pub const SNAPSHOT_DIR_NAME: &str = "snapshots";
/// Named snapshots' directory inside the snapshot directory.
pub const REMOTE_DIR_NAME: &str = "remote";
pub const SNAPSHOT_EXTENSION: &str = ".snapshot";
/// The longest file name common file systems allow, in bytes.
const FILE_NAME_MAX_BYTES: usize = 255;
/// The longest name `MKSNAP <name>` accepts: a named snapshot is first written as
/// `<name>.snapshot.tmp-<pid>`, and that must still be a valid file name.
pub const MAX_SNAPSHOT_NAME_BYTES: usize =
    FILE_NAME_MAX_BYTES - SNAPSHOT_EXTENSION.len() - TEMP_MARKER.len() - PID_MAX_DIGITS;
/// `YYYYMMDD-HHMMSS`
const STAMP_LEN: usize = 15;
/// Digits of the counter that tells apart snapshots taken in the same second.
const COUNTER_DIGITS: usize = 4;
const COUNTER_MAX: u32 = 9999;

/// Whether `name` is a timestamped snapshot's file name (with or without a counter).
pub fn is_timestamped_name(name: &str) -> bool {
    let Some(stem) = name.strip_suffix(SNAPSHOT_EXTENSION) else {
        return false;
    };
    let (stamp, counter) = match stem.split_once('_') {
        Some((stamp, counter)) => (stamp, Some(counter)),
        None => (stem, None),
    };
    let digits = |text: &str| text.bytes().all(|byte| byte.is_ascii_digit());
    stamp.len() == STAMP_LEN
        && stamp.as_bytes()[8] == b'-'
        && digits(&stamp[..8])
        && digits(&stamp[9..])
        && counter.is_none_or(|counter| counter.len() == COUNTER_DIGITS && digits(counter))
}

fn stamp(time: &UtcTime) -> String {
    format!(
        "{:04}{:02}{:02}-{:02}{:02}{:02}",
        time.year, time.month, time.day, time.hour, time.minute, time.second
    )
}

/// The name for a timestamped snapshot taken at `now`, given the existing timestamped names:
/// `now`'s stamp if that sorts after all of them, else the newest stamp with the next counter.
/// `None` only if ten thousand snapshots were taken in one second.
pub fn next_timestamped_name(now: &UtcTime, existing: &[String]) -> Option<String> {
    let plain = format!("{}{SNAPSHOT_EXTENSION}", stamp(now));
    let Some(newest) = existing.iter().max() else {
        return Some(plain);
    };
    if plain > *newest {
        return Some(plain);
    }
    let stem = &newest[..newest.len() - SNAPSHOT_EXTENSION.len()];
    let (newest_stamp, counter) = match stem.split_once('_') {
        Some((stamp, counter)) => (stamp, counter.parse::<u32>().ok()?),
        None => (stem, 0),
    };
    (counter < COUNTER_MAX).then(|| {
        format!(
            "{newest_stamp}_{:0width$}{SNAPSHOT_EXTENSION}",
            counter + 1,
            width = COUNTER_DIGITS
        )
    })
}

/// What is in the snapshot directory.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Listing {
    /// Timestamped snapshots' file names, sorted (oldest first).
    pub timestamped: Vec<String>,
    /// Entries that are neither timestamped snapshots nor the `remote` directory.
    pub unrecognised: Vec<String>,
}

/// Lists `snapshot_dir` (missing: empty).
pub fn list(snapshot_dir: &Path) -> io::Result<Listing> {
    let mut listing = Listing::default();
    let entries = match fs::read_dir(snapshot_dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(listing),
        Err(error) => return Err(error),
    };
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if is_timestamped_name(&name) && entry.file_type()?.is_file() {
            listing.timestamped.push(name);
        } else if !(name == REMOTE_DIR_NAME && entry.file_type()?.is_dir()) {
            listing.unrecognised.push(name);
        }
    }
    listing.timestamped.sort();
    listing.unrecognised.sort();
    Ok(listing)
}

/// Deletes the oldest timestamped snapshots so that at most `keep` remain (the caller decides
/// what "keep all" means). A file already gone counts as deleted. Returns the names deleted,
/// and the first error.
pub fn apply_retention(snapshot_dir: &Path, keep: usize) -> (Vec<String>, Option<io::Error>) {
    let mut deleted = Vec::new();
    let timestamped = match list(snapshot_dir) {
        Ok(listing) => listing.timestamped,
        Err(error) => return (deleted, Some(error)),
    };
    let excess = timestamped.len().saturating_sub(keep);
    for name in timestamped.into_iter().take(excess) {
        match fs::remove_file(snapshot_dir.join(&name)) {
            Ok(()) => deleted.push(name),
            Err(error) if error.kind() == io::ErrorKind::NotFound => deleted.push(name),
            Err(error) => return (deleted, Some(error)),
        }
    }
    (deleted, None)
}

/// A snapshot name becomes `snapshots/remote/<name>.snapshot`, so it must be one plain file
/// name: not empty, not too long ([`MAX_SNAPSHOT_NAME_BYTES`]), no `/`, no `..`, not `.`, no
/// NUL or other control characters. skyd 0.6.4 only refused names starting with `/` or
/// containing a `..` component.
pub fn is_valid_snapshot_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_SNAPSHOT_NAME_BYTES
        && name != "."
        && !name.contains("..")
        && !name.contains('/')
        && !name.chars().any(char::is_control)
}

/// `<snapshot dir>/remote/<name>.snapshot`; `name` is already validated as a plain file name.
pub fn named_path(snapshot_dir: &Path, name: &str) -> PathBuf {
    snapshot_dir
        .join(REMOTE_DIR_NAME)
        .join(format!("{name}{SNAPSHOT_EXTENSION}"))
}

/// A `--restore` name that would leave the snapshot directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreNameError(pub PathBuf);

impl fmt::Display for RestoreNameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Argument error: Invalid value for `--restore`: {} is not a path inside the snapshot \
             directory (expected a name such as 20261127-120000.snapshot or remote/foo.snapshot)",
            self.0.display()
        )
    }
}

impl std::error::Error for RestoreNameError {}

/// The file `--restore name` means: `<snapshot dir>/<name>`, where `name` may name a file in a
/// sub-directory (`remote/foo.snapshot`) but may not climb out (`..`, an absolute path).
pub fn restore_path(snapshot_dir: &Path, name: &Path) -> Result<PathBuf, RestoreNameError> {
    let stays_inside = name.components().count() > 0
        && name
            .components()
            .all(|component| matches!(component, Component::Normal(_)));
    if stays_inside {
        Ok(snapshot_dir.join(name))
    } else {
        Err(RestoreNameError(name.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(year: i64, month: u32, day: u32, hour: u32, minute: u32, second: u32) -> UtcTime {
        UtcTime {
            year,
            month,
            day,
            hour,
            minute,
            second,
            millisecond: 0,
        }
    }

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|name| name.to_string()).collect()
    }

    #[test]
    fn snapshot_names_are_single_plain_file_names() {
        for good in [
            "foo",
            "backup-2026.11.27",
            "with space",
            "ünïcode",
            ".hidden",
        ] {
            assert!(is_valid_snapshot_name(good), "{good:?}");
        }
        let too_long = "x".repeat(232);
        for bad in [
            "",
            ".",
            "..",
            "../x",
            "a/..",
            "/var/x",
            "a/b",
            "a\0b",
            "a\nb",
            "tab\t",
            "\u{7f}",
            too_long.as_str(),
        ] {
            assert!(!is_valid_snapshot_name(bad), "{bad:?}");
        }
        assert_eq!(MAX_SNAPSHOT_NAME_BYTES, 231);
        assert!(is_valid_snapshot_name(&"x".repeat(231)));
    }

    #[test]
    fn timestamped_names_are_recognised_exactly() {
        for good in [
            "20261127-120000.snapshot",
            "20261127-120000_0001.snapshot",
            "19700101-000000_9999.snapshot",
        ] {
            assert!(is_timestamped_name(good), "{good}");
        }
        for bad in [
            "20261127-120000.snap",
            "20261127120000.snapshot",
            "2026112-120000.snapshot",
            "20261127-120000_1.snapshot",
            "20261127-120000_00001.snapshot",
            "20261127-12000a.snapshot",
            "20261127-120000.snapshot.tmp-12",
            "remote",
            "foo.snapshot",
        ] {
            assert!(!is_timestamped_name(bad), "{bad}");
        }
    }

    #[test]
    fn new_names_sort_after_every_existing_one() {
        let now = at(2026, 11, 27, 12, 0, 5);
        assert_eq!(
            next_timestamped_name(&now, &[]).unwrap(),
            "20261127-120005.snapshot"
        );
        let earlier = names(&["20261127-120004.snapshot"]);
        assert_eq!(
            next_timestamped_name(&now, &earlier).unwrap(),
            "20261127-120005.snapshot"
        );
        let same_second = names(&["20261127-120004.snapshot", "20261127-120005.snapshot"]);
        assert_eq!(
            next_timestamped_name(&now, &same_second).unwrap(),
            "20261127-120005_0001.snapshot"
        );
        let third = names(&["20261127-120005.snapshot", "20261127-120005_0001.snapshot"]);
        assert_eq!(
            next_timestamped_name(&now, &third).unwrap(),
            "20261127-120005_0002.snapshot"
        );
        // The clock went back an hour: keep counting on from the newest name.
        let later = names(&["20261127-130000.snapshot"]);
        assert_eq!(
            next_timestamped_name(&now, &later).unwrap(),
            "20261127-130000_0001.snapshot"
        );
        let full = names(&["20261127-120005_9999.snapshot"]);
        assert_eq!(next_timestamped_name(&now, &full), None);
        let mut all = names(&[
            "20261127-120005_0002.snapshot",
            "20261127-120005.snapshot",
            "20261127-120006.snapshot",
            "20261127-120005_0001.snapshot",
        ]);
        all.sort();
        assert_eq!(
            all,
            names(&[
                "20261127-120005.snapshot",
                "20261127-120005_0001.snapshot",
                "20261127-120005_0002.snapshot",
                "20261127-120006.snapshot",
            ])
        );
    }

    #[test]
    fn retention_deletes_the_oldest_and_tolerates_missing_files() {
        let dir = std::env::temp_dir().join(format!("stratus-retention-{}", std::process::id()));
        fs::create_dir_all(dir.join(REMOTE_DIR_NAME)).unwrap();
        for name in [
            "20261127-120002.snapshot",
            "20261127-120001_0001.snapshot",
            "20261127-120001.snapshot",
            "20261127-120003.snapshot",
            "notes.txt",
        ] {
            fs::write(dir.join(name), b"x").unwrap();
        }
        let listing = list(&dir).unwrap();
        assert_eq!(
            listing,
            Listing {
                timestamped: names(&[
                    "20261127-120001.snapshot",
                    "20261127-120001_0001.snapshot",
                    "20261127-120002.snapshot",
                    "20261127-120003.snapshot",
                ]),
                unrecognised: names(&["notes.txt"]),
            }
        );
        let (deleted, error) = apply_retention(&dir, 2);
        assert!(error.is_none());
        assert_eq!(
            deleted,
            names(&["20261127-120001.snapshot", "20261127-120001_0001.snapshot"])
        );
        assert_eq!(
            list(&dir).unwrap().timestamped,
            names(&["20261127-120002.snapshot", "20261127-120003.snapshot"])
        );
        assert_eq!(
            apply_retention(&dir, 0).0,
            names(&["20261127-120002.snapshot", "20261127-120003.snapshot"])
        );
        assert_eq!(list(&dir).unwrap().unrecognised, names(&["notes.txt"]));
        fs::remove_dir_all(&dir).unwrap();
        assert_eq!(list(&dir).unwrap(), Listing::default());
    }

    #[test]
    fn restore_names_stay_inside_the_snapshot_directory() {
        let dir = Path::new("data/snapshots");
        assert_eq!(
            restore_path(dir, Path::new("20261127-120000.snapshot")),
            Ok(PathBuf::from("data/snapshots/20261127-120000.snapshot"))
        );
        assert_eq!(
            restore_path(dir, Path::new("remote/foo.snapshot")),
            Ok(PathBuf::from("data/snapshots/remote/foo.snapshot"))
        );
        for bad in ["../data.bin", "/etc/passwd", "remote/../../x", "./x", ""] {
            assert!(restore_path(dir, Path::new(bad)).is_err(), "{bad}");
        }
    }
}

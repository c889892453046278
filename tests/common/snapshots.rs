//! Snapshots as the tests see them: MKSNAP's query and refusals, timestamped names taken apart,
//! and the UTC stamp a snapshot started at a given time must be named after. Names and stamps
//! are computed from the documented pattern, independently of `stratus::persist::snapshot`
//! and `stratus::utc`, because they are what the snapshot tests check.

use std::path::Path;

use super::files::dir_names;

/// `MKSNAP` without a name while snapshots are not configured.
pub const SNAPSHOT_DISABLED: &[u8] = b"*1\n!21\nerr-snapshot-disabled\n";
/// `MKSNAP` without a name while another timestamped snapshot is queued or being written.
pub const SNAPSHOT_BUSY: &[u8] = b"*1\n!17\nerr-snapshot-busy\n";
/// `MKSNAP <name>` with the name of an existing (or queued) named snapshot.
pub const SNAPSHOT_EXISTS: &[u8] = b"*1\n!19\nerr-snapshot-exists\n";
/// `MKSNAP <name>` with a name that cannot be a snapshot's file name.
pub const INVALID_SNAPSHOT_NAME: &[u8] = b"*1\n!25\nerr-invalid-snapshot-name\n";
/// The query `MKSNAP` without a name.
pub const MKSNAP: &[u8] = b"*1\n_1\n+6\nMKSNAP\n";

/// A timestamped snapshot's file name taken apart: `YYYYMMDD-HHMMSS` and the counter of
/// `_NNNN` (0 without one). `None` for any other name. Written from the documented pattern,
/// independently of the server's own parser.
pub fn parse_timestamped_name(name: &str) -> Option<(String, u32)> {
    let stem = name.strip_suffix(".snapshot")?;
    let (stamp, counter) = match stem.split_once('_') {
        Some((stamp, digits)) => {
            let all_digits = digits.len() == 4 && digits.bytes().all(|b| b.is_ascii_digit());
            (stamp, all_digits.then(|| digits.parse().ok()).flatten()?)
        }
        None => (stem, 0),
    };
    let bytes = stamp.as_bytes();
    let shape_ok = bytes.len() == 15
        && bytes[8] == b'-'
        && bytes[..8].iter().chain(&bytes[9..]).all(u8::is_ascii_digit);
    shape_ok.then(|| (stamp.to_owned(), counter))
}

/// The timestamped snapshots in `dir` (one `read_dir`), sorted by name.
pub fn timestamped_snapshots(dir: &Path) -> Vec<String> {
    dir_names(dir)
        .into_iter()
        .filter(|name| parse_timestamped_name(name).is_some())
        .collect()
}

/// `YYYYMMDD-HHMMSS` of `time` in UTC: the stamp a snapshot started at `time` is named after.
pub fn utc_stamp(time: std::time::SystemTime) -> String {
    let seconds = time
        .duration_since(std::time::UNIX_EPOCH)
        .expect("a time after 1970")
        .as_secs();
    let (days, of_day) = (seconds / 86_400, seconds % 86_400);
    // Days since 1970-01-01 to a civil date (proleptic Gregorian), in 400-year eras that
    // start on 0000-03-01.
    let shifted = days + 719_468;
    let era = shifted / 146_097;
    let day_of_era = shifted % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    format!(
        "{year:04}{month:02}{day:02}-{:02}{:02}{:02}",
        of_day / 3600,
        of_day / 60 % 60,
        of_day % 60
    )
}

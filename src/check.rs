//! What `stratus-check` does: describe and verify data files, journal segments and whole data
//! directories, reading them exactly as a start would (the same decoders, the same recovery
//! plan), one line per finding. It changes nothing, except with `--repair`: then it truncates
//! the torn tail of a last journal segment, as a start would, after a durable backup, and
//! only while it holds the data directory's lock (no server is running on it).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::persist::format;
use crate::persist::journal::format::{
    self as journal, DecodeError, Scan, ScanEnd, JOURNAL_DIR_NAME, VERSION as SEGMENT_VERSION,
};
use crate::persist::journal::recovery::{self, Plan, RecoveryError, RecoveryFault};
use crate::persist::load::{self, Origin};
use crate::persist::lock::{self, DataDirLock};
use crate::persist::save::{self, DATA_FILE_MODE, TEMP_MARKER};
use crate::persist::snapshot::{REMOTE_DIR_NAME, SNAPSHOT_DIR_NAME};
use crate::persist::DATA_FILE_NAME;

/// A backup of a repaired segment is `<segment file name>.bak-<unix time>`.
pub const BACKUP_MARKER: &str = ".bak-";

/// Checks paths and writes what it finds to `out`; counts the faults left.
pub struct Checker<W: Write> {
    out: W,
    repair: bool,
    faults: usize,
}

/// Where a segment stands among the others of its directory.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Place {
    /// Checked on its own: a torn tail is a fault, repaired if no later segment is beside it.
    Alone,
    /// In a data directory, before the last segment: a torn tail is what a failed write left,
    /// which the next segment must continue (the chain's line says whether it does).
    Earlier,
    /// In a data directory, the last segment: a torn tail is a fault a start truncates.
    Last,
}

impl<W: Write> Checker<W> {
    /// With `repair`, a torn tail of a last journal segment is truncated after a backup.
    pub fn new(out: W, repair: bool) -> Self {
        Checker {
            out,
            repair,
            faults: 0,
        }
    }

    /// Faults found and not repaired.
    pub fn faults(&self) -> usize {
        self.faults
    }

    /// Checks `path`: a data file, a journal segment, or a data directory. Errors are those of
    /// writing to `out`; what is wrong with the files is written there and counted.
    pub fn check(&mut self, path: &Path) -> io::Result<()> {
        match fs::metadata(path) {
            Err(error) => self.fault(path, format_args!("cannot read: {error}")),
            Ok(metadata) if metadata.is_dir() => self.check_data_dir(path),
            Ok(_) if is_segment(path) => self.check_lone_segment(path),
            Ok(_) => self.check_data_file(path).map(drop),
        }
    }

    /// The last line: how many faults are left.
    pub fn finish(mut self) -> io::Result<usize> {
        match self.faults {
            0 => writeln!(self.out, "stratus-check: no fault")?,
            1 => writeln!(self.out, "stratus-check: 1 fault")?,
            faults => writeln!(self.out, "stratus-check: {faults} faults")?,
        }
        self.out.flush()?;
        Ok(self.faults)
    }

    fn line(&mut self, path: &Path, what: impl std::fmt::Display) -> io::Result<()> {
        writeln!(self.out, "{}: {what}", path.display())
    }

    fn fault(&mut self, path: &Path, what: impl std::fmt::Display) -> io::Result<()> {
        self.faults += 1;
        writeln!(self.out, "{}: fault: {what}", path.display())
    }

    fn not_repaired(&mut self, path: &Path, why: impl std::fmt::Display) -> io::Result<()> {
        writeln!(self.out, "{}: not repaired: {why}", path.display())
    }

    /// A data file; returns the journal segment it continues in (0 for none), if it is good.
    fn check_data_file(&mut self, path: &Path) -> io::Result<Option<u64>> {
        match load::load_data_file(path) {
            Ok(Some(loaded)) => {
                let table = &loaded.table;
                let contents = format!(
                    "{}, {} of keys and values",
                    count(table.len() as u64, "key", "keys"),
                    count(table.payload_bytes(), "byte", "bytes")
                );
                let segment = match loaded.origin {
                    Origin::Stratus {
                        version,
                        journal_segment,
                    } => {
                        let journal = match journal_segment {
                            0 => "tied to no journal".to_owned(),
                            segment => format!("journal from segment {segment}"),
                        };
                        self.line(
                            path,
                            format_args!(
                                "Stratus data file, version {version}, {contents}, {journal}"
                            ),
                        )?;
                        journal_segment
                    }
                    Origin::Skytable06 {
                        ignored_trailing_bytes,
                    } => {
                        let ignored = match ignored_trailing_bytes {
                            0 => String::new(),
                            bytes => format!(
                                ", {} after the last entry ignored (as skyd did)",
                                count(bytes, "byte", "bytes")
                            ),
                        };
                        self.line(
                            path,
                            format_args!("Skytable 0.6 data file, {contents}{ignored}"),
                        )?;
                        0
                    }
                };
                Ok(Some(segment))
            }
            Ok(None) => self.fault(path, "no such file").map(|()| None),
            Err(error) => {
                self.fault(path, error.reason())?;
                if self.repair {
                    self.not_repaired(
                        path,
                        "data files are never repaired (start from a snapshot with --restore)",
                    )?;
                }
                Ok(None)
            }
        }
    }

    /// A journal segment given on its own. With `--repair`, a torn tail is truncated if no
    /// later segment is beside it, holding the lock of the data directory it is in (taken
    /// before the segment is read, so what is truncated is what was checked).
    fn check_lone_segment(&mut self, path: &Path) -> io::Result<()> {
        let absolute = path.canonicalize().unwrap_or_else(|_| path.to_owned());
        let data_dir = absolute
            .parent()
            .filter(|dir| dir.file_name().is_some_and(|name| name == JOURNAL_DIR_NAME))
            .and_then(Path::parent);
        let (_lock, repair) = match data_dir.filter(|_| self.repair) {
            Some(data_dir) => {
                let lock = self.lock(path, data_dir)?;
                let locked = lock.is_some();
                (lock, locked)
            }
            None => (None, self.repair),
        };
        let Some(bytes) = self.read(path)? else {
            return Ok(());
        };
        let scan = journal::scan_segment(&bytes);
        self.describe_segment(path, &scan, Place::Alone)?;
        if !repair {
            return Ok(());
        }
        match scan.end {
            ScanEnd::Clean => Ok(()),
            ScanEnd::Corrupt { .. } => self.not_repaired(path, CORRUPT_NOT_REPAIRED),
            ScanEnd::Torn { offset, dropped } => match later_segment_beside(path) {
                Some(later) => self.not_repaired(
                    path,
                    format_args!(
                        "segment {later} follows it, and only the last segment's tail is \
                         truncated"
                    ),
                ),
                None => self.repair_tail(path, offset, dropped),
            },
        }
    }

    /// A data directory: data.bin, every snapshot, and the journal as a chain.
    fn check_data_dir(&mut self, dir: &Path) -> io::Result<()> {
        let repair = self.repair;
        let lock = match repair {
            true => self.lock(dir, dir)?,
            false => None,
        };
        // Without the lock, a server may be writing: read, but repair nothing.
        self.repair = lock.is_some();
        let checked = self.check_data_dir_files(dir);
        self.repair = repair;
        drop(lock);
        checked
    }

    fn check_data_dir_files(&mut self, dir: &Path) -> io::Result<()> {
        let data_file = dir.join(DATA_FILE_NAME);
        let journal_segment = if data_file.exists() {
            self.check_data_file(&data_file)?
        } else {
            self.line(&data_file, "absent: a start begins with an empty table")?;
            Some(0)
        };
        let snapshot_dir = dir.join(SNAPSHOT_DIR_NAME);
        for snapshots in [snapshot_dir.clone(), snapshot_dir.join(REMOTE_DIR_NAME)] {
            for file in self.files_in(&snapshots)? {
                if file_name(&file).contains(TEMP_MARKER) {
                    self.line(
                        &file,
                        "skipped: the temporary file of an unfinished save (a start removes it)",
                    )?;
                } else {
                    self.check_data_file(&file)?;
                }
            }
        }
        let journal_dir = dir.join(JOURNAL_DIR_NAME);
        if journal_dir.is_dir() {
            self.check_journal(&journal_dir, journal_segment)?;
        }
        Ok(())
    }

    /// The segments of `journal_dir`, each on its own, then as the chain a start replays after
    /// a data.bin that continues in `data_file_segment` (`None`: data.bin is damaged).
    fn check_journal(
        &mut self,
        journal_dir: &Path,
        data_file_segment: Option<u64>,
    ) -> io::Result<()> {
        let mut segments: Vec<(u64, PathBuf, Vec<u8>)> = Vec::new();
        let mut unreadable = false;
        for file in self.files_in(journal_dir)? {
            let Some(segment) = journal::parse_segment_file_name(file_name(&file)) else {
                self.line(&file, "skipped: not a journal segment's name")?;
                continue;
            };
            match self.read(&file)? {
                Some(bytes) => segments.push((segment, file, bytes)),
                None => unreadable = true,
            }
        }
        let obsolete_below = data_file_segment.unwrap_or(0);
        let last = segments.last().map(|(segment, ..)| *segment);
        for (segment, file, bytes) in &segments {
            if *segment < obsolete_below {
                self.line(
                    file,
                    format_args!(
                        "obsolete: data.bin contains it (it continues at segment \
                         {obsolete_below}); a start deletes it"
                    ),
                )?;
                continue;
            }
            let place = match Some(*segment) == last {
                true => Place::Last,
                false => Place::Earlier,
            };
            let scan = journal::scan_segment(bytes);
            self.describe_segment(file, &scan, place)?;
        }
        let Some(data_file_segment) = data_file_segment.filter(|_| !unreadable) else {
            return self.line(
                journal_dir,
                "not checked as a chain: data.bin or a segment cannot be read",
            );
        };
        let found: Vec<(u64, &[u8])> = segments
            .iter()
            .map(|(segment, _, bytes)| (*segment, bytes.as_slice()))
            .collect();
        match recovery::plan(data_file_segment, &found) {
            Ok(plan) => {
                self.line(journal_dir, describe_plan(&plan))?;
                match plan.truncate {
                    Some((segment, offset, dropped)) if self.repair => {
                        let file = journal_dir.join(journal::segment_file_name(segment));
                        self.repair_tail(&file, offset, dropped)
                    }
                    _ => Ok(()),
                }
            }
            Err(error) => {
                self.fault(journal_dir, format_args!("a start refuses it: {error}"))?;
                if self.repair {
                    self.not_repaired(journal_dir, CORRUPT_NOT_REPAIRED)?;
                }
                Ok(())
            }
        }
    }

    /// What a segment holds, and its first fault.
    fn describe_segment(&mut self, path: &Path, scan: &Scan<'_>, place: Place) -> io::Result<()> {
        if let Ok(header) = &scan.header {
            let records: u64 = scan
                .frames
                .iter()
                .map(|frame| u64::from(frame.record_count))
                .sum();
            let frames = match (scan.frames.first(), scan.frames.last()) {
                (Some(first), Some(last)) if first.seq == last.seq => {
                    format!("1 frame (sequence {})", first.seq)
                }
                (Some(first), Some(last)) => format!(
                    "{} frames (sequence {} to {})",
                    scan.frames.len(),
                    first.seq,
                    last.seq
                ),
                _ => format!("no frame (the first will be {})", header.first_frame),
            };
            self.line(
                path,
                format_args!(
                    "journal segment {}, version {SEGMENT_VERSION}, {frames}, {}",
                    header.segment,
                    count(records, "record", "records")
                ),
            )?;
            let named = journal::parse_segment_file_name(file_name(path));
            if let Some(named) = named.filter(|&named| named != header.segment) {
                let error = RecoveryError {
                    segment: named,
                    fault: RecoveryFault::WrongSegment {
                        found: header.segment,
                    },
                };
                self.fault(path, error.reason())?;
            }
        }
        match &scan.end {
            ScanEnd::Clean => Ok(()),
            ScanEnd::Torn { offset, dropped } if place == Place::Earlier => self.line(
                path,
                format_args!(
                    "torn tail at offset {offset}: {} a failed write left (the next segment \
                     must continue from the last good frame)",
                    count(*dropped, "byte", "bytes")
                ),
            ),
            ScanEnd::Torn { offset, dropped } => self.fault(
                path,
                format_args!(
                    "torn tail at offset {offset}: {} after the last good frame (a start, or \
                     --repair, truncates them)",
                    count(*dropped, "byte", "bytes")
                ),
            ),
            ScanEnd::Corrupt { offset, fault } => self.fault(
                path,
                DecodeError {
                    offset: *offset,
                    fault: fault.clone(),
                },
            ),
        }
    }

    /// Copies `path` to a backup beside it and truncates it to `offset`, both made durable;
    /// the torn-tail fault it had is then repaired.
    fn repair_tail(&mut self, path: &Path, offset: u64, dropped: u64) -> io::Result<()> {
        match backup_and_truncate(path, offset) {
            Ok(backup) => {
                self.faults -= 1;
                self.line(
                    path,
                    format_args!(
                        "repaired: truncated at offset {offset}, {} dropped; the original is \
                         kept as {}",
                        count(dropped, "byte", "bytes"),
                        backup.display()
                    ),
                )
            }
            Err(error) => self.not_repaired(path, error),
        }
    }

    /// The lock of `data_dir`, or `None` (after saying why) if a server holds it.
    fn lock(&mut self, path: &Path, data_dir: &Path) -> io::Result<Option<DataDirLock>> {
        match lock::acquire(data_dir) {
            Ok(lock) => Ok(Some(lock)),
            Err(error) => {
                self.fault(path, format_args!("cannot repair: {error}"))?;
                Ok(None)
            }
        }
    }

    /// The bytes of `path`, or `None` after counting the fault.
    fn read(&mut self, path: &Path) -> io::Result<Option<Vec<u8>>> {
        match fs::read(path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(error) => self
                .fault(path, format_args!("cannot read: {error}"))
                .map(|()| None),
        }
    }

    /// The files of `dir` in name order (none if it does not exist).
    fn files_in(&mut self, dir: &Path) -> io::Result<Vec<PathBuf>> {
        let listing = match fs::read_dir(dir) {
            Ok(listing) => listing,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(error) => {
                self.fault(dir, format_args!("cannot list: {error}"))?;
                return Ok(Vec::new());
            }
        };
        let mut files: Vec<PathBuf> = listing
            .filter_map(Result::ok)
            .filter(|entry| entry.file_type().is_ok_and(|kind| kind.is_file()))
            .map(|entry| entry.path())
            .collect();
        files.sort();
        Ok(files)
    }
}

const CORRUPT_NOT_REPAIRED: &str =
    "only a torn tail of the last segment is truncated; this damage is not one";

/// `1 key`, `2 keys`.
fn count(n: u64, one: &str, many: &str) -> String {
    match n {
        1 => format!("1 {one}"),
        n => format!("{n} {many}"),
    }
}

fn file_name(path: &Path) -> &str {
    path.file_name()
        .and_then(|name| name.to_str())
        .unwrap_or("")
}

/// Whether `path` is a journal segment: by its name, or by a magic closer to a segment's than
/// to a data file's (the two differ in two bytes, so a damaged one is still told apart).
fn is_segment(path: &Path) -> bool {
    if journal::parse_segment_file_name(file_name(path)).is_some() {
        return true;
    }
    let mut start = [0; journal::MAGIC.len()];
    if File::open(path)
        .and_then(|mut file| file.read_exact(&mut start))
        .is_err()
    {
        return false;
    }
    let matching = |magic: &[u8]| magic.iter().zip(&start).filter(|(a, b)| a == b).count();
    matching(&journal::MAGIC) > matching(&format::MAGIC)
}

/// A segment numbered after `path`'s in its directory, if `path` is named as a segment.
fn later_segment_beside(path: &Path) -> Option<u64> {
    let own = journal::parse_segment_file_name(file_name(path))?;
    let dir = path.parent().filter(|dir| !dir.as_os_str().is_empty());
    fs::read_dir(dir.unwrap_or(Path::new(".")))
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|entry| journal::parse_segment_file_name(entry.file_name().to_str()?))
        .filter(|&segment| segment > own)
        .min()
}

/// What a start does with the journal.
fn describe_plan(plan: &Plan<'_>) -> String {
    let replayed = match (plan.frames.first(), plan.frames.last()) {
        (Some(first), Some(last)) => format!(
            "{} (sequence {} to {})",
            count(plan.frames.len() as u64, "frame", "frames"),
            first.seq,
            last.seq
        ),
        _ => "no frame".to_owned(),
    };
    let mut what = format!(
        "a start replays {replayed} after data.bin, then writes segment {} from frame {}",
        plan.next_segment, plan.next_frame
    );
    if let Some((segment, offset, dropped)) = plan.truncate {
        what.push_str(&format!(
            "; it first truncates {} at offset {offset} ({})",
            journal::segment_file_name(segment),
            count(dropped, "byte", "bytes")
        ));
    }
    if !plan.obsolete.is_empty() {
        let obsolete: Vec<String> = plan.obsolete.iter().map(u64::to_string).collect();
        what.push_str(&format!(
            "; it deletes obsolete {} {}",
            match obsolete.len() {
                1 => "segment",
                _ => "segments",
            },
            obsolete.join(", ")
        ));
    }
    what
}

/// Copies `path` to `<path>.bak-<unix time>` (durably, with its directory entry), then
/// truncates `path` to `offset` and makes that durable. Returns the backup's path.
fn backup_and_truncate(path: &Path, offset: u64) -> io::Result<PathBuf> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    let mut backup_name = path.file_name().unwrap_or_default().to_os_string();
    backup_name.push(format!("{BACKUP_MARKER}{now}"));
    let backup = path.with_file_name(backup_name);
    let mut original = File::open(path)?;
    let mut copy = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(DATA_FILE_MODE)
        .open(&backup)?;
    io::copy(&mut original, &mut copy)?;
    copy.sync_all()?;
    let truncated = OpenOptions::new().write(true).open(path)?;
    truncated.set_len(offset)?;
    truncated.sync_all()?;
    save::sync_directory(&backup).map_err(io::Error::other)?;
    Ok(backup)
}

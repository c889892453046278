//! Replaying the journal at start: read every segment in the journal directory, let
//! [`super::recovery::plan`] decide what follows data.bin, apply those frames to the table,
//! cut off a torn tail (the one change made to a file, logged), and delete segments data.bin
//! already contains. Any other damage stops the start before anything is changed.

use std::fmt;
use std::fs::{self, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

use log::warn;

use super::format::{
    self, parse_segment_file_name, segment_file_name, DecodeError, FRAME_HEADER_LEN,
};
use super::recovery::{self, RecoveryError};
use crate::table::Table;

/// What replaying found and did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Replayed {
    /// Frames and records applied to the table.
    pub frames: u64,
    pub records: u64,
    /// Segments still needed after data.bin (until the next compaction), in order.
    pub kept: Vec<u64>,
    /// What a new segment should be numbered, and where its frames start.
    pub next_segment: u64,
    pub next_frame: u64,
}

#[derive(Debug)]
pub enum ReplayError {
    List {
        dir: PathBuf,
        source: io::Error,
    },
    Read {
        path: PathBuf,
        source: io::Error,
    },
    Damaged(RecoveryError),
    /// A frame the scan accepted did not decode again (a bug, not a file fault).
    Record(DecodeError),
    Truncate {
        path: PathBuf,
        source: io::Error,
    },
}

impl fmt::Display for ReplayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReplayError::List { dir, source } => {
                write!(f, "cannot list the journal {}: {source}", dir.display())
            }
            ReplayError::Read { path, source } => {
                write!(f, "cannot read {}: {source}", path.display())
            }
            ReplayError::Damaged(error) => error.fmt(f),
            ReplayError::Record(error) => write!(f, "journal record: {error}"),
            ReplayError::Truncate { path, source } => write!(
                f,
                "cannot cut the torn tail off {}: {source}",
                path.display()
            ),
        }
    }
}

impl std::error::Error for ReplayError {}

/// The segment numbers in `dir` (none if it does not exist), sorted; other files are warned
/// about and left alone.
pub fn segment_numbers(dir: &Path) -> Result<Vec<u64>, ReplayError> {
    let list_error = |source| ReplayError::List {
        dir: dir.to_owned(),
        source,
    };
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(list_error(error)),
    };
    let mut numbers = Vec::new();
    for entry in entries {
        let name = entry.map_err(list_error)?.file_name();
        match name.to_str().and_then(parse_segment_file_name) {
            Some(number) => numbers.push(number),
            None => warn!(
                "Ignoring {}: not a journal segment (NNNNNNNNNNNNNNNN.sjl)",
                dir.join(&name).display()
            ),
        }
    }
    numbers.sort_unstable();
    Ok(numbers)
}

/// Replays the segments of `dir` that follow a data.bin whose first missing segment is
/// `data_file_segment` (0: data.bin is not tied to the journal) into `table`.
pub fn replay(
    dir: &Path,
    data_file_segment: u64,
    table: &mut Table,
) -> Result<Replayed, ReplayError> {
    let numbers = segment_numbers(dir)?;
    let mut contents = Vec::with_capacity(numbers.len());
    for &number in &numbers {
        let path = dir.join(segment_file_name(number));
        let bytes = fs::read(&path).map_err(|source| ReplayError::Read { path, source })?;
        contents.push((number, bytes));
    }
    let segments: Vec<(u64, &[u8])> = contents
        .iter()
        .map(|(number, bytes)| (*number, bytes.as_slice()))
        .collect();
    let plan = recovery::plan(data_file_segment, &segments).map_err(ReplayError::Damaged)?;
    let mut replayed = Replayed {
        next_segment: plan.next_segment,
        next_frame: plan.next_frame,
        ..Replayed::default()
    };
    for frame in &plan.frames {
        let records = frame.records().map_err(|(at, fault)| {
            ReplayError::Record(DecodeError {
                offset: frame.offset + (FRAME_HEADER_LEN + at) as u64,
                fault,
            })
        })?;
        format::apply(table, &records);
        replayed.frames += 1;
        replayed.records += records.len() as u64;
    }
    if let Some((segment, offset, dropped)) = plan.truncate {
        let path = dir.join(segment_file_name(segment));
        cut_torn_tail(&path, offset)?;
        warn!(
            "journal: truncated the torn tail of {} at offset {offset} ({dropped} bytes \
             dropped: a commit that was never acknowledged)",
            path.display()
        );
    }
    for segment in &plan.obsolete {
        let path = dir.join(segment_file_name(*segment));
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(error) if error.kind() == io::ErrorKind::NotFound => {}
            Err(error) => warn!("Cannot remove {}: {error}", path.display()),
        }
    }
    replayed.kept = numbers
        .into_iter()
        .filter(|number| !plan.obsolete.contains(number))
        .collect();
    Ok(replayed)
}

fn cut_torn_tail(path: &Path, offset: u64) -> Result<(), ReplayError> {
    let truncate_error = |source| ReplayError::Truncate {
        path: path.to_owned(),
        source,
    };
    let file = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(truncate_error)?;
    file.set_len(offset).map_err(truncate_error)?;
    file.sync_all().map_err(truncate_error)
}

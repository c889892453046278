//! What persistence remembers about itself: whether saves work ([`Health`]), and the record of
//! past saves, kept once for data.bin and once for snapshots. `SYS` reports it through
//! [`PersistenceStatus`]; nothing here does I/O.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use super::job::JobError;
use super::journal::JournalStatus;
use crate::config::JournalFsync;

/// Whether saves are working. Poisoned is the state skyd calls a poisoned table. The cause is
/// the failure's message, for the log and `SYS`: it may come from any layer that poisons.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    Good,
    Poisoned { cause: String, since: SystemTime },
}

/// What a save wrote, or which save of data.bin a record describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaveKind {
    /// A BGSAVE of data.bin by a forked child.
    Bgsave,
    /// The shutdown save of data.bin, in the server.
    Shutdown,
    /// A snapshot (periodic, MKSNAP, or named), by a forked child.
    Snapshot,
}

/// The outcome of one save.
#[derive(Debug)]
pub struct SaveRecord {
    pub kind: SaveKind,
    pub target: PathBuf,
    pub outcome: Result<(), JobError>,
    pub finished: SystemTime,
    /// From the start of the fork (or of the write) to the moment the result was known.
    pub duration: Duration,
    /// Time spent in `fork` by the server; zero for a save without fork.
    pub fork_time: Duration,
    pub keys: u64,
    pub bytes: u64,
}

/// Success and failure counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub succeeded: u64,
    pub failed: u64,
}

/// The saves of one kind of file: how many went well and badly, the last one, and when the
/// last good one ended.
#[derive(Debug, Default)]
pub struct History {
    pub counts: Counts,
    pub last: Option<SaveRecord>,
    pub last_success: Option<SystemTime>,
}

impl History {
    pub(super) fn record(&mut self, record: SaveRecord) {
        match record.outcome {
            Ok(()) => {
                self.counts.succeeded += 1;
                self.last_success = Some(record.finished);
            }
            Err(_) => self.counts.failed += 1,
        }
        self.last = Some(record);
    }
}

/// The persistence state, borrowed for the status actions.
#[derive(Debug)]
pub struct PersistenceStatus<'a> {
    pub health: &'a Health,
    pub saving: bool,
    pub changes_since_save: u64,
    /// Saves of data.bin (BGSAVE or shutdown).
    pub data_file: &'a History,
    /// Snapshots (periodic, MKSNAP, or named).
    pub snapshots: &'a History,
    pub data_file_bytes: u64,
    /// The journal's mode and state, when it is on.
    pub journal: Option<(JournalFsync, &'a JournalStatus)>,
}

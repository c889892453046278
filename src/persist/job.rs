//! The save jobs the server asks for, why one is refused at once, and how one fails. A job is
//! data: what to write and who waits for it; [`super::Persistence`] runs it.

use std::fmt;
use std::io;
use std::path::PathBuf;

use super::fork::ExitKind;
use super::journal::JournalError;
use super::save::SaveError;

/// A save the server asked for. `waiter` is the connection to answer when it is finished.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Job {
    /// A save of data.bin, periodic (no waiter) or asked for by a client; skipped, and
    /// answered as a success, if nothing changed and the server is healthy.
    Bgsave { waiter: Option<usize> },
    /// A timestamped snapshot from the snapshot timer.
    PeriodicSnapshot,
    /// `MKSNAP`: a timestamped snapshot on request.
    RequestedSnapshot { waiter: Option<usize> },
    /// `MKSNAP name`: `snapshots/remote/<name>.snapshot`, never overwriting.
    NamedSnapshot { name: String, waiter: Option<usize> },
}

impl Job {
    pub fn waiter(&self) -> Option<usize> {
        match self {
            Job::Bgsave { waiter }
            | Job::RequestedSnapshot { waiter }
            | Job::NamedSnapshot { waiter, .. } => *waiter,
            Job::PeriodicSnapshot => None,
        }
    }

    pub(super) fn waiter_mut(&mut self) -> Option<&mut Option<usize>> {
        match self {
            Job::Bgsave { waiter }
            | Job::RequestedSnapshot { waiter }
            | Job::NamedSnapshot { waiter, .. } => Some(waiter),
            Job::PeriodicSnapshot => None,
        }
    }

    /// The periodic BGSAVE: queued at most once.
    pub const PERIODIC_BGSAVE: Job = Job::Bgsave { waiter: None };

    pub(super) fn is_timestamped_snapshot(&self) -> bool {
        matches!(self, Job::PeriodicSnapshot | Job::RequestedSnapshot { .. })
    }

    /// Whether the outcome changes health: BGSAVE always, a periodic snapshot when `failsafe`
    /// is set, MKSNAP never (as in skyd 0.6.4).
    pub(super) fn affects_health(&self, failsafe: bool) -> bool {
        match self {
            Job::Bgsave { .. } => true,
            Job::PeriodicSnapshot => failsafe,
            Job::RequestedSnapshot { .. } | Job::NamedSnapshot { .. } => false,
        }
    }
}

impl fmt::Display for Job {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Job::Bgsave { .. } => f.write_str("BGSAVE"),
            Job::PeriodicSnapshot => f.write_str("periodic snapshot"),
            Job::RequestedSnapshot { .. } => f.write_str("MKSNAP"),
            Job::NamedSnapshot { name, .. } => write!(f, "MKSNAP {name}"),
        }
    }
}

/// A job that is over, and whether it succeeded (the details are in the save history).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobResult {
    pub job: Job,
    pub succeeded: bool,
}

/// Why a snapshot request is refused at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// MKSNAP without a name while snapshots are not configured.
    Disabled,
    /// MKSNAP without a name while another timestamped snapshot is queued or being written.
    Busy,
    /// MKSNAP with the name of an existing (or queued) named snapshot.
    Exists,
    /// MKSNAP with a name that is not one plain file name
    /// ([`super::snapshot::is_valid_snapshot_name`]).
    InvalidName,
}

/// Why a save failed.
#[derive(Debug)]
pub enum JobError {
    /// `fork` failed: no child was started.
    Fork(io::Error),
    /// The snapshot directory could not be listed to name a new timestamped snapshot.
    ListSnapshots { dir: PathBuf, source: io::Error },
    /// Ten thousand timestamped snapshots were taken within one second.
    TooManyInOneSecond,
    /// The save child ended badly: its exit, and the report it wrote (empty if none).
    Child {
        pid: u32,
        exit: ExitKind,
        report: String,
    },
    /// `waitpid` on the save child failed; the child is taken to be gone.
    Reap { pid: u32, source: io::Error },
    /// A save made in this process (the shutdown save) failed.
    Save(SaveError),
    /// The journal could not start the fresh segment a BGSAVE compacts into.
    Journal(JournalError),
}

impl fmt::Display for JobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JobError::Fork(source) => write!(f, "cannot fork: {source}"),
            JobError::ListSnapshots { dir, source } => {
                write!(f, "cannot list {}: {source}", dir.display())
            }
            JobError::TooManyInOneSecond => f.write_str("too many snapshots in one second"),
            JobError::Child { pid, exit, report } if report.is_empty() => {
                write!(f, "save child {pid} {exit}")
            }
            JobError::Child { pid, exit, report } => write!(f, "save child {pid} {exit}: {report}"),
            JobError::Reap { pid, source } => write!(f, "cannot reap save child {pid}: {source}"),
            JobError::Save(error) => error.fmt(f),
            JobError::Journal(error) => error.fmt(f),
        }
    }
}

impl std::error::Error for JobError {}

//! Persistence: keeping the table on disk, and knowing whether that is working.
//!
//! [`Persistence`] owns the data directory (locked for the life of the process), loads the
//! table at start, and runs saves — BGSAVE of `data.bin`, periodic and requested snapshots —
//! in forked children, one at a time, from a queue of [`Job`]s. It holds the one piece of
//! state writes depend on: [`Health`]. A failed BGSAVE (or periodic snapshot, with failsafe)
//! poisons the server: writes are refused, reads are served, until a later one succeeds. The
//! event loop decides *when* to ask for a save; this module decides whether there is anything
//! to save, does it, and says when each job is finished.

mod fork;
pub mod format;
pub mod legacy;
mod load;
mod lock;
pub mod save;
pub mod snapshot;
mod startup;

use std::collections::VecDeque;
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use log::{debug, error, info, warn};

use crate::action::Writes;
use crate::config::SnapshotConfig;
use crate::log_lines::{COMPLETED_BY_CHILD, STARTED_BY_CHILD};
use crate::table::Table;
use crate::utc::UtcTime;
use fork::{Child, ExitKind};
use lock::DataDirLock;
use save::Install;
pub use save::{SaveError, SaveReport};
pub use startup::StartupError;

/// While poisoned, a save is retried at least this often.
pub const POISONED_RETRY_INTERVAL: Duration = Duration::from_secs(5);

/// Whether saves are working. Poisoned is the state skyd calls a poisoned table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    Good,
    Poisoned { cause: String, since: SystemTime },
}

/// A save the server asked for. `waiter` is the connection to answer when it is finished.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Job {
    /// The periodic save of data.bin; skipped if nothing changed and the server is healthy.
    Bgsave,
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
            Job::RequestedSnapshot { waiter } | Job::NamedSnapshot { waiter, .. } => *waiter,
            Job::Bgsave | Job::PeriodicSnapshot => None,
        }
    }

    fn is_timestamped_snapshot(&self) -> bool {
        matches!(self, Job::PeriodicSnapshot | Job::RequestedSnapshot { .. })
    }

    /// Whether the outcome changes [`Health`]: BGSAVE always, a periodic snapshot when
    /// `failsafe` is set, MKSNAP never (as in skyd 0.6.4).
    fn affects_health(&self, failsafe: bool) -> bool {
        match self {
            Job::Bgsave => true,
            Job::PeriodicSnapshot => failsafe,
            Job::RequestedSnapshot { .. } | Job::NamedSnapshot { .. } => false,
        }
    }
}

impl fmt::Display for Job {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Job::Bgsave => f.write_str("BGSAVE"),
            Job::PeriodicSnapshot => f.write_str("periodic snapshot"),
            Job::RequestedSnapshot { .. } => f.write_str("MKSNAP"),
            Job::NamedSnapshot { name, .. } => write!(f, "MKSNAP {name}"),
        }
    }
}

/// A job that is over, and how it went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finished {
    pub job: Job,
    /// `None` if it succeeded (or had nothing to do), else what went wrong.
    pub error: Option<String>,
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
}

/// Which save of data.bin a record describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaveKind {
    Background,
    Shutdown,
}

/// The outcome of one save (of data.bin, or of a snapshot).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaveRecord {
    pub kind: SaveKind,
    pub target: PathBuf,
    /// `None` if it succeeded, else what went wrong.
    pub error: Option<String>,
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

impl Counts {
    fn count(&mut self, error: &Option<String>) {
        match error {
            None => self.succeeded += 1,
            Some(_) => self.failed += 1,
        }
    }
}

/// A job in a child process.
#[derive(Debug)]
struct RunningSave {
    job: Job,
    target: PathBuf,
    child: Child,
    started: Instant,
    keys: u64,
    bytes: u64,
    /// `table.changes()` at the fork: what data.bin holds if a BGSAVE succeeds.
    changes: u64,
}

pub struct Persistence {
    data_file: PathBuf,
    snapshot_dir: PathBuf,
    snapshots: Option<SnapshotConfig>,
    health: Health,
    queue: VecDeque<Job>,
    running: Option<RunningSave>,
    /// `table.changes()` when data.bin last held exactly the table; `None` when it must be
    /// rewritten whatever happens (an imported Skytable file, a restored snapshot).
    saved_changes: Option<u64>,
    last_save: Option<SaveRecord>,
    last_snapshot: Option<SaveRecord>,
    saves: Counts,
    snapshot_counts: Counts,
    _lock: DataDirLock,
}

impl Persistence {
    /// Creates and locks the data directory, removes what a crash left behind, and loads the
    /// table: from the snapshot `restore` names, else from `data.bin` (importing a Skytable
    /// 0.6 one, moving one in from the working directory).
    pub fn open(
        data_dir: &Path,
        snapshots: Option<SnapshotConfig>,
        restore: Option<&Path>,
    ) -> Result<(Persistence, Table), StartupError> {
        let opened = startup::open(data_dir, restore)?;
        let persistence = Persistence {
            data_file: opened.data_file,
            snapshot_dir: opened.snapshot_dir,
            snapshots,
            health: Health::Good,
            queue: VecDeque::new(),
            running: None,
            saved_changes: opened.saved_changes,
            last_save: None,
            last_snapshot: None,
            saves: Counts::default(),
            snapshot_counts: Counts::default(),
            _lock: opened.lock,
        };
        Ok((persistence, opened.table))
    }

    pub fn data_file(&self) -> &Path {
        &self.data_file
    }

    pub fn is_poisoned(&self) -> bool {
        matches!(self.health, Health::Poisoned { .. })
    }

    /// The one place poisoning turns into refused writes.
    pub fn writes(&self) -> Writes {
        match self.health {
            Health::Good => Writes::Accepted,
            Health::Poisoned { .. } => Writes::Refused,
        }
    }

    pub fn is_saving(&self) -> bool {
        self.running.is_some()
    }

    /// Whether a failed periodic snapshot poisons (and so must be retried while poisoned).
    pub fn snapshots_failsafe(&self) -> bool {
        self.snapshots.is_some_and(|config| config.failsafe)
    }

    /// Whether a save would change anything: the table changed since the last good save, or
    /// data.bin does not hold it yet, or the server is poisoned (a good save clears that).
    fn needs_save(&self, table: &Table) -> bool {
        self.saved_changes != Some(table.changes()) || self.is_poisoned()
    }

    /// Every job queued or running.
    fn jobs(&self) -> impl Iterator<Item = &Job> {
        self.queue
            .iter()
            .chain(self.running.as_ref().map(|running| &running.job))
    }

    /// Queues `job` to run after the jobs before it. A BGSAVE or periodic snapshot already
    /// queued is not queued twice; a MKSNAP may be refused (see [`Refusal`]).
    pub fn request(&mut self, job: Job) -> Result<(), Refusal> {
        match &job {
            Job::Bgsave | Job::PeriodicSnapshot => {
                if self.queue.contains(&job) {
                    return Ok(());
                }
            }
            Job::RequestedSnapshot { .. } => {
                if self.snapshots.is_none() {
                    return Err(Refusal::Disabled);
                }
                if self.jobs().any(Job::is_timestamped_snapshot) {
                    return Err(Refusal::Busy);
                }
            }
            Job::NamedSnapshot { name, .. } => {
                let taken =
                    |other: &Job| matches!(other, Job::NamedSnapshot { name: n, .. } if n == name);
                let path = snapshot::named_path(&self.snapshot_dir, name);
                if self.jobs().any(taken) || path.symlink_metadata().is_ok() {
                    return Err(Refusal::Exists);
                }
            }
        }
        self.queue.push_back(job);
        Ok(())
    }

    /// A connection that waits for a job has gone: nobody is to be answered.
    pub fn forget_waiter(&mut self, key: usize) {
        let running = self.running.as_mut().map(|running| &mut running.job);
        for job in self.queue.iter_mut().chain(running) {
            if let Job::RequestedSnapshot { waiter } | Job::NamedSnapshot { waiter, .. } = job {
                if *waiter == Some(key) {
                    *waiter = None;
                }
            }
        }
    }

    /// Drops the jobs that have not started (shutdown); the running one is left to finish.
    pub fn drop_queued_jobs(&mut self) {
        for job in self.queue.drain(..) {
            debug!("{job} dropped: the server is shutting down");
        }
    }

    /// Reaps the running job's child if it has ended, then starts queued jobs until one is
    /// running or none is left. Never blocks. Returns every job that ended, in order.
    pub fn poll(&mut self, table: &Table) -> Vec<Finished> {
        let mut finished = Vec::new();
        if let Some(done) = self.reap() {
            finished.push(done);
        }
        while self.running.is_none() {
            let Some(job) = self.queue.pop_front() else {
                break;
            };
            if let Some(done) = self.start(job, table) {
                finished.push(done);
            }
        }
        finished
    }

    /// Forks a child for `job`. Returns the job as finished if it needs no child (nothing to
    /// save) or could not start.
    fn start(&mut self, job: Job, table: &Table) -> Option<Finished> {
        let started = Instant::now();
        let (target, install) = match &job {
            Job::Bgsave if !self.needs_save(table) => {
                debug!("BGSAVE skipped: nothing changed since the last save");
                return None;
            }
            Job::Bgsave => (self.data_file.clone(), Install::Replace),
            Job::PeriodicSnapshot | Job::RequestedSnapshot { .. } => {
                match self.next_timestamped_path() {
                    Ok(path) => (path, Install::Replace),
                    Err(cause) => {
                        let target = self.snapshot_dir.clone();
                        return Some(self.finish(
                            job,
                            target,
                            Some(cause),
                            started,
                            Duration::ZERO,
                            table,
                        ));
                    }
                }
            }
            Job::NamedSnapshot { name, .. } => (
                snapshot::named_path(&self.snapshot_dir, name),
                Install::NoReplace,
            ),
        };
        // A new timestamped snapshot first makes room: at most `keep` exist at any moment.
        let keep = match (&job, self.snapshots) {
            (Job::PeriodicSnapshot | Job::RequestedSnapshot { .. }, Some(config)) => config.keep,
            _ => 0,
        };
        let snapshot_dir = &self.snapshot_dir;
        let spawned = fork::spawn(|| {
            let make_room = || {
                if keep > 0 {
                    apply_retention(snapshot_dir, keep - 1);
                }
            };
            save::write_data_file(table, &target, install, make_room)
                .map(|report| report.to_string())
                .map_err(|error| error.to_string())
        });
        match spawned {
            Ok(child) => {
                info!(
                    "{job}{STARTED_BY_CHILD}{} (fork took {:.2} ms): writing {}",
                    child.pid(),
                    child.fork_time().as_secs_f64() * 1000.0,
                    target.display()
                );
                self.running = Some(RunningSave {
                    job,
                    target,
                    child,
                    started,
                    keys: table.len() as u64,
                    bytes: format::encoded_len(table),
                    changes: table.changes(),
                });
                None
            }
            Err(error) => {
                let cause = Some(format!("cannot fork: {error}"));
                let fork_time = started.elapsed();
                Some(self.finish(job, target, cause, started, fork_time, table))
            }
        }
    }

    /// The path of a new timestamped snapshot: after every existing one in name order.
    fn next_timestamped_path(&self) -> Result<PathBuf, String> {
        let listing = snapshot::list(&self.snapshot_dir)
            .map_err(|error| format!("cannot list {}: {error}", self.snapshot_dir.display()))?;
        let name = snapshot::next_timestamped_name(&UtcTime::now(), &listing.timestamped)
            .ok_or_else(|| "too many snapshots in one second".to_owned())?;
        Ok(self.snapshot_dir.join(name))
    }

    /// Checks, without blocking, whether the running job's child has ended.
    fn reap(&mut self) -> Option<Finished> {
        let running = self.running.as_mut()?;
        let exit = match running.child.try_wait() {
            Ok(Some(exit)) => exit,
            Ok(None) => return None,
            Err(error) => {
                // Nothing to reap (ECHILD) would mean the child is gone: treat it as failed.
                warn!(
                    "waitpid for save child {} failed: {error}",
                    running.child.pid()
                );
                fork::ChildExit {
                    status: ExitKind::Failed(-1),
                    report: format!("waitpid failed: {error}"),
                }
            }
        };
        let running = self.running.take()?;
        let pid = running.child.pid();
        let error = match exit.status {
            ExitKind::Success => {
                info!("{}{COMPLETED_BY_CHILD}{pid}: {}", running.job, exit.report);
                if running.job == Job::Bgsave {
                    self.saved_changes = Some(running.changes);
                }
                None
            }
            status => {
                // A child that was killed could not remove its temporary file.
                let temp = save::temp_path(&running.target, pid);
                if fs::remove_file(&temp).is_ok() {
                    debug!("Removed {} of the failed save", temp.display());
                }
                Some(if exit.report.is_empty() {
                    format!("save child {pid} {status}")
                } else {
                    format!("save child {pid} {status}: {}", exit.report)
                })
            }
        };
        let record = SaveRecord {
            kind: SaveKind::Background,
            target: running.target,
            error,
            finished: SystemTime::now(),
            duration: running.started.elapsed(),
            fork_time: running.child.fork_time(),
            keys: running.keys,
            bytes: running.bytes,
        };
        Some(self.conclude(running.job, record))
    }

    /// Records a job that ended without a child running it to the end.
    fn finish(
        &mut self,
        job: Job,
        target: PathBuf,
        error: Option<String>,
        started: Instant,
        fork_time: Duration,
        table: &Table,
    ) -> Finished {
        let record = SaveRecord {
            kind: SaveKind::Background,
            target,
            error,
            finished: SystemTime::now(),
            duration: started.elapsed(),
            fork_time,
            keys: table.len() as u64,
            bytes: format::encoded_len(table),
        };
        self.conclude(job, record)
    }

    /// Books a finished job: counts, health, retention, the last-save records.
    fn conclude(&mut self, job: Job, record: SaveRecord) -> Finished {
        let error = record.error.clone();
        if let Some(cause) = &error {
            error!("{job} failed: {cause}");
        }
        if job.affects_health(self.snapshots_failsafe()) {
            self.update_health(&job.to_string(), &error);
        }
        if job == Job::Bgsave {
            self.saves.count(&error);
            self.last_save = Some(record);
        } else {
            self.snapshot_counts.count(&error);
            self.last_snapshot = Some(record);
        }
        Finished { job, error }
    }

    /// Poisons on failure, clears the poison on success, and logs the change.
    fn update_health(&mut self, what: &str, error: &Option<String>) {
        match error {
            None => {
                if self.is_poisoned() {
                    info!("{what} succeeded: writes are accepted again");
                }
                self.health = Health::Good;
            }
            Some(cause) => {
                if !self.is_poisoned() {
                    error!(
                        "Writes are refused until a save succeeds (retrying at least every {} s)",
                        POISONED_RETRY_INTERVAL.as_secs()
                    );
                    self.health = Health::Poisoned {
                        cause: cause.clone(),
                        since: SystemTime::now(),
                    };
                }
            }
        }
    }

    /// Kills the running job's child, if any (shutdown does not wait for it after a second
    /// signal); reap it with [`Self::poll`].
    pub fn kill_running_save(&mut self) {
        if let Some(running) = &self.running {
            if let Err(error) = running.child.kill() {
                warn!("Cannot kill save child {}: {error}", running.child.pid());
            }
        }
    }

    /// Saves data.bin in this process, blocking: the shutdown save.
    pub fn save_in_foreground(&mut self, table: &Table) -> Result<SaveReport, SaveError> {
        let started = Instant::now();
        let result = save::write_data_file(table, &self.data_file, Install::Replace, || {});
        let error = result.as_ref().err().map(ToString::to_string);
        if let Some(cause) = &error {
            error!("shutdown save failed: {cause}");
        }
        if result.is_ok() {
            self.saved_changes = Some(table.changes());
        }
        self.update_health("shutdown save", &error);
        self.saves.count(&error);
        self.last_save = Some(SaveRecord {
            kind: SaveKind::Shutdown,
            target: self.data_file.clone(),
            error,
            finished: SystemTime::now(),
            duration: started.elapsed(),
            fork_time: Duration::ZERO,
            keys: table.len() as u64,
            bytes: format::encoded_len(table),
        });
        result
    }

    /// What `SYS INFO persistence` reports.
    pub fn status(&self, table: &Table) -> PersistenceStatus {
        PersistenceStatus {
            health: self.health.clone(),
            saving: self.running.is_some(),
            changes_since_save: table
                .changes()
                .saturating_sub(self.saved_changes.unwrap_or(0)),
            last_save: self.last_save.clone(),
            saves: self.saves,
            last_snapshot: self.last_snapshot.clone(),
            snapshots: self.snapshot_counts,
            data_file_bytes: fs::metadata(&self.data_file).map_or(0, |meta| meta.len()),
        }
    }
}

/// Deletes the oldest timestamped snapshots until `keep` remain. Housekeeping: a failure is
/// logged and never fails or poisons anything. Runs in the snapshot's child, just before the
/// new snapshot takes its name.
fn apply_retention(snapshot_dir: &Path, keep: usize) {
    let (deleted, failure) = snapshot::apply_retention(snapshot_dir, keep);
    for name in deleted {
        info!("Removed old snapshot {}", snapshot_dir.join(name).display());
    }
    if let Some(error) = failure {
        warn!(
            "Cannot remove old snapshots in {}: {error}",
            snapshot_dir.display()
        );
    }
}

/// A snapshot of the persistence state, for the status actions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersistenceStatus {
    pub health: Health,
    pub saving: bool,
    pub changes_since_save: u64,
    /// The last save of data.bin (BGSAVE or shutdown).
    pub last_save: Option<SaveRecord>,
    pub saves: Counts,
    /// The last snapshot (periodic, MKSNAP, or named).
    pub last_snapshot: Option<SaveRecord>,
    pub snapshots: Counts,
    pub data_file_bytes: u64,
}

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
mod history;
mod job;
pub mod journal;
#[cfg(test)]
mod layout_doc;
pub mod legacy;
pub mod load;
pub mod lock;
pub mod save;
pub mod snapshot;
mod startup;

use std::collections::VecDeque;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use log::{debug, error, info, warn};

use crate::config::{JournalFsync, SnapshotConfig};
use crate::log_lines::{COMPLETED_BY_CHILD, STARTED_BY_CHILD};
use crate::table::{Table, Undoable};
use crate::utc::UtcTime;
use fork::Child;
pub use fork::ExitKind;
pub use history::{Counts, Health, History, PersistenceStatus, SaveKind, SaveRecord};
pub use job::{Job, JobError, JobResult, Refusal};
use journal::{Journal, COMPACTION_MIN_BYTES};
use lock::DataDirLock;
use save::Install;
pub use save::{SaveError, SaveReport};
pub use startup::{StartupError, DATA_FILE_NAME};

/// What became of the writes executed since the last commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Commit {
    /// In the journal (or there is no journal): their answers may be sent.
    Committed,
    /// The journal could not take them (they were undone in `always` mode, kept in memory in
    /// the others): no answer given since the last commit may reach a client, since it may
    /// acknowledge or show one of them.
    Failed,
}

/// A save child still running after this long leaves the idle scheduling class.
const SAVE_IDLE_LIMIT: Duration = Duration::from_secs(2);

/// While poisoned, a save is retried at least this often.
pub const POISONED_RETRY_INTERVAL: Duration = Duration::from_secs(5);

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
    /// For a BGSAVE with the journal on: the segment started at the fork, the first one the
    /// new data.bin does not contain.
    journal_segment: Option<u64>,
    /// It has been moved out of the idle scheduling class.
    raised: bool,
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
    /// Saves of data.bin.
    data_file_history: History,
    snapshot_history: History,
    /// The write-ahead journal, when enabled.
    journal: Option<Journal>,
    /// data.bin's size as of its last save (or the start), for the journal's compaction.
    data_file_bytes: u64,
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
        journal: Option<JournalFsync>,
    ) -> Result<(Persistence, Table), StartupError> {
        let mut opened = startup::open(data_dir, restore, journal)?;
        if let Some(journal) = &opened.journal {
            // Only `always` takes writes back when a commit fails: in the other modes an
            // acknowledged write may be lost to a power cut anyway, so a failed commit's
            // writes stay in memory (unacknowledged) and reach the next data.bin.
            opened.table.start_change_log(match journal.mode() {
                JournalFsync::Always => Undoable::Yes,
                JournalFsync::EverySec | JournalFsync::No => Undoable::No,
            });
        }
        let data_file_bytes = fs::metadata(&opened.data_file).map_or(0, |meta| meta.len());
        let persistence = Persistence {
            data_file: opened.data_file,
            snapshot_dir: opened.snapshot_dir,
            snapshots,
            health: Health::Good,
            queue: VecDeque::new(),
            running: None,
            saved_changes: opened.saved_changes,
            data_file_history: History::default(),
            snapshot_history: History::default(),
            journal: opened.journal,
            data_file_bytes,
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

    pub fn is_saving(&self) -> bool {
        self.running.is_some()
    }

    /// The job a child is running now, if any.
    pub fn running_job(&self) -> Option<&Job> {
        self.running.as_ref().map(|running| &running.job)
    }

    /// Whether a failed periodic snapshot poisons (and so must be retried while poisoned).
    fn snapshots_failsafe(&self) -> bool {
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
            Job::PeriodicSnapshot | &Job::PERIODIC_BGSAVE => {
                if self.queue.contains(&job) {
                    return Ok(());
                }
            }
            // A BGSAVE someone waits for is queued even behind another one: it must save what
            // the table holds when it was asked for.
            Job::Bgsave { waiter: Some(_) } => {}
            Job::RequestedSnapshot { .. } => {
                if self.snapshots.is_none() {
                    return Err(Refusal::Disabled);
                }
                if self.jobs().any(Job::is_timestamped_snapshot) {
                    return Err(Refusal::Busy);
                }
            }
            Job::NamedSnapshot { name, .. } => {
                if !snapshot::is_valid_snapshot_name(name) {
                    return Err(Refusal::InvalidName);
                }
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
        for waiter in self
            .queue
            .iter_mut()
            .chain(running)
            .filter_map(Job::waiter_mut)
        {
            if *waiter == Some(key) {
                *waiter = None;
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
    pub fn poll(&mut self, table: &Table) -> Vec<JobResult> {
        let mut finished = Vec::new();
        if let Some(done) = self.reap() {
            finished.push(done);
        }
        self.stop_starving_the_running_save();
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

    /// A save child yields the CPU to everything else; one that has run for long is raised to
    /// normal (batch) priority, once, so that a machine kept busy by other processes cannot
    /// put off a save indefinitely.
    fn stop_starving_the_running_save(&mut self) {
        let Some(running) = &mut self.running else {
            return;
        };
        if running.raised || running.started.elapsed() < SAVE_IDLE_LIMIT {
            return;
        }
        running.raised = true;
        match running.child.stop_yielding() {
            Ok(()) => info!(
                "{} by child {} has run {} s in the idle scheduling class; it now runs at \
                 normal priority",
                running.job,
                running.child.pid(),
                SAVE_IDLE_LIMIT.as_secs()
            ),
            Err(error) => debug!(
                "cannot raise the priority of save child {}: {error}",
                running.child.pid()
            ),
        }
    }

    /// Forks a child for `job`. Returns the job as finished if it needs no child (nothing to
    /// save) or could not start.
    fn start(&mut self, job: Job, table: &Table) -> Option<JobResult> {
        let started = Instant::now();
        let (target, install) = match &job {
            Job::Bgsave { waiter } if !self.needs_save(table) => {
                debug!("BGSAVE skipped: nothing changed since the last save");
                return waiter.is_some().then_some(JobResult {
                    job,
                    succeeded: true,
                });
            }
            Job::Bgsave { .. } => (self.data_file.clone(), Install::Replace),
            Job::PeriodicSnapshot | Job::RequestedSnapshot { .. } => {
                match self.next_timestamped_path() {
                    Ok(path) => (path, Install::Replace),
                    Err(error) => {
                        let target = self.snapshot_dir.clone();
                        let tried = Duration::ZERO;
                        return Some(self.fail_without_child(job, target, error, tried, table));
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
        // A BGSAVE compacts the journal: frames from the fork on go to a fresh segment, which
        // the new data.bin names as the first it does not contain.
        let journal_segment = match (&job, &mut self.journal) {
            (Job::Bgsave { .. }, Some(journal)) => match journal.rotate() {
                Ok(segment) => Some(segment),
                Err(error) => {
                    let tried = started.elapsed();
                    let error = JobError::Journal(error);
                    return Some(self.fail_without_child(job, target, error, tried, table));
                }
            },
            _ => None,
        };
        // ... and, once its data.bin is durable, deletes the segments before that one.
        let obsolete = match (journal_segment, &self.journal) {
            (Some(segment), Some(journal)) => journal.segment_paths_before(segment),
            _ => Vec::new(),
        };
        let snapshot_dir = &self.snapshot_dir;
        let spawned = fork::spawn(|| {
            let make_room = || {
                if keep > 0 {
                    apply_retention(snapshot_dir, keep - 1);
                }
            };
            let segment = journal_segment.unwrap_or(0);
            save::write_data_file(table, &target, install, segment, make_room)
                .map(|report| report.to_string() + &remove_files(&obsolete))
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
                    journal_segment,
                    raised: false,
                });
                None
            }
            Err(error) => {
                let tried = started.elapsed();
                Some(self.fail_without_child(job, target, JobError::Fork(error), tried, table))
            }
        }
    }

    /// The path of a new timestamped snapshot: after every existing one in name order.
    fn next_timestamped_path(&self) -> Result<PathBuf, JobError> {
        let listing =
            snapshot::list(&self.snapshot_dir).map_err(|source| JobError::ListSnapshots {
                dir: self.snapshot_dir.clone(),
                source,
            })?;
        let name = snapshot::next_timestamped_name(&UtcTime::now(), &listing.timestamped)
            .ok_or(JobError::TooManyInOneSecond)?;
        Ok(self.snapshot_dir.join(name))
    }

    /// Checks, without blocking, whether the running job's child has ended.
    fn reap(&mut self) -> Option<JobResult> {
        let running = self.running.as_mut()?;
        let pid = running.child.pid();
        let outcome = match running.child.try_wait() {
            Ok(None) => return None,
            Ok(Some(exit)) if exit.status == ExitKind::Success => {
                info!("{}{COMPLETED_BY_CHILD}{pid}: {}", running.job, exit.report);
                Ok(())
            }
            Ok(Some(exit)) => Err(JobError::Child {
                pid,
                exit: exit.status,
                report: exit.report,
            }),
            // Nothing to reap (ECHILD) would mean the child is gone: treat it as failed.
            Err(source) => Err(JobError::Reap { pid, source }),
        };
        let running = self.running.take()?;
        match &outcome {
            Ok(()) if matches!(running.job, Job::Bgsave { .. }) => {
                self.saved_changes = Some(running.changes);
                self.data_file_bytes = running.bytes;
                // The child deleted their files.
                if let (Some(journal), Some(segment)) = (&mut self.journal, running.journal_segment)
                {
                    journal.compacted(segment);
                }
            }
            Ok(()) => {}
            Err(_) => {
                // A child that was killed could not remove its temporary file.
                let temp = save::temp_path(&running.target, pid);
                if fs::remove_file(&temp).is_ok() {
                    debug!("Removed {} of the failed save", temp.display());
                }
            }
        }
        let record = SaveRecord {
            kind: save_kind(&running.job),
            target: running.target,
            outcome,
            finished: SystemTime::now(),
            duration: running.started.elapsed(),
            fork_time: running.child.fork_time(),
            keys: running.keys,
            bytes: running.bytes,
        };
        Some(self.book_job(running.job, record))
    }

    /// Books a job that failed before any child could run it; `fork_time` is the time spent
    /// trying (in `fork`, or none).
    fn fail_without_child(
        &mut self,
        job: Job,
        target: PathBuf,
        error: JobError,
        fork_time: Duration,
        table: &Table,
    ) -> JobResult {
        let record = SaveRecord {
            kind: save_kind(&job),
            target,
            outcome: Err(error),
            finished: SystemTime::now(),
            duration: fork_time,
            fork_time,
            keys: table.len() as u64,
            bytes: format::encoded_len(table),
        };
        self.book_job(job, record)
    }

    fn book_job(&mut self, job: Job, record: SaveRecord) -> JobResult {
        let affects_health = job.affects_health(self.snapshots_failsafe());
        let succeeded = record.outcome.is_ok();
        self.book(&job.to_string(), affects_health, record);
        JobResult { job, succeeded }
    }

    /// The one place a finished save is booked, whatever ran it: the log line of a failure,
    /// health (if this save decides it), the counts and the last record of its kind of file.
    fn book(&mut self, what: &str, affects_health: bool, record: SaveRecord) {
        if let Err(error) = &record.outcome {
            error!("{what} failed: {error}");
        }
        if affects_health {
            match &record.outcome {
                Ok(()) => self.heal(what),
                Err(error) => self.poison(error.to_string()),
            }
        }
        match record.kind {
            SaveKind::Bgsave | SaveKind::Shutdown => self.data_file_history.record(record),
            SaveKind::Snapshot => self.snapshot_history.record(record),
        }
    }

    /// A save that decides health succeeded: writes are accepted (again), unless the journal
    /// failed since the save began (only the next BGSAVE's fresh segment clears that).
    fn heal(&mut self, what: &str) {
        if self.journal.as_ref().is_some_and(Journal::is_failed) {
            return;
        }
        if self.is_poisoned() {
            info!("{what} succeeded: writes are accepted again");
        }
        self.health = Health::Good;
    }

    /// Writes are refused from now on, until a save succeeds. The first cause is kept.
    fn poison(&mut self, cause: String) {
        if !self.is_poisoned() {
            error!(
                "Writes are refused until a save succeeds (retrying at least every {} s)",
                POISONED_RETRY_INTERVAL.as_secs()
            );
            self.health = Health::Poisoned {
                cause,
                since: SystemTime::now(),
            };
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

    /// Saves data.bin in this process, blocking: the shutdown save. It clears the poison when
    /// it succeeds, as a BGSAVE does. `None` if it failed (the failure is logged and booked).
    pub fn save_in_foreground(&mut self, table: &Table) -> Option<SaveReport> {
        let started = Instant::now();
        // Everything in memory goes into data.bin, so every journal segment becomes obsolete.
        let following = self.journal.as_ref().map_or(0, Journal::following_segment);
        let result =
            save::write_data_file(table, &self.data_file, Install::Replace, following, || {});
        if let Ok(report) = &result {
            self.saved_changes = Some(table.changes());
            self.data_file_bytes = report.bytes;
            if let Some(journal) = &mut self.journal {
                remove_obsolete_segments(journal, following);
            }
        }
        let (report, outcome) = match result {
            Ok(report) => (Some(report), Ok(())),
            Err(error) => (None, Err(JobError::Save(error))),
        };
        let record = SaveRecord {
            kind: SaveKind::Shutdown,
            target: self.data_file.clone(),
            outcome,
            finished: SystemTime::now(),
            duration: started.elapsed(),
            fork_time: Duration::ZERO,
            keys: table.len() as u64,
            bytes: format::encoded_len(table),
        };
        self.book("shutdown save", true, record);
        report
    }

    /// The journal's mode, or `None` when it is off.
    pub fn journal_mode(&self) -> Option<JournalFsync> {
        self.journal.as_ref().map(Journal::mode)
    }

    /// Commits the writes executed since the last commit: one frame in the journal (durable
    /// in `always` mode) and the table's change log cleared. If the journal cannot take it,
    /// the server is poisoned and the writes are not acknowledged: in `always` mode they are
    /// rolled back in the table; in the others they stay in memory for the next data.bin.
    pub fn commit(&mut self, table: &mut Table) -> Commit {
        let (Some(journal), Some(log)) = (&mut self.journal, table.change_log()) else {
            return Commit::Committed;
        };
        if log.is_empty() {
            return Commit::Committed;
        }
        let (body, records) = log.effects();
        match journal.commit(body, records) {
            Ok(()) => {
                table.commit_changes();
                Commit::Committed
            }
            Err(error) => {
                let undone = log.keeps_undo();
                table.roll_back_changes();
                if undone {
                    error!("{error}: the writes of this turn are rolled back and not acknowledged");
                } else {
                    error!(
                        "{error}: the writes of this turn are not acknowledged; they stay in \
                         memory and reach the next data.bin"
                    );
                }
                self.poison(error.to_string());
                Commit::Failed
            }
        }
    }

    /// `everysec`: makes the journal's frames durable (called once a second). A failure
    /// poisons; the writes it held were acknowledged already and stay in memory.
    pub fn sync_journal(&mut self) {
        let Some(journal) = &mut self.journal else {
            return;
        };
        if !journal.has_unsynced() {
            return;
        }
        if let Err(error) = journal.sync() {
            error!("{error}");
            self.poison(error.to_string());
        }
    }

    /// Whether the journal has grown enough since the last compaction to ask for a BGSAVE:
    /// past max(64 MiB, data.bin's size).
    pub fn journal_wants_compaction(&self) -> bool {
        self.journal.as_ref().is_some_and(|journal| {
            journal.status().bytes_since_compaction
                >= COMPACTION_MIN_BYTES.max(self.data_file_bytes)
        })
    }

    /// What `SYS INFO persistence` reports.
    pub fn status(&self, table: &Table) -> PersistenceStatus<'_> {
        PersistenceStatus {
            health: &self.health,
            saving: self.running.is_some(),
            changes_since_save: table
                .changes()
                .saturating_sub(self.saved_changes.unwrap_or(0)),
            data_file: &self.data_file_history,
            snapshots: &self.snapshot_history,
            journal: self
                .journal
                .as_ref()
                .map(|journal| (journal.mode(), journal.status())),
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

fn save_kind(job: &Job) -> SaveKind {
    match job {
        Job::Bgsave { .. } => SaveKind::Bgsave,
        Job::PeriodicSnapshot | Job::RequestedSnapshot { .. } | Job::NamedSnapshot { .. } => {
            SaveKind::Snapshot
        }
    }
}

/// Deletes the journal segments a durable data.bin contains (those before `first_kept`).
fn remove_obsolete_segments(journal: &mut Journal, first_kept: u64) {
    let obsolete = journal.compacted(first_kept);
    for (segment, error) in journal.remove_segments(&obsolete) {
        warn!(
            "Cannot remove the obsolete journal segment {}: {error}",
            journal::format::segment_file_name(segment)
        );
    }
}

/// In a BGSAVE child: deletes the obsolete journal segments `paths`; what could not be
/// deleted (harmless: the next start skips and removes such segments) is said in the text
/// returned, which the child's report ends with.
fn remove_files(paths: &[PathBuf]) -> String {
    let mut left = String::new();
    for path in paths {
        match fs::remove_file(path) {
            Err(error) if error.kind() != io::ErrorKind::NotFound => {
                left += &format!("; cannot remove the obsolete {}: {error}", path.display());
            }
            _ => {}
        }
    }
    left
}

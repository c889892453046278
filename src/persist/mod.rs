//! Persistence: keeping the table on disk, and knowing whether that is working.
//!
//! [`Persistence`] owns the data directory (locked for the life of the process), loads
//! `data.bin` at start, runs background saves in forked children one at a time, and holds the
//! one piece of state writes depend on: [`Health`]. A failed save poisons the server (writes
//! are refused, reads are served) until a later save succeeds. The event loop decides *when*
//! to save; this module decides *whether* there is anything to save and does it.

mod fork;
pub mod format;
pub mod legacy;
mod load;
mod lock;
pub mod save;

use std::fmt;
use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use log::{debug, error, info, warn};

use crate::action::Writes;
use crate::table::Table;
use fork::{Child, ExitKind};
use load::{LoadError, Origin};
use lock::{DataDirLock, LockError};
pub use save::{SaveError, SaveReport};

/// The data file's name inside the data directory.
pub const DATA_FILE_NAME: &str = "data.bin";
/// An imported Skytable 0.6 data file is kept under this name before it is rewritten.
pub const SKYTABLE_BACKUP_NAME: &str = "data.bin.skytable-0.6";
/// While poisoned, a save is retried at least this often.
pub const POISONED_RETRY_INTERVAL: Duration = Duration::from_secs(5);

/// Whether saves are working. Poisoned is the state skyd calls a poisoned table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    Good,
    Poisoned { cause: String, since: SystemTime },
}

/// What kind of save a record describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaveKind {
    /// A periodic save in a forked child.
    Background,
    /// The save in the server itself, at shutdown.
    Shutdown,
}

impl fmt::Display for SaveKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SaveKind::Background => "BGSAVE",
            SaveKind::Shutdown => "shutdown save",
        })
    }
}

/// The outcome of the most recent save.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaveRecord {
    pub kind: SaveKind,
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

/// A save in a child process.
#[derive(Debug)]
struct RunningSave {
    child: Child,
    started: Instant,
    keys: u64,
    bytes: u64,
    /// `table.changes()` at the fork: what the file will hold if the save succeeds.
    changes: u64,
}

/// Why the server cannot start on this data directory.
#[derive(Debug)]
pub enum StartupError {
    CreateDirectory {
        path: PathBuf,
        source: io::Error,
    },
    Lock(LockError),
    CleanUp {
        path: PathBuf,
        source: io::Error,
    },
    Migrate {
        from: PathBuf,
        to: PathBuf,
        source: io::Error,
    },
    Backup {
        path: PathBuf,
        source: io::Error,
    },
    Load(LoadError),
}

impl fmt::Display for StartupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartupError::CreateDirectory { path, source } => write!(
                f,
                "Failed to create the data directory {}: {source}",
                path.display()
            ),
            StartupError::Lock(error) => write!(f, "Startup failure: {error}"),
            StartupError::CleanUp { path, source } => write!(
                f,
                "Failed to remove leftover temporary files in {}: {source}",
                path.display()
            ),
            StartupError::Migrate { from, to, source } => write!(
                f,
                "Failed to move {} to {}: {source}",
                from.display(),
                to.display()
            ),
            StartupError::Backup { path, source } => write!(
                f,
                "Failed to keep a copy of the Skytable data file as {}: {source}",
                path.display()
            ),
            StartupError::Load(error) => write!(
                f,
                "Error while initializing database: {error}. The file was left untouched; \
                 restore it from a backup or a snapshot, or move it away to start empty"
            ),
        }
    }
}

impl std::error::Error for StartupError {}

pub struct Persistence {
    data_file: PathBuf,
    health: Health,
    running: Option<RunningSave>,
    /// `table.changes()` when the data file last held exactly the table; `None` when the file
    /// does not hold it at all (an imported Skytable file, to be rewritten in our format).
    saved_changes: Option<u64>,
    last_save: Option<SaveRecord>,
    saves_succeeded: u64,
    saves_failed: u64,
    _lock: DataDirLock,
}

impl Persistence {
    /// Creates and locks the data directory, removes what a crash left behind, and loads
    /// `data.bin` (or imports a Skytable 0.6 one, or moves one from the working directory).
    pub fn open(data_dir: &Path) -> Result<(Persistence, Table), StartupError> {
        fs::create_dir_all(data_dir).map_err(|source| StartupError::CreateDirectory {
            path: data_dir.to_owned(),
            source,
        })?;
        let lock = lock::acquire(data_dir).map_err(StartupError::Lock)?;
        let stale =
            save::remove_stale_temp_files(data_dir).map_err(|source| StartupError::CleanUp {
                path: data_dir.to_owned(),
                source,
            })?;
        for path in stale {
            warn!(
                "Removed {}, left by a save that did not finish",
                path.display()
            );
        }
        let data_file = data_dir.join(DATA_FILE_NAME);
        migrate_from_working_directory(&data_file)?;
        let started = Instant::now();
        let loaded = load::load_data_file(&data_file).map_err(StartupError::Load)?;
        let (table, saved_changes) = match loaded {
            None => {
                info!(
                    "No data file at {}: starting with an empty table",
                    data_file.display()
                );
                (Table::new(), Some(0))
            }
            Some(loaded) => {
                info!(
                    "Loaded {} keys ({} bytes) from {} in {:.1} ms",
                    loaded.table.len(),
                    loaded.bytes,
                    data_file.display(),
                    started.elapsed().as_secs_f64() * 1000.0
                );
                match loaded.origin {
                    Origin::Stratus => {
                        let changes = loaded.table.changes();
                        (loaded.table, Some(changes))
                    }
                    Origin::Skytable06 {
                        ignored_trailing_bytes,
                    } => {
                        keep_skytable_original(&data_file, ignored_trailing_bytes)?;
                        (loaded.table, None)
                    }
                }
            }
        };
        let persistence = Persistence {
            data_file,
            health: Health::Good,
            running: None,
            saved_changes,
            last_save: None,
            saves_succeeded: 0,
            saves_failed: 0,
            _lock: lock,
        };
        Ok((persistence, table))
    }

    pub fn data_file(&self) -> &Path {
        &self.data_file
    }

    pub fn health(&self) -> &Health {
        &self.health
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

    /// Whether a save would change anything: the table changed since the last good save, or
    /// the file does not hold it yet, or the server is poisoned (a good save clears that).
    pub fn needs_save(&self, table: &Table) -> bool {
        self.saved_changes != Some(table.changes()) || self.is_poisoned()
    }

    /// Starts a background save of `table` unless one is running. A fork failure poisons.
    pub fn start_background_save(&mut self, table: &Table) {
        if self.running.is_some() {
            return;
        }
        let target = self.data_file.clone();
        let started = Instant::now();
        let spawned = fork::spawn(|| {
            save::write_data_file(table, &target)
                .map(|report| report.to_string())
                .map_err(|error| error.to_string())
        });
        match spawned {
            Ok(child) => {
                info!(
                    "BGSAVE started by child {} (fork took {:.2} ms)",
                    child.pid(),
                    child.fork_time().as_secs_f64() * 1000.0
                );
                self.running = Some(RunningSave {
                    child,
                    started,
                    keys: table.len() as u64,
                    bytes: format::encoded_len(table),
                    changes: table.changes(),
                });
            }
            Err(error) => {
                let record = SaveRecord {
                    kind: SaveKind::Background,
                    error: Some(format!("cannot fork: {error}")),
                    finished: SystemTime::now(),
                    duration: started.elapsed(),
                    fork_time: started.elapsed(),
                    keys: table.len() as u64,
                    bytes: format::encoded_len(table),
                };
                self.record(record);
            }
        }
    }

    /// Checks, without blocking, whether the running save has ended; records its outcome.
    /// Returns whether a save ended.
    pub fn reap(&mut self) -> bool {
        let Some(running) = &mut self.running else {
            return false;
        };
        let exit = match running.child.try_wait() {
            Ok(Some(exit)) => exit,
            Ok(None) => return false,
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
        let Some(running) = self.running.take() else {
            return false;
        };
        let pid = running.child.pid();
        let error = match exit.status {
            ExitKind::Success => {
                info!(
                    "BGSAVE completed successfully by child {pid}: {}",
                    exit.report
                );
                self.saved_changes = Some(running.changes);
                None
            }
            status => {
                // A child that was killed could not remove its temporary file.
                let temp = save::temp_path(&self.data_file, pid);
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
        self.record(SaveRecord {
            kind: SaveKind::Background,
            error,
            finished: SystemTime::now(),
            duration: running.started.elapsed(),
            fork_time: running.child.fork_time(),
            keys: running.keys,
            bytes: running.bytes,
        });
        true
    }

    /// Kills the running save, if any (shutdown does not wait for it after a second signal).
    pub fn kill_running_save(&mut self) {
        if let Some(running) = &self.running {
            if let Err(error) = running.child.kill() {
                warn!("Cannot kill save child {}: {error}", running.child.pid());
            }
        }
    }

    /// Saves in this process, blocking: the shutdown save.
    pub fn save_in_foreground(&mut self, table: &Table) -> Result<SaveReport, SaveError> {
        let started = Instant::now();
        let result = save::write_data_file(table, &self.data_file);
        let error = result.as_ref().err().map(ToString::to_string);
        if result.is_ok() {
            self.saved_changes = Some(table.changes());
        }
        self.record(SaveRecord {
            kind: SaveKind::Shutdown,
            error,
            finished: SystemTime::now(),
            duration: started.elapsed(),
            fork_time: Duration::ZERO,
            keys: table.len() as u64,
            bytes: format::encoded_len(table),
        });
        result
    }

    /// Updates health from a finished save and logs what changed.
    fn record(&mut self, record: SaveRecord) {
        match &record.error {
            None => {
                self.saves_succeeded += 1;
                if let Health::Poisoned { .. } = self.health {
                    info!("{} succeeded: writes are accepted again", record.kind);
                }
                self.health = Health::Good;
            }
            Some(cause) => {
                self.saves_failed += 1;
                error!("{} failed: {cause}", record.kind);
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
        self.last_save = Some(record);
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
            saves_succeeded: self.saves_succeeded,
            saves_failed: self.saves_failed,
            data_file_bytes: fs::metadata(&self.data_file).map_or(0, |meta| meta.len()),
        }
    }
}

/// A snapshot of the persistence state, for the status actions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersistenceStatus {
    pub health: Health,
    pub saving: bool,
    pub changes_since_save: u64,
    pub last_save: Option<SaveRecord>,
    pub saves_succeeded: u64,
    pub saves_failed: u64,
    pub data_file_bytes: u64,
}

/// skyd 0.5 kept `data.bin` in the working directory: if the data directory has none and the
/// working directory has one, move it in (the seed's backward-compatibility path).
fn migrate_from_working_directory(data_file: &Path) -> Result<(), StartupError> {
    let old = Path::new(DATA_FILE_NAME);
    if data_file.exists() || !old.is_file() {
        return Ok(());
    }
    let same_file = fs::canonicalize(old)
        .ok()
        .zip(
            data_file
                .parent()
                .and_then(|dir| fs::canonicalize(dir).ok()),
        )
        .is_some_and(|(old, dir)| old.parent() == Some(dir.as_path()));
    if same_file {
        return Ok(());
    }
    warn!(
        "Your data file was found in the working directory and not in {}: moving it there",
        data_file.display()
    );
    let migrate_error = |source| StartupError::Migrate {
        from: old.to_owned(),
        to: data_file.to_owned(),
        source,
    };
    if let Err(error) = fs::rename(old, data_file) {
        if error.kind() != io::ErrorKind::CrossesDevices {
            return Err(migrate_error(error));
        }
        // Another file system: copy, make the copy durable, then remove the original.
        fs::copy(old, data_file).map_err(migrate_error)?;
        fs::File::open(data_file)
            .and_then(|file| file.sync_all())
            .map_err(migrate_error)?;
        fs::remove_file(old).map_err(migrate_error)?;
    }
    fs::set_permissions(data_file, fs::Permissions::from_mode(save::DATA_FILE_MODE))
        .map_err(migrate_error)?;
    save::sync_directory(data_file)
        .map_err(|error| migrate_error(io::Error::other(error.to_string())))
}

/// An imported Skytable file will be replaced at the next save; keep the original.
fn keep_skytable_original(
    data_file: &Path,
    ignored_trailing_bytes: u64,
) -> Result<(), StartupError> {
    let backup = data_file.with_file_name(SKYTABLE_BACKUP_NAME);
    if ignored_trailing_bytes > 0 {
        warn!(
            "Ignored {ignored_trailing_bytes} bytes after the last entry of {}, as skyd did",
            data_file.display()
        );
    }
    if backup.exists() {
        warn!(
            "Imported a Skytable 0.6 data file; {} already exists and was kept as it is",
            backup.display()
        );
        return Ok(());
    }
    let backup_error = |source| StartupError::Backup {
        path: backup.clone(),
        source,
    };
    fs::copy(data_file, &backup).map_err(backup_error)?;
    // fs::copy takes the original's permissions; the copy holds the whole database.
    fs::set_permissions(&backup, fs::Permissions::from_mode(save::DATA_FILE_MODE))
        .map_err(backup_error)?;
    warn!(
        "Imported a Skytable 0.6 data file; the original is kept as {} and {} will be \
         rewritten in the Stratus format at the next save",
        backup.display(),
        data_file.display()
    );
    Ok(())
}

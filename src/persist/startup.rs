//! Opening the data directory at start: create and lock it, remove what a crash left behind,
//! move a `data.bin` in from the working directory, then load the table from `data.bin` or
//! from the snapshot `--restore` names. Nothing here modifies a data file it cannot read.

use std::fmt;
use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use log::{info, warn};

use super::load::{self, LoadError, Origin};
use super::lock::{self, DataDirLock, LockError};
use super::save;
use super::snapshot::{self, RestoreNameError};
use crate::table::Table;

/// The data file's name inside the data directory.
pub const DATA_FILE_NAME: &str = "data.bin";
/// An imported Skytable 0.6 data file is kept under this name before it is rewritten.
const SKYTABLE_BACKUP_NAME: &str = "data.bin.skytable-0.6";

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
    RestoreName(RestoreNameError),
    RestoreMissing(PathBuf),
}

impl fmt::Display for StartupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartupError::CreateDirectory { path, source } => {
                write!(
                    f,
                    "Failed to create the directory {}: {source}",
                    path.display()
                )
            }
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
            StartupError::RestoreName(error) => error.fmt(f),
            StartupError::RestoreMissing(path) => write!(
                f,
                "Error while initializing database: cannot restore {}: no such snapshot",
                path.display()
            ),
        }
    }
}

impl std::error::Error for StartupError {}

/// What opening produced.
pub struct Opened {
    pub lock: DataDirLock,
    pub data_file: PathBuf,
    pub snapshot_dir: PathBuf,
    pub table: Table,
    /// `table.changes()` if data.bin holds exactly the table; `None` if it must be rewritten
    /// (an imported Skytable file, a restored snapshot).
    pub saved_changes: Option<u64>,
}

pub fn open(data_dir: &Path, restore: Option<&Path>) -> Result<Opened, StartupError> {
    let snapshot_dir = data_dir.join(snapshot::SNAPSHOT_DIR_NAME);
    let remote_dir = snapshot_dir.join(snapshot::REMOTE_DIR_NAME);
    fs::create_dir_all(&remote_dir).map_err(|source| StartupError::CreateDirectory {
        path: remote_dir.clone(),
        source,
    })?;
    let lock = lock::acquire(data_dir).map_err(StartupError::Lock)?;
    for dir in [data_dir, &snapshot_dir, &remote_dir] {
        remove_stale_temp_files(dir)?;
    }
    warn_about_unrecognised_snapshots(&snapshot_dir);
    let data_file = data_dir.join(DATA_FILE_NAME);
    migrate_from_working_directory(&data_file)?;
    let (table, saved_changes) = match restore {
        Some(name) => {
            let path =
                snapshot::restore_path(&snapshot_dir, name).map_err(StartupError::RestoreName)?;
            let (table, _) = load_file(&path, Imported::LeaveAsIs)?
                .ok_or(StartupError::RestoreMissing(path.clone()))?;
            info!(
                "Restored {} keys from {}; {} will be replaced by them at the next save",
                table.len(),
                path.display(),
                data_file.display()
            );
            (table, None)
        }
        None => match load_file(&data_file, Imported::KeepOriginal)? {
            None => {
                info!(
                    "No data file at {}: starting with an empty table",
                    data_file.display()
                );
                (Table::new(), Some(0))
            }
            Some((table, Origin::Skytable06 { .. })) => (table, None),
            Some((table, Origin::Stratus { .. })) => {
                let changes = table.changes();
                (table, Some(changes))
            }
        },
    };
    Ok(Opened {
        lock,
        data_file,
        snapshot_dir,
        table,
        saved_changes,
    })
}

/// What to do with a Skytable 0.6 file once it is loaded.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Imported {
    /// data.bin: the next save replaces it, so keep a copy of the original.
    KeepOriginal,
    /// A restored snapshot: nothing will replace it.
    LeaveAsIs,
}

/// Loads `path` in either format.
fn load_file(path: &Path, imported: Imported) -> Result<Option<(Table, Origin)>, StartupError> {
    let started = Instant::now();
    let Some(loaded) = load::load_data_file(path).map_err(StartupError::Load)? else {
        return Ok(None);
    };
    info!(
        "Loaded {} keys ({} bytes) from {} in {:.1} ms",
        loaded.table.len(),
        loaded.bytes,
        path.display(),
        started.elapsed().as_secs_f64() * 1000.0
    );
    if let Origin::Skytable06 {
        ignored_trailing_bytes,
    } = loaded.origin
    {
        if ignored_trailing_bytes > 0 {
            warn!(
                "Ignored {ignored_trailing_bytes} bytes after the last entry of {}, as skyd did",
                path.display()
            );
        }
        if imported == Imported::KeepOriginal {
            keep_skytable_original(path)?;
        }
    }
    Ok(Some((loaded.table, loaded.origin)))
}

fn remove_stale_temp_files(dir: &Path) -> Result<(), StartupError> {
    let stale = save::remove_stale_temp_files(dir).map_err(|source| StartupError::CleanUp {
        path: dir.to_owned(),
        source,
    })?;
    for path in stale {
        warn!(
            "Removed {}, left by a save that did not finish",
            path.display()
        );
    }
    Ok(())
}

/// skyd 0.6.4 disabled snapshots for the whole run if it found a file it did not expect;
/// Stratus says so and leaves the file alone.
fn warn_about_unrecognised_snapshots(snapshot_dir: &Path) {
    match snapshot::list(snapshot_dir) {
        Ok(listing) => {
            for name in listing.unrecognised {
                warn!(
                    "Ignoring {}: not a snapshot file name (YYYYMMDD-HHMMSS.snapshot)",
                    snapshot_dir.join(name).display()
                );
            }
        }
        Err(error) => warn!("Cannot list {}: {error}", snapshot_dir.display()),
    }
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

/// An imported Skytable data.bin will be replaced at the next save; keep the original.
fn keep_skytable_original(data_file: &Path) -> Result<(), StartupError> {
    let backup = data_file.with_file_name(SKYTABLE_BACKUP_NAME);
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

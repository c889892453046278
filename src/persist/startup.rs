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

use super::journal::format::segment_file_name;
use super::journal::replay::{self, ReplayError};
use super::journal::{FsDisk, Journal, JournalError, JOURNAL_DIR_NAME};
use super::load::{self, LoadError, Origin};
use super::lock::{self, DataDirLock, LockError};
use super::save::{self, Install, SaveError};
use super::snapshot::{self, RestoreNameError};
use crate::config::JournalFsync;
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
    /// The journal cannot be read, or holds damage other than a torn tail.
    Replay(ReplayError),
    JournalDirectory {
        path: PathBuf,
        source: io::Error,
    },
    /// A fresh segment could not be started.
    JournalOpen(JournalError),
    /// data.bin could not be written at start (to fold in a journal that is now off, or to
    /// make a restored snapshot durable before the journal starts over).
    StartupSave(SaveError),
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
            StartupError::Replay(error) => write!(
                f,
                "Error while initializing database: {error}. Nothing was changed; check the \
                 files with stratus-check"
            ),
            StartupError::JournalDirectory { path, source } => write!(
                f,
                "Error while initializing database: cannot use the journal directory {}: \
                 {source}",
                path.display()
            ),
            StartupError::JournalOpen(error) => {
                write!(f, "Error while initializing database: {error}")
            }
            StartupError::StartupSave(error) => write!(
                f,
                "Error while initializing database: cannot save data.bin before serving: {error}"
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
    /// The journal, replayed and writing to a fresh segment, if it is enabled.
    pub journal: Option<Journal>,
}

pub fn open(
    data_dir: &Path,
    restore: Option<&Path>,
    journal_mode: Option<JournalFsync>,
) -> Result<Opened, StartupError> {
    let snapshot_dir = data_dir.join(snapshot::SNAPSHOT_DIR_NAME);
    let remote_dir = snapshot_dir.join(snapshot::REMOTE_DIR_NAME);
    fs::create_dir_all(&remote_dir).map_err(|source| StartupError::CreateDirectory {
        path: remote_dir.clone(),
        source,
    })?;
    let lock = lock::acquire(data_dir).map_err(StartupError::Lock)?;
    let journal_dir = data_dir.join(JOURNAL_DIR_NAME);
    for dir in [data_dir, &snapshot_dir, &remote_dir] {
        remove_stale_temp_files(dir)?;
    }
    if journal_dir.is_dir() {
        remove_stale_temp_files(&journal_dir)?;
    }
    warn_about_unrecognised_snapshots(&snapshot_dir);
    let data_file = data_dir.join(DATA_FILE_NAME);
    migrate_from_working_directory(&data_file)?;
    let mut journal_segment = 0;
    let (mut table, mut saved_changes) = match restore {
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
            Some((
                table,
                Origin::Stratus {
                    journal_segment: segment,
                    ..
                },
            )) => {
                journal_segment = segment;
                let changes = table.changes();
                (table, Some(changes))
            }
        },
    };
    let journal = match restore {
        None => resume_journal(
            &journal_dir,
            &data_file,
            journal_segment,
            journal_mode,
            &mut table,
            &mut saved_changes,
        )?,
        Some(_) => restart_journal(
            &journal_dir,
            &data_file,
            journal_mode,
            &table,
            &mut saved_changes,
        )?,
    };
    Ok(Opened {
        lock,
        data_file,
        snapshot_dir,
        table,
        saved_changes,
        journal,
    })
}

/// Replays the journal segments after data.bin into the table; then opens the journal on a
/// fresh segment if it is enabled, or, if it is off, folds what it held into data.bin and
/// removes it, so that turning the journal off loses nothing.
fn resume_journal(
    dir: &Path,
    data_file: &Path,
    data_file_segment: u64,
    mode: Option<JournalFsync>,
    table: &mut Table,
    saved_changes: &mut Option<u64>,
) -> Result<Option<Journal>, StartupError> {
    let started = Instant::now();
    let replayed = replay::replay(dir, data_file_segment, table).map_err(StartupError::Replay)?;
    if replayed.frames > 0 {
        info!(
            "Replayed {} writes in {} commits from the journal in {:.1} ms: {} keys",
            replayed.records,
            replayed.frames,
            started.elapsed().as_secs_f64() * 1000.0,
            table.len()
        );
    }
    let Some(mode) = mode else {
        if !replayed.kept.is_empty() {
            save_before_serving(table, data_file, 0)?;
            *saved_changes = Some(table.changes());
            remove_segments(dir, &replayed.kept);
            warn!(
                "The journal is off: the {} segment(s) found in {} were replayed, saved into {} \
                 and removed",
                replayed.kept.len(),
                dir.display(),
                data_file.display()
            );
        }
        return Ok(None);
    };
    open_journal(
        dir,
        mode,
        replayed.next_segment,
        replayed.next_frame,
        replayed.kept,
    )
    .map(Some)
}

/// After `--restore`: the journal's segments describe changes to data.bin, not to the
/// snapshot, so they are dropped; first data.bin becomes the restored table, so that a crash
/// cannot bring back data.bin without its journal. Without a journal (enabled or left over)
/// nothing happens here, and the restored table replaces data.bin at the next save.
fn restart_journal(
    dir: &Path,
    data_file: &Path,
    mode: Option<JournalFsync>,
    table: &Table,
    saved_changes: &mut Option<u64>,
) -> Result<Option<Journal>, StartupError> {
    let existing = replay::segment_numbers(dir).map_err(StartupError::Replay)?;
    if mode.is_none() && existing.is_empty() {
        return Ok(None);
    }
    let next_segment = existing.last().map_or(1, |last| last + 1);
    let tied_segment = if mode.is_some() { next_segment } else { 0 };
    save_before_serving(table, data_file, tied_segment)?;
    *saved_changes = Some(table.changes());
    remove_segments(dir, &existing);
    info!(
        "The restored table is saved into {} before serving; the journal starts over",
        data_file.display()
    );
    match mode {
        Some(mode) => open_journal(dir, mode, next_segment, 1, Vec::new()).map(Some),
        None => Ok(None),
    }
}

fn open_journal(
    dir: &Path,
    mode: JournalFsync,
    next_segment: u64,
    next_frame: u64,
    kept: Vec<u64>,
) -> Result<Journal, StartupError> {
    fs::create_dir_all(dir).map_err(|source| StartupError::JournalDirectory {
        path: dir.to_owned(),
        source,
    })?;
    let journal = Journal::open(FsDisk::new(dir), mode, next_segment, next_frame, kept)
        .map_err(StartupError::JournalOpen)?;
    info!(
        "Journal on (fsync {mode}): writing {}",
        dir.join(segment_file_name(next_segment)).display()
    );
    Ok(journal)
}

fn save_before_serving(
    table: &Table,
    data_file: &Path,
    journal_segment: u64,
) -> Result<(), StartupError> {
    save::write_data_file(table, data_file, Install::Replace, journal_segment, || {})
        .map(|_| ())
        .map_err(StartupError::StartupSave)
}

/// Removes segments data.bin now holds; a failure is only logged (recovery skips them).
fn remove_segments(dir: &Path, segments: &[u64]) {
    for segment in segments {
        let path = dir.join(segment_file_name(*segment));
        if let Err(error) = fs::remove_file(&path) {
            if error.kind() != io::ErrorKind::NotFound {
                warn!("Cannot remove {}: {error}", path.display());
            }
        }
    }
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

//! One server per data directory: an exclusive `flock` on `<data dir>/stratus.pid`, held for
//! the life of the process. The kernel releases it however the process ends, so a crashed or
//! SIGKILLed server never blocks the next start (skyd 0.6.4's unlocked `.sky_pid` did). The
//! file holds the owner's PID, for the operator and for the message a second instance prints.

use std::fmt;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// The lock file's name inside the data directory.
pub const LOCK_FILE_NAME: &str = "stratus.pid";

/// Held while the value lives (the descriptor is closed, and the lock released, on drop).
#[derive(Debug)]
pub struct DataDirLock {
    _file: File,
}

#[derive(Debug)]
pub enum LockError {
    /// Another live process holds the lock.
    Held {
        path: PathBuf,
        owner: String,
    },
    Io {
        path: PathBuf,
        source: io::Error,
    },
}

impl fmt::Display for LockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LockError::Held { path, owner } => write!(
                f,
                "Another process with PID {owner} is using the data directory {} (it holds the \
                 lock on {})",
                path.parent().unwrap_or(path).display(),
                path.display()
            ),
            LockError::Io { path, source } => {
                write!(f, "cannot lock {}: {source}", path.display())
            }
        }
    }
}

impl std::error::Error for LockError {}

/// Takes the lock on `data_dir`, or says who has it.
pub fn acquire(data_dir: &Path) -> Result<DataDirLock, LockError> {
    let path = data_dir.join(LOCK_FILE_NAME);
    let io_error = |source| LockError::Io {
        path: path.clone(),
        source,
    };
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o644)
        .open(&path)
        .map_err(io_error)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let mut owner = String::new();
            let owner = match file.read_to_string(&mut owner) {
                Ok(_) if !owner.trim().is_empty() => owner.trim().to_owned(),
                _ => "unknown".to_owned(),
            };
            return Err(LockError::Held { path, owner });
        }
        Err(TryLockError::Error(error)) => return Err(io_error(error)),
    }
    file.set_len(0).map_err(io_error)?;
    file.seek(SeekFrom::Start(0)).map_err(io_error)?;
    write!(file, "{}", std::process::id()).map_err(io_error)?;
    Ok(DataDirLock { _file: file })
}

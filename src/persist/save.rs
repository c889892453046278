//! Writing a data file so that a crash at any moment leaves either the old file or the new one,
//! complete: a temporary file in the same directory, sized up front, filled through a memory
//! map, flushed and fsynced, renamed over the target, and the directory fsynced.
//!
//! The same writer serves BGSAVE (in a forked child), the shutdown save (in the server) and
//! snapshots. The temporary file is `<target name>.tmp-<pid>` and is removed on failure; one
//! left behind by a crash is removed at the next start ([`remove_stale_temp_files`]). A file
//! that must not replace an existing one (a named snapshot) is put in place with `link`, which
//! fails if the name exists, instead of `rename`, which would replace it.

// Unsafe here: the writable memory map of a new data file.
#![allow(unsafe_code)]

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use memmap2::MmapMut;
use nix::fcntl::posix_fallocate;

use super::format::{self, EncodeError};
use crate::table::Table;

/// Data files are readable and writable by the server's user only.
pub const DATA_FILE_MODE: u32 = 0o600;
/// Marks a temporary file: `<target name>.tmp-<pid>`.
pub const TEMP_MARKER: &str = ".tmp-";
/// The most digits the `<pid>` of a temporary file's name can have (`u32::MAX` has ten).
pub const PID_MAX_DIGITS: usize = 10;

/// What a successful save wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SaveReport {
    pub keys: u64,
    pub bytes: u64,
    pub duration: Duration,
}

impl fmt::Display for SaveReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} keys, {} bytes in {:.1} ms",
            self.keys,
            self.bytes,
            self.duration.as_secs_f64() * 1000.0
        )
    }
}

/// How the finished file takes the target's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Install {
    /// Atomically replace whatever has the name (data.bin, timestamped snapshots).
    Replace,
    /// Fail if the name exists (named snapshots are never overwritten).
    NoReplace,
}

/// The step of a save that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Create,
    Allocate,
    Map,
    Flush,
    Sync,
    Rename,
    Link,
    SyncDirectory,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Step::Create => "cannot create",
            Step::Allocate => "cannot allocate space for",
            Step::Map => "cannot map",
            Step::Flush => "cannot flush",
            Step::Sync => "cannot fsync",
            Step::Rename => "cannot rename into place",
            Step::Link => "cannot link into place",
            Step::SyncDirectory => "cannot fsync the directory of",
        })
    }
}

#[derive(Debug)]
pub enum SaveError {
    Io {
        step: Step,
        path: PathBuf,
        source: io::Error,
    },
    Encode(EncodeError),
}

impl fmt::Display for SaveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SaveError::Io { step, path, source } => {
                write!(f, "{step} {}: {source}", path.display())
            }
            SaveError::Encode(error) => error.fmt(f),
        }
    }
}

impl std::error::Error for SaveError {}

/// `<target name>.tmp-<pid>`, beside the target.
pub fn temp_path(target: &Path, pid: u32) -> PathBuf {
    let mut name = target.file_name().unwrap_or_default().to_os_string();
    name.push(format!("{TEMP_MARKER}{pid}"));
    target.with_file_name(name)
}

/// Writes `table` to `target` atomically and durably, recording `journal_segment` (the first
/// journal segment the file does not contain; 0 for none). `before_install` runs once the new
/// file is complete and durable under its temporary name, just before it takes the target's
/// name (snapshot retention makes room there, so the directory never holds one file too many).
pub fn write_data_file(
    table: &Table,
    target: &Path,
    install: Install,
    journal_segment: u64,
    before_install: impl FnOnce(),
) -> Result<SaveReport, SaveError> {
    let started = Instant::now();
    let len = format::encoded_len(table);
    let temp = temp_path(target, std::process::id());
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(DATA_FILE_MODE)
        .open(&temp)
        .map_err(|source| io_error(Step::Create, &temp, source))?;
    let written = fill_and_install(
        table,
        &file,
        len,
        &temp,
        target,
        (install, journal_segment),
        before_install,
    );
    if written.is_err() {
        // Best effort: the next start removes what is left.
        let _ = fs::remove_file(&temp);
    }
    written?;
    Ok(SaveReport {
        keys: table.len() as u64,
        bytes: len,
        duration: started.elapsed(),
    })
}

fn fill_and_install(
    table: &Table,
    file: &File,
    len: u64,
    temp: &Path,
    target: &Path,
    (install, journal_segment): (Install, u64),
    before_install: impl FnOnce(),
) -> Result<(), SaveError> {
    // Reserving the blocks now turns a full disk into an error here, instead of a SIGBUS when
    // a page of the map is first written.
    let file_len = libc::off_t::try_from(len).map_err(|_| {
        io_error(
            Step::Allocate,
            temp,
            io::Error::from(io::ErrorKind::FileTooLarge),
        )
    })?;
    posix_fallocate(file, 0, file_len)
        .map_err(|errno| io_error(Step::Allocate, temp, errno.into()))?;
    // SAFETY: the file was just created by this process under a name no other process uses
    // (it carries our pid), so nothing else resizes or writes it while it is mapped.
    let mut map =
        unsafe { MmapMut::map_mut(file) }.map_err(|source| io_error(Step::Map, temp, source))?;
    format::encode_with(table, &mut map, journal_segment).map_err(SaveError::Encode)?;
    map.flush()
        .map_err(|source| io_error(Step::Flush, temp, source))?;
    drop(map);
    file.sync_all()
        .map_err(|source| io_error(Step::Sync, temp, source))?;
    before_install();
    match install {
        Install::Replace => {
            fs::rename(temp, target).map_err(|source| io_error(Step::Rename, target, source))?
        }
        Install::NoReplace => {
            fs::hard_link(temp, target).map_err(|source| io_error(Step::Link, target, source))?;
            // The file is in place; a temporary name left behind is removed at the next start.
            let _ = fs::remove_file(temp);
        }
    }
    sync_directory(target)
}

/// Makes a rename in `path`'s directory durable.
pub fn sync_directory(path: &Path) -> Result<(), SaveError> {
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    File::open(directory)
        .and_then(|directory| directory.sync_all())
        .map_err(|source| io_error(Step::SyncDirectory, path, source))
}

fn io_error(step: Step, path: &Path, source: io::Error) -> SaveError {
    SaveError::Io {
        step,
        path: path.to_owned(),
        source,
    }
}

/// Removes temporary files a crashed save left in `directory`; returns their paths.
pub fn remove_stale_temp_files(directory: &Path) -> io::Result<Vec<PathBuf>> {
    let mut removed = Vec::new();
    for entry in fs::read_dir(directory)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some((_, pid)) = name.rsplit_once(TEMP_MARKER) else {
            continue;
        };
        if !pid.is_empty() && pid.bytes().all(|byte| byte.is_ascii_digit()) {
            fs::remove_file(entry.path())?;
            removed.push(entry.path());
        }
    }
    Ok(removed)
}

//! Reading a data file at startup: mapped read-only, verified, then turned into the table.
//! A file in Skytable 0.6's format (no magic) is imported; anything that is neither a valid
//! Stratus file nor a valid Skytable 0.6 file is refused with the decoder's verdict, and the
//! file is left exactly as it was.

// Unsafe here: the read-only memory map of a data file at start.
#![allow(unsafe_code)]

use std::fmt;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use memmap2::Mmap;

use super::format::{self, DecodeError};
use super::legacy;
use crate::table::Table;

/// Which format a loaded file was in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A Stratus file of this format `version`, tied to the journal from `journal_segment` on
    /// (0: to no journal).
    Stratus { version: u32, journal_segment: u64 },
    /// Skytable 0.6; bytes after the last entry (ignored, as skyd ignored them) are counted.
    Skytable06 { ignored_trailing_bytes: u64 },
}

#[derive(Debug)]
pub struct LoadedFile {
    pub table: Table,
    pub origin: Origin,
    pub bytes: u64,
}

#[derive(Debug)]
pub enum LoadError {
    Read {
        path: PathBuf,
        source: io::Error,
    },
    Corrupt {
        path: PathBuf,
        error: DecodeError,
    },
    /// No Stratus magic, and not a well-formed Skytable 0.6 file either.
    Unrecognised {
        path: PathBuf,
        as_skytable: DecodeError,
    },
}

impl LoadError {
    pub fn path(&self) -> &Path {
        match self {
            LoadError::Read { path, .. }
            | LoadError::Corrupt { path, .. }
            | LoadError::Unrecognised { path, .. } => path,
        }
    }

    /// What is wrong, without the path.
    pub fn reason(&self) -> LoadErrorReason<'_> {
        LoadErrorReason(self)
    }
}

/// A [`LoadError`] without its path, for a caller that names the file itself.
pub struct LoadErrorReason<'a>(&'a LoadError);

impl fmt::Display for LoadErrorReason<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            LoadError::Read { source, .. } => write!(f, "cannot read: {source}"),
            LoadError::Corrupt { error, .. } => write!(f, "{error}"),
            LoadError::Unrecognised { as_skytable, .. } => write!(
                f,
                "not a Stratus data file (no magic at offset 0), and not a Skytable 0.6 data \
                 file either ({as_skytable})"
            ),
        }
    }
}

/// `data/data.bin: checksum mismatch at offset 48: stored 0x1a2b3c4d, computed 0xdeadbeef`
impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path().display(), self.reason())
    }
}

impl std::error::Error for LoadError {}

/// Loads `path`; `Ok(None)` if there is no such file.
pub fn load_data_file(path: &Path) -> Result<Option<LoadedFile>, LoadError> {
    let read_error = |source| LoadError::Read {
        path: path.to_owned(),
        source,
    };
    let file = match File::open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(read_error(error)),
    };
    let bytes = file.metadata().map_err(read_error)?.len();
    if bytes == 0 {
        return decode(path, &[], bytes).map(Some);
    }
    // SAFETY: the data directory is locked by this server, and data files are only ever
    // replaced by rename, never modified in place, so the mapped file does not change under
    // us.
    let map = unsafe { Mmap::map(&file) }.map_err(read_error)?;
    decode(path, &map, bytes).map(Some)
}

/// A file whose first 8 bytes differ from the magic in one or two places is taken for a
/// damaged Stratus file, so that is what the error says, rather than "not a Skytable file".
const MAGIC_BYTES_FOR_A_DAMAGED_HEADER: usize = format::MAGIC.len() - 2;

fn decode(path: &Path, content: &[u8], bytes: u64) -> Result<LoadedFile, LoadError> {
    let magic_bytes_matching = format::MAGIC
        .iter()
        .zip(content)
        .filter(|(expected, found)| expected == found)
        .count();
    if magic_bytes_matching >= MAGIC_BYTES_FOR_A_DAMAGED_HEADER {
        let file = format::decode_file(content).map_err(|error| LoadError::Corrupt {
            path: path.to_owned(),
            error,
        })?;
        return Ok(LoadedFile {
            table: file.table,
            origin: Origin::Stratus {
                version: file.version,
                journal_segment: file.journal_segment,
            },
            bytes,
        });
    }
    match legacy::decode(content) {
        Ok(file) => Ok(LoadedFile {
            table: file.table,
            origin: Origin::Skytable06 {
                ignored_trailing_bytes: file.ignored_trailing_bytes,
            },
            bytes,
        }),
        Err(as_skytable) => Err(LoadError::Unrecognised {
            path: path.to_owned(),
            as_skytable,
        }),
    }
}

//! The write-ahead journal: every write the server acknowledges is in the journal first, so
//! kill -9 loses nothing acknowledged, and in `always` mode neither does a power cut.
//!
//! Each turn of the event loop executes what clients sent; the table's change log collects
//! the effects (put, delete, clear); then one frame holding all of them is appended to the
//! current segment (`write`, plus `fdatasync` in `always` mode), and only then are that turn's
//! answers sent. BGSAVE is the compaction: at the fork the journal moves to a fresh segment,
//! the new data.bin records that segment as the first it does not contain, and the older
//! segments are deleted once that data.bin is durable. At start, data.bin is loaded and the
//! segments after it are replayed ([`replay`], as [`recovery`] plans it); a torn tail is cut
//! off, any other damage stops the start. [`format`](mod@format) documents the files byte by
//! byte and is pure, as is [`recovery`]; [`writer`] writes them.

pub mod format;
pub mod recovery;
pub mod replay;
pub mod writer;

use std::fmt;
use std::io;

pub use format::JOURNAL_DIR_NAME;
pub use writer::{Disk, FsDisk, Journal, JournalStatus, SegmentFile};

/// A journal that has grown past max(this, data.bin's size) since the last compaction asks
/// for a BGSAVE, even with periodic BGSAVE turned off.
pub const COMPACTION_MIN_BYTES: u64 = 64 * 1024 * 1024;

/// Why the journal could not take a commit. Any of these poisons the server.
#[derive(Debug)]
pub enum JournalError {
    /// An earlier write or fsync failed, and no fresh segment has been started since.
    Failed,
    Create {
        segment: u64,
        source: io::Error,
    },
    Write {
        segment: u64,
        source: io::Error,
    },
    Sync {
        segment: u64,
        source: io::Error,
    },
}

impl fmt::Display for JournalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path =
            |segment: &u64| format!("{JOURNAL_DIR_NAME}/{}", format::segment_file_name(*segment));
        match self {
            JournalError::Failed => f.write_str(
                "journal: a write or fsync failed earlier; writes wait for a BGSAVE into a fresh \
                 segment",
            ),
            JournalError::Create { segment, source } => {
                write!(f, "journal: cannot create {}: {source}", path(segment))
            }
            JournalError::Write { segment, source } => {
                write!(f, "journal: cannot write to {}: {source}", path(segment))
            }
            JournalError::Sync { segment, source } => {
                write!(f, "journal: cannot fsync {}: {source}", path(segment))
            }
        }
    }
}

impl std::error::Error for JournalError {}

//! Writing the journal: one frame per group commit appended to the current segment, made
//! durable as the mode says, and a fresh segment at every compaction (each BGSAVE).
//!
//! A segment whose write or fsync failed is never written or fsynced again: the error may have
//! dropped dirty pages that a later fsync would then report as clean (Linux does). The writer
//! becomes *failed*; only [`Journal::rotate`], which starts a fresh segment for a BGSAVE that
//! will hold everything in memory, makes it usable again. A new segment is durable, with its
//! directory entry, before any frame goes into it. The writer's I/O goes through [`Disk`], so
//! tests can run it on a simulated disk that forgets whatever was not synced.

use std::fs::{self, File, OpenOptions};
use std::io::{self, IoSlice, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::format::{encode_segment_header, frame_header, segment_file_name, SegmentHeader};
use super::JournalError;
use crate::config::JournalFsync;
use crate::persist::save::{self, DATA_FILE_MODE};

/// The journal directory's I/O: the real file system, or a simulation in tests.
pub trait Disk {
    type File: SegmentFile;
    /// Creates a segment file that must not exist yet, for appending.
    fn create(&mut self, name: &str) -> io::Result<Self::File>;
    /// Makes the directory's entries (a created, renamed or removed file) durable.
    fn sync_directory(&mut self) -> io::Result<()>;
    /// Renames a file in the directory, replacing any file of the new name.
    fn rename(&mut self, from: &str, to: &str) -> io::Result<()>;
    fn remove(&mut self, name: &str) -> io::Result<()>;
}

/// One segment file, open for appending.
pub trait SegmentFile {
    /// Writes all of `bytes` (a short write that cannot be completed is an error).
    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()>;
    /// Writes all of `first` then all of `second`, in as few calls as it can.
    fn write_all_pair(&mut self, first: &[u8], second: &[u8]) -> io::Result<()> {
        self.write_all(first)?;
        self.write_all(second)
    }
    /// `fdatasync`: everything written so far is durable once it returns `Ok`.
    fn sync_data(&mut self) -> io::Result<()>;
    /// Asks the kernel to start writing `len` bytes from `offset` to the device, without
    /// waiting: a hint that makes the next `sync_data` shorter, never a durability promise.
    fn start_writeback(&mut self, _offset: u64, _len: u64) -> io::Result<()> {
        Ok(())
    }
}

/// The journal directory on the real file system.
pub struct FsDisk {
    dir: PathBuf,
}

impl FsDisk {
    pub fn new(dir: &Path) -> FsDisk {
        FsDisk {
            dir: dir.to_owned(),
        }
    }

    /// The path of segment `number`'s file.
    pub fn segment_path(&self, number: u64) -> PathBuf {
        self.dir.join(segment_file_name(number))
    }
}

impl Disk for FsDisk {
    type File = File;

    fn create(&mut self, name: &str) -> io::Result<File> {
        OpenOptions::new()
            .append(true)
            .create_new(true)
            .mode(DATA_FILE_MODE)
            .open(self.dir.join(name))
    }

    fn sync_directory(&mut self) -> io::Result<()> {
        File::open(&self.dir)?.sync_all()
    }

    fn rename(&mut self, from: &str, to: &str) -> io::Result<()> {
        fs::rename(self.dir.join(from), self.dir.join(to))
    }

    fn remove(&mut self, name: &str) -> io::Result<()> {
        match fs::remove_file(self.dir.join(name)) {
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(()),
            other => other,
        }
    }
}

impl SegmentFile for File {
    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        Write::write_all(self, bytes)
    }

    /// One `writev` for both in the usual case; what a short write left, one by one.
    fn write_all_pair(&mut self, first: &[u8], second: &[u8]) -> io::Result<()> {
        let written = loop {
            match self.write_vectored(&[IoSlice::new(first), IoSlice::new(second)]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(written) => break written,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Err(error),
            }
        };
        if written < first.len() {
            Write::write_all(self, &first[written..])?;
            Write::write_all(self, second)
        } else {
            Write::write_all(self, &second[written - first.len()..])
        }
    }

    fn sync_data(&mut self) -> io::Result<()> {
        File::sync_data(self)
    }

    /// `sync_file_range(SYNC_FILE_RANGE_WRITE)`: starts the writeback and returns.
    #[allow(unsafe_code)]
    fn start_writeback(&mut self, offset: u64, len: u64) -> io::Result<()> {
        let (Ok(offset), Ok(len)) = (i64::try_from(offset), i64::try_from(len)) else {
            return Ok(());
        };
        // SAFETY: sync_file_range reads no memory of ours: it takes a descriptor this File
        // owns (open for the whole call) and three integers.
        let started = unsafe {
            libc::sync_file_range(self.as_raw_fd(), offset, len, libc::SYNC_FILE_RANGE_WRITE)
        };
        if started == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }
}

/// The segment frames are appended to.
struct Segment<F> {
    number: u64,
    file: F,
    /// Frames written to it since it was last synced.
    unsynced: bool,
    /// Its length, header included.
    written: u64,
    /// Where the last [`SegmentFile::start_writeback`] ended.
    written_back: u64,
}

/// In `everysec` and `no` modes, the writeback of a segment is started every this many
/// bytes, so that the dirty pages an `fdatasync` must wait for (once a second, and at each
/// rotation, in every mode) stay few: at 100 MB/s of journal, a rotation's fdatasync waited
/// tens of ms for the pages of a whole segment.
const WRITEBACK_STEP: u64 = 4 * 1024 * 1024;

/// What `SYS INFO persistence` reports about the journal.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JournalStatus {
    /// The segment frames go to; `None` while the writer is failed.
    pub segment: Option<u64>,
    /// Frame bytes written since the last rotation (the start of the last compaction).
    pub bytes_since_compaction: u64,
    pub frames: u64,
    pub fsyncs: u64,
    pub last_fsync: Duration,
    pub max_fsync: Duration,
    pub last_error: Option<String>,
}

pub struct Journal<D: Disk = FsDisk> {
    disk: D,
    mode: JournalFsync,
    /// `None` once a write or fsync failed, until the next rotation.
    current: Option<Segment<D::File>>,
    /// The number the next new segment gets.
    next_segment: u64,
    /// The sequence number the next frame gets.
    next_frame: u64,
    /// Segments before the current one, still needed until a compaction makes them obsolete.
    older: Vec<u64>,
    status: JournalStatus,
}

impl Journal<FsDisk> {
    /// The paths of the segment files before `first_kept`: those a BGSAVE that compacts up to
    /// `first_kept` deletes once its data.bin is durable.
    pub fn segment_paths_before(&self, first_kept: u64) -> Vec<PathBuf> {
        self.segments()
            .into_iter()
            .filter(|&number| number < first_kept)
            .map(|number| self.disk.segment_path(number))
            .collect()
    }
}

impl<D: Disk> Journal<D> {
    /// Starts a fresh segment numbered `next_segment` for frames from `next_frame` on, after
    /// the segments `existing` (replayed at start, kept until the next compaction).
    pub fn open(
        disk: D,
        mode: JournalFsync,
        next_segment: u64,
        next_frame: u64,
        existing: Vec<u64>,
    ) -> Result<Journal<D>, JournalError> {
        let mut journal = Journal {
            disk,
            mode,
            current: None,
            next_segment,
            next_frame,
            older: existing,
            status: JournalStatus::default(),
        };
        journal.start_segment()?;
        Ok(journal)
    }

    pub fn mode(&self) -> JournalFsync {
        self.mode
    }

    pub fn status(&self) -> &JournalStatus {
        &self.status
    }

    /// Whether a write or fsync failed and no rotation has happened since.
    pub fn is_failed(&self) -> bool {
        self.current.is_none()
    }

    /// Appends one frame holding `records` records of `body` (a no-op for none). In `always`
    /// mode it is durable when this returns `Ok`; in the other modes it has reached the
    /// operating system, which is enough to survive a crash of the server.
    pub fn commit(&mut self, body: &[u8], records: u32) -> Result<(), JournalError> {
        if records == 0 {
            return Ok(());
        }
        let Some(segment) = &mut self.current else {
            return Err(JournalError::Failed);
        };
        // The body is written where it is, behind its header: no copy of a large commit.
        let header = frame_header(self.next_frame, records, body);
        let number = segment.number;
        if let Err(source) = segment.file.write_all_pair(&header, body) {
            return Err(self.fail(JournalError::Write {
                segment: number,
                source,
            }));
        }
        segment.unsynced = true;
        let written = (header.len() + body.len()) as u64;
        segment.written += written;
        if self.mode == JournalFsync::Always {
            self.sync()?;
        } else if segment.written - segment.written_back >= WRITEBACK_STEP {
            let (from, len) = (segment.written_back, segment.written - segment.written_back);
            if let Err(source) = segment.file.start_writeback(from, len) {
                return Err(self.fail(JournalError::Sync {
                    segment: number,
                    source,
                }));
            }
            segment.written_back = segment.written;
        }
        // Only a commit that stands uses up its sequence number: after a failed one the next
        // segment starts with the same number, which supersedes whatever of it reached the
        // failed segment.
        self.next_frame += 1;
        self.status.frames += 1;
        self.status.bytes_since_compaction += written;
        Ok(())
    }

    /// `fdatasync` of the current segment if frames were written to it since the last one
    /// (`everysec` calls this once a second; `always` after every commit).
    pub fn sync(&mut self) -> Result<(), JournalError> {
        let Some(segment) = &mut self.current else {
            return Err(JournalError::Failed);
        };
        if !segment.unsynced {
            return Ok(());
        }
        let started = Instant::now();
        let synced = segment.file.sync_data();
        let took = started.elapsed();
        let number = segment.number;
        match synced {
            Ok(()) => {
                segment.unsynced = false;
                self.status.fsyncs += 1;
                self.status.last_fsync = took;
                self.status.max_fsync = self.status.max_fsync.max(took);
                Ok(())
            }
            Err(source) => Err(self.fail(JournalError::Sync {
                segment: number,
                source,
            })),
        }
    }

    /// Whether frames wait for an fsync.
    pub fn has_unsynced(&self) -> bool {
        self.current
            .as_ref()
            .is_some_and(|segment| segment.unsynced)
    }

    /// Before a BGSAVE forks: makes what the current segment holds durable (a failure there
    /// only marks it failed: the BGSAVE about to start holds those frames anyway), then
    /// starts a fresh segment. Returns its number: the BGSAVE's data.bin contains every
    /// segment before it.
    pub fn rotate(&mut self) -> Result<u64, JournalError> {
        if self.current.is_some() {
            let _ = self.sync();
        }
        if let Some(segment) = self.current.take() {
            self.older.push(segment.number);
        }
        // What the segments before hold is the BGSAVE's to compact; the count starts over.
        self.status.bytes_since_compaction = 0;
        self.start_segment()?;
        Ok(self.next_segment - 1)
    }

    /// A data.bin that contains everything before segment `first_kept` is durable: the
    /// segments before it are obsolete. Returns their numbers and forgets them; deleting the
    /// files is the caller's (the BGSAVE child deletes them, off the loop: freeing a 64 MiB
    /// segment takes tens of ms). If that includes the current one (the shutdown save), the
    /// journal takes no more frames.
    pub fn compacted(&mut self, first_kept: u64) -> Vec<u64> {
        if self
            .current
            .as_ref()
            .is_some_and(|segment| segment.number < first_kept)
        {
            if let Some(segment) = self.current.take() {
                self.older.push(segment.number);
            }
            self.status.segment = None;
        }
        let (obsolete, kept): (Vec<u64>, Vec<u64>) =
            self.older.iter().partition(|&&number| number < first_kept);
        self.older = kept;
        obsolete
    }

    /// Deletes the files of segments [`Self::compacted`] made obsolete; returns the failures
    /// (harmless: the next start skips and removes such segments).
    pub fn remove_segments(&mut self, numbers: &[u64]) -> Vec<(u64, io::Error)> {
        numbers
            .iter()
            .filter_map(|&number| {
                let removed = self.disk.remove(&segment_file_name(number));
                removed.err().map(|error| (number, error))
            })
            .collect()
    }

    /// The numbers of every segment file the journal has (older ones and the current one).
    pub fn segments(&self) -> Vec<u64> {
        let current = self.current.as_ref().map(|segment| segment.number);
        self.older.iter().copied().chain(current).collect()
    }

    /// The segment a data.bin saved now, with everything in memory, could say it is followed
    /// by: the one after every segment written so far.
    pub fn following_segment(&self) -> u64 {
        self.next_segment
    }

    /// Creates the next segment: its header written and synced under a temporary name, then
    /// renamed into place and the directory synced, so that a crash leaves either no segment
    /// or a whole header, never a segment whose header is cut short.
    fn start_segment(&mut self) -> Result<(), JournalError> {
        let number = self.next_segment;
        let header = encode_segment_header(&SegmentHeader {
            segment: number,
            first_frame: self.next_frame,
        });
        let name = segment_file_name(number);
        let temp = temp_name(&name);
        let created = self
            .disk
            .create(&temp)
            .and_then(|mut file| {
                file.write_all(&header)?;
                file.sync_data()?;
                Ok(file)
            })
            .and_then(|file| self.disk.rename(&temp, &name).map(|()| file))
            .and_then(|file| self.disk.sync_directory().map(|()| file));
        if created.is_err() {
            let _ = self.disk.remove(&temp);
        }
        self.next_segment += 1;
        match created {
            Ok(file) => {
                self.current = Some(Segment {
                    number,
                    file,
                    unsynced: false,
                    written: header.len() as u64,
                    written_back: 0,
                });
                self.status.segment = Some(number);
                Ok(())
            }
            Err(source) => Err(self.fail(JournalError::Create {
                segment: number,
                source,
            })),
        }
    }

    /// The current segment is not to be trusted any more.
    fn fail(&mut self, error: JournalError) -> JournalError {
        if let Some(segment) = self.current.take() {
            self.older.push(segment.number);
        }
        self.status.segment = None;
        self.status.last_error = Some(error.to_string());
        error
    }
}

/// The temporary name of a segment being created: `<name>.tmp-<pid>`, the data directory's
/// pattern, so that one left by a crash is removed at the next start.
fn temp_name(name: &str) -> String {
    save::temp_path(Path::new(name), std::process::id())
        .to_string_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests;

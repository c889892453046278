//! The writer on a simulated disk that keeps only what was synced: a crash keeps each file's
//! synced bytes plus any prefix of what was written after (a write torn at any byte), and
//! forgets files whose directory entry was never synced. In `always` mode every crash state
//! must recover every commit the writer acknowledged, and nothing that was never written.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io;
use std::rc::Rc;

use super::*;
use crate::persist::journal::format;
use crate::persist::journal::recovery;
use crate::table::Table;

#[derive(Default)]
struct SimFile {
    name: String,
    synced: Vec<u8>,
    written: Vec<u8>,
    /// Its directory entry survives a crash.
    named: bool,
    /// The ranges (offset, length) whose writeback was started, in order.
    writebacks: Vec<(u64, u64)>,
}

/// A failure to inject.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Fault {
    None,
    /// The next write stops halfway with ENOSPC.
    FailWrite,
    /// The next sync fails with EIO, and the unsynced bytes are lost.
    FailSync,
}

#[derive(Default)]
struct SimState {
    /// By an id that survives renames.
    files: BTreeMap<u64, SimFile>,
    next_id: u64,
    fail_next_write: bool,
    fail_next_sync: bool,
}

impl SimState {
    fn named(&self, name: &str) -> Option<(u64, &SimFile)> {
        self.files
            .iter()
            .find(|(_, file)| file.name == name)
            .map(|(id, file)| (*id, file))
    }
}

#[derive(Clone, Default)]
struct SimDisk(Rc<RefCell<SimState>>);

/// An open segment: writes go to the file it was created as, whatever its name is now.
struct SimSegment {
    disk: SimDisk,
    id: u64,
}

impl SimDisk {
    fn inject(&self, fault: Fault) {
        let mut state = self.0.borrow_mut();
        state.fail_next_write = fault == Fault::FailWrite;
        state.fail_next_sync = fault == Fault::FailSync;
    }

    /// The files as a crash leaves them: `tear` picks how many written-but-unsynced bytes of
    /// each file survive.
    fn crash(&self, mut tear: impl FnMut(usize) -> usize) -> Vec<(u64, Vec<u8>)> {
        let state = self.0.borrow();
        state
            .files
            .values()
            .filter(|file| file.named)
            .filter_map(|file| {
                let number = format::parse_segment_file_name(&file.name)?;
                let kept = tear(file.written.len());
                let mut bytes = file.synced.clone();
                bytes.extend_from_slice(&file.written[..kept]);
                Some((number, bytes))
            })
            .collect()
    }
}

impl Disk for SimDisk {
    type File = SimSegment;

    fn create(&mut self, name: &str) -> io::Result<SimSegment> {
        let mut state = self.0.borrow_mut();
        if state.named(name).is_some() {
            return Err(io::ErrorKind::AlreadyExists.into());
        }
        let id = state.next_id;
        state.next_id += 1;
        let file = SimFile {
            name: name.to_owned(),
            ..SimFile::default()
        };
        state.files.insert(id, file);
        Ok(SimSegment {
            disk: self.clone(),
            id,
        })
    }

    fn sync_directory(&mut self) -> io::Result<()> {
        for file in self.0.borrow_mut().files.values_mut() {
            file.named = true;
        }
        Ok(())
    }

    fn rename(&mut self, from: &str, to: &str) -> io::Result<()> {
        let mut state = self.0.borrow_mut();
        let (id, _) = state.named(from).ok_or(io::ErrorKind::NotFound)?;
        if let Some((replaced, _)) = state.named(to) {
            state.files.remove(&replaced);
        }
        let file = state.files.get_mut(&id).expect("found just now");
        file.name = to.to_owned();
        file.named = false;
        Ok(())
    }

    fn remove(&mut self, name: &str) -> io::Result<()> {
        let mut state = self.0.borrow_mut();
        if let Some((id, _)) = state.named(name) {
            state.files.remove(&id);
        }
        Ok(())
    }
}

impl SegmentFile for SimSegment {
    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        let mut state = self.disk.0.borrow_mut();
        let fail = std::mem::take(&mut state.fail_next_write);
        let file = state.files.get_mut(&self.id).expect("an open file exists");
        if fail {
            // Part of it made it, as with a short write before ENOSPC.
            file.written.extend_from_slice(&bytes[..bytes.len() / 2]);
            return Err(io::Error::from_raw_os_error(28));
        }
        file.written.extend_from_slice(bytes);
        Ok(())
    }

    fn sync_data(&mut self) -> io::Result<()> {
        let mut state = self.disk.0.borrow_mut();
        let fail = std::mem::take(&mut state.fail_next_sync);
        let file = state.files.get_mut(&self.id).expect("an open file exists");
        if fail {
            // The kernel dropped the dirty pages and says so once (fsyncgate).
            file.written.clear();
            return Err(io::Error::from_raw_os_error(5));
        }
        let written = std::mem::take(&mut file.written);
        file.synced.extend_from_slice(&written);
        Ok(())
    }

    fn start_writeback(&mut self, offset: u64, len: u64) -> io::Result<()> {
        let mut state = self.disk.0.borrow_mut();
        let file = state.files.get_mut(&self.id).expect("an open file exists");
        file.writebacks.push((offset, len));
        Ok(())
    }
}

/// xorshift64*, reproducible.
struct Prng(u64);

impl Prng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }
}

type Contents = BTreeMap<Vec<u8>, Vec<u8>>;

fn contents(table: &Table) -> Contents {
    table
        .iter()
        .map(|(key, value)| (key.to_vec(), value.to_vec()))
        .collect()
}

/// A few random writes to keys k0..k7.
fn random_writes(table: &mut Table, prng: &mut Prng) {
    for _ in 0..1 + prng.below(4) {
        let key = [b'k', b'0' + prng.below(8) as u8];
        let value = vec![b'a' + prng.below(26) as u8; prng.below(40) as usize];
        match prng.below(10) {
            0..=4 => table.upsert(&key, &value),
            5 | 6 => {
                table.insert_new(&key, &value);
            }
            7 | 8 => {
                table.remove(&key);
            }
            _ => table.clear(),
        }
    }
}

/// Replays every segment of a crashed disk into an empty table.
fn recover(files: &[(u64, Vec<u8>)]) -> Result<Contents, String> {
    let segments: Vec<(u64, &[u8])> = files
        .iter()
        .map(|(number, bytes)| (*number, bytes.as_slice()))
        .collect();
    let plan = recovery::plan(0, &segments).map_err(|error| error.to_string())?;
    let mut table = Table::new();
    for frame in &plan.frames {
        let records = frame.records().map_err(|(_, fault)| format!("{fault:?}"))?;
        format::apply(&mut table, &records);
    }
    Ok(contents(&table))
}

#[test]
fn every_crash_state_of_always_mode_recovers_every_acknowledged_commit() {
    let mut prng = Prng(0x5eed_0001);
    for trial in 0..300 {
        let disk = SimDisk::default();
        let mut journal =
            Journal::open(disk.clone(), JournalFsync::Always, 1, 1, Vec::new()).unwrap();
        let mut table = Table::new();
        table.start_change_log(crate::table::Undoable::Yes);
        let mut acknowledged = Contents::new();
        // The state a commit in flight at the crash would leave, if it reached the disk.
        let mut in_flight: Option<Contents> = None;
        let commits = 1 + prng.below(30);
        for commit in 0..commits {
            random_writes(&mut table, &mut prng);
            if prng.below(8) == 0 {
                journal.rotate().unwrap();
            }
            let crash_in_this_commit = commit + 1 == commits && prng.below(2) == 0;
            let fault = match prng.below(12) {
                0 => Fault::FailWrite,
                1 => Fault::FailSync,
                _ => Fault::None,
            };
            let (body, records) = table.change_log().unwrap().effects();
            let (body, records) = (body.to_vec(), records);
            if crash_in_this_commit {
                // The frame is written; the crash comes before the fsync returns.
                let Some(segment) = &mut journal.current else {
                    break;
                };
                let mut frame = Vec::new();
                format::encode_frame(&mut frame, journal.next_frame, records, &body);
                segment.file.write_all(&frame).unwrap();
                in_flight = Some(contents(&table));
                break;
            }
            disk.inject(fault);
            let committed = journal.commit(&body, records);
            disk.inject(Fault::None);
            match committed {
                Ok(()) => {
                    table.commit_changes();
                    acknowledged = contents(&table);
                }
                Err(_) => {
                    table.roll_back_changes();
                    assert_eq!(contents(&table), acknowledged, "trial {trial}: rollback");
                    assert!(journal.is_failed());
                    assert!(matches!(journal.commit(b"", 1), Err(JournalError::Failed)));
                    // What a BGSAVE does next: a fresh segment.
                    journal.rotate().unwrap();
                }
            }
        }
        let torn = disk.crash(|written| prng.below(written as u64 + 1) as usize);
        let recovered = recover(&torn).unwrap_or_else(|error| panic!("trial {trial}: {error}"));
        assert!(
            recovered == acknowledged || Some(&recovered) == in_flight.as_ref(),
            "trial {trial}: recovered {recovered:?}, acknowledged {acknowledged:?}, in flight \
             {in_flight:?}"
        );
        let whole = disk.crash(|written| written);
        let expected = in_flight.unwrap_or(acknowledged);
        assert_eq!(recover(&whole), Ok(expected), "trial {trial}: nothing torn");
    }
}

#[test]
fn a_failed_segment_is_never_written_or_synced_again() {
    let disk = SimDisk::default();
    let mut journal =
        Journal::open(disk.clone(), JournalFsync::EverySec, 1, 1, Vec::new()).unwrap();
    let mut body = Vec::new();
    format::put_record(&mut body, b"k", b"v");
    journal.commit(&body, 1).unwrap();
    assert!(journal.has_unsynced());
    disk.inject(Fault::FailSync);
    assert!(matches!(
        journal.sync(),
        Err(JournalError::Sync { segment: 1, .. })
    ));
    let lengths = || {
        let state = disk.0.borrow();
        let (_, file) = state
            .named(&format::segment_file_name(1))
            .expect("segment 1");
        (file.synced.len(), file.written.len())
    };
    let before = lengths();
    assert!(matches!(
        journal.commit(&body, 1),
        Err(JournalError::Failed)
    ));
    assert!(matches!(journal.sync(), Err(JournalError::Failed)));
    assert_eq!(lengths(), before);
    assert_eq!(before.1, 0);
    assert_eq!(journal.rotate().unwrap(), 2);
    journal.commit(&body, 1).unwrap();
    assert_eq!(journal.segments(), vec![1, 2]);
    assert_eq!(journal.compacted(2), vec![1]);
    assert_eq!(journal.segments(), vec![2]);
    assert!(disk
        .0
        .borrow()
        .named(&format::segment_file_name(1))
        .is_some());
    assert!(journal.remove_segments(&[1]).is_empty());
    assert!(disk
        .0
        .borrow()
        .named(&format::segment_file_name(1))
        .is_none());
}

#[test]
fn everysec_and_no_start_the_writeback_every_4_mib_and_always_never() {
    let body = vec![b'x'; 1024 * 1024 - 32];
    for mode in [
        JournalFsync::EverySec,
        JournalFsync::No,
        JournalFsync::Always,
    ] {
        let disk = SimDisk::default();
        let mut journal = Journal::open(disk.clone(), mode, 1, 1, Vec::new()).unwrap();
        for _ in 0..10 {
            journal.commit(&body, 1).unwrap();
        }
        let state = disk.0.borrow();
        let (_, file) = state
            .named(&format::segment_file_name(1))
            .expect("segment 1");
        let length = (file.synced.len() + file.written.len()) as u64;
        if mode == JournalFsync::Always {
            assert_eq!(file.writebacks, vec![]);
            continue;
        }
        // Each kick starts where the last ended and covers at least 4 MiB; what is left after
        // the last is less than that.
        let mut end = 0;
        for &(offset, len) in &file.writebacks {
            assert_eq!(offset, end);
            assert!(len >= WRITEBACK_STEP, "{len}");
            end = offset + len;
        }
        assert_eq!(file.writebacks.len(), 2, "{:?}", file.writebacks);
        assert!(length - end < WRITEBACK_STEP);
    }
}

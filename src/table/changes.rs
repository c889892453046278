//! The table's change log: while one is attached, every change a write makes is recorded as an
//! effect (put a key's value, delete a key, clear the table), and the way to undo it is kept,
//! until the log is committed (its effects are durable) or rolled back (they could not be made
//! durable, and the table goes back to what it was). A write that changes nothing records
//! nothing. The effects are encoded as the journal's records, so the journal writes them as
//! they are; `persist::journal::format` documents the bytes:
//!
//! ```text
//! 0x01 PUT    u32 key length, u32 value length, key, value
//! 0x02 DEL    u32 key length, key
//! 0x03 CLEAR
//! ```

use hashbrown::HashTable;

use super::{Entry, SharedEntry};

/// Record type bytes.
pub const PUT: u8 = 0x01;
pub const DELETE: u8 = 0x02;
pub const CLEAR: u8 = 0x03;

/// Appends a PUT record: `key` now holds `value`. Panics on a key or value of 4 GiB or more,
/// which no query can carry.
pub fn put_record(body: &mut Vec<u8>, key: &[u8], value: &[u8]) {
    body.reserve(1 + 8 + key.len() + value.len());
    body.push(PUT);
    body.extend_from_slice(&length(key).to_le_bytes());
    body.extend_from_slice(&length(value).to_le_bytes());
    body.extend_from_slice(key);
    body.extend_from_slice(value);
}

/// Appends a DEL record: `key` is gone. Panics on a key of 4 GiB or more.
pub fn delete_record(body: &mut Vec<u8>, key: &[u8]) {
    body.reserve(1 + 4 + key.len());
    body.push(DELETE);
    body.extend_from_slice(&length(key).to_le_bytes());
    body.extend_from_slice(key);
}

/// Appends a CLEAR record: the table is empty.
pub fn clear_record(body: &mut Vec<u8>) {
    body.push(CLEAR);
}

fn length(bytes: &[u8]) -> u32 {
    u32::try_from(bytes.len())
        .expect("keys and values are shorter than the query limit, at most u32::MAX bytes")
}

/// An entry as it was before a change, to be put back by a rollback.
pub(super) enum Old {
    Inline(Entry),
    Shared(SharedEntry),
}

impl Old {
    pub(super) fn payload_bytes(&self) -> u64 {
        match self {
            Old::Inline(entry) => (entry.key().len() + entry.value().len()) as u64,
            Old::Shared(entry) => (entry.key.len() + entry.value.len()) as u64,
        }
    }
}

/// How to undo one change.
pub(super) enum Undo {
    /// The key was absent: remove it again.
    Inserted(Box<[u8]>),
    /// The key had this entry: put it back in place of the new one.
    Replaced(Box<[u8]>, Old),
    /// The key was removed with this entry: put it back.
    Removed(Old),
    /// The table was cleared: these were its contents.
    Cleared {
        entries: HashTable<Entry>,
        shared: HashTable<SharedEntry>,
        payload_bytes: u64,
    },
}

/// Whether a change log keeps what it takes to undo its changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Undoable {
    /// Each change keeps the entry it replaced, so a rollback can restore the table.
    Yes,
    /// Effects only: cheaper (a same-length update stays in place), no rollback.
    No,
}

/// The changes made since the log was last committed or rolled back.
pub struct ChangeLog {
    body: Vec<u8>,
    records: u32,
    pub(super) undoable: Undoable,
    pub(super) undo: Vec<Undo>,
}

impl ChangeLog {
    pub(super) fn new(undoable: Undoable) -> ChangeLog {
        ChangeLog {
            body: Vec::new(),
            records: 0,
            undoable,
            undo: Vec::new(),
        }
    }

    /// Whether the changes it records keep what it takes to undo them.
    pub fn keeps_undo(&self) -> bool {
        self.undoable == Undoable::Yes
    }

    /// The recorded effects, encoded as journal records, and how many there are.
    pub fn effects(&self) -> (&[u8], u32) {
        (&self.body, self.records)
    }

    pub fn is_empty(&self) -> bool {
        self.records == 0
    }

    /// Records a PUT; `undo` is made only if the log keeps undo information.
    pub(super) fn put(&mut self, key: &[u8], value: &[u8], undo: impl FnOnce() -> Undo) {
        put_record(&mut self.body, key, value);
        self.push(undo);
    }

    /// Records a PUT in a log that keeps no undo information.
    pub(super) fn put_effect(&mut self, key: &[u8], value: &[u8]) {
        debug_assert!(
            !self.keeps_undo(),
            "an undoable change must say how to undo it"
        );
        put_record(&mut self.body, key, value);
        self.records += 1;
    }

    pub(super) fn delete(&mut self, key: &[u8], undo: impl FnOnce() -> Undo) {
        delete_record(&mut self.body, key);
        self.push(undo);
    }

    pub(super) fn clear(&mut self, undo: impl FnOnce() -> Undo) {
        clear_record(&mut self.body);
        self.push(undo);
    }

    fn push(&mut self, undo: impl FnOnce() -> Undo) {
        self.records += 1;
        if self.undoable == Undoable::Yes {
            self.undo.push(undo());
        }
    }

    /// Forgets everything recorded, keeping the buffer for the next changes (unless a large
    /// change grew it).
    pub(super) fn reset(&mut self) {
        self.body.clear();
        if self.body.capacity() > RETAINED_BODY_BYTES {
            self.body = Vec::new();
        }
        self.records = 0;
        self.undo.clear();
    }
}

/// A change log's buffer larger than this is given back once committed.
const RETAINED_BODY_BYTES: usize = 1024 * 1024;

//! The in-memory table: binary keys to binary values, the whole database. Pure data, no I/O.
//!
//! A value shorter than [`SHARED_VALUE_BYTES`] lives with its key in one heap allocation,
//! `[key length: u32 LE][key][value]`, and the hash table stores only that allocation's 16-byte
//! handle: one allocation and 17 bytes of table per key. A longer value is reference-counted
//! (`Arc<[u8]>`) in a second hash table, so an answer can send it without copying it: `MGET
//! big big …` queues the same value many times at the cost of one. Key lengths fit in 32 bits
//! because no query may exceed `u32::MAX` bytes. A key is in one of the two tables, never both.
//!
//! Besides the entries it keeps two running figures that persistence needs without a pass over
//! the data: the total bytes of all keys and values (so a save knows its file size up front)
//! and a count of changes (so a save can be skipped when nothing changed since the last one).
//! With a [`ChangeLog`] attached (the journal's), every change is also recorded as an effect,
//! and, if the log is [`Undoable::Yes`] (`always` mode), undoable until it is committed.

mod changes;

pub use changes::{
    clear_record, delete_record, put_record, ChangeLog, Undoable, CLEAR, DELETE, PUT,
};
use changes::{Old, Undo};

use std::hash::BuildHasher;
use std::sync::Arc;

use foldhash::fast::RandomState;
use hashbrown::hash_table::{Entry as Slot, HashTable};

/// Values at least this long are shared (`Arc`) instead of copied into answers.
pub const SHARED_VALUE_BYTES: usize = 16 * 1024;

/// Bytes before the key in an entry's allocation.
const KEY_LEN_BYTES: usize = 4;

/// One key and its (short) value in a single allocation.
struct Entry(Box<[u8]>);

impl Entry {
    fn new(key: &[u8], value: &[u8]) -> Entry {
        let key_len = u32::try_from(key.len())
            .expect("keys are shorter than the query limit, which is at most u32::MAX bytes");
        let mut bytes = Vec::with_capacity(KEY_LEN_BYTES + key.len() + value.len());
        bytes.extend_from_slice(&key_len.to_le_bytes());
        bytes.extend_from_slice(key);
        bytes.extend_from_slice(value);
        Entry(bytes.into_boxed_slice())
    }

    fn key_end(&self) -> usize {
        let mut key_len = [0; KEY_LEN_BYTES];
        key_len.copy_from_slice(&self.0[..KEY_LEN_BYTES]);
        KEY_LEN_BYTES + u32::from_le_bytes(key_len) as usize
    }

    fn key(&self) -> &[u8] {
        &self.0[KEY_LEN_BYTES..self.key_end()]
    }

    fn value(&self) -> &[u8] {
        &self.0[self.key_end()..]
    }

    fn value_mut(&mut self) -> &mut [u8] {
        let start = self.key_end();
        &mut self.0[start..]
    }
}

/// A key with a long value, shared with the answers that are sending it.
struct SharedEntry {
    key: Box<[u8]>,
    value: Arc<[u8]>,
}

/// A value as the table holds it: borrowed bytes, or a shared long value that an answer can
/// keep without copying.
#[derive(Debug, Clone, Copy)]
pub enum Value<'a> {
    Inline(&'a [u8]),
    Shared(&'a Arc<[u8]>),
}

impl<'a> Value<'a> {
    pub fn bytes(self) -> &'a [u8] {
        match self {
            Value::Inline(bytes) => bytes,
            Value::Shared(shared) => shared,
        }
    }
}

/// A value taken out of the table (by POP).
pub struct Removed(Taken);

enum Taken {
    Inline(Entry),
    Shared(Arc<[u8]>),
}

impl Removed {
    pub fn value(&self) -> Value<'_> {
        match &self.0 {
            Taken::Inline(entry) => Value::Inline(entry.value()),
            Taken::Shared(value) => Value::Shared(value),
        }
    }
}

fn is_shared_size(value: &[u8]) -> bool {
    value.len() >= SHARED_VALUE_BYTES
}

#[derive(Default)]
pub struct Table {
    entries: HashTable<Entry>,
    shared: HashTable<SharedEntry>,
    hasher: RandomState,
    /// Sum of `key.len() + value.len()` over all entries.
    payload_bytes: u64,
    /// Incremented by every call that modifies the table; never decreases.
    changes: u64,
    /// Attached while writes must be journaled.
    log: Option<ChangeLog>,
}

impl Table {
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty table with room for `capacity` entries.
    pub fn with_capacity(capacity: usize) -> Self {
        Table {
            entries: HashTable::with_capacity(capacity),
            ..Table::default()
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len() + self.shared.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Total bytes of all keys and values.
    pub fn payload_bytes(&self) -> u64 {
        self.payload_bytes
    }

    /// How many modifying calls this table has seen; compare two readings to learn whether
    /// anything changed in between.
    pub fn changes(&self) -> u64 {
        self.changes
    }

    fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash_one(key)
    }

    /// The value of `key`, as the table holds it.
    pub fn value(&self, key: &[u8]) -> Option<Value<'_>> {
        let hash = self.hash(key);
        if let Some(entry) = self.entries.find(hash, |entry| entry.key() == key) {
            return Some(Value::Inline(entry.value()));
        }
        if self.shared.is_empty() {
            return None;
        }
        self.shared
            .find(hash, |entry| *entry.key == *key)
            .map(|entry| Value::Shared(&entry.value))
    }

    pub fn get(&self, key: &[u8]) -> Option<&[u8]> {
        self.value(key).map(Value::bytes)
    }

    pub fn contains(&self, key: &[u8]) -> bool {
        self.value(key).is_some()
    }

    /// Inserts `key` only if it is absent. Returns whether it was inserted.
    pub fn insert_new(&mut self, key: &[u8], value: &[u8]) -> bool {
        if !self.shared.is_empty() && self.shared_contains(key) {
            return false;
        }
        let hasher = &self.hasher;
        let hash = hasher.hash_one(key);
        if is_shared_size(value) {
            if self
                .entries
                .find(hash, |entry| entry.key() == key)
                .is_some()
            {
                return false;
            }
            self.shared
                .insert_unique(hash, shared_entry(key, value), |entry| {
                    hasher.hash_one(&entry.key)
                });
        } else {
            let slot = self.entries.entry(
                hash,
                |entry| entry.key() == key,
                |entry| hasher.hash_one(entry.key()),
            );
            match slot {
                Slot::Occupied(_) => return false,
                Slot::Vacant(vacant) => {
                    vacant.insert(Entry::new(key, value));
                }
            }
        }
        self.payload_bytes += (key.len() + value.len()) as u64;
        self.changes += 1;
        if let Some(log) = &mut self.log {
            log.put(key, value, || Undo::Inserted(key.into()));
        }
        true
    }

    fn shared_contains(&self, key: &[u8]) -> bool {
        self.shared
            .find(self.hash(key), |entry| *entry.key == *key)
            .is_some()
    }

    /// Replaces the value of `key` only if it exists. Returns whether it existed.
    pub fn update_existing(&mut self, key: &[u8], value: &[u8]) -> bool {
        if self.log.as_ref().is_some_and(ChangeLog::keeps_undo) {
            let Some(old) = self.take(key) else {
                return false;
            };
            self.put(key, value);
            self.changes += 1;
            if let Some(log) = &mut self.log {
                log.put(key, value, || Undo::Replaced(key.into(), old));
            }
            return true;
        }
        if !self.update_in_place(key, value) {
            return false;
        }
        if let Some(log) = &mut self.log {
            log.put_effect(key, value);
        }
        true
    }

    /// The update of [`Self::update_existing`] without a change log that keeps undo: in place
    /// when the length allows, moving the entry between the two tables when its size class
    /// changes. Returns whether the key existed.
    fn update_in_place(&mut self, key: &[u8], value: &[u8]) -> bool {
        let hash = self.hash(key);
        let old_len = if let Some(entry) = self.entries.find_mut(hash, |entry| entry.key() == key) {
            let old_len = entry.value().len();
            if old_len == value.len() {
                entry.value_mut().copy_from_slice(value);
            } else if !is_shared_size(value) {
                *entry = Entry::new(key, value);
            } else {
                self.take(key);
                self.put(key, value);
                self.changes += 1;
                return true;
            }
            old_len
        } else if let Some(entry) = self.shared.find_mut(hash, |entry| *entry.key == *key) {
            let old_len = entry.value.len();
            if is_shared_size(value) {
                match Arc::get_mut(&mut entry.value) {
                    Some(bytes) if old_len == value.len() => bytes.copy_from_slice(value),
                    // An answer still holds the old value: it keeps it, the table moves on.
                    _ => entry.value = Arc::from(value),
                }
            } else {
                self.take(key);
                self.put(key, value);
                self.changes += 1;
                return true;
            }
            old_len
        } else {
            return false;
        };
        self.payload_bytes = self.payload_bytes - old_len as u64 + value.len() as u64;
        self.changes += 1;
        true
    }

    /// Inserts or replaces.
    pub fn upsert(&mut self, key: &[u8], value: &[u8]) {
        if !self.update_existing(key, value) {
            self.insert_new(key, value);
        }
    }

    /// Removes `key`, returning its value if it existed.
    pub fn remove(&mut self, key: &[u8]) -> Option<Removed> {
        let removed = match self.take(key)? {
            Old::Inline(entry) => Removed(Taken::Inline(entry)),
            Old::Shared(entry) => Removed(Taken::Shared(entry.value)),
        };
        self.changes += 1;
        if let Some(log) = &mut self.log {
            log.delete(key, || {
                Undo::Removed(match &removed.0 {
                    Taken::Inline(entry) => Old::Inline(Entry(entry.0.clone())),
                    Taken::Shared(value) => Old::Shared(SharedEntry {
                        key: key.into(),
                        value: Arc::clone(value),
                    }),
                })
            });
        }
        Some(removed)
    }

    /// Removes every entry and gives their memory back (once an undoable change log attached
    /// has been committed: until then it keeps them, to undo the clear).
    pub fn clear(&mut self) {
        let entries = std::mem::take(&mut self.entries);
        let shared = std::mem::take(&mut self.shared);
        let payload_bytes = std::mem::replace(&mut self.payload_bytes, 0);
        self.changes += 1;
        if let Some(log) = &mut self.log {
            log.clear(|| Undo::Cleared {
                entries,
                shared,
                payload_bytes,
            });
        }
    }

    /// Takes `key`'s entry out of whichever table holds it. Not a change by itself: the
    /// callers count and record what they do with it.
    fn take(&mut self, key: &[u8]) -> Option<Old> {
        let hash = self.hash(key);
        let old = match self.entries.find_entry(hash, |entry| entry.key() == key) {
            Ok(found) => Old::Inline(found.remove().0),
            Err(_) if self.shared.is_empty() => return None,
            Err(_) => {
                let found = self.shared.find_entry(hash, |entry| *entry.key == *key);
                Old::Shared(found.ok()?.remove().0)
            }
        };
        self.payload_bytes -= old.payload_bytes();
        Some(old)
    }

    /// Puts `key` (absent) with `value` in the table its size says.
    fn put(&mut self, key: &[u8], value: &[u8]) {
        let entry = if is_shared_size(value) {
            Old::Shared(shared_entry(key, value))
        } else {
            Old::Inline(Entry::new(key, value))
        };
        self.restore(entry);
    }

    /// Puts an entry (whose key is absent) back in its table.
    fn restore(&mut self, entry: Old) {
        self.payload_bytes += entry.payload_bytes();
        let hasher = &self.hasher;
        match entry {
            Old::Inline(entry) => {
                let hash = hasher.hash_one(entry.key());
                self.entries
                    .insert_unique(hash, entry, |entry| hasher.hash_one(entry.key()));
            }
            Old::Shared(entry) => {
                let hash = hasher.hash_one(&entry.key);
                self.shared
                    .insert_unique(hash, entry, |entry| hasher.hash_one(&entry.key));
            }
        }
    }

    /// From now on every change is recorded in a change log, keeping undo information or
    /// not, until [`Self::stop_change_log`].
    pub fn start_change_log(&mut self, undoable: Undoable) {
        self.log = Some(ChangeLog::new(undoable));
    }

    /// Detaches the change log; the changes it held are kept.
    pub fn stop_change_log(&mut self) {
        self.log = None;
    }

    /// The changes recorded since the last commit or rollback, if a log is attached.
    pub fn change_log(&self) -> Option<&ChangeLog> {
        self.log.as_ref()
    }

    /// The recorded changes are durable: forget how to undo them.
    pub fn commit_changes(&mut self) {
        if let Some(log) = &mut self.log {
            log.reset();
        }
    }

    /// The recorded changes could not be made durable: undo them, newest first, so the table
    /// is again what it was at the last commit. (This is itself a change, for saves.) A log
    /// that keeps no undo information only forgets them: the table keeps them.
    pub fn roll_back_changes(&mut self) {
        let Some(mut log) = self.log.take() else {
            return;
        };
        let rolled_back = !log.undo.is_empty();
        while let Some(undo) = log.undo.pop() {
            match undo {
                Undo::Inserted(key) => {
                    self.take(&key);
                }
                Undo::Replaced(key, old) => {
                    self.take(&key);
                    self.restore(old);
                }
                Undo::Removed(old) => self.restore(old),
                Undo::Cleared {
                    entries,
                    shared,
                    payload_bytes,
                } => {
                    self.entries = entries;
                    self.shared = shared;
                    self.payload_bytes = payload_bytes;
                }
            }
        }
        if rolled_back {
            self.changes += 1;
        }
        log.reset();
        self.log = Some(log);
    }

    /// Every key, in no particular order.
    pub fn keys(&self) -> impl Iterator<Item = &[u8]> {
        self.iter().map(|(key, _)| key)
    }

    /// The keys whose hash (by the table's own hasher, fixed for the table's life) lies in
    /// `hashes`, in no particular order. A key's hash never changes, whatever is inserted or
    /// removed and however the table grows, so pages of the hash space list every key present
    /// throughout exactly once: SCAN's cursor. Costs a pass over the whole table.
    pub fn keys_hashed_in(
        &self,
        hashes: std::ops::RangeInclusive<u64>,
    ) -> impl Iterator<Item = &[u8]> {
        self.keys()
            .filter(move |key| hashes.contains(&self.hash(key)))
    }

    /// Every entry, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        let inline = self
            .entries
            .iter()
            .map(|entry| (entry.key(), entry.value()));
        let shared = self.shared.iter().map(|entry| (&*entry.key, &*entry.value));
        inline.chain(shared)
    }
}

fn shared_entry(key: &[u8], value: &[u8]) -> SharedEntry {
    SharedEntry {
        key: key.into(),
        value: Arc::from(value),
    }
}

impl std::fmt::Debug for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Table")
            .field("len", &self.len())
            .field("payload_bytes", &self.payload_bytes)
            .field("changes", &self.changes)
            .finish()
    }
}

#[cfg(test)]
impl Table {
    /// Every entry as owned bytes, sorted: what two tables are compared by in tests.
    pub(crate) fn sorted_entries(&self) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut entries: Vec<_> = self
            .iter()
            .map(|(key, value)| (key.to_vec(), value.to_vec()))
            .collect();
        entries.sort();
        entries
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_bytes_follow_every_change() {
        let mut table = Table::new();
        assert!(table.insert_new(b"ab", b"123"));
        assert!(!table.insert_new(b"ab", b"zz"));
        assert_eq!(table.payload_bytes(), 5);
        assert!(table.update_existing(b"ab", b"9"));
        assert_eq!(table.payload_bytes(), 3);
        assert!(table.update_existing(b"ab", b"7"));
        assert_eq!(table.get(b"ab"), Some(&b"7"[..]));
        table.upsert(b"c", b"");
        assert_eq!(table.payload_bytes(), 4);
        assert_eq!(
            table.remove(b"ab").map(|r| r.value().bytes().to_vec()),
            Some(b"7".to_vec())
        );
        assert_eq!(table.payload_bytes(), 1);
        table.clear();
        assert_eq!((table.len(), table.payload_bytes()), (0, 0));
    }

    #[test]
    fn changes_count_modifications_only() {
        let mut table = Table::new();
        table.insert_new(b"k", b"v");
        table.insert_new(b"k", b"w");
        table.update_existing(b"missing", b"v");
        assert!(table.remove(b"missing").is_none());
        assert_eq!(table.changes(), 1);
        table.upsert(b"k", b"x");
        table.clear();
        assert_eq!(table.changes(), 3);
    }

    #[test]
    fn keys_and_values_are_kept_apart_whatever_their_bytes() {
        let mut table = Table::new();
        assert!(table.insert_new(b"", b""));
        assert!(table.insert_new(b"\x00\x00\x00\x00", b"\xff"));
        assert!(table.insert_new(b"a", b"bc"));
        assert!(!table.insert_new(b"a", b"zz"));
        assert_eq!(table.get(b""), Some(&b""[..]));
        assert_eq!(table.get(b"\x00\x00\x00\x00"), Some(&b"\xff"[..]));
        assert_eq!(table.get(b"ab"), None);
        let mut entries: Vec<_> = table.iter().collect();
        entries.sort();
        assert_eq!(
            entries,
            [
                (&b""[..], &b""[..]),
                (&b"\x00\x00\x00\x00"[..], &b"\xff"[..]),
                (&b"a"[..], &b"bc"[..])
            ]
        );
    }

    #[test]
    fn long_values_are_shared_and_move_between_the_two_tables() {
        let long = vec![b'L'; SHARED_VALUE_BYTES];
        let longer = vec![b'M'; SHARED_VALUE_BYTES + 1];
        let mut table = Table::new();
        assert!(table.insert_new(b"k", &long));
        assert!(
            !table.insert_new(b"k", b"short"),
            "one key, whichever table"
        );
        assert!(matches!(table.value(b"k"), Some(Value::Shared(_))));
        let Some(Value::Shared(held)) = table.value(b"k") else {
            unreachable!()
        };
        let held = Arc::clone(held);
        assert!(table.update_existing(b"k", &longer));
        assert_eq!(&*held, &long[..], "an answer keeps the value it was given");
        assert_eq!(table.get(b"k"), Some(&longer[..]));
        assert!(table.update_existing(b"k", b"short"));
        assert!(matches!(table.value(b"k"), Some(Value::Inline(b"short"))));
        assert!(table.update_existing(b"k", &long));
        assert!(matches!(table.value(b"k"), Some(Value::Shared(_))));
        assert_eq!(table.len(), 1);
        assert_eq!(table.payload_bytes(), 1 + long.len() as u64);
        assert_eq!(table.changes(), 4);
        table.upsert(b"j", b"x");
        let all: Vec<_> = table.keys_hashed_in(0..=u64::MAX).collect();
        assert_eq!(all.len(), 2);
        let mut keys: Vec<_> = table.keys().collect();
        keys.sort();
        assert_eq!(keys, [&b"j"[..], b"k"]);
        let removed = table.remove(b"k").expect("present");
        assert!(matches!(removed.value(), Value::Shared(value) if **value == *long));
        assert_eq!((table.len(), table.payload_bytes()), (1, 2));
        assert!(table.remove(b"k").is_none());
    }

    /// Applies a change log's effects the way journal replay does.
    fn replay(table: &mut Table, body: &[u8], records: u32) {
        let u32_at = |at: usize| u32::from_le_bytes(body[at..at + 4].try_into().unwrap()) as usize;
        let mut at = 0;
        for _ in 0..records {
            match body[at] {
                PUT => {
                    let (key_len, value_len) = (u32_at(at + 1), u32_at(at + 5));
                    let key = &body[at + 9..at + 9 + key_len];
                    let value = &body[at + 9 + key_len..at + 9 + key_len + value_len];
                    table.upsert(key, value);
                    at += 9 + key_len + value_len;
                }
                DELETE => {
                    let key_len = u32_at(at + 1);
                    table.remove(&body[at + 5..at + 5 + key_len]);
                    at += 5 + key_len;
                }
                CLEAR => {
                    table.clear();
                    at += 1;
                }
                other => panic!("unknown record type {other}"),
            }
        }
        assert_eq!(at, body.len(), "the records fill the body");
    }

    #[test]
    fn a_change_log_replays_to_the_same_table_and_rolls_back_to_the_last_commit() {
        for undoable in [Undoable::Yes, Undoable::No] {
            change_log_round_trips(undoable);
        }
    }

    fn change_log_round_trips(undoable: Undoable) {
        let mut table = Table::new();
        table.start_change_log(undoable);
        let long = |seed: u8| vec![seed; SHARED_VALUE_BYTES + usize::from(seed)];
        let mut state: u32 = 12_345;
        let mut next = |below: u32| {
            state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            (state >> 16) % below
        };
        for batch in 0..300 {
            let before = table.sorted_entries();
            let (payload_before, changes_before) = (table.payload_bytes(), table.changes());
            let mut replica = Table::new();
            for (key, value) in &before {
                replica.insert_new(key, value);
            }
            for _ in 0..next(8) {
                let key = [b'k', b'0' + next(6) as u8];
                let value = match next(3) {
                    0 => long(next(3) as u8),
                    1 => vec![b'v'; next(4) as usize],
                    _ => b"x".to_vec(),
                };
                match next(8) {
                    0 => {
                        table.insert_new(&key, &value);
                    }
                    1 | 2 => {
                        table.update_existing(&key, &value);
                    }
                    3 | 4 => table.upsert(&key, &value),
                    5 | 6 => {
                        table.remove(&key);
                    }
                    _ if batch % 10 == 0 => table.clear(),
                    _ => {}
                }
            }
            let log = table.change_log().expect("attached");
            let (body, records) = log.effects();
            replay(&mut replica, body, records);
            assert_eq!(
                replica.sorted_entries(),
                table.sorted_entries(),
                "batch {batch} replayed"
            );
            assert_eq!(replica.payload_bytes(), table.payload_bytes());
            let roll_back = next(3) == 0;
            if roll_back && undoable == Undoable::Yes {
                let changed = !table.change_log().expect("attached").is_empty();
                table.roll_back_changes();
                assert_eq!(table.sorted_entries(), before, "batch {batch} rolled back");
                assert_eq!(table.payload_bytes(), payload_before);
                assert!(table.changes() >= changes_before + u64::from(changed));
            } else if roll_back {
                let after = table.sorted_entries();
                let changes = table.changes();
                table.roll_back_changes();
                assert_eq!(
                    table.sorted_entries(),
                    after,
                    "batch {batch}: nothing to undo with"
                );
                assert_eq!(table.changes(), changes);
            } else {
                table.commit_changes();
            }
            assert!(table.change_log().expect("attached").is_empty());
        }
    }

    #[test]
    fn writes_that_change_nothing_record_nothing() {
        let mut table = Table::new();
        table.insert_new(b"k", b"v");
        table.start_change_log(Undoable::Yes);
        assert!(!table.insert_new(b"k", b"w"));
        assert!(!table.update_existing(b"missing", b"w"));
        assert!(table.remove(b"missing").is_none());
        assert!(table.change_log().expect("attached").is_empty());
        assert!(table.update_existing(b"k", b"w"));
        assert_eq!(
            table.change_log().expect("attached").effects(),
            (&b"\x01\x01\x00\x00\x00\x01\x00\x00\x00kw"[..], 1)
        );
    }
}

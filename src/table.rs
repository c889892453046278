//! The in-memory table: binary keys to binary values, the whole database. Pure data, no I/O.
//!
//! Each entry is one heap allocation holding `[key length: u32 LE][key][value]`, and the hash
//! table stores only that allocation's 16-byte handle: one allocation and 17 bytes of table per
//! key instead of two allocations and 33 bytes for a map of boxed keys to boxed values. Key
//! lengths fit in 32 bits because no query may exceed `u32::MAX` bytes.
//!
//! Besides the entries it keeps two running figures that persistence needs without a pass over
//! the data: the total bytes of all keys and values (so a save knows its file size up front)
//! and a count of changes (so a save can be skipped when nothing changed since the last one).

use std::hash::BuildHasher;

use foldhash::fast::RandomState;
use hashbrown::hash_table::{Entry as Slot, HashTable};

/// Bytes before the key in an entry's allocation.
const KEY_LEN_BYTES: usize = 4;

/// One key and its value in a single allocation.
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

/// A value taken out of the table (by POP).
pub struct Removed(Entry);

impl Removed {
    pub fn value(&self) -> &[u8] {
        self.0.value()
    }
}

#[derive(Default)]
pub struct Table {
    entries: HashTable<Entry>,
    hasher: RandomState,
    /// Sum of `key.len() + value.len()` over all entries.
    payload_bytes: u64,
    /// Incremented by every call that modifies the table; never decreases.
    changes: u64,
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
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
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

    pub fn get(&self, key: &[u8]) -> Option<&[u8]> {
        self.entries
            .find(self.hash(key), |entry| entry.key() == key)
            .map(Entry::value)
    }

    pub fn contains(&self, key: &[u8]) -> bool {
        self.get(key).is_some()
    }

    /// Inserts `key` only if it is absent. Returns whether it was inserted.
    pub fn insert_new(&mut self, key: &[u8], value: &[u8]) -> bool {
        let hasher = &self.hasher;
        let slot = self.entries.entry(
            hasher.hash_one(key),
            |entry| entry.key() == key,
            |entry| hasher.hash_one(entry.key()),
        );
        match slot {
            Slot::Occupied(_) => false,
            Slot::Vacant(vacant) => {
                vacant.insert(Entry::new(key, value));
                self.payload_bytes += (key.len() + value.len()) as u64;
                self.changes += 1;
                true
            }
        }
    }

    /// Replaces the value of `key` only if it exists. Returns whether it existed.
    pub fn update_existing(&mut self, key: &[u8], value: &[u8]) -> bool {
        let hash = self.hash(key);
        let Some(entry) = self.entries.find_mut(hash, |entry| entry.key() == key) else {
            return false;
        };
        let old_len = entry.value().len();
        if old_len == value.len() {
            entry.value_mut().copy_from_slice(value);
        } else {
            *entry = Entry::new(key, value);
            self.payload_bytes = self.payload_bytes - old_len as u64 + value.len() as u64;
        }
        self.changes += 1;
        true
    }

    /// Inserts or replaces.
    pub fn upsert(&mut self, key: &[u8], value: &[u8]) {
        if !self.update_existing(key, value) {
            self.insert_new(key, value);
        }
    }

    /// Removes `key`, returning its entry if it existed.
    pub fn remove(&mut self, key: &[u8]) -> Option<Removed> {
        let hash = self.hash(key);
        let found = self.entries.find_entry(hash, |entry| entry.key() == key);
        let (entry, _) = found.ok()?.remove();
        self.payload_bytes -= (entry.key().len() + entry.value().len()) as u64;
        self.changes += 1;
        Some(Removed(entry))
    }

    /// Removes every entry and gives their memory back.
    pub fn clear(&mut self) {
        self.entries = HashTable::new();
        self.payload_bytes = 0;
        self.changes += 1;
    }

    /// Every key, in no particular order.
    pub fn keys(&self) -> impl ExactSizeIterator<Item = &[u8]> {
        self.entries.iter().map(Entry::key)
    }

    /// Every entry, in no particular order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&[u8], &[u8])> {
        self.entries
            .iter()
            .map(|entry| (entry.key(), entry.value()))
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
            table.remove(b"ab").map(|r| r.value().to_vec()),
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
}

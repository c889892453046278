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
        true
    }

    fn shared_contains(&self, key: &[u8]) -> bool {
        self.shared
            .find(self.hash(key), |entry| *entry.key == *key)
            .is_some()
    }

    /// Replaces the value of `key` only if it exists. Returns whether it existed.
    pub fn update_existing(&mut self, key: &[u8], value: &[u8]) -> bool {
        let hash = self.hash(key);
        let old_len = if let Some(entry) = self.entries.find_mut(hash, |entry| entry.key() == key) {
            let old_len = entry.value().len();
            if old_len == value.len() {
                entry.value_mut().copy_from_slice(value);
            } else if !is_shared_size(value) {
                *entry = Entry::new(key, value);
            } else {
                self.remove(key);
                self.insert_new(key, value);
                // remove and insert_new counted two changes and kept payload_bytes right.
                self.changes -= 1;
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
                self.remove(key);
                self.insert_new(key, value);
                self.changes -= 1;
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
        let hash = self.hash(key);
        let removed = match self.entries.find_entry(hash, |entry| entry.key() == key) {
            Ok(found) => {
                let (entry, _) = found.remove();
                self.payload_bytes -= (entry.key().len() + entry.value().len()) as u64;
                Removed(Taken::Inline(entry))
            }
            Err(_) if self.shared.is_empty() => return None,
            Err(_) => {
                let found = self.shared.find_entry(hash, |entry| *entry.key == *key);
                let (entry, _) = found.ok()?.remove();
                self.payload_bytes -= (entry.key.len() + entry.value.len()) as u64;
                Removed(Taken::Shared(entry.value))
            }
        };
        self.changes += 1;
        Some(removed)
    }

    /// Removes every entry and gives their memory back.
    pub fn clear(&mut self) {
        self.entries = HashTable::new();
        self.shared = HashTable::new();
        self.payload_bytes = 0;
        self.changes += 1;
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
}

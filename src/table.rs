//! The in-memory table: binary keys to binary values, the whole database. Pure data, no I/O.
//!
//! Besides the map it keeps two running figures that persistence needs without a pass over the
//! data: the total bytes of all keys and values (so a save knows its file size up front) and a
//! count of changes (so a save can be skipped when nothing changed since the last good one).

use std::collections::HashMap;

/// A key or a value. Boxed slices, not `Vec`s: no spare capacity, 16 bytes per handle.
pub type Bytes = Box<[u8]>;

#[derive(Debug, Default, Clone)]
pub struct Table {
    map: HashMap<Bytes, Bytes>,
    /// Sum of `key.len() + value.len()` over all entries.
    payload_bytes: u64,
    /// Incremented by every call that modifies the table; never decreases.
    changes: u64,
}

impl Table {
    pub fn new() -> Self {
        Self::default()
    }

    /// A table holding `entries`; a repeated key keeps its last value.
    pub fn from_entries(entries: impl IntoIterator<Item = (Bytes, Bytes)>) -> Self {
        let entries = entries.into_iter();
        let mut table = Table {
            map: HashMap::with_capacity(entries.size_hint().0),
            ..Table::default()
        };
        for (key, value) in entries {
            let key_len = key.len() as u64;
            table.payload_bytes += key_len + value.len() as u64;
            if let Some(old) = table.map.insert(key, value) {
                // The map kept one copy of the key: take back the key and the old value.
                table.payload_bytes -= key_len + old.len() as u64;
            }
        }
        table
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
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

    pub fn get(&self, key: &[u8]) -> Option<&[u8]> {
        self.map.get(key).map(|value| &**value)
    }

    pub fn contains(&self, key: &[u8]) -> bool {
        self.map.contains_key(key)
    }

    /// Inserts `key` only if it is absent. Returns whether it was inserted.
    pub fn insert_new(&mut self, key: &[u8], value: &[u8]) -> bool {
        if self.map.contains_key(key) {
            return false;
        }
        self.map.insert(key.into(), value.into());
        self.payload_bytes += (key.len() + value.len()) as u64;
        self.changes += 1;
        true
    }

    /// Replaces the value of `key` only if it exists. Returns whether it existed.
    pub fn update_existing(&mut self, key: &[u8], value: &[u8]) -> bool {
        let Some(slot) = self.map.get_mut(key) else {
            return false;
        };
        replace_value(slot, value, &mut self.payload_bytes);
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
    pub fn remove(&mut self, key: &[u8]) -> Option<Bytes> {
        let (key, value) = self.map.remove_entry(key)?;
        self.payload_bytes -= (key.len() + value.len()) as u64;
        self.changes += 1;
        Some(value)
    }

    /// Removes every entry.
    pub fn clear(&mut self) {
        self.map.clear();
        self.payload_bytes = 0;
        self.changes += 1;
    }

    /// Every key, in no particular order.
    pub fn keys(&self) -> impl ExactSizeIterator<Item = &[u8]> {
        self.map.keys().map(|key| &**key)
    }

    /// Every entry, in no particular order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&[u8], &[u8])> {
        self.map.iter().map(|(key, value)| (&**key, &**value))
    }
}

/// Overwrites a stored value, reusing its allocation when the length is unchanged.
fn replace_value(slot: &mut Bytes, value: &[u8], payload_bytes: &mut u64) {
    if slot.len() == value.len() {
        slot.copy_from_slice(value);
    } else {
        *payload_bytes -= slot.len() as u64;
        *payload_bytes += value.len() as u64;
        *slot = value.into();
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
        assert_eq!(table.remove(b"ab").as_deref(), Some(&b"7"[..]));
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
        assert_eq!(table.remove(b"missing"), None);
        assert_eq!(table.changes(), 1);
        table.upsert(b"k", b"x");
        table.clear();
        assert_eq!(table.changes(), 3);
    }

    #[test]
    fn from_entries_keeps_the_last_duplicate() {
        let entry = |k: &[u8], v: &[u8]| (Bytes::from(k), Bytes::from(v));
        let table =
            Table::from_entries([entry(b"a", b"1"), entry(b"b", b"22"), entry(b"a", b"333")]);
        assert_eq!(table.len(), 2);
        assert_eq!(table.get(b"a"), Some(&b"333"[..]));
        assert_eq!(table.payload_bytes(), 1 + 3 + 1 + 2);
    }
}

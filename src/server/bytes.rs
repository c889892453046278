//! A connection's growable byte buffer. While small it lives on the heap; from
//! [`MAPPED_BUFFER_BYTES`] on it lives in an anonymous mapping of its own, so that when it is
//! freed or shrunk back (a client that sent or was sent a lot leaves, or its request is done)
//! the memory goes back to the system at once instead of staying in the allocator's caches.
//! A mapping grows with `mremap`, which moves pages instead of copying bytes, and its pages
//! cost memory only once written. Above the threshold it grows by a quarter at a time, so a
//! buffer holding N bytes never has much more than 1.25 N.

// Unsafe here: resizing an anonymous mapping with `mremap`.
#![allow(unsafe_code)]

use std::io;

use memmap2::{MmapMut, RemapOptions};

/// Buffers at least this large live in their own mapping.
pub const MAPPED_BUFFER_BYTES: usize = 1024 * 1024;
/// The smallest heap allocation a buffer makes.
const MIN_HEAP_BYTES: usize = 64;

enum Storage {
    Heap(Vec<u8>),
    Mapped(MmapMut),
}

/// Bytes `[..len]` in use, within `capacity()` bytes that are always initialised (a heap
/// buffer is kept zero-filled to its capacity, a mapping is zero-filled by the kernel), so a
/// read can go straight into the spare room.
pub struct Buffer {
    storage: Storage,
    len: usize,
}

impl Default for Buffer {
    fn default() -> Self {
        Buffer {
            storage: Storage::Heap(Vec::new()),
            len: 0,
        }
    }
}

impl std::fmt::Debug for Buffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Buffer")
            .field("len", &self.len)
            .field("capacity", &self.capacity())
            .field("mapped", &matches!(self.storage, Storage::Mapped(_)))
            .finish()
    }
}

impl Buffer {
    pub fn capacity(&self) -> usize {
        match &self.storage {
            Storage::Heap(bytes) => bytes.len(),
            Storage::Mapped(map) => map.len(),
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The bytes in use.
    pub fn as_slice(&self) -> &[u8] {
        &self.all()[..self.len]
    }

    /// Every byte of the capacity, in use or not.
    pub fn all(&self) -> &[u8] {
        match &self.storage {
            Storage::Heap(bytes) => bytes,
            Storage::Mapped(map) => map,
        }
    }

    /// Every byte of the capacity, in use or not.
    pub fn all_mut(&mut self) -> &mut [u8] {
        match &mut self.storage {
            Storage::Heap(bytes) => bytes,
            Storage::Mapped(map) => map,
        }
    }

    /// Sets how many bytes are in use; `len` must not exceed the capacity.
    pub fn set_len(&mut self, len: usize) {
        assert!(
            len <= self.capacity(),
            "a buffer's length fits its capacity"
        );
        self.len = len;
    }

    pub fn clear(&mut self) {
        self.len = 0;
    }

    pub fn extend_from_slice(&mut self, bytes: &[u8]) {
        let end = self.len + bytes.len();
        if end > self.capacity() {
            self.grow_to_fit(end);
        }
        let len = self.len;
        self.all_mut()[len..end].copy_from_slice(bytes);
        self.len = end;
    }

    pub fn push(&mut self, byte: u8) {
        self.extend_from_slice(&[byte]);
    }

    /// Grows the capacity to at least `needed`: doubling on the heap, by a quarter (or to
    /// `needed`, if more) in a mapping.
    pub fn grow_to_fit(&mut self, needed: usize) {
        let capacity = self.capacity();
        let step = if capacity < MAPPED_BUFFER_BYTES {
            capacity.max(MIN_HEAP_BYTES)
        } else {
            capacity / 4
        };
        self.set_capacity(needed.max(capacity + step));
    }

    /// Gives the buffer exactly `capacity` bytes (never fewer than are in use), keeping the
    /// bytes in use, and moves it between the heap and a mapping as the size says. A mapping
    /// that cannot be made (the system is out of address space or memory) leaves the buffer
    /// on the heap.
    pub fn set_capacity(&mut self, capacity: usize) {
        let capacity = capacity.max(self.len);
        if capacity == self.capacity() {
            return;
        }
        if capacity < MAPPED_BUFFER_BYTES {
            match &mut self.storage {
                Storage::Heap(bytes) => {
                    bytes.resize(capacity, 0);
                    bytes.shrink_to_fit();
                }
                Storage::Mapped(map) => {
                    let mut bytes = vec![0; capacity];
                    bytes[..self.len].copy_from_slice(&map[..self.len]);
                    self.storage = Storage::Heap(bytes);
                }
            }
            return;
        }
        let remapped = match &mut self.storage {
            // SAFETY: the mapping is anonymous and private to this buffer, and `&mut self`
            // means no slice into it is alive, so moving or resizing it invalidates nothing;
            // the pages past the old end come zero-filled.
            Storage::Mapped(map) => unsafe {
                map.remap(capacity, RemapOptions::new().may_move(true))
            },
            Storage::Heap(bytes) => match MmapMut::map_anon(capacity) {
                Ok(mut map) => {
                    map[..self.len].copy_from_slice(&bytes[..self.len]);
                    self.storage = Storage::Mapped(map);
                    Ok(())
                }
                Err(error) => Err(error),
            },
        };
        if let Err(error) = remapped {
            self.fall_back_to_heap(capacity, &error);
        }
    }

    fn fall_back_to_heap(&mut self, capacity: usize, error: &io::Error) {
        log::debug!("cannot map a buffer of {capacity} bytes ({error}); using the heap");
        let mut bytes = vec![0; capacity];
        bytes[..self.len].copy_from_slice(self.as_slice());
        self.storage = Storage::Heap(bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contents_survive_moves_between_heap_and_mapping() {
        let mut buffer = Buffer::default();
        let data: Vec<u8> = (0..3 * MAPPED_BUFFER_BYTES)
            .map(|i| (i % 251) as u8)
            .collect();
        for chunk in data.chunks(100_000) {
            buffer.extend_from_slice(chunk);
        }
        assert_eq!(buffer.as_slice(), &data[..]);
        assert!(matches!(buffer.storage, Storage::Mapped(_)));
        assert!(
            buffer.capacity() <= data.len() + data.len() / 4 + MAPPED_BUFFER_BYTES,
            "capacity {} for {} bytes",
            buffer.capacity(),
            data.len()
        );
        buffer.set_len(10);
        buffer.set_capacity(4096);
        assert!(matches!(buffer.storage, Storage::Heap(_)));
        assert_eq!((buffer.as_slice(), buffer.capacity()), (&data[..10], 4096));
        buffer.clear();
        buffer.push(7);
        assert_eq!(buffer.as_slice(), [7]);
    }

    #[test]
    fn the_spare_room_is_zeroed_and_writable() {
        let mut buffer = Buffer::default();
        buffer.set_capacity(2 * MAPPED_BUFFER_BYTES);
        assert!(buffer.all_mut().iter().all(|&byte| byte == 0));
        buffer.all_mut()[5] = 9;
        buffer.set_len(6);
        assert_eq!(buffer.as_slice(), [0, 0, 0, 0, 0, 9]);
    }
}

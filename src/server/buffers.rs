//! A connection's two buffers: received bytes not yet executed ([`InputBuffer`]) and answers
//! not yet sent ([`Output`]). They hold bytes and positions only: what the bytes mean is the
//! codec's business, and where they come from or go to is the transport's.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::sync::Arc;

use super::bytes::Buffer;
use crate::protocol::write::Sink;

/// Input buffer size for a new connection, and what an emptied large buffer shrinks back to.
const INPUT_INITIAL_BYTES: usize = 16 * 1024;
/// An emptied input buffer larger than this shrinks back to [`INPUT_INITIAL_BYTES`].
const INPUT_RETAIN_BYTES: usize = 4 * INPUT_INITIAL_BYTES;
/// Below this much free space the input buffer is compacted or grown before a read.
const INPUT_MIN_READ_BYTES: usize = 4 * 1024;
/// An emptied output buffer larger than this is given back to the allocator.
const OUTPUT_RETAIN_BYTES: usize = 1024 * 1024;
/// What an output buffer larger than [`OUTPUT_RETAIN_BYTES`] shrinks back to once emptied.
const OUTPUT_SHRUNK_BYTES: usize = 16 * 1024;

/// Received bytes not yet executed: the buffer's bytes in use from `start` on. Its spare room
/// is always initialised, so reads need no zeroing.
#[derive(Debug, Default)]
pub struct InputBuffer {
    bytes: Buffer,
    start: usize,
}

/// What one read into an [`InputBuffer`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Read {
    pub bytes: usize,
    /// The space offered: fewer bytes than this means the source had no more for now.
    pub room: usize,
}

impl InputBuffer {
    pub fn pending(&self) -> &[u8] {
        &self.bytes.as_slice()[self.start..]
    }

    /// The memory the buffer holds.
    pub fn held_bytes(&self) -> usize {
        self.bytes.capacity()
    }

    /// Drops the first `count` pending bytes (an executed request); an emptied buffer that a
    /// large request grew goes back to its initial size.
    pub fn consume(&mut self, count: usize) {
        self.start += count;
        if self.start == self.bytes.len() {
            self.start = 0;
            self.bytes.clear();
            if self.bytes.capacity() > INPUT_RETAIN_BYTES {
                self.bytes.set_capacity(INPUT_INITIAL_BYTES);
            }
        }
    }

    /// One `read` into the free space, made at least [`INPUT_MIN_READ_BYTES`] large first by
    /// moving pending bytes to the front or by growing the buffer (see [`Buffer`]: a request
    /// of N bytes never costs much more than 1.25 N).
    pub fn read_from(&mut self, source: &mut impl io::Read) -> io::Result<Read> {
        let len = self.bytes.len();
        if self.bytes.capacity() - len < INPUT_MIN_READ_BYTES && self.start > 0 {
            self.bytes.all_mut().copy_within(self.start..len, 0);
            self.bytes.set_len(len - self.start);
            self.start = 0;
        }
        let len = self.bytes.len();
        let needed = (len + INPUT_MIN_READ_BYTES).max(INPUT_INITIAL_BYTES);
        if needed > self.bytes.capacity() {
            self.bytes.grow_to_fit(needed);
        }
        let room = self.bytes.capacity() - len;
        let bytes = source.read(&mut self.bytes.all_mut()[len..])?;
        self.bytes.set_len(len + bytes);
        Ok(Read { bytes, room })
    }
}

/// A position in a connection's output stream: bytes queued since the connection opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Mark(u64);

/// Queued bytes before the owned tail: a run of owned bytes, or a shared value (a long value
/// from the table, queued without a copy).
#[derive(Debug)]
enum Chunk {
    Owned(Buffer),
    Shared(Arc<[u8]>),
}

impl Chunk {
    fn bytes(&self) -> &[u8] {
        match self {
            Chunk::Owned(bytes) => bytes.as_slice(),
            Chunk::Shared(value) => value,
        }
    }
}

/// Answers not yet sent, in order: a queue of chunks, then the owned `tail` that small writes
/// go to (the only part in use unless a shared value was queued). Part of the output can be
/// *held*: while an answer is awaited (a MKSNAP), nothing from the start of its query's
/// response on is sent, so the client sees that response only once it is complete.
///
/// It counts what it holds for the client memory budget ([`Self::held_bytes`]): its owned
/// buffers' capacity, and each distinct shared value once, however often it is queued.
#[derive(Debug, Default)]
pub struct Output {
    queue: VecDeque<Chunk>,
    tail: Buffer,
    /// Bytes of the front chunk (the tail, if the queue is empty) already written.
    sent: usize,
    /// Bytes queued and bytes written since the connection opened.
    queued: u64,
    written: u64,
    /// Nothing at or after this position is written while it is set.
    held_from: Option<Mark>,
    /// Capacity of the owned chunks in the queue.
    queued_owned_bytes: usize,
    /// Distinct shared values queued, by address: how many times, and their length.
    shared: HashMap<usize, (usize, usize)>,
    shared_bytes: usize,
    /// What the connection may still add before its client goes over the memory budget, as of
    /// `room_set_at` bytes queued.
    room: usize,
    room_set_at: u64,
}

impl Output {
    /// Queued bytes not yet written, held or not.
    pub fn backlog(&self) -> usize {
        (self.queued - self.written) as usize
    }

    /// Where the next byte appended will sit.
    pub fn mark(&self) -> Mark {
        Mark(self.queued)
    }

    /// The memory this output holds, for the client memory budget.
    pub fn held_bytes(&self) -> usize {
        self.tail.capacity() + self.queued_owned_bytes + self.shared_bytes
    }

    /// Sets how many more bytes answers may add (see [`Sink::room`]).
    pub fn set_room(&mut self, room: usize) {
        self.room = room;
        self.room_set_at = self.queued;
    }

    /// Sends nothing at or after `from` (or after what is already sent) until [`Self::release`].
    pub fn hold_from(&mut self, from: Mark) {
        self.held_from = Some(from);
    }

    pub fn release(&mut self) {
        self.held_from = None;
    }

    /// Writes queued bytes up to the held part, until done or `sink` would block.
    pub fn write_to(&mut self, sink: &mut impl io::Write) -> io::Result<()> {
        let end = self.held_from.map_or(self.queued, |Mark(from)| from);
        while self.written < end {
            let front = match self.queue.front() {
                Some(chunk) => chunk.bytes(),
                None => self.tail.as_slice(),
            };
            let front_len = front.len();
            let allowed = (front_len - self.sent).min((end - self.written) as usize);
            match sink.write(&front[self.sent..self.sent + allowed]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(written) => {
                    self.sent += written;
                    self.written += written as u64;
                    if self.sent == front_len {
                        self.drop_front();
                    }
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Err(error),
            }
        }
        Ok(())
    }

    /// The front chunk is written: forget it (the tail is kept, emptied, for reuse).
    fn drop_front(&mut self) {
        self.sent = 0;
        match self.queue.pop_front() {
            Some(Chunk::Owned(bytes)) => self.queued_owned_bytes -= bytes.capacity(),
            Some(Chunk::Shared(value)) => self.forget_shared(&value),
            None => {
                self.tail.clear();
                if self.tail.capacity() > OUTPUT_RETAIN_BYTES {
                    self.tail.set_capacity(OUTPUT_SHRUNK_BYTES);
                }
            }
        }
    }

    fn forget_shared(&mut self, value: &Arc<[u8]>) {
        let address = Arc::as_ptr(value).cast::<u8>() as usize;
        if let Some((count, len)) = self.shared.get_mut(&address) {
            *count -= 1;
            if *count == 0 {
                self.shared_bytes -= *len;
                self.shared.remove(&address);
            }
        }
    }
}

impl Sink for Output {
    fn put(&mut self, bytes: &[u8]) {
        self.tail.extend_from_slice(bytes);
        self.queued += bytes.len() as u64;
    }

    fn put_byte(&mut self, byte: u8) {
        self.tail.push(byte);
        self.queued += 1;
    }

    fn put_shared(&mut self, value: &Arc<[u8]>) {
        if !self.tail.is_empty() {
            let owned = std::mem::take(&mut self.tail);
            self.queued_owned_bytes += owned.capacity();
            self.queue.push_back(Chunk::Owned(owned));
        }
        let address = Arc::as_ptr(value).cast::<u8>() as usize;
        let (count, _) = self.shared.entry(address).or_insert((0, value.len()));
        if *count == 0 {
            self.shared_bytes += value.len();
        }
        *count += 1;
        self.queue.push_back(Chunk::Shared(Arc::clone(value)));
        self.queued += value.len() as u64;
    }

    fn room(&self) -> usize {
        let added = (self.queued - self.room_set_at) as usize;
        self.room.saturating_sub(added)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A socket that takes at most `room` bytes, then would block.
    struct Socket {
        taken: Vec<u8>,
        room: usize,
    }

    impl io::Write for Socket {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            if self.room == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let count = bytes.len().min(self.room);
            self.taken.extend_from_slice(&bytes[..count]);
            self.room -= count;
            Ok(count)
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn held_output_waits_and_what_was_sent_stays_sent() {
        let mut output = Output::default();
        let mut sink = Socket {
            taken: Vec::new(),
            room: 3,
        };
        output.put(b"*2\n+1\na\n");
        let query = Mark(0);
        output.write_to(&mut sink).unwrap();
        assert_eq!(sink.taken, b"*2\n");
        output.hold_from(query);
        sink.room = 100;
        output.write_to(&mut sink).unwrap();
        assert_eq!(sink.taken, b"*2\n", "held bytes are not written");
        assert_eq!(output.backlog(), 5);
        output.put(b"!1\n0\n");
        output.release();
        output.write_to(&mut sink).unwrap();
        assert_eq!(sink.taken, b"*2\n+1\na\n!1\n0\n");
        assert_eq!((output.backlog(), output.mark()), (0, Mark(13)));
        assert!(output.queue.is_empty());
        output.put(b"x");
        output.hold_from(Mark(13));
        output.write_to(&mut sink).unwrap();
        assert_eq!(output.backlog(), 1);
    }

    #[test]
    fn a_shared_value_is_sent_in_place_and_counted_once() {
        let value: Arc<[u8]> = Arc::from(vec![b'v'; 1000]);
        let mut output = Output::default();
        output.set_room(10_000);
        for _ in 0..3 {
            output.put(b"+1000\n");
            output.put_shared(&value);
            output.put_byte(b'\n');
        }
        assert_eq!(output.backlog(), 3 * 1007);
        assert_eq!(output.room(), 10_000 - 3 * 1007);
        let owned = output.held_bytes() - 1000;
        assert!(
            owned < 1000,
            "the value is counted once: {owned} other bytes"
        );
        let mut sink = Socket {
            taken: Vec::new(),
            room: 1500,
        };
        output.write_to(&mut sink).unwrap();
        sink.room = usize::MAX;
        output.write_to(&mut sink).unwrap();
        let one = [&b"+1000\n"[..], &[b'v'; 1000], b"\n"].concat();
        assert_eq!(sink.taken, one.repeat(3));
        assert_eq!((output.backlog(), output.shared_bytes), (0, 0));
        assert!(output.shared.is_empty());
    }
}

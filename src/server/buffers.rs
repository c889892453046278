//! A connection's two buffers: received bytes not yet executed ([`InputBuffer`]) and answers
//! not yet sent ([`Output`]). They hold bytes and positions only: what the bytes mean is the
//! codec's business, and where they come from or go to is the transport's.

use std::io;

/// Input buffer size for a new connection, and what an emptied large buffer shrinks back to.
const INPUT_INITIAL_BYTES: usize = 16 * 1024;
/// Below this much free space the input buffer is compacted or grown before a read.
const INPUT_MIN_READ_BYTES: usize = 4 * 1024;
/// An emptied output buffer larger than this is given back to the allocator.
const OUTPUT_RETAIN_BYTES: usize = 1024 * 1024;
/// What an output buffer larger than [`OUTPUT_RETAIN_BYTES`] shrinks back to once emptied.
const OUTPUT_SHRUNK_BYTES: usize = 16 * 1024;

/// Received bytes not yet executed: `bytes[start..end]`. The vector is kept fully initialised
/// (its length is its capacity) so reads need no zeroing.
#[derive(Debug, Default)]
pub struct InputBuffer {
    bytes: Vec<u8>,
    start: usize,
    end: usize,
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
        &self.bytes[self.start..self.end]
    }

    /// Drops the first `count` pending bytes (an executed request).
    pub fn consume(&mut self, count: usize) {
        self.start += count;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
            if self.bytes.len() > 4 * INPUT_INITIAL_BYTES {
                self.bytes.truncate(INPUT_INITIAL_BYTES);
                self.bytes.shrink_to_fit();
            }
        }
    }

    /// One `read` into the free space, made at least [`INPUT_MIN_READ_BYTES`] large first by
    /// moving pending bytes to the front or by doubling the buffer.
    pub fn read_from(&mut self, source: &mut impl io::Read) -> io::Result<Read> {
        if self.bytes.len() - self.end < INPUT_MIN_READ_BYTES {
            if self.start > 0 {
                self.bytes.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
            if self.bytes.len() - self.end < INPUT_MIN_READ_BYTES {
                let grown = (self.bytes.len() * 2).max(INPUT_INITIAL_BYTES);
                self.bytes.resize(grown, 0);
            }
        }
        let room = self.bytes.len() - self.end;
        let bytes = source.read(&mut self.bytes[self.end..])?;
        self.end += bytes;
        Ok(Read { bytes, room })
    }
}

/// A position in a connection's output stream: bytes queued since the connection opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Mark(u64);

/// Answers not yet sent. Codecs append to [`Self::bytes_mut`]; the connection writes them out
/// in order. Part of the output can be *held*: while an answer is awaited (a MKSNAP), nothing
/// from the start of its query's response on is sent, so the client sees that response only
/// once it is complete.
#[derive(Debug, Default)]
pub struct Output {
    bytes: Vec<u8>,
    /// Bytes at the front of `bytes` already written.
    sent: usize,
    /// Bytes written and dropped from the front before `bytes[0]`.
    dropped: u64,
    /// Nothing at or after this position is written while it is set.
    held_from: Option<Mark>,
}

impl Output {
    /// Queued bytes not yet written, held or not.
    pub fn backlog(&self) -> usize {
        self.bytes.len() - self.sent
    }

    /// Where the next byte appended will sit.
    pub fn mark(&self) -> Mark {
        Mark(self.dropped + self.bytes.len() as u64)
    }

    /// The buffer codecs append answers to.
    pub fn bytes_mut(&mut self) -> &mut Vec<u8> {
        &mut self.bytes
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
        let end = match self.held_from {
            Some(Mark(from)) => from
                .saturating_sub(self.dropped)
                .min(self.bytes.len() as u64),
            None => self.bytes.len() as u64,
        } as usize;
        while self.sent < end {
            match sink.write(&self.bytes[self.sent..end]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(written) => self.sent += written,
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Err(error),
            }
        }
        if self.sent == self.bytes.len() {
            self.dropped += self.bytes.len() as u64;
            self.bytes.clear();
            self.sent = 0;
            if self.bytes.capacity() > OUTPUT_RETAIN_BYTES {
                self.bytes.shrink_to(OUTPUT_SHRUNK_BYTES);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sink that takes at most `room` bytes, then would block.
    struct Sink {
        taken: Vec<u8>,
        room: usize,
    }

    impl io::Write for Sink {
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
        let mut sink = Sink {
            taken: Vec::new(),
            room: 3,
        };
        output.bytes_mut().extend_from_slice(b"*2\n+1\na\n");
        let query = Mark(0);
        output.write_to(&mut sink).unwrap();
        assert_eq!(sink.taken, b"*2\n");
        output.hold_from(query);
        sink.room = 100;
        output.write_to(&mut sink).unwrap();
        assert_eq!(sink.taken, b"*2\n", "held bytes are not written");
        assert_eq!(output.backlog(), 5);
        output.bytes_mut().extend_from_slice(b"!1\n0\n");
        output.release();
        output.write_to(&mut sink).unwrap();
        assert_eq!(sink.taken, b"*2\n+1\na\n!1\n0\n");
        assert_eq!((output.backlog(), output.mark()), (0, Mark(13)));
        output.bytes_mut().extend_from_slice(b"x");
        output.hold_from(Mark(13));
        output.write_to(&mut sink).unwrap();
        assert_eq!(output.backlog(), 1);
    }
}

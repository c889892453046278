//! One non-blocking connection's plumbing for the mio loop: connecting, an outgoing buffer
//! flushed until the socket would block, and a read buffer drained until it would block (mio
//! is edge-triggered, so every readiness event must be followed to `WouldBlock`). It knows no
//! protocol and no timing: `client` and `saver` frame and judge what arrives.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::Duration;

use mio::net::TcpStream;

/// How long to wait for a connection to be accepted before giving up on the server.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Free space guaranteed before each read; replies larger than this grow the buffer.
const READ_CHUNK: usize = 64 * 1024;

#[derive(Debug)]
pub struct Wire {
    pub stream: TcpStream,
    outgoing: Vec<u8>,
    written: usize,
    incoming: Vec<u8>,
    /// `incoming[start..end]` holds bytes read but not yet consumed.
    start: usize,
    end: usize,
}

/// What a read found besides data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadEnd {
    /// Everything available was read; the connection is still open.
    Drained,
    /// The server closed the connection (or reset it); whatever arrived before is kept.
    Closed,
}

impl Wire {
    /// Connects with a blocking connect (so a refused connection is reported at once, before any
    /// test starts) and then switches to non-blocking for the loop.
    pub fn connect(addr: SocketAddr) -> io::Result<Wire> {
        let stream = std::net::TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT)?;
        // Requests go out in whole batches; Nagle's delay would only add latency to the tail
        // of a batch split across segments.
        stream.set_nodelay(true)?;
        stream.set_nonblocking(true)?;
        Ok(Wire {
            stream: TcpStream::from_std(stream),
            outgoing: Vec::new(),
            written: 0,
            incoming: vec![0; READ_CHUNK],
            start: 0,
            end: 0,
        })
    }

    /// The buffer the next requests are appended to; [`Self::flush`] sends them.
    pub fn outgoing(&mut self) -> &mut Vec<u8> {
        if self.written == self.outgoing.len() {
            self.outgoing.clear();
            self.written = 0;
        }
        &mut self.outgoing
    }

    /// Writes until everything is sent or the socket would block (the rest goes on the next
    /// writable event).
    pub fn flush(&mut self) -> io::Result<()> {
        while self.written < self.outgoing.len() {
            match self.stream.write(&self.outgoing[self.written..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.written += n,
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Err(error),
            }
        }
        Ok(())
    }

    /// Reads until the socket would block or the server closes the connection.
    pub fn read_available(&mut self) -> io::Result<ReadEnd> {
        loop {
            self.make_room();
            match self.stream.read(&mut self.incoming[self.end..]) {
                Ok(0) => return Ok(ReadEnd::Closed),
                Ok(n) => self.end += n,
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                    return Ok(ReadEnd::Drained)
                }
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) if error.kind() == io::ErrorKind::ConnectionReset => {
                    return Ok(ReadEnd::Closed)
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// Bytes read and not yet consumed.
    pub fn unread(&self) -> &[u8] {
        &self.incoming[self.start..self.end]
    }

    pub fn consume(&mut self, len: usize) {
        self.start += len;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Guarantees READ_CHUNK free bytes at the end, first by moving unread bytes to the front
    /// (cheap: usually a partial reply), then by growing.
    fn make_room(&mut self) {
        if self.incoming.len() - self.end >= READ_CHUNK {
            return;
        }
        if self.start > 0 {
            self.incoming.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.incoming.len() - self.end < READ_CHUNK {
            self.incoming.resize(self.end + READ_CHUNK, 0);
        }
    }
}

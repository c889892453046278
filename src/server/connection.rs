//! One client connection: its socket, input and output buffers, and the step that turns
//! received bytes into executed queries and queued responses.
//!
//! Memory stays bounded whatever the client does: the socket is read only when the buffer
//! holds no complete query, and queries stop being executed once [`OUTPUT_HIGH_WATER_BYTES`]
//! of responses wait to be sent, so a client that stops reading stops being read; the input
//! buffer holds at most one incomplete query (within the query limit) plus one read. The
//! socket is edge-triggered, so the connection remembers whether it may still hold unread
//! bytes (`readable`).

use std::io::{self, ErrorKind, Write};
use std::net::SocketAddr;

use log::debug;
use mio::net::TcpStream;

use super::admin::{self, AdminReply};
use crate::action::{self, Outcome};
use crate::persist::Persistence;
use crate::protocol::{self, write, Element, QueryParser, ResponseCode};
use crate::table::Table;

/// Input buffer size for a new connection, and what an emptied large buffer shrinks back to.
const INPUT_INITIAL_BYTES: usize = 16 * 1024;
/// Below this much free space the input buffer is compacted or grown before a read.
const INPUT_MIN_READ_BYTES: usize = 4 * 1024;
/// Queries stop being executed while this many response bytes wait to be sent.
pub const OUTPUT_HIGH_WATER_BYTES: usize = 64 * 1024;
/// An emptied output buffer larger than this is given back to the allocator.
const OUTPUT_RETAIN_BYTES: usize = 1024 * 1024;
/// Bytes read from one connection before the event loop turns to the others.
const READ_BUDGET_BYTES: usize = 256 * 1024;

/// What a connection needs from the server to execute queries.
pub struct Exec<'a> {
    pub table: &'a mut Table,
    pub persistence: &'a mut Persistence,
    /// This connection's slab key, to be named as the waiter of a job it asks for.
    pub key: usize,
}

/// Whether the connection wants to be driven again without a new readiness event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Turn {
    /// Waiting for the socket (more bytes, or room to write).
    Wait,
    /// Stopped only to be fair to other connections: drive again soon.
    Yield,
}

pub struct Connection {
    stream: TcpStream,
    peer: SocketAddr,
    input: InputBuffer,
    parser: QueryParser,
    /// Index of the next element to execute in the current (complete) query. Non-zero only
    /// while a pipeline is paused because its responses filled the output buffer.
    next_element: usize,
    output: Vec<u8>,
    /// Bytes at the front of `output` already written to the socket.
    sent: usize,
    /// Where in `output` the current query's response starts. While a MKSNAP waits, nothing
    /// from here on is sent, so the client sees the response only once it is complete.
    response_start: usize,
    /// The socket may hold unread bytes: set by a readable event, cleared at `WouldBlock` or
    /// a short read.
    readable: bool,
    /// The peer has closed its side (the event said so): read until the end-of-stream read
    /// instead of stopping at a short one, since no further event will come.
    hung_up: bool,
    /// No more input will be read: the peer closed its side, or the server is shutting down
    /// and has read everything the peer sent before.
    input_closed: bool,
    /// Shutdown: read what is already there, then stop reading.
    draining: bool,
    /// A malformed query was answered; send what is queued, then close.
    closing: bool,
    /// A MKSNAP is waiting for its snapshot job: nothing more is read or executed until
    /// [`Connection::complete_admin`] delivers its answer, so answers stay in order.
    awaiting_admin: bool,
}

impl Connection {
    pub fn new(stream: TcpStream, peer: SocketAddr, max_query_bytes: usize) -> Connection {
        Connection {
            stream,
            peer,
            input: InputBuffer::default(),
            parser: QueryParser::new(max_query_bytes),
            next_element: 0,
            output: Vec::new(),
            sent: 0,
            response_start: 0,
            readable: false,
            hung_up: false,
            input_closed: false,
            draining: false,
            closing: false,
            awaiting_admin: false,
        }
    }

    pub fn stream_mut(&mut self) -> &mut TcpStream {
        &mut self.stream
    }

    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// Records a readable event; the next [`Self::drive`] reads. `hung_up`: the event also
    /// said the peer closed its side.
    pub fn mark_readable(&mut self, hung_up: bool) {
        self.readable = true;
        self.hung_up |= hung_up;
    }

    /// Shutdown: answer every complete query the peer has already sent, then stop reading.
    pub fn begin_draining(&mut self) {
        self.draining = true;
        self.readable = true;
    }

    /// Everything is answered and sent, and nothing more will be read: close it.
    pub fn is_finished(&self) -> bool {
        (self.closing || self.input_closed) && !self.awaiting_admin && self.backlog() == 0
    }

    /// Whether the connection waits for a job's result.
    pub fn is_awaiting_admin(&self) -> bool {
        self.awaiting_admin
    }

    /// Delivers the answer the connection was waiting for; drive it afterwards.
    pub fn complete_admin(&mut self, write_answer: impl FnOnce(&mut Vec<u8>)) {
        write_answer(&mut self.output);
        self.awaiting_admin = false;
    }

    /// Executes, writes and reads until the socket would block, the output backs up, or the
    /// read budget is spent. Reads only when no complete query is left in the buffer, so a
    /// client that does not read its responses is not read either. An error means the
    /// connection is broken and must be closed.
    pub fn drive(&mut self, exec: &mut Exec<'_>) -> io::Result<Turn> {
        let mut budget = READ_BUDGET_BYTES;
        loop {
            let more_buffered = self.execute_buffered(exec);
            self.flush()?;
            if self.closing || self.awaiting_admin || self.backlog() >= OUTPUT_HIGH_WATER_BYTES {
                return Ok(Turn::Wait);
            }
            if more_buffered {
                // The output drained below the mark: run what is already here before reading.
                continue;
            }
            if !self.readable || self.input_closed {
                return Ok(Turn::Wait);
            }
            if budget == 0 {
                return Ok(Turn::Yield);
            }
            match self.input.read_from(&mut self.stream) {
                Ok(Read { bytes: 0, .. }) => {
                    self.readable = false;
                    self.input_closed = true;
                    if !self.input.pending().is_empty() {
                        debug!(
                            "{}: peer closed with {} bytes of an incomplete query",
                            self.peer,
                            self.input.pending().len()
                        );
                    }
                }
                Ok(Read { bytes, room }) => {
                    budget = budget.saturating_sub(bytes);
                    if bytes < room && !self.hung_up {
                        // A short read emptied the socket; new bytes raise a new event. This
                        // saves the read that would only have said WouldBlock.
                        self.readable = false;
                        self.input_closed = self.draining;
                    }
                }
                Err(error) if error.kind() == ErrorKind::WouldBlock => {
                    self.readable = false;
                    self.input_closed = self.draining;
                }
                Err(error) if error.kind() == ErrorKind::Interrupted => {}
                Err(error) => return Err(error),
            }
        }
    }

    fn backlog(&self) -> usize {
        self.output.len() - self.sent
    }

    /// Executes complete queries from the input buffer until it holds none, or the output
    /// reaches its high-water mark (a pipeline may pause between two of its elements). Returns
    /// whether it stopped at the mark, with complete work possibly left in the buffer.
    fn execute_buffered(&mut self, exec: &mut Exec<'_>) -> bool {
        while !self.closing && !self.awaiting_admin {
            if self.output.len() - self.sent >= OUTPUT_HIGH_WATER_BYTES {
                return true;
            }
            let pending = self.input.pending();
            let length = match self.parser.parse(pending) {
                Ok(Some(length)) => length,
                Ok(None) => return false,
                Err(error) => {
                    debug!("{}: closing after a malformed query: {error}", self.peer);
                    protocol::error_response(&error, &mut self.output);
                    self.closing = true;
                    return false;
                }
            };
            let query = self.parser.query(&pending[..length]);
            if self.next_element == 0 {
                self.response_start = self.output.len();
                write::query_header(&mut self.output, query.len());
            }
            while self.next_element < query.len() {
                if self.output.len() - self.sent >= OUTPUT_HIGH_WATER_BYTES {
                    return true;
                }
                match query.element(self.next_element) {
                    Element::Action { first, count } => {
                        let strings = query.action_args(first, count);
                        let writes = exec.persistence.writes();
                        let outcome =
                            action::execute(exec.table, writes, strings, &mut self.output);
                        if let Outcome::Admin(request) = outcome {
                            let reply = admin::answer(
                                &request,
                                exec.key,
                                exec.table,
                                exec.persistence,
                                &mut self.output,
                            );
                            if reply == AdminReply::Deferred {
                                self.awaiting_admin = true;
                                self.next_element += 1;
                                return false;
                            }
                        }
                    }
                    Element::NotAnAction => write::code(&mut self.output, ResponseCode::Wrongtype),
                }
                self.next_element += 1;
            }
            self.next_element = 0;
            self.parser.reset();
            self.input.consume(length);
        }
        false
    }

    /// Writes queued output until done or the socket would block; while a MKSNAP waits, only
    /// the responses of the queries before it.
    fn flush(&mut self) -> io::Result<()> {
        let end = if self.awaiting_admin {
            self.response_start.min(self.output.len())
        } else {
            self.output.len()
        };
        while self.sent < end {
            match self.stream.write(&self.output[self.sent..end]) {
                Ok(0) => return Err(ErrorKind::WriteZero.into()),
                Ok(written) => self.sent += written,
                Err(error) if error.kind() == ErrorKind::WouldBlock => return Ok(()),
                Err(error) if error.kind() == ErrorKind::Interrupted => {}
                Err(error) => return Err(error),
            }
        }
        if self.sent < self.output.len() {
            return Ok(());
        }
        self.output.clear();
        self.sent = 0;
        // A pipeline paused at the high-water mark may have sent part of its response already.
        self.response_start = 0;
        if self.output.capacity() > OUTPUT_RETAIN_BYTES {
            self.output.shrink_to(INPUT_INITIAL_BYTES);
        }
        Ok(())
    }
}

/// Received bytes not yet executed: `bytes[start..end]`. The vector is kept fully initialised
/// (its length is its capacity) so reads need no zeroing.
#[derive(Debug, Default)]
struct InputBuffer {
    bytes: Vec<u8>,
    start: usize,
    end: usize,
}

impl InputBuffer {
    fn pending(&self) -> &[u8] {
        &self.bytes[self.start..self.end]
    }

    fn consume(&mut self, count: usize) {
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
    fn read_from(&mut self, source: &mut impl io::Read) -> io::Result<Read> {
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

/// What one `read` did.
struct Read {
    bytes: usize,
    /// The space offered: fewer bytes than this means the socket had no more.
    room: usize,
}

//! One client connection. It moves bytes: it reads from its transport into its input buffer,
//! lets its codec execute the requests that are complete (the codec asks the server's
//! [`Handler`] what each one means), and writes the answers back. It knows nothing of the
//! table, the actions or persistence.
//!
//! Memory stays bounded whatever the client does: the socket is read only when the buffer
//! holds no complete request, and requests stop being executed once
//! [`OUTPUT_HIGH_WATER_BYTES`] of answers wait to be sent, so a client that stops reading
//! stops being read; the input buffer holds at most one incomplete request (within the query
//! limit) plus one read. Writing is separate from executing: the server writes every
//! connection's output once per turn of its loop, after executing.
//!
//! Over TLS the same holds for plaintext; the transport says when bytes still wait inside it
//! (decrypted input, records to send), so a connection is neither left unread nor closed with
//! records unsent, and a finished TLS connection says close_notify before it closes.

use std::io::{self, ErrorKind};
use std::net::SocketAddr;

use log::debug;
use mio::net::TcpStream;

use super::buffers::{InputBuffer, Output, Read};
use super::codec::{Codec, Handler, LastWords, Progress, OUTPUT_HIGH_WATER_BYTES};
use super::transport::Transport;

/// Bytes read from one connection before the event loop turns to the others.
const READ_BUDGET_BYTES: usize = 256 * 1024;

/// Whether the connection wants to be driven again without a new readiness event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Turn {
    /// Waiting for the socket (more bytes, or room to write), or for an answer.
    Wait,
    /// Stopped only to be fair to other connections, or its output drained enough to go on
    /// executing: drive it again soon.
    Yield,
}

/// What the socket may still hold. It is edge-triggered: a readiness event comes only when
/// new bytes arrive, so the connection remembers whether unread bytes may be left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Socket {
    /// Read until it had no more.
    Drained,
    /// An event said bytes arrived.
    Readable,
    /// The peer closed its side (or the socket failed): read until the end of the stream,
    /// since no further event will come.
    HungUp,
}

/// Whether input is still taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Input {
    Open,
    /// Shutting down: read what the peer has already sent, then stop.
    Draining,
    /// Nothing more will be read: the peer closed its side, or draining is done.
    Closed,
}

/// Whether requests are being executed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Execution {
    Running,
    /// Stopped at the output's high-water mark, complete requests possibly left; goes on once
    /// the output has drained below it.
    OutputFull,
    /// A request waits for an answer from a job (MKSNAP): nothing more is read or executed
    /// until [`Connection::deliver`], so answers stay in order.
    AwaitingAnswer,
    /// A malformed request was answered, or the client asked to leave: send what is queued,
    /// then close.
    Closing,
}

/// Names one connection for the server's whole run: a slab key is reused once its connection
/// closes, an id never is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionId(pub u64);

pub struct Connection {
    id: ConnectionId,
    transport: Transport,
    peer: SocketAddr,
    input: InputBuffer,
    output: Output,
    codec: Codec,
    socket: Socket,
    input_state: Input,
    execution: Execution,
    /// What the client memory budget last counted this connection as holding.
    counted_bytes: usize,
}

impl Connection {
    pub fn new(
        id: ConnectionId,
        transport: Transport,
        peer: SocketAddr,
        codec: Codec,
    ) -> Connection {
        Connection {
            id,
            transport,
            peer,
            input: InputBuffer::default(),
            output: Output::default(),
            codec,
            socket: Socket::Drained,
            input_state: Input::Open,
            execution: Execution::Running,
            counted_bytes: 0,
        }
    }

    pub fn id(&self) -> ConnectionId {
        self.id
    }

    pub fn is_tls(&self) -> bool {
        self.transport.is_tls()
    }

    /// Whether it is a TLS connection whose handshake has not completed.
    pub fn is_handshaking(&self) -> bool {
        self.transport.is_handshaking()
    }

    /// The memory this connection's buffers hold, the transport's own included.
    pub fn held_bytes(&self) -> usize {
        self.input.held_bytes()
            + self.output.held_bytes()
            + self.codec.held_bytes()
            + self.transport.held_bytes()
    }

    /// Counts the connection again: returns what it was counted as before, and now.
    pub fn recount(&mut self) -> (usize, usize) {
        let now = self.held_bytes();
        (std::mem::replace(&mut self.counted_bytes, now), now)
    }

    pub fn counted_bytes(&self) -> usize {
        self.counted_bytes
    }

    /// How many more bytes its answers may add (see [`crate::protocol::write::Sink::room`]).
    pub fn set_room(&mut self, room: usize) {
        self.output.set_room(room);
    }

    /// Before the connection is closed for the server's own reasons: if `may_send` (no queued
    /// answer waits for a commit), tells the client why, as a complete response if one can be
    /// said now, and makes one attempt to send what is queued and a TLS close_notify. Without
    /// `may_send` nothing is sent, close_notify included: a clean end of the stream would
    /// hide the answers that were dropped.
    pub fn say_goodbye(&mut self, words: LastWords, may_send: bool) {
        if !may_send {
            return;
        }
        if self.execution != Execution::AwaitingAnswer {
            self.codec.interject(words, &mut self.output);
        }
        let sent = self.output.write_to(&mut self.transport).and_then(|()| {
            self.transport.close_notify();
            self.transport.send_buffered()
        });
        if let Err(error) = sent {
            debug!("{}: cannot send the last words: {error}", self.peer);
        }
    }

    /// Whether answers wait to be sent.
    pub fn has_output(&self) -> bool {
        self.output.backlog() > 0
    }

    /// The socket to register with (and deregister from) the event loop.
    pub fn socket(&mut self) -> &mut TcpStream {
        self.transport.socket()
    }

    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// Records a readable event; the next [`Self::drive`] reads. `hung_up`: the event also
    /// said the peer closed its side.
    pub fn mark_readable(&mut self, hung_up: bool) {
        if hung_up {
            self.socket = Socket::HungUp;
        } else if self.socket == Socket::Drained {
            self.socket = Socket::Readable;
        }
    }

    /// Shutdown: answer every complete request the peer has already sent, then stop reading.
    pub fn begin_draining(&mut self) {
        if self.input_state == Input::Open {
            self.input_state = Input::Draining;
        }
        self.mark_readable(false);
    }

    /// Everything is answered and sent, the transport's own bytes included, and nothing more
    /// will be read or executed: close it.
    pub fn is_finished(&self) -> bool {
        self.has_nothing_more_to_say()
            && self.output.backlog() == 0
            && !self.transport.wants_write()
    }

    /// Nothing more will be read or executed (what is queued may still be unsent).
    fn has_nothing_more_to_say(&self) -> bool {
        match self.execution {
            Execution::Closing => true,
            Execution::Running => self.input_state == Input::Closed,
            Execution::OutputFull | Execution::AwaitingAnswer => false,
        }
    }

    /// Whether the connection waits for a job's answer.
    pub fn is_awaiting_answer(&self) -> bool {
        self.execution == Execution::AwaitingAnswer
    }

    /// Delivers the answer the connection was waiting for (whether its job succeeded); drive
    /// it afterwards.
    pub fn deliver(&mut self, succeeded: bool) {
        self.codec.answer_deferred(succeeded, &mut self.output);
        self.output.release();
        self.execution = Execution::Running;
    }

    /// Executes and reads until no complete request is left and the socket has no more, the
    /// output is full, an answer is awaited, or the read budget is spent. Reads only when no
    /// complete request is left in the buffer, so a client that does not read its answers is
    /// not read either. Writes nothing: see [`Self::flush`]. An error means the connection is
    /// broken and must be closed.
    pub fn drive(&mut self, handler: &mut impl Handler) -> io::Result<Turn> {
        let mut budget = READ_BUDGET_BYTES;
        if self.execution == Execution::OutputFull
            && self.output.backlog() < OUTPUT_HIGH_WATER_BYTES
        {
            self.execution = Execution::Running;
        }
        while self.execution == Execution::Running {
            match self.codec.run(&mut self.input, &mut self.output, handler) {
                Progress::NeedInput => {}
                Progress::OutputFull => self.execution = Execution::OutputFull,
                Progress::Deferred => self.execution = Execution::AwaitingAnswer,
                Progress::Malformed(reason) => {
                    debug!("{}: closing after a malformed query: {reason}", self.peer);
                    self.execution = Execution::Closing;
                }
                Progress::Quit => {
                    debug!("{}: the client asked to close the connection", self.peer);
                    self.execution = Execution::Closing;
                }
            }
            if self.execution != Execution::Running
                || self.socket == Socket::Drained
                || self.input_state == Input::Closed
            {
                break;
            }
            if budget == 0 {
                return Ok(Turn::Yield);
            }
            budget = budget.saturating_sub(self.read()?);
        }
        Ok(Turn::Wait)
    }

    /// One read from the socket; returns the bytes read.
    fn read(&mut self) -> io::Result<usize> {
        match self.input.read_from(&mut self.transport) {
            Ok(Read { bytes: 0, .. }) => {
                self.socket = Socket::Drained;
                self.input_state = Input::Closed;
                if !self.input.pending().is_empty() {
                    debug!(
                        "{}: peer closed with {} bytes of an incomplete query",
                        self.peer,
                        self.input.pending().len()
                    );
                }
                Ok(0)
            }
            Ok(Read { bytes, room }) => {
                if bytes < room
                    && self.socket != Socket::HungUp
                    && !self.transport.has_buffered_input()
                {
                    // A short read emptied the socket; new bytes raise a new event. This saves
                    // the read that would only have said WouldBlock.
                    self.socket_drained();
                }
                Ok(bytes)
            }
            Err(error) if error.kind() == ErrorKind::WouldBlock => {
                self.socket_drained();
                Ok(0)
            }
            Err(error) if error.kind() == ErrorKind::Interrupted => Ok(0),
            Err(error) => Err(error),
        }
    }

    fn socket_drained(&mut self) {
        self.socket = Socket::Drained;
        if self.input_state == Input::Draining {
            self.input_state = Input::Closed;
        }
    }

    /// Writes queued answers until done or the socket would block. Returns [`Turn::Yield`] if
    /// execution stopped at the high-water mark and may now go on.
    pub fn flush(&mut self) -> io::Result<Turn> {
        self.output.write_to(&mut self.transport)?;
        if self.transport.is_tls() {
            if self.output.backlog() == 0 && self.has_nothing_more_to_say() {
                self.transport.close_notify();
            }
            // Handshake messages, alerts and close_notify have no output bytes of their own.
            self.transport.send_buffered()?;
        }
        let resumable = self.execution == Execution::OutputFull
            && self.output.backlog() < OUTPUT_HIGH_WATER_BYTES;
        Ok(if resumable { Turn::Yield } else { Turn::Wait })
    }
}

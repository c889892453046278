//! `-t connect`: new connections per second. Each of `-c` slots loops: start a non-blocking
//! connect, the TLS handshake with `--tls`, one no-op request (HEYA on Skyhash, PING on RESP),
//! its reply, close; then the next, until `-n` connections are settled. A request's latency
//! runs from starting its connection to reading its reply; the close is not timed. One mio loop
//! drives every slot, as in `client`. A failure before any connection has been answered stops
//! the run with that error (a refused port, a certificate that does not verify); later ones
//! are counted and quoted, and the slot starts its next connection.

use std::io;
use std::net::SocketAddr;
use std::time::Instant;

use mio::{Events, Interest, Poll, Token};

use crate::load::{self, LoadError, Progress, Tally, TestOutcome, STALL_TIMEOUT};
use crate::options::LoadOptions;
use crate::protocol::{quote, Protocol};
use crate::tls::TlsClient;
use crate::wire::{ReadEnd, Wire};
use crate::workload::{check_reply, KeyChooser, RequestTemplate, TestKind};

/// One slot's connection under way, if it has one.
struct Slot {
    wire: Option<Wire>,
    started: Instant,
}

struct Engine<'a> {
    protocol: Protocol,
    addr: SocketAddr,
    tls: Option<&'a TlsClient>,
    total: u64,
    template: RequestTemplate,
    /// The no-op names no key; the template still wants a chooser.
    keys: KeyChooser,
    poll: Poll,
    slots: Vec<Slot>,
    tally: Tally,
}

/// Runs the connect test against `addr` (over TLS with `tls`).
pub fn run_test(
    options: &LoadOptions,
    addr: SocketAddr,
    tls: Option<&TlsClient>,
) -> Result<TestOutcome, LoadError> {
    let started = Instant::now();
    let mut engine = Engine {
        protocol: options.protocol,
        addr,
        tls,
        total: options.requests,
        template: RequestTemplate::new(TestKind::Connect, options.protocol, 0),
        keys: KeyChooser::new(None),
        poll: Poll::new().map_err(LoadError::Poll)?,
        slots: (0..options.clients)
            .map(|_| Slot {
                wire: None,
                started,
            })
            .collect(),
        tally: Tally::new()?,
    };
    for id in 0..engine.slots.len() {
        engine.open(id)?;
    }
    engine.run(started)
}

impl Engine<'_> {
    fn run(mut self, started: Instant) -> Result<TestOutcome, LoadError> {
        let name = TestKind::Connect.name(self.protocol);
        let mut events = Events::with_capacity(1024);
        let mut progress = Progress::new(started);
        let mut last_activity = started;
        let stopped = loop {
            if self.settled() >= self.total {
                break None;
            }
            if last_activity.elapsed() >= STALL_TIMEOUT {
                break Some(format!("no reply for {} s", STALL_TIMEOUT.as_secs()));
            }
            let stall = last_activity + STALL_TIMEOUT;
            let deadline = progress.next.map_or(stall, |due| due.min(stall));
            load::wait(&mut self.poll, &mut events, deadline)?;
            let before = self.settled();
            for event in events.iter() {
                self.on_event(event.token().0)?;
            }
            let now = Instant::now();
            if self.settled() != before {
                last_activity = now;
            }
            progress.show(now, name, self.settled(), self.total);
        };
        progress.clear();
        Ok(self.finish(started, stopped))
    }

    fn settled(&self) -> u64 {
        self.tally.settled()
    }

    /// Starts slot `id`'s next connection, if connections remain to be made.
    fn open(&mut self, id: usize) -> Result<(), LoadError> {
        if self.tally.issued >= self.total {
            return Ok(());
        }
        self.tally.issued += 1;
        let started = Instant::now();
        let mut wire = match Wire::start_connect(self.addr, self.tls) {
            Ok(wire) => wire,
            Err(error) => return self.fail(id, error),
        };
        self.poll
            .registry()
            .register(
                &mut wire.stream,
                Token(id),
                Interest::READABLE | Interest::WRITABLE,
            )
            .map_err(LoadError::Poll)?;
        self.template.append(wire.outgoing(), &mut self.keys);
        self.slots[id] = Slot {
            wire: Some(wire),
            started,
        };
        Ok(())
    }

    /// Moves slot `id`'s connection on: completes the connect, writes, reads, and settles it
    /// once its reply is in.
    fn on_event(&mut self, id: usize) -> Result<(), LoadError> {
        let Some(wire) = self.slots[id].wire.as_mut() else {
            // A stale event for a connection already settled.
            return Ok(());
        };
        let end = match wire.flush().and_then(|()| wire.read_available()) {
            Ok(end) => end,
            Err(error) => return self.fail(id, error),
        };
        match check_reply(self.protocol, TestKind::Connect, wire.unread()) {
            Ok(Some((len, expected))) => {
                if !expected {
                    let text = format!("unexpected reply {}", quote(&wire.unread()[..len]));
                    self.tally.count_error(&text);
                }
                self.answer(id);
                self.open(id)
            }
            Ok(None) if end == ReadEnd::Closed => self.fail(
                id,
                io::Error::new(
                    io::ErrorKind::ConnectionAborted,
                    "closed by the server before its reply",
                ),
            ),
            Ok(None) => Ok(()),
            Err(malformed) => {
                let text = format!("malformed reply ({malformed}): {}", quote(wire.unread()));
                self.fail(id, io::Error::new(io::ErrorKind::InvalidData, text))
            }
        }
    }

    /// Records slot `id`'s answered request and closes its connection.
    fn answer(&mut self, id: usize) {
        self.tally.answer(self.slots[id].started, Instant::now());
        self.close(id);
    }

    /// Gives up slot `id`'s connection: its request is lost and counts as an error. Before
    /// any request has been answered, that ends the run; afterwards the slot starts again.
    fn fail(&mut self, id: usize, error: io::Error) -> Result<(), LoadError> {
        self.close(id);
        self.tally.lose(1);
        self.tally.connections_lost += 1;
        if self.tally.answered == 0 {
            return Err(LoadError::connecting(self.addr, error));
        }
        self.tally
            .note_first_error(&format!("connection failed: {error}"));
        self.open(id)
    }

    fn close(&mut self, id: usize) {
        if let Some(mut wire) = self.slots[id].wire.take() {
            wire.close();
            // Deregistering can only fail for a socket mio does not know; it closes anyway.
            let _ = self.poll.registry().deregister(&mut wire.stream);
        }
    }

    fn finish(mut self, started: Instant, stopped: Option<String>) -> TestOutcome {
        if stopped.is_some() {
            for id in 0..self.slots.len() {
                if self.slots[id].wire.is_some() {
                    self.close(id);
                    self.tally.lose(1);
                }
            }
        }
        self.tally
            .into_outcome(TestKind::Connect, started, stopped, None)
    }
}

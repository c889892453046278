//! The load engine: runs one test by driving every connection from a single mio loop. Each
//! connection sends a batch of `pipeline` requests, reads and checks their replies, records
//! each one's latency (batch written → reply read) and then sends the next batch, until the
//! test's requests are all answered or lost. One thread keeps the tool off the server's second
//! core. With `--tls` every handshake ends before the test's clock starts. It neither builds
//! requests (`workload`) nor formats results (`report`).

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

use crate::load::{self, LoadError, Progress, Tally, TestOutcome, STALL_TIMEOUT};
use crate::options::LoadOptions;
use crate::protocol::{quote, Protocol};
use crate::saver::Saver;
use crate::tls::TlsClient;
use crate::wire::{ReadEnd, Wire};
use crate::workload::{check_reply, KeyChooser, RequestTemplate, TestKind};

/// How long the TLS handshakes of all the connections may take together.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// One connection of the test.
struct Client {
    wire: Wire,
    /// Requests of the current batch still waiting for their reply.
    unanswered: usize,
    batch_sent_at: Instant,
    open: bool,
}

struct Engine<'a> {
    protocol: Protocol,
    kind: TestKind,
    pipeline: usize,
    total: u64,
    template: RequestTemplate,
    keys: &'a mut KeyChooser,
    poll: Poll,
    clients: Vec<Client>,
    saver: Option<Saver>,
    tally: Tally,
}

/// Runs test `kind` against `addr` (over TLS with `tls`); `keys` carries on from one test to
/// the next.
pub fn run_test(
    options: &LoadOptions,
    addr: SocketAddr,
    tls: Option<&TlsClient>,
    kind: TestKind,
    keys: &mut KeyChooser,
) -> Result<TestOutcome, LoadError> {
    let mut poll = Poll::new().map_err(LoadError::Poll)?;
    let mut clients = Vec::with_capacity(options.clients);
    for index in 0..options.clients {
        let mut wire =
            Wire::connect(addr, tls).map_err(|source| LoadError::Connect { addr, source })?;
        register(&poll, &mut wire.stream, index)?;
        clients.push(Client {
            wire,
            unanswered: 0,
            batch_sent_at: Instant::now(),
            open: true,
        });
    }
    if tls.is_some() {
        complete_handshakes(&mut poll, &mut clients, addr)?;
    }
    let saver = if options.background_saves {
        let mut saver = Saver::connect(addr, tls, options.protocol).map_err(LoadError::Saves)?;
        register(&poll, saver.stream(), options.clients)?;
        Some(saver)
    } else {
        None
    };
    let engine = Engine {
        protocol: options.protocol,
        kind,
        pipeline: options.pipeline,
        total: options.requests,
        template: RequestTemplate::new(kind, options.protocol, options.data_size),
        keys,
        poll,
        clients,
        saver,
        tally: Tally::new()?,
    };
    engine.run()
}

fn register(poll: &Poll, stream: &mut TcpStream, index: usize) -> Result<(), LoadError> {
    poll.registry()
        .register(
            stream,
            Token(index),
            Interest::READABLE | Interest::WRITABLE,
        )
        .map_err(LoadError::Poll)
}

/// Drives every connection's TLS handshake to its end before the test starts, so the test
/// times requests, not handshakes (`-t connect` times those).
fn complete_handshakes(
    poll: &mut Poll,
    clients: &mut [Client],
    addr: SocketAddr,
) -> Result<(), LoadError> {
    let failed = |source| LoadError::Handshake { addr, source };
    for client in clients.iter_mut() {
        client.wire.flush().map_err(failed)?;
    }
    let deadline = Instant::now() + HANDSHAKE_TIMEOUT;
    let mut events = Events::with_capacity(1024);
    while clients.iter().any(|client| !client.wire.is_ready()) {
        if Instant::now() >= deadline {
            return Err(failed(io::ErrorKind::TimedOut.into()));
        }
        load::wait(poll, &mut events, deadline)?;
        for event in events.iter() {
            let wire = &mut clients[event.token().0].wire;
            if event.is_writable() {
                wire.flush().map_err(failed)?;
            }
            if wire.read_available().map_err(failed)? == ReadEnd::Closed {
                return Err(failed(io::Error::new(
                    io::ErrorKind::ConnectionAborted,
                    "the server closed the connection",
                )));
            }
        }
    }
    Ok(())
}

impl Engine<'_> {
    fn run(mut self) -> Result<TestOutcome, LoadError> {
        let name = self.kind.name(self.protocol);
        let mut events = Events::with_capacity(1024);
        let started = Instant::now();
        for id in 0..self.clients.len() {
            self.start_batch(id);
        }
        if let Some(saver) = &mut self.saver {
            saver.on_timer(started).map_err(LoadError::Saves)?;
        }
        let mut progress = Progress::new(started);
        let mut last_activity = started;
        let stopped = loop {
            if self.settled() >= self.total {
                break None;
            }
            if let Some(reason) = self.reason_to_stop(last_activity) {
                break Some(reason);
            }
            let deadline = self.next_deadline(last_activity, &progress);
            load::wait(&mut self.poll, &mut events, deadline)?;
            let before = self.settled();
            self.dispatch(&events)?;
            let now = Instant::now();
            if self.settled() != before {
                last_activity = now;
            }
            if let Some(saver) = &mut self.saver {
                saver.on_timer(now).map_err(LoadError::Saves)?;
            }
            progress.show(now, name, self.settled(), self.total);
        };
        progress.clear();
        Ok(self.finish(started, stopped))
    }

    /// Why the test cannot go on, if it cannot: no connection left, or no reply for too long.
    fn reason_to_stop(&self, last_activity: Instant) -> Option<String> {
        if !self.clients.iter().any(|client| client.open) {
            return Some("every connection was closed".to_owned());
        }
        if last_activity.elapsed() >= STALL_TIMEOUT {
            return Some(format!("no reply for {} s", STALL_TIMEOUT.as_secs()));
        }
        None
    }

    /// The earliest of the stall deadline, the next progress line and the saver's timer.
    fn next_deadline(&self, last_activity: Instant, progress: &Progress) -> Instant {
        let mut deadline = last_activity + STALL_TIMEOUT;
        if let Some(due) = progress.next {
            deadline = deadline.min(due);
        }
        if let Some(due) = self.saver.as_ref().and_then(Saver::deadline) {
            deadline = deadline.min(due);
        }
        deadline
    }

    /// Hands each readiness event to its connection or to the saver.
    fn dispatch(&mut self, events: &Events) -> Result<(), LoadError> {
        for event in events.iter() {
            let Token(id) = event.token();
            if id < self.clients.len() {
                self.on_event(id, event.is_writable());
            } else if let Some(saver) = &mut self.saver {
                saver
                    .on_event(Instant::now(), event.is_writable())
                    .map_err(LoadError::Saves)?;
            }
        }
        Ok(())
    }

    /// The outcome once the loop has ended; a stopped test drops every connection first.
    fn finish(mut self, started: Instant, stopped: Option<String>) -> TestOutcome {
        if stopped.is_some() {
            for id in 0..self.clients.len() {
                self.drop_connection(id, None);
            }
        }
        let saves = self.saver.as_ref().map(Saver::tally);
        self.tally.into_outcome(self.kind, started, stopped, saves)
    }

    fn settled(&self) -> u64 {
        self.tally.settled()
    }

    /// Sends connection `id` its next batch, if requests remain to be issued.
    fn start_batch(&mut self, id: usize) {
        let remaining = self.total - self.tally.issued;
        let count = (self.pipeline as u64).min(remaining) as usize;
        let client = &mut self.clients[id];
        if count == 0 || !client.open {
            return;
        }
        let out = client.wire.outgoing();
        for _ in 0..count {
            self.template.append(out, self.keys);
        }
        self.tally.issued += count as u64;
        client.unanswered = count;
        client.batch_sent_at = Instant::now();
        if let Err(error) = client.wire.flush() {
            self.drop_connection(id, Some(&format!("write failed: {error}")));
        }
    }

    fn on_event(&mut self, id: usize, writable: bool) {
        if !self.clients[id].open {
            return;
        }
        if writable {
            if let Err(error) = self.clients[id].wire.flush() {
                self.drop_connection(id, Some(&format!("write failed: {error}")));
                return;
            }
        }
        let end = match self.clients[id].wire.read_available() {
            Ok(end) => end,
            Err(error) => {
                self.drop_connection(id, Some(&format!("read failed: {error}")));
                return;
            }
        };
        let now = Instant::now();
        if !self.take_replies(id, now) {
            return;
        }
        if end == ReadEnd::Closed {
            self.drop_connection(id, Some("closed by the server"));
        } else if self.clients[id].unanswered == 0 {
            self.start_batch(id);
        }
    }

    /// Consumes every complete reply of connection `id`; false if the connection had to be
    /// dropped (a malformed reply, or bytes that answer nothing).
    fn take_replies(&mut self, id: usize, now: Instant) -> bool {
        let client = &mut self.clients[id];
        while client.unanswered > 0 {
            let buf = client.wire.unread();
            match check_reply(self.protocol, self.kind, buf) {
                Ok(None) => break,
                Ok(Some((len, expected))) => {
                    if !expected {
                        let text = format!("unexpected reply {}", quote(&buf[..len]));
                        self.tally.count_error(&text);
                    }
                    self.tally.answer(client.batch_sent_at, now);
                    client.wire.consume(len);
                    client.unanswered -= 1;
                }
                Err(malformed) => {
                    // Not counted here: the request it answers is counted as lost, with the
                    // rest of the connection's batch.
                    let text = format!("malformed reply ({malformed}): {}", quote(buf));
                    self.tally.note_first_error(&text);
                    self.drop_connection(id, Some(&text));
                    return false;
                }
            }
        }
        let client = &self.clients[id];
        if client.unanswered == 0 && !client.wire.unread().is_empty() {
            let text = format!(
                "bytes that answer no request: {}",
                quote(client.wire.unread())
            );
            self.tally.count_error(&text);
            self.drop_connection(id, Some(&text));
            return false;
        }
        true
    }

    /// Gives up connection `id`: its unanswered requests are lost, and count as errors. A
    /// `reason` means the connection failed (said once on stderr, and counted); `None` means
    /// the test itself was stopped.
    fn drop_connection(&mut self, id: usize, reason: Option<&str>) {
        let client = &mut self.clients[id];
        if !client.open {
            return;
        }
        client.open = false;
        // Deregistering can only fail for a socket mio does not know; it is closed anyway.
        let _ = self.poll.registry().deregister(&mut client.wire.stream);
        let unanswered = client.unanswered as u64;
        client.unanswered = 0;
        self.tally.lose(unanswered);
        let Some(reason) = reason else {
            return;
        };
        self.tally.connections_lost += 1;
        if self.tally.connections_lost == 1 {
            eprintln!(
                "stratus-bench: {}: connection {id}: {reason}; {unanswered} requests unanswered",
                self.kind.name(self.protocol)
            );
        }
        self.tally
            .note_first_error(&format!("connection {id}: {reason}"));
    }
}

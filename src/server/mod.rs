//! The server: one thread, one mio readiness loop for the listeners, every client connection
//! (plain TCP or TLS, handshakes included), signals, timers and save children. The only
//! module that does network I/O.
//!
//! Each turn of the loop sleeps in `poll` until an event or the earliest timer deadline, handles
//! the events, gives connections that yielded their turn another one, then runs due timers.
//! SIGINT/SIGTERM start a graceful shutdown: stop accepting, answer every complete
//! query already received, let a running save finish, save in the foreground, exit. The server
//! never exits 0 without that last save succeeding.

mod budget;
mod buffers;
mod bytes;
mod codec;
mod connection;
mod dispatch;
mod handshakes;
mod info;
mod listeners;
mod saves;
mod shutdown;
mod signals;
mod status;
mod timers;
mod tls;
mod transport;

use std::collections::VecDeque;
use std::fmt;
use std::io::{self, ErrorKind};
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

use log::{debug, info, warn};
use mio::{Events, Interest, Poll, Token};
use slab::Slab;

use crate::config::{Config, JournalFsync};
use crate::persist::{Commit, Job, Persistence, StartupError};
use crate::table::Table;
use budget::{ClientMemory, ClientsStatus, TlsCounts};
use codec::LastWords;
use connection::{Connection, ConnectionId, Turn};
use dispatch::Dispatch;
use handshakes::{HandshakeDeadlines, HANDSHAKE_TIMEOUT};
use info::{Counters, ServerFacts};
use listeners::{Accepted, Listeners, Protocol, MAX_LISTENERS};
use signals::SignalSource;
use timers::{Timer, Timers};
use tls::TlsSetupError;

const SIGNALS: Token = Token(0);
/// Listener `i` is `Token(FIRST_LISTENER + i)`.
const FIRST_LISTENER: usize = 1;
/// Client `n` of the slab is `Token(FIRST_CLIENT + n)`.
const FIRST_CLIENT: usize = FIRST_LISTENER + MAX_LISTENERS;

/// Readiness events taken from the kernel per `poll` call.
const EVENTS_PER_POLL: usize = 1024;
/// Pause before accepting again after `accept` failed for lack of descriptors or memory.
const ACCEPT_RETRY_DELAY: Duration = Duration::from_millis(100);
/// How long shutdown waits for clients to read their last responses.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// `everysec`: the journal is fsynced this often.
const JOURNAL_SYNC_INTERVAL: Duration = Duration::from_secs(1);
/// While a save child runs, look for its end at least this often, SIGCHLD or not.
const REAP_CHECK_INTERVAL: Duration = Duration::from_secs(1);
/// The first retry of a failed shutdown save comes after this long; each next one after twice
/// as long, up to [`FINAL_SAVE_RETRY_MAX`].
const FINAL_SAVE_RETRY_FIRST: Duration = Duration::from_secs(1);
const FINAL_SAVE_RETRY_MAX: Duration = Duration::from_secs(30);

/// Why the server could not start or had to stop.
#[derive(Debug)]
pub enum ServerError {
    /// The TLS key or certificate chain cannot be served.
    Tls(TlsSetupError),
    Persistence(StartupError),
    Bind {
        address: SocketAddr,
        source: io::Error,
    },
    /// The readiness loop itself failed (epoll, signal handlers).
    EventLoop(io::Error),
    /// A second signal gave up on a failing shutdown save.
    ShutdownSaveAborted {
        data_file: String,
        attempts: u32,
    },
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServerError::Tls(error) => write!(f, "TLS configuration error: {error}"),
            ServerError::Persistence(error) => error.fmt(f),
            ServerError::Bind { address, source } => {
                write!(
                    f,
                    "Failed to bind to TCP port {address} with error: {source}"
                )
            }
            ServerError::EventLoop(source) => write!(f, "event loop failure: {source}"),
            ServerError::ShutdownSaveAborted {
                data_file,
                attempts,
            } => write!(
                f,
                "Shutdown save abandoned after {attempts} failed attempt(s): {data_file} still \
                 holds the last good save, and the changes made since then are lost"
            ),
        }
    }
}

impl std::error::Error for ServerError {}

/// Whether new connections are being accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Accepting {
    Yes,
    /// `maxcon` clients are connected; resume when one leaves.
    AtLimit,
    /// `accept` failed for lack of resources; [`Timer::AcceptRetry`] resumes.
    Backoff,
}

/// Why a connection is being driven.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Readiness {
    /// The socket has bytes to read.
    Readable,
    /// The peer closed its side, or the socket failed: read to the end.
    HungUp,
    /// Only room to write.
    WritableOnly,
    /// Not an event: the connection yielded its turn, got a job's answer, or is draining.
    Resumed,
}

/// Where the server is in its life.
#[derive(Debug)]
enum Phase {
    Serving,
    /// A shutdown signal arrived: answering what was received, then closing connections.
    Draining,
    /// Connections are closed; a background save is still running.
    WaitingForSave,
    /// The shutdown save failed; [`Timer::FinalSaveRetry`] tries again.
    RetryingFinalSave {
        attempts: u32,
    },
    /// The loop ends with this result.
    Finished(Result<(), ServerError>),
}

/// The running server.
pub struct Server {
    config: Config,
    poll: Poll,
    /// Closed (empty) once shutdown has begun.
    listeners: Listeners,
    signals: SignalSource,
    connections: Slab<Connection>,
    /// Connections that yielded their turn with work left, to be driven again soon.
    ready: VecDeque<usize>,
    /// Connections driven in this turn of the loop, whose output is written at its end.
    to_flush: Vec<usize>,
    /// Save jobs may have ended or been queued: look at them at the end of this turn, when
    /// the table holds no uncommitted writes (a fork sees exactly what the journal holds).
    jobs_due: bool,
    table: Table,
    persistence: Persistence,
    client_memory: ClientMemory,
    tls_counts: TlsCounts,
    /// TLS connections in the order they were accepted, to close those whose handshake has
    /// not completed in time.
    handshakes: HandshakeDeadlines,
    timers: Timers,
    accepting: Accepting,
    phase: Phase,
    facts: ServerFacts,
    counters: Counters,
    /// The id of the next connection accepted: its RESP `CLIENT ID`, and its
    /// [`ConnectionId`], never reused.
    next_client_id: u64,
}

impl Server {
    /// Loads the TLS settings and the data, binds the listeners and installs the signal
    /// handlers. TLS comes first: a bad key or certificate must stop the start before the
    /// data directory is locked or anything is bound.
    pub fn start(config: Config) -> Result<Server, ServerError> {
        let tls = match &config.tls {
            Some(settings) => {
                let loaded = tls::setup::load(settings).map_err(ServerError::Tls)?;
                info!(
                    "TLS: serving the certificate chain {} ({} certificate(s)) with the key {}; \
                     {}",
                    settings.chain.display(),
                    loaded.chain_length,
                    settings.key.display(),
                    tls::setup::PROTOCOL_NAMES
                );
                Some(loaded.server_config)
            }
            None => None,
        };
        let (persistence, table) = Persistence::open(
            &config.data_dir,
            config.snapshot,
            config.restore.as_deref(),
            config.journal,
        )
        .map_err(ServerError::Persistence)?;
        let poll = Poll::new().map_err(ServerError::EventLoop)?;
        let listeners = Listeners::bind(&config, tls.as_ref(), poll.registry(), FIRST_LISTENER)?;
        let mut signals = SignalSource::new().map_err(ServerError::EventLoop)?;
        signals
            .register(poll.registry(), SIGNALS)
            .map_err(ServerError::EventLoop)?;
        let mut timers = Timers::default();
        match config.bgsave {
            Some(interval) => {
                timers.set(Timer::Bgsave, deadline_after(interval));
                info!("BGSAVE every {} s", interval.as_secs());
            }
            None => info!("BGSAVE is disabled: data is saved only at shutdown"),
        }
        if let Some(snapshots) = config.snapshot {
            timers.set(Timer::Snapshot, deadline_after(snapshots.every));
            info!(
                "Snapshots every {} s, keeping {}",
                snapshots.every.as_secs(),
                match snapshots.keep {
                    0 => "all".to_owned(),
                    keep => format!("the last {keep}"),
                }
            );
        }
        if persistence.journal_mode() == Some(JournalFsync::EverySec) {
            timers.set(Timer::JournalSync, deadline_after(JOURNAL_SYNC_INTERVAL));
        }
        let client_memory = ClientMemory::new(config.max_client_memory);
        listeners.log_started();
        let facts = ServerFacts {
            started: SystemTime::now(),
            started_at: Instant::now(),
            resp_port: listeners.port_of(Protocol::Resp),
        };
        Ok(Server {
            config,
            poll,
            listeners,
            signals,
            connections: Slab::new(),
            ready: VecDeque::new(),
            to_flush: Vec::new(),
            jobs_due: false,
            table,
            persistence,
            client_memory,
            tls_counts: TlsCounts::default(),
            handshakes: HandshakeDeadlines::default(),
            timers,
            accepting: Accepting::Yes,
            phase: Phase::Serving,
            facts,
            counters: Counters::default(),
            next_client_id: 1,
        })
    }

    /// Serves until a shutdown signal has been handled.
    pub fn run(mut self) -> Result<(), ServerError> {
        let mut events = Events::with_capacity(EVENTS_PER_POLL);
        loop {
            let timeout = if self.ready.is_empty() {
                self.timers.poll_timeout(Instant::now())
            } else {
                Some(Duration::ZERO)
            };
            match self.wait_for_events(&mut events, timeout) {
                Ok(()) => {}
                Err(error) if error.kind() == ErrorKind::Interrupted => continue,
                Err(error) => return Err(ServerError::EventLoop(error)),
            }
            for event in events.iter() {
                match event.token() {
                    SIGNALS => self.handle_signals(),
                    token if token.0 < FIRST_CLIENT => {
                        if let Some(index) = self.listeners.index_of(token) {
                            self.accept_from(index);
                        }
                    }
                    // A stale token (a connection closed earlier in this batch) finds no
                    // connection and is skipped in drive_connection.
                    Token(token) => {
                        let hung_up = event.is_read_closed() || event.is_error();
                        let readiness = match (event.is_readable() || hung_up, hung_up) {
                            (false, _) => Readiness::WritableOnly,
                            (true, false) => Readiness::Readable,
                            (true, true) => Readiness::HungUp,
                        };
                        self.drive_connection(token - FIRST_CLIENT, readiness);
                    }
                }
            }
            for _ in 0..self.ready.len() {
                if let Some(key) = self.ready.pop_front() {
                    self.drive_connection(key, Readiness::Resumed);
                }
            }
            self.commit_journal();
            self.flush_connections();
            if std::mem::take(&mut self.jobs_due) {
                self.poll_jobs();
            }
            self.run_due_timers();
            self.advance_shutdown();
            if let Phase::Finished(result) = &mut self.phase {
                return std::mem::replace(result, Ok(()));
            }
        }
    }

    /// Fills `events` with what is ready, waiting up to `timeout`. After a turn that had
    /// events (`events` still holds them), it first polls without sleeping for up to
    /// `--busy-poll`: a client that answers within that time is served without the loop going
    /// to sleep and being woken again, which on a virtual machine costs the sender an
    /// interrupt and tens of microseconds per request. An idle server sleeps at once.
    fn wait_for_events(
        &mut self,
        events: &mut Events,
        timeout: Option<Duration>,
    ) -> io::Result<()> {
        let spin = self.config.busy_poll;
        if !spin.is_zero() && !events.is_empty() && timeout != Some(Duration::ZERO) {
            let until = Instant::now() + spin;
            loop {
                self.poll.poll(events, Some(Duration::ZERO))?;
                if !events.is_empty() {
                    return Ok(());
                }
                if Instant::now() >= until {
                    break;
                }
            }
        }
        self.poll.poll(events, timeout)
    }

    /// Accepts on every listener: after a pause, when their readiness events may be gone.
    fn accept_all(&mut self) {
        for index in 0..self.listeners.len() {
            self.accept_from(index);
        }
    }

    /// Accepts on listener `index` until its backlog is empty, the connection limit is
    /// reached, or accept fails.
    fn accept_from(&mut self, index: usize) {
        while self.accepting == Accepting::Yes {
            if self.connections.len() >= self.config.maxcon {
                self.accepting = Accepting::AtLimit;
                info!(
                    "Reached the connection limit of {}; waiting for a client to leave",
                    self.config.maxcon
                );
                return;
            }
            match self.listeners.accept(index) {
                Ok(accepted) => self.add_connection(accepted),
                Err(error) if error.kind() == ErrorKind::WouldBlock => return,
                Err(error)
                    if matches!(
                        error.kind(),
                        ErrorKind::Interrupted | ErrorKind::ConnectionAborted
                    ) => {}
                Err(error) => {
                    // Out of descriptors or memory: the pending client stays in the backlog,
                    // and retrying at once would spin.
                    warn!(
                        "Failed to accept a connection: {error}; retrying in {} ms",
                        ACCEPT_RETRY_DELAY.as_millis()
                    );
                    self.accepting = Accepting::Backoff;
                    self.timers
                        .set(Timer::AcceptRetry, Instant::now() + ACCEPT_RETRY_DELAY);
                }
            }
        }
    }

    fn add_connection(&mut self, accepted: Accepted) {
        let peer = accepted.peer;
        if let Err(error) = accepted.stream.set_nodelay(true) {
            debug!("{peer}: cannot disable Nagle's algorithm: {error}");
        }
        let is_tls = accepted.is_tls();
        // RESP's `CLIENT ID`, and what tells this connection from a later one with its key.
        let client_id = self.next_client_id;
        self.next_client_id += 1;
        let parts = accepted.into_parts(self.config.max_query_bytes, client_id);
        let (mut transport, peer, codec) = match parts {
            Ok(parts) => parts,
            Err(error) => {
                warn!("{peer}: cannot start a TLS session: {error}");
                return;
            }
        };
        let entry = self.connections.vacant_entry();
        let token = Token(FIRST_CLIENT + entry.key());
        if let Err(error) = self.poll.registry().register(
            transport.socket(),
            token,
            Interest::READABLE | Interest::WRITABLE,
        ) {
            warn!("{peer}: cannot watch the new connection: {error}");
            return;
        }
        self.counters.connections_received += 1;
        let id = ConnectionId(client_id);
        if is_tls {
            self.tls_counts.open += 1;
            let deadline = self.handshakes.start(Instant::now(), entry.key(), id);
            self.timers
                .set_no_later_than(Timer::HandshakeTimeout, deadline);
        }
        debug!("{peer}: connected");
        entry.insert(Connection::new(id, transport, peer, codec));
    }

    /// Lets one connection execute and read; closes it if it is broken. Its output is
    /// written at the end of the loop's turn ([`Self::flush_connections`]).
    fn drive_connection(&mut self, key: usize, readiness: Readiness) {
        let clients = self.clients_status();
        let Some(connection) = self.connections.get_mut(key) else {
            return;
        };
        match readiness {
            Readiness::Readable => connection.mark_readable(false),
            Readiness::HungUp => connection.mark_readable(true),
            Readiness::WritableOnly | Readiness::Resumed => {}
        }
        connection.set_room(self.client_memory.room());
        let mut dispatch = Dispatch {
            table: &mut self.table,
            persistence: &mut self.persistence,
            clients,
            config: &self.config,
            facts: &self.facts,
            counters: &mut self.counters,
            connection: key,
            queued_job: false,
        };
        let turn = connection.drive(&mut dispatch);
        let start_jobs = connection.is_awaiting_answer() || dispatch.queued_job;
        match turn {
            Ok(Turn::Yield) => self.ready.push_back(key),
            Ok(Turn::Wait) => {}
            Err(error) => {
                debug!("{}: connection error: {error}", connection.peer());
                self.close_connection(key);
                return;
            }
        }
        self.to_flush.push(key);
        self.recount(key);
        if start_jobs {
            // It asked for a save or a snapshot: start it at the end of this turn, once its
            // writes are committed, if no other save is running.
            self.jobs_due = true;
        }
    }

    /// Counts connection `key`'s buffers again; if all clients together now hold more than
    /// the budget, closes the connections holding the most until they do not.
    fn recount(&mut self, key: usize) {
        if let Some(connection) = self.connections.get_mut(key) {
            let (before, now) = connection.recount();
            self.client_memory.recount(before, now);
        }
        while self.client_memory.is_over() {
            let Some((largest, _)) = self
                .connections
                .iter()
                .max_by_key(|(_, connection)| connection.counted_bytes())
            else {
                break;
            };
            self.close_over_budget(largest);
        }
    }

    /// Closes the connection holding the most when clients hold more than the budget.
    fn close_over_budget(&mut self, key: usize) {
        let Some(connection) = self.connections.get_mut(key) else {
            return;
        };
        warn!(
            "Closing the connection from {}: its buffers hold {} bytes, the most of any \
             client, and all clients together hold {}, over the limit of {} \
             (--max-client-memory)",
            connection.peer(),
            connection.counted_bytes(),
            self.client_memory.held(),
            self.client_memory.limit()
        );
        // Queued answers may acknowledge writes the journal has not committed yet: they are
        // sent only if there are none.
        let committed = self.table.change_log().is_none_or(|log| log.is_empty());
        connection.say_goodbye(LastWords::ClientMemoryLimit, committed);
        self.client_memory.count_closed();
        self.close_connection(key);
    }

    /// Commits the writes executed in this turn to the journal, before any answer of the turn
    /// is sent. If that fails, the writes are not durable, so no answer given since the last
    /// commit may reach a client: the connections holding such answers are closed unanswered
    /// (their outcome is unknown to them, as after a crash), and the server is poisoned.
    fn commit_journal(&mut self) {
        if self.persistence.commit(&mut self.table) == Commit::Failed {
            let keys = std::mem::take(&mut self.to_flush);
            for key in keys {
                if self
                    .connections
                    .get(key)
                    .is_some_and(|connection| connection.has_output())
                {
                    self.close_connection(key);
                }
            }
            self.schedule_periodic_saves();
        }
        if self.persistence.journal_wants_compaction() {
            let _ = self.persistence.request(Job::PERIODIC_BGSAVE);
            self.jobs_due = true;
        }
    }

    /// Writes the output of every connection driven in this turn; closes those that are done
    /// or broken, and gives those whose output drained below the high-water mark another turn.
    fn flush_connections(&mut self) {
        let mut keys = std::mem::take(&mut self.to_flush);
        for &key in &keys {
            let Some(connection) = self.connections.get_mut(key) else {
                continue;
            };
            match connection.flush() {
                Ok(Turn::Yield) => self.ready.push_back(key),
                Ok(Turn::Wait) if connection.is_finished() => {
                    self.close_connection(key);
                    continue;
                }
                Ok(Turn::Wait) => {}
                Err(error) => {
                    debug!("{}: connection error: {error}", connection.peer());
                    self.close_connection(key);
                    continue;
                }
            }
            self.recount(key);
        }
        keys.clear();
        self.to_flush = keys;
    }

    fn close_connection(&mut self, key: usize) {
        let Some(mut connection) = self.connections.try_remove(key) else {
            return;
        };
        self.client_memory.recount(connection.counted_bytes(), 0);
        // Deregister explicitly: a forked child may still hold a copy of the descriptor, and
        // then closing ours would not take it out of the epoll set.
        if let Err(error) = self.poll.registry().deregister(connection.socket()) {
            debug!("{}: deregister failed: {error}", connection.peer());
        }
        if connection.is_awaiting_answer() {
            self.persistence.forget_waiter(key);
        }
        if connection.is_tls() {
            self.tls_counts.open -= 1;
            if connection.is_handshaking() {
                self.tls_counts.handshake_failures += 1;
                debug!(
                    "{}: closed before its TLS handshake completed",
                    connection.peer()
                );
            }
        }
        debug!("{}: disconnected", connection.peer());
        if self.accepting == Accepting::AtLimit {
            self.accepting = Accepting::Yes;
            self.accept_all();
        }
    }

    fn close_all_connections(&mut self) {
        let keys: Vec<usize> = self.connections.iter().map(|(key, _)| key).collect();
        for key in keys {
            self.close_connection(key);
        }
    }

    fn run_due_timers(&mut self) {
        while let Some(timer) = self.timers.pop_due(Instant::now()) {
            match timer {
                Timer::AcceptRetry => {
                    if self.accepting == Accepting::Backoff {
                        self.accepting = Accepting::Yes;
                        self.accept_all();
                    }
                }
                Timer::ShutdownGrace => {
                    if !self.connections.is_empty() {
                        warn!(
                            "Closing {} connection(s) that did not read their responses within {} s",
                            self.connections.len(),
                            SHUTDOWN_GRACE.as_secs()
                        );
                        self.close_all_connections();
                    }
                }
                Timer::Bgsave => self.run_periodic(Job::PERIODIC_BGSAVE),
                Timer::Snapshot => self.run_periodic(Job::PeriodicSnapshot),
                Timer::ReapCheck => self.poll_jobs(),
                Timer::JournalSync => {
                    self.persistence.sync_journal();
                    self.timers
                        .set(Timer::JournalSync, deadline_after(JOURNAL_SYNC_INTERVAL));
                }
                Timer::FinalSaveRetry => {
                    if let Phase::RetryingFinalSave { attempts } = self.phase {
                        self.final_save(attempts);
                    }
                }
                Timer::HandshakeTimeout => self.expire_handshakes(),
            }
        }
    }

    /// Closes the TLS connections whose handshake deadline has passed and that are still in
    /// their handshake. A due entry whose key now holds a newer connection (another id) or
    /// whose handshake completed is dropped.
    fn expire_handshakes(&mut self) {
        let now = Instant::now();
        while let Some((key, id)) = self.handshakes.pop_due(now) {
            let Some(connection) = self.connections.get(key) else {
                continue;
            };
            if connection.id() == id && connection.is_handshaking() {
                debug!(
                    "{}: TLS handshake not completed within {} s: closing",
                    connection.peer(),
                    HANDSHAKE_TIMEOUT.as_secs()
                );
                self.close_connection(key);
            }
        }
        if let Some(deadline) = self.handshakes.next_deadline() {
            self.timers.set(Timer::HandshakeTimeout, deadline);
        }
    }

    /// The clients as SYS reports them.
    fn clients_status(&self) -> ClientsStatus {
        self.client_memory
            .status(self.connections.len(), self.tls_counts)
    }
}

/// `interval` from now; an interval too long to represent never falls due in practice, so it
/// is clamped to a century.
fn deadline_after(interval: Duration) -> Instant {
    const CENTURY: Duration = Duration::from_secs(100 * 365 * 24 * 3600);
    let now = Instant::now();
    now.checked_add(interval).unwrap_or_else(|| now + CENTURY)
}

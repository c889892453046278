//! The server: one thread, one mio readiness loop for the listener, every client connection,
//! signals, timers and save children. The only module that does network I/O.
//!
//! Each turn of the loop sleeps in `poll` until an event or the earliest timer deadline, handles
//! the events, gives connections that yielded their turn another one, then runs due timers.
//! SIGINT/SIGTERM start a graceful shutdown (`Phase`): stop accepting, answer every complete
//! query already received, let a running save finish, save in the foreground, exit. The server
//! never exits 0 without that last save succeeding.

mod admin;
mod connection;
mod signals;
mod timers;

use std::collections::VecDeque;
use std::fmt;
use std::io::{self, ErrorKind};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use log::{debug, error, info, warn};
use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Token};
use slab::Slab;

use crate::config::Config;
use crate::log_lines::{SHUTDOWN_SAVED, SKYHASH_SCHEME, STARTED_ON};
use crate::persist::{Job, Persistence, StartupError, POISONED_RETRY_INTERVAL};
use crate::table::Table;
use connection::{Connection, Exec, Turn};
use signals::{Signal, SignalSource};
use timers::{Timer, Timers};

const LISTENER: Token = Token(0);
const SIGNALS: Token = Token(1);
/// Client `n` of the slab is `Token(FIRST_CLIENT + n)`.
const FIRST_CLIENT: usize = 2;

/// Readiness events taken from the kernel per `poll` call.
const EVENTS_PER_POLL: usize = 1024;
/// Pause before accepting again after `accept` failed for lack of descriptors or memory.
const ACCEPT_RETRY_DELAY: Duration = Duration::from_millis(100);
/// How long shutdown waits for clients to read their last responses.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// While a save child runs, look for its end at least this often, SIGCHLD or not.
const REAP_CHECK_INTERVAL: Duration = Duration::from_secs(1);
/// The first retry of a failed shutdown save comes after this long; each next one after twice
/// as long, up to [`FINAL_SAVE_RETRY_MAX`].
const FINAL_SAVE_RETRY_FIRST: Duration = Duration::from_secs(1);
const FINAL_SAVE_RETRY_MAX: Duration = Duration::from_secs(30);

/// Why the server could not start or had to stop.
#[derive(Debug)]
pub enum ServerError {
    /// TLS was configured; this build has no TLS listener.
    TlsUnsupported,
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
            ServerError::TlsUnsupported => write!(
                f,
                "TLS is not supported by this version of Stratus: remove --sslkey, --sslchain \
                 and --sslonly (or the [ssl] section of the configuration file) and put a TLS \
                 terminating proxy in front of the server if you need encryption"
            ),
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
    /// Shutting down: the listener is closed.
    Closed,
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
    listener: Option<TcpListener>,
    signals: SignalSource,
    connections: Slab<Connection>,
    /// Connections that yielded their turn with work left, to be driven again soon.
    ready: VecDeque<usize>,
    table: Table,
    persistence: Persistence,
    timers: Timers,
    accepting: Accepting,
    phase: Phase,
}

impl Server {
    /// Loads the data, binds the listener and installs the signal handlers.
    pub fn start(config: Config) -> Result<Server, ServerError> {
        if config.tls.is_some() {
            return Err(ServerError::TlsUnsupported);
        }
        let (persistence, table) =
            Persistence::open(&config.data_dir, config.snapshot, config.restore.as_deref())
                .map_err(ServerError::Persistence)?;
        let poll = Poll::new().map_err(ServerError::EventLoop)?;
        let address = SocketAddr::new(config.host, config.port);
        let mut listener =
            TcpListener::bind(address).map_err(|source| ServerError::Bind { address, source })?;
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)
            .map_err(ServerError::EventLoop)?;
        let mut signals = SignalSource::new().map_err(ServerError::EventLoop)?;
        signals
            .register(poll.registry(), SIGNALS)
            .map_err(ServerError::EventLoop)?;
        let bound = listener.local_addr().map_err(ServerError::EventLoop)?;
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
        info!("{STARTED_ON}{SKYHASH_SCHEME}{bound}");
        Ok(Server {
            config,
            poll,
            listener: Some(listener),
            signals,
            connections: Slab::new(),
            ready: VecDeque::new(),
            table,
            persistence,
            timers,
            accepting: Accepting::Yes,
            phase: Phase::Serving,
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
            match self.poll.poll(&mut events, timeout) {
                Ok(()) => {}
                Err(error) if error.kind() == ErrorKind::Interrupted => continue,
                Err(error) => return Err(ServerError::EventLoop(error)),
            }
            for event in events.iter() {
                match event.token() {
                    LISTENER => self.accept_all(),
                    SIGNALS => self.handle_signals(),
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
            self.run_due_timers();
            self.advance_shutdown();
            if let Phase::Finished(result) = &mut self.phase {
                return std::mem::replace(result, Ok(()));
            }
        }
    }

    /// Accepts until the backlog is empty, the connection limit is reached, or accept fails.
    fn accept_all(&mut self) {
        while self.accepting == Accepting::Yes {
            if self.connections.len() >= self.config.maxcon {
                self.accepting = Accepting::AtLimit;
                info!(
                    "Reached the connection limit of {}; waiting for a client to leave",
                    self.config.maxcon
                );
                return;
            }
            let Some(listener) = &self.listener else {
                return;
            };
            match listener.accept() {
                Ok((stream, peer)) => self.add_connection(stream, peer),
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

    fn add_connection(&mut self, mut stream: mio::net::TcpStream, peer: SocketAddr) {
        if let Err(error) = stream.set_nodelay(true) {
            debug!("{peer}: cannot disable Nagle's algorithm: {error}");
        }
        let entry = self.connections.vacant_entry();
        let token = Token(FIRST_CLIENT + entry.key());
        if let Err(error) = self.poll.registry().register(
            &mut stream,
            token,
            Interest::READABLE | Interest::WRITABLE,
        ) {
            warn!("{peer}: cannot watch the new connection: {error}");
            return;
        }
        debug!("{peer}: connected");
        entry.insert(Connection::new(stream, peer, self.config.max_query_bytes));
    }

    /// Lets one connection make progress; closes it when it is done or broken.
    fn drive_connection(&mut self, key: usize, readiness: Readiness) {
        let Some(connection) = self.connections.get_mut(key) else {
            return;
        };
        match readiness {
            Readiness::Readable => connection.mark_readable(false),
            Readiness::HungUp => connection.mark_readable(true),
            Readiness::WritableOnly | Readiness::Resumed => {}
        }
        let mut exec = Exec {
            table: &mut self.table,
            persistence: &mut self.persistence,
            key,
        };
        let turn = connection.drive(&mut exec);
        let awaiting_admin = connection.is_awaiting_admin();
        match turn {
            Ok(Turn::Yield) => self.ready.push_back(key),
            Ok(Turn::Wait) if connection.is_finished() => self.close_connection(key),
            Ok(Turn::Wait) => {}
            Err(error) => {
                debug!("{}: connection error: {error}", connection.peer());
                self.close_connection(key);
            }
        }
        if awaiting_admin {
            // It asked for a snapshot: start it now if no other save is running.
            self.poll_jobs();
        }
    }

    fn close_connection(&mut self, key: usize) {
        let Some(mut connection) = self.connections.try_remove(key) else {
            return;
        };
        // Deregister explicitly: a forked child may still hold a copy of the descriptor, and
        // then closing ours would not take it out of the epoll set.
        if let Err(error) = self.poll.registry().deregister(connection.stream_mut()) {
            debug!("{}: deregister failed: {error}", connection.peer());
        }
        if connection.is_awaiting_admin() {
            self.persistence.forget_waiter(key);
        }
        debug!("{}: disconnected", connection.peer());
        if self.accepting == Accepting::AtLimit {
            self.accepting = Accepting::Yes;
            self.accept_all();
        }
    }

    fn handle_signals(&mut self) {
        for signal in self.signals.pending() {
            match signal {
                Signal::Child => self.poll_jobs(),
                Signal::Interrupt | Signal::Terminate => self.on_stop_signal(signal),
            }
        }
    }

    /// The first stop signal starts the shutdown; a later one skips the step that is waiting.
    fn on_stop_signal(&mut self, signal: Signal) {
        match self.phase {
            Phase::Serving => {
                info!("Received {signal}: shutting down");
                self.begin_shutdown();
            }
            Phase::Draining => {
                warn!(
                    "Received {signal} again: closing {} remaining connection(s) now",
                    self.connections.len()
                );
                self.close_all_connections();
            }
            Phase::WaitingForSave => {
                warn!("Received {signal} again: stopping the running save");
                self.persistence.kill_running_save();
            }
            Phase::RetryingFinalSave { attempts } => {
                self.phase = Phase::Finished(Err(ServerError::ShutdownSaveAborted {
                    data_file: self.persistence.data_file().display().to_string(),
                    attempts,
                }));
            }
            Phase::Finished(_) => {}
        }
    }

    /// Stops accepting, then lets every connection answer what it has already received.
    fn begin_shutdown(&mut self) {
        self.phase = Phase::Draining;
        self.accepting = Accepting::Closed;
        self.timers.cancel(Timer::AcceptRetry);
        self.timers.cancel(Timer::Bgsave);
        self.timers.cancel(Timer::Snapshot);
        if let Some(mut listener) = self.listener.take() {
            if let Err(error) = self.poll.registry().deregister(&mut listener) {
                debug!("deregistering the listener failed: {error}");
            }
        }
        info!("Stopped accepting incoming connections");
        self.timers
            .set(Timer::ShutdownGrace, Instant::now() + SHUTDOWN_GRACE);
        let keys: Vec<usize> = self.connections.iter().map(|(key, _)| key).collect();
        for key in keys {
            if let Some(connection) = self.connections.get_mut(key) {
                connection.begin_draining();
            }
            self.drive_connection(key, Readiness::Resumed);
        }
    }

    /// Moves the shutdown along once the step it waits for is done.
    fn advance_shutdown(&mut self) {
        if matches!(self.phase, Phase::Draining) && self.connections.is_empty() {
            self.timers.cancel(Timer::ShutdownGrace);
            self.persistence.drop_queued_jobs();
            self.phase = Phase::WaitingForSave;
            if self.persistence.is_saving() {
                info!("Waiting for the running save to finish before the final save");
            }
        }
        if matches!(self.phase, Phase::WaitingForSave) && !self.persistence.is_saving() {
            self.final_save(0);
        }
    }

    /// The shutdown save, in this process. Failure is retried with back-off until it succeeds
    /// or a further signal gives up.
    fn final_save(&mut self, failed_attempts: u32) {
        info!(
            "Saving {} keys to {} before exiting",
            self.table.len(),
            self.persistence.data_file().display()
        );
        match self.persistence.save_in_foreground(&self.table) {
            Ok(report) => {
                info!("{SHUTDOWN_SAVED}{report}. Goodbye :)");
                self.phase = Phase::Finished(Ok(()));
            }
            Err(_) => {
                let attempts = failed_attempts + 1;
                let delay = FINAL_SAVE_RETRY_FIRST
                    .saturating_mul(1 << attempts.min(16).saturating_sub(1))
                    .min(FINAL_SAVE_RETRY_MAX);
                error!(
                    "Retrying the shutdown save in {} s; send SIGINT or SIGTERM again to give up \
                     and exit with the last good save in place",
                    delay.as_secs()
                );
                self.timers
                    .set(Timer::FinalSaveRetry, Instant::now() + delay);
                self.phase = Phase::RetryingFinalSave { attempts };
            }
        }
    }

    /// A periodic timer fired: queue its job, start it if no other save is running, re-arm.
    fn run_periodic(&mut self, job: Job) {
        if !matches!(self.phase, Phase::Serving) {
            return;
        }
        // A job of the same kind already waiting is not queued twice.
        let _ = self.persistence.request(job);
        self.poll_jobs();
        self.schedule_periodic_saves();
    }

    /// Arms the BGSAVE and snapshot timers for their configured intervals, or, while the
    /// server is poisoned and the job would clear the poison, for the retry interval if that
    /// is sooner. A timer already due sooner is left alone.
    fn schedule_periodic_saves(&mut self) {
        let poisoned = self.persistence.is_poisoned();
        let retry = |interval: Duration, clears_poison: bool| {
            if poisoned && clears_poison {
                interval.min(POISONED_RETRY_INTERVAL)
            } else {
                interval
            }
        };
        if let Some(interval) = self.config.bgsave {
            let at = deadline_after(retry(interval, true));
            self.timers.set_no_later_than(Timer::Bgsave, at);
        }
        if let Some(snapshots) = self.config.snapshot {
            let at = deadline_after(retry(snapshots.every, snapshots.failsafe));
            self.timers.set_no_later_than(Timer::Snapshot, at);
        }
    }

    /// Collects finished save jobs, answers the connections that waited for them, and starts
    /// the next queued job.
    fn poll_jobs(&mut self) {
        for finished in self.persistence.poll(&self.table) {
            let Some(key) = finished.job.waiter() else {
                continue;
            };
            if let Some(connection) = self.connections.get_mut(key) {
                connection.complete_admin(|out| admin::write_snapshot_result(&finished.error, out));
                self.ready.push_back(key);
            }
        }
        if self.persistence.is_saving() {
            self.timers
                .set_no_later_than(Timer::ReapCheck, Instant::now() + REAP_CHECK_INTERVAL);
        } else {
            self.timers.cancel(Timer::ReapCheck);
        }
        if matches!(self.phase, Phase::Serving) {
            self.schedule_periodic_saves();
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
                Timer::Bgsave => self.run_periodic(Job::Bgsave),
                Timer::Snapshot => self.run_periodic(Job::PeriodicSnapshot),
                Timer::ReapCheck => self.poll_jobs(),
                Timer::FinalSaveRetry => {
                    if let Phase::RetryingFinalSave { attempts } = self.phase {
                        self.final_save(attempts);
                    }
                }
            }
        }
    }
}

/// `interval` from now; an interval too long to represent never falls due in practice, so it
/// is clamped to a century.
fn deadline_after(interval: Duration) -> Instant {
    const CENTURY: Duration = Duration::from_secs(100 * 365 * 24 * 3600);
    let now = Instant::now();
    now.checked_add(interval).unwrap_or_else(|| now + CENTURY)
}

//! The server: one thread, one mio readiness loop for the listener, every client connection,
//! signals and timers. The only module that does network I/O.
//!
//! Each turn of the loop sleeps in `poll` until an event or the earliest timer deadline, handles
//! the events, gives connections that yielded their turn another one, then runs due timers.
//! SIGINT/SIGTERM start a graceful shutdown: stop accepting, answer every complete query
//! already received, send the answers, exit.

mod connection;
mod signals;
mod timers;

use std::collections::VecDeque;
use std::fmt;
use std::io::{self, ErrorKind};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use log::{debug, info, warn};
use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Token};
use slab::Slab;

use crate::action::Writes;
use crate::config::Config;
use crate::table::Table;
use connection::{Connection, Exec, Turn};
use signals::SignalSource;
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

/// Why the server could not start or had to stop.
#[derive(Debug)]
pub enum ServerError {
    /// TLS was configured; this build has no TLS listener.
    TlsUnsupported,
    Bind {
        address: SocketAddr,
        source: io::Error,
    },
    /// The readiness loop itself failed (epoll, signal handlers).
    EventLoop(io::Error),
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
            ServerError::Bind { address, source } => {
                write!(
                    f,
                    "Failed to bind to TCP port {address} with error: {source}"
                )
            }
            ServerError::EventLoop(source) => write!(f, "event loop failure: {source}"),
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
    timers: Timers,
    accepting: Accepting,
    /// Set once a shutdown signal arrived.
    shutting_down: bool,
}

impl Server {
    /// Binds the listener and installs the signal handlers.
    pub fn start(config: Config) -> Result<Server, ServerError> {
        if config.tls.is_some() {
            return Err(ServerError::TlsUnsupported);
        }
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
        info!("Server started on: skyhash://{bound}");
        Ok(Server {
            config,
            poll,
            listener: Some(listener),
            signals,
            connections: Slab::new(),
            ready: VecDeque::new(),
            table: Table::new(),
            timers: Timers::default(),
            accepting: Accepting::Yes,
            shutting_down: false,
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
                    Token(token) => self.drive_connection(token - FIRST_CLIENT, true),
                }
            }
            for _ in 0..self.ready.len() {
                if let Some(key) = self.ready.pop_front() {
                    self.drive_connection(key, false);
                }
            }
            self.run_due_timers();
            if self.shutting_down && self.connections.is_empty() {
                info!("All connections closed. Goodbye :)");
                return Ok(());
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
    fn drive_connection(&mut self, key: usize, readiness_event: bool) {
        let Some(connection) = self.connections.get_mut(key) else {
            return;
        };
        if readiness_event {
            connection.mark_readable();
        }
        let mut exec = Exec {
            table: &mut self.table,
            writes: Writes::Accepted,
        };
        match connection.drive(&mut exec) {
            Ok(Turn::Yield) => self.ready.push_back(key),
            Ok(Turn::Wait) if connection.is_finished() => self.close_connection(key),
            Ok(Turn::Wait) => {}
            Err(error) => {
                debug!("{}: connection error: {error}", connection.peer());
                self.close_connection(key);
            }
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
        debug!("{}: disconnected", connection.peer());
        if self.accepting == Accepting::AtLimit {
            self.accepting = Accepting::Yes;
            self.accept_all();
        }
    }

    fn handle_signals(&mut self) {
        for signal in self.signals.pending() {
            if self.shutting_down {
                warn!(
                    "Received {signal} again: closing {} remaining connection(s) now",
                    self.connections.len()
                );
                self.close_all_connections();
            } else {
                info!("Received {signal}: shutting down");
                self.begin_shutdown();
            }
        }
    }

    /// Stops accepting, then lets every connection answer what it has already received.
    fn begin_shutdown(&mut self) {
        self.shutting_down = true;
        self.accepting = Accepting::Closed;
        self.timers.cancel(Timer::AcceptRetry);
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
            self.drive_connection(key, false);
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
            }
        }
    }
}

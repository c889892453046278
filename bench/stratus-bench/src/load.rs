//! What every load test shares, whichever engine runs it: the counts an engine keeps
//! (`Tally`), the outcome they make, the errors that stop a run, the server's address, the
//! latency histogram, the progress line and the wait for readiness. No engine lives here: `client` runs the request tests, `connect` the
//! connection test.

use std::fmt;
use std::io::{self, IsTerminal, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use mio::{Events, Poll};

use crate::saver::{SaveTally, SaverError};
use crate::tls::TlsSetupError;
use crate::workload::TestKind;

/// How often the progress line is redrawn.
const PROGRESS_INTERVAL: Duration = Duration::from_millis(250);
/// A test that sees no reply for this long is stopped: the server is hung or gone.
pub const STALL_TIMEOUT: Duration = Duration::from_secs(30);
/// Latencies are recorded in nanoseconds, up to an hour, to 3 significant digits.
const LATENCY_MAX_NANOS: u64 = 3_600 * 1_000_000_000;
const LATENCY_SIGNIFICANT_DIGITS: u8 = 3;

/// Everything measured in one test.
#[derive(Debug)]
pub struct TestOutcome {
    pub kind: TestKind,
    /// Replies received, expected or not.
    pub answered: u64,
    /// Requests sent on connections that were dropped before their reply came.
    pub lost: u64,
    /// Unexpected and malformed replies, and lost requests.
    pub errors: u64,
    /// First request written to last reply read.
    pub elapsed: Duration,
    /// Per-request latency in nanoseconds.
    pub latency: Histogram<u64>,
    pub first_error: Option<String>,
    pub connections_lost: usize,
    /// Why the test ended before all its requests were settled.
    pub stopped: Option<String>,
    pub saves: Option<SaveTally>,
}

impl TestOutcome {
    /// Requests whose fate is known: answered or lost.
    pub fn settled(&self) -> u64 {
        self.answered + self.lost
    }
}

#[derive(Debug)]
pub enum LoadError {
    Resolve {
        target: String,
        source: io::Error,
    },
    NoAddress {
        target: String,
    },
    Connect {
        addr: SocketAddr,
        source: io::Error,
    },
    /// `--tls` cannot be set up: the CA file or the name to verify.
    TlsSetup(TlsSetupError),
    /// The TCP connection was made, the TLS handshake failed.
    Handshake {
        addr: SocketAddr,
        source: io::Error,
    },
    Poll(io::Error),
    Histogram(String),
    Saves(SaverError),
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::Resolve { target, source } => write!(f, "cannot resolve {target}: {source}"),
            LoadError::NoAddress { target } => write!(f, "{target} resolves to no address"),
            LoadError::Connect { addr, source } => {
                write!(
                    f,
                    "cannot connect to {addr}: {source} (is the server running?)"
                )
            }
            LoadError::TlsSetup(error) => error.fmt(f),
            LoadError::Handshake { addr, source } => {
                write!(f, "TLS handshake with {addr} failed: {source}")?;
                if is_certificate_error(source) {
                    f.write_str(
                        " (does --cacert hold the server's certificate or the one that signed \
                         it, and does the server's certificate name the -h address?)",
                    )?;
                }
                Ok(())
            }
            LoadError::Poll(error) => write!(f, "event loop: {error}"),
            LoadError::Histogram(error) => write!(f, "latency histogram: {error}"),
            LoadError::Saves(error) => write!(f, "background saves: {error}"),
        }
    }
}

impl std::error::Error for LoadError {}

impl LoadError {
    /// A connection to `addr` that failed before it could carry requests: a handshake
    /// failure when rustls gave the reason, a connect failure otherwise.
    pub fn connecting(addr: SocketAddr, source: io::Error) -> LoadError {
        if tls_error(&source).is_some() {
            LoadError::Handshake { addr, source }
        } else {
            LoadError::Connect { addr, source }
        }
    }
}

/// The rustls error inside an I/O error from a TLS wire, if it is one.
fn tls_error(error: &io::Error) -> Option<&rustls::Error> {
    error.get_ref()?.downcast_ref::<rustls::Error>()
}

fn is_certificate_error(error: &io::Error) -> bool {
    matches!(
        tls_error(error),
        Some(rustls::Error::InvalidCertificate(_))
            | Some(rustls::Error::AlertReceived(
                rustls::AlertDescription::UnknownCA | rustls::AlertDescription::BadCertificate
            ))
    )
}

/// An empty latency histogram, in nanoseconds.
fn latency_histogram() -> Result<Histogram<u64>, LoadError> {
    Histogram::new_with_bounds(1, LATENCY_MAX_NANOS, LATENCY_SIGNIFICANT_DIGITS)
        .map_err(|error| LoadError::Histogram(error.to_string()))
}

/// What an engine counts while a test runs (`client` and `connect` alike), and the outcome
/// it makes at the end.
pub struct Tally {
    pub issued: u64,
    pub answered: u64,
    pub lost: u64,
    pub errors: u64,
    pub connections_lost: usize,
    first_error: Option<String>,
    latency: Histogram<u64>,
    last_reply_at: Option<Instant>,
}

impl Tally {
    pub fn new() -> Result<Tally, LoadError> {
        Ok(Tally {
            issued: 0,
            answered: 0,
            lost: 0,
            errors: 0,
            connections_lost: 0,
            first_error: None,
            latency: latency_histogram()?,
            last_reply_at: None,
        })
    }

    /// Requests whose fate is known: answered or lost.
    pub fn settled(&self) -> u64 {
        self.answered + self.lost
    }

    /// A reply read at `now` to a request written at `sent`.
    pub fn answer(&mut self, sent: Instant, now: Instant) {
        let nanos = now.duration_since(sent).as_nanos();
        self.latency
            .saturating_record(u64::try_from(nanos).unwrap_or(u64::MAX));
        self.answered += 1;
        self.last_reply_at = Some(now);
    }

    /// Counts an error; the first error's text is kept for the report.
    pub fn count_error(&mut self, text: &str) {
        self.errors += 1;
        self.note_first_error(text);
    }

    /// Keeps `text` if it is the first error seen, without counting it.
    pub fn note_first_error(&mut self, text: &str) {
        if self.first_error.is_none() {
            self.first_error = Some(text.to_owned());
        }
    }

    /// `count` requests given up with their connection: lost, and counted as errors.
    pub fn lose(&mut self, count: u64) {
        self.lost += count;
        self.errors += count;
    }

    /// The test's outcome, timed from `started` to the last reply.
    pub fn into_outcome(
        self,
        kind: TestKind,
        started: Instant,
        stopped: Option<String>,
        saves: Option<SaveTally>,
    ) -> TestOutcome {
        TestOutcome {
            kind,
            answered: self.answered,
            lost: self.lost,
            errors: self.errors,
            elapsed: self
                .last_reply_at
                .map_or(Duration::ZERO, |last| last.duration_since(started)),
            latency: self.latency,
            first_error: self.first_error,
            connections_lost: self.connections_lost,
            stopped,
            saves,
        }
    }
}

/// Sleeps in `poll` until readiness or `deadline`; an interrupted sleep returns no events.
pub fn wait(poll: &mut Poll, events: &mut Events, deadline: Instant) -> Result<(), LoadError> {
    let timeout = deadline.saturating_duration_since(Instant::now());
    match poll.poll(events, Some(timeout)) {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == io::ErrorKind::Interrupted => {
            events.clear();
            Ok(())
        }
        Err(error) => Err(LoadError::Poll(error)),
    }
}

pub fn resolve(host: &str, port: u16) -> Result<SocketAddr, LoadError> {
    let target = format!("{host}:{port}");
    (host, port)
        .to_socket_addrs()
        .map_err(|source| LoadError::Resolve {
            target: target.clone(),
            source,
        })?
        .next()
        .ok_or(LoadError::NoAddress { target })
}

/// The progress line on stderr, redrawn every [`PROGRESS_INTERVAL`] when stderr is a
/// terminal; a full run takes minutes.
pub struct Progress {
    /// When to redraw; `None` when stderr is not a terminal.
    pub next: Option<Instant>,
    /// The time and settled count of the previous line, for the rate since then.
    mark: (Instant, u64),
}

impl Progress {
    pub fn new(started: Instant) -> Progress {
        Progress {
            next: io::stderr()
                .is_terminal()
                .then_some(started + PROGRESS_INTERVAL),
            mark: (started, 0),
        }
    }

    pub fn show(&mut self, now: Instant, name: &str, settled: u64, total: u64) {
        if self.next.is_none_or(|next| now < next) {
            return;
        }
        let (mark_time, mark_settled) = self.mark;
        let rate = (settled - mark_settled) as f64 / now.duration_since(mark_time).as_secs_f64();
        eprint!("\r{name}: {settled} of {total} requests, {rate:.0} requests/s   ");
        self.mark = (now, settled);
        self.next = Some(now + PROGRESS_INTERVAL);
    }

    /// Erases the progress line so the result line starts clean.
    pub fn clear(&self) {
        if self.next.is_some() {
            eprint!("\r\x1b[K");
            let _ = io::stderr().flush();
        }
    }
}

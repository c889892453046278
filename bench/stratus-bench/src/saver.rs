//! `--background-saves`: one extra connection, driven by the load engine's loop, that keeps a
//! save running back to back for the whole test and counts the saves that finish in it.
//! Skyhash: MKSNAP, answered once its forked snapshot is on disk (busy: retried shortly).
//! RESP: BGSAVE, then INFO persistence polled until `rdb_bgsave_in_progress:0`. It never blocks
//! and owns no thread; it does not judge the load requests, only its own.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use stratus::protocol::reply::{self, Element, Reply};
use stratus::protocol::{error_text, ResponseCode};

use crate::protocol::{quote, MalformedReply, Protocol};
use crate::resp;
use crate::tls::TlsClient;
use crate::wire::{ReadEnd, Wire};

/// How often Redis is asked whether its BGSAVE is over: short against a save, long enough
/// that the polling itself costs the server nothing measurable.
const POLL_INTERVAL: Duration = Duration::from_millis(10);
/// Wait before repeating a MKSNAP refused because another snapshot is queued or running.
const BUSY_RETRY: Duration = Duration::from_millis(10);
/// Wait after a failed save, so a server that cannot save is not hammered.
const FAILED_RETRY: Duration = Duration::from_millis(100);

/// Saves seen to finish during one test.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SaveTally {
    pub completed: u64,
    pub failed: u64,
    /// Sum of the completed saves' durations, from request to observed completion.
    pub completed_time: Duration,
}

impl SaveTally {
    pub fn mean_duration(&self) -> Option<Duration> {
        u32::try_from(self.completed)
            .ok()
            .filter(|&count| count > 0)
            .map(|count| self.completed_time / count)
    }
}

#[derive(Debug)]
pub enum SaverError {
    Connect(io::Error),
    Io(io::Error),
    Closed,
    Malformed(MalformedReply, String),
    SnapshotsDisabled,
    Unexpected {
        request: &'static str,
        reply: String,
    },
}

impl fmt::Display for SaverError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SaverError::Connect(error) => write!(f, "cannot open the save connection: {error}"),
            SaverError::Io(error) => write!(f, "save connection: {error}"),
            SaverError::Closed => f.write_str("the server closed the save connection"),
            SaverError::Malformed(error, bytes) => {
                write!(
                    f,
                    "malformed reply on the save connection: {error}: {bytes}"
                )
            }
            SaverError::SnapshotsDisabled => f.write_str(
                "MKSNAP answered err-snapshot-disabled: start the server with snapshots \
                 enabled (e.g. --snapevery 3600 --snapkeep 1) to use --background-saves",
            ),
            SaverError::Unexpected { request, reply } => {
                write!(f, "unexpected reply to {request}: {reply}")
            }
        }
    }
}

impl std::error::Error for SaverError {}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Request {
    Mksnap,
    Bgsave,
    InfoPersistence,
}

impl Request {
    fn parts(self) -> &'static [&'static [u8]] {
        match self {
            Request::Mksnap => &[b"MKSNAP"],
            Request::Bgsave => &[b"BGSAVE"],
            Request::InfoPersistence => &[b"INFO", b"persistence"],
        }
    }

    fn name(self) -> &'static str {
        match self {
            Request::Mksnap => "MKSNAP",
            Request::Bgsave => "BGSAVE",
            Request::InfoPersistence => "INFO persistence",
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum State {
    Awaiting(Request),
    Due { at: Instant, next: Request },
}

/// What one reply means for the save loop.
#[derive(Debug, Clone, Copy)]
enum Verdict {
    /// A save this connection asked for is over.
    Finished { ok: bool },
    /// Ask again later.
    Retry { after: Duration, next: Request },
    /// Redis started our BGSAVE.
    Started,
    /// Redis is already saving (not ours): wait for it, then start ours.
    AlreadySaving,
    /// Redis's INFO persistence: whether a BGSAVE runs, and how the last one ended.
    Polled { in_progress: bool, last_ok: bool },
    /// MKSNAP answered that the server takes no snapshots: the saves cannot run.
    SnapshotsDisabled,
}

#[derive(Debug)]
pub struct Saver {
    protocol: Protocol,
    wire: Wire,
    state: State,
    /// When the save we are waiting for was requested; `None` while waiting for someone
    /// else's BGSAVE, which is not counted.
    requested_at: Option<Instant>,
    tally: SaveTally,
}

impl Saver {
    /// Connects (over TLS with `tls`; the handshake runs with the first request).
    pub fn connect(
        addr: SocketAddr,
        tls: Option<&TlsClient>,
        protocol: Protocol,
    ) -> Result<Saver, SaverError> {
        let wire = Wire::connect(addr, tls).map_err(SaverError::Connect)?;
        let first = first_request(protocol);
        Ok(Saver {
            protocol,
            wire,
            state: State::Due {
                at: Instant::now(),
                next: first,
            },
            requested_at: None,
            tally: SaveTally::default(),
        })
    }

    pub fn stream(&mut self) -> &mut TcpStream {
        &mut self.wire.stream
    }

    pub fn tally(&self) -> SaveTally {
        self.tally
    }

    /// When the saver next needs the loop to wake it, if it is waiting on a timer.
    pub fn deadline(&self) -> Option<Instant> {
        match self.state {
            State::Due { at, .. } => Some(at),
            State::Awaiting(_) => None,
        }
    }

    /// Sends the next request if its time has come.
    pub fn on_timer(&mut self, now: Instant) -> Result<(), SaverError> {
        if let State::Due { at, next } = self.state {
            if at <= now {
                self.send(next, now)?;
            }
        }
        Ok(())
    }

    pub fn on_event(&mut self, now: Instant, writable: bool) -> Result<(), SaverError> {
        if writable {
            self.wire.flush().map_err(SaverError::Io)?;
        }
        let end = self.wire.read_available().map_err(SaverError::Io)?;
        while let State::Awaiting(request) = self.state {
            let Some((len, verdict)) = self.judge(request)? else {
                break;
            };
            self.wire.consume(len);
            self.apply(verdict, now)?;
        }
        if end == ReadEnd::Closed {
            return Err(SaverError::Closed);
        }
        Ok(())
    }

    fn send(&mut self, request: Request, now: Instant) -> Result<(), SaverError> {
        self.protocol
            .encode_request(self.wire.outgoing(), request.parts());
        if request != Request::InfoPersistence {
            self.requested_at = Some(now);
        }
        self.state = State::Awaiting(request);
        self.wire.flush().map_err(SaverError::Io)
    }

    fn apply(&mut self, verdict: Verdict, now: Instant) -> Result<(), SaverError> {
        let first = first_request(self.protocol);
        match verdict {
            Verdict::Finished { ok } => {
                if let Some(requested_at) = self.requested_at.take() {
                    if ok {
                        self.tally.completed += 1;
                        self.tally.completed_time += now - requested_at;
                    } else {
                        self.tally.failed += 1;
                    }
                }
                if ok {
                    self.send(first, now)?;
                } else {
                    self.wait(FAILED_RETRY, first, now);
                }
            }
            Verdict::Retry { after, next } => self.wait(after, next, now),
            Verdict::Started => self.wait(POLL_INTERVAL, Request::InfoPersistence, now),
            Verdict::AlreadySaving => {
                self.requested_at = None;
                self.wait(POLL_INTERVAL, Request::InfoPersistence, now);
            }
            Verdict::Polled {
                in_progress: true, ..
            } => self.wait(POLL_INTERVAL, Request::InfoPersistence, now),
            Verdict::Polled {
                in_progress: false,
                last_ok,
            } => return self.apply(Verdict::Finished { ok: last_ok }, now),
            Verdict::SnapshotsDisabled => return Err(SaverError::SnapshotsDisabled),
        }
        Ok(())
    }

    fn wait(&mut self, after: Duration, next: Request, now: Instant) {
        self.state = State::Due {
            at: now + after,
            next,
        };
    }

    /// Frames the reply to `request` at the head of the read buffer and says what it means.
    fn judge(&self, request: Request) -> Result<Option<(usize, Verdict)>, SaverError> {
        let buf = self.wire.unread();
        let malformed = |error| SaverError::Malformed(error, quote(buf));
        let judged = match self.protocol {
            Protocol::Skyhash => reply::parse(buf)
                .map_err(|error| malformed(error.into()))?
                .map(|(reply, len)| (len, skyhash_verdict(&reply))),
            Protocol::Resp => resp::parse_reply(buf)
                .map_err(malformed)?
                .map(|(value, len)| (len, resp_verdict(request, &value))),
        };
        match judged {
            None => Ok(None),
            Some((len, Some(verdict))) => Ok(Some((len, verdict))),
            Some((len, None)) => Err(SaverError::Unexpected {
                request: request.name(),
                reply: quote(&buf[..len]),
            }),
        }
    }
}

/// What a reply to MKSNAP means; `None` for a reply it cannot have.
fn skyhash_verdict(reply: &Reply<'_>) -> Option<Verdict> {
    match reply.single()? {
        &Element::Code(code) if code == ResponseCode::Okay as u8 => {
            Some(Verdict::Finished { ok: true })
        }
        &Element::Code(code) if code == ResponseCode::ServerError as u8 => {
            Some(Verdict::Finished { ok: false })
        }
        Element::ErrorText(text) if *text == error_text::SNAPSHOT_BUSY.as_bytes() => {
            Some(Verdict::Retry {
                after: BUSY_RETRY,
                next: Request::Mksnap,
            })
        }
        Element::ErrorText(text) if *text == error_text::SNAPSHOT_DISABLED.as_bytes() => {
            Some(Verdict::SnapshotsDisabled)
        }
        _ => None,
    }
}

/// What a reply to `request` (BGSAVE or INFO persistence) means; `None` for one it cannot have.
fn resp_verdict(request: Request, value: &resp::Value<'_>) -> Option<Verdict> {
    match (request, value) {
        (Request::Bgsave, resp::Value::Simple(_)) => Some(Verdict::Started),
        (Request::Bgsave, resp::Value::Error(text)) if contains(text, b"already in progress") => {
            Some(Verdict::AlreadySaving)
        }
        (Request::InfoPersistence, resp::Value::Bulk(text)) => {
            let progress = info_field(text, "rdb_bgsave_in_progress")?;
            let status = info_field(text, "rdb_last_bgsave_status")?;
            Some(Verdict::Polled {
                in_progress: progress != "0",
                last_ok: status == "ok",
            })
        }
        _ => None,
    }
}

fn first_request(protocol: Protocol) -> Request {
    match protocol {
        Protocol::Skyhash => Request::Mksnap,
        Protocol::Resp => Request::Bgsave,
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

/// The value of `name:value` in Redis's INFO text (CR LF separated lines).
pub fn info_field<'a>(info: &'a [u8], name: &str) -> Option<&'a str> {
    std::str::from_utf8(info)
        .ok()?
        .lines()
        .find_map(|line| line.trim_end().strip_prefix(name)?.strip_prefix(':'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_fields_are_found_by_exact_name() {
        let info = b"# Persistence\r\nrdb_bgsave_in_progress:1\r\nrdb_last_bgsave_status:ok\r\n";
        assert_eq!(info_field(info, "rdb_bgsave_in_progress"), Some("1"));
        assert_eq!(info_field(info, "rdb_last_bgsave_status"), Some("ok"));
        assert_eq!(info_field(info, "rdb_bgsave"), None);
        assert_eq!(info_field(info, "missing"), None);
    }

    #[test]
    fn mean_duration_of_no_saves_is_none() {
        assert_eq!(SaveTally::default().mean_duration(), None);
        let tally = SaveTally {
            completed: 2,
            failed: 0,
            completed_time: Duration::from_millis(300),
        };
        assert_eq!(tally.mean_duration(), Some(Duration::from_millis(150)));
    }
}

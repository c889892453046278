//! One round against one server: start it in a new temporary directory, fill it, record its
//! memory, observe a BGSAVE of the full table, time a foreground save, restart it on the same
//! directory until DBSIZE answers N, record its memory again. The steps that differ between
//! Stratus and Redis are a [`Target`]'s; the order, the timing and the figures are here, once.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use super::fill::fill;
use super::process::{file_len, Interrupt, Server, TempDir, SLOW_STEP_TIMEOUT};
use super::{PersistenceError, ServerFigures};
use crate::blocking::{BlockingClient, ClientError};
use crate::options::PersistenceOptions;
use crate::protocol::{quote, Protocol};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The restart is timed to within this: fine against loads of 100 ms and more, and each poll
/// is one connect attempt or one DBSIZE, nothing a loading server notices.
const READY_POLL_INTERVAL: Duration = Duration::from_millis(2);

/// What every round shares: the options, the Ctrl-C flag and the progress line.
#[derive(Debug)]
pub struct Bench<'a> {
    pub options: &'a PersistenceOptions,
    pub interrupt: Interrupt,
    /// Whether stderr is a terminal, which shows the step under way.
    pub progress: bool,
}

impl Bench<'_> {
    /// Shows what is happening on a terminal; a full run takes minutes.
    fn step(&self, round: usize, server: &str, what: &str) {
        if self.progress {
            eprint!(
                "\r\x1b[Kround {round} of {}: {server}: {what}",
                self.options.rounds
            );
        }
    }

    pub fn clear_step(&self) {
        if self.progress {
            eprint!("\r\x1b[K");
        }
    }
}

/// A BGSAVE of the full table, as the server reports it (or the client observes it).
#[derive(Debug, Clone, Copy)]
pub struct Bgsave {
    pub duration: Duration,
    pub fork: Duration,
    /// The bytes the server says it wrote, if it says.
    pub bytes: Option<u64>,
}

/// A save in the foreground.
#[derive(Debug, Clone, Copy)]
pub struct ForegroundSave {
    pub duration: Duration,
    pub bytes: Option<u64>,
}

/// The steps of a round that differ between the servers.
pub trait Target {
    /// `Stratus` or `Redis`, for messages.
    fn name(&self) -> &'static str;
    fn protocol(&self) -> Protocol;
    /// Starts the server with its data in `dir` and waits until it answers; its address.
    fn spawn(&self, bench: &Bench, dir: &Path) -> Result<(Server, SocketAddr), PersistenceError>;
    /// Waits for a BGSAVE of the full table (after the fill).
    fn bgsave(
        &self,
        bench: &Bench,
        server: &mut Server,
        client: &mut BlockingClient,
    ) -> Result<Bgsave, PersistenceError>;
    /// Saves in the foreground, after which the server has exited.
    fn foreground_save(
        &self,
        bench: &Bench,
        server: &mut Server,
        client: BlockingClient,
    ) -> Result<ForegroundSave, PersistenceError>;
    /// The data file the saves write in `dir`.
    fn data_file(&self, dir: &Path) -> PathBuf;
    /// Starts the server again on the data in `dir`, at `addr`, without waiting for it.
    fn restart(&self, dir: &Path, addr: SocketAddr) -> Result<Server, PersistenceError>;
    /// The key count in a reply to DBSIZE, if it is one.
    fn key_count(&self, reply: &[u8]) -> Option<u64>;
    /// Stops the restarted server without saving again, and waits for it to exit.
    fn shutdown(
        &self,
        bench: &Bench,
        server: &mut Server,
        addr: SocketAddr,
    ) -> Result<(), PersistenceError>;
}

/// Runs round `round` against `target`.
pub fn round(
    bench: &Bench,
    target: &dyn Target,
    round: usize,
) -> Result<ServerFigures, PersistenceError> {
    let name = target.name();
    let keys = bench.options.keys;
    let dir = TempDir::create(&format!("{}-{round}", name.to_ascii_lowercase()))?;
    bench.step(round, name, "starting");
    let (mut server, addr) = target.spawn(bench, dir.path())?;
    let mut client = connect(name, addr, target.protocol())?;
    bench.step(round, name, "filling");
    let fill = fill(bench, name, &mut client)?;
    let rss_after_fill = server.rss_bytes()?;
    bench.step(round, name, "BGSAVE of the full table");
    let bgsave = target.bgsave(bench, &mut server, &mut client)?;
    bench.step(round, name, "foreground save");
    let saved = target.foreground_save(bench, &mut server, client)?;
    let file_bytes = file_len(&target.data_file(dir.path()))?;
    let reported = [bgsave.bytes, saved.bytes];
    if reported.iter().flatten().any(|&bytes| bytes != file_bytes) {
        eprintln!(
            "stratus-bench: note: {name}'s data file is {file_bytes} bytes; the BGSAVE reported \
             {:?}, the foreground save {:?}",
            bgsave.bytes, saved.bytes
        );
    }
    bench.step(round, name, "restarting");
    let spawned = Instant::now();
    let mut server = target.restart(dir.path(), addr)?;
    let restart_ready = wait_until_answered(
        bench,
        &mut server,
        addr,
        target.protocol(),
        b"DBSIZE",
        &|reply| target.key_count(reply) == Some(keys),
        spawned,
    )?;
    let rss_after_load = server.rss_bytes()?;
    target.shutdown(bench, &mut server, addr)?;
    Ok(ServerFigures {
        fill,
        rss_after_fill,
        bgsave: bgsave.duration,
        fork: bgsave.fork,
        foreground_save: saved.duration,
        file_bytes,
        restart_ready,
        rss_after_load,
    })
}

/// Sends `command` every 2 ms, on a connection made as soon as the server accepts one, until
/// `accept` likes the reply; returns the time since `since`.
pub fn wait_until_answered(
    bench: &Bench,
    server: &mut Server,
    addr: SocketAddr,
    protocol: Protocol,
    command: &[u8],
    accept: &dyn Fn(&[u8]) -> bool,
    since: Instant,
) -> Result<Duration, PersistenceError> {
    let mut client = None;
    loop {
        bench.interrupt.check()?;
        if client.is_none() {
            client = BlockingClient::connect(addr, protocol, CONNECT_TIMEOUT).ok();
        }
        if let Some(connection) = &mut client {
            match connection.call(&[command]) {
                Ok(reply) if accept(&reply) => return Ok(since.elapsed()),
                // Redis answers -LOADING while it loads: ask again.
                Ok(_) => {}
                Err(_) => client = None,
            }
        }
        server.check_running()?;
        if since.elapsed() > SLOW_STEP_TIMEOUT {
            return Err(PersistenceError::Timeout {
                server: server.name,
                what: "the expected DBSIZE or PING reply",
            });
        }
        thread::sleep(READY_POLL_INTERVAL);
    }
}

pub fn connect(
    server: &'static str,
    addr: SocketAddr,
    protocol: Protocol,
) -> Result<BlockingClient, PersistenceError> {
    BlockingClient::connect(addr, protocol, CONNECT_TIMEOUT).map_err(|source| {
        PersistenceError::Client {
            server,
            what: "connecting",
            source: ClientError::Io(source),
        }
    })
}

/// Sends one command (`what` names it in errors) and returns its reply.
pub fn call(
    server: &'static str,
    client: &mut BlockingClient,
    parts: &[&[u8]],
    what: &'static str,
) -> Result<Vec<u8>, PersistenceError> {
    client
        .call(parts)
        .map_err(|source| PersistenceError::Client {
            server,
            what,
            source,
        })
}

pub fn unexpected(server: &'static str, what: &'static str, reply: &[u8]) -> PersistenceError {
    PersistenceError::Unexpected {
        server,
        what,
        reply: quote(reply),
    }
}

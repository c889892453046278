//! The persistence mode: per round, Stratus then Redis, each started on a free port in a new
//! temporary directory, filled with the same seeded data, and measured (memory after the fill,
//! a BGSAVE of the full table, a foreground save, the data file, restart until DBSIZE answers
//! N, memory after the load). Every server it starts is killed on every way out (errors,
//! Ctrl-C, its own death) and every directory it made is removed. Output is `report`'s.

use std::ffi::OsString;
use std::fmt;
use std::fs::{self, File};
use std::io::{self, IsTerminal};
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use stratus::protocol::reply::{self, Element};

use crate::blocking::{BlockingClient, ClientError};
use crate::options::PersistenceOptions;
use crate::protocol::{quote, Protocol};
use crate::report;
use crate::resp;
use crate::saver::info_field;
use crate::workload::{key_bytes, SplitMix64};

/// What one server measured in one round.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ServerFigures {
    pub fill: Duration,
    pub rss_after_fill: u64,
    /// Stratus: the child's save as it reports it; Redis: BGSAVE until no longer in progress.
    pub bgsave: Duration,
    pub fork: Duration,
    /// Stratus: the save on SIGTERM, from its log; Redis: SAVE.
    pub foreground_save: Duration,
    pub file_bytes: u64,
    pub restart_ready: Duration,
    pub rss_after_load: u64,
}

/// Keys per fill request (Stratus: pairs per USET; Redis: SETs per write).
const FILL_BATCH_KEYS: u64 = 1000;
/// Fill requests in flight: enough to keep the server busy, few enough that the replies
/// waiting to be read always fit in the socket buffers (so blocking I/O cannot deadlock).
const FILL_WINDOW: usize = 4;
/// The values' seed: both servers get the same bytes.
const FILL_SEED: u64 = 42;
/// Values are random printable bytes, six random bits each.
const VALUE_ALPHABET: &[u8; 64] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);
/// Saves, shutdowns and loads of large tables take seconds; a minute per million keys at
/// the very least, so this only catches a server that is stuck.
const SLOW_STEP_TIMEOUT: Duration = Duration::from_secs(600);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The restart is timed to within this: fine against loads of 100 ms and more, and each poll
/// is one connect attempt or one DBSIZE, nothing a loading server notices.
const READY_POLL_INTERVAL: Duration = Duration::from_millis(2);
const BGSAVE_POLL_INTERVAL: Duration = Duration::from_millis(5);
const LOG_POLL_INTERVAL: Duration = Duration::from_millis(10);
const EXIT_POLL_INTERVAL: Duration = Duration::from_millis(1);

/// Stratus's log line that gives its listening address, and the one that reports the save it
/// makes when it stops (`… : 5 keys, 100 bytes in 1.2 ms. Goodbye :)`).
const STARTED_LINE: &str = "Server started on: skyhash://";
const SAVED_LINE: &str = "Successfully saved data to disk: ";

#[derive(Debug)]
pub enum PersistenceError {
    NoStratus(PathBuf),
    NoRedis(PathBuf),
    Signals(io::Error),
    Io {
        what: String,
        source: io::Error,
    },
    Spawn {
        program: PathBuf,
        source: io::Error,
    },
    Client {
        server: &'static str,
        what: &'static str,
        source: ClientError,
    },
    Unexpected {
        server: &'static str,
        what: &'static str,
        reply: String,
    },
    Exited {
        server: &'static str,
        status: ExitStatus,
        log: PathBuf,
        tail: String,
    },
    Timeout {
        server: &'static str,
        what: &'static str,
    },
    MissingLogLine {
        server: &'static str,
        what: &'static str,
        tail: String,
    },
    SaveFailed {
        server: &'static str,
        detail: String,
    },
    Interrupted,
}

impl fmt::Display for PersistenceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PersistenceError::NoStratus(path) => write!(
                f,
                "no Stratus binary at {}: build it (cargo build --release) or pass --stratus PATH",
                path.display()
            ),
            PersistenceError::NoRedis(path) => {
                write!(f, "no redis-server at {}", path.display())
            }
            PersistenceError::Signals(error) => {
                write!(f, "cannot install the SIGINT/SIGTERM handler: {error}")
            }
            PersistenceError::Io { what, source } => write!(f, "{what}: {source}"),
            PersistenceError::Spawn { program, source } => {
                write!(f, "cannot start {}: {source}", program.display())
            }
            PersistenceError::Client {
                server,
                what,
                source,
            } => write!(f, "{server}: {what}: {source}"),
            PersistenceError::Unexpected {
                server,
                what,
                reply,
            } => write!(f, "{server}: unexpected reply to {what}: {reply}"),
            PersistenceError::Exited {
                server,
                status,
                log,
                tail,
            } => write!(
                f,
                "{server} exited unexpectedly ({status}); the end of {}:\n{tail}",
                log.display()
            ),
            PersistenceError::Timeout { server, what } => {
                write!(f, "{server}: timed out waiting for {what}")
            }
            PersistenceError::MissingLogLine { server, what, tail } => {
                write!(f, "{server}: its log has no {what} line; its end:\n{tail}")
            }
            PersistenceError::SaveFailed { server, detail } => {
                write!(f, "{server}: a save failed: {detail}")
            }
            PersistenceError::Interrupted => f.write_str("interrupted"),
        }
    }
}

impl std::error::Error for PersistenceError {}

fn io_error(what: impl Into<String>) -> impl FnOnce(io::Error) -> PersistenceError {
    let what = what.into();
    move |source| PersistenceError::Io { what, source }
}

/// Runs every round and prints the results.
pub fn run(options: &PersistenceOptions) -> Result<(), PersistenceError> {
    let interrupted = Arc::new(AtomicBool::new(false));
    // Ctrl-C must not kill this process before it has killed its servers and removed its
    // directories: the signal only sets a flag that every wait checks.
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&interrupted))
            .map_err(PersistenceError::Signals)?;
    }
    let stratus = stratus_binary(options)?;
    let redis = redis_binary(options)?;
    if redis.is_none() {
        eprintln!("stratus-bench: redis-server not found on PATH: measuring Stratus only");
    }
    let bench = Bench {
        options,
        stratus,
        redis,
        interrupted,
        progress: io::stderr().is_terminal(),
    };
    let mut rounds = Vec::with_capacity(options.rounds);
    for round in 1..=options.rounds {
        let measured = bench.round(round);
        // Whatever happened, the next line printed must not land on the progress line.
        bench.clear_step();
        let (ours, theirs) = measured?;
        if !options.json {
            println!(
                "{}",
                report::persistence_table(
                    &format!(
                        "round {round} of {}: {} keys x {} B",
                        options.rounds, options.keys, options.data_size
                    ),
                    &ours,
                    theirs.as_ref()
                )
            );
        }
        rounds.push((ours, theirs));
    }
    if options.json {
        println!(
            "{}",
            report::persistence_json(options.keys, options.data_size, &rounds)
        );
    } else {
        let stratus: Vec<ServerFigures> = rounds.iter().map(|(ours, _)| *ours).collect();
        let redis: Vec<ServerFigures> = rounds.iter().filter_map(|(_, theirs)| *theirs).collect();
        // With one round the medians are that round's figures, already printed.
        if let Some(median) = report::median_figures(&stratus).filter(|_| rounds.len() > 1) {
            println!(
                "{}",
                report::persistence_table(
                    &format!("median of {} rounds", options.rounds),
                    &median,
                    report::median_figures(&redis).as_ref()
                )
            );
        }
        println!("{}", report::PERSISTENCE_NOTES);
    }
    Ok(())
}

fn stratus_binary(options: &PersistenceOptions) -> Result<PathBuf, PersistenceError> {
    let path = match &options.stratus {
        Some(path) => path.clone(),
        None => std::env::current_exe()
            .map_err(io_error("cannot find this program's own path"))?
            .with_file_name("stratus"),
    };
    if path.is_file() {
        Ok(path)
    } else {
        Err(PersistenceError::NoStratus(path))
    }
}

fn redis_binary(options: &PersistenceOptions) -> Result<Option<PathBuf>, PersistenceError> {
    if let Some(path) = &options.redis_server {
        return if path.is_file() {
            Ok(Some(path.clone()))
        } else {
            Err(PersistenceError::NoRedis(path.clone()))
        };
    }
    let Some(search) = std::env::var_os("PATH") else {
        return Ok(None);
    };
    Ok(std::env::split_paths(&search)
        .map(|dir| dir.join("redis-server"))
        .find(|path| path.is_file()))
}

struct Bench<'a> {
    options: &'a PersistenceOptions,
    stratus: PathBuf,
    redis: Option<PathBuf>,
    interrupted: Arc<AtomicBool>,
    progress: bool,
}

impl Bench<'_> {
    /// One round: Stratus, then Redis if there is one.
    fn round(
        &self,
        round: usize,
    ) -> Result<(ServerFigures, Option<ServerFigures>), PersistenceError> {
        let ours = self.stratus_round(round)?;
        let theirs = match &self.redis {
            Some(path) => Some(self.redis_round(path, round)?),
            None => None,
        };
        Ok((ours, theirs))
    }

    fn stratus_round(&self, round: usize) -> Result<ServerFigures, PersistenceError> {
        const NAME: &str = "Stratus";
        let keys = self.options.keys;
        let dir = TempDir::create(&format!("stratus-{round}"))?;
        let data_dir = dir.path().join("data");
        let fill_log = dir.path().join("stratus-fill.log");
        self.step(round, NAME, "starting");
        // -S 1: a BGSAVE every second while anything changed, so one starts right after the
        // fill and its figures can be read from SYS INFO persistence.
        let mut server = self.spawn_stratus(dir.path(), &data_dir, "0", "-S", "1", &fill_log)?;
        let port = self.wait_for_port(&mut server, &fill_log)?;
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let mut client = connect(NAME, addr, Protocol::Skyhash)?;
        self.step(round, NAME, "filling");
        let fill = self.fill(NAME, &mut client)?;
        let rss_after_fill = rss_bytes(server.pid())?;
        self.step(round, NAME, "waiting for a BGSAVE of the full table");
        let bgsave = self.wait_for_stratus_bgsave(&mut server, &mut client)?;
        // Closed first, so the shutdown has no client to wait for.
        drop(client);
        self.step(round, NAME, "saving on SIGTERM");
        server.signal(Signal::SIGTERM)?;
        self.wait_for_exit(&mut server, "its shutdown save")?;
        let log = read_log(&fill_log);
        let (saved_keys, saved_bytes, save_ms) =
            parse_save_line(&log).ok_or_else(|| PersistenceError::MissingLogLine {
                server: NAME,
                what: "'Successfully saved data to disk'",
                tail: tail(&log),
            })?;
        if saved_keys != keys {
            return Err(PersistenceError::SaveFailed {
                server: NAME,
                detail: format!("the shutdown save wrote {saved_keys} keys, not {keys}"),
            });
        }
        let data_file = data_dir.join("data.bin");
        let file_bytes = file_len(&data_file)?;
        if file_bytes != saved_bytes || file_bytes != bgsave.bytes {
            eprintln!(
                "stratus-bench: note: data.bin is {file_bytes} bytes; the BGSAVE reported \
                 {}, the shutdown save {saved_bytes}",
                bgsave.bytes
            );
        }
        self.step(round, NAME, "restarting");
        let load_log = dir.path().join("stratus-load.log");
        let spawned = Instant::now();
        let mut server = self.spawn_stratus(
            dir.path(),
            &data_dir,
            &port.to_string(),
            "--nosave",
            "",
            &load_log,
        )?;
        let restart_ready = self.wait_until_answered(
            NAME,
            &mut server,
            addr,
            Protocol::Skyhash,
            b"DBSIZE",
            &|reply| skyhash_unsigned(reply) == Some(keys),
            spawned,
        )?;
        let rss_after_load = rss_bytes(server.pid())?;
        server.signal(Signal::SIGTERM)?;
        self.wait_for_exit(&mut server, "its exit")?;
        Ok(ServerFigures {
            fill,
            rss_after_fill,
            bgsave: bgsave.duration,
            fork: bgsave.fork,
            foreground_save: Duration::from_secs_f64(save_ms / 1000.0),
            file_bytes,
            restart_ready,
            rss_after_load,
        })
    }

    fn redis_round(&self, program: &Path, round: usize) -> Result<ServerFigures, PersistenceError> {
        const NAME: &str = "Redis";
        let dir = TempDir::create(&format!("redis-{round}"))?;
        let port = free_port()?;
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let mut args: Vec<OsString> = [
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--dbfilename",
            "dump.rdb",
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
            // An empty log file name logs to stdout, which goes to our log file.
            "--logfile",
            "",
            "--dir",
        ]
        .iter()
        .map(OsString::from)
        .collect();
        args.push(dir.path().into());
        let fill_log = dir.path().join("redis-fill.log");
        self.step(round, NAME, "starting");
        let mut server = Server::spawn(NAME, program, &args, dir.path(), &fill_log)?;
        self.wait_until_answered(
            NAME,
            &mut server,
            addr,
            Protocol::Resp,
            b"PING",
            &|reply| reply == b"+PONG\r\n",
            Instant::now(),
        )?;
        let mut client = connect(NAME, addr, Protocol::Resp)?;
        self.step(round, NAME, "filling");
        let fill = self.fill(NAME, &mut client)?;
        let rss_after_fill = rss_bytes(server.pid())?;
        self.step(round, NAME, "BGSAVE");
        let (bgsave, fork) = self.redis_bgsave(&mut server, &mut client)?;
        self.step(round, NAME, "SAVE");
        let started = Instant::now();
        let reply = call(NAME, &mut client, &[b"SAVE"], "SAVE")?;
        let foreground_save = started.elapsed();
        if reply != b"+OK\r\n" {
            return Err(unexpected(NAME, "SAVE", &reply));
        }
        let file_bytes = file_len(&dir.path().join("dump.rdb"))?;
        redis_shutdown(&mut client);
        self.wait_for_exit(&mut server, "SHUTDOWN NOSAVE")?;
        self.step(round, NAME, "restarting");
        let load_log = dir.path().join("redis-load.log");
        let spawned = Instant::now();
        let mut server = Server::spawn(NAME, program, &args, dir.path(), &load_log)?;
        let keys = self.options.keys;
        let restart_ready = self.wait_until_answered(
            NAME,
            &mut server,
            addr,
            Protocol::Resp,
            b"DBSIZE",
            &|reply| resp_integer(reply) == Some(keys),
            spawned,
        )?;
        let rss_after_load = rss_bytes(server.pid())?;
        let mut client = connect(NAME, addr, Protocol::Resp)?;
        redis_shutdown(&mut client);
        self.wait_for_exit(&mut server, "SHUTDOWN NOSAVE")?;
        Ok(ServerFigures {
            fill,
            rss_after_fill,
            bgsave,
            fork,
            foreground_save,
            file_bytes,
            restart_ready,
            rss_after_load,
        })
    }

    fn spawn_stratus(
        &self,
        dir: &Path,
        data_dir: &Path,
        port: &str,
        save_flag: &str,
        save_value: &str,
        log: &Path,
    ) -> Result<Server, PersistenceError> {
        let mut args: Vec<OsString> = vec![
            "--noart".into(),
            "-p".into(),
            port.into(),
            "--data-dir".into(),
            data_dir.into(),
            save_flag.into(),
        ];
        if !save_value.is_empty() {
            args.push(save_value.into());
        }
        Server::spawn("Stratus", &self.stratus, &args, dir, log)
    }

    /// Fills `keys` keys with the seeded values, `FILL_WINDOW` requests in flight.
    fn fill(
        &self,
        server: &'static str,
        client: &mut BlockingClient,
    ) -> Result<Duration, PersistenceError> {
        let protocol = client.protocol();
        let mut values = ValueGenerator::new(self.options.data_size);
        let mut in_flight = std::collections::VecDeque::with_capacity(FILL_WINDOW);
        let mut request = Vec::new();
        let started = Instant::now();
        let mut next_key = 0;
        while next_key < self.options.keys {
            self.check_interrupted()?;
            let count = FILL_BATCH_KEYS.min(self.options.keys - next_key);
            request.clear();
            encode_fill_batch(protocol, &mut request, next_key, count, &mut values);
            client
                .send(&request)
                .map_err(|source| PersistenceError::Client {
                    server,
                    what: "filling",
                    source,
                })?;
            in_flight.push_back(count);
            next_key += count;
            if in_flight.len() >= FILL_WINDOW {
                if let Some(count) = in_flight.pop_front() {
                    expect_fill_replies(server, client, count)?;
                }
            }
        }
        while let Some(count) = in_flight.pop_front() {
            expect_fill_replies(server, client, count)?;
        }
        Ok(started.elapsed())
    }

    /// Polls SYS INFO persistence until a BGSAVE that holds every key has succeeded.
    fn wait_for_stratus_bgsave(
        &self,
        server: &mut Server,
        client: &mut BlockingClient,
    ) -> Result<StratusSave, PersistenceError> {
        const NAME: &str = "Stratus";
        let started = Instant::now();
        let keys = self.options.keys.to_string();
        loop {
            self.check_interrupted()?;
            server.check_running()?;
            if started.elapsed() > SLOW_STEP_TIMEOUT {
                return Err(PersistenceError::Timeout {
                    server: NAME,
                    what: "a BGSAVE of the full table",
                });
            }
            let reply = call(
                NAME,
                client,
                &[b"SYS", b"INFO", b"persistence"],
                "SYS INFO persistence",
            )?;
            let lines = sys_info_lines(&reply)
                .ok_or_else(|| unexpected(NAME, "SYS INFO persistence", &reply))?;
            let field = |name: &str| sys_field(&lines, name);
            if field("health") == Some("critical") {
                return Err(PersistenceError::SaveFailed {
                    server: NAME,
                    detail: field("poisoned_cause").unwrap_or("").to_owned(),
                });
            }
            // A save that started before the fill ended holds fewer keys; only one that holds
            // them all measures the full table.
            if field("last_save_kind") == Some("bgsave")
                && field("last_save_status") == Some("ok")
                && field("last_save_keys") == Some(keys.as_str())
            {
                let number = |name: &str| {
                    field(name)
                        .and_then(|text| text.parse::<f64>().ok())
                        .ok_or_else(|| unexpected(NAME, "SYS INFO persistence", &reply))
                };
                return Ok(StratusSave {
                    duration: Duration::from_secs_f64(number("last_save_duration_ms")? / 1e3),
                    fork: Duration::from_secs_f64(number("last_fork_time_us")? / 1e6),
                    bytes: number("last_save_bytes")? as u64,
                });
            }
            thread::sleep(BGSAVE_POLL_INTERVAL);
        }
    }

    /// BGSAVE, then INFO persistence until it is over: the wall time, and Redis's fork time.
    fn redis_bgsave(
        &self,
        server: &mut Server,
        client: &mut BlockingClient,
    ) -> Result<(Duration, Duration), PersistenceError> {
        const NAME: &str = "Redis";
        let started = Instant::now();
        let reply = call(NAME, client, &[b"BGSAVE"], "BGSAVE")?;
        if !reply.starts_with(b"+") {
            return Err(unexpected(NAME, "BGSAVE", &reply));
        }
        let duration = loop {
            self.check_interrupted()?;
            server.check_running()?;
            if started.elapsed() > SLOW_STEP_TIMEOUT {
                return Err(PersistenceError::Timeout {
                    server: NAME,
                    what: "BGSAVE",
                });
            }
            let info = redis_info(client, "persistence")?;
            if info_field(&info, "rdb_bgsave_in_progress") == Some("0") {
                let elapsed = started.elapsed();
                if info_field(&info, "rdb_last_bgsave_status") != Some("ok") {
                    return Err(PersistenceError::SaveFailed {
                        server: NAME,
                        detail: "rdb_last_bgsave_status is not ok".to_owned(),
                    });
                }
                break elapsed;
            }
            thread::sleep(BGSAVE_POLL_INTERVAL);
        };
        let stats = redis_info(client, "stats")?;
        let fork_us = info_field(&stats, "latest_fork_usec")
            .and_then(|text| text.parse::<u64>().ok())
            .ok_or_else(|| unexpected(NAME, "INFO stats", &stats))?;
        Ok((duration, Duration::from_micros(fork_us)))
    }

    /// Reads the port Stratus reports once it listens.
    fn wait_for_port(&self, server: &mut Server, log: &Path) -> Result<u16, PersistenceError> {
        let started = Instant::now();
        loop {
            self.check_interrupted()?;
            let text = read_log(log);
            if let Some(port) = parse_started_port(&text) {
                return Ok(port);
            }
            server.check_running()?;
            if started.elapsed() > STARTUP_TIMEOUT {
                return Err(PersistenceError::Timeout {
                    server: server.name,
                    what: "its 'Server started on' log line",
                });
            }
            thread::sleep(LOG_POLL_INTERVAL);
        }
    }

    /// Sends `command` every 2 ms, on a connection made as soon as the server accepts one,
    /// until `accept` likes the reply; returns the time since `since`.
    #[allow(clippy::too_many_arguments)]
    fn wait_until_answered(
        &self,
        name: &'static str,
        server: &mut Server,
        addr: SocketAddr,
        protocol: Protocol,
        command: &[u8],
        accept: &dyn Fn(&[u8]) -> bool,
        since: Instant,
    ) -> Result<Duration, PersistenceError> {
        let mut client = None;
        loop {
            self.check_interrupted()?;
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
                    server: name,
                    what: "the expected DBSIZE or PING reply",
                });
            }
            thread::sleep(READY_POLL_INTERVAL);
        }
    }

    fn wait_for_exit(
        &self,
        server: &mut Server,
        what: &'static str,
    ) -> Result<(), PersistenceError> {
        let started = Instant::now();
        loop {
            self.check_interrupted()?;
            if let Some(status) = server.try_wait()? {
                if status.success() {
                    return Ok(());
                }
                return Err(server.exited(status));
            }
            if started.elapsed() > SLOW_STEP_TIMEOUT {
                return Err(PersistenceError::Timeout {
                    server: server.name,
                    what,
                });
            }
            thread::sleep(EXIT_POLL_INTERVAL);
        }
    }

    fn check_interrupted(&self) -> Result<(), PersistenceError> {
        if self.interrupted.load(Ordering::Relaxed) {
            return Err(PersistenceError::Interrupted);
        }
        Ok(())
    }

    /// Shows what is happening on a terminal; a full run takes minutes.
    fn step(&self, round: usize, server: &str, what: &str) {
        if self.progress {
            eprint!(
                "\r\x1b[Kround {round} of {}: {server}: {what}",
                self.options.rounds
            );
        }
    }

    fn clear_step(&self) {
        if self.progress {
            eprint!("\r\x1b[K");
        }
    }
}

/// What Stratus reports about the BGSAVE of the full table.
struct StratusSave {
    duration: Duration,
    fork: Duration,
    bytes: u64,
}

/// A server this program started. Dropping it kills the process if it still runs, so no
/// error path can leave one behind.
struct Server {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Server {
    fn spawn(
        name: &'static str,
        program: &Path,
        args: &[OsString],
        dir: &Path,
        log: &Path,
    ) -> Result<Server, PersistenceError> {
        let log_file =
            File::create(log).map_err(io_error(format!("cannot create {}", log.display())))?;
        let log_copy = log_file
            .try_clone()
            .map_err(io_error(format!("cannot duplicate {}", log.display())))?;
        let mut command = Command::new(program);
        command
            .args(args)
            // The working directory matters: Stratus adopts a data.bin it finds there.
            .current_dir(dir)
            // Its log lines are what the save time is read from, whatever the caller's level.
            .env("SKY_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log_file)
            .stderr(log_copy)
            // Its own process group: a Ctrl-C at the terminal reaches this program only,
            // which then stops the server itself.
            .process_group(0);
        // SAFETY: the closure runs in the forked child before exec and only calls prctl(2),
        // which is async-signal-safe and touches no memory of ours. PR_SET_PDEATHSIG makes the
        // kernel kill the server if this program dies without running its destructors
        // (SIGKILL); this program has one thread, so "parent" is this process.
        unsafe {
            command.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == -1 {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = command.spawn().map_err(|source| PersistenceError::Spawn {
            program: program.to_owned(),
            source,
        })?;
        Ok(Server {
            name,
            child,
            log: log.to_owned(),
        })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn signal(&self, signal: Signal) -> Result<(), PersistenceError> {
        let pid = i32::try_from(self.pid()).map_err(|_| PersistenceError::Io {
            what: format!("{}: pid {} out of range", self.name, self.pid()),
            source: io::ErrorKind::InvalidData.into(),
        })?;
        kill(Pid::from_raw(pid), signal).map_err(|errno| PersistenceError::Io {
            what: format!("cannot send {signal} to {}", self.name),
            source: errno.into(),
        })
    }

    fn try_wait(&mut self) -> Result<Option<ExitStatus>, PersistenceError> {
        self.child
            .try_wait()
            .map_err(io_error(format!("cannot wait for {}", self.name)))
    }

    /// An error if the server has exited: it should be running now.
    fn check_running(&mut self) -> Result<(), PersistenceError> {
        match self.try_wait()? {
            None => Ok(()),
            Some(status) => Err(self.exited(status)),
        }
    }

    fn exited(&self, status: ExitStatus) -> PersistenceError {
        PersistenceError::Exited {
            server: self.name,
            status,
            log: self.log.clone(),
            tail: tail(&read_log(&self.log)),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            // Best effort on the way out: nothing more can be done if these fail.
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A directory under the system's temporary directory, removed with everything in it when
/// dropped.
struct TempDir {
    path: PathBuf,
}

impl TempDir {
    fn create(label: &str) -> Result<TempDir, PersistenceError> {
        let path =
            std::env::temp_dir().join(format!("stratus-bench-{}-{label}", std::process::id()));
        // A leftover from a run killed outright (the PID may be reused) must not leak data in.
        if path.exists() {
            fs::remove_dir_all(&path)
                .map_err(io_error(format!("cannot remove {}", path.display())))?;
        }
        fs::create_dir_all(&path).map_err(io_error(format!("cannot create {}", path.display())))?;
        Ok(TempDir { path })
    }

    fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        // Best effort: a directory that cannot be removed is only litter in /tmp.
        let _ = fs::remove_dir_all(&self.path);
    }
}

/// The seeded values: the same sequence for every server and round.
struct ValueGenerator {
    random: SplitMix64,
    value: Vec<u8>,
}

impl ValueGenerator {
    fn new(size: usize) -> Self {
        ValueGenerator {
            random: SplitMix64::new(FILL_SEED),
            value: vec![0; size],
        }
    }

    fn next_value(&mut self) -> &[u8] {
        // Ten 6-bit letters from each 64-bit draw.
        for letters in self.value.chunks_mut(10) {
            let mut bits = self.random.next_u64();
            for letter in letters {
                *letter = VALUE_ALPHABET[(bits & 63) as usize];
                bits >>= 6;
            }
        }
        &self.value
    }
}

/// Keys `first .. first + count`: one USET of all pairs (Skyhash), or one SET each (RESP).
fn encode_fill_batch(
    protocol: Protocol,
    out: &mut Vec<u8>,
    first: u64,
    count: u64,
    values: &mut ValueGenerator,
) {
    use stratus::protocol::write;
    if protocol == Protocol::Skyhash {
        write::query_header(out, 1);
        write::flat_array_header(out, 1 + 2 * count as usize);
        write::string(out, b"USET");
    }
    for number in first..first + count {
        let key = key_bytes(number);
        let value = values.next_value();
        match protocol {
            Protocol::Skyhash => {
                write::string(out, &key);
                write::string(out, value);
            }
            Protocol::Resp => resp::encode_command(out, &[b"SET", &key, value]),
        }
    }
}

fn expect_fill_replies(
    server: &'static str,
    client: &mut BlockingClient,
    count: u64,
) -> Result<(), PersistenceError> {
    let receive = |client: &mut BlockingClient| {
        client.receive().map_err(|source| PersistenceError::Client {
            server,
            what: "filling",
            source,
        })
    };
    match client.protocol() {
        Protocol::Skyhash => {
            let reply = receive(client)?;
            if skyhash_unsigned(&reply) != Some(count) {
                return Err(unexpected(server, "USET", &reply));
            }
        }
        Protocol::Resp => {
            for _ in 0..count {
                let reply = receive(client)?;
                if reply != b"+OK\r\n" {
                    return Err(unexpected(server, "SET", &reply));
                }
            }
        }
    }
    Ok(())
}

fn connect(
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

fn call(
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

fn unexpected(server: &'static str, what: &'static str, reply: &[u8]) -> PersistenceError {
    PersistenceError::Unexpected {
        server,
        what,
        reply: quote(reply),
    }
}

/// The text of `INFO <section>`.
fn redis_info(client: &mut BlockingClient, section: &str) -> Result<Vec<u8>, PersistenceError> {
    const NAME: &str = "Redis";
    let reply = call(NAME, client, &[b"INFO", section.as_bytes()], "INFO")?;
    match resp::parse_reply(&reply) {
        Ok(Some((resp::Value::Bulk(text), _))) => Ok(text.to_vec()),
        _ => Err(unexpected(NAME, "INFO", &reply)),
    }
}

/// SHUTDOWN NOSAVE: Redis closes the connection instead of answering, so no reply is read;
/// the caller waits for the process to exit, which is the real confirmation.
fn redis_shutdown(client: &mut BlockingClient) {
    let mut request = Vec::new();
    resp::encode_command(&mut request, &[b"SHUTDOWN", b"NOSAVE"]);
    let _ = client.send(&request);
}

/// A Skyhash reply holding one unsigned integer (DBSIZE, USET).
fn skyhash_unsigned(bytes: &[u8]) -> Option<u64> {
    match reply::parse(bytes) {
        Ok(Some((reply, _))) => match reply.single() {
            Some(Element::Unsigned(value)) => Some(*value),
            _ => None,
        },
        _ => None,
    }
}

/// A RESP integer reply that is not negative.
fn resp_integer(reply: &[u8]) -> Option<u64> {
    match resp::parse_reply(reply) {
        Ok(Some((resp::Value::Integer(value), _))) => u64::try_from(value).ok(),
        _ => None,
    }
}

/// The `name=value` strings of SYS INFO persistence.
fn sys_info_lines(bytes: &[u8]) -> Option<Vec<String>> {
    let (reply, _) = reply::parse(bytes).ok()??;
    match reply.single()? {
        Element::FlatArray(lines) => Some(
            lines
                .iter()
                .map(|line| String::from_utf8_lossy(line).into_owned())
                .collect(),
        ),
        _ => None,
    }
}

fn sys_field<'a>(lines: &'a [String], name: &str) -> Option<&'a str> {
    lines
        .iter()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix('='))
}

/// The port in `Server started on: skyhash://127.0.0.1:2003`.
fn parse_started_port(log: &str) -> Option<u16> {
    let line = log.lines().find(|line| line.contains(STARTED_LINE))?;
    line.rsplit(':').next()?.trim().parse().ok()
}

/// Keys, bytes and milliseconds from `Successfully saved data to disk: K keys, B bytes in X ms`.
fn parse_save_line(log: &str) -> Option<(u64, u64, f64)> {
    let line = log.lines().rev().find(|line| line.contains(SAVED_LINE))?;
    let (_, report) = line.split_once(SAVED_LINE)?;
    let words: Vec<&str> = report.split_whitespace().collect();
    match words.as_slice() {
        [keys, "keys,", bytes, "bytes", "in", ms, unit, ..] if unit.starts_with("ms") => {
            Some((keys.parse().ok()?, bytes.parse().ok()?, ms.parse().ok()?))
        }
        _ => None,
    }
}

/// Resident memory of a process, from `VmRSS:` in /proc/<pid>/status.
fn rss_bytes(pid: u32) -> Result<u64, PersistenceError> {
    let path = format!("/proc/{pid}/status");
    let text = fs::read_to_string(&path).map_err(io_error(format!("cannot read {path}")))?;
    parse_vm_rss(&text).ok_or_else(|| PersistenceError::Io {
        what: format!("{path} has no VmRSS line"),
        source: io::ErrorKind::InvalidData.into(),
    })
}

fn parse_vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let mut words = line.split_whitespace().skip(1);
    let kib: u64 = words.next()?.parse().ok()?;
    (words.next() == Some("kB")).then_some(kib * 1024)
}

fn file_len(path: &Path) -> Result<u64, PersistenceError> {
    fs::metadata(path)
        .map(|metadata| metadata.len())
        .map_err(io_error(format!("cannot stat {}", path.display())))
}

/// The log so far; a log that cannot be read yet reads as empty (the server may not have
/// written it).
fn read_log(path: &Path) -> String {
    fs::read(path)
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .unwrap_or_default()
}

/// The last lines of a log, for error messages.
fn tail(log: &str) -> String {
    const LINES: usize = 10;
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(LINES)..].join("\n")
}

/// A port nobody listens on now. Redis treats port 0 as "no TCP", so it cannot pick one
/// itself; the small window before it binds the port is acceptable for a benchmark.
fn free_port() -> Result<u16, PersistenceError> {
    let listener =
        TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(io_error("cannot find a free port"))?;
    let port = listener
        .local_addr()
        .map_err(io_error("cannot find a free port"))?
        .port();
    Ok(port)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_line() {
        let log = "2026-11-27T00:07:09.123Z INFO  Successfully saved data to disk: 1000000 keys, \
                   124000040 bytes in 336.4 ms. Goodbye :)\n";
        assert_eq!(parse_save_line(log), Some((1_000_000, 124_000_040, 336.4)));
        assert_eq!(parse_save_line("INFO  Saving data to disk\n"), None);
    }

    #[test]
    fn started_port() {
        let log = "x INFO  Using data directory data\nx INFO  Server started on: \
                   skyhash://127.0.0.1:40123\n";
        assert_eq!(parse_started_port(log), Some(40123));
        assert_eq!(parse_started_port("x INFO  starting\n"), None);
    }

    #[test]
    fn vm_rss() {
        let status = "Name:\tstratus\nVmPeak:\t  20000 kB\nVmRSS:\t   16384 kB\nThreads:\t1\n";
        assert_eq!(parse_vm_rss(status), Some(16384 * 1024));
        assert_eq!(parse_vm_rss("Name:\tx\n"), None);
    }

    #[test]
    fn sys_fields_by_exact_name() {
        let lines = vec![
            "saves_succeeded=2".to_owned(),
            "last_save_keys=1000".to_owned(),
        ];
        assert_eq!(sys_field(&lines, "last_save_keys"), Some("1000"));
        assert_eq!(sys_field(&lines, "last_save"), None);
    }

    #[test]
    fn values_are_seeded_printable_and_sized() {
        let mut first = ValueGenerator::new(25);
        let mut second = ValueGenerator::new(25);
        let a = first.next_value().to_vec();
        assert_eq!(a.len(), 25);
        assert!(a.iter().all(|byte| VALUE_ALPHABET.contains(byte)));
        assert_eq!(second.next_value(), a.as_slice());
        assert_ne!(first.next_value(), a.as_slice());
    }

    #[test]
    fn fill_batches_per_protocol() {
        let mut values = ValueGenerator::new(2);
        let mut out = Vec::new();
        encode_fill_batch(Protocol::Skyhash, &mut out, 7, 2, &mut values);
        let reply = String::from_utf8(out).unwrap();
        assert!(reply.starts_with("*1\n_5\n+4\nUSET\n+16\nkey:000000000007\n+2\n"));
        assert!(reply.contains("+16\nkey:000000000008\n+2\n"));
        let mut values = ValueGenerator::new(2);
        let mut out = Vec::new();
        encode_fill_batch(Protocol::Resp, &mut out, 7, 1, &mut values);
        let first = ValueGenerator::new(2).next_value().to_vec();
        let mut expected = b"*3\r\n$3\r\nSET\r\n$16\r\nkey:000000000007\r\n$2\r\n".to_vec();
        expected.extend_from_slice(&first);
        expected.extend_from_slice(b"\r\n");
        assert_eq!(out, expected);
    }

    #[test]
    fn replies_read_as_integers() {
        assert_eq!(skyhash_unsigned(b"*1\n:4\n1000\n"), Some(1000));
        assert_eq!(skyhash_unsigned(b"*1\n!1\n1\n"), None);
        assert_eq!(resp_integer(b":1000\r\n"), Some(1000));
        assert_eq!(resp_integer(b"-LOADING Redis is loading\r\n"), None);
    }
}

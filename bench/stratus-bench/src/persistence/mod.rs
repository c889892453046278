//! The persistence mode: per round, Stratus then Redis, each started on a free port in a new
//! temporary directory, filled with the same seeded data, and measured (memory after the fill,
//! a BGSAVE of the full table, a foreground save, the data file, restart until DBSIZE answers
//! N, memory after the load). `round` runs the steps, `stratus` and `redis` are the two
//! [`round::Target`]s, `process` owns the server processes and directories (every one is
//! removed on every way out: errors, Ctrl-C, this program's death), `fill` the data and
//! `log_line` what is read from Stratus's log. This file runs the rounds; output is `report`'s.

mod fill;
mod log_line;
mod process;
mod redis;
mod round;
mod stratus;

use std::fmt;
use std::io::{self, IsTerminal};
use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::Duration;

use self::process::Interrupt;
use self::redis::Redis;
use self::round::Bench;
use crate::blocking::ClientError;
use crate::options::PersistenceOptions;
use crate::report;
// The module, not the server crate of the same name.
use self::stratus::Stratus;

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
    let interrupt = Interrupt::install()?;
    let stratus = Stratus {
        program: stratus_binary(options)?,
    };
    let redis = redis_binary(options)?.map(|program| Redis { program });
    if redis.is_none() {
        eprintln!("stratus-bench: redis-server not found on PATH: measuring Stratus only");
    }
    let bench = Bench {
        options,
        interrupt,
        progress: io::stderr().is_terminal(),
    };
    let mut rounds = Vec::with_capacity(options.rounds);
    for number in 1..=options.rounds {
        let measured = measure_both(&bench, &stratus, redis.as_ref(), number);
        // Whatever happened, the next line printed must not land on the progress line.
        bench.clear_step();
        let (ours, theirs) = measured?;
        if !options.json {
            let title = format!(
                "round {number} of {}: {} keys x {} B",
                options.rounds, options.keys, options.data_size
            );
            println!(
                "{}",
                report::persistence_table(&title, &ours, theirs.as_ref())
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
        print_medians(options, &rounds);
    }
    Ok(())
}

/// One round: Stratus, then Redis if there is one.
fn measure_both(
    bench: &Bench,
    stratus: &Stratus,
    redis: Option<&Redis>,
    number: usize,
) -> Result<(ServerFigures, Option<ServerFigures>), PersistenceError> {
    let ours = round::round(bench, stratus, number)?;
    let theirs = match redis {
        Some(redis) => Some(round::round(bench, redis, number)?),
        None => None,
    };
    Ok((ours, theirs))
}

fn print_medians(options: &PersistenceOptions, rounds: &[(ServerFigures, Option<ServerFigures>)]) {
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

//! Stratus as a persistence [`Target`]: started on a free port it picks itself (read from its
//! log), with a BGSAVE every second so one follows the fill; the BGSAVE figures come from
//! `SYS INFO persistence`, the foreground save is the one it makes on SIGTERM, timed by its own
//! log line.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use stratus::protocol::reply::{self, Element};

use super::log_line;
use super::process::{tail, Server, SLOW_STEP_TIMEOUT};
use super::round::{call, unexpected, Bench, Bgsave, ForegroundSave, Target};
use super::PersistenceError;
use crate::blocking::BlockingClient;
use crate::protocol::Protocol;

const NAME: &str = "Stratus";
const BGSAVE_POLL_INTERVAL: Duration = Duration::from_millis(5);

#[derive(Debug)]
pub struct Stratus {
    pub program: PathBuf,
}

impl Stratus {
    /// Starts the server on `port` (`0`: it picks one) with `save_flags`, logging to `log`.
    fn start(
        &self,
        dir: &Path,
        port: u16,
        save_flags: &[&str],
        log: &str,
    ) -> Result<Server, PersistenceError> {
        let mut args: Vec<OsString> = vec![
            "--noart".into(),
            "-p".into(),
            port.to_string().into(),
            "--data-dir".into(),
            dir.join("data").into(),
        ];
        args.extend(save_flags.iter().map(OsString::from));
        Server::spawn(NAME, &self.program, &args, dir, &dir.join(log))
    }
}

impl Target for Stratus {
    fn name(&self) -> &'static str {
        NAME
    }

    fn protocol(&self) -> Protocol {
        Protocol::Skyhash
    }

    fn spawn(&self, bench: &Bench, dir: &Path) -> Result<(Server, SocketAddr), PersistenceError> {
        // -S 1: a BGSAVE every second while anything changed, so one starts right after the
        // fill and its figures can be read from SYS INFO persistence.
        let mut server = self.start(dir, 0, &["-S", "1"], "stratus-fill.log")?;
        let addr = server.wait_for_log_line(
            &bench.interrupt,
            "its 'Server started on' log line",
            log_line::started_address,
        )?;
        Ok((server, addr))
    }

    /// Polls SYS INFO persistence until a BGSAVE that holds every key has succeeded.
    fn bgsave(
        &self,
        bench: &Bench,
        server: &mut Server,
        client: &mut BlockingClient,
    ) -> Result<Bgsave, PersistenceError> {
        let started = Instant::now();
        let keys = bench.options.keys.to_string();
        loop {
            bench.interrupt.check()?;
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
                return Ok(Bgsave {
                    duration: Duration::from_secs_f64(number("last_save_duration_ms")? / 1e3),
                    fork: Duration::from_secs_f64(number("last_fork_time_us")? / 1e6),
                    bytes: Some(number("last_save_bytes")? as u64),
                });
            }
            thread::sleep(BGSAVE_POLL_INTERVAL);
        }
    }

    /// The save on SIGTERM, as its log line reports it.
    fn foreground_save(
        &self,
        bench: &Bench,
        server: &mut Server,
        client: BlockingClient,
    ) -> Result<ForegroundSave, PersistenceError> {
        // Closed first, so the shutdown has no client to wait for.
        drop(client);
        server.signal(Signal::SIGTERM)?;
        server.wait_for_exit(&bench.interrupt, "its shutdown save")?;
        let log = server.log();
        let saved =
            log_line::shutdown_save(&log).ok_or_else(|| PersistenceError::MissingLogLine {
                server: NAME,
                what: "shutdown save",
                tail: tail(&log),
            })?;
        let keys = bench.options.keys;
        if saved.keys != keys {
            return Err(PersistenceError::SaveFailed {
                server: NAME,
                detail: format!("the shutdown save wrote {} keys, not {keys}", saved.keys),
            });
        }
        Ok(ForegroundSave {
            duration: Duration::from_secs_f64(saved.milliseconds / 1000.0),
            bytes: Some(saved.bytes),
        })
    }

    fn data_file(&self, dir: &Path) -> PathBuf {
        dir.join("data").join("data.bin")
    }

    fn restart(&self, dir: &Path, addr: SocketAddr) -> Result<Server, PersistenceError> {
        self.start(dir, addr.port(), &["--nosave"], "stratus-load.log")
    }

    fn key_count(&self, reply: &[u8]) -> Option<u64> {
        skyhash_unsigned(reply)
    }

    fn shutdown(
        &self,
        bench: &Bench,
        server: &mut Server,
        _addr: SocketAddr,
    ) -> Result<(), PersistenceError> {
        server.signal(Signal::SIGTERM)?;
        server.wait_for_exit(&bench.interrupt, "its exit")
    }
}

/// A Skyhash reply holding one unsigned integer (DBSIZE, USET).
pub fn skyhash_unsigned(bytes: &[u8]) -> Option<u64> {
    match reply::parse(bytes) {
        Ok(Some((reply, _))) => match reply.single() {
            Some(Element::Unsigned(value)) => Some(*value),
            _ => None,
        },
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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn sys_info_is_a_flat_array_of_lines() {
        assert_eq!(
            sys_info_lines(b"*1\n_2\n+11\nhealth=good\n+7\nsaves=0\n"),
            Some(vec!["health=good".to_owned(), "saves=0".to_owned()])
        );
        assert_eq!(sys_info_lines(b"*1\n!1\n1\n"), None);
    }

    #[test]
    fn replies_read_as_integers() {
        assert_eq!(skyhash_unsigned(b"*1\n:4\n1000\n"), Some(1000));
        assert_eq!(skyhash_unsigned(b"*1\n!1\n1\n"), None);
    }
}

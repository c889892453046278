//! Redis as a persistence [`Target`]: started on a free port without periodic saves or an
//! append-only file; its BGSAVE is requested and polled through INFO persistence (the fork
//! time from INFO stats), its foreground save is SAVE timed by the client, and it is stopped
//! with SHUTDOWN NOSAVE.

use std::ffi::OsString;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use super::process::{free_port, Server, SLOW_STEP_TIMEOUT};
use super::round::{
    call, connect, unexpected, wait_until_answered, Bench, Bgsave, ForegroundSave, Target,
};
use super::PersistenceError;
use crate::blocking::BlockingClient;
use crate::protocol::Protocol;
use crate::resp;
use crate::saver::info_field;

const NAME: &str = "Redis";
const DATA_FILE: &str = "dump.rdb";
const BGSAVE_POLL_INTERVAL: Duration = Duration::from_millis(5);

#[derive(Debug)]
pub struct Redis {
    pub program: PathBuf,
}

impl Redis {
    fn start(&self, dir: &Path, port: u16, log: &str) -> Result<Server, PersistenceError> {
        let mut args: Vec<OsString> = [
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--dbfilename",
            DATA_FILE,
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
        args.push(dir.into());
        Server::spawn(NAME, &self.program, &args, dir, &dir.join(log))
    }
}

impl Target for Redis {
    fn name(&self) -> &'static str {
        NAME
    }

    fn protocol(&self) -> Protocol {
        Protocol::Resp
    }

    fn spawn(&self, bench: &Bench, dir: &Path) -> Result<(Server, SocketAddr), PersistenceError> {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, free_port()?));
        let mut server = self.start(dir, addr.port(), "redis-fill.log")?;
        wait_until_answered(
            bench,
            &mut server,
            addr,
            Protocol::Resp,
            b"PING",
            &|reply| reply == b"+PONG\r\n",
            Instant::now(),
        )?;
        Ok((server, addr))
    }

    /// BGSAVE, then INFO persistence until it is over: the wall time, and Redis's fork time.
    fn bgsave(
        &self,
        bench: &Bench,
        server: &mut Server,
        client: &mut BlockingClient,
    ) -> Result<Bgsave, PersistenceError> {
        let started = Instant::now();
        let reply = call(NAME, client, &[b"BGSAVE"], "BGSAVE")?;
        if !reply.starts_with(b"+") {
            return Err(unexpected(NAME, "BGSAVE", &reply));
        }
        let duration = loop {
            bench.interrupt.check()?;
            server.check_running()?;
            if started.elapsed() > SLOW_STEP_TIMEOUT {
                return Err(PersistenceError::Timeout {
                    server: NAME,
                    what: "BGSAVE",
                });
            }
            let info = info(client, "persistence")?;
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
        let stats = info(client, "stats")?;
        let fork_us = info_field(&stats, "latest_fork_usec")
            .and_then(|text| text.parse::<u64>().ok())
            .ok_or_else(|| unexpected(NAME, "INFO stats", &stats))?;
        Ok(Bgsave {
            duration,
            fork: Duration::from_micros(fork_us),
            bytes: None,
        })
    }

    /// SAVE, timed from request to reply; then SHUTDOWN NOSAVE.
    fn foreground_save(
        &self,
        bench: &Bench,
        server: &mut Server,
        mut client: BlockingClient,
    ) -> Result<ForegroundSave, PersistenceError> {
        let started = Instant::now();
        let reply = call(NAME, &mut client, &[b"SAVE"], "SAVE")?;
        let duration = started.elapsed();
        if reply != b"+OK\r\n" {
            return Err(unexpected(NAME, "SAVE", &reply));
        }
        shutdown_nosave(&mut client);
        server.wait_for_exit(&bench.interrupt, "SHUTDOWN NOSAVE")?;
        Ok(ForegroundSave {
            duration,
            bytes: None,
        })
    }

    fn data_file(&self, dir: &Path) -> PathBuf {
        dir.join(DATA_FILE)
    }

    fn restart(&self, dir: &Path, addr: SocketAddr) -> Result<Server, PersistenceError> {
        self.start(dir, addr.port(), "redis-load.log")
    }

    fn key_count(&self, reply: &[u8]) -> Option<u64> {
        resp_integer(reply)
    }

    fn shutdown(
        &self,
        bench: &Bench,
        server: &mut Server,
        addr: SocketAddr,
    ) -> Result<(), PersistenceError> {
        let mut client = connect(NAME, addr, Protocol::Resp)?;
        shutdown_nosave(&mut client);
        server.wait_for_exit(&bench.interrupt, "SHUTDOWN NOSAVE")
    }
}

/// The text of `INFO <section>`.
fn info(client: &mut BlockingClient, section: &str) -> Result<Vec<u8>, PersistenceError> {
    let reply = call(NAME, client, &[b"INFO", section.as_bytes()], "INFO")?;
    match resp::parse_reply(&reply) {
        Ok(Some((resp::Value::Bulk(text), _))) => Ok(text.to_vec()),
        _ => Err(unexpected(NAME, "INFO", &reply)),
    }
}

/// SHUTDOWN NOSAVE: Redis closes the connection instead of answering, so no reply is read;
/// the caller waits for the process to exit, which is the real confirmation.
fn shutdown_nosave(client: &mut BlockingClient) {
    let mut request = Vec::new();
    resp::encode_command(&mut request, &[b"SHUTDOWN", b"NOSAVE"]);
    let _ = client.send(&request);
}

/// A RESP integer reply that is not negative.
fn resp_integer(reply: &[u8]) -> Option<u64> {
    match resp::parse_reply(reply) {
        Ok(Some((resp::Value::Integer(value), _))) => u64::try_from(value).ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_read_as_integers() {
        assert_eq!(resp_integer(b":1000\r\n"), Some(1000));
        assert_eq!(resp_integer(b"-LOADING Redis is loading\r\n"), None);
    }
}

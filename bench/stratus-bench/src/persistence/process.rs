//! The server processes and directories the persistence mode makes, and waiting on them:
//! spawning a server with its output in a log file, signalling it, waiting for a log line or
//! its exit, its memory, temporary directories and free ports. A [`Server`] or [`TempDir`] is
//! removed when dropped, so no error path leaves one behind. It knows nothing of protocols:
//! `round` and the targets talk to the servers.

// Unsafe here: the spawned server's `pre_exec` (a death signal tied to this process).
#![allow(unsafe_code)]

use std::ffi::OsString;
use std::fs::{self, File};
use std::io;
use std::net::{Ipv4Addr, TcpListener};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::{io_error, PersistenceError};

const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);
/// Saves, shutdowns and loads of large tables take seconds; a minute per million keys at
/// the very least, so this only catches a server that is stuck.
pub const SLOW_STEP_TIMEOUT: Duration = Duration::from_secs(600);
const LOG_POLL_INTERVAL: Duration = Duration::from_millis(10);
const EXIT_POLL_INTERVAL: Duration = Duration::from_millis(1);
/// Lines of a server's log quoted in an error message.
const TAIL_LINES: usize = 10;

/// Set by SIGINT or SIGTERM. Ctrl-C must not kill this process before it has killed its
/// servers and removed its directories: the signal only sets the flag that every wait checks.
#[derive(Debug, Clone)]
pub struct Interrupt(Arc<AtomicBool>);

impl Interrupt {
    pub fn install() -> Result<Interrupt, PersistenceError> {
        let flag = Arc::new(AtomicBool::new(false));
        for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
            signal_hook::flag::register(signal, Arc::clone(&flag))
                .map_err(PersistenceError::Signals)?;
        }
        Ok(Interrupt(flag))
    }

    pub fn check(&self) -> Result<(), PersistenceError> {
        if self.0.load(Ordering::Relaxed) {
            return Err(PersistenceError::Interrupted);
        }
        Ok(())
    }
}

/// A server this program started. Dropping it kills the process if it still runs.
#[derive(Debug)]
pub struct Server {
    pub name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Server {
    /// Starts `program` in `dir` with stdout and stderr in the file `log`.
    pub fn spawn(
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

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The log so far.
    pub fn log(&self) -> String {
        read_log(&self.log)
    }

    pub fn signal(&self, signal: Signal) -> Result<(), PersistenceError> {
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
    pub fn check_running(&mut self) -> Result<(), PersistenceError> {
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
            tail: tail(&self.log()),
        }
    }

    /// Waits until `find` recognises a line of the log (`what` names it in the timeout error)
    /// and returns what it found.
    pub fn wait_for_log_line<T>(
        &mut self,
        interrupt: &Interrupt,
        what: &'static str,
        find: impl Fn(&str) -> Option<T>,
    ) -> Result<T, PersistenceError> {
        let started = Instant::now();
        loop {
            interrupt.check()?;
            if let Some(found) = find(&self.log()) {
                return Ok(found);
            }
            self.check_running()?;
            if started.elapsed() > STARTUP_TIMEOUT {
                return Err(PersistenceError::Timeout {
                    server: self.name,
                    what,
                });
            }
            thread::sleep(LOG_POLL_INTERVAL);
        }
    }

    /// Waits for the server to exit with status 0 (`what` says what it is doing meanwhile).
    pub fn wait_for_exit(
        &mut self,
        interrupt: &Interrupt,
        what: &'static str,
    ) -> Result<(), PersistenceError> {
        let started = Instant::now();
        loop {
            interrupt.check()?;
            if let Some(status) = self.try_wait()? {
                if status.success() {
                    return Ok(());
                }
                return Err(self.exited(status));
            }
            if started.elapsed() > SLOW_STEP_TIMEOUT {
                return Err(PersistenceError::Timeout {
                    server: self.name,
                    what,
                });
            }
            thread::sleep(EXIT_POLL_INTERVAL);
        }
    }

    /// Resident memory, from `VmRSS:` in `/proc/<pid>/status`.
    pub fn rss_bytes(&self) -> Result<u64, PersistenceError> {
        let path = format!("/proc/{}/status", self.pid());
        let text = fs::read_to_string(&path).map_err(io_error(format!("cannot read {path}")))?;
        parse_vm_rss(&text).ok_or_else(|| PersistenceError::Io {
            what: format!("{path} has no VmRSS line"),
            source: io::ErrorKind::InvalidData.into(),
        })
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

fn parse_vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let mut words = line.split_whitespace().skip(1);
    let kib: u64 = words.next()?.parse().ok()?;
    (words.next() == Some("kB")).then_some(kib * 1024)
}

/// A directory under the system's temporary directory, removed with everything in it when
/// dropped.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn create(label: &str) -> Result<TempDir, PersistenceError> {
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

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        // Best effort: a directory that cannot be removed is only litter in /tmp.
        let _ = fs::remove_dir_all(&self.path);
    }
}

pub fn file_len(path: &Path) -> Result<u64, PersistenceError> {
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
pub fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(TAIL_LINES)..].join("\n")
}

/// A port nobody listens on now. Redis treats port 0 as "no TCP", so it cannot pick one
/// itself; the small window before it binds the port is acceptable for a benchmark.
pub fn free_port() -> Result<u16, PersistenceError> {
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
    fn vm_rss() {
        let status = "Name:\tstratus\nVmPeak:\t  20000 kB\nVmRSS:\t   16384 kB\nThreads:\t1\n";
        assert_eq!(parse_vm_rss(status), Some(16384 * 1024));
        assert_eq!(parse_vm_rss("Name:\tx\n"), None);
    }

    #[test]
    fn tail_keeps_the_last_lines() {
        let log: String = (1..=12).map(|n| format!("line {n}\n")).collect();
        assert_eq!(tail(&log).lines().next(), Some("line 3"));
        assert_eq!(tail("one\ntwo\n"), "one\ntwo");
    }
}

//! The only code that forks, reaps children and leaves a child process.
//!
//! A save child sees a copy-on-write image of the parent's memory, so it can write the table
//! while the parent keeps changing its own copy. Before doing anything else the child makes
//! sure it cannot outlive the server (`PR_SET_PDEATHSIG`), drops the signal handlers it
//! inherited, gives the server priority on the CPU, and closes every descriptor it inherited but
//! the report pipe: the listening and client sockets, the epoll instance and the data-directory
//! lock stay the parent's alone.
//! It leaves with `_exit`, never unwinding into server code, never running destructors. The
//! parent never blocks on a child: it polls with `WNOHANG` when SIGCHLD (or a timer) says so.

// Unsafe here: fork, the child's signal and scheduling set-up, closing inherited descriptors, `_exit`.
#![allow(unsafe_code)]

use std::fmt;
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::panic::{self, AssertUnwindSafe};
use std::time::{Duration, Instant};

use nix::sys::prctl;
use nix::sys::signal::{self, SigHandler, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{fork, getpid, getppid, ForkResult, Pid};

/// Exit status of a child whose work succeeded.
const EXIT_OK: i32 = 0;
/// The work returned an error (its text is in the report).
const EXIT_FAILED: i32 = 1;
/// The work panicked.
const EXIT_PANICKED: i32 = 2;
/// The server died before the child could tie its life to the server's.
const EXIT_ORPHANED: i32 = 3;
/// The child could not set itself up (signals, descriptors).
const EXIT_SETUP_FAILED: i32 = 4;

/// The signals whose handlers the server installs; a child goes back to the defaults, so
/// SIGINT or SIGTERM end it instead of poking the server's signal pipe.
const SERVER_SIGNALS: [Signal; 3] = [Signal::SIGINT, Signal::SIGTERM, Signal::SIGCHLD];

/// A running child.
#[derive(Debug)]
pub struct Child {
    pid: Pid,
    /// Read end of the pipe the child writes its one-line report into.
    report: io::PipeReader,
    /// How long `fork` took in the parent: mostly copying page tables, so it grows with RSS.
    fork_time: Duration,
}

/// How a child ended, with the report it wrote (empty if it wrote none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildExit {
    pub status: ExitKind,
    pub report: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitKind {
    /// Exit status 0: the work succeeded.
    Success,
    /// Any other exit status.
    Failed(i32),
    /// Killed by a signal (SIGKILL from an operator or the OOM killer, SIGBUS, …).
    Killed(Signal),
}

impl fmt::Display for ExitKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExitKind::Success => write!(f, "exited successfully"),
            ExitKind::Failed(EXIT_PANICKED) => write!(f, "panicked"),
            ExitKind::Failed(EXIT_ORPHANED) => write!(f, "found the server gone"),
            ExitKind::Failed(status) => write!(f, "exited with status {status}"),
            ExitKind::Killed(signal) => write!(f, "was killed by {signal}"),
        }
    }
}

impl Child {
    pub fn pid(&self) -> u32 {
        self.pid.as_raw() as u32
    }

    pub fn fork_time(&self) -> Duration {
        self.fork_time
    }

    /// Reaps the child if it has ended, without blocking.
    pub fn try_wait(&mut self) -> io::Result<Option<ChildExit>> {
        let status = match waitpid(self.pid, Some(WaitPidFlag::WNOHANG))? {
            WaitStatus::Exited(_, EXIT_OK) => ExitKind::Success,
            WaitStatus::Exited(_, status) => ExitKind::Failed(status),
            WaitStatus::Signaled(_, signal, _) => ExitKind::Killed(signal),
            _ => return Ok(None),
        };
        // The child has exited, so its end of the pipe is closed: this read cannot block.
        let mut report = String::new();
        if let Err(error) = self.report.read_to_string(&mut report) {
            report = format!("(unreadable report: {error})");
        }
        Ok(Some(ChildExit {
            status,
            report: report.trim_end().to_owned(),
        }))
    }

    /// Moves the child out of the idle scheduling class into the batch class, at its normal
    /// nice value, so that other load on the machine can no longer starve it. Needs root, or
    /// an RLIMIT_NICE that allows nice 0, as Linux rules for leaving SCHED_IDLE.
    pub fn stop_yielding(&self) -> io::Result<()> {
        let param = libc::sched_param { sched_priority: 0 };
        // SAFETY: changes only the scheduling class of our own child, with a valid
        // `sched_param`; a child that has already exited makes it fail with ESRCH.
        let changed =
            unsafe { libc::sched_setscheduler(self.pid.as_raw(), libc::SCHED_BATCH, &param) };
        if changed == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    /// Ends the child at once (SIGKILL); reap it with [`Self::try_wait`].
    pub fn kill(&self) -> io::Result<()> {
        signal::kill(self.pid, Signal::SIGKILL)?;
        Ok(())
    }
}

/// Forks. The child runs `work` on its copy-on-write image of this process and exits; its
/// report (the `Ok` text, or the `Err` text) can be read once it has been reaped.
///
/// Call only while this process has a single thread: the child gets only the forking thread,
/// and a lock held by any other would stay locked in it forever.
pub fn spawn(work: impl FnOnce() -> Result<String, String>) -> io::Result<Child> {
    let (report_reader, report_writer) = io::pipe()?;
    // Anything buffered now would be written twice, once by each process.
    io::stdout().flush()?;
    io::stderr().flush()?;
    let parent = getpid();
    let started = Instant::now();
    // SAFETY: the server is single-threaded, so the child starts with a consistent heap and
    // no lock held by another thread. The child branch below only sets itself up, runs the
    // work (which must not touch the parent's event loop), and leaves with `_exit`.
    match unsafe { fork() }? {
        ForkResult::Parent { child } => Ok(Child {
            pid: child,
            report: report_reader,
            fork_time: started.elapsed(),
        }),
        ForkResult::Child => {
            drop(report_reader);
            run_child(parent, report_writer, work)
        }
    }
}

fn run_child(
    parent: Pid,
    mut report: io::PipeWriter,
    work: impl FnOnce() -> Result<String, String>,
) -> ! {
    let code = match set_up_child(parent, report.as_raw_fd()) {
        Err(ChildSetup::Orphaned) => EXIT_ORPHANED,
        Err(ChildSetup::Failed(error)) => {
            let _ = writeln!(report, "save child setup failed: {error}");
            EXIT_SETUP_FAILED
        }
        Ok(()) => match panic::catch_unwind(AssertUnwindSafe(work)) {
            Ok(Ok(text)) => {
                let _ = writeln!(report, "{text}");
                EXIT_OK
            }
            Ok(Err(text)) => {
                let _ = writeln!(report, "{text}");
                EXIT_FAILED
            }
            Err(_) => {
                let _ = writeln!(report, "save child panicked");
                EXIT_PANICKED
            }
        },
    };
    // SAFETY: `_exit` ends the process at once: no destructors (which could remove the parent's
    // files), no atexit handlers, no flushing of buffers that belong to the parent.
    unsafe { libc::_exit(code) }
}

enum ChildSetup {
    Orphaned,
    Failed(io::Error),
}

fn set_up_child(parent: Pid, keep_fd: i32) -> Result<(), ChildSetup> {
    prctl::set_pdeathsig(Signal::SIGKILL).map_err(|error| ChildSetup::Failed(error.into()))?;
    // The server may have died between fork and prctl; then nothing would kill us later.
    if getppid() != parent {
        return Err(ChildSetup::Orphaned);
    }
    for server_signal in SERVER_SIGNALS {
        // SAFETY: restoring a default disposition installs no handler; nothing else runs
        // concurrently in this single-threaded child.
        unsafe { signal::signal(server_signal, SigHandler::SigDfl) }
            .map_err(|error| ChildSetup::Failed(error.into()))?;
    }
    yield_cpu_to_the_server();
    close_inherited_descriptors(keep_fd).map_err(ChildSetup::Failed)
}

/// Moves the child to the idle scheduling class (SCHED_IDLE): it runs on the CPU time the
/// server and everything else leave over, and never preempts them. On a machine with few
/// cores the server, its clients and a save compete for CPU; measured on 2 cores with saves
/// running back to back, the server kept about 50 % of its idle throughput with the child at
/// normal priority, 80 % with it idle (BENCHMARKS.md). A save on an idle machine is not slowed;
/// under load it takes longer, which only the save notices; a machine kept busy by other
/// processes could starve it for good, so the server raises a save that runs too long
/// ([`Child::stop_yielding`]). Failure is harmless: the child then saves at normal priority.
fn yield_cpu_to_the_server() {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: changes only this process's scheduling class, with a valid `sched_param`.
    unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) };
}

/// Closes every descriptor from 3 up except `keep_fd`.
fn close_inherited_descriptors(keep_fd: i32) -> io::Result<()> {
    let keep = keep_fd as libc::c_uint;
    let ranges = [(3, keep.saturating_sub(1)), (keep + 1, libc::c_uint::MAX)];
    for (first, last) in ranges {
        if first > last {
            continue;
        }
        // SAFETY: closes descriptors of this child only; none of them is used again here.
        if unsafe { libc::close_range(first, last, 0) } != 0 {
            return close_listed_descriptors(keep_fd);
        }
    }
    Ok(())
}

/// For kernels without close_range (before Linux 5.9): close what /proc/self/fd lists.
fn close_listed_descriptors(keep_fd: i32) -> io::Result<()> {
    let open: Vec<i32> = std::fs::read_dir("/proc/self/fd")?
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    for fd in open.into_iter().filter(|&fd| fd > 2 && fd != keep_fd) {
        // SAFETY: as above; a descriptor that is already closed (the directory listing's own)
        // just gives EBADF.
        unsafe { libc::close(fd) };
    }
    Ok(())
}

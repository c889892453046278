//! Processes other than the server itself, above all the save children it forks: their pid
//! and target file in log lines, signals (`kill`), their state in `/proc`, holding one with
//! SIGSTOP, and the file-size limit (`prlimit`) that makes a running server's saves fail.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::PATIENCE;

/// Sends a signal (`KILL`, `STOP`, …) to any process with the `kill` command; false if it
/// failed (typically: no such process).
pub fn kill_pid(pid: u32, signal: &str) -> bool {
    Command::new("kill")
        .args([format!("-{signal}"), pid.to_string()])
        .stderr(Stdio::null())
        .status()
        .expect("run kill")
        .success()
}

/// The state letter of a process (`R`, `S`, `T`, `Z`, …) and its command name, from
/// /proc/<pid>/stat; None if there is no such process.
pub fn process_state(pid: u32) -> Option<(char, String)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let name = stat[open + 1..close].to_owned();
    let state = stat[close + 1..].trim_start().chars().next()?;
    Some((state, name))
}

/// Whether `pid` is a live (not zombie) `stratus` process.
pub fn is_live_stratus(pid: u32) -> bool {
    matches!(process_state(pid), Some((state, name)) if state != 'Z' && name == "stratus")
}

/// Sets the soft RLIMIT_FSIZE of a running process with `prlimit` (the hard limit stays
/// unlimited); `soft` is a byte count or `unlimited`.
pub fn set_file_size_limit(pid: u32, soft: &str) {
    let status = Command::new("prlimit")
        .args([
            "--pid".to_owned(),
            pid.to_string(),
            format!("--fsize={soft}:unlimited"),
        ])
        .status()
        .expect("run prlimit");
    assert!(
        status.success(),
        "prlimit --pid {pid} --fsize={soft}:unlimited failed"
    );
}

/// The pid in a log line `… child <pid> …` (`BGSAVE started by child <pid> (…`).
pub fn child_pid_in(line: &str) -> u32 {
    line.split("child ")
        .nth(1)
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|digits| digits.parse().ok())
        .unwrap_or_else(|| panic!("no child pid in log line {line:?}"))
}

/// The path in a log line `… writing <path>` (`MKSNAP started by child 12 (…): writing …`).
pub fn written_path_in(line: &str) -> PathBuf {
    let (_, path) = line
        .split_once("writing ")
        .unwrap_or_else(|| panic!("no `writing <path>` in log line {line:?}"));
    PathBuf::from(path.trim_end())
}

/// Stops a process with SIGSTOP and waits until it is stopped: true, or false if it ended
/// first (it finished its work before the signal reached it).
pub fn hold_process(pid: u32) -> bool {
    kill_pid(pid, "STOP");
    let deadline = Instant::now() + PATIENCE;
    loop {
        match process_state(pid) {
            Some(('T', _)) => return true,
            Some(('Z', _)) | None => return false,
            Some(_) => {}
        }
        assert!(
            Instant::now() < deadline,
            "process {pid} neither stopped nor ended"
        );
        thread::sleep(Duration::from_millis(5));
    }
}

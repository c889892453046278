//! Running the real binary: [`ServerBuilder`] says where and with which arguments,
//! [`TestServer`] is a running server (killed when dropped) with its log lines collected by
//! reader threads, and [`RunOutput`] is what a run that was expected to exit by itself
//! produced. Start-up waits for the `Server started on` log line, never for a fixed time; a
//! watchdog kills a server still running after [`WATCHDOG`].

use std::io::{BufRead, BufReader, Read};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use stratus::log_lines::{
    RESP_SCHEME, RESP_SECURE_SCHEME, SKYHASH_SCHEME, SKYHASH_SECURE_SCHEME, STARTED_BY_CHILD,
    STARTED_ON,
};
use tempfile::TempDir;

use super::memory::rss_kib;
use super::process::{child_pid_in, written_path_in};
use super::PATIENCE;

/// A server still alive after this long is killed, so a hung client call fails instead of
/// hanging the whole test run.
const WATCHDOG: Duration = Duration::from_secs(240);

const BINARY: &str = env!("CARGO_BIN_EXE_stratus");

/// Lines of one output stream of the child, filled by a reader thread.
#[derive(Clone, Default)]
struct Lines {
    inner: Arc<(Mutex<LinesState>, Condvar)>,
}

#[derive(Default)]
struct LinesState {
    lines: Vec<String>,
    closed: bool,
}

impl Lines {
    fn drain_from(&self, source: impl Read + Send + 'static) -> JoinHandle<()> {
        let lines = self.clone();
        thread::spawn(move || {
            let mut reader = BufReader::new(source);
            let mut line = Vec::new();
            loop {
                line.clear();
                match reader.read_until(b'\n', &mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        let text = String::from_utf8_lossy(&line);
                        lines.push(text.trim_end_matches(['\n', '\r']).to_owned());
                    }
                }
            }
            let (state, changed) = &*lines.inner;
            state.lock().unwrap().closed = true;
            changed.notify_all();
        })
    }

    fn push(&self, line: String) {
        let (state, changed) = &*self.inner;
        state.lock().unwrap().lines.push(line);
        changed.notify_all();
    }

    fn snapshot(&self) -> Vec<String> {
        self.inner.0.lock().unwrap().lines.clone()
    }

    /// Waits until a line at index >= `from` satisfies `wanted`; returns it, or None if the
    /// stream closed or the timeout passed first.
    fn wait_for(
        &self,
        from: usize,
        timeout: Duration,
        wanted: impl Fn(&str) -> bool,
    ) -> Option<String> {
        let deadline = Instant::now() + timeout;
        let (state, changed) = &*self.inner;
        let mut guard = state.lock().unwrap();
        loop {
            if let Some(line) = guard.lines.iter().skip(from).find(|line| wanted(line)) {
                return Some(line.clone());
            }
            let now = Instant::now();
            if guard.closed || now >= deadline {
                return None;
            }
            guard = changed.wait_timeout(guard, deadline - now).unwrap().0;
        }
    }

    fn wait_closed(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let (state, changed) = &*self.inner;
        let mut guard = state.lock().unwrap();
        while !guard.closed {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            guard = changed.wait_timeout(guard, deadline - now).unwrap().0;
        }
        true
    }
}

/// Where and how to run the binary. `new()` gives a fresh temporary directory as cwd and the
/// default arguments `--noart -p 0 --data-dir <dir>/data`; `exact_args()` drops the defaults.
/// `same_dir()` gives a builder for another server in the same directory (a restart, or a
/// second instance); the directory lives until the last builder or server using it is dropped.
pub struct ServerBuilder {
    dir: Arc<TempDir>,
    args: Vec<String>,
    default_args: bool,
}

impl Default for ServerBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl ServerBuilder {
    pub fn new() -> Self {
        ServerBuilder {
            dir: Arc::new(
                tempfile::Builder::new()
                    .prefix("stratus-test-")
                    .tempdir()
                    .expect("create a temporary directory"),
            ),
            args: Vec::new(),
            default_args: true,
        }
    }

    /// The directory the server runs in (its cwd).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a file into the server's directory and returns its absolute path.
    pub fn write_file(&self, name: &str, contents: &str) -> PathBuf {
        self.write_bytes(name, contents.as_bytes())
    }

    /// A builder for another server in the same directory, with the default arguments only.
    pub fn same_dir(&self) -> ServerBuilder {
        ServerBuilder {
            dir: Arc::clone(&self.dir),
            args: Vec::new(),
            default_args: true,
        }
    }

    /// The data directory the default arguments name: `<dir>/data`.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// `<dir>/data/data.bin`.
    pub fn data_file(&self) -> PathBuf {
        self.data_dir().join("data.bin")
    }

    /// `<dir>/data/snapshots`.
    pub fn snapshot_dir(&self) -> PathBuf {
        self.data_dir().join("snapshots")
    }

    /// Writes bytes to `relative` (creating its directories) and returns the absolute path.
    pub fn write_bytes(&self, relative: &str, contents: &[u8]) -> PathBuf {
        let path = self.dir.path().join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create the directories of a test file");
        }
        std::fs::write(&path, contents).expect("write a file into the test directory");
        path
    }

    /// Appends arguments after the default ones.
    pub fn args<S: AsRef<str>>(mut self, args: &[S]) -> Self {
        self.args
            .extend(args.iter().map(|arg| arg.as_ref().to_owned()));
        self
    }

    /// Runs the binary with exactly the given arguments (no `--noart -p 0 --data-dir`).
    pub fn exact_args<S: AsRef<str>>(mut self, args: &[S]) -> Self {
        self.default_args = false;
        self.args(args)
    }

    fn full_args(&self) -> Vec<String> {
        let mut all = Vec::new();
        if self.default_args {
            let data_dir = self.dir.path().join("data");
            all.extend([
                "--noart".to_owned(),
                "-p".to_owned(),
                "0".to_owned(),
                "--data-dir".to_owned(),
                data_dir.to_string_lossy().into_owned(),
            ]);
        }
        all.extend(self.args.iter().cloned());
        all
    }

    fn spawn(&self) -> (Child, Lines, Lines, Vec<JoinHandle<()>>) {
        let mut child = Command::new(BINARY)
            .args(self.full_args())
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn the stratus binary");
        let stdout = Lines::default();
        let stderr = Lines::default();
        let readers = vec![
            stdout.drain_from(child.stdout.take().expect("piped stdout")),
            stderr.drain_from(child.stderr.take().expect("piped stderr")),
        ];
        (child, stdout, stderr, readers)
    }

    /// Starts the server and waits (up to 10 s) for the `Server started on` line.
    pub fn start(self) -> TestServer {
        let (mut child, stdout, stderr, readers) = self.spawn();
        let line = stderr.wait_for(0, PATIENCE, |line| line.contains(STARTED_ON));
        let Some(line) = line else {
            let _ = child.kill();
            let status = child.wait().ok();
            stderr.wait_closed(PATIENCE);
            panic!(
                "server (args {:?}) did not log {STARTED_ON:?} within {PATIENCE:?}; \
                 exit status {status:?}\n--- stderr ---\n{}\n--- stdout ---\n{}",
                self.full_args(),
                stderr.snapshot().join("\n"),
                stdout.snapshot().join("\n"),
            );
        };
        let Listening {
            host,
            port,
            tls_port,
            resp_port,
            resp_tls_port,
        } = parse_listen_addresses(&line);
        let watchdog = start_watchdog(child.id());
        TestServer {
            child,
            host,
            port,
            tls_port,
            resp_port,
            resp_tls_port,
            builder: self,
            stdout,
            stderr,
            readers,
            watchdog: Some(watchdog),
        }
    }

    /// Runs the binary expecting it to exit by itself (flag errors, `--help`, `--version`).
    /// A process that logs `Server started on` or is still running after 10 s is killed and
    /// reported through `RunOutput::started` / `RunOutput::status == None`.
    pub fn run_to_exit(self) -> RunOutput {
        let (mut child, stdout, stderr, readers) = self.spawn();
        let deadline = Instant::now() + PATIENCE;
        let mut started = false;
        let status = loop {
            if let Some(status) = child.try_wait().expect("poll the child") {
                break Some(status);
            }
            if stderr
                .wait_for(0, Duration::ZERO, |line| line.contains(STARTED_ON))
                .is_some()
            {
                started = true;
            }
            if started || Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            thread::sleep(Duration::from_millis(10));
        };
        stdout.wait_closed(PATIENCE);
        stderr.wait_closed(PATIENCE);
        for reader in readers {
            let _ = reader.join();
        }
        RunOutput {
            args: self.full_args(),
            status,
            started,
            stdout: stdout.snapshot().join("\n"),
            stderr: stderr.snapshot().join("\n"),
        }
    }
}

/// Where a server listens, from its started line.
struct Listening {
    host: String,
    /// The plain Skyhash port; 0 when there is none (TLS only).
    port: u16,
    tls_port: Option<u16>,
    resp_port: Option<u16>,
    resp_tls_port: Option<u16>,
}

/// Parses `... Server started on: skyhash://127.0.0.1:2003 and skyhash-secure://127.0.0.1:2004
/// and resp://127.0.0.1:6379 and resp-secure://127.0.0.1:6380` (any of them; IPv6 as
/// `[::1]:2003`).
fn parse_listen_addresses(line: &str) -> Listening {
    let start = line.find(STARTED_ON).expect("marker present") + STARTED_ON.len();
    let mut listening = Listening {
        host: String::new(),
        port: 0,
        tls_port: None,
        resp_port: None,
        resp_tls_port: None,
    };
    let schemes = [
        SKYHASH_SCHEME,
        SKYHASH_SECURE_SCHEME,
        RESP_SCHEME,
        RESP_SECURE_SCHEME,
    ];
    for address in line[start..].split(" and ") {
        let address = address.split_whitespace().next().unwrap_or_default();
        let Some((scheme, rest)) = schemes
            .into_iter()
            .find_map(|scheme| Some((scheme, address.strip_prefix(scheme)?)))
        else {
            continue;
        };
        let (host, port) = rest
            .rsplit_once(':')
            .unwrap_or_else(|| panic!("no port in the address {address:?} of {line:?}"));
        let port: u16 = port
            .parse()
            .unwrap_or_else(|_| panic!("port of {address:?} in {line:?} is not a u16"));
        listening.host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        match scheme {
            SKYHASH_SCHEME => listening.port = port,
            SKYHASH_SECURE_SCHEME => listening.tls_port = Some(port),
            RESP_SCHEME => listening.resp_port = Some(port),
            _ => listening.resp_tls_port = Some(port),
        }
    }
    assert!(
        !listening.host.is_empty(),
        "no listener address after the marker in {line:?}"
    );
    listening
}

/// Kills the process by pid after `WATCHDOG` unless the sender is dropped first.
fn start_watchdog(pid: u32) -> mpsc::Sender<()> {
    let (cancel, cancelled) = mpsc::channel::<()>();
    thread::spawn(move || {
        if let Err(mpsc::RecvTimeoutError::Timeout) = cancelled.recv_timeout(WATCHDOG) {
            eprintln!("watchdog: server pid {pid} still running after {WATCHDOG:?}, killing it");
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
    });
    cancel
}

/// What a run of the binary that was expected to exit by itself produced.
#[derive(Debug)]
pub struct RunOutput {
    pub args: Vec<String>,
    /// None: it did not exit by itself (killed after a timeout or after it started serving).
    pub status: Option<ExitStatus>,
    /// It logged `Server started on`, i.e. it accepted the arguments and started serving.
    pub started: bool,
    pub stdout: String,
    pub stderr: String,
}

impl RunOutput {
    /// Asserts the process exited by itself with `code`.
    pub fn assert_exit_code(&self, code: i32) {
        assert!(
            !self.started,
            "the server started serving with args {:?} but should have exited with {code}\n{}",
            self.args,
            self.describe()
        );
        let status = self.status.unwrap_or_else(|| {
            panic!(
                "the process did not exit within {PATIENCE:?} (args {:?})\n{}",
                self.args,
                self.describe()
            )
        });
        assert_eq!(
            status.code(),
            Some(code),
            "wrong exit status for args {:?}\n{}",
            self.args,
            self.describe()
        );
    }

    /// Asserts exit status 1 and an ERROR log line on stderr containing `text`.
    pub fn assert_error(&self, text: &str) {
        self.assert_exit_code(1);
        assert!(
            self.stderr
                .lines()
                .any(|line| line.contains("ERROR") && line.contains(text)),
            "no ERROR line containing {text:?} on stderr (args {:?})\n{}",
            self.args,
            self.describe()
        );
    }

    pub fn describe(&self) -> String {
        format!(
            "status: {:?}\n--- stderr ---\n{}\n--- stdout ---\n{}",
            self.status, self.stderr, self.stdout
        )
    }
}

/// A running server; killed when dropped.
pub struct TestServer {
    child: Child,
    pub host: String,
    /// The plain Skyhash port; 0 when the server serves TLS only.
    pub port: u16,
    /// The Skyhash-over-TLS port, when TLS is configured.
    pub tls_port: Option<u16>,
    /// The RESP listener's port, when it was asked for (`--resp-port`).
    pub resp_port: Option<u16>,
    /// The RESP-over-TLS listener's port (`--resp-tls-port`).
    pub resp_tls_port: Option<u16>,
    builder: ServerBuilder,
    stdout: Lines,
    stderr: Lines,
    readers: Vec<JoinHandle<()>>,
    watchdog: Option<mpsc::Sender<()>>,
}

impl TestServer {
    /// A server with the default arguments.
    pub fn start() -> TestServer {
        ServerBuilder::new().start()
    }

    /// A server with the default arguments followed by `extra`.
    pub fn start_with(extra: &[&str]) -> TestServer {
        ServerBuilder::new().args(extra).start()
    }

    pub fn dir(&self) -> &Path {
        self.builder.dir()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A builder for another server in this server's directory (default arguments only).
    pub fn same_dir(&self) -> ServerBuilder {
        self.builder.same_dir()
    }

    pub fn data_dir(&self) -> PathBuf {
        self.builder.data_dir()
    }

    pub fn data_file(&self) -> PathBuf {
        self.builder.data_file()
    }

    /// `<dir>/data/snapshots`.
    pub fn snapshot_dir(&self) -> PathBuf {
        self.builder.snapshot_dir()
    }

    /// `<dir>/data/snapshots/remote/<name>.snapshot`.
    pub fn named_snapshot(&self, name: &str) -> PathBuf {
        self.snapshot_dir()
            .join("remote")
            .join(format!("{name}.snapshot"))
    }

    /// Whether the process has not exited yet.
    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().expect("poll the child").is_none()
    }

    /// SIGKILL, then reaps the process. Does not wait for its output pipes: a save child that
    /// outlived the server would still hold them (see [`Self::output_closed_within`]).
    pub fn kill9(&mut self) -> ExitStatus {
        self.child.kill().expect("SIGKILL the server");
        self.child.wait().expect("reap the killed server")
    }

    /// kill -9, as a crash would, then waits until no save child of the server is left: a
    /// dying child still holds the data directory's lock for a moment, so a restart at once
    /// could be refused.
    pub fn crash(&mut self) -> ExitStatus {
        let status = self.kill9();
        assert!(
            self.output_closed_within(PATIENCE),
            "a save child outlived the killed server by {PATIENCE:?}"
        );
        status
    }

    /// Whether both output pipes closed within `timeout`: no process (the server, or a save
    /// child it forked, which inherits stdout and stderr) still holds them.
    pub fn output_closed_within(&self, timeout: Duration) -> bool {
        self.stderr.wait_closed(timeout) && self.stdout.wait_closed(timeout)
    }

    /// Waits for a stderr line (index >= `from`) that satisfies `wanted`; None on timeout or
    /// when the stream closed first.
    pub fn find_log_after(
        &self,
        from: usize,
        timeout: Duration,
        wanted: impl Fn(&str) -> bool,
    ) -> Option<String> {
        self.stderr.wait_for(from, timeout, wanted)
    }

    /// A connected `skytable` 0.4.0 client.
    pub fn client(&self) -> skytable::Connection {
        skytable::Connection::new(&self.host, self.port).unwrap_or_else(|error| {
            panic!("client connect to {}:{}: {error}", self.host, self.port)
        })
    }

    /// A raw TCP connection with a read timeout of `PATIENCE` and Nagle disabled.
    pub fn raw(&self) -> TcpStream {
        let stream = TcpStream::connect((self.host.as_str(), self.port))
            .unwrap_or_else(|error| panic!("raw connect to {}:{}: {error}", self.host, self.port));
        stream.set_read_timeout(Some(PATIENCE)).unwrap();
        stream.set_write_timeout(Some(PATIENCE)).unwrap();
        stream.set_nodelay(true).unwrap();
        stream
    }

    /// The RESP port; panics if the server was started without `--resp-port`.
    pub fn resp(&self) -> u16 {
        self.resp_port
            .expect("the server was started with --resp-port, so it logs resp://")
    }

    /// A raw TCP connection to the RESP port, with a read timeout of `PATIENCE`.
    pub fn resp_raw(&self) -> TcpStream {
        let stream = TcpStream::connect((self.host.as_str(), self.resp()))
            .unwrap_or_else(|error| panic!("RESP connect to port {}: {error}", self.resp()));
        stream.set_read_timeout(Some(PATIENCE)).unwrap();
        stream.set_write_timeout(Some(PATIENCE)).unwrap();
        stream.set_nodelay(true).unwrap();
        stream
    }

    /// A connected client of the `redis` crate on the RESP port.
    pub fn redis(&self) -> redis::Connection {
        let url = format!("redis://{}:{}/", self.host, self.resp());
        redis::Client::open(url.as_str())
            .and_then(|client| client.get_connection())
            .unwrap_or_else(|error| panic!("redis client connect to {url}: {error}"))
    }

    /// Stderr lines so far.
    pub fn logs(&self) -> Vec<String> {
        self.stderr.snapshot()
    }

    /// Waits for a stderr line containing `needle`; panics with the log on timeout.
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) -> String {
        self.wait_for_log_after(0, needle, timeout)
    }

    /// Like `wait_for_log`, but only considers lines with index >= `from` (see `logs().len()`).
    pub fn wait_for_log_after(&self, from: usize, needle: &str, timeout: Duration) -> String {
        self.stderr
            .wait_for(from, timeout, |line| line.contains(needle))
            .unwrap_or_else(|| {
                panic!(
                    "no stderr line containing {needle:?} (after line {from}) within {timeout:?}\n\
                     --- stderr ---\n{}",
                    self.logs().join("\n")
                )
            })
    }

    /// Waits for any stdout line; None if none arrived within `timeout`.
    pub fn wait_for_stdout(&self, timeout: Duration) -> Option<String> {
        self.stdout.wait_for(0, timeout, |_| true)
    }

    /// Sends a signal by name (`TERM`, `INT`) with the `kill` command.
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([format!("-{name}"), self.pid().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name} {} failed", self.pid());
    }

    /// Waits for the process to exit by itself; panics with the log after `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("poll the child") {
                // The pipes close when the process (and any child it forked) is gone.
                self.stderr.wait_closed(PATIENCE);
                self.stdout.wait_closed(PATIENCE);
                return status;
            }
            if Instant::now() >= deadline {
                panic!(
                    "server did not exit within {timeout:?}\n--- stderr ---\n{}",
                    self.logs().join("\n")
                );
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// Stops the server with SIGTERM and asserts exit status 0 (after the shutdown save, and
    /// after any snapshot job that was running).
    pub fn stop_cleanly(&mut self) {
        self.signal("TERM");
        let status = self.wait_exit(3 * PATIENCE);
        assert!(
            status.success(),
            "exit status after SIGTERM: {status:?}\n{}",
            self.logs().join("\n")
        );
    }

    /// The file the save child `pid` was writing, from its `… started by child <pid> …:
    /// writing <path>` log line.
    pub fn path_written_by_child(&self, pid: u32) -> PathBuf {
        self.logs()
            .iter()
            .rev()
            .find(|line| line.contains(STARTED_BY_CHILD) && child_pid_in(line) == pid)
            .map(|line| written_path_in(line))
            .unwrap_or_else(|| panic!("no `started by child {pid}` log line"))
    }

    /// The server's resident set size in KiB; panics if it is not running.
    pub fn rss_kib(&self) -> u64 {
        rss_kib(self.pid())
            .unwrap_or_else(|| panic!("no VmRSS for server pid {}: not running", self.pid()))
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.watchdog.take();
        let _ = self.child.kill();
        let _ = self.child.wait();
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
    }
}

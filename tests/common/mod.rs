//! Black-box harness shared by every integration test: starts the real `stratus` binary in its
//! own temporary directory on an ephemeral port, collects its log lines, and offers raw-socket
//! and `skytable` client helpers that assert exact bytes. It never sleeps to "let the server
//! start": it waits for the `Server started on` log line. Timeouts are generous for what must
//! happen (a loaded 2-core machine) and short only for asserting that something does not happen.
//! Each test binary uses a different subset of these helpers, hence the `dead_code` allowance.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use skytable::{Element, Query, RespCode, Response};
use tempfile::TempDir;

/// How long anything that must happen may take (start-up, a response, an exit).
pub const PATIENCE: Duration = Duration::from_secs(10);
/// How long we watch for something that must NOT happen (a response, a close).
pub const SILENCE: Duration = Duration::from_millis(300);
/// A server still alive after this long is killed, so a hung client call fails instead of
/// hanging the whole test run.
const WATCHDOG: Duration = Duration::from_secs(240);
/// The log line that announces the listening address.
pub const STARTED_MARKER: &str = stratus::log_lines::STARTED_ON;

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
        let line = stderr.wait_for(0, PATIENCE, |line| line.contains(STARTED_MARKER));
        let Some(line) = line else {
            let _ = child.kill();
            let status = child.wait().ok();
            stderr.wait_closed(PATIENCE);
            panic!(
                "server (args {:?}) did not log {STARTED_MARKER:?} within {PATIENCE:?}; \
                 exit status {status:?}\n--- stderr ---\n{}\n--- stdout ---\n{}",
                self.full_args(),
                stderr.snapshot().join("\n"),
                stdout.snapshot().join("\n"),
            );
        };
        let (host, port) = parse_listen_address(&line);
        let watchdog = start_watchdog(child.id());
        TestServer {
            child,
            host,
            port,
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
                .wait_for(0, Duration::ZERO, |line| line.contains(STARTED_MARKER))
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

/// Parses `... Server started on: skyhash://127.0.0.1:2003` (or `[::1]:2003`, possibly followed
/// by more text) into host and port.
fn parse_listen_address(line: &str) -> (String, u16) {
    let start = line.find(STARTED_MARKER).expect("marker present") + STARTED_MARKER.len();
    let address = line[start..]
        .strip_prefix(stratus::log_lines::SKYHASH_SCHEME)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no skyhash:// address after the marker in {line:?}"));
    let (host, port) = address
        .rsplit_once(':')
        .unwrap_or_else(|| panic!("no port in the address of {line:?}"));
    let port = port
        .parse()
        .unwrap_or_else(|_| panic!("port in {line:?} is not a u16"));
    let host = host.trim_start_matches('[').trim_end_matches(']');
    (host.to_owned(), port)
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
    pub port: u16,
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

    /// Stderr lines so far.
    pub fn logs(&self) -> Vec<String> {
        self.stderr.snapshot()
    }

    /// Stdout lines so far.
    pub fn stdout_lines(&self) -> Vec<String> {
        self.stdout.snapshot()
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

// ---------------------------------------------------------------------------------------------
// Raw byte helpers

/// Writes all bytes.
pub fn send(stream: &mut TcpStream, bytes: &[u8]) {
    stream
        .write_all(bytes)
        .unwrap_or_else(|error| panic!("write of {} bytes failed: {error}", bytes.len()));
}

/// Renders bytes as an escaped string (`\n`, `\xff`, ...).
pub fn escape(bytes: &[u8]) -> String {
    bytes.escape_ascii().to_string()
}

/// Escaped rendering that stays readable for large buffers: short buffers in full, long ones
/// as a window around `focus`.
fn escape_around(bytes: &[u8], focus: usize) -> String {
    const WINDOW: usize = 120;
    if bytes.len() <= 2 * WINDOW {
        return format!("\"{}\"", escape(bytes));
    }
    let start = focus.saturating_sub(WINDOW / 2).min(bytes.len());
    let end = (start + WINDOW).min(bytes.len());
    format!(
        "[{} bytes] ...\"{}\"... (bytes {start}..{end})",
        bytes.len(),
        escape(&bytes[start..end])
    )
}

/// Reads up to `count` bytes (fewer on EOF, error or timeout); never reads past `count`.
/// Interrupted reads are retried within the same deadline.
pub fn read_up_to(stream: &mut TcpStream, count: usize, timeout: Duration) -> (Vec<u8>, String) {
    let deadline = Instant::now() + timeout;
    let mut received = Vec::with_capacity(count);
    let mut chunk = vec![0u8; 64 * 1024];
    let ending = loop {
        if received.len() >= count {
            break String::from("complete");
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break format!("timed out after {timeout:?}");
        }
        stream.set_read_timeout(Some(left)).unwrap();
        let wanted = (count - received.len()).min(chunk.len());
        match stream.read(&mut chunk[..wanted]) {
            Ok(0) => break String::from("connection closed by the server (EOF)"),
            Ok(read) => received.extend_from_slice(&chunk[..read]),
            Err(error) if error.kind() == ErrorKind::Interrupted => {}
            Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                break format!("timed out after {timeout:?}");
            }
            Err(error) => break format!("read error: {error}"),
        }
    };
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    (received, ending)
}

/// Reads exactly `expected.len()` bytes (waiting up to 10 s) and asserts they equal `expected`.
pub fn expect_exact(stream: &mut TcpStream, expected: &[u8]) {
    let (received, ending) = read_up_to(stream, expected.len(), PATIENCE);
    if received != expected {
        let first_difference = received
            .iter()
            .zip(expected)
            .position(|(a, b)| a != b)
            .unwrap_or(received.len().min(expected.len()));
        panic!(
            "response mismatch ({ending}); first difference at byte {first_difference}\n\
             expected: {}\n  actual: {}",
            escape_around(expected, first_difference),
            escape_around(&received, first_difference),
        );
    }
}

/// Asserts the server closes the connection within 10 s without sending anything more.
/// A reset (the server closed with our bytes still unread) also counts as closed.
pub fn expect_eof(stream: &mut TcpStream) {
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut buffer = [0u8; 1024];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => return,
            Ok(read) => panic!(
                "expected the server to close the connection, got more bytes: \"{}\"",
                escape(&buffer[..read])
            ),
            Err(error) if error.kind() == ErrorKind::Interrupted => {}
            Err(error) if error.kind() == ErrorKind::ConnectionReset => return,
            Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                panic!("the server did not close the connection within {PATIENCE:?}")
            }
            Err(error) => panic!("expected EOF, got read error: {error}"),
        }
    }
}

/// Asserts nothing arrives (and the connection is not closed) for `SILENCE`.
/// A timed read can be interrupted (EINTR) on a loaded machine; it is retried until the window
/// has passed.
pub fn expect_silence(stream: &mut TcpStream) {
    let deadline = Instant::now() + SILENCE;
    let mut buffer = [0u8; 1024];
    let outcome = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break Ok(None);
        }
        stream.set_read_timeout(Some(left)).unwrap();
        match stream.read(&mut buffer) {
            Err(error) if error.kind() == ErrorKind::Interrupted => {}
            Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                break Ok(None);
            }
            Err(error) => break Err(error),
            Ok(read) => break Ok(Some(read)),
        }
    };
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    match outcome {
        Ok(None) => {}
        Ok(Some(0)) => panic!("expected silence, but the server closed the connection"),
        Ok(Some(read)) => panic!(
            "expected no response yet, got \"{}\"",
            escape(&buffer[..read])
        ),
        Err(error) => panic!("expected silence, got read error: {error}"),
    }
}

/// Sends `query` and asserts the response is exactly `expected`.
pub fn exchange(stream: &mut TcpStream, query: &[u8], expected: &[u8]) {
    send(stream, query);
    expect_exact(stream, expected);
}

pub const HEYA: &[u8] = b"*1\n_1\n+4\nHEYA\n";
pub const HEY: &[u8] = b"*1\n+4\nHEY!\n";

/// Asserts the connection still works: HEYA is answered with HEY!.
pub fn assert_usable(stream: &mut TcpStream) {
    exchange(stream, HEYA, HEY);
}

/// The flat-array element `_N\n+len\narg\n...` for the given arguments.
pub fn flat_array(args: &[&[u8]]) -> Vec<u8> {
    let mut bytes = format!("_{}\n", args.len()).into_bytes();
    for arg in args {
        bytes.extend_from_slice(format!("+{}\n", arg.len()).as_bytes());
        bytes.extend_from_slice(arg);
        bytes.push(b'\n');
    }
    bytes
}

/// A simple query `*1\n` + flat array, exactly as the skytable client encodes it.
pub fn simple_query(args: &[&[u8]]) -> Vec<u8> {
    let mut bytes = b"*1\n".to_vec();
    bytes.extend(flat_array(args));
    bytes
}

/// The string response element `+len\nbytes\n`.
pub fn string_element(value: &[u8]) -> Vec<u8> {
    let mut bytes = format!("+{}\n", value.len()).into_bytes();
    bytes.extend_from_slice(value);
    bytes.push(b'\n');
    bytes
}

/// A complete simple response: `*1\n` + element.
pub fn simple_response(element: &[u8]) -> Vec<u8> {
    let mut bytes = b"*1\n".to_vec();
    bytes.extend_from_slice(element);
    bytes
}

// ---------------------------------------------------------------------------------------------
// skytable client helpers

/// Runs `args` as one query through the client and returns the response element.
pub fn query(con: &mut skytable::Connection, args: &[&str]) -> Element {
    let query = Query::from(args.to_vec());
    match con.run_simple_query(&query) {
        Ok(Response::Item(element)) => element,
        Ok(other) => panic!("query {args:?}: the client could not parse the response: {other:?}"),
        Err(error) => panic!("query {args:?}: I/O error {error}"),
    }
}

pub fn code(code: RespCode) -> Element {
    Element::RespCode(code)
}

pub fn string(value: &str) -> Element {
    Element::String(value.to_owned())
}

pub fn int(value: u64) -> Element {
    Element::UnsignedInt(value)
}

/// Runs `work` on a thread and returns its result, failing the test if it takes longer than
/// `timeout` (client calls have no timeout of their own).
pub fn within<T: Send + 'static>(
    timeout: Duration,
    what: &str,
    work: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (done, result) = mpsc::channel();
    thread::spawn(move || {
        let _ = done.send(work());
    });
    match result.recv_timeout(timeout) {
        Ok(value) => value,
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("{what}: not done within {timeout:?}"),
        Err(mpsc::RecvTimeoutError::Disconnected) => panic!("{what}: the worker thread panicked"),
    }
}

// ---------------------------------------------------------------------------------------------
// Responses of unknown length, and the persistence status

/// `*1\n!1\n0\n`: Okay.
pub const OKAY: &[u8] = b"*1\n!1\n0\n";
/// `*1\n!1\n1\n`: Nil (no such key).
pub const NIL: &[u8] = b"*1\n!1\n1\n";
/// `*1\n!1\n3\n`: action error (wrong number of arguments).
pub const ACTION_ERROR: &[u8] = b"*1\n!1\n3\n";
/// `*1\n!1\n5\n`: server error (a poisoned server refusing a write).
pub const SERVER_ERROR: &[u8] = b"*1\n!1\n5\n";
/// `SYS METRIC health` of a server whose saves work.
pub const HEALTH_GOOD: &[u8] = b"*1\n+4\ngood\n";
/// `SYS METRIC health` of a poisoned server.
pub const HEALTH_CRITICAL: &[u8] = b"*1\n+8\ncritical\n";

/// The complete response `*1\n:<digits>\n<n>\n`.
pub fn uint_response(n: u64) -> Vec<u8> {
    let digits = n.to_string();
    simple_response(format!(":{}\n{digits}\n", digits.len()).as_bytes())
}

/// The complete response carrying one string (GET of an existing key).
pub fn value_response(value: &[u8]) -> Vec<u8> {
    simple_response(&string_element(value))
}

/// Reads one `\n`-terminated line (the `\n` included), failing the test on EOF or timeout.
fn read_line(stream: &mut TcpStream) -> Vec<u8> {
    let mut line = Vec::new();
    while line.last() != Some(&b'\n') {
        let (byte, ending) = read_up_to(stream, 1, PATIENCE);
        assert_eq!(
            byte.len(),
            1,
            "reading a response line ({ending}); got so far: \"{}\"",
            escape(&line)
        );
        line.extend_from_slice(&byte);
    }
    line
}

/// The number after the type symbol of a header line such as `+12\n`.
fn header_number(line: &[u8]) -> usize {
    std::str::from_utf8(&line[1..line.len() - 1])
        .ok()
        .and_then(|digits| digits.parse().ok())
        .unwrap_or_else(|| panic!("bad response header \"{}\"", escape(line)))
}

/// Reads one response element (strings, codes, integers, arrays) and appends its bytes.
fn read_element(stream: &mut TcpStream, out: &mut Vec<u8>) {
    let header = read_line(stream);
    out.extend_from_slice(&header);
    let number = header_number(&header);
    match header[0] {
        b'+' | b'!' | b':' => {
            let (body, ending) = read_up_to(stream, number + 1, PATIENCE);
            assert_eq!(
                body.len(),
                number + 1,
                "reading a response element ({ending})"
            );
            out.extend_from_slice(&body);
        }
        b'&' | b'_' => {
            for _ in 0..number {
                read_element(stream, out);
            }
        }
        _ => panic!("unexpected response element \"{}\"", escape(&header)),
    }
}

/// Reads one complete simple response (`*1\n` and its element) and returns its bytes.
pub fn read_response(stream: &mut TcpStream) -> Vec<u8> {
    let mut response = read_line(stream);
    assert_eq!(response, b"*1\n", "a simple response starts with *1");
    read_element(stream, &mut response);
    response
}

/// Sends one action and returns its complete response.
pub fn ask(stream: &mut TcpStream, args: &[&[u8]]) -> Vec<u8> {
    send(stream, &simple_query(args));
    read_response(stream)
}

/// The strings of a response `*1\n_<n>\n` followed by n string elements.
pub fn flat_array_strings(response: &[u8]) -> Vec<Vec<u8>> {
    let malformed = || panic!("not a flat array of strings: \"{}\"", escape(response));
    let Some(rest) = response.strip_prefix(b"*1\n_") else {
        malformed()
    };
    let mut lines = rest;
    let take_line = |lines: &mut &[u8]| -> Vec<u8> {
        let end = lines
            .iter()
            .position(|&b| b == b'\n')
            .unwrap_or_else(|| malformed());
        let line = lines[..end].to_vec();
        *lines = &lines[end + 1..];
        line
    };
    let count: usize = String::from_utf8(take_line(&mut lines))
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or_else(|| malformed());
    let mut strings = Vec::with_capacity(count);
    for _ in 0..count {
        let header = take_line(&mut lines);
        if header.first() != Some(&b'+') {
            malformed();
        }
        let len: usize = std::str::from_utf8(&header[1..])
            .ok()
            .and_then(|digits| digits.parse().ok())
            .unwrap_or_else(|| malformed());
        if lines.len() < len + 1 || lines[len] != b'\n' {
            malformed();
        }
        strings.push(lines[..len].to_vec());
        lines = &lines[len + 1..];
    }
    if !lines.is_empty() {
        malformed();
    }
    strings
}

/// `SYS INFO persistence` as a map of name to value.
pub fn persistence_info(stream: &mut TcpStream) -> BTreeMap<String, String> {
    let response = ask(stream, &[b"SYS", b"INFO", b"persistence"]);
    flat_array_strings(&response)
        .into_iter()
        .map(|line| {
            let line = String::from_utf8(line).expect("persistence lines are UTF-8");
            let (name, value) = line
                .split_once('=')
                .unwrap_or_else(|| panic!("persistence line without '=': {line:?}"));
            (name.to_owned(), value.to_owned())
        })
        .collect()
}

/// Polls `condition` every 20 ms until it holds; panics with `what` after `timeout`.
pub fn wait_until(timeout: Duration, what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !condition() {
        assert!(Instant::now() < deadline, "{what}: not within {timeout:?}");
        thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until a background save holds every change made so far: no save running, nothing
/// changed since the last save, which succeeded.
pub fn wait_for_settled_save(stream: &mut TcpStream, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    loop {
        let last = persistence_info(stream);
        let is = |name: &str, value: &str| last.get(name).map(String::as_str) == Some(value);
        if is("save_in_progress", "0")
            && is("changes_since_last_save", "0")
            && is("last_save_status", "ok")
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no settled save within {timeout:?}; SYS INFO persistence: {last:#?}"
        );
        thread::sleep(Duration::from_millis(20));
    }
}

// ---------------------------------------------------------------------------------------------
// Files, processes and faults

/// The entries of `table`, sorted, for comparisons.
pub fn table_entries(table: &stratus::table::Table) -> BTreeMap<Vec<u8>, Vec<u8>> {
    table
        .iter()
        .map(|(key, value)| (key.to_vec(), value.to_vec()))
        .collect()
}

/// A table holding `entries`.
pub fn build_table<'a>(
    entries: impl IntoIterator<Item = (&'a [u8], &'a [u8])>,
) -> stratus::table::Table {
    let mut table = stratus::table::Table::new();
    for (key, value) in entries {
        assert!(
            table.insert_new(key, value),
            "duplicate key in a test table"
        );
    }
    table
}

/// Reads and decodes a data file with the library's decoder; panics with the fault.
pub fn read_data_file(path: &Path) -> BTreeMap<Vec<u8>, Vec<u8>> {
    let bytes = std::fs::read(path).unwrap_or_else(|error| panic!("read {path:?}: {error}"));
    match stratus::persist::format::decode(&bytes) {
        Ok(table) => table_entries(&table),
        Err(error) => panic!("{path:?} ({} bytes) does not decode: {error}", bytes.len()),
    }
}

/// The permission bits of a file.
pub fn file_mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|error| panic!("stat {path:?}: {error}"))
        .permissions()
        .mode()
        & 0o7777
}

/// The names in a directory, sorted.
pub fn dir_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|error| panic!("list {dir:?}: {error}"))
        .map(|entry| {
            entry
                .expect("a directory entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}

/// Names of save temporaries (`data.bin.tmp-<pid>`) in a directory.
pub fn temp_file_names(dir: &Path) -> Vec<String> {
    dir_names(dir)
        .into_iter()
        .filter(|name| name.starts_with("data.bin.tmp-"))
        .collect()
}

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

/// Keys of 1 KiB that make a save take hundreds of milliseconds in a debug build: long enough
/// to signal the save child while it runs (the test retries on the next save if it was late).
pub const SLOW_SAVE_KEYS: usize = 50_000;

/// The value stored under bulk key `i`: 1 KiB derived from the index, so a mix-up shows.
pub fn bulk_value(i: usize) -> Vec<u8> {
    let mut value = format!("bulk value {i:08} ").into_bytes();
    let seed = value.len();
    value.extend((seed..1024).map(|at| (at.wrapping_mul(31) ^ i) as u8));
    value
}

pub fn bulk_key(i: usize) -> Vec<u8> {
    format!("bulk{i:08}").into_bytes()
}

/// Stores `count` keys `bulk00000000…` with 1 KiB values through USET batches.
pub fn load_bulk(stream: &mut TcpStream, count: usize) {
    const BATCH: usize = 1000;
    for start in (0..count).step_by(BATCH) {
        let end = (start + BATCH).min(count);
        let pairs: Vec<(Vec<u8>, Vec<u8>)> =
            (start..end).map(|i| (bulk_key(i), bulk_value(i))).collect();
        let mut args: Vec<&[u8]> = vec![b"USET"];
        for (key, value) in &pairs {
            args.push(key);
            args.push(value);
        }
        exchange(
            stream,
            &simple_query(&args),
            &uint_response((end - start) as u64),
        );
    }
}

/// Keys and values, ordered (so failures list them the same way every run).
pub type Entries = BTreeMap<Vec<u8>, Vec<u8>>;

/// After a clean stop: data.bin holds the slow-save bulk plus `extras`, exactly, and a restart
/// on the same directory serves them.
pub fn assert_bulk_and_extras_saved(server: &TestServer, extras: &Entries) {
    let saved = read_data_file(&server.data_file());
    assert_eq!(
        saved.len(),
        SLOW_SAVE_KEYS + extras.len(),
        "keys in data.bin"
    );
    for i in 0..SLOW_SAVE_KEYS {
        assert!(
            saved.get(&bulk_key(i)) == Some(&bulk_value(i)),
            "data.bin: bulk key {i} is missing or wrong"
        );
    }
    for (key, value) in extras {
        assert_eq!(saved.get(key), Some(value), "data.bin: {}", escape(key));
    }
    let restarted = server.same_dir().start();
    let mut con = restarted.raw();
    exchange(
        &mut con,
        &simple_query(&[b"DBSIZE"]),
        &uint_response((SLOW_SAVE_KEYS + extras.len()) as u64),
    );
    for (key, value) in extras {
        exchange(
            &mut con,
            &simple_query(&[b"GET", key]),
            &value_response(value),
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Snapshots

/// `MKSNAP` without a name while snapshots are not configured.
pub const SNAPSHOT_DISABLED: &[u8] = b"*1\n!21\nerr-snapshot-disabled\n";
/// `MKSNAP` without a name while another timestamped snapshot is queued or being written.
pub const SNAPSHOT_BUSY: &[u8] = b"*1\n!17\nerr-snapshot-busy\n";
/// `MKSNAP <name>` with the name of an existing (or queued) named snapshot.
pub const SNAPSHOT_EXISTS: &[u8] = b"*1\n!19\nerr-snapshot-exists\n";
/// `MKSNAP <name>` with a name that cannot be a snapshot's file name.
pub const INVALID_SNAPSHOT_NAME: &[u8] = b"*1\n!25\nerr-invalid-snapshot-name\n";
/// The query `MKSNAP` without a name.
pub const MKSNAP: &[u8] = b"*1\n_1\n+6\nMKSNAP\n";

impl ServerBuilder {
    /// `<dir>/data/snapshots`.
    pub fn snapshot_dir(&self) -> PathBuf {
        self.data_dir().join("snapshots")
    }
}

impl TestServer {
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
}

/// A timestamped snapshot's file name taken apart: `YYYYMMDD-HHMMSS` and the counter of
/// `_NNNN` (0 without one). `None` for any other name. Written from the documented pattern,
/// independently of the server's own parser.
pub fn parse_timestamped_name(name: &str) -> Option<(String, u32)> {
    let stem = name.strip_suffix(".snapshot")?;
    let (stamp, counter) = match stem.split_once('_') {
        Some((stamp, digits)) => {
            let all_digits = digits.len() == 4 && digits.bytes().all(|b| b.is_ascii_digit());
            (stamp, all_digits.then(|| digits.parse().ok()).flatten()?)
        }
        None => (stem, 0),
    };
    let bytes = stamp.as_bytes();
    let shape_ok = bytes.len() == 15
        && bytes[8] == b'-'
        && bytes[..8].iter().chain(&bytes[9..]).all(u8::is_ascii_digit);
    shape_ok.then(|| (stamp.to_owned(), counter))
}

/// The timestamped snapshots in `dir` (one `read_dir`), sorted by name.
pub fn timestamped_snapshots(dir: &Path) -> Vec<String> {
    dir_names(dir)
        .into_iter()
        .filter(|name| parse_timestamped_name(name).is_some())
        .collect()
}

/// `YYYYMMDD-HHMMSS` of `time` in UTC: the stamp a snapshot started at `time` is named after.
pub fn utc_stamp(time: std::time::SystemTime) -> String {
    let seconds = time
        .duration_since(std::time::UNIX_EPOCH)
        .expect("a time after 1970")
        .as_secs();
    let (days, of_day) = (seconds / 86_400, seconds % 86_400);
    // Days since 1970-01-01 to a civil date (proleptic Gregorian), in 400-year eras that
    // start on 0000-03-01.
    let shifted = days + 719_468;
    let era = shifted / 146_097;
    let day_of_era = shifted % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    format!(
        "{year:04}{month:02}{day:02}-{:02}{:02}{:02}",
        of_day / 3600,
        of_day / 60 % 60,
        of_day % 60
    )
}

/// The path in a log line `… writing <path>` (`MKSNAP started by child 12 (…): writing …`).
pub fn written_path_in(line: &str) -> PathBuf {
    let (_, path) = line
        .split_once("writing ")
        .unwrap_or_else(|| panic!("no `writing <path>` in log line {line:?}"));
    PathBuf::from(path.trim_end())
}

/// A directory made immutable with `chattr +i` (root, ext4): nothing can be created, renamed
/// or deleted in it. Made mutable again by [`ImmutableDir::clear`] or when dropped, so a failed
/// test does not leave an undeletable temporary directory behind.
pub struct ImmutableDir {
    path: PathBuf,
    active: bool,
}

impl ImmutableDir {
    pub fn set(path: &Path) -> ImmutableDir {
        chattr(path, "+i");
        ImmutableDir {
            path: path.to_owned(),
            active: true,
        }
    }

    pub fn clear(&mut self) {
        if self.active {
            chattr(&self.path, "-i");
            self.active = false;
        }
    }
}

impl Drop for ImmutableDir {
    fn drop(&mut self) {
        if self.active {
            self.active = false;
            let _ = Command::new("chattr").arg("-i").arg(&self.path).status();
        }
    }
}

fn chattr(path: &Path, flag: &str) {
    let status = Command::new("chattr")
        .arg(flag)
        .arg(path)
        .status()
        .expect("run chattr");
    assert!(status.success(), "chattr {flag} {path:?} failed");
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

impl TestServer {
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
            .find(|line| {
                line.contains(stratus::log_lines::STARTED_BY_CHILD) && child_pid_in(line) == pid
            })
            .map(|line| written_path_in(line))
            .unwrap_or_else(|| panic!("no `started by child {pid}` log line"))
    }
}

/// Entries from text pairs.
pub fn text_entries(pairs: &[(&str, &str)]) -> Entries {
    pairs
        .iter()
        .map(|(key, value)| (key.as_bytes().to_vec(), value.as_bytes().to_vec()))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Memory

/// The resident set size of a process in KiB (`VmRSS` of /proc/<pid>/status); None if there is
/// no such process, or it has exited and not been reaped yet (a zombie has no `VmRSS` line).
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().strip_suffix("kB"))
        .and_then(|number| number.trim().parse().ok())
}

impl TestServer {
    /// The server's resident set size in KiB; panics if it is not running.
    pub fn rss_kib(&self) -> u64 {
        rss_kib(self.pid())
            .unwrap_or_else(|| panic!("no VmRSS for server pid {}: not running", self.pid()))
    }
}

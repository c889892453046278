//! Black-box harness shared by every integration test: it starts the real `stratus` binary in
//! its own temporary directory on an ephemeral port and talks to it over TCP or TLS, with raw
//! bytes or the real `skytable` 0.4.0 client. Each test binary imports the helpers it uses by module and
//! name (`use common::wire::{exchange, OKAY};`).
//!
//! # Modules
//!
//! - [`server`]: `ServerBuilder` and `TestServer` (start, stop, signal, wait for log lines),
//!   `RunOutput` for runs expected to exit by themselves, and the watchdog.
//! - [`resp`]: raw RESP2 bytes for the Redis listener, reading one reply, and the external
//!   Redis tools (`redis-cli`, `redis-benchmark`, `nutcracker`) the tests require.
//! - [`wire`]: raw Skyhash bytes over any [`wire::Stream`] (TCP or TLS): send, expect exact
//!   bytes, silence or EOF, build queries and responses, read one response of unknown length.
//! - [`tls`]: certificates made in the test (an authority, a server certificate, its key in
//!   each PEM encoding), a verifying rustls client, and the skytable client over TLS.
//! - [`client`]: helpers for the `skytable` client's queries and elements.
//! - [`status`]: `SYS INFO persistence` as a map, `SYS METRIC health`, waiting for a settled
//!   save.
//! - [`entries`]: the keys and values tests store and check: `Entries`, the 1 KiB bulk that
//!   makes saves slow, and checks that the server or data.bin holds them.
//! - [`files`]: data files, file modes, directory listings, and directories made immutable.
//! - [`snapshots`]: MKSNAP's responses, timestamped snapshot names, and UTC stamps.
//! - [`process`]: other processes: the save children the server forks (found by their log
//!   lines), signals, `/proc` states and resource limits.
//! - [`memory`]: the server's resident set size, once or as a peak, and the buffer sizes the
//!   memory bounds are derived from.
//! - [`polite`]: a well-behaved client on a thread of its own, to run beside hostile ones.
//!
//! # Waiting
//!
//! The harness never sleeps to "let the server start": it waits for the `Server started on`
//! log line, and everything else waits for the event it needs (a log line, a response, a
//! status value) by blocking or polling with a deadline. [`PATIENCE`] bounds what must happen
//! and is generous (a loaded 2-core machine); [`SILENCE`] is how long a test watches for what
//! must not happen, and is short. A server still running after four minutes is killed by a
//! watchdog, so a hung client call fails its test instead of hanging the whole run.
//!
//! # What the tests reimplement and what they reuse
//!
//! What a test checks is computed independently of the code under test; otherwise the test
//! would share the server's bugs. So the tests write every query and response out byte by byte
//! (never through `stratus::protocol`) and read responses with their own reader ([`wire`]).
//! They compute the UTC stamp a snapshot must be named after ([`snapshots::utc_stamp`], not
//! `stratus::utc`) and recognise timestamped names from the documented pattern
//! ([`snapshots::parse_timestamped_name`], not `snapshot::is_timestamped_name`). They restate
//! the per-connection buffer sizes the memory bounds come from ([`memory`]), so a server whose
//! buffers grew fails the bound instead of moving it.
//!
//! They reuse two things from the library, each where it defines what is checked rather than
//! being the claim under test:
//! - `stratus::persist::format`, to read data files (`decode`) and to write input files
//!   (`encode_to_vec`, with `stratus::table::Table` as a plain container). "data.bin holds
//!   exactly these entries" means "the decoder the server loads with returns them", and most
//!   such tests also restart the server on the file. The byte layout is pinned elsewhere:
//!   corruption.rs builds complete files by hand (its own CRC-32), and format.rs's unit test
//!   `the_layout_is_the_documented_one` ties the code to the documented table.
//! - `stratus::log_lines`, to find the lines the harness waits for (the started line, the
//!   `started by child` line), so the harness cannot drift from what the server writes. The
//!   wording is a contract of its own, and literal text in the test files checks it:
//!   `config_flags.rs` the started line, the persistence tests the save lines
//!   (`BGSAVE started by child`, `Successfully saved data to disk: N keys`, …).

// Each test binary compiles this whole harness and uses a different part of it.
#![allow(dead_code)]

pub mod client;
pub mod entries;
pub mod files;
pub mod memory;
pub mod polite;
pub mod process;
pub mod resp;
pub mod server;
pub mod snapshots;
pub mod status;
pub mod tls;
pub mod wire;

use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// How long anything that must happen may take (start-up, a response, an exit).
pub const PATIENCE: Duration = Duration::from_secs(10);
/// How long we watch for something that must NOT happen (a response, a close).
pub const SILENCE: Duration = Duration::from_millis(300);

/// Polls `condition` every 20 ms until it holds; panics with `what` after `timeout`.
pub fn wait_until(timeout: Duration, what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !condition() {
        assert!(Instant::now() < deadline, "{what}: not within {timeout:?}");
        thread::sleep(Duration::from_millis(20));
    }
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

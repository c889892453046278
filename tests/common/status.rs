//! What the server says about itself: `SYS METRIC health`, `SYS INFO persistence` (as a map
//! of name to value), waiting until a background save holds every change, and the figures of
//! `SYS INFO clients`.

use std::collections::BTreeMap;
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use super::wire::{ask, flat_array_strings, Stream};

/// `SYS METRIC health` of a server whose saves work.
pub const HEALTH_GOOD: &[u8] = b"*1\n+4\ngood\n";
/// `SYS METRIC health` of a poisoned server.
pub const HEALTH_CRITICAL: &[u8] = b"*1\n+8\ncritical\n";

/// `SYS INFO persistence` as a map of name to value.
pub fn persistence_info(stream: &mut TcpStream) -> BTreeMap<String, String> {
    sys_info(stream, "persistence")
}

/// `SYS INFO <section>` (a flat array of `name=value` strings) as a map, over TCP or TLS.
pub fn sys_info(stream: &mut impl Stream, section: &str) -> BTreeMap<String, String> {
    let response = ask(stream, &[b"SYS", b"INFO", section.as_bytes()]);
    flat_array_strings(&response)
        .into_iter()
        .map(|line| {
            let line = String::from_utf8(line).expect("SYS INFO lines are UTF-8");
            let (name, value) = line
                .split_once('=')
                .unwrap_or_else(|| panic!("SYS INFO {section} line without '=': {line:?}"));
            (name.to_owned(), value.to_owned())
        })
        .collect()
}

/// One figure of `SYS INFO clients` (`connections`, `tls_connections`,
/// `tls_handshake_failures`, `client_memory_bytes`, ...), over TCP or TLS.
pub fn clients_figure(stream: &mut impl Stream, name: &str) -> u64 {
    let info = sys_info(stream, "clients");
    let value = info
        .get(name)
        .unwrap_or_else(|| panic!("SYS INFO clients has no {name}: {info:?}"));
    value
        .parse()
        .unwrap_or_else(|_| panic!("SYS INFO clients {name}={value} is not a number"))
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

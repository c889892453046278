//! The server's memory as the kernel counts it: resident set size once ([`rss_kib`]) or as a
//! peak sampled while a test runs ([`RssWatch`]), and the per-connection buffer sizes the
//! hostile-client tests derive their bounds from. The sizes are restated from
//! src/server/connection.rs on purpose: a server whose buffers grew must fail the bound.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use super::server::TestServer;

/// The server's input buffer for a new connection (`INPUT_INITIAL_BYTES`), allocated and
/// zero-filled at the first read, so resident from then on.
pub const SERVER_INPUT_BUFFER_BYTES: u64 = 16 * 1024;
/// The server stops executing (and reading) once this many response bytes wait to be sent to a
/// connection (`OUTPUT_HIGH_WATER_BYTES`).
pub const SERVER_OUTPUT_HIGH_WATER_BYTES: u64 = 64 * 1024;
pub const KIB: u64 = 1024;
pub const MIB: u64 = 1024 * 1024;

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

/// Peak resident set size of the server, sampled by a thread every 10 ms until dropped.
pub struct RssWatch {
    peak_kib: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    sampler: Option<JoinHandle<()>>,
}

impl RssWatch {
    pub fn start(server: &TestServer) -> RssWatch {
        let pid = server.pid();
        let peak_kib = Arc::new(AtomicUsize::new(server.rss_kib() as usize));
        let stop = Arc::new(AtomicBool::new(false));
        let sampler = {
            let (peak_kib, stop) = (Arc::clone(&peak_kib), Arc::clone(&stop));
            thread::spawn(move || {
                // Sampling ends early if the server exits (a test failing elsewhere).
                while !stop.load(Ordering::SeqCst) {
                    let Some(kib) = rss_kib(pid) else {
                        return;
                    };
                    peak_kib.fetch_max(kib as usize, Ordering::SeqCst);
                    thread::sleep(Duration::from_millis(10));
                }
            })
        };
        RssWatch {
            peak_kib,
            stop,
            sampler: Some(sampler),
        }
    }

    pub fn peak_kib(&self) -> u64 {
        self.peak_kib.load(Ordering::SeqCst) as u64
    }
}

impl Drop for RssWatch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(sampler) = self.sampler.take() {
            let _ = sampler.join();
        }
    }
}

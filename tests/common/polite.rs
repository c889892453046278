//! A well-behaved client on its own thread, to run beside hostile ones: it checks every answer
//! exactly and records its slowest round trip, so a test can say that the server kept
//! serving it, correctly and promptly, whatever the others did.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::entries::Entries;
use super::server::TestServer;
use super::wait_until;
use super::wire::{exchange, simple_query, value_response, OKAY};

/// A well-behaved client on its own thread: SET then GET of a fresh key, each answer checked
/// exactly, at most one round trip per 2 ms, until stopped. It returns what it wrote.
pub struct PoliteClient {
    rounds: Arc<AtomicUsize>,
    /// The longest round trip so far, in microseconds.
    slowest_micros: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    worker: JoinHandle<Entries>,
}

impl PoliteClient {
    pub fn start(server: &TestServer, prefix: &str) -> PoliteClient {
        let mut con = server.raw();
        let rounds = Arc::new(AtomicUsize::new(0));
        let slowest_micros = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let prefix = prefix.to_owned();
        let worker = {
            let (rounds, stop) = (Arc::clone(&rounds), Arc::clone(&stop));
            let slowest_micros = Arc::clone(&slowest_micros);
            thread::spawn(move || {
                let mut written = Entries::new();
                while !stop.load(Ordering::SeqCst) {
                    let n = rounds.load(Ordering::SeqCst);
                    let key = format!("{prefix}{n:06}").into_bytes();
                    let value = format!("polite value {n} \u{0}\n\u{ff}").into_bytes();
                    let started = Instant::now();
                    exchange(&mut con, &simple_query(&[b"SET", &key, &value]), OKAY);
                    let set = started.elapsed();
                    exchange(
                        &mut con,
                        &simple_query(&[b"GET", &key]),
                        &value_response(&value),
                    );
                    let get = started.elapsed() - set;
                    let slowest = set.max(get).as_micros() as u64;
                    slowest_micros.fetch_max(slowest, Ordering::SeqCst);
                    written.insert(key, value);
                    rounds.fetch_add(1, Ordering::SeqCst);
                    // Paced, so that its own keys stay a small part of the memory measured.
                    thread::sleep(Duration::from_millis(2));
                }
                written
            })
        };
        PoliteClient {
            rounds,
            slowest_micros,
            stop,
            worker,
        }
    }

    /// The longest a SET or a GET has waited for its answer so far.
    pub fn slowest_round_trip(&self) -> Duration {
        Duration::from_micros(self.slowest_micros.load(Ordering::SeqCst))
    }

    pub fn rounds(&self) -> usize {
        self.rounds.load(Ordering::SeqCst)
    }

    /// Waits until `more` round trips have completed after this call (each one answered
    /// exactly), failing after `timeout`.
    pub fn wait_for_more_rounds(&self, more: usize, timeout: Duration, what: &str) {
        let target = self.rounds() + more;
        wait_until(timeout, what, || {
            self.rounds() >= target || self.worker.is_finished()
        });
        assert!(
            !self.worker.is_finished(),
            "{what}: the well-behaved client failed (see its panic above)"
        );
    }

    pub fn finish(self) -> Entries {
        self.stop.store(true, Ordering::SeqCst);
        self.worker
            .join()
            .expect("the well-behaved client got a wrong answer (see its panic above)")
    }
}

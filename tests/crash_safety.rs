//! kill -9 at any moment, saves running or not, loses at most the writes since the last good
//! save and never leaves a file that does not load. Over many rounds on one data directory a
//! writer stores k000000, k000001, … (each acknowledged) while the server saves every second,
//! and the server is killed after a random delay; in every other round the kill waits, after
//! that delay, for the next save to start and lands a random few milliseconds into it (a fixed
//! bulk of 1 KiB values makes every save take tens of milliseconds). Every restart must start at once (the lock
//! died with the process, leftover temporary files are removed), load a complete file holding
//! exactly a prefix of the sequence with the right values, and that prefix never shrinks. No
//! save child outlives a killed server.

mod common;

use std::io::Read;
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use common::entries::{bulk_key, bulk_value, load_bulk};
use common::files::{dir_names, temp_file_names};
use common::process::{child_pid_in, is_live_stratus};
use common::server::TestServer;
use common::wire::{escape, exchange, simple_query, uint_response, value_response, NIL, OKAY};
use common::{wait_until, PATIENCE};

const ROUNDS: usize = 20;
/// Fixed, so a failure can be replayed; the delays it gives are in every failure message.
const SEED: u64 = 0x5354_5241_5455_5321;
const KILL_AFTER_MIN_MS: u64 = 300;
const KILL_AFTER_MAX_MS: u64 = 2500;
/// How far into a save the targeted kills land.
const KILL_INTO_SAVE_MAX_MS: u64 = 40;
/// The fixed part of the table: 20 MB, so every save takes a while.
const BULK_KEYS: usize = 20_000;

/// xorshift64*: a reproducible sequence without a dependency.
struct Prng(u64);

impl Prng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn between(&mut self, low: u64, high: u64) -> u64 {
        low + self.next() % (high - low + 1)
    }
}

fn key(i: usize) -> Vec<u8> {
    format!("k{i:06}").into_bytes()
}

/// 0 to 399 bytes derived from the index (the empty value included), so the table grows fast
/// enough for saves to take a while, and a value stored under the wrong key shows.
fn value(i: usize) -> Vec<u8> {
    let mut value = format!("{i}:").into_bytes();
    value.extend((0..i % 400).map(|at| (at ^ i) as u8));
    value.truncate(i % 400);
    value
}

/// What the writer thread did before the server died.
struct Written {
    /// Highest index sent + 1: the server may have applied it without our seeing the answer.
    sent: Arc<AtomicUsize>,
    /// Highest index acknowledged + 1.
    acked: Arc<AtomicUsize>,
    thread: thread::JoinHandle<Result<(), String>>,
}

/// SETs `first`, `first + 1`, … one at a time, each acknowledged, until the connection dies.
fn start_writer(mut con: TcpStream, first: usize) -> Written {
    let sent = Arc::new(AtomicUsize::new(first));
    let acked = Arc::new(AtomicUsize::new(first));
    let thread = {
        let (sent, acked) = (Arc::clone(&sent), Arc::clone(&acked));
        thread::spawn(move || {
            for i in first.. {
                let query = simple_query(&[b"SET", &key(i), &value(i)]);
                sent.store(i + 1, Ordering::SeqCst);
                if std::io::Write::write_all(&mut con, &query).is_err() {
                    return Ok(());
                }
                let mut answer = [0u8; OKAY.len()];
                if con.read_exact(&mut answer).is_err() {
                    return Ok(());
                }
                if answer != OKAY {
                    return Err(format!(
                        "SET k{i:06} answered \"{}\" (a key of the sequence already existed, or a \
                         write was refused)",
                        escape(&answer)
                    ));
                }
                acked.store(i + 1, Ordering::SeqCst);
            }
            Ok(())
        })
    };
    Written {
        sent,
        acked,
        thread,
    }
}

/// After a kill: no process holds the server's output pipes (a save child would), and no
/// save child the server logged is still alive.
fn assert_no_save_child_survived(server: &TestServer, round: usize) {
    assert!(
        server.output_closed_within(PATIENCE),
        "round {round}: something still holds the killed server's stderr (an orphaned save child?)"
    );
    for line in server.logs() {
        if line.contains("BGSAVE started by child") {
            let pid = child_pid_in(&line);
            wait_until(
                PATIENCE,
                &format!("round {round}: save child {pid} to die with the server"),
                || !is_live_stratus(pid),
            );
        }
    }
}

/// Checks that `data.bin` holds exactly the bulk and k0..k(m-1), all with their values, and
/// returns m.
fn saved_prefix_length(server: &TestServer, round: usize, context: &str) -> usize {
    let data_file = server.data_file();
    let bytes = std::fs::read(&data_file).expect("data.bin exists after the bulk was saved");
    let saved = stratus::persist::format::decode(&bytes).unwrap_or_else(|error| {
        panic!(
            "round {round}: data.bin ({} bytes) does not load: {error} ({context})",
            bytes.len()
        )
    });
    for i in 0..BULK_KEYS {
        assert!(
            saved.get(&bulk_key(i)) == Some(&bulk_value(i)[..]),
            "round {round}: bulk key {i} is missing or wrong in data.bin ({context})"
        );
    }
    let m = saved.len() - BULK_KEYS;
    for i in 0..m {
        let stored = saved.get(&key(i));
        assert!(
            stored == Some(&value(i)[..]),
            "round {round} ({context}): data.bin holds {m} keys but k{i:06} is {}",
            match stored {
                None => "missing: not a prefix of the written sequence".to_owned(),
                Some(other) => format!("\"{}\" instead of its value", escape(other)),
            }
        );
    }
    m
}

#[test]
fn kill_9_at_random_moments_never_loses_a_saved_prefix() {
    let mut prng = Prng(SEED);
    let mut setup = TestServer::start_with(&["-S", "1"]);
    load_bulk(&mut setup.raw(), BULK_KEYS);
    setup.signal("TERM");
    let status = setup.wait_exit(3 * PATIENCE);
    assert!(
        status.success(),
        "exit status of the setup server: {status:?}"
    );
    let mut server = setup.same_dir().args(&["-S", "1"]).start();
    let mut history: Vec<String> = Vec::new();
    let mut saved = 0;
    let mut kills_during_a_save = 0;
    for round in 0..ROUNDS {
        let delay = prng.between(KILL_AFTER_MIN_MS, KILL_AFTER_MAX_MS);
        let into_save = prng.between(0, KILL_INTO_SAVE_MAX_MS);
        let targeted = round % 2 == 1;
        let written = start_writer(server.raw(), saved);
        thread::sleep(Duration::from_millis(delay));
        let when = if targeted {
            let from = server.logs().len();
            server.wait_for_log_after(from, "BGSAVE started by child", PATIENCE);
            thread::sleep(Duration::from_millis(into_save));
            format!("{delay} ms, then {into_save} ms into the next save")
        } else {
            format!("{delay} ms")
        };
        server.kill9();
        let writer_result = written.thread.join().expect("writer thread");
        let (sent, acked) = (
            written.sent.load(Ordering::SeqCst),
            written.acked.load(Ordering::SeqCst),
        );
        history.push(format!(
            "round {round}: kill after {when}, from k{saved:06}: {acked} acknowledged, {sent} sent"
        ));
        let context = history.join("; ");
        if let Err(error) = writer_result {
            panic!("round {round}: {error} ({context})");
        }
        assert_no_save_child_survived(&server, round);

        let leftovers = temp_file_names(&server.data_dir());
        if !leftovers.is_empty() {
            kills_during_a_save += 1;
        }
        let m = saved_prefix_length(&server, round, &context);
        assert!(
            m >= saved,
            "round {round}: the saved state went backwards from {saved} to {m} keys ({context})"
        );
        assert!(
            m <= sent,
            "round {round}: data.bin holds {m} keys but only {sent} were sent ({context})"
        );
        saved = m;

        let restarted = server.same_dir().args(&["-S", "1"]).start();
        let data_dir = restarted.data_dir();
        for name in &leftovers {
            let path = data_dir.join(name);
            restarted.wait_for_log(
                &format!(
                    "Removed {}, left by a save that did not finish",
                    path.display()
                ),
                PATIENCE,
            );
        }
        restarted.wait_for_log(&format!("Loaded {} keys", BULK_KEYS + m), PATIENCE);
        assert!(
            restarted
                .logs()
                .iter()
                .all(|line| !line.contains("Another process")),
            "round {round}: the restart was blocked by the killed server's lock"
        );
        let names = dir_names(&data_dir);
        assert!(
            names.iter().all(|name| !name.starts_with("data.bin.tmp-")),
            "round {round}: temporary files after the restart: {names:?}"
        );
        let mut con = restarted.raw();
        exchange(
            &mut con,
            &simple_query(&[b"DBSIZE"]),
            &uint_response((BULK_KEYS + m) as u64),
        );
        exchange(&mut con, &simple_query(&[b"GET", &key(m)]), NIL);
        for i in [0, m / 2, m.saturating_sub(1)] {
            if i < m {
                exchange(
                    &mut con,
                    &simple_query(&[b"GET", &key(i)]),
                    &value_response(&value(i)),
                );
            }
        }
        server = restarted;
    }
    // Not an assertion (it depends on timing), but worth seeing with --nocapture.
    eprintln!(
        "{ROUNDS} kills, {kills_during_a_save} of them left a save's temporary file; final \
         prefix {saved} keys\n{}",
        history.join("\n")
    );
}

//! A save child yields the CPU (it runs in the idle scheduling class), but other load cannot
//! starve it for good: with every core kept busy by other processes, a BGSAVE still finishes,
//! because the server moves a save that has run two seconds back to normal priority.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;

use common::entries::{load_bulk, SLOW_SAVE_KEYS};
use common::server::TestServer;
use common::PATIENCE;

#[test]
fn a_save_starved_by_other_load_is_raised_and_finishes() {
    let server = TestServer::start_with(&["-S", "1"]);
    load_bulk(&mut server.raw(), SLOW_SAVE_KEYS);
    let stop = Arc::new(AtomicBool::new(false));
    let cores = thread::available_parallelism().map_or(2, usize::from);
    let spinners: Vec<_> = (0..cores + 1)
        .map(|_| {
            let stop = Arc::clone(&stop);
            thread::spawn(move || {
                let mut turns = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    turns = turns.wrapping_add(1);
                }
                turns
            })
        })
        .collect();
    let from = server.logs().len();
    let started = server.wait_for_log_after(from, "BGSAVE started by child", PATIENCE);
    let raised = server.wait_for_log_after(from, "it now runs at normal priority", PATIENCE);
    server.wait_for_log_after(from, "BGSAVE completed successfully", PATIENCE);
    stop.store(true, Ordering::Relaxed);
    for spinner in spinners {
        spinner.join().expect("a spinning thread");
    }
    let pid = |line: &str| common::process::child_pid_in(line);
    assert_eq!(pid(&started), pid(&raised), "{started}\n{raised}");
}

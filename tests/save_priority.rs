//! A save child yields the CPU (it runs in the idle scheduling class), but other load cannot
//! starve it for good: with every core kept busy by other processes, a save still finishes,
//! because the server moves a save that has run two seconds back to normal priority.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;

use common::entries::{load_bulk, SLOW_SAVE_KEYS};
use common::process::child_pid_in;
use common::server::TestServer;
use common::snapshots::MKSNAP;
use common::wire::{exchange, OKAY};
use common::PATIENCE;

#[test]
fn a_save_starved_by_other_load_is_raised_and_finishes() {
    // No periodic save: the one save of the test is the MKSNAP below.
    let server = TestServer::start_with(&["--nosave", "--snapevery", "3600", "--snapkeep", "0"]);
    let mut con = server.raw();
    load_bulk(&mut con, SLOW_SAVE_KEYS);
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
    // MKSNAP answers once the snapshot is on disk: with the child starved, only after the
    // server raised it.
    exchange(&mut con, MKSNAP, OKAY);
    stop.store(true, Ordering::Relaxed);
    for spinner in spinners {
        spinner.join().expect("a spinning thread");
    }
    let started = server.wait_for_log("MKSNAP started by child", PATIENCE);
    let pid = child_pid_in(&started);
    server.wait_for_log(
        &format!("MKSNAP by child {pid} has run 2 s in the idle scheduling class"),
        PATIENCE,
    );
}

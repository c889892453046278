//! SIGTERM and SIGINT: the server logs that it is shutting down, answers every complete query
//! it already received, closes its connections and exits with status 0 — also with idle clients
//! still connected.

mod common;

use common::server::TestServer;
use common::wire::{assert_usable, exchange, expect_eof, read_up_to, simple_query};
use common::PATIENCE;
use std::io::Write;
use std::thread;

/// Sends `signal` and asserts exit status 0 plus at least one log line after the signal.
fn assert_clean_exit(mut server: TestServer, signal: &str) {
    let before = server.logs().len();
    server.signal(signal);
    let status = server.wait_exit(PATIENCE);
    assert!(
        status.success(),
        "exit status after SIG{signal}: {status:?}\n--- stderr ---\n{}",
        server.logs().join("\n")
    );
    let after: Vec<String> = server.logs().into_iter().skip(before).collect();
    assert!(
        !after.is_empty(),
        "nothing was logged after SIG{signal}\n--- stderr ---\n{}",
        server.logs().join("\n")
    );
}

#[test]
fn sigterm_exits_zero_with_a_log_line() {
    let server = TestServer::start();
    assert_usable(&mut server.raw());
    assert_clean_exit(server, "TERM");
}

#[test]
fn sigint_exits_zero_with_a_log_line() {
    let server = TestServer::start();
    assert_usable(&mut server.raw());
    assert_clean_exit(server, "INT");
}

#[test]
fn sigterm_with_idle_clients_connected_exits_and_closes_them() {
    let server = TestServer::start();
    let mut idle = server.raw();
    assert_usable(&mut idle);
    let mut never_used = server.raw();
    assert_clean_exit(server, "TERM");
    expect_eof(&mut idle);
    expect_eof(&mut never_used);
}

/// Writes a batch of SETs, signals right after the write, and expects every answer, then EOF.
fn assert_batch_answered_before_exit(signal: &str) {
    const QUERIES: usize = 5000;
    let server = TestServer::start();
    let mut con = server.raw();
    assert_usable(&mut con);
    let mut batch = Vec::new();
    let mut expected = Vec::new();
    for i in 0..QUERIES {
        let key = format!("key{i}");
        batch.extend(simple_query(&[b"SET", key.as_bytes(), b"value"]));
        expected.extend_from_slice(b"*1\n!1\n0\n");
    }
    batch.extend(simple_query(&[b"DBSIZE"]));
    expected.extend_from_slice(b"*1\n:4\n5000\n");
    // Write on another thread (the batch may exceed the socket buffers) and signal as soon as
    // the last byte was handed to the kernel.
    let writer = {
        let mut con = con.try_clone().unwrap();
        thread::spawn(move || con.write_all(&batch))
    };
    let reader = {
        let mut con = con.try_clone().unwrap();
        thread::spawn(move || {
            let (received, ending) = read_up_to(&mut con, expected.len(), PATIENCE);
            (received, ending, expected)
        })
    };
    writer.join().unwrap().expect("write the batch");
    let mut server = server;
    server.signal(signal);
    let (received, ending, expected) = reader.join().unwrap();
    assert!(
        received == expected,
        "after SIG{signal}: got {} of {} response bytes ({ending}); first difference at {:?}",
        received.len(),
        expected.len(),
        received.iter().zip(&expected).position(|(a, b)| a != b)
    );
    expect_eof(&mut con);
    let status = server.wait_exit(PATIENCE);
    assert!(
        status.success(),
        "exit status after SIG{signal}: {status:?}"
    );
}

#[test]
fn batch_written_just_before_sigterm_is_fully_answered() {
    assert_batch_answered_before_exit("TERM");
}

#[test]
fn batch_written_just_before_sigint_is_fully_answered() {
    assert_batch_answered_before_exit("INT");
}

/// Responses far larger than the queries: the server stops executing at its output
/// high-water mark until the client reads, and must still answer every query it had received
/// when the signal came, however long the client takes to start reading (within the grace).
#[test]
fn pipelined_queries_with_large_answers_are_all_answered_after_the_signal() {
    const QUERIES: usize = 300;
    let value = vec![b'v'; 64 * 1024];
    let server = TestServer::start();
    let mut con = server.raw();
    exchange(
        &mut con,
        &simple_query(&[b"SET", b"big", &value]),
        b"*1\n!1\n0\n",
    );
    let query = simple_query(&[b"GET", b"big"]);
    con.write_all(&query.repeat(QUERIES))
        .expect("write the batch");
    let mut server = server;
    server.signal("TERM");
    let mut answer = format!("*1\n+{}\n", value.len()).into_bytes();
    answer.extend_from_slice(&value);
    answer.push(b'\n');
    let expected = answer.repeat(QUERIES);
    let (received, ending) = read_up_to(&mut con, expected.len(), PATIENCE);
    assert!(
        received == expected,
        "got {} of {} response bytes ({ending})",
        received.len(),
        expected.len()
    );
    expect_eof(&mut con);
    let status = server.wait_exit(PATIENCE);
    assert!(status.success(), "exit status after SIGTERM: {status:?}");
}

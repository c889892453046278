//! The server's memory stays bounded whatever clients send, with default settings: an answer
//! that repeats one large value many times costs that value once; clients flooding partial
//! queries are closed by the one budget for all client buffers while a normal client is served
//! promptly; memory goes back to the system when they leave; and large legitimate values and
//! answers still work. Resident memory is read from /proc for the server process.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use common::memory::{RssWatch, KIB, MIB};
use common::polite::PoliteClient;
use common::server::{ServerBuilder, TestServer};
use common::status::{clients_figure, sys_info};
use common::wire::{
    exchange, expect_eof, expect_exact, send, simple_query, string_element, HEY, HEYA, OKAY,
};
use common::{wait_until, PATIENCE};

/// A value of `len` bytes that differs from its neighbours, so a wrong byte is seen.
fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31) ^ seed)
        .collect()
}

/// `<name> key key …` as one action.
fn repeated(name: &[u8], keys: &[&[u8]]) -> Vec<u8> {
    let mut parts = vec![name];
    parts.extend_from_slice(keys);
    simple_query(&parts)
}

/// Reads exactly `len` bytes, however long a slow debug build takes to send them.
fn read_exact(stream: &mut TcpStream, len: usize) -> Vec<u8> {
    let mut bytes = vec![0; len];
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    stream.read_exact(&mut bytes).expect("the whole answer");
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    bytes
}

#[test]
fn an_answer_repeating_one_large_value_costs_that_value_once() {
    let server = TestServer::start();
    let big = pattern(10_000_000, 7);
    let mut writer = server.raw();
    exchange(&mut writer, &simple_query(&[b"SET", b"big", &big]), OKAY);
    let watch = RssWatch::start(&server);
    let before_kib = server.rss_kib();

    // 2 KB of query, 3 GB of answer, and the client never reads it.
    let keys = vec![&b"big"[..]; 300];
    let mut hog = server.raw();
    send(&mut hog, &repeated(b"MGET", &keys));
    let mut other = server.raw();
    wait_until(PATIENCE, "the MGET answer is queued", || {
        clients_figure(&mut other, "client_memory_bytes") >= big.len() as u64
    });
    for _ in 0..20 {
        let asked = Instant::now();
        exchange(&mut other, HEYA, HEY);
        assert!(
            asked.elapsed() < Duration::from_secs(1),
            "another client waited {:?}",
            asked.elapsed()
        );
    }
    let held = clients_figure(&mut other, "client_memory_bytes");
    assert!(
        held < 2 * big.len() as u64,
        "the queued answer is counted as {held} bytes, more than its one value"
    );
    assert!(
        watch.peak_kib() < before_kib + 100 * KIB,
        "RSS went from {before_kib} KiB to {} KiB",
        watch.peak_kib()
    );
    assert!(watch.peak_kib() < 1024 * KIB, "peak RSS under 1 GiB");
    drop(hog);
    exchange(&mut other, HEYA, HEY);
}

#[test]
fn flooding_clients_are_closed_by_the_budget_and_memory_goes_back() {
    const FLOODERS: usize = 16;
    const FLOOD_BYTES: usize = 200_000_000;
    let server = TestServer::start();
    let watch = RssWatch::start(&server);
    let polite = PoliteClient::start(&server, "beside-flood-");
    let stopped_early = Arc::new(AtomicUsize::new(0));
    let flooders: Vec<_> = (0..FLOODERS)
        .map(|_| {
            let mut stream = server.raw();
            let stopped_early = Arc::clone(&stopped_early);
            thread::spawn(move || {
                // A SET whose value is declared as 400 MB, of which 200 MB arrive.
                stream
                    .write_all(b"*1\n_3\n+3\nSET\n+1\nk\n+400000000\n")
                    .unwrap();
                let chunk = vec![b'f'; MIB as usize];
                let mut sent = 0;
                while sent < FLOOD_BYTES {
                    match stream.write(&chunk) {
                        Ok(written) => sent += written,
                        Err(_) => {
                            stopped_early.fetch_add(1, Ordering::SeqCst);
                            return stream;
                        }
                    }
                }
                stream
            })
        })
        .collect();
    let streams: Vec<TcpStream> = flooders
        .into_iter()
        .map(|flooder| flooder.join().expect("a flooder"))
        .collect();
    polite.wait_for_more_rounds(5, PATIENCE, "the normal client after the flood");
    let mut status = server.raw();
    let closed = clients_figure(&mut status, "closed_by_memory_limit");
    assert!(
        closed >= 1 && stopped_early.load(Ordering::SeqCst) >= 1,
        "{closed} flooders closed by the budget"
    );
    assert!(
        watch.peak_kib() < 1536 * KIB,
        "peak RSS {} KiB, over 1.5 GiB",
        watch.peak_kib()
    );
    assert!(
        polite.slowest_round_trip() < Duration::from_secs(1),
        "the normal client waited {:?} for an answer",
        polite.slowest_round_trip()
    );
    drop(streams);
    wait_until(Duration::from_secs(10), "RSS back under 256 MiB", || {
        server.rss_kib() < 256 * KIB
    });
    polite.finish();
}

#[test]
fn a_300_mb_value_sets_and_gets_back_intact() {
    let server = TestServer::start();
    let value = pattern(300_000_000, 3);
    let mut stream = server.raw();
    exchange(&mut stream, &simple_query(&[b"SET", b"huge", &value]), OKAY);
    send(&mut stream, &simple_query(&[b"GET", b"huge"]));
    let expected = [&b"*1\n"[..], &string_element(&value)].concat();
    let answer = read_exact(&mut stream, expected.len());
    assert!(answer == expected, "the 300 MB value came back changed");
    exchange(&mut stream, HEYA, HEY);
}

#[test]
fn an_mget_of_ten_distinct_20_mb_values_is_answered_in_full() {
    let server = TestServer::start();
    let mut stream = server.raw();
    let values: Vec<Vec<u8>> = (0..10).map(|i| pattern(20_000_000, i)).collect();
    let keys: Vec<Vec<u8>> = (0..10).map(|i| format!("v{i}").into_bytes()).collect();
    for (key, value) in keys.iter().zip(&values) {
        exchange(&mut stream, &simple_query(&[b"SET", key, value]), OKAY);
    }
    let key_refs: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
    send(&mut stream, &repeated(b"MGET", &key_refs));
    let mut expected = b"*1\n&10\n".to_vec();
    for value in &values {
        expected.extend(string_element(value));
    }
    let answer = read_exact(&mut stream, expected.len());
    assert!(answer == expected, "the MGET answer differs");
}

#[test]
fn an_answer_that_cannot_fit_the_budget_is_refused_before_it_is_built() {
    let server = ServerBuilder::new()
        .args(&["--max-client-memory", "1M"])
        .start();
    let mut stream = server.raw();
    let value = pattern(10 * KIB as usize, 1);
    exchange(&mut stream, &simple_query(&[b"SET", b"k", &value]), OKAY);
    let keys = vec![&b"k"[..]; 200];
    let refused = b"*1\n!19\nerr-reply-too-large\n";
    exchange(&mut stream, &repeated(b"MGET", &keys), refused);
    exchange(&mut stream, &repeated(b"POP", &keys), refused);
    // The refused POP removed nothing, and the connection goes on.
    exchange(
        &mut stream,
        &simple_query(&[b"GET", b"k"]),
        &[&b"*1\n"[..], &string_element(&value)].concat(),
    );
    let few = vec![&b"k"[..]; 20];
    send(&mut stream, &repeated(b"MGET", &few));
    let mut expected = b"*1\n&20\n".to_vec();
    for _ in 0..20 {
        expected.extend(string_element(&value));
    }
    expect_exact(&mut stream, &expected);
}

#[test]
fn the_client_holding_the_most_is_closed_with_a_framed_error() {
    let server = ServerBuilder::new()
        .args(&["--max-client-memory", "4M"])
        .start();
    let mut small = server.raw();
    exchange(&mut small, HEYA, HEY);
    let mut hog = server.raw();
    send(&mut hog, b"*1\n_3\n+3\nSET\n+1\nk\n+100000000\n");
    let chunk = vec![b'h'; 64 * KIB as usize];
    let mut refused = false;
    for _ in 0..200 {
        if let Err(error) = hog.write_all(&chunk) {
            assert!(
                matches!(
                    error.kind(),
                    ErrorKind::ConnectionReset | ErrorKind::BrokenPipe
                ),
                "{error}"
            );
            refused = true;
            break;
        }
    }
    if !refused {
        expect_exact(&mut hog, b"*1\n!23\nerr-client-memory-limit\n");
        expect_eof(&mut hog);
    }
    let line = server.wait_for_log("over the limit of 4194304", PATIENCE);
    assert!(line.contains("the most of any client"), "{line}");
    exchange(&mut small, HEYA, HEY);
    let info = sys_info(&mut small, "clients");
    let names: Vec<&str> = info.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "client_memory_bytes",
            "client_memory_limit",
            "closed_by_memory_limit",
            "connections",
            "tls_connections",
            "tls_handshake_failures"
        ]
    );
    assert_eq!(info["connections"], "1");
    assert_eq!(info["client_memory_limit"], (4 * MIB).to_string());
    assert_eq!(info["closed_by_memory_limit"], "1");
}

//! Connection handling: pipelining, several queries per write, byte-by-byte arrival, many
//! concurrent clients, large and binary keys/values, the `--maxcon` limit, and a client that
//! never reads its responses not starving the others.

mod common;

use common::client::{code, query};
use common::server::TestServer;
use common::wire::{
    assert_usable, exchange, expect_eof, expect_exact, expect_silence, send, simple_query,
    simple_response, string_element, HEY, HEYA,
};
use common::{within, PATIENCE};
use skytable::actions::Actions;
use skytable::RespCode;
use std::io::{ErrorKind, Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

#[test]
fn pipelined_query_with_mixed_element_types_is_answered_in_order() {
    let server = TestServer::start();
    let mut con = server.raw();
    exchange(
        &mut con,
        b"*6\n_3\n+3\nSET\n+1\nx\n+3\n100\n_2\n+3\nGET\n+1\nx\n+1\nz\n:2\n42\n&2\n+3\nGET\n+1\nx\n_1\n+6\nDBSIZE\n",
        b"*6\n!1\n0\n+3\n100\n!1\n7\n!1\n7\n!1\n7\n:1\n1\n",
    );
    assert_usable(&mut con);
}

#[test]
fn pipelined_query_answers_each_element_like_a_simple_query() {
    let server = TestServer::start();
    let mut con = server.raw();
    exchange(
        &mut con,
        b"*5\n_7\n+4\nMSET\n+1\na\n+1\n1\n+1\nb\n+1\n2\n+1\nc\n+1\n3\n_4\n+4\nMGET\n+1\na\n+1\nq\n+1\nc\n_1\n+3\nGET\n_2\n+6\nFOOBAR\n+1\nx\n_3\n+3\nPOP\n+1\na\n+1\na\n",
        b"*5\n:1\n3\n&3\n+1\n1\n!1\n1\n+1\n3\n!1\n3\n!14\nUnknown action\n&2\n+1\n1\n!1\n1\n",
    );
}

#[test]
fn two_queries_in_one_write_get_two_responses() {
    let server = TestServer::start();
    let mut con = server.raw();
    let mut input = b"*1\n_3\n+3\nSET\n+1\nx\n+3\n100\n".to_vec();
    input.extend_from_slice(b"*1\n_2\n+3\nGET\n+1\nx\n");
    exchange(&mut con, &input, b"*1\n!1\n0\n*1\n+3\n100\n");
    // Nothing lags behind: the next round trip gets exactly its own answer.
    assert_usable(&mut con);
}

#[test]
fn simple_pipelined_and_partial_queries_in_one_write() {
    let server = TestServer::start();
    let mut con = server.raw();
    let mut input = HEYA.to_vec();
    input.extend_from_slice(b"*2\n_1\n+4\nHEYA\n_2\n+3\nGET\n+1\nx\n");
    input.extend_from_slice(b"*1\n_1\n+6\nDBS");
    exchange(&mut con, &input, b"*1\n+4\nHEY!\n*2\n+4\nHEY!\n!1\n1\n");
    expect_silence(&mut con);
    exchange(&mut con, b"IZE\n", b"*1\n:1\n0\n");
}

#[test]
fn a_thousand_queries_in_one_write_are_all_answered_in_order() {
    let server = TestServer::start();
    let mut con = server.raw();
    let mut input = Vec::new();
    let mut expected = Vec::new();
    for i in 0..1000 {
        let key = format!("key{i}");
        input.extend(simple_query(&[b"SET", key.as_bytes(), key.as_bytes()]));
        expected.extend_from_slice(b"*1\n!1\n0\n");
        input.extend(simple_query(&[b"GET", key.as_bytes()]));
        expected.extend(simple_response(&string_element(key.as_bytes())));
    }
    input.extend(simple_query(&[b"DBSIZE"]));
    expected.extend_from_slice(b"*1\n:4\n1000\n");
    let writer = {
        let mut con = con.try_clone().unwrap();
        thread::spawn(move || con.write_all(&input))
    };
    expect_exact(&mut con, &expected);
    writer.join().unwrap().unwrap();
}

#[test]
fn query_sent_one_byte_at_a_time_is_answered_once_complete() {
    let server = TestServer::start();
    let mut con = server.raw();
    let query = b"*1\n_3\n+3\nSET\n+5\nslow!\n+12\nbyte\nby\nbyte\n";
    for byte in &query[..query.len() - 1] {
        send(&mut con, &[*byte]);
        thread::sleep(Duration::from_millis(1));
    }
    expect_silence(&mut con);
    exchange(&mut con, &query[query.len() - 1..], b"*1\n!1\n0\n");
    exchange(
        &mut con,
        b"*1\n_2\n+3\nGET\n+5\nslow!\n",
        b"*1\n+12\nbyte\nby\nbyte\n",
    );
}

#[test]
fn two_hundred_concurrent_clients_each_see_their_own_keys() {
    const CLIENTS: usize = 200;
    const KEYS_PER_CLIENT: usize = 20;
    let server = TestServer::start();
    let host = server.host.clone();
    let port = server.port;
    let all_connected = Arc::new(Barrier::new(CLIENTS));
    let workers: Vec<_> = (0..CLIENTS)
        .map(|client| {
            let host = host.clone();
            let all_connected = Arc::clone(&all_connected);
            thread::spawn(move || {
                let mut con = skytable::Connection::new(&host, port).expect("connect");
                // Every client is connected before any of them starts working.
                all_connected.wait();
                for key in 0..KEYS_PER_CLIENT {
                    con.set(format!("c{client}-k{key}"), format!("v{client}-{key}"))
                        .expect("SET of a fresh key");
                }
                for key in 0..KEYS_PER_CLIENT {
                    assert_eq!(
                        con.get(format!("c{client}-k{key}")).expect("GET"),
                        format!("v{client}-{key}")
                    );
                }
            })
        })
        .collect();
    within(
        Duration::from_secs(120),
        "200 concurrent clients",
        move || {
            for worker in workers {
                worker.join().expect("a client thread failed");
            }
        },
    );
    let mut con = server.client();
    assert_eq!(con.dbsize().unwrap(), CLIENTS * KEYS_PER_CLIENT);
}

#[test]
fn sixty_four_kib_key_and_value_via_raw_bytes() {
    let server = TestServer::start();
    let mut con = server.raw();
    let key: Vec<u8> = (0..65536).map(|i| b'a' + (i % 26) as u8).collect();
    let value: Vec<u8> = (0..65536).map(|i| (i % 251) as u8).collect();
    exchange(
        &mut con,
        &simple_query(&[b"SET", &key, &value]),
        b"*1\n!1\n0\n",
    );
    exchange(
        &mut con,
        &simple_query(&[b"GET", &key]),
        &simple_response(&string_element(&value)),
    );
    exchange(
        &mut con,
        &simple_query(&[b"KEYLEN", &key]),
        b"*1\n:5\n65536\n",
    );
}

#[test]
fn sixty_four_kib_key_and_value_via_the_client() {
    let server = TestServer::start();
    let mut con = server.client();
    let key: String = (0..65536)
        .map(|i| (b'a' + (i % 26) as u8) as char)
        .collect();
    let value: String = (0..65536)
        .map(|i| (b'A' + (i % 26) as u8) as char)
        .collect();
    con.set(key.as_str(), value.as_str()).unwrap();
    assert_eq!(con.get(key.as_str()).unwrap(), value);
    assert_eq!(con.keylen(key.as_str()).unwrap(), 65536);
    let listed = con.lskeys(10).unwrap();
    assert_eq!(listed, vec![key]);
}

#[test]
fn binary_keys_and_values_round_trip_unchanged() {
    let server = TestServer::start();
    let mut con = server.raw();
    let key: &[u8] = b"\x00k\xff\n\xfe";
    let value: &[u8] = b"\xff\x00\xc3\x28\n\x80";
    exchange(
        &mut con,
        &simple_query(&[b"SET", key, value]),
        b"*1\n!1\n0\n",
    );
    exchange(
        &mut con,
        &simple_query(&[b"GET", key]),
        &simple_response(&string_element(value)),
    );
    exchange(&mut con, &simple_query(&[b"KEYLEN", key]), b"*1\n:1\n6\n");
    let mut listed = b"*1\n_1\n".to_vec();
    listed.extend(string_element(key));
    exchange(&mut con, &simple_query(&[b"LSKEYS"]), &listed);
    // A key differing only in an invalid byte is a different key.
    exchange(
        &mut con,
        &simple_query(&[b"GET", b"\x00k\xfe\n\xfe"]),
        b"*1\n!1\n1\n",
    );
    let mut popped = b"*1\n&1\n".to_vec();
    popped.extend(string_element(value));
    exchange(&mut con, &simple_query(&[b"POP", key]), &popped);
}

#[test]
fn nul_bytes_round_trip_through_the_client() {
    let server = TestServer::start();
    let mut con = server.client();
    con.set("a\0b", "x\0\0y").unwrap();
    assert_eq!(con.get("a\0b").unwrap(), "x\0\0y");
    assert_eq!(query(&mut con, &["get", "a"]), code(RespCode::NotFound));
}

#[test]
fn maxcon_holds_back_the_extra_client_until_a_slot_frees() {
    let server = TestServer::start_with(&["--maxcon", "2"]);
    let mut first = server.raw();
    let mut second = server.raw();
    assert_usable(&mut first);
    assert_usable(&mut second);
    let mut third = server.raw();
    send(&mut third, HEYA);
    expect_silence(&mut third);
    drop(first);
    expect_exact(&mut third, HEY);
    assert_usable(&mut second);
    assert_usable(&mut third);
    // Full again: a fourth client waits in turn.
    let mut fourth = server.raw();
    send(&mut fourth, HEYA);
    expect_silence(&mut fourth);
    drop(second);
    expect_exact(&mut fourth, HEY);
}

#[test]
fn a_client_that_never_reads_does_not_starve_others() {
    const QUERIES: usize = 500_000;
    let server = TestServer::start();
    let hog = server.raw();
    let written = Arc::new(AtomicUsize::new(0));
    let writer = {
        let mut hog = hog.try_clone().unwrap();
        hog.set_write_timeout(None).unwrap();
        let written = Arc::clone(&written);
        thread::spawn(move || {
            let batch: Vec<u8> = HEYA.repeat(1000);
            for _ in 0..QUERIES / 1000 {
                hog.write_all(&batch)?;
                written.fetch_add(batch.len(), Ordering::SeqCst);
            }
            Ok::<(), std::io::Error>(())
        })
    };
    // Let the hog get well ahead (its responses pile up unread) before the other client starts.
    let deadline = Instant::now() + PATIENCE;
    while written.load(Ordering::SeqCst) < 64 * 1024 {
        assert!(
            Instant::now() < deadline,
            "the server did not read 64 KiB from the pipelining client within {PATIENCE:?}"
        );
        thread::sleep(Duration::from_millis(5));
    }
    let (host, port) = (server.host.clone(), server.port);
    within(
        PATIENCE,
        "a second client served beside the hog",
        move || {
            let mut con = skytable::Connection::new(&host, port).unwrap();
            con.set("x", "100").unwrap();
            assert_eq!(con.get("x").unwrap(), "100");
        },
    );
    // The hog itself loses nothing once it starts reading.
    let mut hog = hog;
    let expected_len = QUERIES * HEY.len();
    let received = within(
        Duration::from_secs(120),
        "reading the hog's responses",
        move || {
            let mut received = Vec::with_capacity(expected_len);
            let mut chunk = vec![0u8; 256 * 1024];
            hog.set_read_timeout(Some(PATIENCE)).unwrap();
            while received.len() < expected_len {
                match hog.read(&mut chunk) {
                    Ok(0) => break,
                    Ok(read) => received.extend_from_slice(&chunk[..read]),
                    Err(error) if error.kind() == ErrorKind::Interrupted => {}
                    Err(error) => panic!("hog read after {} bytes: {error}", received.len()),
                }
            }
            received
        },
    );
    writer.join().unwrap().expect("the hog's writes");
    assert_eq!(received.len(), expected_len);
    let wrong = received
        .chunks(HEY.len())
        .position(|response| response != HEY);
    assert_eq!(wrong, None, "a hog response was not HEY!");
}

#[test]
fn half_closed_client_still_gets_answers_for_its_complete_queries() {
    let server = TestServer::start();
    let mut con = server.raw();
    let mut input = b"*1\n_3\n+3\nSET\n+1\nx\n+3\n100\n".to_vec();
    input.extend_from_slice(b"*1\n_2\n+3\nGET\n+1\nx\n");
    send(&mut con, &input);
    con.shutdown(std::net::Shutdown::Write).unwrap();
    expect_exact(&mut con, b"*1\n!1\n0\n*1\n+3\n100\n");
    expect_eof(&mut con);
    let mut other = server.client();
    assert_eq!(other.get("x").unwrap(), "100");
}

#[test]
fn client_leaving_mid_query_does_not_disturb_the_server() {
    let server = TestServer::start();
    let mut leaver = server.raw();
    send(&mut leaver, b"*1\n_3\n+3\nSET\n+1\nx\n+3\n10");
    drop(leaver);
    let mut con = server.raw();
    assert_usable(&mut con);
    exchange(&mut con, b"*1\n_2\n+3\nGET\n+1\nx\n", b"*1\n!1\n1\n");
}

#[test]
fn client_closing_with_unread_responses_does_not_disturb_the_server() {
    let server = TestServer::start();
    {
        let mut leaver = server.raw();
        send(&mut leaver, &HEYA.repeat(20_000));
    }
    let mut con = server.raw();
    assert_usable(&mut con);
    assert_usable(&mut server.raw());
}

#[test]
fn connection_slots_are_released_for_sequential_clients() {
    let server = TestServer::start_with(&["--maxcon", "1"]);
    for _ in 0..50 {
        let mut con = server.raw();
        assert_usable(&mut con);
    }
}

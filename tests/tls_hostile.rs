//! Skyhash over TLS with clients that misbehave. A plaintext client on the TLS port gets a TLS
//! alert and is closed, and the server goes on serving (skyd 0.6.3's CVE-2021-37625 was a
//! remote shutdown this way); garbage after a good handshake ends that connection only; a
//! malformed query or one over the size limit gets the same framed error as over TCP, then
//! close_notify; a thousand stalled handshakes delay no one, are closed when their deadline
//! passes, and a deadline never closes a newer connection that reused the slab key; the
//! client memory budget holds over TLS.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use common::memory::{RssWatch, KIB, MIB, SERVER_INPUT_BUFFER_BYTES};
use common::status::clients_figure;
use common::tls::{start_tls_server, TlsClient, DECODE_ERROR_ALERT};
use common::wire::{
    assert_usable, exchange, expect_eof, expect_exact, send, simple_query, HEY, HEYA, PACKET_ERROR,
    TOO_LARGE,
};
use common::{wait_until, PATIENCE};

/// The server's handshake deadline (`HANDSHAKE_TIMEOUT`), restated.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A raw TCP connection to the server's TLS port.
fn raw_tls_port(server: &common::server::TestServer) -> TcpStream {
    let stream = TcpStream::connect((server.host.as_str(), server.tls_port.unwrap())).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    stream.set_nodelay(true).unwrap();
    stream
}

/// Asserts the TLS connection was ended by the server with a fatal alert (or, if the alert
/// was lost to a reset, simply ended).
fn expect_fatal_alert(tls: &mut TlsClient) {
    let mut buffer = [0u8; 256];
    match tls.read(&mut buffer) {
        Err(error) if error.kind() == ErrorKind::InvalidData => assert!(
            error.to_string().contains("alert"),
            "expected a fatal alert from the server, got {error}"
        ),
        Err(error) if error.kind() == ErrorKind::ConnectionReset => {}
        other => panic!("expected a fatal alert from the server, got {other:?}"),
    }
}

#[test]
fn plaintext_clients_on_the_tls_port_get_an_alert_and_the_server_keeps_serving() {
    const CLIENTS: u64 = 50;
    let (server, files) = start_tls_server(&[]);
    let mut plain = server.raw();
    for client in 0..CLIENTS {
        let mut stream = raw_tls_port(&server);
        // A Skyhash query, or bytes that are no protocol at all.
        if client % 2 == 0 {
            send(&mut stream, HEYA);
        } else {
            send(&mut stream, &[0xff; 64]);
        }
        expect_exact(&mut stream, DECODE_ERROR_ALERT);
        expect_eof(&mut stream);
    }
    assert_usable(&mut plain);
    exchange(&mut TlsClient::to(&server, &files.ca), HEYA, HEY);
    assert_eq!(
        clients_figure(&mut plain, "tls_handshake_failures"),
        CLIENTS
    );
    assert_eq!(clients_figure(&mut plain, "tls_connections"), 0);
}

#[test]
fn garbage_after_a_good_handshake_ends_that_connection_only() {
    let (server, files) = start_tls_server(&[]);
    let mut bystander = TlsClient::to(&server, &files.ca);
    exchange(&mut bystander, HEYA, HEY);
    // Not a TLS record at all; a well-formed application-data record that does not decrypt.
    let mut forged_record = vec![0x17, 0x03, 0x03, 0x00, 0x40];
    forged_record.extend([0x5a; 0x40]);
    for garbage in [b"GARBAGE\n".to_vec(), forged_record] {
        let mut tls = TlsClient::to(&server, &files.ca);
        exchange(&mut tls, HEYA, HEY);
        tls.socket().write_all(&garbage).unwrap();
        expect_fatal_alert(&mut tls);
        exchange(&mut bystander, HEYA, HEY);
    }
    let mut plain = server.raw();
    assert_eq!(clients_figure(&mut plain, "tls_handshake_failures"), 0);
    assert_eq!(clients_figure(&mut plain, "tls_connections"), 1);
}

#[test]
fn a_malformed_query_over_tls_gets_the_framed_error_then_close_notify() {
    let (server, files) = start_tls_server(&[]);
    let mut tls = TlsClient::to(&server, &files.ca);
    exchange(&mut tls, HEYA, HEY);
    send(&mut tls, b"this is not skyhash\n");
    expect_exact(&mut tls, PACKET_ERROR);
    // rustls's reader returns end of stream only after a close_notify; a bare TCP close is
    // an error (UnexpectedEof) that expect_eof would report.
    expect_eof(&mut tls);
    assert_usable(&mut server.raw());
}

#[test]
fn a_closing_connection_sends_a_slow_reader_everything_before_close_notify() {
    const GETS: usize = 16;
    let (server, files) = start_tls_server(&[]);
    let value: Vec<u8> = (0..MIB as usize).map(|i| (i % 253) as u8).collect();
    let mut tls = TlsClient::to(&server, &files.ca);
    exchange(
        &mut tls,
        &simple_query(&[b"SET", b"big", &value]),
        common::wire::OKAY,
    );
    let mut batch = Vec::new();
    let mut expected = Vec::new();
    for _ in 0..GETS {
        batch.extend(simple_query(&[b"GET", b"big"]));
        expected.extend(common::wire::value_response(&value));
    }
    batch.extend(b"not skyhash\n");
    expected.extend(PACKET_ERROR);
    send(&mut tls, &batch);
    // 16 MiB read a kilobyte at a time: the server's socket stays full while it answers,
    // then closes; records still waiting in rustls must not be lost to the close.
    let mut received = Vec::with_capacity(expected.len());
    let mut chunk = [0u8; 1024];
    while received.len() < expected.len() {
        let read = tls.read(&mut chunk).unwrap();
        assert!(read > 0, "end of stream after {} bytes", received.len());
        received.extend_from_slice(&chunk[..read]);
    }
    assert!(
        received == expected,
        "the answers differ from what was asked"
    );
    expect_eof(&mut tls);
}

#[test]
fn a_query_over_the_size_limit_over_tls_is_refused_then_closed() {
    let (server, files) = start_tls_server(&["--max-query-size", "1K"]);
    let mut tls = TlsClient::to(&server, &files.ca);
    send(&mut tls, &simple_query(&[b"SET", b"k", &[b'v'; 2048]]));
    expect_exact(&mut tls, TOO_LARGE);
    expect_eof(&mut tls);
    exchange(&mut TlsClient::to(&server, &files.ca), HEYA, HEY);
}

/// The start of a ClientHello: a handshake record header announcing 512 bytes, the handshake
/// header, then nothing more.
const PARTIAL_CLIENT_HELLO: &[u8] = &[0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03];

/// Whether the server still holds the connection open, without waiting.
fn still_open(stream: &mut TcpStream) -> bool {
    stream.set_nonblocking(true).unwrap();
    let mut byte = [0u8; 1];
    let open =
        matches!(stream.read(&mut byte), Err(error) if error.kind() == ErrorKind::WouldBlock);
    stream.set_nonblocking(false).unwrap();
    open
}

/// Waits for the server to close `stream`, for up to `timeout`.
fn wait_closed(stream: &mut TcpStream, timeout: Duration, what: &str) {
    stream.set_read_timeout(Some(timeout)).unwrap();
    let mut byte = [0u8; 1];
    match stream.read(&mut byte) {
        Ok(0) => {}
        Err(error) if error.kind() == ErrorKind::ConnectionReset => {}
        other => panic!("{what}: expected the server to close it, got {other:?}"),
    }
}

#[test]
fn a_thousand_stalled_handshakes_delay_no_one_and_time_out_without_closing_a_newer_connection() {
    const STALLED: usize = 1000;
    let (server, files) = start_tls_server(&[]);
    let mut plain = server.raw();
    assert_usable(&mut plain);
    let open_tls = |plain: &mut TcpStream, count: u64| {
        wait_until(PATIENCE, &format!("{count} TLS connections open"), || {
            clients_figure(plain, "tls_connections") == count
        });
    };

    // The slab hands out the key freed last: `first` takes a key, `marker` another, `first`
    // leaves, and `reuser` gets first's key. first's deadline falls due while reuser, two
    // seconds younger, is still in its handshake: it must survive it.
    let first = raw_tls_port(&server);
    open_tls(&mut plain, 1);
    let mut marker = raw_tls_port(&server);
    open_tls(&mut plain, 2);
    drop(first);
    open_tls(&mut plain, 1);
    thread::sleep(Duration::from_secs(2));
    let mut reuser = raw_tls_port(&server);
    open_tls(&mut plain, 2);

    let baseline_kib = server.rss_kib();
    let watch = RssWatch::start(&server);
    let mut stalled: Vec<TcpStream> = (0..STALLED)
        .map(|index| {
            let mut stream = raw_tls_port(&server);
            if index % 2 == 0 {
                send(&mut stream, PARTIAL_CLIENT_HELLO);
            }
            stream
        })
        .collect();
    open_tls(&mut plain, 2 + STALLED as u64);

    // A client that does its handshake now is answered at once.
    let started = Instant::now();
    let mut working = TlsClient::to(&server, &files.ca);
    exchange(&mut working, HEYA, HEY);
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(1),
        "a handshake and HEYA beside {STALLED} stalled handshakes took {took:?}"
    );
    drop(working);
    let peak_kib = watch.peak_kib();
    // Each stalled connection holds at most its 16 KiB input buffer (only those that sent
    // bytes have one) and rustls's state: 8 KiB with its 4 KiB read buffer. Twice that per
    // connection, plus 16 MiB for everything else, bounds the growth.
    let bound_kib = (STALLED as u64 * 2 * (SERVER_INPUT_BUFFER_BYTES + 8 * KIB) + 16 * MIB) / KIB;
    let growth_kib = peak_kib.saturating_sub(baseline_kib);
    assert!(
        growth_kib <= bound_kib,
        "RSS grew by {growth_kib} KiB with {STALLED} stalled handshakes; bound {bound_kib} KiB"
    );

    // The marker's deadline comes after first's: once the marker is closed, first's entry has
    // been swept, and the reuser, with its key, must still be open.
    wait_closed(&mut marker, HANDSHAKE_TIMEOUT + PATIENCE, "the marker");
    assert!(
        still_open(&mut reuser),
        "a stale handshake deadline closed the newer connection that reused its slab key"
    );
    wait_closed(&mut reuser, PATIENCE, "the reuser, at its own deadline");
    for (index, stream) in stalled.iter_mut().enumerate() {
        wait_closed(stream, PATIENCE, &format!("stalled handshake {index}"));
    }
    assert_eq!(clients_figure(&mut plain, "tls_connections"), 0);
    // first (abandoned by the client), the marker, the reuser and the stalled ones.
    assert_eq!(
        clients_figure(&mut plain, "tls_handshake_failures"),
        3 + STALLED as u64
    );
}

#[test]
fn the_client_memory_budget_holds_over_tls() {
    const HOGS: usize = 8;
    let (server, files) = start_tls_server(&["--max-client-memory", "4M"]);
    let limit = 4 * MIB;
    let mut plain = server.raw();
    let value = vec![b'v'; MIB as usize];
    exchange(
        &mut plain,
        &simple_query(&[b"SET", b"big", &value]),
        common::wire::OKAY,
    );
    // Each hog asks for the 1 MiB value 16 times and reads nothing: its connection holds the
    // value (queued without a copy, but counted) and rustls's records the socket does not
    // take. Together they would hold more than the budget.
    let mut batch = Vec::new();
    for _ in 0..16 {
        batch.extend(simple_query(&[b"GET", b"big"]));
    }
    let _hogs: Vec<TlsClient> = (0..HOGS)
        .map(|_| {
            let mut hog = TlsClient::to(&server, &files.ca);
            send(&mut hog, &batch);
            hog
        })
        .collect();
    wait_until(PATIENCE, "hogs closed by the memory budget", || {
        let held = clients_figure(&mut plain, "client_memory_bytes");
        assert!(
            held <= limit,
            "clients hold {held} bytes, over the {limit} limit"
        );
        clients_figure(&mut plain, "closed_by_memory_limit") >= 1
    });
    // A well-behaved TLS client is served all along.
    let mut polite = TlsClient::to(&server, &files.ca);
    for _ in 0..20 {
        exchange(&mut polite, HEYA, HEY);
    }
    assert!(clients_figure(&mut plain, "client_memory_bytes") <= limit);
}

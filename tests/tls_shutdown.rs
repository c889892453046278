//! The end of a server with TLS clients. SIGTERM: the server answers every complete query it
//! received over TLS, ends each TLS connection with close_notify (a clean end of stream for
//! the client, not a truncation; those still in their handshake get it unencrypted), saves
//! and exits 0. kill -9 with the journal on: what was acknowledged over TLS survives.

mod common;

use std::net::TcpStream;

use common::tls::{start_tls_server, TlsClient, PLAINTEXT_CLOSE_NOTIFY};
use common::wire::{
    exchange, expect_eof, expect_exact, send, simple_query, value_response, HEY, HEYA, OKAY,
};
use common::PATIENCE;

#[test]
fn sigterm_answers_what_tls_clients_sent_says_close_notify_and_exits_zero() {
    const QUERIES: usize = 500;
    let (mut server, files) = start_tls_server(&[]);
    let mut idle = TlsClient::to(&server, &files.ca);
    exchange(&mut idle, HEYA, HEY);
    let mut busy = TlsClient::to(&server, &files.ca);
    let mut handshaking =
        TcpStream::connect((server.host.as_str(), server.tls_port.unwrap())).unwrap();
    handshaking.set_read_timeout(Some(PATIENCE)).unwrap();

    let mut batch = Vec::new();
    let mut expected = Vec::new();
    for i in 0..QUERIES {
        batch.extend(simple_query(&[
            b"SET",
            format!("key{i}").as_bytes(),
            b"value",
        ]));
        expected.extend(OKAY);
    }
    batch.extend(simple_query(&[b"DBSIZE"]));
    expected.extend(format!("*1\n:3\n{QUERIES}\n").as_bytes());
    // About 16 KiB: the kernel takes it all before the signal is sent.
    send(&mut busy, &batch);
    server.signal("TERM");

    expect_exact(&mut busy, &expected);
    // rustls's reader returns end of stream only after close_notify.
    expect_eof(&mut busy);
    expect_eof(&mut idle);
    expect_exact(&mut handshaking, PLAINTEXT_CLOSE_NOTIFY);
    expect_eof(&mut handshaking);
    let status = server.wait_exit(3 * PATIENCE);
    assert!(
        status.success(),
        "exit status {status:?}\n{}",
        server.logs().join("\n")
    );
    assert!(
        server
            .logs()
            .iter()
            .any(|line| line.contains(&format!("Successfully saved data to disk: {QUERIES} keys"))),
        "{}",
        server.logs().join("\n")
    );
}

#[test]
fn writes_acknowledged_over_tls_survive_kill_9_with_the_journal_on() {
    let (mut server, files) = start_tls_server(&["--journal", "always", "--nosave"]);
    let mut tls = TlsClient::to(&server, &files.ca);
    for i in 0..50 {
        let key = format!("key{i}");
        exchange(
            &mut tls,
            &simple_query(&[b"SET", key.as_bytes(), b"kept"]),
            OKAY,
        );
    }
    server.kill9();
    let again = server
        .same_dir()
        .args(&["--journal", "always", "--nosave"])
        .args(&files.args())
        .start();
    let mut tls = TlsClient::to(&again, &files.ca);
    for i in 0..50 {
        let key = format!("key{i}");
        exchange(
            &mut tls,
            &simple_query(&[b"GET", key.as_bytes()]),
            &value_response(b"kept"),
        );
    }
}

//! Skyhash over TLS with well-behaved clients: every action through the real `skytable` 0.4.0
//! client's TLS connection; the same bytes inside TLS as over plain TCP for a script of
//! actions, pipelines and errors; a 1 MiB value both ways; 200 clients at once; and what the
//! skytable client cannot show, since it verifies nothing: a rustls client that verifies the
//! server against the test's authority, under TLS 1.3 and 1.2, and refuses it when it trusts
//! another authority. Certificates are made in each test (`common::tls`).

mod common;

use std::thread;

use common::client::{code, int, query, string};
use common::server::ServerBuilder;
use common::status::clients_figure;
use common::tls::{
    client_config, skytable_tls, start_tls_server, Authority, KeyEncoding, TlsClient, TlsFiles,
};
use common::wire::{
    exchange, expect_eof, expect_exact, read_any_response, send, simple_query, uint_response,
    value_response, HEY, HEYA, OKAY,
};
use common::{within, PATIENCE};
use skytable::actions::Actions;
use skytable::types::SnapshotResult;
use skytable::RespCode;

#[test]
fn the_skytable_client_runs_every_action_over_tls() {
    let (server, files) = start_tls_server(&["--snapevery", "3600", "--snapkeep", "1"]);
    let mut con = skytable_tls(&server, &files.ca);
    assert_eq!(query(&mut con, &["HEYA"]), string("HEY!"));
    assert_eq!(query(&mut con, &["SET", "x", "100"]), code(RespCode::Okay));
    assert_eq!(
        query(&mut con, &["SET", "x", "200"]),
        code(RespCode::OverwriteError)
    );
    assert_eq!(con.get("x").unwrap(), "100".to_owned());
    assert_eq!(
        query(&mut con, &["UPDATE", "x", "300"]),
        code(RespCode::Okay)
    );
    assert_eq!(
        query(&mut con, &["UPDATE", "nope", "1"]),
        code(RespCode::NotFound)
    );
    assert_eq!(query(&mut con, &["USET", "y", "1", "z", "2"]), int(2));
    assert_eq!(query(&mut con, &["EXISTS", "x", "y", "nope"]), int(2));
    assert_eq!(query(&mut con, &["KEYLEN", "x"]), int(3));
    assert_eq!(query(&mut con, &["MSET", "a", "1", "x", "9"]), int(1));
    assert_eq!(
        con.mget(vec!["a", "x", "nope"]).unwrap(),
        vec![string("1"), string("300"), code(RespCode::NotFound)]
    );
    assert_eq!(query(&mut con, &["MUPDATE", "a", "2", "nope", "3"]), int(1));
    assert_eq!(
        query(&mut con, &["SSET", "b", "1", "c", "2"]),
        code(RespCode::Okay)
    );
    assert_eq!(
        query(&mut con, &["SSET", "b", "1", "d", "2"]),
        code(RespCode::OverwriteError)
    );
    assert_eq!(
        query(&mut con, &["SUPDATE", "b", "5", "c", "6"]),
        code(RespCode::Okay)
    );
    assert_eq!(query(&mut con, &["SDEL", "b", "c"]), code(RespCode::Okay));
    assert_eq!(query(&mut con, &["DEL", "a", "nope"]), int(1));
    assert_eq!(con.pop(vec!["z"]).unwrap(), vec![string("2")]);
    assert_eq!(con.dbsize().unwrap(), 2);
    let mut keys = con.lskeys(10).unwrap();
    keys.sort();
    assert_eq!(keys, ["x", "y"]);
    // MKSNAP's answer waits for the snapshot job, over TLS as over TCP.
    assert!(matches!(con.mksnap().unwrap(), SnapshotResult::Okay));
    assert_eq!(
        query(&mut con, &["SYS", "METRIC", "health"]),
        string("good")
    );
    assert_eq!(query(&mut con, &["FLUSHDB"]), code(RespCode::Okay));
    assert_eq!(con.dbsize().unwrap(), 0);
    assert_eq!(
        query(&mut con, &["nosuchaction"]),
        code(RespCode::ErrorString("Unknown action".to_owned()))
    );
}

/// A script of raw queries that leaves the connection open: actions with binary bytes, a
/// pipeline with an element that is not an action, errors (arity, an unknown action), SYS. (tls_hostile.rs has the ones that close.)
fn script() -> Vec<Vec<u8>> {
    let binary: Vec<u8> = (0..=255).collect();
    let mut pipeline = b"*4\n".to_vec();
    pipeline.extend(&simple_query(&[b"SET", b"p", b"1"])[3..]);
    pipeline.extend(b"+4\nHEYA\n");
    pipeline.extend(&HEYA[3..]);
    pipeline.extend(&simple_query(&[b"GET", b"p"])[3..]);
    vec![
        HEYA.to_vec(),
        simple_query(&[b"SET", b"k", &binary]),
        simple_query(&[b"GET", b"k"]),
        simple_query(&[b"MGET", b"k", b"none"]),
        pipeline,
        simple_query(&[b"DBSIZE"]),
        simple_query(&[b"UPDATE"]),
        simple_query(&[b"frobnicate", b"k"]),
        simple_query(&[b"SYS", b"INFO", b"version"]),
    ]
}

#[test]
fn plain_and_tls_answer_a_script_with_the_same_bytes() {
    let answers = |stream: &mut dyn FnMut(&[u8]) -> Vec<u8>| -> Vec<Vec<u8>> {
        script().iter().map(|query| stream(query)).collect()
    };
    let (plain_server, _) = start_tls_server(&[]);
    let mut plain = plain_server.raw();
    let plain_answers = answers(&mut |query| {
        send(&mut plain, query);
        read_any_response(&mut plain)
    });
    let (tls_server, files) = start_tls_server(&[]);
    let mut tls = TlsClient::to(&tls_server, &files.ca);
    let tls_answers = answers(&mut |query| {
        send(&mut tls, query);
        read_any_response(&mut tls)
    });
    assert_eq!(plain_answers, tls_answers);
    assert_eq!(plain_answers[0], HEY);
    assert_eq!(plain_answers[4], b"*4\n!1\n0\n!1\n7\n+4\nHEY!\n+1\n1\n");
}

#[test]
fn many_pipelined_queries_in_one_write_are_answered_in_order() {
    const QUERIES: usize = 2000;
    let (server, files) = start_tls_server(&[]);
    let mut tls = TlsClient::to(&server, &files.ca);
    let mut batch = Vec::new();
    let mut expected = Vec::new();
    for i in 0..QUERIES {
        let key = format!("key{i}");
        batch.extend(simple_query(&[b"SET", key.as_bytes(), key.as_bytes()]));
        batch.extend(simple_query(&[b"GET", key.as_bytes()]));
        expected.extend(OKAY);
        expected.extend(value_response(key.as_bytes()));
    }
    batch.extend(simple_query(&[b"DBSIZE"]));
    expected.extend(uint_response(QUERIES as u64));
    // About 100 KiB each way: more than one TLS record, less than the socket buffers, so one
    // thread may write it all before reading.
    send(&mut tls, &batch);
    expect_exact(&mut tls, &expected);
}

#[test]
fn queries_then_close_notify_get_every_answer_then_the_servers_close_notify() {
    const QUERIES: usize = 100;
    let (server, files) = start_tls_server(&[]);
    let mut tls = TlsClient::to(&server, &files.ca);
    let mut batch = Vec::new();
    let mut expected = Vec::new();
    for i in 0..QUERIES {
        batch.extend(simple_query(&[b"SET", format!("k{i}").as_bytes(), b"v"]));
        expected.extend(OKAY);
    }
    batch.extend(simple_query(&[b"DBSIZE"]));
    expected.extend(uint_response(QUERIES as u64));
    // One write, then close_notify with the TCP connection left open: the end of the stream
    // arrives with the last queries, and no hang-up event comes to say so.
    send(&mut tls, &batch);
    tls.send_close_notify();
    expect_exact(&mut tls, &expected);
    expect_eof(&mut tls);
}

#[test]
fn a_one_mebibyte_value_goes_both_ways_over_tls() {
    let (server, files) = start_tls_server(&[]);
    let value: Vec<u8> = (0..1024 * 1024).map(|i| (i % 251) as u8).collect();
    let mut tls = TlsClient::to(&server, &files.ca);
    exchange(&mut tls, &simple_query(&[b"SET", b"big", &value]), OKAY);
    exchange(
        &mut tls,
        &simple_query(&[b"GET", b"big"]),
        &value_response(&value),
    );
    // And through the real client, as a string.
    let text = "s".repeat(1024 * 1024);
    let mut con = skytable_tls(&server, &files.ca);
    con.set("text", text.as_str()).unwrap();
    assert_eq!(con.get("text").unwrap(), text);
}

#[test]
fn two_hundred_tls_clients_at_once_each_get_their_own_answers() {
    const CLIENTS: usize = 200;
    const ROUNDS: usize = 10;
    let (server, files) = start_tls_server(&[]);
    let port = server.tls_port.unwrap();
    let ca = common::tls::path_arg(&files.ca);
    // All connect first, so that 200 TLS connections are open together.
    let connections: Vec<_> = (0..CLIENTS)
        .map(|_| skytable::sync::TlsConnection::new(&server.host, port, &ca).unwrap())
        .collect();
    let mut plain = server.raw();
    assert_eq!(
        clients_figure(&mut plain, "tls_connections"),
        CLIENTS as u64
    );
    let workers: Vec<_> = connections
        .into_iter()
        .enumerate()
        .map(|(client, mut con)| {
            thread::spawn(move || {
                for round in 0..ROUNDS {
                    let key = format!("c{client}r{round}");
                    let value = format!("{client}:{round}");
                    assert_eq!(
                        query(&mut con, &["SET", &key, &value]),
                        code(RespCode::Okay)
                    );
                    assert_eq!(query(&mut con, &["GET", &key]), string(&value));
                }
            })
        })
        .collect();
    within(3 * PATIENCE, "200 TLS clients x 10 rounds", move || {
        for worker in workers {
            worker.join().unwrap();
        }
    });
    exchange(
        &mut plain,
        &simple_query(&[b"DBSIZE"]),
        &uint_response((CLIENTS * ROUNDS) as u64),
    );
}

#[test]
fn a_verifying_client_accepts_the_server_under_tls13_and_tls12() {
    let (server, files) = start_tls_server(&[]);
    let port = server.tls_port.unwrap();
    for (version, expected) in [
        (&rustls::version::TLS13, rustls::ProtocolVersion::TLSv1_3),
        (&rustls::version::TLS12, rustls::ProtocolVersion::TLSv1_2),
    ] {
        for host in ["127.0.0.1", "localhost"] {
            let config = client_config(&files.ca, &[version]);
            let mut tls = TlsClient::connect(host, port, config)
                .unwrap_or_else(|error| panic!("{expected:?} to {host}: {error}"));
            assert_eq!(tls.protocol_version(), Some(expected));
            exchange(&mut tls, HEYA, HEY);
        }
    }
}

#[test]
fn a_client_trusting_another_authority_refuses_the_server() {
    let (server, files) = start_tls_server(&[]);
    let port = server.tls_port.unwrap();
    let stranger = Authority::new("someone else");
    let stranger_ca = server.dir().join("stranger.pem");
    std::fs::write(&stranger_ca, stranger.pem()).unwrap();
    let mut plain = server.raw();
    let failures_before = clients_figure(&mut plain, "tls_handshake_failures");
    let refused = TlsClient::connect(
        &server.host,
        port,
        client_config(&stranger_ca, rustls::DEFAULT_VERSIONS),
    );
    let error = refused
        .err()
        .expect("a client trusting another authority connected");
    assert!(
        error.to_string().contains("UnknownIssuer"),
        "the handshake failed, but not on the certificate: {error}"
    );
    // The server is fine, and counted the failed handshake once the client's alert arrived.
    let mut tls = TlsClient::to(&server, &files.ca);
    exchange(&mut tls, HEYA, HEY);
    common::wait_until(PATIENCE, "the refused handshake counted", || {
        clients_figure(&mut plain, "tls_handshake_failures") == failures_before + 1
    });
}

#[test]
fn every_key_encoding_is_served() {
    for encoding in KeyEncoding::ALL {
        let builder = ServerBuilder::new();
        let files = TlsFiles::write_with(builder.dir(), encoding);
        let key = std::fs::read_to_string(&files.key).unwrap();
        assert!(key.starts_with(encoding.pem_label()), "{encoding:?}: {key}");
        let server = builder.args(&files.args()).start();
        let mut tls = TlsClient::to(&server, &files.ca);
        exchange(&mut tls, HEYA, HEY);
        let mut con = skytable_tls(&server, &files.ca);
        assert_eq!(query(&mut con, &["HEYA"]), string("HEY!"), "{encoding:?}");
    }
}

#[test]
fn resp_over_tls_shares_the_key_the_chain_and_the_table() {
    let (server, files) = start_tls_server(&["--resp-port", "0", "--resp-tls-port", "0"]);
    let started = server
        .logs()
        .into_iter()
        .find(|line| line.contains("Server started on: "))
        .unwrap();
    let (Some(tls_port), Some(resp_port), Some(resp_tls_port)) =
        (server.tls_port, server.resp_port, server.resp_tls_port)
    else {
        panic!("not every listener is logged: {started}");
    };
    let wanted = format!(
        "Server started on: skyhash://127.0.0.1:{} and skyhash-secure://127.0.0.1:{tls_port} \
         and resp://127.0.0.1:{resp_port} and resp-secure://127.0.0.1:{resp_tls_port}",
        server.port
    );
    assert!(started.ends_with(&wanted), "{started:?}");
    let mut resp = TlsClient::to_port(&server, resp_tls_port, &files.ca);
    exchange(&mut resp, b"*1\r\n$4\r\nPING\r\n", b"+PONG\r\n");
    exchange(
        &mut resp,
        b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\n",
        b"+OK\r\n",
    );
    let mut skyhash = TlsClient::to(&server, &files.ca);
    exchange(
        &mut skyhash,
        &simple_query(&[b"GET", b"k"]),
        &value_response(b"hello"),
    );
}

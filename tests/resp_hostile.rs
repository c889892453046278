//! Hostile RESP input against the real binary, as the Skyhash hostile tests do it: declared
//! sizes near the limits refused at once with Redis's error (or ours for the query limit),
//! then a close, with the server's memory bounded; floods of lines without an end, and of
//! pipelined requests from a client that never reads; clients sending seeded random garbage
//! beside well-behaved ones, who are served exactly while the hostile ones receive nothing but
//! well-formed replies.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use common::memory::{RssWatch, MIB};
use common::resp::{bulk, exchange, request};
use common::server::TestServer;
use common::wire::{escape, expect_eof, expect_exact, send};

const INVALID_MULTIBULK: &[u8] = b"-ERR Protocol error: invalid multibulk length\r\n";
const INVALID_BULK: &[u8] = b"-ERR Protocol error: invalid bulk length\r\n";

fn too_large(limit: usize) -> Vec<u8> {
    format!(
        "-ERR Protocol error: request larger than the limit of {limit} bytes (--max-query-size)\r\n"
    )
    .into_bytes()
}

fn server(extra: &[&str]) -> TestServer {
    let mut args = vec!["--resp-port", "0"];
    args.extend_from_slice(extra);
    TestServer::start_with(&args)
}

#[test]
fn huge_declarations_are_refused_at_once_and_closed() {
    let server = server(&[]);
    let limit = 512 * 1024 * 1024;
    let watch = RssWatch::start(&server);
    let cases: Vec<(&str, &[u8], Vec<u8>)> = vec![
        (
            "count above INT_MAX",
            b"*2147483648\r\n",
            INVALID_MULTIBULK.to_vec(),
        ),
        (
            "count past i64",
            b"*99999999999999999999\r\n",
            INVALID_MULTIBULK.to_vec(),
        ),
        ("count INT_MAX", b"*2147483647\r\n", too_large(limit)),
        (
            "bulk over 512 MiB",
            b"*1\r\n$536870913\r\n",
            INVALID_BULK.to_vec(),
        ),
        (
            "bulk i64::MAX",
            b"*1\r\n$9223372036854775807\r\n",
            INVALID_BULK.to_vec(),
        ),
        (
            "bulk of the whole limit",
            b"*1\r\n$536870912\r\n",
            too_large(limit),
        ),
        (
            "negative bulk",
            b"*2\r\n$3\r\nGET\r\n$-5\r\n",
            INVALID_BULK.to_vec(),
        ),
    ];
    for (what, bytes, reply) in &cases {
        let mut con = server.resp_raw();
        send(&mut con, bytes);
        let (received, ending) =
            common::wire::read_up_to(&mut con, reply.len() + 1, common::PATIENCE);
        assert_eq!(escape(&received), escape(reply), "{what}: then {ending}");
        assert!(
            ending.contains("EOF"),
            "{what}: closed after the reply, not {ending}"
        );
    }
    assert!(
        watch.peak_kib() * 1024 < 64 * MIB,
        "declarations drove no allocation: peak {} KiB",
        watch.peak_kib()
    );
    let mut con = server.resp_raw();
    exchange(&mut con, &[b"PING"], b"+PONG\r\n");
}

#[test]
fn lines_without_an_end_are_refused_past_64_kib() {
    let server = server(&[]);
    let floods: [(&[u8], &[u8]); 3] = [
        (b"A", b"-ERR Protocol error: too big inline request\r\n"),
        (
            b"*1",
            b"-ERR Protocol error: too big mbulk count string\r\n",
        ),
        (
            b"*1\r\n$1",
            b"-ERR Protocol error: too big bulk count string\r\n",
        ),
    ];
    for (start, reply) in floods {
        let mut con = server.resp_raw();
        let mut flood = start.to_vec();
        flood.extend(vec![b'1'; 70 * 1024]);
        // The server may close before it has read all of it.
        let _ = con.write_all(&flood);
        expect_exact(&mut con, reply);
        expect_eof(&mut con);
    }
}

#[test]
fn a_client_that_never_reads_is_not_read_either() {
    let server = server(&[]);
    let mut flood = Vec::new();
    for _ in 0..2000 {
        flood.extend(request(&[b"SET", b"k", &[b'v'; 1000]]));
        flood.extend(request(&[b"GET", b"k"]));
    }
    let watch = RssWatch::start(&server);
    let mut hog = server.resp_raw();
    hog.set_write_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline {
        match hog.write(&flood) {
            Ok(_) => {}
            Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                break
            }
            Err(error) => panic!("the server closed the hog: {error}"),
        }
    }
    let mut other = server.resp_raw();
    exchange(&mut other, &[b"GET", b"k"], &bulk(&[b'v'; 1000]));
    assert!(
        watch.peak_kib() * 1024 < 64 * MIB,
        "the unread replies stayed bounded: peak {} KiB",
        watch.peak_kib()
    );
}

/// A tiny xorshift generator, so the garbage is the same on every run.
struct Seeded(u64);

impl Seeded {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// Random bytes, weighted towards RESP's own symbols so the parser is reached.
    fn garbage(&mut self, len: usize) -> Vec<u8> {
        const SYMBOLS: &[u8] = b"*$\r\n-+:0123456789\"' \\xPINGSET";
        (0..len)
            .map(|_| match self.next() % 4 {
                0 => self.next() as u8,
                _ => SYMBOLS[(self.next() % SYMBOLS.len() as u64) as usize],
            })
            .collect()
    }
}

/// Reads replies until EOF or silence; panics on anything that is not well-formed RESP2.
fn assert_only_replies(stream: &mut TcpStream) {
    stream
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut received = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(read) => received.extend_from_slice(&chunk[..read]),
            Err(_) => break,
        }
    }
    let mut rest = &received[..];
    while !rest.is_empty() {
        rest = skip_reply(rest)
            .unwrap_or_else(|| panic!("not a well-formed reply stream: \"{}\"", escape(&received)));
    }
}

/// The bytes after one complete reply at the start of `bytes`.
fn skip_reply(bytes: &[u8]) -> Option<&[u8]> {
    let end = bytes.windows(2).position(|w| w == b"\r\n")?;
    let (line, rest) = (&bytes[1..end], &bytes[end + 2..]);
    let number = || std::str::from_utf8(line).ok()?.parse::<i64>().ok();
    match bytes[0] {
        b'+' | b'-' => Some(rest),
        b':' => number().map(|_| rest),
        b'$' => match number()? {
            -1 => Some(rest),
            len if len >= 0 && rest.get(len as usize..len as usize + 2) == Some(b"\r\n") => {
                Some(&rest[len as usize + 2..])
            }
            _ => None,
        },
        b'*' => (0..number()?.max(0)).try_fold(rest, |rest, _| skip_reply(rest)),
        _ => None,
    }
}

#[test]
fn garbage_gets_only_well_formed_replies_beside_served_clients() {
    let server = server(&["--max-query-size", "64K"]);
    let host = server.host.clone();
    let port = server.resp();
    let hostile: Vec<_> = (0..20u64)
        .map(|seed| {
            let host = host.clone();
            thread::spawn(move || {
                let mut random = Seeded(0x9e37_79b9_7f4a_7c15 ^ (seed + 1));
                let mut con = TcpStream::connect((host.as_str(), port)).unwrap();
                for _ in 0..20 {
                    let len = (random.next() % 2000) as usize;
                    if con.write_all(&random.garbage(len)).is_err() {
                        break;
                    }
                }
                let _ = con.shutdown(Shutdown::Write);
                assert_only_replies(&mut con);
            })
        })
        .collect();
    let good: Vec<_> = (0..3)
        .map(|writer| {
            let host = host.clone();
            thread::spawn(move || {
                let mut con = TcpStream::connect((host.as_str(), port)).unwrap();
                con.set_read_timeout(Some(common::PATIENCE)).unwrap();
                for i in 0..300 {
                    let key = format!("good:{writer}:{i}");
                    exchange(&mut con, &[b"SET", key.as_bytes(), b"v"], b"+OK\r\n");
                    exchange(&mut con, &[b"GET", key.as_bytes()], b"$1\r\nv\r\n");
                }
            })
        })
        .collect();
    for handle in hostile.into_iter().chain(good) {
        handle.join().expect("a client thread");
    }
    let mut con = server.resp_raw();
    for writer in 0..3 {
        let key = format!("good:{writer}:299");
        exchange(&mut con, &[b"EXISTS", key.as_bytes()], b":1\r\n");
    }
}

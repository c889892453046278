//! Slow and stalling clients against the real binary: a thousand clients that stall in the
//! middle of a query, and a client that pipelines without ever reading (with its two simpler
//! cases: responses past the high-water mark read by a client that reads, and a client that
//! half-closes after pipelining). Each test checks that well-behaved clients beside them are
//! served exactly, and that the server's memory stays within a bound derived from its
//! per-connection buffers (src/server/connection.rs).

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use common::entries::{assert_held, Entries};
use common::memory::{
    RssWatch, KIB, MIB, SERVER_INPUT_BUFFER_BYTES, SERVER_OUTPUT_HIGH_WATER_BYTES,
};
use common::polite::PoliteClient;
use common::server::TestServer;
use common::wire::{
    assert_usable, escape, exchange, expect_silence, read_up_to, send, simple_query,
    string_element, uint_response, value_response, OKAY,
};
use common::PATIENCE;

// ---------------------------------------------------------------------------------------------
// A thousand clients that stall halfway through a query

const STALLED_CLIENTS: usize = 1000;

/// A query being built, remembering where it could be cut, by kind of cut.
struct CutQuery {
    bytes: Vec<u8>,
    /// Inside `*<count>\n`: after the `*` or some of the digits.
    in_metaframe: Vec<usize>,
    /// Inside a `+<len>\n` or `_<count>\n` line.
    in_size_line: Vec<usize>,
    /// After a string's size line: none, some or all of its payload received, not its LF.
    in_payload: Vec<usize>,
    /// After a complete element: between pipeline elements or between the strings of one.
    between_elements: Vec<usize>,
}

impl CutQuery {
    fn new(elements: usize) -> CutQuery {
        let bytes = format!("*{elements}\n").into_bytes();
        CutQuery {
            in_metaframe: (1..bytes.len()).collect(),
            in_size_line: Vec::new(),
            in_payload: Vec::new(),
            between_elements: vec![bytes.len()],
            bytes,
        }
    }

    fn size_line(&mut self, symbol: char, number: usize) {
        let start = self.bytes.len();
        self.bytes
            .extend(format!("{symbol}{number}\n").into_bytes());
        self.in_size_line.extend(start + 1..self.bytes.len());
    }

    fn action(&mut self, args: &[&[u8]]) {
        self.size_line('_', args.len());
        for arg in args {
            self.size_line('+', arg.len());
            let start = self.bytes.len();
            self.bytes.extend_from_slice(arg);
            self.in_payload.extend(start..=self.bytes.len());
            self.bytes.push(b'\n');
            self.between_elements.push(self.bytes.len());
        }
    }

    /// Where stalled client `client` cuts: the kind of cut rotates with the client number, the
    /// position within that kind with the client number too.
    fn cut_for(&self, client: usize) -> usize {
        let kinds = [
            &self.in_metaframe,
            &self.in_size_line,
            &self.in_payload,
            &self.between_elements,
        ];
        let positions: Vec<usize> = kinds[client % kinds.len()]
            .iter()
            .copied()
            .filter(|&at| at > 0 && at < self.bytes.len())
            .collect();
        positions[(client / kinds.len()) % positions.len()]
    }
}

/// The value stalled client `client` stores: unique, 16 to 718 bytes long, so that payload
/// cuts fall at many different offsets.
fn stalled_value(client: usize) -> Vec<u8> {
    let mut value = format!("stalled value {client}:").into_bytes();
    value.extend((0..client * 7 % 701).map(|at| (at * 13 + client) as u8));
    value
}

fn stalled_key(client: usize) -> Vec<u8> {
    format!("stalled-{client:04}").into_bytes()
}

/// The second key of the USET shape; its value is the first key.
fn stalled_second_key(client: usize) -> Vec<u8> {
    format!("stalled-{client:04}-b").into_bytes()
}

/// Stalled client `client`'s complete query, the exact response to it, and the cut point.
/// Three shapes: a pipelined SET, GET, HEYA; a pipelined USET of two keys and MGET of them and
/// an absent key; a simple SET.
fn stalled_query(client: usize) -> (Vec<u8>, Vec<u8>, usize) {
    let key = stalled_key(client);
    let value = stalled_value(client);
    let second_key = stalled_second_key(client);
    let (query, response) = match client % 3 {
        0 => {
            let mut query = CutQuery::new(3);
            query.action(&[b"SET", &key, &value]);
            query.action(&[b"GET", &key]);
            query.action(&[b"HEYA"]);
            let mut response = b"*3\n!1\n0\n".to_vec();
            response.extend(string_element(&value));
            response.extend_from_slice(b"+4\nHEY!\n");
            (query, response)
        }
        1 => {
            let mut query = CutQuery::new(2);
            query.action(&[b"USET", &key, &value, &second_key, &key]);
            query.action(&[b"MGET", &second_key, &key, b"absent"]);
            let mut response = b"*2\n:1\n2\n&3\n".to_vec();
            response.extend(string_element(&key));
            response.extend(string_element(&value));
            response.extend_from_slice(b"!1\n1\n");
            (query, response)
        }
        _ => {
            let mut query = CutQuery::new(1);
            query.action(&[b"SET", &key, &value]);
            (query, OKAY.to_vec())
        }
    };
    let cut = query.cut_for(client);
    (query.bytes, response, cut)
}

/// The keys stalled client `client` has written once its query is complete.
fn stalled_entries(client: usize) -> Entries {
    let key = stalled_key(client);
    let value = stalled_value(client);
    let mut entries = Entries::from([(key.clone(), value)]);
    if client % 3 == 1 {
        entries.insert(stalled_second_key(client), key);
    }
    entries
}

#[test]
fn a_thousand_stalled_half_queries_do_not_block_others_and_complete_exactly() {
    let server = TestServer::start();
    let mut checker = server.raw();
    assert_usable(&mut checker);
    let baseline_kib = server.rss_kib();
    let watch = RssWatch::start(&server);
    let polite = PoliteClient::start(&server, "polite-");

    let mut stalled = Vec::with_capacity(STALLED_CLIENTS);
    for client in 0..STALLED_CLIENTS {
        let (query, response, cut) = stalled_query(client);
        let mut con = server.raw();
        send(&mut con, &query[..cut]);
        stalled.push((con, query, response, cut));
    }
    // The well-behaved client keeps being answered with all the halves in the server; by the
    // time it has made 50 more round trips the server has read every half (the readiness of
    // the stalled sockets came first).
    polite.wait_for_more_rounds(
        50,
        3 * PATIENCE,
        "50 SET/GET round trips beside 1,000 stalled clients",
    );
    let stalled_peak_kib = watch.peak_kib();

    // Nobody stalled got an answer or was closed.
    for (client, (con, _, _, cut)) in stalled.iter_mut().enumerate() {
        con.set_nonblocking(true).unwrap();
        let mut byte = [0u8; 1];
        match con.read(&mut byte) {
            Err(error) if error.kind() == ErrorKind::WouldBlock => {}
            other => panic!(
                "stalled client {client} (cut at byte {cut}) should have no answer yet, \
                 read returned {other:?}"
            ),
        }
        con.set_nonblocking(false).unwrap();
    }
    let polite_entries = polite.finish();

    // Arithmetic of the bound: each stalled connection holds its 16 KiB input buffer (zero
    // filled, hence resident) plus well under 1 KiB of connection state and parser vectors;
    // 1,000 x 16 KiB = 15.6 MiB. Allowing twice that per connection for allocator rounding
    // and 16 MiB for everything else (the well-behaved client's keys, allocator segments)
    // gives 47.25 MiB. A server that filled a 64 KiB buffer per idle connection would exceed
    // it.
    let bound_kib = (STALLED_CLIENTS as u64 * 2 * SERVER_INPUT_BUFFER_BYTES + 16 * MIB) / KIB;
    let growth_kib = stalled_peak_kib.saturating_sub(baseline_kib);
    eprintln!(
        "stalled clients: baseline RSS {baseline_kib} KiB, peak {stalled_peak_kib} KiB, \
         growth {growth_kib} KiB, bound {bound_kib} KiB"
    );
    assert!(
        growth_kib <= bound_kib,
        "server RSS grew by {growth_kib} KiB with {STALLED_CLIENTS} stalled clients \
         (baseline {baseline_kib} KiB); bound {bound_kib} KiB"
    );

    // Every stalled client completes its query and gets exactly its own answer.
    for (con, query, _, cut) in &mut stalled {
        send(con, &query[*cut..]);
    }
    for (client, (con, query, response, cut)) in stalled.iter_mut().enumerate() {
        let (received, ending) = read_up_to(con, response.len(), PATIENCE);
        assert!(
            received == *response,
            "stalled client {client} (query \"{}\" cut at byte {cut}): expected \"{}\", \
             got \"{}\" ({ending})",
            escape(query),
            escape(response),
            escape(&received)
        );
    }
    drop(stalled);

    assert_usable(&mut checker);
    let mut expected = polite_entries;
    for client in 0..STALLED_CLIENTS {
        expected.extend(stalled_entries(client));
    }
    exchange(
        &mut checker,
        &simple_query(&[b"DBSIZE"]),
        &uint_response(expected.len() as u64),
    );
    assert_held(&mut checker, &expected);
}

// ---------------------------------------------------------------------------------------------
// A client that pipelines without ever reading

/// The hog's value: 64 KiB, larger than the output high-water mark on its own.
const HOG_VALUE_BYTES: usize = 64 * 1024;
/// The hog's key is long enough that reading back every response stays affordable (each query
/// of ~4 KiB is answered with 64 KiB), yet responses are 16 times the queries.
const HOG_KEY_BYTES: usize = 4000;
/// The hog stops writing here even if its writes never block, so that reading back stays
/// bounded (at most 16 MiB / 4 KiB x 64 KiB = 256 MiB of responses).
const HOG_WRITE_CAP_BYTES: usize = 16 * 1024 * 1024;
/// Writes that make no progress for this long mean the kernel buffers are full and the server
/// has stopped reading the hog.
const HOG_BLOCKED_AFTER: Duration = Duration::from_secs(1);

/// The 64 KiB value the hog asks for, a byte pattern so that a shifted or mixed-up response
/// shows.
fn hog_value() -> Vec<u8> {
    (0..HOG_VALUE_BYTES).map(|at| (at * 7 + 1) as u8).collect()
}

/// Responses that should all be the same, checked as they arrive without being kept.
struct ResponseStream {
    expected: Vec<u8>,
    received_bytes: u64,
    first_mismatch: Option<u64>,
}

impl ResponseStream {
    fn check(&mut self, chunk: &[u8]) {
        let mut at = 0;
        while at < chunk.len() {
            let offset = (self.received_bytes % self.expected.len() as u64) as usize;
            let take = (self.expected.len() - offset).min(chunk.len() - at);
            if self.first_mismatch.is_none()
                && chunk[at..at + take] != self.expected[offset..offset + take]
            {
                self.first_mismatch = Some(self.received_bytes);
            }
            at += take;
            self.received_bytes += take as u64;
        }
    }
}

/// Reads responses that should all equal `expected` until `limit` bytes, EOF or an error,
/// checking them as they arrive; returns the tally and how the reading ended.
fn read_repeated(con: &mut TcpStream, expected: Vec<u8>, limit: u64) -> (ResponseStream, String) {
    let mut stream = ResponseStream {
        expected,
        received_bytes: 0,
        first_mismatch: None,
    };
    let mut chunk = vec![0u8; 256 * 1024];
    let ending = loop {
        let left = limit - stream.received_bytes;
        if left == 0 {
            break String::from("complete");
        }
        let wanted = chunk.len().min(left as usize);
        match con.read(&mut chunk[..wanted]) {
            Ok(0) => break String::from("EOF"),
            Ok(count) => stream.check(&chunk[..count]),
            Err(error) if error.kind() == ErrorKind::Interrupted => {}
            Err(error) => break format!("read error: {error}"),
        }
    };
    (stream, ending)
}

#[test]
fn a_client_that_pipelines_without_reading_is_held_at_the_high_water_mark() {
    let server = TestServer::start();
    let key: Vec<u8> = (0..HOG_KEY_BYTES)
        .map(|at| b'a' + (at % 26) as u8)
        .collect();
    let value = hog_value();
    let mut setup = server.raw();
    exchange(&mut setup, &simple_query(&[b"SET", &key, &value]), OKAY);
    let baseline_kib = server.rss_kib();
    let watch = RssWatch::start(&server);
    let polite = PoliteClient::start(&server, "beside-hog-");

    let query = simple_query(&[b"GET", &key]);
    let response = value_response(&value);
    let stream: Vec<u8> = query.repeat(HOG_WRITE_CAP_BYTES / query.len());
    let mut hog = server.raw();
    hog.set_nonblocking(true).unwrap();
    let mut written = 0;
    let mut last_progress = Instant::now();
    while written < stream.len() && last_progress.elapsed() < HOG_BLOCKED_AFTER {
        match hog.write(&stream[written..(written + 256 * 1024).min(stream.len())]) {
            Ok(count) => {
                written += count;
                last_progress = Instant::now();
            }
            Err(error) if error.kind() == ErrorKind::WouldBlock => {
                thread::sleep(Duration::from_millis(5));
            }
            Err(error) if error.kind() == ErrorKind::Interrupted => {}
            Err(error) => panic!("the hog's write failed after {written} bytes: {error}"),
        }
    }
    let blocked = written < stream.len();
    // Still stuck, and another client is served meanwhile.
    polite.wait_for_more_rounds(
        50,
        3 * PATIENCE,
        "50 SET/GET round trips beside the pipelining hog",
    );
    let hog_peak_kib = watch.peak_kib();
    let polite_entries = polite.finish();

    // Arithmetic of the bound: execution stops once 64 KiB of output wait, and one GET can
    // overshoot that by a whole response (64 KiB + 10 bytes); a vector grown by doubling holds
    // at most twice that: 2 x 128 KiB. The input buffer need hold no more than one partial
    // query plus one read: 2 x 16 KiB, doubled for growth: 64 KiB. 4 MiB of slack for the
    // allocator and the well-behaved client gives about 4.3 MiB.
    let bound_kib = (2 * (SERVER_OUTPUT_HIGH_WATER_BYTES + response.len() as u64)
        + 4 * SERVER_INPUT_BUFFER_BYTES
        + 4 * MIB)
        / KIB;
    let growth_kib = hog_peak_kib.saturating_sub(baseline_kib);
    eprintln!(
        "hog: wrote {written} bytes (writes blocked: {blocked}); baseline RSS {baseline_kib} \
         KiB, peak {hog_peak_kib} KiB, growth {growth_kib} KiB, bound {bound_kib} KiB"
    );
    assert!(
        growth_kib <= bound_kib,
        "server RSS grew by {growth_kib} KiB (baseline {baseline_kib} KiB) while a client \
         pipelined {written} bytes of GETs without reading; bound {bound_kib} KiB. The hog's \
         writes {}",
        if blocked {
            "blocked"
        } else {
            "never blocked: the server kept reading a client that does not read"
        }
    );

    // The hog reads everything; the rest of a query cut by the last write goes out meanwhile.
    // The server never drops a connection for not reading, so every query is answered.
    let queries = written.div_ceil(query.len());
    let expected_bytes = (queries * response.len()) as u64;
    let mut reader = hog.try_clone().unwrap();
    reader.set_nonblocking(false).unwrap();
    reader.set_read_timeout(Some(PATIENCE)).unwrap();
    let expected_response = response.clone();
    let reading =
        thread::spawn(move || read_repeated(&mut reader, expected_response, expected_bytes));
    hog.set_nonblocking(false).unwrap();
    hog.set_write_timeout(Some(3 * PATIENCE)).unwrap();
    send(&mut hog, &stream[written..queries * query.len()]);
    let (received, ending) = reading.join().expect("the hog's reader");
    assert_eq!(
        received.first_mismatch, None,
        "the hog's responses differ from \"*1\\n+65536\\n<value>\\n\" (byte offset)"
    );
    assert_eq!(
        received.received_bytes,
        expected_bytes,
        "bytes the hog read before {ending}: expected {queries} responses of {} bytes",
        response.len()
    );
    // Nothing more, and the connection is still open.
    expect_silence(&mut hog);
    assert_usable(&mut hog);

    let mut checker = server.raw();
    assert_usable(&mut checker);
    assert_held(&mut checker, &polite_entries);
}

/// What the hog meets once it reads, in its simplest form: a few GETs of a 64 KiB value in one
/// write, each response alone past the output high-water mark, read by a client that reads.
#[test]
fn pipelined_responses_past_the_high_water_mark_are_all_answered() {
    let server = TestServer::start();
    let value = hog_value();
    let mut con = server.raw();
    exchange(&mut con, &simple_query(&[b"SET", b"k", &value]), OKAY);
    let response = value_response(&value);
    for count in [2, 3, 20] {
        let (mut written, mut expected) = (Vec::new(), Vec::new());
        for _ in 0..count {
            written.extend(simple_query(&[b"GET", b"k"]));
            expected.extend_from_slice(&response);
        }
        send(&mut con, &written);
        let (received, ending) = read_up_to(&mut con, expected.len(), PATIENCE);
        assert!(
            received == expected,
            "{count} pipelined GETs of a 64 KiB value: {} whole responses of {count} arrived \
             ({ending})",
            received.len() / response.len()
        );
    }
}

/// GETs of a 64 KiB value that a client sends at once before half-closing its socket.
const HALF_CLOSED_QUERIES: usize = 300;

/// The hog's situation without the stall: many complete queries whose responses exceed the
/// output high-water mark, then the client's FIN. Every one of them must still be answered.
#[test]
fn a_client_that_pipelines_then_half_closes_gets_every_answer() {
    let server = TestServer::start();
    let value = hog_value();
    let mut con = server.raw();
    exchange(&mut con, &simple_query(&[b"SET", b"k", &value]), OKAY);
    send(
        &mut con,
        &simple_query(&[b"GET", b"k"]).repeat(HALF_CLOSED_QUERIES),
    );
    con.shutdown(Shutdown::Write).unwrap();
    let response = value_response(&value);
    let expected_bytes = (HALF_CLOSED_QUERIES * response.len()) as u64;
    // One byte more than expected may be read, so that an extra one shows.
    let (received, ending) = read_repeated(&mut con, response.clone(), expected_bytes + 1);
    assert_eq!(
        received.first_mismatch, None,
        "the responses differ from \"*1\\n+65536\\n<value>\\n\" (byte offset)"
    );
    assert_eq!(
        (received.received_bytes, ending.as_str()),
        (expected_bytes, "EOF"),
        "bytes read before the server closed: expected {HALF_CLOSED_QUERIES} responses of {} \
         bytes, got {} whole responses",
        response.len(),
        received.received_bytes / response.len() as u64
    );
}

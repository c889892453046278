//! Hostile input against the real binary: declared sizes near u64::MAX, and fifty clients
//! sending seeded random garbage beside five well-behaved writers. Each test checks that the
//! hostile clients receive nothing but well-framed responses (for a declaration, exactly the
//! refusal it earns, then a close), that well-behaved clients beside them are served exactly,
//! and, for the declarations, that the server's memory stays within a bound derived from its
//! per-connection buffers (src/server/connection.rs).

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::ops::Range;
use std::sync::{Arc, Barrier, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use common::entries::{assert_held, Entries};
use common::files::read_data_file;
use common::memory::{RssWatch, KIB, MIB, SERVER_INPUT_BUFFER_BYTES};
use common::server::TestServer;
use common::wire::{
    ask, assert_usable, escape, exchange, flat_array, read_up_to, send, simple_query,
    string_element, uint_response, value_response, OKAY, PACKET_ERROR, TOO_LARGE, WRONGTYPE,
};
use common::PATIENCE;

/// The number in a complete `*1\n:<len>\n<digits>\n` response.
fn uint_in(response: &[u8]) -> u64 {
    let text = std::str::from_utf8(response).ok();
    text.and_then(|text| text.strip_prefix("*1\n:"))
        .and_then(|rest| rest.split('\n').nth(1))
        .and_then(|digits| digits.parse().ok())
        .unwrap_or_else(|| panic!("not an unsigned integer response: \"{}\"", escape(response)))
}

// ---------------------------------------------------------------------------------------------
// Declared sizes near u64::MAX

/// Inputs that declare a size or count near u64::MAX, or a number past it, with nothing after
/// the declaration: each must be refused at once with exactly this response, then closed.
const HUGE_DECLARATIONS: &[(&str, &[u8], &[u8])] = &[
    ("query count", b"*18446744073709551615\n", TOO_LARGE),
    (
        "query count u64::MAX / 3",
        b"*6148914691236517205\n",
        TOO_LARGE,
    ),
    (
        "flat array count",
        b"*1\n_18446744073709551615\n",
        TOO_LARGE,
    ),
    ("array count", b"*1\n&18446744073709551615\n", TOO_LARGE),
    (
        "nested array count",
        b"*1\n&1\n&18446744073709551614\n",
        TOO_LARGE,
    ),
    (
        "flat array in an array",
        b"*1\n&2\n_18446744073709551615\n",
        TOO_LARGE,
    ),
    (
        "string in a flat array",
        b"*1\n_2\n+3\nGET\n+18446744073709551615\n",
        TOO_LARGE,
    ),
    (
        "string at top level",
        b"*1\n+18446744073709551614\n",
        TOO_LARGE,
    ),
    (
        "string in an array",
        b"*1\n&1\n+18446744073709551615\n",
        TOO_LARGE,
    ),
    (
        "string with leading zeros",
        b"*1\n_1\n+00018446744073709551615\n",
        TOO_LARGE,
    ),
    ("integer length", b"*1\n:18446744073709551615\n", TOO_LARGE),
    (
        "integer length in an array",
        b"*1\n&1\n:18446744073709551615\n",
        TOO_LARGE,
    ),
    (
        "second pipeline element",
        b"*2\n_1\n+4\nHEYA\n_18446744073709551615\n",
        TOO_LARGE,
    ),
    (
        "query count past u64",
        b"*18446744073709551616\n",
        WRONGTYPE,
    ),
    (
        "flat array count past u64",
        b"*1\n_18446744073709551616\n",
        WRONGTYPE,
    ),
    (
        "array count past u64",
        b"*1\n&99999999999999999999\n",
        WRONGTYPE,
    ),
    (
        "string length past u64",
        b"*1\n_1\n+18446744073709551616\n",
        WRONGTYPE,
    ),
    (
        "integer length past u64",
        b"*1\n:18446744073709551616\n",
        WRONGTYPE,
    ),
    (
        "integer value past u64",
        b"*1\n:20\n18446744073709551616\n",
        WRONGTYPE,
    ),
    (
        "integer value of 21 digits",
        b"*1\n:21\n184467440737095516150\n",
        WRONGTYPE,
    ),
    (
        "integer value in an array",
        b"*1\n&1\n:20\n99999999999999999999\n",
        WRONGTYPE,
    ),
];
/// Clients sending each declaration at the same time.
const CLIENTS_PER_DECLARATION: usize = 3;

#[test]
fn sizes_near_u64_max_are_refused_at_once_by_every_client() {
    let server = TestServer::start();
    let mut checker = server.raw();
    assert_usable(&mut checker);
    let baseline_kib = server.rss_kib();
    let watch = RssWatch::start(&server);

    let clients = HUGE_DECLARATIONS.len() * CLIENTS_PER_DECLARATION;
    let start = Arc::new(Barrier::new(clients));
    let failures = Arc::new(Mutex::new(Vec::new()));
    let mut workers = Vec::new();
    for client in 0..clients {
        let (name, input, response) = HUGE_DECLARATIONS[client % HUGE_DECLARATIONS.len()];
        let mut con = server.raw();
        let (start, failures) = (Arc::clone(&start), Arc::clone(&failures));
        workers.push(thread::spawn(move || {
            start.wait();
            send(&mut con, input);
            let (received, ending) = read_up_to(&mut con, response.len() + 1, PATIENCE);
            if received != response || ending != "connection closed by the server (EOF)" {
                failures.lock().unwrap().push(format!(
                    "{name} (\"{}\"): expected \"{}\" then EOF, got \"{}\" then {ending}",
                    escape(input),
                    escape(response),
                    escape(&received)
                ));
            }
        }));
    }
    for worker in workers {
        worker.join().expect("a declaring client");
    }
    let failures = failures.lock().unwrap();
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // u64::MAX itself is a valid integer element: not an action, but no reason to close.
    exchange(&mut checker, b"*1\n:20\n18446744073709551615\n", WRONGTYPE);
    assert_usable(&mut checker);

    // Arithmetic of the bound: each refused client held at most its 16 KiB input buffer, all
    // of them at once at worst (63 x 16 KiB = 1008 KiB), doubled for the allocator, plus 4 MiB
    // of slack. Allocating anything in proportion to a declared size would be gigabytes.
    let bound_kib = (clients as u64 * 2 * SERVER_INPUT_BUFFER_BYTES + 4 * MIB) / KIB;
    let growth_kib = watch.peak_kib().saturating_sub(baseline_kib);
    eprintln!(
        "declared sizes: baseline RSS {baseline_kib} KiB, growth {growth_kib} KiB, bound \
         {bound_kib} KiB"
    );
    assert!(
        growth_kib <= bound_kib,
        "server RSS grew by {growth_kib} KiB while refusing {clients} huge declarations; \
         bound {bound_kib} KiB"
    );
}

// ---------------------------------------------------------------------------------------------
// Fifty clients sending random garbage beside five well-behaved writers

const GARBAGE_CLIENTS: usize = 50;
const GOOD_CLIENTS: usize = 5;
const GARBAGE_PHASE: Duration = Duration::from_secs(4);
/// Every garbage client's generator is seeded with this plus its index; a failure names the
/// seed so the byte stream it sent can be regenerated.
const GARBAGE_SEED: u64 = 0x5eed_57a7_0b5e_0001;
/// Every key the well-behaved clients write starts with this. The garbage generator drops any
/// chunk that would put these bytes on the wire (with the end of the previous chunk), and any
/// chunk naming FLUSHDB, so garbage can neither name nor wipe a good key.
const GOOD_PREFIX: &[u8] = b"GOOD-";
const FORBIDDEN_ACTION: &[u8] = b"FLUSHDB";

/// SplitMix64: a small, seeded, well-mixed generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut mixed = self.0;
        mixed = (mixed ^ (mixed >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        mixed = (mixed ^ (mixed >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        mixed ^ (mixed >> 31)
    }

    /// Uniform in `0..bound` (bound > 0).
    fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    fn bytes(&mut self, count: usize) -> Vec<u8> {
        (0..count).map(|_| self.next() as u8).collect()
    }
}

/// Actions the garbage generator names (everything but FLUSHDB and MKSNAP).
const GARBAGE_ACTIONS: &[&[u8]] = &[
    b"GET", b"SET", b"UPDATE", b"DEL", b"HEYA", b"EXISTS", b"MSET", b"MGET", b"MUPDATE", b"SSET",
    b"SDEL", b"SUPDATE", b"DBSIZE", b"USET", b"KEYLEN", b"LSKEYS", b"POP", b"SYS", b"get", b"NOPE",
];
/// Numbers a mutation writes into a count or size line.
const HUGE_NUMBERS: &[&[u8]] = &[
    b"18446744073709551615",
    b"18446744073709551616",
    b"9223372036854775808",
    b"99999999999999999999999",
    b"4294967296",
    b"536870912",
    b"00000000000000000000000000000000001",
    b"",
    b"-1",
    b"1e9",
];

/// A garbage key or value: short, from a lowercase alphabet, or a few random bytes.
fn garbage_word(rng: &mut Rng) -> Vec<u8> {
    if rng.below(4) == 0 {
        let count = rng.below(6);
        return rng.bytes(count);
    }
    let count = 1 + rng.below(8);
    (0..count)
        .map(|_| *rng.pick(b"abcdefghij0123456789"))
        .collect()
}

/// A valid Skyhash query: one to three elements, mostly actions, sometimes a string, an
/// integer or an array in action position.
fn valid_garbage_query(rng: &mut Rng) -> Vec<u8> {
    let elements = 1 + rng.below(3);
    let mut query = format!("*{elements}\n").into_bytes();
    for _ in 0..elements {
        match rng.below(10) {
            0 => query.extend(string_element(&garbage_word(rng))),
            1 => {
                let number = rng.next().to_string();
                query.extend(format!(":{}\n{number}\n", number.len()).into_bytes());
            }
            2 => {
                query.extend_from_slice(b"&2\n");
                query.extend(string_element(&garbage_word(rng)));
                query.extend(flat_array(&[b"x"]));
            }
            _ => {
                let mut args = vec![rng.pick(GARBAGE_ACTIONS).to_vec()];
                for _ in 0..rng.below(5) {
                    args.push(garbage_word(rng));
                }
                let args: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
                query.extend(flat_array(&args));
            }
        }
    }
    query
}

/// Start offsets of lines that look like `<symbol><digits>\n` headers.
fn header_starts(bytes: &[u8]) -> Vec<usize> {
    (0..bytes.len())
        .filter(|&at| (at == 0 || bytes[at - 1] == b'\n') && b"*_+&:".contains(&bytes[at]))
        .collect()
}

/// Damages a query in one of several ways.
fn mutate(rng: &mut Rng, query: &mut Vec<u8>) {
    if query.is_empty() {
        return;
    }
    match rng.below(8) {
        // Flip a type symbol or a line feed to another symbol.
        0 => {
            let symbols: Vec<usize> = (0..query.len())
                .filter(|&at| b"*_+&:!\n".contains(&query[at]))
                .collect();
            if !symbols.is_empty() {
                let at = *rng.pick(&symbols);
                query[at] = *rng.pick(b"*_+&:!$~\n\r0 ?");
            }
        }
        // A wrong size or count: off by one, zero, random, or huge.
        1 | 2 => {
            let starts = header_starts(query);
            if starts.is_empty() {
                return;
            }
            let start = *rng.pick(&starts) + 1;
            let end = query[start..]
                .iter()
                .position(|&byte| byte == b'\n')
                .map_or(query.len(), |at| start + at);
            let old: u64 = std::str::from_utf8(&query[start..end])
                .ok()
                .and_then(|digits| digits.parse().ok())
                .unwrap_or(0);
            let new = match rng.below(4) {
                0 => old.saturating_add(1).to_string().into_bytes(),
                1 => old.saturating_sub(1).to_string().into_bytes(),
                2 => rng.below(100_000).to_string().into_bytes(),
                _ => rng.pick(HUGE_NUMBERS).to_vec(),
            };
            query.splice(start..end, new);
        }
        // A missing line feed.
        3 => {
            let feeds: Vec<usize> = (0..query.len()).filter(|&at| query[at] == b'\n').collect();
            if !feeds.is_empty() {
                query.remove(*rng.pick(&feeds));
            }
        }
        // A huge count on the query itself.
        4 => {
            let end = query
                .iter()
                .position(|&byte| byte == b'\n')
                .unwrap_or(query.len());
            let mut line = b"*".to_vec();
            let number = *rng.pick(HUGE_NUMBERS);
            line.extend_from_slice(number);
            query.splice(0..end, line);
        }
        // A random byte replaced, inserted or removed.
        5 => {
            let at = rng.below(query.len());
            query[at] = rng.next() as u8;
        }
        6 => {
            let at = rng.below(query.len() + 1);
            let count = 1 + rng.below(4);
            let bytes = rng.bytes(count);
            query.splice(at..at, bytes);
        }
        _ => {
            let at = rng.below(query.len());
            query.truncate(at);
        }
    }
}

/// The next piece of garbage: pure random bytes, a valid query, or a damaged one.
fn garbage_chunk(rng: &mut Rng) -> Vec<u8> {
    match rng.below(8) {
        0 => {
            let count = 1 + rng.below(512);
            rng.bytes(count)
        }
        1..=3 => valid_garbage_query(rng),
        _ => {
            let mut query = valid_garbage_query(rng);
            for _ in 0..1 + rng.below(3) {
                mutate(rng, &mut query);
            }
            query
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window.eq_ignore_ascii_case(needle))
}

/// Garbage to send next, given the last bytes sent on this connection: never one that would
/// put the good keys' prefix or FLUSHDB on the wire.
fn safe_garbage_chunk(rng: &mut Rng, previous_tail: &[u8]) -> Vec<u8> {
    loop {
        let chunk = garbage_chunk(rng);
        let joined = [previous_tail, &chunk].concat();
        if !contains(&joined, GOOD_PREFIX) && !contains(&joined, FORBIDDEN_ACTION) {
            return chunk;
        }
    }
}

/// A non-empty run of ASCII digits as a number.
fn decimal(digits: &[u8]) -> Option<usize> {
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// Where one complete response element ends, starting at `at`: Ok(None) if `bytes` ends
/// first, Err if it is not well formed.
fn response_element_end(bytes: &[u8], at: usize) -> Result<Option<usize>, String> {
    let Some(&symbol) = bytes.get(at) else {
        return Ok(None);
    };
    let Some(feed) = bytes[at..].iter().position(|&byte| byte == b'\n') else {
        return Ok(None);
    };
    let number = decimal(&bytes[at + 1..at + feed]).ok_or_else(|| {
        format!(
            "bad header \"{}\" at {at}",
            escape(&bytes[at..at + feed + 1])
        )
    })?;
    let body = at + feed + 1;
    match symbol {
        b'+' | b'!' | b':' => {
            let Some(&terminator) = bytes.get(body + number) else {
                return Ok(None);
            };
            if terminator != b'\n' {
                return Err(format!("payload at {body} not followed by LF"));
            }
            let payload = &bytes[body..body + number];
            if symbol != b'+' && (payload.is_empty() || payload.contains(&b'\n')) {
                return Err(format!("bad code or integer at {body}"));
            }
            if symbol == b':' && !payload.iter().all(u8::is_ascii_digit) {
                return Err(format!("integer with a non-digit at {body}"));
            }
            Ok(Some(body + number + 1))
        }
        b'&' | b'_' => {
            let mut next = body;
            for _ in 0..number {
                if symbol == b'_' && bytes.get(next).is_some_and(|&byte| byte != b'+') {
                    return Err(format!("a flat array holds a non-string at {next}"));
                }
                match response_element_end(bytes, next)? {
                    Some(end) => next = end,
                    None => return Ok(None),
                }
            }
            Ok(Some(next))
        }
        other => Err(format!("unknown element type 0x{other:02x} at {at}")),
    }
}

/// Splits a received byte stream into complete responses (`*N\n` and N elements); Err names
/// the first malformed or incomplete one.
fn split_responses(bytes: &[u8]) -> Result<Vec<Range<usize>>, String> {
    let mut responses = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let incomplete = || format!("incomplete response from byte {at}");
        let feed = bytes[at..]
            .iter()
            .position(|&byte| byte == b'\n')
            .ok_or_else(incomplete)?;
        let count = decimal(&bytes[at + 1..at + feed])
            .filter(|&count| bytes[at] == b'*' && count > 0)
            .ok_or_else(|| format!("bad response header at byte {at}"))?;
        let mut next = at + feed + 1;
        for _ in 0..count {
            next = response_element_end(bytes, next)?.ok_or_else(incomplete)?;
        }
        responses.push(at..next);
        at = next;
    }
    Ok(responses)
}

/// Checks one connection's received bytes: complete, well-formed responses only, and if the
/// server closed the connection while we were still sending, the last one is a protocol error.
fn check_received(received: &[u8], closed_while_sending: bool) -> Result<usize, String> {
    let responses = split_responses(received)?;
    if closed_while_sending {
        let last = responses.last().map(|range| &received[range.clone()]);
        if !matches!(last, Some(last) if [PACKET_ERROR, WRONGTYPE, TOO_LARGE].contains(&last)) {
            return Err(format!(
                "closed without a protocol error as its last response (last: {:?})",
                last.map(escape)
            ));
        }
    }
    Ok(responses.len())
}

/// The checker above must not be vacuous: it accepts real response streams and rejects broken
/// framing, incomplete endings and a close without a protocol error.
#[test]
fn the_garbage_clients_response_checker_rejects_what_it_should() {
    let stream = b"*1\n!1\n0\n*2\n+3\nab\n\n&2\n+1\na\n!1\n1\n*1\n_1\n+0\n\n*1\n:2\n42\n";
    assert_eq!(check_received(stream, false), Ok(4));
    let mut closed = stream.to_vec();
    closed.extend_from_slice(TOO_LARGE);
    assert_eq!(check_received(&closed, true), Ok(5));
    for (broken, closed_while_sending) in [
        (&stream[..stream.len() - 1], false),
        (&b"*1\n+3\nabcd\n"[..], false),
        (b"*1\n!1\n0\n*0\n", false),
        (b"*1\n_1\n:1\n1\n", false),
        (b"*1\n:1\nx\n", false),
        (b"*1\n~1\n+1\na\n", false),
        (b"+1\na\n", false),
        (b"*1\n+-1\n\n", false),
        (OKAY, true),
        (b"", true),
    ] {
        assert!(
            check_received(broken, closed_while_sending).is_err(),
            "accepted \"{}\" (closed while sending: {closed_while_sending})",
            escape(broken)
        );
    }
}

#[derive(Default, Debug)]
struct GarbageTally {
    connections: usize,
    closed_by_server: usize,
    bytes_sent: usize,
    responses: usize,
}

/// Reads what is there without blocking; true once the server closed (EOF or reset).
fn read_available(con: &mut TcpStream, received: &mut Vec<u8>) -> Result<bool, String> {
    let mut chunk = [0u8; 16 * 1024];
    loop {
        match con.read(&mut chunk) {
            Ok(0) => return Ok(true),
            Ok(count) => received.extend_from_slice(&chunk[..count]),
            Err(error) if error.kind() == ErrorKind::WouldBlock => return Ok(false),
            Err(error) if error.kind() == ErrorKind::Interrupted => {}
            Err(error) if error.kind() == ErrorKind::ConnectionReset => return Ok(true),
            Err(error) => return Err(format!("read error: {error}")),
        }
    }
}

/// Reads until the server closes, for up to `PATIENCE`.
fn read_to_close(con: &mut TcpStream, received: &mut Vec<u8>) -> Result<(), String> {
    con.set_nonblocking(false).unwrap();
    con.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        match con.read(&mut chunk) {
            Ok(0) => return Ok(()),
            Ok(count) => received.extend_from_slice(&chunk[..count]),
            Err(error) if error.kind() == ErrorKind::Interrupted => {}
            Err(error) if error.kind() == ErrorKind::ConnectionReset => return Ok(()),
            Err(error) => return Err(format!("waiting for the server to close: {error}")),
        }
    }
}

/// One garbage client: connects, sends garbage in small chunks while reading whatever comes
/// back, reconnects whenever the server closes it, and at `deadline` half-closes and reads to
/// the end. Every connection's received bytes are checked with [`check_received`].
fn run_garbage_client(server: (String, u16), seed: u64, deadline: Instant) -> GarbageTally {
    let mut rng = Rng(seed);
    let mut tally = GarbageTally::default();
    while Instant::now() < deadline {
        let mut con = TcpStream::connect((server.0.as_str(), server.1))
            .unwrap_or_else(|error| panic!("garbage client {seed:#x}: connect: {error}"));
        con.set_nodelay(true).unwrap();
        con.set_nonblocking(true).unwrap();
        tally.connections += 1;
        let mut received = Vec::new();
        let mut tail: Vec<u8> = Vec::new();
        let mut closed_while_sending = false;
        let fail = |what: String, received: &[u8]| -> ! {
            panic!(
                "garbage client seed {seed:#x}, connection {}: {what}; received {} bytes: \"{}\"",
                tally.connections,
                received.len(),
                escape(&received[received.len().saturating_sub(400)..])
            )
        };
        while Instant::now() < deadline {
            let chunk = safe_garbage_chunk(&mut rng, &tail);
            // What does not fit into the socket now is dropped: it is garbage anyway.
            match con.write(&chunk) {
                Ok(count) => {
                    tally.bytes_sent += count;
                    tail.extend_from_slice(&chunk[..count]);
                    let keep = tail.len().saturating_sub(FORBIDDEN_ACTION.len());
                    tail.drain(..keep);
                }
                Err(error)
                    if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => {}
                Err(error)
                    if matches!(
                        error.kind(),
                        ErrorKind::BrokenPipe | ErrorKind::ConnectionReset
                    ) =>
                {
                    closed_while_sending = true;
                    break;
                }
                Err(error) => fail(format!("write error: {error}"), &received),
            }
            match read_available(&mut con, &mut received) {
                Ok(true) => {
                    closed_while_sending = true;
                    break;
                }
                Ok(false) => {}
                Err(what) => fail(what, &received),
            }
            thread::sleep(Duration::from_millis(2));
        }
        if !closed_while_sending {
            let _ = con.shutdown(Shutdown::Write);
        } else {
            tally.closed_by_server += 1;
        }
        if let Err(what) = read_to_close(&mut con, &mut received) {
            fail(what, &received);
        }
        match check_received(&received, closed_while_sending) {
            Ok(responses) => tally.responses += responses,
            Err(what) => fail(what, &received),
        }
    }
    tally
}

/// One well-behaved client: SET, USET of two keys, MSET of three, in turn, on fresh keys under
/// [`GOOD_PREFIX`], plus a GET of an earlier key every fifth operation; every answer checked
/// exactly. Returns what it wrote.
fn run_good_client(server: &TestServer, client: usize, deadline: Instant) -> JoinHandle<Entries> {
    let mut con = server.raw();
    thread::spawn(move || {
        let mut written = Entries::new();
        let mut fresh = 0usize;
        let mut next_entry = || {
            fresh += 1;
            let key = [GOOD_PREFIX, format!("{client}-{fresh:06}").as_bytes()].concat();
            let mut value = format!("good {client} {fresh} ").into_bytes();
            value.extend((0..fresh % 40).map(|at| (at * 37 + fresh) as u8));
            (key, value)
        };
        let mut operation = 0usize;
        while Instant::now() < deadline {
            let pairs: Vec<(Vec<u8>, Vec<u8>)> = (0..[1, 2, 3][operation % 3])
                .map(|_| next_entry())
                .collect();
            let action: &[u8] = [&b"SET"[..], b"USET", b"MSET"][operation % 3];
            let mut args: Vec<&[u8]> = vec![action];
            for (key, value) in &pairs {
                args.push(key);
                args.push(value);
            }
            let expected = if pairs.len() == 1 {
                OKAY.to_vec()
            } else {
                uint_response(pairs.len() as u64)
            };
            exchange(&mut con, &simple_query(&args), &expected);
            written.extend(pairs);
            if operation % 5 == 4 {
                let (key, value) = written.iter().nth(operation % written.len()).unwrap();
                exchange(
                    &mut con,
                    &simple_query(&[b"GET", key]),
                    &value_response(value),
                );
            }
            operation += 1;
        }
        written
    })
}

#[test]
fn random_garbage_from_fifty_clients_leaves_good_writes_intact() {
    let mut server = TestServer::start();
    let deadline = Instant::now() + GARBAGE_PHASE;
    let address = (server.host.clone(), server.port);
    let garbage: Vec<JoinHandle<GarbageTally>> = (0..GARBAGE_CLIENTS)
        .map(|client| {
            let address = address.clone();
            let seed = GARBAGE_SEED + client as u64;
            thread::spawn(move || run_garbage_client(address, seed, deadline))
        })
        .collect();
    let good: Vec<JoinHandle<Entries>> = (0..GOOD_CLIENTS)
        .map(|client| run_good_client(&server, client, deadline))
        .collect();

    let mut expected = Entries::new();
    for (client, worker) in good.into_iter().enumerate() {
        let written = worker
            .join()
            .unwrap_or_else(|_| panic!("good client {client} got a wrong answer (see above)"));
        expected.extend(written);
    }
    let mut total = GarbageTally::default();
    let mut failed = Vec::new();
    for (client, worker) in garbage.into_iter().enumerate() {
        match worker.join() {
            Ok(tally) => {
                total.connections += tally.connections;
                total.closed_by_server += tally.closed_by_server;
                total.bytes_sent += tally.bytes_sent;
                total.responses += tally.responses;
            }
            Err(_) => failed.push(client),
        }
    }
    eprintln!(
        "garbage: {total:?}; good clients wrote {} keys",
        expected.len()
    );
    assert!(
        failed.is_empty(),
        "garbage clients {failed:?} received something other than well-framed responses \
         (see their panics above)"
    );
    assert!(
        total.closed_by_server > 0 && total.responses > 0,
        "the garbage should have provoked answers and closes: {total:?}"
    );

    assert!(server.is_running(), "the server died under garbage");
    let mut checker = server.raw();
    assert_usable(&mut checker);
    let dbsize = uint_in(&ask(&mut checker, &[b"DBSIZE"]));
    assert!(
        dbsize >= expected.len() as u64,
        "DBSIZE {dbsize} is less than the {} keys the good clients wrote",
        expected.len()
    );
    assert_held(&mut checker, &expected);
    drop(checker);

    server.stop_cleanly();
    let saved = read_data_file(&server.data_file());
    let missing: Vec<String> = expected
        .iter()
        .filter(|(key, value)| saved.get(*key) != Some(value))
        .map(|(key, _)| escape(key))
        .take(10)
        .collect();
    assert!(
        missing.is_empty(),
        "data.bin lacks or changed good keys (first 10): {missing:?}"
    );
    let saved_good = saved
        .keys()
        .filter(|key| key.starts_with(GOOD_PREFIX))
        .count();
    assert_eq!(
        saved_good,
        expected.len(),
        "keys under the good prefix in data.bin"
    );
}

//! Raw Skyhash 1.0 bytes: sending, expecting exact bytes (or silence, or EOF), building queries
//! and responses, and reading one response whose length is not known in advance. Every byte a
//! test expects is written out here or in the test, never produced by `stratus::protocol`;
//! the reader only finds where a response ends, and assertions compare the exact bytes.
//! Every helper takes any [`Stream`]: a TCP connection, or a TLS one (`tls::TlsClient`).

use std::io::{self, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use super::{PATIENCE, SILENCE};

/// A client connection the helpers can read with a deadline.
pub trait Stream: Read + Write {
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()>;
}

impl Stream for TcpStream {
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        TcpStream::set_read_timeout(self, timeout)
    }
}

/// Writes all bytes.
pub fn send(stream: &mut impl Stream, bytes: &[u8]) {
    stream
        .write_all(bytes)
        .unwrap_or_else(|error| panic!("write of {} bytes failed: {error}", bytes.len()));
}

/// Renders bytes as an escaped string (`\n`, `\xff`, ...).
pub fn escape(bytes: &[u8]) -> String {
    bytes.escape_ascii().to_string()
}

/// Escaped rendering that stays readable for large buffers: short buffers in full, long ones
/// as a window around `focus`.
fn escape_around(bytes: &[u8], focus: usize) -> String {
    const WINDOW: usize = 120;
    if bytes.len() <= 2 * WINDOW {
        return format!("\"{}\"", escape(bytes));
    }
    let start = focus.saturating_sub(WINDOW / 2).min(bytes.len());
    let end = (start + WINDOW).min(bytes.len());
    format!(
        "[{} bytes] ...\"{}\"... (bytes {start}..{end})",
        bytes.len(),
        escape(&bytes[start..end])
    )
}

/// Reads up to `count` bytes (fewer on EOF, error or timeout); never reads past `count`.
/// Interrupted reads are retried within the same deadline.
pub fn read_up_to(stream: &mut impl Stream, count: usize, timeout: Duration) -> (Vec<u8>, String) {
    let deadline = Instant::now() + timeout;
    let mut received = Vec::with_capacity(count);
    let mut chunk = vec![0u8; 64 * 1024];
    let ending = loop {
        if received.len() >= count {
            break String::from("complete");
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break format!("timed out after {timeout:?}");
        }
        stream.set_read_timeout(Some(left)).unwrap();
        let wanted = (count - received.len()).min(chunk.len());
        match stream.read(&mut chunk[..wanted]) {
            Ok(0) => break String::from("connection closed by the server (EOF)"),
            Ok(read) => received.extend_from_slice(&chunk[..read]),
            Err(error) if error.kind() == ErrorKind::Interrupted => {}
            Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                break format!("timed out after {timeout:?}");
            }
            Err(error) => break format!("read error: {error}"),
        }
    };
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    (received, ending)
}

/// Reads exactly `expected.len()` bytes (waiting up to 10 s) and asserts they equal `expected`.
pub fn expect_exact(stream: &mut impl Stream, expected: &[u8]) {
    let (received, ending) = read_up_to(stream, expected.len(), PATIENCE);
    if received != expected {
        let first_difference = received
            .iter()
            .zip(expected)
            .position(|(a, b)| a != b)
            .unwrap_or(received.len().min(expected.len()));
        panic!(
            "response mismatch ({ending}); first difference at byte {first_difference}\n\
             expected: {}\n  actual: {}",
            escape_around(expected, first_difference),
            escape_around(&received, first_difference),
        );
    }
}

/// Asserts the server closes the connection within 10 s without sending anything more.
/// A reset (the server closed with our bytes still unread) also counts as closed.
pub fn expect_eof(stream: &mut impl Stream) {
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut buffer = [0u8; 1024];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => return,
            Ok(read) => panic!(
                "expected the server to close the connection, got more bytes: \"{}\"",
                escape(&buffer[..read])
            ),
            Err(error) if error.kind() == ErrorKind::Interrupted => {}
            Err(error) if error.kind() == ErrorKind::ConnectionReset => return,
            Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                panic!("the server did not close the connection within {PATIENCE:?}")
            }
            Err(error) => panic!("expected EOF, got read error: {error}"),
        }
    }
}

/// Asserts nothing arrives (and the connection is not closed) for `SILENCE`.
/// A timed read can be interrupted (EINTR) on a loaded machine; it is retried until the window
/// has passed.
pub fn expect_silence(stream: &mut impl Stream) {
    let deadline = Instant::now() + SILENCE;
    let mut buffer = [0u8; 1024];
    let outcome = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break Ok(None);
        }
        stream.set_read_timeout(Some(left)).unwrap();
        match stream.read(&mut buffer) {
            Err(error) if error.kind() == ErrorKind::Interrupted => {}
            Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                break Ok(None);
            }
            Err(error) => break Err(error),
            Ok(read) => break Ok(Some(read)),
        }
    };
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    match outcome {
        Ok(None) => {}
        Ok(Some(0)) => panic!("expected silence, but the server closed the connection"),
        Ok(Some(read)) => panic!(
            "expected no response yet, got \"{}\"",
            escape(&buffer[..read])
        ),
        Err(error) => panic!("expected silence, got read error: {error}"),
    }
}

/// Sends `query` and asserts the response is exactly `expected`.
pub fn exchange(stream: &mut impl Stream, query: &[u8], expected: &[u8]) {
    send(stream, query);
    expect_exact(stream, expected);
}

/// `*1\n!1\n0\n`: Okay.
pub const OKAY: &[u8] = b"*1\n!1\n0\n";
/// `*1\n!1\n1\n`: Nil (no such key).
pub const NIL: &[u8] = b"*1\n!1\n1\n";
/// `*1\n!1\n3\n`: action error (wrong number of arguments).
pub const ACTION_ERROR: &[u8] = b"*1\n!1\n3\n";
/// `*1\n!1\n5\n`: server error (a poisoned server refusing a write).
pub const SERVER_ERROR: &[u8] = b"*1\n!1\n5\n";
/// `*1\n!1\n4\n`: the answer to input that cannot be framed (then the server closes).
pub const PACKET_ERROR: &[u8] = b"*1\n!1\n4\n";
/// `*1\n!1\n7\n`: a bad count, size or integer, or an unknown element type.
pub const WRONGTYPE: &[u8] = b"*1\n!1\n7\n";
/// A query declared or received beyond `--max-query-size`.
pub const TOO_LARGE: &[u8] = b"*1\n!19\nerr-query-too-large\n";

/// The query `HEYA`.
pub const HEYA: &[u8] = b"*1\n_1\n+4\nHEYA\n";
/// The answer to `HEYA`.
pub const HEY: &[u8] = b"*1\n+4\nHEY!\n";

/// Asserts the connection still works: HEYA is answered with HEY!.
pub fn assert_usable(stream: &mut impl Stream) {
    exchange(stream, HEYA, HEY);
}

/// The flat-array element `_N\n+len\narg\n...` for the given arguments.
pub fn flat_array(args: &[&[u8]]) -> Vec<u8> {
    let mut bytes = format!("_{}\n", args.len()).into_bytes();
    for arg in args {
        bytes.extend_from_slice(format!("+{}\n", arg.len()).as_bytes());
        bytes.extend_from_slice(arg);
        bytes.push(b'\n');
    }
    bytes
}

/// A simple query `*1\n` + flat array, exactly as the skytable client encodes it.
pub fn simple_query(args: &[&[u8]]) -> Vec<u8> {
    let mut bytes = b"*1\n".to_vec();
    bytes.extend(flat_array(args));
    bytes
}

/// The string response element `+len\nbytes\n`.
pub fn string_element(value: &[u8]) -> Vec<u8> {
    let mut bytes = format!("+{}\n", value.len()).into_bytes();
    bytes.extend_from_slice(value);
    bytes.push(b'\n');
    bytes
}

/// A complete simple response: `*1\n` + element.
pub fn simple_response(element: &[u8]) -> Vec<u8> {
    let mut bytes = b"*1\n".to_vec();
    bytes.extend_from_slice(element);
    bytes
}

/// The complete response `*1\n:<digits>\n<n>\n`.
pub fn uint_response(n: u64) -> Vec<u8> {
    let digits = n.to_string();
    simple_response(format!(":{}\n{digits}\n", digits.len()).as_bytes())
}

/// The complete response carrying one string (GET of an existing key).
pub fn value_response(value: &[u8]) -> Vec<u8> {
    simple_response(&string_element(value))
}

/// Reads one `\n`-terminated line (the `\n` included), failing the test on EOF or timeout.
fn read_line(stream: &mut impl Stream) -> Vec<u8> {
    let mut line = Vec::new();
    while line.last() != Some(&b'\n') {
        let (byte, ending) = read_up_to(stream, 1, PATIENCE);
        assert_eq!(
            byte.len(),
            1,
            "reading a response line ({ending}); got so far: \"{}\"",
            escape(&line)
        );
        line.extend_from_slice(&byte);
    }
    line
}

/// The number after the type symbol of a header line such as `+12\n`.
fn header_number(line: &[u8]) -> usize {
    std::str::from_utf8(&line[1..line.len() - 1])
        .ok()
        .and_then(|digits| digits.parse().ok())
        .unwrap_or_else(|| panic!("bad response header \"{}\"", escape(line)))
}

/// Reads one response element (strings, codes, integers, arrays) and appends its bytes.
fn read_element(stream: &mut impl Stream, out: &mut Vec<u8>) {
    let header = read_line(stream);
    out.extend_from_slice(&header);
    let number = header_number(&header);
    match header[0] {
        b'+' | b'!' | b':' => {
            let (body, ending) = read_up_to(stream, number + 1, PATIENCE);
            assert_eq!(
                body.len(),
                number + 1,
                "reading a response element ({ending})"
            );
            out.extend_from_slice(&body);
        }
        b'&' | b'_' => {
            for _ in 0..number {
                read_element(stream, out);
            }
        }
        _ => panic!("unexpected response element \"{}\"", escape(&header)),
    }
}

/// Reads one complete simple response (`*1\n` and its element) and returns its bytes.
pub fn read_response(stream: &mut impl Stream) -> Vec<u8> {
    let mut response = read_line(stream);
    assert_eq!(response, b"*1\n", "a simple response starts with *1");
    read_element(stream, &mut response);
    response
}

/// Reads one complete response, simple or pipelined (`*N\n` and its N elements).
pub fn read_any_response(stream: &mut impl Stream) -> Vec<u8> {
    let mut response = read_line(stream);
    assert_eq!(response[0], b'*', "a response starts with *N");
    for _ in 0..header_number(&response) {
        read_element(stream, &mut response);
    }
    response
}

/// Sends one action and returns its complete response.
pub fn ask(stream: &mut impl Stream, args: &[&[u8]]) -> Vec<u8> {
    send(stream, &simple_query(args));
    read_response(stream)
}

/// The strings of a response `*1\n_<n>\n` followed by n string elements.
pub fn flat_array_strings(response: &[u8]) -> Vec<Vec<u8>> {
    let malformed = || panic!("not a flat array of strings: \"{}\"", escape(response));
    let Some(rest) = response.strip_prefix(b"*1\n_") else {
        malformed()
    };
    let mut lines = rest;
    let take_line = |lines: &mut &[u8]| -> Vec<u8> {
        let end = lines
            .iter()
            .position(|&b| b == b'\n')
            .unwrap_or_else(|| malformed());
        let line = lines[..end].to_vec();
        *lines = &lines[end + 1..];
        line
    };
    let count: usize = String::from_utf8(take_line(&mut lines))
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or_else(|| malformed());
    let mut strings = Vec::with_capacity(count);
    for _ in 0..count {
        let header = take_line(&mut lines);
        if header.first() != Some(&b'+') {
            malformed();
        }
        let len: usize = std::str::from_utf8(&header[1..])
            .ok()
            .and_then(|digits| digits.parse().ok())
            .unwrap_or_else(|| malformed());
        if lines.len() < len + 1 || lines[len] != b'\n' {
            malformed();
        }
        strings.push(lines[..len].to_vec());
        lines = &lines[len + 1..];
    }
    if !lines.is_empty() {
        malformed();
    }
    strings
}

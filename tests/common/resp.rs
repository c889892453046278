//! Raw RESP2 bytes for the tests of the Redis listener: requests written out byte by byte,
//! one reply read by its own framing (never by `stratus::resp`), exact comparisons, and the
//! external Redis tools, found on the `PATH` or failing the test with what to install.

use std::io::Read;
use std::net::TcpStream;
use std::path::PathBuf;

use super::wire::{escape, expect_exact, send};

/// A multibulk request, as redis-cli sends one.
pub fn request(parts: &[&[u8]]) -> Vec<u8> {
    let mut bytes = format!("*{}\r\n", parts.len()).into_bytes();
    for part in parts {
        bytes.extend_from_slice(format!("${}\r\n", part.len()).as_bytes());
        bytes.extend_from_slice(part);
        bytes.extend_from_slice(b"\r\n");
    }
    bytes
}

/// A bulk reply.
pub fn bulk(value: &[u8]) -> Vec<u8> {
    let mut bytes = format!("${}\r\n", value.len()).into_bytes();
    bytes.extend_from_slice(value);
    bytes.extend_from_slice(b"\r\n");
    bytes
}

/// Sends `parts` as one request and expects exactly `reply`.
pub fn exchange(stream: &mut TcpStream, parts: &[&[u8]], reply: &[u8]) {
    send(stream, &request(parts));
    expect_exact(stream, reply);
}

fn read_byte(stream: &mut TcpStream, so_far: &[u8]) -> u8 {
    let mut byte = [0u8];
    match stream.read(&mut byte) {
        Ok(1) => byte[0],
        other => panic!("reply cut short ({other:?}) after \"{}\"", escape(so_far)),
    }
}

/// Reads one complete reply of any type (arrays with their elements) and returns its bytes.
pub fn read_reply(stream: &mut TcpStream) -> Vec<u8> {
    let mut reply = Vec::new();
    read_into(stream, &mut reply);
    reply
}

fn read_into(stream: &mut TcpStream, reply: &mut Vec<u8>) {
    let kind = read_byte(stream, reply);
    reply.push(kind);
    let start = reply.len() - 1;
    let line = read_line_after(stream, reply, start);
    match kind {
        b'+' | b'-' | b':' => {}
        b'$' => {
            let len: i64 = line.parse().expect("a bulk length");
            if len >= 0 {
                let mut body = vec![0u8; len as usize + 2];
                stream.read_exact(&mut body).expect("a bulk's bytes");
                reply.extend_from_slice(&body);
            }
        }
        b'*' => {
            let count: i64 = line.parse().expect("an array length");
            for _ in 0..count.max(0) {
                read_into(stream, reply);
            }
        }
        other => panic!(
            "not a RESP2 reply type: {:?} in \"{}\"",
            other as char,
            escape(reply)
        ),
    }
}

/// The rest of a line whose type byte is already in `reply` at `start`.
fn read_line_after(stream: &mut TcpStream, reply: &mut Vec<u8>, start: usize) -> String {
    while !(reply.len() >= start + 3 && reply.ends_with(b"\r\n")) {
        let byte = read_byte(stream, reply);
        reply.push(byte);
    }
    String::from_utf8_lossy(&reply[start + 1..reply.len() - 2]).into_owned()
}

/// Sends one request and returns its reply.
pub fn ask(stream: &mut TcpStream, parts: &[&[u8]]) -> Vec<u8> {
    send(stream, &request(parts));
    read_reply(stream)
}

/// The bulk strings of a flat array reply, in order.
pub fn array_bulks(reply: &[u8]) -> Vec<Vec<u8>> {
    let text = reply;
    let first_end = text
        .windows(2)
        .position(|w| w == b"\r\n")
        .expect("a header");
    assert_eq!(text[0], b'*', "an array: \"{}\"", escape(reply));
    let count: usize = std::str::from_utf8(&text[1..first_end])
        .unwrap()
        .parse()
        .unwrap();
    let mut rest = &text[first_end + 2..];
    let mut items = Vec::with_capacity(count);
    for _ in 0..count {
        assert_eq!(rest[0], b'$', "bulks only: \"{}\"", escape(reply));
        let end = rest.windows(2).position(|w| w == b"\r\n").unwrap();
        let len: usize = std::str::from_utf8(&rest[1..end]).unwrap().parse().unwrap();
        items.push(rest[end + 2..end + 2 + len].to_vec());
        rest = &rest[end + 4 + len..];
    }
    assert!(rest.is_empty(), "trailing bytes after the array");
    items
}

/// The path of an external tool CI installs (`redis-tools`, `nutcracker`): a test that needs
/// one fails, saying what to install, rather than passing without it.
pub fn required_tool(name: &str, package: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let found = std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/usr/bin".into()])
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file());
    found.unwrap_or_else(|| {
        panic!("{name} is not installed: `apt-get install -y {package}` (.ci/run installs it)")
    })
}

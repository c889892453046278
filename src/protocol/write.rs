//! Skyhash 1.0 response encoding: appends response elements to a [`Sink`].
//!
//! Every function writes one complete, LF-terminated element (or a container header whose
//! elements the caller writes next). Nothing here allocates beyond growing the output, and
//! nothing does I/O: the server decides when the output reaches the socket.

use std::sync::Arc;

use super::ResponseCode;
pub use crate::sink::Sink;
use crate::sink::{decimal, U64_MAX_DIGITS};

/// `*<count>\n`: the header of a response to a query with `count` elements.
pub fn query_header(out: &mut impl Sink, count: usize) {
    header(out, b'*', count as u64);
}

/// `!1\n<code>\n`.
pub fn code(out: &mut impl Sink, code: ResponseCode) {
    out.put(&[b'!', b'1', b'\n', b'0' + code as u8, b'\n']);
}

/// `!<len>\n<text>\n`: an error described by text, such as `Unknown action`.
pub fn error_text(out: &mut impl Sink, text: &str) {
    header(out, b'!', text.len() as u64);
    out.put(text.as_bytes());
    out.put_byte(b'\n');
}

/// `+<len>\n<bytes>\n`.
pub fn string(out: &mut impl Sink, bytes: &[u8]) {
    header(out, b'+', bytes.len() as u64);
    out.put(bytes);
    out.put_byte(b'\n');
}

/// A shared value as a string, `+<len>\n<bytes>\n`, the bytes queued without a copy.
pub fn shared_string(out: &mut impl Sink, value: &Arc<[u8]>) {
    header(out, b'+', value.len() as u64);
    out.put_shared(value);
    out.put_byte(b'\n');
}

/// The most bytes a string element takes besides its content: `+`, up to 20 digits, two LFs.
pub const STRING_FRAMING_BYTES: usize = 1 + U64_MAX_DIGITS + 2;

/// `:<digit count>\n<digits>\n`.
pub fn unsigned(out: &mut impl Sink, value: u64) {
    let mut digits = [0u8; U64_MAX_DIGITS];
    let text = decimal(value, &mut digits);
    header(out, b':', text.len() as u64);
    out.put(text);
    out.put_byte(b'\n');
}

/// `&<count>\n`: the caller then writes `count` elements of any type.
pub fn array_header(out: &mut impl Sink, count: usize) {
    header(out, b'&', count as u64);
}

/// `_<count>\n`: the caller then writes `count` strings.
pub fn flat_array_header(out: &mut impl Sink, count: usize) {
    header(out, b'_', count as u64);
}

/// A simple query carrying one action, as a client sends it: `*1\n_<n>\n` then each part as a
/// string. For tools and tests that act as clients.
pub fn action_query(out: &mut Vec<u8>, parts: &[&[u8]]) {
    query_header(out, 1);
    flat_array_header(out, parts.len());
    for part in parts {
        string(out, part);
    }
}

fn header(out: &mut impl Sink, symbol: u8, number: u64) {
    let mut digits = [0u8; U64_MAX_DIGITS];
    out.put_byte(symbol);
    out.put(decimal(number, &mut digits));
    out.put_byte(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(f: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
        let mut out = Vec::new();
        f(&mut out);
        out
    }

    #[test]
    fn codes_are_single_digit_elements() {
        assert_eq!(written(|o| code(o, ResponseCode::Okay)), b"!1\n0\n");
        assert_eq!(written(|o| code(o, ResponseCode::Wrongtype)), b"!1\n7\n");
    }

    #[test]
    fn unsigned_counts_digits() {
        assert_eq!(written(|o| unsigned(o, 0)), b":1\n0\n");
        assert_eq!(written(|o| unsigned(o, 3)), b":1\n3\n");
        assert_eq!(written(|o| unsigned(o, 10)), b":2\n10\n");
        assert_eq!(
            written(|o| unsigned(o, u64::MAX)),
            b":20\n18446744073709551615\n"
        );
    }

    #[test]
    fn strings_and_containers() {
        assert_eq!(written(|o| string(o, b"100")), b"+3\n100\n");
        assert_eq!(written(|o| string(o, b"")), b"+0\n\n");
        assert_eq!(
            written(|o| error_text(o, "Unknown action")),
            b"!14\nUnknown action\n"
        );
        assert_eq!(written(|o| array_header(o, 2)), b"&2\n");
        assert_eq!(written(|o| flat_array_header(o, 0)), b"_0\n");
        assert_eq!(written(|o| query_header(o, 12)), b"*12\n");
        assert_eq!(
            written(|o| action_query(o, &[b"SET", b"x", b"100"])),
            b"*1\n_3\n+3\nSET\n+1\nx\n+3\n100\n"
        );
    }
}

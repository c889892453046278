//! RESP2 reply encoding: appends replies to a [`Sink`], each complete (or an array header
//! whose elements the caller writes next). A long value from the table is queued shared,
//! never copied. Nothing here allocates beyond growing the output, and nothing does I/O.

use std::sync::Arc;

use crate::sink::{decimal, Sink, U64_MAX_DIGITS};

const CRLF: &[u8] = b"\r\n";

/// The most bytes a bulk reply takes besides its content: `$`, up to 20 digits, two CRLFs.
pub const BULK_FRAMING_BYTES: usize = 1 + U64_MAX_DIGITS + 2 * CRLF.len();
/// `$-1\r\n`, the nil bulk.
pub const NIL: &[u8] = b"$-1\r\n";
/// `+OK\r\n`.
pub const OK: &[u8] = b"+OK\r\n";

/// `+<text>\r\n`. `text` must not hold CR or LF.
pub fn simple(out: &mut impl Sink, text: &str) {
    out.put_byte(b'+');
    out.put(text.as_bytes());
    out.put(CRLF);
}

/// `-<text>\r\n`: `text` starts with its code (`ERR syntax error`). CR and LF in it (from a
/// client's own bytes, as in an unknown command's name) become spaces, as Redis makes them.
pub fn error(out: &mut impl Sink, text: &str) {
    error_bytes(out, text.as_bytes());
}

/// [`error`] for text that may hold any bytes.
pub fn error_bytes(out: &mut impl Sink, text: &[u8]) {
    out.put_byte(b'-');
    for part in text.split_inclusive(|&byte| byte == b'\r' || byte == b'\n') {
        match part.split_last() {
            Some((b'\r' | b'\n', before)) => {
                out.put(before);
                out.put_byte(b' ');
            }
            _ => out.put(part),
        }
    }
    out.put(CRLF);
}

/// `:<value>\r\n`.
pub fn integer(out: &mut impl Sink, value: i64) {
    out.put_byte(b':');
    if value < 0 {
        out.put_byte(b'-');
    }
    let mut digits = [0u8; U64_MAX_DIGITS];
    out.put(decimal(value.unsigned_abs(), &mut digits));
    out.put(CRLF);
}

/// `$<len>\r\n<bytes>\r\n`.
pub fn bulk(out: &mut impl Sink, bytes: &[u8]) {
    bulk_header(out, bytes.len());
    out.put(bytes);
    out.put(CRLF);
}

/// A shared value as a bulk, its bytes queued without a copy.
pub fn shared_bulk(out: &mut impl Sink, value: &Arc<[u8]>) {
    bulk_header(out, value.len());
    out.put_shared(value);
    out.put(CRLF);
}

/// `$-1\r\n`.
pub fn nil(out: &mut impl Sink) {
    out.put(NIL);
}

/// `*<count>\r\n`: the caller then writes `count` replies.
pub fn array_header(out: &mut impl Sink, count: usize) {
    header(out, b'*', count as u64);
}

fn bulk_header(out: &mut impl Sink, len: usize) {
    header(out, b'$', len as u64);
}

fn header(out: &mut impl Sink, symbol: u8, number: u64) {
    let mut digits = [0u8; U64_MAX_DIGITS];
    out.put_byte(symbol);
    out.put(decimal(number, &mut digits));
    out.put(CRLF);
}

/// A request as a client sends it: a multibulk of `parts`. For tools and tests that act as
/// clients.
pub fn request(out: &mut Vec<u8>, parts: &[&[u8]]) {
    array_header(out, parts.len());
    for part in parts {
        bulk(out, part);
    }
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
    fn every_reply_type() {
        assert_eq!(written(|o| simple(o, "PONG")), b"+PONG\r\n");
        assert_eq!(written(|o| error(o, "ERR x")), b"-ERR x\r\n");
        assert_eq!(written(|o| error(o, "ERR a\r\nb\nc")), b"-ERR a  b c\r\n");
        assert_eq!(written(|o| integer(o, 0)), b":0\r\n");
        assert_eq!(written(|o| integer(o, -2)), b":-2\r\n");
        assert_eq!(
            written(|o| integer(o, i64::MIN)),
            b":-9223372036854775808\r\n"
        );
        assert_eq!(written(|o| bulk(o, b"")), b"$0\r\n\r\n");
        assert_eq!(written(|o| bulk(o, b"a\r\n")), b"$3\r\na\r\n\r\n");
        assert_eq!(written(nil), NIL);
        assert_eq!(written(|o| array_header(o, 12)), b"*12\r\n");
        assert_eq!(
            written(|o| request(o, &[b"GET", b"k"])),
            b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"
        );
        let shared: Arc<[u8]> = Arc::from(&b"long"[..]);
        assert_eq!(written(|o| shared_bulk(o, &shared)), b"$4\r\nlong\r\n");
    }
}

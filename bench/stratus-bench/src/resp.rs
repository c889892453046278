//! RESP2, Redis's protocol, from the client's side: commands encoded as arrays of bulk strings,
//! and replies (`+` simple string, `-` error, `:` integer, `$` bulk string, `*` array, with
//! `$-1`/`*-1` as nil) parsed purely and incrementally (`None`: need more bytes). RESP3 is not
//! spoken: the benchmark never sends HELLO, so a RESP3 type symbol is malformed here.

use std::io::Write;

use crate::protocol::{MalformedReply, MAX_REPLY_DEPTH};

/// One reply, borrowing its bytes from the read buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value<'a> {
    Simple(&'a [u8]),
    Error(&'a [u8]),
    Integer(i64),
    Bulk(&'a [u8]),
    /// `$-1` or `*-1`.
    Nil,
    Array(Vec<Value<'a>>),
}

/// Appends `*<n>\r\n` and each part as `$<len>\r\n<bytes>\r\n`.
pub fn encode_command(out: &mut Vec<u8>, parts: &[&[u8]]) {
    // Writing into a Vec cannot fail.
    let _ = write!(out, "*{}\r\n", parts.len());
    for part in parts {
        let _ = write!(out, "${}\r\n", part.len());
        out.extend_from_slice(part);
        out.extend_from_slice(b"\r\n");
    }
}

/// Parses the reply at the start of `buf`: the reply and its length, or `None` while it is
/// incomplete.
pub fn parse_reply(buf: &[u8]) -> Result<Option<(Value<'_>, usize)>, MalformedReply> {
    let mut cursor = Cursor { buf, pos: 0 };
    Ok(cursor.value(0)?.map(|value| (value, cursor.pos)))
}

/// Longest integer line accepted: `-` and the 19 digits of i64::MIN.
const MAX_INTEGER_BYTES: usize = 20;

struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    /// The bytes up to the next CR LF, which must be the line's only CR or LF.
    fn line(&mut self) -> Result<Option<&'a [u8]>, MalformedReply> {
        let start = self.pos;
        let Some(cr) = self.buf[start..]
            .iter()
            .position(|&b| b == b'\r' || b == b'\n')
        else {
            return Ok(None);
        };
        let cr = start + cr;
        if self.buf[cr] == b'\n' {
            return Err(MalformedReply::UnexpectedByte {
                offset: cr,
                byte: b'\n',
            });
        }
        match self.buf.get(cr + 1) {
            None => Ok(None),
            Some(b'\n') => {
                self.pos = cr + 2;
                Ok(Some(&self.buf[start..cr]))
            }
            Some(&other) => Err(MalformedReply::UnexpectedByte {
                offset: cr + 1,
                byte: other,
            }),
        }
    }

    fn integer_line(&mut self) -> Result<Option<i64>, MalformedReply> {
        let start = self.pos;
        if self.buf.len() - start > MAX_INTEGER_BYTES
            && !self.buf[start..start + MAX_INTEGER_BYTES + 1].contains(&b'\r')
        {
            return Err(MalformedReply::BadNumber { offset: start });
        }
        let Some(text) = self.line()? else {
            return Ok(None);
        };
        parse_integer(text)
            .map(Some)
            .ok_or(MalformedReply::BadNumber { offset: start })
    }

    fn value(&mut self, depth: usize) -> Result<Option<Value<'a>>, MalformedReply> {
        let offset = self.pos;
        let Some(&symbol) = self.buf.get(offset) else {
            return Ok(None);
        };
        self.pos += 1;
        match symbol {
            b'+' => Ok(self.line()?.map(Value::Simple)),
            b'-' => Ok(self.line()?.map(Value::Error)),
            b':' => Ok(self.integer_line()?.map(Value::Integer)),
            b'$' => match self.integer_line()? {
                Some(len) => self.bulk(offset, len),
                None => Ok(None),
            },
            b'*' => match self.integer_line()? {
                Some(count) => self.array(offset, count, depth),
                None => Ok(None),
            },
            other => Err(MalformedReply::UnknownType {
                offset,
                symbol: other,
            }),
        }
    }

    /// The payload of `$<len>\r\n` (at `offset`), or nil for a length of -1.
    fn bulk(&mut self, offset: usize, len: i64) -> Result<Option<Value<'a>>, MalformedReply> {
        if len == -1 {
            return Ok(Some(Value::Nil));
        }
        let len = u64::try_from(len).map_err(|_| MalformedReply::BadNumber { offset })?;
        let start = self.pos;
        // The payload and its CR LF must all be there; comparing in u64 means a huge declared
        // length just waits, it never allocates or overflows.
        if (self.buf.len() - start) as u64 <= len.saturating_add(1) {
            return Ok(None);
        }
        let end = start + len as usize;
        if &self.buf[end..end + 2] != b"\r\n" {
            let bad = if self.buf[end] == b'\r' { end + 1 } else { end };
            return Err(MalformedReply::UnexpectedByte {
                offset: bad,
                byte: self.buf[bad],
            });
        }
        self.pos = end + 2;
        Ok(Some(Value::Bulk(&self.buf[start..end])))
    }

    /// The elements of `*<count>\r\n` (at `offset`, itself at `depth`), or nil for -1.
    fn array(
        &mut self,
        offset: usize,
        count: i64,
        depth: usize,
    ) -> Result<Option<Value<'a>>, MalformedReply> {
        if count == -1 {
            return Ok(Some(Value::Nil));
        }
        let count = u64::try_from(count).map_err(|_| MalformedReply::BadNumber { offset })?;
        if count > 0 && depth + 1 >= MAX_REPLY_DEPTH {
            return Err(MalformedReply::TooDeep { offset });
        }
        let mut items = Vec::new();
        for _ in 0..count {
            let Some(item) = self.value(depth + 1)? else {
                return Ok(None);
            };
            items.push(item);
        }
        Ok(Some(Value::Array(items)))
    }
}

/// `-?<digits>` to i64, `None` if empty, not a number, or out of range.
fn parse_integer(text: &[u8]) -> Option<i64> {
    let (negative, digits) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, text),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    // Digits only, so this is valid UTF-8; the std parser handles the range check.
    let magnitude: i128 = std::str::from_utf8(digits).ok()?.parse().ok()?;
    i64::try_from(if negative { -magnitude } else { magnitude }).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn complete(bytes: &[u8]) -> Value<'_> {
        let (value, len) = parse_reply(bytes).unwrap().unwrap();
        assert_eq!(len, bytes.len(), "whole input consumed");
        value
    }

    #[test]
    fn encodes_commands_as_bulk_arrays() {
        let mut out = Vec::new();
        encode_command(&mut out, &[b"SET", b"key:000000000001", b""]);
        assert_eq!(
            out,
            b"*3\r\n$3\r\nSET\r\n$16\r\nkey:000000000001\r\n$0\r\n\r\n"
        );
    }

    #[test]
    fn scalar_replies() {
        assert_eq!(complete(b"+OK\r\n"), Value::Simple(b"OK"));
        assert_eq!(complete(b"+PONG\r\n"), Value::Simple(b"PONG"));
        assert_eq!(
            complete(b"-ERR unknown command\r\n"),
            Value::Error(b"ERR unknown command")
        );
        assert_eq!(complete(b":1000000\r\n"), Value::Integer(1_000_000));
        assert_eq!(complete(b":-3\r\n"), Value::Integer(-3));
        assert_eq!(complete(b"$3\r\nxyz\r\n"), Value::Bulk(b"xyz"));
        assert_eq!(complete(b"$4\r\na\r\nb\r\n"), Value::Bulk(b"a\r\nb"));
        assert_eq!(complete(b"$0\r\n\r\n"), Value::Bulk(b""));
        assert_eq!(complete(b"$-1\r\n"), Value::Nil);
        assert_eq!(complete(b"*-1\r\n"), Value::Nil);
    }

    #[test]
    fn arrays_nest() {
        assert_eq!(
            complete(b"*2\r\n$1\r\na\r\n*1\r\n:1\r\n"),
            Value::Array(vec![
                Value::Bulk(b"a"),
                Value::Array(vec![Value::Integer(1)])
            ])
        );
        assert_eq!(complete(b"*0\r\n"), Value::Array(vec![]));
    }

    #[test]
    fn a_reply_followed_by_the_next_is_framed_alone() {
        let (value, len) = parse_reply(b"+OK\r\n+OK\r\n").unwrap().unwrap();
        assert_eq!((value, len), (Value::Simple(b"OK"), 5));
    }

    #[test]
    fn every_proper_prefix_is_incomplete() {
        let whole: &[u8] = b"*3\r\n$5\r\nhello\r\n:42\r\n$-1\r\n";
        complete(whole);
        for cut in 0..whole.len() {
            assert_eq!(
                parse_reply(&whole[..cut]),
                Ok(None),
                "prefix of {cut} bytes"
            );
        }
    }

    #[test]
    fn a_huge_declared_length_waits_for_bytes_without_allocating() {
        assert_eq!(parse_reply(b"$9223372036854775807\r\nabc"), Ok(None));
    }

    #[test]
    fn malformed_replies() {
        assert_eq!(
            parse_reply(b"*1\n!1\n0\n"),
            Err(MalformedReply::UnexpectedByte {
                offset: 2,
                byte: b'\n'
            })
        );
        assert_eq!(
            parse_reply(b"+OK\rX"),
            Err(MalformedReply::UnexpectedByte {
                offset: 4,
                byte: b'X'
            })
        );
        assert_eq!(
            parse_reply(b"$3\r\nabcd\r\n"),
            Err(MalformedReply::UnexpectedByte {
                offset: 7,
                byte: b'd'
            })
        );
        assert_eq!(
            parse_reply(b":12a\r\n"),
            Err(MalformedReply::BadNumber { offset: 1 })
        );
        assert_eq!(
            parse_reply(b"$-2\r\n"),
            Err(MalformedReply::BadNumber { offset: 0 })
        );
        assert_eq!(
            parse_reply(b":\r\n"),
            Err(MalformedReply::BadNumber { offset: 1 })
        );
        assert_eq!(
            parse_reply(b":111111111111111111111111111"),
            Err(MalformedReply::BadNumber { offset: 1 })
        );
        assert_eq!(
            parse_reply(b"%1\r\n"),
            Err(MalformedReply::UnknownType {
                offset: 0,
                symbol: b'%'
            })
        );
        let deep = "*1\r\n".repeat(MAX_REPLY_DEPTH + 1);
        assert!(matches!(
            parse_reply(deep.as_bytes()),
            Err(MalformedReply::TooDeep { .. })
        ));
    }
}

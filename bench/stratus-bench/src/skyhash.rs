//! Skyhash 1.0 replies, parsed from the client's side (the server crate only parses queries).
//! A reply is `*<count>\n` and `count` elements: `+` string, `!` response code or error text,
//! `:` unsigned integer, `&` array, `_` flat array of strings. Parsing is pure and incremental
//! (`None`: need more bytes) and never allocates by a size the server declares. Requests are
//! encoded with the server crate's own `action_query`; judging a reply is `workload`'s job.

use crate::protocol::{MalformedReply, MAX_REPLY_DEPTH};

/// One element of a reply, borrowing its bytes from the read buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Element<'a> {
    Str(&'a [u8]),
    /// `!`: a numeric code (`0` okay, `1` nil, …) or an error text such as `err-snapshot-busy`.
    Code(&'a [u8]),
    Unsigned(u64),
    Array(Vec<Element<'a>>),
    FlatArray(Vec<&'a [u8]>),
}

/// A complete reply: one element per action of the query it answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply<'a> {
    pub elements: Vec<Element<'a>>,
}

impl<'a> Reply<'a> {
    /// The element of a reply to a single action, `None` if the reply has another shape.
    pub fn single(&self) -> Option<&Element<'a>> {
        match self.elements.as_slice() {
            [element] => Some(element),
            _ => None,
        }
    }
}

/// Parses the reply at the start of `buf`: the reply and its length, or `None` while it is
/// incomplete.
pub fn parse_reply(buf: &[u8]) -> Result<Option<(Reply<'_>, usize)>, MalformedReply> {
    let mut cursor = Cursor { buf, pos: 0 };
    let Some(symbol) = cursor.byte() else {
        return Ok(None);
    };
    if symbol != b'*' {
        return Err(MalformedReply::UnexpectedByte {
            offset: 0,
            byte: symbol,
        });
    }
    let Some(count) = cursor.size_line()? else {
        return Ok(None);
    };
    let mut elements = Vec::new();
    for _ in 0..count {
        let Some(element) = cursor.element(1)? else {
            return Ok(None);
        };
        elements.push(element);
    }
    Ok(Some((Reply { elements }, cursor.pos)))
}

/// The longest size line accepted: u64::MAX has 20 digits.
const MAX_SIZE_DIGITS: usize = 20;

struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn byte(&mut self) -> Option<u8> {
        let byte = *self.buf.get(self.pos)?;
        self.pos += 1;
        Some(byte)
    }

    /// `<digits>\n`, as a count or length.
    fn size_line(&mut self) -> Result<Option<u64>, MalformedReply> {
        let start = self.pos;
        let Some(newline) = self.buf[start..].iter().position(|&b| b == b'\n') else {
            // Refuse an endless line as soon as it is too long, not when the LF shows up.
            if self.buf.len() - start > MAX_SIZE_DIGITS {
                return Err(MalformedReply::BadNumber { offset: start });
            }
            return Ok(None);
        };
        let digits = &self.buf[start..start + newline];
        let value = parse_decimal(digits)
            .filter(|_| digits.len() <= MAX_SIZE_DIGITS)
            .ok_or(MalformedReply::BadNumber { offset: start })?;
        self.pos = start + newline + 1;
        Ok(Some(value))
    }

    /// `<len>\n<bytes>\n`, after the type symbol.
    fn payload(&mut self) -> Result<Option<&'a [u8]>, MalformedReply> {
        let Some(len) = self.size_line()? else {
            return Ok(None);
        };
        let start = self.pos;
        let available = (self.buf.len() - start) as u64;
        // `len < available` also guarantees the cast below cannot truncate.
        if len >= available {
            return Ok(None);
        }
        let end = start + len as usize;
        if self.buf[end] != b'\n' {
            return Err(MalformedReply::UnexpectedByte {
                offset: end,
                byte: self.buf[end],
            });
        }
        self.pos = end + 1;
        Ok(Some(&self.buf[start..end]))
    }

    fn element(&mut self, depth: usize) -> Result<Option<Element<'a>>, MalformedReply> {
        let offset = self.pos;
        let Some(symbol) = self.byte() else {
            return Ok(None);
        };
        let element = match symbol {
            b'+' | b'!' | b':' => {
                let Some(bytes) = self.payload()? else {
                    return Ok(None);
                };
                match symbol {
                    b'+' => Element::Str(bytes),
                    b'!' => Element::Code(bytes),
                    _ => Element::Unsigned(parse_decimal(bytes).ok_or(
                        MalformedReply::BadNumber {
                            offset: self.pos - 1 - bytes.len(),
                        },
                    )?),
                }
            }
            b'&' => {
                if depth >= MAX_REPLY_DEPTH {
                    return Err(MalformedReply::TooDeep { offset });
                }
                let Some(count) = self.size_line()? else {
                    return Ok(None);
                };
                let mut items = Vec::new();
                for _ in 0..count {
                    let Some(item) = self.element(depth + 1)? else {
                        return Ok(None);
                    };
                    items.push(item);
                }
                Element::Array(items)
            }
            b'_' => {
                let Some(count) = self.size_line()? else {
                    return Ok(None);
                };
                let mut strings = Vec::new();
                for _ in 0..count {
                    let item_offset = self.pos;
                    match self.byte() {
                        None => return Ok(None),
                        Some(b'+') => {}
                        Some(other) => {
                            return Err(MalformedReply::UnknownType {
                                offset: item_offset,
                                symbol: other,
                            })
                        }
                    }
                    let Some(bytes) = self.payload()? else {
                        return Ok(None);
                    };
                    strings.push(bytes);
                }
                Element::FlatArray(strings)
            }
            other => {
                return Err(MalformedReply::UnknownType {
                    offset,
                    symbol: other,
                })
            }
        };
        Ok(Some(element))
    }
}

/// The server crate's decimal parser: the same digits rule on both sides of the wire.
fn parse_decimal(digits: &[u8]) -> Option<u64> {
    stratus::protocol::parse::parse_decimal(digits)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn complete(bytes: &[u8]) -> Reply<'_> {
        let (reply, len) = parse_reply(bytes).unwrap().unwrap();
        assert_eq!(len, bytes.len(), "whole input consumed");
        reply
    }

    #[test]
    fn single_element_replies() {
        assert_eq!(
            complete(b"*1\n:1\n1\n").single(),
            Some(&Element::Unsigned(1))
        );
        assert_eq!(
            complete(b"*1\n!1\n1\n").single(),
            Some(&Element::Code(b"1"))
        );
        assert_eq!(
            complete(b"*1\n+4\nHEY!\n").single(),
            Some(&Element::Str(b"HEY!"))
        );
        assert_eq!(
            complete(b"*1\n!17\nerr-snapshot-busy\n").single(),
            Some(&Element::Code(b"err-snapshot-busy"))
        );
        assert_eq!(complete(b"*1\n+0\n\n").single(), Some(&Element::Str(b"")));
    }

    #[test]
    fn payloads_may_hold_newlines() {
        assert_eq!(
            complete(b"*1\n+3\na\nb\n").single(),
            Some(&Element::Str(b"a\nb"))
        );
    }

    #[test]
    fn arrays_and_pipelined_replies() {
        let reply = complete(b"*2\n_2\n+5\nhealt\n+1\nx\n&2\n:2\n10\n!1\n0\n");
        assert_eq!(
            reply.elements,
            vec![
                Element::FlatArray(vec![b"healt", b"x"]),
                Element::Array(vec![Element::Unsigned(10), Element::Code(b"0")]),
            ]
        );
        assert_eq!(reply.single(), None);
    }

    #[test]
    fn a_reply_followed_by_the_next_is_framed_alone() {
        let (reply, len) = parse_reply(b"*1\n:1\n1\n*1\n:1").unwrap().unwrap();
        assert_eq!(len, 8);
        assert_eq!(reply.single(), Some(&Element::Unsigned(1)));
    }

    #[test]
    fn every_proper_prefix_is_incomplete() {
        let whole: &[u8] = b"*2\n+3\n100\n&2\n_1\n+1\nx\n!1\n1\n";
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
        assert_eq!(parse_reply(b"*1\n+18446744073709551615\nabc"), Ok(None));
    }

    #[test]
    fn malformed_replies() {
        assert_eq!(
            parse_reply(b"+OK\r\n"),
            Err(MalformedReply::UnexpectedByte {
                offset: 0,
                byte: b'+'
            })
        );
        assert_eq!(
            parse_reply(b"*1\n+3\nabcd\n"),
            Err(MalformedReply::UnexpectedByte {
                offset: 9,
                byte: b'd'
            })
        );
        assert_eq!(
            parse_reply(b"*x\n"),
            Err(MalformedReply::BadNumber { offset: 1 })
        );
        assert_eq!(
            parse_reply(b"*1\n:2\n1a\n"),
            Err(MalformedReply::BadNumber { offset: 6 })
        );
        assert_eq!(
            parse_reply(b"*1\n+\n\n"),
            Err(MalformedReply::BadNumber { offset: 4 })
        );
        assert_eq!(
            parse_reply(b"*1\n~1\n"),
            Err(MalformedReply::UnknownType {
                offset: 3,
                symbol: b'~'
            })
        );
        assert_eq!(
            parse_reply(b"*1\n_1\n:1\n1\n"),
            Err(MalformedReply::UnknownType {
                offset: 6,
                symbol: b':'
            })
        );
        assert_eq!(
            parse_reply(b"*1\n+111111111111111111111111"),
            Err(MalformedReply::BadNumber { offset: 4 })
        );
        let deep = format!("*1\n{}", "&1\n".repeat(MAX_REPLY_DEPTH + 1));
        assert!(matches!(
            parse_reply(deep.as_bytes()),
            Err(MalformedReply::TooDeep { .. })
        ));
    }
}

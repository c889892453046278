//! Skyhash 1.0 responses, parsed from the client's side: the mirror of [`super::write`], for
//! tools and tests that talk to a server. A response is `*<count>\n` and `count` elements:
//! `+` string, `!` response code or error text, `:` unsigned integer, `&` array of any
//! elements, `_` flat array of strings. Pure and stateless: give it the bytes received so far,
//! from the response's first byte, and it answers "need more bytes" (`Ok(None)`), a complete
//! element tree borrowing from the buffer with its length, or the first fault. It never
//! allocates by a count or length the server declares, only by elements actually received.
//! Invariant: a prefix of a response is incomplete, and a prefix of a malformed input is
//! incomplete or has the same fault.

use std::fmt;

use super::parse::{parse_decimal, MAX_SIZE_LINE_BYTES};

/// The symbols of the response grammar (`*`, `+`, `:`, `&` and `_` as in queries).
const RESPONSE_SYMBOL: u8 = b'*';
const STRING_SYMBOL: u8 = b'+';
const CODE_SYMBOL: u8 = b'!';
const UNSIGNED_SYMBOL: u8 = b':';
const ARRAY_SYMBOL: u8 = b'&';
const FLAT_ARRAY_SYMBOL: u8 = b'_';
const LF: u8 = b'\n';

/// How deep arrays may nest inside a response element: a top-level `&` is depth 1. Stratus
/// nests one level (MGET); the bound keeps a hostile stream from recursing off the stack.
pub const MAX_NESTING: usize = 8;

/// One response element, borrowing its bytes from the buffer it was parsed from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Element<'a> {
    /// `+<len>\n<bytes>\n`.
    Str(&'a [u8]),
    /// `!1\n<digit>\n`: a response code (`0` okay, `1` nil, … see [`super::ResponseCode`]).
    Code(u8),
    /// `!<len>\n<text>\n` whose payload is not a single digit, such as `Unknown action` or
    /// `err-snapshot-busy`.
    ErrorText(&'a [u8]),
    /// `:<len>\n<digits>\n`.
    Unsigned(u64),
    /// `&<count>\n` and `count` elements of any type.
    Array(Vec<Element<'a>>),
    /// `_<count>\n` and `count` strings.
    FlatArray(Vec<&'a [u8]>),
}

/// A complete response: one element per element of the query it answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply<'a> {
    pub elements: Vec<Element<'a>>,
}

impl<'a> Reply<'a> {
    /// The element of a response to a single action; `None` if the response has another count.
    pub fn single(&self) -> Option<&Element<'a>> {
        match self.elements.as_slice() {
            [element] => Some(element),
            _ => None,
        }
    }
}

/// Why the bytes cannot be a Skyhash 1.0 response. Offsets count from the start of the buffer
/// given to [`parse`] or [`parse_element`]. After one, the rest of the stream cannot be framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyError {
    /// A byte that cannot stand where it is: a response not starting with `*`, or a payload
    /// not followed by LF.
    UnexpectedByte { offset: usize, byte: u8 },
    /// A size line or an unsigned integer that is empty, has a non-digit, is too long or
    /// overflows u64.
    BadNumber { offset: usize },
    /// A type symbol other than `+ ! : & _`, or a non-string inside a flat array.
    UnknownType { offset: usize, symbol: u8 },
    /// Arrays nested deeper than [`MAX_NESTING`].
    TooDeep { offset: usize },
}

impl fmt::Display for ReplyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ReplyError::UnexpectedByte { offset, byte } => {
                write!(f, "unexpected byte 0x{byte:02x} at offset {offset}")
            }
            ReplyError::BadNumber { offset } => {
                write!(f, "invalid size or integer at offset {offset}")
            }
            ReplyError::UnknownType { offset, symbol } => {
                write!(f, "unknown element type 0x{symbol:02x} at offset {offset}")
            }
            ReplyError::TooDeep { offset } => {
                write!(
                    f,
                    "arrays nested deeper than {MAX_NESTING} at offset {offset}"
                )
            }
        }
    }
}

impl std::error::Error for ReplyError {}

/// Parses the response at the start of `buf`: the response and its length in bytes, or `None`
/// while it is incomplete. Bytes after it (the next response) are left alone.
pub fn parse(buf: &[u8]) -> Result<Option<(Reply<'_>, usize)>, ReplyError> {
    let mut cursor = Cursor { buf, pos: 0 };
    let Some(symbol) = cursor.symbol() else {
        return Ok(None);
    };
    if symbol != RESPONSE_SYMBOL {
        return Err(ReplyError::UnexpectedByte {
            offset: 0,
            byte: symbol,
        });
    }
    let Some(count) = cursor.size_line()? else {
        return Ok(None);
    };
    let mut elements = Vec::new();
    for _ in 0..count {
        let Some(element) = cursor.element(0)? else {
            return Ok(None);
        };
        elements.push(element);
    }
    Ok(Some((Reply { elements }, cursor.pos)))
}

/// Parses one element at the start of `buf` (no `*<count>` header): what the dispatcher
/// writes for one action. The element and its length, or `None` while it is incomplete.
pub fn parse_element(buf: &[u8]) -> Result<Option<(Element<'_>, usize)>, ReplyError> {
    let mut cursor = Cursor { buf, pos: 0 };
    Ok(cursor.element(0)?.map(|element| (element, cursor.pos)))
}

/// A read position in the buffer. Every method either advances past a whole token, returns
/// `Ok(None)` (the token is not all there yet), or reports the fault.
struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn symbol(&mut self) -> Option<u8> {
        let byte = *self.buf.get(self.pos)?;
        self.pos += 1;
        Some(byte)
    }

    /// `<digits>\n`. A byte that makes the line invalid is reported as soon as it is seen,
    /// so the verdict does not depend on where the input was cut.
    fn size_line(&mut self) -> Result<Option<u64>, ReplyError> {
        let start = self.pos;
        let line = &self.buf[start..];
        let digits = line
            .iter()
            .take(MAX_SIZE_LINE_BYTES + 1)
            .take_while(|byte| byte.is_ascii_digit())
            .count();
        let bad = ReplyError::BadNumber { offset: start };
        match line.get(digits) {
            _ if digits > MAX_SIZE_LINE_BYTES => Err(bad),
            None => Ok(None),
            Some(&LF) => {
                let value = parse_decimal(&line[..digits]).ok_or(bad)?;
                self.pos = start + digits + 1;
                Ok(Some(value))
            }
            Some(_) => Err(bad),
        }
    }

    /// `<len>\n<bytes>\n`, after the type symbol.
    fn payload(&mut self) -> Result<Option<&'a [u8]>, ReplyError> {
        let Some(len) = self.size_line()? else {
            return Ok(None);
        };
        let start = self.pos;
        // Comparing in u64 means a huge declared length just waits: nothing is allocated, and
        // `len < available` also makes the cast below exact.
        let available = (self.buf.len() - start) as u64;
        if len >= available {
            return Ok(None);
        }
        let end = start + len as usize;
        if self.buf[end] != LF {
            return Err(ReplyError::UnexpectedByte {
                offset: end,
                byte: self.buf[end],
            });
        }
        self.pos = end + 1;
        Ok(Some(&self.buf[start..end]))
    }

    /// One element; `depth` is the number of arrays it stands in.
    fn element(&mut self, depth: usize) -> Result<Option<Element<'a>>, ReplyError> {
        let offset = self.pos;
        let Some(symbol) = self.symbol() else {
            return Ok(None);
        };
        match symbol {
            STRING_SYMBOL => Ok(self.payload()?.map(Element::Str)),
            CODE_SYMBOL => Ok(self.payload()?.map(|text| match text {
                [digit @ b'0'..=b'9'] => Element::Code(digit - b'0'),
                _ => Element::ErrorText(text),
            })),
            UNSIGNED_SYMBOL => {
                let Some(digits) = self.payload()? else {
                    return Ok(None);
                };
                let number = parse_decimal(digits).ok_or(ReplyError::BadNumber {
                    offset: self.pos - 1 - digits.len(),
                })?;
                Ok(Some(Element::Unsigned(number)))
            }
            ARRAY_SYMBOL => {
                if depth >= MAX_NESTING {
                    return Err(ReplyError::TooDeep { offset });
                }
                self.array(depth + 1)
            }
            FLAT_ARRAY_SYMBOL => self.flat_array(),
            other => Err(ReplyError::UnknownType {
                offset,
                symbol: other,
            }),
        }
    }

    /// The count and elements of an `&` array.
    fn array(&mut self, depth: usize) -> Result<Option<Element<'a>>, ReplyError> {
        let Some(count) = self.size_line()? else {
            return Ok(None);
        };
        let mut items = Vec::new();
        for _ in 0..count {
            let Some(item) = self.element(depth)? else {
                return Ok(None);
            };
            items.push(item);
        }
        Ok(Some(Element::Array(items)))
    }

    /// The count and strings of a `_` flat array.
    fn flat_array(&mut self) -> Result<Option<Element<'a>>, ReplyError> {
        let Some(count) = self.size_line()? else {
            return Ok(None);
        };
        let mut strings = Vec::new();
        for _ in 0..count {
            let offset = self.pos;
            match self.symbol() {
                None => return Ok(None),
                Some(STRING_SYMBOL) => {}
                Some(other) => {
                    return Err(ReplyError::UnknownType {
                        offset,
                        symbol: other,
                    })
                }
            }
            let Some(bytes) = self.payload()? else {
                return Ok(None);
            };
            strings.push(bytes);
        }
        Ok(Some(Element::FlatArray(strings)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{write, ResponseCode};

    fn complete(bytes: &[u8]) -> Reply<'_> {
        let (reply, len) = parse(bytes).unwrap().unwrap();
        assert_eq!(len, bytes.len(), "whole input consumed");
        reply
    }

    fn single(bytes: &[u8]) -> Element<'_> {
        complete(bytes).single().unwrap().clone()
    }

    /// Writes `element` with the server's own encoder.
    fn encode(element: &Element<'_>, out: &mut Vec<u8>) {
        match element {
            Element::Str(bytes) => write::string(out, bytes),
            Element::Code(digit) => {
                write::error_text(out, std::str::from_utf8(&[b'0' + digit]).unwrap())
            }
            Element::ErrorText(text) => write::error_text(out, std::str::from_utf8(text).unwrap()),
            Element::Unsigned(value) => write::unsigned(out, *value),
            Element::Array(items) => {
                write::array_header(out, items.len());
                for item in items {
                    encode(item, out);
                }
            }
            Element::FlatArray(strings) => {
                write::flat_array_header(out, strings.len());
                for string in strings {
                    write::string(out, string);
                }
            }
        }
    }

    /// Responses covering every element type, empty containers, nesting, and payloads that hold
    /// LF or look like other tokens.
    fn samples() -> Vec<Vec<u8>> {
        let trees: Vec<Vec<Element<'static>>> = vec![
            vec![Element::Code(0)],
            vec![Element::Code(1)],
            vec![Element::Str(b"HEY!")],
            vec![Element::Str(b"")],
            vec![Element::Str(b"a\nb\n*1\n")],
            vec![Element::Unsigned(0)],
            vec![Element::Unsigned(u64::MAX)],
            vec![Element::ErrorText(b"Unknown action")],
            vec![Element::ErrorText(b"err-snapshot-busy")],
            vec![Element::FlatArray(vec![b"health=good", b"", b"x"])],
            vec![Element::FlatArray(vec![])],
            vec![Element::Array(vec![
                Element::Str(b"100"),
                Element::Code(1),
                Element::Array(vec![Element::Unsigned(10), Element::FlatArray(vec![b"k"])]),
            ])],
            vec![Element::Array(vec![])],
            vec![
                Element::Str(b"100"),
                Element::Array(vec![Element::FlatArray(vec![b"x"]), Element::Code(1)]),
            ],
            vec![
                Element::Unsigned(1),
                Element::Str(b"xyz"),
                Element::Code(7),
                Element::ErrorText(b"12"),
            ],
        ];
        trees
            .iter()
            .map(|elements| {
                let mut out = Vec::new();
                write::query_header(&mut out, elements.len());
                for element in elements {
                    encode(element, &mut out);
                }
                out
            })
            .collect()
    }

    #[test]
    fn single_element_responses() {
        assert_eq!(single(b"*1\n:1\n1\n"), Element::Unsigned(1));
        assert_eq!(single(b"*1\n!1\n1\n"), Element::Code(1));
        assert_eq!(single(b"*1\n+4\nHEY!\n"), Element::Str(b"HEY!"));
        assert_eq!(
            single(b"*1\n!17\nerr-snapshot-busy\n"),
            Element::ErrorText(b"err-snapshot-busy")
        );
        assert_eq!(single(b"*1\n!2\n10\n"), Element::ErrorText(b"10"));
        assert_eq!(single(b"*1\n!0\n\n"), Element::ErrorText(b""));
        assert_eq!(single(b"*1\n+0\n\n"), Element::Str(b""));
        assert_eq!(single(b"*1\n+3\na\nb\n"), Element::Str(b"a\nb"));
        assert_eq!(single(b"*1\n:3\n007\n"), Element::Unsigned(7));
        assert_eq!(single(b"*01\n+001\nx\n"), Element::Str(b"x"));
    }

    #[test]
    fn codes_are_the_ones_the_server_writes() {
        let mut out = Vec::new();
        write::query_header(&mut out, 1);
        write::code(&mut out, ResponseCode::Wrongtype);
        assert_eq!(single(&out), Element::Code(ResponseCode::Wrongtype as u8));
    }

    #[test]
    fn arrays_and_pipelined_responses() {
        let reply = complete(b"*2\n_2\n+5\nhealt\n+1\nx\n&2\n:2\n10\n!1\n0\n");
        assert_eq!(
            reply.elements,
            vec![
                Element::FlatArray(vec![b"healt", b"x"]),
                Element::Array(vec![Element::Unsigned(10), Element::Code(0)]),
            ]
        );
        assert_eq!(reply.single(), None);
        assert_eq!(complete(b"*0\n").elements, vec![]);
    }

    #[test]
    fn what_the_server_writes_parses_back_to_the_same_tree() {
        for bytes in samples() {
            let reply = complete(&bytes);
            let mut again = Vec::new();
            write::query_header(&mut again, reply.elements.len());
            for element in &reply.elements {
                encode(element, &mut again);
            }
            assert_eq!(again, bytes);
        }
    }

    #[test]
    fn a_response_followed_by_the_next_is_framed_alone() {
        let (reply, len) = parse(b"*1\n:1\n1\n*1\n:1").unwrap().unwrap();
        assert_eq!(len, 8);
        assert_eq!(reply.single(), Some(&Element::Unsigned(1)));
    }

    #[test]
    fn every_cut_of_a_valid_response_is_incomplete() {
        for bytes in samples() {
            complete(&bytes);
            for cut in 0..bytes.len() {
                assert_eq!(
                    parse(&bytes[..cut]),
                    Ok(None),
                    "{:?} cut after {cut} bytes",
                    bytes.escape_ascii().to_string()
                );
            }
        }
    }

    #[test]
    fn every_cut_of_a_malformed_response_is_incomplete_or_the_same_error() {
        let malformed: &[&[u8]] = &[
            b"*1\n+3\nabcd\n",
            b"*1\n:2\n1a\n",
            b"*1\n_2\n+1\nx\n:1\n1\n",
            b"*1\n&1\n~1\n",
            b"*2\n!1\n0\n+x\n",
            b"*1\n+123456789012345678901234567890123\n",
        ];
        for &bytes in malformed {
            let whole = parse(bytes).unwrap_err();
            for cut in 0..bytes.len() {
                let verdict = parse(&bytes[..cut]);
                assert!(
                    verdict == Ok(None) || verdict == Err(whole),
                    "{:?} cut after {cut} bytes: {verdict:?}, whole: {whole:?}",
                    bytes.escape_ascii().to_string()
                );
            }
        }
    }

    #[test]
    fn a_huge_declared_length_or_count_waits_without_allocating() {
        assert_eq!(parse(b"*1\n+18446744073709551615\nabc"), Ok(None));
        assert_eq!(parse(b"*18446744073709551615\n!1\n0\n"), Ok(None));
        assert_eq!(parse(b"*1\n_18446744073709551615\n+1\nx\n"), Ok(None));
    }

    #[test]
    fn malformed_responses() {
        assert_eq!(
            parse(b"+OK\r\n"),
            Err(ReplyError::UnexpectedByte {
                offset: 0,
                byte: b'+'
            })
        );
        assert_eq!(
            parse(b"*1\n+3\nabcd\n"),
            Err(ReplyError::UnexpectedByte {
                offset: 9,
                byte: b'd'
            })
        );
        assert_eq!(parse(b"*x\n"), Err(ReplyError::BadNumber { offset: 1 }));
        assert_eq!(parse(b"*\n"), Err(ReplyError::BadNumber { offset: 1 }));
        assert_eq!(
            parse(b"*1\n:2\n1a\n"),
            Err(ReplyError::BadNumber { offset: 6 })
        );
        assert_eq!(
            parse(b"*1\n:20\n18446744073709551616\n"),
            Err(ReplyError::BadNumber { offset: 7 })
        );
        assert_eq!(
            parse(b"*1\n+\n\n"),
            Err(ReplyError::BadNumber { offset: 4 })
        );
        assert_eq!(parse(b"*1\n+1x"), Err(ReplyError::BadNumber { offset: 4 }));
        assert_eq!(
            parse(b"*1\n~1\n"),
            Err(ReplyError::UnknownType {
                offset: 3,
                symbol: b'~'
            })
        );
        assert_eq!(
            parse(b"*1\n_1\n:1\n1\n"),
            Err(ReplyError::UnknownType {
                offset: 6,
                symbol: b':'
            })
        );
        let long = format!("*1\n+{}", "1".repeat(MAX_SIZE_LINE_BYTES + 1));
        assert_eq!(
            parse(long.as_bytes()),
            Err(ReplyError::BadNumber { offset: 4 })
        );
        assert_eq!(
            ReplyError::UnexpectedByte {
                offset: 9,
                byte: b'd'
            }
            .to_string(),
            "unexpected byte 0x64 at offset 9"
        );
    }

    #[test]
    fn nesting_is_bounded() {
        let deepest = format!("*1\n{}&0\n", "&1\n".repeat(MAX_NESTING - 1));
        complete(deepest.as_bytes());
        let deeper = format!("*1\n{}&0\n", "&1\n".repeat(MAX_NESTING));
        assert_eq!(
            parse(deeper.as_bytes()),
            Err(ReplyError::TooDeep {
                offset: 3 + 3 * MAX_NESTING
            })
        );
    }

    #[test]
    fn one_element_without_the_response_header() {
        assert_eq!(
            parse_element(b"_2\n+1\na\n+0\n\n"),
            Ok(Some((Element::FlatArray(vec![b"a", b""]), 12)))
        );
        assert_eq!(
            parse_element(b"!1\n0\n*1\n"),
            Ok(Some((Element::Code(0), 5)))
        );
        assert_eq!(parse_element(b"&2\n:1\n1\n"), Ok(None));
        assert_eq!(
            parse_element(b"*1\n"),
            Err(ReplyError::UnknownType {
                offset: 0,
                symbol: b'*'
            })
        );
    }
}

//! Incremental Skyhash 1.0 query parser: bytes in, query structure out, no I/O.
//!
//! A [`QueryParser`] remembers how far into the current query it has got, so feeding it a query
//! in many small reads costs time linear in the query's size, not quadratic. It never allocates
//! in proportion to a count or length the client *declares*, only to elements actually received,
//! and it refuses a query larger than its limit as soon as a declaration makes that certain.
//! Invariant: whatever way the input is split, the parser yields the same queries and errors.

use std::fmt;

pub use crate::args::Args;
use crate::args::Span;

/// Byte that opens a query: `*<count>\n`.
const QUERY_SYMBOL: u8 = b'*';
/// Length-prefixed byte string: `+<len>\n<bytes>\n`.
const STRING_SYMBOL: u8 = b'+';
/// Unsigned integer: `:<digits>\n<value digits>\n`.
const UNSIGNED_SYMBOL: u8 = b':';
/// Array of elements of any type: `&<count>\n` then the elements.
const ARRAY_SYMBOL: u8 = b'&';
/// Flat array of strings only: `_<count>\n` then `count` strings. Every action is one.
const FLAT_ARRAY_SYMBOL: u8 = b'_';
const LF: u8 = b'\n';

/// The smallest element on the wire (`&0\n` or `_0\n`); a declared count of `n` elements
/// therefore needs at least `n * MIN_ELEMENT_BYTES` more bytes.
const MIN_ELEMENT_BYTES: u64 = 3;
/// Longest accepted count or size line, digits only. u64::MAX has 20 digits; the slack allows a
/// few leading zeros (legal in Skyhash 1.0) while keeping a partial line cheap to rescan.
pub const MAX_SIZE_LINE_BYTES: usize = 32;
/// Bookkeeping kept between queries; more than this, grown by a large query, is given back.
const RETAINED_BOOKKEEPING_BYTES: usize = 64 * 1024;

/// Why a query cannot be parsed. Each variant maps to one framed error response; after it the
/// connection is closed, because the rest of the stream can no longer be framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProtocolError {
    /// A byte that cannot appear where it is: a query not starting with `*`, or a payload not
    /// followed by LF. Answered with a packet error.
    UnexpectedByte { offset: usize, byte: u8 },
    /// `*0\n`: a query with no elements. Answered with a packet error.
    EmptyQuery,
    /// A count, length or integer that is empty, has a non-digit, is too long or overflows u64.
    /// Answered with a wrong-type error.
    BadNumber { offset: usize },
    /// An element type symbol other than `+ : & _`, or a non-string inside a flat array.
    /// Answered with a wrong-type error.
    UnknownType { offset: usize, symbol: u8 },
    /// The query is, or has declared that it will be, larger than the configured limit.
    TooLarge { limit: usize },
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ProtocolError::UnexpectedByte { offset, byte } => {
                write!(f, "unexpected byte 0x{byte:02x} at offset {offset}")
            }
            ProtocolError::EmptyQuery => write!(f, "query declares zero elements"),
            ProtocolError::BadNumber { offset } => {
                write!(f, "invalid count, length or integer at offset {offset}")
            }
            ProtocolError::UnknownType { offset, symbol } => {
                write!(f, "unknown element type 0x{symbol:02x} at offset {offset}")
            }
            ProtocolError::TooLarge { limit } => {
                write!(f, "query larger than the limit of {limit} bytes")
            }
        }
    }
}

impl std::error::Error for ProtocolError {}

/// One top-level element of a parsed query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Element {
    /// A flat array of strings: an action name and its arguments. `first..first + count` index
    /// the parser's argument spans. `count` may be 0 (`_0\n`), which is a packet error.
    Action { first: usize, count: usize },
    /// A string, integer or nested array in action position: answered with a wrong-type error.
    NotAnAction,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FrameKind {
    /// The query itself, from `*<count>`.
    Query,
    /// `&`: elements of any type.
    Array,
    /// `_`: strings only. `record` is true for a top-level flat array, whose strings are the
    /// action's arguments; nested flat arrays are only validated.
    FlatArray { record: bool },
}

/// An open container and how many of its elements are still to come.
#[derive(Debug, Clone, Copy)]
struct Frame {
    kind: FrameKind,
    remaining: u64,
}

/// Resumable parser for one connection. Feed it the bytes of the current query (starting at its
/// first byte) each time more arrive; after a complete query, read it through [`Self::query`]
/// and call [`Self::reset`] before the next one. Buffers are reused between queries.
#[derive(Debug)]
pub struct QueryParser {
    max_query_bytes: usize,
    /// Bytes of the current query consumed so far: always the start of the next token.
    pos: usize,
    /// Open containers, outermost first. Empty before the metaframe and after the end.
    frames: Vec<Frame>,
    /// Set once the whole query has been parsed.
    complete: bool,
    elements: Vec<Element>,
    args: Vec<Span>,
}

/// Whether one token of the query was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Done,
    /// Its bytes have not all arrived.
    NeedMore,
}

/// Outcome of scanning a `<digits>\n` line.
enum Line {
    /// The number and the offset just past the LF.
    Number(u64, usize),
    NeedMore,
}

impl QueryParser {
    /// `max_query_bytes` must not exceed `u32::MAX` (spans are 32-bit).
    pub fn new(max_query_bytes: usize) -> Self {
        assert!(
            u32::try_from(max_query_bytes).is_ok(),
            "query limit {max_query_bytes} exceeds u32::MAX"
        );
        QueryParser {
            max_query_bytes,
            pos: 0,
            frames: Vec::new(),
            complete: false,
            elements: Vec::new(),
            args: Vec::new(),
        }
    }

    /// Forgets the current query, keeping allocated capacity unless an unusually large query
    /// grew it (then it is given back).
    pub fn reset(&mut self) {
        self.pos = 0;
        self.frames.clear();
        self.complete = false;
        self.elements.clear();
        self.args.clear();
        if self.held_bytes() > RETAINED_BOOKKEEPING_BYTES {
            self.frames = Vec::new();
            self.elements = Vec::new();
            self.args = Vec::new();
        }
    }

    /// The memory the parser's bookkeeping holds (it grows with the elements received).
    pub fn held_bytes(&self) -> usize {
        self.frames.capacity() * std::mem::size_of::<Frame>()
            + self.elements.capacity() * std::mem::size_of::<Element>()
            + self.args.capacity() * std::mem::size_of::<Span>()
    }

    /// Continues parsing `buf`, which holds the current query from its first byte (and possibly
    /// bytes of later queries). Returns `Ok(Some(len))` once the query is complete (`len` bytes
    /// long), `Ok(None)` when more bytes are needed.
    pub fn parse(&mut self, buf: &[u8]) -> Result<Option<usize>, ProtocolError> {
        if self.complete {
            return Ok(Some(self.pos));
        }
        // Only the first `max_query_bytes` bytes can belong to an acceptable query. Looking at no
        // more than those keeps the verdict independent of how the input was split: a byte past
        // the limit never decides between two different errors.
        let window = &buf[..buf.len().min(self.max_query_bytes)];
        match self.parse_window(window)? {
            Some(len) => Ok(Some(len)),
            None if buf.len() > self.max_query_bytes => Err(ProtocolError::TooLarge {
                limit: self.max_query_bytes,
            }),
            None => Ok(None),
        }
    }

    fn parse_window(&mut self, buf: &[u8]) -> Result<Option<usize>, ProtocolError> {
        loop {
            let Some(&symbol) = buf.get(self.pos) else {
                return Ok(None);
            };
            let step = match self.frames.last() {
                None => self.open_query(buf, symbol)?,
                Some(frame) => {
                    let parent = frame.kind;
                    if matches!(parent, FrameKind::FlatArray { .. }) && symbol != STRING_SYMBOL {
                        return Err(ProtocolError::UnknownType {
                            offset: self.pos,
                            symbol,
                        });
                    }
                    match symbol {
                        STRING_SYMBOL | UNSIGNED_SYMBOL => self.scalar(buf, symbol, parent)?,
                        ARRAY_SYMBOL | FLAT_ARRAY_SYMBOL => {
                            self.open_container(buf, symbol, parent)?
                        }
                        _ => {
                            return Err(ProtocolError::UnknownType {
                                offset: self.pos,
                                symbol,
                            })
                        }
                    }
                }
            };
            if step == Step::NeedMore {
                return Ok(None);
            }
            if self.frames.is_empty() {
                self.complete = true;
                return Ok(Some(self.pos));
            }
        }
    }

    /// The metaframe `*<count>\n` that opens a query.
    #[inline]
    fn open_query(&mut self, buf: &[u8], symbol: u8) -> Result<Step, ProtocolError> {
        if symbol != QUERY_SYMBOL {
            return Err(ProtocolError::UnexpectedByte {
                offset: self.pos,
                byte: symbol,
            });
        }
        let Line::Number(count, next) = self.size_line(buf, self.pos + 1)? else {
            return Ok(Step::NeedMore);
        };
        if count == 0 {
            return Err(ProtocolError::EmptyQuery);
        }
        self.check_declared(next, count.saturating_mul(MIN_ELEMENT_BYTES))?;
        self.pos = next;
        self.frames.push(Frame {
            kind: FrameKind::Query,
            remaining: count,
        });
        Ok(Step::Done)
    }

    /// A string or an unsigned integer: `+<len>\n<bytes>\n` or `:<len>\n<digits>\n`, inside
    /// the container `parent`.
    #[inline]
    fn scalar(&mut self, buf: &[u8], symbol: u8, parent: FrameKind) -> Result<Step, ProtocolError> {
        let Line::Number(len, start) = self.size_line(buf, self.pos + 1)? else {
            return Ok(Step::NeedMore);
        };
        self.check_declared(start, len.saturating_add(1))?;
        // check_declared bounds start + len + 1 by the query limit.
        let end = start + len as usize;
        let Some(&terminator) = buf.get(end) else {
            return Ok(Step::NeedMore);
        };
        if terminator != LF {
            return Err(ProtocolError::UnexpectedByte {
                offset: end,
                byte: terminator,
            });
        }
        if symbol == UNSIGNED_SYMBOL && parse_decimal(&buf[start..end]).is_none() {
            return Err(ProtocolError::BadNumber { offset: start });
        }
        if parent == FrameKind::Query {
            self.elements.push(Element::NotAnAction);
        } else if parent == (FrameKind::FlatArray { record: true }) {
            self.args.push(Span::new(start, len as usize));
        }
        self.pos = end + 1;
        self.finish_element();
        Ok(Step::Done)
    }

    /// An array `&<count>\n` or a flat array `_<count>\n`, inside the container `parent`.
    #[inline]
    fn open_container(
        &mut self,
        buf: &[u8],
        symbol: u8,
        parent: FrameKind,
    ) -> Result<Step, ProtocolError> {
        let Line::Number(count, next) = self.size_line(buf, self.pos + 1)? else {
            return Ok(Step::NeedMore);
        };
        self.check_declared(next, count.saturating_mul(MIN_ELEMENT_BYTES))?;
        let top_level = parent == FrameKind::Query;
        let kind = if symbol == ARRAY_SYMBOL {
            FrameKind::Array
        } else {
            FrameKind::FlatArray { record: top_level }
        };
        if top_level {
            self.elements.push(if kind == FrameKind::Array {
                Element::NotAnAction
            } else {
                Element::Action {
                    first: self.args.len(),
                    count: 0,
                }
            });
        }
        self.pos = next;
        if count == 0 {
            self.finish_element();
        } else {
            self.frames.push(Frame {
                kind,
                remaining: count,
            });
        }
        Ok(Step::Done)
    }

    /// The elements of the complete query; `buf` is the same buffer given to [`Self::parse`].
    pub fn query<'a>(&'a self, buf: &'a [u8]) -> ParsedQuery<'a> {
        debug_assert!(
            self.complete,
            "query() called before the query was complete"
        );
        ParsedQuery {
            buf,
            elements: &self.elements,
            args: &self.args,
        }
    }

    /// Marks one element of the innermost open container as done, closing every container that
    /// this completes (a closed container is itself an element of its parent).
    fn finish_element(&mut self) {
        while let Some(frame) = self.frames.last_mut() {
            frame.remaining -= 1;
            if frame.remaining > 0 {
                return;
            }
            let closed = self.frames.pop().map(|frame| frame.kind);
            if let Some(FrameKind::FlatArray { record: true }) = closed {
                if let Some(Element::Action { first, count }) = self.elements.last_mut() {
                    *count = self.args.len() - *first;
                }
            }
        }
    }

    /// Reads `<digits>\n` starting at `start`. Errors as soon as the bytes seen make the line
    /// invalid, so the verdict does not depend on how the input was split.
    fn size_line(&self, buf: &[u8], start: usize) -> Result<Line, ProtocolError> {
        let mut value: u64 = 0;
        for (index, &byte) in buf.iter().enumerate().skip(start) {
            if byte == LF {
                if index == start {
                    return Err(ProtocolError::BadNumber { offset: start });
                }
                return Ok(Line::Number(value, index + 1));
            }
            value = match append_digit(value, byte) {
                Some(value) if index - start < MAX_SIZE_LINE_BYTES => value,
                _ => return Err(ProtocolError::BadNumber { offset: start }),
            };
        }
        Ok(Line::NeedMore)
    }

    /// Refuses a declaration that needs at least `needed` bytes after offset `from` if that
    /// would take the query past its limit.
    fn check_declared(&self, from: usize, needed: u64) -> Result<(), ProtocolError> {
        let room = self.max_query_bytes.saturating_sub(from) as u64;
        if needed > room {
            return Err(ProtocolError::TooLarge {
                limit: self.max_query_bytes,
            });
        }
        Ok(())
    }
}

/// Decimal digits to u64: `None` if empty, a non-digit, or an overflow.
pub fn parse_decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits
        .iter()
        .try_fold(0u64, |value, &byte| append_digit(value, byte))
}

/// `value * 10 + digit`: `None` if `byte` is not an ASCII digit or the result overflows.
fn append_digit(value: u64, byte: u8) -> Option<u64> {
    if !byte.is_ascii_digit() {
        return None;
    }
    value.checked_mul(10)?.checked_add(u64::from(byte - b'0'))
}

/// A complete query, borrowed from the parser and the connection's buffer.
#[derive(Debug, Clone, Copy)]
pub struct ParsedQuery<'a> {
    buf: &'a [u8],
    elements: &'a [Element],
    args: &'a [Span],
}

impl<'a> ParsedQuery<'a> {
    /// Number of top-level elements (`N` of `*N`).
    pub fn len(&self) -> usize {
        self.elements.len()
    }

    pub fn is_empty(&self) -> bool {
        self.elements.is_empty()
    }

    pub fn element(&self, index: usize) -> Element {
        self.elements[index]
    }

    /// The strings of an [`Element::Action`]: the action name first, then its arguments.
    pub fn action_args(&self, first: usize, count: usize) -> Args<'a> {
        Args::new(self.buf, &self.args[first..first + count])
    }
}

/// An owned copy of a parsed query, for tests, fuzzing and tools.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwnedElement {
    Action(Vec<Vec<u8>>),
    NotAnAction,
}

/// Parses one query from the start of `buf` in a single call: `Ok(None)` if incomplete,
/// otherwise its elements and its length in bytes.
pub fn parse(
    buf: &[u8],
    max_query_bytes: usize,
) -> Result<Option<(Vec<OwnedElement>, usize)>, ProtocolError> {
    let mut parser = QueryParser::new(max_query_bytes);
    Ok(parser
        .parse(buf)?
        .map(|len| (to_owned(parser.query(&buf[..len])), len)))
}

/// Copies a parsed query out of its buffer.
pub fn to_owned(query: ParsedQuery<'_>) -> Vec<OwnedElement> {
    (0..query.len())
        .map(|index| match query.element(index) {
            Element::Action { first, count } => OwnedElement::Action(
                query
                    .action_args(first, count)
                    .iter()
                    .map(<[u8]>::to_vec)
                    .collect(),
            ),
            Element::NotAnAction => OwnedElement::NotAnAction,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: usize = 1 << 20;

    fn action(args: &[&[u8]]) -> OwnedElement {
        OwnedElement::Action(args.iter().map(|a| a.to_vec()).collect())
    }

    /// Every well-formed query the spec shows, with its parsed elements.
    fn valid_examples() -> Vec<(&'static [u8], Vec<OwnedElement>)> {
        vec![
            (
                b"*1\n_3\n+3\nSET\n+1\nx\n+3\n100\n",
                vec![action(&[b"SET", b"x", b"100"])],
            ),
            (b"*1\n_2\n+3\nGET\n+1\nx\n", vec![action(&[b"GET", b"x"])]),
            (b"*1\n_1\n+4\nHEYA\n", vec![action(&[b"HEYA"])]),
            (b"*1\n_1\n+6\nDBSIZE\n", vec![action(&[b"DBSIZE"])]),
            (
                b"*1\n_3\n+4\nMGET\n+1\nx\n+4\nnope\n",
                vec![action(&[b"MGET", b"x", b"nope"])],
            ),
            (
                b"*1\n_2\n+6\nLSKEYS\n+3\nabc\n",
                vec![action(&[b"LSKEYS", b"abc"])],
            ),
            (b"*1\n_1\n+6\nFOOBAR\n", vec![action(&[b"FOOBAR"])]),
            (
                b"*2\n_2\n+3\nGET\n+1\nx\n_1\n+4\nHEYA\n",
                vec![action(&[b"GET", b"x"]), action(&[b"HEYA"])],
            ),
            (b"*1\n_0\n", vec![action(&[])]),
            (b"*1\n_2\n+0\n\n+0\n\n", vec![action(&[b"", b""])]),
            (b"*1\n+5\nsayan\n", vec![OwnedElement::NotAnAction]),
            (
                b"*1\n:20\n18446744073709551615\n",
                vec![OwnedElement::NotAnAction],
            ),
            (
                b"*1\n&3\n+3\nACT\n+3\nfoo\n&4\n+1\na\n:1\n1\n_1\n+1\nb\n&0\n",
                vec![OwnedElement::NotAnAction],
            ),
            (
                b"*3\n&1\n_1\n+1\nz\n_1\n+4\nHEYA\n+0\n\n",
                vec![
                    OwnedElement::NotAnAction,
                    action(&[b"HEYA"]),
                    OwnedElement::NotAnAction,
                ],
            ),
            (b"*0001\n_01\n+004\nHEYA\n", vec![action(&[b"HEYA"])]),
            (
                b"*1\n_2\n+3\nGET\n+2\n\xff\x00\n",
                vec![action(&[b"GET", b"\xff\x00"])],
            ),
        ]
    }

    /// Malformed queries and the error each must give, whatever comes after.
    fn malformed_examples() -> Vec<(&'static [u8], ProtocolError)> {
        use ProtocolError::*;
        vec![
            (
                b"$1\n",
                UnexpectedByte {
                    offset: 0,
                    byte: b'$',
                },
            ),
            (
                b"\r1\n",
                UnexpectedByte {
                    offset: 0,
                    byte: b'\r',
                },
            ),
            (
                b"\n\n\n",
                UnexpectedByte {
                    offset: 0,
                    byte: b'\n',
                },
            ),
            (b"*0\n", EmptyQuery),
            (b"*x\n", BadNumber { offset: 1 }),
            (b"*\n", BadNumber { offset: 1 }),
            (b"*1\n_a\n", BadNumber { offset: 4 }),
            (b"*1\n_\n", BadNumber { offset: 4 }),
            (b"*1\n_1\n+5a\n", BadNumber { offset: 7 }),
            (b"*1\n_1\n+\nab\n", BadNumber { offset: 7 }),
            (
                b"*1\n_1\n+4\nHEYA\r",
                UnexpectedByte {
                    offset: 13,
                    byte: b'\r',
                },
            ),
            (
                b"*1\n_1\n+4\nHEYAB\n",
                UnexpectedByte {
                    offset: 13,
                    byte: b'B',
                },
            ),
            (b"*1\n:21\n184467440737095516156\n", BadNumber { offset: 7 }),
            (b"*1\n:2\n1a\n", BadNumber { offset: 6 }),
            (b"*1\n:0\n\n", BadNumber { offset: 6 }),
            (
                b"*1\n~1\n+1\nx\n",
                UnknownType {
                    offset: 3,
                    symbol: b'~',
                },
            ),
            (
                b"*1\n!1\n0\n",
                UnknownType {
                    offset: 3,
                    symbol: b'!',
                },
            ),
            (
                b"*2\n_1\n+1\nx\n*1\n",
                UnknownType {
                    offset: 11,
                    symbol: b'*',
                },
            ),
            (
                b"*1\n&1\n$1\n",
                UnknownType {
                    offset: 6,
                    symbol: b'$',
                },
            ),
            (
                b"*1\n_1\n:1\n1\n",
                UnknownType {
                    offset: 6,
                    symbol: b':',
                },
            ),
            (
                b"*1\n_1\n_0\n",
                UnknownType {
                    offset: 6,
                    symbol: b'_',
                },
            ),
            (b"*99999999999999999999999\n", BadNumber { offset: 1 }),
            (
                b"*1\n+000000000000000000000000000000001\nx\n",
                BadNumber { offset: 4 },
            ),
            (b"*1\n+18446744073709551615\n", TooLarge { limit: LIMIT }),
            (b"*1\n_18446744073709551615\n", TooLarge { limit: LIMIT }),
            (b"*18446744073709551615\n", TooLarge { limit: LIMIT }),
            (b"*1\n&1\n&1\n+1048576\n", TooLarge { limit: LIMIT }),
        ]
    }

    #[test]
    fn valid_examples_parse_to_their_elements() {
        for (bytes, expected) in valid_examples() {
            assert_eq!(
                parse(bytes, LIMIT),
                Ok(Some((expected, bytes.len()))),
                "{}",
                String::from_utf8_lossy(bytes).escape_debug()
            );
        }
    }

    #[test]
    fn every_cut_of_a_valid_query_needs_more_bytes() {
        for (bytes, _) in valid_examples() {
            for cut in 0..bytes.len() {
                assert_eq!(
                    parse(&bytes[..cut], LIMIT),
                    Ok(None),
                    "cut at {cut} of {}",
                    String::from_utf8_lossy(bytes).escape_debug()
                );
            }
        }
    }

    #[test]
    fn every_cut_of_a_malformed_query_is_incomplete_or_the_same_error() {
        for (bytes, error) in malformed_examples() {
            assert_eq!(
                parse(bytes, LIMIT),
                Err(error),
                "{}",
                String::from_utf8_lossy(bytes).escape_debug()
            );
            for cut in 0..bytes.len() {
                let verdict = parse(&bytes[..cut], LIMIT);
                assert!(
                    verdict == Ok(None) || verdict == Err(error),
                    "cut at {cut} of {}: {verdict:?}",
                    String::from_utf8_lossy(bytes).escape_debug()
                );
            }
        }
    }

    /// One parser fed a growing buffer (as a connection does) agrees with a single-shot parse.
    #[test]
    fn resumed_parsing_matches_single_shot() {
        for (bytes, expected) in valid_examples() {
            for step in 1..=bytes.len() {
                let mut parser = QueryParser::new(LIMIT);
                let mut fed = 0;
                let verdict = loop {
                    fed = (fed + step).min(bytes.len());
                    match parser.parse(&bytes[..fed]) {
                        Ok(None) if fed < bytes.len() => continue,
                        other => break other,
                    }
                };
                assert_eq!(verdict, Ok(Some(bytes.len())));
                assert_eq!(to_owned(parser.query(bytes)), expected);
            }
        }
        for (bytes, error) in malformed_examples() {
            let mut parser = QueryParser::new(LIMIT);
            let verdict = (1..=bytes.len())
                .map(|fed| parser.parse(&bytes[..fed]))
                .find(|verdict| *verdict != Ok(None));
            assert_eq!(verdict, Some(Err(error)));
        }
    }

    #[test]
    fn a_complete_query_leaves_the_next_one_in_the_buffer() {
        let bytes = b"*1\n_1\n+4\nHEYA\n*1\n";
        assert_eq!(
            parse(bytes, LIMIT),
            Ok(Some((vec![action(&[b"HEYA"])], 14)))
        );
        let mut parser = QueryParser::new(LIMIT);
        assert_eq!(parser.parse(bytes), Ok(Some(14)));
        parser.reset();
        assert_eq!(parser.parse(&bytes[14..]), Ok(None));
    }

    #[test]
    fn the_limit_counts_received_and_declared_bytes() {
        let query = b"*1\n_2\n+3\nGET\n+5\nabcde\n";
        assert_eq!(parse(query, query.len()).map(|q| q.is_some()), Ok(true));
        let too_large = Err(ProtocolError::TooLarge {
            limit: query.len() - 1,
        });
        // The declared length of "abcde" already exceeds the limit.
        assert_eq!(parse(&query[..16], query.len() - 1), too_large);
        // Bytes beyond the limit with the query still incomplete (a long size line).
        assert_eq!(
            parse(b"*1\n_1\n+00000", 10),
            Err(ProtocolError::TooLarge { limit: 10 })
        );
        assert_eq!(parse(b"*1\n_1\n+000", 10), Ok(None));
        // Declared element counts need at least three bytes each.
        assert_eq!(parse(b"*4\n", 15), Ok(None));
        assert_eq!(
            parse(b"*4\n", 14),
            Err(ProtocolError::TooLarge { limit: 14 })
        );
    }

    #[test]
    fn a_declared_count_does_not_preallocate() {
        let mut parser = QueryParser::new(u32::MAX as usize);
        assert_eq!(parser.parse(b"*1\n_1000000000\n+1\nx\n"), Ok(None));
        assert!(parser.args.capacity() < 1024);
        assert!(parser.elements.capacity() < 1024);
    }
}

//! Incremental RESP2 request parser: bytes in, a request's arguments out, no I/O.
//!
//! A request is a multibulk (`*<n>\r\n` then `n` times `$<len>\r\n<bytes>\r\n`) or, when its
//! first byte is not `*`, an inline line split as `redis-cli` would type it (quotes, escapes).
//! Framing follows Redis 7.0's `processMultibulkBuffer` and `processInlineBuffer`: a count line
//! ends at its `\r` and the byte after it is skipped unread, as are the two bytes after a bulk;
//! `*0`, `*-1` and blank inline lines are requests with no arguments (no reply). Errors are
//! Redis's, worded as Redis words them. Multibulk arguments are spans into the caller's buffer;
//! inline ones are decoded into the parser's own buffer, at most [`INLINE_MAX_BYTES`]. Nothing
//! is allocated for a declared count or length, only for what arrived, and a request that is
//! or has declared it will be larger than the limit is refused as soon as that is certain.
//! Invariant: whatever way the input is split, the parser yields the same requests and errors.

use std::fmt;

use crate::args::{Args, Span};

/// Redis's `PROTO_INLINE_MAX_SIZE`: the longest inline request, and the longest count line.
pub const INLINE_MAX_BYTES: usize = 64 * 1024;
/// Redis's default `proto-max-bulk-len`: the longest single argument.
pub const BULK_MAX_BYTES: u64 = 512 * 1024 * 1024;
/// Redis refuses a multibulk count above `INT_MAX`.
const MULTIBULK_MAX_COUNT: i64 = i32::MAX as i64;
/// The smallest bulk on the wire, `$0\r\n\r\n`: a declared count of `n` needs `6 n` bytes.
const MIN_BULK_BYTES: u64 = 6;
/// Bookkeeping kept between requests; more than this, grown by a large request, is given back.
const RETAINED_BOOKKEEPING_BYTES: usize = 64 * 1024;

/// Why a request cannot be parsed. Each is answered with [`ProtocolError::reply`]; then the
/// connection is closed, because the rest of the stream can no longer be framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProtocolError {
    /// `*` followed by something that is not a count, or a count above `INT_MAX`.
    InvalidMultibulkLength,
    /// A bulk header that does not start with `$`.
    ExpectedDollar { got: u8 },
    /// `$` followed by something that is not a length, a negative one, or one above 512 MiB.
    InvalidBulkLength,
    /// More than 64 KiB of count line without `\r`.
    TooBigMultibulkCount,
    /// More than 64 KiB of bulk header without `\r`.
    TooBigBulkCount,
    /// More than 64 KiB of inline request without `\n`.
    TooBigInline,
    /// An inline request with a quote that is not closed, or closed and not followed by a space.
    UnbalancedQuotes,
    /// Ours: the request is, or has declared it will be, larger than the query limit.
    TooLarge { limit: usize },
}

impl ProtocolError {
    /// The text of the error reply, after `-`: Redis's own, or ours for the query limit.
    pub fn reply(&self) -> String {
        let what = match self {
            ProtocolError::InvalidMultibulkLength => "invalid multibulk length".to_owned(),
            ProtocolError::ExpectedDollar { got } => {
                // Redis prints the byte as it is; a CR or LF would break the reply line.
                let got = if matches!(got, b'\r' | b'\n') {
                    b' '
                } else {
                    *got
                };
                format!("expected '$', got '{}'", char::from(got))
            }
            ProtocolError::InvalidBulkLength => "invalid bulk length".to_owned(),
            ProtocolError::TooBigMultibulkCount => "too big mbulk count string".to_owned(),
            ProtocolError::TooBigBulkCount => "too big bulk count string".to_owned(),
            ProtocolError::TooBigInline => "too big inline request".to_owned(),
            ProtocolError::UnbalancedQuotes => "unbalanced quotes in request".to_owned(),
            ProtocolError::TooLarge { limit } => {
                format!("request larger than the limit of {limit} bytes (--max-query-size)")
            }
        };
        format!("ERR Protocol error: {what}")
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtocolError::ExpectedDollar { got } => {
                write!(f, "expected '$' to open a bulk, got 0x{got:02x}")
            }
            other => {
                let reply = other.reply();
                f.write_str(reply.trim_start_matches("ERR Protocol error: "))
            }
        }
    }
}

impl std::error::Error for ProtocolError {}

/// Where the parser is in the current request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Nothing of it taken yet.
    Start,
    /// Inside a multibulk, this many bulks still to come.
    Bulks { remaining: u64 },
    /// The whole request has been parsed.
    Complete,
}

/// Outcome of looking for the end of a count line.
enum Line {
    /// The line's `\r` is at this offset, and the byte after it has arrived.
    EndsAt(usize),
    NeedMore,
}

/// Resumable parser for one connection. Feed it the bytes of the current request (starting at
/// its first byte) each time more arrive; once it is complete, read it through [`Self::args`]
/// and call [`Self::reset`] before the next one. Buffers are reused between requests.
#[derive(Debug)]
pub struct RequestParser {
    max_query_bytes: usize,
    /// Bytes of the current request consumed so far: the start of the next token.
    pos: usize,
    state: State,
    /// Whether the arguments lie in `inline` rather than the caller's buffer.
    is_inline: bool,
    /// Bytes of the line starting at `pos` already searched for its end without finding it:
    /// the next search starts there, so a line trickling in costs time linear in its length.
    scanned: usize,
    args: Vec<Span>,
    inline: Vec<u8>,
}

impl RequestParser {
    /// `max_query_bytes` must not exceed `u32::MAX` (spans are 32-bit).
    pub fn new(max_query_bytes: usize) -> Self {
        assert!(
            u32::try_from(max_query_bytes).is_ok(),
            "query limit {max_query_bytes} exceeds u32::MAX"
        );
        RequestParser {
            max_query_bytes,
            pos: 0,
            state: State::Start,
            is_inline: false,
            scanned: 0,
            args: Vec::new(),
            inline: Vec::new(),
        }
    }

    /// Forgets the current request, keeping allocated capacity unless an unusually large one
    /// grew it (then it is given back).
    pub fn reset(&mut self) {
        self.pos = 0;
        self.state = State::Start;
        self.is_inline = false;
        self.scanned = 0;
        self.args.clear();
        self.inline.clear();
        if self.held_bytes() > RETAINED_BOOKKEEPING_BYTES {
            self.args = Vec::new();
            self.inline = Vec::new();
        }
    }

    /// The memory the parser's bookkeeping holds.
    pub fn held_bytes(&self) -> usize {
        self.args.capacity() * std::mem::size_of::<Span>() + self.inline.capacity()
    }

    /// Continues parsing `buf`, which holds the current request from its first byte (and
    /// possibly later ones). `Ok(Some(len))` once it is complete, `len` bytes long (its
    /// arguments may be none: nothing to execute); `Ok(None)` when more bytes are needed.
    pub fn parse(&mut self, buf: &[u8]) -> Result<Option<usize>, ProtocolError> {
        // Only the first `max_query_bytes` bytes can belong to an acceptable request; looking
        // at no more keeps the verdict independent of how the input was split.
        let window = &buf[..buf.len().min(self.max_query_bytes)];
        match self.parse_window(window)? {
            Some(len) => Ok(Some(len)),
            None if buf.len() > self.max_query_bytes => Err(self.too_large()),
            None => Ok(None),
        }
    }

    /// The arguments of the complete request; `buf` is the buffer given to [`Self::parse`].
    pub fn args<'a>(&'a self, buf: &'a [u8]) -> Args<'a> {
        debug_assert!(self.state == State::Complete, "args() before completion");
        Args::new(if self.is_inline { &self.inline } else { buf }, &self.args)
    }

    fn too_large(&self) -> ProtocolError {
        ProtocolError::TooLarge {
            limit: self.max_query_bytes,
        }
    }

    fn parse_window(&mut self, buf: &[u8]) -> Result<Option<usize>, ProtocolError> {
        loop {
            match self.state {
                State::Complete => return Ok(Some(self.pos)),
                State::Start => match buf.first() {
                    None => return Ok(None),
                    Some(b'*') => {
                        if !self.open_multibulk(buf)? {
                            return Ok(None);
                        }
                    }
                    Some(_) => return self.inline_request(buf),
                },
                State::Bulks { remaining } => {
                    if !self.bulk(buf, remaining)? {
                        return Ok(None);
                    }
                }
            }
        }
    }

    /// `*<count>\r?`: returns whether it was taken.
    fn open_multibulk(&mut self, buf: &[u8]) -> Result<bool, ProtocolError> {
        let too_long = ProtocolError::TooBigMultibulkCount;
        let Line::EndsAt(cr) = count_line(buf, 0, &mut self.scanned, too_long)? else {
            return Ok(false);
        };
        self.scanned = 0;
        let count = match super::number::parse_i64(&buf[1..cr]) {
            Some(count) if count <= MULTIBULK_MAX_COUNT => count,
            _ => return Err(ProtocolError::InvalidMultibulkLength),
        };
        self.pos = cr + 2;
        if count <= 0 {
            self.state = State::Complete;
            return Ok(true);
        }
        let count = count as u64;
        self.check_declared(self.pos, count * MIN_BULK_BYTES)?;
        self.state = State::Bulks { remaining: count };
        Ok(true)
    }

    /// `$<len>\r?<bytes>??`: returns whether it was taken.
    fn bulk(&mut self, buf: &[u8], remaining: u64) -> Result<bool, ProtocolError> {
        let too_long = ProtocolError::TooBigBulkCount;
        let Line::EndsAt(cr) = count_line(buf, self.pos, &mut self.scanned, too_long)? else {
            return Ok(false);
        };
        if buf[self.pos] != b'$' {
            return Err(ProtocolError::ExpectedDollar { got: buf[self.pos] });
        }
        let len = match super::number::parse_i64(&buf[self.pos + 1..cr]) {
            Some(len) if len >= 0 && len as u64 <= BULK_MAX_BYTES => len as u64,
            _ => return Err(ProtocolError::InvalidBulkLength),
        };
        let start = cr + 2;
        self.check_declared(start, len + 2)?;
        // check_declared bounds start + len + 2 by the query limit.
        let end = start + len as usize;
        if buf.len() < end + 2 {
            return Ok(false);
        }
        self.args.push(Span::new(start, len as usize));
        self.pos = end + 2;
        self.scanned = 0;
        self.state = match remaining - 1 {
            0 => State::Complete,
            remaining => State::Bulks { remaining },
        };
        Ok(true)
    }

    /// A whole inline request: one line, split into arguments.
    fn inline_request(&mut self, buf: &[u8]) -> Result<Option<usize>, ProtocolError> {
        let searched = &buf[..buf.len().min(INLINE_MAX_BYTES + 1)];
        let found = searched[self.scanned..]
            .iter()
            .position(|&byte| byte == b'\n');
        let Some(lf) = found.map(|at| self.scanned + at) else {
            if buf.len() > INLINE_MAX_BYTES {
                return Err(ProtocolError::TooBigInline);
            }
            self.scanned = searched.len();
            return Ok(None);
        };
        let line = buf[..lf].strip_suffix(b"\r").unwrap_or(&buf[..lf]);
        split_inline(line, &mut self.inline, &mut self.args)?;
        self.is_inline = true;
        self.pos = lf + 1;
        self.state = State::Complete;
        Ok(Some(self.pos))
    }

    /// Refuses a declaration that needs at least `needed` bytes after offset `from` if that
    /// would take the request past its limit.
    fn check_declared(&self, from: usize, needed: u64) -> Result<(), ProtocolError> {
        let room = self.max_query_bytes.saturating_sub(from) as u64;
        if needed > room {
            return Err(self.too_large());
        }
        Ok(())
    }
}

/// The count line that starts at `start` (its `*` or `$`): where its `\r` is, once the byte
/// after it has arrived too. No `\r` within [`INLINE_MAX_BYTES`] is `too_long`. `scanned`
/// bytes of it are known to hold no `\r`, and is advanced past what this call searched.
fn count_line(
    buf: &[u8],
    start: usize,
    scanned: &mut usize,
    too_long: ProtocolError,
) -> Result<Line, ProtocolError> {
    let rest = &buf[start..];
    let searched = &rest[..rest.len().min(INLINE_MAX_BYTES + 1)];
    match searched[*scanned..].iter().position(|&byte| byte == b'\r') {
        Some(at) if *scanned + at + 1 < rest.len() => Ok(Line::EndsAt(start + *scanned + at)),
        Some(at) => {
            *scanned += at;
            Ok(Line::NeedMore)
        }
        None if rest.len() > INLINE_MAX_BYTES => Err(too_long),
        None => {
            *scanned = searched.len();
            Ok(Line::NeedMore)
        }
    }
}

/// C's `isspace`.
fn is_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

fn hex_value(byte: u8) -> Option<u8> {
    char::from(byte).to_digit(16).map(|digit| digit as u8)
}

/// Redis's `sdssplitargs`: arguments separated by blanks; `"…"` with the escapes `\n \r \t \b
/// \a \xHH` and `\<any>`; `'…'` with `\'`; a closing quote must be followed by a blank or the
/// end. The line is a C string to Redis, so it ends at its first NUL. Decoded arguments are
/// appended to `bytes`, their spans to `spans`.
fn split_inline(
    line: &[u8],
    bytes: &mut Vec<u8>,
    spans: &mut Vec<Span>,
) -> Result<(), ProtocolError> {
    let line = &line[..line.iter().position(|&b| b == 0).unwrap_or(line.len())];
    // The byte at `i`, or the terminating NUL past the end.
    let at = |i: usize| line.get(i).copied().unwrap_or(0);
    let closes = |i: usize| at(i + 1) == 0 || is_space(at(i + 1));
    let mut p = 0;
    loop {
        while p < line.len() && is_space(line[p]) {
            p += 1;
        }
        if p == line.len() {
            return Ok(());
        }
        let start = bytes.len();
        let (mut in_double, mut in_single) = (false, false);
        loop {
            let mut done = false;
            let byte = at(p);
            if in_double {
                let hex = (at(p + 1) == b'x')
                    .then(|| Some(hex_value(at(p + 2))? * 16 + hex_value(at(p + 3))?))
                    .flatten();
                match (byte, hex) {
                    (b'\\', Some(value)) => {
                        bytes.push(value);
                        p += 3;
                    }
                    (b'\\', None) if at(p + 1) != 0 => {
                        p += 1;
                        bytes.push(match at(p) {
                            b'n' => b'\n',
                            b'r' => b'\r',
                            b't' => b'\t',
                            b'b' => 0x08,
                            b'a' => 0x07,
                            other => other,
                        });
                    }
                    (b'"', _) if closes(p) => done = true,
                    (b'"' | 0, _) => return Err(ProtocolError::UnbalancedQuotes),
                    (other, _) => bytes.push(other),
                }
            } else if in_single {
                match byte {
                    b'\\' if at(p + 1) == b'\'' => {
                        p += 1;
                        bytes.push(b'\'');
                    }
                    b'\'' if closes(p) => done = true,
                    b'\'' | 0 => return Err(ProtocolError::UnbalancedQuotes),
                    other => bytes.push(other),
                }
            } else {
                match byte {
                    b' ' | b'\n' | b'\r' | b'\t' | 0 => done = true,
                    b'"' => in_double = true,
                    b'\'' => in_single = true,
                    other => bytes.push(other),
                }
            }
            if at(p) != 0 {
                p += 1;
            }
            if done {
                break;
            }
        }
        spans.push(Span::new(start, bytes.len() - start));
    }
}

/// A request's arguments, copied out of their buffer.
pub type OwnedArgs = Vec<Vec<u8>>;

/// Parses one request from the start of `buf` in a single call: `Ok(None)` if incomplete,
/// otherwise its arguments (copied) and its length in bytes. For tests, fuzzing and tools.
pub fn parse(
    buf: &[u8],
    max_query_bytes: usize,
) -> Result<Option<(OwnedArgs, usize)>, ProtocolError> {
    let mut parser = RequestParser::new(max_query_bytes);
    Ok(parser.parse(buf)?.map(|len| {
        let args = parser.args(&buf[..len]);
        (args.iter().map(<[u8]>::to_vec).collect(), len)
    }))
}

#[cfg(test)]
mod tests;

//! The two wire protocols the benchmark speaks as a client: which one, its default port, request
//! encoding, and the error for a reply that cannot be framed. The reply parsers themselves are
//! the server library's `stratus::protocol::reply` (Skyhash) and `resp`; this module only
//! dispatches between them and does no I/O.

use std::fmt;

use stratus::protocol::reply::{self, ReplyError};

use crate::resp;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// Skyhash 1.0, spoken by Stratus (and Skytable 0.6).
    Skyhash,
    /// RESP2, spoken by Redis.
    Resp,
}

impl Protocol {
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Skyhash => "skyhash",
            Protocol::Resp => "resp",
        }
    }

    /// Skyhash's ports are skyd's: 2003, and 2004 for TLS. Redis has no TLS port of its own;
    /// TLS setups commonly move 6379 to TLS (`--tls-port 6379 --port 0`).
    pub fn default_port(self, tls: bool) -> u16 {
        match (self, tls) {
            (Protocol::Skyhash, false) => 2003,
            (Protocol::Skyhash, true) => 2004,
            (Protocol::Resp, _) => 6379,
        }
    }

    /// Appends one request carrying the command `parts` (name first).
    pub fn encode_request(self, out: &mut Vec<u8>, parts: &[&[u8]]) {
        match self {
            Protocol::Skyhash => stratus::protocol::write::action_query(out, parts),
            Protocol::Resp => resp::encode_command(out, parts),
        }
    }

    /// The length of the complete reply at the start of `buf`, `None` if more bytes are needed.
    pub fn reply_len(self, buf: &[u8]) -> Result<Option<usize>, MalformedReply> {
        Ok(match self {
            Protocol::Skyhash => reply::parse(buf)?.map(|(_, len)| len),
            Protocol::Resp => resp::parse_reply(buf)?.map(|(_, len)| len),
        })
    }
}

/// Why the bytes a server sent cannot be a reply of its protocol. After one, the rest of the
/// stream cannot be framed, so the connection is given up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MalformedReply {
    /// A byte that cannot stand where it is (a missing line terminator, a wrong header).
    UnexpectedByte { offset: usize, byte: u8 },
    /// A size, count or integer line that is empty, not a number, or out of range.
    BadNumber { offset: usize },
    /// A type symbol the protocol does not define, or one not allowed where it stands.
    UnknownType { offset: usize, symbol: u8 },
    /// Arrays nested deeper than any reply of the commands used here.
    TooDeep { offset: usize },
}

impl fmt::Display for MalformedReply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            MalformedReply::UnexpectedByte { offset, byte } => {
                write!(f, "unexpected byte 0x{byte:02x} at offset {offset}")
            }
            MalformedReply::BadNumber { offset } => {
                write!(f, "invalid size, count or integer at offset {offset}")
            }
            MalformedReply::UnknownType { offset, symbol } => {
                write!(f, "unknown element type 0x{symbol:02x} at offset {offset}")
            }
            MalformedReply::TooDeep { offset } => {
                write!(f, "arrays nested too deeply at offset {offset}")
            }
        }
    }
}

impl std::error::Error for MalformedReply {}

impl From<ReplyError> for MalformedReply {
    fn from(error: ReplyError) -> Self {
        match error {
            ReplyError::UnexpectedByte { offset, byte } => {
                MalformedReply::UnexpectedByte { offset, byte }
            }
            ReplyError::BadNumber { offset } => MalformedReply::BadNumber { offset },
            ReplyError::UnknownType { offset, symbol } => {
                MalformedReply::UnknownType { offset, symbol }
            }
            ReplyError::TooDeep { offset } => MalformedReply::TooDeep { offset },
        }
    }
}

/// The deepest array nesting a RESP reply may have: the same bound as Skyhash replies'. The
/// commands used here nest at most one level; the bound keeps a hostile stream from recursing
/// the parser off the stack.
pub const MAX_REPLY_DEPTH: usize = reply::MAX_NESTING;

/// Bytes shown when quoting a reply in a message: enough to recognise it, short enough for a
/// terminal line.
const QUOTE_LIMIT: usize = 120;

/// `bytes` as printable text (`\n`, `\r`, `\xNN` escapes), cut after [`QUOTE_LIMIT`] bytes.
pub fn quote(bytes: &[u8]) -> String {
    let shown = &bytes[..bytes.len().min(QUOTE_LIMIT)];
    let mut text: String = shown.escape_ascii().to_string();
    if bytes.len() > QUOTE_LIMIT {
        text.push_str(&format!("… ({} bytes in all)", bytes.len()));
    }
    format!("\"{text}\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_escapes_and_cuts() {
        assert_eq!(quote(b"*1\n!1\n5\n"), "\"*1\\n!1\\n5\\n\"");
        assert_eq!(quote(b"+OK\r\n"), "\"+OK\\r\\n\"");
        let long = vec![b'x'; 200];
        assert!(quote(&long).ends_with("… (200 bytes in all)\""));
    }

    #[test]
    fn requests_per_protocol() {
        let mut out = Vec::new();
        Protocol::Skyhash.encode_request(&mut out, &[b"GET", b"k"]);
        assert_eq!(out, b"*1\n_2\n+3\nGET\n+1\nk\n");
        out.clear();
        Protocol::Resp.encode_request(&mut out, &[b"GET", b"k"]);
        assert_eq!(out, b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n");
    }
}

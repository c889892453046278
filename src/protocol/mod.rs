//! Skyhash 1.0, the wire protocol of Skytable 0.6: queries in, responses out, as pure functions
//! over byte slices. `parse` frames and validates queries incrementally; `write` encodes
//! response elements. This module knows nothing of sockets, the table or the actions.

pub mod parse;
pub mod reply;
pub mod write;

pub use parse::{Args, Element, ParsedQuery, ProtocolError, QueryParser};

/// Numeric response codes, sent as `!1\n<code>\n`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ResponseCode {
    /// Success with nothing to return.
    Okay = 0,
    /// The key does not exist.
    Nil = 1,
    /// The key already exists.
    OverwriteError = 2,
    /// Wrong number of arguments for the action.
    ActionError = 3,
    /// Malformed query.
    PacketError = 4,
    /// The server cannot do this now: writes while poisoned, a failed snapshot.
    ServerError = 5,
    /// Wrong data type: not a flat array, or an argument of the wrong kind.
    Wrongtype = 7,
}

/// Error texts, sent as `!<len>\n<text>\n`. The first four are skyd 0.6.4's.
pub mod error_text {
    pub const UNKNOWN_ACTION: &str = "Unknown action";
    pub const SNAPSHOT_DISABLED: &str = "err-snapshot-disabled";
    pub const SNAPSHOT_BUSY: &str = "err-snapshot-busy";
    pub const INVALID_SNAPSHOT_NAME: &str = "err-invalid-snapshot-name";
    /// Ours: the query exceeded the configured size limit; the connection is then closed.
    pub const QUERY_TOO_LARGE: &str = "err-query-too-large";
    /// Ours: MKSNAP with the name of a snapshot that exists; it is never overwritten.
    pub const SNAPSHOT_EXISTS: &str = "err-snapshot-exists";
    /// Ours: SYS was asked for a property it does not know.
    pub const UNKNOWN_PROPERTY: &str = "err-unknown-property";
    /// Ours: the answer would take more memory than the server allows for clients; it is
    /// refused before it is built (the connection stays usable).
    pub const REPLY_TOO_LARGE: &str = "err-reply-too-large";
    /// Ours: the server's memory for client buffers ran out and this connection held the
    /// most; it is closed after this answer.
    pub const CLIENT_MEMORY_LIMIT: &str = "err-client-memory-limit";
}

/// The complete response (`*1\n` and one element) that answers a malformed query before the
/// connection is closed.
pub fn error_response(error: &ProtocolError, out: &mut impl write::Sink) {
    write::query_header(out, 1);
    match error {
        ProtocolError::UnexpectedByte { .. } | ProtocolError::EmptyQuery => {
            write::code(out, ResponseCode::PacketError)
        }
        ProtocolError::BadNumber { .. } | ProtocolError::UnknownType { .. } => {
            write::code(out, ResponseCode::Wrongtype)
        }
        ProtocolError::TooLarge { .. } => write::error_text(out, error_text::QUERY_TOO_LARGE),
    }
}

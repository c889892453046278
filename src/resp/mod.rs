//! RESP2, the Redis serialisation protocol, as Redis 7.0 speaks it to clients: requests in
//! ([`parse`]: multibulk and inline, incrementally), replies out ([`mod@write`]), and the two number
//! syntaxes Redis accepts from clients ([`number`]). Pure functions over bytes: this module
//! knows nothing of sockets, the table or what a command means.

pub mod number;
pub mod parse;
pub mod write;

pub use parse::{ProtocolError, RequestParser};

/// The reply to a malformed request, sent before the connection is closed.
pub fn error_reply(error: &ProtocolError, out: &mut impl crate::sink::Sink) {
    write::error(out, &error.reply());
}

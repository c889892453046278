//! Codecs: how a connection's input is cut into requests and how their answers are framed.
//! A codec owns its parser's state and the framing around answers (Skyhash's `*N` header, its
//! pipelines; RESP's one reply per command); what each request *means* is asked of a
//! [`Handler`], which the server's dispatch implements. A codec knows neither the table nor
//! persistence, and does no I/O, so it is the same over any transport.

pub mod resp;
pub mod skyhash;

use super::buffers::{InputBuffer, Output};
use crate::args::Args;
use crate::command::Session;

/// Queries stop being executed while this many answer bytes wait to be sent: a client that
/// does not read its answers stops being read.
pub const OUTPUT_HIGH_WATER_BYTES: usize = 64 * 1024;

/// What the server does with one request a codec has framed.
pub trait Handler {
    /// One Skyhash action (its name, then its arguments). Appends exactly one response element
    /// to `out`, or none if the answer is deferred.
    fn skyhash_action(&mut self, strings: Args<'_>, out: &mut Output) -> Handled;

    /// One RESP command (its name, then its arguments) from the connection whose state is
    /// `session`. Appends exactly one reply to `out`, or none if the answer is deferred.
    fn resp_command(&mut self, args: Args<'_>, session: &mut Session, out: &mut Output) -> Handled;
}

/// Whether a request was answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handled {
    Answered,
    /// The answer comes later, when a job finishes; nothing after this request runs until then.
    Deferred,
    /// Answered, and the client asked for the connection to be closed after it (QUIT).
    Close,
}

/// Why a codec stopped executing the buffered requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// No complete request is left in the input.
    NeedInput,
    /// The output reached [`OUTPUT_HIGH_WATER_BYTES`]; complete requests may be left.
    OutputFull,
    /// A request's answer was deferred; the rest of its response is held back.
    Deferred,
    /// A malformed request was answered (what was wrong with it is given): send what is
    /// queued, then close.
    Malformed(String),
    /// The client asked to be disconnected: send what is queued, then close.
    Quit,
}

/// What the server says to a client it is about to disconnect for its own reasons; each codec
/// words it in its protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LastWords {
    /// All clients together hold more than the client memory budget, and this one the most.
    ClientMemoryLimit,
}

/// The codec a listener gives its connections.
pub enum Codec {
    Skyhash(skyhash::Framing),
    Resp(resp::Framing),
}

impl Codec {
    /// The memory the codec's own bookkeeping holds, for the client memory budget.
    pub fn held_bytes(&self) -> usize {
        match self {
            Codec::Skyhash(framing) => framing.held_bytes(),
            Codec::Resp(framing) => framing.held_bytes(),
        }
    }

    /// Queues the server's last words as a complete response, unless a response is half
    /// written, in which case nothing can be said.
    pub fn interject(&self, words: LastWords, output: &mut Output) {
        match self {
            Codec::Skyhash(framing) => framing.interject(words, output),
            Codec::Resp(framing) => framing.interject(words, output),
        }
    }

    /// Writes the answer to the request that was deferred, now that its job has ended.
    pub fn answer_deferred(&self, succeeded: bool, output: &mut Output) {
        match self {
            Codec::Skyhash(_) => skyhash::write_snapshot_result(succeeded, output),
            Codec::Resp(_) => crate::command::write_save_result(succeeded, output),
        }
    }

    /// Executes complete requests from `input` until it holds none or one of the other reasons
    /// in [`Progress`] stops it.
    pub fn run(
        &mut self,
        input: &mut InputBuffer,
        output: &mut Output,
        handler: &mut impl Handler,
    ) -> Progress {
        match self {
            Codec::Skyhash(framing) => framing.run(input, output, handler),
            Codec::Resp(framing) => framing.run(input, output, handler),
        }
    }
}

//! RESP2 on a connection: requests parsed incrementally from the input, each answered with
//! exactly one reply, in order, however many arrive together (a pipeline). A request with no
//! arguments (`*0`, a blank inline line) gets no reply. A malformed request is answered with
//! Redis's protocol error, after which the connection is closed; so is QUIT, after its `+OK`.
//! The connection's RESP state (its id and name) lives here, in a [`Session`].

use super::{Handled, Handler, LastWords, Progress, OUTPUT_HIGH_WATER_BYTES};
use crate::command::{errors, Session};
use crate::resp::{self, write, RequestParser};
use crate::server::buffers::{InputBuffer, Output};

/// The parser's state and the connection's session.
pub struct Framing {
    parser: RequestParser,
    session: Session,
}

impl Framing {
    /// `client_id` is the connection's `CLIENT ID`.
    pub fn new(max_query_bytes: usize, client_id: u64) -> Framing {
        Framing {
            parser: RequestParser::new(max_query_bytes),
            session: Session::new(client_id),
        }
    }

    /// The memory the parser's bookkeeping and the session hold.
    pub fn held_bytes(&self) -> usize {
        self.parser.held_bytes() + self.session.held_bytes()
    }

    /// Queues the last words as a reply of their own. Replies are written whole, within one
    /// call of [`Self::run`], so between calls one can always be added.
    pub fn interject(&self, words: LastWords, output: &mut Output) {
        match words {
            LastWords::ClientMemoryLimit => write::error(output, errors::CLIENT_MEMORY_LIMIT),
        }
    }

    pub fn run(
        &mut self,
        input: &mut InputBuffer,
        output: &mut Output,
        handler: &mut impl Handler,
    ) -> Progress {
        loop {
            if output.backlog() >= OUTPUT_HIGH_WATER_BYTES {
                return Progress::OutputFull;
            }
            let pending = input.pending();
            let length = match self.parser.parse(pending) {
                Ok(Some(length)) => length,
                Ok(None) => return Progress::NeedInput,
                Err(error) => {
                    resp::error_reply(&error, output);
                    return Progress::Malformed(error.to_string());
                }
            };
            let args = self.parser.args(&pending[..length]);
            let handled = if args.is_empty() {
                Handled::Answered
            } else {
                handler.resp_command(args, &mut self.session, output)
            };
            self.parser.reset();
            input.consume(length);
            match handled {
                Handled::Answered => {}
                Handled::Deferred => return Progress::Deferred,
                Handled::Close => return Progress::Quit,
            }
        }
    }
}

//! Skyhash 1.0 on a connection: queries parsed incrementally from the input, each element of a
//! query answered in order under the query's `*N` header. A pipeline pauses between two
//! elements when the output is full and resumes where it stopped; a malformed query is
//! answered with a framed error, after which the connection is closed.

use super::{Handled, Handler, LastWords, Progress, OUTPUT_HIGH_WATER_BYTES};
use crate::protocol::{self, error_text, write, Element, QueryParser, ResponseCode};
use crate::server::buffers::{InputBuffer, Mark, Output};

/// The parser's state, and where the current query is in its execution.
pub struct Framing {
    parser: QueryParser,
    /// Index of the next element to execute in the current (complete) query. Non-zero only
    /// while a pipeline is paused.
    next_element: usize,
    /// Where the current query's response starts: held from there while an answer is awaited.
    response_start: Mark,
}

impl Framing {
    pub fn new(max_query_bytes: usize) -> Framing {
        Framing {
            parser: QueryParser::new(max_query_bytes),
            next_element: 0,
            response_start: Mark::default(),
        }
    }

    /// The memory the parser's bookkeeping holds.
    pub fn held_bytes(&self) -> usize {
        self.parser.held_bytes()
    }

    /// Whether a complete response can be put in the output now: no query's response is half
    /// written.
    pub fn between_responses(&self) -> bool {
        self.next_element == 0
    }

    /// Queues the last words as a complete response of its own, if
    /// [`Self::between_responses`].
    pub fn interject(&self, words: LastWords, output: &mut Output) {
        let text = match words {
            LastWords::ClientMemoryLimit => error_text::CLIENT_MEMORY_LIMIT,
        };
        if self.between_responses() {
            write::query_header(output, 1);
            write::error_text(output, text);
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
                    protocol::error_response(&error, output);
                    return Progress::Malformed(error.to_string());
                }
            };
            let query = self.parser.query(&pending[..length]);
            if self.next_element == 0 {
                self.response_start = output.mark();
                write::query_header(output, query.len());
            }
            while self.next_element < query.len() {
                if output.backlog() >= OUTPUT_HIGH_WATER_BYTES {
                    return Progress::OutputFull;
                }
                let element = query.element(self.next_element);
                self.next_element += 1;
                let handled = match element {
                    Element::Action { first, count } => {
                        handler.skyhash_action(query.action_args(first, count), output)
                    }
                    Element::NotAnAction => {
                        write::code(output, ResponseCode::Wrongtype);
                        Handled::Answered
                    }
                };
                if handled == Handled::Deferred {
                    output.hold_from(self.response_start);
                    return Progress::Deferred;
                }
            }
            self.next_element = 0;
            self.parser.reset();
            input.consume(length);
        }
    }
}

/// The answer to a MKSNAP whose job finished: okay once the file is durable, else a server
/// error (the cause is in the log and in `SYS INFO persistence`).
pub fn write_snapshot_result(succeeded: bool, out: &mut impl write::Sink) {
    write::code(
        out,
        if succeeded {
            ResponseCode::Okay
        } else {
            ResponseCode::ServerError
        },
    );
}

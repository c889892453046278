//! Dispatch: the one place where a request framed by a codec meets the table and the server's
//! state. Poisoning becomes refused writes here; SYS is answered from the persistence state;
//! MKSNAP becomes a snapshot job, answered at once if refused, or deferred until the job ends.

use super::budget::ClientsStatus;
use super::buffers::Output;
use super::codec::{Handled, Handler};
use super::status;
use crate::action::{self, AdminRequest, Outcome, Writes};
use crate::persist::{Job, Persistence, Refusal};
use crate::protocol::write::{self, Sink};
use crate::protocol::{error_text, Args, ResponseCode};
use crate::table::Table;

/// What dispatch needs for one connection's requests.
pub struct Dispatch<'a> {
    pub table: &'a mut Table,
    pub persistence: &'a mut Persistence,
    pub clients: ClientsStatus,
    /// The connection's slab key, named as the waiter of a job it asks for.
    pub connection: usize,
}

impl Dispatch<'_> {
    /// Whether write actions are accepted now: not while the server is poisoned.
    fn writes(&self) -> Writes {
        if self.persistence.is_poisoned() {
            Writes::Refused
        } else {
            Writes::Accepted
        }
    }

    fn admin(&mut self, request: &AdminRequest<'_>, out: &mut Output) -> Handled {
        match request {
            AdminRequest::Sys(property) => {
                let persistence = self.persistence.status(self.table);
                status::write_sys(*property, &persistence, &self.clients, out);
                Handled::Answered
            }
            AdminRequest::Mksnap { name } => {
                let waiter = Some(self.connection);
                let job = match name {
                    None => Job::RequestedSnapshot { waiter },
                    Some(name) => Job::NamedSnapshot {
                        name: (*name).to_owned(),
                        waiter,
                    },
                };
                let refusal = match self.persistence.request(job) {
                    Ok(()) => return Handled::Deferred,
                    Err(refusal) => refusal,
                };
                write::error_text(
                    out,
                    match refusal {
                        Refusal::Disabled => error_text::SNAPSHOT_DISABLED,
                        Refusal::Busy => error_text::SNAPSHOT_BUSY,
                        Refusal::Exists => error_text::SNAPSHOT_EXISTS,
                        Refusal::InvalidName => error_text::INVALID_SNAPSHOT_NAME,
                    },
                );
                Handled::Answered
            }
        }
    }
}

impl Handler for Dispatch<'_> {
    fn skyhash_action(&mut self, strings: Args<'_>, out: &mut Output) -> Handled {
        match action::execute(self.table, self.writes(), strings, out) {
            Outcome::Answered => Handled::Answered,
            Outcome::Admin(request) => self.admin(&request, out),
        }
    }
}

/// The answer to a MKSNAP whose job finished: okay once the file is durable, else a server
/// error (the cause is in the log and in `SYS INFO persistence`).
pub fn write_snapshot_result(succeeded: bool, out: &mut impl Sink) {
    write::code(
        out,
        if succeeded {
            ResponseCode::Okay
        } else {
            ResponseCode::ServerError
        },
    );
}

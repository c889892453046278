//! Carrying out the admin requests that the action layer validated. SYS is answered at once
//! from the persistence state. MKSNAP becomes a snapshot job: refused at once (disabled, busy,
//! name taken), or queued, and then the connection waits for the job's result.

use crate::action::{write_sys, AdminRequest};
use crate::persist::{Job, Persistence, Refusal};
use crate::protocol::{error_text, write, ResponseCode};
use crate::table::Table;

/// Whether a request was answered, or its answer comes when a job finishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminReply {
    Answered,
    /// A snapshot job was queued for connection `connection`; see [`write_snapshot_result`].
    Deferred,
}

/// Answers `request` from connection `connection`, or queues the job that will.
pub fn answer(
    request: &AdminRequest<'_>,
    connection: usize,
    table: &Table,
    persistence: &mut Persistence,
    out: &mut Vec<u8>,
) -> AdminReply {
    match request {
        AdminRequest::Sys(property) => {
            write_sys(*property, &persistence.status(table), out);
            AdminReply::Answered
        }
        AdminRequest::Mksnap { name } => {
            let waiter = Some(connection);
            let job = match name {
                None => Job::RequestedSnapshot { waiter },
                Some(name) => Job::NamedSnapshot {
                    name: (*name).to_owned(),
                    waiter,
                },
            };
            let refusal = match persistence.request(job) {
                Ok(()) => return AdminReply::Deferred,
                Err(refusal) => refusal,
            };
            write::error_text(
                out,
                match refusal {
                    Refusal::Disabled => error_text::SNAPSHOT_DISABLED,
                    Refusal::Busy => error_text::SNAPSHOT_BUSY,
                    Refusal::Exists => error_text::SNAPSHOT_EXISTS,
                },
            );
            AdminReply::Answered
        }
    }
}

/// The answer to a MKSNAP whose job finished: okay once the file is durable, else a server
/// error (the cause is in the log and in `SYS INFO persistence`).
pub fn write_snapshot_result(error: &Option<String>, out: &mut Vec<u8>) {
    write::code(
        out,
        match error {
            None => ResponseCode::Okay,
            Some(_) => ResponseCode::ServerError,
        },
    );
}

//! Dispatch: the one place where a request framed by a codec meets the table and the server's
//! state. Poisoning becomes refused writes here (Skyhash's server error, RESP's `-MISCONF`);
//! SYS and INFO are answered from the server's state; MKSNAP and SAVE become save jobs,
//! answered at once if refused, or deferred until the job ends.

use super::budget::ClientsStatus;
use super::buffers::Output;
use super::codec::{Handled, Handler};
use super::info::{self, Counters, InfoState, ServerFacts};
use super::status;
use crate::action::{self, AdminRequest, Outcome, Writes};
use crate::args::Args;
use crate::command::{self, errors, ServerRequest, Session};
use crate::config::Config;
use crate::persist::{Job, Persistence, Refusal};
use crate::protocol::error_text;
use crate::protocol::write as skyhash_write;
use crate::resp::write;
use crate::table::Table;

/// What dispatch needs for one connection's requests.
pub struct Dispatch<'a> {
    pub table: &'a mut Table,
    pub persistence: &'a mut Persistence,
    pub clients: ClientsStatus,
    pub config: &'a Config,
    pub facts: &'a ServerFacts,
    pub counters: &'a mut Counters,
    /// The connection's slab key, named as the waiter of a job it asks for.
    pub connection: usize,
    /// Set when a request queued a save job nobody waits for (BGSAVE): the loop starts it.
    pub queued_job: bool,
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
                skyhash_write::error_text(
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

    fn server_request(&mut self, request: ServerRequest<'_>, out: &mut Output) -> Handled {
        match request {
            ServerRequest::Info(sections) => {
                let state = InfoState {
                    config: self.config,
                    facts: self.facts,
                    counters: *self.counters,
                    clients: self.clients,
                    persistence: self.persistence.status(self.table),
                    table: self.table,
                };
                write::bulk(out, info::info_text(sections, &state).as_bytes());
            }
            ServerRequest::ConfigGet { patterns } => {
                let parameters =
                    info::config_parameters(self.config, self.facts, self.persistence.data_file());
                command::config_get(&parameters, patterns, out);
            }
            ServerRequest::Save => {
                let job = Job::Bgsave {
                    waiter: Some(self.connection),
                };
                match self.persistence.request(job) {
                    Ok(()) => return Handled::Deferred,
                    Err(_) => write::error(out, errors::SAVE_FAILED),
                }
            }
            ServerRequest::Bgsave { schedule } => self.bgsave(schedule, out),
            ServerRequest::Lastsave => {
                let persistence = self.persistence.status(self.table);
                write::integer(out, info::last_save(&persistence, self.facts));
            }
        }
        Handled::Answered
    }

    /// BGSAVE as Redis answers it: refused while one is being written, and while another save
    /// (a snapshot) is unless SCHEDULE asks to queue it.
    fn bgsave(&mut self, schedule: bool, out: &mut Output) {
        let running = self.persistence.running_job();
        if matches!(running, Some(Job::Bgsave { .. })) {
            return write::error(out, errors::BGSAVE_IN_PROGRESS);
        }
        let busy = running.is_some();
        if busy && !schedule {
            return write::error(out, errors::BGSAVE_OTHER_CHILD);
        }
        // The periodic BGSAVE's job: one already queued is not queued twice.
        let _ = self.persistence.request(Job::PERIODIC_BGSAVE);
        self.queued_job = true;
        write::simple(
            out,
            if busy {
                "Background saving scheduled"
            } else {
                "Background saving started"
            },
        );
    }
}

impl Handler for Dispatch<'_> {
    fn skyhash_action(&mut self, strings: Args<'_>, out: &mut Output) -> Handled {
        self.counters.commands_processed += 1;
        match action::execute(self.table, self.writes(), strings, out) {
            Outcome::Answered => Handled::Answered,
            Outcome::Admin(request) => self.admin(&request, out),
        }
    }

    fn resp_command(&mut self, args: Args<'_>, session: &mut Session, out: &mut Output) -> Handled {
        self.counters.commands_processed += 1;
        match command::execute(self.table, self.writes(), session, args, out) {
            command::Outcome::Answered => Handled::Answered,
            command::Outcome::Close => Handled::Close,
            command::Outcome::Server(request) => self.server_request(request, out),
        }
    }
}

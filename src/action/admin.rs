//! Actions the table cannot answer alone: MKSNAP and SYS. Their arguments are parsed here;
//! carrying them out (validating a snapshot name against the file system's rules, forking a
//! snapshot writer, reading the persistence state) belongs to the server, which receives them
//! as an [`AdminRequest`].

use super::Outcome;

use crate::protocol::write::{self, Sink};
use crate::protocol::{error_text, Args};

/// A request for the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminRequest<'a> {
    /// MKSNAP: `None` for a timestamped snapshot, or the name of a named ("remote") snapshot.
    /// The name is UTF-8 but not yet checked as a file name: the snapshot code does that.
    Mksnap { name: Option<&'a str> },
    /// SYS: a status property.
    Sys(SysProperty),
}

/// What SYS can report. `SYS METRIC health` is Skytable 0.7's name for the poison state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SysProperty {
    /// `SYS METRIC health`: `good`, or `critical` while poisoned.
    Health,
    /// `SYS METRIC storage`: the size of data.bin in bytes.
    Storage,
    /// `SYS INFO version`: the server's version.
    Version,
    /// `SYS INFO persistence`: every persistence figure, as `name=value` strings.
    Persistence,
    /// `SYS INFO clients`: connections and the memory their buffers hold, likewise.
    Clients,
}

impl SysProperty {
    fn from_words(group: &[u8], name: &[u8]) -> Option<SysProperty> {
        let is = |a: &[u8], b: &str| a.eq_ignore_ascii_case(b.as_bytes());
        if is(group, "METRIC") && is(name, "health") {
            Some(SysProperty::Health)
        } else if is(group, "METRIC") && is(name, "storage") {
            Some(SysProperty::Storage)
        } else if is(group, "INFO") && is(name, "version") {
            Some(SysProperty::Version)
        } else if is(group, "INFO") && is(name, "persistence") {
            Some(SysProperty::Persistence)
        } else if is(group, "INFO") && is(name, "clients") {
            Some(SysProperty::Clients)
        } else {
            None
        }
    }
}

/// SYS with its two words (arity already checked).
pub fn sys<'a>(args: Args<'a>, out: &mut impl Sink) -> Outcome<'a> {
    match SysProperty::from_words(args.get(0), args.get(1)) {
        Some(property) => Outcome::Admin(AdminRequest::Sys(property)),
        None => {
            write::error_text(out, error_text::UNKNOWN_PROPERTY);
            Outcome::Answered
        }
    }
}

/// MKSNAP with no argument, or with a name, which must at least be UTF-8 (a file name is text
/// here, as it was for skyd).
pub fn mksnap<'a>(args: Args<'a>, out: &mut impl Sink) -> Outcome<'a> {
    if args.is_empty() {
        return Outcome::Admin(AdminRequest::Mksnap { name: None });
    }
    match std::str::from_utf8(args.get(0)) {
        Ok(name) => Outcome::Admin(AdminRequest::Mksnap { name: Some(name) }),
        Err(_) => {
            write::error_text(out, error_text::INVALID_SNAPSHOT_NAME);
            Outcome::Answered
        }
    }
}

//! The "strong" actions SSET, SDEL and SUPDATE: all pairs or keys, or nothing.
//!
//! Each checks every key first and changes the table only if all pass; the server is
//! single-threaded, so nothing can slip in between check and change. Two documented departures
//! from skyd 0.6.4: SSET checks keys only (skyd also tested values against the keys), and a key
//! repeated within one call is well defined (SSET keeps the first value, as MSET does; SUPDATE
//! ends with the last; SDEL removes the key once) where skyd hit undefined behaviour.

use crate::protocol::write::{self, Sink};
use crate::protocol::{Args, ResponseCode};
use crate::table::Table;

/// Inserts every pair if no key exists; otherwise writes nothing and answers overwrite error.
pub fn sset(table: &mut Table, args: Args<'_>, out: &mut impl Sink) {
    if args.pairs().any(|(key, _)| table.contains(key)) {
        return write::code(out, ResponseCode::OverwriteError);
    }
    for (key, value) in args.pairs() {
        table.insert_new(key, value);
    }
    write::code(out, ResponseCode::Okay);
}

/// Removes every key if all exist; otherwise removes nothing and answers nil.
pub fn sdel(table: &mut Table, args: Args<'_>, out: &mut impl Sink) {
    if !args.iter().all(|key| table.contains(key)) {
        return write::code(out, ResponseCode::Nil);
    }
    for key in args.iter() {
        table.remove(key);
    }
    write::code(out, ResponseCode::Okay);
}

/// Updates every pair if all keys exist; otherwise writes nothing and answers nil.
pub fn supdate(table: &mut Table, args: Args<'_>, out: &mut impl Sink) {
    if !args.pairs().all(|(key, _)| table.contains(key)) {
        return write::code(out, ResponseCode::Nil);
    }
    for (key, value) in args.pairs() {
        table.update_existing(key, value);
    }
    write::code(out, ResponseCode::Okay);
}

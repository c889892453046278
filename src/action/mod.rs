//! The 19 actions of skyd 0.6.4, plus SYS for status: one table of what each action is (name,
//! arity, whether it writes), and execution against the table.
//!
//! [`execute`] resolves the name (case-insensitively), checks the arity, refuses writes when
//! told to (poisoning is the caller's fact, passed in as [`Writes`]), then runs the action
//! against the table and appends exactly one response element. Actions that need the server
//! itself (MKSNAP, SYS) are only parsed here and handed back as an [`AdminRequest`]. No I/O and
//! no persistence happen here: this layer knows the protocol's encoding and the table, nothing
//! above them.

mod admin;
mod kv;
mod strong;

pub use admin::{AdminRequest, SysProperty};

use crate::protocol::write::{self, Sink};
use crate::protocol::{error_text, Args, ResponseCode};
use crate::table::Table;

/// Every action skyd 0.6.4 routes, and SYS (ours: persistence status, named after Skytable
/// 0.7's). Nothing else is recognised (`JGET`, `PING`, … are unknown actions). The order is
/// that of the table of actions, whose rows are indexed by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionKind {
    Get,
    Set,
    Update,
    Del,
    Heya,
    Exists,
    Mset,
    Mget,
    Mupdate,
    Sset,
    Sdel,
    Supdate,
    Dbsize,
    Flushdb,
    Uset,
    Keylen,
    Mksnap,
    Lskeys,
    Pop,
    Sys,
}

/// How many arguments (after the name) an action takes; anything else is an action error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Arity {
    Exactly(usize),
    AtMost(usize),
    AtLeastOne,
    /// Key/value pairs: an even, non-zero count.
    Pairs,
    Any,
}

impl Arity {
    fn accepts(self, count: usize) -> bool {
        match self {
            Arity::Exactly(n) => count == n,
            Arity::AtMost(n) => count <= n,
            Arity::AtLeastOne => count >= 1,
            Arity::Pairs => count > 0 && count.is_multiple_of(2),
            Arity::Any => true,
        }
    }
}

/// Whether an action may modify the table. A poisoned server refuses every [`Effect::Write`]
/// action, even when the particular call would change nothing (`DEL missing`), as skyd 0.6.4
/// does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Effect {
    Read,
    Write,
}

/// One action's facts: the row of [`ACTIONS`] for it.
#[derive(Debug)]
struct Spec {
    kind: ActionKind,
    /// The name as clients send it (any letter case is accepted).
    name: &'static str,
    arity: Arity,
    effect: Effect,
}

const fn row(kind: ActionKind, name: &'static str, arity: Arity, effect: Effect) -> Spec {
    Spec {
        kind,
        name,
        arity,
        effect,
    }
}

/// The actions, one row each, in [`ActionKind`] order.
#[rustfmt::skip]
const ACTIONS: [Spec; 20] = {
    use ActionKind::*;
    use Arity::*;
    use Effect::*;
    [
        row(Get,     "GET",     Exactly(1), Read),
        row(Set,     "SET",     Exactly(2), Write),
        row(Update,  "UPDATE",  Exactly(2), Write),
        row(Del,     "DEL",     AtLeastOne, Write),
        row(Heya,    "HEYA",    Any,        Read),
        row(Exists,  "EXISTS",  AtLeastOne, Read),
        row(Mset,    "MSET",    Pairs,      Write),
        row(Mget,    "MGET",    AtLeastOne, Read),
        row(Mupdate, "MUPDATE", Pairs,      Write),
        row(Sset,    "SSET",    Pairs,      Write),
        row(Sdel,    "SDEL",    AtLeastOne, Write),
        row(Supdate, "SUPDATE", Pairs,      Write),
        row(Dbsize,  "DBSIZE",  Exactly(0), Read),
        row(Flushdb, "FLUSHDB", Exactly(0), Write),
        row(Uset,    "USET",    Pairs,      Write),
        row(Keylen,  "KEYLEN",  Exactly(1), Read),
        row(Mksnap,  "MKSNAP",  AtMost(1),  Read),
        row(Lskeys,  "LSKEYS",  AtMost(1),  Read),
        row(Pop,     "POP",     AtLeastOne, Write),
        row(Sys,     "SYS",     Exactly(2), Read),
    ]
};

impl ActionKind {
    fn spec(self) -> &'static Spec {
        &ACTIONS[self as usize]
    }

    /// The action's name as clients send it (any letter case is accepted).
    pub fn name(self) -> &'static str {
        self.spec().name
    }

    /// Looks an action up by name, ignoring ASCII letter case.
    pub fn from_name(name: &[u8]) -> Option<ActionKind> {
        ACTIONS
            .iter()
            .find(|spec| spec.name.as_bytes().eq_ignore_ascii_case(name))
            .map(|spec| spec.kind)
    }

    /// Whether the action may modify the table: a poisoned server refuses these.
    pub fn is_write(self) -> bool {
        self.spec().effect == Effect::Write
    }
}

/// Whether write actions are currently accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Writes {
    Accepted,
    /// The server is poisoned: writes answer a server error and change nothing.
    Refused,
}

/// What [`execute`] did with an action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome<'a> {
    /// The response element has been written.
    Answered,
    /// Nothing has been written: the server must carry out this request and answer it.
    Admin(AdminRequest<'a>),
}

/// Runs one action. `strings` is the flat array: the action name, then its arguments. Writes
/// exactly one response element to `out`, unless it returns [`Outcome::Admin`].
pub fn execute<'a>(
    table: &mut Table,
    writes: Writes,
    strings: Args<'a>,
    out: &mut impl Sink,
) -> Outcome<'a> {
    if strings.is_empty() {
        write::code(out, ResponseCode::PacketError);
        return Outcome::Answered;
    }
    let Some(kind) = ActionKind::from_name(strings.get(0)) else {
        write::error_text(out, error_text::UNKNOWN_ACTION);
        return Outcome::Answered;
    };
    let args = strings.skip_first();
    if !kind.spec().arity.accepts(args.len()) {
        write::code(out, ResponseCode::ActionError);
        return Outcome::Answered;
    }
    if kind.is_write() && writes == Writes::Refused {
        write::code(out, ResponseCode::ServerError);
        return Outcome::Answered;
    }
    match kind {
        ActionKind::Get => kv::get(table, args, out),
        ActionKind::Set => kv::set(table, args, out),
        ActionKind::Update => kv::update(table, args, out),
        ActionKind::Del => kv::del(table, args, out),
        ActionKind::Heya => kv::heya(out),
        ActionKind::Exists => kv::exists(table, args, out),
        ActionKind::Mset => kv::mset(table, args, out),
        ActionKind::Mget => kv::mget(table, args, out),
        ActionKind::Mupdate => kv::mupdate(table, args, out),
        ActionKind::Uset => kv::uset(table, args, out),
        ActionKind::Dbsize => kv::dbsize(table, out),
        ActionKind::Flushdb => kv::flushdb(table, out),
        ActionKind::Keylen => kv::keylen(table, args, out),
        ActionKind::Lskeys => kv::lskeys(table, args, out),
        ActionKind::Pop => kv::pop(table, args, out),
        ActionKind::Sset => strong::sset(table, args, out),
        ActionKind::Sdel => strong::sdel(table, args, out),
        ActionKind::Supdate => strong::supdate(table, args, out),
        ActionKind::Mksnap => return admin::mksnap(args, out),
        ActionKind::Sys => return admin::sys(args, out),
    }
    Outcome::Answered
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::parse::QueryParser;

    /// Runs one action given as strings and returns the response element it wrote.
    fn run(table: &mut Table, writes: Writes, parts: &[&[u8]]) -> Vec<u8> {
        let mut query = Vec::new();
        write::action_query(&mut query, parts);
        let mut parser = QueryParser::new(1 << 20);
        assert_eq!(parser.parse(&query), Ok(Some(query.len())));
        let parsed = parser.query(&query);
        let crate::protocol::Element::Action { first, count } = parsed.element(0) else {
            panic!("not an action");
        };
        let mut out = Vec::new();
        match execute(table, writes, parsed.action_args(first, count), &mut out) {
            Outcome::Answered => out,
            Outcome::Admin(request) => panic!("unexpected admin request {request:?}"),
        }
    }

    #[test]
    fn every_row_sits_at_its_kind() {
        for (index, spec) in ACTIONS.iter().enumerate() {
            assert_eq!(spec.kind as usize, index, "{}", spec.name);
        }
    }

    #[test]
    fn names_are_case_insensitive_and_exactly_the_nineteen() {
        for kind in ACTIONS.iter().map(|spec| spec.kind) {
            assert_eq!(ActionKind::from_name(kind.name().as_bytes()), Some(kind));
            let lower = kind.name().to_ascii_lowercase();
            assert_eq!(ActionKind::from_name(lower.as_bytes()), Some(kind));
        }
        for unknown in [&b"JGET"[..], b"PING", b"INSPECT", b"", b"GET ", b"G\xc9T"] {
            assert_eq!(ActionKind::from_name(unknown), None, "{unknown:?}");
        }
        let mut table = Table::new();
        assert_eq!(
            run(&mut table, Writes::Accepted, &[b"FOOBAR"]),
            b"!14\nUnknown action\n"
        );
    }

    #[test]
    fn arity_is_checked_before_poisoning() {
        let mut table = Table::new();
        assert_eq!(
            run(&mut table, Writes::Refused, &[b"SET", b"x"]),
            b"!1\n3\n"
        );
        assert_eq!(
            run(&mut table, Writes::Refused, &[b"SET", b"x", b"1"]),
            b"!1\n5\n"
        );
        assert_eq!(
            run(&mut table, Writes::Refused, &[b"POP", b"x"]),
            b"!1\n5\n"
        );
        assert_eq!(
            run(&mut table, Writes::Refused, &[b"DEL", b"missing"]),
            b"!1\n5\n"
        );
        assert_eq!(
            run(&mut table, Writes::Refused, &[b"FLUSHDB", b"x"]),
            b"!1\n3\n"
        );
        assert!(table.is_empty());
    }

    #[test]
    fn a_poisoned_table_still_serves_reads() {
        let mut table = Table::new();
        assert_eq!(
            run(&mut table, Writes::Accepted, &[b"SET", b"x", b"100"]),
            b"!1\n0\n"
        );
        let reads: [&[&[u8]]; 6] = [
            &[b"GET", b"x"],
            &[b"EXISTS", b"x"],
            &[b"MGET", b"x"],
            &[b"DBSIZE"],
            &[b"KEYLEN", b"x"],
            &[b"LSKEYS"],
        ];
        let expected: [&[u8]; 6] = [
            b"+3\n100\n",
            b":1\n1\n",
            b"&1\n+3\n100\n",
            b":1\n1\n",
            b":1\n3\n",
            b"_1\n+1\nx\n",
        ];
        for (read, expected) in reads.iter().zip(expected) {
            assert_eq!(run(&mut table, Writes::Refused, read), expected, "{read:?}");
        }
    }

    #[test]
    fn the_write_split_matches_skyd() {
        let writes: Vec<&str> = ACTIONS
            .iter()
            .filter(|spec| spec.kind.is_write())
            .map(|spec| spec.name)
            .collect();
        assert_eq!(
            writes,
            [
                "SET", "UPDATE", "DEL", "MSET", "MUPDATE", "SSET", "SDEL", "SUPDATE", "FLUSHDB",
                "USET", "POP"
            ]
        );
    }

    #[test]
    fn strong_actions_are_all_or_nothing_and_check_keys_only() {
        let mut table = Table::new();
        let ok = Writes::Accepted;
        assert_eq!(run(&mut table, ok, &[b"SET", b"100", b"v"]), b"!1\n0\n");
        assert_eq!(run(&mut table, ok, &[b"SSET", b"x", b"100"]), b"!1\n0\n");
        assert_eq!(
            run(&mut table, ok, &[b"SSET", b"y", b"1", b"x", b"2"]),
            b"!1\n2\n"
        );
        assert_eq!(table.get(b"y"), None);
        assert_eq!(
            run(&mut table, ok, &[b"SSET", b"a", b"1", b"a", b"2"]),
            b"!1\n0\n"
        );
        assert_eq!(table.get(b"a"), Some(&b"1"[..]));
        assert_eq!(
            run(&mut table, ok, &[b"SUPDATE", b"a", b"3", b"a", b"4"]),
            b"!1\n0\n"
        );
        assert_eq!(table.get(b"a"), Some(&b"4"[..]));
        assert_eq!(
            run(&mut table, ok, &[b"SUPDATE", b"a", b"5", b"zz", b"6"]),
            b"!1\n1\n"
        );
        assert_eq!(table.get(b"a"), Some(&b"4"[..]));
        assert_eq!(run(&mut table, ok, &[b"SDEL", b"a", b"zz"]), b"!1\n1\n");
        assert_eq!(run(&mut table, ok, &[b"SDEL", b"a", b"a"]), b"!1\n0\n");
        assert_eq!(table.get(b"a"), None);
    }
}

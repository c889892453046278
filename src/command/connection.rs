//! Commands about the connection rather than the data: PING, SELECT, HELLO, AUTH and the
//! CLIENT subcommands that name a connection. Stratus has one database, no users and no
//! password, and speaks RESP2 only, so these answer as a Redis 7.0.15 with that configuration.

use super::errors;
use super::Session;
use crate::args::Args;
use crate::resp::number::parse_i64;
use crate::resp::write;
use crate::sink::Sink;

/// The Redis version whose replies Stratus reproduces, as HELLO and INFO report it.
pub const REDIS_VERSION: &str = "7.0.15";
/// The only protocol version Stratus speaks.
const PROTOCOL_VERSION: i64 = 2;

/// `+PONG`, or the one argument back as a bulk.
pub fn ping(args: Args<'_>, out: &mut impl Sink) {
    match args.len() {
        1 => write::simple(out, "PONG"),
        2 => write::bulk(out, args.get(1)),
        _ => write::error(out, &errors::wrong_arity("ping")),
    }
}

/// Database 0 is the table; any other index is out of range (Redis with `databases 1`).
pub fn select(args: Args<'_>, out: &mut impl Sink) {
    match parse_i64(args.get(1)).map(i32::try_from) {
        None => write::error(out, errors::NOT_AN_INTEGER),
        Some(Err(_)) => write::error(out, errors::NOT_AN_INT32),
        Some(Ok(0)) => write::simple(out, "OK"),
        Some(Ok(_)) => write::error(out, errors::DB_INDEX_OUT_OF_RANGE),
    }
}

/// Whether Redis accepts `name` as a client name (or library attribute): `!` to `~` only.
fn is_valid_client_name(name: &[u8]) -> bool {
    name.iter().all(|byte| (b'!'..=b'~').contains(byte))
}

/// Sets (or, with an empty name, clears) the connection's name; `false` if refused, the
/// error written.
fn set_name(session: &mut Session, name: &[u8], out: &mut impl Sink) -> bool {
    if !is_valid_client_name(name) {
        write::error(out, errors::BAD_CLIENT_NAME);
        return false;
    }
    session.name = (!name.is_empty()).then(|| name.to_vec());
    true
}

pub fn client_setname(session: &mut Session, args: Args<'_>, out: &mut impl Sink) {
    if set_name(session, args.get(2), out) {
        write::simple(out, "OK");
    }
}

/// `CLIENT SETINFO LIB-NAME|LIB-VER value`, as Redis 7.2 answers it: checked, then accepted
/// (Stratus does not report libraries).
pub fn client_setinfo(args: Args<'_>, out: &mut impl Sink) {
    let (attribute, value) = (args.get(2), args.get(3));
    let known =
        attribute.eq_ignore_ascii_case(b"LIB-NAME") || attribute.eq_ignore_ascii_case(b"LIB-VER");
    if !known {
        return write::error_bytes(out, &errors::unrecognized_option(attribute));
    }
    if !is_valid_client_name(value) {
        return write::error_bytes(out, &errors::bad_client_attribute(attribute));
    }
    write::simple(out, "OK");
}

/// The `default` user needs no password: `AUTH default <anything>` succeeds, as it does on a
/// Redis without `requirepass`.
fn authenticates(user: &[u8]) -> bool {
    user == b"default"
}

pub fn auth(args: Args<'_>, out: &mut impl Sink) {
    match args.len() {
        2 => write::error(out, errors::AUTH_WITHOUT_PASSWORD),
        3 if authenticates(args.get(1)) => write::simple(out, "OK"),
        3 => write::error(out, errors::WRONGPASS),
        _ => write::error(out, errors::SYNTAX),
    }
}

/// `HELLO [protover [AUTH user pass] [SETNAME name]]`: protocol 2 only (3 is answered
/// `-NOPROTO`, as for any version Redis does not speak); the reply is Redis's map, flattened
/// as RESP2 sends it.
pub fn hello(session: &mut Session, args: Args<'_>, out: &mut impl Sink) {
    let mut next = 1;
    if args.len() >= 2 {
        match parse_i64(args.get(1)) {
            None => return write::error(out, errors::BAD_PROTOCOL_VERSION),
            Some(PROTOCOL_VERSION) => {}
            Some(_) => return write::error(out, errors::NOPROTO),
        }
        next = 2;
    }
    while next < args.len() {
        let option = args.get(next);
        let more = args.len() - 1 - next;
        if option.eq_ignore_ascii_case(b"AUTH") && more >= 2 {
            if !authenticates(args.get(next + 1)) {
                return write::error(out, errors::WRONGPASS);
            }
            next += 3;
        } else if option.eq_ignore_ascii_case(b"SETNAME") && more >= 1 {
            if !set_name(session, args.get(next + 1), out) {
                return;
            }
            next += 2;
        } else {
            return write::error_bytes(out, &errors::hello_option(option));
        }
    }
    write::array_header(out, 14);
    for (field, value) in [("server", "stratus"), ("version", REDIS_VERSION)] {
        write::bulk(out, field.as_bytes());
        write::bulk(out, value.as_bytes());
    }
    write::bulk(out, b"proto");
    write::integer(out, PROTOCOL_VERSION);
    write::bulk(out, b"id");
    write::integer(out, session.id as i64);
    for (field, value) in [("mode", "standalone"), ("role", "master")] {
        write::bulk(out, field.as_bytes());
        write::bulk(out, value.as_bytes());
    }
    write::bulk(out, b"modules");
    write::array_header(out, 0);
}

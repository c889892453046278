//! `commands_vs_model`, the RESP twin of `actions_vs_model`: Redis commands over the table,
//! decoded from bytes, each encoded as a multibulk, parsed by the real [`resp::RequestParser`]
//! and run by [`command::execute`] on a real table, against a naive model over a `HashMap`
//! written from Redis 7.0.15's documented behaviour (and its source where the documentation
//! is silent), not from `src/command`. Redis's error texts are written out again here, so a
//! typo in the server's copy is caught; the one text that is Stratus's own (a key expiry,
//! which Stratus refuses) is the server's constant, there being no other source for it.
//!
//! Covered: name lookup in any letter case; the unknown-command error with its echo of the
//! arguments (cut at a NUL and at 128 bytes, CR and LF as spaces); arity; `-MISCONF` for every
//! write command while poisoned, even one that would change nothing; GET SET (NX XX GET
//! KEEPTTL EX PX, in Redis's combinations) SETNX GETSET GETDEL MGET MSET MSETNX DEL UNLINK
//! EXISTS STRLEN APPEND INCR DECR INCRBY DECRBY SETEX PSETEX DBSIZE FLUSHDB FLUSHALL TYPE TTL
//! PTTL PERSIST KEYS; integers as Redis's `string2ll` reads them, overflow both ways; expiry
//! arguments checked as Redis checks them, Stratus's refusal where Redis would set a time to
//! live; the entries after every step, and the same entries rebuilt from the step's journal
//! frame. KEYS replies are compared as sets (Redis gives no order).
//!
//! Left out: EXPIRE and its kin (Redis would set a time to live, Stratus refuses them all);
//! SET's EXAT and PXAT (not among the words; the command tests check them); types other than
//! strings (Stratus has none, so no `WRONGTYPE`); SCAN (its pages depend on hashing); the connection and server commands, which do not touch
//! the table or are answered by the server (`Outcome::Server`, `Outcome::Close`: none of the
//! generated commands gives one, and the property fails if one does); the client memory budget
//! (the output here has unbounded room); APPEND's 512 MiB limit; arguments with a NUL inside an
//! option (Redis reads options as C strings); glob ranges and unclosed classes (the words hold
//! no such pattern); PING's refusal while poisoned (Redis's, not Stratus's, and not a table
//! command); inline requests (`resp_parse` covers the parser).

use std::collections::hash_map::Entry;
use std::collections::{BTreeSet, HashMap};
use std::time::{SystemTime, UNIX_EPOCH};

use super::steps::{self, ModelStep, Step};
use super::{assert_entries_agree, shown};
use crate::command::errors::EXPIRY_UNSUPPORTED;
use crate::command::{self, Outcome, Session, Writes};
use crate::resp;
use crate::table::{Table, Undoable};

/// The command names the generator picks from: every command of the model, then names that
/// are no Redis command (one is a Skyhash action, which the RESP side must not know).
pub const COMMAND_NAMES: [&str; 29] = [
    "GET", "SET", "SETNX", "GETSET", "GETDEL", "MGET", "MSET", "MSETNX", "DEL", "UNLINK", "EXISTS",
    "STRLEN", "APPEND", "INCR", "DECR", "INCRBY", "DECRBY", "SETEX", "PSETEX", "DBSIZE", "FLUSHDB",
    "FLUSHALL", "TYPE", "TTL", "PTTL", "PERSIST", "KEYS", "LSKEYS", "GETX",
];

/// Strings the generator builds arguments from: colliding keys (`a` and `A` differ), empty
/// and binary strings, numbers at and past the ends of i64 and ones `string2ll` refuses, SET's
/// options, FLUSHDB's modes, simple glob patterns.
const WORDS: [&[u8]; 41] = [
    b"a",
    b"b",
    b"A",
    b"",
    b"\x00\xff",
    b"\xff",
    b"\r\n",
    b"0",
    b"1",
    b"-1",
    b"100",
    b"+1",
    b"01",
    b"-0",
    b"1.5",
    b"x y",
    b"9223372036854775807",
    b"9223372036854775806",
    b"9223372036854775808",
    b"-9223372036854775808",
    b"-9223372036854775807",
    b"-9223372036854775809",
    b"99999999999999999999",
    // i64::MAX / 1000: the most seconds an expiry may give before Redis adds the time now.
    b"9223372036854775",
    b"NX",
    b"XX",
    b"GET",
    b"KEEPTTL",
    b"EX",
    b"PX",
    b"nx",
    b"keepttl",
    b"ASYNC",
    b"sync",
    b"*",
    b"a*",
    b"*b",
    b"?",
    b"[^a]",
    b"\\*",
    b"abc",
];

/// Longer than any generated request.
const MAX_REQUEST_BYTES: usize = 1 << 20;

/// `shared.bgsaveerr` (research A.1, verified byte for byte).
const MISCONF: &str = "MISCONF Redis is configured to save RDB snapshots, but it's currently \
     unable to persist to disk. Commands that may modify the data set are disabled, because \
     this instance is configured to report errors during writes if RDB snapshotting fails \
     (stop-writes-on-bgsave-error option). Please check the Redis logs for details about the \
     RDB error.";
const NOT_AN_INTEGER: &str = "ERR value is not an integer or out of range";
const OVERFLOW: &str = "ERR increment or decrement would overflow";
const SYNTAX: &str = "ERR syntax error";
/// How much of a name or of the argument list Redis echoes in an unknown-command error.
const ECHO_LIMIT: usize = 128;

/// Redis 7.0.15's arity (counting the name; negative: at least) and `write` flag, as its
/// `COMMAND INFO` reports them, for each command of the model; `None` for any other name.
fn facts(upper_case_name: &[u8]) -> Option<(i32, bool)> {
    Some(match upper_case_name {
        b"GET" | b"STRLEN" | b"TYPE" | b"TTL" | b"PTTL" | b"KEYS" => (2, false),
        b"MGET" | b"EXISTS" => (-2, false),
        b"DBSIZE" => (1, false),
        b"SET" | b"MSET" | b"MSETNX" => (-3, true),
        b"SETNX" | b"GETSET" | b"APPEND" | b"INCRBY" | b"DECRBY" => (3, true),
        b"GETDEL" | b"INCR" | b"DECR" | b"PERSIST" => (2, true),
        b"DEL" | b"UNLINK" => (-2, true),
        b"SETEX" | b"PSETEX" => (4, true),
        b"FLUSHDB" | b"FLUSHALL" => (-1, true),
        _ => return None,
    })
}

/// What the model expects a command to answer.
#[derive(Debug, PartialEq, Eq)]
enum Expected {
    /// Exactly these bytes.
    Reply(Vec<u8>),
    /// KEYS: an array of exactly these keys, in any order.
    Keys(BTreeSet<Vec<u8>>),
}

fn simple(text: &str) -> Expected {
    Expected::Reply(format!("+{text}\r\n").into_bytes())
}

/// `-text\r\n`, CR and LF in the text sent as spaces (Redis's `sdsmapchars`).
fn error(text: impl AsRef<[u8]>) -> Expected {
    let mut reply = vec![b'-'];
    reply.extend(text.as_ref().iter().map(|&byte| match byte {
        b'\r' | b'\n' => b' ',
        byte => byte,
    }));
    reply.extend_from_slice(b"\r\n");
    Expected::Reply(reply)
}

fn integer(value: impl std::fmt::Display) -> Expected {
    Expected::Reply(format!(":{value}\r\n").into_bytes())
}

fn bulk_or_nil(value: Option<&Vec<u8>>) -> Vec<u8> {
    match value {
        Some(value) => {
            let mut reply = format!("${}\r\n", value.len()).into_bytes();
            reply.extend_from_slice(value);
            reply.extend_from_slice(b"\r\n");
            reply
        }
        None => b"$-1\r\n".to_vec(),
    }
}

fn wrong_arity(lower_case_name: &str) -> Expected {
    error(format!(
        "ERR wrong number of arguments for '{lower_case_name}' command"
    ))
}

/// Bytes as Redis's `%s` prints them: up to the first NUL.
fn c_string(bytes: &[u8]) -> &[u8] {
    bytes.split(|&byte| byte == 0).next().unwrap_or(bytes)
}

/// `server.c`'s unknown-command error: the name, then `'arg' ` for each argument while the
/// list is shorter than 128 bytes, each cut to what is left of the 128.
fn unknown_command(name: &[u8], args: &[&[u8]]) -> Expected {
    let mut listed: Vec<u8> = Vec::new();
    for arg in args {
        if listed.len() >= ECHO_LIMIT {
            break;
        }
        let room = ECHO_LIMIT - listed.len();
        listed.push(b'\'');
        listed.extend(c_string(arg).iter().take(room));
        listed.extend_from_slice(b"' ");
    }
    let mut text = b"ERR unknown command '".to_vec();
    text.extend(c_string(name).iter().take(ECHO_LIMIT));
    text.extend_from_slice(b"', with args beginning with: ");
    text.extend(listed);
    error(text)
}

/// Redis's `string2ll`: fewer than 21 bytes; `0`, or an optional `-` and digits without a
/// leading zero; within i64. No `+`, no spaces, no `-0`.
fn string2ll(text: &[u8]) -> Option<i64> {
    if text.is_empty() || text.len() >= 21 {
        return None;
    }
    if text == b"0" {
        return Some(0);
    }
    let (sign, digits) = match text.strip_prefix(b"-") {
        Some(digits) => (-1, digits),
        None => (1, text),
    };
    let well_formed =
        matches!(digits.first(), Some(b'1'..=b'9')) && digits.iter().all(u8::is_ascii_digit);
    if !well_formed {
        return None;
    }
    let magnitude = digits
        .iter()
        .fold(0i128, |n, digit| n * 10 + i128::from(digit - b'0'));
    i64::try_from(sign * magnitude).ok()
}

/// The Unix time in milliseconds, which Redis adds to a relative expiry.
fn now_ms() -> i64 {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is past 1970");
    i64::try_from(since_epoch.as_millis()).expect("the clock is before the year 292 million")
}

/// What a relative expiry (seconds or milliseconds) is answered, as Redis's
/// `getExpireMillisecondsOrReply` checks it: an error for a bad one; for a good one, Redis
/// would set the key with a time to live, which Stratus refuses with its own error.
fn expiry_refused(command: &str, in_seconds: bool, amount: &[u8]) -> Expected {
    let Some(amount) = string2ll(amount) else {
        return error(NOT_AN_INTEGER);
    };
    let invalid = || error(format!("ERR invalid expire time in '{command}' command"));
    if amount <= 0 || (in_seconds && amount > i64::MAX / 1000) {
        return invalid();
    }
    let milliseconds = if in_seconds { amount * 1000 } else { amount };
    // Redis adds the time now; a sum past i64::MAX wraps negative there and is refused.
    match milliseconds.checked_add(now_ms()) {
        None => invalid(),
        Some(_) => error(EXPIRY_UNSUPPORTED),
    }
}

/// A glob as Redis's `stringmatchlen` reads the generator's patterns: `*`, `?`, `[^x]`-style
/// classes and `\` escapes. A non-empty pattern never matches an empty key: Redis's loop
/// runs while both are left, then asks that both be used up.
fn glob(pattern: &[u8], key: &[u8]) -> bool {
    (pattern.is_empty() || !key.is_empty()) && glob_from(pattern, key)
}

fn glob_from(pattern: &[u8], key: &[u8]) -> bool {
    let rest_matches = |rest: &[u8]| !key.is_empty() && glob_from(rest, &key[1..]);
    match pattern {
        [] => key.is_empty(),
        [b'*', rest @ ..] => glob_from(rest, key) || rest_matches(pattern),
        [b'?', rest @ ..] => rest_matches(rest),
        [b'[', class @ ..] => {
            let close = class
                .iter()
                .position(|&byte| byte == b']')
                .expect("the generator's classes are closed");
            let (negated, members) = match &class[..close] {
                [b'^', members @ ..] => (true, members),
                members => (false, members),
            };
            key.first()
                .is_some_and(|byte| members.contains(byte) != negated)
                && rest_matches(&class[close + 1..])
        }
        [b'\\', escaped, rest @ ..] | [escaped, rest @ ..] => {
            key.first() == Some(escaped) && rest_matches(rest)
        }
    }
}

/// The naive model of the table.
#[derive(Default)]
struct Model {
    map: HashMap<Vec<u8>, Vec<u8>>,
}

impl Model {
    /// Redis 7.0.15's rules, one command at a time: lookup, arity, poisoning, then the command.
    fn respond(&mut self, poisoned: bool, parts: &[&[u8]]) -> Expected {
        let (name, args) = parts.split_first().expect("a request has a name");
        let upper = name.to_ascii_uppercase();
        let Some((arity, writes)) = facts(&upper) else {
            return unknown_command(name, args);
        };
        let lower = String::from_utf8_lossy(&upper).to_ascii_lowercase();
        let argc = parts.len() as i32;
        let arity_ok = if arity >= 0 {
            argc == arity
        } else {
            argc >= -arity
        };
        if !arity_ok {
            return wrong_arity(&lower);
        }
        if poisoned && writes {
            return error(MISCONF);
        }
        let key = args.first().map(|key| key.to_vec()).unwrap_or_default();
        match upper.as_slice() {
            b"GET" => Expected::Reply(bulk_or_nil(self.map.get(&key))),
            b"SET" => self.set(key, args[1], &args[2..]),
            b"SETNX" => match self.map.entry(key) {
                Entry::Occupied(_) => integer(0),
                Entry::Vacant(slot) => {
                    slot.insert(args[1].to_vec());
                    integer(1)
                }
            },
            b"GETSET" => {
                Expected::Reply(bulk_or_nil(self.map.insert(key, args[1].to_vec()).as_ref()))
            }
            b"GETDEL" => Expected::Reply(bulk_or_nil(self.map.remove(&key).as_ref())),
            b"MGET" => {
                let mut reply = format!("*{}\r\n", args.len()).into_bytes();
                for key in args {
                    reply.extend(bulk_or_nil(self.map.get(*key)));
                }
                Expected::Reply(reply)
            }
            b"MSET" | b"MSETNX" => {
                if args.len() % 2 != 0 {
                    return wrong_arity(&lower);
                }
                let pairs = args.chunks(2);
                let nx = upper == b"MSETNX";
                if nx && pairs.clone().any(|pair| self.map.contains_key(pair[0])) {
                    return integer(0);
                }
                for pair in pairs {
                    self.map.insert(pair[0].to_vec(), pair[1].to_vec());
                }
                if nx {
                    integer(1)
                } else {
                    simple("OK")
                }
            }
            b"DEL" | b"UNLINK" => integer(
                args.iter()
                    .filter(|key| self.map.remove(**key).is_some())
                    .count(),
            ),
            b"EXISTS" => integer(args.iter().filter(|k| self.map.contains_key(**k)).count()),
            b"STRLEN" => integer(self.map.get(&key).map_or(0, Vec::len)),
            b"APPEND" => {
                let value = self.map.entry(key).or_default();
                value.extend_from_slice(args[1]);
                integer(value.len())
            }
            b"INCR" => self.increment(key, 1),
            b"DECR" => self.increment(key, -1),
            b"INCRBY" => match string2ll(args[1]) {
                Some(by) => self.increment(key, by),
                None => error(NOT_AN_INTEGER),
            },
            b"DECRBY" => match string2ll(args[1]) {
                Some(i64::MIN) => error("ERR decrement would overflow"),
                Some(by) => self.increment(key, -by),
                None => error(NOT_AN_INTEGER),
            },
            b"SETEX" => expiry_refused(&lower, true, args[1]),
            b"PSETEX" => expiry_refused(&lower, false, args[1]),
            b"DBSIZE" => integer(self.map.len()),
            b"FLUSHDB" | b"FLUSHALL" => {
                let mode_ok = match args {
                    [] => true,
                    [mode] => {
                        mode.eq_ignore_ascii_case(b"SYNC") || mode.eq_ignore_ascii_case(b"ASYNC")
                    }
                    _ => false,
                };
                if !mode_ok {
                    return error(SYNTAX);
                }
                self.map.clear();
                simple("OK")
            }
            b"TYPE" if self.map.contains_key(&key) => simple("string"),
            b"TYPE" => simple("none"),
            b"TTL" | b"PTTL" if self.map.contains_key(&key) => integer(-1),
            b"TTL" | b"PTTL" => integer(-2),
            // No key has a time to live to remove.
            b"PERSIST" => integer(0),
            b"KEYS" => {
                let every = args[0] == b"*";
                let keys = self.map.keys().filter(|k| every || glob(args[0], k));
                Expected::Keys(keys.cloned().collect())
            }
            other => unreachable!("{} has facts but no rule", shown(&[other])),
        }
    }

    /// `SET key value [NX|XX] [GET] [KEEPTTL|EX s|PX ms]`, as `t_string.c` parses the options
    /// (each may repeat; NX and XX exclude each other, as do KEEPTTL and an expiry, and EX and
    /// PX) and then runs: the expiry checked first, then GET's reply, then the condition.
    fn set(&mut self, key: Vec<u8>, value: &[u8], options: &[&[u8]]) -> Expected {
        let (mut nx, mut xx, mut get, mut keep_ttl) = (false, false, false, false);
        // (in seconds, the amount)
        let mut expiry: Option<(bool, &[u8])> = None;
        let mut index = 0;
        while index < options.len() {
            let option = options[index];
            let next = options.get(index + 1);
            let is = |word: &[u8]| option.eq_ignore_ascii_case(word);
            let unit = [(&b"EX"[..], true), (b"PX", false)]
                .into_iter()
                .find_map(|(word, in_seconds)| is(word).then_some(in_seconds));
            let expiry_allowed = unit.is_some_and(|in_seconds| {
                !keep_ttl && expiry.is_none_or(|(set, _)| set == in_seconds)
            });
            if is(b"NX") && !xx {
                nx = true;
            } else if is(b"XX") && !nx {
                xx = true;
            } else if is(b"GET") {
                get = true;
            } else if is(b"KEEPTTL") && expiry.is_none() {
                keep_ttl = true;
            } else if let (true, Some(in_seconds), Some(amount)) = (expiry_allowed, unit, next) {
                expiry = Some((in_seconds, amount));
                index += 1;
            } else {
                return error(SYNTAX);
            }
            index += 1;
        }
        if let Some((in_seconds, amount)) = expiry {
            return expiry_refused("set", in_seconds, amount);
        }
        let old = self.map.get(&key).cloned();
        let kept = (nx && old.is_some()) || (xx && old.is_none());
        if !kept {
            self.map.insert(key, value.to_vec());
        }
        match (get, kept) {
            (true, _) => Expected::Reply(bulk_or_nil(old.as_ref())),
            (false, true) => Expected::Reply(b"$-1\r\n".to_vec()),
            (false, false) => simple("OK"),
        }
    }

    /// `incrDecrCommand`: the value (0 if absent) must be what `string2ll` reads; the sum
    /// must stay within i64, by Redis's own test; the result is stored in decimal.
    fn increment(&mut self, key: Vec<u8>, by: i64) -> Expected {
        let old = match self.map.get(&key) {
            None => 0,
            Some(value) => match string2ll(value) {
                Some(old) => old,
                None => return error(NOT_AN_INTEGER),
            },
        };
        if (by < 0 && old < 0 && by < i64::MIN - old) || (by > 0 && old > 0 && by > i64::MAX - old)
        {
            return error(OVERFLOW);
        }
        let new = old + by;
        self.map.insert(key, new.to_string().into_bytes());
        integer(new)
    }
}

/// The keys of an array-of-bulks reply: the framing of a multibulk request, so the request
/// parser reads it. Panics if the reply is anything else or lists a key twice.
fn listed_keys(reply: &[u8], parts: &[&[u8]]) -> BTreeSet<Vec<u8>> {
    let mut parser = resp::RequestParser::new(MAX_REQUEST_BYTES.max(reply.len()));
    let parsed = parser.parse(reply);
    assert!(
        matches!(parsed, Ok(Some(len)) if len == reply.len()),
        "{}: not an array of keys: {}",
        shown(parts),
        reply.escape_ascii()
    );
    let keys = parser.args(reply);
    let set: BTreeSet<Vec<u8>> = keys.iter().map(<[u8]>::to_vec).collect();
    assert_eq!(
        set.len(),
        keys.len(),
        "{}: a key listed twice",
        shown(parts)
    );
    set
}

/// `commands_vs_model`: a sequence of Redis commands, decoded from the bytes, gives the same
/// reply from the real parser, dispatcher and table as from the model, byte for byte (KEYS as
/// a set); both hold the same entries after every step, and so does a second table rebuilt
/// from each step's change log framed as a journal frame.
pub fn commands_vs_model(bytes: &[u8]) {
    let mut table = Table::new();
    // Effects only, as the journal's `everysec` and `no` modes keep them (actions_vs_model
    // runs the undoable kind).
    table.start_change_log(Undoable::No);
    let mut replayed = Table::new();
    let mut frames = Vec::new();
    let mut model = Model::default();
    let mut session = Session::new(1);
    let mut poisoned = false;
    let mut input = bytes.iter().copied();
    while let Some(step) = steps::next_step(&mut input, &COMMAND_NAMES, &WORDS) {
        let Step::Request { name, args } = step else {
            poisoned = !poisoned;
            continue;
        };
        let parts: Vec<&[u8]> = std::iter::once(name.as_bytes()).chain(args).collect();
        let mut request = Vec::new();
        resp::write::request(&mut request, &parts);
        let mut parser = resp::RequestParser::new(MAX_REQUEST_BYTES);
        let len = parser.parse(&request).expect("a generated request parses");
        assert_eq!(len, Some(request.len()), "a generated request is complete");
        let parsed = parser.args(&request);
        assert!(
            parsed.iter().eq(parts.iter().copied()),
            "{}: parsed apart",
            shown(&parts)
        );
        let writes = if poisoned {
            Writes::Refused
        } else {
            Writes::Accepted
        };
        let mut out = Vec::new();
        let outcome = command::execute(&mut table, writes, &mut session, parsed, &mut out);
        assert!(
            matches!(outcome, Outcome::Answered),
            "{}: outside the model: {outcome:?}",
            shown(&parts)
        );
        match model.respond(poisoned, &parts) {
            Expected::Reply(reply) => assert_eq!(
                out.escape_ascii().to_string(),
                reply.escape_ascii().to_string(),
                "{}",
                shown(&parts)
            ),
            Expected::Keys(keys) => assert_eq!(
                listed_keys(&out, &parts),
                keys,
                "{}: keys listed",
                shown(&parts)
            ),
        }
        assert_entries_agree(&mut table, &mut replayed, &mut frames, &model.map, &parts);
    }
}

/// The bytes [`commands_vs_model`] decodes into `steps`: the inverse of its decoding, so seeds
/// name their commands and stay right if the lists change. Panics on a name, word or argument
/// count the generator cannot produce.
pub fn encode_command_steps(steps: &[ModelStep<'_>]) -> Vec<u8> {
    steps::encode_steps(steps, &COMMAND_NAMES, &WORDS)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The model's own rules against what redis-server 7.0.15 answered.
    #[test]
    fn the_models_integers_and_globs_are_redis_ones() {
        for (text, expected) in [
            (&b"0"[..], Some(0)),
            (b"-9223372036854775808", Some(i64::MIN)),
            (b"9223372036854775807", Some(i64::MAX)),
            (b"9223372036854775808", None),
            (b"-9223372036854775809", None),
            (b"99999999999999999999", None),
            (b"+1", None),
            (b"01", None),
            (b"-0", None),
            (b"1.5", None),
            (b"", None),
            (b"-", None),
        ] {
            assert_eq!(string2ll(text), expected, "{}", text.escape_ascii());
        }
        let keys: [&[u8]; 7] = [b"", b"a", b"abc", b"*", b"*b", b"b", b"A"];
        let matching = |pattern: &[u8]| -> Vec<&[u8]> {
            keys.iter()
                .copied()
                .filter(|key| glob(pattern, key))
                .collect()
        };
        assert_eq!(matching(b"a*"), [&b"a"[..], b"abc"]);
        assert_eq!(matching(b"*b"), [&b"*b"[..], b"b"]);
        assert_eq!(matching(b"?"), [&b"a"[..], b"*", b"b", b"A"]);
        assert_eq!(matching(b"[^a]"), [&b"*"[..], b"b", b"A"]);
        assert_eq!(matching(b"\\*"), [&b"*"[..]]);
        assert_eq!(matching(b""), [&b""[..]]);
        assert_eq!(matching(b"abc"), [&b"abc"[..]]);
    }
}

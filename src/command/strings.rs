//! The string commands: GET, SET and its options, SETNX, GETSET, GETDEL, MGET, MSET, MSETNX,
//! STRLEN, APPEND, the INCR family, and SETEX and PSETEX (checked, then refused: no key has a
//! time to live). Arity has been checked; each function writes exactly one reply. Writes use
//! only the table's primitives (`insert_new`, `update_existing`, `upsert`, `remove`): read,
//! decide, then one primitive call per key changed.

use std::time::{SystemTime, UNIX_EPOCH};

use super::errors;
use crate::args::Args;
use crate::resp::number::parse_i64;
use crate::resp::parse::BULK_MAX_BYTES;
use crate::resp::write::{self, BULK_FRAMING_BYTES, NIL};
use crate::sink::Sink;
use crate::table::{Table, Value, SHARED_VALUE_BYTES};

/// Writes a value as a bulk (a shared one without copying it), or nil.
pub fn value_or_nil(value: Option<Value<'_>>, out: &mut impl Sink) {
    match value {
        Some(Value::Inline(bytes)) => write::bulk(out, bytes),
        Some(Value::Shared(shared)) => write::shared_bulk(out, shared),
        None => write::nil(out),
    }
}

/// The bytes [`value_or_nil`] adds to an output, a shared value's own bytes aside.
fn value_or_nil_cost(value: Option<Value<'_>>) -> usize {
    match value {
        Some(Value::Inline(bytes)) => BULK_FRAMING_BYTES + bytes.len(),
        Some(Value::Shared(_)) => BULK_FRAMING_BYTES,
        None => NIL.len(),
    }
}

pub fn get(table: &Table, args: Args<'_>, out: &mut impl Sink) {
    value_or_nil(table.value(args.get(1)), out);
}

/// How SET decides whether to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Condition {
    Always,
    /// NX: only if the key is absent.
    Absent,
    /// XX: only if it exists.
    Present,
}

/// An expiry option of SET, by its unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expiry {
    Ex,
    Px,
    Exat,
    Pxat,
}

/// The options of `SET key value [NX|XX] [GET] [EX s|PX ms|EXAT s|PXAT ms|KEEPTTL]`, with the
/// combinations Redis's `parseExtendedStringArgumentsOrReply` allows.
struct SetOptions<'a> {
    condition: Condition,
    get: bool,
    keep_ttl: bool,
    expiry: Option<(Expiry, &'a [u8])>,
}

fn parse_set_options<'a>(options: Args<'a>) -> Option<SetOptions<'a>> {
    let mut parsed = SetOptions {
        condition: Condition::Always,
        get: false,
        keep_ttl: false,
        expiry: None,
    };
    let mut index = 0;
    while index < options.len() {
        let option = options.get(index);
        let next = (index + 1 < options.len()).then(|| options.get(index + 1));
        let is = |word: &str| option.eq_ignore_ascii_case(word.as_bytes());
        let unit = [
            ("EX", Expiry::Ex),
            ("PX", Expiry::Px),
            ("EXAT", Expiry::Exat),
            ("PXAT", Expiry::Pxat),
        ]
        .into_iter()
        .find_map(|(word, unit)| is(word).then_some(unit));
        if is("NX") && parsed.condition != Condition::Present {
            parsed.condition = Condition::Absent;
        } else if is("XX") && parsed.condition != Condition::Absent {
            parsed.condition = Condition::Present;
        } else if is("GET") {
            parsed.get = true;
        } else if is("KEEPTTL") && parsed.expiry.is_none() {
            parsed.keep_ttl = true;
        } else if let (Some(unit), Some(value)) = (unit, next) {
            // Redis lets an expiry option repeat, the last winning, but not mix with another.
            let other = parsed.expiry.is_some_and(|(set, _)| set != unit);
            if parsed.keep_ttl || other {
                return None;
            }
            parsed.expiry = Some((unit, value));
            index += 1;
        } else {
            return None;
        }
        index += 1;
    }
    Some(parsed)
}

/// Redis's check of an expiry argument (`getExpireMillisecondsOrReply`), so a bad one is
/// refused with Redis's own error and only a good one with ours. Redis adds the time now
/// (`now_ms`, Unix milliseconds) to a relative expiry (EX, PX) and refuses one that the sum
/// takes past `i64::MAX`.
fn expiry_error(name: &str, unit: Expiry, value: &[u8], now_ms: i64) -> String {
    let in_seconds = matches!(unit, Expiry::Ex | Expiry::Exat);
    let relative = matches!(unit, Expiry::Ex | Expiry::Px);
    match parse_i64(value) {
        None => errors::NOT_AN_INTEGER.to_owned(),
        Some(amount) if amount <= 0 => errors::invalid_expire_time(name),
        Some(amount) if in_seconds && amount > i64::MAX / 1000 => errors::invalid_expire_time(name),
        Some(amount) => {
            let milliseconds = if in_seconds { amount * 1000 } else { amount };
            if relative && milliseconds.checked_add(now_ms).is_none() {
                errors::invalid_expire_time(name)
            } else {
                errors::EXPIRY_UNSUPPORTED.to_owned()
            }
        }
    }
}

/// The Unix time in milliseconds: what Redis adds to a relative expiry. The one reading of
/// the clock in the commands.
fn unix_time_ms() -> i64 {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX)
}

pub fn set(table: &mut Table, args: Args<'_>, out: &mut impl Sink) {
    let Some(options) = parse_set_options(args.skip(3)) else {
        return write::error(out, errors::SYNTAX);
    };
    if let Some((unit, value)) = options.expiry {
        return write::error(out, &expiry_error("set", unit, value, unix_time_ms()));
    }
    set_with(
        table,
        args.get(1),
        args.get(2),
        options.condition,
        options.get,
        out,
    );
}

/// SET once its options are known: with `get`, the old value is the reply, whatever the
/// condition decides; otherwise `+OK`, or nil when the condition kept the value.
fn set_with(
    table: &mut Table,
    key: &[u8],
    value: &[u8],
    condition: Condition,
    get: bool,
    out: &mut impl Sink,
) {
    let old = table.value(key);
    let exists = old.is_some();
    if get {
        value_or_nil(old, out);
    }
    let done = match condition {
        Condition::Always => {
            table.upsert(key, value);
            true
        }
        Condition::Absent => !exists && table.insert_new(key, value),
        Condition::Present => exists && table.update_existing(key, value),
    };
    if !get {
        if done {
            write::simple(out, "OK");
        } else {
            write::nil(out);
        }
    }
}

/// SETEX and PSETEX (`SETEX key seconds value`): the expiry is checked as Redis checks it, and
/// a good one refused, as SET's is.
pub fn setex(args: Args<'_>, in_seconds: bool, out: &mut impl Sink) {
    let (name, unit) = if in_seconds {
        ("setex", Expiry::Ex)
    } else {
        ("psetex", Expiry::Px)
    };
    write::error(out, &expiry_error(name, unit, args.get(2), unix_time_ms()));
}

pub fn setnx(table: &mut Table, args: Args<'_>, out: &mut impl Sink) {
    let inserted = table.insert_new(args.get(1), args.get(2));
    write::integer(out, i64::from(inserted));
}

pub fn getset(table: &mut Table, args: Args<'_>, out: &mut impl Sink) {
    set_with(
        table,
        args.get(1),
        args.get(2),
        Condition::Always,
        true,
        out,
    );
}

pub fn getdel(table: &mut Table, args: Args<'_>, out: &mut impl Sink) {
    let removed = table.remove(args.get(1));
    value_or_nil(removed.as_ref().map(|removed| removed.value()), out);
}

/// Whether the values of `keys`, written one by one, fit in the output's room: cheap when it
/// is obvious, else the exact cost is added up before anything is written.
fn values_fit(table: &Table, keys: Args<'_>, out: &impl Sink) -> bool {
    let room = out.room();
    let most_per_key = BULK_FRAMING_BYTES + SHARED_VALUE_BYTES;
    if keys.len().saturating_mul(most_per_key) <= room {
        return true;
    }
    let mut cost = 0usize;
    keys.iter().all(|key| {
        cost = cost.saturating_add(value_or_nil_cost(table.value(key)));
        cost <= room
    })
}

/// Every value, in one reply; refused if the reply cannot fit in the client memory budget.
pub fn mget(table: &Table, args: Args<'_>, out: &mut impl Sink) {
    let keys = args.skip_first();
    if !values_fit(table, keys, out) {
        return write::error(out, errors::REPLY_TOO_LARGE);
    }
    write::array_header(out, keys.len());
    for key in keys.iter() {
        value_or_nil(table.value(key), out);
    }
}

/// The key/value pairs after the name, or `None` (a wrong-arity error written) if odd.
fn pairs<'a>(name: &str, args: Args<'a>, out: &mut impl Sink) -> Option<Args<'a>> {
    let pairs = args.skip_first();
    if !pairs.len().is_multiple_of(2) {
        write::error(out, &errors::wrong_arity(name));
        return None;
    }
    Some(pairs)
}

/// Upserts every pair (a later duplicate wins).
pub fn mset(table: &mut Table, args: Args<'_>, out: &mut impl Sink) {
    let Some(pairs) = pairs("mset", args, out) else {
        return;
    };
    for (key, value) in pairs.pairs() {
        table.upsert(key, value);
    }
    write::simple(out, "OK");
}

/// All pairs or none: none if any key exists (values are not looked at). Within the call a
/// later duplicate wins, as in Redis.
pub fn msetnx(table: &mut Table, args: Args<'_>, out: &mut impl Sink) {
    let Some(pairs) = pairs("msetnx", args, out) else {
        return;
    };
    if pairs.pairs().any(|(key, _)| table.contains(key)) {
        return write::integer(out, 0);
    }
    for (key, value) in pairs.pairs() {
        table.upsert(key, value);
    }
    write::integer(out, 1);
}

pub fn strlen(table: &Table, args: Args<'_>, out: &mut impl Sink) {
    let len = table.get(args.get(1)).map_or(0, <[u8]>::len);
    write::integer(out, len as i64);
}

/// Appends to the value (a new key if absent) and answers the new length; a value may not
/// grow past Redis's 512 MiB.
pub fn append(table: &mut Table, args: Args<'_>, out: &mut impl Sink) {
    let (key, tail) = (args.get(1), args.get(2));
    let Some(old) = table.get(key) else {
        table.insert_new(key, tail);
        return write::integer(out, tail.len() as i64);
    };
    let total = old.len() + tail.len();
    if total as u64 > BULK_MAX_BYTES {
        return write::error(out, errors::STRING_TOO_LONG);
    }
    if !tail.is_empty() {
        let mut value = Vec::with_capacity(total);
        value.extend_from_slice(old);
        value.extend_from_slice(tail);
        table.update_existing(key, &value);
    }
    write::integer(out, total as i64);
}

/// Adds `by` to the decimal integer the key holds (0 if absent) and answers the result.
pub fn increment(table: &mut Table, key: &[u8], by: i64, out: &mut impl Sink) {
    let current = match table.get(key) {
        None => 0,
        Some(value) => match parse_i64(value) {
            Some(current) => current,
            None => return write::error(out, errors::NOT_AN_INTEGER),
        },
    };
    let Some(result) = current.checked_add(by) else {
        return write::error(out, errors::INCREMENT_OVERFLOW);
    };
    table.upsert(key, result.to_string().as_bytes());
    write::integer(out, result);
}

pub fn incrby(table: &mut Table, args: Args<'_>, out: &mut impl Sink) {
    match parse_i64(args.get(2)) {
        Some(by) => increment(table, args.get(1), by, out),
        None => write::error(out, errors::NOT_AN_INTEGER),
    }
}

pub fn decrby(table: &mut Table, args: Args<'_>, out: &mut impl Sink) {
    match parse_i64(args.get(2)) {
        Some(i64::MIN) => write::error(out, errors::DECREMENT_OVERFLOW),
        Some(by) => increment(table, args.get(1), -by, out),
        None => write::error(out, errors::NOT_AN_INTEGER),
    }
}

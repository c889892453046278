//! The plain key-value actions: single and multi-key reads and writes, HEYA, DBSIZE, FLUSHDB,
//! KEYLEN, LSKEYS and POP. Arity has already been checked by the dispatcher; each function
//! writes exactly one response element, byte for byte what skyd 0.6.4 sends.

use crate::protocol::parse::parse_decimal;
use crate::protocol::write::{self, Sink, STRING_FRAMING_BYTES};
use crate::protocol::{error_text, Args, ResponseCode};
use crate::table::{Table, Value, SHARED_VALUE_BYTES};

/// LSKEYS without a limit lists at most this many keys.
const LSKEYS_DEFAULT_LIMIT: usize = 10;
/// Bytes of a nil code element, `!1\n1\n`.
const NIL_BYTES: usize = 5;

/// Writes the value (a shared one without copying it), or nil.
fn value_or_nil(value: Option<Value<'_>>, out: &mut impl Sink) {
    match value {
        Some(Value::Inline(bytes)) => write::string(out, bytes),
        Some(Value::Shared(shared)) => write::shared_string(out, shared),
        None => write::code(out, ResponseCode::Nil),
    }
}

/// The bytes [`value_or_nil`] adds to an output, a shared value's own bytes aside.
fn value_or_nil_cost(value: Option<Value<'_>>) -> usize {
    match value {
        Some(Value::Inline(bytes)) => STRING_FRAMING_BYTES + bytes.len(),
        Some(Value::Shared(_)) => STRING_FRAMING_BYTES,
        None => NIL_BYTES,
    }
}

/// Whether the values of `keys`, written one by one, fit in the output's room. Cheap when it
/// is obvious; otherwise the exact cost is added up before anything is written, so an answer
/// too large for the client memory budget is refused rather than built.
fn values_fit(table: &Table, keys: Args<'_>, out: &impl Sink) -> bool {
    let room = out.room();
    let most_per_key = STRING_FRAMING_BYTES + SHARED_VALUE_BYTES;
    if keys.len().saturating_mul(most_per_key) <= room {
        return true;
    }
    let mut cost = 0usize;
    keys.iter().all(|key| {
        cost = cost.saturating_add(value_or_nil_cost(table.value(key)));
        cost <= room
    })
}

/// Okay if `done`, else `otherwise`.
fn okay_or(done: bool, otherwise: ResponseCode, out: &mut impl Sink) {
    write::code(out, if done { ResponseCode::Okay } else { otherwise });
}

pub fn get(table: &Table, args: Args<'_>, out: &mut impl Sink) {
    value_or_nil(table.value(args.get(0)), out);
}

pub fn set(table: &mut Table, args: Args<'_>, out: &mut impl Sink) {
    let inserted = table.insert_new(args.get(0), args.get(1));
    okay_or(inserted, ResponseCode::OverwriteError, out);
}

pub fn update(table: &mut Table, args: Args<'_>, out: &mut impl Sink) {
    let updated = table.update_existing(args.get(0), args.get(1));
    okay_or(updated, ResponseCode::Nil, out);
}

/// The number of keys actually removed (`DEL a a` removes one).
pub fn del(table: &mut Table, args: Args<'_>, out: &mut impl Sink) {
    let removed = args
        .iter()
        .filter(|key| table.remove(key).is_some())
        .count();
    write::unsigned(out, removed as u64);
}

pub fn heya(out: &mut impl Sink) {
    write::string(out, b"HEY!");
}

/// The number of arguments that exist as keys (`EXISTS a a` counts `a` twice).
pub fn exists(table: &Table, args: Args<'_>, out: &mut impl Sink) {
    let found = args.iter().filter(|key| table.contains(key)).count();
    write::unsigned(out, found as u64);
}

/// The number of pairs inserted; existing keys are skipped (`MSET a 1 a 2` keeps `a = 1`).
pub fn mset(table: &mut Table, args: Args<'_>, out: &mut impl Sink) {
    let inserted = args
        .pairs()
        .filter(|(key, value)| table.insert_new(key, value))
        .count();
    write::unsigned(out, inserted as u64);
}

/// Every value, in one atomic answer; refused if the answer cannot fit in the client memory
/// budget (shared values cost only their framing).
pub fn mget(table: &Table, args: Args<'_>, out: &mut impl Sink) {
    if !values_fit(table, args, out) {
        return write::error_text(out, error_text::REPLY_TOO_LARGE);
    }
    write::array_header(out, args.len());
    for key in args.iter() {
        value_or_nil(table.value(key), out);
    }
}

/// The number of pairs updated; absent keys are skipped.
pub fn mupdate(table: &mut Table, args: Args<'_>, out: &mut impl Sink) {
    let updated = args
        .pairs()
        .filter(|(key, value)| table.update_existing(key, value))
        .count();
    write::unsigned(out, updated as u64);
}

/// Upserts every pair (a later duplicate wins) and answers the number of pairs.
pub fn uset(table: &mut Table, args: Args<'_>, out: &mut impl Sink) {
    for (key, value) in args.pairs() {
        table.upsert(key, value);
    }
    write::unsigned(out, (args.len() / 2) as u64);
}

pub fn dbsize(table: &Table, out: &mut impl Sink) {
    write::unsigned(out, table.len() as u64);
}

pub fn flushdb(table: &mut Table, out: &mut impl Sink) {
    table.clear();
    write::code(out, ResponseCode::Okay);
}

/// The length in bytes of the value (not the key).
pub fn keylen(table: &Table, args: Args<'_>, out: &mut impl Sink) {
    match table.get(args.get(0)) {
        Some(value) => write::unsigned(out, value.len() as u64),
        None => write::code(out, ResponseCode::Nil),
    }
}

/// Up to `limit` keys (default 10) in no particular order.
pub fn lskeys(table: &Table, args: Args<'_>, out: &mut impl Sink) {
    let limit = if args.is_empty() {
        LSKEYS_DEFAULT_LIMIT
    } else {
        match parse_limit(args.get(0)) {
            Some(limit) => limit,
            None => return write::code(out, ResponseCode::Wrongtype),
        }
    };
    let count = limit.min(table.len());
    let mut cost = 0usize;
    let fits = table.keys().take(count).all(|key| {
        cost = cost.saturating_add(STRING_FRAMING_BYTES + key.len());
        cost <= out.room()
    });
    if !fits {
        return write::error_text(out, error_text::REPLY_TOO_LARGE);
    }
    write::flat_array_header(out, count);
    for key in table.keys().take(count) {
        write::string(out, key);
    }
}

/// An unsigned decimal with an optional leading `+`, as Rust's `usize` parsing (which skyd used)
/// accepts it.
fn parse_limit(text: &[u8]) -> Option<usize> {
    let digits = text.strip_prefix(b"+").unwrap_or(text);
    usize::try_from(parse_decimal(digits)?).ok()
}

/// Removes each key and answers its value, or nil (a repeated key is nil the second time).
/// Refused, removing nothing, if the answer cannot fit in the client memory budget.
pub fn pop(table: &mut Table, args: Args<'_>, out: &mut impl Sink) {
    if !values_fit(table, args, out) {
        return write::error_text(out, error_text::REPLY_TOO_LARGE);
    }
    write::array_header(out, args.len());
    for key in args.iter() {
        value_or_nil(
            table.remove(key).as_ref().map(|removed| removed.value()),
            out,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::parse_limit;

    #[test]
    fn lskeys_limit_accepts_what_usize_parsing_accepts() {
        assert_eq!(parse_limit(b"5"), Some(5));
        assert_eq!(parse_limit(b"+5"), Some(5));
        assert_eq!(parse_limit(b"007"), Some(7));
        assert_eq!(parse_limit(b"18446744073709551615"), Some(usize::MAX));
        for bad in [
            &b""[..],
            b"+",
            b"-1",
            b"abc",
            b"1.5",
            b" 1",
            b"18446744073709551616",
        ] {
            assert_eq!(parse_limit(bad), None, "{bad:?}");
        }
    }
}

//! The plain key-value actions: single and multi-key reads and writes, HEYA, DBSIZE, FLUSHDB,
//! KEYLEN, LSKEYS and POP. Arity has already been checked by the dispatcher; each function
//! writes exactly one response element, byte for byte what skyd 0.6.4 sends.

use crate::protocol::parse::parse_decimal;
use crate::protocol::{write, Args, ResponseCode};
use crate::table::Table;

/// LSKEYS without a limit lists at most this many keys.
const LSKEYS_DEFAULT_LIMIT: usize = 10;

/// Writes the value, or nil.
fn value_or_nil(value: Option<&[u8]>, out: &mut Vec<u8>) {
    match value {
        Some(value) => write::string(out, value),
        None => write::code(out, ResponseCode::Nil),
    }
}

/// Okay if `done`, else `otherwise`.
fn okay_or(done: bool, otherwise: ResponseCode, out: &mut Vec<u8>) {
    write::code(out, if done { ResponseCode::Okay } else { otherwise });
}

pub fn get(table: &Table, args: Args<'_>, out: &mut Vec<u8>) {
    value_or_nil(table.get(args.get(0)), out);
}

pub fn set(table: &mut Table, args: Args<'_>, out: &mut Vec<u8>) {
    let inserted = table.insert_new(args.get(0), args.get(1));
    okay_or(inserted, ResponseCode::OverwriteError, out);
}

pub fn update(table: &mut Table, args: Args<'_>, out: &mut Vec<u8>) {
    let updated = table.update_existing(args.get(0), args.get(1));
    okay_or(updated, ResponseCode::Nil, out);
}

/// The number of keys actually removed (`DEL a a` removes one).
pub fn del(table: &mut Table, args: Args<'_>, out: &mut Vec<u8>) {
    let removed = args
        .iter()
        .filter(|key| table.remove(key).is_some())
        .count();
    write::unsigned(out, removed as u64);
}

pub fn heya(out: &mut Vec<u8>) {
    write::string(out, b"HEY!");
}

/// The number of arguments that exist as keys (`EXISTS a a` counts `a` twice).
pub fn exists(table: &Table, args: Args<'_>, out: &mut Vec<u8>) {
    let found = args.iter().filter(|key| table.contains(key)).count();
    write::unsigned(out, found as u64);
}

/// The number of pairs inserted; existing keys are skipped (`MSET a 1 a 2` keeps `a = 1`).
pub fn mset(table: &mut Table, args: Args<'_>, out: &mut Vec<u8>) {
    let inserted = args
        .pairs()
        .filter(|(key, value)| table.insert_new(key, value))
        .count();
    write::unsigned(out, inserted as u64);
}

pub fn mget(table: &Table, args: Args<'_>, out: &mut Vec<u8>) {
    write::array_header(out, args.len());
    for key in args.iter() {
        value_or_nil(table.get(key), out);
    }
}

/// The number of pairs updated; absent keys are skipped.
pub fn mupdate(table: &mut Table, args: Args<'_>, out: &mut Vec<u8>) {
    let updated = args
        .pairs()
        .filter(|(key, value)| table.update_existing(key, value))
        .count();
    write::unsigned(out, updated as u64);
}

/// Upserts every pair (a later duplicate wins) and answers the number of pairs.
pub fn uset(table: &mut Table, args: Args<'_>, out: &mut Vec<u8>) {
    for (key, value) in args.pairs() {
        table.upsert(key, value);
    }
    write::unsigned(out, (args.len() / 2) as u64);
}

pub fn dbsize(table: &Table, out: &mut Vec<u8>) {
    write::unsigned(out, table.len() as u64);
}

pub fn flushdb(table: &mut Table, out: &mut Vec<u8>) {
    table.clear();
    write::code(out, ResponseCode::Okay);
}

/// The length in bytes of the value (not the key).
pub fn keylen(table: &Table, args: Args<'_>, out: &mut Vec<u8>) {
    match table.get(args.get(0)) {
        Some(value) => write::unsigned(out, value.len() as u64),
        None => write::code(out, ResponseCode::Nil),
    }
}

/// Up to `limit` keys (default 10) in no particular order.
pub fn lskeys(table: &Table, args: Args<'_>, out: &mut Vec<u8>) {
    let limit = if args.is_empty() {
        LSKEYS_DEFAULT_LIMIT
    } else {
        match parse_limit(args.get(0)) {
            Some(limit) => limit,
            None => return write::code(out, ResponseCode::Wrongtype),
        }
    };
    let count = limit.min(table.len());
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
pub fn pop(table: &mut Table, args: Args<'_>, out: &mut Vec<u8>) {
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

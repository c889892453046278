//! Commands over keys rather than values: DEL/UNLINK, EXISTS, TYPE, TTL/PTTL, FLUSHDB and
//! FLUSHALL, KEYS and SCAN. Arity has been checked; each function writes exactly one reply.
//!
//! SCAN pages the table's 64-bit hash space: the cursor is a hash, and a call returns the keys
//! whose hash lies in `[cursor, cursor + span)`, the next cursor being the end of that range
//! (0 once it reaches the end of the space). A key's hash is fixed for the life of the table,
//! so a full iteration returns every key present from its start to its end exactly once,
//! whatever is inserted or deleted meanwhile and however the table grows. The span is sized
//! for about `max(COUNT, keys / SCAN_PAGES)` keys, so a full iteration takes at most about
//! [`SCAN_PAGES`] calls beyond what COUNT asks for; each call is one pass over the table.

use super::errors;
use super::glob;
use crate::args::Args;
use crate::resp::number::{parse_cursor, parse_i64};
use crate::resp::write::{self, BULK_FRAMING_BYTES};
use crate::sink::Sink;
use crate::table::Table;

/// A full SCAN iteration takes about this many calls at most, whatever COUNT says.
pub const SCAN_PAGES: usize = 64;
/// SCAN's COUNT when none is given, as in Redis.
const SCAN_COUNT_DEFAULT: i64 = 10;
/// The only type a Stratus key has.
const STRING_TYPE: &str = "string";

/// The number of keys actually removed (`DEL a a` removes one).
pub fn del(table: &mut Table, args: Args<'_>, out: &mut impl Sink) {
    let removed = args
        .skip_first()
        .iter()
        .filter(|key| table.remove(key).is_some())
        .count();
    write::integer(out, removed as i64);
}

/// The number of arguments that exist as keys (`EXISTS a a` counts `a` twice).
pub fn exists(table: &Table, args: Args<'_>, out: &mut impl Sink) {
    let found = args
        .skip_first()
        .iter()
        .filter(|key| table.contains(key))
        .count();
    write::integer(out, found as i64);
}

pub fn key_type(table: &Table, args: Args<'_>, out: &mut impl Sink) {
    let name = if table.contains(args.get(1)) {
        STRING_TYPE
    } else {
        "none"
    };
    write::simple(out, name);
}

/// TTL and PTTL: -1 for a key (no key has a time to live), -2 for none.
pub fn ttl(table: &Table, args: Args<'_>, out: &mut impl Sink) {
    write::integer(out, if table.contains(args.get(1)) { -1 } else { -2 });
}

/// FLUSHDB and FLUSHALL, with an optional SYNC or ASYNC (the same here: the table is freed at
/// once). The table is the only database.
pub fn flush(table: &mut Table, args: Args<'_>, out: &mut impl Sink) {
    let mode_ok = match args.len() {
        1 => true,
        2 => {
            let mode = args.get(1);
            mode.eq_ignore_ascii_case(b"SYNC") || mode.eq_ignore_ascii_case(b"ASYNC")
        }
        _ => false,
    };
    if !mode_ok {
        return write::error(out, errors::SYNTAX);
    }
    table.clear();
    write::simple(out, "OK");
}

/// Writes `*<n>` and the `n` keys `keys()` yields, unless they would not fit in the output's
/// room (counted in a first pass, before anything is written): then the refusal.
fn key_list<'t, I: Iterator<Item = &'t [u8]>>(keys: impl Fn() -> I, out: &mut impl Sink) {
    let room = out.room();
    let mut count = 0usize;
    let mut cost = 0usize;
    for key in keys() {
        count += 1;
        cost = cost.saturating_add(BULK_FRAMING_BYTES + key.len());
        if cost > room {
            return write::error(out, errors::REPLY_TOO_LARGE);
        }
    }
    write::array_header(out, count);
    for key in keys() {
        write::bulk(out, key);
    }
}

/// Every key matching the glob pattern, in no particular order.
pub fn keys(table: &Table, args: Args<'_>, out: &mut impl Sink) {
    let pattern = args.get(1);
    let every = pattern == b"*";
    key_list(
        || {
            table
                .keys()
                .filter(move |key| every || glob::matches(pattern, key, false))
        },
        out,
    );
}

/// The options of `SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]`.
struct ScanOptions<'a> {
    count: i64,
    pattern: Option<&'a [u8]>,
    type_name: Option<&'a [u8]>,
}

/// Parses the options as Redis does, or gives the error to answer.
fn parse_scan_options<'a>(options: Args<'a>) -> Result<ScanOptions<'a>, &'static str> {
    let mut parsed = ScanOptions {
        count: SCAN_COUNT_DEFAULT,
        pattern: None,
        type_name: None,
    };
    let mut index = 0;
    while index < options.len() {
        let option = options.get(index);
        let Some(value) = (index + 1 < options.len()).then(|| options.get(index + 1)) else {
            return Err(errors::SYNTAX);
        };
        if option.eq_ignore_ascii_case(b"COUNT") {
            parsed.count = parse_i64(value).ok_or(errors::NOT_AN_INTEGER)?;
            if parsed.count < 1 {
                return Err(errors::SYNTAX);
            }
        } else if option.eq_ignore_ascii_case(b"MATCH") {
            parsed.pattern = (value != b"*").then_some(value);
        } else if option.eq_ignore_ascii_case(b"TYPE") {
            parsed.type_name = Some(value);
        } else {
            return Err(errors::SYNTAX);
        }
        index += 2;
    }
    Ok(parsed)
}

/// The hashes one SCAN call covers from `cursor`, for a table of `keys` keys and a page of
/// about `wanted` keys, and the cursor that follows (0: the iteration is over).
pub fn scan_page(cursor: u64, keys: usize, wanted: usize) -> (std::ops::RangeInclusive<u64>, u64) {
    let target = wanted.max(keys / SCAN_PAGES).max(1);
    if target >= keys {
        return (cursor..=u64::MAX, 0);
    }
    // Hashes are uniform: a span of 2^64 * target / keys holds about `target` keys.
    let span = ((1u128 << 64) * target as u128 / keys as u128).max(1) as u64;
    match cursor.checked_add(span - 1) {
        Some(last) if last < u64::MAX => (cursor..=last, last + 1),
        _ => (cursor..=u64::MAX, 0),
    }
}

pub fn scan(table: &Table, args: Args<'_>, out: &mut impl Sink) {
    let Some(cursor) = parse_cursor(args.get(1)) else {
        return write::error(out, errors::INVALID_CURSOR);
    };
    let options = match parse_scan_options(args.skip(2)) {
        Ok(options) => options,
        Err(text) => return write::error(out, text),
    };
    let wanted = usize::try_from(options.count).unwrap_or(usize::MAX);
    let (hashes, next) = scan_page(cursor, table.len(), wanted);
    let typed = options
        .type_name
        .is_none_or(|name| name.eq_ignore_ascii_case(STRING_TYPE.as_bytes()));
    let pattern = options.pattern;
    // One pass over the table (the cost of a call), keeping the page's keys: about `wanted`
    // of them, and never more than the output's room allows.
    let room = out.room();
    let mut cost = 0usize;
    let mut page = Vec::new();
    let wanted_keys = table
        .keys_hashed_in(hashes)
        .filter(|key| typed && pattern.is_none_or(|p| glob::matches(p, key, false)));
    for key in wanted_keys {
        cost = cost.saturating_add(BULK_FRAMING_BYTES + key.len());
        if cost > room {
            return write::error(out, errors::REPLY_TOO_LARGE);
        }
        page.push(key);
    }
    write::array_header(out, 2);
    write::bulk(out, next.to_string().as_bytes());
    write::array_header(out, page.len());
    for key in page {
        write::bulk(out, key);
    }
}

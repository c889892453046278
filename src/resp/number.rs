//! The integer syntaxes of Redis 7.0, byte for byte: `string2ll` (request counts and lengths,
//! integer arguments, values INCR reads) and `strtoul` as SCAN uses it for cursors. Each
//! accepts exactly what Redis accepts, so a command refuses exactly the arguments Redis does.

/// Redis's `string2ll`: an optional `-`, then digits with no leading zero (`0` alone is
/// fine), within `i64`. No `+`, no spaces, no `-0`.
pub fn parse_i64(text: &[u8]) -> Option<i64> {
    let (negative, digits) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, text),
    };
    match digits {
        [] => return None,
        [b'0'] if !negative => return Some(0),
        [b'1'..=b'9', ..] => {}
        _ => return None,
    }
    let mut magnitude: u64 = 0;
    for &byte in digits {
        if !byte.is_ascii_digit() {
            return None;
        }
        magnitude = magnitude
            .checked_mul(10)?
            .checked_add(u64::from(byte - b'0'))?;
    }
    if negative {
        0i64.checked_sub_unsigned(magnitude)
    } else {
        i64::try_from(magnitude).ok()
    }
}

/// A SCAN cursor as Redis reads it with `strtoul`: no leading space, an optional sign (a
/// negative number wraps, as C's does), any number of digits including none, nothing after
/// them, within `u64`. `""` is cursor 0, as it is for Redis.
pub fn parse_cursor(text: &[u8]) -> Option<u64> {
    let (negative, digits) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, text),
    };
    if digits.is_empty() {
        // strtoul read nothing: it accepts the empty string (as 0) and nothing else.
        return text.is_empty().then_some(0);
    }
    let mut value: u64 = 0;
    for &byte in digits {
        if !byte.is_ascii_digit() {
            return None;
        }
        value = value.checked_mul(10)?.checked_add(u64::from(byte - b'0'))?;
    }
    Some(if negative {
        value.wrapping_neg()
    } else {
        value
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_are_read_as_string2ll_reads_them() {
        let good: [(&[u8], i64); 7] = [
            (b"0", 0),
            (b"7", 7),
            (b"-7", -7),
            (b"10", 10),
            (b"9223372036854775807", i64::MAX),
            (b"-9223372036854775808", i64::MIN),
            (b"-1", -1),
        ];
        for (text, value) in good {
            assert_eq!(parse_i64(text), Some(value), "{text:?}");
        }
        let bad: [&[u8]; 12] = [
            b"",
            b"-",
            b"-0",
            b"00",
            b"01",
            b"+1",
            b" 1",
            b"1 ",
            b"1a",
            b"9223372036854775808",
            b"-9223372036854775809",
            b"99999999999999999999",
        ];
        for text in bad {
            assert_eq!(parse_i64(text), None, "{text:?}");
        }
    }

    #[test]
    fn cursors_are_read_as_strtoul_reads_them() {
        let good: [(&[u8], u64); 6] = [
            (b"", 0),
            (b"0", 0),
            (b"007", 7),
            (b"+5", 5),
            (b"-1", u64::MAX),
            (b"18446744073709551615", u64::MAX),
        ];
        for (text, value) in good {
            assert_eq!(parse_cursor(text), Some(value), "{text:?}");
        }
        for text in [&b" 1"[..], b"1 ", b"x", b"+", b"-", b"18446744073709551616"] {
            assert_eq!(parse_cursor(text), None, "{text:?}");
        }
    }
}

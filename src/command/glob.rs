//! Redis's glob patterns (`stringmatchlen`), for KEYS, SCAN MATCH and CONFIG GET: `*`, `?`,
//! `[abc]`, `[^a-z]`, `\x`, with Redis's treatment of the odd cases (an unclosed `[`, a
//! reversed range, bytes compared as C's signed `char`, `*` not matching an empty string:
//! callers treat a lone `*` as "everything" themselves, as Redis does). Recursion, one level per `*`, stops at
//! [`MAX_NESTING`] levels with "no match", so no pattern can exhaust the stack.

/// How many `*` deep matching may recurse.
pub const MAX_NESTING: usize = 1000;

/// Whether `string` matches `pattern`; `nocase` folds ASCII letter case.
pub fn matches(pattern: &[u8], string: &[u8], nocase: bool) -> bool {
    let mut skip_longer = false;
    match_from(pattern, string, nocase, &mut skip_longer, 0)
}

/// A byte as C's signed `char`, which is how Redis compares range bounds.
fn signed(byte: u8) -> i32 {
    i32::from(byte as i8)
}

fn fold(byte: u8, nocase: bool) -> u8 {
    if nocase {
        byte.to_ascii_lowercase()
    } else {
        byte
    }
}

fn match_from(
    mut pattern: &[u8],
    mut string: &[u8],
    nocase: bool,
    skip_longer: &mut bool,
    nesting: usize,
) -> bool {
    if nesting > MAX_NESTING {
        return false;
    }
    let same = |a: u8, b: u8| fold(a, nocase) == fold(b, nocase);
    while let (Some(&first), Some(&head)) = (pattern.first(), string.first()) {
        match first {
            b'*' => {
                while pattern.get(1) == Some(&b'*') {
                    pattern = &pattern[1..];
                }
                if pattern.len() == 1 {
                    return true;
                }
                while !string.is_empty() {
                    if match_from(&pattern[1..], string, nocase, skip_longer, nesting + 1) {
                        return true;
                    }
                    if *skip_longer {
                        return false;
                    }
                    string = &string[1..];
                }
                // Nothing after this star matches anywhere in the rest: no longer match of an
                // earlier star can help either.
                *skip_longer = true;
                return false;
            }
            b'?' => string = &string[1..],
            b'[' => {
                pattern = &pattern[1..];
                let negated = pattern.first() == Some(&b'^');
                if negated {
                    pattern = &pattern[1..];
                }
                let mut matched = false;
                loop {
                    match pattern {
                        [b'\\', escaped, ..] => {
                            pattern = &pattern[1..];
                            matched |= *escaped == head;
                        }
                        [b']', ..] => break,
                        [] => {
                            // An unclosed class: Redis steps back so the step below ends the
                            // pattern.
                            break;
                        }
                        [start, b'-', end, ..] => {
                            let (mut low, mut high) = (*start, *end);
                            if nocase {
                                low = low.to_ascii_lowercase();
                                high = high.to_ascii_lowercase();
                            }
                            let (low, high) = (signed(low), signed(high));
                            let (low, high) = (low.min(high), low.max(high));
                            let byte = signed(fold(head, nocase));
                            matched |= (low..=high).contains(&byte);
                            pattern = &pattern[2..];
                        }
                        [literal, ..] => matched |= same(*literal, head),
                    }
                    pattern = &pattern[1..];
                }
                if matched == negated {
                    return false;
                }
                string = &string[1..];
            }
            b'\\' if pattern.len() >= 2 => {
                pattern = &pattern[1..];
                if !same(pattern[0], head) {
                    return false;
                }
                string = &string[1..];
            }
            literal => {
                if !same(literal, head) {
                    return false;
                }
                string = &string[1..];
            }
        }
        pattern = pattern.get(1..).unwrap_or(&[]);
        if string.is_empty() {
            while pattern.first() == Some(&b'*') {
                pattern = &pattern[1..];
            }
            break;
        }
    }
    pattern.is_empty() && string.is_empty()
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn patterns_match_as_redis_matches_them() {
        let cases: [(&[u8], &[u8], bool); 22] = [
            (b"*", b"", false),
            (b"*", b"anything", true),
            (b"", b"", true),
            (b"", b"a", false),
            (b"a*", b"abc", true),
            (b"*c", b"abc", true),
            (b"a*c", b"ac", true),
            (b"a*c", b"ab", false),
            (b"h?llo", b"hello", true),
            (b"h?llo", b"hllo", false),
            (b"h[ae]llo", b"hallo", true),
            (b"h[^e]llo", b"hello", false),
            (b"h[a-b]llo", b"hbllo", true),
            (b"h[b-a]llo", b"hbllo", true),
            (b"[a-k]", b"k", true),
            (b"\\k", b"k", true),
            (b"\\*", b"*", true),
            (b"\\*", b"a", false),
            (b"[", b"a", false),
            (b"[a", b"a", true),
            (b"[\\]]", b"]", true),
            (b"**b", b"ab", true),
        ];
        for (pattern, string, expected) in cases {
            assert_eq!(
                matches(pattern, string, false),
                expected,
                "{} against {}",
                pattern.escape_ascii(),
                string.escape_ascii()
            );
        }
        assert!(matches(b"SAVE", b"save", true));
        assert!(matches(b"[A-Z]ave", b"save", true));
        assert!(!matches(b"SAVE", b"save", false));
    }

    #[test]
    fn deep_and_pathological_patterns_end() {
        let stars = b"a*".repeat(5000);
        assert!(!matches(&stars, &[b'a'; 3000], false));
        let pattern = [&b"*a"[..]; 30].concat();
        assert!(!matches(&pattern, &[b'a'; 29], false));
        assert!(matches(&pattern, &[b'a'; 30], false));
    }
}

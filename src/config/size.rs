//! The size syntax shared by `--max-query-size`, `--max-client-memory` and the file's
//! `max_client_memory`: ASCII digits with an optional K, M or G suffix (either case) for KiB,
//! MiB and GiB. No sign, spaces, fractions or other units. Each caller sets its own bounds and
//! writes its own error message around [`SUFFIX_TEXT`].

pub(super) const KIB: usize = 1024;
pub(super) const MIB: usize = 1024 * KIB;
pub(super) const GIB: usize = 1024 * MIB;

/// How error messages describe the suffixes, after "a size in bytes ...".
pub(super) const SUFFIX_TEXT: &str = "optionally with a K, M or G suffix (KiB, MiB, GiB)";

/// Bytes with an optional binary suffix: `1024`, `64k`, `512M`, `1G`; `None` unless the result
/// is in `1..=limit`.
pub(super) fn parse_size(text: &str, limit: usize) -> Option<usize> {
    let (digits, unit) = match text.as_bytes().last()?.to_ascii_uppercase() {
        b'K' => (&text[..text.len() - 1], KIB),
        b'M' => (&text[..text.len() - 1], MIB),
        b'G' => (&text[..text.len() - 1], GIB),
        _ => (text, 1),
    };
    if digits.is_empty() || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    digits
        .parse::<usize>()
        .ok()?
        .checked_mul(unit)
        .filter(|bytes| (1..=limit).contains(bytes))
}

/// The largest binary unit that divides `bytes` exactly, in the notation `parse_size` reads.
pub(super) fn format_size(bytes: usize) -> String {
    [(GIB, "G"), (MIB, "M"), (KIB, "K")]
        .into_iter()
        .find(|&(unit, _)| bytes.is_multiple_of(unit))
        .map_or_else(
            || bytes.to_string(),
            |(unit, suffix)| format!("{}{suffix}", bytes / unit),
        )
}

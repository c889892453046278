//! Test support: the byte-layout tables that `format.rs` and `journal/format.rs` document at
//! their top, read back so that their tests can pin the documentation to the constants.

/// The rows `OFFSET SIZE NAME …` of the `//!` documentation in `source`: every doc line whose
/// first word is a decimal offset; a size written `…` (what follows a header) reads as 0.
pub(crate) fn documented_fields(source: &str) -> Vec<(usize, usize, &str)> {
    source
        .lines()
        .filter_map(|line| line.strip_prefix("//!"))
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let offset = words.next()?.parse().ok()?;
            let size = words.next()?;
            let name = words.next()?;
            let size = if size == "…" { 0 } else { size.parse().ok()? };
            Some((offset, size, name))
        })
        .collect()
}

//! Actions the table cannot answer alone. MKSNAP's arguments are validated here; carrying it
//! out (forking a snapshot writer, waiting for it) belongs to the server, which receives it as
//! an [`AdminRequest`].

use super::Outcome;
use crate::protocol::Args;
use crate::protocol::{error_text, write};

/// File names are limited to 255 bytes on common file systems; the name gets `.snapshot`.
pub const MAX_SNAPSHOT_NAME_BYTES: usize = 255 - ".snapshot".len();

/// A request for the server, already validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminRequest<'a> {
    /// MKSNAP: `None` for a timestamped snapshot, or the name of a named ("remote") snapshot,
    /// checked by [`is_valid_snapshot_name`].
    Mksnap { name: Option<&'a str> },
}

/// MKSNAP with no argument, or with a name that must be usable as a single file name.
pub fn mksnap<'a>(args: Args<'a>, out: &mut Vec<u8>) -> Outcome<'a> {
    if args.is_empty() {
        return Outcome::Admin(AdminRequest::Mksnap { name: None });
    }
    match std::str::from_utf8(args.get(0)) {
        Ok(name) if is_valid_snapshot_name(name) => {
            Outcome::Admin(AdminRequest::Mksnap { name: Some(name) })
        }
        _ => {
            write::error_text(out, error_text::INVALID_SNAPSHOT_NAME);
            Outcome::Answered
        }
    }
}

/// A snapshot name becomes `snapshots/remote/<name>.snapshot`, so it must be one plain file
/// name: not empty, not too long, no `/`, no `..`, not `.`, no NUL or other control characters.
/// skyd 0.6.4 only refused names starting with `/` or containing a `..` component.
pub fn is_valid_snapshot_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_SNAPSHOT_NAME_BYTES
        && name != "."
        && !name.contains("..")
        && !name.contains('/')
        && !name.chars().any(char::is_control)
}

#[cfg(test)]
mod tests {
    use super::is_valid_snapshot_name;

    #[test]
    fn snapshot_names_are_single_plain_file_names() {
        for good in [
            "foo",
            "backup-2026.11.27",
            "with space",
            "ünïcode",
            ".hidden",
        ] {
            assert!(is_valid_snapshot_name(good), "{good:?}");
        }
        let too_long = "x".repeat(247);
        for bad in [
            "",
            ".",
            "..",
            "../x",
            "a/..",
            "/var/x",
            "a/b",
            "a\0b",
            "a\nb",
            "tab\t",
            "\u{7f}",
            too_long.as_str(),
        ] {
            assert!(!is_valid_snapshot_name(bad), "{bad:?}");
        }
        assert!(is_valid_snapshot_name(&"x".repeat(246)));
    }
}

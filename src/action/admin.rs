//! Actions the table cannot answer alone: MKSNAP and SYS. Their arguments are validated here;
//! carrying them out (forking a snapshot writer, reading the persistence state) belongs to the
//! server, which receives them as an [`AdminRequest`]. [`write_sys`] formats SYS answers.

use super::Outcome;
use std::time::SystemTime;

use crate::persist::{Health, PersistenceStatus, SaveKind, SaveRecord};
use crate::protocol::{error_text, write, Args};
use crate::utc::UtcTime;

/// File names are limited to 255 bytes on common file systems. A named snapshot is written
/// as `<name>.snapshot.tmp-<pid>` (a pid has at most 10 digits) before it gets its own name.
pub const MAX_SNAPSHOT_NAME_BYTES: usize = 255 - ".snapshot".len() - ".tmp-".len() - 10;

/// A request for the server, already validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminRequest<'a> {
    /// MKSNAP: `None` for a timestamped snapshot, or the name of a named ("remote") snapshot,
    /// checked by `is_valid_snapshot_name`.
    Mksnap { name: Option<&'a str> },
    /// SYS: a status property.
    Sys(SysProperty),
}

/// What SYS can report. `SYS METRIC health` is Skytable 0.7's name for the poison state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SysProperty {
    /// `SYS METRIC health`: `good`, or `critical` while poisoned.
    Health,
    /// `SYS METRIC storage`: the size of data.bin in bytes.
    Storage,
    /// `SYS INFO version`: the server's version.
    Version,
    /// `SYS INFO persistence`: every persistence figure, as `name=value` strings.
    Persistence,
}

impl SysProperty {
    fn from_words(group: &[u8], name: &[u8]) -> Option<SysProperty> {
        let is = |a: &[u8], b: &str| a.eq_ignore_ascii_case(b.as_bytes());
        if is(group, "METRIC") && is(name, "health") {
            Some(SysProperty::Health)
        } else if is(group, "METRIC") && is(name, "storage") {
            Some(SysProperty::Storage)
        } else if is(group, "INFO") && is(name, "version") {
            Some(SysProperty::Version)
        } else if is(group, "INFO") && is(name, "persistence") {
            Some(SysProperty::Persistence)
        } else {
            None
        }
    }
}

/// SYS with its two words (arity already checked).
pub fn sys<'a>(args: Args<'a>, out: &mut Vec<u8>) -> Outcome<'a> {
    match SysProperty::from_words(args.get(0), args.get(1)) {
        Some(property) => Outcome::Admin(AdminRequest::Sys(property)),
        None => {
            write::error_text(out, error_text::UNKNOWN_PROPERTY);
            Outcome::Answered
        }
    }
}

/// Writes the answer to a SYS request.
pub fn write_sys(property: SysProperty, status: &PersistenceStatus, out: &mut Vec<u8>) {
    match property {
        SysProperty::Health => write::string(
            out,
            match status.health {
                Health::Good => b"good",
                Health::Poisoned { .. } => b"critical",
            },
        ),
        SysProperty::Storage => write::unsigned(out, status.data_file_bytes),
        SysProperty::Version => write::string(out, env!("CARGO_PKG_VERSION").as_bytes()),
        SysProperty::Persistence => {
            let lines = persistence_lines(status);
            write::flat_array_header(out, lines.len());
            for line in lines {
                write::string(out, line.as_bytes());
            }
        }
    }
}

/// `name=value` lines, in a fixed order; times in UTC (RFC 3339), empty when not applicable.
fn persistence_lines(status: &PersistenceStatus) -> Vec<String> {
    let (health, cause, since) = match &status.health {
        Health::Good => ("good", String::new(), String::new()),
        Health::Poisoned { cause, since } => ("critical", cause.clone(), utc(*since)),
    };
    let save = status.last_save.as_ref();
    let save_kind = match save.map(|record| record.kind) {
        None => "none",
        Some(SaveKind::Background) => "bgsave",
        Some(SaveKind::Shutdown) => "shutdown",
    };
    let snapshot = status.last_snapshot.as_ref();
    let mut lines = vec![
        format!("health={health}"),
        format!("poisoned_cause={cause}"),
        format!("poisoned_since={since}"),
        format!("save_in_progress={}", u8::from(status.saving)),
        format!("changes_since_last_save={}", status.changes_since_save),
        format!("saves_succeeded={}", status.saves.succeeded),
        format!("saves_failed={}", status.saves.failed),
        format!("last_save_kind={save_kind}"),
    ];
    lines.extend(last_save_lines(save));
    lines.extend([
        format!("snapshots_succeeded={}", status.snapshots.succeeded),
        format!("snapshots_failed={}", status.snapshots.failed),
        format!(
            "last_snapshot={}",
            snapshot.map_or(String::new(), |record| record.target.display().to_string())
        ),
        format!("last_snapshot_status={}", record_status(snapshot)),
        format!(
            "last_snapshot_time={}",
            snapshot.map_or(String::new(), |r| utc(r.finished))
        ),
        format!(
            "last_snapshot_error={}",
            snapshot
                .and_then(|record| record.error.clone())
                .unwrap_or_default()
        ),
        format!("data_file_bytes={}", status.data_file_bytes),
    ]);
    lines
}

fn utc(time: SystemTime) -> String {
    UtcTime::from_system_time(time).rfc3339_millis()
}

fn record_status(record: Option<&SaveRecord>) -> &'static str {
    match record.map(|record| record.error.is_none()) {
        None => "none",
        Some(true) => "ok",
        Some(false) => "failed",
    }
}

/// The figures of the last save of data.bin.
fn last_save_lines(record: Option<&SaveRecord>) -> Vec<String> {
    let figure = |value: Option<String>| value.unwrap_or_default();
    vec![
        format!("last_save_status={}", record_status(record)),
        format!("last_save_time={}", figure(record.map(|r| utc(r.finished)))),
        format!(
            "last_save_duration_ms={}",
            figure(record.map(|r| format!("{:.3}", r.duration.as_secs_f64() * 1e3)))
        ),
        format!(
            "last_fork_time_us={}",
            figure(record.map(|r| r.fork_time.as_micros().to_string()))
        ),
        format!(
            "last_save_keys={}",
            figure(record.map(|r| r.keys.to_string()))
        ),
        format!(
            "last_save_bytes={}",
            figure(record.map(|r| r.bytes.to_string()))
        ),
        format!(
            "last_save_error={}",
            figure(record.and_then(|r| r.error.clone()))
        ),
    ]
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
        let too_long = "x".repeat(232);
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
        assert!(is_valid_snapshot_name(&"x".repeat(231)));
    }
}

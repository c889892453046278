//! SYS answers: the server's state as Skyhash strings. `SYS METRIC health` and `storage` are
//! single values; `SYS INFO persistence` is a flat array of `name=value` strings in a fixed
//! order, times in UTC (RFC 3339) and empty when not applicable.

use std::time::{Duration, SystemTime};

use super::budget::ClientsStatus;
use crate::action::SysProperty;
use crate::config::JournalFsync;
use crate::persist::journal::JournalStatus;
use crate::persist::{Health, PersistenceStatus, SaveKind, SaveRecord};
use crate::protocol::write::{self, Sink};
use crate::utc::UtcTime;

/// Writes the answer to a SYS request.
pub fn write_sys(
    property: SysProperty,
    status: &PersistenceStatus<'_>,
    clients: &ClientsStatus,
    out: &mut impl Sink,
) {
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
        SysProperty::Persistence => write_lines(&persistence_lines(status), out),
        SysProperty::Clients => write_lines(&client_lines(clients), out),
    }
}

fn write_lines(lines: &[String], out: &mut impl Sink) {
    write::flat_array_header(out, lines.len());
    for line in lines {
        write::string(out, line.as_bytes());
    }
}

/// `SYS INFO clients`: the connections (TLS ones too) and the memory their buffers hold.
fn client_lines(clients: &ClientsStatus) -> Vec<String> {
    vec![
        format!("connections={}", clients.connections),
        format!("tls_connections={}", clients.tls.open),
        format!("tls_handshake_failures={}", clients.tls.handshake_failures),
        format!("client_memory_bytes={}", clients.memory_bytes),
        format!("client_memory_limit={}", clients.memory_limit),
        format!("closed_by_memory_limit={}", clients.closed_by_memory_limit),
    ]
}

/// `name=value` lines, in a fixed order.
fn persistence_lines(status: &PersistenceStatus<'_>) -> Vec<String> {
    let (health, cause, since) = match status.health {
        Health::Good => ("good", String::new(), String::new()),
        Health::Poisoned { cause, since } => ("critical", cause.clone(), utc(*since)),
    };
    let save = status.data_file.last.as_ref();
    let save_kind = match save.map(|record| record.kind) {
        None => "none",
        Some(SaveKind::Bgsave) => "bgsave",
        Some(SaveKind::Shutdown) => "shutdown",
        Some(SaveKind::Snapshot) => "snapshot",
    };
    let snapshot = status.snapshots.last.as_ref();
    let mut lines = vec![
        format!("health={health}"),
        format!("poisoned_cause={cause}"),
        format!("poisoned_since={since}"),
        format!("save_in_progress={}", u8::from(status.saving)),
        format!("changes_since_last_save={}", status.changes_since_save),
        format!("saves_succeeded={}", status.data_file.counts.succeeded),
        format!("saves_failed={}", status.data_file.counts.failed),
        format!("last_save_kind={save_kind}"),
    ];
    lines.extend(last_save_lines(save));
    lines.extend([
        format!("snapshots_succeeded={}", status.snapshots.counts.succeeded),
        format!("snapshots_failed={}", status.snapshots.counts.failed),
        format!(
            "last_snapshot={}",
            snapshot.map_or(String::new(), |record| record.target.display().to_string())
        ),
        format!("last_snapshot_status={}", record_status(snapshot)),
        format!(
            "last_snapshot_time={}",
            snapshot.map_or(String::new(), |r| utc(r.finished))
        ),
        format!("last_snapshot_error={}", record_error(snapshot)),
        format!("data_file_bytes={}", status.data_file_bytes),
    ]);
    lines.extend(journal_lines(status.journal));
    lines
}

/// The journal's figures; all empty but the mode (`off`) when it is off.
fn journal_lines(journal: Option<(JournalFsync, &JournalStatus)>) -> Vec<String> {
    let figure = |value: Option<String>| value.unwrap_or_default();
    let status = journal.map(|(_, status)| status);
    let micros = |time: Duration| time.as_micros().to_string();
    vec![
        format!(
            "journal_mode={}",
            journal.map_or("off".to_owned(), |(mode, _)| mode.to_string())
        ),
        format!(
            "journal_segment={}",
            figure(status.and_then(|s| s.segment).map(|n| n.to_string()))
        ),
        format!(
            "journal_bytes_since_compaction={}",
            figure(status.map(|s| s.bytes_since_compaction.to_string()))
        ),
        format!(
            "journal_commits={}",
            figure(status.map(|s| s.frames.to_string()))
        ),
        format!(
            "journal_fsyncs={}",
            figure(status.map(|s| s.fsyncs.to_string()))
        ),
        format!(
            "journal_last_fsync_us={}",
            figure(status.map(|s| micros(s.last_fsync)))
        ),
        format!(
            "journal_max_fsync_us={}",
            figure(status.map(|s| micros(s.max_fsync)))
        ),
        format!(
            "journal_last_error={}",
            figure(status.and_then(|s| s.last_error.clone()))
        ),
    ]
}

fn utc(time: SystemTime) -> String {
    UtcTime::from_system_time(time).rfc3339_millis()
}

fn record_status(record: Option<&SaveRecord>) -> &'static str {
    match record.map(|record| record.outcome.is_ok()) {
        None => "none",
        Some(true) => "ok",
        Some(false) => "failed",
    }
}

fn record_error(record: Option<&SaveRecord>) -> String {
    match record.map(|record| &record.outcome) {
        Some(Err(error)) => error.to_string(),
        None | Some(Ok(())) => String::new(),
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
        format!("last_save_error={}", record_error(record)),
    ]
}

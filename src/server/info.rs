//! What the server tells Redis clients about itself: INFO's sections, CONFIG GET's
//! parameters, LASTSAVE. Each figure comes from real server state (the table, persistence, the
//! client memory budget, the configuration, counters kept by the loop), under Redis's field
//! names where Redis has one for the same fact, `stratus_` ones for the rest. No field is a
//! placeholder for something Stratus does not do, except those that say it does not
//! (`aof_enabled:0`, `maxmemory:0`).

use std::fmt::Write;
use std::path::Path;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use super::budget::ClientsStatus;
use crate::command::REDIS_VERSION;
use crate::command::{InfoSection, InfoSections};
use crate::config::Config;
use crate::persist::{Health, PersistenceStatus};
use crate::table::Table;

/// Where Linux reports the process's resident set size, as `VmRSS`.
const PROC_STATUS_PATH: &str = "/proc/self/status";

/// Facts fixed at start.
#[derive(Debug, Clone)]
pub struct ServerFacts {
    pub started: SystemTime,
    pub started_at: Instant,
    /// The RESP listener's port, once bound.
    pub resp_port: Option<u16>,
}

/// Counts the loop keeps for INFO's Stats.
#[derive(Debug, Clone, Copy, Default)]
pub struct Counters {
    pub connections_received: u64,
    /// Skyhash actions and RESP commands executed.
    pub commands_processed: u64,
}

/// Everything INFO reads.
pub struct InfoState<'a> {
    pub config: &'a Config,
    pub facts: &'a ServerFacts,
    pub counters: Counters,
    pub clients: ClientsStatus,
    pub persistence: PersistenceStatus<'a>,
    pub table: &'a Table,
}

/// Seconds since the Unix epoch.
pub fn unix_seconds(time: SystemTime) -> i64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs() as i64)
}

/// LASTSAVE: the end of the last successful save of data.bin, or (none yet) the server's
/// start, when data.bin held what was loaded, as Redis counts it.
pub fn last_save(persistence: &PersistenceStatus<'_>, facts: &ServerFacts) -> i64 {
    unix_seconds(persistence.data_file.last_success.unwrap_or(facts.started))
}

/// The process's resident set size in bytes, 0 if it cannot be read.
fn resident_bytes() -> u64 {
    let status = std::fs::read_to_string(PROC_STATUS_PATH).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().strip_suffix("kB"))
        .and_then(|kib| kib.trim().parse::<u64>().ok())
        .map_or(0, |kib| kib * 1024)
}

/// `name:value` lines of one section.
fn section_lines(section: InfoSection, state: &InfoState<'_>) -> Vec<(&'static str, String)> {
    let persistence = &state.persistence;
    match section {
        InfoSection::Server => {
            let uptime = state.facts.started_at.elapsed().as_secs();
            vec![
                ("redis_version", REDIS_VERSION.to_owned()),
                ("stratus_version", env!("CARGO_PKG_VERSION").to_owned()),
                ("redis_mode", "standalone".to_owned()),
                ("arch_bits", (usize::BITS).to_string()),
                ("multiplexing_api", "epoll".to_owned()),
                ("process_id", std::process::id().to_string()),
                (
                    "tcp_port",
                    state.facts.resp_port.map_or(0, u32::from).to_string(),
                ),
                ("uptime_in_seconds", uptime.to_string()),
                ("uptime_in_days", (uptime / 86_400).to_string()),
                (
                    "config_file",
                    state
                        .config
                        .config_file
                        .as_ref()
                        .map_or(String::new(), |path| path.display().to_string()),
                ),
            ]
        }
        InfoSection::Clients => vec![
            ("connected_clients", state.clients.connections.to_string()),
            ("maxclients", state.config.maxcon.to_string()),
            (
                "stratus_client_memory_bytes",
                state.clients.memory_bytes.to_string(),
            ),
            (
                "stratus_client_memory_limit",
                state.clients.memory_limit.to_string(),
            ),
        ],
        InfoSection::Memory => {
            let rss = resident_bytes().to_string();
            vec![
                ("used_memory", rss.clone()),
                ("used_memory_rss", rss),
                (
                    "used_memory_dataset",
                    state.table.payload_bytes().to_string(),
                ),
                ("mem_clients_normal", state.clients.memory_bytes.to_string()),
                ("maxmemory", "0".to_owned()),
                ("maxmemory_policy", "noeviction".to_owned()),
            ]
        }
        InfoSection::Persistence => {
            let last = persistence.data_file.last.as_ref();
            let (health, cause) = match persistence.health {
                Health::Good => ("good", String::new()),
                Health::Poisoned { cause, .. } => ("critical", cause.replace(['\r', '\n'], " ")),
            };
            vec![
                ("loading", "0".to_owned()),
                (
                    "rdb_changes_since_last_save",
                    persistence.changes_since_save.to_string(),
                ),
                (
                    "rdb_bgsave_in_progress",
                    u8::from(persistence.saving).to_string(),
                ),
                (
                    "rdb_last_save_time",
                    last_save(persistence, state.facts).to_string(),
                ),
                (
                    "rdb_last_bgsave_status",
                    match last.map(|record| record.outcome.is_ok()) {
                        Some(false) => "err",
                        _ => "ok",
                    }
                    .to_owned(),
                ),
                (
                    "rdb_last_bgsave_time_sec",
                    last.map_or(-1, |record| record.duration.as_secs() as i64)
                        .to_string(),
                ),
                (
                    "rdb_saves",
                    persistence.data_file.counts.succeeded.to_string(),
                ),
                ("aof_enabled", "0".to_owned()),
                ("stratus_health", health.to_owned()),
                ("stratus_poisoned_cause", cause),
                (
                    "stratus_data_file_bytes",
                    persistence.data_file_bytes.to_string(),
                ),
            ]
        }
        InfoSection::Stats => vec![
            (
                "total_connections_received",
                state.counters.connections_received.to_string(),
            ),
            (
                "total_commands_processed",
                state.counters.commands_processed.to_string(),
            ),
            (
                "evicted_clients",
                state.clients.closed_by_memory_limit.to_string(),
            ),
        ],
        InfoSection::Keyspace => match state.table.len() {
            0 => Vec::new(),
            keys => vec![("db0", format!("keys={keys},expires=0,avg_ttl=0"))],
        },
    }
}

/// INFO's reply text: each section asked for as `# Name` and its lines, a blank line between
/// sections, every line ending in CRLF; empty when no known section was asked for.
pub fn info_text(sections: InfoSections, state: &InfoState<'_>) -> String {
    let mut text = String::new();
    for (index, section) in sections.iter().enumerate() {
        if index > 0 {
            text.push_str("\r\n");
        }
        let _ = write!(text, "# {}\r\n", section.title());
        for (name, value) in section_lines(section, state) {
            let _ = write!(text, "{name}:{value}\r\n");
        }
    }
    text
}

/// The parameters CONFIG GET knows, with their values, under Redis's names. `data_file` is
/// data.bin's path (Redis's `dir` and `dbfilename`).
pub fn config_parameters(
    config: &Config,
    facts: &ServerFacts,
    data_file: &Path,
) -> Vec<(&'static str, String)> {
    let part = |part: Option<&std::ffi::OsStr>| {
        part.map_or(String::new(), |part| part.to_string_lossy().into_owned())
    };
    let save = config
        .bgsave
        .map_or(String::new(), |every| format!("{} 1", every.as_secs()));
    vec![
        ("save", save),
        ("appendonly", "no".to_owned()),
        ("bind", config.host.to_string()),
        ("port", facts.resp_port.map_or(0, u32::from).to_string()),
        ("databases", "1".to_owned()),
        ("maxclients", config.maxcon.to_string()),
        ("maxmemory", "0".to_owned()),
        ("maxmemory-policy", "noeviction".to_owned()),
        ("dir", part(data_file.parent().map(Path::as_os_str))),
        ("dbfilename", part(data_file.file_name())),
        (
            "proto-max-bulk-len",
            crate::resp::parse::BULK_MAX_BYTES.to_string(),
        ),
        (
            "client-query-buffer-limit",
            config.max_query_bytes.to_string(),
        ),
        ("stop-writes-on-bgsave-error", "yes".to_owned()),
    ]
}

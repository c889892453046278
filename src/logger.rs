//! Log lines on stderr: `2026-11-27T00:07:09.123Z INFO  message`, one `write` per line so the
//! lines of a save child and of the server never interleave mid-line.
//!
//! The level comes from `SKY_LOG` (the variable skyd 0.6 reads): `error`, `warn`, `info`
//! (default), `debug`, `trace` or `off`. An unknown value falls back to `info` with a warning.
//! Only Stratus's own records are written: a dependency's (rustls warns about what a client
//! sent) would let any client write to the log.

use std::io::Write;

use log::{LevelFilter, Log, Metadata, Record};

use crate::utc::UtcTime;

/// The environment variable that sets the level.
pub const LEVEL_VARIABLE: &str = "SKY_LOG";

struct StderrLogger;

/// The first part of the target of every record Stratus itself logs (its module path).
const OWN_TARGET: &str = env!("CARGO_CRATE_NAME");

impl Log for StderrLogger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= log::max_level() && is_own(metadata.target())
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let line = format!(
            "{} {:<5} {}\n",
            UtcTime::now().rfc3339_millis(),
            record.level(),
            record.args()
        );
        // Nowhere to report a failure to write the log; the server carries on.
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }

    fn flush(&self) {}
}

/// Whether a record's target is in Stratus: `stratus` or `stratus::…`.
fn is_own(target: &str) -> bool {
    target
        .strip_prefix(OWN_TARGET)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with("::"))
}

static LOGGER: StderrLogger = StderrLogger;

/// Installs the logger. Call once, first thing in `main`.
pub fn init() {
    let setting = std::env::var(LEVEL_VARIABLE).ok();
    let level = match setting.as_deref() {
        None => Some(LevelFilter::Info),
        Some(text) => text.trim().parse::<LevelFilter>().ok(),
    };
    // Fails only if a logger is already installed, which then stays in charge.
    if log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(level.unwrap_or(LevelFilter::Info));
        if level.is_none() {
            log::warn!(
                "ignoring {LEVEL_VARIABLE}={:?}: expected error, warn, info, debug, trace or off",
                setting.unwrap_or_default()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_stratus_records_are_written() {
        assert!(is_own(module_path!()));
        assert!(is_own("stratus"));
        assert!(!is_own("rustls::common_state"));
        assert!(!is_own("stratus_bench"));
    }
}

//! Log lines on stderr: `2026-11-27T00:07:09.123Z INFO  message`, one `write` per line so the
//! lines of a save child and of the server never interleave mid-line.
//!
//! The level comes from `SKY_LOG` (the variable skyd 0.6 reads): `error`, `warn`, `info`
//! (default), `debug`, `trace` or `off`. An unknown value falls back to `info` with a warning.

use std::io::Write;

use log::{LevelFilter, Log, Metadata, Record};

use crate::utc::UtcTime;

/// The environment variable that sets the level.
pub const LEVEL_VARIABLE: &str = "SKY_LOG";

struct StderrLogger;

impl Log for StderrLogger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
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

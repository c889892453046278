//! The figures read from Stratus's log: the address it listens on and the report of its
//! shutdown save. The fixed parts of those lines are the server's own constants
//! (`stratus::log_lines`), so the two sides cannot drift apart. Pure: the log text comes in.

use std::net::SocketAddr;

use stratus::log_lines::{SHUTDOWN_SAVED, SKYHASH_SCHEME, STARTED_ON};

/// What the shutdown save reports: `… : 5 keys, 100 bytes in 1.2 ms. Goodbye :)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ShutdownSave {
    pub keys: u64,
    pub bytes: u64,
    pub milliseconds: f64,
}

/// The address in `Server started on: skyhash://127.0.0.1:2003` (the plain Skyhash listener,
/// not another scheme).
pub fn started_address(log: &str) -> Option<SocketAddr> {
    log.lines().find_map(|line| {
        let (_, address) = line.split_once(STARTED_ON)?;
        address.strip_prefix(SKYHASH_SCHEME)?.trim().parse().ok()
    })
}

/// The last shutdown save report in the log.
pub fn shutdown_save(log: &str) -> Option<ShutdownSave> {
    let (_, report) = log
        .lines()
        .rev()
        .find_map(|line| line.split_once(SHUTDOWN_SAVED))?;
    let words: Vec<&str> = report.split_whitespace().collect();
    match words.as_slice() {
        [keys, "keys,", bytes, "bytes", "in", ms, unit, ..] if unit.starts_with("ms") => {
            Some(ShutdownSave {
                keys: keys.parse().ok()?,
                bytes: bytes.parse().ok()?,
                milliseconds: ms.parse().ok()?,
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_line() {
        let log = "2026-11-27T00:07:09.123Z INFO  Successfully saved data to disk: 1000000 keys, \
                   124000040 bytes in 336.4 ms. Goodbye :)\n";
        assert_eq!(
            shutdown_save(log),
            Some(ShutdownSave {
                keys: 1_000_000,
                bytes: 124_000_040,
                milliseconds: 336.4
            })
        );
        assert_eq!(shutdown_save("INFO  Saving data to disk\n"), None);
    }

    #[test]
    fn started_port() {
        let log = "x INFO  Using data directory data\nx INFO  Server started on: \
                   skyhash://127.0.0.1:40123\n";
        assert_eq!(started_address(log).map(|addr| addr.port()), Some(40123));
        assert_eq!(started_address("x INFO  starting\n"), None);
        let other_scheme = "x INFO  Server started on: skyhash-tls://127.0.0.1:2004\n";
        assert_eq!(started_address(other_scheme), None);
        assert_eq!(
            started_address("x INFO  Server started on: skyhash://[::1]:2003\n"),
            Some("[::1]:2003".parse().unwrap())
        );
    }
}

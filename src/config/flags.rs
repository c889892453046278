//! The command line: the getopts list of flags (shared by parsing and `--help`), each flag's
//! validation in skyd's order, and laying the flags over the defaults or a file's settings.
//! A flag that is absent keeps the lower layer's value. Nothing here reads the configuration
//! file; `file` does, before the flags are laid over it.

use std::ffi::OsStr;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use getopts::{Matches, Options};
use log::{info, warn};

use super::size::{format_size, parse_size, SUFFIX_TEXT};
use super::{
    Config, ConfigError, JournalFsync, SnapshotConfig, TlsConfig, BGSAVE_ZERO_MESSAGE,
    BUSY_POLL_DEFAULT, BUSY_POLL_MAX_MICROS, DATA_DIR_DEFAULT, DEFAULT_HOST, DEFAULT_PORT,
    DEFAULT_TLS_PORT, JOURNAL_FSYNC_CHOICES, MAXCON_DEFAULT, MAX_CLIENT_MEMORY_CAP,
    MAX_QUERY_BYTES_DEFAULT, MAX_QUERY_BYTES_LIMIT, SAVE_INTERVAL_DEFAULT,
    SNAPSHOT_FAILSAFE_DEFAULT, SNAPSHOT_ZERO_MESSAGE,
};

/// Flags that a configuration file can also set; with `-c`, each one given is logged as an
/// override. Long names, in the order they are reported.
const FILE_OVERRIDABLE_FLAGS: [&str; 18] = [
    "host",
    "port",
    "noart",
    "maxcon",
    "max-client-memory",
    "busy-poll",
    "nosave",
    "saveduration",
    "snapevery",
    "snapkeep",
    "stop-write-on-fail",
    "journal",
    "sslkey",
    "sslchain",
    "sslonly",
    "sslport",
    "resp-port",
    "resp-tls-port",
];

/// Settings only flags can change; they still mean "not the default settings".
const FLAG_ONLY_SETTINGS: [&str; 2] = ["data-dir", "max-query-size"];

/// The `--help` text.
pub fn usage() -> String {
    let brief = "\
Usage: stratus [OPTIONS]

Stratus is a single-threaded key-value server speaking the Skyhash 1.0
protocol. Clients written for Skytable 0.6 (skyd 0.6.4) work unchanged, and
skyd's flags and configuration files are accepted. The table lives in memory
and is saved to data.bin in the data directory (./data unless --data-dir says
otherwise).";
    let notes = format!(
        "
Flags override the values of a configuration file given with -c; a setting
that no flag names keeps the file's value, or the default when there is no
file. --snapevery and --snapkeep go together, as do --sslkey and --sslchain.
--sslport and --resp-tls-port need TLS: --sslkey and --sslchain, or an [ssl]
section. --resp-port cannot go with TLS-only (--sslonly or [ssl] only).

Configuration file (TOML: skyd 0.6's keys, and Stratus's own):
    [server]    host, port (both required), noart, maxclient (or maxcon),
                max_client_memory (bytes, or a string such as \"512M\") and
                busy_poll_us (microseconds, 0 to {BUSY_POLL_MAX_MICROS}, default {busy_poll})
    [bgsave]    enabled (default true), every (seconds, default 120)
    [snapshot]  every (seconds, > 0), atmost (0 = keep all), failsafe
                (default true)
    [ssl]       key, chain, port (all required), only (default false)
    [journal]   enabled (default false), fsync (always, everysec or no;
                default everysec)
    [resp]      port, tls_port (default: no RESP listener; tls_port needs
                [ssl], port cannot go with [ssl] only = true)
Unknown keys are ignored with a warning.

TLS (1.3 and 1.2): -k/--sslkey names a PEM private key (PKCS#8, PKCS#1 or
SEC1, unencrypted) and -z/--sslchain its PEM certificate chain, the server's
own certificate first. Together they add a TLS listener on port {DEFAULT_TLS_PORT} (or
--sslport, or [ssl] port) beside the plain one; --sslonly serves TLS alone.
Both files are checked before the server starts.
",
        busy_poll = BUSY_POLL_DEFAULT.as_micros()
    );
    format!("{}{notes}", options().usage(brief))
}

pub(super) fn version() -> String {
    format!(
        "stratus {} (Skyhash 1.0, compatible with skyd 0.6.4)",
        env!("CARGO_PKG_VERSION")
    )
}

/// The one list of flags, shared by parsing and `usage()` so the two cannot drift apart.
fn options() -> Options {
    let mut opts = Options::new();
    opts.optopt(
        "h",
        "host",
        &format!("IPv4 or IPv6 address to listen on (default {DEFAULT_HOST})"),
        "ADDR",
    );
    opts.optopt(
        "p",
        "port",
        &format!("TCP port to listen on, 0 for any free port (default {DEFAULT_PORT})"),
        "PORT",
    );
    opts.optopt(
        "",
        "data-dir",
        &format!("Directory holding data.bin and snapshots/ (default ./{DATA_DIR_DEFAULT})"),
        "DIR",
    );
    opts.optopt(
        "",
        "maxcon",
        &format!("Maximum number of concurrent client connections (default {MAXCON_DEFAULT})"),
        "N",
    );
    opts.optopt(
        "",
        "max-query-size",
        &format!(
            "Largest query accepted, in bytes, with an optional K, M or G suffix for KiB, MiB, \
             GiB (default {}, at most {MAX_QUERY_BYTES_LIMIT})",
            format_size(MAX_QUERY_BYTES_DEFAULT)
        ),
        "SIZE",
    );
    opts.optopt(
        "",
        "max-client-memory",
        &format!(
            "Memory that all client connections together may hold, in bytes, with an optional \
             K, M or G suffix (default: a quarter of physical memory, at most {})",
            format_size(MAX_CLIENT_MEMORY_CAP)
        ),
        "SIZE",
    );
    opts.optopt(
        "",
        "busy-poll",
        &format!(
            "After a turn of the event loop that had work, keep polling for the next event \
             this many microseconds before sleeping: less latency, fewer wake-ups, more CPU \
             (0 to {BUSY_POLL_MAX_MICROS}; default {}; 0 sleeps at once)",
            BUSY_POLL_DEFAULT.as_micros()
        ),
        "MICROS",
    );
    opts.optflag(
        "",
        "nosave",
        "Disable the periodic BGSAVE (data is still saved at shutdown)",
    );
    opts.optopt(
        "S",
        "saveduration",
        &format!(
            "Seconds between periodic BGSAVEs (default {})",
            SAVE_INTERVAL_DEFAULT.as_secs()
        ),
        "SECS",
    );
    opts.optopt(
        "",
        "snapevery",
        "Take a snapshot every SECS seconds; needs --snapkeep (default: no snapshots)",
        "SECS",
    );
    opts.optopt(
        "",
        "snapkeep",
        "Number of periodic snapshots to keep, 0 for all; needs --snapevery",
        "COUNT",
    );
    opts.optopt(
        "",
        "stop-write-on-fail",
        &format!(
            "true or false: whether a failed snapshot makes the server refuse writes until a \
             save succeeds (default {SNAPSHOT_FAILSAFE_DEFAULT})"
        ),
        "BOOL",
    );
    opts.optopt(
        "",
        "journal",
        "Keep a journal of writes; MODE says when to fsync it: always (before replying), \
         everysec (once a second) or no (left to the system). Default: no journal",
        "MODE",
    );
    opts.optopt(
        "r",
        "restore",
        "Restore the snapshot NAME (relative to <data-dir>/snapshots) at startup",
        "NAME",
    );
    opts.optopt(
        "c",
        "withconfig",
        "Read settings from this TOML configuration file",
        "FILE",
    );
    opts.optflag("", "noart", "Do not print the ASCII-art banner");
    opts.optopt(
        "k",
        "sslkey",
        "PEM private key for TLS; needs --sslchain",
        "FILE",
    );
    opts.optopt(
        "z",
        "sslchain",
        &format!("PEM certificate chain for TLS (port {DEFAULT_TLS_PORT}); needs --sslkey"),
        "FILE",
    );
    opts.optflag(
        "",
        "sslonly",
        "Serve TLS only, without the plain-text listener; needs --sslkey and --sslchain",
    );
    opts.optopt(
        "",
        "sslport",
        &format!(
            "TLS port, 0 for any free port (default: the port of [ssl], else \
             {DEFAULT_TLS_PORT}); needs TLS"
        ),
        "PORT",
    );
    opts.optopt(
        "",
        "resp-port",
        "Also serve RESP2 (the Redis protocol) in plain text on this TCP port, 0 for any free \
         port (default: off)",
        "PORT",
    );
    opts.optopt(
        "",
        "resp-tls-port",
        "Also serve RESP2 over TLS on this port, 0 for any free port (default: off); needs \
         TLS",
        "PORT",
    );
    opts.optflag("", "help", "Print this help and exit");
    opts.optflag("", "version", "Print the version and exit");
    opts
}

pub(super) enum ParsedFlags {
    Help,
    Version,
    /// Boxed because `Flags` dwarfs the other variants.
    Settings(Box<Flags>),
}

/// What the flags say, validated on their own; `None` means "not given, keep the lower layer".
#[derive(Debug)]
pub(super) struct Flags {
    port: Option<u16>,
    host: Option<IpAddr>,
    maxcon: Option<usize>,
    bgsave: Option<BgsaveFlag>,
    snapshot: Option<SnapshotFlags>,
    tls: Option<TlsFlags>,
    stop_write_on_fail: Option<bool>,
    data_dir: Option<PathBuf>,
    max_query_bytes: Option<usize>,
    max_client_memory: Option<usize>,
    busy_poll: Option<Duration>,
    journal: Option<JournalFsync>,
    /// `--sslport`.
    tls_port: Option<u16>,
    resp_port: Option<u16>,
    resp_tls_port: Option<u16>,
    restore: Option<PathBuf>,
    noart: bool,
    pub(super) config_file: Option<PathBuf>,
    /// Long names of the given flags that a configuration file could also set.
    file_overrides: Vec<&'static str>,
    /// Whether any flag changing a setting was given (anything but -c, -r, --help, --version).
    any_setting: bool,
}

#[derive(Debug)]
enum BgsaveFlag {
    Disabled,
    Every(Duration),
}

#[derive(Debug)]
struct SnapshotFlags {
    every: Duration,
    keep: usize,
}

#[derive(Debug)]
struct TlsFlags {
    key: PathBuf,
    chain: PathBuf,
    only: bool,
}

pub(super) fn parse_flags<S: AsRef<OsStr>>(args: &[S]) -> Result<ParsedFlags, ConfigError> {
    // Checked before getopts, which would otherwise stop at `upgrade`'s own flags (`--from`)
    // with a message that hides the real problem.
    if args.first().is_some_and(|arg| arg.as_ref() == "upgrade") {
        return Err(upgrade_unsupported());
    }
    let matches = options()
        .parse(args)
        .map_err(|fail| ConfigError::Argument(format!("{fail} (see --help)")))?;
    if matches.opt_present("help") {
        return Ok(ParsedFlags::Help);
    }
    if matches.opt_present("version") {
        return Ok(ParsedFlags::Version);
    }
    if let Some(stray) = matches.free.first() {
        return Err(if stray == "upgrade" {
            upgrade_unsupported()
        } else {
            ConfigError::Argument(format!(
                "Unexpected argument '{stray}': Stratus takes only flags (see --help)"
            ))
        });
    }
    validate_flags(&matches).map(|flags| ParsedFlags::Settings(Box::new(flags)))
}

fn upgrade_unsupported() -> ConfigError {
    ConfigError::Argument(
        "The `upgrade` subcommand of skyd is not supported: Stratus reads Skytable 0.6 data \
         files directly; convert older formats with skyd 0.6 first"
            .to_owned(),
    )
}

/// Checks each flag's value in skyd's order, so the first error reported is skyd's: port, host,
/// maxcon, BGSAVE, snapshots, TLS; then the flags skyd did not have. The fields below are
/// evaluated in the order they are written, which is that order.
fn validate_flags(matches: &Matches) -> Result<Flags, ConfigError> {
    let file_overrides: Vec<&'static str> = FILE_OVERRIDABLE_FLAGS
        .into_iter()
        .filter(|name| matches.opt_present(name))
        .collect();
    let any_setting = !file_overrides.is_empty()
        || FLAG_ONLY_SETTINGS
            .iter()
            .any(|name| matches.opt_present(name));
    Ok(Flags {
        port: port_flag(matches, "port")?,
        host: parse_flag(matches, "host", "a valid IPv4 or IPv6 address", |text| {
            text.parse::<IpAddr>().ok()
        })?,
        maxcon: parse_flag(matches, "maxcon", "a valid positive integer", |text| {
            text.parse::<usize>().ok().filter(|&count| count > 0)
        })?,
        bgsave: validate_bgsave(matches)?,
        snapshot: validate_snapshot(matches)?,
        tls: validate_tls(matches)?,
        stop_write_on_fail: parse_flag(
            matches,
            "stop-write-on-fail",
            "`true` or `false`",
            |text| text.parse::<bool>().ok(),
        )?,
        data_dir: parse_flag(matches, "data-dir", "a directory path", non_empty_path)?,
        max_query_bytes: parse_flag(
            matches,
            "max-query-size",
            &format!("a size in bytes from 1 to {MAX_QUERY_BYTES_LIMIT}, {SUFFIX_TEXT}"),
            |text| parse_size(text, MAX_QUERY_BYTES_LIMIT),
        )?,
        max_client_memory: parse_flag(
            matches,
            "max-client-memory",
            &format!("a positive size in bytes, {SUFFIX_TEXT}"),
            |text| parse_size(text, usize::MAX),
        )?,
        busy_poll: parse_flag(
            matches,
            "busy-poll",
            &format!("a whole number of microseconds from 0 to {BUSY_POLL_MAX_MICROS}"),
            parse_busy_poll,
        )?,
        journal: parse_flag(
            matches,
            "journal",
            JOURNAL_FSYNC_CHOICES,
            JournalFsync::from_word,
        )?,
        tls_port: port_flag(matches, "sslport")?,
        resp_port: port_flag(matches, "resp-port")?,
        resp_tls_port: port_flag(matches, "resp-tls-port")?,
        restore: parse_flag(matches, "restore", "the name of a snapshot", non_empty_path)?,
        noart: matches.opt_present("noart"),
        config_file: matches.opt_str("withconfig").map(PathBuf::from),
        file_overrides,
        any_setting,
    })
}

/// `--nosave` or `--saveduration`, not both.
fn validate_bgsave(matches: &Matches) -> Result<Option<BgsaveFlag>, ConfigError> {
    let nosave = matches.opt_present("nosave");
    if nosave && matches.opt_present("saveduration") {
        return Err(ConfigError::Argument(
            "Invalid options for BGSAVE. Either supply `--nosave` or `--saveduration` or nothing"
                .to_owned(),
        ));
    }
    let saveduration = parse_seconds(matches, "saveduration", BGSAVE_ZERO_MESSAGE)?;
    Ok(if nosave {
        Some(BgsaveFlag::Disabled)
    } else {
        saveduration.map(BgsaveFlag::Every)
    })
}

/// `--snapevery` and `--snapkeep`, both or neither.
fn validate_snapshot(matches: &Matches) -> Result<Option<SnapshotFlags>, ConfigError> {
    let snapevery = parse_seconds(matches, "snapevery", SNAPSHOT_ZERO_MESSAGE)?;
    let snapkeep = parse_flag(matches, "snapkeep", "an unsigned 64-bit integer", |text| {
        text.parse::<usize>().ok()
    })?;
    match (snapevery, snapkeep) {
        (Some(every), Some(keep)) => Ok(Some(SnapshotFlags { every, keep })),
        (Some(_), None) => Err(missing_partner("snapkeep", "snapevery")),
        (None, Some(_)) => Err(missing_partner("snapevery", "snapkeep")),
        (None, None) => Ok(None),
    }
}

/// `--sslkey` and `--sslchain`, both or neither; `--sslonly` needs both.
fn validate_tls(matches: &Matches) -> Result<Option<TlsFlags>, ConfigError> {
    let sslonly = matches.opt_present("sslonly");
    match (matches.opt_str("sslkey"), matches.opt_str("sslchain")) {
        (Some(key), Some(chain)) => Ok(Some(TlsFlags {
            key: PathBuf::from(key),
            chain: PathBuf::from(chain),
            only: sslonly,
        })),
        // The spelling is skyd's, kept so that scripts matching on it keep working.
        _ if sslonly => Err(ConfigError::Argument(
            "You mast pass values for both --sslkey and --sslchain to use the --sslonly flag"
                .to_owned(),
        )),
        (None, None) => Ok(None),
        _ => Err(ConfigError::Argument(
            "To use SSL, pass values for both --sslkey and --sslchain".to_owned(),
        )),
    }
}

/// Converts the value of flag `--name`, if given; `expected` completes skyd's sentence
/// "Invalid value for `--name`. Expected ...".
fn parse_flag<T>(
    matches: &Matches,
    name: &str,
    expected: &str,
    convert: impl FnOnce(&str) -> Option<T>,
) -> Result<Option<T>, ConfigError> {
    match matches.opt_str(name) {
        None => Ok(None),
        Some(text) => convert(&text).map(Some).ok_or_else(|| {
            ConfigError::Argument(format!("Invalid value for `--{name}`. Expected {expected}"))
        }),
    }
}

/// An interval flag in seconds: any u64 parses, but zero is refused with `zero_message`
/// because an interval of nothing would make the server save in a busy loop.
fn parse_seconds(
    matches: &Matches,
    name: &str,
    zero_message: &str,
) -> Result<Option<Duration>, ConfigError> {
    match parse_flag(matches, name, "an unsigned 64-bit integer", |text| {
        text.parse::<u64>().ok()
    })? {
        Some(0) => Err(ConfigError::Argument(zero_message.to_owned())),
        seconds => Ok(seconds.map(Duration::from_secs)),
    }
}

fn missing_partner(missing: &str, given: &str) -> ConfigError {
    ConfigError::Argument(format!(
        "No value supplied for `--{missing}`. When you supply `--{given}`, you also need to \
         specify `--{missing}`"
    ))
}

/// A TCP port flag, in skyd's words for `--port`.
fn port_flag(matches: &Matches, name: &str) -> Result<Option<u16>, ConfigError> {
    parse_flag(matches, name, "an unsigned 16-bit integer", |text| {
        text.parse::<u16>().ok()
    })
}

/// `--busy-poll`: whole microseconds, at most [`BUSY_POLL_MAX_MICROS`].
fn parse_busy_poll(text: &str) -> Option<Duration> {
    let micros = text.parse::<u64>().ok()?;
    (micros <= BUSY_POLL_MAX_MICROS).then(|| Duration::from_micros(micros))
}

fn non_empty_path(text: &str) -> Option<PathBuf> {
    (!text.is_empty()).then(|| PathBuf::from(text))
}

impl Flags {
    /// Lays the flags over `lower` (the defaults or a file's settings), refuses what the two
    /// layers contradict together, then logs what happened.
    pub(super) fn apply(self, lower: Config) -> Result<Config, ConfigError> {
        let config = self.lay_over(lower)?;
        self.announce_layers();
        if self.stop_write_on_fail.is_some() && config.snapshot.is_none() {
            warn!(
                "--stop-write-on-fail has no effect because snapshots are not enabled \
                 (--snapevery and --snapkeep, or a [snapshot] section)"
            );
        }
        if config.bgsave.is_none() {
            warn!("BGSAVE is disabled. You might lose data if the host crashes");
        }
        Ok(config)
    }

    /// Each given flag replaces the lower layer's value; nothing is logged.
    fn lay_over(&self, mut config: Config) -> Result<Config, ConfigError> {
        if let Some(host) = self.host {
            config.host = host;
        }
        if let Some(port) = self.port {
            config.port = port;
        }
        config.noart |= self.noart;
        if let Some(maxcon) = self.maxcon {
            config.maxcon = maxcon;
        }
        match self.bgsave {
            Some(BgsaveFlag::Disabled) => config.bgsave = None,
            Some(BgsaveFlag::Every(interval)) => config.bgsave = Some(interval),
            None => {}
        }
        if let Some(mode) = self.journal {
            config.journal = Some(mode);
        }
        config.snapshot = lay_snapshot(
            self.snapshot.as_ref(),
            self.stop_write_on_fail,
            config.snapshot,
        );
        config.tls = lay_tls(self.tls.as_ref(), self.tls_port, config.tls)?;
        self.lay_resp(&mut config)?;
        if let Some(data_dir) = &self.data_dir {
            config.data_dir.clone_from(data_dir);
        }
        if let Some(bytes) = self.max_query_bytes {
            config.max_query_bytes = bytes;
        }
        if let Some(bytes) = self.max_client_memory {
            config.max_client_memory = bytes;
        }
        if let Some(busy_poll) = self.busy_poll {
            config.busy_poll = busy_poll;
        }
        config.restore.clone_from(&self.restore);
        Ok(config)
    }

    /// The RESP ports over the lower layer's, once TLS is settled: a TLS port needs TLS, and
    /// TLS-only leaves no room for a plain-text port.
    fn lay_resp(&self, config: &mut Config) -> Result<(), ConfigError> {
        if self.resp_port.is_some() {
            config.resp_port = self.resp_port;
        }
        if self.resp_tls_port.is_some() {
            if config.tls.is_none() {
                return Err(needs_tls("resp-tls-port"));
            }
            config.resp_tls_port = self.resp_tls_port;
        }
        let tls_only = config.tls.as_ref().is_some_and(|tls| tls.only);
        if tls_only && config.resp_port.is_some() {
            // A file is checked on its own, so here at least one side came from a flag.
            let text = if self.resp_port.is_some() {
                "--resp-port serves plain text, which --sslonly turns off; use --resp-tls-port"
            } else {
                "`resp.port` in the configuration file serves plain text, which --sslonly turns \
                 off; use `resp.tls_port` or --resp-tls-port"
            };
            return Err(ConfigError::Argument(text.to_owned()));
        }
        Ok(())
    }

    /// Logs each flag that overrides the file, or that the defaults are used unchanged.
    fn announce_layers(&self) {
        if self.config_file.is_some() {
            for name in &self.file_overrides {
                info!("--{name} overrides the configuration file");
            }
        } else if !self.any_setting {
            info!("No configuration file supplied. Using default settings");
        }
    }
}

/// The snapshot flags over the lower layer's snapshots: the flags' interval and count, and the
/// lower layer's failsafe unless `--stop-write-on-fail` names one (which does nothing without
/// snapshots).
fn lay_snapshot(
    flags: Option<&SnapshotFlags>,
    stop_write_on_fail: Option<bool>,
    lower: Option<SnapshotConfig>,
) -> Option<SnapshotConfig> {
    let mut snapshot = match flags {
        Some(flags) => Some(SnapshotConfig {
            every: flags.every,
            keep: flags.keep,
            failsafe: lower.map_or(SNAPSHOT_FAILSAFE_DEFAULT, |file| file.failsafe),
        }),
        None => lower,
    };
    if let (Some(snapshot), Some(failsafe)) = (&mut snapshot, stop_write_on_fail) {
        snapshot.failsafe = failsafe;
    }
    snapshot
}

/// The TLS flags over the lower layer's TLS settings. A port from the file survives the key
/// and chain flags unless `--sslport` names one; TLS-only from either layer stays TLS-only.
fn lay_tls(
    flags: Option<&TlsFlags>,
    tls_port: Option<u16>,
    lower: Option<TlsConfig>,
) -> Result<Option<TlsConfig>, ConfigError> {
    let mut tls = match flags {
        None => lower,
        Some(flags) => {
            let (port, only) = lower
                .as_ref()
                .map_or((DEFAULT_TLS_PORT, false), |file| (file.port, file.only));
            Some(TlsConfig {
                key: flags.key.clone(),
                chain: flags.chain.clone(),
                port,
                only: only || flags.only,
            })
        }
    };
    if let Some(port) = tls_port {
        tls.as_mut().ok_or_else(|| needs_tls("sslport"))?.port = port;
    }
    Ok(tls)
}

/// For a flag that serves TLS, when neither flags nor the file configure it.
fn needs_tls(flag: &str) -> ConfigError {
    ConfigError::Argument(format!(
        "--{flag} needs --sslkey and --sslchain (or an [ssl] section)"
    ))
}

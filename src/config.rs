//! Command-line flags and the TOML configuration file, merged into one validated [`Config`].
//! Three layers, later ones win: built-in defaults, the file given with `-c`, then flags.
//! Flag names, TOML keys and error texts follow skyd 0.6.4, so existing setups start unchanged.
//! Nothing here binds a socket or touches the data directory: values are checked for shape and
//! range only, and every `Config` handed out upholds the invariants written on its fields.

use std::ffi::OsStr;
use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use getopts::{Matches, Options};
use log::{info, warn};
use serde::Deserialize;

pub const DEFAULT_HOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
pub const DEFAULT_PORT: u16 = 2003;
/// Used when TLS is configured from flags, which (as in skyd) have no way to choose the port.
pub const DEFAULT_TLS_PORT: u16 = 2004;
pub const MAXCON_DEFAULT: usize = 50_000;
pub const SAVE_INTERVAL_DEFAULT: Duration = Duration::from_secs(120);
pub const MAX_QUERY_BYTES_DEFAULT: usize = 512 * MIB;
/// The protocol parser stores offsets into a query as `u32`, so no query may be larger.
pub const MAX_QUERY_BYTES_LIMIT: usize = u32::MAX as usize;
/// Relative, so the data lives under the working directory, where skyd kept it.
pub const DATA_DIR_DEFAULT: &str = "data";

const KIB: usize = 1024;
const MIB: usize = 1024 * KIB;
const GIB: usize = 1024 * MIB;

/// skyd poisons the table on a failed snapshot unless told otherwise.
const SNAPSHOT_FAILSAFE_DEFAULT: bool = true;

const BGSAVE_ZERO_MESSAGE: &str = "The BGSAVE duration has to be greater than 0!";
const SNAPSHOT_ZERO_MESSAGE: &str = "The snapshot duration has to be greater than 0!";

/// Flags that a configuration file can also set; with `-c`, each one given is logged as an
/// override. Long names, in the order they are reported.
const FILE_OVERRIDABLE_FLAGS: [&str; 12] = [
    "host",
    "port",
    "noart",
    "maxcon",
    "nosave",
    "saveduration",
    "snapevery",
    "snapkeep",
    "stop-write-on-fail",
    "sslkey",
    "sslchain",
    "sslonly",
];

/// Settings only flags can change; they still mean "not the default settings".
const FLAG_ONLY_SETTINGS: [&str; 2] = ["data-dir", "max-query-size"];

/// Everything the server needs to start, already validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub host: IpAddr,
    pub port: u16,
    /// Suppresses the ASCII-art banner.
    pub noart: bool,
    /// Maximum number of concurrent client connections; always > 0.
    pub maxcon: usize,
    pub data_dir: PathBuf,
    /// Largest query accepted, in bytes; always in `1..=MAX_QUERY_BYTES_LIMIT`.
    pub max_query_bytes: usize,
    /// Interval between periodic BGSAVEs; `None` disables them (the shutdown save still runs).
    /// Never `Some(Duration::ZERO)`.
    pub bgsave: Option<Duration>,
    /// Periodic snapshots; `None` disables them.
    pub snapshot: Option<SnapshotConfig>,
    /// Validated but not served: the server decides what to do with it.
    pub tls: Option<TlsConfig>,
    /// Snapshot to restore at startup, relative to `<data_dir>/snapshots`.
    pub restore: Option<PathBuf>,
    /// The file the settings were read from, if any.
    pub config_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotConfig {
    /// Interval between periodic snapshots; never zero.
    pub every: Duration,
    /// How many periodic snapshots to keep; 0 keeps all of them.
    pub keep: usize,
    /// Whether a failed snapshot poisons the table (refuses writes until a save succeeds).
    pub failsafe: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsConfig {
    /// PEM private key.
    pub key: PathBuf,
    /// PEM certificate chain.
    pub chain: PathBuf,
    pub port: u16,
    /// Serve TLS only, without the plain-text listener.
    pub only: bool,
}

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invocation {
    Run(Config),
    /// `--help`: the full text to print.
    Help(String),
    /// `--version`: the line to print.
    Version(String),
}

#[derive(Debug)]
pub enum ConfigError {
    /// A flag is unknown, malformed, out of range or inconsistent with another flag.
    Argument(String),
    /// The configuration file could not be read.
    FileUnreadable { path: PathBuf, error: io::Error },
    /// The configuration file is not TOML or does not have the expected keys and types.
    FileSyntax { path: PathBuf, detail: String },
    /// The configuration file is well-formed but a value is out of range or contradictory.
    FileValue(String),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Argument(text) => write!(f, "Argument error: {text}"),
            ConfigError::FileUnreadable { path, error } => write!(
                f,
                "Configuration error: cannot read configuration file {}: {error}",
                path.display()
            ),
            ConfigError::FileSyntax { path, detail } => write!(
                f,
                "Configuration error: syntax error in configuration file {}: {detail}",
                path.display()
            ),
            ConfigError::FileValue(text) => write!(f, "Configuration error: {text}"),
        }
    }
}

impl std::error::Error for ConfigError {}

impl Default for Config {
    fn default() -> Self {
        Config {
            host: DEFAULT_HOST,
            port: DEFAULT_PORT,
            noart: false,
            maxcon: MAXCON_DEFAULT,
            data_dir: PathBuf::from(DATA_DIR_DEFAULT),
            max_query_bytes: MAX_QUERY_BYTES_DEFAULT,
            bgsave: Some(SAVE_INTERVAL_DEFAULT),
            snapshot: None,
            tls: None,
            restore: None,
            config_file: None,
        }
    }
}

/// Parses the command line (without the program name), reads the configuration file if one is
/// given, and merges both over the defaults.
pub fn parse_args<I, S>(args: I) -> Result<Invocation, ConfigError>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let args: Vec<S> = args.into_iter().collect();
    match parse_flags(&args)? {
        ParsedFlags::Help => Ok(Invocation::Help(usage())),
        ParsedFlags::Version => Ok(Invocation::Version(version())),
        ParsedFlags::Settings(flags) => {
            let base = match &flags.config_file {
                Some(path) => read_config_file(path)?,
                None => Config::default(),
            };
            Ok(Invocation::Run(flags.apply(base)))
        }
    }
}

/// The `--help` text.
pub fn usage() -> String {
    let brief = "\
Usage: stratus [OPTIONS]

Stratus is a single-threaded key-value server speaking the Skyhash 1.0
protocol. Clients written for Skytable 0.6 (skyd 0.6.4) work unchanged, and
skyd's flags and configuration files are accepted. The table lives in memory
and is saved to data.bin in the data directory (./data unless --data-dir says
otherwise).";
    let notes = "
Flags override the values of a configuration file given with -c; a setting
that no flag names keeps the file's value, or the default when there is no
file. --snapevery and --snapkeep go together, as do --sslkey and --sslchain.

Configuration file (TOML, the keys of skyd 0.6):
    [server]    host, port (both required), noart, maxclient (or maxcon)
    [bgsave]    enabled (default true), every (seconds, default 120)
    [snapshot]  every (seconds, > 0), atmost (0 = keep all), failsafe
                (default true)
    [ssl]       key, chain, port (all required), only (default false)
Unknown keys are ignored with a warning.

TLS settings are validated, but Stratus does not serve TLS and refuses to
start with them.
";
    format!("{}{notes}", options().usage(brief))
}

fn version() -> String {
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
    opts.optflag("", "help", "Print this help and exit");
    opts.optflag("", "version", "Print the version and exit");
    opts
}

enum ParsedFlags {
    Help,
    Version,
    /// Boxed because `Flags` dwarfs the other variants.
    Settings(Box<Flags>),
}

/// What the flags say, validated on their own; `None` means "not given, keep the lower layer".
#[derive(Debug)]
struct Flags {
    host: Option<IpAddr>,
    port: Option<u16>,
    noart: bool,
    maxcon: Option<usize>,
    bgsave: Option<BgsaveFlag>,
    snapshot: Option<SnapshotFlags>,
    stop_write_on_fail: Option<bool>,
    tls: Option<TlsFlags>,
    data_dir: Option<PathBuf>,
    max_query_bytes: Option<usize>,
    restore: Option<PathBuf>,
    config_file: Option<PathBuf>,
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

fn parse_flags<S: AsRef<OsStr>>(args: &[S]) -> Result<ParsedFlags, ConfigError> {
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

/// Checks each flag's value in skyd's order, so the first error reported is skyd's.
fn validate_flags(matches: &Matches) -> Result<Flags, ConfigError> {
    let port = parse_flag(matches, "port", "an unsigned 16-bit integer", |text| {
        text.parse::<u16>().ok()
    })?;
    let host = parse_flag(matches, "host", "a valid IPv4 or IPv6 address", |text| {
        text.parse::<IpAddr>().ok()
    })?;
    let maxcon = parse_flag(matches, "maxcon", "a valid positive integer", |text| {
        text.parse::<usize>().ok().filter(|&count| count > 0)
    })?;

    let nosave = matches.opt_present("nosave");
    if nosave && matches.opt_present("saveduration") {
        return Err(ConfigError::Argument(
            "Invalid options for BGSAVE. Either supply `--nosave` or `--saveduration` or nothing"
                .to_owned(),
        ));
    }
    let saveduration = parse_seconds(matches, "saveduration", BGSAVE_ZERO_MESSAGE)?;
    let bgsave = if nosave {
        Some(BgsaveFlag::Disabled)
    } else {
        saveduration.map(BgsaveFlag::Every)
    };

    let snapevery = parse_seconds(matches, "snapevery", SNAPSHOT_ZERO_MESSAGE)?;
    let snapkeep = parse_flag(matches, "snapkeep", "an unsigned 64-bit integer", |text| {
        text.parse::<usize>().ok()
    })?;
    let snapshot = match (snapevery, snapkeep) {
        (Some(every), Some(keep)) => Some(SnapshotFlags { every, keep }),
        (Some(_), None) => return Err(missing_partner("snapkeep", "snapevery")),
        (None, Some(_)) => return Err(missing_partner("snapevery", "snapkeep")),
        (None, None) => None,
    };

    let sslonly = matches.opt_present("sslonly");
    let tls =
        match (matches.opt_str("sslkey"), matches.opt_str("sslchain")) {
            (Some(key), Some(chain)) => Some(TlsFlags {
                key: PathBuf::from(key),
                chain: PathBuf::from(chain),
                only: sslonly,
            }),
            // The spelling is skyd's, kept so that scripts matching on it keep working.
            _ if sslonly => return Err(ConfigError::Argument(
                "You mast pass values for both --sslkey and --sslchain to use the --sslonly flag"
                    .to_owned(),
            )),
            (None, None) => None,
            _ => {
                return Err(ConfigError::Argument(
                    "To use SSL, pass values for both --sslkey and --sslchain".to_owned(),
                ))
            }
        };

    let stop_write_on_fail =
        parse_flag(matches, "stop-write-on-fail", "`true` or `false`", |text| {
            text.parse::<bool>().ok()
        })?;
    let data_dir = parse_flag(matches, "data-dir", "a directory path", non_empty_path)?;
    let max_query_bytes = parse_flag(
        matches,
        "max-query-size",
        &format!(
            "a size in bytes from 1 to {MAX_QUERY_BYTES_LIMIT}, optionally with a K, M or G \
             suffix (KiB, MiB, GiB)"
        ),
        parse_size,
    )?;
    let restore = parse_flag(matches, "restore", "the name of a snapshot", non_empty_path)?;
    let config_file = matches.opt_str("withconfig").map(PathBuf::from);

    let file_overrides: Vec<&'static str> = FILE_OVERRIDABLE_FLAGS
        .into_iter()
        .filter(|name| matches.opt_present(name))
        .collect();
    let any_setting = !file_overrides.is_empty()
        || FLAG_ONLY_SETTINGS
            .iter()
            .any(|name| matches.opt_present(name));

    Ok(Flags {
        host,
        port,
        noart: matches.opt_present("noart"),
        maxcon,
        bgsave,
        snapshot,
        stop_write_on_fail,
        tls,
        data_dir,
        max_query_bytes,
        restore,
        config_file,
        file_overrides,
        any_setting,
    })
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

fn non_empty_path(text: &str) -> Option<PathBuf> {
    (!text.is_empty()).then(|| PathBuf::from(text))
}

/// Bytes with an optional binary suffix: `1024`, `64k`, `512M`, `1G`. Only ASCII digits are
/// accepted (no sign, no spaces), and the result must be in `1..=MAX_QUERY_BYTES_LIMIT`.
fn parse_size(text: &str) -> Option<usize> {
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
        .filter(|bytes| (1..=MAX_QUERY_BYTES_LIMIT).contains(bytes))
}

/// The largest binary unit that divides `bytes` exactly, in `--max-query-size` notation.
fn format_size(bytes: usize) -> String {
    [(GIB, "G"), (MIB, "M"), (KIB, "K")]
        .into_iter()
        .find(|&(unit, _)| bytes.is_multiple_of(unit))
        .map_or_else(
            || bytes.to_string(),
            |(unit, suffix)| format!("{}{suffix}", bytes / unit),
        )
}

impl Flags {
    /// Lays the flags over `config` (the defaults or a file's settings) and logs what happened.
    fn apply(self, mut config: Config) -> Config {
        if self.config_file.is_some() {
            for name in &self.file_overrides {
                info!("--{name} overrides the configuration file");
            }
        } else if !self.any_setting {
            info!("No configuration file supplied. Using default settings");
        }

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
        if let Some(snapshot) = self.snapshot {
            let failsafe = config
                .snapshot
                .as_ref()
                .map_or(SNAPSHOT_FAILSAFE_DEFAULT, |file| file.failsafe);
            config.snapshot = Some(SnapshotConfig {
                every: snapshot.every,
                keep: snapshot.keep,
                failsafe,
            });
        }
        if let Some(failsafe) = self.stop_write_on_fail {
            match &mut config.snapshot {
                Some(snapshot) => snapshot.failsafe = failsafe,
                None => warn!(
                    "--stop-write-on-fail has no effect because snapshots are not enabled \
                     (--snapevery and --snapkeep, or a [snapshot] section)"
                ),
            }
        }
        if let Some(tls) = self.tls {
            // Flags cannot name a TLS port, so a port from the file survives them.
            let (port, only) = config
                .tls
                .as_ref()
                .map_or((DEFAULT_TLS_PORT, false), |file| (file.port, file.only));
            config.tls = Some(TlsConfig {
                key: tls.key,
                chain: tls.chain,
                port,
                only: only || tls.only,
            });
        }
        if let Some(data_dir) = self.data_dir {
            config.data_dir = data_dir;
        }
        if let Some(bytes) = self.max_query_bytes {
            config.max_query_bytes = bytes;
        }
        config.restore = self.restore;

        if config.bgsave.is_none() {
            warn!("BGSAVE is disabled. You might lose data if the host crashes");
        }
        config
    }
}

fn read_config_file(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|error| ConfigError::FileUnreadable {
        path: path.to_owned(),
        error,
    })?;
    config_from_toml(path, &text)
}

/// The layout of a skyd 0.6 configuration file. Optional keys are `Option` so that defaults
/// are applied in one place, [`config_from_toml`].
#[derive(Deserialize)]
#[serde(expecting = "a TOML document with a [server] table")]
struct ConfigFile {
    server: ServerSection,
    bgsave: Option<BgsaveSection>,
    snapshot: Option<SnapshotSection>,
    ssl: Option<SslSection>,
}

#[derive(Deserialize)]
#[serde(expecting = "a [server] table")]
struct ServerSection {
    host: IpAddr,
    port: u16,
    noart: Option<bool>,
    maxclient: Option<usize>,
    /// skyd's own template.toml spells the key this way (and skyd then ignored it).
    maxcon: Option<usize>,
}

#[derive(Deserialize)]
#[serde(expecting = "a [bgsave] table")]
struct BgsaveSection {
    enabled: Option<bool>,
    every: Option<u64>,
}

#[derive(Deserialize)]
#[serde(expecting = "a [snapshot] table")]
struct SnapshotSection {
    every: u64,
    atmost: usize,
    failsafe: Option<bool>,
}

#[derive(Deserialize)]
#[serde(expecting = "an [ssl] table")]
struct SslSection {
    key: PathBuf,
    chain: PathBuf,
    port: u16,
    only: Option<bool>,
}

/// Parses the text of the configuration file `path` into a `Config` holding the file's
/// settings over the defaults. Unknown keys are logged and otherwise ignored.
pub(crate) fn config_from_toml(path: &Path, text: &str) -> Result<Config, ConfigError> {
    let (file, unknown_keys) =
        deserialize_config_file(text).map_err(|error| ConfigError::FileSyntax {
            path: path.to_owned(),
            detail: describe_toml_error(&error, text),
        })?;
    for key in unknown_keys {
        warn!(
            "Ignoring unknown key `{key}` in configuration file {}",
            path.display()
        );
    }

    let server = file.server;
    let (maxcon_key, maxcon) = match (server.maxclient, server.maxcon) {
        (Some(_), Some(_)) => {
            return Err(ConfigError::FileValue(
                "Both `server.maxclient` and `server.maxcon` are set; use only one of them"
                    .to_owned(),
            ))
        }
        (Some(count), None) => ("maxclient", count),
        (None, Some(count)) => ("maxcon", count),
        (None, None) => ("maxclient", MAXCON_DEFAULT),
    };
    if maxcon == 0 {
        return Err(ConfigError::FileValue(format!(
            "Invalid value for `server.{maxcon_key}`. Expected a valid positive integer"
        )));
    }

    let bgsave = match file.bgsave {
        None => Some(SAVE_INTERVAL_DEFAULT),
        // skyd accepts `every = 0` when BGSAVE is off, since the interval is then never used.
        Some(BgsaveSection {
            enabled: Some(false),
            ..
        }) => None,
        Some(BgsaveSection { every: Some(0), .. }) => {
            return Err(ConfigError::FileValue(BGSAVE_ZERO_MESSAGE.to_owned()))
        }
        Some(section) => Some(
            section
                .every
                .map_or(SAVE_INTERVAL_DEFAULT, Duration::from_secs),
        ),
    };

    let snapshot = match file.snapshot {
        None => None,
        Some(section) if section.every == 0 => {
            return Err(ConfigError::FileValue(SNAPSHOT_ZERO_MESSAGE.to_owned()))
        }
        Some(section) => Some(SnapshotConfig {
            every: Duration::from_secs(section.every),
            keep: section.atmost,
            failsafe: section.failsafe.unwrap_or(SNAPSHOT_FAILSAFE_DEFAULT),
        }),
    };

    // skyd made any `only` key mean TLS-only, even `only = false`; here the value counts.
    let tls = file.ssl.map(|section| TlsConfig {
        key: section.key,
        chain: section.chain,
        port: section.port,
        only: section.only.unwrap_or(false),
    });

    Ok(Config {
        host: server.host,
        port: server.port,
        noart: server.noart.unwrap_or(false),
        maxcon,
        bgsave,
        snapshot,
        tls,
        config_file: Some(path.to_owned()),
        ..Config::default()
    })
}

/// The file's settings, and the paths of the keys it has that Stratus does not know.
fn deserialize_config_file(text: &str) -> Result<(ConfigFile, Vec<String>), toml::de::Error> {
    let mut unknown_keys = Vec::new();
    let document = toml::Deserializer::parse(text)?;
    let file = serde_ignored::deserialize(document, |key| unknown_keys.push(key_path(&key)))?;
    Ok((file, unknown_keys))
}

/// `server.foo` for the key `foo` of `[server]`, leaving out the `?` steps serde_ignored adds
/// for sections held in an `Option`.
fn key_path(path: &serde_ignored::Path) -> String {
    match path {
        serde_ignored::Path::Root => String::new(),
        serde_ignored::Path::Seq { parent, index } => {
            join_key(key_path(parent), &index.to_string())
        }
        serde_ignored::Path::Map { parent, key } => join_key(key_path(parent), key),
        serde_ignored::Path::Some { parent }
        | serde_ignored::Path::NewtypeStruct { parent }
        | serde_ignored::Path::NewtypeVariant { parent } => key_path(parent),
    }
}

fn join_key(parent: String, key: &str) -> String {
    if parent.is_empty() {
        key.to_owned()
    } else {
        format!("{parent}.{key}")
    }
}

/// One line, so that the error fits in a single log record: toml's own `Display` spans
/// several lines to draw the offending source line.
fn describe_toml_error(error: &toml::de::Error, text: &str) -> String {
    let message = error.message().trim_end();
    match error.span() {
        Some(span) => {
            let before = text.get(..span.start).unwrap_or(text);
            let line = before.matches('\n').count() + 1;
            let column = before
                .rsplit('\n')
                .next()
                .map_or(0, |line_text| line_text.chars().count())
                + 1;
            format!("line {line}, column {column}: {message}")
        }
        None => message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::net::Ipv6Addr;

    fn run(args: &[&str]) -> Config {
        match parse_args(args) {
            Ok(Invocation::Run(config)) => config,
            other => panic!("expected a configuration for {args:?}, got {other:?}"),
        }
    }

    fn argument_error(args: &[&str]) -> String {
        match parse_args(args) {
            Err(error @ ConfigError::Argument(_)) => error.to_string(),
            other => panic!("expected an argument error for {args:?}, got {other:?}"),
        }
    }

    fn from_file(text: &str) -> Config {
        match config_from_toml(Path::new("test.toml"), text) {
            Ok(config) => config,
            Err(error) => panic!("expected {text:?} to parse, got {error}"),
        }
    }

    fn file_error(text: &str) -> String {
        match config_from_toml(Path::new("test.toml"), text) {
            Ok(config) => panic!("expected {text:?} to be refused, got {config:?}"),
            Err(error) => error.to_string(),
        }
    }

    /// What `parse_args` does with `-c test.toml` when the file holds `text`, without a file.
    fn run_with_file(args: &[&str], text: &str) -> Config {
        match parse_flags(args) {
            Ok(ParsedFlags::Settings(flags)) => flags.apply(from_file(text)),
            Ok(_) => panic!("expected settings for {args:?}"),
            Err(error) => panic!("expected {args:?} to parse, got {error}"),
        }
    }

    fn file_config(host: IpAddr, port: u16) -> Config {
        Config {
            host,
            port,
            config_file: Some(PathBuf::from("test.toml")),
            ..Config::default()
        }
    }

    /// The command line `line`, split at spaces.
    fn words(line: &str) -> Vec<&str> {
        line.split(' ').collect()
    }

    const MINIMAL_FILE: &str = "[server]\nhost = \"127.0.0.1\"\nport = 2003\n";

    #[test]
    fn defaults_without_flags() {
        let expected = Config {
            host: IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1)),
            port: 2003,
            noart: false,
            maxcon: 50_000,
            data_dir: PathBuf::from("data"),
            max_query_bytes: 512 * 1024 * 1024,
            bgsave: Some(Duration::from_secs(120)),
            snapshot: None,
            tls: None,
            restore: None,
            config_file: None,
        };
        assert_eq!(run(&[]), expected);
        assert_eq!(Config::default(), expected);
        assert_eq!(MAX_QUERY_BYTES_LIMIT, 4_294_967_295);
        assert_eq!(DEFAULT_TLS_PORT, 2004);
    }

    #[test]
    fn how_the_tests_start_the_server() {
        let config = run(&["--noart", "-p", "0", "--data-dir", "/tmp/t/data"]);
        assert_eq!(
            config,
            Config {
                port: 0,
                noart: true,
                data_dir: PathBuf::from("/tmp/t/data"),
                ..Config::default()
            }
        );
    }

    #[test]
    fn every_flag_in_long_form() {
        let config = run(&words(
            "--host ::1 --port 7000 --noart --saveduration 30 --snapevery 3600 --snapkeep 4 \
             --stop-write-on-fail false --maxcon 10 --sslkey key.pem --sslchain chain.pem \
             --sslonly --data-dir /srv/stratus --max-query-size 1M --restore 2026-01-01.snapshot",
        ));
        assert_eq!(
            config,
            Config {
                host: IpAddr::V6(Ipv6Addr::LOCALHOST),
                port: 7000,
                noart: true,
                maxcon: 10,
                data_dir: PathBuf::from("/srv/stratus"),
                max_query_bytes: 1024 * 1024,
                bgsave: Some(Duration::from_secs(30)),
                snapshot: Some(SnapshotConfig {
                    every: Duration::from_secs(3600),
                    keep: 4,
                    failsafe: false,
                }),
                tls: Some(TlsConfig {
                    key: PathBuf::from("key.pem"),
                    chain: PathBuf::from("chain.pem"),
                    port: 2004,
                    only: true,
                }),
                restore: Some(PathBuf::from("2026-01-01.snapshot")),
                config_file: None,
            }
        );
    }

    #[test]
    fn short_flags_and_h_is_host() {
        let config = run(&words("-h 0.0.0.0 -p 2010 -S 5 -k k -z c -r snap"));
        assert_eq!(config.host, IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        assert_eq!(config.port, 2010);
        assert_eq!(config.bgsave, Some(Duration::from_secs(5)));
        assert_eq!(
            config.tls,
            Some(TlsConfig {
                key: PathBuf::from("k"),
                chain: PathBuf::from("c"),
                port: 2004,
                only: false,
            })
        );
        assert_eq!(config.restore, Some(PathBuf::from("snap")));
    }

    #[test]
    fn nosave_disables_bgsave() {
        assert_eq!(run(&["--nosave"]).bgsave, None);
    }

    #[test]
    fn snapshot_flags_default_to_failsafe() {
        assert_eq!(
            run(&["--snapevery", "60", "--snapkeep", "0"]).snapshot,
            Some(SnapshotConfig {
                every: Duration::from_secs(60),
                keep: 0,
                failsafe: true,
            })
        );
    }

    #[test]
    fn stop_write_on_fail_without_snapshots_changes_nothing() {
        assert_eq!(run(&["--stop-write-on-fail", "true"]), Config::default());
    }

    #[test]
    fn skyd_validation_messages() {
        let port = "Invalid value for `--port`. Expected an unsigned 16-bit integer";
        let host = "Invalid value for `--host`. Expected a valid IPv4 or IPv6 address";
        let maxcon = "Invalid value for `--maxcon`. Expected a valid positive integer";
        let sslonly =
            "You mast pass values for both --sslkey and --sslchain to use the --sslonly flag";
        let ssl = "To use SSL, pass values for both --sslkey and --sslchain";
        let cases = [
            ("-p abc", port),
            ("-p 65536", port),
            ("-h localhost", host),
            ("-h [::1]", host),
            ("--maxcon many", maxcon),
            ("--maxcon 0", maxcon),
            (
                "--nosave -S 10",
                "Invalid options for BGSAVE. Either supply `--nosave` or `--saveduration` or \
                 nothing",
            ),
            (
                "-S -1",
                "Invalid value for `--saveduration`. Expected an unsigned 64-bit integer",
            ),
            (
                "--snapevery 1h --snapkeep 1",
                "Invalid value for `--snapevery`. Expected an unsigned 64-bit integer",
            ),
            (
                "--snapevery 1 --snapkeep x",
                "Invalid value for `--snapkeep`. Expected an unsigned 64-bit integer",
            ),
            (
                "--snapevery 10",
                "No value supplied for `--snapkeep`. When you supply `--snapevery`, you also \
                 need to specify `--snapkeep`",
            ),
            (
                "--snapkeep 10",
                "No value supplied for `--snapevery`. When you supply `--snapkeep`, you also \
                 need to specify `--snapevery`",
            ),
            ("--sslonly", sslonly),
            ("--sslonly -k key.pem", sslonly),
            ("-k key.pem", ssl),
            ("-z chain.pem", ssl),
            ("-S 0", "The BGSAVE duration has to be greater than 0!"),
            (
                "--snapevery 0 --snapkeep 3",
                "The snapshot duration has to be greater than 0!",
            ),
        ];
        for (line, text) in cases {
            assert_eq!(
                argument_error(&words(line)),
                format!("Argument error: {text}"),
                "{line}"
            );
        }
    }

    #[test]
    fn first_error_in_skyd_order() {
        assert_eq!(
            argument_error(&["-h", "nowhere", "-p", "nothing", "--maxcon", "0"]),
            "Argument error: Invalid value for `--port`. Expected an unsigned 16-bit integer"
        );
        assert_eq!(
            argument_error(&["--nosave", "-S", "x"]),
            "Argument error: Invalid options for BGSAVE. Either supply `--nosave` or \
             `--saveduration` or nothing"
        );
    }

    #[test]
    fn messages_for_the_new_flags() {
        assert_eq!(
            argument_error(&["--stop-write-on-fail", "abc"]),
            "Argument error: Invalid value for `--stop-write-on-fail`. Expected `true` or `false`"
        );
        assert_eq!(
            argument_error(&["--data-dir", ""]),
            "Argument error: Invalid value for `--data-dir`. Expected a directory path"
        );
        assert_eq!(
            argument_error(&["-r", ""]),
            "Argument error: Invalid value for `--restore`. Expected the name of a snapshot"
        );
    }

    #[test]
    fn max_query_size_suffixes() {
        let cases = [
            ("1", 1),
            ("1024", 1024),
            ("64k", 64 * 1024),
            ("64K", 64 * 1024),
            ("512m", 512 * 1024 * 1024),
            ("512M", 512 * 1024 * 1024),
            ("1g", 1024 * 1024 * 1024),
            ("3G", 3 * 1024 * 1024 * 1024),
            ("4194303K", 4_294_966_272),
            ("4294967295", 4_294_967_295),
        ];
        for (text, bytes) in cases {
            assert_eq!(
                run(&["--max-query-size", text]).max_query_bytes,
                bytes,
                "{text}"
            );
        }
    }

    #[test]
    fn max_query_size_refusals() {
        let message = "Argument error: Invalid value for `--max-query-size`. Expected a size in \
                       bytes from 1 to 4294967295, optionally with a K, M or G suffix (KiB, MiB, \
                       GiB)";
        for text in [
            "0",
            "0K",
            "4G",
            "4294967296",
            "99999999999999999999999",
            "18014398509481984K",
            "",
            "K",
            "+1",
            "-1",
            "1.5M",
            "1 M",
            "1T",
            "1MiB",
            "lots",
        ] {
            assert_eq!(
                argument_error(&["--max-query-size", text]),
                message,
                "{text:?}"
            );
        }
    }

    #[test]
    fn getopts_errors_point_to_help() {
        let cases: [(&[&str], &str); 5] = [
            (&["--bogus"], "Unrecognized option: 'bogus'"),
            (&["-x"], "Unrecognized option: 'x'"),
            (&["-p"], "Argument to option 'p' missing"),
            (
                &["-p", "1", "--port", "2"],
                "Option 'port' given more than once",
            ),
            (&["--noart=yes"], "Option 'noart' does not take an argument"),
        ];
        for (args, text) in cases {
            assert_eq!(
                argument_error(args),
                format!("Argument error: {text} (see --help)"),
                "{args:?}"
            );
        }
    }

    #[test]
    fn positional_arguments_are_refused() {
        assert_eq!(
            argument_error(&["--noart", "extra"]),
            "Argument error: Unexpected argument 'extra': Stratus takes only flags (see --help)"
        );
        let upgrade = "Argument error: The `upgrade` subcommand of skyd is not supported: \
                       Stratus reads Skytable 0.6 data files directly; convert older formats \
                       with skyd 0.6 first";
        assert_eq!(argument_error(&["upgrade", "--from", "elstore"]), upgrade);
        assert_eq!(argument_error(&["--noart", "upgrade"]), upgrade);
    }

    #[test]
    fn help_and_version() {
        assert_eq!(parse_args(["--help"]).ok(), Some(Invocation::Help(usage())));
        // Help is answered before any other flag is looked at.
        assert_eq!(
            parse_args(["-p", "not-a-port", "--help"]).ok(),
            Some(Invocation::Help(usage()))
        );
        assert_eq!(
            parse_args(["--version"]).ok(),
            Some(Invocation::Version(format!(
                "stratus {} (Skyhash 1.0, compatible with skyd 0.6.4)",
                env!("CARGO_PKG_VERSION")
            )))
        );
    }

    #[test]
    fn usage_lists_every_flag_with_its_default() {
        let text = usage();
        assert!(text.starts_with("Usage: stratus [OPTIONS]\n\nStratus is a single-threaded"));
        for line in [
            "    -h, --host ADDR     IPv4 or IPv6 address to listen on (default 127.0.0.1)",
            "    -p, --port PORT     TCP port to listen on, 0 for any free port (default",
            "        --data-dir DIR  Directory holding data.bin and snapshots/ (default",
            "                        ./data)",
            "                        (default 50000)",
            "                        M or G suffix for KiB, MiB, GiB (default 512M, at most",
            "                        Seconds between periodic BGSAVEs (default 120)",
            "        --snapevery SECS",
            "        --snapkeep COUNT",
            "        --stop-write-on-fail BOOL",
            "        --nosave        Disable the periodic BGSAVE (data is still saved at",
            "    -r, --restore NAME  Restore the snapshot NAME (relative to",
            "    -c, --withconfig FILE",
            "        --noart         Do not print the ASCII-art banner",
            "    -k, --sslkey FILE   PEM private key for TLS; needs --sslchain",
            "    -z, --sslchain FILE PEM certificate chain for TLS (port 2004); needs",
            "        --sslonly       Serve TLS only, without the plain-text listener; needs",
            "        --help          Print this help and exit",
            "        --version       Print the version and exit",
            "Flags override the values of a configuration file given with -c; a setting",
            "    [server]    host, port (both required), noart, maxclient (or maxcon)",
        ] {
            assert!(
                text.lines().any(|printed| printed == line),
                "missing line {line:?} in\n{text}"
            );
        }
    }

    #[test]
    fn server_sections_of_the_skyd_examples() {
        let localhost = file_config(IpAddr::V4(Ipv4Addr::LOCALHOST), 2003);
        let cases = [
            // skyd.toml
            (
                "[server]\nhost = \"127.0.0.1\"\nport = 2003\nnoart = false\n",
                localhost.clone(),
            ),
            // secure-noart.toml
            (
                "[server]\nhost = \"127.0.0.1\"\nport = 2003\nnoart = true\n",
                Config {
                    noart: true,
                    ..localhost
                },
            ),
            // ipv6.toml
            (
                "[server]\nhost = \"::1\"\nport = 2003\nnoart = false\n",
                file_config(IpAddr::V6(Ipv6Addr::LOCALHOST), 2003),
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(from_file(text), expected, "{text}");
        }
    }

    #[test]
    fn bgsave_sections() {
        let cases = [
            ("[bgsave]\nenabled = true\nevery = 600\n", Some(600)),
            ("[bgsave]\nenabled = true\n", Some(120)),
            ("[bgsave]\nevery = 600\n", Some(600)),
            ("[bgsave]\n", Some(120)),
            ("[bgsave]\nenabled = false\n", None),
            ("[bgsave]\nenabled = false\nevery = 0\n", None),
        ];
        for (section, seconds) in cases {
            let config = from_file(&format!("{MINIMAL_FILE}{section}"));
            assert_eq!(config.bgsave, seconds.map(Duration::from_secs), "{section}");
        }
    }

    #[test]
    fn snapshot_section() {
        let text = format!("{MINIMAL_FILE}[snapshot]\nevery = 3600\natmost = 4\n");
        assert_eq!(
            from_file(&text).snapshot,
            Some(SnapshotConfig {
                every: Duration::from_secs(3600),
                keep: 4,
                failsafe: true,
            })
        );
        let text = format!("{MINIMAL_FILE}[snapshot]\nevery = 60\natmost = 0\nfailsafe = false\n");
        assert_eq!(
            from_file(&text).snapshot,
            Some(SnapshotConfig {
                every: Duration::from_secs(60),
                keep: 0,
                failsafe: false,
            })
        );
    }

    #[test]
    fn ssl_section() {
        let ssl =
            "[ssl]\nkey = \"/path/to/key.pem\"\nchain = \"/path/to/chain.pem\"\nport = 2004\n";
        let expected = TlsConfig {
            key: PathBuf::from("/path/to/key.pem"),
            chain: PathBuf::from("/path/to/chain.pem"),
            port: 2004,
            only: false,
        };
        let config = from_file(&format!("{MINIMAL_FILE}{ssl}"));
        assert_eq!(config.port, 2003);
        assert_eq!(config.tls, Some(expected.clone()));
        // skyd made `only = false` mean TLS-only; here it means what it says.
        let config = from_file(&format!("{MINIMAL_FILE}{ssl}only = false\n"));
        assert_eq!(config.tls, Some(expected.clone()));
        let config = from_file(&format!("{MINIMAL_FILE}{ssl}only = true\n"));
        assert_eq!(
            config.tls,
            Some(TlsConfig {
                only: true,
                ..expected
            })
        );
    }

    #[test]
    fn template_with_every_section() {
        let text = "\
[server]
host = \"127.0.0.1\"
port = 2003
noart = false
maxcon = 50000

[bgsave]
enabled = true
every = 120

[snapshot]
every = 3600
atmost = 4
failsafe = true

[ssl]
key = \"/path/to/keyfile.pem\"
chain = \"/path/to/chain.pem\"
port = 2004
only = true
";
        assert_eq!(
            from_file(text),
            Config {
                snapshot: Some(SnapshotConfig {
                    every: Duration::from_secs(3600),
                    keep: 4,
                    failsafe: true,
                }),
                tls: Some(TlsConfig {
                    key: PathBuf::from("/path/to/keyfile.pem"),
                    chain: PathBuf::from("/path/to/chain.pem"),
                    port: 2004,
                    only: true,
                }),
                ..file_config(IpAddr::V4(Ipv4Addr::LOCALHOST), 2003)
            }
        );
    }

    #[test]
    fn maxclient_and_maxcon_keys() {
        assert_eq!(
            from_file(&format!("{MINIMAL_FILE}maxclient = 100\n")).maxcon,
            100
        );
        assert_eq!(from_file(&format!("{MINIMAL_FILE}maxcon = 7\n")).maxcon, 7);
        assert_eq!(
            file_error(&format!("{MINIMAL_FILE}maxclient = 0\n")),
            "Configuration error: Invalid value for `server.maxclient`. Expected a valid \
             positive integer"
        );
        assert_eq!(
            file_error(&format!("{MINIMAL_FILE}maxcon = 0\n")),
            "Configuration error: Invalid value for `server.maxcon`. Expected a valid positive \
             integer"
        );
        assert_eq!(
            file_error(&format!("{MINIMAL_FILE}maxcon = 1\nmaxclient = 1\n")),
            "Configuration error: Both `server.maxclient` and `server.maxcon` are set; use only \
             one of them"
        );
    }

    #[test]
    fn zero_intervals_in_the_file() {
        assert_eq!(
            file_error(&format!(
                "{MINIMAL_FILE}[bgsave]\nenabled = true\nevery = 0\n"
            )),
            "Configuration error: The BGSAVE duration has to be greater than 0!"
        );
        assert_eq!(
            file_error(&format!("{MINIMAL_FILE}[bgsave]\nevery = 0\n")),
            "Configuration error: The BGSAVE duration has to be greater than 0!"
        );
        assert_eq!(
            file_error(&format!(
                "{MINIMAL_FILE}[snapshot]\nevery = 0\natmost = 4\n"
            )),
            "Configuration error: The snapshot duration has to be greater than 0!"
        );
    }

    #[test]
    fn shape_errors_name_the_file_and_the_place() {
        let cases = [
            (
                "[server]\nhost = \"127.0.0.1\"\nport = 20033002\n",
                "line 3, column 8: invalid value: integer `20033002`, expected u16",
            ),
            (
                "[server]\nhost = \"127.0.0.1\"\nport = 2003\nnoart = false\n\
                 [bgsave]\nenabled = true\nevery = 0.5\n",
                "line 7, column 9: invalid type: floating point `0.5`, expected u64",
            ),
            (
                "[server]\nport = 2003\n",
                "line 1, column 1: missing field `host`",
            ),
            ("", "line 1, column 1: missing field `server`"),
            (
                "[server]\nhost = \"localhost\"\nport = 2003\n",
                "line 2, column 8: invalid IP address syntax",
            ),
            (
                "[server\n",
                "line 1, column 8: unclosed table, expected `]`",
            ),
            (
                "server = 5\n",
                "line 1, column 10: invalid type: integer `5`, expected a [server] table",
            ),
            (
                "[server]\nhost = \"127.0.0.1\"\nport = 2003\n[snapshot]\nevery = 1\n",
                "line 4, column 1: missing field `atmost`",
            ),
        ];
        for (text, detail) in cases {
            assert_eq!(
                file_error(text),
                format!(
                    "Configuration error: syntax error in configuration file test.toml: {detail}"
                ),
                "{text:?}"
            );
        }
    }

    #[test]
    fn unknown_keys_are_reported_by_path() {
        let text = format!(
            "{MINIMAL_FILE}colour = \"blue\"\n[bgsave]\nevry = 5\n[extra]\na = 1\n\
             [ssl]\nkey = \"k\"\nchain = \"c\"\nport = 1\nciphers = [1, 2]\n"
        );
        let (_, mut unknown_keys) = deserialize_config_file(&text).expect("valid TOML");
        unknown_keys.sort();
        assert_eq!(
            unknown_keys,
            ["bgsave.evry", "extra", "server.colour", "ssl.ciphers"]
        );
        // Unknown keys do not change anything else.
        assert_eq!(from_file(&text).bgsave, Some(Duration::from_secs(120)));
    }

    #[test]
    fn unreadable_file_is_named() {
        let path = std::env::temp_dir().join("stratus-config-test-no-such-dir/stratus.toml");
        match parse_args([OsStr::new("-c"), path.as_os_str()]) {
            Err(error @ ConfigError::FileUnreadable { .. }) => {
                let ConfigError::FileUnreadable {
                    error: io_error, ..
                } = &error
                else {
                    unreachable!()
                };
                assert_eq!(io_error.kind(), io::ErrorKind::NotFound);
                assert_eq!(
                    error.to_string(),
                    format!(
                        "Configuration error: cannot read configuration file {}: {io_error}",
                        path.display()
                    )
                );
            }
            other => panic!("expected an unreadable-file error, got {other:?}"),
        }
    }

    #[test]
    fn flags_are_checked_before_the_file_is_read() {
        assert_eq!(
            argument_error(&["-c", "/no/such/file.toml", "-p", "x"]),
            "Argument error: Invalid value for `--port`. Expected an unsigned 16-bit integer"
        );
    }

    #[test]
    fn flags_override_the_file() {
        let text = "\
[server]
host = \"::1\"
port = 2003
maxclient = 10

[bgsave]
enabled = false

[snapshot]
every = 3600
atmost = 4
failsafe = false

[ssl]
key = \"file-key.pem\"
chain = \"file-chain.pem\"
port = 3000
";
        let config = run_with_file(
            &words(
                "-c test.toml -p 7000 --noart --maxcon 20 -S 30 --snapevery 60 --snapkeep 2 \
                 -k flag-key.pem -z flag-chain.pem --sslonly --data-dir /srv/data \
                 --max-query-size 2k -r old.snapshot",
            ),
            text,
        );
        assert_eq!(
            config,
            Config {
                host: IpAddr::V6(Ipv6Addr::LOCALHOST),
                port: 7000,
                noart: true,
                maxcon: 20,
                data_dir: PathBuf::from("/srv/data"),
                max_query_bytes: 2048,
                bgsave: Some(Duration::from_secs(30)),
                // Flags name no failsafe and no TLS port, so the file's values stay.
                snapshot: Some(SnapshotConfig {
                    every: Duration::from_secs(60),
                    keep: 2,
                    failsafe: false,
                }),
                tls: Some(TlsConfig {
                    key: PathBuf::from("flag-key.pem"),
                    chain: PathBuf::from("flag-chain.pem"),
                    port: 3000,
                    only: true,
                }),
                restore: Some(PathBuf::from("old.snapshot")),
                config_file: Some(PathBuf::from("test.toml")),
            }
        );
    }

    #[test]
    fn absent_flags_keep_the_file_values() {
        let text = format!(
            "{MINIMAL_FILE}noart = true\n[snapshot]\nevery = 10\natmost = 1\n\
             [ssl]\nkey = \"k\"\nchain = \"c\"\nport = 1\nonly = true\n"
        );
        let config = run_with_file(&["-c", "test.toml", "-k", "k2", "-z", "c2"], &text);
        assert!(config.noart);
        assert_eq!(
            config.tls,
            Some(TlsConfig {
                key: PathBuf::from("k2"),
                chain: PathBuf::from("c2"),
                port: 1,
                only: true,
            })
        );
        assert_eq!(
            config.snapshot,
            Some(SnapshotConfig {
                every: Duration::from_secs(10),
                keep: 1,
                failsafe: true,
            })
        );
    }

    #[test]
    fn bgsave_and_failsafe_flags_over_the_file() {
        let file = format!("{MINIMAL_FILE}[snapshot]\nevery = 10\natmost = 1\nfailsafe = true\n");
        let config = run_with_file(&["--nosave", "--stop-write-on-fail", "false"], &file);
        assert_eq!(config.bgsave, None);
        assert_eq!(
            config.snapshot.map(|snapshot| snapshot.failsafe),
            Some(false)
        );
    }

    #[test]
    fn parse_args_reads_the_file() {
        let path =
            std::env::temp_dir().join(format!("stratus-config-test-{}.toml", std::process::id()));
        let written = std::fs::write(&path, format!("{MINIMAL_FILE}[bgsave]\nevery = 9\n"));
        let result = written.map(|()| {
            parse_args([
                OsStr::new("-c"),
                path.as_os_str(),
                OsStr::new("-p"),
                OsStr::new("8"),
            ])
        });
        // Removed before asserting so that a failure leaves nothing behind.
        let _ = std::fs::remove_file(&path);
        match result {
            Ok(Ok(Invocation::Run(config))) => assert_eq!(
                config,
                Config {
                    port: 8,
                    bgsave: Some(Duration::from_secs(9)),
                    config_file: Some(path),
                    ..Config::default()
                }
            ),
            other => panic!("expected a configuration, got {other:?}"),
        }
    }

    /// Runs `action` and returns what it logged on this thread, as "LEVEL message" lines.
    /// Thread-local, so tests running in parallel do not see each other's lines.
    fn logged<T>(action: impl FnOnce() -> T) -> (T, Vec<String>) {
        use std::cell::RefCell;
        use std::sync::Once;

        thread_local! {
            static LINES: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
        }
        struct ThreadLogger;
        impl log::Log for ThreadLogger {
            fn enabled(&self, _: &log::Metadata) -> bool {
                true
            }
            fn log(&self, record: &log::Record) {
                LINES.with(|lines| {
                    lines
                        .borrow_mut()
                        .push(format!("{} {}", record.level(), record.args()))
                });
            }
            fn flush(&self) {}
        }
        static LOGGER: ThreadLogger = ThreadLogger;
        static INSTALL: Once = Once::new();

        INSTALL.call_once(|| {
            log::set_logger(&LOGGER).expect("no other logger in this test binary");
            log::set_max_level(log::LevelFilter::Trace);
        });
        LINES.with(|lines| lines.borrow_mut().clear());
        let result = action();
        (result, LINES.with(|lines| lines.take()))
    }

    #[test]
    fn default_settings_are_announced() {
        let (_, lines) = logged(|| run(&[]));
        assert_eq!(
            lines,
            ["INFO No configuration file supplied. Using default settings"]
        );
        let (_, lines) = logged(|| run(&["-r", "snap"]));
        assert_eq!(
            lines,
            ["INFO No configuration file supplied. Using default settings"]
        );
        let (_, lines) = logged(|| run(&["--data-dir", "d"]));
        assert!(lines.is_empty(), "{lines:?}");
    }

    #[test]
    fn disabled_bgsave_is_a_warning() {
        let warning = "WARN BGSAVE is disabled. You might lose data if the host crashes";
        let (_, lines) = logged(|| run(&["--nosave"]));
        assert_eq!(lines, [warning]);
        let (_, lines) = logged(|| {
            run_with_file(
                &["-c", "test.toml"],
                &format!("{MINIMAL_FILE}[bgsave]\nenabled = false\n"),
            )
        });
        assert_eq!(lines, [warning]);
        // Re-enabled by a flag: nothing to warn about.
        let (_, lines) = logged(|| {
            run_with_file(
                &["-c", "test.toml", "-S", "5"],
                &format!("{MINIMAL_FILE}[bgsave]\nenabled = false\n"),
            )
        });
        assert_eq!(
            lines,
            ["INFO --saveduration overrides the configuration file"]
        );
    }

    #[test]
    fn overrides_are_logged_one_per_flag() {
        let (_, lines) = logged(|| {
            run_with_file(
                &words("-c test.toml --sslonly -p 1 -k k -z c --noart"),
                MINIMAL_FILE,
            )
        });
        assert_eq!(
            lines,
            [
                "INFO --port overrides the configuration file",
                "INFO --noart overrides the configuration file",
                "INFO --sslkey overrides the configuration file",
                "INFO --sslchain overrides the configuration file",
                "INFO --sslonly overrides the configuration file",
            ]
        );
    }

    #[test]
    fn ineffective_stop_write_on_fail_is_a_warning() {
        let (_, lines) = logged(|| run(&["--stop-write-on-fail", "true"]));
        assert_eq!(
            lines,
            [
                "WARN --stop-write-on-fail has no effect because snapshots are not enabled \
                 (--snapevery and --snapkeep, or a [snapshot] section)"
            ]
        );
    }

    #[test]
    fn unknown_keys_are_warnings() {
        let (_, lines) = logged(|| from_file(&format!("{MINIMAL_FILE}colour = 1\n")));
        assert_eq!(
            lines,
            ["WARN Ignoring unknown key `server.colour` in configuration file test.toml"]
        );
    }
}

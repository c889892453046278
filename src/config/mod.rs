//! Command-line flags and the TOML configuration file, merged into one validated [`Config`].
//! Three layers, later ones win: built-in defaults, the file given with `-c` (`file`), then
//! flags (`flags`). Flag names, TOML keys and error texts follow skyd 0.6.4, so existing setups
//! start unchanged. Nothing here binds a socket or touches the data directory: values are
//! checked for shape and range only, and every `Config` upholds the invariants on its fields.

mod file;
mod flags;
mod size;
#[cfg(test)]
mod tests;

use std::ffi::OsStr;
use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

pub use flags::usage;
use size::{GIB, KIB, MIB};

pub const DEFAULT_HOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
pub const DEFAULT_PORT: u16 = 2003;
/// The TLS port when TLS is configured from flags without `--sslport` (skyd's flags had no way
/// to choose it).
pub const DEFAULT_TLS_PORT: u16 = 2004;
pub const MAXCON_DEFAULT: usize = 50_000;
pub const SAVE_INTERVAL_DEFAULT: Duration = Duration::from_secs(120);
pub const MAX_QUERY_BYTES_DEFAULT: usize = 512 * MIB;
/// The protocol parser stores offsets into a query as `u32`, so no query may be larger.
pub const MAX_QUERY_BYTES_LIMIT: usize = u32::MAX as usize;
/// Relative, so the data lives under the working directory, where skyd kept it.
pub const DATA_DIR_DEFAULT: &str = "data";
/// The default client memory budget is a quarter of physical memory but never more than this,
/// so that on a large machine clients' buffers cannot crowd out the table by default.
pub const MAX_CLIENT_MEMORY_CAP: usize = GIB;
/// The fsync mode of a journal enabled in the file without naming one.
pub const JOURNAL_FSYNC_DEFAULT: JournalFsync = JournalFsync::EverySec;
/// How long the event loop keeps polling for more work after a turn that had some, before it
/// sleeps (`--busy-poll`, `[server] busy_poll_us`).
pub const BUSY_POLL_DEFAULT: Duration = Duration::from_micros(20);
/// The longest busy poll accepted, in microseconds.
pub const BUSY_POLL_MAX_MICROS: u64 = 1000;

/// Where Linux reports physical memory, as `MemTotal`.
const MEMINFO_PATH: &str = "/proc/meminfo";
/// How error messages list the modes of [`JournalFsync`], after "Expected".
const JOURNAL_FSYNC_CHOICES: &str = "always, everysec or no";

/// skyd poisons the table on a failed snapshot unless told otherwise.
const SNAPSHOT_FAILSAFE_DEFAULT: bool = true;

const BGSAVE_ZERO_MESSAGE: &str = "The BGSAVE duration has to be greater than 0!";
const SNAPSHOT_ZERO_MESSAGE: &str = "The snapshot duration has to be greater than 0!";

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
    /// Memory that all client connections together may hold, in bytes; always ≥ 1. Defaults to
    /// [`max_client_memory_default`].
    pub max_client_memory: usize,
    /// After a turn of the event loop that had work, how long the loop keeps polling (without
    /// sleeping) for the next event; zero sleeps at once. At most [`BUSY_POLL_MAX_MICROS`].
    pub busy_poll: Duration,
    /// Interval between periodic BGSAVEs; `None` disables them (the shutdown save still runs).
    /// Never `Some(Duration::ZERO)`.
    pub bgsave: Option<Duration>,
    /// Periodic snapshots; `None` disables them.
    pub snapshot: Option<SnapshotConfig>,
    /// The journal of writes and when it is fsynced; `None` keeps no journal, as skyd kept none.
    pub journal: Option<JournalFsync>,
    /// The TLS listener's key, chain and port, and whether it is the only Skyhash listener;
    /// `None` serves no TLS. The files are read by the server, before it binds.
    pub tls: Option<TlsConfig>,
    /// A plain-text RESP2 (Redis protocol) listener on this port, 0 for any free port; `None`
    /// serves no RESP. Always `None` when TLS is configured TLS-only.
    pub resp_port: Option<u16>,
    /// A RESP2 listener over TLS on this port, 0 for any free port; `None` for none. Only
    /// `Some` when `tls` is.
    pub resp_tls_port: Option<u16>,
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

/// When the journal is fsynced, in the words of `--journal` and `[journal] fsync` (Redis's
/// `appendfsync` choices).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JournalFsync {
    /// fsync before sending the replies to the writes it holds.
    Always,
    /// fsync about once a second, so a crash may lose the last second of acknowledged writes.
    EverySec,
    /// Never fsync: the operating system writes the journal out when it chooses.
    No,
}

impl JournalFsync {
    const ALL: [JournalFsync; 3] = [
        JournalFsync::Always,
        JournalFsync::EverySec,
        JournalFsync::No,
    ];

    fn word(self) -> &'static str {
        match self {
            JournalFsync::Always => "always",
            JournalFsync::EverySec => "everysec",
            JournalFsync::No => "no",
        }
    }

    /// The mode a flag or file names, exactly as [`fmt::Display`] writes it.
    fn from_word(word: &str) -> Option<JournalFsync> {
        JournalFsync::ALL
            .into_iter()
            .find(|mode| mode.word() == word)
    }
}

impl fmt::Display for JournalFsync {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.word())
    }
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
#[expect(
    clippy::large_enum_variant,
    reason = "made once per process and unpacked at once; a Box would only add an allocation"
)]
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
            max_client_memory: max_client_memory_default(),
            busy_poll: BUSY_POLL_DEFAULT,
            bgsave: Some(SAVE_INTERVAL_DEFAULT),
            snapshot: None,
            journal: None,
            tls: None,
            resp_port: None,
            resp_tls_port: None,
            restore: None,
            config_file: None,
        }
    }
}

/// The default of [`Config::max_client_memory`]: a quarter of physical memory, at most
/// [`MAX_CLIENT_MEMORY_CAP`], and the cap itself when physical memory cannot be read. Physical
/// memory is read once per process.
pub fn max_client_memory_default() -> usize {
    static DEFAULT: OnceLock<usize> = OnceLock::new();
    *DEFAULT.get_or_init(|| {
        let physical = std::fs::read_to_string(MEMINFO_PATH)
            .ok()
            .and_then(|meminfo| mem_total_bytes(&meminfo));
        client_memory_budget(physical)
    })
}

/// A quarter of `physical` bytes, in `1..=MAX_CLIENT_MEMORY_CAP`; the cap when unknown.
fn client_memory_budget(physical: Option<usize>) -> usize {
    physical.map_or(MAX_CLIENT_MEMORY_CAP, |bytes| {
        (bytes / 4).clamp(1, MAX_CLIENT_MEMORY_CAP)
    })
}

/// The `MemTotal:  16318412 kB` line of /proc/meminfo, in bytes (the kernel's "kB" are KiB).
fn mem_total_bytes(meminfo: &str) -> Option<usize> {
    let value = meminfo
        .lines()
        .find_map(|line| line.strip_prefix("MemTotal:"))?;
    let kib = value
        .trim()
        .strip_suffix("kB")?
        .trim_end()
        .parse::<usize>()
        .ok()?;
    kib.checked_mul(KIB)
}

/// Parses the command line (without the program name), reads the configuration file if one is
/// given, and merges both over the defaults.
pub fn parse_args<I, S>(args: I) -> Result<Invocation, ConfigError>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let args: Vec<S> = args.into_iter().collect();
    match flags::parse_flags(&args)? {
        flags::ParsedFlags::Help => Ok(Invocation::Help(usage())),
        flags::ParsedFlags::Version => Ok(Invocation::Version(flags::version())),
        flags::ParsedFlags::Settings(flags) => {
            let base = match &flags.config_file {
                Some(path) => file::read_config_file(path)?,
                None => Config::default(),
            };
            flags.apply(base).map(Invocation::Run)
        }
    }
}

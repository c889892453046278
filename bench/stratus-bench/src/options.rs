//! The command line of both modes, validated into options, and the usage text. Pure: it
//! neither prints nor exits nor looks at the file system, so every rule is unit-tested; `main`
//! reports a [`UsageError`] and exits with status 2.

use std::fmt;
use std::path::PathBuf;

use getopts::{Fail, Matches, Options};

use crate::protocol::Protocol;
pub use crate::usage::USAGE;
use crate::workload::{TestKind, MAX_KEYSPACE};

pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The subcommand that selects the persistence mode.
const PERSISTENCE_COMMAND: &str = "persistence";

/// What the command line asks for.
#[derive(Debug, PartialEq)]
pub enum Command {
    Load(LoadOptions),
    Persistence(PersistenceOptions),
    Help(&'static str),
    Version,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LoadOptions {
    pub host: String,
    pub port: u16,
    pub protocol: Protocol,
    pub clients: usize,
    pub requests: u64,
    pub pipeline: usize,
    pub data_size: usize,
    /// `None`: every request uses key 0.
    pub keyspace: Option<u64>,
    pub tests: Vec<TestKind>,
    pub json: bool,
    pub background_saves: bool,
    /// `--tls --cacert FILE`: speak TLS, verifying the server against the roots in FILE and
    /// the name in `host`. `None`: plain TCP.
    pub tls: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PersistenceOptions {
    pub keys: u64,
    pub data_size: usize,
    /// `None`: the `stratus` binary beside this one.
    pub stratus: Option<PathBuf>,
    /// `None`: `redis-server` from PATH, if there is one.
    pub redis_server: Option<PathBuf>,
    pub rounds: usize,
    pub json: bool,
}

pub const DEFAULT_CLIENTS: usize = 50;
pub const DEFAULT_REQUESTS: u64 = 100_000;
pub const DEFAULT_LOAD_DATA_SIZE: usize = 3;
pub const DEFAULT_KEYS: u64 = 1_000_000;
pub const DEFAULT_PERSISTENCE_DATA_SIZE: usize = 100;
pub const DEFAULT_ROUNDS: usize = 3;

/// Connections are file descriptors; more than this would meet the usual 1024 limit anyway.
const MAX_CLIENTS: usize = 10_000;
const MAX_PIPELINE: usize = 100_000;
/// One value, bounded so a typo cannot ask for gigabytes per request.
const MAX_DATA_SIZE: usize = 64 * 1024 * 1024;
/// Every connection holds one batch of requests in memory: clients × pipeline × request size.
const MAX_BATCH_MEMORY: u128 = 1 << 30;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UsageError {
    /// getopts' complaint: an unknown flag, a missing value, a repeated flag.
    Flag(String),
    Value {
        flag: &'static str,
        value: String,
        expected: &'static str,
    },
    UnknownTest(String),
    NoTests,
    UnexpectedArgument(String),
    TooMuchMemory {
        bytes: u128,
    },
    TlsWithoutCacert,
    CacertWithoutTls,
    ConnectWithBackgroundSaves,
    NotUtf8,
}

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UsageError::Flag(text) => f.write_str(text),
            UsageError::Value {
                flag,
                value,
                expected,
            } => write!(f, "invalid value '{value}' for {flag}: expected {expected}"),
            UsageError::UnknownTest(name) => write!(
                f,
                "unknown test '{name}' in -t/--tests: expected set, get, heya, ping, mset or connect"
            ),
            UsageError::NoTests => f.write_str("-t/--tests names no test"),
            UsageError::UnexpectedArgument(argument) => {
                write!(f, "unexpected argument '{argument}'")
            }
            UsageError::TooMuchMemory { bytes } => write!(
                f,
                "clients x pipeline x request size is {bytes} bytes of requests in flight, \
                 over the limit of {MAX_BATCH_MEMORY}: lower -c, -P or -d"
            ),
            UsageError::TlsWithoutCacert => f.write_str(
                "--tls needs --cacert FILE: the PEM certificate(s) to verify the server's against",
            ),
            UsageError::CacertWithoutTls => f.write_str("--cacert is only used with --tls"),
            UsageError::ConnectWithBackgroundSaves => {
                f.write_str("--background-saves does not apply to the connect test")
            }
            UsageError::NotUtf8 => f.write_str("an argument is not valid UTF-8"),
        }
    }
}

impl std::error::Error for UsageError {}

/// Parses the arguments after the program name.
pub fn parse(args: &[String]) -> Result<Command, UsageError> {
    match args.first() {
        Some(first) if first == PERSISTENCE_COMMAND => parse_persistence(&args[1..]),
        _ => parse_load(args),
    }
}

fn load_flags() -> Options {
    let mut options = Options::new();
    options
        .optopt("h", "host", "", "ADDR")
        .optopt("p", "port", "", "PORT")
        .optopt("", "protocol", "", "NAME")
        .optopt("c", "clients", "", "N")
        .optopt("n", "requests", "", "N")
        .optopt("P", "pipeline", "", "N")
        .optopt("d", "data-size", "", "B")
        .optopt("r", "keyspace", "", "N")
        .optopt("t", "tests", "", "LIST")
        .optflag("", "background-saves", "")
        .optflag("", "tls", "")
        .optopt("", "cacert", "", "FILE")
        .optflag("", "json", "")
        .optflag("", "help", "")
        .optflag("", "version", "");
    options
}

fn persistence_flags() -> Options {
    let mut options = Options::new();
    options
        .optopt("", "keys", "", "N")
        .optopt("d", "data-size", "", "B")
        .optopt("", "stratus", "", "PATH")
        .optopt("", "redis-server", "", "PATH")
        .optopt("", "rounds", "", "R")
        .optflag("", "json", "")
        .optflag("", "help", "")
        .optflag("", "version", "");
    options
}

/// A whole-number flag: its long name, how messages show it, its default and its range.
struct NumberFlag {
    long: &'static str,
    shown: &'static str,
    default: u64,
    min: u64,
    max: u64,
    expected: &'static str,
}

const CLIENTS: NumberFlag = NumberFlag {
    long: "clients",
    shown: "-c/--clients",
    default: DEFAULT_CLIENTS as u64,
    min: 1,
    max: MAX_CLIENTS as u64,
    expected: "a whole number from 1 to 10000",
};
const REQUESTS: NumberFlag = NumberFlag {
    long: "requests",
    shown: "-n/--requests",
    default: DEFAULT_REQUESTS,
    min: 1,
    max: u64::MAX,
    expected: "a whole number of at least 1",
};
const PIPELINE: NumberFlag = NumberFlag {
    long: "pipeline",
    shown: "-P/--pipeline",
    default: 1,
    min: 1,
    max: MAX_PIPELINE as u64,
    expected: "a whole number from 1 to 100000",
};
const LOAD_DATA_SIZE: NumberFlag = NumberFlag {
    long: "data-size",
    shown: "-d/--data-size",
    default: DEFAULT_LOAD_DATA_SIZE as u64,
    min: 0,
    max: MAX_DATA_SIZE as u64,
    expected: "a size in bytes from 0 to 67108864",
};
/// Read with [`optional_number`]: the default port depends on the protocol.
const PORT: NumberFlag = NumberFlag {
    long: "port",
    shown: "-p/--port",
    default: 0,
    min: 1,
    max: u16::MAX as u64,
    expected: "a port from 1 to 65535",
};
/// Read with [`optional_number`]: without `-r` every request uses one key.
const KEYSPACE: NumberFlag = NumberFlag {
    long: "keyspace",
    shown: "-r/--keyspace",
    default: 0,
    min: 1,
    max: MAX_KEYSPACE,
    expected: "a whole number from 1 to 1000000000000",
};
const KEYS: NumberFlag = NumberFlag {
    long: "keys",
    shown: "--keys",
    default: DEFAULT_KEYS,
    ..KEYSPACE
};
const PERSISTENCE_DATA_SIZE: NumberFlag = NumberFlag {
    long: "data-size",
    shown: "-d/--data-size",
    default: DEFAULT_PERSISTENCE_DATA_SIZE as u64,
    min: 1,
    max: MAX_DATA_SIZE as u64,
    expected: "a size in bytes from 1 to 67108864",
};
const ROUNDS: NumberFlag = NumberFlag {
    long: "rounds",
    shown: "--rounds",
    default: DEFAULT_ROUNDS as u64,
    min: 1,
    max: 1000,
    expected: "a whole number from 1 to 1000",
};

fn parse_load(args: &[String]) -> Result<Command, UsageError> {
    let matches = matches(&load_flags(), args)?;
    if let Some(command) = help_or_version(&matches) {
        return Ok(command);
    }
    let protocol = protocol_flag(&matches)?;
    let tls = tls_flags(&matches)?;
    let options = LoadOptions {
        host: matches
            .opt_str("host")
            .unwrap_or_else(|| "127.0.0.1".to_owned()),
        port: optional_number(&matches, &PORT)?
            .map_or(protocol.default_port(tls.is_some()), |port| port as u16),
        protocol,
        clients: number_flag(&matches, &CLIENTS)? as usize,
        requests: number_flag(&matches, &REQUESTS)?,
        pipeline: number_flag(&matches, &PIPELINE)? as usize,
        data_size: number_flag(&matches, &LOAD_DATA_SIZE)? as usize,
        keyspace: optional_number(&matches, &KEYSPACE)?,
        tests: match matches.opt_str("tests") {
            None => vec![TestKind::Set, TestKind::Get],
            Some(list) => parse_tests(&list)?,
        },
        json: matches.opt_present("json"),
        background_saves: matches.opt_present("background-saves"),
        tls,
    };
    if options.background_saves && options.tests.contains(&TestKind::Connect) {
        return Err(UsageError::ConnectWithBackgroundSaves);
    }
    check_batch_memory(&options)?;
    Ok(Command::Load(options))
}

fn help_or_version(matches: &Matches) -> Option<Command> {
    if matches.opt_present("help") {
        Some(Command::Help(USAGE))
    } else if matches.opt_present("version") {
        Some(Command::Version)
    } else {
        None
    }
}

fn protocol_flag(matches: &Matches) -> Result<Protocol, UsageError> {
    match matches.opt_str("protocol").as_deref() {
        None | Some("skyhash") => Ok(Protocol::Skyhash),
        Some("resp") => Ok(Protocol::Resp),
        Some(other) => Err(UsageError::Value {
            flag: "--protocol",
            value: other.to_owned(),
            expected: "skyhash or resp",
        }),
    }
}

/// `--tls` and `--cacert` go together.
fn tls_flags(matches: &Matches) -> Result<Option<PathBuf>, UsageError> {
    match (matches.opt_present("tls"), matches.opt_str("cacert")) {
        (true, Some(cacert)) => Ok(Some(PathBuf::from(cacert))),
        (true, None) => Err(UsageError::TlsWithoutCacert),
        (false, Some(_)) => Err(UsageError::CacertWithoutTls),
        (false, None) => Ok(None),
    }
}

/// Every connection holds one batch of requests in memory: refuses a command line whose
/// batches would exceed [`MAX_BATCH_MEMORY`] together.
fn check_batch_memory(options: &LoadOptions) -> Result<(), UsageError> {
    // An MSET request carries ten values; the others at most one.
    let request_bytes = options.data_size as u128 * 10 + 256;
    let in_flight = options.clients as u128 * options.pipeline as u128 * request_bytes;
    if in_flight > MAX_BATCH_MEMORY {
        return Err(UsageError::TooMuchMemory { bytes: in_flight });
    }
    Ok(())
}

fn parse_persistence(args: &[String]) -> Result<Command, UsageError> {
    let matches = matches(&persistence_flags(), args)?;
    if let Some(command) = help_or_version(&matches) {
        return Ok(command);
    }
    Ok(Command::Persistence(PersistenceOptions {
        keys: number_flag(&matches, &KEYS)?,
        data_size: number_flag(&matches, &PERSISTENCE_DATA_SIZE)? as usize,
        stratus: matches.opt_str("stratus").map(PathBuf::from),
        redis_server: matches.opt_str("redis-server").map(PathBuf::from),
        rounds: number_flag(&matches, &ROUNDS)? as usize,
        json: matches.opt_present("json"),
    }))
}

fn matches(options: &Options, args: &[String]) -> Result<Matches, UsageError> {
    let matches = options.parse(args).map_err(|fail| {
        UsageError::Flag(match fail {
            // `-h` is the host, as in redis-benchmark and the server; someone asking for help
            // with it deserves a pointer.
            Fail::ArgumentMissing(ref name) if name == "h" => {
                "-h/--host needs an address (for help, use --help)".to_owned()
            }
            other => other.to_string(),
        })
    })?;
    if let Some(extra) = matches.free.first() {
        return Err(UsageError::UnexpectedArgument(extra.clone()));
    }
    Ok(matches)
}

/// The flag's value, or its default when it is absent.
fn number_flag(matches: &Matches, flag: &NumberFlag) -> Result<u64, UsageError> {
    Ok(optional_number(matches, flag)?.unwrap_or(flag.default))
}

/// The flag's value, `None` when it is absent.
fn optional_number(matches: &Matches, flag: &NumberFlag) -> Result<Option<u64>, UsageError> {
    let Some(text) = matches.opt_str(flag.long) else {
        return Ok(None);
    };
    text.parse::<u64>()
        .ok()
        .filter(|value| (flag.min..=flag.max).contains(value))
        .map(Some)
        .ok_or(UsageError::Value {
            flag: flag.shown,
            value: text,
            expected: flag.expected,
        })
}

fn parse_tests(list: &str) -> Result<Vec<TestKind>, UsageError> {
    let tests = list
        .split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(|name| TestKind::from_flag(name).ok_or_else(|| UsageError::UnknownTest(name.into())))
        .collect::<Result<Vec<_>, _>>()?;
    if tests.is_empty() {
        return Err(UsageError::NoTests);
    }
    Ok(tests)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_owned).collect()
    }

    fn load(line: &str) -> LoadOptions {
        match parse(&args(line)) {
            Ok(Command::Load(options)) => options,
            other => panic!("{line}: {other:?}"),
        }
    }

    fn error(line: &str) -> String {
        match parse(&args(line)) {
            Err(error) => error.to_string(),
            other => panic!("{line}: expected an error, got {other:?}"),
        }
    }

    #[test]
    fn load_defaults() {
        assert_eq!(
            load(""),
            LoadOptions {
                host: "127.0.0.1".into(),
                port: 2003,
                protocol: Protocol::Skyhash,
                clients: 50,
                requests: 100_000,
                pipeline: 1,
                data_size: 3,
                keyspace: None,
                tests: vec![TestKind::Set, TestKind::Get],
                json: false,
                background_saves: false,
                tls: None,
            }
        );
    }

    #[test]
    fn the_default_port_follows_the_protocol() {
        assert_eq!(load("--protocol resp").port, 6379);
        assert_eq!(load("--protocol resp -p 7501").port, 7501);
        assert_eq!(load("--port 7500").port, 7500);
        assert_eq!(load("--tls --cacert c.pem").port, 2004);
        assert_eq!(load("--tls --cacert c.pem --protocol resp").port, 6379);
        assert_eq!(load("--tls --cacert c.pem -p 7502").port, 7502);
    }

    #[test]
    fn tls_flags() {
        let options = load("--protocol resp --tls --cacert /tmp/c.pem -t set,get,connect");
        assert_eq!(options.tls, Some(PathBuf::from("/tmp/c.pem")));
        assert_eq!(
            options.tests,
            vec![TestKind::Set, TestKind::Get, TestKind::Connect]
        );
        assert_eq!(load("-t connect -P 16").pipeline, 16);
        assert_eq!(
            error("--tls"),
            "--tls needs --cacert FILE: the PEM certificate(s) to verify the server's against"
        );
        assert_eq!(error("--cacert c.pem"), "--cacert is only used with --tls");
        assert_eq!(
            error("--tls --cacert"),
            "Argument to option 'cacert' missing"
        );
        assert_eq!(
            error("-t get,connect --background-saves"),
            "--background-saves does not apply to the connect test"
        );
        assert_eq!(load("-t get --background-saves").tls, None);
    }

    #[test]
    fn every_load_flag() {
        let options = load(
            "-h ::1 -p 7 --protocol resp -c 4 -n 10 -P 16 -d 100 -r 1000 -t get,ping,SET,mset \
             --json --background-saves",
        );
        assert_eq!(
            options,
            LoadOptions {
                host: "::1".into(),
                port: 7,
                protocol: Protocol::Resp,
                clients: 4,
                requests: 10,
                pipeline: 16,
                data_size: 100,
                keyspace: Some(1000),
                tests: vec![TestKind::Get, TestKind::Noop, TestKind::Set, TestKind::Mset],
                json: true,
                background_saves: true,
                tls: None,
            }
        );
        assert_eq!(
            load("--clients 2 --requests 3 --pipeline 4 --data-size 0 --keyspace 1 --tests heya"),
            LoadOptions {
                clients: 2,
                requests: 3,
                pipeline: 4,
                data_size: 0,
                keyspace: Some(1),
                tests: vec![TestKind::Noop],
                ..load("")
            }
        );
    }

    #[test]
    fn bad_load_flags() {
        assert_eq!(
            error("-c 0"),
            "invalid value '0' for -c/--clients: expected a whole number from 1 to 10000"
        );
        assert_eq!(
            error("-n many"),
            "invalid value 'many' for -n/--requests: expected a whole number of at least 1"
        );
        assert_eq!(
            error("-p 70000"),
            "invalid value '70000' for -p/--port: expected a port from 1 to 65535"
        );
        assert_eq!(
            error("--protocol http"),
            "invalid value 'http' for --protocol: expected skyhash or resp"
        );
        assert_eq!(
            error("-r 0"),
            "invalid value '0' for -r/--keyspace: expected a whole number from 1 to 1000000000000"
        );
        assert_eq!(
            error("-t set,lpush"),
            "unknown test 'lpush' in -t/--tests: expected set, get, heya, ping, mset or connect"
        );
        assert_eq!(error("-t ,"), "-t/--tests names no test");
        assert_eq!(error("--frobnicate"), "Unrecognized option: 'frobnicate'");
        assert_eq!(error("-c"), "Argument to option 'c' missing");
        assert_eq!(
            error("-h"),
            "-h/--host needs an address (for help, use --help)"
        );
        assert_eq!(error("set"), "unexpected argument 'set'");
        assert!(error("-c 10000 -P 100000 -d 100").contains("lower -c, -P or -d"));
    }

    #[test]
    fn help_and_version() {
        assert_eq!(parse(&args("--help")), Ok(Command::Help(USAGE)));
        assert_eq!(parse(&args("-c 5 --version")), Ok(Command::Version));
        assert_eq!(parse(&args("persistence --help")), Ok(Command::Help(USAGE)));
    }

    #[test]
    fn persistence_flags_and_defaults() {
        assert_eq!(
            parse(&args("persistence")),
            Ok(Command::Persistence(PersistenceOptions {
                keys: 1_000_000,
                data_size: 100,
                stratus: None,
                redis_server: None,
                rounds: 3,
                json: false,
            }))
        );
        assert_eq!(
            parse(&args(
                "persistence --keys 200000 -d 10 --stratus /x/stratus --redis-server /y/rs \
                 --rounds 1 --json"
            )),
            Ok(Command::Persistence(PersistenceOptions {
                keys: 200_000,
                data_size: 10,
                stratus: Some("/x/stratus".into()),
                redis_server: Some("/y/rs".into()),
                rounds: 1,
                json: true,
            }))
        );
    }

    #[test]
    fn bad_persistence_flags() {
        assert_eq!(
            error("persistence --rounds 0"),
            "invalid value '0' for --rounds: expected a whole number from 1 to 1000"
        );
        assert_eq!(error("persistence -c 5"), "Unrecognized option: 'c'");
        assert_eq!(error("persistence now"), "unexpected argument 'now'");
    }
}

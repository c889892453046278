//! Unit tests of the configuration, one file per concern: `flags` (the command line alone),
//! `file` (a configuration file alone), `layers` (flags laid over a file), `logging` (what is
//! logged on the way), and one file per Stratus setting (`busy_poll`, `client_memory`,
//! `journal`, `listeners`). The helpers run the real entry points, with the file's text given
//! directly, so that no test needs a file on disk unless it tests reading one.

mod busy_poll;
mod client_memory;
mod file;
mod flags;
mod journal;
mod layers;
mod listeners;
mod logging;

use super::file::{config_from_toml, deserialize_config_file};
use super::flags::{parse_flags, ParsedFlags};
use super::*;

use std::ffi::OsStr;
use std::net::Ipv6Addr;
use std::path::Path;

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
        Ok(ParsedFlags::Settings(flags)) => match flags.apply(from_file(text)) {
            Ok(config) => config,
            Err(error) => panic!("expected {args:?} over {text:?} to be accepted, got {error}"),
        },
        Ok(_) => panic!("expected settings for {args:?}"),
        Err(error) => panic!("expected {args:?} to parse, got {error}"),
    }
}

/// The error `parse_args` reports for `args` when `-c test.toml` holds `text`.
fn merge_error(args: &[&str], text: &str) -> String {
    match parse_flags(args) {
        Ok(ParsedFlags::Settings(flags)) => match flags.apply(from_file(text)) {
            Ok(config) => panic!("expected {args:?} over {text:?} to be refused, got {config:?}"),
            Err(error) => error.to_string(),
        },
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

/// Asserts that `--help` prints each of `lines` as a whole line.
fn assert_usage_has_lines(lines: &[&str]) {
    let text = usage();
    for line in lines {
        assert!(
            text.lines().any(|printed| printed == *line),
            "missing line {line:?} in\n{text}"
        );
    }
}

const MINIMAL_FILE: &str = "[server]\nhost = \"127.0.0.1\"\nport = 2003\n";

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

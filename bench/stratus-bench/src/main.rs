//! stratus-bench: measures Stratus (Skyhash 1.0) and Redis (RESP2) side by side with one tool.
//! This file only reads the command line, runs the mode and maps the outcome to an exit status
//! (0 all good, 1 a failed or erroneous run, 2 a bad command line). Modules: `options` and
//! `usage` (the command line), `workload` (requests, accepted replies), `load` (what the load
//! tests share), `client` + `saver` (the request tests' mio engine), `connect` (the connection
//! test's), `wire` + `tls` (plain or TLS connections), `persistence` + `blocking`, `protocol` +
//! `resp` (wire formats; Skyhash replies are parsed by the server library's
//! `stratus::protocol::reply`), `report`.

mod blocking;
mod client;
mod connect;
mod load;
mod options;
mod persistence;
mod protocol;
mod report;
mod resp;
mod saver;
mod tls;
mod usage;
mod wire;
mod workload;

use std::process::ExitCode;

use load::LoadError;
use options::{Command, LoadOptions, UsageError};
use tls::TlsClient;
use workload::{KeyChooser, TestKind};

const EXIT_FAILED: u8 = 1;
const EXIT_USAGE: u8 = 2;

fn main() -> ExitCode {
    let args: Result<Vec<String>, UsageError> = std::env::args_os()
        .skip(1)
        .map(|arg| arg.into_string().map_err(|_| UsageError::NotUtf8))
        .collect();
    let command = match args.and_then(|args| options::parse(&args)) {
        Ok(command) => command,
        Err(error) => {
            eprintln!("stratus-bench: {error} (see --help)");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    match command {
        Command::Help(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Command::Version => {
            println!("stratus-bench {}", options::VERSION);
            ExitCode::SUCCESS
        }
        Command::Load(options) => run_load(&options),
        Command::Persistence(options) => match persistence::run(&options) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("stratus-bench: persistence: {error}");
                ExitCode::from(EXIT_FAILED)
            }
        },
    }
}

/// Runs every test in order, printing each line as its test ends (or the JSON at the end).
fn run_load(options: &LoadOptions) -> ExitCode {
    let target = load::resolve(&options.host, options.port).and_then(|addr| {
        let tls = options
            .tls
            .as_deref()
            .map(|cacert| TlsClient::new(cacert, &options.host));
        Ok((addr, tls.transpose().map_err(LoadError::TlsSetup)?))
    });
    let (addr, tls) = match target {
        Ok(target) => target,
        Err(error) => {
            eprintln!("stratus-bench: {error}");
            return ExitCode::from(EXIT_FAILED);
        }
    };
    let mut keys = KeyChooser::new(options.keyspace);
    let mut outcomes = Vec::with_capacity(options.tests.len());
    for &kind in &options.tests {
        let outcome = match kind {
            TestKind::Connect => connect::run_test(options, addr, tls.as_ref()),
            _ => client::run_test(options, addr, tls.as_ref(), kind, &mut keys),
        };
        match outcome {
            Ok(outcome) => {
                if !options.json {
                    println!("{}", report::load_text(&outcome, options));
                }
                outcomes.push(outcome);
            }
            Err(error) => {
                eprintln!("stratus-bench: {}: {error}", kind.name(options.protocol));
                if options.json && !outcomes.is_empty() {
                    println!("{}", report::load_json(&outcomes, options));
                }
                return ExitCode::from(EXIT_FAILED);
            }
        }
    }
    if options.json {
        println!("{}", report::load_json(&outcomes, options));
    }
    let clean = outcomes
        .iter()
        .all(|outcome| outcome.errors == 0 && outcome.stopped.is_none());
    if clean {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_FAILED)
    }
}

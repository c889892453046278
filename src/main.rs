//! The `stratus` daemon: flags and configuration in, `Server::run()`, errors out as exit codes.

use std::process::ExitCode;

use log::error;
use stratus::config::{self, Invocation};
use stratus::server::Server;

/// mimalloc rather than the system allocator: loading a million keys and freeing them (FLUSHDB)
/// are several times faster, and memory is returned to the system more readily.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Printed at startup unless `--noart` is given (or `noart = true` in the configuration file).
const BANNER: &str = r"
   _____ __             __
  / ___// /__________ _/ /___  _______
  \__ \/ __/ ___/ __ `/ __/ / / / ___/
 ___/ / /_/ /  / /_/ / /_/ /_/ (__  )
/____/\__/_/   \__,_/\__/\__,_/____/
";

fn main() -> ExitCode {
    stratus::logger::init();
    let config = match config::parse_args(std::env::args_os().skip(1)) {
        Ok(Invocation::Run(config)) => config,
        Ok(Invocation::Help(text)) => {
            print!("{text}");
            return ExitCode::SUCCESS;
        }
        Ok(Invocation::Version(text)) => {
            println!("{text}");
            return ExitCode::SUCCESS;
        }
        Err(error) => {
            error!("{error}");
            return ExitCode::FAILURE;
        }
    };
    if !config.noart {
        println!(
            "{BANNER}\nStratus v{} | Skyhash 1.0 | compatible with Skytable 0.6\n",
            env!("CARGO_PKG_VERSION")
        );
    }
    match Server::start(config).and_then(Server::run) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            error!("{error}");
            ExitCode::FAILURE
        }
    }
}

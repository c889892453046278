//! `stratus-check [--repair] PATH…`: checks data files, journal segments and data directories
//! (see `stratus::check`), and maps the outcome to an exit status: 0 all good, 1 a fault left,
//! 2 bad usage.

use std::io;
use std::path::PathBuf;
use std::process::ExitCode;

use stratus::check::Checker;

const USAGE: &str = "\
Usage: stratus-check [--repair] PATH...

Checks Stratus files the way a start reads them. Each PATH is a data file (data.bin or a
snapshot: Stratus format version 1 or 2, or Skytable 0.6), a journal segment
(journal/NNNNNNNNNNNNNNNN.sjl), or a data directory: its data.bin, every file under
snapshots/ and snapshots/remote/, and journal/ as the chain a start replays after data.bin.
For each file it prints what it holds and the first fault, with its offset.

Options:
    --repair      truncate a torn tail of the last journal segment, as a start would, after
                  copying the segment to <file>.bak-<unix time> beside it; nothing else is
                  ever repaired, and nothing while a server holds the data directory
    -h, --help    print this help

Exit status: 0 if every file is good (or repaired), 1 if a fault is left, 2 on bad usage.
";

fn main() -> ExitCode {
    let mut options = getopts::Options::new();
    options.optflag("", "repair", "");
    options.optflag("h", "help", "");
    let args: Vec<String> = std::env::args().skip(1).collect();
    let matches = match options.parse(&args) {
        Ok(matches) => matches,
        Err(error) => return usage_error(&error.to_string()),
    };
    if matches.opt_present("help") {
        print!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    if matches.free.is_empty() {
        return usage_error("no PATH to check");
    }
    let mut checker = Checker::new(io::stdout().lock(), matches.opt_present("repair"));
    let checked = matches
        .free
        .iter()
        .try_for_each(|path| checker.check(&PathBuf::from(path)))
        .and_then(|()| checker.finish());
    match checked {
        Ok(0) => ExitCode::SUCCESS,
        Ok(_) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("stratus-check: cannot write the report: {error}");
            ExitCode::FAILURE
        }
    }
}

fn usage_error(what: &str) -> ExitCode {
    eprint!("stratus-check: {what}\n\n{USAGE}");
    ExitCode::from(2)
}

//! What the server says about its own commands: COMMAND, COMMAND INFO and the HELP of each
//! container, in Redis 7.0's reply shapes, built from the table of commands so they cannot
//! disagree with it. COMMAND DOCS answers an empty map: Stratus carries no documentation.

use super::{find, top_level, CommandKind, Effect, Spec, COMMANDS, NO_KEYS};
use crate::args::Args;
use crate::resp::write;
use crate::sink::Sink;

/// Fields of one command's description in COMMAND's reply.
const DESCRIPTION_FIELDS: usize = 10;

/// One command as COMMAND describes it: name, arity, flags, first key, last key, step, ACL
/// categories, tips, key specifications (the last three empty), subcommands.
fn describe(spec: &Spec, out: &mut impl Sink) {
    write::array_header(out, DESCRIPTION_FIELDS);
    write::bulk(out, spec.name.as_bytes());
    write::integer(out, i64::from(spec.arity));
    let flag = match spec.effect {
        Effect::Write => Some("write"),
        Effect::Read if spec.keys != NO_KEYS => Some("readonly"),
        Effect::Read => None,
    };
    write::array_header(out, usize::from(flag.is_some()));
    if let Some(flag) = flag {
        write::simple(out, flag);
    }
    for position in [spec.keys.first, spec.keys.last, spec.keys.step] {
        write::integer(out, position);
    }
    for _empty in 0..3 {
        write::array_header(out, 0);
    }
    write::array_header(out, spec.subcommands().count());
    for sub in spec.subcommands() {
        describe(sub, out);
    }
}

/// COMMAND: every top-level command.
pub fn all(out: &mut impl Sink) {
    write::array_header(out, top_level().count());
    for spec in top_level() {
        describe(spec, out);
    }
}

/// A command or subcommand by its full name (`get`, `client|setname`), ignoring case.
fn by_full_name(name: &[u8]) -> Option<&'static Spec> {
    find(name).or_else(|| {
        COMMANDS
            .iter()
            .find(|spec| spec.name.as_bytes().eq_ignore_ascii_case(name))
    })
}

/// COMMAND INFO [name …]: each one's description, or nil; all of them without names.
pub fn info(args: Args<'_>, out: &mut impl Sink) {
    let names = args.skip(2);
    if names.is_empty() {
        return all(out);
    }
    write::array_header(out, names.len());
    for name in names.iter() {
        match by_full_name(name) {
            Some(spec) => describe(spec, out),
            None => write::nil(out),
        }
    }
}

/// The lines of a container's HELP between Redis's first line and its closing `HELP`.
fn help_lines(kind: CommandKind) -> (&'static str, &'static [&'static str]) {
    match kind {
        CommandKind::ClientHelp => (
            "CLIENT",
            &[
                "GETNAME",
                "    Return the name of the current connection.",
                "ID",
                "    Return the ID of the current connection.",
                "SETINFO <option> <value>",
                "    Set client meta attr. Options are:",
                "    * LIB-NAME: the client lib name.",
                "    * LIB-VER: the client lib version.",
                "SETNAME <name>",
                "    Assign the name <name> to the current connection.",
            ],
        ),
        CommandKind::CommandHelp => (
            "COMMAND",
            &[
                "(no subcommand)",
                "    Return details about all commands.",
                "COUNT",
                "    Return the total number of commands in this server.",
                "INFO [<command-name> ...]",
                "    Return details about multiple commands.",
                "    If no command names are given, details for all commands are returned.",
                "DOCS [<command-name> ...]",
                "    Return documentation details: none, Stratus carries no documentation.",
            ],
        ),
        _ => (
            "CONFIG",
            &[
                "GET <pattern>",
                "    Return parameters matching the glob-like <pattern> and their values.",
            ],
        ),
    }
}

/// `CLIENT HELP`, `COMMAND HELP`, `CONFIG HELP`: simple strings, as Redis's `addReplyHelp`.
pub fn help(kind: CommandKind, out: &mut impl Sink) {
    let (container, lines) = help_lines(kind);
    write::array_header(out, lines.len() + 3);
    write::simple(
        out,
        &format!("{container} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"),
    );
    for line in lines {
        write::simple(out, line);
    }
    write::simple(out, "HELP");
    write::simple(out, "    Prints this help.");
}

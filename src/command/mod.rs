//! The Redis commands Stratus answers over RESP2: one table of what each command is (its
//! name, its arity with Redis's sign convention, whether it writes, where its keys are), and
//! execution against the same [`Table`] the Skyhash actions use, with Redis 7.0.15's replies
//! and error texts byte for byte.
//!
//! [`execute`] resolves the name (case-insensitively; `CLIENT`, `COMMAND` and `CONFIG` are
//! containers of subcommands), checks the arity, refuses writes with `-MISCONF` when told to
//! (poisoning is the caller's fact, passed in as [`Writes`]), then runs the command and writes
//! exactly one reply. Commands about the server (INFO, CONFIG GET, SAVE, BGSAVE, LASTSAVE) are
//! only parsed here and handed back as a [`ServerRequest`]. No I/O and no persistence here;
//! every change goes through the table's own primitives, which is where the journal sees it.

mod connection;
mod describe;
pub mod errors;
pub mod glob;
mod keyspace;
mod server;
mod strings;

pub use crate::action::Writes;
pub use connection::REDIS_VERSION;
pub use server::{config_get, InfoSection, InfoSections, ServerRequest};

use crate::args::Args;
use crate::resp::write;
use crate::sink::Sink;
use crate::table::Table;

/// What a RESP connection remembers between its commands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// `CLIENT ID`: unique among the server's connections, from 1.
    pub id: u64,
    /// `CLIENT SETNAME`.
    pub name: Option<Vec<u8>>,
}

impl Session {
    pub fn new(id: u64) -> Session {
        Session { id, name: None }
    }

    /// The memory the session holds, for the client memory budget.
    pub fn held_bytes(&self) -> usize {
        self.name.as_ref().map_or(0, Vec::capacity)
    }
}

/// Every command and subcommand Stratus answers, in the order of the table of commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandKind {
    Ping,
    Echo,
    Get,
    Set,
    Setnx,
    Getset,
    Getdel,
    Mget,
    Mset,
    Msetnx,
    Del,
    Unlink,
    Exists,
    Strlen,
    Append,
    Incr,
    Decr,
    Incrby,
    Decrby,
    Setex,
    Psetex,
    Expire,
    Pexpire,
    Expireat,
    Pexpireat,
    Dbsize,
    Flushdb,
    Flushall,
    Keys,
    Scan,
    Type,
    Ttl,
    Pttl,
    Persist,
    Select,
    Quit,
    Hello,
    Auth,
    Client,
    ClientSetname,
    ClientGetname,
    ClientId,
    ClientSetinfo,
    ClientHelp,
    Command,
    CommandCount,
    CommandDocs,
    CommandInfo,
    CommandHelp,
    Config,
    ConfigGet,
    ConfigSet,
    ConfigHelp,
    Info,
    Save,
    Bgsave,
    Lastsave,
}

/// Whether a command may modify the table: a poisoned server refuses [`Effect::Write`] ones
/// with `-MISCONF`, even when the call would change nothing (`DEL missing`), as Redis does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Effect {
    Read,
    Write,
}

/// Where a command's keys are, as COMMAND reports it: first, last (negative: from the end),
/// step; all zero for a command without keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Keys {
    first: i64,
    last: i64,
    step: i64,
}

/// One command's facts: the row of [`COMMANDS`] for it.
#[derive(Debug)]
struct Spec {
    kind: CommandKind,
    /// Lower case, as Redis names it in errors; a subcommand is `container|sub`.
    name: &'static str,
    /// Redis's convention, counting the name: `n` exactly `n` arguments, `-n` at least `n`.
    arity: i32,
    effect: Effect,
    keys: Keys,
}

const NO_KEYS: Keys = Keys {
    first: 0,
    last: 0,
    step: 0,
};
const ONE_KEY: Keys = Keys {
    first: 1,
    last: 1,
    step: 1,
};
const ALL_KEYS: Keys = Keys {
    first: 1,
    last: -1,
    step: 1,
};
const KEY_VALUE_PAIRS: Keys = Keys {
    first: 1,
    last: -1,
    step: 2,
};

const fn row(
    kind: CommandKind,
    name: &'static str,
    arity: i32,
    effect: Effect,
    keys: Keys,
) -> Spec {
    Spec {
        kind,
        name,
        arity,
        effect,
        keys,
    }
}

/// The commands, one row each, in [`CommandKind`] order. Arity and the write flag are Redis
/// 7.0.15's (`src/commands/*.json`).
#[rustfmt::skip]
const COMMANDS: [Spec; 57] = {
    use CommandKind::*;
    use Effect::*;
    [
        row(Ping,          "ping",           -1, Read,  NO_KEYS),
        row(Echo,          "echo",            2, Read,  NO_KEYS),
        row(Get,           "get",             2, Read,  ONE_KEY),
        row(Set,           "set",            -3, Write, ONE_KEY),
        row(Setnx,         "setnx",           3, Write, ONE_KEY),
        row(Getset,        "getset",          3, Write, ONE_KEY),
        row(Getdel,        "getdel",          2, Write, ONE_KEY),
        row(Mget,          "mget",           -2, Read,  ALL_KEYS),
        row(Mset,          "mset",           -3, Write, KEY_VALUE_PAIRS),
        row(Msetnx,        "msetnx",         -3, Write, KEY_VALUE_PAIRS),
        row(Del,           "del",            -2, Write, ALL_KEYS),
        row(Unlink,        "unlink",         -2, Write, ALL_KEYS),
        row(Exists,        "exists",         -2, Read,  ALL_KEYS),
        row(Strlen,        "strlen",          2, Read,  ONE_KEY),
        row(Append,        "append",          3, Write, ONE_KEY),
        row(Incr,          "incr",            2, Write, ONE_KEY),
        row(Decr,          "decr",            2, Write, ONE_KEY),
        row(Incrby,        "incrby",          3, Write, ONE_KEY),
        row(Decrby,        "decrby",          3, Write, ONE_KEY),
        row(Setex,         "setex",           4, Write, ONE_KEY),
        row(Psetex,        "psetex",          4, Write, ONE_KEY),
        row(Expire,        "expire",         -3, Write, ONE_KEY),
        row(Pexpire,       "pexpire",        -3, Write, ONE_KEY),
        row(Expireat,      "expireat",       -3, Write, ONE_KEY),
        row(Pexpireat,     "pexpireat",      -3, Write, ONE_KEY),
        row(Dbsize,        "dbsize",          1, Read,  NO_KEYS),
        row(Flushdb,       "flushdb",        -1, Write, NO_KEYS),
        row(Flushall,      "flushall",       -1, Write, NO_KEYS),
        row(Keys,          "keys",            2, Read,  NO_KEYS),
        row(Scan,          "scan",           -2, Read,  NO_KEYS),
        row(Type,          "type",            2, Read,  ONE_KEY),
        row(Ttl,           "ttl",             2, Read,  ONE_KEY),
        row(Pttl,          "pttl",            2, Read,  ONE_KEY),
        row(Persist,       "persist",         2, Write, ONE_KEY),
        row(Select,        "select",          2, Read,  NO_KEYS),
        row(Quit,          "quit",           -1, Read,  NO_KEYS),
        row(Hello,         "hello",          -1, Read,  NO_KEYS),
        row(Auth,          "auth",           -2, Read,  NO_KEYS),
        row(Client,        "client",         -2, Read,  NO_KEYS),
        row(ClientSetname, "client|setname",  3, Read,  NO_KEYS),
        row(ClientGetname, "client|getname",  2, Read,  NO_KEYS),
        row(ClientId,      "client|id",       2, Read,  NO_KEYS),
        row(ClientSetinfo, "client|setinfo",  4, Read,  NO_KEYS),
        row(ClientHelp,    "client|help",     2, Read,  NO_KEYS),
        row(Command,       "command",        -1, Read,  NO_KEYS),
        row(CommandCount,  "command|count",   2, Read,  NO_KEYS),
        row(CommandDocs,   "command|docs",   -2, Read,  NO_KEYS),
        row(CommandInfo,   "command|info",   -2, Read,  NO_KEYS),
        row(CommandHelp,   "command|help",    2, Read,  NO_KEYS),
        row(Config,        "config",         -2, Read,  NO_KEYS),
        row(ConfigGet,     "config|get",     -3, Read,  NO_KEYS),
        row(ConfigSet,     "config|set",     -4, Read,  NO_KEYS),
        row(ConfigHelp,    "config|help",     2, Read,  NO_KEYS),
        row(Info,          "info",           -1, Read,  NO_KEYS),
        row(Save,          "save",            1, Read,  NO_KEYS),
        row(Bgsave,        "bgsave",         -1, Read,  NO_KEYS),
        row(Lastsave,      "lastsave",        1, Read,  NO_KEYS),
    ]
};

impl Spec {
    fn accepts(&self, argc: usize) -> bool {
        let arity = self.arity.unsigned_abs() as usize;
        if self.arity >= 0 {
            argc == arity
        } else {
            argc >= arity
        }
    }

    fn is_container(&self) -> bool {
        matches!(
            self.kind,
            CommandKind::Client | CommandKind::Command | CommandKind::Config
        )
    }

    /// The subcommand rows of a container (none for any other command).
    fn subcommands(&self) -> impl Iterator<Item = &'static Spec> + '_ {
        let prefix_len = self.name.len();
        COMMANDS.iter().filter(move |spec| {
            self.is_container()
                && spec.name.len() > prefix_len + 1
                && spec.name.starts_with(self.name)
                && spec.name.as_bytes()[prefix_len] == b'|'
        })
    }

    /// The part of the name after `container|` (the whole name for a command).
    fn short_name(&self) -> &'static str {
        self.name.rsplit('|').next().unwrap_or(self.name)
    }
}

impl CommandKind {
    fn spec(self) -> &'static Spec {
        &COMMANDS[self as usize]
    }

    /// The name Redis gives it: lower case, `container|sub` for a subcommand.
    pub fn name(self) -> &'static str {
        self.spec().name
    }

    /// Whether the command may modify the table: a poisoned server refuses these.
    pub fn is_write(self) -> bool {
        self.spec().effect == Effect::Write
    }
}

/// The top-level commands (not subcommands).
fn top_level() -> impl Iterator<Item = &'static Spec> {
    COMMANDS.iter().filter(|spec| !spec.name.contains('|'))
}

/// The top-level command called `name`, ignoring ASCII letter case.
fn find(name: &[u8]) -> Option<&'static Spec> {
    top_level().find(|spec| spec.name.as_bytes().eq_ignore_ascii_case(name))
}

/// Why a request names no command of the table.
enum Unknown {
    Command,
    Subcommand,
}

/// The row a request names: its command, or the subcommand of a container that has one.
fn lookup(args: Args<'_>) -> Result<&'static Spec, Unknown> {
    let spec = find(args.get(0)).ok_or(Unknown::Command)?;
    if !spec.is_container() || args.len() < 2 {
        return Ok(spec);
    }
    let sub = args.get(1);
    spec.subcommands()
        .find(|row| row.short_name().as_bytes().eq_ignore_ascii_case(sub))
        .ok_or(Unknown::Subcommand)
}

/// What [`execute`] did with a command.
#[derive(Debug, Clone)]
pub enum Outcome<'a> {
    /// The reply has been written.
    Answered,
    /// The reply has been written and the connection is to be closed after it (QUIT).
    Close,
    /// Nothing has been written: the server must carry out this request and answer it.
    Server(ServerRequest<'a>),
}

/// Runs one command: `args` is the request, its name first. Writes exactly one reply to
/// `out`, unless it returns [`Outcome::Server`].
pub fn execute<'a>(
    table: &mut Table,
    writes: Writes,
    session: &mut Session,
    args: Args<'a>,
    out: &mut impl Sink,
) -> Outcome<'a> {
    let spec = match lookup(args) {
        Ok(spec) => spec,
        Err(Unknown::Command) => {
            let text = errors::unknown_command(args.get(0), args.skip_first().iter());
            write::error_bytes(out, &text);
            return Outcome::Answered;
        }
        Err(Unknown::Subcommand) => {
            write::error_bytes(out, &errors::unknown_subcommand(args.get(0), args.get(1)));
            return Outcome::Answered;
        }
    };
    if !spec.accepts(args.len()) {
        write::error(out, &errors::wrong_arity(spec.name));
        return Outcome::Answered;
    }
    if spec.effect == Effect::Write && writes == Writes::Refused {
        write::error(out, errors::MISCONF);
        return Outcome::Answered;
    }
    run(spec.kind, table, session, args, out)
}

fn run<'a>(
    kind: CommandKind,
    table: &mut Table,
    session: &mut Session,
    args: Args<'a>,
    out: &mut impl Sink,
) -> Outcome<'a> {
    use CommandKind::*;
    match kind {
        Ping => connection::ping(args, out),
        Echo => write::bulk(out, args.get(1)),
        Get => strings::get(table, args, out),
        Set => strings::set(table, args, out),
        Setnx => strings::setnx(table, args, out),
        Getset => strings::getset(table, args, out),
        Getdel => strings::getdel(table, args, out),
        Mget => strings::mget(table, args, out),
        Mset => strings::mset(table, args, out),
        Msetnx => strings::msetnx(table, args, out),
        Del | Unlink => keyspace::del(table, args, out),
        Exists => keyspace::exists(table, args, out),
        Strlen => strings::strlen(table, args, out),
        Append => strings::append(table, args, out),
        Incr => strings::increment(table, args.get(1), 1, out),
        Decr => strings::increment(table, args.get(1), -1, out),
        Incrby => strings::incrby(table, args, out),
        Decrby => strings::decrby(table, args, out),
        Setex => strings::setex(args, true, out),
        Psetex => strings::setex(args, false, out),
        Expire | Pexpire | Expireat | Pexpireat => write::error(out, errors::EXPIRY_UNSUPPORTED),
        Dbsize => write::integer(out, table.len() as i64),
        Flushdb | Flushall => keyspace::flush(table, args, out),
        Keys => keyspace::keys(table, args, out),
        Scan => keyspace::scan(table, args, out),
        Type => keyspace::key_type(table, args, out),
        Ttl | Pttl => keyspace::ttl(table, args, out),
        Persist => write::integer(out, 0),
        Select => connection::select(args, out),
        Quit => {
            write::simple(out, "OK");
            return Outcome::Close;
        }
        Hello => connection::hello(session, args, out),
        Auth => connection::auth(args, out),
        ClientSetname => connection::client_setname(session, args, out),
        ClientGetname => match &session.name {
            Some(name) => write::bulk(out, name),
            None => write::nil(out),
        },
        ClientId => write::integer(out, session.id as i64),
        ClientSetinfo => connection::client_setinfo(args, out),
        ClientHelp | CommandHelp | ConfigHelp => describe::help(kind, out),
        Command => describe::all(out),
        CommandCount => write::integer(out, top_level().count() as i64),
        CommandDocs => write::array_header(out, 0),
        CommandInfo => describe::info(args, out),
        ConfigSet => write::error(out, errors::CONFIG_SET_UNSUPPORTED),
        // A container alone never passes its arity check, except COMMAND, handled above.
        Client | Config => write::error(out, &errors::wrong_arity(kind.name())),
        Info | ConfigGet | Save | Bgsave | Lastsave => {
            return server::request(kind, args, out);
        }
    }
    Outcome::Answered
}

/// The reply to a SAVE whose job finished: `+OK` once data.bin is durable, else Redis's bare
/// `-ERR`.
pub fn write_save_result(succeeded: bool, out: &mut impl Sink) {
    if succeeded {
        write::simple(out, "OK");
    } else {
        write::error(out, errors::SAVE_FAILED);
    }
}

#[cfg(test)]
mod tests;

//! Commands only the server can answer, parsed here and handed over as a [`ServerRequest`]:
//! INFO, CONFIG GET, SAVE, BGSAVE and LASTSAVE. Also the one part of CONFIG GET that needs no
//! server state: matching parameter names against the patterns and writing the reply.

use super::{errors, glob, CommandKind, Outcome};
use crate::args::Args;
use crate::resp::write;
use crate::sink::Sink;

/// A request for the server.
#[derive(Debug, Clone)]
pub enum ServerRequest<'a> {
    /// INFO: the sections asked for (none known: an empty reply, as Redis gives).
    Info(InfoSections),
    /// CONFIG GET: the glob patterns (case-insensitive) of the parameters asked for.
    ConfigGet { patterns: Args<'a> },
    /// SAVE: answered once data.bin is durable.
    Save,
    /// BGSAVE, or BGSAVE SCHEDULE.
    Bgsave { schedule: bool },
    /// LASTSAVE: when the last successful save ended, in Unix seconds.
    Lastsave,
}

/// A section of INFO's reply, in the order they are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InfoSection {
    Server,
    Clients,
    Memory,
    Persistence,
    Stats,
    Keyspace,
}

impl InfoSection {
    pub const ALL: [InfoSection; 6] = [
        InfoSection::Server,
        InfoSection::Clients,
        InfoSection::Memory,
        InfoSection::Persistence,
        InfoSection::Stats,
        InfoSection::Keyspace,
    ];

    /// The section's name, as its `# Name` line has it.
    pub fn title(self) -> &'static str {
        match self {
            InfoSection::Server => "Server",
            InfoSection::Clients => "Clients",
            InfoSection::Memory => "Memory",
            InfoSection::Persistence => "Persistence",
            InfoSection::Stats => "Stats",
            InfoSection::Keyspace => "Keyspace",
        }
    }
}

/// Which sections an INFO asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct InfoSections([bool; 6]);

impl InfoSections {
    /// The sections named by INFO's arguments: none is all of them (as are `all`, `default`
    /// and `everything`); names are case-insensitive, unknown ones are ignored.
    fn from_names(names: Args<'_>) -> InfoSections {
        let mut sections = InfoSections::default();
        if names.is_empty() {
            return InfoSections([true; 6]);
        }
        for name in names.iter() {
            let every = [&b"all"[..], b"default", b"everything"];
            if every.iter().any(|word| name.eq_ignore_ascii_case(word)) {
                return InfoSections([true; 6]);
            }
            for (index, section) in InfoSection::ALL.iter().enumerate() {
                if name.eq_ignore_ascii_case(section.title().as_bytes()) {
                    sections.0[index] = true;
                }
            }
        }
        sections
    }

    /// The sections asked for, in the order they are written.
    pub fn iter(self) -> impl Iterator<Item = InfoSection> {
        InfoSection::ALL
            .into_iter()
            .enumerate()
            .filter(move |(index, _)| self.0[*index])
            .map(|(_, section)| section)
    }
}

/// Parses a server command (arity already checked).
pub fn request<'a>(kind: CommandKind, args: Args<'a>, out: &mut impl Sink) -> Outcome<'a> {
    let request = match kind {
        CommandKind::Info => ServerRequest::Info(InfoSections::from_names(args.skip_first())),
        CommandKind::ConfigGet => ServerRequest::ConfigGet {
            patterns: args.skip(2),
        },
        CommandKind::Save => ServerRequest::Save,
        CommandKind::Lastsave => ServerRequest::Lastsave,
        _ => match args.len() {
            1 => ServerRequest::Bgsave { schedule: false },
            2 if args.get(1).eq_ignore_ascii_case(b"SCHEDULE") => {
                ServerRequest::Bgsave { schedule: true }
            }
            _ => {
                write::error(out, errors::SYNTAX);
                return Outcome::Answered;
            }
        },
    };
    Outcome::Server(request)
}

/// CONFIG GET's reply: the name and value of every parameter one of the patterns names, each
/// once, in the order asked. A pattern without `[`, `*` or `?` is a name, echoed as it was
/// sent; any other matches parameter names as a glob, ignoring case; as in Redis 7.0.
pub fn config_get(parameters: &[(&str, String)], patterns: Args<'_>, out: &mut impl Sink) {
    let mut chosen: Vec<(&[u8], &str)> = Vec::new();
    for pattern in patterns.iter() {
        let is_glob = pattern.iter().any(|byte| b"[*?".contains(byte));
        for (name, value) in parameters {
            let taken = chosen
                .iter()
                .any(|(chosen, _)| chosen.eq_ignore_ascii_case(name.as_bytes()));
            let wanted = if is_glob {
                glob::matches(pattern, name.as_bytes(), true)
            } else {
                pattern.eq_ignore_ascii_case(name.as_bytes())
            };
            if wanted && !taken {
                chosen.push((if is_glob { name.as_bytes() } else { pattern }, value));
            }
        }
    }
    write::array_header(out, 2 * chosen.len());
    for (name, value) in chosen {
        write::bulk(out, name);
        write::bulk(out, value.as_bytes());
    }
}

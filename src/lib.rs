//! Stratus: a single-threaded key-value server that speaks Skyhash 1.0, the protocol of
//! Skytable 0.6, and answers its 19 actions as skyd 0.6.4 does; and, on a second listener,
//! RESP2, the Redis protocol, over the same table.
//!
//! # Layout
//!
//! The layers point one way: the protocols and the table at the bottom, the actions and
//! commands over them, persistence over the table, the server composing everything. No module
//! of a layer names one above it (`action` and `command` never name `persist` or `server`;
//! `persist` never names `action`, `command` or `server`).
//!
//! **Bottom: bytes and data, no I/O.**
//! - [`protocol`]: Skyhash 1.0. `parse` (incremental, resumable query parser), `write`
//!   (response encoder), `reply` (the client-side response parser the tools share).
//! - [`resp`]: RESP2, the Redis protocol: an incremental request parser (multibulk and inline,
//!   framed as Redis 7.0 frames them) and the reply encoder.
//! - [`args`]: a request's arguments as spans into its buffer, for both parsers; [`sink`]:
//!   where both protocols' encoders write (a `Vec<u8>`, or a connection's output).
//! - [`table`]: the in-memory table (short values inline, long ones shared), the running
//!   figures persistence needs, and the change log the journal commits.
//!
//! **Meaning: one table of operations, two vocabularies, no I/O.**
//! - [`action`]: the 19 Skyhash actions of skyd 0.6.4 and SYS, one row each (name, arity,
//!   read or write), run against the table; MKSNAP and SYS handed back to the server.
//! - [`command`]: the Redis commands, one row each (name, Redis arity, write flag), run against
//!   the same table with Redis 7.0.15's replies; server facts (INFO, SAVE…) handed back.
//!
//! **Persistence, over the table.**
//! - [`persist`]: the data directory and its lock, loading at start (`startup`, `load`,
//!   `legacy` for Skytable 0.6 files), the data file format (`format`), the atomic writer
//!   (`save`), snapshots (`snapshot`), the save jobs and their history (`job`, `history`),
//!   `fork` (the only fork/waitpid/_exit code), and the write-ahead `journal` (`format`,
//!   `recovery`, `replay`, `writer`). It owns `Health`, the poison state.
//! - [`check`]: what `stratus-check` does: every file read as a start reads it.
//!
//! **The server, composing it all: the only network I/O.**
//! - [`server`]: one mio readiness loop (`mod`), `listeners` (a protocol over a transport
//!   each), `connection` (moves bytes only, through a `transport`: plain TCP or `tls`), the
//!   `codec`s (Skyhash and RESP framing), `dispatch` (the one place a request meets the table,
//!   poisoning and persistence, and where the journal's commit sits before any answer is
//!   sent), `budget` (one memory budget for all clients), `buffers` and `bytes` (input and
//!   output, large ones in their own mappings), `handshakes`, `saves`, `shutdown`, `signals`,
//!   `timers`, and `status`/`info` (SYS and INFO answers).
//!
//! **Around it.**
//! - [`config`]: command-line flags (`flags`) and the TOML file (`file`), validated into one
//!   `Config`; the `--help` text.
//! - [`properties`]: the properties the fuzz targets assert, replayed by `cargo test`.
//! - [`log_lines`]: the log lines tests and tools wait for; [`logger`]: stderr log lines;
//!   [`utc`]: the calendar arithmetic behind them.
//!
//! Error messages follow two conventions on purpose: skyd's capitalised sentences where a skyd
//! user or script expects them (`Failed to bind…`, `Argument error: …`), lower-case Rust style
//! with the offset and figures everywhere else (`checksum mismatch at offset 48: …`).

pub mod action;
pub mod args;
pub mod check;
pub mod command;
pub mod config;
pub mod log_lines;
pub mod logger;
pub mod persist;
pub mod properties;
pub mod protocol;
pub mod resp;
pub mod server;
pub mod sink;
pub mod table;
pub mod utc;

//! Stratus: a single-threaded key-value server that speaks Skyhash 1.0, the protocol of
//! Skytable 0.6, and answers its 19 actions as skyd 0.6.4 does; and, on a second listener,
//! RESP2, the Redis protocol, over the same table.
//!
//! # Layout
//!
//! - [`protocol`]: Skyhash 1.0 framing. An incremental query parser and the response encoder,
//!   both pure functions over bytes.
//! - [`action`]: the 19 actions. Name lookup, arity, the write/read split checked in one place
//!   for poisoning, and execution against the table.
//! - [`resp`]: RESP2 framing. An incremental request parser (multibulk and inline) and the
//!   reply encoder, pure functions over bytes, as Redis 7.0 frames them.
//! - [`command`]: the Redis commands. One table (name, arity, write flag, keys), execution
//!   against the same table, Redis 7.0.15's replies and errors.
//! - [`args`]: a request's arguments as spans into its buffer, for both parsers; [`sink`]:
//!   where both protocols' answers are written.
//! - [`table`]: the in-memory table with the running figures persistence needs.
//! - [`config`]: command-line flags and the TOML configuration file, validated into a `Config`.
//! - [`server`]: the only module that does network I/O: one mio readiness loop for the
//!   listener, the connections, signals and timers.
//! - [`properties`]: the properties the fuzz targets assert, shared with the regression tests.
//! - [`check`]: the work of `stratus-check`, the file checker: data files, journal segments
//!   and data directories read as a start reads them.
//! - [`logger`]: timestamped log lines on stderr; [`utc`]: the calendar arithmetic behind them.

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

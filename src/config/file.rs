//! The TOML configuration file: skyd's sections and Stratus's own as serde types, the checks on
//! their values (skyd's texts for skyd's keys), and one-line descriptions of TOML errors with
//! their line and column. A file is checked on its own, before any flag is laid over it;
//! unknown keys are warned about and otherwise ignored, as skyd ignored them.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use log::warn;
use serde::Deserialize;

use super::size::{parse_size, SUFFIX_TEXT};
use super::{
    max_client_memory_default, Config, ConfigError, JournalFsync, SnapshotConfig, TlsConfig,
    BGSAVE_ZERO_MESSAGE, BUSY_POLL_DEFAULT, BUSY_POLL_MAX_MICROS, JOURNAL_FSYNC_CHOICES,
    JOURNAL_FSYNC_DEFAULT, MAXCON_DEFAULT, SAVE_INTERVAL_DEFAULT, SNAPSHOT_FAILSAFE_DEFAULT,
    SNAPSHOT_ZERO_MESSAGE,
};

pub(super) fn read_config_file(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|error| ConfigError::FileUnreadable {
        path: path.to_owned(),
        error,
    })?;
    config_from_toml(path, &text)
}

/// The layout of a skyd 0.6 configuration file, plus `[journal]`, `[resp]` and
/// `server.max_client_memory` and `server.busy_poll_us`. Optional keys are `Option` so that defaults
/// are applied in one place, [`config_from_toml`].
#[derive(Deserialize)]
#[serde(expecting = "a TOML document with a [server] table")]
pub(super) struct ConfigFile {
    server: ServerSection,
    bgsave: Option<BgsaveSection>,
    snapshot: Option<SnapshotSection>,
    ssl: Option<SslSection>,
    journal: Option<JournalSection>,
    resp: Option<RespSection>,
}

#[derive(Deserialize)]
#[serde(expecting = "a [server] table")]
struct ServerSection {
    host: IpAddr,
    port: u16,
    noart: Option<bool>,
    maxclient: Option<usize>,
    /// skyd's own template.toml spells the key this way (and skyd then ignored it).
    maxcon: Option<usize>,
    max_client_memory: Option<SizeValue>,
    busy_poll_us: Option<u64>,
}

/// A size as the file may write it: bytes as an integer, or a string in the flags' syntax.
/// Its range is checked with the other values, so that `0` gets a message naming the key.
#[derive(Deserialize)]
#[serde(
    untagged,
    expecting = "a size in bytes: an integer, or a string such as \"512M\""
)]
enum SizeValue {
    Bytes(i64),
    Text(String),
}

#[derive(Deserialize)]
#[serde(expecting = "a [bgsave] table")]
struct BgsaveSection {
    enabled: Option<bool>,
    every: Option<u64>,
}

#[derive(Deserialize)]
#[serde(expecting = "a [snapshot] table")]
struct SnapshotSection {
    every: u64,
    atmost: usize,
    failsafe: Option<bool>,
}

#[derive(Deserialize)]
#[serde(expecting = "an [ssl] table")]
struct SslSection {
    key: PathBuf,
    chain: PathBuf,
    port: u16,
    only: Option<bool>,
}

#[derive(Deserialize)]
#[serde(expecting = "a [journal] table")]
struct JournalSection {
    enabled: Option<bool>,
    /// A word of [`JournalFsync`], checked with the other values.
    fsync: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(expecting = "a [resp] table")]
struct RespSection {
    port: Option<u16>,
    tls_port: Option<u16>,
}

/// Parses the text of the configuration file `path` into a `Config` holding the file's
/// settings over the defaults. Unknown keys are logged and otherwise ignored.
pub(super) fn config_from_toml(path: &Path, text: &str) -> Result<Config, ConfigError> {
    let (file, unknown_keys) =
        deserialize_config_file(text).map_err(|error| ConfigError::FileSyntax {
            path: path.to_owned(),
            detail: describe_toml_error(&error, text),
        })?;
    for key in unknown_keys {
        warn!(
            "Ignoring unknown key `{key}` in configuration file {}",
            path.display()
        );
    }
    let resp = file.resp.unwrap_or_default();
    let config = Config {
        host: file.server.host,
        port: file.server.port,
        noart: file.server.noart.unwrap_or(false),
        maxcon: maxcon_setting(&file.server)?,
        max_client_memory: max_client_memory_setting(&file.server)?,
        busy_poll: busy_poll_setting(&file.server)?,
        bgsave: bgsave_setting(file.bgsave)?,
        snapshot: snapshot_setting(file.snapshot)?,
        journal: journal_setting(file.journal)?,
        tls: file.ssl.map(tls_setting),
        resp_port: resp.port,
        resp_tls_port: resp.tls_port,
        config_file: Some(path.to_owned()),
        ..Config::default()
    };
    check_resp_listeners(&config)?;
    Ok(config)
}

/// `server.maxclient`, or `server.maxcon` as skyd's template spells it; one of them at most.
fn maxcon_setting(server: &ServerSection) -> Result<usize, ConfigError> {
    let (maxcon_key, maxcon) = match (server.maxclient, server.maxcon) {
        (Some(_), Some(_)) => {
            return Err(ConfigError::FileValue(
                "Both `server.maxclient` and `server.maxcon` are set; use only one of them"
                    .to_owned(),
            ))
        }
        (Some(count), None) => ("maxclient", count),
        (None, Some(count)) => ("maxcon", count),
        (None, None) => ("maxclient", MAXCON_DEFAULT),
    };
    if maxcon == 0 {
        return Err(ConfigError::FileValue(format!(
            "Invalid value for `server.{maxcon_key}`. Expected a valid positive integer"
        )));
    }
    Ok(maxcon)
}

/// `server.max_client_memory`, the default budget when absent.
fn max_client_memory_setting(server: &ServerSection) -> Result<usize, ConfigError> {
    let bytes = match &server.max_client_memory {
        None => return Ok(max_client_memory_default()),
        Some(SizeValue::Bytes(bytes)) => usize::try_from(*bytes).ok().filter(|&bytes| bytes > 0),
        Some(SizeValue::Text(text)) => parse_size(text, usize::MAX),
    };
    bytes.ok_or_else(|| {
        ConfigError::FileValue(format!(
            "Invalid value for `server.max_client_memory`. Expected a positive size in bytes: \
             an integer, or a string of digits {SUFFIX_TEXT}"
        ))
    })
}

/// `server.busy_poll_us`, the default when absent.
fn busy_poll_setting(server: &ServerSection) -> Result<Duration, ConfigError> {
    match server.busy_poll_us {
        None => Ok(BUSY_POLL_DEFAULT),
        Some(micros) if micros <= BUSY_POLL_MAX_MICROS => Ok(Duration::from_micros(micros)),
        Some(_) => Err(ConfigError::FileValue(format!(
            "Invalid value for `server.busy_poll_us`. Expected a whole number of microseconds \
             from 0 to {BUSY_POLL_MAX_MICROS}"
        ))),
    }
}

/// The BGSAVE interval: on every 120 s when the section or its keys are absent.
fn bgsave_setting(section: Option<BgsaveSection>) -> Result<Option<Duration>, ConfigError> {
    match section {
        None => Ok(Some(SAVE_INTERVAL_DEFAULT)),
        // skyd accepts `every = 0` when BGSAVE is off, since the interval is then never used.
        Some(BgsaveSection {
            enabled: Some(false),
            ..
        }) => Ok(None),
        Some(BgsaveSection { every: Some(0), .. }) => {
            Err(ConfigError::FileValue(BGSAVE_ZERO_MESSAGE.to_owned()))
        }
        Some(section) => Ok(Some(
            section
                .every
                .map_or(SAVE_INTERVAL_DEFAULT, Duration::from_secs),
        )),
    }
}

/// Periodic snapshots, off when the section is absent.
fn snapshot_setting(
    section: Option<SnapshotSection>,
) -> Result<Option<SnapshotConfig>, ConfigError> {
    match section {
        None => Ok(None),
        Some(section) if section.every == 0 => {
            Err(ConfigError::FileValue(SNAPSHOT_ZERO_MESSAGE.to_owned()))
        }
        Some(section) => Ok(Some(SnapshotConfig {
            every: Duration::from_secs(section.every),
            keep: section.atmost,
            failsafe: section.failsafe.unwrap_or(SNAPSHOT_FAILSAFE_DEFAULT),
        })),
    }
}

/// The journal, off unless `enabled = true`. `fsync` is checked even when the journal is off,
/// so that a mistake shows before the day someone turns the journal on.
fn journal_setting(section: Option<JournalSection>) -> Result<Option<JournalFsync>, ConfigError> {
    let Some(section) = section else {
        return Ok(None);
    };
    let fsync = match section.fsync.as_deref() {
        None => JOURNAL_FSYNC_DEFAULT,
        Some(word) => JournalFsync::from_word(word).ok_or_else(|| {
            ConfigError::FileValue(format!(
                "Invalid value for `journal.fsync`. Expected {JOURNAL_FSYNC_CHOICES}"
            ))
        })?,
    };
    Ok(section.enabled.unwrap_or(false).then_some(fsync))
}

/// The RESP listeners against the file's own `[ssl]`: a TLS port needs it, and TLS-only leaves
/// no room for a plain-text port.
fn check_resp_listeners(config: &Config) -> Result<(), ConfigError> {
    let refusal = match &config.tls {
        None if config.resp_tls_port.is_some() => "`resp.tls_port` needs an [ssl] section",
        Some(tls) if tls.only && config.resp_port.is_some() => {
            "`resp.port` serves plain text, which `ssl.only` turns off; use `resp.tls_port`"
        }
        _ => return Ok(()),
    };
    Err(ConfigError::FileValue(refusal.to_owned()))
}

/// skyd made any `only` key mean TLS-only, even `only = false`; here the value counts.
fn tls_setting(section: SslSection) -> TlsConfig {
    TlsConfig {
        key: section.key,
        chain: section.chain,
        port: section.port,
        only: section.only.unwrap_or(false),
    }
}

/// The file's settings, and the paths of the keys it has that Stratus does not know.
pub(super) fn deserialize_config_file(
    text: &str,
) -> Result<(ConfigFile, Vec<String>), toml::de::Error> {
    let mut unknown_keys = Vec::new();
    let document = toml::Deserializer::parse(text)?;
    let file = serde_ignored::deserialize(document, |key| unknown_keys.push(key_path(&key)))?;
    Ok((file, unknown_keys))
}

/// `server.foo` for the key `foo` of `[server]`, leaving out the `?` steps serde_ignored adds
/// for sections held in an `Option`.
fn key_path(path: &serde_ignored::Path) -> String {
    match path {
        serde_ignored::Path::Root => String::new(),
        serde_ignored::Path::Seq { parent, index } => {
            join_key(key_path(parent), &index.to_string())
        }
        serde_ignored::Path::Map { parent, key } => join_key(key_path(parent), key),
        serde_ignored::Path::Some { parent }
        | serde_ignored::Path::NewtypeStruct { parent }
        | serde_ignored::Path::NewtypeVariant { parent } => key_path(parent),
    }
}

fn join_key(parent: String, key: &str) -> String {
    if parent.is_empty() {
        key.to_owned()
    } else {
        format!("{parent}.{key}")
    }
}

/// One line, so that the error fits in a single log record: toml's own `Display` spans
/// several lines to draw the offending source line.
fn describe_toml_error(error: &toml::de::Error, text: &str) -> String {
    let message = error.message().trim_end();
    match error.span() {
        Some(span) => {
            let before = text.get(..span.start).unwrap_or(text);
            let line = before.matches('\n').count() + 1;
            let column = before
                .rsplit('\n')
                .next()
                .map_or(0, |line_text| line_text.chars().count())
                + 1;
            format!("line {line}, column {column}: {message}")
        }
        None => message.to_owned(),
    }
}

//! The TLS settings every TLS listener serves: the PEM private key and certificate chain of
//! `-k/--sslkey` and `-z/--sslchain` (or `[ssl]`), read and checked once at start-up, before
//! anything is bound, into one rustls [`ServerConfig`]: the ring provider, chosen explicitly;
//! TLS 1.3 and 1.2; PKCS#8, PKCS#1 and SEC1 keys; no client certificates; the one certificate
//! whatever name a client asks for (skyd's clients send none). Every way the files can be
//! wrong is an error naming the file, so a bad setup never starts a server that fails every
//! handshake (skyd 0.6.4 started with a mismatched key).

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ServerConfig, SupportedProtocolVersion};

use crate::config::TlsConfig;

/// The protocol versions served, newest first. skyd 0.6.4 (OpenSSL's Mozilla "intermediate"
/// profile) also offered TLS 1.0 and 1.1; rustls has neither.
const PROTOCOL_VERSIONS: [&SupportedProtocolVersion; 2] =
    [&rustls::version::TLS13, &rustls::version::TLS12];
/// [`PROTOCOL_VERSIONS`] in words, for the log.
pub const PROTOCOL_NAMES: &str = "TLS 1.3 and 1.2";

/// Which of the two files an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsFile {
    Key,
    Chain,
}

impl fmt::Display for TlsFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TlsFile::Key => "TLS private key file",
            TlsFile::Chain => "TLS certificate chain file",
        })
    }
}

/// Why the TLS settings cannot be served.
#[derive(Debug)]
pub enum TlsSetupError {
    Unreadable {
        file: TlsFile,
        path: PathBuf,
        source: io::Error,
    },
    /// The file is not PEM (a section without its end line, bad base64, ...).
    NotPem {
        file: TlsFile,
        path: PathBuf,
        detail: String,
    },
    NoKey {
        path: PathBuf,
    },
    NoCertificate {
        path: PathBuf,
    },
    /// The crypto provider cannot sign with the key (an unsupported algorithm, bad DER).
    UnusableKey {
        path: PathBuf,
        detail: String,
    },
    /// The first certificate of the chain cannot be parsed.
    UnusableCertificate {
        path: PathBuf,
        detail: String,
    },
    /// The key is not the one of the chain's first certificate.
    KeyMismatch {
        key: PathBuf,
        chain: PathBuf,
    },
    /// Anything else rustls refused the pair for.
    Refused {
        key: PathBuf,
        chain: PathBuf,
        detail: String,
    },
}

impl fmt::Display for TlsSetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsSetupError::Unreadable { file, path, source } => {
                write!(f, "cannot read the {file} {}: {source}", path.display())
            }
            TlsSetupError::NotPem { file, path, detail } => {
                write!(
                    f,
                    "the {file} {} is not valid PEM: {detail}",
                    path.display()
                )
            }
            TlsSetupError::NoKey { path } => write!(
                f,
                "the TLS private key file {} holds no private key: expected an unencrypted PEM \
                 block PRIVATE KEY (PKCS#8), RSA PRIVATE KEY (PKCS#1) or EC PRIVATE KEY (SEC1)",
                path.display()
            ),
            TlsSetupError::NoCertificate { path } => write!(
                f,
                "the TLS certificate chain file {} holds no certificate: expected PEM blocks \
                 CERTIFICATE, the server's own first",
                path.display()
            ),
            TlsSetupError::UnusableKey { path, detail } => write!(
                f,
                "the private key in {} cannot be used for TLS: {detail}",
                path.display()
            ),
            TlsSetupError::UnusableCertificate { path, detail } => write!(
                f,
                "the first certificate in {} cannot be used for TLS: {detail}",
                path.display()
            ),
            TlsSetupError::KeyMismatch { key, chain } => write!(
                f,
                "the private key in {} does not belong to the first certificate in {} (the \
                 server's own certificate must come first in the chain)",
                key.display(),
                chain.display()
            ),
            TlsSetupError::Refused { key, chain, detail } => write!(
                f,
                "the TLS key {} and certificate chain {} cannot be served: {detail}",
                key.display(),
                chain.display()
            ),
        }
    }
}

impl std::error::Error for TlsSetupError {}

/// What the listeners serve, and what start-up reports about it.
pub struct TlsSettings {
    pub server_config: Arc<ServerConfig>,
    /// Certificates in the chain file, the server's own included.
    pub chain_length: usize,
}

/// Reads the key and chain and builds the configuration every TLS connection shares.
pub fn load(tls: &TlsConfig) -> Result<TlsSettings, TlsSetupError> {
    let key = read_key(&tls.key)?;
    let chain = read_chain(&tls.chain)?;
    let chain_length = chain.len();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server_config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&PROTOCOL_VERSIONS)
        .map_err(|error| refused(tls, &error))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|error| match error {
            rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch) => {
                TlsSetupError::KeyMismatch {
                    key: tls.key.clone(),
                    chain: tls.chain.clone(),
                }
            }
            rustls::Error::InvalidCertificate(_) => TlsSetupError::UnusableCertificate {
                path: tls.chain.clone(),
                detail: error.to_string(),
            },
            rustls::Error::General(_) => TlsSetupError::UnusableKey {
                path: tls.key.clone(),
                detail: error.to_string(),
            },
            other => refused(tls, &other),
        })?;
    Ok(TlsSettings {
        server_config: Arc::new(server_config),
        chain_length,
    })
}

fn refused(tls: &TlsConfig, error: &rustls::Error) -> TlsSetupError {
    TlsSetupError::Refused {
        key: tls.key.clone(),
        chain: tls.chain.clone(),
        detail: error.to_string(),
    }
}

fn read_file(file: TlsFile, path: &Path) -> Result<Vec<u8>, TlsSetupError> {
    std::fs::read(path).map_err(|source| TlsSetupError::Unreadable {
        file,
        path: path.to_owned(),
        source,
    })
}

/// The first private key in the file; other blocks (a certificate kept beside it) are skipped.
fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsSetupError> {
    let bytes = read_file(TlsFile::Key, path)?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|error| match error {
        pem::Error::NoItemsFound => TlsSetupError::NoKey {
            path: path.to_owned(),
        },
        other => not_pem(TlsFile::Key, path, &other),
    })
}

/// Every certificate in the file, in order; other blocks (the key) are skipped.
fn read_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsSetupError> {
    let bytes = read_file(TlsFile::Chain, path)?;
    let chain = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| not_pem(TlsFile::Chain, path, &error))?;
    if chain.is_empty() {
        return Err(TlsSetupError::NoCertificate {
            path: path.to_owned(),
        });
    }
    Ok(chain)
}

fn not_pem(file: TlsFile, path: &Path, error: &pem::Error) -> TlsSetupError {
    TlsSetupError::NotPem {
        file,
        path: path.to_owned(),
        detail: error.to_string(),
    }
}

//! `--tls`: the rustls client configuration every connection of a run shares. The server's
//! certificate is verified against the roots in `--cacert` and the name given by `-h` (a DNS
//! name or an IP address). The crypto provider is ring, chosen explicitly. This module builds
//! the configuration and new connection states; `wire` drives them over the sockets.
//!
//! A server certificate that is itself in `--cacert` is trusted as it stands, as OpenSSL (and
//! so redis-cli) trusts a self-signed trust anchor: its name is still checked against `-h`,
//! its dates are not. Without this, the usual `openssl req -x509` test certificate (marked as
//! a CA) could not be used, since WebPKI refuses a CA certificate as a server's.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{verify_server_name, WebPkiServerVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, InvalidDnsNameError, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{
    CertificateError, ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore,
    SignatureScheme,
};

/// What every TLS connection of the run needs: the configuration and the name to verify.
#[derive(Debug, Clone)]
pub struct TlsClient {
    config: Arc<ClientConfig>,
    server_name: ServerName<'static>,
}

#[derive(Debug)]
pub enum TlsSetupError {
    /// The CA file cannot be read or holds a malformed PEM section.
    CaFile { path: PathBuf, source: pem::Error },
    /// The CA file holds no certificate.
    NoCertificates(PathBuf),
    /// rustls refused one of the certificates, or the protocol versions.
    Rejected {
        path: PathBuf,
        source: rustls::Error,
    },
    /// rustls could not build a verifier from the roots.
    Verifier {
        path: PathBuf,
        source: rustls::client::VerifierBuilderError,
    },
    /// `-h` is neither a DNS name nor an IP address, so nothing can be verified against it.
    ServerName {
        host: String,
        source: InvalidDnsNameError,
    },
}

impl fmt::Display for TlsSetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsSetupError::CaFile { path, source } => {
                write!(f, "--cacert {}: {source}", path.display())
            }
            TlsSetupError::NoCertificates(path) => write!(
                f,
                "--cacert {}: no PEM certificate (-----BEGIN CERTIFICATE-----) in the file",
                path.display()
            ),
            TlsSetupError::Rejected { path, source } => {
                write!(f, "--cacert {}: {source}", path.display())
            }
            TlsSetupError::Verifier { path, source } => {
                write!(f, "--cacert {}: {source}", path.display())
            }
            TlsSetupError::ServerName { host, source } => write!(
                f,
                "-h {host}: {source}: the server's certificate is verified against this name"
            ),
        }
    }
}

impl std::error::Error for TlsSetupError {}

impl TlsClient {
    /// Reads the roots in `cacert` and prepares to verify `host`'s certificate against them.
    pub fn new(cacert: &Path, host: &str) -> Result<TlsClient, TlsSetupError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier = Verifier::new(cacert, load_certificates(cacert)?, Arc::clone(&provider))?;
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|source| TlsSetupError::Rejected {
                path: cacert.to_owned(),
                source,
            })?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth();
        let server_name =
            ServerName::try_from(host.to_owned()).map_err(|source| TlsSetupError::ServerName {
                host: host.to_owned(),
                source,
            })?;
        Ok(TlsClient {
            config: Arc::new(config),
            server_name,
        })
    }

    /// A new connection state; its ClientHello waits in it to be written.
    pub fn connection(&self) -> Result<ClientConnection, rustls::Error> {
        ClientConnection::new(Arc::clone(&self.config), self.server_name.clone())
    }
}

/// The certificates of a PEM file; at least one.
fn load_certificates(cacert: &Path) -> Result<Vec<CertificateDer<'static>>, TlsSetupError> {
    let pem_error = |source| TlsSetupError::CaFile {
        path: cacert.to_owned(),
        source,
    };
    let certificates = CertificateDer::pem_file_iter(cacert)
        .map_err(pem_error)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(pem_error)?;
    if certificates.is_empty() {
        return Err(TlsSetupError::NoCertificates(cacert.to_owned()));
    }
    Ok(certificates)
}

/// WebPKI verification against the roots, except that a server certificate which is itself
/// one of them is trusted directly (its name checked). Handshake signatures are always
/// verified by WebPKI's algorithms, so the server must hold the certificate's key.
#[derive(Debug)]
struct Verifier {
    pinned: Vec<CertificateDer<'static>>,
    webpki: Arc<WebPkiServerVerifier>,
}

impl Verifier {
    /// Trusts `certificates` (read from `cacert`) as roots and as pinned server certificates.
    fn new(
        cacert: &Path,
        certificates: Vec<CertificateDer<'static>>,
        provider: Arc<CryptoProvider>,
    ) -> Result<Verifier, TlsSetupError> {
        let mut roots = RootCertStore::empty();
        for certificate in &certificates {
            roots
                .add(certificate.clone())
                .map_err(|source| TlsSetupError::Rejected {
                    path: cacert.to_owned(),
                    source,
                })?;
        }
        let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .map_err(|source| TlsSetupError::Verifier {
                path: cacert.to_owned(),
                source,
            })?;
        Ok(Verifier {
            pinned: certificates,
            webpki,
        })
    }
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if self.pinned.iter().any(|pinned| pinned == end_entity) {
            verify_server_name(&ParsedCertificate::try_from(end_entity)?, server_name)?;
            return Ok(ServerCertVerified::assertion());
        }
        self.webpki
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
            .map_err(|error| match error {
                // A self-signed test certificate that is not in --cacert: WebPKI's complaint
                // is that it is a CA, but what matters is that nothing vouches for it.
                rustls::Error::InvalidCertificate(CertificateError::Other(ref other))
                    if other.to_string().contains("CaUsedAsEndEntity") =>
                {
                    rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer)
                }
                other => other,
            })
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

#[cfg(test)]
pub mod tests {
    use super::*;

    /// Self-signed test certificates made by `openssl req -x509` (so marked as CAs), for
    /// 127.0.0.1 and localhost; `server-key.pem` is the key of the first. Test data only.
    pub const SERVER_CERT: &str = include_str!("../testdata/server-cert.pem");
    pub const SERVER_KEY: &str = include_str!("../testdata/server-key.pem");
    pub const OTHER_CERT: &str = include_str!("../testdata/other-cert.pem");

    /// Writes `contents` to a file of this test run in the temporary directory.
    pub fn temp_file(name: &str, contents: &str) -> PathBuf {
        let path = std::env::temp_dir().join(format!(
            "stratus-bench-tls-test-{}-{name}",
            std::process::id()
        ));
        std::fs::write(&path, contents).unwrap();
        path
    }

    fn verify(trusted: &str, presented: &str, name: &str) -> Result<(), rustls::Error> {
        let certificates = |pem: &str| {
            CertificateDer::pem_slice_iter(pem.as_bytes())
                .collect::<Result<Vec<_>, _>>()
                .unwrap()
        };
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier = Verifier::new(Path::new("test"), certificates(trusted), provider).unwrap();
        let name = ServerName::try_from(name.to_owned()).unwrap();
        verifier
            .verify_server_cert(
                &certificates(presented)[0],
                &[],
                &name,
                &[],
                UnixTime::now(),
            )
            .map(|_| ())
    }

    #[test]
    fn a_certificate_given_in_cacert_is_trusted_for_its_names_only() {
        assert_eq!(verify(SERVER_CERT, SERVER_CERT, "127.0.0.1"), Ok(()));
        assert_eq!(verify(SERVER_CERT, SERVER_CERT, "localhost"), Ok(()));
        let wrong_name = verify(SERVER_CERT, SERVER_CERT, "127.0.0.2").unwrap_err();
        assert!(
            matches!(
                wrong_name,
                rustls::Error::InvalidCertificate(CertificateError::NotValidForNameContext { .. })
            ),
            "{wrong_name:?}"
        );
    }

    #[test]
    fn a_certificate_nothing_vouches_for_is_an_unknown_issuer() {
        assert_eq!(
            verify(OTHER_CERT, SERVER_CERT, "127.0.0.1"),
            Err(rustls::Error::InvalidCertificate(
                CertificateError::UnknownIssuer
            ))
        );
    }

    #[test]
    fn the_server_name_may_be_an_ip_address_or_a_dns_name() {
        let cacert = temp_file("server-cert.pem", SERVER_CERT);
        for host in ["127.0.0.1", "::1", "localhost"] {
            assert!(TlsClient::new(&cacert, host).is_ok(), "{host}");
        }
        let error = TlsClient::new(&cacert, "bad host!")
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("-h bad host!: "), "{error}");
        let _ = std::fs::remove_file(cacert);
    }

    #[test]
    fn a_missing_or_empty_ca_file_is_refused_with_its_name() {
        let missing = Path::new("/nonexistent/ca.pem");
        let error = TlsClient::new(missing, "127.0.0.1")
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("--cacert /nonexistent/ca.pem: "),
            "{error}"
        );
        let empty = temp_file("empty.pem", "no certificate here\n");
        let error = TlsClient::new(&empty, "127.0.0.1").unwrap_err().to_string();
        assert!(error.contains("no PEM certificate"), "{error}");
        let garbage = temp_file(
            "garbage.pem",
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        );
        let error = TlsClient::new(&garbage, "127.0.0.1")
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("--cacert "), "{error}");
        for path in [empty, garbage] {
            let _ = std::fs::remove_file(path);
        }
    }
}

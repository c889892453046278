//! TLS for the black-box tests. Certificates are made in the test with OpenSSL (the library
//! the skytable client links anyway): an [`Authority`] and the server certificate it signs
//! for 127.0.0.1 and localhost, its key in any PEM encoding the server must read
//! ([`KeyEncoding`]), written out as [`TlsFiles`]. Two clients: [`TlsClient`], a rustls client
//! that verifies the server against the authority (a raw byte stream for the `wire` helpers),
//! and the real `skytable` 0.4.0 TLS client ([`skytable_tls`]), which verifies nothing
//! (OpenSSL's default SSL_VERIFY_NONE), so it proves the transport, never the certificate.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use openssl::asn1::{Asn1Integer, Asn1Time};
use openssl::bn::{BigNum, MsbOption};
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, PKeyRef, Private};
use openssl::rsa::Rsa;
use openssl::x509::extension::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAlternativeName,
    SubjectKeyIdentifier,
};
use openssl::x509::{X509Builder, X509Name, X509NameBuilder, X509};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{
    ClientConfig, ClientConnection, RootCertStore, StreamOwned, SupportedProtocolVersion,
};

use super::server::TestServer;
use super::wire::Stream;
use super::PATIENCE;

/// The 7 bytes of a fatal decode_error alert in a TLS 1.2 record: what a TLS server says to a
/// client that does not speak TLS.
pub const DECODE_ERROR_ALERT: &[u8] = &[0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x32];

/// The 7 bytes of a close_notify warning alert sent before any keys are agreed: how the
/// server ends a connection that is still in its handshake.
pub const PLAINTEXT_CLOSE_NOTIFY: &[u8] = &[0x15, 0x03, 0x03, 0x00, 0x02, 0x01, 0x00];

/// How the server certificate's private key is made and written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyEncoding {
    /// ECDSA P-256, `PRIVATE KEY` (PKCS#8), as rcgen and most tools write.
    EcdsaPkcs8,
    /// ECDSA P-256, `EC PRIVATE KEY` (SEC1), as `openssl ecparam -genkey` writes.
    EcdsaSec1,
    /// RSA 2048, `RSA PRIVATE KEY` (PKCS#1), as OpenSSL 1.x's `genrsa` wrote.
    RsaPkcs1,
    /// RSA 2048, `PRIVATE KEY` (PKCS#8), as skyd's CI made its key (`openssl req -newkey`).
    RsaPkcs8,
}

impl KeyEncoding {
    pub const ALL: [KeyEncoding; 4] = [
        KeyEncoding::EcdsaPkcs8,
        KeyEncoding::EcdsaSec1,
        KeyEncoding::RsaPkcs1,
        KeyEncoding::RsaPkcs8,
    ];

    /// A new key: the key itself and its PEM in this encoding.
    fn generate(self) -> (PKey<Private>, Vec<u8>) {
        match self {
            KeyEncoding::EcdsaPkcs8 | KeyEncoding::EcdsaSec1 => {
                let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
                let ec = EcKey::generate(&group).unwrap();
                let sec1 = ec.private_key_to_pem().unwrap();
                let key = PKey::from_ec_key(ec).unwrap();
                let pem = if self == KeyEncoding::EcdsaSec1 {
                    sec1
                } else {
                    key.private_key_to_pem_pkcs8().unwrap()
                };
                (key, pem)
            }
            KeyEncoding::RsaPkcs1 | KeyEncoding::RsaPkcs8 => {
                let rsa = Rsa::generate(2048).unwrap();
                let pkcs1 = rsa.private_key_to_pem().unwrap();
                let key = PKey::from_rsa(rsa).unwrap();
                let pem = if self == KeyEncoding::RsaPkcs1 {
                    pkcs1
                } else {
                    key.private_key_to_pem_pkcs8().unwrap()
                };
                (key, pem)
            }
        }
    }

    /// The first line of the PEM block the encoding writes.
    pub fn pem_label(self) -> &'static str {
        match self {
            KeyEncoding::EcdsaPkcs8 | KeyEncoding::RsaPkcs8 => "-----BEGIN PRIVATE KEY-----",
            KeyEncoding::EcdsaSec1 => "-----BEGIN EC PRIVATE KEY-----",
            KeyEncoding::RsaPkcs1 => "-----BEGIN RSA PRIVATE KEY-----",
        }
    }
}

fn name(common_name: &str) -> X509Name {
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", common_name).unwrap();
    name.build()
}

fn random_serial() -> Asn1Integer {
    let mut serial = BigNum::new().unwrap();
    serial.rand(64, MsbOption::MAYBE_ZERO, false).unwrap();
    serial.to_asn1_integer().unwrap()
}

/// A certificate builder valid from an hour ago for a week.
fn certificate(subject: &X509Name, issuer: &X509Name, key: &PKeyRef<Private>) -> X509Builder {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let mut builder = X509Builder::new().unwrap();
    builder.set_version(2).unwrap();
    builder.set_serial_number(&random_serial()).unwrap();
    builder.set_subject_name(subject).unwrap();
    builder.set_issuer_name(issuer).unwrap();
    builder.set_pubkey(key).unwrap();
    builder
        .set_not_before(&Asn1Time::from_unix(now - 3600).unwrap())
        .unwrap();
    builder
        .set_not_after(&Asn1Time::from_unix(now + 7 * 24 * 3600).unwrap())
        .unwrap();
    builder
}

/// A certificate authority of the test's own.
pub struct Authority {
    name: X509Name,
    cert: X509,
    key: PKey<Private>,
}

/// A server certificate and its key, as PEM.
pub struct Issued {
    pub cert_pem: Vec<u8>,
    pub key_pem: Vec<u8>,
}

impl Authority {
    pub fn new(common_name: &str) -> Authority {
        let (key, _) = KeyEncoding::EcdsaPkcs8.generate();
        let subject = name(common_name);
        let mut builder = certificate(&subject, &subject, &key);
        let constraints = BasicConstraints::new().critical().ca().build().unwrap();
        builder.append_extension(constraints).unwrap();
        let usage = KeyUsage::new()
            .critical()
            .key_cert_sign()
            .crl_sign()
            .build()
            .unwrap();
        builder.append_extension(usage).unwrap();
        let key_id = SubjectKeyIdentifier::new()
            .build(&builder.x509v3_context(None, None))
            .unwrap();
        builder.append_extension(key_id).unwrap();
        builder.sign(&key, MessageDigest::sha256()).unwrap();
        Authority {
            name: subject,
            cert: builder.build(),
            key,
        }
    }

    pub fn pem(&self) -> Vec<u8> {
        self.cert.to_pem().unwrap()
    }

    /// A server certificate for 127.0.0.1 and localhost, signed by this authority.
    pub fn issue(&self, encoding: KeyEncoding) -> Issued {
        let (key, key_pem) = encoding.generate();
        let mut builder = certificate(&name("stratus test server"), &self.name, &key);
        builder
            .append_extension(BasicConstraints::new().critical().build().unwrap())
            .unwrap();
        let usage = KeyUsage::new()
            .critical()
            .digital_signature()
            .key_encipherment()
            .build()
            .unwrap();
        builder.append_extension(usage).unwrap();
        builder
            .append_extension(ExtendedKeyUsage::new().server_auth().build().unwrap())
            .unwrap();
        let names = SubjectAlternativeName::new()
            .ip("127.0.0.1")
            .dns("localhost")
            .build(&builder.x509v3_context(Some(&self.cert), None))
            .unwrap();
        builder.append_extension(names).unwrap();
        let authority_id = AuthorityKeyIdentifier::new()
            .keyid(false)
            .build(&builder.x509v3_context(Some(&self.cert), None))
            .unwrap();
        builder.append_extension(authority_id).unwrap();
        builder.sign(&self.key, MessageDigest::sha256()).unwrap();
        Issued {
            cert_pem: builder.build().to_pem().unwrap(),
            key_pem,
        }
    }
}

/// The files of a TLS setup in a test directory: the server's key, its chain (its
/// certificate, then the authority's), and the authority alone (what clients trust).
pub struct TlsFiles {
    pub key: PathBuf,
    pub chain: PathBuf,
    pub ca: PathBuf,
}

impl TlsFiles {
    /// A new authority and a server certificate with an ECDSA PKCS#8 key, written to `dir`.
    pub fn write(dir: &Path) -> TlsFiles {
        TlsFiles::write_with(dir, KeyEncoding::EcdsaPkcs8)
    }

    pub fn write_with(dir: &Path, encoding: KeyEncoding) -> TlsFiles {
        let authority = Authority::new("stratus test authority");
        let issued = authority.issue(encoding);
        let files = TlsFiles {
            key: dir.join("key.pem"),
            chain: dir.join("chain.pem"),
            ca: dir.join("ca.pem"),
        };
        std::fs::write(&files.key, &issued.key_pem).unwrap();
        std::fs::write(&files.chain, [issued.cert_pem, authority.pem()].concat()).unwrap();
        std::fs::write(&files.ca, authority.pem()).unwrap();
        files
    }

    /// `-k KEY -z CHAIN --sslport 0`: plain and TLS listeners, both on free ports.
    pub fn args(&self) -> Vec<String> {
        vec![
            "-k".to_owned(),
            path_arg(&self.key),
            "-z".to_owned(),
            path_arg(&self.chain),
            "--sslport".to_owned(),
            "0".to_owned(),
        ]
    }
}

pub fn path_arg(path: &Path) -> String {
    path.to_str().expect("a UTF-8 test path").to_owned()
}

/// A server with the default arguments and a TLS listener on a free port, and its files.
pub fn start_tls_server(extra: &[&str]) -> (TestServer, TlsFiles) {
    let builder = super::server::ServerBuilder::new();
    let files = TlsFiles::write(builder.dir());
    let server = builder.args(&files.args()).args(extra).start();
    assert!(
        server.tls_port.is_some(),
        "the server logged no TLS listener"
    );
    (server, files)
}

/// A rustls client configuration trusting only the certificates in `ca`, with the given
/// protocol versions.
pub fn client_config(
    ca: &Path,
    versions: &[&'static SupportedProtocolVersion],
) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    for certificate in CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(certificate.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    Arc::new(config)
}

/// A verifying TLS client connection, its handshake done; a byte stream for `wire`.
pub struct TlsClient {
    stream: StreamOwned<ClientConnection, TcpStream>,
}

impl TlsClient {
    /// Connects and completes the handshake; an error if the server's certificate does not
    /// verify against `config`'s roots for `host`, or the handshake fails otherwise.
    pub fn connect(host: &str, port: u16, config: Arc<ClientConfig>) -> io::Result<TlsClient> {
        let name = ServerName::try_from(host.to_owned())
            .map_err(|error| io::Error::new(io::ErrorKind::InvalidInput, error))?;
        let mut connection = ClientConnection::new(config, name)
            .map_err(|error| io::Error::new(io::ErrorKind::InvalidInput, error))?;
        let mut socket = TcpStream::connect((host, port))?;
        socket.set_read_timeout(Some(PATIENCE))?;
        socket.set_write_timeout(Some(PATIENCE))?;
        socket.set_nodelay(true)?;
        while connection.is_handshaking() {
            connection.complete_io(&mut socket)?;
        }
        Ok(TlsClient {
            stream: StreamOwned::new(connection, socket),
        })
    }

    /// A verifying client of `server`'s Skyhash TLS listener (TLS 1.3 or 1.2), trusting `ca`.
    pub fn to(server: &TestServer, ca: &Path) -> TlsClient {
        TlsClient::to_port(server, server.tls_port.expect("a TLS listener"), ca)
    }

    /// A verifying client of the TLS listener on `port` of `server`, trusting `ca`.
    pub fn to_port(server: &TestServer, port: u16, ca: &Path) -> TlsClient {
        let config = client_config(ca, rustls::DEFAULT_VERSIONS);
        TlsClient::connect(&server.host, port, config)
            .unwrap_or_else(|error| panic!("TLS connection to port {port}: {error}"))
    }

    pub fn protocol_version(&self) -> Option<rustls::ProtocolVersion> {
        self.stream.conn.protocol_version()
    }

    /// Sends close_notify: the client will send nothing more, and may still read.
    pub fn send_close_notify(&mut self) {
        self.stream.conn.send_close_notify();
        self.stream.flush().unwrap();
    }

    /// The TCP connection under TLS, to send bytes around it.
    pub fn socket(&mut self) -> &mut TcpStream {
        &mut self.stream.sock
    }
}

impl Read for TlsClient {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.stream.read(buf)
    }
}

impl Write for TlsClient {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.stream.write(bytes)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.stream.flush()
    }
}

impl Stream for TlsClient {
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.stream.sock.set_read_timeout(timeout)
    }
}

/// The real skytable 0.4.0 client over TLS to `server`, given `ca` as its CA file.
pub fn skytable_tls(server: &TestServer, ca: &Path) -> skytable::sync::TlsConnection {
    let port = server.tls_port.expect("a TLS listener");
    skytable::sync::TlsConnection::new(&server.host, port, &path_arg(ca))
        .unwrap_or_else(|error| panic!("skytable TLS connection to port {port}: {error:?}"))
}

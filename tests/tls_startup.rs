//! Starting with TLS: skyd's flags and `[ssl]` keys open the listeners skyd opens and log its
//! started line (`skyhash://A and skyhash-secure://B`, or the TLS one alone with `--sslonly`
//! or `only = true`, when the plain port is not listened on); `--sslport` picks the TLS port;
//! and every way the key or chain can be wrong stops the server with exit status 1 and an
//! ERROR line naming the file, before the data directory is touched or anything is bound.

mod common;

use std::net::{TcpListener, TcpStream};
use std::path::Path;

use common::server::{RunOutput, ServerBuilder};
use common::tls::{path_arg, Authority, KeyEncoding, TlsClient, TlsFiles};
use common::wire::{assert_usable, exchange, HEY, HEYA};

/// A port nothing listens on (bound and released at once).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn started_line(logs: &[String]) -> String {
    logs.iter()
        .find(|line| line.contains("Server started on: "))
        .cloned()
        .expect("a started line")
}

#[test]
fn key_and_chain_add_a_tls_listener_beside_the_plain_one() {
    let builder = ServerBuilder::new();
    let files = TlsFiles::write(builder.dir());
    let server = builder.args(&files.args()).start();
    let tls_port = server.tls_port.expect("a TLS listener");
    let wanted = format!(
        " INFO  Server started on: skyhash://127.0.0.1:{} and skyhash-secure://127.0.0.1:{tls_port}",
        server.port
    );
    let line = started_line(&server.logs());
    assert!(
        line.ends_with(&wanted),
        "{line:?} does not end with {wanted:?}"
    );
    assert_usable(&mut server.raw());
    exchange(&mut TlsClient::to(&server, &files.ca), HEYA, HEY);
}

#[test]
fn sslonly_serves_tls_alone_and_the_plain_port_is_refused() {
    let builder = ServerBuilder::new();
    let files = TlsFiles::write(builder.dir());
    let plain_port = free_port();
    let data_dir = path_arg(&builder.data_dir());
    let server = builder
        .exact_args(&[
            "--noart",
            "-p",
            &plain_port.to_string(),
            "--data-dir",
            &data_dir,
        ])
        .args(&["--sslonly"])
        .args(&files.args())
        .start();
    let tls_port = server.tls_port.expect("a TLS listener");
    let line = started_line(&server.logs());
    assert!(
        line.ends_with(&format!(
            " INFO  Server started on: skyhash-secure://127.0.0.1:{tls_port}"
        )),
        "{line:?}"
    );
    assert_eq!(server.port, 0, "no plain listener is logged");
    let refused = TcpStream::connect(("127.0.0.1", plain_port));
    assert!(
        refused.is_err(),
        "the plain port {plain_port} accepted a connection"
    );
    exchange(&mut TlsClient::to(&server, &files.ca), HEYA, HEY);
}

/// A configuration file with an `[ssl]` section for `files`; `only` is the key's line, if any.
fn ssl_config(builder: &ServerBuilder, files: &TlsFiles, only: Option<&str>) -> String {
    let text = format!(
        "[server]\nhost = \"127.0.0.1\"\nport = 0\nnoart = true\n\n[ssl]\nkey = \"{}\"\n\
         chain = \"{}\"\nport = 0\n{}\n",
        files.key.display(),
        files.chain.display(),
        only.unwrap_or("")
    );
    path_arg(&builder.write_file("ssl.toml", &text))
}

#[test]
fn an_ssl_section_serves_plain_and_tls_and_only_true_serves_tls_alone() {
    for (only, plain_too) in [
        (None, true),
        (Some("only = false"), true),
        (Some("only = true"), false),
    ] {
        let builder = ServerBuilder::new();
        let files = TlsFiles::write(builder.dir());
        let config = ssl_config(&builder, &files, only);
        let data_dir = path_arg(&builder.data_dir());
        let server = builder
            .exact_args(&["-c", &config, "--data-dir", &data_dir])
            .start();
        assert!(server.tls_port.is_some(), "{only:?}: no TLS listener");
        assert_eq!(server.port != 0, plain_too, "{only:?}: {:?}", server.logs());
        exchange(&mut TlsClient::to(&server, &files.ca), HEYA, HEY);
    }
}

#[test]
fn sslport_overrides_the_port_of_the_ssl_section() {
    let builder = ServerBuilder::new();
    let files = TlsFiles::write(builder.dir());
    let config = ssl_config(&builder, &files, None);
    let tls_port = free_port();
    let data_dir = path_arg(&builder.data_dir());
    let server = builder
        .exact_args(&[
            "-c",
            &config,
            "--data-dir",
            &data_dir,
            "--sslport",
            &tls_port.to_string(),
        ])
        .start();
    assert_eq!(server.tls_port, Some(tls_port));
    exchange(&mut TlsClient::to(&server, &files.ca), HEYA, HEY);
}

#[test]
fn a_tls_port_that_is_taken_fails_to_bind() {
    let builder = ServerBuilder::new();
    let files = TlsFiles::write(builder.dir());
    let occupied = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = occupied.local_addr().unwrap().port().to_string();
    let output = builder
        .args(&[
            "-k",
            &path_arg(&files.key),
            "-z",
            &path_arg(&files.chain),
            "--sslport",
            &port,
        ])
        .run_to_exit();
    output.assert_error(&format!("Failed to bind to TCP port 127.0.0.1:{port}"));
}

// ---- start-up errors ------------------------------------------------------------------------

/// Runs the server with `key` and `chain` and asserts exit status 1, an ERROR line containing
/// `message`, and no data directory (the TLS setup comes before the data is opened, and that
/// before anything is bound).
fn assert_refused(builder: ServerBuilder, key: &Path, chain: &Path, message: &str) -> RunOutput {
    let data_dir = builder.data_dir();
    let output = builder
        .args(&[
            "-k",
            &path_arg(key),
            "-z",
            &path_arg(chain),
            "--sslport",
            "0",
        ])
        .run_to_exit();
    output.assert_error(&format!("TLS configuration error: {message}"));
    assert!(
        !data_dir.exists(),
        "the data directory was created\n{}",
        output.describe()
    );
    output
}

#[test]
fn a_missing_key_file_is_named() {
    let builder = ServerBuilder::new();
    let files = TlsFiles::write(builder.dir());
    let missing = builder.dir().join("missing-key.pem");
    assert_refused(
        builder,
        &missing,
        &files.chain,
        &format!(
            "cannot read the TLS private key file {}: No such file or directory",
            missing.display()
        ),
    );
}

#[test]
fn a_missing_chain_file_is_named() {
    let builder = ServerBuilder::new();
    let files = TlsFiles::write(builder.dir());
    let missing = builder.dir().join("missing-chain.pem");
    assert_refused(
        builder,
        &files.key,
        &missing,
        &format!(
            "cannot read the TLS certificate chain file {}: No such file or directory",
            missing.display()
        ),
    );
}

#[test]
fn a_key_path_that_is_a_directory_is_unreadable() {
    let builder = ServerBuilder::new();
    let files = TlsFiles::write(builder.dir());
    let directory = builder.dir().join("keys");
    std::fs::create_dir(&directory).unwrap();
    assert_refused(
        builder,
        &directory,
        &files.chain,
        &format!(
            "cannot read the TLS private key file {}: Is a directory",
            directory.display()
        ),
    );
}

#[test]
fn a_key_file_without_a_key_is_named() {
    let builder = ServerBuilder::new();
    let files = TlsFiles::write(builder.dir());
    // The chain's certificates are PEM, but no key.
    assert_refused(
        builder,
        &files.chain,
        &files.chain,
        &format!(
            "the TLS private key file {} holds no private key: expected an unencrypted PEM \
             block PRIVATE KEY (PKCS#8), RSA PRIVATE KEY (PKCS#1) or EC PRIVATE KEY (SEC1)",
            files.chain.display()
        ),
    );
}

#[test]
fn an_encrypted_key_is_not_a_key_the_server_can_use() {
    let builder = ServerBuilder::new();
    let files = TlsFiles::write(builder.dir());
    let key =
        openssl::pkey::PKey::private_key_from_pem(&std::fs::read(&files.key).unwrap()).unwrap();
    let encrypted = key
        .private_key_to_pem_pkcs8_passphrase(openssl::symm::Cipher::aes_256_cbc(), b"secret")
        .unwrap();
    assert!(encrypted.starts_with(b"-----BEGIN ENCRYPTED PRIVATE KEY-----"));
    let encrypted_path = builder.write_bytes("encrypted.pem", &encrypted);
    assert_refused(
        builder,
        &encrypted_path,
        &files.chain,
        &format!(
            "the TLS private key file {} holds no private key: expected an unencrypted",
            encrypted_path.display()
        ),
    );
}

#[test]
fn a_chain_file_without_a_certificate_is_named() {
    let builder = ServerBuilder::new();
    let files = TlsFiles::write(builder.dir());
    assert_refused(
        builder,
        &files.key,
        &files.key,
        &format!(
            "the TLS certificate chain file {} holds no certificate: expected PEM blocks \
             CERTIFICATE, the server's own first",
            files.key.display()
        ),
    );
}

#[test]
fn a_chain_file_that_is_not_pem_is_named() {
    let builder = ServerBuilder::new();
    let files = TlsFiles::write(builder.dir());
    let broken = builder.write_file(
        "broken.pem",
        "-----BEGIN CERTIFICATE-----\nthis is not base64!\n-----END CERTIFICATE-----\n",
    );
    assert_refused(
        builder,
        &files.key,
        &broken,
        &format!(
            "the TLS certificate chain file {} is not valid PEM: ",
            broken.display()
        ),
    );
}

#[test]
fn a_chain_whose_first_certificate_is_not_a_certificate_is_named() {
    let builder = ServerBuilder::new();
    let files = TlsFiles::write(builder.dir());
    // Valid PEM and base64, but the bytes are no certificate.
    let garbage = builder.write_file(
        "garbage.pem",
        "-----BEGIN CERTIFICATE-----\naGVsbG8gd29ybGQ=\n-----END CERTIFICATE-----\n",
    );
    assert_refused(
        builder,
        &files.key,
        &garbage,
        &format!(
            "the first certificate in {} cannot be used for TLS: ",
            garbage.display()
        ),
    );
}

#[test]
fn a_key_that_does_not_match_the_certificate_is_refused_naming_both_files() {
    let builder = ServerBuilder::new();
    let files = TlsFiles::write(builder.dir());
    let other = Authority::new("other").issue(KeyEncoding::EcdsaPkcs8);
    let other_key = builder.write_bytes("other-key.pem", &other.key_pem);
    assert_refused(
        builder,
        &other_key,
        &files.chain,
        &format!(
            "the private key in {} does not belong to the first certificate in {} (the \
             server's own certificate must come first in the chain)",
            other_key.display(),
            files.chain.display()
        ),
    );
}

#[test]
fn a_chain_with_the_authority_first_does_not_match_the_key() {
    let builder = ServerBuilder::new();
    let files = TlsFiles::write(builder.dir());
    let chain = std::fs::read_to_string(&files.chain).unwrap();
    let ca = std::fs::read_to_string(&files.ca).unwrap();
    let reversed = builder.write_file("reversed.pem", &format!("{ca}{}", chain.replace(&ca, "")));
    assert_refused(
        builder,
        &files.key,
        &reversed,
        &format!(
            "the private key in {} does not belong to the first certificate in {}",
            files.key.display(),
            reversed.display()
        ),
    );
}

#[test]
fn an_ssl_section_with_a_missing_key_file_is_refused_the_same_way() {
    let builder = ServerBuilder::new();
    let path = builder.write_file(
        "ssl.toml",
        "[server]\nhost = \"127.0.0.1\"\nport = 0\n\n[ssl]\nkey = \"nokey.pem\"\nchain = \"nochain.pem\"\nport = 0\nonly = true\n",
    );
    let data_dir = builder.data_dir();
    let output = builder
        .exact_args(&["-c", &path_arg(&path), "--data-dir", &path_arg(&data_dir)])
        .run_to_exit();
    output.assert_error(
        "TLS configuration error: cannot read the TLS private key file nokey.pem: No such file",
    );
    assert!(!data_dir.exists());
}

//! One TLS connection as a byte stream: a rustls [`ServerConnection`] over the non-blocking
//! socket, driven by the same readiness events as plain TCP. The handshake is nothing
//! special: the records a read brings are processed at once, and the records rustls wants to
//! send go out with the connection's next write or flush, so a slow or silent client holds
//! only its own connection (a deadline elsewhere bounds how long).
//!
//! Invariants: a read fills the caller's buffer or stops only when the socket is drained or
//! has ended, so a short read means what it means for TCP, except when the peer's end is still
//! to be reported ([`TlsStream::has_buffered_input`]); plaintext is drained from rustls before
//! each socket read, so its 16 KiB received-plaintext limit is never hit; the application
//! hands rustls more bytes only once its queued records are on the wire, so rustls holds at
//! most one write (at most its 64 KiB buffer limit) of records a slow reader has not taken.

use std::io::{self, ErrorKind, Read, Write};
use std::net::SocketAddr;

use log::debug;
use mio::net::TcpStream;
use rustls::ServerConnection;

/// What the budget counts for a TLS connection's rustls state beyond the bytes it holds to be
/// read or sent: measured at 7.4 KiB with rustls 0.23.46 (the connection, its keys, and the
/// 4 KiB read buffer rustls keeps while no partial record waits), whatever the key type.
const SESSION_BYTES: usize = 8 * 1024;
/// Added while the handshake runs: its transcript and messages (measured: 8 KiB at the peak).
const HANDSHAKE_BYTES: usize = 8 * 1024;
/// The most plaintext in one TLS record.
const RECORD_PLAINTEXT_BYTES: usize = 16 * 1024;
/// The most a record adds to its plaintext: a 5-byte header, TLS 1.2's 8-byte explicit nonce
/// (TLS 1.3's 1-byte inner content type), a 16-byte tag.
const RECORD_OVERHEAD_BYTES: usize = 5 + 8 + 16;
/// A generous size for one alert record (close_notify).
const ALERT_RECORD_BYTES: usize = 64;

pub struct TlsStream {
    socket: TcpStream,
    session: ServerConnection,
    /// The client, for log lines.
    peer: SocketAddr,
    /// Whether the end of the handshake has been seen (and logged).
    handshake_done: bool,
    /// Decrypted bytes rustls holds that have not been read: exact, from its last report.
    plaintext_unread: usize,
    /// An upper bound on the TLS bytes rustls holds to send (exact after each processing of
    /// received records, zero once it has sent everything).
    unsent_bound: usize,
    /// The peer ended the stream (close_notify, or the socket's end): every read from now on
    /// returns 0.
    peer_closed: bool,
    /// Our close_notify has been queued (rustls queues it once; this keeps the count right).
    close_notify_queued: bool,
}

impl TlsStream {
    pub fn new(socket: TcpStream, session: ServerConnection, peer: SocketAddr) -> TlsStream {
        TlsStream {
            socket,
            session,
            peer,
            handshake_done: false,
            plaintext_unread: 0,
            unsent_bound: 0,
            peer_closed: false,
            close_notify_queued: false,
        }
    }

    pub fn socket(&mut self) -> &mut TcpStream {
        &mut self.socket
    }

    pub fn is_handshaking(&self) -> bool {
        self.session.is_handshaking()
    }

    /// Whether a read may return more although the last one was short: plaintext is left in
    /// rustls, or the peer's end has still to be reported.
    pub fn has_buffered_input(&self) -> bool {
        self.plaintext_unread > 0 || self.peer_closed
    }

    /// Whether records wait to be sent (handshake messages, answers, an alert).
    pub fn wants_write(&self) -> bool {
        self.session.wants_write()
    }

    /// The memory this connection's TLS state holds, for the client memory budget (see
    /// [`SESSION_BYTES`]).
    pub fn held_bytes(&self) -> usize {
        let handshake = if self.is_handshaking() {
            HANDSHAKE_BYTES
        } else {
            0
        };
        SESSION_BYTES + handshake + self.plaintext_unread + self.unsent_bound
    }

    /// Queues a close_notify alert, unless one (or a fatal alert) was queued before.
    pub fn close_notify(&mut self) {
        if !self.close_notify_queued {
            self.close_notify_queued = true;
            self.session.send_close_notify();
            self.unsent_bound += ALERT_RECORD_BYTES;
        }
    }

    /// Sends queued records until none is left or the socket would block.
    pub fn send_records(&mut self) -> io::Result<()> {
        while self.session.wants_write() {
            match self.session.write_tls(&mut self.socket) {
                Ok(0) => return Err(ErrorKind::WriteZero.into()),
                Ok(sent) => self.unsent_bound = self.unsent_bound.saturating_sub(sent),
                Err(error) if error.kind() == ErrorKind::WouldBlock => return Ok(()),
                Err(error) if error.kind() == ErrorKind::Interrupted => {}
                Err(error) => return Err(error),
            }
        }
        self.unsent_bound = 0;
        Ok(())
    }

    /// Processes the records read so far. A protocol error (plaintext on the TLS port, a bad
    /// record, a failed handshake) gets its alert sent, as far as the socket takes it, and
    /// ends the connection.
    fn process(&mut self) -> io::Result<()> {
        match self.session.process_new_packets() {
            Ok(state) => {
                self.plaintext_unread = state.plaintext_bytes_to_read();
                self.unsent_bound = self.unsent_bound.max(state.tls_bytes_to_write());
                if state.peer_has_closed() {
                    self.peer_closed = true;
                }
                if !self.handshake_done && !self.session.is_handshaking() {
                    self.handshake_done = true;
                    debug!(
                        "{}: TLS handshake done: {:?}, {:?}",
                        self.peer,
                        self.session.protocol_version(),
                        self.session
                            .negotiated_cipher_suite()
                            .map(|suite| suite.suite())
                    );
                }
                Ok(())
            }
            Err(error) => {
                // The connection is closed next: one attempt is all the alert gets.
                let _ = self.session.write_tls(&mut self.socket);
                let stage = if self.handshake_done {
                    "after"
                } else {
                    "during"
                };
                Err(io::Error::new(
                    ErrorKind::InvalidData,
                    format!("TLS error {stage} the handshake: {error}"),
                ))
            }
        }
    }

    /// Moves plaintext rustls holds into `buf`; returns the bytes moved.
    fn take_plaintext(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.plaintext_unread == 0 || buf.is_empty() {
            return Ok(0);
        }
        let taken = self.session.reader().read(buf)?;
        self.plaintext_unread -= taken.min(self.plaintext_unread);
        Ok(taken)
    }
}

/// The socket as rustls reads it, noting whether a read returned less than it was offered:
/// then the socket had no more, as for plain TCP, and the read that would only say
/// `WouldBlock` is saved.
struct ShortReadProbe<'a> {
    socket: &'a mut TcpStream,
    was_short: bool,
}

impl Read for ShortReadProbe<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let read = self.socket.read(buf)?;
        self.was_short = read < buf.len();
        Ok(read)
    }
}

impl Read for TlsStream {
    /// Plaintext, as much as fits: from what rustls holds, then from records read from the
    /// socket until it is drained or ends. `Ok(0)` is the end of the stream (close_notify, or
    /// the socket's end without one: the connection treats both alike), `WouldBlock` means
    /// nothing is available yet (the handshake may have moved on).
    // Not inlined into the transport's match: the plain path's read stays as small as it was.
    #[inline(never)]
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut filled = 0;
        let mut drained = false;
        loop {
            filled += self.take_plaintext(&mut buf[filled..])?;
            if filled == buf.len() || self.peer_closed || drained {
                break;
            }
            let mut probe = ShortReadProbe {
                socket: &mut self.socket,
                was_short: false,
            };
            match self.session.read_tls(&mut probe) {
                Ok(0) => self.peer_closed = true,
                Ok(_) => drained = probe.was_short,
                Err(error) if error.kind() == ErrorKind::WouldBlock => break,
                Err(error) if error.kind() == ErrorKind::Interrupted => continue,
                Err(error) => return Err(error),
            }
            self.process()?;
        }
        if filled == 0 && !self.peer_closed {
            return Err(ErrorKind::WouldBlock.into());
        }
        Ok(filled)
    }
}

impl Write for TlsStream {
    /// Hands rustls at most what its buffer limit takes, once what it holds is on the wire;
    /// `WouldBlock` while the socket has not taken it.
    // Not inlined, as `read`.
    #[inline(never)]
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.send_records()?;
        if self.session.wants_write() {
            return Err(ErrorKind::WouldBlock.into());
        }
        let accepted = self.session.writer().write(bytes)?;
        if accepted == 0 {
            return Err(ErrorKind::WouldBlock.into());
        }
        let records = accepted.div_ceil(RECORD_PLAINTEXT_BYTES);
        self.unsent_bound += accepted + records * RECORD_OVERHEAD_BYTES;
        self.send_records()?;
        Ok(accepted)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send_records()
    }
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;
    use std::sync::Arc;

    use openssl::asn1::Asn1Time;
    use openssl::ec::{EcGroup, EcKey};
    use openssl::hash::MessageDigest;
    use openssl::nid::Nid;
    use openssl::pkey::PKey;
    use openssl::x509::extension::{BasicConstraints, SubjectAlternativeName};
    use openssl::x509::{X509Builder, X509NameBuilder};
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
    use rustls::{ClientConfig, ClientConnection, RootCertStore, ServerConfig};

    use super::*;

    /// A self-signed end-entity certificate for 127.0.0.1 (its own root) and its key, as DER.
    fn certificate() -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
        let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
        let key = PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap();
        let mut name = X509NameBuilder::new().unwrap();
        name.append_entry_by_text("CN", "stream test").unwrap();
        let name = name.build();
        let mut builder = X509Builder::new().unwrap();
        builder.set_version(2).unwrap();
        builder.set_subject_name(&name).unwrap();
        builder.set_issuer_name(&name).unwrap();
        builder.set_pubkey(&key).unwrap();
        builder
            .set_not_before(&Asn1Time::days_from_now(0).unwrap())
            .unwrap();
        builder
            .set_not_after(&Asn1Time::days_from_now(1).unwrap())
            .unwrap();
        let constraints = BasicConstraints::new().critical().build().unwrap();
        builder.append_extension(constraints).unwrap();
        let names = SubjectAlternativeName::new()
            .ip("127.0.0.1")
            .build(&builder.x509v3_context(None, None))
            .unwrap();
        builder.append_extension(names).unwrap();
        builder.sign(&key, MessageDigest::sha256()).unwrap();
        let certificate = CertificateDer::from(builder.build().to_der().unwrap());
        let key = PrivateKeyDer::try_from(key.private_key_to_pkcs8().unwrap()).unwrap();
        (certificate, key)
    }

    /// A server TlsStream and a rustls client on a loopback connection, both non-blocking,
    /// past their handshake.
    fn connected_pair() -> (TlsStream, ClientConnection, std::net::TcpStream) {
        let (certificate, key) = certificate();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let server_config = ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![certificate.clone()], key)
            .unwrap();
        let mut roots = RootCertStore::empty();
        roots.add(certificate).unwrap();
        let client_config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client_socket = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        client_socket.set_nonblocking(true).unwrap();
        let (server_socket, peer) = listener.accept().unwrap();
        server_socket.set_nonblocking(true).unwrap();
        let session = ServerConnection::new(Arc::new(server_config)).unwrap();
        let mut server = TlsStream::new(TcpStream::from_std(server_socket), session, peer);
        let name = ServerName::try_from("127.0.0.1").unwrap();
        let mut client = ClientConnection::new(Arc::new(client_config), name).unwrap();
        let mut socket = client_socket;
        let mut plaintext = [0u8; 64];
        for _ in 0..10_000 {
            if !client.is_handshaking() && !server.is_handshaking() && !server.wants_write() {
                return (server, client, socket);
            }
            while client.wants_write() {
                client.write_tls(&mut socket).unwrap();
            }
            match server.read(&mut plaintext) {
                Err(error) if error.kind() == ErrorKind::WouldBlock => {}
                other => panic!("no plaintext is due during the handshake: {other:?}"),
            }
            server.send_records().unwrap();
            if client.read_tls(&mut socket).is_ok() {
                client.process_new_packets().unwrap();
            }
        }
        panic!("the handshake did not complete");
    }

    /// What rustls really holds to send, from a fresh report.
    fn exact_unsent(stream: &mut TlsStream) -> usize {
        stream
            .session
            .process_new_packets()
            .unwrap()
            .tls_bytes_to_write()
    }

    #[test]
    fn the_count_bounds_what_rustls_holds_for_a_reader_that_stopped() {
        let (mut server, _client, _socket) = connected_pair();
        assert_eq!(server.held_bytes(), SESSION_BYTES, "an idle connection");
        // The client reads nothing: write until the socket and rustls are both full.
        let answer = vec![b'a'; 1024 * 1024];
        let mut handed = 0usize;
        loop {
            match server.write(&answer) {
                Ok(accepted) => handed += accepted,
                Err(error) if error.kind() == ErrorKind::WouldBlock => break,
                Err(error) => panic!("write failed: {error}"),
            }
            assert!(handed < 1 << 30, "the socket never filled");
        }
        assert!(server.wants_write(), "records wait for the socket");
        let unsent = exact_unsent(&mut server);
        assert!(unsent > 0);
        assert!(
            server.unsent_bound >= unsent,
            "counted {} unsent bytes, rustls holds {unsent}",
            server.unsent_bound
        );
        // rustls's 64 KiB buffer limit holds: one write's worth of records, at most.
        let one_write = 64 * 1024 + 4 * RECORD_OVERHEAD_BYTES;
        assert!(unsent <= one_write, "rustls holds {unsent} bytes");
        assert!(server.held_bytes() <= SESSION_BYTES + one_write);
        assert_eq!(
            server.write(b"more").unwrap_err().kind(),
            ErrorKind::WouldBlock,
            "nothing more is taken while records wait"
        );
    }

    #[test]
    fn plaintext_left_in_rustls_and_the_peers_end_are_reported_as_buffered_input() {
        let (mut server, mut client, mut socket) = connected_pair();
        let query = vec![b'q'; 40 * 1024];
        client.writer().write_all(&query).unwrap();
        client.send_close_notify();
        while client.wants_write() {
            client.write_tls(&mut socket).unwrap();
        }
        let mut received = Vec::new();
        let mut small = [0u8; 1000];
        for _ in 0..10_000 {
            match server.read(&mut small) {
                Ok(0) => break,
                Ok(read) => {
                    received.extend_from_slice(&small[..read]);
                    // A short read says the socket is drained unless input is buffered: then
                    // the next read would block. (The client wrote everything beforehand.)
                    if read < small.len() && !server.has_buffered_input() {
                        let next = server.read(&mut small);
                        assert!(
                            matches!(&next, Err(error) if error.kind() == ErrorKind::WouldBlock),
                            "a short read hid more input: the next read gave {next:?}"
                        );
                    }
                }
                Err(error) if error.kind() == ErrorKind::WouldBlock => {}
                Err(error) => panic!("read failed: {error}"),
            }
            if server.plaintext_unread > 0 {
                assert!(server.has_buffered_input());
                assert!(server.held_bytes() >= SESSION_BYTES + server.plaintext_unread);
            }
        }
        assert!(
            received == query,
            "{} of {} bytes",
            received.len(),
            query.len()
        );
        assert_eq!(
            server.read(&mut small).unwrap(),
            0,
            "the end stays reported"
        );
    }
}

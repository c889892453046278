//! One non-blocking connection's plumbing for the mio loop: connecting, an outgoing buffer
//! flushed until the socket would block, and a read buffer drained until it would block (mio
//! is edge-triggered, so every readiness event must be followed to `WouldBlock`), over plain
//! TCP or TLS. It knows no protocol and no timing: `client`, `connect` and `saver` frame and
//! judge what arrives.
//!
//! With TLS, requests go through rustls, which takes only as much plaintext as its buffer of
//! unsent records allows: what it refuses stays in the outgoing buffer and is offered again
//! after the records drain. Every read is followed by a flush, because processing records can
//! make rustls want to write (handshake messages, and requests it held back until the
//! handshake ended), and plaintext is drained after every record read, so rustls's plaintext
//! buffer never fills.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::Duration;

use mio::net::TcpStream;
use rustls::ClientConnection;

use crate::tls::TlsClient;

/// How long to wait for a connection to be accepted before giving up on the server.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Free space guaranteed before each read; replies larger than this grow the buffer.
const READ_CHUNK: usize = 64 * 1024;

#[derive(Debug)]
pub struct Wire {
    pub stream: TcpStream,
    /// The TLS state, `None` for plain TCP. Boxed: it is large, and moved with the wire.
    tls: Option<Box<ClientConnection>>,
    /// A non-blocking connect not yet known to have completed.
    connecting: bool,
    buffers: Buffers,
}

/// The bytes waiting to be sent and the bytes received but not yet consumed.
#[derive(Debug)]
struct Buffers {
    outgoing: Vec<u8>,
    /// `outgoing[..written]` has been handed to the socket (or to rustls).
    written: usize,
    incoming: Vec<u8>,
    /// `incoming[start..end]` holds bytes read but not yet consumed.
    start: usize,
    end: usize,
}

/// What a read found besides data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadEnd {
    /// Everything available was read; the connection is still open.
    Drained,
    /// The server closed the connection (or reset it); whatever arrived before is kept.
    Closed,
}

impl Wire {
    /// Connects with a blocking connect (so a refused connection is reported at once, before any
    /// test starts) and then switches to non-blocking for the loop. With `tls`, the handshake
    /// starts with the first flush.
    pub fn connect(addr: SocketAddr, tls: Option<&TlsClient>) -> io::Result<Wire> {
        let stream = std::net::TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT)?;
        stream.set_nonblocking(true)?;
        Wire::over(TcpStream::from_std(stream), tls, false)
    }

    /// Starts a non-blocking connect: the wire sends nothing until a writable event shows the
    /// connection is made.
    pub fn start_connect(addr: SocketAddr, tls: Option<&TlsClient>) -> io::Result<Wire> {
        Wire::over(TcpStream::connect(addr)?, tls, true)
    }

    fn over(stream: TcpStream, tls: Option<&TlsClient>, connecting: bool) -> io::Result<Wire> {
        // Requests go out in whole batches; Nagle's delay would only add latency to the tail
        // of a batch split across segments.
        stream.set_nodelay(true)?;
        let tls = match tls {
            Some(client) => Some(Box::new(client.connection().map_err(io::Error::other)?)),
            None => None,
        };
        Ok(Wire {
            stream,
            tls,
            connecting,
            buffers: Buffers {
                outgoing: Vec::new(),
                written: 0,
                incoming: vec![0; READ_CHUNK],
                start: 0,
                end: 0,
            },
        })
    }

    /// Whether requests can flow: connected, and past the TLS handshake if there is one.
    pub fn is_ready(&self) -> bool {
        !self.connecting && self.tls.as_ref().is_none_or(|tls| !tls.is_handshaking())
    }

    /// The buffer the next requests are appended to; [`Self::flush`] sends them.
    pub fn outgoing(&mut self) -> &mut Vec<u8> {
        let buffers = &mut self.buffers;
        if buffers.written == buffers.outgoing.len() {
            buffers.outgoing.clear();
            buffers.written = 0;
        }
        &mut buffers.outgoing
    }

    /// Writes until everything is sent or the socket would block (the rest goes on the next
    /// writable event).
    pub fn flush(&mut self) -> io::Result<()> {
        if !self.connected()? {
            return Ok(());
        }
        match self.tls.as_deref_mut() {
            None => flush_plain(&mut self.stream, &mut self.buffers),
            Some(tls) => flush_tls(tls, &mut self.stream, &mut self.buffers),
        }
    }

    /// Reads until the socket would block or the server closes the connection.
    pub fn read_available(&mut self) -> io::Result<ReadEnd> {
        if !self.connected()? {
            return Ok(ReadEnd::Drained);
        }
        match self.tls.as_deref_mut() {
            None => read_plain(&mut self.stream, &mut self.buffers),
            Some(tls) => {
                let end = read_tls(tls, &mut self.stream, &mut self.buffers)?;
                if end == ReadEnd::Drained {
                    flush_tls(tls, &mut self.stream, &mut self.buffers)?;
                }
                Ok(end)
            }
        }
    }

    /// Ends a TLS session politely (close_notify, written if the socket takes it at once);
    /// the socket itself closes when the wire is dropped.
    pub fn close(&mut self) {
        if let Some(tls) = self.tls.as_deref_mut() {
            tls.send_close_notify();
            // Best effort: the connection is being given up either way.
            let _ = tls.write_tls(&mut self.stream);
        }
    }

    /// Bytes read and not yet consumed.
    pub fn unread(&self) -> &[u8] {
        &self.buffers.incoming[self.buffers.start..self.buffers.end]
    }

    pub fn consume(&mut self, len: usize) {
        let buffers = &mut self.buffers;
        buffers.start += len;
        if buffers.start == buffers.end {
            buffers.start = 0;
            buffers.end = 0;
        }
    }

    /// Whether a non-blocking connect has completed; its error if it failed.
    fn connected(&mut self) -> io::Result<bool> {
        if !self.connecting {
            return Ok(true);
        }
        if let Some(error) = self.stream.take_error()? {
            return Err(error);
        }
        match self.stream.peer_addr() {
            Ok(_) => {
                self.connecting = false;
                Ok(true)
            }
            Err(error) if error.kind() == io::ErrorKind::NotConnected => Ok(false),
            Err(error) => Err(error),
        }
    }
}

fn flush_plain(stream: &mut TcpStream, buffers: &mut Buffers) -> io::Result<()> {
    while buffers.written < buffers.outgoing.len() {
        match stream.write(&buffers.outgoing[buffers.written..]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => buffers.written += n,
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(())
}

/// Offers rustls the unsent plaintext and writes its records, until both are done or the
/// socket would block. rustls accepts plaintext only while its unsent records are under its
/// limit, so the two alternate.
fn flush_tls(
    tls: &mut ClientConnection,
    stream: &mut TcpStream,
    buffers: &mut Buffers,
) -> io::Result<()> {
    loop {
        if buffers.written < buffers.outgoing.len() {
            buffers.written += tls.writer().write(&buffers.outgoing[buffers.written..])?;
        }
        if !tls.wants_write() {
            // Either everything is sent, or rustls holds the rest until the handshake ends,
            // which a read will bring.
            return Ok(());
        }
        match tls.write_tls(stream) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(_) => {}
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
}

fn read_plain(stream: &mut TcpStream, buffers: &mut Buffers) -> io::Result<ReadEnd> {
    loop {
        buffers.make_room(READ_CHUNK);
        match stream.read(&mut buffers.incoming[buffers.end..]) {
            Ok(0) => return Ok(ReadEnd::Closed),
            Ok(n) => buffers.end += n,
            Err(error) => {
                if let Some(end) = read_error(error)? {
                    return Ok(end);
                }
            }
        }
    }
}

/// Reads records until the socket would block, decrypting each batch at once and moving its
/// plaintext to the read buffer. A record the server should not have sent (or a certificate
/// that fails verification) is answered with rustls's alert and reported as `InvalidData`.
fn read_tls(
    tls: &mut ClientConnection,
    stream: &mut TcpStream,
    buffers: &mut Buffers,
) -> io::Result<ReadEnd> {
    loop {
        let closed = match tls.read_tls(stream) {
            Ok(0) => true,
            Ok(_) => false,
            Err(error) => match read_error(error)? {
                Some(end) => return Ok(end),
                None => continue,
            },
        };
        let state = match tls.process_new_packets() {
            Ok(state) => state,
            Err(error) => {
                // Best effort: tell the server why before giving up.
                let _ = tls.write_tls(stream);
                return Err(io::Error::new(io::ErrorKind::InvalidData, error));
            }
        };
        let plaintext = state.plaintext_bytes_to_read();
        if plaintext > 0 {
            buffers.make_room(plaintext);
            let end = buffers.end + plaintext;
            tls.reader()
                .read_exact(&mut buffers.incoming[buffers.end..end])?;
            buffers.end = end;
        }
        if closed || state.peer_has_closed() {
            return Ok(ReadEnd::Closed);
        }
    }
}

/// What a failed read means: `Some` ends the reading, `None` retries (an interrupted call).
fn read_error(error: io::Error) -> io::Result<Option<ReadEnd>> {
    match error.kind() {
        io::ErrorKind::WouldBlock => Ok(Some(ReadEnd::Drained)),
        io::ErrorKind::ConnectionReset => Ok(Some(ReadEnd::Closed)),
        io::ErrorKind::Interrupted => Ok(None),
        _ => Err(error),
    }
}

impl Buffers {
    /// Guarantees `room` free bytes at the end, first by moving unread bytes to the front
    /// (cheap: usually a partial reply), then by growing.
    fn make_room(&mut self, room: usize) {
        if self.incoming.len() - self.end >= room {
            return;
        }
        if self.start > 0 {
            self.incoming.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.incoming.len() - self.end < room {
            self.incoming.resize(self.end + room.max(READ_CHUNK), 0);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;
    use std::sync::Arc;
    use std::thread;
    use std::time::Instant;

    use mio::{Events, Interest, Poll, Token};
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};

    use super::*;
    use crate::tls::tests::{temp_file, OTHER_CERT, SERVER_CERT, SERVER_KEY};

    /// A blocking TLS server on a thread, for one connection: reads `expect` bytes, answers
    /// `answer`, and hands back what it read (or why it could not).
    fn serve_once(
        expect: usize,
        answer: Vec<u8>,
    ) -> (SocketAddr, thread::JoinHandle<io::Result<Vec<u8>>>) {
        let chain = CertificateDer::pem_slice_iter(SERVER_CERT.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        let key = PrivateKeyDer::from_pem_slice(SERVER_KEY.as_bytes()).unwrap();
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = thread::spawn(move || {
            let (socket, _) = listener.accept()?;
            let connection =
                rustls::ServerConnection::new(Arc::new(config)).map_err(io::Error::other)?;
            let mut stream = rustls::StreamOwned::new(connection, socket);
            let mut received = vec![0; expect];
            stream.read_exact(&mut received)?;
            stream.write_all(&answer)?;
            stream.flush()?;
            Ok(received)
        });
        (addr, server)
    }

    /// Drives `wire` as the load engine does until `done` holds; the first error, if any.
    fn drive(wire: &mut Wire, done: impl Fn(&Wire) -> bool) -> io::Result<()> {
        let mut poll = Poll::new()?;
        poll.registry().register(
            &mut wire.stream,
            Token(0),
            Interest::READABLE | Interest::WRITABLE,
        )?;
        wire.flush()?;
        let mut events = Events::with_capacity(16);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !done(wire) {
            assert!(Instant::now() < deadline, "timed out");
            poll.poll(&mut events, Some(Duration::from_millis(100)))?;
            for event in events.iter() {
                if event.is_writable() {
                    wire.flush()?;
                }
                // The server closes once it has answered: whatever came before counts.
                if wire.read_available()? == ReadEnd::Closed && !done(wire) {
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
            }
        }
        Ok(())
    }

    fn pattern(len: usize, seed: u8) -> Vec<u8> {
        (0..len).map(|index| (index % 251) as u8 ^ seed).collect()
    }

    #[test]
    fn tls_carries_requests_and_replies_larger_than_rustls_buffers() {
        // 200 kB out, past rustls's 64 KiB of unsent records, queued before the handshake
        // ends; 300 kB back, many times its 16 KiB plaintext buffer.
        let request = pattern(200_000, 0x5a);
        let reply = pattern(300_000, 0xa5);
        let (addr, server) = serve_once(request.len(), reply.clone());
        let cacert = temp_file("wire-server-cert.pem", SERVER_CERT);
        let client = TlsClient::new(&cacert, "127.0.0.1").unwrap();
        let mut wire = Wire::connect(addr, Some(&client)).unwrap();
        wire.outgoing().extend_from_slice(&request);
        drive(&mut wire, |wire| wire.unread().len() >= reply.len()).unwrap();
        assert!(wire.is_ready());
        assert_eq!(wire.unread(), reply.as_slice());
        assert_eq!(server.join().unwrap().unwrap(), request);
        let _ = std::fs::remove_file(cacert);
    }

    #[test]
    fn a_server_certificate_that_does_not_verify_is_a_tls_error() {
        let (addr, server) = serve_once(1, Vec::new());
        let cacert = temp_file("wire-other-cert.pem", OTHER_CERT);
        let client = TlsClient::new(&cacert, "127.0.0.1").unwrap();
        let mut wire = Wire::start_connect(addr, Some(&client)).unwrap();
        wire.outgoing().push(b'x');
        let error = drive(&mut wire, Wire::is_ready).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
        assert_eq!(error.to_string(), "invalid peer certificate: UnknownIssuer");
        assert!(server.join().unwrap().is_err(), "the server saw the alert");
        let _ = std::fs::remove_file(cacert);
    }

    #[test]
    fn plain_tcp_after_a_non_blocking_connect() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = thread::spawn(move || {
            let (mut socket, _) = listener.accept().unwrap();
            let mut request = [0; 5];
            socket.read_exact(&mut request).unwrap();
            socket.write_all(b"pong").unwrap();
            request
        });
        let mut wire = Wire::start_connect(addr, None).unwrap();
        wire.outgoing().extend_from_slice(b"ping!");
        drive(&mut wire, |wire| wire.unread() == b"pong").unwrap();
        assert_eq!(&server.join().unwrap(), b"ping!");
    }
}

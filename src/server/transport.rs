//! How a connection's bytes cross the network: a byte stream the connection reads from and
//! writes to, and the socket the event loop watches. Plain TCP, or TLS over it; the
//! connection sees both as the same byte stream, and asks the few questions only TLS can
//! answer differently: whether bytes are buffered inside the transport (decrypted input not
//! yet read, records not yet sent) and what its own buffers hold.

use std::io;

use mio::net::TcpStream;

use super::tls::TlsStream;

pub enum Transport {
    Plain(TcpStream),
    /// Boxed: the rustls state is about 1 KiB, and plain connections should not carry it.
    Tls(Box<TlsStream>),
}

impl Transport {
    /// The socket to register with the event loop.
    pub fn socket(&mut self) -> &mut TcpStream {
        match self {
            Transport::Plain(stream) => stream,
            Transport::Tls(stream) => stream.socket(),
        }
    }

    pub fn is_tls(&self) -> bool {
        matches!(self, Transport::Tls(_))
    }

    /// Whether a TLS connection is still in its handshake (never for plain TCP).
    pub fn is_handshaking(&self) -> bool {
        match self {
            Transport::Plain(_) => false,
            Transport::Tls(stream) => stream.is_handshaking(),
        }
    }

    /// Whether a read may return more although the last one returned less than it was
    /// offered: for TCP a short read empties the socket, but TLS may still hold plaintext, or
    /// have to report the peer's end.
    pub fn has_buffered_input(&self) -> bool {
        match self {
            Transport::Plain(_) => false,
            Transport::Tls(stream) => stream.has_buffered_input(),
        }
    }

    /// Whether bytes the connection already wrote still wait inside the transport (TLS
    /// records the socket has not taken).
    pub fn wants_write(&self) -> bool {
        match self {
            Transport::Plain(_) => false,
            Transport::Tls(stream) => stream.wants_write(),
        }
    }

    /// Sends what waits inside the transport, until done or the socket would block.
    pub fn send_buffered(&mut self) -> io::Result<()> {
        match self {
            Transport::Plain(_) => Ok(()),
            Transport::Tls(stream) => stream.send_records(),
        }
    }

    /// Says goodbye in the transport's own terms before the connection is closed: TLS queues
    /// close_notify (sent by [`Self::send_buffered`]). Nothing for TCP.
    pub fn close_notify(&mut self) {
        if let Transport::Tls(stream) = self {
            stream.close_notify();
        }
    }

    /// The memory the transport's own buffers and state hold (none for TCP).
    pub fn held_bytes(&self) -> usize {
        match self {
            Transport::Plain(_) => 0,
            Transport::Tls(stream) => stream.held_bytes(),
        }
    }
}

impl io::Read for Transport {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(stream) => stream.read(buf),
            Transport::Tls(stream) => stream.read(buf),
        }
    }
}

impl io::Write for Transport {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(stream) => stream.write(bytes),
            Transport::Tls(stream) => stream.write(bytes),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Transport::Plain(stream) => stream.flush(),
            Transport::Tls(stream) => stream.flush(),
        }
    }
}

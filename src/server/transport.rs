//! How a connection's bytes cross the network: a byte stream the connection reads from and
//! writes to, and the socket the event loop watches. Plain TCP; a TLS transport is another
//! variant here, seen by the rest of the connection as the same byte stream.

use std::io;

use mio::net::TcpStream;

pub enum Transport {
    Plain(TcpStream),
}

impl Transport {
    /// The socket to register with the event loop.
    pub fn socket(&mut self) -> &mut TcpStream {
        match self {
            Transport::Plain(stream) => stream,
        }
    }
}

impl io::Read for Transport {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(stream) => stream.read(buf),
        }
    }
}

impl io::Write for Transport {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(stream) => stream.write(bytes),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Transport::Plain(stream) => stream.flush(),
        }
    }
}

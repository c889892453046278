//! A blocking request/reply connection for the persistence mode: filling, polling and timing
//! single commands, where one connection at a time is all that is needed. Replies are framed by
//! the protocol's parser and handed back as owned bytes for the caller to interpret. Timeouts
//! make a hung server fail the run instead of hanging it. The load mode does not use this.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use crate::protocol::{quote, MalformedReply, Protocol};

/// The longest any single reply may take: generous, since Redis's SAVE of millions of keys
/// takes seconds and the figure is what is being measured.
const REPLY_TIMEOUT: Duration = Duration::from_secs(600);
const READ_CHUNK: usize = 64 * 1024;

#[derive(Debug)]
pub enum ClientError {
    Io(io::Error),
    Closed,
    Malformed(MalformedReply, String),
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Io(error) if error.kind() == io::ErrorKind::WouldBlock => {
                write!(f, "no reply within {} s", REPLY_TIMEOUT.as_secs())
            }
            ClientError::Io(error) => error.fmt(f),
            ClientError::Closed => f.write_str("the server closed the connection"),
            ClientError::Malformed(error, bytes) => write!(f, "malformed reply ({error}): {bytes}"),
        }
    }
}

impl std::error::Error for ClientError {}

impl From<io::Error> for ClientError {
    fn from(error: io::Error) -> Self {
        ClientError::Io(error)
    }
}

#[derive(Debug)]
pub struct BlockingClient {
    stream: TcpStream,
    protocol: Protocol,
    /// Bytes read past the replies returned so far.
    incoming: Vec<u8>,
}

impl BlockingClient {
    pub fn connect(
        addr: SocketAddr,
        protocol: Protocol,
        connect_timeout: Duration,
    ) -> io::Result<BlockingClient> {
        let stream = TcpStream::connect_timeout(&addr, connect_timeout)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(REPLY_TIMEOUT))?;
        stream.set_write_timeout(Some(REPLY_TIMEOUT))?;
        Ok(BlockingClient {
            stream,
            protocol,
            incoming: Vec::new(),
        })
    }

    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// Sends already-encoded requests.
    pub fn send(&mut self, bytes: &[u8]) -> Result<(), ClientError> {
        self.stream.write_all(bytes)?;
        Ok(())
    }

    /// Reads one complete reply.
    pub fn receive(&mut self) -> Result<Vec<u8>, ClientError> {
        let mut chunk = [0u8; READ_CHUNK];
        loop {
            match self.protocol.reply_len(&self.incoming) {
                Ok(Some(len)) => return Ok(self.incoming.drain(..len).collect()),
                Ok(None) => {}
                Err(error) => return Err(ClientError::Malformed(error, quote(&self.incoming))),
            }
            match self.stream.read(&mut chunk) {
                Ok(0) => return Err(ClientError::Closed),
                Ok(n) => self.incoming.extend_from_slice(&chunk[..n]),
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Err(error.into()),
            }
        }
    }

    /// Sends one command and returns its reply.
    pub fn call(&mut self, parts: &[&[u8]]) -> Result<Vec<u8>, ClientError> {
        let mut request = Vec::new();
        self.protocol.encode_request(&mut request, parts);
        self.send(&request)?;
        self.receive()
    }
}

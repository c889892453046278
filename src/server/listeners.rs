//! The listening sockets. Each one pairs an address with what its connections speak: a codec
//! (Skyhash 1.0 or RESP2) over a transport (plain TCP). Connections accepted on a listener get
//! that pair; everything after accepting is the same for all of them.

use std::io;
use std::net::SocketAddr;

use log::{debug, info};
use mio::net::{TcpListener, TcpStream};
use mio::{Interest, Registry, Token};

use super::codec::{self, Codec};
use super::transport::Transport;
use super::ServerError;
use crate::config::Config;
use crate::log_lines::{RESP_SCHEME, SKYHASH_SCHEME, STARTED_ON};

/// At most this many listeners; their tokens come before the clients'.
pub const MAX_LISTENERS: usize = 4;

/// The codec a listener's connections speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Skyhash,
    Resp,
}

/// The transport under the codec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Security {
    Plain,
}

impl Protocol {
    /// The scheme of the listener's address in the startup log line.
    fn scheme(self, security: &Security) -> &'static str {
        match (self, security) {
            (Protocol::Skyhash, Security::Plain) => SKYHASH_SCHEME,
            (Protocol::Resp, Security::Plain) => RESP_SCHEME,
        }
    }
}

struct Listener {
    socket: TcpListener,
    protocol: Protocol,
    security: Security,
    address: SocketAddr,
}

/// The server's listeners, open until shutdown closes them all.
pub struct Listeners {
    open: Vec<Listener>,
    /// Token of the first listener; listener `i` is `Token(first_token + i)`.
    first_token: usize,
}

impl Listeners {
    /// Binds every listener the configuration asks for and registers it with `registry`.
    pub fn bind(
        config: &Config,
        registry: &Registry,
        first_token: usize,
    ) -> Result<Listeners, ServerError> {
        let mut wanted = vec![(Protocol::Skyhash, Security::Plain, config.port)];
        if let Some(port) = config.resp_port {
            wanted.push((Protocol::Resp, Security::Plain, port));
        }
        let mut open = Vec::with_capacity(wanted.len());
        for (index, (protocol, security, port)) in wanted.into_iter().enumerate() {
            let address = SocketAddr::new(config.host, port);
            let mut socket = TcpListener::bind(address)
                .map_err(|source| ServerError::Bind { address, source })?;
            registry
                .register(&mut socket, Token(first_token + index), Interest::READABLE)
                .map_err(ServerError::EventLoop)?;
            let address = socket.local_addr().map_err(ServerError::EventLoop)?;
            open.push(Listener {
                socket,
                protocol,
                security,
                address,
            });
        }
        Ok(Listeners { open, first_token })
    }

    /// Logs where the server listens: `Server started on: skyhash://127.0.0.1:2003`.
    pub fn log_started(&self) {
        let addresses: Vec<String> = self
            .open
            .iter()
            .map(|listener| {
                let scheme = listener.protocol.scheme(&listener.security);
                format!("{scheme}{}", listener.address)
            })
            .collect();
        info!("{STARTED_ON}{}", addresses.join(" and "));
    }

    /// The listener a token belongs to, if it is one of theirs.
    pub fn index_of(&self, token: Token) -> Option<usize> {
        let index = token.0.checked_sub(self.first_token)?;
        (index < MAX_LISTENERS).then_some(index)
    }

    pub fn len(&self) -> usize {
        self.open.len()
    }

    /// The port the first listener speaking `protocol` is bound to, if there is one.
    pub fn port_of(&self, protocol: Protocol) -> Option<u16> {
        self.open
            .iter()
            .find(|listener| listener.protocol == protocol)
            .map(|listener| listener.address.port())
    }

    /// Accepts one connection from listener `index`.
    pub fn accept(&self, index: usize) -> io::Result<Accepted> {
        let Some(listener) = self.open.get(index) else {
            return Err(io::ErrorKind::WouldBlock.into());
        };
        let (stream, peer) = listener.socket.accept()?;
        Ok(Accepted {
            stream,
            peer,
            protocol: listener.protocol,
            security: listener.security.clone(),
        })
    }

    /// Stops listening (shutdown).
    pub fn close(&mut self, registry: &Registry) {
        for mut listener in self.open.drain(..) {
            if let Err(error) = registry.deregister(&mut listener.socket) {
                debug!("deregistering the listener failed: {error}");
            }
        }
    }
}

/// A connection just accepted, and what it speaks.
pub struct Accepted {
    pub stream: TcpStream,
    pub peer: SocketAddr,
    protocol: Protocol,
    security: Security,
}

impl Accepted {
    /// The transport and codec of the new connection; `client_id` is its RESP `CLIENT ID`.
    pub fn into_parts(
        self,
        max_query_bytes: usize,
        client_id: u64,
    ) -> (Transport, SocketAddr, Codec) {
        let transport = match self.security {
            Security::Plain => Transport::Plain(self.stream),
        };
        let codec = match self.protocol {
            Protocol::Skyhash => Codec::Skyhash(codec::skyhash::Framing::new(max_query_bytes)),
            Protocol::Resp => Codec::Resp(codec::resp::Framing::new(max_query_bytes, client_id)),
        };
        (transport, self.peer, codec)
    }
}

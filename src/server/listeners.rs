//! The listening sockets. Each one pairs an address with what its connections speak: a codec
//! (Skyhash 1.0 or RESP2) over a transport (plain TCP, or TLS over it). Connections accepted
//! on a listener get that pair; everything after accepting is the same for all of them. As in
//! skyd, the plain Skyhash listener comes first, then the TLS one, and `--sslonly` leaves only
//! the latter; the RESP listeners follow, plain then TLS.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use log::{debug, info};
use mio::net::{TcpListener, TcpStream};
use mio::{Interest, Registry, Token};

use super::codec::{self, Codec};
use super::tls::TlsStream;
use super::transport::Transport;
use super::ServerError;
use crate::config::Config;
use crate::log_lines::{
    RESP_SCHEME, RESP_SECURE_SCHEME, SKYHASH_SCHEME, SKYHASH_SECURE_SCHEME, STARTED_ON,
};

/// At most this many listeners; their tokens come before the clients'.
pub const MAX_LISTENERS: usize = 4;

/// The codec a listener's connections speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Skyhash,
    Resp,
}

/// The transport under the codec: any protocol can be served over either.
#[derive(Debug, Clone)]
pub enum Security {
    Plain,
    /// TLS with the configuration every connection of every TLS listener shares.
    Tls(Arc<rustls::ServerConfig>),
}

impl Protocol {
    /// The scheme of the listener's address in the startup log line.
    fn scheme(self, security: &Security) -> &'static str {
        match (self, security) {
            (Protocol::Skyhash, Security::Plain) => SKYHASH_SCHEME,
            (Protocol::Skyhash, Security::Tls(_)) => SKYHASH_SECURE_SCHEME,
            (Protocol::Resp, Security::Plain) => RESP_SCHEME,
            (Protocol::Resp, Security::Tls(_)) => RESP_SECURE_SCHEME,
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
    /// `tls` is the loaded form of `config.tls`.
    pub fn bind(
        config: &Config,
        tls: Option<&Arc<rustls::ServerConfig>>,
        registry: &Registry,
        first_token: usize,
    ) -> Result<Listeners, ServerError> {
        let mut wanted = Vec::with_capacity(MAX_LISTENERS);
        let tls_only = config.tls.as_ref().is_some_and(|settings| settings.only);
        if !tls_only {
            wanted.push((Protocol::Skyhash, Security::Plain, config.port));
        }
        let secure = match (&config.tls, tls) {
            (Some(settings), Some(server_config)) => {
                Some((settings.port, Security::Tls(Arc::clone(server_config))))
            }
            _ => None,
        };
        if let Some((port, security)) = &secure {
            wanted.push((Protocol::Skyhash, security.clone(), *port));
        }
        if let Some(port) = config.resp_port {
            wanted.push((Protocol::Resp, Security::Plain, port));
        }
        if let (Some(port), Some((_, security))) = (config.resp_tls_port, &secure) {
            wanted.push((Protocol::Resp, security.clone(), port));
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

    /// Logs where the server listens: `Server started on: skyhash://127.0.0.1:2003`, with
    /// ` and skyhash-secure://127.0.0.1:2004` for TLS (TLS only: just the latter).
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
    /// Fails only if rustls refuses to start a session with the configuration, which it
    /// accepted at start-up.
    pub fn into_parts(
        self,
        max_query_bytes: usize,
        client_id: u64,
    ) -> Result<(Transport, SocketAddr, Codec), rustls::Error> {
        let transport = match self.security {
            Security::Plain => Transport::Plain(self.stream),
            Security::Tls(server_config) => {
                let session = rustls::ServerConnection::new(server_config)?;
                Transport::Tls(Box::new(TlsStream::new(self.stream, session, self.peer)))
            }
        };
        let codec = match self.protocol {
            Protocol::Skyhash => Codec::Skyhash(codec::skyhash::Framing::new(max_query_bytes)),
            Protocol::Resp => Codec::Resp(codec::resp::Framing::new(max_query_bytes, client_id)),
        };
        Ok((transport, self.peer, codec))
    }

    /// Whether the connection speaks TLS.
    pub fn is_tls(&self) -> bool {
        matches!(self.security, Security::Tls(_))
    }
}

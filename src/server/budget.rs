//! One memory budget for the buffers of every client together: input, output, the codec's
//! own bookkeeping and the transport's (rustls's buffers and state) of each connection. The server reports each connection's holding after
//! every step that can change it; when the total goes over the limit, the connection holding
//! the most is closed (a small, well-behaved client never holds the most). The per-connection
//! limits (the query size, the output's high-water mark) still apply underneath.

/// The client memory budget's state.
#[derive(Debug)]
pub struct ClientMemory {
    limit: usize,
    /// Sum of what every connection was last counted as holding.
    held: usize,
    /// Connections closed because the total went over the limit.
    closed: u64,
}

/// What SYS reports about clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientsStatus {
    pub connections: usize,
    pub tls: TlsCounts,
    pub memory_bytes: usize,
    pub memory_limit: usize,
    pub closed_by_memory_limit: u64,
}

/// The TLS connections, counted by the server as it accepts and closes them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TlsCounts {
    /// TLS connections open now, in their handshake or past it.
    pub open: usize,
    /// TLS connections closed before their handshake completed, since the server started:
    /// refused by the TLS protocol (plaintext on the TLS port, a certificate the client
    /// rejected), timed out, or abandoned by the client.
    pub handshake_failures: u64,
}

impl ClientMemory {
    pub fn new(limit: usize) -> ClientMemory {
        ClientMemory {
            limit,
            held: 0,
            closed: 0,
        }
    }

    pub fn limit(&self) -> usize {
        self.limit
    }

    /// What all clients together were last counted as holding.
    pub fn held(&self) -> usize {
        self.held
    }

    /// How many more bytes clients may take before the total reaches the limit.
    pub fn room(&self) -> usize {
        self.limit.saturating_sub(self.held)
    }

    /// A connection's holding changed from `before` to `now`.
    pub fn recount(&mut self, before: usize, now: usize) {
        self.held = self.held - before + now;
    }

    pub fn is_over(&self) -> bool {
        self.held > self.limit
    }

    pub fn count_closed(&mut self) {
        self.closed += 1;
    }

    pub fn status(&self, connections: usize, tls: TlsCounts) -> ClientsStatus {
        ClientsStatus {
            connections,
            tls,
            memory_bytes: self.held,
            memory_limit: self.limit,
            closed_by_memory_limit: self.closed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_total_follows_every_recount() {
        let mut memory = ClientMemory::new(100);
        memory.recount(0, 60);
        memory.recount(0, 30);
        assert_eq!((memory.room(), memory.is_over()), (10, false));
        memory.recount(30, 50);
        assert_eq!((memory.room(), memory.is_over()), (0, true));
        memory.recount(50, 0);
        memory.count_closed();
        let tls = TlsCounts {
            open: 1,
            handshake_failures: 2,
        };
        assert_eq!(
            memory.status(1, tls),
            ClientsStatus {
                connections: 1,
                tls,
                memory_bytes: 60,
                memory_limit: 100,
                closed_by_memory_limit: 1
            }
        );
    }
}

//! Deadlines of TLS handshakes: a connection that has not completed its handshake within
//! [`HANDSHAKE_TIMEOUT`] of being accepted is closed, so stalled handshakes cannot pile up.
//! Every deadline is the same timeout after its accept, so they fall due in accept order and
//! a FIFO holds them: O(1) per connection, pushed at accept and popped once due, whether the
//! handshake finished long ago or not. Each entry names the connection by slab key *and* id,
//! since by then the key may belong to a newer connection, which must not be closed. Pure
//! bookkeeping: the server decides what a due entry means.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::connection::ConnectionId;

/// How long a TLS client has to complete its handshake after its connection is accepted.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Pending {
    deadline: Instant,
    key: usize,
    id: ConnectionId,
}

/// The handshake deadlines not yet due, earliest first.
#[derive(Debug, Default)]
pub struct HandshakeDeadlines {
    pending: VecDeque<Pending>,
}

impl HandshakeDeadlines {
    /// Starts the clock of a connection accepted at `now` (`now` never goes backwards
    /// between calls, so the queue stays in deadline order). Returns the deadline.
    pub fn start(&mut self, now: Instant, key: usize, id: ConnectionId) -> Instant {
        let deadline = now + HANDSHAKE_TIMEOUT;
        debug_assert!(self
            .pending
            .back()
            .is_none_or(|last| last.deadline <= deadline));
        self.pending.push_back(Pending { deadline, key, id });
        deadline
    }

    /// The earliest deadline still pending.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.pending.front().map(|pending| pending.deadline)
    }

    /// Takes one connection whose deadline has passed: its slab key and id. Call until `None`.
    pub fn pop_due(&mut self, now: Instant) -> Option<(usize, ConnectionId)> {
        let front = self.pending.front()?;
        if front.deadline > now {
            return None;
        }
        self.pending
            .pop_front()
            .map(|pending| (pending.key, pending.id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_fall_due_in_accept_order_each_once() {
        let start = Instant::now();
        let mut deadlines = HandshakeDeadlines::default();
        assert_eq!(deadlines.next_deadline(), None);
        let first = deadlines.start(start, 3, ConnectionId(1));
        deadlines.start(start + Duration::from_secs(2), 4, ConnectionId(2));
        assert_eq!(first, start + HANDSHAKE_TIMEOUT);
        assert_eq!(deadlines.next_deadline(), Some(first));
        assert_eq!(deadlines.pop_due(first - Duration::from_millis(1)), None);
        assert_eq!(deadlines.pop_due(first), Some((3, ConnectionId(1))));
        assert_eq!(deadlines.pop_due(first), None);
        assert_eq!(
            deadlines.next_deadline(),
            Some(start + Duration::from_secs(2) + HANDSHAKE_TIMEOUT)
        );
        let late = start + Duration::from_secs(60);
        assert_eq!(deadlines.pop_due(late), Some((4, ConnectionId(2))));
        assert_eq!(deadlines.pop_due(late), None);
        assert_eq!(deadlines.next_deadline(), None);
    }

    #[test]
    fn a_reused_slab_key_keeps_both_ids() {
        let start = Instant::now();
        let mut deadlines = HandshakeDeadlines::default();
        deadlines.start(start, 7, ConnectionId(10));
        // Connection 10 closed; its key 7 now belongs to connection 11.
        deadlines.start(start + Duration::from_secs(1), 7, ConnectionId(11));
        let due = start + HANDSHAKE_TIMEOUT;
        assert_eq!(deadlines.pop_due(due), Some((7, ConnectionId(10))));
        assert_eq!(
            deadlines.pop_due(due),
            None,
            "connection 11 has a second left"
        );
    }
}

//! Deadlines as data. The event loop sleeps in `poll` until the earliest deadline, then runs
//! every timer that is due; nothing else in the server sleeps or spawns a thread for time.

use std::time::{Duration, Instant};

/// Everything the server does at a time rather than on an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timer {
    /// Try `accept` again after the process ran out of file descriptors or memory.
    AcceptRetry,
    /// Stop waiting for clients to read their last responses during shutdown.
    ShutdownGrace,
    /// The next periodic BGSAVE (or, while poisoned, the next retry).
    Bgsave,
    /// The next periodic snapshot (or, while poisoned with failsafe, the next retry).
    Snapshot,
    /// Look for a finished save child even if no SIGCHLD was seen.
    ReapCheck,
    /// Try the failed shutdown save again.
    FinalSaveRetry,
    /// `everysec`: fsync the journal.
    JournalSync,
    /// The earliest TLS handshake deadline (see `handshakes.rs`) has come.
    HandshakeTimeout,
}

impl Timer {
    const ALL: [Timer; 8] = [
        Timer::AcceptRetry,
        Timer::ShutdownGrace,
        Timer::Bgsave,
        Timer::Snapshot,
        Timer::ReapCheck,
        Timer::FinalSaveRetry,
        Timer::JournalSync,
        Timer::HandshakeTimeout,
    ];
    const COUNT: usize = Timer::ALL.len();

    fn index(self) -> usize {
        self as usize
    }
}

/// At most one pending deadline per [`Timer`].
#[derive(Debug, Default)]
pub struct Timers {
    deadlines: [Option<Instant>; Timer::COUNT],
}

impl Timers {
    /// Sets (or moves) the deadline of `timer`.
    pub fn set(&mut self, timer: Timer, at: Instant) {
        self.deadlines[timer.index()] = Some(at);
    }

    /// Moves the deadline of `timer` to `at` unless it is already earlier.
    pub fn set_no_later_than(&mut self, timer: Timer, at: Instant) {
        let deadline = &mut self.deadlines[timer.index()];
        if deadline.is_none_or(|current| at < current) {
            *deadline = Some(at);
        }
    }

    pub fn cancel(&mut self, timer: Timer) {
        self.deadlines[timer.index()] = None;
    }

    /// How long `poll` may sleep: until the earliest deadline, or forever if none is set.
    pub fn poll_timeout(&self, now: Instant) -> Option<Duration> {
        self.deadlines
            .iter()
            .flatten()
            .min()
            .map(|deadline| deadline.saturating_duration_since(now))
    }

    /// Takes one timer whose deadline has passed, clearing it. Call until `None`.
    pub fn pop_due(&mut self, now: Instant) -> Option<Timer> {
        let index = self
            .deadlines
            .iter()
            .position(|deadline| deadline.is_some_and(|at| at <= now))?;
        self.deadlines[index] = None;
        Some(Timer::ALL[index])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_earliest_deadline_sets_the_timeout_and_due_timers_pop_once() {
        let now = Instant::now();
        let mut timers = Timers::default();
        assert_eq!(timers.poll_timeout(now), None);
        timers.set(Timer::ShutdownGrace, now + Duration::from_secs(5));
        timers.set(Timer::AcceptRetry, now + Duration::from_millis(100));
        assert_eq!(timers.poll_timeout(now), Some(Duration::from_millis(100)));
        assert_eq!(timers.pop_due(now), None);
        let later = now + Duration::from_millis(150);
        assert_eq!(timers.pop_due(later), Some(Timer::AcceptRetry));
        assert_eq!(timers.pop_due(later), None);
        assert_eq!(
            timers.poll_timeout(later),
            Some(Duration::from_millis(4850))
        );
        timers.set_no_later_than(Timer::ShutdownGrace, later + Duration::from_secs(9));
        assert_eq!(
            timers.poll_timeout(later),
            Some(Duration::from_millis(4850))
        );
        timers.set_no_later_than(Timer::ShutdownGrace, later + Duration::from_secs(1));
        assert_eq!(timers.poll_timeout(later), Some(Duration::from_secs(1)));
        timers.cancel(Timer::ShutdownGrace);
        assert_eq!(timers.poll_timeout(later), None);
    }
}

//! Save jobs seen from the event loop: the periodic timers queue them, finished ones answer the
//! connections that waited for them, and while the server is poisoned the timers are pulled
//! in so that a save is retried at least every [`POISONED_RETRY_INTERVAL`].

use std::time::{Duration, Instant};

use super::timers::Timer;
use super::{deadline_after, Phase, Server, REAP_CHECK_INTERVAL};
use crate::persist::{Job, POISONED_RETRY_INTERVAL};

impl Server {
    /// A periodic timer fired: queue its job, start it if no other save is running, re-arm.
    pub(super) fn run_periodic(&mut self, job: Job) {
        if !matches!(self.phase, Phase::Serving) {
            return;
        }
        // A job of the same kind already waiting is not queued twice.
        let _ = self.persistence.request(job);
        self.poll_jobs();
    }

    /// Arms the BGSAVE and snapshot timers for their configured intervals, or, while the
    /// server is poisoned and the job would clear the poison, for the retry interval if that
    /// is sooner. A timer already due sooner is left alone.
    pub(super) fn schedule_periodic_saves(&mut self) {
        let poisoned = self.persistence.is_poisoned();
        let retry = |interval: Duration, clears_poison: bool| {
            if poisoned && clears_poison {
                interval.min(POISONED_RETRY_INTERVAL)
            } else {
                interval
            }
        };
        if let Some(interval) = self.config.bgsave {
            let at = deadline_after(retry(interval, true));
            self.timers.set_no_later_than(Timer::Bgsave, at);
        } else if poisoned && self.persistence.journal_mode().is_some() {
            // A journal failure is cleared only by a BGSAVE into a fresh segment: retried
            // even when periodic BGSAVE is off.
            let at = deadline_after(POISONED_RETRY_INTERVAL);
            self.timers.set_no_later_than(Timer::Bgsave, at);
        }
        if let Some(snapshots) = self.config.snapshot {
            let at = deadline_after(retry(snapshots.every, snapshots.failsafe));
            self.timers.set_no_later_than(Timer::Snapshot, at);
        }
    }

    /// Collects finished save jobs, answers the connections that waited for them, and starts
    /// the next queued job.
    pub(super) fn poll_jobs(&mut self) {
        for finished in self.persistence.poll(&self.table) {
            let Some(key) = finished.job.waiter() else {
                continue;
            };
            if let Some(connection) = self.connections.get_mut(key) {
                connection.deliver(finished.succeeded);
                self.ready.push_back(key);
                self.to_flush.push(key);
            }
        }
        if self.persistence.is_saving() {
            self.timers
                .set_no_later_than(Timer::ReapCheck, Instant::now() + REAP_CHECK_INTERVAL);
        } else {
            self.timers.cancel(Timer::ReapCheck);
        }
        if matches!(self.phase, Phase::Serving) {
            self.schedule_periodic_saves();
        }
    }
}

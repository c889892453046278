//! Signals and the graceful shutdown: the first SIGINT or SIGTERM stops accepting and lets
//! every connection answer what it has received; then a running save is let finish, and the
//! shutdown save is made in the server itself, retried with back-off until it succeeds or a
//! further signal gives up. Each later signal skips the step that is waiting.

use std::time::Instant;

use log::{error, info, warn};

use super::signals::Signal;
use super::timers::Timer;
use super::{
    Phase, Readiness, Server, ServerError, FINAL_SAVE_RETRY_FIRST, FINAL_SAVE_RETRY_MAX,
    SHUTDOWN_GRACE,
};
use crate::log_lines::SHUTDOWN_SAVED;

impl Server {
    pub(super) fn handle_signals(&mut self) {
        for signal in self.signals.pending() {
            match signal {
                Signal::Child => self.jobs_due = true,
                Signal::Interrupt | Signal::Terminate => self.on_stop_signal(signal),
            }
        }
    }

    /// The first stop signal starts the shutdown; a later one skips the step that is waiting.
    pub(super) fn on_stop_signal(&mut self, signal: Signal) {
        match self.phase {
            Phase::Serving => {
                info!("Received {signal}: shutting down");
                self.begin_shutdown();
            }
            Phase::Draining => {
                warn!(
                    "Received {signal} again: closing {} remaining connection(s) now",
                    self.connections.len()
                );
                self.close_all_connections();
            }
            Phase::WaitingForSave => {
                warn!("Received {signal} again: stopping the running save");
                self.persistence.kill_running_save();
            }
            Phase::RetryingFinalSave { attempts } => {
                self.phase = Phase::Finished(Err(ServerError::ShutdownSaveAborted {
                    data_file: self.persistence.data_file().display().to_string(),
                    attempts,
                }));
            }
            Phase::Finished(_) => {}
        }
    }

    /// Stops accepting, then lets every connection answer what it has already received.
    pub(super) fn begin_shutdown(&mut self) {
        self.phase = Phase::Draining;
        self.timers.cancel(Timer::AcceptRetry);
        self.timers.cancel(Timer::Bgsave);
        self.timers.cancel(Timer::Snapshot);
        self.listeners.close(self.poll.registry());
        info!("Stopped accepting incoming connections");
        self.timers
            .set(Timer::ShutdownGrace, Instant::now() + SHUTDOWN_GRACE);
        let keys: Vec<usize> = self.connections.iter().map(|(key, _)| key).collect();
        for key in keys {
            if let Some(connection) = self.connections.get_mut(key) {
                connection.begin_draining();
            }
            self.drive_connection(key, Readiness::Resumed);
        }
    }

    /// Moves the shutdown along once the step it waits for is done.
    pub(super) fn advance_shutdown(&mut self) {
        if matches!(self.phase, Phase::Draining) && self.connections.is_empty() {
            self.timers.cancel(Timer::ShutdownGrace);
            self.persistence.drop_queued_jobs();
            self.phase = Phase::WaitingForSave;
            if self.persistence.is_saving() {
                info!("Waiting for the running save to finish before the final save");
            }
        }
        if matches!(self.phase, Phase::WaitingForSave) && !self.persistence.is_saving() {
            self.final_save(0);
        }
    }

    /// The shutdown save, in this process. Failure is retried with back-off until it succeeds
    /// or a further signal gives up.
    pub(super) fn final_save(&mut self, failed_attempts: u32) {
        info!(
            "Saving {} keys to {} before exiting",
            self.table.len(),
            self.persistence.data_file().display()
        );
        match self.persistence.save_in_foreground(&self.table) {
            Some(report) => {
                info!("{SHUTDOWN_SAVED}{report}. Goodbye :)");
                self.phase = Phase::Finished(Ok(()));
            }
            None => {
                let attempts = failed_attempts + 1;
                let delay = FINAL_SAVE_RETRY_FIRST
                    .saturating_mul(1 << attempts.min(16).saturating_sub(1))
                    .min(FINAL_SAVE_RETRY_MAX);
                error!(
                    "Retrying the shutdown save in {} s; send SIGINT or SIGTERM again to give up \
                     and exit with the last good save in place",
                    delay.as_secs()
                );
                self.timers
                    .set(Timer::FinalSaveRetry, Instant::now() + delay);
                self.phase = Phase::RetryingFinalSave { attempts };
            }
        }
    }
}

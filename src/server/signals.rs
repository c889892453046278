//! Signals as events of the readiness loop. signal-hook's handler only writes to a self-pipe;
//! the loop reads which signals arrived and acts on them, so nothing runs in signal context.
//! SIGXFSZ is ignored, so that exceeding a file size limit fails a save with EFBIG instead of
//! killing the server in the middle of its shutdown save.

// Unsafe here: setting a signal disposition (SIGXFSZ ignored), which nix marks unsafe.
#![allow(unsafe_code)]

use std::fmt;
use std::io;

use mio::{Interest, Registry, Token};
use nix::sys::signal::{signal, SigHandler, Signal as NixSignal};
use signal_hook::consts::{SIGCHLD, SIGINT, SIGTERM};
use signal_hook_mio::v1_0::Signals;

/// The signals the server acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Interrupt,
    Terminate,
    /// A child (a save) changed state.
    Child,
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Signal::Interrupt => "SIGINT",
            Signal::Terminate => "SIGTERM",
            Signal::Child => "SIGCHLD",
        })
    }
}

pub struct SignalSource {
    signals: Signals,
}

impl SignalSource {
    /// Installs the handlers. From here on SIGINT and SIGTERM no longer end the process.
    pub fn new() -> io::Result<SignalSource> {
        // SAFETY: ignoring a signal installs no handler code; this runs before any child exists
        // and in the only thread.
        unsafe { signal(NixSignal::SIGXFSZ, SigHandler::SigIgn) }?;
        Ok(SignalSource {
            signals: Signals::new([SIGINT, SIGTERM, SIGCHLD])?,
        })
    }

    pub fn register(&mut self, registry: &Registry, token: Token) -> io::Result<()> {
        registry.register(&mut self.signals, token, Interest::READABLE)
    }

    /// The signals received since the last call (each kind at most once per call).
    pub fn pending(&mut self) -> Vec<Signal> {
        self.signals
            .pending()
            .filter_map(|number| match number {
                SIGINT => Some(Signal::Interrupt),
                SIGTERM => Some(Signal::Terminate),
                SIGCHLD => Some(Signal::Child),
                _ => None,
            })
            .collect()
    }
}

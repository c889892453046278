//! TLS for any listener's protocol: [`setup`] turns the configured PEM files into the one
//! rustls configuration every TLS connection shares, checked before anything is bound;
//! [`stream`] runs one TLS connection inside the event loop, handshake included, as a byte
//! stream the codec reads and writes like plain TCP. Handshake deadlines live in the server
//! (`handshakes.rs`), since only it knows time.

pub mod setup;
pub mod stream;

pub use setup::TlsSetupError;
pub use stream::TlsStream;

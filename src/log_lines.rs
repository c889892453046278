//! The log lines that tests and tools read: a contract with them, like the wire bytes. Each is
//! the fixed part of a line; the server writes it through these constants, and a test or the
//! benchmark that waits for a line finds it through the same constants, so neither can drift.

/// `Server started on: skyhash://127.0.0.1:2003`: the server is listening. The address
/// follows [`SKYHASH_SCHEME`].
pub const STARTED_ON: &str = "Server started on: ";
/// The scheme of the plain Skyhash listener's address in [`STARTED_ON`].
pub const SKYHASH_SCHEME: &str = "skyhash://";
/// The scheme of the Skyhash-over-TLS listener's address in [`STARTED_ON`], after the plain
/// one and ` and ` (`Server started on: skyhash://A and skyhash-secure://B`), or alone with
/// TLS only.
pub const SKYHASH_SECURE_SCHEME: &str = "skyhash-secure://";
/// The scheme of the plain RESP listener's address in [`STARTED_ON`], when there is one:
/// `Server started on: skyhash://127.0.0.1:2003 and resp://127.0.0.1:6379`.
pub const RESP_SCHEME: &str = "resp://";
/// The scheme of the RESP-over-TLS listener's address in [`STARTED_ON`], when there is one.
pub const RESP_SECURE_SCHEME: &str = "resp-secure://";
/// `Successfully saved data to disk: 5 keys, 100 bytes in 1.2 ms. Goodbye :)`: the shutdown
/// save succeeded and the server is about to exit 0.
pub const SHUTDOWN_SAVED: &str = "Successfully saved data to disk: ";
/// `BGSAVE started by child 1234 (fork took 0.52 ms): writing data/data.bin`: a save job
/// forked; the child's PID follows.
pub const STARTED_BY_CHILD: &str = " started by child ";
/// `BGSAVE completed successfully by child 1234: 5 keys, 100 bytes in 1.2 ms`.
pub const COMPLETED_BY_CHILD: &str = " completed successfully by child ";

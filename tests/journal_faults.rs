//! Real faults under the journal: a full disk (a small tmpfs mounted on the journal
//! directory), an immutable segment (`chattr +i`), a file size limit (RLIMIT_FSIZE). Each
//! poisons the server at the write that meets it: that write is not acknowledged (its
//! connection is closed unanswered; `always` takes it back, `everysec` keeps it in memory),
//! later writes answer a server error, reads are served.
//! Once the fault is gone, the retried BGSAVE starts a fresh segment and writes are accepted
//! again; after kill -9 and a restart every acknowledged write is there. Needs root, as the
//! persistence fault tests do.

mod common;

use std::fs;
use std::io::{ErrorKind, Read};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::entries::{assert_held, Entries};
use common::files::ImmutableDir;
use common::process::set_file_size_limit;
use common::server::{ServerBuilder, TestServer};
use common::status::{persistence_info, HEALTH_CRITICAL};
use common::wait_until;
use common::wire::{exchange, send, simple_query, value_response, NIL, OKAY, SERVER_ERROR};

/// A write that is poisoned in the waiting is retried by a BGSAVE at most this often (5 s),
/// plus room for a loaded machine.
const RECOVERY: Duration = Duration::from_secs(20);

/// A tmpfs of `size` mounted on `path`, unmounted when dropped.
struct Tmpfs {
    path: PathBuf,
}

impl Tmpfs {
    fn mount(path: &Path, size: &str) -> Tmpfs {
        fs::create_dir_all(path).unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(path)
            .status()
            .expect("run mount");
        assert!(
            status.success(),
            "mount a tmpfs on {} (root?)",
            path.display()
        );
        Tmpfs {
            path: path.to_owned(),
        }
    }

    fn resize(&self, size: &str) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.path)
            .status()
            .expect("run mount");
        assert!(status.success(), "remount {}", self.path.display());
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

/// A SET the server did not acknowledge.
struct Refused {
    key: Vec<u8>,
    value: Vec<u8>,
}

/// SETs distinct keys of `value_len` bytes until one is not acknowledged; returns what was,
/// and the one that was not. That one must get no answer at all: its connection is closed.
fn write_until_refused(server: &TestServer, value_len: usize, most: usize) -> (Entries, Refused) {
    let mut con = server.raw();
    let mut written = Entries::new();
    for i in 0..most {
        let key = format!("key-{i:05}").into_bytes();
        let value = vec![b'a' + (i % 26) as u8; value_len];
        send(&mut con, &simple_query(&[b"SET", &key, &value]));
        let mut answer = vec![0; OKAY.len()];
        match con.read_exact(&mut answer) {
            Ok(()) => {
                assert_eq!(answer, OKAY, "SET {i}");
                written.insert(key, value);
            }
            Err(error) => {
                assert!(
                    matches!(
                        error.kind(),
                        ErrorKind::UnexpectedEof | ErrorKind::ConnectionReset
                    ),
                    "the refused write's connection is closed unanswered: {error}"
                );
                return (written, Refused { key, value });
            }
        }
    }
    panic!("{most} writes were all acknowledged: the fault never came");
}

/// Poisoned: a write answers a server error, a read is served, SYS says why.
fn assert_poisoned(server: &TestServer, written: &Entries, cause: &str) {
    let mut con = server.raw();
    exchange(
        &mut con,
        &simple_query(&[b"SET", b"while poisoned", b"x"]),
        SERVER_ERROR,
    );
    let (key, value) = written.iter().next().expect("something was written");
    exchange(
        &mut con,
        &simple_query(&[b"GET", key]),
        &value_response(value),
    );
    let info = persistence_info(&mut con);
    assert_eq!(info["health"], "critical");
    assert!(
        info["journal_last_error"].contains(cause),
        "journal_last_error: {}",
        info["journal_last_error"]
    );
    exchange(
        &mut con,
        &simple_query(&[b"SYS", b"METRIC", b"health"]),
        HEALTH_CRITICAL,
    );
}

fn wait_for_recovery(server: &TestServer) -> TcpStream {
    let mut con = server.raw();
    wait_until(RECOVERY, "writes to be accepted again", || {
        persistence_info(&mut con)["health"] == "good"
    });
    exchange(&mut con, &simple_query(&[b"SET", b"after", b"fault"]), OKAY);
    con
}

fn assert_survives_a_crash(mut server: TestServer, written: &mut Entries, args: &[&str]) {
    written.insert(b"after".to_vec(), b"fault".to_vec());
    server.crash();
    let restarted = server.same_dir().args(args).start();
    assert_held(&mut restarted.raw(), written);
}

#[test]
fn a_full_disk_poisons_and_space_coming_back_heals() {
    let args = ["--journal", "always"];
    let builder = ServerBuilder::new();
    let tmpfs = Tmpfs::mount(&builder.data_dir().join("journal"), "256k");
    let server = builder.args(&args).start();
    let (mut written, refused) = write_until_refused(&server, 8 * 1024, 100);
    assert!(!written.is_empty());
    assert_poisoned(&server, &written, "No space left on device");
    // `always` took the unacknowledged write back.
    exchange(
        &mut server.raw(),
        &simple_query(&[b"GET", &refused.key]),
        NIL,
    );
    tmpfs.resize("64m");
    wait_for_recovery(&server);
    assert_survives_a_crash(server, &mut written, &args);
    drop(tmpfs);
}

#[test]
fn an_immutable_segment_poisons_and_a_fresh_segment_heals() {
    let args = ["--journal", "always"];
    let server = TestServer::start_with(&args);
    let mut con = server.raw();
    exchange(
        &mut con,
        &simple_query(&[b"SET", b"before", b"fault"]),
        OKAY,
    );
    let segment = server.data_dir().join("journal/0000000000000001.sjl");
    let mut immutable = ImmutableDir::set(&segment);
    let (mut written, refused) = write_until_refused(&server, 10, 10);
    exchange(
        &mut server.raw(),
        &simple_query(&[b"GET", &refused.key]),
        NIL,
    );
    written.insert(b"before".to_vec(), b"fault".to_vec());
    assert_poisoned(&server, &written, "Operation not permitted");
    // The fresh segment lives beside the immutable one, which only the next start removes.
    wait_for_recovery(&server);
    immutable.clear();
    assert_survives_a_crash(server, &mut written, &args);
}

#[test]
fn a_file_size_limit_poisons_and_lifting_it_heals() {
    let args = ["--journal", "everysec"];
    let server = TestServer::start_with(&args);
    set_file_size_limit(server.pid(), "65536");
    let (mut written, refused) = write_until_refused(&server, 4096, 100);
    assert_poisoned(&server, &written, "File too large");
    // `everysec` kept the unacknowledged write in memory: the BGSAVE that heals the server
    // writes it to data.bin, so it survives the crash too.
    exchange(
        &mut server.raw(),
        &simple_query(&[b"GET", &refused.key]),
        &value_response(&refused.value),
    );
    set_file_size_limit(server.pid(), "unlimited");
    wait_for_recovery(&server);
    written.insert(refused.key, refused.value);
    assert_survives_a_crash(server, &mut written, &args);
}

//! Sharding Stratus behind twemproxy (nutcracker 0.5.0), as the README's "Scaling out" sets it
//! up: two servers, nutcracker daemonised with its pool and stats port on 127.0.0.1, `redis:
//! true`, `hash: murmur`. Multi-key MSET, MGET and DEL of a few hundred keys are split across
//! the shards and recombined; each shard holds a real share and together they hold every key;
//! with one shard stopped, its keys give clean errors while the other keeps serving and loses
//! nothing.

mod common;

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::Command;

use common::resp::{array_bulks, ask, bulk, exchange, request, required_tool};
use common::server::TestServer;
use common::wire::{escape, send};
use common::{wait_until, PATIENCE};

const KEYS: usize = 300;

/// A daemonised nutcracker, stopped (by its pid file) when dropped.
struct Nutcracker {
    pid_file: PathBuf,
    log_file: PathBuf,
    port: u16,
}

impl Nutcracker {
    fn start(dir: &std::path::Path, shards: &[u16]) -> Nutcracker {
        let binary = required_tool("nutcracker", "nutcracker");
        let port = free_port();
        let stats = free_port();
        let servers: String = shards
            .iter()
            .enumerate()
            .map(|(index, port)| format!("    - 127.0.0.1:{port}:1 shard{index}\n"))
            .collect();
        let config = dir.join("nutcracker.yml");
        std::fs::write(
            &config,
            format!(
                "stratus:\n  listen: 127.0.0.1:{port}\n  hash: murmur\n  distribution: ketama\n  \
                 redis: true\n  timeout: 2000\n  auto_eject_hosts: false\n  servers:\n{servers}"
            ),
        )
        .unwrap();
        let nutcracker = Nutcracker {
            pid_file: dir.join("nutcracker.pid"),
            log_file: dir.join("nutcracker.log"),
            port,
        };
        let status = Command::new(binary)
            .arg("-d")
            .arg("-c")
            .arg(&config)
            .args(["-a", "127.0.0.1", "-s", &stats.to_string()])
            .arg("-p")
            .arg(&nutcracker.pid_file)
            .arg("-o")
            .arg(&nutcracker.log_file)
            .status()
            .expect("run nutcracker");
        assert!(status.success(), "nutcracker -d: {status}");
        wait_until(PATIENCE, "nutcracker listening", || {
            TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        nutcracker
    }

    fn connect(&self) -> TcpStream {
        let stream = TcpStream::connect(("127.0.0.1", self.port)).expect("connect to nutcracker");
        stream.set_read_timeout(Some(PATIENCE)).unwrap();
        stream
    }
}

impl Drop for Nutcracker {
    fn drop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(&self.pid_file) {
            let _ = Command::new("kill").arg(pid.trim()).status();
        }
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free port")
}

fn key(i: usize) -> Vec<u8> {
    format!("user:{i}").into_bytes()
}

fn value(i: usize) -> Vec<u8> {
    format!("value-{i}").into_bytes()
}

/// The keys of `0..KEYS` that `shard` holds, asked of the shard itself.
fn held_by(shard: &TestServer) -> Vec<usize> {
    let mut con = shard.resp_raw();
    (0..KEYS)
        .filter(|&i| ask(&mut con, &[b"EXISTS", &key(i)]) == b":1\r\n")
        .collect()
}

#[test]
fn two_shards_behind_nutcracker_split_and_survive_a_stopped_shard() {
    let mut shards = [
        TestServer::start_with(&["--resp-port", "0"]),
        TestServer::start_with(&["--resp-port", "0"]),
    ];
    let proxy = Nutcracker::start(shards[0].dir(), &[shards[0].resp(), shards[1].resp()]);
    let mut con = proxy.connect();

    let keys: Vec<Vec<u8>> = (0..KEYS).map(key).collect();
    let values: Vec<Vec<u8>> = (0..KEYS).map(value).collect();
    let mut mset: Vec<&[u8]> = vec![b"MSET"];
    for (key, value) in keys.iter().zip(&values) {
        mset.push(key);
        mset.push(value);
    }
    exchange(&mut con, &mset, b"+OK\r\n");
    let mut mget: Vec<&[u8]> = vec![b"MGET"];
    mget.extend(keys.iter().map(Vec::as_slice));
    assert_eq!(array_bulks(&ask(&mut con, &mget)), values);

    let first = held_by(&shards[0]);
    let second = held_by(&shards[1]);
    assert_eq!(
        first.len() + second.len(),
        KEYS,
        "every key on exactly one shard"
    );
    for share in [&first, &second] {
        assert!(
            share.len() >= KEYS / 4,
            "a real share: {} of {KEYS}",
            share.len()
        );
    }

    let mut del: Vec<&[u8]> = vec![b"DEL"];
    del.extend(keys.iter().step_by(2).map(Vec::as_slice));
    exchange(&mut con, &del, format!(":{}\r\n", KEYS / 2).as_bytes());
    let remaining = |shard: &TestServer| {
        let mut direct = shard.resp_raw();
        ask(&mut direct, &[b"DBSIZE"])
    };
    let held: usize = shards
        .iter()
        .map(|shard| {
            let reply = String::from_utf8(remaining(shard)).unwrap();
            reply
                .trim_start_matches(':')
                .trim_end()
                .parse::<usize>()
                .unwrap()
        })
        .sum();
    assert_eq!(held, KEYS / 2);

    // Stop the second shard: its keys get clean errors, the first serves all of its own.
    shards[1].stop_cleanly();
    let odd = |list: &[usize]| {
        list.iter()
            .copied()
            .filter(|i| i % 2 == 1)
            .collect::<Vec<_>>()
    };
    let (alive, gone) = (odd(&first), odd(&second));
    let mut con = proxy.connect();
    for &i in &gone {
        send(&mut con, &request(&[b"GET", &key(i)]));
        let reply = common::resp::read_reply(&mut con);
        assert!(
            reply.starts_with(b"-ERR "),
            "a stopped shard's key gets an error reply: \"{}\"",
            escape(&reply)
        );
    }
    for &i in &alive {
        exchange(&mut con, &[b"GET", &key(i)], &bulk(&value(i)));
    }
    exchange(
        &mut con,
        &[b"SET", &key(alive[0]), b"still written"],
        b"+OK\r\n",
    );
    let mut direct = shards[0].resp_raw();
    exchange(
        &mut direct,
        &[b"GET", &key(alive[0])],
        &bulk(b"still written"),
    );
    let expected = format!(":{}\r\n", alive.len());
    exchange(&mut direct, &[b"DBSIZE"], expected.as_bytes());
}

//! The Redis listener against the real `redis` client crate and raw RESP2 bytes: every
//! command of the listener with Redis 7.0.15's replies, pipelines, the same table as Skyhash
//! (a write on one protocol is read on the other), a SCAN that pages for real while the table
//! changes, SAVE/BGSAVE/LASTSAVE/INFO/CONFIG GET from the server's state, and writes refused
//! with Redis's exact `-MISCONF` while a failed save poisons the server.

mod common;

use std::collections::HashMap;

use redis::{Commands, RedisResult, Value};

use common::files::read_data_file;
use common::resp::{array_bulks, ask, bulk, exchange, read_reply, request};
use common::server::TestServer;
use common::wire::{
    self, expect_eof, expect_exact, send, simple_query, string_element, value_response, OKAY,
};
use common::PATIENCE;

const MISCONF: &[u8] = b"-MISCONF Redis is configured to save RDB snapshots, but it's \
currently unable to persist to disk. Commands that may modify the data set are disabled, \
because this instance is configured to report errors during writes if RDB snapshotting fails \
(stop-writes-on-bgsave-error option). Please check the Redis logs for details about the RDB \
error.\r\n";

fn server() -> TestServer {
    TestServer::start_with(&["--resp-port", "0"])
}

fn text(reply: Vec<u8>) -> String {
    String::from_utf8_lossy(&reply).into_owned()
}

#[test]
fn the_redis_client_drives_every_string_and_key_command() {
    let server = server();
    let mut con = server.redis();
    let () = con.set("k", "v").unwrap();
    assert_eq!(con.get::<_, String>("k").unwrap(), "v");
    assert_eq!(con.get::<_, Option<String>>("missing").unwrap(), None);
    let nx: Option<String> = redis::cmd("SET")
        .arg("k")
        .arg("w")
        .arg("NX")
        .query(&mut con)
        .unwrap();
    assert_eq!(nx, None);
    let old: Option<String> = redis::cmd("SET")
        .arg("k")
        .arg("w")
        .arg("XX")
        .arg("GET")
        .query(&mut con)
        .unwrap();
    assert_eq!(old.as_deref(), Some("v"));
    let kept: String = redis::cmd("SET")
        .arg("k")
        .arg("x")
        .arg("KEEPTTL")
        .query(&mut con)
        .unwrap();
    assert_eq!(kept, "OK");
    let expiry: RedisResult<()> = redis::cmd("SET")
        .arg("t")
        .arg("v")
        .arg("EX")
        .arg(10)
        .query(&mut con);
    let error = expiry.expect_err("an expiry is refused");
    assert!(
        error.to_string().contains("key expiry is not supported"),
        "{error}"
    );
    assert!(
        !con.exists::<_, bool>("t").unwrap(),
        "nothing stored without its expiry"
    );
    assert!(con.set_nx::<_, _, bool>("n", "1").unwrap());
    assert!(!con.set_nx::<_, _, bool>("n", "2").unwrap());
    assert_eq!(con.getset::<_, _, String>("n", "3").unwrap(), "1");
    assert_eq!(con.get_del::<_, String>("n").unwrap(), "3");
    assert_eq!(con.strlen::<_, i64>("k").unwrap(), 1);
    assert_eq!(con.append::<_, _, i64>("k", "yz").unwrap(), 3);
    assert_eq!(con.incr::<_, _, i64>("c", 1).unwrap(), 1);
    assert_eq!(con.incr::<_, _, i64>("c", 41).unwrap(), 42);
    assert_eq!(con.decr::<_, _, i64>("c", 2).unwrap(), 40);
    assert_eq!(
        redis::cmd("DECR").arg("c").query::<i64>(&mut con).unwrap(),
        39
    );
    let not_integer = con
        .incr::<_, _, i64>("k", 1)
        .expect_err("k is not a number");
    assert!(
        not_integer.to_string().contains("value is not an integer"),
        "{not_integer}"
    );
    let () = con.mset(&[("a", "1"), ("b", "2")]).unwrap();
    assert_eq!(
        con.mget::<_, Vec<Option<String>>>(&["a", "b", "zz"])
            .unwrap(),
        [Some("1".to_owned()), Some("2".to_owned()), None]
    );
    assert!(!con
        .mset_nx::<_, _, bool>(&[("a", "9"), ("q", "9")])
        .unwrap());
    assert!(con
        .mset_nx::<_, _, bool>(&[("q", "9"), ("r", "9")])
        .unwrap());
    assert_eq!(con.exists::<_, i64>(&["a", "a", "zz"]).unwrap(), 2);
    assert_eq!(con.key_type::<_, String>("a").unwrap(), "string");
    assert_eq!(con.key_type::<_, String>("zz").unwrap(), "none");
    assert_eq!(con.ttl::<_, i64>("a").unwrap(), -1);
    assert_eq!(con.pttl::<_, i64>("zz").unwrap(), -2);
    assert!(!con.persist::<_, bool>("a").unwrap());
    let mut keys: Vec<String> = con.keys("[ab]").unwrap();
    keys.sort();
    assert_eq!(keys, ["a", "b"]);
    assert_eq!(con.del::<_, i64>(&["a", "zz", "a"]).unwrap(), 1);
    assert_eq!(con.unlink::<_, i64>("b").unwrap(), 1);
    let size: i64 = redis::cmd("DBSIZE").query(&mut con).unwrap();
    assert_eq!(size, 4, "k, c, q and r");
    let () = redis::cmd("FLUSHDB").query(&mut con).unwrap();
    let () = redis::cmd("FLUSHALL").arg("ASYNC").query(&mut con).unwrap();
    assert_eq!(redis::cmd("DBSIZE").query::<i64>(&mut con).unwrap(), 0);
}

#[test]
fn the_redis_client_drives_the_connection_and_server_commands() {
    let server = server();
    let mut con = server.redis();
    assert_eq!(
        redis::cmd("PING").query::<String>(&mut con).unwrap(),
        "PONG"
    );
    assert_eq!(
        redis::cmd("PING")
            .arg("hi")
            .query::<String>(&mut con)
            .unwrap(),
        "hi"
    );
    assert_eq!(
        redis::cmd("ECHO")
            .arg("x y")
            .query::<String>(&mut con)
            .unwrap(),
        "x y"
    );
    let () = redis::cmd("SELECT").arg(0).query(&mut con).unwrap();
    let out_of_range = redis::cmd("SELECT")
        .arg(1)
        .query::<()>(&mut con)
        .unwrap_err();
    assert!(out_of_range
        .to_string()
        .contains("DB index is out of range"));
    let () = redis::cmd("CLIENT")
        .arg("SETNAME")
        .arg("tester")
        .query(&mut con)
        .unwrap();
    let name: String = redis::cmd("CLIENT").arg("GETNAME").query(&mut con).unwrap();
    assert_eq!(name, "tester");
    let id: i64 = redis::cmd("CLIENT").arg("ID").query(&mut con).unwrap();
    assert!(id >= 1);
    let () = redis::cmd("CLIENT")
        .arg("SETINFO")
        .arg("LIB-NAME")
        .arg("redis-rs")
        .query(&mut con)
        .unwrap();
    let hello: Vec<Value> = redis::cmd("HELLO").arg(2).query(&mut con).unwrap();
    assert_eq!(hello.len(), 14);
    let noproto = redis::cmd("HELLO")
        .arg(3)
        .query::<Value>(&mut con)
        .unwrap_err();
    assert!(
        noproto.to_string().contains("unsupported protocol version"),
        "{noproto}"
    );
    let count: i64 = redis::cmd("COMMAND").arg("COUNT").query(&mut con).unwrap();
    let all: Vec<Value> = redis::cmd("COMMAND").query(&mut con).unwrap();
    assert_eq!(all.len() as i64, count);
    let docs: Vec<Value> = redis::cmd("COMMAND").arg("DOCS").query(&mut con).unwrap();
    assert!(docs.is_empty());
    let config: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("save")
        .arg("appendonly")
        .query(&mut con)
        .unwrap();
    assert_eq!(config, ["save", "120 1", "appendonly", "no"]);
    let info: String = redis::cmd("INFO").query(&mut con).unwrap();
    for line in [
        "# Server",
        "redis_version:7.0.15",
        "# Keyspace",
        "connected_clients:1",
    ] {
        assert!(info.contains(line), "INFO lacks {line:?}:\n{info}");
    }
    let () = con.set("k", "v").unwrap();
    let keyspace: String = redis::cmd("INFO").arg("keyspace").query(&mut con).unwrap();
    assert_eq!(keyspace, "# Keyspace\r\ndb0:keys=1,expires=0,avg_ttl=0\r\n");
    let () = redis::cmd("SAVE").query(&mut con).unwrap();
    assert!(
        server.data_file().is_file(),
        "SAVE answered once data.bin was written"
    );
    let lastsave: i64 = redis::cmd("LASTSAVE").query(&mut con).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!((now - 5..=now).contains(&lastsave), "{lastsave} vs {now}");
    let started: String = redis::cmd("BGSAVE").query(&mut con).unwrap();
    assert_eq!(started, "Background saving started");
}

#[test]
fn replies_and_errors_are_redis_bytes() {
    let server = server();
    let mut con = server.resp_raw();
    let cases: [(&[&[u8]], &[u8]); 12] = [
        (&[b"PING"], b"+PONG\r\n"),
        (&[b"GET", b"k"], b"$-1\r\n"),
        (&[b"SET", b"k", b"\r\n\x00"], b"+OK\r\n"),
        (&[b"GET", b"k"], b"$3\r\n\r\n\x00\r\n"),
        (
            &[b"foo", b"a", b"b"],
            b"-ERR unknown command 'foo', with args beginning with: 'a' 'b' \r\n",
        ),
        (
            &[b"get"],
            b"-ERR wrong number of arguments for 'get' command\r\n",
        ),
        (&[b"SET", b"k", b"v", b"BOGUS"], b"-ERR syntax error\r\n"),
        (
            &[b"INCR", b"k"],
            b"-ERR value is not an integer or out of range\r\n",
        ),
        (
            &[b"MSET", b"a", b"1", b"b"],
            b"-ERR wrong number of arguments for 'mset' command\r\n",
        ),
        (&[b"SCAN", b"x"], b"-ERR invalid cursor\r\n"),
        (&[b"SELECT", b"16"], b"-ERR DB index is out of range\r\n"),
        (
            &[b"CLIENT", b"FOO"],
            b"-ERR unknown subcommand 'FOO'. Try CLIENT HELP.\r\n",
        ),
    ];
    for (parts, reply) in cases {
        exchange(&mut con, parts, reply);
    }
    exchange(
        &mut con,
        &[b"INCRBY", b"n", b"9223372036854775807"],
        b":9223372036854775807\r\n",
    );
    exchange(
        &mut con,
        &[b"INCR", b"n"],
        b"-ERR increment or decrement would overflow\r\n",
    );
    // Inline commands, blank lines and *0 are what redis-cli --pipe and telnet users send.
    send(
        &mut con,
        b"\r\n*0\r\n*-1\r\nset \"x y\" '1 2'\r\nget \"x y\"\nPING\r\n",
    );
    expect_exact(&mut con, b"+OK\r\n$3\r\n1 2\r\n+PONG\r\n");
    send(&mut con, b"QUIT\r\nPING\r\n");
    expect_exact(&mut con, b"+OK\r\n");
    expect_eof(&mut con);
}

#[test]
fn pipelined_commands_are_answered_in_order() {
    let server = server();
    let mut con = server.resp_raw();
    let mut pipeline = Vec::new();
    let mut expected = Vec::new();
    for i in 0..1000 {
        let key = format!("key:{i}");
        pipeline.extend(request(&[b"SET", key.as_bytes(), i.to_string().as_bytes()]));
        pipeline.extend(request(&[b"INCR", key.as_bytes()]));
        pipeline.extend(request(&[b"GET", key.as_bytes()]));
        expected.extend_from_slice(b"+OK\r\n");
        expected.extend(format!(":{}\r\n", i + 1).into_bytes());
        expected.extend(bulk((i + 1).to_string().as_bytes()));
    }
    send(&mut con, &pipeline);
    expect_exact(&mut con, &expected);
}

#[test]
fn a_protocol_error_is_answered_then_the_connection_closed() {
    let server = server();
    let cases: [(&[u8], &[u8]); 4] = [
        (
            b"*1\r\n$4\r\nPING\r\n*x\r\n",
            b"+PONG\r\n-ERR Protocol error: invalid multibulk length\r\n",
        ),
        (
            b"*1\r\n+4\r\n",
            b"-ERR Protocol error: expected '$', got '+'\r\n",
        ),
        (
            b"*1\r\n$-1\r\n",
            b"-ERR Protocol error: invalid bulk length\r\n",
        ),
        (
            b"get \"abc\r\n",
            b"-ERR Protocol error: unbalanced quotes in request\r\n",
        ),
    ];
    for (bytes, reply) in cases {
        let mut con = server.resp_raw();
        send(&mut con, bytes);
        expect_exact(&mut con, reply);
        expect_eof(&mut con);
    }
    let mut con = server.resp_raw();
    exchange(&mut con, &[b"PING"], b"+PONG\r\n");
}

#[test]
fn both_protocols_share_one_table() {
    let server = server();
    let mut resp = server.resp_raw();
    let mut sky = server.raw();
    exchange(&mut resp, &[b"SET", b"from-resp", b"1"], b"+OK\r\n");
    wire::exchange(
        &mut sky,
        &simple_query(&[b"GET", b"from-resp"]),
        &value_response(b"1"),
    );
    wire::exchange(
        &mut sky,
        &simple_query(&[b"SET", b"from-skyhash", b"2"]),
        OKAY,
    );
    exchange(&mut resp, &[b"GET", b"from-skyhash"], &bulk(b"2"));
    exchange(&mut resp, &[b"INCR", b"from-skyhash"], b":3\r\n");
    wire::exchange(
        &mut sky,
        &simple_query(&[b"MGET", b"from-skyhash", b"from-resp"]),
        &[
            b"*1\n&2\n".as_slice(),
            &string_element(b"3"),
            &string_element(b"1"),
        ]
        .concat(),
    );
    exchange(&mut resp, &[b"DBSIZE"], b":2\r\n");
}

/// Every key present from the first SCAN call to the last is returned exactly once, while
/// keys are added and deleted between calls (the table grows through several resizes).
#[test]
fn scan_pages_through_every_key_while_the_table_changes() {
    let server = server();
    let mut con = server.resp_raw();
    let mut fill = Vec::new();
    for i in 0..5000 {
        fill.extend(request(&[b"SET", format!("stable:{i}").as_bytes(), b"v"]));
    }
    send(&mut con, &fill);
    expect_exact(&mut con, &b"+OK\r\n".repeat(5000));
    let mut seen: HashMap<Vec<u8>, usize> = HashMap::new();
    let mut cursor = b"0".to_vec();
    let mut calls = 0;
    loop {
        let reply = ask(&mut con, &[b"SCAN", &cursor, b"COUNT", b"100"]);
        let (next, keys) = scan_reply(&reply);
        for key in keys {
            *seen.entry(key).or_default() += 1;
        }
        calls += 1;
        let mut churn = Vec::new();
        for j in 0..300 {
            churn.extend(request(&[
                b"SET",
                format!("new:{calls}:{j}").as_bytes(),
                b"v",
            ]));
        }
        churn.extend(request(&[
            b"DEL",
            format!("new:{}:0", calls.max(2) - 1).as_bytes(),
        ]));
        send(&mut con, &churn);
        let _ = (0..301).map(|_| read_reply(&mut con)).count();
        if next == b"0" {
            break;
        }
        cursor = next;
    }
    assert!(calls > 10, "SCAN paged: {calls} calls");
    for i in 0..5000 {
        let key = format!("stable:{i}").into_bytes();
        assert_eq!(
            seen.get(&key),
            Some(&1),
            "stable:{i} seen {:?} times",
            seen.get(&key)
        );
    }
    assert!(seen.values().all(|&times| times == 1), "no key twice");
    let page = ask(
        &mut con,
        &[b"SCAN", b"0", b"MATCH", b"stable:1?", b"COUNT", b"100000"],
    );
    let (next, mut keys) = scan_reply(&page);
    keys.sort();
    assert_eq!(next, b"0");
    assert_eq!(keys.len(), 10);
}

/// `*2 $<cursor> *<n> $key…` into the cursor and the keys.
fn scan_reply(reply: &[u8]) -> (Vec<u8>, Vec<Vec<u8>>) {
    let text = text(reply.to_vec());
    assert!(text.starts_with("*2\r\n$"), "a SCAN reply: {text:?}");
    let rest = &reply[4..];
    let end = rest.windows(2).position(|w| w == b"\r\n").unwrap();
    let len: usize = std::str::from_utf8(&rest[1..end]).unwrap().parse().unwrap();
    let cursor = rest[end + 2..end + 2 + len].to_vec();
    (cursor, array_bulks(&rest[end + 4 + len..]))
}

#[test]
fn writes_answer_misconf_while_poisoned_and_reads_are_served() {
    let server = TestServer::start_with(&["--resp-port", "0", "--nosave"]);
    let mut con = server.resp_raw();
    exchange(&mut con, &[b"SET", b"a", b"1"], b"+OK\r\n");
    std::fs::create_dir(server.data_file()).expect("a directory where data.bin goes");
    let from = server.logs().len();
    exchange(&mut con, &[b"BGSAVE"], b"+Background saving started\r\n");
    server.wait_for_log_after(from, "Writes are refused until a save succeeds", PATIENCE);
    for write in [
        &[&b"SET"[..], b"a", b"2"][..],
        &[b"DEL", b"missing"],
        &[b"INCR", b"c"],
        &[b"APPEND", b"a", b"x"],
        &[b"MSET", b"b", b"1"],
        &[b"FLUSHALL"],
        &[b"set", b"lower", b"case"],
    ] {
        exchange(&mut con, write, MISCONF);
    }
    exchange(
        &mut con,
        &[b"SET", b"a"],
        b"-ERR wrong number of arguments for 'set' command\r\n",
    );
    exchange(&mut con, &[b"GET", b"a"], &bulk(b"1"));
    exchange(&mut con, &[b"PING"], b"+PONG\r\n");
    exchange(&mut con, &[b"SAVE"], b"-ERR\r\n");
    let info = text(ask(&mut con, &[b"INFO", b"persistence"]));
    assert!(info.contains("rdb_last_bgsave_status:err"), "{info}");
    assert!(info.contains("stratus_health:critical"), "{info}");
    std::fs::remove_dir(server.data_file()).unwrap();
    exchange(&mut con, &[b"SAVE"], b"+OK\r\n");
    let saved = read_data_file(&server.data_file());
    assert_eq!(saved.get(&b"a"[..]).map(Vec::as_slice), Some(&b"1"[..]));
    exchange(&mut con, &[b"SET", b"a", b"2"], b"+OK\r\n");
    let mut sky = server.raw();
    wire::exchange(
        &mut sky,
        &simple_query(&[b"GET", b"a"]),
        &value_response(b"2"),
    );
}

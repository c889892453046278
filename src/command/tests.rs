//! The commands against the replies Redis 7.0.15 gave for the same requests (`redis-cli`
//! sessions against redis-server 7.0.15 with one database and no password).

use super::*;
use crate::args::Span;

struct Harness {
    table: Table,
    session: Session,
    writes: Writes,
}

impl Harness {
    fn new() -> Harness {
        Harness {
            table: Table::new(),
            session: Session::new(7),
            writes: Writes::Accepted,
        }
    }

    /// Runs one request given as its words; returns the reply, or panics on a server request.
    fn run(&mut self, parts: &[&[u8]]) -> Vec<u8> {
        let (bytes, spans) = request(parts);
        let mut out = Vec::new();
        match execute(
            &mut self.table,
            self.writes,
            &mut self.session,
            Args::new(&bytes, &spans),
            &mut out,
        ) {
            Outcome::Answered | Outcome::Close => out,
            Outcome::Server(request) => panic!("unexpected server request {request:?}"),
        }
    }

    fn reply(&mut self, line: &str) -> String {
        let parts: Vec<&[u8]> = line.split(' ').map(str::as_bytes).collect();
        String::from_utf8(self.run(&parts)).expect("text reply")
    }
}

fn request(parts: &[&[u8]]) -> (Vec<u8>, Vec<Span>) {
    let mut bytes = Vec::new();
    let mut spans = Vec::new();
    for part in parts {
        spans.push(Span::new(bytes.len(), part.len()));
        bytes.extend_from_slice(part);
    }
    (bytes, spans)
}

#[test]
fn every_row_sits_at_its_kind() {
    for (index, spec) in COMMANDS.iter().enumerate() {
        assert_eq!(spec.kind as usize, index, "{}", spec.name);
    }
}

#[test]
fn unknown_commands_arity_and_subcommands() {
    let mut h = Harness::new();
    let cases = [
        (
            "foo",
            "-ERR unknown command 'foo', with args beginning with: \r\n",
        ),
        (
            "foo a b",
            "-ERR unknown command 'foo', with args beginning with: 'a' 'b' \r\n",
        ),
        (
            "GET",
            "-ERR wrong number of arguments for 'get' command\r\n",
        ),
        (
            "CLIENT",
            "-ERR wrong number of arguments for 'client' command\r\n",
        ),
        (
            "client foo bar",
            "-ERR unknown subcommand 'foo'. Try CLIENT HELP.\r\n",
        ),
        (
            "CLIENT SETNAME",
            "-ERR wrong number of arguments for 'client|setname' command\r\n",
        ),
        (
            "COMMAND FOO",
            "-ERR unknown subcommand 'FOO'. Try COMMAND HELP.\r\n",
        ),
        (
            "CONFIG GET",
            "-ERR wrong number of arguments for 'config|get' command\r\n",
        ),
        (
            "PING a b",
            "-ERR wrong number of arguments for 'ping' command\r\n",
        ),
        (
            "MSET a 1 b",
            "-ERR wrong number of arguments for 'mset' command\r\n",
        ),
    ];
    for (request, reply) in cases {
        assert_eq!(h.reply(request), reply, "{request}");
    }
}

#[test]
fn string_commands_answer_as_redis() {
    let mut h = Harness::new();
    let cases = [
        ("PING", "+PONG\r\n"),
        ("ping hi", "$2\r\nhi\r\n"),
        ("ECHO x", "$1\r\nx\r\n"),
        ("GET k", "$-1\r\n"),
        ("SET k v", "+OK\r\n"),
        ("GET k", "$1\r\nv\r\n"),
        ("SET k w NX", "$-1\r\n"),
        ("SET j w XX", "$-1\r\n"),
        ("SET k w XX GET", "$1\r\nv\r\n"),
        ("SET k x NX GET", "$1\r\nw\r\n"),
        ("SET k v BOGUS", "-ERR syntax error\r\n"),
        ("SET k v NX XX", "-ERR syntax error\r\n"),
        (
            "SET k v EX abc",
            "-ERR value is not an integer or out of range\r\n",
        ),
        (
            "SET k v EX 0",
            "-ERR invalid expire time in 'set' command\r\n",
        ),
        ("SET k v EX 10 PX 5", "-ERR syntax error\r\n"),
        ("SET k v KEEPTTL EX 5", "-ERR syntax error\r\n"),
        ("SET k v KEEPTTL", "+OK\r\n"),
        ("SETNX k v", ":0\r\n"),
        ("SETNX n v", ":1\r\n"),
        ("GETSET n w", "$1\r\nv\r\n"),
        ("GETDEL n", "$1\r\nw\r\n"),
        ("GETDEL n", "$-1\r\n"),
        ("STRLEN k", ":1\r\n"),
        ("STRLEN nokey", ":0\r\n"),
        ("APPEND k x", ":2\r\n"),
        ("APPEND a xyz", ":3\r\n"),
        ("INCR k", "-ERR value is not an integer or out of range\r\n"),
        ("INCR c", ":1\r\n"),
        ("INCRBY c 9223372036854775806", ":9223372036854775807\r\n"),
        ("INCR c", "-ERR increment or decrement would overflow\r\n"),
        (
            "DECRBY c -9223372036854775808",
            "-ERR decrement would overflow\r\n",
        ),
        ("DECR d", ":-1\r\n"),
        (
            "INCRBY d x",
            "-ERR value is not an integer or out of range\r\n",
        ),
        ("MSET a 1 b 2 a 3", "+OK\r\n"),
        ("MGET a b zz", "*3\r\n$1\r\n3\r\n$1\r\n2\r\n$-1\r\n"),
        ("MSETNX a 1 q 2", ":0\r\n"),
        ("MSETNX q 1 q 2", ":1\r\n"),
        ("GET q", "$1\r\n2\r\n"),
    ];
    for (request, reply) in cases {
        assert_eq!(h.reply(request), reply, "{request}");
    }
    assert!(
        h.reply("SET k v EX 10")
            .starts_with("-ERR key expiry is not supported"),
        "an expiry is refused"
    );
    assert_eq!(h.reply("GET k"), "$2\r\nvx\r\n", "and nothing was stored");
}

/// Found by `commands_vs_model`: SETEX and PSETEX refused every expiry with Stratus's own
/// error, and a relative expiry that only overflows once Redis adds the time now was refused
/// with it too. Redis 7.0.15 gave each of these replies.
#[test]
fn expiry_arguments_are_checked_as_redis_checks_them() {
    let mut h = Harness::new();
    let invalid = |name: &str| format!("-ERR invalid expire time in '{name}' command\r\n");
    let not_an_integer = "-ERR value is not an integer or out of range\r\n".to_owned();
    let cases = [
        ("SET k v EX 9223372036854775", invalid("set")),
        ("SET k v EX 9223372036854774", invalid("set")),
        ("SET k v EX 9223372036854776", invalid("set")),
        ("SET k v PX 9223372036854775807", invalid("set")),
        ("SET k v EX 9223372036854775 GET", invalid("set")),
        ("SETEX k 0 v", invalid("setex")),
        ("SETEX k -1 v", invalid("setex")),
        ("SETEX k abc v", not_an_integer.clone()),
        ("SETEX k 9223372036854775 v", invalid("setex")),
        ("PSETEX k 9223372036854775807 v", invalid("psetex")),
        ("PSETEX k +1 v", not_an_integer),
    ];
    for (request, reply) in cases {
        assert_eq!(h.reply(request), reply, "{request}");
    }
    // Good expiries Redis would honour (absolute ones have no time added), refused by ours.
    for request in [
        "SETEX k 10 v",
        "PSETEX k 9223370000000000000 v",
        "SET k v EXAT 9223372036854775",
        "SET k v PXAT 9223372036854775807",
    ] {
        assert!(
            h.reply(request)
                .starts_with("-ERR key expiry is not supported"),
            "{request}"
        );
    }
    assert_eq!(h.reply("DBSIZE"), ":0\r\n", "nothing was stored");
}

#[test]
fn keyspace_and_connection_commands_answer_as_redis() {
    let mut h = Harness::new();
    h.reply("MSET a 1 b 2");
    let cases = [
        ("EXISTS a a zz", ":2\r\n"),
        ("TYPE a", "+string\r\n"),
        ("TYPE zz", "+none\r\n"),
        ("TTL a", ":-1\r\n"),
        ("PTTL zz", ":-2\r\n"),
        ("PERSIST a", ":0\r\n"),
        ("DBSIZE", ":2\r\n"),
        ("KEYS [a-a]", "*1\r\n$1\r\na\r\n"),
        ("SCAN x", "-ERR invalid cursor\r\n"),
        ("SCAN 0 COUNT 0", "-ERR syntax error\r\n"),
        (
            "SCAN 0 COUNT x",
            "-ERR value is not an integer or out of range\r\n",
        ),
        ("SCAN 0 MATCH", "-ERR syntax error\r\n"),
        ("SCAN 0 MATCH a", "*2\r\n$1\r\n0\r\n*1\r\n$1\r\na\r\n"),
        ("SCAN 0 TYPE hash", "*2\r\n$1\r\n0\r\n*0\r\n"),
        ("SELECT 0", "+OK\r\n"),
        ("SELECT 16", "-ERR DB index is out of range\r\n"),
        (
            "SELECT x",
            "-ERR value is not an integer or out of range\r\n",
        ),
        (
            "SELECT 99999999999",
            "-ERR value is out of range, value must between -2147483648 and 2147483647\r\n",
        ),
        ("DEL a zz a", ":1\r\n"),
        ("FLUSHDB x", "-ERR syntax error\r\n"),
        ("FLUSHALL SYNC", "+OK\r\n"),
        ("DBSIZE", ":0\r\n"),
        ("CLIENT GETNAME", "$-1\r\n"),
        ("CLIENT SETNAME me", "+OK\r\n"),
        ("CLIENT GETNAME", "$2\r\nme\r\n"),
        ("CLIENT ID", ":7\r\n"),
        ("CLIENT SETINFO x y", "-ERR Unrecognized option 'x'\r\n"),
        ("CLIENT SETINFO lib-name redis-rs", "+OK\r\n"),
        (
            "HELLO x",
            "-ERR Protocol version is not an integer or out of range\r\n",
        ),
        ("HELLO 3", "-NOPROTO unsupported protocol version\r\n"),
        ("HELLO 2 foo", "-ERR Syntax error in HELLO option 'foo'\r\n"),
        (
            "HELLO 2 SETNAME",
            "-ERR Syntax error in HELLO option 'SETNAME'\r\n",
        ),
        ("AUTH default x", "+OK\r\n"),
        (
            "AUTH me x",
            "-WRONGPASS invalid username-password pair or user is disabled.\r\n",
        ),
        ("COMMAND DOCS get", "*0\r\n"),
        ("COMMAND INFO nope", "*1\r\n$-1\r\n"),
        ("QUIT", "+OK\r\n"),
    ];
    for (request, reply) in cases {
        assert_eq!(h.reply(request), reply, "{request}");
    }
    assert_eq!(
        h.reply("HELLO 2 SETNAME x"),
        "*14\r\n$6\r\nserver\r\n$7\r\nstratus\r\n$7\r\nversion\r\n$6\r\n7.0.15\r\n\
         $5\r\nproto\r\n:2\r\n$2\r\nid\r\n:7\r\n$4\r\nmode\r\n$10\r\nstandalone\r\n\
         $4\r\nrole\r\n$6\r\nmaster\r\n$7\r\nmodules\r\n*0\r\n"
    );
    assert_eq!(h.session.name.as_deref(), Some(&b"x"[..]));
    assert!(h.reply("CLIENT HELP").starts_with(
        "*13\r\n+CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:\r\n"
    ));
    assert_eq!(
        h.reply("COMMAND COUNT"),
        format!(":{}\r\n", top_level().count())
    );
}

#[test]
fn writes_are_refused_with_misconf_while_poisoned() {
    let mut h = Harness::new();
    h.reply("SET a 1");
    h.writes = Writes::Refused;
    let misconf = format!("-{}\r\n", errors::MISCONF);
    for write in [
        "SET a 2",
        "DEL zz",
        "INCR a",
        "APPEND a x",
        "FLUSHALL",
        "PERSIST a",
    ] {
        assert_eq!(h.reply(write), misconf, "{write}");
    }
    assert_eq!(
        h.reply("SET a"),
        "-ERR wrong number of arguments for 'set' command\r\n",
        "arity is checked first"
    );
    assert_eq!(h.reply("GET a"), "$1\r\n1\r\n");
    assert_eq!(
        h.reply("PING"),
        "+PONG\r\n",
        "PING is served (health checks)"
    );
    let written: Vec<&str> = COMMANDS
        .iter()
        .filter(|spec| spec.kind.is_write())
        .map(|spec| spec.name)
        .collect();
    assert_eq!(
        written,
        [
            "set",
            "setnx",
            "getset",
            "getdel",
            "mset",
            "msetnx",
            "del",
            "unlink",
            "append",
            "incr",
            "decr",
            "incrby",
            "decrby",
            "setex",
            "psetex",
            "expire",
            "pexpire",
            "expireat",
            "pexpireat",
            "flushdb",
            "flushall",
            "persist"
        ]
    );
}

#[test]
fn a_full_scan_returns_every_key_once_across_changes() {
    let mut h = Harness::new();
    for key in 0..2000 {
        h.table.insert_new(format!("k{key}").as_bytes(), b"v");
    }
    let mut seen = std::collections::HashMap::new();
    let mut cursor = 0u64;
    let mut calls = 0;
    loop {
        let (range, next) = keyspace::scan_page(cursor, h.table.len(), 10);
        for key in h.table.keys_hashed_in(range) {
            *seen.entry(key.to_vec()).or_insert(0) += 1;
        }
        calls += 1;
        // Churn between calls: new keys, and the table grows past several resizes.
        for extra in 0..200 {
            h.table
                .insert_new(format!("new{calls}-{extra}").as_bytes(), b"v");
        }
        if next == 0 {
            break;
        }
        cursor = next;
    }
    assert!(calls <= 2 * keyspace::SCAN_PAGES, "{calls} calls");
    for key in 0..2000 {
        assert_eq!(seen.get(format!("k{key}").as_bytes()), Some(&1), "k{key}");
    }
    assert!(seen.values().all(|&times| times == 1));
}

#[test]
fn answers_too_large_for_the_room_are_refused() {
    struct Cramped(Vec<u8>);
    impl Sink for Cramped {
        fn put(&mut self, bytes: &[u8]) {
            self.0.extend_from_slice(bytes);
        }
        fn room(&self) -> usize {
            100usize.saturating_sub(self.0.len())
        }
    }
    let mut table = Table::new();
    let mut session = Session::new(1);
    for key in 0..50 {
        table.insert_new(format!("key{key}").as_bytes(), b"value");
    }
    let too_large = format!("-{}\r\n", errors::REPLY_TOO_LARGE);
    for line in [
        "KEYS *",
        "SCAN 0 COUNT 1000",
        "MGET key1 key2 key3 key4 key5",
    ] {
        let parts: Vec<&[u8]> = line.split(' ').map(str::as_bytes).collect();
        let (bytes, spans) = request(&parts);
        let mut out = Cramped(Vec::new());
        execute(
            &mut table,
            Writes::Accepted,
            &mut session,
            Args::new(&bytes, &spans),
            &mut out,
        );
        assert_eq!(String::from_utf8_lossy(&out.0), too_large, "{line}");
    }
}

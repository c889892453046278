//! What each load test sends and which replies it accepts, per protocol. A test's request is
//! encoded once into a template; each request copies it and writes a fresh key number into the
//! key slots, so building a batch costs a memcpy, not an encoding. Keys come from a seeded
//! generator (the same run sends the same keys). No I/O and no timing: `client` does those.

use stratus::protocol::reply::{self, Element, Reply};
use stratus::protocol::ResponseCode;

use crate::protocol::{MalformedReply, Protocol};
use crate::resp;

/// The tests `-t` can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestKind {
    /// Skyhash `USET key value`, RESP `SET key value`: both overwrite.
    Set,
    Get,
    /// The protocol's no-op: Skyhash `HEYA`, RESP `PING`.
    Noop,
    /// [`MSET_KEYS`] pairs per request: Skyhash `USET k v k v …`, RESP `MSET k v k v …`.
    Mset,
    /// A new connection per request: connect, the TLS handshake with `--tls`, one no-op,
    /// close. Run by `connect`, not by the batch engine.
    Connect,
}

/// Keys per MSET request, as redis-benchmark's MSET test uses.
pub const MSET_KEYS: usize = 10;

/// The digits of a key number; keys are `key:` and these, zero-padded (`key:%012d`).
pub const KEY_DIGITS: usize = 12;
const KEY_PREFIX: &[u8] = b"key:";
/// Largest keyspace the 12 digits can number.
pub const MAX_KEYSPACE: u64 = 1_000_000_000_000;

/// The byte every benchmark value is made of: values are compared by size, not content.
const VALUE_BYTE: u8 = b'x';

impl TestKind {
    /// The test's name as reported, which is the command actually sent.
    pub fn name(self, protocol: Protocol) -> &'static str {
        match (self, protocol) {
            (TestKind::Set, _) => "SET",
            (TestKind::Get, _) => "GET",
            (TestKind::Noop, Protocol::Skyhash) => "HEYA",
            (TestKind::Noop, Protocol::Resp) => "PING",
            (TestKind::Mset, _) => "MSET",
            (TestKind::Connect, _) => "CONNECT",
        }
    }

    /// The `-t` spelling; `heya` and `ping` both mean the no-op of the protocol in use.
    pub fn from_flag(name: &str) -> Option<TestKind> {
        match name.to_ascii_lowercase().as_str() {
            "set" => Some(TestKind::Set),
            "get" => Some(TestKind::Get),
            "heya" | "ping" => Some(TestKind::Noop),
            "mset" => Some(TestKind::Mset),
            "connect" => Some(TestKind::Connect),
            _ => None,
        }
    }

    /// Whether the test's requests name keys (the no-op does not).
    fn uses_keys(self) -> bool {
        !matches!(self, TestKind::Noop | TestKind::Connect)
    }
}

/// One test's request, encoded once, with the offsets of the key digits to rewrite.
#[derive(Debug)]
pub struct RequestTemplate {
    bytes: Vec<u8>,
    key_slots: Vec<usize>,
}

impl RequestTemplate {
    pub fn new(kind: TestKind, protocol: Protocol, data_size: usize) -> Self {
        let placeholder = key_bytes(0);
        let value = vec![VALUE_BYTE; data_size];
        let mut parts: Vec<&[u8]> = Vec::new();
        match (kind, protocol) {
            (TestKind::Set, Protocol::Skyhash) => {
                parts.extend([&b"USET"[..], &placeholder, &value])
            }
            (TestKind::Set, Protocol::Resp) => parts.extend([&b"SET"[..], &placeholder, &value]),
            (TestKind::Get, _) => parts.extend([&b"GET"[..], &placeholder]),
            (TestKind::Noop | TestKind::Connect, Protocol::Skyhash) => parts.push(b"HEYA"),
            (TestKind::Noop | TestKind::Connect, Protocol::Resp) => parts.push(b"PING"),
            (TestKind::Mset, _) => {
                parts.push(match protocol {
                    Protocol::Skyhash => b"USET",
                    Protocol::Resp => b"MSET",
                });
                for _ in 0..MSET_KEYS {
                    parts.extend([&placeholder[..], &value]);
                }
            }
        }
        let mut bytes = Vec::new();
        protocol.encode_request(&mut bytes, &parts);
        // Every key is preceded by its length header and followed by a terminator, so the
        // prefix cannot match across a boundary; values are all VALUE_BYTE, so it cannot match
        // inside one. Each match is therefore exactly one key.
        let key_slots = if kind.uses_keys() {
            bytes
                .windows(placeholder.len())
                .enumerate()
                .filter(|(_, window)| *window == placeholder.as_slice())
                .map(|(start, _)| start + KEY_PREFIX.len())
                .collect()
        } else {
            Vec::new()
        };
        RequestTemplate { bytes, key_slots }
    }

    /// Appends one request, each of its keys drawn from `keys`.
    pub fn append(&self, out: &mut Vec<u8>, keys: &mut KeyChooser) {
        let start = out.len();
        out.extend_from_slice(&self.bytes);
        for &slot in &self.key_slots {
            let at = start + slot;
            write_key_digits(&mut out[at..at + KEY_DIGITS], keys.next_key());
        }
    }
}

/// `key:%012d`.
pub fn key_bytes(number: u64) -> Vec<u8> {
    let mut key = KEY_PREFIX.to_vec();
    key.resize(KEY_PREFIX.len() + KEY_DIGITS, b'0');
    write_key_digits(&mut key[KEY_PREFIX.len()..], number);
    key
}

/// Writes `number` zero-padded into `digits` (whose length is [`KEY_DIGITS`]); the keyspace
/// bound keeps every key number within the digits.
fn write_key_digits(digits: &mut [u8], mut number: u64) {
    for digit in digits.iter_mut().rev() {
        *digit = b'0' + (number % 10) as u8;
        number /= 10;
    }
}

/// Key numbers for requests: uniform over `[0, keyspace)` with `-r`, always 0 without.
#[derive(Debug)]
pub struct KeyChooser {
    keyspace: Option<u64>,
    random: SplitMix64,
}

/// The load tests' fixed seed: two runs with the same flags send the same keys.
const KEY_SEED: u64 = 0x5354_5241_5455_5321;

impl KeyChooser {
    pub fn new(keyspace: Option<u64>) -> Self {
        KeyChooser {
            keyspace,
            random: SplitMix64::new(KEY_SEED),
        }
    }

    fn next_key(&mut self) -> u64 {
        match self.keyspace {
            Some(keyspace) => self.random.below(keyspace),
            None => 0,
        }
    }
}

/// SplitMix64 (Steele, Lea and Flood, 2014): tiny, fast, and good enough to spread keys and
/// make incompressible values. Not for anything needing unpredictability.
#[derive(Debug, Clone)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        SplitMix64 { state: seed }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, bound)` by multiply-and-shift; the bias, under `bound / 2^64`, is far
    /// below anything a benchmark can see.
    pub fn below(&mut self, bound: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(bound)) >> 64) as u64
    }
}

/// Frames the reply at the start of `buf` and says whether it is one `kind` accepts:
/// `Some((length, expected))`, or `None` while it is incomplete.
pub fn check_reply(
    protocol: Protocol,
    kind: TestKind,
    buf: &[u8],
) -> Result<Option<(usize, bool)>, MalformedReply> {
    Ok(match protocol {
        Protocol::Skyhash => {
            reply::parse(buf)?.map(|(reply, len)| (len, skyhash_reply_expected(kind, &reply)))
        }
        Protocol::Resp => {
            resp::parse_reply(buf)?.map(|(value, len)| (len, resp_reply_expected(kind, &value)))
        }
    })
}

fn skyhash_reply_expected(kind: TestKind, reply: &Reply<'_>) -> bool {
    let Some(element) = reply.single() else {
        return false;
    };
    match kind {
        // USET answers how many pairs it stored.
        TestKind::Set => *element == Element::Unsigned(1),
        TestKind::Mset => *element == Element::Unsigned(MSET_KEYS as u64),
        // A key never set answers code 1 (nil), which is a correct answer, not an error.
        TestKind::Get => {
            matches!(element, Element::Str(_)) || *element == Element::Code(ResponseCode::Nil as u8)
        }
        TestKind::Noop | TestKind::Connect => *element == Element::Str(b"HEY!"),
    }
}

fn resp_reply_expected(kind: TestKind, value: &resp::Value<'_>) -> bool {
    use resp::Value;
    match kind {
        TestKind::Set | TestKind::Mset => *value == Value::Simple(b"OK"),
        TestKind::Get => matches!(value, Value::Bulk(_) | Value::Nil),
        TestKind::Noop | TestKind::Connect => *value == Value::Simple(b"PONG"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one_request(
        kind: TestKind,
        protocol: Protocol,
        data_size: usize,
        key: Option<u64>,
    ) -> Vec<u8> {
        let template = RequestTemplate::new(kind, protocol, data_size);
        let mut keys = KeyChooser::new(key.map(|_| MAX_KEYSPACE));
        let mut out = Vec::new();
        template.append(&mut out, &mut keys);
        assert_eq!(out.len(), template.bytes.len());
        out
    }

    #[test]
    fn keys_are_zero_padded_to_twelve_digits() {
        assert_eq!(key_bytes(0), b"key:000000000000");
        assert_eq!(key_bytes(42), b"key:000000000042");
        assert_eq!(key_bytes(MAX_KEYSPACE - 1), b"key:999999999999");
    }

    #[test]
    fn requests_per_test_and_protocol() {
        assert_eq!(
            one_request(TestKind::Set, Protocol::Skyhash, 3, None),
            b"*1\n_3\n+4\nUSET\n+16\nkey:000000000000\n+3\nxxx\n"
        );
        assert_eq!(
            one_request(TestKind::Set, Protocol::Resp, 3, None),
            b"*3\r\n$3\r\nSET\r\n$16\r\nkey:000000000000\r\n$3\r\nxxx\r\n"
        );
        assert_eq!(
            one_request(TestKind::Get, Protocol::Skyhash, 3, None),
            b"*1\n_2\n+3\nGET\n+16\nkey:000000000000\n"
        );
        assert_eq!(
            one_request(TestKind::Noop, Protocol::Skyhash, 3, None),
            b"*1\n_1\n+4\nHEYA\n"
        );
        assert_eq!(
            one_request(TestKind::Noop, Protocol::Resp, 3, None),
            b"*1\r\n$4\r\nPING\r\n"
        );
    }

    #[test]
    fn random_keys_fill_every_slot() {
        let template = RequestTemplate::new(TestKind::Mset, Protocol::Resp, 2);
        assert_eq!(template.key_slots.len(), MSET_KEYS);
        let mut keys = KeyChooser::new(Some(1000));
        let mut out = Vec::new();
        template.append(&mut out, &mut keys);
        let text = String::from_utf8(out).unwrap();
        let numbers: Vec<u64> = text
            .split("\r\n")
            .filter_map(|part| part.strip_prefix("key:"))
            .map(|digits| {
                assert_eq!(digits.len(), KEY_DIGITS);
                digits.parse().unwrap()
            })
            .collect();
        assert_eq!(numbers.len(), MSET_KEYS);
        assert!(numbers.iter().all(|&n| n < 1000));
        assert!(numbers.iter().any(|&n| n != numbers[0]), "keys vary");
    }

    #[test]
    fn below_stays_in_range_and_covers_it() {
        let mut random = SplitMix64::new(1);
        let mut seen = [false; 7];
        for _ in 0..1000 {
            seen[random.below(7) as usize] = true;
        }
        assert!(seen.iter().all(|&s| s));
    }

    #[test]
    fn expected_replies() {
        use Protocol::{Resp, Skyhash};
        use TestKind::{Get, Mset, Noop, Set};
        let cases: &[(Protocol, TestKind, &[u8], bool)] = &[
            (Skyhash, Set, b"*1\n:1\n1\n", true),
            (Skyhash, Set, b"*1\n!1\n2\n", false),
            (Skyhash, Set, b"*1\n!1\n5\n", false),
            (Skyhash, Mset, b"*1\n:2\n10\n", true),
            (Skyhash, Get, b"*1\n+3\nxxx\n", true),
            (Skyhash, Get, b"*1\n!1\n1\n", true),
            (Skyhash, Get, b"*1\n!1\n7\n", false),
            (Skyhash, Noop, b"*1\n+4\nHEY!\n", true),
            (Skyhash, Noop, b"*2\n+4\nHEY!\n+4\nHEY!\n", false),
            (Resp, Set, b"+OK\r\n", true),
            (Resp, Set, b"-ERR wrong\r\n", false),
            (Resp, Mset, b"+OK\r\n", true),
            (Resp, Get, b"$3\r\nxxx\r\n", true),
            (Resp, Get, b"$-1\r\n", true),
            (Resp, Get, b":1\r\n", false),
            (Resp, Noop, b"+PONG\r\n", true),
        ];
        for &(protocol, kind, bytes, expected) in cases {
            assert_eq!(
                check_reply(protocol, kind, bytes),
                Ok(Some((bytes.len(), expected))),
                "{protocol:?} {kind:?} {:?}",
                bytes.escape_ascii().to_string()
            );
        }
        assert_eq!(check_reply(Skyhash, Set, b"*1\n:1\n"), Ok(None));
        assert!(check_reply(Resp, Set, b"*1\n:1\n1\n").is_err());
    }

    #[test]
    fn test_names_follow_the_protocol() {
        assert_eq!(TestKind::from_flag("PING"), Some(TestKind::Noop));
        assert_eq!(TestKind::Noop.name(Protocol::Skyhash), "HEYA");
        assert_eq!(TestKind::Noop.name(Protocol::Resp), "PING");
        assert_eq!(TestKind::from_flag("lpush"), None);
        assert_eq!(TestKind::from_flag("connect"), Some(TestKind::Connect));
        assert_eq!(TestKind::Connect.name(Protocol::Resp), "CONNECT");
    }

    #[test]
    fn the_connect_test_sends_the_no_op() {
        for protocol in [Protocol::Skyhash, Protocol::Resp] {
            assert_eq!(
                one_request(TestKind::Connect, protocol, 3, None),
                one_request(TestKind::Noop, protocol, 3, None)
            );
        }
        assert_eq!(
            check_reply(Protocol::Skyhash, TestKind::Connect, b"*1\n+4\nHEY!\n"),
            Ok(Some((11, true)))
        );
        assert_eq!(
            check_reply(Protocol::Resp, TestKind::Connect, b"+OK\r\n"),
            Ok(Some((5, false)))
        );
    }
}

//! Filling a server with the persistence mode's data: keys `key:%012d`, values of seeded
//! random printable bytes (the same bytes for every server and round), sent in pipelined
//! batches with a bounded number in flight, and every reply checked. Skyhash gets one USET per
//! batch, RESP one SET per key.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use stratus::protocol::write;

use super::round::{unexpected, Bench};
use super::stratus::skyhash_unsigned;
use super::PersistenceError;
use crate::blocking::BlockingClient;
use crate::protocol::Protocol;
use crate::resp;
use crate::workload::{key_bytes, SplitMix64};

/// Keys per fill request (Stratus: pairs per USET; Redis: SETs per write).
const FILL_BATCH_KEYS: u64 = 1000;
/// Fill requests in flight: enough to keep the server busy, few enough that the replies
/// waiting to be read always fit in the socket buffers (so blocking I/O cannot deadlock).
const FILL_WINDOW: usize = 4;
/// The values' seed: both servers get the same bytes.
const FILL_SEED: u64 = 42;
/// Values are random printable bytes, six random bits each.
const VALUE_ALPHABET: &[u8; 64] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Fills the options' number of keys, [`FILL_WINDOW`] requests in flight; returns the time
/// it took.
pub fn fill(
    bench: &Bench,
    server: &'static str,
    client: &mut BlockingClient,
) -> Result<Duration, PersistenceError> {
    let keys = bench.options.keys;
    let protocol = client.protocol();
    let mut values = ValueGenerator::new(bench.options.data_size);
    let mut in_flight = VecDeque::with_capacity(FILL_WINDOW);
    let mut request = Vec::new();
    let started = Instant::now();
    let mut next_key = 0;
    while next_key < keys {
        bench.interrupt.check()?;
        let count = FILL_BATCH_KEYS.min(keys - next_key);
        request.clear();
        encode_fill_batch(protocol, &mut request, next_key, count, &mut values);
        client
            .send(&request)
            .map_err(|source| PersistenceError::Client {
                server,
                what: "filling",
                source,
            })?;
        in_flight.push_back(count);
        next_key += count;
        if in_flight.len() >= FILL_WINDOW {
            if let Some(count) = in_flight.pop_front() {
                expect_fill_replies(server, client, count)?;
            }
        }
    }
    while let Some(count) = in_flight.pop_front() {
        expect_fill_replies(server, client, count)?;
    }
    Ok(started.elapsed())
}

/// The seeded values: the same sequence for every server and round.
struct ValueGenerator {
    random: SplitMix64,
    value: Vec<u8>,
}

impl ValueGenerator {
    fn new(size: usize) -> Self {
        ValueGenerator {
            random: SplitMix64::new(FILL_SEED),
            value: vec![0; size],
        }
    }

    fn next_value(&mut self) -> &[u8] {
        // Ten 6-bit letters from each 64-bit draw.
        for letters in self.value.chunks_mut(10) {
            let mut bits = self.random.next_u64();
            for letter in letters {
                *letter = VALUE_ALPHABET[(bits & 63) as usize];
                bits >>= 6;
            }
        }
        &self.value
    }
}

/// Keys `first .. first + count`: one USET of all pairs (Skyhash), or one SET each (RESP).
fn encode_fill_batch(
    protocol: Protocol,
    out: &mut Vec<u8>,
    first: u64,
    count: u64,
    values: &mut ValueGenerator,
) {
    if protocol == Protocol::Skyhash {
        write::query_header(out, 1);
        write::flat_array_header(out, 1 + 2 * count as usize);
        write::string(out, b"USET");
    }
    for number in first..first + count {
        let key = key_bytes(number);
        let value = values.next_value();
        match protocol {
            Protocol::Skyhash => {
                write::string(out, &key);
                write::string(out, value);
            }
            Protocol::Resp => resp::encode_command(out, &[b"SET", &key, value]),
        }
    }
}

fn expect_fill_replies(
    server: &'static str,
    client: &mut BlockingClient,
    count: u64,
) -> Result<(), PersistenceError> {
    let receive = |client: &mut BlockingClient| {
        client.receive().map_err(|source| PersistenceError::Client {
            server,
            what: "filling",
            source,
        })
    };
    match client.protocol() {
        Protocol::Skyhash => {
            let reply = receive(client)?;
            if skyhash_unsigned(&reply) != Some(count) {
                return Err(unexpected(server, "USET", &reply));
            }
        }
        Protocol::Resp => {
            for _ in 0..count {
                let reply = receive(client)?;
                if reply != b"+OK\r\n" {
                    return Err(unexpected(server, "SET", &reply));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_seeded_printable_and_sized() {
        let mut first = ValueGenerator::new(25);
        let mut second = ValueGenerator::new(25);
        let a = first.next_value().to_vec();
        assert_eq!(a.len(), 25);
        assert!(a.iter().all(|byte| VALUE_ALPHABET.contains(byte)));
        assert_eq!(second.next_value(), a.as_slice());
        assert_ne!(first.next_value(), a.as_slice());
    }

    #[test]
    fn fill_batches_per_protocol() {
        let mut values = ValueGenerator::new(2);
        let mut out = Vec::new();
        encode_fill_batch(Protocol::Skyhash, &mut out, 7, 2, &mut values);
        let reply = String::from_utf8(out).unwrap();
        assert!(reply.starts_with("*1\n_5\n+4\nUSET\n+16\nkey:000000000007\n+2\n"));
        assert!(reply.contains("+16\nkey:000000000008\n+2\n"));
        let mut values = ValueGenerator::new(2);
        let mut out = Vec::new();
        encode_fill_batch(Protocol::Resp, &mut out, 7, 1, &mut values);
        let first = ValueGenerator::new(2).next_value().to_vec();
        let mut expected = b"*3\r\n$3\r\nSET\r\n$16\r\nkey:000000000007\r\n$2\r\n".to_vec();
        expected.extend_from_slice(&first);
        expected.extend_from_slice(b"\r\n");
        assert_eq!(out, expected);
    }
}

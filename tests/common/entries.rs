//! The keys and values tests store and check: [`Entries`], the 1 KiB bulk that makes a save
//! slow enough to catch in the act, and checks that the server (over the wire) or data.bin
//! holds exactly what was stored.

use std::collections::BTreeMap;
use std::net::TcpStream;

use super::files::read_data_file;
use super::server::TestServer;
use super::wire::{
    escape, exchange, simple_query, simple_response, string_element, uint_response, value_response,
};

/// Keys and values, ordered (so failures list them the same way every run).
pub type Entries = BTreeMap<Vec<u8>, Vec<u8>>;

/// Entries from text pairs.
pub fn text_entries(pairs: &[(&str, &str)]) -> Entries {
    pairs
        .iter()
        .map(|(key, value)| (key.as_bytes().to_vec(), value.as_bytes().to_vec()))
        .collect()
}

/// Asserts through MGET (100 keys per query) that the server holds every entry exactly.
pub fn assert_held(con: &mut TcpStream, entries: &Entries) {
    let all: Vec<(&Vec<u8>, &Vec<u8>)> = entries.iter().collect();
    for batch in all.chunks(100) {
        let mut args: Vec<&[u8]> = vec![b"MGET"];
        args.extend(batch.iter().map(|(key, _)| key.as_slice()));
        let mut element = format!("&{}\n", batch.len()).into_bytes();
        for (_, value) in batch {
            element.extend(string_element(value));
        }
        exchange(con, &simple_query(&args), &simple_response(&element));
    }
}

/// Keys of 1 KiB that make a save take hundreds of milliseconds in a debug build: long enough
/// to signal the save child while it runs (the test retries on the next save if it was late).
pub const SLOW_SAVE_KEYS: usize = 50_000;

/// The value stored under bulk key `i`: 1 KiB derived from the index, so a mix-up shows.
pub fn bulk_value(i: usize) -> Vec<u8> {
    let mut value = format!("bulk value {i:08} ").into_bytes();
    let seed = value.len();
    value.extend((seed..1024).map(|at| (at.wrapping_mul(31) ^ i) as u8));
    value
}

pub fn bulk_key(i: usize) -> Vec<u8> {
    format!("bulk{i:08}").into_bytes()
}

/// Stores `count` keys `bulk00000000…` with 1 KiB values through USET batches.
pub fn load_bulk(stream: &mut TcpStream, count: usize) {
    const BATCH: usize = 1000;
    for start in (0..count).step_by(BATCH) {
        let end = (start + BATCH).min(count);
        let pairs: Vec<(Vec<u8>, Vec<u8>)> =
            (start..end).map(|i| (bulk_key(i), bulk_value(i))).collect();
        let mut args: Vec<&[u8]> = vec![b"USET"];
        for (key, value) in &pairs {
            args.push(key);
            args.push(value);
        }
        exchange(
            stream,
            &simple_query(&args),
            &uint_response((end - start) as u64),
        );
    }
}

/// After a clean stop: data.bin holds the slow-save bulk plus `extras`, exactly, and a restart
/// on the same directory serves them.
pub fn assert_bulk_and_extras_saved(server: &TestServer, extras: &Entries) {
    let saved = read_data_file(&server.data_file());
    assert_eq!(
        saved.len(),
        SLOW_SAVE_KEYS + extras.len(),
        "keys in data.bin"
    );
    for i in 0..SLOW_SAVE_KEYS {
        assert!(
            saved.get(&bulk_key(i)) == Some(&bulk_value(i)),
            "data.bin: bulk key {i} is missing or wrong"
        );
    }
    for (key, value) in extras {
        assert_eq!(saved.get(key), Some(value), "data.bin: {}", escape(key));
    }
    let restarted = server.same_dir().start();
    let mut con = restarted.raw();
    exchange(
        &mut con,
        &simple_query(&[b"DBSIZE"]),
        &uint_response((SLOW_SAVE_KEYS + extras.len()) as u64),
    );
    for (key, value) in extras {
        exchange(
            &mut con,
            &simple_query(&[b"GET", key]),
            &value_response(value),
        );
    }
}

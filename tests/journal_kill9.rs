//! With the journal on, kill -9 loses no acknowledged write, in every mode, while BGSAVEs
//! compact the journal every second. Each round starts with an acknowledged FLUSHDB, then 50
//! connections write to keys of their own (SET, UPDATE, USET, DEL, MSET, SDEL, alone and in
//! pipelines of three) and record every answer; the server is killed at a random moment and
//! restarted. Then each connection's keys must hold exactly the state after its acknowledged
//! writes, or after some of the writes it had sent but not seen answered; every value is unique,
//! so a value that was never written cannot pass. `STRATUS_KILL9_ROUNDS` sets the rounds per
//! mode (default 20) for longer runs.

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::Duration;

use common::server::{ServerBuilder, TestServer};
use common::wire::{escape, exchange, read_response, simple_query, string_element, OKAY};

const CONNECTIONS: usize = 50;
const DEFAULT_ROUNDS: usize = 20;
const KILL_AFTER_MIN_MS: u64 = 150;
const KILL_AFTER_MAX_MS: u64 = 700;

type State = BTreeMap<Vec<u8>, Vec<u8>>;

struct Prng(u64);

impl Prng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }
}

/// One operation, as the model applies it and as it goes on the wire.
#[derive(Clone, Debug)]
enum Op {
    Set(Vec<u8>, Vec<u8>),
    Update(Vec<u8>, Vec<u8>),
    Uset(Vec<u8>, Vec<u8>),
    Del(Vec<u8>),
    Mset(Vec<(Vec<u8>, Vec<u8>)>),
    Sdel(Vec<Vec<u8>>),
}

impl Op {
    fn query(&self) -> Vec<u8> {
        match self {
            Op::Set(k, v) => simple_query(&[b"SET", k, v]),
            Op::Update(k, v) => simple_query(&[b"UPDATE", k, v]),
            Op::Uset(k, v) => simple_query(&[b"USET", k, v]),
            Op::Del(k) => simple_query(&[b"DEL", k]),
            Op::Mset(pairs) => {
                let mut parts: Vec<&[u8]> = vec![b"MSET"];
                for (k, v) in pairs {
                    parts.extend([k.as_slice(), v.as_slice()]);
                }
                simple_query(&parts)
            }
            Op::Sdel(keys) => {
                let mut parts: Vec<&[u8]> = vec![b"SDEL"];
                parts.extend(keys.iter().map(Vec::as_slice));
                simple_query(&parts)
            }
        }
    }

    /// Applies the write to `state` and returns the exact answer the server must give.
    fn apply(&self, state: &mut State) -> Vec<u8> {
        let code = |n: u8| vec![b'*', b'1', b'\n', b'!', b'1', b'\n', b'0' + n, b'\n'];
        let count = |n: usize| format!("*1\n:{}\n{n}\n", n.to_string().len()).into_bytes();
        match self {
            Op::Set(k, v) => {
                if state.contains_key(k) {
                    return code(2);
                }
                state.insert(k.clone(), v.clone());
                code(0)
            }
            Op::Update(k, v) => match state.get_mut(k) {
                Some(old) => {
                    *old = v.clone();
                    code(0)
                }
                None => code(1),
            },
            Op::Uset(k, v) => {
                state.insert(k.clone(), v.clone());
                count(1)
            }
            Op::Del(k) => count(usize::from(state.remove(k).is_some())),
            Op::Mset(pairs) => {
                let mut inserted = 0;
                for (k, v) in pairs {
                    if !state.contains_key(k) {
                        state.insert(k.clone(), v.clone());
                        inserted += 1;
                    }
                }
                count(inserted)
            }
            Op::Sdel(keys) => {
                if !keys.iter().all(|k| state.contains_key(k)) {
                    return code(1);
                }
                for k in keys {
                    state.remove(k);
                }
                code(0)
            }
        }
    }
}

/// What one connection did: the state its acknowledged writes leave, the writes it sent
/// without seeing their answers (in order), and every key it touched.
struct Record {
    acknowledged: State,
    unanswered: Vec<Op>,
    keys: Vec<Vec<u8>>,
}

fn random_write(prng: &mut Prng, who: usize, serial: &mut u64, state: &State) -> Op {
    let mut fresh_value = || {
        *serial += 1;
        format!("c{who}v{serial}").into_bytes()
    };
    let key = |n: u64| format!("c{who}k{n}").into_bytes();
    let existing: Vec<&Vec<u8>> = state.keys().collect();
    let some_existing = |prng: &mut Prng| -> Vec<u8> {
        if existing.is_empty() {
            key(prng.below(40))
        } else {
            existing[prng.below(existing.len() as u64) as usize].clone()
        }
    };
    match prng.below(10) {
        0 | 1 => Op::Set(key(prng.below(40)), fresh_value()),
        2 => Op::Update(some_existing(prng), fresh_value()),
        3 | 4 => Op::Uset(key(prng.below(40)), fresh_value()),
        5 => Op::Del(some_existing(prng)),
        6 | 7 => Op::Mset(vec![
            (key(prng.below(40)), fresh_value()),
            (key(prng.below(40)), fresh_value()),
        ]),
        _ => Op::Sdel(vec![some_existing(prng), some_existing(prng)]),
    }
}

/// Writes until the connection dies; singles and pipelines of three.
fn run_writer(mut stream: TcpStream, who: usize, seed: u64) -> Result<Record, String> {
    let mut prng = Prng(seed | 1);
    let mut record = Record {
        acknowledged: State::new(),
        unanswered: Vec::new(),
        keys: Vec::new(),
    };
    let mut serial = 0;
    loop {
        let batch = if prng.below(3) == 0 { 3 } else { 1 };
        let mut predicted = record.acknowledged.clone();
        let mut writes = Vec::new();
        let mut answers = Vec::new();
        let mut query = Vec::new();
        for _ in 0..batch {
            let write = random_write(&mut prng, who, &mut serial, &predicted);
            answers.push(write.apply(&mut predicted));
            query.extend(write.query());
            writes.push(write);
        }
        for write in &writes {
            record.keys.extend(touched_keys(write));
        }
        record.unanswered = writes.clone();
        if stream.write_all(&query).is_err() {
            return Ok(record);
        }
        for (write, answer) in writes.iter().zip(answers) {
            let mut got = vec![0; answer.len()];
            if stream.read_exact(&mut got).is_err() {
                return Ok(record);
            }
            if got != answer {
                return Err(format!(
                    "connection {who}: {write:?} answered \"{}\", expected \"{}\"",
                    escape(&got),
                    escape(&answer)
                ));
            }
            write.apply(&mut record.acknowledged);
            record.unanswered.remove(0);
        }
    }
}

fn touched_keys(write: &Op) -> Vec<Vec<u8>> {
    match write {
        Op::Set(k, _) | Op::Update(k, _) | Op::Uset(k, _) | Op::Del(k) => {
            vec![k.clone()]
        }
        Op::Mset(pairs) => pairs.iter().map(|(k, _)| k.clone()).collect(),
        Op::Sdel(keys) => keys.clone(),
    }
}

/// The values of `keys` in the restarted server, as a state (absent keys left out).
fn read_back(stream: &mut TcpStream, keys: &[Vec<u8>]) -> State {
    let mut state = State::new();
    for key in keys {
        let answer = {
            stream.write_all(&simple_query(&[b"GET", key])).unwrap();
            read_response(stream)
        };
        if answer != b"*1\n!1\n1\n" {
            let value = answer[3..]
                .splitn(2, |&b| b == b'\n')
                .nth(1)
                .expect("a string answer")
                .strip_suffix(b"\n")
                .expect("LF-terminated")
                .to_vec();
            assert_eq!(answer, [&b"*1\n"[..], &string_element(&value)].concat());
            state.insert(key.clone(), value);
        }
    }
    state
}

fn rounds() -> usize {
    std::env::var("STRATUS_KILL9_ROUNDS")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(DEFAULT_ROUNDS)
}

fn kill9_rounds(mode: &str, seed: u64) {
    let mut prng = Prng(seed);
    let args = ["--journal", mode, "-S", "1"];
    let mut server = ServerBuilder::new().args(&args).start();
    let mut survived_kills = 0;
    for round in 0..rounds() {
        exchange(&mut server.raw(), &simple_query(&[b"FLUSHDB"]), OKAY);
        let writers: Vec<_> = (0..CONNECTIONS)
            .map(|who| {
                let stream = server.raw();
                let seed = prng.below(u64::MAX);
                thread::spawn(move || run_writer(stream, who, seed))
            })
            .collect();
        let delay = KILL_AFTER_MIN_MS + prng.below(KILL_AFTER_MAX_MS - KILL_AFTER_MIN_MS);
        thread::sleep(Duration::from_millis(delay));
        server.crash();
        let records: Vec<Record> = writers
            .into_iter()
            .map(|writer| writer.join().expect("a writer thread"))
            .collect::<Result<_, _>>()
            .unwrap_or_else(|error| panic!("{mode} round {round}: {error}"));
        let restarted: TestServer = server.same_dir().args(&args).start();
        let mut reader = restarted.raw();
        let mut total = 0;
        for (who, record) in records.iter().enumerate() {
            let mut keys = record.keys.clone();
            keys.sort();
            keys.dedup();
            let found = read_back(&mut reader, &keys);
            let mut candidate = record.acknowledged.clone();
            let mut matched = found == candidate;
            for write in &record.unanswered {
                write.apply(&mut candidate);
                matched |= found == candidate;
            }
            assert!(
                matched,
                "{mode} round {round}, connection {who} (killed after {delay} ms): found \
                 {found:?}, acknowledged {:?}, unanswered {:?}",
                record.acknowledged, record.unanswered
            );
            total += found.len();
        }
        let dbsize = format!("*1\n:{}\n{total}\n", total.to_string().len());
        exchange(&mut reader, &simple_query(&[b"DBSIZE"]), dbsize.as_bytes());
        survived_kills += 1;
        server = restarted;
    }
    assert_eq!(survived_kills, rounds());
}

#[test]
fn kill_9_loses_no_acknowledged_write_with_journal_always() {
    kill9_rounds("always", 0x4a4f_5552_0001);
}

#[test]
fn kill_9_loses_no_acknowledged_write_with_journal_everysec() {
    kill9_rounds("everysec", 0x4a4f_5552_0002);
}

#[test]
fn kill_9_loses_no_acknowledged_write_with_journal_no() {
    kill9_rounds("no", 0x4a4f_5552_0003);
}

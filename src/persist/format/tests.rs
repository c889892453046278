//! The data file format's unit tests: the layout of both versions pinned to the bytes and to
//! the table at the top of `format.rs`, round trips, and every fault with its offset.

use super::*;
use crate::persist::layout_doc::documented_fields;

fn sample() -> Table {
    let mut table = Table::new();
    table.insert_new(b"x", b"100");
    table.insert_new(b"", b"empty key");
    table.insert_new(b"empty value", b"");
    table.insert_new(b"\x00\xff", &[0xab; 300]);
    table
}

/// `table` as a version 1 file, as the encoder of that version wrote it.
fn encode_v1(table: &Table) -> Vec<u8> {
    let payload: Vec<u8> = table
        .iter()
        .flat_map(|(key, value)| entry_bytes(key, value))
        .collect();
    seal(VERSION_1, 0, table.len() as u64, &payload)
}

fn fault(bytes: &[u8]) -> DecodeError {
    decode(bytes).map(|_| ()).unwrap_err()
}

/// `bytes` with `edit` applied to the header and the header checksum of `header_crc` recomputed,
/// so the edit itself is what the decoder sees.
fn resealed(bytes: &[u8], header_crc: usize, edit: impl Fn(&mut Vec<u8>)) -> Vec<u8> {
    let mut bytes = bytes.to_vec();
    edit(&mut bytes);
    let crc = crc32fast::hash(&bytes[..header_crc]);
    bytes[header_crc..header_crc + 4].copy_from_slice(&crc.to_le_bytes());
    bytes
}

#[test]
fn the_documented_table_is_the_layout() {
    assert_eq!(
        documented_fields(include_str!("../format.rs")),
        [
            (MAGIC_OFFSET, MAGIC.len(), "MAGIC"),
            (VERSION_OFFSET, 4, "VERSION"),
            (FLAGS_OFFSET, 4, "FLAGS"),
            (ENTRY_COUNT_OFFSET, 8, "ENTRY_COUNT"),
            (PAYLOAD_LEN_OFFSET, 8, "PAYLOAD_LEN"),
            (JOURNAL_SEGMENT_OFFSET, 8, "JOURNAL_SEGMENT"),
            (PAYLOAD_CRC_OFFSET, 4, "PAYLOAD_CRC"),
            (HEADER_CRC_OFFSET, 4, "HEADER_CRC"),
            (HEADER_LEN, 0, "payload"),
        ]
    );
    assert_eq!((HEADER_LEN, HEADER_LEN_V1), (48, 40));
    assert_eq!((PAYLOAD_CRC_OFFSET_V1, HEADER_CRC_OFFSET_V1), (32, 36));
}

#[test]
fn round_trip_keeps_every_entry() {
    let table = sample();
    let bytes = encode_to_vec(&table);
    assert_eq!(bytes.len() as u64, encoded_len(&table));
    assert_eq!(bytes.len(), 48 + 4 * 8 + 1 + 3 + 9 + 11 + 2 + 300);
    let decoded = decode(&bytes).unwrap();
    assert_eq!(decoded.sorted_entries(), table.sorted_entries());
    assert_eq!(decoded.payload_bytes(), table.payload_bytes());
}

#[test]
fn the_journal_segment_round_trips() {
    let table = sample();
    for segment in [0, 1, 7, u64::MAX] {
        let file = decode_file(&encode_to_vec_with(&table, segment)).unwrap();
        assert_eq!((file.version, file.journal_segment), (VERSION, segment));
        assert_eq!(file.table.sorted_entries(), table.sorted_entries());
    }
    assert_eq!(
        decode_file(&encode_to_vec(&table)).unwrap().journal_segment,
        0
    );
    let mut mapped = vec![0; encoded_len(&table) as usize];
    encode(&table, &mut mapped).unwrap();
    assert_eq!(mapped, encode_to_vec_with(&table, 0));
}

#[test]
fn a_version_1_file_decodes_tied_to_no_journal() {
    let table = sample();
    let bytes = encode_v1(&table);
    assert_eq!(bytes.len() as u64, encoded_len(&table) - 8);
    let file = decode_file(&bytes).unwrap();
    assert_eq!((file.version, file.journal_segment), (VERSION_1, 0));
    assert_eq!(file.table.sorted_entries(), table.sorted_entries());
    assert_eq!(
        decode(&bytes).unwrap().sorted_entries(),
        table.sorted_entries()
    );
}

#[test]
fn an_empty_table_is_a_bare_header() {
    let bytes = encode_to_vec(&Table::new());
    assert_eq!(bytes.len(), HEADER_LEN);
    assert_eq!(&bytes[..8], b"\x89STR\r\n\x1a\n");
    assert_eq!(&bytes[8..12], &[2, 0, 0, 0]);
    assert_eq!(&bytes[12..40], &[0; 28]);
    // CRC-32 of nothing is 0.
    assert_eq!(&bytes[40..44], &[0, 0, 0, 0]);
    assert!(decode(&bytes).unwrap().is_empty());
}

#[test]
fn an_empty_version_1_table_is_a_bare_header() {
    let bytes = seal(VERSION_1, 0, 0, &[]);
    assert_eq!(bytes.len(), HEADER_LEN_V1);
    assert_eq!(&bytes[..8], b"\x89STR\r\n\x1a\n");
    assert_eq!(
        &bytes[8..32],
        &[1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
    );
    // CRC-32 of nothing is 0.
    assert_eq!(&bytes[32..36], &[0, 0, 0, 0]);
    assert!(decode(&bytes).unwrap().is_empty());
}

#[test]
fn the_layout_is_the_documented_one() {
    let mut table = Table::new();
    table.insert_new(b"x", b"100");
    let segment = 0x0102_0304_0506_0708u64;
    let bytes = encode_to_vec_with(&table, segment);
    assert_eq!(bytes, seal(VERSION, segment, 1, &entry_bytes(b"x", b"100")));
    assert_eq!(&bytes[8..12], &2u32.to_le_bytes());
    assert_eq!(&bytes[16..24], &1u64.to_le_bytes());
    assert_eq!(&bytes[24..32], &12u64.to_le_bytes());
    assert_eq!(&bytes[32..40], &[8, 7, 6, 5, 4, 3, 2, 1]);
    assert_eq!(&bytes[40..44], &crc32fast::hash(&bytes[48..]).to_le_bytes());
    assert_eq!(&bytes[44..48], &crc32fast::hash(&bytes[..44]).to_le_bytes());
    assert_eq!(&bytes[48..], &entry_bytes(b"x", b"100"));
}

#[test]
fn the_version_1_layout_is_the_documented_one() {
    let mut table = Table::new();
    table.insert_new(b"x", b"100");
    let bytes = encode_v1(&table);
    assert_eq!(bytes, seal(VERSION_1, 0, 1, &entry_bytes(b"x", b"100")));
    assert_eq!(&bytes[8..12], &1u32.to_le_bytes());
    assert_eq!(&bytes[16..24], &1u64.to_le_bytes());
    assert_eq!(&bytes[24..32], &12u64.to_le_bytes());
    assert_eq!(&bytes[32..36], &crc32fast::hash(&bytes[40..]).to_le_bytes());
    assert_eq!(&bytes[36..40], &crc32fast::hash(&bytes[..36]).to_le_bytes());
    assert_eq!(
        decode(&bytes).unwrap().sorted_entries(),
        table.sorted_entries()
    );
}

#[test]
#[should_panic(expected = "a version 1 file has no journal segment")]
fn seal_refuses_a_journal_segment_in_version_1() {
    seal(VERSION_1, 3, 0, &[]);
}

#[test]
fn encode_refuses_a_buffer_of_the_wrong_size() {
    let table = sample();
    let mut short = vec![0; encoded_len(&table) as usize - 1];
    assert_eq!(
        encode(&table, &mut short),
        Err(EncodeError {
            expected_len: encoded_len(&table),
            buffer_len: encoded_len(&table) - 1
        })
    );
}

#[test]
fn header_faults_are_named_with_their_offset() {
    let good = encode_to_vec(&sample());
    for len in [0, 11] {
        assert_eq!(
            fault(&good[..len]),
            DecodeError {
                offset: len as u64,
                fault: Fault::TooShort {
                    len,
                    header_len: 48
                }
            }
        );
    }
    assert_eq!(
        fault(&good[..47]),
        DecodeError {
            offset: 47,
            fault: Fault::TooShort {
                len: 47,
                header_len: 48
            }
        }
    );
    let mut bad_magic = good.clone();
    bad_magic[1] = b's';
    assert_eq!(
        fault(&bad_magic),
        DecodeError {
            offset: 0,
            fault: Fault::BadMagic
        }
    );
    for changed in [20, 33] {
        let mut bad_header = good.clone();
        bad_header[changed] ^= 1;
        let computed = crc32fast::hash(&bad_header[..44]);
        assert_eq!(
            fault(&bad_header),
            DecodeError {
                offset: 44,
                fault: Fault::HeaderChecksum {
                    stored: LittleEndian::read_u32(&good[44..]),
                    computed
                }
            }
        );
    }
    assert_eq!(
        fault(&resealed(&good, 44, |b| b[8] = 3)),
        DecodeError {
            offset: 8,
            fault: Fault::UnsupportedVersion(3)
        }
    );
    assert_eq!(
        fault(&resealed(&good, 44, |b| b[15] = 0x80)),
        DecodeError {
            offset: 12,
            fault: Fault::UnsupportedFlags(0x8000_0000)
        }
    );
}

#[test]
fn version_1_header_faults_are_named_with_their_offset() {
    let good = encode_v1(&sample());
    assert_eq!(
        fault(&good[..39]),
        DecodeError {
            offset: 39,
            fault: Fault::TooShort {
                len: 39,
                header_len: 40
            }
        }
    );
    let mut bad_header = good.clone();
    bad_header[20] ^= 1;
    let computed = crc32fast::hash(&bad_header[..36]);
    assert_eq!(
        fault(&bad_header),
        DecodeError {
            offset: 36,
            fault: Fault::HeaderChecksum {
                stored: LittleEndian::read_u32(&good[36..]),
                computed
            }
        }
    );
    assert_eq!(
        fault(&resealed(&good, 36, |b| b[8] = 3)),
        DecodeError {
            offset: 8,
            fault: Fault::UnsupportedVersion(3)
        }
    );
    assert_eq!(
        fault(&resealed(&good, 36, |b| b[15] = 0x80)),
        DecodeError {
            offset: 12,
            fault: Fault::UnsupportedFlags(0x8000_0000)
        }
    );
    // Relabelled version 2, its header is read with version 2's checksum, which fails.
    let relabelled = resealed(&good, 36, |b| b[8] = 2);
    assert_eq!(
        fault(&relabelled),
        DecodeError {
            offset: 44,
            fault: Fault::HeaderChecksum {
                stored: LittleEndian::read_u32(&relabelled[44..]),
                computed: crc32fast::hash(&relabelled[..44])
            }
        }
    );
}

#[test]
fn payload_faults_are_named_with_their_offset() {
    for (good, header_len, payload_crc) in [
        (encode_to_vec(&sample()), 48, 40),
        (encode_v1(&sample()), 40, 32),
    ] {
        let payload_len = (good.len() - header_len) as u64;
        assert_eq!(
            fault(&good[..good.len() - 1]),
            DecodeError {
                offset: good.len() as u64 - 1,
                fault: Fault::Truncated {
                    declared: payload_len,
                    present: payload_len - 1
                }
            }
        );
        let mut trailing = good.clone();
        trailing.push(0);
        assert_eq!(
            fault(&trailing),
            DecodeError {
                offset: good.len() as u64,
                fault: Fault::TrailingBytes {
                    declared: payload_len,
                    present: payload_len + 1
                }
            }
        );
        let mut flipped = good.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 0x10;
        let computed = crc32fast::hash(&flipped[header_len..]);
        assert_eq!(
            fault(&flipped),
            DecodeError {
                offset: header_len as u64,
                fault: Fault::PayloadChecksum {
                    stored: LittleEndian::read_u32(&good[payload_crc..]),
                    computed
                }
            }
        );
    }
}

#[test]
fn every_single_bit_flip_is_caught() {
    for good in [encode_to_vec_with(&sample(), 5), encode_v1(&sample())] {
        for offset in 0..good.len() {
            for bit in 0..8 {
                let mut bytes = good.clone();
                bytes[offset] ^= 1 << bit;
                assert!(
                    decode(&bytes).is_err(),
                    "flip of bit {bit} at {offset} went unseen"
                );
            }
        }
    }
}

#[test]
fn entry_faults_behind_valid_checksums() {
    // The entry decoder is the same behind either header: only the offsets move.
    for (version, header_len) in [(VERSION_1, 40), (VERSION, 48)] {
        let sealed = |count, payload: &[u8]| seal(version, 0, count, payload);
        let at = |offset: u64| offset - 40 + header_len;
        let one = entry_bytes(b"k", b"v");
        assert_eq!(
            fault(&sealed(2, &one)),
            DecodeError {
                offset: at(50),
                fault: Fault::CountMismatch {
                    declared: 2,
                    found: 1
                }
            }
        );
        assert_eq!(
            fault(&sealed(1, &one[..5])),
            DecodeError {
                offset: at(40),
                fault: Fault::EntryOverrun { needed: 8, left: 5 }
            }
        );
        let mut long_key = one.clone();
        long_key[0..4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(
            fault(&sealed(1, &long_key)),
            DecodeError {
                offset: at(40),
                fault: Fault::EntryOverrun {
                    needed: 8 + u32::MAX as u64 + 1,
                    left: 10
                }
            }
        );
        let twice = [one.clone(), one.clone()].concat();
        assert_eq!(
            fault(&sealed(2, &twice)),
            DecodeError {
                offset: at(50),
                fault: Fault::DuplicateKey
            }
        );
        assert_eq!(
            fault(&sealed(0, &one)),
            DecodeError {
                offset: at(40),
                fault: Fault::PayloadTrailing { left: 10 }
            }
        );
        // A huge declared count neither allocates for it nor decodes.
        assert_eq!(
            fault(&sealed(u64::MAX, &one)),
            DecodeError {
                offset: at(50),
                fault: Fault::CountMismatch {
                    declared: u64::MAX,
                    found: 1
                }
            }
        );
    }
}

#[test]
fn errors_read_as_sentences() {
    let error = DecodeError {
        offset: 40,
        fault: Fault::PayloadChecksum {
            stored: 0x1a2b3c4d,
            computed: 0xdeadbeef,
        },
    };
    assert_eq!(
        error.to_string(),
        "checksum mismatch at offset 40: stored 0x1a2b3c4d, computed 0xdeadbeef"
    );
    let error = DecodeError {
        offset: 90,
        fault: Fault::DuplicateKey,
    };
    assert_eq!(error.to_string(), "duplicate key at offset 90");
    assert_eq!(
        fault(&encode_to_vec(&sample())[..30]).to_string(),
        "file too short for a header at offset 30: 30 of 48 bytes"
    );
    assert_eq!(
        fault(&resealed(&encode_to_vec(&sample()), 44, |b| b[8] = 9)).to_string(),
        "unsupported format version at offset 8: 9, this build reads versions 1 and 2"
    );
}

//! The journal format's unit tests: the layout pinned to the bytes and to the tables at the
//! top of `format.rs`, records, and how a scan tells good frames, torn tails and corruption.

use super::*;
use crate::persist::layout_doc::documented_fields;

/// A body holding `records`, made with the builders.
fn body_of(records: &[Record<'_>]) -> Vec<u8> {
    let mut body = Vec::new();
    for record in records {
        match *record {
            Record::Put { key, value } => put_record(&mut body, key, value),
            Record::Delete { key } => delete_record(&mut body, key),
            Record::Clear => clear_record(&mut body),
        }
    }
    body
}

/// Segment `number` whose frames, from `first_frame` on, hold `frames`.
fn segment(number: u64, first_frame: u64, frames: &[&[Record<'_>]]) -> Vec<u8> {
    let mut bytes = encode_segment_header(&SegmentHeader {
        segment: number,
        first_frame,
    })
    .to_vec();
    for (index, records) in frames.iter().enumerate() {
        let seq = first_frame + index as u64;
        encode_frame(&mut bytes, seq, records.len() as u32, &body_of(records));
    }
    bytes
}

const PUT_A: Record<'static> = Record::Put {
    key: b"a",
    value: b"1",
};
const PUT_B: Record<'static> = Record::Put {
    key: b"b",
    value: b"22",
};
const DEL_A: Record<'static> = Record::Delete { key: b"a" };

/// Four frames from frame 5 on: 40 + (24 + 11) + (24 + 23) + (24 + 1) + (24 + 6) bytes.
fn four_frames() -> Vec<u8> {
    segment(
        2,
        5,
        &[&[PUT_A], &[PUT_B, PUT_A], &[Record::Clear], &[DEL_A]],
    )
}

/// Where each frame of [`four_frames`] starts, and the segment's length.
const FOUR_FRAME_STARTS: [usize; 5] = [40, 75, 122, 147, 177];

fn seqs(scan: &Scan<'_>) -> Vec<u64> {
    scan.frames.iter().map(|frame| frame.seq).collect()
}

/// `bytes` with its header edited and its header checksum recomputed.
fn resealed(bytes: &[u8], edit: impl Fn(&mut [u8])) -> Vec<u8> {
    let mut bytes = bytes.to_vec();
    edit(&mut bytes);
    let crc = crc32fast::hash(&bytes[..HEADER_CRC_OFFSET]);
    bytes[HEADER_CRC_OFFSET..SEGMENT_HEADER_LEN].copy_from_slice(&crc.to_le_bytes());
    bytes
}

#[test]
fn the_documented_tables_are_the_layout() {
    let source = include_str!("../format.rs");
    assert_eq!(
        documented_fields(source),
        [
            (MAGIC_OFFSET, MAGIC.len(), "MAGIC"),
            (VERSION_OFFSET, 4, "VERSION"),
            (FLAGS_OFFSET, 4, "FLAGS"),
            (SEGMENT_OFFSET, 8, "SEGMENT"),
            (FIRST_FRAME_OFFSET, 8, "FIRST_FRAME"),
            (RESERVED_OFFSET, 4, "RESERVED"),
            (HEADER_CRC_OFFSET, 4, "HEADER_CRC"),
            (SEGMENT_HEADER_LEN, 0, "frames"),
            (BODY_LEN_OFFSET, 8, "BODY_LEN"),
            (FRAME_CRC_OFFSET, 4, "FRAME_CRC"),
            (RECORD_COUNT_OFFSET, 4, "RECORD_COUNT"),
            (FRAME_SEQ_OFFSET, 8, "FRAME_SEQ"),
            (FRAME_HEADER_LEN, 0, "body"),
        ]
    );
    let tags: Vec<(String, &str)> = source
        .lines()
        .filter_map(|line| line.strip_prefix("//!"))
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let tag = words.next()?.strip_prefix("0x")?;
            Some((tag.to_owned(), words.next()?))
        })
        .collect();
    let expected = [(PUT, "PUT"), (DELETE, "DEL"), (CLEAR, "CLEAR")]
        .map(|(tag, name)| (format!("{tag:02X}"), name));
    assert_eq!(tags, expected);
    assert_eq!(&MAGIC, b"\x89\x53\x4a\x4c\x0d\x0a\x1a\x0a");
    assert_eq!((SEGMENT_HEADER_LEN, FRAME_HEADER_LEN), (40, 24));
}

#[test]
fn segment_file_names_are_sixteen_digits_and_parse_back_exactly() {
    assert_eq!(segment_file_name(3), "0000000000000003.sjl");
    assert_eq!(segment_file_name(1234567890123456), "1234567890123456.sjl");
    for segment in [
        0,
        1,
        3,
        9_999_999_999_999_999,
        10_000_000_000_000_000,
        u64::MAX,
    ] {
        assert_eq!(
            parse_segment_file_name(&segment_file_name(segment)),
            Some(segment)
        );
    }
    for name in [
        "3.sjl",
        "000000000000003.sjl",
        "00000000000000003.sjl",
        "0000000000000003",
        "0000000000000003.sjl.bak-1700000000",
        "0000000000000003.SJL",
        "000000000000000a.sjl",
        "+000000000000003.sjl",
        " 000000000000003.sjl",
        "99999999999999999999.sjl",
        ".sjl",
        "",
    ] {
        assert_eq!(parse_segment_file_name(name), None, "{name:?}");
    }
}

#[test]
fn the_segment_header_is_the_documented_one() {
    let header = encode_segment_header(&SegmentHeader {
        segment: 3,
        first_frame: 0x0102_0304_0506_0708,
    });
    assert_eq!(&header[0..8], b"\x89SJL\r\n\x1a\n");
    assert_eq!(&header[8..12], &[1, 0, 0, 0]);
    assert_eq!(&header[12..16], &[0, 0, 0, 0]);
    assert_eq!(&header[16..24], &[3, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(&header[24..32], &[8, 7, 6, 5, 4, 3, 2, 1]);
    assert_eq!(&header[32..36], &[0, 0, 0, 0]);
    assert_eq!(
        &header[36..40],
        &crc32fast::hash(&header[..36]).to_le_bytes()
    );
}

#[test]
fn records_are_the_documented_bytes() {
    let mut body = Vec::new();
    put_record(&mut body, b"k", b"vv");
    assert_eq!(body, [1, 1, 0, 0, 0, 2, 0, 0, 0, b'k', b'v', b'v']);
    body.clear();
    delete_record(&mut body, b"key");
    assert_eq!(body, [2, 3, 0, 0, 0, b'k', b'e', b'y']);
    body.clear();
    clear_record(&mut body);
    assert_eq!(body, [3]);
}

#[test]
fn a_frame_is_the_documented_bytes() {
    let body = body_of(&[PUT_A]);
    let mut frame = Vec::new();
    encode_frame(&mut frame, 0x0a0b, 1, &body);
    assert_eq!(frame.len(), 24 + 11);
    assert_eq!(&frame[0..8], &11u64.to_le_bytes());
    assert_eq!(&frame[12..16], &1u32.to_le_bytes());
    assert_eq!(&frame[16..24], &0x0a0bu64.to_le_bytes());
    assert_eq!(&frame[24..], &body);
    let covered = [&frame[0..8], &frame[12..]].concat();
    assert_eq!(&frame[8..12], &crc32fast::hash(&covered).to_le_bytes());
    // encode_frame appends.
    encode_frame(&mut frame, 0x0a0c, 0, &[]);
    assert_eq!(frame.len(), 35 + 24);
}

#[test]
fn records_decode_to_what_was_built_and_apply_as_effects() {
    let big = vec![0xab; 70_000];
    let written = [
        Record::Put {
            key: b"",
            value: b"",
        },
        Record::Put {
            key: b"\x00\xff",
            value: &big,
        },
        PUT_A,
        PUT_A,
        DEL_A,
        Record::Delete { key: b"missing" },
        Record::Clear,
        PUT_B,
        Record::Put {
            key: b"b",
            value: b"updated",
        },
    ];
    let body = body_of(&written);
    assert_eq!(records(&body, written.len() as u32).unwrap(), written);
    let mut table = Table::new();
    table.insert_new(b"old", b"gone after CLEAR");
    apply(&mut table, &written[..6]);
    assert_eq!(table.len(), 3);
    assert_eq!(table.get(b"\x00\xff"), Some(&big[..]));
    assert_eq!(table.get(b"a"), None);
    apply(&mut table, &written[6..]);
    assert_eq!(table.len(), 1);
    assert_eq!(table.get(b"b"), Some(&b"updated"[..]));
    assert_eq!(records(&[], 0).unwrap(), []);
}

#[test]
fn record_faults_are_named_with_their_offset_in_the_body() {
    let two = body_of(&[PUT_A, DEL_A]);
    assert_eq!(
        records(&two, 3),
        Err((
            17,
            Fault::RecordCountMismatch {
                declared: 3,
                found: 2
            }
        ))
    );
    assert_eq!(
        records(&two, 1),
        Err((11, Fault::RecordTrailing { left: 6 }))
    );
    assert_eq!(
        records(&two[..5], 1),
        Err((0, Fault::RecordOverrun { needed: 9, left: 5 }))
    );
    assert_eq!(
        records(&two[..16], 2),
        Err((11, Fault::RecordOverrun { needed: 6, left: 5 }))
    );
    assert_eq!(
        records(&two[..13], 2),
        Err((11, Fault::RecordOverrun { needed: 5, left: 2 }))
    );
    let mut long_key = two.clone();
    long_key[1..5].copy_from_slice(&u32::MAX.to_le_bytes());
    assert_eq!(
        records(&long_key, 2),
        Err((
            0,
            Fault::RecordOverrun {
                needed: 9 + u64::from(u32::MAX) + 1,
                left: 17
            }
        ))
    );
    assert_eq!(records(&[7, 0], 1), Err((0, Fault::UnknownRecord(7))));
    assert_eq!(records(&[0], 1), Err((0, Fault::UnknownRecord(0))));
    // A huge declared count neither allocates for it nor decodes.
    assert_eq!(
        records(&[CLEAR], u32::MAX),
        Err((
            1,
            Fault::RecordCountMismatch {
                declared: u32::MAX,
                found: 1
            }
        ))
    );
}

#[test]
fn a_good_segment_scans_clean() {
    let bytes = four_frames();
    assert_eq!(bytes.len(), FOUR_FRAME_STARTS[4]);
    let scan = scan_segment(&bytes);
    assert_eq!(
        scan.header,
        Ok(SegmentHeader {
            segment: 2,
            first_frame: 5
        })
    );
    assert_eq!(scan.end, ScanEnd::Clean);
    assert_eq!(seqs(&scan), [5, 6, 7, 8]);
    let offsets: Vec<u64> = scan.frames.iter().map(|frame| frame.offset).collect();
    assert_eq!(offsets, [40, 75, 122, 147]);
    assert_eq!(scan.frames[1].records().unwrap(), [PUT_B, PUT_A]);
    assert_eq!(scan.frames[1].encoded_len(), 47);
    let header_only = segment(9, 100, &[]);
    let scan = scan_segment(&header_only);
    assert_eq!((scan.frames.len(), scan.end), (0, ScanEnd::Clean));
}

#[test]
fn header_faults_are_corrupt_at_the_field_they_concern() {
    let good = four_frames();
    let cases: Vec<(Vec<u8>, u64, Fault)> = vec![
        (good[..39].to_vec(), 39, Fault::TooShort { len: 39 }),
        (Vec::new(), 0, Fault::TooShort { len: 0 }),
        ([&b"\x89STR"[..], &good[4..]].concat(), 0, Fault::BadMagic),
        (
            resealed(&good, |b| b[8] = 2),
            8,
            Fault::UnsupportedVersion(2),
        ),
        (
            resealed(&good, |b| b[12] = 1),
            12,
            Fault::UnsupportedFlags(1),
        ),
        (
            resealed(&good, |b| b[35] = 0x80),
            32,
            Fault::ReservedNotZero(0x8000_0000),
        ),
        (
            {
                let mut bytes = good.clone();
                bytes[20] ^= 1;
                bytes
            },
            36,
            Fault::HeaderChecksum {
                stored: LittleEndian::read_u32(&good[36..]),
                computed: {
                    let mut header = good[..36].to_vec();
                    header[20] ^= 1;
                    crc32fast::hash(&header)
                },
            },
        ),
    ];
    for (bytes, offset, fault) in cases {
        let scan = scan_segment(&bytes);
        assert_eq!(scan.header, Err(fault.clone()));
        assert!(scan.frames.is_empty());
        assert_eq!(scan.end, ScanEnd::Corrupt { offset, fault });
    }
}

#[test]
fn a_segment_cut_anywhere_in_its_last_two_frames_is_a_torn_prefix() {
    let good = four_frames();
    for cut in FOUR_FRAME_STARTS[2] + 1..good.len() {
        let scan = scan_segment(&good[..cut]);
        let (kept, start) = if cut < FOUR_FRAME_STARTS[3] {
            (vec![5, 6], FOUR_FRAME_STARTS[2])
        } else {
            (vec![5, 6, 7], FOUR_FRAME_STARTS[3])
        };
        assert_eq!(seqs(&scan), kept, "cut at {cut}");
        let torn = if cut == FOUR_FRAME_STARTS[3] {
            ScanEnd::Clean
        } else {
            ScanEnd::Torn {
                offset: start as u64,
                dropped: (cut - start) as u64,
            }
        };
        assert_eq!(scan.end, torn, "cut at {cut}");
    }
}

#[test]
fn zeros_garbage_or_a_stale_frame_after_the_last_frame_are_a_torn_tail() {
    let good = four_frames();
    let mut stale = Vec::new();
    encode_frame(&mut stale, 6, 1, &body_of(&[PUT_A]));
    // Behind a torn frame, only sequence numbers that could have been written in the room
    // left are looked for.
    let far_ahead = {
        let mut frame = vec![0xee; 10];
        encode_frame(&mut frame, 9 + 100, 0, &[]);
        frame
    };
    for (what, tail) in [
        ("zeros", vec![0; 4096]),
        ("one zero", vec![0]),
        ("garbage", (0..=255u8).cycle().take(1000).collect()),
        ("a stale frame", stale),
        ("a frame too far ahead to fit", far_ahead),
    ] {
        let bytes = [&good[..], &tail].concat();
        let scan = scan_segment(&bytes);
        assert_eq!(seqs(&scan), [5, 6, 7, 8], "{what}");
        assert_eq!(
            scan.end,
            ScanEnd::Torn {
                offset: good.len() as u64,
                dropped: tail.len() as u64
            },
            "{what}"
        );
    }
}

#[test]
fn a_bad_frame_followed_by_a_valid_one_is_corrupt() {
    let good = four_frames();
    let second = FOUR_FRAME_STARTS[1];
    let mut flipped = good.clone();
    flipped[second + 30] ^= 0x20;
    let scan = scan_segment(&flipped);
    assert_eq!(seqs(&scan), [5]);
    let ScanEnd::Corrupt { offset, fault } = scan.end else {
        panic!("{:?}", scan.end);
    };
    assert_eq!(offset, second as u64);
    assert!(matches!(fault, Fault::FrameChecksum { .. }), "{fault:?}");

    let mut long_body = good.clone();
    long_body[second + 2] = 1;
    assert_eq!(
        scan_segment(&long_body).end,
        ScanEnd::Corrupt {
            offset: second as u64,
            fault: Fault::BodyOverrun {
                declared: 23 + 0x1_0000,
                left: (good.len() - second - 24) as u64
            }
        }
    );

    // Frame 7 missing: 8 follows 6.
    let gap = [&good[..FOUR_FRAME_STARTS[2]], &good[FOUR_FRAME_STARTS[3]..]].concat();
    assert_eq!(
        scan_segment(&gap).end,
        ScanEnd::Corrupt {
            offset: FOUR_FRAME_STARTS[2] as u64,
            fault: Fault::FrameSequence {
                expected: 7,
                found: 8
            }
        }
    );
}

#[test]
fn a_frame_with_a_valid_checksum_and_bad_records_is_corrupt_at_the_record() {
    let mut bytes = segment(1, 1, &[&[PUT_A]]);
    encode_frame(
        &mut bytes,
        2,
        2,
        &body_of(&[PUT_A, Record::Clear, Record::Clear]),
    );
    let at = 40 + 35 + 24 + 12;
    assert_eq!(
        scan_segment(&bytes).end,
        ScanEnd::Corrupt {
            offset: at,
            fault: Fault::RecordTrailing { left: 1 }
        }
    );
    let mut unknown = segment(1, 1, &[]);
    encode_frame(&mut unknown, 1, 1, &[9]);
    assert_eq!(
        scan_segment(&unknown).end,
        ScanEnd::Corrupt {
            offset: 64,
            fault: Fault::UnknownRecord(9)
        }
    );
}

#[test]
fn sequence_numbers_do_not_wrap() {
    let mut bytes = segment(1, u64::MAX, &[]);
    encode_frame(&mut bytes, u64::MAX, 1, &body_of(&[PUT_A]));
    let last = bytes.len();
    encode_frame(&mut bytes, 0, 0, &[]);
    let scan = scan_segment(&bytes);
    assert_eq!(seqs(&scan), [u64::MAX]);
    assert_eq!(
        scan.end,
        ScanEnd::Torn {
            offset: last as u64,
            dropped: 24
        }
    );
}

#[test]
fn errors_read_as_sentences() {
    let error = DecodeError {
        offset: 1234,
        fault: Fault::FrameChecksum {
            stored: 0x1a2b3c4d,
            computed: 0xdeadbeef,
        },
    };
    assert_eq!(
        error.to_string(),
        "checksum mismatch at offset 1234: stored 0x1a2b3c4d, computed 0xdeadbeef"
    );
    let error = DecodeError {
        offset: 75,
        fault: Fault::FrameSequence {
            expected: 7,
            found: 8,
        },
    };
    assert_eq!(
        error.to_string(),
        "frame out of sequence at offset 75: expected frame 7, found 8"
    );
    let error = DecodeError {
        offset: 12,
        fault: Fault::TooShort { len: 12 },
    };
    assert_eq!(
        error.to_string(),
        "segment too short for a header at offset 12: 12 of 40 bytes"
    );
}

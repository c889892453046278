//! The journal targets' seeds: segments made with the format's builders (good ones, torn ones,
//! corrupt ones and bad headers) for `journal_decode`, and frame bodies for
//! `journal_decode_sealed`.

use stratus::persist::journal::format::{
    self as journal, Record, ScanEnd, SegmentHeader, FLAGS_OFFSET, FRAME_HEADER_LEN,
    HEADER_CRC_OFFSET, RESERVED_OFFSET, SEGMENT_HEADER_LEN, VERSION_OFFSET,
};

use super::Seed;

/// The records as a frame body, made with the builders.
fn body_of(records: &[Record<'_>]) -> Vec<u8> {
    let mut body = Vec::new();
    for record in records {
        match *record {
            Record::Put { key, value } => journal::put_record(&mut body, key, value),
            Record::Delete { key } => journal::delete_record(&mut body, key),
            Record::Clear => journal::clear_record(&mut body),
        }
    }
    body
}

/// Segment `number` with one frame per entry of `frames`, from frame `first_frame` on.
fn segment(number: u64, first_frame: u64, frames: &[&[Record<'_>]]) -> Vec<u8> {
    let header = SegmentHeader {
        segment: number,
        first_frame,
    };
    let mut bytes = journal::encode_segment_header(&header).to_vec();
    for (index, records) in frames.iter().enumerate() {
        let seq = first_frame + index as u64;
        journal::encode_frame(&mut bytes, seq, records.len() as u32, &body_of(records));
    }
    bytes
}

fn put<'a>(key: &'a [u8], value: &'a [u8]) -> Record<'a> {
    Record::Put { key, value }
}

/// Six frames holding every kind of record: two PUTs, a DEL, a CLEAR, an empty key and value,
/// binary bytes, and a frame of no records.
fn every_record() -> Vec<u8> {
    segment(
        1,
        1,
        &[
            &[put(b"a", b"1"), put(b"b", b"22")],
            &[Record::Delete { key: b"a" }],
            &[Record::Clear],
            &[put(b"", b"")],
            &[put(b"\x00\xff", b"\xfe\r\n")],
            &[],
        ],
    )
}

/// Where each frame of a good segment starts.
fn frame_starts(bytes: &[u8]) -> Vec<usize> {
    journal::scan_segment(bytes)
        .frames
        .iter()
        .map(|frame| frame.offset as usize)
        .collect()
}

/// `bytes` with its header edited and its header checksum recomputed.
fn resealed(bytes: &[u8], edit: impl Fn(&mut [u8])) -> Vec<u8> {
    let mut bytes = bytes.to_vec();
    edit(&mut bytes);
    let crc = crc32fast::hash(&bytes[..HEADER_CRC_OFFSET]);
    bytes[HEADER_CRC_OFFSET..SEGMENT_HEADER_LEN].copy_from_slice(&crc.to_le_bytes());
    bytes
}

pub fn journal_decode_seeds() -> Vec<Seed> {
    let good = every_record();
    let starts = frame_starts(&good);
    let last = good.len();
    let big_value: Vec<u8> = (0..64 * 1024).map(|i| (i % 251) as u8).collect();
    let keys: Vec<String> = (0..200).map(|i| format!("key:{i}")).collect();
    let many: Vec<[Record<'_>; 1]> = keys.iter().map(|key| [put(key.as_bytes(), b"v")]).collect();
    let many: Vec<&[Record<'_>]> = many.iter().map(|frame| &frame[..]).collect();
    let with = |tail: &[u8]| [&good[..], tail].concat();
    let mut stale = Vec::new();
    journal::encode_frame(&mut stale, 2, 1, &body_of(&[Record::Clear]));
    let mut flipped = good.clone();
    flipped[starts[1] + FRAME_HEADER_LEN + 2] ^= 0x40;
    let mut long_body = good.clone();
    long_body[starts[1] + 1] = 1;
    let gap = [&good[..starts[2]], &good[starts[3]..]].concat();
    let mut bad_records = segment(1, 1, &[&[put(b"a", b"1")]]);
    journal::encode_frame(&mut bad_records, 2, 2, &body_of(&[Record::Clear]));
    journal::encode_frame(&mut bad_records, 3, 1, &body_of(&[Record::Clear]));
    let mut exhausted = segment(1, u64::MAX, &[]);
    journal::encode_frame(&mut exhausted, u64::MAX, 1, &body_of(&[Record::Clear]));
    journal::encode_frame(&mut exhausted, 0, 0, &[]);
    [
        ("good-header-only", segment(1, 1, &[])),
        ("good-one-put", segment(1, 1, &[&[put(b"x", b"100")]])),
        ("good-every-record", good.clone()),
        (
            "good-later-segment",
            segment(7, 1000, &[&[put(b"k", b"1")], &[put(b"k", b"2")], &[]]),
        ),
        (
            "good-value-64-kib",
            segment(1, 1, &[&[put(b"big", &big_value)]]),
        ),
        ("good-200-frames", segment(2, 50, &many)),
        ("torn-cut-in-frame-header", good[..starts[5] + 10].to_vec()),
        ("torn-cut-in-body", good[..starts[4] + 30].to_vec()),
        ("torn-cut-one-byte-short", good[..last - 1].to_vec()),
        ("torn-zeros-appended", with(&[0; 4096])),
        (
            "torn-garbage-appended",
            with(&(0..=255u8).rev().cycle().take(700).collect::<Vec<u8>>()),
        ),
        ("torn-stale-frame-appended", with(&stale)),
        ("corrupt-flipped-byte-mid-segment", flipped),
        ("corrupt-body-length-changed", long_body),
        ("corrupt-gap-in-sequence", gap),
        ("corrupt-bad-records-behind-checksum", bad_records),
        ("sequence-u64-max-then-more", exhausted),
        ("header-cut-short", good[..SEGMENT_HEADER_LEN - 1].to_vec()),
        ("header-zeros", vec![0; SEGMENT_HEADER_LEN]),
        ("header-bad-magic", {
            let mut bytes = good.clone();
            bytes[2] = b'T';
            bytes
        }),
        ("header-checksum", {
            let mut bytes = good.clone();
            bytes[20] ^= 1;
            bytes
        }),
        (
            "header-version-2-resealed",
            resealed(&good, |b| b[VERSION_OFFSET] = 2),
        ),
        (
            "header-flags-resealed",
            resealed(&good, |b| b[FLAGS_OFFSET + 3] = 0x80),
        ),
        (
            "header-reserved-resealed",
            resealed(&good, |b| b[RESERVED_OFFSET] = 1),
        ),
        ("empty-file", Vec::new()),
    ]
    .map(|(name, bytes)| {
        assert_scans_as_named(name, &bytes);
        (name.to_owned(), bytes)
    })
    .to_vec()
}

/// A seed named `good-…` scans clean, `torn-…` torn, `corrupt-…` corrupt, `header-…` with a bad
/// header: the names say what each seed is, and stay true.
fn assert_scans_as_named(name: &str, bytes: &[u8]) {
    let scan = journal::scan_segment(bytes);
    let kind = match (&scan.header, &scan.end) {
        (Err(_), _) => "header",
        (Ok(_), ScanEnd::Clean) => "good",
        (Ok(_), ScanEnd::Torn { .. }) => "torn",
        (Ok(_), ScanEnd::Corrupt { .. }) => "corrupt",
    };
    let named = name.split('-').next().unwrap_or_default();
    let expected = match named {
        "sequence" => "torn",
        "empty" => "header",
        named => named,
    };
    assert_eq!(kind, expected, "the seed {name} scans as {:?}", scan.end);
}

/// The sealed target's input: a big-endian u16 that chooses the record count, then a body.
fn sealed_input(count_selector: u16, body: &[u8]) -> Vec<u8> {
    let mut input = count_selector.to_be_bytes().to_vec();
    input.extend_from_slice(body);
    input
}

pub fn journal_decode_sealed_seeds() -> Vec<Seed> {
    let one_put = body_of(&[put(b"k", b"v")]);
    let every = [
        put(b"a", b"1"),
        put(b"", b""),
        Record::Delete { key: b"a" },
        Record::Clear,
        put(b"\x00\xff", b"\n"),
    ];
    let every_body = body_of(&every);
    let big_value: Vec<u8> = (0..64 * 1024).map(|i| (i % 251) as u8).collect();
    let mut long_key = one_put.clone();
    long_key[1..5].copy_from_slice(&u32::MAX.to_le_bytes());
    let mut long_value = one_put.clone();
    long_value[5..9].copy_from_slice(&(u32::MAX - 1).to_le_bytes());
    let mut long_delete = body_of(&[Record::Delete { key: b"k" }]);
    long_delete[1..5].copy_from_slice(&u32::MAX.to_le_bytes());
    [
        ("put", sealed_input(1, &one_put)),
        (
            "delete",
            sealed_input(1, &body_of(&[Record::Delete { key: b"k" }])),
        ),
        ("clear", sealed_input(1, &body_of(&[Record::Clear]))),
        ("every-record", sealed_input(5, &every_body)),
        ("no-records", sealed_input(0, &[])),
        (
            "put-value-64-kib",
            sealed_input(1, &body_of(&[put(b"big", &big_value)])),
        ),
        ("count-one-more-than-records", sealed_input(6, &every_body)),
        ("count-one-less-than-records", sealed_input(4, &every_body)),
        ("count-u32-max", sealed_input(0xffff, &every_body)),
        ("put-cut-in-lengths", sealed_input(1, &one_put[..6])),
        ("put-cut-in-value", sealed_input(1, &one_put[..10])),
        ("put-key-length-u32-max", sealed_input(1, &long_key)),
        ("put-value-length-u32-max", sealed_input(1, &long_value)),
        ("delete-key-length-u32-max", sealed_input(1, &long_delete)),
        ("unknown-record-type", sealed_input(1, &[0x04, 0, 0, 0, 0])),
        ("zero-record-type", sealed_input(1, &[0x00])),
        ("count-only", vec![0x00]),
    ]
    .map(|(name, bytes)| (name.to_owned(), bytes))
    .to_vec()
}

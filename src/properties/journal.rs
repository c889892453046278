//! The journal's fuzz properties: a segment scan on arbitrary bytes, and on one frame sealed
//! with a valid checksum so the record decoder is reached; and what either may allocate.

use std::mem::size_of;

use crate::persist::journal::format::{
    self as journal, Fault, Frame, Record, Scan, ScanEnd, SegmentHeader, FRAME_HEADER_LEN,
    SEGMENT_HEADER_LEN,
};

/// Everything a scan says about `bytes` agrees with them: a good header is the bytes it was
/// read from; good frames follow one another from the header on, in sequence, each encoding
/// again to its own bytes, its records rebuilt with the builders giving its body; and the end
/// accounts for every byte after the last good frame.
fn assert_scan_agrees(bytes: &[u8], scan: &Scan<'_>) {
    let header = match &scan.header {
        Ok(header) => header,
        Err(fault) => {
            assert!(scan.frames.is_empty(), "frames behind a bad header");
            assert!(
                matches!(&scan.end, ScanEnd::Corrupt { fault: end, .. } if end == fault),
                "a bad header does not end the scan: {:?}",
                scan.end
            );
            return;
        }
    };
    assert_eq!(
        journal::encode_segment_header(header)[..],
        bytes[..SEGMENT_HEADER_LEN],
        "the header does not encode to its bytes"
    );
    let mut at = SEGMENT_HEADER_LEN as u64;
    let mut expected = header.first_frame;
    for frame in &scan.frames {
        assert_eq!(frame.offset, at, "a gap between good frames");
        assert_eq!(frame.seq, expected, "a good frame out of sequence");
        assert_frame_agrees(bytes, frame);
        at += frame.encoded_len();
        expected = expected.wrapping_add(1);
    }
    let len = bytes.len() as u64;
    match scan.end {
        ScanEnd::Clean => assert_eq!(at, len, "a clean end before the end"),
        ScanEnd::Torn { offset, dropped } => {
            assert_eq!(offset, at, "a torn tail after a gap");
            assert!(
                dropped > 0 && offset + dropped == len,
                "torn {dropped} of {len}"
            );
        }
        ScanEnd::Corrupt { offset, .. } => {
            assert!((at..=len).contains(&offset), "corrupt at {offset} of {len}")
        }
    }
}

/// A good frame encodes to its bytes, and its records to its body.
fn assert_frame_agrees(bytes: &[u8], frame: &Frame<'_>) {
    let records = frame.records().expect("a good frame's records decode");
    assert_eq!(
        records.len(),
        frame.record_count as usize,
        "a good frame's record count"
    );
    let mut body = Vec::new();
    for record in &records {
        match *record {
            Record::Put { key, value } => journal::put_record(&mut body, key, value),
            Record::Delete { key } => journal::delete_record(&mut body, key),
            Record::Clear => journal::clear_record(&mut body),
        }
    }
    assert!(body == frame.body, "the records do not rebuild the body");
    drop(body);
    let mut encoded = Vec::new();
    journal::encode_frame(&mut encoded, frame.seq, frame.record_count, frame.body);
    let start = frame.offset as usize;
    assert!(
        encoded[..] == bytes[start..start + encoded.len()],
        "the frame at {start} does not encode to its bytes"
    );
}

/// `journal_decode`: arbitrary bytes as a journal segment: the scan never panics; a good header
/// and every good frame encode again to their own bytes, and a frame's records rebuild its
/// body; good frames follow one another in sequence, and the end accounts for every byte after
/// the last of them.
pub fn journal_decode(bytes: &[u8]) {
    assert_scan_agrees(bytes, &journal::scan_segment(bytes));
}

/// The segment [`journal_decode_sealed`] scans: a good header and one frame with a valid
/// checksum around `body`, claiming `record_count` records.
fn sealed_segment(record_count: u32, body: &[u8]) -> Vec<u8> {
    let mut segment = journal::encode_segment_header(&SegmentHeader {
        segment: 1,
        first_frame: 1,
    })
    .to_vec();
    journal::encode_frame(&mut segment, 1, record_count, body);
    segment
}

/// `journal_decode_sealed`: the input as the body of one frame with a valid checksum, so the
/// record decoder behind the checksum is exercised. The frame holds exactly its records, or it
/// is corrupt at a record (never torn: its checksum proves it was written whole). The first
/// two bytes, big-endian, choose the record count the frame claims (0xffff: `u32::MAX`).
pub fn journal_decode_sealed(bytes: &[u8]) {
    let (count, body) = match bytes {
        [high, low, body @ ..] => match u16::from_be_bytes([*high, *low]) {
            0xffff => (u32::MAX, body),
            selector => (u32::from(selector), body),
        },
        _ => (0, bytes),
    };
    let segment = sealed_segment(count, body);
    let scan = journal::scan_segment(&segment);
    assert_scan_agrees(&segment, &scan);
    match &scan.end {
        ScanEnd::Clean => assert_eq!(scan.frames.len(), 1, "the sealed frame was not read"),
        ScanEnd::Corrupt { offset, fault } => {
            assert!(
                *offset >= (SEGMENT_HEADER_LEN + FRAME_HEADER_LEN) as u64,
                "the sealed frame's header was refused: {fault:?} at {offset}"
            );
            assert!(
                matches!(
                    fault,
                    Fault::UnknownRecord(_)
                        | Fault::RecordOverrun { .. }
                        | Fault::RecordCountMismatch { .. }
                        | Fault::RecordTrailing { .. }
                ),
                "a sealed frame refused for {fault:?}"
            );
        }
        ScanEnd::Torn { .. } => panic!("a sealed frame taken for a torn write"),
    }
}

/// Bytes not proportional to the input: a few small vectors and their rounding.
const FIXED_BYTES: usize = 4096;

/// The most bytes [`journal_decode`] may hold allocated at once for an input of `input_len`
/// bytes. Every frame takes at least a frame header of input, and every record at least one
/// byte of it, so a decoder that trusts no declared count or length holds at most
/// `input_len / 24` frames (twice that while the vector grows) and `input_len` records of one
/// frame at a time; the property adds that frame's body rebuilt (twice its size while it
/// grows) and encoded again.
pub fn journal_decode_allocation_bound(input_len: usize) -> usize {
    let frames = 2 * (input_len / FRAME_HEADER_LEN + 1) * size_of::<Frame<'_>>();
    let records = input_len * size_of::<Record<'_>>();
    let rebuilt = 2 * input_len + FRAME_HEADER_LEN + input_len;
    frames + records + rebuilt + FIXED_BYTES
}

/// The most bytes [`journal_decode_sealed`] may hold for an input of `input_len` bytes: the
/// bound of scanning the sealed segment, plus that segment.
pub fn sealed_journal_decode_allocation_bound(input_len: usize) -> usize {
    let segment_len = SEGMENT_HEADER_LEN + FRAME_HEADER_LEN + input_len;
    journal_decode_allocation_bound(segment_len) + segment_len
}

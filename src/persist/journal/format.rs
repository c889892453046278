//! The journal's files: segment headers, frames and records, bytes to values and back, pure.
//! Segments are `journal/<SEGMENT, 16 decimal digits>.sjl`; each is a header, then frames.
//!
//! ```text
//! segment header
//! offset  size  field
//!      0     8  MAGIC          89 53 4A 4C 0D 0A 1A 0A   ("\x89SJL\r\n\x1a\n")
//!      8     4  VERSION        u32, 1
//!     12     4  FLAGS          u32, 0 (no flags are defined; any set bit is refused)
//!     16     8  SEGMENT        u64, the number in the file's name
//!     24     8  FIRST_FRAME    u64, FRAME_SEQ of the first frame it holds or will hold
//!     32     4  RESERVED       u32, 0 (anything else is refused)
//!     36     4  HEADER_CRC     u32, CRC-32 (IEEE, as zlib) of bytes 0..36
//!     40     …  frames         one after another, to the end of the file
//!
//! frame, one per group commit (offsets from its start)
//! offset  size  field
//!      0     8  BODY_LEN       u64, bytes of the body
//!      8     4  FRAME_CRC      u32, CRC-32 of bytes 0..8, 12..24 and the body: all but itself
//!     12     4  RECORD_COUNT   u32, records in the body
//!     16     8  FRAME_SEQ      u64, FIRST_FRAME for the first frame, then +1 per frame, across
//!                              segments
//!     24     …  body           RECORD_COUNT records, filling exactly BODY_LEN bytes
//!
//! record: a type byte, then its fields
//!   0x01 PUT    u32 key length, u32 value length, key bytes, value bytes
//!   0x02 DEL    u32 key length, key bytes
//!   0x03 CLEAR  nothing
//! ```
//!
//! All integers are little-endian. Records are effects (the key now holds this value, the key
//! is gone, the table is empty), not commands, so replay cannot diverge from what the server
//! did. A frame is the atomic unit: replay applies all of its records or none. The header CRC
//! is checked before any header field is trusted, a frame's CRC before its sequence number or
//! records; every length is checked against the bytes left before it is used, and nothing is
//! allocated from a declared size. [`scan_segment`] tells a torn tail (no valid frame after
//! the first bad one: what a crash mid-write leaves) from corruption (a valid frame after it).

use std::fmt;

use byteorder::{ByteOrder, LittleEndian};

use crate::table::Table;

/// The journal's directory inside the data directory.
pub const JOURNAL_DIR_NAME: &str = "journal";
pub const SEGMENT_EXTENSION: &str = ".sjl";
/// Digits of a segment's number in its file name, zero-padded.
pub const SEGMENT_NAME_DIGITS: usize = 16;

pub const MAGIC: [u8; 8] = *b"\x89SJL\r\n\x1a\n";
pub const VERSION: u32 = 1;

pub const MAGIC_OFFSET: usize = 0;
pub const VERSION_OFFSET: usize = MAGIC_OFFSET + MAGIC.len();
pub const FLAGS_OFFSET: usize = VERSION_OFFSET + 4;
pub const SEGMENT_OFFSET: usize = FLAGS_OFFSET + 4;
pub const FIRST_FRAME_OFFSET: usize = SEGMENT_OFFSET + 8;
pub const RESERVED_OFFSET: usize = FIRST_FRAME_OFFSET + 8;
pub const HEADER_CRC_OFFSET: usize = RESERVED_OFFSET + 4;
/// Bytes before the first frame.
pub const SEGMENT_HEADER_LEN: usize = HEADER_CRC_OFFSET + 4;

/// Offsets from a frame's start.
pub const BODY_LEN_OFFSET: usize = 0;
pub const FRAME_CRC_OFFSET: usize = BODY_LEN_OFFSET + 8;
pub const RECORD_COUNT_OFFSET: usize = FRAME_CRC_OFFSET + 4;
pub const FRAME_SEQ_OFFSET: usize = RECORD_COUNT_OFFSET + 4;
/// Bytes of a frame before its body.
pub const FRAME_HEADER_LEN: usize = FRAME_SEQ_OFFSET + 8;

pub use crate::table::{CLEAR, DELETE, PUT};
/// Bytes of a record's type, and of each of its lengths.
const TAG_LEN: usize = 1;
const LENGTH_LEN: usize = 4;

/// `0000000000000003.sjl`: the file name of segment `segment`.
pub fn segment_file_name(segment: u64) -> String {
    format!(
        "{segment:0width$}{SEGMENT_EXTENSION}",
        width = SEGMENT_NAME_DIGITS
    )
}

/// The segment a file name names, if it is exactly what [`segment_file_name`] makes.
pub fn parse_segment_file_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(SEGMENT_EXTENSION)?;
    if digits.len() < SEGMENT_NAME_DIGITS || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    let segment = digits.parse().ok()?;
    (segment_file_name(segment) == name).then_some(segment)
}

/// What a segment's header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentHeader {
    pub segment: u64,
    pub first_frame: u64,
}

/// The 40 bytes a segment starts with.
pub fn encode_segment_header(header: &SegmentHeader) -> [u8; SEGMENT_HEADER_LEN] {
    let mut bytes = [0; SEGMENT_HEADER_LEN];
    bytes[MAGIC_OFFSET..VERSION_OFFSET].copy_from_slice(&MAGIC);
    LittleEndian::write_u32(&mut bytes[VERSION_OFFSET..], VERSION);
    LittleEndian::write_u32(&mut bytes[FLAGS_OFFSET..], 0);
    LittleEndian::write_u64(&mut bytes[SEGMENT_OFFSET..], header.segment);
    LittleEndian::write_u64(&mut bytes[FIRST_FRAME_OFFSET..], header.first_frame);
    LittleEndian::write_u32(&mut bytes[RESERVED_OFFSET..], 0);
    let crc = crc32fast::hash(&bytes[..HEADER_CRC_OFFSET]);
    LittleEndian::write_u32(&mut bytes[HEADER_CRC_OFFSET..], crc);
    bytes
}

/// The CRC a frame carries: of everything in the frame but the CRC field.
fn frame_crc(frame_header: &[u8], body: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&frame_header[..FRAME_CRC_OFFSET]);
    hasher.update(&frame_header[RECORD_COUNT_OFFSET..FRAME_HEADER_LEN]);
    hasher.update(body);
    hasher.finalize()
}

/// Appends to `out` the frame `seq` holding `record_count` records, `body`.
pub fn encode_frame(out: &mut Vec<u8>, seq: u64, record_count: u32, body: &[u8]) {
    out.reserve(FRAME_HEADER_LEN + body.len());
    out.extend_from_slice(&frame_header(seq, record_count, body));
    out.extend_from_slice(body);
}

/// The header of the frame `seq` holding `record_count` records, `body`: what goes before the
/// body, so a writer can send both without copying the body.
pub fn frame_header(seq: u64, record_count: u32, body: &[u8]) -> [u8; FRAME_HEADER_LEN] {
    let mut header = [0; FRAME_HEADER_LEN];
    LittleEndian::write_u64(&mut header[BODY_LEN_OFFSET..], body.len() as u64);
    LittleEndian::write_u32(&mut header[RECORD_COUNT_OFFSET..], record_count);
    LittleEndian::write_u64(&mut header[FRAME_SEQ_OFFSET..], seq);
    let crc = frame_crc(&header, body);
    LittleEndian::write_u32(&mut header[FRAME_CRC_OFFSET..], crc);
    header
}

/// The record builders are the table's: its change log collects a commit's records as the
/// journal writes them (`crate::table::put_record` and the others).
pub use crate::table::{clear_record, delete_record, put_record};

/// One effect, borrowing its key and value from the body it was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Record<'a> {
    Put { key: &'a [u8], value: &'a [u8] },
    Delete { key: &'a [u8] },
    Clear,
}

/// The `N` lengths after the type byte of the record at the start of `bytes`, and the length
/// of the whole record, once all of it is known to be there.
fn record_lengths<const N: usize>(bytes: &[u8]) -> Result<([usize; N], usize), Fault> {
    let overrun = |needed: u64| Fault::RecordOverrun {
        needed,
        left: bytes.len() as u64,
    };
    let fields_end = TAG_LEN + N * LENGTH_LEN;
    let fields = bytes
        .get(TAG_LEN..fields_end)
        .ok_or(overrun(fields_end as u64))?;
    let mut lens = [0; N];
    for (len, field) in lens.iter_mut().zip(fields.chunks_exact(LENGTH_LEN)) {
        *len = LittleEndian::read_u32(field) as usize;
    }
    let needed = fields_end as u64 + lens.iter().map(|&len| len as u64).sum::<u64>();
    if needed > bytes.len() as u64 {
        return Err(overrun(needed));
    }
    Ok((lens, needed as usize))
}

/// Reads the record at the start of `bytes` (not empty); returns it and its length.
fn decode_record(bytes: &[u8]) -> Result<(Record<'_>, usize), Fault> {
    match bytes[0] {
        PUT => {
            let ([key_len, _], end) = record_lengths::<2>(bytes)?;
            let key_start = TAG_LEN + 2 * LENGTH_LEN;
            let (key, value) = bytes[key_start..end].split_at(key_len);
            Ok((Record::Put { key, value }, end))
        }
        DELETE => {
            let (_, end) = record_lengths::<1>(bytes)?;
            let key = &bytes[TAG_LEN + LENGTH_LEN..end];
            Ok((Record::Delete { key }, end))
        }
        CLEAR => Ok((Record::Clear, TAG_LEN)),
        tag => Err(Fault::UnknownRecord(tag)),
    }
}

/// Walks the `count` records of `body`, handing each to `each`; they must fill it exactly.
/// Faults come with their offset in the body.
fn walk_records<'a>(
    body: &'a [u8],
    count: u32,
    mut each: impl FnMut(Record<'a>),
) -> Result<(), (usize, Fault)> {
    let mut at = 0;
    for found in 0..count {
        if at == body.len() {
            return Err((
                at,
                Fault::RecordCountMismatch {
                    declared: count,
                    found,
                },
            ));
        }
        let (record, len) = decode_record(&body[at..]).map_err(|fault| (at, fault))?;
        each(record);
        at += len;
    }
    if at < body.len() {
        return Err((
            at,
            Fault::RecordTrailing {
                left: (body.len() - at) as u64,
            },
        ));
    }
    Ok(())
}

/// The `count` records of a frame's body, which they must fill exactly; a fault comes with
/// its offset in the body.
pub fn records(body: &[u8], count: u32) -> Result<Vec<Record<'_>>, (usize, Fault)> {
    // Every record takes at least one byte, which bounds the capacity by the body.
    let mut records = Vec::with_capacity((count as usize).min(body.len()));
    walk_records(body, count, |record| records.push(record))?;
    Ok(records)
}

/// Applies the effects of `records` to `table`, in order.
pub fn apply(table: &mut Table, records: &[Record<'_>]) {
    for record in records {
        match *record {
            Record::Put { key, value } => table.upsert(key, value),
            Record::Delete { key } => {
                table.remove(key);
            }
            Record::Clear => table.clear(),
        }
    }
}

/// A good frame of a segment: checksum, sequence and records all checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    /// Where it starts in its segment.
    pub offset: u64,
    pub seq: u64,
    pub record_count: u32,
    pub body: &'a [u8],
}

impl<'a> Frame<'a> {
    /// Its records, decoded again from the body (which [`scan_segment`] already checked).
    pub fn records(&self) -> Result<Vec<Record<'a>>, (usize, Fault)> {
        records(self.body, self.record_count)
    }

    /// Its bytes in the segment: header and body.
    pub fn encoded_len(&self) -> u64 {
        (FRAME_HEADER_LEN + self.body.len()) as u64
    }
}

/// How the frames of a segment end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScanEnd {
    /// Exactly after a good frame (or the header).
    Clean,
    /// From `offset` (where the first bad frame starts) to the end, `dropped` bytes, no valid
    /// frame starts: what a crash in the middle of a write leaves.
    Torn { offset: u64, dropped: u64 },
    /// The frame at `offset` is bad (or the header is, and `frames` is empty), and a valid
    /// frame follows it: damage, not a torn write. `offset` is where the fault is.
    Corrupt { offset: u64, fault: Fault },
}

/// What a segment holds.
#[derive(Debug)]
pub struct Scan<'a> {
    pub header: Result<SegmentHeader, Fault>,
    /// Every good frame before the first bad one, in order.
    pub frames: Vec<Frame<'a>>,
    pub end: ScanEnd,
}

/// Checks a whole segment: the header, then frame after frame until the first bad one, which
/// it classifies (see [`ScanEnd`]).
pub fn scan_segment(bytes: &[u8]) -> Scan<'_> {
    let header = match decode_segment_header(bytes) {
        Ok(header) => header,
        Err(fault) => {
            let offset = fault.header_offset(bytes.len());
            return Scan {
                header: Err(fault.clone()),
                frames: Vec::new(),
                end: ScanEnd::Corrupt { offset, fault },
            };
        }
    };
    let mut frames = Vec::new();
    let mut at = SEGMENT_HEADER_LEN;
    let mut expected = Some(header.first_frame);
    let end = loop {
        if at == bytes.len() {
            break ScanEnd::Clean;
        }
        match decode_frame(bytes, at, expected) {
            Ok(frame) => {
                expected = frame.seq.checked_add(1);
                at += frame.body.len() + FRAME_HEADER_LEN;
                frames.push(frame);
            }
            Err((fault_offset, fault)) => {
                break if fault.is_in_a_valid_later_frame()
                    || later_frame_exists(bytes, at + 1, expected)
                {
                    ScanEnd::Corrupt {
                        offset: fault_offset as u64,
                        fault,
                    }
                } else {
                    ScanEnd::Torn {
                        offset: at as u64,
                        dropped: (bytes.len() - at) as u64,
                    }
                };
            }
        }
    };
    Scan {
        header: Ok(header),
        frames,
        end,
    }
}

fn decode_segment_header(bytes: &[u8]) -> Result<SegmentHeader, Fault> {
    let header = bytes
        .get(..SEGMENT_HEADER_LEN)
        .ok_or(Fault::TooShort { len: bytes.len() })?;
    if !header.starts_with(&MAGIC) {
        return Err(Fault::BadMagic);
    }
    let stored = LittleEndian::read_u32(&header[HEADER_CRC_OFFSET..]);
    let computed = crc32fast::hash(&header[..HEADER_CRC_OFFSET]);
    if stored != computed {
        return Err(Fault::HeaderChecksum { stored, computed });
    }
    let version = LittleEndian::read_u32(&header[VERSION_OFFSET..]);
    if version != VERSION {
        return Err(Fault::UnsupportedVersion(version));
    }
    let flags = LittleEndian::read_u32(&header[FLAGS_OFFSET..]);
    if flags != 0 {
        return Err(Fault::UnsupportedFlags(flags));
    }
    let reserved = LittleEndian::read_u32(&header[RESERVED_OFFSET..]);
    if reserved != 0 {
        return Err(Fault::ReservedNotZero(reserved));
    }
    Ok(SegmentHeader {
        segment: LittleEndian::read_u64(&header[SEGMENT_OFFSET..]),
        first_frame: LittleEndian::read_u64(&header[FIRST_FRAME_OFFSET..]),
    })
}

/// The frame at `offset` if it is good and is frame `expected` (`None`: no frame can follow);
/// else the fault and where it is.
fn decode_frame(
    bytes: &[u8],
    offset: usize,
    expected: Option<u64>,
) -> Result<Frame<'_>, (usize, Fault)> {
    let at_frame = |fault| (offset, fault);
    let left = &bytes[offset..];
    let header = left
        .get(..FRAME_HEADER_LEN)
        .ok_or(at_frame(Fault::FrameTooShort {
            left: left.len() as u64,
        }))?;
    let body = frame_body(left).ok_or_else(|| {
        at_frame(Fault::BodyOverrun {
            declared: LittleEndian::read_u64(&header[BODY_LEN_OFFSET..]),
            left: (left.len() - FRAME_HEADER_LEN) as u64,
        })
    })?;
    let stored = LittleEndian::read_u32(&header[FRAME_CRC_OFFSET..]);
    let computed = frame_crc(header, body);
    if stored != computed {
        return Err(at_frame(Fault::FrameChecksum { stored, computed }));
    }
    let seq = LittleEndian::read_u64(&header[FRAME_SEQ_OFFSET..]);
    match expected {
        Some(expected) if expected == seq => {}
        Some(expected) => {
            return Err(at_frame(Fault::FrameSequence {
                expected,
                found: seq,
            }))
        }
        None => return Err(at_frame(Fault::SequenceExhausted)),
    }
    let record_count = LittleEndian::read_u32(&header[RECORD_COUNT_OFFSET..]);
    walk_records(body, record_count, |_| {})
        .map_err(|(at, fault)| (offset + FRAME_HEADER_LEN + at, fault))?;
    Ok(Frame {
        offset: offset as u64,
        seq,
        record_count,
        body,
    })
}

/// The body of the frame at the start of `frame` (at least a frame header long), if all of it
/// is there.
fn frame_body(frame: &[u8]) -> Option<&[u8]> {
    let body_len = LittleEndian::read_u64(&frame[BODY_LEN_OFFSET..]);
    let end = usize::try_from(body_len)
        .ok()?
        .checked_add(FRAME_HEADER_LEN)?;
    frame.get(FRAME_HEADER_LEN..end)
}

/// Whether a frame with a valid checksum and a sequence number from `expected` on starts
/// anywhere from `from` on. Only sequence numbers that could fit are considered (frames
/// `expected` to `expected + n` need `n + 1` frame headers of room), and only bodies that fit
/// are checksummed, so the search stays close to one pass.
fn later_frame_exists(bytes: &[u8], from: usize, expected: Option<u64>) -> bool {
    let Some(expected) = expected else {
        return false;
    };
    let reach = ((bytes.len() - from) / FRAME_HEADER_LEN) as u64;
    let last_start = bytes.len().saturating_sub(FRAME_HEADER_LEN);
    (from..=last_start).any(|start| {
        let frame = &bytes[start..];
        let Some(header) = frame.get(..FRAME_HEADER_LEN) else {
            return false;
        };
        let seq = LittleEndian::read_u64(&header[FRAME_SEQ_OFFSET..]);
        let could_fit = seq.checked_sub(expected).is_some_and(|ahead| ahead < reach);
        could_fit
            && frame_body(frame).is_some_and(|body| {
                frame_crc(header, body) == LittleEndian::read_u32(&header[FRAME_CRC_OFFSET..])
            })
    })
}

/// What is wrong with a segment: its header, a frame, or a record in a frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Shorter than the segment header.
    TooShort {
        len: usize,
    },
    BadMagic,
    HeaderChecksum {
        stored: u32,
        computed: u32,
    },
    UnsupportedVersion(u32),
    UnsupportedFlags(u32),
    ReservedNotZero(u32),
    /// Fewer bytes left than a frame header takes.
    FrameTooShort {
        left: u64,
    },
    /// The body the frame header announces runs past the end of the segment.
    BodyOverrun {
        declared: u64,
        left: u64,
    },
    FrameChecksum {
        stored: u32,
        computed: u32,
    },
    FrameSequence {
        expected: u64,
        found: u64,
    },
    /// A frame after frame `u64::MAX`: sequence numbers do not wrap.
    SequenceExhausted,
    UnknownRecord(u8),
    /// A record's lengths run past the end of the body.
    RecordOverrun {
        needed: u64,
        left: u64,
    },
    /// The body ends after `found` records; the frame says `declared`.
    RecordCountMismatch {
        declared: u32,
        found: u32,
    },
    /// Bytes left over after the last record the frame announces.
    RecordTrailing {
        left: u64,
    },
}

impl Fault {
    /// Whether the frame this fault was found in has a valid checksum and a sequence number
    /// after the last good frame's: proof that the frame was written whole, after the last
    /// good one, so the fault is damage and not a torn write.
    fn is_in_a_valid_later_frame(&self) -> bool {
        match *self {
            Fault::FrameSequence { expected, found } => found > expected,
            Fault::UnknownRecord(_)
            | Fault::RecordOverrun { .. }
            | Fault::RecordCountMismatch { .. }
            | Fault::RecordTrailing { .. } => true,
            _ => false,
        }
    }

    /// Where a fault of the header of a `len`-byte segment is: the field it is about (0 for a
    /// fault that is not the header's).
    pub(super) fn header_offset(&self, len: usize) -> u64 {
        let offset = match self {
            Fault::TooShort { .. } => len,
            Fault::BadMagic => MAGIC_OFFSET,
            Fault::HeaderChecksum { .. } => HEADER_CRC_OFFSET,
            Fault::UnsupportedVersion(_) => VERSION_OFFSET,
            Fault::UnsupportedFlags(_) => FLAGS_OFFSET,
            Fault::ReservedNotZero(_) => RESERVED_OFFSET,
            _ => 0,
        };
        offset as u64
    }

    /// What is wrong, in a few words, and the figures that show it.
    fn describe(&self) -> (&'static str, String) {
        let checksums =
            |stored, computed| format!("stored 0x{stored:08x}, computed 0x{computed:08x}");
        match *self {
            Fault::TooShort { len } => (
                "segment too short for a header",
                format!("{len} of {SEGMENT_HEADER_LEN} bytes"),
            ),
            Fault::BadMagic => ("bad magic", "not a Stratus journal segment".to_owned()),
            Fault::HeaderChecksum { stored, computed } => {
                ("header checksum mismatch", checksums(stored, computed))
            }
            Fault::UnsupportedVersion(version) => (
                "unsupported journal version",
                format!("{version}, this build reads version {VERSION}"),
            ),
            Fault::UnsupportedFlags(flags) => ("unsupported flags", format!("0x{flags:08x}")),
            Fault::ReservedNotZero(value) => ("reserved field not zero", format!("0x{value:08x}")),
            Fault::FrameTooShort { left } => (
                "frame header cut short",
                format!("{left} of {FRAME_HEADER_LEN} bytes"),
            ),
            Fault::BodyOverrun { declared, left } => (
                "frame body overruns the segment",
                format!("the frame announces {declared} bytes, {left} are left"),
            ),
            Fault::FrameChecksum { stored, computed } => {
                ("checksum mismatch", checksums(stored, computed))
            }
            Fault::FrameSequence { expected, found } => (
                "frame out of sequence",
                format!("expected frame {expected}, found {found}"),
            ),
            Fault::SequenceExhausted => (
                "frame out of sequence",
                format!("no frame can follow frame {}", u64::MAX),
            ),
            Fault::UnknownRecord(tag) => ("unknown record type", format!("0x{tag:02x}")),
            Fault::RecordOverrun { needed, left } => (
                "record overruns the frame",
                format!("needs {needed} bytes, {left} left"),
            ),
            Fault::RecordCountMismatch { declared, found } => (
                "record count mismatch",
                format!("the frame announces {declared} records, the body holds {found}"),
            ),
            Fault::RecordTrailing { left } => {
                ("bytes after the last record", format!("{left} bytes"))
            }
        }
    }
}

/// A fault and where it is: a byte offset from the start of the segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    pub offset: u64,
    pub fault: Fault,
}

/// `checksum mismatch at offset 1234: stored 0x1a2b3c4d, computed 0xdeadbeef`
impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (what, details) = self.fault.describe();
        write!(f, "{what} at offset {}: {details}", self.offset)
    }
}

impl std::error::Error for DecodeError {}

#[cfg(test)]
mod tests;

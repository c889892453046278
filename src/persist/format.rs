//! The data file format shared by `data.bin` and every snapshot: bytes to table and back, pure.
//!
//! ```text
//! offset  size  field
//!      0     8  MAGIC            89 53 54 52 0D 0A 1A 0A   ("\x89STR\r\n\x1a\n")
//!      8     4  VERSION          u32, 2 (version 1 is still read, see below)
//!     12     4  FLAGS            u32, 0 (no flags are defined; any set bit is refused)
//!     16     8  ENTRY_COUNT      u64, number of entries
//!     24     8  PAYLOAD_LEN      u64, bytes after the header; the file is exactly 48 + this
//!     32     8  JOURNAL_SEGMENT  u64, the first journal segment this file does not contain
//!                                (journal/<16 digits>.sjl); 0: the file is tied to no journal
//!     40     4  PAYLOAD_CRC      u32, CRC-32 (IEEE, as zlib) of the payload
//!     44     4  HEADER_CRC       u32, CRC-32 of bytes 0..44
//!     48     …  payload          ENTRY_COUNT entries, each:
//!                                  u32 key length, u32 value length, key bytes, value bytes
//! ```
//!
//! Version 1, written before the journal existed, has no JOURNAL_SEGMENT: PAYLOAD_CRC is at 32,
//! HEADER_CRC (of bytes 0..36) at 36 and the payload at 40. It reads as journal segment 0.
//!
//! All integers are little-endian. Like PNG's, the magic starts with a non-ASCII byte and holds
//! CR LF, ^Z and LF, so text-mode or 7-bit mangling is caught before anything else. Lengths are
//! 32-bit because no key or value can exceed the query limit, which is capped at `u32::MAX`.
//! The version picks the layout; the header CRC is then checked before any other header field
//! is trusted, and the payload CRC before any entry is read; every length is then checked
//! against the bytes left before it is used, so a damaged or hostile file can neither
//! over-allocate nor read out of bounds.

use std::fmt;

use byteorder::{ByteOrder, LittleEndian};

use crate::table::Table;

pub const MAGIC: [u8; 8] = *b"\x89STR\r\n\x1a\n";
/// The version this build writes.
pub const VERSION: u32 = 2;
/// The version before the journal: still read, never written.
pub const VERSION_1: u32 = 1;

pub const MAGIC_OFFSET: usize = 0;
pub const VERSION_OFFSET: usize = MAGIC_OFFSET + MAGIC.len();
pub const FLAGS_OFFSET: usize = VERSION_OFFSET + 4;
pub const ENTRY_COUNT_OFFSET: usize = FLAGS_OFFSET + 4;
pub const PAYLOAD_LEN_OFFSET: usize = ENTRY_COUNT_OFFSET + 8;
/// Version 2 only.
pub const JOURNAL_SEGMENT_OFFSET: usize = PAYLOAD_LEN_OFFSET + 8;
pub const PAYLOAD_CRC_OFFSET: usize = JOURNAL_SEGMENT_OFFSET + 8;
pub const HEADER_CRC_OFFSET: usize = PAYLOAD_CRC_OFFSET + 4;
/// Bytes before the first entry.
pub const HEADER_LEN: usize = HEADER_CRC_OFFSET + 4;
pub const PAYLOAD_CRC_OFFSET_V1: usize = PAYLOAD_LEN_OFFSET + 8;
pub const HEADER_CRC_OFFSET_V1: usize = PAYLOAD_CRC_OFFSET_V1 + 4;
/// Bytes before the first entry of a version 1 file.
pub const HEADER_LEN_V1: usize = HEADER_CRC_OFFSET_V1 + 4;
/// Bytes that must be present before the version, hence the layout, can be read.
const VERSION_END: usize = VERSION_OFFSET + 4;
/// Bytes of an entry besides its key and value: the two lengths.
pub const ENTRY_OVERHEAD: usize = 8;

/// Where a version's header puts what moved between versions.
#[derive(Debug, Clone, Copy)]
struct Layout {
    version: u32,
    journal_segment: Option<usize>,
    payload_crc: usize,
    header_crc: usize,
    header_len: usize,
}

const LAYOUT_V1: Layout = Layout {
    version: VERSION_1,
    journal_segment: None,
    payload_crc: PAYLOAD_CRC_OFFSET_V1,
    header_crc: HEADER_CRC_OFFSET_V1,
    header_len: HEADER_LEN_V1,
};

const LAYOUT: Layout = Layout {
    version: VERSION,
    journal_segment: Some(JOURNAL_SEGMENT_OFFSET),
    payload_crc: PAYLOAD_CRC_OFFSET,
    header_crc: HEADER_CRC_OFFSET,
    header_len: HEADER_LEN,
};

impl Layout {
    fn of(version: u32) -> Option<Layout> {
        [LAYOUT_V1, LAYOUT]
            .into_iter()
            .find(|layout| layout.version == version)
    }
}

/// What is wrong with a data file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Shorter than the header: `len` bytes where the header takes `header_len` (this build's
    /// header, when the version cannot be read).
    TooShort {
        len: usize,
        header_len: usize,
    },
    BadMagic,
    UnsupportedVersion(u32),
    UnsupportedFlags(u32),
    HeaderChecksum {
        stored: u32,
        computed: u32,
    },
    /// The header announces a payload of `declared` bytes, the file holds `present`.
    Truncated {
        declared: u64,
        present: u64,
    },
    TrailingBytes {
        declared: u64,
        present: u64,
    },
    PayloadChecksum {
        stored: u32,
        computed: u32,
    },
    /// An entry's lengths run past the end of the payload.
    EntryOverrun {
        needed: u64,
        left: u64,
    },
    /// The payload ends after `found` entries; the header says `declared`.
    CountMismatch {
        declared: u64,
        found: u64,
    },
    /// The same key twice: no encoder writes that.
    DuplicateKey,
    /// Bytes left over after the last entry the header announces.
    PayloadTrailing {
        left: u64,
    },
}

impl Fault {
    /// What is wrong, in a few words, and the figures that show it.
    fn describe(&self) -> (&'static str, Option<String>) {
        match self {
            Fault::TooShort { len, header_len } => (
                "file too short for a header",
                Some(format!("{len} of {header_len} bytes")),
            ),
            Fault::BadMagic => ("bad magic", Some("not a Stratus data file".to_owned())),
            Fault::UnsupportedVersion(version) => (
                "unsupported format version",
                Some(format!(
                    "{version}, this build reads versions {VERSION_1} and {VERSION}"
                )),
            ),
            Fault::UnsupportedFlags(flags) => ("unsupported flags", Some(format!("0x{flags:08x}"))),
            Fault::HeaderChecksum { stored, computed } => (
                "header checksum mismatch",
                Some(format!("stored 0x{stored:08x}, computed 0x{computed:08x}")),
            ),
            Fault::Truncated { declared, present } => (
                "truncated",
                Some(format!(
                    "the header announces {declared} payload bytes, {present} are present"
                )),
            ),
            Fault::TrailingBytes { declared, present } => (
                "trailing bytes",
                Some(format!(
                    "the header announces {declared} payload bytes, {present} are present"
                )),
            ),
            Fault::PayloadChecksum { stored, computed } => (
                "checksum mismatch",
                Some(format!("stored 0x{stored:08x}, computed 0x{computed:08x}")),
            ),
            Fault::EntryOverrun { needed, left } => (
                "entry overruns the data",
                Some(format!("needs {needed} bytes, {left} left")),
            ),
            Fault::CountMismatch { declared, found } => (
                "count mismatch",
                Some(format!(
                    "the header announces {declared} entries, the data holds {found}"
                )),
            ),
            Fault::DuplicateKey => ("duplicate key", None),
            Fault::PayloadTrailing { left } => {
                ("bytes after the last entry", Some(format!("{left} bytes")))
            }
        }
    }
}

/// A decoding failure: what and where (a byte offset from the start of the file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    pub offset: u64,
    pub fault: Fault,
}

/// `checksum mismatch at offset 48: stored 0x1a2b3c4d, computed 0xdeadbeef`
impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (what, details) = self.fault.describe();
        write!(f, "{what} at offset {}", self.offset)?;
        match details {
            Some(details) => write!(f, ": {details}"),
            None => Ok(()),
        }
    }
}

impl std::error::Error for DecodeError {}

fn fault_at(offset: usize, fault: Fault) -> DecodeError {
    DecodeError {
        offset: offset as u64,
        fault,
    }
}

/// A decoded data file: the table and what its header says besides.
#[derive(Debug)]
pub struct DataFile {
    pub table: Table,
    /// The first journal segment the file does not contain; 0 if it is tied to no journal
    /// (always, for version 1).
    pub journal_segment: u64,
    pub version: u32,
}

/// The exact size of the file that holds `table`, known without a pass over the data.
pub fn encoded_len(table: &Table) -> u64 {
    HEADER_LEN as u64 + table.len() as u64 * ENTRY_OVERHEAD as u64 + table.payload_bytes()
}

/// Whether `bytes` start like a file of this format (as opposed to a Skytable 0.6 file).
pub fn has_magic(bytes: &[u8]) -> bool {
    bytes.starts_with(&MAGIC)
}

/// The encoder was handed a buffer of the wrong size, or a key or value too long for a 32-bit
/// length. Either is a bug elsewhere; the save fails instead of writing a bad file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodeError {
    pub expected_len: u64,
    pub buffer_len: u64,
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "internal error: the table needs {} bytes, the file buffer has {}",
            self.expected_len, self.buffer_len
        )
    }
}

impl std::error::Error for EncodeError {}

/// [`encode_with`] for a file tied to no journal (journal segment 0).
pub fn encode(table: &Table, out: &mut [u8]) -> Result<(), EncodeError> {
    encode_with(table, out, 0)
}

/// Writes `table` into `out`, which must be exactly [`encoded_len`] bytes (a memory map of the
/// new file, sized up front), recording `journal_segment` as the first journal segment the file
/// does not contain.
pub fn encode_with(table: &Table, out: &mut [u8], journal_segment: u64) -> Result<(), EncodeError> {
    let size_error = EncodeError {
        expected_len: encoded_len(table),
        buffer_len: out.len() as u64,
    };
    if out.len() as u64 != size_error.expected_len {
        return Err(size_error);
    }
    let (header, payload) = out.split_at_mut(HEADER_LEN);
    let mut at = 0;
    for (key, value) in table.iter() {
        let (Ok(key_len), Ok(value_len)) = (u32::try_from(key.len()), u32::try_from(value.len()))
        else {
            return Err(size_error);
        };
        let end = at + ENTRY_OVERHEAD + key.len() + value.len();
        let entry = &mut payload[at..end];
        LittleEndian::write_u32(&mut entry[0..4], key_len);
        LittleEndian::write_u32(&mut entry[4..8], value_len);
        entry[ENTRY_OVERHEAD..ENTRY_OVERHEAD + key.len()].copy_from_slice(key);
        entry[ENTRY_OVERHEAD + key.len()..].copy_from_slice(value);
        at = end;
    }
    write_header(header, LAYOUT, table.len() as u64, journal_segment, payload);
    Ok(())
}

/// Fills `header` (exactly `layout.header_len` bytes) for `payload`: magic, version, counts,
/// the journal segment if the layout has one, and both checksums.
fn write_header(
    header: &mut [u8],
    layout: Layout,
    entry_count: u64,
    journal_segment: u64,
    payload: &[u8],
) {
    header[MAGIC_OFFSET..VERSION_OFFSET].copy_from_slice(&MAGIC);
    LittleEndian::write_u32(&mut header[VERSION_OFFSET..], layout.version);
    LittleEndian::write_u32(&mut header[FLAGS_OFFSET..], 0);
    LittleEndian::write_u64(&mut header[ENTRY_COUNT_OFFSET..], entry_count);
    LittleEndian::write_u64(&mut header[PAYLOAD_LEN_OFFSET..], payload.len() as u64);
    if let Some(offset) = layout.journal_segment {
        LittleEndian::write_u64(&mut header[offset..], journal_segment);
    }
    LittleEndian::write_u32(&mut header[layout.payload_crc..], crc32fast::hash(payload));
    let header_crc = crc32fast::hash(&header[..layout.header_crc]);
    LittleEndian::write_u32(&mut header[layout.header_crc..], header_crc);
}

/// One entry as it appears in a payload: both lengths, the key, the value. For tests and
/// tools that build payloads by hand (the encoder writes entries straight into its map).
pub fn entry_bytes(key: &[u8], value: &[u8]) -> Vec<u8> {
    let (Ok(key_len), Ok(value_len)) = (u32::try_from(key.len()), u32::try_from(value.len()))
    else {
        panic!("an entry's key and value are each shorter than 4 GiB");
    };
    let mut bytes = Vec::with_capacity(ENTRY_OVERHEAD + key.len() + value.len());
    bytes.extend_from_slice(&key_len.to_le_bytes());
    bytes.extend_from_slice(&value_len.to_le_bytes());
    bytes.extend_from_slice(key);
    bytes.extend_from_slice(value);
    bytes
}

/// A file of format `version` whose header is valid and whose checksums match, around any
/// `payload`, claiming `entry_count` entries and (version 2) `journal_segment`. For tests and
/// fuzzing the decoder behind the checksums. Panics on a version this build cannot write, or
/// a journal segment for version 1, which has none.
pub fn seal(version: u32, journal_segment: u64, entry_count: u64, payload: &[u8]) -> Vec<u8> {
    let layout =
        Layout::of(version).unwrap_or_else(|| panic!("format version {version} is not known"));
    assert!(
        layout.journal_segment.is_some() || journal_segment == 0,
        "a version {version} file has no journal segment"
    );
    let mut file = vec![0; layout.header_len];
    write_header(&mut file, layout, entry_count, journal_segment, payload);
    file.extend_from_slice(payload);
    file
}

/// Encodes `table` into a new vector, tied to no journal (for tests and tools; saves write
/// into a memory map).
pub fn encode_to_vec(table: &Table) -> Vec<u8> {
    encode_to_vec_with(table, 0)
}

/// [`encode_to_vec`] recording `journal_segment`.
pub fn encode_to_vec_with(table: &Table, journal_segment: u64) -> Vec<u8> {
    let mut bytes = vec![0; encoded_len(table) as usize];
    encode_with(table, &mut bytes, journal_segment).expect("buffer sized by encoded_len");
    bytes
}

/// Checks and decodes a whole file, of either version, into its table.
pub fn decode(bytes: &[u8]) -> Result<Table, DecodeError> {
    decode_file(bytes).map(|file| file.table)
}

/// Checks and decodes a whole file, of either version.
pub fn decode_file(bytes: &[u8]) -> Result<DataFile, DecodeError> {
    let too_short = |header_len| {
        fault_at(
            bytes.len(),
            Fault::TooShort {
                len: bytes.len(),
                header_len,
            },
        )
    };
    if bytes.len() < VERSION_END {
        return Err(too_short(HEADER_LEN));
    }
    if !has_magic(bytes) {
        return Err(fault_at(MAGIC_OFFSET, Fault::BadMagic));
    }
    let version = LittleEndian::read_u32(&bytes[VERSION_OFFSET..]);
    let layout = Layout::of(version)
        .ok_or_else(|| fault_at(VERSION_OFFSET, Fault::UnsupportedVersion(version)))?;
    let header = bytes
        .get(..layout.header_len)
        .ok_or_else(|| too_short(layout.header_len))?;
    let header_crc = LittleEndian::read_u32(&header[layout.header_crc..]);
    let computed = crc32fast::hash(&header[..layout.header_crc]);
    if header_crc != computed {
        return Err(fault_at(
            layout.header_crc,
            Fault::HeaderChecksum {
                stored: header_crc,
                computed,
            },
        ));
    }
    let flags = LittleEndian::read_u32(&header[FLAGS_OFFSET..]);
    if flags != 0 {
        return Err(fault_at(FLAGS_OFFSET, Fault::UnsupportedFlags(flags)));
    }
    let declared_count = LittleEndian::read_u64(&header[ENTRY_COUNT_OFFSET..]);
    let declared_len = LittleEndian::read_u64(&header[PAYLOAD_LEN_OFFSET..]);
    let journal_segment = layout
        .journal_segment
        .map_or(0, |offset| LittleEndian::read_u64(&header[offset..]));
    let payload = &bytes[layout.header_len..];
    let present = payload.len() as u64;
    if present < declared_len {
        return Err(fault_at(
            bytes.len(),
            Fault::Truncated {
                declared: declared_len,
                present,
            },
        ));
    }
    if present > declared_len {
        return Err(fault_at(
            layout.header_len + declared_len as usize,
            Fault::TrailingBytes {
                declared: declared_len,
                present,
            },
        ));
    }
    let payload_crc = LittleEndian::read_u32(&header[layout.payload_crc..]);
    let computed = crc32fast::hash(payload);
    if payload_crc != computed {
        return Err(fault_at(
            layout.header_len,
            Fault::PayloadChecksum {
                stored: payload_crc,
                computed,
            },
        ));
    }
    let table = decode_entries(payload, layout.header_len, declared_count)?;
    Ok(DataFile {
        table,
        journal_segment,
        version,
    })
}

/// Reads the entries of a payload whose checksum matched; `payload_offset` is where it starts
/// in the file.
fn decode_entries(
    payload: &[u8],
    payload_offset: usize,
    declared_count: u64,
) -> Result<Table, DecodeError> {
    // Every entry takes at least ENTRY_OVERHEAD bytes, which bounds the capacity by the file.
    let capacity = declared_count.min((payload.len() / ENTRY_OVERHEAD) as u64) as usize;
    let mut table = Table::with_capacity(capacity);
    let mut at = 0;
    let mut found = 0;
    while found < declared_count {
        let offset = payload_offset + at;
        let left = &payload[at..];
        if left.is_empty() {
            return Err(fault_at(
                offset,
                Fault::CountMismatch {
                    declared: declared_count,
                    found,
                },
            ));
        }
        let overrun = |needed: u64| {
            fault_at(
                offset,
                Fault::EntryOverrun {
                    needed,
                    left: left.len() as u64,
                },
            )
        };
        if left.len() < ENTRY_OVERHEAD {
            return Err(overrun(ENTRY_OVERHEAD as u64));
        }
        let key_len = LittleEndian::read_u32(&left[0..4]) as usize;
        let value_len = LittleEndian::read_u32(&left[4..8]) as usize;
        let entry_len = ENTRY_OVERHEAD + key_len + value_len;
        if left.len() < entry_len {
            return Err(overrun(entry_len as u64));
        }
        let key = &left[ENTRY_OVERHEAD..ENTRY_OVERHEAD + key_len];
        let value = &left[ENTRY_OVERHEAD + key_len..entry_len];
        if !table.insert_new(key, value) {
            return Err(fault_at(offset, Fault::DuplicateKey));
        }
        at += entry_len;
        found += 1;
    }
    if at < payload.len() {
        return Err(fault_at(
            payload_offset + at,
            Fault::PayloadTrailing {
                left: (payload.len() - at) as u64,
            },
        ));
    }
    Ok(table)
}

#[cfg(test)]
mod tests;

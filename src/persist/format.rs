//! The data file format shared by `data.bin` and every snapshot: bytes to table and back, pure.
//!
//! ```text
//! offset  size  field
//!      0     8  MAGIC          89 53 54 52 0D 0A 1A 0A   ("\x89STR\r\n\x1a\n")
//!      8     4  VERSION        u32, 1
//!     12     4  FLAGS          u32, 0 (no flags are defined; any set bit is refused)
//!     16     8  ENTRY_COUNT    u64, number of entries
//!     24     8  PAYLOAD_LEN    u64, bytes after the header; the file is exactly 40 + this
//!     32     4  PAYLOAD_CRC    u32, CRC-32 (IEEE, as zlib) of the payload
//!     36     4  HEADER_CRC     u32, CRC-32 of bytes 0..36
//!     40     …  payload        ENTRY_COUNT entries, each:
//!                                u32 key length, u32 value length, key bytes, value bytes
//! ```
//!
//! All integers are little-endian. Like PNG's, the magic starts with a non-ASCII byte and holds
//! CR LF, ^Z and LF, so text-mode or 7-bit mangling is caught before anything else. Lengths are
//! 32-bit because no key or value can exceed the query limit, which is capped at `u32::MAX`.
//! The header CRC is checked before any header field is trusted, and the payload CRC before
//! any entry is read; every length is then checked against the bytes left before it is used,
//! so a damaged or hostile file can neither over-allocate nor read out of bounds.

use std::fmt;

use byteorder::{ByteOrder, LittleEndian};

use crate::table::Table;

pub const MAGIC: [u8; 8] = *b"\x89STR\r\n\x1a\n";
pub const VERSION: u32 = 1;

const MAGIC_OFFSET: usize = 0;
const VERSION_OFFSET: usize = MAGIC_OFFSET + MAGIC.len();
const FLAGS_OFFSET: usize = VERSION_OFFSET + 4;
const ENTRY_COUNT_OFFSET: usize = FLAGS_OFFSET + 4;
const PAYLOAD_LEN_OFFSET: usize = ENTRY_COUNT_OFFSET + 8;
const PAYLOAD_CRC_OFFSET: usize = PAYLOAD_LEN_OFFSET + 8;
const HEADER_CRC_OFFSET: usize = PAYLOAD_CRC_OFFSET + 4;
/// Bytes before the first entry.
pub const HEADER_LEN: usize = HEADER_CRC_OFFSET + 4;
/// Bytes of an entry besides its key and value: the two lengths.
pub const ENTRY_OVERHEAD: usize = 8;

/// What is wrong with a data file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Shorter than the header.
    TooShort {
        len: usize,
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
            Fault::TooShort { len } => (
                "file too short for a header",
                Some(format!("{len} of {HEADER_LEN} bytes")),
            ),
            Fault::BadMagic => ("bad magic", Some("not a Stratus data file".to_owned())),
            Fault::UnsupportedVersion(version) => (
                "unsupported format version",
                Some(format!("{version}, this build reads version {VERSION}")),
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

/// `checksum mismatch at offset 40: stored 0x1a2b3c4d, computed 0xdeadbeef`
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

/// Writes `table` into `out`, which must be exactly [`encoded_len`] bytes (a memory map of the
/// new file, sized up front).
pub fn encode(table: &Table, out: &mut [u8]) -> Result<(), EncodeError> {
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
    write_header(header, table.len() as u64, payload);
    Ok(())
}

/// Fills `header` for `payload`: magic, version, counts and both checksums.
fn write_header(header: &mut [u8], entry_count: u64, payload: &[u8]) {
    header[MAGIC_OFFSET..VERSION_OFFSET].copy_from_slice(&MAGIC);
    LittleEndian::write_u32(&mut header[VERSION_OFFSET..], VERSION);
    LittleEndian::write_u32(&mut header[FLAGS_OFFSET..], 0);
    LittleEndian::write_u64(&mut header[ENTRY_COUNT_OFFSET..], entry_count);
    LittleEndian::write_u64(&mut header[PAYLOAD_LEN_OFFSET..], payload.len() as u64);
    LittleEndian::write_u32(&mut header[PAYLOAD_CRC_OFFSET..], crc32fast::hash(payload));
    let header_crc = crc32fast::hash(&header[..HEADER_CRC_OFFSET]);
    LittleEndian::write_u32(&mut header[HEADER_CRC_OFFSET..], header_crc);
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

/// A file whose header is valid and whose checksums match, around any `payload`, claiming
/// `entry_count` entries. For tests and fuzzing the decoder behind the checksums.
pub fn seal(entry_count: u64, payload: &[u8]) -> Vec<u8> {
    let mut file = vec![0; HEADER_LEN];
    write_header(&mut file, entry_count, payload);
    file.extend_from_slice(payload);
    file
}

/// Encodes `table` into a new vector (for tests and tools; saves write into a memory map).
pub fn encode_to_vec(table: &Table) -> Vec<u8> {
    let mut bytes = vec![0; encoded_len(table) as usize];
    encode(table, &mut bytes).expect("buffer sized by encoded_len");
    bytes
}

/// Checks and decodes a whole file.
pub fn decode(bytes: &[u8]) -> Result<Table, DecodeError> {
    let header = bytes
        .get(..HEADER_LEN)
        .ok_or(fault_at(bytes.len(), Fault::TooShort { len: bytes.len() }))?;
    if !has_magic(header) {
        return Err(fault_at(MAGIC_OFFSET, Fault::BadMagic));
    }
    let header_crc = LittleEndian::read_u32(&header[HEADER_CRC_OFFSET..]);
    let computed = crc32fast::hash(&header[..HEADER_CRC_OFFSET]);
    if header_crc != computed {
        return Err(fault_at(
            HEADER_CRC_OFFSET,
            Fault::HeaderChecksum {
                stored: header_crc,
                computed,
            },
        ));
    }
    let version = LittleEndian::read_u32(&header[VERSION_OFFSET..]);
    if version != VERSION {
        return Err(fault_at(VERSION_OFFSET, Fault::UnsupportedVersion(version)));
    }
    let flags = LittleEndian::read_u32(&header[FLAGS_OFFSET..]);
    if flags != 0 {
        return Err(fault_at(FLAGS_OFFSET, Fault::UnsupportedFlags(flags)));
    }
    let declared_count = LittleEndian::read_u64(&header[ENTRY_COUNT_OFFSET..]);
    let declared_len = LittleEndian::read_u64(&header[PAYLOAD_LEN_OFFSET..]);
    let payload = &bytes[HEADER_LEN..];
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
            HEADER_LEN + declared_len as usize,
            Fault::TrailingBytes {
                declared: declared_len,
                present,
            },
        ));
    }
    let payload_crc = LittleEndian::read_u32(&header[PAYLOAD_CRC_OFFSET..]);
    let computed = crc32fast::hash(payload);
    if payload_crc != computed {
        return Err(fault_at(
            HEADER_LEN,
            Fault::PayloadChecksum {
                stored: payload_crc,
                computed,
            },
        ));
    }
    decode_entries(payload, declared_count)
}

/// Reads the entries of a payload whose checksum matched.
fn decode_entries(payload: &[u8], declared_count: u64) -> Result<Table, DecodeError> {
    // Every entry takes at least ENTRY_OVERHEAD bytes, which bounds the capacity by the file.
    let capacity = declared_count.min((payload.len() / ENTRY_OVERHEAD) as u64) as usize;
    let mut table = Table::with_capacity(capacity);
    let mut at = 0;
    let mut found = 0;
    while found < declared_count {
        let offset = HEADER_LEN + at;
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
            HEADER_LEN + at,
            Fault::PayloadTrailing {
                left: (payload.len() - at) as u64,
            },
        ));
    }
    Ok(table)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Table {
        let mut table = Table::new();
        table.insert_new(b"x", b"100");
        table.insert_new(b"", b"empty key");
        table.insert_new(b"empty value", b"");
        table.insert_new(b"\x00\xff", &[0xab; 300]);
        table
    }

    fn sorted_entries(table: &Table) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut entries: Vec<_> = table
            .iter()
            .map(|(key, value)| (key.to_vec(), value.to_vec()))
            .collect();
        entries.sort();
        entries
    }

    fn fault(bytes: &[u8]) -> DecodeError {
        decode(bytes).map(|_| ()).unwrap_err()
    }

    #[test]
    fn round_trip_keeps_every_entry() {
        let table = sample();
        let bytes = encode_to_vec(&table);
        assert_eq!(bytes.len() as u64, encoded_len(&table));
        assert_eq!(bytes.len(), 40 + 4 * 8 + 1 + 3 + 9 + 11 + 2 + 300);
        let decoded = decode(&bytes).unwrap();
        assert_eq!(sorted_entries(&decoded), sorted_entries(&table));
        assert_eq!(decoded.payload_bytes(), table.payload_bytes());
    }

    #[test]
    fn an_empty_table_is_a_bare_header() {
        let bytes = encode_to_vec(&Table::new());
        assert_eq!(bytes.len(), HEADER_LEN);
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
        let bytes = encode_to_vec(&table);
        assert_eq!(bytes, seal(1, &entry_bytes(b"x", b"100")));
        assert_eq!(&bytes[16..24], &1u64.to_le_bytes());
        assert_eq!(&bytes[24..32], &12u64.to_le_bytes());
        assert_eq!(&bytes[32..36], &crc32fast::hash(&bytes[40..]).to_le_bytes());
        assert_eq!(&bytes[36..40], &crc32fast::hash(&bytes[..36]).to_le_bytes());
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
        assert_eq!(
            fault(&good[..39]),
            DecodeError {
                offset: 39,
                fault: Fault::TooShort { len: 39 }
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
        let reseal = |edit: &dyn Fn(&mut Vec<u8>)| {
            let mut bytes = good.clone();
            edit(&mut bytes);
            let crc = crc32fast::hash(&bytes[..36]);
            bytes[36..40].copy_from_slice(&crc.to_le_bytes());
            bytes
        };
        assert_eq!(
            fault(&reseal(&|b| b[8] = 2)),
            DecodeError {
                offset: 8,
                fault: Fault::UnsupportedVersion(2)
            }
        );
        assert_eq!(
            fault(&reseal(&|b| b[15] = 0x80)),
            DecodeError {
                offset: 12,
                fault: Fault::UnsupportedFlags(0x8000_0000)
            }
        );
    }

    #[test]
    fn payload_faults_are_named_with_their_offset() {
        let good = encode_to_vec(&sample());
        let payload_len = (good.len() - HEADER_LEN) as u64;
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
        let computed = crc32fast::hash(&flipped[HEADER_LEN..]);
        assert_eq!(
            fault(&flipped),
            DecodeError {
                offset: 40,
                fault: Fault::PayloadChecksum {
                    stored: LittleEndian::read_u32(&good[32..]),
                    computed
                }
            }
        );
    }

    #[test]
    fn every_single_bit_flip_is_caught() {
        let good = encode_to_vec(&sample());
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

    #[test]
    fn entry_faults_behind_valid_checksums() {
        let one = entry_bytes(b"k", b"v");
        assert_eq!(
            fault(&seal(2, &one)),
            DecodeError {
                offset: 50,
                fault: Fault::CountMismatch {
                    declared: 2,
                    found: 1
                }
            }
        );
        assert_eq!(
            fault(&seal(1, &one[..5])),
            DecodeError {
                offset: 40,
                fault: Fault::EntryOverrun { needed: 8, left: 5 }
            }
        );
        let mut long_key = one.clone();
        long_key[0..4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(
            fault(&seal(1, &long_key)),
            DecodeError {
                offset: 40,
                fault: Fault::EntryOverrun {
                    needed: 8 + u32::MAX as u64 + 1,
                    left: 10
                }
            }
        );
        let twice = [one.clone(), one.clone()].concat();
        assert_eq!(
            fault(&seal(2, &twice)),
            DecodeError {
                offset: 50,
                fault: Fault::DuplicateKey
            }
        );
        assert_eq!(
            fault(&seal(0, &one)),
            DecodeError {
                offset: 40,
                fault: Fault::PayloadTrailing { left: 10 }
            }
        );
        // A huge declared count neither allocates for it nor decodes.
        assert_eq!(
            fault(&seal(u64::MAX, &one)),
            DecodeError {
                offset: 50,
                fault: Fault::CountMismatch {
                    declared: u64::MAX,
                    found: 1
                }
            }
        );
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
    }
}

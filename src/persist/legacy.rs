//! Reading Skytable 0.6 data files ("sparrowlock": bincode's encoding of a map of byte strings),
//! so a skyd 0.6 `data.bin` or snapshot can be imported. Pure; Stratus never writes this format.
//!
//! ```text
//! u64 entry count
//! then per entry: u64 key length, key bytes, u64 value length, value bytes
//! ```
//!
//! All little-endian, with no magic, version or checksum, so only the structure can be checked:
//! every length against the bytes left, the count against the entries found. Bytes after the
//! last entry are ignored, as skyd ignored them, but reported so the loader can warn: skyd took
//! the count and the entries at different moments, and a racing write left such files.

use byteorder::{ByteOrder, LittleEndian};

use super::format::{DecodeError, Fault};
use crate::table::Table;

/// Bytes of the entry count, and of each length.
const U64_LEN: usize = 8;

/// A decoded Skytable 0.6 file.
#[derive(Debug)]
pub struct LegacyFile {
    pub table: Table,
    /// Bytes after the last entry the count announced.
    pub ignored_trailing_bytes: u64,
}

/// Decodes a whole Skytable 0.6 file.
pub fn decode(bytes: &[u8]) -> Result<LegacyFile, DecodeError> {
    let mut reader = Reader { bytes, at: 0 };
    let declared = reader.u64()?;
    // Every entry takes at least two lengths, which bounds the capacity by the file size.
    let capacity = declared.min((bytes.len() / (2 * U64_LEN)) as u64) as usize;
    let mut table = Table::with_capacity(capacity);
    for found in 0..declared {
        let entry_offset = reader.at;
        if reader.at == bytes.len() {
            return Err(DecodeError {
                offset: entry_offset as u64,
                fault: Fault::CountMismatch { declared, found },
            });
        }
        let key = reader.byte_string()?;
        let value = reader.byte_string()?;
        if !table.insert_new(key, value) {
            return Err(DecodeError {
                offset: entry_offset as u64,
                fault: Fault::DuplicateKey,
            });
        }
    }
    Ok(LegacyFile {
        table,
        ignored_trailing_bytes: (bytes.len() - reader.at) as u64,
    })
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, len: u64) -> Result<&'a [u8], DecodeError> {
        let left = &self.bytes[self.at..];
        match usize::try_from(len) {
            Ok(len) if len <= left.len() => {
                self.at += len;
                Ok(&left[..len])
            }
            _ => Err(DecodeError {
                offset: self.at as u64,
                fault: Fault::EntryOverrun {
                    needed: len,
                    left: left.len() as u64,
                },
            }),
        }
    }

    fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(LittleEndian::read_u64(self.take(U64_LEN as u64)?))
    }

    fn byte_string(&mut self) -> Result<&'a [u8], DecodeError> {
        let len = self.u64()?;
        self.take(len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The 28-byte file skyd 0.6.4 writes for a table holding only `x = 100` (spec §3.1).
    const ONE_KEY: [u8; 28] = [
        1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, b'x', 3, 0, 0, 0, 0, 0, 0, 0, b'1', b'0',
        b'0',
    ];

    #[test]
    fn reads_what_skyd_wrote() {
        let file = decode(&ONE_KEY).unwrap();
        assert_eq!(file.table.len(), 1);
        assert_eq!(file.table.get(b"x"), Some(&b"100"[..]));
        assert_eq!(file.ignored_trailing_bytes, 0);
        assert!(decode(&[0; 8]).unwrap().table.is_empty());
        let mut trailing = ONE_KEY.to_vec();
        trailing.extend_from_slice(&[7; 5]);
        let file = decode(&trailing).unwrap();
        assert_eq!((file.table.len(), file.ignored_trailing_bytes), (1, 5));
    }

    #[test]
    fn refuses_damaged_files_with_the_place() {
        let fault = |bytes: &[u8]| decode(bytes).map(|_| ()).unwrap_err();
        assert_eq!(
            fault(&ONE_KEY[..27]),
            DecodeError {
                offset: 25,
                fault: Fault::EntryOverrun { needed: 3, left: 2 }
            }
        );
        assert_eq!(
            fault(&ONE_KEY[..5]),
            DecodeError {
                offset: 0,
                fault: Fault::EntryOverrun { needed: 8, left: 5 }
            }
        );
        let mut two = ONE_KEY;
        two[0] = 2;
        assert_eq!(
            fault(&two),
            DecodeError {
                offset: 28,
                fault: Fault::CountMismatch {
                    declared: 2,
                    found: 1
                }
            }
        );
        let mut huge = ONE_KEY;
        huge[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
        assert_eq!(
            fault(&huge),
            DecodeError {
                offset: 16,
                fault: Fault::EntryOverrun {
                    needed: u64::MAX,
                    left: 12
                }
            }
        );
    }
}

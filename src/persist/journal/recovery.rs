//! Which journal frames a start replays after data.bin, and what it must tidy first: pure.
//!
//! data.bin names the first segment it does not contain. Segments below it are obsolete (a
//! crash came between the new data.bin and their deletion). From it on, segments must be
//! numbered without a gap, each header must name its file, and each segment's first frame must
//! continue the one before: frames of a segment at or after the next one's first frame were
//! a failed commit the server rolled back, and are dropped. Only the last segment may lose a
//! torn tail; anything else missing or damaged refuses the start, naming file and offset.

use std::fmt;

use super::format::{
    self, DecodeError, Fault, Frame, Scan, ScanEnd, SegmentHeader, FIRST_FRAME_OFFSET,
    JOURNAL_DIR_NAME, SEGMENT_OFFSET,
};

/// What a start does with the journal it found.
#[derive(Debug)]
pub struct Plan<'a> {
    /// Every frame to replay after data.bin, in order.
    pub frames: Vec<Frame<'a>>,
    /// Segments data.bin already contains, to delete.
    pub obsolete: Vec<u64>,
    /// (segment, offset, bytes dropped): the torn tail of the last segment, to truncate.
    pub truncate: Option<(u64, u64, u64)>,
    /// The number of the next segment to create.
    pub next_segment: u64,
    /// The sequence number of the next frame to write.
    pub next_frame: u64,
}

/// Why a journal cannot be replayed: what is wrong with which segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveryError {
    pub segment: u64,
    pub fault: RecoveryFault,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecoveryFault {
    /// Its bytes: a bad header, or a bad frame with a valid frame after it.
    Damaged(DecodeError),
    /// Its header names segment `found`.
    WrongSegment { found: u64 },
    /// The file does not exist, though segment `next` does; `previous` is the segment before
    /// it, or `None` if data.bin continues in it.
    Missing { previous: Option<u64>, next: u64 },
    /// Its first frame is `first_frame`, but the segment before it ends before `expected`:
    /// the frames in between are lost. `previous_torn` is where that segment's torn tail
    /// starts, if it has one.
    FrameGap {
        expected: u64,
        first_frame: u64,
        previous_torn: Option<u64>,
    },
    /// Its first frame is `first_frame`, before the first frame of the segment before it.
    FrameOverlap {
        previous_first: u64,
        first_frame: u64,
    },
    /// The same segment was given twice.
    Duplicate,
}

impl RecoveryError {
    /// Where in the segment the fault is, if the file exists.
    pub fn offset(&self) -> Option<u64> {
        match &self.fault {
            RecoveryFault::Damaged(error) => Some(error.offset),
            RecoveryFault::WrongSegment { .. } => Some(SEGMENT_OFFSET as u64),
            RecoveryFault::FrameGap { .. } | RecoveryFault::FrameOverlap { .. } => {
                Some(FIRST_FRAME_OFFSET as u64)
            }
            RecoveryFault::Missing { .. } | RecoveryFault::Duplicate => None,
        }
    }
}

impl RecoveryError {
    /// What is wrong, without the file's name, for a caller that names the file itself.
    pub fn reason(&self) -> RecoveryErrorReason<'_> {
        RecoveryErrorReason(self)
    }
}

/// `journal/0000000000000003.sjl: checksum mismatch at offset 1234: stored 0x…, computed 0x…`
impl fmt::Display for RecoveryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = format::segment_file_name(self.segment);
        write!(f, "{JOURNAL_DIR_NAME}/{name}: {}", self.reason())
    }
}

/// A [`RecoveryError`] without the file's name.
pub struct RecoveryErrorReason<'a>(&'a RecoveryError);

impl fmt::Display for RecoveryErrorReason<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let error = self.0;
        let at = error.offset().unwrap_or(0);
        match &error.fault {
            RecoveryFault::Damaged(error) => write!(f, "{error}"),
            RecoveryFault::WrongSegment { found } => write!(
                f,
                "wrong segment number at offset {at}: the header says segment {found}"
            ),
            RecoveryFault::Missing {
                previous: None,
                next,
            } => write!(
                f,
                "missing: data.bin continues in this segment, but the journal starts at \
                 segment {next}"
            ),
            RecoveryFault::Missing {
                previous: Some(previous),
                next,
            } => write!(f, "missing between segments {previous} and {next}"),
            RecoveryFault::FrameGap {
                expected,
                first_frame,
                previous_torn,
            } => {
                write!(
                    f,
                    "frame gap at offset {at}: the segment starts at frame {first_frame}, \
                     but segment {} ends before frame {expected}",
                    error.segment - 1
                )?;
                match previous_torn {
                    Some(torn) => write!(f, " (torn at offset {torn})"),
                    None => Ok(()),
                }
            }
            RecoveryFault::FrameOverlap {
                previous_first,
                first_frame,
            } => write!(
                f,
                "frame overlap at offset {at}: the segment starts at frame {first_frame}, \
                 before segment {} starts at frame {previous_first}",
                error.segment - 1
            ),
            RecoveryFault::Duplicate => write!(f, "given twice"),
        }
    }
}

impl std::error::Error for RecoveryError {}

/// A live segment once scanned: its number, header and frames.
struct Scanned<'a> {
    segment: u64,
    header: SegmentHeader,
    scan: Scan<'a>,
}

/// Which frames to replay after a data.bin whose first journal segment not contained is
/// `data_file_segment` (0: data.bin is tied to no journal, so every segment is replayed), from
/// the segment files found, by number, in any order.
pub fn plan<'a>(
    data_file_segment: u64,
    segments: &[(u64, &'a [u8])],
) -> Result<Plan<'a>, RecoveryError> {
    let mut sorted = segments.to_vec();
    sorted.sort_by_key(|&(segment, _)| segment);
    if let Some(pair) = sorted.windows(2).find(|pair| pair[0].0 == pair[1].0) {
        return Err(RecoveryError {
            segment: pair[0].0,
            fault: RecoveryFault::Duplicate,
        });
    }
    let live_from = sorted.partition_point(|&(segment, _)| segment < data_file_segment);
    let (obsolete, live) = sorted.split_at(live_from);
    let obsolete: Vec<u64> = obsolete.iter().map(|&(segment, _)| segment).collect();
    let Some(&(first, _)) = live.first() else {
        return Ok(Plan {
            frames: Vec::new(),
            obsolete,
            truncate: None,
            next_segment: data_file_segment.max(1),
            next_frame: 1,
        });
    };
    if data_file_segment > 0 && first != data_file_segment {
        return Err(RecoveryError {
            segment: data_file_segment,
            fault: RecoveryFault::Missing {
                previous: None,
                next: first,
            },
        });
    }
    let mut scanned: Vec<Scanned<'a>> = Vec::with_capacity(live.len());
    for &(segment, bytes) in live {
        if let Some(previous) = scanned.last() {
            if segment != previous.segment + 1 {
                return Err(RecoveryError {
                    segment: previous.segment + 1,
                    fault: RecoveryFault::Missing {
                        previous: Some(previous.segment),
                        next: segment,
                    },
                });
            }
        }
        let current = check_segment(segment, bytes)?;
        if let Some(previous) = scanned.last_mut() {
            continue_from(previous, &current)?;
        }
        scanned.push(current);
    }
    let last = scanned.last().expect("at least one live segment");
    let truncate = match last.scan.end {
        ScanEnd::Torn { offset, dropped } => Some((last.segment, offset, dropped)),
        _ => None,
    };
    let next_frame = match last.scan.frames.last() {
        None => last.header.first_frame,
        Some(frame) => frame.seq.checked_add(1).ok_or(RecoveryError {
            segment: last.segment,
            fault: RecoveryFault::Damaged(DecodeError {
                offset: frame.offset + frame.encoded_len(),
                fault: Fault::SequenceExhausted,
            }),
        })?,
    };
    let next_segment = last.segment.saturating_add(1);
    Ok(Plan {
        frames: scanned
            .into_iter()
            .flat_map(|scanned| scanned.scan.frames)
            .collect(),
        obsolete,
        truncate,
        next_segment,
        next_frame,
    })
}

/// Scans one segment: its header must be good and name it, and no frame may be corrupt.
fn check_segment(segment: u64, bytes: &[u8]) -> Result<Scanned<'_>, RecoveryError> {
    let damaged = |offset, fault| RecoveryError {
        segment,
        fault: RecoveryFault::Damaged(DecodeError { offset, fault }),
    };
    let scan = format::scan_segment(bytes);
    let header = scan
        .header
        .clone()
        .map_err(|fault| damaged(fault.header_offset(bytes.len()), fault))?;
    if header.segment != segment {
        return Err(RecoveryError {
            segment,
            fault: RecoveryFault::WrongSegment {
                found: header.segment,
            },
        });
    }
    if let ScanEnd::Corrupt { offset, fault } = &scan.end {
        return Err(damaged(*offset, fault.clone()));
    }
    Ok(Scanned {
        segment,
        header,
        scan,
    })
}

/// Checks that `next` continues `previous`, and drops the frames of `previous` that `next`
/// supersedes (those from its first frame on).
fn continue_from(previous: &mut Scanned<'_>, next: &Scanned<'_>) -> Result<(), RecoveryError> {
    let error = |fault| RecoveryError {
        segment: next.segment,
        fault,
    };
    let first_frame = next.header.first_frame;
    let previous_first = previous.header.first_frame;
    if first_frame < previous_first {
        return Err(error(RecoveryFault::FrameOverlap {
            previous_first,
            first_frame,
        }));
    }
    // The frame after the previous segment's last; `None` after frame u64::MAX, which only a
    // segment starting at or before it can follow.
    let expected = match previous.scan.frames.last() {
        Some(frame) => frame.seq.checked_add(1),
        None => Some(previous_first),
    };
    if let Some(expected) = expected.filter(|&expected| first_frame > expected) {
        let previous_torn = match previous.scan.end {
            ScanEnd::Torn { offset, .. } => Some(offset),
            _ => None,
        };
        return Err(error(RecoveryFault::FrameGap {
            expected,
            first_frame,
            previous_torn,
        }));
    }
    previous.scan.frames.retain(|frame| frame.seq < first_frame);
    Ok(())
}

#[cfg(test)]
mod tests;

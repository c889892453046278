//! Every rule of the recovery plan, and the damage a crash or a person can do to a journal:
//! a cut at every byte of the last frames, a flipped byte, a deleted middle segment, zeros.

use super::*;
use crate::persist::journal::format::{
    clear_record, delete_record, encode_frame, encode_segment_header, put_record,
};

/// Segment `number` holding frames `first_frame..first_frame + frames`, each one PUT of a key
/// named after the frame's sequence number (and a DEL and a CLEAR in every third).
fn segment(number: u64, first_frame: u64, frames: u64) -> Vec<u8> {
    let mut bytes = encode_segment_header(&SegmentHeader {
        segment: number,
        first_frame,
    })
    .to_vec();
    for seq in first_frame..first_frame + frames {
        let mut body = Vec::new();
        put_record(&mut body, format!("key {seq}").as_bytes(), b"value");
        let mut count = 1;
        if seq % 3 == 0 {
            delete_record(&mut body, b"key 1");
            clear_record(&mut body);
            count += 2;
        }
        encode_frame(&mut bytes, seq, count, &body);
    }
    bytes
}

/// The number a segment's header gives it.
fn read_segment_number(bytes: &[u8]) -> u64 {
    u64::from_le_bytes(
        bytes[SEGMENT_OFFSET..SEGMENT_OFFSET + 8]
            .try_into()
            .unwrap(),
    )
}

fn seqs(plan: &Plan<'_>) -> Vec<u64> {
    plan.frames.iter().map(|frame| frame.seq).collect()
}

fn refusal(data_file_segment: u64, segments: &[(u64, &[u8])]) -> RecoveryError {
    plan(data_file_segment, segments).map(|_| ()).unwrap_err()
}

#[test]
fn no_segments_replay_nothing() {
    for (data_file_segment, next_segment) in [(0, 1), (1, 1), (5, 5)] {
        let plan = plan(data_file_segment, &[]).unwrap();
        assert!(plan.frames.is_empty() && plan.obsolete.is_empty());
        assert_eq!(plan.truncate, None);
        assert_eq!((plan.next_segment, plan.next_frame), (next_segment, 1));
    }
}

#[test]
fn a_chain_replays_in_order_whatever_order_it_is_given_in() {
    let (one, two, three) = (segment(1, 1, 3), segment(2, 4, 2), segment(3, 6, 0));
    for data_file_segment in [0, 1] {
        let plan = plan(data_file_segment, &[(3, &three), (1, &one), (2, &two)]).unwrap();
        assert_eq!(seqs(&plan), [1, 2, 3, 4, 5]);
        assert!(plan.obsolete.is_empty());
        assert_eq!(plan.truncate, None);
        assert_eq!((plan.next_segment, plan.next_frame), (4, 6));
    }
    let records = plan(0, &[(1, &one)]).unwrap().frames[2].records().unwrap();
    assert_eq!(records.len(), 3);
}

#[test]
fn without_data_file_segment_the_journal_may_start_anywhere() {
    let seven = segment(7, 40, 2);
    let plan = plan(0, &[(7, &seven)]).unwrap();
    assert_eq!(seqs(&plan), [40, 41]);
    assert_eq!((plan.next_segment, plan.next_frame), (8, 42));
}

#[test]
fn segments_below_the_data_files_are_obsolete() {
    let (one, two, three, four) = (
        segment(1, 1, 2),
        segment(2, 3, 2),
        segment(3, 5, 1),
        segment(4, 6, 1),
    );
    let all: [(u64, &[u8]); 4] = [(4, &four), (2, &two), (1, &one), (3, &three)];
    let plan = plan(3, &all).unwrap();
    assert_eq!(plan.obsolete, [1, 2]);
    assert_eq!(seqs(&plan), [5, 6]);
    assert_eq!((plan.next_segment, plan.next_frame), (5, 7));
    // Obsolete segments are not even read: damage there does not matter.
    let only_old = super::plan(3, &[(1, &one[..50]), (2, b"garbage")]).unwrap();
    assert_eq!(only_old.obsolete, [1, 2]);
    assert!(only_old.frames.is_empty());
    assert_eq!((only_old.next_segment, only_old.next_frame), (3, 1));
}

#[test]
fn the_data_files_segment_must_be_there_if_later_ones_are() {
    let (four, five) = (segment(4, 10, 1), segment(5, 11, 1));
    let error = refusal(3, &[(4, &four), (5, &five)]);
    assert_eq!(
        error,
        RecoveryError {
            segment: 3,
            fault: RecoveryFault::Missing {
                previous: None,
                next: 4
            }
        }
    );
    assert_eq!(
        error.to_string(),
        "journal/0000000000000003.sjl: missing: data.bin continues in this segment, but the \
         journal starts at segment 4"
    );
    assert_eq!(error.offset(), None);
}

#[test]
fn a_deleted_middle_segment_is_refused() {
    let (one, two, three) = (segment(1, 1, 2), segment(2, 3, 2), segment(3, 5, 2));
    let error = refusal(1, &[(1, &one), (3, &three)]);
    assert_eq!(
        error,
        RecoveryError {
            segment: 2,
            fault: RecoveryFault::Missing {
                previous: Some(1),
                next: 3
            }
        }
    );
    assert_eq!(
        error.to_string(),
        "journal/0000000000000002.sjl: missing between segments 1 and 3"
    );
    assert!(plan(1, &[(1, &one), (2, &two), (3, &three)]).is_ok());
}

#[test]
fn a_header_must_be_good_and_name_its_file() {
    let (one, two, three) = (segment(1, 1, 2), segment(2, 3, 1), segment(3, 3, 1));
    let error = refusal(0, &[(1, &one), (2, &three)]);
    assert_eq!(
        error,
        RecoveryError {
            segment: 2,
            fault: RecoveryFault::WrongSegment { found: 3 }
        }
    );
    assert_eq!(
        error.to_string(),
        "journal/0000000000000002.sjl: wrong segment number at offset 16: the header says \
         segment 3"
    );
    let mut bad = two.clone();
    bad[3] = b'X';
    let error = refusal(1, &[(1, &one), (2, &bad)]);
    assert_eq!(
        error,
        RecoveryError {
            segment: 2,
            fault: RecoveryFault::Damaged(DecodeError {
                offset: 0,
                fault: Fault::BadMagic
            })
        }
    );
    assert_eq!(
        error.to_string(),
        "journal/0000000000000002.sjl: bad magic at offset 0: not a Stratus journal segment"
    );
    // A header cut short, even in the last segment, is not a torn tail: refused.
    let error = refusal(1, &[(1, &one), (2, &two[..20])]);
    assert_eq!(error.offset(), Some(20));
}

#[test]
fn frames_a_later_segment_starts_again_from_are_superseded() {
    // Frame 4 of segment 1 failed to commit; segment 2 starts again at frame 4.
    let (one, two) = (segment(1, 1, 4), segment(2, 4, 2));
    let plan = plan(1, &[(1, &one), (2, &two)]).unwrap();
    assert_eq!(seqs(&plan), [1, 2, 3, 4, 5]);
    assert_eq!(plan.frames[3].offset, 40, "frame 4 comes from segment 2");
    // All of a segment's frames may be superseded.
    let (three, four) = (segment(3, 10, 2), segment(4, 10, 1));
    let plan = super::plan(0, &[(3, &three), (4, &four)]).unwrap();
    assert_eq!(seqs(&plan), [10]);
    assert_eq!((plan.next_segment, plan.next_frame), (5, 11));
}

#[test]
fn a_segment_that_does_not_continue_the_one_before_is_refused() {
    let (one, two) = (segment(1, 1, 3), segment(2, 6, 1));
    let error = refusal(0, &[(1, &one), (2, &two)]);
    assert_eq!(
        error,
        RecoveryError {
            segment: 2,
            fault: RecoveryFault::FrameGap {
                expected: 4,
                first_frame: 6,
                previous_torn: None
            }
        }
    );
    assert_eq!(
        error.to_string(),
        "journal/0000000000000002.sjl: frame gap at offset 24: the segment starts at frame 6, \
         but segment 1 ends before frame 4"
    );
    // An empty segment still says where its frames would start.
    let (empty, next) = (segment(1, 5, 0), segment(2, 6, 1));
    assert!(matches!(
        refusal(0, &[(1, &empty), (2, &next)]).fault,
        RecoveryFault::FrameGap { expected: 5, .. }
    ));
    let overlap = segment(2, 0, 1);
    let error = refusal(0, &[(1, &one), (2, &overlap)]);
    assert_eq!(
        error.fault,
        RecoveryFault::FrameOverlap {
            previous_first: 1,
            first_frame: 0
        }
    );
    assert_eq!(
        error.to_string(),
        "journal/0000000000000002.sjl: frame overlap at offset 24: the segment starts at frame \
         0, before segment 1 starts at frame 1"
    );
}

#[test]
fn an_earlier_segment_may_end_torn_only_if_the_next_continues_it() {
    let one = segment(1, 1, 3);
    let torn = &one[..one.len() - 5];
    let continued = segment(2, 3, 2);
    let plan = plan(1, &[(1, torn), (2, &continued)]).unwrap();
    assert_eq!(seqs(&plan), [1, 2, 3, 4]);
    assert_eq!(plan.truncate, None, "only the last segment is truncated");
    let skipped = segment(2, 4, 1);
    let error = refusal(1, &[(1, torn), (2, &skipped)]);
    let torn_at = plan_offsets(&one)[2];
    assert_eq!(
        error.fault,
        RecoveryFault::FrameGap {
            expected: 3,
            first_frame: 4,
            previous_torn: Some(torn_at)
        }
    );
    assert!(
        error.to_string().ends_with(&format!(
            "but segment 1 ends before frame 3 (torn at offset {torn_at})"
        )),
        "{error}"
    );
}

/// Where each frame of a good segment starts, and where it ends.
fn plan_offsets(bytes: &[u8]) -> Vec<u64> {
    let plan = plan(0, &[(read_segment_number(bytes), bytes)]).unwrap();
    let mut offsets: Vec<u64> = plan.frames.iter().map(|frame| frame.offset).collect();
    offsets.push(bytes.len() as u64);
    offsets
}

#[test]
fn a_good_journal_cut_at_every_byte_of_its_last_two_frames_keeps_a_prefix() {
    let one = segment(1, 1, 3);
    let two = segment(2, 4, 4);
    let offsets = plan_offsets(&two);
    let last_two_start = offsets[offsets.len() - 3] as usize;
    for cut in last_two_start..two.len() {
        let plan = plan(1, &[(1, &one), (2, &two[..cut])]).unwrap();
        let kept = offsets.iter().filter(|&&end| end <= cut as u64).count() - 1;
        let expected: Vec<u64> = (1..4 + kept as u64).collect();
        assert_eq!(seqs(&plan), expected, "cut at {cut}");
        let start = offsets[kept];
        let truncate = (start != cut as u64).then_some((2, start, cut as u64 - start));
        assert_eq!(plan.truncate, truncate, "cut at {cut}");
        assert_eq!((plan.next_segment, plan.next_frame), (3, 4 + kept as u64));
    }
}

#[test]
fn a_flipped_byte_mid_segment_is_refused_anywhere() {
    let (one, two) = (segment(1, 1, 4), segment(2, 5, 4));
    let offsets = plan_offsets(&one);
    let second = offsets[1] as usize;
    for in_last in [false, true] {
        let mut damaged = if in_last { two.clone() } else { one.clone() };
        damaged[second + 27] ^= 0x01;
        let segments: [(u64, &[u8]); 2] = if in_last {
            [(1, &one), (2, &damaged)]
        } else {
            [(1, &damaged), (2, &two)]
        };
        let error = refusal(1, &segments);
        assert_eq!(error.segment, if in_last { 2 } else { 1 });
        let RecoveryFault::Damaged(DecodeError { offset, fault }) = &error.fault else {
            panic!("{error:?}");
        };
        assert_eq!(*offset, second as u64);
        assert!(matches!(fault, Fault::FrameChecksum { .. }), "{fault:?}");
        let name = if in_last { "2" } else { "1" };
        assert!(
            error.to_string().starts_with(&format!(
                "journal/000000000000000{name}.sjl: checksum mismatch at offset {second}: stored 0x"
            )),
            "{error}"
        );
    }
}

#[test]
fn zeros_after_the_last_frame_are_a_torn_tail() {
    let one = segment(1, 1, 2);
    let zeros = [&one[..], &[0; 512]].concat();
    let plan = plan(1, &[(1, &zeros)]).unwrap();
    assert_eq!(seqs(&plan), [1, 2]);
    assert_eq!(plan.truncate, Some((1, one.len() as u64, 512)));
    assert_eq!((plan.next_segment, plan.next_frame), (2, 3));
}

#[test]
fn a_segment_given_twice_is_refused() {
    let one = segment(1, 1, 1);
    assert_eq!(
        refusal(0, &[(1, &one), (1, &one)]),
        RecoveryError {
            segment: 1,
            fault: RecoveryFault::Duplicate
        }
    );
}

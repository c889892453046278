//! The write-ahead journal: segment files of checksummed frames of effects, replayed after
//! `data.bin` at start. [`format`](mod@format) is bytes to values and back; [`recovery`]
//! decides which frames a start replays. Both are pure.

pub mod format;
pub mod recovery;

//! Arbitrary bytes, whole and split: the incremental parser gives the same queries or error.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| stratus::properties::protocol_parse(data));

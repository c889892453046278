//! Arbitrary bytes, whole and split: the incremental RESP parser gives the same requests or error.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| stratus::properties::resp_parse(data));

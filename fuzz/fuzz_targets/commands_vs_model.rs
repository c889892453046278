//! A sequence of Redis commands gives the same replies from the real table as from a HashMap model.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| stratus::properties::commands_vs_model(data));

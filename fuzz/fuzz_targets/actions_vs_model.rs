//! A sequence of actions gives the same responses from the real table as from a HashMap model.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| stratus::properties::actions_vs_model(data));

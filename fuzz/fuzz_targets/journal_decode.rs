//! Arbitrary bytes as a journal segment: the scan never panics, its good frames encode again
//! to their own bytes, its end accounts for the rest; and scanning never holds more memory
//! than the input's size allows.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stratus::properties::{self, CountingAllocator};

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator::new();

fuzz_target!(|data: &[u8]| {
    let bound = properties::journal_decode_allocation_bound(data.len());
    properties::assert_allocation_within(&ALLOCATOR, bound, || properties::journal_decode(data));
});

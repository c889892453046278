//! The input as the body of a journal frame with a valid checksum, so the record decoder is
//! reached; scanning it never holds more memory than the input's size allows.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stratus::properties::{self, CountingAllocator};

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator::new();

fuzz_target!(|data: &[u8]| {
    let bound = properties::sealed_journal_decode_allocation_bound(data.len());
    properties::assert_allocation_within(&ALLOCATOR, bound, || {
        properties::journal_decode_sealed(data)
    });
});

//! The input behind a valid header with matching checksums, so the entry decoder is reached;
//! decoding it never holds more memory than the input's size allows.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stratus::properties::{self, CountingAllocator};

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator::new();

fuzz_target!(|data: &[u8]| {
    let bound = properties::sealed_decode_allocation_bound(data.len());
    properties::assert_allocation_within(&ALLOCATOR, bound, || {
        properties::format_decode_sealed(data)
    });
});

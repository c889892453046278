//! Arbitrary bytes as a data file: a table or a typed error, never a panic; a table survives a
//! round trip; and decoding never holds more memory than the input's size allows.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stratus::properties::{self, CountingAllocator};

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator::new();

fuzz_target!(|data: &[u8]| {
    let bound = properties::decode_allocation_bound(data.len());
    properties::assert_allocation_within(&ALLOCATOR, bound, || properties::format_decode(data));
});

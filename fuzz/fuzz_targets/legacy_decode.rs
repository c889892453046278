//! The Skytable 0.6 importer on arbitrary bytes: a table or a typed error, never a panic, and
//! never more memory than the input's size allows.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stratus::properties::{self, CountingAllocator};

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator::new();

fuzz_target!(|data: &[u8]| {
    let bound = properties::decode_allocation_bound(data.len());
    properties::assert_allocation_within(&ALLOCATOR, bound, || properties::legacy_decode(data));
});

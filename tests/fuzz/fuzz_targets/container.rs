//! Arbitrary bytes as a recorded file, plain, gzip or zstd: see `tickcast_fuzz::container`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tickcast_fuzz::container::CountingAlloc;

/// Counts heap bytes so the target can check the reader's memory bound.
#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

fuzz_target!(|data: &[u8]| tickcast_fuzz::container::check(data));

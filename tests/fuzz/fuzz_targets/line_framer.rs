//! A byte stream in random reads through the line framer: see `tickcast_fuzz::framer`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| tickcast_fuzz::framer::check(data));

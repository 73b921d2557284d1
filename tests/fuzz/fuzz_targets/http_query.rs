//! A query string and a `Last-Event-ID` through the edge's request parsers: see
//! `tickcast_fuzz::query`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| tickcast_fuzz::query::check(data));

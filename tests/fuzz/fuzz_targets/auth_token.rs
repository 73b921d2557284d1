//! Access tokens: a request's token lookup, verification, signed claims, minting: see
//! `tickcast_fuzz::auth`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| tickcast_fuzz::auth::check(data));

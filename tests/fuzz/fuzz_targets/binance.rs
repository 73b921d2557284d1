//! One line (or several, split at `\n`) as `Format::Binance`: see `tickcast_fuzz::decode`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tickcast::feed::venue::Format;

fuzz_target!(|data: &[u8]| tickcast_fuzz::decode::check(Format::Binance, data));

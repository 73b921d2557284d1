//! [`LineParser`]: one JSON line at a time onto simd-json's tape, behind the lossless number
//! view, lent to a reader.
//!
//! Each decoder owns one: the [`NativeDecoder`](super::NativeDecoder) and the venue
//! [`Decoder`](crate::feed::venue::Decoder), one per connection or file, on the feed task's
//! thread. The reader it lends the tape to (the native format's [`super::read_tick`], a venue's
//! decoding) turns the tape into ticks, reading values with [`Field`](super::Field). The
//! scratch buffer, simd-json's buffers and the tapes grow to the longest line seen and are then
//! reused from line to line (checked below); `benches/decode.rs` measures the whole decode.
//! This module must never round a number through `f64`, do I/O, log, or read the clock.

use std::fmt;

use simd_json::tape::Value;
use simd_json::{Buffers, ErrorType, INPUT_PADDING, Tape};

use super::number_view::{lossless_number_view, number_view};
use crate::tick::Reject;

/// Parses one JSON line at a time into simd-json's tape, behind the lossless number view, and
/// lends the parsed root to a reader. Shared by [`NativeDecoder`](super::NativeDecoder) and the
/// venue decoders ([`crate::feed::venue`]), so every format gets the same exact numbers, the
/// same syntax checks and the same buffer reuse.
///
/// Two ways to the same tape (see the lossless number view, `number_view.rs`): the direct parse
/// of the line, with every number node then rewritten from its source text, and, when that
/// parse fails, the text pre-pass followed by a second parse, which settles the reject exactly
/// as before.
pub(crate) struct LineParser {
    /// The line (direct parse) or its lossless number view (pre-pass), plus simd-json's padding.
    scratch: Vec<u8>,
    /// simd-json's working buffers for the direct parse, one nesting level shallower than
    /// `buffers` (see [`number_view`]).
    direct_buffers: Buffers,
    /// simd-json's working buffers for the pre-pass parse (structural indexes, strings).
    buffers: Buffers,
    /// The tape's allocation, kept empty between lines. Its lifetime is `'static` only because
    /// it is empty: `Tape::reset` re-brands the emptied allocation after each line.
    tape: Tape<'static>,
    /// The direct parse's tape rewritten by [`number_view`]; empty between lines, like `tape`.
    view: Tape<'static>,
    /// Containers [`number_view`] is inside of, reused from line to line.
    open: Vec<(usize, usize)>,
}

impl LineParser {
    /// A parser with small initial buffers; they grow to the longest line seen, then stay.
    pub(crate) fn new() -> Self {
        Self {
            scratch: Vec::new(),
            direct_buffers: Buffers::with_max_depth(128, simd_json::DEFAULT_MAX_DEPTH - 1),
            buffers: Buffers::default(),
            tape: Tape(Vec::new()),
            view: Tape(Vec::new()),
            open: Vec::new(),
        }
    }

    /// Parses one line (surrounding whitespace and a trailing `\r` tolerated) and hands its
    /// root value to `read`. Numbers appear on the tape as one-element arrays holding their
    /// source text (see the lossless number view), so [`Field::of`](super::Field::of) reads them.
    pub(crate) fn parse<R>(
        &mut self,
        line: &[u8],
        read: impl FnOnce(Value<'_, '_>) -> Result<R, Reject>,
    ) -> Result<R, Reject> {
        let line = line.trim_ascii();
        if line.is_empty() {
            return Err(Reject::InvalidJson);
        }

        // The direct parse: a plain copy of the line, no pre-pass. simd-json validates UTF-8
        // as it goes, so a line it accepts is valid UTF-8.
        self.scratch.clear();
        self.scratch.reserve(line.len() + INPUT_PADDING);
        self.scratch.extend_from_slice(line);
        self.scratch.resize(line.len() + INPUT_PADDING, 0);
        let mut tape = std::mem::replace(&mut self.tape, Tape(Vec::new()));
        let mut view = std::mem::replace(&mut self.view, Tape(Vec::new())).reset();
        let direct = simd_json::fill_tape_padded(
            &mut self.scratch,
            line.len(),
            &mut self.direct_buffers,
            &mut tape,
        )
        .is_ok()
            && number_view(
                &tape.0,
                line,
                self.direct_buffers.structural_indexes(),
                &mut self.open,
                &mut view.0,
            );
        if direct {
            let outcome = read(view.as_value());
            self.view = view.reset();
            self.tape = tape.reset();
            return outcome;
        }
        self.view = view.reset();
        let mut tape = tape.reset();

        // Not valid JSON as it stands (or too deep, or a number simd-json cannot hold): the
        // pre-pass and simd-json decide, exactly as for every line before the direct parse.
        // UTF-8 is checked first so a bad byte is reported as such wherever it is, rather than
        // as whatever syntax error the pre-pass or simd-json trips on first.
        if !line.is_ascii() && std::str::from_utf8(line).is_err() {
            return Err(Reject::InvalidUtf8);
        }
        lossless_number_view(line, &mut self.scratch)?;
        let len = self.scratch.len();
        // Capacity for the padding was reserved by the pre-pass: no allocation here.
        self.scratch.resize(len + INPUT_PADDING, 0);
        let outcome =
            match simd_json::fill_tape_padded(&mut self.scratch, len, &mut self.buffers, &mut tape)
            {
                Ok(()) => read(tape.as_value()),
                Err(error) => Err(match error.error() {
                    ErrorType::InvalidUtf8 => Reject::InvalidUtf8,
                    _ => Reject::InvalidJson,
                }),
            };
        // Empties the tape, ending its borrow of `scratch`, and keeps the allocation.
        self.tape = tape.reset();
        outcome
    }

    /// Where the buffers live and how big they are, for tests that check nothing is
    /// reallocated in the steady state.
    #[cfg(test)]
    pub(crate) fn allocations(&self) -> [usize; 8] {
        [
            self.scratch.as_ptr() as usize,
            self.scratch.capacity(),
            self.tape.0.as_ptr() as usize,
            self.tape.0.capacity(),
            self.view.0.as_ptr() as usize,
            self.view.0.capacity(),
            self.open.as_ptr() as usize,
            self.open.capacity(),
        ]
    }
}

impl fmt::Debug for LineParser {
    // Capacities only: the scratch buffer holds the last line, which may be hostile.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LineParser")
            .field("scratch_capacity", &self.scratch.capacity())
            .field("tape_capacity", &self.tape.0.capacity())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use crate::feed::native::NativeDecoder;

    #[test]
    fn steady_state_keeps_its_allocations() {
        let mut decoder = NativeDecoder::new();
        let line = br#"{"sym":"BTCUSDT","px":61837.63000000,"qty":0.5,"bid":61837.62,"ask":61837.63,"ts":1723075200123456789}"#;
        decoder.decode(line, 0).unwrap();
        let scratch = (
            decoder.parser.scratch.as_ptr(),
            decoder.parser.scratch.capacity(),
        );
        let tape = (
            decoder.parser.tape.0.as_ptr(),
            decoder.parser.tape.0.capacity(),
        );
        for rx in 0..1000 {
            decoder.decode(line, rx).unwrap();
            decoder
                .decode(br#"{"sym":"X","bid":1,"ts":1}"#, rx)
                .unwrap();
        }
        assert_eq!(
            (
                decoder.parser.scratch.as_ptr(),
                decoder.parser.scratch.capacity()
            ),
            scratch
        );
        assert_eq!(
            (
                decoder.parser.tape.0.as_ptr(),
                decoder.parser.tape.0.capacity()
            ),
            tape
        );
    }
}

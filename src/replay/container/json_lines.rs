//! [`Layout::JsonLines`]: a line that is one JSON document, object or array, with no receive
//! time.
//!
//! Place in the flow: called by the reader for each non-blank line of a file of this layout;
//! the whole line goes on as the payload.
//!
//! Must never parse the JSON: the first non-blank byte is all it looks at.
//!
//! [`Layout::JsonLines`]: super::Layout::JsonLines

use super::{LineReject, Outcome, first_non_blank};

/// [`Layout::JsonLines`]: the whole line, which must open a JSON object or array.
///
/// [`Layout::JsonLines`]: super::Layout::JsonLines
pub(super) fn json_line(line: &[u8]) -> Outcome {
    match first_non_blank(line) {
        Some(b'{' | b'[') => Outcome::Record { rx: None, start: 0 },
        _ => Outcome::Reject(LineReject::InvalidLine),
    }
}

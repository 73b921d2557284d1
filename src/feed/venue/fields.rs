//! Reading a venue message's fields: the values of the keys a decoder asks for, in one pass
//! over an object, and the envelope around them (labels, nested objects, arrays of objects).
//!
//! The per-venue files and the [`Decoder`](super::Decoder)'s format detection read the tape
//! that [`LineParser`](crate::feed::native::LineParser) lends them through these, on the feed
//! task's thread; values come back as [`Field`]s for `ticks.rs` and `timestamp.rs` to read. A
//! known key given twice is [`Reject::InvalidJson`], a broken envelope
//! [`Reject::MalformedMessage`] (see "Faults" in the [`super`] docs). Nothing here allocates,
//! and it must never decide what a message means: that is each venue's file.

use simd_json::tape::{Object, Value};

use crate::feed::native::Field;
use crate::tick::Reject;

/// Which of `keys` the object has, in one pass over its keys.
pub(super) fn keys_present<const N: usize>(object: &Object<'_, '_>, keys: [&str; N]) -> [bool; N] {
    let mut present = [false; N];
    for key in object.keys() {
        if let Some(slot) = keys.iter().position(|k| same_key(k, key)) {
            present[slot] = true;
        }
    }
    present
}

/// The values of `keys` in one pass over the object's pairs; absent keys are `None`. A key
/// given twice is [`Reject::InvalidJson`], as in the native format.
pub(super) fn pick<'t, 'i, const N: usize>(
    object: &Object<'t, 'i>,
    keys: [&str; N],
) -> Result<[Option<Value<'t, 'i>>; N], Reject> {
    let mut found = [None; N];
    for (key, value) in object.iter() {
        if let Some(slot) = keys.iter().position(|k| same_key(k, key)) {
            if found[slot].is_some() {
                return Err(Reject::InvalidJson);
            }
            found[slot] = Some(value);
        }
    }
    Ok(found)
}

/// `a == b`, with the length and the first byte compared before the bytes: most keys differ
/// there, and venue keys are short (Binance's are mostly one letter), where a `memcmp` call
/// costs more than the comparison.
#[inline]
fn same_key(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.as_bytes().first() == b.as_bytes().first() && a == b
}

/// A picked value as a [`Field`] (absent is [`Field::Unset`]).
pub(super) fn field<'i>(value: Option<Value<'_, 'i>>) -> Field<'i> {
    value.map_or(Field::Unset, Field::of)
}

/// A picked envelope value (`type`, `channel`, `event`, `method`) that must be a string when
/// present: `Ok(None)` when absent or `null`, [`Reject::MalformedMessage`] for another type.
pub(super) fn label<'i>(value: Option<Value<'_, 'i>>) -> Result<Option<&'i str>, Reject> {
    match field(value) {
        Field::Unset | Field::Null => Ok(None),
        Field::Text(text) => Ok(Some(text)),
        Field::Number(_) | Field::Other => Err(Reject::MalformedMessage),
    }
}

/// A picked value that must be an object, else [`Reject::MalformedMessage`].
pub(super) fn object_of<'t, 'i>(value: Option<Value<'t, 'i>>) -> Result<Object<'t, 'i>, Reject> {
    value
        .and_then(|v| v.as_object())
        .ok_or(Reject::MalformedMessage)
}

/// A picked value that must be an array of objects, visited in order; anything else is
/// [`Reject::MalformedMessage`]. (A JSON number reaches here as a one-string array from the
/// lossless number view, and fails the object check like any other non-object.)
pub(super) fn each_object<'t, 'i>(
    value: Option<Value<'t, 'i>>,
    mut visit: impl FnMut(Object<'t, 'i>) -> Result<(), Reject>,
) -> Result<(), Reject> {
    let array = value
        .and_then(|v| v.as_array())
        .ok_or(Reject::MalformedMessage)?;
    for item in array.iter() {
        visit(item.as_object().ok_or(Reject::MalformedMessage)?)?;
    }
    Ok(())
}

/// The field unless it is absent or `null`.
pub(super) fn present(value: Field<'_>) -> Option<Field<'_>> {
    match value {
        Field::Unset | Field::Null => None,
        value => Some(value),
    }
}

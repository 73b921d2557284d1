//! Venue times: epoch counts in a venue's unit and RFC 3339 strings, read into ns since the
//! Unix epoch and held to the years 2000 to 2099.
//!
//! Called by the per-venue files, on the feed task's thread, for each tick's
//! [`Tick::ts`](crate::tick::Tick::ts); which time each venue's messages use is "Timestamps" in
//! the [`super`] docs. A time outside the window is [`Reject::BadTimestamp`]: a decoder has no
//! clock, and anything outside is a unit or parsing mistake, not a market event. This module
//! must never read the clock, and never round a time through `f64`: digits are read as
//! integers.

use crate::feed::native::{self, Field};
use crate::tick::Reject;

pub(super) const NANOS_PER_SEC: u64 = 1_000_000_000;
/// ns per ms, for Binance's epoch milliseconds.
pub(super) const NANOS_PER_MILLI: u64 = 1_000_000;
/// ns per µs, for Bitstamp's `microtimestamp`.
pub(super) const NANOS_PER_MICRO: u64 = 1_000;
/// 2000-01-01T00:00:00Z: no venue we decode existed before; an earlier time is a unit mistake.
const MIN_TIMESTAMP: u64 = 946_684_800 * NANOS_PER_SEC;
/// 2100-01-01T00:00:00Z, exclusive: without a clock, the widest bound that still catches a
/// microsecond value read as milliseconds.
const MAX_TIMESTAMP: u64 = 4_102_444_800 * NANOS_PER_SEC;

/// `ns` when it lies in the accepted years, else [`Reject::BadTimestamp`].
fn plausible(ns: u64) -> Result<u64, Reject> {
    if (MIN_TIMESTAMP..MAX_TIMESTAMP).contains(&ns) {
        Ok(ns)
    } else {
        Err(Reject::BadTimestamp)
    }
}

/// An integer count of `unit_ns` since the epoch, as a JSON number or a string of digits
/// (Bitstamp quotes its times), converted to ns.
pub(super) fn epoch_time(value: Field<'_>, unit_ns: u64) -> Result<u64, Reject> {
    match value {
        Field::Unset | Field::Null => Err(Reject::MissingTimestamp),
        Field::Number(text) | Field::Text(text) => {
            let count = native::parse_timestamp(text)?;
            plausible(count.checked_mul(unit_ns).ok_or(Reject::BadTimestamp)?)
        }
        Field::Other => Err(Reject::BadTimestamp),
    }
}

/// An RFC 3339 time string (`2021-04-17T16:43:30.244075Z`), converted to ns since the epoch.
pub(super) fn rfc3339_time(value: Field<'_>) -> Result<u64, Reject> {
    match value {
        Field::Unset | Field::Null => Err(Reject::MissingTimestamp),
        Field::Text(text) => plausible(parse_rfc3339(text.as_bytes()).ok_or(Reject::BadTimestamp)?),
        Field::Number(_) | Field::Other => Err(Reject::BadTimestamp),
    }
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)` into ns since the Unix epoch. Fraction
/// digits past the ninth are dropped (below a nanosecond); a leap second (`:60`) is refused,
/// as no venue we decode sends one. `None` for anything else or a time before 1970.
fn parse_rfc3339(text: &[u8]) -> Option<u64> {
    let number = |at: usize, len: usize| -> Option<u32> {
        let digits = text.get(at..at + len)?;
        digits.iter().try_fold(0u32, |n, &b| {
            b.is_ascii_digit().then(|| n * 10 + u32::from(b - b'0'))
        })
    };
    let byte = |at: usize| text.get(at).copied();

    let year = number(0, 4)?;
    let month = number(5, 2)?;
    let day = number(8, 2)?;
    let hour = number(11, 2)?;
    let minute = number(14, 2)?;
    let second = number(17, 2)?;
    if byte(4) != Some(b'-')
        || byte(7) != Some(b'-')
        || !matches!(byte(10), Some(b'T' | b't'))
        || byte(13) != Some(b':')
        || byte(16) != Some(b':')
    {
        return None;
    }
    if !(1..=12).contains(&month)
        || day == 0
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }

    let mut at = 19;
    let mut nanos: u64 = 0;
    if byte(at) == Some(b'.') {
        at += 1;
        let start = at;
        while let Some(b) = byte(at).filter(u8::is_ascii_digit) {
            if at - start < 9 {
                nanos = nanos * 10 + u64::from(b - b'0');
            }
            at += 1;
        }
        let digits = at - start;
        if digits == 0 {
            return None;
        }
        for _ in digits.min(9)..9 {
            nanos *= 10;
        }
    }
    // Seconds east of UTC: subtracted to get UTC.
    let offset: i64 = match byte(at) {
        Some(b'Z' | b'z') => {
            at += 1;
            0
        }
        Some(sign @ (b'+' | b'-')) => {
            let hours = number(at + 1, 2)?;
            let minutes = number(at + 4, 2)?;
            if byte(at + 3) != Some(b':') || hours > 23 || minutes > 59 {
                return None;
            }
            at += 6;
            let seconds = i64::from(hours * 3600 + minutes * 60);
            if sign == b'-' { -seconds } else { seconds }
        }
        _ => return None,
    };
    if at != text.len() {
        return None;
    }

    let days = days_from_civil(i64::from(year), month, day);
    let seconds = days * 86_400 + i64::from(hour * 3600 + minute * 60 + second) - offset;
    let seconds = u64::try_from(seconds).ok()?;
    seconds.checked_mul(NANOS_PER_SEC)?.checked_add(nanos)
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to the given proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`), exact for every year this parser accepts.
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = i64::from((month + 9) % 12);
    let day_of_year = (153 * month_from_march + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_times() {
        let z = 1_618_677_810_244_075_000;
        for (text, ns) in [
            ("2021-04-17T16:43:30.244075Z", z),
            ("2021-04-17t16:43:30.244075z", z),
            ("2021-04-17T18:43:30.244075+02:00", z),
            ("2021-04-17T13:13:30.244075-03:30", z),
            ("2021-04-17T16:43:30.244075000Z", z),
            // Digits below a nanosecond are dropped, not rounded.
            ("2021-04-17T16:43:30.244075000999Z", z),
            ("2021-04-17T16:43:30.2Z", 1_618_677_810_200_000_000),
            ("2021-04-17T16:43:30Z", 1_618_677_810_000_000_000),
            ("2023-02-09T20:30:37.167359596Z", 1_675_974_637_167_359_596),
            ("2024-02-29T12:00:00Z", 1_709_208_000_000_000_000),
            ("1970-01-01T00:00:00Z", 0),
            ("2000-03-01T00:00:00Z", 11_017 * 86_400 * NANOS_PER_SEC),
        ] {
            assert_eq!(parse_rfc3339(text.as_bytes()), Some(ns), "{text}");
        }
        for text in [
            "",
            "2021-04-17",
            "2021-04-17T16:43:30",
            "2021-04-17 16:43:30Z",
            "2021-04-17T16:43:30.Z",
            "2021-04-17T16:43:30ZZ",
            "2021-04-17T16:43:30+0200",
            "2021-04-17T16:43:30+24:00",
            "2021-04-17T16:43:30 Z",
            "21-04-17T16:43:30Z",
            "2021-4-17T16:43:30Z",
            "2021-00-17T16:43:30Z",
            "2021-13-17T16:43:30Z",
            "2021-04-31T16:43:30Z",
            "2023-02-29T16:43:30Z",
            "2100-02-29T16:43:30Z",
            "2021-04-17T24:00:00Z",
            "2021-04-17T16:60:30Z",
            "2021-04-17T16:43:60Z",
            "2021-04-17T16:43:3aZ",
            "+021-04-17T16:43:30Z",
            "1969-12-31T23:59:59Z",
            "1970-01-01T00:00:00+00:01",
        ] {
            assert_eq!(parse_rfc3339(text.as_bytes()), None, "{text}");
        }
    }

    #[test]
    fn venue_times_must_fall_in_this_century() {
        let rfc = |text| rfc3339_time(Field::Text(text));
        assert_eq!(
            rfc("1999-12-31T23:59:59.999999999Z"),
            Err(Reject::BadTimestamp)
        );
        assert_eq!(rfc("2000-01-01T00:00:00Z"), Ok(MIN_TIMESTAMP));
        assert_eq!(rfc("2099-12-31T23:59:59.999999999Z"), Ok(MAX_TIMESTAMP - 1));
        assert_eq!(rfc("2100-01-01T00:00:00Z"), Err(Reject::BadTimestamp));
        assert_eq!(rfc3339_time(Field::Unset), Err(Reject::MissingTimestamp));
        assert_eq!(rfc3339_time(Field::Null), Err(Reject::MissingTimestamp));
        assert_eq!(rfc3339_time(Field::Number("1")), Err(Reject::BadTimestamp));

        let ms = |text| epoch_time(Field::Number(text), NANOS_PER_MILLI);
        assert_eq!(ms("946684800000"), Ok(MIN_TIMESTAMP));
        assert_eq!(ms("946684799999"), Err(Reject::BadTimestamp));
        assert_eq!(ms("4102444799999"), Ok(MAX_TIMESTAMP - NANOS_PER_MILLI));
        assert_eq!(ms("4102444800000"), Err(Reject::BadTimestamp));
        assert_eq!(ms("0"), Err(Reject::BadTimestamp));
        assert_eq!(ms("18446744073709551615"), Err(Reject::BadTimestamp));
        assert_eq!(
            epoch_time(Field::Text("1641343699596000"), NANOS_PER_MICRO),
            Ok(1_641_343_699_596_000_000)
        );
        assert_eq!(
            epoch_time(Field::Text(" 1641343699"), NANOS_PER_SEC),
            Err(Reject::BadTimestamp)
        );
        assert_eq!(
            epoch_time(Field::Other, NANOS_PER_SEC),
            Err(Reject::BadTimestamp)
        );
    }
}

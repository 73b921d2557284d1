//! A token's claims: read from its verified JSON payload, checked, and turned into the
//! [`Grant`] a subscription runs under.
//!
//! Claims read (any other is ignored):
//!
//! | claim | rule |
//! |---|---|
//! | `sub` | required string, 1 to [`MAX_SUB_LEN`] bytes, no control characters (it goes into logs) |
//! | `exp` | required whole number of Unix seconds; refused once `now >= exp + leeway` |
//! | `nbf` | optional whole number; refused while `now + leeway < nbf` |
//! | `iat` | optional whole number (not compared with the clock) |
//! | `iss` | optional string; must equal the configured issuer, if one is |
//! | `aud` | optional string or array of strings; must contain the configured audience, if one is |
//! | `symbols` | required array of patterns ([`super::Entitlements`]), at most [`super::MAX_PATTERNS`] |
//! | `tier` | optional `"realtime"` (the default) or `"delayed"` |
//! | `delay_s` | with `"delayed"` only, and required there: 1 to 86400 (one day) |
//! | `max_conns` | optional, 1 to [`MAX_CONNS`]: concurrent streams allowed for this token |
//!
//! A JSON `null` counts as absent. Parsing ([`parse`]) says exactly what is wrong
//! ([`ClaimError`], shown by `tickcast token`); the verifier reduces that to
//! [`Denied::BadClaims`] so a client learns nothing more. The time, issuer and audience
//! checks ([`Claims::check`]) come after, each with its own [`Denied`] reason.
//! Runs once per subscription, with `now` given: this file never reads the clock.

use std::time::Duration;

use serde_json::{Map, Value};

use super::entitlements::{Entitlements, PatternError};
use super::{AuthSettings, Denied};

/// Longest `sub`, in bytes.
pub const MAX_SUB_LEN: usize = 256;

/// Longest delay of the delayed tier: one day.
pub const MAX_DELAY: Duration = Duration::from_secs(86_400);

/// Largest `max_conns`.
pub const MAX_CONNS: u32 = 100_000;

/// What a verified token allows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    /// Who the token was issued to (`sub`): for logs and per-subject limits.
    pub sub: String,
    /// When the token expires (`exp`, Unix seconds, without leeway); the edge may end the
    /// stream then.
    pub exp: u64,
    /// Which symbols may be subscribed to.
    pub entitlements: Entitlements,
    /// Live or delayed data.
    pub tier: Tier,
    /// At most this many concurrent streams for this token, when the token says so.
    pub max_conns: Option<u32>,
}

/// How fresh the data a token allows is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Tier {
    /// Every tick as it arrives.
    #[default]
    Realtime,
    /// Ticks held back by `delay` (whole seconds, 1 s to [`MAX_DELAY`]).
    Delayed {
        /// How long each tick is held back.
        delay: Duration,
    },
}

impl Tier {
    /// How long ticks are held back: zero for realtime.
    pub fn delay(self) -> Duration {
        match self {
            Tier::Realtime => Duration::ZERO,
            Tier::Delayed { delay } => delay,
        }
    }
}

/// Why a token's claims were refused, in full (the verifier answers [`Denied::BadClaims`]).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ClaimError {
    /// A required claim is absent (or `null`).
    #[error("the `{0}` claim is missing")]
    Missing(&'static str),
    /// A claim has the wrong type or is out of range.
    #[error("the `{claim}` claim must be {expected}")]
    Invalid {
        /// The claim.
        claim: &'static str,
        /// What it must be.
        expected: &'static str,
    },
    /// A `symbols` pattern is invalid, or there are too many.
    #[error("the `symbols` claim: {0}")]
    Symbols(#[from] PatternError),
}

/// The claims of a token whose signature verified, parsed but not yet checked against the
/// clock and the configured issuer and audience.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Claims {
    grant: Grant,
    nbf: Option<u64>,
    iss: Option<String>,
    /// Empty when the token has no `aud`.
    aud: Vec<String>,
}

const SECONDS: &str = "a whole number of seconds since the Unix epoch";

/// Reads the claims from a token's JSON payload (module docs).
pub(crate) fn parse(claims: &Map<String, Value>) -> Result<Claims, ClaimError> {
    let get = |name: &str| claims.get(name).filter(|value| !value.is_null());
    let invalid = |claim, expected| ClaimError::Invalid { claim, expected };

    let sub = match get("sub") {
        None => return Err(ClaimError::Missing("sub")),
        Some(Value::String(sub))
            if !sub.is_empty()
                && sub.len() <= MAX_SUB_LEN
                && !sub.chars().any(char::is_control) =>
        {
            sub.clone()
        }
        Some(_) => {
            return Err(invalid(
                "sub",
                "a string of 1 to 256 bytes without control characters",
            ));
        }
    };
    let seconds = |claim| match get(claim) {
        None => Ok(None),
        Some(value) => value.as_u64().map(Some).ok_or(invalid(claim, SECONDS)),
    };
    let exp = seconds("exp")?.ok_or(ClaimError::Missing("exp"))?;
    let nbf = seconds("nbf")?;
    seconds("iat")?;
    let iss = match get("iss") {
        None => None,
        Some(Value::String(iss)) => Some(iss.clone()),
        Some(_) => return Err(invalid("iss", "a string")),
    };
    let aud = match get("aud") {
        None => Vec::new(),
        Some(Value::String(aud)) => vec![aud.clone()],
        Some(Value::Array(list)) => list
            .iter()
            .map(|aud| aud.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or(invalid("aud", "a string or an array of strings"))?,
        Some(_) => return Err(invalid("aud", "a string or an array of strings")),
    };
    let entitlements = match get("symbols") {
        None => return Err(ClaimError::Missing("symbols")),
        Some(Value::Array(list)) => {
            let patterns = list
                .iter()
                .map(Value::as_str)
                .collect::<Option<Vec<&str>>>()
                .ok_or(invalid("symbols", "an array of strings"))?;
            Entitlements::from_patterns(&patterns)?
        }
        Some(_) => return Err(invalid("symbols", "an array of strings")),
    };
    let tier = parse_tier(get("tier"), get("delay_s"))?;
    let max_conns = match get("max_conns") {
        None => None,
        Some(value) => Some(
            value
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .filter(|n| (1..=MAX_CONNS).contains(n))
                .ok_or(invalid("max_conns", "a whole number from 1 to 100000"))?,
        ),
    };
    Ok(Claims {
        grant: Grant {
            sub,
            exp,
            entitlements,
            tier,
            max_conns,
        },
        nbf,
        iss,
        aud,
    })
}

/// `tier` and `delay_s`: a delay is given exactly when the tier is delayed.
fn parse_tier(tier: Option<&Value>, delay_s: Option<&Value>) -> Result<Tier, ClaimError> {
    let delayed = match tier {
        None => false,
        Some(Value::String(name)) if name == "realtime" => false,
        Some(Value::String(name)) if name == "delayed" => true,
        Some(_) => {
            return Err(ClaimError::Invalid {
                claim: "tier",
                expected: "\"realtime\" or \"delayed\"",
            });
        }
    };
    let bad_delay = ClaimError::Invalid {
        claim: "delay_s",
        expected: "a whole number of seconds from 1 to 86400, with tier \"delayed\" only",
    };
    match (delayed, delay_s) {
        (false, None) => Ok(Tier::Realtime),
        (false, Some(_)) => Err(bad_delay),
        (true, None) => Err(ClaimError::Missing("delay_s")),
        (true, Some(value)) => value
            .as_u64()
            .filter(|s| (1..=MAX_DELAY.as_secs()).contains(s))
            .map(|s| Tier::Delayed {
                delay: Duration::from_secs(s),
            })
            .ok_or(bad_delay),
    }
}

impl Claims {
    /// Checks the times against `now_unix_s` (with the leeway), then the issuer and the
    /// audience when they are configured.
    pub(crate) fn check(&self, settings: &AuthSettings, now_unix_s: u64) -> Result<(), Denied> {
        let leeway = settings.leeway.as_secs();
        if now_unix_s >= self.grant.exp.saturating_add(leeway) {
            return Err(Denied::Expired);
        }
        if let Some(nbf) = self.nbf
            && now_unix_s.saturating_add(leeway) < nbf
        {
            return Err(Denied::NotYetValid);
        }
        if let Some(issuer) = &settings.issuer
            && self.iss.as_ref() != Some(issuer)
        {
            return Err(Denied::WrongIssuer);
        }
        if let Some(audience) = &settings.audience
            && !self.aud.contains(audience)
        {
            return Err(Denied::WrongAudience);
        }
        Ok(())
    }

    /// What the token allows.
    pub(crate) fn into_grant(self) -> Grant {
        self.grant
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::auth::fixtures::{NOW, claims, hs256, sign_hs256};

    /// The answer a client gets for these claims, signed with the right key.
    fn verify(claims: &Value) -> Result<Grant, Denied> {
        hs256().verify(&sign_hs256(claims), NOW)
    }

    /// The valid claims with `name` set to `value` (`Value::Null`: removed).
    fn with(name: &str, value: Value) -> Value {
        let mut claims = claims();
        let map = claims.as_object_mut().expect("claims object");
        if value.is_null() {
            map.remove(name);
        } else {
            map.insert(name.into(), value);
        }
        claims
    }

    fn parse_value(claims: &Value) -> Result<Claims, ClaimError> {
        parse(claims.as_object().expect("claims object"))
    }

    #[test]
    fn valid_claims_make_the_grant() {
        let grant = verify(&claims()).unwrap();
        assert_eq!(grant.sub, "alice");
        assert_eq!(grant.exp, NOW + 3600);
        assert_eq!(grant.tier, Tier::Realtime);
        assert_eq!(grant.max_conns, None);
        assert_eq!(
            grant.entitlements,
            Entitlements::from_patterns(&["BINANCE:*", "COINBASE:BTC-USD"]).unwrap()
        );

        let mut full = with("tier", json!("delayed"));
        let map = full.as_object_mut().unwrap();
        map.insert("delay_s".into(), json!(900));
        map.insert("max_conns".into(), json!(5));
        map.insert("iat".into(), json!(NOW - 10));
        map.insert("nbf".into(), json!(NOW - 10));
        map.insert("jti".into(), json!("ignored"));
        let grant = verify(&full).unwrap();
        assert_eq!(
            grant.tier,
            Tier::Delayed {
                delay: Duration::from_secs(900)
            }
        );
        assert_eq!(grant.tier.delay(), Duration::from_secs(900));
        assert_eq!(grant.max_conns, Some(5));
        assert_eq!(
            verify(&with("tier", json!("realtime"))).unwrap().tier,
            Tier::Realtime
        );
    }

    #[test]
    fn null_optional_claims_count_as_absent() {
        for name in ["nbf", "iat", "iss", "aud", "tier", "delay_s", "max_conns"] {
            assert!(verify(&with(name, json!(null))).is_ok(), "{name}");
            let mut claims = claims();
            claims[name] = Value::Null;
            assert!(verify(&claims).is_ok(), "{name}: null");
        }
    }

    #[test]
    fn missing_claims_are_bad_claims() {
        for name in ["sub", "exp", "symbols"] {
            let claims = with(name, Value::Null);
            assert_eq!(verify(&claims), Err(Denied::BadClaims), "{name}");
            assert_eq!(parse_value(&claims), Err(ClaimError::Missing(name)));
        }
        let delayed = with("tier", json!("delayed"));
        assert_eq!(verify(&delayed), Err(Denied::BadClaims));
        assert_eq!(parse_value(&delayed), Err(ClaimError::Missing("delay_s")));
    }

    #[test]
    fn invalid_claims_are_bad_claims() {
        // One pattern over the limit (repeated, so that the token stays under 8 KiB).
        let many = vec!["A"; crate::auth::MAX_PATTERNS + 1];
        let cases = [
            ("sub", json!("")),
            ("sub", json!(42)),
            ("sub", json!("a".repeat(MAX_SUB_LEN + 1))),
            ("sub", json!("alice\nadmin")),
            ("sub", json!(["alice"])),
            ("exp", json!("1750003600")),
            ("exp", json!(-1)),
            ("exp", json!(1.75e9)),
            ("exp", json!(18_446_744_073_709_551_616_f64)),
            ("nbf", json!("soon")),
            ("iat", json!(true)),
            ("iss", json!(7)),
            ("aud", json!(7)),
            ("aud", json!(["tickcast", 7])),
            ("symbols", json!("BINANCE:*")),
            ("symbols", json!([1])),
            ("symbols", json!(["A*B"])),
            ("symbols", json!(["BINANCE:BTCUSDT", ""])),
            ("symbols", json!(many)),
            ("tier", json!("premium")),
            ("tier", json!(1)),
            ("delay_s", json!(60)),
            ("max_conns", json!(0)),
            ("max_conns", json!(MAX_CONNS + 1)),
            ("max_conns", json!(-1)),
            ("max_conns", json!("3")),
            ("max_conns", json!(u64::from(u32::MAX) + 1)),
        ];
        for (name, value) in cases {
            let claims = with(name, value.clone());
            assert_eq!(verify(&claims), Err(Denied::BadClaims), "{name}: {value}");
            assert!(parse_value(&claims).is_err(), "{name}: {value}");
        }
        for delay in [json!(0), json!(86_401), json!("60"), json!(1.5)] {
            let mut claims = with("tier", json!("delayed"));
            claims["delay_s"] = delay.clone();
            assert_eq!(verify(&claims), Err(Denied::BadClaims), "delay_s {delay}");
        }
        assert!(verify(&with("sub", json!("a".repeat(MAX_SUB_LEN)))).is_ok());
        assert!(verify(&with("max_conns", json!(MAX_CONNS))).is_ok());
        assert!(
            verify(&with("symbols", json!([])))
                .unwrap()
                .entitlements
                .is_nothing()
        );
    }

    #[test]
    fn claim_errors_say_what_is_wrong() {
        let bad = parse_value(&with("symbols", json!(["BINANCE:*", "A*B"])));
        assert_eq!(
            bad.unwrap_err().to_string(),
            "the `symbols` claim: pattern \"A*B\": a `*` may only end a pattern"
        );
        let bad = parse_value(&with("max_conns", json!(0)));
        assert_eq!(
            bad.unwrap_err().to_string(),
            "the `max_conns` claim must be a whole number from 1 to 100000"
        );
        assert_eq!(
            ClaimError::Missing("exp").to_string(),
            "the `exp` claim is missing"
        );
    }
}

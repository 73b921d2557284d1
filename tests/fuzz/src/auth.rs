//! Checks of tickcast's access tokens ([`tickcast::auth`]): finding a token in a request and
//! verifying it, for any input. Keys: the committed HS256 test secret
//! (`tests/fixtures/auth/hs256-secret.txt`, test-only), read once.
//!
//! Input: byte 0 picks the mode (its value modulo 4), the rest is the mode's input.
//!
//! - 0, request: the rest cut at its first three `\n` into an `Authorization` value, a query
//!   string (lossy UTF-8) and two `Cookie` values (a part that is not a valid header value is
//!   left out), looked up with cookie `tc`. Must hold: [`token_from_request`] and
//!   [`find_token`] agree; a token found is 1 to [`MAX_TOKEN_LEN`] bytes of RFC 6750
//!   `b64token` characters; whether a token is accepted, and which, does not depend on the
//!   order of the two `Cookie` headers; `TooLarge` only when some input is longer than
//!   [`MAX_TOKEN_LEN`].
//! - 1, token: the rest (lossy UTF-8) as a token to [`Verifier::verify`]: never `Ok` (nobody
//!   forges HMAC-SHA256 by mutation, and no seed holds a signed token), `Missing` exactly
//!   when empty, `TooLarge` exactly when longer than [`MAX_TOKEN_LEN`].
//! - 2, claims: the rest as JSON (skipped when it does not parse), signed HS256 with the test
//!   key as a token's payload, and verified. The signature being right, the answer is never
//!   `UnknownKey`, `WrongAlgorithm` or `BadSignature`; `Malformed` exactly for a payload
//!   that is not an object; with no issuer or audience configured, never `WrongIssuer` or
//!   `WrongAudience`. On `Ok`, the grant is what the claims say: `sub`, `exp` (not past,
//!   leeway included), `nbf` (not ahead), `max_conns`, the tier, and every symbol a pattern
//!   names (exactly, or as its prefix) is allowed.
//! - 3, mint: the rest (lossy UTF-8) as a subject line, then one symbol pattern per line.
//!   [`Minter::mint`] succeeds exactly when the subject is valid (1 to [`MAX_SUB_LEN`] bytes,
//!   no control character) and [`Entitlements::from_patterns`] accepts the patterns, unless
//!   the token would be too large; a minted token verifies, with that subject and those
//!   entitlements.

use std::borrow::Cow;
use std::path::PathBuf;
use std::sync::LazyLock;
use std::time::Duration;

use hyper::HeaderMap;
use hyper::header::{self, HeaderValue};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::Value;
use tickcast::auth::{
    AuthError, AuthSettings, Denied, Entitlements, KeySource, MAX_SUB_LEN, MAX_TOKEN_LEN,
    MintRequest, Minter, Tier, Verifier, find_token, token_from_request,
};
use tickcast::tick::Symbol;

/// The fixed "now" of every check, Unix seconds.
const NOW: u64 = 1_750_000_000;

/// The leeway of the verifier (the settings' default).
const LEEWAY_S: u64 = 30;

/// The cookie looked for in mode 0.
const COOKIE: &str = "tc";

fn secret_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/auth/hs256-secret.txt")
}

static VERIFIER: LazyLock<Verifier> = LazyLock::new(|| {
    let verifier = Verifier::load(AuthSettings::new(KeySource::Key(secret_path())));
    verifier.expect("the HS256 test secret loads")
});

static MINTER: LazyLock<Minter> =
    LazyLock::new(|| Minter::load(&secret_path()).expect("the HS256 test secret loads"));

/// The test secret as the verifier uses it: the file without its trailing newline.
static SIGNING_KEY: LazyLock<EncodingKey> = LazyLock::new(|| {
    let bytes = std::fs::read(secret_path()).expect("the HS256 test secret reads");
    let secret = bytes.strip_suffix(b"\n").unwrap_or(&bytes);
    EncodingKey::from_secret(secret).expect("a non-empty secret")
});

/// Runs the mode byte 0 picks (module docs).
pub fn check(data: &[u8]) {
    let [mode, ref rest @ ..] = *data else {
        return;
    };
    match mode % 4 {
        0 => request(rest),
        1 => token(rest),
        2 => claims(rest),
        _ => mint(rest),
    }
}

fn is_b64token(token: &str) -> bool {
    let body = token.trim_end_matches('=');
    !body.is_empty()
        && body.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/')
        })
}

fn request(data: &[u8]) {
    let mut parts = data.splitn(4, |&b| b == b'\n');
    let authorization = parts.next().unwrap_or_default();
    let query = String::from_utf8_lossy(parts.next().unwrap_or_default());
    let cookies = [
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    ];
    let build = |cookies: [&[u8]; 2]| {
        let mut headers = HeaderMap::new();
        if let Ok(value) = HeaderValue::from_bytes(authorization) {
            headers.append(header::AUTHORIZATION, value);
        }
        for cookie in cookies {
            if let Ok(value) = HeaderValue::from_bytes(cookie) {
                headers.append(header::COOKIE, value);
            }
        }
        headers
    };
    let headers = build(cookies);
    let found = find_token(&headers, &query, Some(COOKIE));
    let token = token_from_request(&headers, &query, Some(COOKIE));
    assert_eq!(
        found.clone().map(|found| found.map(|found| found.token)),
        token,
        "find_token and token_from_request disagree"
    );
    match &token {
        Ok(Some(token)) => {
            assert!(
                token.len() <= MAX_TOKEN_LEN,
                "a token of {} bytes",
                token.len()
            );
            assert!(is_b64token(token), "not a b64token: {token:?}");
        }
        Ok(None) => {}
        Err(Denied::TooLarge) => {
            let longest = [
                authorization.len(),
                query.len(),
                cookies[0].len(),
                cookies[1].len(),
            ];
            assert!(
                longest.iter().any(|&len| len > MAX_TOKEN_LEN),
                "TooLarge with every input at most {MAX_TOKEN_LEN} bytes"
            );
        }
        Err(denied) => assert_eq!(*denied, Denied::Malformed, "unexpected refusal"),
    }
    // Accepted in one order, accepted in the other, with the same token (which refusal comes
    // first may depend on the order: the lookup stops at the first).
    let swapped = build([cookies[1], cookies[0]]);
    let again = token_from_request(&swapped, &query, Some(COOKIE));
    match (again, token) {
        (Ok(again), Ok(token)) => assert_eq!(
            again.map(Cow::into_owned),
            token.map(Cow::into_owned),
            "the Cookie headers' order changes the token"
        ),
        (Err(_), Err(_)) => {}
        (again, token) => panic!("the Cookie headers' order matters: {again:?} {token:?}"),
    }
}

fn token(data: &[u8]) {
    let token = String::from_utf8_lossy(data);
    let result = VERIFIER.verify(&token, NOW);
    let denied = result.expect_err("an unsigned input verified");
    if token.is_empty() {
        assert_eq!(denied, Denied::Missing);
    } else if token.len() > MAX_TOKEN_LEN {
        assert_eq!(denied, Denied::TooLarge);
    } else {
        assert!(
            !matches!(denied, Denied::Missing | Denied::TooLarge),
            "{denied:?}"
        );
    }
}

fn claims(data: &[u8]) {
    let Ok(claims) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &SIGNING_KEY)
        .expect("any JSON value signs");
    let result = VERIFIER.verify(&token, NOW);
    if token.len() > MAX_TOKEN_LEN {
        assert_eq!(result, Err(Denied::TooLarge));
        return;
    }
    let Some(map) = claims.as_object() else {
        assert_eq!(
            result,
            Err(Denied::Malformed),
            "a payload that is not an object"
        );
        return;
    };
    let grant = match result {
        Ok(grant) => grant,
        Err(Denied::BadClaims | Denied::Expired | Denied::NotYetValid) => return,
        Err(denied) => panic!("a correctly signed object refused as {denied:?}"),
    };
    let field = |name: &str| map.get(name).filter(|value| !value.is_null());
    assert_eq!(
        Some(grant.sub.as_str()),
        field("sub").and_then(Value::as_str)
    );
    assert_eq!(Some(grant.exp), field("exp").and_then(Value::as_u64));
    assert!(
        NOW < grant.exp.saturating_add(LEEWAY_S),
        "expired, yet accepted"
    );
    if let Some(nbf) = field("nbf") {
        let nbf = nbf.as_u64().expect("an accepted nbf is a whole number");
        assert!(NOW + LEEWAY_S >= nbf, "not yet valid, yet accepted");
    }
    assert_eq!(
        grant.max_conns.map(u64::from),
        field("max_conns").and_then(Value::as_u64)
    );
    let delayed = field("tier").and_then(Value::as_str) == Some("delayed");
    let delay = field("delay_s")
        .and_then(Value::as_u64)
        .map(Duration::from_secs);
    match grant.tier {
        Tier::Realtime => assert!(!delayed && delay.is_none()),
        Tier::Delayed { delay: given } => assert!(delayed && delay == Some(given)),
    }
    let patterns = field("symbols").and_then(Value::as_array).expect("symbols");
    for pattern in patterns {
        let pattern = pattern.as_str().expect("an accepted pattern is a string");
        let named = pattern.strip_suffix('*').unwrap_or(pattern);
        if let Ok(symbol) = Symbol::new(named) {
            assert!(
                grant.entitlements.allows(&symbol),
                "{pattern:?} not allowed"
            );
        } else {
            assert_eq!(pattern, "*", "an accepted pattern that names no symbol");
            assert!(grant.entitlements.is_everything());
        }
    }
}

fn mint(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut lines = text.split('\n');
    let sub = lines.next().unwrap_or_default().to_owned();
    let symbols: Vec<String> = lines.map(str::to_owned).collect();
    let request = MintRequest::new(sub, symbols, Duration::from_secs(600));
    let valid_sub = !request.sub.is_empty()
        && request.sub.len() <= MAX_SUB_LEN
        && !request.sub.chars().any(char::is_control);
    let entitlements = Entitlements::from_patterns(&request.symbols);
    match MINTER.mint(&request, NOW) {
        Ok(token) => {
            assert!(
                valid_sub,
                "minted with an invalid subject {:?}",
                request.sub
            );
            let entitlements = entitlements.expect("minted with invalid patterns");
            let grant = VERIFIER
                .verify(&token, NOW)
                .expect("a minted token verifies");
            assert_eq!(grant.sub, request.sub);
            assert_eq!(grant.entitlements, entitlements);
            assert_eq!(grant.exp, NOW + 600);
        }
        Err(AuthError::TooLarge { len }) => assert!(len > MAX_TOKEN_LEN),
        Err(AuthError::Request(_)) => {
            assert!(
                !valid_sub || entitlements.is_err(),
                "a valid request refused"
            )
        }
        Err(other) => panic!("mint failed: {other}"),
    }
}

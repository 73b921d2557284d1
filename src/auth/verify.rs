//! The [`Verifier`]: the configured keys behind an `ArcSwap`, and the check of one token.
//!
//! Built once at start-up from [`AuthSettings`]; shared read-only by the shard threads, which
//! call [`Verifier::verify`] once per subscription. [`Verifier::reload`] (SIGHUP, control
//! thread) reads the key files again and swaps the keys in whole: a reader loads the current
//! set without a lock, and a verification already running finishes with the set it loaded.
//!
//! One token, in this order (the first failure is the answer):
//! 1. empty: [`Denied::Missing`]; over [`MAX_TOKEN_LEN`] bytes: [`Denied::TooLarge`], before
//!    any decoding;
//! 2. three base64url parts, a JSON object header with a string `alg` and no `crit` (no
//!    extension is understood here, RFC 7515 section 4.1.11): else [`Denied::Malformed`];
//! 3. the key: the only one, or the JWKS key the header's `kid` names, else
//!    [`Denied::UnknownKey`];
//! 4. the header's `alg` must be that key's algorithm, else [`Denied::WrongAlgorithm`]. This
//!    is what refuses `alg: none` and the RSA-public-key-as-HMAC-secret confusion: the
//!    algorithm is the key's, the token only gets to agree with it;
//! 5. the signature, checked by jsonwebtoken with the key and the key's algorithm (not the
//!    header's): [`Denied::BadSignature`]. Only then is the payload decoded: not a base64url
//!    JSON object, [`Denied::Malformed`]. jsonwebtoken's own claim checks (and its clock)
//!    are never run: the claims are this module's;
//! 6. the claims (`claims`): [`Denied::BadClaims`], then expiry and `nbf` against
//!    `now_unix_s` with the leeway, issuer, audience.
//!
//! Must never log or keep the token, nor read the clock: `now` is the caller's.

use std::fmt;
use std::sync::Arc;

use arc_swap::ArcSwap;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::{Error as JwtError, ErrorKind};
use serde_json::{Map, Value};

use super::claims::{self, Grant};
use super::keys::KeySet;
use super::{AuthError, AuthSettings, Denied, MAX_TOKEN_LEN};

/// Checks tokens against the configured keys and claims. `Send + Sync`: share it in an
/// `Arc`.
pub struct Verifier {
    settings: AuthSettings,
    keys: ArcSwap<KeySet>,
}

/// A compact JWT cut into its three parts, with the part of its header read before the key
/// is chosen.
struct Compact<'a> {
    /// `header.payload`: what the signature covers.
    signed: &'a str,
    payload: &'a str,
    signature: &'a str,
    header: JoseHeader,
}

/// The header fields read here: any other is ignored, one of these given twice is refused
/// (serde's derive), so `{"alg":"HS256","alg":"none"}` cannot mean two things.
#[derive(serde::Deserialize)]
struct JoseHeader {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    crit: Option<serde::de::IgnoredAny>,
}

impl Verifier {
    /// Reads the key files of `settings`.
    pub fn load(settings: AuthSettings) -> Result<Self, AuthError> {
        let keys = KeySet::load(&settings.keys)?;
        Ok(Self {
            settings,
            keys: ArcSwap::from_pointee(keys),
        })
    }

    /// Reads the key files again and, if they load, uses them from the next verification on.
    /// On an error the keys in use stay, and the error says why the new ones were refused.
    pub fn reload(&self) -> Result<(), AuthError> {
        let keys = KeySet::load(&self.settings.keys)?;
        self.keys.store(Arc::new(keys));
        Ok(())
    }

    /// Checks `token` (module docs for the order) as of `now_unix_s`, and says what it
    /// allows.
    pub fn verify(&self, token: &str, now_unix_s: u64) -> Result<Grant, Denied> {
        if token.is_empty() {
            return Err(Denied::Missing);
        }
        if token.len() > MAX_TOKEN_LEN {
            return Err(Denied::TooLarge);
        }
        let token = Compact::parse(token)?;
        let keys = self.keys.load();
        let key = keys.select(token.header.kid.as_deref())?;
        if token.header.alg != key.alg.name() {
            return Err(Denied::WrongAlgorithm);
        }
        let verified = jsonwebtoken::crypto::verify(
            token.signature,
            token.signed.as_bytes(),
            &key.key,
            key.alg.jwt(),
        )
        .map_err(|error| denied(&error))?;
        if !verified {
            return Err(Denied::BadSignature);
        }
        let payload = json_part::<Map<String, Value>>(token.payload)?;
        let claims = claims::parse(&payload).map_err(|_| Denied::BadClaims)?;
        claims.check(&self.settings, now_unix_s)?;
        Ok(claims.into_grant())
    }

    /// The settings this verifier was loaded with.
    pub fn settings(&self) -> &AuthSettings {
        &self.settings
    }

    /// How many keys are in use (1 for `--jwt-key`, the usable keys of a JWKS): for the
    /// start-up and reload log lines.
    pub fn key_count(&self) -> usize {
        self.keys.load().len()
    }
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The settings name files, never key material.
        f.debug_struct("Verifier")
            .field("settings", &self.settings)
            .field("key_count", &self.key_count())
            .finish()
    }
}

impl<'a> Compact<'a> {
    /// Exactly three parts, the first a base64url JSON header with `alg` and no `crit`.
    fn parse(token: &'a str) -> Result<Self, Denied> {
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(Denied::Malformed);
        };
        let header: JoseHeader = json_part(header)?;
        if header.crit.is_some() {
            return Err(Denied::Malformed);
        }
        Ok(Self {
            signed: &token[..token.len() - signature.len() - 1],
            payload,
            signature,
            header,
        })
    }
}

/// One base64url (unpadded) part holding JSON of type `T`.
fn json_part<T: serde::de::DeserializeOwned>(part: &str) -> Result<T, Denied> {
    let json = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| Denied::Malformed)?;
    serde_json::from_slice(&json).map_err(|_| Denied::Malformed)
}

/// The reason for a jsonwebtoken error while checking a signature with the key's own
/// algorithm.
fn denied(error: &JwtError) -> Denied {
    match error.kind() {
        // The signature is not base64url.
        ErrorKind::Base64(_) => Denied::Malformed,
        // The key cannot check this signature (it was checked at load, so this is the
        // signature's doing): not verified.
        _ => Denied::BadSignature,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use jsonwebtoken::{Algorithm, EncodingKey, Header};
    use serde_json::json;

    use super::*;
    use crate::auth::fixtures::{
        NOW, TempFile, claims, fixture, fixture_bytes, hs256, secret, sign, sign_hs256, verifier,
    };
    use crate::auth::{KeySource, Tier};
    use crate::tick::Symbol;

    fn rsa() -> Verifier {
        verifier(KeySource::Key(fixture("rsa-2048-public.pem")))
    }

    fn ec() -> Verifier {
        verifier(KeySource::Key(fixture("ec-p256-public.pem")))
    }

    fn jwks() -> Verifier {
        verifier(KeySource::Jwks(fixture("jwks.json")))
    }

    /// `claims` signed with the private test key of `alg` (RS256 or ES256), with `kid` in the
    /// header.
    fn sign_pem(alg: Algorithm, kid: Option<&str>, claims: &Value) -> String {
        let key = match alg {
            Algorithm::RS256 => EncodingKey::from_rsa_pem(&fixture_bytes("rsa-2048-private.pem")),
            _ => EncodingKey::from_ec_pem(&fixture_bytes("ec-p256-private.pem")),
        }
        .expect("test private key");
        let mut header = Header::new(alg);
        header.kid = kid.map(str::to_owned);
        sign(&header, claims, &key)
    }

    fn rs256(claims: &Value) -> String {
        sign_pem(Algorithm::RS256, None, claims)
    }

    fn es256(claims: &Value) -> String {
        sign_pem(Algorithm::ES256, None, claims)
    }

    fn b64(bytes: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// A token built by hand: `header` and `payload` as given, signed HS256 with the test
    /// secret when `signed`, else with an empty signature.
    fn hand_built(header: &str, payload: &[u8], signed: bool) -> String {
        let message = format!("{}.{}", b64(header.as_bytes()), b64(payload));
        let signature = if signed {
            let key = EncodingKey::from_secret(&secret()).unwrap();
            jsonwebtoken::crypto::sign(message.as_bytes(), &key, Algorithm::HS256).unwrap()
        } else {
            String::new()
        };
        format!("{message}.{signature}")
    }

    fn sym(name: &str) -> Symbol {
        Symbol::new(name).unwrap()
    }

    #[test]
    fn valid_hs256_rs256_and_es256_tokens_verify() {
        for (verifier, token) in [
            (hs256(), sign_hs256(&claims())),
            (rsa(), rs256(&claims())),
            (ec(), es256(&claims())),
        ] {
            let grant = verifier.verify(&token, NOW).expect("valid token");
            assert_eq!(grant.sub, "alice");
            assert_eq!(grant.exp, NOW + 3600);
            assert_eq!(grant.tier, Tier::Realtime);
            assert!(grant.entitlements.allows(&sym("BINANCE:BTCUSDT")));
            assert!(grant.entitlements.allows(&sym("COINBASE:BTC-USD")));
            assert!(!grant.entitlements.allows(&sym("COINBASE:ETH-USD")));
        }
    }

    #[test]
    fn valid_jwks_tokens_verify_by_kid() {
        let jwks = jwks();
        assert_eq!(jwks.key_count(), 2);
        let rsa = sign_pem(Algorithm::RS256, Some("test-rsa-2048"), &claims());
        let ec = sign_pem(Algorithm::ES256, Some("test-ec-p256"), &claims());
        assert_eq!(jwks.verify(&rsa, NOW).unwrap().sub, "alice");
        assert_eq!(jwks.verify(&ec, NOW).unwrap().sub, "alice");
        // The kid is what picks the key: the right signature under the other kid fails.
        let swapped = sign_pem(Algorithm::RS256, Some("test-ec-p256"), &claims());
        assert_eq!(jwks.verify(&swapped, NOW), Err(Denied::WrongAlgorithm));
    }

    #[test]
    fn a_forged_signature_is_bad_signature() {
        let token = sign_hs256(&claims());
        // Another secret, same algorithm.
        let other = EncodingKey::from_secret(&[7u8; 32]).unwrap();
        let forged = sign(&Header::new(Algorithm::HS256), &claims(), &other);
        assert_eq!(hs256().verify(&forged, NOW), Err(Denied::BadSignature));
        // Claims changed after signing: more symbols.
        let (head, rest) = token.split_once('.').unwrap();
        let (_, signature) = rest.split_once('.').unwrap();
        let mut wider = claims();
        wider["symbols"] = json!(["*"]);
        let tampered = format!("{head}.{}.{signature}", b64(wider.to_string().as_bytes()));
        assert_eq!(hs256().verify(&tampered, NOW), Err(Denied::BadSignature));
        // A signature with one character changed, for each key type.
        for (verifier, token) in [
            (hs256(), token),
            (rsa(), rs256(&claims())),
            (ec(), es256(&claims())),
        ] {
            let mut bytes = token.into_bytes();
            let at = bytes.len() - 5;
            bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
            let broken = String::from_utf8(bytes).unwrap();
            assert_eq!(verifier.verify(&broken, NOW), Err(Denied::BadSignature));
        }
        // A valid RS256 token given to the EC key is refused before any signature check.
        assert_eq!(
            ec().verify(&rs256(&claims()), NOW),
            Err(Denied::WrongAlgorithm)
        );
        assert_eq!(Denied::BadSignature.code(), "token_bad_signature");
    }

    #[test]
    fn alg_none_is_wrong_algorithm() {
        let payload = claims().to_string();
        for alg in ["none", "None", "NONE", ""] {
            let header = format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#);
            let token = hand_built(&header, payload.as_bytes(), false);
            for verifier in [hs256(), rsa(), ec()] {
                assert_eq!(
                    verifier.verify(&token, NOW),
                    Err(Denied::WrongAlgorithm),
                    "{alg}"
                );
            }
        }
        // With a kid of the JWKS, too.
        let header = r#"{"alg":"none","kid":"test-rsa-2048"}"#;
        let token = hand_built(header, payload.as_bytes(), false);
        assert_eq!(jwks().verify(&token, NOW), Err(Denied::WrongAlgorithm));
        assert_eq!(Denied::WrongAlgorithm.code(), "token_wrong_algorithm");
    }

    #[test]
    fn hs256_signed_with_the_rsa_public_key_is_wrong_algorithm() {
        // The classic key confusion: the attacker knows the public key and uses its PEM bytes
        // as an HMAC secret, hoping the server does the same.
        for public in ["rsa-2048-public.pem", "ec-p256-public.pem"] {
            let confused = EncodingKey::from_secret(&fixture_bytes(public)).unwrap();
            let token = sign(&Header::new(Algorithm::HS256), &claims(), &confused);
            let verifier = verifier(KeySource::Key(fixture(public)));
            assert_eq!(verifier.verify(&token, NOW), Err(Denied::WrongAlgorithm));
        }
        // The JWKS's RSA key, by kid.
        let confused = EncodingKey::from_secret(&fixture_bytes("rsa-2048-public.pem")).unwrap();
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some("test-rsa-2048".to_owned());
        let token = sign(&header, &claims(), &confused);
        assert_eq!(jwks().verify(&token, NOW), Err(Denied::WrongAlgorithm));
    }

    #[test]
    fn another_algorithm_than_the_keys_is_wrong_algorithm() {
        // Same family, another hash: still not the configured algorithm.
        let key = EncodingKey::from_secret(&secret()).unwrap();
        for alg in [Algorithm::HS384, Algorithm::HS512] {
            let token = sign(&Header::new(alg), &claims(), &key);
            assert_eq!(hs256().verify(&token, NOW), Err(Denied::WrongAlgorithm));
        }
        // An RS256 token against the secret, an ES256 token against the RSA key.
        assert_eq!(
            hs256().verify(&rs256(&claims()), NOW),
            Err(Denied::WrongAlgorithm)
        );
        assert_eq!(
            rsa().verify(&es256(&claims()), NOW),
            Err(Denied::WrongAlgorithm)
        );
    }

    #[test]
    fn a_wrong_alg_for_a_jwks_key_is_wrong_algorithm() {
        // ES256 under the RSA key's kid, RS256 under the EC key's kid.
        let es = sign_pem(Algorithm::ES256, Some("test-rsa-2048"), &claims());
        let rs = sign_pem(Algorithm::RS256, Some("test-ec-p256"), &claims());
        assert_eq!(jwks().verify(&es, NOW), Err(Denied::WrongAlgorithm));
        assert_eq!(jwks().verify(&rs, NOW), Err(Denied::WrongAlgorithm));
    }

    #[test]
    fn an_unknown_or_missing_kid_is_unknown_key() {
        let unknown = sign_pem(Algorithm::RS256, Some("retired-key"), &claims());
        assert_eq!(jwks().verify(&unknown, NOW), Err(Denied::UnknownKey));
        assert_eq!(
            jwks().verify(&rs256(&claims()), NOW),
            Err(Denied::UnknownKey)
        );
        // A single configured key ignores the kid.
        assert!(rsa().verify(&unknown, NOW).is_ok());
        assert_eq!(Denied::UnknownKey.code(), "token_unknown_key");
    }

    #[test]
    fn expiry_is_checked_with_the_leeway() {
        let at = |exp: u64| claims_with("exp", json!(exp));
        let verifier = hs256();
        assert_eq!(verifier.settings().leeway, Duration::from_secs(30));
        // Expired 29 s ago: within the 30 s leeway. 30 s ago: beyond it.
        assert!(verifier.verify(&at(NOW - 29), NOW).is_ok());
        assert_eq!(verifier.verify(&at(NOW - 30), NOW), Err(Denied::Expired));
        assert_eq!(verifier.verify(&at(NOW - 3600), NOW), Err(Denied::Expired));
        assert_eq!(verifier.verify(&at(0), NOW), Err(Denied::Expired));
        assert!(verifier.verify(&at(u64::MAX), NOW).is_ok());
        // Without leeway, `exp` itself is already too late.
        let mut settings = AuthSettings::new(KeySource::Key(fixture("hs256-secret.txt")));
        settings.leeway = Duration::ZERO;
        let strict = Verifier::load(settings).unwrap();
        assert!(strict.verify(&at(NOW + 1), NOW).is_ok());
        assert_eq!(strict.verify(&at(NOW), NOW), Err(Denied::Expired));
        assert_eq!(Denied::Expired.code(), "token_expired");
    }

    #[test]
    fn a_token_is_not_valid_before_nbf_minus_the_leeway() {
        let from = |nbf: u64| claims_with("nbf", json!(nbf));
        assert!(hs256().verify(&from(NOW), NOW).is_ok());
        assert!(hs256().verify(&from(NOW + 30), NOW).is_ok());
        assert_eq!(
            hs256().verify(&from(NOW + 31), NOW),
            Err(Denied::NotYetValid)
        );
        // The same token is fine once its time has come.
        assert!(hs256().verify(&from(NOW + 31), NOW + 1).is_ok());
        // `iat` in the future is not checked against the clock.
        let future = claims_with("iat", json!(NOW + 3000));
        assert!(hs256().verify(&future, NOW).is_ok());
        assert_eq!(Denied::NotYetValid.code(), "token_not_yet_valid");
    }

    fn checking(issuer: Option<&str>, audience: Option<&str>) -> Verifier {
        let mut settings = AuthSettings::new(KeySource::Key(fixture("hs256-secret.txt")));
        settings.issuer = issuer.map(str::to_owned);
        settings.audience = audience.map(str::to_owned);
        Verifier::load(settings).unwrap()
    }

    fn claims_with(name: &str, value: Value) -> String {
        let mut claims = claims();
        claims[name] = value;
        sign_hs256(&claims)
    }

    #[test]
    fn the_issuer_is_checked_when_configured() {
        let verifier = checking(Some("https://auth.example"), None);
        let iss = |value: Value| verifier.verify(&claims_with("iss", value), NOW);
        assert!(iss(json!("https://auth.example")).is_ok());
        assert_eq!(iss(json!("https://evil.example")), Err(Denied::WrongIssuer));
        assert_eq!(
            iss(json!("https://auth.example/")),
            Err(Denied::WrongIssuer)
        );
        assert_eq!(iss(Value::Null), Err(Denied::WrongIssuer));
        assert_eq!(iss(json!(["https://auth.example"])), Err(Denied::BadClaims));
        // Not configured: any issuer.
        assert!(
            hs256()
                .verify(&claims_with("iss", json!("anyone")), NOW)
                .is_ok()
        );
        assert_eq!(Denied::WrongIssuer.code(), "token_wrong_issuer");
    }

    #[test]
    fn the_audience_is_checked_when_configured() {
        let verifier = checking(None, Some("tickcast"));
        let aud = |value: Value| verifier.verify(&claims_with("aud", value), NOW);
        assert!(aud(json!("tickcast")).is_ok());
        assert!(aud(json!(["billing", "tickcast"])).is_ok());
        assert_eq!(aud(json!("billing")), Err(Denied::WrongAudience));
        assert_eq!(aud(json!(["billing"])), Err(Denied::WrongAudience));
        assert_eq!(aud(json!([])), Err(Denied::WrongAudience));
        assert_eq!(aud(json!("TICKCAST")), Err(Denied::WrongAudience));
        assert_eq!(aud(Value::Null), Err(Denied::WrongAudience));
        // Not configured: any audience.
        assert!(
            hs256()
                .verify(&claims_with("aud", json!(["billing"])), NOW)
                .is_ok()
        );
        // Both configured, both right.
        let both = checking(Some("iss"), Some("tickcast"));
        let mut claims = claims();
        claims["iss"] = json!("iss");
        claims["aud"] = json!("tickcast");
        assert!(both.verify(&sign_hs256(&claims), NOW).is_ok());
        assert_eq!(Denied::WrongAudience.code(), "token_wrong_audience");
    }

    #[test]
    fn garbage_is_malformed() {
        let payload = claims().to_string();
        let cases = [
            "abc".to_owned(),
            "a.b".to_owned(),
            "a.b.c".to_owned(),
            "..".to_owned(),
            "a.b.c.d".to_owned(),
            "!!!.eyJ9.sig".to_owned(),
            format!("{}=.x.y", b64(b"{\"alg\":\"HS256\"}")),
            format!("{}.x.y", b64(b"not json")),
            format!("{}.x.y", b64(b"[\"HS256\"]")),
            format!("{}.x.y", b64(b"{\"typ\":\"JWT\"}")),
            format!("{}.x.y", b64(b"{\"alg\":256}")),
            format!("{}.x.y", b64(b"{\"alg\":\"HS256\",\"kid\":7}")),
            hand_built(r#"{"alg":"HS256","alg":"none"}"#, payload.as_bytes(), true),
            // Signed, so only the payload is wrong: not JSON, not an object.
            hand_built(r#"{"alg":"HS256"}"#, b"not json", true),
            hand_built(r#"{"alg":"HS256"}"#, b"[1,2]", true),
            hand_built(r#"{"alg":"HS256"}"#, b"\"alice\"", true),
            // A critical header extension nobody here understands.
            hand_built(
                r#"{"alg":"HS256","crit":["exp"]}"#,
                payload.as_bytes(),
                true,
            ),
            // A signature that is not base64url.
            format!("{}!", sign_hs256(&claims())),
            "\u{0}\u{1}.\u{2}.".to_owned(),
            "é.é.é".to_owned(),
        ];
        for token in &cases {
            assert_eq!(
                hs256().verify(token, NOW),
                Err(Denied::Malformed),
                "{token:?}"
            );
        }
        // The same payload, well formed and signed, is fine: the cases fail for their shape.
        let fine = hand_built(r#"{"alg":"HS256"}"#, payload.as_bytes(), true);
        assert!(hs256().verify(&fine, NOW).is_ok());
        assert_eq!(hs256().verify("", NOW), Err(Denied::Missing));
        assert_eq!(Denied::Malformed.code(), "token_malformed");
    }

    #[test]
    fn a_100_kb_token_is_too_large() {
        let huge = "a".repeat(100 * 1024);
        assert_eq!(hs256().verify(&huge, NOW), Err(Denied::TooLarge));
        // A real token padded with claims past the limit, too.
        let mut claims = claims();
        claims["padding"] = json!("x".repeat(MAX_TOKEN_LEN));
        assert_eq!(
            hs256().verify(&sign_hs256(&claims), NOW),
            Err(Denied::TooLarge)
        );
        // At the limit it is decoded (and here found malformed).
        let at_limit = "a".repeat(MAX_TOKEN_LEN);
        assert_eq!(hs256().verify(&at_limit, NOW), Err(Denied::Malformed));
        assert_eq!(Denied::TooLarge.code(), "token_too_large");
    }

    #[test]
    fn reload_picks_up_a_new_key_and_keeps_the_old_one_on_a_broken_file() {
        let old_secret = [b'o'; 32];
        let new_secret = [b'n'; 40];
        let file = TempFile::new("reload.key", &old_secret);
        let verifier = verifier(KeySource::Key(file.path().to_owned()));
        let with = |secret: &[u8]| {
            let key = EncodingKey::from_secret(secret).unwrap();
            sign(&Header::new(Algorithm::HS256), &claims(), &key)
        };
        let (old, new) = (with(&old_secret), with(&new_secret));
        assert!(verifier.verify(&old, NOW).is_ok());

        // A changed file means nothing until the reload.
        file.write(&new_secret);
        assert_eq!(verifier.verify(&new, NOW), Err(Denied::BadSignature));
        verifier.reload().expect("new key loads");
        assert!(verifier.verify(&new, NOW).is_ok());
        assert_eq!(verifier.verify(&old, NOW), Err(Denied::BadSignature));

        // A broken file, then a missing one: the reload fails, the new key stays.
        file.write(b"short\n");
        let error = verifier.reload().expect_err("a short secret is refused");
        assert!(error.to_string().contains("reload.key"), "{error}");
        assert!(verifier.verify(&new, NOW).is_ok());
        std::fs::remove_file(file.path()).unwrap();
        assert!(matches!(verifier.reload(), Err(AuthError::Read { .. })));
        assert!(verifier.verify(&new, NOW).is_ok());

        // The same path now holding an RSA public key: RS256 from the next token on.
        file.write(&fixture_bytes("rsa-2048-public.pem"));
        verifier.reload().expect("RSA key loads");
        assert!(verifier.verify(&rs256(&claims()), NOW).is_ok());
        assert_eq!(verifier.verify(&new, NOW), Err(Denied::WrongAlgorithm));
    }

    #[test]
    fn verifying_while_reloading_from_other_threads() {
        let verifier = Arc::new(hs256());
        let token = sign_hs256(&claims());
        std::thread::scope(|scope| {
            for _ in 0..3 {
                let (verifier, token) = (&verifier, &token);
                scope.spawn(move || {
                    for _ in 0..200 {
                        assert!(verifier.verify(token, NOW).is_ok());
                    }
                });
            }
            for _ in 0..20 {
                verifier.reload().unwrap();
            }
        });
    }

    #[test]
    fn the_verifier_is_send_and_sync_and_its_debug_shows_no_key() {
        fn shareable<T: Send + Sync>() {}
        shareable::<Verifier>();
        let shown = format!("{:?}", hs256());
        assert!(shown.contains("hs256-secret.txt") && shown.contains("key_count: 1"));
        let secret = String::from_utf8(secret()).unwrap();
        assert!(!shown.contains(&secret), "{shown}");
    }
}

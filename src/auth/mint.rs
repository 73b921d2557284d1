//! Making tokens, for `tickcast token` (operators and tests; the server itself only verifies).
//!
//! The key file is an HS256 secret (the verifier's own rules) or a PEM private key: RSA
//! (PKCS#8 or PKCS#1) signs RS256, EC P-256 (PKCS#8) signs ES256. The claims written are the
//! ones the verifier reads (`claims`): `sub`, `iat` and `exp` (now plus the ttl), `symbols`,
//! `tier` (and `delay_s`), and `max_conns`, `iss`, `aud` when given; the header has the `kid`
//! when given. Before signing, the claims go through the verifier's own parser, so a request
//! the server would refuse (a bad pattern, an empty subject, a delay out of range) fails here
//! with the reason, instead of producing a token that can never work.
//!
//! `now` is the caller's, like everywhere in this module; the token is returned, never
//! printed or logged here.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use jsonwebtoken::Header;
use serde_json::{Map, Value, json};

use super::claims::{self, Tier};
use super::keys::SigningKey;
use super::{AuthError, MAX_TOKEN_LEN};

/// What a minted token says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MintRequest {
    /// Who the token is for (`sub`).
    pub sub: String,
    /// Symbol patterns (`symbols`): `BINANCE:BTCUSDT`, `BINANCE:*`, `*`.
    pub symbols: Vec<String>,
    /// How long the token is valid from `now` (whole seconds, at least one).
    pub ttl: Duration,
    /// Realtime or delayed (by whole seconds, 1 s to a day).
    pub tier: Tier,
    /// Concurrent streams allowed (`max_conns`), if limited.
    pub max_conns: Option<u32>,
    /// `iss`, if the server checks one.
    pub issuer: Option<String>,
    /// `aud`, if the server checks one.
    pub audience: Option<String>,
    /// The header's `kid`: which JWKS key verifies the token.
    pub kid: Option<String>,
}

impl MintRequest {
    /// A realtime token for `sub` allowing `symbols` for `ttl`, without a connection limit,
    /// issuer, audience or `kid` (set the fields to add them).
    pub fn new(sub: impl Into<String>, symbols: Vec<String>, ttl: Duration) -> Self {
        Self {
            sub: sub.into(),
            symbols,
            ttl,
            tier: Tier::Realtime,
            max_conns: None,
            issuer: None,
            audience: None,
            kid: None,
        }
    }
}

/// A signing key, loaded once to mint many tokens.
pub struct Minter {
    path: PathBuf,
    key: SigningKey,
}

impl Minter {
    /// Reads the key file (module docs).
    pub fn load(key_file: &Path) -> Result<Self, AuthError> {
        Ok(Self {
            path: key_file.to_owned(),
            key: SigningKey::load(key_file)?,
        })
    }

    /// The algorithm tokens are signed with: `HS256`, `RS256` or `ES256`.
    pub fn algorithm(&self) -> &'static str {
        self.key.alg.name()
    }

    /// A signed token for `request`, issued at `now_unix_s`.
    pub fn mint(&self, request: &MintRequest, now_unix_s: u64) -> Result<String, AuthError> {
        let ttl = request.ttl.as_secs();
        if ttl == 0 {
            return Err(AuthError::Ttl);
        }
        let exp = now_unix_s.checked_add(ttl).ok_or(AuthError::Ttl)?;
        let claims = claims_of(request, now_unix_s, exp);
        claims::parse(&claims)?;
        let mut header = Header::new(self.key.alg.jwt());
        header.kid = request.kid.clone();
        let token = jsonwebtoken::encode(&header, &claims, &self.key.key).map_err(|source| {
            AuthError::Sign {
                path: self.path.clone(),
                source,
            }
        })?;
        if token.len() > MAX_TOKEN_LEN {
            return Err(AuthError::TooLarge { len: token.len() });
        }
        Ok(token)
    }
}

impl fmt::Debug for Minter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Minter")
            .field("path", &self.path)
            .field("algorithm", &self.algorithm())
            .finish()
    }
}

/// One token from `key_file`: [`Minter::load`] then [`Minter::mint`].
pub fn mint(key_file: &Path, request: &MintRequest, now_unix_s: u64) -> Result<String, AuthError> {
    Minter::load(key_file)?.mint(request, now_unix_s)
}

/// The claims of `request`, as JSON.
fn claims_of(request: &MintRequest, iat: u64, exp: u64) -> Map<String, Value> {
    let mut claims = Map::new();
    claims.insert("sub".into(), json!(request.sub));
    claims.insert("iat".into(), json!(iat));
    claims.insert("exp".into(), json!(exp));
    claims.insert("symbols".into(), json!(request.symbols));
    match request.tier {
        Tier::Realtime => {
            claims.insert("tier".into(), json!("realtime"));
        }
        Tier::Delayed { delay } => {
            claims.insert("tier".into(), json!("delayed"));
            // A fraction of a second is written as one, so the parser refuses it exactly as
            // the verifier would.
            let delay_s = match delay.subsec_nanos() {
                0 => json!(delay.as_secs()),
                _ => json!(delay.as_secs_f64()),
            };
            claims.insert("delay_s".into(), delay_s);
        }
    }
    if let Some(max_conns) = request.max_conns {
        claims.insert("max_conns".into(), json!(max_conns));
    }
    if let Some(issuer) = &request.issuer {
        claims.insert("iss".into(), json!(issuer));
    }
    if let Some(audience) = &request.audience {
        claims.insert("aud".into(), json!(audience));
    }
    claims
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::fixtures::{NOW, fixture, verifier};
    use crate::auth::{
        AuthSettings, ClaimError, Denied, Entitlements, KeyProblem, KeySource, PatternError,
        Verifier,
    };

    /// Alice, Binance and one Kraken symbol, ten minutes, realtime.
    fn alice() -> MintRequest {
        let symbols = vec!["BINANCE:*".to_owned(), "KRAKEN:XBT/USD".to_owned()];
        let request = MintRequest::new("alice", symbols, Duration::from_secs(600));
        assert_eq!((request.tier, request.max_conns), (Tier::Realtime, None));
        request
    }

    fn minter(name: &str) -> Minter {
        Minter::load(&fixture(name)).expect("test key loads")
    }

    #[test]
    fn minted_tokens_round_trip_through_verify() {
        let delayed = MintRequest {
            tier: Tier::Delayed {
                delay: Duration::from_secs(900),
            },
            max_conns: Some(3),
            ..alice()
        };
        for (private, public, alg) in [
            ("hs256-secret.txt", "hs256-secret.txt", "HS256"),
            ("rsa-2048-private.pem", "rsa-2048-public.pem", "RS256"),
            ("rsa-2048-private-pkcs1.pem", "rsa-2048-public.pem", "RS256"),
            ("ec-p256-private.pem", "ec-p256-public.pem", "ES256"),
        ] {
            let minter = minter(private);
            assert_eq!(minter.algorithm(), alg);
            let verifier = verifier(KeySource::Key(fixture(public)));
            for request in [alice(), delayed.clone()] {
                let token = minter.mint(&request, NOW).unwrap();
                let grant = verifier.verify(&token, NOW + 1).expect(private);
                assert_eq!(grant.sub, request.sub);
                assert_eq!(grant.exp, NOW + 600);
                assert_eq!(grant.tier, request.tier);
                assert_eq!(grant.max_conns, request.max_conns);
                assert_eq!(
                    grant.entitlements,
                    Entitlements::from_patterns(&request.symbols).unwrap()
                );
                // It expires when the ttl says (and the leeway allows).
                assert_eq!(verifier.verify(&token, NOW + 630), Err(Denied::Expired));
            }
        }
        // The one-shot form reads the key each time.
        let token = mint(&fixture("hs256-secret.txt"), &alice(), NOW).unwrap();
        let hs256 = verifier(KeySource::Key(fixture("hs256-secret.txt")));
        assert!(hs256.verify(&token, NOW).is_ok());
    }

    #[test]
    fn minted_tokens_carry_issuer_audience_and_kid() {
        let request = MintRequest {
            issuer: Some("https://auth.example".to_owned()),
            audience: Some("tickcast".to_owned()),
            ..alice()
        };
        let mut settings = AuthSettings::new(KeySource::Key(fixture("hs256-secret.txt")));
        settings.issuer = request.issuer.clone();
        settings.audience = request.audience.clone();
        let strict = Verifier::load(settings).unwrap();
        let token = minter("hs256-secret.txt").mint(&request, NOW).unwrap();
        assert!(strict.verify(&token, NOW).is_ok());
        let bare = minter("hs256-secret.txt").mint(&alice(), NOW);
        assert_eq!(strict.verify(&bare.unwrap(), NOW), Err(Denied::WrongIssuer));

        let jwks = verifier(KeySource::Jwks(fixture("jwks.json")));
        for (private, kid) in [
            ("rsa-2048-private.pem", "test-rsa-2048"),
            ("ec-p256-private.pem", "test-ec-p256"),
        ] {
            let request = MintRequest {
                kid: Some(kid.to_owned()),
                ..alice()
            };
            let token = minter(private).mint(&request, NOW).unwrap();
            let header = jsonwebtoken::decode_header(&token).unwrap();
            assert_eq!(header.kid.as_deref(), Some(kid));
            assert_eq!(jwks.verify(&token, NOW).unwrap().sub, "alice");
        }
    }

    #[test]
    fn mint_refuses_what_verify_would_refuse() {
        let minter = minter("hs256-secret.txt");
        let refused = |request: MintRequest| minter.mint(&request, NOW).unwrap_err();
        let bad_pattern = refused(MintRequest {
            symbols: vec!["BINANCE:*".to_owned(), "A*B".to_owned()],
            ..alice()
        });
        assert!(
            matches!(
                bad_pattern,
                AuthError::Request(ClaimError::Symbols(PatternError::Star { .. }))
            ),
            "{bad_pattern}"
        );
        assert!(bad_pattern.to_string().contains("\"A*B\""), "{bad_pattern}");
        let invalid = |error: AuthError| match error {
            AuthError::Request(ClaimError::Invalid { claim, .. }) => claim,
            other => panic!("{other}"),
        };
        let empty_sub = MintRequest {
            sub: String::new(),
            ..alice()
        };
        assert_eq!(invalid(refused(empty_sub)), "sub");
        for delay in [
            Duration::ZERO,
            Duration::from_millis(1500),
            Duration::from_secs(86_401),
        ] {
            let request = MintRequest {
                tier: Tier::Delayed { delay },
                ..alice()
            };
            assert_eq!(invalid(refused(request)), "delay_s", "{delay:?}");
        }
        let no_conns = MintRequest {
            max_conns: Some(0),
            ..alice()
        };
        assert_eq!(invalid(refused(no_conns)), "max_conns");
        // 600 patterns of 16 bytes are within the pattern limit, not within a token's length.
        let wide = MintRequest {
            symbols: (0..600).map(|i| format!("BINANCE:SYM{i:05}")).collect(),
            ..alice()
        };
        assert!(matches!(refused(wide), AuthError::TooLarge { len } if len > MAX_TOKEN_LEN));
        for ttl in [Duration::ZERO, Duration::from_millis(999), Duration::MAX] {
            let request = MintRequest { ttl, ..alice() };
            assert!(matches!(refused(request), AuthError::Ttl), "{ttl:?}");
        }
    }

    #[test]
    fn mint_refuses_keys_that_cannot_sign() {
        for (name, public) in [
            ("rsa-2048-public.pem", true),
            ("ec-p256-public.pem", true),
            ("ec-p256-private-sec1.pem", false),
        ] {
            let error = mint(&fixture(name), &alice(), NOW).unwrap_err();
            let AuthError::Key { path, problem } = &error else {
                panic!("{name}: {error}");
            };
            assert_eq!(path, &fixture(name));
            if public {
                assert!(matches!(problem, KeyProblem::PublicKey), "{name}");
            } else {
                assert!(matches!(problem, KeyProblem::Sec1), "{name}");
                assert!(
                    error.to_string().contains("openssl pkcs8 -topk8"),
                    "{error}"
                );
            }
        }
        let missing = mint(&fixture("no-such.pem"), &alice(), NOW);
        assert!(matches!(missing, Err(AuthError::Read { .. })));
        let shown = format!("{:?}", minter("hs256-secret.txt"));
        assert!(
            shown.contains("HS256") && !shown.contains("tickcast-test-only"),
            "{shown}"
        );
    }
}

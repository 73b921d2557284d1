//! Why a subscription's token was refused: the [`Denied`] reasons, their stable codes, the
//! sentence a client is shown, and their counter indexes.
//!
//! Raised by [`super::token_from_request`] (where the token is looked for) and
//! [`super::Verifier::verify`] (everything after), on the shard thread at subscribe time. The
//! HTTP edge answers with [`Denied::code`] and [`Denied::message`] and counts the refusal in
//! an array indexed by [`Denied::index`]; codes and indexes are fixed for the life of the
//! process (dense `0..Denied::COUNT`, codes unique `snake_case`).
//!
//! A `Denied` is a small `Copy` value and must stay one: it never carries the token, a claim
//! or a key, so it can be logged, counted and sent back without leaking anything.

use std::fmt;

/// Why a token was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Denied {
    /// The request carries no token (or an empty string was given to verify).
    Missing,
    /// The token is longer than [`super::MAX_TOKEN_LEN`]; it was not decoded.
    TooLarge,
    /// The token is not a compact JWT (three base64url parts, a JSON header and payload), the
    /// `Authorization` header has a scheme other than `Bearer` or an empty one, or the
    /// request gives two different tokens.
    Malformed,
    /// The token's `kid` names no key of the JWKS (or it has none and the keys are a JWKS).
    UnknownKey,
    /// The token's `alg` is not the one algorithm of the key it is checked with (`none`
    /// included).
    WrongAlgorithm,
    /// The signature does not verify with the key.
    BadSignature,
    /// `exp` is past, leeway included.
    Expired,
    /// `nbf` is still ahead, leeway included.
    NotYetValid,
    /// An issuer is configured and `iss` is absent or another.
    WrongIssuer,
    /// An audience is configured and `aud` is absent or does not contain it.
    WrongAudience,
    /// A claim is missing or invalid: `sub`, `exp`, `nbf`, `iat`, `iss`, `aud`, `symbols`,
    /// `tier`, `delay_s` or `max_conns`.
    BadClaims,
}

impl Denied {
    /// Every reason, in [`Denied::index`] order.
    pub const ALL: [Denied; 11] = [
        Denied::Missing,
        Denied::TooLarge,
        Denied::Malformed,
        Denied::UnknownKey,
        Denied::WrongAlgorithm,
        Denied::BadSignature,
        Denied::Expired,
        Denied::NotYetValid,
        Denied::WrongIssuer,
        Denied::WrongAudience,
        Denied::BadClaims,
    ];

    /// Number of reasons: the length of a per-reason counter array.
    pub const COUNT: usize = Self::ALL.len();

    /// Dense index in `0..Denied::COUNT`, for an array of counters.
    pub fn index(self) -> usize {
        // Fieldless enum without explicit discriminants: declaration order, 0-based, the same
        // order as `ALL` (checked by a test).
        self as usize
    }

    /// The stable `snake_case` code: the JSON error code and the metric label.
    pub fn code(self) -> &'static str {
        match self {
            Denied::Missing => "token_missing",
            Denied::TooLarge => "token_too_large",
            Denied::Malformed => "token_malformed",
            Denied::UnknownKey => "token_unknown_key",
            Denied::WrongAlgorithm => "token_wrong_algorithm",
            Denied::BadSignature => "token_bad_signature",
            Denied::Expired => "token_expired",
            Denied::NotYetValid => "token_not_yet_valid",
            Denied::WrongIssuer => "token_wrong_issuer",
            Denied::WrongAudience => "token_wrong_audience",
            Denied::BadClaims => "token_bad_claims",
        }
    }

    /// One sentence for the client, saying what to fix.
    pub fn message(self) -> &'static str {
        match self {
            Denied::Missing => {
                "An access token is required: send it as `Authorization: Bearer <token>` or in \
                 the `access_token` query parameter."
            }
            Denied::TooLarge => "The access token is longer than the 8 KiB limit.",
            Denied::Malformed => {
                "The access token is not a well-formed JWT, or the request uses an \
                 Authorization scheme other than Bearer, or gives two different tokens."
            }
            Denied::UnknownKey => {
                "The access token's key id (`kid`) names none of the keys this server trusts."
            }
            Denied::WrongAlgorithm => {
                "The access token is signed with an algorithm this server does not accept for \
                 its key."
            }
            Denied::BadSignature => "The access token's signature does not verify.",
            Denied::Expired => "The access token has expired.",
            Denied::NotYetValid => "The access token is not valid yet (its `nbf` is ahead).",
            Denied::WrongIssuer => {
                "The access token comes from an issuer (`iss`) this server does not trust."
            }
            Denied::WrongAudience => {
                "The access token is meant for another audience (`aud`) than this server."
            }
            Denied::BadClaims => {
                "The access token's claims are missing or invalid (`sub`, `exp`, `symbols`, \
                 `tier`, `delay_s` or `max_conns`)."
            }
        }
    }
}

impl fmt::Display for Denied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for Denied {}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn codes_are_unique_snake_case_and_indexes_dense() {
        let mut codes = HashSet::new();
        for (i, denied) in Denied::ALL.iter().enumerate() {
            assert_eq!(denied.index(), i, "{denied:?}");
            let code = denied.code();
            assert!(codes.insert(code), "duplicate code {code}");
            assert!(
                code.starts_with("token_")
                    && code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{code}"
            );
            let message = denied.message();
            assert!(
                message.ends_with('.') && !message.contains("  "),
                "{message}"
            );
            assert_eq!(denied.to_string(), message);
        }
        assert_eq!(Denied::COUNT, 11);
        assert_eq!(Denied::Expired.code(), "token_expired");
    }
}

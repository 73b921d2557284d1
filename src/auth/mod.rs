//! Access tokens: who may subscribe to which symbols, at which tier, with how many connections.
//!
//! This module owns the JWT side of a subscription: finding the token in a request
//! ([`token_from_request`]), verifying it against the configured keys ([`Verifier`]), turning
//! its claims into a [`Grant`] (subject, expiry, [`Entitlements`], [`Tier`], connection limit),
//! and minting tokens for `tickcast token` ([`mint`]).
//!
//! **Place in the flow.** The HTTP edge calls it once per subscription, at subscribe time, on
//! the shard thread that serves the connection; never per tick, so nothing here is on the hot
//! path (one signature check per stream, none per tick). The server
//! loads one [`Verifier`] at start-up and shares it read-only across the shard threads
//! (`Arc<Verifier>`); on SIGHUP it calls [`Verifier::reload`], which re-reads the key files and
//! swaps the new keys in through an [`arc_swap::ArcSwap`]: readers never take a lock, a
//! verification in flight keeps the keys it started with, and a broken file leaves the old
//! keys in place. Imports: [`crate::tick`] only (a [`crate::tick::Symbol`] is what an
//! entitlement allows).
//!
//! **Invariants.**
//! - A token is accepted only if it is signed with the configured key's one algorithm: HS256
//!   for a secret, RS256 for an RSA key, ES256 for an EC P-256 key, and for a JWKS the key's
//!   own `alg` (or the one its type implies). `alg: none`, another algorithm of the same
//!   family, and the RSA-public-key-as-HMAC-secret confusion are all [`Denied::WrongAlgorithm`].
//! - The algorithm comes from the key, never from the token: the header's `alg` is only
//!   compared with it.
//! - Time is an argument (`now_unix_s`): `exp` and `nbf` are checked here with the configured
//!   leeway. jsonwebtoken is used for the cryptography only (keys, signatures); its claim
//!   validation, which reads the clock, is never run.
//! - A token longer than [`MAX_TOKEN_LEN`] is refused before any decoding.
//! - Every refusal is a [`Denied`]: a small `Copy` reason with a stable code, counted by the
//!   edge; it carries nothing of the token.
//!
//! **Never**: log, echo or store a token or a key (neither is `Display`ed anywhere; `Debug` of
//! the [`Verifier`] shows the file names only); read the clock or the environment; accept an
//! algorithm the key was not configured for; panic on what a client sends.
//!
//! Files, by what they own: `denied` (the reasons), `request` (where a token is found),
//! `keys` (key files: secrets, PEM, JWKS), `verify` (the [`Verifier`]), `claims` (the claims
//! and the [`Grant`]), `entitlements` (symbol patterns), `mint` (making tokens).

mod claims;
mod denied;
mod entitlements;
mod keys;
mod mint;
mod request;
mod verify;

#[cfg(test)]
mod fixtures;

use std::path::PathBuf;
use std::time::Duration;

pub use claims::{ClaimError, Grant, MAX_CONNS, MAX_DELAY, MAX_SUB_LEN, Tier};
pub use denied::Denied;
pub use entitlements::{Entitlements, MAX_PATTERNS, PatternError};
pub use keys::KeyProblem;
pub use mint::{MintRequest, Minter, mint};
pub use request::{FoundToken, QUERY_PARAMETER, TokenPlace, find_token, token_from_request};
pub use verify::Verifier;

/// Longest accepted token, in bytes (8 KiB): far above a typical token (a few hundred bytes;
/// about 300 symbol patterns fit), small enough that a hostile one costs nothing. [`mint`]
/// refuses to make a longer one.
pub const MAX_TOKEN_LEN: usize = 8 * 1024;

/// Shortest accepted HS256 secret, in bytes: the hash's own output size (RFC 7518 section
/// 3.2), so the secret is never the weak link.
pub const MIN_SECRET_LEN: usize = 32;

/// The clock skew allowed between the token issuer and this server when `exp` and `nbf` are
/// checked, unless the configuration says otherwise.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(30);

/// How tokens are verified: the keys, and the claims the server insists on. Filled by
/// `config` from `--jwt-key` / `--jwks`, `--jwt-issuer`, `--jwt-audience` and the leeway.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthSettings {
    /// Where the verification keys are read from (at start-up and on every reload).
    pub keys: KeySource,
    /// When set, a token's `iss` must be exactly this.
    pub issuer: Option<String>,
    /// When set, a token's `aud` (a string, or an array of strings) must contain this.
    pub audience: Option<String>,
    /// Allowed clock skew for `exp` and `nbf` ([`DEFAULT_LEEWAY`] unless configured);
    /// whole seconds count, a fraction is ignored.
    pub leeway: Duration,
}

impl AuthSettings {
    /// Settings that check only the signature and the times, with the default leeway.
    pub fn new(keys: KeySource) -> Self {
        Self {
            keys,
            issuer: None,
            audience: None,
            leeway: DEFAULT_LEEWAY,
        }
    }
}

/// The file the verification keys come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeySource {
    /// `--jwt-key`: one key, detected from the file. A PEM public key (`PUBLIC KEY` or
    /// `RSA PUBLIC KEY`) is RS256 (RSA, at least 2048 bits) or ES256 (EC P-256); anything
    /// else is an HS256 secret: the file's raw bytes, one trailing newline stripped, at least
    /// [`MIN_SECRET_LEN`] bytes.
    Key(PathBuf),
    /// `--jwks`: a JWKS JSON file (`{"keys": [...]}`); a token picks its key by `kid`. Every
    /// key needs a `kid`; keys for encryption (`use: enc`) are skipped.
    Jwks(PathBuf),
}

impl KeySource {
    /// The file to read.
    pub fn path(&self) -> &std::path::Path {
        match self {
            KeySource::Key(path) | KeySource::Jwks(path) => path,
        }
    }
}

/// Why keys could not be loaded or a token could not be minted. Every message names the file.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// A key file cannot be read.
    #[error("cannot read key file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A key file was read but holds no key that can be used.
    #[error("key file {}: {problem}", path.display())]
    Key {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        problem: KeyProblem,
    },
    /// One key of a JWKS file cannot be used: the whole file is refused, so that a typo
    /// never silently drops a key.
    #[error("JWKS file {}: key {index}{}: {problem}", path.display(), kid.as_deref().map(|kid| format!(" (kid {kid:?})")).unwrap_or_default())]
    JwksKey {
        /// The file.
        path: PathBuf,
        /// The key's place in the `keys` array, from 0.
        index: usize,
        /// The key's `kid`, when it has one.
        kid: Option<String>,
        /// What is wrong with it.
        problem: KeyProblem,
    },
    /// `mint`: the request describes a token that verification would refuse.
    #[error("cannot mint this token: {0}")]
    Request(#[from] ClaimError),
    /// `mint`: the token's lifetime is under one second (a fraction of a second is dropped),
    /// or its expiry does not fit in a `u64` of seconds.
    #[error("cannot mint this token: the ttl must be at least one second")]
    Ttl,
    /// `mint`: the token would be longer than [`MAX_TOKEN_LEN`], which verification refuses
    /// (too many or too long symbol patterns: use prefixes).
    #[error(
        "cannot mint this token: it would be {len} bytes, over the {MAX_TOKEN_LEN}-byte limit (use fewer, shorter symbol patterns, or prefixes)"
    )]
    TooLarge {
        /// The length it would have.
        len: usize,
    },
    /// `mint`: signing failed (the key does not fit its algorithm).
    #[error("cannot sign with key file {}: {source}", path.display())]
    Sign {
        /// The file.
        path: PathBuf,
        /// What jsonwebtoken said.
        source: jsonwebtoken::errors::Error,
    },
}

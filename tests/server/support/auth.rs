//! Tokens for `--auth jwt` servers: the committed test keys (`tests/fixtures/auth`), tokens
//! minted in-process ([`mint`], the library's own minter) or by `tickcast token` ([`cli_token`]),
//! and tokens built by hand ([`hs256_signed`], [`unsigned`]) for what a minter refuses to make:
//! forgeries, an `nbf` ahead, claims missing.

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use tickcast::auth::MintRequest;

use super::run;

/// The HS256 secret (48 bytes and a newline): signs and verifies.
pub const HS256_SECRET: &str = "hs256-secret.txt";
/// RSA 2048, PKCS#8: signs RS256 tokens.
pub const RSA_PRIVATE: &str = "rsa-2048-private.pem";
/// Its public key: verifies them.
pub const RSA_PUBLIC: &str = "rsa-2048-public.pem";
/// EC P-256, PKCS#8: signs ES256 tokens.
pub const EC_PRIVATE: &str = "ec-p256-private.pem";
/// Its public key: verifies them.
pub const EC_PUBLIC: &str = "ec-p256-public.pem";
/// Both public keys as a JWKS, kids [`JWKS_RSA_KID`] and [`JWKS_EC_KID`].
pub const JWKS: &str = "jwks.json";
/// The `kid` of the RSA key in [`JWKS`].
pub const JWKS_RSA_KID: &str = "test-rsa-2048";
/// The `kid` of the EC key in [`JWKS`].
pub const JWKS_EC_KID: &str = "test-ec-p256";

/// How long tokens live unless a test says otherwise.
pub const HOUR: Duration = Duration::from_secs(3600);
/// How long `tickcast token` may take.
const CLI_TIMEOUT: Duration = Duration::from_secs(10);

/// The path of the test key file `name`, as a flag value.
pub fn key_file(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/auth")
        .join(name);
    path.to_str()
        .unwrap_or_else(|| panic!("key path {path:?} is not UTF-8"))
        .to_owned()
}

/// The wall clock in Unix seconds: what the server compares `exp` and `nbf` with.
pub fn now_unix_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_secs()
}

/// A realtime request for `sub` allowing `symbols` for `ttl` (set its fields for more).
pub fn request(sub: &str, symbols: &[&str], ttl: Duration) -> MintRequest {
    let symbols = symbols.iter().map(|symbol| (*symbol).to_owned()).collect();
    MintRequest::new(sub, symbols, ttl)
}

/// A realtime token for `sub` allowing `symbols` for an hour, signed with the key file `key`.
pub fn token(key: &str, sub: &str, symbols: &[&str]) -> String {
    mint(key, &request(sub, symbols, HOUR))
}

/// `request` signed with the key file `key`, issued now.
pub fn mint(key: &str, request: &MintRequest) -> String {
    mint_at(key, request, now_unix_s())
}

/// `request` signed with the key file `key`, issued at `now_unix_s`.
pub fn mint_at(key: &str, request: &MintRequest, now_unix_s: u64) -> String {
    tickcast::auth::mint(key_file(key).as_ref(), request, now_unix_s)
        .unwrap_or_else(|err| panic!("minting {request:?} with {key}: {err}"))
}

/// `tickcast token --key <the HS256 secret> args...`: must succeed and print one token line.
pub fn cli_token(args: &[&str]) -> String {
    let key = key_file(HS256_SECRET);
    let output = run(&[&["token", "--key", &key], args].concat(), CLI_TIMEOUT);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "tickcast token {args:?}: {}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "one token line on stdout: {stdout:?}");
    assert_eq!(
        lines[0].split('.').count(),
        3,
        "a compact JWT: {}",
        lines[0]
    );
    lines[0].to_owned()
}

/// Claims the verifier accepts (given the right key and no issuer or audience configured):
/// `sub`, `symbols` and an `exp` an hour ahead. Add or remove fields to forge.
pub fn claims(sub: &str, symbols: &[&str]) -> Value {
    json!({"sub": sub, "symbols": symbols, "exp": now_unix_s() + HOUR.as_secs()})
}

/// The bytes of the HS256 test secret, as the server reads them (trailing newline stripped).
pub fn hs256_secret() -> Vec<u8> {
    let path = key_file(HS256_SECRET);
    let mut secret = std::fs::read(&path).unwrap_or_else(|err| panic!("read {path}: {err}"));
    if secret.last() == Some(&b'\n') {
        secret.pop();
    }
    secret
}

/// `claims` in a token with the header `{"alg":"HS256","typ":"JWT"}`, signed with `secret`
/// (any bytes: the real secret, a wrong one, or a public key's PEM text).
pub fn hs256_signed(claims: &Value, secret: &[u8]) -> String {
    let key = EncodingKey::from_secret(secret)
        .unwrap_or_else(|err| panic!("an HS256 key of {} bytes: {err}", secret.len()));
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &key)
        .unwrap_or_else(|err| panic!("HS256-sign {claims}: {err}"))
}

/// `header` and `claims` as a compact JWT with an empty signature (`alg: none`'s form).
pub fn unsigned(header: &Value, claims: &Value) -> String {
    let part = |value: &Value| URL_SAFE_NO_PAD.encode(value.to_string());
    format!("{}.{}.", part(header), part(claims))
}

/// The `Authorization` value for `token`.
pub fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

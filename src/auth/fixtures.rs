//! Test helpers shared by the auth tests: the committed test keys (`tests/fixtures/auth/`,
//! test-only, see the README there), a fixed `now`, valid claims, signing arbitrary claims,
//! and temporary key files for the reload tests.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use super::{AuthSettings, KeySource, Verifier};

/// The fixed "now" of every test, Unix seconds (2025-06-15).
pub(super) const NOW: u64 = 1_750_000_000;

/// A committed test fixture.
pub(super) fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/auth")
        .join(name)
}

/// The bytes of a committed test fixture.
pub(super) fn fixture_bytes(name: &str) -> Vec<u8> {
    let path = fixture(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The HS256 test secret as the verifier uses it (without the file's trailing newline).
pub(super) fn secret() -> Vec<u8> {
    let mut bytes = fixture_bytes("hs256-secret.txt");
    assert_eq!(bytes.pop(), Some(b'\n'));
    bytes
}

/// A verifier of `keys` with default settings.
pub(super) fn verifier(keys: KeySource) -> Verifier {
    Verifier::load(AuthSettings::new(keys)).expect("test keys load")
}

/// A verifier of the HS256 test secret with default settings.
pub(super) fn hs256() -> Verifier {
    verifier(KeySource::Key(fixture("hs256-secret.txt")))
}

/// Valid claims: `alice`, an hour left, Binance and one Coinbase symbol.
pub(super) fn claims() -> Value {
    json!({
        "sub": "alice",
        "exp": NOW + 3600,
        "symbols": ["BINANCE:*", "COINBASE:BTC-USD"],
    })
}

/// `claims` signed under `header` with `key`.
pub(super) fn sign(header: &Header, claims: &Value, key: &EncodingKey) -> String {
    jsonwebtoken::encode(header, claims, key).expect("test token signs")
}

/// `claims` signed HS256 with the test secret.
pub(super) fn sign_hs256(claims: &Value) -> String {
    let key = EncodingKey::from_secret(&secret()).expect("test secret");
    sign(&Header::new(Algorithm::HS256), claims, &key)
}

/// A file under the temporary directory, removed when dropped.
pub(super) struct TempFile(PathBuf);

impl TempFile {
    /// A new file holding `bytes`, its name unique to this process and call.
    pub(super) fn new(name: &str, bytes: &[u8]) -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("tickcast-auth-{}-{n}-{name}", std::process::id()));
        let file = Self(path);
        file.write(bytes);
        file
    }

    /// Replaces the file's contents.
    pub(super) fn write(&self, bytes: &[u8]) {
        std::fs::write(&self.0, bytes).unwrap_or_else(|e| panic!("{}: {e}", self.0.display()));
    }

    /// Where it is.
    pub(super) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

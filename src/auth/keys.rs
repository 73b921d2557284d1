//! Key files: an HS256 secret, a PEM key (public to verify, private to mint) or a JWKS, read
//! into keys that each carry their one algorithm.
//!
//! Read by [`super::Verifier::load`] and [`super::Verifier::reload`] (start-up and SIGHUP, on
//! the control thread) and by [`super::mint`]; never while a subscription waits. A key's
//! algorithm is fixed here, from the file alone, and a token is later only compared with it:
//!
//! | file | verifying | minting |
//! |---|---|---|
//! | no PEM armour | HS256 secret: the raw bytes, one trailing `\n` (or `\r\n`) stripped, at least [`MIN_SECRET_LEN`] bytes | the same |
//! | `PUBLIC KEY`, `RSA PUBLIC KEY` | RS256 (RSA, at least 2048 bits) or ES256 (EC P-256) | refused: cannot sign |
//! | `PRIVATE KEY` (PKCS#8), `RSA PRIVATE KEY` (PKCS#1) | refused: give the public key | RS256 or ES256 |
//! | JWKS JSON | per key: its `alg`, else RS256 for `RSA`, ES256 for `EC` P-256, HS256 for `oct` | - |
//!
//! A JWKS key must have a `kid` (tokens choose their key by it), unique in the file; keys for
//! encryption (`use: enc`, or an RSA encryption `alg`) are skipped. Any other key that cannot
//! be used refuses the whole file, so that a typo never silently drops a key. Key material is
//! never logged: errors name the file and the key's place, never its bytes.

use std::collections::HashMap;
use std::fs::File;
use std::io::Read;
use std::path::Path;

use jsonwebtoken::crypto::CryptoProvider;
use jsonwebtoken::errors::{Error as JwtError, ErrorKind, new_error};
use jsonwebtoken::jwk::{
    AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm, PublicKeyUse,
};
use jsonwebtoken::{Algorithm, DecodingKey, DecodingKeyKind, EncodingKey};

use super::{AuthError, Denied, KeySource, MIN_SECRET_LEN};

/// Largest key file read: a JWKS of hundreds of keys fits; `/dev/zero` given by mistake
/// does not hang the server.
const MAX_KEY_FILE_LEN: u64 = 1 << 20;

/// Shortest accepted RSA modulus, in bits (NIST SP 800-131A).
const MIN_RSA_BITS: usize = 2048;

/// What is wrong with a key file, or with one key of a JWKS.
#[derive(Debug, thiserror::Error)]
pub enum KeyProblem {
    /// The file is over 1 MiB: not a key.
    #[error("larger than 1 MiB, not a key file")]
    TooLarge,
    /// A JSON document where a secret or a PEM key was expected (a JWKS given as a key).
    #[error("a JSON document, not a secret or a PEM key (is it a JWKS?)")]
    Json,
    /// An HS256 secret shorter than [`MIN_SECRET_LEN`] bytes.
    #[error(
        "an HS256 secret needs at least {MIN_SECRET_LEN} bytes, this one has {len} (a trailing newline does not count)"
    )]
    SecretTooShort {
        /// Its length, in bytes.
        len: usize,
    },
    /// A private key was given to verify with.
    #[error("a private key: give the server the public key only (`openssl pkey -in KEY -pubout`)")]
    PrivateKey,
    /// A public key (or certificate) was given to sign with.
    #[error("a public key cannot sign tokens: give the private key")]
    PublicKey,
    /// A certificate was given to verify with.
    #[error(
        "a certificate, not a key: give its public key (`openssl x509 -in CERT -pubkey -noout`)"
    )]
    Certificate,
    /// A SEC1 `EC PRIVATE KEY`, which jsonwebtoken cannot read.
    #[error(
        "an `EC PRIVATE KEY` (SEC1) cannot be read: convert it to PKCS#8 (`openssl pkcs8 -topk8 -nocrypt -in KEY`)"
    )]
    Sec1,
    /// A passphrase-protected private key.
    #[error("an encrypted private key: decrypt it first (`openssl pkcs8 -topk8 -nocrypt -in KEY`)")]
    Encrypted,
    /// A PEM block that is no key tickcast uses.
    #[error("a PEM `{label}` block is not an RSA or EC P-256 key")]
    UnsupportedPem {
        /// The PEM label.
        label: String,
    },
    /// The key does not parse.
    #[error("not a valid RSA or EC P-256 key: {source}")]
    Invalid {
        /// What jsonwebtoken said.
        source: JwtError,
    },
    /// An EC key on another curve than P-256.
    #[error("an EC key that is not on P-256 (only ES256 is supported)")]
    NotP256,
    /// An RSA key below 2048 bits.
    #[error("an RSA key of {bits} bits; at least 2048 are required")]
    RsaTooSmall {
        /// The modulus size.
        bits: usize,
    },
    /// The file is not a JWKS document.
    #[error("not a JWKS document (`{{\"keys\": [...]}}`): {source}")]
    NotJwks {
        /// What serde_json said.
        source: serde_json::Error,
    },
    /// The JWKS has no key to verify signatures with.
    #[error("no signing key (keys for encryption are skipped)")]
    NoKeys,
    /// A JWKS key without a `kid`.
    #[error("no `kid`: tokens choose their key by it, so every key needs one")]
    MissingKid,
    /// Two JWKS keys with the same `kid`.
    #[error("its `kid` is already used by another key of the file")]
    DuplicateKid,
    /// A JWKS key whose `alg` is not HS256, RS256 or ES256.
    #[error("`alg` {alg}: only HS256, RS256 and ES256 are accepted")]
    UnsupportedAlgorithm {
        /// The `alg` given.
        alg: String,
    },
    /// A JWKS key whose `alg` does not fit its `kty`.
    #[error("`alg` {alg} does not fit a `{kty}` key")]
    AlgorithmMismatch {
        /// The `alg` given.
        alg: String,
        /// The key type.
        kty: &'static str,
    },
    /// A JWKS key of another type than `RSA`, `EC` or `oct`.
    #[error("key type not supported: use `RSA`, `EC` (P-256) or `oct`")]
    UnsupportedKeyType,
}

/// The algorithms tickcast signs and verifies with: one per key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum KeyAlg {
    /// HMAC with SHA-256, a shared secret.
    Hs256,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    Rs256,
    /// ECDSA on P-256 with SHA-256.
    Es256,
}

impl KeyAlg {
    /// The JOSE `alg` name.
    pub(crate) fn name(self) -> &'static str {
        match self {
            KeyAlg::Hs256 => "HS256",
            KeyAlg::Rs256 => "RS256",
            KeyAlg::Es256 => "ES256",
        }
    }

    /// The same, as jsonwebtoken names it.
    pub(crate) fn jwt(self) -> Algorithm {
        match self {
            KeyAlg::Hs256 => Algorithm::HS256,
            KeyAlg::Rs256 => Algorithm::RS256,
            KeyAlg::Es256 => Algorithm::ES256,
        }
    }

    /// The JWKS `alg` value of this algorithm.
    fn jwk(self) -> KeyAlgorithm {
        self.jwt().into()
    }
}

/// A key to verify with, and the one algorithm it accepts.
pub(crate) struct VerifyingKey {
    pub(crate) alg: KeyAlg,
    pub(crate) key: DecodingKey,
}

impl VerifyingKey {
    fn new(alg: KeyAlg, key: DecodingKey) -> Self {
        Self { alg, key }
    }
}

/// The keys of one [`KeySource`].
pub(crate) enum KeySet {
    /// `--jwt-key`: every token is checked with this key (boxed: the map is smaller).
    One(Box<VerifyingKey>),
    /// `--jwks`: a token names its key by `kid`.
    ByKid(HashMap<String, VerifyingKey>),
}

impl KeySet {
    /// Reads the keys of `source`.
    pub(crate) fn load(source: &KeySource) -> Result<Self, AuthError> {
        match source {
            KeySource::Key(path) => {
                let bytes = read(path)?;
                let key = match pem_label(&bytes) {
                    None => secret(&bytes).and_then(|secret| {
                        let key = DecodingKey::from_secret(secret)
                            .map_err(|source| KeyProblem::Invalid { source })?;
                        Ok(VerifyingKey::new(KeyAlg::Hs256, key))
                    }),
                    Some(label) => public_pem(label, &bytes),
                };
                key.map(|key| KeySet::One(Box::new(key)))
                    .map_err(|problem| AuthError::Key {
                        path: path.clone(),
                        problem,
                    })
            }
            KeySource::Jwks(path) => jwks(path, &read(path)?).map(KeySet::ByKid),
        }
    }

    /// The key a token with header `kid` is checked with.
    pub(crate) fn select(&self, kid: Option<&str>) -> Result<&VerifyingKey, Denied> {
        match self {
            KeySet::One(key) => Ok(key),
            KeySet::ByKid(keys) => kid.and_then(|kid| keys.get(kid)).ok_or(Denied::UnknownKey),
        }
    }

    /// How many keys there are.
    pub(crate) fn len(&self) -> usize {
        match self {
            KeySet::One(_) => 1,
            KeySet::ByKid(keys) => keys.len(),
        }
    }
}

/// A key to mint with, and its algorithm.
pub(crate) struct SigningKey {
    pub(crate) alg: KeyAlg,
    pub(crate) key: EncodingKey,
}

impl SigningKey {
    /// Reads a secret or a PEM private key (module docs).
    pub(crate) fn load(path: &Path) -> Result<Self, AuthError> {
        let bytes = read(path)?;
        let key = match pem_label(&bytes) {
            None => secret(&bytes).and_then(|secret| {
                let key = EncodingKey::from_secret(secret)
                    .map_err(|source| KeyProblem::Invalid { source })?;
                Ok(SigningKey {
                    alg: KeyAlg::Hs256,
                    key,
                })
            }),
            Some(label) => private_pem(label, &bytes),
        };
        key.map_err(|problem| AuthError::Key {
            path: path.to_owned(),
            problem,
        })
    }
}

/// The whole file, at most [`MAX_KEY_FILE_LEN`] bytes.
fn read(path: &Path) -> Result<Vec<u8>, AuthError> {
    let mut bytes = Vec::new();
    File::open(path)
        .and_then(|file| file.take(MAX_KEY_FILE_LEN + 1).read_to_end(&mut bytes))
        .map_err(|source| AuthError::Read {
            path: path.to_owned(),
            source,
        })?;
    if bytes.len() as u64 > MAX_KEY_FILE_LEN {
        return Err(AuthError::Key {
            path: path.to_owned(),
            problem: KeyProblem::TooLarge,
        });
    }
    Ok(bytes)
}

/// The label of the file's first PEM block (`PUBLIC KEY`...), when it starts with one; an
/// unreadable label is empty (and refused as an unsupported block).
fn pem_label(bytes: &[u8]) -> Option<&str> {
    let rest = bytes.trim_ascii_start().strip_prefix(b"-----BEGIN ")?;
    let end = rest.windows(5).position(|w| w == b"-----").unwrap_or(0);
    Some(std::str::from_utf8(&rest[..end]).unwrap_or(""))
}

/// An HS256 secret: the bytes without one trailing newline, long enough, and not a JSON
/// document (a JWKS or a JWK given where a key file was expected would otherwise become a
/// secret that every issuer of that JWKS knows).
fn secret(bytes: &[u8]) -> Result<&[u8], KeyProblem> {
    if bytes.trim_ascii_start().starts_with(b"{")
        && serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_ok()
    {
        return Err(KeyProblem::Json);
    }
    let secret = match bytes.strip_suffix(b"\n") {
        Some(line) => line.strip_suffix(b"\r").unwrap_or(line),
        None => bytes,
    };
    if secret.len() < MIN_SECRET_LEN {
        return Err(KeyProblem::SecretTooShort { len: secret.len() });
    }
    Ok(secret)
}

/// The crypto provider jsonwebtoken was built with (`rust_crypto`).
fn provider() -> Result<&'static CryptoProvider, KeyProblem> {
    CryptoProvider::try_get_default().ok_or_else(|| KeyProblem::Invalid {
        source: new_error(ErrorKind::Provider("no crypto provider".to_owned())),
    })
}

/// A PEM public key: RS256 or ES256, from what the key is.
fn public_pem(label: &str, bytes: &[u8]) -> Result<VerifyingKey, KeyProblem> {
    match label {
        "PUBLIC KEY" | "RSA PUBLIC KEY" => {}
        "PRIVATE KEY" | "RSA PRIVATE KEY" | "EC PRIVATE KEY" | "ENCRYPTED PRIVATE KEY" => {
            return Err(KeyProblem::PrivateKey);
        }
        "CERTIFICATE" => return Err(KeyProblem::Certificate),
        other => {
            return Err(KeyProblem::UnsupportedPem {
                label: other.to_owned(),
            });
        }
    }
    let invalid = |source| KeyProblem::Invalid { source };
    match DecodingKey::from_rsa_pem(bytes) {
        Ok(key) => {
            let der = key.try_get_as_bytes().map_err(invalid)?;
            let (n, e) =
                (provider()?.key_utils.rsa_pub_components_from_public_key)(der).map_err(invalid)?;
            rsa_public(DecodingKey::from_rsa_raw_components(&n, &e))
        }
        Err(source) if label == "RSA PUBLIC KEY" => Err(invalid(source)),
        Err(_) => ec_public(DecodingKey::from_ec_pem(bytes).map_err(invalid)?),
    }
}

/// An RSA public key (modulus and exponent), if it is long enough.
fn rsa_public(key: DecodingKey) -> Result<VerifyingKey, KeyProblem> {
    if let DecodingKeyKind::RsaModulusExponent { n, .. } = key.kind() {
        check_rsa_bits(n)?;
    }
    Ok(VerifyingKey::new(KeyAlg::Rs256, key))
}

/// An EC public key (a SEC1 point), if it is a P-256 point.
fn ec_public(key: DecodingKey) -> Result<VerifyingKey, KeyProblem> {
    let uncompressed_p256 = key
        .try_get_as_bytes()
        .is_ok_and(|point| point.len() == 65 && point[0] == 4);
    if !uncompressed_p256 {
        return Err(KeyProblem::NotP256);
    }
    // Builds the verifier once, which parses the point: an invalid one fails here, at load,
    // rather than as a bad signature on every token.
    (provider()?.verifier_factory)(&Algorithm::ES256, &key)
        .map_err(|source| KeyProblem::Invalid { source })?;
    Ok(VerifyingKey::new(KeyAlg::Es256, key))
}

fn check_rsa_bits(modulus: &[u8]) -> Result<(), KeyProblem> {
    let start = modulus
        .iter()
        .position(|&b| b != 0)
        .unwrap_or(modulus.len());
    let modulus = &modulus[start..];
    let bits = modulus
        .first()
        .map_or(0, |&top| modulus.len() * 8 - top.leading_zeros() as usize);
    if bits < MIN_RSA_BITS {
        return Err(KeyProblem::RsaTooSmall { bits });
    }
    Ok(())
}

/// A PEM private key: RS256 or ES256, from what the key is.
fn private_pem(label: &str, bytes: &[u8]) -> Result<SigningKey, KeyProblem> {
    match label {
        "PRIVATE KEY" | "RSA PRIVATE KEY" => {}
        "EC PRIVATE KEY" => return Err(KeyProblem::Sec1),
        "ENCRYPTED PRIVATE KEY" => return Err(KeyProblem::Encrypted),
        "PUBLIC KEY" | "RSA PUBLIC KEY" | "CERTIFICATE" => return Err(KeyProblem::PublicKey),
        other => {
            return Err(KeyProblem::UnsupportedPem {
                label: other.to_owned(),
            });
        }
    }
    let invalid = |source| KeyProblem::Invalid { source };
    let utils = &provider()?.key_utils;
    match EncodingKey::from_rsa_pem(bytes) {
        Ok(key) => {
            let (n, _) =
                (utils.rsa_pub_components_from_private_key)(key.as_bytes()).map_err(invalid)?;
            check_rsa_bits(&n)?;
            Ok(SigningKey {
                alg: KeyAlg::Rs256,
                key,
            })
        }
        Err(source) if label == "RSA PRIVATE KEY" => Err(invalid(source)),
        Err(_) => {
            let key = EncodingKey::from_ec_pem(bytes).map_err(invalid)?;
            // Reads the key as a P-256 one: another curve fails here.
            (utils.ec_pub_components_from_private_key)(key.as_bytes(), Algorithm::ES256)
                .map_err(|_| KeyProblem::NotP256)?;
            Ok(SigningKey {
                alg: KeyAlg::Es256,
                key,
            })
        }
    }
}

/// The keys of a JWKS file, by `kid`.
fn jwks(path: &Path, bytes: &[u8]) -> Result<HashMap<String, VerifyingKey>, AuthError> {
    let set: JwkSet = serde_json::from_slice(bytes).map_err(|source| AuthError::Key {
        path: path.to_owned(),
        problem: KeyProblem::NotJwks { source },
    })?;
    let mut keys = HashMap::with_capacity(set.keys.len());
    for (index, jwk) in set.keys.iter().enumerate() {
        let refuse = |problem| AuthError::JwksKey {
            path: path.to_owned(),
            index,
            kid: jwk.common.key_id.clone(),
            problem,
        };
        let Some(kid) = jwk.common.key_id.as_ref().filter(|kid| !kid.is_empty()) else {
            return Err(refuse(KeyProblem::MissingKid));
        };
        if is_for_encryption(jwk) {
            continue;
        }
        let key = jwk_key(jwk).map_err(refuse)?;
        if keys.insert(kid.clone(), key).is_some() {
            return Err(refuse(KeyProblem::DuplicateKid));
        }
    }
    if keys.is_empty() {
        return Err(AuthError::Key {
            path: path.to_owned(),
            problem: KeyProblem::NoKeys,
        });
    }
    Ok(keys)
}

/// A key published for encryption, which can never verify a signature.
fn is_for_encryption(jwk: &Jwk) -> bool {
    jwk.common.public_key_use == Some(PublicKeyUse::Encryption)
        || matches!(
            jwk.common.key_algorithm,
            Some(KeyAlgorithm::RSA1_5 | KeyAlgorithm::RSA_OAEP | KeyAlgorithm::RSA_OAEP_256)
        )
}

/// One JWKS key, with the algorithm its `alg` names or its type implies.
fn jwk_key(jwk: &Jwk) -> Result<VerifyingKey, KeyProblem> {
    let (alg, kty) = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => (KeyAlg::Rs256, "RSA"),
        AlgorithmParameters::EllipticCurve(_) => (KeyAlg::Es256, "EC"),
        AlgorithmParameters::OctetKey(_) => (KeyAlg::Hs256, "oct"),
        _ => return Err(KeyProblem::UnsupportedKeyType),
    };
    match jwk.common.key_algorithm {
        None => {}
        Some(declared) if declared == alg.jwk() => {}
        Some(declared @ (KeyAlgorithm::HS256 | KeyAlgorithm::RS256 | KeyAlgorithm::ES256)) => {
            return Err(KeyProblem::AlgorithmMismatch {
                alg: declared.to_string(),
                kty,
            });
        }
        Some(declared) => {
            return Err(KeyProblem::UnsupportedAlgorithm {
                alg: declared.to_string(),
            });
        }
    }
    if let AlgorithmParameters::EllipticCurve(params) = &jwk.algorithm
        && params.curve != EllipticCurve::P256
    {
        return Err(KeyProblem::NotP256);
    }
    let key = DecodingKey::from_jwk(jwk).map_err(|source| KeyProblem::Invalid { source })?;
    match alg {
        KeyAlg::Rs256 => rsa_public(key),
        KeyAlg::Es256 => ec_public(key),
        KeyAlg::Hs256 => {
            let len = key.try_get_as_bytes().map_or(0, <[u8]>::len);
            if len < MIN_SECRET_LEN {
                return Err(KeyProblem::SecretTooShort { len });
            }
            Ok(VerifyingKey::new(KeyAlg::Hs256, key))
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::auth::fixtures::{TempFile, fixture, fixture_bytes};

    fn load(source: KeySource) -> Result<KeySet, AuthError> {
        KeySet::load(&source)
    }

    fn key_file(bytes: &[u8]) -> (TempFile, Result<KeySet, AuthError>) {
        let file = TempFile::new("key", bytes);
        let keys = load(KeySource::Key(file.path().to_owned()));
        (file, keys)
    }

    fn alg_of(keys: &KeySet) -> KeyAlg {
        keys.select(None).expect("one key").alg
    }

    /// Whether two problems are the same variant.
    fn same(a: &KeyProblem, b: &KeyProblem) -> bool {
        std::mem::discriminant(a) == std::mem::discriminant(b)
    }

    /// What is wrong with fixture `name`, as `loaded` says (to verify or to sign with).
    fn problem_of<T>(name: &str, loaded: Result<T, AuthError>) -> KeyProblem {
        match loaded {
            Err(AuthError::Key { problem, path }) => {
                assert_eq!(path, fixture(name));
                problem
            }
            Err(other) => panic!("{name}: {other}"),
            Ok(_) => panic!("{name}: loaded"),
        }
    }

    #[test]
    fn a_secret_is_its_bytes_without_one_trailing_newline() {
        assert_eq!(secret(&[b'k'; 32]).unwrap().len(), 32);
        assert_eq!(
            secret(b"0123456789abcdef0123456789abcdef\n").unwrap().len(),
            32
        );
        assert_eq!(
            secret(b"0123456789abcdef0123456789abcdef\r\n")
                .unwrap()
                .len(),
            32
        );
        // Only one newline is stripped: a second one is part of the secret.
        assert_eq!(secret(&[b'\n'; 33]).unwrap().len(), 32);
        assert!(matches!(
            secret(b"0123456789abcdef0123456789abcde\n"),
            Err(KeyProblem::SecretTooShort { len: 31 })
        ));
        let (_file, keys) = key_file(b"too short\n");
        let error = keys.err().expect("a short secret is refused").to_string();
        assert!(
            error.contains("tickcast-auth-") && error.contains("has 9"),
            "{error}"
        );
        let (_file, keys) = key_file(&fixture_bytes("hs256-secret.txt"));
        assert_eq!(alg_of(&keys.unwrap()), KeyAlg::Hs256);
    }

    #[test]
    fn pem_public_keys_are_detected_from_the_file() {
        let rsa = load(KeySource::Key(fixture("rsa-2048-public.pem"))).unwrap();
        assert_eq!(alg_of(&rsa), KeyAlg::Rs256);
        let ec = load(KeySource::Key(fixture("ec-p256-public.pem"))).unwrap();
        assert_eq!(alg_of(&ec), KeyAlg::Es256);
        assert_eq!(ec.len(), 1);
        // Leading blank lines before the armour are fine.
        let mut padded = b"\n\n".to_vec();
        padded.extend(fixture_bytes("rsa-2048-public.pem"));
        assert_eq!(alg_of(&key_file(&padded).1.unwrap()), KeyAlg::Rs256);
    }

    #[test]
    fn unusable_pem_files_are_refused_with_a_hint() {
        for (name, expected) in [
            ("rsa-2048-private.pem", KeyProblem::PrivateKey),
            ("rsa-2048-private-pkcs1.pem", KeyProblem::PrivateKey),
            ("ec-p256-private.pem", KeyProblem::PrivateKey),
            ("ec-p384-public.pem", KeyProblem::NotP256),
        ] {
            let problem = problem_of(name, load(KeySource::Key(fixture(name))));
            assert!(same(&problem, &expected), "{name}: {problem}");
        }
        let (_file, junk) =
            key_file(b"-----BEGIN PUBLIC KEY-----\nnot base64\n-----END PUBLIC KEY-----\n");
        assert!(matches!(
            junk,
            Err(AuthError::Key {
                problem: KeyProblem::Invalid { .. },
                ..
            })
        ));
        let (_file, other) = key_file(b"-----BEGIN OPENSSH PRIVATE KEY-----\n");
        let message = other.err().expect("refused").to_string();
        assert!(message.contains("`OPENSSH PRIVATE KEY`"), "{message}");
        let private = fixture("rsa-2048-private.pem");
        let message = load(KeySource::Key(private)).err().unwrap().to_string();
        assert!(
            message.contains("openssl pkey -in KEY -pubout"),
            "{message}"
        );
    }

    #[test]
    fn an_unreadable_file_names_its_path() {
        let missing = fixture("no-such-key.pem");
        let error = load(KeySource::Key(missing.clone()))
            .err()
            .expect("missing file");
        assert!(matches!(error, AuthError::Read { .. }));
        assert!(error.to_string().contains(&missing.display().to_string()));
    }

    #[test]
    fn rsa_keys_shorter_than_2048_bits_are_refused() {
        assert!(check_rsa_bits(&[0xFF; 256]).is_ok());
        assert!(check_rsa_bits(&[&[0u8][..], &[0x80; 256]].concat()).is_ok());
        assert!(matches!(
            check_rsa_bits(&[&[0x7F][..], &[0xFF; 255]].concat()),
            Err(KeyProblem::RsaTooSmall { bits: 2047 })
        ));
        assert!(matches!(
            check_rsa_bits(&[]),
            Err(KeyProblem::RsaTooSmall { bits: 0 })
        ));
    }

    #[test]
    fn the_jwks_fixture_has_an_rsa_and_an_ec_key() {
        let keys = load(KeySource::Jwks(fixture("jwks.json"))).unwrap();
        assert_eq!(keys.len(), 2);
        assert_eq!(
            keys.select(Some("test-rsa-2048")).unwrap().alg,
            KeyAlg::Rs256
        );
        assert_eq!(
            keys.select(Some("test-ec-p256")).unwrap().alg,
            KeyAlg::Es256
        );
        assert_eq!(keys.select(Some("other")).err(), Some(Denied::UnknownKey));
        assert_eq!(keys.select(None).err(), Some(Denied::UnknownKey));
    }

    /// The fixture JWKS with its keys edited by `edit`.
    fn edited_jwks(edit: impl FnOnce(&mut Vec<serde_json::Value>)) -> Result<KeySet, AuthError> {
        let mut set: serde_json::Value =
            serde_json::from_slice(&fixture_bytes("jwks.json")).unwrap();
        let keys = set["keys"].as_array_mut().unwrap();
        edit(keys);
        let file = TempFile::new("jwks.json", set.to_string().as_bytes());
        load(KeySource::Jwks(file.path().to_owned()))
    }

    fn jwks_problem(edit: impl FnOnce(&mut Vec<serde_json::Value>)) -> (usize, KeyProblem) {
        match edited_jwks(edit) {
            Err(AuthError::JwksKey { index, problem, .. }) => (index, problem),
            Err(other) => panic!("not a key problem: {other}"),
            Ok(_) => panic!("loaded"),
        }
    }

    #[test]
    fn jwks_keys_without_a_usable_kid_alg_or_type_refuse_the_file() {
        let (index, problem) = jwks_problem(|keys| {
            keys[1].as_object_mut().unwrap().remove("kid");
        });
        assert_eq!(index, 1);
        assert!(matches!(problem, KeyProblem::MissingKid));
        let (_, problem) = jwks_problem(|keys| keys[1]["kid"] = json!("test-rsa-2048"));
        assert!(matches!(problem, KeyProblem::DuplicateKid));
        let (_, problem) = jwks_problem(|keys| keys[0]["alg"] = json!("RS512"));
        assert!(matches!(problem, KeyProblem::UnsupportedAlgorithm { .. }));
        let (_, problem) = jwks_problem(|keys| keys[0]["alg"] = json!("ES256"));
        assert!(matches!(
            problem,
            KeyProblem::AlgorithmMismatch { kty: "RSA", .. }
        ));
        let (_, problem) = jwks_problem(|keys| keys[1]["crv"] = json!("P-384"));
        assert!(matches!(problem, KeyProblem::NotP256));
        let (_, problem) = jwks_problem(|keys| {
            keys.push(json!({"kty": "OKP", "crv": "Ed25519", "kid": "ed", "x": "AAAA"}));
        });
        assert!(matches!(problem, KeyProblem::UnsupportedKeyType));
        let (_, problem) = jwks_problem(|keys| {
            keys.push(json!({"kty": "oct", "kid": "short", "k": "c2hvcnQ"}));
        });
        assert!(matches!(problem, KeyProblem::SecretTooShort { len: 5 }));
        let error = edited_jwks(|keys| keys[0]["alg"] = json!("RS512"))
            .err()
            .unwrap();
        let message = error.to_string();
        assert!(
            message.contains("key 0 (kid \"test-rsa-2048\")"),
            "{message}"
        );
    }

    #[test]
    fn jwks_encryption_keys_are_skipped_and_oct_keys_are_hs256() {
        let keys = edited_jwks(|keys| {
            keys[0]["use"] = json!("enc");
            keys[1]["alg"] = json!("RSA-OAEP");
            let secret = "dGlja2Nhc3QtdGVzdC1vbmx5LWhzMjU2LXNlY3JldC0wMTIzNDU2Nzg5YWJjZGVm";
            keys.push(json!({"kty": "oct", "kid": "hmac", "k": secret}));
        })
        .unwrap();
        assert_eq!(keys.len(), 1);
        assert_eq!(keys.select(Some("hmac")).unwrap().alg, KeyAlg::Hs256);
        let no_signing_key: [fn(&mut Vec<serde_json::Value>); 2] = [
            |keys| keys.clear(),
            |keys| {
                keys[0]["use"] = json!("enc");
                keys[1]["use"] = json!("enc");
            },
        ];
        for edit in no_signing_key {
            assert!(matches!(
                edited_jwks(edit),
                Err(AuthError::Key {
                    problem: KeyProblem::NoKeys,
                    ..
                })
            ));
        }
        let file = TempFile::new("not-jwks.json", b"{\"keys\": 3}");
        assert!(matches!(
            load(KeySource::Jwks(file.path().to_owned())),
            Err(AuthError::Key {
                problem: KeyProblem::NotJwks { .. },
                ..
            })
        ));
    }

    #[test]
    fn signing_keys_are_secrets_or_private_pem_keys() {
        let alg = |name: &str| SigningKey::load(&fixture(name)).map(|key| key.alg);
        assert_eq!(alg("hs256-secret.txt").ok(), Some(KeyAlg::Hs256));
        assert_eq!(alg("rsa-2048-private.pem").ok(), Some(KeyAlg::Rs256));
        assert_eq!(alg("rsa-2048-private-pkcs1.pem").ok(), Some(KeyAlg::Rs256));
        assert_eq!(alg("ec-p256-private.pem").ok(), Some(KeyAlg::Es256));
        // A JSON file is never taken for a secret, to verify (below) or to sign.
        for (name, expected) in [
            ("rsa-2048-public.pem", KeyProblem::PublicKey),
            ("ec-p256-public.pem", KeyProblem::PublicKey),
            ("ec-p256-private-sec1.pem", KeyProblem::Sec1),
            ("jwks.json", KeyProblem::Json),
        ] {
            let problem = problem_of(name, SigningKey::load(&fixture(name)));
            assert!(same(&problem, &expected), "{name}: {problem}");
        }
        assert!(matches!(
            load(KeySource::Key(fixture("jwks.json"))),
            Err(AuthError::Key {
                problem: KeyProblem::Json,
                ..
            })
        ));
    }
}

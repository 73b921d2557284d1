//! TLS on the HTTP listener: the certificate and key (read at start, re-read on SIGHUP), the
//! rustls configuration with ALPN, and the handshake of each connection.
//!
//! Place in the flow: `server` builds [`super::Http`] with `--tls-cert`/`--tls-key`
//! ([`TlsSettings`]); a bad file stops the start with a [`TlsError`] naming it. Every shard
//! runs [`Tls::accept`] on its own thread for each connection it adopts: the handshake is
//! bounded by the same timeout as a request head, so a client that never completes it is
//! dropped, and ALPN picks [`Protocol::Http2`] (`h2`) or HTTP/1.1. `server`'s SIGHUP task calls
//! [`Certificates::reload`] on the control thread.
//!
//! Reload without dropping streams: the [`CertifiedKey`] sits in an [`ArcSwap`] behind rustls's
//! [`ResolvesServerCert`]. A handshake loads the current one (a reference count, no lock); a
//! reload swaps in the new pair only once both files are read, parsed and found to match, so
//! a half-written or broken file leaves the old certificate in place. Established connections
//! never look at it again and go on untouched.
//!
//! Must never block a shard thread (files are read at start and on the control thread only),
//! and never log a client's failed handshake as a server error.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{InconsistentKeys, ServerConfig};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_util::sync::CancellationToken;

/// ALPN protocols offered, in the server's order of preference.
const ALPN: [&[u8]; 2] = [b"h2", b"http/1.1"];

/// Where the certificate and its key are; `config` fills it from `--tls-cert`/`--tls-key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    /// The certificate chain, PEM, the server's own certificate first.
    pub cert: PathBuf,
    /// Its private key, PEM (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// Why a certificate or key cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file cannot be read.
    #[error("cannot read the TLS {what} {}: {source}", path.display())]
    Read {
        /// `certificate` or `key`.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A file is not valid PEM, or holds no block of the kind it should.
    #[error("TLS {what} {}: no usable PEM {what}: {source}", path.display())]
    Pem {
        /// `certificate` or `key`.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// What the PEM parser said.
        source: pem::Error,
    },
    /// The key is of a kind rustls cannot sign with.
    #[error("TLS key {}: {source}", path.display())]
    Key {
        /// The file.
        path: PathBuf,
        /// Why rustls refused it.
        source: rustls::Error,
    },
    /// The certificate cannot be parsed as X.509.
    #[error("TLS certificate {}: {source}", path.display())]
    Certificate {
        /// The file.
        path: PathBuf,
        /// Why rustls refused it.
        source: rustls::Error,
    },
    /// The key is not the certificate's.
    #[error("TLS key {} does not match the certificate {}", key.display(), cert.display())]
    Mismatch {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
    },
    /// rustls refused the configuration (no usable protocol version).
    #[error("TLS configuration: {0}")]
    Config(rustls::Error),
}

/// The server's certificate and key: the current pair, and where to read the next one.
pub struct Certificates {
    settings: TlsSettings,
    provider: Arc<CryptoProvider>,
    current: ArcSwap<CertifiedKey>,
}

impl Certificates {
    /// Reads and checks the pair `settings` names.
    pub fn load(settings: TlsSettings, provider: Arc<CryptoProvider>) -> Result<Self, TlsError> {
        let pair = read_pair(&settings, &provider)?;
        Ok(Self {
            settings,
            provider,
            current: ArcSwap::from_pointee(pair),
        })
    }

    /// Reads the files again and, if they make a valid pair, serves it to every new handshake;
    /// otherwise keeps the current pair and says why.
    pub fn reload(&self) -> Result<(), TlsError> {
        let pair = read_pair(&self.settings, &self.provider)?;
        self.current.store(Arc::new(pair));
        Ok(())
    }

    /// The pair new handshakes get.
    pub fn current(&self) -> Arc<CertifiedKey> {
        self.current.load_full()
    }

    /// Where the pair is read from.
    pub fn settings(&self) -> &TlsSettings {
        &self.settings
    }
}

impl fmt::Debug for Certificates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Certificates")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl ResolvesServerCert for Certificates {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

/// Reads the certificate chain and key, and checks that they belong together.
fn read_pair(settings: &TlsSettings, provider: &CryptoProvider) -> Result<CertifiedKey, TlsError> {
    let cert_pem = read("certificate", &settings.cert)?;
    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .and_then(|chain| {
            if chain.is_empty() {
                Err(pem::Error::NoItemsFound)
            } else {
                Ok(chain)
            }
        })
        .map_err(|source| TlsError::Pem {
            what: "certificate",
            path: settings.cert.clone(),
            source,
        })?;
    let key_pem = read("key", &settings.key)?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|source| TlsError::Pem {
        what: "key",
        path: settings.key.clone(),
        source,
    })?;
    let signing_key = provider
        .key_provider
        .load_private_key(key)
        .map_err(|source| TlsError::Key {
            path: settings.key.clone(),
            source,
        })?;
    let pair = CertifiedKey::new(chain, signing_key);
    match pair.keys_match() {
        // A key type whose public half rustls cannot derive is accepted as rustls does.
        Ok(()) | Err(rustls::Error::InconsistentKeys(InconsistentKeys::Unknown)) => Ok(pair),
        Err(rustls::Error::InconsistentKeys(_)) => Err(TlsError::Mismatch {
            cert: settings.cert.clone(),
            key: settings.key.clone(),
        }),
        Err(source) => Err(TlsError::Certificate {
            path: settings.cert.clone(),
            source,
        }),
    }
}

fn read(what: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        what,
        path: path.to_owned(),
        source,
    })
}

/// The protocol a TLS connection agreed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// ALPN `h2`.
    Http2,
    /// ALPN `http/1.1`, or no ALPN at all.
    Http1,
}

/// The listener's TLS side: the rustls configuration and the certificates it serves.
#[derive(Clone)]
pub struct Tls {
    acceptor: TlsAcceptor,
    certificates: Arc<Certificates>,
}

impl Tls {
    /// Loads the certificate and key and builds the configuration (ring provider, TLS 1.2 and
    /// 1.3, ALPN `h2` then `http/1.1`).
    pub fn new(settings: TlsSettings) -> Result<Self, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let certificates = Arc::new(Certificates::load(settings, provider.clone())?);
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(TlsError::Config)?
            .with_no_client_auth()
            .with_cert_resolver(certificates.clone());
        config.alpn_protocols = ALPN.iter().map(|p| p.to_vec()).collect();
        Ok(Self {
            acceptor: TlsAcceptor::from(Arc::new(config)),
            certificates,
        })
    }

    /// The certificates, to reload them.
    pub fn certificates(&self) -> &Arc<Certificates> {
        &self.certificates
    }

    /// The server side of the handshake, at most `limit`; `None` if the client failed it, did
    /// not finish in time, or the drain began meanwhile (all logged at debug: clients leaving).
    pub async fn accept(
        &self,
        stream: TcpStream,
        limit: Duration,
        stop: &CancellationToken,
    ) -> Option<(TlsStream<TcpStream>, Protocol)> {
        let handshake = tokio::time::timeout(limit, self.acceptor.accept(stream));
        let stream = tokio::select! {
            _ = stop.cancelled() => return None,
            done = handshake => match done {
                Ok(Ok(stream)) => stream,
                Ok(Err(error)) => {
                    tracing::debug!(%error, "TLS handshake failed");
                    return None;
                }
                Err(_) => {
                    tracing::debug!(?limit, "TLS handshake not finished in time");
                    return None;
                }
            },
        };
        let protocol = match stream.get_ref().1.alpn_protocol() {
            Some(b"h2") => Protocol::Http2,
            _ => Protocol::Http1,
        };
        Some((stream, protocol))
    }
}

impl fmt::Debug for Tls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tls")
            .field("certificates", &self.certificates)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A self-signed pair for `localhost` written to a fresh directory: (dir, settings, DER).
    fn pair(name: &str) -> (PathBuf, TlsSettings, Vec<u8>) {
        let dir = std::env::temp_dir().join(format!("tickcast-tls-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let settings = TlsSettings {
            cert: dir.join("cert.pem"),
            key: dir.join("key.pem"),
        };
        let der = write_pair(&settings);
        (dir, settings, der)
    }

    fn write_pair(settings: &TlsSettings) -> Vec<u8> {
        let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        std::fs::write(&settings.cert, made.cert.pem()).unwrap();
        std::fs::write(&settings.key, made.signing_key.serialize_pem()).unwrap();
        made.cert.der().to_vec()
    }

    fn provider() -> Arc<CryptoProvider> {
        Arc::new(rustls::crypto::ring::default_provider())
    }

    fn leaf(certificates: &Certificates) -> Vec<u8> {
        certificates.current().end_entity_cert().unwrap().to_vec()
    }

    #[test]
    fn a_pair_loads_and_reloads() {
        let (dir, settings, first) = pair("reload");
        let certificates = Certificates::load(settings.clone(), provider()).unwrap();
        assert_eq!(leaf(&certificates), first);
        let second = write_pair(&settings);
        certificates.reload().unwrap();
        assert_eq!(leaf(&certificates), second);

        // A broken file on reload keeps what was served, and says which file.
        std::fs::write(&settings.cert, "not a certificate").unwrap();
        let error = certificates.reload().unwrap_err();
        assert!(
            matches!(
                error,
                TlsError::Pem {
                    what: "certificate",
                    ..
                }
            ),
            "{error}"
        );
        assert!(error.to_string().contains("cert.pem"), "{error}");
        assert_eq!(leaf(&certificates), second);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn bad_files_are_named() {
        let (dir, settings, _) = pair("bad");
        let missing = TlsSettings {
            cert: dir.join("absent.pem"),
            ..settings.clone()
        };
        let error = Certificates::load(missing, provider()).unwrap_err();
        assert!(
            matches!(
                error,
                TlsError::Read {
                    what: "certificate",
                    ..
                }
            ),
            "{error}"
        );
        assert!(error.to_string().contains("absent.pem"), "{error}");

        // The certificate file given as the key: valid PEM, but no key in it.
        let swapped = TlsSettings {
            key: settings.cert.clone(),
            ..settings.clone()
        };
        let error = Certificates::load(swapped, provider()).unwrap_err();
        assert!(
            matches!(error, TlsError::Pem { what: "key", .. }),
            "{error}"
        );

        // Another pair's key.
        let other = dir.join("other");
        std::fs::create_dir_all(&other).unwrap();
        let foreign = TlsSettings {
            cert: other.join("cert.pem"),
            key: other.join("key.pem"),
        };
        write_pair(&foreign);
        let mismatched = TlsSettings {
            key: foreign.key,
            ..settings
        };
        let error = Certificates::load(mismatched, provider()).unwrap_err();
        assert!(matches!(error, TlsError::Mismatch { .. }), "{error}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}

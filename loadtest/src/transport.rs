//! How a client's bytes travel: plain TCP, TLS over it (rustls, `--tls`), and HTTP/2 streams
//! over TLS (hyper's client, `--http2`).
//!
//! Place in the flow: `run` builds one [`TlsClient`] from the [`TlsOptions`] before anything
//! connects (a bad CA file stops the run there); each [`crate::client`] dials TCP through
//! [`crate::dial`] and, with TLS, runs [`TlsClient::handshake`] inside its connect timeout. The
//! client then reads a [`Connection`]: an enum, so the plain path stays the `read()` it was
//! (one branch per read, no boxing per read, no extra copy). The TLS stream is boxed once per
//! connection, which keeps the enum the size of a `TcpStream`.
//!
//! The client offers ALPN `http/1.1` only, unless `--http2`: what TLS costs is measured against
//! the very same HTTP/1.1 stream the plain path reads.
//!
//! With `--http2` it offers `h2` only, and a server that does not choose it fails the
//! handshake. An [`Http2`] is one connection's handle, shared by the clients of a thread whose
//! streams it carries ([`Http2Slot`]); hyper's connection task runs on the thread's `LocalSet`
//! beside them. Each client then reads its response body's DATA frames into the same SSE
//! parser and ledger as on HTTP/1.1. Certificates are checked against `--tls-ca`, or not at
//! all with `--tls-insecure` ([`Trust::AnyCertificate`]: the handshake's signatures are still
//! verified, the chain and name are not; for benchmarks only).
//!
//! A certificate of the CA file that the server shows as it is, is trusted as it is (pinned),
//! once its name is checked: webpki refuses a CA certificate as a server's own, and that is
//! exactly what `openssl req -x509` makes by default (`CA:TRUE`) for a self-signed test
//! server. Any other certificate goes through webpki's chain check against the file's roots.
//!
//! Must never read files or build configurations per connection: the [`ClientConfig`] is
//! shared by every connection of the run.

use std::cell::RefCell;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use http_body_util::Empty;
use hyper::body::{Bytes, Incoming};
use hyper::client::conn::http2::SendRequest;
use hyper_util::rt::TokioIo;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{VerifierBuilderError, WebPkiServerVerifier, verify_server_name};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// ALPN of HTTP/1.1.
const ALPN_HTTP1: &[u8] = b"http/1.1";
/// ALPN of HTTP/2.
const ALPN_H2: &[u8] = b"h2";

/// What the certificate the server shows is checked against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trust {
    /// The roots in this PEM file (`--tls-ca`).
    Ca(PathBuf),
    /// Any certificate at all (`--tls-insecure`): benchmarks on a machine of one's own only.
    AnyCertificate,
}

/// The TLS side of the run's flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsOptions {
    /// The name sent as SNI and checked against the certificate (`--tls-server-name`).
    pub server_name: String,
    /// What the certificate is checked against.
    pub trust: Trust,
    /// Offer ALPN `h2` (only), not `http/1.1` (`--http2`).
    pub http2: bool,
}

/// Why the TLS client cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The CA file cannot be read.
    #[error("cannot read the TLS CA file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// The CA file is not PEM, or holds no certificate.
    #[error("TLS CA file {}: no usable PEM certificate: {source}", path.display())]
    Pem {
        /// The file.
        path: PathBuf,
        /// What the PEM parser said.
        source: pem::Error,
    },
    /// A certificate of the CA file cannot be a trust anchor.
    #[error("TLS CA file {}: {source}", path.display())]
    Root {
        /// The file.
        path: PathBuf,
        /// Why rustls refused it.
        source: rustls::Error,
    },
    /// The roots cannot make a verifier.
    #[error("TLS CA file {}: {source}", path.display())]
    Verifier {
        /// The file.
        path: PathBuf,
        /// Why rustls refused the roots.
        source: VerifierBuilderError,
    },
    /// `--tls-server-name` is neither a DNS name nor an IP address.
    #[error("--tls-server-name {0:?} is neither a DNS name nor an IP address")]
    ServerName(String),
    /// rustls refused the configuration (no usable protocol version).
    #[error("TLS configuration: {0}")]
    Config(rustls::Error),
}

/// The client side of TLS for every connection of a run.
#[derive(Clone)]
pub struct TlsClient {
    connector: TlsConnector,
    server_name: ServerName<'static>,
    http2: bool,
}

impl TlsClient {
    /// Reads the CA file (if any) and builds the configuration: ring provider, TLS 1.2 and
    /// 1.3, ALPN `http/1.1` (or `h2`).
    pub fn new(options: &TlsOptions) -> Result<Self, TlsError> {
        let server_name = ServerName::try_from(options.server_name.clone())
            .map_err(|_| TlsError::ServerName(options.server_name.clone()))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(TlsError::Config)?;
        let verifier: Arc<dyn ServerCertVerifier> = match &options.trust {
            Trust::Ca(path) => Arc::new(CaFile::new(path, provider)?),
            Trust::AnyCertificate => Arc::new(AnyCertificate(provider)),
        };
        let mut config = builder
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        let alpn = if options.http2 { ALPN_H2 } else { ALPN_HTTP1 };
        config.alpn_protocols = vec![alpn.to_vec()];
        Ok(Self {
            connector: TlsConnector::from(Arc::new(config)),
            server_name,
            http2: options.http2,
        })
    }

    /// The client side of the handshake on a connected socket. With `--http2`, a server that
    /// does not choose `h2` fails it.
    pub async fn handshake(&self, stream: TcpStream) -> io::Result<Connection> {
        let stream = self
            .connector
            .connect(self.server_name.clone(), stream)
            .await?;
        if self.http2 && stream.get_ref().1.alpn_protocol() != Some(ALPN_H2) {
            return Err(io::Error::other("the server did not choose ALPN h2"));
        }
        Ok(Connection::Tls(Box::new(stream)))
    }
}

impl std::fmt::Debug for TlsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsClient")
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

/// The certificates of a PEM file (at least one).
fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_owned(),
        source,
    })?;
    let certificates = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .and_then(|found| {
            if found.is_empty() {
                Err(pem::Error::NoItemsFound)
            } else {
                Ok(found)
            }
        })
        .map_err(|source| TlsError::Pem {
            path: path.to_owned(),
            source,
        })?;
    Ok(certificates)
}

/// What one TLS session agreed on, as the report shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Session {
    /// `TLSv1_3`, `TLSv1_2`.
    pub version: String,
    /// The cipher suite, e.g. `TLS13_AES_256_GCM_SHA384`.
    pub cipher_suite: String,
    /// The ALPN protocol the server chose (`null`: none).
    pub alpn: Option<String>,
}

/// One client connection's byte stream.
#[derive(Debug)]
pub enum Connection {
    /// Plain TCP.
    Plain(TcpStream),
    /// TLS over TCP (boxed once per connection: rustls's state is a few hundred bytes).
    Tls(Box<TlsStream<TcpStream>>),
}

impl Connection {
    /// What the TLS session agreed on (`None` on plain TCP).
    pub fn session(&self) -> Option<Session> {
        let Connection::Tls(stream) = self else {
            return None;
        };
        let connection = stream.get_ref().1;
        Some(Session {
            version: connection
                .protocol_version()
                .map_or_else(|| "unknown".to_owned(), |v| format!("{v:?}")),
            cipher_suite: connection
                .negotiated_cipher_suite()
                .map_or_else(|| "unknown".to_owned(), |s| format!("{:?}", s.suite())),
            alpn: connection
                .alpn_protocol()
                .map(|p| String::from_utf8_lossy(p).into_owned()),
        })
    }

    /// One read that does not wait, of at most `buf.len()` bytes (the slow clients' budgeted
    /// reads, on an interval): `WouldBlock` when nothing is there.
    ///
    /// On TLS it polls with a waker that does nothing: the socket's readiness is still
    /// tracked by tokio, and the caller comes back on its own interval. rustls may take up to
    /// a record (16 KiB) more off the socket than the caller reads, and holds it decrypted, so a
    /// slow TLS client stalls the server a record later than a plain one.
    pub fn try_read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Connection::Plain(stream) => stream.try_read(buf),
            Connection::Tls(_) => {
                let mut cx = Context::from_waker(Waker::noop());
                let mut read_buf = ReadBuf::new(buf);
                match Pin::new(self).poll_read(&mut cx, &mut read_buf) {
                    Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
                    Poll::Ready(Ok(())) => Ok(read_buf.filled().len()),
                    Poll::Ready(Err(err)) => Err(err),
                }
            }
        }
    }
}

impl AsyncRead for Connection {
    /// On TLS, a peer that closes without `close_notify` reads as the end of the stream, as a
    /// FIN does on plain TCP: the body's framing (the last chunk) is what tells a complete
    /// stream from a cut one, on both.
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Connection::Plain(stream) => Pin::new(stream).poll_read(cx, buf),
            Connection::Tls(stream) => match Pin::new(stream.as_mut()).poll_read(cx, buf) {
                Poll::Ready(Err(err)) if err.kind() == io::ErrorKind::UnexpectedEof => {
                    Poll::Ready(Ok(()))
                }
                other => other,
            },
        }
    }
}

impl AsyncWrite for Connection {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Connection::Plain(stream) => Pin::new(stream).poll_write(cx, buf),
            Connection::Tls(stream) => Pin::new(stream.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Connection::Plain(stream) => Pin::new(stream).poll_flush(cx),
            Connection::Tls(stream) => Pin::new(stream.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Connection::Plain(stream) => Pin::new(stream).poll_shutdown(cx),
            Connection::Tls(stream) => Pin::new(stream.as_mut()).poll_shutdown(cx),
        }
    }
}

/// The `--tls-ca` verifier: webpki's chain check against the file's roots, and the file's own
/// certificates pinned (see the module docs).
#[derive(Debug)]
struct CaFile {
    webpki: Arc<WebPkiServerVerifier>,
    pinned: Vec<CertificateDer<'static>>,
}

impl CaFile {
    fn new(path: &Path, provider: Arc<CryptoProvider>) -> Result<Self, TlsError> {
        let pinned = certificates(path)?;
        let mut roots = RootCertStore::empty();
        for certificate in &pinned {
            roots
                .add(certificate.clone())
                .map_err(|source| TlsError::Root {
                    path: path.to_owned(),
                    source,
                })?;
        }
        let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .map_err(|source| TlsError::Verifier {
                path: path.to_owned(),
                source,
            })?;
        Ok(Self { webpki, pinned })
    }
}

impl ServerCertVerifier for CaFile {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if self.pinned.iter().any(|pinned| pinned == end_entity) {
            verify_server_name(&ParsedCertificate::try_from(end_entity)?, server_name)?;
            return Ok(ServerCertVerified::assertion());
        }
        self.webpki
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

/// The `--tls-insecure` verifier: any certificate for any name. The handshake's signatures
/// are still checked with the provider's algorithms, so the session is a real one.
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The reason a handshake failed, as the report counts it: rustls's own words when it was
/// rustls that refused (`invalid peer certificate: UnknownIssuer`), else the I/O error kind.
pub fn handshake_failure(err: &io::Error) -> String {
    match err.get_ref() {
        Some(refused) => format!("tls: {refused}"),
        None => format!("tls: {}", err.kind()),
    }
}

/// One HTTP/2 connection: opens a stream per request. Clones share the connection.
#[derive(Debug, Clone)]
pub struct Http2 {
    sender: SendRequest<Empty<Bytes>>,
}

impl Http2 {
    /// The HTTP/2 handshake over a TLS connection that chose `h2`; hyper's connection task is
    /// spawned on the current `LocalSet` and ends when the connection does (or with the set).
    pub async fn handshake(connection: Connection) -> Result<Http2, hyper::Error> {
        let (sender, driver) = hyper::client::conn::http2::Builder::new(LocalExec)
            .handshake(TokioIo::new(connection))
            .await?;
        tokio::task::spawn_local(async move {
            // Its end is seen by the streams (an error or the end of their bodies).
            let _ = driver.await;
        });
        Ok(Http2 { sender })
    }

    /// Whether the connection is gone (new streams need a new one).
    pub fn is_closed(&self) -> bool {
        self.sender.is_closed()
    }

    /// Sends `request` on a new stream, once the server allows one more (its
    /// `SETTINGS_MAX_CONCURRENT_STREAMS`); returns the response, body unread.
    pub async fn send(
        &self,
        request: hyper::Request<Empty<Bytes>>,
    ) -> Result<hyper::Response<Incoming>, hyper::Error> {
        let mut sender = self.sender.clone();
        sender.ready().await?;
        sender.send_request(request).await
    }
}

/// The HTTP/2 connection a group of clients shares, on one fleet thread.
#[derive(Debug, Default)]
pub struct Http2Slot {
    current: RefCell<Option<Http2>>,
    /// Held by the client that dials, so the others of the group wait for its connection
    /// instead of opening their own.
    pub dialing: tokio::sync::Mutex<()>,
}

impl Http2Slot {
    /// The connection, if there is one still open.
    pub fn open(&self) -> Option<Http2> {
        self.current
            .borrow()
            .as_ref()
            .filter(|h2| !h2.is_closed())
            .cloned()
    }

    /// Keeps `h2` for the group.
    pub fn set(&self, h2: Http2) {
        *self.current.borrow_mut() = Some(h2);
    }
}

/// Runs hyper's HTTP/2 tasks on the fleet thread's `LocalSet`, beside the clients.
#[derive(Debug, Clone, Copy)]
struct LocalExec;

impl<F> hyper::rt::Executor<F> for LocalExec
where
    F: std::future::Future + 'static,
    F::Output: 'static,
{
    fn execute(&self, future: F) {
        tokio::task::spawn_local(future);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use rustls::ServerConfig;
    use rustls::pki_types::PrivateKeyDer;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;
    use tokio_rustls::TlsAcceptor;

    /// A self-signed certificate for `names` in a fresh directory: (dir, cert file, config).
    /// `ca`: marked `CA:TRUE`, as `openssl req -x509` makes it.
    fn server_with(name: &str, names: &[&str], ca: bool) -> (PathBuf, PathBuf, Arc<ServerConfig>) {
        let dir =
            std::env::temp_dir().join(format!("tickcast-load-tls-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut params = rcgen::CertificateParams::new(
            names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>(),
        )
        .unwrap();
        if ca {
            params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        }
        let signing_key = rcgen::KeyPair::generate().unwrap();
        let made = params.self_signed(&signing_key).unwrap();
        let cert = dir.join("cert.pem");
        std::fs::write(&cert, made.pem()).unwrap();
        let key = PrivateKeyDer::from_pem_slice(signing_key.serialize_pem().as_bytes()).unwrap();
        let mut config =
            ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(vec![made.der().clone()], key)
                .unwrap();
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        (dir, cert, Arc::new(config))
    }

    fn server(name: &str, names: &[&str]) -> (PathBuf, PathBuf, Arc<ServerConfig>) {
        server_with(name, names, false)
    }

    /// Serves one connection: reads 4 bytes, answers them back, closes without close_notify.
    async fn echo_once(config: Arc<ServerConfig>) -> std::net::SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (socket, _) = listener.accept().await.unwrap();
            let Ok(mut stream) = TlsAcceptor::from(config).accept(socket).await else {
                return;
            };
            let mut word = [0u8; 4];
            stream.read_exact(&mut word).await.unwrap();
            stream.write_all(&word).await.unwrap();
            stream.flush().await.unwrap();
            // Dropped without shutdown: a TCP close with no close_notify.
        });
        addr
    }

    async fn connect(client: &TlsClient, addr: std::net::SocketAddr) -> io::Result<Connection> {
        client.handshake(TcpStream::connect(addr).await?).await
    }

    fn options(name: &str, trust: Trust) -> TlsOptions {
        TlsOptions {
            server_name: name.to_owned(),
            trust,
            http2: false,
        }
    }

    #[tokio::test]
    async fn a_trusted_server_speaks_http1_and_its_close_reads_as_the_end() {
        let (dir, cert, config) = server("trusted", &["localhost"]);
        let addr = echo_once(config).await;
        let client = TlsClient::new(&options("localhost", Trust::Ca(cert))).unwrap();
        let mut connection = connect(&client, addr).await.unwrap();
        let session = connection.session().unwrap();
        assert_eq!(session.alpn.as_deref(), Some("http/1.1"));
        assert_eq!(session.version, "TLSv1_3");
        connection.write_all(b"ping").await.unwrap();
        connection.flush().await.unwrap();
        let mut answer = Vec::new();
        connection.read_to_end(&mut answer).await.unwrap();
        assert_eq!(answer, b"ping");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test]
    async fn an_unknown_issuer_or_name_is_refused_unless_insecure() {
        let (dir, _, config) = server("untrusted", &["localhost"]);
        let (other_dir, other_cert, _) = server("other", &["localhost"]);

        let addr = echo_once(Arc::clone(&config)).await;
        let stranger = TlsClient::new(&options("localhost", Trust::Ca(other_cert))).unwrap();
        let err = connect(&stranger, addr).await.unwrap_err();
        // Another self-signed certificate of the same subject: found as the issuer by name,
        // refused by its signature (`BadSignature`; `UnknownIssuer` for another subject).
        assert!(
            handshake_failure(&err).starts_with("tls: invalid peer certificate: "),
            "{}",
            handshake_failure(&err)
        );

        let (name_dir, own_cert, own_config) = server("name", &["localhost"]);
        let addr = echo_once(own_config).await;
        let wrong_name = TlsClient::new(&options("example.com", Trust::Ca(own_cert))).unwrap();
        let err = connect(&wrong_name, addr).await.unwrap_err();
        assert!(
            handshake_failure(&err)
                .starts_with("tls: invalid peer certificate: certificate not valid for name"),
            "{}",
            handshake_failure(&err)
        );

        let addr = echo_once(config).await;
        let insecure = TlsClient::new(&options("example.com", Trust::AnyCertificate)).unwrap();
        let mut connection = connect(&insecure, addr).await.unwrap();
        connection.write_all(b"pong").await.unwrap();
        connection.flush().await.unwrap();
        let mut answer = [0u8; 4];
        connection.read_exact(&mut answer).await.unwrap();
        assert_eq!(&answer, b"pong");
        std::fs::remove_dir_all(dir).unwrap();
        std::fs::remove_dir_all(other_dir).unwrap();
        std::fs::remove_dir_all(name_dir).unwrap();
    }

    #[tokio::test]
    async fn a_self_signed_ca_certificate_in_the_ca_file_is_pinned_with_its_name_checked() {
        let (dir, cert, config) = server_with("pinned", &["localhost", "127.0.0.1"], true);
        for name in ["localhost", "127.0.0.1"] {
            let addr = echo_once(Arc::clone(&config)).await;
            let client = TlsClient::new(&options(name, Trust::Ca(cert.clone()))).unwrap();
            let mut connection = connect(&client, addr).await.unwrap();
            connection.write_all(b"ping").await.unwrap();
            connection.flush().await.unwrap();
            let mut answer = [0u8; 4];
            connection.read_exact(&mut answer).await.unwrap();
        }
        let addr = echo_once(config).await;
        let wrong_name = TlsClient::new(&options("example.com", Trust::Ca(cert))).unwrap();
        let err = connect(&wrong_name, addr).await.unwrap_err();
        assert!(
            handshake_failure(&err).contains("not valid for name"),
            "{}",
            handshake_failure(&err)
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test]
    async fn http2_needs_the_server_to_choose_h2() {
        let (dir, cert, config) = server("alpn", &["localhost"]);
        let mut no_alpn = (*config).clone();
        no_alpn.alpn_protocols.clear();
        let addr = echo_once(Arc::new(no_alpn)).await;
        let client = TlsClient::new(&TlsOptions {
            http2: true,
            ..options("localhost", Trust::Ca(cert.clone()))
        })
        .unwrap();
        let err = connect(&client, addr).await.unwrap_err();
        assert_eq!(
            handshake_failure(&err),
            "tls: the server did not choose ALPN h2"
        );
        let addr = echo_once(config).await;
        let connection = connect(&client, addr).await.unwrap();
        assert_eq!(connection.session().unwrap().alpn.as_deref(), Some("h2"));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test]
    async fn try_read_on_tls_does_not_wait() {
        let (dir, cert, config) = server("try-read", &["localhost"]);
        let addr = echo_once(config).await;
        let client = TlsClient::new(&options("localhost", Trust::Ca(cert))).unwrap();
        let mut connection = connect(&client, addr).await.unwrap();
        let mut buf = [0u8; 2];
        let err = connection.try_read(&mut buf).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
        connection.write_all(b"abcd").await.unwrap();
        connection.flush().await.unwrap();
        // Budgeted reads of 2 bytes, on an interval, as a slow client does.
        let mut got = Vec::new();
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
        while got.len() < 4 && tokio::time::Instant::now() < deadline {
            match connection.try_read(&mut buf) {
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                }
                Err(err) => panic!("{err}"),
            }
        }
        assert_eq!(got, b"abcd");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn bad_ca_files_and_names_are_named() {
        let dir =
            std::env::temp_dir().join(format!("tickcast-load-tls-bad-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let missing = dir.join("absent.pem");
        let err = TlsClient::new(&options("localhost", Trust::Ca(missing))).unwrap_err();
        assert!(matches!(err, TlsError::Read { .. }), "{err}");
        assert!(err.to_string().contains("absent.pem"), "{err}");
        let junk = dir.join("junk.pem");
        std::fs::write(&junk, "not a certificate").unwrap();
        let err = TlsClient::new(&options("localhost", Trust::Ca(junk))).unwrap_err();
        assert!(matches!(err, TlsError::Pem { .. }), "{err}");
        let err = TlsClient::new(&options("not a name", Trust::AnyCertificate)).unwrap_err();
        assert!(matches!(err, TlsError::ServerName(_)), "{err}");
        assert!(TlsClient::new(&options("127.0.0.1", Trust::AnyCertificate)).is_ok());
        std::fs::remove_dir_all(dir).unwrap();
    }
}

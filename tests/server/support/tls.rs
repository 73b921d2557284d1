//! TLS for the tests: certificates made with rcgen and written where the server reads them, the
//! client side of the handshake trusting them, and hyper's HTTP/2 client over it.
//!
//! [`TestCert`] writes a self-signed pair for `localhost` and `127.0.0.1` to a directory of its
//! own (removed on drop), and can write a new pair to the same files (a renewal, before a
//! SIGHUP). Its [`Trust`] is the client's root store: every certificate the `TestCert` has
//! written, so the harness's requests keep working across a reload. [`Http2Client`] is one
//! HTTP/2 connection (ALPN `h2`) on which a test opens any number of streams.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::Empty;
use hyper::client::conn::http2::SendRequest;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::ClientConfig;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout_at};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use super::{EVENT_TIMEOUT, Response, SseStream};

/// The name the client asks for; the test certificates are issued for it (and for 127.0.0.1).
const SERVER_NAME: &str = "localhost";

/// A certificate and key in PEM files, as a server is given them.
pub struct TestCert {
    dir: PathBuf,
    /// The certificate file (`--tls-cert`).
    pub cert: PathBuf,
    /// The key file (`--tls-key`).
    pub key: PathBuf,
    der: Vec<u8>,
    trust: Trust,
}

impl TestCert {
    /// A fresh self-signed pair in a directory named after `name`.
    pub fn new(name: &str) -> TestCert {
        let dir =
            std::env::temp_dir().join(format!("tickcast-it-tls-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap_or_else(|err| panic!("{}: {err}", dir.display()));
        let mut cert = TestCert {
            cert: dir.join("cert.pem"),
            key: dir.join("key.pem"),
            dir,
            der: Vec::new(),
            trust: Trust::default(),
        };
        cert.renew();
        cert
    }

    /// Writes a new pair over the files; returns the new certificate's DER (also trusted).
    pub fn renew(&mut self) -> Vec<u8> {
        let made = rcgen::generate_simple_self_signed(vec![
            SERVER_NAME.to_owned(),
            "127.0.0.1".to_owned(),
        ])
        .expect("rcgen makes a self-signed certificate");
        std::fs::write(&self.cert, made.cert.pem()).expect("write the certificate");
        std::fs::write(&self.key, made.signing_key.serialize_pem()).expect("write the key");
        self.der = made.cert.der().to_vec();
        self.trust.add(made.cert.der().clone());
        self.der.clone()
    }

    /// The DER of the certificate last written.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The flags that make a server use these files.
    pub fn flags(&self) -> Vec<String> {
        let path = |p: &PathBuf| p.to_str().expect("a UTF-8 temp path").to_owned();
        vec![
            "--tls-cert".to_owned(),
            path(&self.cert),
            "--tls-key".to_owned(),
            path(&self.key),
        ]
    }

    /// What a client trusts to reach a server using these files.
    pub fn trust(&self) -> Trust {
        self.trust.clone()
    }
}

impl Drop for TestCert {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The client's root store: every certificate of one [`TestCert`], old and new.
#[derive(Clone, Default)]
pub struct Trust(Arc<Mutex<Vec<CertificateDer<'static>>>>);

impl Trust {
    fn add(&self, der: CertificateDer<'static>) {
        self.0.lock().expect("trust lock").push(der);
    }

    /// A client configuration trusting these certificates and offering `alpn`.
    fn config(&self, alpn: &[&[u8]]) -> Arc<ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        for der in self.0.lock().expect("trust lock").iter() {
            roots
                .add(der.clone())
                .expect("a test certificate is a valid root");
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("default protocol versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Arc::new(config)
    }

    /// The client side of the handshake on `stream`, offering `alpn`.
    pub async fn handshake(
        &self,
        stream: TcpStream,
        alpn: &[&[u8]],
    ) -> std::io::Result<TlsStream<TcpStream>> {
        let name = ServerName::try_from(SERVER_NAME).expect("a valid server name");
        TlsConnector::from(self.config(alpn))
            .connect(name, stream)
            .await
    }

    /// Connects to `addr` and completes the handshake, within [`EVENT_TIMEOUT`].
    pub async fn connect(&self, addr: SocketAddr, alpn: &[&[u8]]) -> TlsStream<TcpStream> {
        let deadline = Instant::now() + EVENT_TIMEOUT;
        let connected = async {
            let stream = TcpStream::connect(addr).await?;
            self.handshake(stream, alpn).await
        };
        timeout_at(deadline, connected)
            .await
            .unwrap_or_else(|_| panic!("TLS connection to {addr} timed out"))
            .unwrap_or_else(|err| panic!("TLS connection to {addr}: {err}"))
    }

    /// The certificate (DER) a new connection to `addr` is shown.
    pub async fn peer_certificate(&self, addr: SocketAddr) -> Vec<u8> {
        let stream = self.connect(addr, &[b"http/1.1"]).await;
        let certificates = stream
            .get_ref()
            .1
            .peer_certificates()
            .expect("the server showed a certificate");
        certificates[0].to_vec()
    }
}

/// One HTTP/2 connection (hyper's client) over TLS.
pub struct Http2Client {
    sender: SendRequest<Empty<Bytes>>,
    authority: String,
    /// The connection's socket (a second handle), to cut it on drop: hyper keeps the connection
    /// for as long as a response body is held.
    socket: std::net::TcpStream,
}

impl Http2Client {
    /// Connects to `addr` offering only ALPN `h2`, and checks the server chose it.
    pub async fn connect(addr: SocketAddr, trust: &Trust) -> Http2Client {
        let deadline = Instant::now() + EVENT_TIMEOUT;
        let connected = async {
            let socket = TcpStream::connect(addr).await?.into_std()?;
            let second = socket.try_clone()?;
            let stream = trust
                .handshake(TcpStream::from_std(socket)?, &[b"h2"])
                .await?;
            Ok::<_, std::io::Error>((stream, second))
        };
        let (stream, socket) = timeout_at(deadline, connected)
            .await
            .unwrap_or_else(|_| panic!("TLS connection to {addr} timed out"))
            .unwrap_or_else(|err| panic!("TLS connection to {addr}: {err}"));
        assert_eq!(
            stream.get_ref().1.alpn_protocol(),
            Some(&b"h2"[..]),
            "the server must choose ALPN h2"
        );
        let (sender, connection) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
                .await
                .unwrap_or_else(|err| panic!("HTTP/2 handshake with {addr}: {err}"));
        tokio::spawn(connection);
        Http2Client {
            sender,
            authority: format!("{SERVER_NAME}:{}", addr.port()),
            socket,
        }
    }

    /// Sends `GET path` on a new stream of this connection; returns the response, body unread.
    pub async fn get(&mut self, path: &str) -> hyper::Response<hyper::body::Incoming> {
        let request = hyper::Request::get(format!("https://{}{path}", self.authority))
            .body(Empty::new())
            .expect("a valid request");
        let deadline = Instant::now() + EVENT_TIMEOUT;
        let sent = async {
            self.sender.ready().await?;
            self.sender.send_request(request).await
        };
        timeout_at(deadline, sent)
            .await
            .unwrap_or_else(|_| panic!("HTTP/2 GET {path} timed out"))
            .unwrap_or_else(|err| panic!("HTTP/2 GET {path}: {err}"))
    }

    /// Opens an event stream on a new stream of this connection; a non-200 answer is `Err`.
    pub async fn stream(&mut self, path: &str) -> Result<SseStream, Response> {
        let response = self.get(path).await;
        assert_eq!(response.version(), hyper::Version::HTTP_2);
        SseStream::from_http2(response).await
    }
}

impl Drop for Http2Client {
    /// Cuts the connection at once (its streams with it), as a client that goes away.
    fn drop(&mut self) {
        let _ = self.socket.shutdown(std::net::Shutdown::Both);
    }
}

//! A TLS front on the loopback for the tests that drive production host
//! names through a flow (the resolver's downloads, the uploads): it
//! terminates TLS with the test certificate of `tests/fixtures/tls`, notes
//! the server name (SNI) each connection asked for, and forwards the bytes
//! to a backend (the embedded mock). With the hidden `test_network` of
//! `ClientBuilder` or `ResolverBuilder` every production name goes here
//! and nowhere else. Included with
//! `#[path = "common/tls_front.rs"] mod tls_front;`.
#![allow(dead_code)]

use std::{
    net::SocketAddr,
    path::PathBuf,
    sync::{Arc, Mutex},
};

use tokio_rustls::rustls::{
    self,
    pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer},
};

/// The R2 account host the test certificate carries.
pub const R2_HOST: &str = "0123456789abcdef0123456789abcdef.r2.cloudflarestorage.com";

/// Every name the test certificate carries: production hosts and
/// look-alikes. Sent to the front, none of them can reach the network.
pub const TLS_NAMES: &[&str] = &[
    "api.avala.ai",
    "data.avala.ai",
    "bucket.s3.us-east-1.amazonaws.com",
    "s3.us-east-1.amazonaws.com",
    R2_HOST,
    "storage.googleapis.com",
    "acct123.blob.core.windows.net",
    "s3.amazonaws.com.evil.test",
    "evil-amazonaws.com",
    "bucket.s3.us-gov-west-1.amazonaws.com",
];

/// The front: its address, and the server name of every connection it
/// accepted, in order, noted when the client's hello arrived (so that a
/// name the certificate does not carry is seen too).
pub struct TlsFront {
    pub address: SocketAddr,
    names: Arc<Mutex<Vec<String>>>,
}

impl TlsFront {
    /// Listens on 127.0.0.1 and forwards every connection to `backend`.
    pub async fn start(backend: SocketAddr) -> Self {
        let config = Arc::new(server_config());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let names = Arc::new(Mutex::new(Vec::new()));
        let seen = names.clone();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (config, seen) = (config.clone(), seen.clone());
                tokio::spawn(async move {
                    let acceptor = rustls::server::Acceptor::default();
                    let Ok(start) = tokio_rustls::LazyConfigAcceptor::new(acceptor, tcp).await
                    else {
                        seen.lock().unwrap().push(String::new());
                        return;
                    };
                    let name = start.client_hello().server_name().unwrap_or("").to_owned();
                    seen.lock().unwrap().push(name);
                    let Ok(mut tls) = start.into_stream(config).await else {
                        return;
                    };
                    if let Ok(mut back) = tokio::net::TcpStream::connect(backend).await {
                        let _ = tokio::io::copy_bidirectional(&mut tls, &mut back).await;
                    }
                });
            }
        });
        Self { address, names }
    }

    /// The server names connected to so far, one per connection.
    pub fn names(&self) -> Vec<String> {
        self.names.lock().unwrap().clone()
    }

    /// How many connections asked for `name`.
    pub fn connections_to(&self, name: &str) -> usize {
        self.names().iter().filter(|n| *n == name).count()
    }

    /// Every name of [`TLS_NAMES`] and `more`, sent to this front.
    pub fn resolve(&self, more: &[&str]) -> Vec<(String, SocketAddr)> {
        TLS_NAMES
            .iter()
            .chain(more)
            .map(|h| (h.to_string(), self.address))
            .collect()
    }
}

fn server_config() -> rustls::ServerConfig {
    let cert = CertificateDer::from(tls_fixture("cert.der"));
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(tls_fixture("key.der")));
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .unwrap()
}

/// A file of `tests/fixtures/tls` (the test certificate and its key).
pub fn tls_fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/tls")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

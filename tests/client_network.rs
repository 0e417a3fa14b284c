//! Proxy and trust-root settings (`avala::network`): a proxy set on the
//! builder carries the API calls and the data plane's storage requests
//! alike; bad settings fail at `build()` without repeating a credential.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use avala::{
    mock::{MockServer, UploadMode},
    types::DataType,
    Error,
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};

#[path = "common/tempdir.rs"]
mod tempdir;
use tempdir::TempDir;

const ROOT_PEM: &[u8] = include_bytes!("fixtures/network/root.pem");

/// A forward proxy on loopback for plain-http targets: pipes each
/// connection to `upstream` and keeps a copy of what the client sent, so a
/// test can read the request lines that went through it.
async fn recording_proxy(upstream: String) -> (String, Arc<Mutex<Vec<u8>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let server = TcpStream::connect(&upstream).await.unwrap();
            tokio::spawn(pipe(client, server, log.clone()));
        }
    });
    (url, seen)
}

async fn pipe(client: TcpStream, server: TcpStream, log: Arc<Mutex<Vec<u8>>>) {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let upstream = async move {
        let mut buf = vec![0; 64 * 1024];
        while let Ok(n @ 1..) = client_read.read(&mut buf).await {
            log.lock().unwrap().extend_from_slice(&buf[..n]);
            if server_write.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
    };
    let downstream = async move {
        let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
    };
    tokio::join!(upstream, downstream);
}

/// The request lines in what the client sent (a body runs into the next
/// request line, with no newline between them).
fn request_lines(sent: &str) -> Vec<&str> {
    sent.split("\r\n")
        .filter(|l| l.ends_with(" HTTP/1.1"))
        .collect()
}

fn host_port(base_url: &str) -> String {
    let rest = base_url
        .strip_prefix("http://")
        .expect("the mock serves http");
    rest.split('/').next().unwrap().to_owned()
}

#[tokio::test]
async fn a_proxy_carries_the_api_calls_and_the_storage_requests() {
    let mock = MockServer::start().await;
    mock.uploads().mode(UploadMode::Put);
    let (proxy, seen) = recording_proxy(host_port(mock.base_url())).await;
    let client = mock.client_builder().proxy(&proxy).build().unwrap();
    let dir = TempDir::new();
    dir.file("a.jpg", 2048);
    let state = TempDir::new();

    client
        .upload_dataset(dir.path())
        .name("Through The Proxy")
        .data_type(DataType::Image)
        .state_dir(state.path())
        .wait(Duration::from_secs(5))
        .send()
        .await
        .unwrap();

    let sent = String::from_utf8_lossy(&seen.lock().unwrap()).into_owned();
    let origin = format!("http://{}", host_port(mock.base_url()));
    // A proxied plain-http request names its absolute URL on the request line.
    assert!(
        sent.contains(&format!("POST {origin}/")),
        "no API call went through the proxy"
    );
    assert!(
        sent.contains(&format!("PUT {origin}/_storage/")),
        "no storage PUT went through the proxy: {:?}",
        request_lines(&sent)
    );
}

#[tokio::test]
async fn without_a_proxy_nothing_reaches_the_recording_proxy() {
    let mock = MockServer::start().await;
    let (_proxy, seen) = recording_proxy(host_port(mock.base_url())).await;
    mock.client().list_datasets().send().await.unwrap();
    assert!(seen.lock().unwrap().is_empty());
}

#[test]
fn a_bad_proxy_fails_at_build_without_its_credentials() {
    let err = avala::Client::builder()
        .api_key("k-network-test-0000")
        .proxy("socks5://alice:s3cr3t-pass@proxy.corp:1080")
        .build()
        .unwrap_err();
    assert!(matches!(err, Error::Config { .. }), "{err:?}");
    let shown = format!("{err} {err:?}");
    assert!(
        shown.contains("http://"),
        "the message says what is accepted: {shown}"
    );
    assert!(!shown.contains("s3cr3t-pass"), "{shown}");
}

#[test]
fn the_builder_debug_hides_the_proxy_credentials() {
    let builder = avala::Client::builder().proxy("http://alice:s3cr3t-pass@proxy.corp:3128");
    let shown = format!("{builder:?}");
    assert!(
        !shown.contains("s3cr3t-pass") && !shown.contains("alice"),
        "{shown}"
    );
}

#[test]
fn root_certificates_are_checked_at_build() {
    let builder = || avala::Client::builder().api_key("k-network-test-0000");
    builder().add_root_certificate(ROOT_PEM).build().unwrap();
    let err = builder()
        .add_root_certificate(b"-----BEGIN NOTHING-----")
        .build()
        .unwrap_err();
    assert!(matches!(err, Error::Config { .. }), "{err:?}");
    assert!(err.to_string().contains("no PEM certificate"), "{err}");
}

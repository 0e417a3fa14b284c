//! Shared helpers of the `client_*` integration tests.
//!
//! Environment: `ClientBuilder::build` always reads the process environment
//! (`AVALA_ALLOW_INSECURE_BASE_URL`, and `AVALA_API_KEY`/`AVALA_BASE_URL` when
//! not given explicitly). Reading the environment while another thread of the
//! same process writes it is a data race, so:
//!
//! - binaries that never change the environment call [`init`] first in every
//!   test: it sets `AVALA_ALLOW_INSECURE_BASE_URL=1` and removes the other
//!   `AVALA_*` variables exactly once, before any test reads them (`Once`
//!   blocks the other tests until that is done), and nothing writes after;
//! - `client_env.rs` changes the environment in every test and holds
//!   [`env_lock`] for the whole test instead.
//!
//! Secrets: every binary installs a TRACE-level `tracing` subscriber that
//! writes into [`LOGS`], every test uses the distinctive [`KEY`], and
//! [`checked`] / [`assert_logs_clean`] assert the key never shows up.
#![allow(dead_code)]

pub mod raw;

use std::{
    io,
    path::PathBuf,
    sync::{Mutex, MutexGuard, Once},
};

use wiremock::{
    matchers::{method, path},
    Mock, MockServer, ResponseTemplate,
};

/// A distinctive API key that matches none of the generic redaction
/// patterns (not 40-hex, not `avk_…`, not `key_…`/`sk-…`, no bearer or
/// JWT shape), so only the key-specific scrub (`src/scrub.rs`) can stop
/// a leak, never luck.
pub const KEY: &str = "Zq7-distinctive-TEST-key-0xC0FFEE-81k";

/// The variables the client reads.
pub const ENV_VARS: [&str; 3] = [
    "AVALA_API_KEY",
    "AVALA_BASE_URL",
    "AVALA_ALLOW_INSECURE_BASE_URL",
];

/// The proxy variables `reqwest` reads: cleared by [`env_lock`] so that a
/// test that sets one (to trap a request that must not leave the machine)
/// cannot leak it into the next test, and none from outside applies.
pub const PROXY_VARS: [&str; 6] = [
    "HTTPS_PROXY",
    "https_proxy",
    "ALL_PROXY",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
];

/// Everything written by `tracing` in this test binary.
pub static LOGS: Mutex<Vec<u8>> = Mutex::new(Vec::new());

struct LogWriter;

impl io::Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        LOGS.lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Installs the TRACE subscriber writing into [`LOGS`] (once per binary).
pub fn install_tracing() {
    static TRACING: Once = Once::new();
    TRACING.call_once(|| {
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_span_events(tracing_subscriber::fmt::format::FmtSpan::FULL)
            .with_writer(|| LogWriter)
            .try_init()
            .expect("no other global subscriber in this binary");
    });
}

/// The captured tracing output so far.
pub fn logs() -> String {
    String::from_utf8_lossy(&LOGS.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
}

/// Fails if the key appears anywhere in the tracing output so far. Every
/// test calls it after its own requests, so a leak is caught by the test
/// that caused it whatever the order.
pub fn assert_logs_clean() {
    assert_no_key(&logs(), "tracing output");
}

/// Fails if [`KEY`] (or a recognisable part of it) is in `text`.
pub fn assert_no_key(text: &str, what: &str) {
    assert_text_without(text, KEY, what);
}

/// Fails if `key`, or any 10 consecutive characters of it (what a split or
/// trimmed echo leaves), is in `text`.
pub fn assert_text_without(text: &str, key: &str, what: &str) {
    let chars: Vec<char> = key.chars().collect();
    let window = chars.len().min(10);
    for part in chars.windows(window) {
        let part: String = part.iter().collect();
        assert!(
            !text.contains(&part),
            "the API key (or its part {part:?}) leaked into {what}: {text}"
        );
    }
}

/// THE key-leak check of an error: `key` is in none of its Display, Debug,
/// `message()`, whole `source()` chain, request id, or any body it carries
/// (the API error's JSON and raw bodies, a decode error's body).
pub fn assert_error_without_key(err: &avala::Error, key: &str) {
    let check = |text: &str, what: &str| assert_text_without(text, key, what);
    check(&format!("{err:?}"), "an error's Debug");
    check(&err.to_string(), "an error's Display");
    check(&err.message(), "an error's message()");
    if let Some(api) = err.api_error() {
        check(&api.raw_body, "an error's raw body");
        check(&api.message, "an error's API message");
        if let Some(body) = &api.body {
            check(&body.to_string(), "an error's JSON body");
        }
        if let Some(id) = &api.request_id {
            check(id, "an error's request id");
        }
    }
    if let avala::Error::Decode {
        body: Some(body), ..
    } = err
    {
        check(body, "a decode error's body");
    }
    let mut source = std::error::Error::source(err);
    while let Some(s) = source {
        check(&format!("{s} {s:?}"), "an error's source");
        source = s.source();
    }
}

/// For binaries that do not change the environment: allows `http` to
/// loopback and clears the other variables, once, before any read.
pub fn init() {
    static ENV: Once = Once::new();
    ENV.call_once(|| {
        std::env::set_var("AVALA_ALLOW_INSECURE_BASE_URL", "1");
        std::env::remove_var("AVALA_API_KEY");
        std::env::remove_var("AVALA_BASE_URL");
    });
    install_tracing();
}

/// For `client_env.rs`: the process-wide lock around every environment read
/// and write. The `AVALA_*` and proxy variables are cleared on entry.
pub fn env_lock() -> MutexGuard<'static, ()> {
    static ENV: Mutex<()> = Mutex::new(());
    let guard = ENV.lock().unwrap_or_else(|p| p.into_inner());
    for var in ENV_VARS.iter().chain(&PROXY_VARS) {
        std::env::remove_var(var);
    }
    install_tracing();
    guard
}

/// Every storage (data plane) request `mock` received, oldest first.
pub fn storage_requests(mock: &avala::mock::MockServer) -> Vec<avala::mock::ReceivedRequest> {
    mock.received()
        .into_iter()
        .filter(|r| {
            r.operation_id
                .as_deref()
                .is_some_and(|o| o.starts_with("storage."))
        })
        .collect()
}

/// A client of `server` with [`KEY`], under the API root `/api/v1`.
pub fn client(server: &MockServer) -> avala::Client {
    client_with(server, |b| b)
}

/// As [`client`], with more builder settings.
pub fn client_with(
    server: &MockServer,
    f: impl FnOnce(avala::ClientBuilder) -> avala::ClientBuilder,
) -> avala::Client {
    init();
    f(avala::Client::builder()
        .api_key(KEY)
        .base_url(format!("{}/api/v1", server.uri())))
    .build()
    .expect("a loopback client builds")
}

/// Checks that no representation of `err` holds [`KEY`]
/// ([`assert_error_without_key`]), and returns it.
pub fn checked(err: avala::Error) -> avala::Error {
    assert_error_without_key(&err, KEY);
    err
}

/// Unwraps the error of `result` and checks it with [`checked`].
pub fn expect_err<T: std::fmt::Debug>(result: Result<T, impl Into<avala::Error>>) -> avala::Error {
    match result {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(e) => checked(e.into()),
    }
}

/// The requests `server` received.
pub async fn received(server: &MockServer) -> Vec<wiremock::Request> {
    server
        .received_requests()
        .await
        .expect("request recording is on")
}

/// The number of requests `server` received.
pub async fn hits(server: &MockServer) -> usize {
    received(server).await.len()
}

/// An official SDK fixture, checked in at `tests/fixtures/<name>`.
pub fn fixture(name: &str) -> serde_json::Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).expect("fixtures are JSON")
}

/// A minimal valid `Dataset`.
pub fn dataset(uid: &str) -> serde_json::Value {
    serde_json::json!({"uid": uid, "name": format!("name-{uid}"), "slug": format!("slug-{uid}")})
}

/// A port on 127.0.0.1 that nothing listens on (bound, then released).
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    port
}

/// Mounts `GET /api/v1/datasets/{uid}/` answering a valid dataset.
#[allow(dead_code)] // not every test binary uses it
pub async fn serve_dataset(server: &MockServer, uid: &str) {
    Mock::given(method("GET"))
        .and(path(format!("/api/v1/datasets/{uid}/")))
        .respond_with(ResponseTemplate::new(200).set_body_json(dataset(uid)))
        .mount(server)
        .await;
}

//! Base-URL validation and normalisation, and the builder's defaults.
//!
//! This binary never changes the environment after `common::init`, which
//! sets `AVALA_ALLOW_INSECURE_BASE_URL=1` once: the cases below therefore show
//! what stays refused even when insecure roots are allowed. The variable's
//! own truthiness rules are tested in `client_env.rs`.

mod common;

use std::time::Duration;

use common::{assert_logs_clean, checked, client_with, init, received, KEY};
use wiremock::{
    matchers::{method, path},
    Mock, MockServer, ResponseTemplate,
};

fn build(base: &str) -> avala::Result<avala::Client> {
    init();
    avala::Client::builder().api_key(KEY).base_url(base).build()
}

/// `base` builds, and the client's root is `expected`.
fn accepted(base: &str, expected: &str) {
    match build(base) {
        Ok(client) => assert_eq!(client.base_url(), expected, "root for {base:?}"),
        Err(e) => panic!("{base:?} should be accepted, got {e}"),
    }
}

/// `base` is refused with a `Config` error whose message contains every
/// one of `hints` (case-insensitive). Returns the message.
fn refused(base: &str, hints: &[&str]) -> String {
    let err = match build(base) {
        Ok(c) => panic!(
            "{base:?} should be refused, got a client for {}",
            c.base_url()
        ),
        Err(e) => checked(e),
    };
    let avala::Error::Config { message } = &err else {
        panic!("{base:?}: expected Error::Config, got {err:?}");
    };
    let lower = message.to_lowercase();
    for hint in hints {
        assert!(
            lower.contains(&hint.to_lowercase()),
            "{base:?}: message {message:?} should mention {hint:?}"
        );
    }
    assert_eq!(err.status(), None);
    assert_eq!(&err.message(), message);
    message.clone()
}

#[test]
fn https_roots_are_accepted_and_normalised() {
    accepted("https://api.avala.ai/api/v1", "https://api.avala.ai/api/v1");
    accepted(
        "https://api.avala.ai/api/v1/",
        "https://api.avala.ai/api/v1",
    );
    accepted(
        "https://api.avala.ai/api/v1///",
        "https://api.avala.ai/api/v1",
    );
    accepted("https://api.avala.ai", "https://api.avala.ai");
    accepted("https://api.avala.ai/", "https://api.avala.ai");
    accepted("HTTPS://API.Avala.AI/api/v1", "https://api.avala.ai/api/v1");
    accepted(
        "https://api.avala.ai:8443/api/v1",
        "https://api.avala.ai:8443/api/v1",
    );
    // The default port is dropped, as every URL serialiser does.
    accepted(
        "https://api.avala.ai:443/api/v1",
        "https://api.avala.ai/api/v1",
    );
    accepted(
        "https://server.dev.example/custom/root/",
        "https://server.dev.example/custom/root",
    );
}

#[test]
fn the_default_root_is_used_when_none_is_configured() {
    init();
    let client = avala::Client::builder().api_key(KEY).build().unwrap();
    assert_eq!(client.base_url(), "https://api.avala.ai/api/v1");
    assert_eq!(
        avala::config::DEFAULT_BASE_URL,
        "https://api.avala.ai/api/v1"
    );
}

#[test]
fn http_is_accepted_for_loopback_hosts_when_allowed() {
    accepted(
        "http://localhost:8000/api/v1",
        "http://localhost:8000/api/v1",
    );
    accepted("http://LocalHost/api/", "http://localhost/api");
    accepted(
        "http://127.0.0.1:8000/api/v1/",
        "http://127.0.0.1:8000/api/v1",
    );
    accepted("http://[::1]:8000/api/v1", "http://[::1]:8000/api/v1");
    accepted("http://[0:0:0:0:0:0:0:1]/api", "http://[::1]/api");
}

#[test]
fn http_to_other_hosts_is_refused_even_when_allowed() {
    for base in [
        "http://api.avala.ai/api/v1",
        "http://example.com",
        "http://127.0.0.2:8000/api",
        "http://0.0.0.0:8000/api",
        "http://10.0.0.1/api",
        "http://localhost.evil.example/api",
        "http://[::2]/api",
        "http://[::ffff:127.0.0.1]/api",
    ] {
        refused(base, &["https"]);
    }
}

#[test]
fn other_schemes_are_refused() {
    for base in [
        "ftp://api.avala.ai/api/v1",
        "ws://localhost:8000/api",
        "wss://api.avala.ai/api/v1",
        "gopher://localhost/api",
    ] {
        let message = refused(base, &["https"]);
        let scheme = base.split(':').next().unwrap();
        assert!(
            message.contains(scheme),
            "{message:?} should name the scheme {scheme}"
        );
    }
    // No host at all: refused before the scheme is even looked at.
    refused("file:///etc/passwd", &["host"]);
}

#[test]
fn a_root_without_scheme_is_refused() {
    refused("api.avala.ai/api/v1", &["scheme"]);
    refused("//api.avala.ai/api/v1", &["scheme"]);
    refused("/api/v1", &["scheme"]);
}

#[test]
fn a_root_without_host_is_refused() {
    refused("https://", &["host"]);
    refused("http://:8000/api", &["host"]);
    // A missing host must not be filled in from the path (`api` here) or the
    // rest of the text: the URL parser would read these as host `api` and
    // host `api.avala.ai`.
    refused("https:///api/v1", &["host"]);
    refused("https:api.avala.ai/api/v1", &["host"]);
}

#[test]
fn userinfo_is_refused_without_echoing_the_password() {
    for base in [
        "https://alice:hunter2-PASSWORD@api.avala.ai/api/v1",
        "https://alice@api.avala.ai/api/v1",
        "https://:hunter2-PASSWORD@api.avala.ai/api/v1",
        "http://alice:hunter2-PASSWORD@localhost:8000/api",
    ] {
        let message = refused(base, &["credentials"]);
        assert!(
            !message.contains("hunter2"),
            "{message:?} echoes the password"
        );
        assert!(!message.contains("alice"), "{message:?} echoes the user");
    }
    // Even when the URL is broken in another way, the password is not echoed.
    for base in [
        "https://alice:hunter2-PASSWORD@/api",
        "https://alice:hunter2-PASSWORD@api.avala.ai:99999/api",
        "ftp://alice:hunter2-PASSWORD@api.avala.ai/",
        "https://alice:hunter2 PASSWORD@api.avala.ai/",
    ] {
        let err = checked(build(base).unwrap_err());
        assert!(
            matches!(err, avala::Error::Config { .. }),
            "{base:?}: {err:?}"
        );
        for text in [err.to_string(), format!("{err:?}")] {
            assert!(!text.contains("hunter2"), "{text:?} echoes the password");
        }
    }
}

#[test]
fn query_and_fragment_are_refused() {
    refused("https://api.avala.ai/api/v1?x=1", &["query"]);
    refused("https://api.avala.ai/api/v1?", &["query"]);
    refused("https://api.avala.ai/api/v1#top", &["fragment"]);
    refused("https://api.avala.ai/api/v1/#", &["fragment"]);
}

#[test]
fn spaces_and_control_characters_are_refused() {
    for base in [
        "https://api.avala.ai/api v1",
        "https://api .avala.ai/api/v1",
        "https://api.avala.ai/api\n/v1",
        "https://api.avala.ai/api\t/v1",
        "https://api.avala.ai/api\r\n/v1",
        "https://api.avala.ai/\0api",
        "https://api.avala.ai/api\u{7f}",
    ] {
        refused(base, &["control"]);
    }
}

#[test]
fn an_empty_root_is_refused() {
    refused("", &["empty", "AVALA_BASE_URL"]);
    refused("   ", &["empty"]);
}

#[tokio::test]
async fn trailing_slashes_do_not_reach_the_server() {
    let server = MockServer::start().await;
    common::serve_dataset(&server, "d1").await;
    Mock::given(method("GET"))
        .and(path("/datasets/d2/"))
        .respond_with(ResponseTemplate::new(200).set_body_json(common::dataset("d2")))
        .mount(&server)
        .await;
    init();
    let client = avala::Client::builder()
        .api_key(KEY)
        .base_url(format!("{}/api/v1///", server.uri()))
        .build()
        .unwrap();
    assert_eq!(client.base_url(), format!("{}/api/v1", server.uri()));
    let d = client.get_dataset().uid("d1").send().await.unwrap();
    assert_eq!(d.uid, "d1");

    let bare = avala::Client::builder()
        .api_key(KEY)
        .base_url(format!("{}/", server.uri()))
        .build()
        .unwrap();
    assert_eq!(bare.base_url(), server.uri());
    assert_eq!(bare.get_dataset().uid("d2").send().await.unwrap().uid, "d2");

    let paths: Vec<String> = received(&server)
        .await
        .iter()
        .map(|r| r.url.path().to_owned())
        .collect();
    assert_eq!(paths, ["/api/v1/datasets/d1/", "/datasets/d2/"]);
    assert_logs_clean();
}

#[tokio::test]
async fn a_localhost_root_reaches_a_loopback_server() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/datasets/d1/"))
        .respond_with(ResponseTemplate::new(200).set_body_json(common::dataset("d1")))
        .expect(1)
        .mount(&server)
        .await;
    let port = server.address().port();
    init();
    let client = avala::Client::builder()
        .api_key(KEY)
        .base_url(format!("http://localhost:{port}/api/v1/"))
        .build()
        .unwrap();
    assert_eq!(client.base_url(), format!("http://localhost:{port}/api/v1"));
    assert_eq!(
        client.get_dataset().uid("d1").send().await.unwrap().name,
        "name-d1"
    );
}

#[test]
fn builder_defaults_are_30s_total_10s_connect_and_2_retries() {
    init();
    let text = format!("{:?}", avala::Client::builder());
    assert!(text.contains("timeout: 30s"), "{text}");
    assert!(text.contains("connect_timeout: 10s"), "{text}");
    assert!(text.contains("max_retries: 2"), "{text}");
    assert!(text.contains("user_agent: None"), "{text}");

    let custom = avala::Client::builder()
        .timeout(Duration::from_millis(1500))
        .connect_timeout(Duration::from_secs(3))
        .max_retries(5)
        .user_agent("probe/1");
    let text = format!("{custom:?}");
    assert!(text.contains("timeout: 1.5s"), "{text}");
    assert!(text.contains("connect_timeout: 3s"), "{text}");
    assert!(text.contains("max_retries: 5"), "{text}");
    assert!(text.contains("probe/1"), "{text}");
}

#[tokio::test]
async fn the_builder_can_be_reused_and_debug_prints_no_root() {
    let server = MockServer::start().await;
    let client = client_with(&server, |b| b.max_retries(1));
    let text = format!("{client:?}");
    assert!(text.contains(&server.uri()), "{text}");
    assert!(text.contains("[redacted]"), "{text}");
    common::assert_no_key(&text, "Client Debug");
}

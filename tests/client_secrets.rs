//! The API key never shows up: not in `Debug` output, not in errors (even
//! when the server echoes it back), not in TRACE-level tracing output.
//!
//! Every other `client_*` binary also checks each error it produces with
//! `common::checked` and its own tracing output with `assert_logs_clean`;
//! this one concentrates on the ways a key could get out.

mod common;
#[path = "common/tempdir.rs"]
mod tempdir;

use std::time::Duration;

use avala::Error;
use common::{
    assert_logs_clean, assert_no_key, checked, client, client_with, expect_err, logs, KEY,
};
use serde_json::json;
use wiremock::{
    matchers::{any, path},
    Mock, MockServer, ResponseTemplate,
};

#[tokio::test]
async fn debug_output_of_clients_and_builders_hides_the_key() {
    let server = MockServer::start().await;
    let client = client(&server);
    let builder = avala::Client::builder()
        .api_key(KEY)
        .base_url("https://api.avala.ai/api/v1");
    for (what, text) in [
        ("Client", format!("{client:?}")),
        ("Client (alternate)", format!("{client:#?}")),
        ("generated client", format!("{:?}", *client)),
        ("ClientBuilder", format!("{builder:?}")),
        ("ClientBuilder (alternate)", format!("{builder:#?}")),
        (
            "operation builder",
            format!("{:?}", client.get_dataset().uid("d1")),
        ),
        ("clone", format!("{:?}", client.clone())),
    ] {
        assert_no_key(&text, what);
        assert!(
            text.contains("redacted"),
            "{what} should say the key is hidden: {text}"
        );
    }
}

/// Serves `body` for everything and returns the error of a
/// `get_dataset` on a client using `key`.
async fn echoed(key: &str, body: ResponseTemplate) -> Error {
    let server = MockServer::start().await;
    Mock::given(any()).respond_with(body).mount(&server).await;
    common::init();
    let client = avala::Client::builder()
        .api_key(key)
        .base_url(format!("{}/api/v1", server.uri()))
        .max_retries(0)
        .build()
        .unwrap();
    let result = client.get_dataset().uid("d1").send().await;
    match result {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(e) => e,
    }
}

#[tokio::test]
async fn a_key_echoed_in_an_error_body_is_removed() {
    // The plain case from the brief.
    let err = echoed(
        KEY,
        ResponseTemplate::new(401).set_body_json(json!({"detail": format!("bad key {KEY}")})),
    )
    .await;
    assert!(matches!(err, Error::Authentication(_)), "{err:?}");
    assert_eq!(err.message(), "bad key [redacted]");
    checked(err);

    // Nested, in an array, in a field name, and in a text body.
    let bodies = [
        ResponseTemplate::new(400)
            .set_body_json(json!({"errors": [{"received": KEY, "hint": format!("{KEY}!")}]})),
        ResponseTemplate::new(400).set_body_json(json!([format!("key {KEY} is not valid")])),
        ResponseTemplate::new(403).set_body_json(json!({KEY: "forbidden"})),
        ResponseTemplate::new(500)
            .set_body_raw(format!("<pre>X-Avala-Api-Key: {KEY}</pre>"), "text/html"),
        ResponseTemplate::new(418).set_body_raw(format!("key={KEY}&ok=0"), "text/plain"),
    ];
    for body in bodies {
        let err = echoed(KEY, body).await;
        checked(err);
    }
}

#[tokio::test]
async fn a_key_echoed_with_json_escapes_is_removed() {
    // `\u005a` is `Z`, the key's first character, and `\/` a `/`: the text
    // differs from the key but decodes to it.
    let escaped = format!("\\u005a{}", &KEY[1..]);
    let body =
        format!("{{\"detail\": \"bad key {escaped}\", \"echo\": {{\"key\": \"{escaped}\"}}}}");
    let err = echoed(
        KEY,
        ResponseTemplate::new(401).set_body_raw(body, "application/json"),
    )
    .await;
    assert!(
        err.api_error().unwrap().body.is_some(),
        "the body is still JSON"
    );
    checked(err);
}

#[tokio::test]
async fn a_key_echoed_in_a_success_body_that_fails_to_decode_is_removed() {
    // A 2xx body is decoded by the generated code, after the hooks: the
    // mapping in `send()` must still remove the key from the Decode error.
    let err = echoed(
        KEY,
        ResponseTemplate::new(200).set_body_json(json!({"uid": 7, "name": KEY, "slug": KEY})),
    )
    .await;
    let Error::Decode { body, .. } = &err else {
        panic!("expected Decode, got {err:?}");
    };
    let body = body.as_deref().unwrap_or_default();
    assert!(
        body.contains("[redacted]"),
        "the body is kept, redacted: {body}"
    );
    checked(err);
}

#[tokio::test]
async fn a_key_of_the_documented_shape_is_removed_too() {
    // Caught by the key-specific scrub and by the generic `avk_` pattern.
    let key = "avk_3f9Kq2LmN8pR4sT6vW1xY5zA7bC0dE";
    let err = echoed(
        key,
        ResponseTemplate::new(401)
            .set_body_json(json!({"detail": format!("Invalid API key {key}")})),
    )
    .await;
    common::assert_error_without_key(&err, key);
    assert_eq!(err.message(), "Invalid API key [redacted]");
}

#[tokio::test]
async fn nothing_at_trace_level_carries_the_key() {
    let server = MockServer::start().await;
    Mock::given(path("/api/v1/datasets/trace-ok/"))
        .respond_with(ResponseTemplate::new(200).set_body_json(common::dataset("trace-ok")))
        .mount(&server)
        .await;
    Mock::given(path("/api/v1/datasets/trace-retry/"))
        .respond_with(
            ResponseTemplate::new(503)
                .insert_header("Retry-After", "0")
                .set_body_json(json!({"detail": format!("down, your key {KEY}")})),
        )
        .mount(&server)
        .await;
    Mock::given(path("/api/v1/datasets/trace-slow/"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(common::dataset("trace-slow"))
                .set_delay(Duration::from_secs(3)),
        )
        .mount(&server)
        .await;
    let client = client_with(&server, |b| {
        b.timeout(Duration::from_millis(200)).max_retries(1)
    });
    client.get_dataset().uid("trace-ok").send().await.unwrap();
    let err = expect_err(client.get_dataset().uid("trace-retry").send().await);
    assert_eq!(err.status(), Some(503));
    let err = expect_err(client.get_dataset().uid("trace-slow").send().await);
    assert!(matches!(err, Error::Transport { .. }), "{err:?}");
    expect_err(client.test_agent().uid("trace-post").send().await);

    let closed = avala::Client::builder()
        .api_key(KEY)
        .base_url(format!("http://127.0.0.1:{}/api/v1", common::closed_port()))
        .max_retries(1)
        .build()
        .unwrap();
    expect_err(closed.get_dataset().uid("trace-closed").send().await);

    // The capture works: the requests above are in it, with their retries.
    let text = logs();
    for marker in [
        "trace-ok",
        "trace-retry",
        "trace-slow",
        "trace-closed",
        "retrying",
    ] {
        assert!(
            text.contains(marker),
            "no {marker} in the tracing output:\n{text}"
        );
    }
    assert_logs_clean();
}

#[tokio::test]
async fn a_storage_that_echoes_the_key_does_not_get_it_shown() {
    use avala::mock::{StorageRoute, UploadMode};
    common::init();
    let mock = avala::mock::MockServer::start().await;
    mock.uploads().mode(UploadMode::Put);
    let dir = tempdir::TempDir::new();
    let state = tempdir::TempDir::new();
    dir.file("a.jpg", 1000);
    let client = mock.client_builder().api_key(KEY).build().unwrap();
    // Every attempt of the PUT meets the echo (403 is not retried, but the
    // knob is armed for more in case that changes).
    for _ in 0..8 {
        mock.storage().echo_key(StorageRoute::Put, 403);
    }
    let err = client
        .upload_dataset(dir.path())
        .name("Echo")
        .data_type(avala::types::DataType::Image)
        .state_dir(state.path())
        .send()
        .await
        .unwrap_err();
    // The storage did answer with the key: the error is that answer's.
    let put = mock
        .received()
        .into_iter()
        .filter(|r| r.operation_id.as_deref() == Some(StorageRoute::Put.operation_id()))
        .count();
    assert!(put >= 1, "no PUT reached the echoing storage: {err:?}");
    assert!(err.to_string().contains("403"), "{err}");
    common::assert_error_without_key(&err, KEY);
    assert_logs_clean();
}

/// Server text printed on a terminal: every control character but the line
/// feed (C0, DEL, C1) becomes a visible escape; text without one comes back
/// borrowed, untouched.
#[test]
fn escape_controls_makes_every_control_but_the_line_feed_visible() {
    use std::borrow::Cow;
    let shown = avala::redact::escape_controls("a\u{1b}[2Jb\r\tc\u{9b}d\u{7f}\n");
    assert_eq!(shown, "a\\u001b[2Jb\\u000d\\u0009c\\u009bd\\u007f\n");
    let plain = "line one\nline two \\u0007";
    assert!(matches!(
        avala::redact::escape_controls(plain),
        Cow::Borrowed(p) if p == plain
    ));
}

/// Every generated type (and its builder) that holds a secret the API
/// writes or returns shows `[redacted]` for it in `Debug`, and the other
/// fields as usual.
#[test]
fn generated_types_holding_secrets_redact_them_in_debug() {
    use avala::types;
    const SECRET: &str = "Zq7-s3cr3t-only-here";
    fn check<T: std::fmt::Debug + serde::de::DeserializeOwned>(
        json: serde_json::Value,
        shown: &str,
    ) {
        let value: T = serde_json::from_value(json).expect("decodes");
        for text in [format!("{value:?}"), format!("{value:#?}")] {
            assert!(!text.contains(SECRET), "{text}");
            assert!(
                text.contains("[redacted]") && text.contains(shown),
                "{text}"
            );
        }
    }
    check::<types::Webhook>(
        json!({"uid": "wh_1", "target_url": "https://hooks.example/x", "events": [],
               "is_active": true, "secret": SECRET}),
        "hooks.example",
    );
    check::<types::CreateWebhookRequest>(
        json!({"target_url": "https://hooks.example/x", "events": [], "secret": SECRET}),
        "hooks.example",
    );
    check::<types::Device>(
        json!({"uid": "dev_1", "name": "rover-7", "tags": [], "device_token": SECRET}),
        "rover-7",
    );
    check::<types::SignupUserRequest>(
        json!({"email": "a@example.com", "password": SECRET}),
        "a@example.com",
    );
    check::<types::CreateStorageConfigRequest>(
        json!({"name": "bucket-a", "provider": "aws_s3", "s3_secret_access_key": SECRET}),
        "bucket-a",
    );
    check::<types::CreateStorageConfigRequest>(
        json!({"name": "bucket-g", "provider": "gc_storage", "gc_storage_auth_json_content": SECRET}),
        "bucket-g",
    );
    // Free-form JSON fields: what sits under a credential-like key, at any
    // depth, is hidden; the rest stays readable.
    check::<types::InferenceProvider>(
        json!({"uid": "ip_1", "name": "vision", "is_active": true,
               "config": {"api_key": SECRET, "model": "gpt-4o-mini"}}),
        "gpt-4o-mini",
    );
    check::<types::AlertChannel>(
        json!({"uid": "ch_1", "name": "ops", "config": {"token": SECRET, "channel": "#ops-alerts"}}),
        "#ops-alerts",
    );
    check::<types::CreateInferenceProviderRequest>(
        json!({"name": "vision", "provider_type": "openai",
               "config": {"auth": {"client_secret": SECRET}, "region": "eu-west-1"}}),
        "eu-west-1",
    );
    check::<types::Rule>(
        json!({"uid": "r_1", "name": "hot", "condition": {"password": SECRET, "gt": 80},
               "scope": {"site": "lab-3"}}),
        "lab-3",
    );
    // The builders keep the same fields and redact them too.
    let builder = types::SignupUserRequest::builder()
        .email("a@example.com")
        .password(SECRET);
    let text = format!("{builder:?}");
    assert!(
        !text.contains(SECRET) && text.contains("a@example.com"),
        "{text}"
    );
    let mut config = serde_json::Map::new();
    config.insert("api_key".into(), json!(SECRET));
    config.insert("model".into(), json!("gpt-4o-mini"));
    let builder = types::InferenceProvider::builder()
        .name("vision")
        .config(Some(config));
    let text = format!("{builder:?}");
    assert!(
        !text.contains(SECRET) && text.contains("gpt-4o-mini") && text.contains("[redacted]"),
        "{text}"
    );
}

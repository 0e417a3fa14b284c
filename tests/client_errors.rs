//! Every HTTP status → `avala::Error` variant, with the message, body and raw
//! body rules of protocol.md §6, on the shared `_transport.*` fixtures.

mod common;

use std::time::Duration;

use avala::Error;
use common::{assert_logs_clean, client_with, expect_err, fixture, hits};
use serde_json::{json, Value};
use wiremock::{matchers::any, Mock, MockServer, ResponseTemplate};

/// The error of one `get_dataset` against a server answering `response`
/// (retries off), after checking that exactly one request was made.
async fn error_for(response: ResponseTemplate) -> Error {
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(response)
        .mount(&server)
        .await;
    let client = client_with(&server, |b| b.max_retries(0));
    let err = expect_err(client.get_dataset().uid("d1").send().await);
    assert_eq!(hits(&server).await, 1);
    err
}

async fn json_error(status: u16, body: &Value) -> Error {
    error_for(ResponseTemplate::new(status).set_body_json(body)).await
}

/// The facts every error from a response shares.
fn assert_api(err: &Error, status: u16, message: &str, body: Option<&Value>) {
    assert_eq!(err.status(), Some(status), "{err:?}");
    assert_eq!(err.message(), message, "{err:?}");
    let api = err.api_error().expect("a response error has an ApiError");
    assert_eq!(api.status, status);
    assert_eq!(api.message, message);
    assert_eq!(api.body.as_ref(), body, "{err:?}");
    if let Some(body) = body {
        assert_eq!(
            api.raw_body,
            body.to_string(),
            "the raw body is the text sent"
        );
    }
    let shown = err.to_string();
    assert!(shown.contains(&status.to_string()), "{shown}");
    assert!(shown.contains(message), "{shown}");
}

#[tokio::test]
async fn status_400_and_422_are_validation_errors() {
    for (status, name, message) in [
        (400, "_transport.error_400.response.json", "Bad request"),
        (
            422,
            "_transport.error_422.response.json",
            "Unprocessable entity",
        ),
    ] {
        let body = fixture(name);
        let err = json_error(status, &body).await;
        assert_api(&err, status, message, Some(&body));
        let Error::Validation { details, .. } = &err else {
            panic!("{status}: expected Validation, got {err:?}");
        };
        assert!(
            details.is_empty(),
            "an object body has no details: {details:?}"
        );
        assert!(!err.is_retryable());
    }
}

#[tokio::test]
async fn validation_details_are_the_body_when_it_is_an_array() {
    let body = json!([{"field": "name", "message": "required"}, "slug is taken"]);
    for status in [400, 422] {
        let err = json_error(status, &body).await;
        assert_api(
            &err,
            status,
            "[0].field: name; [0].message: required; slug is taken",
            Some(&body),
        );
        let Error::Validation { details, .. } = &err else {
            panic!("expected Validation, got {err:?}");
        };
        assert_eq!(details, body.as_array().unwrap());
    }
}

#[tokio::test]
async fn drf_field_errors_are_the_message() {
    // The answer to an upload into a slug that exists.
    let taken = json!({"slug": ["Dataset with this slug already exists."]});
    let err = json_error(400, &taken).await;
    assert_api(
        &err,
        400,
        "slug: Dataset with this slug already exists.",
        Some(&taken),
    );
    assert!(matches!(&err, Error::Validation { details, .. } if details.is_empty()));
    assert_eq!(
        err.to_string(),
        "validation failed (HTTP 400): slug: Dataset with this slug already exists."
    );
    for (body, message) in [
        (
            json!({"name": ["This field is required."], "slug": ["Too long.", "Taken."]}),
            "name: This field is required.; slug: Too long. Taken.",
        ),
        (
            json!({"non_field_errors": ["The fields owner, slug must make a unique set."]}),
            "The fields owner, slug must make a unique set.",
        ),
        (
            json!({"metadata": {"camera": ["Not a valid string."]}}),
            "metadata.camera: Not a valid string.",
        ),
        (
            json!({"items": [{}, {"name": ["This field is required."]}]}),
            "items[1].name: This field is required.",
        ),
        (json!(["Top-level error."]), "Top-level error."),
        (json!({"slug": "Not a list."}), "slug: Not a list."),
        (json!({"detail": ["a.", "b."]}), "a. b."),
        // A quota body without `detail` names no field.
        (json!({"limit": 100, "used": 0}), "HTTP 400"),
        (json!({}), "HTTP 400"),
    ] {
        let err = json_error(400, &body).await;
        assert_api(&err, 400, message, Some(&body));
    }

    // A structured detail (shared fixture): its fields, redacted.
    let err = json_error(
        400,
        &fixture("_transport.error_400_structured_detail.response.json"),
    )
    .await;
    assert_eq!(err.message(), "aws_secret_access_key: [redacted]");
    let api = err.api_error().unwrap();
    assert_eq!(
        api.body,
        Some(json!({"detail": {"aws_secret_access_key": "[redacted]"}}))
    );
    assert!(!api.raw_body.contains("wJalrXUtnFEMI"), "{}", api.raw_body);
    assert!(!format!("{err:?}").contains("wJalrXUtnFEMI"));

    // Details that hold no text.
    for detail in [json!(5), json!(null), json!(true)] {
        let body = json!({ "detail": detail });
        let err = json_error(403, &body).await;
        assert_api(&err, 403, "HTTP 403", Some(&body));
    }
}

#[tokio::test]
async fn a_hostile_field_error_body_makes_a_short_message() {
    // Thousands of fields with long messages, long field names, deep nesting.
    let mut fields = serde_json::Map::new();
    for i in 0..100 {
        fields.insert(format!("field_{i:04}"), json!(["m".repeat(450)]));
    }
    fields.insert("n".repeat(5000), json!(["x"]));
    let mut deep = json!(["deep"]);
    for _ in 0..100 {
        deep = json!({ "d": deep });
    }
    fields.insert("zz".into(), deep);
    let err = json_error(400, &Value::Object(fields)).await;
    let message = err.message();
    assert!(message.chars().count() <= 1024, "{}", message.len());
    assert!(message.starts_with("field_0000: mmm"), "{message}");
    assert!(
        message.contains("more"),
        "says that it left some out: {message}"
    );
    assert!(err.to_string().chars().count() <= 1100);
    // A long detail is cut too.
    let err = json_error(400, &json!({"detail": "d".repeat(50_000)})).await;
    assert!(err.message().chars().count() <= 1024);
    assert!(err.message().starts_with("ddd"));
}

#[tokio::test]
async fn a_field_error_never_quotes_the_key() {
    let key = common::KEY;
    let mut body = json!({ "api_key": [format!("{key} is not valid.")],
                           "slug": [format!("Taken by {key}.")] });
    body[key] = json!(["a field named after the key"]);
    let err = json_error(400, &body).await;
    let message = err.message();
    assert!(message.contains("slug: Taken by [redacted]."), "{message}");
    // `checked` (in json_error) asserted Display and Debug hold no key.
    assert!(!message.contains(key), "{message}");
}

#[tokio::test]
async fn control_characters_in_a_message_are_escaped() {
    let body = json!({"detail": "bad\u{1b}]0;pwned\u{7} name\u{1b}[2J\u{9b}31m\u{7f}"});
    let err = json_error(400, &body).await;
    let message = err.message();
    assert_eq!(
        message,
        "bad\\u001b]0;pwned\\u0007 name\\u001b[2J\\u009b31m\\u007f"
    );
    assert!(!err.to_string().chars().any(char::is_control));
    // The body keeps the server's text exactly.
    assert_eq!(err.api_error().unwrap().body.as_ref(), Some(&body));
    let err = json_error(400, &json!({"na\u{1b}me": ["x\u{7}y"]})).await;
    assert_eq!(err.message(), "na\\u001bme: x\\u0007y");
}

#[tokio::test]
async fn secrets_in_messages_and_bodies_are_redacted() {
    let err = json_error(
        400,
        &fixture("_transport.error_400_redaction.response.json"),
    )
    .await;
    assert_eq!(
        err.message(),
        "Invalid value '[redacted]' for field 'aws_access_key'"
    );
    let api = err.api_error().unwrap();
    assert!(
        !api.raw_body.contains("AKIAIOSFODNN7EXAMPLE"),
        "{}",
        api.raw_body
    );
    assert!(api.raw_body.contains("[redacted]"), "{}", api.raw_body);
    assert_eq!(api.body.as_ref().unwrap()["detail"], json!(err.message()));
    for text in [err.to_string(), format!("{err:?}")] {
        assert!(!text.contains("AKIAIOSFODNN7EXAMPLE"), "{text}");
    }
}

#[tokio::test]
async fn status_401_403_404() {
    let body = fixture("_transport.error_401.response.json");
    let err = json_error(401, &body).await;
    assert_api(&err, 401, "Invalid API key", Some(&body));
    assert!(matches!(err, Error::Authentication(_)), "{err:?}");
    assert!(!err.is_retryable());

    let body = json!({"detail": "You do not have permission to perform this action."});
    let err = json_error(403, &body).await;
    assert_api(
        &err,
        403,
        "You do not have permission to perform this action.",
        Some(&body),
    );
    assert!(matches!(err, Error::Forbidden(_)), "{err:?}");

    let body = fixture("_transport.error_404.response.json");
    let err = json_error(404, &body).await;
    assert_api(&err, 404, "Not found.", Some(&body));
    assert!(matches!(err, Error::NotFound(_)), "{err:?}");
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn status_413_with_limit_and_used_is_quota_exceeded() {
    let body = json!({"limit": 10_737_418_240_u64, "used": 10_000_000_000_u64});
    let err = json_error(413, &body).await;
    assert_api(&err, 413, "HTTP 413", Some(&body));
    let Error::QuotaExceeded { limit, used, .. } = &err else {
        panic!("expected QuotaExceeded, got {err:?}");
    };
    assert_eq!(
        (*limit, *used),
        (Some(10_737_418_240), Some(10_000_000_000))
    );

    // With a detail, and with only one of the two.
    let body = json!({"detail": "Storage quota exceeded", "limit": 100, "used": 0});
    let err = json_error(413, &body).await;
    assert_api(&err, 413, "Storage quota exceeded", Some(&body));
    assert!(
        matches!(
            err,
            Error::QuotaExceeded {
                limit: Some(100),
                used: Some(0),
                ..
            }
        ),
        "{err:?}"
    );
    let err = json_error(413, &json!({"used": 7})).await;
    assert!(
        matches!(
            err,
            Error::QuotaExceeded {
                limit: None,
                used: Some(7),
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn status_413_without_limit_or_used_is_api() {
    for body in [
        json!({"detail": "Request entity too large"}),
        json!({"limit": "10GB", "used": "9GB"}),
        json!([{"limit": 1, "used": 2}]),
    ] {
        let err = json_error(413, &body).await;
        assert!(matches!(err, Error::Api(_)), "{body}: {err:?}");
        assert_eq!(err.status(), Some(413));
    }
    let err = error_for(ResponseTemplate::new(413).set_body_raw("<h1>413</h1>", "text/html")).await;
    assert!(matches!(err, Error::Api(_)), "{err:?}");
    assert_eq!(err.message(), "HTTP 413");
}

#[tokio::test]
async fn status_429_is_rate_limited_with_retry_after() {
    let body = fixture("_transport.error_429.response.json");
    let err = error_for(
        ResponseTemplate::new(429)
            .set_body_json(&body)
            .insert_header("Retry-After", "7"),
    )
    .await;
    assert_api(&err, 429, "Too many requests", Some(&body));
    let Error::RateLimited { retry_after, .. } = &err else {
        panic!("expected RateLimited, got {err:?}");
    };
    assert_eq!(*retry_after, Some(Duration::from_secs(7)));
    assert!(err.is_retryable());

    let err = json_error(429, &body).await;
    assert!(
        matches!(
            err,
            Error::RateLimited {
                retry_after: None,
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn status_5xx_are_server_errors() {
    for (status, name, message) in [
        (
            500,
            "_transport.error_500.response.json",
            "Internal server error",
        ),
        (
            503,
            "_transport.error_503.response.json",
            "Service unavailable",
        ),
    ] {
        let body = fixture(name);
        let err = json_error(status, &body).await;
        assert_api(&err, status, message, Some(&body));
        assert!(matches!(err, Error::Server(_)), "{err:?}");
        assert_eq!(err.is_retryable(), status == 503, "{status}");
    }
    // A proxy's HTML page: no JSON body, the generic message, the text kept.
    let html = "<html><body><h1>502 Bad Gateway</h1></body></html>";
    let err = error_for(ResponseTemplate::new(502).set_body_raw(html, "text/html")).await;
    assert_api(&err, 502, "HTTP 502", None);
    assert!(matches!(err, Error::Server(_)), "{err:?}");
    assert_eq!(err.api_error().unwrap().raw_body, html);
    assert!(err.is_retryable());

    let err = error_for(ResponseTemplate::new(504)).await;
    assert_api(&err, 504, "HTTP 504", None);
    assert_eq!(err.api_error().unwrap().raw_body, "");
    assert!(matches!(err, Error::Server(_)), "{err:?}");
}

#[tokio::test]
async fn other_statuses_are_api_errors() {
    let body = fixture("_transport.error_418.response.json");
    let err = json_error(418, &body).await;
    assert_api(&err, 418, "I'm a teapot", Some(&body));
    assert!(matches!(err, Error::Api(_)), "{err:?}");
    assert!(!err.is_retryable());

    let body = json!({"detail": "Conflict"});
    let err = json_error(409, &body).await;
    assert_api(&err, 409, "Conflict", Some(&body));
    assert!(matches!(err, Error::Api(_)), "{err:?}");

    let err = error_for(
        ResponseTemplate::new(302).insert_header("location", "https://elsewhere.example/"),
    )
    .await;
    assert_api(&err, 302, "HTTP 302", None);
    assert!(matches!(err, Error::Api(_)), "{err:?}");
}

#[tokio::test]
async fn the_request_id_is_kept() {
    let err = error_for(
        ResponseTemplate::new(500)
            .set_body_json(fixture("_transport.error_500.response.json"))
            .insert_header("X-Request-Id", "req-123abc"),
    )
    .await;
    assert_eq!(
        err.api_error().unwrap().request_id.as_deref(),
        Some("req-123abc")
    );
    let err = json_error(404, &fixture("_transport.error_404.response.json")).await;
    assert_eq!(err.api_error().unwrap().request_id, None);
}

#[tokio::test]
async fn a_huge_error_body_is_bounded() {
    let big = format!(
        "{{\"detail\": \"big\", \"pad\": \"{}\"}}",
        "x".repeat(200_000)
    );
    let err = error_for(ResponseTemplate::new(400).set_body_raw(big, "application/json")).await;
    let api = err.api_error().unwrap();
    assert!(api.raw_body.len() <= 64 * 1024, "{}", api.raw_body.len());
    assert!(api.raw_body.starts_with("{\"detail\": \"big\""));
    // Cut short, it is no longer JSON: the generic message.
    assert_eq!(api.body, None);
    assert_eq!(err.message(), "HTTP 400");
}

#[tokio::test]
async fn local_errors_have_no_status() {
    let server = MockServer::start().await;
    let client = client_with(&server, |b| b);
    let err = expect_err(client.get_dataset().uid("..").send().await);
    assert_eq!(err.status(), None);
    assert!(err.api_error().is_none());
    assert!(!err.message().is_empty());
    assert!(err.to_string().contains(&err.message()));
    assert_logs_clean();
}

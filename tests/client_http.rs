//! What goes on the wire: headers, path parameters, redirects, rate-limit
//! headers, `?` on generated calls, and 2xx bodies that do not decode.

mod common;

use common::{assert_logs_clean, client, client_with, expect_err, hits, received, KEY};
use wiremock::{
    matchers::{any, method, path},
    Mock, MockServer, ResponseTemplate,
};

fn header<'r>(request: &'r wiremock::Request, name: &str) -> Option<&'r str> {
    request.headers.get(name).map(|v| v.to_str().unwrap())
}

async fn answer_any(server: &MockServer, status: u16, body: serde_json::Value) {
    Mock::given(any())
        .respond_with(ResponseTemplate::new(status).set_body_json(body))
        .mount(server)
        .await;
}

#[tokio::test]
async fn normal_operations_send_key_accept_and_user_agent() {
    let server = MockServer::start().await;
    common::serve_dataset(&server, "d1").await;
    Mock::given(method("POST"))
        .and(path("/api/v1/agents/a1/test/"))
        .respond_with(
            ResponseTemplate::new(404).set_body_json(serde_json::json!({"detail": "Not found."})),
        )
        .mount(&server)
        .await;
    let client = client(&server);
    client.get_dataset().uid("d1").send().await.unwrap();
    expect_err(client.test_agent().uid("a1").send().await);

    let requests = received(&server).await;
    assert_eq!(requests.len(), 2);
    for r in &requests {
        assert_eq!(header(r, "x-avala-api-key"), Some(KEY), "{}", r.url);
        assert_eq!(header(r, "accept"), Some("application/json"), "{}", r.url);
        assert_eq!(
            header(r, "user-agent"),
            Some(concat!("avala-rust/", env!("CARGO_PKG_VERSION"))),
            "{}",
            r.url
        );
        assert_eq!(header(r, "authorization"), None, "no bearer scheme");
        // progenitor would add `api-version`; the Avala API defines none.
        assert_eq!(header(r, "api-version"), None, "{}", r.url);
        assert_eq!(r.headers.get_all("x-avala-api-key").iter().count(), 1);
    }
    assert_logs_clean();
}

#[tokio::test]
async fn surrounding_whitespace_is_trimmed_from_the_key() {
    let server = MockServer::start().await;
    answer_any(&server, 200, common::dataset("d1")).await;
    common::init();
    let client = avala::Client::builder()
        .api_key(format!("  {KEY}\n"))
        .base_url(server.uri())
        .build()
        .unwrap();
    client.get_dataset().uid("d1").send().await.unwrap();
    let requests = received(&server).await;
    assert_eq!(header(&requests[0], "x-avala-api-key"), Some(KEY));
}

#[tokio::test]
async fn a_custom_user_agent_replaces_the_default() {
    let server = MockServer::start().await;
    answer_any(&server, 200, common::dataset("d1")).await;
    let client = client_with(&server, |b| b.user_agent("my-tool/2.0 (ci)"));
    client.get_dataset().uid("d1").send().await.unwrap();
    let requests = received(&server).await;
    assert_eq!(header(&requests[0], "user-agent"), Some("my-tool/2.0 (ci)"));
}

#[tokio::test]
async fn signup_is_sent_without_the_key() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/signup/"))
        .respond_with(ResponseTemplate::new(201).set_body_json(serde_json::json!({
            "api_key": "avk_new_user_key_0000000000",
            "user": {"uid": "u1", "username": "new"}
        })))
        .expect(1)
        .mount(&server)
        .await;
    let client = client(&server);
    let body = avala::types::SignupUserRequest {
        email: "new@example.com".into(),
        password: "correct horse".into(),
        first_name: None,
        last_name: None,
    };
    let out = client.signup_user().body(body).send().await.unwrap();
    assert_eq!(out.user.uid, "u1");

    let requests = received(&server).await;
    assert_eq!(header(&requests[0], "x-avala-api-key"), None);
    assert_eq!(header(&requests[0], "accept"), Some("application/json"));
    let sent: serde_json::Value = requests[0].body_json().unwrap();
    assert_eq!(sent["email"], "new@example.com");
}

#[tokio::test]
async fn resolver_operations_are_sent_without_the_key() {
    let server = MockServer::start().await;
    answer_any(&server, 404, serde_json::json!({"detail": "Not found."})).await;
    let client = client(&server);
    let err = expect_err(
        client
            .resolve_dataset_reference()
            .owner("avala")
            .dataset("demo")
            .selector("main")
            .send()
            .await,
    );
    assert!(matches!(err, avala::Error::NotFound(_)), "{err:?}");
    let err = expect_err(
        client
            .resolve_dataset_revision()
            .dataset_uid("6b1f5c1e-3a4b-4c5d-8e9f-0a1b2c3d4e5f")
            .revision_sha256("a".repeat(64))
            .send()
            .await,
    );
    assert_eq!(err.status(), Some(404));
    // A normal operation on the same client does carry it.
    expect_err(client.get_dataset().uid("d1").send().await);

    let requests = received(&server).await;
    let paths: Vec<&str> = requests.iter().map(|r| r.url.path()).collect();
    assert_eq!(
        paths,
        [
            "/api/v1/resolve/avala/demo@main/".to_owned(),
            format!(
                "/api/v1/resolve/uid/6b1f5c1e-3a4b-4c5d-8e9f-0a1b2c3d4e5f/{}/",
                "a".repeat(64)
            ),
            "/api/v1/datasets/d1/".to_owned(),
        ]
    );
    assert_eq!(header(&requests[0], "x-avala-api-key"), None);
    assert_eq!(header(&requests[1], "x-avala-api-key"), None);
    assert_eq!(header(&requests[0], "accept"), Some("application/json"));
    assert_eq!(header(&requests[2], "x-avala-api-key"), Some(KEY));
}

fn assert_invalid_argument(err: avala::Error) {
    assert!(
        matches!(err, avala::Error::InvalidArgument { .. }),
        "expected InvalidArgument, got {err:?}"
    );
    assert_eq!(err.status(), None);
    assert!(!err.message().is_empty());
}

#[tokio::test]
async fn empty_and_dot_path_parameters_are_refused_before_sending() {
    let server = MockServer::start().await;
    answer_any(&server, 200, common::dataset("d1")).await;
    let client = client(&server);
    for bad in ["", ".", ".."] {
        assert_invalid_argument(expect_err(client.get_dataset().uid(bad).send().await));
        assert_invalid_argument(expect_err(
            client
                .get_dataset_by_slug()
                .owner(bad)
                .slug("ok")
                .send()
                .await,
        ));
        assert_invalid_argument(expect_err(
            client
                .get_dataset_by_slug()
                .owner("ok")
                .slug(bad)
                .send()
                .await,
        ));
        assert_invalid_argument(expect_err(
            client
                .get_dataset_by_slug()
                .owner(bad)
                .slug(bad)
                .send()
                .await,
        ));
    }
    // `../..` would climb out of the API root altogether.
    assert_invalid_argument(expect_err(
        client
            .get_dataset_by_slug()
            .owner("..")
            .slug("..")
            .send()
            .await,
    ));
    // A `..` that lands on another existing route (`/datasets/{owner}/{slug}/`)
    // is refused as well: the check is against this operation's own route.
    assert_invalid_argument(expect_err(
        client
            .get_dataset_item()
            .owner("items")
            .slug("..")
            .item_uid("d1")
            .send()
            .await,
    ));
    // A parameter that was never set.
    assert_invalid_argument(expect_err(client.get_dataset().send().await));
    assert_eq!(hits(&server).await, 0);
    assert_logs_clean();
}

#[tokio::test]
async fn odd_path_parameters_are_sent_percent_encoded_as_one_segment() {
    let server = MockServer::start().await;
    answer_any(&server, 200, common::dataset("d1")).await;
    let client = client(&server);
    let cases = [
        ("a/b", "a%2Fb"),
        ("a?b#c", "a%3Fb%23c"),
        ("%2e%2e", "%252e%252e"),
        ("serve.robotics@avala.ai", "serve.robotics@avala.ai"),
        ("with space", "with%20space"),
        ("données-λ", "donn%C3%A9es-%CE%BB"),
        ("...", "..."),
        (".hidden", ".hidden"),
    ];
    for (value, _) in cases {
        client.get_dataset().uid(value).send().await.unwrap();
    }
    for (value, _) in cases {
        client
            .get_dataset_by_slug()
            .owner(value)
            .slug(value)
            .send()
            .await
            .unwrap();
    }
    let seen: Vec<String> = received(&server)
        .await
        .iter()
        .map(|r| {
            assert_eq!(r.url.query(), None, "{}", r.url);
            r.url.path().to_owned()
        })
        .collect();
    let mut expected: Vec<String> = cases
        .iter()
        .map(|(_, enc)| format!("/api/v1/datasets/{enc}/"))
        .collect();
    expected.extend(
        cases
            .iter()
            .map(|(_, enc)| format!("/api/v1/datasets/{enc}/{enc}/")),
    );
    assert_eq!(seen, expected);
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let target = MockServer::start().await;
    answer_any(&target, 200, common::dataset("d1")).await;
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(
            ResponseTemplate::new(302)
                .insert_header("location", format!("{}/api/v1/datasets/d1/", target.uri())),
        )
        .mount(&server)
        .await;
    let client = client(&server);
    let err = expect_err(client.get_dataset().uid("d1").send().await);
    assert!(matches!(err, avala::Error::Api(_)), "{err:?}");
    assert_eq!(err.status(), Some(302));
    assert_eq!(err.message(), "HTTP 302");
    // Nor on a POST.
    let err = expect_err(client.test_agent().uid("a1").send().await);
    assert_eq!(err.status(), Some(302));
    assert_eq!(hits(&server).await, 2);
    assert_eq!(hits(&target).await, 0);
}

#[tokio::test]
async fn rate_limit_headers_of_the_latest_response_are_kept() {
    let server = MockServer::start().await;
    Mock::given(path("/api/v1/datasets/ok/"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(common::dataset("ok"))
                .insert_header("X-RateLimit-Limit", "100")
                .insert_header("X-RateLimit-Remaining", "99")
                .insert_header("X-RateLimit-Reset", "1700000000"),
        )
        .mount(&server)
        .await;
    Mock::given(path("/api/v1/datasets/limited/"))
        .respond_with(
            ResponseTemplate::new(429)
                .set_body_json(common::fixture("_transport.error_429.response.json"))
                .insert_header("Retry-After", "30")
                .insert_header("X-RateLimit-Limit", "100")
                .insert_header("X-RateLimit-Remaining", "0")
                .insert_header("X-RateLimit-Reset", "42"),
        )
        .mount(&server)
        .await;
    Mock::given(path("/api/v1/datasets/plain/"))
        .respond_with(ResponseTemplate::new(200).set_body_json(common::dataset("plain")))
        .mount(&server)
        .await;
    let client = client_with(&server, |b| b.max_retries(0));
    assert_eq!(client.last_rate_limit(), None);

    client.get_dataset().uid("ok").send().await.unwrap();
    let rl = client.last_rate_limit().expect("recorded after a success");
    assert_eq!(
        (rl.limit, rl.remaining, rl.reset),
        (Some(100), Some(99), Some(1700000000))
    );

    // Clones share the state.
    let clone = client.clone();
    let err = expect_err(clone.get_dataset().uid("limited").send().await);
    assert!(matches!(err, avala::Error::RateLimited { .. }), "{err:?}");
    let rl = client.last_rate_limit().expect("recorded after an error");
    assert_eq!(
        (rl.limit, rl.remaining, rl.reset),
        (Some(100), Some(0), Some(42))
    );

    // Only the most recent response counts.
    client.get_dataset().uid("plain").send().await.unwrap();
    assert_eq!(client.last_rate_limit(), None);
}

/// A helper as users write them: `?` straight on `.send().await`.
async fn dataset_name(client: &avala::Client, uid: &str) -> avala::Result<String> {
    let dataset = client.get_dataset().uid(uid).send().await?;
    let page = client.list_datasets().limit(1).send().await?;
    Ok(format!("{} ({} listed)", dataset.name, page.results.len()))
}

#[tokio::test]
async fn question_mark_converts_generated_errors() {
    let server = MockServer::start().await;
    Mock::given(path("/api/v1/datasets/d1/"))
        .respond_with(ResponseTemplate::new(200).set_body_json(common::dataset("d1")))
        .mount(&server)
        .await;
    Mock::given(path("/api/v1/datasets/"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "next": null, "previous": null, "results": [common::dataset("d1")]
        })))
        .mount(&server)
        .await;
    Mock::given(path("/api/v1/datasets/gone/"))
        .respond_with(
            ResponseTemplate::new(404)
                .set_body_json(common::fixture("_transport.error_404.response.json")),
        )
        .mount(&server)
        .await;
    let client = client(&server);
    assert_eq!(
        dataset_name(&client, "d1").await.unwrap(),
        "name-d1 (1 listed)"
    );
    let err = expect_err(dataset_name(&client, "gone").await);
    assert!(matches!(err, avala::Error::NotFound(_)), "{err:?}");
    assert_eq!(err.message(), "Not found.");
    let err = expect_err(dataset_name(&client, "..").await);
    assert!(
        matches!(err, avala::Error::InvalidArgument { .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_2xx_body_that_does_not_fit_the_model_is_a_decode_error() {
    let server = MockServer::start().await;
    Mock::given(path("/api/v1/datasets/wrong-type/"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({"uid": 5, "name": "n", "slug": "s"})),
        )
        .mount(&server)
        .await;
    Mock::given(path("/api/v1/datasets/missing/"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({"name": "n"})))
        .mount(&server)
        .await;
    Mock::given(path("/api/v1/datasets/html/"))
        .respond_with(
            ResponseTemplate::new(200).set_body_raw("<html>maintenance</html>", "text/html"),
        )
        .mount(&server)
        .await;
    Mock::given(path("/api/v1/datasets/empty/"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    let client = client(&server);
    for (uid, fragment) in [
        ("wrong-type", Some("\"uid\":5")),
        ("missing", Some("\"name\"")),
        ("html", Some("maintenance")),
        ("empty", None),
    ] {
        let err = expect_err(client.get_dataset().uid(uid).send().await);
        let avala::Error::Decode { message, body } = &err else {
            panic!("{uid}: expected Error::Decode, got {err:?}");
        };
        assert!(!message.is_empty());
        assert_eq!(err.status(), None);
        assert!(!err.is_retryable());
        if let Some(fragment) = fragment {
            let body = body.as_deref().unwrap_or_default();
            assert!(body.contains(fragment), "{uid}: body {body:?}");
        }
    }
    assert_logs_clean();
}

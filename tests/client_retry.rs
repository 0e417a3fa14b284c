//! Retries (which methods, which statuses, how many times, how long to
//! wait), connection failures and timeouts. How long is never read from
//! the wall clock: waits are measured on paused tokio time against the
//! embedded mock (which runs on the test's runtime), or read from the
//! retry loop's own `retrying` events, captured per test.

#[path = "common/capture.rs"]
mod capture;
mod common;

use std::time::{Duration, SystemTime};

use avala::{mock::Fault, retry::RetryPolicy, Error};
use capture::Capture;
use common::{assert_logs_clean, client_with, expect_err, hits, KEY};
use tokio::time::Instant;
use wiremock::{matchers::any, Mock, MockServer, ResponseTemplate};

async fn server_answering(response: ResponseTemplate) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(response)
        .mount(&server)
        .await;
    server
}

/// First `n` requests get `first`, the rest `then`.
async fn server_answering_then(
    first: ResponseTemplate,
    n: u64,
    then: ResponseTemplate,
) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(first)
        .up_to_n_times(n)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(any())
        .respond_with(then)
        .with_priority(2)
        .mount(&server)
        .await;
    server
}

fn status(code: u16) -> ResponseTemplate {
    ResponseTemplate::new(code)
        .set_body_json(serde_json::json!({"detail": format!("status {code}")}))
}

/// A retryable status whose `Retry-After: 0` asks for no wait of its own.
fn quick(code: u16) -> ResponseTemplate {
    status(code).insert_header("Retry-After", "0")
}

/// A policy whose backoff steps are 1 ms, for tests that count attempts.
fn fast() -> RetryPolicy {
    let step = Duration::from_millis(1);
    RetryPolicy::default().base_delay(step).max_delay(step)
}

fn ok_dataset() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(common::dataset("d1"))
}

fn agent_patch() -> avala::types::UpdateAgentRequest {
    Default::default()
}

#[tokio::test]
async fn get_put_delete_are_retried_max_retries_times() {
    let server = server_answering(status(503)).await;
    let client = client_with(&server, |b| b);
    let logs = Capture::start();
    let err = expect_err(client.get_dataset().uid("d1").send().await);
    assert!(matches!(err, Error::Server(_)), "{err:?}");
    assert_eq!(err.status(), Some(503));
    assert_eq!(hits(&server).await, 3, "default max_retries is 2");
    // Two backoff steps of the default policy (500 ms then 1 s, each with a
    // jitter of ½ to 1).
    let delays = logs.retry_delays();
    assert_eq!(delays.len(), 2, "{}", logs.text());
    assert!(
        (250..=500).contains(&delays[0]) && (500..=1000).contains(&delays[1]),
        "{delays:?}"
    );
    common::assert_no_key(&logs.text(), "tracing output");
    drop(logs);

    server.reset().await;
    Mock::given(any())
        .respond_with(quick(503))
        .mount(&server)
        .await;
    expect_err(
        client
            .update_consensus_config()
            .project_uid("p1")
            .body(avala::types::UpdateConsensusConfigRequest {
                min_annotations: Some(3),
                ..Default::default()
            })
            .send()
            .await,
    );
    let puts = common::received(&server).await;
    assert_eq!(puts.len(), 3, "PUT");
    for put in &puts {
        assert_eq!(put.method.as_str(), "PUT");
        // Every try carries the whole body again.
        let body: serde_json::Value = put.body_json().unwrap();
        assert_eq!(body["min_annotations"], 3, "{body}");
    }
    server.reset().await;
    Mock::given(any())
        .respond_with(quick(503))
        .mount(&server)
        .await;
    expect_err(client.delete_agent().uid("a1").send().await);
    assert_eq!(hits(&server).await, 3, "DELETE");
    let received = common::received(&server).await;
    assert!(received.iter().all(|r| r.method.as_str() == "DELETE"));
    assert_logs_clean();
}

#[tokio::test]
async fn max_retries_sets_the_number_of_tries() {
    for (retries, expected) in [(0, 1), (1, 2), (3, 4)] {
        let server = server_answering(quick(503)).await;
        let client = client_with(&server, |b| b.retry_policy(fast()).max_retries(retries));
        let err = expect_err(client.get_dataset().uid("d1").send().await);
        assert_eq!(err.status(), Some(503));
        assert_eq!(hits(&server).await, expected, "max_retries({retries})");
    }
}

#[tokio::test]
async fn post_and_patch_are_never_repeated() {
    for code in [503, 429, 502, 504, 408] {
        let server = server_answering(quick(code)).await;
        let client = client_with(&server, |b| b.max_retries(3));
        let err = expect_err(client.test_agent().uid("a1").send().await);
        assert_eq!(err.status(), Some(code));
        assert_eq!(hits(&server).await, 1, "POST on {code}");
        if code == 429 {
            // The caller gets the server's Retry-After to decide.
            assert!(
                matches!(err, Error::RateLimited { retry_after: Some(d), .. } if d.is_zero()),
                "{err:?}"
            );
        }

        let err = expect_err(
            client
                .update_agent()
                .uid("a1")
                .body(agent_patch())
                .send()
                .await,
        );
        assert_eq!(err.status(), Some(code));
        assert_eq!(hits(&server).await, 2, "PATCH on {code}");
    }
}

#[tokio::test]
async fn retryable_statuses_are_408_429_502_503_504() {
    for code in [408, 429, 502, 503, 504] {
        let server = server_answering_then(quick(code), 1, ok_dataset()).await;
        let client = client_with(&server, |b| b.retry_policy(fast()));
        let dataset = client.get_dataset().uid("d1").send().await.unwrap();
        assert_eq!(dataset.uid, "d1");
        assert_eq!(hits(&server).await, 2, "{code} then 200");
    }
    for code in [500, 404, 400, 401, 403, 409, 413, 422] {
        let server = server_answering(quick(code)).await;
        let client = client_with(&server, |b| b.max_retries(3));
        let err = expect_err(client.get_dataset().uid("d1").send().await);
        assert_eq!(err.status(), Some(code));
        assert_eq!(hits(&server).await, 1, "{code} is not retried");
    }
}

#[tokio::test]
async fn a_persistent_429_ends_as_rate_limited_with_retry_after() {
    let server = server_answering(
        ResponseTemplate::new(429)
            .set_body_json(common::fixture("_transport.error_429.response.json"))
            .insert_header("Retry-After", "0"),
    )
    .await;
    let client = client_with(&server, |b| b.retry_policy(fast()));
    let err = expect_err(client.get_dataset().uid("d1").send().await);
    assert!(
        matches!(err, Error::RateLimited { retry_after: Some(d), .. } if d == Duration::ZERO),
        "{err:?}"
    );
    assert_eq!(err.message(), "Too many requests");
    assert_eq!(hits(&server).await, 3);
}

#[tokio::test(start_paused = true)]
async fn retry_after_in_seconds_is_waited_for() {
    let mock = avala::mock::MockServer::start().await;
    mock.fault("get_dataset", Fault::status(429).header("Retry-After", "3"))
        .times(1);
    let started = Instant::now();
    mock.client().get_dataset().uid("d1").send().await.unwrap();
    // Virtual time: the server's 3 s, longer than the first backoff step
    // (at most 500 ms), exactly.
    assert_eq!(started.elapsed(), Duration::from_secs(3));
    assert_eq!(mock.hits("get_dataset"), 2);
}

#[tokio::test(start_paused = true)]
async fn retry_after_as_an_http_date_is_waited_for() {
    // Thirty seconds ahead in whole seconds, read against the real clock:
    // the wait is at most 30 s and short of it only by the real time the
    // test takes to get there (allowed: up to 10 s).
    let when = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(30));
    let mock = avala::mock::MockServer::start().await;
    mock.fault(
        "get_dataset",
        Fault::status(503).header("Retry-After", &when),
    )
    .times(1);
    let started = Instant::now();
    mock.client().get_dataset().uid("d1").send().await.unwrap();
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(20) && waited <= Duration::from_secs(30),
        "waited {waited:?} for {when}"
    );
    assert_eq!(mock.hits("get_dataset"), 2);
}

#[tokio::test(start_paused = true)]
async fn a_retry_after_beyond_the_cap_is_returned_not_waited_for() {
    let in_an_hour = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(3600));
    for value in ["3600", in_an_hour.as_str()] {
        let mock = avala::mock::MockServer::start().await;
        mock.fault(
            "get_dataset",
            Fault::status(429).header("Retry-After", value),
        );
        let client = mock.client_builder().max_retries(5).build().unwrap();
        let started = Instant::now();
        let err = expect_err(client.get_dataset().uid("d1").send().await);
        // Virtual time: no sleep at all, where one would be an hour long.
        assert_eq!(started.elapsed(), Duration::ZERO, "{value}");
        assert_eq!(mock.hits("get_dataset"), 1);
        let Error::RateLimited {
            retry_after: Some(after),
            ..
        } = err
        else {
            panic!("expected RateLimited with retry_after, got {err:?}");
        };
        assert!(
            after > Duration::from_secs(3590) && after <= Duration::from_secs(3600),
            "{value}: {after:?}"
        );
    }
}

#[tokio::test]
async fn a_503_asking_for_a_wait_past_the_cap_is_rate_limited_with_the_value() {
    // The server's day is not waited for and not lost: the caller learns it.
    let server = server_answering(status(503).insert_header("Retry-After", "86400")).await;
    let client = client_with(&server, |b| b.max_retries(5));
    let err = expect_err(client.get_dataset().uid("d1").send().await);
    assert_eq!(hits(&server).await, 1);
    assert_eq!(err.status(), Some(503));
    assert!(
        matches!(err, Error::RateLimited { retry_after: Some(d), .. } if d == Duration::from_secs(86_400)),
        "{err:?}"
    );
    // Within the cap, a 503 that persists stays a server error.
    let server = server_answering(quick(503)).await;
    let client = client_with(&server, |b| b.retry_policy(fast()).max_retries(1));
    let err = expect_err(client.get_dataset().uid("d1").send().await);
    assert!(matches!(err, Error::Server(_)), "{err:?}");
}

#[tokio::test]
async fn a_connection_failure_is_retried_for_get_and_ends_as_transport() {
    common::init();
    let base = format!("http://127.0.0.1:{}/api/v1", common::closed_port());
    let client = avala::Client::builder()
        .api_key(KEY)
        .base_url(&base)
        .build()
        .unwrap();
    let logs = Capture::start();
    let err = expect_err(client.get_dataset().uid("closed-port-get").send().await);
    assert!(matches!(err, Error::Transport { .. }), "{err:?}");
    assert!(err.is_retryable());
    assert_eq!(err.status(), None);
    assert!(err.message().contains("connect"), "{}", err.message());
    // Two backoff steps of the default policy.
    let delays = logs.retry_delays();
    assert_eq!(delays.len(), 2, "{}", logs.text());
    assert!(
        (250..=500).contains(&delays[0]) && (500..=1000).contains(&delays[1]),
        "{delays:?}"
    );

    // Without retries, and for POST: a single try.
    let once = avala::Client::builder()
        .api_key(KEY)
        .base_url(&base)
        .max_retries(0)
        .build()
        .unwrap();
    expect_err(once.get_dataset().uid("closed-port-once").send().await);
    assert_eq!(logs.retry_delays().len(), 2, "no more: {}", logs.text());
    let err = expect_err(client.test_agent().uid("closed-port-post").send().await);
    assert!(matches!(err, Error::Transport { .. }), "{err:?}");
    assert_eq!(logs.retry_delays().len(), 2, "no more: {}", logs.text());
    common::assert_no_key(&logs.text(), "tracing output");
    drop(logs);
    assert_logs_clean();
}

#[tokio::test(start_paused = true)]
async fn a_slow_server_times_out_as_a_retryable_transport_error() {
    // Paused time, the mock on the test's runtime: the 5 s answer and the
    // 250 ms timeout race on the virtual clock, which load cannot skew.
    let mock = avala::mock::MockServer::start().await;
    mock.fault("get_dataset", Fault::delay(Duration::from_secs(5)));
    let client = mock
        .client_builder()
        .timeout(Duration::from_millis(250))
        .max_retries(0)
        .build()
        .unwrap();
    let started = Instant::now();
    let err = expect_err(client.get_dataset().uid("d1").send().await);
    assert_eq!(started.elapsed(), Duration::from_millis(250));
    let Error::Transport { source, .. } = &err else {
        panic!("expected Transport, got {err:?}");
    };
    assert!(source.is_timeout(), "{source:?}");
    assert!(err.is_retryable());
    assert!(err.message().contains("timed out"), "{}", err.message());
    assert_eq!(mock.hits("get_dataset"), 1);
}

#[tokio::test(start_paused = true)]
async fn a_timed_out_get_is_tried_again_and_a_post_is_not() {
    let mock = avala::mock::MockServer::start().await;
    mock.fault("get_dataset", Fault::delay(Duration::from_secs(5)))
        .times(1);
    let client = mock
        .client_builder()
        .timeout(Duration::from_millis(250))
        .build()
        .unwrap();
    client.get_dataset().uid("d1").send().await.unwrap();
    assert_eq!(mock.hits("get_dataset"), 2);

    mock.fault("test_agent", Fault::delay(Duration::from_secs(5)));
    let err = expect_err(client.test_agent().uid("a1").send().await);
    assert!(matches!(err, Error::Transport { .. }), "{err:?}");
    assert_eq!(mock.hits("test_agent"), 1);
}

#[tokio::test]
async fn each_request_has_one_span_with_operation_method_path_status_and_attempt() {
    common::init();
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(503).insert_header("retry-after", "0"))
        .mount(&server)
        .await;
    let client = client_with(&server, |b| b.retry_policy(fast()).max_retries(1));
    let logs = Capture::start();
    expect_err(client.get_dataset().uid("span-fields").send().await);
    // The `retrying` event is logged inside the span, after the first
    // attempt's fields were recorded.
    let text = logs.text();
    let line = text
        .lines()
        .find(|l| l.contains("retrying"))
        .unwrap_or_else(|| panic!("no retry event: {text}"));
    for field in [
        "avala.request{",
        "operation_id=\"get_dataset\"",
        "method=GET",
        "path=\"/api/v1/datasets/span-fields/\"",
        "status=503",
        "attempt=1",
        "elapsed_ms=",
    ] {
        assert!(line.contains(field), "{field} missing from: {line}");
    }
    common::assert_no_key(&text, "tracing output");
    assert_logs_clean();
}

#[tokio::test]
async fn retry_policy_and_max_retries_compose_in_call_order() {
    // `max_retries` edits the current policy; `retry_policy` replaces it.
    for (label, configure, expected) in [
        (
            "policy with 4",
            (|b| b.retry_policy(fast().max_retries(4)))
                as fn(avala::ClientBuilder) -> avala::ClientBuilder,
            5,
        ),
        (
            "policy then 0",
            |b| b.retry_policy(fast()).max_retries(0),
            1,
        ),
        (
            "5 then policy",
            |b| b.max_retries(5).retry_policy(fast()),
            3,
        ),
    ] {
        let server = server_answering(quick(503)).await;
        let client = client_with(&server, configure);
        expect_err(client.get_dataset().uid("d1").send().await);
        assert_eq!(hits(&server).await, expected, "{label}");
    }
}

#[tokio::test]
async fn a_retry_after_of_zero_is_a_floor_under_the_default_backoff() {
    // §8: the server's wait counts "if that is longer"; a 0 does not skip
    // the backoff, whose first step with the default policy is 250–500 ms.
    common::init();
    let server = server_answering_then(quick(503), 1, ok_dataset()).await;
    let client = client_with(&server, |b| b);
    let logs = Capture::start();
    client.get_dataset().uid("floor-zero").send().await.unwrap();
    let delays = logs.retry_delays();
    assert_eq!(delays.len(), 1, "{}", logs.text());
    assert!((250..=500).contains(&delays[0]), "{delays:?}");
    common::assert_no_key(&logs.text(), "tracing output");
    assert_logs_clean();
}

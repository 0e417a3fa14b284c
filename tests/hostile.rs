//! A broken or hostile server gets a typed error, in bounded time, with
//! nothing of the key in it, and never a panic: malformed status lines,
//! bodies longer or shorter than their length, bad chunking, endless and
//! trickled bodies, resets, huge headers, 1xx, unknown statuses, redirects,
//! absurd `Retry-After` values and echoes of the key.
//!
//! "Bounded time" is measured on paused tokio time (the raw server runs on
//! the test's runtime, so its sleeps and trickles are virtual too): exact
//! under any load.

mod common;

use std::time::Duration;

use tokio::time::Instant;

use avala::Error;
use common::{
    checked,
    raw::{response, write, RawServer, Step},
    KEY,
};

/// A client of `server` with the test key and `retries` retries.
fn builder(server: &RawServer, retries: u32) -> avala::ClientBuilder {
    common::init();
    avala::Client::builder()
        .api_key(KEY)
        .base_url(server.base_url())
        .max_retries(retries)
        .timeout(Duration::from_secs(5))
}

/// `get_dataset` against a server running `scripts`; the error (checked
/// for the key), the server, and how long it took (on the tokio clock:
/// virtual in the tests that pause it).
async fn get_err(
    scripts: Vec<Vec<Step>>,
    settings: impl FnOnce(avala::ClientBuilder) -> avala::ClientBuilder,
) -> (Error, RawServer, Duration) {
    let server = RawServer::start(scripts).await;
    let client = settings(builder(&server, 0)).build().unwrap();
    let started = Instant::now();
    let result = tokio::time::timeout(
        Duration::from_secs(20),
        client.get_dataset().uid("d1").send(),
    )
    .await
    .expect("the call ends in bounded time");
    let elapsed = started.elapsed();
    match result {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(e) => (checked(e), server, elapsed),
    }
}

const DATASET: &str = r#"{"uid": "d1", "name": "n", "slug": "s"}"#;

fn ok_dataset() -> Vec<Step> {
    vec![response("200 OK", &[], DATASET)]
}

fn head(status_line: &str, extra: &str) -> Step {
    write(format!(
        "HTTP/1.1 {status_line}\r\nConnection: close\r\nContent-Type: application/json\r\n{extra}\r\n"
    ))
}

#[tokio::test(start_paused = true)]
async fn an_endless_2xx_body_stops_at_the_limit() {
    for framing in ["", "Transfer-Encoding: chunked\r\n"] {
        let chunk = if framing.is_empty() {
            b"[1,".repeat(4096)
        } else {
            format!("3000\r\n{}\r\n", "x".repeat(0x3000)).into_bytes()
        };
        let (err, _, elapsed) = get_err(
            vec![vec![head("200 OK", framing), Step::Endless(chunk)]],
            |b| b.max_response_bytes(1 << 20),
        )
        .await;
        assert!(
            matches!(err, Error::ResponseTooLarge { limit, status: 200 } if limit == 1 << 20),
            "{err:?}"
        );
        assert!(err.to_string().contains("max_response_bytes"), "{err}");
        assert!(!err.is_retryable());
        // Ended by the limit, not by the 5 s timeout.
        assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn an_announced_length_over_the_limit_is_refused_without_reading() {
    // The server announces 10 GB and then sends nothing: waiting for the body
    // would hit the timeout, believing the length does not.
    let (err, server, elapsed) = get_err(
        vec![vec![
            head("200 OK", "Content-Length: 10000000000\r\n"),
            Step::Sleep(Duration::from_secs(30)),
        ]],
        |b| b,
    )
    .await;
    assert!(
        matches!(err, Error::ResponseTooLarge { limit, .. } if limit == 64 << 20),
        "{err:?}"
    );
    // Not a moment of the 30 s the server would make it wait.
    assert_eq!(elapsed, Duration::ZERO);
    assert_eq!(server.connections(), 1);
}

#[tokio::test]
async fn a_body_within_the_limit_is_decoded() {
    let server = RawServer::start(vec![ok_dataset()]).await;
    let limit = DATASET.len() as u64;
    let client = builder(&server, 0)
        .max_response_bytes(limit)
        .build()
        .unwrap();
    let dataset = client.get_dataset().uid("d1").send().await.unwrap();
    assert_eq!(dataset.uid, "d1");
    // One byte less and the same answer is refused.
    let server = RawServer::start(vec![ok_dataset()]).await;
    let client = builder(&server, 0)
        .max_response_bytes(limit - 1)
        .build()
        .unwrap();
    let err = client.get_dataset().uid("d1").send().await.unwrap_err();
    assert!(matches!(err, Error::ResponseTooLarge { .. }), "{err:?}");
}

#[tokio::test]
async fn a_body_that_breaks_off_is_retried_for_get_only() {
    // Shorter than its length, then a reset: the first attempt fails while
    // reading the body; the retry gets the whole answer.
    let broken = vec![
        head("200 OK", "Content-Length: 100\r\n"),
        write(&DATASET[..10]),
        Step::Sleep(Duration::from_millis(50)),
        Step::Reset,
    ];
    let server = RawServer::start(vec![broken.clone(), ok_dataset()]).await;
    let client = builder(&server, 2).build().unwrap();
    let dataset = client.get_dataset().uid("d1").send().await.unwrap();
    assert_eq!(dataset.uid, "d1");
    assert_eq!(server.connections(), 2);

    // A POST is never repeated: one connection, a transport error.
    let server = RawServer::start(vec![broken]).await;
    let client = builder(&server, 2).build().unwrap();
    let err = checked(
        client
            .leave_organization()
            .slug("acme")
            .send()
            .await
            .unwrap_err(),
    );
    assert!(matches!(err, Error::Transport { .. }), "{err:?}");
    assert_eq!(server.connections(), 1);
}

#[tokio::test]
async fn a_short_body_spends_the_retries_then_is_a_transport_error() {
    let short = vec![
        head("200 OK", "Content-Length: 100\r\n"),
        write(&DATASET[..10]),
    ];
    let (err, server, _) = get_err(vec![short], |b| b.max_retries(2)).await;
    assert!(matches!(err, Error::Transport { .. }), "{err:?}");
    assert!(err.is_retryable());
    assert_eq!(server.connections(), 3);
}

#[tokio::test(start_paused = true)]
async fn malformed_framing_is_a_transport_error() {
    let scripts = [
        vec![write("HTTP/1.1 abc Nope\r\n\r\n")],
        vec![write("SMTP ready\r\n\r\n")],
        vec![write(
            "HTTP/1.1 200 OK\r\nContent-Length: 12\r\nContent-Length: 13\r\n\r\n",
        )],
        vec![
            head("200 OK", "Transfer-Encoding: chunked\r\n"),
            write("zz\r\nhello\r\n0\r\n\r\n"),
        ],
        vec![head(
            "200 OK",
            &format!("X-Huge: {}\r\n", "h".repeat(1 << 20)),
        )],
        // Nothing at all.
        vec![],
    ];
    for script in scripts {
        let (err, _, elapsed) = get_err(vec![script.clone()], |b| b).await;
        assert!(
            matches!(err, Error::Transport { .. }),
            "{script:?}: {err:?}"
        );
        assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_trickled_body_ends_at_the_timeout() {
    let (err, _, elapsed) = get_err(
        vec![vec![
            head("200 OK", "Content-Length: 100000\r\n"),
            Step::Trickle(b' ', Duration::from_millis(50)),
        ]],
        |b| b.timeout(Duration::from_millis(600)),
    )
    .await;
    let Error::Transport { source, .. } = &err else {
        panic!("{err:?}")
    };
    assert!(source.is_timeout(), "{err:?}");
    // At the timeout, though bytes kept coming every 50 ms.
    assert_eq!(elapsed, Duration::from_millis(600));
}

#[tokio::test]
async fn a_body_longer_than_its_length_is_read_to_its_length() {
    let script = vec![
        head("200 OK", &format!("Content-Length: {}\r\n", DATASET.len())),
        write(format!("{DATASET}garbage after the body")),
    ];
    let server = RawServer::start(vec![script]).await;
    let client = builder(&server, 0).build().unwrap();
    let dataset = client.get_dataset().uid("d1").send().await.unwrap();
    assert_eq!(dataset.uid, "d1");
}

#[tokio::test]
async fn informational_answers_are_skipped() {
    let script = vec![
        write("HTTP/1.1 102 Processing\r\n\r\n"),
        response("200 OK", &[], DATASET),
    ];
    let server = RawServer::start(vec![script]).await;
    let client = builder(&server, 0).build().unwrap();
    let dataset = client.get_dataset().uid("d1").send().await.unwrap();
    assert_eq!(dataset.uid, "d1");
}

#[tokio::test]
async fn statuses_outside_100_to_599_are_api_errors() {
    for status in ["999 Whatever", "600 Odd", "799 Odd"] {
        let (err, _, _) = get_err(vec![vec![response(status, &[], "{}")]], |b| b).await;
        let code: u16 = status[..3].parse().unwrap();
        assert!(matches!(err, Error::Api(_)), "{status}: {err:?}");
        assert_eq!(err.status(), Some(code));
    }
    let (err, _, _) = get_err(vec![vec![response("599 Edge", &[], "{}")]], |b| b).await;
    assert!(matches!(err, Error::Server(_)), "{err:?}");
}

#[tokio::test]
async fn a_redirect_is_an_error_and_is_not_followed() {
    let elsewhere = RawServer::start(vec![ok_dataset()]).await;
    let location = format!("http://{}/api/v1/datasets/d1/", elsewhere.addr);
    let (err, server, _) = get_err(
        vec![vec![response(
            "307 Temporary Redirect",
            &[("Location", &location)],
            "",
        )]],
        |b| b,
    )
    .await;
    assert_eq!(err.status(), Some(307));
    assert!(matches!(err, Error::Api(_)), "{err:?}");
    assert_eq!(server.connections(), 1);
    assert_eq!(elsewhere.connections(), 0, "the redirect was not followed");
}

#[tokio::test(start_paused = true)]
async fn absurd_retry_after_values_do_not_stall() {
    for value in [
        "99999999999999999999",
        "-5",
        "soon",
        "Wed, 21 Oct 2015 07:28:00 GMT",
        "",
    ] {
        let busy = vec![response("503 Busy", &[("Retry-After", value)], "{}")];
        let (err, server, elapsed) = get_err(vec![busy], |b| b.max_retries(2)).await;
        if value.starts_with("999") {
            // Past the 60 s cap: not waited for, handed to the caller.
            assert!(
                matches!(err, Error::RateLimited { retry_after: Some(d), .. } if d >= Duration::from_secs(1_000_000_000)),
                "{value}: {err:?}"
            );
            assert_eq!(server.connections(), 1, "{value}: not retried");
            assert_eq!(elapsed, Duration::ZERO, "{value}: not waited for");
        } else {
            assert!(matches!(err, Error::Server(_)), "{value}: {err:?}");
            // Ignored: the 3 tries, the policy's backoff apart (at most
            // 500 ms + 1 s), nothing of the header.
            assert_eq!(server.connections(), 3, "{value}");
            assert!(
                elapsed <= Duration::from_millis(1500),
                "{value}: {elapsed:?}"
            );
        }
    }
}

#[tokio::test]
async fn the_key_echoed_in_x_request_id_is_scrubbed() {
    let (err, _, _) = get_err(
        vec![vec![response(
            "400 Bad Request",
            &[("X-Request-Id", &format!("req-{KEY}"))],
            "{}",
        )]],
        |b| b,
    )
    .await;
    assert_eq!(
        err.api_error().unwrap().request_id.as_deref(),
        Some("req-[redacted]")
    );
}

#[tokio::test]
async fn the_key_escaped_in_a_long_error_body_is_scrubbed() {
    let escaped: String = KEY
        .chars()
        .map(|c| format!("\\u{:04x}", c as u32))
        .collect();
    for pad in [10, 70_000] {
        let body = format!(
            r#"{{"detail": "{}", "echo": "{escaped}"}}"#,
            "p".repeat(pad)
        );
        let (err, _, _) = get_err(vec![vec![response("400 Bad", &[], &body)]], |b| b).await;
        let api = err.api_error().unwrap();
        // Long, the body is cut (no JSON), and the key is still gone.
        assert_eq!(api.body.is_some(), pad == 10);
        assert!(
            !api.raw_body.contains(&escaped[..30]),
            "{}",
            &api.raw_body[..100]
        );
    }
}

#[tokio::test]
async fn the_key_cut_by_the_error_body_limit_leaves_nothing_recognisable() {
    const CUT: usize = 64 * 1024;
    for keep in [4, 9, 20, KEY.len() - 1] {
        let body = format!("{}{KEY} and more", "p".repeat(CUT - keep));
        let (err, _, _) = get_err(vec![vec![response("500 Oops", &[], &body)]], |b| b).await;
        let raw = &err.api_error().unwrap().raw_body;
        assert!(
            raw.ends_with("p[redacted]"),
            "keep {keep}: {}",
            &raw[raw.len() - 40..]
        );
    }
}

#[tokio::test]
async fn the_key_in_a_2xx_body_that_fails_to_decode_is_scrubbed() {
    let escaped: String = KEY
        .chars()
        .map(|c| format!("\\u{:04X}", c as u32))
        .collect();
    let body = format!(
        r#"{{"uid": "d1", "name": "n", "slug": "s", "item_count": "{KEY}", "x": "{escaped}"}}"#
    );
    let (err, _, _) = get_err(vec![vec![response("200 OK", &[], &body)]], |b| b).await;
    let Error::Decode { message, body } = &err else {
        panic!("{err:?}")
    };
    assert!(
        message.contains("[redacted]"),
        "serde quotes the value: {message}"
    );
    assert!(!body.as_deref().unwrap().contains(&escaped[..30]));
}

#[tokio::test]
async fn the_key_as_a_repeating_cursor_is_not_quoted() {
    use futures::TryStreamExt;
    let page =
        format!(r#"{{"next": "/api/v1/datasets/?cursor={KEY}", "previous": null, "results": []}}"#);
    let server = RawServer::start(vec![vec![response("200 OK", &[], &page)]]).await;
    let client = builder(&server, 0).build().unwrap();
    let err = client
        .list_datasets()
        .stream()
        .try_collect::<Vec<_>>()
        .await
        .unwrap_err();
    let err = checked(err);
    assert!(err.to_string().contains("same page cursor twice"), "{err}");
    assert_eq!(server.connections(), 2);
}

#[tokio::test]
async fn an_oversized_cursor_is_the_servers_fault() {
    use futures::TryStreamExt;
    let page = format!(
        r#"{{"next": "/api/v1/datasets/?cursor={}", "previous": null, "results": []}}"#,
        "c".repeat(70_000)
    );
    let server = RawServer::start(vec![vec![response("200 OK", &[], &page)]]).await;
    let client = builder(&server, 0).build().unwrap();
    let err = client
        .list_datasets()
        .stream()
        .try_collect::<Vec<_>>()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Decode { .. }), "{err:?}");
    assert!(err.to_string().contains("70000 bytes"), "{err}");
    assert_eq!(server.connections(), 1, "the oversized cursor was not sent");
}

#[tokio::test]
async fn a_key_in_the_request_url_stays_out_of_transport_errors() {
    common::init();
    let client = avala::Client::builder()
        .api_key(KEY)
        .base_url(format!("http://127.0.0.1:{}/api/v1", common::closed_port()))
        .max_retries(0)
        .build()
        .unwrap();
    let err = checked(client.list_datasets().cursor(KEY).send().await.unwrap_err());
    let Error::Transport { source, .. } = &err else {
        panic!("{err:?}")
    };
    assert!(source.url().is_none(), "the source carries no URL");
}

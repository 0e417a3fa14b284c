//! The mock server's own behaviour, seen over plain HTTP: routing, request
//! validation, headers, the record of requests, faults, scripted pages and
//! shutdown.

use std::time::{Duration, Instant};

use avala::mock::{Fault, MockServer, StorageRoute};
use serde_json::{json, Value};

const KEY: &str = MockServer::API_KEY;

#[path = "common/tempdir.rs"]
mod tempdir;

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Sends `method path` (below the API root) with the key, and an optional
/// JSON body; returns status, headers and body text.
async fn send(
    mock: &MockServer,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> (u16, reqwest::header::HeaderMap, String) {
    let mut request = http()
        .request(
            method.parse().unwrap(),
            format!("{}{path}", mock.base_url()),
        )
        .header("X-Avala-Api-Key", KEY);
    if let Some(body) = body {
        request = request
            .header("Content-Type", "application/json")
            .body(body.to_owned());
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.text().await.unwrap())
}

fn problem(text: &str) -> (String, Vec<String>) {
    let v: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"));
    let detail = v["detail"].as_str().expect("a string detail").to_owned();
    let errors = v["errors"]
        .as_array()
        .expect("an errors array")
        .iter()
        .map(|e| e.as_str().unwrap().to_owned())
        .collect();
    (detail, errors)
}

#[tokio::test]
async fn unknown_routes_are_404_and_wrong_methods_405_with_allow() {
    let mock = MockServer::start().await;
    for path in [
        "/nope/",
        "/datasets",
        "/datasets/a/b/c/d/e/",
        "/../datasets/",
    ] {
        let (status, _, body) = send(&mock, "GET", path, None).await;
        assert_eq!(status, 404, "{path}");
        let (_, errors) = problem(&body);
        assert!(errors[0].contains("no operation"), "{errors:?}");
    }
    // Outside the API root.
    let outside = http()
        .get(format!("http://{}/datasets/", mock.address()))
        .send()
        .await
        .unwrap();
    assert_eq!(outside.status(), 404);

    let (status, headers, body) = send(&mock, "DELETE", "/datasets/", None).await;
    assert_eq!(status, 405);
    assert_eq!(headers["allow"], "GET, POST");
    assert_eq!(problem(&body).0, "Method \"DELETE\" not allowed.");
    let (status, headers, _) = send(&mock, "PUT", "/agents/a1/", None).await;
    assert_eq!(status, 405);
    assert_eq!(headers["allow"], "DELETE, GET, PATCH");
    // The literal route decides even though `/organizations/{slug}/` has DELETE.
    let (status, headers, _) =
        send(&mock, "DELETE", "/organizations/industry-choices/", None).await;
    assert_eq!((status, headers["allow"].to_str().unwrap()), (405, "GET"));

    let got = mock.received();
    assert_eq!(got.len(), 8);
    assert!(got.iter().all(|r| r.operation_id.is_none()));
    assert!(got.iter().all(|r| !r.violations.is_empty()));
}

#[tokio::test]
async fn literal_segments_win_over_parameters() {
    let mock = MockServer::start().await;
    for (path, op) in [
        ("/datasets/manual-upload/quota/", "get_manual_upload_quota"),
        (
            "/datasets/manual-upload/allowed-mimes/",
            "get_manual_upload_allowed_mimes",
        ),
        ("/datasets/acme/cars/", "get_dataset_by_slug"),
        ("/datasets/abc/", "get_dataset"),
        (
            "/storage-configs/setup-info/",
            "get_storage_config_setup_info",
        ),
        (
            "/organizations/industry-choices/",
            "list_organization_industry_choices",
        ),
        ("/resolve/acme/cars@main/", "resolve_dataset_reference"),
        ("/resolve/uid/u1/abc/", "resolve_dataset_revision"),
    ] {
        send(&mock, "GET", path, None).await;
        let last = mock.received().pop().unwrap();
        assert_eq!(last.operation_id.as_deref(), Some(op), "{path}");
    }
    let by_slug = mock.received_for("get_dataset_by_slug").pop().unwrap();
    assert_eq!(by_slug.path_params["owner"], "acme");
    assert_eq!(by_slug.path_params["slug"], "cars");
    let reference = mock
        .received_for("resolve_dataset_reference")
        .pop()
        .unwrap();
    assert_eq!(reference.path_params["selector"], "main");
}

#[tokio::test]
async fn the_key_is_required_except_on_anonymous_operations() {
    let mock = MockServer::start().await;
    let url = format!("{}/agents/a1/", mock.base_url());
    let response = http().delete(&url).send().await.unwrap();
    assert_eq!(response.status(), 401);
    let (detail, errors) = problem(&response.text().await.unwrap());
    assert_eq!(detail, "Authentication credentials were not provided.");
    assert!(errors[0].contains("X-Avala-Api-Key"), "{errors:?}");
    // An empty key is no key.
    let response = http()
        .delete(&url)
        .header("X-Avala-Api-Key", "")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let response = http()
        .delete(&url)
        .header("X-Avala-Api-Key", KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);

    // `security: []`: signup and the resolver need no key.
    let response = http()
        .post(format!("{}/signup/", mock.base_url()))
        .json(&json!({"email": "a@b.c", "password": "pw"}))
        .send()
        .await
        .unwrap();
    assert_ne!(response.status(), 401);
    let response = http()
        .get(format!("{}/resolve/acme/cars@main/", mock.base_url()))
        .send()
        .await
        .unwrap();
    assert_ne!(response.status(), 401);
    assert!(mock.received_for("signup_user")[0].violations.is_empty());
    assert!(mock.received_for("resolve_dataset_reference")[0]
        .violations
        .is_empty());
}

#[tokio::test]
async fn bad_query_parameters_are_400_naming_the_parameter() {
    let mock = MockServer::start().await;
    mock.paginate("list_datasets", Vec::<Value>::new(), 10);
    let (status, _, body) = send(&mock, "GET", "/datasets/?limit=abc", None).await;
    assert_eq!(status, 400);
    let (_, errors) = problem(&body);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].contains("`limit`") && errors[0].contains("\"abc\""),
        "{errors:?}"
    );

    let (status, _, body) = send(&mock, "GET", "/qc-available-tools/", None).await;
    assert_eq!(status, 400);
    assert_eq!(
        problem(&body).1,
        ["query parameter `dataset_type` is required"]
    );

    let (status, _, body) = send(&mock, "GET", "/fleet/rules/?enabled=yes", None).await;
    assert_eq!(status, 400);
    assert!(problem(&body).1[0].contains("`enabled`"));

    let path = "/fleet/recordings/r1/managed-upload/multipart/progress/?protocol=p&session_uid=s&file_uid=f&generation_uid=g";
    let (status, _, body) = send(&mock, "GET", path, None).await;
    assert_eq!(status, 400);
    assert_eq!(problem(&body).1, ["query parameter `after` is required"]);

    // Undeclared parameters are ignored; valid ones pass.
    let (status, _, _) = send(&mock, "GET", "/datasets/?limit=5&whatever=1", None).await;
    assert_eq!(status, 200);
    let record = mock.received_for("list_datasets");
    assert_eq!(record.len(), 2);
    assert!(!record[0].violations.is_empty() && record[1].violations.is_empty());
}

#[tokio::test]
async fn bad_bodies_are_400_or_415_or_422_naming_the_field() {
    let mock = MockServer::start().await;
    // Valid body, operation without a response body: 204.
    let (status, headers, body) = send(
        &mock,
        "PATCH",
        "/organizations/acme/members/u1/role/",
        Some(r#"{"role": "admin"}"#),
    )
    .await;
    assert_eq!((status, body.as_str()), (204, ""));
    assert!(headers.get("content-type").is_none());

    let (status, _, body) = send(
        &mock,
        "PATCH",
        "/organizations/acme/members/u1/role/",
        Some("{}"),
    )
    .await;
    assert_eq!(status, 422);
    let (detail, errors) = problem(&body);
    assert_eq!(detail, "The request body does not match the schema.");
    assert!(errors.iter().any(|e| e.contains("role")), "{errors:?}");

    let (status, _, body) = send(
        &mock,
        "PATCH",
        "/organizations/acme/members/u1/role/",
        Some(r#"{"role": 5}"#),
    )
    .await;
    assert_eq!(status, 422);
    assert!(
        problem(&body).1.iter().any(|e| e.contains("role")),
        "{body}"
    );

    let (status, _, body) = send(
        &mock,
        "PATCH",
        "/organizations/acme/members/u1/role/",
        Some("{role"),
    )
    .await;
    assert_eq!(status, 400);
    assert!(problem(&body).1[0].starts_with("body: not valid JSON"));

    let (status, _, body) =
        send(&mock, "PATCH", "/organizations/acme/members/u1/role/", None).await;
    assert_eq!(status, 400);
    assert_eq!(problem(&body).1, ["body: a JSON body is required"]);

    let response = http()
        .patch(format!(
            "{}/organizations/acme/members/u1/role/",
            mock.base_url()
        ))
        .header("X-Avala-Api-Key", KEY)
        .header("Content-Type", "text/plain")
        .body(r#"{"role": "admin"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 415);

    // A top-level array body (bulk edit) must be an array.
    let (status, _, _) = send(&mock, "POST", "/datasets/o/s/bulk-edition/", Some("{}")).await;
    assert_eq!(status, 422);

    assert_eq!(mock.hits("update_organization_member_role"), 6);
    let statuses: Vec<_> = mock
        .received_for("update_organization_member_role")
        .iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(
        statuses,
        [
            Some(204),
            Some(422),
            Some(422),
            Some(400),
            Some(400),
            Some(415)
        ]
    );
}

#[tokio::test]
async fn answers_carry_json_rate_limit_and_request_id_headers() {
    let mock = MockServer::start().await;
    mock.paginate("list_agents", [json!({"uid": "a1", "name": "A"})], 5);
    let (status, h1, body) = send(&mock, "GET", "/agents/", None).await;
    assert_eq!(status, 200);
    assert_eq!(h1["content-type"], "application/json");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["results"][0]["uid"],
        "a1"
    );
    let (_, h2, _) = send(&mock, "GET", "/nope/", None).await;
    assert_eq!(h2["content-type"], "application/json");
    for h in [&h1, &h2] {
        assert_eq!(h["x-ratelimit-limit"], "1000");
        assert!(
            h["x-ratelimit-reset"]
                .to_str()
                .unwrap()
                .parse::<u64>()
                .unwrap()
                > 1_700_000_000
        );
    }
    assert_eq!(h1["x-ratelimit-remaining"], "999");
    assert_eq!(h2["x-ratelimit-remaining"], "998");
    assert_ne!(h1["x-request-id"], h2["x-request-id"]);
}

#[tokio::test]
async fn requests_are_recorded_with_their_details() {
    let mock = MockServer::start().await;
    let response = http()
        .patch(format!(
            "{}/organizations/serve.robotics%40avala.ai/members/u%201/role/?x=1&y=a%20b",
            mock.base_url()
        ))
        .header("X-Avala-Api-Key", KEY)
        .header("X-Extra", "yes")
        .json(&json!({"role": "viewer"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let all = mock.received();
    assert_eq!(all.len(), 1);
    let r = &all[0];
    assert_eq!(r.method, "PATCH");
    assert_eq!(
        r.path,
        "/api/v1/organizations/serve.robotics%40avala.ai/members/u%201/role/"
    );
    assert_eq!(r.query, "x=1&y=a%20b");
    assert_eq!(r.query_param("y").as_deref(), Some("a b"));
    assert_eq!(r.query_pairs().len(), 2);
    assert_eq!(
        r.operation_id.as_deref(),
        Some("update_organization_member_role")
    );
    assert_eq!(r.path_params["slug"], "serve.robotics@avala.ai");
    assert_eq!(r.path_params["user_uid"], "u 1");
    assert_eq!(r.header("x-extra"), Some("yes"));
    assert_eq!(r.header("x-avala-api-key"), Some(KEY));
    assert!(
        !format!("{r:?}").contains(KEY),
        "Debug must not print the key"
    );
    assert_eq!(r.json(), Some(json!({"role": "viewer"})));
    assert_eq!((r.status, r.violations.len()), (Some(204), 0));
    assert_eq!(mock.hits("update_organization_member_role"), 1);
    assert_eq!(mock.hits("get_dataset"), 0);
    mock.reset();
    assert!(mock.received().is_empty());
}

#[tokio::test]
async fn status_faults_play_in_order_then_run_out() {
    let mock = MockServer::start().await;
    let first = mock
        .fault(
            "delete_agent",
            Fault::status(503).header("Retry-After", "7"),
        )
        .times(2);
    mock.fault(
        "delete_agent",
        Fault::status(418).json(json!({"detail": "teapot", "n": 1})),
    )
    .times(1);
    let mut seen = Vec::new();
    for _ in 0..5 {
        let (status, headers, body) = send(&mock, "DELETE", "/agents/a1/", None).await;
        seen.push((status, headers.get("retry-after").cloned(), body));
    }
    assert_eq!(seen[0].0, 503);
    assert_eq!(seen[0].1.as_ref().unwrap(), "7");
    assert_eq!(
        serde_json::from_str::<Value>(&seen[0].2).unwrap(),
        json!({"detail": "Service Unavailable"})
    );
    assert_eq!(seen[1].0, 503);
    assert_eq!(seen[2].0, 418);
    assert_eq!(serde_json::from_str::<Value>(&seen[2].2).unwrap()["n"], 1);
    assert_eq!((seen[3].0, seen[4].0), (204, 204));
    assert_eq!(first.remaining(), Some(0));

    // Always, until limited; an invalid request does not use a turn.
    let always = mock.fault("delete_agent", Fault::status(500));
    assert_eq!(always.remaining(), None);
    assert_eq!(send(&mock, "DELETE", "/agents/a1/", None).await.0, 500);
    assert_eq!(send(&mock, "DELETE", "/agents/a1/", None).await.0, 500);
    let limited = always.times(1);
    let no_key = http()
        .delete(format!("{}/agents/a1/", mock.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(no_key.status(), 401);
    assert_eq!(limited.remaining(), Some(1));
    assert_eq!(send(&mock, "DELETE", "/agents/a1/", None).await.0, 500);
    assert_eq!(send(&mock, "DELETE", "/agents/a1/", None).await.0, 204);
    // Other operations are untouched.
    assert_eq!(send(&mock, "DELETE", "/webhooks/w1/", None).await.0, 204);
}

#[tokio::test]
async fn delay_truncation_and_dropped_connections() {
    let mock = MockServer::start().await;
    mock.fault("delete_agent", Fault::delay(Duration::from_millis(300)))
        .times(1);
    let started = Instant::now();
    assert_eq!(send(&mock, "DELETE", "/agents/a1/", None).await.0, 204);
    assert!(started.elapsed() >= Duration::from_millis(300));

    // Truncated: the head announces the whole body, half arrives, then EOF.
    mock.paginate(
        "list_agents",
        (0..20).map(|i| json!({"uid": format!("a{i}"), "name": "x"})),
        20,
    );
    mock.fault("list_agents", Fault::truncated()).times(1);
    let response = http()
        .get(format!("{}/agents/", mock.base_url()))
        .header("X-Avala-Api-Key", KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let announced = response.content_length().unwrap();
    assert!(announced > 100, "{announced}");
    let error = response.bytes().await.unwrap_err();
    assert!(error.is_body() || error.is_decode(), "{error:?}");
    // The next request gets the whole page again.
    let (status, _, body) = send(&mock, "GET", "/agents/", None).await;
    assert_eq!((status, body.len() as u64), (200, announced));

    // Dropped: no response at all.
    mock.fault("delete_agent", Fault::drop_connection())
        .times(1);
    let error = http()
        .delete(format!("{}/agents/a1/", mock.base_url()))
        .header("X-Avala-Api-Key", KEY)
        .send()
        .await
        .unwrap_err();
    assert!(error.is_request() && !error.is_timeout(), "{error:?}");
    let dropped = mock.received_for("delete_agent").pop().unwrap();
    assert_eq!(dropped.status, None);
    assert_eq!(send(&mock, "DELETE", "/agents/a1/", None).await.0, 204);
}

#[tokio::test]
async fn scripted_pages_follow_cursors_and_limits() {
    let mock = MockServer::start().await;
    let items: Vec<Value> = (0..7).map(|i| json!({"uid": format!("d{i}")})).collect();
    mock.paginate("list_datasets", items, 3);
    let mut url = format!("{}/datasets/?name=x", mock.base_url());
    let mut uids = Vec::new();
    let mut pages = 0;
    loop {
        let page: Value = http()
            .get(&url)
            .header("X-Avala-Api-Key", KEY)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        pages += 1;
        uids.extend(
            page["results"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d["uid"].clone()),
        );
        match page["next"].as_str() {
            Some(next) => {
                assert!(next.starts_with(mock.base_url()), "{next}");
                assert!(
                    next.contains("name=x") && next.contains("cursor="),
                    "{next}"
                );
                url = next.to_owned();
            }
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(
        uids,
        (0..7).map(|i| json!(format!("d{i}"))).collect::<Vec<_>>()
    );

    let (_, _, body) = send(&mock, "GET", "/datasets/?limit=5", None).await;
    let page: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(page["results"].as_array().unwrap().len(), 5);
    assert!(page["next"].as_str().unwrap().contains("limit=5"));
    let (status, _, body) = send(&mock, "GET", "/datasets/?cursor=bogus", None).await;
    assert_eq!((status, problem(&body).0.as_str()), (404, "Invalid cursor"));

    // Organizations: page numbers, and `cursor` is ignored.
    mock.paginate("list_organizations", (0..3).map(|i| json!({"uid": i})), 2);
    let (_, _, body) = send(&mock, "GET", "/organizations/?cursor=2", None).await;
    let first: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(first["results"][0]["uid"], 0);
    assert!(
        first["next"].as_str().unwrap().ends_with("page=2"),
        "{first}"
    );
    let (_, _, body) = send(&mock, "GET", "/organizations/?page=2", None).await;
    let second: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (second["results"][0]["uid"].clone(), second["next"].clone()),
        (json!(2), Value::Null)
    );
    assert_eq!(
        send(&mock, "GET", "/organizations/?page=9", None).await.0,
        404
    );
}

#[tokio::test]
#[should_panic(expected = "not a paginated operation")]
async fn paginate_refuses_operations_without_pages() {
    let mock = MockServer::start().await;
    mock.paginate("get_dataset", [json!({})], 1);
}

#[tokio::test]
#[should_panic(expected = "no operation")]
async fn faults_need_a_known_operation() {
    let mock = MockServer::start().await;
    mock.fault("no_such_operation", Fault::status(500));
}

#[tokio::test]
async fn dropping_the_server_stops_it_and_its_connections() {
    let mock = MockServer::try_start().await.unwrap();
    let address = mock.address();
    // A request stuck in a long delay must not keep anything alive.
    mock.fault("delete_agent", Fault::delay(Duration::from_secs(30)));
    let url = format!("{}/agents/a1/", mock.base_url());
    let pending = tokio::spawn(async move {
        http()
            .delete(url)
            .header("X-Avala-Api-Key", KEY)
            .send()
            .await
    });
    while mock.hits("delete_agent") == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    drop(mock);
    let outcome = tokio::time::timeout(Duration::from_secs(5), pending)
        .await
        .expect("the pending request ends when the server is dropped")
        .unwrap();
    assert!(outcome.is_err());
    // Give the runtime a moment to run the aborts, then nothing listens.
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(tokio::net::TcpStream::connect(address).await.is_err());
}

#[test]
fn a_server_per_runtime_shuts_down_with_it() {
    for _ in 0..2 {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let mock = MockServer::start().await;
            let response = http()
                .delete(format!("{}/agents/a1/", mock.base_url()))
                .header("X-Avala-Api-Key", KEY)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 204);
        });
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_are_all_answered_and_recorded() {
    fn shareable<T: Send + Sync + 'static>(_: &T) {}
    let mock = std::sync::Arc::new(MockServer::start().await);
    shareable(&*mock);
    mock.fault("delete_agent", Fault::status(503)).times(5);
    let mut tasks = Vec::new();
    for i in 0..20 {
        let mock = mock.clone();
        tasks.push(tokio::spawn(async move {
            send(&mock, "DELETE", &format!("/agents/a{i}/"), None).await
        }));
    }
    let mut statuses = Vec::new();
    let mut ids = std::collections::BTreeSet::new();
    for task in tasks {
        let (status, headers, _) = task.await.unwrap();
        statuses.push(status);
        ids.insert(headers["x-request-id"].to_str().unwrap().to_owned());
    }
    assert_eq!(statuses.iter().filter(|s| **s == 503).count(), 5);
    assert_eq!(statuses.iter().filter(|s| **s == 204).count(), 15);
    assert_eq!(ids.len(), 20, "request ids are unique");
    assert_eq!(mock.hits("delete_agent"), 20);
    let uids: std::collections::BTreeSet<_> = mock
        .received_for("delete_agent")
        .into_iter()
        .map(|r| r.path_params["uid"].clone())
        .collect();
    assert_eq!(uids.len(), 20);
}

/// The mock reads the key from the literal `X-Avala-Api-Key` (not from the
/// SDK's constant): the SDK's requests carry it under that name, and the
/// key under any other name is no key.
#[tokio::test]
async fn the_key_is_read_from_x_avala_api_key_only() {
    let mock = MockServer::start().await;
    mock.client().get_dataset().uid("d1").send().await.unwrap();
    let sent = mock.received_for("get_dataset").pop().unwrap();
    assert_eq!(sent.header("X-Avala-Api-Key"), Some(KEY));

    let url = format!("{}/agents/a1/", mock.base_url());
    for other in ["X-Api-Key", "Authorization", "X-Avala-Key"] {
        let response = http().delete(&url).header(other, KEY).send().await.unwrap();
        assert_eq!(response.status(), 401, "{other}");
    }
}

/// The legacy Fleet PUT URLs quote the object key by the mock's own rule: a
/// path with a space, `+` and non-ASCII letters reaches storage at the
/// literal path below, which the SDK accepted as the key's URL.
#[tokio::test]
async fn legacy_fleet_urls_quote_keys_by_a_literal_rule() {
    let mock = MockServer::start().await;
    let (src, state) = (tempdir::TempDir::new(), tempdir::TempDir::new());
    src.file("cam 1/a+b ü.bin", 10);
    let uid = "0b7c6a1e-2f3d-4c5b-8a9e-1d2c3b4a5f60";
    mock.client()
        .upload_recording(uid, src.path())
        .state_dir(state.path())
        .send()
        .await
        .unwrap();
    let puts = mock.received_for(StorageRoute::Fleet.operation_id());
    let paths: Vec<&str> = puts.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(
        paths,
        [format!(
            "/_storage/fleet/mock-org/{uid}/cam%201/a%2Bb%20%C3%BC.bin"
        )]
    );
}

/// `respond` scripts a normal answer: after any fault on the operation,
/// for as many requests as `times` says, then the example again.
#[tokio::test]
async fn respond_answers_after_faults_then_runs_out() {
    let mock = MockServer::start().await;
    let cats = json!({"uid": "d1", "name": "Cats", "slug": "cats", "data_type": "image"});
    let reply = mock.respond("get_dataset", &cats).times(2);
    mock.fault("get_dataset", Fault::status(503)).times(1);
    let mut seen = Vec::new();
    for _ in 0..4 {
        let (status, headers, body) = send(&mock, "GET", "/datasets/d1/", None).await;
        assert_eq!(headers["content-type"], "application/json");
        let name = serde_json::from_str::<Value>(&body).unwrap()["name"].clone();
        seen.push((status, name));
    }
    let example = seen[3].1.clone();
    assert_ne!(example, json!("Cats"));
    assert_eq!(
        seen,
        [
            (503, Value::Null),
            (200, json!("Cats")),
            (200, json!("Cats")),
            (200, example)
        ]
    );
    assert_eq!(reply.remaining(), Some(0));
}

/// `respond` uses the operation's documented success status (201 for a
/// create), `respond_status` the one given; both answer instead of a
/// stateful flow, and `reset` forgets them.
#[tokio::test]
async fn respond_takes_the_documented_status_and_beats_the_flows() {
    let mock = MockServer::start().await;
    let body = r#"{"name": "n", "slug": "n", "data_type": "image"}"#;
    mock.respond("create_dataset", json!({"uid": "new"}));
    let (status, _, text) = send(&mock, "POST", "/datasets/", Some(body)).await;
    assert_eq!((status, text.as_str()), (201, r#"{"uid":"new"}"#));

    // The dataset uploads' quota is stateful; a scripted answer comes first.
    mock.uploads().quota(100, 5);
    mock.respond_status(
        "get_manual_upload_quota",
        203,
        json!({"limit": 9, "used": 2}),
    );
    let (status, _, text) = send(&mock, "GET", "/datasets/manual-upload/quota/", None).await;
    assert_eq!((status, text.as_str()), (203, r#"{"limit":9,"used":2}"#));

    // `reset` forgets the scripted answer (the quota is a setting and stays).
    mock.reset();
    let (status, _, text) = send(&mock, "GET", "/datasets/manual-upload/quota/", None).await;
    assert_eq!((status, text.as_str()), (200, r#"{"limit":100,"used":5}"#));
}

/// A request that does not fit the document is refused before a scripted
/// answer, and does not use it up.
#[tokio::test]
async fn respond_does_not_answer_invalid_requests() {
    let mock = MockServer::start().await;
    let reply = mock
        .respond("create_dataset", json!({"uid": "new"}))
        .times(1);
    let (status, _, _) = send(&mock, "POST", "/datasets/", Some("[]")).await;
    assert_eq!(status, 422);
    assert_eq!(reply.remaining(), Some(1));
}

#[tokio::test]
#[should_panic(expected = "no operation \"no_such_operation\"")]
async fn respond_needs_a_known_operation() {
    let mock = MockServer::start().await;
    mock.respond("no_such_operation", json!({}));
}

//! Operations without a response body declare `204` (what the server sends),
//! and the generated calls stay lenient: any 2xx, a `200` with or without a
//! body included, is success. Also: our mock answers `204` for them, and
//! takes both styles of a body-less action (no body, and `{}`).

mod common;

use avala::mock::{contract, schema};
use serde_json::{json, Value};
use wiremock::{matchers::any, Mock, MockServer, ResponseTemplate};

/// Path parameters as `<name>-1`, and the example body when there is one.
fn args_for(op: &schema::Operation, id: &str) -> contract::CallArgs {
    let path = op
        .parameters
        .iter()
        .filter(|p| p.location == schema::ParameterLocation::Path)
        .map(|p| (p.name.clone(), format!("{}-1", p.name)))
        .collect();
    contract::CallArgs {
        path,
        body: op.has_request_body.then(|| example_request(id)),
        ..Default::default()
    }
}

/// Every operation whose success responses carry no content, by id.
fn void_operations() -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    for item in schema::spec()["paths"].as_object().unwrap().values() {
        for op in item.as_object().unwrap().values() {
            let Some(id) = op.get("operationId").and_then(Value::as_str) else {
                continue;
            };
            let responses = op["responses"].as_object().unwrap();
            let success: Vec<(&String, &Value)> = responses
                .iter()
                .filter(|(s, _)| s.starts_with('2'))
                .collect();
            if success.iter().all(|(_, r)| r.get("content").is_none()) {
                let codes = success.iter().map(|(s, _)| (*s).clone()).collect();
                out.push((id.to_owned(), codes));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn every_void_operation_declares_204_and_nothing_else() {
    let ops = void_operations();
    // The 22 of issue 10: every DELETE, org leave, transfer-ownership, the
    // role changes, invitation resend and cancel, annotation issue delete.
    assert_eq!(ops.len(), 22, "{ops:#?}");
    for (id, codes) in &ops {
        assert_eq!(codes, &["204"], "{id}");
    }
}

fn template(status: u16, body: Option<&str>) -> ResponseTemplate {
    let t = ResponseTemplate::new(status);
    match body {
        Some(b) => t.set_body_raw(b.as_bytes().to_vec(), "application/json"),
        None => t,
    }
}

/// Calls every void operation through its generated builder against a
/// loopback server that answers `status` with `body`.
async fn call_all(status: u16, body: Option<&str>) -> Vec<(String, avala::Result<Value>)> {
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(template(status, body))
        .mount(&server)
        .await;
    let client = common::client(&server);
    let mut out = Vec::new();
    for (id, _) in void_operations() {
        let op = schema::operation(&id).unwrap();
        let args = args_for(op, &id);
        let result = contract::call(&client, &id, &args)
            .await
            .unwrap_or_else(|| panic!("{id} is not callable"));
        out.push((id, result));
    }
    assert_eq!(
        received(&server).await,
        out.len(),
        "one request per operation"
    );
    out
}

async fn received(server: &MockServer) -> usize {
    server.received_requests().await.unwrap_or_default().len()
}

fn example_request(id: &str) -> Value {
    avala::mock::examples::requests(id)
        .first()
        .map_or_else(|| json!({}), |e| e.body.clone())
}

#[tokio::test]
async fn any_2xx_is_success_for_a_void_operation() {
    let cases: [(u16, Option<&str>); 5] = [
        (204, None),
        (200, None),
        (200, Some(r#"{"detail": "deleted", "uid": "x"}"#)),
        (200, Some("not json at all")),
        (202, Some("{}")),
    ];
    for (status, body) in cases {
        for (id, result) in call_all(status, body).await {
            assert_eq!(
                result.as_ref().ok(),
                Some(&Value::Null),
                "{id} answered {status} {body:?}: {result:?}"
            );
        }
    }
}

#[tokio::test]
async fn a_non_2xx_answer_is_still_an_error() {
    for (status, body) in [(404, Some(r#"{"detail": "Not found."}"#)), (409, None)] {
        for (id, result) in call_all(status, body).await {
            let err = result.expect_err(&id);
            assert_eq!(err.status(), Some(status), "{id}: {err:?}");
        }
    }
}

#[tokio::test]
async fn our_mock_answers_204_for_void_operations() {
    let mock = avala::mock::MockServer::start().await;
    let client = mock.client();
    for (id, _) in void_operations() {
        let op = schema::operation(&id).unwrap();
        let args = args_for(op, &id);
        let result = contract::call(&client, &id, &args).await.unwrap();
        assert_eq!(result.ok(), Some(Value::Null), "{id}");
        let sent = mock.received_for(&id);
        assert_eq!(sent.len(), 1, "{id}");
        assert_eq!(sent[0].status, Some(204), "{id}: {:?}", sent[0].violations);
        assert!(
            sent[0].violations.is_empty(),
            "{id}: {:?}",
            sent[0].violations
        );
    }
}

/// The body-less actions of protocol.md §3 that the SDKs call both ways.
const BOTH_STYLES: [&str; 4] = [
    "acknowledge_fleet_alert",
    "compute_consensus",
    "resolve_fleet_alert",
    "test_inference_provider",
];

#[tokio::test]
async fn our_mock_accepts_body_less_actions_with_and_without_a_body() {
    let mock = avala::mock::MockServer::start().await;
    let http = reqwest::Client::new();
    for id in BOTH_STYLES {
        let op = schema::operation(id).unwrap();
        assert!(op.has_request_body && !op.request_body_required, "{id}");
        let path: String = op
            .path
            .split('/')
            .map(|s| if s.starts_with('{') { "x1" } else { s })
            .collect::<Vec<_>>()
            .join("/");
        let url = format!("{}{path}", mock.base_url());
        // py style: no body at all; ts style: `{}`.
        let bare = http
            .post(&url)
            .header("X-Avala-Api-Key", avala::mock::MockServer::API_KEY);
        let empty = http
            .post(&url)
            .header("X-Avala-Api-Key", avala::mock::MockServer::API_KEY)
            .header("content-type", "application/json")
            .body("{}");
        for (style, request) in [("no body", bare), ("{}", empty)] {
            let response = request.send().await.unwrap();
            assert!(
                response.status().is_success(),
                "{id} with {style}: {}",
                response.status()
            );
        }
        let sent = mock.received_for(id);
        assert_eq!(sent.len(), 2, "{id}");
        assert!(
            sent.iter().all(|r| r.violations.is_empty()),
            "{id}: {sent:?}"
        );
        // A body that is not an object is still refused.
        let bad = http
            .post(&url)
            .header("X-Avala-Api-Key", avala::mock::MockServer::API_KEY)
            .header("content-type", "application/json")
            .body("[1]")
            .send()
            .await
            .unwrap();
        assert_eq!(bad.status(), 422, "{id}");
    }
}

#[tokio::test]
async fn the_sdk_sends_an_empty_object_for_a_body_less_action_by_default() {
    let mock = avala::mock::MockServer::start().await;
    let client = mock.client();
    client
        .compute_consensus()
        .project_uid("p1")
        .send()
        .await
        .unwrap();
    client
        .resolve_fleet_alert()
        .alert_id("a1")
        .send()
        .await
        .unwrap();
    client
        .acknowledge_fleet_alert()
        .alert_id("a1")
        .send()
        .await
        .unwrap();
    client
        .test_inference_provider()
        .uid("i1")
        .send()
        .await
        .unwrap();
    for id in BOTH_STYLES {
        let sent = mock.received_for(id);
        assert_eq!(sent[0].json(), Some(json!({})), "{id}");
    }
}

//! Contract tests: every operation of `openapi/avala.json` sent through the
//! SDK to the embedded mock, which checks each request against the document
//! and answers with the operation's example; plus wire details, paging with
//! `.stream()`, and the SDK's error mapping and retries against scripted
//! faults.

mod common;

use std::{
    collections::{BTreeMap, BTreeSet},
    time::{Duration, Instant},
};

use avala::{
    mock::{
        contract::{self, CallArgs},
        examples, schema, Fault, MockServer, ReceivedRequest,
    },
    Error,
};
use futures::TryStreamExt;
use serde_json::{json, Value};

/// Every `operationId` of the document, read from the file itself (not
/// from the generated tables that the calls go through).
fn spec_operation_ids() -> Vec<String> {
    let spec: Value =
        serde_json::from_str(include_str!("../openapi/avala.json")).expect("the document is JSON");
    let mut ids = Vec::new();
    for item in spec["paths"].as_object().unwrap().values() {
        for op in item.as_object().unwrap().values() {
            if let Some(id) = op.get("operationId").and_then(Value::as_str) {
                ids.push(id.to_owned());
            }
        }
    }
    ids
}

/// A value for a required query parameter, of its schema's type.
fn query_value(schema: &Value, name: &str) -> Value {
    let target = schema
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix("#/$defs/"))
        .and_then(|n| schema["$defs"].get(n))
        .unwrap_or(schema);
    match target.get("type").and_then(Value::as_str) {
        Some("integer") => json!(0),
        Some("boolean") => json!(true),
        Some("array") => json!([1, 2]),
        _ => target
            .get("enum")
            .or_else(|| target.get("examples"))
            .and_then(|v| v.get(0))
            .cloned()
            .unwrap_or_else(|| json!(format!("{name}-1"))),
    }
}

/// Path parameters (`<name>-1`), every required query parameter, and the
/// first request example as the body.
fn args_for(operation_id: &str) -> CallArgs {
    let op = schema::operation(operation_id).expect("a known operation");
    let mut args = CallArgs::default();
    for p in &op.parameters {
        if p.location == schema::ParameterLocation::Path {
            args.path.insert(p.name.clone(), format!("{}-1", p.name));
        }
        if p.location == schema::ParameterLocation::Query && p.required {
            args.query
                .insert(p.name.clone(), query_value(&p.schema, &p.name));
        }
    }
    args.body = examples::requests(operation_id)
        .first()
        .map(|e| e.body.clone());
    args
}

/// The body the mock serves by default: the default example, with a page
/// envelope's links cleared.
fn served_body(operation_id: &str) -> Option<Value> {
    let mut body = examples::default_response(operation_id)?.body.clone();
    if let Some(envelope) = body.as_object_mut() {
        if envelope.contains_key("next") && envelope.contains_key("results") {
            envelope.insert("next".into(), Value::Null);
            envelope.insert("previous".into(), Value::Null);
        }
    }
    Some(body)
}

/// Checks one contract call; the list of what went wrong.
fn check_call(
    operation_id: &str,
    args: &CallArgs,
    result: Option<avala::Result<Value>>,
    got: &[ReceivedRequest],
) -> Vec<String> {
    let mut wrong = Vec::new();
    let op = schema::operation(operation_id).unwrap();
    let value = match result {
        None => return vec!["the SDK has no call for it".into()],
        Some(Err(e)) => {
            wrong.push(format!("the SDK call failed: {e}"));
            None
        }
        Some(Ok(v)) => Some(v),
    };
    let [request] = got else {
        wrong.push(format!("the mock received {} requests, not 1", got.len()));
        return wrong;
    };
    if request.operation_id.as_deref() != Some(operation_id) {
        wrong.push(format!(
            "the mock matched {:?} for {} {}",
            request.operation_id, request.method, request.path
        ));
    }
    if !request.violations.is_empty() {
        wrong.push(format!(
            "the mock refused the request: {:?}",
            request.violations
        ));
    }
    if request.method != op.method {
        wrong.push(format!("sent {} instead of {}", request.method, op.method));
    }
    // Path parameters arrive in their place (`args_for` sends `<name>-1`),
    // required query parameters with their value.
    for p in &op.parameters {
        let sent = match p.location {
            schema::ParameterLocation::Path => Some(format!("{}-1", p.name)),
            _ => None,
        };
        if sent.is_some() && request.path_params.get(&p.name) != sent.as_ref() {
            wrong.push(format!(
                "path parameter {} arrived as {:?}",
                p.name,
                request.path_params.get(&p.name)
            ));
        }
    }
    for (name, value) in &args.query {
        let got: Vec<String> = request
            .query_pairs()
            .into_iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v)
            .collect();
        let want: Vec<String> = match value {
            Value::Array(items) => items.iter().map(|i| i.to_string()).collect(),
            Value::String(s) => vec![s.clone()],
            other => vec![other.to_string()],
        };
        if got != want {
            wrong.push(format!(
                "query parameter {name}: sent {got:?}, expected {want:?}"
            ));
        }
    }
    // The key goes on every operation except the anonymous ones.
    let key = request.header("x-avala-api-key");
    match (op.anonymous, key) {
        (true, Some(_)) => wrong.push("sent the API key on an anonymous operation".into()),
        (false, k) if k != Some(MockServer::API_KEY) => wrong.push(format!("API key header {k:?}")),
        _ => {}
    }
    // The body on the wire carries the example's data (with the document's
    // declared defaults filled in), compared as data by the mock's own
    // rules, not through the SDK's types.
    if let Some(example) = &args.body {
        let expected = schema::request_with_defaults(operation_id, example);
        match request.json() {
            Some(wire) => {
                if let Some(diff) = examples::first_difference(&expected, &wire) {
                    wrong.push(format!("body on the wire differs from the example: {diff}"));
                }
            }
            None => wrong.push("no JSON body on the wire".into()),
        }
    }
    // The SDK decoded what the mock served.
    if let Some(value) = value {
        match served_body(operation_id) {
            Some(served) if op.has_response_body => {
                let expected = decoded_form(operation_id, &served);
                if let Some(diff) = examples::first_difference(&expected, &value) {
                    wrong.push(format!("decoded {value}, not the served body: {diff}"));
                }
            }
            None if !op.has_response_body => {
                if value != Value::Null || request.status != Some(204) {
                    wrong.push(format!(
                        "{value} with status {:?} instead of 204",
                        request.status
                    ));
                }
            }
            _ => wrong.push("no example response for an operation with a body".into()),
        }
    }
    wrong
}

/// What the SDK must decode `body` (a success answer of `operation_id`)
/// into, by the document's rules as the mock reads them (not through the
/// SDK's types): the declared defaults filled in, and the members no schema
/// declares left out (the generated structs drop them by design).
fn decoded_form(operation_id: &str, body: &Value) -> Value {
    let mut out = schema::response_with_defaults(operation_id, body);
    let unknown = schema::response_unknowns(operation_id, body).unwrap_or_default();
    for pointer in unknown.fields {
        let (parent, last) = pointer.rsplit_once('/').expect("a member pointer");
        let last = last.replace("~1", "/").replace("~0", "~");
        if let Some(map) = out.pointer_mut(parent).and_then(Value::as_object_mut) {
            map.remove(&last);
        }
    }
    out
}

#[tokio::test]
async fn every_operation_is_called_through_the_sdk_and_accepted() {
    let mock = MockServer::start().await;
    let client = mock.client();
    let ids = spec_operation_ids();
    assert_eq!(ids.len(), 149, "the document's operation count changed");
    let mut failures = BTreeMap::new();
    let mut passed = BTreeSet::new();
    for id in &ids {
        let args = args_for(id);
        let before = mock.received().len();
        let result = contract::call(&client, id, &args).await;
        let got = mock.received().split_off(before);
        let mut wrong = check_call(id, &args, result, &got);
        // Every answer carries the rate-limit headers, which the client keeps.
        let limit = client.last_rate_limit().and_then(|r| r.limit);
        if limit != Some(1000) {
            wrong.push(format!("X-RateLimit-Limit read as {limit:?}"));
        }
        if wrong.is_empty() {
            passed.insert(id.clone());
        } else {
            failures.insert(id.clone(), wrong);
        }
    }
    let report: Vec<String> = failures
        .iter()
        .map(|(id, wrong)| format!("- {id}:\n    {}", wrong.join("\n    ")))
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} operations failed their contract call:\n{}",
        failures.len(),
        ids.len(),
        report.join("\n")
    );
    assert_eq!(
        passed.len(),
        ids.len(),
        "every operation got a passing call"
    );
    // Every operation was seen by the mock, once.
    for id in &ids {
        assert_eq!(mock.hits(id), 1, "{id}");
    }
}

/// Every success example (forward-compatibility ones included) is served
/// and decoded by the SDK; the status is the example's.
#[tokio::test]
async fn every_response_example_decodes_through_the_sdk() {
    let mock = MockServer::start().await;
    let client = mock.client();
    let mut count = 0;
    let mut failures = Vec::new();
    for id in spec_operation_ids() {
        let args = args_for(&id);
        for example in examples::responses(&id) {
            count += 1;
            let status = example.status.unwrap_or(200);
            mock.fault(&id, Fault::status(status).json(example.body.clone()))
                .times(1);
            match contract::call(&client, &id, &args).await {
                Some(Ok(value)) => {
                    let expected = decoded_form(&id, &example.body);
                    if let Some(diff) = examples::first_difference(&expected, &value) {
                        failures.push(format!(
                            "{id} / {}: decoded {value}, not the served body: {diff}",
                            example.name
                        ));
                    }
                }
                other => failures.push(format!(
                    "{id} / {} (HTTP {status}): {other:?}",
                    example.name
                )),
            }
        }
    }
    assert!(count >= 149 - 19, "only {count} response examples");
    assert!(
        failures.is_empty(),
        "{} of {count} response examples did not decode:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The one-line message every error example must map to, written out by
/// hand (not computed by the SDK's own redaction): the string `detail`
/// with its secrets replaced by `[redacted]`, else the field errors.
const ERROR_MESSAGES: &[(&str, &str)] = &[
    ("bulk_edit_surfaces_chunk_index_on_error", "bad payload"),
    ("async_400_raises_validation_error", "Bad request."),
    ("400_validation_error", "Invalid input."),
    (
        "422_validation_error_with_details",
        "body.project: field required",
    ),
    ("upload_files_fails_fast", "boom"),
    ("get_agent_not_found", "Not found."),
    ("async_404_raises_not_found_error", "Not found."),
    ("get_storage_config_404", "Not found."),
    ("async_401_raises_authentication_error", "Invalid API key."),
    (
        "async_429_raises_rate_limit_error_with_retry_after",
        "Rate limit exceeded.",
    ),
    ("async_500_raises_server_error", "Internal server error."),
    ("auth_error_shows_friendly_message", "Invalid API key"),
    ("unknown_status_raises_avala_error", "Conflict."),
    ("429_without_retry_after", "Too Many Requests."),
    ("status_without_fleet", "Fleet not enabled"),
    (
        "signup_duplicate_email_raises_validation_error",
        "Email already registered.",
    ),
    (
        "signup_rate_limit_raises_rate_limit_error",
        "Too many requests.",
    ),
    (
        "signup_redacts_secret_in_detail",
        "Invalid config: aws [redacted] key [redacted]",
    ),
    (
        "signup_structured_detail_does_not_leak_or_crash",
        "email: invalid",
    ),
];

/// Every error example, served with its status, becomes the SDK error of
/// that status (protocol section 6): message from a string `detail`, else
/// from the field errors (the literal [`ERROR_MESSAGES`]); `details` from
/// an array body; secrets redacted.
#[tokio::test]
async fn every_error_example_maps_to_its_error() {
    let mock = MockServer::start().await;
    let client = mock.client_builder().max_retries(0).build().unwrap();
    let mut count = 0;
    let mut failures = Vec::new();
    for id in spec_operation_ids() {
        let args = args_for(&id);
        for example in examples::errors(&id) {
            count += 1;
            let status = example.status.expect("an error example has a status");
            mock.fault(&id, Fault::status(status).json(example.body.clone()))
                .times(1);
            let error = match contract::call(&client, &id, &args).await {
                Some(Err(e)) => e,
                other => {
                    failures.push(format!("{id} / {}: {other:?}", example.name));
                    continue;
                }
            };
            let variant = match status {
                400 | 422 => "Validation",
                401 => "Authentication",
                403 => "Forbidden",
                404 => "NotFound",
                429 => "RateLimited",
                500.. => "Server",
                _ => "Api",
            };
            let Some((_, message)) = ERROR_MESSAGES.iter().find(|(n, _)| *n == example.name) else {
                failures.push(format!(
                    "{id} / {}: no literal message in ERROR_MESSAGES",
                    example.name
                ));
                continue;
            };
            let debug = format!("{error:?}");
            let details = match &error {
                Error::Validation { details, .. } => details.clone(),
                _ => Vec::new(),
            };
            let expected_details = example.body.as_array().cloned().unwrap_or_default();
            if !debug.starts_with(variant)
                || error.status() != Some(status)
                || error.message() != *message
                || details != expected_details
                || debug.contains("AKIAIOSFODNN7EXAMPLE")
            {
                failures.push(format!(
                    "{id} / {} (HTTP {status}): expected {variant} with message {message:?}, got {debug}",
                    example.name
                ));
            }
        }
    }
    assert!(count >= 19, "only {count} error examples");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Operations whose generated types drop fields that their examples carry,
/// with the reason. The test below fails when another appears, and when one
/// of these is fixed (so the list stays true).
const KNOWN_LOSSY: &[(&str, &str)] = &[];

/// The typed request and response bodies keep every field of the default
/// examples (up to `null`/empty members, number spelling and the declared
/// defaults the types fill in).
#[test]
fn typed_bodies_keep_the_example_fields() {
    let mut lossy = BTreeMap::new();
    for id in spec_operation_ids() {
        if let Some(example) = examples::requests(&id).first() {
            let typed = contract::roundtrip_request(&id, example.body.clone())
                .expect("takes a body")
                .expect("the request example fits the typed body");
            let expected = schema::request_with_defaults(&id, &example.body);
            if let Some(diff) = examples::first_difference(&expected, &typed) {
                lossy.insert(id.clone(), format!("request: {diff}"));
            }
        }
        if let Some(served) = served_body(&id) {
            let typed = contract::roundtrip_response(&id, served.clone())
                .expect("answers with a body")
                .expect("the response example fits the typed body");
            let expected = schema::response_with_defaults(&id, &served);
            if let Some(diff) = examples::first_difference(&expected, &typed) {
                lossy.insert(id.clone(), format!("response: {diff}"));
            }
        }
    }
    let known: BTreeSet<&str> = KNOWN_LOSSY.iter().map(|(id, _)| *id).collect();
    let new: Vec<String> = lossy
        .iter()
        .filter(|(id, _)| !known.contains(id.as_str()))
        .map(|(id, what)| format!("- {id}: {what}"))
        .collect();
    let fixed: Vec<&str> = known
        .iter()
        .filter(|id| !lossy.contains_key(**id))
        .copied()
        .collect();
    assert!(
        new.is_empty() && fixed.is_empty(),
        "typed bodies that drop example fields:\n{}\nlisted in KNOWN_LOSSY but no longer lossy: {fixed:?}",
        new.join("\n")
    );
}

// ---------------------------------------------------------------------------
// Wire details of representative operations.

fn pairs(r: &ReceivedRequest) -> BTreeSet<(String, String)> {
    r.query_pairs().into_iter().collect()
}

fn set(items: &[(&str, &str)]) -> BTreeSet<(String, String)> {
    items
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[tokio::test]
async fn paths_and_queries_are_exact() {
    let mock = MockServer::start().await;
    let client = mock.client();

    client
        .list_datasets()
        .limit(5)
        .cursor("abc")
        .send()
        .await
        .unwrap();
    let r = mock.received().pop().unwrap();
    assert_eq!(r.path, "/api/v1/datasets/");
    assert_eq!(pairs(&r), set(&[("cursor", "abc"), ("limit", "5")]));
    assert_eq!(r.query.split('&').count(), 2, "{}", r.query);

    client.list_datasets().send().await.unwrap();
    let r = mock.received().pop().unwrap();
    assert_eq!(
        (r.path.as_str(), r.query.as_str()),
        ("/api/v1/datasets/", "")
    );

    client
        .list_datasets()
        .data_type(avala::types::DataType::Image)
        .name("a b&c")
        .send()
        .await
        .unwrap();
    let r = mock.received().pop().unwrap();
    assert_eq!(pairs(&r), set(&[("data_type", "image"), ("name", "a b&c")]));

    client
        .list_fleet_rules()
        .enabled(false)
        .send()
        .await
        .unwrap();
    let r = mock.received().pop().unwrap();
    assert_eq!(pairs(&r), set(&[("enabled", "false")]));
    assert!(r.violations.is_empty());

    client
        .get_dataset_by_slug()
        .owner("serve.robotics@avala.ai")
        .slug("cats-v2")
        .send()
        .await
        .unwrap();
    let r = mock.received().pop().unwrap();
    assert_eq!(r.operation_id.as_deref(), Some("get_dataset_by_slug"));
    assert_eq!(r.path_params["owner"], "serve.robotics@avala.ai");
    assert_eq!(r.path_params["slug"], "cats-v2");
    assert_eq!(r.path, "/api/v1/datasets/serve.robotics@avala.ai/cats-v2/");
    // Characters that would change the route are escaped, and arrive whole.
    client
        .get_dataset_by_slug()
        .owner("a b/c?d#e")
        .slug("x")
        .send()
        .await
        .unwrap();
    let r = mock.received().pop().unwrap();
    assert_eq!(r.path, "/api/v1/datasets/a%20b%2Fc%3Fd%23e/x/");
    assert_eq!(r.operation_id.as_deref(), Some("get_dataset_by_slug"));
    assert_eq!(r.path_params["owner"], "a b/c?d#e");
    assert_eq!(r.query, "");

    client
        .resolve_dataset_reference()
        .owner("acme")
        .dataset("cars")
        .selector("main")
        .send()
        .await
        .unwrap();
    let r = mock.received().pop().unwrap();
    assert_eq!(r.path, "/api/v1/resolve/acme/cars@main/");

    client
        .get_fleet_managed_multipart_progress()
        .recording_uid("r1")
        .protocol("fleet-managed-mcap-v1")
        .session_uid("s1")
        .file_uid("f1")
        .generation_uid("g1")
        .after(0)
        .send()
        .await
        .unwrap();
    let r = mock.received().pop().unwrap();
    assert_eq!(
        r.path,
        "/api/v1/fleet/recordings/r1/managed-upload/multipart/progress/"
    );
    assert_eq!(
        pairs(&r),
        set(&[
            ("after", "0"),
            ("file_uid", "f1"),
            ("generation_uid", "g1"),
            ("protocol", "fleet-managed-mcap-v1"),
            ("session_uid", "s1"),
        ])
    );
}

/// A path parameter that would send the request to another route never
/// reaches the server.
#[tokio::test]
async fn route_changing_path_parameters_are_refused_before_sending() {
    let mock = MockServer::start().await;
    let client = mock.client();
    for uid in ["..", ".", ""] {
        let error = client.get_dataset().uid(uid).send().await.unwrap_err();
        assert!(
            matches!(error, Error::InvalidArgument { .. }),
            "{uid:?}: {error:?}"
        );
    }
    assert!(mock.received().is_empty(), "{:?}", mock.received());
}

/// The resolver's `ordinals` travels as repeated keys (protocol section 9.4).
#[tokio::test]
async fn array_query_parameters_repeat_their_key() {
    let mock = MockServer::start().await;
    let client = mock.client();
    let result = client
        .list_resolver_objects()
        .dataset_uid("d1")
        .revision_sha256("abc")
        .role("episode")
        .ordinals(vec![3, 5])
        .send()
        .await;
    let r = mock.received().pop().unwrap();
    assert!(
        r.violations.is_empty(),
        "{:?} for query {:?}",
        r.violations,
        r.query
    );
    let ordinals: Vec<String> = r
        .query_pairs()
        .into_iter()
        .filter(|(k, _)| k == "ordinals")
        .map(|(_, v)| v)
        .collect();
    assert_eq!(ordinals, ["3", "5"], "query {:?}", r.query);
    result.unwrap();
}

#[tokio::test]
async fn bodies_are_the_request_examples() {
    let mock = MockServer::start().await;
    let client = mock.client();
    for id in [
        "create_dataset",
        "bulk_edit_annotations",
        "update_consensus_config",
        "create_fleet_events_batch",
        "signup_user",
        "update_organization_member_role",
    ] {
        let example = examples::requests(id)[0].body.clone();
        let args = CallArgs {
            body: Some(example.clone()),
            ..args_for(id)
        };
        contract::call(&client, id, &args).await.unwrap().unwrap();
        let r = mock.received_for(id).pop().unwrap();
        let sent = r
            .json()
            .unwrap_or_else(|| panic!("{id}: the body is not JSON"));
        assert_eq!(examples::first_difference(&example, &sent), None, "{id}");
        assert_eq!(r.header("content-type"), Some("application/json"), "{id}");
    }
    let bulk = mock.received_for("bulk_edit_annotations").pop().unwrap();
    assert!(
        bulk.json().unwrap().is_array(),
        "bulk edit sends a top-level array"
    );
}

#[tokio::test]
async fn the_key_and_the_usual_headers() {
    let mock = MockServer::start().await;
    let client = mock.client();
    client.get_current_user().send().await.unwrap();
    let args = args_for("signup_user");
    contract::call(&client, "signup_user", &args)
        .await
        .unwrap()
        .unwrap();
    contract::call(
        &client,
        "resolve_dataset_reference",
        &args_for("resolve_dataset_reference"),
    )
    .await
    .unwrap()
    .unwrap();
    let got = mock.received();
    assert_eq!(got.len(), 3);
    assert_eq!(got[0].header("x-avala-api-key"), Some(MockServer::API_KEY));
    assert_eq!(
        got[1].header("x-avala-api-key"),
        None,
        "signup is anonymous"
    );
    assert_eq!(
        got[2].header("x-avala-api-key"),
        None,
        "the resolver is anonymous"
    );
    for r in &got {
        assert_eq!(r.header("accept"), Some("application/json"));
        assert!(r.header("user-agent").unwrap().starts_with("avala-rust/"));
        assert!(r.header("authorization").is_none());
    }
    // The rate-limit headers of the last answer are kept.
    let rl = client.last_rate_limit().unwrap();
    assert_eq!((rl.limit, rl.remaining), (Some(1000), Some(997)));
}

// ---------------------------------------------------------------------------
// Paging with `.stream()`.

/// `n` items made from the first result of the operation's example page,
/// each with its own `uid`.
fn items(operation_id: &str, n: usize) -> Vec<Value> {
    let page = examples::responses(operation_id)
        .iter()
        .find(|e| e.body["results"].as_array().is_some_and(|r| !r.is_empty()))
        .unwrap_or_else(|| panic!("{operation_id} has an example page with results"));
    let template = page.body["results"][0].clone();
    (0..n)
        .map(|i| {
            let mut item = template.clone();
            item["uid"] = json!(format!("{operation_id}-{i}"));
            item
        })
        .collect()
}

fn uids<T: serde::Serialize>(items: &[T]) -> Vec<String> {
    items
        .iter()
        .map(|i| {
            serde_json::to_value(i).unwrap()["uid"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

fn expected_uids(operation_id: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{operation_id}-{i}")).collect()
}

#[tokio::test]
async fn streams_walk_every_page_by_cursor() {
    let mock = MockServer::start().await;
    let client = mock.client();

    mock.paginate("list_datasets", items("list_datasets", 7), 3);
    let all: Vec<_> = client.list_datasets().stream().try_collect().await.unwrap();
    assert_eq!(uids(&all), expected_uids("list_datasets", 7));
    let sent = mock.received_for("list_datasets");
    assert_eq!(sent.len(), 3, "pages of 3, 3, 1");
    assert_eq!(sent[0].query_param("cursor"), None);
    assert!(sent.iter().all(|r| r.violations.is_empty()));
    // The cursor goes back verbatim, escapes and all.
    assert_eq!(sent[1].query_param("cursor").as_deref(), Some("o=3+/"));
    assert_eq!(sent[2].query_param("cursor").as_deref(), Some("o=6+/"));

    // `limit` is sent on every page and decides the page size.
    mock.paginate("list_webhooks", items("list_webhooks", 5), 100);
    let all: Vec<_> = client
        .list_webhooks()
        .limit(2)
        .stream()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(uids(&all), expected_uids("list_webhooks", 5));
    let sent = mock.received_for("list_webhooks");
    assert_eq!(sent.len(), 3);
    assert!(sent
        .iter()
        .all(|r| r.query_param("limit").as_deref() == Some("2")));

    // A nested path with a literal `list/` segment, and an empty list.
    mock.paginate("list_slice_items", items("list_slice_items", 4), 2);
    let all: Vec<_> = client
        .list_slice_items()
        .owner("acme")
        .slug("s1")
        .stream()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(uids(&all), expected_uids("list_slice_items", 4));
    assert_eq!(mock.hits("list_slice_items"), 2);
    mock.paginate("list_fleet_alerts", Vec::<Value>::new(), 2);
    let none: Vec<_> = client
        .list_fleet_alerts()
        .stream()
        .try_collect()
        .await
        .unwrap();
    assert!(none.is_empty());
    assert_eq!(mock.hits("list_fleet_alerts"), 1);

    // Filters travel on every page.
    mock.paginate("list_tasks", items("list_tasks", 3), 1);
    let all: Vec<_> = client
        .list_tasks()
        .project("p1")
        .stream()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(all.len(), 3);
    assert!(mock
        .received_for("list_tasks")
        .iter()
        .all(|r| r.query_param("project").as_deref() == Some("p1")));
}

#[tokio::test]
async fn organizations_stream_by_page_number() {
    let mock = MockServer::start().await;
    let client = mock.client();
    mock.paginate("list_organizations", items("list_organizations", 5), 2);
    let all: Vec<_> = client
        .list_organizations()
        .stream()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(uids(&all), expected_uids("list_organizations", 5));
    let sent = mock.received_for("list_organizations");
    let pages: Vec<_> = sent.iter().map(|r| r.query_param("page")).collect();
    assert_eq!(pages, [None, Some("2".into()), Some("3".into())]);
    assert!(sent.iter().all(|r| r.query_param("cursor").is_none()));
}

#[tokio::test]
async fn a_repeated_cursor_ends_the_stream_with_an_error() {
    let mock = MockServer::start().await;
    let client = mock.client();
    // A server that always links to the same next page.
    let mut page = examples::default_response("list_exports")
        .unwrap()
        .body
        .clone();
    page["next"] = json!(format!("{}/exports/?cursor=same", mock.base_url()));
    mock.respond("list_exports", page);
    let result: avala::Result<Vec<_>> = client.list_exports().stream().try_collect().await;
    assert!(matches!(result, Err(Error::Decode { .. })), "{result:?}");
    assert_eq!(mock.hits("list_exports"), 2);
}

// ---------------------------------------------------------------------------
// Error mapping and retries, end to end.

#[tokio::test]
async fn a_429_with_retry_after_is_retried_for_get() {
    let mock = MockServer::start().await;
    let client = mock.client();
    mock.fault("get_dataset", Fault::status(429).header("Retry-After", "0"))
        .times(1);
    let dataset = client.get_dataset().uid("d1").send().await.unwrap();
    assert_eq!(mock.hits("get_dataset"), 2);
    let statuses: Vec<_> = mock
        .received_for("get_dataset")
        .iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, [Some(429), Some(200)]);
    assert!(!dataset.uid.is_empty());

    // More 429s than retries: RateLimited with the server's Retry-After.
    mock.fault("get_dataset", Fault::status(429).header("Retry-After", "0"));
    let error: Error = client.get_dataset().uid("d1").send().await.unwrap_err();
    match error {
        Error::RateLimited { retry_after, error } => {
            assert_eq!(retry_after, Some(Duration::ZERO));
            assert_eq!(error.message, "Too Many Requests");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(mock.hits("get_dataset"), 2 + 3);
}

#[tokio::test]
async fn a_503_is_retried_twice_for_get_then_is_a_server_error() {
    let mock = MockServer::start().await;
    let client = mock.client();
    mock.fault("get_dataset", Fault::status(503)).times(3);
    let started = Instant::now();
    let error: Error = client.get_dataset().uid("d1").send().await.unwrap_err();
    assert!(
        matches!(&error, Error::Server(e) if e.status == 503),
        "{error:?}"
    );
    assert!(error.is_retryable());
    assert_eq!(mock.hits("get_dataset"), 3);
    // Two backoff waits, 100..200 ms and 200..400 ms.
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "{:?}",
        started.elapsed()
    );
    // The fault is used up: the next call succeeds at once.
    client.get_dataset().uid("d1").send().await.unwrap();
    assert_eq!(mock.hits("get_dataset"), 4);
}

#[tokio::test]
async fn a_post_is_never_retried() {
    let mock = MockServer::start().await;
    let client = mock.client();
    mock.fault(
        "create_agent",
        Fault::status(503).header("Retry-After", "0"),
    );
    let body = examples::requests("create_agent")[0].body.clone();
    let error = contract::call(
        &client,
        "create_agent",
        &CallArgs {
            body: Some(body),
            ..Default::default()
        },
    )
    .await
    .unwrap()
    .unwrap_err();
    assert!(
        matches!(&error, Error::Server(e) if e.status == 503),
        "{error:?}"
    );
    assert_eq!(mock.hits("create_agent"), 1);

    // PATCH neither; DELETE is idempotent and is retried.
    mock.fault(
        "update_agent",
        Fault::status(503).header("Retry-After", "0"),
    );
    let body = examples::requests("update_agent")[0].body.clone();
    contract::call(
        &client,
        "update_agent",
        &CallArgs {
            body: Some(body),
            ..args_for("update_agent")
        },
    )
    .await
    .unwrap()
    .unwrap_err();
    assert_eq!(mock.hits("update_agent"), 1);
    mock.fault(
        "delete_agent",
        Fault::status(503).header("Retry-After", "0"),
    )
    .times(1);
    client.delete_agent().uid("a1").send().await.unwrap();
    assert_eq!(mock.hits("delete_agent"), 2);
}

#[tokio::test]
async fn a_401_is_an_authentication_error_without_the_key() {
    let mock = MockServer::start().await;
    // A key only the key-specific scrub can catch (the mock's own key is
    // 40-hex, which a generic pattern would catch by luck).
    let client = mock.client_builder().api_key(common::KEY).build().unwrap();
    let echo = format!("Invalid API key {}", common::KEY);
    mock.fault(
        "get_current_user",
        Fault::status(401).json(json!({ "detail": echo })),
    );
    let error: Error = client.get_current_user().send().await.unwrap_err();
    let Error::Authentication(api) = &error else {
        panic!("{error:?}")
    };
    assert_eq!(api.status, 401);
    assert_eq!(api.message, "Invalid API key [redacted]");
    common::assert_error_without_key(&error, common::KEY);
    assert!(api
        .request_id
        .as_deref()
        .is_some_and(|id| id.starts_with("mock-")));
    assert_eq!(mock.hits("get_current_user"), 1, "a 401 is not retried");
}

#[tokio::test]
async fn statuses_map_to_their_error_variants() {
    let mock = MockServer::start().await;
    let client = mock.client_builder().max_retries(0).build().unwrap();
    let cases: &[(u16, Value, &str)] = &[
        (400, json!({"detail": "bad"}), "Validation"),
        (422, json!([{"loc": "name"}]), "Validation"),
        (401, json!({"detail": "no"}), "Authentication"),
        (403, json!({"detail": "no"}), "Forbidden"),
        (404, json!({"detail": "Not found."}), "NotFound"),
        (413, json!({"limit": 10, "used": 9}), "QuotaExceeded"),
        (413, json!({"detail": "too big"}), "Api"),
        (409, json!({"detail": "Conflict."}), "Api"),
        (429, json!({"detail": "slow"}), "RateLimited"),
        (500, json!({"detail": "boom"}), "Server"),
        (503, json!({"detail": "later"}), "Server"),
    ];
    for (status, body, variant) in cases {
        mock.fault(
            "get_manual_upload_quota",
            Fault::status(*status).json(body.clone()),
        )
        .times(1);
        let error: Error = client.get_manual_upload_quota().send().await.unwrap_err();
        let name = format!("{error:?}");
        assert!(name.starts_with(variant), "HTTP {status}: {name}");
        assert_eq!(error.status(), Some(*status));
        match &error {
            Error::Validation { details, .. } if *status == 422 => assert_eq!(details.len(), 1),
            Error::QuotaExceeded { limit, used, .. } => {
                assert_eq!((*limit, *used), (Some(10), Some(9)))
            }
            _ => {}
        }
    }
    assert_eq!(mock.hits("get_manual_upload_quota"), cases.len());
}

#[tokio::test]
async fn a_delay_beyond_the_timeout_is_a_transport_error() {
    let mock = MockServer::start().await;
    let client = mock
        .client_builder()
        .timeout(Duration::from_millis(150))
        .max_retries(1)
        .build()
        .unwrap();
    mock.fault("get_dataset", Fault::delay(Duration::from_secs(5)));
    let started = Instant::now();
    let error: Error = client.get_dataset().uid("d1").send().await.unwrap_err();
    let Error::Transport { source, message } = &error else {
        panic!("{error:?}")
    };
    assert!(source.is_timeout(), "{message}");
    assert!(error.is_retryable());
    // A timed-out GET is retried once (max_retries 1), and gives up quickly.
    assert_eq!(mock.hits("get_dataset"), 2);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

/// A 200 whose body stops short of its `Content-Length` is a transport
/// error, not a decode error: the body read fails (hyper sees the connection
/// end before the announced length) before any JSON is parsed. The body is
/// read inside the retry loop, so a GET is tried again.
#[tokio::test]
async fn a_truncated_body_is_retried_for_get_then_a_transport_error() {
    let mock = MockServer::start().await;
    let client = mock.client();
    mock.fault("get_dataset", Fault::truncated()).times(1);
    client.get_dataset().uid("d1").send().await.unwrap();
    assert_eq!(mock.hits("get_dataset"), 2, "the broken body was retried");

    let mock = MockServer::start().await;
    let client = mock.client_builder().max_retries(1).build().unwrap();
    mock.fault("get_dataset", Fault::truncated()).always();
    let error: Error = client.get_dataset().uid("d1").send().await.unwrap_err();
    let Error::Transport { message, .. } = &error else {
        panic!("{error:?}")
    };
    assert!(message.starts_with("body error"), "{message}");
    assert!(error.is_retryable(), "a broken body may work next time");
    assert_eq!(mock.hits("get_dataset"), 2, "one try and one retry");
}

/// A connection closed after the request was written (reqwest `Request`
/// kind, hyper `IncompleteMessage`) is retried for a GET.
#[tokio::test]
async fn a_dropped_connection_is_retried_for_get() {
    let mock = MockServer::start().await;
    let client = mock.client();
    mock.fault("get_dataset", Fault::drop_connection()).times(1);
    let result = client.get_dataset().uid("d1").send().await;
    let statuses: Vec<_> = mock
        .received_for("get_dataset")
        .iter()
        .map(|r| r.status)
        .collect();
    assert!(
        result.is_ok(),
        "{:?}; the mock saw {statuses:?}",
        result.err()
    );
    assert_eq!(statuses, [None, Some(200)]);
}

#[tokio::test]
async fn a_dropped_connection_is_a_transport_error_and_a_post_is_not_retried() {
    let mock = MockServer::start().await;
    let client = mock.client();
    // Never for POST.
    mock.fault("create_agent", Fault::drop_connection())
        .times(1);
    let body = examples::requests("create_agent")[0].body.clone();
    let error = contract::call(
        &client,
        "create_agent",
        &CallArgs {
            body: Some(body),
            ..Default::default()
        },
    )
    .await
    .unwrap()
    .unwrap_err();
    assert!(matches!(error, Error::Transport { .. }), "{error:?}");
    assert_eq!(mock.hits("create_agent"), 1);
}

#[tokio::test]
async fn a_missing_path_parameter_is_refused_before_sending() {
    let mock = MockServer::start().await;
    let error = contract::call(&mock.client(), "get_dataset", &CallArgs::default())
        .await
        .expect("a known operation")
        .unwrap_err();
    assert!(
        matches!(&error, avala::Error::InvalidArgument { message } if message.contains("`uid`")),
        "{error:?}"
    );
    assert_eq!(mock.hits("get_dataset"), 0);
    // `stream` checks the same way, and knows which operations page.
    let client = mock.client();
    assert!(matches!(
        avala::dynamic::stream(&client, "list_dataset_items", &CallArgs::default()),
        Some(Err(avala::Error::InvalidArgument { .. }))
    ));
    assert!(avala::dynamic::stream(&client, "get_dataset", &CallArgs::default()).is_none());
}

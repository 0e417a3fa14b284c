//! The document against what the server does, checked with an independent
//! validator: the document is read with `openapiv3` (not our mock's loader),
//! its schemas are turned into draft-4 JSON Schema here (OpenAPI 3.0's
//! dialect: `nullable` becomes a `null` alternative) and compiled by
//! `jsonschema`, with formats asserted and enums closed (a Prism-style mock
//! refuses values the document does not list, unlike our open Rust enums).
//!
//! For every operation:
//! - the request bodies the official SDKs put on the wire (the fixtures of
//!   `tests/fixtures/`, copied from the team's inventory) are accepted, and both body styles of
//!   the body-less actions (no body for py, `{}` for ts);
//! - every 2xx response fixture validates;
//! - an operation without a response body declares exactly `204`;
//! - a `oneOf` answer samples, as its first branch, the default request's
//!   branch (the manual-upload target: the v1 POST form);
//! - every enum cites its sources.
//!
//! The fixtures and `docs/api/endpoints.tsv` are part of the repository: a
//! missing file fails the test rather than skipping it.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::PathBuf,
};

use openapiv3::{OpenAPI, Operation, ReferenceOr, StatusCode};
use serde_json::{json, Map, Value};

fn document() -> OpenAPI {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/avala.json");
    let text = std::fs::read_to_string(path).expect("openapi/avala.json");
    serde_json::from_str(&text).expect("openapi/avala.json is OpenAPI 3.0")
}

/// `(operationId, method, path, operation)` of every operation.
fn operations(doc: &OpenAPI) -> Vec<(String, &'static str, String, Operation)> {
    let mut out = Vec::new();
    for (path, item) in &doc.paths.paths {
        let ReferenceOr::Item(item) = item else {
            panic!("{path}: a $ref path item")
        };
        for (method, op) in item.iter() {
            let id = op.operation_id.clone().expect("every operation has an id");
            let method = match method {
                "get" => "GET",
                "post" => "POST",
                "put" => "PUT",
                "patch" => "PATCH",
                "delete" => "DELETE",
                other => panic!("{id}: unexpected method {other}"),
            };
            out.push((id, method, path.clone(), op.clone()));
        }
    }
    out
}

/// OpenAPI 3.0 schema (as JSON) -> draft-4 JSON Schema, `$ref`s into
/// `#/definitions/`.
fn convert(v: &Value) -> Value {
    match v {
        Value::Array(a) => Value::Array(a.iter().map(convert).collect()),
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, x) in m {
                match k.as_str() {
                    "$ref" => {
                        let r = x.as_str().unwrap_or_default();
                        let r = r.replace("#/components/schemas/", "#/definitions/");
                        out.insert(k.clone(), Value::String(r));
                    }
                    "nullable" | "discriminator" | "readOnly" | "writeOnly" | "example"
                    | "deprecated" | "externalDocs" | "xml" => {}
                    _ if k.starts_with("x-") => {}
                    "properties" => {
                        let props = x
                            .as_object()
                            .map(|p| p.iter().map(|(n, s)| (n.clone(), convert(s))).collect())
                            .unwrap_or_default();
                        out.insert(k.clone(), Value::Object(props));
                    }
                    _ => {
                        out.insert(k.clone(), convert(x));
                    }
                }
            }
            if m.get("nullable") == Some(&Value::Bool(true)) {
                json!({"anyOf": [Value::Object(out), {"type": "null"}]})
            } else {
                Value::Object(out)
            }
        }
        other => other.clone(),
    }
}

struct Validators {
    definitions: Value,
}

impl Validators {
    fn new(doc: &OpenAPI) -> Self {
        let schemas = serde_json::to_value(&doc.components.as_ref().unwrap().schemas).unwrap();
        Self {
            definitions: convert(&schemas),
        }
    }

    fn errors(&self, schema: &ReferenceOr<openapiv3::Schema>, body: &Value) -> Vec<String> {
        let schema = convert(&serde_json::to_value(schema).unwrap());
        let root = json!({"definitions": self.definitions, "allOf": [schema]});
        let validator = jsonschema::draft4::options()
            .should_validate_formats(true)
            .build(&root)
            .unwrap_or_else(|e| panic!("the schema does not compile: {e}"));
        validator
            .iter_errors(body)
            .map(|e| format!("{}: {e}", e.instance_path()))
            .collect()
    }
}

fn json_schema(media: Option<&openapiv3::MediaType>) -> Option<&ReferenceOr<openapiv3::Schema>> {
    media?.schema.as_ref()
}

fn request(op: &Operation) -> Option<(bool, &ReferenceOr<openapiv3::Schema>)> {
    let ReferenceOr::Item(body) = op.request_body.as_ref()? else {
        panic!("a $ref request body")
    };
    Some((
        body.required,
        json_schema(body.content.get("application/json"))?,
    ))
}

/// The success statuses and the JSON schema of the success body.
fn success(op: &Operation) -> (Vec<String>, Option<&ReferenceOr<openapiv3::Schema>>) {
    let mut codes = Vec::new();
    let mut schema = None;
    for (code, response) in &op.responses.responses {
        let code = match code {
            StatusCode::Code(c) if (200..300).contains(c) => c.to_string(),
            StatusCode::Range(2) => "2XX".to_owned(),
            _ => continue,
        };
        let ReferenceOr::Item(response) = response else {
            panic!("a $ref response")
        };
        codes.push(code);
        schema = schema.or_else(|| json_schema(response.content.get("application/json")));
    }
    (codes, schema)
}

/// protocol.md §3: POST actions that py sends without a body; ts sends `{}`
/// for the first four.
const BOTH_STYLES: [&str; 4] = [
    "acknowledge_fleet_alert",
    "compute_consensus",
    "resolve_fleet_alert",
    "test_inference_provider",
];
const PY_NO_BODY: [&str; 8] = [
    "test_agent",
    "test_webhook",
    "test_storage_config",
    "evaluate_quality_targets",
    "test_fleet_alert_channel",
    "leave_organization",
    "resend_organization_invitation",
    "cancel_organization_invitation",
];

#[test]
fn void_operations_declare_204_only() {
    let doc = document();
    let mut void = Vec::new();
    for (id, _, _, op) in operations(&doc) {
        let (codes, schema) = success(&op);
        assert!(!codes.is_empty(), "{id}: no success response");
        if schema.is_none() {
            assert_eq!(codes, ["204"], "{id}");
            void.push(id);
        } else {
            assert!(
                !codes.contains(&"204".to_owned()),
                "{id}: 204 beside a body"
            );
        }
    }
    assert_eq!(void.len(), 22, "{void:?}");
}

#[test]
fn body_less_actions_take_no_body_and_an_empty_object() {
    let doc = document();
    let v = Validators::new(&doc);
    let ops: BTreeMap<String, Operation> = operations(&doc)
        .into_iter()
        .map(|(id, _, _, op)| (id, op))
        .collect();
    for id in BOTH_STYLES.iter().chain(&PY_NO_BODY) {
        let op = &ops[*id];
        match request(op) {
            // No request body declared: a body-less POST is the only style.
            None => assert!(!BOTH_STYLES.contains(id), "{id}: ts sends {{}}"),
            Some((required, schema)) => {
                assert!(!required, "{id}: py sends no body, so it must be optional");
                let errors = v.errors(schema, &json!({}));
                assert!(errors.is_empty(), "{id}: {{}} refused: {errors:?}");
                let errors = v.errors(schema, &json!([]));
                assert!(!errors.is_empty(), "{id}: a non-object body is accepted");
            }
        }
    }
}

#[test]
fn every_enum_cites_its_sources() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/avala.json"))
        .unwrap();
    let raw: Value = serde_json::from_str(&text).unwrap();
    let mut count = 0;
    for (name, s) in raw["components"]["schemas"].as_object().unwrap() {
        if s.get("enum").is_none() || s["type"] != "string" {
            continue;
        }
        count += 1;
        let description = s["description"].as_str().unwrap_or_default();
        assert!(description.contains("Sources: "), "{name}: {description:?}");
        let sources = s["x-sources"].as_array().map(Vec::len).unwrap_or(0);
        assert!(sources > 0, "{name}: no x-sources");
    }
    assert!(count >= 28, "{count} enums");
}

/// The `oneOf` branches of `ManualUploadTarget`, in document order.
fn manual_upload_branches(doc: &OpenAPI) -> &[ReferenceOr<openapiv3::Schema>] {
    let target = &doc.components.as_ref().unwrap().schemas["ManualUploadTarget"];
    let ReferenceOr::Item(schema) = target else {
        panic!("ManualUploadTarget is a reference")
    };
    let openapiv3::SchemaKind::OneOf { one_of } = &schema.schema_kind else {
        panic!("ManualUploadTarget is not a oneOf")
    };
    one_of
}

#[test]
fn the_manual_upload_target_samples_the_v1_post_form_first() {
    let doc = document();
    let v = Validators::new(&doc);
    let one_of = manual_upload_branches(&doc);
    let names: Vec<String> = one_of
        .iter()
        .map(|b| match b {
            ReferenceOr::Reference { reference } => {
                reference.rsplit('/').next().unwrap().to_owned()
            }
            ReferenceOr::Item(_) => "inline".to_owned(),
        })
        .collect();
    assert_eq!(names[0], "ManualUploadPostTarget", "{names:?}");
    // The v1 answer (a request without upload_protocol_version) fits the
    // first branch and no other.
    let v1 = json!({"url": "https://s3.example.com/upload", "fields": {"key": "a/b.jpg"}});
    let fits: Vec<bool> = one_of.iter().map(|b| v.errors(b, &v1).is_empty()).collect();
    assert_eq!(fits, [true, false, false, false], "{names:?}");
}

#[test]
fn a_completed_manual_upload_target_fits_its_own_branch_only() {
    let doc = document();
    let v = Validators::new(&doc);
    let one_of = manual_upload_branches(&doc);
    let uid = "8c0e2a4b-6d1f-4a3c-b5e7-f9b1d3a5c7e9";
    let fits = |answer: &Value| -> Vec<bool> {
        one_of
            .iter()
            .map(|b| v.errors(b, answer).is_empty())
            .collect()
    };
    // What the server answers for a transfer it already completed: no url,
    // headers or part geometry.
    for method in ["PUT", "MULTIPART"] {
        let done = json!({"method": method, "upload_uid": uid, "complete": true});
        assert_eq!(fits(&done), [false, false, false, true], "{method}");
    }
    // Still exclusive when a server adds the url anyway.
    let with_url = json!({"method": "PUT", "upload_uid": uid, "complete": true, "url": "https://s3.amazonaws.com/x"});
    assert_eq!(fits(&with_url), [false, false, false, true]);
    // A transfer to make is not a completed one.
    let put = json!({"method": "PUT", "upload_uid": uid, "complete": false, "url": "https://s3.amazonaws.com/x"});
    assert_eq!(fits(&put), [false, true, false, false]);
    // A bare `complete` without a managed method is no target at all.
    let bare = json!({"upload_uid": uid, "complete": true});
    assert_eq!(fits(&bare), [false, false, false, false]);
}

/// The repository's copy of the inventory (`docs/api/`) and of the
/// official SDKs' fixtures (`tests/fixtures/`); a missing file fails.
fn repo(relative: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(relative);
    assert!(path.exists(), "{} is missing", path.display());
    path
}

/// `/a/{x}/b/` -> `/a/{}/b/`.
fn shape(path: &str) -> String {
    path.split('/')
        .map(|s| if s.starts_with('{') { "{}" } else { s })
        .collect::<Vec<_>>()
        .join("/")
}

/// Fixture base name (`datasets.create`) -> operationId, through
/// `endpoints.tsv` (`resource` + the last part of `sdk_method`).
fn fixture_operations(doc: &OpenAPI) -> BTreeMap<String, String> {
    let by_route: BTreeMap<(String, String), String> = operations(doc)
        .into_iter()
        .map(|(id, method, path, _)| ((method.to_owned(), shape(&path)), id))
        .collect();
    let tsv = std::fs::read_to_string(repo("docs/api/endpoints.tsv")).unwrap();
    let mut lines = tsv.lines();
    let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
    let col = |n: &str| header.iter().position(|h| *h == n).unwrap();
    let (resource, method, sdk, path) = (
        col("resource"),
        col("http_method"),
        col("sdk_method"),
        col("path"),
    );
    let mut out = BTreeMap::new();
    for line in lines {
        let cells: Vec<&str> = line.split('\t').collect();
        if cells.len() <= path || !cells[path].starts_with('/') {
            continue;
        }
        let key = (cells[method].to_ascii_uppercase(), shape(cells[path]));
        if let Some(id) = by_route.get(&key) {
            let name = format!(
                "{}.{}",
                cells[resource],
                cells[sdk].rsplit('.').next().unwrap_or_default()
            );
            out.entry(name).or_insert_with(|| id.clone());
        }
    }
    out
}

/// File name -> the HTTP statuses of its tests (fixtures/README.md).
fn fixture_statuses() -> BTreeMap<String, Vec<u16>> {
    let readme = std::fs::read_to_string(repo("tests/fixtures/README.md")).unwrap();
    let mut out = BTreeMap::new();
    for line in readme.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() < 3 || !cells[1].starts_with('`') {
            continue;
        }
        let name = cells[1].trim_matches('`').to_owned();
        let statuses = cells[2]
            .split(',')
            .filter_map(|s| s.trim().parse().ok())
            .collect();
        out.insert(name, statuses);
    }
    out
}

#[test]
fn every_fixture_validates() {
    let dir = repo("tests/fixtures");
    let doc = document();
    let v = Validators::new(&doc);
    let ops: BTreeMap<String, Operation> = operations(&doc)
        .into_iter()
        .map(|(id, _, _, op)| (id, op))
        .collect();
    let names = fixture_operations(&doc);
    let statuses = fixture_statuses();
    let (mut requests, mut responses, mut errors_skipped) = (0, 0, 0);
    let mut covered = BTreeSet::new();
    let mut failures = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|f| f.ends_with(".json") && !f.starts_with("_transport."))
        .collect();
    files.sort();
    for file in &files {
        let stem = file.trim_end_matches(".json");
        let (rest, kind) = stem.rsplit_once('.').unwrap();
        // `<resource>.<operation>[.<n>]`
        let base = match rest.rsplit_once('.') {
            Some((b, n)) if n.parse::<u32>().is_ok() => b,
            _ => rest,
        };
        let id = names
            .get(base)
            .unwrap_or_else(|| panic!("{file}: no operation for `{base}` in endpoints.tsv"));
        let op = &ops[id];
        let body: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join(file)).unwrap()).unwrap();
        let schema = match kind {
            "request" => {
                requests += 1;
                request(op).map(|(_, s)| s)
            }
            "response" => {
                let st = statuses
                    .get(file.as_str())
                    .unwrap_or_else(|| panic!("{file}: not in fixtures/README.md"));
                if !st.iter().any(|s| (200..300).contains(s)) {
                    // An error body: the document declares no error schemas.
                    errors_skipped += 1;
                    continue;
                }
                responses += 1;
                success(op).1
            }
            other => panic!("{file}: unknown kind {other}"),
        };
        let Some(schema) = schema else {
            failures.push(format!("{file}: {id} declares no JSON {kind} body"));
            continue;
        };
        covered.insert(id.clone());
        let errors = v.errors(schema, &body);
        if !errors.is_empty() {
            failures.push(format!("{file} ({id}): {errors:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // 263 fixtures besides the transport ones: no silent skipping.
    assert_eq!(requests + responses + errors_skipped, files.len());
    assert!(
        requests >= 60 && responses >= 170,
        "{requests} requests, {responses} responses"
    );
    assert!(errors_skipped <= 20, "{errors_skipped} error bodies");
    eprintln!(
        "{requests} request and {responses} response fixtures of {} operations validate",
        covered.len()
    );
}

#[test]
fn the_validator_refuses_what_the_document_does_not_say() {
    // Guards the test itself: a wrong enum value, a negative size and a
    // missing required field are refused.
    let doc = document();
    let v = Validators::new(&doc);
    let schemas = &doc.components.as_ref().unwrap().schemas;
    let export = &schemas["Export"];
    assert!(v
        .errors(export, &json!({"uid": "e1", "status": "exported"}))
        .is_empty());
    assert!(!v
        .errors(export, &json!({"uid": "e1", "status": "nonsense"}))
        .is_empty());
    let part = &schemas["ManualUploadedPart"];
    assert!(v
        .errors(part, &json!({"part_number": 1, "size": 5}))
        .is_empty());
    assert!(!v
        .errors(part, &json!({"part_number": 1, "size": -5}))
        .is_empty());
    assert!(!v.errors(part, &json!({"size": 5})).is_empty());
}

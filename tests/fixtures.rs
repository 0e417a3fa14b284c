//! The example bodies of `openapi/examples.json` against the document and
//! the generated types.
//!
//! Every request and response example must validate against its operation's
//! schema, decode into the generated Rust type, encode again, and the
//! re-encoded value must validate too. It must also carry the same data:
//! the original, minus the fields the document does not declare (the
//! generated structs drop them; see `schema::Unknowns`) and with the declared
//! defaults filled in, has no `examples::first_difference` with the
//! re-encoded value (`null`/empty members count as absent, numbers and
//! timestamps compare by value; a required member cannot vanish unnoticed,
//! since the re-encoded value is validated).

#![cfg(feature = "mock")]

use avala::mock::{contract, examples, schema};
use serde_json::Value;

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Request,
    Response,
}

fn roundtrip(kind: Kind, op: &str, body: Value) -> Option<Result<Value, serde_json::Error>> {
    match kind {
        Kind::Request => contract::roundtrip_request(op, body),
        Kind::Response => contract::roundtrip_response(op, body),
    }
}

fn validate(kind: Kind, op: &str, body: &Value) -> Result<(), Vec<String>> {
    match kind {
        Kind::Request => schema::validate_request(op, body),
        Kind::Response => schema::validate_response(op, body),
    }
}

fn unknowns(kind: Kind, op: &str, body: &Value) -> Option<schema::Unknowns> {
    match kind {
        Kind::Request => schema::request_unknowns(op, body),
        Kind::Response => schema::response_unknowns(op, body),
    }
}

/// Every (kind, operation, example) in the file.
fn all() -> Vec<(Kind, &'static str, &'static examples::Example)> {
    let mut out = Vec::new();
    for (op, ex) in examples::examples() {
        out.extend(ex.requests.iter().map(|e| (Kind::Request, op.as_str(), e)));
        out.extend(
            ex.responses
                .iter()
                .map(|e| (Kind::Response, op.as_str(), e)),
        );
    }
    out
}

fn label(kind: Kind, op: &str, e: &examples::Example) -> String {
    let kind = if kind == Kind::Request {
        "request"
    } else {
        "response"
    };
    format!("{op} {kind} `{}` ({})", e.name, e.source)
}

/// Removes the members at `pointers` (JSON pointers) from `value`.
fn remove_all(value: &mut Value, pointers: &[String]) {
    // Deepest first, so that an earlier removal cannot shift a later one.
    let mut sorted: Vec<&String> = pointers.iter().collect();
    sorted.sort_by_key(|p| std::cmp::Reverse(p.matches('/').count()));
    for p in sorted {
        let (parent, key) = p.rsplit_once('/').expect("a member pointer");
        let key = key.replace("~1", "/").replace("~0", "~");
        if let Some(Value::Object(m)) = value.pointer_mut(parent) {
            m.remove(&key);
        }
    }
}

#[test]
fn every_example_validates_and_survives_the_typed_round_trip() {
    let mut failures = Vec::new();
    let mut checked = 0;
    for (kind, op, e) in all() {
        let what = label(kind, op, e);
        if let Err(errors) = validate(kind, op, &e.body) {
            failures.push(format!("{what}: invalid against the document: {errors:?}"));
        }
        let encoded = match roundtrip(kind, op, e.body.clone()) {
            None => {
                failures.push(format!(
                    "{what}: the operation has no typed body of this kind"
                ));
                continue;
            }
            Some(Err(err)) => {
                failures.push(format!(
                    "{what}: does not decode into the generated type: {err}"
                ));
                continue;
            }
            Some(Ok(v)) => v,
        };
        if let Err(errors) = validate(kind, op, &encoded) {
            failures.push(format!("{what}: re-encoded body is invalid: {errors:?}"));
        }
        let unknown = unknowns(kind, op, &e.body).expect("the operation has a body");
        let mut expected = match kind {
            Kind::Request => schema::request_with_defaults(op, &e.body),
            Kind::Response => schema::response_with_defaults(op, &e.body),
        };
        remove_all(&mut expected, &unknown.fields);
        if let Some(diff) = examples::first_difference(&expected, &encoded) {
            failures.push(format!("{what}: changed by the round trip: {diff}"));
        }
        checked += 1;
    }
    assert!(
        failures.is_empty(),
        "{} of the examples fail:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(checked > 100, "only {checked} examples were checked");
}

#[test]
fn forward_compat_examples_keep_unknown_enum_values() {
    let mut failures = Vec::new();
    let (mut count, mut top_level_fields, mut nested_fields) = (0, 0, 0);
    for (kind, op, e) in all().into_iter().filter(|(_, _, e)| e.is_forward_compat()) {
        count += 1;
        let what = label(kind, op, e);
        let unknown = unknowns(kind, op, &e.body).expect("the operation has a body");
        if unknown.enum_values.is_empty() {
            failures.push(format!("{what}: has no enum value outside the document"));
        }
        top_level_fields += unknown
            .fields
            .iter()
            .filter(|f| f.matches('/').count() == 1)
            .count();
        nested_fields += unknown
            .fields
            .iter()
            .filter(|f| f.matches('/').count() > 1)
            .count();
        let encoded = match roundtrip(kind, op, e.body.clone()) {
            Some(Ok(v)) => v,
            other => {
                failures.push(format!("{what}: does not round-trip: {other:?}"));
                continue;
            }
        };
        for (at, value) in &unknown.enum_values {
            if encoded.pointer(at) != Some(&Value::String(value.clone())) {
                failures.push(format!(
                    "{what}: {at} was {value:?}, re-encoded as {:?}",
                    encoded.pointer(at)
                ));
            }
        }
        for at in &unknown.fields {
            if encoded.pointer(at).is_some() {
                failures.push(format!("{what}: undeclared {at} survived the typed decode"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(count >= 10, "only {count} forward-compat examples");
    assert!(
        top_level_fields > 0 && nested_fields > 0,
        "unknown fields at top level and nested"
    );
}

#[test]
fn every_operation_has_the_examples_it_needs() {
    let all = examples::examples();
    let mut failures = Vec::new();
    for op in schema::operations() {
        let id = op.id.as_str();
        if op.has_response_body && examples::default_response(id).is_none() {
            failures.push(format!(
                "{id}: answers with a JSON body but has no response example"
            ));
        }
        if !op.has_response_body && !examples::responses(id).is_empty() {
            failures.push(format!(
                "{id}: answers without a body but has response examples"
            ));
        }
        if op.has_request_body && examples::requests(id).is_empty() {
            failures.push(format!(
                "{id}: takes a JSON body but has no request example"
            ));
        }
        if !op.has_request_body && !examples::requests(id).is_empty() {
            failures.push(format!("{id}: takes no body but has request examples"));
        }
    }
    for (id, ex) in all {
        if schema::operation(id).is_none() {
            failures.push(format!("{id}: not an operation of the document"));
        }
        for (kind, list) in [
            ("requests", &ex.requests),
            ("responses", &ex.responses),
            ("errors", &ex.errors),
        ] {
            let mut names: Vec<&str> = list.iter().map(|e| e.name.as_str()).collect();
            names.sort_unstable();
            names.dedup();
            if names.len() != list.len() {
                failures.push(format!("{id}: duplicate names among its {kind}"));
            }
            for e in list {
                let ok = match (kind, e.status) {
                    ("requests", None) => true,
                    ("responses", Some(s)) => s == 200 || s == 201,
                    ("errors", Some(s)) => (400..600).contains(&s),
                    _ => false,
                };
                if !ok {
                    failures.push(format!("{id} {kind} `{}`: status {:?}", e.name, e.status));
                }
                if e.source.trim().is_empty() || e.name.trim().is_empty() {
                    failures.push(format!("{id} {kind}: an example without name or source"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(
        schema::operations().len(),
        149,
        "operations in the document"
    );
}

/// The file stays canonical: sorted keys, two-space indent, final newline.
#[test]
fn the_examples_file_is_canonical() {
    fn sorted(v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                Value::Object(
                    keys.into_iter()
                        .map(|k| (k.clone(), sorted(&m[k])))
                        .collect(),
                )
            }
            Value::Array(a) => Value::Array(a.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/examples.json");
    let text = std::fs::read_to_string(path).expect("openapi/examples.json");
    let value: Value = serde_json::from_str(&text).expect("valid JSON");
    let canonical = serde_json::to_string_pretty(&sorted(&value)).expect("serialises") + "\n";
    assert!(
        text == canonical,
        "openapi/examples.json is not canonical (sorted keys, 2-space indent, final newline)"
    );
}

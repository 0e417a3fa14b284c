//! The documentation a user reads (rustdoc, `avala --help`) is the text of
//! `openapi/avala.json`. These checks fail when an operation's summary is an
//! id (`datasets.list`), its description a provenance note (`py,ts; …`), or
//! a parameter or a model field has no description. The rules are the lint's
//! (`xtask::docs`), so `cargo xtask check` and `cargo test` agree.

use serde_json::{json, Value};
use xtask::docs;

fn document() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/avala.json");
    let text = std::fs::read_to_string(path).expect("openapi/avala.json");
    serde_json::from_str(&text).expect("openapi/avala.json is JSON")
}

/// `(operation id, operation)` of every operation.
fn operations(doc: &Value) -> Vec<(String, &Value)> {
    let mut out = Vec::new();
    for item in doc["paths"].as_object().expect("paths").values() {
        for op in item.as_object().expect("a path item").values() {
            if let Some(id) = op.get("operationId").and_then(Value::as_str) {
                out.push((id.to_owned(), op));
            }
        }
    }
    out
}

fn shown(findings: &[xtask::lint::Finding]) -> String {
    let lines: Vec<String> = findings.iter().map(ToString::to_string).collect();
    format!("{} findings:\n{}", lines.len(), lines.join("\n"))
}

#[test]
fn every_operation_and_parameter_is_documented() {
    let doc = document();
    let findings = docs::findings(&doc, false);
    assert!(findings.is_empty(), "{}", shown(&findings));
    let ops = operations(&doc);
    assert_eq!(ops.len(), 149);
    for (id, op) in &ops {
        // Provenance is kept, machine-readable, next to the prose.
        let sources = op["x-sources"].as_array().map_or(0, Vec::len);
        assert!(sources > 0, "{id}: no x-sources");
        for p in op["parameters"].as_array().into_iter().flatten() {
            assert!(p["description"].is_string(), "{id}: {p}");
        }
    }
}

#[test]
fn every_model_field_is_documented() {
    let findings: Vec<_> = docs::findings(&document(), true)
        .into_iter()
        .filter(|f| f.rule == "field-description")
        .collect();
    assert!(findings.is_empty(), "{}", shown(&findings));
}

/// The rules refuse what the document used to say, so the two checks above
/// could fail.
#[test]
fn the_old_texts_are_refused() {
    let mut doc = document();
    let op = doc
        .pointer_mut("/paths/~1datasets~1/get")
        .expect("list_datasets");
    op["summary"] = json!("datasets.list");
    op["description"] = json!("py,ts; visibility filter values private|unlisted|public");
    op["parameters"][0]
        .as_object_mut()
        .expect("a parameter")
        .remove("description");
    let schema = doc
        .pointer_mut("/components/schemas/Dataset/properties/name")
        .expect("Dataset.name");
    schema
        .as_object_mut()
        .expect("a schema")
        .remove("description");
    let rules: Vec<&str> = docs::findings(&doc, true)
        .iter()
        .filter(|f| f.subject.contains("list_datasets") || f.subject == "schema `Dataset`")
        .map(|f| f.rule)
        .collect();
    for rule in [
        "summary-id",
        "description-provenance",
        "parameter-description",
        "field-description",
    ] {
        assert!(rules.contains(&rule), "{rule} not in {rules:?}");
    }
}

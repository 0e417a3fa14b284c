//! The `schemars` feature: the JSON Schemas derived from the generated types
//! say what the document says (properties, required fields, types), and an
//! open enum accepts any string.
#![cfg(feature = "schemars")]

use std::collections::BTreeSet;

use avala::types;
use schemars::schema_for;
use serde_json::Value;

fn document() -> Value {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/avala.json"))
        .expect("openapi/avala.json");
    serde_json::from_str(&text).unwrap()
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object()
        .into_iter()
        .flatten()
        .map(|(k, _)| k.clone())
        .collect()
}

fn strings(v: &Value) -> BTreeSet<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(str::to_owned))
        .collect()
}

/// The derived schema of a type next to the document's component of the same name.
macro_rules! compare {
    ($doc:expr, $($name:ident),+) => {$(
        let derived = serde_json::to_value(schema_for!(types::$name)).unwrap();
        let written = &$doc["components"]["schemas"][stringify!($name)];
        assert_eq!(
            keys(&derived["properties"]),
            keys(&written["properties"]),
            "{}: properties", stringify!($name)
        );
        assert_eq!(
            strings(&derived["required"]),
            strings(&written["required"]),
            "{}: required", stringify!($name)
        );
    )+};
}

#[test]
fn derived_schemas_have_the_documents_properties_and_required_fields() {
    let doc = document();
    compare!(
        doc,
        Vec3,
        Quat,
        Dataset,
        DatasetSequence,
        Export,
        Webhook,
        Device,
        ManagedPartGrant
    );
}

#[test]
fn a_field_keeps_its_type() {
    let derived = serde_json::to_value(schema_for!(types::Vec3)).unwrap();
    for axis in ["x", "y", "z"] {
        assert_eq!(derived["properties"][axis]["type"], "number", "{axis}");
    }
    let webhook = serde_json::to_value(schema_for!(types::Webhook)).unwrap();
    assert_eq!(webhook["properties"]["is_active"]["type"], "boolean");
    assert_eq!(webhook["properties"]["events"]["type"], "array");
}

#[test]
fn an_open_enum_is_any_string_with_the_known_values_as_examples() {
    let doc = document();
    let derived = serde_json::to_value(schema_for!(types::DatasetStatus)).unwrap();
    assert_eq!(derived["type"], "string");
    assert!(
        derived.get("enum").is_none(),
        "a value added later must validate: {derived}"
    );
    assert_eq!(
        strings(&derived["examples"]),
        strings(&doc["components"]["schemas"]["DatasetStatus"]["enum"])
    );
    // A struct refers to it by name.
    let dataset = serde_json::to_value(schema_for!(types::Dataset)).unwrap();
    assert!(
        dataset["definitions"].get("DatasetStatus").is_some(),
        "{dataset}"
    );
}

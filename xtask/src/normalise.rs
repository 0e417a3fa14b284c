//! The canonical text of a document: keys sorted recursively (array order is
//! kept: it is meaningful), 2-space indent, trailing newline. The same input
//! always gives byte-identical output, and the checked-in document is a fixed
//! point.

use serde_json::{Map, Value};

/// A copy of `v` with every object's keys in sorted order.
pub fn sorted(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let mut out = Map::new();
            for k in keys {
                out.insert(k.clone(), sorted(&m[k]));
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

/// The canonical text of `v`.
pub fn to_text(v: &Value) -> String {
    // Serialising a `Value` cannot fail (all keys are strings).
    let mut text = serde_json::to_string_pretty(&sorted(v)).unwrap_or_default();
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_keys_keeps_arrays_and_is_idempotent() {
        let v: Value =
            serde_json::from_str(r#"{"b": {"z": 1, "a": [3, 1, {"y": 0, "x": 0}]}, "a": {}}"#)
                .unwrap();
        let t = to_text(&v);
        assert_eq!(
            t,
            "{\n  \"a\": {},\n  \"b\": {\n    \"a\": [\n      3,\n      1,\n      {\n        \"x\": 0,\n        \"y\": 0\n      }\n    ],\n    \"z\": 1\n  }\n}\n"
        );
        let again: Value = serde_json::from_str(&t).unwrap();
        assert_eq!(to_text(&again), t);
    }

    #[test]
    fn checked_in_document_is_a_fixed_point() {
        let path = crate::cli::workspace_root().join("openapi/avala.json");
        let text = std::fs::read_to_string(path).unwrap();
        let v: Value = serde_json::from_str(&text).unwrap();
        assert!(to_text(&v) == text, "openapi/avala.json is not normalised");
    }
}

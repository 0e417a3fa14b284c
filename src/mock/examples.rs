//! The project's example bodies (`openapi/examples.json`), by operation.
//!
//! Most examples are the shared fixtures recorded from the official SDKs'
//! tests; the rest are written from the models. Responses whose name starts
//! with `forward-compat:` carry enum values and fields the document does not
//! know, to show that the SDK tolerates them.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use serde::{Deserialize, Serialize};
use serde_json::Value;

const EXAMPLES: &str = include_str!("../../openapi/examples.json");

/// The name prefix of forward-compatibility examples.
pub const FORWARD_COMPAT: &str = "forward-compat:";

/// One example body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Example {
    /// Unique within its operation and kind.
    pub name: String,
    /// Where it comes from: a shared fixture file, or `written from …`.
    pub source: String,
    /// The HTTP status it is served with (responses and errors only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// The JSON body.
    pub body: Value,
}

impl Example {
    /// Whether this is a forward-compatibility example (see the module docs).
    pub fn is_forward_compat(&self) -> bool {
        self.name.starts_with(FORWARD_COMPAT)
    }
}

/// The examples of one operation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperationExamples {
    /// Request bodies.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub requests: Vec<Example>,
    /// Success response bodies.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub responses: Vec<Example>,
    /// Error response bodies (4xx and 5xx).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<Example>,
}

/// Every operation's examples, keyed by `operationId`.
pub type Examples = BTreeMap<String, OperationExamples>;

static PARSED: LazyLock<Examples> = LazyLock::new(|| {
    serde_json::from_str(EXAMPLES).unwrap_or_else(|e| panic!("openapi/examples.json: {e}"))
});

/// All examples, parsed once.
pub fn examples() -> &'static Examples {
    &PARSED
}

fn of(operation_id: &str) -> Option<&'static OperationExamples> {
    PARSED.get(operation_id)
}

/// The request bodies of `operation_id` (empty when it has none).
pub fn requests(operation_id: &str) -> &'static [Example] {
    of(operation_id).map_or(&[], |o| &o.requests)
}

/// The success responses of `operation_id` (empty when it has none).
pub fn responses(operation_id: &str) -> &'static [Example] {
    of(operation_id).map_or(&[], |o| &o.responses)
}

/// The error responses of `operation_id` (empty when it has none).
pub fn errors(operation_id: &str) -> &'static [Example] {
    of(operation_id).map_or(&[], |o| &o.errors)
}

/// The response to serve by default: the first that is not a
/// forward-compatibility example.
pub fn default_response(operation_id: &str) -> Option<&'static Example> {
    responses(operation_id)
        .iter()
        .find(|e| !e.is_forward_compat())
}

/// The first place where the bodies `expected` and `actual` differ as JSON
/// data, or `None` when they carry the same data. This is how a body compares
/// with what the SDK's types encode:
///
/// - an object member whose value is `null`, `[]` or `{}` counts as absent
///   (optional fields decode to `None` or an empty collection and are then
///   skipped when encoding);
/// - numbers are equal when their values are (`1` and `1.0`);
/// - two RFC 3339 timestamps are equal when they name the same instant
///   (`+00:00` and `Z`).
///
/// Nothing else may differ, key for key and element for element.
///
/// ```
/// use avala::mock::examples::first_difference;
/// use serde_json::json;
///
/// let sent = json!({"n": 1, "at": "2024-01-15T10:30:00+00:00", "tags": []});
/// assert_eq!(first_difference(&sent, &json!({"n": 1.0, "at": "2024-01-15T10:30:00Z"})), None);
/// assert!(first_difference(&sent, &json!({"n": 2})).is_some());
/// ```
pub fn first_difference(expected: &Value, actual: &Value) -> Option<String> {
    differ(&without_empty(expected), &without_empty(actual), "")
}

fn without_empty(value: &Value) -> Value {
    let empty = |v: &Value| match v {
        Value::Null => true,
        Value::Array(a) => a.is_empty(),
        Value::Object(m) => m.is_empty(),
        _ => false,
    };
    match value {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(_, v)| !empty(v))
                .map(|(k, v)| (k.clone(), without_empty(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(without_empty).collect()),
        other => other.clone(),
    }
}

fn differ(a: &Value, b: &Value, at: &str) -> Option<String> {
    let here = || if at.is_empty() { "(root)" } else { at }.to_owned();
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            x.keys()
                .chain(y.keys())
                .find_map(|k| match (x.get(k), y.get(k)) {
                    (Some(v), Some(w)) => differ(v, w, &format!("{at}/{k}")),
                    (Some(v), None) => Some(format!("{at}/{k}: {v} is lost")),
                    (None, Some(w)) => Some(format!("{at}/{k}: {w} appears")),
                    (None, None) => None,
                })
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (v, w))| differ(v, w, &format!("{at}/{i}"))),
        (Value::Number(x), Value::Number(y)) => {
            let equal = match (x.as_i64(), y.as_i64(), x.as_u64(), y.as_u64()) {
                (Some(i), Some(j), _, _) => i == j,
                (_, _, Some(i), Some(j)) => i == j,
                _ => x.as_f64() == y.as_f64(),
            };
            (!equal).then(|| format!("{}: {x} became {y}", here()))
        }
        (Value::String(x), Value::String(y)) if x != y => {
            let instant = |s: &str| chrono::DateTime::parse_from_rfc3339(s).ok();
            match (instant(x), instant(y)) {
                (Some(i), Some(j)) if i == j => None,
                _ => Some(format!("{}: {x:?} became {y:?}", here())),
            }
        }
        _ if a == b => None,
        _ => Some(format!("{}: {a} became {b}", here())),
    }
}

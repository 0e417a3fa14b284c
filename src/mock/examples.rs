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

//! The embedded OpenAPI document: its operations, and validation of bodies
//! against its schemas.
//!
//! OpenAPI 3.0 schemas are not JSON Schema, so [`to_json_schema`] converts
//! them to JSON Schema draft 2020-12 before the `jsonschema` crate validates:
//!
//! - `$ref: #/components/schemas/X` becomes `#/$defs/X`, and every converted
//!   schema carries the `$defs` it reaches, so it stands alone;
//! - `nullable: true` adds `null` to `type` (and to `enum`), or becomes
//!   `anyOf: [{type: null}, …]` when there is no `type` (`allOf: [$ref]`);
//! - named string enums are open, like the generated Rust enums: any string
//!   is valid, and the documented values are kept as `examples` (see
//!   [`Unknowns`] to find values outside them);
//! - `format` is asserted where the validator knows the format (`date-time`
//!   as RFC 3339) and ignored otherwise (`int64`, `double`, `uint32`);
//! - `additionalProperties`, `oneOf`, `allOf`, `items` keep their meaning;
//!   boolean `exclusiveMinimum`/`exclusiveMaximum` become numbers, and
//!   OpenAPI-only keywords (`discriminator`, `xml`, `externalDocs`, `x-…`)
//!   are dropped (`example` becomes `examples`).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, LazyLock, Mutex, PoisonError};

use jsonschema::Validator;
use regex::Regex;
use serde_json::{json, Map, Value};

const DOCUMENT: &str = include_str!("../../openapi/avala.json");
const DIALECT: &str = "https://json-schema.org/draft/2020-12/schema";
const COMPONENT_PREFIX: &str = "#/components/schemas/";
const DEFS_PREFIX: &str = "#/$defs/";

static SPEC: LazyLock<Value> =
    LazyLock::new(|| serde_json::from_str(DOCUMENT).expect("openapi/avala.json is valid JSON"));

/// The embedded OpenAPI document (`openapi/avala.json`), parsed once.
pub fn spec() -> &'static Value {
    &SPEC
}

/// Where a parameter travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ParameterLocation {
    /// A `{name}` segment of the path template.
    Path,
    /// The query string.
    Query,
    /// A request header.
    Header,
    /// A cookie.
    Cookie,
}

/// One parameter of an operation.
#[derive(Debug, Clone)]
pub struct Parameter {
    /// The parameter's name.
    pub name: String,
    /// Where it travels.
    pub location: ParameterLocation,
    /// Whether the document marks it required (path parameters always are).
    pub required: bool,
    /// Its schema, converted to a standalone JSON Schema.
    pub schema: Value,
}

/// One operation of the document.
#[derive(Debug, Clone)]
pub struct Operation {
    /// The `operationId`, e.g. `get_dataset`.
    pub id: String,
    /// The HTTP method, upper case.
    pub method: String,
    /// The path template below the server URL, e.g. `/datasets/{uid}/`.
    pub path: String,
    /// Path, query and header parameters, in document order.
    pub parameters: Vec<Parameter>,
    /// Whether the operation takes a JSON request body.
    pub has_request_body: bool,
    /// Whether the document marks that body required.
    pub request_body_required: bool,
    /// Whether the success response (`2XX`) has a JSON body.
    pub has_response_body: bool,
    /// `security: []`: the operation is called without the API key.
    pub anonymous: bool,
    matcher: Regex,
    parameter_count: usize,
}

impl Operation {
    /// The path parameters when `path` (below the server URL, without the
    /// query string) matches this operation's template; values are not
    /// percent-decoded.
    pub fn match_path(&self, path: &str) -> Option<BTreeMap<String, String>> {
        let captures = self.matcher.captures(path)?;
        Some(
            self.matcher
                .capture_names()
                .flatten()
                .filter_map(|name| {
                    Some((name.to_owned(), captures.name(name)?.as_str().to_owned()))
                })
                .collect(),
        )
    }
}

static OPERATIONS: LazyLock<Vec<Operation>> = LazyLock::new(|| {
    let walked = crate::walker::operations(&SPEC);
    walked.iter().filter_map(operation_of).collect()
});

/// The mock's view of one walked operation; `None` without an
/// `operationId` (`build.rs` refuses such a document anyway).
fn operation_of(op: &crate::walker::Operation<'_>) -> Option<Operation> {
    let id = op.id()?;
    let (matcher, parameter_count) = path_matcher(op.path);
    Some(Operation {
        id: id.to_owned(),
        method: op.method.to_ascii_uppercase(),
        path: op.path.to_owned(),
        parameters: op
            .parameters
            .iter()
            .copied()
            .filter_map(parameter)
            .collect(),
        has_request_body: raw_request_schema(op.op).is_some(),
        request_body_required: op
            .request_body
            .and_then(|b| b.get("required"))
            .and_then(Value::as_bool)
            .unwrap_or(false),
        has_response_body: raw_response_schema(op.op).is_some(),
        anonymous: op
            .op
            .get("security")
            .and_then(Value::as_array)
            .is_some_and(Vec::is_empty),
        matcher,
        parameter_count,
    })
}

fn parameter(p: &Value) -> Option<Parameter> {
    let location = match p.get("in")?.as_str()? {
        "path" => ParameterLocation::Path,
        "query" => ParameterLocation::Query,
        "header" => ParameterLocation::Header,
        "cookie" => ParameterLocation::Cookie,
        _ => return None,
    };
    Some(Parameter {
        name: p.get("name")?.as_str()?.to_owned(),
        location,
        required: location == ParameterLocation::Path
            || p.get("required").and_then(Value::as_bool).unwrap_or(false),
        schema: to_json_schema(p.get("schema").unwrap_or(&Value::Bool(true))),
    })
}

/// `/resolve/{owner}/{dataset}@{selector}/` → an anchored regex with one
/// named group per parameter (a parameter never spans a `/`).
fn path_matcher(template: &str) -> (Regex, usize) {
    let mut pattern = String::from("^");
    let mut count = 0;
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}').map(|c| open + c) else {
            break;
        };
        pattern.push_str(&regex::escape(&rest[..open]));
        let name = &rest[open + 1..close];
        pattern.push_str(&format!("(?P<{name}>[^/]+)"));
        count += 1;
        rest = &rest[close + 1..];
    }
    pattern.push_str(&regex::escape(rest));
    pattern.push('$');
    let regex = Regex::new(&pattern)
        .unwrap_or_else(|e| panic!("path template {template} of the document: {e}"));
    (regex, count)
}

/// Every operation, in document order.
pub fn operations() -> &'static [Operation] {
    &OPERATIONS
}

/// The operation with this `operationId`.
pub fn operation(operation_id: &str) -> Option<&'static Operation> {
    OPERATIONS.iter().find(|o| o.id == operation_id)
}

/// The operation that serves `method` on `path` (below the server URL,
/// without the query string), with its path parameters. A literal segment
/// wins over a parameter: `/storage-configs/setup-info/` is not
/// `/storage-configs/{uid}/`.
pub fn find_operation(
    method: &str,
    path: &str,
) -> Option<(&'static Operation, BTreeMap<String, String>)> {
    OPERATIONS
        .iter()
        .filter(|o| o.method.eq_ignore_ascii_case(method))
        .filter_map(|o| Some((o, o.match_path(path)?)))
        .min_by_key(|(o, _)| o.parameter_count)
}

fn raw_operation(operation_id: &str) -> Option<&'static Value> {
    SPEC.get("paths")?
        .as_object()?
        .values()
        .filter_map(Value::as_object)
        .flat_map(|item| item.values())
        .find(|op| op.get("operationId").and_then(Value::as_str) == Some(operation_id))
}

fn raw_response_schema(op: &Value) -> Option<&Value> {
    op.pointer("/responses/2XX/content/application~1json/schema")
}

fn raw_request_schema(op: &Value) -> Option<&Value> {
    op.pointer("/requestBody/content/application~1json/schema")
}

/// The JSON Schema of the success (`2XX`) body of `operation_id`; `None`
/// when the operation is unknown or answers without a body.
pub fn response_schema(operation_id: &str) -> Option<Value> {
    raw_operation(operation_id)
        .and_then(raw_response_schema)
        .map(to_json_schema)
}

/// The JSON Schema of the request body of `operation_id`; `None` when the
/// operation is unknown or takes no body.
pub fn request_schema(operation_id: &str) -> Option<Value> {
    raw_operation(operation_id)
        .and_then(raw_request_schema)
        .map(to_json_schema)
}

/// Converts an OpenAPI 3.0 schema of this document (it may use
/// `$ref: #/components/schemas/…`) into a standalone JSON Schema document
/// (draft 2020-12) with the `$defs` it reaches.
pub fn to_json_schema(schema: &Value) -> Value {
    let mut root = match convert(schema) {
        Value::Object(map) => map,
        other => return other,
    };
    let mut needed = BTreeSet::new();
    collect_refs(&Value::Object(root.clone()), &mut needed);
    let mut defs = Map::new();
    let mut queue: Vec<String> = needed.into_iter().collect();
    while let Some(name) = queue.pop() {
        if defs.contains_key(&name) {
            continue;
        }
        let Some(def) = CONVERTED_COMPONENTS.get(&name) else {
            continue;
        };
        let mut more = BTreeSet::new();
        collect_refs(def, &mut more);
        queue.extend(more.into_iter().filter(|n| !defs.contains_key(n)));
        defs.insert(name, def.clone());
    }
    root.insert("$schema".into(), DIALECT.into());
    if !defs.is_empty() {
        root.insert("$defs".into(), Value::Object(defs));
    }
    Value::Object(root)
}

/// Every component schema, converted; named string enums are open.
static CONVERTED_COMPONENTS: LazyLock<BTreeMap<String, Value>> = LazyLock::new(|| {
    components()
        .map(|(name, s)| {
            let converted = match open_enum_values(s) {
                Some(values) => {
                    let mut open = Map::new();
                    open.insert("type".into(), "string".into());
                    if let Some(d) = s.get("description") {
                        open.insert("description".into(), d.clone());
                    }
                    open.insert("examples".into(), Value::Array(values.to_vec()));
                    Value::Object(open)
                }
                None => convert(s),
            };
            (name.clone(), converted)
        })
        .collect()
});

fn components() -> impl Iterator<Item = (&'static String, &'static Value)> {
    SPEC.pointer("/components/schemas")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
}

/// The documented values when `schema` is a named string enum, which the
/// generated code turns into an open enum (`Unknown(String)`).
fn open_enum_values(schema: &Value) -> Option<&Vec<Value>> {
    if schema.get("type").and_then(Value::as_str) != Some("string") {
        return None;
    }
    schema.get("enum").and_then(Value::as_array)
}

fn collect_refs(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                match (k.as_str(), child.as_str()) {
                    ("$ref", Some(r)) => {
                        if let Some(name) = r.strip_prefix(DEFS_PREFIX) {
                            out.insert(name.to_owned());
                        }
                    }
                    _ => collect_refs(child, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|i| collect_refs(i, out)),
        _ => {}
    }
}

/// OpenAPI 3.0 schema object → JSON Schema 2020-12 (without `$defs`).
fn convert(schema: &Value) -> Value {
    let Value::Object(src) = schema else {
        return schema.clone();
    };
    let mut out = Map::new();
    for (key, value) in src {
        match key.as_str() {
            "$ref" => {
                let r = value.as_str().unwrap_or_default();
                let r = r
                    .strip_prefix(COMPONENT_PREFIX)
                    .map_or_else(|| r.to_owned(), |name| format!("{DEFS_PREFIX}{name}"));
                out.insert(key.clone(), Value::String(r));
            }
            "properties" | "patternProperties" => {
                let props = value
                    .as_object()
                    .map(|m| m.iter().map(|(k, v)| (k.clone(), convert(v))).collect())
                    .unwrap_or_default();
                out.insert(key.clone(), Value::Object(props));
            }
            "items" | "additionalProperties" | "not" => {
                out.insert(key.clone(), convert(value));
            }
            "allOf" | "oneOf" | "anyOf" => {
                let list = value.as_array().map(|a| a.iter().map(convert).collect());
                out.insert(key.clone(), Value::Array(list.unwrap_or_default()));
            }
            "example" => {
                out.insert("examples".into(), json!([value]));
            }
            "nullable" | "discriminator" | "xml" | "externalDocs" | "exclusiveMinimum"
            | "exclusiveMaximum" => {}
            k if k.starts_with("x-") => {}
            _ => {
                out.insert(key.clone(), value.clone());
            }
        }
    }
    for (exclusive, bound) in [
        ("exclusiveMinimum", "minimum"),
        ("exclusiveMaximum", "maximum"),
    ] {
        match src.get(exclusive) {
            Some(Value::Bool(true)) => {
                if let Some(limit) = out.remove(bound) {
                    out.insert(exclusive.into(), limit);
                }
            }
            Some(n @ Value::Number(_)) => {
                out.insert(exclusive.into(), n.clone());
            }
            _ => {}
        }
    }
    if src.get("nullable").and_then(Value::as_bool) == Some(true) {
        return nullable(out);
    }
    Value::Object(out)
}

fn nullable(mut out: Map<String, Value>) -> Value {
    if let Some(Value::String(ty)) = out.get("type").cloned() {
        out.insert("type".into(), json!([ty, "null"]));
        if let Some(Value::Array(values)) = out.get_mut("enum") {
            if !values.contains(&Value::Null) {
                values.push(Value::Null);
            }
        }
        return Value::Object(out);
    }
    const CONSTRAINTS: [&str; 6] = ["$ref", "allOf", "oneOf", "anyOf", "enum", "not"];
    if !CONSTRAINTS.iter().any(|k| out.contains_key(*k)) {
        return Value::Object(out);
    }
    let mut inner = Map::new();
    for k in CONSTRAINTS {
        if let Some(v) = out.remove(k) {
            inner.insert(k.into(), v);
        }
    }
    out.insert(
        "anyOf".into(),
        json!([{ "type": "null" }, Value::Object(inner)]),
    );
    Value::Object(out)
}

/// A compiled validator, or why the schema would not compile.
type Compiled = Result<Validator, String>;

static VALIDATORS: LazyLock<HashMap<(String, Direction), Compiled>> = LazyLock::new(|| {
    let mut out = HashMap::new();
    for op in operations() {
        for (direction, schema) in [
            (Direction::Request, request_schema(&op.id)),
            (Direction::Response, response_schema(&op.id)),
        ] {
            if let Some(schema) = schema {
                out.insert((op.id.clone(), direction), compile(&schema));
            }
        }
    }
    out
});

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Direction {
    Request,
    Response,
}

fn compile(schema: &Value) -> Compiled {
    jsonschema::draft202012::options()
        .should_validate_formats(true)
        .should_ignore_unknown_formats(true)
        .build(schema)
        .map_err(|e| format!("the document's schema does not compile: {e}"))
}

fn validate(operation_id: &str, direction: Direction, body: &Value) -> Result<(), Vec<String>> {
    let Some(compiled) = VALIDATORS.get(&(operation_id.to_owned(), direction)) else {
        let what = match direction {
            Direction::Request => "request",
            Direction::Response => "response",
        };
        return Err(vec![format!(
            "operation `{operation_id}` has no JSON {what} body in the document"
        )]);
    };
    let validator = compiled.as_ref().map_err(|e| vec![e.clone()])?;
    let errors: Vec<String> = validator
        .iter_errors(body)
        .map(|e| {
            let at = e.instance_path().to_string();
            let at = if at.is_empty() {
                "(root)".to_owned()
            } else {
                at
            };
            format!("{at}: {e}")
        })
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// Validates `body` as the success response of `operation_id`. The error
/// lists one readable message per violation, each starting with the JSON
/// pointer of the offending value (`(root)` for the body itself).
pub fn validate_response(operation_id: &str, body: &Value) -> Result<(), Vec<String>> {
    validate(operation_id, Direction::Response, body)
}

/// Validates `body` as the request body of `operation_id`; messages as in
/// [`validate_response`].
pub fn validate_request(operation_id: &str, body: &Value) -> Result<(), Vec<String>> {
    validate(operation_id, Direction::Request, body)
}

/// What a body carries beyond the document's knowledge. Both kinds are valid
/// (the schemas are open), but the generated types treat them differently.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Unknowns {
    /// JSON pointers of object members that no `properties` entry declares,
    /// in an object that declares properties and no `additionalProperties`:
    /// the generated structs drop them.
    pub fields: Vec<String>,
    /// `(JSON pointer, value)` of strings in an open enum that are not among
    /// its documented values: the generated enums keep them as `Unknown`.
    pub enum_values: Vec<(String, String)>,
}

impl Unknowns {
    /// Neither unknown fields nor unknown enum values.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty() && self.enum_values.is_empty()
    }
}

/// `body` as the success response of `operation_id` decodes: every absent
/// property that declares a `default` is filled in, because the generated
/// types always carry such fields. `body` itself when there is no schema.
pub fn response_with_defaults(operation_id: &str, body: &Value) -> Value {
    let mut out = body.clone();
    if let Some(schema) = raw_operation(operation_id).and_then(raw_response_schema) {
        fill_defaults(schema, &mut out);
    }
    out
}

/// As [`response_with_defaults`], for the request body of `operation_id`.
pub fn request_with_defaults(operation_id: &str, body: &Value) -> Value {
    let mut out = body.clone();
    if let Some(schema) = raw_operation(operation_id).and_then(raw_request_schema) {
        fill_defaults(schema, &mut out);
    }
    out
}

/// Fills declared defaults into `value` along the OpenAPI `schema`.
fn fill_defaults(schema: &Value, value: &mut Value) {
    if let Some(name) = schema
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix(COMPONENT_PREFIX))
    {
        if let Some(target) = SPEC.pointer(&format!("/components/schemas/{name}")) {
            fill_defaults(target, value);
        }
        return;
    }
    for part in schema
        .get("allOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        fill_defaults(part, value);
    }
    match value {
        Value::Object(map) => {
            let props = schema.get("properties").and_then(Value::as_object);
            for (name, prop) in props.into_iter().flatten() {
                match map.get_mut(name) {
                    Some(v) => fill_defaults(prop, v),
                    None => {
                        if let Some(d) = prop.get("default") {
                            map.insert(name.clone(), d.clone());
                        }
                    }
                }
            }
        }
        Value::Array(items) => {
            if let Some(item) = schema.get("items") {
                items.iter_mut().for_each(|v| fill_defaults(item, v));
            }
        }
        _ => {}
    }
}

/// The [`Unknowns`] of `body` as the success response of `operation_id`;
/// `None` when the operation answers without a body.
pub fn response_unknowns(operation_id: &str, body: &Value) -> Option<Unknowns> {
    let schema = raw_response_schema(raw_operation(operation_id)?)?;
    let mut out = Unknowns::default();
    walk(schema, body, &mut String::new(), &mut out);
    Some(out)
}

/// The [`Unknowns`] of `body` as the request body of `operation_id`; `None`
/// when the operation takes no body.
pub fn request_unknowns(operation_id: &str, body: &Value) -> Option<Unknowns> {
    let schema = raw_request_schema(raw_operation(operation_id)?)?;
    let mut out = Unknowns::default();
    walk(schema, body, &mut String::new(), &mut out);
    Some(out)
}

/// Walks `value` along the OpenAPI `schema`, the way the generated types
/// read it.
fn walk(schema: &Value, value: &Value, at: &mut String, out: &mut Unknowns) {
    if let Some(name) = schema
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix(COMPONENT_PREFIX))
    {
        let Some(target) = SPEC.pointer(&format!("/components/schemas/{name}")) else {
            return;
        };
        if let (Some(known), Some(s)) = (open_enum_values(target), value.as_str()) {
            if !known.iter().any(|k| k.as_str() == Some(s)) {
                out.enum_values.push((at.clone(), s.to_owned()));
            }
            return;
        }
        return walk(target, value, at, out);
    }
    if value.is_null() {
        return;
    }
    for sub in schema
        .get("allOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        walk(sub, value, at, out);
    }
    for key in ["oneOf", "anyOf"] {
        let branches = schema.get(key).and_then(Value::as_array);
        let chosen = branches
            .into_iter()
            .flatten()
            .find(|b| branch_accepts(b, value));
        if let Some(branch) = chosen {
            walk(branch, value, at, out);
        }
    }
    match value {
        Value::Object(members) => {
            let declared = schema.get("properties").and_then(Value::as_object);
            let extra = schema.get("additionalProperties");
            for (key, member) in members {
                let len = at.len();
                at.push('/');
                at.push_str(&key.replace('~', "~0").replace('/', "~1"));
                match (declared.and_then(|d| d.get(key)), extra) {
                    (Some(sub), _) => walk(sub, member, at, out),
                    (None, Some(sub @ Value::Object(_))) => walk(sub, member, at, out),
                    (None, Some(Value::Bool(true))) => {}
                    (None, _) if declared.is_some_and(|d| !d.is_empty()) => {
                        out.fields.push(at.clone());
                    }
                    (None, _) => {}
                }
                at.truncate(len);
            }
        }
        Value::Array(items) => {
            if let Some(sub) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    let len = at.len();
                    at.push_str(&format!("/{i}"));
                    walk(sub, item, at, out);
                    at.truncate(len);
                }
            }
        }
        _ => {}
    }
}

/// Whether `value` is valid against the `oneOf`/`anyOf` branch `branch`
/// (compiled once per distinct branch).
fn branch_accepts(branch: &Value, value: &Value) -> bool {
    static BRANCHES: LazyLock<Mutex<HashMap<String, Arc<Compiled>>>> =
        LazyLock::new(Mutex::default);
    let key = branch.to_string();
    let compiled = {
        let mut cache = BRANCHES.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(
            cache
                .entry(key)
                .or_insert_with(|| Arc::new(compile(&to_json_schema(branch)))),
        )
    };
    compiled.as_ref().as_ref().is_ok_and(|v| v.is_valid(value))
}

#[cfg(test)]
mod tests {

    #[test]
    fn declared_defaults_are_filled_in_where_absent() {
        let agent = response_with_defaults("get_agent", &json!({"uid": "a", "name": "n"}));
        assert_eq!(agent["is_active"], json!(true));
        assert!(
            agent.get("description").is_none(),
            "no default, stays absent"
        );
        let kept = response_with_defaults(
            "get_agent",
            &json!({"uid": "a", "name": "n", "is_active": false}),
        );
        assert_eq!(kept["is_active"], json!(false));
        let page = response_with_defaults(
            "list_fleet_rules",
            &json!({"results": [{"uid": "r", "name": "n"}]}),
        );
        assert_eq!(page["results"][0]["hit_count"], json!(0));
        assert_eq!(page["results"][0]["enabled"], json!(true));
    }

    use super::*;

    #[test]
    fn nullable_forms_accept_null() {
        let plain = to_json_schema(&json!({"type": "string", "nullable": true}));
        assert_eq!(plain["type"], json!(["string", "null"]));
        let wrapped = to_json_schema(&json!({
            "allOf": [{"$ref": "#/components/schemas/DatasetStatus"}], "nullable": true
        }));
        let v = compile(&wrapped).expect("compiles");
        assert!(v.is_valid(&Value::Null));
        assert!(v.is_valid(&json!("created")));
        assert!(v.is_valid(&json!("archived_v2")), "open enum");
        assert!(!v.is_valid(&json!(3)));
    }

    #[test]
    fn date_time_is_checked_and_unknown_formats_are_not() {
        let v = compile(&to_json_schema(
            &json!({"type": "string", "format": "date-time"}),
        ))
        .expect("compiles");
        assert!(v.is_valid(&json!("2024-01-15T10:30:00Z")));
        assert!(!v.is_valid(&json!("yesterday")));
        let v = compile(&to_json_schema(
            &json!({"type": "integer", "format": "int64"}),
        ))
        .expect("compiles");
        assert!(v.is_valid(&json!(5)));
    }

    #[test]
    fn literal_segments_win_over_parameters() {
        let (op, params) = find_operation("GET", "/storage-configs/setup-info/").expect("found");
        assert_eq!(op.id, "get_storage_config_setup_info");
        assert!(params.is_empty());
        let (op, params) = find_operation("get", "/resolve/acme/lidar-v2@main/").expect("found");
        assert_eq!(op.id, "resolve_dataset_reference");
        assert_eq!(params["dataset"], "lidar-v2");
        assert_eq!(params["selector"], "main");
        assert!(find_operation("GET", "/datasets/").is_some());
        assert!(find_operation("GET", "/nowhere/").is_none());
    }

    #[test]
    fn violations_name_their_place() {
        let errors =
            validate_response("get_dataset", &json!({"uid": 1, "name": "n"})).expect_err("invalid");
        assert!(errors.iter().any(|e| e.starts_with("/uid: ")), "{errors:?}");
        assert!(
            errors.iter().any(|e| e.starts_with("(root): ")),
            "{errors:?}"
        );
    }

    #[test]
    fn unknowns_are_found_where_the_types_would_see_them() {
        let body = json!({"results": [{"uid": "u", "name": "n", "slug": "s",
            "status": "archived_v2", "extra": {"a": 1}, "predefined_labels": [{"free": 1}]}],
            "next": null, "count": 1});
        let mut u = response_unknowns("list_datasets", &body).expect("has a body");
        u.fields.sort();
        assert_eq!(u.fields, ["/count", "/results/0/extra"]);
        assert_eq!(
            u.enum_values,
            [("/results/0/status".to_owned(), "archived_v2".to_owned())]
        );
    }
}

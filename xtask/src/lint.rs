//! Lint against what progenitor 0.15.1 (and our build.rs) can generate, and
//! the documentation rules of `crate::docs`, so a
//! bad document is refused with a message naming the operation or schema and
//! the rule, instead of a panic in every user's `cargo build`.
//! The rules follow §6 of docs/progenitor-0.15.md (what progenitor 0.15.1
//! accepts); each finding has a rule id.

use std::collections::{BTreeMap, BTreeSet};

use heck::{ToPascalCase, ToSnakeCase};
use serde_json::Value;

use crate::overlay::{esc, referenced_name};

pub use crate::walker::{operations, resolve, Operation as Op, METHODS};

/// Request body media types progenitor accepts.
const BODY_TYPES: [&str; 5] = [
    "application/json",
    "application/x-www-form-urlencoded",
    "application/octet-stream",
    "text/plain",
    "text/x-markdown",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// `operation `list_datasets` (GET /datasets/)`, `schema `Dataset``, ...
    pub subject: String,
    /// A short rule id, e.g. `default-response`.
    pub rule: &'static str,
    pub message: String,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {} [{}]", self.subject, self.message, self.rule)
    }
}

/// The operation's parameters (`crate::walker` merged and resolved them),
/// keyed by (location, name); `?` stands for a missing one.
pub fn parameters<'a>(op: &Op<'a>) -> BTreeMap<(String, String), &'a Value> {
    let text = |p: &Value, key: &str| {
        let v = p.get(key).and_then(Value::as_str);
        v.unwrap_or("?").to_owned()
    };
    op.parameters
        .iter()
        .map(|p| ((text(p, "in"), text(p, "name")), *p))
        .collect()
}

/// What a response carries, as progenitor classifies it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum BodyKind {
    None,
    Raw,
    /// The canonical text of the schema.
    Json(String),
}

pub fn response_kind(doc: &Value, response: &Value) -> BodyKind {
    let response = resolve(doc, response);
    let Some(content) = response.get("content").and_then(Value::as_object) else {
        return BodyKind::None;
    };
    if let Some((_, mt)) = content
        .iter()
        .find(|(k, _)| *k == "application/json" || k.starts_with("application/json;"))
    {
        let schema = mt.get("schema").cloned().unwrap_or(Value::Null);
        return BodyKind::Json(schema.to_string());
    }
    if content.is_empty() {
        BodyKind::None
    } else {
        BodyKind::Raw
    }
}

fn is_success(status: &str) -> bool {
    status == "2XX" || (status.len() == 3 && status.starts_with('2'))
}

fn is_error(status: &str) -> bool {
    status.starts_with('4') || status.starts_with('5')
}

pub use crate::generate::variant_name;

struct Lint<'a> {
    doc: &'a Value,
    findings: Vec<Finding>,
    /// Components referenced directly from some `oneOf`.
    variants: BTreeSet<String>,
}

impl Lint<'_> {
    fn add(&mut self, subject: impl Into<String>, rule: &'static str, message: impl Into<String>) {
        self.findings.push(Finding {
            subject: subject.into(),
            rule,
            message: message.into(),
        });
    }
}

/// Every finding, in a stable order (document order): what progenitor and
/// build.rs need, then the documentation rules (`crate::docs`), the field
/// rule as `docs::REQUIRE_FIELD_DESCRIPTIONS` says.
pub fn lint(doc: &Value) -> Vec<Finding> {
    lint_with(doc, crate::docs::REQUIRE_FIELD_DESCRIPTIONS)
}

/// `lint`, with the field-description rule on or off.
pub fn lint_with(doc: &Value, fields: bool) -> Vec<Finding> {
    let mut findings = shape(doc);
    findings.extend(crate::docs::findings(doc, fields));
    findings
}

/// The findings about what progenitor and build.rs can generate.
fn shape(doc: &Value) -> Vec<Finding> {
    let mut l = Lint {
        doc,
        findings: Vec::new(),
        variants: BTreeSet::new(),
    };
    let version = doc.get("openapi").and_then(Value::as_str).unwrap_or("");
    if !crate::load::is_30(version) {
        l.add(
            "document",
            "version",
            format!("OpenAPI `{version}` is not 3.0.x"),
        );
    }
    collect_variants(doc, &mut l.variants);
    lint_refs(&mut l, doc, String::new());
    lint_paths(&mut l);
    lint_schemas(&mut l);
    l.findings
}

fn collect_variants(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            if let Some(Value::Array(vs)) = m.get("oneOf") {
                for variant in vs {
                    if let Some(n) = variant
                        .get("$ref")
                        .and_then(Value::as_str)
                        .and_then(|r| r.strip_prefix("#/components/schemas/"))
                    {
                        out.insert(n.to_owned());
                    }
                }
            }
            m.values().for_each(|c| collect_variants(c, out));
        }
        Value::Array(a) => a.iter().for_each(|c| collect_variants(c, out)),
        _ => {}
    }
}

/// The operation or schema a JSON pointer is inside of.
fn subject_at(doc: &Value, at: &str) -> String {
    let unesc = |s: &str| s.replace("~1", "/").replace("~0", "~");
    let parts: Vec<&str> = at.split('/').skip(1).collect();
    match parts.as_slice() {
        ["paths", path, method, ..] if METHODS.contains(method) => {
            let path = unesc(path);
            let id = doc
                .get("paths")
                .and_then(|p| p.get(&path))
                .and_then(|i| i.get(*method))
                .and_then(|o| o.get("operationId"))
                .and_then(Value::as_str);
            let route = format!("{} {path}", method.to_ascii_uppercase());
            match id {
                Some(id) => format!("operation `{id}` ({route})"),
                None => format!("operation {route}"),
            }
        }
        ["paths", path, ..] => format!("path `{}`", unesc(path)),
        ["components", "schemas", name, ..] => format!("schema `{}`", unesc(name)),
        _ => format!("`{}`", if at.is_empty() { "/" } else { at }),
    }
}

/// Every `$ref` must be local and resolve.
fn lint_refs(l: &mut Lint, v: &Value, at: String) {
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                if k == "$ref" {
                    let target = child.as_str().unwrap_or("");
                    let ok = target
                        .strip_prefix('#')
                        .is_some_and(|p| l.doc.pointer(p).is_some());
                    if !ok {
                        l.add(
                            subject_at(l.doc, &at),
                            "unresolved-ref",
                            format!(
                                "`$ref: {target}` at `{at}` does not resolve inside the document"
                            ),
                        );
                    }
                } else {
                    lint_refs(l, child, format!("{at}/{}", esc(k)));
                }
            }
        }
        Value::Array(a) => {
            for (i, c) in a.iter().enumerate() {
                lint_refs(l, c, format!("{at}/{i}"));
            }
        }
        _ => {}
    }
}

fn lint_paths(l: &mut Lint) {
    let doc = l.doc;
    let mut ids: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut snake: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (path, item) in doc
        .get("paths")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        if item.get("$ref").is_some() {
            l.add(
                format!("path `{path}`"),
                "path-item-ref",
                "a `$ref` path item is not supported by progenitor; inline it",
            );
        }
    }
    for op in operations(doc) {
        let subject = op.subject();
        match op.id() {
            None | Some("") => l.add(&subject, "operation-id-missing", "no operationId"),
            Some(id) => {
                ids.entry(id.to_owned()).or_default().push(subject.clone());
                snake
                    .entry(id.to_snake_case())
                    .or_default()
                    .insert(id.to_owned());
            }
        }
        lint_parameters(l, &op, &subject);
        lint_request_body(l, &op, &subject);
        lint_responses(l, &op, &subject);
        lint_paging(l, &op, &subject);
        let at = format!("/paths/{}/{}", esc(op.path), op.method);
        // Path-item and operation parameters, `$ref`s resolved.
        for ((loc, name), param) in parameters(&op) {
            if let Some(s) = param.get("schema") {
                walk_schema(
                    l,
                    s,
                    &format!("{at} {loc} parameter `{name}`"),
                    &subject,
                    false,
                );
            }
        }
        for (part, body) in [("requestBody", op.op.get("requestBody"))]
            .into_iter()
            .chain(
                op.op
                    .get("responses")
                    .and_then(Value::as_object)
                    .into_iter()
                    .flatten()
                    .map(|(s, r)| (s.as_str(), Some(r))),
            )
        {
            let prefix = if part == "requestBody" {
                format!("{at}/requestBody")
            } else {
                format!("{at}/responses/{part}")
            };
            for (mt, media) in body
                .and_then(|b| b.get("content"))
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
            {
                if let Some(s) = media.get("schema") {
                    walk_schema(
                        l,
                        s,
                        &format!("{prefix}/content/{}/schema", esc(mt)),
                        &subject,
                        false,
                    );
                }
            }
        }
    }
    for (id, subjects) in &ids {
        if subjects.len() > 1 {
            l.add(
                format!("operationId `{id}`"),
                "operation-id-duplicate",
                format!("used by {}", subjects.join(" and ")),
            );
        }
    }
    for (method, originals) in &snake {
        if originals.len() > 1 {
            let list: Vec<String> = originals.iter().map(|o| format!("`{o}`")).collect();
            l.add(
                format!("operationId `{method}`"),
                "operation-id-collision",
                format!("{} all become the method `{method}`", list.join(", ")),
            );
        }
    }
}

fn lint_parameters(l: &mut Lint, op: &Op, subject: &str) {
    let doc = l.doc;
    let params = parameters(op);
    let placeholders: BTreeSet<&str> = op
        .path
        .split('{')
        .skip(1)
        .filter_map(|s| s.split_once('}').map(|(n, _)| n))
        .collect();
    for ((loc, name), p) in &params {
        let what = format!("{loc} parameter `{name}`");
        let style = p.get("style").and_then(Value::as_str);
        if p.get("explode") == Some(&Value::Bool(false)) {
            l.add(
                subject,
                "explode-false",
                format!("{what}: `explode: false` is ignored by progenitor"),
            );
        }
        if p.get("schema").is_none() {
            l.add(
                subject,
                "parameter-schema",
                format!("{what}: needs a `schema` (`content` is not supported)"),
            );
        }
        match loc.as_str() {
            "path" => {
                if p.get("required") != Some(&Value::Bool(true)) {
                    l.add(
                        subject,
                        "path-param-required",
                        format!("{what} must be `required: true`"),
                    );
                }
                if style.is_some_and(|s| s != "simple") {
                    l.add(
                        subject,
                        "path-param-style",
                        format!(
                            "{what}: style `{}` is not supported (only simple)",
                            style.unwrap_or("")
                        ),
                    );
                }
                if !placeholders.contains(name.as_str()) {
                    l.add(
                        subject,
                        "path-param-template",
                        format!("{what} is not in the path template"),
                    );
                }
            }
            "query" => {
                match style {
                    Some("deepObject") => l.add(
                        subject,
                        "query-deep-object",
                        format!("{what}: `deepObject` is not supported"),
                    ),
                    Some(s) if s != "form" => l.add(
                        subject,
                        "query-style",
                        format!("{what}: style `{s}` is not supported (only form)"),
                    ),
                    _ => {}
                }
                if let Some(s) = p.get("schema") {
                    let s = resolve(doc, s);
                    let object = s.get("type").and_then(Value::as_str) == Some("object")
                        || s.get("properties").is_some()
                        || s.get("additionalProperties").is_some();
                    if object {
                        l.add(subject, "query-object", format!("{what}: object-typed query parameters make progenitor's Builder panic"));
                    }
                }
            }
            "header" => {
                if style.is_some_and(|s| s != "simple") {
                    l.add(
                        subject,
                        "header-style",
                        format!("{what}: only the simple style is supported"),
                    );
                }
            }
            "cookie" => l.add(
                subject,
                "cookie-param",
                format!("{what}: cookie parameters are not supported"),
            ),
            other => l.add(
                subject,
                "parameter-location",
                format!("{what}: unknown location `{other}`"),
            ),
        }
    }
    for name in placeholders {
        if !params.contains_key(&("path".to_owned(), name.to_owned())) {
            l.add(
                subject,
                "path-param-template",
                format!("`{{{name}}}` in the path has no path parameter"),
            );
        }
    }
}

fn lint_request_body(l: &mut Lint, op: &Op, subject: &str) {
    let Some(body) = op.request_body else {
        return;
    };
    // progenitor ignores `required: false` and always sends a body. That is
    // only true to the document when the builder's default body is `{}`: a
    // JSON object schema without required properties.
    if body.get("required") != Some(&Value::Bool(true)) && !defaults_to_empty_object(l.doc, body) {
        l.add(
            subject,
            "request-body-optional",
            "an optional request body must be a JSON object without required properties \
             (progenitor always sends one; its default is `{}`)",
        );
    }
    let content = body.get("content").and_then(Value::as_object);
    let types: Vec<&String> = content.into_iter().flatten().map(|(k, _)| k).collect();
    match types.as_slice() {
        [] => l.add(
            subject,
            "request-body-media",
            "the request body has no media type",
        ),
        [one] => {
            let base = one.split(';').next().unwrap_or("").trim();
            if !BODY_TYPES.contains(&base) {
                l.add(
                    subject,
                    "request-body-media",
                    format!("request media type `{one}` is not supported by progenitor"),
                );
            }
        }
        many => {
            let list: Vec<String> = many.iter().map(|t| format!("`{t}`")).collect();
            l.add(
                subject,
                "request-body-media",
                format!(
                    "the request body has {} media types ({}); progenitor takes one",
                    many.len(),
                    list.join(", ")
                ),
            );
        }
    }
    for (mt, media) in content.into_iter().flatten() {
        if media.get("schema").is_none() {
            l.add(
                subject,
                "request-body-schema",
                format!("request media type `{mt}` has no schema"),
            );
        }
    }
}

/// Whether an optional request body is a JSON object schema whose every
/// property is optional, so the generated builder sends `{}` by default.
fn defaults_to_empty_object(doc: &Value, body: &Value) -> bool {
    let Some(content) = body.get("content").and_then(Value::as_object) else {
        return false;
    };
    content.iter().all(|(mt, media)| {
        let schema = resolve(doc, media.get("schema").unwrap_or(&Value::Null));
        mt.starts_with("application/json")
            && schema.get("type").and_then(Value::as_str) == Some("object")
            && schema
                .get("required")
                .and_then(Value::as_array)
                .is_none_or(Vec::is_empty)
    })
}

fn lint_responses(l: &mut Lint, op: &Op, subject: &str) {
    let doc = l.doc;
    if op.op.get("responses").and_then(Value::as_object).is_none() {
        l.add(subject, "responses", "no `responses`");
        return;
    }
    let mut success = BTreeMap::new();
    let mut errors = BTreeMap::new();
    for &(status, r) in &op.responses {
        if status == "default" {
            l.add(subject, "default-response", "a `default` response counts as success and error in progenitor; use 4XX/5XX or none");
            continue;
        }
        for (mt, media) in r
            .get("content")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            if mt.starts_with("application/json") {
                if media.get("schema").is_none() {
                    l.add(
                        subject,
                        "response-schema",
                        format!("response {status} `{mt}` has no schema"),
                    );
                }
                if media
                    .get("encoding")
                    .and_then(Value::as_object)
                    .is_some_and(|e| !e.is_empty())
                {
                    l.add(
                        subject,
                        "response-encoding",
                        format!("response {status} `{mt}` has an `encoding`"),
                    );
                }
            }
        }
        let kind = response_kind(doc, r);
        if is_success(status) {
            success
                .entry(kind)
                .or_insert_with(Vec::new)
                .push(status.to_owned());
        } else if is_error(status) {
            errors
                .entry(kind)
                .or_insert_with(Vec::new)
                .push(status.to_owned());
        }
    }
    if success.len() > 1 {
        let list: Vec<String> = success.values().map(|s| s.join("/")).collect();
        l.add(
            subject,
            "success-bodies",
            format!(
                "success responses with different bodies ({}); progenitor allows one kind",
                list.join(" vs ")
            ),
        );
    }
    if errors.len() > 1 {
        let list: Vec<String> = errors.values().map(|s| s.join("/")).collect();
        l.add(
            subject,
            "error-bodies",
            format!(
                "error responses with different bodies ({}); progenitor allows one kind",
                list.join(" vs ")
            ),
        );
    }
}

/// build.rs: an operation returning `*Page` needs a `cursor` parameter.
fn lint_paging(l: &mut Lint, op: &Op, subject: &str) {
    let Some(page) = op
        .op
        .pointer("/responses/2XX/content/application~1json/schema")
        .and_then(referenced_name)
        .filter(|n| n.ends_with("Page"))
    else {
        return;
    };
    if !parameters(op).keys().any(|(_, n)| n == "cursor") {
        l.add(
            subject,
            "page-cursor",
            format!("returns `{page}` but has no `cursor` parameter (build.rs pages with it)"),
        );
    }
}

fn lint_schemas(l: &mut Lint) {
    let doc = l.doc;
    let Some(schemas) = doc
        .pointer("/components/schemas")
        .and_then(Value::as_object)
    else {
        return;
    };
    let mut pascal: BTreeMap<String, Vec<&String>> = BTreeMap::new();
    for name in schemas.keys() {
        pascal.entry(name.to_pascal_case()).or_default().push(name);
    }
    for (p, names) in &pascal {
        if names.len() > 1 {
            let list: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
            l.add(
                format!("schema `{p}`"),
                "schema-name-collision",
                format!("{} all become the type `{p}`", list.join(", ")),
            );
        }
    }
    for (name, s) in schemas {
        let subject = format!("schema `{name}`");
        if s.get("type").and_then(Value::as_str) == Some("string") {
            if let Some(values) = s.get("enum").and_then(Value::as_array) {
                // A named string enum: build.rs turns it into an open enum.
                let mut seen: BTreeMap<String, &Value> = BTreeMap::new();
                if values.is_empty() {
                    l.add(&subject, "enum-values", "an enum without values");
                }
                for v in values {
                    let Some(text) = v.as_str() else {
                        l.add(
                            &subject,
                            "enum-values",
                            format!("value {v} is not a string"),
                        );
                        continue;
                    };
                    if let Some(prev) = seen.insert(variant_name(text), v) {
                        l.add(
                            &subject,
                            "enum-values",
                            format!(
                                "values {prev} and {v} both become the variant `{}`",
                                variant_name(text)
                            ),
                        );
                    }
                }
                if s.get("nullable") == Some(&Value::Bool(true)) {
                    l.add(&subject, "enum-nullable", "a named enum must not be nullable; make the property nullable (allOf + nullable)");
                }
                continue;
            }
        }
        if name.ends_with("Page") {
            if let Some(props) = s.get("properties").and_then(Value::as_object) {
                let envelope = props.len() == 3
                    && props.contains_key("next")
                    && props.contains_key("previous")
                    && props.get("results").and_then(|r| r.get("items")).is_some();
                if envelope && referenced_name(&props["results"]["items"]).is_none() {
                    l.add(
                        &subject,
                        "page-envelope",
                        "`results.items` must be a `$ref` (build.rs pages over named items)",
                    );
                }
            }
        }
        let variant = l.variants.contains(name);
        walk_schema(
            l,
            s,
            &format!("/components/schemas/{}", esc(name)),
            &subject,
            variant,
        );
    }
}

/// Walks an inline schema. `variant`: this schema is a `oneOf` variant (whose
/// properties may carry a single-value string tag).
fn walk_schema(l: &mut Lint, s: &Value, at: &str, subject: &str, variant: bool) {
    let Some(m) = s.as_object() else { return };
    if m.contains_key("$ref") {
        return;
    }
    if m.contains_key("discriminator") {
        l.add(subject, "discriminator", format!("`discriminator` at `{at}` is ignored by progenitor; use inline oneOf variants with a single-value tag"));
    }
    let top_level_component =
        at.matches('/').count() == 3 && at.starts_with("/components/schemas/");
    if let Some(values) = m.get("enum").and_then(Value::as_array) {
        if !top_level_component
            && m.get("type").and_then(Value::as_str).unwrap_or("string") == "string"
        {
            l.add(subject, "inline-enum", format!("inline string enum {} at `{at}`: make it a named component (overlay `namedEnums`) so it gets an open enum", Value::Array(values.clone())));
        }
    }
    if let Some(props) = m.get("properties").and_then(Value::as_object) {
        for (p, ps) in props {
            let child = format!("{at}/properties/{}", esc(p));
            let is_tag = variant
                && ps.get("type").and_then(Value::as_str) == Some("string")
                && ps
                    .get("enum")
                    .and_then(Value::as_array)
                    .is_some_and(|v| v.len() == 1);
            if is_tag {
                continue;
            }
            walk_schema(l, ps, &child, subject, false);
        }
    }
    if let Some(items) = m.get("items") {
        walk_schema(l, items, &format!("{at}/items"), subject, false);
    }
    if let Some(ap) = m.get("additionalProperties").filter(|v| v.is_object()) {
        walk_schema(l, ap, &format!("{at}/additionalProperties"), subject, false);
    }
    for key in ["allOf", "anyOf", "oneOf"] {
        for (i, sub) in m
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            walk_schema(l, sub, &format!("{at}/{key}/{i}"), subject, key == "oneOf");
        }
    }
    if let Some(not) = m.get("not") {
        walk_schema(l, not, &format!("{at}/not"), subject, false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc_with(op: Value) -> Value {
        json!({
            "openapi": "3.0.3",
            "info": {"title": "t", "version": "1"},
            "paths": {"/things/{uid}/": {"post": op}},
            "components": {"schemas": {
                "Thing": {"type": "object", "properties": {"uid": {"type": "string"}}},
                "Status": {"type": "string", "enum": ["a", "b"]}
            }}
        })
    }

    fn good_op() -> Value {
        json!({
            "operationId": "make_thing",
            "parameters": [{"in": "path", "name": "uid", "required": true, "schema": {"type": "string"}}],
            "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Thing"}}}},
            "responses": {"2XX": {"description": "ok", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Thing"}}}}}
        })
    }

    /// The generation rules' ids (the documentation rules have their own
    /// tests in `crate::docs`).
    fn rules(doc: &Value) -> Vec<&'static str> {
        shape(doc).into_iter().map(|f| f.rule).collect()
    }

    #[test]
    fn clean_document_has_no_findings() {
        assert_eq!(shape(&doc_with(good_op())), vec![]);
    }

    #[test]
    fn checked_in_document_is_clean() {
        let path = crate::cli::workspace_root().join("openapi/avala.json");
        let doc: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let findings: Vec<String> = lint(&doc).iter().map(ToString::to_string).collect();
        assert!(findings.is_empty(), "{findings:#?}");
    }

    #[test]
    fn each_rule_fires_and_names_the_operation() {
        let cases: Vec<(&str, Value)> = vec![
            (
                "default-response",
                json!({"/responses/default": {"description": "e"}}),
            ),
            (
                "success-bodies",
                json!({"/responses/204": {"description": "none"}}),
            ),
            (
                "error-bodies",
                json!({"/responses/400": {"description": "e", "content": {"application/json": {"schema": {"type": "string"}}}}, "/responses/404": {"description": "e"}}),
            ),
            (
                "request-body-media",
                json!({"/requestBody/content/multipart~1form-data": {"schema": {"type": "object"}}}),
            ),
            (
                "request-body-optional",
                json!({"/requestBody/required": false, "/requestBody/content/application~1json/schema": {"type": "object", "required": ["uid"], "properties": {"uid": {"type": "string"}}}}),
            ),
            (
                "path-param-required",
                json!({"/parameters/0/required": false}),
            ),
            ("path-param-style", json!({"/parameters/0/style": "label"})),
            ("explode-false", json!({"/parameters/0/explode": false})),
            (
                "cookie-param",
                json!({"/parameters/1": {"in": "cookie", "name": "c", "schema": {"type": "string"}}}),
            ),
            (
                "query-deep-object",
                json!({"/parameters/1": {"in": "query", "name": "f", "style": "deepObject", "schema": {"type": "string"}}}),
            ),
            (
                "query-object",
                json!({"/parameters/1": {"in": "query", "name": "f", "schema": {"$ref": "#/components/schemas/Thing"}}}),
            ),
            (
                "inline-enum",
                json!({"/parameters/1": {"in": "query", "name": "s", "schema": {"type": "string", "enum": ["x", "y"]}}}),
            ),
            ("operation-id-missing", json!({"/operationId": null})),
            ("path-param-template", json!({"/parameters/0/name": "id"})),
            (
                "unresolved-ref",
                json!({"/requestBody/content/application~1json/schema/$ref": "#/components/schemas/Nope"}),
            ),
        ];
        for (rule, edits) in cases {
            let mut op = good_op();
            for (ptr, v) in edits.as_object().unwrap() {
                let (parent, last) = ptr.rsplit_once('/').unwrap();
                let last = last.replace("~1", "/");
                let target = op.pointer_mut(parent).unwrap_or_else(|| panic!("{ptr}"));
                match target {
                    Value::Array(a) if last.parse::<usize>().unwrap() >= a.len() => {
                        a.push(v.clone())
                    }
                    Value::Array(a) => a[last.parse::<usize>().unwrap()] = v.clone(),
                    Value::Object(m) if v.is_null() => {
                        m.remove(&last);
                    }
                    Value::Object(m) => {
                        m.insert(last, v.clone());
                    }
                    _ => panic!("{ptr}"),
                }
            }
            let findings = shape(&doc_with(op));
            assert!(
                findings.iter().any(|f| f.rule == rule),
                "{rule}: {findings:?}"
            );
            let f = findings.iter().find(|f| f.rule == rule).unwrap();
            assert!(f.subject.contains("POST /things/{uid}/"), "{rule}: {f}");
        }
    }

    #[test]
    fn an_optional_body_is_fine_when_its_default_is_an_empty_object() {
        let mut op = good_op();
        op["requestBody"]["required"] = json!(false);
        // `Thing` has no required property: the builder sends `{}`.
        assert_eq!(rules(&doc_with(op.clone())), Vec::<&str>::new());
        op["requestBody"]["content"]["application/json"]["schema"] = json!({"type": "string"});
        assert_eq!(rules(&doc_with(op)), vec!["request-body-optional"]);
    }

    #[test]
    fn document_level_rules() {
        let mut d = doc_with(good_op());
        d["paths"]["/other/"] = json!({"get": {"operationId": "makeThing", "responses": {"2XX": {"description": "ok"}}},
                                       "put": {"operationId": "make_thing", "responses": {"2XX": {"description": "ok"}}}});
        d["paths"]["/ref/"] = json!({"$ref": "#/paths/~1other~1"});
        d["components"]["schemas"]["thing"] = json!({"type": "object"});
        d["components"]["schemas"]["Shape"] = json!({"oneOf": [{"$ref": "#/components/schemas/Thing"}], "discriminator": {"propertyName": "kind"}});
        d["components"]["schemas"]["Bad"] = json!({"type": "string", "enum": ["a-b", "a_b"]});
        d["openapi"] = json!("3.1.0");
        let r = rules(&d);
        for rule in [
            "operation-id-duplicate",
            "operation-id-collision",
            "path-item-ref",
            "schema-name-collision",
            "discriminator",
            "enum-values",
            "version",
        ] {
            assert!(r.contains(&rule), "{rule}: {r:?}");
        }
    }

    #[test]
    fn single_value_tag_in_a_oneof_variant_is_allowed_elsewhere_not() {
        let mut d = doc_with(good_op());
        d["components"]["schemas"]["Put"] = json!({"type": "object", "properties": {"method": {"type": "string", "enum": ["PUT"]}}});
        d["components"]["schemas"]["Target"] = json!({"oneOf": [{"$ref": "#/components/schemas/Put"},
            {"type": "object", "properties": {"method": {"type": "string", "enum": ["POST"]}}}]});
        assert_eq!(rules(&d), Vec::<&str>::new());
        d["components"]["schemas"]["Lonely"] = json!({"type": "object", "properties": {"method": {"type": "string", "enum": ["PUT"]}}});
        assert_eq!(rules(&d), vec!["inline-enum"]);
    }
}

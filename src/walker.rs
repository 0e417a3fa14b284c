//! The one walk over the operations of an OpenAPI 3.0 document, as a plain
//! `serde_json::Value`: paths × methods, with the parameters merged and the
//! local `$ref`s of parameters, request bodies and responses followed.
//!
//! Four readers share it: `build.rs` and `xtask` include this file with
//! `#[path]`, the mock (feature `mock`) uses it as a crate module, and the
//! CLI's build script reads what `build.rs` walked (`operations.json`), so
//! that all four see the same operations in the same order.

use serde_json::Value;

/// The keys of a path item that are operations; every other key
/// (`parameters`, `summary`, `servers`, `x-…`) is not.
pub const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// One operation of the document, its `$ref`s followed.
#[derive(Debug, Clone)]
pub struct Operation<'a> {
    /// The path template, as the document's key (`/datasets/{uid}/`).
    pub path: &'a str,
    /// The method, lower case as the document's key (`get`).
    pub method: &'a str,
    /// The operation object itself.
    pub op: &'a Value,
    /// The path item the operation is in.
    pub item: &'a Value,
    /// The `tags`, in order (strings only).
    pub tags: Vec<&'a str>,
    /// The path item's parameters, each replaced by the operation's of the
    /// same `in` and `name`, then the operation's others, in document order.
    pub parameters: Vec<&'a Value>,
    /// The request body, if any.
    pub request_body: Option<&'a Value>,
    /// The responses by status key, in document order.
    pub responses: Vec<(&'a str, &'a Value)>,
}

impl<'a> Operation<'a> {
    /// The `operationId`, when the document gives a non-empty one.
    pub fn id(&self) -> Option<&'a str> {
        let id = self.op.get("operationId").and_then(Value::as_str);
        id.filter(|id| !id.is_empty())
    }

    /// How messages name the operation: ``operation `get_dataset` (GET
    /// /datasets/{uid}/)``, or `operation GET /x` without an id.
    pub fn subject(&self) -> String {
        let route = format!("{} {}", self.method.to_ascii_uppercase(), self.path);
        match self.id() {
            Some(id) => format!("operation `{id}` ({route})"),
            None => format!("operation {route}"),
        }
    }
}

/// Every operation, with or without an `operationId`, in document order
/// (paths, then methods, as the parsed map keeps them). A path item that is
/// not an object has no operations.
pub fn operations(doc: &Value) -> Vec<Operation<'_>> {
    let paths = doc.get("paths").and_then(Value::as_object);
    let mut out = Vec::new();
    for (path, item) in paths.into_iter().flatten() {
        for (method, op) in item.as_object().into_iter().flatten() {
            if METHODS.contains(&method.as_str()) {
                out.push(operation(doc, path, method, op, item));
            }
        }
    }
    out
}

/// [`operations`], refusing one without a non-empty `operationId`: what
/// generates code or commands needs a name for each.
pub fn identified(doc: &Value) -> Result<Vec<Operation<'_>>, String> {
    let ops = operations(doc);
    match ops.iter().find(|op| op.id().is_none()) {
        Some(op) => Err(format!("{}: no operationId", op.subject())),
        None => Ok(ops),
    }
}

fn operation<'a>(
    doc: &'a Value,
    path: &'a str,
    method: &'a str,
    op: &'a Value,
    item: &'a Value,
) -> Operation<'a> {
    let tags = op.get("tags").and_then(Value::as_array);
    let responses = op.get("responses").and_then(Value::as_object);
    Operation {
        path,
        method,
        op,
        item,
        tags: tags
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect(),
        parameters: merged_parameters(doc, item, op),
        request_body: op.get("requestBody").map(|b| resolve(doc, b)),
        responses: responses
            .into_iter()
            .flatten()
            .map(|(status, r)| (status.as_str(), resolve(doc, r)))
            .collect(),
    }
}

/// OpenAPI's rule: an operation's parameter overrides the path item's of
/// the same location and name. One without both keeps its place and
/// overrides nothing (the lint reports it).
fn merged_parameters<'a>(doc: &'a Value, item: &'a Value, op: &'a Value) -> Vec<&'a Value> {
    let list = |v: &'a Value| {
        let params = v.get("parameters").and_then(Value::as_array);
        params.into_iter().flatten().map(|p| resolve(doc, p))
    };
    let mut merged: Vec<&Value> = list(item).collect();
    for p in list(op) {
        match merged
            .iter()
            .position(|q| key(q).is_some() && key(q) == key(p))
        {
            Some(at) => merged[at] = p,
            None => merged.push(p),
        }
    }
    merged
}

/// A parameter's `(in, name)`, when it has both.
fn key(p: &Value) -> Option<(&str, &str)> {
    Some((p.get("in")?.as_str()?, p.get("name")?.as_str()?))
}

/// Follows local `$ref`s (`#/…`), at most 16 deep; a `$ref` that does not
/// resolve is returned as it is (the lint reports it).
pub fn resolve<'a>(doc: &'a Value, mut v: &'a Value) -> &'a Value {
    for _ in 0..16 {
        let target = v
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| r.strip_prefix('#'))
            .and_then(|ptr| doc.pointer(ptr));
        match target {
            Some(t) => v = t,
            None => return v,
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc(paths: Value) -> Value {
        json!({
            "openapi": "3.0.3",
            "paths": paths,
            "components": {
                "parameters": {
                    "Limit": {"in": "query", "name": "limit", "schema": {"type": "integer"}}
                },
                "requestBodies": {
                    "Thing": {"required": true, "content": {"application/json": {"schema": {}}}}
                },
                "responses": {
                    "Ok": {"description": "ok"}
                }
            }
        })
    }

    #[test]
    fn operation_parameters_override_the_path_items_by_location_and_name() {
        let d = doc(json!({"/things/{uid}/": {
            "parameters": [
                {"in": "path", "name": "uid", "required": true, "description": "item"},
                {"in": "query", "name": "uid", "description": "other location"}
            ],
            "get": {"operationId": "get_thing", "parameters": [
                {"in": "query", "name": "expand"},
                {"in": "path", "name": "uid", "required": true, "description": "operation"}
            ]}
        }}));
        let ops = operations(&d);
        let described: Vec<&str> = ops[0]
            .parameters
            .iter()
            .map(|p| p.get("description").and_then(Value::as_str).unwrap_or("-"))
            .collect();
        assert_eq!(described, ["operation", "other location", "-"]);
    }

    #[test]
    fn refs_of_parameters_bodies_and_responses_are_followed() {
        let d = doc(json!({"/things/": {
            "parameters": [{"$ref": "#/components/parameters/Limit"}],
            "post": {
                "operationId": "make_thing",
                "parameters": [{"$ref": "#/components/parameters/Nope"}],
                "requestBody": {"$ref": "#/components/requestBodies/Thing"},
                "responses": {"2XX": {"$ref": "#/components/responses/Ok"}}
            }
        }}));
        let op = &operations(&d)[0];
        assert_eq!(op.parameters[0]["name"], "limit");
        // An unresolved `$ref` stays as it is, for the lint to report.
        assert_eq!(op.parameters[1]["$ref"], "#/components/parameters/Nope");
        assert_eq!(op.request_body.unwrap()["required"], true);
        assert_eq!(op.responses, [("2XX", &json!({"description": "ok"}))]);
    }

    #[test]
    fn keys_of_a_path_item_that_are_not_methods_are_skipped() {
        let d = doc(json!({
            "/a/": {
                "summary": "a", "description": "b", "servers": [],
                "parameters": [{"in": "query", "name": "q"}],
                "x-extra": {"operationId": "not_an_operation"},
                "get": {"operationId": "list_a", "tags": ["a", 1, "b"]},
                "post": {"operationId": "make_a"}
            },
            "/b/": "not a path item"
        }));
        let ops = operations(&d);
        let walked: Vec<(&str, &str, Option<&str>)> =
            ops.iter().map(|o| (o.path, o.method, o.id())).collect();
        assert_eq!(
            walked,
            [
                ("/a/", "get", Some("list_a")),
                ("/a/", "post", Some("make_a"))
            ]
        );
        assert_eq!(ops[0].tags, ["a", "b"]);
        assert_eq!(ops[1].parameters, [&json!({"in": "query", "name": "q"})]);
    }

    #[test]
    fn an_operation_without_an_id_is_walked_but_not_identified() {
        let d = doc(json!({"/a/": {
            "get": {"operationId": "list_a"},
            "delete": {"operationId": ""},
            "put": {}
        }}));
        assert_eq!(operations(&d).len(), 3);
        let e = identified(&d).unwrap_err();
        assert_eq!(e, "operation DELETE /a/: no operationId");
        let mut ok = d.clone();
        ok["paths"]["/a/"] = json!({"get": {"operationId": "list_a"}});
        assert_eq!(
            identified(&ok).unwrap()[0].subject(),
            "operation `list_a` (GET /a/)"
        );
    }
}

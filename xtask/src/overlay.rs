//! The overlay: what keeps the SDK's public names stable when the upstream
//! document names things differently.
//!
//! Format (`openapi/overlay.json`; unknown keys are an error):
//!
//! ```json
//! {
//!   "$comment": "free text, ignored",
//!   "schemaRenames": { "UpstreamName": "OurName" },
//!   "operationIds": { "GET /datasets/": "list_datasets" },
//!   "patches": [ { "pointer": "/components/schemas/Dataset", "merge": { "required": ["uid"] } } ],
//!   "namedEnums": [ { "pointer": "/components/schemas/Dataset/properties/data_type", "name": "DataType" } ]
//! }
//! ```
//!
//! Applied in this order, each step idempotent so that the overlay is a no-op
//! on a document that already has our names:
//!
//! 1. `schemaRenames`: the component `UpstreamName` becomes `OurName`, and every
//!    `$ref` (and discriminator mapping) to it is rewritten. Skipped when only
//!    `OurName` exists; an error when both exist.
//! 2. `operationIds`: keyed by `METHOD path` (method upper-case, path exactly as
//!    in the document), the operation there gets that `operationId`, whatever
//!    upstream called it. A key with no operation is reported (removed
//!    upstream?) and skipped.
//! 3. `patches`: an RFC 7386 JSON merge patch applied at a JSON pointer (RFC 6901;
//!    `~1` is `/`), after the renames, so pointers use our names. The parent of
//!    the pointer must exist; the target itself is created if missing. `null`
//!    in `merge` deletes a key.
//! 4. `namedEnums`: the inline string enum at `pointer` is lifted into the
//!    component `name` (`{"type": "string", "enum": [...]}`) and replaced by a
//!    `$ref` (or `allOf: [$ref]` when the site keeps `description`, `nullable`,
//!    `default`...), so that build.rs gives it an open enum. Skipped when the
//!    site is already a reference or the pointer does not exist; an error when
//!    `name` exists with other values.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::walker::METHODS;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Overlay {
    #[serde(rename = "$comment", default)]
    pub comment: Option<Value>,
    #[serde(default)]
    pub schema_renames: BTreeMap<String, String>,
    #[serde(default)]
    pub operation_ids: BTreeMap<String, String>,
    #[serde(default)]
    pub patches: Vec<Patch>,
    #[serde(default)]
    pub named_enums: Vec<NamedEnum>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Patch {
    pub pointer: String,
    pub merge: Value,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NamedEnum {
    pub pointer: String,
    pub name: String,
}

/// `"GET /datasets/"` -> `("get", "/datasets/")`.
pub fn split_key(key: &str) -> Result<(String, &str), String> {
    let (method, path) = key
        .split_once(' ')
        .ok_or_else(|| format!("overlay: operation key `{key}` is not `METHOD /path`"))?;
    let lower = method.to_ascii_lowercase();
    if method != method.to_ascii_uppercase() || !METHODS.contains(&lower.as_str()) {
        return Err(format!(
            "overlay: operation key `{key}`: `{method}` is not an upper-case HTTP method"
        ));
    }
    if !path.starts_with('/') {
        return Err(format!(
            "overlay: operation key `{key}`: the path must start with `/`"
        ));
    }
    Ok((lower, path))
}

/// The `METHOD path` key of an operation.
pub fn key(method: &str, path: &str) -> String {
    format!("{} {path}", method.to_ascii_uppercase())
}

fn valid_component_name(n: &str) -> bool {
    !n.is_empty()
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Escapes one JSON-pointer segment.
pub fn esc(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

impl Overlay {
    pub fn parse(text: &str, origin: &str) -> Result<Self, String> {
        let overlay: Overlay = serde_json::from_str(text)
            .map_err(|e| format!("{origin} is not a valid overlay: {e}"))?;
        overlay.validate().map_err(|e| format!("{origin}: {e}"))?;
        Ok(overlay)
    }

    pub fn load(path: &std::path::Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the overlay {}: {e}", path.display()))?;
        Self::parse(&text, &path.display().to_string())
    }

    fn validate(&self) -> Result<(), String> {
        for (from, to) in &self.schema_renames {
            if !valid_component_name(from) || !valid_component_name(to) {
                return Err(format!(
                    "schema rename `{from}` -> `{to}`: not a component name"
                ));
            }
            if self.schema_renames.contains_key(to) {
                return Err(format!(
                    "schema rename `{from}` -> `{to}`: `{to}` is itself renamed (no chains)"
                ));
            }
        }
        let mut ids = BTreeMap::new();
        for (k, id) in &self.operation_ids {
            split_key(k)?;
            if id.is_empty() {
                return Err(format!("operation `{k}`: empty operationId"));
            }
            if let Some(other) = ids.insert(id, k) {
                return Err(format!(
                    "operationId `{id}` is given to both `{other}` and `{k}`"
                ));
            }
        }
        for p in &self.patches {
            if !p.pointer.starts_with('/') {
                return Err(format!("patch pointer `{}` must start with `/`", p.pointer));
            }
        }
        for e in &self.named_enums {
            if !e.pointer.starts_with('/') || !valid_component_name(&e.name) {
                return Err(format!(
                    "named enum `{}` at `{}`: bad pointer or name",
                    e.name, e.pointer
                ));
            }
        }
        Ok(())
    }

    /// Applies the overlay in place. Returns notes on entries that had
    /// nothing to act on (for stderr); errors leave `doc` in an unspecified
    /// state, so callers apply it to a copy.
    pub fn apply(&self, doc: &mut Value) -> Result<Vec<String>, String> {
        let mut notes = Vec::new();
        self.rename_schemas(doc, &mut notes)?;
        self.set_operation_ids(doc, &mut notes);
        for p in &self.patches {
            apply_patch(doc, &p.pointer, &p.merge)?;
        }
        for e in &self.named_enums {
            lift_enum(doc, e, &mut notes)?;
        }
        Ok(notes)
    }

    fn rename_schemas(&self, doc: &mut Value, notes: &mut Vec<String>) -> Result<(), String> {
        let mut renamed = BTreeMap::new();
        let Some(schemas) = doc
            .pointer_mut("/components/schemas")
            .and_then(Value::as_object_mut)
        else {
            if !self.schema_renames.is_empty() {
                notes.push("overlay: no components.schemas; schema renames skipped".into());
            }
            return Ok(());
        };
        for (from, to) in &self.schema_renames {
            match (schemas.contains_key(from), schemas.contains_key(to)) {
                (true, true) => {
                    return Err(format!(
                        "overlay: cannot rename schema `{from}` to `{to}`: both exist"
                    ))
                }
                (true, false) => {
                    let s = schemas.remove(from).unwrap_or_default();
                    schemas.insert(to.clone(), s);
                    renamed.insert(
                        format!("#/components/schemas/{from}"),
                        format!("#/components/schemas/{to}"),
                    );
                }
                (false, true) => {}
                (false, false) => notes.push(format!(
                    "overlay: schema rename `{from}` -> `{to}`: neither exists, skipped"
                )),
            }
        }
        if !renamed.is_empty() {
            rewrite_refs(doc, &renamed);
        }
        Ok(())
    }

    fn set_operation_ids(&self, doc: &mut Value, notes: &mut Vec<String>) {
        for (k, id) in &self.operation_ids {
            // Keys were validated in `parse`.
            let Ok((method, path)) = split_key(k) else {
                continue;
            };
            match doc
                .get_mut("paths")
                .and_then(|p| p.get_mut(path))
                .and_then(|item| item.get_mut(&method))
                .and_then(Value::as_object_mut)
            {
                Some(op) => {
                    op.insert("operationId".into(), Value::String(id.clone()));
                }
                None => notes.push(format!(
                    "overlay: no operation `{k}` (`{id}`) in the document: removed upstream?"
                )),
            }
        }
    }
}

/// Rewrites `$ref`s (and discriminator mapping values) that point at a
/// renamed schema, or inside one.
fn rewrite_refs(v: &mut Value, renamed: &BTreeMap<String, String>) {
    let fix = |s: &mut String| {
        for (from, to) in renamed {
            if s == from {
                *s = to.clone();
                return;
            }
            if let Some(rest) = s.strip_prefix(from.as_str()) {
                if rest.starts_with('/') {
                    *s = format!("{to}{rest}");
                    return;
                }
            }
        }
    };
    match v {
        Value::Object(m) => {
            for (k, child) in m.iter_mut() {
                match (k.as_str(), child) {
                    ("$ref", Value::String(s)) => fix(s),
                    ("mapping", Value::Object(map)) => {
                        for target in map.values_mut() {
                            if let Value::String(s) = target {
                                fix(s);
                            }
                        }
                    }
                    (_, child) => rewrite_refs(child, renamed),
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|c| rewrite_refs(c, renamed)),
        _ => {}
    }
}

/// Splits a pointer into (parent pointer, unescaped last segment).
fn split_pointer(pointer: &str) -> Option<(&str, String)> {
    let (parent, last) = pointer.rsplit_once('/')?;
    Some((parent, last.replace("~1", "/").replace("~0", "~")))
}

/// RFC 7386 merge patch.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(t) = target {
        for (k, v) in p {
            if v.is_null() {
                t.remove(k);
            } else {
                merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
    }
}

fn apply_patch(doc: &mut Value, pointer: &str, merge: &Value) -> Result<(), String> {
    if let Some(target) = doc.pointer_mut(pointer) {
        merge_patch(target, merge);
        return Ok(());
    }
    let (parent, last) = split_pointer(pointer)
        .ok_or_else(|| format!("overlay: patch pointer `{pointer}` is invalid"))?;
    match doc.pointer_mut(parent) {
        Some(Value::Object(m)) => {
            let mut v = Value::Null;
            merge_patch(&mut v, merge);
            m.insert(last, v);
            Ok(())
        }
        _ => Err(format!(
            "overlay: patch pointer `{pointer}`: `{parent}` does not exist in the document"
        )),
    }
}

/// The schema name of `{"$ref": "#/components/schemas/X"}` or
/// `{"allOf": [{"$ref": ...}], ...}`.
pub fn referenced_name(v: &Value) -> Option<&str> {
    let r = v
        .get("$ref")
        .or_else(|| match v.get("allOf")?.as_array()?.as_slice() {
            [only] => only.get("$ref"),
            _ => None,
        })?;
    r.as_str()?.strip_prefix("#/components/schemas/")
}

fn lift_enum(doc: &mut Value, e: &NamedEnum, notes: &mut Vec<String>) -> Result<(), String> {
    let Some(site) = doc.pointer(&e.pointer) else {
        notes.push(format!(
            "overlay: named enum `{}`: `{}` does not exist, skipped",
            e.name, e.pointer
        ));
        return Ok(());
    };
    if referenced_name(site).is_some() {
        return Ok(()); // Already named (by us, or by upstream under a name renamed above).
    }
    let values = match (site.get("type").and_then(Value::as_str), site.get("enum")) {
        (Some("string") | None, Some(Value::Array(values)))
            if values.iter().all(Value::is_string) =>
        {
            values.clone()
        }
        _ => {
            return Err(format!(
                "overlay: named enum `{}`: `{}` is not an inline string enum",
                e.name, e.pointer
            ))
        }
    };
    let mut rest = site.as_object().cloned().unwrap_or_default();
    rest.remove("type");
    rest.remove("enum");

    let schemas = doc
        .as_object_mut()
        .ok_or("overlay: the document is not an object")?
        .entry("components")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .ok_or("overlay: `components` is not an object")?
        .entry("schemas")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .ok_or("overlay: `components.schemas` is not an object")?;
    match schemas.get(&e.name) {
        Some(existing) => {
            let have: BTreeSet<String> = existing
                .get("enum")
                .and_then(Value::as_array)
                .map(|a| a.iter().map(ToString::to_string).collect())
                .unwrap_or_default();
            if have != values.iter().map(ToString::to_string).collect() {
                return Err(format!(
                    "overlay: named enum `{}` at `{}`: the component exists with other values",
                    e.name, e.pointer
                ));
            }
        }
        None => {
            schemas.insert(e.name.clone(), json!({"type": "string", "enum": values}));
        }
    }
    let reference = json!({ "$ref": format!("#/components/schemas/{}", e.name) });
    let replacement = if rest.is_empty() {
        reference
    } else {
        rest.insert("allOf".into(), json!([reference]));
        Value::Object(rest)
    };
    if let Some(site) = doc.pointer_mut(&e.pointer) {
        *site = replacement;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc() -> Value {
        json!({
            "openapi": "3.0.3",
            "paths": {
                "/datasets/": {"get": {"operationId": "datasets_list", "responses": {
                    "2XX": {"description": "ok", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/DatasetOut"}}}}
                }}}
            },
            "components": {"schemas": {
                "DatasetOut": {"type": "object", "properties": {
                    "kind": {"type": "string", "enum": ["a", "b"], "nullable": true},
                    "self": {"$ref": "#/components/schemas/DatasetOut/properties/kind"}
                }}
            }}
        })
    }

    fn overlay() -> Overlay {
        Overlay::parse(
            r#"{
              "$comment": "test",
              "schemaRenames": {"DatasetOut": "Dataset"},
              "operationIds": {"GET /datasets/": "list_datasets", "DELETE /gone/": "delete_gone"},
              "patches": [{"pointer": "/components/schemas/Dataset/required", "merge": ["kind"]}],
              "namedEnums": [{"pointer": "/components/schemas/Dataset/properties/kind", "name": "DatasetKind"}]
            }"#,
            "t",
        )
        .unwrap()
    }

    #[test]
    fn applies_every_kind_of_entry_and_is_idempotent() {
        let mut d = doc();
        let notes = overlay().apply(&mut d).unwrap();
        assert_eq!(
            d["paths"]["/datasets/"]["get"]["operationId"],
            "list_datasets"
        );
        assert_eq!(
            d.pointer(
                "/paths/~1datasets~1/get/responses/2XX/content/application~1json/schema/$ref"
            ),
            Some(&json!("#/components/schemas/Dataset"))
        );
        assert!(d.pointer("/components/schemas/DatasetOut").is_none());
        assert_eq!(
            d["components"]["schemas"]["Dataset"]["required"],
            json!(["kind"])
        );
        assert_eq!(
            d["components"]["schemas"]["Dataset"]["properties"]["self"]["$ref"],
            "#/components/schemas/Dataset/properties/kind"
        );
        assert_eq!(
            d["components"]["schemas"]["Dataset"]["properties"]["kind"],
            json!({"allOf": [{"$ref": "#/components/schemas/DatasetKind"}], "nullable": true})
        );
        assert_eq!(
            d["components"]["schemas"]["DatasetKind"],
            json!({"type": "string", "enum": ["a", "b"]})
        );
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert!(notes[0].contains("DELETE /gone/"));

        let once = d.clone();
        overlay().apply(&mut d).unwrap();
        assert_eq!(d, once, "a second application changes nothing");
    }

    #[test]
    fn refuses_bad_overlays_and_conflicts() {
        assert!(Overlay::parse(r#"{"operationIds": {"get /a": "x"}}"#, "t").is_err());
        assert!(
            Overlay::parse(r#"{"operationIds": {"GET /a": "x", "PUT /a": "x"}}"#, "t")
                .unwrap_err()
                .contains("both")
        );
        assert!(Overlay::parse(r#"{"schemaRenames": {"A": "B", "B": "C"}}"#, "t").is_err());
        assert!(Overlay::parse(r#"{"unknown": 1}"#, "t")
            .unwrap_err()
            .contains("unknown"));

        let mut d = doc();
        d["components"]["schemas"]["Dataset"] = json!({});
        let e = overlay().apply(&mut d).unwrap_err();
        assert!(e.contains("both exist"), "{e}");

        let o =
            Overlay::parse(r#"{"patches": [{"pointer": "/nope/x", "merge": {}}]}"#, "t").unwrap();
        assert!(o.apply(&mut doc()).unwrap_err().contains("does not exist"));
    }

    #[test]
    fn merge_patch_follows_rfc_7386() {
        let mut t = json!({"a": "b", "c": {"d": "e", "f": "g"}});
        merge_patch(&mut t, &json!({"a": "z", "c": {"f": null}}));
        assert_eq!(t, json!({"a": "z", "c": {"d": "e"}}));
    }
}

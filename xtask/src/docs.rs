//! The documentation rules of the lint: what a user reads in rustdoc and in
//! `avala --help` comes from the document, so the document may not fall back
//! to internal ids or provenance notes.
//!
//! - every operation has a `summary`: a short sentence, not an id
//!   (`datasets.list`, `list_datasets`);
//! - every operation has a `description` that is prose, not a provenance
//!   note (`py,ts; …`): provenance goes to `x-sources`, a list of strings;
//! - a paginated operation's description says how to page (its `cursor` or
//!   `page` parameter);
//! - every path and query parameter has a `description`;
//! - every property of every component schema has a `description`
//!   (`REQUIRE_FIELD_DESCRIPTIONS`).

use serde_json::Value;

use crate::lint::{operations, parameters, Finding};
use crate::overlay::referenced_name;

/// Whether every property of every component schema must have a
/// `description` (rule `field-description`). On: every field of the
/// checked-in document is documented.
pub const REQUIRE_FIELD_DESCRIPTIONS: bool = true;

/// The longest summary, in characters: it is the one-line help of a command.
pub const SUMMARY_MAX: usize = 80;

/// Every documentation finding of `doc`; the field rule only when `fields`.
pub fn findings(doc: &Value, fields: bool) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut add = |subject: &str, rule: &'static str, message: String| {
        out.push(Finding {
            subject: subject.to_owned(),
            rule,
            message,
        })
    };
    for op in operations(doc) {
        let subject = op.subject();
        if let Some((rule, message)) = summary_problem(text(op.op, "summary")) {
            add(&subject, rule, message);
        }
        if let Some((rule, message)) = description_problem(text(op.op, "description")) {
            add(&subject, rule, message);
        }
        let names: Vec<String> = parameters(&op).into_keys().map(|(_, n)| n).collect();
        if let Some(message) = paging_problem(op.op, &names) {
            add(&subject, "description-paging", message);
        }
        if let Some(message) = sources_problem(op.op) {
            add(&subject, "x-sources", message);
        }
        for ((loc, name), p) in parameters(&op) {
            if text(p, "description").is_none() {
                add(
                    &subject,
                    "parameter-description",
                    format!("{loc} parameter `{name}` has no description (units, format, allowed values, default)"),
                );
            }
        }
    }
    for (name, schema) in doc
        .pointer("/components/schemas")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        let subject = format!("schema `{name}`");
        if let Some(message) = sources_problem(schema) {
            add(&subject, "x-sources", message);
        }
        if fields {
            for field in undescribed_fields(schema, "")
                .into_iter()
                .filter(|f| !ref_documented(doc, schema, f))
            {
                add(
                    &subject,
                    "field-description",
                    format!("field `{field}` has no description"),
                );
            }
        }
    }
    out
}

/// The trimmed, non-empty string at `key`.
fn text<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// Why a summary is not a short sentence, if it is not.
pub fn summary_problem(summary: Option<&str>) -> Option<(&'static str, String)> {
    let Some(s) = summary.map(str::trim).filter(|s| !s.is_empty()) else {
        return Some((
            "summary-missing",
            "no `summary`: write a short sentence a user would search for".into(),
        ));
    };
    if looks_like_id(s) {
        return Some((
            "summary-id",
            format!(
                "summary `{s}` looks like an id; write a short sentence a user would search for"
            ),
        ));
    }
    if s.chars().count() > SUMMARY_MAX {
        return Some((
            "summary-long",
            format!("summary is longer than {SUMMARY_MAX} characters; it is a one-line help"),
        ));
    }
    None
}

/// An identifier rather than words: no space at all, or a word that is a
/// dotted (`datasets.list`) or snake_case (`list_datasets`) name.
pub fn looks_like_id(s: &str) -> bool {
    let identifier = |w: &str| {
        !w.is_empty()
            && w.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
    };
    !s.contains(char::is_whitespace)
        || s.split_whitespace()
            .map(|w| w.trim_matches(|c: char| !c.is_ascii_alphanumeric() && c != '_'))
            .any(|w| {
                identifier(w)
                    && (w.contains('_') || w.split('.').filter(|p| !p.is_empty()).count() > 1)
            })
}

/// Why a description is not prose, if it is not.
pub fn description_problem(description: Option<&str>) -> Option<(&'static str, String)> {
    let Some(d) = description.map(str::trim).filter(|s| !s.is_empty()) else {
        return Some((
            "description-missing",
            "no `description`: say what it does, who may call it, what it returns and its notable errors".into(),
        ));
    };
    if is_provenance(d) {
        let shown: String = d.chars().take(40).collect();
        return Some((
            "description-provenance",
            format!("description `{shown}` is a provenance note; move it to `x-sources` and write prose"),
        ));
    }
    None
}

/// A provenance note: it starts with an SDK source tag (`py`, `ts`,
/// `py,ts`, `py only`, `ts only`), or it is a short tag list of at most
/// three words.
pub fn is_provenance(d: &str) -> bool {
    let lower = d.trim().to_ascii_lowercase();
    let tagged = ["py", "ts"].iter().any(|tag| {
        lower.strip_prefix(tag).is_some_and(|rest| {
            rest.is_empty() || !rest.starts_with(|c: char| c.is_ascii_alphanumeric())
        })
    });
    tagged || lower.split_whitespace().count() <= 3
}

/// A paginated operation (one returning a `…Page`) must say how to page:
/// its description names the parameter that carries the position. (A
/// missing description is its own finding.)
fn paging_problem(op: &Value, parameters: &[String]) -> Option<String> {
    let description = text(op, "description")?;
    op.pointer("/responses/2XX/content/application~1json/schema")
        .and_then(referenced_name)
        .filter(|n| n.ends_with("Page"))?;
    let by = if parameters.iter().any(|p| p == "page") {
        "page"
    } else {
        "cursor"
    };
    (!description.contains(&format!("`{by}`"))).then(|| {
        format!("a paginated operation's description must say how to page (mention `{by}`)")
    })
}

/// `x-sources`, when present, is a non-empty list of non-empty strings.
fn sources_problem(v: &Value) -> Option<String> {
    let sources = v.get("x-sources")?;
    let ok = sources.as_array().is_some_and(|a| {
        !a.is_empty()
            && a.iter()
                .all(|s| s.as_str().is_some_and(|s| !s.trim().is_empty()))
    });
    (!ok).then(|| "`x-sources` must be a non-empty list of non-empty strings".into())
}

/// The dotted paths of the properties (nested ones included) without a
/// description, in document order.
/// Whether the top-level `field` of `schema` is a bare `$ref`, documented
/// the one way OpenAPI 3.0 allows: its target schema has a description and
/// the parent's description has a `` `field`: `` sentence (a `$ref` cannot
/// carry a sibling description).
fn ref_documented(doc: &Value, schema: &Value, field: &str) -> bool {
    let Some(target) = schema
        .pointer(&format!("/properties/{field}"))
        .and_then(referenced_name)
    else {
        return false;
    };
    let target_described = doc
        .pointer(&format!("/components/schemas/{target}"))
        .is_some_and(|t| text(t, "description").is_some());
    let parent_names_it =
        text(schema, "description").is_some_and(|d| d.contains(&format!("`{field}`:")));
    target_described && parent_names_it
}

pub fn undescribed_fields(schema: &Value, path: &str) -> Vec<String> {
    let mut out = Vec::new();
    let join = |name: &str| {
        if path.is_empty() {
            name.to_owned()
        } else {
            format!("{path}.{name}")
        }
    };
    for (name, property) in schema
        .get("properties")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        if text(property, "description").is_none() {
            out.push(join(name));
        }
        out.extend(undescribed_fields(property, &join(name)));
    }
    for key in ["allOf", "oneOf", "anyOf"] {
        for sub in schema
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            out.extend(undescribed_fields(sub, path));
        }
    }
    for key in ["items", "additionalProperties"] {
        if let Some(sub) = schema.get(key).filter(|s| s.is_object()) {
            out.extend(undescribed_fields(sub, &format!("{path}[]")));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ids_are_not_summaries() {
        for id in [
            "datasets.list",
            "list_datasets",
            "fleet.alert_channels.list",
            "agents",
            "Call datasets.upload_files",
            "Uses list_datasets here",
        ] {
            assert!(looks_like_id(id), "{id}");
            assert_eq!(summary_problem(Some(id)).unwrap().0, "summary-id", "{id}");
        }
        for sentence in [
            "List the datasets you can see",
            "Create an export of a dataset or project",
            "Get a dataset by owner and slug.",
            "Resolve a friendly dataset reference (owner/dataset@selector)",
        ] {
            assert!(!looks_like_id(sentence), "{sentence}");
            assert_eq!(summary_problem(Some(sentence)), None, "{sentence}");
        }
        assert_eq!(summary_problem(None).unwrap().0, "summary-missing");
        let long = "List ".repeat(20);
        assert_eq!(summary_problem(Some(&long)).unwrap().0, "summary-long");
    }

    #[test]
    fn provenance_notes_are_not_descriptions() {
        for note in [
            "py,ts",
            "py only",
            "ts only",
            "py,ts; visibility filter values private|unlisted|public",
            "py (signup/async_signup module functions),ts (signup())",
            "PY,TS; 204 expected",
            "Sources: py",
        ] {
            assert!(is_provenance(note), "{note}");
            assert_eq!(
                description_problem(Some(note)).unwrap().0,
                "description-provenance",
                "{note}"
            );
        }
        for prose in [
            "Lists the datasets the caller can see, newest first.",
            "Python callers use it; the typescript SDK does not.",
            "Types of data the server indexes, one per line.",
        ] {
            assert!(!is_provenance(prose), "{prose}");
        }
        assert_eq!(
            description_problem(Some("  ")).unwrap().0,
            "description-missing"
        );
    }

    fn doc(op: Value, thing: Value) -> Value {
        json!({
            "openapi": "3.0.3",
            "info": {"title": "t", "version": "1"},
            "paths": {"/things/": {"get": op}},
            "components": {"schemas": {
                "Thing": thing,
                "ThingPage": {"type": "object", "properties": {
                    "next": {"type": "string", "description": "Next page."},
                    "previous": {"type": "string", "description": "Previous page."},
                    "results": {"type": "array", "items": {"$ref": "#/components/schemas/Thing"}, "description": "Items."}
                }}
            }}
        })
    }

    fn good_op() -> Value {
        json!({
            "operationId": "list_things",
            "summary": "List the things you can see",
            "description": "Lists things, newest first. Pass the `cursor` of the previous page's `next` link.",
            "x-sources": ["py,ts things.list"],
            "parameters": [{"in": "query", "name": "cursor", "description": "Where the page starts.", "schema": {"type": "string"}}],
            "responses": {"2XX": {"description": "ok", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ThingPage"}}}}}
        })
    }

    fn good_thing() -> Value {
        json!({"type": "object", "description": "A thing.", "properties": {
            "uid": {"type": "string", "description": "Its id."},
            "meta": {"type": "object", "description": "More.", "properties": {"depth": {"type": "integer", "description": "How deep."}}}
        }})
    }

    fn rules(doc: &Value, fields: bool) -> Vec<&'static str> {
        findings(doc, fields).into_iter().map(|f| f.rule).collect()
    }

    #[test]
    fn a_documented_document_passes_every_rule() {
        assert_eq!(
            rules(&doc(good_op(), good_thing()), true),
            Vec::<&str>::new()
        );
    }

    #[test]
    fn each_rule_fires_and_names_its_subject() {
        let cases: Vec<(&str, &str, Value)> = vec![
            ("summary-missing", "/summary", Value::Null),
            ("summary-id", "/summary", json!("things.list")),
            ("description-missing", "/description", Value::Null),
            (
                "description-provenance",
                "/description",
                json!("py,ts; `cursor` paging"),
            ),
            (
                "description-paging",
                "/description",
                json!("Lists the things you can see."),
            ),
            (
                "parameter-description",
                "/parameters/0/description",
                Value::Null,
            ),
            ("x-sources", "/x-sources", json!([])),
        ];
        for (rule, pointer, value) in cases {
            let mut op = good_op();
            let (parent, key) = pointer.rsplit_once('/').unwrap();
            let target = op.pointer_mut(parent).unwrap().as_object_mut().unwrap();
            if value.is_null() {
                target.remove(key);
            } else {
                target.insert(key.to_owned(), value);
            }
            let found = findings(&doc(op, good_thing()), true);
            assert_eq!(found.len(), 1, "{rule}: {found:?}");
            assert_eq!(found[0].rule, rule);
            assert!(
                found[0].subject.contains("`list_things` (GET /things/)"),
                "{}",
                found[0]
            );
        }
    }

    #[test]
    fn page_number_operations_must_mention_page() {
        let mut op = good_op();
        op["parameters"]
            .as_array_mut()
            .unwrap()
            .push(json!({"in": "query", "name": "page", "description": "Page number.", "schema": {"type": "integer"}}));
        assert_eq!(
            rules(&doc(op.clone(), good_thing()), true),
            ["description-paging"]
        );
        op["description"] = json!("Lists things 20 at a time: pass `page` from the `next` link.");
        assert_eq!(rules(&doc(op, good_thing()), true), Vec::<&str>::new());
    }

    #[test]
    fn fields_without_descriptions_are_named_when_the_rule_is_on() {
        let mut thing = good_thing();
        thing["properties"]["uid"]
            .as_object_mut()
            .unwrap()
            .remove("description");
        thing["properties"]["meta"]["properties"]["depth"]
            .as_object_mut()
            .unwrap()
            .remove("description");
        thing["x-sources"] = json!("models.md");
        let found = findings(&doc(good_op(), thing.clone()), true);
        let shown: Vec<String> = found.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "schema `Thing`: `x-sources` must be a non-empty list of non-empty strings [x-sources]",
                "schema `Thing`: field `meta.depth` has no description [field-description]",
                "schema `Thing`: field `uid` has no description [field-description]",
            ]
        );
        assert_eq!(rules(&doc(good_op(), thing), false), ["x-sources"]);
    }
}

//! The document (`openapi/avala.json`) against the inventory and the SDK's
//! fixed facts.
//!
//! The inventory is checked in at `docs/api/` (`endpoints.tsv`, `models.md`,
//! gathered from the official SDKs); a missing file fails the test:
//! - every API-root row of `endpoints.tsv` (its `path` starts with `/`) must be
//!   an operation of the document, compared by method and path template with
//!   parameter names ignored;
//! - an operation the inventory lacks must say why in an
//!   `x-avala-not-in-inventory` string on the operation object, and an
//!   operation the inventory has must not carry one;
//! - every model section of `models.md` (`### Name` followed by a table whose
//!   first column is `field` or `key`) must be a component schema with every
//!   listed field (`### Page` is the envelope of every `…Page` component).
//!
//! The exact counts of operations and component schemas are asserted too.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde_json::Value;

const OPERATIONS: usize = 149;
// 205 + ManualUploadCompletedTarget and ManualUploadMethod (issue 18).
const COMPONENTS: usize = 207;
const NOT_IN_INVENTORY: &str = "x-avala-not-in-inventory";
const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

fn spec() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/avala.json");
    let text = std::fs::read_to_string(path).expect("openapi/avala.json");
    serde_json::from_str(&text).expect("openapi/avala.json is JSON")
}

/// A file of the checked-in inventory (`docs/api/<name>`).
fn inventory(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("docs/api")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

struct Op<'a> {
    id: &'a str,
    method: String,
    path: &'a str,
    raw: &'a Value,
}

fn operations(spec: &Value) -> Vec<Op<'_>> {
    let mut out = Vec::new();
    for (path, item) in spec["paths"].as_object().expect("paths") {
        for (method, raw) in item.as_object().expect("path item") {
            if !METHODS.contains(&method.as_str()) {
                continue;
            }
            out.push(Op {
                id: raw["operationId"].as_str().unwrap_or_default(),
                method: method.to_ascii_uppercase(),
                path,
                raw,
            });
        }
    }
    out
}

/// `/datasets/{owner}/{slug}/` → `/datasets/{}/{}/`.
fn shape(template: &str) -> String {
    let mut out = String::new();
    let mut in_param = false;
    for c in template.chars() {
        match c {
            '{' => {
                in_param = true;
                out.push_str("{}");
            }
            '}' => in_param = false,
            _ if in_param => {}
            _ => out.push(c),
        }
    }
    out
}

fn params<'a>(op: &'a Op<'_>, location: &str) -> Vec<&'a str> {
    op.raw["parameters"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["in"] == location)
        .filter_map(|p| p["name"].as_str())
        .collect()
}

#[test]
fn operation_ids_and_paths_follow_the_conventions() {
    let spec = spec();
    let ops = operations(&spec);
    assert_eq!(ops.len(), OPERATIONS, "operations in the document");
    let mut seen = BTreeSet::new();
    for op in &ops {
        let snake = !op.id.is_empty()
            && op.id.starts_with(|c: char| c.is_ascii_lowercase())
            && op
                .id
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            && !op.id.contains("__")
            && !op.id.ends_with('_');
        assert!(snake, "operationId {:?} is not snake_case", op.id);
        assert!(seen.insert(op.id), "operationId {} is not unique", op.id);
        assert!(
            op.path.starts_with('/') && op.path.ends_with('/'),
            "{} {} must start and end with /",
            op.method,
            op.path
        );
    }
}

#[test]
fn the_anchor_operations_are_as_the_sdk_expects() {
    let spec = spec();
    let ops = operations(&spec);
    let by_id: BTreeMap<&str, &Op> = ops.iter().map(|o| (o.id, o)).collect();

    let list = by_id["list_datasets"];
    assert_eq!((list.method.as_str(), list.path), ("GET", "/datasets/"));
    let query = params(list, "query");
    assert!(
        query.contains(&"limit") && query.contains(&"cursor"),
        "{query:?}"
    );

    let get = by_id["get_dataset"];
    assert_eq!((get.method.as_str(), get.path), ("GET", "/datasets/{uid}/"));
    assert_eq!(params(get, "path"), ["uid"]);
}

#[test]
fn security_is_the_api_key_header_except_for_signup_and_the_resolver() {
    let spec = spec();
    assert_eq!(spec["security"], serde_json::json!([{ "apiKey": [] }]));
    let scheme = &spec["components"]["securitySchemes"]["apiKey"];
    assert_eq!(scheme["type"], "apiKey");
    assert_eq!(scheme["in"], "header");
    assert_eq!(scheme["name"], "X-Avala-Api-Key");

    let ops = operations(&spec);
    let mut anonymous: Vec<&str> = Vec::new();
    for op in &ops {
        match op.raw.get("security") {
            None => {}
            Some(Value::Array(a)) if a.is_empty() => anonymous.push(op.id),
            Some(other) => panic!("{}: unexpected per-operation security {other}", op.id),
        }
    }
    let resolver: Vec<&str> = ops
        .iter()
        .filter(|o| o.path.starts_with("/resolve/"))
        .map(|o| o.id)
        .collect();
    assert_eq!(resolver.len(), 5, "resolver operations: {resolver:?}");
    let mut expected: Vec<&str> = resolver;
    expected.push("signup_user");
    expected.sort_unstable();
    anonymous.sort_unstable();
    assert_eq!(anonymous, expected, "operations with `security: []`");
}

#[test]
fn the_document_matches_the_inventory() {
    let spec = spec();
    let ops = operations(&spec);
    let tsv = inventory("endpoints.tsv");
    let mut lines = tsv.lines();
    let header: Vec<&str> = lines.next().expect("a header row").split('\t').collect();
    let column = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .unwrap_or_else(|| panic!("endpoints.tsv has no `{name}` column"))
    };
    let (method_col, path_col) = (column("http_method"), column("path"));
    let inventory: BTreeSet<(String, String)> = lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split('\t').collect::<Vec<_>>())
        .filter(|cells| cells.get(path_col).is_some_and(|p| p.starts_with('/')))
        .map(|cells| {
            (
                cells[method_col].to_ascii_uppercase(),
                shape(cells[path_col]),
            )
        })
        .collect();
    let document: BTreeSet<(String, String)> = ops
        .iter()
        .map(|o| (o.method.clone(), shape(o.path)))
        .collect();

    let missing: Vec<_> = inventory.difference(&document).collect();
    assert!(
        missing.is_empty(),
        "inventory rows missing from the document: {missing:?}"
    );

    let mut failures = Vec::new();
    for op in &ops {
        let listed = inventory.contains(&(op.method.clone(), shape(op.path)));
        let reason = op.raw.get(NOT_IN_INVENTORY);
        match (listed, reason) {
            (true, Some(_)) => failures.push(format!(
                "{}: is in the inventory but carries {NOT_IN_INVENTORY}",
                op.id
            )),
            (false, Some(Value::String(r))) if !r.trim().is_empty() => {}
            (false, _) => failures.push(format!(
                "{} ({} {}): not in the inventory and no {NOT_IN_INVENTORY} reason",
                op.id, op.method, op.path
            )),
            (true, None) => {}
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// `(section, fields)` for every model section of `models.md`.
fn model_sections(models: &str) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    let mut current: Option<(String, Option<Vec<String>>)> = None;
    let mut flush = |current: &mut Option<(String, Option<Vec<String>>)>| {
        if let Some((name, Some(fields))) = current.take() {
            out.push((name, fields));
        }
    };
    for line in models.lines() {
        if let Some(title) = line.strip_prefix("### ") {
            flush(&mut current);
            let name = title
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_owned();
            current = Some((name, None));
        } else if line.starts_with("## ") {
            flush(&mut current);
        } else if line.starts_with('|') {
            let Some((_, table)) = current.as_mut() else {
                continue;
            };
            let first = line
                .trim()
                .trim_matches('|')
                .split('|')
                .next()
                .unwrap_or_default()
                .trim();
            match table {
                Some(fields) => {
                    fields.extend(first.split('`').skip(1).step_by(2).map(str::to_owned))
                }
                None if first == "field" || first == "key" => *table = Some(Vec::new()),
                // A table of another kind: not a model section.
                None => current = None,
            }
        }
    }
    flush(&mut current);
    out
}

#[test]
fn every_model_is_a_component_with_its_fields() {
    let spec = spec();
    let schemas = spec["components"]["schemas"]
        .as_object()
        .expect("components");
    assert_eq!(
        schemas.len(),
        COMPONENTS,
        "component schemas in the document"
    );
    let models = inventory("models.md");
    let sections = model_sections(&models);
    assert!(
        sections.len() > 70,
        "only {} model sections parsed",
        sections.len()
    );
    let mut failures = Vec::new();
    for (name, fields) in &sections {
        let targets: Vec<(&String, &Value)> = if name == "Page" {
            schemas
                .iter()
                .filter(|(n, _)| n.ends_with("Page"))
                .collect()
        } else {
            schemas.get_key_value(name.as_str()).into_iter().collect()
        };
        if targets.is_empty() {
            failures.push(format!("{name}: no component schema"));
        }
        for (component, schema) in targets {
            for field in fields {
                if schema.pointer(&format!("/properties/{field}")).is_none() {
                    failures.push(format!(
                        "{component}: no property `{field}` (models.md {name})"
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

//! Generates the command table of `avala` from the SDK's `openapi/avala.json`:
//! one entry per operation, grouped by the document's tags (`fleet-devices`
//! becomes `fleet devices`), with every path and query parameter, the
//! scalar fields of its JSON body, and the document's texts as help: the
//! summary is a command's one-line help, the description its long help, a
//! parameter's or body field's description its flag's help, and a tag's
//! description its group's help.
//!
//! The document is the one of the `avala` crate this CLI depends on: its
//! build script publishes the path (`links = "avala"`, metadata `openapi`),
//! so the CLI builds the same way from the workspace and from crates.io.
//! The operations come as that build script walked them (metadata
//! `operations`: `src/walker.rs` of the `avala` package, parameters merged
//! and `$ref`s followed); the document gives the tags and the schemas.
//!
//! Only data is generated; the commands are built from it at run time and
//! sent through `avala::dynamic`, so the CLI compiles no per-operation code.

use std::{collections::BTreeSet, env, fmt::Write as _, fs, path::PathBuf};

use serde_json::Value;

/// Flags every command has, or that the command line adds: a body field of
/// the same name gets no flag (it can still come from `--body`).
const RESERVED: &[&str] = &[
    "body", "output", "all", "api-key", "base-url", "help", "wait", "timeout", "interval",
];

/// Verbs that the naming rule below would make awkward.
const VERB_OVERRIDES: &[(&str, &str)] = &[("create_dataset_from_manual_upload", "create-dataset")];

fn main() {
    let (Some(spec), Some(walked)) = (input("OPENAPI"), input("OPERATIONS")) else {
        eprintln!("error: the avala dependency did not say where its openapi/avala.json and walked operations are (DEP_AVALA_OPENAPI, DEP_AVALA_OPERATIONS)");
        std::process::exit(1);
    };
    println!("cargo:rerun-if-changed=build.rs");
    if let Err(e) = run(&spec, &walked) {
        eprintln!(
            "error: generating the avala commands from {}: {e}",
            spec.display()
        );
        std::process::exit(1);
    }
}

/// A file the avala build script names in its metadata `KEY`.
fn input(key: &str) -> Option<PathBuf> {
    let path = PathBuf::from(env::var_os(format!("DEP_AVALA_{key}"))?);
    println!("cargo:rerun-if-changed={}", path.display());
    Some(path)
}

fn run(spec: &std::path::Path, walked: &std::path::Path) -> Result<(), String> {
    let doc = read_json(spec)?;
    let ops = read_json(walked)?;
    let ops = ops
        .as_array()
        .ok_or("the walked operations are not a list")?;
    let out = PathBuf::from(env::var("OUT_DIR").map_err(|e| e.to_string())?);
    fs::write(out.join("catalog.rs"), catalog(&doc, ops)?).map_err(|e| e.to_string())
}

fn read_json(path: &std::path::Path) -> Result<Value, String> {
    let text =
        fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("invalid JSON in {}: {e}", path.display()))
}

/// `ops`: the walked operations (`operations.json` of the avala build
/// script), each an OpenAPI operation plus its `method` and `path`.
fn catalog(doc: &Value, ops: &[Value]) -> Result<String, String> {
    let mut seen = BTreeSet::new();
    let mut c = groups(doc);
    c.push_str("/// Every operation of the document, as a command.\npub static OPERATIONS: &[Operation] = &[\n");
    for op in ops {
        let field = |key: &str| {
            op.get(key)
                .and_then(Value::as_str)
                .ok_or_else(|| format!("a walked operation without `{key}`"))
        };
        let (id, method, path) = (field("operationId")?, field("method")?, field("path")?);
        let tag = op
            .pointer("/tags/0")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("{id} has no tag"))?;
        let group = group_of(tag);
        let verb = verb_of(id, tag);
        if !seen.insert((group.clone(), verb.clone())) {
            return Err(format!("two operations are `{} {verb}`", group.join(" ")));
        }
        let params = params(doc, op)?;
        let flags: BTreeSet<String> = params.iter().map(|p| p.0.clone()).collect();
        let _ = writeln!(
            c,
            "    Operation {{ id: {id:?}, method: {:?}, path: {path:?}, group: &{group:?}, verb: {verb:?}, summary: {:?}, description: {:?}, paginated: {}, params: &[{}], body: {} }},",
            method.to_ascii_uppercase(),
            plain(&text(op, "summary")),
            plain(&text(op, "description")),
            paginated(op),
            params.iter().map(|p| p.1.as_str()).collect::<Vec<_>>().join(", "),
            body(doc, op, &flags)?,
        );
    }
    c.push_str("];\n");
    Ok(c)
}

/// `GROUPS`: the description of every tag the document declares, by the
/// command group it names (`fleet-devices` -> `fleet devices`).
fn groups(doc: &Value) -> String {
    let mut c = String::from(
        "/// The help of each command group: the description of its tag.\npub static GROUPS: &[(&str, &str)] = &[\n",
    );
    for tag in doc
        .get("tags")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let (Some(name), description) = (
            tag.get("name").and_then(Value::as_str),
            text(tag, "description"),
        ) else {
            continue;
        };
        if !description.is_empty() {
            let _ = writeln!(
                c,
                "    ({:?}, {:?}),",
                group_of(name).join(" "),
                plain(&description)
            );
        }
    }
    c.push_str("];\n");
    c
}

/// The document's Markdown as terminal text: code spans lose their backticks.
fn plain(text: &str) -> String {
    text.replace('`', "")
}

/// `fleet-devices` -> `fleet devices`; other tags are one word.
fn group_of(tag: &str) -> Vec<String> {
    match tag.strip_prefix("fleet-") {
        Some(rest) => vec!["fleet".into(), rest.into()],
        None => vec![tag.into()],
    }
}

/// The operation id without the words of its tag (singular or plural),
/// except the first: `list_fleet_devices` in `fleet-devices` -> `list`,
/// `get_dataset_item` in `datasets` -> `get-item`.
fn verb_of(id: &str, tag: &str) -> String {
    if let Some((_, verb)) = VERB_OVERRIDES.iter().find(|(op, _)| *op == id) {
        return (*verb).to_owned();
    }
    let mut tag_words = BTreeSet::new();
    for w in tag.split('-') {
        tag_words.insert(w.to_owned());
        if let Some(stem) = w.strip_suffix("ies") {
            tag_words.insert(format!("{stem}y"));
        } else if let Some(stem) = w.strip_suffix('s') {
            tag_words.insert(stem.to_owned());
        }
    }
    let words: Vec<&str> = id.split('_').collect();
    let kept: Vec<&str> = words
        .iter()
        .enumerate()
        .filter(|(i, w)| *i == 0 || !tag_words.contains(**w))
        .map(|(_, w)| *w)
        .collect();
    kept.join("-")
}

fn text(v: &Value, key: &str) -> String {
    v.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .trim()
        .to_owned()
}

/// Whether the success body is a `{next, previous, results}` page (the
/// SDK's rule for an operation with `.stream()`).
fn paginated(op: &Value) -> bool {
    op.pointer("/responses/2XX/content/application~1json/schema/$ref")
        .and_then(Value::as_str)
        .is_some_and(|r| r.ends_with("Page"))
}

fn resolve<'a>(doc: &'a Value, mut schema: &'a Value) -> &'a Value {
    while let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let name = r.rsplit('/').next().unwrap_or_default();
        schema = &doc["components"]["schemas"][name];
    }
    schema
}

/// The scalar kind of a schema (`Kind::…`), or `None` for objects and
/// arrays of non-scalars.
fn kind(doc: &Value, schema: &Value) -> Option<&'static str> {
    let schema = resolve(doc, schema);
    match schema.get("type").and_then(Value::as_str) {
        Some("string") => Some("Kind::Str"),
        Some("integer") => Some("Kind::Int"),
        Some("number") => Some("Kind::Num"),
        Some("boolean") => Some("Kind::Bool"),
        _ => None,
    }
}

/// The help of a parameter or body field: its own description (never the
/// description of the type it refers to), then the values of an enum when
/// the description does not name them all; empty when there is neither.
fn help(doc: &Value, described: &Value, schema: &Value) -> String {
    let mut h = plain(&text(described, "description"));
    let values: Vec<&str> = resolve(doc, schema)
        .get("enum")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if !values.is_empty() && !values.iter().all(|v| h.contains(v)) {
        let _ = write!(
            h,
            "{}one of: {}",
            if h.is_empty() { "" } else { " — " },
            values.join(", ")
        );
    }
    h
}

/// `(flag, Param literal)` for every path and query parameter.
fn params(doc: &Value, op: &Value) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for p in op
        .get("parameters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let name = p["name"].as_str().ok_or("a parameter without a name")?;
        let schema = &p["schema"];
        let (list, scalar) = match resolve(doc, schema).get("type").and_then(Value::as_str) {
            Some("array") => (true, kind(doc, &schema["items"])),
            _ => (false, kind(doc, schema)),
        };
        let kind =
            scalar.ok_or_else(|| format!("parameter {name} is not a scalar or a list of them"))?;
        let location = match p["in"].as_str() {
            Some("path") => "Location::Path",
            Some("query") => "Location::Query",
            other => return Err(format!("parameter {name} in {other:?} is not supported")),
        };
        let flag = name.replace('_', "-");
        if RESERVED.contains(&flag.as_str()) {
            return Err(format!(
                "parameter {name} clashes with a flag of the command line"
            ));
        }
        let required = p.get("required") == Some(&Value::Bool(true));
        let literal = format!(
            "Param {{ name: {name:?}, flag: {flag:?}, value: {:?}, location: {location}, required: {required}, kind: {kind}, list: {list}, help: {:?} }}",
            name.to_ascii_uppercase(),
            help(doc, p, schema)
        );
        out.push((flag, literal));
    }
    Ok(out)
}

/// `Some(Body { … })` with a flag for every scalar top-level field whose
/// name is free, or `None`.
fn body(doc: &Value, op: &Value, taken: &BTreeSet<String>) -> Result<String, String> {
    let Some(request) = op.get("requestBody") else {
        return Ok("None".into());
    };
    let required = request.get("required") == Some(&Value::Bool(true));
    let schema = resolve(
        doc,
        request
            .pointer("/content/application~1json/schema")
            .ok_or("a request body that is not JSON")?,
    );
    let needed: BTreeSet<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let mut fields = Vec::new();
    for (name, field) in schema
        .get("properties")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        let flag = name.replace('_', "-");
        let Some(kind) = kind(doc, field) else {
            continue;
        };
        if taken.contains(&flag) || RESERVED.contains(&flag.as_str()) {
            continue;
        }
        fields.push(format!(
            "Field {{ name: {name:?}, flag: {flag:?}, value: {:?}, kind: {kind}, required: {}, help: {:?} }}",
            name.to_ascii_uppercase(),
            needed.contains(name.as_str()),
            help(doc, field, field)
        ));
    }
    Ok(format!(
        "Some(Body {{ required: {required}, fields: &[{}] }})",
        fields.join(", ")
    ))
}

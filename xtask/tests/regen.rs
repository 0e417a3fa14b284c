//! End to end: `cargo xtask regen|diff|check` against documents served on
//! 127.0.0.1 and files in temp directories. The real `openapi/avala.json` is
//! only ever read: every command gets `--spec` in a temp directory.

mod common;

use common::*;
use serde_json::{json, Value};

/// Our document as an upstream might publish it: DRF-style operationIds,
/// `Dataset` called `DatasetRead`, and the `DataType` enum inlined at
/// `DatasetRead.data_type`.
fn upstream_style() -> Value {
    let mut doc = checked_in();
    for (path, item) in doc["paths"].as_object_mut().unwrap() {
        for (method, op) in item.as_object_mut().unwrap() {
            let id = if (path.as_str(), method.as_str()) == ("/datasets/", "get") {
                "datasets_list".to_owned()
            } else {
                let flat: String = path
                    .chars()
                    .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                    .collect();
                format!("{}_{method}", flat.trim_matches('_'))
            };
            op["operationId"] = json!(id);
        }
    }
    rename_schema(&mut doc, "Dataset", "DatasetRead");
    let values = doc["components"]["schemas"]["DataType"]["enum"].clone();
    let site = &mut doc["components"]["schemas"]["DatasetRead"]["properties"]["data_type"];
    let site = site.as_object_mut().unwrap();
    site.remove("allOf");
    site.insert("type".into(), json!("string"));
    site.insert("enum".into(), values);
    doc
}

#[test]
fn round_trip_of_the_checked_in_document_is_a_no_op() {
    let original = checked_in_text();
    let dir = TempDir::new("roundtrip");
    let spec = dir.write("avala.json", &original);
    let yaml = serde_norway::to_string(&checked_in()).unwrap();
    assert!(!yaml.trim_start().starts_with('{'));
    let base = serve(vec![
        Reply::new("/openapi.json", 200, "application/json", original.clone()),
        Reply::new("/openapi.yaml", 200, "application/yaml", yaml),
    ]);

    // From a URL given through AVALA_OPENAPI_URL (no --from).
    let url = format!("{base}/openapi.json");
    let out = xtask(
        &["regen", "--spec", s(&spec)],
        &[("AVALA_OPENAPI_URL", &url)],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout, "no semantic changes\n");
    assert!(out.stderr.contains("[4/6] linting"), "{}", out.stderr);
    assert!(out.stderr.contains("up to date"), "{}", out.stderr);
    assert!(std::fs::read_to_string(&spec).unwrap() == original);

    // From YAML over HTTP: same bytes.
    let out = xtask(
        &[
            "regen",
            "--from",
            &format!("{base}/openapi.yaml"),
            "--spec",
            s(&spec),
        ],
        &[],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(std::fs::read_to_string(&spec).unwrap() == original);

    // From a compact file into a target that is not normalised yet: the
    // written bytes are the checked-in ones.
    let src = TempDir::new("roundtrip-src");
    let compact = src.write(
        "compact.json",
        &serde_json::to_string(&checked_in()).unwrap(),
    );
    std::fs::write(&spec, serde_json::to_string(&checked_in()).unwrap()).unwrap();
    let out = xtask(&["regen", "--from", s(&compact), "--spec", s(&spec)], &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout, "no semantic changes\n");
    assert!(out.stderr.contains("wrote"), "{}", out.stderr);
    assert!(std::fs::read_to_string(&spec).unwrap() == original);
    assert_eq!(dir.names(), vec!["avala.json"]);
}

#[test]
fn an_upstream_document_with_other_names_regenerates_to_ours() {
    let dir = TempDir::new("upstream");
    // The target starts out older: without `get_dataset`.
    let mut older = checked_in();
    older["paths"]["/datasets/{uid}/"]
        .as_object_mut()
        .unwrap()
        .remove("get");
    let spec = dir.write("avala.json", &serde_json::to_string_pretty(&older).unwrap());

    let mut overlay: Value =
        serde_json::from_str(&std::fs::read_to_string(overlay_path()).unwrap()).unwrap();
    overlay["schemaRenames"] = json!({"DatasetRead": "Dataset"});
    let src = TempDir::new("upstream-src");
    let overlay = src.write("overlay.json", &overlay.to_string());
    let upstream = src.write("upstream.json", &upstream_style().to_string());
    assert!(std::fs::read_to_string(&upstream)
        .unwrap()
        .contains("datasets_list"));

    let out = xtask(
        &[
            "regen",
            "--from",
            s(&upstream),
            "--spec",
            s(&spec),
            "--overlay",
            s(&overlay),
        ],
        &[],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        out.stdout,
        "         + operation `get_dataset` (GET /datasets/{uid}/)\n1 change, 0 breaking\n"
    );
    assert!(std::fs::read_to_string(&spec).unwrap() == checked_in_text());

    // Without the schema rename the inline enum stays where the overlay
    // looks for `Dataset`, and the lint refuses it, naming the schema.
    let out = xtask(&["regen", "--from", s(&upstream), "--spec", s(&spec)], &[]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("named enum `DataType`: `/components/schemas/Dataset/properties/data_type` does not exist"), "{}", out.stderr);
    let errors = out.errors();
    assert_eq!(errors.len(), 1, "{}", out.stderr);
    assert!(
        errors[0].contains("schema `DatasetRead`") && errors[0].contains("[inline-enum]"),
        "{}",
        errors[0]
    );
    assert!(std::fs::read_to_string(&spec).unwrap() == checked_in_text());
}

#[test]
fn diff_reports_an_added_operation_a_removed_field_and_a_new_enum_value() {
    let mut new = checked_in();
    new["paths"]["/widgets/"] = json!({"get": {
        "operationId": "list_widgets", "summary": "List widgets",
        "description": "Lists every widget the key's user can see.",
        "tags": ["widgets"], "responses": {"2XX": {"description": "ok"}}
    }});
    let dataset = &mut new["components"]["schemas"]["Dataset"];
    dataset["properties"]
        .as_object_mut()
        .unwrap()
        .remove("name");
    if let Some(req) = dataset["required"].as_array_mut() {
        req.retain(|v| v != "name");
    }
    new["components"]["schemas"]["DataType"]["enum"]
        .as_array_mut()
        .unwrap()
        .push(json!("pointcloud"));
    let dir = TempDir::new("diff");
    let old_path = dir.write("old.json", &checked_in_text());
    let new_path = dir.write("new.json", &new.to_string());

    let expected = concat!(
        "         + operation `list_widgets` (GET /widgets/)\n",
        "         + schema `DataType`: enum value `pointcloud` added\n",
        "BREAKING - schema `Dataset`: field `name` removed\n",
        "3 changes, 1 breaking\n",
    );
    let out = xtask(&["diff", s(&old_path), s(&new_path)], &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout, expected);

    // regen --dry-run prints the same diff and writes nothing.
    let out = xtask(
        &[
            "regen",
            "--from",
            s(&new_path),
            "--spec",
            s(&old_path),
            "--dry-run",
        ],
        &[],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout, expected);
    assert!(
        out.stderr
            .contains("list_widgets` (GET /widgets/) has no overlay entry"),
        "{}",
        out.stderr
    );
    assert!(std::fs::read_to_string(&old_path).unwrap() == checked_in_text());
}

#[test]
fn diff_reports_documentation_changes_apart_from_api_changes() {
    let old = checked_in();
    let mut new = checked_in();
    let op = &mut new["paths"]["/datasets/"]["get"];
    let summary = op["summary"].as_str().unwrap().to_owned();
    op["summary"] = json!("List every dataset you may read");
    op["x-sources"]
        .as_array_mut()
        .unwrap()
        .push(json!("note: a new source"));
    let limit = op["parameters"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|p| p["name"] == "limit")
        .unwrap();
    limit["description"] = json!("How many datasets a page holds.");
    op["parameters"]
        .as_array_mut()
        .unwrap()
        .push(json!({"in": "query", "name": "ordering",
        "required": false, "description": "The field to sort by.", "schema": {"type": "string"}}));
    let name = &mut new["components"]["schemas"]["Dataset"]["properties"]["name"];
    let field_sign = if name.get("description").is_some() {
        '~'
    } else {
        '+'
    };
    let field_change = if field_sign == '~' {
        "changed"
    } else {
        "added"
    };
    name["description"] = json!("The dataset's display name, as typed.");
    let dir = TempDir::new("diff-docs");
    let old_path = dir.write("old.json", &old.to_string());
    let new_path = dir.write("new.json", &new.to_string());

    let expected = format!(
        "         + operation `list_datasets`: query parameter `ordering` added (string, optional)\n\
         1 change, 0 breaking\n\
         documentation (summaries, descriptions, x-sources):\n\
         \x20        ~ operation `list_datasets`: summary {summary:?} -> \"List every dataset you may read\"\n\
         \x20        ~ operation `list_datasets`: x-sources changed\n\
         \x20        ~ operation `list_datasets`: query parameter `limit` description changed\n\
         \x20        {field_sign} schema `Dataset`: field `name` description {field_change}\n\
         4 documentation changes\n"
    );
    let out = xtask(&["diff", s(&old_path), s(&new_path)], &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout, expected);

    // Documentation alone: no API change.
    let mut docs_only = checked_in();
    docs_only["paths"]["/datasets/"]["get"]["description"] =
        json!("Lists datasets; pass `cursor` from the `next` link for the next page.");
    let docs_path = dir.write("docs.json", &docs_only.to_string());
    let out = xtask(&["diff", s(&old_path), s(&docs_path)], &[]);
    assert_eq!(
        out.stdout,
        "no semantic changes\n\
         documentation (summaries, descriptions, x-sources):\n\
         \x20        ~ operation `list_datasets`: description changed\n\
         1 documentation change\n"
    );
}

#[test]
fn bad_inputs_are_refused_with_one_error_line_and_nothing_written() {
    let original = checked_in_text();
    let dir = TempDir::new("bad");
    let spec = dir.write("avala.json", &original);
    let src = TempDir::new("bad-src");

    let with = |edit: &dyn Fn(&mut Value)| {
        let mut d = checked_in();
        edit(&mut d);
        d.to_string()
    };
    let v31 = with(&|d| d["openapi"] = json!("3.1.0"));
    let duplicate = with(&|d| {
        d["paths"]["/extra/"] = json!({"get": {"operationId": "list_datasets",
            "responses": {"2XX": {"description": "ok"}}}});
    });
    let default_response = with(&|d| {
        d["paths"]["/datasets/"]["get"]["responses"]["default"] = json!({"description": "error",
            "content": {"application/json": {"schema": {"type": "object"}}}});
    });
    let base = serve(vec![
        Reply::new(
            "/html",
            200,
            "text/html",
            "<!DOCTYPE html><html><body>Login</body></html>",
        ),
        Reply::new(
            "/html-as-json",
            200,
            "application/json",
            "  <html>oops</html>",
        ),
        Reply::new("/error", 500, "application/json", "{}"),
        Reply {
            path: "/moved",
            status: 302,
            headers: vec!["Location: https://example.invalid/openapi.json".into()],
            body: Vec::new(),
        },
    ]);
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/openapi.json", l.local_addr().unwrap())
    };

    let cases: Vec<(String, &str)> = vec![
        (closed, "cannot fetch"),
        (format!("{base}/missing.json"), "answered 404"),
        (format!("{base}/error"), "answered 500"),
        (format!("{base}/moved"), "redirects are not followed"),
        (format!("{base}/html"), "is HTML"),
        (format!("{base}/html-as-json"), "is HTML"),
        (
            "http://example.com/openapi.json".into(),
            "only allowed to localhost",
        ),
        (
            s(&src.write("bad.json", "{\"openapi\": \"3.0.3\", ")).into(),
            "not valid JSON",
        ),
        (
            s(&src.write("bad.yaml", "openapi: 3.0.3\npaths: [a\n")).into(),
            "not valid YAML",
        ),
        (
            s(&src.write("other.json", "{\"hello\": \"world\"}")).into(),
            "not an OpenAPI document",
        ),
        (s(&src.write("v31.json", &v31)).into(), "not lossless"),
        (
            s(&src.write("dup.json", &duplicate)).into(),
            "operation-id-duplicate",
        ),
        (
            s(&src.write("default.json", &default_response)).into(),
            "default-response",
        ),
        (s(&src.path("nope.json")).into(), "cannot read"),
    ];
    for (from, expected) in cases {
        let out = xtask(&["regen", "--from", &from, "--spec", s(&spec)], &[]);
        assert_ne!(out.code, 0, "{from}: {}", out.stderr);
        let errors = out.errors();
        assert_eq!(errors.len(), 1, "{from}: {}", out.stderr);
        assert!(
            errors[0].contains(expected),
            "{from}: expected `{expected}` in {}",
            errors[0]
        );
        assert!(!out.stderr.contains("panicked"), "{from}: {}", out.stderr);
        assert!(
            std::fs::read_to_string(&spec).unwrap() == original,
            "{from} changed the target"
        );
        assert_eq!(dir.names(), vec!["avala.json"], "{from} left a file behind");
    }

    // The lint errors name the operation.
    let out = xtask(
        &[
            "regen",
            "--from",
            s(&src.path("default.json")),
            "--spec",
            s(&spec),
        ],
        &[],
    );
    assert!(
        out.errors()[0].contains("operation `list_datasets` (GET /datasets/)"),
        "{}",
        out.stderr
    );
    let out = xtask(
        &[
            "regen",
            "--from",
            s(&src.path("dup.json")),
            "--spec",
            s(&spec),
        ],
        &[],
    );
    assert!(
        out.errors()[0].contains("`list_datasets`"),
        "{}",
        out.stderr
    );
}

/// Examples that satisfy the fixture rule for every operation of `doc`.
fn complete_examples(doc: &Value) -> Value {
    let mut out = serde_json::Map::new();
    for item in doc["paths"].as_object().unwrap().values() {
        for op in item.as_object().unwrap().values() {
            let Some(id) = op.get("operationId").and_then(Value::as_str) else {
                continue;
            };
            let json = op["responses"]["2XX"].get("content").is_some();
            let requests = if op.get("requestBody").is_some() {
                json!([{"name": "basic", "body": {}}])
            } else {
                json!([])
            };
            let responses = if json {
                json!([{"name": "ok", "status": 200, "body": {}}])
            } else {
                json!([])
            };
            out.insert(
                id.to_owned(),
                json!({"requests": requests, "responses": responses}),
            );
        }
    }
    Value::Object(out)
}

#[test]
fn check_passes_on_a_complete_tree_and_names_each_problem() {
    let dir = TempDir::new("check");
    let spec = dir.write("avala.json", &checked_in_text());
    let mut examples = complete_examples(&checked_in());
    let examples_path = dir.write("examples.json", &examples.to_string());
    let run = |spec: &std::path::Path, overlay: &std::path::Path, examples: &std::path::Path| {
        xtask(
            &[
                "check",
                "--spec",
                s(spec),
                "--overlay",
                s(overlay),
                "--examples",
                s(examples),
            ],
            &[],
        )
    };

    let out = run(&spec, &overlay_path(), &examples_path);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.starts_with("ok:"), "{}", out.stdout);

    // Fixtures missing: the file, or one operation's response example.
    let out = run(&spec, &overlay_path(), &dir.path("missing.json"));
    assert_eq!(out.code, 1);
    assert_eq!(out.errors().len(), 1, "{}", out.stderr);
    assert!(out.errors()[0].contains("with 1 problem"), "{}", out.stderr);
    assert!(
        out.errors()[0].contains("missing.json does not exist"),
        "{}",
        out.stderr
    );
    examples["list_datasets"]["responses"] = json!([]);
    let thin = dir.write("thin.json", &examples.to_string());
    let out = run(&spec, &overlay_path(), &thin);
    assert_eq!(out.code, 1);
    assert!(
        out.errors()[0].contains(
            "`list_datasets` (GET /datasets/): returns a JSON body but has no 2xx response example"
        ),
        "{}",
        out.stderr
    );

    // Not normalised.
    let compact = dir.write(
        "compact.json",
        &serde_json::to_string(&checked_in()).unwrap(),
    );
    let out = run(&compact, &overlay_path(), &examples_path);
    assert_eq!(out.code, 1);
    assert!(
        out.errors()[0].contains("is not normalised"),
        "{}",
        out.stderr
    );

    // An overlay that misses an operation, and one that renames it.
    let mut overlay: Value =
        serde_json::from_str(&std::fs::read_to_string(overlay_path()).unwrap()).unwrap();
    overlay["operationIds"]
        .as_object_mut()
        .unwrap()
        .remove("GET /datasets/");
    let partial = dir.write("partial.json", &overlay.to_string());
    let out = run(&spec, &partial, &examples_path);
    assert_eq!(out.code, 1);
    assert!(
        out.errors()[0].contains("no `operationIds` entry for operation `list_datasets`"),
        "{}",
        out.stderr
    );
    overlay["operationIds"]["GET /datasets/"] = json!("datasets_list");
    let renaming = dir.write("renaming.json", &overlay.to_string());
    let out = run(&spec, &renaming, &examples_path);
    assert_eq!(out.code, 1);
    assert!(out.errors()[0].contains("not a no-op"), "{}", out.stderr);
}

//! The semantic diff of two documents: operations (by operationId) and
//! schemas (by name), down to parameters, bodies, fields, `required` and enum
//! values. Changes that break code using the SDK are marked `BREAKING`:
//! anything removed or retyped, a field or parameter that becomes required,
//! a field that becomes optional (its Rust type becomes `Option`), an enum
//! value removed.
//!
//! Documentation changes (summaries, descriptions and `x-sources` of the
//! operations, parameters, schemas, fields, tags and `info` present in both)
//! are reported too, in their own section after the API changes: they change
//! what users read, never what compiles. Examples are not compared.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::lint::{operations, parameters, resolve, Op};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub breaking: bool,
    /// `+` added, `-` removed, `~` changed.
    pub sign: char,
    /// `operation `list_datasets``, `schema `Dataset``, `info`.
    pub subject: String,
    /// Empty when the whole subject was added or removed.
    pub detail: String,
    /// A documentation change (never breaking), rendered in its own section.
    pub docs: bool,
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let marker = if self.breaking { "BREAKING" } else { "" };
        write!(f, "{marker:<9}{} {}", self.sign, self.subject)?;
        if !self.detail.is_empty() {
            write!(f, ": {}", self.detail)?;
        }
        Ok(())
    }
}

/// The text printed by `diff` and `regen`: one API change a line, then a
/// summary; then, if any, the documentation changes under their own heading.
pub fn render(changes: &[Change]) -> String {
    let (docs, api): (Vec<&Change>, Vec<&Change>) = changes.iter().partition(|c| c.docs);
    let plural = |n: usize| if n == 1 { "" } else { "s" };
    let mut out = String::new();
    for c in &api {
        out.push_str(&format!("{c}\n"));
    }
    let breaking = api.iter().filter(|c| c.breaking).count();
    if api.is_empty() {
        out.push_str("no semantic changes\n");
    } else {
        out.push_str(&format!(
            "{} change{}, {breaking} breaking\n",
            api.len(),
            plural(api.len())
        ));
    }
    if !docs.is_empty() {
        out.push_str("documentation (summaries, descriptions, x-sources):\n");
        for c in &docs {
            out.push_str(&format!("{c}\n"));
        }
        out.push_str(&format!(
            "{} documentation change{}\n",
            docs.len(),
            plural(docs.len())
        ));
    }
    out
}

struct Cx<'a> {
    old: &'a Value,
    new: &'a Value,
    out: Vec<Change>,
}

impl Cx<'_> {
    fn push(&mut self, breaking: bool, sign: char, subject: &str, detail: impl Into<String>) {
        self.out.push(Change {
            breaking,
            sign,
            subject: subject.to_owned(),
            detail: detail.into(),
            docs: false,
        });
    }

    /// A documentation change of `what` (`summary`, `query parameter
    /// `limit` description`, …) from `a` to `b`, if they differ.
    fn push_doc(&mut self, subject: &str, what: &str, a: Option<&Value>, b: Option<&Value>) {
        let sign = match (a, b) {
            (None, Some(_)) => '+',
            (Some(_), None) => '-',
            (Some(x), Some(y)) if x != y => '~',
            _ => return,
        };
        let detail = match (what, a.and_then(Value::as_str), b.and_then(Value::as_str)) {
            ("summary", Some(x), Some(y)) => format!("summary {x:?} -> {y:?}"),
            _ => format!(
                "{what} {}",
                match sign {
                    '+' => "added",
                    '-' => "removed",
                    _ => "changed",
                }
            ),
        };
        self.out.push(Change {
            breaking: false,
            sign,
            subject: subject.to_owned(),
            detail,
            docs: true,
        });
    }
}

pub fn diff(old: &Value, new: &Value) -> Vec<Change> {
    let mut cx = Cx {
        old,
        new,
        out: Vec::new(),
    };
    let (vo, vn) = (old.pointer("/info/version"), new.pointer("/info/version"));
    if vo != vn {
        let show = |v: Option<&Value>| v.map_or("none".to_owned(), ToString::to_string);
        cx.push(
            false,
            '~',
            "info",
            format!("version {} -> {}", show(vo), show(vn)),
        );
    }
    diff_operations(&mut cx);
    diff_schemas(&mut cx);
    diff_docs(&mut cx);
    cx.out
}

/// The texts users read, where both documents have the subject.
fn diff_docs<'a>(cx: &mut Cx<'a>) {
    const TEXTS: [&str; 3] = ["summary", "description", "x-sources"];
    for key in ["description", "x-sources"] {
        let (a, b) = (cx.old.pointer("/info"), cx.new.pointer("/info"));
        cx.push_doc(
            "info",
            key,
            a.and_then(|i| i.get(key)),
            b.and_then(|i| i.get(key)),
        );
    }
    let tags = |doc: &Value| -> BTreeMap<String, Value> {
        doc.get("tags")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|t| Some((t.get("name")?.as_str()?.to_owned(), t.clone())))
            .collect()
    };
    let (ta, tb) = (tags(cx.old), tags(cx.new));
    for (name, a) in &ta {
        if let Some(b) = tb.get(name) {
            let subject = format!("tag `{name}`");
            cx.push_doc(
                &subject,
                "description",
                a.get("description"),
                b.get("description"),
            );
        }
    }
    let old: BTreeMap<String, Op> = operations(cx.old)
        .into_iter()
        .map(|o| (op_key(&o), o))
        .collect();
    for n in operations(cx.new) {
        let Some(o) = old.get(&op_key(&n)) else {
            continue;
        };
        let subject = format!("operation `{}`", op_key(&n));
        for key in TEXTS {
            cx.push_doc(&subject, key, o.op.get(key), n.op.get(key));
        }
        let (po, pn) = (parameters(o), parameters(&n));
        for (k, b) in &pn {
            if let Some(a) = po.get(k) {
                let what = format!("{} parameter `{}` description", k.0, k.1);
                cx.push_doc(&subject, &what, a.get("description"), b.get("description"));
            }
        }
    }
    let (old_doc, new_doc) = (cx.old, cx.new);
    let schemas = |doc: &'a Value| {
        doc.pointer("/components/schemas")
            .and_then(Value::as_object)
    };
    let (so, sn) = (schemas(old_doc), schemas(new_doc));
    for (name, b) in sn.into_iter().flatten() {
        if let Some(a) = so.and_then(|so| so.get(name)) {
            let subject = format!("schema `{name}`");
            for key in ["description", "x-sources"] {
                cx.push_doc(&subject, key, a.get(key), b.get(key));
            }
            diff_field_docs(cx, &subject, "", a, b);
        }
    }
}

/// Field descriptions, recursively, where both schemas have the field.
fn diff_field_docs(cx: &mut Cx, subject: &str, path: &str, a: &Value, b: &Value) {
    let props = |s| Value::get(s, "properties").and_then(Value::as_object);
    if let (Some(pa), Some(pb)) = (props(a), props(b)) {
        for (name, y) in pb {
            let Some(x) = pa.get(name) else { continue };
            let field = join(path, name);
            let what = format!("field `{field}` description");
            cx.push_doc(subject, &what, x.get("description"), y.get("description"));
            diff_field_docs(cx, subject, &field, x, y);
        }
    }
    for key in ["items", "additionalProperties"] {
        if let (Some(x @ Value::Object(_)), Some(y @ Value::Object(_))) = (a.get(key), b.get(key)) {
            diff_field_docs(cx, subject, &join(path, "[]"), x, y);
        }
    }
    for key in ["allOf", "oneOf", "anyOf"] {
        if let (Some(Value::Array(xs)), Some(Value::Array(ys))) = (a.get(key), b.get(key)) {
            for (x, y) in xs.iter().zip(ys) {
                diff_field_docs(cx, subject, path, x, y);
            }
        }
    }
}

fn op_key(op: &Op) -> String {
    op.id()
        .map(str::to_owned)
        .unwrap_or_else(|| format!("{} {}", op.method.to_ascii_uppercase(), op.path))
}

fn route(op: &Op) -> String {
    format!("{} {}", op.method.to_ascii_uppercase(), op.path)
}

fn diff_operations(cx: &mut Cx) {
    let old: BTreeMap<String, Op> = operations(cx.old)
        .into_iter()
        .map(|o| (op_key(&o), o))
        .collect();
    let new: BTreeMap<String, Op> = operations(cx.new)
        .into_iter()
        .map(|o| (op_key(&o), o))
        .collect();
    let keys: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    for k in keys {
        let subject = format!("operation `{k}`");
        match (old.get(k), new.get(k)) {
            (Some(o), None) => cx.push(true, '-', &format!("{subject} ({})", route(o)), ""),
            (None, Some(n)) => cx.push(false, '+', &format!("{subject} ({})", route(n)), ""),
            (Some(o), Some(n)) => diff_operation(cx, &subject, o, n),
            (None, None) => {}
        }
    }
}

fn diff_operation(cx: &mut Cx, subject: &str, o: &Op, n: &Op) {
    if route(o) != route(n) {
        cx.push(
            false,
            '~',
            subject,
            format!("route {} -> {}", route(o), route(n)),
        );
    }
    let po = parameters(o);
    let pn = parameters(n);
    let required = |p: &Value| p.get("required") == Some(&Value::Bool(true));
    for key in po.keys().chain(pn.keys()).collect::<BTreeSet<_>>() {
        let what = format!("{} parameter `{}`", key.0, key.1);
        match (po.get(key), pn.get(key)) {
            (Some(_), None) => cx.push(true, '-', subject, format!("{what} removed")),
            (None, Some(p)) => {
                let ty = describe(p.get("schema"));
                if required(p) {
                    cx.push(true, '+', subject, format!("required {what} added ({ty})"));
                } else {
                    cx.push(
                        false,
                        '+',
                        subject,
                        format!("{what} added ({ty}, optional)"),
                    );
                }
            }
            (Some(a), Some(b)) => {
                diff_schema(cx, subject, &what, "", a.get("schema"), b.get("schema"));
                match (required(a), required(b)) {
                    (false, true) => cx.push(true, '~', subject, format!("{what} is now required")),
                    (true, false) => {
                        cx.push(false, '~', subject, format!("{what} is now optional"))
                    }
                    _ => {}
                }
            }
            (None, None) => {}
        }
    }

    let body = |doc: &Value, op: &Op| -> Option<(String, Option<Value>, bool)> {
        let b = resolve(doc, op.op.get("requestBody")?);
        let (mt, media) = b.get("content")?.as_object()?.iter().next()?;
        let required = b.get("required") == Some(&Value::Bool(true));
        Some((mt.clone(), media.get("schema").cloned(), required))
    };
    match (body(cx.old, o), body(cx.new, n)) {
        // An optional body is an object without required properties (lint
        // `request-body-optional`): the builder sends `{}` unless told
        // otherwise, so existing calls keep compiling.
        (None, Some((mt, s, false))) => cx.push(
            false,
            '+',
            subject,
            format!(
                "optional request body added ({mt}, {}; the builder sends {{}} by default)",
                describe(s.as_ref())
            ),
        ),
        (None, Some((mt, _, true))) => {
            cx.push(true, '+', subject, format!("request body added ({mt})"))
        }
        (Some(_), None) => cx.push(true, '-', subject, "request body removed"),
        (Some((ma, sa, ra)), Some((mb, sb, rb))) => {
            match (ra, rb) {
                (true, false) => cx.push(false, '~', subject, "request body is now optional"),
                (false, true) => cx.push(false, '~', subject, "request body is now required"),
                _ => {}
            }
            if ma != mb {
                cx.push(
                    true,
                    '~',
                    subject,
                    format!("request body media type {ma} -> {mb}"),
                );
            }
            diff_schema(cx, subject, "request body", "", sa.as_ref(), sb.as_ref());
        }
        (None, None) => {}
    }

    let success = |doc: &Value, op: &Op| -> (String, Option<Value>) {
        for (status, r) in op
            .op
            .get("responses")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            if status == "2XX" || status.starts_with('2') || status == "default" {
                let r = resolve(doc, r);
                let content = r.get("content").and_then(Value::as_object);
                return match content
                    .and_then(|c| c.iter().find(|(k, _)| k.starts_with("application/json")))
                {
                    Some((_, media)) => ("json".into(), media.get("schema").cloned()),
                    None if content.is_some_and(|c| !c.is_empty()) => ("raw body".into(), None),
                    None => ("no body".into(), None),
                };
            }
        }
        ("no body".into(), None)
    };
    let statuses = |op: &Op| -> Vec<String> {
        op.op
            .get("responses")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .map(|(s, _)| s.clone())
            .filter(|s| s.starts_with('2'))
            .collect()
    };
    let (xa, xb) = (statuses(o), statuses(n));
    if xa != xb && !xa.is_empty() && !xb.is_empty() {
        // build.rs takes any 2xx as success for an operation without a
        // body, and progenitor matches the one declared body on every
        // declared status: no Rust type changes.
        cx.push(
            false,
            '~',
            subject,
            format!("success status {} -> {}", xa.join("/"), xb.join("/")),
        );
    }
    let (ka, sa) = success(cx.old, o);
    let (kb, sb) = success(cx.new, n);
    if ka != kb {
        let show = |k: &str, s: &Option<Value>| {
            if k == "json" {
                describe(s.as_ref())
            } else {
                k.to_owned()
            }
        };
        cx.push(
            true,
            '~',
            subject,
            format!("response {} -> {}", show(&ka, &sa), show(&kb, &sb)),
        );
    } else if ka == "json" {
        diff_schema(cx, subject, "response", "", sa.as_ref(), sb.as_ref());
    }
}

fn diff_schemas(cx: &mut Cx) {
    let empty = serde_json::Map::new();
    let so = cx
        .old
        .pointer("/components/schemas")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let sn = cx
        .new
        .pointer("/components/schemas")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let names: BTreeSet<&String> = so.keys().chain(sn.keys()).collect();
    for name in names {
        let subject = format!("schema `{name}`");
        match (so.get(name), sn.get(name)) {
            (Some(_), None) => cx.push(true, '-', &subject, ""),
            (None, Some(_)) => cx.push(false, '+', &subject, ""),
            (Some(a), Some(b)) => diff_schema(cx, &subject, "", "", Some(a), Some(b)),
            (None, None) => {}
        }
    }
}

/// A short type description: `Dataset`, `string(date-time)`, `array<Tag>`,
/// `map<string>`, `object`, `oneOf(A | B)`, with ` | null` when nullable.
pub fn describe(s: Option<&Value>) -> String {
    let Some(s) = s.filter(|s| s.is_object()) else {
        return "any".into();
    };
    let mut out = if let Some(r) = s.get("$ref").and_then(Value::as_str) {
        r.rsplit('/').next().unwrap_or(r).to_owned()
    } else if let Some(all) = s.get("allOf").and_then(Value::as_array) {
        let parts: Vec<String> = all.iter().map(|x| describe(Some(x))).collect();
        if parts.len() == 1 {
            parts[0].clone()
        } else {
            format!("allOf({})", parts.join(" & "))
        }
    } else if let Some((k, list)) = ["oneOf", "anyOf"]
        .iter()
        .find_map(|k| Some((*k, s.get(*k)?.as_array()?)))
    {
        let parts: Vec<String> = list.iter().map(|x| describe(Some(x))).collect();
        format!("{k}({})", parts.join(" | "))
    } else {
        let ty = s.get("type").and_then(Value::as_str).unwrap_or_else(|| {
            if s.get("properties").is_some() {
                "object"
            } else {
                "any"
            }
        });
        match ty {
            "array" => format!("array<{}>", describe(s.get("items"))),
            "object" => match s.get("additionalProperties") {
                Some(ap @ Value::Object(_)) if s.get("properties").is_none() => {
                    format!("map<{}>", describe(Some(ap)))
                }
                _ => "object".into(),
            },
            _ if s.get("enum").is_some() => format!("{ty} enum"),
            // `uuid` is left out of the Rust type (`generation::for_generation`).
            _ => match s
                .get("format")
                .and_then(Value::as_str)
                .filter(|f| *f != "uuid")
            {
                Some(f) => format!("{ty}({f})"),
                None => ty.to_owned(),
            },
        }
    };
    if s.get("nullable") == Some(&Value::Bool(true)) {
        out.push_str(" | null");
    }
    out
}

fn label(root: &str, path: &str) -> String {
    match (root.is_empty(), path.is_empty()) {
        (true, true) => "type".into(),
        (false, true) => root.to_owned(),
        (true, false) => format!("field `{path}`"),
        (false, false) => format!("{root} field `{path}`"),
    }
}

fn join(path: &str, next: &str) -> String {
    if path.is_empty() {
        next.to_owned()
    } else if next.starts_with('[') || next.starts_with('{') {
        format!("{path}{next}")
    } else {
        format!("{path}.{next}")
    }
}

fn strings(v: Option<&Value>) -> BTreeSet<String> {
    v.and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_owned))
        .collect()
}

/// Compares two schemas in place (`$ref`s are compared by name; the named
/// schemas are compared once, under their own name).
fn diff_schema(
    cx: &mut Cx,
    subject: &str,
    root: &str,
    path: &str,
    a: Option<&Value>,
    b: Option<&Value>,
) {
    let (ta, tb) = (describe(a), describe(b));
    if ta != tb && same_branches(a, b) {
        // typify names the variants of a `oneOf` of `$ref`s after the
        // referenced schemas: only their order (and so the order in which an
        // untagged enum tries them) changes.
        cx.push(
            false,
            '~',
            subject,
            if root.is_empty() && path.is_empty() {
                format!("oneOf branches reordered: {ta} -> {tb}")
            } else {
                format!(
                    "{} oneOf branches reordered: {ta} -> {tb}",
                    label(root, path)
                )
            },
        );
        return;
    }
    if ta != tb {
        cx.push(
            true,
            '~',
            subject,
            format!("{} retyped: {ta} -> {tb}", label(root, path)),
        );
        return;
    }
    let (Some(a), Some(b)) = (a, b) else { return };
    if a.get("$ref").is_some() {
        return;
    }
    // Enum values.
    let (ea, eb) = (strings(a.get("enum")), strings(b.get("enum")));
    let at = if path.is_empty() && root.is_empty() {
        String::new()
    } else {
        format!(" in {}", label(root, path))
    };
    for v in ea.difference(&eb) {
        cx.push(true, '-', subject, format!("enum value `{v}` removed{at}"));
    }
    for v in eb.difference(&ea) {
        cx.push(false, '+', subject, format!("enum value `{v}` added{at}"));
    }
    // A default added or removed changes the Rust type (`Option<T>` <-> `T`);
    // a changed value only changes what an absent field decodes to.
    match (a.get("default"), b.get("default")) {
        (None, Some(d)) => cx.push(true, '+', subject, format!("default {d} added{at}")),
        (Some(d), None) => cx.push(true, '-', subject, format!("default {d} removed{at}")),
        (Some(x), Some(y)) if x != y => cx.push(
            false,
            '~',
            subject,
            format!("default changed: {x} -> {y}{at}"),
        ),
        _ => {}
    }
    diff_constraints(cx, subject, &at, a, b);
    // Properties and `required`.
    let empty = serde_json::Map::new();
    let pa = a
        .get("properties")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let pb = b
        .get("properties")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let (ra, rb) = (strings(a.get("required")), strings(b.get("required")));
    for name in pa.keys().chain(pb.keys()).collect::<BTreeSet<_>>() {
        let field = join(path, name);
        match (pa.get(name), pb.get(name)) {
            (Some(_), None) => cx.push(
                true,
                '-',
                subject,
                format!("{} removed", label(root, &field)),
            ),
            (None, Some(s)) => {
                let ty = describe(Some(s));
                if rb.contains(name) {
                    cx.push(
                        true,
                        '+',
                        subject,
                        format!("required {} added ({ty})", label(root, &field)),
                    );
                } else {
                    cx.push(
                        false,
                        '+',
                        subject,
                        format!("{} added ({ty}, optional)", label(root, &field)),
                    );
                }
            }
            (Some(x), Some(y)) => {
                diff_schema(cx, subject, root, &field, Some(x), Some(y));
                match (ra.contains(name), rb.contains(name)) {
                    (false, true) => cx.push(
                        true,
                        '~',
                        subject,
                        format!("{} is now required", label(root, &field)),
                    ),
                    (true, false) => cx.push(
                        true,
                        '~',
                        subject,
                        format!(
                            "{} is now optional (its Rust type becomes Option)",
                            label(root, &field)
                        ),
                    ),
                    _ => {}
                }
            }
            (None, None) => {}
        }
    }
    // Containers and compositions (same shape, since the descriptions match).
    diff_schema_opt(
        cx,
        subject,
        root,
        &join(path, "[]"),
        a.get("items"),
        b.get("items"),
    );
    if let (Some(x @ Value::Object(_)), Some(y @ Value::Object(_))) =
        (a.get("additionalProperties"), b.get("additionalProperties"))
    {
        diff_schema(cx, subject, root, &join(path, "{}"), Some(x), Some(y));
    }
    for key in ["allOf", "oneOf", "anyOf"] {
        if let (Some(Value::Array(xs)), Some(Value::Array(ys))) = (a.get(key), b.get(key)) {
            for (i, (x, y)) in xs.iter().zip(ys).enumerate() {
                let at = if xs.len() == 1 {
                    path.to_owned()
                } else {
                    join(path, &format!("[{key} {i}]"))
                };
                diff_schema(cx, subject, root, &at, Some(x), Some(y));
            }
        }
    }
}

/// Whether `a` and `b` are `oneOf`s of the same `$ref`s in another order.
fn same_branches(a: Option<&Value>, b: Option<&Value>) -> bool {
    let refs = |s: Option<&Value>| -> Option<Vec<String>> {
        s?.get("oneOf")?
            .as_array()?
            .iter()
            .map(|x| x.get("$ref").and_then(Value::as_str).map(str::to_owned))
            .collect()
    };
    match (refs(a), refs(b)) {
        (Some(mut x), Some(mut y)) => {
            x.sort();
            y.sort();
            x == y
        }
        _ => false,
    }
}

/// Validation keywords. They change no Rust type: `generation::for_generation`
/// drops the ones typify would turn into another type (a `pattern` or
/// length, `format: uuid`, an integer minimum of 1), so none is breaking.
fn diff_constraints(cx: &mut Cx, subject: &str, at: &str, a: &Value, b: &Value) {
    const KEYS: [&str; 9] = [
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "minLength",
        "maxLength",
        "pattern",
        "minItems",
        "maxItems",
    ];
    for key in KEYS {
        let (sign, what) = match (a.get(key), b.get(key)) {
            (None, Some(v)) => ('+', format!("{key} {v} added{at}")),
            (Some(v), None) => ('-', format!("{key} {v} removed{at}")),
            (Some(v), Some(w)) if v != w => ('~', format!("{key} {v} -> {w}{at}")),
            _ => continue,
        };
        cx.push(false, sign, subject, what);
    }
    let uuid = |s: &Value| s.get("format").and_then(Value::as_str) == Some("uuid");
    match (uuid(a), uuid(b)) {
        (false, true) => cx.push(false, '+', subject, format!("format uuid added{at}")),
        (true, false) => cx.push(false, '-', subject, format!("format uuid removed{at}")),
        _ => {}
    }
}

fn diff_schema_opt(
    cx: &mut Cx,
    subject: &str,
    root: &str,
    path: &str,
    a: Option<&Value>,
    b: Option<&Value>,
) {
    if a.is_some() || b.is_some() {
        diff_schema(cx, subject, root, path, a, b);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn base() -> Value {
        json!({
            "openapi": "3.0.3",
            "info": {"title": "t", "version": "1"},
            "paths": {"/things/": {"get": {
                "operationId": "list_things",
                "parameters": [{"in": "query", "name": "q", "required": false, "schema": {"type": "string"}}],
                "responses": {"2XX": {"description": "ok", "content": {"application/json": {"schema": {"type": "array", "items": {"$ref": "#/components/schemas/Thing"}}}}}}
            }}},
            "components": {"schemas": {
                "Thing": {"type": "object", "required": ["uid"], "properties": {
                    "uid": {"type": "string"},
                    "name": {"type": "string"},
                    "meta": {"type": "object", "properties": {"depth": {"type": "integer"}}}
                }},
                "Status": {"type": "string", "enum": ["a", "b"]}
            }}
        })
    }

    fn lines(old: &Value, new: &Value) -> Vec<String> {
        diff(old, new).iter().map(ToString::to_string).collect()
    }

    #[test]
    fn identical_documents_have_no_changes() {
        assert!(diff(&base(), &base()).is_empty());
        assert_eq!(render(&[]), "no semantic changes\n");
    }

    #[test]
    fn reports_and_classifies_changes() {
        let mut new = base();
        let s = &mut new["components"]["schemas"];
        s["Thing"]["properties"]
            .as_object_mut()
            .unwrap()
            .remove("name");
        s["Thing"]["properties"]["meta"]["properties"]["depth"] = json!({"type": "string"});
        s["Thing"]["properties"]["extra"] = json!({"type": "boolean"});
        s["Thing"]["required"] = json!([]);
        s["Status"]["enum"] = json!(["a", "c"]);
        s["New"] = json!({"type": "object"});
        new["paths"]["/things/"]["get"]["parameters"][0]["required"] = json!(true);
        new["paths"]["/things/"]["post"] =
            json!({"operationId": "create_thing", "responses": {"2XX": {"description": "ok"}}});
        let l = lines(&base(), &new);
        let expect = [
            "         + operation `create_thing` (POST /things/)",
            "BREAKING ~ operation `list_things`: query parameter `q` is now required",
            "         + schema `New`",
            "BREAKING - schema `Status`: enum value `b` removed",
            "         + schema `Status`: enum value `c` added",
            "         + schema `Thing`: field `extra` added (boolean, optional)",
            "BREAKING ~ schema `Thing`: field `meta.depth` retyped: integer -> string",
            "BREAKING - schema `Thing`: field `name` removed",
            "BREAKING ~ schema `Thing`: field `uid` is now optional (its Rust type becomes Option)",
        ];
        assert_eq!(l, expect, "{l:#?}");
        assert!(render(&diff(&base(), &new)).ends_with("9 changes, 5 breaking\n"));
        // And backwards: the operation and schema removals are breaking.
        let back = lines(&new, &base());
        assert!(
            back.contains(&"BREAKING - operation `create_thing` (POST /things/)".to_owned()),
            "{back:#?}"
        );
        assert!(back.contains(&"BREAKING - schema `New`".to_owned()));
        assert!(back.contains(
            &"         + schema `Thing`: field `name` added (string, optional)".to_owned()
        ));
        assert!(back.contains(&"BREAKING ~ schema `Thing`: field `uid` is now required".to_owned()));
    }

    #[test]
    fn defaults_added_removed_and_changed() {
        let old = base();
        let mut new = base();
        let props = &mut new["components"]["schemas"]["Thing"]["properties"];
        props["uid"]["default"] = json!("x");
        let added = lines(&old, &new);
        assert!(
            added
                .iter()
                .any(|l| l.starts_with("BREAKING + schema `Thing`")
                    && l.contains("default \"x\" added")),
            "{added:?}"
        );
        let removed = lines(&new, &old);
        assert!(
            removed
                .iter()
                .any(|l| l.starts_with("BREAKING - ") && l.contains("removed")),
            "{removed:?}"
        );
        let mut changed = new.clone();
        changed["components"]["schemas"]["Thing"]["properties"]["uid"]["default"] = json!("y");
        let changed = lines(&new, &changed);
        assert_eq!(changed.len(), 1, "{changed:?}");
        assert!(
            !changed[0].starts_with("BREAKING") && changed[0].contains("\"x\" -> \"y\""),
            "{changed:?}"
        );
    }

    #[test]
    fn statuses_optional_bodies_constraints_and_branch_order() {
        let mut old = base();
        old["components"]["schemas"]["A"] = json!({"type": "object"});
        old["components"]["schemas"]["B"] = json!({"type": "object"});
        old["components"]["schemas"]["AB"] = json!({"oneOf": [{"$ref": "#/components/schemas/A"}, {"$ref": "#/components/schemas/B"}]});
        old["paths"]["/things/"]["delete"] =
            json!({"operationId": "delete_thing", "responses": {"2XX": {"description": "ok"}}});
        let mut new = old.clone();
        new["paths"]["/things/"]["delete"]["responses"] = json!({"204": {"description": "none"}});
        new["paths"]["/things/"]["delete"]["requestBody"] = json!({"required": false,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/A"}}}});
        let s = &mut new["components"]["schemas"];
        s["AB"]["oneOf"] =
            json!([{"$ref": "#/components/schemas/B"}, {"$ref": "#/components/schemas/A"}]);
        s["Thing"]["properties"]["meta"]["properties"]["depth"]["minimum"] = json!(0);
        s["Thing"]["properties"]["name"]["pattern"] = json!("^x$");
        let l = lines(&old, &new);
        let expect = [
            "         + operation `delete_thing`: optional request body added (application/json, A; the builder sends {} by default)",
            "         ~ operation `delete_thing`: success status 2XX -> 204",
            "         ~ schema `AB`: oneOf branches reordered: oneOf(A | B) -> oneOf(B | A)",
            "         + schema `Thing`: minimum 0 added in field `meta.depth`",
            "         + schema `Thing`: pattern \"^x$\" added in field `name`",
        ];
        assert_eq!(l, expect, "{l:#?}");
        let mut one = new.clone();
        one["components"]["schemas"]["Thing"]["properties"]["meta"]["properties"]["depth"]
            ["minimum"] = json!(1);
        let l = lines(&new, &one);
        assert_eq!(
            l,
            ["         ~ schema `Thing`: minimum 0 -> 1 in field `meta.depth`"],
            "{l:#?}"
        );
    }

    #[test]
    fn documentation_changes_are_their_own_section() {
        let mut old = base();
        old["info"]["description"] = json!("Old.");
        old["tags"] = json!([{"name": "things", "description": "Things."}]);
        old["components"]["schemas"]["Thing"]["properties"]["meta"]["properties"]["depth"]
            ["description"] = json!("How deep.");
        let mut new = old.clone();
        new["info"]["description"] = json!("New.");
        new["tags"][0]["description"] = json!("All the things.");
        new["components"]["schemas"]["Thing"]["description"] = json!("A thing.");
        new["components"]["schemas"]["Thing"]["properties"]["meta"]["properties"]["depth"]
            .as_object_mut()
            .unwrap()
            .remove("description");
        let changes = diff(&old, &new);
        assert!(changes.iter().all(|c| c.docs && !c.breaking), "{changes:?}");
        assert_eq!(
            render(&changes),
            "no semantic changes\n\
             documentation (summaries, descriptions, x-sources):\n\
             \x20        ~ info: description changed\n\
             \x20        ~ tag `things`: description changed\n\
             \x20        + schema `Thing`: description added\n\
             \x20        - schema `Thing`: field `meta.depth` description removed\n\
             4 documentation changes\n"
        );
    }

    #[test]
    fn response_and_body_changes() {
        let mut new = base();
        let op = &mut new["paths"]["/things/"]["get"];
        op["responses"]["2XX"] = json!({"description": "none"});
        op["requestBody"] = json!({"required": true, "content": {"application/json": {"schema": {"type": "object"}}}});
        let l = lines(&base(), &new);
        assert!(
            l.contains(
                &"BREAKING + operation `list_things`: request body added (application/json)"
                    .to_owned()
            ),
            "{l:#?}"
        );
        assert!(
            l.contains(
                &"BREAKING ~ operation `list_things`: response array<Thing> -> no body".to_owned()
            ),
            "{l:#?}"
        );
    }
}

//! The progenitor settings and naming rules of the generated client.
//!
//! Not a module of the library: `build.rs` and `xtask` both include this file
//! with `#[path]`, so that `cargo xtask check` generates exactly what the
//! build does.

use serde_json::Value;

/// Named components that are plain string enums, with their values: each is
/// replaced by an open enum with an `Unknown(String)` case.
pub fn string_enums(doc: &Value) -> Vec<(String, Vec<String>)> {
    let schemas = doc
        .pointer("/components/schemas")
        .and_then(Value::as_object);
    let mut out = Vec::new();
    for (name, s) in schemas.into_iter().flatten() {
        if s.get("type").and_then(Value::as_str) != Some("string") {
            continue;
        }
        if let Some(values) = s.get("enum").and_then(Value::as_array) {
            let values = values.iter().filter_map(|v| v.as_str().map(str::to_owned));
            out.push((name.clone(), values.collect()));
        }
    }
    out
}

/// The document as progenitor gets it. Validation keywords that only
/// constrain a value stay in the document (the mock and other tools check
/// them) but are dropped here where typify would otherwise change the Rust
/// type: `format: uuid` (`uuid::Uuid`), a string `pattern` or length (a
/// regex newtype) and an integer minimum of 1 or more (`NonZeroU64`). The
/// SDK keeps `String` and `i64` there; the server checks the values.
///
/// The document's texts (`summary`, `description`) become rustdoc: they are
/// escaped as Markdown (`markdown_text`) so that a bracket or an angle
/// bracket in prose is shown, not read as a link or an HTML tag.
pub fn for_generation(doc: &Value) -> Value {
    let mut out = doc.clone();
    strip_type_changing(&mut out);
    escape_texts(&mut out);
    out
}

/// Escapes every `summary` and `description` string, leaving values alone
/// (`default`, `enum`, `example`, `examples` are data, not prose).
fn escape_texts(v: &mut Value) {
    match v {
        Value::Object(m) => {
            for (k, child) in m.iter_mut() {
                match (k.as_str(), child) {
                    ("summary" | "description", Value::String(s)) => *s = markdown_text(s),
                    ("default" | "enum" | "example" | "examples", _) => {}
                    (_, child) => escape_texts(child),
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(escape_texts),
        _ => {}
    }
}

/// `text` with `[`, `]`, `<` and `>` escaped outside `code spans`, so that
/// rustdoc shows them as written.
pub fn markdown_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_code = false;
    for c in text.chars() {
        match c {
            '`' => {
                in_code = !in_code;
                out.push(c);
            }
            '[' | ']' if !in_code => {
                out.push('\\');
                out.push(c);
            }
            '<' if !in_code => out.push_str("&lt;"),
            '>' if !in_code => out.push_str("&gt;"),
            _ => out.push(c),
        }
    }
    out
}

fn strip_type_changing(v: &mut Value) {
    match v {
        Value::Object(m) => {
            let string = m.get("type").and_then(Value::as_str) == Some("string");
            let integer = m.get("type").and_then(Value::as_str) == Some("integer");
            if string {
                if m.get("format").and_then(Value::as_str) == Some("uuid") {
                    m.remove("format");
                }
                for key in ["pattern", "minLength", "maxLength"] {
                    m.remove(key);
                }
            }
            if integer {
                for key in ["minimum", "exclusiveMinimum"] {
                    if m.get(key).and_then(Value::as_f64).is_some_and(|x| x >= 1.0) {
                        m.remove(key);
                    }
                }
            }
            m.values_mut().for_each(strip_type_changing);
        }
        Value::Array(a) => a.iter_mut().for_each(strip_type_changing),
        _ => {}
    }
}

/// Builder interface, merged tags, required hooks with the runtime as inner
/// type, `PartialEq` on every type, and the open enums swapped in.
pub fn settings(doc: &Value) -> progenitor::GenerationSettings {
    let mut settings = progenitor::GenerationSettings::new();
    settings
        .with_interface(progenitor::InterfaceStyle::Builder)
        .with_tag(progenitor::TagStyle::Merged)
        .with_hooks(progenitor::HooksMode::Expected)
        .with_inner_type(quote::quote! { crate::runtime::Runtime })
        .with_derive("PartialEq");
    for (name, _) in string_enums(doc) {
        settings.with_replacement(
            &name,
            format!("crate::generated::open_enums::{name}"),
            [
                progenitor::TypeImpl::Display,
                progenitor::TypeImpl::FromStr,
                progenitor::TypeImpl::FromStringIrrefutable,
            ]
            .into_iter(),
        );
    }
    settings
}

/// With the `schemars` feature: every generated type derives
/// `schemars::JsonSchema` (the open enums implement it by hand). Only
/// `build.rs` calls it: `xtask`, which includes this file too, checks the
/// document without the feature.
#[allow(dead_code)]
pub fn with_schemas(settings: &mut progenitor::GenerationSettings) {
    settings.with_derive("schemars::JsonSchema");
}

/// `fleet-managed-mcap-v1` -> `FleetManagedMcapV1`: open-enum variants and
/// builder type names.
pub fn pascal(s: &str) -> String {
    let mut out = String::new();
    for word in s.split(|c: char| !c.is_ascii_alphanumeric()) {
        let mut chars = word.chars();
        if let Some(first) = chars.next() {
            out.extend(first.to_uppercase());
            out.push_str(&chars.as_str().to_ascii_lowercase());
        }
    }
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, 'V');
    }
    out
}

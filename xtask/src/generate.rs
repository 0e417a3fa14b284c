//! Runs progenitor in-process with the settings of build.rs, under
//! `catch_unwind` with the panic hook silenced, then `syn::parse2`s the
//! output. A failure is a one-line message; when progenitor's own message does
//! not say where, the failing operation is found by bisection.

use std::{
    panic::{self, AssertUnwindSafe},
    sync::Mutex,
};

use serde_json::{Map, Value};

use crate::lint::{operations, METHODS};

/// What a successful generation produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Generated {
    pub operations: usize,
    pub open_enums: usize,
    /// Types progenitor generated (`mod types`), besides the open enums.
    pub types: usize,
}

#[path = "../../src/generation.rs"]
mod generation;

pub use generation::pascal as variant_name;

/// Named components that are plain string enums (build.rs replaces each by
/// an open enum).
pub fn string_enums(doc: &Value) -> Vec<String> {
    generation::string_enums(doc)
        .into_iter()
        .map(|(name, _)| name)
        .collect()
}

/// The same settings as build.rs (the same file).
fn settings(doc: &Value) -> progenitor::GenerationSettings {
    generation::settings(doc)
}

/// Serialises use of the process-wide panic hook.
static HOOK: Mutex<()> = Mutex::new(());

/// One attempt; `Err` is progenitor's message (error or panic) or syn's.
fn attempt(doc: &Value) -> Result<usize, String> {
    let spec: openapiv3::OpenAPI = serde_json::from_value(generation::for_generation(doc))
        .map_err(|e| format!("not a valid OpenAPI 3.0 document: {e}"))?;
    let settings = settings(doc);
    let _guard = HOOK.lock().unwrap_or_else(|p| p.into_inner());
    let previous = panic::take_hook();
    panic::set_hook(Box::new(|_| {}));
    let result = panic::catch_unwind(AssertUnwindSafe(|| {
        let mut generator = progenitor::Generator::new(&settings);
        generator.generate_tokens(&spec)
    }));
    panic::set_hook(previous);
    let tokens = result
        .map_err(|p| format!("progenitor panicked: {}", panic_text(&*p)))?
        .map_err(|e| format!("progenitor: {e}"))?;
    let file: syn::File =
        syn::parse2(tokens).map_err(|e| format!("the generated code does not parse: {e}"))?;
    Ok(count_types(&file))
}

/// The structs, enums and aliases in the generated `mod types`.
fn count_types(file: &syn::File) -> usize {
    file.items
        .iter()
        .filter_map(|item| match item {
            syn::Item::Mod(m) if m.ident == "types" => m.content.as_ref(),
            _ => None,
        })
        .flat_map(|(_, items)| items)
        .filter(|i| {
            matches!(
                i,
                syn::Item::Struct(_) | syn::Item::Enum(_) | syn::Item::Type(_)
            )
        })
        .count()
}

fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "unknown panic".into())
        .replace('\n', " ")
}

/// Generates the client for `doc`.
pub fn generate(doc: &Value) -> Result<Generated, String> {
    match attempt(doc) {
        Ok(types) => Ok(Generated {
            operations: operations(doc).len(),
            open_enums: string_enums(doc).len(),
            types,
        }),
        Err(e) if e.starts_with("not a valid") => Err(e),
        Err(e) => Err(locate(doc).map_or(e.clone(), |culprit| format!("{culprit}: {e}"))),
    }
}

/// A copy of `doc` with only the operations `keep` (indices into
/// `operations(doc)`).
fn with_operations(doc: &Value, keep: &[usize]) -> Value {
    let ops = operations(doc);
    let mut paths = Map::new();
    for &i in keep {
        let op = &ops[i];
        let item = paths.entry(op.path.to_owned()).or_insert_with(|| {
            // The path item without its operations (keeps `parameters`).
            let mut item = op.item.as_object().cloned().unwrap_or_default();
            item.retain(|k, _| !METHODS.contains(&k.as_str()));
            Value::Object(item)
        });
        if let Value::Object(m) = item {
            m.insert(op.method.to_owned(), op.op.clone());
        }
    }
    let mut out = doc.clone();
    out["paths"] = Value::Object(paths);
    out
}

/// Names what makes generation fail: the components alone, or one operation
/// (found by halving the operation list; about log2(n) generations).
fn locate(doc: &Value) -> Option<String> {
    if attempt(&with_operations(doc, &[])).is_err() {
        return Some("the component schemas".into());
    }
    let mut candidates: Vec<usize> = (0..operations(doc).len()).collect();
    while candidates.len() > 1 {
        let (a, b) = candidates.split_at(candidates.len() / 2);
        if attempt(&with_operations(doc, a)).is_err() {
            candidates = a.to_vec();
        } else if attempt(&with_operations(doc, b)).is_err() {
            candidates = b.to_vec();
        } else {
            return None; // Only fails in combination (e.g. a name clash).
        }
    }
    let i = *candidates.first()?;
    attempt(&with_operations(doc, &[i])).err()?;
    Some(operations(doc)[i].subject())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc(extra_responses: Value) -> Value {
        let mut responses = json!({"2XX": {"description": "ok", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Thing"}}}}});
        merge(&mut responses, extra_responses);
        json!({
            "openapi": "3.0.3",
            "info": {"title": "t", "version": "1"},
            "paths": {
                "/a/": {"get": {"operationId": "get_a", "responses": {"2XX": {"description": "ok"}}}},
                "/b/": {"get": {"operationId": "get_b", "responses": responses}},
                "/c/": {"delete": {"operationId": "delete_c", "responses": {"2XX": {"description": "ok"}}}}
            },
            "components": {"schemas": {
                "Thing": {"type": "object", "properties": {"status": {"$ref": "#/components/schemas/Status"}}},
                "Status": {"type": "string", "enum": ["a", "b"]}
            }}
        })
    }

    fn merge(a: &mut Value, b: Value) {
        if let (Value::Object(a), Value::Object(b)) = (a, b) {
            a.extend(b);
        }
    }

    #[test]
    fn generates_a_small_document() {
        let g = generate(&doc(json!({}))).unwrap();
        assert_eq!(g.operations, 3);
        assert_eq!(g.open_enums, 1);
        assert_eq!(g.types, 1, "Thing (Status is replaced by an open enum)");
    }

    #[test]
    fn a_panic_becomes_a_message_naming_the_operation() {
        // 2XX with a body + 204 without: progenitor asserts and panics.
        let e = generate(&doc(json!({"204": {"description": "none"}}))).unwrap_err();
        assert!(e.starts_with("operation `get_b` (GET /b/)"), "{e}");
        assert!(e.contains("panicked"), "{e}");
    }
}

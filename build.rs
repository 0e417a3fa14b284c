//! Generates the typed Avala client from `openapi/avala.json` into `OUT_DIR`.
//!
//! Outputs (all included by `src/generated.rs`):
//! - `codegen.rs`: progenitor's client, builders and types;
//! - `open_enums.rs`: an open enum (with an `Unknown(String)` case) for every
//!   named string-enum component, swapped in with `with_replacement` so that a
//!   value the server adds later never fails a whole response;
//! - `routes.rs`: the operation table (id, method, path template, anonymous)
//!   that the request hooks use to refuse route-changing path parameters;
//! - `contract.rs` (feature `mock`) and `dynamic.rs` (feature `dynamic`):
//!   per-operation glue keyed by operation id;
//! - `paging.rs`: `Page` impls for every `*Page` envelope and a `.stream()`
//!   method on the builder of every paginated operation.
//!
//! The document's texts are the rustdoc: progenitor puts each operation's
//! summary, description, method and path on its `Client` method; `Docs`
//! adds the link to the paging stream and each parameter's description on
//! its builder setter.
//!
//! Generation fails with a message naming the problem instead of a bare panic;
//! `cargo xtask check` runs the same lint before a document is ever committed.

use std::{env, fmt::Write as _, fs, path::PathBuf};

use serde_json::Value;

#[path = "src/generation.rs"]
mod generation;
use generation::{markdown_text, pascal, string_enums};

const SPEC: &str = "openapi/avala.json";

fn main() {
    println!("cargo:rerun-if-changed={SPEC}");
    // `links = "avala"`: the CLI's build script reads the document from here
    // (`DEP_AVALA_OPENAPI`), in the workspace and in a packaged copy alike.
    if let Some(dir) = env::var_os("CARGO_MANIFEST_DIR") {
        println!(
            "cargo::metadata=openapi={}",
            PathBuf::from(dir).join(SPEC).display()
        );
    }
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=src/generation.rs");
    if let Err(e) = run() {
        // A readable, single-line cause instead of a backtrace.
        eprintln!("error: generating the Avala client from {SPEC}: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let out = PathBuf::from(env::var("OUT_DIR").map_err(|e| e.to_string())?);
    let text = fs::read_to_string(SPEC).map_err(|e| format!("cannot read: {e}"))?;
    let raw: Value = serde_json::from_str(&text).map_err(|e| format!("invalid JSON: {e}"))?;
    let spec: openapiv3::OpenAPI = serde_json::from_value(generation::for_generation(&raw))
        .map_err(|e| format!("not an OpenAPI 3.0 document: {e}"))?;

    let enums = string_enums(&raw);
    let mut settings = generation::settings(&raw);
    if env::var_os("CARGO_FEATURE_SCHEMARS").is_some() {
        generation::with_schemas(&mut settings);
    }
    let mut generator = progenitor::Generator::new(&settings);
    let tokens = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        generator.generate_tokens(&spec)
    }))
    .map_err(|p| format!("progenitor panicked: {}", panic_text(&p)))?
    .map_err(|e| format!("progenitor: {e}"))?;
    let mut file: syn::File = syn::parse2(tokens).map_err(|e| format!("generated code: {e}"))?;
    syn::visit_mut::VisitMut::visit_file_mut(&mut MappedSend, &mut file);
    let mut optional = OptionalBodies {
        builders: optional_body_builders(&raw),
    };
    syn::visit_mut::VisitMut::visit_file_mut(&mut optional, &mut file);
    syn::visit_mut::VisitMut::visit_file_mut(&mut Docs::of(&raw), &mut file);
    let mut lenient = LenientVoid::default();
    syn::visit_mut::VisitMut::visit_file_mut(&mut lenient, &mut file);
    let void = void_operations(&raw);
    if lenient.widened < void {
        return Err(format!(
            "{void} operations answer without a body, but {} success arms were widened to 2xx",
            lenient.widened
        ));
    }
    write(&out, "codegen.rs", &prettyplease::unparse(&file))?;
    write(&out, "open_enums.rs", &open_enums_code(&enums))?;
    write(&out, "routes.rs", &routes_code(&raw)?)?;
    write(&out, "paging.rs", &paging_code(&raw)?)?;
    write(&out, "contract.rs", &contract_code(&raw)?)?;
    write(&out, "dynamic.rs", &dynamic_code(&raw)?)?;
    Ok(())
}

/// Makes every builder's `send()` return `avala::Result`, so that matching on
/// a call gives `avala::Error` directly; progenitor's own result stays
/// available as `send_unmapped()`.
struct MappedSend;

impl syn::visit_mut::VisitMut for MappedSend {
    fn visit_item_impl_mut(&mut self, item: &mut syn::ItemImpl) {
        let mut added = Vec::new();
        for member in &mut item.items {
            let syn::ImplItem::Fn(f) = member else {
                continue;
            };
            if f.sig.ident != "send" || f.sig.asyncness.is_none() {
                continue;
            }
            let syn::ReturnType::Type(_, ty) = &f.sig.output else {
                continue;
            };
            let Some(ok) = result_ok_type(ty) else {
                continue;
            };
            f.sig.ident = syn::Ident::new("send_unmapped", f.sig.ident.span());
            // progenitor sends the document's `info.version` as `api-version`
            // on every request; the Avala API defines no such header and the
            // official SDKs never send it.
            let text = |stmt: &syn::Stmt| quote::ToTokens::to_token_stream(stmt).to_string();
            f.block
                .stmts
                .retain(|stmt| !text(stmt).contains("\"api-version\""));
            // With no header left to add, the extra map is dead weight.
            if !f
                .block
                .stmts
                .iter()
                .any(|s| text(s).contains("header_map . append"))
            {
                f.block
                    .stmts
                    .retain(|s| !text(s).starts_with("let mut header_map"));
                DropHeaderMap.visit_block_mut(&mut f.block);
            }
            f.attrs.push(syn::parse_quote!(#[doc = "Sends the request, with progenitor's error type; prefer `send`."]));
            added.push(syn::parse_quote! {
                /// Sends the request.
                pub async fn send(self) -> crate::Result<#ok> {
                    let client = self.client;
                    self.send_unmapped()
                        .await
                        .map_err(|e| crate::Error::from(e).without_key_of(client))
                }
            });
        }
        item.items.extend(added);
        syn::visit_mut::visit_item_impl_mut(self, item);
    }
}

/// What the rustdoc adds to progenitor's: by operation id, whether it pages
/// (its `Client` method links to the builder's `stream`), and by builder
/// type name, each setter's parameter description.
struct Docs {
    paginated: std::collections::BTreeSet<String>,
    setters: std::collections::BTreeMap<String, Vec<(String, String)>>,
}

impl Docs {
    fn of(raw: &Value) -> Self {
        let mut docs = Docs {
            paginated: Default::default(),
            setters: Default::default(),
        };
        for (_, _, op) in operations(raw) {
            if page_of(op).is_some() {
                docs.paginated.insert(op_id(op).to_owned());
            }
            let described = parameters(op).filter_map(|p| {
                let text = p.get("description")?.as_str()?;
                Some((setter(p["name"].as_str()?), markdown_text(text)))
            });
            docs.setters.insert(pascal(op_id(op)), described.collect());
        }
        docs
    }

    fn doc(text: &str) -> syn::Attribute {
        syn::parse_quote!(#[doc = #text])
    }
}

/// Adds `paragraph` to a doc comment, before progenitor's usage example
/// (which ends the comment), or at the end when there is none.
fn before_example(attrs: &mut Vec<syn::Attribute>, paragraph: &str) {
    const EXAMPLE: &str = "```ignore";
    for attr in attrs.iter_mut() {
        let syn::Meta::NameValue(nv) = &mut attr.meta else {
            continue;
        };
        let syn::Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Str(text),
            ..
        }) = &mut nv.value
        else {
            continue;
        };
        let value = text.value();
        if let Some(at) = value.find(EXAMPLE) {
            let joined = format!("{}\n{paragraph}\n\n{}", &value[..at], &value[at..]);
            *text = syn::LitStr::new(&joined, text.span());
            return;
        }
    }
    attrs.push(Docs::doc(&format!("\n\n{paragraph}")));
}

impl syn::visit_mut::VisitMut for Docs {
    fn visit_item_impl_mut(&mut self, item: &mut syn::ItemImpl) {
        let syn::Type::Path(p) = &*item.self_ty else {
            return;
        };
        let Some(name) = p.path.segments.last().map(|s| s.ident.to_string()) else {
            return;
        };
        for member in &mut item.items {
            let syn::ImplItem::Fn(f) = member else {
                continue;
            };
            let method = f.sig.ident.to_string();
            if name == "Client" && item.trait_.is_none() && self.paginated.contains(&method) {
                let builder = pascal(&method);
                let paging = format!(
                    "Paginated: [`stream`](crate::builder::{builder}::stream) on the returned \
                     builder yields every item of every page, fetching one page at a time."
                );
                before_example(&mut f.attrs, &paging);
            }
            let described = self
                .setters
                .get(&name)
                .and_then(|s| s.iter().find(|(setter, _)| *setter == method));
            if let Some((_, text)) = described {
                if !f.attrs.iter().any(|a| a.path().is_ident("doc")) {
                    f.attrs.push(Self::doc(text));
                }
            }
        }
    }
}

/// The parameters of an operation, in the document's order.
fn parameters(op: &Value) -> impl Iterator<Item = &Value> {
    op.get("parameters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

/// The `*Page` schema an operation answers with, if it pages.
fn page_of(op: &Value) -> Option<&str> {
    op.pointer("/responses/2XX/content/application~1json/schema")
        .and_then(ref_name)
        .filter(|n| n.ends_with("Page"))
}

/// The builders (by type name) of the operations whose request body is
/// optional (`required: false`).
fn optional_body_builders(raw: &Value) -> std::collections::BTreeSet<String> {
    operations(raw)
        .into_iter()
        .filter(|(_, _, op)| {
            op.get("requestBody")
                .is_some_and(|b| b.get("required") != Some(&Value::Bool(true)))
        })
        .map(|(_, _, op)| pascal(op_id(op)))
        .collect()
}

/// progenitor ignores `required: false` and starts a builder whose body
/// type has no builder of its own with "body was not initialized". For an
/// optional body (an object without required properties, see the lint) the
/// builder starts with `{}` instead, so `client.compute_consensus()
/// .project_uid(p).send()` works as it did before the body was declared.
struct OptionalBodies {
    builders: std::collections::BTreeSet<String>,
}

impl syn::visit_mut::VisitMut for OptionalBodies {
    fn visit_item_impl_mut(&mut self, item: &mut syn::ItemImpl) {
        let syn::Type::Path(p) = &*item.self_ty else {
            return;
        };
        let Some(name) = p.path.segments.last().map(|s| s.ident.to_string()) else {
            return;
        };
        if !self.builders.contains(&name) {
            return;
        }
        for member in &mut item.items {
            let syn::ImplItem::Fn(f) = member else {
                continue;
            };
            if f.sig.ident == "new" {
                syn::visit_mut::VisitMut::visit_block_mut(&mut InitialBody, &mut f.block);
            }
        }
    }
}

struct InitialBody;

impl syn::visit_mut::VisitMut for InitialBody {
    fn visit_field_value_mut(&mut self, field: &mut syn::FieldValue) {
        let is_body = matches!(&field.member, syn::Member::Named(i) if i == "body");
        let text = quote::ToTokens::to_token_stream(&field.expr).to_string();
        if is_body && text.starts_with("Err") {
            field.expr = syn::parse_quote! {
                ::serde_json::from_value(::serde_json::Value::Object(::serde_json::Map::new()))
                    .map_err(|e| e.to_string())
            };
        }
    }
}

/// Widens the success arm of every operation without a response body
/// (`204 => Ok(ResponseValue::empty(..))`) to `200..=299`: the document says
/// what the server sends (`204`), and the SDK takes any 2xx, a `200` with or
/// without a body included, as success instead of an unexpected response.
#[derive(Default)]
struct LenientVoid {
    widened: usize,
}

impl syn::visit_mut::VisitMut for LenientVoid {
    fn visit_arm_mut(&mut self, arm: &mut syn::Arm) {
        syn::visit_mut::visit_arm_mut(self, arm);
        let syn::Pat::Lit(lit) = &arm.pat else {
            return;
        };
        let syn::Lit::Int(code) = &lit.lit else {
            return;
        };
        let success = code
            .base10_parse::<u16>()
            .is_ok_and(|c| (200..300).contains(&c));
        let body = quote::ToTokens::to_token_stream(&arm.body).to_string();
        if success && body.contains("ResponseValue :: empty") && !body.contains("Err") {
            arm.pat = syn::parse_quote!(200u16..=299u16);
            self.widened += 1;
        }
    }
}

/// How many operations declare only success responses without content, at
/// least one with a literal status (`204`), whose arm `LenientVoid` widens.
fn void_operations(raw: &Value) -> usize {
    operations(raw)
        .into_iter()
        .filter(|(_, _, op)| {
            let Some(responses) = op.get("responses").and_then(Value::as_object) else {
                return false;
            };
            let success: Vec<&Value> = responses
                .iter()
                .filter(|(s, _)| s.starts_with('2'))
                .map(|(_, r)| r)
                .collect();
            let literal = responses.keys().any(|s| s.starts_with('2') && s != "2XX");
            literal && success.iter().all(|r| r.get("content").is_none())
        })
        .count()
}

/// Replaces `x.headers(header_map)` by `x`.
struct DropHeaderMap;

impl syn::visit_mut::VisitMut for DropHeaderMap {
    fn visit_expr_mut(&mut self, expr: &mut syn::Expr) {
        syn::visit_mut::visit_expr_mut(self, expr);
        if let syn::Expr::MethodCall(call) = expr {
            let is_map = call.method == "headers"
                && call.args.len() == 1
                && quote::ToTokens::to_token_stream(&call.args[0]).to_string() == "header_map";
            if is_map {
                *expr = (*call.receiver).clone();
            }
        }
    }
}

/// `T` of a `Result<T, E>` type.
fn result_ok_type(ty: &syn::Type) -> Option<syn::Type> {
    let syn::Type::Path(p) = ty else { return None };
    let last = p.path.segments.last().filter(|s| s.ident == "Result")?;
    let syn::PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    match args.args.first()? {
        syn::GenericArgument::Type(t) => Some(t.clone()),
        _ => None,
    }
}

fn write(dir: &std::path::Path, name: &str, code: &str) -> Result<(), String> {
    fs::write(dir.join(name), code).map_err(|e| format!("writing {name}: {e}"))
}

fn panic_text(p: &Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "unknown panic".into())
}

fn open_enums_code(enums: &[(String, Vec<String>)]) -> String {
    let mut c =
        String::from("// Generated by build.rs: open enums for named string-enum schemas.\n");
    for (name, values) in enums {
        let variants: Vec<(String, &String)> = values.iter().map(|v| (pascal(v), v)).collect();
        let _ = writeln!(
            c,
            "/// `{name}`: one of the values the API documents, or `Unknown` with a value \
             this SDK does not know yet.\n\
             #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]\n\
             #[non_exhaustive]\npub enum {name} {{"
        );
        for (v, wire) in &variants {
            let _ = writeln!(c, "    /// `{wire}`\n    {v},");
        }
        let _ = writeln!(
            c,
            "    /// A value this version of the SDK does not know; kept verbatim.\n    Unknown(String),\n}}"
        );
        let _ = writeln!(c, "impl {name} {{\n    /// The value as sent on the wire.\n    pub fn as_str(&self) -> &str {{\n        match self {{");
        for (v, wire) in &variants {
            let _ = writeln!(c, "            Self::{v} => {wire:?},");
        }
        let _ = writeln!(
            c,
            "            Self::Unknown(s) => s,\n        }}\n    }}\n}}"
        );
        let _ = writeln!(
            c,
            "impl From<&str> for {name} {{\n    fn from(s: &str) -> Self {{\n        match s {{"
        );
        for (v, wire) in &variants {
            let _ = writeln!(c, "            {wire:?} => Self::{v},");
        }
        let _ = writeln!(
            c,
            "            other => Self::Unknown(other.to_owned()),\n        }}\n    }}\n}}\n\
             impl From<String> for {name} {{\n    fn from(s: String) -> Self {{ Self::from(s.as_str()) }}\n}}\n\
             impl From<&String> for {name} {{\n    fn from(s: &String) -> Self {{ Self::from(s.as_str()) }}\n}}\n\
             impl std::str::FromStr for {name} {{\n    type Err = std::convert::Infallible;\n    \
             fn from_str(s: &str) -> Result<Self, Self::Err> {{ Ok(Self::from(s)) }}\n}}\n\
             impl std::fmt::Display for {name} {{\n    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {{ f.write_str(self.as_str()) }}\n}}\n\
             impl serde::Serialize for {name} {{\n    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {{ s.serialize_str(self.as_str()) }}\n}}\n\
             impl<'de> serde::Deserialize<'de> for {name} {{\n    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {{\n        \
             crate::generated::open_enums::deserialize_open(d).map(Self::from)\n    }}\n}}\n\
             #[cfg(feature = \"schemars\")]\n\
             impl schemars::JsonSchema for {name} {{\n    \
             fn schema_name() -> String {{ {name:?}.to_owned() }}\n    \
             fn json_schema(_: &mut schemars::gen::SchemaGenerator) -> schemars::schema::Schema {{\n        \
             crate::generated::open_enums::open_schema(&[{known}])\n    }}\n}}\n",
            known = values.iter().map(|v| format!("{v:?}")).collect::<Vec<_>>().join(", ")
        );
    }
    c
}

fn operations(raw: &Value) -> Vec<(&str, &str, &Value)> {
    let mut ops = Vec::new();
    if let Some(paths) = raw.get("paths").and_then(Value::as_object) {
        for (path, item) in paths {
            for (method, op) in item.as_object().into_iter().flatten() {
                if op.get("operationId").is_some() {
                    ops.push((path.as_str(), method.as_str(), op));
                }
            }
        }
    }
    ops
}

fn op_id(op: &Value) -> &str {
    op["operationId"].as_str().unwrap_or_default()
}

fn routes_code(raw: &Value) -> Result<String, String> {
    let mut c = String::from(
        "/// Every operation: (operation id, HTTP method, path template, anonymous).\n\
         pub(crate) static ROUTES: &[crate::routes::Route] = &[\n",
    );
    for (path, method, op) in operations(raw) {
        let anonymous = op
            .get("security")
            .and_then(Value::as_array)
            .is_some_and(|a| a.is_empty());
        let _ = writeln!(
            c,
            "    crate::routes::Route {{ operation_id: {:?}, method: {:?}, template: {:?}, anonymous: {}, slashes: {}, mixed: {} }},",
            op_id(op),
            method.to_ascii_uppercase(),
            path,
            anonymous,
            path.matches('/').count(),
            path.split('/').any(|s| s.contains('{') && !(s.starts_with('{') && s.ends_with('}') && s.matches('{').count() == 1)),
        );
    }
    c.push_str("];\n");
    Ok(c)
}

/// The schema name a `$ref` points at.
fn ref_name(v: &Value) -> Option<&str> {
    v.get("$ref")?.as_str()?.rsplit('/').next()
}

fn paging_code(raw: &Value) -> Result<String, String> {
    let mut c = String::from(
        "// Generated by build.rs: auto-paging for every `{next, previous, results}` operation.\n",
    );
    let schemas = raw
        .pointer("/components/schemas")
        .and_then(Value::as_object)
        .ok_or("no components.schemas")?;
    for (name, s) in schemas {
        let Some(props) = s.get("properties").and_then(Value::as_object) else {
            continue;
        };
        let is_page = props.len() == 3
            && props.contains_key("next")
            && props.contains_key("previous")
            && props.get("results").and_then(|r| r.get("items")).is_some();
        if !is_page {
            continue;
        }
        let item = ref_name(&props["results"]["items"])
            .ok_or_else(|| format!("{name}.results items must be a $ref"))?;
        let _ = writeln!(
            c,
            "impl crate::pagination::Page for types::{name} {{\n    type Item = types::{item};\n    \
             fn into_parts(self) -> (Vec<Self::Item>, Option<String>) {{ (self.results, self.next) }}\n}}"
        );
    }
    for (_, _, op) in operations(raw) {
        let Some(page) = page_of(op) else {
            continue;
        };
        let item = schemas[page]["properties"]["results"]["items"].clone();
        let item = ref_name(&item).unwrap_or_default().to_owned();
        let params: Vec<&str> = parameters(op)
            .filter_map(|p| p.get("name").and_then(Value::as_str))
            .collect();
        if !params.contains(&"cursor") {
            return Err(format!(
                "{} returns {page} but has no `cursor` parameter",
                op_id(op)
            ));
        }
        let builder = pascal(op_id(op));
        let set_page = if params.contains(&"page") {
            "crate::pagination::Position::Page(n) => Ok(b.page(n)),"
        } else {
            "crate::pagination::Position::Page(n) => Ok(b.cursor(n.to_string())),"
        };
        let _ = writeln!(
            c,
            "impl<'a> builder::{builder}<'a> {{\n    \
             /// Every `{item}` across all pages, fetched one page at a time as the stream is polled.\n    \
             /// The cursor comes from each page's `next` link; a repeated cursor ends the stream\n    \
             /// with an error instead of looping.\n    \
             pub fn stream(self) -> impl futures::Stream<Item = crate::Result<types::{item}>> + Unpin + 'a {{\n        \
             crate::pagination::stream(self, |b, position| match position {{\n            \
             crate::pagination::Position::Cursor(s) => Ok(b.cursor(s)),\n            {set_page}\n        \
             }}, |b| b.send())\n    }}\n}}"
        );
    }
    Ok(c)
}

/// The Rust type progenitor uses for a parameter, body or response schema.
fn rust_type(schema: &Value) -> Result<String, String> {
    if let Some(name) = ref_name(schema) {
        return Ok(format!("crate::types::{name}"));
    }
    let ty = schema
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let format = schema
        .get("format")
        .and_then(Value::as_str)
        .unwrap_or_default();
    Ok(match (ty, format) {
        ("string", _) => "String".into(),
        ("integer", "uint32") => "u32".into(),
        ("integer", _) => "i64".into(),
        ("boolean", _) => "bool".into(),
        ("array", _) => format!("Vec<{}>", rust_type(&schema["items"])?),
        other => return Err(format!("no Rust type for schema {other:?}")),
    })
}

/// Rust's name for a builder setter: keywords get a trailing `_`.
fn setter(name: &str) -> String {
    match name {
        "type" | "ref" | "move" | "match" | "use" | "self" | "crate" => format!("{name}_"),
        other => other.to_owned(),
    }
}

/// Typed round trips of example bodies, for the mock and the contract
/// tests (feature `mock`).
fn contract_code(raw: &Value) -> Result<String, String> {
    let json = "/content/application~1json/schema";
    let (mut responses, mut requests) = (String::new(), String::new());
    for (_, _, op) in operations(raw) {
        let id = op_id(op);
        let roundtrip = |schema: &Value| -> Result<String, String> {
            Ok(format!(
                "        {id:?} => Some(roundtrip::<{}>(body)),\n",
                rust_type(schema)?
            ))
        };
        if let Some(schema) = op.pointer(&format!("/responses/2XX{json}")) {
            responses.push_str(&roundtrip(schema)?);
        }
        if let Some(schema) = op.pointer(&format!("/requestBody{json}")) {
            requests.push_str(&roundtrip(schema)?);
        }
    }
    Ok(format!(
        "/// Decodes `body` as the success response of `operation_id` and encodes it again.\n\
         /// `None` when the operation is unknown or answers without a body.\n\
         pub fn roundtrip_response(operation_id: &str, body: serde_json::Value) -> Option<Result<serde_json::Value, serde_json::Error>> {{\n    \
         match operation_id {{\n{responses}        _ => None,\n    }}\n}}\n\n\
         /// Decodes `body` as the request body of `operation_id` and encodes it again.\n\
         /// `None` when the operation is unknown or takes no body.\n\
         pub fn roundtrip_request(operation_id: &str, body: serde_json::Value) -> Option<Result<serde_json::Value, serde_json::Error>> {{\n    \
         match operation_id {{\n{requests}        _ => None,\n    }}\n}}\n"
    ))
}

/// Any operation by its id with JSON arguments, through its builder
/// (feature `dynamic`): `call` sends one request, `stream` pages through a
/// paginated operation with its `.stream()`.
fn dynamic_code(raw: &Value) -> Result<String, String> {
    let json = "/content/application~1json/schema";
    let (mut calls, mut streams) = (String::new(), String::new());
    for (_, _, op) in operations(raw) {
        let id = op_id(op);
        let mut setup = format!("            let mut b = client.{id}();\n");
        for p in parameters(op) {
            let name = p["name"].as_str().unwrap_or_default();
            let ty = rust_type(&p["schema"])?;
            let set = setter(name);
            if p["in"] == "path" {
                let _ = writeln!(
                    setup,
                    "            b = b.{set}(args.path_value({name:?})?);"
                );
            } else {
                let _ = writeln!(
                    setup,
                    "            if let Some(v) = args.query.get({name:?}) {{ b = b.{set}(from_json::<{ty}>({name:?}, v)?); }}"
                );
            }
        }
        if let Some(schema) = op.pointer(&format!("/requestBody{json}")) {
            let _ = writeln!(
                setup,
                "            if let Some(v) = &args.body {{ b = b.body(from_json::<{}>(\"body\", v)?); }}",
                rust_type(schema)?
            );
        }
        let _ = write!(
            calls,
            "        {id:?} => {{\n{setup}            let value = b.send().await?.into_inner();\n            \
             serde_json::to_value(value).map_err(decode_error)\n        }}\n"
        );
        if page_of(op).is_some() {
            let _ = write!(
                streams,
                "        {id:?} => Some((|| -> crate::Result<ValueStream<'a>> {{\n{setup}            Ok(values(b.stream()))\n        }})()),\n"
            );
        }
    }
    Ok(format!(
        "/// Sends `operation_id` through its builder with the parameters and body in `args`, and\n\
         /// returns the decoded response as JSON (`null` for an answer without a body).\n\
         /// `None` when the operation is unknown.\n\
         #[allow(unused_mut, clippy::let_unit_value)]\n\
         pub async fn call(client: &crate::Client, operation_id: &str, args: &CallArgs) -> Option<crate::Result<serde_json::Value>> {{\n    \
         let result = async {{\n        match operation_id {{\n{calls}            _ => Err(crate::Error::InvalidArgument {{ message: String::new() }}),\n        }}\n    }};\n    \
         crate::generated::ROUTES.iter().any(|r| r.operation_id == operation_id).then_some(())?;\n    \
         Some(result.await)\n}}\n\n\
         /// Every item of every page of the paginated `operation_id`, as JSON, fetched one page\n\
         /// at a time with the operation's `.stream()`. `None` when the operation is unknown or\n\
         /// not paginated; `Some(Err)` when `args` do not fit it.\n\
         #[allow(unused_mut, clippy::redundant_closure_call)]\n\
         pub fn stream<'a>(client: &'a crate::Client, operation_id: &str, args: &CallArgs) -> Option<crate::Result<ValueStream<'a>>> {{\n    \
         match operation_id {{\n{streams}        _ => None,\n    }}\n}}\n"
    ))
}

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
//!   method on the builder of every paginated operation;
//! - `operations.json`: the operations as `src/walker.rs` walked them (id,
//!   method, path, tags, texts, merged parameters, body, responses), for the
//!   CLI's build script (`DEP_AVALA_OPERATIONS`), which cannot include a file
//!   of this package.
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

// Each includer reads part of the walk (this script never the path item).
#[path = "src/walker.rs"]
#[allow(dead_code)]
mod walker;
use walker::Operation;

const SPEC: &str = "openapi/avala.json";
/// The walked operations, in `OUT_DIR`, for the CLI's build script.
const OPERATIONS: &str = "operations.json";

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
    if let Some(out) = env::var_os("OUT_DIR") {
        let walked = PathBuf::from(out).join(OPERATIONS);
        println!("cargo::metadata=operations={}", walked.display());
    }
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=src/generation.rs");
    println!("cargo:rerun-if-changed=src/walker.rs");
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
    let ops = walker::identified(&raw)?;
    let spec: openapiv3::OpenAPI = serde_json::from_value(generation::for_generation(&raw))
        .map_err(|e| format!("not an OpenAPI 3.0 document: {e}"))?;

    let enums = string_enums(&raw);
    let mut settings = generation::settings(&raw);
    // The new account's key must not show in `Debug`: a hand-written type
    // of the same shape whose `Debug` redacts it (src/signup.rs).
    settings.with_replacement(
        "SignupResponse",
        "crate::signup::SignupResponse",
        std::iter::empty(),
    );
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
        builders: optional_body_builders(&ops),
    };
    syn::visit_mut::VisitMut::visit_file_mut(&mut optional, &mut file);
    syn::visit_mut::VisitMut::visit_file_mut(&mut Docs::of(&ops), &mut file);
    let mut decode = FasterDecode::default();
    syn::visit_mut::VisitMut::visit_file_mut(&mut decode, &mut file);
    if decode.responses == 0 || decode.timestamps == 0 {
        return Err(format!(
            "the decode rewrite found {} `from_response` calls and {} timestamp fields: \
             progenitor's output changed shape",
            decode.responses, decode.timestamps
        ));
    }
    let mut secrets = SecretDebug::default();
    syn::visit_mut::VisitMut::visit_file_mut(&mut secrets, &mut file);
    if let Some(missing) = SECRET_FIELDS.iter().find(|f| !secrets.found.contains(**f)) {
        return Err(format!(
            "no generated type has the secret field `{missing}` any more: update SECRET_FIELDS"
        ));
    }
    let mut lenient = LenientVoid::default();
    syn::visit_mut::VisitMut::visit_file_mut(&mut lenient, &mut file);
    let void = void_operations(&ops);
    if lenient.widened < void {
        return Err(format!(
            "{void} operations answer without a body, but {} success arms were widened to 2xx",
            lenient.widened
        ));
    }
    write(&out, "codegen.rs", &prettyplease::unparse(&file))?;
    write(&out, "open_enums.rs", &open_enums_code(&enums))?;
    write(&out, "routes.rs", &routes_code(&ops))?;
    write(&out, "paging.rs", &paging_code(&raw, &ops)?)?;
    write(&out, "contract.rs", &contract_code(&ops)?)?;
    write(&out, "dynamic.rs", &dynamic_code(&ops)?)?;
    write(&out, OPERATIONS, &operations_json(&ops))?;
    Ok(())
}

/// Makes every builder's `send()` return `avala::Result`, so that matching on
/// a call gives `avala::Error` directly; progenitor's own result stays
/// available as `send_unmapped()`. Beside `send()`, its blocking twin
/// `send_blocking()` (feature `blocking`).
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
            added.push(syn::parse_quote! {
                /// [`send`](Self::send), blocking the thread until the answer (see [`crate::blocking`]).
                #[cfg(feature = "blocking")]
                pub fn send_blocking(self) -> crate::Result<#ok> {
                    crate::blocking::engine(self.client).run(self.send())
                }
            });
            added.push(syn::parse_quote! {
                /// The runtime of the client's blocking calls (for `stream_blocking`).
                #[cfg(feature = "blocking")]
                pub(crate) fn blocking_engine(&self) -> &crate::blocking::Engine {
                    crate::blocking::engine(self.client)
                }
            });
        }
        item.items.extend(added);
        syn::visit_mut::visit_item_impl_mut(self, item);
    }
}

/// Puts `crate::decode` in place of progenitor's typed decode (same values
/// and errors, less work a page; see src/decode.rs): every
/// `ResponseValue::from_response` call becomes `crate::decode::response`,
/// and every `DateTime<Utc>` field of a deserialized type reads through the
/// strict-first timestamp parser.
#[derive(Default)]
struct FasterDecode {
    responses: usize,
    timestamps: usize,
}

impl syn::visit_mut::VisitMut for FasterDecode {
    fn visit_expr_call_mut(&mut self, call: &mut syn::ExprCall) {
        if let syn::Expr::Path(p) = &*call.func {
            let names: Vec<String> = p
                .path
                .segments
                .iter()
                .map(|s| s.ident.to_string())
                .collect();
            if names.ends_with(&["ResponseValue".into(), "from_response".into()]) {
                *call.func = syn::parse_quote!(crate::decode::response);
                self.responses += 1;
            }
        }
        syn::visit_mut::visit_expr_call_mut(self, call);
    }

    fn visit_item_struct_mut(&mut self, item: &mut syn::ItemStruct) {
        let tokens = |t: &dyn quote::ToTokens| t.to_token_stream().to_string().replace(' ', "");
        let deserialized = item
            .attrs
            .iter()
            .any(|a| a.path().is_ident("derive") && tokens(a).contains("Deserialize"));
        if !deserialized {
            return;
        }
        const ONE: &str = "::chrono::DateTime<::chrono::offset::Utc>";
        const OPTIONAL: &str = "::std::option::Option<::chrono::DateTime<::chrono::offset::Utc>>";
        for field in &mut item.fields {
            // Only a `serde` attribute counts: a doc comment may say "default".
            let has_default = field
                .attrs
                .iter()
                .any(|a| a.path().is_ident("serde") && tokens(a).contains("default"));
            let attr: syn::Attribute = match tokens(&field.ty).as_str() {
                ONE => syn::parse_quote!(#[serde(deserialize_with = "crate::decode::timestamp")]),
                OPTIONAL if has_default => syn::parse_quote!(
                    #[serde(deserialize_with = "crate::decode::optional_timestamp")]
                ),
                // With `deserialize_with`, serde no longer treats a missing
                // `Option` field as `None` by itself: `default` says so.
                OPTIONAL => syn::parse_quote!(
                    #[serde(default, deserialize_with = "crate::decode::optional_timestamp")]
                ),
                _ => continue,
            };
            field.attrs.push(attr);
            self.timestamps += 1;
        }
    }
}

/// Fields that hold a secret the API writes or returns (webhook signing
/// secrets, device tokens, passwords, storage credentials): their value
/// never appears in `Debug`.
const SECRET_FIELDS: &[&str] = &[
    "secret",
    "device_token",
    "password",
    "s3_secret_access_key",
    "gc_storage_auth_json_content",
];

/// Whether a field's type holds free-form JSON (`serde_json::Value` or
/// `Map`, bare or in an `Option`, `Vec` or a builder's `Result`).
fn free_form(ty: &syn::Type) -> bool {
    let text = quote::ToTokens::to_token_stream(ty).to_string();
    text.contains("serde_json :: Value") || text.contains("serde_json :: Map")
}

/// Replaces the derived `Debug` of every generated struct (type or builder)
/// with a secret field by one that prints `[redacted]` for that field and
/// the others as the derive would; a free-form JSON field (a `metadata`, a
/// provider's `config`) is printed through `crate::redact::JsonDebug`,
/// which hides what sits under a credential-like key.
#[derive(Default)]
struct SecretDebug {
    found: std::collections::BTreeSet<String>,
}

impl SecretDebug {
    /// Drops `Debug` from the struct's derives; whether it was there.
    fn undrive_debug(item: &mut syn::ItemStruct) -> bool {
        use syn::punctuated::Punctuated;
        let mut dropped = false;
        for attr in item
            .attrs
            .iter_mut()
            .filter(|a| a.path().is_ident("derive"))
        {
            let Ok(paths) =
                attr.parse_args_with(Punctuated::<syn::Path, syn::Token![,]>::parse_terminated)
            else {
                continue;
            };
            let kept: Vec<&syn::Path> = paths
                .iter()
                .filter(|p| p.segments.last().is_none_or(|s| s.ident != "Debug"))
                .collect();
            if kept.len() < paths.len() {
                dropped = true;
                *attr = syn::parse_quote!(#[derive(#(#kept),*)]);
            }
        }
        dropped
    }

    fn debug_impl(&mut self, item: &syn::ItemStruct) -> syn::Item {
        let name = &item.ident;
        let text = name.to_string();
        let fields = item
            .fields
            .iter()
            .filter_map(|f| Some((f.ident.as_ref()?, &f.ty)))
            .map(|(ident, ty)| {
                let label = ident.to_string();
                if SECRET_FIELDS.contains(&label.as_str()) {
                    self.found.insert(label.clone());
                    quote::quote!(.field(#label, &format_args!("[redacted]")))
                } else if free_form(ty) {
                    quote::quote!(.field(#label, &crate::redact::JsonDebug(&self.#ident)))
                } else {
                    quote::quote!(.field(#label, &self.#ident))
                }
            });
        let fields: Vec<_> = fields.collect();
        syn::parse_quote! {
            impl ::std::fmt::Debug for #name {
                fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                    f.debug_struct(#text) #(#fields)* .finish()
                }
            }
        }
    }
}

impl syn::visit_mut::VisitMut for SecretDebug {
    fn visit_item_mod_mut(&mut self, module: &mut syn::ItemMod) {
        if let Some((_, items)) = &mut module.content {
            let mut added = Vec::new();
            for item in items.iter_mut() {
                let syn::Item::Struct(s) = item else { continue };
                let secret = s.fields.iter().any(|f| {
                    f.ident
                        .as_ref()
                        .is_some_and(|i| SECRET_FIELDS.contains(&i.to_string().as_str()))
                });
                let named = matches!(s.fields, syn::Fields::Named(_));
                let free = named && s.fields.iter().any(|f| free_form(&f.ty));
                if (secret || free) && s.generics.params.is_empty() && Self::undrive_debug(s) {
                    added.push(self.debug_impl(s));
                }
            }
            items.extend(added);
        }
        syn::visit_mut::visit_item_mod_mut(self, module);
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
    fn of(ops: &[Operation]) -> Self {
        let mut docs = Docs {
            paginated: Default::default(),
            setters: Default::default(),
        };
        for op in ops {
            if page_of(op).is_some() {
                docs.paginated.insert(op_id(op).to_owned());
            }
            let described = op.parameters.iter().filter_map(|p| {
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

/// The operation's id; `walker::identified` made sure it has one.
fn op_id<'a>(op: &Operation<'a>) -> &'a str {
    op.id().unwrap_or_default()
}

/// The JSON schema of the `2XX` response, if it has one.
fn success_schema<'a>(op: &Operation<'a>) -> Option<&'a Value> {
    let (_, response) = op.responses.iter().find(|(status, _)| *status == "2XX")?;
    response.pointer(JSON_SCHEMA)
}

/// The JSON schema of the request body, if it has one.
fn request_schema<'a>(op: &Operation<'a>) -> Option<&'a Value> {
    op.request_body?.pointer(JSON_SCHEMA)
}

/// Where a request body's or response's JSON schema is.
const JSON_SCHEMA: &str = "/content/application~1json/schema";

/// The `*Page` schema an operation answers with, if it pages.
fn page_of<'a>(op: &Operation<'a>) -> Option<&'a str> {
    success_schema(op)
        .and_then(ref_name)
        .filter(|n| n.ends_with("Page"))
}

/// The builders (by type name) of the operations whose request body is
/// optional (`required: false`).
fn optional_body_builders(ops: &[Operation]) -> std::collections::BTreeSet<String> {
    ops.iter()
        .filter(|op| {
            op.request_body
                .is_some_and(|b| b.get("required") != Some(&Value::Bool(true)))
        })
        .map(|op| pascal(op_id(op)))
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
fn void_operations(ops: &[Operation]) -> usize {
    ops.iter()
        .filter(|op| {
            let success = op.responses.iter().filter(|(s, _)| s.starts_with('2'));
            let literal = success.clone().any(|(s, _)| *s != "2XX");
            literal && success.clone().all(|(_, r)| r.get("content").is_none())
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
        // Known values are matched on a `&str`: no allocation for them, and
        // an owned unknown value is moved into `Unknown`, not copied.
        let _ = writeln!(
            c,
            "impl {name} {{\n    /// The documented value `s` names, if any.\n    \
             fn known(s: &str) -> Option<Self> {{\n        match s {{"
        );
        for (v, wire) in &variants {
            let _ = writeln!(c, "            {wire:?} => Some(Self::{v}),");
        }
        let _ = writeln!(
            c,
            "            _ => None,\n        }}\n    }}\n}}\n\
             impl From<&str> for {name} {{\n    fn from(s: &str) -> Self {{ Self::known(s).unwrap_or_else(|| Self::Unknown(s.to_owned())) }}\n}}\n\
             impl From<String> for {name} {{\n    fn from(s: String) -> Self {{\n        match Self::known(&s) {{\n            Some(known) => known,\n            None => Self::Unknown(s),\n        }}\n    }}\n}}\n\
             impl From<&String> for {name} {{\n    fn from(s: &String) -> Self {{ Self::from(s.as_str()) }}\n}}\n\
             impl std::str::FromStr for {name} {{\n    type Err = std::convert::Infallible;\n    \
             fn from_str(s: &str) -> Result<Self, Self::Err> {{ Ok(Self::from(s)) }}\n}}\n\
             impl std::fmt::Display for {name} {{\n    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {{ f.write_str(self.as_str()) }}\n}}\n\
             impl serde::Serialize for {name} {{\n    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {{ s.serialize_str(self.as_str()) }}\n}}\n\
             impl<'de> serde::Deserialize<'de> for {name} {{\n    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {{\n        \
             crate::generated::open_enums::deserialize_open(d)\n    }}\n}}\n\
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

fn routes_code(ops: &[Operation]) -> String {
    let mut c = String::from(
        "/// Every operation: (operation id, HTTP method, path template, anonymous).\n\
         pub(crate) static ROUTES: &[crate::routes::Route] = &[\n",
    );
    for op in ops {
        let (path, method) = (op.path, op.method);
        let anonymous = op
            .op
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
    c
}

/// The schema name a `$ref` points at.
fn ref_name(v: &Value) -> Option<&str> {
    v.get("$ref")?.as_str()?.rsplit('/').next()
}

fn paging_code(raw: &Value, ops: &[Operation]) -> Result<String, String> {
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
    for op in ops {
        let Some(page) = page_of(op) else {
            continue;
        };
        let item = schemas[page]["properties"]["results"]["items"].clone();
        let item = ref_name(&item).unwrap_or_default().to_owned();
        let params: Vec<&str> = op
            .parameters
            .iter()
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
             }}, |b| b.send())\n    }}\n    \
             /// [`stream`](Self::stream) as an iterator that blocks for each page (see [`crate::blocking`]).\n    \
             #[cfg(feature = \"blocking\")]\n    \
             pub fn stream_blocking(self) -> impl Iterator<Item = crate::Result<types::{item}>> + 'a {{\n        \
             crate::blocking::iter(self.blocking_engine().clone(), self.stream())\n    \
             }}\n}}"
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
fn contract_code(ops: &[Operation]) -> Result<String, String> {
    let (mut responses, mut requests) = (String::new(), String::new());
    for op in ops {
        let id = op_id(op);
        let roundtrip = |schema: &Value| -> Result<String, String> {
            Ok(format!(
                "        {id:?} => Some(roundtrip::<{}>(body)),\n",
                rust_type(schema)?
            ))
        };
        if let Some(schema) = success_schema(op) {
            responses.push_str(&roundtrip(schema)?);
        }
        if let Some(schema) = request_schema(op) {
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
fn dynamic_code(ops: &[Operation]) -> Result<String, String> {
    let (mut calls, mut streams) = (String::new(), String::new());
    for op in ops {
        let id = op_id(op);
        let mut setup = format!("            let mut b = client.{id}();\n");
        for p in &op.parameters {
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
        if let Some(schema) = request_schema(op) {
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

/// `operations.json`: one object per operation, in the walk's order, with
/// the keys of an OpenAPI operation (`operationId`, `tags`, `summary`,
/// `description`, `parameters`, `requestBody`, `responses`) as the walk
/// resolved them, plus `method` (lower case) and `path`.
fn operations_json(ops: &[Operation]) -> String {
    let walked: Vec<Value> = ops.iter().map(walked_operation).collect();
    Value::Array(walked).to_string()
}

fn walked_operation(op: &Operation) -> Value {
    let mut m = serde_json::Map::new();
    let mut put = |key: &str, v: Value| {
        m.insert(key.to_owned(), v);
    };
    put("operationId", op_id(op).into());
    put("method", op.method.into());
    put("path", op.path.into());
    put("tags", op.tags.clone().into());
    for key in ["summary", "description"] {
        if let Some(text) = op.op.get(key) {
            put(key, text.clone());
        }
    }
    put(
        "parameters",
        op.parameters.iter().copied().cloned().collect(),
    );
    if let Some(body) = op.request_body {
        put("requestBody", body.clone());
    }
    let responses = op
        .responses
        .iter()
        .map(|(s, r)| ((*s).to_owned(), (*r).clone()));
    put("responses", Value::Object(responses.collect()));
    Value::Object(m)
}

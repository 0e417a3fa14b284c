//! Which operation a request path belongs to.
//!
//! Every template of the document is split into segments. A request path is
//! compared with all of them; when several match (e.g.
//! `/datasets/manual-upload/quota/` and `/datasets/{owner}/{slug}/`), the
//! template whose first differing segment is literal wins, as in a router that
//! lists literal routes first.
//!
//! The table comes from the mock's own reading of the document
//! ([`schema::operations`]), not from the SDK's generated route table: a bug
//! in the SDK's routes must not be repeated by the mock that checks it.

use std::{collections::BTreeMap, sync::OnceLock};

use super::schema::{self, Operation};

/// One piece of a template segment.
#[derive(Debug)]
enum Piece {
    Lit(&'static str),
    Param(&'static str),
}

/// A parsed template.
#[derive(Debug)]
struct Template {
    text: &'static str,
    /// Segments between `/`, each a sequence of pieces.
    segments: Vec<Vec<Piece>>,
}

/// The outcome of looking a path up.
#[derive(Debug)]
pub(crate) enum Lookup {
    /// No template matches the path.
    NotFound,
    /// The path matches a template that has no operation with this method.
    MethodNotAllowed {
        /// The methods the template has, in document order.
        allow: Vec<&'static str>,
    },
    /// The operation, and its path parameters (percent-decoded).
    Found {
        op: &'static Operation,
        params: BTreeMap<String, String>,
    },
}

fn templates() -> &'static [Template] {
    static TEMPLATES: OnceLock<Vec<Template>> = OnceLock::new();
    TEMPLATES.get_or_init(|| {
        let mut out: Vec<Template> = Vec::new();
        for op in schema::operations() {
            if out.iter().any(|t| t.text == op.path) {
                continue;
            }
            out.push(Template {
                text: &op.path,
                segments: op.path.split('/').map(parse_segment).collect(),
            });
        }
        out
    })
}

fn parse_segment(segment: &'static str) -> Vec<Piece> {
    let mut pieces = Vec::new();
    let mut rest = segment;
    while !rest.is_empty() {
        match rest.find('{') {
            Some(0) => {
                let end = rest.find('}').unwrap_or(rest.len());
                pieces.push(Piece::Param(&rest[1..end]));
                rest = rest.get(end + 1..).unwrap_or("");
            }
            Some(i) => {
                pieces.push(Piece::Lit(&rest[..i]));
                rest = &rest[i..];
            }
            None => {
                pieces.push(Piece::Lit(rest));
                rest = "";
            }
        }
    }
    pieces
}

/// How literal a segment is: 2 all literal, 1 mixed, 0 a bare parameter.
fn rank(segment: &[Piece]) -> u8 {
    match segment {
        [] => 2,
        pieces if pieces.iter().all(|p| matches!(p, Piece::Lit(_))) => 2,
        pieces if pieces.iter().any(|p| matches!(p, Piece::Lit(_))) => 1,
        _ => 0,
    }
}

/// Matches one path segment against the pieces of a template segment,
/// collecting parameter values. A parameter takes at least one character
/// and is never `.` or `..`.
fn match_segment(pieces: &[Piece], text: &str, params: &mut Vec<(&'static str, String)>) -> bool {
    match pieces {
        [] => text.is_empty(),
        [Piece::Lit(l), rest @ ..] => text
            .strip_prefix(l)
            .is_some_and(|t| match_segment(rest, t, params)),
        [Piece::Param(name), rest @ ..] => {
            // Try every split, shortest value first, so that a literal after
            // the parameter is found at its first occurrence.
            for end in (1..=text.len()).filter(|&i| text.is_char_boundary(i)) {
                let value = &text[..end];
                if rest.is_empty() && end != text.len() {
                    continue;
                }
                let mark = params.len();
                if match_segment(rest, &text[end..], params) {
                    params.insert(mark, (name, value.to_owned()));
                    return true;
                }
                params.truncate(mark);
            }
            false
        }
    }
}

fn match_template(t: &Template, path: &str) -> Option<Vec<(&'static str, String)>> {
    let parts: Vec<&str> = path.split('/').collect();
    if parts.len() != t.segments.len() {
        return None;
    }
    let mut params = Vec::new();
    for (pieces, part) in t.segments.iter().zip(&parts) {
        if !match_segment(pieces, part, &mut params) {
            return None;
        }
    }
    let bad = params.iter().any(|(_, v)| {
        let decoded = decode(v);
        decoded.is_empty() || decoded == "." || decoded == ".."
    });
    (!bad).then_some(params)
}

/// Percent-decodes a path segment (invalid UTF-8 is replaced).
pub(crate) fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (
            bytes[i],
            bytes.get(i + 1).copied().and_then(hex),
            bytes.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(hi), Some(lo)) => {
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A matching template, its segment ranks and its parameters.
type Candidate = (&'static Template, Vec<u8>, Vec<(&'static str, String)>);

/// Finds the operation for `method` and `path` (the path below the API root,
/// starting with `/`).
pub(crate) fn lookup(method: &str, path: &str) -> Lookup {
    let mut best: Option<Candidate> = None;
    for t in templates() {
        let Some(params) = match_template(t, path) else {
            continue;
        };
        let ranks: Vec<u8> = t.segments.iter().map(|s| rank(s)).collect();
        if best.as_ref().is_none_or(|(_, r, _)| ranks > *r) {
            best = Some((t, ranks, params));
        }
    }
    let Some((template, _, params)) = best else {
        return Lookup::NotFound;
    };
    let on_template = || {
        schema::operations()
            .iter()
            .filter(move |op| op.path == template.text)
    };
    match on_template().find(|op| op.method.eq_ignore_ascii_case(method)) {
        Some(op) => Lookup::Found {
            op,
            params: params
                .into_iter()
                .map(|(k, v)| (k.to_owned(), decode(&v)))
                .collect(),
        },
        None => Lookup::MethodNotAllowed {
            allow: on_template().map(|op| op.method.as_str()).collect(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(method: &str, path: &str) -> Option<(&'static str, BTreeMap<String, String>)> {
        match lookup(method, path) {
            Lookup::Found { op, params } => Some((op.id.as_str(), params)),
            _ => None,
        }
    }

    #[test]
    fn literal_segments_win_over_parameters() {
        let (op, params) = found("GET", "/datasets/manual-upload/quota/").unwrap();
        assert_eq!(op, "get_manual_upload_quota");
        assert!(params.is_empty());
        let (op, params) = found("GET", "/datasets/alice/cats/").unwrap();
        assert_eq!(op, "get_dataset_by_slug");
        assert_eq!(params["owner"], "alice");
        assert_eq!(params["slug"], "cats");
        assert_eq!(found("GET", "/datasets/abc/").unwrap().0, "get_dataset");
        assert_eq!(
            found("GET", "/organizations/industry-choices/").unwrap().0,
            "list_organization_industry_choices"
        );
    }

    #[test]
    fn mixed_segments_and_decoding() {
        let (op, params) = found("GET", "/resolve/acme/cars@main/").unwrap();
        assert_eq!(op, "resolve_dataset_reference");
        assert_eq!(
            (params["dataset"].as_str(), params["selector"].as_str()),
            ("cars", "main")
        );
        let (_, params) = found("GET", "/datasets/serve.robotics%40avala.ai/x%20y/").unwrap();
        assert_eq!(params["owner"], "serve.robotics@avala.ai");
        assert_eq!(params["slug"], "x y");
    }

    #[test]
    fn misses_and_wrong_methods() {
        assert!(matches!(lookup("GET", "/nope/"), Lookup::NotFound));
        assert!(matches!(lookup("GET", "/datasets"), Lookup::NotFound));
        assert!(matches!(lookup("GET", "/datasets/../"), Lookup::NotFound));
        match lookup("DELETE", "/datasets/") {
            Lookup::MethodNotAllowed { allow } => assert_eq!(allow, ["GET", "POST"]),
            other => panic!("{other:?}"),
        }
        // The literal route decides, even if a parameter route has the method.
        assert!(matches!(
            lookup("DELETE", "/organizations/industry-choices/"),
            Lookup::MethodNotAllowed { .. }
        ));
    }

    /// The SDK's generated route table and the mock's own reading of the
    /// document must agree: the mock routes every SDK route (with each
    /// parameter filled in) to the same operation. A route generated with a
    /// wrong method or template fails here instead of passing on both sides.
    #[test]
    fn the_sdk_routes_reach_the_same_operations() {
        for route in crate::generated::ROUTES {
            let mut n = 0;
            let path: String = route
                .template
                .split('{')
                .enumerate()
                .map(|(i, part)| match (i, part.split_once('}')) {
                    (0, _) | (_, None) => part.to_owned(),
                    (_, Some((_, rest))) => {
                        n += 1;
                        format!("v{n}{rest}")
                    }
                })
                .collect();
            let found = found(route.method, &path).map(|(op, _)| op);
            assert_eq!(found, Some(route.operation_id), "{} {path}", route.method);
        }
    }
}

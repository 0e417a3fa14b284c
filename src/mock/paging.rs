//! Scripted pagination: a list of items served as consecutive pages.

use serde_json::{json, Value};

use super::schema::{Operation, ParameterLocation};

/// Items of one paginated operation and how to cut them.
#[derive(Debug)]
pub(crate) struct PageScript {
    items: Vec<Value>,
    page_size: usize,
    /// The operation pages by `page` number (e.g. organizations), not by
    /// `cursor`.
    numbered: bool,
}

impl PageScript {
    pub(crate) fn new<I>(op: &Operation, items: I, page_size: usize) -> Result<Self, String>
    where
        I: IntoIterator,
        I::Item: serde::Serialize,
    {
        let has = |name: &str| {
            op.parameters
                .iter()
                .any(|p| p.location == ParameterLocation::Query && p.name == name)
        };
        let envelope = super::schema::response_schema(&op.id).is_some_and(|s| is_page(&s));
        if !has("cursor") || !envelope {
            return Err(
                "not a paginated operation (no `cursor` parameter or page envelope)".into(),
            );
        }
        let items = items
            .into_iter()
            .map(serde_json::to_value)
            .collect::<Result<_, _>>()
            .map_err(|e| format!("an item is not JSON: {e}"))?;
        Ok(Self {
            items,
            page_size,
            numbered: has("page"),
        })
    }

    /// The page for a request to `path` with the query `pairs`: the page
    /// envelope, or the `detail` of a 404.
    pub(crate) fn page(
        &self,
        origin: &str,
        path: &str,
        pairs: &[(String, String)],
    ) -> Result<Value, &'static str> {
        let get = |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        let size = get("limit")
            .and_then(|l| l.parse::<usize>().ok())
            .filter(|&l| l > 0)
            .unwrap_or(self.page_size);
        let total = self.items.len();
        let (offset, key) = if self.numbered {
            let page = match get("page") {
                None => 1,
                Some(p) => p
                    .parse::<usize>()
                    .ok()
                    .filter(|&p| p >= 1)
                    .ok_or("Invalid page.")?,
            };
            let offset = (page - 1).saturating_mul(size);
            if page > 1 && offset >= total {
                return Err("Invalid page.");
            }
            (offset, "page")
        } else {
            let offset = match get("cursor") {
                None => 0,
                Some(c) => decode_cursor(c)
                    .filter(|&o| o <= total)
                    .ok_or("Invalid cursor")?,
            };
            (offset, "cursor")
        };
        let end = offset.saturating_add(size).min(total);
        let position = |offset: usize| -> Option<String> {
            if self.numbered {
                // Page 1 is the link without `page`, as page-number
                // pagination writes it.
                let page = offset / size + 1;
                (page > 1).then(|| page.to_string())
            } else {
                (offset > 0).then(|| encode_cursor(offset))
            }
        };
        let next = (end < total).then(|| link(origin, path, pairs, key, position(end)));
        let previous = (offset > 0).then(|| {
            let back = offset.saturating_sub(size);
            link(origin, path, pairs, key, position(back))
        });
        Ok(json!({
            "next": next,
            "previous": previous,
            "results": self.items[offset.min(end)..end],
        }))
    }
}

/// Whether a converted response schema is a `{next, previous, results}`
/// envelope (possibly behind a `$ref`).
fn is_page(schema: &Value) -> bool {
    let target = schema
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix("#/$defs/"))
        .and_then(|name| schema.get("$defs")?.get(name))
        .unwrap_or(schema);
    let props = target.get("properties");
    ["next", "previous", "results"]
        .iter()
        .all(|k| props.and_then(|p| p.get(k)).is_some())
}

/// An opaque-looking cursor with characters that must be escaped in a
/// query string (`=`, `+`, `/`), as base64 cursors have.
fn encode_cursor(offset: usize) -> String {
    format!("o={offset}+/")
}

fn decode_cursor(cursor: &str) -> Option<usize> {
    cursor.strip_prefix("o=")?.strip_suffix("+/")?.parse().ok()
}

/// `origin + path`, with the request's query where `key` is replaced by
/// `value` (or removed when `None`).
fn link(
    origin: &str,
    path: &str,
    pairs: &[(String, String)],
    key: &str,
    value: Option<String>,
) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs.iter().filter(|(k, _)| k != key) {
        query.append_pair(k, v);
    }
    if let Some(value) = value {
        query.append_pair(key, &value);
    }
    let query = query.finish();
    if query.is_empty() {
        format!("{origin}{path}")
    } else {
        format!("{origin}{path}?{query}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(q: &str) -> Vec<(String, String)> {
        url::form_urlencoded::parse(q.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }

    fn script(op: &str, n: usize, size: usize) -> PageScript {
        let op = super::super::schema::operation(op).unwrap();
        PageScript::new(op, (0..n).map(|i| json!({ "i": i })), size).unwrap()
    }

    #[test]
    fn cursor_pages_link_onwards_and_back() {
        let s = script("list_datasets", 5, 2);
        let first = s
            .page("http://h", "/api/v1/datasets/", &pairs("name=x"))
            .unwrap();
        assert_eq!(first["results"], json!([{ "i": 0 }, { "i": 1 }]));
        assert_eq!(first["previous"], Value::Null);
        assert_eq!(
            first["next"],
            "http://h/api/v1/datasets/?name=x&cursor=o%3D2%2B%2F"
        );
        let last = s
            .page("http://h", "/p/", &pairs("cursor=o%3D4%2B%2F"))
            .unwrap();
        assert_eq!(last["results"], json!([{ "i": 4 }]));
        assert_eq!(last["next"], Value::Null);
        assert_eq!(last["previous"], "http://h/p/?cursor=o%3D2%2B%2F");
        let limited = s.page("http://h", "/p/", &pairs("limit=4")).unwrap();
        assert_eq!(limited["results"].as_array().unwrap().len(), 4);
        assert_eq!(
            s.page("http://h", "/p/", &pairs("cursor=zzz")),
            Err("Invalid cursor")
        );
    }

    #[test]
    fn organizations_page_by_number() {
        let s = script("list_organizations", 3, 2);
        let first = s.page("http://h", "/o/", &pairs("cursor=ignored")).unwrap();
        assert_eq!(first["next"], "http://h/o/?cursor=ignored&page=2");
        let second = s.page("http://h", "/o/", &pairs("page=2")).unwrap();
        assert_eq!(second["results"], json!([{ "i": 2 }]));
        assert_eq!(second["previous"], "http://h/o/");
        assert_eq!(
            s.page("http://h", "/o/", &pairs("page=3")),
            Err("Invalid page.")
        );
    }

    #[test]
    fn only_paginated_operations() {
        let op = super::super::schema::operation("get_dataset").unwrap();
        assert!(PageScript::new(op, Vec::<Value>::new(), 1).is_err());
        let op = super::super::schema::operation("list_resolver_objects").unwrap();
        assert!(PageScript::new(op, Vec::<Value>::new(), 1).is_err());
    }
}

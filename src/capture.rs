//! Reading a non-2xx response into [`ResponseFacts`] inside the `exec` hook.

use bytes::Bytes;
use serde_json::Value;

use crate::{
    error::{ApiError, ResponseFacts},
    scrub,
};

pub(crate) use crate::body::MAX_ERROR_BODY;
/// The longest message an error carries, in characters.
const MAX_MESSAGE: usize = 1024;
/// Field error texts a message shows; the others are counted.
const MAX_FIELD_ERRORS: usize = 8;
/// The longest field path and field error text shown, in characters.
const MAX_FIELD_PATH: usize = 64;
const MAX_FIELD_TEXT: usize = 200;
/// How deep in the body field errors are looked for.
const MAX_FIELD_DEPTH: usize = 8;

/// Reads at most [`MAX_ERROR_BODY`] bytes (or `limit`, when lower) of
/// `response`, scrubs them of `key`
/// and secrets, and returns a response with the same status and headers
/// whose body is the scrubbed text and whose extensions hold the facts.
pub(crate) async fn error_response(
    mut response: reqwest::Response,
    key: &str,
    limit: u64,
) -> reqwest::Response {
    let status = response.status();
    // A broken body still yields an error with what arrived.
    let raw = crate::body::read_at_most(&mut response, limit.min(MAX_ERROR_BODY as u64))
        .await
        .bytes;
    let headers = response.headers();
    // The key goes first, in every spelling, so that nothing parsed or
    // pattern-matched below can still hold a part of it.
    let lossy = String::from_utf8_lossy(&raw);
    let without_key = scrub::without_key(&lossy, key);
    // Parsed before the text patterns: those can replace a
    // `"field": "value"` pair as a whole and leave invalid JSON behind.
    let body = serde_json::from_str::<Value>(&without_key)
        .ok()
        .map(|mut v| {
            crate::redact::redact_json(&mut v);
            v
        });
    let text = crate::redact::redact_text(&without_key);
    let message = message(body.as_ref(), status.as_u16());
    let retry_after = crate::retry::retry_after(headers);
    let facts = ResponseFacts {
        wait_too_long: crate::retry::waits_too_long(status.as_u16(), retry_after),
        error: ApiError {
            status: status.as_u16(),
            message,
            body,
            raw_body: text.clone(),
            request_id: headers
                .get("x-request-id")
                .map(|v| scrub::scrub(&String::from_utf8_lossy(v.as_bytes()), key)),
        },
        retry_after,
    };
    let mut rebuilt = crate::body::rebuilt(response, Bytes::from(text), None);
    rebuilt.extensions_mut().insert(facts);
    rebuilt
}

/// The one-line message of an error body (already scrubbed and redacted):
/// its `detail` when that is a string; else its DRF field errors,
/// `slug: Dataset with this slug already exists.` (nested fields as
/// `items[1].name`, `non_field_errors` and a structured `detail` without a
/// name, `{loc, msg}` items as `body.project: field required`); else
/// `HTTP <status>`. Runs of white space become one space,
/// control characters are escaped ([`crate::redact::escape_controls`]), and
/// it is at most [`MAX_MESSAGE`] characters, whatever the body.
fn message(body: Option<&Value>, status: u16) -> String {
    let text = match body {
        Some(Value::Object(map)) if map.get("detail").is_some_and(Value::is_string) => {
            let detail = map
                .get("detail")
                .and_then(Value::as_str)
                .unwrap_or_default();
            cut(&shown(detail), MAX_MESSAGE)
        }
        Some(body) => {
            let mut errors = FieldErrors::default();
            errors.walk(body, String::new(), 0);
            errors.render()
        }
        None => String::new(),
    };
    if text.is_empty() {
        format!("HTTP {status}")
    } else {
        text
    }
}

/// `text` on one line with its control characters escaped.
fn shown(text: &str) -> String {
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    crate::redact::escape_controls(&one_line).into_owned()
}

/// `text` cut to at most `max` characters, the last being `…` when cut.
fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max.saturating_sub(1)) {
        Some((at, _)) if text[at..].chars().nth(1).is_some() => format!("{}…", &text[..at]),
        _ => text.to_owned(),
    }
}

/// A validation error of the `{"loc": [...], "msg": "..."}` form (as
/// FastAPI writes them): its location as a field path, and its text.
fn located(map: &serde_json::Map<String, Value>) -> Option<(String, &str)> {
    let msg = map.get("msg")?.as_str()?;
    let loc = map.get("loc")?.as_array()?.iter().map(|part| match part {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    });
    Some((loc.collect::<Option<Vec<_>>>()?.join("."), msg))
}

/// The field errors of a body, in its order, bounded in count and length.
#[derive(Default)]
struct FieldErrors {
    /// (field path, its texts), each already [`shown`] and cut.
    fields: Vec<(String, Vec<String>)>,
    /// Texts found beyond [`MAX_FIELD_ERRORS`].
    more: usize,
}

impl FieldErrors {
    /// Collects the strings of `value`, found under the field `path`.
    fn walk(&mut self, value: &Value, path: String, depth: usize) {
        match value {
            Value::String(text) => self.add(&path, text),
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    match item {
                        // A list of texts belongs to the field itself.
                        Value::String(_) => self.walk(item, path.clone(), depth),
                        _ if depth < MAX_FIELD_DEPTH => {
                            self.walk(item, format!("{path}[{i}]"), depth + 1)
                        }
                        _ => {}
                    }
                }
            }
            Value::Object(map) if depth < MAX_FIELD_DEPTH => {
                // Its location is the whole path, wherever it sits.
                if let Some((loc, msg)) = located(map) {
                    self.add(&loc, msg);
                    return;
                }
                for (name, child) in map {
                    let unnamed = name == "non_field_errors" || (depth == 0 && name == "detail");
                    let path = match (unnamed, path.is_empty()) {
                        (true, _) => path.clone(),
                        (false, true) => name.clone(),
                        (false, false) => format!("{path}.{name}"),
                    };
                    self.walk(child, path, depth + 1);
                }
            }
            _ => {}
        }
    }

    fn add(&mut self, path: &str, text: &str) {
        let text = cut(&shown(text), MAX_FIELD_TEXT);
        if text.is_empty() {
            return;
        }
        if self.fields.iter().map(|(_, t)| t.len()).sum::<usize>() >= MAX_FIELD_ERRORS {
            self.more += 1;
            return;
        }
        match self.fields.last_mut() {
            Some((last, texts)) if last == path => texts.push(text),
            _ => self.fields.push((path.to_owned(), vec![text])),
        }
    }

    /// `field: text text; field2: text`, within [`MAX_MESSAGE`] with room
    /// for `; and N more`.
    fn render(self) -> String {
        const ROOM: usize = 32;
        let mut out = String::new();
        let mut more = self.more;
        let mut full = false;
        for (path, texts) in self.fields {
            // Field names are not redacted in the body: they are here.
            let name = cut(&shown(&crate::redact::redact_text(&path)), MAX_FIELD_PATH);
            let part = if name.is_empty() {
                texts.join(" ")
            } else {
                format!("{name}: {}", texts.join(" "))
            };
            let sep = if out.is_empty() { "" } else { "; " };
            full =
                full || out.chars().count() + sep.len() + part.chars().count() > MAX_MESSAGE - ROOM;
            if full {
                more += texts.len();
                continue;
            }
            out.push_str(sep);
            out.push_str(&part);
        }
        if more > 0 {
            let sep = if out.is_empty() { "" } else { "; " };
            out.push_str(&format!("{sep}and {more} more"));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cut_keeps_short_text_and_marks_a_cut() {
        assert_eq!(cut("abc", 3), "abc");
        assert_eq!(cut("abcd", 3), "ab…");
        assert_eq!(cut("ééééé", 2), "é…");
        assert_eq!(cut("", 5), "");
    }

    #[test]
    fn a_body_without_text_has_the_status() {
        assert_eq!(message(None, 502), "HTTP 502");
        assert_eq!(message(Some(&json!({"detail": "  "})), 400), "HTTP 400");
        assert_eq!(
            message(Some(&json!({"a": [1, true, null]})), 400),
            "HTTP 400"
        );
    }

    #[test]
    fn located_errors_name_their_location() {
        let body = json!([{"loc": ["body", "items", 2], "msg": "field required", "type": "missing"},
                          {"loc": [{}], "msg": "odd location"}]);
        assert_eq!(
            message(Some(&body), 422),
            "body.items.2: field required; [1].msg: odd location"
        );
    }

    #[test]
    fn field_names_are_redacted_and_texts_are_one_line() {
        let body = json!({"AKIAIOSFODNN7EXAMPLE": ["bad\n\tvalue"]});
        assert_eq!(message(Some(&body), 400), "[redacted]: bad value");
    }
}

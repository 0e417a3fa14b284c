//! Reading a non-2xx response into [`ResponseFacts`] inside the `exec` hook.

use bytes::Bytes;
use serde_json::Value;

use crate::error::{ApiError, ResponseFacts};

/// The most of an error body that is read and kept.
pub(crate) const MAX_ERROR_BODY: usize = 64 * 1024;

/// Reads at most [`MAX_ERROR_BODY`] bytes of `response`, redacts them with
/// `key` also removed verbatim, and returns a response with the same status and
/// headers whose body is the redacted text and whose extensions hold the facts.
pub(crate) async fn error_response(
    mut response: reqwest::Response,
    key: &str,
) -> reqwest::Response {
    let status = response.status();
    let headers = response.headers().clone();
    let mut raw = Vec::new();
    // A broken body still yields an error with what arrived.
    while let Ok(Some(chunk)) = response.chunk().await {
        let room = MAX_ERROR_BODY - raw.len();
        raw.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if raw.len() >= MAX_ERROR_BODY {
            break;
        }
    }
    let lossy = String::from_utf8_lossy(&raw);
    let mut text = scrub(&lossy, key);
    // Parsed from the text before the text rule: that rule can replace a
    // `"field": "value"` pair as a whole and leave invalid JSON behind.
    let without_key = if key.is_empty() {
        lossy.to_string()
    } else {
        lossy.replace(key, "[redacted]")
    };
    let body = serde_json::from_str::<Value>(&without_key)
        .ok()
        .map(|mut v| {
            // The key can also be spelt with JSON escapes (`\u0061vk_...`,
            // `\/`), which the text search misses: then the raw text still
            // holds it, and is replaced by the redacted JSON.
            if scrub_json(&mut v, key) {
                crate::redact::redact_json(&mut v);
                text = v.to_string();
            } else {
                crate::redact::redact_json(&mut v);
            }
            v
        });
    let message = match body.as_ref().and_then(|b| b.get("detail")) {
        Some(Value::String(detail)) => detail.clone(),
        _ => format!("HTTP {}", status.as_u16()),
    };
    let facts = ResponseFacts {
        error: ApiError {
            status: status.as_u16(),
            message,
            body,
            raw_body: text.clone(),
            request_id: headers
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
        },
        retry_after: crate::retry::retry_after(&headers),
    };
    let mut rebuilt = http::Response::new(text);
    *rebuilt.status_mut() = status;
    *rebuilt.headers_mut() = headers;
    rebuilt.extensions_mut().insert(facts);
    reqwest::Response::from(rebuilt)
}

/// Redacts `text` by the protocol rules and removes `key` wherever it appears.
pub(crate) fn scrub(text: &str, key: &str) -> String {
    let text = if key.is_empty() {
        text.to_owned()
    } else {
        text.replace(key, "[redacted]")
    };
    crate::redact::redact_text(&text)
}

/// Removes `key` from every string of `value`, object keys included;
/// whether it was found.
fn scrub_json(value: &mut Value, key: &str) -> bool {
    if key.is_empty() {
        return false;
    }
    match value {
        Value::String(s) if s.contains(key) => {
            *s = s.replace(key, "[redacted]");
            true
        }
        Value::Array(items) => items
            .iter_mut()
            .fold(false, |found, v| scrub_json(v, key) | found),
        Value::Object(map) => {
            let mut found = false;
            if map.keys().any(|k| k.contains(key)) {
                found = true;
                *map = std::mem::take(map)
                    .into_iter()
                    .map(|(k, v)| (k.replace(key, "[redacted]"), v))
                    .collect();
            }
            map.values_mut()
                .fold(found, |found, v| scrub_json(v, key) | found)
        }
        _ => false,
    }
}

/// A redacted, bounded text copy of a body that failed to decode.
pub(crate) fn bounded_text(bytes: &Bytes) -> String {
    let end = bytes.len().min(MAX_ERROR_BODY);
    crate::redact::redact_text(&String::from_utf8_lossy(&bytes[..end]))
}

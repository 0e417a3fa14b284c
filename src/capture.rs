//! Reading a non-2xx response into [`ResponseFacts`] inside the `exec` hook.

use bytes::Bytes;
use serde_json::Value;

use crate::{
    error::{ApiError, ResponseFacts},
    scrub,
};

/// The most of an error body that is read and kept.
pub(crate) const MAX_ERROR_BODY: usize = 64 * 1024;

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
                .map(|v| scrub::scrub(&String::from_utf8_lossy(v.as_bytes()), key)),
        },
        retry_after: crate::retry::retry_after(headers),
    };
    let mut rebuilt = crate::body::rebuilt(response, Bytes::from(text), None);
    rebuilt.extensions_mut().insert(facts);
    rebuilt
}

/// A bounded, pattern-redacted text copy of a body that failed to decode
/// (the key is removed later, by [`crate::Error::without_key_of`]).
pub(crate) fn bounded_text(bytes: &Bytes) -> String {
    let end = bytes.len().min(MAX_ERROR_BODY);
    scrub::scrub(&String::from_utf8_lossy(&bytes[..end]), "")
}

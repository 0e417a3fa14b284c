//! Redaction of secrets in error messages and bodies (protocol.md §7).
//! STUB: being completed.

/// Replaces every secret-looking substring of `text` with `[redacted]`.
pub fn redact_text(text: &str) -> String {
    text.to_owned()
}

/// Redacts a JSON value in place: string patterns everywhere, and every scalar
/// beneath a sensitive key name.
pub fn redact_json(value: &mut serde_json::Value) {
    let _ = value;
}

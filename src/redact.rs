//! Redaction of secrets in error messages and bodies (protocol.md §7), and
//! the escaping of server text for a terminal.
//!
//! The SDK never hands back server text that could echo a credential without
//! passing it through here first. Two rules apply:
//!
//! - **Text**: [`redact_text`] replaces every match of a fixed list of secret
//!   patterns (JWTs, AWS keys and session tokens, PEM private keys, provider
//!   API keys, bearer tokens, ARNs, Avala API keys, …) with `[redacted]`. The
//!   patterns are applied one after another, in the protocol's order.
//! - **Structure**: [`redact_json`] walks a JSON value; below an object key
//!   whose normalised name is a known credential field (`password`, `api_key`,
//!   `X-Avala-Api-Key`, …) every non-null scalar becomes `"[redacted]"`, and
//!   every other string gets the text rule.
//!
//! Both functions are total: they never panic, whatever the input.
//!
//! Text meant for a person (an error's message, the `avala` command line's
//! output) also goes through [`escape_controls`], so that a server cannot
//! send escape sequences to the reader's terminal.

use std::borrow::Cow;
use std::fmt::Write;
use std::sync::LazyLock;

use regex::{NoExpand, Regex, RegexSet};
use serde_json::Value;

/// What every secret is replaced by.
const REDACTED: &str = "[redacted]";

/// Pattern 5. The protocol's pattern runs to the END line *matching* the BEGIN
/// line's key type (a backreference). The `regex` crate has no backreferences,
/// so each key type gets its own alternative; at any starting position at most
/// one BEGIN alternative can match, which makes this equivalent. `(?s)` lets
/// `.*?` cross lines; `.*?` stops at the first matching END line.
const PEM_PRIVATE_KEY: &str = concat!(
    "(?s)",
    "-----BEGIN RSA PRIVATE KEY-----.*?-----END RSA PRIVATE KEY-----",
    "|-----BEGIN EC PRIVATE KEY-----.*?-----END EC PRIVATE KEY-----",
    "|-----BEGIN DSA PRIVATE KEY-----.*?-----END DSA PRIVATE KEY-----",
    "|-----BEGIN OPENSSH PRIVATE KEY-----.*?-----END OPENSSH PRIVATE KEY-----",
    "|-----BEGIN ENCRYPTED PRIVATE KEY-----.*?-----END ENCRYPTED PRIVATE KEY-----",
    "|-----BEGIN PRIVATE KEY-----.*?-----END PRIVATE KEY-----",
);

/// The text patterns, in the order they are applied (protocol.md §7, 1–13,
/// then one of our own).
const PATTERNS: [&str; 15] = [
    // 1. JWT.
    r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+",
    // 2. AWS access key ids (long-term and temporary).
    r"(?:AKIA|ASIA)[0-9A-Z]{16}",
    // 3. AWS STS session tokens.
    r"\b(?:FwoG|IQoJ)[A-Za-z0-9+/=]{16,}",
    // 4. Google OAuth refresh tokens.
    r"\b1//[A-Za-z0-9_-]{20,}",
    // 5. PEM private key blocks.
    PEM_PRIVATE_KEY,
    // 6. A service-account `"private_key_id": "…"` pair, JSON escapes allowed.
    r#"(?i)"private_key_id"\s*:\s*"(?:[^"\\]|\\.)*""#,
    // 7. AWS secret key next to its field name.
    r#"(?i)\b(?:aws[_-]?secret[_-]?access[_-]?key|secretaccesskey)["']?\s*[:=]\s*["']?[A-Za-z0-9/+=]{20,}"#,
    // 8. Prefixed tokens (`sk_live_…`, `token_…`).
    r"\b(?:sk|pk|secret|key|token)_(?:live|test|prod)?_?[A-Za-z0-9]{16,}",
    // 9. Hyphenated provider keys (OpenAI / Anthropic style).
    r"\bsk-[A-Za-z0-9][A-Za-z0-9_-]{20,}",
    // 10. Legacy Avala API key: 40 lowercase hex digits.
    r"\b[a-f0-9]{40}\b",
    // 11. Bearer tokens (the word `Bearer` goes too).
    r"(?i)\bbearer\s+[A-Za-z0-9_.\-+/=]+",
    // 12. An echoed `X-Avala-Api-Key` header or field.
    r#"(?i)X-Avala-Api-Key["']?\s*[:=]\s*["']?[A-Za-z0-9_-]+"#,
    // 13. AWS ARNs (they name accounts and roles).
    r"arn:aws[a-z0-9-]*:[a-z0-9-]*:[a-z0-9-]*:[0-9]*:[A-Za-z0-9_\-./:*]+",
    // 14. Not in the protocol: current Avala API keys start with `avk_`
    // (auth-guide.txt), and none of 1–13 catches them (10 only matches the
    // older 40-hex form), so a server echoing the caller's key would leak it.
    r"\bavk_[A-Za-z0-9_-]{8,}",
    // 15. Not in the protocol: a private key block whose END line never comes
    // (error bodies are cut at 64 KiB, which can split a key). Complete
    // blocks are gone after 5, so what remains runs to the end of the text.
    r"(?s)-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED |)PRIVATE KEY-----.*\z",
];

/// The compiled [`PATTERNS`], built on first use.
static COMPILED: LazyLock<Vec<Regex>> = LazyLock::new(|| {
    PATTERNS
        .iter()
        .map(|p| Regex::new(p).expect("redaction patterns are valid regexes"))
        .collect()
});

/// All of [`PATTERNS`] at once, to skip texts that match none.
static ANY: LazyLock<RegexSet> =
    LazyLock::new(|| RegexSet::new(PATTERNS).expect("redaction patterns are valid regexes"));

/// Normalised object keys whose whole value is redacted.
const SENSITIVE_KEYS: [&str; 22] = [
    "awssecretaccesskey",
    "secretaccesskey",
    "awsaccesskeyid",
    "accesskeyid",
    "awssessiontoken",
    "apikey",
    "xavalaapikey",
    "authorization",
    "auth",
    "token",
    "accesstoken",
    "refreshtoken",
    "sessiontoken",
    "idtoken",
    "secret",
    "password",
    "passwd",
    "pwd",
    "credentials",
    "privatekey",
    "privatekeyid",
    "clientsecret",
];

/// Replaces every secret-looking substring of `text` with `[redacted]`.
///
/// The patterns of protocol.md §7 are applied in order, each to the output of
/// the previous one, followed by one for Avala `avk_…` keys. Among others they
/// catch JWTs, AWS access key ids, secret keys and session tokens, PEM private
/// key blocks, `sk_live_…`/`sk-…` provider keys, 40-hex Avala keys, `Bearer …`
/// credentials, echoed `X-Avala-Api-Key` headers and AWS ARNs. Text outside
/// the matches is returned unchanged.
///
/// ```
/// let s = avala::redact::redact_text("bad key AKIAIOSFODNN7EXAMPLE here");
/// assert_eq!(s, "bad key [redacted] here");
/// ```
pub fn redact_text(text: &str) -> String {
    // Most texts hold no secret: one pass over all patterns at once decides.
    if !ANY.is_match(text) {
        return text.to_owned();
    }
    let mut out = Cow::Borrowed(text);
    for re in COMPILED.iter() {
        let replaced = match re.replace_all(&out, NoExpand(REDACTED)) {
            Cow::Owned(s) => Some(s),
            Cow::Borrowed(_) => None,
        };
        if let Some(s) = replaced {
            out = Cow::Owned(s);
        }
    }
    out.into_owned()
}

/// `text` with every control character but the line feed (C0, DEL and C1:
/// ESC, BEL, carriage return, tab, the C1 CSI, …) written as a visible
/// `\u00XX` escape, so that server text cannot move the cursor, retitle the
/// window or clear the screen of the terminal it is printed on.
///
/// Everything else, `\` included, is kept, so escaping twice changes
/// nothing, and JSON written by `serde_json` stays valid JSON with the same
/// values (JSON spells these characters the same way, and its text holds
/// them only inside strings).
///
/// ```
/// let s = avala::redact::escape_controls("name\u{1b}]0;pwned\u{7}\n");
/// assert_eq!(s, "name\\u001b]0;pwned\\u0007\n");
/// ```
pub fn escape_controls(text: &str) -> Cow<'_, str> {
    let is_escaped = |c: char| c.is_control() && c != '\n';
    if !text.chars().any(is_escaped) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if is_escaped(c) {
            // Writing to a String cannot fail.
            let _ = write!(out, "\\u{:04x}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Redacts a JSON value in place.
///
/// Objects and arrays are walked to any depth (without recursion, so a deeply
/// nested value cannot overflow the stack). An object key is normalised by
/// lowercasing it and removing every non-alphanumeric character; if the result
/// is a credential name (`apikey`, `xavalaapikey`, `authorization`, `auth`,
/// `token`, `password`, `secret`, `credentials`, `privatekey`, the AWS key
/// fields, …), every string, number and boolean anywhere beneath that key is
/// replaced by the string `"[redacted]"`; `null` stays `null`. Every other
/// string value is passed through [`redact_text`]. Object keys themselves are
/// left as they are.
///
/// ```
/// use serde_json::json;
/// let mut v = json!({"X-Avala-Api-Key": "k", "retries": 3, "note": "Bearer abc"});
/// avala::redact::redact_json(&mut v);
/// assert_eq!(v, json!({"X-Avala-Api-Key": "[redacted]", "retries": 3, "note": "[redacted]"}));
/// ```
pub fn redact_json(value: &mut Value) {
    // Each entry: a value still to visit, and whether it lies beneath a
    // sensitive key.
    let mut stack: Vec<(&mut Value, bool)> = vec![(value, false)];
    while let Some((v, sensitive)) = stack.pop() {
        match v {
            Value::Null => {}
            Value::Object(map) => {
                for (key, child) in map.iter_mut() {
                    stack.push((child, sensitive || is_sensitive_key(key)));
                }
            }
            Value::Array(items) => {
                for child in items.iter_mut() {
                    stack.push((child, sensitive));
                }
            }
            scalar if sensitive => *scalar = Value::String(REDACTED.to_owned()),
            Value::String(s) => *s = redact_text(s),
            Value::Bool(_) | Value::Number(_) => {}
        }
    }
}

/// The `Debug` of a free-form JSON field of a generated type (`metadata`,
/// a provider's or alert channel's `config`, ...), printed as the derive
/// would print it after [`redact_json`]: the API lets such fields hold
/// anything, credentials included, and no field name says which. `build.rs`
/// (`SecretDebug`) writes it into the `Debug` of every generated struct
/// with such a field. It clones the value, which only `Debug` pays.
pub(crate) struct JsonDebug<'a, T: ?Sized>(pub(crate) &'a T);

impl std::fmt::Debug for JsonDebug<'_, Value> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut value = self.0.clone();
        redact_json(&mut value);
        value.fmt(f)
    }
}

impl std::fmt::Debug for JsonDebug<'_, serde_json::Map<String, Value>> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut value = Value::Object(self.0.clone());
        redact_json(&mut value);
        match &value {
            Value::Object(map) => map.fmt(f),
            other => other.fmt(f),
        }
    }
}

impl<T> std::fmt::Debug for JsonDebug<'_, Option<T>>
where
    for<'b> JsonDebug<'b, T>: std::fmt::Debug,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(inner) => f.debug_tuple("Some").field(&JsonDebug(inner)).finish(),
            None => f.write_str("None"),
        }
    }
}

impl<T> std::fmt::Debug for JsonDebug<'_, Vec<T>>
where
    for<'b> JsonDebug<'b, T>: std::fmt::Debug,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(JsonDebug))
            .finish()
    }
}

/// A generated builder's field: the value, or the message of a bad one.
impl<T> std::fmt::Debug for JsonDebug<'_, Result<T, String>>
where
    for<'b> JsonDebug<'b, T>: std::fmt::Debug,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Ok(inner) => f.debug_tuple("Ok").field(&JsonDebug(inner)).finish(),
            Err(message) => f.debug_tuple("Err").field(message).finish(),
        }
    }
}

/// Whether `key`, lowercased and stripped of non-alphanumerics, names a
/// credential.
fn is_sensitive_key(key: &str) -> bool {
    let normalised: String = key
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric())
        .collect();
    SENSITIVE_KEYS.contains(&normalised.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Without a credential in it, a free-form field prints exactly as the
    /// derived `Debug` printed it, in every shape the generated code has.
    #[test]
    fn json_debug_prints_as_the_derive_and_hides_only_credentials() {
        let value = json!({"site": "lab-3", "n": [1, {"k": null}]});
        let map = value.as_object().unwrap().clone();
        let same = |ours: String, derived: String| assert_eq!(ours, derived);
        same(format!("{:?}", JsonDebug(&value)), format!("{value:?}"));
        same(format!("{:#?}", JsonDebug(&map)), format!("{map:#?}"));
        let some = Some(vec![map.clone()]);
        same(format!("{:?}", JsonDebug(&some)), format!("{some:?}"));
        let none: Option<Value> = None;
        same(format!("{:?}", JsonDebug(&none)), format!("{none:?}"));
        let ok: Result<Option<Value>, String> = Ok(Some(value.clone()));
        same(format!("{:?}", JsonDebug(&ok)), format!("{ok:?}"));
        let err: Result<Value, String> = Err("bad value".into());
        same(format!("{:?}", JsonDebug(&err)), format!("{err:?}"));

        let secret = json!({"site": "lab-3", "nested": [{"apiKey": "k-123"}]});
        let text = format!("{:?}", JsonDebug(&Some(secret)));
        assert!(
            !text.contains("k-123") && text.contains("[redacted]") && text.contains("lab-3"),
            "{text}"
        );
    }

    /// Asserts that `secret`, embedded between two plain words, is redacted and
    /// the words are kept.
    #[track_caller]
    fn assert_redacted(secret: &str) {
        let text = format!("before {secret} after");
        assert_eq!(redact_text(&text), "before [redacted] after", "{secret:?}");
    }

    /// Asserts that `text` comes back unchanged.
    #[track_caller]
    fn assert_kept(text: &str) {
        assert_eq!(redact_text(text), text);
    }

    #[test]
    fn all_patterns_compile() {
        assert_eq!(COMPILED.len(), PATTERNS.len());
    }

    #[test]
    fn plain_text_is_unchanged() {
        assert_kept("");
        assert_kept("Dataset 'cars' not found. Try again later; status=404.");
        assert_kept("ünïcödé text with émojis 🚗 and a key: value");
        assert_kept("[redacted]");
    }

    // 1. JWT

    #[test]
    fn jwt() {
        assert_redacted(
            "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.\
             eyJzdWIiOiIxMjM0NTY3ODkwIn0.\
             SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
        );
        // Embedded in a word: the pattern has no leading boundary.
        assert_eq!(redact_text("jwt=eyJa.eyJb.sig-_1"), "jwt=[redacted]");
    }

    #[test]
    fn jwt_needs_three_segments() {
        assert_kept("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0");
        assert_kept("eyJ.a.b");
    }

    // 2. AWS access key ids

    #[test]
    fn aws_access_key_ids() {
        assert_redacted("AKIAIOSFODNN7EXAMPLE");
        assert_redacted("ASIAY34FZKBOKMUTVV7A");
        assert_eq!(
            redact_text("Invalid value 'AKIAIOSFODNN7EXAMPLE' for field 'aws_access_key'"),
            "Invalid value '[redacted]' for field 'aws_access_key'"
        );
    }

    #[test]
    fn aws_access_key_id_near_misses() {
        // 15 characters after the prefix.
        assert_kept("AKIAIOSFODNN7EXAMPL");
        // Lowercase characters are not part of an access key id.
        assert_kept("AKIAiosfodnn7example");
        assert_kept("AKIDIOSFODNN7EXAMPLE");
    }

    // 3. AWS STS session tokens

    #[test]
    fn aws_session_tokens() {
        assert_redacted("FwoGZXIvYXdzEBYaDHqa0AP1bM2+YzZ/ab==");
        assert_redacted("IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQ");
    }

    #[test]
    fn aws_session_token_near_misses() {
        // 15 characters after the prefix.
        assert_kept("FwoGZXIvYXdzEBYaDHq");
        // Not at a word boundary.
        assert_kept("xIQoJb3JpZ2luX2VjEJr0123456789");
    }

    // 4. Google OAuth refresh tokens

    #[test]
    fn google_refresh_tokens() {
        assert_redacted("1//0gLbVxYz-ABCDEFGHIJKLMNOPQRSTUVWXYZ_abc");
        assert_kept("1//0gLbVxYz-ABCDEFGHIJ"); // 19 characters
    }

    // 5. PEM private keys

    #[test]
    fn pem_private_keys_of_every_type() {
        for kind in ["RSA ", "EC ", "DSA ", "OPENSSH ", "ENCRYPTED ", ""] {
            let block = format!(
                "-----BEGIN {kind}PRIVATE KEY-----\n\
                 MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7\n\
                 VJTUt9Us8cKjMzEfYyjiWA4R4/M2bS1GB4t7NXp98C3SC6dVMvDu\n\
                 -----END {kind}PRIVATE KEY-----"
            );
            assert_redacted(&block);
        }
    }

    #[test]
    fn pem_stops_at_the_first_matching_end() {
        let key = "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----";
        let text = format!("one {key}\nbetween\ntwo {key}\nend");
        assert_eq!(
            redact_text(&text),
            "one [redacted]\nbetween\ntwo [redacted]\nend"
        );
    }

    #[test]
    fn pem_runs_to_the_end_line_of_the_same_type() {
        // A stray END line of another type does not end the block.
        let text = "x -----BEGIN RSA PRIVATE KEY-----\nAAAA\n\
                    -----END EC PRIVATE KEY-----\nBBBB\n\
                    -----END RSA PRIVATE KEY----- y";
        assert_eq!(redact_text(text), "x [redacted] y");
    }

    #[test]
    fn pem_near_misses() {
        // Public keys and certificates are not secrets.
        assert_kept("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----");
        assert_kept("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----");
    }

    #[test]
    fn pem_without_its_end_line_is_redacted_to_the_end() {
        // Beyond the protocol: a truncated body must not leak half a key.
        let cut = "before -----BEGIN RSA PRIVATE KEY-----\nAAAA\nBBBB";
        assert_eq!(redact_text(cut), "before [redacted]");
        let mismatched = "x -----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY----- y";
        assert_eq!(redact_text(mismatched), "x [redacted]");
    }

    // 6. private_key_id

    #[test]
    fn private_key_id_pairs() {
        assert_eq!(
            redact_text(r#"{"type": "service_account", "private_key_id": "1a2b3c", "x": 1}"#),
            r#"{"type": "service_account", [redacted], "x": 1}"#
        );
        assert_eq!(
            redact_text(r#"{"PRIVATE_KEY_ID":"ab\"cd","x":1}"#),
            r#"{[redacted],"x":1}"#
        );
        assert_redacted(r#""Private_Key_Id" :  """#);
    }

    #[test]
    fn private_key_id_near_misses() {
        // Unquoted name, or a non-string value.
        assert_kept("private_key_id: 1a2b3c");
        assert_kept(r#""private_key_id": 42"#);
    }

    // 7. AWS secret access keys next to their field name

    #[test]
    fn aws_secret_access_keys() {
        let key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
        assert_redacted(&format!("aws_secret_access_key={key}"));
        assert_redacted(&format!("AWS-SECRET-ACCESS-KEY: {key}"));
        assert_redacted(&format!("awssecretaccesskey = '{key}"));
        assert_redacted(&format!("SecretAccessKey:{key}"));
        assert_eq!(
            redact_text(&format!(r#"{{"aws_secret_access_key": "{key}"}}"#)),
            r#"{"[redacted]"}"#
        );
    }

    #[test]
    fn aws_secret_access_key_near_misses() {
        // 19 characters.
        assert_kept("aws_secret_access_key=wJalrXUtnFEMI/K7MDE");
        // No separator.
        assert_kept("aws_secret_access_key wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY");
    }

    // 8. Prefixed tokens

    #[test]
    fn prefixed_tokens() {
        assert_redacted("sk_live_4eC39HqLyjWDarjtT1zdp7dc");
        assert_redacted("pk_test_TYooMQauvdEDq54NiTphI7jx");
        assert_redacted("secret_prod_ABCDEFGHIJKLMNOP");
        assert_redacted("key_ABCDEFGHIJKLMNOP");
        assert_redacted("token_0123456789abcdef");
    }

    #[test]
    fn prefixed_token_near_misses() {
        // 15 characters.
        assert_kept("sk_live_4eC39HqLyjWDarj");
        // Not at a word boundary.
        assert_kept("mytoken_0123456789abcdef");
        // Field names are not tokens.
        assert_kept("secret_access_key");
    }

    // 9. Hyphenated provider keys

    #[test]
    fn hyphenated_provider_keys() {
        assert_redacted("sk-proj-Abc123def456GHI789jkl012");
        assert_redacted("sk-ant-api03-abcdefghijklmnopqrstuvwxyz_0123");
    }

    #[test]
    fn hyphenated_provider_key_near_misses() {
        assert_kept("sk-proj-short");
        // Not at a word boundary.
        assert_kept("task-abcdefghijklmnopqrstuvwxyz");
        // The first character after `sk-` must be alphanumeric.
        assert_kept("sk--abcdefghijklmnopqrstuvwxyz");
    }

    // 10. 40-hex Avala API keys

    #[test]
    fn forty_hex_keys() {
        assert_redacted("0123456789abcdef0123456789abcdef01234567");
        assert_eq!(
            redact_text("Invalid config: aws key aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
            "Invalid config: aws key [redacted]"
        );
    }

    #[test]
    fn forty_hex_near_misses() {
        // 39 and 41 digits.
        assert_kept("0123456789abcdef0123456789abcdef0123456");
        assert_kept("0123456789abcdef0123456789abcdef012345678");
        // Uppercase hex.
        assert_kept("0123456789ABCDEF0123456789ABCDEF01234567");
        // Glued to a word.
        assert_kept("g0123456789abcdef0123456789abcdef01234567");
    }

    // 11. Bearer tokens

    #[test]
    fn bearer_tokens() {
        assert_eq!(
            redact_text("Authorization: Bearer abc.DEF-ghi_jkl+mn/op=="),
            "Authorization: [redacted]"
        );
        assert_eq!(
            redact_text("header BEARER\tx1 rest"),
            "header [redacted] rest"
        );
    }

    #[test]
    fn bearer_near_misses() {
        assert_kept("Bearer");
        assert_kept("a bearer: token");
        assert_kept("forbearer abc");
    }

    // 12. Echoed X-Avala-Api-Key

    #[test]
    fn echoed_api_key_header() {
        assert_redacted("X-Avala-Api-Key: my_key-123");
        // The closing quote is not part of the match.
        assert_eq!(redact_text("x-avala-api-key='abc'"), "[redacted]'");
        assert_eq!(
            redact_text(r#"{"X-AVALA-API-KEY": "abc", "n": 1}"#),
            r#"{"[redacted]", "n": 1}"#
        );
    }

    #[test]
    fn api_key_header_name_alone_is_kept() {
        assert_kept("missing X-Avala-Api-Key header");
        assert_kept("X-Avala-Api-Key:");
    }

    // 13. AWS ARNs

    #[test]
    fn aws_arns() {
        assert_redacted("arn:aws:iam::123456789012:role/Admin");
        assert_redacted("arn:aws-us-gov:s3:::my-bucket/path/*");
        assert_redacted("arn:aws:lambda:us-east-1:123456789012:function:my-fn:1");
    }

    #[test]
    fn arn_near_misses() {
        assert_kept("arn:azure:iam::123456789012:role/Admin");
        assert_kept("arn:aws:iam");
    }

    // 14. avk_ keys (our addition)

    #[test]
    fn avk_keys() {
        assert_redacted("avk_3f9a8b7c6d5e4f3a");
        assert_redacted("avk_your_api_key");
        assert_eq!(
            redact_text("export AVALA_API_KEY=\"avk_Ab-9_xyzQRS\""),
            "export AVALA_API_KEY=\"[redacted]\""
        );
    }

    #[test]
    fn avk_near_misses() {
        // 7 characters after the prefix.
        assert_kept("avk_1234567");
        // Not at a word boundary.
        assert_kept("xavk_123456789");
    }

    // Order

    #[test]
    fn jwt_is_redacted_before_bearer() {
        // Pattern 1 runs first, so pattern 11 no longer sees a token after
        // `Bearer` and the word stays.
        assert_eq!(
            redact_text("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln"),
            "Authorization: Bearer [redacted]"
        );
    }

    #[test]
    fn hex_key_is_redacted_before_header() {
        assert_eq!(
            redact_text("X-Avala-Api-Key: 0123456789abcdef0123456789abcdef01234567"),
            "X-Avala-Api-Key: [redacted]"
        );
        // A non-hex value is caught by pattern 12, name included.
        assert_eq!(redact_text("X-Avala-Api-Key: nothex"), "[redacted]");
    }

    #[test]
    fn aws_secret_field_is_redacted_before_hex_key() {
        // Pattern 7 runs before pattern 10, so the field name goes too.
        assert_eq!(
            redact_text("aws_secret_access_key=0123456789abcdef0123456789abcdef01234567"),
            "[redacted]"
        );
    }

    #[test]
    fn several_secrets_in_one_text() {
        let text = "a AKIAIOSFODNN7EXAMPLE b sk_live_4eC39HqLyjWDarjtT1zdp7dc \
                    c arn:aws:iam::123456789012:role/Admin d avk_3f9a8b7c6d5e";
        let once = redact_text(text);
        assert_eq!(once, "a [redacted] b [redacted] c [redacted] d [redacted]");
        assert_eq!(redact_text(&once), once);
    }

    // Structured rule

    #[test]
    fn every_sensitive_key_name() {
        assert_eq!(SENSITIVE_KEYS.len(), 22);
        for name in SENSITIVE_KEYS {
            let mut v = json!({ name: "plain value", "other": "plain value" });
            redact_json(&mut v);
            assert_eq!(
                v,
                json!({ name: "[redacted]", "other": "plain value" }),
                "{name}"
            );
        }
    }

    #[test]
    fn keys_are_normalised() {
        for key in [
            "X-Avala-Api-Key",
            "Private_Key",
            "AWS_SECRET_ACCESS_KEY",
            "aws-access-key-id",
            "Client Secret",
            "access.token",
            "ID_TOKEN",
            "Pass-Word",
            "Authorization",
            "api_key",
        ] {
            let mut v = json!({ key: "plain value" });
            redact_json(&mut v);
            assert_eq!(v, json!({ key: "[redacted]" }), "{key}");
        }
    }

    #[test]
    fn similar_key_names_are_not_sensitive() {
        let original = json!({
            "key": "plain",
            "tokens": "plain",
            "token_count": 3,
            "author": "plain",
            "passwords_match": true,
            "secret_santa_id": 7,
            "public_key": "plain"
        });
        let mut v = original.clone();
        redact_json(&mut v);
        assert_eq!(v, original);
    }

    #[test]
    fn everything_beneath_a_sensitive_key_is_redacted_but_null() {
        let mut v = json!({
            "data": [{
                "Credentials": {
                    "user": "bob",
                    "port": 5432,
                    "ratio": 0.5,
                    "tls": true,
                    "extra": null,
                    "list": [1, "x", null, {"a": false}, []]
                }
            }]
        });
        redact_json(&mut v);
        assert_eq!(
            v,
            json!({
                "data": [{
                    "Credentials": {
                        "user": "[redacted]",
                        "port": "[redacted]",
                        "ratio": "[redacted]",
                        "tls": "[redacted]",
                        "extra": null,
                        "list": ["[redacted]", "[redacted]", null, {"a": "[redacted]"}, []]
                    }
                }]
            })
        );
    }

    #[test]
    fn sensitive_scalars_of_every_kind() {
        let mut v =
            json!({"pwd": 1234, "auth": false, "token": -1.5, "secret": "", "password": null});
        redact_json(&mut v);
        assert_eq!(
            v,
            json!({
                "pwd": "[redacted]",
                "auth": "[redacted]",
                "token": "[redacted]",
                "secret": "[redacted]",
                "password": null
            })
        );
    }

    #[test]
    fn sensitive_keys_deep_in_arrays() {
        let mut v = json!([[{"items": [{"refresh_token": "r", "name": "n"}]}], "x"]);
        redact_json(&mut v);
        assert_eq!(
            v,
            json!([[{"items": [{"refresh_token": "[redacted]", "name": "n"}]}], "x"])
        );
    }

    #[test]
    fn other_strings_get_the_text_patterns() {
        // The body of py-0.8.3's signup redaction test.
        let mut v = json!({
            "detail": "Invalid config: aws AKIAIOSFODNN7EXAMPLE key aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "aws_secret_access_key": "AKIAIOSFODNN7EXAMPLE",
            "count": 2,
            "ok": true,
            "missing": null,
            "nested": {"errors": ["bad Bearer abc123", "fine"]}
        });
        redact_json(&mut v);
        assert_eq!(
            v,
            json!({
                "detail": "Invalid config: aws [redacted] key [redacted]",
                "aws_secret_access_key": "[redacted]",
                "count": 2,
                "ok": true,
                "missing": null,
                "nested": {"errors": ["bad [redacted]", "fine"]}
            })
        );
    }

    #[test]
    fn structured_detail() {
        let mut v = json!({"detail": {"aws_secret_access_key": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}});
        redact_json(&mut v);
        assert_eq!(
            v,
            json!({"detail": {"aws_secret_access_key": "[redacted]"}})
        );
    }

    #[test]
    fn top_level_scalars() {
        let mut s = json!("key avk_3f9a8b7c6d5e4f3a");
        redact_json(&mut s);
        assert_eq!(s, json!("key [redacted]"));
        for plain in [json!(null), json!(7), json!(true), json!("text")] {
            let mut v = plain.clone();
            redact_json(&mut v);
            assert_eq!(v, plain);
        }
    }

    #[test]
    fn very_deep_values_do_not_overflow() {
        const DEPTH: usize = 200_000;
        let mut v = json!({"password": "p", "note": "AKIAIOSFODNN7EXAMPLE"});
        for _ in 0..DEPTH {
            v = Value::Array(vec![v]);
        }
        redact_json(&mut v);
        // Walk down and take the value apart without recursion (dropping a
        // value this deep recursively would itself overflow).
        let mut cur = v;
        let mut depth = 0;
        while let Value::Array(mut items) = cur {
            cur = items.pop().expect("one item per level");
            depth += 1;
        }
        assert_eq!(depth, DEPTH);
        assert_eq!(cur, json!({"password": "[redacted]", "note": "[redacted]"}));
    }
}

//! Loading a document: from a URL (https, or http on loopback only) or a
//! file; JSON or YAML; then the OpenAPI 3.0.x validation.

use std::{io::Read as _, path::PathBuf, time::Duration};

use serde_json::Value;

/// Refuse documents larger than this (ours is about 0.3 MB).
const MAX_BYTES: u64 = 32 * 1024 * 1024;

/// Where a document comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Url(reqwest::Url),
    Path(PathBuf),
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Url(u) => write!(f, "{u}"),
            Source::Path(p) => write!(f, "{}", p.display()),
        }
    }
}

/// `scheme://...` is a URL (checked against the SDK's HTTPS rule), anything
/// else a path.
pub fn source(s: &str) -> Result<Source, String> {
    if !s.contains("://") {
        return Ok(Source::Path(PathBuf::from(s)));
    }
    let url = reqwest::Url::parse(s).map_err(|e| format!("invalid URL `{s}`: {e}"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!(
            "refusing URL `{s}`: credentials in the URL are not allowed"
        ));
    }
    match url.scheme() {
        "https" => Ok(Source::Url(url)),
        "http" if is_loopback(&url) => Ok(Source::Url(url)),
        "http" => Err(format!(
            "refusing `{s}`: plain http is only allowed to localhost, 127.0.0.1 or [::1]; use https"
        )),
        other => Err(format!(
            "refusing `{s}`: unsupported scheme `{other}` (use https, or a file path)"
        )),
    }
}

fn is_loopback(url: &reqwest::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip == std::net::Ipv4Addr::LOCALHOST,
        Some(url::Host::Ipv6(ip)) => ip == std::net::Ipv6Addr::LOCALHOST,
        None => false,
    }
}

/// Reads the text of a document and its content type (URLs only).
pub fn fetch(src: &Source) -> Result<(String, Option<String>), String> {
    match src {
        Source::Path(p) => {
            let bytes =
                std::fs::read(p).map_err(|e| format!("cannot read {}: {e}", p.display()))?;
            let text = String::from_utf8(bytes)
                .map_err(|_| format!("{} is not UTF-8 text", p.display()))?;
            Ok((text, None))
        }
        Source::Url(url) => get(url),
    }
}

fn get(url: &reqwest::Url) -> Result<(String, Option<String>), String> {
    let client = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(60))
        .user_agent(concat!("avala-xtask/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {}", chain(&e)))?;
    let resp = client
        .get(url.clone())
        .header(
            reqwest::header::ACCEPT,
            "application/json, application/yaml;q=0.9, */*;q=0.1",
        )
        .send()
        .map_err(|e| format!("cannot fetch {url}: {}", chain(&e)))?;
    let status = resp.status();
    if status.is_redirection() {
        let to = resp
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("?");
        return Err(format!(
            "GET {url} answered {status} (redirect to `{to}`), redirects are not followed: pass the final URL"
        ));
    }
    if !status.is_success() {
        return Err(format!("GET {url} answered {status}, not 2xx"));
    }
    let content_type = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_ascii_lowercase);
    let mut bytes = Vec::new();
    resp.take(MAX_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("reading the body of {url}: {e}"))?;
    if bytes.len() as u64 > MAX_BYTES {
        return Err(format!("{url} is larger than {MAX_BYTES} bytes"));
    }
    let text = String::from_utf8(bytes).map_err(|_| format!("{url} did not answer UTF-8 text"))?;
    Ok((text, content_type))
}

/// A reqwest error with its causes, on one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let s_text = s.to_string();
        if !out.contains(&s_text) {
            out.push_str(": ");
            out.push_str(&s_text);
        }
        cur = s.source();
    }
    out
}

/// Parses JSON (text starting with `{`) or YAML (anything else). HTML is
/// recognised and refused with its own message.
pub fn parse(text: &str, content_type: Option<&str>, origin: &str) -> Result<Value, String> {
    let trimmed = text.trim_start_matches('\u{feff}').trim_start();
    let head = trimmed
        .get(..trimmed.len().min(15))
        .unwrap_or("")
        .to_ascii_lowercase();
    if content_type.is_some_and(|c| c.starts_with("text/html"))
        || head.starts_with("<!doctype")
        || head.starts_with("<html")
        || head.starts_with('<')
    {
        return Err(format!("{origin} is HTML, not an OpenAPI document"));
    }
    if trimmed.is_empty() {
        return Err(format!("{origin} is empty"));
    }
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        return serde_json::from_str(trimmed)
            .map_err(|e| format!("{origin} is not valid JSON: {e}"));
    }
    let mut yaml: serde_norway::Value =
        serde_norway::from_str(trimmed).map_err(|e| format!("{origin} is not valid YAML: {e}"))?;
    yaml.apply_merge()
        .map_err(|e| format!("{origin}: YAML merge keys: {e}"))?;
    yaml_to_json(yaml).map_err(|e| format!("{origin}: {e}"))
}

/// YAML allows non-string keys (`200:` is an integer); JSON does not.
fn yaml_to_json(v: serde_norway::Value) -> Result<Value, String> {
    use serde_norway::Value as Y;
    Ok(match v {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                let f = n.as_f64().unwrap_or(f64::NAN);
                serde_json::Number::from_f64(f)
                    .map(Value::Number)
                    .ok_or_else(|| format!("the YAML number {n} has no JSON equivalent"))?
            }
        }
        Y::String(s) => Value::String(s),
        Y::Sequence(items) => Value::Array(
            items
                .into_iter()
                .map(yaml_to_json)
                .collect::<Result<_, _>>()?,
        ),
        Y::Mapping(m) => {
            let mut out = serde_json::Map::new();
            for (k, v) in m {
                let key = match k {
                    Y::String(s) => s,
                    Y::Number(n) => n.to_string(),
                    Y::Bool(b) => b.to_string(),
                    Y::Null => "null".to_owned(),
                    other => return Err(format!("unsupported YAML mapping key {other:?}")),
                };
                out.insert(key, yaml_to_json(v)?);
            }
            Value::Object(out)
        }
        Y::Tagged(t) => yaml_to_json(t.value)?,
    })
}

/// Step 1 of `regen`: is this an OpenAPI 3.0.x document that openapiv3 reads?
pub fn validate(doc: &Value, origin: &str) -> Result<(), String> {
    let Some(obj) = doc.as_object() else {
        return Err(format!(
            "{origin} is not an OpenAPI document (not a JSON/YAML object)"
        ));
    };
    if let Some(v) = obj.get("swagger") {
        return Err(format!(
            "{origin} is Swagger {v}, not OpenAPI 3.0.x; convert it to OpenAPI 3.0 first"
        ));
    }
    let Some(version) = obj.get("openapi") else {
        return Err(format!(
            "{origin} is not an OpenAPI document (no `openapi` field)"
        ));
    };
    let version = version.as_str().unwrap_or_default();
    if version.starts_with("3.1") {
        return Err(format!(
            "{origin} is OpenAPI {version}; only 3.0.x is accepted: progenitor 0.15 refuses 3.1 and a \
             3.1-to-3.0 conversion is not attempted because it is not lossless \
             (JSON Schema 2020-12 features have no 3.0 equivalent); ask for a 3.0 export"
        ));
    }
    if !is_30(version) {
        return Err(format!(
            "{origin}: unsupported OpenAPI version `{version}`; only 3.0.x is accepted"
        ));
    }
    serde_json::from_value::<openapiv3::OpenAPI>(doc.clone())
        .map_err(|e| format!("{origin} is not a valid OpenAPI 3.0 document: {e}"))?;
    Ok(())
}

/// `3.0`, `3.0.0`..`3.0.N`.
pub fn is_30(version: &str) -> bool {
    version == "3.0"
        || version
            .strip_prefix("3.0.")
            .is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_rule() {
        assert!(matches!(
            source("https://example.com/o.json"),
            Ok(Source::Url(_))
        ));
        assert!(matches!(
            source("http://127.0.0.1:8/o.json"),
            Ok(Source::Url(_))
        ));
        assert!(matches!(
            source("http://localhost/o.json"),
            Ok(Source::Url(_))
        ));
        assert!(matches!(
            source("http://[::1]:9/o.json"),
            Ok(Source::Url(_))
        ));
        assert!(source("http://example.com/o.json")
            .unwrap_err()
            .contains("https"));
        assert!(source("http://127.0.0.2/o.json").is_err());
        assert!(source("http://localhost.evil.com/o.json").is_err());
        assert!(source("ftp://example.com/o.json")
            .unwrap_err()
            .contains("scheme"));
        assert!(source("https://u:p@example.com/o.json")
            .unwrap_err()
            .contains("credentials"));
        assert_eq!(
            source("openapi/x.yaml"),
            Ok(Source::Path("openapi/x.yaml".into()))
        );
    }

    #[test]
    fn parses_json_yaml_and_refuses_html() {
        let j = parse("{\"openapi\": \"3.0.3\"}", None, "x").unwrap();
        assert_eq!(j["openapi"], "3.0.3");
        let y = parse(
            "openapi: 3.0.3\npaths:\n  /a:\n    get:\n      responses:\n        200:\n          description: ok\n",
            None,
            "x",
        )
        .unwrap();
        assert_eq!(y["openapi"], "3.0.3");
        assert!(y["paths"]["/a"]["get"]["responses"]["200"].is_object());
        assert!(parse("<!DOCTYPE html><p>hi", None, "x")
            .unwrap_err()
            .contains("HTML"));
        assert!(parse("openapi: 3", Some("text/html; charset=utf-8"), "x")
            .unwrap_err()
            .contains("HTML"));
        assert!(parse("{\"a\": ", None, "x")
            .unwrap_err()
            .contains("not valid JSON"));
        assert!(parse("a: [b\n", None, "x")
            .unwrap_err()
            .contains("not valid YAML"));
    }

    #[test]
    fn validates_version() {
        let ok = serde_json::json!({"openapi": "3.0.3", "info": {"title": "t", "version": "1"}, "paths": {}});
        validate(&ok, "x").unwrap();
        let e = validate(&serde_json::json!({"openapi": "3.1.0"}), "x").unwrap_err();
        assert!(e.contains("not lossless"), "{e}");
        assert!(validate(&serde_json::json!({"swagger": "2.0"}), "x")
            .unwrap_err()
            .contains("Swagger"));
        assert!(validate(&serde_json::json!({"a": 1}), "x")
            .unwrap_err()
            .contains("no `openapi`"));
        assert!(validate(&serde_json::json!("text"), "x")
            .unwrap_err()
            .contains("not an OpenAPI"));
        assert!(!is_30("3.0.x") && !is_30("3.01") && is_30("3.0.10"));
    }
}

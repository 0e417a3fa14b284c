//! Where the key and the base URL come from, and the base-URL rules.
//!
//! Precedence: an explicit argument, then the environment (`AVALA_API_KEY`,
//! `AVALA_BASE_URL`, `AVALA_ALLOW_INSECURE_BASE_URL`), then the default root.
//! `.env` is read only by `Client::from_dotenv` (and the command line), only
//! from the working directory, and never overrides a variable that is
//! already set.

use url::Url;

use crate::{hosts, Error, Result};

/// The API root used when none is configured.
pub const DEFAULT_BASE_URL: &str = "https://api.avala.ai/api/v1";
/// Environment variable holding the API key.
pub const ENV_API_KEY: &str = "AVALA_API_KEY";
/// Environment variable holding the API root.
pub const ENV_BASE_URL: &str = "AVALA_BASE_URL";
/// Environment variable that, when truthy, allows `http` to loopback hosts.
pub const ENV_ALLOW_INSECURE: &str = "AVALA_ALLOW_INSECURE_BASE_URL";

/// The one `.env` that is read: in the current working directory.
const DOTENV_FILE: &str = ".env";

/// Loads `./.env` (the file `.env` in the current working directory, and no
/// other: parent directories are not searched) into the
/// process environment. It may set any variable that is not already set,
/// `AVALA_API_KEY`, `AVALA_BASE_URL` and `AVALA_ALLOW_INSECURE_BASE_URL`
/// included; a variable already set wins. A missing file is not an error;
/// an unreadable or unparsable one is, and the message never quotes its
/// lines (they typically hold the key). [`crate::Client::from_dotenv`] and
/// the `avala` command line call it; call it yourself before
/// [`crate::ClientBuilder::build`] to combine `.env` with explicit settings.
///
/// Unlike python-dotenv's `load_dotenv()` (which the official guide uses and
/// which searches upwards), a `.env` above the working directory is never
/// read: one planted in a shared or temporary parent could otherwise choose
/// the host the key is sent to.
pub fn load_dotenv() -> Result<()> {
    match dotenvy::from_path(DOTENV_FILE) {
        Ok(()) => Ok(()),
        Err(e) if e.not_found() => Ok(()),
        // dotenvy's message quotes the whole offending line, which is
        // typically `AVALA_API_KEY=...`: give only the position.
        Err(dotenvy::Error::LineParse(_, index)) => Err(Error::config(format!(
            "could not parse ./.env near character {index}; check the quoting (the line is not shown, it may hold a secret)"
        ))),
        Err(e) => Err(Error::config(format!(
            "could not read ./.env: {}",
            crate::redact::redact_text(&e.to_string())
        ))),
    }
}

/// Reads a variable of the process environment; a value that is not UTF-8
/// counts as unset.
pub(crate) fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// `1`, `true`, `yes` or `on`, trimmed, in any case.
pub(crate) fn is_truthy(value: &str) -> bool {
    matches!(
        value.trim().to_ascii_lowercase().as_str(),
        "1" | "true" | "yes" | "on"
    )
}

/// The one check of a `workers` setting (transfers run at the same time) of
/// the uploads and downloads: 1 to `max`, else `InvalidArgument`, before any
/// request.
pub(crate) fn workers(workers: usize, max: usize) -> Result<usize> {
    if (1..=max).contains(&workers) {
        return Ok(workers);
    }
    Err(Error::InvalidArgument {
        message: format!("workers must be 1 to {max}, got {workers}"),
    })
}

/// A validated API root.
#[derive(Debug, Clone)]
pub(crate) struct BaseUrl {
    /// Without a trailing `/`, as the generated client wants it.
    pub(crate) text: String,
    pub(crate) origin: url::Origin,
    /// The path without a trailing `/` (`""` for a bare host).
    pub(crate) path: String,
    pub(crate) https: bool,
}

/// Validates an API root. `allow_insecure` is the value of
/// `AVALA_ALLOW_INSECURE_BASE_URL`. Messages never repeat the URL, which may
/// carry credentials.
pub(crate) fn parse_base_url(raw: &str, allow_insecure: bool) -> Result<BaseUrl> {
    const EXAMPLE: &str = "e.g. https://api.avala.ai/api/v1";
    let raw = raw.trim();
    if raw.is_empty() {
        return Err(Error::config(format!(
            "the base URL is empty; set a full URL ({EXAMPLE}) or unset {ENV_BASE_URL}"
        )));
    }
    // The URL parser silently drops tabs and newlines; refuse them instead.
    if raw.chars().any(|c| c.is_control() || c == ' ') {
        return Err(Error::config(
            "the base URL contains spaces or control characters; remove them",
        ));
    }
    let url = Url::parse(raw).map_err(|e| {
        Error::config(format!(
            "the base URL is not a valid absolute URL ({e}); it needs a scheme and host, {EXAMPLE}"
        ))
    })?;
    // For http(s) the parser fills a missing host from what follows it
    // (`https:///api/v1` gets host `api`, `https:api.avala.ai` gets
    // `api.avala.ai`), so also require `scheme://` directly before a host.
    let authority = raw
        .get(url.scheme().len() + 1..)
        .and_then(|rest| rest.strip_prefix("//"))
        .filter(|rest| !rest.starts_with(['/', '\\']));
    let host = url
        .host()
        .filter(|_| authority.is_some())
        .ok_or_else(|| Error::config(format!("the base URL has no host; {EXAMPLE}")))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Error::config(
            "the base URL contains credentials (user:password@); remove them and pass the API key with AVALA_API_KEY",
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(Error::config(
            "the base URL has a query (?) or fragment (#); use only scheme, host, port and path",
        ));
    }
    let https = match url.scheme() {
        "https" => true,
        "http" if hosts::is_loopback(&host) && allow_insecure => false,
        "http" if hosts::is_loopback(&host) => {
            return Err(Error::config(format!(
                "plain http is refused; for local development set {ENV_ALLOW_INSECURE}=true (allowed only for localhost, 127.0.0.1 and [::1])"
            )))
        }
        "http" => {
            return Err(Error::config(format!(
                "the base URL must use https; http is allowed only for localhost, 127.0.0.1 and [::1] with {ENV_ALLOW_INSECURE}=true"
            )))
        }
        other => {
            return Err(Error::config(format!(
                "the base URL scheme `{other}` is not supported; use https, {EXAMPLE}"
            )))
        }
    };
    let path = url.path().trim_end_matches('/').to_owned();
    let mut text = url.origin().ascii_serialization();
    text.push_str(&path);
    Ok(BaseUrl {
        text,
        origin: url.origin(),
        path,
        https,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Plain http to a loopback host without the opt-in is told which
    /// variable allows it; plain http to any other host is told to use https.
    #[test]
    fn plain_http_to_loopback_names_the_opt_in() {
        for (raw, says) in [
            (
                "http://localhost:8080/api/v1",
                "plain http is refused; for local development set AVALA_ALLOW_INSECURE_BASE_URL=true",
            ),
            ("http://127.0.0.1/api/v1", "plain http is refused"),
            ("http://[::1]:9/", "plain http is refused"),
            ("http://api.avala.ai/api/v1", "the base URL must use https"),
        ] {
            let Err(Error::Config { message }) = parse_base_url(raw, false) else {
                panic!("{raw} was not refused as a configuration error");
            };
            assert!(message.contains(says), "{raw}: {message}");
        }
    }
}

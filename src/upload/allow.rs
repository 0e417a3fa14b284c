//! The presigned-URL allow-list of protocol §9.1: where file bytes may go.

use std::sync::OnceLock;

use regex::Regex;
use url::{Host, Url};

use super::UploadError;

/// Checks a presigned URL before a byte is sent to it.
///
/// Allowed: `https`, no userinfo, no explicit port, no fragment, and a host
/// of the list below. The one exception is `http` to a loopback host when
/// `loopback_http` is set, which the client allows only when it was itself
/// built for a loopback base URL with insecure http allowed (the mock).
pub(crate) fn check(raw: &str, loopback_http: bool) -> Result<Url, UploadError> {
    let refuse = |host: &str, reason: &str| UploadError::DisallowedUrl {
        host: host.to_owned(),
        reason: reason.to_owned(),
    };
    let url = Url::parse(raw).map_err(|_| refuse("", "the presigned URL is not a valid URL"))?;
    let host = match url.host() {
        Some(Host::Domain(d)) => d.to_ascii_lowercase(),
        Some(Host::Ipv4(ip)) => ip.to_string(),
        Some(Host::Ipv6(ip)) => format!("[{ip}]"),
        None => return Err(refuse("", "the presigned URL has no host")),
    };
    if !url.username().is_empty() || url.password().is_some() {
        return Err(refuse(&host, "the presigned URL carries credentials"));
    }
    if url.fragment().is_some() {
        return Err(refuse(&host, "the presigned URL has a fragment"));
    }
    match url.scheme() {
        "http" if loopback_http && is_loopback(&url) => return Ok(url),
        "https" => {}
        _ => return Err(refuse(&host, "the presigned URL must use https")),
    }
    if url.port().is_some() {
        return Err(refuse(&host, "the presigned URL has an explicit port"));
    }
    if !allowed_host(&host) {
        return Err(refuse(
            &host,
            "the host is not a storage host of the allow-list (data.avala.ai, S3, R2, GCS, Azure Blob)",
        ));
    }
    Ok(url)
}

/// Whether `url` names a loopback host (`localhost`, `127.0.0.0/8`,
/// `[::1]`): the one test of "this is the local mock or store" for the
/// upload checks.
pub(crate) fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// The storage hosts of protocol §9.1.
fn allowed_host(host: &str) -> bool {
    host == "data.avala.ai"
        || is_r2(host)
        || is_s3(host)
        || host == "storage.googleapis.com"
        || host.ends_with(".storage.googleapis.com")
        || host == "blob.core.windows.net"
        || host.ends_with(".blob.core.windows.net")
}

/// The two host patterns of §9.1, exactly as the protocol writes them.
pub(super) fn is_r2(host: &str) -> bool {
    static R2: OnceLock<Regex> = OnceLock::new();
    R2.get_or_init(|| {
        Regex::new(r"^[0-9a-f]{32}(\.eu)?\.r2\.cloudflarestorage\.com$").expect("valid")
    })
    .is_match(host)
}

fn is_s3(host: &str) -> bool {
    static S3: OnceLock<Regex> = OnceLock::new();
    S3.get_or_init(|| Regex::new(r"(^|\.)s3([-.][a-z0-9-]+)*\.amazonaws\.com$").expect("valid"))
        .is_match(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(url: &str) -> bool {
        check(url, false).is_ok()
    }

    #[test]
    fn listed_hosts_pass() {
        for url in [
            "https://data.avala.ai/x?sig=1",
            "https://0123456789abcdef0123456789abcdef.r2.cloudflarestorage.com/b/k",
            "https://0123456789abcdef0123456789abcdef.eu.r2.cloudflarestorage.com/b/k",
            "https://avala-uploads.s3.us-west-2.amazonaws.com/k",
            "https://s3.amazonaws.com/b/k",
            "https://s3-eu-west-1.amazonaws.com/b/k",
            "https://b.s3.dualstack.us-east-1.amazonaws.com/k",
            "https://storage.googleapis.com/b/k",
            "https://b.storage.googleapis.com/k",
            "https://acct.blob.core.windows.net/c/k",
            "https://DATA.AVALA.AI/x",
        ] {
            assert!(ok(url), "{url}");
        }
    }

    #[test]
    fn everything_else_is_refused_with_the_host() {
        for (url, host) in [
            ("http://data.avala.ai/x", "data.avala.ai"),
            ("https://s3.example.com/upload", "s3.example.com"),
            ("https://user:pw@data.avala.ai/x", "data.avala.ai"),
            ("https://data.avala.ai:8443/x", "data.avala.ai"),
            ("https://data.avala.ai/x#frag", "data.avala.ai"),
            ("https://evil.com/data.avala.ai", "evil.com"),
            ("https://data.avala.ai.evil.com/x", "data.avala.ai.evil.com"),
            ("https://xs3.amazonaws.com/x", "xs3.amazonaws.com"),
            (
                "https://s3.amazonaws.com.evil.com/x",
                "s3.amazonaws.com.evil.com",
            ),
            (
                "https://0123.r2.cloudflarestorage.com/x",
                "0123.r2.cloudflarestorage.com",
            ),
            (
                "https://evilstorage.googleapis.com/x",
                "evilstorage.googleapis.com",
            ),
            ("https://127.0.0.1/x", "127.0.0.1"),
            ("http://127.0.0.1:8080/x", "127.0.0.1"),
        ] {
            match check(url, false) {
                Err(UploadError::DisallowedUrl { host: h, .. }) => assert_eq!(h, host, "{url}"),
                other => panic!("{url}: {other:?}"),
            }
        }
        assert!(check("not a url", false).is_err());
    }

    #[test]
    fn loopback_http_only_when_allowed() {
        assert!(check("http://127.0.0.1:4321/_storage/put/x", true).is_ok());
        assert!(check("http://localhost:4321/x", true).is_ok());
        assert!(check("http://[::1]:4321/x", true).is_ok());
        assert!(check("http://10.0.0.1:4321/x", true).is_err());
        assert!(check("ftp://127.0.0.1/x", true).is_err());
        assert!(check("http://127.0.0.1:4321/x", false).is_err());
    }
}

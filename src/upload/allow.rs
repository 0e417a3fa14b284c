//! The presigned-URL check of protocol §9.1: where file bytes may go. The
//! hosts themselves are the one host policy's ([`crate::hosts`]).

use url::{Host, Url};

use super::UploadError;
use crate::hosts;

/// Checks a presigned URL before a byte is sent to it.
///
/// Allowed: `https`, no userinfo, no explicit port, no fragment, and a
/// storage host of [`hosts::is_upload_storage`]. The one exception is
/// `http` to a loopback host when `loopback_http` is set
/// ([`hosts::plain_http_allowed`]: only a client built for a loopback base
/// URL, such as the mock's, sets it).
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
    if hosts::plain_http_allowed(&url, loopback_http) {
        return Ok(url);
    }
    if url.scheme() != "https" {
        return Err(refuse(&host, "the presigned URL must use https"));
    }
    if url.port().is_some() {
        return Err(refuse(&host, "the presigned URL has an explicit port"));
    }
    if !hosts::is_upload_storage(&host) {
        return Err(refuse(
            &host,
            "the host is not a storage host of the allow-list (data.avala.ai, S3, R2, GCS, Azure Blob)",
        ));
    }
    Ok(url)
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
            // Either half of the credentials alone is refused too.
            ("https://user@data.avala.ai/x", "data.avala.ai"),
            ("https://:pw@data.avala.ai/x", "data.avala.ai"),
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
            // Look-alikes the old pattern let through: hosts under
            // amazonaws.com that are not S3, a bare Azure domain.
            (
                "https://s3.compute-1.amazonaws.com/x",
                "s3.compute-1.amazonaws.com",
            ),
            (
                "https://bucket.s3.evil.amazonaws.com/x",
                "bucket.s3.evil.amazonaws.com",
            ),
            ("https://a.b.s3.amazonaws.com/x", "a.b.s3.amazonaws.com"),
            ("https://blob.core.windows.net/x", "blob.core.windows.net"),
            ("https://evil-s3.amazonaws.com/x", "evil-s3.amazonaws.com"),
            ("https://data.avala.ai./x", "data.avala.ai."),
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
        // Only the three loopback names of the base-URL rule.
        assert!(check("http://127.0.0.2:4321/x", true).is_err());
        assert!(check("ftp://127.0.0.1/x", true).is_err());
        assert!(check("http://127.0.0.1:4321/x", false).is_err());
    }

    /// A URL without a host, and an IP literal: refused, the host shown as
    /// the URL names it (brackets for IPv6), never a panic.
    #[test]
    fn a_url_without_a_storage_host_is_refused_with_its_reason() {
        for (url, host, reason) in [
            ("unix:/var/run/storage.sock", "", "has no host"),
            ("https://[::1]/x", "[::1]", "not a storage host"),
            (
                "https://[2001:db8::1]/x",
                "[2001:db8::1]",
                "not a storage host",
            ),
            ("ftp://data.avala.ai/x", "data.avala.ai", "must use https"),
        ] {
            match check(url, true) {
                Err(UploadError::DisallowedUrl { host: h, reason: r }) => {
                    assert_eq!(h, host, "{url}");
                    assert!(r.contains(reason), "{url}: {r}");
                }
                other => panic!("{url}: {other:?}"),
            }
        }
    }
}

//! Step 4.1–4.2 of §9.4: the access grant (`DatasetAccessGrant`, parsed
//! by hand), its lifetime, and the per-provider allow-list of download
//! URLs (which host family each provider may name; the families are the one
//! host policy's, [`crate::hosts`]), all checked before any byte is
//! requested.

use std::{
    fmt,
    sync::LazyLock,
    time::{Duration, SystemTime},
};

use regex::Regex;
use serde_json::{Map, Value};
use tokio::time::Instant;
use url::{Host, Url};

use super::{
    documents::{integrity, ObjectDoc, Revision},
    reference,
};
use crate::{config::BaseUrl, hosts, Result};

/// The longest lifetime a grant may declare.
const MAX_LIFETIME: Duration = Duration::from_secs(300);
/// How far the server's `Date` may be ahead of the local clock.
const MAX_CLOCK_SKEW: Duration = Duration::from_secs(30);
/// Below this much lifetime left, a fresh grant is requested (once).
pub(crate) const MIN_REMAINING: Duration = Duration::from_secs(5);

/// A checked grant. Its URL carries a secret: `Debug` does not print it.
pub(crate) struct Grant {
    pub(crate) provider: Provider,
    pub(crate) url: Url,
    /// When the lifetime runs out, on the local monotonic clock.
    expires: Instant,
}

impl fmt::Debug for Grant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Grant")
            .field("provider", &self.provider)
            .field("url", &"[redacted]")
            .finish_non_exhaustive()
    }
}

impl Grant {
    /// Lifetime left now.
    pub(crate) fn remaining(&self) -> Duration {
        self.expires.saturating_duration_since(Instant::now())
    }
}

/// Where a grant sends the download.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Provider {
    AwsS3,
    Gcs,
    AzureBlob,
    CloudflareR2,
    AvalaEdge,
    AvalaProxy,
}

impl Provider {
    fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "aws_s3" => Self::AwsS3,
            "gcs" => Self::Gcs,
            "azure_blob" => Self::AzureBlob,
            "cloudflare_r2" => Self::CloudflareR2,
            "avala_edge" => Self::AvalaEdge,
            "avala_proxy" => Self::AvalaProxy,
            _ => return None,
        })
    }

    /// `Accept-Encoding` of the download: `gzip` for GCS (so that it sends
    /// the stored bytes, not a decompressed copy), `identity` otherwise.
    pub(crate) fn accept_encoding(self) -> &'static str {
        match self {
            Self::Gcs => "gzip",
            _ => "identity",
        }
    }
}

/// Parses and checks a grant body for `object` of `revision`, received with
/// the `Date` header `date`. Messages never repeat the URL.
pub(crate) fn check(
    body: &[u8],
    date: Option<&str>,
    revision: &Revision,
    object: &ObjectDoc,
    base: &BaseUrl,
) -> Result<Grant> {
    let received = Instant::now();
    let received_wall = SystemTime::now();
    let doc: Map<String, Value> = serde_json::from_slice(body)
        .map_err(|_| integrity("the access grant is not a JSON object"))?;
    let text = |key: &str| doc.get(key).and_then(Value::as_str);
    let equal = |key: &str, expected: &str| text(key) == Some(expected);

    // Identity: the grant is for exactly this object of this revision.
    let provider = text("provider").and_then(Provider::parse);
    let identity_ok = doc.get("schema_version").and_then(Value::as_u64) == Some(1)
        && equal("method", "GET")
        && equal("canonical_reference", &revision.canonical_reference)
        && equal("dataset_uid", &revision.dataset_uid)
        && equal("revision_sha256", &revision.revision_sha256)
        && equal("manifest_sha256", &revision.manifest.sha256)
        && equal("object_uid", &object.object_uid)
        && equal("sha256", &object.sha256)
        && doc.get("size_bytes").and_then(Value::as_u64) == Some(object.size_bytes)
        && doc.get("range_supported").is_some_and(Value::is_boolean);
    let Some(provider) = provider.filter(|_| identity_ok) else {
        return Err(integrity(
            "the access grant does not match the object it was requested for",
        ));
    };

    // Lifetime: from the response's `Date`, 0 < lifetime <= 300 s, and the
    // time since `Date` is already spent.
    let date = date
        .and_then(|d| httpdate::parse_http_date(d).ok())
        .ok_or_else(|| integrity("the access grant response has no valid Date header"))?;
    let expires_at = text("expires_at")
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .filter(|t| t.offset().local_minus_utc() == 0)
        .ok_or_else(|| integrity("the access grant's expires_at is not an ISO-8601 UTC time"))?;
    let expires_at = SystemTime::from(expires_at.with_timezone(&chrono::Utc));
    let lifetime = expires_at
        .duration_since(date)
        .ok()
        .filter(|l| !l.is_zero() && *l <= MAX_LIFETIME)
        .ok_or_else(|| {
            integrity("the access grant has expired or lives longer than 300 s from its Date")
        })?;
    if date
        .duration_since(received_wall)
        .is_ok_and(|ahead| ahead > MAX_CLOCK_SKEW)
    {
        return Err(integrity(
            "the access grant's Date is more than 30 s ahead of the local clock",
        ));
    }
    let age = received_wall.duration_since(date).unwrap_or_default();
    let remaining = lifetime.saturating_sub(age);

    // Where: the URL passes its provider's allow-list.
    let url = text("url").unwrap_or_default();
    let url = check_url(url, provider, revision, object, base)?;
    Ok(Grant {
        provider,
        url,
        expires: received + remaining,
    })
}

/// The allow-list of §9.4 for a download URL.
fn check_url(
    text: &str,
    provider: Provider,
    revision: &Revision,
    object: &ObjectDoc,
    base: &BaseUrl,
) -> Result<Url> {
    let invalid = || integrity("the access grant's URL is not a valid download URL");
    let refused = || {
        integrity(format!(
            "the access grant's download host is not allowed for provider {provider:?}"
        ))
    };
    if text.chars().any(|c| c <= ' ' || c == '\u{7f}') {
        return Err(invalid());
    }
    let url = Url::parse(text).map_err(|_| invalid())?;
    if !url.username().is_empty() || url.password().is_some() || url.fragment().is_some() {
        return Err(invalid());
    }
    let host = match url.host() {
        Some(Host::Domain(d)) => d.to_ascii_lowercase(),
        Some(_) | None => String::new(),
    };
    let root = Url::parse(&base.text).map_err(|_| invalid())?;
    // A loopback development root (plain http, allowed by
    // AVALA_ALLOW_INSECURE_BASE_URL) accepts only an avala_proxy grant on
    // exactly its own origin; an https root only https without a port.
    let same_origin = url.origin() == root.origin();
    let scheme_ok = if base.https {
        url.scheme() == "https" && url.port().is_none()
    } else {
        provider == Provider::AvalaProxy && same_origin && hosts::plain_http_allowed(&url, true)
    };
    if !scheme_ok {
        return Err(refused());
    }
    let host_ok = match provider {
        // GovCloud stays refused for downloads, as it always was here
        // (uploads accept it: §9.1's pattern does).
        Provider::AwsS3 => hosts::s3(&host).is_some_and(|s3| !s3.gov),
        Provider::Gcs => hosts::is_gcs(&host),
        Provider::AzureBlob => hosts::is_azure_blob(&host),
        Provider::CloudflareR2 => hosts::is_r2(&host),
        Provider::AvalaEdge => hosts::edge_for_root(&base.text).is_some_and(|edge| host == edge),
        Provider::AvalaProxy => url.host_str() == root.host_str() && (base.https || same_origin),
    };
    if !host_ok {
        return Err(refused());
    }
    match provider {
        Provider::AvalaProxy => {
            let prefix = format!("{}/resolve/download/", base.path);
            let path = url.path();
            let lowered = path.to_ascii_lowercase();
            if !path.starts_with(&prefix)
                || path.contains('\\')
                || path[1..].contains("//")
                || path.split('/').any(|s| s == "." || s == "..")
                || ["%2e", "%2f", "%5c", "%25"]
                    .iter()
                    .any(|e| lowered.contains(e))
            {
                return Err(integrity(
                    "the access grant's download path is not under the resolver's download route",
                ));
            }
        }
        Provider::AvalaEdge => check_edge_path(&url, revision, object)?,
        _ => {}
    }
    Ok(url)
}

/// `avala_edge`: `/v1/datasets/{dataset}/{revision}/{manifest}/objects/{object}/{64-hex}`
/// and a single query `grant=<[A-Za-z0-9_.:-]{1,4096}>`.
fn check_edge_path(url: &Url, revision: &Revision, object: &ObjectDoc) -> Result<()> {
    let prefix = format!(
        "/v1/datasets/{}/{}/{}/objects/{}/",
        revision.dataset_uid, revision.revision_sha256, revision.manifest.sha256, object.object_uid
    );
    let path_ok = url
        .path()
        .strip_prefix(&prefix)
        .is_some_and(reference::is_sha256);
    if !path_ok {
        return Err(integrity(
            "the access grant's edge path does not name this object of this revision",
        ));
    }
    let query = url.query().unwrap_or_default();
    let token_ok = query
        .strip_prefix("grant=")
        .is_some_and(|t| GRANT_TOKEN.is_match(t));
    if !token_ok {
        return Err(integrity(
            "the access grant's edge query is not a single grant token",
        ));
    }
    Ok(())
}

static GRANT_TOKEN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new("^[A-Za-z0-9_.:-]{1,4096}$").unwrap_or_else(|e| unreachable!("{e}"))
});

#[cfg(test)]
mod tests {
    use super::*;

    const UID: &str = "0d4f5e6a-7b8c-4d9e-a0f1-2b3c4d5e6f70";
    const OBJ: &str = "f1e2d3c4-b5a6-4978-8a9b-0c1d2e3f4a5b";
    const TOKEN: &str = "SeCrEt.grant-token:42";

    fn sha(c: char) -> String {
        c.to_string().repeat(64)
    }

    fn revision() -> Revision {
        let (rev, man) = (sha('a'), sha('b'));
        serde_json::from_value(serde_json::json!({
            "schema_version": 1, "requested_reference": "o/d@main",
            "display_reference": format!("o/d@{rev}"),
            "canonical_reference": format!("avala://datasets/{UID}@{rev}"),
            "dataset_uid": UID, "revision_uid": UID, "revision_sha256": rev, "state": "published",
            "manifest": {"schema_version": 1, "sha256": man, "object_count": 1, "total_size_bytes": 3,
                "origins": [{"name": "p", "kind": "k", "canonical_ref": "c", "external_revision": "e"}],
                "objects_path": format!("/resolve/uid/{UID}/{rev}/objects/")},
            "rights": {"status": "declared", "access": "open_download", "name": "n", "url": "https://x",
                "document_sha256": sha('c'), "attestation_sha256": sha('c')},
        }))
        .unwrap()
    }

    fn object() -> ObjectDoc {
        serde_json::from_value(serde_json::json!({
            "object_uid": OBJ, "logical_path": "a", "role": "frame", "ordinal": 0,
            "episode_ordinal": null, "content_type": "x", "origin": "p", "size_bytes": 3,
            "sha256": sha('d'), "access_path": "/resolve/x",
        }))
        .unwrap()
    }

    fn edge_grant(url: &str) -> (Vec<u8>, String) {
        let now = SystemTime::now();
        let expires = chrono::DateTime::<chrono::Utc>::from(now + Duration::from_secs(60))
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let r = revision();
        let body = serde_json::json!({
            "schema_version": 1, "provider": "avala_edge", "url": url, "method": "GET",
            "canonical_reference": r.canonical_reference, "dataset_uid": UID,
            "revision_sha256": r.revision_sha256, "manifest_sha256": r.manifest.sha256,
            "object_uid": OBJ, "size_bytes": 3, "sha256": sha('d'), "range_supported": true,
            "expires_at": expires,
        });
        (body.to_string().into_bytes(), httpdate::fmt_http_date(now))
    }

    #[test]
    fn edge_grants_are_checked_and_never_show_their_token() {
        let base = crate::config::parse_base_url("https://api.avala.ai/api/v1", false).unwrap();
        let (rev, man, digest) = (sha('a'), sha('b'), sha('e'));
        let good = format!(
            "https://data.avala.ai/v1/datasets/{UID}/{rev}/{man}/objects/{OBJ}/{digest}?grant={TOKEN}"
        );
        let (body, date) = edge_grant(&good);
        let grant = check(&body, Some(&date), &revision(), &object(), &base).unwrap();
        assert_eq!(grant.provider, Provider::AvalaEdge);
        assert!(grant.remaining() > Duration::from_secs(55));
        assert_eq!(
            format!("{grant:?}"),
            "Grant { provider: AvalaEdge, url: \"[redacted]\", .. }"
        );

        let edge_path = "edge path does not name this object";
        let edge_query = "edge query is not a single grant token";
        let not_allowed = "not allowed for provider";
        let bad = [
            (good.replace(OBJ, UID), edge_path),
            (good.replace("/objects/", "/object/"), edge_path),
            (good.replace(&digest, "e"), edge_path),
            (good.replace("data.avala.ai", "data.evil.ai"), not_allowed),
            (
                good.replace("data.avala.ai", "data.avala.ai:8443"),
                not_allowed,
            ),
            (good.replace("https://", "http://"), not_allowed),
            (format!("{good}&x=1"), edge_query),
            (good.replace("grant=", "token="), edge_query),
            (good.replace(TOKEN, "a b"), "not a valid download URL"),
            (good.replace(TOKEN, ""), edge_query),
            (format!("{good}#f"), "not a valid download URL"),
        ];
        for (url, expected) in bad {
            let (body, date) = edge_grant(&url);
            let err = check(&body, Some(&date), &revision(), &object(), &base).unwrap_err();
            assert!(
                matches!(&err, crate::Error::Integrity { message } if message.contains(expected)),
                "{url}: expected {expected:?}, got {err:?}"
            );
            let shown = format!("{err} {err:?}");
            assert!(!shown.contains(TOKEN), "{shown}");
        }
        // No Date header: refused.
        let (body, _) = edge_grant(&good);
        assert!(check(&body, None, &revision(), &object(), &base).is_err());
    }

    /// The answers this list always gave, now through the one host policy.
    #[test]
    fn s3_hosts() {
        let aws = |h: &str| hosts::s3(h).is_some_and(|s3| !s3.gov);
        for ok in [
            "s3.amazonaws.com",
            "s3.eu-west-1.amazonaws.com",
            "s3-eu-west-1.amazonaws.com",
            "s3.dualstack.us-east-1.amazonaws.com",
            "bucket.s3.amazonaws.com",
            "my-bucket.s3.eu-west-1.amazonaws.com",
            "bucket.s3-accelerate.amazonaws.com",
        ] {
            assert!(aws(ok), "{ok}");
        }
        for bad in [
            "amazonaws.com",
            "evil.com",
            "s3.amazonaws.com.evil.com",
            "ec2.eu-west-1.amazonaws.com",
            "bucket.s3.us-gov-west-1.amazonaws.com",
            "a.b.s3.amazonaws.com",
        ] {
            assert!(!aws(bad), "{bad}");
        }
    }

    #[test]
    fn other_provider_hosts() {
        assert!(hosts::is_azure_blob("acct123.blob.core.windows.net"));
        assert!(!hosts::is_azure_blob("x.blob.core.windows.net"));
        assert!(hosts::is_r2(&format!(
            "{}.r2.cloudflarestorage.com",
            "a".repeat(32)
        )));
        assert!(!hosts::is_r2("abc.r2.cloudflarestorage.com"));
        assert_eq!(
            hosts::edge_for_root("https://api.avala.ai/api/v1"),
            Some("data.avala.ai")
        );
        assert_eq!(hosts::edge_for_root("https://example.com/api/v1"), None);
    }
}

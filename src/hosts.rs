//! The one host policy: which hosts file bytes may go to or come from
//! (S3, Cloudflare R2, Google Cloud Storage, Azure Blob, the Avala edge),
//! which hosts count as loopback, and when plain `http` is allowed.
//!
//! Every plane asks here: the base-URL rule (`config.rs`), the dataset data
//! plane and both Fleet protocols (`upload/allow.rs`, with the legacy path
//! check and the managed R2 pin on top) and the resolver's per-provider list
//! (`resolver/grant.rs`). The predicates take a host as the URL parser
//! normalised it (`Url::host`): lower-case, IDN already in punycode, so a
//! look-alike such as `ѕ3.amazonaws.com` (Cyrillic `ѕ`) arrives as `xn--…`
//! and matches nothing. A trailing dot (`s3.amazonaws.com.`) is refused: it
//! is the same DNS name, but nothing needs it and every comparison would
//! have to remember it.

use std::{
    net::{Ipv4Addr, Ipv6Addr},
    sync::LazyLock,
};

use regex::Regex;
use url::{Host, Url};

/// The Avala edge host that production roots download from and that the
/// dataset upload may send to (§1, §9.1).
pub(crate) const EDGE: &str = "data.avala.ai";

/// Whether `host` is loopback: exactly `localhost`, `127.0.0.1` or `::1`.
///
/// `localhost` counts because the protocol's base-URL rule names it, the
/// official SDKs accept it, and resolvers answer it with loopback (RFC 6761
/// §6.3); only someone who can already edit the machine's hosts file can
/// point it elsewhere. Other `127.0.0.0/8` addresses, `0.0.0.0` and
/// IPv4-mapped forms (`::ffff:127.0.0.1`) do not count: the rule is the
/// protocol's three names and nothing that merely routes locally.
pub(crate) fn is_loopback<S: AsRef<str>>(host: &Host<S>) -> bool {
    match host {
        Host::Domain(d) => d.as_ref().eq_ignore_ascii_case("localhost"),
        Host::Ipv4(ip) => *ip == Ipv4Addr::LOCALHOST,
        Host::Ipv6(ip) => *ip == Ipv6Addr::LOCALHOST,
    }
}

/// Whether `url`'s host is loopback ([`is_loopback`]).
pub(crate) fn is_loopback_url(url: &Url) -> bool {
    url.host().is_some_and(|h| is_loopback(&h))
}

/// Whether `url` may be fetched or sent to over plain `http`: only to a
/// loopback host, and only by a client that was itself built for a loopback
/// `http` root (`loopback_client`, which needs
/// `AVALA_ALLOW_INSECURE_BASE_URL` or the embedded mock). A remote server
/// can therefore never talk a production client into plain `http`.
pub(crate) fn plain_http_allowed(url: &Url, loopback_client: bool) -> bool {
    url.scheme() == "http" && loopback_client && is_loopback_url(url)
}

/// How an S3 endpoint addresses an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum S3Style {
    /// `https://<endpoint>/<bucket>/<key>`.
    Path,
    /// `https://<bucket>.<endpoint>/<key>`.
    VirtualHosted,
}

/// A real S3 endpoint, as [`s3`] recognised it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct S3Endpoint {
    /// How it addresses objects.
    pub(crate) style: S3Style,
    /// In an AWS GovCloud region (`us-gov-*`).
    pub(crate) gov: bool,
}

/// Recognises the real S3 endpoints under `amazonaws.com`:
///
/// - path-style: `s3`, `s3-external-1`, `s3.<region>`, `s3-<region>`,
///   `s3-fips.<region>`, `s3.dualstack.<region>`,
///   `s3-fips.dualstack.<region>`;
/// - virtual-hosted: one bucket label before any of those, or before
///   `s3-accelerate` / `s3-accelerate.dualstack`.
///
/// A region is `<2 letters>(-<part>)+-<digits>`. Anything else under
/// `amazonaws.com` (EC2, ELB, API Gateway: hosts whose names customers
/// choose) is not S3.
pub(crate) fn s3(host: &str) -> Option<S3Endpoint> {
    let rest = host.strip_suffix(".amazonaws.com")?;
    let labels: Vec<&str> = rest.split('.').collect();
    if let Some(gov) = s3_service(&labels, false) {
        return Some(S3Endpoint {
            style: S3Style::Path,
            gov,
        });
    }
    let (bucket, service) = labels.split_first()?;
    let gov = s3_service(service, true).filter(|_| is_dns_label(bucket))?;
    Some(S3Endpoint {
        style: S3Style::VirtualHosted,
        gov,
    })
}

/// The service part of an S3 endpoint (the labels after any bucket):
/// `Some(in GovCloud)` when it is one. `accelerate` only follows a bucket.
fn s3_service(labels: &[&str], accelerate: bool) -> Option<bool> {
    let region = |r: &str| is_region(r).then(|| r.starts_with("us-gov-"));
    match labels {
        ["s3" | "s3-external-1"] => Some(false),
        ["s3-accelerate"] | ["s3-accelerate", "dualstack"] if accelerate => Some(false),
        ["s3" | "s3-fips", r] | ["s3" | "s3-fips", "dualstack", r] => region(r),
        [single] => single.strip_prefix("s3-").and_then(region),
        _ => None,
    }
}

/// A Cloudflare R2 account endpoint: 32 lower-case hex digits, optionally
/// in the EU jurisdiction (§9.1).
pub(crate) fn is_r2(host: &str) -> bool {
    static R2: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"^[0-9a-f]{32}(\.eu)?\.r2\.cloudflarestorage\.com$")
            .unwrap_or_else(|e| unreachable!("{e}"))
    });
    R2.is_match(host)
}

/// Google Cloud Storage: `storage.googleapis.com` or
/// `<bucket>.storage.googleapis.com` with a single-label bucket.
pub(crate) fn is_gcs(host: &str) -> bool {
    host == "storage.googleapis.com"
        || host
            .strip_suffix(".storage.googleapis.com")
            .is_some_and(is_dns_label)
}

/// Azure Blob: `<account>.blob.core.windows.net` with an account name of
/// 3 to 24 lower-case letters and digits (Azure's own rule).
pub(crate) fn is_azure_blob(host: &str) -> bool {
    host.strip_suffix(".blob.core.windows.net")
        .is_some_and(|account| {
            (3..=24).contains(&account.len())
                && account
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
}

/// The edge host a production API root downloads from (§1); none for any
/// other root. `alala` is the spelling the official SDK uses.
pub(crate) fn edge_for_root(root: &str) -> Option<&'static str> {
    match root {
        "https://api.avala.ai/api/v1" | "https://server.avala.ai/api/v1" => Some(EDGE),
        "https://server.dev.alala.ai/api/v1" => Some("data-development.avala.ai"),
        _ => None,
    }
}

/// The storage hosts an upload may send bytes to (§9.1): the edge, R2, S3
/// (any real endpoint, GovCloud included), GCS and Azure Blob.
pub(crate) fn is_upload_storage(host: &str) -> bool {
    host == EDGE || is_r2(host) || s3(host).is_some() || is_gcs(host) || is_azure_blob(host)
}

/// One DNS label: 1 to 63 of `a-z0-9-`, not starting or ending with `-`.
/// A bucket of this shape under a storage service's domain is that
/// service's host, whatever the service's own naming rules.
fn is_dns_label(label: &str) -> bool {
    let bytes = label.as_bytes();
    (1..=63).contains(&bytes.len())
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && !label.starts_with('-')
        && !label.ends_with('-')
}

/// An AWS region name: `us-west-2`, `eu-central-1`, `us-gov-west-1`.
fn is_region(region: &str) -> bool {
    static REGION: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"^[a-z]{2}(-[a-z0-9]+)+-[0-9]{1,2}$").unwrap_or_else(|e| unreachable!("{e}"))
    });
    region.len() <= 63 && REGION.is_match(region)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The host of `url` as the URL parser normalises it, as every caller
    /// passes it.
    fn host(url: &str) -> String {
        Url::parse(url).unwrap().host_str().unwrap().to_owned()
    }

    #[test]
    fn s3_path_style_forms() {
        for (h, gov) in [
            ("s3.amazonaws.com", false),
            ("s3-external-1.amazonaws.com", false),
            ("s3.us-west-2.amazonaws.com", false),
            ("s3-eu-west-1.amazonaws.com", false),
            ("s3-fips.us-east-1.amazonaws.com", false),
            ("s3.dualstack.us-east-1.amazonaws.com", false),
            ("s3-fips.dualstack.us-gov-west-1.amazonaws.com", true),
            ("s3.us-gov-west-1.amazonaws.com", true),
        ] {
            let want = S3Endpoint {
                style: S3Style::Path,
                gov,
            };
            assert_eq!(s3(h), Some(want), "{h}");
        }
    }

    #[test]
    fn s3_virtual_hosted_forms() {
        for (h, gov) in [
            ("bucket.s3.amazonaws.com", false),
            ("b.s3.dualstack.us-east-1.amazonaws.com", false),
            ("avala-uploads.s3.us-west-2.amazonaws.com", false),
            ("my-bucket.s3-eu-west-1.amazonaws.com", false),
            ("bucket.s3-accelerate.amazonaws.com", false),
            ("bucket.s3-accelerate.dualstack.amazonaws.com", false),
            ("bucket.s3-external-1.amazonaws.com", false),
            ("bucket.s3.us-gov-west-1.amazonaws.com", true),
        ] {
            let want = S3Endpoint {
                style: S3Style::VirtualHosted,
                gov,
            };
            assert_eq!(s3(h), Some(want), "{h}");
        }
    }

    #[test]
    fn s3_look_alikes_are_not_s3() {
        for h in [
            "amazonaws.com",
            "evil.com",
            "s3.amazonaws.com.evil.com",
            "evil-s3.amazonaws.com",
            "xs3.amazonaws.com",
            "ec2.eu-west-1.amazonaws.com",
            "s3.compute-1.amazonaws.com",
            "s3-website-us-east-1.amazonaws.com",
            "a.b.s3.amazonaws.com",
            "-b.s3.amazonaws.com",
            "s3-accelerate.amazonaws.com",
            "bucket.s3.evil.amazonaws.com",
            "bucket.s3.us-west-2.evil.amazonaws.com",
            "s3.amazonaws.com.",
            "bucket.s3.amazonaws.com.cn",
        ] {
            assert_eq!(s3(h), None, "{h}");
        }
    }

    #[test]
    fn r2_gcs_azure_and_their_look_alikes() {
        let account = "0123456789abcdef0123456789abcdef";
        assert!(is_r2(&format!("{account}.r2.cloudflarestorage.com")));
        assert!(is_r2(&format!("{account}.eu.r2.cloudflarestorage.com")));
        for h in [
            "abc.r2.cloudflarestorage.com".to_owned(),
            format!("{}.r2.cloudflarestorage.com", "A".repeat(32)),
            format!("{account}.r2.cloudflarestorage.com.evil.com"),
            format!("x.{account}.r2.cloudflarestorage.com"),
            format!("{account}.us.r2.cloudflarestorage.com"),
        ] {
            assert!(!is_r2(&h), "{h}");
        }
        assert!(is_gcs("storage.googleapis.com"));
        assert!(is_gcs("b.storage.googleapis.com"));
        for h in [
            "evilstorage.googleapis.com",
            "a.b.storage.googleapis.com",
            "storage.googleapis.com.evil.com",
            "googleapis.com",
        ] {
            assert!(!is_gcs(h), "{h}");
        }
        assert!(is_azure_blob("acct123.blob.core.windows.net"));
        for h in [
            "x.blob.core.windows.net",
            "blob.core.windows.net",
            "Acct.blob.core.windows.net",
            "a-b-c.blob.core.windows.net",
            "acct.blob.core.windows.net.evil.com",
        ] {
            assert!(!is_azure_blob(h), "{h}");
        }
    }

    #[test]
    fn edge_hosts_by_root() {
        assert_eq!(edge_for_root("https://api.avala.ai/api/v1"), Some(EDGE));
        assert_eq!(edge_for_root("https://server.avala.ai/api/v1"), Some(EDGE));
        assert_eq!(
            edge_for_root("https://server.dev.alala.ai/api/v1"),
            Some("data-development.avala.ai")
        );
        assert_eq!(edge_for_root("https://example.com/api/v1"), None);
        assert_eq!(edge_for_root("https://api.avala.ai/api/v2"), None);
    }

    #[test]
    fn upload_storage_is_the_union() {
        for h in [
            "data.avala.ai",
            "s3.amazonaws.com",
            "b.storage.googleapis.com",
            "acct.blob.core.windows.net",
            "0123456789abcdef0123456789abcdef.r2.cloudflarestorage.com",
        ] {
            assert!(is_upload_storage(h), "{h}");
        }
        for h in [
            "data.avala.ai.evil.com",
            "evildata.avala.ai",
            "data-development.avala.ai",
            "localhost",
            "127.0.0.1",
        ] {
            assert!(!is_upload_storage(h), "{h}");
        }
    }

    #[test]
    fn the_parser_normalises_before_the_policy_decides() {
        // Upper case and full-width forms become the plain name, which is
        // what is connected to; a Cyrillic look-alike becomes punycode.
        assert!(s3(&host("https://S3.AmazonAWS.com/b/k")).is_some());
        assert!(s3(&host("https://\u{ff53}3.amazonaws.com/b/k")).is_some());
        let cyrillic = host("https://\u{455}3.amazonaws.com/b/k");
        assert!(cyrillic.starts_with("xn--"), "{cyrillic}");
        assert_eq!(s3(&cyrillic), None);
        // Userinfo cannot move the host: the host is after the `@`.
        assert_eq!(s3(&host("https://s3.amazonaws.com@evil.com/k")), None);
        // A trailing dot is kept by the parser and refused here.
        assert_eq!(host("https://data.avala.ai./x"), "data.avala.ai.");
        assert!(!is_upload_storage(&host("https://data.avala.ai./x")));
    }

    #[test]
    fn loopback_is_the_three_names() {
        for url in [
            "http://localhost:1/",
            "http://LocalHost/",
            "http://127.0.0.1:1/",
            "http://[::1]:1/",
            "http://[0:0:0:0:0:0:0:1]/",
        ] {
            assert!(is_loopback_url(&Url::parse(url).unwrap()), "{url}");
        }
        for url in [
            "http://127.0.0.2/",
            "http://0.0.0.0/",
            "http://[::ffff:127.0.0.1]/",
            "http://localhost.evil.example/",
            "http://localhost./",
            "http://10.0.0.1/",
            "http://2130706434/",
        ] {
            assert!(!is_loopback_url(&Url::parse(url).unwrap()), "{url}");
        }
    }

    #[test]
    fn plain_http_needs_a_loopback_host_and_a_loopback_client() {
        let url = |s: &str| Url::parse(s).unwrap();
        assert!(plain_http_allowed(&url("http://127.0.0.1:9/x"), true));
        assert!(plain_http_allowed(&url("http://localhost:9/x"), true));
        assert!(!plain_http_allowed(&url("http://127.0.0.1:9/x"), false));
        assert!(!plain_http_allowed(&url("http://data.avala.ai/x"), true));
        assert!(!plain_http_allowed(&url("https://127.0.0.1/x"), true));
        assert!(!plain_http_allowed(&url("ftp://127.0.0.1/x"), true));
    }
}

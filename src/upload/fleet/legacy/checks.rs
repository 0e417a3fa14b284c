//! The pure checks of the legacy Fleet upload (§9.2, §13.2, models.md):
//! local names, the answers of init, status, urls and confirm, and the
//! storage receipt (ETag). Each returns what is wrong, in words; the flow
//! turns it into the error of its step.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::{generated::open_enums::FleetUploadSessionStatus as Status, hosts, types};

/// §9.2 step 0: at most this many files in a recording.
pub(crate) const MAX_FILES: usize = 50_000;
/// §9.2 step 0: at most this many characters in a relative path.
pub(crate) const MAX_PATH_CHARS: usize = 1024;
/// The server lists at most this many pending paths: a list this long may
/// be cut, so it proves nothing.
pub(crate) const PENDING_CAP: usize = 1000;
/// The longest ETag accepted (§13.2).
const MAX_ETAG: usize = 128;

/// What a check found wrong.
pub(crate) type Refusal = String;

/// One file of the manifest: its path and size (the hash is the receipts').
pub(crate) struct Manifest<'a> {
    pub(crate) sizes: BTreeMap<&'a str, u64>,
    pub(crate) total_bytes: u64,
}

impl<'a> Manifest<'a> {
    pub(crate) fn new(files: impl IntoIterator<Item = (&'a str, u64)>) -> Self {
        let sizes: BTreeMap<&str, u64> = files.into_iter().collect();
        let total_bytes = sizes.values().sum();
        Self { sizes, total_bytes }
    }

    fn bytes_of<'p>(&self, paths: impl IntoIterator<Item = &'p str>) -> u64 {
        paths.into_iter().filter_map(|p| self.sizes.get(p)).sum()
    }
}

/// Step 0: a relative path the legacy protocol accepts.
pub(crate) fn local_path(path: &str) -> Result<(), Refusal> {
    let why = if path.chars().count() > MAX_PATH_CHARS {
        "its path is longer than 1024 characters"
    } else if path != path.trim() {
        "its path starts or ends with whitespace"
    } else if path.contains('\\') {
        "its path contains a backslash"
    } else if path.contains('\0') {
        "its path contains a NUL character"
    } else if path.split('/').any(|s| s == "..") {
        "its path has a `..` segment"
    } else {
        return Ok(());
    };
    Err(format!(
        "{why}, which the Fleet upload protocol refuses; rename it"
    ))
}

/// Step 2: the init answer opens a session for exactly this manifest.
/// Returns the session uid and `s3_prefix`.
pub(crate) fn init(
    session: &types::UploadSession,
    manifest: &Manifest<'_>,
    recording_uid: &str,
) -> Result<(String, String), Refusal> {
    if !session_uid_shape(&session.uid) {
        return Err(format!(
            "the session uid {:?} is not 1-128 characters of [A-Za-z0-9_-]",
            session.uid
        ));
    }
    if session.total_files != manifest.sizes.len() as i64
        || session.total_bytes != manifest.total_bytes as i64
    {
        return Err(format!(
            "the session counts {} files of {} bytes, the manifest {} files of {} bytes",
            session.total_files,
            session.total_bytes,
            manifest.sizes.len(),
            manifest.total_bytes
        ));
    }
    if session.status != Some(Status::Initiated) {
        return Err(format!(
            "a new session must be `initiated`, not {}",
            describe(session.status.as_ref())
        ));
    }
    let prefix = session.s3_prefix.clone().unwrap_or_default();
    if !prefix.starts_with("fleet/") || !prefix.ends_with(&format!("/{recording_uid}/")) {
        return Err(format!(
            "the s3_prefix {prefix:?} is not `fleet/…/{recording_uid}/`"
        ));
    }
    Ok((session.uid.clone(), prefix))
}

/// Step 3: the status answer agrees with the session, the manifest and
/// the receipts. Returns the paths the server has confirmed.
pub(crate) fn reconcile<'m>(
    status: &types::UploadStatusResponse,
    session_uid: &str,
    manifest: &Manifest<'m>,
    confirmed_here: &HashSet<&str>,
) -> Result<HashSet<&'m str>, Refusal> {
    if status.session_uid != session_uid {
        return Err(format!(
            "the server's session is {:?}, ours is {session_uid:?}",
            status.session_uid
        ));
    }
    if !matches!(
        status.status,
        Status::Initiated
            | Status::Uploading
            | Status::Completing
            | Status::Completed
            | Status::Abandoned
    ) {
        return Err(format!(
            "the session status `{}` is not a state of the protocol",
            status.status.as_str()
        ));
    }
    let pending = &status.pending_paths;
    if pending.len() >= PENDING_CAP {
        return Err(format!(
            "the server lists {} pending paths, its cap, so the list may be cut and the confirmed files cannot be known",
            pending.len()
        ));
    }
    let mut seen = HashSet::new();
    for path in pending {
        if !seen.insert(path.as_str()) {
            return Err(format!("the pending list names `{path}` twice"));
        }
        if !manifest.sizes.contains_key(path.as_str()) {
            return Err(format!(
                "the pending list names `{path}`, which is not in the manifest"
            ));
        }
        if confirmed_here.contains(path.as_str()) {
            return Err(format!(
                "the server lists `{path}` as pending though it acknowledged its confirmation"
            ));
        }
    }
    let confirmed: HashSet<&str> = manifest
        .sizes
        .keys()
        .copied()
        .filter(|p| !seen.contains(p))
        .collect();
    counters(
        [
            status.total_files,
            status.total_bytes,
            status.confirmed_files,
            status.confirmed_bytes,
        ],
        manifest,
        &confirmed,
    )?;
    match status.status {
        Status::Abandoned => Err("the session is abandoned".to_owned()),
        Status::Completing | Status::Completed if !pending.is_empty() => Err(format!(
            "the session is `{}` with {} files still pending",
            status.status.as_str(),
            pending.len()
        )),
        _ => Ok(confirmed),
    }
}

/// Step 4.3: the confirm answer names the session and counts what is
/// confirmed so far.
pub(crate) fn confirm_ack(
    ack: &types::FleetUploadConfirmAck,
    session_uid: &str,
    manifest: &Manifest<'_>,
    confirmed: &HashSet<&str>,
) -> Result<(), Refusal> {
    if ack.session_uid.as_deref() != Some(session_uid) {
        return Err(format!(
            "the confirmation names session {:?}, ours is {session_uid:?}",
            ack.session_uid
        ));
    }
    let [Some(tf), Some(tb), Some(cf), Some(cb)] = [
        ack.total_files,
        ack.total_bytes,
        ack.confirmed_files,
        ack.confirmed_bytes,
    ] else {
        return Err("the confirmation lacks one of total_files, total_bytes, confirmed_files, confirmed_bytes".to_owned());
    };
    counters([tf, tb, cf, cb], manifest, confirmed)
}

/// The four counters `[total_files, total_bytes, confirmed_files,
/// confirmed_bytes]` equal the manifest's totals and what is confirmed.
fn counters(
    [total_files, total_bytes, confirmed_files, confirmed_bytes]: [i64; 4],
    manifest: &Manifest<'_>,
    confirmed: &HashSet<&str>,
) -> Result<(), Refusal> {
    let expected = [
        manifest.sizes.len() as i64,
        manifest.total_bytes as i64,
        confirmed.len() as i64,
        manifest.bytes_of(confirmed.iter().copied()) as i64,
    ];
    let got = [total_files, total_bytes, confirmed_files, confirmed_bytes];
    if got != expected {
        return Err(format!(
            "the server counts {total_files} files / {total_bytes} bytes with {confirmed_files} files / {confirmed_bytes} bytes confirmed; we expect {} / {} with {} / {}",
            expected[0], expected[1], expected[2], expected[3]
        ));
    }
    Ok(())
}

/// Step 4.1: one grant per requested path, each naming `s3_prefix + path`
/// at an allowed host, exactly quoted, with only the headers the protocol
/// knows. Returns the grants by path.
pub(crate) fn grants<'g>(
    answer: &'g types::UploadUrlsResponse,
    requested: &[&str],
    prefix: &str,
    loopback_http: bool,
) -> Result<HashMap<&'g str, &'g types::UploadUrlEntry>, GrantRefusal> {
    if answer.urls.len() != requested.len() {
        return Err(GrantRefusal::State(format!(
            "asked for {} URLs, got {}",
            requested.len(),
            answer.urls.len()
        )));
    }
    let wanted: HashSet<&str> = requested.iter().copied().collect();
    let mut out = HashMap::new();
    for grant in &answer.urls {
        let path = grant.path.as_str();
        if !wanted.contains(path) || out.contains_key(path) {
            return Err(GrantRefusal::State(format!(
                "a URL for `{path}`, which was not asked for or came twice"
            )));
        }
        if grant.s3_key != format!("{prefix}{path}") {
            return Err(GrantRefusal::State(format!(
                "the object key of `{path}` is {:?}, not under the session's prefix {prefix:?}",
                grant.s3_key
            )));
        }
        let url = crate::upload::allow::check(&grant.put_url, loopback_http)
            .map_err(GrantRefusal::Url)?;
        let host = url.host_str().unwrap_or_default().to_owned();
        object_path(&grant.put_url, &url, &grant.s3_key, loopback_http)
            .map_err(|why| GrantRefusal::State(format!("the URL of `{path}` on {host} {why}")))?;
        headers(&grant.headers)
            .map_err(|why| GrantRefusal::State(format!("the URL of `{path}`: {why}")))?;
        out.insert(path, grant);
    }
    Ok(out)
}

/// Why a batch of grants was refused.
#[derive(Debug)]
pub(crate) enum GrantRefusal {
    /// The host is not allowed (nothing is sent there).
    Url(crate::upload::UploadError),
    /// The grants break the protocol.
    State(Refusal),
}

/// The raw path of `raw` (as written, before any normalisation) names the
/// quoted key: `/<quoted key>` (virtual-hosted style) on a real host,
/// `/<bucket>/<quoted key>` on a path-style S3 host, and either form on
/// loopback when `loopback_http` (the mock, or an S3-compatible local
/// store). The parsed URL, which is what is sent, must have the same path.
pub(crate) fn object_path(
    raw: &str,
    parsed: &url::Url,
    key: &str,
    loopback_http: bool,
) -> Result<(), Refusal> {
    let path = raw_path(raw);
    if parsed.path() != path {
        return Err("has a path that changes when the URL is normalised".to_owned());
    }
    let expected = format!("/{}", quote(key));
    let host = parsed.host_str().unwrap_or_default();
    let virtual_hosted = path == expected;
    let path_style = || {
        path.strip_suffix(expected.as_str())
            .is_some_and(bucket_shape)
    };
    let ok = if loopback_http && hosts::is_loopback_url(parsed) {
        virtual_hosted || path_style()
    } else if is_path_style_s3(host) {
        path_style()
    } else {
        virtual_hosted
    };
    if ok {
        Ok(())
    } else {
        Err(format!("does not name its object key {key:?}"))
    }
}

/// The path of a URL as written: after the authority, before `?` or `#`.
fn raw_path(raw: &str) -> &str {
    let after_scheme = raw.split_once("://").map_or(raw, |(_, rest)| rest);
    let end = after_scheme.find(['?', '#']).unwrap_or(after_scheme.len());
    let rest = &after_scheme[..end];
    rest.find('/').map_or("", |i| &rest[i..])
}

/// `/<bucket>` with a bucket name of `[A-Za-z0-9._-]+`.
fn bucket_shape(bucket: &str) -> bool {
    bucket.strip_prefix('/').is_some_and(|b| {
        !b.is_empty()
            && b.bytes()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'))
    })
}

/// The S3 endpoints that address objects as `/<bucket>/<key>` (§13.2),
/// as the one host policy classifies them.
fn is_path_style_s3(host: &str) -> bool {
    hosts::s3(&host.to_ascii_lowercase()).is_some_and(|e| e.style == hosts::S3Style::Path)
}

/// Python's `urllib.parse.quote(key, safe="/")`: every byte of the UTF-8
/// form outside `A-Za-z0-9-._~` and `/` as `%XX` (upper-case hex).
pub(crate) fn quote(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for b in key.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// models.md `UploadUrlEntry.headers`: names unique without case, only
/// `Content-Type: application/octet-stream`, `Cache-Control: no-cache` or
/// `private, immutable, max-age=31536000`, `Content-Encoding: gzip`, and
/// no line break in a value.
pub(crate) fn headers(headers: &HashMap<String, String>) -> Result<(), Refusal> {
    let mut seen = HashSet::new();
    for (name, value) in headers {
        let lower = name.to_ascii_lowercase();
        if !seen.insert(lower.clone()) {
            return Err(format!("the header `{lower}` is given twice"));
        }
        let allowed = match lower.as_str() {
            "content-type" => value == "application/octet-stream",
            "cache-control" => {
                value == "no-cache" || value == "private, immutable, max-age=31536000"
            }
            "content-encoding" => value == "gzip",
            _ => {
                return Err(format!(
                    "the header `{}` is not one the Fleet protocol allows",
                    crate::redact::redact_text(name)
                ))
            }
        };
        if !allowed || value.contains(['\r', '\n']) {
            return Err(format!(
                "the header `{lower}` has a value the protocol refuses"
            ));
        }
    }
    Ok(())
}

/// Step 4.2: the storage receipt, without its quotes: non-empty, at most
/// 128 characters, no control character or surrounding whitespace.
pub(crate) fn etag(raw: Option<&str>) -> Result<String, Refusal> {
    let etag = raw.unwrap_or_default().trim_matches('"');
    let ok = !etag.is_empty()
        && etag.chars().count() <= MAX_ETAG
        && etag == etag.trim()
        && !etag.chars().any(char::is_control);
    if ok {
        Ok(etag.to_owned())
    } else {
        Err("storage answered without a usable ETag (none, empty, too long or with control characters)".to_owned())
    }
}

fn session_uid_shape(uid: &str) -> bool {
    (1..=128).contains(&uid.len())
        && uid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn describe(status: Option<&Status>) -> String {
    status.map_or("missing".to_owned(), |s| format!("`{}`", s.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_is_pythons_quote_with_slash_safe() {
        // Values from Python 3.11: urllib.parse.quote(s, safe="/").
        for (key, quoted) in [
            ("fleet/o/r/a.mcap", "fleet/o/r/a.mcap"),
            ("fleet/o/r/a b=c", "fleet/o/r/a%20b%3Dc"),
            ("x/~y-z_.w", "x/~y-z_.w"),
            ("a+b&c?d#e%f", "a%2Bb%26c%3Fd%23e%25f"),
            ("caf\u{e9}/\u{65e5}", "caf%C3%A9/%E6%97%A5"),
            ("a:b;c@d,e", "a%3Ab%3Bc%40d%2Ce"),
        ] {
            assert_eq!(quote(key), quoted, "{key}");
        }
    }

    #[test]
    fn a_new_session_must_be_initiated() {
        let recording = "0f8fad5b-d9cb-469f-a165-70867728950e";
        let manifest = Manifest::new([("a.mcap", 10)]);
        let session = |status: serde_json::Value| -> types::UploadSession {
            serde_json::from_value(serde_json::json!({
                "uid": "s-1",
                "status": status,
                "total_files": 1,
                "total_bytes": 10,
                "s3_prefix": format!("fleet/o/{recording}/"),
            }))
            .unwrap()
        };
        assert_eq!(
            init(&session("initiated".into()), &manifest, recording),
            Ok(("s-1".to_owned(), format!("fleet/o/{recording}/")))
        );
        for (status, says) in [
            ("completing".into(), "`completing`"),
            (serde_json::Value::Null, "missing"),
        ] {
            assert_eq!(
                init(&session(status), &manifest, recording),
                Err(format!("a new session must be `initiated`, not {says}"))
            );
        }
    }

    #[test]
    fn grants_name_each_requested_path_once() {
        let prefix = "fleet/o/r/";
        let grant = |path: &str| {
            serde_json::json!({
                "path": path,
                "s3_key": format!("{prefix}{path}"),
                "put_url": format!("http://127.0.0.1:9/_storage/{prefix}{path}"),
            })
        };
        let answer = |urls: Vec<serde_json::Value>| -> types::UploadUrlsResponse {
            serde_json::from_value(serde_json::json!({ "urls": urls })).unwrap()
        };
        let requested = ["a.mcap", "b.mcap"];
        let ok = answer(vec![grant("b.mcap"), grant("a.mcap")]);
        let by_path = grants(&ok, &requested, prefix, true).unwrap();
        assert_eq!(by_path["a.mcap"].s3_key, "fleet/o/r/a.mcap");
        assert_eq!(by_path.len(), 2);
        // As many grants as asked for, but one for another path, or one
        // path twice.
        for (urls, path) in [
            (vec![grant("a.mcap"), grant("c.mcap")], "c.mcap"),
            (vec![grant("a.mcap"), grant("a.mcap")], "a.mcap"),
        ] {
            match grants(&answer(urls), &requested, prefix, true) {
                Err(GrantRefusal::State(why)) => assert_eq!(
                    why,
                    format!("a URL for `{path}`, which was not asked for or came twice")
                ),
                other => panic!("{path}: {other:?}"),
            }
        }
    }

    #[test]
    fn local_paths_follow_step_0() {
        assert!(local_path("cam/front.mcap").is_ok());
        assert!(local_path(&"a".repeat(1024)).is_ok());
        assert!(local_path(&"\u{e9}".repeat(1024)).is_ok());
        for bad in [
            "a".repeat(1025),
            " a".to_owned(),
            "a\t".to_owned(),
            "a\\b".to_owned(),
            "a\0b".to_owned(),
            "a/../b".to_owned(),
            "..".to_owned(),
        ] {
            assert!(local_path(&bad).is_err(), "{bad:?}");
        }
        // `..` only as a whole segment.
        assert!(local_path("a..b/c..").is_ok());
    }

    #[test]
    fn header_rules_of_models_md() {
        let h = |pairs: &[(&str, &str)]| -> HashMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        for ok in [
            h(&[]),
            h(&[("Content-Type", "application/octet-stream")]),
            h(&[("cache-control", "no-cache"), ("Content-Encoding", "gzip")]),
            h(&[("Cache-Control", "private, immutable, max-age=31536000")]),
        ] {
            assert!(headers(&ok).is_ok(), "{ok:?}");
        }
        for bad in [
            h(&[("Content-Type", "text/plain")]),
            h(&[("x-amz-acl", "public-read")]),
            h(&[("Cache-Control", "max-age=1")]),
            h(&[("Content-Encoding", "br")]),
            h(&[
                ("Content-Type", "application/octet-stream"),
                ("content-type", "application/octet-stream"),
            ]),
            h(&[("Content-Type", "application/octet-stream\r\nX: y")]),
        ] {
            assert!(headers(&bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn etags_are_unquoted_and_bounded() {
        assert_eq!(etag(Some("\"abc\"")).unwrap(), "abc");
        assert_eq!(etag(Some("abc-2")).unwrap(), "abc-2");
        assert_eq!(etag(Some(&"e".repeat(128))).unwrap().len(), 128);
        for bad in [
            None,
            Some(""),
            Some("\"\""),
            Some(" a"),
            Some("a\u{1}"),
            Some(&*"e".repeat(129)),
        ] {
            assert!(etag(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn object_paths_virtual_hosted_and_path_style() {
        let check =
            |url: &str, key: &str| object_path(url, &url::Url::parse(url).unwrap(), key, true);
        let key = "fleet/o/r/a b=c.mcap";
        assert!(check(
            "https://b.s3.us-west-2.amazonaws.com/fleet/o/r/a%20b%3Dc.mcap?X-Amz-Signature=1",
            key
        )
        .is_ok());
        assert!(check(
            "https://s3.us-west-2.amazonaws.com/bucket/fleet/o/r/a%20b%3Dc.mcap",
            key
        )
        .is_ok());
        assert!(check(
            "https://s3.amazonaws.com/my.bucket_1/fleet/o/r/a%20b%3Dc.mcap",
            key
        )
        .is_ok());
        // Loopback: path-style and virtual-hosted, each naming the key; a
        // real host keeps its one form (below), and without `loopback_http`
        // loopback is a host like any other.
        assert!(check("http://127.0.0.1:9/_storage/fleet/o/r/a%20b%3Dc.mcap", key).is_ok());
        assert!(check("http://127.0.0.1:9/fleet/o/r/a%20b%3Dc.mcap", key).is_ok());
        assert!(check("http://localhost:9/fleet/o/r/a%20b%3Dc.mcap", key).is_ok());
        assert!(check("http://127.0.0.1:9/fleet/o/r/other.mcap", key).is_err());
        assert!(check("http://127.0.0.1:9/b/fleet/o/r/other.mcap", key).is_err());
        assert!(check("http://127.0.0.1:9/a/b/fleet/o/r/a%20b%3Dc.mcap", key).is_err());
        let strict = |url: &str| object_path(url, &url::Url::parse(url).unwrap(), key, false);
        assert!(strict("http://127.0.0.1:9/_storage/fleet/o/r/a%20b%3Dc.mcap").is_err());
        // A bucket segment on a virtual-hosted host, or none on a path-style one.
        assert!(check(
            "https://b.s3.us-west-2.amazonaws.com/bucket/fleet/o/r/a%20b%3Dc.mcap",
            key
        )
        .is_err());
        assert!(check(
            "https://s3.us-west-2.amazonaws.com/fleet/o/r/a%20b%3Dc.mcap",
            key
        )
        .is_err());
        // Quoted differently, or another object.
        assert!(check(
            "https://b.s3.us-west-2.amazonaws.com/fleet/o/r/a%20b=c.mcap",
            key
        )
        .is_err());
        assert!(check(
            "https://b.s3.us-west-2.amazonaws.com/fleet/o/r/a%20b%3dc.mcap",
            key
        )
        .is_err());
        assert!(check("https://b.s3.us-west-2.amazonaws.com/fleet/o/r/other", key).is_err());
        // A path the URL parser would normalise.
        assert!(check(
            "https://b.s3.us-west-2.amazonaws.com/fleet/o/x/../r/a%20b%3Dc.mcap",
            key
        )
        .is_err());
        assert!(check(
            "https://s3.us-west-2.amazonaws.com/b/c/fleet/o/r/a%20b%3Dc.mcap",
            key
        )
        .is_err());
        assert_eq!(raw_path("https://h/a/b?c=/d#e"), "/a/b");
        assert_eq!(raw_path("https://h?x"), "");
    }

    #[test]
    fn path_style_hosts() {
        for host in [
            "s3.amazonaws.com",
            "s3-external-1.amazonaws.com",
            "s3.us-west-2.amazonaws.com",
            "s3-fips.dualstack.us-gov-west-1.amazonaws.com",
            "s3-eu-west-1.amazonaws.com",
        ] {
            assert!(is_path_style_s3(host), "{host}");
        }
        for host in [
            "b.s3.us-west-2.amazonaws.com",
            "s3.example.com",
            "storage.googleapis.com",
        ] {
            assert!(!is_path_style_s3(host), "{host}");
        }
    }

    fn status(pending: &[&str], state: Status, counts: [i64; 4]) -> types::UploadStatusResponse {
        types::UploadStatusResponse {
            session_uid: "s1".into(),
            status: state,
            pending_paths: pending.iter().map(|p| p.to_string()).collect(),
            total_files: counts[0],
            total_bytes: counts[1],
            confirmed_files: counts[2],
            confirmed_bytes: counts[3],
        }
    }

    #[test]
    fn reconcile_rules_of_step_3() {
        let manifest = Manifest::new([("a", 1), ("b", 2), ("c", 4)]);
        let none = HashSet::new();
        let ok = status(&["c"], Status::Uploading, [3, 7, 2, 3]);
        let confirmed = reconcile(&ok, "s1", &manifest, &none).unwrap();
        assert_eq!(confirmed, HashSet::from(["a", "b"]));
        let refused = |s: types::UploadStatusResponse, here: &HashSet<&str>| {
            reconcile(&s, "s1", &manifest, here).unwrap_err()
        };
        assert!(refused(
            types::UploadStatusResponse {
                session_uid: "s2".into(),
                ..ok.clone()
            },
            &none
        )
        .contains("session"));
        assert!(
            refused(status(&["c"], Status::Active, [3, 7, 2, 3]), &none).contains("not a state")
        );
        assert!(
            refused(status(&["c", "c"], Status::Uploading, [3, 7, 2, 3]), &none).contains("twice")
        );
        assert!(
            refused(status(&["z"], Status::Uploading, [3, 7, 2, 3]), &none)
                .contains("not in the manifest")
        );
        assert!(refused(status(&["c"], Status::Uploading, [3, 7, 2, 4]), &none).contains("counts"));
        assert!(refused(status(&["c"], Status::Uploading, [4, 7, 2, 3]), &none).contains("counts"));
        assert!(
            refused(status(&["c"], Status::Abandoned, [3, 7, 2, 3]), &none).contains("abandoned")
        );
        assert!(
            refused(status(&["c"], Status::Completed, [3, 7, 2, 3]), &none).contains("pending")
        );
        assert!(refused(ok.clone(), &HashSet::from(["c"])).contains("acknowledged"));
        let many: Vec<String> = (0..1000).map(|i| format!("f{i}")).collect();
        let big = Manifest::new(many.iter().map(|p| (p.as_str(), 1)));
        let capped = types::UploadStatusResponse {
            pending_paths: many.clone(),
            ..status(&[], Status::Uploading, [1000, 1000, 0, 0])
        };
        assert!(reconcile(&capped, "s1", &big, &none)
            .unwrap_err()
            .contains("cap"));
        let under = types::UploadStatusResponse {
            pending_paths: many[1..].to_vec(),
            ..status(&[], Status::Uploading, [1000, 1000, 1, 1])
        };
        assert_eq!(reconcile(&under, "s1", &big, &none).unwrap().len(), 1);
        assert!(reconcile(
            &status(&[], Status::Completed, [3, 7, 3, 7]),
            "s1",
            &manifest,
            &none
        )
        .is_ok());
    }

    #[test]
    fn confirm_acks_carry_the_session_and_running_totals() {
        let manifest = Manifest::new([("a", 1), ("b", 2)]);
        let confirmed = HashSet::from(["a"]);
        let ack = types::FleetUploadConfirmAck {
            session_uid: Some("s1".into()),
            total_files: Some(2),
            total_bytes: Some(3),
            confirmed_files: Some(1),
            confirmed_bytes: Some(1),
            ..Default::default()
        };
        assert!(confirm_ack(&ack, "s1", &manifest, &confirmed).is_ok());
        assert!(confirm_ack(&ack, "s2", &manifest, &confirmed).is_err());
        let off = types::FleetUploadConfirmAck {
            confirmed_bytes: Some(2),
            ..ack.clone()
        };
        assert!(confirm_ack(&off, "s1", &manifest, &confirmed).is_err());
        let missing = types::FleetUploadConfirmAck {
            total_bytes: None,
            ..ack
        };
        assert!(confirm_ack(&missing, "s1", &manifest, &confirmed).is_err());
    }

    #[test]
    fn init_answers_open_a_matching_session() {
        let manifest = Manifest::new([("a", 1), ("b", 2)]);
        let rec = "0f8fad5b-d9cb-469f-a165-70867728950e";
        let good = types::UploadSession {
            uid: "sess_1".into(),
            total_files: 2,
            total_bytes: 3,
            confirmed_files: 0,
            confirmed_bytes: 0,
            s3_prefix: Some(format!("fleet/org/{rec}/")),
            status: Some(Status::Initiated),
        };
        assert_eq!(init(&good, &manifest, rec).unwrap().0, "sess_1");
        for bad in [
            types::UploadSession {
                uid: "a b".into(),
                ..good.clone()
            },
            types::UploadSession {
                uid: "x".repeat(129),
                ..good.clone()
            },
            types::UploadSession {
                total_bytes: 4,
                ..good.clone()
            },
            types::UploadSession {
                status: Some(Status::Uploading),
                ..good.clone()
            },
            types::UploadSession {
                status: None,
                ..good.clone()
            },
            types::UploadSession {
                s3_prefix: None,
                ..good.clone()
            },
            types::UploadSession {
                s3_prefix: Some(format!("other/{rec}/")),
                ..good.clone()
            },
            types::UploadSession {
                s3_prefix: Some("fleet/org/other/".into()),
                ..good.clone()
            },
        ] {
            assert!(init(&bad, &manifest, rec).is_err(), "{bad:?}");
        }
    }
}

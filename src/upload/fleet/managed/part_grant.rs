//! The check of one part grant (models.md `ManagedPartGrant`, Python's
//! `validate_grant`): geometry, the exact header set, the R2 object URL of
//! this session and file with its SigV4 query, the lifetime, and the pin
//! that keeps every later grant of the file on the first one's destination.
//! Nothing here puts the URL or its signature into a message.

use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use sha2::{Digest, Sha256};

use super::{
    status::{canonical_uid, is_sha256},
    PART_SIZE,
};
use crate::{types::ManagedPartGrant, upload::UploadError};

/// Python's `quote(.., safe="-_.~")`: everything but unreserved bytes.
const QUERY: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');
/// `quote(.., safe="/")`, for the object key.
const KEY: &AsciiSet = &QUERY.remove(b'/');
const QUERY_FIELDS: [&str; 8] = [
    "uploadId",
    "partNumber",
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-SignedHeaders",
    "X-Amz-Signature",
];
/// A grant signed further ahead of our clock than this is refused.
const CLOCK_SKEW: TimeDelta = TimeDelta::seconds(30);

/// A grant that passed every check.
pub(super) struct Grant {
    /// The presigned URL (a capability: never logged, never in an error).
    pub(super) url: String,
    /// SHA-256 of its host, path and `uploadId`.
    pub(super) pin: String,
}

impl std::fmt::Debug for Grant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Grant")
            .field("pin", &self.pin)
            .finish_non_exhaustive()
    }
}

/// Why a grant was refused.
pub(super) enum Refusal {
    /// The host is not one bytes may go to.
    Host(UploadError),
    /// Anything else, as a reason without the URL.
    Invalid(String),
}

/// What the grant must be for.
pub(super) struct Expected<'a> {
    pub(super) session_uid: &'a str,
    pub(super) path: &'a str,
    pub(super) size: u64,
    pub(super) number: u64,
    /// The pin of the file's first grant, if one was seen.
    pub(super) pin: Option<&'a str>,
}

/// Checks `grant`; `host_ok` is the data plane's allow-list check (which
/// lets `http` to loopback through for the mock).
pub(super) fn check(
    grant: &ManagedPartGrant,
    want: &Expected<'_>,
    host_ok: impl Fn(&str) -> Result<url::Url, UploadError>,
    now: DateTime<Utc>,
) -> Result<Grant, Refusal> {
    let invalid = |why: &str| Refusal::Invalid(why.to_owned());
    let offset = (want.number - 1) * PART_SIZE;
    let size = PART_SIZE.min(want.size - offset);
    if !canonical_uid(&grant.grant_uid)
        || u64::try_from(grant.part_number) != Ok(want.number)
        || u64::try_from(grant.offset) != Ok(offset)
        || u64::try_from(grant.size_bytes) != Ok(size)
    {
        return Err(invalid(
            "its uid, part number, offset or size is not the requested part's",
        ));
    }
    let size_text = size.to_string();
    let only_length = grant.headers.len() == 1
        && grant
            .headers
            .iter()
            .all(|(k, v)| k.eq_ignore_ascii_case("content-length") && *v == size_text);
    if !only_length {
        return Err(invalid(
            "its headers are not exactly the part's Content-Length",
        ));
    }
    let raw = grant.url.as_str();
    if raw.len() > 16_384 || raw.contains('#') || !raw.bytes().all(|b| (33..=126).contains(&b)) {
        return Err(invalid("its URL is malformed"));
    }
    let url = host_ok(raw).map_err(Refusal::Host)?;
    if url.scheme() == "https" && !url.host_str().is_some_and(crate::hosts::is_r2) {
        return Err(Refusal::Host(UploadError::DisallowedUrl {
            host: url.host_str().unwrap_or_default().to_owned(),
            reason: "managed Fleet parts go only to Cloudflare R2 hosts".to_owned(),
        }));
    }
    let (before_query, query) = raw
        .split_once('?')
        .ok_or_else(|| invalid("its URL has no query"))?;
    let origin = url.origin().ascii_serialization();
    let path = before_query
        .strip_prefix(&origin)
        .ok_or_else(|| invalid("its URL is not in canonical form"))?;
    check_path(path, want)?;
    let (upload_id, expires_at) = check_query(query, want.number, now)?;
    if grant.expires_at != expires_at {
        return Err(invalid("its expires_at is not X-Amz-Date + X-Amz-Expires"));
    }
    let pin = pin_of(&origin, path, &upload_id);
    if want.pin.is_some_and(|first| first != pin) {
        return Err(invalid(
            "it moves the part to another destination (host, object or upload id) than the file's first grant",
        ));
    }
    Ok(Grant {
        url: raw.to_owned(),
        pin,
    })
}

/// `/{bucket}/__o__%3D/{owner}/__cloud__/{session}/{quoted path}`.
fn check_path(path: &str, want: &Expected<'_>) -> Result<(), Refusal> {
    let segments: Vec<&str> = path.splitn(5, '/').collect();
    let bucket_ok = |b: &str| {
        (3..=63).contains(&b.len())
            && b.bytes()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'.' || c == b'-')
            && !b.starts_with(['.', '-'])
            && !b.ends_with(['.', '-'])
    };
    let [_, bucket, "__o__%3D", owner, _] = segments[..] else {
        return Err(Refusal::Invalid(
            "its object path is not this session's".to_owned(),
        ));
    };
    let key = format!(
        "__o__=/{owner}/__cloud__/{}/{}",
        want.session_uid, want.path
    );
    let expected = format!("/{bucket}/{}", utf8_percent_encode(&key, KEY));
    if !bucket_ok(bucket) || !canonical_uid(owner) || path != expected || key.len() > 1024 {
        return Err(Refusal::Invalid(
            "its object path is not this session's object for the file".to_owned(),
        ));
    }
    Ok(())
}

/// The SigV4 query: exactly the eight fields, canonically encoded; returns
/// the `uploadId` and when the signature expires.
fn check_query(
    query: &str,
    number: u64,
    now: DateTime<Utc>,
) -> Result<(String, DateTime<Utc>), Refusal> {
    let invalid = |why: &str| Refusal::Invalid(format!("its signed query {why}"));
    let mut fields = std::collections::HashMap::new();
    for pair in query.split('&') {
        let (key, value) = pair
            .split_once('=')
            .ok_or_else(|| invalid("is malformed"))?;
        let decode = |s: &str| percent_decode_str(s).decode_utf8().map(|c| c.into_owned());
        let (key, value) = match (decode(key), decode(value)) {
            (Ok(k), Ok(v)) => (k, v),
            _ => return Err(invalid("is malformed")),
        };
        let canonical = format!(
            "{}={}",
            utf8_percent_encode(&key, QUERY),
            utf8_percent_encode(&value, QUERY)
        );
        if canonical != pair || fields.insert(key, value).is_some() {
            return Err(invalid("is not canonically encoded, or repeats a field"));
        }
    }
    if fields.len() != QUERY_FIELDS.len() || !QUERY_FIELDS.iter().all(|f| fields.contains_key(*f)) {
        return Err(invalid("does not have exactly the SigV4 fields"));
    }
    let upload_id = &fields["uploadId"];
    if fields["partNumber"] != number.to_string()
        || fields["X-Amz-Algorithm"] != "AWS4-HMAC-SHA256"
        || fields["X-Amz-SignedHeaders"] != "content-length;host"
        || !is_sha256(&fields["X-Amz-Signature"])
        || !(1..=1024).contains(&upload_id.len())
        || upload_id.trim() != upload_id
        || !upload_id.bytes().all(|b| (32..=126).contains(&b))
    {
        return Err(invalid("names another part, algorithm or header set"));
    }
    let signed_at = NaiveDateTime::parse_from_str(&fields["X-Amz-Date"], "%Y%m%dT%H%M%SZ")
        .map_err(|_| invalid("has a malformed date"))?
        .and_utc();
    let lifetime = match fields["X-Amz-Expires"].parse::<i64>() {
        Ok(n) if (1..=300).contains(&n) && fields["X-Amz-Expires"] == n.to_string() => n,
        _ => return Err(invalid("has a lifetime outside 1..300 s")),
    };
    let scope: Vec<&str> = fields["X-Amz-Credential"].split('/').collect();
    let id_ok = |id: &str| {
        (1..=128).contains(&id.len())
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    };
    let day = signed_at.format("%Y%m%d").to_string();
    if !matches!(scope[..], [id, d, "auto", "s3", "aws4_request"] if id_ok(id) && d == day) {
        return Err(invalid("has a malformed credential scope"));
    }
    let expires_at = signed_at + TimeDelta::seconds(lifetime);
    if signed_at > now + CLOCK_SKEW || expires_at <= now {
        return Err(invalid("is signed in the future or has expired"));
    }
    Ok((upload_id.clone(), expires_at))
}

fn pin_of(origin: &str, path: &str, upload_id: &str) -> String {
    crate::digest::hex(&Sha256::digest(format!("{origin}\n{path}\n{upload_id}")))
}

#[cfg(test)]
mod tests {
    use chrono::SubsecRound;

    use super::*;

    const SESSION: &str = "3e7a1c9b-2d4f-4b6a-8c0e-5f1d3b7a9c2e";
    const HOST: &str = "https://0123456789abcdef0123456789abcdef.r2.cloudflarestorage.com";

    /// A valid grant for part 2 of a 150 MB `run 1/a=b.mcap`, signed at `at`.
    fn grant(at: DateTime<Utc>, edit: impl FnOnce(&mut serde_json::Value)) -> ManagedPartGrant {
        let date = at.format("%Y%m%dT%H%M%SZ");
        let url = format!(
            "{HOST}/avala-fleet/__o__%3D/7f3c2a1e-4b5d-4c6e-8f90-1a2b3c4d5e6f/__cloud__/{SESSION}/run%201/a%3Db.mcap\
             ?uploadId=2~Wq9m%2BXk&partNumber=2&X-Amz-Algorithm=AWS4-HMAC-SHA256\
             &X-Amz-Credential=3f9a2c7e1b5d%2F{}%2Fauto%2Fs3%2Faws4_request&X-Amz-Date={date}\
             &X-Amz-Expires=300&X-Amz-SignedHeaders=content-length%3Bhost&X-Amz-Signature={}",
            at.format("%Y%m%d"),
            "c".repeat(64)
        );
        let mut value = serde_json::json!({
            "grant_uid": "0e2a4c6b-8d1f-4a3e-b5c7-9d1f3b5a7c9e",
            "part_number": 2,
            "offset": PART_SIZE,
            "size_bytes": PART_SIZE,
            "url": url,
            "headers": {"Content-Length": PART_SIZE.to_string()},
            "expires_at": (at + TimeDelta::seconds(300)).to_rfc3339(),
        });
        edit(&mut value);
        serde_json::from_value(value).unwrap()
    }

    fn want(pin: Option<&str>) -> Expected<'_> {
        Expected {
            session_uid: SESSION,
            path: "run 1/a=b.mcap",
            size: 150_000_000,
            number: 2,
            pin,
        }
    }

    fn run(
        grant: &ManagedPartGrant,
        want: &Expected<'_>,
        now: DateTime<Utc>,
    ) -> Result<Grant, String> {
        check(grant, want, |u| crate::upload::allow::check(u, false), now).map_err(|r| match r {
            Refusal::Host(e) => format!("host: {e}"),
            Refusal::Invalid(why) => why,
        })
    }

    /// An edit of a grant that replaces `from` with `to` in its URL.
    fn url_edit(from: &str, to: &str) -> impl Fn(&mut serde_json::Value) + 'static {
        let (from, to) = (from.to_owned(), to.to_owned());
        move |g| {
            let url = g["url"].as_str().unwrap().replace(&from, &to);
            g["url"] = url.into();
        }
    }

    #[test]
    fn a_valid_grant_passes_and_pins_its_destination() {
        let now = Utc::now().trunc_subsecs(0);
        let ok = run(&grant(now, |_| {}), &want(None), now).unwrap();
        assert!(ok.url.starts_with(HOST) && is_sha256(&ok.pin));
        // Its Debug shows the pin, never the URL (a capability).
        assert_eq!(
            format!("{ok:?}"),
            format!("Grant {{ pin: {:?}, .. }}", ok.pin)
        );
        // The same destination passes the pin; another upload id does not.
        assert!(run(&grant(now, |_| {}), &want(Some(&ok.pin)), now).is_ok());
        let moved = grant(now, url_edit("uploadId=2~Wq9m", "uploadId=3~Wq9m"));
        let e = run(&moved, &want(Some(&ok.pin)), now).unwrap_err();
        assert!(e.contains("another destination"), "{e}");
    }

    #[test]
    fn every_field_is_checked() {
        use serde_json::{json, Value};
        let now = Utc::now().trunc_subsecs(0);
        type Edit = Box<dyn Fn(&mut Value)>;
        let cases: Vec<(&str, Edit)> = vec![
            ("uid", Box::new(|g| g["grant_uid"] = json!("not-a-uuid"))),
            ("part number", Box::new(|g| g["part_number"] = json!(3))),
            ("offset", Box::new(|g| g["offset"] = json!(0))),
            ("size", Box::new(|g| g["size_bytes"] = json!(1))),
            (
                "extra header",
                Box::new(|g| g["headers"]["x-amz-acl"] = json!("public-read")),
            ),
            (
                "header value",
                Box::new(|g| g["headers"]["Content-Length"] = json!("1")),
            ),
            (
                "expires_at",
                Box::new(|g| {
                    g["expires_at"] = json!((Utc::now() + TimeDelta::seconds(299)).to_rfc3339())
                }),
            ),
            (
                "other session",
                Box::new(url_edit(SESSION, "4e7a1c9b-2d4f-4b6a-8c0e-5f1d3b7a9c2e")),
            ),
            ("other file", Box::new(url_edit("a%3Db.mcap", "c.mcap"))),
            (
                "unencoded key",
                Box::new(url_edit("a%3Db.mcap", "a=b.mcap")),
            ),
            (
                "bad bucket",
                Box::new(url_edit("/avala-fleet/", "/Avala_Fleet/")),
            ),
            (
                "extra query field",
                Box::new(url_edit("&X-Amz-Expires", "&x-id=UploadPart&X-Amz-Expires")),
            ),
            (
                "repeated field",
                Box::new(url_edit("partNumber=2", "partNumber=2&partNumber=2")),
            ),
            (
                "other part",
                Box::new(url_edit("partNumber=2", "partNumber=1")),
            ),
            (
                "lifetime",
                Box::new(url_edit("X-Amz-Expires=300", "X-Amz-Expires=301")),
            ),
            ("short signature", Box::new(url_edit("cccccccc", "ccccccc"))),
            (
                "fragment",
                Box::new(|g| g["url"] = format!("{}#f", g["url"].as_str().unwrap()).into()),
            ),
        ];
        for (what, edit) in cases {
            let g = grant(now, |g| edit(g));
            assert!(run(&g, &want(None), now).is_err(), "{what} passed");
        }
        // Expired, or signed far ahead of our clock.
        let old = now - TimeDelta::seconds(600);
        assert!(run(&grant(old, |_| {}), &want(None), now).is_err());
        let ahead = now + TimeDelta::seconds(120);
        assert!(run(&grant(ahead, |_| {}), &want(None), now).is_err());
        // Hosts: R2 only, https only.
        for (from, to) in [
            (HOST, "https://bucket.s3.amazonaws.com"),
            (HOST, "https://evil.example"),
            (
                HOST,
                "http://0123456789abcdef0123456789abcdef.r2.cloudflarestorage.com",
            ),
        ] {
            let g = grant(now, url_edit(from, to));
            let e = run(&g, &want(None), now).unwrap_err();
            assert!(e.starts_with("host:"), "{to}: {e}");
        }
        // No message carries the signature.
        let g = grant(now, url_edit("partNumber=2", "partNumber=1"));
        assert!(!run(&g, &want(None), now).unwrap_err().contains("cccc"));
    }

    /// The object key may be 1024 bytes long, and no longer.
    #[test]
    fn the_object_key_is_at_most_1024_bytes() {
        let now = Utc::now().trunc_subsecs(0);
        let prefix = format!("__o__=/7f3c2a1e-4b5d-4c6e-8f90-1a2b3c4d5e6f/__cloud__/{SESSION}/");
        for (len, ok) in [(1024, true), (1025, false)] {
            let path = format!("{}.mcap", "x".repeat(len - prefix.len() - 5));
            let long = grant(now, url_edit("run%201/a%3Db.mcap", &path));
            let mut expected = want(None);
            expected.path = &path;
            let result = run(&long, &expected, now);
            assert_eq!(result.is_ok(), ok, "a key of {len} bytes: {result:?}");
        }
    }

    /// The `uploadId` is printable ASCII without surrounding spaces, each
    /// rule on its own.
    #[test]
    fn the_upload_id_is_printable_and_trimmed() {
        let now = Utc::now().trunc_subsecs(0);
        for (id, ok) in [
            ("2~Wq9m%2BXk", true),
            ("%202~Wq9m", false),
            ("2~Wq9m%20", false),
            ("2~Wq%7F9m", false),
            ("2~Wq%C3%A99m", false),
        ] {
            let edited = grant(
                now,
                url_edit("uploadId=2~Wq9m%2BXk", &format!("uploadId={id}")),
            );
            let result = run(&edited, &want(None), now);
            assert_eq!(result.is_ok(), ok, "uploadId={id}: {result:?}");
        }
    }

    /// The access key id of the credential scope: 1 to 128 letters,
    /// digits, `_` or `-`.
    #[test]
    fn the_credential_id_has_its_alphabet_and_length() {
        let now = Utc::now().trunc_subsecs(0);
        let longest = "k".repeat(128);
        let too_long = "k".repeat(129);
        for (id, ok) in [
            ("3f9a_2c-7E", true),
            (longest.as_str(), true),
            ("3f9a.2c", false),
            ("3f9a%2B2c", false),
            (too_long.as_str(), false),
        ] {
            let edited = grant(
                now,
                url_edit(
                    "X-Amz-Credential=3f9a2c7e1b5d%2F",
                    &format!("X-Amz-Credential={id}%2F"),
                ),
            );
            let result = run(&edited, &want(None), now);
            assert_eq!(result.is_ok(), ok, "credential id {id}: {result:?}");
        }
    }

    /// A grant may be signed up to 30 s ahead of our clock, not more.
    #[test]
    fn a_grant_signed_30_s_ahead_passes_and_31_s_does_not() {
        let now = Utc::now().trunc_subsecs(0);
        let ahead = |s| grant(now + TimeDelta::seconds(s), |_| {});
        assert!(run(&ahead(30), &want(None), now).is_ok());
        assert!(run(&ahead(31), &want(None), now).is_err());
    }
}

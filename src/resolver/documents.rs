//! The resolver's documents (models.md) and their identity checks: the
//! revision document of step 2, the manifest pages of step 3, and the 410
//! body of a withdrawn revision. Unknown keys are kept out of the way
//! (ignored), except in `rights`, which refuses them.

use serde::Deserialize;

use super::reference::{self, Reference};
use crate::{Error, Result};

/// The largest integer a JSON document may carry exactly.
const MAX_SAFE_INTEGER: u64 = 9_007_199_254_740_991;

pub(crate) fn integrity(message: impl Into<String>) -> Error {
    Error::Integrity {
        message: message.into(),
    }
}

/// `ResolvedRevisionDocument`.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Revision {
    pub(crate) schema_version: u64,
    pub(crate) requested_reference: String,
    pub(crate) display_reference: String,
    pub(crate) canonical_reference: String,
    pub(crate) dataset_uid: String,
    pub(crate) revision_uid: String,
    pub(crate) revision_sha256: String,
    pub(crate) state: String,
    pub(crate) manifest: Manifest,
    pub(crate) rights: Rights,
}

/// `ResolverManifest`.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Manifest {
    pub(crate) schema_version: u64,
    pub(crate) sha256: String,
    pub(crate) object_count: u64,
    pub(crate) total_size_bytes: u64,
    pub(crate) origins: Vec<Origin>,
    pub(crate) objects_path: String,
}

/// `ResolverOrigin`.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Origin {
    pub(crate) name: String,
    #[allow(dead_code)] // required by the model; not used
    pub(crate) kind: String,
    #[allow(dead_code)]
    pub(crate) canonical_ref: String,
    #[allow(dead_code)]
    pub(crate) external_revision: String,
}

/// The rights record of a revision (`ResolverRights`), as its publisher
/// declared it: the whole record the resolve document gives, checked on
/// load. It is the only resolver model that refuses unknown keys.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Rights {
    /// How the rights are known: always `declared` (by the publisher).
    pub status: String,
    /// What the rights allow: always `open_download`.
    pub access: String,
    /// The licence's name, e.g. `CC BY 4.0` (1–1024 characters).
    pub name: String,
    /// The licence's `https` URL (1–2048 characters, no credentials).
    pub url: String,
    /// The SHA-256 of the licence document the publisher declared.
    pub document_sha256: String,
    /// The SHA-256 of the publisher's rights attestation.
    pub attestation_sha256: String,
}

/// `ManifestObjectPageDocument`.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Page {
    pub(crate) schema_version: u64,
    pub(crate) canonical_reference: String,
    pub(crate) revision_sha256: String,
    pub(crate) manifest_sha256: String,
    pub(crate) next_cursor: Option<String>,
    pub(crate) previous_cursor: Option<String>,
    pub(crate) results: Vec<ObjectDoc>,
}

/// `ManifestObjectDocument`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub(crate) struct ObjectDoc {
    pub(crate) object_uid: String,
    pub(crate) logical_path: String,
    pub(crate) role: String,
    pub(crate) ordinal: u64,
    pub(crate) episode_ordinal: Option<u64>,
    pub(crate) content_type: String,
    pub(crate) origin: String,
    pub(crate) size_bytes: u64,
    pub(crate) sha256: String,
    pub(crate) access_path: String,
}

impl ObjectDoc {
    /// The manifest order: `role`, `ordinal`, `logical_path`.
    pub(crate) fn order_key(&self) -> (&str, u64, &str) {
        (&self.role, self.ordinal, &self.logical_path)
    }
}

/// `WithdrawnRevisionDocument` (the body of a 410).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Withdrawn {
    pub(crate) schema_version: u64,
    pub(crate) code: String,
    pub(crate) canonical_reference: String,
    pub(crate) dataset_uid: String,
    pub(crate) revision_sha256: String,
}

/// Parses a document; a body that does not fit is an integrity failure.
pub(crate) fn parse<T: serde::de::DeserializeOwned>(body: &[u8], what: &str) -> Result<T> {
    serde_json::from_slice(body).map_err(|e| {
        integrity(format!(
            "the {what} does not fit its model: {}",
            crate::redact::redact_text(&e.to_string())
        ))
    })
}

fn is_origin_name(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= 63
        && chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c))
}

fn is_role(role: &str) -> bool {
    let mut chars = role.chars();
    role.len() <= 32
        && chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// Whether `role` is a canonical manifest role (`[a-z][a-z0-9_]{0,31}`).
pub(crate) fn valid_role(role: &str) -> bool {
    is_role(role)
}

/// A licence URL: 1–2048 characters, `https` with a host, no credentials,
/// no whitespace or control character.
fn is_licence_url(text: &str) -> bool {
    let parsed = url::Url::parse(text);
    (1..=2048).contains(&text.chars().count())
        && !text.chars().any(|c| c.is_whitespace() || c.is_control())
        && parsed.is_ok_and(|u| {
            u.scheme() == "https"
                && u.host_str().is_some_and(|h| !h.is_empty())
                && u.username().is_empty()
                && u.password().is_none()
        })
}

/// A canonical `logical_path` (§13.3): NFC, 1–1024 bytes, relative, no
/// `\`, no `%2f`, no empty, `.` or `..` segment, no control characters.
fn check_logical_path(path: &str) -> Result<()> {
    // A leading or trailing `/`, and an empty path, make an empty segment.
    let bad = path.len() > 1024
        || path.contains('\\')
        || path.to_ascii_lowercase().contains("%2f")
        || path
            .split('/')
            .any(|s| s.is_empty() || s == "." || s == "..")
        || path.chars().any(char::is_control)
        || !unicode_normalization::is_nfc(path);
    if bad {
        return Err(integrity(
            "an object's logical_path is not a canonical relative path",
        ));
    }
    Ok(())
}

impl Revision {
    /// The identity checks of step 2 (models.md, §13.3).
    pub(crate) fn check(&self, requested: &Reference) -> Result<()> {
        let fail = |what: &str| Err(integrity(format!("the resolve document {what}")));
        if self.schema_version != 1 || self.manifest.schema_version != 1 {
            return fail("has an unknown schema_version");
        }
        if self.state != "published" {
            return fail("is not in state `published`");
        }
        if !reference::is_uuid(&self.dataset_uid) || !reference::is_uuid(&self.revision_uid) {
            return fail("has a dataset_uid or revision_uid that is not a canonical UUID");
        }
        if !reference::is_sha256(&self.revision_sha256)
            || !reference::is_sha256(&self.manifest.sha256)
        {
            return fail("has a revision or manifest sha256 that is not 64 hex characters");
        }
        if self.requested_reference != requested.requested() {
            return fail("answers another reference than the one requested");
        }
        let canonical = format!(
            "avala://datasets/{}@{}",
            self.dataset_uid, self.revision_sha256
        );
        if self.canonical_reference != canonical {
            return fail(
                "has a canonical_reference that does not match its dataset_uid and revision_sha256",
            );
        }
        match reference::parse_display(&self.display_reference) {
            Some((owner, dataset, selector))
                if selector == self.revision_sha256
                    && requested
                        .names()
                        .is_none_or(|(o, d)| (o, d) == (owner.as_str(), dataset.as_str())) => {}
            _ => {
                return fail(
                    "has a display_reference that does not match the revision or the request",
                )
            }
        }
        if requested
            .exact_dataset_uid()
            .is_some_and(|uid| uid != self.dataset_uid)
            || requested
                .exact_revision()
                .is_some_and(|sha| sha != self.revision_sha256)
        {
            return fail("resolves to another revision than the pinned one");
        }
        let objects_path = format!(
            "/resolve/uid/{}/{}/objects/",
            self.dataset_uid, self.revision_sha256
        );
        if self.manifest.objects_path != objects_path {
            return fail("has an unexpected manifest.objects_path");
        }
        if self.manifest.object_count > 100_000 || self.manifest.total_size_bytes > MAX_SAFE_INTEGER
        {
            return fail("has manifest totals out of range");
        }
        let names: Vec<&str> = self
            .manifest
            .origins
            .iter()
            .map(|o| o.name.as_str())
            .collect();
        if names.is_empty()
            || names.len() > 32
            || !names.iter().all(|n| is_origin_name(n))
            || !names.windows(2).all(|w| w[0] < w[1])
        {
            return fail("has manifest origins that are not 1–32 unique names in order");
        }
        let r = &self.rights;
        if r.status != "declared"
            || r.access != "open_download"
            || r.name.is_empty()
            || r.name.chars().count() > 1024
            || !reference::is_sha256(&r.document_sha256)
            || !reference::is_sha256(&r.attestation_sha256)
        {
            return fail("has rights that are not an open, declared licence");
        }
        if !is_licence_url(&r.url) {
            return fail("has a rights url that is not an https URL without credentials");
        }
        Ok(())
    }
}

/// What a page was asked for, for its checks.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PageRequest<'a> {
    pub(crate) role: Option<&'a str>,
    pub(crate) ordinal: Option<u64>,
    pub(crate) ordinals: Option<&'a [u64]>,
    pub(crate) cursor: Option<&'a str>,
}

impl Page {
    /// The checks of one page against the revision (step 3, §13.3):
    /// identity, cursors, and every object's own shape and paths.
    pub(crate) fn check(&self, revision: &Revision, request: PageRequest<'_>) -> Result<()> {
        let fail = |what: &str| Err(integrity(format!("a manifest page {what}")));
        if self.schema_version != 1 {
            return fail("has an unknown schema_version");
        }
        if self.canonical_reference != revision.canonical_reference
            || self.revision_sha256 != revision.revision_sha256
            || self.manifest_sha256 != revision.manifest.sha256
        {
            return fail("belongs to another revision or manifest");
        }
        if self.results.len() > 100 {
            return fail("has more than 100 results");
        }
        let cursor_ok =
            |c: &Option<String>| c.as_ref().is_none_or(|c| (1..=8192).contains(&c.len()));
        if !cursor_ok(&self.next_cursor) || !cursor_ok(&self.previous_cursor) {
            return fail("has an empty or over-long cursor");
        }
        let exact = request.ordinal.is_some() || request.ordinals.is_some();
        if exact {
            if self.next_cursor.is_some() || self.previous_cursor.is_some() {
                return fail("of an ordinal lookup has cursors");
            }
            if request.ordinal.is_some() && self.results.len() > 1 {
                return fail("of a single-ordinal lookup has several objects");
            }
        } else if request.cursor.is_none() && self.previous_cursor.is_some() {
            return fail("is the first but has a previous_cursor");
        } else if request.cursor.is_some()
            && (self.previous_cursor.is_none() || self.results.is_empty())
        {
            return fail("follows a cursor but has no previous_cursor or no results");
        }
        let origins: Vec<&str> = revision
            .manifest
            .origins
            .iter()
            .map(|o| o.name.as_str())
            .collect();
        for o in &self.results {
            let access_path = format!("{}{}/access/", revision.manifest.objects_path, o.object_uid);
            if !reference::is_uuid(&o.object_uid)
                || !is_role(&o.role)
                || !reference::is_sha256(&o.sha256)
                || o.ordinal > MAX_SAFE_INTEGER
                || o.size_bytes > MAX_SAFE_INTEGER
                || o.episode_ordinal.is_some_and(|e| e > MAX_SAFE_INTEGER)
                || (o.role == "episode" && o.episode_ordinal.is_some())
            {
                return Err(integrity("a manifest object does not fit its model"));
            }
            if o.access_path != access_path || !origins.contains(&o.origin.as_str()) {
                return Err(integrity(
                    "a manifest object has another access_path or origin than its revision's",
                ));
            }
            if request.role.is_some_and(|r| r != o.role)
                || request.ordinal.is_some_and(|n| n != o.ordinal)
                || request.ordinals.is_some_and(|ns| !ns.contains(&o.ordinal))
            {
                return Err(integrity(
                    "a manifest page has an object that was not asked for",
                ));
            }
            // `access_path` and `objects_path` are compared with paths built
            // from a checked UUID and digests: no other path check applies.
            check_logical_path(&o.logical_path)?;
        }
        Ok(())
    }
}

impl Withdrawn {
    /// Whether the 410 body names exactly the pinned revision.
    pub(crate) fn matches(&self, requested: &Reference) -> bool {
        let canonical = format!(
            "avala://datasets/{}@{}",
            self.dataset_uid, self.revision_sha256
        );
        self.schema_version == 1
            && self.code == "dataset_revision_withdrawn"
            // Its uid goes into the error a caller sees: the shape only.
            && reference::is_uuid(&self.dataset_uid)
            && self.canonical_reference == canonical
            && requested.exact_revision() == Some(self.revision_sha256.as_str())
            && requested
                .exact_dataset_uid()
                .is_none_or(|uid| uid == self.dataset_uid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logical_paths_must_be_canonical() {
        let longest = "a".repeat(1024);
        for ok in ["a", "frames/000000.pcd", "é/x", &longest] {
            assert!(check_logical_path(ok).is_ok(), "{ok}");
        }
        let long = "a".repeat(1025);
        for bad in [
            "", "/a", "a/", "a//b", "./a", "a/../b", "a\\b", "a%2Fb", "a\u{1}b", "e\u{301}",
            "\u{212b}", &long,
        ] {
            assert!(check_logical_path(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn origin_names_and_roles_have_their_alphabets() {
        let name_63 = format!("a{}", "b".repeat(62));
        for ok in ["s", "s3", "edge-2.raw_x", "a.b", &name_63] {
            assert!(is_origin_name(ok), "{ok}");
        }
        let name_64 = format!("a{}", "b".repeat(63));
        for bad in ["", "3s", "-a", "S3", "a/b", "a b", "a:b", "é", &name_64] {
            assert!(!is_origin_name(bad), "{bad:?}");
        }
        let role_32 = format!("a{}", "b".repeat(31));
        for ok in ["frame", "f", "camera_front2", "a_", &role_32] {
            assert!(valid_role(ok), "{ok}");
        }
        let role_33 = format!("a{}", "b".repeat(32));
        for bad in ["", "_a", "2d", "Frame", "a-b", "a.b", "a b", &role_33] {
            assert!(!valid_role(bad), "{bad:?}");
        }
    }

    const UID: &str = "0d4f5e6a-7b8c-4d9e-a0f1-2b3c4d5e6f70";
    const OBJECT: &str = "1d4f5e6a-7b8c-4d9e-a0f1-2b3c4d5e6f71";
    const UNFILTERED: PageRequest<'static> = PageRequest {
        role: None,
        ordinal: None,
        ordinals: None,
        cursor: None,
    };

    fn sha(c: char) -> String {
        c.to_string().repeat(64)
    }

    /// A revision that passes its checks for `acme/lidar`.
    fn revision() -> Revision {
        let rev = sha('a');
        let doc = serde_json::json!({
            "schema_version": 1,
            "requested_reference": "acme/lidar@main",
            "display_reference": format!("acme/lidar@{rev}"),
            "canonical_reference": format!("avala://datasets/{UID}@{rev}"),
            "dataset_uid": UID,
            "revision_uid": UID,
            "revision_sha256": rev,
            "state": "published",
            "manifest": {
                "schema_version": 1,
                "sha256": sha('b'),
                "object_count": 1,
                "total_size_bytes": 1,
                "origins": [{"name": "primary", "kind": "avala", "canonical_ref": "x",
                             "external_revision": "y"}],
                "objects_path": format!("/resolve/uid/{UID}/{rev}/objects/"),
            },
            "rights": {
                "status": "declared",
                "access": "open_download",
                "name": "CC BY 4.0",
                "url": "https://example.com/licence",
                "document_sha256": sha('c'),
                "attestation_sha256": sha('d'),
            },
        });
        parse(doc.to_string().as_bytes(), "revision").unwrap()
    }

    /// A page of `revision()` with one frame object, edited.
    fn page_with(edit: impl Fn(&mut serde_json::Value)) -> Page {
        let rev = revision();
        let mut object = serde_json::json!({
            "object_uid": OBJECT,
            "logical_path": "frames/0.bin",
            "role": "frame",
            "ordinal": 0,
            "episode_ordinal": 0,
            "content_type": "application/octet-stream",
            "origin": "primary",
            "size_bytes": 1,
            "sha256": sha('e'),
            "access_path": format!("{}{OBJECT}/access/", rev.manifest.objects_path),
        });
        edit(&mut object);
        let doc = serde_json::json!({
            "schema_version": 1,
            "canonical_reference": rev.canonical_reference,
            "revision_sha256": rev.revision_sha256,
            "manifest_sha256": rev.manifest.sha256,
            "next_cursor": null,
            "previous_cursor": null,
            "results": [object],
        });
        parse(doc.to_string().as_bytes(), "page").unwrap()
    }

    /// An object's integers may be 2^53 - 1, the largest a JSON document
    /// carries exactly, and no more.
    #[test]
    fn object_integers_reach_the_largest_safe_integer_and_no_further() {
        let rev = revision();
        let acme = Reference::parse("acme/lidar").unwrap();
        assert!(rev.check(&acme).is_ok());
        assert!(page_with(|_| {}).check(&rev, UNFILTERED).is_ok());
        for field in ["ordinal", "size_bytes", "episode_ordinal"] {
            let at = page_with(|o| o[field] = MAX_SAFE_INTEGER.into());
            assert!(at.check(&rev, UNFILTERED).is_ok(), "{field} at 2^53 - 1");
            let over = page_with(|o| o[field] = (MAX_SAFE_INTEGER + 1).into());
            assert!(
                over.check(&rev, UNFILTERED).is_err(),
                "{field} past 2^53 - 1"
            );
        }
    }
}

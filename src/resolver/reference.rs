//! Step 1 of §9.4: the reference grammar.
//!
//! - friendly `owner/dataset[@selector]`: owner `[a-z0-9][a-z0-9_-]{0,254}`,
//!   dataset `[a-z0-9][a-z0-9._-]{0,99}`, selector a 64-hex digest or an
//!   alias `[a-z][a-z0-9._-]{0,62}` (default `main`);
//! - canonical `avala://datasets/<uuid>@<sha256>`.

use std::sync::LazyLock;

use regex::Regex;

use crate::{Error, Result};

const UUID: &str = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}";
const SHA256: &str = "[0-9a-f]{64}";
const OWNER: &str = "[a-z0-9][a-z0-9_-]{0,254}";
const DATASET: &str = "[a-z0-9][a-z0-9._-]{0,99}";
const ALIAS: &str = "[a-z][a-z0-9._-]{0,62}";

static CANONICAL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(
        "^avala://datasets/(?P<uid>{UUID})@(?P<sha>{SHA256})$"
    ))
    .unwrap_or_else(|e| unreachable!("{e}"))
});

static FRIENDLY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(
        "^(?P<owner>{OWNER})/(?P<dataset>{DATASET})(?:@(?P<selector>{SHA256}|{ALIAS}))?$"
    ))
    .unwrap_or_else(|e| unreachable!("{e}"))
});

static SELECTOR: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!("^(?:{SHA256}|{ALIAS})$")).unwrap_or_else(|e| unreachable!("{e}"))
});

static DIGEST: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(&format!("^{SHA256}$")).unwrap_or_else(|e| unreachable!("{e}")));

/// A parsed reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reference {
    /// `owner/dataset@selector`, the selector filled in (`main` by default).
    Friendly {
        owner: String,
        dataset: String,
        selector: String,
    },
    /// `avala://datasets/<uid>@<sha256>`.
    Canonical {
        dataset_uid: String,
        revision_sha256: String,
    },
}

impl Reference {
    /// Parses `text`; anything outside the grammar is `InvalidArgument`.
    pub(crate) fn parse(text: &str) -> Result<Self> {
        if let Some(c) = CANONICAL.captures(text) {
            return Ok(Self::Canonical {
                dataset_uid: c["uid"].to_owned(),
                revision_sha256: c["sha"].to_owned(),
            });
        }
        if let Some(c) = FRIENDLY.captures(text) {
            return Ok(Self::Friendly {
                owner: c["owner"].to_owned(),
                dataset: c["dataset"].to_owned(),
                selector: c.name("selector").map_or("main", |m| m.as_str()).to_owned(),
            });
        }
        Err(Error::InvalidArgument {
            message: format!(
                "{:?} is not a dataset reference; use owner/dataset, owner/dataset@<alias or 64-hex revision>, or avala://datasets/<uuid>@<64-hex revision>",
                text.chars().take(200).collect::<String>()
            ),
        })
    }

    /// Parses `text` with a separately given `revision` (an alias or a
    /// 64-hex digest), as if it were written `text@revision`. Refused
    /// (`InvalidArgument`): a revision outside the selector grammar, a
    /// canonical reference (it pins its revision already), or a reference
    /// that names a selector of its own.
    pub(crate) fn parse_with_revision(text: &str, revision: Option<&str>) -> Result<Self> {
        let Some(revision) = revision else {
            return Self::parse(text);
        };
        let invalid = |message: String| Err(Error::InvalidArgument { message });
        if !SELECTOR.is_match(revision) {
            return invalid(format!(
                "{:?} is not a revision; use an alias ([a-z][a-z0-9._-]{{0,62}}) or a 64-hex revision digest",
                revision.chars().take(100).collect::<String>()
            ));
        }
        if CANONICAL.is_match(text) {
            return invalid(
                "a canonical reference pins its revision already; give no separate revision"
                    .to_owned(),
            );
        }
        match FRIENDLY.captures(text) {
            Some(c) if c.name("selector").is_some() => invalid(
                "the reference names a revision after `@` and a separate revision was given; give one"
                    .to_owned(),
            ),
            Some(_) => Self::parse(&format!("{text}@{revision}")),
            None => Self::parse(text),
        }
    }

    /// The resolve path below the API root.
    pub(crate) fn path(&self) -> String {
        match self {
            Self::Friendly {
                owner,
                dataset,
                selector,
            } => format!("/resolve/{owner}/{dataset}@{selector}/"),
            Self::Canonical {
                dataset_uid,
                revision_sha256,
            } => format!("/resolve/uid/{dataset_uid}/{revision_sha256}/"),
        }
    }

    /// What the server must echo as `requested_reference` (§13.3).
    pub(crate) fn requested(&self) -> String {
        match self {
            Self::Friendly {
                owner,
                dataset,
                selector,
            } => format!("{owner}/{dataset}@{selector}"),
            Self::Canonical {
                dataset_uid,
                revision_sha256,
            } => format!("avala://datasets/{dataset_uid}@{revision_sha256}"),
        }
    }

    /// The dataset uid the reference pins, if any.
    pub(crate) fn exact_dataset_uid(&self) -> Option<&str> {
        match self {
            Self::Canonical { dataset_uid, .. } => Some(dataset_uid),
            Self::Friendly { .. } => None,
        }
    }

    /// The revision the reference pins: a canonical reference's, or a
    /// digest selector. `None` for an alias (mutable).
    pub(crate) fn exact_revision(&self) -> Option<&str> {
        match self {
            Self::Canonical {
                revision_sha256, ..
            } => Some(revision_sha256),
            Self::Friendly { selector, .. } => DIGEST.is_match(selector).then_some(selector),
        }
    }

    /// The owner and dataset names of a friendly reference.
    pub(crate) fn names(&self) -> Option<(&str, &str)> {
        match self {
            Self::Friendly { owner, dataset, .. } => Some((owner, dataset)),
            Self::Canonical { .. } => None,
        }
    }
}

/// Splits a `display_reference` (`owner/dataset@<sha256>`) into its parts.
pub(crate) fn parse_display(text: &str) -> Option<(String, String, String)> {
    match Reference::parse(text).ok()? {
        Reference::Friendly {
            owner,
            dataset,
            selector,
        } if text.contains('@') => Some((owner, dataset, selector)),
        _ => None,
    }
}

/// Whether `text` is 64 lowercase hex characters.
pub(crate) fn is_sha256(text: &str) -> bool {
    DIGEST.is_match(text)
}

/// Whether `text` is a lowercase canonical UUID.
pub(crate) fn is_uuid(text: &str) -> bool {
    static RE: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(&format!("^{UUID}$")).unwrap_or_else(|e| unreachable!("{e}")));
    RE.is_match(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "a3f1c9e7b5d3f1a9c7e5b3d1f9a7c5e3b1d9f7a5c3e1b9d7f5a3c1e9b7d5f3a1";
    const UID: &str = "0d4f5e6a-7b8c-4d9e-a0f1-2b3c4d5e6f70";

    #[test]
    fn friendly_references_fill_in_main() {
        let r = Reference::parse("acme/lidar").unwrap();
        assert_eq!(r.requested(), "acme/lidar@main");
        assert_eq!(r.path(), "/resolve/acme/lidar@main/");
        assert_eq!(r.exact_revision(), None);
        let r = Reference::parse(&format!("acme/lidar@{SHA}")).unwrap();
        assert_eq!(r.exact_revision(), Some(SHA));
        let r = Reference::parse("a_b-c/d.e_f-g@v1.2_x-y").unwrap();
        assert_eq!(r.requested(), "a_b-c/d.e_f-g@v1.2_x-y");
    }

    #[test]
    fn canonical_references_pin_both() {
        let r = Reference::parse(&format!("avala://datasets/{UID}@{SHA}")).unwrap();
        assert_eq!(r.exact_dataset_uid(), Some(UID));
        assert_eq!(r.exact_revision(), Some(SHA));
        assert_eq!(r.path(), format!("/resolve/uid/{UID}/{SHA}/"));
    }

    #[test]
    fn everything_else_is_refused() {
        let long_owner = format!("{}/d", "a".repeat(256));
        let long_dataset = format!("o/{}", "d".repeat(101));
        let bad = [
            "",
            "acme",
            "Acme/lidar",
            "acme/lidar@",
            "acme/lidar@Main",
            "acme/lidar@1abc",
            "acme/lidar@main@x",
            "acme//lidar",
            "/acme/lidar",
            "acme/lidar/",
            "-acme/lidar",
            "acme/.lidar",
            "acme/lidar@../x",
            " acme/lidar",
            "acme/lidar\n",
            "avala://datasets/not-a-uuid@abc",
            &format!("avala://datasets/{UID}"),
            &format!("avala://datasets/{UID}@{}", &SHA[1..]),
            &format!("avala://datasets/{}@{SHA}", UID.to_uppercase()),
            &long_owner,
            &long_dataset,
        ];
        for text in bad {
            assert!(
                matches!(Reference::parse(text), Err(Error::InvalidArgument { .. })),
                "{text:?}"
            );
        }
        assert!(Reference::parse(&format!("{}/d", "a".repeat(255))).is_ok());
    }

    #[test]
    fn a_separate_revision_is_checked_as_an_inline_one() {
        let with =
            |text: &str, revision: Option<&str>| Reference::parse_with_revision(text, revision);
        assert_eq!(
            with("acme/lidar", Some("v2")).unwrap(),
            Reference::parse("acme/lidar@v2").unwrap()
        );
        assert_eq!(
            with("acme/lidar", Some(SHA)).unwrap().exact_revision(),
            Some(SHA)
        );
        assert_eq!(
            with("acme/lidar", None).unwrap().requested(),
            "acme/lidar@main"
        );
        let canonical = format!("avala://datasets/{UID}@{SHA}");
        let refused = [
            ("acme/lidar", "Main", "is not a revision"),
            ("acme/lidar", "", "is not a revision"),
            ("acme/lidar", "../x", "is not a revision"),
            ("acme/lidar", &SHA[1..], "is not a revision"),
            ("acme/lidar@main", "v2", "separate revision was given"),
            (&canonical, "v2", "pins its revision already"),
            ("Acme/lidar", "v2", "is not a dataset reference"),
        ];
        for (text, revision, expected) in refused {
            match with(text, Some(revision)) {
                Err(Error::InvalidArgument { message }) => {
                    assert!(message.contains(expected), "{text} {revision}: {message}")
                }
                other => panic!("{text} {revision}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_display_reference_must_name_its_revision() {
        assert_eq!(
            parse_display(&format!("acme/lidar@{SHA}")),
            Some(("acme".to_owned(), "lidar".to_owned(), SHA.to_owned()))
        );
        // Without `@` the revision is missing: not `main` filled in.
        assert_eq!(parse_display("acme/lidar"), None);
        assert_eq!(
            parse_display(&format!("avala://datasets/{UID}@{SHA}")),
            None
        );
        assert_eq!(parse_display("not a reference"), None);
    }
}

//! The checks of a `ManagedFleetUploadStatus` (models.md and Python's
//! `observe`): the document's own invariants, then agreement with the local
//! manifest and with what the receipt already learnt. Pure: a refusal is the
//! reason as text, which the flow turns into `UploadError::Mismatch`.

use std::collections::{BTreeMap, HashSet};

use super::{
    receipt::{Original, Receipt},
    PART_SIZE,
};
use crate::{
    types::{
        ManagedContentType as ContentType, ManagedFinalization, ManagedFinalizationCode as Code,
        ManagedFinalizationStage as Stage, ManagedFinalizationState as FinState,
        ManagedFleetUploadStatus, ManagedGenerationState as GenState, ManagedOriginal,
        ManagedUploadProtocol as Protocol, ManagedUploadStatus as Phase,
    },
    upload::fleet::RecordingFile,
};

type Check = Result<(), String>;

fn ensure(ok: bool, why: &str) -> Check {
    if ok {
        Ok(())
    } else {
        Err(why.to_owned())
    }
}

/// Whether `uid` is a canonical lowercase UUID (as Python's `canonical_uid`).
pub(super) fn canonical_uid(uid: &str) -> bool {
    uuid::Uuid::try_parse(uid).is_ok_and(|u| u.hyphenated().to_string() == uid)
}

/// `ceil(size / 64 MiB)`.
pub(super) fn part_count(size: u64) -> u64 {
    size.div_ceil(PART_SIZE)
}

/// Checks `status` and returns the originals it confirms, merged into what
/// `receipt` knew (the caller saves them).
pub(super) fn observe(
    status: &ManagedFleetUploadStatus,
    files: &[RecordingFile],
    receipt: &Receipt,
) -> Result<BTreeMap<String, Original>, String> {
    invariants(status)?;
    ensure(
        status.session_uid == receipt.session_uid && status.recording_uid == receipt.recording_uid,
        "the status names a different recording or session",
    )?;
    let local: BTreeMap<&str, &RecordingFile> =
        files.iter().map(|f| (f.path.as_str(), f)).collect();
    let paths: HashSet<&str> = status.files.iter().map(|f| f.path.as_str()).collect();
    ensure(
        paths.len() == local.len() && local.keys().all(|p| paths.contains(p)),
        "the status lists other files than the local manifest",
    )?;
    let mut originals = receipt.originals.clone();
    for row in &status.files {
        let file = local[row.path.as_str()];
        ensure(
            u64::try_from(row.size_bytes) == Ok(file.stamp.size)
                && row.content_sha256 == file.sha256,
            &format!(
                "the status gives `{}` another size or SHA-256 than the local file",
                row.path
            ),
        )?;
        let merged = merge(row, originals.get(&row.path))?;
        originals.insert(row.path.clone(), merged);
    }
    if status.finalization.is_none() && receipt.finalization_uid.is_some() {
        return Err("the finalization the server reported before has disappeared".to_owned());
    }
    if let Some(outcome) = &status.finalization {
        finalization_matches(outcome, receipt)?;
    }
    Ok(originals)
}

/// One original against what the receipt knew of it.
fn merge(row: &ManagedOriginal, known: Option<&Original>) -> Result<Original, String> {
    let Some(known) = known else {
        // First sight (after the admit): nothing may have started yet.
        ensure(
            row.generation.is_none() && !row.verified,
            &format!(
                "the server reports multipart work on `{}` that this session never started",
                row.path
            ),
        )?;
        return Ok(Original {
            file_uid: row.file_uid.clone(),
            ..Original::default()
        });
    };
    ensure(
        row.file_uid == known.file_uid && (row.verified || !known.verified),
        &format!("the identity or verification of `{}` went back", row.path),
    )?;
    let mut merged = known.clone();
    match &row.generation {
        None => ensure(
            known.generation_uid.is_none(),
            &format!("the multipart generation of `{}` disappeared", row.path),
        )?,
        Some(generation) => {
            // Only the first generation, which our own init created, is
            // adopted: the one the receipt names, or, when the init's
            // answer was lost, the one the status shows (nobody else can
            // open a generation in our session, whose uid is ours alone).
            ensure(
                generation.number == 1
                    && known
                        .generation_uid
                        .as_ref()
                        .is_none_or(|uid| *uid == generation.generation_uid),
                &format!("the multipart generation of `{}` was replaced", row.path),
            )?;
            merged.generation_uid = Some(generation.generation_uid.clone());
            merged.verified = row.verified;
        }
    }
    Ok(merged)
}

/// The finalization against the one the receipt retained.
fn finalization_matches(outcome: &ManagedFinalization, receipt: &Receipt) -> Check {
    ensure(
        receipt.finalizing
            && receipt
                .finalization_uid
                .as_ref()
                .is_none_or(|uid| *uid == outcome.uid),
        "the server reports a finalization other than the one this session requested",
    )?;
    if let Some(published) = &receipt.publication_uid {
        ensure(
            outcome.state == FinState::Succeeded
                && outcome.publication_uid.as_ref() == Some(published)
                && outcome.dataset_uid == receipt.dataset_uid,
            "the published result changed identity",
        )?;
    }
    Ok(())
}

/// The invariants models.md lists for the status and its parts.
pub(super) fn invariants(status: &ManagedFleetUploadStatus) -> Check {
    ensure(
        status.protocol == Protocol::FleetManagedMcapV1,
        "the status names another protocol",
    )?;
    ensure(
        canonical_uid(&status.session_uid) && canonical_uid(&status.recording_uid),
        "the status carries a uid that is not a canonical UUID",
    )?;
    ensure(
        !matches!(status.status, Phase::Unknown(_)),
        "the status has an unknown phase",
    )?;
    let files = &status.files;
    let uids: HashSet<&str> = files.iter().map(|f| f.file_uid.as_str()).collect();
    let paths: HashSet<&str> = files.iter().map(|f| f.path.as_str()).collect();
    let sum = |verified_only: bool| -> i64 {
        files
            .iter()
            .filter(|f| f.verified || !verified_only)
            .map(|f| f.size_bytes)
            .sum()
    };
    let verified = files.iter().filter(|f| f.verified).count() as i64;
    ensure(
        (1..=64).contains(&files.len())
            && files.len() as i64 == status.total_files
            && uids.len() == files.len()
            && paths.len() == files.len()
            && sum(false) == status.total_bytes
            && verified == status.confirmed_files
            && sum(true) == status.confirmed_bytes,
        "the status counters disagree with its files",
    )?;
    ensure(
        status.status != Phase::Completed || verified == status.total_files,
        "the status says completed with unverified files",
    )?;
    for file in files {
        original(file)?;
    }
    if let Some(outcome) = &status.finalization {
        finalization(outcome)?;
        ensure(
            outcome.state != FinState::Succeeded || status.status == Phase::Completed,
            "publication is reported for a session that is not completed",
        )?;
    }
    Ok(())
}

fn original(file: &ManagedOriginal) -> Check {
    let size = u64::try_from(file.size_bytes).unwrap_or(0);
    ensure(
        canonical_uid(&file.file_uid)
            && (1..=super::limits::MAX_FILE_BYTES).contains(&size)
            && is_sha256(&file.content_sha256)
            && file.content_type == ContentType::ApplicationOctetStream
            && file.content_encoding.is_empty()
            && file.part_size == PART_SIZE as i64
            && u64::try_from(file.part_count) == Ok(part_count(size)),
        &format!(
            "the status describes `{}` outside the protocol's profile",
            file.path
        ),
    )?;
    if let Some(generation) = &file.generation {
        ensure(
            canonical_uid(&generation.generation_uid)
                && generation.number >= 1
                && !matches!(generation.state, GenState::Unknown(_)),
            &format!("the status gives `{}` a malformed generation", file.path),
        )?;
    }
    ensure(
        !file.verified
            || file
                .generation
                .as_ref()
                .is_some_and(|g| g.state == GenState::Completed),
        &format!(
            "the status says `{}` is verified without a completed generation",
            file.path
        ),
    )
}

/// A finalization's own invariants.
pub(super) fn finalization(outcome: &ManagedFinalization) -> Check {
    let known = !matches!(outcome.state, FinState::Unknown(_))
        && !matches!(outcome.stage, Stage::Unknown(_))
        && !matches!(outcome.code, Code::Unknown(_));
    ensure(
        known
            && canonical_uid(&outcome.uid)
            && outcome.attempts >= 0
            && (0..=5).contains(&outcome.failures)
            && chrono::DateTime::parse_from_rfc3339(&outcome.available_at).is_ok(),
        "the finalization is malformed",
    )?;
    let published = outcome
        .publication_uid
        .as_deref()
        .is_some_and(canonical_uid)
        && outcome.dataset_uid.as_deref().is_some_and(canonical_uid);
    if outcome.state == FinState::Succeeded {
        ensure(
            outcome.stage == Stage::Publish
                && outcome.code == Code::Published
                && outcome.failures == 0
                && published,
            "the finalization claims success without a consistent publication",
        )
    } else {
        ensure(
            outcome.publication_uid.is_none() && outcome.dataset_uid.is_none(),
            "an unfinished finalization claims a publication",
        )
    }
}

pub(super) fn is_sha256(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upload::inventory::Stamp;

    const SESSION: &str = "3e7a1c9b-2d4f-4b6a-8c0e-5f1d3b7a9c2e";
    const RECORDING: &str = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d";
    const FILE_UID: &str = "6b2e4d8f-0a1c-4e3b-9d5f-7a9c1e3b5d7f";
    const GENERATION: &str = "8d4a6c0e-2f1b-4d3a-a5c7-9e1b3d5f7a9c";

    fn local() -> Vec<RecordingFile> {
        vec![RecordingFile {
            local: "a.mcap".into(),
            path: "run-042/session.mcap".into(),
            stamp: Stamp {
                size: 150_000_000,
                mtime_ns: 0,
                inode: 0,
            },
            sha256: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855".into(),
        }]
    }

    /// The document's `uploading` status example, edited.
    fn status(edit: impl FnOnce(&mut serde_json::Value)) -> ManagedFleetUploadStatus {
        let mut value = crate::mock::examples::default_response("get_fleet_managed_upload_status")
            .unwrap()
            .body
            .clone();
        edit(&mut value);
        serde_json::from_value(value).unwrap()
    }

    fn receipt(known: Option<Original>) -> Receipt {
        let mut value = serde_json::json!({
            "format": "avala-fleet-managed-upload", "version": 1, "api_root": "x",
            "recording_uid": RECORDING, "session_uid": SESSION, "manifest_sha256": "m",
            "originals": {}, "finalizing": false, "finalization_uid": null,
            "publication_uid": null, "dataset_uid": null,
        });
        if let Some(known) = known {
            value["originals"]["run-042/session.mcap"] = serde_json::to_value(known).unwrap();
        }
        serde_json::from_value(value).unwrap()
    }

    fn initialized() -> Original {
        Original {
            file_uid: FILE_UID.into(),
            ..Original::default()
        }
    }

    #[test]
    fn a_consistent_status_adopts_our_generation() {
        let merged = observe(&status(|_| {}), &local(), &receipt(Some(initialized()))).unwrap();
        let original = &merged["run-042/session.mcap"];
        assert_eq!(original.generation_uid.as_deref(), Some(GENERATION));
    }

    #[test]
    fn inconsistent_statuses_are_refused() {
        use serde_json::json;
        type Edit = Box<dyn Fn(&mut serde_json::Value)>;
        let cases: Vec<(&str, Edit)> = vec![
            ("total_files", Box::new(|s| s["total_files"] = json!(2))),
            ("total_bytes", Box::new(|s| s["total_bytes"] = json!(1))),
            ("confirmed", Box::new(|s| s["confirmed_files"] = json!(1))),
            ("completed", Box::new(|s| s["status"] = json!("completed"))),
            (
                "part_size",
                Box::new(|s| s["files"][0]["part_size"] = json!(8_388_608)),
            ),
            (
                "part_count",
                Box::new(|s| s["files"][0]["part_count"] = json!(2)),
            ),
            (
                "verified",
                Box::new(|s| {
                    s["files"][0]["verified"] = json!(true);
                    s["confirmed_files"] = json!(1);
                    s["confirmed_bytes"] = json!(150_000_000);
                }),
            ),
            (
                "session",
                Box::new(|s| s["session_uid"] = json!("4e7a1c9b-2d4f-4b6a-8c0e-5f1d3b7a9c2e")),
            ),
            (
                "uppercase uid",
                Box::new(|s| s["recording_uid"] = json!(RECORDING.to_uppercase())),
            ),
            (
                "sha",
                Box::new(|s| s["files"][0]["content_sha256"] = json!("0".repeat(64))),
            ),
            (
                "path",
                Box::new(|s| s["files"][0]["path"] = json!("other.mcap")),
            ),
            (
                "generation 2",
                Box::new(|s| s["files"][0]["generation"]["number"] = json!(2)),
            ),
            (
                "other generation",
                Box::new(|s| s["files"][0]["generation"]["generation_uid"] = json!(SESSION)),
            ),
            (
                "unrequested finalization",
                Box::new(|s| {
                    s["finalization"] = json!({
                        "uid": SESSION, "state": "pending", "stage": "complete", "attempts": 0,
                        "failures": 0, "code": "pending", "available_at": "2024-01-15T10:40:00Z",
                        "publication_uid": null, "dataset_uid": null,
                    })
                }),
            ),
        ];
        let mut known = initialized();
        known.generation_uid = Some(GENERATION.into());
        for (what, edit) in cases {
            let s = status(|s| edit(s));
            assert!(
                observe(&s, &local(), &receipt(Some(known.clone()))).is_err(),
                "{what} passed"
            );
        }
        // Work on a file the admit just listed was not ours.
        assert!(observe(&status(|_| {}), &local(), &receipt(None)).is_err());
        // A lost init answer: the receipt names no generation, the status
        // shows generation 1, which is adopted; a later one is not.
        let merged = observe(&status(|_| {}), &local(), &receipt(Some(initialized()))).unwrap();
        let adopted = merged["run-042/session.mcap"].generation_uid.as_deref();
        assert_eq!(adopted, Some(GENERATION));
        let second = status(|s| s["files"][0]["generation"]["number"] = json!(2));
        assert!(observe(&second, &local(), &receipt(Some(initialized()))).is_err());
        // The file's identity, and its verification, never go back.
        let other_file = status(|s| s["files"][0]["file_uid"] = json!(SESSION));
        assert!(observe(&other_file, &local(), &receipt(Some(known.clone()))).is_err());
        let mut verified = known.clone();
        verified.verified = true;
        assert!(observe(&status(|_| {}), &local(), &receipt(Some(verified))).is_err());
        // A generation the receipt knew may not disappear.
        let gone = status(|s| s["files"][0]["generation"] = json!(null));
        assert!(observe(&gone, &local(), &receipt(Some(known))).is_err());
    }

    #[test]
    fn finalizations_keep_their_invariants() {
        let mut published = status(|_| {}).finalization;
        assert!(published.is_none());
        let example = crate::mock::examples::responses("get_fleet_managed_upload_status")[1].body
            ["finalization"]
            .clone();
        let ok: ManagedFinalization = serde_json::from_value(example.clone()).unwrap();
        assert!(finalization(&ok).is_ok());
        for (key, value) in [
            ("publication_uid", serde_json::Value::Null),
            ("code", "running".into()),
            ("failures", 6.into()),
            ("available_at", "2024-01-15T10:42:00".into()),
        ] {
            let mut bad = example.clone();
            bad[key] = value;
            published = serde_json::from_value(bad).ok();
            assert!(finalization(published.as_ref().unwrap()).is_err(), "{key}");
        }
        // A state, stage or code this SDK does not know is refused, each
        // on its own (from a consistent pending finalization).
        let waiting = serde_json::json!({
            "uid": SESSION, "state": "pending", "stage": "complete", "attempts": 0,
            "failures": 0, "code": "pending", "available_at": "2024-01-15T10:40:00Z",
            "publication_uid": null, "dataset_uid": null,
        });
        let parsed =
            |v: serde_json::Value| serde_json::from_value::<ManagedFinalization>(v).unwrap();
        assert!(finalization(&parsed(waiting.clone())).is_ok());
        for key in ["state", "stage", "code"] {
            let mut unknown = waiting.clone();
            unknown[key] = "added_later".into();
            assert!(finalization(&parsed(unknown)).is_err(), "unknown {key}");
        }
        let mut pending = example;
        pending["state"] = "pending".into();
        let pending: ManagedFinalization = serde_json::from_value(pending).unwrap();
        assert!(
            finalization(&pending).is_err(),
            "a pending one claims a publication"
        );
    }

    /// Once the receipt holds the published result, the server's
    /// finalization must keep naming that publication and dataset; and a
    /// finalization this session never requested is another's.
    #[test]
    fn a_published_result_keeps_its_identity() {
        let example = crate::mock::examples::responses("get_fleet_managed_upload_status")[1].body
            ["finalization"]
            .clone();
        let outcome = |key: &str, value: &str| -> ManagedFinalization {
            let mut v = example.clone();
            if !key.is_empty() {
                v[key] = value.into();
            }
            serde_json::from_value(v).unwrap()
        };
        let text = |key: &str| example[key].as_str().map(str::to_owned);
        let mut ours = receipt(None);
        ours.finalizing = true;
        ours.finalization_uid = text("uid");
        ours.publication_uid = text("publication_uid");
        ours.dataset_uid = text("dataset_uid");
        assert!(ours.publication_uid.is_some() && ours.dataset_uid.is_some());
        assert!(finalization_matches(&outcome("", ""), &ours).is_ok());
        for key in ["uid", "publication_uid", "dataset_uid"] {
            let other = outcome(key, SESSION);
            assert!(
                finalization_matches(&other, &ours).is_err(),
                "another {key}"
            );
        }
        ours.finalizing = false;
        assert!(finalization_matches(&outcome("", ""), &ours).is_err());
    }
}

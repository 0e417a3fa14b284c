//! Fleet recording uploads over the legacy presigned-PUT protocol (§9.2,
//! §13.2, §10.3) against the embedded mock: a clean upload, resumes, every
//! reconcile and grant check, the PUT retries, local refusals and the wait.

use std::{
    path::Path,
    sync::{Arc, Mutex},
    time::Duration,
};

use avala::{
    mock::{Fault, FleetAnomaly, FleetUrlStyle, MockServer, StorageRoute},
    retry::RetryPolicy,
    types::FleetUploadSessionStatus,
    upload::{ProgressEvent, RecordingUpload, UploadError},
    Error,
};
use sha2::{Digest, Sha256};

mod common;
#[path = "common/fast_retry.rs"]
mod fast_retry;
#[path = "common/tempdir.rs"]
mod tempdir;
use fast_retry::fast;
use tempdir::TempDir;

fn sha(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A mock, a recording directory, a receipts directory and a recording uid.
struct Rig {
    mock: MockServer,
    src: TempDir,
    state: TempDir,
    uid: String,
}

impl Rig {
    async fn new() -> Self {
        Self {
            mock: MockServer::start().await,
            src: TempDir::new(),
            state: TempDir::new(),
            uid: uuid::Uuid::new_v4().to_string(),
        }
    }

    /// `n` files of `len` bytes, `f000.bin`…, returned as (path, bytes).
    fn files(&self, n: usize, len: usize) -> Vec<(String, Vec<u8>)> {
        (0..n)
            .map(|i| {
                let path = format!("f{i:03}.bin");
                let bytes = self.src.file(&path, len);
                (path, bytes)
            })
            .collect()
    }

    fn upload(&self) -> RecordingUpload {
        fast(&self.mock)
            .upload_recording(&self.uid, self.src.path())
            .state_dir(self.state.path())
    }

    /// (path, size, sha256) of the stored objects of this recording.
    fn stored(&self) -> Vec<(String, u64, String)> {
        self.mock
            .fleet()
            .objects()
            .into_iter()
            .filter(|o| o.recording_uid == self.uid)
            .map(|o| (o.path, o.size, o.sha256))
            .collect()
    }

    fn storage_puts(&self) -> usize {
        self.mock.hits(StorageRoute::Fleet.operation_id())
    }

    /// A first run that stops on a refused PUT (403, not retried) after
    /// confirming the rest of its batch.
    async fn interrupted(&self) {
        self.mock
            .storage()
            .fault(StorageRoute::Fleet, Fault::status(403))
            .times(1);
        let e = self.upload().workers(1).send().await.unwrap_err();
        common::assert_error_without_key(&e, MockServer::API_KEY);
        assert!(
            matches!(&e, Error::Upload(u) if matches!(&**u, UploadError::Storage { path, status: 403, .. } if path == "f000.bin")),
            "{e:?}"
        );
    }
}

fn expected(files: &[(String, Vec<u8>)]) -> Vec<(String, u64, String)> {
    let mut v: Vec<_> = files
        .iter()
        .map(|(p, b)| (p.clone(), b.len() as u64, sha(b)))
        .collect();
    v.sort();
    v
}

/// The message of an `UploadError::Mismatch`, after the one key-leak
/// check of the whole error.
fn upload_state(e: &Error) -> &str {
    common::assert_error_without_key(e, MockServer::API_KEY);
    match e {
        Error::Upload(e) => match &**e {
            UploadError::Mismatch { message } => message,
            other => panic!("expected UploadError::Mismatch, got {other:?}"),
        },
        other => panic!("expected UploadError::Mismatch, got {other:?}"),
    }
}

#[tokio::test]
async fn an_upload_shows_its_settings() {
    let rig = Rig::new().await;
    let up = rig
        .upload()
        .storage_config_uid("sc-1")
        .workers(3)
        .wait(Duration::from_secs(30))
        .poll_interval(Duration::from_secs(2));
    assert_eq!(
        format!("{up:?}"),
        format!(
            "RecordingUpload {{ recording_uid: {:?}, source: {:?}, storage_config_uid: \
             Some(\"sc-1\"), workers: 3, state_dir: Some({:?}), wait: Some(30s), \
             poll_interval: 2s, .. }}",
            rig.uid,
            rig.src.path(),
            rig.state.path()
        )
    );
}

#[test]
fn the_benchmarks_file_digest_is_the_sha256_of_the_bytes() {
    let dir = TempDir::new();
    let abc = dir.path().join("abc.bin");
    std::fs::write(&abc, b"abc").unwrap();
    assert_eq!(
        avala::upload::sha256_file_hex(&abc).unwrap(),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}

#[tokio::test]
async fn a_grant_without_headers_is_sent_as_octet_stream() {
    let rig = Rig::new().await;
    let files = rig.files(2, 100);
    rig.mock.edit_next("get_fleet_upload_urls", |b| {
        for grant in b["urls"].as_array_mut().unwrap() {
            grant["headers"] = serde_json::json!({});
        }
    });
    rig.upload().send().await.unwrap();
    assert_eq!(rig.stored(), expected(&files));
    let puts = rig.mock.received_for("storage.fleet");
    assert_eq!(puts.len(), 2);
    for put in puts {
        assert_eq!(put.header("content-type"), Some("application/octet-stream"));
    }
}

#[tokio::test]
async fn a_clean_upload_stores_every_file_and_finalises() {
    let rig = Rig::new().await;
    let mut files = vec![
        (
            "cam/front camera=1.mcap".to_owned(),
            rig.src.file("cam/front camera=1.mcap", 70_000),
        ),
        ("empty.log".to_owned(), rig.src.file("empty.log", 0)),
        (
            "caf\u{e9}/meta+info.json".to_owned(),
            rig.src.file("caf\u{e9}/meta+info.json", 1234),
        ),
    ];
    files.extend(rig.files(3, 4096));
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = events.clone();
    let status = rig
        .upload()
        .storage_config_uid("sc-1")
        .on_progress(move |p| seen.lock().unwrap().push(p.clone()))
        .send()
        .await
        .unwrap();
    assert_eq!(status.status, FleetUploadSessionStatus::Completing);
    assert_eq!((status.total_files, status.confirmed_files), (6, 6));
    assert_eq!(rig.stored(), expected(&files));

    // The wire: init carries the manifest and the storage config; one URL
    // batch with a one-hour TTL; every PUT typed and without the key.
    let init = rig.mock.received_for("init_fleet_upload")[0]
        .json()
        .unwrap();
    assert_eq!(init["storage_config_uid"], "sc-1");
    assert_eq!(init["files"].as_array().unwrap().len(), 6);
    let urls = rig.mock.received_for("get_fleet_upload_urls");
    assert_eq!(urls.len(), 1);
    assert_eq!(urls[0].json().unwrap()["ttl_seconds"], 3600);
    for put in rig.mock.received_for("storage.fleet") {
        assert_eq!(put.header("content-type"), Some("application/octet-stream"));
        assert!(put.header("x-avala-api-key").is_none());
        assert!(put.violations.is_empty(), "{:?}", put.violations);
    }
    assert!(rig.mock.received().iter().all(|r| r.violations.is_empty()));
    assert_eq!(rig.mock.hits("finalize_fleet_upload"), 1);

    let events = events.lock().unwrap().clone();
    let last = events.last().unwrap();
    assert_eq!((last.files_done, last.files_total), (6, 6));
    assert_eq!(last.bytes_done, last.bytes_total);
    let done = events
        .iter()
        .filter(|p| p.event == ProgressEvent::Done)
        .count();
    assert_eq!(done, 6);

    // A second run finds the finished session and sends nothing.
    let again = rig.upload().send().await.unwrap();
    assert_eq!(again.status, FleetUploadSessionStatus::Completed);
    assert_eq!(rig.storage_puts(), 6);
    assert_eq!(rig.mock.hits("init_fleet_upload"), 1);
}

#[tokio::test]
async fn urls_come_in_batches_of_100_each_confirmed() {
    let rig = Rig::new().await;
    let files = rig.files(230, 16);
    rig.upload().workers(8).send().await.unwrap();
    let batches: Vec<usize> = rig
        .mock
        .received_for("get_fleet_upload_urls")
        .iter()
        .map(|r| r.json().unwrap()["file_paths"].as_array().unwrap().len())
        .collect();
    assert_eq!(batches, [100, 100, 30]);
    assert_eq!(rig.mock.hits("confirm_fleet_upload"), 3);
    assert_eq!(rig.stored(), expected(&files));
}

#[tokio::test]
async fn a_resume_sends_only_what_the_server_has_not_confirmed() {
    let rig = Rig::new().await;
    let files = rig.files(150, 1000);
    rig.interrupted().await;
    // The first batch, but the refused file, was confirmed before stopping.
    let first = rig.mock.received_for("confirm_fleet_upload");
    assert_eq!(first.len(), 1);
    assert_eq!(
        first[0].json().unwrap()["files"].as_array().unwrap().len(),
        99
    );
    let before = rig.mock.storage().bytes_received();

    rig.upload().send().await.unwrap();
    let second = rig.mock.storage().bytes_received() - before;
    assert_eq!(
        second,
        51 * 1000,
        "only the 51 unconfirmed files are sent again"
    );
    assert!(rig.mock.fleet().objects().iter().all(|o| o.puts == 1));
    assert_eq!(rig.stored(), expected(&files));
    assert_eq!(rig.mock.hits("init_fleet_upload"), 1);
}

#[tokio::test]
async fn a_dropped_connection_and_a_503_are_retried() {
    let rig = Rig::new().await;
    let files = rig.files(3, 64 * 1024);
    rig.mock
        .storage()
        .fault(StorageRoute::Fleet, Fault::drop_connection())
        .times(1);
    rig.mock
        .storage()
        .fault(StorageRoute::Fleet, Fault::status(503))
        .times(1);
    rig.upload().workers(1).send().await.unwrap();
    assert_eq!(rig.storage_puts(), 5);
    assert_eq!(rig.stored(), expected(&files));
}

#[tokio::test]
async fn puts_stop_after_three_attempts_and_refusals_are_not_retried() {
    let rig = Rig::new().await;
    rig.files(1, 10);
    rig.mock
        .storage()
        .fault(StorageRoute::Fleet, Fault::status(503))
        .times(3);
    let e = rig.upload().send().await.unwrap_err();
    assert!(
        matches!(&e, Error::Upload(u) if matches!(**u, UploadError::Storage { status: 503, .. })),
        "{e:?}"
    );
    assert_eq!(rig.storage_puts(), 3);
    assert_eq!(rig.mock.hits("confirm_fleet_upload"), 0);

    rig.mock
        .storage()
        .fault(StorageRoute::Fleet, Fault::status(400))
        .times(1);
    rig.upload().send().await.unwrap_err();
    assert_eq!(rig.storage_puts(), 4);
    rig.upload().send().await.unwrap();
}

#[tokio::test]
async fn a_disallowed_host_gets_no_byte() {
    let rig = Rig::new().await;
    rig.files(2, 100);
    rig.mock.fleet().anomaly(FleetAnomaly::ForeignHost);
    let e = rig.upload().send().await.unwrap_err();
    match &e {
        Error::Upload(u) => match &**u {
            UploadError::DisallowedUrl { host, .. } => assert_eq!(host, "uploads.example.com"),
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    }
    assert!(!e.to_string().contains("mock-signature"), "{e}");
    assert_eq!(rig.mock.storage().bytes_received(), 0);
    assert_eq!(rig.storage_puts(), 0);
    assert_eq!(rig.mock.hits("confirm_fleet_upload"), 0);
}

#[tokio::test]
async fn grants_that_move_the_object_are_refused_before_a_put() {
    for anomaly in [
        FleetAnomaly::MovedKey,
        FleetAnomaly::WrongObject,
        FleetAnomaly::ForbiddenHeader,
    ] {
        let rig = Rig::new().await;
        rig.files(2, 100);
        rig.mock.fleet().anomaly(anomaly);
        let e = rig.upload().send().await.unwrap_err();
        let message = upload_state(&e);
        assert!(message.contains("urls"), "{anomaly:?}: {message}");
        assert_eq!(rig.storage_puts(), 0, "{anomaly:?}");
        // The receipts stay: the next run resumes the same session.
        rig.upload().send().await.unwrap();
        assert_eq!(rig.mock.hits("init_fleet_upload"), 1, "{anomaly:?}");
    }
}

#[tokio::test]
async fn virtual_hosted_urls_on_loopback_are_accepted_when_they_name_the_key() {
    // `/<key>` without a bucket segment, as S3-compatible local stores serve.
    let rig = Rig::new().await;
    let files = rig.files(3, 700);
    rig.mock.fleet().url_style(FleetUrlStyle::VirtualHosted);
    rig.upload().send().await.unwrap();
    assert_eq!(rig.stored(), expected(&files));
    for put in rig.mock.received_for("storage.fleet") {
        assert!(put.path.starts_with("/fleet/mock-org/"), "{}", put.path);
    }

    // `/<other key>`: refused before a byte is sent, the receipts kept.
    let rig = Rig::new().await;
    rig.files(2, 100);
    rig.mock.fleet().url_style(FleetUrlStyle::VirtualHosted);
    rig.mock.fleet().anomaly(FleetAnomaly::WrongObject);
    let e = rig.upload().send().await.unwrap_err();
    let message = upload_state(&e);
    assert!(
        message.contains("does not name its object key"),
        "{message}"
    );
    assert_eq!(rig.mock.storage().bytes_received(), 0);
    assert_eq!(rig.storage_puts(), 0);
    rig.upload().send().await.unwrap();
    assert_eq!(rig.mock.hits("init_fleet_upload"), 1);
}

#[tokio::test]
async fn a_missing_etag_stops_after_confirming_the_others() {
    let rig = Rig::new().await;
    let files = rig.files(4, 100);
    rig.mock.fleet().anomaly(FleetAnomaly::NoEtag);
    let e = rig.upload().workers(1).send().await.unwrap_err();
    assert!(upload_state(&e).contains("ETag"), "{e}");
    let confirm = rig.mock.received_for("confirm_fleet_upload");
    assert_eq!(
        confirm[0].json().unwrap()["files"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    rig.upload().send().await.unwrap();
    assert_eq!(rig.storage_puts(), 5);
    assert_eq!(rig.stored(), expected(&files));
}

#[tokio::test]
async fn each_reconcile_rule_is_refused_and_the_receipts_stay() {
    for (anomaly, says) in [
        (FleetAnomaly::StatusSession, "session"),
        (FleetAnomaly::StatusUnknownState, "paused"),
        (FleetAnomaly::StatusCounters, "counts"),
        (FleetAnomaly::PendingCap, "cap"),
        (FleetAnomaly::PendingDuplicate, "twice"),
        (FleetAnomaly::PendingUnknown, "not in the manifest"),
        (FleetAnomaly::CompletedWithPending, "pending"),
        (FleetAnomaly::Abandon, "abandoned"),
    ] {
        let rig = Rig::new().await;
        rig.files(3, 100);
        rig.interrupted().await;
        let puts = rig.storage_puts();
        rig.mock.fleet().anomaly(anomaly);
        let e = rig.upload().send().await.unwrap_err();
        let message = upload_state(&e);
        assert!(message.contains(says), "{anomaly:?}: {message}");
        assert!(message.contains("Keep the receipts at"), "{message}");
        assert!(message.contains(&rig.uid), "{message}");
        assert_eq!(
            rig.storage_puts(),
            puts,
            "{anomaly:?}: nothing more is sent"
        );
        assert_eq!(rig.mock.hits("get_fleet_upload_urls"), 1, "{anomaly:?}");
        // A one-off anomaly passes: the same call resumes.
        let again = rig.upload().send().await;
        if anomaly == FleetAnomaly::Abandon {
            let e = again.unwrap_err();
            assert!(upload_state(&e).contains("abandoned"), "{e}");
            assert!(upload_state(&e).contains("cannot continue"), "{e}");
        } else {
            again.unwrap();
        }
    }
}

#[tokio::test]
async fn a_session_without_receipts_here_is_not_taken_over() {
    let rig = Rig::new().await;
    rig.files(2, 100);
    rig.interrupted().await;
    let elsewhere = TempDir::new();
    let e = rig
        .upload()
        .state_dir(elsewhere.path())
        .send()
        .await
        .unwrap_err();
    assert!(upload_state(&e).contains("already has session"), "{e}");
    assert_eq!(rig.mock.hits("init_fleet_upload"), 1);

    // Receipts whose session the server no longer knows: not a silent restart.
    rig.mock.reset();
    let e = rig.upload().send().await.unwrap_err();
    assert!(upload_state(&e).contains("has no upload session"), "{e}");
    assert!(upload_state(&e).contains("move the receipts away"), "{e}");
    assert_eq!(rig.mock.hits("init_fleet_upload"), 0);
}

#[tokio::test]
async fn a_404_without_the_exact_no_session_body_proves_nothing() {
    let rig = Rig::new().await;
    rig.files(2, 100);
    rig.mock
        .fault(
            "get_fleet_upload_status",
            Fault::status(404).json(serde_json::json!({"detail": "Not found."})),
        )
        .times(1);
    let e = rig.upload().send().await.unwrap_err();
    assert!(upload_state(&e).contains("no-session"), "{e}");
    assert_eq!(rig.mock.hits("init_fleet_upload"), 0);
    rig.upload().send().await.unwrap();
}

#[tokio::test]
async fn bad_init_confirm_and_finalize_answers_are_refused() {
    for (anomaly, step) in [
        (FleetAnomaly::InitPrefix, "init"),
        (FleetAnomaly::ConfirmCounters, "confirm"),
        (FleetAnomaly::ConfirmSession, "confirm"),
        (FleetAnomaly::FinalizeNoDetail, "finalize"),
    ] {
        let rig = Rig::new().await;
        rig.files(2, 100);
        rig.mock.fleet().anomaly(anomaly);
        let e = rig.upload().send().await.unwrap_err();
        assert!(
            upload_state(&e).contains(&format!(", {step}:")),
            "{anomaly:?}: {e}"
        );
        if anomaly == FleetAnomaly::InitPrefix {
            assert_eq!(rig.storage_puts(), 0);
        }
    }
}

#[tokio::test]
async fn a_file_changed_between_runs_is_refused() {
    let rig = Rig::new().await;
    let files = rig.files(3, 100);
    rig.interrupted().await;
    // Same size, other bytes.
    let mut changed = files[2].1.clone();
    changed[0] ^= 0xff;
    std::fs::write(rig.src.path().join(&files[2].0), &changed).unwrap();
    let e = rig.upload().send().await.unwrap_err();
    let message = upload_state(&e);
    assert!(
        message.contains(&files[2].0) && message.contains("other contents"),
        "{message}"
    );
    assert_eq!(rig.mock.hits("get_fleet_upload_urls"), 1);

    // Restored, it resumes; an added file is refused the same way.
    std::fs::write(rig.src.path().join(&files[2].0), &files[2].1).unwrap();
    rig.src.file("late.bin", 5);
    let e = rig.upload().send().await.unwrap_err();
    assert!(upload_state(&e).contains("`late.bin` was added"), "{e}");
    std::fs::remove_file(rig.src.path().join("late.bin")).unwrap();
    rig.upload().send().await.unwrap();
    assert_eq!(rig.stored(), expected(&files));
}

#[tokio::test(start_paused = true)]
async fn the_wait_ends_on_ready_error_or_timeout() {
    let rig = Rig::new().await;
    rig.files(2, 100);
    rig.mock
        .fleet()
        .recording_statuses(&rig.uid, ["processing", "processing", "ready"]);
    let started = tokio::time::Instant::now();
    let status = rig
        .upload()
        .wait(Duration::from_secs(60))
        .send()
        .await
        .unwrap();
    assert_eq!(status.status, FleetUploadSessionStatus::Completed);
    assert_eq!(rig.mock.hits("get_fleet_recording"), 3);
    // Two of §10.3's 10 s intervals.
    assert_eq!(started.elapsed(), Duration::from_secs(20));

    // `error` is the failure of the outcome rule, on its first sight.
    let rig = Rig::new().await;
    rig.files(2, 100);
    rig.mock
        .fleet()
        .recording_statuses(&rig.uid, ["processing", "error"]);
    let e = rig
        .upload()
        .wait(Duration::from_secs(60))
        .send()
        .await
        .unwrap_err();
    match &e {
        Error::JobFailed { job, status } => {
            assert_eq!(*job, format!("recording {}", rig.uid));
            assert_eq!(status, "recording error, upload completed");
        }
        other => panic!("expected JobFailed, got {other:?}"),
    }
    assert_eq!(rig.mock.hits("get_fleet_recording"), 2);

    // Past the timeout: WaitTimeout with the last status, at the deadline.
    let rig = Rig::new().await;
    rig.files(2, 100);
    rig.mock
        .fleet()
        .recording_statuses(&rig.uid, ["processing"]);
    let started = tokio::time::Instant::now();
    let e = rig
        .upload()
        .wait(Duration::from_secs(25))
        .send()
        .await
        .unwrap_err();
    match e {
        Error::WaitTimeout { last_status, .. } => assert_eq!(
            last_status.as_deref(),
            Some("recording processing, upload completed")
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(started.elapsed(), Duration::from_secs(25));
    // Polls at 0, 10, 20 and at the deadline (25).
    assert_eq!(rig.mock.hits("get_fleet_recording"), 4);
}

#[tokio::test(start_paused = true)]
async fn the_poll_interval_is_capped_at_ten_seconds() {
    let rig = Rig::new().await;
    rig.files(1, 100);
    rig.mock
        .fleet()
        .recording_statuses(&rig.uid, ["processing", "ready"]);
    let started = tokio::time::Instant::now();
    rig.upload()
        .wait(Duration::from_secs(3600))
        .poll_interval(Duration::from_secs(3600))
        .send()
        .await
        .unwrap();
    assert_eq!(started.elapsed(), Duration::from_secs(10));
    assert_eq!(rig.mock.hits("get_fleet_recording"), 2);
}

#[tokio::test]
async fn workers_outside_1_to_64_are_refused_before_any_request() {
    let rig = Rig::new().await;
    rig.files(1, 100);
    for workers in [0, 65] {
        let e = rig.upload().workers(workers).send().await.unwrap_err();
        assert!(
            matches!(&e, Error::InvalidArgument { message } if message.contains("workers")),
            "{e:?}"
        );
    }
    assert!(rig.mock.received().is_empty());
    rig.upload().workers(64).send().await.unwrap();
}

/// `UploadError::StateNotPrivate`.
#[cfg(unix)]
fn not_private(e: &Error) -> &UploadError {
    common::assert_error_without_key(e, MockServer::API_KEY);
    match e {
        Error::Upload(u) if matches!(**u, UploadError::StateNotPrivate { .. }) => u,
        other => panic!("expected StateNotPrivate, got {other:?}"),
    }
}

#[cfg(unix)]
#[tokio::test]
async fn receipts_are_not_read_through_a_symlink_nor_kept_in_a_shared_dir() {
    use std::os::unix::fs::PermissionsExt;
    // A receipt replaced by a symbolic link to another file.
    let rig = Rig::new().await;
    rig.files(2, 100);
    rig.interrupted().await;
    let receipt = std::fs::read_dir(rig.state.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "json"))
        .unwrap();
    let target = rig.src.path().join("..").join(format!(
        "{}.target",
        receipt.file_name().unwrap().to_string_lossy()
    ));
    std::fs::rename(&receipt, &target).unwrap();
    let before = std::fs::read(&target).unwrap();
    std::os::unix::fs::symlink(&target, &receipt).unwrap();
    let requests = rig.mock.received().len();
    let e = rig.upload().send().await.unwrap_err();
    not_private(&e);
    assert_eq!(std::fs::read(&target).unwrap(), before);
    assert!(std::fs::symlink_metadata(&receipt)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(rig.mock.received().len(), requests, "no request");
    std::fs::remove_file(&target).unwrap();

    // A state directory others may write to.
    let rig = Rig::new().await;
    rig.files(1, 10);
    std::fs::set_permissions(rig.state.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let e = rig.upload().send().await.unwrap_err();
    match not_private(&e) {
        UploadError::StateNotPrivate { path, .. } => assert_eq!(path, rig.state.path()),
        _ => unreachable!(),
    }
    assert!(rig.mock.received().is_empty());
    assert_eq!(std::fs::read_dir(rig.state.path()).unwrap().count(), 0);
}

#[tokio::test]
async fn local_refusals_come_before_any_request() {
    type Make = Box<dyn Fn(&Path)>;
    let cases: Vec<(&str, Make)> = vec![
        (
            "whitespace",
            Box::new(|d: &Path| std::fs::write(d.join(" lead.bin"), b"x").unwrap()),
        ),
        (
            "backslash",
            Box::new(|d: &Path| std::fs::write(d.join("a\\b.bin"), b"x").unwrap()),
        ),
        (
            "1024",
            Box::new(|d: &Path| {
                let deep = d
                    .join("d".repeat(250))
                    .join("e".repeat(250))
                    .join("f".repeat(250))
                    .join("g".repeat(250));
                std::fs::create_dir_all(&deep).unwrap();
                std::fs::write(deep.join("h".repeat(30)), b"x").unwrap();
            }),
        ),
        #[cfg(unix)]
        (
            "symbolic link",
            Box::new(|d: &Path| {
                std::fs::write(d.join("real.bin"), b"x").unwrap();
                std::os::unix::fs::symlink(d.join("real.bin"), d.join("link.bin")).unwrap();
            }),
        ),
        ("no file", Box::new(|_: &Path| {})),
    ];
    for (says, make) in cases {
        let rig = Rig::new().await;
        make(rig.src.path());
        let e = rig.upload().send().await.unwrap_err();
        match &e {
            Error::Upload(u) => match &**u {
                UploadError::Rejected { path, .. } => {
                    assert!(path.starts_with(rig.src.path()), "{says}: {path:?}")
                }
                other => panic!("{says}: expected Rejected, got {other:?}"),
            },
            other => panic!("{says}: expected Rejected, got {other:?}"),
        }
        assert!(e.to_string().contains(says), "{says}: {e}");
        assert!(rig.mock.received().is_empty(), "{says}: no request");
    }
    let rig = Rig::new().await;
    rig.files(1, 1);
    let e = rig
        .mock
        .client()
        .upload_recording("rec_1", rig.src.path())
        .state_dir(rig.state.path())
        .send()
        .await
        .unwrap_err();
    match &e {
        Error::InvalidArgument { message } => assert!(message.contains("\"rec_1\""), "{message}"),
        other => panic!("expected InvalidArgument, got {other:?}"),
    }
    assert!(rig.mock.received().is_empty());
}

/// The longest wait a server can impose on an upload (README "Security").
const SERVER_WAIT_CAP: Duration = Duration::from_secs(60);

#[tokio::test(start_paused = true)]
async fn a_retry_after_on_a_put_is_honoured_up_to_the_cap_and_ends_the_run_past_it() {
    let rig = Rig::new().await;
    rig.files(1, 100);
    rig.mock.storage().fault(
        StorageRoute::Fleet,
        Fault::status(429).header("Retry-After", "86400"),
    );
    let started = tokio::time::Instant::now();
    let e = rig.upload().send().await.unwrap_err();
    assert!(
        started.elapsed() < SERVER_WAIT_CAP,
        "{:?}",
        started.elapsed()
    );
    assert!(
        matches!(&e, Error::Upload(u) if matches!(**u, UploadError::Storage {
            status: 429,
            retry_after: Some(after),
            ..
        } if after == Duration::from_secs(86_400))),
        "{e:?}"
    );
    assert_eq!(rig.storage_puts(), 1, "not sent again");

    // Within the cap the server's wait is waited for (longer than the
    // policy's 1 ms step), then the PUT is sent again.
    let rig = Rig::new().await;
    let files = rig.files(1, 100);
    rig.mock
        .storage()
        .fault(
            StorageRoute::Fleet,
            Fault::status(503).header("Retry-After", "20"),
        )
        .times(1);
    let started = tokio::time::Instant::now();
    rig.upload().send().await.unwrap();
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(20) && waited < SERVER_WAIT_CAP,
        "{waited:?}"
    );
    assert_eq!(rig.storage_puts(), 2);
    assert_eq!(rig.stored(), expected(&files));
}

#[cfg(unix)]
#[tokio::test]
async fn a_file_swapped_for_a_link_to_a_secret_before_its_put_sends_none_of_it() {
    let rig = Rig::new().await;
    let files = rig.files(1, 5000);
    let outside = TempDir::new();
    let secret = outside.file("secret.bin", 5000);
    assert_ne!(secret, files[0].1);
    let path = rig.src.path().join(&files[0].0);
    let (swap, link_to) = (path.clone(), outside.path().join("secret.bin"));
    // Hashed and granted, then swapped as its PUT starts.
    let e = rig
        .upload()
        .on_progress(move |p| {
            if matches!(p.event, ProgressEvent::Started { .. }) && !swap.is_symlink() {
                std::fs::remove_file(&swap).unwrap();
                std::os::unix::fs::symlink(&link_to, &swap).unwrap();
            }
        })
        .send()
        .await
        .unwrap_err();
    assert!(
        matches!(&e, Error::Upload(u) if matches!(&**u, UploadError::FileChanged { path: p } if *p == path)),
        "{e:?}"
    );
    // What storage holds is the file that was hashed, never the secret.
    let stored = rig.stored();
    assert!(
        stored.iter().all(|(_, _, sha256)| *sha256 != sha(&secret)),
        "the secret was stored: {stored:?}"
    );
    assert!(
        stored.is_empty() || stored == expected(&files),
        "{stored:?}"
    );
    assert_eq!(rig.mock.hits("finalize_fleet_upload"), 0);
}

#[cfg(unix)]
#[tokio::test]
async fn a_special_file_in_a_recording_is_refused_before_any_request() {
    let rig = Rig::new().await;
    rig.files(1, 10);
    let _socket =
        std::os::unix::net::UnixListener::bind(rig.src.path().join("agent.sock")).unwrap();
    let e = rig.upload().send().await.unwrap_err();
    assert!(
        matches!(&e, Error::Upload(u) if matches!(&**u, UploadError::Rejected { path, .. } if *path == rig.src.path().join("agent.sock"))),
        "{e:?}"
    );
    assert!(
        e.to_string().contains("agent.sock") && e.to_string().contains("not a regular file"),
        "{e}"
    );
    assert!(rig.mock.received().is_empty(), "no request");
}

#[tokio::test(start_paused = true)]
async fn a_408_from_storage_is_retried_by_the_fleet_put_as_by_every_upload() {
    // Issue 20: one storage rule. The legacy PUT used to give up on a 408
    // that the dataset upload retried. Virtual time: the default policy.
    let mock = MockServer::start().await;
    let (src, state) = (TempDir::new(), TempDir::new());
    src.file("f.bin", 100);
    mock.storage()
        .fault(StorageRoute::Fleet, Fault::status(408))
        .times(1);
    let uid = uuid::Uuid::new_v4().to_string();
    mock.client()
        .upload_recording(&uid, src.path())
        .state_dir(state.path())
        .send()
        .await
        .unwrap();
    assert_eq!(mock.hits(StorageRoute::Fleet.operation_id()), 2);
}

#[tokio::test(start_paused = true)]
async fn the_fleet_put_waits_the_backoff_of_the_clients_retry_policy() {
    // The upload reads the client's policy: one 10 s step, cut to 5–10 s
    // (virtual time), where the 1 ms test policy would hardly wait.
    let mock = MockServer::start().await;
    let (src, state) = (TempDir::new(), TempDir::new());
    src.file("f.bin", 100);
    mock.storage()
        .fault(StorageRoute::Fleet, Fault::status(503))
        .times(1);
    let step = Duration::from_secs(10);
    let client = mock
        .client_builder()
        .retry_policy(RetryPolicy::default().base_delay(step).max_delay(step))
        .build()
        .unwrap();
    let started = tokio::time::Instant::now();
    client
        .upload_recording(uuid::Uuid::new_v4().to_string(), src.path())
        .state_dir(state.path())
        .send()
        .await
        .unwrap();
    assert!(started.elapsed() >= step / 2, "{:?}", started.elapsed());
    assert_eq!(mock.hits(StorageRoute::Fleet.operation_id()), 2);
}

// ---------------------------------------------------------------------------
// The flow's own checks (src/upload/fleet/legacy/flow.rs), each with the
// reason it gives (docs/testing.md maps branch → test).

const OTHER_SESSION: &str = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d";

#[tokio::test]
async fn a_file_pending_after_all_were_confirmed_is_not_finalized() {
    let rig = Rig::new().await;
    let files = rig.files(2, 100);
    // The status before the finalisation lists a file whose confirmation
    // the server acknowledged (the first success answer is that status:
    // the 404 before init is not one).
    let pending = files[0].0.clone();
    rig.mock.edit_next("get_fleet_upload_status", move |b| {
        b["pending_paths"] = serde_json::json!([pending]);
        b["confirmed_files"] = 1.into();
        b["confirmed_bytes"] = 100.into();
    });
    let e = rig.upload().send().await.unwrap_err();
    let message = upload_state(&e);
    assert!(
        message.contains(", status before finalize: the server lists `f000.bin` as pending though it acknowledged its confirmation"),
        "{message}"
    );
    assert!(message.contains("run the same upload again"), "{message}");
    assert_eq!(rig.mock.hits("finalize_fleet_upload"), 0);
    // Nothing is lost: the same call finalizes.
    rig.upload().send().await.unwrap();
    assert_eq!(rig.mock.hits("finalize_fleet_upload"), 1);
}

#[tokio::test]
async fn a_finalize_answer_naming_another_session_is_refused() {
    let rig = Rig::new().await;
    rig.files(2, 100);
    rig.mock.edit_next("finalize_fleet_upload", |b| {
        b["session_uid"] = OTHER_SESSION.into();
    });
    let e = rig.upload().send().await.unwrap_err();
    let message = upload_state(&e);
    assert!(
        message.contains(", finalize: the acknowledgement lacks `detail` or names another session"),
        "{message}"
    );
    // No status is asked after a refused acknowledgement.
    let after: Vec<_> = rig
        .mock
        .received()
        .into_iter()
        .skip_while(|r| r.operation_id.as_deref() != Some("finalize_fleet_upload"))
        .filter_map(|r| r.operation_id)
        .collect();
    assert_eq!(after, ["finalize_fleet_upload"]);
}

#[tokio::test]
async fn a_5xx_on_the_first_status_opens_no_session() {
    let rig = Rig::new().await;
    rig.files(2, 100);
    rig.mock
        .fault("get_fleet_upload_status", Fault::status(500))
        .times(1);
    let e = rig.upload().send().await.unwrap_err();
    assert!(matches!(e, Error::Server(_)), "{e:?}");
    assert_eq!(e.status(), Some(500));
    assert_eq!(rig.mock.hits("get_fleet_upload_status"), 1, "not retried");
    assert_eq!(rig.mock.hits("init_fleet_upload"), 0);
    assert_eq!(rig.storage_puts(), 0);
    // No session was opened: the same call starts one.
    rig.upload().send().await.unwrap();
    assert_eq!(rig.mock.hits("init_fleet_upload"), 1);
}

#[tokio::test]
async fn a_session_after_finalize_in_another_state_is_refused() {
    let rig = Rig::new().await;
    rig.files(1, 100);
    // Before finalize: the mock's own status; after it: `uploading`.
    rig.mock.edit_next("get_fleet_upload_status", |_| {});
    rig.mock.edit_next("get_fleet_upload_status", |b| {
        b["status"] = "uploading".into();
    });
    let e = rig.upload().send().await.unwrap_err();
    let message = upload_state(&e);
    assert!(
        message.contains(
            ", status after finalize: the session is `uploading`, not completing or completed"
        ),
        "{message}"
    );
}

#[tokio::test]
async fn a_status_after_finalize_naming_another_session_is_refused() {
    let rig = Rig::new().await;
    rig.files(1, 100);
    rig.mock.edit_next("get_fleet_upload_status", |_| {});
    rig.mock.edit_next("get_fleet_upload_status", |b| {
        b["session_uid"] = OTHER_SESSION.into();
    });
    let e = rig.upload().send().await.unwrap_err();
    let message = upload_state(&e);
    assert!(
        message.contains(&format!(
            ", status after finalize: the server's session is \"{OTHER_SESSION}\", ours is"
        )),
        "{message}"
    );
}

#[tokio::test]
async fn a_file_changed_during_a_run_is_not_finalized() {
    let rig = Rig::new().await;
    rig.files(2, 100);
    let first = rig.src.path().join("f000.bin");
    let target = first.clone();
    // Once f000.bin is stored (and before the finalisation), it grows.
    let e = rig
        .upload()
        .workers(1)
        .on_progress(move |p| {
            if p.path == "f000.bin" && p.event == ProgressEvent::Done {
                tempdir::grow(&target, b"more");
            }
        })
        .send()
        .await
        .unwrap_err();
    assert!(
        matches!(&e, Error::Upload(u) if matches!(&**u, UploadError::FileChanged { path } if *path == first)),
        "{e:?}"
    );
    assert_eq!(rig.storage_puts(), 2);
    assert_eq!(rig.mock.hits("finalize_fleet_upload"), 0);
}

#[tokio::test]
async fn a_file_changed_while_its_put_is_under_way_is_not_confirmed() {
    let rig = Rig::new().await;
    rig.files(1, 100);
    let path = rig.src.path().join("f000.bin");
    let target = path.clone();
    // It grows once its PUT has started: the PUT is sent, not confirmed.
    let e = rig
        .upload()
        .on_progress(move |p| {
            if matches!(p.event, ProgressEvent::Started { .. }) {
                tempdir::grow(&target, b"x");
            }
        })
        .send()
        .await
        .unwrap_err();
    assert!(
        matches!(&e, Error::Upload(u) if matches!(&**u, UploadError::FileChanged { path: p } if *p == path)),
        "{e:?}"
    );
    assert_eq!(rig.storage_puts(), 1);
    assert_eq!(rig.mock.hits("confirm_fleet_upload"), 0);
}

#[tokio::test]
async fn a_file_changed_between_put_attempts_is_not_sent_again() {
    let rig = Rig::new().await;
    rig.files(1, 100);
    let path = rig.src.path().join("f000.bin");
    let target = path.clone();
    // The first PUT fails (503, retried); the file grows meanwhile.
    rig.mock
        .storage()
        .fault(StorageRoute::Fleet, Fault::status(503))
        .times(1);
    let e = rig
        .upload()
        .on_progress(move |p| {
            if matches!(p.event, ProgressEvent::Started { .. }) {
                tempdir::grow(&target, b"x");
            }
        })
        .send()
        .await
        .unwrap_err();
    assert!(
        matches!(&e, Error::Upload(u) if matches!(&**u, UploadError::FileChanged { path: p } if *p == path)),
        "{e:?}"
    );
    assert_eq!(rig.storage_puts(), 1, "the changed file was not sent again");
    assert_eq!(rig.mock.hits("confirm_fleet_upload"), 0);
}

#[tokio::test(start_paused = true)]
async fn a_session_that_changes_while_waiting_ends_the_wait() {
    let rig = Rig::new().await;
    rig.files(1, 100);
    rig.mock
        .fleet()
        .recording_statuses(&rig.uid, ["processing", "ready"]);
    // Before finalize and after it: the mock's own; at the first poll:
    // another session.
    rig.mock.edit_next("get_fleet_upload_status", |_| {});
    rig.mock.edit_next("get_fleet_upload_status", |_| {});
    rig.mock.edit_next("get_fleet_upload_status", |b| {
        b["session_uid"] = OTHER_SESSION.into();
    });
    let e = rig
        .upload()
        .wait(Duration::from_secs(60))
        .send()
        .await
        .unwrap_err();
    let message = upload_state(&e);
    assert!(
        message.starts_with(&format!(
            "while waiting, the recording's upload session became \"{OTHER_SESSION}\" (ours is"
        )),
        "{message}"
    );
    assert!(
        message.contains("the upload itself was finalised"),
        "{message}"
    );
    assert_eq!(rig.mock.hits("finalize_fleet_upload"), 1);
    assert_eq!(rig.mock.hits("get_fleet_recording"), 1);
}

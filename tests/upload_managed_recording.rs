//! Managed Fleet uploads (§9.3, §10.4) against the embedded mock: a clean
//! upload, resumes, every scripted server anomaly refused with
//! `UploadError::Mismatch`, the data plane's failures, the publication waits and the
//! constraints checked before any request.

use std::{
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::Duration,
};

use avala::{
    mock::{Fault, ManagedAnomaly, MockServer, StorageRoute},
    types::ManagedFinalizationState,
    upload::{ManagedRecordingUpload, Progress, ProgressEvent, UploadError},
    Error,
};
use sha2::{Digest, Sha256};

mod common;
#[path = "common/fast_retry.rs"]
mod fast_retry;
use fast_retry::fast;

const MIB: u64 = 1024 * 1024;
const PART: u64 = 64 * MIB;
const RECORDING: &str = "0f8fad5b-d9cb-469f-a165-70867728950e";

/// A directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        let dir =
            std::env::temp_dir().join(format!("avala-managed-test-{:016x}", fastrand::u64(..)));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }

    /// Writes `len` pseudo-random bytes at `rel`.
    fn file(&self, rel: &str, len: usize) -> PathBuf {
        let path = self.0.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let mut rng = fastrand::Rng::with_seed(len as u64 ^ rel.len() as u64);
        std::fs::write(&path, (0..len).map(|_| rng.u8(..)).collect::<Vec<u8>>()).unwrap();
        path
    }

    /// A sparse file of `len` bytes with random 4 KiB marks around every
    /// part boundary, so that a part sent from the wrong offset shows.
    fn sparse(&self, rel: &str, len: u64) -> PathBuf {
        use std::os::unix::fs::FileExt;
        let path = self.0.join(rel);
        let file = std::fs::File::create(&path).unwrap();
        file.set_len(len).unwrap();
        let mut rng = fastrand::Rng::with_seed(len);
        let mut at = 0;
        while at < len {
            for offset in [at, (at + PART).min(len).saturating_sub(4096)] {
                // Within `len`: a last part shorter than a mark stays short.
                let mark: Vec<u8> = (0..4096.min(len - offset)).map(|_| rng.u8(..)).collect();
                file.write_all_at(&mark, offset).unwrap();
            }
            at += PART;
        }
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn sha_of(path: &Path) -> String {
    let mut file = std::fs::File::open(path).unwrap();
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher).unwrap();
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// An upload of `dir` to the mock with test timings.
fn upload(mock: &MockServer, dir: &TempDir, state: &TempDir) -> ManagedRecordingUpload {
    fast(mock)
        .upload_managed_recording(RECORDING, dir.path())
        .state_dir(state.path())
        .poll_interval(Duration::from_millis(10))
}

/// `UploadError::Mismatch`, with a message that says how to resume and
/// leaks nothing ([`upload_error`]'s checks).
fn state_error<T: std::fmt::Debug>(result: avala::Result<T>) -> String {
    match upload_error(result) {
        UploadError::Mismatch { message } => {
            assert!(message.contains("run the upload again"), "{message}");
            message
        }
        other => panic!("expected UploadError::Mismatch, got {other:?}"),
    }
}

/// The `UploadError` of `result`: no representation of the error holds
/// the key (the one check, `common::assert_error_without_key`) nor a
/// grant's signature.
fn upload_error<T: std::fmt::Debug>(result: avala::Result<T>) -> UploadError {
    match result {
        Err(err) => {
            common::assert_error_without_key(&err, MockServer::API_KEY);
            let text = format!("{err:?} {err}");
            assert!(!text.contains("X-Amz-Signature"), "{text}");
            match err {
                Error::Upload(e) => *e,
                other => panic!("expected an upload error, got {other:?}"),
            }
        }
        Ok(v) => panic!("expected an upload error, got {v:?}"),
    }
}

/// Part PUTs carried no API key, only `Content-Length` among the grant's
/// headers, and the mock storage refused none.
fn assert_parts_clean(mock: &MockServer) {
    for r in mock.received_for(StorageRoute::ManagedPart.operation_id()) {
        assert!(
            r.header("x-avala-api-key").is_none(),
            "the key went to storage"
        );
        assert!(r.violations.is_empty(), "{r:?}");
        let names: Vec<&str> = r.headers.keys().map(|h| h.as_str()).collect();
        for name in &names {
            assert!(
                ["content-length", "host", "user-agent", "accept"].contains(name),
                "unexpected part header {name}"
            );
        }
        assert!(names.contains(&"content-length"));
    }
}

fn objects(mock: &MockServer) -> Vec<(String, u64, Option<String>)> {
    mock.fleet()
        .managed_objects()
        .into_iter()
        .map(|o| (o.path, o.size, o.sha256))
        .collect()
}

/// Runs the upload, and on the first `BytesSent` calls `then` once.
fn after_first_part(
    up: ManagedRecordingUpload,
    then: impl Fn() + Send + Sync + 'static,
) -> ManagedRecordingUpload {
    let fired = std::sync::atomic::AtomicBool::new(false);
    up.on_progress(move |p: &Progress| {
        if matches!(p.event, ProgressEvent::BytesSent(_))
            && !fired.swap(true, std::sync::atomic::Ordering::SeqCst)
        {
            then();
        }
    })
}

#[tokio::test]
async fn a_clean_upload_stores_every_file_whole_and_publishes() {
    let mock = MockServer::start().await;
    let dir = TempDir::new();
    let state = TempDir::new();
    let a = dir.file("run/cam.mcap", 5000);
    let b = dir.file("imu.MCAP", 1);
    let events = Arc::new(Mutex::new(Vec::<Progress>::new()));
    let seen = events.clone();

    let status = upload(&mock, &dir, &state)
        .workers(4)
        .on_progress(move |p| seen.lock().unwrap().push(p.clone()))
        .send()
        .await
        .unwrap();

    let finalization = status.finalization.expect("finalized");
    assert_eq!(finalization.state, ManagedFinalizationState::Succeeded);
    assert_eq!((status.confirmed_files, status.total_bytes), (2, 5001));
    let mut want = vec![
        ("imu.MCAP".to_owned(), 1, Some(sha_of(&b))),
        ("run/cam.mcap".to_owned(), 5000, Some(sha_of(&a))),
    ];
    let mut got = objects(&mock);
    got.sort();
    want.sort();
    assert_eq!(got, want);
    assert_eq!(mock.storage().bytes_received(), 5001);
    assert_parts_clean(&mock);
    // The admit carried the manifest; the finalize listed the files sorted
    // by file uid; every call carried the protocol and one session uid.
    let admit = &mock.received_for("admit_fleet_managed_upload")[0];
    let admit = admit.json().unwrap();
    let session = admit["session_uid"].as_str().unwrap().to_owned();
    assert_eq!(admit["files"][1]["content_sha256"], sha_of(&a));
    assert_eq!(mock.hits("init_fleet_managed_multipart"), 2);
    let finalize = mock.received_for("finalize_fleet_managed_upload")[0]
        .json()
        .unwrap();
    let uids: Vec<&str> = finalize["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["file_uid"].as_str().unwrap())
        .collect();
    let mut sorted = uids.clone();
    sorted.sort();
    assert_eq!(uids, sorted);
    for r in mock
        .received()
        .iter()
        .filter(|r| r.path.contains("managed-upload"))
    {
        let sent = r
            .json()
            .map(|b| b["session_uid"].as_str().map(str::to_owned))
            .unwrap_or_else(|| r.query_param("session_uid"));
        assert_eq!(sent.as_deref(), Some(session.as_str()), "{}", r.path);
        assert!(r.violations.is_empty(), "{r:?}");
    }
    // Progress: every byte, both files done.
    let last = events.lock().unwrap().last().cloned().unwrap();
    assert_eq!(
        (last.files_done, last.bytes_done, last.bytes_sent),
        (2, 5001, 5001)
    );
    // The receipt is private and a second run sends nothing.
    let receipt = std::fs::read_dir(state.path())
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        receipt.metadata().unwrap().permissions().mode() & 0o777,
        0o600
    );
    let again = upload(&mock, &dir, &state).send().await.unwrap();
    assert_eq!(
        again.finalization.unwrap().state,
        ManagedFinalizationState::Succeeded
    );
    assert_eq!(mock.storage().bytes_received(), 5001);
    assert_eq!(mock.hits("admit_fleet_managed_upload"), 1);
    assert_eq!(mock.hits("finalize_fleet_managed_upload"), 1);
}

#[tokio::test]
async fn a_run_stopped_by_a_503_on_a_part_resumes_without_resending() {
    let mock = Arc::new(MockServer::start().await);
    let dir = TempDir::new();
    let state = TempDir::new();
    let big = dir.sparse("drive.mcap", 2 * PART + 2 * MIB);
    // The second part's PUT gets a 503: parts are never retried in a run
    // (their outcome is uncertain), so the run stops there.
    let faulty = mock.clone();
    let first = after_first_part(upload(&mock, &dir, &state).workers(1), move || {
        faulty
            .storage()
            .fault(StorageRoute::ManagedPart, Fault::status(503))
            .times(1);
    })
    .send()
    .await;
    match upload_error(first) {
        UploadError::Storage {
            status: 503, path, ..
        } => assert_eq!(path, "drive.mcap"),
        other => panic!("{other:?}"),
    }
    let first_run = mock.storage().bytes_received();
    assert_eq!(first_run, 2 * PART, "part 1 stored, part 2 refused");

    let status = upload(&mock, &dir, &state).workers(2).send().await.unwrap();
    assert_eq!(
        status.finalization.unwrap().state,
        ManagedFinalizationState::Succeeded
    );
    let second_run = mock.storage().bytes_received() - first_run;
    assert_eq!(second_run, PART + 2 * MIB, "only parts 2 and 3");
    assert_eq!(
        objects(&mock),
        vec![(
            "drive.mcap".to_owned(),
            2 * PART + 2 * MIB,
            Some(sha_of(&big))
        )]
    );
    // Admitted and initialized once; the second run observed the status.
    assert_eq!(mock.hits("admit_fleet_managed_upload"), 1);
    assert_eq!(mock.hits("init_fleet_managed_multipart"), 1);
    assert_parts_clean(&mock);
}

#[tokio::test]
async fn a_dropped_connection_stops_the_run_and_the_next_one_finishes() {
    let mock = MockServer::start().await;
    let dir = TempDir::new();
    let state = TempDir::new();
    let a = dir.file("a.mcap", 300_000);
    mock.storage()
        .fault(StorageRoute::ManagedPart, Fault::drop_connection())
        .times(1);
    let e = upload_error(upload(&mock, &dir, &state).send().await);
    match &e {
        UploadError::StorageTransport { path, message } => {
            assert_eq!(path, "a.mcap");
            assert!(!message.is_empty());
        }
        other => panic!("expected StorageTransport, got {other:?}"),
    }
    let status = upload(&mock, &dir, &state).send().await.unwrap();
    assert_eq!(status.confirmed_files, 1);
    assert_eq!(
        objects(&mock),
        vec![("a.mcap".to_owned(), 300_000, Some(sha_of(&a)))]
    );
}

#[tokio::test]
async fn a_grant_to_a_disallowed_host_gets_no_byte() {
    for (origin, host) in [
        ("https://uploads.evil.example", "uploads.evil.example"),
        // Allowed for dataset uploads, but managed parts go to R2 only.
        (
            "https://bucket.s3.us-west-2.amazonaws.com",
            "bucket.s3.us-west-2.amazonaws.com",
        ),
    ] {
        let mock = MockServer::start().await;
        let dir = TempDir::new();
        let state = TempDir::new();
        dir.file("a.mcap", 10);
        mock.fleet()
            .managed_anomaly(ManagedAnomaly::GrantOrigin(origin.to_owned()));
        match upload_error(upload(&mock, &dir, &state).send().await) {
            UploadError::DisallowedUrl { host: h, .. } => assert_eq!(h, host),
            other => panic!("{other:?}"),
        }
        assert_eq!(mock.storage().bytes_received(), 0);
        assert_eq!(mock.hits(StorageRoute::ManagedPart.operation_id()), 0);
    }
}

#[tokio::test]
async fn a_part_put_answered_other_than_200_is_a_protocol_error() {
    // Storage that accepts a part with 201 (or 204) has not said what R2
    // says for a stored part: the part is not counted as stored.
    for status in [201, 204] {
        let mock = MockServer::start().await;
        let dir = TempDir::new();
        let state = TempDir::new();
        dir.file("a.mcap", 10);
        mock.storage()
            .fault(StorageRoute::ManagedPart, Fault::status(status))
            .times(1);
        match upload_error(upload(&mock, &dir, &state).send().await) {
            UploadError::Protocol { path, message } => {
                assert_eq!(path, "a.mcap", "{status}");
                assert!(message.contains("not exactly 200"), "{status}: {message}");
            }
            other => panic!("{status}: {other:?}"),
        }
        assert_eq!(mock.hits("finalize_fleet_managed_upload"), 0, "{status}");
    }
}

#[tokio::test]
async fn a_503_on_a_grant_is_retried_and_an_init_is_sent_until_answered() {
    let mock = MockServer::start().await;
    let dir = TempDir::new();
    let state = TempDir::new();
    dir.file("a.mcap", 10);
    mock.fault("sign_fleet_managed_multipart_parts", Fault::status(503))
        .times(2);
    let status = upload(&mock, &dir, &state).send().await.unwrap();
    assert_eq!(status.confirmed_files, 1);
    assert_eq!(mock.hits("sign_fleet_managed_multipart_parts"), 3);

    // Three 503s exhaust the three attempts.
    let mock = MockServer::start().await;
    let state = TempDir::new();
    mock.fault("admit_fleet_managed_upload", Fault::status(503))
        .times(3);
    let e = upload(&mock, &dir, &state).send().await.unwrap_err();
    assert_eq!(e.status(), Some(503), "{e:?}");
    assert_eq!(mock.hits("admit_fleet_managed_upload"), 3);

    // An init answered 503 created nothing: within a run it is not retried
    // (its outcome could be uncertain), and the next run, seeing no
    // generation in the status, sends it again.
    let a = dir.path().join("a.mcap");
    let mock = MockServer::start().await;
    let state = TempDir::new();
    mock.fault("init_fleet_managed_multipart", Fault::status(503))
        .times(1);
    let e = upload(&mock, &dir, &state).send().await.unwrap_err();
    assert_eq!(e.status(), Some(503), "{e:?}");
    assert_eq!(mock.hits("init_fleet_managed_multipart"), 1);
    let status = upload(&mock, &dir, &state).send().await.unwrap();
    assert_eq!(status.confirmed_files, 1);
    assert_eq!(mock.hits("init_fleet_managed_multipart"), 2);
    assert_eq!(
        objects(&mock),
        vec![("a.mcap".to_owned(), 10, Some(sha_of(&a)))]
    );

    // An init whose answer was lost (the connection dropped after the
    // server created the generation): the next run adopts that generation
    // from the status, without a second init.
    let mock = MockServer::start().await;
    let state = TempDir::new();
    mock.fault("init_fleet_managed_multipart", Fault::drop_connection())
        .times(1);
    let e = upload(&mock, &dir, &state).send().await.unwrap_err();
    assert!(e.status().is_none(), "a transport error: {e:?}");
    let status = upload(&mock, &dir, &state).send().await.unwrap();
    assert_eq!(status.confirmed_files, 1);
    assert_eq!(mock.hits("init_fleet_managed_multipart"), 1);
    assert_eq!(
        objects(&mock),
        vec![("a.mcap".to_owned(), 10, Some(sha_of(&a)))]
    );
}

#[tokio::test]
async fn the_pin_is_the_first_parts_whichever_grant_answers_first() {
    let dir = TempDir::new();
    let two = dir.sparse("two.mcap", PART + 1);
    // Two parts (the sparse file's last mark makes it a little longer).
    let size = std::fs::metadata(&two).unwrap().len();
    assert!(size > PART && size < 2 * PART);
    let hold_part_1 = ManagedAnomaly::HoldGrant {
        part: 1,
        until_answered: 2,
    };
    let part_2_puts = |mock: &MockServer| {
        mock.received_for(StorageRoute::ManagedPart.operation_id())
            .iter()
            .filter(|r| r.query_param("partNumber").as_deref() == Some("2"))
            .count()
    };
    for round in 0..20 {
        // Part 2's grant reaches the client first, on the same destination.
        let mock = MockServer::start().await;
        let state = TempDir::new();
        mock.fleet().managed_anomaly(hold_part_1.clone());
        let status = upload(&mock, &dir, &state).workers(2).send().await;
        let status = status.unwrap_or_else(|e| panic!("round {round}: {e}"));
        assert_eq!(status.confirmed_files, 1, "round {round}");

        // Part 2's grant, first again, moves the part: it is the one
        // refused (against part 1's pin), and nothing is sent to it.
        let mock = MockServer::start().await;
        let state = TempDir::new();
        mock.fleet().managed_anomaly(hold_part_1.clone());
        mock.fleet().managed_anomaly(ManagedAnomaly::MovedPart(2));
        let message = state_error(upload(&mock, &dir, &state).workers(2).send().await);
        assert!(
            message.contains("part 2 ") && message.contains("another destination"),
            "round {round}: {message}"
        );
        assert_eq!(part_2_puts(&mock), 0, "round {round}");
        // The receipt pinned part 1's destination: the next run's grants
        // fit it and the file is whole (checked in some rounds: it sends
        // the whole file again).
        if round % 5 != 0 {
            continue;
        }
        upload(&mock, &dir, &state).workers(2).send().await.unwrap();
        assert_eq!(
            objects(&mock),
            vec![("two.mcap".to_owned(), size, Some(sha_of(&two)))],
            "round {round}"
        );
    }
}

#[tokio::test]
async fn every_scripted_anomaly_is_refused_with_upload_state() {
    for (anomaly, says) in [
        (ManagedAnomaly::WrongCounters, "counters"),
        (ManagedAnomaly::WrongManifest, "SHA-256"),
        (
            ManagedAnomaly::ForeignSession,
            "different recording or session",
        ),
        (ManagedAnomaly::InitNotFirstGeneration, "generation 1"),
        (ManagedAnomaly::OversizedProgress, "more than 100"),
    ] {
        let mock = MockServer::start().await;
        let dir = TempDir::new();
        let state = TempDir::new();
        dir.file("a.mcap", 10);
        mock.fleet().managed_anomaly(anomaly.clone());
        let message = state_error(upload(&mock, &dir, &state).send().await);
        assert!(message.contains(says), "{anomaly:?}: {message}");
        assert_eq!(mock.storage().bytes_received(), 0, "{anomaly:?}");
    }
}

#[tokio::test]
async fn a_moved_destination_and_an_endless_listing_are_refused() {
    let mock = Arc::new(MockServer::start().await);
    let dir = TempDir::new();
    let state = TempDir::new();
    dir.sparse("two.mcap", PART + 1);
    let scripted = mock.clone();
    let run = after_first_part(upload(&mock, &dir, &state).workers(1), move || {
        scripted
            .fleet()
            .managed_anomaly(ManagedAnomaly::MovedDestination);
    });
    let message = state_error(run.send().await);
    assert!(message.contains("another destination"), "{message}");
    assert_eq!(
        mock.storage().bytes_received(),
        PART,
        "nothing sent to the moved part"
    );

    // The pin is in the receipt: a later run refuses the move too.
    mock.fleet()
        .managed_anomaly(ManagedAnomaly::MovedDestination);
    let message = state_error(upload(&mock, &dir, &state).send().await);
    assert!(message.contains("another destination"), "{message}");

    mock.fleet()
        .managed_anomaly(ManagedAnomaly::EndlessProgress);
    let message = state_error(upload(&mock, &dir, &state).send().await);
    assert!(
        message.contains("cursor") || message.contains("pages"),
        "{message}"
    );
}

#[tokio::test]
async fn an_abandoned_session_and_changed_files_stop_the_resume() {
    let mock = MockServer::start().await;
    let dir = TempDir::new();
    let state = TempDir::new();
    let a = dir.file("a.mcap", 1000);
    mock.storage()
        .fault(StorageRoute::ManagedPart, Fault::status(500))
        .times(1);
    upload(&mock, &dir, &state).send().await.unwrap_err();
    mock.fleet()
        .managed_anomaly(ManagedAnomaly::AbandonedSession);
    let message = state_error(upload(&mock, &dir, &state).send().await);
    assert!(message.contains("not active"), "{message}");

    // A local file changed between runs: refused before any request.
    let mock = MockServer::start().await;
    let state = TempDir::new();
    mock.storage()
        .fault(StorageRoute::ManagedPart, Fault::status(500))
        .times(1);
    upload(&mock, &dir, &state).send().await.unwrap_err();
    std::fs::write(&a, b"other bytes").unwrap();
    let before = mock.received().len();
    let message = match upload_error(upload(&mock, &dir, &state).send().await) {
        UploadError::Mismatch { message } => message,
        other => panic!("{other:?}"),
    };
    assert!(
        message.contains("differ from the ones admitted") && message.contains("delete"),
        "{message}"
    );
    assert_eq!(mock.received().len(), before);
}

#[tokio::test]
async fn legacy_and_managed_receipts_of_one_recording_share_a_state_dir() {
    let mock = MockServer::start().await;
    let dir = TempDir::new();
    let state = TempDir::new();
    let a = dir.file("a.mcap", 3000);
    // A legacy attempt stopped by a refused PUT leaves its receipts.
    mock.storage()
        .fault(StorageRoute::Fleet, Fault::status(403))
        .times(1);
    let legacy = || {
        fast(&mock)
            .upload_recording(RECORDING, dir.path())
            .state_dir(state.path())
    };
    legacy().send().await.unwrap_err();
    // A managed run of the same recording in the same directory has its own.
    let status = upload(&mock, &dir, &state).send().await.unwrap();
    assert_eq!(status.confirmed_files, 1);
    assert_eq!(
        objects(&mock),
        vec![("a.mcap".to_owned(), 3000, Some(sha_of(&a)))]
    );
    // And the legacy receipts still resume their session.
    legacy().send().await.unwrap();
    assert_eq!(mock.hits("init_fleet_upload"), 1);
    assert_eq!(mock.fleet().objects().len(), 1);
}

#[tokio::test]
async fn an_upload_shows_its_settings() {
    let mock = MockServer::start().await;
    let (dir, state) = (TempDir::new(), TempDir::new());
    let up = upload(&mock, &dir, &state)
        .workers(3)
        .wait(Duration::from_secs(30));
    assert_eq!(
        format!("{up:?}"),
        format!(
            "ManagedRecordingUpload {{ recording_uid: {RECORDING:?}, source: {:?}, workers: 3, \
             wait: Some(30s), poll_interval: 10ms, state_dir: Some({:?}), .. }}",
            dir.path(),
            state.path()
        )
    );
}

/// The operations the mock received from the `from`-th request on.
fn operations_since(mock: &MockServer, from: usize) -> Vec<String> {
    mock.received()[from..]
        .iter()
        .filter_map(|r| r.operation_id.clone())
        .collect()
}

/// The operations the mock received after the first finalize.
fn operations_after_finalize(mock: &MockServer) -> Vec<String> {
    let mut operations = operations_since(mock, 0);
    let finalize_at = operations
        .iter()
        .position(|o| o == "finalize_fleet_managed_upload")
        .expect("a finalize");
    operations.split_off(finalize_at + 1)
}

#[tokio::test]
async fn a_stored_file_is_skipped_by_its_listing_or_its_completed_generation() {
    // Run 1 stores both files whole, then its finalize is refused (a 400
    // is not retried): nothing is finalized.
    let mock = MockServer::start().await;
    let (dir, state) = (TempDir::new(), TempDir::new());
    dir.file("a.mcap", 10);
    dir.file("b.mcap", 20);
    mock.fault("finalize_fleet_managed_upload", Fault::status(400))
        .times(1);
    let e = upload(&mock, &dir, &state).send().await.unwrap_err();
    assert_eq!(e.status(), Some(400), "{e:?}");
    assert_eq!(mock.storage().bytes_received(), 30);
    let before = mock.received().len();

    // Run 2: the server lists every part of `a.mcap` (its generation still
    // active), and says the generation of `b.mcap` is completed though not
    // verified yet (§9.3 step 3). Its status calls: the session, `a`, `b`.
    for n in 0..3 {
        mock.edit_next("get_fleet_managed_upload_status", move |s| {
            if n == 2 {
                assert_eq!(s["files"][1]["path"], "b.mcap");
                s["files"][1]["generation"]["state"] = "completed".into();
            }
        });
    }
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = events.clone();
    let status = upload(&mock, &dir, &state)
        .on_progress(move |p: &Progress| seen.lock().unwrap().push((p.path.clone(), p.event)))
        .send()
        .await
        .unwrap();
    assert_eq!(status.confirmed_files, 2);
    // `a` is looked at (its parts listed) and skipped, as nothing of it was
    // sent; `b` is skipped at once: no listing, not even a start.
    assert_eq!(
        *events.lock().unwrap(),
        [
            ("a.mcap".to_owned(), ProgressEvent::Started { size: 10 }),
            ("a.mcap".to_owned(), ProgressEvent::Skipped),
            ("b.mcap".to_owned(), ProgressEvent::Skipped),
        ]
    );
    assert_eq!(
        operations_since(&mock, before),
        [
            "get_fleet_managed_upload_status",
            "get_fleet_managed_upload_status",
            "get_fleet_managed_multipart_progress",
            "get_fleet_managed_upload_status",
            "get_fleet_managed_upload_status",
            "finalize_fleet_managed_upload",
            "get_fleet_managed_upload_status",
        ]
    );
    assert_eq!(mock.storage().bytes_received(), 30, "nothing sent again");
}

/// `Error::JobFailed` for the managed publication, with its code.
fn publication_failed<T: std::fmt::Debug>(result: avala::Result<T>, code: &str) {
    match result {
        Err(Error::JobFailed { job, status }) => {
            assert!(job.contains(RECORDING), "{job}");
            assert_eq!(status, format!("failed ({code})"));
        }
        other => panic!("expected JobFailed, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn the_publication_waits() {
    // Succeeded on the third observation after the finalize.
    let mock = MockServer::start().await;
    let dir = TempDir::new();
    dir.file("a.mcap", 10);
    let state = TempDir::new();
    mock.fleet().managed_publication(3, None);
    let status = upload(&mock, &dir, &state)
        .wait(Duration::from_secs(30))
        .send()
        .await
        .unwrap();
    let f = status.finalization.unwrap();
    assert_eq!(f.state, ManagedFinalizationState::Succeeded);
    assert!(f.publication_uid.is_some() && f.dataset_uid.is_some());

    // Failed for good: JobFailed naming the code, and a re-run does not
    // finalize again (the same error).
    let mock = MockServer::start().await;
    let state = TempDir::new();
    mock.fleet().managed_publication(2, Some("invalid_mcap"));
    publication_failed(
        upload(&mock, &dir, &state)
            .wait(Duration::from_secs(30))
            .send()
            .await,
        "invalid_mcap",
    );
    let before = mock.received().len();
    publication_failed(upload(&mock, &dir, &state).send().await, "invalid_mcap");
    assert_eq!(mock.hits("finalize_fleet_managed_upload"), 1);
    // Settled: no file is looked at again, only the status (the session's,
    // the finalize step's, the last).
    assert_eq!(
        operations_since(&mock, before),
        ["get_fleet_managed_upload_status"; 3]
    );

    // Failed with a code another finalize can fix: JobFailed without a wait
    // too, and a re-run finalizes again.
    let mock = MockServer::start().await;
    let state = TempDir::new();
    mock.fleet()
        .managed_publication(1, Some("attempts_exhausted"));
    publication_failed(
        upload(&mock, &dir, &state).send().await,
        "attempts_exhausted",
    );
    mock.fleet().managed_publication(1, None);
    let before = mock.received().len();
    let status = upload(&mock, &dir, &state).send().await.unwrap();
    assert_eq!(
        status.finalization.unwrap().state,
        ManagedFinalizationState::Succeeded
    );
    assert_eq!(mock.hits("finalize_fleet_managed_upload"), 2);
    // Not settled: the file is looked at again (its generation completed:
    // skipped without a listing), then finalized again.
    assert_eq!(
        operations_since(&mock, before),
        [
            "get_fleet_managed_upload_status",
            "get_fleet_managed_upload_status",
            "get_fleet_managed_upload_status",
            "finalize_fleet_managed_upload",
            "get_fleet_managed_upload_status",
        ]
    );

    // Past the timeout: WaitTimeout with the last state, at the deadline.
    let mock = MockServer::start().await;
    let state = TempDir::new();
    mock.fleet().managed_publication(10_000, None);
    let started = tokio::time::Instant::now();
    let e = upload(&mock, &dir, &state)
        .wait(Duration::from_millis(300))
        .poll_interval(Duration::from_millis(50))
        .send()
        .await
        .unwrap_err();
    match e {
        Error::WaitTimeout { last_status, .. } => {
            assert_eq!(last_status.as_deref(), Some("running"))
        }
        other => panic!("expected WaitTimeout, got {other:?}"),
    }
    assert_eq!(started.elapsed(), Duration::from_millis(300));
    let polls = operations_after_finalize(&mock)
        .iter()
        .filter(|o| *o == "get_fleet_managed_upload_status")
        .count();
    // The observation after the finalize, then one every 50 ms up to and
    // at the deadline.
    assert_eq!(polls, 7, "{polls} status calls after the finalize");

    // No wait: the one observation after the finalize, returned running.
    let mock = MockServer::start().await;
    let state = TempDir::new();
    mock.fleet().managed_publication(5, None);
    let status = upload(&mock, &dir, &state).send().await.unwrap();
    assert_eq!(
        status.finalization.unwrap().state,
        ManagedFinalizationState::Running
    );
    assert_eq!(
        operations_after_finalize(&mock),
        ["get_fleet_managed_upload_status"]
    );
}

#[tokio::test(start_paused = true)]
async fn the_publication_poll_interval_is_capped_at_two_seconds() {
    let mock = MockServer::start().await;
    let (dir, state) = (TempDir::new(), TempDir::new());
    dir.file("a.mcap", 10);
    mock.fleet().managed_publication(3, None);
    let started = tokio::time::Instant::now();
    upload(&mock, &dir, &state)
        .wait(Duration::from_secs(3600))
        .poll_interval(Duration::from_secs(600))
        .send()
        .await
        .unwrap();
    // Succeeded on the third observation: two polls, 2 s apart at most.
    assert_eq!(started.elapsed(), Duration::from_secs(4));
}

#[tokio::test]
async fn constraints_are_checked_before_any_request() {
    let mock = MockServer::start().await;
    let state = TempDir::new();
    let good = TempDir::new();
    good.file("a.mcap", 10);
    let client = mock.client();
    let run = |uid: &str, dir: &Path| {
        client
            .upload_managed_recording(uid, dir)
            .state_dir(state.path())
    };
    let invalid = |r: avala::Result<_>| match r {
        Err(Error::InvalidArgument { message }) => message,
        other => panic!("expected InvalidArgument, got {other:?}"),
    };
    for workers in [0, 5] {
        let m = invalid(run(RECORDING, good.path()).workers(workers).send().await);
        assert_eq!(m, format!("workers must be 1 to 4, got {workers}"));
    }
    assert_eq!(
        invalid(
            run(RECORDING, good.path())
                .wait(Duration::from_secs(3601))
                .send()
                .await
        ),
        "the publication wait must be 0 to 3600 s, got 3601 s"
    );
    for uid in [RECORDING.to_uppercase(), RECORDING.replace('-', "")] {
        let m = invalid(run(&uid, good.path()).send().await);
        assert!(
            m.starts_with(&format!(
                "recording uid {uid:?} is not a canonical lowercase UUID"
            )),
            "{m}"
        );
    }

    // Each refusal: the file (or the directory) it names, and its reason.
    enum Names {
        File(&'static str),
        Dir,
    }
    type Make = fn(&TempDir);
    let cases: [(Names, &str, Make); 9] = [
        (
            Names::File("notes.txt"),
            "a managed upload takes only `*.mcap` files",
            |d| {
                d.file("a.mcap", 1);
                d.file("notes.txt", 1);
            },
        ),
        (
            Names::File("empty.mcap"),
            "a managed upload takes files of 1 byte to 8 GiB, this one has 0 bytes",
            |d| {
                d.file("empty.mcap", 0);
            },
        ),
        (
            Names::File("__derived__/x.mcap"),
            "paths under `__derived__/` are reserved for the server",
            |d| {
                d.file("__derived__/x.mcap", 1);
            },
        ),
        (
            Names::File("cafe\u{301}.mcap"),
            "its path is not in Unicode NFC form; rename it",
            |d| {
                d.file("cafe\u{301}.mcap", 1);
            },
        ),
        (
            Names::File("a\tb.mcap"),
            "its path holds a control character",
            |d| {
                d.file("a\tb.mcap", 1);
            },
        ),
        (
            Names::File("huge.mcap"),
            "a managed upload takes files of 1 byte to 8 GiB, this one has 8589934593 bytes",
            |d| {
                std::fs::File::create(d.path().join("huge.mcap"))
                    .unwrap()
                    .set_len(8 * 1024 * MIB + 1)
                    .unwrap();
            },
        ),
        (
            Names::Dir,
            "a managed upload takes 1 to 64 MCAP files, the directory holds 65",
            |d| {
                for i in 0..65 {
                    d.file(&format!("{i:02}.mcap"), 1);
                }
            },
        ),
        (
            Names::Dir,
            "a managed upload takes at most 64 GiB in all, these files have 77309411328 bytes",
            |d| {
                for i in 0..9 {
                    std::fs::File::create(d.path().join(format!("{i}.mcap")))
                        .unwrap()
                        .set_len(8 * 1024 * MIB)
                        .unwrap();
                }
            },
        ),
        (Names::File("link.mcap"), "", |d| {
            d.file("a.mcap", 1);
            std::os::unix::fs::symlink(d.path().join("a.mcap"), d.path().join("link.mcap"))
                .unwrap();
        }),
    ];
    for (names, says, make) in cases {
        let dir = TempDir::new();
        make(&dir);
        let e = upload_error(run(RECORDING, dir.path()).send().await);
        let UploadError::Rejected { path, reason } = &e else {
            panic!("{says}: {e:?}")
        };
        let want = match names {
            Names::File(name) => dir.path().join(name),
            Names::Dir => dir.path().to_owned(),
        };
        assert_eq!(path, &want, "{says}");
        if says.is_empty() {
            // The walk's own refusal of a link (its wording is the walk's).
            assert!(reason.contains("symbolic link"), "{reason}");
        } else {
            assert_eq!(reason, says);
        }
    }
    let empty = TempDir::new();
    match upload_error(run(RECORDING, empty.path()).send().await) {
        UploadError::Rejected { path, reason } => {
            assert_eq!(path, empty.path());
            assert_eq!(
                reason,
                "a managed upload takes 1 to 64 MCAP files, the directory holds 0"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(mock.received().is_empty(), "{:?}", mock.received());
    assert!(
        std::fs::read_dir(state.path()).unwrap().next().is_none(),
        "no receipt written"
    );
}

#[tokio::test(start_paused = true)]
async fn a_day_long_retry_after_ends_the_run_with_it() {
    let mock = MockServer::start().await;
    let dir = TempDir::new();
    let state = TempDir::new();
    dir.file("a.mcap", 10);
    mock.fault(
        "admit_fleet_managed_upload",
        Fault::status(429).header("Retry-After", "86400"),
    );
    let started = tokio::time::Instant::now();
    let e = upload(&mock, &dir, &state).send().await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "{:?}",
        started.elapsed()
    );
    assert!(
        matches!(e, Error::RateLimited { retry_after: Some(after), .. } if after == Duration::from_secs(86_400)),
        "{e:?}"
    );
    assert_eq!(mock.hits("admit_fleet_managed_upload"), 1);
}

#[cfg(unix)]
#[tokio::test]
async fn a_file_swapped_for_a_link_once_opened_is_still_sent_from_the_hashed_file() {
    let mock = MockServer::start().await;
    let dir = TempDir::new();
    let outside = TempDir::new();
    let state = TempDir::new();
    let path = dir.file("a.mcap", 4096);
    let secret = outside.file("secret.mcap", 4096);
    let (hashed, secret_sha) = (sha_of(&path), sha_of(&secret));
    assert_ne!(hashed, secret_sha);
    let swap = path.clone();
    let status = upload(&mock, &dir, &state)
        .on_progress(move |p: &Progress| {
            if matches!(p.event, ProgressEvent::Started { .. }) && !swap.is_symlink() {
                std::fs::remove_file(&swap).unwrap();
                std::os::unix::fs::symlink(&secret, &swap).unwrap();
            }
        })
        .send()
        .await
        .unwrap();
    assert_eq!(status.confirmed_files, 1);
    assert_eq!(
        objects(&mock),
        [("a.mcap".to_owned(), 4096, Some(hashed))],
        "the stored object is the hashed file, not {secret_sha}"
    );
}

// ---------------------------------------------------------------------------
// Every check of an answer in src/upload/fleet/managed/flow.rs, each with
// the reason it gives (docs/testing.md maps branch → test).

const OTHER_UID: &str = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d";

/// Runs a one-part upload whose answer to `operation` is edited by `edit`,
/// and returns its `Mismatch` message; nothing may reach storage after the
/// edited answer.
async fn refused_after(
    operation: &'static str,
    edit: impl FnOnce(&mut serde_json::Value) + Send + 'static,
) -> (MockServer, String) {
    let mock = MockServer::start().await;
    let (dir, state) = (TempDir::new(), TempDir::new());
    dir.file("a.mcap", 10);
    mock.edit_next(operation, edit);
    let message = state_error(upload(&mock, &dir, &state).send().await);
    (mock, message)
}

#[tokio::test]
async fn an_answer_naming_another_protocol_or_session_is_refused() {
    let steps = [
        ("init_fleet_managed_multipart", "multipart init"),
        ("get_fleet_managed_multipart_progress", "multipart progress"),
        ("sign_fleet_managed_multipart_parts", "part grant"),
        ("finalize_fleet_managed_upload", "finalize"),
    ];
    for (operation, what) in steps {
        for field in ["protocol", "session_uid"] {
            let value = match field {
                "protocol" => "fleet-managed-mcap-v2",
                _ => OTHER_UID,
            };
            let (mock, message) = refused_after(operation, move |b| b[field] = value.into()).await;
            assert!(
                message.contains(&format!(
                    "the {what} answer names another protocol or session"
                )),
                "{operation} {field}: {message}"
            );
            if operation != "finalize_fleet_managed_upload" {
                assert_eq!(mock.storage().bytes_received(), 0, "{operation} {field}");
                assert_eq!(mock.hits("finalize_fleet_managed_upload"), 0);
            }
        }
    }
}

#[tokio::test]
async fn a_listing_or_grant_naming_another_file_or_generation_is_refused() {
    let cases = [
        (
            "get_fleet_managed_multipart_progress",
            "the part listing of `a.mcap` names another file or generation",
        ),
        (
            "sign_fleet_managed_multipart_parts",
            "the grant for part 1 of `a.mcap` names another file or generation",
        ),
    ];
    for (operation, says) in cases {
        for field in ["file_uid", "generation_uid"] {
            let (mock, message) =
                refused_after(operation, move |b| b[field] = OTHER_UID.into()).await;
            assert!(message.contains(says), "{operation} {field}: {message}");
            assert_eq!(mock.storage().bytes_received(), 0, "{operation} {field}");
        }
    }
}

#[tokio::test]
async fn a_listing_out_of_order_or_with_another_part_size_is_refused() {
    let part = |n: u64, size: u64| serde_json::json!({"part_number": n, "size": size});
    let cases = [
        // Part 2 before part 1.
        vec![part(2, 1), part(1, PART)],
        // The same part twice.
        vec![part(1, PART), part(1, PART)],
        // A part beyond the file's last.
        vec![part(3, 1)],
        // Part 1 with another size.
        vec![part(1, PART - 1)],
        // Part number 0.
        vec![part(0, PART)],
    ];
    for parts in cases {
        let mock = MockServer::start().await;
        let (dir, state) = (TempDir::new(), TempDir::new());
        dir.sparse("two.mcap", PART + 1);
        let listed = parts.clone();
        mock.edit_next("get_fleet_managed_multipart_progress", move |b| {
            b["parts"] = listed.into();
        });
        let message = state_error(upload(&mock, &dir, &state).send().await);
        assert!(
            message.contains(
                "the part listing of `two.mcap` is out of order or gives a part another size"
            ),
            "{parts:?}: {message}"
        );
        assert_eq!(mock.storage().bytes_received(), 0, "{parts:?}");
    }
}

#[tokio::test]
async fn a_cursor_that_cannot_advance_is_refused() {
    // One part listed of two, and a cursor that does not point after it
    // (or a cursor on an empty page, or after the last part).
    for (parts, cursor) in [
        (serde_json::json!([{"part_number": 1, "size": PART}]), 0),
        (serde_json::json!([{"part_number": 1, "size": PART}]), 2),
        (serde_json::json!([]), 0),
        (
            serde_json::json!([{"part_number": 1, "size": PART}, {"part_number": 2, "size": 1}]),
            2,
        ),
    ] {
        let mock = MockServer::start().await;
        let (dir, state) = (TempDir::new(), TempDir::new());
        dir.sparse("two.mcap", PART + 1);
        let listed = parts.clone();
        mock.edit_next("get_fleet_managed_multipart_progress", move |b| {
            b["parts"] = listed;
            b["next_cursor"] = cursor.into();
        });
        let message = state_error(upload(&mock, &dir, &state).send().await);
        assert!(
            message.contains("the part listing of `two.mcap` has a cursor that cannot advance"),
            "{parts} {cursor}: {message}"
        );
        assert_eq!(mock.storage().bytes_received(), 0);
    }
}

#[tokio::test]
async fn a_listing_longer_than_two_pages_is_refused() {
    let mock = MockServer::start().await;
    let (dir, state) = (TempDir::new(), TempDir::new());
    dir.sparse("three.mcap", 2 * PART + 1);
    // Two pages of one part each, each saying more follows.
    for n in [1u64, 2] {
        mock.edit_next("get_fleet_managed_multipart_progress", move |b| {
            b["parts"] = serde_json::json!([{"part_number": n, "size": PART}]);
            b["next_cursor"] = n.into();
        });
    }
    let message = state_error(upload(&mock, &dir, &state).send().await);
    assert!(
        message.contains("the part listing of `three.mcap` needs more than 2 pages"),
        "{message}"
    );
    assert_eq!(mock.hits("get_fleet_managed_multipart_progress"), 2);
    assert_eq!(mock.storage().bytes_received(), 0);
}

#[tokio::test]
async fn a_grant_answer_without_exactly_one_grant_is_refused() {
    for count in [0usize, 2] {
        let (mock, message) = refused_after("sign_fleet_managed_multipart_parts", move |b| {
            let one = b["parts"][0].clone();
            b["parts"] = serde_json::Value::Array(vec![one; count]);
        })
        .await;
        assert!(
            message.contains(
                "the grant answer for part 1 of `a.mcap` does not hold exactly one grant"
            ),
            "{count}: {message}"
        );
        assert_eq!(mock.storage().bytes_received(), 0, "{count}");
    }
}

#[tokio::test]
async fn every_part_grant_check_is_refused_with_its_reason() {
    // One case per refusal of `part_grant::check` (the unit table asserts
    // only that each is an error): the mock's grant with one thing changed,
    // refused through the flow with exactly its reason, and nothing sent.
    type Edit = fn(&mut serde_json::Value);
    fn url(g: &mut serde_json::Value, f: impl FnOnce(&str) -> String) {
        let new = f(g["url"].as_str().unwrap());
        g["url"] = new.into();
    }
    let cases: [(&str, Edit, &str); 17] = [
        (
            "geometry",
            |g| g["part_number"] = 2.into(),
            "its uid, part number, offset or size is not the requested part's",
        ),
        (
            "headers",
            |g| g["headers"]["x-amz-acl"] = "private".into(),
            "its headers are not exactly the part's Content-Length",
        ),
        (
            "space",
            |g| url(g, |u| u.replacen("partNumber", "part Number", 1)),
            "its URL is malformed",
        ),
        (
            "too long",
            |g| url(g, |u| format!("{u}&x={}", "a".repeat(16_400))),
            "its URL is malformed",
        ),
        (
            "no query",
            |g| url(g, |u| u.split('?').next().unwrap().to_owned()),
            "its URL has no query",
        ),
        (
            "scheme case",
            |g| url(g, |u| u.replacen("http://", "HTTP://", 1)),
            "its URL is not in canonical form",
        ),
        (
            "path shape",
            |g| url(g, |u| u.replacen("__o__%3D", "__o__", 1)),
            "its object path is not this session's",
        ),
        (
            "path object",
            |g| url(g, |u| u.replacen("__cloud__", "__cloudy__", 1)),
            "its object path is not this session's object for the file",
        ),
        (
            "pair",
            |g| url(g, |u| format!("{u}&flag")),
            "its signed query is malformed",
        ),
        (
            "encoding",
            |g| url(g, |u| u.replacen("uploadId=", "uploadId=%FF", 1)),
            "its signed query is malformed",
        ),
        (
            "canonical",
            |g| {
                url(g, |u| {
                    u.replacen("content-length%3Bhost", "content-length;host", 1)
                })
            },
            "its signed query is not canonically encoded, or repeats a field",
        ),
        (
            "fields",
            |g| {
                url(g, |u| {
                    u.replacen("&X-Amz-SignedHeaders=content-length%3Bhost", "", 1)
                })
            },
            "its signed query does not have exactly the SigV4 fields",
        ),
        (
            "algorithm",
            |g| url(g, |u| u.replacen("AWS4-HMAC-SHA256", "AWS4-HMAC-SHA1", 1)),
            "its signed query names another part, algorithm or header set",
        ),
        (
            "date",
            |g| url(g, |u| u.replacen("X-Amz-Date=", "X-Amz-Date=x", 1)),
            "its signed query has a malformed date",
        ),
        (
            "lifetime",
            |g| {
                url(g, |u| {
                    u.replacen("X-Amz-Expires=300", "X-Amz-Expires=0300", 1)
                })
            },
            "its signed query has a lifetime outside 1..300 s",
        ),
        (
            "scope",
            |g| url(g, |u| u.replacen("%2Fauto%2F", "%2Fus-east-1%2F", 1)),
            "its signed query has a malformed credential scope",
        ),
        (
            "expires_at",
            |g| g["expires_at"] = "2000-01-01T00:00:00Z".into(),
            "its expires_at is not X-Amz-Date + X-Amz-Expires",
        ),
    ];
    let mut failures = Vec::new();
    for (case, edit, reason) in cases {
        let mock = MockServer::start().await;
        let (dir, state) = (TempDir::new(), TempDir::new());
        dir.file("a.mcap", 10);
        mock.edit_next("sign_fleet_managed_multipart_parts", move |b| {
            edit(&mut b["parts"][0])
        });
        // Every outcome is collected, so that one run shows each case that
        // did not get its reason.
        let result = upload(&mock, &dir, &state).send().await;
        let message = match &result {
            Err(Error::Upload(u)) => match &**u {
                UploadError::Mismatch { message } => message.clone(),
                other => format!("{other:?}"),
            },
            other => format!("{other:?}"),
        };
        if let Err(e) = &result {
            common::assert_error_without_key(e, MockServer::API_KEY);
        }
        // The whole reason, up to the end the flow's message gives it.
        let want = format!("the grant for part 1 of `a.mcap` is refused: {reason}. Keep");
        if !message.contains(&want) {
            failures.push(format!("{case}: {message}"));
        }
        if mock.storage().bytes_received() != 0 {
            failures.push(format!("{case}: bytes were sent"));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[tokio::test]
async fn every_status_check_is_refused_with_its_reason() {
    // One case per refusal of `status::observe` (the unit table asserts
    // only that each is an error): the admit's status (one 10-byte file,
    // nothing started) with one thing changed, refused through the flow
    // with exactly its reason, and nothing sent.
    use serde_json::{json, Value};
    type Edit = fn(&mut Value);
    fn finalization(state: &str, stage: &str, code: &str, published: bool) -> Value {
        let uid = |u: &str| published.then(|| u.to_owned());
        json!({
            "uid": "7d0c9f7e-3a5b-4c1d-8e2f-6a4b8c0d2e4f", "state": state, "stage": stage,
            "attempts": 1, "failures": 0, "code": code,
            "available_at": "2026-01-15T10:40:00Z",
            "publication_uid": uid("1b3d5f7a-9c1e-4b3d-8f5a-7c9e1b3d5f7a"),
            "dataset_uid": uid("2c4e6a8c-0e2a-4c4e-9a6c-8e0a2c4e6a8c"),
        })
    }
    const GENERATION: &str = "8d4a6c0e-2f1b-4d3a-a5c7-9e1b3d5f7a9c";
    let cases: [(&str, Edit, &str); 17] = [
        (
            "uid",
            |s| s["recording_uid"] = RECORDING.to_uppercase().into(),
            "the status carries a uid that is not a canonical UUID",
        ),
        (
            "phase",
            |s| s["status"] = "paused".into(),
            "the status has an unknown phase",
        ),
        (
            "counters",
            |s| s["total_files"] = 2.into(),
            "the status counters disagree with its files",
        ),
        (
            "completed",
            |s| s["status"] = "completed".into(),
            "the status says completed with unverified files",
        ),
        (
            "profile",
            |s| s["files"][0]["part_size"] = 8_388_608.into(),
            "the status describes `a.mcap` outside the protocol's profile",
        ),
        (
            "generation",
            |s| {
                s["files"][0]["generation"] =
                    json!({"generation_uid": "not-a-uuid", "number": 1, "state": "active"})
            },
            "the status gives `a.mcap` a malformed generation",
        ),
        (
            "verified",
            |s| {
                s["files"][0]["verified"] = true.into();
                s["confirmed_files"] = 1.into();
                s["confirmed_bytes"] = 10.into();
            },
            "the status says `a.mcap` is verified without a completed generation",
        ),
        (
            "finalization",
            |s| {
                let mut f = finalization("pending", "complete", "pending", false);
                f["failures"] = 6.into();
                s["finalization"] = f;
            },
            "the finalization is malformed",
        ),
        (
            "success",
            |s| s["finalization"] = finalization("succeeded", "publish", "published", false),
            "the finalization claims success without a consistent publication",
        ),
        (
            "unfinished",
            |s| s["finalization"] = finalization("pending", "complete", "pending", true),
            "an unfinished finalization claims a publication",
        ),
        (
            "published early",
            |s| s["finalization"] = finalization("succeeded", "publish", "published", true),
            "publication is reported for a session that is not completed",
        ),
        (
            "session",
            |s| s["session_uid"] = OTHER_UID.into(),
            "the status names a different recording or session",
        ),
        (
            "files",
            |s| s["files"][0]["path"] = "other.mcap".into(),
            "the status lists other files than the local manifest",
        ),
        (
            "digest",
            |s| s["files"][0]["content_sha256"] = "0".repeat(64).into(),
            "the status gives `a.mcap` another size or SHA-256 than the local file",
        ),
        (
            "work",
            |s| {
                s["status"] = "uploading".into();
                s["files"][0]["generation"] =
                    json!({"generation_uid": GENERATION, "number": 1, "state": "active"});
            },
            "the server reports multipart work on `a.mcap` that this session never started",
        ),
        (
            "unrequested",
            |s| s["finalization"] = finalization("pending", "complete", "pending", false),
            "the server reports a finalization other than the one this session requested",
        ),
        (
            "protocol profile",
            |s| s["files"][0]["content_encoding"] = "gzip".into(),
            "the status describes `a.mcap` outside the protocol's profile",
        ),
    ];
    let mut failures = Vec::new();
    for (case, edit, reason) in cases {
        let mock = MockServer::start().await;
        let (dir, state) = (TempDir::new(), TempDir::new());
        dir.file("a.mcap", 10);
        mock.edit_next("admit_fleet_managed_upload", edit);
        let result = upload(&mock, &dir, &state).send().await;
        let message = match &result {
            Err(Error::Upload(u)) => match &**u {
                UploadError::Mismatch { message } => message.clone(),
                other => format!("{other:?}"),
            },
            other => format!("{other:?}"),
        };
        if let Err(e) = &result {
            common::assert_error_without_key(e, MockServer::API_KEY);
        }
        if !message.contains(&format!(": {reason}. Keep")) {
            failures.push(format!("{case}: {message}"));
        }
        if mock.storage().bytes_received() != 0 {
            failures.push(format!("{case}: bytes were sent"));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[tokio::test]
async fn a_file_changed_before_its_part_put_sends_nothing() {
    let mock = MockServer::start().await;
    let (dir, state) = (TempDir::new(), TempDir::new());
    let a = dir.file("a.mcap", 10);
    let target = a.clone();
    let e = upload_error(
        upload(&mock, &dir, &state)
            .on_progress(move |p: &Progress| {
                // After the file is opened, before its grant and PUT.
                if matches!(p.event, ProgressEvent::Started { .. }) {
                    use std::io::Write;
                    let mut f = std::fs::OpenOptions::new()
                        .append(true)
                        .open(&target)
                        .unwrap();
                    f.write_all(b"more").unwrap();
                }
            })
            .send()
            .await,
    );
    match e {
        UploadError::FileChanged { path } => assert_eq!(path, a),
        other => panic!("expected FileChanged, got {other:?}"),
    }
    assert_eq!(mock.hits("sign_fleet_managed_multipart_parts"), 1);
    assert_eq!(mock.hits(StorageRoute::ManagedPart.operation_id()), 0);
    assert_eq!(mock.hits("finalize_fleet_managed_upload"), 0);
}

#[tokio::test]
async fn a_finalize_answer_naming_another_finalization_is_refused() {
    let mock = MockServer::start().await;
    let (dir, state) = (TempDir::new(), TempDir::new());
    dir.file("a.mcap", 10);
    // A publication that failed with a code another finalize can fix: the
    // receipt keeps that finalization's uid.
    mock.fleet()
        .managed_publication(1, Some("attempts_exhausted"));
    publication_failed(
        upload(&mock, &dir, &state).send().await,
        "attempts_exhausted",
    );
    // The re-run finalizes again, and the answer names another one.
    mock.fleet().managed_publication(1, None);
    mock.edit_next("finalize_fleet_managed_upload", |b| {
        b["finalization"]["uid"] = OTHER_UID.into();
    });
    let message = state_error(upload(&mock, &dir, &state).send().await);
    assert!(
        message.contains("the finalize answer names another finalization than before"),
        "{message}"
    );
    assert_eq!(mock.hits("finalize_fleet_managed_upload"), 2);
}

#[tokio::test]
async fn a_multipart_init_that_is_not_generation_1_of_this_file_is_refused() {
    type Edit = fn(&mut serde_json::Value);
    let edits: [(&str, Edit); 6] = [
        ("file_uid", |b| b["file_uid"] = OTHER_UID.into()),
        ("generation_uid", |b| {
            b["generation_uid"] = "9A8B7C6D-5E4F-4A3B-8C2D-1E0F9A8B7C6D".into()
        }),
        ("number", |b| b["number"] = 2.into()),
        ("state", |b| b["state"] = "completed".into()),
        ("part_size", |b| b["part_size"] = (32 * MIB).into()),
        ("part_count", |b| b["part_count"] = 2.into()),
    ];
    for (field, edit) in edits {
        let (mock, message) = refused_after("init_fleet_managed_multipart", edit).await;
        assert!(
            message.contains(
                "the multipart init of `a.mcap` is not generation 1, active, with 64 MiB parts of this file"
            ),
            "{field}: {message}"
        );
        assert_eq!(
            mock.hits("sign_fleet_managed_multipart_parts"),
            0,
            "{field}"
        );
        assert_eq!(mock.storage().bytes_received(), 0, "{field}");
    }
}

#[tokio::test]
async fn a_finalize_answer_with_a_malformed_or_inconsistent_finalization_is_refused() {
    type Edit = fn(&mut serde_json::Value);
    let cases: [(&str, Edit); 5] = [
        ("the finalization is malformed", |b| {
            b["finalization"]["uid"] = "not-a-uuid".into()
        }),
        ("the finalization is malformed", |b| {
            b["finalization"]["failures"] = 6.into()
        }),
        ("the finalization is malformed", |b| {
            b["finalization"]["available_at"] = "soon".into()
        }),
        ("an unfinished finalization claims a publication", |b| {
            b["finalization"]["dataset_uid"] = OTHER_UID.into()
        }),
        (
            "the finalization claims success without a consistent publication",
            |b| b["finalization"]["state"] = "succeeded".into(),
        ),
    ];
    for (says, edit) in cases {
        let (mock, message) = refused_after("finalize_fleet_managed_upload", edit).await;
        assert!(message.contains(says), "{says}: {message}");
        // Refused where it arrives: no status is read after it.
        let received = mock.received();
        let last = received.last().unwrap();
        assert_eq!(
            last.operation_id.as_deref(),
            Some("finalize_fleet_managed_upload"),
            "{says}"
        );
    }
}

//! `Client::download_export` against the mock's export files: the bytes,
//! the checks before and after, the atomic write and resuming. On paused
//! tokio time (the retry loop's sleeps pass at once).

// Only `new` and `path` are used here.
#[allow(dead_code)]
#[path = "common/tempdir.rs"]
mod tempdir;

use std::path::Path;

use avala::{
    mock::{ExportAnomaly, Fault, MockServer, StorageRoute},
    Error,
};
use tempdir::TempDir;

const UID: &str = "exp_dl";
/// Large enough to arrive in several chunks.
const SIZE: usize = 300 * 1024;

fn bytes(len: usize) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(7);
    (0..len).map(|_| rng.u8(..)).collect()
}

async fn published() -> (MockServer, Vec<u8>, TempDir) {
    let mock = MockServer::start().await;
    let data = bytes(SIZE);
    mock.exports().publish(UID, data.clone());
    (mock, data, TempDir::new())
}

/// The names in `dir` (temporary files included).
fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test(start_paused = true)]
async fn the_file_arrives_byte_equal_and_checked_with_progress() {
    let (mock, data, dir) = published().await;
    let target = dir.path().join("export.zip");
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = seen.clone();
    let file = mock
        .client()
        .download_export(UID, &target)
        .on_progress(move |p| record.lock().unwrap().push((p.received, p.total)))
        .send()
        .await
        .unwrap();
    assert_eq!(std::fs::read(&target).unwrap(), data);
    assert_eq!((file.size, file.resumed_from), (SIZE as u64, 0));
    assert!(file.md5_checked, "the mock's ETag is the MD5");
    assert_eq!(names(dir.path()), ["export.zip"], "no temporary file left");
    let seen = seen.lock().unwrap();
    assert_eq!(seen.last(), Some(&(SIZE as u64, SIZE as u64)));
    assert!(seen.windows(2).all(|w| w[0].0 < w[1].0));
}

#[tokio::test(start_paused = true)]
async fn the_storage_request_carries_no_key_and_the_api_call_does() {
    let (mock, _, dir) = published().await;
    mock.client()
        .download_export(UID, dir.path().join("e.zip"))
        .send()
        .await
        .unwrap();
    let api = mock.received_for("get_export");
    assert!(api[0].header("x-avala-api-key").is_some());
    let storage = mock.exports().downloads();
    assert_eq!(storage.len(), 1);
    assert!(storage[0].header("x-avala-api-key").is_none());
    assert!(storage[0].header("authorization").is_none());
}

#[tokio::test(start_paused = true)]
async fn a_body_cut_short_is_an_error_and_nothing_is_at_the_path() {
    let (mock, _, dir) = published().await;
    mock.storage()
        .fault(StorageRoute::Export, Fault::truncated())
        .always();
    let target = dir.path().join("e.zip");
    let err = mock
        .client()
        .download_export(UID, &target)
        .send()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Transport { .. }), "{err:?}");
    assert!(!target.exists());
    // Three attempts, the later ones continuing what the earlier kept.
    let storage = mock.exports().downloads();
    assert_eq!(storage.len(), 3);
    assert!(storage[1].header("range").is_some());
}

#[tokio::test(start_paused = true)]
async fn a_wrong_checksum_fails_and_leaves_nothing() {
    let (mock, _, dir) = published().await;
    mock.exports()
        .anomaly(UID, Some(ExportAnomaly::WrongChecksum));
    let target = dir.path().join("e.zip");
    let err = mock
        .client()
        .download_export(UID, &target)
        .send()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Integrity { message } if message.contains("checksum")),
        "{err:?}"
    );
    assert!(names(dir.path()).is_empty(), "{:?}", names(dir.path()));
}

#[tokio::test(start_paused = true)]
async fn an_existing_file_is_not_replaced_and_nothing_is_asked() {
    let (mock, data, dir) = published().await;
    let target = dir.path().join("e.zip");
    std::fs::write(&target, b"mine").unwrap();
    let err = mock
        .client()
        .download_export(UID, &target)
        .send()
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            Error::FileConflict {
                overwritable: true,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(std::fs::read(&target).unwrap(), b"mine");
    assert_eq!(mock.hits("get_export"), 0);
    assert!(mock.exports().downloads().is_empty());
    // With overwrite(true) it is replaced.
    mock.client()
        .download_export(UID, &target)
        .overwrite(true)
        .send()
        .await
        .unwrap();
    assert_eq!(std::fs::read(&target).unwrap(), data);
}

#[cfg(unix)]
#[tokio::test(start_paused = true)]
async fn a_link_at_the_path_is_never_written_through() {
    let (mock, _, dir) = published().await;
    let elsewhere = dir.path().join("elsewhere");
    std::fs::write(&elsewhere, b"keep").unwrap();
    let target = dir.path().join("e.zip");
    std::os::unix::fs::symlink(&elsewhere, &target).unwrap();
    let err = mock
        .client()
        .download_export(UID, &target)
        .overwrite(true)
        .send()
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            Error::FileConflict {
                overwritable: false,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(std::fs::read(&elsewhere).unwrap(), b"keep");
}

#[tokio::test(start_paused = true)]
async fn a_redirect_is_not_followed() {
    let (mock, _, dir) = published().await;
    mock.exports().anomaly(UID, Some(ExportAnomaly::Redirect));
    let target = dir.path().join("e.zip");
    let err = mock
        .client()
        .download_export(UID, &target)
        .send()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Integrity { message } if message.contains("redirect")),
        "{err:?}"
    );
    // One request: the 302 was neither followed nor repeated.
    assert_eq!(mock.exports().downloads().len(), 1);
    assert!(names(dir.path()).is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_host_outside_the_policy_is_refused_before_any_byte() {
    let (mock, _, dir) = published().await;
    mock.exports()
        .anomaly(UID, Some(ExportAnomaly::ForeignHost));
    let err = mock
        .client()
        .download_export(UID, dir.path().join("e.zip"))
        .send()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Integrity { message } if message.contains("::ffff:127.0.0.1")),
        "{err:?}"
    );
    assert!(mock.exports().downloads().is_empty());
    assert!(names(dir.path()).is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_cut_download_resumes_with_a_range_and_ends_byte_equal() {
    let (mock, data, dir) = published().await;
    mock.storage()
        .fault(StorageRoute::Export, Fault::truncated())
        .times(1);
    let target = dir.path().join("e.zip");
    let file = mock
        .client()
        .download_export(UID, &target)
        .send()
        .await
        .unwrap();
    assert_eq!(std::fs::read(&target).unwrap(), data);
    let storage = mock.exports().downloads();
    assert_eq!(storage.len(), 2);
    let kept = file.resumed_from;
    assert!(kept > 0 && kept < SIZE as u64, "{kept}");
    assert_eq!(
        storage[1].header("range"),
        Some(format!("bytes={kept}-").as_str())
    );
    assert!(storage[1]
        .header("if-range")
        .is_some_and(|v| v.starts_with('"')));
    assert_eq!(storage[1].status, Some(206));
    assert!(file.md5_checked, "the MD5 covers the kept bytes too");
    assert_eq!(names(dir.path()), ["e.zip"]);
}

#[tokio::test(start_paused = true)]
async fn a_later_run_resumes_what_a_failed_run_kept() {
    let (mock, data, dir) = published().await;
    mock.storage()
        .fault(StorageRoute::Export, Fault::truncated())
        .times(3);
    let target = dir.path().join("e.zip");
    let client = mock.client();
    client
        .download_export(UID, &target)
        .send()
        .await
        .unwrap_err();
    assert!(!target.exists());
    assert_eq!(names(dir.path()).len(), 1, "the resumable part is kept");
    let file = client.download_export(UID, &target).send().await.unwrap();
    assert!(file.resumed_from > 0);
    assert_eq!(std::fs::read(&target).unwrap(), data);
    assert_eq!(names(dir.path()), ["e.zip"]);
}

#[tokio::test(start_paused = true)]
async fn a_200_to_a_range_starts_again_from_zero() {
    let (mock, data, dir) = published().await;
    mock.exports()
        .anomaly(UID, Some(ExportAnomaly::IgnoreRange));
    mock.storage()
        .fault(StorageRoute::Export, Fault::truncated())
        .times(1);
    let target = dir.path().join("e.zip");
    let file = mock
        .client()
        .download_export(UID, &target)
        .send()
        .await
        .unwrap();
    let storage = mock.exports().downloads();
    assert!(storage[1].header("range").is_some());
    assert_eq!(storage[1].status, Some(200));
    assert_eq!(file.resumed_from, 0);
    assert_eq!(
        std::fs::read(&target).unwrap(),
        data,
        "not appended to the kept half"
    );
}

#[tokio::test(start_paused = true)]
async fn a_changed_file_is_not_resumed() {
    let (mock, _, dir) = published().await;
    mock.storage()
        .fault(StorageRoute::Export, Fault::truncated())
        .times(3);
    let target = dir.path().join("e.zip");
    let client = mock.client();
    client
        .download_export(UID, &target)
        .send()
        .await
        .unwrap_err();
    // The export's file changes (so does its ETag): If-Range gets a 200.
    let new = bytes(SIZE / 3);
    mock.exports().publish(UID, new.clone());
    let file = client.download_export(UID, &target).send().await.unwrap();
    assert_eq!(file.resumed_from, 0);
    assert_eq!(std::fs::read(&target).unwrap(), new);
    assert_eq!(names(dir.path()), ["e.zip"], "the stale part is gone");
}

#[tokio::test(start_paused = true)]
async fn an_unfinished_export_is_not_ready_and_a_failed_one_failed() {
    let (mock, _, dir) = published().await;
    let target = dir.path().join("e.zip");
    mock.exports().statuses(UID, ["processing"]);
    let err = mock
        .client()
        .download_export(UID, &target)
        .send()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::ExportNotReady { uid, status } if uid == UID && status.as_deref() == Some("processing")),
        "{err:?}"
    );
    mock.exports().statuses(UID, ["failed"]);
    let err = mock
        .client()
        .download_export(UID, &target)
        .send()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::JobFailed { status, .. } if status == "failed"),
        "{err:?}"
    );
    assert!(mock.exports().downloads().is_empty());
    assert!(!target.exists());
}

#[tokio::test(start_paused = true)]
async fn wait_polls_until_the_export_is_finished() {
    let (mock, data, dir) = published().await;
    mock.exports().statuses(UID, ["pending", "processing"]);
    let target = dir.path().join("e.zip");
    mock.client()
        .download_export(UID, &target)
        .wait(std::time::Duration::from_secs(60))
        .send()
        .await
        .unwrap();
    assert_eq!(mock.hits("get_export"), 3);
    assert_eq!(std::fs::read(&target).unwrap(), data);
}

#[tokio::test(start_paused = true)]
async fn a_server_error_is_retried_on_the_download_plane() {
    let (mock, data, dir) = published().await;
    mock.storage()
        .fault(StorageRoute::Export, Fault::status(503))
        .times(2);
    let target = dir.path().join("e.zip");
    mock.client()
        .download_export(UID, &target)
        .send()
        .await
        .unwrap();
    assert_eq!(mock.exports().downloads().len(), 3);
    assert_eq!(std::fs::read(&target).unwrap(), data);
}

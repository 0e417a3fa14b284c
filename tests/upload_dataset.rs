//! Dataset uploads against the embedded mock: every branch of protocol
//! §9.1 (v1, PUT, MULTIPART, `complete: true`, 412), the retries of §8, the
//! allow-list, local changes and the resume state.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use avala::{
    mock::{Fault, MockServer, StorageRoute, UploadMode},
    types::DataType,
    upload::{Excluded, Progress, ProgressEvent, TestKnobs, UploadError},
    Error,
};
use sha2::{Digest, Sha256};

const MIB: usize = 1024 * 1024;

#[path = "common/capture.rs"]
mod capture;
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

/// The stored objects of `dataset` as (path, size, sha256).
fn stored(mock: &MockServer, dataset: &str) -> Vec<(String, u64, Option<String>)> {
    mock.uploads()
        .objects()
        .into_iter()
        .filter(|o| o.dataset_name == dataset)
        .map(|o| (o.path, o.size, o.sha256))
        .collect()
}

fn expected(files: &[(&str, &[u8])]) -> Vec<(String, u64, Option<String>)> {
    let mut v: Vec<_> = files
        .iter()
        .map(|(p, b)| (p.to_string(), b.len() as u64, Some(sha(b))))
        .collect();
    v.sort();
    v
}

/// No storage request carried the key, and the mock refused none.
fn assert_storage_clean(mock: &MockServer) {
    let storage = common::storage_requests(mock);
    for r in &storage {
        assert!(
            r.header("x-avala-api-key").is_none(),
            "the key went to storage: {r:?}"
        );
        assert!(r.violations.is_empty(), "the mock storage refused {r:?}");
    }
}

/// The `UploadError` of `result`, after the one key-leak check of every
/// representation of the error.
fn upload_err<T: std::fmt::Debug>(result: avala::Result<T>) -> UploadError {
    match result {
        Err(err) => {
            common::assert_error_without_key(&err, MockServer::API_KEY);
            match err {
                Error::Upload(e) => *e,
                other => panic!("expected an upload error, got {other:?}"),
            }
        }
        Ok(v) => panic!("expected an upload error, got {v:?}"),
    }
}

#[tokio::test]
async fn put_uploads_a_directory_creates_the_dataset_and_waits() {
    let mock = MockServer::start().await;
    mock.uploads().mode(UploadMode::Put);
    let dir = TempDir::new();
    let state = TempDir::new();
    let a = dir.file("a.jpg", 1000);
    let b = dir.file("sub/deeper/b.jpg", 70_000);
    let empty = dir.file("sub/empty.jpg", 0);
    let events = Arc::new(Mutex::new(Vec::<Progress>::new()));
    let seen = events.clone();

    let dataset = mock
        .client()
        .upload_dataset(dir.path())
        .name("Warehouse Frames")
        .data_type(DataType::Image)
        .state_dir(state.path())
        .wait(Duration::from_secs(5))
        .on_progress(move |p| seen.lock().unwrap().push(p.clone()))
        .send()
        .await
        .unwrap();

    assert_eq!(dataset.name, "Warehouse Frames");
    assert_eq!(dataset.slug, "warehouse-frames");
    assert_eq!(dataset.status, Some(avala::types::DatasetStatus::Created));
    assert_eq!(
        stored(&mock, "Warehouse Frames"),
        expected(&[
            ("a.jpg", &a),
            ("sub/deeper/b.jpg", &b),
            ("sub/empty.jpg", &empty)
        ])
    );
    // One batch id, a UUID v4, on every presign and on the finalisation.
    let presigns = mock.received_for("create_manual_upload_url");
    assert_eq!(presigns.len(), 3);
    let batch = presigns[0].json().unwrap()["dataset_upload_uid"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(uuid::Uuid::parse_str(&batch).unwrap().get_version_num(), 4);
    for p in &presigns {
        let body = p.json().unwrap();
        assert_eq!(body["dataset_upload_uid"], batch.as_str());
        assert_eq!(body["upload_protocol_version"], 2);
    }
    let finalise = mock.received_for("create_dataset_from_manual_upload");
    let body = finalise[0].json().unwrap();
    assert_eq!(body["dataset_upload_uid"], batch.as_str());
    assert_eq!(
        (
            body["visibility"].as_str(),
            body["create_metadata"].as_bool()
        ),
        (Some("private"), Some(true))
    );
    assert_eq!(mock.hits("complete_manual_upload"), 3);
    assert_storage_clean(&mock);
    // The progress ends with every byte and file done.
    let events = events.lock().unwrap();
    let last = events.last().unwrap();
    assert_eq!((last.files_done, last.files_total), (3, 3));
    assert_eq!(
        (last.bytes_done, last.bytes_total, last.bytes_sent),
        (71_000, 71_000, 71_000)
    );
    assert!(events
        .iter()
        .any(|p| p.event == ProgressEvent::BytesSent(70_000)));
    // The batch is finished: its state is gone.
    assert_eq!(std::fs::read_dir(state.path()).unwrap().count(), 0);
}

#[tokio::test]
async fn v1_form_post_when_the_server_answers_post() {
    let mock = MockServer::start().await;
    mock.uploads().mode(UploadMode::V1);
    let dir = TempDir::new();
    let state = TempDir::new();
    let a = dir.file("x/a.bin", 5000);
    let report = mock
        .client()
        .upload_files(
            "legacy",
            [(dir.path().join("x/a.bin"), "x/a.bin".to_owned())],
        )
        .state_dir(state.path())
        .send()
        .await
        .unwrap();
    assert_eq!((report.files_sent, report.bytes_sent), (1, 5000));
    assert_eq!(stored(&mock, "legacy"), expected(&[("x/a.bin", &a)]));
    let form = &mock.received_for("storage.form")[0];
    assert!(form
        .header("content-type")
        .unwrap()
        .starts_with("multipart/form-data; boundary="));
    // v1 has no completion call.
    assert_eq!(mock.hits("complete_manual_upload"), 0);
    assert_storage_clean(&mock);
}

#[tokio::test]
async fn multipart_resumes_and_skips_the_parts_the_server_has() {
    let mock = MockServer::start().await;
    mock.uploads().mode(UploadMode::Multipart {
        part_size: 5 * MIB as u64,
    });
    let dir = TempDir::new();
    let state = TempDir::new();
    let big = dir.file("scan.bin", 12 * MIB); // parts of 5, 5 and 2 MiB
    let files = || [(dir.path().join("scan.bin"), "scan.bin".to_owned())];
    let client = mock.client();

    // Two parts go through, then storage refuses for good (403, not retried).
    mock.storage()
        .fault(StorageRoute::Part, Fault::delay(Duration::ZERO))
        .times(2);
    let refusal = mock.storage().fault(StorageRoute::Part, Fault::status(403));
    let e = upload_err(
        client
            .upload_files("scans", files())
            .state_dir(state.path())
            .send()
            .await,
    );
    match &e {
        UploadError::Storage {
            path, status, body, ..
        } => {
            assert_eq!((path.as_str(), *status), ("scan.bin", 403), "{body}");
        }
        other => panic!("expected Storage 403, got {other:?}"),
    }
    assert!(stored(&mock, "scans").is_empty());
    let first_run = mock.storage().bytes_received();

    refusal.times(0);
    let report = client
        .upload_files("scans", files())
        .state_dir(state.path())
        .send()
        .await
        .unwrap();
    // Only the missing part was sent: the 2 MiB tail, or a 5 MiB part.
    let second_run = mock.storage().bytes_received() - first_run;
    assert_eq!(report.bytes_sent, second_run);
    assert!(
        report.bytes_sent == 2 * MIB as u64 || report.bytes_sent == 5 * MIB as u64,
        "{report:?}"
    );
    assert_eq!(stored(&mock, "scans"), expected(&[("scan.bin", &big)]));
    // The presign of the second run listed the two stored parts.
    let signs: Vec<_> = mock.received_for("sign_manual_upload_parts");
    assert_eq!(
        signs.len(),
        4,
        "3 in the first run (the third refused), 1 in the second"
    );
    assert_storage_clean(&mock);
}

#[tokio::test]
async fn complete_true_when_the_server_already_has_the_file() {
    let mock = MockServer::start().await;
    let dir = TempDir::new();
    let state = TempDir::new();
    dir.file("a.png", 300);
    dir.file("b.png", 400);
    let files = || ["a.png", "b.png"].map(|n| (dir.path().join(n), n.to_owned()));
    let client = mock.client();
    let first = client
        .upload_files("done", files())
        .state_dir(state.path())
        .send()
        .await
        .unwrap();
    assert_eq!((first.files_sent, first.bytes_sent), (2, 700));
    // The local state is lost (a new batch): the server says `complete: true`.
    let bytes = mock.storage().bytes_received();
    let second = client
        .upload_files("done", files())
        .state_dir(state.path())
        .resume(false)
        .send()
        .await
        .unwrap();
    assert_eq!(
        (second.files_sent, second.files_skipped, second.bytes_sent),
        (0, 2, 0)
    );
    assert_ne!(second.dataset_upload_uid, first.dataset_upload_uid);
    assert_eq!(mock.storage().bytes_received(), bytes);
    assert_eq!(mock.hits("complete_manual_upload"), 4);
    // And with the state kept, nothing at all is asked.
    let presigns = mock.hits("create_manual_upload_url");
    let third = client
        .upload_files("done", files())
        .state_dir(state.path())
        .send()
        .await
        .unwrap();
    assert_eq!(third.files_skipped, 2);
    assert_eq!(mock.hits("create_manual_upload_url"), presigns);
}

/// Uploads `name` of `dir` into `dataset` twice: the first run's
/// completion is refused (a 400, not retried) after every byte landed, the
/// second runs as usual. The second run's report.
async fn again_after_a_refused_completion(
    mock: &MockServer,
    dataset: &str,
    dir: &TempDir,
    name: &str,
    state: &TempDir,
) -> avala::upload::UploadReport {
    let run = || {
        mock.client()
            .upload_files(dataset, [(dir.path().join(name), name.to_owned())])
            .state_dir(state.path())
            .send()
    };
    mock.fault("complete_manual_upload", Fault::status(400))
        .times(1);
    let e = run().await.unwrap_err();
    assert_eq!(e.status(), Some(400));
    let size = std::fs::metadata(dir.path().join(name)).unwrap().len();
    assert_eq!(mock.storage().bytes_received(), size, "every byte landed");
    run().await.unwrap()
}

#[tokio::test]
async fn a_412_on_the_put_means_already_there() {
    let mock = MockServer::start().await;
    mock.uploads().mode(UploadMode::Put);
    let dir = TempDir::new();
    let state = TempDir::new();
    let a = dir.file("a.jpg", 4096);
    // The PUT lands but the completion is refused; again, the conditional
    // PUT gets 412, which means it is there.
    let report = again_after_a_refused_completion(&mock, "pre", &dir, "a.jpg", &state).await;
    assert_eq!((report.files_skipped, report.bytes_sent), (1, 0));
    let puts = mock.received_for("storage.put");
    assert_eq!(
        puts.iter().map(|r| r.status).collect::<Vec<_>>(),
        [Some(200), Some(412)]
    );
    assert_eq!(puts[1].header("if-none-match"), Some("*"));
    assert_eq!(stored(&mock, "pre"), expected(&[("a.jpg", &a)]));
}

#[tokio::test]
async fn a_multipart_file_with_every_part_stored_is_completed_and_counted_skipped() {
    let mock = MockServer::start().await;
    mock.uploads().mode(UploadMode::Multipart {
        part_size: 5 * MIB as u64,
    });
    let dir = TempDir::new();
    let state = TempDir::new();
    let big = dir.file("scan.bin", 12 * MIB);
    // Every part lands but the completion is refused; again, the presign
    // lists all three parts, so nothing is sent, the upload is completed,
    // and the file counts as skipped, not sent.
    let report = again_after_a_refused_completion(&mock, "parts", &dir, "scan.bin", &state).await;
    assert_eq!(
        (report.files_sent, report.files_skipped, report.bytes_sent),
        (0, 1, 0)
    );
    assert_eq!(mock.storage().bytes_received(), 12 * MIB as u64);
    assert_eq!(mock.hits("complete_manual_upload"), 2);
    assert_eq!(stored(&mock, "parts"), expected(&[("scan.bin", &big)]));
}

#[tokio::test]
async fn an_upload_shows_its_settings_but_not_the_key() {
    let mock = MockServer::start().await;
    let state = TempDir::new();
    let up = mock
        .client()
        .upload_files("shown", [(state.path().join("a.jpg"), "a.jpg".to_owned())])
        .organization_uid("org-1")
        .workers(3)
        .resume(false)
        .check_quota(false)
        .state_dir(state.path());
    let text = format!("{up:?}");
    let options = format!(
        "options: Options {{ organization_uid: Some(\"org-1\"), workers: 3, resume: false, \
         check_quota: false, state_dir: Some({:?}), .. }}",
        state.path()
    );
    assert!(text.contains(&options), "{text}");
    assert!(!text.contains(MockServer::API_KEY), "{text}");
}

#[tokio::test]
async fn a_503_then_success_presigns_again() {
    let mock = MockServer::start().await;
    mock.uploads().mode(UploadMode::Put);
    let dir = TempDir::new();
    let state = TempDir::new();
    let a = dir.file("a.jpg", 2048);
    mock.storage()
        .fault(
            StorageRoute::Put,
            Fault::status(503).header("Retry-After", "0"),
        )
        .times(1);
    let report = fast(&mock)
        .upload_files("retry", [(dir.path().join("a.jpg"), "a.jpg".to_owned())])
        .state_dir(state.path())
        .send()
        .await
        .unwrap();
    assert_eq!(report.bytes_sent, 2048);
    assert_eq!(
        mock.hits("create_manual_upload_url"),
        2,
        "a presign per attempt"
    );
    assert_eq!(mock.hits("storage.put"), 2);
    assert_eq!(stored(&mock, "retry"), expected(&[("a.jpg", &a)]));
}

#[tokio::test]
async fn a_connection_dropped_mid_part_is_retried() {
    let mock = MockServer::start().await;
    mock.uploads().mode(UploadMode::Multipart {
        part_size: 5 * MIB as u64,
    });
    let dir = TempDir::new();
    let state = TempDir::new();
    let big = dir.file("v.mp4", 7 * MIB);
    mock.storage()
        .fault(StorageRoute::Part, Fault::drop_connection())
        .times(1);
    let report = fast(&mock)
        .upload_files("drop", [(dir.path().join("v.mp4"), "v.mp4".to_owned())])
        .state_dir(state.path())
        .send()
        .await
        .unwrap();
    assert_eq!(mock.hits("create_manual_upload_url"), 2);
    assert_eq!(
        report.bytes_sent,
        7 * MIB as u64,
        "each part is stored once"
    );
    assert!(
        mock.storage().bytes_received() > report.bytes_sent,
        "half a part was sent before the drop"
    );
    assert_eq!(stored(&mock, "drop"), expected(&[("v.mp4", &big)]));
    assert_storage_clean(&mock);
}

#[tokio::test]
async fn a_413_at_presign_is_quota_exceeded_at_once() {
    let mock = MockServer::start().await;
    let dir = TempDir::new();
    let state = TempDir::new();
    dir.file("a.jpg", 100);
    let files = || [(dir.path().join("a.jpg"), "a.jpg".to_owned())];
    mock.uploads().quota(150, 100);
    let e = fast(&mock)
        .upload_files("q", files())
        .state_dir(state.path())
        .check_quota(false)
        .send()
        .await
        .unwrap_err();
    match e {
        Error::QuotaExceeded { limit, used, .. } => {
            assert_eq!((limit, used), (Some(150), Some(100)))
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(mock.hits("create_manual_upload_url"), 1, "not retried");

    // The preflight compares the bytes to send with `limit`: no presign.
    mock.uploads().quota(99, 0);
    let e = mock
        .client()
        .upload_files("q", files())
        .state_dir(state.path())
        .send()
        .await
        .unwrap_err();
    match &e {
        Error::QuotaExceeded { limit, used, .. } => {
            assert_eq!((*limit, *used), (Some(99), Some(0)));
            assert_eq!(
                e.message(),
                "the upload needs 100 bytes but the storage quota is 99 bytes; free space or raise the quota"
            );
        }
        other => panic!("expected QuotaExceeded, got {other:?}"),
    }
    assert_eq!(mock.hits("create_manual_upload_url"), 1);
    assert_eq!(mock.hits("get_manual_upload_quota"), 1);
}

#[tokio::test]
async fn a_disallowed_host_gets_no_byte() {
    let mock = MockServer::start().await;
    let dir = TempDir::new();
    let state = TempDir::new();
    dir.file("a.jpg", 100);
    // A listener that would see any connection.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    for url in [
        format!("https://127.0.0.1:{port}/bucket/a.jpg"),
        "https://uploads.evil.example/a.jpg".to_owned(),
        "http://data.avala.ai/a.jpg".to_owned(),
    ] {
        mock.reset();
        mock.respond(
            "create_manual_upload_url",
            serde_json::json!({
                "method": "PUT",
                "upload_uid": "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9",
                "url": url,
                "headers": {},
            }),
        );
        let e = upload_err(
            mock.client()
                .upload_files("evil", [(dir.path().join("a.jpg"), "a.jpg".to_owned())])
                .state_dir(state.path())
                .send()
                .await,
        );
        let UploadError::DisallowedUrl { host, .. } = &e else {
            panic!("{e:?}")
        };
        let want = url::Url::parse(&url)
            .unwrap()
            .host_str()
            .unwrap()
            .to_owned();
        assert_eq!(host, &want);
        assert!(e.to_string().contains(&want), "{e}");
        assert_eq!(mock.hits("create_manual_upload_url"), 1, "not retried");
        assert_eq!(mock.hits("complete_manual_upload"), 0);
    }
    assert!(
        listener.accept().is_err(),
        "nothing connected to the refused host"
    );
}

#[tokio::test]
async fn a_file_that_changes_during_the_upload_is_an_error() {
    let mock = MockServer::start().await;
    mock.uploads().mode(UploadMode::Put);
    let dir = TempDir::new();
    let state = TempDir::new();
    dir.file("a.jpg", 100_000);
    let path = dir.path().join("a.jpg");
    let target = path.clone();
    let e = upload_err(
        mock.client()
            .upload_files("changing", [(path.clone(), "a.jpg".to_owned())])
            .state_dir(state.path())
            .on_progress(move |p| {
                if matches!(p.event, ProgressEvent::Started { .. }) {
                    // Another writer appends while the upload starts.
                    tempdir::grow(&target, b"more");
                }
            })
            .send()
            .await,
    );
    assert!(
        matches!(&e, UploadError::FileChanged { path: p } if *p == path),
        "{e:?}"
    );
    assert_eq!(
        mock.hits("complete_manual_upload"),
        0,
        "a changed file is not completed"
    );
    // Shortened under the upload: the read comes up short.
    std::fs::write(&path, vec![7u8; 100_000]).unwrap();
    let target = path.clone();
    let e = upload_err(
        mock.client()
            .upload_files("changing2", [(path.clone(), "a.jpg".to_owned())])
            .state_dir(state.path())
            .on_progress(move |p| {
                if matches!(p.event, ProgressEvent::Started { .. }) {
                    std::fs::write(&target, b"short").unwrap();
                }
            })
            .send()
            .await,
    );
    assert!(
        matches!(&e, UploadError::FileChanged { path: p } if *p == path),
        "{e:?}"
    );
}

#[tokio::test]
async fn a_corrupt_state_file_is_an_error_that_says_how_to_start_over() {
    let mock = MockServer::start().await;
    let dir = TempDir::new();
    let state = TempDir::new();
    dir.file("a.jpg", 10);
    let files = || [(dir.path().join("a.jpg"), "a.jpg".to_owned())];
    let client = mock.client();
    client
        .upload_files("c", files())
        .state_dir(state.path())
        .send()
        .await
        .unwrap();
    let state_file = std::fs::read_dir(state.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "json"))
        .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&state_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    std::fs::write(&state_file, b"{\"format\": 1").unwrap();
    let presigns = mock.hits("create_manual_upload_url");
    let e = upload_err(
        client
            .upload_files("c", files())
            .state_dir(state.path())
            .send()
            .await,
    );
    assert!(
        matches!(&e, UploadError::State { path, .. } if *path == state_file),
        "{e:?}"
    );
    assert!(
        e.to_string().contains("delete the file") && e.to_string().contains("resume(false)"),
        "{e}"
    );
    assert_eq!(
        mock.hits("create_manual_upload_url"),
        presigns,
        "nothing sent"
    );
    // Starting over works.
    client
        .upload_files("c", files())
        .state_dir(state.path())
        .resume(false)
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn a_second_run_of_the_same_upload_is_refused_while_the_first_runs() {
    let mock = MockServer::start().await;
    mock.uploads().mode(UploadMode::Put);
    let dir = TempDir::new();
    let state = TempDir::new();
    dir.file("a.jpg", 1000);
    let upload = || {
        mock.client()
            .upload_files("busy", [(dir.path().join("a.jpg"), "a.jpg".to_owned())])
            .state_dir(state.path())
    };
    // The first run's PUT is answered only in an hour: it holds its state
    // for as long as the test needs, whatever the machine's load.
    let held = mock
        .storage()
        .fault(StorageRoute::Put, Fault::delay(Duration::from_secs(3600)));
    let first = tokio::spawn(upload().send());
    // An event, not a time: the first run has presigned, so it holds the
    // state (taken before the first presign).
    while mock.hits("create_manual_upload_url") == 0 {
        tokio::task::yield_now().await;
    }
    let e = upload_err(upload().send().await);
    match &e {
        UploadError::State { path, message } => {
            assert!(path.starts_with(state.path()), "{path:?}");
            assert!(message.contains("another run"), "{message}");
        }
        other => panic!("expected UploadError::State, got {other:?}"),
    }
    assert_eq!(
        mock.hits("create_manual_upload_url"),
        1,
        "the second run sent nothing"
    );
    // Once the first has ended (here: stopped), the same upload runs.
    first.abort();
    assert!(first.await.unwrap_err().is_cancelled());
    held.times(0);
    let report = upload().send().await.unwrap();
    assert_eq!(report.files_sent + report.files_skipped, 1, "{report:?}");
}

#[tokio::test]
async fn an_interrupted_run_resumes_with_fewer_bytes_and_the_same_objects() {
    let mock = MockServer::start().await;
    mock.uploads().mode(UploadMode::Put);
    let dir = TempDir::new();
    let state = TempDir::new();
    let names = ["f0.jpg", "f1.jpg", "f2.jpg", "f3.jpg", "f4.jpg", "f5.jpg"];
    let contents: Vec<Vec<u8>> = names
        .iter()
        .enumerate()
        .map(|(i, n)| dir.file(n, 10_000 + i))
        .collect();
    let total: u64 = contents.iter().map(|c| c.len() as u64).sum();
    let upload = || {
        mock.client()
            .upload_dataset(dir.path())
            .name("resumed")
            .data_type(DataType::Image)
            .state_dir(state.path())
            .workers(1)
    };
    // Two files, then storage fails for good.
    mock.storage()
        .fault(StorageRoute::Put, Fault::delay(Duration::ZERO))
        .times(2);
    let refusal = mock.storage().fault(StorageRoute::Put, Fault::status(403));
    upload_err(upload().send().await);
    let first = mock.storage().bytes_received();
    let presigns = mock.hits("create_manual_upload_url");
    assert_eq!(mock.hits("create_dataset_from_manual_upload"), 0);

    refusal.times(0);
    upload().send().await.unwrap();
    let second = mock.storage().bytes_received() - first;
    assert!(
        second < total,
        "the second run sent {second} of {total} bytes"
    );
    // The files the state records cause no request at all (§13.1).
    assert_eq!(mock.hits("create_manual_upload_url") - presigns, 4);
    assert_eq!(
        second,
        contents[2..].iter().map(|c| c.len() as u64).sum::<u64>()
    );
    let want: Vec<(&str, &[u8])> = names
        .iter()
        .zip(&contents)
        .map(|(n, c)| (*n, c.as_slice()))
        .collect();
    assert_eq!(stored(&mock, "resumed"), expected(&want));
    // Both runs used the same batch.
    let batches: std::collections::BTreeSet<String> = mock
        .received_for("create_manual_upload_url")
        .iter()
        .map(|r| {
            r.json().unwrap()["dataset_upload_uid"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(batches.len(), 1);
    assert_storage_clean(&mock);
}

#[tokio::test]
async fn bad_arguments_are_refused_before_any_request() {
    let mock = MockServer::start().await;
    let dir = TempDir::new();
    dir.file("a.jpg", 1);
    let client = mock.client();
    let e = client
        .upload_dataset(dir.path())
        .data_type(DataType::Image)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        invalid_message(Err::<(), _>(e)),
        "upload_dataset needs a dataset name: call .name(..)"
    );
    let e = client
        .upload_dataset(dir.path().join("missing"))
        .name("x")
        .data_type(DataType::Image)
        .send()
        .await
        .unwrap_err();
    match upload_err(Err::<(), _>(e)) {
        UploadError::Io { path, .. } => assert_eq!(path, dir.path().join("missing")),
        other => panic!("expected Io, got {other:?}"),
    }
    let e = client
        .upload_files("x", [(dir.path().join("a.jpg"), "../a.jpg".to_owned())])
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        invalid_message(Err::<(), _>(e)),
        "`../a.jpg` is not a path in a dataset: use relative `/`-separated segments, none empty, `.` or `..`"
    );
    assert!(mock.received().is_empty());
}

// No time is asserted. The stalled storage never reads, and the silent one
// answers only in an hour, so neither can meet its timeout by chance; the
// storage that does answer has 5 s for it, which no load uses up.
#[tokio::test]
async fn a_stalled_send_and_a_silent_storage_end() {
    let mock = MockServer::start().await;
    mock.uploads().mode(UploadMode::Put);
    let dir = TempDir::new();
    let state = TempDir::new();
    dir.file("big.bin", 16 * MIB);
    let files = || [(dir.path().join("big.bin"), "big.bin".to_owned())];

    // Storage that takes the connection but never reads: the send stalls.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let held = tokio::spawn(async move {
        let mut sockets = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            sockets.push(socket);
        }
    });
    mock.respond(
        "create_manual_upload_url",
        serde_json::json!({
            "method": "PUT",
            "upload_uid": "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9",
            "url": format!("http://127.0.0.1:{port}/bucket/big.bin"),
        }),
    );
    let e = upload_err(
        fast(&mock)
            .upload_files("stall", files())
            .state_dir(state.path())
            .test_knobs(TestKnobs {
                storage_stall: Some(Duration::from_millis(300)),
                storage_answer: Some(Duration::from_secs(60)),
            })
            .send()
            .await,
    );
    held.abort();
    let UploadError::StorageTransport { message, .. } = &e else {
        panic!("{e:?}");
    };
    assert_eq!(
        mock.hits("create_manual_upload_url"),
        8,
        "every attempt stalled and was retried"
    );
    assert!(message.contains("stalled"), "{message}");

    // The answer timeout: storage reads the body, then says nothing.
    dir.file("small.bin", 64 * 1024);
    let mock = MockServer::start().await;
    mock.uploads().mode(UploadMode::Put);
    mock.storage()
        .fault(StorageRoute::Put, Fault::delay(Duration::from_secs(3600)))
        .times(1);
    let report = fast(&mock)
        .upload_files(
            "silent",
            [(dir.path().join("small.bin"), "small.bin".to_owned())],
        )
        .state_dir(state.path())
        .test_knobs(TestKnobs {
            storage_stall: Some(Duration::from_secs(60)),
            storage_answer: Some(Duration::from_secs(5)),
        })
        .send()
        .await
        .unwrap();
    assert_eq!(
        mock.hits("create_manual_upload_url"),
        2,
        "the silent attempt was abandoned and retried"
    );
    // The silent storage had kept the bytes: the retry's PUT met 412.
    assert_eq!((report.files_sent, report.files_skipped), (0, 1));
    let puts = mock.received_for("storage.put");
    assert_eq!(
        puts.iter().map(|r| r.status).collect::<Vec<_>>(),
        [Some(200), Some(412)]
    );
}

#[tokio::test]
async fn an_upload_into_a_taken_slug_sends_no_byte() {
    let mock = MockServer::start().await;
    mock.uploads().mode(UploadMode::Put);
    let dir = TempDir::new();
    let state = TempDir::new();
    dir.file("a.jpg", 1000);
    let upload = |name: &str| {
        mock.client()
            .upload_dataset(dir.path())
            .name(name)
            .slug("frames")
            .data_type(DataType::Image)
            .state_dir(state.path())
    };
    assert_eq!(upload("Frames").send().await.unwrap().slug, "frames");
    let bytes = mock.storage().bytes_received();
    let presigns = mock.hits("create_manual_upload_url");

    // Another dataset (not a resume of the first), the same slug and owner:
    // refused before the first presign, so not one byte goes to storage.
    let err = upload("Frames again").send().await.unwrap_err();
    assert_eq!(mock.storage().bytes_received(), bytes, "bytes were sent");
    assert_eq!(mock.hits("create_manual_upload_url"), presigns);
    assert_eq!(mock.hits("create_dataset_from_manual_upload"), 1);
    let shown = err.to_string();
    assert!(
        shown.contains("`frames`") && shown.contains("`jdoe`"),
        "{shown}"
    );
    match upload_err(Err::<(), _>(err)) {
        UploadError::SlugTaken { owner, slug } => {
            assert_eq!((owner, slug), ("jdoe".into(), "frames".into()))
        }
        other => panic!("expected SlugTaken, got {other:?}"),
    }
    let checks = mock.received_for("get_dataset_by_slug");
    assert_eq!(checks.last().unwrap().path_params["owner"], "jdoe");
    assert_eq!(checks.last().unwrap().path_params["slug"], "frames");

    // Under another owner the slug is free.
    upload("Frames elsewhere")
        .owner_name("acme-robotics")
        .send()
        .await
        .unwrap();
    assert!(mock.storage().bytes_received() > bytes);
    assert_eq!(mock.hits("create_dataset_from_manual_upload"), 2);

    // An organization's uploads are checked under its slug, looked up by uid.
    let bytes = mock.storage().bytes_received();
    let err = upload("Frames of the org")
        .organization_uid("org-1")
        .send()
        .await
        .unwrap_err();
    match upload_err(Err::<(), _>(err)) {
        UploadError::SlugTaken { owner, .. } => assert_eq!(owner, "acme-robotics"),
        other => panic!("expected SlugTaken, got {other:?}"),
    }
    assert_eq!(mock.storage().bytes_received(), bytes);
}

/// The longest wait a server can impose on an upload (README "Security").
const SERVER_WAIT_CAP: Duration = Duration::from_secs(60);

/// Hostile `Retry-After` values past the cap, and the least each stands for.
fn day_long_waits() -> [(&'static str, Duration); 3] {
    [
        ("86400", Duration::from_secs(86_400)),
        ("99999999999999999999999", Duration::from_secs(1_000_000)),
        (
            "Fri, 31 Dec 9999 23:59:59 GMT",
            Duration::from_secs(86_400 * 365 * 7000),
        ),
    ]
}

#[tokio::test(start_paused = true)]
async fn a_day_long_retry_after_on_the_presign_ends_the_upload_with_it() {
    let mock = MockServer::start().await;
    let dir = TempDir::new();
    let state = TempDir::new();
    dir.file("a.jpg", 100);
    mock.fault(
        "create_manual_upload_url",
        Fault::status(429).header("Retry-After", "86400"),
    );
    let started = tokio::time::Instant::now();
    let e = mock
        .client()
        .upload_dataset(dir.path())
        .name("Slow")
        .data_type(DataType::Image)
        .state_dir(state.path())
        .send()
        .await
        .unwrap_err();
    // Virtual time: nothing slept anywhere near the server's day.
    assert!(
        started.elapsed() < SERVER_WAIT_CAP,
        "{:?}",
        started.elapsed()
    );
    let Error::RateLimited {
        retry_after: Some(after),
        ..
    } = e
    else {
        panic!("expected RateLimited with the server's value, got {e:?}");
    };
    assert_eq!(after, Duration::from_secs(86_400));
    assert_eq!(mock.hits("create_manual_upload_url"), 1, "not asked again");
    assert_eq!(mock.storage().bytes_received(), 0);

    // A wait within the cap is honoured, then the upload goes on.
    mock.reset();
    mock.fault(
        "create_manual_upload_url",
        Fault::status(429).header("Retry-After", "30"),
    )
    .times(1);
    let started = tokio::time::Instant::now();
    let logs = capture::Capture::start();
    let report = mock
        .client()
        .upload_files("Slow", [(dir.path().join("a.jpg"), "a.jpg".to_owned())])
        .state_dir(state.path())
        .send()
        .await
        .unwrap();
    assert_eq!(report.files_sent, 1);
    // Exactly the server's 30 s was slept. (Only a floor on the virtual
    // clock: while the file is read on a blocking thread the paused clock
    // may run ahead to the transfer's 1 s watchdog ticks.)
    assert_eq!(logs.retry_delays(), [30_000]);
    assert!(started.elapsed() >= Duration::from_secs(30));
}

/// On real time: the storage phase reads the file on blocking threads,
/// and while it waits the paused clock would run ahead to the watchdog's
/// 1 s ticks, so virtual time says nothing here. The retry loop is the one
/// place that sleeps on a server's wait, and it logged none; a run that
/// slept the day anyway would meet the guard.
#[tokio::test]
async fn a_day_long_retry_after_from_storage_ends_the_upload_with_it() {
    let cases = [
        (UploadMode::Put, StorageRoute::Put, 503),
        (UploadMode::Put, StorageRoute::Put, 429),
        (UploadMode::V1, StorageRoute::Form, 429),
        (
            UploadMode::Multipart {
                part_size: 5 * MIB as u64,
            },
            StorageRoute::Part,
            503,
        ),
    ];
    for (mode, route, status) in cases {
        for (value, at_least) in day_long_waits() {
            let mock = MockServer::start().await;
            mock.uploads().mode(mode);
            let dir = TempDir::new();
            let state = TempDir::new();
            // One part at most: a single request meets the fault.
            dir.file("a.bin", 5 * MIB);
            mock.storage()
                .fault(route, Fault::status(status).header("Retry-After", value));
            let case = format!("{route:?} {status} {value}");
            let logs = capture::Capture::start();
            let upload = mock
                .client()
                .upload_files("slow", [(dir.path().join("a.bin"), "a.bin".to_owned())])
                .state_dir(state.path())
                .send();
            let e = upload_err(
                tokio::time::timeout(SERVER_WAIT_CAP, upload)
                    .await
                    .unwrap_or_else(|_| panic!("{case}: still waiting after {SERVER_WAIT_CAP:?}")),
            );
            assert_eq!(logs.retry_delays(), Vec::<u64>::new(), "{case}: slept");
            let UploadError::Storage {
                status: got,
                retry_after: Some(after),
                ..
            } = e
            else {
                panic!("{case}: expected Storage with the server's value, got {e:?}");
            };
            assert_eq!(got, status, "{case}");
            assert!(after >= at_least, "{case}: {after:?}");
            assert_eq!(mock.hits(route.operation_id()), 1, "{case}: sent once");
            assert_eq!(mock.hits("create_manual_upload_url"), 1, "{case}");
        }
    }
}

/// The storage requests the mock received (PUTs, parts and forms).
fn storage_requests(mock: &MockServer) -> usize {
    [StorageRoute::Put, StorageRoute::Part, StorageRoute::Form]
        .iter()
        .map(|r| mock.hits(r.operation_id()))
        .sum()
}

#[tokio::test]
async fn a_lost_answer_to_complete_is_resumed_from_the_completed_presign() {
    let modes = [
        UploadMode::Put,
        UploadMode::Multipart {
            part_size: 5 * MIB as u64,
        },
    ];
    for mode in modes {
        let mock = MockServer::start().await;
        mock.uploads().mode(mode);
        let dir = TempDir::new();
        let state = TempDir::new();
        let a = dir.file("a.bin", 6 * MIB);
        let files = || [(dir.path().join("a.bin"), "a.bin".to_owned())];
        let upload = || {
            fast(&mock)
                .upload_files("lost", files())
                .state_dir(state.path())
        };
        // The server commits each `complete`, but its answers are lost: the
        // first run ends after its attempts.
        let lost = mock.fault("complete_manual_upload", Fault::drop_connection());
        let e = upload().send().await.unwrap_err();
        assert!(matches!(e, Error::Transport { .. }), "{mode:?}: {e:?}");
        let sent = storage_requests(&mock);
        let presigns = mock.hits("create_manual_upload_url");
        assert!(presigns > 1, "{mode:?}: the attempts presigned again");
        // Every later presign said `complete: true`, without url or parts.
        for r in &mock.received_for("create_manual_upload_url")[1..] {
            assert_eq!(r.status, Some(200), "{mode:?}");
        }
        assert_eq!(
            stored(&mock, "lost"),
            expected(&[("a.bin", &a)]),
            "{mode:?}"
        );

        // The re-run: the completed presign counts as done; nothing is sent.
        lost.times(0);
        let skipped = Arc::new(Mutex::new(Vec::new()));
        let seen = skipped.clone();
        let report = upload()
            .on_progress(move |p: &Progress| {
                if p.event == ProgressEvent::Skipped {
                    seen.lock().unwrap().push(p.path.clone());
                }
            })
            .send()
            .await
            .unwrap();
        assert_eq!(
            (report.files_sent, report.files_skipped, report.bytes_sent),
            (0, 1, 0),
            "{mode:?}"
        );
        assert_eq!(*skipped.lock().unwrap(), ["a.bin"], "{mode:?}");
        assert_eq!(storage_requests(&mock), sent, "{mode:?}: not re-sent");
        assert_eq!(
            stored(&mock, "lost"),
            expected(&[("a.bin", &a)]),
            "{mode:?}"
        );
        // The state now records it: a third run asks nothing.
        let presigns = mock.hits("create_manual_upload_url");
        let again = upload().send().await.unwrap();
        assert_eq!(again.files_skipped, 1, "{mode:?}");
        assert_eq!(mock.hits("create_manual_upload_url"), presigns, "{mode:?}");
    }
}

#[tokio::test]
async fn a_412_to_a_put_without_the_precondition_is_not_already_there() {
    let mock = MockServer::start().await;
    let dir = TempDir::new();
    let state = TempDir::new();
    dir.file("a.jpg", 4096);
    // A presigned PUT whose headers carry no `If-None-Match: *`, and a
    // storage that answers it 412.
    let origin = mock.base_url().trim_end_matches("/api/v1").to_owned();
    mock.respond(
        "create_manual_upload_url",
        serde_json::json!({
            "method": "PUT",
            "upload_uid": "8c0e2a4b-6d1f-4a3c-b5e7-f9b1d3a5c7e9",
            "url": format!("{origin}/_storage/sink/a.jpg"),
            "headers": {"Content-Type": "application/octet-stream"},
        }),
    );
    mock.storage().fault(StorageRoute::Sink, Fault::status(412));
    let e = upload_err(
        fast(&mock)
            .upload_files("pre", [(dir.path().join("a.jpg"), "a.jpg".to_owned())])
            .state_dir(state.path())
            .send()
            .await,
    );
    assert!(
        matches!(&e, UploadError::Storage { path, status: 412, .. } if path == "a.jpg"),
        "{e:?}"
    );
    // Presigned again each attempt (8, bounded), never completed.
    assert_eq!(mock.hits("create_manual_upload_url"), 8);
    assert_eq!(mock.hits(StorageRoute::Sink.operation_id()), 8);
    assert_eq!(mock.hits("complete_manual_upload"), 0);
}

/// The `dataset_upload_uid` of every presign so far, in order.
fn batches(mock: &MockServer) -> Vec<String> {
    mock.received_for("create_manual_upload_url")
        .iter()
        .filter_map(|r| Some(r.json()?["dataset_upload_uid"].as_str()?.to_owned()))
        .collect()
}

#[tokio::test]
async fn a_state_written_for_one_source_root_is_not_used_for_another() {
    let mock = MockServer::start().await;
    mock.uploads().mode(UploadMode::Put);
    let (root_a, root_b) = (TempDir::new(), TempDir::new());
    let state = TempDir::new();
    root_a.file("a.jpg", 100);
    root_a.file("only-in-a.jpg", 100);
    root_b.file("a.jpg", 100);
    let upload = |root: &TempDir| {
        mock.client()
            .upload_dataset(root.path())
            .name("Same")
            .data_type(DataType::Image)
            .state_dir(state.path())
            .workers(1)
    };
    // Root A stops after its first file: its state keeps its batch.
    mock.storage()
        .fault(StorageRoute::Put, Fault::delay(Duration::ZERO))
        .times(1);
    mock.storage().fault(StorageRoute::Put, Fault::status(403));
    upload(&root_a).send().await.unwrap_err();
    let batch_a = batches(&mock)[0].clone();
    mock.reset();
    mock.uploads().mode(UploadMode::Put);

    // Root B, same dataset name and slug: a batch of its own.
    upload(&root_b).send().await.unwrap();
    let seen = batches(&mock);
    assert_eq!(seen.len(), 1);
    assert_ne!(seen[0], batch_a, "root A's batch (and its objects) reused");
    let created = mock.received_for("create_dataset_from_manual_upload");
    assert_eq!(created[0].json().unwrap()["dataset_upload_uid"], seen[0]);

    // Root A's state is still there: A resumes its own batch.
    mock.reset();
    mock.uploads().mode(UploadMode::Put);
    upload(&root_a).send().await.unwrap();
    assert!(batches(&mock).iter().all(|b| *b == batch_a));
}

#[cfg(unix)]
#[tokio::test]
async fn a_file_swapped_for_a_link_to_a_secret_after_the_walk_sends_none_of_it() {
    let multipart = UploadMode::Multipart {
        part_size: 5 * MIB as u64,
    };
    // What `b.bin` becomes: a link to the secret, or a FIFO no one writes
    // (whose open must not wait for a writer).
    let cases = [
        (UploadMode::V1, false),
        (UploadMode::Put, false),
        (multipart, false),
        (UploadMode::Put, true),
    ];
    for (mode, fifo) in cases {
        let mock = MockServer::start().await;
        mock.uploads().mode(mode);
        let dir = TempDir::new();
        let outside = TempDir::new();
        let state = TempDir::new();
        // An image: the upload is one the server would index (a.jpg).
        let a = dir.file("a.jpg", 1000);
        let original = dir.file("b.bin", 6 * MIB);
        // The secret has b's size: only its identity tells them apart.
        let secret = outside.file("secret.bin", 6 * MIB);
        assert_ne!(original, secret);
        let b = dir.path().join("b.bin");
        let (swap, link_to) = (b.clone(), outside.path().join("secret.bin"));
        // Once `a.jpg` is done (one file at a time), `b.bin` is swapped:
        // after the walk, before its send.
        let e = upload_err(
            mock.client()
                .upload_dataset(dir.path())
                .name("Swap")
                .data_type(DataType::Image)
                .state_dir(state.path())
                .workers(1)
                .on_progress(move |p: &Progress| {
                    if p.path == "a.jpg" && p.event == ProgressEvent::Done {
                        std::fs::remove_file(&swap).unwrap();
                        std::os::unix::fs::symlink(&link_to, &swap).unwrap();
                        if fifo {
                            std::fs::remove_file(&swap).unwrap();
                            mkfifo(&swap);
                        }
                    }
                })
                .send()
                .await,
        );
        assert!(
            matches!(&e, UploadError::FileChanged { path } if *path == b),
            "{mode:?}: {e:?}"
        );
        // Byte for byte (by SHA-256): the storage holds `a.jpg` and nothing
        // else, and received no byte beyond it.
        let all: Vec<_> = mock
            .uploads()
            .objects()
            .into_iter()
            .map(|o| (o.path, o.size, o.sha256))
            .collect();
        assert_eq!(all, expected(&[("a.jpg", &a)]), "{mode:?}");
        assert!(!all.iter().any(|o| o.2.as_deref() == Some(&*sha(&secret))));
        // a's 1000 bytes (and a v1 form's few fields): none of the secret's.
        let received = mock.storage().bytes_received();
        assert!(
            (1000..1000 + 4096).contains(&received),
            "{mode:?}: {received}"
        );
        assert_eq!(storage_requests(&mock), 1, "{mode:?}: nothing sent for b");
    }
}

/// Makes a FIFO at `path`.
#[cfg(unix)]
fn mkfifo(path: &std::path::Path) {
    // Not `mkfifo(1)` in a child process: a fork while another test holds
    // an upload lock would hold it too, until the child's exec.
    let mode = rustix::fs::Mode::from_raw_mode(0o600);
    rustix::fs::mkfifoat(rustix::fs::CWD, path, mode).expect("mkfifo");
}

#[cfg(unix)]
#[tokio::test]
async fn links_and_special_files_met_by_the_walk_are_reported_not_sent() {
    let mock = MockServer::start().await;
    mock.uploads().mode(UploadMode::Put);
    let dir = TempDir::new();
    let outside = TempDir::new();
    let state = TempDir::new();
    let a = dir.file("a.jpg", 300);
    outside.file("secret.txt", 50);
    std::os::unix::fs::symlink(
        outside.path().join("secret.txt"),
        dir.path().join("link.jpg"),
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    mkfifo(&dir.path().join("sub/pipe"));
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = events.clone();
    mock.client()
        .upload_dataset(dir.path())
        .name("Walk")
        .data_type(DataType::Image)
        .state_dir(state.path())
        .on_progress(move |p: &Progress| {
            if let ProgressEvent::Excluded(kind) = p.event {
                seen.lock().unwrap().push((p.path.clone(), kind));
            }
        })
        .send()
        .await
        .unwrap();
    let mut events = events.lock().unwrap().clone();
    events.sort_by(|x, y| x.0.cmp(&y.0));
    assert_eq!(
        events,
        [
            ("link.jpg".to_owned(), Excluded::SymbolicLink),
            ("sub/pipe".to_owned(), Excluded::SpecialFile),
        ]
    );
    // And why, in the words a person reads (the CLI prints them).
    assert_eq!(
        Excluded::SymbolicLink.to_string(),
        "a symbolic link (not followed, not uploaded)"
    );
    assert_eq!(
        Excluded::SpecialFile.to_string(),
        "not a regular file (not uploaded)"
    );
    assert_eq!(stored(&mock, "Walk"), expected(&[("a.jpg", &a)]));
}

#[tokio::test(start_paused = true)]
async fn an_api_500_during_an_upload_is_not_repeated_as_for_any_call() {
    // Issue 20: one API rule. A 500 is an answer the API would give again:
    // the upload used to repeat it where `Error::is_retryable` said no.
    let mock = MockServer::start().await;
    mock.uploads().mode(UploadMode::Put);
    let (dir, state) = (TempDir::new(), TempDir::new());
    dir.file("a.jpg", 100);
    mock.fault("create_manual_upload_url", Fault::status(500))
        .times(1);
    let e = mock
        .client()
        .upload_files("five", [(dir.path().join("a.jpg"), "a.jpg".to_owned())])
        .state_dir(state.path())
        .send()
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Server(_)), "{e:?}");
    assert_eq!(e.status(), Some(500));
    assert!(!e.is_retryable());
    assert_eq!(mock.hits("create_manual_upload_url"), 1);
    assert_eq!(mock.hits("storage.put"), 0);
}

#[tokio::test]
async fn workers_outside_1_to_64_are_refused_before_any_request() {
    let mock = MockServer::start().await;
    let (dir, state) = (TempDir::new(), TempDir::new());
    let file = dir.path().join("a.jpg");
    dir.file("a.jpg", 10);
    for workers in [0, 65] {
        let refused = |r: avala::Result<_>| matches!(r, Err(Error::InvalidArgument { message }) if message.contains("workers"));
        let dataset = mock
            .client()
            .upload_dataset(dir.path())
            .name("n")
            .data_type(DataType::Image)
            .state_dir(state.path())
            .workers(workers);
        assert!(refused(dataset.send().await.map(drop)), "{workers}");
        let files = mock
            .client()
            .upload_files("n", [(file.clone(), "a.jpg".to_owned())])
            .state_dir(state.path())
            .workers(workers);
        assert!(refused(files.send().await.map(drop)), "{workers}");
    }
    assert!(mock.received().is_empty());
}

/// The finalisation's body (the last one the mock received).
fn finalised_body(mock: &MockServer) -> serde_json::Value {
    let sent = mock.received_for("create_dataset_from_manual_upload");
    sent.last().expect("no finalisation").json().unwrap()
}

/// Without `data_type(..)`, the files' suffixes tell the type (the table
/// of the module doc); a file no kind claims (`readme.txt`) does not count.
#[tokio::test]
async fn the_data_type_is_detected_from_the_files_when_not_given() {
    let cases: [(&str, &[&str]); 5] = [
        ("image", &["a.JPG", "b/c.tiff", "readme.txt"]),
        ("video", &["run.mp4", "x.episode"]),
        ("lidar", &["s/0001.alp.gz", "s/0002.alp"]),
        ("mcap", &["drive.mcap", "notes.md"]),
        ("splat", &["scene.compressed.ply", "room.sog"]),
    ];
    for (kind, files) in cases {
        let mock = MockServer::start().await;
        mock.uploads().mode(UploadMode::Put);
        let (dir, state) = (TempDir::new(), TempDir::new());
        for f in files {
            dir.file(f, 10);
        }
        let dataset = mock
            .client()
            .upload_dataset(dir.path())
            .name(format!("Detect {kind}"))
            .state_dir(state.path())
            .send()
            .await
            .unwrap_or_else(|e| panic!("{kind}: {e}"));
        assert_eq!(dataset.data_type.map(|t| t.to_string()), Some(kind.into()));
        assert_eq!(finalised_body(&mock)["data_type"], kind, "{kind}");
        // Every file is still sent, the unclaimed ones too (as in Python).
        assert_eq!(mock.uploads().objects().len(), files.len(), "{kind}");
    }
}

/// An explicit type whose suffixes none of the files has would make an
/// empty dataset: refused before any request, saying why and what to do.
#[tokio::test]
async fn the_index_guard_refuses_before_any_request() {
    let mock = MockServer::start().await;
    let (dir, state) = (TempDir::new(), TempDir::new());
    dir.file("clip.mp4", 10);
    dir.file("notes.txt", 10);
    let upload = |t: DataType| {
        mock.client()
            .upload_dataset(dir.path())
            .name("Guarded")
            .data_type(t)
            .state_dir(state.path())
    };
    let e = upload(DataType::Image).send().await.unwrap_err();
    let shown = e.to_string();
    for part in ["image", ".jpg", ".png", "2 files", "clip.mp4", "data type"] {
        assert!(shown.contains(part), "`{part}` not in: {shown}");
    }
    match upload_err(Err::<(), _>(e)) {
        UploadError::NotIndexable {
            data_type,
            suffixes,
            files,
            example,
        } => {
            assert_eq!(
                (data_type, files, example.as_str()),
                (DataType::Image, 2, "clip.mp4")
            );
            assert!(suffixes.iter().any(|s| s == ".tiff"), "{suffixes:?}");
        }
        other => panic!("{other:?}"),
    }
    assert!(mock.received().is_empty(), "{:?}", mock.received());
    // The plan refuses the same way (a dry run shows the refusal).
    let e = upload_err(upload(DataType::Image).plan().await);
    assert!(matches!(e, UploadError::NotIndexable { .. }), "{e:?}");
    // A type the SDK does not know: it cannot tell what would be indexed.
    let e = upload(DataType::from("pointcloud"))
        .send()
        .await
        .unwrap_err();
    assert!(e.to_string().contains("pointcloud"), "{e}");
    assert!(mock.received().is_empty());
    assert_eq!(std::fs::read_dir(state.path()).unwrap().count(), 0);
    // The right type passes the guard; both files are sent.
    mock.uploads().mode(UploadMode::Put);
    upload(DataType::Video).send().await.unwrap();
    assert_eq!(mock.uploads().objects().len(), 2);
}

/// `create_metadata`, `industry` and `license` reach the finalisation as
/// Python sends them: `create_metadata` always (default `true`), the ids
/// only when set. The mock records what it received.
#[tokio::test]
async fn each_option_reaches_the_wire() {
    let mock = MockServer::start().await;
    mock.uploads().mode(UploadMode::Put);
    let (dir, state) = (TempDir::new(), TempDir::new());
    dir.file("a.jpg", 10);
    let upload = |name: &str| {
        mock.client()
            .upload_dataset(dir.path())
            .name(name)
            .data_type(DataType::Image)
            .state_dir(state.path())
    };
    upload("Defaults").send().await.unwrap();
    let body = finalised_body(&mock);
    assert_eq!(body["create_metadata"], true);
    assert!(
        body.get("industry").is_none() && body.get("license").is_none(),
        "{body}"
    );

    let mut metadata = serde_json::Map::new();
    metadata.insert("site".into(), "north".into());
    upload("Options")
        .create_metadata(false)
        .industry(7)
        .license(3)
        .visibility(avala::types::DatasetVisibility::Public)
        .metadata(metadata)
        .owner_name("acme-robotics")
        .send()
        .await
        .unwrap();
    let made = mock.uploads().datasets();
    assert_eq!(made.len(), 2);
    let (defaults, options) = (&made[0], &made[1]);
    assert_eq!(
        (
            defaults.create_metadata,
            defaults.industry,
            defaults.license
        ),
        (Some(true), None, None)
    );
    assert_eq!(defaults.visibility.as_deref(), Some("private"));
    assert_eq!(
        (options.create_metadata, options.industry, options.license),
        (Some(false), Some(7), Some(3))
    );
    assert_eq!(options.visibility.as_deref(), Some("public"));
    assert_eq!(options.metadata, Some(serde_json::json!({"site": "north"})));
    assert_eq!(options.owner_name.as_deref(), Some("acme-robotics"));
    assert_eq!(options.data_type.as_deref(), Some("image"));
    assert_eq!(
        finalised_body(&mock)["dataset_upload_uid"].as_str(),
        options.dataset_upload_uid.as_deref()
    );
}

/// `plan()` lists exactly the files `send()` would send (with sizes and
/// whether each is indexed), the skips with their reasons, the detected
/// type and the quota, and sends nothing: the mock's log holds one quota
/// read, no storage request and no mutating call; no state is written.
#[cfg(unix)]
#[tokio::test]
async fn a_plan_lists_the_files_and_skips_and_sends_nothing() {
    let mock = MockServer::start().await;
    mock.uploads().quota(10_000, 2_500);
    let (dir, outside, state) = (TempDir::new(), TempDir::new(), TempDir::new());
    dir.file("a.jpg", 300);
    dir.file("sub/b.png", 200);
    dir.file("sub/readme.md", 40);
    outside.file("secret.jpg", 50);
    std::os::unix::fs::symlink(
        outside.path().join("secret.jpg"),
        dir.path().join("link.jpg"),
    )
    .unwrap();
    mkfifo(&dir.path().join("sub/pipe"));
    let state_dir = state.path().join("states");
    let upload = || {
        mock.client()
            .upload_dataset(dir.path())
            .name("Planned Frames")
            .state_dir(&state_dir)
    };

    let plan = upload().plan().await.unwrap();
    assert_eq!(
        (plan.name.as_str(), plan.slug.as_str()),
        ("Planned Frames", "planned-frames")
    );
    assert_eq!(
        (plan.data_type.clone(), plan.data_type_detected),
        (DataType::Image, true)
    );
    let files: Vec<_> = plan
        .files
        .iter()
        .map(|f| (f.path.as_str(), f.size, f.indexed))
        .collect();
    assert_eq!(
        files,
        [
            ("a.jpg", 300, true),
            ("sub/b.png", 200, true),
            ("sub/readme.md", 40, false)
        ]
    );
    assert_eq!(plan.total_bytes, 540);
    let skipped: Vec<_> = plan
        .skipped
        .iter()
        .map(|s| (s.path.as_str(), s.reason))
        .collect();
    assert_eq!(
        skipped,
        [
            ("link.jpg", Excluded::SymbolicLink),
            ("sub/pipe", Excluded::SpecialFile)
        ]
    );
    let quota = plan.quota.unwrap();
    assert_eq!(
        (quota.needed, quota.used, quota.limit, quota.within_limit),
        (540, 2_500, 10_000, true)
    );
    let log: Vec<_> = mock
        .received()
        .into_iter()
        .map(|r| (r.method, r.operation_id.unwrap_or_default()))
        .collect();
    assert_eq!(
        log,
        [("GET".to_owned(), "get_manual_upload_quota".to_owned())]
    );
    assert_eq!(storage_requests(&mock), 0);
    assert!(!state_dir.exists(), "the plan wrote a resume state");

    // Without the quota check: not one request. Over the limit: said so.
    let plan = upload().check_quota(false).plan().await.unwrap();
    assert_eq!(plan.quota, None);
    assert_eq!(mock.received().len(), 1);
    mock.uploads().quota(500, 0);
    let quota = upload().plan().await.unwrap().quota.unwrap();
    assert!(!quota.within_limit, "{quota:?}");

    // The same walk as `send`: what it stores is what the plan listed.
    mock.uploads().quota(10_000, 0);
    mock.uploads().mode(UploadMode::Put);
    upload().send().await.unwrap();
    let sent: Vec<_> = mock
        .uploads()
        .objects()
        .into_iter()
        .map(|o| (o.path, o.size))
        .collect();
    let planned: Vec<_> = plan
        .files
        .iter()
        .map(|f| (f.path.clone(), f.size))
        .collect();
    assert_eq!(sent, planned);
}

/// Files of several kinds, without a data type: refused before any
/// request, naming each kind with its count and an example file.
#[tokio::test]
async fn a_mixed_set_is_refused_naming_the_counts_and_an_example() {
    let mock = MockServer::start().await;
    let (dir, state) = (TempDir::new(), TempDir::new());
    for f in ["a.jpg", "b.jpg", "c/d.png", "e.mp4", "readme.txt"] {
        dir.file(f, 10);
    }
    let upload = || {
        mock.client()
            .upload_dataset(dir.path())
            .name("Mixed")
            .state_dir(state.path())
    };
    for result in [
        upload().plan().await.map(drop),
        upload().send().await.map(drop),
    ] {
        let e = upload_err(result);
        let shown = e.to_string();
        let UploadError::MixedDataTypes { kinds } = e else {
            panic!("{e:?}");
        };
        let kinds: Vec<_> = kinds
            .iter()
            .map(|k| (k.data_type.clone(), k.files, k.example.as_str()))
            .collect();
        assert_eq!(
            kinds,
            [(DataType::Image, 3, "a.jpg"), (DataType::Video, 1, "e.mp4")]
        );
        assert!(
            shown.contains("3 image such as `a.jpg`") && shown.contains("1 video such as `e.mp4`"),
            "{shown}"
        );
    }
    assert!(mock.received().is_empty());
}

/// Files of no kind the server indexes, without a data type: refused
/// before any request, with the count and an example.
#[tokio::test]
async fn an_unknown_set_is_refused() {
    let mock = MockServer::start().await;
    let dir = TempDir::new();
    dir.file("data.csv", 10);
    dir.file("notes.txt", 10);
    let e = upload_err(
        mock.client()
            .upload_dataset(dir.path())
            .name("Unknown")
            .plan()
            .await,
    );
    let shown = e.to_string();
    match e {
        UploadError::UnknownDataType { files, example } => {
            assert_eq!((files, example.as_str()), (2, "data.csv"))
        }
        other => panic!("{other:?}"),
    }
    assert!(shown.contains("data type"), "{shown}");
    assert!(mock.received().is_empty());
}

// ---------------------------------------------------------------------------
// Every error branch of the dataset flow (src/upload/dataset/flow.rs), each
// with the reason it gives. docs/testing.md maps branch → test.

/// The `InvalidArgument` message of `result`.
fn invalid_message<T: std::fmt::Debug>(result: avala::Result<T>) -> String {
    match result {
        Err(Error::InvalidArgument { message }) => message,
        other => panic!("expected InvalidArgument, got {other:?}"),
    }
}

/// The `Protocol` error of `result`, as (path, message).
fn protocol_error<T: std::fmt::Debug>(result: avala::Result<T>) -> (String, String) {
    match upload_err(result) {
        UploadError::Protocol { path, message } => (path, message),
        other => panic!("expected UploadError::Protocol, got {other:?}"),
    }
}

#[tokio::test]
async fn a_dataset_without_a_name_or_slug_is_refused_before_any_request() {
    let mock = MockServer::start().await;
    let (dir, state) = (TempDir::new(), TempDir::new());
    dir.file("a.jpg", 10);
    let client = mock.client();
    let base = || client.upload_dataset(dir.path()).state_dir(state.path());

    let m = invalid_message(base().data_type(DataType::Image).send().await);
    assert_eq!(m, "upload_dataset needs a dataset name: call .name(..)");
    let m = invalid_message(base().name("  ").data_type(DataType::Image).send().await);
    assert_eq!(m, "upload_dataset needs a dataset name: call .name(..)");
    // Without a data type the files tell it (see
    // the_data_type_is_detected_from_the_files_when_not_given).
    // A name with no `a-z0-9` gives an empty slug; so does an empty one.
    let m = invalid_message(base().name("日本").data_type(DataType::Image).send().await);
    assert_eq!(m, "cannot make a slug from the name `日本`: call .slug(..)");
    let m = invalid_message(
        base()
            .name("Frames")
            .slug("")
            .data_type(DataType::Image)
            .send()
            .await,
    );
    assert_eq!(
        m,
        "cannot make a slug from the name `Frames`: call .slug(..)"
    );
    assert!(mock.received().is_empty(), "{:?}", mock.received());
}

#[tokio::test]
async fn an_empty_directory_is_refused_before_any_request() {
    let mock = MockServer::start().await;
    let (dir, state) = (TempDir::new(), TempDir::new());
    std::fs::create_dir_all(dir.path().join("sub/deeper")).unwrap();
    let m = invalid_message(
        mock.client()
            .upload_dataset(dir.path())
            .name("Empty")
            .data_type(DataType::Image)
            .state_dir(state.path())
            .send()
            .await,
    );
    assert_eq!(
        m,
        format!("{} holds no file to upload", dir.path().display())
    );
    assert!(mock.received().is_empty());
}

#[tokio::test]
async fn the_same_path_in_the_dataset_twice_is_refused_before_any_request() {
    let mock = MockServer::start().await;
    let (dir, state) = (TempDir::new(), TempDir::new());
    dir.file("a.jpg", 10);
    dir.file("b.jpg", 20);
    let m = invalid_message(
        mock.client()
            .upload_files(
                "twice",
                [
                    (dir.path().join("a.jpg"), "x/same.jpg".to_owned()),
                    (dir.path().join("b.jpg"), "x/same.jpg".to_owned()),
                ],
            )
            .state_dir(state.path())
            .send()
            .await,
    );
    assert_eq!(m, "`x/same.jpg` is given twice as a path in the dataset");
    assert!(mock.received().is_empty());
}

#[tokio::test]
async fn a_failed_slug_check_stops_the_upload_before_any_byte() {
    let mock = MockServer::start().await;
    let (dir, state) = (TempDir::new(), TempDir::new());
    dir.file("a.jpg", 10);
    mock.fault("get_dataset_by_slug", Fault::status(403));
    let e = mock
        .client()
        .upload_dataset(dir.path())
        .name("Frames")
        .data_type(DataType::Image)
        .state_dir(state.path())
        .send()
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Forbidden(_)), "{e:?}");
    assert_eq!(e.status(), Some(403));
    assert_eq!(mock.hits("create_manual_upload_url"), 0);
    assert_eq!(mock.storage().bytes_received(), 0);
}

/// `get_current_user`'s example with another `uid`.
fn me_with_uid(uid: &str) -> serde_json::Value {
    let mut me = avala::mock::examples::default_response("get_current_user")
        .unwrap()
        .body
        .clone();
    me["uid"] = uid.into();
    me
}

#[tokio::test]
async fn a_storage_root_that_changed_before_the_finalisation_creates_nothing() {
    let mock = MockServer::start().await;
    mock.uploads().mode(UploadMode::Put);
    let (dir, state) = (TempDir::new(), TempDir::new());
    dir.file("a.jpg", 10);
    // With an owner given, `/users/me/` is asked twice: for the transfer's
    // storage root, then again before the finalisation.
    let before = "2b9d6c4e-1f3a-4e5b-9c7d-8e6f5a4b3c2d";
    let after = "5e1f0a9b-8c7d-4e6f-a5b4-c3d2e1f0a9b8";
    mock.respond("get_current_user", me_with_uid(before))
        .times(1);
    mock.respond("get_current_user", me_with_uid(after))
        .times(1);
    let e = upload_err(
        mock.client()
            .upload_dataset(dir.path())
            .name("Moved")
            .owner_name("jdoe")
            .data_type(DataType::Image)
            .state_dir(state.path())
            .send()
            .await,
    );
    match &e {
        UploadError::StorageRootChanged {
            before: b,
            after: a,
        } => assert_eq!(
            (b.as_str(), a.as_str()),
            (
                "__u__=/2b9d6c4e-1f3a-4e5b-9c7d-8e6f5a4b3c2d",
                "__u__=/5e1f0a9b-8c7d-4e6f-a5b4-c3d2e1f0a9b8"
            )
        ),
        other => panic!("expected StorageRootChanged, got {other:?}"),
    }
    assert_eq!(mock.hits("get_current_user"), 2);
    assert_eq!(mock.hits("create_dataset_from_manual_upload"), 0);
    // The files went, and their state stays for a re-run.
    assert_eq!(mock.uploads().objects().len(), 1);
    assert!(std::fs::read_dir(state.path()).unwrap().count() > 0);
}

/// A presign answer of `body` for every request.
fn presign_answers(mock: &MockServer, body: serde_json::Value) {
    mock.respond("create_manual_upload_url", body);
}

#[tokio::test]
async fn an_upload_uid_that_is_not_a_uuid_is_refused_before_any_byte() {
    let origin_of = |mock: &MockServer| mock.base_url().trim_end_matches("/api/v1").to_owned();
    for method in ["PUT", "MULTIPART", "COMPLETED"] {
        let mock = MockServer::start().await;
        let (dir, state) = (TempDir::new(), TempDir::new());
        dir.file("a.bin", 6 * MIB);
        let origin = origin_of(&mock);
        let body = match method {
            "PUT" => serde_json::json!({
                "method": "PUT",
                "upload_uid": "../../etc",
                "url": format!("{origin}/_storage/sink/a.bin"),
                "headers": {},
            }),
            "MULTIPART" => serde_json::json!({
                "method": "MULTIPART",
                "upload_uid": "../../etc",
                "url": format!("{origin}/_storage/sink/a.bin"),
                "part_size": 5 * MIB,
                "part_count": 2,
                "uploaded_parts": [],
            }),
            _ => serde_json::json!({
                "method": "PUT",
                "upload_uid": "../../etc",
                "complete": true,
            }),
        };
        presign_answers(&mock, body);
        let (path, message) = protocol_error(
            mock.client()
                .upload_files("uid", [(dir.path().join("a.bin"), "a.bin".to_owned())])
                .state_dir(state.path())
                .send()
                .await,
        );
        assert_eq!(
            (path.as_str(), message.as_str()),
            ("a.bin", "the upload_uid is not a UUID"),
            "{method}"
        );
        assert_eq!(storage_requests(&mock), 0, "{method}");
        assert_eq!(mock.hits(StorageRoute::Sink.operation_id()), 0, "{method}");
        assert_eq!(mock.hits("sign_manual_upload_parts"), 0, "{method}");
        assert_eq!(mock.hits("complete_manual_upload"), 0, "{method}");
        assert_eq!(
            mock.hits("create_manual_upload_url"),
            1,
            "{method}: not retried"
        );
    }
}

#[tokio::test]
async fn a_completed_answer_without_a_managed_method_or_complete_is_refused() {
    for (method, complete, says) in [
        ("WEIRD", true, "a `WEIRD` answer without a url"),
        ("PUT", false, "a `PUT` answer without a url"),
    ] {
        let mock = MockServer::start().await;
        let (dir, state) = (TempDir::new(), TempDir::new());
        dir.file("a.bin", 10);
        presign_answers(
            &mock,
            serde_json::json!({
                "method": method,
                "upload_uid": "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9",
                "complete": complete,
            }),
        );
        let (path, message) = protocol_error(
            mock.client()
                .upload_files("odd", [(dir.path().join("a.bin"), "a.bin".to_owned())])
                .state_dir(state.path())
                .send()
                .await,
        );
        assert_eq!(path, "a.bin");
        assert_eq!(
            message,
            format!("{says} is neither a transfer nor a completed upload")
        );
        assert_eq!(mock.hits("complete_manual_upload"), 0, "{method}");
    }
}

#[tokio::test]
async fn a_part_layout_that_does_not_fit_the_file_is_refused_inside_the_flow() {
    // 11 MiB: 3 parts of 5 MiB fit; these do not.
    for (part_size, part_count) in [
        (5 * MIB as i64, 2),   // too few parts
        (4 * MIB as i64, 3),   // parts below 5 MiB
        (129 * MIB as i64, 1), // parts above 128 MiB
        (-1, 1),
    ] {
        let mock = MockServer::start().await;
        let (dir, state) = (TempDir::new(), TempDir::new());
        dir.file("a.bin", 11 * MIB);
        let origin = mock.base_url().trim_end_matches("/api/v1").to_owned();
        presign_answers(
            &mock,
            serde_json::json!({
                "method": "MULTIPART",
                "upload_uid": "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9",
                "url": format!("{origin}/_storage/sink/a.bin"),
                "part_size": part_size,
                "part_count": part_count,
                "uploaded_parts": [],
            }),
        );
        let (path, message) = protocol_error(
            mock.client()
                .upload_files("geo", [(dir.path().join("a.bin"), "a.bin".to_owned())])
                .state_dir(state.path())
                .send()
                .await,
        );
        assert_eq!(path, "a.bin");
        assert_eq!(
            message,
            format!(
                "multipart geometry {part_count} parts of {part_size} bytes does not fit a file of {} bytes",
                11 * MIB
            )
        );
        assert_eq!(mock.hits("sign_manual_upload_parts"), 0);
        assert_eq!(mock.storage().bytes_received(), 0);
    }
}

#[tokio::test]
async fn a_signing_answer_with_another_count_or_part_number_is_refused() {
    let cases = [
        (serde_json::json!([]), "signing part 1 gave 0 URLs, not one"),
        (
            serde_json::json!([
                {"part_number": 1, "url": "https://data.avala.ai/p1"},
                {"part_number": 1, "url": "https://data.avala.ai/p1b"},
            ]),
            "signing part 1 gave 2 URLs, not one",
        ),
        (
            serde_json::json!([{"part_number": 2, "url": "https://data.avala.ai/p2"}]),
            "asked to sign part 1, got part 2",
        ),
    ];
    for (parts, says) in cases {
        let mock = MockServer::start().await;
        mock.uploads().mode(UploadMode::Multipart {
            part_size: 5 * MIB as u64,
        });
        let (dir, state) = (TempDir::new(), TempDir::new());
        // One part: the one request for part 1 meets the bad answer.
        dir.file("a.bin", 5 * MIB);
        mock.respond(
            "sign_manual_upload_parts",
            serde_json::json!({ "parts": parts }),
        );
        let (path, message) = protocol_error(
            mock.client()
                .upload_files("sign", [(dir.path().join("a.bin"), "a.bin".to_owned())])
                .state_dir(state.path())
                .send()
                .await,
        );
        assert_eq!((path.as_str(), message.as_str()), ("a.bin", says));
        assert_eq!(storage_requests(&mock), 0, "{says}: nothing was sent");
        assert_eq!(mock.hits("complete_manual_upload"), 0, "{says}");
    }
}

#[tokio::test]
async fn a_wait_after_creation_that_fails_or_runs_out_is_the_upload_error() {
    let mock = MockServer::start().await;
    mock.uploads().mode(UploadMode::Put);
    let (dir, state) = (TempDir::new(), TempDir::new());
    dir.file("a.jpg", 10);
    let upload = |name: &str| {
        mock.client()
            .upload_dataset(dir.path())
            .name(name)
            .data_type(DataType::Image)
            .state_dir(state.path())
            .wait(Duration::from_secs(3))
            .poll_interval(Duration::from_secs(1))
    };
    // A poll that fails (403, not retried) ends the wait with its error;
    // the dataset was created and the batch consumed.
    let refused = mock.fault("get_dataset", Fault::status(403));
    let e = upload("Refused").send().await.unwrap_err();
    assert!(matches!(e, Error::Forbidden(_)), "{e:?}");
    assert_eq!(mock.hits("create_dataset_from_manual_upload"), 1);
    assert_eq!(mock.hits("get_dataset"), 1);
    refused.times(0);

    // A dataset that stays `creating` past the timeout: WaitTimeout, with
    // the last status seen (paused time: no real second passes).
    let mut creating = avala::mock::examples::default_response("get_dataset")
        .unwrap()
        .body
        .clone();
    creating["status"] = "creating".into();
    mock.respond("get_dataset", creating);
    tokio::time::pause();
    let e = upload("Slow").send().await.unwrap_err();
    match e {
        Error::WaitTimeout {
            waited,
            last_status,
        } => {
            // The deadline, give or take the timer's millisecond.
            assert!(
                waited >= Duration::from_secs(3) && waited < Duration::from_secs(4),
                "{waited:?}"
            );
            assert_eq!(last_status.as_deref(), Some("creating"));
        }
        other => panic!("expected WaitTimeout, got {other:?}"),
    }
    assert_eq!(mock.hits("create_dataset_from_manual_upload"), 2);
}

/// Until `seen` holds or 1,000 steps of 1 ms of paused time have passed
/// (the time only moves while the client and the mock are both waiting).
async fn until_seen(seen: impl Fn() -> bool) -> bool {
    for _ in 0..1000 {
        if seen() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    seen()
}

/// Presigns are pipelined ahead of PUTs (issue 22): with one worker, the
/// second file's presign is sent while the first file's PUT is still
/// unanswered, but not the third's (one file ahead a worker), no second
/// PUT starts before the first ends and the first file's `complete` waits
/// for its PUT.
#[tokio::test(start_paused = true)]
async fn the_next_presign_is_in_flight_while_a_put_is_held() {
    let mock = MockServer::start().await;
    mock.uploads().mode(UploadMode::Put);
    let dir = TempDir::new();
    let state = TempDir::new();
    let a = dir.file("a.jpg", 3000);
    let b = dir.file("b.jpg", 2000);
    let c = dir.file("c.jpg", 1000);
    let gate = avala::mock::Gate::new();
    mock.storage()
        .fault(StorageRoute::Put, Fault::held(&gate))
        .times(1);
    let files = [
        (dir.path().join("a.jpg"), "a.jpg".to_owned()),
        (dir.path().join("b.jpg"), "b.jpg".to_owned()),
        (dir.path().join("c.jpg"), "c.jpg".to_owned()),
    ];
    let upload = mock
        .client()
        .upload_files("ahead", files)
        .state_dir(state.path())
        .workers(1)
        .send();
    let watch = async {
        let ahead = until_seen(|| {
            mock.hits("storage.put") == 1 && mock.hits("create_manual_upload_url") >= 2
        })
        .await;
        // Let whatever else would be sent arrive before looking.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let while_held = (
            mock.hits("storage.put"),
            mock.hits("complete_manual_upload"),
            mock.hits("create_manual_upload_url"),
        );
        gate.open();
        (ahead, while_held)
    };
    let (report, (ahead, while_held)) = tokio::join!(upload, watch);
    let report = report.unwrap();
    assert!(
        ahead,
        "the second presign did not arrive while the first PUT was held"
    );
    assert_eq!(
        while_held,
        (1, 0, 2),
        "one PUT at a time, completed after its answer, one presign ahead"
    );
    assert_eq!(report.files_sent, 3);
    assert_eq!(
        stored(&mock, "ahead"),
        expected(&[("a.jpg", &a), ("b.jpg", &b), ("c.jpg", &c)])
    );
    assert_eq!(
        mock.hits("create_manual_upload_url"),
        3,
        "one presign a file"
    );
    assert_storage_clean(&mock);
}

/// The data plane reuses its connections (issue 22): twenty small PUTs,
/// two at a time, travel on at most two connections, not twenty.
#[tokio::test]
async fn small_puts_reuse_the_data_plane_connections() {
    let mock = MockServer::start().await;
    mock.uploads().mode(UploadMode::Put);
    let dir = TempDir::new();
    let state = TempDir::new();
    let files: Vec<_> = (0..20)
        .map(|i| {
            let name = format!("f{i:02}.jpg");
            dir.file(&name, 1000 + i);
            (dir.path().join(&name), name)
        })
        .collect();
    let report = mock
        .client()
        .upload_files("reuse", files)
        .state_dir(state.path())
        .workers(2)
        .send()
        .await
        .unwrap();
    assert_eq!(report.files_sent, 20);
    assert_eq!(mock.hits("storage.put"), 20);
    let connections = mock.storage().connections();
    assert!(
        (1..=2).contains(&connections),
        "20 PUTs on {connections} connections"
    );
}

/// A file being retried keeps its worker through the backoff: with one
/// worker, the next file (already presigned) does not send between the
/// first file's attempts.
#[tokio::test]
async fn a_retried_file_keeps_its_worker_through_the_backoff() {
    let mock = MockServer::start().await;
    mock.uploads().mode(UploadMode::Put);
    let dir = TempDir::new();
    let state = TempDir::new();
    dir.file("a.jpg", 3000);
    dir.file("b.jpg", 2000);
    mock.storage()
        .fault(
            StorageRoute::Put,
            Fault::status(503).header("Retry-After", "0"),
        )
        .times(1);
    let files = [
        (dir.path().join("a.jpg"), "a.jpg".to_owned()),
        (dir.path().join("b.jpg"), "b.jpg".to_owned()),
    ];
    let report = fast(&mock)
        .upload_files("backoff", files)
        .state_dir(state.path())
        .workers(1)
        .send()
        .await
        .unwrap();
    assert_eq!(report.files_sent, 2);
    let sizes: Vec<_> = mock
        .received_for("storage.put")
        .iter()
        .map(|r| r.header("content-length").unwrap().to_owned())
        .collect();
    assert_eq!(sizes, ["3000", "3000", "2000"], "a, a again, then b");
}

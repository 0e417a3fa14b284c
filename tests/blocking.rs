//! The blocking calls (feature `blocking`) against the embedded mock, from
//! plain `#[test]` threads: the mock serves from a runtime of its own, and
//! the thread that makes the calls is in no runtime. Inside a runtime every
//! blocking entry point returns `Error::BlockingInAsync`, sending nothing.
#![cfg(feature = "blocking")]

use std::{
    ops::Deref,
    path::PathBuf,
    sync::{Arc, Mutex},
    time::Duration,
};

use avala::{
    mock::{Fault, MockServer, PublicDataset, PublicObject, UploadMode},
    resolver::{DownloadReport, Downloaded},
    types::{DataType, DatasetStatus, ExportStatus, FleetUploadSessionStatus},
    Error,
};
use serde_json::json;

#[path = "common/tempdir.rs"]
mod tempdir;
use tempdir::TempDir;

/// The mock and the runtime it serves from (on that runtime's worker
/// thread); the server goes first, then its runtime.
struct Served {
    mock: MockServer,
    _runtime: tokio::runtime::Runtime,
}

impl Deref for Served {
    type Target = MockServer;

    fn deref(&self) -> &MockServer {
        &self.mock
    }
}

fn serve() -> Served {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let mock = runtime.block_on(MockServer::start());
    // The test thread itself is in no runtime: a blocking call may block.
    assert!(tokio::runtime::Handle::try_current().is_err());
    Served {
        mock,
        _runtime: runtime,
    }
}

/// Neither Debug nor Display of `e` holds the mock's key.
fn assert_no_key(e: &Error) {
    let text = format!("{e:?} {e}");
    assert!(!text.contains(MockServer::API_KEY), "{text}");
}

fn in_async(result: avala::Result<impl std::fmt::Debug>) {
    match result {
        Err(e @ Error::BlockingInAsync) => {
            assert_no_key(&e);
            assert!(e.to_string().contains("async"), "{e}");
            assert_eq!(e.message(), e.to_string());
        }
        other => panic!("expected BlockingInAsync, got {other:?}"),
    }
}

#[test]
fn a_generated_call_blocks_until_its_answer() {
    let mock = serve();
    let client = mock.client();
    let dataset = client
        .get_dataset()
        .uid("d1")
        .send_blocking()
        .unwrap()
        .into_inner();
    assert!(!dataset.uid.is_empty());
    let sent = mock.received_for("get_dataset");
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].path, "/api/v1/datasets/d1/");
    assert_eq!(sent[0].header("x-avala-api-key"), Some(MockServer::API_KEY));
    // The same client's next call reuses the runtime it built.
    client.get_dataset().uid("d2").send_blocking().unwrap();
    assert_eq!(mock.hits("get_dataset"), 2);
}

#[test]
fn a_page_walk_fetches_one_page_per_blocking_step() {
    let mock = serve();
    let client = mock.client();
    let one = client
        .get_dataset()
        .uid("d1")
        .send_blocking()
        .unwrap()
        .into_inner();
    let items: Vec<_> = (0..5)
        .map(|i| {
            let mut d = one.clone();
            d.uid = format!("d{i}");
            d
        })
        .collect();
    mock.paginate("list_datasets", items, 2);
    let mut walk = client.list_datasets().stream_blocking();
    assert_eq!(
        mock.hits("list_datasets"),
        0,
        "nothing before the first next()"
    );
    assert_eq!(walk.next().unwrap().unwrap().uid, "d0");
    assert_eq!(mock.hits("list_datasets"), 1);
    let rest: Vec<String> = walk.map(|d| d.unwrap().uid).collect();
    assert_eq!(rest, ["d1", "d2", "d3", "d4"]);
    assert_eq!(mock.hits("list_datasets"), 3);
}

#[test]
fn a_server_error_arrives_typed_without_the_key() {
    let mock = serve();
    let echo = format!("key {} is not allowed here", MockServer::API_KEY);
    mock.fault(
        "get_dataset",
        Fault::status(403).json(json!({ "detail": echo })),
    )
    .times(1);
    let err = mock
        .client()
        .get_dataset()
        .uid("d1")
        .send_blocking()
        .unwrap_err();
    assert!(matches!(&err, Error::Forbidden(_)), "{err:?}");
    assert_eq!(err.status(), Some(403));
    assert_no_key(&err);
}

#[test]
fn a_dataset_upload_blocks_until_the_dataset_exists() {
    let mock = serve();
    mock.uploads().mode(UploadMode::Put);
    let (dir, state) = (TempDir::new(), TempDir::new());
    dir.file("a.jpg", 1000);
    dir.file("sub/b.jpg", 70_000);
    let dataset = mock
        .client()
        .upload_dataset(dir.path())
        .name("Blocking Frames")
        .data_type(DataType::Image)
        .state_dir(state.path())
        .send_blocking()
        .unwrap();
    assert!(!dataset.uid.is_empty());
    let mut stored: Vec<(String, u64)> = mock
        .uploads()
        .objects()
        .into_iter()
        .map(|o| (o.path, o.size))
        .collect();
    stored.sort();
    assert_eq!(
        stored,
        [("a.jpg".to_owned(), 1000), ("sub/b.jpg".to_owned(), 70_000)]
    );
    assert_eq!(mock.hits("create_dataset_from_manual_upload"), 1);

    // The files alone, into an upload area of their own.
    let report = mock
        .client()
        .upload_files(
            "Blocking Files",
            [(dir.path().join("a.jpg"), "c.jpg".to_owned())],
        )
        .state_dir(state.path())
        .send_blocking()
        .unwrap();
    assert_eq!((report.files_sent, report.bytes_sent), (1, 1000));
    assert!(report.dataset_upload_uid.is_some(), "{report:?}");
    assert_eq!(mock.uploads().objects().len(), 3);
}

#[test]
fn fleet_uploads_legacy_and_managed_block_until_they_end() {
    let mock = serve();
    let (src, state) = (TempDir::new(), TempDir::new());
    src.file("run/cam.mcap", 5000);
    src.file("imu.mcap", 10);
    let client = mock.client();
    let legacy = client
        .upload_recording(uuid::Uuid::new_v4().to_string(), src.path())
        .state_dir(state.path())
        .send_blocking()
        .unwrap();
    assert_eq!(legacy.status, FleetUploadSessionStatus::Completing);
    assert_eq!((legacy.total_files, legacy.confirmed_files), (2, 2));

    let managed = client
        .upload_managed_recording("0f8fad5b-d9cb-469f-a165-70867728950e", src.path())
        .state_dir(state.path())
        .send_blocking()
        .unwrap();
    assert_eq!((managed.confirmed_files, managed.total_bytes), (2, 5010));
    assert_eq!(mock.hits("finalize_fleet_managed_upload"), 1);
}

#[test]
fn the_waits_block_until_the_job_is_done() {
    let mock = serve();
    mock.jobs()
        .export_statuses("exp_1", ["processing", "exported"]);
    mock.jobs().dataset_statuses("ds_1", ["created"]);
    let client = mock.client();
    let polled = Arc::new(Mutex::new(Vec::new()));
    let record = polled.clone();
    let export = client
        .wait_for_export("exp_1")
        .poll_interval(Duration::from_millis(500))
        .on_poll(move |e| record.lock().unwrap().push(e.status.clone()))
        .send_blocking()
        .unwrap();
    assert_eq!(export.status, Some(ExportStatus::Exported));
    assert_eq!(*polled.lock().unwrap(), [Some(ExportStatus::Processing)]);
    assert_eq!(mock.hits("get_export"), 2);

    let dataset = client.wait_for_dataset("ds_1").send_blocking().unwrap();
    assert_eq!(dataset.status, Some(DatasetStatus::Created));

    // A failure state is the same typed error as in async code.
    mock.jobs().export_statuses("exp_2", ["failed"]);
    let err = client.wait_for_export("exp_2").send_blocking().unwrap_err();
    assert!(matches!(&err, Error::JobFailed { .. }), "{err:?}");
}

#[test]
fn a_blocking_call_from_a_callback_is_refused_not_deadlocked() {
    let mock = serve();
    mock.jobs()
        .export_statuses("exp_1", ["processing", "exported"]);
    let client = mock.client();
    let nested = Arc::new(Mutex::new(Vec::new()));
    let (inner, record) = (client.clone(), nested.clone());
    // The callback runs on the runtime of the outer blocking call.
    client
        .wait_for_export("exp_1")
        .poll_interval(Duration::from_millis(500))
        .on_poll(move |_| {
            let got = inner.get_dataset().uid("d1").send_blocking();
            record.lock().unwrap().push(got.map(|_| ()));
        })
        .send_blocking()
        .unwrap();
    let nested = std::mem::take(&mut *nested.lock().unwrap());
    assert_eq!(nested.len(), 1);
    in_async(nested.into_iter().next().unwrap());
    assert_eq!(mock.hits("get_dataset"), 0);
}

#[test]
fn frames_helpers_block_until_the_answer() {
    let mock = serve();
    let sequence = json!({
        "uid": "55555555-5555-5555-5555-555555555555",
        "key": "scene",
        "status": "completed",
        "number_of_frames": 1,
        "frames": [{"key": "frame-0.json",
                    "images": [{"camera": "cam_01", "image_url": "s3://b/0.jpg"}]}]
    });
    mock.respond("get_dataset_sequence", sequence).times(2);
    let client = mock.client();
    let frame = client
        .get_frame_blocking("acme", "lidar", "seq-1", 0)
        .unwrap();
    assert_eq!(frame.key.as_deref(), Some("frame-0.json"));
    let rig = client
        .get_calibration_blocking("acme", "lidar", "seq-1")
        .unwrap();
    assert_eq!(rig.cameras.len(), 1);
    assert_eq!(mock.hits("get_dataset_sequence"), 2);
}

#[test]
fn a_finished_export_downloads_blocking_with_progress() {
    let mock = serve();
    let data: Vec<u8> = (0..200 * 1024u32).map(|i| (i % 251) as u8).collect();
    mock.exports().publish("exp_dl", data.clone());
    let dir = TempDir::new();
    let target = dir.path().join("export.zip");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    let client = mock.client();
    let file = client
        .download_export("exp_dl", &target)
        .on_progress(move |p| record.lock().unwrap().push(p.received))
        .send_blocking()
        .unwrap();
    assert_eq!(std::fs::read(&target).unwrap(), data);
    assert_eq!((file.size, file.resumed_from), (data.len() as u64, 0));
    assert!(file.md5_checked);
    assert_eq!(seen.lock().unwrap().last(), Some(&(data.len() as u64)));
    assert_eq!(mock.exports().downloads().len(), 1);

    // A refusal arrives typed, as from `send`: the file is there now.
    let again = client.download_export("exp_dl", &target);
    let err = again.send_blocking().unwrap_err();
    assert!(matches!(err, Error::FileConflict { .. }), "{err:?}");
    assert_eq!(mock.exports().downloads().len(), 1);
}

fn scratch(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("avala-blocking-{name}-{:016x}", fastrand::u64(..)));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn the_resolver_loads_lists_reads_and_downloads_blocking() {
    let mock = serve();
    let published = mock.resolver().publish(
        PublicDataset::new("acme", "lidar")
            .object(PublicObject::new(
                "frame",
                0,
                "frames/0.bin",
                vec![1u8; 5000],
            ))
            .object(PublicObject::new(
                "frame",
                1,
                "frames/1.bin",
                vec![7u8; 3000],
            ))
            .page_size(1),
    );
    let resolver = mock.resolver().client();
    let dataset = resolver.load_blocking("acme/lidar").unwrap();
    assert_eq!(dataset.revision_sha256(), published.revision_sha256);

    let objects: Vec<_> = dataset
        .objects_blocking()
        .collect::<avala::Result<_>>()
        .unwrap();
    assert_eq!(objects.len(), 2);
    for (object, want) in objects.iter().zip(&published.objects) {
        assert_eq!(object.read_blocking().unwrap(), want.bytes);
        let chunks: Vec<_> = object
            .stream_blocking()
            .collect::<avala::Result<_>>()
            .unwrap();
        assert_eq!(chunks.concat(), want.bytes);
    }
    let second = dataset.object_blocking("frame", 1).unwrap().unwrap();
    assert_eq!(second.logical_path(), "frames/1.bin");
    let frames = dataset.objects_with_role_blocking("frame").count();
    assert_eq!(frames, 2);

    let dir = scratch("resolver");
    let one = dir.join("one.bin");
    let fetched = second.download_to(&one).send_blocking().unwrap();
    assert_eq!(fetched, Downloaded::Fetched);
    assert_eq!(std::fs::read(&one).unwrap(), published.objects[1].bytes);
    let report: DownloadReport = dataset
        .download_all(dir.join("all"))
        .send_blocking()
        .unwrap();
    assert_eq!((report.files_fetched, report.bytes_fetched), (2, 8000));
    assert_eq!(
        std::fs::read(dir.join("all/frames/0.bin")).unwrap(),
        published.objects[0].bytes
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn threads_share_one_client_and_its_runtime() {
    let mock = serve();
    let client = mock.client();
    std::thread::scope(|s| {
        for t in 0..4 {
            let client = &client;
            s.spawn(move || {
                for i in 0..5 {
                    let uid = format!("t{t}-{i}");
                    client.get_dataset().uid(uid).send_blocking().unwrap();
                }
            });
        }
    });
    assert_eq!(mock.hits("get_dataset"), 20);
}

#[test]
fn a_client_that_made_blocking_calls_may_be_dropped_inside_a_runtime() {
    let mock = serve();
    let client = mock.client();
    client.get_dataset().uid("d1").send_blocking().unwrap();
    // The last clone goes inside an async task: the client's runtime must
    // shut down without the panic a plain drop raises there.
    let other = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    other.block_on(async move { drop(client) });
}

#[tokio::test]
async fn send_blocking_inside_a_runtime_is_a_typed_error_and_sends_nothing() {
    let mock = MockServer::start().await;
    let client = mock.client();
    in_async(client.get_dataset().uid("d1").send_blocking());
    let mut walk = client.list_datasets().stream_blocking();
    in_async(walk.next().unwrap());
    assert!(walk.next().is_none(), "the walk ends after the refusal");
    in_async(client.wait_for_export("exp_1").send_blocking());
    in_async(client.get_frame_blocking("acme", "lidar", "seq-1", 0));
    let dir = TempDir::new();
    dir.file("a.jpg", 10);
    in_async(
        client
            .upload_dataset(dir.path())
            .name("x")
            .data_type(DataType::Image)
            .state_dir(dir.path().join("state"))
            .send_blocking(),
    );
    in_async(mock.resolver().client().load_blocking("acme/lidar"));
    mock.exports().publish("exp_dl", vec![1u8; 10]);
    let target = dir.path().join("export.zip");
    in_async(client.download_export("exp_dl", &target).send_blocking());
    assert!(!target.exists(), "nothing written");
    assert_eq!(mock.received().len(), 0, "{:?}", mock.received());
    // The async calls still work on the same client.
    client.get_dataset().uid("d1").send().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_blocking_on_a_multi_thread_runtime_is_the_same_error() {
    let mock = MockServer::start().await;
    in_async(mock.client().get_dataset().uid("d1").send_blocking());
    let from_blocking_pool = tokio::task::spawn_blocking({
        let client = mock.client();
        move || client.get_dataset().uid("d1").send_blocking().map(|_| ())
    })
    .await
    .unwrap();
    in_async(from_blocking_pool);
    assert_eq!(mock.hits("get_dataset"), 0);
}

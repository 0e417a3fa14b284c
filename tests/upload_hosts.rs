//! The production storage host policy (`src/hosts.rs`, through
//! `upload/allow.rs` and the managed R2 pin) driven through the three
//! upload flows, not only unit-tested: the client talks to
//! `https://api.avala.ai` and every storage host by its production name,
//! and the hidden `ClientBuilder::test_network` sends all of them to a
//! loopback TLS front (`tests/common/tls_front.rs`) that forwards to the
//! embedded mock. The mock's presigned URLs name the mock's own loopback
//! origin; each test rewrites the origin of the next signing answer to a
//! production host, so no loopback exception is in play (the client's base
//! URL is `https`, so `http` to loopback is refused too).

use std::time::Duration;

use avala::{
    mock::{ManagedAnomaly, MockServer, ReceivedRequest, UploadMode},
    retry::RetryPolicy,
    types::{DataType, ManagedFinalizationState},
    upload::UploadError,
    Client, Error,
};
use sha2::{Digest, Sha256};

mod common;
#[path = "common/tempdir.rs"]
mod tempdir;
#[path = "common/tls_front.rs"]
mod tls_front;

use common::{assert_error_without_key, KEY};
use tempdir::TempDir;
use tls_front::{tls_fixture, TlsFront, R2_HOST};

/// A foreign host the certificate does not carry: sent to the front too,
/// so that a request that got past the policy would be seen, not lost to
/// DNS.
const FOREIGN: &str = "uploads.example.com";

/// Look-alikes of S3 that the certificate carries: were the host policy
/// gone, an upload to them would succeed.
const LOOK_ALIKES: [&str; 2] = ["s3.amazonaws.com.evil.test", "evil-amazonaws.com"];

/// A mock behind the TLS front, and a client of `https://api.avala.ai`
/// (with the distinctive [`KEY`]) whose every production name goes there.
struct Production {
    mock: MockServer,
    front: TlsFront,
    client: Client,
}

impl Production {
    async fn start() -> Self {
        common::init();
        let mock = MockServer::start().await;
        let front = TlsFront::start(mock.address()).await;
        let step = Duration::from_millis(1);
        let client = Client::builder()
            .api_key(KEY)
            .base_url("https://api.avala.ai/api/v1")
            .retry_policy(RetryPolicy::default().base_delay(step).max_delay(step))
            .test_network(front.resolve(&[FOREIGN]), tls_fixture("cert.der"))
            .build()
            .unwrap();
        Self {
            mock,
            front,
            client,
        }
    }

    /// The next dataset presign answer names `host`.
    fn presign_on(&self, host: &str) {
        let origin = format!("http://{}", self.mock.address());
        let host = format!("https://{host}");
        self.mock
            .edit_next("create_manual_upload_url", move |body| {
                let url = body["url"].as_str().unwrap().replacen(&origin, &host, 1);
                body["url"] = url.into();
            });
    }

    /// The next legacy Fleet URL batch names `host`.
    fn urls_on(&self, host: &str) {
        self.first_urls_on(usize::MAX, host);
    }

    /// The first `count` URLs of the next legacy Fleet batch name `host`;
    /// the others keep the mock's own origin.
    fn first_urls_on(&self, count: usize, host: &str) {
        let origin = format!("http://{}", self.mock.address());
        let host = format!("https://{host}");
        self.mock.edit_next("get_fleet_upload_urls", move |body| {
            for grant in body["urls"].as_array_mut().unwrap().iter_mut().take(count) {
                let url = grant["put_url"]
                    .as_str()
                    .unwrap()
                    .replacen(&origin, &host, 1);
                grant["put_url"] = url.into();
            }
        });
    }

    /// Every storage request the mock received.
    fn storage(&self) -> Vec<ReceivedRequest> {
        common::storage_requests(&self.mock)
    }

    /// Storage requests arrived, each under the host name `host` through
    /// the front, none with the key or refused by the mock; and the key
    /// went to `api.avala.ai` only.
    fn assert_stored_via(&self, host: &str, what: &str) {
        let storage = self.storage();
        assert!(!storage.is_empty(), "{what}: nothing reached storage");
        for r in &storage {
            assert_eq!(r.header("host"), Some(host), "{what}: {r:?}");
            assert!(r.header("x-avala-api-key").is_none(), "{what}: {r:?}");
            assert!(r.violations.is_empty(), "{what}: {r:?}");
        }
        for r in self.mock.received() {
            if r.header("x-avala-api-key").is_some() {
                assert_eq!(r.header("host"), Some("api.avala.ai"), "{what}: {r:?}");
            }
        }
        assert!(self.front.connections_to(host) > 0, "{what}");
    }

    /// `result` is a `DisallowedUrl` naming `host`, without the key; no
    /// connection was made to `host` and storage received nothing.
    fn assert_refused<T: std::fmt::Debug>(&self, result: avala::Result<T>, host: &str, what: &str) {
        let err = match result {
            Err(e) => e,
            Ok(v) => panic!("{what}: {host} was accepted: {v:?}"),
        };
        assert_error_without_key(&err, KEY);
        match &err {
            Error::Upload(u) => match &**u {
                UploadError::DisallowedUrl { host: h, .. } => assert_eq!(h, host, "{what}"),
                other => panic!("{what}: {other:?}"),
            },
            other => panic!("{what}: {other:?}"),
        }
        assert_eq!(self.front.connections_to(host), 0, "{what}: {host}");
        assert!(self.storage().is_empty(), "{what}: {:?}", self.storage());
        assert_eq!(self.mock.storage().bytes_received(), 0, "{what}");
        common::assert_logs_clean();
    }
}

fn sha(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The dataset upload's storage hosts: the edge, S3 virtual-hosted and
/// path-style (GovCloud included), R2, GCS and Azure Blob.
const DATASET_HOSTS: [&str; 7] = [
    "data.avala.ai",
    "bucket.s3.us-east-1.amazonaws.com",
    "s3.us-east-1.amazonaws.com",
    "bucket.s3.us-gov-west-1.amazonaws.com",
    R2_HOST,
    "storage.googleapis.com",
    "acct123.blob.core.windows.net",
];

/// A dataset upload (PUT) of one file, `a.jpg`, whose presigned URL names
/// `host`: its result and the file's bytes.
async fn dataset(p: &Production, host: &str) -> (avala::Result<avala::types::Dataset>, Vec<u8>) {
    p.presign_on(host);
    dataset_as_presigned(p).await
}

/// [`dataset`] with the mock's presigned URL left as it is:
/// `http://127.0.0.1:<port>/...`.
async fn dataset_as_presigned(p: &Production) -> (avala::Result<avala::types::Dataset>, Vec<u8>) {
    p.mock.uploads().mode(UploadMode::Put);
    let (dir, state) = (TempDir::new(), TempDir::new());
    let bytes = dir.file("a.jpg", 1000);
    let result = p
        .client
        .upload_dataset(dir.path())
        .name("Hosts")
        .data_type(DataType::Image)
        .state_dir(state.path())
        .send()
        .await;
    (result, bytes)
}

#[tokio::test]
async fn a_dataset_upload_reaches_each_production_storage_host() {
    for host in DATASET_HOSTS {
        let p = Production::start().await;
        let (result, bytes) = dataset(&p, host).await;
        let dataset = result.unwrap_or_else(|e| panic!("{host}: {e:?}"));
        assert_eq!(dataset.name, "Hosts", "{host}");
        let stored: Vec<_> = p
            .mock
            .uploads()
            .objects()
            .into_iter()
            .map(|o| (o.path, o.sha256))
            .collect();
        assert_eq!(stored, [("a.jpg".to_owned(), Some(sha(&bytes)))], "{host}");
        p.assert_stored_via(host, host);
    }
}

#[tokio::test]
async fn a_dataset_upload_to_a_foreign_or_look_alike_host_sends_no_byte() {
    for host in [FOREIGN, LOOK_ALIKES[0], LOOK_ALIKES[1]] {
        let p = Production::start().await;
        let (result, _) = dataset(&p, host).await;
        p.assert_refused(result, host, "dataset");
        assert_eq!(p.mock.hits("create_dataset_from_manual_upload"), 0);
    }
}

/// The loopback exception is the mock's only: a client of the production
/// API sends no file byte over plain `http`, loopback included (the mock's
/// own presigned URL, untouched, is refused before a byte is sent).
#[tokio::test]
async fn a_production_client_sends_no_byte_to_a_loopback_http_url() {
    let p = Production::start().await;
    let (result, _) = dataset_as_presigned(&p).await;
    p.assert_refused(result, "127.0.0.1", "dataset");
    assert_eq!(p.mock.hits("create_dataset_from_manual_upload"), 0);
}

/// The legacy Fleet hosts: path-style S3 (`/<bucket>/<key>`), and the
/// virtual-hosted ones (`/<key>`).
const LEGACY_HOSTS: [(&str, avala::mock::FleetUrlStyle); 5] = {
    use avala::mock::FleetUrlStyle::{PathStyle, VirtualHosted};
    [
        ("s3.us-east-1.amazonaws.com", PathStyle),
        ("bucket.s3.us-east-1.amazonaws.com", VirtualHosted),
        (R2_HOST, VirtualHosted),
        ("data.avala.ai", VirtualHosted),
        ("acct123.blob.core.windows.net", VirtualHosted),
    ]
};

/// A legacy Fleet upload of two files whose URLs name `host`, and their
/// paths and digests.
async fn legacy(
    p: &Production,
    host: &str,
) -> (avala::Result<impl std::fmt::Debug>, Vec<(String, String)>) {
    p.urls_on(host);
    legacy_as_granted(p).await
}

/// [`legacy`] with the URL batch as the test edited it, if at all.
async fn legacy_as_granted(
    p: &Production,
) -> (avala::Result<impl std::fmt::Debug>, Vec<(String, String)>) {
    let (dir, state) = (TempDir::new(), TempDir::new());
    let files: Vec<(String, String)> = ["a.bin", "b.bin"]
        .iter()
        .map(|f| (f.to_string(), sha(&dir.file(f, 300))))
        .collect();
    let uid = uuid::Uuid::new_v4().to_string();
    let result = p
        .client
        .upload_recording(uid, dir.path())
        .state_dir(state.path())
        .send()
        .await;
    (result, files)
}

#[tokio::test]
async fn a_legacy_fleet_upload_reaches_each_production_storage_host() {
    for (host, style) in LEGACY_HOSTS {
        let p = Production::start().await;
        p.mock.fleet().url_style(style);
        let (result, files) = legacy(&p, host).await;
        result.unwrap_or_else(|e| panic!("{host}: {e:?}"));
        let stored: Vec<_> = p
            .mock
            .fleet()
            .objects()
            .into_iter()
            .map(|o| (o.path, o.sha256))
            .collect();
        assert_eq!(stored, files, "{host}");
        assert_eq!(p.mock.hits("finalize_fleet_upload"), 1, "{host}");
        p.assert_stored_via(host, host);
    }
}

#[tokio::test]
async fn a_legacy_fleet_upload_to_a_foreign_or_look_alike_host_sends_no_byte() {
    for host in [FOREIGN, LOOK_ALIKES[0], LOOK_ALIKES[1]] {
        let p = Production::start().await;
        p.mock
            .fleet()
            .url_style(avala::mock::FleetUrlStyle::VirtualHosted);
        let (result, _) = legacy(&p, host).await;
        p.assert_refused(result, host, "legacy");
        assert_eq!(p.mock.hits("confirm_fleet_upload"), 0);
    }
}

/// The loopback exception is the mock's only for legacy Fleet too: a batch
/// with one production URL and one the mock's own `http://127.0.0.1` is
/// refused whole, before the first file's byte goes to its production host.
#[tokio::test]
async fn a_legacy_batch_with_one_loopback_http_url_sends_no_byte() {
    let p = Production::start().await;
    p.mock
        .fleet()
        .url_style(avala::mock::FleetUrlStyle::PathStyle);
    p.first_urls_on(1, "s3.us-east-1.amazonaws.com");
    let (result, _) = legacy_as_granted(&p).await;
    p.assert_refused(result, "127.0.0.1", "legacy");
    assert_eq!(p.front.connections_to("s3.us-east-1.amazonaws.com"), 0);
    assert_eq!(p.mock.hits("confirm_fleet_upload"), 0);
}

/// A managed Fleet upload of one part whose grant names `host`.
async fn managed(
    p: &Production,
    host: &str,
) -> avala::Result<avala::types::ManagedFleetUploadStatus> {
    let (dir, state) = (TempDir::new(), TempDir::new());
    dir.file("run/cam.mcap", 5000);
    p.mock
        .fleet()
        .managed_anomaly(ManagedAnomaly::GrantOrigin(format!("https://{host}")));
    p.client
        .upload_managed_recording("0f8fad5b-d9cb-469f-a165-70867728950e", dir.path())
        .state_dir(state.path())
        .poll_interval(Duration::from_millis(10))
        .send()
        .await
}

#[tokio::test]
async fn a_managed_fleet_upload_reaches_r2_by_its_production_name() {
    let p = Production::start().await;
    let status = managed(&p, R2_HOST).await.unwrap();
    let finalization = status.finalization.expect("finalized");
    assert_eq!(finalization.state, ManagedFinalizationState::Succeeded);
    assert_eq!(p.mock.storage().bytes_received(), 5000);
    p.assert_stored_via(R2_HOST, "managed");
}

#[tokio::test]
async fn a_managed_fleet_grant_off_r2_sends_no_byte() {
    // S3 and the edge are storage hosts of the allow-list, but managed
    // parts go to R2 only; the others are refused by the allow-list itself.
    for host in [
        "bucket.s3.us-east-1.amazonaws.com",
        "data.avala.ai",
        FOREIGN,
        LOOK_ALIKES[0],
    ] {
        let p = Production::start().await;
        p.assert_refused(managed(&p, host).await, host, "managed");
    }
}

#[tokio::test]
async fn a_production_storage_host_that_echoes_the_key_does_not_get_it_shown() {
    // Storage never gets the key; one that learnt it and echoes it in its
    // error body must still not get it shown. The distinctive key matches
    // no generic secret pattern: only the key-specific scrub removes it.
    let p = Production::start().await;
    p.mock
        .storage()
        .echo_key(avala::mock::StorageRoute::Put, 403);
    let err = dataset(&p, "bucket.s3.us-east-1.amazonaws.com")
        .await
        .0
        .unwrap_err();
    assert_error_without_key(&err, KEY);
    match &err {
        Error::Upload(u) => match &**u {
            UploadError::Storage { status, body, .. } => {
                assert_eq!(*status, 403);
                // The echo arrived (the body is kept), without the key.
                assert!(body.contains("AccessDenied"), "{body}");
            }
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    }
    p.assert_stored_via("bucket.s3.us-east-1.amazonaws.com", "echo");
    common::assert_logs_clean();
}

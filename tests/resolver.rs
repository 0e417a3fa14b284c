//! The public dataset resolver (protocol §9.4, §13.3) against the mock.

#[path = "common/capture.rs"]
mod capture;
mod common;
#[path = "common/tls_front.rs"]
mod tls_front;

use std::{path::PathBuf, time::Duration};

use avala::{
    mock::{
        Fault, Gate, GrantFault, MockServer, PublicDataset, PublicObject, Published,
        DOWNLOAD_OPERATION,
    },
    resolver::{DownloadEvent, DownloadReport, Downloaded, ResolvedDataset, Resolver},
    Error,
};
use futures::{StreamExt, TryStreamExt};

/// Three objects over two pages: an episode and two frames that belong to it.
fn sample() -> PublicDataset {
    PublicDataset::new("acme", "lidar")
        .object(PublicObject::new(
            "episode",
            0,
            "episodes/0.json",
            &b"{\"n\":2}"[..],
        ))
        .object(PublicObject::new("frame", 1, "frames/1.bin", vec![7u8; 3000]).episode(0))
        .object(PublicObject::new("frame", 0, "frames/0.bin", vec![1u8; 5000]).episode(0))
        .page_size(2)
}

async fn start() -> (MockServer, Published) {
    // Before any environment read of this binary (see tests/common).
    common::init();
    let mock = MockServer::start().await;
    let published = mock.resolver().publish(sample());
    (mock, published)
}

async fn load(mock: &MockServer) -> ResolvedDataset {
    mock.resolver().client().load("acme/lidar").await.unwrap()
}

fn integrity(err: &Error) -> &str {
    match err {
        Error::Integrity { message } => message,
        other => panic!("expected Integrity, got {other:?}"),
    }
}

fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "avala-resolver-{name}-{}-{:x}",
        std::process::id(),
        fastrand_u64()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn fastrand_u64() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(std::time::SystemTime::now())
}

fn files_in(dir: &PathBuf) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn every_object_is_listed_across_pages_and_read_verified() {
    let (mock, published) = start().await;
    let dataset = load(&mock).await;
    assert_eq!(dataset.dataset_uid(), published.dataset_uid);
    assert_eq!(dataset.revision_sha256(), published.revision_sha256);
    assert_eq!(dataset.manifest_sha256(), published.manifest_sha256);
    assert_eq!(
        dataset.canonical_reference(),
        published.canonical_reference()
    );
    assert_eq!(dataset.requested_reference(), "acme/lidar@main");
    assert_eq!(
        dataset.display_reference(),
        format!("acme/lidar@{}", published.revision_sha256)
    );
    let served = published.revision_json("acme/lidar@main");
    assert_eq!(served["revision_uid"], dataset.revision_uid());
    assert_eq!(dataset.object_count(), 3);
    let total: usize = published.objects.iter().map(|o| o.bytes.len()).sum();
    assert_eq!(dataset.total_size_bytes(), total as u64);

    let objects: Vec<_> = dataset.objects().try_collect().await.unwrap();
    let paths: Vec<_> = objects.iter().map(|o| o.logical_path()).collect();
    assert_eq!(paths, ["episodes/0.json", "frames/0.bin", "frames/1.bin"]);
    for (i, (object, expected)) in objects.iter().zip(&published.objects).enumerate() {
        assert_eq!(object.sha256(), expected.sha256);
        assert_eq!(object.read().await.unwrap(), expected.bytes);
        // Every fact of the manifest entry, as served.
        let served = published.object_json(i);
        assert_eq!(served["object_uid"], object.object_uid());
        assert_eq!(served["role"], object.role());
        assert_eq!(served["ordinal"], object.ordinal());
        assert_eq!(served["episode_ordinal"].as_u64(), object.episode_ordinal());
        assert_eq!(served["content_type"], object.content_type());
        assert_eq!(served["origin"], object.origin());
        assert_eq!(served["size_bytes"], object.size_bytes());
        assert_eq!(object.size_bytes(), expected.bytes.len() as u64);
        assert_eq!(
            format!("{object:?}"),
            format!(
                "ResolvedObject {{ object_uid: {:?}, role: {:?}, ordinal: {}, \
                 logical_path: {:?}, size_bytes: {}, .. }}",
                expected.object_uid,
                expected.role,
                expected.ordinal,
                expected.logical_path,
                expected.bytes.len()
            )
        );
    }
    // The frames belong to episode 0; the episode to none.
    let episodes: Vec<_> = objects.iter().map(|o| o.episode_ordinal()).collect();
    assert_eq!(episodes, [None, Some(0), Some(0)]);
    // Two pages of at most 2, asked with limit=100 and then the cursor.
    let pages = mock.received_for("list_resolver_objects");
    assert_eq!(pages.len(), 2);
    assert_eq!(pages[0].query_param("limit").as_deref(), Some("100"));
    assert_eq!(pages[1].query_param("cursor").as_deref(), Some("c2"));
    // One grant (POST with the transport) and one download per read.
    let grants = mock.received_for("create_resolver_object_access");
    assert_eq!(grants.len(), 3);
    assert_eq!(grants[0].method, "POST");
    assert_eq!(grants[0].query, "transport=avala-edge-v1");
    let downloads = mock.received_for(DOWNLOAD_OPERATION);
    assert_eq!(downloads.len(), 3);
    assert_eq!(downloads[0].header("accept-encoding"), Some("identity"));
}

#[tokio::test]
async fn no_resolver_request_carries_a_key_or_credentials() {
    let (mock, _) = start().await;
    // A client with a key exists in the same process; the resolver must not
    // borrow it.
    let _client = mock.client();
    let dataset = load(&mock).await;
    let objects: Vec<_> = dataset.objects().try_collect().await.unwrap();
    objects[0].read().await.unwrap();
    let received = mock.received();
    assert!(received.len() >= 5, "{}", received.len());
    for r in received {
        assert!(
            r.header("x-avala-api-key").is_none(),
            "{} {}",
            r.method,
            r.path
        );
        assert!(
            r.header("authorization").is_none(),
            "{} {}",
            r.method,
            r.path
        );
        assert!(r.header("cookie").is_none(), "{} {}", r.method, r.path);
    }
}

#[tokio::test]
async fn canonical_and_digest_references_resolve_the_same_revision() {
    let (mock, published) = start().await;
    let resolver = mock.resolver().client();
    let by_canonical = resolver
        .load(&published.canonical_reference())
        .await
        .unwrap();
    assert_eq!(by_canonical.revision_sha256(), published.revision_sha256);
    assert_eq!(mock.hits("resolve_dataset_revision"), 1);
    let digest = format!("acme/lidar@{}", published.revision_sha256);
    let by_digest = resolver.load(&digest).await.unwrap();
    assert_eq!(by_digest.requested_reference(), digest);
    assert_eq!(
        mock.received_for("resolve_dataset_reference")[0].path,
        format!("/api/v1/resolve/acme/lidar@{}/", published.revision_sha256)
    );
}

#[tokio::test]
async fn an_alias_works_and_warns_that_it_is_mutable() {
    let (mock, _) = start().await;
    // This test's own log: another test's warning cannot pass for it.
    let capture = capture::Capture::start();
    mock.resolver()
        .client()
        .load("acme/lidar@main")
        .await
        .unwrap();
    let logs = capture.text();
    let warning = logs
        .lines()
        .find(|l| l.contains("WARN") && l.contains("aliases are mutable"))
        .unwrap_or_else(|| panic!("no warning: {logs}"));
    assert!(warning.contains("acme/lidar@main"), "{warning}");
}

#[tokio::test]
async fn malformed_references_fail_before_any_request() {
    let (mock, _) = start().await;
    let resolver = mock.resolver().client();
    for reference in [
        "",
        "acme",
        "Acme/lidar",
        "acme/lidar@",
        "acme/lidar@Main",
        "acme/../lidar",
        "acme/lidar/extra",
        "avala://datasets/x@y",
        "https://api.avala.ai/acme/lidar",
    ] {
        let err = resolver.load(reference).await.unwrap_err();
        assert!(
            matches!(err, Error::InvalidArgument { .. }),
            "{reference:?}: {err:?}"
        );
    }
    assert_eq!(mock.received().len(), 0);
}

#[tokio::test]
async fn an_unknown_dataset_is_not_found() {
    let (mock, _) = start().await;
    let err = mock
        .resolver()
        .client()
        .load("acme/other")
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(404), "{err:?}");
}

#[tokio::test]
async fn a_tampered_byte_fails_and_download_to_leaves_nothing() {
    let (mock, published) = start().await;
    let dataset = load(&mock).await;
    let frame = dataset.object("frame", 0).await.unwrap().unwrap();
    let mut tampered = published.objects[1].bytes.to_vec();
    tampered[4321] ^= 1;
    mock.resolver()
        .download_fault(Fault::status(200).body(tampered));

    let err = frame.read().await.unwrap_err();
    assert!(integrity(&err).contains("SHA-256"), "{err}");

    // The stream releases no byte of an object that fails verification.
    let mut chunks = frame.stream();
    let mut released = 0;
    let mut failed = false;
    while let Some(item) = chunks.next().await {
        match item {
            Ok(chunk) => released += chunk.len(),
            Err(e) => {
                integrity(&e);
                failed = true;
            }
        }
    }
    assert!(failed);
    assert_eq!(released, 0, "bytes of a failed object were released");

    let dir = scratch_dir("tampered");
    let err = frame.download_to(dir.join("frame.bin")).await.unwrap_err();
    integrity(&err);
    assert!(files_in(&dir).is_empty(), "{:?}", files_in(&dir));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn download_to_writes_the_verified_file() {
    let (mock, published) = start().await;
    let dataset = load(&mock).await;
    let frame = dataset.object("frame", 1).await.unwrap().unwrap();
    let dir = scratch_dir("ok");
    let target = dir.join("frame.bin");
    assert_eq!(
        frame.download_to(&target).await.unwrap(),
        Downloaded::Fetched
    );
    assert_eq!(std::fs::read(&target).unwrap(), published.objects[2].bytes);
    assert_eq!(files_in(&dir), ["frame.bin"]);
    // The same file again: kept, not fetched.
    assert_eq!(frame.download_to(&target).await.unwrap(), Downloaded::Kept);
    assert_eq!(mock.hits(DOWNLOAD_OPERATION), 1);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn download_to_replaces_a_differing_file_only_when_asked() {
    let (mock, published) = start().await;
    let dataset = load(&mock).await;
    let frame = dataset.object("frame", 1).await.unwrap().unwrap();
    let dir = scratch_dir("replace-one");
    let target = dir.join("frame.bin");
    std::fs::write(&target, b"the user's own bytes").unwrap();

    let err = frame.download_to(&target).await.unwrap_err();
    assert!(
        matches!(&err, Error::FileConflict { path, overwritable: true, .. } if *path == target),
        "{err:?}"
    );
    assert_eq!(std::fs::read(&target).unwrap(), b"the user's own bytes");
    assert_eq!(mock.hits(DOWNLOAD_OPERATION), 0, "refused before fetching");

    let done = frame.download_to(&target).overwrite(true).await.unwrap();
    assert_eq!(done, Downloaded::Fetched);
    assert_eq!(std::fs::read(&target).unwrap(), published.objects[2].bytes);
    assert_eq!(files_in(&dir), ["frame.bin"]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn a_file_of_the_right_size_with_other_bytes_differs() {
    let (mock, _) = start().await;
    let dataset = load(&mock).await;
    let frame = dataset.object("frame", 1).await.unwrap().unwrap();
    let dir = scratch_dir("same-size");
    let target = dir.join("frame.bin");
    // frames/1.bin is 3000 bytes of 7: the same size, one byte changed.
    let mut planted = vec![7u8; 3000];
    planted[1500] = 8;
    std::fs::write(&target, &planted).unwrap();

    let err = frame.download_to(&target).await.unwrap_err();
    match &err {
        Error::FileConflict {
            path,
            reason,
            overwritable,
        } => {
            assert_eq!(*path, target);
            assert_eq!(
                reason,
                "a file is there and differs from the dataset's object"
            );
            assert!(overwritable);
        }
        other => panic!("expected FileConflict, got {other:?}"),
    }
    assert_eq!(std::fs::read(&target).unwrap(), planted, "not replaced");
    assert_eq!(mock.hits(DOWNLOAD_OPERATION), 0, "refused before fetching");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn short_long_and_cut_bodies_fail() {
    let (mock, published) = start().await;
    let dataset = load(&mock).await;
    let frame = dataset.object("frame", 0).await.unwrap().unwrap();
    let bytes = published.objects[1].bytes.to_vec();

    mock.resolver()
        .download_fault(Fault::status(200).body(bytes[..4000].to_vec()))
        .times(1);
    let err = frame.read().await.unwrap_err();
    assert!(integrity(&err).contains("4000"), "{err}");

    let mut longer = bytes.clone();
    longer.push(1);
    mock.resolver()
        .download_fault(Fault::status(200).body(longer))
        .times(1);
    let err = frame.read().await.unwrap_err();
    assert!(integrity(&err).contains("longer"), "{err}");

    mock.resolver().download_fault(Fault::truncated()).times(1);
    let err = frame.read().await.unwrap_err();
    integrity(&err);

    // And then the normal answer verifies.
    assert_eq!(frame.read().await.unwrap(), bytes);
}

#[tokio::test]
async fn a_redirect_is_refused_not_followed() {
    let (mock, published) = start().await;
    let dataset = load(&mock).await;
    let frame = dataset.object("frame", 0).await.unwrap().unwrap();
    mock.resolver()
        .download_fault(Fault::status(302).header("Location", &published.download_url(1)))
        .times(1);
    let err = frame.read().await.unwrap_err();
    assert!(integrity(&err).contains("redirect"), "{err}");
    assert_eq!(mock.hits(DOWNLOAD_OPERATION), 1);
}

#[tokio::test]
async fn any_status_but_200_fails_the_download() {
    let (mock, _) = start().await;
    let dataset = load(&mock).await;
    let frame = dataset.object("frame", 0).await.unwrap().unwrap();
    // Named by its status, and not called a redirect: only a 3xx is one.
    for (status, expected) in [
        (206, "the download answered HTTP 206 instead of 200"),
        (404, "the download answered HTTP 404 instead of 200"),
        (503, "the download answered HTTP 503 instead of 200"),
    ] {
        mock.resolver()
            .download_fault(Fault::status(status))
            .times(1);
        let err = frame.read().await.unwrap_err();
        assert_eq!(integrity(&err), expected);
    }
}

#[tokio::test]
async fn a_disallowed_host_gets_no_request() {
    let (mock, published) = start().await;
    let dataset = load(&mock).await;
    let frame = dataset.object("frame", 0).await.unwrap().unwrap();
    mock.resolver().grants([GrantFault::DisallowedHost]);
    let err = frame.read().await.unwrap_err();
    assert!(integrity(&err).contains("not allowed"), "{err}");
    // `localhost` is this very server: a request would have been recorded.
    assert_eq!(mock.hits(DOWNLOAD_OPERATION), 0);
    // The grant URL appears in no representation of the error.
    let url_path = published.download_url(1);
    let url_path = url_path.split("/api/v1").nth(1).unwrap();
    assert!(!format!("{err} {err:?}").contains(url_path));
}

#[tokio::test]
async fn expired_and_overlong_grants_are_refused() {
    let (mock, _) = start().await;
    let dataset = load(&mock).await;
    let frame = dataset.object("frame", 0).await.unwrap().unwrap();
    for fault in [GrantFault::Expired, GrantFault::TooLong] {
        mock.resolver().grants([fault]);
        let err = frame.read().await.unwrap_err();
        assert!(integrity(&err).contains("300 s"), "{fault:?}: {err}");
    }
    assert_eq!(mock.hits(DOWNLOAD_OPERATION), 0);
}

#[tokio::test]
async fn a_grant_about_to_expire_is_renewed_once() {
    let (mock, published) = start().await;
    let dataset = load(&mock).await;
    let frame = dataset.object("frame", 0).await.unwrap().unwrap();
    mock.resolver().grants([GrantFault::ShortLived]);
    assert_eq!(frame.read().await.unwrap(), published.objects[1].bytes);
    assert_eq!(mock.hits("create_resolver_object_access"), 2);

    mock.resolver()
        .grants([GrantFault::ShortLived, GrantFault::ShortLived]);
    let err = frame.read().await.unwrap_err();
    assert!(integrity(&err).contains("expire too soon"), "{err}");
    assert_eq!(mock.hits("create_resolver_object_access"), 4);
    assert_eq!(mock.hits(DOWNLOAD_OPERATION), 1);
}

#[tokio::test]
async fn a_405_on_the_grant_post_is_retried_once_as_get() {
    let (mock, published) = start().await;
    let dataset = load(&mock).await;
    let frame = dataset.object("frame", 0).await.unwrap().unwrap();
    mock.fault("create_resolver_object_access", Fault::status(405))
        .times(1);
    assert_eq!(frame.read().await.unwrap(), published.objects[1].bytes);
    assert_eq!(mock.hits("create_resolver_object_access"), 1);
    let gets = mock.received_for("get_resolver_object_access");
    assert_eq!(gets.len(), 1);
    assert_eq!(gets[0].query, "transport=avala-edge-v1");

    // A 405 on the GET is not retried again.
    mock.fault("create_resolver_object_access", Fault::status(405))
        .times(1);
    mock.fault("get_resolver_object_access", Fault::status(405))
        .times(1);
    let err = frame.read().await.unwrap_err();
    assert_eq!(err.status(), Some(405), "{err:?}");
    assert_eq!(mock.hits("get_resolver_object_access"), 2);
}

#[tokio::test]
async fn a_withdrawn_pinned_revision_is_its_own_error() {
    let (mock, published) = start().await;
    // Loaded before the withdrawal: its later reads see it too.
    let dataset = load(&mock).await;
    let frame = dataset.object("frame", 0).await.unwrap().unwrap();
    mock.resolver().withdraw(&published);
    let resolver = mock.resolver().client();
    let is_withdrawn = |err: &Error| match err {
        Error::Withdrawn {
            canonical_reference,
            dataset_uid,
            revision_sha256,
        } => {
            assert_eq!(canonical_reference, &published.canonical_reference());
            assert_eq!(dataset_uid, &published.dataset_uid);
            assert_eq!(revision_sha256, &published.revision_sha256);
            assert_eq!(err.status(), Some(410));
            assert!(
                err.to_string().contains("withdrawn by its publisher"),
                "{err}"
            );
        }
        other => panic!("expected Withdrawn, got {other:?}"),
    };
    let canonical = published.canonical_reference();
    let digest = format!("acme/lidar@{}", published.revision_sha256);
    for reference in [canonical.as_str(), digest.as_str()] {
        let err = resolver.load(reference).await.unwrap_err();
        common::assert_error_without_key(&err, common::KEY);
        is_withdrawn(&err);
    }
    let err = resolver
        .load("acme/lidar")
        .revision(published.revision_sha256.clone())
        .await
        .unwrap_err();
    is_withdrawn(&err);
    is_withdrawn(&frame.read().await.unwrap_err());
    // Its alias is no longer served.
    let err = resolver.load("acme/lidar").await.unwrap_err();
    assert!(matches!(err, Error::NotFound(_)), "{err:?}");
}

#[tokio::test]
async fn a_410_must_name_exactly_the_pinned_revision() {
    let (mock, published) = start().await;
    let resolver = mock.resolver().client();
    let canonical = published.canonical_reference();
    let mut other_revision = published.withdrawn_json();
    let other = "e".repeat(64);
    other_revision["revision_sha256"] = other.clone().into();
    other_revision["canonical_reference"] =
        format!("avala://datasets/{}@{other}", published.dataset_uid).into();
    let mut not_a_uid = published.withdrawn_json();
    let hostile = "x\nerror: something else entirely";
    not_a_uid["dataset_uid"] = hostile.into();
    not_a_uid["canonical_reference"] =
        format!("avala://datasets/{hostile}@{}", published.revision_sha256).into();
    let mut other_code = published.withdrawn_json();
    other_code["code"] = "gone".into();
    let mut other_schema = published.withdrawn_json();
    other_schema["schema_version"] = 2.into();
    let mut mismatched = published.withdrawn_json();
    mismatched["canonical_reference"] =
        format!("avala://datasets/{}@{other}", published.dataset_uid).into();
    let bodies = [
        ("another revision", other_revision),
        ("a dataset_uid that is not a uuid", not_a_uid),
        ("another code", other_code),
        ("another schema_version", other_schema),
        ("a canonical_reference of another revision", mismatched),
    ];
    let mut failures = Vec::new();
    // Asked by canonical reference (which pins the uid) and by digest
    // (which does not: only the UUID shape stops a hostile uid there).
    let digest = format!("acme/lidar@{}", published.revision_sha256);
    for (what, body) in bodies {
        for (op, reference) in [
            ("resolve_dataset_revision", canonical.as_str()),
            ("resolve_dataset_reference", digest.as_str()),
        ] {
            mock.fault(op, Fault::status(410).json(body.clone()))
                .times(1);
            match resolver.load(reference).await {
                Err(Error::Integrity { message }) if message.contains("does not pin") => {}
                other => failures.push(format!("{what} ({reference}): {other:?}")),
            }
        }
    }
    // An alias cannot be withdrawn: a 410 for it is an identity failure.
    mock.fault(
        "resolve_dataset_reference",
        Fault::status(410).json(published.withdrawn_json()),
    )
    .times(1);
    match resolver.load("acme/lidar").await {
        Err(Error::Integrity { message }) if message.contains("does not pin") => {}
        other => failures.push(format!("alias: {other:?}")),
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[tokio::test]
async fn the_whole_rights_record_is_typed() {
    let (mock, _) = start().await;
    let dataset = load(&mock).await;
    let rights = dataset.rights();
    assert_eq!(rights.status, "declared");
    assert_eq!(rights.access, "open_download");
    assert_eq!(rights.name, "CC BY 4.0");
    assert_eq!(rights.url, "https://creativecommons.org/licenses/by/4.0/");
    assert_eq!(
        rights.document_sha256,
        "9e95a6f973395158b1801c75ef9f3b839cddb2be21294ee6c80af6b843d8ceb7"
    );
    assert_eq!(
        rights.attestation_sha256,
        "ace86aafc97788d3d7ac6e8efa4756d269920486af3561d6b072f1d7e00e8b9a"
    );
    assert_eq!(
        dataset.license(),
        ("CC BY 4.0", "https://creativecommons.org/licenses/by/4.0/")
    );
}

#[tokio::test]
async fn read_at_most_refuses_an_object_over_the_cap_before_any_request() {
    let (mock, published) = start().await;
    let dataset = load(&mock).await;
    // frames/0.bin has 5000 bytes.
    let frame = dataset.object("frame", 0).await.unwrap().unwrap();
    let err = frame.read_at_most(4999).await.unwrap_err();
    match &err {
        Error::ObjectTooLarge {
            size_bytes: 5000,
            max_bytes: 4999,
        } => {}
        other => panic!("expected ObjectTooLarge, got {other:?}"),
    }
    assert_eq!(mock.hits("create_resolver_object_access"), 0);
    assert_eq!(mock.hits(DOWNLOAD_OPERATION), 0);
    assert_eq!(
        frame.read_at_most(5000).await.unwrap(),
        published.objects[1].bytes
    );
    // A server that sends more than the manifest (and the cap) says is cut
    // off at the first byte over: memory stays within the cap.
    mock.resolver()
        .download_fault(Fault::status(200).body(vec![1u8; 1 << 20]))
        .times(1);
    let err = frame.read_at_most(5000).await.unwrap_err();
    assert!(
        integrity(&err).contains("longer than the manifest's 5000 bytes"),
        "{err}"
    );
    // The default cap is the Python SDK's 64 MiB.
    assert_eq!(avala::resolver::DEFAULT_READ_LIMIT, 64 * 1024 * 1024);
}

#[tokio::test]
async fn a_separate_revision_is_checked_like_an_inline_one() {
    common::init();
    let mock = MockServer::start().await;
    let published = mock.resolver().publish(sample().alias("v2"));
    let resolver = mock.resolver().client();
    let dataset = resolver.load("acme/lidar").revision("v2").await.unwrap();
    assert_eq!(dataset.requested_reference(), "acme/lidar@v2");
    assert_eq!(
        mock.received_for("resolve_dataset_reference")[0].path,
        "/api/v1/resolve/acme/lidar@v2/"
    );
    let dataset = resolver
        .load("acme/lidar")
        .revision(published.revision_sha256.clone())
        .await
        .unwrap();
    assert_eq!(dataset.revision_sha256(), published.revision_sha256);

    let before = mock.received().len();
    let canonical = published.canonical_reference();
    let refused = [
        ("acme/lidar", "V2", "is not a revision"),
        ("acme/lidar", "", "is not a revision"),
        ("acme/lidar", "v2/../x", "is not a revision"),
        ("acme/lidar@main", "v2", "separate revision was given"),
        (canonical.as_str(), "v2", "pins its revision already"),
    ];
    let mut failures = Vec::new();
    for (reference, revision, expected) in refused {
        match resolver.load(reference).revision(revision).await {
            Err(Error::InvalidArgument { message }) if message.contains(expected) => {}
            other => failures.push(format!("{reference} {revision:?}: {other:?}")),
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    assert_eq!(
        mock.received().len(),
        before,
        "a refused load sent a request"
    );
}

#[tokio::test(start_paused = true)]
async fn rate_limits_are_retried_three_times() {
    let (mock, _) = start().await;
    let busy = || Fault::status(429).header("Retry-After", "0");
    mock.fault("resolve_dataset_reference", busy()).times(3);
    load(&mock).await;
    assert_eq!(mock.hits("resolve_dataset_reference"), 4);

    mock.reset();
    let published = mock.resolver().publish(sample());
    mock.fault("resolve_dataset_reference", busy()).times(4);
    let err = mock
        .resolver()
        .client()
        .load("acme/lidar")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::RateLimited { .. }), "{err:?}");
    assert_eq!(mock.hits("resolve_dataset_reference"), 4);

    // Pages and grants too.
    let dataset = mock
        .resolver()
        .client()
        .load(&published.canonical_reference())
        .await
        .unwrap();
    mock.fault("list_resolver_objects", busy()).times(1);
    mock.fault("create_resolver_object_access", busy()).times(2);
    let objects: Vec<_> = dataset.objects().try_collect().await.unwrap();
    objects[0].read().await.unwrap();
    assert_eq!(mock.hits("create_resolver_object_access"), 3);
}

#[tokio::test]
async fn retry_after_is_honoured() {
    // `Retry-After: 1` is waited for (the 300 s cap is a unit test).
    let (mock, _) = start().await;
    mock.fault(
        "resolve_dataset_reference",
        Fault::status(429).header("Retry-After", "1"),
    )
    .times(1);
    let started = std::time::Instant::now();
    load(&mock).await;
    assert!(started.elapsed() >= Duration::from_secs(1));
}

#[tokio::test]
async fn manifest_order_duplicates_and_totals_are_checked() {
    let (mock, published) = start().await;
    let dataset = load(&mock).await;
    let page = |results: Vec<serde_json::Value>| {
        Fault::status(200).json(published.page_json(results, None, None))
    };
    let cases = [
        (
            vec![published.object_json(1), published.object_json(0)],
            "out of order",
        ),
        (
            vec![published.object_json(0), published.object_json(0)],
            "twice",
        ),
        (vec![published.object_json(0)], "declares 3 objects"),
    ];
    for (results, expected) in cases {
        mock.fault("list_resolver_objects", page(results)).times(1);
        let err = dataset.objects().try_collect::<Vec<_>>().await.unwrap_err();
        assert!(integrity(&err).contains(expected), "{expected}: {err}");
    }

    // A page of another revision.
    let mut foreign = published.page_json(vec![published.object_json(0)], None, None);
    foreign["manifest_sha256"] = serde_json::json!("0".repeat(64));
    mock.respond("list_resolver_objects", foreign).times(1);
    let err = dataset.objects().try_collect::<Vec<_>>().await.unwrap_err();
    assert!(integrity(&err).contains("another revision"), "{err}");

    // A repeated cursor.
    let first = published.page_json(vec![published.object_json(0)], Some("c1"), None);
    let again = published.page_json(vec![published.object_json(1)], Some("c1"), Some("c0"));
    mock.respond("list_resolver_objects", first).times(1);
    mock.respond("list_resolver_objects", again).times(1);
    let err = dataset.objects().try_collect::<Vec<_>>().await.unwrap_err();
    assert!(integrity(&err).contains("cursor"), "{err}");
}

#[tokio::test]
async fn a_tampered_resolve_document_is_refused() {
    let (mock, published) = start().await;
    let mut doc = published.revision_json("acme/lidar@main");
    doc["canonical_reference"] = serde_json::json!(format!(
        "avala://datasets/{}@{}",
        published.dataset_uid,
        "f".repeat(64)
    ));
    mock.respond("resolve_dataset_reference", doc).times(1);
    let err = mock
        .resolver()
        .client()
        .load("acme/lidar")
        .await
        .unwrap_err();
    integrity(&err);

    // The server answering another reference than the one asked for.
    let doc = published.revision_json("acme/lidar@other");
    mock.respond("resolve_dataset_reference", doc).times(1);
    let err = mock
        .resolver()
        .client()
        .load("acme/lidar")
        .await
        .unwrap_err();
    assert!(integrity(&err).contains("another reference"), "{err}");

    // A JSON body past the bound is not read whole.
    let huge = vec![b' '; 64 * 1024 * 1024 + 1];
    mock.fault("resolve_dataset_reference", Fault::status(200).body(huge))
        .times(1);
    let err = mock
        .resolver()
        .client()
        .load("acme/lidar")
        .await
        .unwrap_err();
    assert!(integrity(&err).contains("exceeds"), "{err}");
}

#[tokio::test]
async fn a_role_listing_looks_up_its_episodes_by_ordinals() {
    let (mock, _) = start().await;
    let dataset = load(&mock).await;
    let frames: Vec<_> = dataset
        .objects_with_role("frame")
        .try_collect()
        .await
        .unwrap();
    assert_eq!(frames.len(), 2);
    assert_eq!(frames[1].episode_ordinal(), Some(0));
    let lookups: Vec<_> = mock
        .received_for("list_resolver_objects")
        .into_iter()
        .filter(|r| r.query_param("ordinals").is_some())
        .collect();
    // Asked once: the second page's frame names a known episode.
    assert_eq!(lookups.len(), 1);
    assert_eq!(lookups[0].query_param("role").as_deref(), Some("episode"));
    assert_eq!(lookups[0].query_param("limit"), None);

    let err = dataset
        .objects_with_role("Not A Role")
        .try_collect::<Vec<_>>()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidArgument { .. }), "{err:?}");
}

#[tokio::test]
async fn an_episode_lookup_must_answer_exactly_what_was_asked() {
    let (mock, published) = start().await;
    let dataset = load(&mock).await;
    // The ordinals lookup answers nothing.
    mock.respond(
        "list_resolver_objects",
        published.page_json(vec![published.object_json(1)], None, None),
    )
    .times(1);
    mock.respond(
        "list_resolver_objects",
        published.page_json(vec![], None, None),
    )
    .times(1);
    let err = dataset
        .objects_with_role("frame")
        .try_collect::<Vec<_>>()
        .await
        .unwrap_err();
    assert!(integrity(&err).contains("episode"), "{err}");
}

/// Looks up frames 0 and 1 (both of episode 0) at once on a fresh load,
/// so that both ask for episode 0 before either lookup of it answers (the
/// frame lookups are held until both arrived, the episode lookups answer
/// 1 s late); `later` answers the second episode lookup.
async fn two_lookups_sharing_an_episode(
    mock: &MockServer,
    later: Fault,
) -> Vec<avala::Result<Option<avala::resolver::ResolvedObject>>> {
    let dataset = load(mock).await;
    let before = mock.hits("list_resolver_objects");
    let gate = Gate::new();
    mock.fault("list_resolver_objects", Fault::held(&gate))
        .times(2);
    mock.fault(
        "list_resolver_objects",
        Fault::delay(Duration::from_secs(1)),
    )
    .times(1);
    mock.fault("list_resolver_objects", later).times(1);
    let lookups: Vec<_> = [0, 1]
        .into_iter()
        .map(|ordinal| {
            let dataset = dataset.clone();
            tokio::spawn(async move { dataset.object("frame", ordinal).await })
        })
        .collect();
    while mock.hits("list_resolver_objects") < before + 2 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    gate.open();
    let mut results = Vec::new();
    for lookup in lookups {
        results.push(lookup.await.unwrap());
    }
    assert_eq!(mock.hits("list_resolver_objects"), before + 4);
    results
}

#[tokio::test]
async fn lookups_at_once_agree_on_a_shared_episode_or_fail() {
    let (mock, published) = start().await;
    // The same episode answered twice: both lookups succeed.
    let same = two_lookups_sharing_an_episode(&mock, Fault::delay(Duration::from_secs(1))).await;
    for (ordinal, result) in same.into_iter().enumerate() {
        let frame = result.unwrap().unwrap();
        assert_eq!(frame.logical_path(), format!("frames/{ordinal}.bin"));
        assert_eq!(frame.episode_ordinal(), Some(0));
    }
    // The second answer is another episode 0 (8 bytes, not 7): the lookup
    // that gets it fails, the other succeeds.
    let other = published.page_json(
        vec![object_with(&published, 0, |o| o["size_bytes"] = json!(8))],
        None,
        None,
    );
    let differing = two_lookups_sharing_an_episode(
        &mock,
        Fault::status(200)
            .json(other)
            .delayed(Duration::from_secs(1)),
    )
    .await;
    let (ok, failed): (Vec<_>, Vec<_>) = differing.into_iter().partition(|r| r.is_ok());
    assert_eq!((ok.len(), failed.len()), (1, 1));
    match &failed[0] {
        Err(Error::Integrity { message }) => {
            assert_eq!(message, "the manifest lists an episode twice, differently")
        }
        other => panic!("expected Integrity, got {other:?}"),
    }
}

#[tokio::test]
async fn object_lookup_by_role_and_ordinal() {
    let (mock, published) = start().await;
    let dataset = load(&mock).await;
    let frame = dataset.object("frame", 1).await.unwrap().unwrap();
    assert_eq!(frame.logical_path(), "frames/1.bin");
    assert_eq!(frame.size_bytes(), 3000);
    assert_eq!(frame.object_uid(), published.objects[2].object_uid);
    assert!(dataset.object("frame", 9).await.unwrap().is_none());
    let lookup = &mock.received_for("list_resolver_objects")[0];
    assert_eq!(lookup.query_param("ordinal").as_deref(), Some("1"));
    assert_eq!(lookup.query_param("role").as_deref(), Some("frame"));
}

#[tokio::test]
async fn base_url_rules_are_the_clients() {
    common::init();
    for bad in [
        "http://example.com/api/v1",
        "ftp://api.avala.ai/api/v1",
        "https://user:pw@api.avala.ai/api/v1",
        "https://api.avala.ai/api/v1?x=1",
        "https://api.avala.ai/api/v1#f",
        "https://api.avala.ai/api\n/v1",
        "",
    ] {
        let err = Resolver::builder().base_url(bad).build().unwrap_err();
        assert!(matches!(err, Error::Config { .. }), "{bad:?}: {err:?}");
    }
    // AVALA_ALLOW_INSECURE_BASE_URL (set by `init`) allows loopback http.
    let mock = MockServer::start().await;
    mock.resolver().publish(sample());
    let resolver = Resolver::builder()
        .base_url(mock.base_url())
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    resolver.load("acme/lidar").await.unwrap();
    Resolver::new().unwrap();
}

/// A resolver shows its settings, and a rate-limited request without
/// `Retry-After` backs off by the resolver's own policy.
#[tokio::test(start_paused = true)]
async fn a_resolver_shows_its_settings_and_backs_off_by_its_policy() {
    common::init();
    let mock = MockServer::start().await;
    mock.resolver().publish(sample());
    let slow = avala::retry::RetryPolicy::default()
        .base_delay(Duration::from_secs(40))
        .max_delay(Duration::from_secs(40));
    let resolver = Resolver::builder()
        .base_url(mock.base_url())
        .timeout(Duration::from_secs(7))
        .retry_policy(slow)
        .build()
        .unwrap();
    assert_eq!(
        format!("{resolver:?}"),
        format!(
            "Resolver {{ base_url: {:?}, timeout: 7s }}",
            mock.base_url()
        )
    );
    mock.fault("resolve_dataset_reference", Fault::status(429))
        .times(1);
    let started = tokio::time::Instant::now();
    resolver.load("acme/lidar").await.unwrap();
    // 40 s times a jitter of ½ to 1; the default policy waits under 1 s.
    assert!(
        started.elapsed() >= Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(mock.hits("resolve_dataset_reference"), 2);
}

#[tokio::test(start_paused = true)]
async fn a_retry_after_past_the_cap_ends_the_load_with_it() {
    let (mock, _) = start().await;
    let in_a_year =
        httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(365 * 86_400));
    for value in ["86400", in_a_year.as_str()] {
        mock.fault(
            "resolve_dataset_reference",
            Fault::status(429).header("Retry-After", value),
        )
        .times(1);
        let hits = mock.hits("resolve_dataset_reference");
        let started = tokio::time::Instant::now();
        let err = mock
            .resolver()
            .client()
            .load("acme/lidar")
            .await
            .unwrap_err();
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{value}: {:?}",
            started.elapsed()
        );
        assert!(
            matches!(err, Error::RateLimited { retry_after: Some(after), .. } if after > Duration::from_secs(86_000)),
            "{value}: {err:?}"
        );
        assert_eq!(mock.hits("resolve_dataset_reference"), hits + 1, "{value}");
    }
    // Within the cap the wait is honoured (in virtual time).
    mock.fault(
        "resolve_dataset_reference",
        Fault::status(429).header("Retry-After", "45"),
    )
    .times(1);
    let started = tokio::time::Instant::now();
    load(&mock).await;
    assert!(started.elapsed() >= Duration::from_secs(45));
}

// ---- download_all: what a download may replace, links, collisions, workers

/// `n` objects `blobs/NNN.bin` of distinct bytes (1–3 KiB).
fn many(name: &str, n: u64) -> PublicDataset {
    (0..n).fold(PublicDataset::new("acme", name), |d, i| {
        let bytes: Vec<u8> = (0..1000 + i * 37).map(|j| (j * 7 + i * 13) as u8).collect();
        d.object(PublicObject::new(
            "blob",
            i,
            &format!("blobs/{i:03}.bin"),
            bytes,
        ))
    })
}

async fn publish_and_load(
    mock: &MockServer,
    dataset: PublicDataset,
) -> (Published, ResolvedDataset) {
    let published = mock.resolver().publish(dataset);
    let loaded = mock
        .resolver()
        .client()
        .load(&published.canonical_reference())
        .await
        .unwrap();
    (published, loaded)
}

/// A page may hold exactly 100 objects, the most a page has: a listing of
/// 101 is a full page and one more.
#[tokio::test]
async fn a_full_page_of_one_hundred_objects_is_accepted() {
    common::init();
    let mock = MockServer::start().await;
    let (_, dataset) = publish_and_load(&mock, many("full", 101)).await;
    let objects: Vec<_> = dataset.objects().try_collect().await.unwrap();
    assert_eq!(objects.len(), 101);
    assert_eq!(objects[100].logical_path(), "blobs/100.bin");
    assert_eq!(mock.received_for("list_resolver_objects").len(), 2);
}

/// Every file below `dir`, relative, `/`-separated, sorted.
fn tree(dir: &std::path::Path) -> Vec<String> {
    fn walk(root: &std::path::Path, dir: &std::path::Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let kind = std::fs::symlink_metadata(&path).unwrap().file_type();
            if kind.is_dir() {
                walk(root, &path, out);
            } else {
                let rel = path.strip_prefix(root).unwrap().to_string_lossy();
                out.push(rel.replace('\\', "/"));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// Asserts each file of `published` that is below `dir` has its bytes.
fn assert_files_verified(dir: &std::path::Path, published: &Published) -> usize {
    let mut present = 0;
    for o in &published.objects {
        if let Ok(bytes) = std::fs::read(dir.join(&o.logical_path)) {
            assert_eq!(bytes, o.bytes, "{}", o.logical_path);
            present += 1;
        }
    }
    present
}

#[tokio::test]
async fn download_all_never_replaces_a_differing_file_unless_overwrite() {
    common::init();
    let mock = MockServer::start().await;
    let secret = b"AVALA_API_KEY=the-user-s-own-secret\n".to_vec();
    let (published, dataset) = publish_and_load(
        &mock,
        PublicDataset::new("acme", "dotenv")
            .object(PublicObject::new("config", 0, ".env", &b"PLANTED=1\n"[..]))
            .object(PublicObject::new(
                "frame",
                0,
                "frames/0.bin",
                vec![5u8; 4000],
            )),
    )
    .await;
    let dir = scratch_dir("dotenv");
    std::fs::write(dir.join(".env"), &secret).unwrap();

    let err = dataset.download_all(&dir).await.unwrap_err();
    match &err {
        Error::FileConflict {
            path, overwritable, ..
        } => {
            assert_eq!(*path, dir.join(".env"));
            assert!(overwritable);
        }
        other => panic!("expected FileConflict, got {other:?}"),
    }
    assert!(err.to_string().contains(".env"), "{err}");
    assert_eq!(
        std::fs::read(dir.join(".env")).unwrap(),
        secret,
        "byte for byte"
    );
    assert_eq!(tree(&dir), [".env"], "nothing fetched or written");
    assert_eq!(mock.hits(DOWNLOAD_OPERATION), 0);
    assert_eq!(mock.hits("create_resolver_object_access"), 0);

    let report = dataset.download_all(&dir).overwrite(true).await.unwrap();
    assert_eq!((report.files_fetched, report.files_kept), (2, 0));
    assert_eq!(std::fs::read(dir.join(".env")).unwrap(), b"PLANTED=1\n");
    assert_eq!(assert_files_verified(&dir, &published), 2);
    assert_eq!(tree(&dir), [".env", "frames/0.bin"]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn a_rerun_keeps_verified_files_without_a_request_and_reports_progress() {
    common::init();
    let mock = MockServer::start().await;
    let (published, dataset) = publish_and_load(&mock, many("kept", 12)).await;
    let dir = scratch_dir("kept");
    let total: u64 = published.objects.iter().map(|o| o.bytes.len() as u64).sum();

    let events = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = events.clone();
    let report = dataset
        .download_all(&dir)
        .on_progress(move |p| seen.lock().unwrap().push(p.clone()))
        .await
        .unwrap();
    assert_eq!(
        report,
        expected_report(12, 0, total, 0),
        "the first run fetches everything"
    );
    assert_eq!(assert_files_verified(&dir, &published), 12);
    {
        let events = events.lock().unwrap();
        let done = events
            .iter()
            .filter(|p| p.event == DownloadEvent::Done)
            .count();
        assert_eq!(done, 12);
        let last = events.last().unwrap();
        assert_eq!((last.files_done, last.files_total), (12, 12));
        assert_eq!((last.bytes_done, last.bytes_total), (total, total));
    }
    let (grants, downloads) = (
        mock.hits("create_resolver_object_access"),
        mock.hits(DOWNLOAD_OPERATION),
    );
    assert_eq!(downloads, 12);

    events.lock().unwrap().clear();
    let seen = events.clone();
    let report = dataset
        .download_all(&dir)
        .on_progress(move |p| seen.lock().unwrap().push(p.clone()))
        .await
        .unwrap();
    assert_eq!(report, expected_report(0, 12, 0, total));
    assert_eq!(mock.hits(DOWNLOAD_OPERATION), downloads, "zero object GETs");
    assert_eq!(mock.hits("create_resolver_object_access"), grants);
    let kept = events
        .lock()
        .unwrap()
        .iter()
        .filter(|p| p.event == DownloadEvent::Kept)
        .count();
    assert_eq!(kept, 12);
    std::fs::remove_dir_all(&dir).unwrap();
}

fn expected_report(
    fetched: usize,
    kept: usize,
    bytes_fetched: u64,
    bytes_kept: u64,
) -> DownloadReport {
    let mut report = DownloadReport::default();
    report.files_fetched = fetched;
    report.files_kept = kept;
    report.bytes_fetched = bytes_fetched;
    report.bytes_kept = bytes_kept;
    report
}

#[tokio::test]
async fn an_interrupted_download_resumes_fetching_only_what_is_missing() {
    common::init();
    let mock = MockServer::start().await;
    let (published, dataset) = publish_and_load(&mock, many("resume", 24)).await;
    let dir = scratch_dir("resume");
    // Object 9 fails once, mid-body: the run stops there.
    mock.resolver()
        .object_download_fault(&published.objects[9].object_uid, Fault::truncated())
        .times(1);

    let err = dataset.download_all(&dir).workers(4).await.unwrap_err();
    integrity(&err);
    let files = tree(&dir);
    assert!(
        files.iter().all(|f| !f.ends_with(".avala-part")),
        "no temporary file is left: {files:?}"
    );
    assert!(!dir.join(&published.objects[9].logical_path).exists());
    let present = assert_files_verified(&dir, &published);
    assert_eq!(
        files.len(),
        present,
        "only verified files, under their names"
    );
    assert!(present < 24);

    let before = mock.hits(DOWNLOAD_OPERATION);
    let report = dataset.download_all(&dir).workers(4).await.unwrap();
    assert_eq!(report.files_kept, present);
    assert_eq!(report.files_fetched, 24 - present);
    assert_eq!(
        mock.hits(DOWNLOAD_OPERATION) - before,
        24 - present,
        "the re-run fetches only the missing objects"
    );
    assert_eq!(assert_files_verified(&dir, &published), 24);
    assert_eq!(tree(&dir).len(), 24);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[cfg(unix)]
#[tokio::test]
async fn nothing_is_written_through_a_symlink_inside_the_directory() {
    use std::os::unix::fs::symlink;
    common::init();
    let mock = MockServer::start().await;
    let (_, dataset) = publish_and_load(
        &mock,
        PublicDataset::new("acme", "links").object(PublicObject::new(
            "frame",
            0,
            "frames/victim.bin",
            vec![9u8; 100],
        )),
    )
    .await;
    let dir = scratch_dir("links");
    let outside = scratch_dir("links-outside");
    std::fs::write(outside.join("victim.bin"), b"precious").unwrap();
    // A directory of DIR planted as a link to elsewhere, before the run.
    symlink(&outside, dir.join("frames")).unwrap();

    for overwrite in [false, true] {
        let err = dataset
            .download_all(&dir)
            .overwrite(overwrite)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, Error::FileConflict { path, overwritable: false, .. } if *path == dir.join("frames")),
            "{err:?}"
        );
        assert!(err.to_string().contains("symbolic link"), "{err}");
    }
    assert_eq!(
        std::fs::read(outside.join("victim.bin")).unwrap(),
        b"precious"
    );
    assert_eq!(
        files_in(&outside),
        ["victim.bin"],
        "nothing written outside"
    );
    assert_eq!(mock.hits(DOWNLOAD_OPERATION), 0);

    // A link as the final name: refused too, even with overwrite, for
    // download_all and download_to alike.
    std::fs::remove_file(dir.join("frames")).unwrap();
    std::fs::create_dir(dir.join("frames")).unwrap();
    symlink(outside.join("victim.bin"), dir.join("frames/victim.bin")).unwrap();
    let err = dataset
        .download_all(&dir)
        .overwrite(true)
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
    let object = dataset.object("frame", 0).await.unwrap().unwrap();
    let err = object
        .download_to(dir.join("frames/victim.bin"))
        .overwrite(true)
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
    assert_eq!(
        std::fs::read(outside.join("victim.bin")).unwrap(),
        b"precious"
    );
    assert_eq!(files_in(&outside), ["victim.bin"]);
    assert_eq!(mock.hits(DOWNLOAD_OPERATION), 0);
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::remove_dir_all(&outside).unwrap();
}

#[tokio::test]
async fn case_and_unicode_collisions_are_refused_before_any_fetch() {
    common::init();
    let mock = MockServer::start().await;
    let pairs = [
        ("case", "Frames/a.bin", "frames/A.bin"),
        // U+212B ANGSTROM SIGN is U+00C5 after NFC.
        ("nfc", "\u{212b}.bin", "\u{c5}.bin"),
        ("dir", "a", "A/b.bin"),
    ];
    for (name, first, second) in pairs {
        let (_, dataset) = publish_and_load(
            &mock,
            PublicDataset::new("acme", name)
                .object(PublicObject::new("frame", 0, first, &b"one"[..]))
                .object(PublicObject::new("frame", 1, second, &b"two"[..])),
        )
        .await;
        let dir = scratch_dir(name);
        let err = dataset.download_all(&dir).await.unwrap_err();
        integrity(&err);
        assert!(tree(&dir).is_empty(), "{name}: {:?}", tree(&dir));
        std::fs::remove_dir_all(&dir).unwrap();
    }
    assert_eq!(mock.hits("create_resolver_object_access"), 0);
    assert_eq!(mock.hits(DOWNLOAD_OPERATION), 0);
}

#[tokio::test]
async fn workers_are_validated_before_any_request() {
    common::init();
    let mock = MockServer::start().await;
    let (_, dataset) = publish_and_load(&mock, many("workers", 3)).await;
    let dir = scratch_dir("workers");
    for bad in [0, 65, usize::MAX] {
        let err = dataset.download_all(&dir).workers(bad).await.unwrap_err();
        assert!(
            matches!(&err, Error::InvalidArgument { message } if message.contains(&bad.to_string())),
            "{bad}: {err:?}"
        );
    }
    assert_eq!(mock.hits("list_resolver_objects"), 0);
    assert!(tree(&dir).is_empty());
    let report = dataset.download_all(&dir).workers(64).await.unwrap();
    assert_eq!(report.files_fetched, 3);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn each_object_reports_its_start_with_its_size_then_done() {
    common::init();
    let mock = MockServer::start().await;
    let (published, dataset) = publish_and_load(&mock, many("steps", 2)).await;
    let dir = scratch_dir("steps");

    let events = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = events.clone();
    let report = dataset
        .download_all(&dir)
        .workers(1)
        .on_progress(move |p| seen.lock().unwrap().push(p.clone()))
        .await
        .unwrap();
    // The two objects have 1000 and 1037 bytes.
    assert_eq!(report, expected_report(2, 0, 2037, 0));
    assert_eq!(tree(&dir), ["blobs/000.bin", "blobs/001.bin"]);
    assert_eq!(assert_files_verified(&dir, &published), 2);

    let events = events.lock().unwrap();
    let received: u64 = events
        .iter()
        .map(|p| match p.event {
            DownloadEvent::BytesReceived(n) => n,
            _ => 0,
        })
        .sum();
    assert_eq!(received, 2037);
    // One worker: each object starts (with its size), then is done.
    let steps: Vec<(&str, DownloadEvent, usize, u64)> = events
        .iter()
        .filter(|p| !matches!(p.event, DownloadEvent::BytesReceived(_)))
        .map(|p| (p.path.as_str(), p.event, p.files_done, p.bytes_done))
        .collect();
    assert_eq!(
        steps,
        [
            ("blobs/000.bin", DownloadEvent::Started { size: 1000 }, 0, 0),
            ("blobs/000.bin", DownloadEvent::Done, 1, 1000),
            (
                "blobs/001.bin",
                DownloadEvent::Started { size: 1037 },
                1,
                1000
            ),
            ("blobs/001.bin", DownloadEvent::Done, 2, 2037),
        ]
    );
    let last = events.last().unwrap();
    assert_eq!(
        (last.files_total, last.bytes_total, last.bytes_fetched),
        (2, 2037, 2037)
    );
    drop(events);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn a_dataset_download_shows_its_settings() {
    let (mock, published) = start().await;
    let dataset = load(&mock).await;
    let download = dataset
        .download_all("/data/lidar")
        .workers(3)
        .overwrite(true);
    assert_eq!(
        format!("{download:?}"),
        format!(
            "DatasetDownload {{ dataset: ResolvedDataset {{ canonical_reference: \"{}\", \
             manifest_sha256: \"{}\", object_count: 3 }}, dir: \"/data/lidar\", workers: 3, \
             overwrite: true, .. }}",
            published.canonical_reference(),
            published.manifest_sha256
        )
    );
}

#[cfg(unix)]
#[tokio::test]
async fn a_target_that_cannot_be_looked_at_stops_the_download_before_any_fetch() {
    common::init();
    let mock = MockServer::start().await;
    // A name of 300 bytes, longer than a file system allows (255): looking
    // at that target fails, which is not "nothing there".
    let long = "n".repeat(300);
    let (_, dataset) = publish_and_load(
        &mock,
        PublicDataset::new("acme", "long")
            .object(PublicObject::new("blob", 0, "a.bin", vec![1u8; 100]))
            .object(PublicObject::new("blob", 1, &long, vec![2u8; 100])),
    )
    .await;
    let dir = scratch_dir("long");

    let err = dataset.download_all(&dir).workers(1).await.unwrap_err();
    match &err {
        Error::InvalidArgument { message } => assert!(
            message.starts_with(&format!("reading {}: ", dir.join(&long).display())),
            "{message}"
        ),
        other => panic!("expected InvalidArgument, got {other:?}"),
    }
    // Every target is looked at before the first byte: a.bin is not fetched.
    assert_eq!(mock.hits("create_resolver_object_access"), 0);
    assert_eq!(mock.hits(DOWNLOAD_OPERATION), 0);
    assert!(tree(&dir).is_empty(), "{:?}", tree(&dir));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn objects_are_fetched_in_parallel_up_to_the_workers() {
    common::init();
    // The default is 8: the mock holds the downloads until 8 are in flight
    // together (a sequential client would never get there)…
    assert_eq!(peak_in_flight(None, 8).await, 8);
    // …and never more than asked for.
    assert_eq!(peak_in_flight(Some(3), 3).await, 3);
}

/// The most downloads in flight at once for 20 objects with `workers`
/// (default when `None`), the mock holding the first `hold` together.
async fn peak_in_flight(workers: Option<usize>, hold: usize) -> usize {
    let mock = MockServer::start().await;
    let (published, dataset) = publish_and_load(&mock, many("parallel", 20)).await;
    let dir = scratch_dir("parallel");
    mock.resolver().hold_downloads(hold);
    let mut download = dataset.download_all(&dir);
    if let Some(n) = workers {
        download = download.workers(n);
    }
    download.await.unwrap();
    assert_eq!(assert_files_verified(&dir, &published), 20);
    std::fs::remove_dir_all(&dir).unwrap();
    mock.resolver().peak_downloads_in_flight()
}

// ---------------------------------------------------------------------------
// Every check of the resolver's documents, one case each: a case names the
// reason it expects, and all cases run before the test fails, so removing
// any one check fails exactly its cases (see docs/testing.md, "Resolver").
// ---------------------------------------------------------------------------

use serde_json::{json, Value};

/// Failures collected across the cases of one test.
#[derive(Default)]
struct Cases(Vec<String>);

impl Cases {
    /// Records a failure unless `result` is an `Integrity` error whose
    /// message contains `expected`.
    fn integrity<T: std::fmt::Debug>(
        &mut self,
        case: &str,
        result: avala::Result<T>,
        expected: &str,
    ) {
        match result {
            Err(Error::Integrity { message }) if message.contains(expected) => {}
            other => self.0.push(format!(
                "{case}: expected Integrity {expected:?}, got {other:?}"
            )),
        }
    }

    /// Records a failure unless `result` is `Ok`.
    fn ok<T: std::fmt::Debug>(&mut self, case: &str, result: avala::Result<T>) {
        if let Err(e) = result {
            self.0.push(format!("{case}: expected Ok, got {e:?}"));
        }
    }

    fn done(self) {
        assert!(
            self.0.is_empty(),
            "{} case(s) failed:\n{}",
            self.0.len(),
            self.0.join("\n")
        );
    }
}

/// Forgets scripts and requests, and publishes the sample again (the same
/// identities), so that each case starts clean.
fn fresh(mock: &MockServer) {
    mock.reset();
    mock.resolver().publish(sample());
}

#[tokio::test]
async fn every_check_of_the_resolve_document() {
    let (mock, published) = start().await;
    let rev = published.revision_sha256.clone();
    let uid = published.dataset_uid.clone();
    let other = "e".repeat(64);
    type Edit = Box<dyn Fn(&mut Value)>;
    let set = |pointer: &'static str, value: Value| -> Edit {
        Box::new(move |doc: &mut Value| *doc.pointer_mut(pointer).unwrap() = value.clone())
    };
    let origin = |name: &str| json!({"name": name, "kind": "avala", "canonical_ref": "x", "external_revision": "y"});
    let many_origins: Vec<Value> = (0..33).map(|i| origin(&format!("o{i:02}"))).collect();
    let cases: Vec<(&str, Edit, &str)> = vec![
        (
            "schema_version",
            set("/schema_version", json!(2)),
            "unknown schema_version",
        ),
        (
            "manifest schema_version",
            set("/manifest/schema_version", json!(2)),
            "unknown schema_version",
        ),
        (
            "state",
            set("/state", json!("draft")),
            "not in state `published`",
        ),
        (
            "dataset_uid",
            set("/dataset_uid", json!("not-a-uuid")),
            "not a canonical UUID",
        ),
        (
            "revision_uid",
            set("/revision_uid", json!(uid.to_uppercase())),
            "not a canonical UUID",
        ),
        (
            "revision_sha256",
            set("/revision_sha256", json!(rev.to_uppercase())),
            "not 64 hex",
        ),
        (
            "manifest sha256",
            set("/manifest/sha256", json!("abc")),
            "not 64 hex",
        ),
        (
            "requested_reference",
            set("/requested_reference", json!("acme/lidar@v9")),
            "another reference",
        ),
        (
            "canonical_reference",
            set(
                "/canonical_reference",
                json!(format!("avala://datasets/{uid}@{other}")),
            ),
            "canonical_reference that does not match",
        ),
        (
            "display selector",
            set("/display_reference", json!("acme/lidar@main")),
            "display_reference",
        ),
        (
            "display owner",
            set("/display_reference", json!(format!("other/lidar@{rev}"))),
            "display_reference",
        ),
        (
            "display dataset",
            set("/display_reference", json!(format!("acme/radar@{rev}"))),
            "display_reference",
        ),
        (
            "display grammar",
            set("/display_reference", json!("not a reference")),
            "display_reference",
        ),
        (
            "objects_path",
            set(
                "/manifest/objects_path",
                json!(format!("/resolve/uid/{uid}/{rev}/objects/x/")),
            ),
            "unexpected manifest.objects_path",
        ),
        (
            "object_count",
            set("/manifest/object_count", json!(100_001)),
            "totals out of range",
        ),
        (
            "total_size_bytes",
            set(
                "/manifest/total_size_bytes",
                json!(9_007_199_254_740_992u64),
            ),
            "totals out of range",
        ),
        ("no origins", set("/manifest/origins", json!([])), "origins"),
        (
            "33 origins",
            set("/manifest/origins", json!(many_origins)),
            "origins",
        ),
        (
            "origin name",
            set("/manifest/origins", json!([origin("Primary")])),
            "origins",
        ),
        (
            "origins order",
            set("/manifest/origins", json!([origin("b"), origin("a")])),
            "origins",
        ),
        (
            "origins twice",
            set("/manifest/origins", json!([origin("a"), origin("a")])),
            "origins",
        ),
        (
            "rights status",
            set("/rights/status", json!("granted")),
            "open, declared licence",
        ),
        (
            "rights access",
            set("/rights/access", json!("restricted")),
            "open, declared licence",
        ),
        (
            "rights name empty",
            set("/rights/name", json!("")),
            "open, declared licence",
        ),
        (
            "rights name long",
            set("/rights/name", json!("n".repeat(1025))),
            "open, declared licence",
        ),
        (
            "rights document",
            set("/rights/document_sha256", json!("x")),
            "open, declared licence",
        ),
        (
            "rights attestation",
            set("/rights/attestation_sha256", json!(rev.to_uppercase())),
            "open, declared licence",
        ),
        (
            "rights url http",
            set("/rights/url", json!("http://example.com/l")),
            "rights url",
        ),
        (
            "rights url credentials",
            set("/rights/url", json!("https://u:p@example.com/l")),
            "rights url",
        ),
        (
            "rights url empty",
            set("/rights/url", json!("")),
            "rights url",
        ),
        (
            "rights url space",
            set("/rights/url", json!("https://example.com/a b")),
            "rights url",
        ),
        (
            "rights url long",
            set(
                "/rights/url",
                json!(format!("https://example.com/{}", "a".repeat(2048))),
            ),
            "rights url",
        ),
        (
            "rights unknown key",
            Box::new(|doc: &mut Value| doc["rights"]["extra"] = json!(1)),
            "does not fit its model",
        ),
        (
            "missing field",
            Box::new(|doc: &mut Value| {
                doc.as_object_mut().unwrap().remove("state");
            }),
            "does not fit its model",
        ),
    ];
    let mut failures = Cases::default();
    for (case, edit, expected) in cases {
        fresh(&mock);
        let mut doc = published.revision_json("acme/lidar@main");
        edit(&mut doc);
        mock.respond("resolve_dataset_reference", doc).times(1);
        failures.integrity(
            case,
            mock.resolver().client().load("acme/lidar").await,
            expected,
        );
    }

    // Each bound itself is allowed: 100 000 objects, 2^53 - 1 bytes, 32
    // origins, a licence name of 1024 characters and a URL of 2048.
    let origins_32: Vec<Value> = (0..32).map(|i| origin(&format!("o{i:02}"))).collect();
    let url_2048 = format!("https://example.com/{}", "a".repeat(2048 - 20));
    for (case, edit) in [
        (
            "100 000 objects",
            set("/manifest/object_count", json!(100_000)),
        ),
        (
            "2^53 - 1 bytes",
            set(
                "/manifest/total_size_bytes",
                json!(9_007_199_254_740_991u64),
            ),
        ),
        ("32 origins", set("/manifest/origins", json!(origins_32))),
        ("name of 1024", set("/rights/name", json!("é".repeat(1024)))),
        ("url of 2048", set("/rights/url", json!(url_2048))),
    ] {
        fresh(&mock);
        let mut doc = published.revision_json("acme/lidar@main");
        edit(&mut doc);
        mock.respond("resolve_dataset_reference", doc).times(1);
        failures.ok(case, mock.resolver().client().load("acme/lidar").await);
    }

    // A pinned reference answered by another, self-consistent revision or
    // dataset.
    let canonical = published.canonical_reference();
    let other_uid = "00000000-0000-4000-8000-000000000000";
    for (case, dataset_uid, revision) in [
        ("revision", uid.as_str(), other.as_str()),
        ("dataset", other_uid, rev.as_str()),
    ] {
        fresh(&mock);
        let mut doc = published.revision_json(&canonical);
        doc["dataset_uid"] = json!(dataset_uid);
        doc["revision_sha256"] = json!(revision);
        doc["canonical_reference"] = json!(format!("avala://datasets/{dataset_uid}@{revision}"));
        doc["display_reference"] = json!(format!("acme/lidar@{revision}"));
        doc["manifest"]["objects_path"] =
            json!(format!("/resolve/uid/{dataset_uid}/{revision}/objects/"));
        mock.respond("resolve_dataset_revision", doc).times(1);
        failures.integrity(
            &format!("pinned, another {case}"),
            mock.resolver().client().load(&canonical).await,
            "another revision than the pinned one",
        );
    }
    failures.done();
}

/// A manifest object like `published.objects[index]`'s, edited.
fn object_with(published: &Published, index: usize, edit: impl Fn(&mut Value)) -> Value {
    let mut o = published.object_json(index);
    edit(&mut o);
    o
}

#[tokio::test]
async fn every_check_of_a_manifest_page_and_listing() {
    let (mock, published) = start().await;
    let dataset = load(&mock).await;
    let p = &published;
    let page = |results: Vec<Value>, next: Option<&str>, previous: Option<&str>| {
        p.page_json(results, next, previous)
    };
    let all = || (0..3).map(|i| p.object_json(i)).collect::<Vec<_>>();
    let fourth = object_with(p, 2, |o| {
        o["object_uid"] = json!("00000000-0000-4000-8000-000000000004");
        o["access_path"] = json!(format!(
            "/resolve/uid/{}/{}/objects/00000000-0000-4000-8000-000000000004/access/",
            p.dataset_uid, p.revision_sha256
        ));
        o["ordinal"] = json!(2);
        o["logical_path"] = json!("frames/2.bin");
    });
    let max = 9_007_199_254_740_992u64;
    let bad_object = |edit: &dyn Fn(&mut Value)| page(vec![object_with(p, 0, edit)], None, None);
    // (case, pages served in order to an unfiltered listing, reason)
    let cases: Vec<(&str, Vec<Value>, &str)> = vec![
        (
            "page schema_version",
            vec![{
                let mut v = page(all(), None, None);
                v["schema_version"] = json!(2);
                v
            }],
            "unknown schema_version",
        ),
        (
            "page of another revision",
            vec![{
                let mut v = page(all(), None, None);
                v["revision_sha256"] = json!("0".repeat(64));
                v
            }],
            "another revision or manifest",
        ),
        (
            "101 results",
            vec![page(vec![p.object_json(0); 101], None, None)],
            "more than 100 results",
        ),
        (
            "empty cursor",
            vec![page(all(), Some(""), None)],
            "empty or over-long cursor",
        ),
        (
            "long cursor",
            vec![page(all(), Some(&"c".repeat(8193)), None)],
            "empty or over-long cursor",
        ),
        (
            "first page with previous",
            vec![page(all(), None, Some("c0"))],
            "is the first but has a previous_cursor",
        ),
        (
            "followed page without previous",
            vec![
                page(vec![p.object_json(0)], Some("c1"), None),
                page(vec![p.object_json(1)], None, None),
            ],
            "follows a cursor",
        ),
        (
            "followed page without results",
            vec![
                page(vec![p.object_json(0)], Some("c1"), None),
                page(vec![], None, Some("c0")),
            ],
            "follows a cursor",
        ),
        (
            "object_uid",
            vec![bad_object(&|o| o["object_uid"] = json!("x"))],
            "does not fit its model",
        ),
        (
            "role",
            vec![bad_object(&|o| o["role"] = json!("Episode"))],
            "does not fit its model",
        ),
        (
            "sha256",
            vec![bad_object(&|o| o["sha256"] = json!("x"))],
            "does not fit its model",
        ),
        (
            "ordinal",
            vec![bad_object(&|o| o["ordinal"] = json!(max))],
            "does not fit its model",
        ),
        (
            "size_bytes",
            vec![bad_object(&|o| o["size_bytes"] = json!(max))],
            "does not fit its model",
        ),
        (
            "episode_ordinal",
            vec![bad_object(&|o| o["episode_ordinal"] = json!(max))],
            "does not fit its model",
        ),
        (
            "episode in an episode",
            vec![bad_object(&|o| o["episode_ordinal"] = json!(0))],
            "does not fit its model",
        ),
        (
            "access_path",
            vec![bad_object(&|o| {
                o["access_path"] = json!("/resolve/x/access/")
            })],
            "another access_path or origin",
        ),
        (
            "origin",
            vec![bad_object(&|o| o["origin"] = json!("elsewhere"))],
            "another access_path or origin",
        ),
        (
            "logical_path",
            vec![bad_object(&|o| o["logical_path"] = json!("../up"))],
            "not a canonical relative path",
        ),
        (
            "same uid twice",
            vec![page(
                vec![
                    p.object_json(0),
                    object_with(p, 1, |o| {
                        let first = p.object_json(0);
                        o["object_uid"] = first["object_uid"].clone();
                        o["access_path"] = first["access_path"].clone();
                    }),
                ],
                None,
                None,
            )],
            "twice",
        ),
        (
            "same role and ordinal twice",
            vec![page(
                vec![
                    p.object_json(1),
                    object_with(p, 2, |o| o["ordinal"] = json!(0)),
                ],
                None,
                None,
            )],
            "twice",
        ),
        (
            "same path twice",
            vec![page(
                vec![
                    p.object_json(1),
                    object_with(p, 2, |o| o["logical_path"] = json!("frames/0.bin")),
                ],
                None,
                None,
            )],
            "twice",
        ),
        (
            "out of order",
            vec![page(vec![p.object_json(1), p.object_json(0)], None, None)],
            "out of order",
        ),
        (
            "over the object_count",
            vec![page([all(), vec![fourth]].concat(), None, None)],
            "more objects than its object_count",
        ),
        (
            "over the total size",
            vec![page(
                vec![object_with(p, 0, |o| o["size_bytes"] = json!(8001 + 7))],
                None,
                None,
            )],
            "exceed its total_size_bytes",
        ),
        (
            "a cursor that leads nowhere",
            vec![page(vec![], Some("c1"), None)],
            "lead nowhere",
        ),
        (
            "a repeated cursor",
            vec![
                page(vec![p.object_json(0)], Some("c1"), None),
                page(vec![p.object_json(1)], Some("c1"), Some("c0")),
            ],
            "repeat",
        ),
        (
            "under the totals",
            vec![page(vec![p.object_json(0)], None, None)],
            "declares 3 objects",
        ),
        (
            "the object_count met, under the total size",
            vec![page(
                vec![
                    object_with(p, 0, |o| o["size_bytes"] = json!(6)),
                    p.object_json(1),
                    p.object_json(2),
                ],
                None,
                None,
            )],
            "lists 3 objects of 8006 bytes, but declares 3 objects of 8007 bytes",
        ),
        (
            "the total size met, under the object_count",
            vec![page(
                vec![
                    object_with(p, 0, |o| o["size_bytes"] = json!(3007)),
                    p.object_json(1),
                ],
                None,
                None,
            )],
            "lists 2 objects of 8007 bytes, but declares 3 objects of 8007 bytes",
        ),
        (
            "an episode that is not listed",
            vec![page(
                vec![
                    p.object_json(0),
                    object_with(p, 1, |o| o["episode_ordinal"] = json!(5)),
                    p.object_json(2),
                ],
                None,
                None,
            )],
            "names an episode the manifest does not list",
        ),
    ];
    let mut failures = Cases::default();
    for (case, pages, expected) in cases {
        fresh(&mock);
        for page in pages {
            mock.respond("list_resolver_objects", page).times(1);
        }
        failures.integrity(
            case,
            dataset.objects().try_collect::<Vec<_>>().await,
            expected,
        );
    }

    // A role listing: an object of another role.
    fresh(&mock);
    mock.respond(
        "list_resolver_objects",
        page(vec![p.object_json(0)], None, None),
    )
    .times(1);
    failures.integrity(
        "another role",
        dataset
            .objects_with_role("frame")
            .try_collect::<Vec<_>>()
            .await,
        "not asked for",
    );
    // Lookups by ordinal: cursors, several objects, another ordinal, and
    // objects that cannot fit the manifest's totals.
    let lookups: Vec<(&str, Value, &str)> = vec![
        (
            "lookup with cursors",
            page(vec![p.object_json(1)], Some("c1"), None),
            "of an ordinal lookup has cursors",
        ),
        (
            "lookup with two objects",
            page(vec![p.object_json(1), p.object_json(2)], None, None),
            "several objects",
        ),
        (
            "lookup of another ordinal",
            page(vec![p.object_json(2)], None, None),
            "not asked for",
        ),
        (
            "lookup over the total size",
            page(
                vec![object_with(p, 1, |o| o["size_bytes"] = json!(8008))],
                None,
                None,
            ),
            "does not fit within the manifest's totals",
        ),
    ];
    for (case, answer, expected) in lookups {
        fresh(&mock);
        mock.respond("list_resolver_objects", answer).times(1);
        failures.integrity(case, dataset.object("frame", 0).await, expected);
    }
    // A manifest of no objects that still answers a lookup.
    fresh(&mock);
    let mut empty = published.revision_json("acme/lidar@main");
    empty["manifest"]["object_count"] = json!(0);
    empty["manifest"]["total_size_bytes"] = json!(0);
    mock.respond("resolve_dataset_reference", empty).times(1);
    let none = mock.resolver().client().load("acme/lidar").await.unwrap();
    failures.integrity(
        "lookup in an empty manifest",
        none.object("episode", 0).await,
        "does not fit within the manifest's totals",
    );
    failures.done();
}

/// A grant for `published.objects[index]` built here from the protocol's
/// field names (not the mock's), valid unless edited, expiring 60 s after
/// `date`.
fn grant_for(published: &Published, index: usize, date: std::time::SystemTime) -> Value {
    let o = &published.objects[index];
    let expires = chrono::DateTime::<chrono::Utc>::from(date + Duration::from_secs(60))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    json!({
        "schema_version": 1,
        "provider": "avala_proxy",
        "url": published.download_url(index),
        "method": "GET",
        "canonical_reference": published.canonical_reference(),
        "dataset_uid": published.dataset_uid,
        "revision_sha256": published.revision_sha256,
        "manifest_sha256": published.manifest_sha256,
        "object_uid": o.object_uid,
        "size_bytes": o.bytes.len(),
        "sha256": o.sha256,
        "range_supported": false,
        "expires_at": expires,
    })
}

#[tokio::test]
async fn every_check_of_an_access_grant() {
    let (mock, published) = start().await;
    let dataset = load(&mock).await;
    let frame = dataset.object("frame", 0).await.unwrap().unwrap();
    let now = std::time::SystemTime::now();
    let http_date = |t: std::time::SystemTime| httpdate::fmt_http_date(t);
    let url = published.download_url(1);
    let origin = url.split("/api/v1").next().unwrap().to_owned();
    let set = |key: &str, value: Value| {
        let mut g = grant_for(&published, 1, now);
        g[key] = value;
        g
    };
    let identity = "does not match the object it was requested for";
    let invalid_url = "not a valid download URL";
    let not_under = "not under the resolver's download route";
    // (case, body, Date header, reason)
    let cases: Vec<(&str, Vec<u8>, String, &str)> = vec![
        (
            "not JSON",
            b"[1]".to_vec(),
            http_date(now),
            "not a JSON object",
        ),
        (
            "schema_version",
            set("schema_version", json!(2)).to_string().into(),
            http_date(now),
            identity,
        ),
        (
            "provider",
            set("provider", json!("ftp")).to_string().into(),
            http_date(now),
            identity,
        ),
        (
            "method",
            set("method", json!("PUT")).to_string().into(),
            http_date(now),
            identity,
        ),
        (
            "canonical_reference",
            set("canonical_reference", json!("avala://x"))
                .to_string()
                .into(),
            http_date(now),
            identity,
        ),
        (
            "dataset_uid",
            set("dataset_uid", json!("00000000-0000-4000-8000-000000000000"))
                .to_string()
                .into(),
            http_date(now),
            identity,
        ),
        (
            "revision_sha256",
            set("revision_sha256", json!("0".repeat(64)))
                .to_string()
                .into(),
            http_date(now),
            identity,
        ),
        (
            "manifest_sha256",
            set("manifest_sha256", json!("0".repeat(64)))
                .to_string()
                .into(),
            http_date(now),
            identity,
        ),
        (
            "object_uid",
            set("object_uid", json!(published.objects[2].object_uid))
                .to_string()
                .into(),
            http_date(now),
            identity,
        ),
        (
            "sha256",
            set("sha256", json!(published.objects[2].sha256))
                .to_string()
                .into(),
            http_date(now),
            identity,
        ),
        (
            "size_bytes",
            set("size_bytes", json!(4999)).to_string().into(),
            http_date(now),
            identity,
        ),
        (
            "range_supported",
            set("range_supported", json!("no")).to_string().into(),
            http_date(now),
            identity,
        ),
        (
            "Date not a date",
            grant_for(&published, 1, now).to_string().into(),
            "yesterday".to_owned(),
            "no valid Date header",
        ),
        (
            "expires_at offset",
            set("expires_at", json!("2030-01-01T00:00:00+01:00"))
                .to_string()
                .into(),
            http_date(now),
            "not an ISO-8601 UTC time",
        ),
        (
            "expires_at missing",
            set("expires_at", json!(null)).to_string().into(),
            http_date(now),
            "not an ISO-8601 UTC time",
        ),
        (
            "Date 60 s ahead",
            grant_for(&published, 1, now + Duration::from_secs(60))
                .to_string()
                .into(),
            http_date(now + Duration::from_secs(60)),
            "more than 30 s ahead",
        ),
        (
            "url with a space",
            set("url", json!(format!("{url} x"))).to_string().into(),
            http_date(now),
            invalid_url,
        ),
        (
            "url not a URL",
            set("url", json!("not a url")).to_string().into(),
            http_date(now),
            invalid_url,
        ),
        (
            "url missing",
            set("url", json!(null)).to_string().into(),
            http_date(now),
            invalid_url,
        ),
        (
            "url with credentials",
            set("url", json!(url.replace("http://", "http://u:p@")))
                .to_string()
                .into(),
            http_date(now),
            invalid_url,
        ),
        (
            "url with a user name only",
            set("url", json!(url.replace("http://", "http://u@")))
                .to_string()
                .into(),
            http_date(now),
            invalid_url,
        ),
        (
            "url with a password only",
            set("url", json!(url.replace("http://", "http://:p@")))
                .to_string()
                .into(),
            http_date(now),
            invalid_url,
        ),
        (
            "url with a fragment",
            set("url", json!(format!("{url}#f"))).to_string().into(),
            http_date(now),
            invalid_url,
        ),
        (
            "https on an http root",
            set("url", json!(url.replace("http://", "https://")))
                .to_string()
                .into(),
            http_date(now),
            "not allowed",
        ),
        (
            "another provider on an http root",
            set("provider", json!("aws_s3")).to_string().into(),
            http_date(now),
            "not allowed",
        ),
        (
            "proxy outside the download route",
            set("url", json!(format!("{origin}/api/v1/resolve/uid/x/")))
                .to_string()
                .into(),
            http_date(now),
            not_under,
        ),
        (
            "proxy outside the API root",
            set("url", json!(format!("{origin}/resolve/download/x/")))
                .to_string()
                .into(),
            http_date(now),
            not_under,
        ),
        (
            "proxy with %2e",
            set("url", json!(format!("{url}x%2e%2e")))
                .to_string()
                .into(),
            http_date(now),
            not_under,
        ),
        (
            "proxy with %2F",
            set("url", json!(format!("{url}a%2Fb"))).to_string().into(),
            http_date(now),
            not_under,
        ),
        (
            "proxy with %25",
            set("url", json!(format!("{url}a%252e"))).to_string().into(),
            http_date(now),
            not_under,
        ),
        (
            "proxy with //",
            set("url", json!(format!("{url}/x"))).to_string().into(),
            http_date(now),
            not_under,
        ),
    ];
    let mut failures = Cases::default();
    for (case, body, date, expected) in cases {
        fresh(&mock);
        mock.fault(
            "create_resolver_object_access",
            Fault::status(200)
                .header("Content-Type", "application/json")
                .header("Date", &date)
                .body(body),
        )
        .times(1);
        failures.integrity(case, frame.read().await, expected);
        if mock.hits(DOWNLOAD_OPERATION) != 0 {
            failures.0.push(format!("{case}: a download was requested"));
        }
    }
    // The edge of the clock rule: 20 s ahead is accepted.
    fresh(&mock);
    let ahead = now + Duration::from_secs(20);
    mock.fault(
        "create_resolver_object_access",
        Fault::status(200)
            .header("Date", &http_date(ahead))
            .json(grant_for(&published, 1, ahead)),
    )
    .times(1);
    if let Err(e) = frame.read().await {
        failures.0.push(format!("Date 20 s ahead: {e}"));
    }
    failures.done();
}

// ---------------------------------------------------------------------------
// Production host names through the whole flow: a loopback TLS front with a
// test certificate (tests/fixtures/tls) that forwards to the mock, and the
// resolver's hidden test override that sends each production name there.
// ---------------------------------------------------------------------------

use tls_front::{tls_fixture, TlsFront, R2_HOST};

#[tokio::test]
async fn production_download_hosts_pass_and_look_alikes_get_no_byte() {
    common::init();
    let mock = MockServer::start().await;
    let published = mock.resolver().publish(sample());
    let front = TlsFront::start(mock.address()).await;
    let resolver = Resolver::builder()
        .base_url("https://api.avala.ai/api/v1")
        .test_network(front.resolve(&[]), tls_fixture("cert.der"))
        .build()
        .unwrap();
    let dataset = resolver.load("acme/lidar").await.unwrap();
    let frame = dataset.object("frame", 0).await.unwrap().unwrap();
    let route = format!(
        "/api/v1/resolve/download/{}/",
        published.objects[1].object_uid
    );
    let edge = format!(
        "/v1/datasets/{}/{}/{}/objects/{}/{}?grant=t0k.en",
        published.dataset_uid,
        published.revision_sha256,
        published.manifest_sha256,
        published.objects[1].object_uid,
        "f".repeat(64)
    );
    let serve = |provider: &str, url: String| {
        let now = std::time::SystemTime::now();
        let mut grant = grant_for(&published, 1, now);
        grant["provider"] = json!(provider);
        grant["url"] = json!(url);
        mock.fault(
            "create_resolver_object_access",
            Fault::status(200)
                .header("Date", &httpdate::fmt_http_date(now))
                .json(grant),
        )
        .times(1);
    };
    let mut failures = Cases::default();
    // Allowed: the bytes arrive through the production name (the mock's
    // download route answers any host), verified.
    let allowed = [
        (
            "aws_s3",
            format!("https://bucket.s3.us-east-1.amazonaws.com{route}"),
        ),
        ("cloudflare_r2", format!("https://{R2_HOST}{route}")),
        ("gcs", format!("https://storage.googleapis.com{route}")),
        (
            "azure_blob",
            format!("https://acct123.blob.core.windows.net{route}"),
        ),
        ("avala_proxy", format!("https://api.avala.ai{route}")),
    ];
    for (provider, url) in allowed {
        serve(provider, url.clone());
        match frame.read().await {
            Ok(bytes) if bytes == published.objects[1].bytes => {}
            other => failures.0.push(format!("{provider} {url}: {other:?}")),
        }
        // GCS is asked for the stored bytes (gzip), not a decompressed
        // copy; every other provider for identity.
        let expected = if provider == "gcs" {
            "gzip"
        } else {
            "identity"
        };
        let sent = mock.received_for(DOWNLOAD_OPERATION);
        let encoding = sent.last().and_then(|r| r.header("accept-encoding"));
        if encoding != Some(expected) {
            failures
                .0
                .push(format!("{provider}: Accept-Encoding {encoding:?}"));
        }
    }
    // Allowed, on a path the mock does not serve: the request is made
    // (the front saw the name; the mock answers 404).
    let reached = [
        (
            "aws_s3",
            "s3.us-east-1.amazonaws.com",
            format!("https://s3.us-east-1.amazonaws.com/bucket{route}"),
        ),
        (
            "avala_edge",
            "data.avala.ai",
            format!("https://data.avala.ai{edge}"),
        ),
    ];
    for (provider, host, url) in reached {
        serve(provider, url.clone());
        failures.integrity(provider, frame.read().await, "answered HTTP 404");
        if !front.names().iter().any(|n| n == host) {
            failures
                .0
                .push(format!("{provider}: no connection to {host}"));
        }
    }
    // Refused before any connection: look-alikes, GovCloud, and a provider
    // naming a host of another provider.
    let refused = [
        (
            "aws_s3",
            format!("https://s3.amazonaws.com.evil.test{route}"),
        ),
        ("aws_s3", format!("https://evil-amazonaws.com{route}")),
        (
            "aws_s3",
            format!("https://bucket.s3.us-gov-west-1.amazonaws.com{route}"),
        ),
        (
            "cloudflare_r2",
            format!("https://bucket.s3.us-east-1.amazonaws.com{route}"),
        ),
        ("avala_proxy", format!("https://data.avala.ai{route}")),
        ("avala_edge", format!("https://api.avala.ai{edge}")),
    ];
    for (provider, url) in refused {
        let before = front.names().len();
        serve(provider, url.clone());
        failures.integrity(
            &format!("{provider} {url}"),
            frame.read().await,
            "not allowed",
        );
        // The grant itself is one connection to api.avala.ai at most.
        let new: Vec<String> = front.names().split_off(before);
        if new.iter().any(|n| n != "api.avala.ai") {
            failures
                .0
                .push(format!("{provider} {url}: connected to {new:?}"));
        }
    }
    for forbidden in [
        "s3.amazonaws.com.evil.test",
        "evil-amazonaws.com",
        "bucket.s3.us-gov-west-1.amazonaws.com",
    ] {
        if front.names().iter().any(|n| n == forbidden) {
            failures.0.push(format!("a connection to {forbidden}"));
        }
    }
    failures.done();
}

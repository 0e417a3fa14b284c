//! The public dataset resolver (protocol §9.4, §13.3) against the mock.

#[path = "common/capture.rs"]
mod capture;
mod common;

use std::{path::PathBuf, time::Duration};

use avala::{
    mock::{
        Fault, GrantFault, MockServer, PublicDataset, PublicObject, Published, DOWNLOAD_OPERATION,
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
    assert_eq!(dataset.object_count(), 3);

    let objects: Vec<_> = dataset.objects().try_collect().await.unwrap();
    let paths: Vec<_> = objects.iter().map(|o| o.logical_path()).collect();
    assert_eq!(paths, ["episodes/0.json", "frames/0.bin", "frames/1.bin"]);
    for (object, expected) in objects.iter().zip(&published.objects) {
        assert_eq!(object.sha256(), expected.sha256);
        assert_eq!(object.read().await.unwrap(), expected.bytes);
    }
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
    mock.resolver().download_fault(Fault::status(206)).times(1);
    let err = frame.read().await.unwrap_err();
    assert!(integrity(&err).contains("206"), "{err}");
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
async fn a_withdrawn_pinned_revision_says_so_with_410() {
    let (mock, published) = start().await;
    mock.fault(
        "resolve_dataset_revision",
        Fault::status(410).json(published.withdrawn_json()),
    );
    let err = mock
        .resolver()
        .client()
        .load(&published.canonical_reference())
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(410), "{err:?}");
    assert!(err.to_string().contains("withdrawn"), "{err}");

    // An alias cannot be withdrawn: a 410 for it is an identity failure.
    mock.fault(
        "resolve_dataset_reference",
        Fault::status(410).json(published.withdrawn_json()),
    );
    let err = mock
        .resolver()
        .client()
        .load("acme/lidar")
        .await
        .unwrap_err();
    integrity(&err);
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

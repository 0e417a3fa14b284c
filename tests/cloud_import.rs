//! `Client::import_cloud` against the mock: the `provider_config` on the
//! wire, the storage-configuration rules, the checks before any request,
//! and credentials kept out of every error.

use std::time::Duration;

use avala::{
    mock::{Fault, MockServer},
    types::DataType,
    Error,
};
use serde_json::{json, Value};

/// Neither matches a generic secret pattern: only the scrub of the given
/// credentials can remove them.
const SECRET: &str = "Corp-Secret-5b7e-Quokka-91";
const KEY_ID: &str = "corp-key-id-7781";
const ORG_UID: &str = "7d0f2c4e-1a2b-4c3d-8e9f-0a1b2c3d4e5f";

fn created_body(mock: &MockServer) -> Value {
    let sent = mock.received_for("create_dataset");
    assert_eq!(sent.len(), 1, "one create_dataset");
    serde_json::from_slice(&sent[0].body).unwrap()
}

fn invalid(err: Error) -> String {
    match err {
        Error::InvalidArgument { message } => message,
        other => panic!("expected InvalidArgument, got {other:?}"),
    }
}

#[tokio::test]
async fn an_s3_uri_with_an_access_key_creates_the_dataset_over_the_bucket() {
    let mock = MockServer::start().await;
    let client = mock.client();
    let import = client
        .import_cloud("Warehouse", "warehouse", DataType::Image)
        .uri("s3://acme-frames/runs//2026/")
        .region("us-west-2")
        .access_key(KEY_ID, SECRET)
        .include_extensions(["jpg", " png "])
        .ignore_paths(["tmp/*"]);
    let shown = format!("{import:?}");
    assert!(
        !shown.contains(SECRET) && !shown.contains(KEY_ID),
        "{shown}"
    );

    import.send().await.unwrap();

    let body = created_body(&mock);
    assert_eq!(body["name"], "Warehouse");
    assert_eq!(body["slug"], "warehouse");
    assert_eq!(body["data_type"], "image");
    assert_eq!(
        body["provider_config"],
        json!({
            "provider": "aws_s3",
            "s3_bucket_name": "acme-frames",
            "s3_bucket_prefix": "runs//2026/",
            "s3_bucket_region": "us-west-2",
            "s3_is_accelerated": false,
            "s3_auth_method": "access_key",
            "s3_access_key_id": KEY_ID,
            "s3_secret_access_key": SECRET,
            "included_extensions": "jpg,png",
            "ignored_paths": "tmp/*"
        })
    );
}

#[tokio::test]
async fn a_gcs_uri_sends_the_service_account_and_waits_for_indexing() {
    let mock = MockServer::start().await;
    mock.respond(
        "create_dataset",
        json!({"uid": "ds-1", "name": "G", "slug": "g", "status": "creating"}),
    );
    mock.respond(
        "get_dataset",
        json!({"uid": "ds-1", "name": "G", "slug": "g", "status": "created"}),
    );
    let dataset = mock
        .client()
        .import_cloud("G", "g", DataType::Video)
        .uri("gs://bucket-g/clips")
        .gcs_service_account_json("{\"type\":\"service_account\"}")
        .wait(Duration::from_secs(30))
        .send()
        .await
        .unwrap();
    assert_eq!(dataset.status, Some(avala::types::DatasetStatus::Created));
    assert_eq!(mock.hits("get_dataset"), 1);
    assert_eq!(
        created_body(&mock)["provider_config"],
        json!({
            "provider": "gc_storage",
            "gc_storage_bucket_name": "bucket-g",
            "gc_storage_prefix": "clips",
            "gc_storage_auth_json_content": "{\"type\":\"service_account\"}"
        })
    );
}

#[tokio::test]
async fn settings_that_cannot_work_are_refused_before_any_request() {
    let mock = MockServer::start().await;
    let client = mock.client();
    let base = || client.import_cloud("N", "n", DataType::Image);
    let cases = [
        (base().region("r").access_key("a", "b"), "give the bucket"),
        (
            base().uri("ftp://x/y").region("r").access_key("a", "b"),
            "s3://bucket/prefix",
        ),
        (
            base()
                .uri("s3://b/p")
                .role_arn("arn:aws:iam::1:role/r")
                .region("r"),
            "owning organization",
        ),
        (
            base().storage_config("sc-1").access_key("a", "b"),
            "organization_uid",
        ),
        (base().uri("s3://b/p").access_key("a", "b"), "region"),
        (base().uri("s3://b/p").region("r"), "credentials"),
        (
            base()
                .uri("s3://b/p")
                .region("r")
                .gcs_service_account_json("{}"),
            "S3 bucket",
        ),
        (
            base().uri("gs://b/p").access_key("a", "b"),
            "service account",
        ),
    ];
    for (import, why) in cases {
        let message = invalid(import.send().await.unwrap_err());
        assert!(message.contains(why), "expected {why:?} in {message:?}");
    }
    assert!(mock.received().is_empty(), "{:?}", mock.received());
}

fn saved_config(prefix: &str, verified: bool) -> Value {
    json!({
        "uid": "sc-1", "name": "frames", "provider": "aws_s3", "is_verified": verified,
        "s3_bucket_name": "acme-frames", "s3_bucket_prefix": prefix,
        "s3_bucket_region": "eu-central-1", "s3_is_accelerated": true
    })
}

fn member_of_acme(mock: &MockServer) {
    mock.respond(
        "list_organizations",
        json!({"next": null, "previous": null, "results": [{"uid": ORG_UID, "slug": "acme", "name": "Acme"}]}),
    )
    .always();
}

#[tokio::test]
async fn a_storage_configuration_gives_bucket_region_and_prefix_within_its_organization() {
    let mock = MockServer::start().await;
    member_of_acme(&mock);
    mock.respond("get_storage_config", saved_config("deliveries", true))
        .always();
    mock.client()
        .import_cloud("D", "d", DataType::Lidar)
        .storage_config("sc-1")
        .organization_uid(ORG_UID)
        .uri("s3://acme-frames/deliveries/run-7")
        .region("us-east-1")
        .role_arn("arn:aws:iam::123:role/avala")
        .send()
        .await
        .unwrap();

    let lookup = &mock.received_for("get_storage_config")[0];
    assert_eq!(lookup.path, "/api/v1/storage-configs/sc-1/");
    assert_eq!(lookup.query, "organization=acme");
    let body = created_body(&mock);
    assert_eq!(body["organization_uid"], ORG_UID);
    let p = &body["provider_config"];
    assert_eq!(p["s3_bucket_name"], "acme-frames");
    assert_eq!(p["s3_bucket_prefix"], "deliveries/run-7");
    // The verified configuration's region and acceleration win.
    assert_eq!(p["s3_bucket_region"], "eu-central-1");
    assert_eq!(p["s3_is_accelerated"], true);
    assert_eq!(p["s3_auth_method"], "iam_role");
}

#[tokio::test]
async fn a_storage_configuration_is_refused_when_unverified_foreign_or_widened() {
    let mock = MockServer::start().await;
    member_of_acme(&mock);
    let client = mock.client();
    let import = |uri: Option<&str>, org: &str| {
        let i = client
            .import_cloud("D", "d", DataType::Lidar)
            .storage_config("sc-1")
            .organization_uid(org)
            .access_key("a", "b");
        match uri {
            Some(u) => i.uri(u),
            None => i,
        }
    };

    mock.respond("get_storage_config", saved_config("deliveries", false))
        .times(1);
    let message = invalid(import(None, ORG_UID).send().await.unwrap_err());
    assert!(message.contains("not verified"), "{message}");

    let message = invalid(import(None, "not-my-org").send().await.unwrap_err());
    assert!(message.contains("not a member"), "{message}");

    mock.respond("get_storage_config", saved_config("deliveries", true))
        .always();
    for (uri, why) in [
        ("s3://acme-frames/deliveries-archive/x", "outside"),
        ("s3://acme-frames//deliveries/x", "outside"),
        ("s3://other-bucket/deliveries/x", "bucket other-bucket"),
        ("gs://acme-frames/deliveries/x", "gc_storage"),
    ] {
        let message = invalid(import(Some(uri), ORG_UID).send().await.unwrap_err());
        assert!(message.contains(why), "{uri}: {message}");
    }
    assert_eq!(mock.hits("create_dataset"), 0);
}

#[tokio::test]
async fn credentials_echoed_by_the_server_are_scrubbed_from_the_error() {
    let mock = MockServer::start().await;
    let echo = json!({"detail": format!("bad credentials {KEY_ID}:{SECRET}"),
                      "provider_config": {"s3_secret_access_key": [SECRET]}});
    mock.fault("create_dataset", Fault::status(400).json(echo))
        .always();
    let err = mock
        .client()
        .import_cloud("N", "n", DataType::Image)
        .uri("s3://b/p")
        .region("r")
        .access_key(KEY_ID, SECRET)
        .send()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Validation { .. }), "{err:?}");
    let api = err.api_error().unwrap();
    let everything = format!("{err} {err:?} {} {:?}", api.raw_body, api.body);
    assert!(!everything.contains(SECRET), "{everything}");
    assert!(!everything.contains(KEY_ID), "{everything}");
    assert!(api.message.contains("bad credentials"), "{}", api.message);
}

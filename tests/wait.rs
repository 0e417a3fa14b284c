//! `wait_for_export` / `wait_for_dataset` against the mock's scripted
//! status sequences (protocol §10), on paused tokio time: every duration
//! asserted is the virtual clock's, exact.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use avala::{
    mock::{Fault, MockServer},
    types::{DatasetStatus, ExportStatus},
    Error,
};
use tokio::time::Instant;

mod common;

const STEP: Duration = Duration::from_millis(500);

#[tokio::test(start_paused = true)]
async fn export_wait_polls_until_exported() {
    let mock = MockServer::start().await;
    mock.jobs()
        .export_statuses("exp_1", ["pending", "processing", "exported"]);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    let started = Instant::now();
    let export = mock
        .client()
        .wait_for_export("exp_1")
        .poll_interval(STEP)
        .on_poll(move |e| record.lock().unwrap().push(e.status.clone()))
        .send()
        .await
        .unwrap();
    assert_eq!(export.uid, "exp_1");
    assert_eq!(export.status, Some(ExportStatus::Exported));
    assert_eq!(mock.hits("get_export"), 3);
    assert_eq!(
        *seen.lock().unwrap(),
        [Some(ExportStatus::Pending), Some(ExportStatus::Processing)]
    );
    // Two intervals slept between three polls.
    assert_eq!(started.elapsed(), STEP * 2);
    assert_eq!(
        mock.received_for("get_export")[0].path,
        "/api/v1/exports/exp_1/"
    );
}

#[tokio::test(start_paused = true)]
async fn a_failed_export_is_a_job_failed_error() {
    let mock = MockServer::start().await;
    mock.jobs()
        .export_statuses("exp_2", ["processing", "failed"]);
    let err = mock
        .client()
        .wait_for_export("exp_2")
        .send()
        .await
        .unwrap_err();
    match &err {
        Error::JobFailed { job, status } => {
            assert_eq!((job.as_str(), status.as_str()), ("export exp_2", "failed"))
        }
        other => panic!("expected JobFailed, got {other:?}"),
    }
    assert_eq!(mock.hits("get_export"), 2);
}

#[tokio::test(start_paused = true)]
async fn a_completed_export_ends_the_wait() {
    // `completed` is in the fixtures (a finished export with its download
    // URL); Python's wait ignores it and would poll until its timeout.
    let mock = MockServer::start().await;
    mock.jobs()
        .export_statuses("exp_c", ["processing", "completed", "exported"]);
    let export = mock
        .client()
        .wait_for_export("exp_c")
        .poll_interval(STEP)
        .send()
        .await
        .unwrap();
    assert_eq!(export.status, Some(ExportStatus::Completed));
    assert_eq!(mock.hits("get_export"), 2);
}

#[tokio::test(start_paused = true)]
async fn export_wait_times_out_at_the_deadline_with_the_last_status() {
    let mock = MockServer::start().await;
    mock.jobs().export_statuses("exp_3", ["pending"]);
    let timeout = Duration::from_millis(1200);
    let started = Instant::now();
    let err = mock
        .client()
        .wait_for_export("exp_3")
        .poll_interval(STEP)
        .timeout(timeout)
        .send()
        .await
        .unwrap_err();
    match &err {
        Error::WaitTimeout {
            waited,
            last_status,
        } => {
            assert_eq!(*waited, timeout);
            assert_eq!(last_status.as_deref(), Some("pending"));
        }
        other => panic!("expected WaitTimeout, got {other:?}"),
    }
    assert_eq!(started.elapsed(), timeout);
    // Polls at 0, 0.5, 1.0 and at the deadline (1.2).
    assert_eq!(mock.hits("get_export"), 4);
    assert!(err.to_string().contains("pending"), "{err}");
}

#[tokio::test(start_paused = true)]
async fn a_hanging_poll_still_ends_one_interval_past_the_timeout() {
    let mock = MockServer::start().await;
    mock.fault("get_export", Fault::delay(Duration::from_secs(20)));
    let timeout = Duration::from_millis(600);
    let started = Instant::now();
    let err = mock
        .client_builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
        .wait_for_export("exp_4")
        .poll_interval(STEP)
        .timeout(timeout)
        .send()
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::WaitTimeout {
                last_status: None,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(started.elapsed(), timeout + STEP);
}

#[tokio::test(start_paused = true)]
async fn a_zero_timeout_polls_once() {
    let mock = MockServer::start().await;
    mock.jobs()
        .export_statuses("exp_5", ["processing", "exported"]);
    let err = mock
        .client()
        .wait_for_export("exp_5")
        .timeout(Duration::ZERO)
        .send()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::WaitTimeout { .. }), "{err:?}");
    assert_eq!(mock.hits("get_export"), 1);
}

#[tokio::test(start_paused = true)]
async fn intervals_below_the_minimum_are_raised_to_it() {
    let mock = MockServer::start().await;
    mock.jobs()
        .export_statuses("exp_6", ["pending", "exported"]);
    let started = Instant::now();
    mock.client()
        .wait_for_export("exp_6")
        .poll_interval(Duration::from_millis(1))
        .send()
        .await
        .unwrap();
    assert_eq!(started.elapsed(), STEP);
}

#[tokio::test(start_paused = true)]
async fn transient_errors_are_retried_by_the_client() {
    let mock = MockServer::start().await;
    mock.fault("get_export", Fault::status(503).header("Retry-After", "0"))
        .times(1);
    mock.jobs().export_statuses("exp_7", ["exported"]);
    let export = mock.client().wait_for_export("exp_7").send().await.unwrap();
    assert_eq!(export.status, Some(ExportStatus::Exported));
    assert_eq!(mock.hits("get_export"), 2);
}

#[tokio::test(start_paused = true)]
async fn a_lasting_error_ends_the_wait() {
    let mock = MockServer::start().await;
    mock.fault("get_export", Fault::status(404));
    let err = mock
        .client()
        .wait_for_export("gone")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(404), "{err:?}");
    assert_eq!(mock.hits("get_export"), 1);
}

#[tokio::test(start_paused = true)]
async fn dataset_wait_defaults_to_created() {
    let mock = MockServer::start().await;
    mock.jobs()
        .dataset_statuses("ds_1", ["creating", "created"]);
    let started = Instant::now();
    let dataset = mock.client().wait_for_dataset("ds_1").send().await.unwrap();
    assert_eq!(dataset.uid, "ds_1");
    assert_eq!(dataset.status, Some(DatasetStatus::Created));
    assert_eq!(mock.hits("get_dataset"), 2);
    // The default interval of §10.2.
    assert_eq!(started.elapsed(), Duration::from_secs(10));
}

#[tokio::test(start_paused = true)]
async fn dataset_wait_does_not_stop_early_on_another_status() {
    let mock = MockServer::start().await;
    // The target is a status this SDK does not know; `created` comes first
    // and must not end the wait.
    mock.jobs().dataset_statuses("ds_2", ["created", "indexed"]);
    let polled = Arc::new(Mutex::new(0));
    let count = polled.clone();
    let dataset = mock
        .client()
        .wait_for_dataset("ds_2")
        .status(DatasetStatus::Unknown("indexed".into()))
        .poll_interval(Duration::from_secs(1))
        .on_poll(move |_| *count.lock().unwrap() += 1)
        .send()
        .await
        .unwrap();
    assert_eq!(
        dataset.status,
        Some(DatasetStatus::Unknown("indexed".into()))
    );
    assert_eq!(*polled.lock().unwrap(), 1);
    assert_eq!(mock.hits("get_dataset"), 2);
}

#[tokio::test(start_paused = true)]
async fn dataset_wait_times_out_with_the_last_status() {
    let mock = MockServer::start().await;
    mock.jobs().dataset_statuses("ds_3", ["creating"]);
    let started = Instant::now();
    let err = mock
        .client()
        .wait_for_dataset("ds_3")
        .poll_interval(Duration::from_secs(1))
        .timeout(Duration::from_millis(1500))
        .send()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::WaitTimeout { last_status: Some(s), .. } if s == "creating"),
        "{err:?}"
    );
    assert_eq!(started.elapsed(), Duration::from_millis(1500));
    // Polls at 0, 1 and at the deadline (1.5).
    assert_eq!(mock.hits("get_dataset"), 3);
}

#[tokio::test(start_paused = true)]
async fn a_status_that_echoes_the_key_is_scrubbed_and_bounded_in_errors() {
    let mock = MockServer::start().await;
    // The distinctive key: only the key-specific scrub can remove it.
    let client = mock.client_builder().api_key(common::KEY).build().unwrap();
    let echo = format!("{}{}", common::KEY, "x".repeat(10_000));
    mock.jobs().export_statuses("exp_k", [echo.as_str()]);
    let err = client
        .wait_for_export("exp_k")
        .timeout(Duration::ZERO)
        .send()
        .await
        .unwrap_err();
    let Error::WaitTimeout {
        last_status: Some(status),
        ..
    } = &err
    else {
        panic!("{err:?}");
    };
    assert!(status.len() <= 128, "{} characters", status.len());
    common::assert_error_without_key(&err, common::KEY);
}

/// The builders' Debug shows what the wait will do (the interval as slept,
/// raised to its floor, the timeout, the target status) and nothing of the
/// client; the deprecated `interval` is the same setting as `poll_interval`.
#[tokio::test]
#[allow(deprecated)]
async fn the_builders_show_their_settings_and_interval_is_poll_interval() {
    let mock = MockServer::start().await;
    let client = mock.client();
    let export = client
        .wait_for_export("exp_d")
        .interval(Duration::from_secs(7))
        .timeout(Duration::from_secs(9));
    assert_eq!(
        format!("{export:?}"),
        r#"WaitForExport { uid: "exp_d", poll_interval: 7s, timeout: 9s, .. }"#
    );
    let dataset = client
        .wait_for_dataset("ds_d")
        .status(DatasetStatus::Creating)
        .interval(Duration::from_millis(1))
        .timeout(Duration::from_secs(4));
    assert_eq!(
        format!("{dataset:?}"),
        r#"WaitForDataset { uid: "ds_d", status: Creating, poll_interval: 1s, timeout: 4s, .. }"#
    );
}

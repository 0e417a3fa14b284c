//! The hand-written commands against the embedded mock: a resumable
//! dataset upload into the mock's storage, both Fleet recording uploads,
//! the waits, `exports create --wait`, `resolve --download`, `configure`
//! and `completions`.

mod common;

use std::time::{Duration, Instant};

use avala::mock::{PublicDataset, PublicObject, UploadMode};
use common::{assert_no_controls, avala, Mock, TempDir, HOSTILE, HOSTILE_SHOWN, KEY};
use sha2::{Digest, Sha256};

fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Writes `files` (path, bytes) below `dir`.
fn write_files(dir: &TempDir, files: &[(&str, Vec<u8>)]) {
    for (path, bytes) in files {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
}

/// A canonical lowercase UUID, as the mock's Fleet flows want.
const RECORDING: &str = "0f8fad5b-d9cb-469f-a165-70867728950e";

#[test]
fn fleet_recordings_upload_stores_every_file_waits_and_resumes() {
    let mock = Mock::start();
    let dir = TempDir::new();
    let state = TempDir::new();
    let files = [
        ("cam/front.mcap", (0..70_000u32).map(|i| i as u8).collect()),
        ("meta.json", b"{\"run\":42}".to_vec()),
    ];
    write_files(&dir, &files);
    // Ready at the first poll: the wait ends without a 10 s interval.
    mock.server.fleet().recording_statuses(RECORDING, ["ready"]);
    let args = [
        "fleet",
        "recordings",
        "upload",
        RECORDING,
        dir.str(),
        "--storage-config",
        "sc-1",
        "--workers",
        "2",
        "--state-dir",
        state.str(),
        "--wait",
        "--timeout",
        "30",
        "--output",
        "json",
    ];
    let run = mock.run(&args).expect(0);
    let status = run.json();
    assert_eq!(status["status"], "completed", "--wait waited: {status}");
    assert_eq!(status["total_files"], 2);
    assert_eq!(status["confirmed_files"], 2);
    let mut stored: Vec<(String, u64, String)> = mock
        .server
        .fleet()
        .objects()
        .into_iter()
        .filter(|o| o.recording_uid == RECORDING)
        .map(|o| (o.path, o.size, o.sha256))
        .collect();
    stored.sort();
    let expected: Vec<(String, u64, String)> = files
        .iter()
        .map(|(p, b)| ((*p).to_owned(), b.len() as u64, sha256(b)))
        .collect();
    assert_eq!(stored, expected, "the files are stored as they are");
    let init = mock.server.received_for("init_fleet_upload");
    assert_eq!(init.len(), 1);
    assert_eq!(
        init[0].json().unwrap()["storage_config_uid"],
        "sc-1",
        "--storage-config went into the init"
    );
    assert!(
        run.stderr
            .contains("uploading: 2/2 files, 70010/70010 bytes"),
        "{}",
        run.stderr
    );
    // The same command again sends nothing more.
    let sent = mock.server.storage().bytes_received();
    let puts = mock
        .server
        .fleet()
        .objects()
        .iter()
        .map(|o| o.puts)
        .sum::<u32>();
    let run = mock.run(&args).expect(0);
    assert_eq!(run.json()["status"], "completed");
    assert_eq!(mock.server.storage().bytes_received(), sent, "resumed");
    assert_eq!(
        mock.server
            .fleet()
            .objects()
            .iter()
            .map(|o| o.puts)
            .sum::<u32>(),
        puts
    );
}

#[test]
fn fleet_recordings_upload_that_fails_processing_exits_1() {
    let mock = Mock::start();
    let dir = TempDir::new();
    let state = TempDir::new();
    write_files(&dir, &[("a.bin", vec![7u8; 100])]);
    mock.server.fleet().recording_statuses(RECORDING, ["error"]);
    let run = mock
        .run(&[
            "fleet",
            "recordings",
            "upload",
            RECORDING,
            dir.str(),
            "--state-dir",
            state.str(),
            "--wait",
        ])
        .expect(1);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    let last = run.stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with(&format!(
            "error: recording {RECORDING} failed; last status: recording error"
        )),
        "{}",
        run.stderr
    );
}

#[test]
fn fleet_recordings_upload_managed_stores_the_mcap_and_publishes() {
    let mock = Mock::start();
    let dir = TempDir::new();
    let state = TempDir::new();
    let bytes: Vec<u8> = (0..5000u32).map(|i| (i * 7) as u8).collect();
    write_files(&dir, &[("run/a.mcap", bytes.clone())]);
    mock.server.fleet().managed_publication(1, None);
    let args = [
        "fleet",
        "recordings",
        "upload",
        RECORDING,
        dir.str(),
        "--managed",
        "--workers",
        "1",
        "--state-dir",
        state.str(),
        "--wait",
        "--timeout",
        "30",
        "--output",
        "json",
    ];
    let run = mock.run(&args).expect(0);
    let status = run.json();
    assert_eq!(status["recording_uid"], RECORDING);
    assert_eq!(status["finalization"]["state"], "succeeded", "{status}");
    let objects: Vec<(String, u64)> = mock
        .server
        .fleet()
        .managed_objects()
        .into_iter()
        .map(|o| {
            if let Some(sha) = &o.sha256 {
                assert_eq!(*sha, sha256(&bytes));
            }
            (o.path, o.size)
        })
        .collect();
    assert_eq!(objects, vec![("run/a.mcap".to_owned(), 5000)]);
    assert_eq!(mock.server.hits("finalize_fleet_managed_upload"), 1);
    // Again: nothing more is sent.
    let sent = mock.server.storage().bytes_received();
    mock.run(&args).expect(0);
    assert_eq!(mock.server.storage().bytes_received(), sent, "resumed");

    // Out of the protocol's range: usage errors, before any upload.
    let other = TempDir::new();
    mock.run(&[
        "fleet",
        "recordings",
        "upload",
        RECORDING,
        dir.str(),
        "--managed",
        "--workers",
        "5",
        "--state-dir",
        other.str(),
    ])
    .expect(2);
    mock.run(&[
        "fleet",
        "recordings",
        "upload",
        RECORDING,
        dir.str(),
        "--managed",
        "--wait",
        "--timeout",
        "3601",
        "--state-dir",
        other.str(),
    ])
    .expect(2);
}

#[test]
fn fleet_recordings_upload_managed_failed_publication_exits_1_naming_the_code() {
    let mock = Mock::start();
    let dir = TempDir::new();
    let state = TempDir::new();
    write_files(&dir, &[("a.mcap", vec![3u8; 10])]);
    mock.server
        .fleet()
        .managed_publication(1, Some("invalid_mcap"));
    let run = mock
        .run(&[
            "fleet",
            "recordings",
            "upload",
            RECORDING,
            dir.str(),
            "--managed",
            "--state-dir",
            state.str(),
            "--wait",
            "--timeout",
            "30",
            "--output",
            "json",
        ])
        .expect(1);
    assert!(run.stdout.is_empty(), "nothing misleading: {}", run.stdout);
    // Progress lines, then one error line.
    let line = run.stderr.trim().lines().last().unwrap_or_default();
    assert!(
        run.stderr
            .trim()
            .lines()
            .all(|l| l == line || l.starts_with("uploading: ")),
        "{}",
        run.stderr
    );
    assert!(
        line.starts_with("error: the managed publication of recording")
            && line.contains("failed (invalid_mcap)"),
        "{line}"
    );
}

#[test]
fn fleet_recordings_upload_managed_wait_that_gives_up_exits_8() {
    let mock = Mock::start();
    let dir = TempDir::new();
    let state = TempDir::new();
    write_files(&dir, &[("a.mcap", vec![3u8; 10])]);
    mock.server.fleet().managed_publication(10_000, None);
    let started = Instant::now();
    let run = mock
        .run(&[
            "fleet",
            "recordings",
            "upload",
            RECORDING,
            dir.str(),
            "--managed",
            "--state-dir",
            state.str(),
            "--wait",
            "--timeout",
            "1",
        ])
        .expect(8);
    assert!(started.elapsed() < Duration::from_secs(15));
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    let last = run.stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("error: gave up waiting after 1") && last.contains("last status: running"),
        "{}",
        run.stderr
    );
}

#[test]
fn fleet_recordings_upload_refuses_a_storage_config_with_managed() {
    let mock = Mock::start();
    let dir = TempDir::new();
    write_files(&dir, &[("a.mcap", vec![3u8; 10])]);
    let run = mock
        .run(&[
            "fleet",
            "recordings",
            "upload",
            RECORDING,
            dir.str(),
            "--managed",
            "--storage-config",
            "x",
        ])
        .expect(2);
    assert!(run.stderr.contains("--storage-config"), "{}", run.stderr);
    assert_eq!(mock.server.received().len(), 0, "nothing was sent");
}

#[test]
fn datasets_upload_sends_every_file_to_storage_creates_and_waits() {
    let mock = Mock::start();
    mock.server.uploads().mode(UploadMode::Put);
    let dir = TempDir::new();
    let state = TempDir::new();
    let files = [("a.jpg", vec![1u8; 1000]), ("sub/b.jpg", vec![2u8; 70_000])];
    for (path, bytes) in &files {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
    let args = [
        "--data-type",
        "image",
        "--state-dir",
        state.str(),
        "--wait",
        "--timeout",
        "10",
        "--output",
        "json",
    ];
    let run = upload_frames(&mock, &dir, &args).expect(0);
    let dataset = run.json();
    assert_eq!(dataset["name"], "Frames");
    assert_eq!(dataset["status"], "created", "--wait waited");
    let mut stored: Vec<(String, u64)> = mock
        .server
        .uploads()
        .objects()
        .into_iter()
        .filter(|o| o.dataset_name == "Frames")
        .map(|o| (o.path, o.size))
        .collect();
    stored.sort();
    assert_eq!(
        stored,
        vec![("a.jpg".into(), 1000), ("sub/b.jpg".into(), 70_000)]
    );
    // Not a terminal: progress is plain lines on stderr, ending at all bytes.
    assert!(
        run.stderr
            .contains("uploading: 2/2 files, 71000/71000 bytes"),
        "{}",
        run.stderr
    );
    // The same command again: the slug is taken now, which is found before
    // the first byte is sent.
    let sent = mock.server.storage().bytes_received();
    let presigns = mock.server.hits("create_manual_upload_url");
    let run = upload_frames(&mock, &dir, &args).expect(1);
    assert_eq!(
        mock.server.storage().bytes_received(),
        sent,
        "bytes were sent"
    );
    assert_eq!(mock.server.hits("create_manual_upload_url"), presigns);
    assert_eq!(mock.server.hits("create_dataset_from_manual_upload"), 1);
    assert_eq!(
        run.stderr.lines().last().map(|l| l.starts_with("error: ")),
        Some(true)
    );
    assert!(
        run.stderr.contains("`frames`") && run.stderr.contains("--slug"),
        "{}",
        run.stderr
    );
}

/// `datasets upload` of one file into a storage that refuses it with a 403
/// and `body`: exit 1.
fn upload_refused_by_storage(mock: &Mock, body: String) -> common::Run {
    mock.server.uploads().mode(UploadMode::Put);
    mock.server
        .storage()
        .fault(
            avala::mock::StorageRoute::Put,
            avala::mock::Fault::status(403).body(body),
        )
        .always();
    let dir = TempDir::new();
    let state = TempDir::new();
    write_files(&dir, &[("a.jpg", vec![1u8; 10])]);
    let args = [
        "datasets",
        "upload",
        dir.str(),
        "--name",
        "Refused",
        "--slug",
        "refused",
    ];
    let run = mock.run(
        &[
            &args[..],
            &["--data-type", "image", "--state-dir", state.str()],
        ]
        .concat(),
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    run
}

/// A huge error body (here the storage's) makes a short error line.
#[test]
fn a_huge_error_body_makes_a_short_error_line() {
    let mock = Mock::start();
    let run = upload_refused_by_storage(&mock, "<Error>".repeat(8000));
    let line = run.stderr.lines().last().unwrap_or_default();
    assert!(
        line.starts_with("error: upload failed: storage refused"),
        "{line}"
    );
    assert!(
        line.chars().count() <= 2200,
        "{} characters",
        line.chars().count()
    );
    assert!(
        line.ends_with("; see the message above"),
        "the hint stays: {line}"
    );
}

/// Text from the storage service and the API in progress and error lines
/// is shown with its control characters escaped.
#[test]
fn server_text_in_progress_and_errors_is_escaped() {
    let mock = Mock::start();
    let run = upload_refused_by_storage(&mock, HOSTILE.to_owned());
    assert_no_controls(&run.stderr, "the upload's stderr");
    assert!(
        run.stderr.contains("evil\\u001b]0;pwned\\u0007"),
        "{}",
        run.stderr
    );

    // A status line of a wait.
    let status = format!("{HOSTILE}creating");
    mock.server
        .jobs()
        .dataset_statuses("ds_9", [status.as_str(), "created"]);
    let run = mock
        .run(&["datasets", "wait", "ds_9", "--interval", "1"])
        .expect(0);
    assert_no_controls(&run.stderr, "the status lines");
    assert!(run.stderr.contains(HOSTILE_SHOWN), "{}", run.stderr);
}

#[cfg(unix)]
#[test]
fn datasets_upload_names_the_links_and_special_files_it_leaves_out() {
    let mock = Mock::start();
    mock.server.uploads().mode(UploadMode::Put);
    let dir = TempDir::new();
    let outside = TempDir::new();
    let state = TempDir::new();
    write_files(&dir, &[("a.jpg", vec![1u8; 100])]);
    write_files(&outside, &[("secret.txt", b"do not send".to_vec())]);
    std::os::unix::fs::symlink(
        outside.path().join("secret.txt"),
        dir.path().join("link.jpg"),
    )
    .unwrap();
    let _socket = std::os::unix::net::UnixListener::bind(dir.path().join("agent.sock")).unwrap();
    let run = mock
        .run(&[
            "datasets",
            "upload",
            dir.str(),
            "--name",
            "Walked",
            "--slug",
            "walked",
            "--data-type",
            "image",
            "--state-dir",
            state.str(),
        ])
        .expect(0);
    assert!(
        run.stderr
            .contains("skipped \"link.jpg\": a symbolic link (not followed, not uploaded)"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("skipped \"agent.sock\": not a regular file (not uploaded)"),
        "{}",
        run.stderr
    );
    let stored: Vec<String> = mock
        .server
        .uploads()
        .objects()
        .into_iter()
        .map(|o| o.path)
        .collect();
    assert_eq!(stored, ["a.jpg"]);
}

#[test]
fn datasets_upload_of_a_missing_directory_fails_cleanly() {
    let mock = Mock::start();
    let run = mock.run(&[
        "datasets",
        "upload",
        "/nonexistent/avala-dir",
        "--name",
        "x",
        "--slug",
        "x",
        "--data-type",
        "image",
    ]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.starts_with("error: upload failed"),
        "{}",
        run.stderr
    );
}

#[test]
fn exports_wait_polls_until_exported_and_times_out_with_8() {
    let mock = Mock::start();
    mock.server
        .jobs()
        .export_statuses("exp_1", ["pending", "exported"]);
    let run = mock
        .run(&[
            "exports",
            "wait",
            "exp_1",
            "--interval",
            "1",
            "--output",
            "json",
        ])
        .expect(0);
    assert_eq!(run.json()["status"], "exported");
    assert_eq!(mock.server.hits("get_export"), 2);
    assert!(
        run.stderr.contains("export exp_1: pending"),
        "{}",
        run.stderr
    );

    mock.server.jobs().export_statuses("exp_2", ["pending"]);
    let started = Instant::now();
    let run = mock
        .run(&[
            "exports",
            "wait",
            "exp_2",
            "--interval",
            "1",
            "--timeout",
            "1",
        ])
        .expect(8);
    assert!(started.elapsed() < Duration::from_secs(10));
    let last = run.stderr.lines().last().unwrap_or_default();
    assert!(last.starts_with("error: gave up waiting"), "{}", run.stderr);
}

#[test]
fn exports_wait_on_a_failed_export_exits_1() {
    let mock = Mock::start();
    mock.server
        .jobs()
        .export_statuses("exp_f", ["processing", "failed"]);
    let run = mock
        .run(&["exports", "wait", "exp_f", "--poll-interval", "1"])
        .expect(1);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    let last = run.stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("error: export exp_f failed; last status: failed"),
        "{}",
        run.stderr
    );
    assert_eq!(mock.server.hits("get_export"), 2);
}

#[test]
fn exports_create_wait_creates_then_waits() {
    let mock = Mock::start();
    // The uid of the document's example answer to create_export.
    let created = mock
        .run(&["exports", "create", "--dataset", "ds_1", "--output", "json"])
        .expect(0)
        .json();
    let uid = created["uid"].as_str().expect("an export uid").to_owned();
    mock.server
        .jobs()
        .export_statuses(&uid, ["processing", "exported"]);
    let run = mock
        .run(&[
            "exports",
            "create",
            "--dataset",
            "ds_1",
            "--wait",
            "--interval",
            "1",
            "--output",
            "json",
        ])
        .expect(0);
    assert_eq!(run.json()["status"], "exported");
    assert_eq!(mock.server.hits("create_export"), 2);
    let sent = mock.server.received_for("create_export");
    assert_eq!(
        sent[1].json().unwrap()["dataset"],
        "ds_1",
        "the field flag went into the body"
    );
}

#[test]
fn datasets_wait_waits_for_the_status() {
    let mock = Mock::start();
    mock.server
        .jobs()
        .dataset_statuses("ds_9", ["creating", "created"]);
    let run = mock
        .run(&[
            "datasets",
            "wait",
            "ds_9",
            "--interval",
            "1",
            "--output",
            "json",
        ])
        .expect(0);
    assert_eq!(run.json()["status"], "created");
    assert_eq!(mock.server.hits("get_dataset"), 2);
}

#[test]
fn resolve_downloads_every_object_verified() {
    let mock = Mock::start();
    let published = mock.server.resolver().publish(
        PublicDataset::new("acme", "lidar")
            .object(PublicObject::new(
                "episode",
                0,
                "episodes/0.json",
                &b"{\"n\":2}"[..],
            ))
            .object(PublicObject::new("frame", 0, "frames/0.bin", vec![1u8; 5000]).episode(0))
            .page_size(1),
    );
    let out = TempDir::new();
    // Anonymous: no key needed.
    let run = mock
        .run_with(
            &[
                "resolve",
                "acme/lidar",
                "--download",
                out.str(),
                "--output",
                "json",
            ],
            &[],
            None,
        )
        .expect(0);
    let summary = run.json();
    assert_eq!(
        summary["canonical_reference"],
        published.canonical_reference()
    );
    assert_eq!(summary["downloaded_files"], 2);
    assert_eq!(
        std::fs::read(out.path().join("frames/0.bin")).unwrap(),
        vec![1u8; 5000]
    );
    assert_eq!(
        std::fs::read(out.path().join("episodes/0.json")).unwrap(),
        b"{\"n\":2}"
    );
    // A malformed reference is a usage error.
    mock.run(&["resolve", "not a reference"]).expect(2);
}

#[test]
fn resolve_revision_pins_the_revision_apart_from_the_reference() {
    let mock = Mock::start();
    let published = mock.server.resolver().publish(
        PublicDataset::new("acme", "lidar")
            .alias("stable")
            .object(PublicObject::new("frame", 0, "frames/0.bin", vec![1u8; 10])),
    );
    let digest = published.revision_sha256.as_str();
    let resolve = |args: &[&str]| {
        let mut all = vec!["resolve"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--output", "json"]);
        mock.run_with(&all, &[], None)
    };
    for revision in [digest, "stable"] {
        let run = resolve(&["acme/lidar", "--revision", revision]).expect(0);
        assert_eq!(run.json()["revision_sha256"], digest);
        let asked = mock.server.received().last().unwrap().path.clone();
        assert!(
            asked.ends_with(&format!("acme/lidar@{revision}/")),
            "{asked}"
        );
    }

    // Refused by the SDK's check, before any request: a usage error.
    let sent = mock.server.received().len();
    let canonical = published.canonical_reference();
    let refused = [
        (
            vec!["acme/lidar", "--revision", "Not A Revision"],
            "is not a revision",
        ),
        (
            vec!["acme/lidar", "--revision", &digest[..63]],
            "is not a revision",
        ),
        (vec!["acme/lidar@main", "--revision", digest], "give one"),
        (
            vec![canonical.as_str(), "--revision", "stable"],
            "pins its revision already",
        ),
    ];
    for (args, says) in refused {
        let run = resolve(&args).expect(2);
        assert!(run.stderr.contains(says), "{args:?}: {}", run.stderr);
    }
    assert_eq!(mock.server.received().len(), sent, "nothing was sent");
}

/// `n` objects `blobs/NNN.bin` of distinct bytes, published as `acme/<name>`.
fn publish_blobs(mock: &Mock, name: &str, n: u64) -> avala::mock::Published {
    let dataset = (0..n).fold(PublicDataset::new("acme", name), |d, i| {
        let bytes: Vec<u8> = (0..2000 + i * 31).map(|j| (j * 3 + i * 11) as u8).collect();
        d.object(PublicObject::new(
            "blob",
            i,
            &format!("blobs/{i:03}.bin"),
            bytes,
        ))
    });
    mock.server.resolver().publish(dataset)
}

/// `avala resolve acme/<name> --download <dir> [extra…] --output json`.
fn resolve_download(mock: &Mock, name: &str, dir: &TempDir, extra: &[&str]) -> common::Run {
    let reference = format!("acme/{name}");
    let mut args = vec!["resolve", &reference, "--download", dir.str()];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["--output", "json"]);
    mock.run_with(&args, &[], None)
}

/// How many of `published`'s objects are below `dir`, each checked.
fn verified_files(dir: &TempDir, published: &avala::mock::Published) -> u64 {
    let mut present = 0;
    for o in &published.objects {
        if let Ok(bytes) = std::fs::read(dir.path().join(&o.logical_path)) {
            assert_eq!(bytes, o.bytes, "{}", o.logical_path);
            present += 1;
        }
    }
    present
}

const DOWNLOADS: &str = avala::mock::DOWNLOAD_OPERATION;

#[test]
fn resolve_download_never_replaces_a_user_file_without_overwrite() {
    let mock = Mock::start();
    mock.server.resolver().publish(
        PublicDataset::new("acme", "dotenv")
            .object(PublicObject::new("config", 0, ".env", &b"PLANTED=1\n"[..]))
            .object(PublicObject::new(
                "frame",
                0,
                "frames/0.bin",
                vec![1u8; 3000],
            )),
    );
    let out = TempDir::new();
    let secret = b"AVALA_API_KEY=the-user-s-own\n";
    std::fs::write(out.path().join(".env"), secret).unwrap();

    let run = resolve_download(&mock, "dotenv", &out, &[]).expect(1);
    let last = run.stderr.lines().last().unwrap_or_default();
    assert!(
        last.contains(&format!("{}", out.path().join(".env").display()))
            && last.contains("--overwrite"),
        "names the file and the way out: {}",
        run.stderr
    );
    assert_eq!(std::fs::read(out.path().join(".env")).unwrap(), secret);
    assert!(!out.path().join("frames").exists(), "nothing fetched");
    assert_eq!(mock.server.hits(DOWNLOADS), 0);

    let run = resolve_download(&mock, "dotenv", &out, &["--overwrite"]).expect(0);
    assert_eq!(run.json()["downloaded_files"], 2);
    assert_eq!(
        std::fs::read(out.path().join(".env")).unwrap(),
        b"PLANTED=1\n"
    );
}

#[test]
fn resolve_download_resumes_with_only_the_missing_objects() {
    let mock = Mock::start();
    let published = publish_blobs(&mock, "resume", 30);
    mock.server
        .resolver()
        .object_download_fault(
            &published.objects[12].object_uid,
            avala::mock::Fault::status(503),
        )
        .times(1);
    let out = TempDir::new();
    let run = resolve_download(&mock, "resume", &out, &["--workers", "4"]).expect(1);
    assert!(run.stderr.contains("503"), "{}", run.stderr);
    let present = verified_files(&out, &published);
    assert!(present < 30);

    let before = mock.server.hits(DOWNLOADS) as u64;
    let summary = resolve_download(&mock, "resume", &out, &["--workers", "4"])
        .expect(0)
        .json();
    assert_eq!(summary["kept_files"], present);
    assert_eq!(summary["downloaded_files"], 30 - present);
    assert_eq!(mock.server.hits(DOWNLOADS) as u64 - before, 30 - present);
    assert_eq!(verified_files(&out, &published), 30);

    // Complete: a third run fetches nothing.
    let before = mock.server.hits(DOWNLOADS);
    let summary = resolve_download(&mock, "resume", &out, &[])
        .expect(0)
        .json();
    assert_eq!(summary["kept_files"], 30);
    assert_eq!(summary["downloaded_files"], 0);
    assert_eq!(mock.server.hits(DOWNLOADS), before);
}

#[cfg(unix)]
#[test]
fn resolve_download_refuses_a_symlinked_directory() {
    let mock = Mock::start();
    publish_blobs(&mock, "links", 3);
    let out = TempDir::new();
    let outside = TempDir::new();
    std::fs::write(outside.path().join("000.bin"), b"precious").unwrap();
    std::os::unix::fs::symlink(outside.path(), out.path().join("blobs")).unwrap();

    let run = resolve_download(&mock, "links", &out, &["--overwrite"]).expect(1);
    assert!(run.stderr.contains("symbolic link"), "{}", run.stderr);
    assert_eq!(
        std::fs::read(outside.path().join("000.bin")).unwrap(),
        b"precious"
    );
    assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 1);
    assert_eq!(mock.server.hits(DOWNLOADS), 0);
}

#[test]
fn resolve_download_refuses_paths_that_collide() {
    let mock = Mock::start();
    mock.server.resolver().publish(
        PublicDataset::new("acme", "case")
            .object(PublicObject::new("frame", 0, "Frames/a.bin", &b"one"[..]))
            .object(PublicObject::new("frame", 1, "frames/A.bin", &b"two"[..])),
    );
    let out = TempDir::new();
    let run = resolve_download(&mock, "case", &out, &[]).expect(1);
    assert!(run.stderr.contains("case-insensitive"), "{}", run.stderr);
    assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 0);
    assert_eq!(mock.server.hits("create_resolver_object_access"), 0);
    assert_eq!(mock.server.hits(DOWNLOADS), 0);
}

#[test]
fn resolve_download_workers_are_checked_and_run_in_parallel() {
    let mock = Mock::start();
    let published = publish_blobs(&mock, "parallel", 12);
    let out = TempDir::new();
    for bad in ["0", "65"] {
        let run = resolve_download(&mock, "parallel", &out, &["--workers", bad]).expect(2);
        assert!(
            run.stderr.contains("workers must be 1 to 64"),
            "{}",
            run.stderr
        );
    }
    assert_eq!(mock.server.hits(DOWNLOADS), 0);
    // Held until 4 downloads are in flight at once.
    mock.server.resolver().hold_downloads(4);
    resolve_download(&mock, "parallel", &out, &["--workers", "4"]).expect(0);
    assert_eq!(mock.server.resolver().peak_downloads_in_flight(), 4);
    assert_eq!(verified_files(&out, &published), 12);
}

#[test]
fn configure_checks_the_key_and_never_prints_it() {
    let mock = Mock::start();
    let run = mock.run(&["configure", "--output", "table"]).expect(0);
    assert!(run.stdout.contains("The key is valid"), "{}", run.stdout);
    assert!(
        run.stdout.contains("export AVALA_API_KEY=<your-api-key>"),
        "{}",
        run.stdout
    );
    // From stdin (no key in the environment), as JSON.
    let run = mock
        .run_with(
            &["configure", "--output", "json"],
            &[],
            Some(&format!("{KEY}\n")),
        )
        .expect(0);
    assert_eq!(run.json()["valid"], true);
    assert_eq!(mock.server.hits("get_current_user"), 2);
    // A refused key: exit 4.
    mock.server
        .fault(
            "get_current_user",
            avala::mock::Fault::status(401).json(serde_json::json!({"detail": "Invalid key"})),
        )
        .times(1);
    mock.run(&["configure"]).expect(4);
    // No key at all.
    mock.run_with(&["configure"], &[], Some("\n")).expect(2);
}

#[test]
fn completions_are_generated_for_the_shells() {
    for shell in ["bash", "zsh", "fish"] {
        let run = avala(&["completions", shell], &[], None).expect(0);
        assert!(
            run.stdout.contains("datasets") && run.stdout.contains("upload"),
            "{shell}"
        );
        // The hidden, refusing `signup signup-user` is not offered; its
        // replacement is.
        assert!(run.stdout.contains("key-file"), "{shell}");
        assert!(!run.stdout.contains("signup-user"), "{shell}");
    }
    avala(&["completions", "tcsh"], &[], None).expect(2);
}

#[test]
fn get_frame_and_get_calibration_print_the_typed_values() {
    let mock = Mock::start();
    let sequence = serde_json::json!({
        "uid": "55555555-5555-5555-5555-555555555555",
        "frames": [
            {"key": "frame-0.json", "model": "pinhole",
             "images": [{"camera": "cam_01", "fx": 824.74, "width": 1920}]},
            {"key": "frame-1.json", "device_position": {"x": 4.0, "y": 5.0, "z": 6.0}}
        ]
    });
    mock.server
        .respond("get_dataset_sequence", sequence)
        .always();

    let frame = mock
        .run(&[
            "datasets",
            "get-frame",
            "acme",
            "lidar",
            "seq-1",
            "1",
            "--output",
            "json",
        ])
        .expect(0)
        .json();
    assert_eq!(frame["frame_index"], 1);
    assert_eq!(frame["key"], "frame-1.json");
    assert_eq!(frame["device_position"]["z"], 6.0);
    let sent = mock.server.received_for("get_dataset_sequence");
    assert_eq!(sent[0].path, "/api/v1/datasets/acme/lidar/sequences/seq-1/");

    let rig = mock
        .run(&[
            "datasets",
            "get-calibration",
            "acme",
            "lidar",
            "seq-1",
            "-o",
            "json",
        ])
        .expect(0)
        .json();
    assert_eq!(rig["sequence_uid"], "55555555-5555-5555-5555-555555555555");
    assert_eq!(rig["cameras"][0]["camera_id"], "cam_01");
    assert_eq!(rig["cameras"][0]["model"], "pinhole");

    // Past the last frame: a usage error (exit 2), one line.
    let run = mock
        .run(&["datasets", "get-frame", "acme", "lidar", "seq-1", "2"])
        .expect(2);
    assert!(run.stderr.contains("frame"), "{}", run.stderr);
    // Not a number: clap refuses it before any request.
    let before = mock.server.hits("get_dataset_sequence");
    mock.run(&["datasets", "get-frame", "acme", "lidar", "seq-1", "x"])
        .expect(2);
    assert_eq!(mock.server.hits("get_dataset_sequence"), before);
}

#[test]
fn import_cloud_sends_the_bucket_and_keeps_the_credentials_out_of_the_output() {
    let mock = Mock::start();
    let secret = "Corp-Secret-5b7e-Quokka-91";
    let env = [
        ("AVALA_API_KEY", KEY),
        ("AWS_ACCESS_KEY_ID", "corp-key-id-7781"),
        ("AWS_SECRET_ACCESS_KEY", secret),
        ("AWS_REGION", "us-west-2"),
    ];
    let args = [
        "import",
        "cloud",
        "s3://acme/frames/",
        "--name",
        "Frames",
        "--slug",
        "frames",
        "--data-type",
        "image",
        "--include-extensions",
        "jpg, png",
        "-o",
        "json",
    ];
    mock.run_with(&args, &env, None).expect(0);
    let sent = mock.server.received_for("create_dataset");
    let body: serde_json::Value = serde_json::from_slice(&sent[0].body).unwrap();
    let p = &body["provider_config"];
    assert_eq!(p["s3_bucket_name"], "acme");
    assert_eq!(p["s3_bucket_prefix"], "frames/");
    assert_eq!(p["s3_bucket_region"], "us-west-2");
    assert_eq!(p["s3_access_key_id"], "corp-key-id-7781");
    assert_eq!(p["s3_secret_access_key"], secret);
    assert_eq!(p["included_extensions"], "jpg,png");

    // A server that echoes the secret: the error line does not show it.
    mock.server
        .fault(
            "create_dataset",
            avala::mock::Fault::status(400)
                .json(serde_json::json!({"detail": format!("refused {secret}")})),
        )
        .always();
    let run = mock.run_with(&args, &env, None);
    assert_ne!(run.code, 0);
    assert!(run.stderr.contains("refused"), "{}", run.stderr);
    assert!(
        !run.stderr.contains(secret) && !run.stdout.contains(secret),
        "{}",
        run.stderr
    );

    // Two kinds of credentials: a usage error before any request.
    let before = mock.server.hits("create_dataset");
    let mut two = args.to_vec();
    two.extend(["--role-arn", "arn:aws:iam::1:role/r"]);
    let run = mock.run_with(&two, &env, None).expect(2);
    assert!(
        run.stderr.contains("one kind of credentials"),
        "{}",
        run.stderr
    );
    assert_eq!(mock.server.hits("create_dataset"), before);
}

#[test]
fn import_cloud_reads_a_gcs_key_file_and_never_quotes_a_bad_value() {
    let mock = Mock::start();
    let dir = TempDir::new();
    let key_file = dir.path().join("sa.json");
    std::fs::write(
        &key_file,
        "{\"type\":\"service_account\",\"private_key\":\"pk-1234567890\"}",
    )
    .unwrap();
    let key_path = key_file.to_str().unwrap();
    let base = [
        "import",
        "cloud",
        "gs://bkt/clips",
        "--name",
        "C",
        "--slug",
        "c",
        "--data-type",
        "video",
    ];
    let mut args = base.to_vec();
    args.extend(["--gcs-auth-json", key_path]);
    mock.run(&args).expect(0);
    let body: serde_json::Value =
        serde_json::from_slice(&mock.server.received_for("create_dataset")[0].body).unwrap();
    assert_eq!(
        body["provider_config"]["gc_storage_auth_json_content"],
        "{\"type\":\"service_account\",\"private_key\":\"pk-1234567890\"}"
    );

    let mut args = base.to_vec();
    args.extend(["--gcs-auth-json", "not-json-and-not-a-file-S3CRET"]);
    let run = mock.run(&args).expect(2);
    assert!(run.stderr.contains("--gcs-auth-json"), "{}", run.stderr);
    assert!(!run.stderr.contains("S3CRET"), "{}", run.stderr);
}

#[test]
fn fleet_recordings_upload_takes_the_python_cli_flags() {
    let mock = Mock::start();
    let dir = TempDir::new();
    let state = TempDir::new();
    write_files(&dir, &[("meta.json", b"{\"run\":7}".to_vec())]);
    let flags = [
        "fleet",
        "recordings",
        "upload",
        "--source",
        dir.str(),
        "--recording",
        RECORDING,
        "--storage-config",
        "sc-1",
        "--state-dir",
        state.str(),
        "-o",
        "json",
    ];
    mock.run(&flags).expect(0);
    let stored: Vec<(String, String)> = mock
        .server
        .fleet()
        .objects()
        .into_iter()
        .map(|o| (o.recording_uid, o.path))
        .collect();
    assert_eq!(stored, [(RECORDING.to_owned(), "meta.json".to_owned())]);

    // One spelling of each: both at once, or neither, is a usage error.
    let both = [
        "fleet",
        "recordings",
        "upload",
        RECORDING,
        dir.str(),
        "--source",
        dir.str(),
    ];
    mock.run(&both).expect(2);
    let neither = ["fleet", "recordings", "upload", "--recording", RECORDING];
    let run = mock.run(&neither).expect(2);
    assert!(run.stderr.contains("DIR"), "{}", run.stderr);
    assert_eq!(mock.server.received_for("init_fleet_upload").len(), 1);
}

/// `avala datasets upload DIR --name Frames --slug frames`, then `extra`.
fn upload_frames(mock: &Mock, dir: &TempDir, extra: &[&str]) -> common::Run {
    let args = [
        "datasets",
        "upload",
        dir.str(),
        "--name",
        "Frames",
        "--slug",
        "frames",
    ];
    mock.run(&[&args[..], extra].concat())
}

/// `datasets upload --dry-run` prints the SDK's plan: every file with its
/// size and whether it would be indexed, the skips and why, the detected
/// data type and the quota. It reads the quota and nothing else: no byte
/// to storage, no mutating call, no resume state.
#[cfg(unix)]
#[test]
fn datasets_upload_dry_run_prints_the_plan_and_sends_nothing() {
    let mock = Mock::start();
    mock.server.uploads().quota(1_000_000, 400);
    let dir = TempDir::new();
    let outside = TempDir::new();
    let state = TempDir::new();
    let state_dir = state.path().join("never");
    write_files(
        &dir,
        &[
            ("a.jpg", vec![1u8; 100]),
            ("sub/b.PNG", vec![2u8; 50]),
            ("notes.txt", vec![3u8; 7]),
        ],
    );
    write_files(&outside, &[("secret.jpg", vec![4u8; 9])]);
    std::os::unix::fs::symlink(
        outside.path().join("secret.jpg"),
        dir.path().join("link.jpg"),
    )
    .unwrap();
    let _socket = std::os::unix::net::UnixListener::bind(dir.path().join("agent.sock")).unwrap();
    let extra = ["--dry-run", "--output", "json", "--state-dir"];
    let run = upload_frames(
        &mock,
        &dir,
        &[&extra[..], &[state_dir.to_str().unwrap()]].concat(),
    )
    .expect(0);
    let plan = run.json();
    assert_eq!(
        plan,
        serde_json::json!({
            "name": "Frames",
            "slug": "frames",
            "data_type": "image",
            "data_type_detected": true,
            "files": [
                {"path": "a.jpg", "size": 100, "indexed": true},
                {"path": "notes.txt", "size": 7, "indexed": false},
                {"path": "sub/b.PNG", "size": 50, "indexed": true},
            ],
            "total_bytes": 157,
            "skipped": [
                {"path": "agent.sock", "reason": "special_file"},
                {"path": "link.jpg", "reason": "symbolic_link"},
            ],
            "quota": {"needed": 157, "used": 400, "limit": 1_000_000, "within_limit": true},
        })
    );
    let calls: Vec<_> = mock
        .server
        .received()
        .into_iter()
        .map(|r| (r.method.to_string(), r.operation_id))
        .collect();
    assert_eq!(
        calls,
        [("GET".to_owned(), Some("get_manual_upload_quota".to_owned()))]
    );
    assert_eq!(mock.server.storage().bytes_received(), 0);
    assert!(!state_dir.exists(), "a dry run wrote a resume state");
}

/// A plan shown to a person: a table of the files, the skips and the quota,
/// and a file name's control characters escaped (never sent raw).
#[test]
fn datasets_upload_dry_run_table_escapes_file_names() {
    let mock = Mock::start();
    let dir = TempDir::new();
    let hostile = format!("{HOSTILE}.jpg");
    write_files(
        &dir,
        &[(hostile.as_str(), vec![1u8; 10]), ("a.jpg", vec![2u8; 5])],
    );
    let extra = ["--data-type", "image", "--dry-run", "--output", "table"];
    let run = upload_frames(&mock, &dir, &extra).expect(0);
    assert_no_controls(&run.stdout, "the plan's table");
    assert_no_controls(&run.stderr, "stderr");
    let shown = format!("{HOSTILE_SHOWN}.jpg");
    assert!(run.stdout.contains(&shown), "{}", run.stdout);
    for part in [
        "a.jpg",
        "(given)",
        "2 files, 15 bytes to send",
        "quota: needs 15 bytes",
    ] {
        assert!(
            run.stdout.contains(part),
            "`{part}` not in:\n{}",
            run.stdout
        );
    }
    assert_eq!(mock.server.storage().bytes_received(), 0);
    assert_eq!(mock.server.hits("create_manual_upload_url"), 0);
}

/// `--industry`, `--license` and `--no-create-metadata` reach the
/// finalisation as the Python SDK sends them; without `--data-type` the
/// type is told from the files.
#[test]
fn datasets_upload_sends_the_dataset_options() {
    let mock = Mock::start();
    mock.server.uploads().mode(UploadMode::Put);
    let dir = TempDir::new();
    let state = TempDir::new();
    write_files(&dir, &[("a.mp4", vec![1u8; 10]), ("b.mov", vec![2u8; 10])]);
    let options = ["--industry", "4", "--license", "2", "--no-create-metadata"];
    upload_frames(
        &mock,
        &dir,
        &[&options[..], &["--state-dir", state.str()]].concat(),
    )
    .expect(0);
    let made = mock.server.uploads().datasets();
    assert_eq!(made.len(), 1);
    let d = &made[0];
    assert_eq!(d.data_type.as_deref(), Some("video"));
    assert_eq!((d.industry, d.license), (Some(4), Some(2)));
    assert_eq!(d.create_metadata, Some(false));
    // An invalid id is refused by the command line, before any request.
    let run = upload_frames(&mock, &dir, &["--industry", "four"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert_eq!(mock.server.hits("create_dataset_from_manual_upload"), 1);
}

/// `--source DIR` (the Python CLI's flag) is the `DIR` positional.
#[test]
fn datasets_upload_takes_source_as_the_python_cli_spells_it() {
    let mock = Mock::start();
    let dir = TempDir::new();
    write_files(&dir, &[("a.jpg", vec![1; 10]), ("b.png", vec![2; 20])]);
    let plan = |first: &[&str]| {
        let rest = [
            "--name",
            "Frames",
            "--slug",
            "frames",
            "--dry-run",
            "-o",
            "json",
        ];
        mock.run(&[&["datasets", "upload"][..], first, &rest].concat())
            .expect(0)
            .json()
    };
    let positional = plan(&[dir.str()]);
    assert_eq!(
        positional["files"].as_array().map(Vec::len),
        Some(2),
        "{positional}"
    );
    assert_eq!(plan(&["--source", dir.str()]), positional);
    let run = mock
        .run(&["datasets", "upload", "--name", "F", "--slug", "f"])
        .expect(2);
    assert!(run.stderr.contains("DIR"), "{}", run.stderr);
}

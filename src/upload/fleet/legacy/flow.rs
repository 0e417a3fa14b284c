//! The legacy Fleet upload, step by step (§9.2, with the checks of §13.2
//! and the wait of §10.3): local checks, the session, the presigned PUTs,
//! the finalisation, the wait.

use std::{
    collections::{HashMap, HashSet},
    path::Path,
    time::Duration,
};

use futures::StreamExt;
use serde_json::json;

use super::{
    checks::{self, GrantRefusal, Manifest},
    receipt::{Receipt, Receipts, Session},
    RecordingUpload, MAX_WORKERS, PACE, PUT_TIMEOUTS,
};
use crate::upload::{
    api_key,
    fleet::{self, RecordingFile},
    inventory::{LocalFile, Source, Stamp},
    loopback_http,
    store::{self, Flow},
    totals::Totals,
    transfer::{DataPlane, Slice},
    ProgressEvent, UploadError,
};
use crate::{
    generated::open_enums::{FleetUploadSessionStatus as Status, RecordingStatus},
    types,
    wait::Verdict,
    Client, Error, Result,
};

/// The body of the 404 that proves a recording has no session (§9.2 step 1).
const NO_SESSION: &str = "No upload session found for this recording.";

/// Paths per `upload/urls/` request (§9.2 step 4).
const BATCH: usize = 100;

/// Lifetime asked for the presigned URLs.
const TTL_SECONDS: i64 = 3600;

/// The whole flow: local checks, then the protocol; the receipts are
/// written whatever the outcome.
pub(super) async fn upload(up: RecordingUpload) -> Result<types::UploadStatusResponse> {
    // 0. Arguments and the local inventory, before any request.
    let workers = crate::config::workers(up.workers, MAX_WORKERS)?;
    let recording = fleet::canonical_recording_uid(&up.recording_uid)?;
    let walked = fleet::walk(&up.source).await?;
    check_local(&up.source, &walked)?;
    let files = fleet::hash(walked).await?;
    let dir = match up
        .state_dir
        .clone()
        .or_else(|| store::default_dir(Flow::FleetLegacy))
    {
        Some(dir) => dir,
        None => {
            return Err(Error::InvalidArgument {
                message: "no data directory is known for the upload receipts: call .state_dir(..)"
                    .to_owned(),
            })
        }
    };
    let mut receipts = Receipts::open(&dir, up.client.base_url(), &recording, &files)?;
    let run = Run {
        plane: DataPlane::new(&up.client, up.knobs.timeouts(PUT_TIMEOUTS))?,
        key: api_key(&up.client).to_owned(),
        manifest: Manifest::new(files.iter().map(|f| (f.path.as_str(), f.stamp.size))),
        progress: Totals::new(
            files.len(),
            files.iter().map(|f| f.stamp.size).sum(),
            up.on_progress.clone(),
        ),
        recording: &recording,
        files: &files,
        workers,
        up: &up,
    };
    let result = run.protocol(&mut receipts).await;
    let kept = receipts.flush();
    let status = result?;
    kept?;
    match up.wait {
        Some(timeout) => run.wait(&status.session_uid, timeout).await,
        None => Ok(status),
    }
}

/// Step 0's limits on the walked files (symbolic links were refused by the
/// walk), before a byte is hashed.
fn check_local(source: &Path, files: &[LocalFile]) -> Result<()> {
    let rejected = |path: &Path, reason: String| -> Error {
        UploadError::Rejected {
            path: path.to_owned(),
            reason,
        }
        .into()
    };
    if files.is_empty() {
        return Err(rejected(
            source,
            "the directory holds no file to upload".to_owned(),
        ));
    }
    if files.len() > checks::MAX_FILES {
        return Err(rejected(
            source,
            format!(
                "it holds {} files; a recording has at most {}",
                files.len(),
                checks::MAX_FILES
            ),
        ));
    }
    for file in files {
        checks::local_path(&file.remote).map_err(|why| rejected(&file.local, why))?;
    }
    Ok(())
}

/// One run's shared context.
struct Run<'a> {
    up: &'a RecordingUpload,
    recording: &'a str,
    files: &'a [RecordingFile],
    workers: usize,
    manifest: Manifest<'a>,
    plane: DataPlane,
    /// The API key, only to scrub it from storage error bodies.
    key: String,
    progress: Totals,
}

impl Run<'_> {
    fn client(&self) -> &Client {
        &self.up.client
    }

    /// Steps 1–5.
    async fn protocol(&self, receipts: &mut Receipts) -> Result<types::UploadStatusResponse> {
        let (session, mut confirmed) = match receipts.session().cloned() {
            None => (self.open(receipts).await?, HashSet::new()),
            Some(session) => {
                if let Some((path, how)) = receipts.changed(self.files) {
                    return Err(self.mismatch(
                        receipts,
                        "local files",
                        format!("`{path}` {how} since the upload began, so it no longer matches the session's manifest"),
                        "restore the recording directory as it was",
                    ));
                }
                // 3. Resume: the server's status must agree with us.
                let status = match self.status().await {
                    Err(Error::NotFound(_)) => {
                        return Err(self.mismatch(
                            receipts,
                            "status",
                            format!(
                            "the server has no upload session, but the receipts name session {:?}",
                            session.uid
                        ),
                            START_OVER,
                        ))
                    }
                    other => other?,
                };
                let here: HashSet<&str> = receipts.confirmed().collect();
                let then = match status.status {
                    Status::Abandoned => START_OVER,
                    _ => RESUME_LATER,
                };
                let confirmed = checks::reconcile(&status, &session.uid, &self.manifest, &here)
                    .map_err(|why| self.mismatch(receipts, "status", why, then))?;
                (session, confirmed)
            }
        };
        for file in self
            .files
            .iter()
            .filter(|f| confirmed.contains(f.path.as_str()))
        {
            self.progress.finish(&file.path, file.stamp.size, 0, true);
        }

        // 4. What remains, 100 paths at a time.
        let remaining: Vec<&RecordingFile> = self
            .files
            .iter()
            .filter(|f| !confirmed.contains(f.path.as_str()))
            .collect();
        for batch in remaining.chunks(BATCH) {
            self.batch(receipts, &session, batch, &mut confirmed)
                .await?;
        }

        // 5. All confirmed, then finalise (unless already done).
        let status = self.status().await?;
        let here: HashSet<&str> = receipts.confirmed().collect();
        let server = checks::reconcile(&status, &session.uid, &self.manifest, &here)
            .map_err(|why| self.mismatch(receipts, "status before finalize", why, RESUME_LATER))?;
        if server.len() != self.files.len() {
            return Err(self.mismatch(
                receipts,
                "status before finalize",
                format!(
                    "{} files are still pending after all were confirmed",
                    self.files.len() - server.len()
                ),
                RESUME_LATER,
            ));
        }
        if matches!(status.status, Status::Completing | Status::Completed) {
            return Ok(status);
        }
        self.unchanged_all()?;
        let ack = self
            .client()
            .finalize_fleet_upload()
            .recording_uid(self.recording)
            .body(types::FinalizeFleetUploadRequest {
                session_uid: session.uid.clone(),
            })
            .send()
            .await?
            .into_inner();
        if ack.detail.is_none() || ack.session_uid.as_ref().is_some_and(|s| *s != session.uid) {
            return Err(self.mismatch(
                receipts,
                "finalize",
                "the acknowledgement lacks `detail` or names another session".to_owned(),
                RESUME_LATER,
            ));
        }
        let status = self.status().await?;
        checks::reconcile(&status, &session.uid, &self.manifest, &here)
            .map_err(|why| self.mismatch(receipts, "status after finalize", why, RESUME_LATER))?;
        if !matches!(status.status, Status::Completing | Status::Completed) {
            return Err(self.mismatch(
                receipts,
                "status after finalize",
                format!(
                    "the session is `{}`, not completing or completed",
                    status.status.as_str()
                ),
                RESUME_LATER,
            ));
        }
        Ok(status)
    }

    /// Steps 1–2: prove there is no session, then open one.
    async fn open(&self, receipts: &mut Receipts) -> Result<Session> {
        match self.status().await {
            Err(Error::NotFound(e)) if e.body == Some(json!({ "detail": NO_SESSION })) => {}
            Err(Error::NotFound(_)) => {
                return Err(self.mismatch(
                    receipts,
                    "status",
                    "the 404 does not carry the exact no-session body, so the absence of an earlier session is not established".to_owned(),
                    RESUME_LATER,
                ))
            }
            Err(e) => return Err(e),
            Ok(status) => {
                return Err(self.mismatch(
                    receipts,
                    "status",
                    format!(
                        "the server already has session {:?} ({}) for this recording, and no receipt here says it is ours",
                        status.session_uid,
                        status.status.as_str()
                    ),
                    "resume it from the machine that holds its receipts",
                ))
            }
        }
        // The manifest is on disk before init, so that a lost answer is known.
        receipts.flush()?;
        let request = types::InitFleetUploadRequest {
            files: self
                .files
                .iter()
                .map(|f| types::InitFleetUploadRequestFilesItem {
                    path: f.path.clone(),
                    size_bytes: f.stamp.size as i64,
                })
                .collect(),
            storage_config_uid: self.up.storage_config_uid.clone(),
        };
        let session = self
            .client()
            .init_fleet_upload()
            .recording_uid(self.recording)
            .body(request)
            .send()
            .await?
            .into_inner();
        let (uid, s3_prefix) = checks::init(&session, &self.manifest, self.recording)
            .map_err(|why| self.mismatch(receipts, "init", why, RESUME_LATER))?;
        let session = Session { uid, s3_prefix };
        receipts.set_session(session.clone())?;
        Ok(session)
    }

    /// Step 4 for one batch: URLs, PUTs, then the confirmation of every
    /// file that was stored (also when others failed, before stopping).
    async fn batch<'f>(
        &self,
        receipts: &mut Receipts,
        session: &Session,
        batch: &[&'f RecordingFile],
        confirmed: &mut HashSet<&'f str>,
    ) -> Result<()> {
        let paths: Vec<&str> = batch.iter().map(|f| f.path.as_str()).collect();
        let answer = self
            .client()
            .get_fleet_upload_urls()
            .recording_uid(self.recording)
            .body(types::GetFleetUploadUrlsRequest {
                session_uid: session.uid.clone(),
                file_paths: paths.iter().map(|p| (*p).to_owned()).collect(),
                ttl_seconds: TTL_SECONDS,
            })
            .send()
            .await?
            .into_inner();
        let grants = checks::grants(&answer, &paths, &session.s3_prefix, self.plane_loopback())
            .map_err(|refusal| match refusal {
                GrantRefusal::Url(e) => e.into(),
                GrantRefusal::State(why) => self.mismatch(receipts, "urls", why, RESUME_LATER),
            })?;
        // Every PUT of the batch is tried (what storage took is confirmed
        // even when another failed). By index: a closure over `&&RecordingFile`
        // would make the upload's future unspawnable.
        let mut results: Vec<(&RecordingFile, Result<String>)> =
            futures::stream::iter(0..batch.len())
                .map(|i| {
                    let file = batch[i];
                    let grant = grants[file.path.as_str()];
                    async move { (file, self.put(file, grant).await) }
                })
                .buffer_unordered(self.workers)
                .collect()
                .await;
        results.sort_by(|a, b| a.0.path.cmp(&b.0.path));
        let mut failure = None;
        let mut stored = Vec::new();
        for (file, result) in results {
            match result {
                Ok(etag) => stored.push((file, etag)),
                Err(e) => {
                    failure.get_or_insert(e);
                }
            }
        }
        if !stored.is_empty() {
            let ack = self
                .client()
                .confirm_fleet_upload()
                .recording_uid(self.recording)
                .body(types::ConfirmFleetUploadRequest {
                    session_uid: session.uid.clone(),
                    files: stored
                        .iter()
                        .map(|(f, etag)| types::ConfirmFleetUploadRequestFilesItem {
                            path: f.path.clone(),
                            etag: etag.clone(),
                            size_bytes: f.stamp.size as i64,
                        })
                        .collect(),
                })
                .send()
                .await?
                .into_inner();
            let mut expected = confirmed.clone();
            expected.extend(stored.iter().map(|(f, _)| f.path.as_str()));
            checks::confirm_ack(&ack, &session.uid, &self.manifest, &expected)
                .map_err(|why| self.mismatch(receipts, "confirm", why, RESUME_LATER))?;
            *confirmed = expected;
            receipts.confirm(stored.into_iter().map(|(f, etag)| {
                (
                    f.path.clone(),
                    Receipt {
                        etag,
                        stamp: f.stamp,
                    },
                )
            }))?;
        }
        failure.map_or(Ok(()), Err)
    }

    fn plane_loopback(&self) -> bool {
        loopback_http(&self.up.client)
    }

    /// Step 4.2 for one file: up to 3 attempts (the Fleet plane of
    /// [`crate::retry`]: the storage rule and the one backoff curve); the
    /// ETag is the receipt.
    async fn put(&self, file: &RecordingFile, grant: &types::UploadUrlEntry) -> Result<String> {
        let mut headers: HashMap<String, String> = grant.headers.clone();
        if !headers
            .keys()
            .any(|k| k.eq_ignore_ascii_case("content-type"))
        {
            headers.insert(
                "Content-Type".to_owned(),
                "application/octet-stream".to_owned(),
            );
        }
        // Opened once, checked to be the file that was hashed; every
        // attempt sends from this handle.
        let source = Source::open(&file.local, file.stamp, None)?;
        let slice = Slice {
            source: source.clone(),
            remote: file.path.clone(),
            offset: 0,
            len: file.stamp.size,
        };
        let size = file.stamp.size;
        let policy = self.up.client.retry_policy();
        let etag = crate::retry::run(&policy, crate::retry::Plane::Fleet, |_| async {
            if let Err(e) = source.unchanged() {
                return (Err(Error::from(e)), crate::retry::Verdict::Done);
            }
            self.progress
                .emit(&file.path, ProgressEvent::Started { size });
            let result = self
                .plane
                .put_for_etag(&grant.put_url, &headers, &slice, &self.key)
                .await;
            let verdict = match &result {
                Ok(_) => crate::retry::Verdict::Done,
                Err(e) => crate::retry::storage(e),
            };
            (result.map_err(Error::from), verdict)
        })
        .await?;
        source.unchanged()?;
        let etag = checks::etag(etag.as_deref()).map_err(|why| {
            Error::from(UploadError::Mismatch {
                message: format!("PUT of `{}`: {why}; it was not confirmed. Keep the receipts and run the same upload again to send it again", file.path),
            })
        })?;
        self.progress.sent(&file.path, size);
        self.progress.finish(&file.path, size, size, false);
        Ok(etag)
    }

    /// Every file still has the stamp it was hashed with.
    fn unchanged_all(&self) -> Result<()> {
        self.files.iter().try_for_each(unchanged)
    }

    async fn status(&self) -> Result<types::UploadStatusResponse> {
        Ok(self
            .client()
            .get_fleet_upload_status()
            .recording_uid(self.recording)
            .send()
            .await?
            .into_inner())
    }

    /// §10.3: poll the recording and the upload until the recording is
    /// `ready` and the upload `completed` (`error` is a failure), by the
    /// rule of [`crate::wait`].
    async fn wait(
        &self,
        session_uid: &str,
        timeout: Duration,
    ) -> Result<types::UploadStatusResponse> {
        let job = crate::wait::Job {
            name: format!("recording {}", self.recording),
            judge: &processing_verdict,
            key: &self.key,
        };
        let observe = || async {
            let recording = self
                .client()
                .get_fleet_recording()
                .recording_id(self.recording)
                .send()
                .await?
                .into_inner();
            let status = self.status().await?;
            if status.session_uid != session_uid {
                return Err(Error::from(UploadError::Mismatch {
                    message: format!(
                        "while waiting, the recording's upload session became {:?} (ours is {session_uid:?}); the upload itself was finalised",
                        status.session_uid
                    ),
                }));
            }
            Ok((recording, status))
        };
        let pace = PACE.with(self.up.poll_interval);
        let (_, status) = crate::wait::until(&job, pace, timeout, None, observe, None).await?;
        Ok(status)
    }

    /// The error of a step whose evidence does not match: what, what to
    /// keep, how to resume.
    fn mismatch(&self, receipts: &Receipts, step: &str, why: String, then: &str) -> Error {
        crate::Error::from(crate::upload::UploadError::Mismatch {
            message: format!(
                "recording {}, {step}: {why}. Nothing more was sent. Keep the receipts at {} and the files in {} unchanged; {then}",
                self.recording,
                receipts.path().display(),
                self.up.source.display()
            ),
        })
    }
}

/// How to resume after a mismatch the server may clear.
const RESUME_LATER: &str =
    "run the same upload again to resume once the server's session agrees with them";

/// How to go on when the session cannot continue.
const START_OVER: &str = "this session cannot continue: once the server no longer lists a session for the recording, move the receipts away and run the upload again to open a new one";

/// A file whose stamp changed since it was hashed would not be sent as
/// the manifest describes it.
fn unchanged(file: &RecordingFile) -> Result<()> {
    if Stamp::of(&file.local)? != file.stamp {
        return Err(UploadError::FileChanged {
            path: file.local.clone(),
        }
        .into());
    }
    Ok(())
}

/// §10.3: a recording `ready` with its upload `completed` succeeded, one in
/// `error` failed.
fn processing_verdict(
    (recording, upload): &(types::Recording, types::UploadStatusResponse),
) -> Verdict {
    let status = format!(
        "recording {}, upload {}",
        recording.status.as_ref().map_or("unknown", |s| s.as_str()),
        upload.status.as_str()
    );
    match recording.status {
        Some(RecordingStatus::Error) => Verdict::Failed(status),
        Some(RecordingStatus::Ready) if upload.status == Status::Completed => Verdict::Succeeded,
        _ => Verdict::Running(Some(status)),
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    #[test]
    fn processing_succeeds_only_when_the_recording_is_ready_and_the_upload_completed() {
        let pair = |recording: &str, upload: &str| {
            let recording = serde_json::json!({"uid": "r", "status": recording});
            let upload = serde_json::json!({"session_uid": "s", "status": upload});
            (
                serde_json::from_value(recording).unwrap(),
                serde_json::from_value(upload).unwrap(),
            )
        };
        assert_eq!(
            processing_verdict(&pair("ready", "completed")),
            Verdict::Succeeded
        );
        assert_eq!(
            processing_verdict(&pair("ready", "completing")),
            Verdict::Running(Some("recording ready, upload completing".to_owned()))
        );
        assert_eq!(
            processing_verdict(&pair("error", "completed")),
            Verdict::Failed("recording error, upload completed".to_owned())
        );
        assert_eq!(
            processing_verdict(&pair("processing", "completed")),
            Verdict::Running(Some("recording processing, upload completed".to_owned()))
        );
    }

    fn file(path: &str) -> LocalFile {
        LocalFile {
            local: PathBuf::from("/rec").join(path),
            remote: path.to_owned(),
            stamp: Stamp {
                size: 1,
                mtime_ns: 0,
                inode: 0,
            },
            device: 0,
        }
    }

    #[test]
    fn step_0_limits_name_the_offending_file() {
        let source = Path::new("/rec");
        let many: Vec<LocalFile> = (0..checks::MAX_FILES)
            .map(|i| file(&format!("f{i}")))
            .collect();
        assert!(check_local(source, &many).is_ok());
        let mut too_many = many;
        too_many.push(file("last"));
        let e = check_local(source, &too_many).unwrap_err().to_string();
        assert!(e.contains("50001 files") && e.contains("/rec"), "{e}");
        let e = check_local(source, &[file("ok"), file("a/../b")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("/rec/a/../b") && e.contains(".."), "{e}");
        let e = check_local(source, &[]).unwrap_err().to_string();
        assert_eq!(
            e,
            "upload failed: /rec cannot be uploaded: the directory holds no file to upload"
        );
    }
}

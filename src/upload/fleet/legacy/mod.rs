//! The Fleet recording upload over the legacy presigned-PUT protocol
//! (§9.2, with the checks of §13.2 and the wait of §10.3), step by step.
//! Every answer is checked before the next step; a mismatch stops the run
//! with [`UploadError::Mismatch`](crate::upload::UploadError::Mismatch)
//! and the receipts kept, so the same call again resumes.

mod checks;
mod flow;
mod receipt;

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use crate::{
    types,
    upload::{transfer::Timeouts, Callback, Progress, TestKnobs},
    wait::Pace,
    Client, Result,
};

/// §10.3: the status is polled at least every 10 s.
const PACE: Pace = Pace {
    interval: Duration::from_secs(10),
    floor: Duration::ZERO,
    cap: Duration::from_secs(10),
};
/// Files sent at the same time: the default and the most.
const WORKERS: usize = 4;
const MAX_WORKERS: usize = 64;
/// The Fleet PUT's timeouts (§8: 300 s).
const PUT_TIMEOUTS: Timeouts = Timeouts {
    connect: Duration::from_secs(30),
    stall: Duration::from_secs(300),
    answer: Duration::from_secs(300),
};

/// An upload of a recording directory over the legacy presigned-PUT
/// protocol; made by [`Client::upload_recording`], run by
/// [`send`](Self::send).
#[must_use = "nothing is uploaded until `.send().await`"]
pub struct RecordingUpload {
    client: Client,
    recording_uid: String,
    source: PathBuf,
    storage_config_uid: Option<String>,
    workers: usize,
    state_dir: Option<PathBuf>,
    on_progress: Option<Callback>,
    wait: Option<Duration>,
    poll_interval: Duration,
    knobs: TestKnobs,
}

impl std::fmt::Debug for RecordingUpload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordingUpload")
            .field("recording_uid", &self.recording_uid)
            .field("source", &self.source)
            .field("storage_config_uid", &self.storage_config_uid)
            .field("workers", &self.workers)
            .field("state_dir", &self.state_dir)
            .field("wait", &self.wait)
            .field("poll_interval", &self.poll_interval)
            .finish_non_exhaustive()
    }
}

impl RecordingUpload {
    /// The storage configuration to upload into (sent only when not empty).
    pub fn storage_config_uid(mut self, uid: impl Into<String>) -> Self {
        self.storage_config_uid = Some(uid.into()).filter(|u: &String| !u.is_empty());
        self
    }

    /// Files sent at the same time, 1 to 64 (default 4); another value is
    /// an [`Error::InvalidArgument`](crate::Error::InvalidArgument) at
    /// `send`, before any request.
    pub fn workers(mut self, workers: usize) -> Self {
        self.workers = workers;
        self
    }

    /// Where the receipts are kept; default
    /// `<user data dir>/avala/uploads/fleet-v1`.
    pub fn state_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.state_dir = Some(dir.into());
        self
    }

    /// Called on every [`Progress`] step, from the uploading task: keep it
    /// quick.
    pub fn on_progress<F>(mut self, f: F) -> Self
    where
        F: Fn(&Progress) + Send + Sync + 'static,
    {
        self.on_progress = Some(std::sync::Arc::new(f));
        self
    }

    /// After finalising, poll the recording and the upload (§10.3) until
    /// the recording is `ready` and the upload `completed`, for at most
    /// `timeout` (not called: no wait). A recording in `error` is
    /// [`Error::JobFailed`](crate::Error::JobFailed); past the timeout,
    /// [`Error::WaitTimeout`](crate::Error::WaitTimeout) (the rule of
    /// [`crate::wait`]).
    pub fn wait(mut self, timeout: Duration) -> Self {
        self.wait = Some(timeout);
        self
    }

    /// Time between the polls of [`wait`](Self::wait): default and at most
    /// 10 s (§10.3).
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// Settings for the SDK's own tests.
    #[doc(hidden)]
    pub fn test_knobs(mut self, knobs: TestKnobs) -> Self {
        self.knobs = knobs;
        self
    }

    /// Uploads what the server has not confirmed, finalises, optionally
    /// waits, and returns the last upload status the server reported. On
    /// an error the receipts stay, so the same call again resumes.
    pub async fn send(self) -> Result<types::UploadStatusResponse> {
        flow::upload(self).await
    }

    /// [`send`](Self::send), blocking the thread until it ends (see
    /// [`crate::blocking`]).
    #[cfg(feature = "blocking")]
    pub fn send_blocking(self) -> Result<types::UploadStatusResponse> {
        let engine = crate::blocking::engine(&self.client).clone();
        engine.run(self.send())
    }
}

impl Client {
    /// Uploads the recording directory `source_dir` (walked recursively;
    /// paths relative to it, `/`-separated) to the Fleet recording
    /// `recording_uid` over the legacy presigned-PUT protocol. See
    /// [`RecordingUpload`].
    pub fn upload_recording(
        &self,
        recording_uid: impl Into<String>,
        source_dir: impl AsRef<Path>,
    ) -> RecordingUpload {
        RecordingUpload {
            client: self.clone(),
            recording_uid: recording_uid.into(),
            source: source_dir.as_ref().to_owned(),
            storage_config_uid: None,
            workers: WORKERS,
            state_dir: None,
            on_progress: None,
            wait: None,
            poll_interval: PACE.interval,
            knobs: TestKnobs::default(),
        }
    }
}

/// The SDK's streamed SHA-256 of one file (what the recording inventory
/// runs for each file), as lower-case hex; for the benchmark.
#[doc(hidden)]
pub fn sha256_file_hex(path: &Path) -> std::io::Result<String> {
    crate::digest::sha256_file(path).map(|(sha, _)| crate::digest::hex(&sha))
}

//! Managed Fleet MCAP uploads (protocol `fleet-managed-mcap-v1`, §9.3 and
//! §10.4): a recording directory of MCAP files into Avala-managed storage,
//! resumable across runs and checked at every step.
//!
//! [`Client::upload_managed_recording`] hashes every file, admits the
//! session once (its uid is created and saved locally first), opens one
//! multipart generation per file, sends only the 64 MiB parts the server
//! does not have (straight from disk, to the granted R2 URL, never with the
//! API key), finalizes, and optionally waits for the publication. Every
//! server answer is checked against the local manifest and the resume
//! receipt; one that does not fit stops the run with
//! [`UploadError::Mismatch`](crate::upload::UploadError::Mismatch), leaving the receipt in
//! place so that the same call again resumes.
//!
//! ```no_run
//! # async fn demo(client: avala::Client) -> avala::Result<()> {
//! use std::time::Duration;
//! use avala::types::ManagedFinalizationState;
//!
//! let status = client
//!     .upload_managed_recording("0f8fad5b-d9cb-469f-a165-70867728950e", "./run-042")
//!     .wait(Duration::from_secs(600))
//!     .send()
//!     .await?;
//! match status.finalization.map(|f| (f.state, f.code)) {
//!     Some((ManagedFinalizationState::Succeeded, _)) => println!("published"),
//!     Some((ManagedFinalizationState::Failed, code)) => eprintln!("failed: {code}"),
//!     _ => println!("still publishing: run again or check later"),
//! }
//! # Ok(()) }
//! ```

mod flow;
mod limits;
mod part_grant;
mod receipt;
mod status;

use std::{
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use crate::upload::{Callback, Progress};
use crate::{types, Client, Result};

/// The protocol's fixed part size (models.md: `part_size` is exactly 64 MiB).
const PART_SIZE: u64 = 64 * 1024 * 1024;

/// A managed upload of a recording directory; made by
/// [`Client::upload_managed_recording`], run by [`send`](Self::send).
#[must_use = "nothing is uploaded until `.send().await`"]
pub struct ManagedRecordingUpload {
    client: Client,
    recording_uid: String,
    source: PathBuf,
    workers: usize,
    wait: Duration,
    state_dir: Option<PathBuf>,
    on_progress: Option<Callback>,
    /// The publication wait's poll interval (§10.4: at most 2 s).
    poll_interval: Duration,
}

impl ManagedRecordingUpload {
    /// Parts sent at the same time, 1 to 4 (default 2); another value is an
    /// [`Error::InvalidArgument`](crate::Error::InvalidArgument) at `send`.
    pub fn workers(mut self, workers: usize) -> Self {
        self.workers = workers;
        self
    }

    /// After finalizing, poll the status (every 2 s) until the publication
    /// succeeded or failed, for at most `timeout` (0 to 3600 s; default 0:
    /// the status right after the finalize is returned as it is).
    pub fn wait(mut self, timeout: Duration) -> Self {
        self.wait = timeout;
        self
    }

    /// Where the resume receipt is kept; default
    /// `<user data dir>/avala/uploads/fleet-managed-v1`.
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
        self.on_progress = Some(Arc::new(f));
        self
    }

    /// The publication wait's poll interval (default 2 s); for tests.
    #[doc(hidden)]
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// Uploads what the server does not have yet, finalizes, waits as asked,
    /// and returns the last status observed.
    ///
    /// The status is returned whatever its `finalization` says, as Python
    /// does: `None` or `pending`/`running`/`retry_wait` (still publishing:
    /// call again, or wait longer), `succeeded` (published; this does not
    /// mean the Fleet recording is `ready`), or `failed` with its `code`. A
    /// failure coded `content_mismatch` or `invalid_mcap` is final for these
    /// files; after any other code, running the upload again finalizes
    /// again. Errors (bad arguments or files, API errors, storage failures,
    /// [`UploadError::Mismatch`](crate::upload::UploadError::Mismatch) for answers that do
    /// not fit) leave the receipt in place: the same call resumes.
    pub async fn send(self) -> Result<types::ManagedFleetUploadStatus> {
        flow::run(self).await
    }
}

impl std::fmt::Debug for ManagedRecordingUpload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ManagedRecordingUpload")
            .field("recording_uid", &self.recording_uid)
            .field("source", &self.source)
            .field("workers", &self.workers)
            .field("wait", &self.wait)
            .field("state_dir", &self.state_dir)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Uploads the MCAP files of `source_dir` (1 to 64 `*.mcap` files,
    /// walked recursively) to the Fleet recording `recording_uid` (its
    /// canonical lowercase UUID) with the managed protocol. See
    /// [`ManagedRecordingUpload`].
    pub fn upload_managed_recording(
        &self,
        recording_uid: impl Into<String>,
        source_dir: impl AsRef<Path>,
    ) -> ManagedRecordingUpload {
        ManagedRecordingUpload {
            client: self.clone(),
            recording_uid: recording_uid.into(),
            source: source_dir.as_ref().to_owned(),
            workers: 2,
            wait: Duration::ZERO,
            state_dir: None,
            on_progress: None,
            poll_interval: Duration::from_secs(2),
        }
    }
}

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
//!
//! // `Ok` only once published; a failed publication is `Error::JobFailed`
//! // (its code in the status), a timeout `Error::WaitTimeout`.
//! let status = client
//!     .upload_managed_recording("0f8fad5b-d9cb-469f-a165-70867728950e", "./run-042")
//!     .wait(Duration::from_secs(600))
//!     .send()
//!     .await?;
//! let published = status.finalization.and_then(|f| f.dataset_uid);
//! println!("published as dataset {published:?}");
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

use crate::upload::{Callback, Progress, TestKnobs};
use crate::{types, wait::Pace, Client, Result};

/// The protocol's fixed part size (models.md: `part_size` is exactly 64 MiB).
const PART_SIZE: u64 = 64 * 1024 * 1024;

/// §10.4: the publication is polled at least every 2 s.
const PACE: Pace = Pace {
    interval: Duration::from_secs(2),
    floor: Duration::ZERO,
    cap: Duration::from_secs(2),
};

/// A managed upload of a recording directory; made by
/// [`Client::upload_managed_recording`], run by [`send`](Self::send).
#[must_use = "nothing is uploaded until `.send().await`"]
pub struct ManagedRecordingUpload {
    client: Client,
    recording_uid: String,
    source: PathBuf,
    workers: usize,
    wait: Option<Duration>,
    state_dir: Option<PathBuf>,
    on_progress: Option<Callback>,
    poll_interval: Duration,
    knobs: TestKnobs,
}

impl ManagedRecordingUpload {
    /// Parts sent at the same time, 1 to 4 (default 2); another value is an
    /// [`Error::InvalidArgument`](crate::Error::InvalidArgument) at `send`.
    pub fn workers(mut self, workers: usize) -> Self {
        self.workers = workers;
        self
    }

    /// After finalizing, poll the status (§10.4) until the publication
    /// succeeded (`Ok`) or failed
    /// ([`Error::JobFailed`](crate::Error::JobFailed)), for at most
    /// `timeout`, 0 to 3600 s (past it,
    /// [`Error::WaitTimeout`](crate::Error::WaitTimeout)). Not called: no
    /// wait, the status right after the finalize is returned.
    pub fn wait(mut self, timeout: Duration) -> Self {
        self.wait = Some(timeout);
        self
    }

    /// Time between the polls of [`wait`](Self::wait): default and at most
    /// 2 s (§10.4).
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
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

    /// Settings for the SDK's own tests.
    #[doc(hidden)]
    pub fn test_knobs(mut self, knobs: TestKnobs) -> Self {
        self.knobs = knobs;
        self
    }

    /// Uploads what the server does not have yet, finalizes, waits as asked,
    /// and returns the last status observed, by the rule of
    /// [`crate::wait`].
    ///
    /// `Ok` is a publication `succeeded` (this does not mean the Fleet
    /// recording is `ready`) or, without [`wait`](Self::wait), one still
    /// under way (`finalization` `None`, `pending`, `running` or
    /// `retry_wait`: call again, or wait). A publication `failed` is
    /// [`Error::JobFailed`](crate::Error::JobFailed) with its code in the
    /// status, waited for or not: `content_mismatch` and `invalid_mcap` are
    /// final for these files; after any other code, running the upload
    /// again finalizes again. Other errors (bad arguments or files, API errors, storage failures,
    /// [`UploadError::Mismatch`](crate::upload::UploadError::Mismatch) for answers that do
    /// not fit) leave the receipt in place: the same call resumes.
    pub async fn send(self) -> Result<types::ManagedFleetUploadStatus> {
        flow::run(self).await
    }

    /// [`send`](Self::send), blocking the thread until it ends (see
    /// [`crate::blocking`]).
    #[cfg(feature = "blocking")]
    pub fn send_blocking(self) -> Result<types::ManagedFleetUploadStatus> {
        let engine = crate::blocking::engine(&self.client).clone();
        engine.run(self.send())
    }
}

impl std::fmt::Debug for ManagedRecordingUpload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ManagedRecordingUpload")
            .field("recording_uid", &self.recording_uid)
            .field("source", &self.source)
            .field("workers", &self.workers)
            .field("wait", &self.wait)
            .field("poll_interval", &self.poll_interval)
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
            wait: None,
            state_dir: None,
            on_progress: None,
            poll_interval: PACE.interval,
            knobs: TestKnobs::default(),
        }
    }
}

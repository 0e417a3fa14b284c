//! The dataset upload (§9.1): its builders here, the protocol step by
//! step in `flow`, the dry run in `plan`, the data types' files in
//! `kinds`, the slug check in `slug`.

pub(crate) mod flow;
mod kinds;
mod plan;
mod receipt;
mod slug;

pub use plan::{PlannedFile, QuotaUse, SkippedEntry, UploadPlan};

use std::{
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use serde_json::Value;

use super::{Callback, Progress, TestKnobs};
use crate::{types, Client, Result};

/// Files sent at the same time: the default and the most.
const WORKERS: usize = 8;
const MAX_WORKERS: usize = 64;

/// What [`FileUpload::send`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct UploadReport {
    /// Files whose bytes were sent (wholly, or the parts that were missing).
    pub files_sent: usize,
    /// Files not sent because they were already uploaded.
    pub files_skipped: usize,
    /// Bytes sent to storage.
    pub bytes_sent: u64,
    /// The batch id to pass to `create_dataset_from_manual_upload` as
    /// `dataset_upload_uid`.
    pub dataset_upload_uid: Option<String>,
}

/// The settings shared by both kinds of upload.
#[derive(Clone)]
struct Options {
    organization_uid: Option<String>,
    workers: usize,
    resume: bool,
    check_quota: bool,
    state_dir: Option<PathBuf>,
    on_progress: Option<Callback>,
    knobs: TestKnobs,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            organization_uid: None,
            workers: WORKERS,
            resume: true,
            check_quota: true,
            state_dir: None,
            on_progress: None,
            knobs: TestKnobs::default(),
        }
    }
}

impl Options {
    /// The arguments checked before any request: `workers` in 1 to 64.
    fn check(&self) -> Result<()> {
        crate::config::workers(self.workers, MAX_WORKERS).map(drop)
    }
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("organization_uid", &self.organization_uid)
            .field("workers", &self.workers)
            .field("resume", &self.resume)
            .field("check_quota", &self.check_quota)
            .field("state_dir", &self.state_dir)
            .finish_non_exhaustive()
    }
}

/// The setters of [`Options`], on both builders.
macro_rules! option_setters {
    () => {
        /// Upload into this organization's storage (and create the dataset
        /// there); default: the calling user's.
        pub fn organization_uid(mut self, uid: impl Into<String>) -> Self {
            self.options.organization_uid = Some(uid.into());
            self
        }

        /// Files sent at the same time, 1 to 64 (default 8); another value
        /// is an [`Error::InvalidArgument`](crate::Error::InvalidArgument)
        /// at `send`, before any request.
        pub fn workers(mut self, workers: usize) -> Self {
            self.options.workers = workers;
            self
        }

        /// Resume from the state of an earlier run (default `true`); with
        /// `false` the earlier state is replaced and every file is sent.
        pub fn resume(mut self, resume: bool) -> Self {
            self.options.resume = resume;
            self
        }

        /// Compare the bytes to send with the storage quota first (default
        /// `true`).
        pub fn check_quota(mut self, check: bool) -> Self {
            self.options.check_quota = check;
            self
        }

        /// Where the resume state is kept; default
        /// `<user data dir>/avala/uploads/datasets`.
        pub fn state_dir(mut self, dir: impl Into<PathBuf>) -> Self {
            self.options.state_dir = Some(dir.into());
            self
        }

        /// Called on every [`Progress`] step, from the uploading task: keep
        /// it quick.
        pub fn on_progress<F>(mut self, f: F) -> Self
        where
            F: Fn(&Progress) + Send + Sync + 'static,
        {
            self.options.on_progress = Some(Arc::new(f));
            self
        }

        /// Settings for the SDK's own tests.
        #[doc(hidden)]
        pub fn test_knobs(mut self, knobs: TestKnobs) -> Self {
            self.options.knobs = knobs;
            self
        }
    };
}

/// An upload of a local file or directory into a new dataset; made by
/// [`Client::upload_dataset`], run by [`send`](Self::send).
#[derive(Debug)]
#[must_use = "nothing is uploaded until `.send().await`"]
pub struct DatasetUpload {
    client: Client,
    source: PathBuf,
    name: Option<String>,
    slug: Option<String>,
    data_type: Option<types::DataType>,
    visibility: types::DatasetVisibility,
    owner_name: Option<String>,
    metadata: serde_json::Map<String, Value>,
    create_metadata: bool,
    industry: Option<i64>,
    license: Option<i64>,
    wait: Option<Duration>,
    poll_interval: Option<Duration>,
    options: Options,
}

impl DatasetUpload {
    /// The dataset's name (required).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// The dataset's slug; default: the name in lower case with every run
    /// of other characters than `a-z0-9` replaced by `-`.
    pub fn slug(mut self, slug: impl Into<String>) -> Self {
        self.slug = Some(slug.into());
        self
    }

    /// What the files are. Not called: told from the files' suffixes (see
    /// [`crate::upload`], "Data types"); files of several types, or of none
    /// the server indexes, are then an error before any request. Either way
    /// an upload of which the server would index no file for the type is
    /// refused before any request
    /// ([`UploadError::NotIndexable`](crate::upload::UploadError::NotIndexable)).
    pub fn data_type(mut self, data_type: types::DataType) -> Self {
        self.data_type = Some(data_type);
        self
    }

    /// Who may see the dataset (default private).
    pub fn visibility(mut self, visibility: types::DatasetVisibility) -> Self {
        self.visibility = visibility;
        self
    }

    /// The owner handle to create the dataset under.
    pub fn owner_name(mut self, owner: impl Into<String>) -> Self {
        self.owner_name = Some(owner.into());
        self
    }

    /// Metadata stored with the dataset.
    pub fn metadata(mut self, metadata: serde_json::Map<String, Value>) -> Self {
        self.metadata = metadata;
        self
    }

    /// Whether the server creates the dataset's metadata records (default
    /// `true`; always sent, as the Python SDK does).
    pub fn create_metadata(mut self, create: bool) -> Self {
        self.create_metadata = create;
        self
    }

    /// The numeric id of the dataset's industry category (sent only when
    /// set).
    pub fn industry(mut self, id: i64) -> Self {
        self.industry = Some(id);
        self
    }

    /// The numeric id of the dataset's license (sent only when set).
    pub fn license(mut self, id: i64) -> Self {
        self.license = Some(id);
        self
    }

    /// After creating the dataset, poll it until its status is `created`,
    /// for at most `timeout` (§10.2, with
    /// [`Client::wait_for_dataset`](crate::Client::wait_for_dataset)); past
    /// it, [`crate::Error::WaitTimeout`]. Not called: no wait.
    pub fn wait(mut self, timeout: Duration) -> Self {
        self.wait = Some(timeout);
        self
    }

    /// Time between the polls of [`wait`](Self::wait) (default 10 s, at
    /// least 1 s).
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = Some(interval);
        self
    }

    option_setters!();

    /// Uploads the files, creates the dataset and returns it (after the
    /// wait, when one was asked for). On an error the resume state stays,
    /// so the same call again continues where this one stopped.
    pub async fn send(self) -> Result<types::Dataset> {
        flow::upload_dataset(self).await
    }

    /// What [`send`](Self::send) would do, without doing it: the same
    /// checks and the same walk, then (unless `check_quota(false)`) one
    /// read of the storage quota. No byte is sent, no mutating request is
    /// made and no resume state is read or written. See [`UploadPlan`].
    pub async fn plan(self) -> Result<UploadPlan> {
        plan::plan(self).await
    }

    /// [`send`](Self::send), blocking the thread until it ends (see
    /// [`crate::blocking`]).
    #[cfg(feature = "blocking")]
    pub fn send_blocking(self) -> Result<types::Dataset> {
        let engine = crate::blocking::engine(&self.client).clone();
        engine.run(self.send())
    }
}

/// The transfer of chosen files into a dataset's upload area, without
/// creating the dataset; made by [`Client::upload_files`].
#[derive(Debug)]
#[must_use = "nothing is uploaded until `.send().await`"]
pub struct FileUpload {
    client: Client,
    dataset_name: String,
    files: Vec<(PathBuf, String)>,
    options: Options,
}

impl FileUpload {
    option_setters!();

    /// Uploads the files. Then create the dataset with the generated
    /// `create_dataset_from_manual_upload`, passing
    /// [`UploadReport::dataset_upload_uid`] and the same organization. The
    /// resume state is kept (so a re-run skips what is done); delete the
    /// state directory's file, or use `resume(false)`, for a new batch.
    pub async fn send(self) -> Result<UploadReport> {
        flow::upload_files(self).await
    }

    /// [`send`](Self::send), blocking the thread until it ends (see
    /// [`crate::blocking`]).
    #[cfg(feature = "blocking")]
    pub fn send_blocking(self) -> Result<UploadReport> {
        let engine = crate::blocking::engine(&self.client).clone();
        engine.run(self.send())
    }
}

impl Client {
    /// Uploads a local file or directory (walked recursively; the path in
    /// the dataset is the path relative to `source`, `/`-separated) and
    /// creates a dataset from it. `source` itself may be a symbolic link;
    /// links and special files inside it are left out and reported. See
    /// [`DatasetUpload`].
    pub fn upload_dataset(&self, source: impl AsRef<Path>) -> DatasetUpload {
        DatasetUpload {
            client: self.clone(),
            source: source.as_ref().to_owned(),
            name: None,
            slug: None,
            data_type: None,
            visibility: types::DatasetVisibility::Private,
            owner_name: None,
            metadata: serde_json::Map::new(),
            create_metadata: true,
            industry: None,
            license: None,
            wait: None,
            poll_interval: None,
            options: Options::default(),
        }
    }

    /// Uploads `files` (local path, path in the dataset) for the dataset
    /// named `dataset_name`, without creating it. A local path that is a
    /// symbolic link is followed once, when the upload starts; anything but
    /// a regular file is refused. See [`FileUpload`].
    pub fn upload_files(
        &self,
        dataset_name: impl Into<String>,
        files: impl IntoIterator<Item = (PathBuf, String)>,
    ) -> FileUpload {
        FileUpload {
            client: self.clone(),
            dataset_name: dataset_name.into(),
            files: files.into_iter().collect(),
            options: Options::default(),
        }
    }
}

//! Uploads: local files into an Avala dataset (protocol §9.1,
//! [`Client::upload_dataset`]), or a Fleet recording over the legacy or the
//! managed protocol (§9.2, §9.3: [`Client::upload_recording`],
//! [`Client::upload_managed_recording`]); resumable, streamed and checked.
//!
//! [`Client::upload_dataset`] uploads a file or a directory and creates the
//! dataset from it; [`Client::upload_files`] does the transfer alone. Both
//! send up to 8 files at a time, each straight from disk (memory does not
//! grow with file size) through one handle opened without following links
//! and checked to be the file that was listed, retry each file up to 8
//! times (a server's wait of more than 60 s ends the upload instead), send
//! bytes only to the storage hosts of the allow-list and never with the API
//! key, and keep a resume state so that a second run after an interruption
//! sends only what is missing. Symbolic links and special files inside the
//! source are never sent: each is reported as [`ProgressEvent::Excluded`].
//!
//! ```no_run
//! # async fn demo() -> avala::Result<()> {
//! use avala::types::DataType;
//!
//! let client = avala::Client::from_env()?;
//! let dataset = client
//!     .upload_dataset("./frames")
//!     .name("Warehouse frames")
//!     .data_type(DataType::Image)
//!     .on_progress(|p| eprintln!("{}/{} bytes", p.bytes_done, p.bytes_total))
//!     .send()
//!     .await?;
//! println!("created {}", dataset.uid);
//! # Ok(()) }
//! ```

mod allow;
pub(crate) mod dataset;
mod error;
mod fleet;
mod inventory;
mod lock;
mod parallel;
mod state;
mod totals;
mod transfer;

pub use dataset::{DatasetUpload, FileUpload, UploadReport};
pub use error::UploadError;
#[cfg(feature = "mock")]
pub(crate) use fleet::legacy::quote_s3_key;
pub use fleet::{
    legacy::{sha256_file_hex, RecordingUpload},
    managed::ManagedRecordingUpload,
};

use crate::Client;

/// One step of an upload, passed to the [`on_progress`](DatasetUpload::on_progress)
/// callback with the running totals.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Progress {
    /// The file's path in the dataset.
    pub path: String,
    /// What happened to it.
    pub event: ProgressEvent,
    /// Files finished (sent or skipped) so far.
    pub files_done: usize,
    /// Files in the upload.
    pub files_total: usize,
    /// Bytes finished (sent, or skipped as already uploaded) so far.
    pub bytes_done: u64,
    /// Bytes of all the files of the upload.
    pub bytes_total: u64,
    /// Bytes actually sent to storage in this run.
    pub bytes_sent: u64,
}

/// What happened to a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProgressEvent {
    /// Its upload started (also on each retry).
    Started {
        /// Its size in bytes.
        size: u64,
    },
    /// Storage accepted this many more of its bytes (the whole file, or one
    /// part of a multipart upload).
    BytesSent(u64),
    /// It is uploaded.
    Done,
    /// It was already uploaded (by an earlier run, or the server already had
    /// it) and was not sent.
    Skipped,
    /// The walk of the source met it and left it out: nothing of it is read
    /// or sent (`path` is where it would be in the dataset). Reported once,
    /// before any file is sent; it counts in no total.
    Excluded(Excluded),
}

/// Why the walk of a dataset upload left an entry out
/// ([`ProgressEvent::Excluded`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Excluded {
    /// A symbolic link: links inside the source are never followed, so that
    /// no file outside it is uploaded.
    SymbolicLink,
    /// Not a regular file: a FIFO, a socket or a device.
    SpecialFile,
}

type Callback = crate::Callback<Progress>;

/// Settings for the SDK's own tests, given to every upload builder through
/// its one hidden `test_knobs` setter; not part of the supported API.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, Default)]
pub struct TestKnobs {
    /// A storage request whose body does not move for this long is
    /// abandoned (default: the flow's).
    pub storage_stall: Option<std::time::Duration>,
    /// Storage must start its answer this soon after the body's last byte
    /// (default: the flow's).
    pub storage_answer: Option<std::time::Duration>,
}

impl TestKnobs {
    /// The flow's storage timeouts with these knobs applied.
    pub(crate) fn timeouts(&self, defaults: transfer::Timeouts) -> transfer::Timeouts {
        transfer::Timeouts {
            stall: self.storage_stall.unwrap_or(defaults.stall),
            answer: self.storage_answer.unwrap_or(defaults.answer),
            ..defaults
        }
    }
}

/// Whether the client may send file bytes over `http` to loopback: only
/// when it was itself built for such a base URL (which needs
/// `AVALA_ALLOW_INSECURE_BASE_URL` or the embedded mock).
pub(crate) fn loopback_http(client: &Client) -> bool {
    let shared = progenitor_client::ClientInfo::inner(&**client);
    matches!(&shared.shared().origin, url::Origin::Tuple(scheme, ..) if scheme == "http")
}

pub(crate) fn api_key(client: &Client) -> &str {
    progenitor_client::ClientInfo::inner(&**client)
        .shared()
        .api_key
        .expose_for_scrubbing()
}

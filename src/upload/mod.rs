//! Uploads: local files into an Avala dataset (protocol §9.1), or a Fleet
//! recording over the legacy or the managed protocol (§9.2, §9.3); streamed from
//! disk, resumable, and checked at every step.
//!
//! # Datasets
//!
//! `client.upload_dataset(path)` puts a local file or folder (walked recursively;
//! paths in the dataset are relative and `/`-separated) into a new dataset, the
//! whole flow of the manual upload in one call; `client.upload_files(name, files)`
//! does the transfer alone and returns an `UploadReport` whose
//! `dataset_upload_uid` goes to `create_dataset_from_manual_upload`.
//!
//! ```rust,no_run
//! # async fn demo(client: avala::Client) -> avala::Result<()> {
//! use std::time::Duration;
//! use avala::types::DataType;
//!
//! let dataset = client
//!     .upload_dataset("./frames")
//!     .name("Warehouse frames") // slug defaults to `warehouse-frames`
//!     .data_type(DataType::Image)
//!     .workers(8) // files in flight (the default)
//!     .wait(Duration::from_secs(3600)) // until the dataset is `created`
//!     .on_progress(|p| eprintln!("{}/{} bytes, {}", p.bytes_done, p.bytes_total, p.path))
//!     .send()
//!     .await?;
//! # let _ = dataset; Ok(()) }
//! ```
//!
//! - **Streamed and checked.** Each file is opened once, without following a
//!   symbolic link, and must be the very file the walk found (device, inode, size,
//!   modification time); every byte sent (each multipart part, 2 in flight) is
//!   read from that handle at its offset, so memory does not grow with file size
//!   and a file swapped after the walk (for a link to a secret, say) is never
//!   read. A file that changes before or while it is sent is
//!   `UploadError::FileChanged`, not a corrupt object. Symbolic links and special
//!   files (FIFOs, sockets, devices) inside the source are not followed or sent:
//!   each is reported (`ProgressEvent::Excluded`, and a `skipped …` line in the
//!   CLI).
//! - **Safe data plane.** Bytes go through a separate HTTP client that never
//!   carries the API key and never follows a redirect, and only to presigned URLs
//!   that pass the storage-host allow-list (`https`, no userinfo, port or
//!   fragment; `data.avala.ai`, S3, R2, GCS, Azure Blob). A refused URL is
//!   `UploadError::DisallowedUrl` naming the host, and nothing is sent there.
//!   Timeouts: 30 s to connect, 600 s without the body moving, 300 s for the answer.
//! - **Retried.** Each file gets up to 8 attempts by the storage rule of
//!   [`crate::retry`] (transport errors, 408, 412, 429 and 5xx from storage;
//!   408, 429, 502, 503 and 504 from the API), waiting the client's backoff
//!   or a longer `Retry-After`, with a new presigned URL each time. A `Retry-After` over 60 s is not waited for:
//!   the upload ends at once with `RateLimited` or `UploadError::Storage`, whose
//!   `retry_after` carries it. A storage `412` means "already uploaded" only when
//!   the PUT carried `If-None-Match: *`; any other 412 presigns the file again. A 413 `{limit, used}` is `Error::QuotaExceeded`
//!   at once; so is a quota preflight that finds more bytes to send than `limit`.
//! - **Resumable.** A state file (under the user's data directory,
//!   `…/avala/uploads/datasets/`, or `state_dir(..)`; written atomically, mode
//!   0600) keeps the batch id and the files done (one state per API, owner,
//!   dataset name, slug and source directory: another directory uploaded under
//!   the same name starts a batch of its own), so running the same call again
//!   after a failure sends only what is missing (files, and multipart parts the
//!   server already has). A file the server reports complete (`complete: true`,
//!   as after a lost answer to `complete`) is confirmed and counted as skipped,
//!   not sent again. A corrupt or foreign state file is `UploadError::State`,
//!   which says how to start over (`resume(false)`). One run of an upload at a
//!   time: while a run holds its state (an OS lock, released even by a crash), a
//!   second run of the same upload is refused at once with `UploadError::State`
//!   (Fleet receipts, below, are locked the same way).
//! - **Stopped cleanly.** After a failure no new file or part starts, but those
//!   already in flight finish and are recorded, so a re-run does not send them
//!   again. Upload futures are `Send + 'static`: `tokio::spawn` them freely.
//!
//! ## Dataset options, data types and plans
//!
//! - **Options.** `create_metadata(bool)` (default `true`, always sent),
//!   `industry(id)` and `license(id)` (numeric ids, sent only when set),
//!   `visibility`, `owner_name` and `metadata` go into the finalising
//!   `create_dataset_from_manual_upload`, as the official Python SDK 0.10.0
//!   sends them.
//! - **Data types.** Without `data_type(..)`, the type is told from the
//!   files' paths in the dataset, by the end of the lower-cased path (so
//!   `A.JPG` and the two-part `.alp.gz` count). The table is what the Python
//!   SDK's folder importer records as indexed by the server, per type:
//!
//!   | type | suffixes |
//!   |---|---|
//!   | `image` | `.jpg` `.jpeg` `.png` `.webp` `.bmp` `.gif` `.tif` `.tiff` |
//!   | `video` | `.mp4` `.webm` `.mkv` `.mov` `.episode` |
//!   | `lidar` | `.alp` `.alp.gz` |
//!   | `mcap` | `.mcap` |
//!   | `splat` | `.ply` `.compressed.ply` `.splat` `.sog` `.spz` `.ksplat` |
//!
//!   Files no type claims (a `readme.txt`) do not count, and are still sent.
//!   Files of two types or more are `UploadError::MixedDataTypes` (each
//!   type with its count and an example file), and no claimed file at all is
//!   `UploadError::UnknownDataType`; both before any request.
//! - **The index guard.** A type, given or told, for which the server would
//!   index not one of the files would finalise an empty dataset: it is
//!   refused before any request with `UploadError::NotIndexable`, which names
//!   the suffixes indexed for it. As in the Python SDK, some unindexed files
//!   next to indexed ones are allowed (they are stored, but are no items).
//!   A type this SDK does not know (`DataType::Unknown`) is refused too: what
//!   the server indexes for it is unknown.
//! - **Plans.** `plan()` instead of `send()` makes the same checks and the
//!   same walk and returns an `UploadPlan`: the files that would be sent
//!   (path, size, whether indexed), their total, the entries the walk leaves
//!   out and why (`Excluded`), the data type (and whether it was told from
//!   the files), and the quota use (`QuotaUse`: bytes needed, used, limit,
//!   and whether `send` would start: it refuses when the bytes to send are
//!   over the limit). Its only request is the quota's
//!   `GET /datasets/manual-upload/quota/` (none with `check_quota(false)`;
//!   a failure of it leaves `quota` empty); no byte is sent, nothing is
//!   created, and the resume state is neither read nor written, so files an
//!   earlier run finished still count in the plan. `UploadPlan` serializes
//!   to JSON (`avala datasets upload --dry-run --output json`).
//!
//! ```rust,no_run
//! # async fn demo(client: avala::Client) -> avala::Result<()> {
//! let plan = client
//!     .upload_dataset("./frames")
//!     .name("Warehouse frames")
//!     .industry(3)
//!     .license(1)
//!     .plan() // the data type is told from the files
//!     .await?;
//! println!("{} files, {} bytes, as {}", plan.files.len(), plan.total_bytes, plan.data_type);
//! for skip in &plan.skipped {
//!     println!("skipped {:?}: {}", skip.path, skip.reason);
//! }
//! # Ok(()) }
//! ```
//!
//! Against the mock, which also serves the storage side:
//!
//! ```rust
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> avala::Result<()> {
//! use avala::mock::{Fault, MockServer, StorageRoute, UploadMode};
//!
//! let mock = MockServer::start().await;
//! mock.uploads().mode(UploadMode::Put); // or V1, Multipart { part_size }, Auto { .. }
//! // The first PUT fails with a 503: the file is presigned and sent again.
//! mock.storage().fault(StorageRoute::Put, Fault::status(503)).times(1);
//!
//! let dir = std::env::temp_dir().join(format!("avala-readme-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).unwrap();
//! std::fs::write(dir.join("a.jpg"), b"jpeg bytes").unwrap();
//! let report = mock
//!     .client()
//!     .upload_files("My dataset", [(dir.join("a.jpg"), "images/a.jpg".to_owned())])
//!     .state_dir(dir.join("state"))
//!     .send()
//!     .await?;
//! assert_eq!((report.files_sent, report.bytes_sent), (1, 10));
//! assert_eq!(mock.uploads().objects()[0].path, "images/a.jpg");
//! assert_eq!(mock.hits("create_manual_upload_url"), 2);
//! # std::fs::remove_dir_all(&dir).unwrap();
//! # Ok(()) }
//! ```
//!
//! # Fleet recordings (legacy presigned PUT)
//!
//! `client.upload_recording(recording_uid, dir)` uploads a recording directory
//! over the legacy presigned-PUT protocol and returns the last upload status the
//! server reported; `examples/fleet_upload.rs` shows it with a progress bar.
//!
//! ```rust,no_run
//! # async fn demo(client: avala::Client) -> avala::Result<()> {
//! use std::time::Duration;
//!
//! let status = client
//!     .upload_recording("0f8fad5b-d9cb-469f-a165-70867728950e", "./recordings/run-42")
//!     .workers(4) // files in flight (the default)
//!     .wait(Duration::from_secs(3600)) // until the recording is `ready`
//!     .on_progress(|p| eprintln!("{}/{} files", p.files_done, p.files_total))
//!     .send()
//!     .await?;
//! println!("session {} is {}", status.session_uid, status.status.as_str());
//! # Ok(()) }
//! ```
//!
//! - **Checked locally first.** Every file is hashed (SHA-256) and the limits are
//!   checked before any request: at most 50 000 files, relative paths of at most
//!   1024 characters without `\`, NUL, `..` segments or surrounding whitespace,
//!   no symbolic link or special file. A refusal is `UploadError::Rejected`
//!   naming the file. Each file is hashed and sent from a handle opened without
//!   following links and checked to be the walked file, as for datasets.
//! - **Every answer checked.** A new upload needs the server's exact "no session"
//!   404; the session, the counters, the pending list, each presigned URL (its
//!   object key, host allow-list, exact percent-encoding and headers) and each
//!   storage `ETag` must agree with the manifest. A mismatch is
//!   `UploadError::Mismatch`, which says what to keep and how to resume; nothing
//!   more is sent.
//! - **Retried and resumable.** Each PUT (streamed from disk, 300 s timeout) gets
//!   3 attempts by the storage rule of [`crate::retry`], the client's backoff
//!   apart (or the storage's longer `Retry-After`, up to 60 s; past it the run
//!   ends);
//!   the files stored in a batch are confirmed before a failure stops the run.
//!   Receipts (the manifest, the session and every confirmed file's ETag; under
//!   `…/avala/uploads/fleet-v1/` or `state_dir(..)`, atomic, mode 0600) let the
//!   same call resume without sending a confirmed file again; a local file that
//!   changed since the session began is refused, not uploaded into it.
//! - **Waiting.** `wait(timeout)` polls the recording and the session (every
//!   10 s, `poll_interval` to go faster) until the recording is `ready` and the
//!   upload `completed`; a recording in `error` is `Error::JobFailed`, past the
//!   timeout `Error::WaitTimeout` (the one rule of [`crate::wait`]).
//!
//! The mock plays the whole legacy protocol for canonical recording UUIDs, with
//! server anomalies to script (`mock.fleet().anomaly(..)`):
//!
//! ```rust
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> avala::Result<()> {
//! use avala::mock::{FleetAnomaly, MockServer};
//!
//! let mock = MockServer::start().await;
//! let dir = std::env::temp_dir().join(format!("avala-readme-fleet-{}", std::process::id()));
//! std::fs::create_dir_all(dir.join("rec")).unwrap();
//! std::fs::write(dir.join("rec/drive.mcap"), b"mcap bytes").unwrap();
//! let upload = || {
//!     mock.client()
//!         .upload_recording("0f8fad5b-d9cb-469f-a165-70867728950e", dir.join("rec"))
//!         .state_dir(dir.join("receipts"))
//! };
//!
//! // The storage answers without an ETag: nothing is confirmed, the run stops.
//! mock.fleet().anomaly(FleetAnomaly::NoEtag);
//! assert!(matches!(upload().send().await, Err(avala::Error::Upload(e)) if matches!(*e, avala::upload::UploadError::Mismatch { .. })));
//! // The same call resumes the same session and finishes it.
//! let status = upload().send().await?;
//! assert_eq!((status.confirmed_files, status.status.as_str()), (1, "completing"));
//! assert_eq!(mock.fleet().objects()[0].path, "drive.mcap");
//! # std::fs::remove_dir_all(&dir).unwrap();
//! # Ok(()) }
//! ```
//!
//! # Managed Fleet recordings
//!
//! `client.upload_managed_recording(recording_uid, dir)` uploads a robot's
//! recording directory (1 to 64 `*.mcap` files, each up to 8 GiB, 64 GiB in all)
//! to a Fleet recording with the managed protocol (`fleet-managed-mcap-v1`). It
//! hashes every file, admits the session once (its uid is created and saved
//! before anything is sent), sends only the 64 MiB parts the server lacks,
//! straight from disk, to the granted R2 URLs (exactly `Content-Length`, exactly
//! `200` expected, never the API key, never a redirect), finalizes, and can wait
//! for the publication.
//!
//! ```rust,no_run
//! # async fn demo(client: avala::Client) -> avala::Result<()> {
//! use std::time::Duration;
//!
//! let status = client
//!     .upload_managed_recording("0f8fad5b-d9cb-469f-a165-70867728950e", "./run-042")
//!     .workers(2) // parts in flight, 1 to 4
//!     .wait(Duration::from_secs(600)) // poll every 2 s until published or failed
//!     .on_progress(|p| eprintln!("{}/{} bytes", p.bytes_done, p.bytes_total))
//!     .send()
//!     .await?;
//! // Ok: published. A failed publication is Error::JobFailed with its code.
//! println!("{:?}", status.finalization);
//! # Ok(()) }
//! ```
//!
//! - **Checked.** The limits, path rules (NFC, no control characters, no
//!   `__derived__/`) and arguments are checked before any request. Every answer
//!   is compared with the local manifest and the receipt: counters, sizes and
//!   hashes, the session, the exact init document, the part listings (at most 2
//!   pages of 100), each grant (R2 host, object key, SigV4 query, lifetime) and
//!   its destination, pinned by the file's first grant. A mismatch is
//!   `UploadError::Mismatch`, whose message says what to keep and how to resume.
//! - **Retried.** Admit, part grants and finalize get 3 attempts by the
//!   workflow rule of [`crate::retry`]; the multipart init and a part PUT are not
//!   retried within a run (their outcome is uncertain): running the same call
//!   again sends the init again when the status shows no generation for the
//!   file, asks the server which parts it has and sends the rest.
//! - **Resumable.** The receipt (`…/avala/uploads/fleet-managed-v1/` under the
//!   user's data directory, or `state_dir(..)`; atomic, mode 0600) keeps the
//!   session uid, the manifest digest and what the server confirmed; it is never
//!   deleted. A file changed since the admit is refused (`UploadError::Mismatch`).
//! - **The outcome.** `Ok(status)` when the publication succeeded, or, without
//!   `wait(..)`, is still under way; a failed publication is `Error::JobFailed`
//!   with its code (`content_mismatch` and `invalid_mcap` are final; after any
//!   other code a re-run finalizes again); a wait that runs out is
//!   `Error::WaitTimeout`.

pub(crate) mod allow;
pub(crate) mod dataset;
mod fleet;
mod inventory;
mod lock;
mod parallel;
mod store;
mod totals;
pub(crate) mod transfer;

pub use crate::error::{KindCount, UploadError};
pub use dataset::{
    DatasetUpload, FileUpload, PlannedFile, QuotaUse, SkippedEntry, UploadPlan, UploadReport,
};
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
/// ([`ProgressEvent::Excluded`], [`SkippedEntry`]); serialized in
/// `snake_case` (`symbolic_link`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Excluded {
    /// A symbolic link: links inside the source are never followed, so that
    /// no file outside it is uploaded.
    SymbolicLink,
    /// Not a regular file: a FIFO, a socket or a device.
    SpecialFile,
}

impl std::fmt::Display for Excluded {
    /// Why, in words, for a person.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::SymbolicLink => "a symbolic link (not followed, not uploaded)",
            Self::SpecialFile => "not a regular file (not uploaded)",
        })
    }
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
/// when it was itself built for a loopback `http` base URL (which needs
/// `AVALA_ALLOW_INSECURE_BASE_URL` or the embedded mock); the URL itself is
/// then checked by [`crate::hosts::plain_http_allowed`].
pub(crate) fn loopback_http(client: &Client) -> bool {
    let shared = progenitor_client::ClientInfo::inner(&**client);
    matches!(&shared.shared().origin,
        url::Origin::Tuple(scheme, host, _) if scheme == "http" && crate::hosts::is_loopback(host))
}

pub(crate) use crate::client::api_key;

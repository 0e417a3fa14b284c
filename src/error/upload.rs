//! [`UploadError`]: what can go wrong in an upload outside the API calls.
//! It lives beside [`crate::Error`], not in `upload`, so that the error
//! types import nothing from the code that raises them (no import circle);
//! `avala::upload::UploadError` re-exports it.

use std::{path::PathBuf, time::Duration};

/// An upload failure that is not an API error: the data plane (storage),
/// local files, the resume state, or a server answer that breaks the
/// protocol. Reached through [`crate::Error::Upload`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UploadError {
    /// The server handed out a presigned URL outside the allow-list of
    /// storage hosts; nothing was sent to it.
    #[error("refused to upload to host `{host}`: {reason}")]
    DisallowedUrl {
        /// The refused host (empty when the URL had none).
        host: String,
        /// Why it was refused.
        reason: String,
    },
    /// The storage service answered a transfer with an error status.
    #[error("storage refused `{path}` (HTTP {status}): {body}")]
    Storage {
        /// The file's path in the dataset.
        path: String,
        /// The HTTP status.
        status: u16,
        /// The start of the response body (at most 64 KiB, redacted).
        body: String,
        /// The response's `Retry-After`, when present.
        retry_after: Option<Duration>,
    },
    /// The connection to the storage service failed, timed out or stalled.
    #[error("sending `{path}` to storage failed: {message}")]
    StorageTransport {
        /// The file's path in the dataset.
        path: String,
        /// What failed.
        message: String,
    },
    /// A local file is no longer the one that was listed (another file, a
    /// link or a special file in its place: device or inode differ), or it
    /// changed (size or modification time) while it was being uploaded;
    /// the upload of that file is not trusted.
    #[error("{} changed while it was being uploaded; upload again once it is stable", path.display())]
    FileChanged {
        /// The local file.
        path: PathBuf,
    },
    /// A local file the upload does not accept (a symbolic link, a name or
    /// size the protocol refuses); checked before any request, so nothing
    /// was sent.
    #[error("{} cannot be uploaded: {reason}", path.display())]
    Rejected {
        /// The local file.
        path: PathBuf,
        /// Why, and what to change.
        reason: String,
    },
    /// A local file or directory could not be read.
    #[error("could not read {}: {source}", path.display())]
    Io {
        /// The local path.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The resume state on disk cannot be used (unreadable, corrupt, or
    /// written for another upload).
    #[error("upload state {}: {message}", path.display())]
    State {
        /// The state file.
        path: PathBuf,
        /// What is wrong and how to start over.
        message: String,
    },
    /// A resume-state directory or file that is not private to this user:
    /// a directory owned by another user or writable by group or others,
    /// or a state or lock file that is a symbolic link or not a regular
    /// file. Nothing was read from it or written to it.
    #[error("upload state {}: {reason}", path.display())]
    StateNotPrivate {
        /// The directory or file.
        path: PathBuf,
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// A Fleet recording upload stopped because the server's evidence does
    /// not match the local receipts or the protocol: an ambiguous session,
    /// changed inputs, counters that disagree, a grant that moves the
    /// destination. Nothing more is sent; the local receipts are kept.
    #[error("upload state mismatch: {message}")]
    Mismatch {
        /// What did not match, what to keep and how to resume.
        message: String,
    },
    /// The server's answer breaks the upload protocol.
    #[error("unexpected upload answer for `{path}`: {message}")]
    Protocol {
        /// The file's path in the dataset.
        path: String,
        /// What did not fit.
        message: String,
    },
    /// The storage root (`__o__=/<org>` or `__u__=/<user>`) differs between
    /// the transfer and the finalisation, so the files are not where the
    /// dataset would look.
    #[error(
        "the storage root changed during the upload (was {before}, now {after}); upload again"
    )]
    StorageRootChanged {
        /// The root the files were sent under.
        before: String,
        /// The root at finalisation.
        after: String,
    },
    /// A dataset with the upload's slug already exists under its owner;
    /// found before the first byte was sent, so nothing was uploaded.
    #[error("a dataset with the slug `{slug}` already exists under `{owner}`, so nothing was uploaded; use another slug or owner")]
    SlugTaken {
        /// The owner (user or organization handle) the slug was looked up under.
        owner: String,
        /// The slug.
        slug: String,
    },
}

impl From<UploadError> for crate::Error {
    fn from(e: UploadError) -> Self {
        Self::Upload(Box::new(e))
    }
}

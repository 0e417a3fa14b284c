//! [`UploadError`]: what can go wrong in an upload outside the API calls.
//! It lives beside [`crate::Error`], not in `upload`, so that the error
//! types import nothing from the code that raises them (no import circle);
//! `avala::upload::UploadError` re-exports it.

use std::{path::PathBuf, time::Duration};

use crate::types::DataType;

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
    /// No data type was given and the files' suffixes name several: the
    /// upload cannot tell which one to create. Nothing was sent.
    #[error("the files are of {} data types ({}); give the data type, or upload each kind separately", kinds.len(), counts(kinds))]
    MixedDataTypes {
        /// Each type met, with how many files and one of them; most files first.
        kinds: Vec<KindCount>,
    },
    /// No data type was given and no file has a suffix the server indexes
    /// for any type. Nothing was sent.
    #[error("cannot tell the data type: none of the {files} files (such as `{example}`) has a suffix the server indexes (image, video, lidar, mcap, splat); give the data type, or convert the files")]
    UnknownDataType {
        /// The files of the upload.
        files: usize,
        /// One of them (its path in the dataset).
        example: String,
    },
    /// The server would index none of the files for the chosen data type,
    /// so the dataset would be created empty. Checked before any request:
    /// nothing was sent.
    #[error("none of the {files} files (such as `{example}`) would be indexed as data type `{data_type}`: {}; give the right data type, or convert the files", indexed_as(suffixes))]
    NotIndexable {
        /// The chosen data type.
        data_type: DataType,
        /// The suffixes indexed for it (empty for a type the SDK does not know).
        suffixes: Vec<String>,
        /// The files of the upload.
        files: usize,
        /// One of them (its path in the dataset).
        example: String,
    },
}

/// One data type met among an upload's files ([`UploadError::MixedDataTypes`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct KindCount {
    /// The data type the files' suffixes name.
    pub data_type: DataType,
    /// How many files name it.
    pub files: usize,
    /// One of them (its path in the dataset).
    pub example: String,
}

/// `2 image such as `a.jpg`, 1 video such as `b.mp4``.
fn counts(kinds: &[KindCount]) -> String {
    let each = kinds
        .iter()
        .map(|k| format!("{} {} such as `{}`", k.files, k.data_type, k.example));
    each.collect::<Vec<_>>().join(", ")
}

/// What the server indexes for a type, in words.
fn indexed_as(suffixes: &[String]) -> String {
    if suffixes.is_empty() {
        return "the SDK does not know which files the server indexes for it".to_owned();
    }
    format!("the server indexes only {} for it", suffixes.join(", "))
}

impl From<UploadError> for crate::Error {
    fn from(e: UploadError) -> Self {
        Self::Upload(Box::new(e))
    }
}

//! [`ResolvedDataset::download_all`]: every object into a directory,
//! `workers` at a time.
//!
//! 1. The whole manifest is listed (and checked) first; logical paths that
//!    would name one file on a case-insensitive or normalising file system
//!    (compared after lower-casing and NFC) are refused.
//! 2. Every target is looked at (the rules of `local`): kept when it has
//!    the object's size and SHA-256, refused when it differs (unless
//!    `overwrite`), is a link or is not a file. All of it before the first
//!    byte is fetched.
//! 3. The rest is fetched, `workers` objects at a time, each verified as it
//!    streams and named only once verified. After the first failure no
//!    object starts; those in flight end, then the error is returned: what
//!    was named stays, no temporary file is left.

use std::{
    collections::HashMap,
    fmt,
    future::{Future, IntoFuture},
    path::{Path, PathBuf},
    pin::Pin,
    sync::{
        atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
        Arc,
    },
};

use futures::{stream, StreamExt, TryStreamExt};
use unicode_normalization::UnicodeNormalization;

use super::{
    local::{self, Existing, Place},
    ResolvedDataset, ResolvedObject,
};
use crate::{Error, Result};

/// Objects fetched at the same time unless set.
const DEFAULT_WORKERS: usize = 8;
/// The most objects fetched at the same time.
const MAX_WORKERS: usize = 64;

/// One step of a [`DatasetDownload`], passed to its
/// [`on_progress`](DatasetDownload::on_progress) callback with the running
/// totals.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DownloadProgress {
    /// The object's logical path.
    pub path: String,
    /// What happened to it.
    pub event: DownloadEvent,
    /// Objects finished (fetched or kept) so far.
    pub files_done: usize,
    /// Objects in the dataset.
    pub files_total: usize,
    /// Bytes finished (fetched, or kept) so far.
    pub bytes_done: u64,
    /// Bytes of all the objects.
    pub bytes_total: u64,
    /// Bytes fetched in this run.
    pub bytes_fetched: u64,
}

/// What happened to an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DownloadEvent {
    /// Its fetch started.
    Started {
        /// Its size in bytes.
        size: u64,
    },
    /// This many more of its bytes arrived, verified so far.
    BytesReceived(u64),
    /// It is fetched, verified and named.
    Done,
    /// A file with its size and SHA-256 was already there: not fetched.
    Kept,
}

/// What a [`DatasetDownload`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DownloadReport {
    /// Objects fetched and written.
    pub files_fetched: usize,
    /// Objects already there, with their size and SHA-256.
    pub files_kept: usize,
    /// Bytes fetched.
    pub bytes_fetched: u64,
    /// Bytes of the kept files.
    pub bytes_kept: u64,
}

type Callback = crate::Callback<DownloadProgress>;

/// A download of every object of a dataset into a directory, as
/// `<dir>/<logical path>`; made by [`ResolvedDataset::download_all`], run
/// by awaiting it. A second run after an interruption fetches only what is
/// missing.
#[must_use = "nothing is downloaded until it is awaited"]
pub struct DatasetDownload {
    dataset: ResolvedDataset,
    dir: PathBuf,
    workers: usize,
    overwrite: bool,
    on_progress: Option<Callback>,
}

impl fmt::Debug for DatasetDownload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatasetDownload")
            .field("dataset", &self.dataset)
            .field("dir", &self.dir)
            .field("workers", &self.workers)
            .field("overwrite", &self.overwrite)
            .finish_non_exhaustive()
    }
}

impl ResolvedDataset {
    /// Downloads every object into `dir` (created if missing), verified.
    /// See [`DatasetDownload`] for its settings and its rules.
    pub fn download_all(&self, dir: impl AsRef<Path>) -> DatasetDownload {
        DatasetDownload {
            dataset: self.clone(),
            dir: dir.as_ref().to_owned(),
            workers: DEFAULT_WORKERS,
            overwrite: false,
            on_progress: None,
        }
    }
}

impl DatasetDownload {
    /// Objects fetched at the same time: 1 to 64 (default 8); another value
    /// is an [`InvalidArgument`](crate::Error::InvalidArgument) before any
    /// request.
    pub fn workers(mut self, workers: usize) -> Self {
        self.workers = workers;
        self
    }

    /// Replace files that differ from their object (default `false`: the
    /// download then fails with
    /// [`Error::FileConflict`](crate::Error::FileConflict), naming them,
    /// before the first byte is fetched). Links and directories are never
    /// replaced.
    pub fn overwrite(mut self, overwrite: bool) -> Self {
        self.overwrite = overwrite;
        self
    }

    /// Called on every [`DownloadProgress`] step, from the downloading
    /// tasks: keep it quick.
    pub fn on_progress<F>(mut self, f: F) -> Self
    where
        F: Fn(&DownloadProgress) + Send + Sync + 'static,
    {
        self.on_progress = Some(Arc::new(f));
        self
    }

    /// Runs the download (what `.await` does).
    pub async fn send(self) -> Result<DownloadReport> {
        let workers = crate::config::workers(self.workers, MAX_WORKERS)?;
        let objects: Vec<ResolvedObject> = self.dataset.objects().try_collect().await?;
        check_collisions(objects.iter().map(ResolvedObject::logical_path))?;
        let places = objects
            .iter()
            .map(|o| Place::below(&self.dir, o.logical_path()))
            .collect::<Result<Vec<_>>>()?;
        let existing = inspect_all(&objects, &places, workers).await?;
        refuse_differing(&places, &existing, self.overwrite)?;

        let tracker = Tracker::new(&objects, self.on_progress);
        let mut fetch = Vec::new();
        for ((object, place), existing) in objects.into_iter().zip(places).zip(existing) {
            match existing {
                Existing::Same => tracker.kept(&object),
                other => fetch.push((object, place, other == Existing::Differs)),
            }
        }
        if !fetch.is_empty() {
            let dir = self.dir.clone();
            local::blocking(move || {
                std::fs::create_dir_all(&dir).map_err(|e| local::local(&dir, "creating", e))
            })
            .await?;
        }
        // After a failure no object starts; those in flight finish (so no
        // file gets its name after this returns), then the first error is
        // returned.
        let (tracker, failed) = (&tracker, &AtomicBool::new(false));
        let results: Vec<Result<()>> = stream::iter(fetch)
            .map(|(object, place, replace)| async move {
                if failed.load(Ordering::SeqCst) {
                    return Ok(());
                }
                tracker.started(&object);
                let fetched = object
                    .fetch_to(&place, replace, &|n| tracker.received(&object, n))
                    .await;
                match &fetched {
                    Ok(()) => tracker.done(&object),
                    Err(_) => failed.store(true, Ordering::SeqCst),
                }
                fetched
            })
            .buffer_unordered(workers)
            .collect()
            .await;
        results.into_iter().collect::<Result<()>>()?;
        Ok(tracker.report())
    }

    /// [`send`](Self::send), blocking the thread until the download ends
    /// (see [`crate::blocking`]).
    #[cfg(feature = "blocking")]
    pub fn send_blocking(self) -> Result<DownloadReport> {
        let engine = self.dataset.loaded.transport.blocking.clone();
        engine.run(self.send())
    }
}

impl IntoFuture for DatasetDownload {
    type Output = Result<DownloadReport>;
    type IntoFuture = Pin<Box<dyn Future<Output = Result<DownloadReport>> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.send())
    }
}

/// A logical path as a file system that ignores case and normalisation
/// would see it: lower-cased, in NFC.
fn fold(logical: &str) -> String {
    logical.nfd().flat_map(char::to_lowercase).nfc().collect()
}

/// Refuses two paths that fold to the same name, and a path that folds to
/// a directory of another (a file where a directory must be).
fn check_collisions<'a>(paths: impl Iterator<Item = &'a str>) -> Result<()> {
    let collide = |a: &str, b: &str| {
        Error::Integrity {
        message: format!(
            "the object paths {a:?} and {b:?} would be the same file on a case-insensitive or normalising file system"
        ),
    }
    };
    let mut files: HashMap<String, &str> = HashMap::new();
    let mut dirs: HashMap<String, &str> = HashMap::new();
    for path in paths {
        let key = fold(path);
        for (i, _) in key.match_indices('/') {
            dirs.entry(key[..i].to_owned()).or_insert(path);
        }
        if let Some(other) = files.insert(key, path) {
            return Err(collide(other, path));
        }
    }
    for (key, path) in &files {
        if let Some(other) = dirs.get(key) {
            return Err(collide(path, other));
        }
    }
    Ok(())
}

/// Looks at every target, `workers` at a time (hashing what may be kept).
async fn inspect_all(
    objects: &[ResolvedObject],
    places: &[Place],
    workers: usize,
) -> Result<Vec<Existing>> {
    let targets: Vec<(Place, u64, String)> = objects
        .iter()
        .zip(places)
        .map(|(o, p)| (p.clone(), o.size_bytes(), o.sha256().to_owned()))
        .collect();
    stream::iter(targets)
        .map(|(place, size, sha256)| local::blocking(move || local::inspect(&place, size, &sha256)))
        .buffered(workers)
        .try_collect()
        .await
}

/// Without `overwrite`, one refusal naming the differing files.
fn refuse_differing(places: &[Place], existing: &[Existing], overwrite: bool) -> Result<()> {
    if overwrite {
        return Ok(());
    }
    let differing: Vec<PathBuf> = places
        .iter()
        .zip(existing)
        .filter(|(_, e)| **e == Existing::Differs)
        .map(|(p, _)| p.path())
        .collect();
    match differing.split_first() {
        Some((first, others)) => Err(local::differs(first, others)),
        None => Ok(()),
    }
}

/// The running totals, and the callback they are reported to.
struct Tracker {
    files_total: usize,
    bytes_total: u64,
    files_done: AtomicUsize,
    files_fetched: AtomicUsize,
    files_kept: AtomicUsize,
    bytes_done: AtomicU64,
    bytes_fetched: AtomicU64,
    bytes_kept: AtomicU64,
    callback: Option<Callback>,
}

impl Tracker {
    fn new(objects: &[ResolvedObject], callback: Option<Callback>) -> Self {
        Self {
            files_total: objects.len(),
            bytes_total: objects.iter().map(ResolvedObject::size_bytes).sum(),
            files_done: AtomicUsize::new(0),
            files_fetched: AtomicUsize::new(0),
            files_kept: AtomicUsize::new(0),
            bytes_done: AtomicU64::new(0),
            bytes_fetched: AtomicU64::new(0),
            bytes_kept: AtomicU64::new(0),
            callback,
        }
    }

    fn kept(&self, object: &ResolvedObject) {
        self.files_kept.fetch_add(1, Ordering::SeqCst);
        self.files_done.fetch_add(1, Ordering::SeqCst);
        self.bytes_kept
            .fetch_add(object.size_bytes(), Ordering::SeqCst);
        self.bytes_done
            .fetch_add(object.size_bytes(), Ordering::SeqCst);
        self.emit(object, DownloadEvent::Kept);
    }

    fn started(&self, object: &ResolvedObject) {
        let size = object.size_bytes();
        self.emit(object, DownloadEvent::Started { size });
    }

    fn received(&self, object: &ResolvedObject, bytes: u64) {
        self.bytes_fetched.fetch_add(bytes, Ordering::SeqCst);
        self.bytes_done.fetch_add(bytes, Ordering::SeqCst);
        self.emit(object, DownloadEvent::BytesReceived(bytes));
    }

    fn done(&self, object: &ResolvedObject) {
        self.files_fetched.fetch_add(1, Ordering::SeqCst);
        self.files_done.fetch_add(1, Ordering::SeqCst);
        self.emit(object, DownloadEvent::Done);
    }

    fn emit(&self, object: &ResolvedObject, event: DownloadEvent) {
        if let Some(callback) = &self.callback {
            callback(&DownloadProgress {
                path: object.logical_path().to_owned(),
                event,
                files_done: self.files_done.load(Ordering::SeqCst),
                files_total: self.files_total,
                bytes_done: self.bytes_done.load(Ordering::SeqCst),
                bytes_total: self.bytes_total,
                bytes_fetched: self.bytes_fetched.load(Ordering::SeqCst),
            });
        }
    }

    fn report(&self) -> DownloadReport {
        DownloadReport {
            files_fetched: self.files_fetched.load(Ordering::SeqCst),
            files_kept: self.files_kept.load(Ordering::SeqCst),
            bytes_fetched: self.bytes_fetched.load(Ordering::SeqCst),
            bytes_kept: self.bytes_kept.load(Ordering::SeqCst),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_that_one_file_system_would_merge_collide() {
        let ok = ["a/x.bin", "a/y.bin", "b", "é/x"];
        assert!(check_collisions(ok.into_iter()).is_ok());
        for pair in [
            ["Frames/a.bin", "frames/A.bin"],
            // U+212B ANGSTROM SIGN and U+00C5 are one letter after NFC.
            ["\u{212b}.bin", "\u{c5}.bin"],
            ["\u{c5}.bin", "\u{e5}.bin"],
            // A file where another path needs a directory.
            ["a", "A/b"],
        ] {
            let err = check_collisions(pair.into_iter()).unwrap_err();
            assert!(matches!(err, Error::Integrity { .. }), "{pair:?}: {err}");
        }
    }
}

//! The resume state: one JSON file per destination (API root, owner,
//! dataset name, state key) holding the batch id and the files already
//! uploaded. Written atomically (temp file + rename), private (0600 on Unix).

use std::{
    collections::BTreeMap,
    io::Write,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{inventory::Stamp, lock::Lock, UploadError};

const FORMAT: &str = "avala-dataset-upload";
const VERSION: u32 = 1;
/// At most one write per this interval while files complete (and always at
/// the end or on an error): a lost record only means a file is sent again.
const FLUSH_EVERY: Duration = Duration::from_secs(1);

/// Where the state of an upload belongs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Destination {
    pub(crate) base_url: String,
    /// `o:<organization uid>`, `u:<user uid>` or `unknown`.
    pub(crate) owner: String,
    pub(crate) dataset_name: String,
    pub(crate) key: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct Document {
    format: String,
    version: u32,
    destination: Destination,
    batch_id: String,
    /// Path in the dataset → stamp of the local file that was uploaded.
    files: BTreeMap<String, Stamp>,
}

/// The state of one upload, in memory, with its file.
#[derive(Debug)]
pub(crate) struct State {
    saved: Saved<Document>,
}

/// A document on disk (an upload's state or receipts): written atomically,
/// at most once a second while it changes and always on
/// [`flush`](Self::flush), with the upload's lock held while it lives.
#[derive(Debug)]
pub(crate) struct Saved<T> {
    /// Held while the upload runs: a second run of it is refused.
    lock: Lock,
    path: PathBuf,
    pub(crate) doc: T,
    dirty: bool,
    last_write: Option<Instant>,
}

impl<T: Serialize> Saved<T> {
    /// `doc` at `path` (claimed with [`claim`]); `dirty` when it is not
    /// what the file holds yet.
    pub(crate) fn new(lock: Lock, path: PathBuf, doc: T, dirty: bool) -> Self {
        Self {
            lock,
            path,
            doc,
            dirty,
            last_write: None,
        }
    }

    /// The file.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Notes that the document changed: the next flush writes it.
    pub(crate) fn changed(&mut self) {
        self.dirty = true;
    }

    /// Notes a change and writes it when the last write is older than a
    /// second (a lost record only means work done again, never corruption).
    pub(crate) fn changed_soon(&mut self) -> Result<(), UploadError> {
        self.dirty = true;
        if self.last_write.is_none_or(|t| t.elapsed() >= FLUSH_EVERY) {
            self.flush()?;
        }
        Ok(())
    }

    /// Writes the document if it changed since the last write.
    pub(crate) fn flush(&mut self) -> Result<(), UploadError> {
        if !self.dirty {
            return Ok(());
        }
        save(&self.path, &self.doc)?;
        self.dirty = false;
        self.last_write = Some(Instant::now());
        Ok(())
    }

    /// Deletes the file and its lock file (the upload is finished).
    pub(crate) fn remove(self) -> Result<(), UploadError> {
        match std::fs::remove_file(&self.path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(UploadError::State {
                message: format!("could not be removed after the upload finished ({e}); delete it"),
                path: self.path,
            }),
            _ => {
                self.lock.remove();
                Ok(())
            }
        }
    }
}

/// The default directory: `<data dir>/avala/uploads/datasets`.
pub(crate) fn default_dir() -> Option<PathBuf> {
    Some(
        dirs::data_dir()?
            .join("avala")
            .join("uploads")
            .join("datasets"),
    )
}

impl State {
    /// The state for `dest` under `dir`: read back when `resume` and a file
    /// exists, else new with a fresh batch id. A file that cannot be used is
    /// an error, never silently replaced.
    pub(crate) fn open(dir: &Path, dest: Destination, resume: bool) -> Result<Self, UploadError> {
        let identity = serde_json::to_string(&dest).unwrap_or_default();
        let (path, lock) = claim(dir, &identity)?;
        let fresh = |path: PathBuf, lock: Lock| Self {
            saved: Saved::new(
                lock,
                path,
                Document {
                    format: FORMAT.to_owned(),
                    version: VERSION,
                    destination: dest.clone(),
                    batch_id: uuid::Uuid::new_v4().to_string(),
                    files: BTreeMap::new(),
                },
                true,
            ),
        };
        if !resume {
            return Ok(fresh(path, lock));
        }
        let text = match std::fs::read(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(fresh(path, lock)),
            Err(e) => {
                return Err(UploadError::State {
                    message: format!(
                        "cannot be read ({e}); fix its permissions, or delete it to start over"
                    ),
                    path,
                })
            }
        };
        let start_over = "delete the file (or upload with resume(false)) to start over";
        let doc: Document = match serde_json::from_slice(&text) {
            Ok(doc) => doc,
            Err(e) => {
                return Err(UploadError::State {
                    message: format!("is corrupt ({e}); {start_over}"),
                    path,
                })
            }
        };
        if doc.format != FORMAT || doc.version != VERSION {
            return Err(UploadError::State {
                message: format!("is not an upload state of this SDK version; {start_over}"),
                path,
            });
        }
        if doc.destination != dest {
            return Err(UploadError::State {
                message: format!(
                    "belongs to another upload (dataset `{}`); {start_over}",
                    doc.destination.dataset_name
                ),
                path,
            });
        }
        if uuid::Uuid::parse_str(&doc.batch_id).map(|u| u.get_version_num()) != Ok(4) {
            return Err(UploadError::State {
                message: format!("holds a batch id that is not a UUID v4; {start_over}"),
                path,
            });
        }
        Ok(Self {
            saved: Saved::new(lock, path, doc, false),
        })
    }

    /// The batch id (`dataset_upload_uid`) of this upload.
    pub(crate) fn batch_id(&self) -> &str {
        &self.saved.doc.batch_id
    }

    /// The state file.
    #[cfg(test)]
    pub(crate) fn path(&self) -> &Path {
        self.saved.path()
    }

    /// Whether `remote` was uploaded from a file with this very stamp.
    pub(crate) fn is_done(&self, remote: &str, stamp: &Stamp) -> bool {
        self.saved.doc.files.get(remote) == Some(stamp)
    }

    /// Records `remote` as uploaded, writing the file when the last write is
    /// older than a second.
    pub(crate) fn mark_done(&mut self, remote: &str, stamp: Stamp) -> Result<(), UploadError> {
        self.saved.doc.files.insert(remote.to_owned(), stamp);
        self.saved.changed_soon()
    }

    /// Writes the state if it changed since the last write.
    pub(crate) fn flush(&mut self) -> Result<(), UploadError> {
        self.saved.flush()
    }

    /// Deletes the state file (the upload is finished).
    pub(crate) fn remove(self) -> Result<(), UploadError> {
        self.saved.remove()
    }
}

/// The state file under `dir` of the upload that `identity` names (hashed:
/// the name is always valid and reveals nothing), with its lock taken, so
/// that one run at a time uses it. Dataset states and Fleet receipts alike.
pub(crate) fn claim(dir: &Path, identity: &str) -> Result<(PathBuf, Lock), UploadError> {
    let digest = Sha256::digest(identity.as_bytes());
    let path = dir.join(format!("{}.json", crate::digest::hex(&digest[..16])));
    let lock = Lock::take(&path)?;
    Ok((path, lock))
}

/// Writes `doc` as JSON to `path` with [`write_private`] (the dataset
/// upload state and the Fleet upload receipts).
pub(crate) fn save<T: Serialize>(path: &Path, doc: &T) -> Result<(), UploadError> {
    let bytes = serde_json::to_vec(doc).map_err(|e| UploadError::State {
        message: format!("could not be serialised: {e}"),
        path: path.to_owned(),
    })?;
    write_private(path, &bytes).map_err(|e| UploadError::State {
        message: format!("could not be written ({e}); check the state directory"),
        path: path.to_owned(),
    })
}

/// Creates `dir` and its parents, private (0700 on Unix) where created.
pub(crate) fn private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Writes `bytes` to a private temporary file next to `path`, then renames
/// it over `path`, so that a reader sees the old or the new file whole.
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    private_dir(dir)?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("state");
    let tmp = dir.join(format!(
        ".{name}.{}.{}.tmp",
        std::process::id(),
        fastrand::u64(..)
    ));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let result = (|| {
        let mut file = options.open(&tmp)?;
        file.write_all(bytes)?;
        // No fsync: the state is a cache of what is done (losing it re-sends
        // files, never corrupts them), and an fsync per write costs more than
        // a small file's upload on a busy disk. The rename keeps it whole.
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dest(name: &str) -> Destination {
        Destination {
            base_url: "https://api.avala.ai/api/v1".into(),
            owner: "o:org".into(),
            dataset_name: name.into(),
            key: "k".into(),
        }
    }

    fn tempdir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("avala-state-{}", fastrand::u64(..)));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn round_trip_private_and_keyed_by_destination() {
        let dir = tempdir();
        let stamp = Stamp {
            size: 3,
            mtime_ns: 7,
            inode: 9,
        };
        let mut state = State::open(&dir, dest("a"), true).unwrap();
        let batch = state.batch_id().to_owned();
        state.mark_done("x/y.jpg", stamp).unwrap();
        state.flush().unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(state.path())
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // While the first run holds it, a second run is refused.
        let e = State::open(&dir, dest("a"), true).unwrap_err().to_string();
        assert!(e.contains("another run"), "{e}");
        drop(state);
        let again = State::open(&dir, dest("a"), true).unwrap();
        assert_eq!(again.batch_id(), batch);
        assert!(again.is_done("x/y.jpg", &stamp));
        assert!(!again.is_done("x/y.jpg", &Stamp { size: 4, ..stamp }));
        drop(again);
        let other = State::open(&dir, dest("b"), true).unwrap();
        assert_ne!(other.batch_id(), batch);
        let fresh = State::open(&dir, dest("a"), false).unwrap();
        assert_ne!(fresh.batch_id(), batch);
        // No temporary file is left behind: the state and the two locks.
        let mut names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names.len(), 3, "{names:?}");
        assert!(
            names.iter().filter(|n| n.ends_with(".json.lock")).count() == 2,
            "{names:?}"
        );
        // Removing the finished state removes its lock file too.
        let path = fresh.path().to_owned();
        fresh.remove().unwrap();
        assert!(!path.exists());
        assert!(!path.with_extension("json.lock").exists());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn corrupt_and_foreign_files_are_errors_that_say_how_to_start_over() {
        let dir = tempdir();
        let mut state = State::open(&dir, dest("a"), true).unwrap();
        state.flush().unwrap();
        let path = state.path().to_owned();
        drop(state);
        std::fs::write(&path, b"{not json").unwrap();
        let e = State::open(&dir, dest("a"), true).unwrap_err();
        assert!(
            e.to_string().contains("corrupt") && e.to_string().contains("delete"),
            "{e}"
        );
        // A state copied from another destination.
        let mut other = State::open(&dir, dest("b"), true).unwrap();
        other.flush().unwrap();
        std::fs::copy(other.path(), &path).unwrap();
        drop(other);
        let e = State::open(&dir, dest("a"), true).unwrap_err();
        assert!(e.to_string().contains("another upload"), "{e}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}

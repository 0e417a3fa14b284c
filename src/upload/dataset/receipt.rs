//! The dataset upload's resume state (§9.1): one JSON file per destination
//! (API root, owner, dataset name, state key) holding the batch id and the
//! files already uploaded, kept by the one state store ([`Saved`], as a
//! [`Durability::Cache`]: losing its last write only sends files again).

use std::{collections::BTreeMap, path::Path};

use serde::{Deserialize, Serialize};

use crate::upload::{
    inventory::Stamp,
    store::{self, Durability, Saved},
    UploadError,
};

const KIND: store::Kind = store::Kind {
    format: "avala-dataset-upload",
    version: 1,
    what: "an upload state",
    start_over: "delete the file (or upload with resume(false)) to start over",
    max_bytes: store::MAX_STATE_BYTES,
    durability: Durability::Cache,
};

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

impl State {
    /// The state for `dest` under `dir`: read back when `resume` and a file
    /// exists, else new with a fresh batch id. A file that cannot be used is
    /// an error, never silently replaced.
    pub(crate) fn open(dir: &Path, dest: Destination, resume: bool) -> Result<Self, UploadError> {
        let identity = serde_json::to_string(&dest).unwrap_or_default();
        let (claimed, doc) = store::open::<Document>(dir, &identity, &KIND, resume)?;
        let Some(doc) = doc else {
            let saved = claimed.fresh(Document {
                format: KIND.format.to_owned(),
                version: KIND.version,
                destination: dest,
                batch_id: uuid::Uuid::new_v4().to_string(),
                files: BTreeMap::new(),
            });
            return Ok(Self { saved });
        };
        if doc.destination != dest {
            return Err(claimed.unusable(format!(
                "belongs to another upload (dataset `{}`)",
                doc.destination.dataset_name
            )));
        }
        if uuid::Uuid::parse_str(&doc.batch_id).map(|u| u.get_version_num()) != Ok(4) {
            return Err(claimed.unusable("holds a batch id that is not a UUID v4"));
        }
        Ok(Self {
            saved: claimed.keep(doc),
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

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

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

    /// A state written by the version before the one state store (file
    /// name and JSON exactly as it wrote them) resumes: same batch, and the
    /// uploaded file is not sent again.
    #[test]
    fn a_state_of_the_previous_version_resumes() {
        let dir = tempdir();
        let old = r#"{"format":"avala-dataset-upload","version":1,"destination":{"base_url":"https://api.avala.ai/api/v1","owner":"o:org","dataset_name":"a","key":"k"},"batch_id":"0d4f5e6a-7b8c-4d9e-a0f1-2b3c4d5e6f70","files":{"x/y.jpg":{"size":3,"mtime_ns":7,"inode":9}}}"#;
        std::fs::write(dir.join("7ee1cf5db3390482344bb249e9f0e510.json"), old).unwrap();
        let state = State::open(&dir, dest("a"), true).unwrap();
        assert_eq!(state.batch_id(), "0d4f5e6a-7b8c-4d9e-a0f1-2b3c4d5e6f70");
        let stamp = Stamp {
            size: 3,
            mtime_ns: 7,
            inode: 9,
        };
        assert!(state.is_done("x/y.jpg", &stamp));
        drop(state);
        std::fs::remove_dir_all(dir).unwrap();
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

    #[cfg(unix)]
    #[test]
    fn a_symlink_at_the_state_path_is_refused_and_its_target_untouched() {
        let dir = tempdir();
        let mut state = State::open(&dir, dest("a"), true).unwrap();
        state.flush().unwrap();
        let path = state.path().to_owned();
        drop(state);
        // The link points at a valid state (read through, it would be used
        // and then written over) kept elsewhere.
        let elsewhere = dir.join("elsewhere.json");
        std::fs::rename(&path, &elsewhere).unwrap();
        let before = std::fs::read(&elsewhere).unwrap();
        std::os::unix::fs::symlink(&elsewhere, &path).unwrap();
        let e = State::open(&dir, dest("a"), true).unwrap_err();
        assert!(matches!(e, UploadError::StateNotPrivate { .. }), "{e:?}");
        assert!(e.to_string().contains("symbolic link"), "{e}");
        assert_eq!(std::fs::read(&elsewhere).unwrap(), before);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn a_state_dir_is_created_private_and_a_shared_one_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let root = tempdir();
        let dir = root.join("new").join("states");
        State::open(&dir, dest("a"), true).unwrap();
        for created in [&dir, &root.join("new")] {
            let mode = std::fs::metadata(created).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o700, "{}", created.display());
        }
        for mode in [0o777, 0o770, 0o702] {
            let shared = tempdir();
            std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(mode)).unwrap();
            let e = State::open(&shared, dest("a"), true).unwrap_err();
            match &e {
                UploadError::StateNotPrivate { path, reason } => {
                    assert_eq!(path, &shared);
                    assert!(reason.contains("writable"), "{reason}");
                }
                other => panic!("{mode:o}: {other:?}"),
            }
            // Nothing was written there.
            assert_eq!(std::fs::read_dir(&shared).unwrap().count(), 0);
            std::fs::remove_dir_all(shared).unwrap();
        }
        std::fs::remove_dir_all(root).unwrap();
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

//! The resume state of a managed upload: one private JSON file per API root
//! and recording, kept by the shared store ([`Saved`], as a
//! [`Durability::Record`]: written atomically and fsynced) after every fact
//! the server confirmed, and never deleted by the SDK (Python keeps its
//! receipt too: it is the only record of the session uid).

use std::{collections::BTreeMap, path::Path};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::digest;
use crate::upload::{
    fleet::RecordingFile,
    store::{self, Durability, Saved},
    UploadError,
};

const KIND: store::Kind = store::Kind {
    format: "avala-fleet-managed-upload",
    version: 1,
    what: "a managed Fleet upload receipt",
    start_over: "move it away to start over (a new session is admitted)",
    // A receipt is a few KiB; anything far larger is not ours.
    max_bytes: 1024 * 1024,
    durability: Durability::Record,
};

/// What the server confirmed about one original.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Original {
    pub(super) file_uid: String,
    /// The file's multipart generation, written once the init answered (or
    /// a status showed the generation of an init whose answer was lost);
    /// `None`: the next run sends the init.
    pub(super) generation_uid: Option<String>,
    /// SHA-256 of the host, path and `uploadId` of the grant for the file's
    /// first missing part (part 1 of a new file): every later grant, in
    /// this run and the next, must name the same destination.
    pub(super) pin: Option<String>,
    pub(super) verified: bool,
}

/// The receipt's content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Receipt {
    format: String,
    version: u32,
    pub(super) api_root: String,
    pub(super) recording_uid: String,
    /// Client-generated (UUID v4), saved before the admit.
    pub(super) session_uid: String,
    /// [`manifest_digest`] of the files admitted.
    pub(super) manifest_sha256: String,
    /// Originals by path; empty until the admit (or a status) answered.
    pub(super) originals: BTreeMap<String, Original>,
    /// The finalize was sent.
    pub(super) finalizing: bool,
    pub(super) finalization_uid: Option<String>,
    pub(super) publication_uid: Option<String>,
    pub(super) dataset_uid: Option<String>,
}

/// What names the receipt's file: the protocol, the API root and the
/// recording. The protocol keeps it apart from the legacy receipt of the
/// same recording (`"{api_root}\n{recording_uid}"`) in a shared state
/// directory.
fn identity(api_root: &str, recording_uid: &str) -> String {
    format!("fleet-managed-mcap-v1\n{api_root}\n{recording_uid}")
}

/// SHA-256 over every file's path, size and content hash, in path order.
pub(super) fn manifest_digest(files: &[RecordingFile]) -> String {
    let mut hasher = Sha256::new();
    for file in files {
        hasher.update(format!(
            "{}\n{}\n{}\n",
            file.path, file.stamp.size, file.sha256
        ));
    }
    digest::hex(&hasher.finalize())
}

impl Saved<Receipt> {
    /// The receipt of `recording_uid` on `api_root` under `dir`: read back
    /// when one exists (it must be for the same files), else a new session
    /// saved before anything is sent.
    pub(super) fn open(
        dir: &Path,
        api_root: &str,
        recording_uid: &str,
        files: &[RecordingFile],
    ) -> crate::Result<Self> {
        let identity = identity(api_root, recording_uid);
        let (claimed, doc) = store::open::<Receipt>(dir, &identity, &KIND, true)?;
        let manifest = manifest_digest(files);
        let Some(value) = doc else {
            let mut store = claimed.fresh(Receipt {
                format: KIND.format.to_owned(),
                version: KIND.version,
                api_root: api_root.to_owned(),
                recording_uid: recording_uid.to_owned(),
                session_uid: uuid::Uuid::new_v4().to_string(),
                manifest_sha256: manifest,
                originals: BTreeMap::new(),
                finalizing: false,
                finalization_uid: None,
                publication_uid: None,
                dataset_uid: None,
            });
            store.flush()?;
            return Ok(store);
        };
        if value.api_root != api_root || value.recording_uid != recording_uid {
            return Err(claimed
                .unusable("belongs to another recording or API root")
                .into());
        }
        if value.manifest_sha256 != manifest {
            return Err(crate::Error::from(UploadError::Mismatch {
                message: format!(
                    "the files in the directory differ from the ones admitted in session {} \
                     (a file was added, removed or changed). Restore the original files and run \
                     again to resume, or delete {} to start a new session (the server keeps the \
                     old one)",
                    value.session_uid,
                    claimed.path().display()
                ),
            }));
        }
        Ok(claimed.keep(value))
    }

    /// Changes the original at `path` and saves.
    pub(super) fn update(
        &mut self,
        path: &str,
        change: impl FnOnce(&mut Original),
    ) -> crate::Result<()> {
        if let Some(original) = self.doc.originals.get_mut(path) {
            change(original);
        }
        Ok(self.save()?)
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::upload::inventory::Stamp;

    fn file(path: &str, sha: &str) -> RecordingFile {
        RecordingFile {
            local: PathBuf::from(path),
            path: path.to_owned(),
            stamp: Stamp {
                size: 3,
                mtime_ns: 0,
                inode: 0,
            },
            sha256: sha.to_owned(),
        }
    }

    /// A receipt written by the version before the one state store (file
    /// name and JSON exactly as it wrote them) resumes the same session
    /// with every fact it held.
    #[test]
    fn a_receipt_of_the_previous_version_resumes() {
        let dir = std::env::temp_dir().join(format!("avala-receipt-{}", fastrand::u64(..)));
        std::fs::create_dir_all(&dir).unwrap();
        let files = [file("a.mcap", "aa")];
        let old = serde_json::json!({
            "format": "avala-fleet-managed-upload", "version": 1,
            "api_root": "http://x/api/v1", "recording_uid": "r",
            "session_uid": "0d4f5e6a-7b8c-4d9e-a0f1-2b3c4d5e6f70",
            "manifest_sha256": manifest_digest(&files),
            "originals": {"a.mcap": {"file_uid": "f", "generation_uid": "g",
                                      "pin": "p", "verified": true}},
            "finalizing": false, "finalization_uid": null,
            "publication_uid": null, "dataset_uid": null,
        });
        let name = "446a87b010efd1324ece94b20670a606.json";
        std::fs::write(dir.join(name), old.to_string()).unwrap();
        let store = Saved::<Receipt>::open(&dir, "http://x/api/v1", "r", &files).unwrap();
        assert_eq!(
            store.doc.session_uid,
            "0d4f5e6a-7b8c-4d9e-a0f1-2b3c4d5e6f70"
        );
        let original = &store.doc.originals["a.mcap"];
        assert_eq!(original.generation_uid.as_deref(), Some("g"));
        assert!(original.verified);
        drop(store);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_receipt_round_trips_privately_and_refuses_other_files() {
        let dir = std::env::temp_dir().join(format!("avala-receipt-{}", fastrand::u64(..)));
        let files = [file("a.mcap", "aa")];
        let mut store = Saved::<Receipt>::open(&dir, "http://x/api/v1", "r", &files).unwrap();
        let session = store.doc.session_uid.clone();
        store
            .doc
            .originals
            .insert("a.mcap".into(), Original::default());
        store
            .update("a.mcap", |o| o.pin = Some("p".repeat(64)))
            .unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(store.path())
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // One run at a time: a second open is refused while the first holds it.
        let busy = Saved::<Receipt>::open(&dir, "http://x/api/v1", "r", &files).unwrap_err();
        assert!(busy.to_string().contains("another run"), "{busy}");
        let path = store.path().to_owned();
        drop(store);
        let again = Saved::<Receipt>::open(&dir, "http://x/api/v1", "r", &files).unwrap();
        assert_eq!(again.doc.session_uid, session);
        assert_eq!(again.doc.originals["a.mcap"].pin, Some("p".repeat(64)));
        // Another recording is another file; changed files are refused.
        let other = Saved::<Receipt>::open(&dir, "http://x/api/v1", "s", &files).unwrap();
        assert_ne!(other.doc.session_uid, session);
        drop(again);
        let e = Saved::<Receipt>::open(&dir, "http://x/api/v1", "r", &[file("a.mcap", "bb")])
            .unwrap_err();
        let mismatch = |e: &crate::Error| match e {
            crate::Error::Upload(u) => matches!(u.as_ref(), UploadError::Mismatch { .. }),
            _ => false,
        };
        assert!(mismatch(&e), "{e:?}");
        assert!(e.to_string().contains("delete"), "{e}");
        std::fs::write(&path, b"{not json").unwrap();
        let e = Saved::<Receipt>::open(&dir, "http://x/api/v1", "r", &files).unwrap_err();
        assert!(e.to_string().contains("corrupt"), "{e}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// A receipt names its recording and API root inside; one copied to
    /// the file of another recording, or of the same recording on another
    /// API root, is refused, each field on its own.
    #[test]
    fn a_receipt_under_another_recordings_name_is_refused() {
        let dir = std::env::temp_dir().join(format!("avala-receipt-{}", fastrand::u64(..)));
        let files = [file("a.mcap", "aa")];
        let root = "http://x/api/v1";
        let ours = Saved::<Receipt>::open(&dir, root, "r", &files).unwrap();
        let ours_path = ours.path().to_owned();
        drop(ours);
        for (other_root, other_uid) in [(root, "s"), ("http://y/api/v1", "r")] {
            let other = Saved::<Receipt>::open(&dir, other_root, other_uid, &files).unwrap();
            let other_path = other.path().to_owned();
            drop(other);
            std::fs::copy(&ours_path, &other_path).unwrap();
            let e = Saved::<Receipt>::open(&dir, other_root, other_uid, &files).unwrap_err();
            assert!(
                e.to_string()
                    .contains("belongs to another recording or API root"),
                "{other_root} {other_uid}: {e}"
            );
        }
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// A recording of many files keeps a receipt of many KiB: it resumes.
    #[test]
    fn a_receipt_of_many_originals_resumes() {
        let dir = std::env::temp_dir().join(format!("avala-receipt-{}", fastrand::u64(..)));
        let files: Vec<_> = (0..64)
            .map(|i| file(&format!("part-{i:02}.mcap"), &"a".repeat(64)))
            .collect();
        let mut store = Saved::<Receipt>::open(&dir, "http://x/api/v1", "r", &files).unwrap();
        let session = store.doc.session_uid.clone();
        for f in &files {
            store
                .doc
                .originals
                .insert(f.path.clone(), Original::default());
            store
                .update(&f.path, |o| o.pin = Some("p".repeat(64)))
                .unwrap();
        }
        let size = std::fs::metadata(store.path()).unwrap().len();
        assert!(size > 8 * 1024, "{size}");
        drop(store);
        let again = Saved::<Receipt>::open(&dir, "http://x/api/v1", "r", &files).unwrap();
        assert_eq!(again.doc.session_uid, session);
        assert_eq!(again.doc.originals.len(), 64);
        drop(again);
        std::fs::remove_dir_all(dir).unwrap();
    }
}

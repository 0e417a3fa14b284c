//! The receipts of a legacy Fleet upload: what a later run needs to resume
//! without sending a confirmed byte twice. One private JSON file per API
//! root and recording, written atomically and fsynced (the receipts alone
//! say which server session is ours): the manifest sent to init (path,
//! size, SHA-256), the session and its `s3_prefix` once init answered, and
//! every confirmed file with its ETag and the stamp it had.

use std::{collections::BTreeMap, path::Path};

use crate::upload::{
    fleet::RecordingFile,
    inventory::Stamp,
    store::{self, Durability, Saved},
    UploadError,
};
use serde::{Deserialize, Serialize};

const KIND: store::Kind = store::Kind {
    format: "avala-fleet-legacy-upload",
    version: 1,
    what: "a Fleet upload receipt",
    start_over: "restore it from a backup, or move it away to start a new upload (the server may then refuse while an earlier session exists)",
    max_bytes: store::MAX_STATE_BYTES,
    durability: Durability::Record,
};

/// One file of the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Entry {
    pub(crate) size: u64,
    pub(crate) sha256: String,
}

/// A confirmed file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Receipt {
    pub(crate) etag: String,
    pub(crate) stamp: Stamp,
}

/// The session init opened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Session {
    pub(crate) uid: String,
    pub(crate) s3_prefix: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct Document {
    format: String,
    version: u32,
    api_root: String,
    recording_uid: String,
    manifest: BTreeMap<String, Entry>,
    /// `None` until init's answer passed its checks.
    session: Option<Session>,
    confirmed: BTreeMap<String, Receipt>,
}

/// The receipts of one recording upload, with their file.
#[derive(Debug)]
pub(crate) struct Receipts {
    saved: Saved<Document>,
}

impl Receipts {
    /// The receipts for `recording_uid` at `api_root` under `dir`, read
    /// back when a file exists (a file that cannot be used is an error,
    /// never silently replaced), else new for `files`.
    pub(crate) fn open(
        dir: &Path,
        api_root: &str,
        recording_uid: &str,
        files: &[RecordingFile],
    ) -> Result<Self, UploadError> {
        // The managed receipt of the same recording prefixes its protocol,
        // so the two never share a file.
        let identity = format!("{api_root}\n{recording_uid}");
        let (claimed, doc) = store::open::<Document>(dir, &identity, &KIND, true)?;
        let manifest = files
            .iter()
            .map(|f| {
                let entry = Entry {
                    size: f.stamp.size,
                    sha256: f.sha256.clone(),
                };
                (f.path.clone(), entry)
            })
            .collect();
        let Some(doc) = doc else {
            let saved = claimed.fresh(Document {
                format: KIND.format.to_owned(),
                version: KIND.version,
                api_root: api_root.to_owned(),
                recording_uid: recording_uid.to_owned(),
                manifest,
                session: None,
                confirmed: BTreeMap::new(),
            });
            return Ok(Self { saved });
        };
        if doc.api_root != api_root || doc.recording_uid != recording_uid {
            return Err(claimed.unusable(format!(
                "belongs to recording {} at {}",
                doc.recording_uid, doc.api_root
            )));
        }
        let mut receipts = Self {
            saved: claimed.keep(doc),
        };
        if receipts.saved.doc.session.is_none() {
            // Init was sent but its answer not kept: the manifest may be
            // replaced as long as the server proves it has no session.
            receipts.saved.doc.manifest = manifest;
            receipts.saved.changed();
        }
        Ok(receipts)
    }

    /// The receipts file.
    pub(crate) fn path(&self) -> &Path {
        self.saved.path()
    }

    pub(crate) fn session(&self) -> Option<&Session> {
        self.saved.doc.session.as_ref()
    }

    /// The first local file that differs from the manifest the session was
    /// opened with (changed, added or removed), with what differs.
    pub(crate) fn changed(&self, files: &[RecordingFile]) -> Option<(String, &'static str)> {
        for file in files {
            match self.saved.doc.manifest.get(&file.path) {
                None => return Some((file.path.clone(), "was added")),
                Some(e) if e.size != file.stamp.size || e.sha256 != file.sha256 => {
                    return Some((file.path.clone(), "has other contents"))
                }
                Some(_) => {}
            }
        }
        if files.len() != self.saved.doc.manifest.len() {
            let here: std::collections::HashSet<&str> =
                files.iter().map(|f| f.path.as_str()).collect();
            return self
                .saved
                .doc
                .manifest
                .iter()
                .find(|(p, _)| !here.contains(p.as_str()))
                .map(|(p, _)| (p.clone(), "was removed"));
        }
        None
    }

    /// The paths whose confirmation the server acknowledged.
    pub(crate) fn confirmed(&self) -> impl Iterator<Item = &str> {
        self.saved.doc.confirmed.keys().map(String::as_str)
    }

    pub(crate) fn set_session(&mut self, session: Session) -> Result<(), UploadError> {
        self.saved.doc.session = Some(session);
        self.saved.changed();
        self.flush()
    }

    /// Records acknowledged confirmations, writing at most once a second.
    pub(crate) fn confirm(
        &mut self,
        files: impl IntoIterator<Item = (String, Receipt)>,
    ) -> Result<(), UploadError> {
        self.saved.doc.confirmed.extend(files);
        self.saved.changed_soon()
    }

    /// Writes the receipts if they changed since the last write.
    pub(crate) fn flush(&mut self) -> Result<(), UploadError> {
        self.saved.flush()
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn file(path: &str, size: u64, sha: &str) -> RecordingFile {
        RecordingFile {
            local: PathBuf::from(path),
            path: path.to_owned(),
            stamp: Stamp {
                size,
                mtime_ns: 1,
                inode: 2,
            },
            sha256: sha.to_owned(),
        }
    }

    /// Receipts written by the version before the one state store (file
    /// name and JSON exactly as it wrote them) resume the same session:
    /// the confirmed file is not sent again.
    #[test]
    fn receipts_of_the_previous_version_resume() {
        let dir = std::env::temp_dir().join(format!("avala-receipts-{}", fastrand::u64(..)));
        std::fs::create_dir_all(&dir).unwrap();
        let old = r#"{"format":"avala-fleet-legacy-upload","version":1,"api_root":"http://x/api/v1","recording_uid":"r","manifest":{"a":{"size":1,"sha256":"aa"}},"session":{"uid":"s","s3_prefix":"fleet/o/r/"},"confirmed":{"a":{"etag":"e","stamp":{"size":1,"mtime_ns":1,"inode":2}}}}"#;
        std::fs::write(dir.join("9633dbfc8ebf078c92b57c0cdef21dbe.json"), old).unwrap();
        let files = vec![file("a", 1, "aa")];
        let r = Receipts::open(&dir, "http://x/api/v1", "r", &files).unwrap();
        assert_eq!(r.session().map(|s| s.uid.as_str()), Some("s"));
        assert_eq!(r.confirmed().collect::<Vec<_>>(), ["a"]);
        assert_eq!(r.changed(&files), None);
        drop(r);
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// A receipts file copied to the name of another recording on the same
    /// API root, or of the same recording on another root, is not taken as
    /// its own: each field is checked on its own.
    #[test]
    fn receipts_under_another_recordings_name_are_refused() {
        let dir = std::env::temp_dir().join(format!("avala-receipts-{}", fastrand::u64(..)));
        let files = vec![file("a", 1, "aa")];
        let root = "http://x/api/v1";
        let mut ours = Receipts::open(&dir, root, "r", &files).unwrap();
        ours.set_session(Session {
            uid: "s".into(),
            s3_prefix: "fleet/o/r/".into(),
        })
        .unwrap();
        ours.flush().unwrap();
        let ours_path = ours.path().to_owned();
        drop(ours);
        for (other_root, other_uid) in [(root, "q"), ("http://y/api/v1", "r")] {
            let other = Receipts::open(&dir, other_root, other_uid, &files).unwrap();
            let other_path = other.path().to_owned();
            drop(other);
            std::fs::copy(&ours_path, &other_path).unwrap();
            let e = Receipts::open(&dir, other_root, other_uid, &files).unwrap_err();
            assert!(
                e.to_string()
                    .contains("belongs to recording r at http://x/api/v1"),
                "{other_root} {other_uid}: {e}"
            );
        }
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn receipts_round_trip_privately_and_see_changes() {
        let dir = std::env::temp_dir().join(format!("avala-receipts-{}", fastrand::u64(..)));
        let files = vec![file("a", 1, "aa"), file("b", 2, "bb")];
        let mut r = Receipts::open(&dir, "http://x/api/v1", "rec", &files).unwrap();
        assert!(r.session().is_none());
        r.set_session(Session {
            uid: "s".into(),
            s3_prefix: "fleet/o/rec/".into(),
        })
        .unwrap();
        r.confirm([(
            "a".to_owned(),
            Receipt {
                etag: "e".into(),
                stamp: files[0].stamp,
            },
        )])
        .unwrap();
        r.flush().unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(r.path()).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // One run at a time: a second open is refused while the first holds it.
        let busy = Receipts::open(&dir, "http://x/api/v1", "rec", &files).unwrap_err();
        assert!(busy.to_string().contains("another run"), "{busy}");
        drop(r);
        let again = Receipts::open(&dir, "http://x/api/v1", "rec", &files).unwrap();
        assert_eq!(again.session().unwrap().uid, "s");
        assert_eq!(again.confirmed().collect::<Vec<_>>(), ["a"]);
        assert_eq!(again.changed(&files), None);
        let edited = vec![file("a", 1, "aa"), file("b", 2, "cc")];
        assert_eq!(
            again.changed(&edited),
            Some(("b".into(), "has other contents"))
        );
        assert_eq!(
            again.changed(&files[..1]),
            Some(("b".into(), "was removed"))
        );
        let more = vec![file("a", 1, "aa"), file("b", 2, "bb"), file("c", 0, "")];
        assert_eq!(again.changed(&more), Some(("c".into(), "was added")));
        // Another recording has its own file.
        assert!(Receipts::open(&dir, "http://x/api/v1", "rec2", &files)
            .unwrap()
            .session()
            .is_none());
        std::fs::write(again.path(), b"{").unwrap();
        drop(again);
        let e = Receipts::open(&dir, "http://x/api/v1", "rec", &files).unwrap_err();
        assert!(e.to_string().contains("corrupt"), "{e}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}

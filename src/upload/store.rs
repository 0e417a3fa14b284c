//! The one state store under every resumable upload: the dataset resume
//! state (`dataset/receipt.rs`) and the legacy and managed Fleet receipts
//! (`fleet/legacy/receipt.rs`, `fleet/managed/receipt.rs`).
//!
//! It decides, once for all three: where the files live by default
//! ([`default_dir`]), how a file is named (a hash of what identifies the
//! upload, [`open`]), that one run at a time uses it (an OS lock,
//! `lock.rs`), and how it is kept: in a private directory (created 0700;
//! one owned by another user or writable by group or others is refused),
//! opened without following a symbolic link, written atomically (temp file
//! and rename, 0600), and, for a record the server cannot give back,
//! fsynced. Each flow's file keeps its own JSON document and checks.

use std::{
    fs::{File, OpenOptions},
    io::{Read, Write},
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use serde::{de::DeserializeOwned, Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{lock::Lock, UploadError};

/// At most one write per this interval while files complete (and always at
/// the end or on an error): a lost record only means a file is sent again.
const FLUSH_EVERY: Duration = Duration::from_secs(1);
/// The largest dataset state or legacy receipt read back (50 000 files with
/// their longest paths fit many times over).
pub(crate) const MAX_STATE_BYTES: u64 = 256 * 1024 * 1024;

/// The upload flows that keep a state, each in its own directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flow {
    /// The dataset upload's resume state.
    Dataset,
    /// The legacy Fleet protocol's receipts.
    FleetLegacy,
    /// The managed Fleet protocol's receipt.
    FleetManaged,
}

/// The default directory of `flow`'s files:
/// `<data dir>/avala/uploads/{datasets, fleet-v1, fleet-managed-v1}`, the
/// names every earlier version used, so that a resume after an upgrade
/// finds its file. `None` when the platform has no data directory.
pub(crate) fn default_dir(flow: Flow) -> Option<PathBuf> {
    let name = match flow {
        Flow::Dataset => "datasets",
        Flow::FleetLegacy => "fleet-v1",
        Flow::FleetManaged => "fleet-managed-v1",
    };
    Some(dirs::data_dir()?.join("avala").join("uploads").join(name))
}

/// How much a write of a document must survive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Durability {
    /// A cache of work done (the dataset state: losing its last write only
    /// sends files again): renamed into place, not fsynced.
    Cache,
    /// A record the server cannot give back (a Fleet receipt: the session
    /// uid, which session is ours, the destination pin): the file and its
    /// directory are fsynced around the rename.
    Record,
}

impl Durability {
    /// Whether a write is fsynced (the file, and its directory after the
    /// rename): only a record's.
    fn synced(self) -> bool {
        self == Durability::Record
    }
}

/// A document on disk (an upload's state or receipts), made by
/// [`Claimed`]: written atomically, at most once a second while it changes
/// and always on [`flush`](Self::flush), with the upload's lock held while
/// it lives.
#[derive(Debug)]
pub(crate) struct Saved<T> {
    /// Held while the upload runs: a second run of it is refused.
    lock: Lock,
    path: PathBuf,
    pub(crate) doc: T,
    durability: Durability,
    dirty: bool,
    last_write: Option<Instant>,
}

impl<T: Serialize> Saved<T> {
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

    /// Writes the document now.
    pub(crate) fn save(&mut self) -> Result<(), UploadError> {
        self.dirty = true;
        self.flush()
    }

    /// Writes the document if it changed since the last write.
    pub(crate) fn flush(&mut self) -> Result<(), UploadError> {
        if !self.dirty {
            return Ok(());
        }
        save(&self.path, &self.doc, self.durability)?;
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

/// What a flow keeps in the store: its JSON document's `format` and
/// `version`, how its file is written and read back, and what to tell the
/// user about a file that cannot be used.
#[derive(Debug)]
pub(crate) struct Kind {
    /// The document's `format` field.
    pub(crate) format: &'static str,
    /// The document's `version` field.
    pub(crate) version: u32,
    /// What it is, for messages (`an upload state`).
    pub(crate) what: &'static str,
    /// How to start over, for messages.
    pub(crate) start_over: &'static str,
    /// The largest file read back.
    pub(crate) max_bytes: u64,
    /// How much a write must survive.
    pub(crate) durability: Durability,
}

/// The two fields every document starts with, read before the rest so
/// that another format or version is told apart from a corrupt file.
#[derive(Deserialize)]
struct Header {
    format: String,
    version: u32,
}

/// A flow's file, named and locked by [`open`]: what turns a document into
/// a [`Saved`] one.
#[derive(Debug)]
pub(crate) struct Claimed {
    lock: Lock,
    path: PathBuf,
    kind: &'static Kind,
}

impl Claimed {
    /// The file.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// An error about the file read back: `why`, then how to start over.
    pub(crate) fn unusable(&self, why: impl std::fmt::Display) -> UploadError {
        UploadError::State {
            path: self.path.clone(),
            message: format!("{why}; {}", self.kind.start_over),
        }
    }

    /// The document read back, kept as the file holds it.
    pub(crate) fn keep<T>(self, doc: T) -> Saved<T> {
        self.saved(doc, false)
    }

    /// A new document, written at the next flush.
    pub(crate) fn fresh<T>(self, doc: T) -> Saved<T> {
        self.saved(doc, true)
    }

    fn saved<T>(self, doc: T, dirty: bool) -> Saved<T> {
        Saved {
            lock: self.lock,
            path: self.path,
            doc,
            durability: self.kind.durability,
            dirty,
            last_write: None,
        }
    }
}

/// The file under `dir` of the upload that `identity` names (hashed: the
/// name is always valid and reveals nothing), with its lock taken so that
/// one run at a time uses it, and, when `read_back`, its document: `None`
/// when there is no file. A file that is not a `kind` document of this
/// version is an error that says how to start over, never replaced.
pub(crate) fn open<T: DeserializeOwned>(
    dir: &Path,
    identity: &str,
    kind: &'static Kind,
    read_back: bool,
) -> Result<(Claimed, Option<T>), UploadError> {
    let digest = Sha256::digest(identity.as_bytes());
    let path = dir.join(format!("{}.json", crate::digest::hex(&digest[..16])));
    let lock = Lock::take(&path)?;
    let claimed = Claimed { lock, path, kind };
    let bytes = match read_back {
        true => read_private(&claimed.path, kind.max_bytes)?,
        false => None,
    };
    let Some(bytes) = bytes else {
        return Ok((claimed, None));
    };
    let corrupt = |e: serde_json::Error| claimed.unusable(format!("is corrupt ({e})"));
    let header: Header = serde_json::from_slice(&bytes).map_err(corrupt)?;
    if header.format != kind.format || header.version != kind.version {
        let what = kind.what;
        return Err(claimed.unusable(format!("is not {what} of this SDK version")));
    }
    let doc = serde_json::from_slice(&bytes).map_err(corrupt)?;
    Ok((claimed, Some(doc)))
}

/// Writes `doc` as JSON to `path` with [`write_private`] (the dataset
/// upload state and the Fleet upload receipts).
pub(crate) fn save<T: Serialize>(
    path: &Path,
    doc: &T,
    durability: Durability,
) -> Result<(), UploadError> {
    let bytes = serde_json::to_vec(doc).map_err(|e| UploadError::State {
        message: format!("could not be serialised: {e}"),
        path: path.to_owned(),
    })?;
    write_private(path, &bytes, durability).map_err(|e| UploadError::State {
        message: format!("could not be written ({e}); check the state directory"),
        path: path.to_owned(),
    })
}

/// Creates `dir` and its parents (0700 on Unix where created), then checks
/// that it is private: owned by this user and writable by nobody else, so
/// that nobody else can plant, swap or remove a state or lock file in it.
pub(crate) fn private_dir(dir: &Path) -> Result<(), UploadError> {
    let unusable = |e: std::io::Error| UploadError::State {
        path: dir.to_owned(),
        message: format!("cannot be created or inspected ({e}); check the state directory"),
    };
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(unusable)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(dir).map_err(unusable)?;
        let me = rustix::process::geteuid().as_raw();
        private_to(meta.uid(), meta.mode(), me).map_err(|reason| UploadError::StateNotPrivate {
            path: dir.to_owned(),
            reason,
        })?;
    }
    Ok(())
}

/// Whether a directory of owner `uid` and `mode` is private to the user
/// `me`; if not, why.
#[cfg(unix)]
fn private_to(uid: u32, mode: u32, me: u32) -> Result<(), String> {
    if uid != me {
        return Err(format!(
            "the state directory belongs to user {uid}, not to this user ({me}); use a directory of your own"
        ));
    }
    if mode & 0o022 != 0 {
        return Err(format!(
            "the state directory is writable by group or others (mode {:o}); run `chmod go-w` on it or use a private directory",
            mode & 0o7777
        ));
    }
    Ok(())
}

/// Opens the state or lock file `path` with `options`, never through a
/// symbolic link at it nor blocking on a FIFO, and only if it is a regular
/// file; `None` when it does not exist.
pub(crate) fn open_private(
    path: &Path,
    options: &mut OpenOptions,
) -> Result<Option<File>, UploadError> {
    let refused = |reason: &str| UploadError::StateNotPrivate {
        path: path.to_owned(),
        reason: reason.to_owned(),
    };
    let link = || std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
    super::inventory::no_follow(options);
    const LINK: &str =
        "is a symbolic link, which state files never follow; remove it (its target is untouched)";
    #[cfg(not(unix))]
    if link() {
        return Err(refused(LINK));
    }
    let file = match options.open(path) {
        Ok(file) => file,
        Err(_) if link() => return Err(refused(LINK)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(UploadError::State {
                path: path.to_owned(),
                message: format!("cannot be opened ({e}); check its permissions"),
            })
        }
    };
    match file.metadata() {
        Ok(meta) if meta.is_file() => Ok(Some(file)),
        Ok(_) => Err(refused("is not a regular file; move it away")),
        Err(e) => Err(UploadError::State {
            path: path.to_owned(),
            message: format!("cannot be inspected ({e})"),
        }),
    }
}

/// The bytes of the state file `path` (opened by [`open_private`]), at
/// most `max` of them; `None` when there is no such file.
pub(crate) fn read_private(path: &Path, max: u64) -> Result<Option<Vec<u8>>, UploadError> {
    let Some(file) = open_private(path, OpenOptions::new().read(true))? else {
        return Ok(None);
    };
    let mut bytes = Vec::new();
    file.take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| UploadError::State {
            path: path.to_owned(),
            message: format!("cannot be read ({e}); fix its permissions, or move it away"),
        })?;
    if bytes.len() as u64 > max {
        return Err(UploadError::State {
            path: path.to_owned(),
            message: format!(
                "is larger than any state this SDK writes ({max} bytes); move it away"
            ),
        });
    }
    Ok(Some(bytes))
}

/// Writes `bytes` to a new private temporary file next to `path` (in the
/// directory [`open`] checked), then renames it over `path`, so that a
/// reader sees the old or the new file whole and a link planted at `path`
/// is replaced, never written through. A [`Durability::Record`] is fsynced
/// before the rename, and its directory after, so that a crash cannot lose
/// it once this returns.
pub(crate) fn write_private(
    path: &Path,
    bytes: &[u8],
    durability: Durability,
) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("state");
    let tmp = dir.join(format!(
        ".{name}.{}.{}.tmp",
        std::process::id(),
        fastrand::u64(..)
    ));
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let durable = durability.synced();
    let result = (|| {
        let mut file = options.open(&tmp)?;
        file.write_all(bytes)?;
        // A cache is not fsynced: an fsync per write costs more than a
        // small file's upload on a busy disk, and the rename keeps it whole.
        if durable {
            file.sync_all()?;
        }
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result?;
    #[cfg(unix)]
    if durable {
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The directories of every earlier version: a resume after an upgrade
    /// looks exactly where the old version wrote.
    #[test]
    fn default_dirs_are_the_ones_earlier_versions_used() {
        let uploads = dirs::data_dir().map(|d| d.join("avala").join("uploads"));
        for (flow, name) in [
            (Flow::Dataset, "datasets"),
            (Flow::FleetLegacy, "fleet-v1"),
            (Flow::FleetManaged, "fleet-managed-v1"),
        ] {
            assert_eq!(default_dir(flow), uploads.as_ref().map(|u| u.join(name)));
        }
    }

    fn tempdir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("avala-store-{}", fastrand::u64(..)));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    const KIND: Kind = Kind {
        format: "test-doc",
        version: 2,
        what: "a test document",
        start_over: "move it away",
        max_bytes: 1024,
        durability: Durability::Cache,
    };

    #[derive(Debug, Serialize, Deserialize)]
    struct Doc {
        format: String,
        version: u32,
        n: u32,
    }

    /// Every flow's file is named, read back and refused the same way: a
    /// file of another format or version is told apart from a corrupt one,
    /// and each message says how to start over.
    #[test]
    fn open_reads_back_and_refuses_what_is_not_this_kind() {
        let dir = tempdir();
        let reopen = || open::<Doc>(&dir, "id", &KIND, true);
        let (claimed, doc) = reopen().unwrap();
        assert!(doc.is_none());
        let path = claimed.path().to_owned();
        let mut saved = claimed.fresh(Doc {
            format: "test-doc".into(),
            version: 2,
            n: 7,
        });
        saved.flush().unwrap();
        drop(saved);
        assert_eq!(reopen().unwrap().1.unwrap().n, 7);
        // Without read_back the file is claimed, not read.
        assert!(open::<Doc>(&dir, "id", &KIND, false).unwrap().1.is_none());
        for (text, says) in [
            (
                r#"{"format":"test-doc","version":1,"m":[]}"#,
                "is not a test document of this SDK version",
            ),
            (
                r#"{"format":"other","version":2,"n":7}"#,
                "is not a test document of this SDK version",
            ),
            (r#"{"format":"test-doc","version":2,"n":"x"}"#, "is corrupt"),
            ("{not json", "is corrupt"),
        ] {
            std::fs::write(&path, text).unwrap();
            match reopen() {
                Err(UploadError::State { message, path: p }) => {
                    assert!(message.contains(says), "{text}: {message}");
                    assert!(message.ends_with("; move it away"), "{message}");
                    assert_eq!(p, path);
                }
                other => panic!("{text}: {other:?}"),
            }
        }
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn a_directory_of_another_user_or_writable_by_others_is_not_private() {
        assert!(private_to(1000, 0o40700, 1000).is_ok());
        assert!(private_to(1000, 0o40755, 1000).is_ok());
        assert!(private_to(0, 0o40700, 0).is_ok());
        let e = private_to(1001, 0o40700, 1000).unwrap_err();
        assert!(e.contains("belongs to user 1001"), "{e}");
        // Root too refuses another user's directory.
        assert!(private_to(1000, 0o40700, 0).is_err());
        for mode in [0o40720, 0o40702, 0o41777] {
            let e = private_to(1000, mode, 1000).unwrap_err();
            assert!(e.contains("writable by group or others"), "{mode:o}: {e}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn state_files_are_regular_files_of_bounded_size() {
        let dir = tempdir();
        let fifo = dir.join("fifo.json");
        // Not `mkfifo` in a child process: a fork while another test holds
        // a lock would hold it too, until the child's exec.
        #[cfg(not(target_vendor = "apple"))]
        rustix::fs::mkfifoat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
        )
        .unwrap();
        #[cfg(target_vendor = "apple")]
        drop(std::os::unix::net::UnixListener::bind(&fifo).unwrap());
        // Refused without blocking on the FIFO.
        let e = read_private(&fifo, 10).unwrap_err();
        assert!(matches!(e, UploadError::StateNotPrivate { .. }), "{e:?}");
        let big = dir.join("big.json");
        std::fs::write(&big, [b' '; 11]).unwrap();
        assert!(matches!(
            read_private(&big, 10),
            Err(UploadError::State { .. })
        ));
        assert_eq!(read_private(&big, 11).unwrap().unwrap().len(), 11);
        assert!(read_private(&dir.join("none.json"), 10).unwrap().is_none());
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// The bound of a state read back leaves room for a large upload: a
    /// state of a few thousand files (2 MiB) is read, not refused as
    /// oversized.
    #[test]
    fn a_state_of_mebibytes_is_within_the_bound() {
        let dir = tempdir();
        let path = dir.join("large.json");
        std::fs::write(&path, vec![b' '; 2 << 20]).unwrap();
        let bytes = read_private(&path, MAX_STATE_BYTES).unwrap().unwrap();
        assert_eq!(bytes.len(), 2 << 20);
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// `changed_soon` writes at most once a second: a change right after a
    /// write waits for the next flush, one after the second is written.
    #[test]
    fn changed_soon_writes_once_the_last_write_is_a_second_old() {
        let dir = tempdir();
        let (claimed, _) = open::<Doc>(&dir, "id", &KIND, true).unwrap();
        let path = claimed.path().to_owned();
        let doc = |n| Doc {
            format: "test-doc".into(),
            version: 2,
            n,
        };
        let read = || {
            serde_json::from_slice::<Doc>(&std::fs::read(&path).unwrap())
                .unwrap()
                .n
        };
        let mut saved = claimed.fresh(doc(1));
        // Never written: the first change is written at once.
        saved.changed_soon().unwrap();
        assert_eq!(read(), 1);
        saved.doc.n = 2;
        saved.changed_soon().unwrap();
        assert_eq!(read(), 1, "a second write within the second");
        saved.last_write = Instant::now().checked_sub(FLUSH_EVERY + Duration::from_millis(10));
        saved.doc.n = 3;
        saved.changed_soon().unwrap();
        assert_eq!(read(), 3, "the last write was over a second ago");
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// A record (a Fleet receipt) is fsynced; a cache (the dataset state)
    /// is not: the cost an fsync per write would add to every small file.
    #[test]
    fn only_a_record_is_fsynced() {
        assert!(Durability::Record.synced());
        assert!(!Durability::Cache.synced());
    }

    fn state_message<T: std::fmt::Debug>(result: Result<T, UploadError>) -> String {
        match result {
            Err(UploadError::State { message, .. }) => message,
            other => panic!("expected UploadError::State, got {other:?}"),
        }
    }

    /// `save`: a document that cannot be serialised, and a write that
    /// fails, are each a `State` error naming the file, not a panic.
    #[test]
    fn a_document_that_cannot_be_saved_is_a_state_error() {
        let dir = tempdir();
        let path = dir.join("s.json");
        // JSON object keys must be strings.
        let doc = std::collections::BTreeMap::from([((1u8, 2u8), 3u8)]);
        let message = state_message(save(&path, &doc, Durability::Record));
        assert!(message.contains("could not be serialised"), "{message}");
        assert!(!path.exists());
        let gone = dir.join("missing-dir").join("s.json");
        let message = state_message(save(&gone, &1u8, Durability::Cache));
        assert!(message.contains("could not be written"), "{message}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// `write_private`: when the rename fails (a directory where the file
    /// goes), the error comes back, the directory is untouched and no
    /// temporary file is left behind.
    #[test]
    fn a_failed_write_leaves_no_temporary_file() {
        let dir = tempdir();
        let path = dir.join("s.json");
        std::fs::create_dir(&path).unwrap();
        std::fs::write(path.join("inside"), b"kept").unwrap();
        for durability in [Durability::Cache, Durability::Record] {
            assert!(write_private(&path, b"{}", durability).is_err());
        }
        let mut names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["s.json"]);
        assert_eq!(std::fs::read(path.join("inside")).unwrap(), b"kept");
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// `Saved::remove`: a file that cannot be removed is an error that
    /// says to delete it; one already gone is fine, and its lock file goes.
    #[test]
    fn removing_a_saved_document_reports_what_it_could_not_remove() {
        let dir = tempdir();
        let (claimed, _) = open::<Doc>(&dir, "id", &KIND, true).unwrap();
        let path = claimed.path().to_owned();
        let saved = claimed.fresh(1u8);
        // A directory where the file was: `remove_file` fails.
        std::fs::create_dir(&path).unwrap();
        let message = state_message(saved.remove());
        assert!(message.contains("could not be removed"), "{message}");
        std::fs::remove_dir(&path).unwrap();
        // Never written (already gone): removed without complaint, lock too.
        let (claimed, _) = open::<Doc>(&dir, "id", &KIND, true).unwrap();
        let lock = PathBuf::from(format!("{}.lock", path.display()));
        assert!(lock.exists());
        claimed.fresh(1u8).remove().unwrap();
        assert!(!lock.exists());
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// `private_dir`: a path that cannot be a directory, and (Unix) a
    /// directory others may write to.
    #[test]
    fn a_state_directory_that_cannot_be_made_or_is_shared_is_refused() {
        let dir = tempdir();
        let file = dir.join("a-file");
        std::fs::write(&file, b"").unwrap();
        let message = state_message(private_dir(&file.join("sub")));
        assert!(
            message.contains("cannot be created or inspected"),
            "{message}"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let shared = dir.join("shared");
            std::fs::create_dir(&shared).unwrap();
            std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o777)).unwrap();
            match private_dir(&shared) {
                Err(UploadError::StateNotPrivate { reason, path }) => {
                    assert!(reason.contains("writable by group or others"), "{reason}");
                    assert_eq!(path, shared);
                }
                other => panic!("{other:?}"),
            }
            std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o700)).unwrap();
            assert!(private_dir(&shared).is_ok());
        }
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// `open_private`: an open that fails for another reason than a link or
    /// a missing file is a `State` error; a directory is not a state file.
    #[test]
    fn a_state_path_that_cannot_be_opened_or_is_a_directory_is_refused() {
        let dir = tempdir();
        let file = dir.join("a-file");
        std::fs::write(&file, b"").unwrap();
        // A regular file used as a directory: ENOTDIR, not "missing".
        let message = state_message(read_private(&file.join("s.json"), 10));
        assert!(message.contains("cannot be opened"), "{message}");
        match read_private(&dir, 10) {
            Err(UploadError::StateNotPrivate { reason, .. }) => {
                assert!(reason.contains("not a regular file"), "{reason}")
            }
            other => panic!("{other:?}"),
        }
        std::fs::remove_dir_all(dir).unwrap();
    }
}

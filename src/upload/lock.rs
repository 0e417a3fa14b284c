//! One running upload per resume state: an advisory lock on a file beside
//! the state, held while the upload runs. Two runs of the same upload
//! would send the same files twice and overwrite each other's record; the
//! second is refused instead. The operating system releases the lock when
//! the process ends, so a crash leaves no stale lock behind.
//!
//! Only the holder removes the lock file, once its upload is finished, and
//! while it still holds it. A run that opened the file just before that
//! removal would lock a file no longer in the directory, beside the run
//! that locks its replacement: so a lock counts only once the path still
//! names the locked file, and otherwise the path is opened again. The file
//! is opened without following a symbolic link (see
//! [`store::open_private`](super::store::open_private)).

use std::{
    fs::{File, TryLockError},
    path::{Path, PathBuf},
};

use super::UploadError;

/// Opens of a lock file that another run removed at once, before giving up.
const REOPENS: usize = 8;

/// A held lock; released on drop.
#[derive(Debug)]
pub(crate) struct Lock {
    _file: File,
    path: PathBuf,
}

impl Lock {
    /// Takes the lock of the state file `state` (creating its private
    /// directory), or fails at once (never waits) when another run holds
    /// it.
    pub(crate) fn take(state: &Path) -> Result<Self, UploadError> {
        let path = lock_path(state);
        if let Some(dir) = path.parent() {
            super::store::private_dir(dir)?;
        }
        let file = open(&path, state)?;
        Self::hold(file, state, path)
    }

    /// Locks `file`, opened at `path`; when `path` no longer names it (its
    /// holder removed it in between), opens `path` again.
    fn hold(mut file: File, state: &Path, path: PathBuf) -> Result<Self, UploadError> {
        let unusable = |message: String| UploadError::State {
            path: state.to_owned(),
            message,
        };
        for _ in 0..REOPENS {
            match file.try_lock() {
                Ok(()) => {}
                Err(TryLockError::WouldBlock) => return Err(unusable(
                    "is in use by another run of the same upload; wait for it to end (or stop it), then run again".to_owned(),
                )),
                Err(TryLockError::Error(e)) => {
                    return Err(unusable(format!(
                        "cannot be locked ({e}); check the state directory"
                    )))
                }
            }
            if names(&path, &file) {
                return Ok(Self { _file: file, path });
            }
            // Dropping the old file releases its lock.
            file = open(&path, state)?;
        }
        Err(unusable(
            "cannot be locked: its lock file keeps being removed; run again".to_owned(),
        ))
    }

    /// Deletes the lock file (the upload is finished and its state gone)
    /// while still holding it; the lock itself ends when `self` drops.
    pub(crate) fn remove(self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The lock file at `path`, created private (0600) if missing.
fn open(path: &Path, state: &Path) -> Result<File, UploadError> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    super::store::open_private(path, &mut options)?.ok_or_else(|| UploadError::State {
        path: state.to_owned(),
        message: "cannot be locked: its lock file vanished while it was created; run again"
            .to_owned(),
    })
}

/// Whether `path` (not followed) is the very file `file`.
#[cfg(unix)]
fn names(path: &Path, file: &File) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::symlink_metadata(path), file.metadata()) {
        (Ok(at), Ok(held)) => at.dev() == held.dev() && at.ino() == held.ino(),
        _ => false,
    }
}

/// Without Unix file identities the lock is taken as it is.
#[cfg(not(unix))]
fn names(_path: &Path, _file: &File) -> bool {
    true
}

fn lock_path(state: &Path) -> PathBuf {
    let mut name = state.file_name().unwrap_or_default().to_owned();
    name.push(".lock");
    state.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_until_the_first_lets_go() {
        let dir = std::env::temp_dir().join(format!("avala-lock-{}", fastrand::u64(..)));
        let state = dir.join("nested").join("s.json");
        let first = Lock::take(&state).unwrap();
        let e = Lock::take(&state).unwrap_err().to_string();
        assert!(e.contains("another run") && e.contains("s.json"), "{e}");
        drop(first);
        let again = Lock::take(&state).unwrap();
        assert!(dir.join("nested/s.json.lock").exists());
        again.remove();
        assert!(!dir.join("nested/s.json.lock").exists());
        std::fs::remove_dir_all(dir).unwrap();
    }

    fn scratch() -> (PathBuf, PathBuf) {
        let dir = std::env::temp_dir().join(format!("avala-lock-{}", fastrand::u64(..)));
        std::fs::create_dir_all(&dir).unwrap();
        let state = dir.join("s.json");
        (dir, state)
    }

    #[cfg(unix)]
    fn identity(path: &Path) -> (u64, u64) {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::symlink_metadata(path).unwrap();
        (meta.dev(), meta.ino())
    }

    #[cfg(unix)]
    #[test]
    fn a_refused_claimer_leaves_the_held_lock_file_alone() {
        let (dir, state) = scratch();
        let first = Lock::take(&state).unwrap();
        let before = identity(&lock_path(&state));
        for _ in 0..3 {
            assert!(Lock::take(&state).is_err());
        }
        // The same file, still locked by the first holder.
        assert_eq!(identity(&lock_path(&state)), before);
        let e = Lock::take(&state).unwrap_err().to_string();
        assert!(e.contains("another run"), "{e}");
        drop(first);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_lock_opened_before_its_holder_removed_it_is_not_a_second_hold() {
        // B opens the lock file; A, the holder, finishes and removes it; C
        // takes a new one. B's lock on the removed file would be a second
        // holder of the same state: B must see it and be refused.
        let (dir, state) = scratch();
        let a = Lock::take(&state).unwrap();
        let b_opened = File::options()
            .read(true)
            .write(true)
            .open(lock_path(&state))
            .unwrap();
        a.remove();
        let c = Lock::take(&state).unwrap();
        let b = Lock::hold(b_opened, &state, lock_path(&state));
        assert!(b.is_err(), "two holders of one state");
        drop(c);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn a_symlink_at_the_lock_path_is_refused_and_its_target_untouched() {
        let (dir, state) = scratch();
        let target = dir.join("precious");
        std::fs::write(&target, b"keep me\n").unwrap();
        std::os::unix::fs::symlink(&target, lock_path(&state)).unwrap();
        let e = Lock::take(&state).unwrap_err();
        assert!(matches!(e, UploadError::StateNotPrivate { .. }), "{e:?}");
        assert_eq!(std::fs::read(&target).unwrap(), b"keep me\n");
        // A dangling one: nothing is created where it points.
        let (dir2, state2) = scratch();
        let nowhere = dir2.join("created-through-the-link");
        std::os::unix::fs::symlink(&nowhere, lock_path(&state2)).unwrap();
        let e = Lock::take(&state2).unwrap_err();
        assert!(matches!(e, UploadError::StateNotPrivate { .. }), "{e:?}");
        assert!(!nowhere.exists());
        std::fs::remove_dir_all(dir).unwrap();
        std::fs::remove_dir_all(dir2).unwrap();
    }

    /// `open`: a lock file whose directory is gone when it is created (the
    /// state directory removed under a run) is a `State` error that says to
    /// run again, not a missing lock taken for granted.
    #[test]
    fn a_lock_file_that_cannot_be_created_is_an_error() {
        let (dir, state) = scratch();
        let gone = dir.join("removed").join("s.json");
        match open(&lock_path(&gone), &gone) {
            Err(UploadError::State { message, path }) => {
                assert!(message.contains("vanished"), "{message}");
                assert_eq!(path, gone);
            }
            other => panic!("{other:?}"),
        }
        // `take` makes the directory first, so the same state is fine.
        drop(Lock::take(&gone).unwrap());
        drop(state);
        std::fs::remove_dir_all(dir).unwrap();
    }
}

//! One running upload per resume state: an advisory lock on a file beside
//! the state, held while the upload runs. Two runs of the same upload
//! would send the same files twice and overwrite each other's record; the
//! second is refused instead. The operating system releases the lock when
//! the process ends, so a crash leaves no stale lock behind.

use std::{
    fs::{File, TryLockError},
    path::{Path, PathBuf},
};

use super::UploadError;

/// A held lock; released on drop.
#[derive(Debug)]
pub(crate) struct Lock {
    _file: File,
    path: PathBuf,
}

impl Lock {
    /// Takes the lock of the state file `state`, or fails at once (never
    /// waits) when another run holds it.
    pub(crate) fn take(state: &Path) -> Result<Self, UploadError> {
        let path = lock_path(state);
        let unusable = |e: std::io::Error| UploadError::State {
            path: state.to_owned(),
            message: format!("cannot be locked ({e}); check the state directory"),
        };
        if let Some(dir) = path.parent() {
            super::state::private_dir(dir).map_err(unusable)?;
        }
        let mut options = std::fs::OpenOptions::new();
        options.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options.open(&path).map_err(unusable)?;
        match file.try_lock() {
            Ok(()) => Ok(Self { _file: file, path }),
            Err(TryLockError::WouldBlock) => Err(UploadError::State {
                path: state.to_owned(),
                message: "is in use by another run of the same upload; wait for it to end (or stop it), then run again".to_owned(),
            }),
            Err(TryLockError::Error(e)) => Err(unusable(e)),
        }
    }

    /// Deletes the lock file (the upload is finished and its state gone);
    /// the lock itself ends when `self` drops.
    pub(crate) fn remove(self) {
        let _ = std::fs::remove_file(&self.path);
    }
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
}

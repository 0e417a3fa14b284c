//! A scratch directory for the upload tests, removed on drop. Included with
//! `#[path = "common/tempdir.rs"] mod tempdir;` (it needs nothing else from
//! `common`).

use std::path::{Path, PathBuf};

/// A directory removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new() -> Self {
        let dir =
            std::env::temp_dir().join(format!("avala-upload-test-{:016x}", fastrand::u64(..)));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Writes `len` pseudo-random bytes at `rel` and returns them.
    pub fn file(&self, rel: &str, len: usize) -> Vec<u8> {
        let path = self.0.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let mut rng = fastrand::Rng::with_seed(len as u64 ^ rel.len() as u64);
        let bytes: Vec<u8> = (0..len).map(|_| rng.u8(..)).collect();
        std::fs::write(&path, &bytes).unwrap();
        bytes
    }
}

/// Appends `more` to the file at `path`, as another writer would.
#[allow(dead_code)] // not every binary that includes this file uses it
pub fn grow(path: &Path, more: &[u8]) {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new().append(true).open(path).unwrap();
    file.write_all(more).unwrap();
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

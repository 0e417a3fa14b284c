//! The local side: which files to send, their paths in the dataset, and the
//! stamp that says whether a file is still the one recorded.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::UploadError;

/// One local file to upload.
#[derive(Debug, Clone)]
pub(crate) struct LocalFile {
    pub(crate) local: PathBuf,
    /// The `/`-separated path inside the dataset.
    pub(crate) remote: String,
    pub(crate) stamp: Stamp,
}

/// What identifies a file's content without reading it: size, modification
/// time and (on Unix) inode. Any change means "not the same file".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Stamp {
    pub(crate) size: u64,
    pub(crate) mtime_ns: i128,
    pub(crate) inode: u64,
}

impl Stamp {
    pub(crate) fn of(path: &Path) -> Result<Self, UploadError> {
        let meta = std::fs::metadata(path).map_err(|source| io(path, source))?;
        Ok(Self::from_metadata(&meta))
    }

    fn from_metadata(meta: &std::fs::Metadata) -> Self {
        let mtime_ns = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos() as i128);
        #[cfg(unix)]
        let inode = std::os::unix::fs::MetadataExt::ino(meta);
        #[cfg(not(unix))]
        let inode = 0;
        Self {
            size: meta.len(),
            mtime_ns,
            inode,
        }
    }
}

pub(crate) fn io(path: &Path, source: std::io::Error) -> UploadError {
    UploadError::Io {
        path: path.to_owned(),
        source,
    }
}

/// What a walk does with a symbolic link inside the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Links {
    /// Leave it out (dataset uploads).
    Skip,
    /// Refuse the whole upload, naming it (Fleet recordings, §9.2).
    Refuse,
}

/// The regular files under `source` (or `source` itself when it is a file),
/// sorted by their path in the dataset. Symbolic links are followed for the
/// source itself but not inside it (a link could leave the tree or loop):
/// there they are skipped or refused, as `links` says.
pub(crate) fn walk(source: &Path, links: Links) -> Result<Vec<LocalFile>, UploadError> {
    let meta = std::fs::metadata(source).map_err(|e| io(source, e))?;
    let mut out = Vec::new();
    if meta.is_file() {
        let name = source
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| not_utf8(source))?;
        out.push(LocalFile {
            local: source.to_owned(),
            remote: name.to_owned(),
            stamp: Stamp::from_metadata(&meta),
        });
        return Ok(out);
    }
    let mut dirs = vec![(source.to_owned(), String::new())];
    while let Some((dir, prefix)) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).map_err(|e| io(&dir, e))? {
            let entry = entry.map_err(|e| io(&dir, e))?;
            let path = entry.path();
            let name = entry
                .file_name()
                .into_string()
                .map_err(|_| not_utf8(&path))?;
            let kind = entry.file_type().map_err(|e| io(&path, e))?;
            let remote = format!("{prefix}{name}");
            if kind.is_dir() {
                dirs.push((path, format!("{remote}/")));
            } else if kind.is_symlink() && links == Links::Refuse {
                return Err(UploadError::Rejected {
                    path,
                    reason: "it is a symbolic link; copy the file it points to into the directory"
                        .to_owned(),
                });
            } else if kind.is_file() {
                let stamp = Stamp::of(&path)?;
                out.push(LocalFile {
                    local: path,
                    remote,
                    stamp,
                });
            }
        }
    }
    out.sort_by(|a, b| a.remote.cmp(&b.remote));
    Ok(out)
}

fn not_utf8(path: &Path) -> UploadError {
    io(
        path,
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "the file name is not UTF-8, so it has no path in the dataset; rename it",
        ),
    )
}

/// Checks a caller-given path in the dataset: relative, `/`-separated, no
/// empty, `.` or `..` segment.
pub(crate) fn check_remote(remote: &str) -> crate::Result<()> {
    let bad = remote.is_empty()
        || remote.contains('\\')
        || remote
            .split('/')
            .any(|s| s.is_empty() || s == "." || s == "..");
    if bad {
        return Err(crate::Error::InvalidArgument {
            message: format!(
                "`{remote}` is not a path in a dataset: use relative `/`-separated segments, none empty, `.` or `..`"
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_paths_are_checked() {
        assert!(check_remote("a/b.jpg").is_ok());
        for bad in ["", "/a", "a//b", "a/../b", "./a", "a\\b", "a/"] {
            assert!(check_remote(bad).is_err(), "{bad}");
        }
    }
}

//! The local side of every download to disk (the resolver's objects, an
//! export's file): where a file may be written and the write itself. The
//! rules:
//!
//! - a logical path becomes plain names below the download directory (never
//!   `..`, a root or a drive);
//! - every directory below the download directory, and the final name, is
//!   looked at with `symlink_metadata` (which does not follow links): a
//!   symbolic link, or anything but a directory (resp. a regular file), is
//!   refused;
//! - the bytes go to a new temporary file beside the target, created
//!   exclusively (so it never follows a link nor replaces a file), are
//!   fsynced, and get the final name only after verification: by a hard
//!   link, which never replaces anything, or by a rename when replacing was
//!   allowed.

use std::{
    ffi::OsString,
    fs, io,
    path::{Component, Path, PathBuf},
};

use crate::{Error, Result};

/// The end of every temporary file's name.
const PART_SUFFIX: &str = ".avala-part";

/// Where one object goes: `root` (the caller's, trusted) joined with
/// `relative` (checked name by name).
#[derive(Debug, Clone)]
pub(crate) struct Place {
    root: PathBuf,
    relative: PathBuf,
}

impl Place {
    /// `logical` (a manifest path, `/`-separated) below `root`. A path whose
    /// names are not plain names here would leave the directory: refused.
    pub(crate) fn below(root: &Path, logical: &str) -> Result<Self> {
        let mut relative = PathBuf::new();
        for name in logical.split('/') {
            let mut parts = Path::new(name).components();
            match (parts.next(), parts.next()) {
                (Some(Component::Normal(plain)), None) if plain == name => relative.push(plain),
                _ => {
                    return Err(Error::Integrity {
                        message: format!(
                            "the object path {logical:?} would leave the download directory"
                        ),
                    })
                }
            }
        }
        Ok(Self {
            root: root.to_owned(),
            relative,
        })
    }

    /// A file the caller named: only its last name is checked.
    pub(crate) fn file(path: &Path) -> Result<Self> {
        let name = path.file_name().ok_or_else(|| Error::InvalidArgument {
            message: format!("{} does not name a file", path.display()),
        })?;
        let root = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
            _ => PathBuf::from("."),
        };
        Ok(Self {
            root,
            relative: PathBuf::from(name),
        })
    }

    /// The target's path.
    pub(crate) fn path(&self) -> PathBuf {
        self.root.join(&self.relative)
    }

    /// Checks each directory between the root and the target without
    /// following links, creating the missing ones when `create`. `false`
    /// when one is missing (and not created).
    pub(crate) fn directories(&self, create: bool) -> Result<bool> {
        let mut dir = self.root.clone();
        let parents = self.relative.parent().unwrap_or(Path::new(""));
        for name in parents.components() {
            dir.push(name);
            match fs::symlink_metadata(&dir) {
                Ok(meta) => is_directory(&dir, &meta)?,
                Err(e) if e.kind() == io::ErrorKind::NotFound && !create => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::NotFound => match fs::create_dir(&dir) {
                    Ok(()) => {}
                    // Created meanwhile (by another object of the same
                    // directory): look again.
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                        let meta =
                            fs::symlink_metadata(&dir).map_err(|e| local(&dir, "reading", e))?;
                        is_directory(&dir, &meta)?;
                    }
                    Err(e) => return Err(local(&dir, "creating", e)),
                },
                Err(e) => return Err(local(&dir, "reading", e)),
            }
        }
        Ok(true)
    }
}

fn is_directory(path: &Path, meta: &fs::Metadata) -> Result<()> {
    if meta.file_type().is_symlink() {
        return Err(conflict(path, "it is a symbolic link", false));
    }
    if !meta.is_dir() {
        return Err(conflict(path, "it is in the way of a directory", false));
    }
    Ok(())
}

/// The end of a resumable temporary file's name.
const RESUME_SUFFIX: &str = ".avala-resume";

/// A temporary file beside a target: removed on drop unless committed, or
/// kept for a later run when it is resumable.
pub(crate) struct Part {
    path: PathBuf,
    file: tokio::fs::File,
    committed: bool,
    /// Kept when the download fails (a resumable part).
    keep: bool,
}

impl Part {
    /// Creates the missing directories (refusing links) and a new
    /// temporary file `.<name>.<random>.avala-part` beside the target.
    pub(crate) async fn create(place: &Place) -> Result<Self> {
        let place = place.clone();
        // Made on the blocking thread, so that a download dropped meanwhile
        // drops (and so removes) the file when the task ends.
        blocking(move || {
            place.directories(true)?;
            let target = place.path();
            let dir = target.parent().unwrap_or(Path::new("."));
            let name = target.file_name().unwrap_or_default();
            for _ in 0..8 {
                let mut temp = OsString::from(".");
                temp.push(name);
                temp.push(format!(".{:016x}{PART_SUFFIX}", fastrand::u64(..)));
                let path = dir.join(temp);
                // `create_new` is O_EXCL: it neither follows a link nor
                // opens an existing file.
                match fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&path)
                {
                    Ok(file) => {
                        return Ok(Self {
                            path,
                            file: tokio::fs::File::from_std(file),
                            committed: false,
                            keep: false,
                        })
                    }
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                    Err(e) => return Err(local(&path, "creating", e)),
                }
            }
            Err(Error::InvalidArgument {
                message: format!("could not create a temporary file in {}", dir.display()),
            })
        })
        .await
    }

    /// The resumable temporary file `.<name>.<tag>.avala-resume` beside the
    /// target (`tag` names what it holds, so that a later run resumes only
    /// the same remote bytes), kept when the download fails. An existing
    /// one is opened for appending (a regular file, never through a link);
    /// else it is created. Returns it with the length it already has.
    pub(crate) async fn resumable(place: &Place, tag: &str) -> Result<(Self, u64)> {
        let place = place.clone();
        let tag = tag.to_owned();
        blocking(move || {
            place.directories(true)?;
            let path = resume_path(&place, &tag);
            let existing = match fs::symlink_metadata(&path) {
                Ok(meta) if meta.is_file() => true,
                Ok(_) => return Err(conflict(&path, "it is not a regular file", false)),
                Err(e) if e.kind() == io::ErrorKind::NotFound => false,
                Err(e) => return Err(local(&path, "reading", e)),
            };
            let mut options = fs::OpenOptions::new();
            options.append(true);
            if existing {
                options.create(false);
            } else {
                // O_EXCL: neither follows a link nor opens a file put there
                // since the look.
                options.create_new(true);
            }
            let file = options
                .open(&path)
                .map_err(|e| local(&path, "opening", e))?;
            let meta = file.metadata().map_err(|e| local(&path, "reading", e))?;
            let looked = fs::symlink_metadata(&path).map_err(|e| local(&path, "reading", e))?;
            if !looked.is_file() || !same_file(&looked, &meta) {
                return Err(conflict(
                    &path,
                    "it changed while it was being opened",
                    false,
                ));
            }
            let part = Self {
                path,
                file: tokio::fs::File::from_std(file),
                committed: false,
                keep: true,
            };
            Ok((part, meta.len()))
        })
        .await
    }

    /// The temporary file, for reading back what it holds.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Removes the file now (its bytes are known to be wrong).
    pub(crate) fn discard(mut self) {
        self.keep = false;
    }

    /// Appends `bytes`.
    pub(crate) async fn write(&mut self, bytes: &[u8]) -> Result<()> {
        use tokio::io::AsyncWriteExt;
        self.file
            .write_all(bytes)
            .await
            .map_err(|e| local(&self.path, "writing", e))
    }

    /// Makes the (verified) bytes durable and gives them the target's name:
    /// by a hard link, which fails rather than replace anything, or, when
    /// `replace` (an `overwrite` of a differing file), by a rename over a
    /// regular file.
    pub(crate) async fn commit(mut self, place: &Place, replace: bool) -> Result<()> {
        use tokio::io::AsyncWriteExt;
        let temp = self.path.clone();
        self.file
            .flush()
            .await
            .map_err(|e| local(&temp, "writing", e))?;
        self.file
            .sync_all()
            .await
            .map_err(|e| local(&temp, "writing", e))?;
        let target = place.path();
        // The directory is not fsynced: a name lost in a crash costs only a
        // second fetch, since a re-run checks what is there by its SHA-256.
        let committed = blocking(move || {
            if replace {
                rename_over_file(&temp, &target)
            } else {
                link_new(&temp, &target)
            }
        })
        .await;
        self.committed = committed.is_ok();
        committed
    }
}

impl Drop for Part {
    fn drop(&mut self) {
        if !self.committed && !self.keep {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// The path of a resumable part of `place` with `tag`.
fn resume_path(place: &Place, tag: &str) -> PathBuf {
    let target = place.path();
    let mut name = OsString::from(".");
    name.push(target.file_name().unwrap_or_default());
    name.push(format!(".{tag}{RESUME_SUFFIX}"));
    target.with_file_name(name)
}

/// The tags of the resumable parts beside `place`'s target that are
/// regular files (links and anything else are left alone), with their
/// lengths. Blocking.
pub(crate) fn resumable_parts(place: &Place) -> Result<Vec<(String, u64)>> {
    if !place.directories(false)? {
        return Ok(Vec::new());
    }
    let target = place.path();
    let dir = target.parent().unwrap_or(Path::new("."));
    let mut prefix = OsString::from(".");
    prefix.push(target.file_name().unwrap_or_default());
    prefix.push(".");
    let (Some(prefix), mut found) = (prefix.to_str(), Vec::new()) else {
        return Ok(Vec::new());
    };
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(found),
        Err(e) => return Err(local(dir, "reading", e)),
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(tag) = name
            .to_str()
            .and_then(|n| n.strip_prefix(prefix)?.strip_suffix(RESUME_SUFFIX))
        else {
            continue;
        };
        // `DirEntry::metadata` does not follow links.
        match entry.metadata() {
            Ok(meta) if meta.is_file() => found.push((tag.to_owned(), meta.len())),
            _ => {}
        }
    }
    Ok(found)
}

/// Removes the resumable part of `place` with `tag` (stale: the remote
/// file changed). Blocking.
pub(crate) fn remove_resumable(place: &Place, tag: &str) -> Result<()> {
    let path = resume_path(place, tag);
    match fs::symlink_metadata(&path) {
        Ok(meta) if meta.is_file() => {
            fs::remove_file(&path).map_err(|e| local(&path, "removing", e))
        }
        _ => Ok(()),
    }
}

/// Whether the file opened is the one looked at (the name was not swapped
/// for a link in between).
#[cfg(unix)]
pub(crate) fn same_file(looked: &fs::Metadata, opened: &fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    looked.dev() == opened.dev() && looked.ino() == opened.ino()
}

#[cfg(not(unix))]
pub(crate) fn same_file(looked: &fs::Metadata, opened: &fs::Metadata) -> bool {
    opened.is_file() && looked.len() == opened.len()
}

/// `temp` as `target`, only if nothing is at `target`.
fn link_new(temp: &Path, target: &Path) -> Result<()> {
    match fs::hard_link(temp, target) {
        Ok(()) => {
            let _ = fs::remove_file(temp);
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(conflict(
            target,
            "a file appeared there during the download",
            true,
        )),
        // A file system without hard links: a rename, after looking.
        Err(_) => match fs::symlink_metadata(target) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs::rename(temp, target).map_err(|e| local(target, "renaming into", e))
            }
            _ => Err(conflict(
                target,
                "a file appeared there during the download",
                true,
            )),
        },
    }
}

/// `temp` as `target`, replacing a regular file (never a link or a
/// directory: a rename would replace the link itself, but the rule is to
/// refuse it).
fn rename_over_file(temp: &Path, target: &Path) -> Result<()> {
    match fs::symlink_metadata(target) {
        Ok(meta) if meta.file_type().is_symlink() => {
            return Err(conflict(target, "it is a symbolic link", false))
        }
        Ok(meta) if !meta.is_file() => {
            return Err(conflict(target, "it is not a regular file", false))
        }
        _ => {}
    }
    fs::rename(temp, target).map_err(|e| local(target, "renaming into", e))
}

/// Runs blocking file work off the async threads.
pub(crate) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(work).await.unwrap_or_else(|e| {
        Err(Error::InvalidArgument {
            message: format!("a file task failed: {e}"),
        })
    })
}

/// The refusal to write at `path`.
pub(crate) fn conflict(path: &Path, reason: &str, overwritable: bool) -> Error {
    Error::FileConflict {
        path: path.to_owned(),
        reason: reason.to_owned(),
        overwritable,
    }
}

/// A local file error, naming the file (never a URL).
pub(crate) fn local(path: &Path, doing: &str, e: io::Error) -> Error {
    Error::InvalidArgument {
        message: format!("{doing} {}: {e}", path.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_paths_stay_below_the_download_directory() {
        let root = Path::new("out");
        assert_eq!(
            Place::below(root, "a/b.bin").unwrap().path(),
            Path::new("out/a/b.bin")
        );
        for bad in ["../x", "/etc/passwd", "a/../../x", "", "a//b", "./a", "a/."] {
            assert!(Place::below(root, bad).is_err(), "{bad}");
        }
    }
}

//! The local side: which files to send, their paths in the dataset, the
//! stamp that says whether a file is still the one recorded, and the one
//! handle ([`Source`]) each file is read from.

use std::{
    fs::{File, Metadata},
    io::Read,
    path::{Path, PathBuf},
    sync::Arc,
};

use serde::{Deserialize, Serialize};

use super::{Excluded, UploadError};

/// One local file to upload.
#[derive(Debug, Clone)]
pub(crate) struct LocalFile {
    pub(crate) local: PathBuf,
    /// The `/`-separated path inside the dataset.
    pub(crate) remote: String,
    pub(crate) stamp: Stamp,
    /// The device it was found on (0 where the platform has none): with
    /// the stamp's inode, it names the file.
    pub(crate) device: u64,
}

impl LocalFile {
    fn new(local: PathBuf, remote: String, meta: &Metadata) -> Self {
        Self {
            local,
            remote,
            stamp: Stamp::from_metadata(meta),
            device: device_of(meta),
        }
    }

    /// A file named by the caller rather than met by a walk: a symbolic
    /// link is followed here, once, and the file it names is the one
    /// opened later; anything but a regular file is refused.
    pub(crate) fn named(local: PathBuf, remote: String) -> Result<Self, UploadError> {
        let given = std::fs::symlink_metadata(&local).map_err(|e| io(&local, e))?;
        let local = if given.is_symlink() {
            std::fs::canonicalize(&local).map_err(|e| io(&local, e))?
        } else {
            local
        };
        let meta = std::fs::symlink_metadata(&local).map_err(|e| io(&local, e))?;
        if !meta.is_file() {
            return Err(UploadError::Rejected {
                path: local,
                reason: "it is not a regular file".to_owned(),
            });
        }
        Ok(Self::new(local, remote, &meta))
    }
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

    fn from_metadata(meta: &Metadata) -> Self {
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

fn device_of(meta: &Metadata) -> u64 {
    #[cfg(unix)]
    return std::os::unix::fs::MetadataExt::dev(meta);
    #[cfg(not(unix))]
    return 0;
}

pub(crate) fn io(path: &Path, source: std::io::Error) -> UploadError {
    UploadError::Io {
        path: path.to_owned(),
        source,
    }
}

/// A walked file opened once for its upload: every byte hashed or sent is
/// read from this handle, never through the path again, so a file swapped
/// after the check (for a link to a secret, say) is not what gets read.
#[derive(Debug, Clone)]
pub(crate) struct Source {
    file: Arc<File>,
    path: PathBuf,
    stamp: Stamp,
}

impl Source {
    /// Opens `path` without following a symbolic link in its last component
    /// (nor waiting on a FIFO), and checks that it is the regular file that
    /// was recorded: the same inode, size and modification time, and the
    /// same device when `device` is known. Anything else is
    /// [`UploadError::FileChanged`], and nothing of it is read.
    pub(crate) fn open(
        path: &Path,
        stamp: Stamp,
        device: Option<u64>,
    ) -> Result<Self, UploadError> {
        let changed = || UploadError::FileChanged {
            path: path.to_owned(),
        };
        let file = match open_no_follow(path) {
            Ok(file) => file,
            // A link (or another special file) where a regular file was.
            Err(_) if std::fs::symlink_metadata(path).is_ok_and(|m| !m.is_file()) => {
                return Err(changed())
            }
            Err(e) => return Err(io(path, e)),
        };
        let meta = file.metadata().map_err(|e| io(path, e))?;
        let same = meta.is_file()
            && Stamp::from_metadata(&meta) == stamp
            && device.is_none_or(|d| d == device_of(&meta));
        if !same {
            return Err(changed());
        }
        Ok(Self {
            file: Arc::new(file),
            path: path.to_owned(),
            stamp,
        })
    }

    /// The path it was opened from.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The opened file still has the size and modification time it was
    /// opened with (it was not written to since).
    pub(crate) fn unchanged(&self) -> Result<(), UploadError> {
        let meta = self.file.metadata().map_err(|e| io(&self.path, e))?;
        if Stamp::from_metadata(&meta) != self.stamp {
            return Err(UploadError::FileChanged {
                path: self.path.clone(),
            });
        }
        Ok(())
    }

    /// The file from its start, for one reader at a time (hashing).
    pub(crate) fn reader(&self) -> impl Read + '_ {
        &*self.file
    }

    /// Exactly `len` bytes at `offset`, read without moving a shared
    /// cursor (parts of one file are read concurrently). A file that ends
    /// first has changed: `UnexpectedEof`. Blocking.
    pub(crate) fn read_exact_at(&self, offset: u64, len: usize) -> std::io::Result<Vec<u8>> {
        let mut buf = vec![0u8; len];
        let mut done = 0;
        while done < len {
            match read_at(&self.file, &mut buf[done..], offset + done as u64) {
                Ok(0) => {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "the file is shorter than when the upload started",
                    ))
                }
                Ok(n) => done += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(buf)
    }
}

/// Opens for reading; a symbolic link as the last component is an error,
/// not followed, and a FIFO does not block the open.
fn open_no_follow(path: &Path) -> std::io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    no_follow(&mut options);
    options.open(path)
}

/// Makes `options` refuse a symbolic link as the last component instead of
/// following it, and not block on a FIFO: the one rule for every open of a
/// walked file and of a state, receipt or lock file.
pub(crate) fn no_follow(options: &mut std::fs::OpenOptions) {
    #[cfg(unix)]
    {
        use rustix::fs::OFlags;
        let flags = OFlags::NOFOLLOW | OFlags::NONBLOCK;
        std::os::unix::fs::OpenOptionsExt::custom_flags(options, flags.bits() as i32);
    }
    // FILE_FLAG_OPEN_REPARSE_POINT: a link is opened itself (and then
    // refused as not a regular file), not what it names.
    #[cfg(windows)]
    std::os::windows::fs::OpenOptionsExt::custom_flags(options, 0x0020_0000);
}

#[cfg(unix)]
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
    std::os::unix::fs::FileExt::read_at(file, buf, offset)
}

#[cfg(windows)]
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
    std::os::windows::fs::FileExt::seek_read(file, buf, offset)
}

/// What a walk does with an entry that is not a regular file or a
/// directory (a symbolic link, a FIFO, a socket, a device) inside the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Others {
    /// Leave it out and list it in [`Walk::excluded`] (dataset uploads).
    Report,
    /// Refuse the whole upload, naming it (Fleet recordings, §9.2).
    Refuse,
}

/// What a walk found.
#[derive(Debug, Default)]
pub(crate) struct Walk {
    /// The regular files, sorted by their path in the dataset.
    pub(crate) files: Vec<LocalFile>,
    /// The entries left out (with [`Others::Report`]), sorted by path.
    pub(crate) excluded: Vec<(String, Excluded)>,
}

/// The regular files under `source` (or `source` itself when it is a file).
/// Symbolic links are followed for the source itself but not inside it (a
/// link could leave the tree or loop): there, links and special files are
/// reported or refused, as `others` says. Each entry is looked at once
/// (`lstat`): what is recorded is what was classified.
pub(crate) fn walk(source: &Path, others: Others) -> Result<Walk, UploadError> {
    let meta = std::fs::metadata(source).map_err(|e| io(source, e))?;
    let mut out = Walk::default();
    if !meta.is_dir() {
        let name = source
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| not_utf8(source))?;
        out.files
            .push(LocalFile::named(source.to_owned(), name.to_owned())?);
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
            let meta = std::fs::symlink_metadata(&path).map_err(|e| io(&path, e))?;
            let remote = format!("{prefix}{name}");
            if meta.is_dir() {
                dirs.push((path, format!("{remote}/")));
            } else if meta.is_file() {
                out.files.push(LocalFile::new(path, remote, &meta));
            } else {
                let kind = if meta.is_symlink() {
                    Excluded::SymbolicLink
                } else {
                    Excluded::SpecialFile
                };
                match others {
                    Others::Report => out.excluded.push((remote, kind)),
                    Others::Refuse => return Err(refused(path, kind)),
                }
            }
        }
    }
    out.files.sort_by(|a, b| a.remote.cmp(&b.remote));
    out.excluded.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

fn refused(path: PathBuf, kind: Excluded) -> UploadError {
    let reason = match kind {
        Excluded::SymbolicLink => {
            "it is a symbolic link; copy the file it points to into the directory"
        }
        _ => "it is not a regular file (a FIFO, socket or device); move it out of the directory",
    };
    UploadError::Rejected {
        path,
        reason: reason.to_owned(),
    }
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

    fn scratch() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("avala-inventory-{:016x}", fastrand::u64(..)));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// A special file without `unsafe` (the crate forbids it; the FIFO
    /// cases are in tests/upload_dataset.rs): a Unix socket.
    #[cfg(unix)]
    fn socket(path: &Path) -> std::os::unix::net::UnixListener {
        std::os::unix::net::UnixListener::bind(path).unwrap()
    }

    fn changed(result: Result<Source, UploadError>) -> bool {
        matches!(result, Err(UploadError::FileChanged { .. }))
    }

    #[cfg(unix)]
    #[test]
    fn a_source_is_the_walked_regular_file_or_it_is_refused_unread() {
        let dir = scratch();
        let a = dir.join("a.bin");
        std::fs::write(&a, b"0123456789").unwrap();
        let walked = walk(&dir, Others::Refuse).unwrap().files.remove(0);
        let open = || Source::open(&a, walked.stamp, Some(walked.device));

        // The device recorded is the file's own, as the OS reports it: a
        // file of the same inode on another device is another file.
        let dev = std::os::unix::fs::MetadataExt::dev(&std::fs::metadata(&a).unwrap());
        assert_eq!(walked.device, dev);
        assert!(Source::open(&a, walked.stamp, Some(dev)).is_ok());
        let source = open().unwrap();
        assert_eq!(source.read_exact_at(3, 4).unwrap(), b"3456");
        let short = source.read_exact_at(8, 4).unwrap_err();
        assert_eq!(short.kind(), std::io::ErrorKind::UnexpectedEof);
        assert!(source.unchanged().is_ok());
        assert!(changed(Source::open(
            &a,
            walked.stamp,
            Some(walked.device + 1)
        )));

        // Another file of the same size and time: its inode gives it away.
        let mtime = std::fs::metadata(&a).unwrap().modified().unwrap();
        std::fs::remove_file(&a).unwrap();
        std::fs::write(dir.join("keep"), b"x").unwrap(); // the old inode stays taken
        std::fs::write(&a, b"ABCDEFGHIJ").unwrap();
        std::fs::File::options()
            .write(true)
            .open(&a)
            .unwrap()
            .set_modified(mtime)
            .unwrap();
        assert!(changed(open()));

        // A link to another file, and a socket.
        std::fs::remove_file(&a).unwrap();
        std::os::unix::fs::symlink(dir.join("keep"), &a).unwrap();
        assert!(changed(open()));
        std::fs::remove_file(&a).unwrap();
        let _socket = socket(&a);
        assert!(changed(open()));
        std::fs::remove_file(&a).unwrap();
        assert!(matches!(open(), Err(UploadError::Io { .. })));
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// A read that fails (here `EIO`: `/proc/self/mem` at address 0,
    /// which no process maps) is returned, not retried as an interruption
    /// would be.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_failed_read_is_returned_not_retried() {
        let mem = Path::new("/proc/self/mem");
        let source = Source::open(mem, Stamp::of(mem).unwrap(), None).unwrap();
        let err = source.read_exact_at(0, 16).unwrap_err();
        assert_ne!(err.kind(), std::io::ErrorKind::Interrupted);
        assert_ne!(err.kind(), std::io::ErrorKind::UnexpectedEof, "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn a_source_written_to_after_its_open_is_changed() {
        let dir = scratch();
        let a = dir.join("a.bin");
        std::fs::write(&a, b"0123456789").unwrap();
        let walked = walk(&a, Others::Refuse).unwrap().files.remove(0);
        let source = Source::open(&a, walked.stamp, Some(walked.device)).unwrap();
        std::fs::OpenOptions::new()
            .append(true)
            .open(&a)
            .and_then(|mut f| std::io::Write::write_all(&mut f, b"more"))
            .unwrap();
        assert!(matches!(
            source.unchanged(),
            Err(UploadError::FileChanged { .. })
        ));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn the_walk_reports_or_refuses_links_and_special_files() {
        let dir = scratch();
        std::fs::create_dir_all(dir.join("d")).unwrap();
        std::fs::write(dir.join("d/a.bin"), b"a").unwrap();
        std::os::unix::fs::symlink(dir.join("d/a.bin"), dir.join("link")).unwrap();
        let _socket = socket(&dir.join("d/pipe"));
        let walked = walk(&dir, Others::Report).unwrap();
        let files: Vec<_> = walked.files.iter().map(|f| f.remote.as_str()).collect();
        assert_eq!(files, ["d/a.bin"]);
        assert_eq!(
            walked.excluded,
            [
                ("d/pipe".to_owned(), Excluded::SpecialFile),
                ("link".to_owned(), Excluded::SymbolicLink),
            ]
        );
        std::fs::remove_file(dir.join("link")).unwrap();
        let e = walk(&dir, Others::Refuse).unwrap_err().to_string();
        assert!(
            e.contains("d/pipe") && e.contains("not a regular file"),
            "{e}"
        );
        // A special file named as the source itself is refused too.
        let e = walk(&dir.join("d/pipe"), Others::Report)
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a regular file"), "{e}");
        // A link named as the source is followed, to the file it names.
        std::os::unix::fs::symlink(dir.join("d/a.bin"), dir.join("named")).unwrap();
        let walked = walk(&dir.join("named"), Others::Refuse).unwrap();
        assert_eq!(walked.files[0].remote, "named");
        assert_eq!(
            walked.files[0].local,
            std::fs::canonicalize(dir.join("d/a.bin")).unwrap()
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn remote_paths_are_checked() {
        assert!(check_remote("a/b.jpg").is_ok());
        for bad in ["", "/a", "a//b", "a/../b", "./a", "a\\b", "a/"] {
            assert!(check_remote(bad).is_err(), "{bad}");
        }
    }

    fn io_error<T: std::fmt::Debug>(result: Result<T, UploadError>) -> (PathBuf, String) {
        match result {
            Err(UploadError::Io { path, source }) => (path, source.to_string()),
            other => panic!("expected UploadError::Io, got {other:?}"),
        }
    }

    /// A name that is not UTF-8 has no path in the dataset: inside the
    /// tree and as the source itself, an `Io` error that names the file.
    #[cfg(unix)]
    #[test]
    fn a_file_name_that_is_not_utf8_is_refused_by_name() {
        use std::os::unix::ffi::OsStrExt;
        let dir = scratch();
        let odd = dir.join(std::ffi::OsStr::from_bytes(b"caf\xe9.jpg"));
        std::fs::write(&odd, b"x").unwrap();
        for source in [&dir, &odd] {
            let (path, why) = io_error(walk(source, Others::Report));
            assert_eq!(path, odd);
            assert!(why.contains("not UTF-8"), "{why}");
        }
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// A missing source, a dangling link named as the source, and a link
    /// inside a recording (refused with the reason of a link, not of a
    /// special file).
    #[cfg(unix)]
    #[test]
    fn missing_and_dangling_sources_and_links_inside_are_refused() {
        let dir = scratch();
        let missing = dir.join("missing.bin");
        assert_eq!(io_error(walk(&missing, Others::Refuse)).0, missing);
        assert_eq!(io_error(Stamp::of(&missing)).0, missing);
        let dangling = dir.join("dangling");
        std::os::unix::fs::symlink(&missing, &dangling).unwrap();
        assert_eq!(
            io_error(LocalFile::named(dangling.clone(), "d".into())).0,
            dangling
        );
        let tree = dir.join("tree");
        std::fs::create_dir(&tree).unwrap();
        std::os::unix::fs::symlink(&missing, tree.join("link")).unwrap();
        match walk(&tree, Others::Refuse) {
            Err(UploadError::Rejected { path, reason }) => {
                assert_eq!(path, tree.join("link"));
                assert!(reason.contains("it is a symbolic link"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        std::fs::remove_dir_all(dir).unwrap();
    }
}

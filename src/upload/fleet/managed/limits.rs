//! The constraints of §9.3 checked before any call: arguments, then the
//! local files (count, `*.mcap`, sizes, path rules). Each refusal names the
//! offending argument or file.

use std::{path::Path, time::Duration};

use crate::upload::{fleet, inventory::LocalFile, UploadError};
use crate::{Error, Result};

pub(super) const MAX_FILES: usize = 64;
pub(super) const MAX_FILE_BYTES: u64 = 8 * 1024 * 1024 * 1024;
pub(super) const MAX_TOTAL_BYTES: u64 = 64 * 1024 * 1024 * 1024;
pub(super) const MAX_WORKERS: usize = 4;
pub(super) const MAX_WAIT: Duration = Duration::from_secs(3600);
/// Paths under this prefix are the server's own (derived) objects.
const DERIVED: &str = "__derived__/";

/// The recording uid as given must already be the canonical lowercase UUID
/// (Python's `canonical_uid`: `str(UUID(value)) == value`).
pub(super) fn recording_uid(uid: &str) -> Result<String> {
    match fleet::canonical_recording_uid(uid) {
        Ok(canonical) if canonical == uid => Ok(canonical),
        _ => Err(Error::InvalidArgument {
            message: format!(
                "recording uid {uid:?} is not a canonical lowercase UUID \
                 (like 0f8fad5b-d9cb-469f-a165-70867728950e); pass it as the API returns it"
            ),
        }),
    }
}

pub(super) fn workers(workers: usize) -> Result<usize> {
    crate::config::workers(workers, MAX_WORKERS)
}

pub(super) fn wait(wait: Option<Duration>) -> Result<Option<Duration>> {
    if wait.is_none_or(|wait| wait <= MAX_WAIT) {
        return Ok(wait);
    }
    Err(Error::InvalidArgument {
        message: format!(
            "the publication wait must be 0 to 3600 s, got {} s",
            wait.unwrap_or_default().as_secs_f64()
        ),
    })
}

/// Checks the walked files of `dir` before anything is hashed or sent.
pub(super) fn files(dir: &Path, files: &[LocalFile]) -> Result<()> {
    let rejected = |path: &Path, reason: String| -> Error {
        UploadError::Rejected {
            path: path.to_owned(),
            reason,
        }
        .into()
    };
    if files.is_empty() || files.len() > MAX_FILES {
        return Err(rejected(
            dir,
            format!(
                "a managed upload takes 1 to {MAX_FILES} MCAP files, the directory holds {}",
                files.len()
            ),
        ));
    }
    for file in files {
        if let Some(reason) = path_problem(&file.remote) {
            return Err(rejected(&file.local, reason));
        }
        if !(1..=MAX_FILE_BYTES).contains(&file.stamp.size) {
            return Err(rejected(
                &file.local,
                format!(
                    "a managed upload takes files of 1 byte to 8 GiB, this one has {} bytes",
                    file.stamp.size
                ),
            ));
        }
    }
    let total: u64 = files.iter().map(|f| f.stamp.size).sum();
    if total > MAX_TOTAL_BYTES {
        return Err(rejected(
            dir,
            format!("a managed upload takes at most 64 GiB in all, these files have {total} bytes"),
        ));
    }
    Ok(())
}

/// Why the `/`-separated path `path` is refused, if it is.
fn path_problem(path: &str) -> Option<String> {
    if !path.to_ascii_lowercase().ends_with(".mcap") {
        return Some("a managed upload takes only `*.mcap` files".to_owned());
    }
    if path.contains('\\') {
        return Some("its path holds a backslash".to_owned());
    }
    if path.chars().any(char::is_control) {
        return Some("its path holds a control character".to_owned());
    }
    if !unicode_normalization::is_nfc(path) {
        return Some("its path is not in Unicode NFC form; rename it".to_owned());
    }
    if path.starts_with(DERIVED) {
        return Some(format!(
            "paths under `{DERIVED}` are reserved for the server"
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::files as files_check;
    use super::*;

    #[test]
    fn paths_follow_section_9_3() {
        assert_eq!(path_problem("run/cam.mcap"), None);
        assert_eq!(path_problem("RUN.MCAP"), None);
        assert_eq!(path_problem("caf\u{e9}.mcap"), None);
        for bad in [
            "notes.txt",
            "a.mcap.zst",
            "cafe\u{301}.mcap",
            "a\tb.mcap",
            "a\u{7f}.mcap",
            "__derived__/x.mcap",
        ] {
            assert!(path_problem(bad).is_some(), "{bad:?}");
        }
    }

    #[test]
    fn arguments_are_bounded_not_clamped() {
        assert!(workers(0).is_err() && workers(5).is_err());
        assert_eq!(workers(4).unwrap(), 4);
        assert!(wait(Some(Duration::from_secs(3601))).is_err());
        assert_eq!(wait(Some(Duration::ZERO)).unwrap(), Some(Duration::ZERO));
        assert_eq!(wait(None).unwrap(), None, "no wait");
        let canonical = "0f8fad5b-d9cb-469f-a165-70867728950e";
        assert_eq!(recording_uid(canonical).unwrap(), canonical);
        for bad in [
            "0F8FAD5B-D9CB-469F-A165-70867728950E",
            "0f8fad5bd9cb469fa16570867728950e",
            "rec_1",
        ] {
            assert!(
                matches!(recording_uid(bad), Err(Error::InvalidArgument { .. })),
                "{bad}"
            );
        }
    }

    /// `n` files of `size` bytes each (no disk: only what the checks read).
    fn of_size(n: usize, size: u64) -> Vec<LocalFile> {
        (0..n)
            .map(|i| LocalFile {
                local: format!("/rec/{i}.mcap").into(),
                remote: format!("{i}.mcap"),
                stamp: crate::upload::inventory::Stamp {
                    size,
                    mtime_ns: 0,
                    inode: i as u64,
                },
                device: 0,
            })
            .collect()
    }

    /// Each limit of §9.3 admits its bound and refuses one more: 1 to 64
    /// files, 1 byte to 8 GiB each, 64 GiB in all.
    #[test]
    fn file_count_sizes_and_total_are_bounded_at_their_limits() {
        let dir = Path::new("/rec");
        let gib = 1024 * 1024 * 1024;
        let refused = |files: Vec<LocalFile>| {
            matches!(files_check(dir, &files),
                Err(Error::Upload(e)) if matches!(*e, UploadError::Rejected { .. }))
        };
        assert!(files_check(dir, &of_size(64, 1)).is_ok());
        assert!(refused(of_size(65, 1)) && refused(of_size(0, 1)));
        assert!(files_check(dir, &of_size(1, 8 * gib)).is_ok());
        assert!(refused(of_size(1, 8 * gib + 1)) && refused(of_size(1, 0)));
        assert!(
            files_check(dir, &of_size(8, 8 * gib)).is_ok(),
            "64 GiB in all"
        );
        let mut over = of_size(8, 8 * gib);
        over.extend(of_size(1, 1));
        assert!(refused(over), "64 GiB and a byte");
    }
}

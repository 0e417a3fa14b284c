//! What a resolver download finds at its targets: a file with the object's
//! size and SHA-256 is kept; one that differs is replaced only with
//! `overwrite`. The write itself, and the path rules, are the shared
//! download module's (`crate::download::file`).

use std::{
    fs, io,
    path::{Path, PathBuf},
};

pub(crate) use crate::download::file::{blocking, conflict, local, same_file, Part, Place};
use crate::{Error, Result};

/// What is at a target now, next to the object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Existing {
    /// Nothing.
    Absent,
    /// A regular file with the object's size and SHA-256.
    Same,
    /// A regular file with other bytes.
    Differs,
}

/// What is at `place`, compared with an object of `size` bytes and
/// `sha256`, without following links and without writing. Blocking.
pub(crate) fn inspect(place: &Place, size: u64, sha256: &str) -> Result<Existing> {
    if !place.directories(false)? {
        return Ok(Existing::Absent);
    }
    let path = place.path();
    let meta = match fs::symlink_metadata(&path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Existing::Absent),
        Err(e) => return Err(local(&path, "reading", e)),
    };
    if meta.file_type().is_symlink() {
        return Err(conflict(&path, "it is a symbolic link", false));
    }
    if !meta.is_file() {
        return Err(conflict(&path, "it is not a regular file", false));
    }
    if meta.len() != size {
        return Ok(Existing::Differs);
    }
    let file = fs::File::open(&path).map_err(|e| local(&path, "reading", e))?;
    let opened = file.metadata().map_err(|e| local(&path, "reading", e))?;
    if !same_file(&meta, &opened) {
        return Err(conflict(
            &path,
            "it changed while it was being checked",
            false,
        ));
    }
    let (digest, len) = crate::digest::sha256_read(file).map_err(|e| local(&path, "reading", e))?;
    Ok(if len == size && crate::digest::hex(&digest) == sha256 {
        Existing::Same
    } else {
        Existing::Differs
    })
}

/// The refusal to replace files that differ from their objects: `first`,
/// then up to five of `others`, and how many more.
pub(crate) fn differs(first: &Path, others: &[PathBuf]) -> Error {
    const NAMED: usize = 5;
    let mut reason = String::from("a file is there and differs from the dataset's object");
    if !others.is_empty() {
        let named: Vec<String> = others
            .iter()
            .take(NAMED)
            .map(|p| p.display().to_string())
            .collect();
        reason.push_str(&format!("; so do {}", named.join(", ")));
        if others.len() > NAMED {
            reason.push_str(&format!(" and {} more", others.len() - NAMED));
        }
    }
    conflict(first, &reason, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_differing_file_is_named_with_up_to_five_others_and_a_count() {
        let others: Vec<PathBuf> = (1..=7).map(|i| PathBuf::from(format!("d/{i}"))).collect();
        for (n, expected) in [
            (0, "a file is there and differs from the dataset's object"),
            (
                1,
                "a file is there and differs from the dataset's object; so do d/1",
            ),
            (
                5,
                "a file is there and differs from the dataset's object; so do d/1, d/2, d/3, d/4, d/5",
            ),
            (
                6,
                "a file is there and differs from the dataset's object; so do d/1, d/2, d/3, d/4, d/5 and 1 more",
            ),
            (
                7,
                "a file is there and differs from the dataset's object; so do d/1, d/2, d/3, d/4, d/5 and 2 more",
            ),
        ] {
            match differs(Path::new("d/0"), &others[..n]) {
                Error::FileConflict {
                    path,
                    reason,
                    overwritable,
                } => {
                    assert_eq!(path, PathBuf::from("d/0"));
                    assert_eq!(reason, expected, "{n} others");
                    assert!(overwritable);
                }
                other => panic!("expected FileConflict, got {other:?}"),
            }
        }
    }
}

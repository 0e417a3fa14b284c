//! What the two Fleet recording protocols (§9.2 legacy, §9.3 managed)
//! share: the recording uid in its canonical form, and the local inventory
//! of a recording directory with every file's SHA-256.

use std::path::{Path, PathBuf};

use futures::{StreamExt, TryStreamExt};

pub(crate) mod legacy;
pub(crate) mod managed;

use crate::upload::{
    inventory::{self, LocalFile, Others, Source, Stamp},
    UploadError,
};
use crate::{digest, Error, Result};

/// Files hashed at the same time: enough to keep a fast disk and two cores
/// busy, few enough that a slow disk is not thrashed.
const HASHING_FILES: usize = 4;

/// One file of a recording, hashed.
#[derive(Debug, Clone)]
pub(crate) struct RecordingFile {
    pub(crate) local: PathBuf,
    /// The `/`-separated path relative to the recording directory.
    pub(crate) path: String,
    /// Size, modification time and inode when it was hashed: a later run
    /// (or the transfer) compares them to know the file is unchanged.
    pub(crate) stamp: Stamp,
    /// Lowercase hex SHA-256 of its bytes.
    pub(crate) sha256: String,
}

/// The recording uid as a lowercase canonical UUID (§13.2: the uid must
/// match `[A-Za-z0-9_-]{1,128}` and is turned into a UUID before it goes
/// into paths and the `s3_prefix` check).
pub(crate) fn canonical_recording_uid(uid: &str) -> Result<String> {
    // Without its dashes, only a UUID's simple form (32 hex digits) can
    // parse: the others need their dashes, braces or prefix. So the parse
    // holds the uid to the alphabet and a UUID's digits; the length is
    // left.
    let hex: String = uid.chars().filter(|c| *c != '-').collect();
    match uuid::Uuid::try_parse(&hex) {
        Ok(parsed) if uid.len() <= 128 => Ok(parsed.hyphenated().to_string()),
        _ => Err(Error::InvalidArgument {
            message: format!(
                "recording uid {uid:?} is not a UUID; pass the recording's uid as the API returns it"
            ),
        }),
    }
}

/// The regular files of `dir`, sorted by path, walked on a blocking
/// thread. A symbolic link or a special file anywhere inside is refused,
/// naming it. The protocol's own limits (counts, sizes, names) are for its
/// caller to check on the result, before [`hash`] reads a byte.
pub(crate) async fn walk(dir: &Path) -> Result<Vec<LocalFile>> {
    if !std::fs::metadata(dir)
        .map_err(|e| inventory::io(dir, e))?
        .is_dir()
    {
        return Err(UploadError::Rejected {
            path: dir.to_owned(),
            reason: "a recording is uploaded from a directory; pass the directory".to_owned(),
        }
        .into());
    }
    let walk_dir = dir.to_owned();
    let walked = tokio::task::spawn_blocking(move || inventory::walk(&walk_dir, Others::Refuse))
        .await
        .map_err(|e| inventory::io(dir, std::io::Error::other(e.to_string())))??;
    Ok(walked.files)
}

/// Each walked file with its SHA-256, streamed from the file opened once
/// and checked to be the walked one (see [`Source::open`]), on blocking
/// threads, a few files at a time. A file that changed since the walk is
/// [`UploadError::FileChanged`].
pub(crate) async fn hash(files: Vec<LocalFile>) -> Result<Vec<RecordingFile>> {
    futures::stream::iter(files.into_iter().map(|file| async move {
        let local = file.local.clone();
        tokio::task::spawn_blocking(move || hash_one(file))
            .await
            .unwrap_or_else(|e| {
                Err(inventory::io(&local, std::io::Error::other(e.to_string())).into())
            })
    }))
    .buffered(HASHING_FILES)
    .try_collect()
    .await
}

/// One file of [`hash`]. Blocking.
fn hash_one(file: LocalFile) -> Result<RecordingFile> {
    let source = Source::open(&file.local, file.stamp, Some(file.device))?;
    let (sha, len) =
        digest::sha256_read(source.reader()).map_err(|e| inventory::io(&file.local, e))?;
    if len != file.stamp.size {
        return Err(UploadError::FileChanged { path: file.local }.into());
    }
    Ok(RecordingFile {
        local: file.local,
        path: file.remote,
        stamp: file.stamp,
        sha256: digest::hex(&sha),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recording_uids_become_canonical_lowercase_uuids() {
        let canonical = "0f8fad5b-d9cb-469f-a165-70867728950e";
        for given in [
            canonical,
            "0F8FAD5B-D9CB-469F-A165-70867728950E",
            "0f8fad5bd9cb469fa16570867728950e",
        ] {
            assert_eq!(
                canonical_recording_uid(given).unwrap(),
                canonical,
                "{given}"
            );
        }
        // Dashes anywhere, up to 128 characters in all.
        let dashed =
            |dashes: usize| format!("0f8fad5b{}d9cb469fa16570867728950e", "-".repeat(dashes));
        assert_eq!(canonical_recording_uid(&dashed(96)).unwrap(), canonical);
        for bad in [
            "",
            "rec_1",
            "0f8fad5b-d9cb-469f-a165-70867728950",
            "0f8fad5b-d9cb-469f-a165-70867728950e0",
            "0f8fad5b-d9cb-469f-a165-70867728950g",
            "0f8fad5b_d9cb_469f_a165_70867728950e",
            "0f8fad5b-d9cb-469f-a165-70867728950e\n",
            "{0f8fad5b-d9cb-469f-a165-70867728950e}",
            "urn:uuid:0f8fad5b-d9cb-469f-a165-70867728950e",
            "../0f8fad5bd9cb469fa16570867728950e",
            &dashed(97),
        ] {
            assert!(canonical_recording_uid(bad).is_err(), "{bad}");
        }
    }

    async fn inventory(dir: &Path) -> Result<Vec<RecordingFile>> {
        hash(walk(dir).await?).await
    }

    #[tokio::test]
    async fn inventory_hashes_sorted_files_and_refuses_links() {
        let dir = std::env::temp_dir().join(format!("avala-fleet-{}", fastrand::u64(..)));
        std::fs::create_dir_all(dir.join("cam")).unwrap();
        std::fs::write(dir.join("cam/b.mcap"), b"abc").unwrap();
        std::fs::write(dir.join("a.log"), b"").unwrap();
        let files = inventory(&dir).await.unwrap();
        let paths: Vec<_> = files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, ["a.log", "cam/b.mcap"]);
        assert_eq!(
            files[1].sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(files[1].stamp.size, 3);
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(dir.join("a.log"), dir.join("cam/link")).unwrap();
            let e = inventory(&dir).await.unwrap_err().to_string();
            assert!(e.contains("cam/link") && e.contains("symbolic link"), "{e}");
        }
        let e = inventory(&dir.join("a.log")).await.unwrap_err().to_string();
        assert!(e.contains("directory"), "{e}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}

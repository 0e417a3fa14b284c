//! Which files the server indexes for each data type, how the type is told
//! from the files when the caller does not give it, and the guard against
//! an upload that would finalise into an empty dataset.
//!
//! The table is the one the official Python SDK 0.10.0 keeps for its folder
//! importer (its "indexed suffixes"), which records what the ingest side
//! admits; a file whose path ends otherwise is stored but never becomes an
//! item. Matching is on the end of the lower-cased path in the dataset, so
//! two-part suffixes (`.alp.gz`, `.compressed.ply`) count.

use crate::types::DataType;
use crate::upload::{inventory::LocalFile, KindCount, UploadError};

/// Every data type the SDK knows, with the suffixes indexed for it.
static INDEXED: [(DataType, &[&str]); 5] = [
    (
        DataType::Image,
        &[
            ".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff",
        ],
    ),
    (
        DataType::Video,
        &[".mp4", ".webm", ".mkv", ".mov", ".episode"],
    ),
    (DataType::Lidar, &[".alp", ".alp.gz"]),
    (DataType::Mcap, &[".mcap"]),
    (
        DataType::Splat,
        &[
            ".ply",
            ".compressed.ply",
            ".splat",
            ".sog",
            ".spz",
            ".ksplat",
        ],
    ),
];

/// The suffixes indexed for `data_type`; `None` for a type the SDK does
/// not know (`DataType::Unknown`).
pub(crate) fn suffixes(data_type: &DataType) -> Option<&'static [&'static str]> {
    INDEXED
        .iter()
        .find(|(t, _)| t == data_type)
        .map(|(_, s)| *s)
}

/// The data type whose indexed suffix ends `path`, if any.
pub(crate) fn kind_of(path: &str) -> Option<DataType> {
    let path = path.to_lowercase();
    INDEXED
        .iter()
        .find(|(_, s)| s.iter().any(|s| path.ends_with(s)))
        .map(|(t, _)| t.clone())
}

/// Whether the server indexes `path` for `data_type`.
pub(crate) fn indexed(data_type: &DataType, path: &str) -> bool {
    kind_of(path).as_ref() == Some(data_type)
}

/// The one data type the files' suffixes name; files no type claims are
/// not counted. No claimed file, or files of two types or more, is an
/// error that names what was found.
pub(crate) fn detect(files: &[LocalFile]) -> Result<DataType, UploadError> {
    let mut kinds: Vec<KindCount> = Vec::new();
    for file in files {
        let Some(kind) = kind_of(&file.remote) else {
            continue;
        };
        match kinds.iter_mut().find(|k| k.data_type == kind) {
            Some(k) => k.files += 1,
            None => kinds.push(KindCount {
                data_type: kind,
                files: 1,
                example: file.remote.clone(),
            }),
        }
    }
    match kinds.len() {
        0 => Err(UploadError::UnknownDataType {
            files: files.len(),
            example: files.first().map(|f| f.remote.clone()).unwrap_or_default(),
        }),
        1 => Ok(kinds.remove(0).data_type),
        _ => {
            kinds.sort_by(|a, b| b.files.cmp(&a.files).then(a.data_type.cmp(&b.data_type)));
            Err(UploadError::MixedDataTypes { kinds })
        }
    }
}

/// Refuses `data_type` when not one of the files would be indexed for it
/// (as the Python SDK's guard: some unindexed files next to indexed ones
/// are allowed, and are stored).
pub(crate) fn guard(data_type: &DataType, files: &[LocalFile]) -> Result<(), UploadError> {
    let known = suffixes(data_type);
    if known.is_some() && files.iter().any(|f| indexed(data_type, &f.remote)) {
        return Ok(());
    }
    Err(UploadError::NotIndexable {
        data_type: data_type.clone(),
        suffixes: known
            .unwrap_or_default()
            .iter()
            .map(|s| (*s).to_owned())
            .collect(),
        files: files.len(),
        example: files.first().map(|f| f.remote.clone()).unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffixes_match_the_end_of_the_path_in_any_case() {
        assert_eq!(kind_of("a/B.JPEG"), Some(DataType::Image));
        assert_eq!(kind_of("scan.alp.gz"), Some(DataType::Lidar));
        assert_eq!(kind_of("scene.Compressed.PLY"), Some(DataType::Splat));
        assert_eq!(kind_of("run.episode"), Some(DataType::Video));
        // A suffix in a directory's name or in the middle does not count.
        assert_eq!(kind_of("x.jpg/readme"), None);
        assert_eq!(kind_of("archive.gz"), None);
        assert_eq!(kind_of("jpg"), None);
        assert!(indexed(&DataType::Mcap, "d/drive.MCAP"));
        assert!(!indexed(&DataType::Image, "d/drive.mcap"));
        assert!(!indexed(&DataType::from("pointcloud"), "a.jpg"));
    }

    #[test]
    fn every_known_type_has_suffixes_and_no_suffix_has_two_types() {
        for (t, s) in &INDEXED {
            assert!(!s.is_empty(), "{t}");
            for suffix in *s {
                assert_eq!(kind_of(&format!("x{suffix}")).as_ref(), Some(t));
            }
        }
        assert_eq!(suffixes(&DataType::Unknown("x".into())), None);
    }
}

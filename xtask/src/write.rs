//! Atomic replacement of a file: write a temporary file in the same directory,
//! flush it to disk, then rename it over the target. A failure at any point
//! leaves the target as it was.

use std::{
    fs,
    io::Write as _,
    path::{Path, PathBuf},
};

pub fn atomic(target: &Path, text: &str) -> Result<(), String> {
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = target
        .file_name()
        .ok_or_else(|| format!("{} is not a file path", target.display()))?
        .to_string_lossy()
        .into_owned();
    let tmp = dir.join(format!(".{name}.xtask-{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, target)
    })();
    result.map_err(|e| {
        let _ = fs::remove_file(&tmp);
        format!("cannot write {}: {e}", target.display())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_and_leaves_no_temp_file() {
        let dir = std::env::temp_dir().join(format!("xtask-write-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let target = dir.join("doc.json");
        fs::write(&target, "old").unwrap();
        atomic(&target, "new\n").unwrap();
        assert_eq!(fs::read_to_string(&target).unwrap(), "new\n");
        let names: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("doc.json")]);
        // A directory that does not exist: an error, nothing created.
        let e = atomic(&dir.join("missing/doc.json"), "x").unwrap_err();
        assert!(e.contains("cannot write"), "{e}");
        fs::remove_dir_all(&dir).unwrap();
    }
}

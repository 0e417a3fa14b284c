//! `resolve <REF> [--download DIR]`: the SDK's anonymous resolver; every
//! downloaded object is verified (size and SHA-256) before it is renamed
//! into place.

use std::path::{Component, Path, PathBuf};

use clap::{value_parser, Arg, ArgMatches};
use futures::{future::LocalBoxFuture, TryStreamExt};
use serde_json::json;

use super::{required, Workflow};
use crate::{
    context::Context,
    failure::{Failure, Result},
    output::Outcome,
    progress::Progress,
};

pub const RESOLVE: Workflow = Workflow {
    path: &["resolve"],
    command: |c| {
        c.about("Resolve a public dataset reference; with --download, fetch its objects, verified")
            .long_about(
                "Resolve a public dataset reference (owner/dataset, owner/dataset@alias, \
                 owner/dataset@<64-hex revision> or avala://datasets/<uuid>@<revision>) and print \
                 the pinned revision. No API key is needed.\n\n\
                 With --download DIR, every object is written to DIR/<logical path>, each checked \
                 against the manifest's size and SHA-256 before it is renamed into place.",
            )
            .arg(
                Arg::new("reference")
                    .required(true)
                    .value_name("REF")
                    .help("The dataset reference"),
            )
            .arg(
                Arg::new("download")
                    .long("download")
                    .value_name("DIR")
                    .value_parser(value_parser!(PathBuf))
                    .help("Download every object into this directory"),
            )
    },
    run,
};

fn run<'a>(ctx: &'a Context, m: &'a ArgMatches) -> LocalBoxFuture<'a, Result<Outcome>> {
    Box::pin(async move {
        let resolver = avala::resolver::Resolver::builder()
            .base_url(ctx.base_url())
            .build()?;
        let dataset = resolver.load(required(m, "reference")?).await?;
        let (license, license_url) = dataset.license();
        let mut summary = json!({
            "canonical_reference": dataset.canonical_reference(),
            "display_reference": dataset.display_reference(),
            "dataset_uid": dataset.dataset_uid(),
            "revision_uid": dataset.revision_uid(),
            "revision_sha256": dataset.revision_sha256(),
            "manifest_sha256": dataset.manifest_sha256(),
            "object_count": dataset.object_count(),
            "total_size_bytes": dataset.total_size_bytes(),
            "license": license,
            "license_url": license_url,
        });
        if let Some(dir) = m.get_one::<PathBuf>("download") {
            let progress =
                Progress::bytes(ctx.interactive, dataset.total_size_bytes(), "downloading");
            let downloaded = download(&dataset, dir, &progress).await;
            progress.finish();
            let (files, bytes) = downloaded?;
            summary["downloaded_to"] = json!(dir.display().to_string());
            summary["downloaded_files"] = json!(files);
            summary["downloaded_bytes"] = json!(bytes);
        }
        Ok(Outcome::Value(summary))
    })
}

/// Downloads every object under `dir`; the files and bytes written.
async fn download(
    dataset: &avala::resolver::ResolvedDataset,
    dir: &Path,
    progress: &Progress,
) -> Result<(u64, u64)> {
    let (mut files, mut bytes) = (0, 0);
    let mut objects = dataset.objects();
    while let Some(object) = objects.try_next().await? {
        let target = dir.join(relative(object.logical_path())?);
        if let Some(parent) = target.parent() {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(|e| Failure::Io(format!("could not create {}: {e}", parent.display())))?;
        }
        progress.status(object.logical_path());
        object.download_to(&target).await?;
        files += 1;
        bytes += object.size_bytes();
        progress.set(bytes);
    }
    Ok((files, bytes))
}

/// A logical path as a path below the download directory: relative, with
/// no `..`, root or drive, so a hostile manifest cannot write elsewhere.
fn relative(logical: &str) -> Result<PathBuf> {
    let path = Path::new(logical);
    let normal = path
        .components()
        .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
    if logical.is_empty() || !normal {
        return Err(Failure::Sdk(avala::Error::Integrity {
            message: format!("the object path {logical:?} would leave the download directory"),
        }));
    }
    Ok(path.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_paths_stay_below_the_download_directory() {
        assert_eq!(relative("a/b.bin").unwrap(), PathBuf::from("a/b.bin"));
        for bad in ["../x", "/etc/passwd", "a/../../x", ""] {
            assert!(relative(bad).is_err(), "{bad}");
        }
    }
}

//! `resolve <REF> [--revision REV] [--download DIR [--workers N]
//! [--overwrite]]`: the SDK's anonymous resolver (its `load(..).revision(..)`
//! checks `--revision`) and its `download_all`: every object verified (size
//! and SHA-256) before it gets its name, files already there kept, others
//! never replaced without `--overwrite`, links never written through.

use std::path::PathBuf;

use clap::{value_parser, Arg, ArgAction, ArgMatches};
use futures::future::LocalBoxFuture;
use serde_json::json;

use super::{required, upload::totals, workers_arg, Workflow};
use crate::{context::Context, failure::Result, output::Outcome, progress::Progress};

pub const RESOLVE: Workflow = Workflow {
    path: &["resolve"],
    command: |c| {
        c.about("Resolve a public dataset reference; with --download, fetch its objects, verified")
            .long_about(
                "Resolve a public dataset reference (owner/dataset, owner/dataset@alias, \
                 owner/dataset@<64-hex revision> or avala://datasets/<uuid>@<revision>) and print \
                 the pinned revision. No API key is needed.\n\n\
                 --revision names the revision apart from the reference (an alias or a 64-hex \
                 revision digest), as `owner/dataset@REV` would; it is refused, before any \
                 request, when the reference names its own revision.\n\n\
                 With --download DIR, every object is written to DIR/<logical path>, several at a \
                 time, each checked against the manifest's size and SHA-256 before it gets its \
                 name. A file already there with that size and SHA-256 is kept (so a second run \
                 fetches only what is missing); a file that differs is not replaced unless \
                 --overwrite is given: the command names it and exits 1 before fetching anything. \
                 Nothing is written through a symbolic link inside DIR, and object paths that \
                 would name the same file on a case-insensitive file system are refused.",
            )
            .arg(
                Arg::new("reference")
                    .required(true)
                    .value_name("REF")
                    .help("The dataset reference"),
            )
            .arg(
                Arg::new("revision")
                    .long("revision")
                    .value_name("REV")
                    .help("The revision: an alias or a 64-hex revision digest"),
            )
            .arg(
                Arg::new("download")
                    .long("download")
                    .value_name("DIR")
                    .value_parser(value_parser!(PathBuf))
                    .help("Download every object into this directory"),
            )
            .arg(
                workers_arg("Objects fetched at the same time, 1 to 64 [default: 8]")
                    .requires("download"),
            )
            .arg(
                Arg::new("overwrite")
                    .long("overwrite")
                    .action(ArgAction::SetTrue)
                    .requires("download")
                    .help("Replace files in DIR that differ from the dataset's objects"),
            )
    },
    run,
};

fn run<'a>(ctx: &'a Context, m: &'a ArgMatches) -> LocalBoxFuture<'a, Result<Outcome>> {
    Box::pin(async move {
        let resolver = avala::resolver::Resolver::builder()
            .base_url(ctx.base_url())
            .build()?;
        let mut load = resolver.load(required(m, "reference")?);
        if let Some(revision) = m.get_one::<String>("revision") {
            load = load.revision(revision);
        }
        let dataset = load.await?;
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
            let show = totals(progress.clone());
            let mut download = dataset
                .download_all(dir)
                .overwrite(m.get_flag("overwrite"))
                .on_progress(move |p| {
                    show(p.files_done, p.files_total, p.bytes_done, p.bytes_total)
                });
            if let Some(n) = m.get_one::<usize>("workers") {
                download = download.workers(*n);
            }
            let report = download.await;
            progress.finish();
            let report = report?;
            summary["downloaded_to"] = json!(dir.display().to_string());
            summary["downloaded_files"] = json!(report.files_fetched);
            summary["downloaded_bytes"] = json!(report.bytes_fetched);
            summary["kept_files"] = json!(report.files_kept);
            summary["kept_bytes"] = json!(report.bytes_kept);
        }
        Ok(Outcome::Value(summary))
    })
}

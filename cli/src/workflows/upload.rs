//! `datasets upload <DIR>`: the SDK's resumable `upload_dataset`, with a
//! byte progress bar on a terminal and a line per tenth otherwise.

use std::{
    path::PathBuf,
    sync::atomic::{AtomicU64, Ordering},
    sync::Arc,
    time::Duration,
};

use avala::upload::{Excluded, ProgressEvent};
use clap::{value_parser, Arg, ArgAction, ArgMatches};
use futures::future::LocalBoxFuture;

use super::{
    interval_arg, required, seconds, state_dir_arg, timeout_arg, to_json, wait_flag, workers_arg,
    Workflow,
};
use crate::{context::Context, failure::Result, output::Outcome, progress::Progress};

/// The wait's default when `--wait` comes without `--timeout` (the SDK's
/// default for datasets).
const DEFAULT_WAIT: Duration = Duration::from_secs(3600);

pub const DATASETS_UPLOAD: Workflow =
    Workflow {
        path: &["datasets", "upload"],
        command: |c| {
            c.about(
            "Upload a file or directory into a new dataset (resumable: run it again to continue)",
        )
        .arg(
            Arg::new("dir")
                .required(true)
                .value_name("DIR")
                .value_parser(value_parser!(PathBuf))
                .help("The file or directory; paths in the dataset are relative to it"),
        )
        .arg(
            Arg::new("name")
                .long("name")
                .required(true)
                .help("The dataset's name"),
        )
        .arg(
            Arg::new("slug")
                .long("slug")
                .required(true)
                .help("The dataset's slug (in URLs)"),
        )
        .arg(
            Arg::new("data-type")
                .long("data-type")
                .required(true)
                .value_name("TYPE")
                .help("image, video, lidar, mcap or splat"),
        )
        .arg(
            Arg::new("visibility")
                .long("visibility")
                .help("private (default) or public"),
        )
        .arg(
            Arg::new("owner")
                .long("owner")
                .value_name("NAME")
                .help("The owner's name (user or organization)"),
        )
        .arg(
            Arg::new("organization-uid")
                .long("organization-uid")
                .value_name("UID")
                .help("Upload into this organization's storage"),
        )
        .arg(workers_arg("Files sent at the same time, 1 to 64 [default: 8]"))
        .arg(
            Arg::new("no-resume")
                .long("no-resume")
                .action(ArgAction::SetTrue)
                .help("Ignore an earlier run's state and send every file"),
        )
        .arg(state_dir_arg())
        .arg(wait_flag("the dataset is `created`"))
        .arg(timeout_arg("3600").requires("wait"))
        .arg(interval_arg("10").requires("wait"))
        },
        run,
    };

fn run<'a>(ctx: &'a Context, m: &'a ArgMatches) -> LocalBoxFuture<'a, Result<Outcome>> {
    Box::pin(async move {
        let dir = m.get_one::<PathBuf>("dir").cloned().unwrap_or_default();
        let progress = Progress::bytes(ctx.interactive, 0, "uploading");
        let mut upload = ctx
            .client()?
            .upload_dataset(&dir)
            .name(required(m, "name")?)
            .slug(required(m, "slug")?)
            .data_type(required(m, "data-type")?.into())
            .resume(!m.get_flag("no-resume"))
            .on_progress(reporter(progress.clone()));
        if let Some(v) = m.get_one::<String>("visibility") {
            upload = upload.visibility(v.as_str().into());
        }
        if let Some(owner) = m.get_one::<String>("owner") {
            upload = upload.owner_name(owner);
        }
        if let Some(org) = m.get_one::<String>("organization-uid") {
            upload = upload.organization_uid(org);
        }
        if let Some(n) = m.get_one::<usize>("workers") {
            upload = upload.workers(*n);
        }
        if let Some(state) = m.get_one::<PathBuf>("state-dir") {
            upload = upload.state_dir(state);
        }
        if m.get_flag("wait") {
            upload = upload.wait(seconds(m, "timeout").unwrap_or(DEFAULT_WAIT));
        }
        if let Some(interval) = seconds(m, "poll-interval") {
            upload = upload.poll_interval(interval);
        }
        let dataset = upload.send().await;
        progress.finish();
        Ok(Outcome::Value(to_json(&dataset?)))
    })
}

/// The progress callback of an upload (see [`totals`]); each entry the
/// walk left out gets a line of its own.
pub(super) fn reporter(
    progress: Progress,
) -> impl Fn(&avala::upload::Progress) + Send + Sync + 'static {
    let show = totals(progress.clone());
    move |p| {
        if let ProgressEvent::Excluded(kind) = p.event {
            // Debug quoting: a file name's control characters are escaped.
            let why = match kind {
                Excluded::SymbolicLink => "a symbolic link (not followed, not uploaded)",
                _ => "not a regular file (not uploaded)",
            };
            progress.note(&format!("skipped {:?}: {why}", p.path));
            return;
        }
        show(p.files_done, p.files_total, p.bytes_done, p.bytes_total)
    }
}

/// Shows running totals (files done, files, bytes done, bytes) of an upload
/// or a download: the bar follows the bytes; without a terminal a line at
/// every further tenth of the bytes, and when the last file is done.
pub(super) fn totals(
    progress: Progress,
) -> impl Fn(usize, usize, u64, u64) + Send + Sync + 'static {
    let tenths_shown = Arc::new(AtomicU64::new(u64::MAX));
    move |files_done, files_total, bytes_done, bytes_total| {
        progress.set_total(bytes_total);
        progress.set(bytes_done);
        let tenths = (bytes_done * 10).checked_div(bytes_total).unwrap_or(10);
        let step = tenths * 2 + u64::from(files_done == files_total);
        if tenths_shown.swap(step, Ordering::Relaxed) != step {
            progress.status(&format!(
                "{files_done}/{files_total} files, {bytes_done}/{bytes_total} bytes"
            ));
        }
    }
}

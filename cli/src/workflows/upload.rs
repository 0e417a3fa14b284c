//! `datasets upload <DIR>`: the SDK's resumable `upload_dataset`, with a
//! byte progress bar on a terminal and a line per tenth otherwise; with
//! `--dry-run`, its `plan()` as a table or JSON, and nothing sent.

use std::{
    path::PathBuf,
    sync::atomic::{AtomicU64, Ordering},
    sync::Arc,
    time::Duration,
};

use avala::upload::{DatasetUpload, ProgressEvent, UploadPlan};
use clap::{value_parser, Arg, ArgAction, ArgMatches};
use comfy_table::{presets::UTF8_BORDERS_ONLY, Table};
use futures::future::LocalBoxFuture;

use super::{
    interval_arg, required, seconds, source_dir, source_flag, state_dir_arg, timeout_arg, to_json,
    wait_flag, workers_arg, Workflow,
};
use crate::{
    context::Context,
    failure::Result,
    output::{for_terminal, Format, Outcome},
    progress::Progress,
};

/// The wait's default when `--wait` comes without `--timeout` (the SDK's
/// default for datasets).
const DEFAULT_WAIT: Duration = Duration::from_secs(3600);

/// The files a `--dry-run` table lists (JSON lists them all).
const PLAN_ROWS: usize = 50;

pub const DATASETS_UPLOAD: Workflow =
    Workflow {
        path: &["datasets", "upload"],
        command: |c| {
            c.about(
            "Upload a file or directory into a new dataset (resumable: run it again to continue)",
        )
        .arg(
            Arg::new("dir")
                .required_unless_present("source")
                .value_name("DIR")
                .value_parser(value_parser!(PathBuf))
                .help("The file or directory; paths in the dataset are relative to it"),
        )
        .arg(source_flag())
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
                .value_name("TYPE")
                .help("image, video, lidar, mcap or splat [default: told from the file names]"),
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
        .arg(
            Arg::new("industry")
                .long("industry")
                .value_name("ID")
                .value_parser(value_parser!(i64))
                .help("The dataset's industry category (numeric id)"),
        )
        .arg(
            Arg::new("license")
                .long("license")
                .value_name("ID")
                .value_parser(value_parser!(i64))
                .help("The dataset's license (numeric id)"),
        )
        .arg(
            Arg::new("create-metadata")
                .long("create-metadata")
                .action(ArgAction::SetTrue)
                .overrides_with("no-create-metadata")
                .help("Have the server create the dataset's metadata records (the default)"),
        )
        .arg(
            Arg::new("no-create-metadata")
                .long("no-create-metadata")
                .action(ArgAction::SetTrue)
                .overrides_with("create-metadata")
                .help("Do not have the server create the dataset's metadata records"),
        )
        .arg(
            Arg::new("dry-run")
                .long("dry-run")
                .action(ArgAction::SetTrue)
                .help("Show what would be uploaded (files, skips, data type, quota); send nothing"),
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
        let upload = builder(ctx, m)?;
        if m.get_flag("dry-run") {
            let plan = upload.plan().await?;
            return Ok(match ctx.format {
                Format::Json => Outcome::Value(to_json(&plan)),
                Format::Table => Outcome::Done(plan_table(&plan)),
            });
        }
        let progress = Progress::bytes(ctx.interactive, 0, "uploading");
        let dataset = upload.on_progress(reporter(progress.clone())).send().await;
        progress.finish();
        Ok(Outcome::Value(to_json(&dataset?)))
    })
}

/// The SDK's upload with every flag applied.
fn builder(ctx: &Context, m: &ArgMatches) -> Result<DatasetUpload> {
    let dir = source_dir(m)?;
    let mut upload = ctx
        .client()?
        .upload_dataset(&dir)
        .name(required(m, "name")?)
        .slug(required(m, "slug")?)
        .resume(!m.get_flag("no-resume"))
        .create_metadata(!m.get_flag("no-create-metadata"));
    if let Some(t) = m.get_one::<String>("data-type") {
        upload = upload.data_type(t.as_str().into());
    }
    if let Some(id) = m.get_one::<i64>("industry") {
        upload = upload.industry(*id);
    }
    if let Some(id) = m.get_one::<i64>("license") {
        upload = upload.license(*id);
    }
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
    Ok(upload)
}

/// A plan for a person: the dataset, a table of the files, the skips, the
/// quota. Every path is escaped here (before the table is laid out).
fn plan_table(plan: &UploadPlan) -> String {
    let how = if plan.data_type_detected {
        "told from the file names"
    } else {
        "given"
    };
    let mut text = format!(
        "Would create dataset {} (slug {}), data type {} ({how})\n",
        for_terminal(&plan.name),
        for_terminal(&plan.slug),
        for_terminal(plan.data_type.as_str()),
    );
    let mut t = Table::new();
    t.load_preset(UTF8_BORDERS_ONLY)
        .set_header(["path", "bytes", "indexed"]);
    for f in plan.files.iter().take(PLAN_ROWS) {
        let indexed = if f.indexed { "yes" } else { "no" };
        t.add_row([
            for_terminal(&f.path),
            f.size.to_string(),
            indexed.to_owned(),
        ]);
    }
    text.push_str(&format!("{t}\n"));
    if plan.files.len() > PLAN_ROWS {
        let more = plan.files.len() - PLAN_ROWS;
        text.push_str(&format!(
            "… and {more} more (--output json lists them all)\n"
        ));
    }
    let unindexed = plan.files.iter().filter(|f| !f.indexed).count();
    text.push_str(&format!(
        "{} files, {} bytes to send; {unindexed} would not be indexed as {}\n",
        plan.files.len(),
        plan.total_bytes,
        for_terminal(plan.data_type.as_str()),
    ));
    for s in &plan.skipped {
        text.push_str(&format!("skipped {:?}: {}\n", s.path, s.reason));
    }
    text.push_str(&match &plan.quota {
        Some(q) => format!(
            "quota: needs {} bytes, {} of {} used; {}",
            q.needed,
            q.used,
            q.limit,
            if q.within_limit {
                "within the limit"
            } else {
                "over the limit: the upload would be refused"
            }
        ),
        None => "quota: not checked".to_owned(),
    });
    text
}

/// The progress callback of an upload (see [`totals`]); each entry the
/// walk left out gets a line of its own.
pub(super) fn reporter(
    progress: Progress,
) -> impl Fn(&avala::upload::Progress) + Send + Sync + 'static {
    let show = totals(progress.clone());
    move |p| {
        if let ProgressEvent::Excluded(why) = p.event {
            // Debug quoting: a file name's control characters are escaped.
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

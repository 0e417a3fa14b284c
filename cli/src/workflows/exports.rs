//! `exports download UID PATH`, and the download of `exports create --wait
//! --download PATH`: the SDK's `download_export` (verified, written
//! atomically, resumed after a cut), with a byte bar on a terminal.

use std::{path::Path, time::Duration};

use clap::{value_parser, Arg, ArgAction, ArgMatches};
use futures::future::LocalBoxFuture;
use serde_json::json;

use super::{required, seconds, Workflow};
use crate::{context::Context, failure::Result, output::Outcome, progress::Progress};

pub const EXPORTS_DOWNLOAD: Workflow = Workflow {
    path: &["exports", "download"],
    command: |c| {
        c.about(
            "Download a finished export's file to PATH: size and checksum verified, \
             written atomically, a cut download resumed on the next run",
        )
        .arg(
            Arg::new("uid")
                .required(true)
                .value_name("UID")
                .help("The export's uid"),
        )
        .arg(path_arg().required(true))
        .arg(overwrite_arg())
        .arg(
            Arg::new("wait")
                .long("wait")
                .value_name("SECS")
                .value_parser(value_parser!(u64))
                .help("First wait up to this many seconds for the export to finish"),
        )
    },
    run: exports_download,
};

/// The target path, positional here and `--download PATH` on `create`.
fn path_arg() -> Arg {
    Arg::new("path")
        .value_name("PATH")
        .value_parser(value_parser!(std::path::PathBuf))
        .help("Where to write the file (a file already there is kept unless --overwrite)")
}

/// `--overwrite`: replace a regular file at the path.
pub fn overwrite_arg() -> Arg {
    Arg::new("overwrite")
        .long("overwrite")
        .action(ArgAction::SetTrue)
        .help("Replace a regular file at PATH (links and directories never are)")
}

/// `--download PATH` of `exports create --wait`.
pub fn download_arg() -> Arg {
    Arg::new("download")
        .long("download")
        .value_name("PATH")
        .value_parser(value_parser!(std::path::PathBuf))
        .requires("wait")
        .help("After the wait, download the export's file to PATH")
}

fn exports_download<'a>(
    ctx: &'a Context,
    m: &'a ArgMatches,
) -> LocalBoxFuture<'a, Result<Outcome>> {
    Box::pin(async move {
        let uid = required(m, "uid")?;
        let path = m
            .get_one::<std::path::PathBuf>("path")
            .ok_or_else(|| crate::failure::Failure::Usage("<path> is required".into()))?;
        download(ctx, uid, path, m.get_flag("overwrite"), seconds(m, "wait")).await
    })
}

/// Downloads export `uid` to `path`, with a bar on a terminal, and says
/// where it went.
pub async fn download(
    ctx: &Context,
    uid: &str,
    path: &Path,
    overwrite: bool,
    wait: Option<Duration>,
) -> Result<Outcome> {
    let progress = Progress::bytes(ctx.interactive, 0, &format!("export {uid}"));
    let mut download = ctx
        .client()?
        .download_export(uid, path)
        .overwrite(overwrite)
        .on_progress({
            let progress = progress.clone();
            move |p| {
                progress.set_total(p.total);
                progress.set(p.received);
            }
        });
    if let Some(wait) = wait {
        download = download.wait(wait);
    }
    let file = download.send().await;
    progress.finish();
    let file = file?;
    Ok(Outcome::Value(json!({
        "uid": uid,
        "path": file.path.display().to_string(),
        "size": file.size,
        "resumed_from": file.resumed_from,
        "md5_checked": file.md5_checked,
    })))
}

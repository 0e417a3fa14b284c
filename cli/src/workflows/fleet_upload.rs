//! `fleet recordings upload <RECORDING_UID> <DIR>`: the SDK's resumable
//! Fleet recording uploads, the legacy presigned-PUT protocol
//! (`upload_recording`) or, with `--managed`, the managed MCAP protocol
//! (`upload_managed_recording`), with the byte progress of `datasets upload`.

use std::{path::PathBuf, time::Duration};

use clap::{value_parser, Arg, ArgAction, ArgMatches};
use futures::future::LocalBoxFuture;

use super::{
    interval_arg, required, seconds, source_dir, source_flag, state_dir_arg, timeout_arg, to_json,
    upload::reporter, wait_flag, workers_arg, Workflow,
};
use crate::{context::Context, failure::Result, output::Outcome, progress::Progress};

/// The wait's default when `--wait` comes without `--timeout` (also the
/// SDK's cap for a managed publication).
const DEFAULT_WAIT: Duration = Duration::from_secs(3600);

const AFTER_HELP: &str = "\
Run it again to resume: what the server already confirmed is not sent again.

Legacy (the default): every file of DIR, walked recursively, with presigned PUTs; \
--wait waits until the recording is `ready` and the upload `completed` (a \
recording that goes to `error` exits 1).

--managed: the 1 to 64 `*.mcap` files of DIR into Avala-managed storage, then \
the publication; without --wait the status right after the finalize is printed. \
A publication that ended `failed` (waited for or not) prints nothing on stdout \
and exits 1 with one line naming its code (content_mismatch and invalid_mcap \
are final for these files; after another code, running the command again \
finalizes again).

With --wait, a job still running at the timeout exits 8 (both protocols).";

pub const FLEET_RECORDINGS_UPLOAD: Workflow = Workflow {
    path: &["fleet", "recordings", "upload"],
    command: |c| {
        c.about("Upload a recording directory to a Fleet recording (resumable: run it again to continue)")
            .after_help(AFTER_HELP)
            .arg(
                Arg::new("recording-uid")
                    .required_unless_present("recording")
                    .value_name("RECORDING_UID")
                    .help("The Fleet recording's uid (a lowercase UUID)"),
            )
            .arg(
                Arg::new("dir")
                    .required_unless_present("source")
                    .value_name("DIR")
                    .value_parser(value_parser!(PathBuf))
                    .help("The recording directory; paths in the recording are relative to it"),
            )
            .arg(
                Arg::new("recording")
                    .long("recording")
                    .value_name("RECORDING_UID")
                    .conflicts_with("recording-uid")
                    .help("The same as RECORDING_UID, as the Python CLI spells it"),
            )
            .arg(source_flag())
            .arg(
                Arg::new("managed")
                    .long("managed")
                    .action(ArgAction::SetTrue)
                    .help("Use the managed MCAP protocol (Avala-managed storage, then a publication)"),
            )
            .arg(
                Arg::new("storage-config")
                    .long("storage-config")
                    .value_name("UID")
                    .conflicts_with("managed")
                    .help("Upload into this storage configuration (legacy protocol only)"),
            )
            .arg(workers_arg("Files (legacy, 1 to 64) or parts (--managed, 1 to 4) sent at the same time [default: 4, or 2 with --managed]"))
            .arg(state_dir_arg())
            .arg(wait_flag("the recording is `ready` (legacy) or the publication has ended (--managed)"))
            .arg(timeout_arg("3600, at most 3600 with --managed").requires("wait"))
            .arg(interval_arg("10, at most 10; 2, at most 2 with --managed").requires("wait"))
    },
    run,
};

fn run<'a>(ctx: &'a Context, m: &'a ArgMatches) -> LocalBoxFuture<'a, Result<Outcome>> {
    Box::pin(async move {
        let uid = required(m, "recording-uid").or_else(|_| required(m, "recording"))?;
        let dir = source_dir(m)?;
        let wait = m
            .get_flag("wait")
            .then(|| seconds(m, "timeout").unwrap_or(DEFAULT_WAIT));
        let workers = m.get_one::<usize>("workers").copied();
        let interval = seconds(m, "poll-interval");
        let state_dir = m.get_one::<PathBuf>("state-dir");
        let client = ctx.client()?;
        let progress = Progress::bytes(ctx.interactive, 0, "uploading");
        if m.get_flag("managed") {
            let mut upload = client
                .upload_managed_recording(uid, &dir)
                .on_progress(reporter(progress.clone()));
            if let Some(n) = workers {
                upload = upload.workers(n);
            }
            if let Some(state) = state_dir {
                upload = upload.state_dir(state);
            }
            if let Some(timeout) = wait {
                upload = upload.wait(timeout);
            }
            if let Some(interval) = interval {
                upload = upload.poll_interval(interval);
            }
            let status = upload.send().await;
            progress.finish();
            return Ok(Outcome::Value(to_json(&status?)));
        }
        let mut upload = client
            .upload_recording(uid, &dir)
            .on_progress(reporter(progress.clone()));
        if let Some(config) = m.get_one::<String>("storage-config") {
            upload = upload.storage_config_uid(config);
        }
        if let Some(n) = workers {
            upload = upload.workers(n);
        }
        if let Some(state) = state_dir {
            upload = upload.state_dir(state);
        }
        if let Some(timeout) = wait {
            upload = upload.wait(timeout);
        }
        if let Some(interval) = interval {
            upload = upload.poll_interval(interval);
        }
        let status = upload.send().await;
        progress.finish();
        Ok(Outcome::Value(to_json(&status?)))
    })
}

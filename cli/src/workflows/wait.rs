//! `datasets wait`, `exports wait` and `exports create --wait`: the SDK's
//! `wait_for_dataset` / `wait_for_export`, with the status on stderr.

use clap::{Arg, ArgMatches};
use futures::future::LocalBoxFuture;

use super::{interval_arg, required, seconds, timeout_arg, to_json, wait_flag, Workflow};
use crate::{
    catalog,
    context::Context,
    failure::{Failure, Result},
    operation,
    output::Outcome,
    progress::Progress,
};

pub const DATASETS_WAIT: Workflow = Workflow {
    path: &["datasets", "wait"],
    command: |c| {
        c.about("Wait until a dataset reaches a status (by default `created`)")
            .arg(
                Arg::new("uid")
                    .required(true)
                    .value_name("UID")
                    .help("The dataset's uid"),
            )
            .arg(
                Arg::new("status")
                    .long("status")
                    .value_name("STATUS")
                    .help("The status to wait for, e.g. created [default: created]"),
            )
            .arg(interval_arg("10"))
            .arg(timeout_arg("3600"))
    },
    run: datasets_wait,
};

pub const EXPORTS_WAIT: Workflow = Workflow {
    path: &["exports", "wait"],
    command: |c| {
        c.about("Wait until an export is `exported` (a `failed` export exits 1)")
            .arg(
                Arg::new("uid")
                    .required(true)
                    .value_name("UID")
                    .help("The export's uid"),
            )
            .arg(interval_arg("2"))
            .arg(timeout_arg("300"))
    },
    run: exports_wait,
};

/// The generated `exports create`, with `--wait`.
pub const EXPORTS_CREATE: Workflow = Workflow {
    path: &["exports", "create"],
    command: |c| {
        c.arg(wait_flag(
            "the export is `exported`, and print it (a `failed` export exits 1)",
        ))
        .arg(interval_arg("2").requires("wait"))
        .arg(timeout_arg("300").requires("wait"))
        .arg(super::exports::download_arg())
        .arg(super::exports::overwrite_arg().requires("download"))
    },
    run: exports_create,
};

fn datasets_wait<'a>(ctx: &'a Context, m: &'a ArgMatches) -> LocalBoxFuture<'a, Result<Outcome>> {
    Box::pin(async move {
        let uid = required(m, "uid")?;
        let progress = Progress::spinner(ctx.interactive, &format!("dataset {uid}"));
        let mut wait = ctx.client()?.wait_for_dataset(uid).on_poll({
            let progress = progress.clone();
            move |d| progress.status(&status_of(d))
        });
        if let Some(status) = m.get_one::<String>("status") {
            wait = wait.status(status.as_str().into());
        }
        if let Some(t) = seconds(m, "poll-interval") {
            wait = wait.poll_interval(t);
        }
        if let Some(t) = seconds(m, "timeout") {
            wait = wait.timeout(t);
        }
        let dataset = wait.send().await;
        progress.finish();
        Ok(Outcome::Value(to_json(&dataset?)))
    })
}

fn exports_wait<'a>(ctx: &'a Context, m: &'a ArgMatches) -> LocalBoxFuture<'a, Result<Outcome>> {
    Box::pin(async move { wait_export(ctx, m, required(m, "uid")?).await })
}

fn exports_create<'a>(ctx: &'a Context, m: &'a ArgMatches) -> LocalBoxFuture<'a, Result<Outcome>> {
    Box::pin(async move {
        let op = catalog::operation("create_export")
            .ok_or_else(|| Failure::Usage("no create_export".into()))?;
        let created = operation::run(ctx, op, m).await?;
        if !m.get_flag("wait") {
            return Ok(created);
        }
        let uid = match &created {
            Outcome::Value(v) => v.get("uid").and_then(|u| u.as_str()).map(str::to_owned),
            _ => None,
        };
        let uid = uid.ok_or_else(|| {
            Failure::Sdk(avala::Error::Decode {
                message: "the created export has no uid to wait for".into(),
                body: None,
            })
        })?;
        let waited = wait_export(ctx, m, &uid).await?;
        match m.get_one::<std::path::PathBuf>("download") {
            Some(path) => {
                super::exports::download(ctx, &uid, path, m.get_flag("overwrite"), None).await
            }
            None => Ok(waited),
        }
    })
}

async fn wait_export(ctx: &Context, m: &ArgMatches, uid: &str) -> Result<Outcome> {
    let progress = Progress::spinner(ctx.interactive, &format!("export {uid}"));
    let mut wait = ctx.client()?.wait_for_export(uid).on_poll({
        let progress = progress.clone();
        move |e| progress.status(&status_of(e))
    });
    if let Some(t) = seconds(m, "poll-interval") {
        wait = wait.poll_interval(t);
    }
    if let Some(t) = seconds(m, "timeout") {
        wait = wait.timeout(t);
    }
    let export = wait.send().await;
    progress.finish();
    Ok(Outcome::Value(to_json(&export?)))
}

/// The `status` field of what a poll saw.
fn status_of(v: &impl serde::Serialize) -> String {
    to_json(v)
        .get("status")
        .and_then(|s| s.as_str())
        .unwrap_or("no status yet")
        .to_owned()
}

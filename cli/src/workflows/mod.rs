//! The hand-written commands: SDK workflows that take more than one call.
//!
//! Each is a [`Workflow`] in [`WORKFLOWS`]: its place in the tree, how it
//! builds (or extends, for `exports create --wait`) its clap command, and
//! what it runs. Adding one is a module here and a line in the list.

mod exports;
mod fleet_upload;
mod frames;
mod import_cloud;
mod resolve;
mod signup;
mod upload;
mod wait;

use std::time::Duration;

use clap::{value_parser, Arg, ArgMatches, Command};
use futures::future::LocalBoxFuture;

use crate::{
    context::Context,
    failure::{Failure, Result},
    output::Outcome,
};

/// A hand-written command.
pub struct Workflow {
    /// Its path below `avala`, e.g. `["datasets", "upload"]`.
    pub path: &'static [&'static str],
    /// Builds its command from the generated one at the same path, or from an
    /// empty command of that name.
    pub command: fn(Command) -> Command,
    /// Runs it.
    pub run: for<'a> fn(&'a Context, &'a ArgMatches) -> LocalBoxFuture<'a, Result<Outcome>>,
}

/// Every hand-written command.
pub static WORKFLOWS: &[Workflow] = &[
    upload::DATASETS_UPLOAD,
    wait::DATASETS_WAIT,
    wait::EXPORTS_WAIT,
    wait::EXPORTS_CREATE,
    exports::EXPORTS_DOWNLOAD,
    resolve::RESOLVE,
    signup::SIGNUP,
    signup::SIGNUP_USER,
    fleet_upload::FLEET_RECORDINGS_UPLOAD,
    frames::DATASETS_GET_FRAME,
    frames::DATASETS_GET_CALIBRATION,
    import_cloud::IMPORT_CLOUD,
];

/// The workflow at `path`.
pub fn find(path: &[&str]) -> Option<&'static Workflow> {
    WORKFLOWS.iter().find(|w| w.path == path)
}

/// `--timeout SECS` (how long a wait may last) with its default in the help.
fn timeout_arg(default: &str) -> Arg {
    Arg::new("timeout")
        .long("timeout")
        .value_name("SECS")
        .value_parser(value_parser!(u64))
        .help(format!(
            "Give up waiting after this many seconds (exit code 8) [default: {default}]"
        ))
}

/// `--wait`: after the command's work, wait for `what` (with `--timeout`).
fn wait_flag(what: &str) -> Arg {
    Arg::new("wait")
        .long("wait")
        .action(clap::ArgAction::SetTrue)
        .help(format!("Then wait until {what}"))
}

/// `--workers N`: what is sent at the same time.
fn workers_arg(help: &str) -> Arg {
    Arg::new("workers")
        .long("workers")
        .value_name("N")
        .value_parser(value_parser!(usize))
        .help(help.to_owned())
}

/// `--state-dir DIR`: where an upload's resume state is kept.
fn state_dir_arg() -> Arg {
    Arg::new("state-dir")
        .long("state-dir")
        .value_name("DIR")
        .value_parser(value_parser!(std::path::PathBuf))
        .help("Where the resume state is kept [default: the user's data directory]")
}

/// `--poll-interval SECS` between two polls (the SDK's `poll_interval`;
/// `--interval` is its older name).
fn interval_arg(default: &str) -> Arg {
    Arg::new("poll-interval")
        .long("poll-interval")
        .visible_alias("interval")
        .value_name("SECS")
        .value_parser(value_parser!(u64))
        .help(format!("Seconds between two polls [default: {default}]"))
}

/// `--source DIR`: the Python CLI's spelling of the `DIR` positional (give
/// one or the other; with flags only, give every argument as a flag).
fn source_flag() -> Arg {
    Arg::new("source")
        .long("source")
        .value_name("DIR")
        .value_parser(value_parser!(std::path::PathBuf))
        .conflicts_with("dir")
        .help("The same as DIR, as the Python CLI spells it")
}

/// `DIR` or `--source DIR`.
fn source_dir(m: &ArgMatches) -> Result<std::path::PathBuf> {
    m.get_one::<std::path::PathBuf>("dir")
        .or_else(|| m.get_one::<std::path::PathBuf>("source"))
        .cloned()
        .ok_or_else(|| Failure::Usage("give DIR (or --source DIR)".into()))
}

/// A `--<name> SECS` flag as a duration.
fn seconds(m: &ArgMatches, name: &str) -> Option<Duration> {
    m.try_get_one::<u64>(name)
        .ok()
        .flatten()
        .map(|s| Duration::from_secs(*s))
}

/// A required positional or flag, as text.
fn required<'m>(m: &'m ArgMatches, name: &str) -> Result<&'m str> {
    m.get_one::<String>(name)
        .map(String::as_str)
        .ok_or_else(|| Failure::Usage(format!("<{name}> is required")))
}

/// A model of the SDK as the API's JSON.
fn to_json(v: &impl serde::Serialize) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or_default()
}

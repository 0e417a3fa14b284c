//! `avala`: the Avala API from the command line. See README.md, "Command
//! line", and `avala --help`.

mod catalog;
mod columns;
mod completions;
mod configure;
mod context;
mod failure;
mod operation;
mod output;
mod progress;
mod status;
mod tree;
mod verbose;
mod workflows;

use std::process::ExitCode;

use clap::{error::ErrorKind, ArgMatches};

use context::Context;
use failure::{Failure, Result};
use output::{Outcome, Redactor};

fn main() -> ExitCode {
    let matches = match tree::root().try_get_matches() {
        Ok(m) => m,
        Err(e) => return clap_exit(&e),
    };
    // `./.env` first (the working directory's only: one in a parent could be
    // planted), so that the key and base URL it holds count everywhere.
    let loaded = avala::config::load_dotenv();
    let ctx = Context::new(&matches);
    if matches.get_flag("verbose") {
        verbose::install(ctx.redactor.clone());
    }
    let result = match loaded {
        Ok(()) => run(&ctx, &matches),
        Err(e) => Err(e.into()),
    };
    match result {
        Ok(Some(outcome)) => {
            let (path, _) = leaf(&matches);
            output::print(&outcome, ctx.format, &ctx.redactor, columns::chosen(&path));
            ExitCode::SUCCESS
        }
        Ok(None) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("{}", failure.line(|text| ctx.redactor.clean(text)));
            ExitCode::from(failure.exit() as u8)
        }
    }
}

/// Help and version on stdout with 0; a usage error on stderr with 2,
/// without the key should clap quote an argument.
fn clap_exit(e: &clap::Error) -> ExitCode {
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        let _ = e.print();
        return ExitCode::SUCCESS;
    }
    let redactor = Redactor::new(std::env::var(avala::config::ENV_API_KEY).ok());
    for arg in std::env::args().collect::<Vec<_>>().windows(2) {
        if arg[0] == "--api-key" {
            redactor.add(&arg[1]);
        }
    }
    eprint!("{}", redactor.clean(&e.render().to_string()));
    ExitCode::from(failure::Exit::Usage as u8)
}

/// The leaf command's path below `avala` and its matches.
pub(crate) fn leaf(matches: &ArgMatches) -> (Vec<&str>, &ArgMatches) {
    let mut path = Vec::new();
    let mut m = matches;
    while let Some((name, sub)) = m.subcommand() {
        path.push(name);
        m = sub;
    }
    (path, m)
}

/// Runs the chosen command on a single-threaded runtime.
fn run(ctx: &Context, matches: &ArgMatches) -> Result<Option<Outcome>> {
    let (path, m) = leaf(matches);
    if path == ["completions"] {
        completions::run(m);
        return Ok(None);
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Io(format!("could not start the async runtime: {e}")))?;
    runtime.block_on(async {
        if path == ["configure"] {
            return configure::run(ctx, m).await.map(Some);
        }
        if path == ["status"] {
            return status::run(ctx, m).await.map(Some);
        }
        if let Some(w) = workflows::find(&path) {
            return (w.run)(ctx, m).await.map(Some);
        }
        let op = columns::operation_at(&path)
            .ok_or_else(|| Failure::Usage(format!("unknown command `{}`", path.join(" "))))?;
        operation::run(ctx, op, m).await.map(Some)
    })
}

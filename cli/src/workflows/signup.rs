//! `avala signup --email E`: creates an account with the SDK's keyless
//! `signup`. The password comes from a hidden prompt or, with
//! `--password-stdin`, one line of stdin; never from an argument, which
//! other users can read in the process list. The new account's key, shown
//! by the server only once, goes to a new file of the user's only
//! (`--key-file`, created 0600, never replacing a file), not to the
//! terminal or a log.
//!
//! The generated `signup signup-user` would take the password as
//! `--password`: it stays in the tree (hidden) only to refuse, before
//! reading anything, and to point here.

use std::{io::Write, path::PathBuf};

use clap::{Arg, ArgAction, ArgMatches};
use futures::future::LocalBoxFuture;

use super::{required, to_json, Workflow};
use crate::{
    configure::read_secret,
    context::Context,
    failure::{Failure, Result},
    output::Outcome,
};

pub const SIGNUP: Workflow = Workflow {
    path: &["signup"],
    command: |c| {
        c.about("Create an Avala account (no API key needed); its first API key goes to --key-file")
            .subcommand_required(false)
            .arg_required_else_help(false)
            .args_conflicts_with_subcommands(true)
            .arg(
                Arg::new("email")
                    .long("email")
                    .value_name("EMAIL")
                    .help("The new account's email address"),
            )
            .arg(
                Arg::new("password-stdin")
                    .long("password-stdin")
                    .action(ArgAction::SetTrue)
                    .help("Read the password as one line of stdin [default: a hidden prompt]"),
            )
            .disable_help_subcommand(true)
            .override_usage("avala signup --email EMAIL --key-file PATH [OPTIONS]")
            .arg(Arg::new("first-name").long("first-name").value_name("NAME"))
            .arg(Arg::new("last-name").long("last-name").value_name("NAME"))
            .arg(
                Arg::new("key-file")
                    .long("key-file")
                    .value_name("PATH")
                    .value_parser(clap::value_parser!(PathBuf))
                    .help("Write the new account's API key to this new file (0600) [required]"),
            )
    },
    run: signup,
};

/// The generated command of `signup_user`, hidden and refusing.
pub const SIGNUP_USER: Workflow = Workflow {
    path: &["signup", "signup-user"],
    command: |c| {
        c.hide(true)
            .about("Refused: use `avala signup` (a password argument is visible to other users)")
    },
    run: |_, _| Box::pin(async { Err(Failure::Usage(PASSWORD_ARGUMENT.into())) }),
};

const PASSWORD_ARGUMENT: &str = "`avala signup signup-user` is refused, and nothing was sent: \
    its --password argument can be read by other users in the process list and stays in the \
    shell's history; use `avala signup --email EMAIL --key-file PATH`, which reads the password \
    from a hidden prompt (or one line of stdin with --password-stdin)";

fn signup<'a>(ctx: &'a Context, m: &'a ArgMatches) -> LocalBoxFuture<'a, Result<Outcome>> {
    Box::pin(async move {
        let email = required(m, "email")?;
        let key_file = m.get_one::<PathBuf>("key-file").ok_or_else(|| {
            Failure::Usage("--key-file PATH is required (where the new key goes)".into())
        })?;
        let password = read_secret(
            "Password for the new account (input hidden): ",
            "the password",
            m.get_flag("password-stdin"),
        )?;
        if password.is_empty() {
            return Err(Failure::Usage("no password given".into()));
        }
        let mut signup = ctx.builder()?.signup(email, password);
        if let Some(name) = m.get_one::<String>("first-name") {
            signup = signup.first_name(name);
        }
        if let Some(name) = m.get_one::<String>("last-name") {
            signup = signup.last_name(name);
        }
        // Opened before the account exists, so that a path that cannot be
        // written fails before the key is handed out (once).
        let mut file = create_private(key_file)?;
        let account = match signup.send().await {
            Ok(account) => account,
            Err(e) => {
                drop(file);
                let _ = std::fs::remove_file(key_file);
                return Err(e.into());
            }
        };
        writeln!(file, "{}", account.api_key)
            .and_then(|()| file.sync_all())
            .map_err(|e| cannot_write(key_file, e))?;
        let mut shown = to_json(&account);
        shown["api_key"] = format!("written to {}", key_file.display()).into();
        Ok(Outcome::Value(shown))
    })
}

/// A new file readable by its owner only; an existing file (or link) is
/// never replaced.
fn create_private(path: &std::path::Path) -> Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path).map_err(|e| cannot_write(path, e))
}

fn cannot_write(path: &std::path::Path, e: std::io::Error) -> Failure {
    Failure::Io(format!(
        "could not write the key file {}: {e}",
        path.display()
    ))
}

//! `avala configure`: checks a key with `GET /users/me/` and prints the
//! line to set it. The key is never echoed, printed or written anywhere.

use std::io::IsTerminal;

use clap::{ArgMatches, Command};
use serde_json::{json, Value};

use crate::{
    context::Context,
    failure::{Failure, Result},
    output::Outcome,
};

/// What the user fills in; never the key itself.
const EXPORT_LINE: &str = "export AVALA_API_KEY=<your-api-key>";

/// The command.
pub fn command() -> Command {
    Command::new("configure")
        .about("Check an API key and show how to set it (the key is never printed or saved)")
        .long_about(
            "Check an API key and show how to set it.\n\n\
             The key comes from --api-key, AVALA_API_KEY or .env; otherwise it is read from the \
             terminal without echo, or as one line from stdin. It is checked with GET /users/me/ \
             and never printed or written to disk: set it yourself with the export line shown.",
        )
}

/// Reads, checks and reports on the key.
pub async fn run(ctx: &Context, m: &ArgMatches) -> Result<Outcome> {
    let configured = m.get_one::<String>("api-key").is_some()
        || std::env::var(avala::config::ENV_API_KEY).is_ok_and(|k| !k.trim().is_empty());
    let builder = if configured {
        ctx.builder()?
    } else {
        let key = read_key()?;
        ctx.redactor.add(&key);
        ctx.builder()?.api_key(key)
    };
    let client = builder.build()?;
    let me = client.get_current_user().send().await?.into_inner();
    let me = serde_json::to_value(me).unwrap_or_default();
    let who = who(&me).unwrap_or("your account").to_owned();
    Ok(match ctx.format {
        crate::output::Format::Json => Outcome::Value(json!({
            "valid": true, "user": me, "base_url": client.base_url(), "export": EXPORT_LINE,
        })),
        crate::output::Format::Table => Outcome::Done(format!(
            "The key is valid: signed in as {who} at {}.\n\
             Set it in your shell profile (the key was not saved anywhere):\n  {EXPORT_LINE}",
            client.base_url()
        )),
    })
}

/// A secret (`what`, for errors) from the terminal without echo after
/// `prompt`, or as one line of stdin when stdin is not a terminal or
/// `from_stdin`; without its line ending. Never from an argument, which
/// other users can read in the process list.
pub fn read_secret(prompt: &str, what: &str, from_stdin: bool) -> Result<String> {
    let read = if std::io::stdin().is_terminal() && !from_stdin {
        rpassword::prompt_password(prompt)
    } else {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).map(|_| line)
    };
    let secret = read.map_err(|e| Failure::Io(format!("could not read {what}: {e}")))?;
    Ok(secret.trim_end_matches(['\r', '\n']).to_owned())
}

/// How a person knows the user of `/users/me/`: the email, else the
/// username, else the uid.
pub fn who(user: &Value) -> Option<&str> {
    ["email", "username", "uid"]
        .iter()
        .find_map(|k| user.get(*k).and_then(Value::as_str))
}

/// The key from the terminal without echo, or one line of stdin.
fn read_key() -> Result<String> {
    let key = read_secret("Avala API key (input hidden): ", "the key", false)?;
    let key = key.trim().to_owned();
    if key.is_empty() {
        return Err(Failure::Usage(
            "no API key: pass --api-key, set AVALA_API_KEY, or type it when asked".into(),
        ));
    }
    Ok(key)
}

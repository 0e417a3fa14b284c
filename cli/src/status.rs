//! `avala status`: who the key belongs to, their organizations, the API
//! root, whether it answers and how fast, and the rate-limit state the API
//! reported. Nothing of the key is shown.

use std::time::Instant;

use clap::{ArgMatches, Command};
use serde_json::{json, Value};

use crate::{context::Context, failure::Result, output::Outcome};

/// Organizations shown (one page).
const ORGANIZATIONS: u64 = 50;

/// The command.
pub fn command() -> Command {
    Command::new("status")
        .about("Show who the key belongs to, their organizations, the API root, its latency and the rate limit")
        .long_about(
            "Show who the key belongs to, their organizations, the API root, whether it \
             answers and how fast (the time of GET /users/me/), and the rate-limit state of \
             the last answer. An unreachable API or a refused key fails with its exit code.",
        )
}

/// Asks the API and reports.
pub async fn run(ctx: &Context, _m: &ArgMatches) -> Result<Outcome> {
    let client = ctx.client()?;
    let started = Instant::now();
    let me = client.get_current_user().send().await?.into_inner();
    let latency_ms = started.elapsed().as_millis() as u64;
    let organizations = client
        .list_organizations()
        .limit(ORGANIZATIONS)
        .send()
        .await?
        .into_inner();
    let organizations: Vec<Value> = organizations
        .results
        .iter()
        .map(|o| json!({ "slug": o.slug, "name": o.name }))
        .collect();
    let rate_limit = client
        .last_rate_limit()
        .map(|r| json!({ "limit": r.limit, "remaining": r.remaining, "reset": r.reset }));
    let report = json!({
        "user": serde_json::to_value(&me).unwrap_or_default(),
        "organizations": organizations,
        "base_url": client.base_url(),
        "reachable": true,
        "latency_ms": latency_ms,
        "rate_limit": rate_limit,
    });
    Ok(match ctx.format {
        crate::output::Format::Json => Outcome::Value(report),
        crate::output::Format::Table => Outcome::Done(lines(&report)),
    })
}

/// The report for a person, one fact a line.
fn lines(report: &Value) -> String {
    let user = &report["user"];
    let who = crate::configure::who(user).unwrap_or("(unknown)");
    let orgs: Vec<String> = report["organizations"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|o| format!("{} ({})", text(&o["name"]), text(&o["slug"])))
        .collect();
    let limit = match &report["rate_limit"] {
        Value::Null => "not reported".to_owned(),
        r => format!(
            "{} of {} left, resets at {}",
            text(&r["remaining"]),
            text(&r["limit"]),
            text(&r["reset"])
        ),
    };
    format!(
        "user           {who}\norganizations  {}\napi            {} (answered in {} ms)\nrate limit     {limit}",
        if orgs.is_empty() { "none".to_owned() } else { orgs.join(", ") },
        text(&report["base_url"]),
        report["latency_ms"],
    )
}

/// A JSON value as text; `?` when absent.
fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "?".to_owned(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_person_reads_one_fact_a_line() {
        let report = json!({
            "user": {"uid": "u1", "email": "a@b.example"},
            "organizations": [{"slug": "acme", "name": "Acme"}],
            "base_url": "https://api.example/api/v1",
            "latency_ms": 12,
            "rate_limit": {"limit": 100, "remaining": 99, "reset": null},
        });
        assert_eq!(
            lines(&report),
            "user           a@b.example\norganizations  Acme (acme)\n\
             api            https://api.example/api/v1 (answered in 12 ms)\n\
             rate limit     99 of 100 left, resets at ?"
        );
        let bare = json!({"user": {}, "organizations": [], "base_url": "x", "latency_ms": 1, "rate_limit": null});
        let text = lines(&bare);
        assert!(
            text.contains("user           (unknown)")
                && text.contains("organizations  none")
                && text.contains("not reported"),
            "{text}"
        );
    }
}

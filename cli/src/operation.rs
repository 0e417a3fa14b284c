//! Runs a generated command: the command line's strings become the
//! operation's JSON arguments, sent through `avala::dynamic` (the SDK's
//! typed builders, so its auth, retries, redaction and errors apply).

use avala::dynamic::{self, CallArgs};
use clap::ArgMatches;
use futures::TryStreamExt;
use serde_json::{Map, Value};

use crate::{
    catalog::{Body, Kind, Location, Operation},
    context::Context,
    failure::{Failure, Result},
    output::Outcome,
    progress::Progress,
};

/// Sends `op` with the arguments in `m`; with `--all`, every page.
pub async fn run(ctx: &Context, op: &Operation, m: &ArgMatches) -> Result<Outcome> {
    let args = call_args(op, m)?;
    let client = ctx.client()?;
    if op.paginated && m.get_flag("all") {
        let mut items = dynamic::stream(client, op.id, &args).ok_or_else(|| unknown(op))??;
        let progress = Progress::spinner(ctx.interactive, op.id);
        let mut all = Vec::new();
        while let Some(item) = items.try_next().await? {
            all.push(item);
            progress.tick(&format!("{} items", all.len()));
        }
        progress.finish();
        return Ok(Outcome::Items(all));
    }
    let value = dynamic::call(client, op.id, &args)
        .await
        .ok_or_else(|| unknown(op))??;
    Ok(match value {
        Value::Null => Outcome::Done(format!("{} {}: done", op.group.join(" "), op.verb)),
        value => Outcome::Value(value),
    })
}

fn unknown(op: &Operation) -> Failure {
    Failure::Usage(format!("the SDK does not know the operation {}", op.id))
}

/// The path, query and body arguments of `op` from `m`.
pub fn call_args(op: &Operation, m: &ArgMatches) -> Result<CallArgs> {
    let mut args = CallArgs::default();
    for p in op.params {
        let Some(values) = m.get_many::<String>(p.flag) else {
            continue;
        };
        let values: Vec<&String> = values.collect();
        match p.location {
            Location::Path => {
                args.path.insert(p.name.to_owned(), values[0].clone());
            }
            Location::Query => {
                let json = values
                    .iter()
                    .map(|v| convert(p.flag, p.kind, v))
                    .collect::<Result<Vec<_>>>()?;
                let json = if p.list {
                    Value::Array(json)
                } else {
                    json.into_iter().next().unwrap_or_default()
                };
                args.query.insert(p.name.to_owned(), json);
            }
        }
    }
    if let Some(body) = &op.body {
        args.body = request_body(body, m)?;
    }
    Ok(args)
}

/// `--body` (a file, or `-` for stdin) with the field flags set on top;
/// `{}` for a required body given neither way (the SDK then names what is
/// missing), nothing for an optional one.
fn request_body(body: &Body, m: &ArgMatches) -> Result<Option<Value>> {
    let mut value = match m.get_one::<String>("body") {
        Some(source) => Some(read_json(source)?),
        None => None,
    };
    for f in body.fields {
        let Some(text) = m.get_one::<String>(f.flag) else {
            continue;
        };
        let object = value
            .get_or_insert_with(|| Value::Object(Map::new()))
            .as_object_mut()
            .ok_or_else(|| {
                Failure::Usage(format!("--{} needs --body to be a JSON object", f.flag))
            })?;
        object.insert(f.name.to_owned(), convert(f.flag, f.kind, text)?);
    }
    if value.is_none() && body.required {
        value = Some(Value::Object(Map::new()));
    }
    Ok(value)
}

fn read_json(source: &str) -> Result<Value> {
    let text = if source == "-" {
        std::io::read_to_string(std::io::stdin())
            .map_err(|e| Failure::Io(format!("could not read the body from stdin: {e}")))?
    } else {
        std::fs::read_to_string(source)
            .map_err(|e| Failure::Io(format!("could not read the body file {source}: {e}")))?
    };
    serde_json::from_str(&text)
        .map_err(|e| Failure::Usage(format!("--body {source} is not JSON: {e}")))
}

/// One command-line value as the JSON the parameter or field takes.
fn convert(flag: &str, kind: Kind, text: &str) -> Result<Value> {
    let bad = |what: &str| Failure::Usage(format!("--{flag} takes {what}, not `{text}`"));
    Ok(match kind {
        Kind::Str => Value::String(text.to_owned()),
        Kind::Int => Value::from(text.trim().parse::<i64>().map_err(|_| bad("an integer"))?),
        Kind::Num => text
            .trim()
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number)
            .ok_or_else(|| bad("a number"))?,
        Kind::Bool => match text.trim() {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => return Err(bad("true or false")),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::operation;

    fn matches(op: &'static Operation, argv: &[&str]) -> ArgMatches {
        let mut m = crate::tree::root()
            .try_get_matches_from(argv)
            .expect("valid arguments");
        for _ in 0..op.group.len() + 1 {
            m = m.subcommand().expect("a subcommand").1.clone();
        }
        m
    }

    #[test]
    fn flags_become_typed_json_arguments() {
        let op = operation("list_datasets").unwrap();
        let args = call_args(
            op,
            &matches(
                op,
                &[
                    "avala",
                    "datasets",
                    "list",
                    "--limit",
                    "5",
                    "--data-type",
                    "lidar",
                ],
            ),
        )
        .unwrap();
        assert_eq!(args.query["limit"], Value::from(5));
        assert_eq!(args.query["data_type"], Value::from("lidar"));
        let op = operation("get_dataset_item").unwrap();
        let args = call_args(
            op,
            &matches(op, &["avala", "datasets", "get-item", "me", "cars", "it_1"]),
        )
        .unwrap();
        assert_eq!(args.path["owner"], "me");
        assert_eq!(args.path["item_uid"], "it_1");
    }

    #[test]
    fn the_table_marks_paged_exactly_the_operations_the_sdk_can_stream() {
        let client = avala::Client::builder()
            .api_key("k-unit-test-only")
            .base_url("https://api.example.invalid/api/v1")
            .build()
            .unwrap();
        for op in crate::catalog::OPERATIONS {
            let streamable = dynamic::stream(&client, op.id, &CallArgs::default()).is_some();
            assert_eq!(streamable, op.paginated, "{}", op.id);
        }
        assert!(
            crate::catalog::OPERATIONS
                .iter()
                .filter(|op| op.paginated)
                .count()
                >= 25
        );
    }

    #[test]
    fn bad_values_are_usage_errors_before_any_request() {
        let op = operation("list_datasets").unwrap();
        let e = call_args(
            op,
            &matches(op, &["avala", "datasets", "list", "--limit", "many"]),
        )
        .unwrap_err();
        assert_eq!(e.exit() as i32, 2);
        assert!(
            e.to_string()
                .contains("--limit takes an integer, not `many`"),
            "{e}"
        );
    }

    #[test]
    fn field_flags_fill_a_required_body() {
        let op = operation("create_dataset").unwrap();
        let m = matches(
            op,
            &[
                "avala",
                "datasets",
                "create",
                "--name",
                "Cars",
                "--slug",
                "cars",
                "--data-type",
                "image",
                "--create-metadata",
                "true",
            ],
        );
        let body = call_args(op, &m).unwrap().body.unwrap();
        assert_eq!(
            body,
            serde_json::json!({"name": "Cars", "slug": "cars", "data_type": "image", "create_metadata": true})
        );
    }
}

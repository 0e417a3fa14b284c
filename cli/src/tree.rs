//! The command tree: global flags, one group per tag with a command per
//! operation (from the generated table), then the hand-written commands.

use clap::{Arg, ArgAction, Command};

use crate::{
    catalog::{Kind, Location, Operation, OPERATIONS},
    failure::EXIT_CODES,
    workflows,
};

/// `avala` with every command.
pub fn root() -> Command {
    let mut root = Command::new("avala")
        .version(env!("CARGO_PKG_VERSION"))
        .about("The Avala API from the command line: every operation, uploads, waits and verified downloads")
        .after_help(format!(
            "Configuration: AVALA_API_KEY and AVALA_BASE_URL (or --api-key, --base-url), also read from ./.env (the working directory's only, never a parent's).\n\
             Output: a table on a terminal, JSON otherwise; --output json for scripts.\n\n{EXIT_CODES}"
        ))
        .subcommand_required(true)
        .arg_required_else_help(true)
        .arg(
            Arg::new("api-key")
                .long("api-key")
                .global(true)
                .value_name("KEY")
                .help("The API key [default: AVALA_API_KEY, or from .env]"),
        )
        .arg(
            Arg::new("base-url")
                .long("base-url")
                .global(true)
                .value_name("URL")
                .help("The API root [default: AVALA_BASE_URL, or https://api.avala.ai/api/v1]"),
        )
        .arg(
            Arg::new("output")
                .long("output")
                .short('o')
                .global(true)
                .value_name("FORMAT")
                .value_parser(["json", "table"])
                .help("json: the API's fields, for scripts; table: for people [default: table on a terminal, else json]"),
        )
        .subcommand(crate::configure::command())
        .subcommand(crate::completions::command());
    for op in OPERATIONS {
        root = upsert(root, op.group, op.verb, |_| operation_command(op));
    }
    for w in workflows::WORKFLOWS {
        let (leaf, group) = w.path.split_last().expect("a workflow has a name");
        root = upsert(root, group, leaf, w.command);
    }
    root
}

/// Puts `make(existing or new)` at `group… leaf`, creating the groups.
fn upsert(
    parent: Command,
    group: &[&'static str],
    leaf: &'static str,
    make: impl FnOnce(Command) -> Command,
) -> Command {
    let Some((head, rest)) = group.split_first() else {
        return match parent.find_subcommand(leaf) {
            Some(_) => parent.mut_subcommand(leaf, make),
            None => parent.subcommand(make(Command::new(leaf))),
        };
    };
    let parent = match parent.find_subcommand(head) {
        Some(_) => parent,
        None => parent.subcommand(
            Command::new(*head)
                .about(group_about(head))
                .subcommand_required(true)
                .arg_required_else_help(true),
        ),
    };
    parent.mut_subcommand(head, |g| upsert(g, rest, leaf, make))
}

/// `datasets: list, create, get-by-slug, …`: the first verbs below `name`.
fn group_about(name: &str) -> String {
    let mut verbs: Vec<&str> = OPERATIONS
        .iter()
        .filter(|op| op.group.contains(&name))
        .map(|op| {
            if op.group.len() > 1 && op.group[0] == name {
                op.group[1]
            } else {
                op.verb
            }
        })
        .collect();
    verbs.dedup();
    let more = if verbs.len() > 5 { ", …" } else { "" };
    verbs.truncate(5);
    format!("{name}: {}{more}", verbs.join(", "))
}

/// The command of one operation: path parameters positional, query
/// parameters and body fields as flags, `--body`, and `--all` when paged.
fn operation_command(op: &'static Operation) -> Command {
    let about = format!("{} {}", op.method, op.path);
    let mut c = Command::new(op.verb)
        .about(about.clone())
        .after_help(format!("API operation: {} ({})", op.id, op.summary));
    if !op.description.is_empty() {
        c = c.long_about(format!("{about}\n\n{}", op.description));
    }
    for p in op.params {
        let help = if p.help.is_empty() {
            format!("The `{}` parameter", p.name)
        } else {
            p.help.to_owned()
        };
        let arg = Arg::new(p.flag).help(help).value_name(p.value);
        c = c.arg(match p.location {
            Location::Path => arg.required(true),
            Location::Query => arg.long(p.flag).required(p.required).action(if p.list {
                ArgAction::Append
            } else {
                ArgAction::Set
            }),
        });
    }
    if let Some(body) = &op.body {
        c = c.arg(
            Arg::new("body")
                .long("body")
                .value_name("FILE|-")
                .help("The JSON request body, from a file or `-` for stdin; the field flags below override its fields"),
        );
        for f in body.fields {
            let mut help = if f.help.is_empty() {
                format!("The body's `{}`", f.name)
            } else {
                f.help.to_owned()
            };
            if f.required {
                help.push_str(" [required in the body]");
            }
            let arg = Arg::new(f.flag).long(f.flag).help(help);
            c = c.arg(match f.kind {
                Kind::Bool => arg.value_name("true|false"),
                _ => arg.value_name(f.value),
            });
        }
    }
    if op.paginated {
        c =
            c.arg(Arg::new("all").long("all").action(ArgAction::SetTrue).help(
                "Fetch every page (one request per page) and print all the items as one list",
            ));
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tree_is_consistent_and_has_a_command_per_operation() {
        let root = root();
        // clap's own checks: no duplicate names, flags or ids anywhere.
        root.clone().debug_assert();
        for op in OPERATIONS {
            let mut c = &root;
            for name in op.group.iter().chain([&op.verb]) {
                c = c
                    .find_subcommand(name)
                    .unwrap_or_else(|| panic!("{} has no `{name}`", op.id));
            }
            let positional = c.get_positionals().count();
            let paths = op
                .params
                .iter()
                .filter(|p| p.location == Location::Path)
                .count();
            assert_eq!(positional, paths, "{}", op.id);
        }
        assert_eq!(OPERATIONS.len(), 149, "the document's operations");
    }

    #[test]
    fn groups_follow_the_tags_as_people_type_them() {
        let root = root();
        let path = |names: &[&str]| {
            let mut c = &root;
            for n in names {
                c = c.find_subcommand(n)?;
            }
            Some(c.get_name().to_owned())
        };
        assert!(path(&["datasets", "list"]).is_some());
        assert!(path(&["fleet", "devices", "get"]).is_some());
        assert!(path(&["organizations", "list-members"]).is_some());
        assert!(path(&["datasets", "upload"]).is_some());
        assert!(path(&["list_datasets"]).is_none(), "no flat operation ids");
    }
}

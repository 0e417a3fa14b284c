//! The command tree: global flags, one group per tag with a command per
//! operation (from the generated table), then the hand-written commands.

use clap::{Arg, ArgAction, Command};

use crate::{
    catalog::{Kind, Location, Operation, GROUPS, OPERATIONS},
    failure::EXIT_CODES,
    workflows,
};

/// `avala` with every command.
pub fn root() -> Command {
    build(true)
}

/// `avala` without its hidden commands, for the completion scripts:
/// clap_complete offers a hidden subcommand like any other, and a hidden
/// command is one the user should not be led to (`signup signup-user`).
pub fn visible() -> Command {
    build(false)
}

/// Whether workflow `w` is a hidden command.
fn hidden(w: &workflows::Workflow) -> bool {
    let leaf = w.path.last().expect("a workflow has a name");
    (w.command)(Command::new(*leaf)).is_hide_set()
}

fn build(with_hidden: bool) -> Command {
    let skipped: Vec<&[&str]> = workflows::WORKFLOWS
        .iter()
        .filter(|w| !with_hidden && hidden(w))
        .map(|w| w.path)
        .collect();
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
            Arg::new("proxy")
                .long("proxy")
                .global(true)
                .value_name("URL")
                .help("Send every request through this http(s) proxy [default: AVALA_PROXY, else HTTPS_PROXY and the other system variables]"),
        )
        .arg(
            Arg::new("ca-bundle")
                .long("ca-bundle")
                .global(true)
                .value_name("PATH")
                .help("Also trust the root certificates of this PEM file [default: AVALA_CA_BUNDLE]"),
        )
        .arg(
            Arg::new("verbose")
                .long("verbose")
                .short('v')
                .global(true)
                .action(ArgAction::SetTrue)
                .help("Print the request log on stderr: operation, method, path, status, attempts, time, retries (never the key)"),
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
        .subcommand(crate::status::command())
        .subcommand(crate::completions::command());
    for op in OPERATIONS {
        // A generated command that a hidden workflow replaces.
        if skipped
            .iter()
            .any(|p| p.split_last() == Some((&op.verb, op.group)))
        {
            continue;
        }
        root = upsert(root, op.group, op.verb, |_| operation_command(op));
    }
    for w in workflows::WORKFLOWS {
        if skipped.contains(&w.path) {
            continue;
        }
        let (leaf, group) = w.path.split_last().expect("a workflow has a name");
        root = upsert(root, group, leaf, w.command);
    }
    with_aliases(root)
}

/// A command under the name the official Python CLI gives it, so that
/// scripts written for that CLI run.
pub struct Alias {
    /// The Python CLI's path below `avala`.
    pub path: &'static [&'static str],
    /// The operation it runs.
    pub operation: &'static str,
}

/// Every alias of a generated command. One in the command's own group is a
/// clap alias of it; one in another group is a command of its own that
/// runs the same operation (`columns::operation_at` finds it).
pub static ALIASES: &[Alias] = &[
    Alias {
        path: &["consensus", "summary"],
        operation: "get_consensus_summary",
    },
    Alias {
        path: &["consensus", "scores"],
        operation: "list_consensus_scores",
    },
    Alias {
        path: &["consensus", "config"],
        operation: "get_consensus_config",
    },
    Alias {
        path: &["datasets", "health"],
        operation: "get_dataset_health",
    },
    Alias {
        path: &["agents", "executions"],
        operation: "list_agent_executions",
    },
    Alias {
        path: &["webhooks", "deliveries"],
        operation: "list_webhook_deliveries",
    },
];

/// Groups and top-level commands under the Python CLI's names.
const GROUP_ALIASES: &[(&str, &str)] = &[
    ("auto-label-jobs", "auto-label"),
    ("completions", "shell-completion"),
];

fn with_aliases(mut root: Command) -> Command {
    for (name, alias) in GROUP_ALIASES {
        root = root.mut_subcommand(*name, |c| c.visible_alias(*alias));
    }
    for alias in ALIASES {
        let op = OPERATIONS
            .iter()
            .find(|op| op.id == alias.operation)
            .expect("an alias names an operation of the document");
        let (leaf, group) = alias.path.split_last().expect("an alias has a name");
        root = if op.group == group {
            upsert(root, group, op.verb, |c| c.visible_alias(*leaf))
        } else {
            upsert(root, group, leaf, |_| {
                operation_command(op).name(*leaf).about(format!(
                    "{} (as `avala {} {}`)",
                    op.summary,
                    op.group.join(" "),
                    op.verb
                ))
            })
        };
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
        None => {
            let about = group_about(parent.get_name(), head);
            parent.subcommand(
                Command::new(*head)
                    .about(about)
                    .subcommand_required(true)
                    .arg_required_else_help(true),
            )
        }
    };
    parent.mut_subcommand(head, |g| upsert(g, rest, leaf, make))
}

/// A group's help: its tag's description from the document, or, for a group
/// without one, `datasets: list, create, get-by-slug, …` (the first verbs
/// below it).
fn group_about(parent: &str, name: &str) -> String {
    let path = if parent == "avala" {
        name.to_owned()
    } else {
        format!("{parent} {name}")
    };
    if let Some((_, about)) = GROUPS.iter().find(|(group, _)| *group == path) {
        return (*about).to_owned();
    }
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

/// The command of one operation: its summary as the one-line help and its
/// description as the long help; path parameters positional, query
/// parameters and body fields as flags with their descriptions, `--body`,
/// and `--all` when paged.
fn operation_command(op: &'static Operation) -> Command {
    let route = format!("{} {}", op.method, op.path);
    let mut c = Command::new(op.verb)
        .about(op.summary)
        .after_help(format!("API operation: {} ({route})", op.id));
    if !op.description.is_empty() {
        c = c.long_about(format!("{}\n\n{}", op.summary, op.description));
    }
    for p in op.params {
        let arg = Arg::new(p.flag).help(p.help).value_name(p.value);
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
            let mut help = f.help.to_owned();
            if f.required {
                help.push_str(if help.is_empty() {
                    "[required in the body]"
                } else {
                    " [required in the body]"
                });
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

    #[test]
    fn the_python_cli_names_reach_the_same_commands() {
        let root = root();
        let m = |args: &[&str]| {
            let m = root
                .clone()
                .try_get_matches_from([&["avala"], args].concat())
                .unwrap_or_else(|e| panic!("{args:?}: {e}"));
            let (path, _) = crate::leaf(&m);
            let path: Vec<String> = path.iter().map(|s| s.to_string()).collect();
            path
        };
        assert_eq!(
            m(&["consensus", "summary", "p1"]),
            ["consensus", "get-summary"]
        );
        assert_eq!(
            m(&["datasets", "health", "o", "s"]),
            ["datasets", "get-health"]
        );
        assert_eq!(
            m(&["agents", "executions", "a1"]),
            ["agents", "list-executions"]
        );
        assert_eq!(m(&["auto-label", "list"]), ["auto-label-jobs", "list"]);
        assert_eq!(m(&["shell-completion", "bash"]), ["completions"]);
        // Another group's operation: a command of its own, found by its path.
        let deliveries = m(&["webhooks", "deliveries"]);
        assert_eq!(deliveries, ["webhooks", "deliveries"]);
        let path: Vec<&str> = deliveries.iter().map(String::as_str).collect();
        assert_eq!(
            crate::columns::operation_at(&path).map(|op| op.id),
            Some("list_webhook_deliveries")
        );
    }
}

//! The generated commands, run as a user would against the embedded mock:
//! the whole tree's help, one command per tag, JSON output, `--all`, and the
//! exit codes of errors, with the key absent from every output.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use avala::mock::{examples, schema, Fault};
use common::{
    assert_no_controls, avala, command_in, finish, Mock, TempDir, Trap, HOSTILE, HOSTILE_SHOWN, KEY,
};
use serde_json::{json, Value};

/// The subcommands listed in a help text's `Commands:` section.
fn subcommands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| l.trim() != "Commands:")
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .filter(|name| name != "help")
        .collect()
}

/// Generated commands that are kept but hidden, and refuse to run (a
/// `--password` argument): `avala signup` does their work.
const HIDDEN: &[&[&str]] = &[&["signup", "signup-user"]];

/// Every command below `avala`, by path, with its `--help` text; run with
/// the binary's `--help` (which must succeed everywhere). The [`HIDDEN`]
/// ones are not listed by their parent, and are visited by name.
fn walk() -> BTreeMap<Vec<String>, String> {
    let mut out = BTreeMap::new();
    let mut todo: Vec<Vec<String>> = HIDDEN
        .iter()
        .map(|path| path.iter().map(|s| s.to_string()).collect())
        .collect();
    todo.push(Vec::new());
    while let Some(path) = todo.pop() {
        let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
        args.push("--help");
        let run = avala(&args, &[], None).expect(0);
        assert!(
            run.stdout.contains("Usage: avala"),
            "{path:?}: {}",
            run.stdout
        );
        for sub in subcommands(&run.stdout) {
            let mut child = path.clone();
            child.push(sub);
            todo.push(child);
        }
        out.insert(path, run.stdout);
    }
    out
}

/// The operation id a leaf's help names.
fn operation_of(help: &str) -> Option<String> {
    let line = help.lines().find(|l| l.starts_with("API operation: "))?;
    line["API operation: ".len()..]
        .split_whitespace()
        .next()
        .map(str::to_owned)
}

/// `<OWNER> <SLUG>` of a help's usage line, lower-cased.
fn positionals(help: &str) -> Vec<String> {
    let usage = help
        .lines()
        .find(|l| l.starts_with("Usage: "))
        .unwrap_or_default();
    usage
        .split_whitespace()
        .filter(|w| w.starts_with('<') && w.ends_with('>') && *w != "<COMMAND>")
        .map(|w| w.trim_matches(['<', '>']).to_ascii_lowercase())
        .collect()
}

#[test]
fn help_works_for_every_command_and_the_leaves_are_every_operation() {
    let tree = walk();
    let leaves: BTreeSet<String> = tree.values().filter_map(|h| operation_of(h)).collect();
    let documented: BTreeSet<String> = schema::operations()
        .iter()
        .map(|op| op.id.clone())
        .collect();
    assert_eq!(
        leaves, documented,
        "one command per operation of the document"
    );
    // Every parameter is an argument, with help.
    for (path, help) in &tree {
        let Some(id) = operation_of(help) else {
            continue;
        };
        for p in &schema::operation(&id).unwrap().parameters {
            let shown = match p.location {
                schema::ParameterLocation::Path => format!("<{}>", p.name.to_ascii_uppercase()),
                _ => format!("--{}", p.name.replace('_', "-")),
            };
            assert!(help.contains(&shown), "{path:?} lacks {shown}:\n{help}");
        }
    }
    assert!(tree.contains_key(&vec![
        "fleet".to_owned(),
        "devices".to_owned(),
        "get".to_owned()
    ]));
    // The leaves that are no operation: the hand-written commands (`exports
    // create --wait` extends an operation, so it is not among them).
    let hand_written: BTreeSet<String> = tree
        .iter()
        .filter(|(path, help)| {
            !path.is_empty() && subcommands(help).is_empty() && operation_of(help).is_none()
        })
        .map(|(path, _)| path.join(" "))
        .collect();
    let expected: BTreeSet<String> = [
        "completions",
        "configure",
        "datasets get-calibration",
        "datasets get-frame",
        "datasets upload",
        "datasets wait",
        "exports download",
        "exports wait",
        "fleet recordings upload",
        "import cloud",
        "resolve",
        "signup",
        "status",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    assert_eq!(hand_written, expected);
    let fleet_upload = &tree[&["fleet", "recordings", "upload"]
        .map(str::to_owned)
        .to_vec()];
    for shown in [
        "<RECORDING_UID>",
        "<DIR>",
        "--managed",
        "--storage-config <UID>",
        "--workers <N>",
        "--state-dir <DIR>",
        "--wait",
        "--timeout <SECS>",
        "exits 1 with one line naming its code",
    ] {
        assert!(
            fleet_upload.contains(shown),
            "lacks {shown}:\n{fleet_upload}"
        );
    }
}

/// The command list of a help text: `name -> its one-line help`.
fn command_lines(help: &str) -> BTreeMap<String, String> {
    help.lines()
        .skip_while(|l| l.trim() != "Commands:")
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| {
            let (name, about) = l.trim().split_once(char::is_whitespace)?;
            Some((name.to_owned(), about.trim().to_owned()))
        })
        .collect()
}

/// The document's text at `key` of an operation, with backticks removed as
/// the command line shows it.
fn text_of(id: &str, key: &str) -> String {
    for item in schema::spec()["paths"].as_object().unwrap().values() {
        for op in item.as_object().unwrap().values() {
            if op["operationId"] == id {
                return op[key].as_str().unwrap_or_default().replace('`', "");
            }
        }
    }
    panic!("no operation {id}")
}

#[test]
fn a_group_lists_its_commands_with_their_summaries() {
    let cases = [
        (&["datasets"][..], "list", "list_datasets"),
        (&["datasets"][..], "get", "get_dataset"),
        (&["exports"][..], "create", "create_export"),
        (
            &["fleet", "devices"][..],
            "register",
            "register_fleet_device",
        ),
        (
            &["organizations"][..],
            "list-members",
            "list_organization_members",
        ),
    ];
    for (group, verb, id) in cases {
        let mut args = group.to_vec();
        args.push("--help");
        let help = avala(&args, &[], None).expect(0).stdout;
        let lines = command_lines(&help);
        let summary = text_of(id, "summary");
        assert!(
            !summary.is_empty() && summary.contains(' '),
            "{id}: {summary:?}"
        );
        assert_eq!(lines.get(verb), Some(&summary), "{group:?} {verb}:\n{help}");
    }
    // A command list with sentences, not a route table.
    let help = avala(&["datasets", "--help"], &[], None).expect(0).stdout;
    assert!(!help.contains("GET /datasets/"), "{help}");
    let root = avala(&["--help"], &[], None).expect(0).stdout;
    assert_eq!(
        command_lines(&root).get("datasets").map(String::as_str),
        Some("Datasets, their items, sequences and health, and dataset transfers."),
        "{root}"
    );
}

#[test]
fn a_command_help_has_its_description_route_and_parameter_help() {
    let help = avala(&["datasets", "list", "--help"], &[], None)
        .expect(0)
        .stdout;
    let flat = help.split_whitespace().collect::<Vec<_>>().join(" ");
    let description = text_of("list_datasets", "description");
    let start: String = description
        .split_whitespace()
        .take(8)
        .collect::<Vec<_>>()
        .join(" ");
    assert!(flat.contains(&start), "{help}");
    assert!(flat.contains("GET /datasets/"), "{help}");
    assert!(
        flat.contains("Only datasets whose name contains this text, ignoring case."),
        "{help}"
    );
    // `-h` is the short form: the summary, no description.
    let short = avala(&["datasets", "list", "-h"], &[], None)
        .expect(0)
        .stdout;
    assert!(
        short.starts_with(&text_of("list_datasets", "summary")),
        "{short}"
    );
}

/// The first tag of every operation, from the document.
fn tags() -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for item in schema::spec()["paths"].as_object().unwrap().values() {
        for op in item.as_object().unwrap().values() {
            if let (Some(id), Some(tag)) = (op["operationId"].as_str(), op["tags"][0].as_str()) {
                out.insert(id.to_owned(), tag.to_owned());
            }
        }
    }
    out
}

/// One operation per tag: a GET without required query parameters or
/// pattern-checked path parameters when there is one, else the first with
/// a request example.
fn one_per_tag() -> BTreeMap<String, String> {
    let tags = tags();
    let mut chosen = BTreeMap::new();
    for op in schema::operations() {
        let simple = op.method == "GET"
            && !op.parameters.iter().any(|p| {
                (p.location == schema::ParameterLocation::Query && p.required)
                    || p.name.contains("sha256")
            });
        let usable = simple || (op.has_request_body && !examples::requests(&op.id).is_empty());
        let entry = chosen.entry(tags[&op.id].clone());
        if usable {
            entry
                .and_modify(|(id, was_simple): &mut (String, bool)| {
                    if simple && !*was_simple {
                        *id = op.id.clone();
                        *was_simple = true;
                    }
                })
                .or_insert((op.id.clone(), simple));
        }
    }
    chosen.into_iter().map(|(tag, (id, _))| (tag, id)).collect()
}

#[test]
fn a_generated_command_of_every_tag_answers_json() {
    let mock = Mock::start();
    let tree = walk();
    let by_id: BTreeMap<String, (&Vec<String>, &String)> = tree
        .iter()
        .filter_map(|(path, help)| Some((operation_of(help)?, (path, help))))
        .collect();
    let chosen = one_per_tag();
    let tags: BTreeSet<String> = tags().into_values().collect();
    assert_eq!(chosen.len(), tags.len(), "every tag has a usable operation");
    assert_eq!(tags.len(), 28);
    let body_dir = common::TempDir::new();
    for (tag, id) in &chosen {
        let (path, help) = by_id[id];
        let mut args: Vec<String> = path.clone();
        args.extend(positionals(help).iter().map(|p| format!("{p}-1")));
        if let Some(example) = examples::requests(id).first() {
            let file = body_dir.path().join(format!("{id}.json"));
            std::fs::write(&file, example.body.to_string()).unwrap();
            args.extend(["--body".to_owned(), file.display().to_string()]);
        }
        args.extend(["--output".to_owned(), "json".to_owned()]);
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let before = mock.server.hits(id);
        let run = mock.run(&argv);
        if HIDDEN.contains(&&argv[..path.len()]) {
            assert_eq!(run.code, 2, "{tag}: {argv:?} is refused\n{}", run.stderr);
            assert_eq!(mock.server.hits(id), before, "{tag}: {id} was not called");
            continue;
        }
        assert_eq!(run.code, 0, "{tag}: {argv:?}\n{}", run.stderr);
        if !run.stdout.trim().is_empty() {
            run.json();
        }
        assert_eq!(
            mock.server.hits(id),
            before + 1,
            "{tag}: {id} was called once"
        );
    }
}

fn datasets(n: usize) -> Vec<Value> {
    (1..=n)
        .map(|i| {
            json!({"uid": format!("ds_{i:03}"), "name": format!("Set {i}"), "slug": format!("set-{i}"),
                   "data_type": "image", "status": "created", "item_count": i})
        })
        .collect()
}

#[test]
fn json_output_is_the_apis_fields_and_parses_back() {
    let mock = Mock::start();
    mock.server.paginate("list_datasets", datasets(3), 10);
    let page = mock
        .run(&["datasets", "list", "--output", "json"])
        .expect(0)
        .json();
    let results = page["results"].as_array().expect("a page");
    assert_eq!(results.len(), 3);
    assert_eq!(results[1]["uid"], "ds_002");
    assert_eq!(results[1]["name"], "Set 2");
    assert_eq!(results[1]["data_type"], "image");
    // The table view shows the same rows.
    let table = mock
        .run(&["datasets", "list", "--output", "table"])
        .expect(0);
    assert!(
        table.stdout.contains("ds_003") && table.stdout.contains("3 results"),
        "{}",
        table.stdout
    );
}

#[test]
fn all_pages_through_every_result_with_the_sdks_stream() {
    let mock = Mock::start();
    mock.server.paginate("list_datasets", datasets(45), 20);
    let run = mock
        .run(&[
            "datasets", "list", "--all", "--limit", "20", "--output", "json",
        ])
        .expect(0);
    assert!(
        run.stderr.is_empty(),
        "no progress lines off a terminal: {}",
        run.stderr
    );
    let items = run.json();
    let uids: Vec<&str> = items
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["uid"].as_str().unwrap())
        .collect();
    let expected: Vec<String> = (1..=45).map(|i| format!("ds_{i:03}")).collect();
    assert_eq!(uids, expected);
    assert_eq!(mock.server.hits("list_datasets"), 3, "20 + 20 + 5");
    // Without --all, one page.
    let page = mock
        .run(&["datasets", "list", "--limit", "20", "--output", "json"])
        .expect(0)
        .json();
    assert_eq!(page["results"].as_array().unwrap().len(), 20);
    assert!(page["next"].is_string());
}

#[test]
fn not_found_exits_5_with_one_line() {
    let mock = Mock::start();
    mock.server
        .fault(
            "get_dataset",
            Fault::status(404).json(json!({"detail": "Not found."})),
        )
        .always();
    let run = mock.run(&["datasets", "get", "ds_missing"]).expect(5);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    assert_eq!(run.stderr.trim().lines().count(), 1, "{}", run.stderr);
    assert!(
        run.stderr
            .starts_with("error: not found (HTTP 404): Not found"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("check the identifier"),
        "{}",
        run.stderr
    );
}

#[test]
fn unauthenticated_exits_4_and_no_key_exits_3() {
    let mock = Mock::start();
    mock.server
        .fault(
            "list_datasets",
            Fault::status(401).json(json!({"detail": "Invalid API key."})),
        )
        .always();
    let run = mock.run(&["datasets", "list"]).expect(4);
    assert!(
        run.stderr
            .starts_with("error: authentication failed (HTTP 401)"),
        "{}",
        run.stderr
    );
    let run = mock.run_with(&["datasets", "list"], &[], None).expect(3);
    assert!(run.stderr.contains("AVALA_API_KEY"), "{}", run.stderr);
}

#[test]
fn other_errors_have_their_codes() {
    let mock = Mock::start();
    mock.server
        .fault(
            "list_datasets",
            Fault::status(422).json(json!({"detail": "bad filter"})),
        )
        .always();
    mock.run(&["datasets", "list"]).expect(6);
    // A bad value, an unknown command, a bad body: usage, before any request.
    mock.run(&["datasets", "list", "--limit", "lots"]).expect(2);
    mock.run(&["datasets", "lst"]).expect(2);
    let run = mock.run(&["datasets", "create", "--body", "-"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    mock.run_with(
        &["datasets", "create", "--body", "-"],
        &[("AVALA_API_KEY", KEY)],
        Some("{not json"),
    )
    .expect(2);
    // Nothing listens on port 9 of loopback: a transport error.
    avala(
        &["datasets", "list"],
        &[
            ("AVALA_API_KEY", KEY),
            ("AVALA_BASE_URL", "http://127.0.0.1:9/api/v1"),
        ],
        None,
    )
    .expect(7);
    // http to a non-loopback host: configuration.
    avala(
        &["datasets", "list"],
        &[
            ("AVALA_API_KEY", KEY),
            ("AVALA_BASE_URL", "http://example.com/api/v1"),
        ],
        None,
    )
    .expect(3);
}

#[test]
fn the_key_never_appears_even_when_echoed_or_passed_as_a_flag() {
    let mock = Mock::start();
    // A server that echoes the key in an error body and in a success body.
    mock.server
        .fault(
            "get_dataset",
            Fault::status(400).json(json!({"detail": format!("key {KEY} is odd")})),
        )
        .times(1);
    mock.run(&["datasets", "get", "ds_1"]).expect(6);
    mock.server
        .respond(
            "get_dataset",
            json!({"uid": "ds_1", "name": KEY, "slug": "s",
            "data_type": "image"}),
        )
        .times(2);
    mock.run(&["datasets", "get", "ds_1", "--output", "json"])
        .expect(0);
    mock.run(&["datasets", "get", "ds_1", "--output", "table"])
        .expect(0);
    // The key as a flag: on success, on a usage error, on an API error.
    let with_flag = |args: &[&str]| {
        let mut all = vec!["--api-key", KEY];
        all.extend_from_slice(args);
        mock.run_with(&all, &[], None)
    };
    with_flag(&["datasets", "list"]).expect(0);
    with_flag(&["datasets", "lst"]).expect(2);
    with_flag(&["datasets", "get", "ds_1", "--bogus", KEY]).expect(2);
    mock.server
        .fault(
            "list_datasets",
            Fault::status(401).json(json!({"detail": format!("no {KEY}")})),
        )
        .times(1);
    with_flag(&["datasets", "list"]).expect(4);
    // The mock got the key in its header, so it was sent.
    let sent = mock.server.received_for("list_datasets");
    assert!(sent
        .iter()
        .all(|r| r.header("x-avala-api-key") == Some(KEY)));
}

/// A `.env` in a parent of the working directory (a shared or temporary
/// directory someone else can write) chooses nothing: `avala` reads
/// `./.env` only, so the key in the environment goes to the default root.
#[test]
fn a_dot_env_in_a_parent_directory_is_not_read() {
    let planted = Mock::start();
    let trap = Trap::start();
    let parent = TempDir::new();
    let cwd = parent.path().join("work");
    std::fs::create_dir_all(&cwd).unwrap();
    std::fs::write(
        parent.path().join(".env"),
        format!(
            "AVALA_BASE_URL={}\nAVALA_ALLOW_INSECURE_BASE_URL=true\n",
            planted.server.base_url()
        ),
    )
    .unwrap();
    let mut cmd = command_in(&cwd);
    cmd.env_remove("AVALA_ALLOW_INSECURE_BASE_URL")
        .env("AVALA_API_KEY", KEY)
        // https goes to the trap, which refuses the tunnel: nothing leaves
        // the machine, and the trap shows where the request was headed.
        .env("HTTPS_PROXY", format!("http://{}", trap.addr));
    let run = finish(cmd, &["datasets", "list", "--output", "json"], None).expect(7);
    assert!(
        planted.server.received().is_empty(),
        "the planted host was called: {:?}",
        planted.server.received()
    );
    let heads = trap.heads();
    assert!(!heads.is_empty(), "no request: {}", run.stderr);
    for head in heads {
        assert!(head.starts_with("CONNECT api.avala.ai:443 "), "{head}");
        assert!(!head.contains(KEY), "{head}");
    }

    // The working directory's own `.env` is read.
    std::fs::write(
        cwd.join(".env"),
        format!(
            "AVALA_API_KEY={KEY}\nAVALA_BASE_URL={}\nAVALA_ALLOW_INSECURE_BASE_URL=true\n",
            planted.server.base_url()
        ),
    )
    .unwrap();
    let mut cmd = command_in(&cwd);
    cmd.env_remove("AVALA_ALLOW_INSECURE_BASE_URL");
    finish(cmd, &["datasets", "list", "--output", "json"], None).expect(0);
    let sent = planted.server.received_for("list_datasets");
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].header("x-avala-api-key"), Some(KEY));
}

/// DRF field errors (`{"slug": ["..."]}`) are what the error line says.
#[test]
fn field_errors_are_shown_on_the_error_line() {
    let mock = Mock::start();
    mock.server
        .fault(
            "create_dataset",
            Fault::status(400).json(json!({"slug": ["Dataset with this slug already exists."]})),
        )
        .always();
    let args = [
        "datasets",
        "create",
        "--name",
        "Cars",
        "--slug",
        "cars",
        "--data-type",
        "image",
    ];
    let run = mock.run(&args).expect(6);
    assert_eq!(run.stderr.trim().lines().count(), 1, "{}", run.stderr);
    assert!(
        run.stderr.starts_with(
            "error: validation failed (HTTP 400): slug: Dataset with this slug already exists;"
        ),
        "{}",
        run.stderr
    );
}

/// Server text cannot drive the terminal: its control characters are shown
/// escaped in tables, key/value views and error lines, and JSON output is
/// still the exact JSON of the same values.
#[test]
fn control_characters_from_the_server_are_escaped() {
    let mock = Mock::start();
    let dataset = json!({"uid": "ds_1", "name": HOSTILE, "slug": "s", "data_type": "image"});
    mock.server.paginate("list_datasets", [dataset.clone()], 10);
    for args in [
        &["datasets", "list", "--output", "table"][..],
        &["datasets", "get", "ds_1", "--output", "table"],
    ] {
        if args[1] == "get" {
            mock.server.respond("get_dataset", dataset.clone()).times(1);
        }
        let run = mock.run(args).expect(0);
        assert_no_controls(&run.stdout, "the table");
        assert!(run.stdout.contains(HOSTILE_SHOWN), "{}", run.stdout);
    }

    // JSON: no raw control character either, and the same values.
    let run = mock
        .run(&["datasets", "list", "--output", "json"])
        .expect(0);
    assert_no_controls(&run.stdout, "the JSON");
    assert_eq!(run.json()["results"][0]["name"], HOSTILE);

    // An error detail.
    mock.server
        .fault(
            "get_dataset",
            Fault::status(400).json(json!({"detail": HOSTILE})),
        )
        .times(1);
    let run = mock.run(&["datasets", "get", "ds_1"]).expect(6);
    assert_no_controls(&run.stderr, "the error line");
    assert!(
        run.stderr
            .contains("evil\\u001b]0;pwned\\u0007\\u001b[2J\\u009b31m\\u007f"),
        "{}",
        run.stderr
    );
}

#[test]
fn status_reports_the_user_organizations_root_and_latency() {
    let mock = Mock::start();
    let run = mock.run(&["status", "--output", "json"]).expect(0);
    let report = run.json();
    // The mock's first examples (openapi/examples.json).
    assert_eq!(
        report["user"]["uid"],
        "2b9d6c4e-1f3a-4e5b-9c7d-8e6f5a4b3c2d"
    );
    assert_eq!(
        report["organizations"],
        json!([{"slug": "acme-robotics", "name": "Acme Robotics"}])
    );
    assert_eq!(report["base_url"], mock.server.base_url());
    assert_eq!(report["reachable"], true);
    assert!(report["latency_ms"].is_u64(), "{report}");
    assert_eq!(mock.server.hits("get_current_user"), 1);
    assert!(!run.stdout.contains(KEY) && !run.stderr.contains(KEY));

    // A refused key is the status: exit 4, one line, nothing else asked.
    mock.server
        .fault(
            "get_current_user",
            Fault::status(401).json(json!({"detail": "Invalid API key."})),
        )
        .times(1);
    let run = mock.run(&["status"]).expect(4);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    assert_eq!(mock.server.hits("list_organizations"), 1);
}

#[test]
fn network_flags_reach_the_client_and_their_errors_are_clear() {
    let mock = Mock::start();
    mock.server.respond(
        "list_datasets",
        json!({"count": 0, "next": null, "previous": null, "results": []}),
    );
    let root = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/network/root.pem"
    );
    mock.run(&["--ca-bundle", root, "datasets", "list"])
        .expect(0);

    let run = mock
        .run(&[
            "--proxy",
            "socks5://alice:s3cr3t-pass@proxy.corp:1080",
            "datasets",
            "list",
        ])
        .expect(3);
    assert!(run.stderr.contains("proxy"), "{}", run.stderr);
    assert!(!run.stderr.contains("s3cr3t-pass"), "{}", run.stderr);

    let run = mock.run(&["--ca-bundle", "/nonexistent/ca.pem", "datasets", "list"]);
    assert_ne!(run.code, 0);
    assert!(
        run.stderr.contains("--ca-bundle /nonexistent/ca.pem"),
        "{}",
        run.stderr
    );
    let not_pem = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
    let run = mock
        .run(&["--ca-bundle", not_pem, "datasets", "list"])
        .expect(3);
    assert!(run.stderr.contains("no PEM certificate"), "{}", run.stderr);
}

#[test]
fn verbose_prints_the_request_log_without_the_key() {
    let mock = Mock::start();
    mock.server
        .fault(
            "get_dataset",
            Fault::status(503).json(json!({"detail": "busy"})),
        )
        .times(1);
    // The key doubles as the identifier, so it is in the request's path.
    let run = mock.run(&["-v", "datasets", "get", KEY]);
    assert_ne!(run.code, 2, "{}", run.stderr);
    let log = &run.stderr;
    assert!(log.contains("operation_id=\"get_dataset\""), "{log}");
    assert!(log.contains("method=GET"), "{log}");
    assert!(log.contains("/datasets/[redacted]/"), "{log}");
    assert!(
        log.contains("attempt=2"),
        "the retried request's line: {log}"
    );
    assert!(log.contains("retrying"), "the retry's own line: {log}");
    assert!(!log.contains(KEY) && !run.stdout.contains(KEY), "{log}");

    // Without the flag, stderr has no log.
    let quiet = mock.run(&["datasets", "get", "x"]);
    assert!(!quiet.stderr.contains("method=GET"), "{}", quiet.stderr);
}

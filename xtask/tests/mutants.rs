//! The pure parts of `cargo xtask mutants`: the module table, the arguments
//! given to cargo-mutants, the reading of its `outcomes.json` and the
//! command line. Running cargo-mutants itself is a maintainer's step.

use std::path::Path;

use xtask::{
    cli::{self, Command},
    mutants::{self, Settings, Target, MODULES},
};

fn settings(list: bool) -> Settings {
    Settings {
        list,
        timeout: 60,
        build_timeout: 300,
    }
}

fn args(s: &str) -> Vec<String> {
    s.split_whitespace().map(String::from).collect()
}

#[test]
fn every_file_and_test_binary_in_the_table_exists() {
    let root = cli::workspace_root();
    for m in MODULES {
        assert!(!m.files.is_empty() && !m.tests.is_empty(), "{}", m.name);
        for f in m.files {
            assert!(root.join(f).is_file(), "{}: {f} does not exist", m.name);
        }
        for t in m.tests.iter().filter(|t| **t != mutants::LIB) {
            let path = root.join("tests").join(format!("{t}.rs"));
            assert!(path.is_file(), "{}: no test binary {t}", m.name);
        }
    }
}

/// A file of a listed directory that the table forgets would never be
/// mutated: every `.rs` under `src/retry/`, `src/resolver/` and
/// `src/upload/` is in the table.
#[test]
fn the_module_directories_are_listed_whole() {
    let root = cli::workspace_root();
    for (name, dir) in [
        ("retry", "src/retry"),
        ("resolver", "src/resolver"),
        ("upload", "src/upload"),
    ] {
        let m = mutants::module(name).unwrap();
        let mut on_disk = Vec::new();
        rust_files(&root, &root.join(dir), &mut on_disk);
        on_disk.sort();
        let mut listed: Vec<String> = m.files.iter().map(|f| f.to_string()).collect();
        listed.sort();
        assert_eq!(listed, on_disk, "{name}");
    }
}

fn rust_files(root: &Path, dir: &Path, out: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(root, &path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let rel = path.strip_prefix(root).unwrap();
            out.push(rel.to_string_lossy().replace('\\', "/"));
        }
    }
}

#[test]
fn a_module_becomes_files_and_test_binaries_for_build_and_test() {
    let target = Target::new(mutants::module("retry").unwrap(), None).unwrap();
    let got = mutants::cargo_args(&target, &settings(false), Path::new("/o/retry"));
    let want = args(
        "mutants --package=avala \
         --file=src/retry/mod.rs --file=src/retry/classify.rs \
         --file=src/retry/policy.rs --file=src/retry/run.rs \
         --in-place --no-shuffle --timeout=60 --build-timeout=300 \
         --output=/o/retry --cargo-arg=--lib --cargo-arg=--test=client_retry",
    );
    assert_eq!(got, want);
}

#[test]
fn one_file_of_a_module_and_list_mode() {
    let m = mutants::module("upload").unwrap();
    let target = Target::new(m, Some("./src/upload/fleet/managed/flow.rs")).unwrap();
    assert_eq!(target.files, ["src/upload/fleet/managed/flow.rs"]);
    assert_eq!(target.label(), "upload-fleet-managed-flow");
    let got = mutants::cargo_args(&target, &settings(true), Path::new("/o"));
    assert_eq!(
        got,
        args("mutants --package=avala --file=src/upload/fleet/managed/flow.rs --list")
    );

    let whole = Target::new(mutants::module("wait").unwrap(), None).unwrap();
    assert_eq!(whole.label(), "wait");
    let store = Target::new(m, Some("src/upload/store.rs")).unwrap();
    assert_eq!(store.label(), "upload-store");

    let e = Target::new(m, Some("src/wait.rs")).unwrap_err();
    assert!(e.contains("not a file of module `upload`"), "{e}");
    let e = mutants::module("nope").unwrap_err();
    assert!(
        e.contains("unknown module `nope`") && e.contains("wait"),
        "{e}"
    );
}

/// The shape cargo-mutants 27 writes (trimmed to the fields we read, plus
/// a few we ignore).
const OUTCOMES: &str = r#"{
  "outcomes": [
    {"scenario": "Baseline", "summary": "Success", "log_path": "log/baseline.log"},
    {"scenario": {"Mutant": {"name": "src/wait.rs:10:5: replace until -> Result<T> with Ok(Default::default())",
      "package": "avala", "file": "src/wait.rs", "genre": "FnValue"}}, "summary": "CaughtMutant"},
    {"scenario": {"Mutant": {"name": "src/wait.rs:20:9: replace < with <= in backoff"}}, "summary": "MissedMutant"},
    {"scenario": {"Mutant": {"name": "src/wait.rs:30:9: delete ! in poll"}}, "summary": "Timeout"},
    {"scenario": {"Mutant": {"name": "src/wait.rs:40:9: replace f -> u32 with 0"}}, "summary": "Unviable"},
    {"scenario": {"Mutant": {"name": "src/wait.rs:50:9: replace && with || in g"}}, "summary": "CaughtMutant"},
    {"scenario": {"Mutant": {"name": "src/wait.rs:60:9: replace + with - in h"}}, "summary": "MissedMutant"}
  ],
  "total_mutants": 6, "missed": 2, "caught": 2, "timeout": 1, "unviable": 1, "success": 0
}"#;

#[test]
fn outcomes_become_counts_and_the_missed_list() {
    let s = mutants::parse_outcomes(OUTCOMES).unwrap();
    assert_eq!(
        (s.total, s.caught, s.missed, s.timeout, s.unviable),
        (6, 2, 2, 1, 1)
    );
    assert_eq!(
        s.missed_names,
        [
            "src/wait.rs:20:9: replace < with <= in backoff",
            "src/wait.rs:60:9: replace + with - in h"
        ]
    );
    assert_eq!(s.timeout_names, ["src/wait.rs:30:9: delete ! in poll"]);

    let text = mutants::render("wait", &["src/wait.rs"], &s, "2026-12-04", "abc123");
    let want = "module: wait\nfiles: src/wait.rs\ndate: 2026-12-04\ncommit: abc123\n\
                mutants: 6\ncaught: 2\nmissed: 2\ntimeout: 1\nunviable: 1\n\
                \nmissed mutants:\n  src/wait.rs:20:9: replace < with <= in backoff\n  \
                src/wait.rs:60:9: replace + with - in h\n\
                \ntimeout mutants:\n  src/wait.rs:30:9: delete ! in poll\n";
    assert_eq!(text, want);
}

#[test]
fn broken_outcomes_are_refused() {
    for (json, says) in [
        ("not json", "not JSON"),
        ("{}", "no `outcomes`"),
        (
            r#"{"outcomes": [{"scenario": "Baseline", "summary": "Failure"}]}"#,
            "baseline did not pass",
        ),
        (
            r#"{"outcomes": [{"scenario": {"Mutant": {}}, "summary": "CaughtMutant"}]}"#,
            "without a name",
        ),
        (
            r#"{"outcomes": [{"scenario": {"Mutant": {"name": "m"}}, "summary": "Success"}]}"#,
            "unexpected outcome `Success` for m",
        ),
    ] {
        let e = mutants::parse_outcomes(json).unwrap_err();
        assert!(e.contains(says), "{json}: {e}");
    }
}

#[test]
fn the_command_line() {
    let parse = |s: &str| cli::parse(&args(s), None);
    let Ok(Command::Mutants { targets, settings }) = parse("mutants") else {
        panic!()
    };
    let names: Vec<_> = targets.iter().map(|t| t.label()).collect();
    assert_eq!(
        names,
        [
            "wait",
            "scrub",
            "redaction",
            "retry",
            "config",
            "resolver",
            "upload"
        ]
    );
    assert_eq!(
        settings,
        Settings {
            list: false,
            timeout: mutants::DEFAULT_TIMEOUT,
            build_timeout: mutants::DEFAULT_BUILD_TIMEOUT
        }
    );

    let c = parse("mutants --module resolver --file src/resolver/grant.rs --list --timeout 30 --build-timeout 120").unwrap();
    let Command::Mutants { targets, settings } = c else {
        panic!("{c:?}")
    };
    assert_eq!(targets.len(), 1);
    assert_eq!(targets[0].files, ["src/resolver/grant.rs"]);
    assert_eq!(
        settings,
        Settings {
            list: true,
            timeout: 30,
            build_timeout: 120
        }
    );

    for (line, says) in [
        ("mutants --module", "--module needs a value"),
        ("mutants --module x", "unknown module `x`"),
        ("mutants --file src/wait.rs", "--file needs --module"),
        ("mutants --timeout 0", "positive number"),
        ("mutants --timeout soon", "positive number"),
        ("mutants --fast", "unknown argument `--fast`"),
    ] {
        let e = parse(line).unwrap_err();
        assert!(e.contains(says), "{line}: {e}");
    }
}

//! `cargo xtask mutants`: mutation testing of the workflow and safety modules
//! with cargo-mutants, one module (or one of its files) at a time.
//!
//! A maintainer tool, not a CI step (a module takes up to an hour). Each
//! mutant builds and runs only the test binaries listed for its module
//! (`--cargo-arg`, so that the build phase is limited too, not only the test
//! phase), in place in the working tree (no copy, no cold build), and the
//! outcome is summarised into `mutants/<name>.txt`. See docs/mutants.md.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use serde_json::Value;

/// One entry of the table: the files cargo-mutants mutates and the test
/// binaries of the `avala` package that must catch the mutants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Module {
    /// The name given to `--module` and used for the result file.
    pub name: &'static str,
    /// Files relative to the workspace root.
    pub files: &'static [&'static str],
    /// `--lib` for the unit tests, otherwise the name of a `tests/` binary.
    pub tests: &'static [&'static str],
    /// Cargo features to enable, so that code behind them (the `_blocking`
    /// twins) is compiled and tested rather than mutated unseen.
    pub features: &'static [&'static str],
}

/// The unit tests of the crate (`cargo test --lib`).
pub const LIB: &str = "--lib";

/// The modules in the order `cargo xtask mutants` runs them: small and
/// central first, the large workflows last.
pub const MODULES: &[Module] = &[
    Module {
        name: "wait",
        files: &["src/wait.rs"],
        tests: &[LIB, "wait", "blocking"],
        features: &["blocking"],
    },
    Module {
        name: "scrub",
        files: &["src/scrub.rs"],
        tests: &[LIB, "client_secrets", "secrets_prop"],
        features: &[],
    },
    Module {
        name: "redaction",
        files: &["src/redact.rs"],
        tests: &[LIB, "client_secrets"],
        features: &[],
    },
    Module {
        name: "retry",
        files: &[
            "src/retry/mod.rs",
            "src/retry/classify.rs",
            "src/retry/policy.rs",
            "src/retry/run.rs",
        ],
        tests: &[LIB, "client_retry"],
        features: &[],
    },
    Module {
        name: "config",
        files: &["src/config.rs"],
        tests: &[LIB, "client_config", "client_env"],
        features: &[],
    },
    Module {
        name: "resolver",
        files: &[
            "src/resolver/mod.rs",
            "src/resolver/bulk.rs",
            "src/resolver/documents.rs",
            "src/resolver/download.rs",
            "src/resolver/grant.rs",
            "src/resolver/local.rs",
            "src/resolver/manifest.rs",
            "src/resolver/reference.rs",
            "src/resolver/transport.rs",
        ],
        tests: &[LIB, "resolver", "blocking"],
        features: &["blocking"],
    },
    Module {
        name: "upload",
        // The shared parts first; dataset/, fleet/legacy/ and parallel.rs
        // last (they change most often).
        files: &[
            "src/upload/mod.rs",
            "src/upload/allow.rs",
            "src/upload/inventory.rs",
            "src/upload/lock.rs",
            "src/upload/store.rs",
            "src/upload/totals.rs",
            "src/upload/transfer.rs",
            "src/upload/fleet/mod.rs",
            "src/upload/fleet/managed/mod.rs",
            "src/upload/fleet/managed/flow.rs",
            "src/upload/fleet/managed/limits.rs",
            "src/upload/fleet/managed/part_grant.rs",
            "src/upload/fleet/managed/receipt.rs",
            "src/upload/fleet/managed/status.rs",
            "src/upload/dataset/mod.rs",
            "src/upload/dataset/flow.rs",
            "src/upload/dataset/kinds.rs",
            "src/upload/dataset/plan.rs",
            "src/upload/dataset/receipt.rs",
            "src/upload/dataset/slug.rs",
            "src/upload/fleet/legacy/mod.rs",
            "src/upload/fleet/legacy/checks.rs",
            "src/upload/fleet/legacy/flow.rs",
            "src/upload/fleet/legacy/receipt.rs",
            "src/upload/parallel.rs",
        ],
        tests: &[
            LIB,
            "upload_dataset",
            "upload_recording",
            "upload_managed_recording",
            "upload_hosts",
            // transfer.rs's `get` and `stall` serve the export download.
            "exports",
            "blocking",
        ],
        features: &["blocking"],
    },
];

/// Looks a module up by name.
pub fn module(name: &str) -> Result<&'static Module, String> {
    MODULES.iter().find(|m| m.name == name).ok_or_else(|| {
        let names: Vec<_> = MODULES.iter().map(|m| m.name).collect();
        format!("unknown module `{name}` (known: {})", names.join(", "))
    })
}

/// What one invocation of cargo-mutants covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The module whose tests run.
    pub module: &'static Module,
    /// A subset of the module's files (`--file`), or all of them.
    pub files: Vec<&'static str>,
}

impl Target {
    /// The whole module, or only `file` (which must be one of its files).
    pub fn new(module: &'static Module, file: Option<&str>) -> Result<Self, String> {
        let files = match file {
            None => module.files.to_vec(),
            Some(f) => {
                let f = f.trim_start_matches("./");
                let found =
                    module.files.iter().find(|m| **m == f).ok_or_else(|| {
                        format!("`{f}` is not a file of module `{}`", module.name)
                    })?;
                vec![*found]
            }
        };
        Ok(Target { module, files })
    }

    /// `upload` for the whole module, `upload-store` for one file of it
    /// (the file stem, with the directories below the module's if any:
    /// `upload-fleet-managed-flow`).
    pub fn label(&self) -> String {
        if self.files.len() == self.module.files.len() {
            return self.module.name.to_owned();
        }
        let file = self.files[0].trim_end_matches(".rs");
        let inner = file
            .strip_prefix("src/")
            .unwrap_or(file)
            .split('/')
            .skip(1)
            .collect::<Vec<_>>()
            .join("-");
        format!("{}-{inner}", self.module.name)
    }
}

/// Options that do not depend on the module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Only list the mutants (`cargo mutants --list`).
    pub list: bool,
    /// Seconds a mutant's test phase may take before it counts as a timeout.
    pub timeout: u64,
    /// Seconds a mutant's build may take.
    pub build_timeout: u64,
}

/// The default per-mutant limits: the test binaries of one module run in
/// seconds on an idle machine; the margin is for two loaded cores.
pub const DEFAULT_TIMEOUT: u64 = 60;
/// See [`DEFAULT_TIMEOUT`]; an incremental build of the lib and a few test
/// binaries takes about half a minute idle.
pub const DEFAULT_BUILD_TIMEOUT: u64 = 900;

/// The arguments after `cargo` for one target. `out` is the directory that
/// receives `mutants.out/`.
pub fn cargo_args(target: &Target, settings: &Settings, out: &Path) -> Vec<String> {
    let mut args: Vec<String> = vec!["mutants".into(), "--package=avala".into()];
    args.extend(target.files.iter().map(|f| format!("--file={f}")));
    if settings.list {
        args.push("--list".into());
        return args;
    }
    args.extend([
        // No copy of the tree: the warm target/ is reused and only the
        // workspace crate rebuilds. Never commit while this runs.
        "--in-place".to_owned(),
        "--no-shuffle".to_owned(),
        format!("--timeout={}", settings.timeout),
        format!("--build-timeout={}", settings.build_timeout),
        format!("--output={}", out.display()),
    ]);
    // --cargo-arg reaches both `cargo test --no-run` and `cargo test`, so
    // that the other test binaries are neither built nor run.
    args.extend(target.module.tests.iter().map(|t| match *t {
        LIB => format!("--cargo-arg={LIB}"),
        name => format!("--cargo-arg=--test={name}"),
    }));
    args.extend(
        target
            .module
            .features
            .iter()
            .map(|f| format!("--features={f}")),
    );
    args
}

/// The outcome of one cargo-mutants run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Mutants tried (the baseline is not one).
    pub total: usize,
    /// Mutants some test failed on.
    pub caught: usize,
    /// Mutants every test passed on.
    pub missed: usize,
    /// Mutants whose tests ran out of time.
    pub timeout: usize,
    /// Mutants that did not build.
    pub unviable: usize,
    /// The names of the missed mutants (`src/wait.rs:12:5: replace ...`).
    pub missed_names: Vec<String>,
    /// The names of the mutants that timed out.
    pub timeout_names: Vec<String>,
}

/// Reads cargo-mutants' `outcomes.json`: one entry per scenario, the
/// baseline as `"Baseline"`, each mutant as `{"Mutant": {"name": ...}}`,
/// with a `summary` of `CaughtMutant`, `MissedMutant`, `Timeout`,
/// `Unviable`, `Success` or `Failure`.
pub fn parse_outcomes(json: &str) -> Result<Summary, String> {
    let doc: Value =
        serde_json::from_str(json).map_err(|e| format!("outcomes.json is not JSON: {e}"))?;
    let outcomes = doc["outcomes"]
        .as_array()
        .ok_or("outcomes.json has no `outcomes` list")?;
    let mut s = Summary {
        total: 0,
        caught: 0,
        missed: 0,
        timeout: 0,
        unviable: 0,
        missed_names: Vec::new(),
        timeout_names: Vec::new(),
    };
    for outcome in outcomes {
        let summary = outcome["summary"].as_str().unwrap_or("");
        let Some(mutant) = outcome["scenario"].get("Mutant") else {
            if summary != "Success" {
                return Err(format!("the baseline did not pass ({summary})"));
            }
            continue;
        };
        let name = mutant["name"]
            .as_str()
            .ok_or("a mutant without a name in outcomes.json")?
            .to_owned();
        s.total += 1;
        match summary {
            "CaughtMutant" => s.caught += 1,
            "MissedMutant" => {
                s.missed += 1;
                s.missed_names.push(name);
            }
            "Timeout" => {
                s.timeout += 1;
                s.timeout_names.push(name);
            }
            "Unviable" => s.unviable += 1,
            other => return Err(format!("unexpected outcome `{other}` for {name}")),
        }
    }
    Ok(s)
}

/// The text of `mutants/<label>.txt`.
pub fn render(label: &str, files: &[&str], s: &Summary, date: &str, commit: &str) -> String {
    let mut out = format!(
        "module: {label}\nfiles: {}\ndate: {date}\ncommit: {commit}\n\
         mutants: {}\ncaught: {}\nmissed: {}\ntimeout: {}\nunviable: {}\n",
        files.join(" "),
        s.total,
        s.caught,
        s.missed,
        s.timeout,
        s.unviable
    );
    for (title, names) in [("missed", &s.missed_names), ("timeout", &s.timeout_names)] {
        if !names.is_empty() {
            out.push_str(&format!("\n{title} mutants:\n"));
            for n in names {
                out.push_str(&format!("  {n}\n"));
            }
        }
    }
    out
}

/// Runs cargo-mutants for each target in turn and writes each summary.
pub fn run(targets: &[Target], settings: &Settings) -> Result<(), String> {
    let root = crate::cli::workspace_root();
    for target in targets {
        let label = target.label();
        let out = root.join("target").join("mutants").join(&label);
        let args = cargo_args(target, settings, &out);
        std::fs::create_dir_all(&out)
            .map_err(|e| format!("cannot create {}: {e}", out.display()))?;
        eprintln!("[mutants] {label}: cargo {}", args.join(" "));
        let status = cargo(&root)
            .args(&args)
            .status()
            .map_err(|e| format!("could not run cargo mutants (is it installed? `cargo install cargo-mutants --locked`): {e}"))?;
        if settings.list {
            if !status.success() {
                return Err(format!("cargo mutants --list failed ({status})"));
            }
            continue;
        }
        // 0: all caught; 2: some missed; 3: some timed out. Anything else
        // (usage, baseline failure, interruption) has no result to record.
        if !matches!(status.code(), Some(0 | 2 | 3)) {
            return Err(format!("cargo mutants failed for {label} ({status})"));
        }
        let path = out.join("mutants.out").join("outcomes.json");
        let json = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let summary = parse_outcomes(&json)?;
        let text = render(&label, &target.files, &summary, &today()?, &head(&root)?);
        let file = results_path(&root, &label);
        std::fs::create_dir_all(file.parent().unwrap_or(&root))
            .map_err(|e| format!("cannot create mutants/: {e}"))?;
        std::fs::write(&file, &text)
            .map_err(|e| format!("cannot write {}: {e}", file.display()))?;
        eprint!("{text}");
    }
    Ok(())
}

/// Where the summary of `label` is kept in the repository.
pub fn results_path(root: &Path, label: &str) -> PathBuf {
    root.join("mutants").join(format!("{label}.txt"))
}

fn cargo(root: &Path) -> Command {
    let mut c = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    c.current_dir(root);
    c
}

fn output_of(cmd: &mut Command) -> Result<String, String> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!("{cmd:?} failed ({})", out.status));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn today() -> Result<String, String> {
    output_of(Command::new("date").args(["-u", "+%Y-%m-%d"]))
}

fn head(root: &Path) -> Result<String, String> {
    output_of(
        Command::new("git")
            .current_dir(root)
            .args(["rev-parse", "--short=12", "HEAD"]),
    )
}

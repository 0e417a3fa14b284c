//! `cargo xtask`: keeps `openapi/avala.json` something progenitor 0.15.1 and
//! build.rs can turn into the SDK, with stable public names.
//!
//! - `regen`: load (cli, load) → validate (load) → overlay → lint → generate
//!   → normalise → diff → write;
//! - `check`: the CI gate over the checked-in document (plus fixtures);
//! - `diff`: the semantic diff alone;
//! - `bench`: runs `avala-bench` in release (see BENCHMARKS.md);
//! - `mutants`: cargo-mutants over one module at a time (docs/mutants.md).
//!
//! Progress goes to stderr (`[3/6] applying overlay…`), the diff to stdout;
//! every failure is one `error: ...` line printed by `main`.

pub mod cli;
pub mod diff;
pub mod docs;
pub mod fixtures;
pub mod generate;
pub mod lint;
pub mod load;
pub mod mutants;
pub mod normalise;
pub mod overlay;
/// The walk over the document's operations that `build.rs` and the mock
/// share (`src/walker.rs` of the `avala` package).
#[path = "../../src/walker.rs"]
pub mod walker;
pub mod write;

use std::{path::Path, time::Instant};

use serde_json::{json, Value};

use cli::{Command, Paths};

/// Runs one command (the arguments after `cargo xtask`).
pub fn run(args: Vec<String>) -> Result<(), String> {
    match cli::parse(&args, std::env::var(cli::URL_ENV).ok())? {
        Command::Help => {
            println!("{}", cli::USAGE);
            Ok(())
        }
        Command::Regen {
            from,
            dry_run,
            paths,
        } => regen(&from, dry_run, &paths),
        Command::Check { paths } => check(&paths),
        Command::Diff { old, new } => {
            let (a, b) = (load_any(&old)?, load_any(&new)?);
            print!("{}", diff::render(&diff::diff(&a, &b)));
            Ok(())
        }
        Command::Bench { args } => bench(&args),
        Command::Mutants { targets, settings } => mutants::run(&targets, &settings),
    }
}

/// Runs the benchmark (`bench/`, see BENCHMARKS.md) in a release build. A
/// separate cargo run, so xtask itself never depends on the SDK and keeps
/// working when the document does not generate.
fn bench(args: &[String]) -> Result<(), String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = std::process::Command::new(cargo)
        .current_dir(cli::workspace_root())
        .args(["run", "--release", "-p", "avala-bench", "--"])
        .args(args)
        .status()
        .map_err(|e| format!("could not run cargo: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("the benchmark failed ({status})"))
    }
}

struct Progress {
    total: usize,
    step: usize,
    start: Instant,
}

impl Progress {
    fn new(total: usize) -> Self {
        Self {
            total,
            step: 0,
            start: Instant::now(),
        }
    }
    fn step(&mut self, what: &str) {
        self.step += 1;
        eprintln!(
            "[{}/{}] {what}… ({:.1}s)",
            self.step,
            self.total,
            self.start.elapsed().as_secs_f64()
        );
    }
}

/// Reads a document from a path or URL and parses it (no validation).
fn load_any(from: &str) -> Result<Value, String> {
    let src = load::source(from)?;
    let (text, content_type) = load::fetch(&src)?;
    load::parse(&text, content_type.as_deref(), &src.to_string())
}

/// Prints lint findings (one a line) and turns them into one error.
fn lint_error(findings: &[lint::Finding]) -> Result<(), String> {
    let Some(first) = findings.first() else {
        return Ok(());
    };
    for f in findings {
        eprintln!("  lint: {f}");
    }
    Err(format!(
        "the document breaks {} lint rule{} (first: {first})",
        findings.len(),
        if findings.len() == 1 { "" } else { "s" }
    ))
}

fn regen(from: &str, dry_run: bool, paths: &Paths) -> Result<(), String> {
    let mut progress = Progress::new(6);
    progress.step(&format!("loading {from}"));
    let src = load::source(from)?;
    let (text, content_type) = load::fetch(&src)?;
    let origin = src.to_string();
    let mut doc = load::parse(&text, content_type.as_deref(), &origin)?;

    progress.step("validating (OpenAPI 3.0.x)");
    load::validate(&doc, &origin)?;

    progress.step(&format!("applying overlay {}", paths.overlay.display()));
    let overlay = overlay::Overlay::load(&paths.overlay)?;
    for note in overlay.apply(&mut doc)? {
        eprintln!("  {note}");
    }
    for op in lint::operations(&doc) {
        let key = overlay::key(op.method, op.path);
        if !overlay.operation_ids.contains_key(&key) {
            eprintln!(
                "  note: {} has no overlay entry; add `\"{key}\": \"{}\"` to keep its name stable",
                op.subject(),
                op.id().unwrap_or("?")
            );
        }
    }

    progress.step("linting");
    lint_error(&lint::lint(&doc))?;

    progress.step("generating with progenitor 0.15.1");
    let generated = generate::generate(&doc)?;
    eprintln!(
        "  {} operations, {} generated types, {} open enums",
        generated.operations, generated.types, generated.open_enums
    );

    progress.step(if dry_run {
        "normalising and diffing (dry run)"
    } else {
        "normalising, diffing and writing"
    });
    let text = normalise::to_text(&doc);
    let old_text = match std::fs::read_to_string(&paths.spec) {
        Ok(t) => Some(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(format!("cannot read {}: {e}", paths.spec.display())),
    };
    let old = match &old_text {
        Some(t) => serde_json::from_str(t)
            .map_err(|e| format!("{} is not valid JSON: {e}", paths.spec.display()))?,
        None => json!({}),
    };
    print!("{}", diff::render(&diff::diff(&old, &doc)));
    if dry_run {
        eprintln!("dry run: {} not written", paths.spec.display());
    } else if old_text.as_deref() == Some(text.as_str()) {
        eprintln!("{} is up to date (byte-identical)", paths.spec.display());
    } else {
        write::atomic(&paths.spec, &text)?;
        eprintln!("wrote {}", paths.spec.display());
    }
    Ok(())
}

fn check(paths: &Paths) -> Result<(), String> {
    let mut progress = Progress::new(5);
    let mut problems: Vec<String> = Vec::new();
    let spec = paths.spec.display().to_string();

    progress.step(&format!("reading {spec}"));
    let text =
        std::fs::read_to_string(&paths.spec).map_err(|e| format!("cannot read {spec}: {e}"))?;
    let doc: Value =
        serde_json::from_str(&text).map_err(|e| format!("{spec} is not valid JSON: {e}"))?;
    load::validate(&doc, &spec)?;
    if normalise::to_text(&doc) != text {
        problems.push(format!(
            "{spec} is not normalised (sorted keys, 2-space indent, trailing newline); \
             run `cargo xtask regen --from {spec}`"
        ));
    }

    progress.step(&format!("checking the overlay {}", paths.overlay.display()));
    match overlay::Overlay::load(&paths.overlay) {
        Err(e) => problems.push(e),
        Ok(o) => {
            problems.extend(overlay_problems(&o, &doc));
        }
    }

    progress.step("linting");
    for f in lint::lint(&doc) {
        problems.push(format!("lint: {f}"));
    }

    progress.step("generating with progenitor 0.15.1");
    match generate::generate(&doc) {
        Ok(g) => eprintln!(
            "  {} operations, {} generated types, {} open enums",
            g.operations, g.types, g.open_enums
        ),
        Err(e) => problems.push(format!("generation: {e}")),
    }

    progress.step(&format!("checking fixtures {}", paths.examples.display()));
    problems.extend(fixture_problems(&doc, &paths.examples));

    if let Some(first) = problems.first() {
        for p in &problems {
            eprintln!("  - {p}");
        }
        return Err(format!(
            "check failed with {} problem{} (first: {first})",
            problems.len(),
            if problems.len() == 1 { "" } else { "s" }
        ));
    }
    println!(
        "ok: {spec} is normalised, in sync with the overlay, lint-clean, generates, and has its fixtures ({:.1}s)",
        progress.start.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The overlay must be a no-op on the checked-in document and name every
/// operation (so that an upstream rename is undone).
fn overlay_problems(o: &overlay::Overlay, doc: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let mut copy = doc.clone();
    match o.apply(&mut copy) {
        Err(e) => problems.push(e),
        Ok(notes) => {
            problems.extend(notes.into_iter().map(|n| format!("stale entry: {n}")));
            if copy != *doc {
                let changes = diff::diff(doc, &copy);
                let what = changes.first().map_or_else(
                    || "a change outside operations and schemas".into(),
                    ToString::to_string,
                );
                problems.push(format!(
                    "the overlay is not a no-op on the checked-in document ({})",
                    what.trim()
                ));
            }
        }
    }
    for op in lint::operations(doc) {
        let key = overlay::key(op.method, op.path);
        if !o.operation_ids.contains_key(&key) {
            problems.push(format!(
                "overlay: no `operationIds` entry for {}: add `\"{key}\": \"{}\"`",
                op.subject(),
                op.id().unwrap_or("?")
            ));
        }
    }
    problems
}

fn fixture_problems(doc: &Value, path: &Path) -> Vec<String> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return vec![format!(
                "fixtures: {} does not exist (every operation needs its examples there)",
                path.display()
            )]
        }
        Err(e) => return vec![format!("fixtures: cannot read {}: {e}", path.display())],
    };
    match serde_json::from_str::<Value>(&text) {
        Ok(examples) => fixtures::check(doc, &examples)
            .into_iter()
            .map(|p| format!("fixtures: {p}"))
            .collect(),
        Err(e) => vec![format!(
            "fixtures: {} is not valid JSON: {e}",
            path.display()
        )],
    }
}

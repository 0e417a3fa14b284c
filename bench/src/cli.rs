//! `avala-bench --cli`: our `avala` binary next to the official Python CLI
//! (`avala` 0.10.0 from PyPI) on the same loopback mock, as whole processes
//! (start-up included), which is what a user or a script waits for.
//!
//! - `--help`;
//! - `datasets list` of 100 datasets (one page) as JSON.
//!
//! Our binary is built in release (`cargo build --release -p avala-cli`);
//! the Python CLI goes into a virtualenv under `target/bench-python-cli`
//! (`python3 -m venv` + `pip install avala==0.10.0`, once: this needs PyPI).
//! Repetitions alternate the sides (ours, theirs, theirs, ours, ...); the
//! ratio is ours / theirs of the medians. Never run by CI or the tests.

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::Instant,
};

use avala::mock::MockServer;

use crate::stats::{median_p99, Ratio};

pub const FLAG: &str = "--cli";
/// With the `cli` extra: without it the `avala` script only says to install it.
const PYTHON_CLI: &str = "avala[cli]==0.10.0";
const DATASETS: usize = 100;

/// One measured command line, as each side spells it.
struct Case {
    name: &'static str,
    ours: &'static [&'static str],
    theirs: &'static [&'static str],
    /// Checks the output is the work asked for (both sides).
    check: fn(&str) -> Result<(), String>,
}

const CASES: &[Case] = &[
    Case {
        name: "--help",
        ours: &["--help"],
        theirs: &["--help"],
        check: |out| {
            (out.contains("datasets"))
                .then_some(())
                .ok_or("no datasets in help".into())
        },
    },
    Case {
        name: "datasets list, 100 items, JSON",
        ours: &["datasets", "list", "--limit", "100", "--output", "json"],
        theirs: &["--output", "json", "datasets", "list", "--limit", "100"],
        check: hundred_datasets,
    },
];

/// Our output is the API's page, theirs an array of rows: 100 uids either way.
fn hundred_datasets(out: &str) -> Result<(), String> {
    let v: serde_json::Value = serde_json::from_str(out).map_err(|e| format!("not JSON: {e}"))?;
    let items = v.get("results").unwrap_or(&v);
    let n = items
        .as_array()
        .map_or(0, |a| a.iter().filter(|d| d["uid"].is_string()).count());
    (n == DATASETS)
        .then_some(())
        .ok_or(format!("{n} datasets instead of {DATASETS}"))
}

pub fn run(root: &Path, reps: usize) -> Result<(), String> {
    let ours = build_ours(root)?;
    let theirs = python_cli(root)?;
    let rt = crate::server::runtime(1)?;
    let mock = rt.block_on(MockServer::start());
    let datasets: Vec<_> = (1..=DATASETS)
        .map(|i| {
            serde_json::json!({"uid": format!("ds_{i:04}"), "name": format!("Set {i}"),
                "slug": format!("set-{i}"), "data_type": "image", "status": "created", "item_count": i})
        })
        .collect();
    mock.paginate("list_datasets", datasets, DATASETS);
    let scratch = std::env::temp_dir().join(format!("avala-bench-cli-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).map_err(|e| e.to_string())?;
    let sides = [
        Side {
            program: ours,
            label: "ours",
        },
        Side {
            program: theirs,
            label: "python",
        },
    ];
    println!(
        "CLI: our release `avala` / the Python CLI ({PYTHON_CLI}), {reps} runs each, alternating, \
         medians of wall time per process (load average at the start {})",
        crate::measures::load()
    );
    for case in CASES {
        let mut times = [Vec::new(), Vec::new()];
        for i in 0..=reps {
            let order = if i % 2 == 0 { [0, 1] } else { [1, 0] };
            for s in order {
                let args = if s == 0 { case.ours } else { case.theirs };
                let ns = sides[s].time(args, &mock, &scratch, case.check)?;
                // The first round is a warm-up (page cache, Python's bytecode cache).
                if i > 0 {
                    times[s].push(ns);
                }
            }
        }
        let (ours_med, _) = median_p99(&times[0]);
        let (theirs_med, _) = median_p99(&times[1]);
        let per_rep: Vec<f64> = times[0]
            .iter()
            .zip(&times[1])
            .map(|(a, b)| *a as f64 / *b as f64)
            .collect();
        let ratio = Ratio::new(ours_med as f64 / theirs_med as f64, &per_rep);
        println!(
            "  {:<32} ours {:>8.1} ms   python {:>8.1} ms   ratio {:.3} ({})",
            case.name,
            ours_med as f64 / 1e6,
            theirs_med as f64 / 1e6,
            ratio.value,
            ratio.spread().replace("per round", "per pair"),
        );
    }
    println!("(load average at the end {})", crate::measures::load());
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(())
}

struct Side {
    program: PathBuf,
    label: &'static str,
}

impl Side {
    /// Runs once in `dir` (no `.env` there) against the mock; nanoseconds.
    fn time(
        &self,
        args: &[&str],
        mock: &MockServer,
        dir: &Path,
        check: fn(&str) -> Result<(), String>,
    ) -> Result<u64, String> {
        let started = Instant::now();
        let out = Command::new(&self.program)
            .args(args)
            .current_dir(dir)
            .env("AVALA_API_KEY", MockServer::API_KEY)
            .env("AVALA_BASE_URL", mock.base_url())
            .env("AVALA_ALLOW_INSECURE_BASE_URL", "true")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("could not run {}: {e}", self.program.display()))?;
        let ns = started.elapsed().as_nanos() as u64;
        let stdout = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() {
            return Err(format!(
                "{} {args:?} failed: {}",
                self.label,
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        check(&stdout).map_err(|e| format!("{} {args:?}: {e}", self.label))?;
        Ok(ns)
    }
}

fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from)
}

/// `cargo build --release -p avala-cli`, and the binary's path.
fn build_ours(root: &Path) -> Result<PathBuf, String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(root)
        .args(["build", "--release", "--quiet", "-p", "avala-cli"])
        .status()
        .map_err(|e| format!("could not run cargo: {e}"))?;
    if !status.success() {
        return Err("cargo build --release -p avala-cli failed".into());
    }
    Ok(target_dir(root).join("release").join("avala"))
}

/// The Python CLI in its own virtualenv, installed on first use.
fn python_cli(root: &Path) -> Result<PathBuf, String> {
    Ok(python_venv(root)?.join("bin").join("avala"))
}

/// The virtualenv holding the official Python SDK and CLI, installed on
/// first use (the paging measure runs its `bin/python`).
pub fn python_venv(root: &Path) -> Result<PathBuf, String> {
    let venv = target_dir(root).join("bench-python-cli");
    // Written after a complete install, so a failed one is retried.
    let installed = venv.join(".installed-avala-cli-0.10.0");
    if installed.exists() {
        return Ok(venv);
    }
    let run = |program: &Path, args: &[&str]| -> Result<(), String> {
        let status = Command::new(program)
            .args(args)
            .status()
            .map_err(|e| format!("could not run {}: {e}", program.display()))?;
        status
            .success()
            .then_some(())
            .ok_or_else(|| format!("{} {args:?} failed", program.display()))
    };
    let venv_text = venv.to_str().ok_or("a non-UTF-8 target directory")?;
    run(Path::new("python3"), &["-m", "venv", venv_text])?;
    run(
        &venv.join("bin").join("pip"),
        &["install", "--quiet", PYTHON_CLI],
    )?;
    std::fs::write(&installed, PYTHON_CLI).map_err(|e| e.to_string())?;
    Ok(venv)
}

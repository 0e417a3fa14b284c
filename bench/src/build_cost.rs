//! `--build-cost`: what the generator costs a developer, in seconds.
//!
//! In a target directory of its own (`target/bench-build-cost`, removed first):
//! a clean `cargo build -p avala` (dev profile), a no-op rebuild that must not
//! rerun `build.rs`, and a rebuild after touching `openapi/avala.json`, which
//! must rerun it. "Reran" is read two ways: the mtime of `OUT_DIR/codegen.rs`
//! and cargo's `-v` output (`Fresh avala` vs `Running .../build-script-build`).

use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
    time::{Instant, SystemTime},
};

/// One unit of cargo's `--timings` report.
pub struct Unit {
    pub name: String,
    /// `""` for a library, `" build-script"`, `" build-script (run)"`, ...
    pub target: String,
    pub seconds: f64,
}

pub struct BuildCost {
    pub clean_s: f64,
    /// The units of the clean build, slowest first (empty when the report
    /// could not be read).
    pub clean_units: Vec<Unit>,
    pub touched_units: Vec<Unit>,
    pub noop_s: f64,
    pub noop_reran_generator: bool,
    pub touched_s: f64,
    pub touched_reran_generator: bool,
    /// The `schemars` feature: its first build (the `schemars` crate and the
    /// derives), then a rebuild after touching the document, side by side
    /// with `touched_s`; the lib unit's seconds of that rebuild.
    pub schemars_first_s: f64,
    pub schemars_touched_s: f64,
    pub schemars_touched_units: Vec<Unit>,
}

struct Build {
    seconds: f64,
    stderr: String,
}

fn cargo_build(root: &Path, target: &Path, features: &[&str]) -> Result<Build, String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let started = Instant::now();
    let out = Command::new(cargo)
        .current_dir(root)
        .args(["build", "-v", "--timings", "-p", "avala", "--target-dir"])
        .arg(target)
        .args(features.iter().flat_map(|f| ["--features", f]))
        .env_remove("CARGO_TARGET_DIR")
        .output()
        .map_err(|e| format!("could not run cargo: {e}"))?;
    let seconds = started.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if !out.status.success() {
        let tail: Vec<&str> = stderr.lines().rev().take(20).collect();
        return Err(format!(
            "cargo build failed:\n{}",
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        ));
    }
    Ok(Build { seconds, stderr })
}

/// The units cargo built, from the `UNIT_DATA` of its `--timings` report,
/// slowest first.
fn units(target: &Path) -> Vec<Unit> {
    let Ok(html) = fs::read_to_string(target.join("cargo-timings").join("cargo-timing.html"))
    else {
        return Vec::new();
    };
    let Some(start) = html.find("const UNIT_DATA = ") else {
        return Vec::new();
    };
    let rest = &html[start + "const UNIT_DATA = ".len()..];
    let Some(Ok(serde_json::Value::Array(data))) = serde_json::Deserializer::from_str(rest)
        .into_iter::<serde_json::Value>()
        .next()
    else {
        return Vec::new();
    };
    let mut units: Vec<Unit> = data
        .iter()
        .filter_map(|u| {
            Some(Unit {
                name: u.get("name")?.as_str()?.to_owned(),
                target: u.get("target")?.as_str().unwrap_or("").to_owned(),
                seconds: u.get("duration")?.as_f64()?,
            })
        })
        .filter(|u| u.seconds > 0.0)
        .collect();
    units.sort_by(|a, b| b.seconds.total_cmp(&a.seconds));
    units
}

/// The newest `OUT_DIR/codegen.rs` of the avala crate under `target`.
fn codegen(target: &Path) -> Option<(PathBuf, SystemTime)> {
    let build = target.join("debug").join("build");
    fs::read_dir(build)
        .ok()?
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("avala-"))
        .map(|e| e.path().join("out").join("codegen.rs"))
        .filter_map(|p| {
            let m = fs::metadata(&p).ok()?.modified().ok()?;
            Some((p, m))
        })
        .max_by_key(|(_, m)| *m)
}

/// Whether cargo ran avala's build script in this build (`-v` output).
fn ran_build_script(stderr: &str) -> bool {
    stderr.lines().any(|l| {
        l.contains("Running `") && l.contains("/build/avala-") && l.contains("build-script-build")
    })
}

fn reran(
    before: &Option<(PathBuf, SystemTime)>,
    after: &Option<(PathBuf, SystemTime)>,
    build: &Build,
) -> bool {
    let mtime_changed = match (before, after) {
        (Some((_, a)), Some((_, b))) => a != b,
        _ => true,
    };
    mtime_changed || ran_build_script(&build.stderr)
}

pub fn run(root: &Path) -> Result<BuildCost, String> {
    let target = root.join("target").join("bench-build-cost");
    if target.exists() {
        fs::remove_dir_all(&target).map_err(|e| format!("removing {}: {e}", target.display()))?;
    }
    eprintln!(
        "build cost: clean build of avala in {} ...",
        target.display()
    );
    let clean = cargo_build(root, &target, &[])?;
    let clean_units = units(&target);
    let first = codegen(&target);
    if first.is_none() {
        return Err("no OUT_DIR/codegen.rs after the clean build".into());
    }

    eprintln!("build cost: no-op rebuild ...");
    let noop = cargo_build(root, &target, &[])?;
    let after_noop = codegen(&target);
    let noop_reran = reran(&first, &after_noop, &noop) || !noop.stderr.contains("Fresh avala");

    eprintln!("build cost: rebuild after touching openapi/avala.json ...");
    touch_document(root)?;
    let touched = cargo_build(root, &target, &[])?;
    let touched_units = units(&target);
    let after_touch = codegen(&target);
    let touched_reran = reran(&after_noop, &after_touch, &touched);

    eprintln!("build cost: the schemars feature, first build, then after touching ...");
    let schemars_first = cargo_build(root, &target, &["schemars"])?;
    touch_document(root)?;
    let schemars_touched = cargo_build(root, &target, &["schemars"])?;

    Ok(BuildCost {
        clean_s: clean.seconds,
        clean_units,
        touched_units,
        noop_s: noop.seconds,
        noop_reran_generator: noop_reran,
        touched_s: touched.seconds,
        touched_reran_generator: touched_reran,
        schemars_first_s: schemars_first.seconds,
        schemars_touched_s: schemars_touched.seconds,
        schemars_touched_units: units(&target),
    })
}

/// Marks `openapi/avala.json` as changed, so that the generator reruns.
fn touch_document(root: &Path) -> Result<(), String> {
    let spec = root.join("openapi").join("avala.json");
    fs::File::options()
        .write(true)
        .open(&spec)
        .and_then(|f| f.set_modified(SystemTime::now()))
        .map_err(|e| format!("touching {}: {e}", spec.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_build_script_run() {
        let ran = "   Compiling avala v0.1.0 (/w)\n     Running `/w/target/x/debug/build/avala-1234/build-script-build`";
        assert!(ran_build_script(ran));
        assert!(!ran_build_script("       Fresh avala v0.1.0 (/w)"));
    }
}

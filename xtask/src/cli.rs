//! Command-line parsing (no dependency: four commands and a few flags).

use std::path::PathBuf;

use crate::mutants::{self, Settings, Target};

/// The usage text, printed by `cargo xtask help` and after a usage error.
pub const USAGE: &str = "\
usage:
  cargo xtask regen [--from <URL|PATH>] [--dry-run] [--spec <PATH>] [--overlay <PATH>]
      Fetch or read a new OpenAPI 3.0.x document (JSON or YAML; --from defaults to
      $AVALA_OPENAPI_URL), apply the overlay, lint, generate with progenitor,
      normalise, print the semantic diff and write --spec atomically.
  cargo xtask check [--spec <PATH>] [--overlay <PATH>] [--examples <PATH>]
      The CI gate: normalised, overlay in sync, lint clean, generates, fixtures.
  cargo xtask diff <OLD> <NEW>
      The semantic diff of two documents (paths or URLs).
  cargo xtask bench [--quick] [--build-cost] | --upload | --cli
      The SDK next to raw reqwest (cargo run --release -p avala-bench; see
      BENCHMARKS.md); --cli: the `avala` binary next to the Python CLI.
      Arguments are passed to the benchmark as they are.
  cargo xtask mutants [--module NAME [--file PATH]] [--list] [--timeout SECS] [--build-timeout SECS]
      Mutation testing with cargo-mutants (install it first:
      `cargo install cargo-mutants --locked`), one module at a time, or all in
      order; writes mutants/<module>.txt. Modules: wait, scrub, redaction,
      retry, config, resolver, upload. See docs/mutants.md.
defaults: --spec openapi/avala.json, --overlay openapi/overlay.json,
          --examples openapi/examples.json (relative to the workspace root)";

/// The environment variable read by `regen` when `--from` is absent.
pub const URL_ENV: &str = "AVALA_OPENAPI_URL";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    pub spec: PathBuf,
    pub overlay: PathBuf,
    pub examples: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Regen {
        from: String,
        dry_run: bool,
        paths: Paths,
    },
    Check {
        paths: Paths,
    },
    Diff {
        old: String,
        new: String,
    },
    /// `cargo run --release -p avala-bench -- <args>`.
    Bench {
        args: Vec<String>,
    },
    /// `cargo mutants` over the table in `mutants.rs`.
    Mutants {
        targets: Vec<Target>,
        settings: Settings,
    },
    Help,
}

/// The workspace root (the parent of this crate's manifest directory).
pub fn workspace_root() -> PathBuf {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    here.parent().map(PathBuf::from).unwrap_or(here)
}

fn default_paths() -> Paths {
    let root = workspace_root().join("openapi");
    Paths {
        spec: root.join("avala.json"),
        overlay: root.join("overlay.json"),
        examples: root.join("examples.json"),
    }
}

/// Parses the arguments after `cargo xtask`. `env_url` is the value of
/// [`URL_ENV`], passed in so that parsing stays a pure function.
pub fn parse(args: &[String], env_url: Option<String>) -> Result<Command, String> {
    let usage = |msg: String| format!("{msg} (run `cargo xtask help` for usage)");
    let Some((cmd, rest)) = args.split_first() else {
        return Ok(Command::Help);
    };
    if cmd == "bench" {
        // The benchmark parses its own flags.
        return Ok(Command::Bench {
            args: rest.to_vec(),
        });
    }
    if cmd == "mutants" {
        return parse_mutants(rest).map_err(usage);
    }
    let mut paths = default_paths();
    let mut from = None;
    let mut dry_run = false;
    let mut positional = Vec::new();
    let mut it = rest.iter();
    while let Some(arg) = it.next() {
        let mut value = |flag: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| usage(format!("{flag} needs a value")))
        };
        match (cmd.as_str(), arg.as_str()) {
            ("regen", "--from") => from = Some(value("--from")?),
            ("regen", "--dry-run") => dry_run = true,
            ("regen" | "check", "--spec") => paths.spec = value("--spec")?.into(),
            ("regen" | "check", "--overlay") => paths.overlay = value("--overlay")?.into(),
            ("check", "--examples") => paths.examples = value("--examples")?.into(),
            (_, "-h" | "--help") => return Ok(Command::Help),
            (_, a) if a.starts_with('-') => {
                return Err(usage(format!("unknown option `{a}` for `{cmd}`")))
            }
            _ => positional.push(arg.clone()),
        }
    }
    match cmd.as_str() {
        "regen" => {
            if !positional.is_empty() {
                return Err(usage(format!("unexpected argument `{}`", positional[0])));
            }
            let from = from
                .or(env_url.filter(|s| !s.is_empty()))
                .ok_or_else(|| usage(format!("regen needs --from <URL|PATH> or {URL_ENV}")))?;
            Ok(Command::Regen {
                from,
                dry_run,
                paths,
            })
        }
        "check" => {
            if !positional.is_empty() {
                return Err(usage(format!("unexpected argument `{}`", positional[0])));
            }
            Ok(Command::Check { paths })
        }
        "diff" => match <[String; 2]>::try_from(positional) {
            Ok([old, new]) => Ok(Command::Diff { old, new }),
            Err(_) => Err(usage(
                "diff needs exactly two documents: <OLD> <NEW>".into(),
            )),
        },
        "help" | "-h" | "--help" => Ok(Command::Help),
        other => Err(usage(format!("unknown command `{other}`"))),
    }
}

/// `mutants [--module NAME [--file PATH]] [--list] [--timeout SECS] [--build-timeout SECS]`.
fn parse_mutants(rest: &[String]) -> Result<Command, String> {
    let (mut module, mut file) = (None, None);
    let mut settings = Settings {
        list: false,
        timeout: mutants::DEFAULT_TIMEOUT,
        build_timeout: mutants::DEFAULT_BUILD_TIMEOUT,
    };
    let mut it = rest.iter();
    while let Some(arg) = it.next() {
        let mut value = |flag: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        let seconds = |flag: &str, v: String| match v.parse::<u64>() {
            Ok(s) if s > 0 => Ok(s),
            _ => Err(format!(
                "{flag} needs a positive number of seconds, not `{v}`"
            )),
        };
        match arg.as_str() {
            "--module" => module = Some(mutants::module(&value("--module")?)?),
            "--file" => file = Some(value("--file")?),
            "--list" => settings.list = true,
            "--timeout" => settings.timeout = seconds("--timeout", value("--timeout")?)?,
            "--build-timeout" => {
                settings.build_timeout = seconds("--build-timeout", value("--build-timeout")?)?
            }
            a => return Err(format!("unknown argument `{a}` for `mutants`")),
        }
    }
    let targets = match (module, file) {
        (Some(m), file) => vec![Target::new(m, file.as_deref())?],
        (None, Some(_)) => return Err("--file needs --module".into()),
        (None, None) => mutants::MODULES
            .iter()
            .map(|m| Target::new(m, None))
            .collect::<Result<_, _>>()?,
    };
    Ok(Command::Mutants { targets, settings })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn regen_takes_from_then_env() {
        let c = parse(
            &args("regen --from a.json --dry-run --spec x.json"),
            Some("u".into()),
        );
        let Ok(Command::Regen {
            from,
            dry_run,
            paths,
        }) = c
        else {
            panic!("{c:?}")
        };
        assert_eq!(from, "a.json");
        assert!(dry_run);
        assert_eq!(paths.spec, PathBuf::from("x.json"));
        assert!(paths.overlay.ends_with("openapi/overlay.json"));

        let c = parse(&args("regen"), Some("https://h/o.json".into())).unwrap();
        assert!(
            matches!(c, Command::Regen { from, dry_run: false, .. } if from == "https://h/o.json")
        );
        let e = parse(&args("regen"), None).unwrap_err();
        assert!(e.contains("AVALA_OPENAPI_URL"), "{e}");
        let e = parse(&args("regen"), Some(String::new())).unwrap_err();
        assert!(e.contains("--from"), "{e}");
    }

    #[test]
    fn rejects_unknown_commands_flags_and_arity() {
        assert!(parse(&args("frobnicate"), None)
            .unwrap_err()
            .contains("unknown command"));
        assert!(parse(&args("check --dry-run"), None)
            .unwrap_err()
            .contains("unknown option"));
        assert!(parse(&args("regen --from"), None)
            .unwrap_err()
            .contains("needs a value"));
        assert!(parse(&args("diff a"), None)
            .unwrap_err()
            .contains("exactly two"));
        assert_eq!(
            parse(&args("diff a b"), None).unwrap(),
            Command::Diff {
                old: "a".into(),
                new: "b".into()
            }
        );
        assert_eq!(parse(&[], None).unwrap(), Command::Help);
    }

    #[test]
    fn bench_passes_its_arguments_through() {
        assert_eq!(
            parse(&args("bench --quick --build-cost"), None).unwrap(),
            Command::Bench {
                args: args("--quick --build-cost")
            }
        );
        assert_eq!(
            parse(&args("bench"), None).unwrap(),
            Command::Bench { args: vec![] }
        );
    }
}

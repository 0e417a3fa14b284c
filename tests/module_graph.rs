//! No import circle among the crate's top-level modules: the graph of
//! `crate::<module>` references in `src/` (outside comments and the unit
//! tests at the end of a file) has no cycle. `error` in particular imports
//! nothing from `capture` or `upload`, which raise its errors.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
};

/// Root items re-exported by `lib.rs`, by the module that defines them.
const ROOT_ITEMS: &[(&str, &str)] = &[
    ("Error", "error"),
    ("Result", "error"),
    ("ApiError", "error"),
    ("Client", "client"),
    ("ClientBuilder", "client"),
    ("RateLimit", "rate_limit"),
    ("Runtime", "runtime"),
    ("types", "generated"),
    ("builder", "generated"),
    ("GeneratedClient", "generated"),
];

/// The source tree: `AVALA_SRC` when set (to check another checkout),
/// else this crate's `src/`.
fn src() -> PathBuf {
    std::env::var_os("AVALA_SRC")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("src"))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The code of a file without comment lines and without its unit tests
/// (by convention the last item, `#[cfg(test)] mod tests`).
fn code(text: &str) -> String {
    let end = text.find("#[cfg(test)]\nmod tests").unwrap_or(text.len());
    text[..end]
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The first identifier of every path that starts at `crate::`, including
/// each top-level member of a `crate::{a, b::{c, d}}` group.
fn crate_refs(code: &str) -> BTreeSet<String> {
    let ident = |s: &str| -> String {
        s.trim_start()
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    let mut refs = BTreeSet::new();
    for (at, _) in code.match_indices("crate::") {
        let rest = &code[at + "crate::".len()..];
        let Some(group) = rest.strip_prefix('{') else {
            refs.insert(ident(rest));
            continue;
        };
        // Members start after the `{` and after each comma at depth 0.
        let mut depth = 0usize;
        let mut member_start = Some(0);
        for (i, c) in group.char_indices() {
            if let Some(start) = member_start.take() {
                refs.insert(ident(&group[start..]));
            }
            match c {
                '{' => depth += 1,
                '}' if depth == 0 => break,
                '}' => depth -= 1,
                ',' if depth == 0 => member_start = Some(i + 1),
                _ => {}
            }
        }
    }
    refs.remove("");
    refs
}

/// Top-level module → the top-level modules it references.
fn graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let module = |path: &Path| -> String {
        let rel = path.strip_prefix(src).unwrap();
        let first = rel.components().next().unwrap().as_os_str();
        first.to_string_lossy().trim_end_matches(".rs").to_owned()
    };
    let modules: BTreeSet<String> = files.iter().map(|p| module(p)).collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for path in &files {
        let from = module(path);
        if from == "lib" || from == "generation" {
            continue;
        }
        let text = std::fs::read_to_string(path).unwrap();
        let edges = graph.entry(from.clone()).or_default();
        for name in crate_refs(&code(&text)) {
            let to = ROOT_ITEMS
                .iter()
                .find(|(item, _)| *item == name)
                .map_or(name.as_str(), |(_, m)| m)
                .to_owned();
            if to != from && modules.contains(&to) {
                edges.insert(to);
            }
        }
    }
    graph
}

/// One cycle through `start`, if any: the path back to it.
fn cycle_through(graph: &BTreeMap<String, BTreeSet<String>>, start: &str) -> Option<Vec<String>> {
    let mut stack = vec![(start.to_owned(), vec![start.to_owned()])];
    let mut seen = BTreeSet::new();
    while let Some((at, path)) = stack.pop() {
        for next in graph.get(&at).into_iter().flatten() {
            if next == start {
                let mut cycle = path.clone();
                cycle.push(start.to_owned());
                return Some(cycle);
            }
            if seen.insert(next.clone()) {
                let mut longer = path.clone();
                longer.push(next.clone());
                stack.push((next.clone(), longer));
            }
        }
    }
    None
}

#[test]
fn no_import_circle_among_top_level_modules() {
    let graph = graph(&src());
    // The walk sees the references it must see.
    assert!(graph["upload"].contains("error"), "{graph:?}");
    assert!(graph["capture"].contains("error"), "{graph:?}");
    let cycles: Vec<Vec<String>> = graph
        .keys()
        .filter_map(|m| cycle_through(&graph, m))
        .collect();
    assert!(cycles.is_empty(), "import circles: {cycles:?}");
}

#[test]
fn the_reference_scan_reads_groups_and_skips_comments() {
    let text = "use crate::{error::Foo, upload::{wait, b},\n    Client};\n// crate::capture\nfn f() { crate::hosts::x(); }\n#[cfg(test)]\nmod tests { use crate::mock; }";
    let refs = crate_refs(&code(text));
    for want in ["error", "upload", "Client", "hosts"] {
        assert!(refs.contains(want), "{want}: {refs:?}");
    }
    // Not a nested member, a comment or the unit tests.
    for not in ["wait", "b", "capture", "mock"] {
        assert!(!refs.contains(not), "{not}: {refs:?}");
    }
}

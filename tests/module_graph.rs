//! The library's top-level module graph has no cycles: data flows
//! config -> data -> engine -> monitor -> diagnose -> report, and a module
//! never reaches back upstream. The graph is read from the source itself:
//! every `crate::name` path (in `use` lines, grouped `use crate::{a, b}`
//! imports and inline paths) in a file under `src/name/` or `src/name.rs`
//! is an edge from that file's top-level module to `name`. Comments and test
//! code are skipped: a `#[cfg(test)]` item to the end of its file (the
//! tests-at-the-bottom convention) and files declared `#[cfg(test)] mod x;`
//! (a unit test may use a downstream writer to check its output; that is not
//! a dependency of the library). The binary (main.rs) and lib.rs are the
//! roots, not modules, and are left out.
//!
//! Source of truth for the test itself: `a_planted_cycle_is_found` feeds the
//! same parser a two-file source with a deliberate cycle and requires it to
//! be named.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Graph = BTreeMap<String, BTreeSet<String>>;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// The top-level module a file belongs to (None for lib.rs / main.rs).
fn top_module(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).ok()?;
    let first = rel.components().next()?.as_os_str().to_str()?.to_string();
    let name = first.strip_suffix(".rs").unwrap_or(&first).to_string();
    (name != "lib" && name != "main").then_some(name)
}

/// Removes `//` comments (doc comments included) line by line; string
/// contents are kept (no `crate::` path appears in one here).
fn strip_comments(text: &str) -> String {
    text.lines()
        .map(|l| l.find("//").map_or(l, |i| &l[..i]))
        .collect::<Vec<_>>()
        .join("\n")
}

fn ident_at(s: &str) -> String {
    s.chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect()
}

/// The top-level modules `text` names through `crate::`.
fn targets(text: &str) -> BTreeSet<String> {
    let code = strip_comments(text);
    let mut out = BTreeSet::new();
    for (i, _) in code.match_indices("crate::") {
        let before = code[..i].chars().last();
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$') {
            continue; // `$crate::` or `some_crate::`
        }
        let rest = &code[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // `crate::{a, b::c, d::{e, f}}`: the names at depth 0 of the group.
            let mut depth = 0usize;
            let mut start = true;
            for (k, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => start = true,
                    c if c.is_whitespace() => {}
                    _ if start && depth == 0 => {
                        let id = ident_at(&group[k..]);
                        if !id.is_empty() {
                            out.insert(id);
                        }
                        start = false;
                    }
                    _ => {}
                }
            }
        } else {
            let id = ident_at(rest);
            if !id.is_empty() {
                out.insert(id);
            }
        }
    }
    out
}

/// The library part of a file: everything before its first `#[cfg(test)]`.
fn library_part(text: &str) -> &str {
    text.find("#[cfg(test)]").map_or(text, |i| &text[..i])
}

/// Files declared as test-only modules (`#[cfg(test)]` then `mod x;`).
fn test_only_files(files: &[(PathBuf, String)]) -> BTreeSet<PathBuf> {
    let mut out = BTreeSet::new();
    for (path, text) in files {
        let dir = if path
            .file_name()
            .is_some_and(|n| n == "mod.rs" || n == "lib.rs")
        {
            path.parent().unwrap().to_path_buf()
        } else {
            path.with_extension("")
        };
        let lines: Vec<&str> = text.lines().map(str::trim).collect();
        for w in lines.windows(2) {
            if w[0] != "#[cfg(test)]" {
                continue;
            }
            let decl = w[1]
                .trim_start_matches("pub(crate) ")
                .trim_start_matches("pub ");
            if let Some(name) = decl.strip_prefix("mod ").and_then(|r| r.strip_suffix(';')) {
                out.insert(dir.join(format!("{name}.rs")));
                out.insert(dir.join(name).join("mod.rs"));
            }
        }
    }
    out
}

/// The module graph of the `(path, text)` files of a source tree at `src`.
fn graph(src: &Path, files: &[(PathBuf, String)]) -> Graph {
    let mut g = Graph::new();
    let tests = test_only_files(files);
    for (path, text) in files {
        let Some(from) = top_module(src, path) else {
            continue;
        };
        if tests.contains(path) {
            continue;
        }
        let text = library_part(text);
        let edges = g.entry(from.clone()).or_default();
        for to in targets(text) {
            if to != from {
                edges.insert(to);
            }
        }
    }
    g
}

/// A cycle as the list of modules on it (first repeated at the end), or
/// None. Depth-first search with an explicit path.
fn find_cycle(g: &Graph) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        OnPath,
        Done,
    }
    fn visit(
        g: &Graph,
        n: &str,
        marks: &mut BTreeMap<String, Mark>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        marks.insert(n.to_string(), Mark::OnPath);
        path.push(n.to_string());
        for m in g.get(n).into_iter().flatten() {
            match marks.get(m).copied().unwrap_or(Mark::New) {
                Mark::OnPath => {
                    let i = path.iter().position(|p| p == m).unwrap();
                    let mut cycle = path[i..].to_vec();
                    cycle.push(m.clone());
                    return Some(cycle);
                }
                Mark::New => {
                    if let Some(c) = visit(g, m, marks, path) {
                        return Some(c);
                    }
                }
                Mark::Done => {}
            }
        }
        path.pop();
        marks.insert(n.to_string(), Mark::Done);
        None
    }
    let mut marks = BTreeMap::new();
    for n in g.keys() {
        if marks.get(n).copied().unwrap_or(Mark::New) == Mark::New {
            if let Some(c) = visit(g, n, &mut marks, &mut Vec::new()) {
                return Some(c);
            }
        }
    }
    None
}

/// Every cycle-closing edge, for the failure message (one cycle at a time
/// would hide the others).
fn all_cycles(g: &Graph) -> Vec<Vec<String>> {
    let mut g = g.clone();
    let mut out = Vec::new();
    while let Some(c) = find_cycle(&g) {
        let (a, b) = (&c[c.len() - 2], &c[c.len() - 1]);
        g.get_mut(a).unwrap().remove(b);
        out.push(c);
    }
    out
}

fn source_tree() -> (PathBuf, Vec<(PathBuf, String)>) {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let texts = files
        .into_iter()
        .map(|p| {
            let t = std::fs::read_to_string(&p).unwrap();
            (p, t)
        })
        .collect();
    (src, texts)
}

#[test]
fn the_top_level_module_graph_is_acyclic() {
    let (src, files) = source_tree();
    let g = graph(&src, &files);
    assert!(g.len() > 10, "the parser saw the modules: {g:?}");
    let cycles = all_cycles(&g);
    let text: Vec<String> = cycles.iter().map(|c| c.join(" -> ")).collect();
    assert!(
        cycles.is_empty(),
        "the module graph has cycles:\n  {}",
        text.join("\n  ")
    );
}

#[test]
fn a_planted_cycle_is_found() {
    let src = PathBuf::from("/s");
    let files = vec![
        (
            src.join("config/types.rs"),
            "use crate::kinds::Activation;\n// crate::report in a comment\nuse crate::{engine::x, data};".to_string(),
        ),
        (
            src.join("engine/mod.rs"),
            "fn f() { crate::config::g(); }\n#[cfg(test)]\nmod tests;\n".to_string(),
        ),
        (src.join("engine/tests.rs"), "use crate::report;".to_string()),
        (
            src.join("kinds.rs"),
            "use serde::Serialize; $crate::x\n#[cfg(test)]\nmod t { use crate::report; }"
                .to_string(),
        ),
        (src.join("lib.rs"), "pub mod engine; crate::report".to_string()),
    ];
    let g = graph(&src, &files);
    assert_eq!(
        g["config"],
        ["data", "engine", "kinds"].map(String::from).into()
    );
    assert!(g["kinds"].is_empty(), "test code is not an edge");
    assert_eq!(g["engine"], ["config"].map(String::from).into());
    assert!(!g.contains_key("lib"));
    let c = find_cycle(&g).expect("config <-> engine is a cycle");
    assert!(
        c == ["config", "engine", "config"] || c == ["engine", "config", "engine"],
        "{c:?}"
    );
    let mut acyclic = g.clone();
    acyclic.get_mut("engine").unwrap().clear();
    assert_eq!(find_cycle(&acyclic), None);
}

/// The command a file under src/commands/ belongs to: `check` for
/// commands/check.rs and commands/check/fixes.rs; None for commands/mod.rs
/// and files elsewhere.
fn command_of(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src.join("commands")).ok()?;
    let first = rel.components().next()?.as_os_str().to_str()?.to_string();
    let name = first.strip_suffix(".rs").unwrap_or(&first).to_string();
    (name != "mod").then_some(name)
}

/// Commands a command file names other than its own: `crate::commands::y`
/// anywhere, and `super::y` in a command's top file (commands/x.rs, whose
/// `super` is the floor).
fn other_commands(src: &Path, file: &Path, text: &str, commands: &BTreeSet<String>) -> Vec<String> {
    let Some(own) = command_of(src, file) else {
        return Vec::new();
    };
    let top = file.parent() == Some(&src.join("commands"));
    let code = strip_comments(library_part(text));
    let mut out = Vec::new();
    for (prefix, applies) in [("crate::commands::", true), ("super::", top)] {
        if !applies {
            continue;
        }
        for (i, _) in code.match_indices(prefix) {
            let before = code[..i].chars().last();
            if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            let rest = &code[i + prefix.len()..];
            let names: Vec<String> = match rest.strip_prefix('{') {
                Some(group) => group
                    .split('}')
                    .next()
                    .unwrap_or("")
                    .split(',')
                    .map(|n| ident_at(n.trim()))
                    .collect(),
                None => vec![ident_at(rest)],
            };
            for n in names {
                if commands.contains(&n) && n != own {
                    out.push(n);
                }
            }
        }
    }
    out
}

/// Commands sit side by side on one floor: no command imports another, no
/// module below them imports any command, and the run-directory reader is
/// only a reader (it hosts no command and uses none of their stages).
#[test]
fn commands_are_side_by_side_on_one_floor() {
    let (src, files) = source_tree();
    let commands: BTreeSet<String> = files
        .iter()
        .filter_map(|(p, _)| command_of(&src, p))
        .collect();
    for c in [
        "check",
        "gradcheck",
        "diagnose",
        "report",
        "compare",
        "verify_trace",
        "explain",
        "init",
    ] {
        assert!(
            commands.contains(c),
            "src/commands/{c}.rs is missing: {commands:?}"
        );
    }
    let mut crossings = Vec::new();
    for (path, text) in &files {
        for other in other_commands(&src, path, text, &commands) {
            crossings.push(format!("{} -> {other}", path.display()));
        }
    }
    assert!(
        crossings.is_empty(),
        "a command imports another:\n  {}",
        crossings.join("\n  ")
    );
    let g = graph(&src, &files);
    let below: Vec<&String> = g
        .iter()
        .filter(|(from, to)| from.as_str() != "commands" && to.contains("commands"))
        .map(|(from, _)| from)
        .collect();
    assert!(
        below.is_empty(),
        "modules below the commands import them: {below:?}"
    );
    for stage in ["commands", "assess", "prepare"] {
        assert!(!g["rundir"].contains(stage), "rundir uses {stage}");
    }
}

#[test]
fn a_command_importing_another_is_found() {
    let src = PathBuf::from("/s");
    let commands: BTreeSet<String> = ["check", "diagnose"].map(String::from).into();
    let diag = src.join("commands/diagnose.rs");
    assert_eq!(
        other_commands(&src, &diag, "use super::check::CheckOptions;", &commands),
        ["check"]
    );
    assert_eq!(
        other_commands(
            &src,
            &diag,
            "use crate::commands::{check, diagnose};",
            &commands
        ),
        ["check"]
    );
    assert!(other_commands(
        &src,
        &diag,
        "use crate::assess::Assessed; // super::check",
        &commands
    )
    .is_empty());
    // In a command's own submodule, `super` is the command itself.
    let fixes = src.join("commands/check/fixes.rs");
    assert!(other_commands(&src, &fixes, "use super::CheckOptions;", &commands).is_empty());
}

/// The whole graph, printed: `cargo test --test module_graph -- --ignored --nocapture`.
#[test]
#[ignore]
fn print_the_graph() {
    let (src, files) = source_tree();
    for (from, to) in graph(&src, &files) {
        println!(
            "{from} -> {}",
            to.into_iter().collect::<Vec<_>>().join(", ")
        );
    }
}

/// The names of the concrete layer kinds (types and `kind = "..."` strings)
/// that only the kinds' own files (src/engine/layers/) and the config
/// loader (src/config/) may use: everything else asks a layer (`Layer`'s
/// methods) or the registry (`engine::layers::registry`). "dense" is not
/// listed: it is the default kind, which runs recorded before kinds were
/// named (and other trainers' MLPs) mean. "activation" is not listed: it is
/// also the key every weighted layer takes.
const KIND_NAMES: &[&str] = &[
    "Conv2d",
    "BatchNorm",
    "Pool2d",
    "Dropout",
    "Flatten",
    "\"conv2d\"",
    "\"batch_norm\"",
    "\"max_pool2d\"",
    "\"avg_pool2d\"",
    "\"dropout\"",
    "\"flatten\"",
];

/// Files outside the kinds' own that still name concrete kinds, and why.
const KIND_EXCEPTIONS: &[(&str, &str)] = &[
    (
        "engine/flaw/cnn.rs",
        "the catalogue of hand-written CNN backward bugs: each mistake belongs to one kind's backward pass",
    ),
    (
        "trace/spec.rs",
        "the verify-trace file format declares its own kind names and per-kind files (params, mask)",
    ),
    (
        "trace/cnn_pattern.rs",
        "shape inference over a trace spec, before any engine layer exists, to match CNN bug patterns",
    ),
    (
        "gradcheck/conditioned.rs",
        "redraws a layer's weight tensor in its own layout ([fan_in, units] or [out, in, kh, kw])",
    ),
    (
        "diagnose/preflight.rs",
        "initial weight statistics read a weight tensor in its own layout",
    ),
];

/// `code` with the contents of its string literals blanked (prose in a
/// message may say "Dropout"; a type name in code may not).
fn strip_strings(code: &str) -> String {
    let mut out = String::with_capacity(code.len());
    let (mut inside, mut escaped) = (false, false);
    for c in code.chars() {
        match (inside, escaped, c) {
            (true, false, '\\') => escaped = true,
            (true, true, _) => escaped = false,
            (_, _, '"') => {
                inside = !inside;
                out.push('"');
            }
            (true, _, _) => {}
            (false, _, c) => out.push(c),
        }
    }
    out
}

/// Whether `word` occurs in `code` as a whole identifier (outside string
/// literals) or, for a quoted word, as that exact literal.
fn mentions(code: &str, word: &str) -> bool {
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    if !word.starts_with('"') {
        let code = strip_strings(code);
        return code.match_indices(word).any(|(i, _)| {
            let before = code[..i].chars().last();
            let after = code[i + word.len()..].chars().next();
            !before.is_some_and(ident) && !after.is_some_and(ident)
        });
    }
    code.match_indices(word).any(|(i, _)| {
        let before = code[..i].chars().last();
        let after = code[i + word.len()..].chars().next();
        word.starts_with('"') || (!before.is_some_and(ident) && !after.is_some_and(ident))
    })
}

/// Issue: "a layer kind lives in its own file". A new kind is its file in
/// src/engine/layers/ plus one registration line; no other library code
/// names a concrete kind, except the files listed (with their reasons).
#[test]
fn only_the_kinds_own_files_name_concrete_layer_kinds() {
    let (src, files) = source_tree();
    let tests = test_only_files(&files);
    let mut offenders = Vec::new();
    let mut used_exceptions = BTreeSet::new();
    for (path, text) in &files {
        let rel = path
            .strip_prefix(&src)
            .unwrap()
            .to_string_lossy()
            .to_string();
        if rel.starts_with("engine/layers/") || rel.starts_with("config/") || tests.contains(path) {
            continue;
        }
        let code = strip_comments(library_part(text));
        let named: Vec<&str> = KIND_NAMES
            .iter()
            .copied()
            .filter(|w| mentions(&code, w))
            .collect();
        if named.is_empty() {
            continue;
        }
        if KIND_EXCEPTIONS.iter().any(|(f, _)| *f == rel) {
            used_exceptions.insert(rel);
        } else {
            offenders.push(format!("{rel}: {named:?}"));
        }
    }
    assert!(
        offenders.is_empty(),
        "these files name concrete layer kinds; ask the layer or the registry instead:\n  {}",
        offenders.join("\n  ")
    );
    let stale: Vec<_> = KIND_EXCEPTIONS
        .iter()
        .filter(|(f, _)| !used_exceptions.contains(*f))
        .collect();
    assert!(stale.is_empty(), "exceptions no longer needed: {stale:?}");
}

#[test]
fn kind_mentions_are_whole_words() {
    assert!(mentions("AnyLayer::Conv2d(c)", "Conv2d"));
    assert!(!mentions("Phase::ForwardBatchNorm", "BatchNorm"));
    assert!(!mentions("Conv2dConfig", "Conv2d"));
    assert!(mentions("kind == \"dropout\"", "\"dropout\""));
    assert!(!mentions("\"forward.dropout\"", "\"dropout\""));
    assert!(!mentions("format!(\"Dropout of rate {r}\")", "Dropout"));
}

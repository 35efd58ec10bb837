//! Every command-output sample in README.md and docs/*.md is run against the
//! built binary, so a sample cannot go stale.
//!
//! The convention (docs/architecture.md, "Documentation"):
//!
//! - A sample is a fenced ```` ```console ```` block. A line `$ nn-doctor ARGS`
//!   is a command; the lines after it, up to the next `$ ` line or the end of
//!   the block, are its expected stdout followed by its stderr.
//! - A last expected line `[exit N]` expects exit code N; without it the
//!   command must exit 0.
//! - A line `...` matches any number of lines (none included); `[..]` inside
//!   a line matches any text within that line (timings, sizes). Trailing
//!   whitespace is ignored.
//! - The commands of one block run in order in one fresh temporary working
//!   directory whose `fixtures/` entries and `examples/` are links to the
//!   repository's, so `reports/` and written files stay there.
//!
//! Besides running the samples, this test refuses an output sample written
//! outside the convention (a `$ ` prompt or an nn-doctor output line in any
//! other fenced block), checks that every literal expected line is
//! load-bearing (changing it makes the sample fail), and parses every
//! complete ```` ```toml ```` config (one with `[data]`, `[model]` and
//! `[train]`) with the config validator.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The sample count this test must find, so that a broken block parser (or
/// a renamed fence) cannot make it pass by checking nothing. (docs/diagnoses.md
/// is generated from the rule registry and checked by its own test, so its
/// `explain` outputs are not samples here.)
const MIN_SAMPLES: usize = 20;

/// Complete configs in ```toml blocks the validator must accept.
const MIN_CONFIGS: usize = 2;

/// Lines that only nn-doctor's own output starts with: a block holding one
/// outside the convention is an unchecked output sample.
const OUTPUT_MARKERS: &[&str] = &[
    "nn-doctor check:",
    "nn-doctor diagnose:",
    "nn-doctor compare:",
    "nn-doctor verify-trace:",
    "nn-doctor: error:",
    "verdict:",
    "first fix:",
    "first wrong:",
    "gradcheck: PASS",
    "gradcheck: FAIL",
    "report: reports/",
];

/// One fenced block of a Markdown file.
#[derive(Debug, Clone)]
struct Block {
    file: String,
    /// 1-based line of the opening fence.
    line: usize,
    info: String,
    /// (1-based line number, text) of each line inside the fences.
    lines: Vec<(usize, String)>,
}

/// One command of a console block with what it must print.
#[derive(Debug, Clone)]
struct Sample {
    file: String,
    /// 1-based line of the `$ ` command.
    line: usize,
    args: Vec<String>,
    /// (1-based line number, expected line) of the output.
    expected: Vec<(usize, String)>,
    exit: i32,
}

/// The fenced blocks of a Markdown text, in order.
fn blocks(file: &str, text: &str) -> Result<Vec<Block>, String> {
    let mut out = Vec::new();
    let mut open: Option<(String, Block)> = None;
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let trimmed = raw.trim_start();
        let fence: String = trimmed.chars().take_while(|c| *c == '`').collect();
        match open.take() {
            None if fence.len() >= 3 => {
                let info = trimmed[fence.len()..].trim().to_string();
                let block = Block {
                    file: file.to_string(),
                    line: n,
                    info,
                    lines: Vec::new(),
                };
                open = Some((fence, block));
            }
            None => {}
            Some((f, block)) => {
                let closes = fence.len() >= f.len() && trimmed[fence.len()..].trim().is_empty();
                if closes {
                    out.push(block);
                } else {
                    let mut block = block;
                    block.lines.push((n, raw.to_string()));
                    open = Some((f, block));
                }
            }
        }
    }
    match open {
        Some((_, block)) => Err(format!("{file}:{}: fenced block never closed", block.line)),
        None => Ok(out),
    }
}

/// Splits a command line into words: whitespace separates, '...' and
/// "..." quote. Shell operators are refused: a sample is one plain command.
fn split_words(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    for c in line.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => word.push(c),
            None if c == '\'' || c == '"' => {
                quote = Some(c);
                in_word = true;
            }
            None if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            None if "|&;<>$`".contains(c) => {
                return Err(format!("shell operator `{c}` in a sample command"));
            }
            None => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if quote.is_some() {
        return Err("unclosed quote in a sample command".to_string());
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

/// The commands of one console block.
fn samples(block: &Block) -> Result<Vec<Sample>, String> {
    let mut out: Vec<Sample> = Vec::new();
    for (n, text) in &block.lines {
        if let Some(command) = text.strip_prefix("$ ") {
            let words = split_words(command).map_err(|e| format!("{}:{n}: {e}", block.file))?;
            match words.split_first() {
                Some((program, args)) if program == "nn-doctor" => out.push(Sample {
                    file: block.file.clone(),
                    line: *n,
                    args: args.to_vec(),
                    expected: Vec::new(),
                    exit: 0,
                }),
                _ => {
                    return Err(format!(
                        "{}:{n}: a console sample runs `nn-doctor ...`, found `{command}`",
                        block.file
                    ))
                }
            }
        } else if let Some(sample) = out.last_mut() {
            sample.expected.push((*n, text.trim_end().to_string()));
        } else if !text.trim().is_empty() {
            return Err(format!(
                "{}:{n}: output before the first `$ nn-doctor` command of the block",
                block.file
            ));
        }
    }
    if out.is_empty() {
        return Err(format!(
            "{}:{}: console block without a `$ nn-doctor` command",
            block.file, block.line
        ));
    }
    for sample in &mut out {
        while sample.expected.last().is_some_and(|(_, l)| l.is_empty()) {
            sample.expected.pop();
        }
        let exit = sample.expected.last().and_then(|(_, l)| {
            l.strip_prefix("[exit ")
                .and_then(|rest| rest.strip_suffix(']'))
                .map(str::to_string)
        });
        if let Some(code) = exit {
            sample.exit = code.parse().map_err(|_| {
                format!(
                    "{}:{}: bad exit line `[exit {code}]`",
                    sample.file, sample.line
                )
            })?;
            sample.expected.pop();
        }
    }
    Ok(out)
}

/// Whether one expected line (with `[..]` wildcards) matches one actual line.
fn line_matches(expected: &str, actual: &str) -> bool {
    let expected = expected.trim_end();
    let actual = actual.trim_end();
    let parts: Vec<&str> = expected.split("[..]").collect();
    if parts.len() == 1 {
        return expected == actual;
    }
    let (first, rest) = (parts[0], &parts[1..]);
    let Some(mut tail) = actual.strip_prefix(first) else {
        return false;
    };
    let (last, middle) = match rest.split_last() {
        Some(split) => split,
        None => return true,
    };
    for part in middle {
        match tail.find(part) {
            Some(at) => tail = &tail[at + part.len()..],
            None => return false,
        }
    }
    tail.len() >= last.len() && tail.ends_with(last)
}

/// Matches expected lines (with `...` and `[..]`) against actual lines.
/// Ok(()) on a match; otherwise the index of the expected line the best
/// alignment could not get past (`expected.len()` when actual lines were
/// left over) and the actual line it was compared with.
fn match_output(expected: &[String], actual: &[String]) -> Result<(), (usize, Option<usize>)> {
    // reach[i][j]: expected[i..] can match actual[j..].
    let (e, a) = (expected.len(), actual.len());
    let mut reach = vec![vec![false; a + 1]; e + 1];
    reach[e][a] = true;
    for i in (0..e).rev() {
        for j in (0..=a).rev() {
            reach[i][j] = if expected[i] == "..." {
                reach[i + 1][j] || (j < a && reach[i][j + 1])
            } else {
                j < a && line_matches(&expected[i], &actual[j]) && reach[i + 1][j + 1]
            };
        }
    }
    if reach[0][0] {
        return Ok(());
    }
    // Walk the longest matching prefix to say where it breaks.
    let (mut i, mut j) = (0, 0);
    loop {
        if i == e {
            return Err((e, Some(j).filter(|&j| j < a)));
        }
        if expected[i] == "..." {
            match (j..=a).find(|&k| reach[i + 1][k]) {
                Some(k) => {
                    i += 1;
                    j = k;
                }
                None => {
                    // Skip to the actual line the next literal matches first.
                    i += 1;
                    if let Some(next) = expected.get(i) {
                        if let Some(k) = (j..a).find(|&k| line_matches(next, &actual[k])) {
                            j = k;
                        }
                    }
                }
            }
        } else if j < a && line_matches(&expected[i], &actual[j]) {
            i += 1;
            j += 1;
        } else {
            return Err((i, Some(j).filter(|&j| j < a)));
        }
    }
}

/// The failure message of a sample whose output does not match.
fn mismatch_report(sample: &Sample, actual: &[String], code: i32) -> Option<String> {
    let expected: Vec<String> = sample.expected.iter().map(|(_, l)| l.clone()).collect();
    let mut problems = Vec::new();
    if code != sample.exit {
        problems.push(format!(
            "exit code {code}, expected {} (write `[exit {code}]` as the last output line if that is right)",
            sample.exit
        ));
    }
    if let Err((i, j)) = match_output(&expected, actual) {
        let at = match sample.expected.get(i) {
            Some((n, l)) => format!("{}:{n}: expected `{l}`", sample.file),
            None => format!(
                "{}:{}: the output goes on after the last expected line",
                sample.file, sample.line
            ),
        };
        let got = j.map_or_else(
            || "the end of the output".to_string(),
            |j| format!("`{}`", actual[j]),
        );
        problems.push(format!("{at}\n    found {got}"));
    }
    if problems.is_empty() {
        return None;
    }
    let mut diff = String::new();
    for line in &expected {
        diff.push_str(&format!("  -{line}\n"));
    }
    for line in actual {
        diff.push_str(&format!("  +{line}\n"));
    }
    Some(format!(
        "{}:{}: `nn-doctor {}` does not match its sample:\n  {}\n  expected (-) / actual (+):\n{diff}",
        sample.file,
        sample.line,
        sample.args.join(" "),
        problems.join("\n  ")
    ))
}

/// A line of an expected output changed so that it can no longer match:
/// every literal line must be load-bearing.
fn unmatched_edit(expected: &[String], actual: &[String]) -> Option<usize> {
    (0..expected.len())
        .filter(|&i| expected[i] != "...")
        .find(|&i| {
            let mut edited = expected.to_vec();
            edited[i].push_str("\u{1}edited");
            match_output(&edited, actual).is_ok()
        })
}

/// Whether an expected output has no literal text at all (only `...` and
/// `[..]`): such a sample would pass on any output.
fn checks_nothing(expected: &[String]) -> bool {
    !expected.is_empty()
        && expected
            .iter()
            .all(|l| l == "..." || l.replace("[..]", "").trim().is_empty())
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// README.md and every docs/*.md, as (name relative to the repository, text).
fn documents() -> Vec<(String, String)> {
    let root = repo();
    let mut names = vec!["README.md".to_string()];
    let mut docs: Vec<String> = std::fs::read_dir(root.join("docs"))
        .expect("docs/ is readable")
        .map(|e| {
            e.expect("docs/ entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|n| n.ends_with(".md"))
        .map(|n| format!("docs/{n}"))
        .collect();
    docs.sort();
    names.extend(docs);
    names
        .into_iter()
        .map(|n| {
            let text = std::fs::read_to_string(root.join(&n)).expect("document is readable");
            (n, text)
        })
        .collect()
}

/// A fresh working directory with links to the repository's fixtures.
fn workdir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = repo();
    std::fs::create_dir(dir.path().join("fixtures")).expect("fixtures dir");
    for entry in std::fs::read_dir(root.join("fixtures")).expect("fixtures/ is readable") {
        let entry = entry.expect("fixtures/ entry");
        link(
            &entry.path(),
            &dir.path().join("fixtures").join(entry.file_name()),
        );
    }
    link(&root.join("examples"), &dir.path().join("examples"));
    dir
}

#[cfg(unix)]
fn link(from: &Path, to: &Path) {
    std::os::unix::fs::symlink(from, to).expect("symlink");
}

#[cfg(not(unix))]
fn link(_from: &Path, _to: &Path) {
    panic!("the documentation samples need symbolic links (Unix)");
}

/// Runs one sample; None when it matches.
fn run(sample: &Sample, dir: &Path) -> Option<String> {
    let out = Command::new(env!("CARGO_BIN_EXE_nn-doctor"))
        .args(&sample.args)
        .current_dir(dir)
        .output()
        .expect("nn-doctor runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let actual: Vec<String> = text.lines().map(|l| l.trim_end().to_string()).collect();
    let code = out.status.code().unwrap_or(-1);
    if let Some(report) = mismatch_report(sample, &actual, code) {
        return Some(report);
    }
    let expected: Vec<String> = sample.expected.iter().map(|(_, l)| l.clone()).collect();
    if checks_nothing(&expected) {
        return Some(format!(
            "{}:{}: the sample's expected output is only wildcards: it checks nothing",
            sample.file, sample.line
        ));
    }
    unmatched_edit(&expected, &actual).map(|i| {
        let (n, l) = &sample.expected[i];
        format!(
            "{}:{n}: expected line `{l}` still matches when edited: the sample does not check it \
             (too many wildcards around it)",
            sample.file
        )
    })
}

/// An output sample outside a console block.
fn unchecked_sample(block: &Block) -> Option<String> {
    if block.info == "console" {
        return None;
    }
    block.lines.iter().find_map(|(n, l)| {
        let t = l.trim_start();
        let prompt = t.starts_with("$ ");
        let output = OUTPUT_MARKERS.iter().any(|m| t.starts_with(m));
        (prompt || output).then(|| {
            format!(
                "{}:{n}: `{t}` looks like a command-output sample in a ```{} block; \
                 write it as a ```console sample so it is checked",
                block.file, block.info
            )
        })
    })
}

/// A ```toml block that is a whole run config (not a fragment).
fn is_complete_config(block: &Block) -> bool {
    block.info == "toml"
        && ["[data]", "[model]", "[train]"].iter().all(|h| {
            block
                .lines
                .iter()
                .any(|(_, l)| l.trim_start().starts_with(h))
        })
}

#[test]
fn every_output_sample_in_the_readme_and_docs_matches_the_binary() {
    let mut failures = Vec::new();
    let mut groups: Vec<Vec<Sample>> = Vec::new();
    let mut readme_samples = 0;
    for (name, text) in documents() {
        let blocks = match blocks(&name, &text) {
            Ok(b) => b,
            Err(e) => {
                failures.push(e);
                continue;
            }
        };
        for block in &blocks {
            failures.extend(unchecked_sample(block));
            if block.info != "console" {
                continue;
            }
            match samples(block) {
                Ok(s) => {
                    if name == "README.md" {
                        readme_samples += s.len();
                    }
                    groups.push(s);
                }
                Err(e) => failures.push(e),
            }
        }
    }
    let count: usize = groups.iter().map(Vec::len).sum();
    for group in &groups {
        let dir = workdir();
        for sample in group {
            failures.extend(run(sample, dir.path()));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {count} documentation samples fail:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
    assert!(
        count >= MIN_SAMPLES,
        "found only {count} console samples in README.md and docs/ (at least {MIN_SAMPLES} expected)"
    );
    assert!(
        readme_samples >= 1,
        "README.md has no console sample; its quick start shows `nn-doctor check`'s output"
    );
    eprintln!(
        "doc_samples: {count} samples in {} blocks checked",
        groups.len()
    );
}

#[test]
fn every_complete_toml_config_in_the_docs_passes_the_validator() {
    let mut checked = 0;
    let mut failures = Vec::new();
    for (name, text) in documents() {
        for block in blocks(&name, &text).unwrap_or_default() {
            if !is_complete_config(&block) {
                continue;
            }
            let toml: String = block.lines.iter().map(|(_, l)| format!("{l}\n")).collect();
            let path = repo().join("fixtures/configs/doc-example.toml");
            if let Err(e) = nn_doctor::config::parse(&path, &toml) {
                failures.push(format!(
                    "{name}:{}: config block is refused: {e}",
                    block.line
                ));
            }
            checked += 1;
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(
        checked >= MIN_CONFIGS,
        "found {checked} complete ```toml configs (at least {MIN_CONFIGS} expected)"
    );
}

#[test]
fn the_config_reference_names_every_layer_kind_activation_and_threshold() {
    let text = std::fs::read_to_string(repo().join("docs/configs.md")).expect("docs/configs.md");
    let mut names: Vec<String> = nn_doctor::engine::layers::registry::names()
        .map(|n| n.to_string())
        .collect();
    names.extend(
        nn_doctor::kinds::Activation::ALL
            .iter()
            .map(|a| a.name().to_string()),
    );
    names.extend(
        nn_doctor::config::thresholds::NAMES
            .iter()
            .map(|n| n.to_string()),
    );
    let missing: Vec<&String> = names
        .iter()
        .filter(|n| !text.contains(&format!("`{n}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/configs.md does not name {missing:?}"
    );
}

// ----- the matcher itself -----

fn lines(text: &str) -> Vec<String> {
    text.lines().map(str::to_string).collect()
}

#[test]
fn an_edited_expected_line_no_longer_matches() {
    let actual =
        lines("verdict: UNHEALTHY (8 error, 0 warning, 0 info)\nreport: reports/seed/report.md");
    let good =
        lines("verdict: UNHEALTHY (8 error, 0 warning, 0 info)\nreport: reports/seed/report.md");
    assert!(match_output(&good, &actual).is_ok());
    let edited =
        lines("verdict: UNHEALTHY (7 error, 0 warning, 0 info)\nreport: reports/seed/report.md");
    assert_eq!(match_output(&edited, &actual), Err((0, Some(0))));
    assert_eq!(unmatched_edit(&good, &actual), None);
}

#[test]
fn a_missing_or_extra_output_line_fails() {
    let actual = lines("a\nb\nc");
    assert_eq!(match_output(&lines("a\nb"), &actual), Err((2, Some(2))));
    assert_eq!(match_output(&lines("a\nb\nc\nd"), &actual), Err((3, None)));
}

#[test]
fn the_inline_wildcard_matches_within_one_line_only() {
    assert!(line_matches(
        "trained 300/300 steps in [..] s ([..] samples/s)",
        "trained 300/300 steps in 1.3 s (4540 samples/s)"
    ));
    assert!(line_matches("[..]", ""));
    assert!(line_matches("a[..]b[..]c", "a-b-b-c"));
    assert!(!line_matches("a[..]c", "a-b"));
    assert!(!line_matches("ab[..]ba", "aba"));
    assert!(match_output(&lines("x [..]"), &lines("x 1\ny")).is_err());
}

#[test]
fn the_line_wildcard_matches_any_number_of_lines_including_none() {
    let actual = lines("head\n1\n2\n3\ntail");
    assert!(match_output(&lines("head\n...\ntail"), &actual).is_ok());
    assert!(match_output(&lines("...\ntail"), &actual).is_ok());
    assert!(match_output(&lines("head\n..."), &actual).is_ok());
    assert!(match_output(&lines("head\n...\n1\n...\ntail"), &actual).is_ok());
    assert!(match_output(&lines("head\n...\n4\n...\ntail"), &actual).is_err());
    assert!(match_output(&lines("a\n...\nb"), &lines("a\nb")).is_ok());
}

#[test]
fn a_sample_of_wildcards_only_is_refused_as_checking_nothing() {
    assert!(checks_nothing(&lines("...")));
    assert!(checks_nothing(&lines("...\n[..]\n[..][..]")));
    assert!(!checks_nothing(&lines("...\nverdict: [..]")));
    assert!(!checks_nothing(&[]));
}

#[test]
fn console_blocks_parse_into_commands_outputs_and_exit_codes() {
    let text = "x\n```console\n$ nn-doctor explain lr-too-low\nlr-too-low: [..]\n\n$ nn-doctor check 'a b.toml' -q\n[exit 1]\n```\n";
    let b = blocks("T.md", text).expect("blocks");
    assert_eq!(b.len(), 1);
    let s = samples(&b[0]).expect("samples");
    assert_eq!(s.len(), 2);
    assert_eq!(s[0].args, ["explain", "lr-too-low"]);
    assert_eq!(s[0].line, 3);
    assert_eq!(s[0].expected, [(4, "lr-too-low: [..]".to_string())]);
    assert_eq!(s[0].exit, 0);
    assert_eq!(s[1].args, ["check", "a b.toml", "-q"]);
    assert!(s[1].expected.is_empty());
    assert_eq!(s[1].exit, 1);
}

#[test]
fn output_samples_outside_console_blocks_are_refused() {
    let text = "```text\n$ nn-doctor explain\n```\n```\nverdict: HEALTHY\n```\n```sh\ncargo test --release --locked\n```\n";
    let b = blocks("T.md", text).expect("blocks");
    assert!(unchecked_sample(&b[0]).is_some());
    assert!(unchecked_sample(&b[1]).is_some());
    assert!(unchecked_sample(&b[2]).is_none());
}

#[test]
fn sample_commands_are_plain_nn_doctor_invocations() {
    assert!(split_words("check a.toml | head").is_err());
    assert!(split_words("check a.toml > out").is_err());
    let text = "```console\n$ cargo run -- check a.toml\n```\n";
    let b = blocks("T.md", text).expect("blocks");
    assert!(samples(&b[0]).is_err());
}

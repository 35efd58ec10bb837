//! Shared helpers for the end-to-end tests: run the built binary in a temp
//! directory and read what it wrote.

#![allow(dead_code)]

pub mod schema;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root (fixtures live there).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixture(rel: &str) -> PathBuf {
    root().join("fixtures").join(rel)
}

/// Runs `nn-doctor args...` with `cwd` as working directory. After a
/// `check ... --out DIR`, every summary.json under DIR is validated against
/// schema/summary.schema.json, so each summary the suite writes is checked.
pub fn run_in(cwd: &Path, args: &[&str]) -> Output {
    let o = Command::new(env!("CARGO_BIN_EXE_nn-doctor"))
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("the binary runs");
    if args.first() == Some(&"check") {
        if let Some(i) = args.iter().position(|a| *a == "--out") {
            if let Some(out) = args.get(i + 1) {
                schema::validate_summaries_under(&cwd.join(out));
            }
        }
    }
    o
}

pub fn code(o: &Output) -> i32 {
    o.status.code().expect("exited normally, not by a signal")
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// `check CONFIG --out DIR --quiet` plus extra args; returns the output.
pub fn check(config: &Path, out: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "check",
        config.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ];
    args.extend_from_slice(extra);
    run_in(&root(), &args)
}

pub fn summary(out: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(out.join("summary.json")).expect("summary.json written");
    serde_json::from_str(&text).expect("summary.json is JSON")
}

/// Codes of the diagnoses in a summary, with their layers.
pub fn diagnoses(s: &serde_json::Value) -> Vec<(String, Option<u64>)> {
    s["diagnoses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["code"].as_str().unwrap().to_string(), d["layer"].as_u64()))
        .collect()
}

/// Asserts the exit code is 2 with a message containing every `needle`,
/// and that nothing panicked.
pub fn assert_invalid(o: &Output, needles: &[&str]) {
    let err = stderr(o);
    assert_eq!(code(o), 2, "stderr: {err}");
    assert!(!err.contains("panicked"), "{err}");
    for n in needles {
        assert!(err.contains(n), "expected {n:?} in: {err}");
    }
}

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

/// `nn-doctor verify-trace DIR --format json`: its exit code and report.
pub fn verify_trace_json(dir: &Path) -> (i32, serde_json::Value) {
    let o = run_in(
        &root(),
        &["verify-trace", dir.to_str().unwrap(), "--format", "json"],
    );
    let v = serde_json::from_str(&stdout(&o))
        .unwrap_or_else(|e| panic!("{e}: {}{}", stdout(&o), stderr(&o)));
    (code(&o), v)
}

/// A copy of the committed trace fixtures/traces/NAME in a temp dir, to
/// break on purpose.
pub fn copy_trace(name: &str) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    for e in std::fs::read_dir(fixture(&format!("traces/{name}"))).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), tmp.path().join(e.file_name())).unwrap();
    }
    tmp
}

/// The convolutional catalogue's bugs, each with the layer (1-based) of
/// the NumPy exporter's CNN whose input gradient `--bug NAME` changes
/// (fixtures/traces/v2-bug-NAME; python/test_export_trace_cnn.py checks
/// that only that layer changed).
pub const CONV_BUGS: [(&str, usize); 9] = [
    ("conv-kernel-not-rotated", 1),
    ("conv-backward-padding", 1),
    ("batchnorm-stats-constant", 2),
    ("maxpool-wrong-element", 3),
    ("maxpool-spread", 3),
    ("conv-backward-stride", 4),
    ("flatten-order", 6),
    ("dropout-no-mask", 7),
    ("dropout-no-scale", 7),
];

//! End-to-end: two config files with the same `name` share the default
//! report directory reports/<name>. A rerun of the same config replaces its
//! report (as always); a different config is refused with exit 2 instead
//! of silently destroying the other config's report.

mod common;
use common::*;
use std::path::Path;

/// A small synthetic config (a few steps, no gradient checks) named "same".
fn config(dir: &Path, seed: u64) -> std::path::PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join("net.toml");
    let text = format!(
        r#"name = "same"
seed = {seed}
[data]
source = "synthetic"
generator = "blobs"
samples = 60
classes = 2
[model]
[[model.layers]]
units = 4
activation = "tanh"
[[model.layers]]
units = 2
activation = "softmax"
[train]
loss = "cross_entropy"
learning_rate = 0.1
batch_size = 8
steps = 5
[gradcheck]
at = []
"#
    );
    std::fs::write(&path, text).unwrap();
    path
}

fn check_default(cwd: &Path, cfg: &Path) -> std::process::Output {
    run_in(cwd, &["check", cfg.to_str().unwrap(), "--quiet"])
}

#[test]
fn another_config_with_the_same_name_does_not_replace_the_report() {
    // Issue (new user): two experiment configs both said name = "same";
    // the second `check` silently replaced the first one's report.
    let tmp = tempfile::tempdir().unwrap();
    let a = config(&tmp.path().join("a"), 1);
    let b = config(&tmp.path().join("b"), 2);
    let report = tmp.path().join("reports/same");

    let o = check_default(tmp.path(), &a);
    assert_ne!(code(&o), 2, "{}", stderr(&o));
    let first = summary(&report);
    let a_canonical = std::fs::canonicalize(&a).unwrap();
    assert_eq!(
        first["config_path"].as_str(),
        Some(a_canonical.to_str().unwrap()),
        "summary.json records the config's canonical path"
    );

    // The same config again: its report is replaced, as before.
    let o = check_default(tmp.path(), &a);
    assert_ne!(code(&o), 2, "{}", stderr(&o));

    // Another config with the same name: refused, naming both configs and
    // the ways out.
    let o = check_default(tmp.path(), &b);
    assert_invalid(
        &o,
        &[
            "reports/same",
            a_canonical.to_str().unwrap(),
            b.to_str().unwrap(),
            "\"same\"",
            "name = ",
            "--out",
        ],
    );
    // The first report is untouched.
    assert_eq!(summary(&report)["seed"], first["seed"]);
    assert_eq!(summary(&report)["config_path"], first["config_path"]);

    // With --out it runs.
    let out = tmp.path().join("b-report");
    let o = check(&b, &out, &[]);
    assert_ne!(code(&o), 2, "{}", stderr(&o));
    assert!(out.join("summary.json").exists());
}

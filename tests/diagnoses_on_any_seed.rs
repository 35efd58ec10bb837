//! End to end: diagnoses that hold on any seed and batch size, name the
//! cause first and recommend the fix that worked. The corpus-wide figures
//! are in tests/scenarios.rs; these pin the individual behaviours.

mod common;
use common::*;

fn codes(s: &serde_json::Value) -> Vec<String> {
    s["diagnoses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["code"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn window_min_above_window_max_is_a_config_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let seed = std::fs::read_to_string(fixture("configs/seed.toml")).unwrap();
    let text = seed.replace(
        "../data/mnist",
        &fixture("data/mnist").display().to_string(),
    ) + "\n[thresholds]\nwindow_min = 30\n";
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, text).unwrap();
    let o = check(&path, &dir.path().join("out"), &[]);
    assert_invalid(&o, &["window_min", "window_max"]);
}

#[test]
fn stop_when_diagnosed_ends_the_seed_case_early_with_certain_errors() {
    let out = tempfile::tempdir().unwrap();
    let o = check(
        &fixture("configs/seed.toml"),
        out.path(),
        &["--fail-on", "never", "--stop-when-diagnosed"],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let s = summary(out.path());
    let run = s["steps_run"].as_u64().unwrap();
    let planned = s["steps_planned"].as_u64().unwrap();
    assert!(run < planned, "ran {run} of {planned}");
    assert!(s["stop_reason"]
        .as_str()
        .unwrap()
        .contains("stop-when-diagnosed"));
    let c = codes(&s);
    for must in ["saturated-activations", "vanishing-gradients"] {
        assert!(c.iter().any(|x| x == must), "{must} missing: {c:?}");
    }
    // Every error is certain no later than the step training ended.
    for d in s["diagnoses"].as_array().unwrap() {
        if d["severity"] == "error" {
            let at = d["certain_at"].as_u64().unwrap();
            assert!(at <= run, "{d}");
        }
    }
    assert!(out.path().join("report.md").exists());
    assert!(out.path().join("confusion.png").exists());
}

#[test]
fn the_seed_case_gives_its_diagnoses_on_other_seeds() {
    // On every seed: saturated-activations on layer 1,
    // vanishing-gradients and a plateau/chance finding, whatever the seed.
    for seed in ["7", "1234"] {
        let out = tempfile::tempdir().unwrap();
        let o = check(
            &fixture("configs/seed.toml"),
            out.path(),
            &["--fail-on", "never", "--seed", seed],
        );
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        let s = summary(out.path());
        let d = s["diagnoses"].as_array().unwrap();
        assert!(d
            .iter()
            .any(|d| d["code"] == "saturated-activations" && d["layer"] == 1));
        let c = codes(&s);
        assert!(c.iter().any(|x| x == "vanishing-gradients"), "{c:?}");
        assert!(
            c.iter()
                .any(|x| x == "loss-plateau" || x == "accuracy-at-chance"),
            "{c:?}"
        );
        // Per-class accuracy of the evaluated set: one entry per class.
        assert_eq!(
            s["confusion"]["per_class_accuracy"]
                .as_array()
                .unwrap()
                .len(),
            10
        );
    }
}

#[test]
fn raw_pixels_first_fix_is_input_scaling_and_no_op_candidates_are_not_trained() {
    let out = tempfile::tempdir().unwrap();
    // Not --quiet: the terminal's "first fix:" line is part of the test.
    let config = fixture("scenarios/unscaled_mnist_sigmoid.toml");
    let o = run_in(
        &root(),
        &[
            "check",
            config.to_str().unwrap(),
            "--out",
            out.path().to_str().unwrap(),
            "--fail-on",
            "never",
            "--seed",
            "2",
            "--try-fixes",
        ],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let s = summary(out.path());
    assert_eq!(codes(&s)[0], "unscaled-inputs");
    let fixes = s["fixes"].as_array().unwrap();
    // init = "xavier_uniform" is already this config's init: not a candidate.
    assert!(!fixes.iter().any(|f| f["name"] == "fan-in-init"));
    let headline = s["headline_fix"].as_str().unwrap();
    assert!(headline.starts_with("[data] scale = unit"), "{headline}");
    assert!(stdout(&o).contains("first fix: [data] scale = unit"));
}

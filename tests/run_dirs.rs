//! End-to-end tests of `diagnose`, `report` and the run format: runs
//! recorded from real PyTorch by python/nn_doctor_torch.py (committed in
//! fixtures/runs/ by python/record_fixtures.py, with each model's truth.json)
//! and runs written by `check` itself.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_nn-doctor"))
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn run(args: &[&str]) -> Output {
    bin().args(args).current_dir(root()).output().unwrap()
}

fn json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// `diagnose` on a committed PyTorch run; returns (exit code, summary.json).
fn diagnose_fixture(name: &str, out: &Path) -> (i32, Value) {
    diagnose_dir(&root().join("fixtures/runs").join(name), out)
}

/// `diagnose DIR --out OUT --format json`: its exit code and the summary it
/// printed, which must be the summary.json it wrote.
fn diagnose_dir(dir: &Path, out: &Path) -> (i32, Value) {
    let o = run(&[
        "diagnose",
        dir.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert!(
        o.status.code().unwrap() < 2,
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let printed: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(printed, json(&out.join("summary.json")));
    (o.status.code().unwrap(), printed)
}

fn truth(name: &str) -> Value {
    json(&root().join("fixtures/runs").join(name).join("truth.json"))
}

fn has(summary: &Value, code: &str, layer: Option<u64>) -> bool {
    summary["diagnoses"]
        .as_array()
        .unwrap()
        .iter()
        .any(|d| d["code"] == code && (layer.is_none() || d["layer"].as_u64() == layer))
}

#[test]
fn torch_seed_mlp_is_saturated_with_vanishing_gradients_like_check() {
    // Truth: the seed case built in PyTorch (record_fixtures.py seed_mlp);
    // `check fixtures/configs/seed.toml` names the same two codes on layer 1.
    let tmp = tempfile::tempdir().unwrap();
    let (code, s) = diagnose_fixture("torch_seed_mlp", tmp.path());
    let t = truth("torch_seed_mlp");
    for c in t["must"].as_array().unwrap() {
        let c = c.as_str().unwrap();
        assert!(has(&s, c, t["layers"][c].as_u64()), "{c} missing: {s}");
    }
    assert_eq!((code, s["verdict"].as_str()), (1, Some("unhealthy")));
    for f in [
        "report.md",
        "metrics.csv",
        "loss.csv",
        "saturation.png",
        "gradient_norms.png",
    ] {
        assert!(tmp.path().join(f).is_file(), "{f}");
    }
}

#[test]
fn torch_cnn_dead_relus_on_conv2() {
    // Truth: record_fixtures.py sets conv2's bias to -20 on 12 of 16 channels.
    let tmp = tempfile::tempdir().unwrap();
    let (_, s) = diagnose_fixture("torch_dead_relu_cnn", tmp.path());
    let d = s["diagnoses"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["code"] == "dead-relus")
        .expect("dead-relus");
    let layer = d["layer"].as_u64().unwrap();
    let name = s["network"]["names"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["layer"].as_u64() == Some(layer))
        .unwrap();
    assert_eq!(name["name"], truth("torch_dead_relu_cnn")["module"]);
    assert_eq!(name["kind"], "conv2d");
    // 12 of 16 channels: 75%, a warning (>= 50%, < 90%) on its own; but the
    // run trained (loss 2.3 -> 0.23), and severity follows outcome: info,
    // with the reason and the severity it would have had.
    assert_eq!(d["severity"], "info");
    assert_eq!(d["evidence"]["severity_before"], "warning");
    assert!(d["evidence"]["severity_reason"].is_string(), "{d}");
    assert!(!has(&s, "dead-relus", Some(1)), "conv1 is alive");
}

#[test]
fn torch_nan_model_names_the_module_and_phase_of_the_first_non_finite_value() {
    // Truth: truth.json's first_nonfinite, found by an exhaustive check of
    // every tensor in computation order, independent of the recorder.
    let tmp = tempfile::tempdir().unwrap();
    let (code, s) = diagnose_fixture("torch_nan_overflow", tmp.path());
    let t = &truth("torch_nan_overflow")["first_nonfinite"];
    let o = &s["nan_origin"];
    assert_eq!(o["step"], t["step"]);
    assert_eq!(o["phase"], t["phase"]);
    assert_eq!(o["layer"], t["layer"]);
    assert!(o["tensor"]
        .as_str()
        .unwrap()
        .starts_with(&format!("{}:", t["module"].as_str().unwrap())));
    assert!(has(&s, "non-finite", t["layer"].as_u64()));
    assert_eq!(code, 1);
}

#[test]
fn torch_lstm_trains_and_is_healthy() {
    // Truth: an LSTM the engine cannot express, trained with Adam 3e-3 on
    // MNIST rows; its loss falls from ln 10 = 2.30 to about 0.6 in 300 steps.
    let tmp = tempfile::tempdir().unwrap();
    let (code, s) = diagnose_fixture("torch_lstm", tmp.path());
    assert_eq!((code, s["verdict"].as_str()), (0, Some("healthy")), "{s}");
    assert!(s["final"]["loss"].as_f64().unwrap() < 1.0);
    assert_eq!(s["network"]["names"][0]["kind"], "lstm");
    // Rules without recorded inputs are listed, never silently passed.
    let skipped: Vec<&str> = s["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["code"].as_str().unwrap())
        .collect();
    assert_eq!(skipped, vec!["gradient-mismatch"]);
    let md = std::fs::read_to_string(tmp.path().join("report.md")).unwrap();
    assert!(md.contains("## Skipped rules") && md.contains("`gradient-mismatch`"));
}

#[test]
fn diagnose_on_a_check_run_reproduces_checks_diagnoses_and_report_rerenders_it_byte_for_byte() {
    // Truth: check's own summary.json; diagnose shares its assess() and reads
    // the CSVs back exactly (shortest round-trip numbers).
    let tmp = tempfile::tempdir().unwrap();
    let checked = tmp.path().join("seed");
    let o = run(&[
        "check",
        "fixtures/configs/seed.toml",
        "--out",
        checked.to_str().unwrap(),
        "-q",
        "--steps",
        "60",
    ]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let diag = tmp.path().join("diag");
    let o = run(&[
        "diagnose",
        checked.to_str().unwrap(),
        "--out",
        diag.to_str().unwrap(),
    ]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let (a, b) = (
        json(&checked.join("summary.json")),
        json(&diag.join("summary.json")),
    );
    assert_eq!(a["diagnoses"], b["diagnoses"]);
    assert!(
        b.get("skipped").is_none(),
        "nothing skipped on a check run: {}",
        b["skipped"]
    );
    for f in ["metrics.csv", "loss.csv"] {
        assert_eq!(
            std::fs::read(checked.join(f)).unwrap(),
            std::fs::read(diag.join(f)).unwrap(),
            "{f}"
        );
    }
    // report: re-render into another directory, compare byte for byte.
    let again = tmp.path().join("again");
    let o = run(&[
        "report",
        checked.to_str().unwrap(),
        "--out",
        again.to_str().unwrap(),
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(checked.join("report.md")).unwrap(),
        std::fs::read_to_string(again.join("report.md")).unwrap()
    );
    assert!(again.join("loss.png").is_file());
}

#[test]
fn bad_run_directories_exit_2_naming_file_line_and_column() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    std::fs::create_dir(&dir).unwrap();
    let src = root().join("fixtures/runs/torch_lstm");
    for f in ["summary.json", "metrics.csv", "loss.csv"] {
        std::fs::copy(src.join(f), dir.join(f)).unwrap();
    }
    let loss = std::fs::read_to_string(dir.join("loss.csv")).unwrap();
    let broken: Vec<String> = loss
        .lines()
        .enumerate()
        .map(|(i, l)| {
            if i == 3 {
                l.replacen(',', ",oops", 1).replacen(",oops", ",x", 1)
            } else {
                l.to_string()
            }
        })
        .collect();
    std::fs::write(dir.join("loss.csv"), broken.join("\n") + "\n").unwrap();
    let out = tmp.path().join("out");
    let o = run(&[
        "diagnose",
        dir.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("loss.csv:4: column `loss`"), "{err}");
    std::fs::write(
        dir.join("summary.json"),
        "{\"run_format\": 2, \"network\": {\"layers\": []}}",
    )
    .unwrap();
    let o = run(&[
        "diagnose",
        dir.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("run format 1, found 2"));
    let o = run(&[
        "diagnose",
        dir.to_str().unwrap(),
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn compare_seed_with_its_combined_fix_lists_the_cleared_diagnoses() {
    // Truth: `check --try-fixes` on the seed case reports that `combined`
    // clears every error (its summary.json `fixes[].cleared_errors`).
    let tmp = tempfile::tempdir().unwrap();
    let seed = tmp.path().join("seed");
    let o = run(&[
        "check",
        "fixtures/configs/seed.toml",
        "--out",
        seed.to_str().unwrap(),
        "-q",
        "--try-fixes",
    ]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let fixed = seed.join("fixes/combined");
    let plots = tmp.path().join("cmp");
    let args = [
        seed.to_str().unwrap(),
        fixed.to_str().unwrap(),
        "--out",
        plots.to_str().unwrap(),
    ];
    let o = run(&[&["compare"][..], &args, &["--format", "json"]].concat());
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let c: Value = serde_json::from_slice(&o.stdout).unwrap();
    let cleared: Vec<(String, Option<u64>)> = c["cleared"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| (k["code"].as_str().unwrap().to_string(), k["layer"].as_u64()))
        .collect();
    let before = json(&seed.join("summary.json"));
    for d in before["diagnoses"].as_array().unwrap() {
        let key = (d["code"].as_str().unwrap().to_string(), d["layer"].as_u64());
        assert!(cleared.contains(&key), "{key:?} not cleared: {cleared:?}");
    }
    assert!(cleared.contains(&("vanishing-gradients".into(), Some(1))));
    assert_eq!(c["worse"], false);
    assert!(c["introduced"].as_array().unwrap().is_empty());
    assert!(plots.join("loss.png").is_file() && plots.join("gradient_norms.png").is_file());
    // Swapped, the fix is the "before": every error is introduced, exit 1.
    let o = run(&["compare", fixed.to_str().unwrap(), seed.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("introduced:    accuracy-at-chance") && text.contains("B is worse"),
        "{text}"
    );
}

#[test]
fn a_diagnosed_torch_run_diagnoses_and_rerenders_the_same_and_keeps_its_skipped_rules() {
    // Truth: the first diagnosis; a diagnose output is itself a run directory.
    let tmp = tempfile::tempdir().unwrap();
    let first = tmp.path().join("first");
    let (_, a) = diagnose_fixture("torch_dead_relu_cnn", &first);
    let second = tmp.path().join("second");
    let o = run(&[
        "diagnose",
        first.to_str().unwrap(),
        "--out",
        second.to_str().unwrap(),
    ]);
    assert!(
        o.status.code().unwrap() < 2,
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let b = json(&second.join("summary.json"));
    assert_eq!(a["diagnoses"], b["diagnoses"]);
    assert_eq!(a["skipped"], b["skipped"]);
    let again = tmp.path().join("again");
    let o = run(&[
        "report",
        first.to_str().unwrap(),
        "--out",
        again.to_str().unwrap(),
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(first.join("report.md")).unwrap(),
        std::fs::read_to_string(again.join("report.md")).unwrap()
    );
}

/// Truth: PyTorch's nn.CrossEntropyLoss takes logits (its documentation:
/// "unnormalized logits for each class"), and the recorder's
/// `loss="cross_entropy"` names it. A Linear head into it is correct and
/// gets no output/loss finding (no advice to add a softmax); the same run
/// with a softmax on the last layer is the double-softmax bug, and the fix
/// says to remove the softmax.
#[test]
fn a_torch_linear_head_into_cross_entropy_is_correct_and_a_softmax_head_is_the_bug() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, s) = diagnose_fixture("torch_dead_relu_cnn", &tmp.path().join("linear"));
    assert_eq!(s["network"]["names"][2]["kind"], "dense");
    assert!(
        !s["diagnoses"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["code"] == "output-loss-mismatch"),
        "a Linear head into nn.CrossEntropyLoss is correct PyTorch"
    );
    // The same recording, its last layer said to end in softmax.
    let run = tmp.path().join("softmax_run");
    std::fs::create_dir(&run).unwrap();
    let src = root().join("fixtures/runs/torch_dead_relu_cnn");
    for f in ["metrics.csv", "loss.csv"] {
        std::fs::copy(src.join(f), run.join(f)).unwrap();
    }
    let mut summary = json(&src.join("summary.json"));
    let layers = summary["network"]["layers"].as_array_mut().unwrap();
    let last = layers.last_mut().unwrap();
    last["activation"] = "softmax".into();
    std::fs::write(run.join("summary.json"), summary.to_string()).unwrap();
    let out = tmp.path().join("softmax");
    let (_, o) = diagnose_dir(&run, &out);
    let d = o["diagnoses"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["code"] == "output-loss-mismatch")
        .unwrap_or_else(|| panic!("the double softmax is named: {o}"));
    let fix = d["suggestions"][0].as_str().unwrap();
    assert!(fix.starts_with("Remove the final softmax"), "{fix}");
    assert!(fix.contains("nn.CrossEntropyLoss"), "{fix}");
}

//! End-to-end: `nn-doctor gradcheck` on the seed network, clean and with a
//! catalogue mistake injected through the hidden `--inject-bug` test hook.

mod common;
use common::*;

fn gradcheck(args: &[&str]) -> std::process::Output {
    let cfg = fixture("configs/seed.toml");
    let mut all = vec!["gradcheck", cfg.to_str().unwrap()];
    all.extend_from_slice(args);
    run_in(&root(), &all)
}

#[test]
fn the_engine_passes_on_the_seed_network_and_covers_every_tensor() {
    let out = tempfile::tempdir().unwrap();
    let junit = out.path().join("junit.xml");
    let o = gradcheck(&[
        "--at",
        "init",
        "--out",
        out.path().to_str().unwrap(),
        "--junit",
        junit.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    let r: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(r["passed"], true);
    assert_eq!(r["parameters"], 795_010);
    let checks = r["checks"].as_array().unwrap();
    // 2 layers x (weight, bias) + the whole-network direction.
    assert_eq!(checks.len(), 5);
    for (layer, tensor) in [(1, "weight"), (1, "bias"), (2, "weight"), (2, "bias")] {
        assert!(checks.iter().any(|c| c["layer"] == layer
            && c["tensor"] == tensor
            && c["elements_checked"].as_u64().unwrap() > 0));
    }
    let xml = std::fs::read_to_string(junit).unwrap();
    assert!(
        xml.contains("<testsuite")
            && xml.matches("<testcase").count() == 5
            && !xml.contains("<failure")
    );
    let csv = std::fs::read_to_string(out.path().join("gradcheck.csv")).unwrap();
    assert!(csv.starts_with(
        "at,layer,tensor,kind,index,analytic,numeric,abs_error,rel_error,kink,passed"
    ));
}

#[test]
fn an_injected_mnist_bug_fails_and_names_layer_and_pattern() {
    // The Haskell case: the softmax derivative left out under MSE.
    let out = tempfile::tempdir().unwrap();
    let junit = out.path().join("junit.xml");
    let o = gradcheck(&[
        "--at",
        "init",
        "--out",
        out.path().to_str().unwrap(),
        "--junit",
        junit.to_str().unwrap(),
        "--inject-bug",
        "missing-output-derivative@2",
    ]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let text = stdout(&o);
    assert!(
        text.contains("FAIL")
            && text.contains("layer 2")
            && text.contains("missing-output-derivative"),
        "{text}"
    );
    let xml = std::fs::read_to_string(junit).unwrap();
    assert!(xml.contains("<failure") && xml.contains("missing-output-derivative"));
}

#[test]
fn bad_inject_bug_and_at_values_exit_2() {
    assert_eq!(code(&gradcheck(&["--inject-bug", "no-such-bug@1"])), 2);
    assert_eq!(code(&gradcheck(&["--at", "sometime"])), 2);
}

#[test]
fn check_with_an_injected_bug_reports_gradient_mismatch() {
    let out = tempfile::tempdir().unwrap();
    let o = check(
        &fixture("configs/spirals.toml"),
        out.path(),
        &["--steps", "20", "--inject-bug", "sign-flipped@2"],
    );
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let s = summary(out.path());
    assert_eq!(s["gradcheck"]["passed"], false);
    let d = s["diagnoses"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["code"] == "gradient-mismatch")
        .expect("gradient-mismatch");
    assert_eq!(d["layer"], 2);
    assert_eq!(d["evidence"]["pattern"], "sign-flipped");
    assert!(out.path().join("gradcheck.csv").exists());
}

#[test]
fn healthy_check_fills_a_passing_gradcheck() {
    let out = tempfile::tempdir().unwrap();
    let o = check(
        &fixture("configs/spirals.toml"),
        out.path(),
        &["--steps", "50"],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let s = summary(out.path());
    assert_eq!(s["gradcheck"]["passed"], true);
    assert_eq!(s["gradcheck"]["status"], "pass");
    let counts = &s["gradcheck"]["counts"];
    let n = s["gradcheck"]["checks"].as_array().unwrap().len() as u64;
    assert_eq!(counts["pass"].as_u64().unwrap(), n);
    for c in s["gradcheck"]["checks"].as_array().unwrap() {
        assert_eq!(c["status"], "pass");
        assert!(c["resolved"].as_u64().unwrap() > 0, "{c}");
    }
    let ats: Vec<&str> = s["gradcheck"]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["at"].as_str().unwrap())
        .collect();
    assert!(ats.contains(&"init") && ats.contains(&"end"));
}

/// Issue 8: the three commands that printed PASS on the seed network
/// (layer-1 gradients below what a finite difference resolves) now fail at
/// layer 1, decided at the probe state, and name the mistake.
#[test]
fn the_issue_8_commands_fail_on_the_seed_network() {
    for (bug, tensor) in [
        ("sign-flipped", "weight"),
        ("transposed-weight-gradient", "weight"),
        ("bias-gradient-wrong-axis", "bias"),
    ] {
        let out = tempfile::tempdir().unwrap();
        let flaw = format!("{bug}@1");
        let o = gradcheck(&[
            "--at",
            "init",
            "--out",
            out.path().to_str().unwrap(),
            "--inject-bug",
            &flaw,
        ]);
        assert_eq!(code(&o), 1, "{bug}: {}", stdout(&o));
        let text = stdout(&o);
        assert!(
            text.contains(&format!("first wrong: layer 1 {tensor} at init"))
                && text.contains(&format!("matches: {bug}"))
                && text.contains("FAIL at probe (point: below-resolution)")
                && text.contains("over resolved rows"),
            "{text}"
        );
        let csv = std::fs::read_to_string(out.path().join("gradcheck.csv")).unwrap();
        assert!(csv.starts_with("at,layer,tensor,kind,index,analytic,numeric,abs_error,rel_error,kink,passed,resolved,status,state\n"));
        // The rows that used to "pass on atol" are below resolution, not passes.
        let layer1_point: Vec<&str> = csv
            .lines()
            .filter(|l| l.starts_with("init,1,") && l.ends_with(",point"))
            .collect();
        assert!(!layer1_point.is_empty());
        assert!(layer1_point
            .iter()
            .all(|l| l.ends_with("false,false,below-resolution,point")));
    }
}

#[test]
fn json_carries_status_counts_and_the_probe_state() {
    let out = tempfile::tempdir().unwrap();
    let o = gradcheck(&[
        "--at",
        "init",
        "--out",
        out.path().to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(code(&o), 0, "{}", stdout(&o));
    let r: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(r["status"], "pass");
    assert_eq!(r["counts"]["pass"], 5);
    assert_eq!(r["counts"]["inconclusive"], 0);
    assert_eq!(r["counts"]["resolved_at_probe"], 2);
    let layer1 = &r["checks"][0];
    assert_eq!(layer1["layer"], 1);
    assert_eq!(layer1["status"], "pass");
    assert_eq!(layer1["verified_at"], "probe");
    assert_eq!(layer1["reason"], "below-resolution");
    assert!(layer1["resolved"].as_u64().unwrap() > 0);
    let layer2 = &r["checks"][2];
    assert_eq!(layer2["verified_at"], "point");
}

#[test]
fn check_no_gradcheck_skips_the_checks() {
    let out = tempfile::tempdir().unwrap();
    let o = check(
        &fixture("configs/spirals.toml"),
        out.path(),
        &["--steps", "20", "--no-gradcheck"],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let s = summary(out.path());
    assert!(s["gradcheck"].is_null(), "{}", s["gradcheck"]);
    assert!(!out.path().join("gradcheck.csv").exists());
}

/// Issue 8: every hidden ReLU on its kink (zero weights and biases). At the
/// requested point layer 1 is inconclusive (all-kinks), never a pass; the
/// probe state then decides it: pass for the engine, fail with the bug.
#[test]
fn relus_on_their_kinks_are_inconclusive_then_decided_at_the_probe() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("kinks.toml");
    std::fs::write(
        &cfg,
        r#"name = "kinks"
seed = 3

[data]
source = "synthetic"
generator = "spirals"
samples = 200
classes = 3
noise = 0.05

[model]
dtype = "f64"

[[model.layers]]
units = 16
activation = "relu"
init = "zeros"
bias_init = 0.0

[[model.layers]]
units = 3
activation = "softmax"
init = "xavier_uniform"

[train]
loss = "cross_entropy"
optimizer = "sgd"
learning_rate = 0.1
batch_size = 16
steps = 10
"#,
    )
    .unwrap();
    let out = dir.path().join("out");
    for (bug, code_expected, result) in [
        (None, 0, "PASS at probe (point: all-kinks)"),
        (
            Some("sign-flipped@1"),
            1,
            "FAIL at probe (point: all-kinks)",
        ),
    ] {
        let mut args = vec![
            "gradcheck",
            cfg.to_str().unwrap(),
            "--at",
            "init",
            "--out",
            out.to_str().unwrap(),
        ];
        if let Some(b) = bug {
            args.extend(["--inject-bug", b]);
        }
        let o = run_in(&root(), &args);
        assert_eq!(code(&o), code_expected, "{}{}", stdout(&o), stderr(&o));
        let text = stdout(&o);
        let layer1: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("init      1"))
            .collect();
        assert_eq!(layer1.len(), 2, "{text}");
        assert!(layer1.iter().all(|l| l.ends_with(result)), "{text}");
    }
}

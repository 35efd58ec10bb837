//! End-to-end: `nn-doctor check` on the bundled fixtures, run as a user would.

mod common;
use common::*;

#[test]
fn seed_case_is_unhealthy_with_saturation_and_vanishing_gradients() {
    // The MNIST case from DESIGN.md: U[0,1) weights, sigmoid, softmax + MSE.
    let out = tempfile::tempdir().unwrap();
    let o = check(&fixture("configs/seed.toml"), out.path(), &[]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let s = summary(out.path());
    assert_eq!(s["verdict"], "unhealthy");
    assert_eq!(s["exit_code"], 1);
    assert_eq!(s["steps_run"], 300);
    let d = diagnoses(&s);
    assert!(
        d.contains(&("saturated-activations".into(), Some(1))),
        "{d:?}"
    );
    assert!(d.iter().any(|(c, _)| c == "vanishing-gradients"), "{d:?}");
    assert!(
        d.contains(&("poor-initialization".into(), Some(1))),
        "{d:?}"
    );
    // The first layer's sigmoids are pinned: every entry saturated at step 1.
    let sat = s["diagnoses"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["code"] == "saturated-activations" && d["layer"] == 1)
        .unwrap();
    assert!(
        sat["evidence"]["saturated_fraction_median"]
            .as_f64()
            .unwrap()
            > 0.99
    );
    assert_eq!(sat["step"], 1);
    for f in [
        "report.md",
        "metrics.csv",
        "loss.csv",
        "loss.png",
        "gradient_norms.png",
        "activations.png",
        "saturation.png",
        "update_ratio.png",
    ] {
        let p = out.path().join(f);
        assert!(
            std::fs::metadata(&p).map(|m| m.len() > 0).unwrap_or(false),
            "{f} missing"
        );
    }
    let md = std::fs::read_to_string(out.path().join("report.md")).unwrap();
    assert!(
        md.contains("saturated-activations") && md.contains("![") && md.contains("saturation.png")
    );
}

#[test]
fn healthy_config_passes_with_high_test_accuracy() {
    let out = tempfile::tempdir().unwrap();
    let o = check(
        &fixture("configs/healthy.toml"),
        out.path(),
        &["--fail-on", "warning"],
    );
    let s = summary(out.path());
    assert_eq!(code(&o), 0, "{:?}", diagnoses(&s));
    assert_eq!(s["verdict"], "healthy");
    assert!(
        s["diagnoses"].as_array().unwrap().is_empty(),
        "{:?}",
        diagnoses(&s)
    );
    let acc = s["final"]["test_accuracy"].as_f64().unwrap();
    assert!(acc >= 0.90, "test accuracy {acc}");
}

#[test]
fn same_config_and_seed_give_byte_identical_csv() {
    for (config, steps) in [("configs/seed.toml", "40"), ("configs/spirals.toml", "300")] {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        check(
            &fixture(config),
            a.path(),
            &["--steps", steps, "--fail-on", "never"],
        );
        check(
            &fixture(config),
            b.path(),
            &["--steps", steps, "--fail-on", "never"],
        );
        for f in ["metrics.csv", "loss.csv"] {
            let x = std::fs::read(a.path().join(f)).unwrap();
            let y = std::fs::read(b.path().join(f)).unwrap();
            assert!(!x.is_empty());
            assert_eq!(x, y, "{config}: {f} differs between runs");
        }
    }
}

#[test]
fn diverging_run_names_the_nan_origin_and_still_writes_the_report() {
    let out = tempfile::tempdir().unwrap();
    let o = check(&fixture("configs/xor_diverging.toml"), out.path(), &[]);
    assert_eq!(code(&o), 1);
    let s = summary(out.path());
    assert_eq!(s["stopped_early"], true);
    let origin = &s["nan_origin"];
    assert!(origin["step"].as_u64().unwrap() > 1);
    assert!(
        origin["phase"].as_str().unwrap().starts_with("backward")
            || origin["phase"] == "forward.linear"
            || origin["phase"] == "update"
    );
    assert!(!origin["kind"].as_str().unwrap().is_empty());
    assert!(origin["detail"]
        .as_str()
        .unwrap()
        .contains("from finite inputs"));
    let d = diagnoses(&s);
    assert!(d.iter().any(|(c, _)| c == "non-finite"), "{d:?}");
    assert!(d.iter().any(|(c, _)| c == "loss-diverging"), "{d:?}");
    // Metrics up to the failure are kept.
    let loss = std::fs::read_to_string(out.path().join("loss.csv")).unwrap();
    assert_eq!(
        loss.lines().count() as u64,
        1 + s["steps_run"].as_u64().unwrap()
    );
    assert!(out.path().join("gradient_norms.png").exists());
}

#[test]
fn non_finite_data_is_reported_without_training() {
    let dir = tempfile::tempdir().unwrap();
    let mut csv = String::from("a,b,label\n");
    for i in 0..40 {
        let a = if i == 7 {
            "nan".to_string()
        } else {
            format!("{}", i as f64 / 40.0)
        };
        csv.push_str(&format!("{a},{},{}\n", (i % 5) as f64 / 5.0, i % 2));
    }
    std::fs::write(dir.path().join("d.csv"), csv).unwrap();
    let cfg = dir.path().join("c.toml");
    std::fs::write(
        &cfg,
        "[data]\nsource = \"csv\"\ntrain = \"d.csv\"\n[model]\n[[model.layers]]\nunits = 2\nactivation = \"softmax\"\n[train]\nloss = \"cross_entropy\"\nlearning_rate = 0.1\nbatch_size = 8\nsteps = 10\n",
    )
    .unwrap();
    let out = dir.path().join("out");
    let o = check(&cfg, &out, &[]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let s = summary(&out);
    assert_eq!(s["steps_run"], 0);
    let d = &s["diagnoses"][0];
    assert_eq!(d["code"], "non-finite-data");
    assert_eq!(d["evidence"]["first_sample"], 7);
    assert!(out.join("report.md").exists() && out.join("loss.png").exists());
}

#[test]
fn json_format_prints_the_summary_and_fail_on_never_exits_zero() {
    let out = tempfile::tempdir().unwrap();
    let cfg = fixture("configs/seed.toml");
    let o = run_in(
        &root(),
        &[
            "check",
            cfg.to_str().unwrap(),
            "--out",
            out.path().to_str().unwrap(),
            "--steps",
            "25",
            "--format",
            "json",
            "--fail-on",
            "never",
        ],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let printed: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("stdout is JSON");
    assert_eq!(printed["verdict"], "unhealthy");
    assert_eq!(printed["steps_run"], 25);
    assert_eq!(printed, summary(out.path()));
}

#[test]
fn text_summary_names_the_verdict_and_report() {
    let out = tempfile::tempdir().unwrap();
    let cfg = fixture("configs/spirals.toml");
    let o = run_in(
        &root(),
        &[
            "check",
            cfg.to_str().unwrap(),
            "--out",
            out.path().to_str().unwrap(),
            "--steps",
            "200",
        ],
    );
    let text = stdout(&o);
    assert!(
        text.contains("verdict:") && text.contains("report.md"),
        "{text}"
    );
}

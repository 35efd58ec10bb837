//! End-to-end: `nn-doctor explain` and `check --try-fixes` on the seed case.

mod common;
use common::*;

#[test]
fn explain_lists_every_code_and_explains_one() {
    let o = run_in(&root(), &["explain"]);
    assert_eq!(code(&o), 0);
    for c in nn_doctor::diagnose::Code::all().map(|c| c.name()) {
        assert!(stdout(&o).contains(c), "{c} not listed");
    }
    let o = run_in(&root(), &["explain", "vanishing-gradients"]);
    assert_eq!(code(&o), 0);
    assert!(stdout(&o).contains("How to fix it"));
    assert_invalid(
        &run_in(&root(), &["explain", "no-such-code"]),
        &["no-such-code"],
    );
}

#[test]
fn try_fixes_on_the_seed_case_finds_a_verified_fix_above_85_percent() {
    let out = tempfile::tempdir().unwrap();
    let o = check(&fixture("configs/seed.toml"), out.path(), &["--try-fixes"]);
    // The original run is still unhealthy: nothing is applied silently.
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let s = summary(out.path());
    let fixes = s["fixes"].as_array().unwrap();
    assert!(!fixes.is_empty());
    let best = fixes
        .iter()
        .filter(|f| f["cleared_errors"] == true)
        .map(|f| f["test_accuracy_after"].as_f64().unwrap_or(0.0))
        .fold(0.0, f64::max);
    assert!(best >= 0.85, "best verified fix reaches only {best}");
    for f in fixes {
        let cfg = out.path().join(f["config"].as_str().unwrap());
        assert!(cfg.exists(), "{} not written", cfg.display());
    }
    let md = std::fs::read_to_string(out.path().join("report.md")).unwrap();
    assert!(md.contains("Verified fixes"));
}

#[test]
fn relus_killed_by_a_negative_bias_init_get_the_verified_zero_bias_fix() {
    // Truth: dead_relu_mnist_bias starts every relu bias at -10 with He
    // weights on [0, 1] pixels, so every pre-activation starts below zero
    // (dead from step 1, before any update): the initialisation, not the
    // learning rate, is the cause, and zeroing those biases must be the
    // verified first fix (it trains to well above chance; lowering the rate
    // leaves the units dead).
    let out = tempfile::tempdir().unwrap();
    let o = check(
        &fixture("scenarios/dead_relu_mnist_bias.toml"),
        out.path(),
        &["--try-fixes"],
    );
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let s = summary(out.path());
    let dead = s["diagnoses"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["code"] == "dead-relus")
        .expect("dead-relus");
    assert!(
        dead["suggestions"][0]
            .as_str()
            .unwrap()
            .contains("bias_init"),
        "{dead}"
    );
    let zero = s["fixes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "zero-bias")
        .expect("zero-bias candidate");
    assert_eq!(zero["cleared_errors"], true, "{zero}");
    assert!(
        zero["test_accuracy_after"].as_f64().unwrap() > 0.5,
        "{zero}"
    );
    assert!(
        s["headline_fix"]
            .as_str()
            .unwrap()
            .contains("bias_init = 0.0"),
        "{}",
        s["headline_fix"]
    );
}

/// Truth: the rule registry, printed by the binary; the checked-in page
/// must be exactly that, so it cannot drift from the rules.
#[test]
fn the_diagnoses_page_is_generated_from_the_registry() {
    let o = run_in(&root(), &["explain", "--markdown"]);
    assert_eq!(code(&o), 0);
    let page = std::fs::read_to_string(root().join("docs/diagnoses.md")).unwrap();
    assert!(
        page == stdout(&o),
        "docs/diagnoses.md is stale: regenerate it with \
         `cargo run --release -- explain --markdown > docs/diagnoses.md`"
    );
    for c in nn_doctor::diagnose::Code::all() {
        assert!(page.contains(&format!("\n## {}\n", c.name())), "{c}");
    }
}

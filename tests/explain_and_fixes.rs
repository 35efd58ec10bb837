//! End-to-end: `nn-doctor explain` and `check --try-fixes` on the seed case.

mod common;
use common::*;

#[test]
fn explain_lists_every_code_and_explains_one() {
    let o = run_in(&root(), &["explain"]);
    assert_eq!(code(&o), 0);
    for c in nn_doctor::diagnose::CODES {
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

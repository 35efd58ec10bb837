//! summary.json against the shipped JSON Schema (schema/summary.schema.json):
//! the validator itself is checked on broken summaries, then representative
//! runs (a failing case, a NaN run, a healthy run, dead ReLUs, an injected
//! backprop bug, `--try-fixes`) are validated. Every other end-to-end test
//! validates its summaries too, through `common::run_in`.

mod common;
use common::schema::{summary_schema, validate, validate_summaries_under};
use common::*;
use serde_json::json;

fn seed_summary() -> (tempfile::TempDir, serde_json::Value) {
    let out = tempfile::tempdir().unwrap();
    check(
        &fixture("configs/seed.toml"),
        out.path(),
        &["--steps", "20"],
    );
    let s = summary(out.path());
    (out, s)
}

#[test]
fn the_validator_rejects_broken_summaries() {
    let schema = summary_schema();
    let (_out, good) = seed_summary();
    assert_eq!(validate(&schema, &good), Vec::<String>::new());
    let broken = |edit: &dyn Fn(&mut serde_json::Value), needle: &str| {
        let mut s = good.clone();
        edit(&mut s);
        let errors = validate(&schema, &s);
        assert!(
            errors.iter().any(|e| e.contains(needle)),
            "expected {needle:?} in {errors:?}"
        );
    };
    broken(
        &|s| {
            s.as_object_mut().unwrap().remove("schema_version");
        },
        "missing required field `schema_version`",
    );
    broken(&|s| s["seed"] = json!("42"), "$.seed: expected type");
    broken(&|s| s["verdict"] = json!("fine"), "$.verdict");
    broken(
        &|s| s["diagnoses"][0]["severity"] = json!("fatal"),
        "$.diagnoses[0].severity",
    );
    broken(&|s| s["config_digest"] = json!("sha256:12"), "minLength");
    broken(&|s| s["final"]["test_accuracy"] = json!(1.5), "maximum");
    // Fields added by later versions are allowed at the top level.
    let mut extra = good.clone();
    extra["interrupted"] = json!(false);
    assert!(validate(&schema, &extra).is_empty());
    // A keyword the validator does not implement is an error, not a pass.
    let unknown = json!({"type": "string", "pattern": "^a"});
    assert!(validate(&unknown, &json!("a"))[0].contains("not supported"));
}

#[test]
fn summaries_carry_version_digest_and_seed() {
    let (_out, s) = seed_summary();
    assert_eq!(s["schema_version"], 1);
    assert_eq!(s["tool"], "nn-doctor");
    assert_eq!(s["tool_version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(s["seed"], 42);
    // Source of truth: sha256 of the config file's bytes, as `sha256sum` computes.
    let digest = s["config_digest"].as_str().unwrap();
    assert!(
        digest.starts_with("sha256:") && digest.len() == 71,
        "{digest}"
    );
    assert!(digest[7..]
        .chars()
        .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
    assert_eq!(s["thresholds"]["vanishing_ratio"], 1e-3);
}

#[test]
fn representative_runs_validate() {
    let cases: [(&str, &[&str]); 5] = [
        ("configs/xor_diverging.toml", &[]),
        ("configs/healthy.toml", &["--steps", "50"]),
        ("scenarios/dead_relu_bias.toml", &[]),
        (
            "configs/seed.toml",
            &[
                "--steps",
                "10",
                "--inject-bug",
                "missing-output-derivative@2",
            ],
        ),
        ("configs/seed.toml", &["--steps", "10", "--try-fixes"]),
    ];
    let mut checked = 0;
    for (config, extra) in cases {
        let out = tempfile::tempdir().unwrap();
        let o = check(&fixture(config), out.path(), extra);
        assert!(code(&o) <= 1, "{config}: {}", stderr(&o));
        checked += validate_summaries_under(out.path());
    }
    // 5 runs plus at least one candidate fix of the seed case.
    assert!(checked > 5, "only {checked} summaries validated");
}

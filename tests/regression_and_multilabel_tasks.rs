//! End to end: regression and multilabel tasks, the float-label refusal
//! that names the task, and network mistakes (hidden softmax, one-unit
//! softmax, one unit for many classes) that train and are diagnosed.
//! Every run's summary.json is validated against schema/summary.schema.json.

mod common;
use common::schema::validate_summaries_under;
use common::*;
use std::path::Path;

/// Writes a config (and CSVs) into `dir`; returns the config path.
fn config(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.join(format!("{name}.toml"));
    std::fs::write(&p, text).unwrap();
    p
}

/// A CSV of two features and one target per row, seeded (LCG: no rand
/// dependency in the tests; only the pattern matters).
fn csv(dir: &Path, name: &str, rows: usize, target: impl Fn(f64, f64, f64) -> String) {
    let mut state: u64 = 12345;
    let mut uniform = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
    };
    let mut text = String::from("a,b,y\n");
    for _ in 0..rows {
        let (a, b, n) = (uniform(), uniform(), uniform());
        text.push_str(&format!("{a:.5},{b:.5},{}\n", target(a, b, n)));
    }
    std::fs::write(dir.join(name), text).unwrap();
}

fn assert_schema(out: &Path) {
    assert!(validate_summaries_under(out) >= 1);
}

fn codes(s: &serde_json::Value) -> Vec<String> {
    diagnoses(s).into_iter().map(|(c, _)| c).collect()
}

const REGRESSION_NET: &str = r#"
[[model.layers]]
units = 16
activation = "tanh"
[[model.layers]]
units = 1
activation = "linear"
[train]
loss = "mse"
optimizer = "adam"
learning_rate = 0.01
batch_size = 32
steps = 300
"#;

#[test]
fn float_labels_without_task_regression_exit_2_naming_file_column_and_task() {
    // Source of truth: the CSV below has 120 distinct fractional targets.
    let dir = tempfile::tempdir().unwrap();
    csv(dir.path(), "price.csv", 120, |a, b, n| {
        format!("{:.4}", 3.0 * a + b + 0.01 * n)
    });
    let cfg = config(
        dir.path(),
        "price",
        "[data]\nsource = \"csv\"\ntrain = \"price.csv\"\n[[model.layers]]\nunits = 4\nactivation = \"softmax\"\n[train]\nloss = \"cross_entropy\"\nlearning_rate = 0.1\nbatch_size = 8\nsteps = 5\n",
    );
    let o = check(&cfg, &dir.path().join("out"), &[]);
    assert_invalid(
        &o,
        &[
            "price.csv",
            "column 'y'",
            "distinct float labels",
            "set task = \"regression\"",
        ],
    );
}

#[test]
fn a_regression_csv_trains_and_reports_r2_and_rmse() {
    // y = 2a - b + small noise: a 16-unit tanh net fits it (R^2 near 1).
    let dir = tempfile::tempdir().unwrap();
    csv(dir.path(), "train.csv", 600, |a, b, n| {
        format!("{:.5}", 2.0 * a - b + 0.05 * n)
    });
    csv(dir.path(), "test.csv", 200, |a, b, n| {
        format!("{:.5}", 2.0 * a - b + 0.05 * n)
    });
    let cfg = config(
        dir.path(),
        "reg",
        &format!("[data]\nsource = \"csv\"\ntrain = \"train.csv\"\ntest = \"test.csv\"\ntask = \"regression\"\ntarget_columns = [\"y\"]\n{REGRESSION_NET}"),
    );
    let out = dir.path().join("out");
    let o = check(&cfg, &out, &[]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let s = summary(&out);
    assert_eq!(s["final"]["task"], "regression");
    let r2 = s["final"]["test_r2"].as_f64().unwrap();
    assert!(r2 > 0.9, "test R^2 {r2}");
    assert!(s["final"]["test_rmse"].as_f64().unwrap() > 0.0);
    assert!(s["final"]["test_accuracy"].is_null());
    assert!(
        !out.join("confusion.png").exists(),
        "no confusion matrix for regression"
    );
    let loss = std::fs::read_to_string(out.join("loss.csv")).unwrap();
    assert!(loss.lines().next().unwrap().ends_with(",test_r2,test_rmse"));
    assert_schema(&out);
}

#[test]
fn house_prices_get_unscaled_targets_and_the_fix_is_verified() {
    let dir = tempfile::tempdir().unwrap();
    csv(dir.path(), "house.csv", 400, |a, b, n| {
        format!("{:.1}", 180000.0 + 50000.0 * a - 30000.0 * b + 5000.0 * n)
    });
    let cfg = config(
        dir.path(),
        "house",
        &format!("[data]\nsource = \"csv\"\ntrain = \"house.csv\"\ntask = \"regression\"\n{REGRESSION_NET}"),
    );
    let out = dir.path().join("out");
    let o = check(&cfg, &out, &["--try-fixes"]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let s = summary(&out);
    let c = codes(&s);
    assert!(c.contains(&"unscaled-targets".to_string()), "{c:?}");
    assert!(c.contains(&"no-better-than-mean".to_string()), "{c:?}");
    let fix = s["fixes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "scale-targets")
        .expect("scale-targets tried");
    assert!(fix["clears"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c == "unscaled-targets"));
    assert_schema(&out);
}

#[test]
fn targets_that_are_noise_are_no_better_than_the_mean() {
    let dir = tempfile::tempdir().unwrap();
    csv(dir.path(), "noise.csv", 400, |_, _, n| format!("{n:.5}"));
    csv(dir.path(), "noise_test.csv", 300, |_, _, n| {
        format!("{n:.5}")
    });
    let cfg = config(
        dir.path(),
        "noise",
        &format!("[data]\nsource = \"csv\"\ntrain = \"noise.csv\"\ntest = \"noise_test.csv\"\ntask = \"regression\"\n{REGRESSION_NET}"),
    );
    let out = dir.path().join("out");
    let o = check(&cfg, &out, &[]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert!(codes(&summary(&out)).contains(&"no-better-than-mean".to_string()));
}

#[test]
fn a_multilabel_csv_reports_exact_match_and_per_label_accuracy() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from("a,b,pos_a,pos_b\n");
    for i in 0..400 {
        let a = ((i * 37) % 101) as f64 / 50.0 - 1.0;
        let b = ((i * 53) % 97) as f64 / 48.0 - 1.0;
        text.push_str(&format!(
            "{a},{b},{},{}\n",
            u8::from(a > 0.0),
            u8::from(b > 0.0)
        ));
    }
    std::fs::write(dir.path().join("ml.csv"), text).unwrap();
    let cfg = config(
        dir.path(),
        "ml",
        "[data]\nsource = \"csv\"\ntrain = \"ml.csv\"\ntask = \"multilabel\"\ntarget_columns = [\"pos_a\", \"pos_b\"]\n[[model.layers]]\nunits = 16\nactivation = \"relu\"\n[[model.layers]]\nunits = 2\nactivation = \"sigmoid\"\n[train]\nloss = \"binary_cross_entropy\"\noptimizer = \"adam\"\nlearning_rate = 0.01\nbatch_size = 32\nsteps = 300\n",
    );
    let out = dir.path().join("out");
    let o = check(&cfg, &out, &[]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let s = summary(&out);
    assert_eq!(s["final"]["task"], "multilabel");
    assert!(s["final"]["train_exact_match"].as_f64().unwrap() > 0.9);
    assert_schema(&out);
    // A 0.5 in a multilabel column is refused, naming the task that fits.
    std::fs::write(
        dir.path().join("ml.csv"),
        "a,b,pos_a,pos_b\n1,2,0.5,1\n3,4,1,0\n",
    )
    .unwrap();
    let o = check(&cfg, &dir.path().join("out2"), &[]);
    assert_invalid(&o, &["ml.csv", "line 2", "pos_a", "task = \"regression\""]);
}

#[test]
fn a_hidden_softmax_trains_and_is_diagnosed() {
    let cfg = fixture("scenarios/hidden_softmax_blobs.toml");
    let dir = tempfile::tempdir().unwrap();
    let o = check(&cfg, dir.path(), &[]);
    assert!([0, 1].contains(&code(&o)), "{}", stderr(&o));
    let s = summary(dir.path());
    assert!(diagnoses(&s).contains(&("hidden-softmax".to_string(), Some(1))));
    assert_schema(dir.path());
}

#[test]
fn a_one_unit_softmax_trains_and_is_diagnosed_with_a_verified_fix() {
    let cfg = fixture("scenarios/one_unit_softmax_circles.toml");
    let dir = tempfile::tempdir().unwrap();
    let o = check(&cfg, dir.path(), &["--try-fixes"]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let s = summary(dir.path());
    assert_eq!(s["diagnoses"][0]["code"], "one-unit-softmax");
    let fix = s["fixes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "sigmoid-output")
        .expect("sigmoid-output tried");
    assert_eq!(fix["cleared_errors"], true);
}

#[test]
fn the_synthetic_sine_regression_reaches_r2_above_0_95() {
    // Issue 10's healthy regression: a noisy sine (noise 0.1) fit by a
    // 32-unit tanh net (fixtures/scenarios/healthy_sine_regression.toml).
    let cfg = fixture("scenarios/healthy_sine_regression.toml");
    let dir = tempfile::tempdir().unwrap();
    let o = check(&cfg, dir.path(), &[]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let r2 = summary(dir.path())["final"]["test_r2"].as_f64().unwrap();
    assert!(r2 >= 0.95, "test R^2 {r2}");
}

#[test]
fn one_unit_for_four_classes_trains_on_the_index_and_is_diagnosed() {
    // Keras' Dense(1, sigmoid) + binary_crossentropy on labels 0..3.
    let cfg = fixture("scenarios/one_unit_bce_blobs.toml");
    let dir = tempfile::tempdir().unwrap();
    let o = check(&cfg, dir.path(), &["--try-fixes"]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let s = summary(dir.path());
    assert_eq!(s["diagnoses"][0]["code"], "output-units-mismatch");
    let fix = s["fixes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "units-per-class")
        .expect("units-per-class tried");
    assert_eq!(fix["cleared_errors"], true);
    assert_schema(dir.path());
}

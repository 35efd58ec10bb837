//! End-to-end: what report.md and the terminal summary say, in words a
//! person reads (issue 12): no Rust debug names, no "first seen -", the
//! gradient-check verdict, every file of the run, each diagnosis pointing at
//! its plot and layer, and fix losses compared only within one loss function.

mod common;
use common::*;

#[test]
fn seed_report_reads_as_text_and_points_at_plots() {
    let out = tempfile::tempdir().unwrap();
    let o = run_in(
        &root(),
        &[
            "check",
            fixture("configs/seed.toml").to_str().unwrap(),
            "--out",
            out.path().to_str().unwrap(),
            "--steps",
            "30",
            "--try-fixes",
        ],
    );
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("| f64 | loss MSE | SGD |"), "{text}");
    let md = std::fs::read_to_string(out.path().join("report.md")).unwrap();
    for leak in [
        "Mse",
        "F64",
        "Sgd",
        "CrossEntropy",
        "Momentum {",
        "first seen -",
    ] {
        assert!(!md.contains(leak), "{leak:?} in report.md");
        assert!(!text.contains(leak), "{leak:?} on stdout");
    }
    assert!(md.contains("loss MSE, optimizer SGD"), "run facts");
    assert!(
        md.contains("**Gradient check: passed**")
            && md.contains("verified at the well-conditioned probe state"),
        "gradcheck verdict"
    );
    for f in [
        "index.html",
        "gradcheck.csv",
        "pre_activations.png",
        "gradient_ratio.png",
        "fixes/combined.toml",
        "fixes/combined/report.md",
    ] {
        assert!(md.contains(&format!("- [{f}]({f})")), "{f} not listed");
        assert!(out.path().join(f).exists(), "{f} listed but missing");
    }
    // Each diagnosis with a plot names the plot and the layer.
    assert!(md.contains(
        "Look at [gradient_ratio.png](gradient_ratio.png) — layer 1, where a dashed line marks step 1."
    ));
    assert!(md.contains("Look at [saturation.png](saturation.png) — layer 1"));
    // The cross-entropy candidate changes the loss function: no arrow
    // between an MSE and a cross-entropy value.
    let row = md
        .lines()
        .find(|l| l.starts_with("| cross-entropy |"))
        .expect("cross-entropy candidate row");
    assert!(
        row.contains("(MSE), now") && row.contains("not comparable"),
        "{row}"
    );
    assert!(row.contains("poor-initialization L1"), "{row}");
}

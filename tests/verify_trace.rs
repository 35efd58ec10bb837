//! End-to-end: `nn-doctor verify-trace` on the traces in fixtures/traces/,
//! written by the independent NumPy exporter (examples/export_trace_numpy.py,
//! commands in fixtures/traces/README.md), plus malformed variants made
//! here and the seed-size trace written from Rust.

mod common;
use common::*;
use nn_doctor::config::LossKind;
use nn_doctor::trace::spec::Layout;
use nn_doctor::trace::writer::{seed_case, write_trace};
use std::path::Path;
use std::process::Output;

fn verify(dir: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["verify-trace", dir.to_str().unwrap()];
    args.extend_from_slice(extra);
    run_in(&root(), &args)
}

#[test]
fn correct_traces_match_in_every_layout_format_and_precision() {
    // Truth: the NumPy exporter computed these steps without a mistake.
    for name in [
        "correct-out_in-npy",
        "correct-in_out-npy",
        "correct-out_in-csv",
        "correct-in_out-csv",
        "correct-sum-nohalf",
    ] {
        let (code, r) = verify_trace_json(&fixture(&format!("traces/{name}")));
        assert_eq!(code, 0, "{name}: {r}");
        assert_eq!(r["verdict"], "match", "{name}");
        assert!(r["first_divergence"].is_null(), "{name}");
        assert_eq!(r["findings"].as_array().unwrap().len(), 0, "{name}");
    }
}

#[test]
fn every_catalogue_mistake_is_named_at_its_layer_and_tensor() {
    // Truth: the NumPy exporter's --bug CODE@LAYER injected exactly this.
    let cases = [
        (
            "bug-missing-output-derivative",
            2,
            "delta",
            "missing-output-derivative",
        ),
        (
            "bug-missing-activation-derivative",
            1,
            "delta",
            "missing-activation-derivative",
        ),
        (
            "bug-derivative-at-wrong-point",
            1,
            "delta",
            "derivative-at-wrong-point",
        ),
        (
            "bug-transposed-weight-gradient",
            2,
            "grad_weight",
            "transposed-weight-gradient",
        ),
        (
            "bug-transposed-weight-gradient-in_out",
            2,
            "grad_weight",
            "transposed-weight-gradient",
        ),
        ("bug-sign-flipped", 2, "grad_weight", "sign-flipped"),
        (
            "bug-batch-sum-not-mean",
            1,
            "grad_weight",
            "batch-sum-not-mean",
        ),
        (
            "bug-bias-gradient-wrong-axis",
            1,
            "grad_bias",
            "bias-gradient-wrong-axis",
        ),
        (
            "bug-wrong-layer-input",
            2,
            "grad_weight",
            "wrong-layer-input",
        ),
        (
            "bug-wrong-weights-in-backprop",
            1,
            "delta",
            "wrong-weights-in-backprop",
        ),
        (
            "bug-wrong-weights-in-backprop-in_out",
            1,
            "delta",
            "wrong-weights-in-backprop",
        ),
        ("naive-softmax-overflow", 2, "output", "non-finite-forward"),
        ("declared-out_in-saved-in_out", 1, "weight", "wrong-layout"),
    ];
    for (name, layer, tensor, pattern) in cases {
        let (code, r) = verify_trace_json(&fixture(&format!("traces/{name}")));
        assert_eq!(code, 1, "{name}: {r}");
        assert_eq!(r["verdict"], "mismatch", "{name}");
        let f = &r["first_divergence"];
        assert_eq!(
            (
                f["layer"].as_u64(),
                f["tensor"].as_str(),
                f["pattern"].as_str()
            ),
            (Some(layer), Some(tensor), Some(pattern)),
            "{name}: {f}"
        );
        assert_eq!(&r["findings"][0], f, "{name}");
        for key in [
            "max_abs_error",
            "max_rel_error",
            "index",
            "expected",
            "actual",
            "message",
            "suggestion",
        ] {
            assert!(f.get(key).is_some(), "{name}: {key} missing");
        }
    }
}

#[test]
fn the_mnist_case_reads_as_the_issue_promises() {
    // Truth: the exporter's --bug missing-output-derivative (softmax + MSE,
    // the softmax derivative "set to 1") on the output layer.
    let o = verify(&fixture("traces/bug-missing-output-derivative"), &[]);
    assert_eq!(code(&o), 1);
    let text = stdout(&o);
    assert!(text.contains("verdict: MISMATCH"), "{text}");
    assert!(
        text.contains("first divergence: layer 2 delta — missing-output-derivative"),
        "{text}"
    );
    assert!(text.contains("OK    layer 2 output"), "{text}");
    assert!(
        text.contains("(follows from the first divergence)"),
        "{text}"
    );
}

#[test]
fn batch_sum_and_other_factors_are_named_with_the_factor() {
    // Truth: the exporter multiplied layer 1's gradients by the batch (4).
    let (_, r) = verify_trace_json(&fixture("traces/bug-batch-sum-not-mean"));
    let m = r["first_divergence"]["message"].as_str().unwrap();
    assert!(
        m.contains("x 4 = batch size: summed over the batch, declared mean"),
        "{m}"
    );
    // Truth: by construction, gw2 x 3 and a trace declared "sum" that is a mean.
    let tmp = copy_trace("correct-out_in-csv");
    let gw = std::fs::read_to_string(tmp.path().join("gw2.csv")).unwrap();
    let tripled: String = gw
        .lines()
        .map(|l| {
            let v: Vec<String> = l
                .split(',')
                .map(|s| format!("{:e}", 3.0 * s.parse::<f64>().unwrap()))
                .collect();
            v.join(",") + "\n"
        })
        .collect();
    std::fs::write(tmp.path().join("gw2.csv"), tripled).unwrap();
    let (code, r) = verify_trace_json(tmp.path());
    assert_eq!(code, 1);
    let f = &r["first_divergence"];
    assert_eq!(
        (f["tensor"].as_str(), f["pattern"].as_str()),
        (Some("grad_weight"), Some("constant-factor"))
    );
    assert!(
        f["message"].as_str().unwrap().contains("reference x 3"),
        "{f}"
    );
    let tmp = copy_trace("correct-out_in-npy");
    let toml = std::fs::read_to_string(tmp.path().join("trace.toml")).unwrap();
    std::fs::write(
        tmp.path().join("trace.toml"),
        toml.replace("reduction = \"mean\"", "reduction = \"sum\""),
    )
    .unwrap();
    let (_, r) = verify_trace_json(tmp.path());
    let f = &r["first_divergence"];
    assert_eq!(
        (f["tensor"].as_str(), f["pattern"].as_str()),
        (Some("loss_value"), Some("constant-factor"))
    );
    assert!(
        f["message"]
            .as_str()
            .unwrap()
            .contains("1/batch size: averaged over the batch, declared sum"),
        "{f}"
    );
}

#[test]
fn wrong_shapes_of_computed_tensors_are_findings() {
    // Truth: the transpose of a correct gradient; a vector of the wrong length.
    let tmp = copy_trace("correct-in_out-csv");
    let gw: Vec<Vec<String>> = std::fs::read_to_string(tmp.path().join("gw1.csv"))
        .unwrap()
        .lines()
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect();
    let transposed: String = (0..gw[0].len())
        .map(|c| {
            gw.iter()
                .map(|r| r[c].clone())
                .collect::<Vec<_>>()
                .join(",")
                + "\n"
        })
        .collect();
    std::fs::write(tmp.path().join("gw1.csv"), transposed).unwrap();
    std::fs::write(tmp.path().join("gb2.csv"), "0.1,0.2\n").unwrap();
    let (code, r) = verify_trace_json(tmp.path());
    assert_eq!(code, 1, "{r}");
    let patterns: Vec<(u64, &str, &str)> = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["layer"].as_u64().unwrap(),
                f["tensor"].as_str().unwrap(),
                f["pattern"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        patterns,
        vec![
            (2, "grad_bias", "shape-mismatch"),
            (1, "grad_weight", "wrong-layout")
        ]
    );
}

#[test]
fn junit_has_one_case_per_compared_tensor() {
    let tmp = tempfile::tempdir().unwrap();
    let xml_path = tmp.path().join("trace.xml");
    let o = verify(
        &fixture("traces/bug-sign-flipped"),
        &["--junit", xml_path.to_str().unwrap()],
    );
    assert_eq!(code(&o), 1);
    let xml = std::fs::read_to_string(xml_path).unwrap();
    // 2 layers x 5 tensors + the loss value; sign-flipped makes layer 2's
    // grad_weight and grad_bias fail.
    assert_eq!(xml.matches("<testcase ").count(), 11, "{xml}");
    assert_eq!(xml.matches("<failure ").count(), 2, "{xml}");
    assert!(xml.contains("tests=\"11\" failures=\"2\""));
    assert!(xml.contains("layer 2 grad_weight: sign-flipped"));
}

#[test]
fn committed_malformed_traces_exit_2_naming_the_file() {
    let cases: [(&str, &[&str]); 4] = [
        (
            "malformed-truncated-npy",
            &["w2.npy", "truncated", "needs 120 bytes"],
        ),
        ("malformed-ragged-csv", &["d1.csv", "line 3", "ragged"]),
        (
            "malformed-unknown-key",
            &["trace.toml", "line 18", "unknown field `grad_bais`"],
        ),
        (
            "malformed-nan-input",
            &["x.npy", "non-finite value NaN at index [2, 1]"],
        ),
    ];
    for (name, needles) in cases {
        assert_invalid(&verify(&fixture(&format!("traces/{name}")), &[]), needles);
    }
}

#[test]
fn broken_copies_exit_2_naming_the_file_and_problem() {
    let edit = |f: &dyn Fn(&Path)| {
        let tmp = copy_trace("correct-out_in-npy");
        f(tmp.path());
        verify(tmp.path(), &[])
    };
    let o = edit(&|d| std::fs::remove_file(d.join("a1.npy")).unwrap());
    assert_invalid(&o, &["a1.npy", "cannot read"]);
    let o = edit(&|d| {
        let b = std::fs::read(d.join("b1.npy")).unwrap();
        let at = b.windows(3).position(|w| w == b"<f8").unwrap();
        let mut s = b.clone();
        s[at..at + 3].copy_from_slice(b"<c8");
        std::fs::write(d.join("b1.npy"), s).unwrap();
    });
    assert_invalid(&o, &["b1.npy", "unsupported dtype \"<c8\""]);
    let o = edit(&|d| {
        let t = std::fs::read_to_string(d.join("trace.toml")).unwrap();
        std::fs::write(
            d.join("trace.toml"),
            t.replace("weight_layout = \"out_in\"\n", ""),
        )
        .unwrap();
    });
    assert_invalid(&o, &["trace.toml", "missing field `weight_layout`"]);
    let o = edit(&|d| {
        // x with 3 features while layer 1 has fan_in 4.
        nn_doctor::trace::npy::write_f64(&d.join("x.npy"), &[4, 3], &[0.5; 12]).unwrap();
    });
    assert_invalid(&o, &["w1.npy", "expected [5, 3] for weight_layout out_in"]);
    let o = edit(&|d| std::fs::write(d.join("t.npy"), b"\x93NUMPY garbage").unwrap());
    assert_invalid(&o, &["t.npy"]);
}

#[test]
fn a_seed_size_trace_verifies() {
    // Truth: the trace is our own engine's step, so it must match; the
    // issue's budget is 1 s on 2 cores (benches/verify_trace.rs times it).
    let tmp = tempfile::tempdir().unwrap();
    let (net, x, t) = seed_case();
    write_trace(tmp.path(), &net, &x, &t, LossKind::Mse, Layout::OutIn).unwrap();
    let o = verify(tmp.path(), &[]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("784 -> 1000 sigmoid -> 10 softmax"));
    // Its time is measured by `cargo bench --bench verify_trace`, never
    // asserted here.
}

#[test]
fn traces_of_the_new_losses_parse_and_verify() {
    // Truth: each trace is our engine's own step for that loss, so it must
    // match; what this proves is that trace.toml accepts and applies every
    // loss (`binary_cross_entropy`, `mae`, `{ huber = { delta = ... } }`).
    let (net, x, t) = seed_case();
    for (loss, shown) in [
        (LossKind::BinaryCrossEntropy, "binary_cross_entropy (mean)"),
        (LossKind::Mae, "mae (mean)"),
        (LossKind::Huber { delta: 0.25 }, "huber delta 0.25 (mean)"),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        write_trace(tmp.path(), &net, &x, &t, loss, Layout::InOut).unwrap();
        let o = verify(tmp.path(), &[]);
        assert_eq!(code(&o), 0, "{loss:?}: {}{}", stdout(&o), stderr(&o));
        assert!(stdout(&o).contains(shown), "{loss:?}: {}", stdout(&o));
    }
}

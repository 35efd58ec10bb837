//! End-to-end: `nn-doctor verify-trace` on version 2 traces (a `kind` per
//! layer, named parameter files, tensors up to 4-D) written by the
//! independent NumPy exporter examples/export_trace_cnn_numpy.py (commands
//! in fixtures/traces/README.md; that step agrees with PyTorch autograd to
//! 1e-14, python/test_export_trace_cnn.py).

mod common;
use common::*;

#[test]
fn dense_version_2_traces_match_with_every_tensor_compared() {
    // Truth: the NumPy exporter computed these steps without a mistake.
    for name in ["v2-mlp-npy", "v2-mlp-csv"] {
        let (code, r) = verify_trace_json(&fixture(&format!("traces/{name}")));
        assert_eq!(code, 0, "{name}: {r}");
        assert_eq!(r["verdict"], "match", "{name}");
        let o = run_in(
            &root(),
            &[
                "verify-trace",
                fixture(&format!("traces/{name}")).to_str().unwrap(),
            ],
        );
        let text = stdout(&o);
        let ok: Vec<&str> = text
            .lines()
            .filter(|l| l.trim_start().starts_with("OK "))
            .collect();
        // 2 layers x (pre, out, delta, grad_weight, grad_bias, grad_input) + loss.
        assert_eq!(ok.len(), 13, "{name}: {}", stdout(&o));
        assert!(
            ok.iter().any(|l| l.contains("layer 1 grad_input")),
            "{name}"
        );
    }
}

#[test]
fn a_wrong_grad_input_is_the_first_divergence_at_its_layer() {
    // Truth: doubling layer 2's input gradient file is a mistake in layer
    // 2's backward to its input; everything computed before it still agrees.
    let tmp = copy_trace("v2-mlp-csv");
    let f = tmp.path().join("l2_grad_input.csv");
    let text = std::fs::read_to_string(&f).unwrap();
    let doubled: Vec<String> = text
        .lines()
        .map(|l| {
            l.split(',')
                .map(|v| format!("{:e}", 2.0 * v.trim().parse::<f64>().unwrap()))
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect();
    std::fs::write(&f, doubled.join("\n")).unwrap();
    let (code, r) = verify_trace_json(tmp.path());
    assert_eq!(code, 1, "{r}");
    assert_eq!(r["verdict"], "mismatch");
    assert_eq!(r["first_divergence"]["layer"], 2, "{r}");
    assert_eq!(r["first_divergence"]["tensor"], "grad_input", "{r}");
}

#[test]
fn malformed_version_2_traces_exit_2_naming_file_and_layer() {
    let tmp = copy_trace("v2-mlp-npy");
    let toml = tmp.path().join("trace.toml");
    let text = std::fs::read_to_string(&toml).unwrap();
    for (broken, want) in [
        (
            text.replacen("kind = \"dense\"\n", "", 1),
            "trace.toml: layers[1]: missing `kind`",
        ),
        (
            text.replacen("units = 5", "units = 5\nrate = 0.5", 1),
            "layers[1]: `rate` does not apply to kind dense",
        ),
        (
            text.replacen("input_shape = [4]", "input_shape = [2, 3]", 1),
            "declares input_shape = [2, 3]",
        ),
    ] {
        std::fs::write(&toml, &broken).unwrap();
        let o = run_in(&root(), &["verify-trace", tmp.path().to_str().unwrap()]);
        assert_eq!(code(&o), 2, "{}", stderr(&o));
        assert!(stderr(&o).contains(want), "{want}: {}", stderr(&o));
    }
}

#[test]
fn cnn_traces_from_numpy_and_pytorch_match() {
    // Truth: the NumPy step agrees with PyTorch autograd to 1.5e-14
    // (python/test_export_trace_cnn.py); v2-torch-cnn is PyTorch's own step.
    for name in ["v2-cnn-npy", "v2-cnn-csv", "v2-torch-cnn"] {
        let (code, r) = verify_trace_json(&fixture(&format!("traces/{name}")));
        assert_eq!(code, 0, "{name}: {r}");
        assert_eq!(r["verdict"], "match", "{name}: {r}");
    }
}

#[test]
fn every_conv_catalogue_bug_is_named_at_its_layer() {
    // Truth: examples/export_trace_cnn_numpy.py --bug NAME changed exactly
    // that layer's input gradient (python/test_export_trace_cnn.py).
    for (bug, layer) in CONV_BUGS {
        let (code, r) = verify_trace_json(&fixture(&format!("traces/v2-bug-{bug}")));
        assert_eq!(code, 1, "{bug}: {r}");
        assert_eq!(r["verdict"], "mismatch", "{bug}");
        let first = &r["first_divergence"];
        assert_eq!(first["layer"], layer, "{bug}: {first}");
        assert_eq!(first["tensor"], "grad_input", "{bug}: {first}");
        assert_eq!(first["pattern"], bug, "{bug}: {first}");
    }
}

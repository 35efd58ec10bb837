//! The injector's forms of the convolutional catalogue (engine/flaw/cnn.rs)
//! against the independent NumPy forms (examples/export_trace_cnn_numpy.py
//! --bug NAME, fixtures/traces/v2-bug-*): from the trace's own layer input,
//! output gradient and parameters, each Rust form must reproduce the
//! trace's input gradient of the flawed layer, and the correct form the
//! correct trace's. Two implementations written apart agreeing to 1e-12 is
//! the evidence that both describe the named mistake.

mod common;
use common::*;
use ndarray::Array2;
use nn_doctor::engine::flaw::cnn::*;
use nn_doctor::trace::tensor::read;
use std::path::Path;

/// The default CNN of the exporter: (layer, kind) of each flawed layer and
/// the shapes there (input [2, 10, 10]).
const CONV1: ConvShape = ConvShape {
    c: 2,
    h: 10,
    w: 10,
    o: 3,
    ho: 10,
    wo: 10,
    kh: 3,
    kw: 3,
    stride: 1,
    pad_top: 1,
    pad_left: 1,
};
const CONV4: ConvShape = ConvShape {
    c: 3,
    h: 5,
    w: 5,
    o: 4,
    ho: 3,
    wo: 3,
    kh: 3,
    kw: 3,
    stride: 2,
    pad_top: 1,
    pad_left: 1,
};
const POOL3: PoolShape = PoolShape {
    c: 3,
    h: 10,
    w: 10,
    ho: 5,
    wo: 5,
    size: 2,
    stride: 2,
};

fn rows(dir: &Path, file: &str) -> Array2<f64> {
    read(dir, file).unwrap().rows().unwrap()
}

fn flat(dir: &Path, file: &str) -> Vec<f64> {
    read(dir, file).unwrap().data
}

/// The input gradient layer `l` of the trace in `dir` would send down
/// under `bug` (None: the correct backward), from the trace's tensors.
fn predicted(dir: &Path, l: usize, bug: Option<&str>) -> Array2<f64> {
    let input = |l: usize| {
        if l == 1 {
            rows(dir, "x.npy")
        } else {
            rows(dir, &format!("l{}_out.npy", l - 1))
        }
    };
    let delta = rows(dir, &format!("l{l}_delta.npy"));
    let conv = |g: &ConvShape, how| {
        conv_input_grad(
            delta.view(),
            &flat(dir, &format!("l{l}_weight.npy")),
            g,
            how,
        )
    };
    let pool = |how| max_pool_input_grad(input(l).view(), delta.view(), &POOL3, how);
    let mask = || rows(dir, &format!("l{l}_mask.npy"));
    match (l, bug) {
        (1, None) => conv(&CONV1, ConvBack::Correct),
        (1, Some("conv-kernel-not-rotated")) => conv(&CONV1, ConvBack::KernelNotRotated),
        (1, Some("conv-backward-padding")) => conv(&CONV1, ConvBack::PaddingIgnored),
        (4, None) => conv(&CONV4, ConvBack::Correct),
        (4, Some("conv-backward-stride")) => conv(&CONV4, ConvBack::StrideIgnored),
        (3, None) => pool(PoolBack::Correct),
        (3, Some("maxpool-wrong-element")) => pool(PoolBack::WrongElement),
        (3, Some("maxpool-spread")) => pool(PoolBack::Spread),
        (2, Some("batchnorm-stats-constant")) => batch_norm_stats_constant(
            input(2).view(),
            delta.view(),
            &flat(dir, "l2_weight.npy"),
            100,
            1e-5,
        ),
        (7, None) => dropout_input_grad(delta.view(), mask().view(), 0.25, DropoutBack::Correct),
        (7, Some("dropout-no-mask")) => {
            dropout_input_grad(delta.view(), mask().view(), 0.25, DropoutBack::NoMask)
        }
        (7, Some("dropout-no-scale")) => {
            dropout_input_grad(delta.view(), mask().view(), 0.25, DropoutBack::NoScale)
        }
        (6, Some("flatten-order")) => flatten_channels_last(delta.view(), 4, 2, 2),
        _ => panic!("no form for layer {l} {bug:?}"),
    }
}

fn max_abs(a: &Array2<f64>, b: &Array2<f64>) -> f64 {
    assert_eq!(a.dim(), b.dim());
    (a - b).iter().fold(0.0, |m, v| m.max(v.abs()))
}

#[test]
fn correct_forms_reproduce_the_correct_trace() {
    let dir = fixture("traces/v2-cnn-npy");
    for l in [1, 3, 4, 7] {
        let want = rows(&dir, &format!("l{l}_grad_input.npy"));
        let d = max_abs(&predicted(&dir, l, None), &want);
        assert!(d < 1e-12, "layer {l}: {d:e}");
    }
}

#[test]
fn each_injector_form_reproduces_the_independent_numpy_bug() {
    for (bug, l) in CONV_BUGS {
        let dir = fixture(&format!("traces/v2-bug-{bug}"));
        let want = rows(&dir, &format!("l{l}_grad_input.npy"));
        let d = max_abs(&predicted(&dir, l, Some(bug)), &want);
        assert!(d < 1e-12, "{bug} at layer {l}: {d:e}");
        // And the bug is visible: the correct form differs (BN and flatten
        // have no correct form here; their bug differs from delta's routing).
        if let Some(right) = matches!(l, 1 | 3 | 4 | 7).then(|| predicted(&dir, l, None)) {
            assert!(max_abs(&right, &want) > 1e-6, "{bug}: invisible");
        }
    }
}

/// Names the mistake in layer `l`'s input gradient of the trace in `dir`
/// with verify-trace's matcher, from the trace's own tensors.
fn named(dir: &Path, l: usize) -> Option<&'static str> {
    use nn_doctor::trace::cnn_pattern::{input_shapes, match_input_gradient, LayerState};
    use nn_doctor::trace::spec::{Precision, TraceSpec};
    use nn_doctor::trace::tolerance::Tolerance;
    let spec = TraceSpec::read(&dir.join("trace.toml")).unwrap();
    let shapes = input_shapes(&spec.layers, spec.input_shape.as_deref().unwrap()).unwrap();
    let ls = &spec.layers[l - 1];
    let input = if l == 1 {
        rows(dir, "x.npy")
    } else {
        rows(dir, &format!("l{}_out.npy", l - 1))
    };
    let delta = rows(dir, &format!("l{l}_delta.npy"));
    let weight = ls.param_file("weight").map(|f| flat(dir, f));
    let mask = ls.mask.as_ref().map(|f| rows(dir, f));
    let state = LayerState {
        spec: ls,
        input_shape: shapes[l - 1],
        input: input.view(),
        delta: delta.view(),
        weight: weight.as_deref(),
        mask: mask.as_ref().map(|m| m.view()),
    };
    let actual = flat(dir, &format!("l{l}_grad_input.npy"));
    match_input_gradient(&state, &actual, 1.0, &Tolerance::of(Precision::F64)).map(|m| m.0)
}

#[test]
fn the_matcher_names_each_bug_from_the_trace_and_nothing_in_a_correct_one() {
    for (bug, l) in CONV_BUGS {
        let dir = fixture(&format!("traces/v2-bug-{bug}"));
        assert_eq!(named(&dir, l), Some(bug), "{bug}");
    }
    for trace in ["v2-cnn-npy", "v2-torch-cnn"] {
        let dir = fixture(&format!("traces/{trace}"));
        let layers = nn_doctor::trace::spec::TraceSpec::read(&dir.join("trace.toml"))
            .unwrap()
            .layers
            .len();
        for l in 1..=layers {
            assert_eq!(named(&dir, l), None, "{trace} layer {l}");
        }
    }
}

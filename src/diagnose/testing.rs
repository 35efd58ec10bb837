//! Builders of synthetic recordings and pre-flight facts, so every rule is
//! unit-tested on hand-made series without training anything.

use super::context::Context;
use super::preflight::{InitStats, InputStats, Preflight};
use crate::config::{LossKind, OptimizerConfig};
use crate::engine::activation::Activation;
use crate::monitor::record::{LayerInfo, LayerRow, Recording, StepRow};

pub fn preflight(loss: LossKind, layers: Vec<InitStats>) -> Preflight {
    Preflight {
        input: InputStats {
            samples: 100,
            features: 4,
            nonfinite: 0,
            first_nonfinite: None,
            min: 0.0,
            max: 1.0,
            rms: 0.5,
            feature_scale_max: 1.0,
            feature_scale_min_nonzero: 0.5,
        },
        layers,
        classes: 10,
        loss,
        learning_rate: 0.01,
        optimizer: OptimizerConfig::Sgd,
        expected_initial_loss: None,
        chance_accuracy: 0.1,
        output: Activation::Softmax,
        test_samples: 1000,
        batch_size: 32,
        class_counts: vec![100; 10],
        test_class_counts: vec![100; 10],
        task: Default::default(),
        dropout: Vec::new(),
        loss_takes_logits: false,
    }
}

pub fn preflight_with_input(rms: f64, min: f64, max: f64, nonfinite: usize) -> Preflight {
    let mut p = preflight(LossKind::CrossEntropy, Vec::new());
    p.input.rms = rms;
    p.input.min = min;
    p.input.max = max;
    p.input.nonfinite = nonfinite;
    p.input.first_nonfinite = (nonfinite > 0).then_some((0, 0));
    p
}

pub fn preflight_with_layers(layers: Vec<InitStats>) -> Preflight {
    preflight(LossKind::CrossEntropy, layers)
}

/// A context over an empty recording (for pre-flight rules).
pub fn context_with(pf: &Preflight) -> Context<'_> {
    let rec: &'static Recording = Box::leak(Box::default());
    Context {
        recording: rec,
        preflight: pf,
        nan_origin: None,
        gradcheck: None,
    }
}

/// A context over `rec` with a default pre-flight for `loss`.
pub fn context_from(rec: &Recording, loss: LossKind) -> Context<'_> {
    let pf: &'static Preflight = Box::leak(Box::new(preflight(loss, Vec::new())));
    Context {
        recording: rec,
        preflight: pf,
        nan_origin: None,
        gradcheck: None,
    }
}

/// A healthy-looking recording of `steps` steps (every step recorded, 10
/// units per layer, loss decaying), then edited row by row by `edit`.
pub fn recording(
    acts: &[Activation],
    steps: usize,
    edit: impl Fn(usize, usize, &mut LayerRow),
) -> Recording {
    let layers: Vec<LayerInfo> = acts
        .iter()
        .enumerate()
        .map(|(i, &a)| LayerInfo {
            kind: None,
            layer: i + 1,
            units: 10,
            fan_in: 10,
            activation: a,
        })
        .collect();
    let mut rows = Vec::new();
    for step in 1..=steps {
        for info in &layers {
            let mut row = LayerRow {
                step,
                layer: info.layer,
                act_min: -1.0,
                act_max: 1.0,
                act_mean: 0.0,
                act_std: 0.5,
                pre_min: -1.0,
                pre_max: 1.0,
                pre_mean_abs: 0.5,
                saturated_frac: info.activation.is_saturating().then_some(0.01),
                dead_frac: info.activation.is_relu_family().then_some(0.05),
                grad_w_norm: 1.0,
                grad_b_norm: 0.1,
                weight_norm: 3.0,
                update_ratio: 1e-3,
                nonfinite: 0,
            };
            edit(step, info.layer, &mut row);
            rows.push(row);
        }
    }
    let steps = (1..=steps)
        .map(|s| StepRow {
            step: s,
            loss: 2.3 / (1.0 + s as f64 / 20.0),
            batch_accuracy: 0.5,
            test_loss: None,
            test_accuracy: None,
        })
        .collect();
    Recording {
        layers,
        rows,
        steps,
        probes: Vec::new(),
        full: Default::default(),
        task_evals: Vec::new(),
        bn_drift: Vec::new(),
        layer_index: Default::default(),
    }
}

/// A two-layer recording whose loss at step s is `loss(s)`.
pub fn recording_with_loss(steps: usize, loss: impl Fn(usize) -> f64) -> Recording {
    let mut rec = recording(
        &[Activation::Relu, Activation::Softmax],
        steps,
        |_, _, _| {},
    );
    for s in &mut rec.steps {
        s.loss = loss(s.step);
    }
    rec
}

/// Deterministic uniform noise in [-0.5, 0.5): Knuth's MMIX linear
/// congruential generator, top 53 bits. Unlike `i * k % m` it has no
/// constant first differences, so robust noise estimates see real spread.
pub fn uniform_noise(n: usize, seed: u64) -> Vec<f64> {
    let mut x = seed
        .wrapping_mul(2862933555777941757)
        .wrapping_add(3037000493);
    (0..n)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 11) as f64 / (1u64 << 53) as f64 - 0.5
        })
        .collect()
}

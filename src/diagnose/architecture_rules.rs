//! Rules about the shape of the network itself: mistakes a config can
//! describe and that train, but cannot train well. A softmax on a hidden
//! layer (`hidden-softmax`), a one-unit softmax output (`one-unit-softmax`)
//! and one output unit for more than two classes (`output-units-mismatch`).
//! All are read from the initial layer facts.

use super::code::Code;
use super::context::Context;
use super::rule::{Explanation, FixKind, Plot, Rule};
use super::thresholds::Thresholds;
use super::types::{Diagnosis, Severity};
use crate::engine::activation::Activation;
use crate::engine::layers::registry;

/// `hidden-softmax`: the descriptor of [`hidden_softmax`].
pub const HIDDEN_SOFTMAX: Rule = Rule {
    code: Code::HiddenSoftmax,
    name: "hidden-softmax",
    thresholds: &[],
    outcome_dependent: true,
    explains: &[Code::SaturatedActivations, Code::VanishingGradients, Code::LossPlateau, Code::AccuracyAtChance, Code::NoBetterThanMean],
    needs: &[],
    unless: &[],
    plot: Some(Plot::Saturation),
    plot_if_evidence: None,
    fixes: &[FixKind::HiddenRelu],
    run: |ctx, th| hidden_softmax(ctx, th).into_iter().collect(),
    explanation: Explanation {
                    title: "a softmax on a hidden layer",
            meaning: "A layer below the output has activation = \"softmax\". Its outputs are forced onto a simplex (they sum to 1, about 1/units each); the network trains (the backward pass is the softmax's Jacobian-vector product, s * (g - sum(g * s)) per row) and is diagnosed instead of refused.",
            why: "The next layer sees tiny, coupled inputs, and the gradient through the softmax is small everywhere and vanishes when one unit dominates: layers below it barely learn. Usually a copy-paste of the output layer's activation.",
            fix: "Use relu (init = \"he_normal\") or tanh on hidden layers; keep softmax for the output. check --try-fixes verifies it (hidden-relu).",
            look: "saturation.png (the softmax layer's saturated share) and gradient_ratio.png (layers below it receive little gradient).",
    },
};

/// `hidden-softmax`: a softmax on a layer below the output. It squeezes the
/// layer's units onto a simplex (they sum to 1, so each is about 1/units):
/// the next layer sees tiny, coupled inputs, and the gradient through it is
/// the softmax Jacobian, which is small everywhere and vanishes once one
/// unit dominates. A warning; severity follows the outcome.
pub fn hidden_softmax(ctx: &Context<'_>, _th: &Thresholds) -> Option<Diagnosis> {
    let layers = &ctx.preflight.layers;
    let last = layers.len();
    let hidden = layers
        .iter()
        .find(|l| l.activation == Activation::Softmax && l.layer < last)?;
    Some(
        Diagnosis::new(
            Code::HiddenSoftmax,
            Severity::Warning,
            format!(
                "Layer {} of {last} is a hidden softmax: its {} outputs are forced to sum to 1 (about {:.3} each), so the next layer sees tiny, coupled inputs and the gradient passes through the softmax Jacobian, which vanishes as soon as one unit dominates.",
                hidden.layer,
                hidden.units,
                1.0 / hidden.units.max(1) as f64
            ),
        )
        .at(Some(hidden.layer), Some(0))
        .with("units", hidden.units)
        .with("mean_output", 1.0 / hidden.units.max(1) as f64)
        .suggest(format!(
            "Use activation = \"relu\" with init = \"he_normal\" on layer {} (softmax belongs on the output layer only).",
            hidden.layer
        )),
    )
}

/// `batch-norm-small-batch`: the descriptor of [`batch_norm_small_batch`].
pub const BATCH_NORM_SMALL_BATCH: Rule = Rule {
    code: Code::BatchNormSmallBatch,
    name: "batch-norm-small-batch",
    thresholds: &[],
    outcome_dependent: true,
    explains: &[Code::VanishingGradients, Code::LossPlateau, Code::LossOscillating, Code::AccuracyAtChance],
    needs: &[],
    unless: &[],
    plot: None,
    plot_if_evidence: None,
    fixes: &[FixKind::BnBatchSize],
    run: |ctx, th| batch_norm_small_batch(ctx, th).into_iter().collect(),
    explanation: Explanation {
                    title: "batch norm trained on batches of 1 or 2",
            meaning: "The network has a batch_norm layer and train.batch_size is 1 or 2. In training, batch norm normalises each channel with the mean and variance of the current batch (over samples, and positions for images); evaluation uses the running averages of those statistics. Evidence: the batch size and how many values each channel's statistics come from.",
            why: "With one sample of flat features every value equals its batch mean: x - mean = 0, the layer outputs beta whatever the input and no gradient reaches the layers below (PyTorch refuses this case). With two samples, or one image, the statistics are so noisy that training normalises by numbers evaluation never sees: test accuracy falls behind training accuracy or the network does not learn.",
            fix: "Use train.batch_size >= 16 (32 or more is usual), or remove the batch_norm layers for tiny batches.",
            look: "batch_norm.csv: the running-statistics drift stays large; loss.png: the test loss far from the training loss.",
    },
};

/// `batch-norm-small-batch`: a batch-norm layer trained on batches of 1 or
/// 2. A flat batch norm at batch 1 is an error whatever happened (every
/// value equals its batch mean, so the layer outputs beta and passes no
/// gradient); otherwise a warning whose severity follows the outcome.
pub fn batch_norm_small_batch(ctx: &Context<'_>, _th: &Thresholds) -> Option<Diagnosis> {
    let batch = ctx.preflight.batch_size;
    if batch > 2 {
        return None;
    }
    let bn = ctx.recording.layers.iter().find(|l| {
        l.kind
            .as_deref()
            .and_then(registry::info)
            .is_some_and(|k| k.batch_statistics)
    })?;
    // A batch norm layer's fan-in is its input width: channels x positions.
    let positions = (bn.fan_in / bn.units.max(1)).max(1);
    let values = batch * positions;
    let (severity, what) = if values <= 1 {
        (
            Severity::Error,
            "every value equals its batch mean, so the layer outputs its bias (beta) whatever the input and no gradient reaches the layers below",
        )
    } else {
        (
            Severity::Warning,
            "its statistics are too noisy to normalise with, and evaluation's running averages differ from what training normalised by",
        )
    };
    Some(
        Diagnosis::new(
            Code::BatchNormSmallBatch,
            severity,
            format!(
                "Layer {} is batch norm trained at batch size {batch}: each channel's mean and variance come from {values} value(s), so {what}.",
                bn.layer
            ),
        )
        .at(Some(bn.layer), Some(0))
        .with("batch_size", batch)
        .with("values_per_channel", values)
        .suggest("Use train.batch_size >= 16, or remove the batch_norm layers for tiny batches."),
    )
}

/// `one-unit-softmax`: the descriptor of [`one_unit_softmax`].
pub const ONE_UNIT_SOFTMAX: Rule = Rule {
    code: Code::OneUnitSoftmax,
    name: "one-unit-softmax",
    thresholds: &[],
    outcome_dependent: false,
    explains: &[],
    needs: &[],
    unless: &[],
    plot: Some(Plot::GradientNorms),
    plot_if_evidence: None,
    fixes: &[FixKind::SigmoidOutput],
    run: |ctx, th| one_unit_softmax(ctx, th).into_iter().collect(),
    explanation: Explanation {
                    title: "a softmax over a single output unit",
            meaning: "The output layer has units = 1 and activation = \"softmax\": e^z / e^z = 1 for every input, so the network always outputs 1 (always class 1). The loss is constant, and every gradient is exactly 0 (with cross-entropy the engine uses dL/dz = a * sum(t) - t, exact for any target).",
            why: "A softmax normalises over its units; with one unit there is nothing to normalise against. Keras' Dense(1, activation='softmax') for a binary label is the classic form.",
            fix: "One unit: activation = \"sigmoid\" with loss = \"binary_cross_entropy\" (0/1 targets). Or units = 2 with softmax and cross_entropy. check --try-fixes verifies the sigmoid form.",
            look: "loss.png: a flat loss; gradient_norms.png: every gradient on the 0 row.",
    },
};

/// `one-unit-softmax`: a softmax over a single unit is the constant 1 for
/// every input, so the output carries no information and no gradient
/// reaches any weight (the loss is constant). An error whatever the loss
/// did: nothing below it can learn.
pub fn one_unit_softmax(ctx: &Context<'_>, _th: &Thresholds) -> Option<Diagnosis> {
    let out = ctx.preflight.layers.last()?;
    if out.activation != Activation::Softmax || out.units != 1 {
        return None;
    }
    Some(
        Diagnosis::new(
            Code::OneUnitSoftmax,
            Severity::Error,
            format!(
                "The output layer (layer {}) is a softmax over one unit: e^z / e^z = 1 for every input, so the network always outputs 1 (always class 1), the loss is constant and every gradient is exactly 0.",
                out.layer
            ),
        )
        .at(Some(out.layer), Some(0))
        .with("units", 1)
        .with("output", 1.0)
        .suggest(format!(
            "Use activation = \"sigmoid\" on layer {} (one unit trained on 0/1, loss = \"binary_cross_entropy\"), or units = 2 with softmax.",
            out.layer
        )),
    )
}

/// `output-units-mismatch`: the descriptor of [`output_units_mismatch`].
pub const OUTPUT_UNITS_MISMATCH: Rule = Rule {
    code: Code::OutputUnitsMismatch,
    name: "output-units-mismatch",
    thresholds: &[],
    outcome_dependent: false,
    explains: &[],
    needs: &[],
    unless: &[],
    plot: Some(Plot::Confusion),
    plot_if_evidence: None,
    fixes: &[FixKind::UnitsPerClass],
    run: |ctx, th| output_units_mismatch(ctx, th).into_iter().collect(),
    explanation: Explanation {
                    title: "one output unit for more than two classes",
            meaning: "A classifier of C > 2 classes has units = 1 on its output layer. It trains as Keras trains a Dense(1) on integer labels: the unit is fitted to the class index 0..C-1 as a number (with binary_cross_entropy these are targets above 1), and a class is read from it as Keras' binary accuracy does: class 1 above 0.5, else class 0.",
            why: "Class indices are not quantities: 'class 7' is not 'more' than class 3, and a single threshold can only ever name classes 0 and 1. Usually the last layer was copied from a binary model.",
            fix: "units = C with softmax and loss = \"cross_entropy\" (check --try-fixes verifies it: units-per-class). Units that are neither 1 nor C are refused (exit 2), as Keras refuses the shape.",
            look: "confusion.png: only the columns of classes 0 and 1 are filled.",
    },
};

/// `output-units-mismatch`: a classifier of C > 2 classes with one output
/// unit. As Keras trains a Dense(1) on integer labels, the unit is fitted to
/// the class index 0..C-1 (with a cross-entropy: targets above 1), and a
/// class is read from it as Keras' binary accuracy does (class 1 above 1/2,
/// else 0), so classes 2..C-1 are never predicted.
pub fn output_units_mismatch(ctx: &Context<'_>, _th: &Thresholds) -> Option<Diagnosis> {
    let pf = ctx.preflight;
    let out = pf.layers.last()?;
    if pf.task.task != crate::data::spec::Task::Classification || out.units != 1 || pf.classes <= 2
    {
        return None;
    }
    Some(
        Diagnosis::new(
            Code::OutputUnitsMismatch,
            Severity::Error,
            format!(
                "The output layer (layer {}) has 1 unit for {} classes: it is trained to output the class index 0..{} as a number (a regression onto the label, as Keras trains a Dense(1) on integer labels) and predicts class 1 above 0.5, else 0, so classes 2..{} can never be predicted.",
                out.layer,
                pf.classes,
                pf.classes - 1,
                pf.classes - 1
            ),
        )
        .at(Some(out.layer), Some(0))
        .with("units", 1)
        .with("classes", pf.classes)
        .suggest(format!(
            "Use units = {} with activation = \"softmax\" and loss = \"cross_entropy\" on layer {} (one unit per class).",
            pf.classes, out.layer
        )),
    )
}

#[cfg(test)]
mod tests {
    use super::super::testing::{context_with, preflight_with_layers};
    use super::*;
    use crate::diagnose::preflight::InitStats;
    use crate::monitor::record::Recording;

    fn layer(layer: usize, units: usize, activation: Activation) -> InitStats {
        InitStats {
            layer,
            fan_in: 4,
            units,
            activation,
            mean: 0.0,
            std: 0.1,
            gain: 1.0,
            all_zero: false,
        }
    }

    #[test]
    fn softmax_below_the_output_is_hidden_softmax() {
        let pf = preflight_with_layers(vec![
            layer(1, 8, Activation::Softmax),
            layer(2, 3, Activation::Softmax),
        ]);
        let d = hidden_softmax(&context_with(&pf), &Thresholds::default()).unwrap();
        assert_eq!(d.layer, Some(1));
        assert!(d.suggestions[0].contains("relu"));
        let pf = preflight_with_layers(vec![
            layer(1, 8, Activation::Relu),
            layer(2, 3, Activation::Softmax),
        ]);
        assert!(hidden_softmax(&context_with(&pf), &Thresholds::default()).is_none());
    }

    #[test]
    fn one_unit_for_ten_classes_is_a_mismatch_but_for_two_it_is_not() {
        let mut pf = preflight_with_layers(vec![
            layer(1, 8, Activation::Relu),
            layer(2, 1, Activation::Linear),
        ]);
        let d = output_units_mismatch(&context_with(&pf), &Thresholds::default()).unwrap();
        assert!(d.suggestions[0].contains("units = 10"));
        pf.classes = 2;
        assert!(output_units_mismatch(&context_with(&pf), &Thresholds::default()).is_none());
    }

    #[test]
    fn a_one_unit_softmax_output_is_an_error() {
        let pf = preflight_with_layers(vec![
            layer(1, 8, Activation::Relu),
            layer(2, 1, Activation::Softmax),
        ]);
        let d = one_unit_softmax(&context_with(&pf), &Thresholds::default()).unwrap();
        assert_eq!(d.severity, Severity::Error);
        let pf = preflight_with_layers(vec![
            layer(1, 8, Activation::Relu),
            layer(2, 1, Activation::Sigmoid),
        ]);
        assert!(one_unit_softmax(&context_with(&pf), &Thresholds::default()).is_none());
    }

    /// Truth: at batch 1, flat batch norm's x - mean is 0 for every value
    /// (an error); one 2x2 image gives 4 values per channel (a warning);
    /// batch 32 is fine.
    #[test]
    fn batch_norm_at_batch_one_or_two_is_diagnosed() {
        let bn = |fan_in: usize, units: usize| crate::monitor::record::LayerInfo {
            layer: 2,
            units,
            fan_in,
            activation: Activation::Linear,
            kind: Some("batch_norm".into()),
        };
        let run = |batch: usize, info| {
            let mut pf = preflight_with_layers(Vec::new());
            pf.batch_size = batch;
            let rec = Recording {
                layers: vec![info],
                ..Recording::default()
            };
            let ctx = Context {
                recording: &rec,
                preflight: &pf,
                nan_origin: None,
                gradcheck: None,
            };
            batch_norm_small_batch(&ctx, &Thresholds::default())
        };
        let flat = run(1, bn(8, 8)).unwrap();
        assert_eq!((flat.severity, flat.layer), (Severity::Error, Some(2)));
        let image = run(1, bn(16, 4)).unwrap();
        assert_eq!(image.severity, Severity::Warning);
        assert_eq!(image.evidence["values_per_channel"], 4);
        assert!(run(32, bn(8, 8)).is_none());
    }
}

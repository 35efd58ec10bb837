//! Rules about activations: saturated sigmoid/tanh/softmax units and dead
//! ReLUs. Both read the recorded per-layer shares and require them to hold
//! over a window, never one step.

use super::code::Code;
use super::context::Context;
use super::rule::{Explanation, FixKind, Need, Plot, Rule};
use super::series::{share_series, ShareSource};
use super::stats::first_sustained;
use super::thresholds::Thresholds;
use super::types::{Diagnosis, Severity};
use crate::config::LossKind;
use crate::engine::activation::Activation;

/// `saturated-activations`: the descriptor of [`saturated_activations`].
pub const SATURATED_ACTIVATIONS: Rule = Rule {
    code: Code::SaturatedActivations,
    name: "saturated-activations",
    thresholds: &["saturation_warning", "saturation_error", "trained_well_drop", "window_share", "window_min", "window_max"],
    outcome_dependent: true,
    explains: &[],
    needs: &[Need::Column("saturated_frac")],
    unless: &[],
    plot: Some(Plot::Saturation),
    plot_if_evidence: None,
    fixes: &[FixKind::FanInInit, FixKind::ReluHe, FixKind::CrossEntropy],
    run: saturated_activations,
    explanation: Explanation {
                    title: "sigmoid/tanh/softmax units sit where their slope is ~0",
            meaning: "Over a window of recorded steps, most unit x sample entries have a local slope below 1% of the maximum (|z| > 6 for sigmoid, > 3 for tanh).",
            why: "Large pre-activations from bad initialisation, unscaled inputs or a too-high learning rate. Gradients through a saturated unit are multiplied by that tiny slope, so the layers below stop learning.",
            fix: "Zero-mean fan-in-scaled init, scaled inputs; relu with he_normal in hidden layers; cross-entropy for softmax/sigmoid outputs.",
            look: "saturation.png (solid lines near 1); pre_activations.png (mean |z| above the dashed saturation bound).",
    },
};

/// `saturated-activations`, per layer. A saturated softmax (or sigmoid)
/// output under cross-entropy is a confident classifier, not a problem: the
/// loss's gradient a - t does not pass through the flat slope. Under MSE it
/// does, so there it counts.
pub fn saturated_activations(ctx: &Context<'_>, th: &Thresholds) -> Vec<Diagnosis> {
    let depth = ctx.depth();
    let mut out = Vec::new();
    for info in &ctx.recording.layers {
        let is_output = info.layer == depth;
        if !info.activation.is_saturating() {
            continue;
        }
        if is_output && ctx.preflight.loss == LossKind::CrossEntropy {
            continue;
        }
        // A one-unit softmax is the constant 1 whatever its input: its zero
        // slope says nothing about the pre-activations' scale, and
        // `one-unit-softmax` names that cause.
        if info.activation == Activation::Softmax && info.units == 1 {
            continue;
        }
        let (steps, sat, source) = share_series(
            ctx.recording,
            info.layer,
            |p| p.saturated_frac,
            |r| r.saturated_frac,
        );
        let w = th.window(sat.len());
        let Some((i, median)) = first_sustained(&sat, w, |m| m >= th.saturation_warning) else {
            continue;
        };
        let mut severity = if first_sustained(&sat, w, |m| m >= th.saturation_error).is_some() {
            Severity::Error
        } else {
            Severity::Warning
        };
        // Saturation that develops while the loss falls by more than half
        // is the network sharpening its decisions, not a failure: info.
        if i > 0 && loss_halved(ctx, th) {
            severity = Severity::Info;
        }
        let over = match source {
            ShareSource::Probe => "the fixed probe batch",
            ShareSource::Batch => "the training batches",
        };
        let step = steps.get(i).copied();
        // The training batch's pre-activations at the onset step.
        let pre_at = ctx
            .recording
            .layer_rows(info.layer)
            .find(|r| r.step >= step.unwrap_or(0))
            .map_or(f64::NAN, |r| r.pre_mean_abs);
        let bound = match info.activation {
            Activation::Sigmoid => "|z| > 6",
            Activation::Tanh => "|z| > 3",
            _ => "an output within 0.25% of 0 or 1",
        };
        let mut d = Diagnosis::new(
            Code::SaturatedActivations,
            severity,
            format!(
                "Layer {} ({}): {:.1}% of unit x sample entries on {over} are saturated ({bound}: slope below 1% of its maximum) from step {}; mean |pre-activation| = {:.3}. Gradients through saturated units are scaled by that tiny slope, so these weights barely learn.",
                info.layer,
                info.activation,
                100.0 * median,
                step.unwrap_or(0),
                pre_at
            ),
        )
        .at(Some(info.layer), step)
        .with("saturated_fraction_median", median)
        .with("window_rows", w)
        .with("pre_activation_mean_abs", pre_at)
        .with("threshold", th.saturation_warning);
        if let Some(last) = sat.iter().rev().find(|v| v.is_finite()) {
            d = d.with("saturated_fraction_last", *last);
        }
        let at_start = i == 0;
        if is_output {
            d = d
                .suggest("Use loss = \"cross_entropy\" with the softmax/sigmoid output: its gradient (a - t) does not vanish when the output saturates.")
                .suggest("Initialise the layer feeding this output with zero-mean weights (xavier_uniform) so the logits start near 0.");
        } else if at_start {
            d = d
                .suggest("Initialise with zero-mean, fan-in-scaled weights (init = \"xavier_uniform\" for sigmoid/tanh) so pre-activations start near 0.")
                .suggest("Scale the inputs ([data] scale = \"unit\" or \"standardize\").")
                .suggest("Or use relu with init = \"he_normal\": it does not saturate for positive inputs.");
        } else {
            d = d
                .suggest("Saturation developed during training: lower the learning rate or clip gradients (train.clip_grad_norm).")
                .suggest("Or use relu with init = \"he_normal\".");
        }
        out.push(d);
    }
    out
}

/// Whether the loss's last window is under `1 - trained_well_drop` of its
/// first window (half, by default).
fn loss_halved(ctx: &Context<'_>, th: &Thresholds) -> bool {
    super::loss_rules::overall_drop(ctx, th).is_some_and(|d| d > th.trained_well_drop)
}

/// `dead-relus`: the descriptor of [`dead_relus`].
pub const DEAD_RELUS: Rule = Rule {
    code: Code::DeadRelus,
    name: "dead-relus",
    thresholds: &["dead_warning", "dead_error", "window_share", "window_min", "window_max"],
    outcome_dependent: true,
    explains: &[],
    needs: &[Need::Column("dead_frac")],
    unless: &[],
    plot: Some(Plot::Saturation),
    plot_if_evidence: None,
    fixes: &[FixKind::ZeroBias, FixKind::LowerLr],
    run: dead_relus,
    explanation: Explanation {
                    title: "ReLU units output 0 for every sample",
            meaning: "Over a window of recorded steps, most units of a relu layer are inactive (z <= 0) for the whole batch.",
            why: "A large update pushed weights/biases so that the units never fire again; dead units get zero gradient and cannot recover.",
            fix: "Lower the learning rate; leaky_relu or elu; he_normal init with small or zero biases.",
            look: "saturation.png (dashed lines near 1), gradient_norms.png (the layer's norm on the bottom \"0\" row).",
    },
};

/// `dead-relus`: ReLU units that output 0 for every sample of the batch get
/// no gradient and cannot recover. Leaky ReLU and ELU keep a slope below 0,
/// so only `relu` layers are judged.
pub fn dead_relus(ctx: &Context<'_>, th: &Thresholds) -> Vec<Diagnosis> {
    let mut out = Vec::new();
    for info in ctx
        .recording
        .layers
        .iter()
        .filter(|l| l.activation == Activation::Relu)
    {
        let (steps, dead, source) =
            share_series(ctx.recording, info.layer, |p| p.dead_frac, |r| r.dead_frac);
        let w = th.window(dead.len());
        let Some((i, median)) = first_sustained(&dead, w, |m| m >= th.dead_warning) else {
            continue;
        };
        let severity = if first_sustained(&dead, w, |m| m >= th.dead_error).is_some() {
            Severity::Error
        } else {
            Severity::Warning
        };
        let step = steps.get(i).copied();
        let over = match source {
            ShareSource::Probe => format!(
                "every one of the {} fixed probe samples",
                crate::monitor::probe::PROBE_SAMPLES.min(ctx.preflight.input.samples)
            ),
            ShareSource::Batch => "every sample of the batch".to_string(),
        };
        // Dead from the first recorded step: the initialisation killed them,
        // not an update, so the init fix leads; dead later: a step did.
        let lr = "Lower the learning rate: a large step can push biases so negative that units never fire again.";
        let init = "Initialise with init = \"he_normal\" and bias_init = 0.0 (or a small positive bias such as 0.01).";
        let leaky = "Use activation = \"leaky_relu\" or \"elu\", which keep a gradient below zero.";
        let dead_at_start = i == 0 && step.is_some_and(|s| s <= 1);
        let order = if dead_at_start {
            [init, leaky, lr]
        } else {
            [lr, leaky, init]
        };
        out.push(
            Diagnosis::new(
                Code::DeadRelus,
                severity,
                format!(
                    "Layer {} (relu): {:.1}% of its {} units are inactive for {over} from step {}; dead units get no gradient and never recover.",
                    info.layer,
                    100.0 * median,
                    info.units,
                    step.unwrap_or(0)
                ),
            )
            .at(Some(info.layer), step)
            .with("dead_fraction_median", median)
            .with("window_rows", w)
            .with("threshold", th.dead_warning)
            .suggest(order[0])
            .suggest(order[1])
            .suggest(order[2]),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::testing::{context_from, recording};
    use super::*;

    #[test]
    fn persistent_hidden_saturation_is_an_error() {
        let rec = recording(
            &[Activation::Sigmoid, Activation::Softmax],
            50,
            |_, layer, row| {
                if layer == 1 {
                    row.saturated_frac = Some(1.0);
                    row.pre_mean_abs = 51.0;
                }
            },
        );
        let d = saturated_activations(
            &context_from(&rec, LossKind::CrossEntropy),
            &Thresholds::default(),
        );
        assert_eq!(d.len(), 1);
        assert_eq!(
            (d[0].layer, d[0].step, d[0].severity),
            (Some(1), Some(1), Severity::Error)
        );
    }

    #[test]
    fn a_single_saturated_step_is_not_reported() {
        let rec = recording(
            &[Activation::Tanh, Activation::Softmax],
            50,
            |step, layer, row| {
                if layer == 1 {
                    row.saturated_frac = Some(if step == 20 { 1.0 } else { 0.05 });
                }
            },
        );
        assert!(
            saturated_activations(&context_from(&rec, LossKind::Mse), &Thresholds::default())
                .is_empty()
        );
    }

    #[test]
    fn saturated_softmax_counts_under_mse_only() {
        let rec = recording(
            &[Activation::Relu, Activation::Softmax],
            50,
            |_, layer, row| {
                if layer == 2 {
                    row.saturated_frac = Some(0.95);
                }
            },
        );
        let th = Thresholds::default();
        assert!(saturated_activations(&context_from(&rec, LossKind::CrossEntropy), &th).is_empty());
        let d = saturated_activations(&context_from(&rec, LossKind::Mse), &th);
        assert_eq!(d[0].layer, Some(2));
        assert!(d[0].suggestions[0].contains("cross_entropy"));
    }

    /// A one-unit softmax's output slope is identically 0 (it is the
    /// constant 1), which `one-unit-softmax` names; saturation is not
    /// reported for it, while a ten-unit softmax under MSE still is.
    #[test]
    fn a_one_unit_softmax_is_not_called_saturated() {
        let mut rec = recording(
            &[Activation::Relu, Activation::Softmax],
            50,
            |_, layer, row| {
                if layer == 2 {
                    row.saturated_frac = Some(1.0);
                }
            },
        );
        let th = Thresholds::default();
        assert_eq!(
            saturated_activations(&context_from(&rec, LossKind::Mse), &th).len(),
            1
        );
        rec.layers[1].units = 1;
        assert!(saturated_activations(&context_from(&rec, LossKind::Mse), &th).is_empty());
    }

    #[test]
    fn dead_relus_need_a_sustained_majority() {
        let rec = recording(
            &[Activation::Relu, Activation::Softmax],
            50,
            |step, layer, row| {
                if layer == 1 {
                    row.dead_frac = Some(if step > 25 { 0.8 } else { 0.1 });
                }
            },
        );
        let d = dead_relus(
            &context_from(&rec, LossKind::CrossEntropy),
            &Thresholds::default(),
        );
        assert_eq!(d.len(), 1);
        assert_eq!((d[0].severity, d[0].step), (Severity::Warning, Some(26)));
        // Died after training began: an update did it, so the rate leads.
        assert!(
            d[0].suggestions[0].contains("learning rate"),
            "{:?}",
            d[0].suggestions
        );
    }

    #[test]
    fn relus_dead_from_the_first_step_lead_with_the_init_fix() {
        // Units dead before any update (e.g. bias_init = -10) were killed by
        // the initialisation: lowering the learning rate cannot help.
        let rec = recording(
            &[Activation::Relu, Activation::Softmax],
            50,
            |_, layer, row| {
                if layer == 1 {
                    row.dead_frac = Some(1.0);
                }
            },
        );
        let d = dead_relus(
            &context_from(&rec, LossKind::CrossEntropy),
            &Thresholds::default(),
        );
        assert_eq!((d[0].severity, d[0].step), (Severity::Error, Some(1)));
        assert!(
            d[0].suggestions[0].contains("bias_init"),
            "{:?}",
            d[0].suggestions
        );
    }
}

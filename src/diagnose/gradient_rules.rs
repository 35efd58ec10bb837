//! Rules about gradient magnitudes: vanishing (lower layers get a tiny share
//! of the output layer's gradient) and exploding (gradients grow across
//! layers or over time). Layers are compared by RMS gradient per weight so a
//! large layer is not favoured by its size.

use super::code::Code;
use super::context::Context;
use super::rule::{Explanation, FixKind, Need, Plot, Rule};
use super::series::{global_grad_norm, grad_rms, share_series};
use super::stats::{first_sustained, median};
use super::thresholds::Thresholds;
use super::types::{Diagnosis, Severity};
use crate::monitor::hook::Phase;

/// Per-step ratio of layer `l`'s RMS gradient to the output layer's.
fn ratios(ctx: &Context<'_>, layer: usize) -> (Vec<usize>, Vec<f64>) {
    let (steps, low) = grad_rms(ctx.recording, layer);
    let (_, top) = grad_rms(ctx.recording, ctx.depth());
    let r = low
        .iter()
        .zip(&top)
        .map(|(&a, &b)| if b > 0.0 { a / b } else { f64::NAN })
        .collect();
    (steps, r)
}

/// `vanishing-gradients`: the descriptor of [`vanishing_gradients`].
pub const VANISHING_GRADIENTS: Rule = Rule {
    code: Code::VanishingGradients,
    name: "vanishing-gradients",
    thresholds: &["vanishing_ratio", "saturation_warning", "window_share", "window_min", "window_max"],
    outcome_dependent: true,
    explains: &[],
    needs: &[Need::Column("grad_w_norm")],
    unless: &[],
    plot: Some(Plot::GradientRatio),
    plot_if_evidence: None,
    fixes: &[FixKind::FanInInit, FixKind::ReluHe],
    run: |ctx, th| vanishing_gradients(ctx, th).into_iter().collect(),
    explanation: Explanation {
                    title: "lower layers get almost no gradient",
            meaning: "A layer's RMS weight gradient stays below 1e-3 of the output layer's over a window of recorded steps.",
            why: "Each layer multiplies the gradient by its weights and activation slopes; saturated units or small weights shrink it geometrically with depth.",
            fix: "Keep units out of saturation (init, input scale), relu + he_normal, fewer layers, Adam.",
            look: "gradient_ratio.png: the layer's line below the dashed vanishing threshold (RMS gradient relative to the output layer).",
    },
};

/// `vanishing-gradients`: the lowest layer whose gradient stays below
/// `vanishing_ratio` of the output layer's.
pub fn vanishing_gradients(ctx: &Context<'_>, th: &Thresholds) -> Option<Diagnosis> {
    let depth = ctx.depth();
    if depth < 2 {
        return None;
    }
    for layer in 1..depth {
        let (steps, r) = ratios(ctx, layer);
        let w = th.window(r.len());
        let Some((i, med)) = first_sustained(&r, w, |m| m < th.vanishing_ratio) else {
            continue;
        };
        let (_, rms) = grad_rms(ctx.recording, layer);
        let (_, top) = grad_rms(ctx.recording, depth);
        let info = ctx.recording.layers.iter().find(|l| l.layer == layer);
        let act = info.map_or(String::new(), |l| format!(" ({})", l.activation));
        let step = steps.get(i).copied();
        let mut d = Diagnosis::new(
            Code::VanishingGradients,
            Severity::Error,
            format!(
                "Layer {layer}{act} receives a gradient {med:.2e} times the output layer's (RMS per weight, median over {w} recorded steps from step {}): its weights effectively do not learn.",
                step.unwrap_or(0)
            ),
        )
        .at(Some(layer), step)
        .with("ratio_to_output_layer_median", med)
        .with("grad_rms_median", median(&rms).unwrap_or(f64::NAN))
        .with("output_grad_rms_median", median(&top).unwrap_or(f64::NAN))
        .with("window_rows", w)
        .with("threshold", th.vanishing_ratio);
        // "Keep units out of saturation" only when they are measured
        // saturated: a deep tanh stack with tiny weights vanishes with no
        // saturation at all, and the fix there is the init.
        let saturating = ctx
            .recording
            .layers
            .iter()
            .filter(|l| l.layer >= layer && l.layer < depth)
            .filter(|l| l.activation.is_saturating())
            .any(|l| {
                let (_, sat, _) = share_series(
                    ctx.recording,
                    l.layer,
                    |p| p.saturated_frac,
                    |r| r.saturated_frac,
                );
                median(&sat).is_some_and(|m| m >= th.saturation_warning)
            });
        if saturating {
            d = d
                .suggest("Keep sigmoid/tanh units out of saturation: zero-mean, fan-in-scaled init (init = \"xavier_uniform\") and scaled inputs.")
                .suggest("Or use relu with init = \"he_normal\" in the hidden layers: its slope is 1 for active units.");
        } else {
            d = d
                .suggest("Use init = \"he_normal\" (relu family) or \"xavier_uniform\" so each layer preserves the gradient's scale.")
                .suggest("Fewer layers, or an optimizer with per-parameter step sizes (optimizer = \"adam\").");
        }
        return Some(d);
    }
    None
}

/// `exploding-gradients`: the descriptor of [`exploding_gradients`].
pub const EXPLODING_GRADIENTS: Rule = Rule {
    code: Code::ExplodingGradients,
    name: "exploding-gradients",
    thresholds: &["exploding_ratio", "exploding_growth", "window_share", "window_min", "window_max"],
    outcome_dependent: true,
    explains: &[],
    needs: &[Need::Column("grad_w_norm")],
    unless: &[],
    plot: Some(Plot::GradientNorms),
    plot_if_evidence: Some(("ratio_to_output_layer_median", Plot::GradientRatio)),
    fixes: &[FixKind::FanInInit, FixKind::ReluHe, FixKind::LowerLr, FixKind::ClipGradients],
    run: |ctx, th| exploding_gradients(ctx, th).into_iter().collect(),
    explanation: Explanation {
                    title: "gradients grow across layers or over time",
            meaning: "A lower layer's RMS gradient is over 100x the output layer's, the global gradient norm grew over 1000x during training, or an overflow was born in backward or the update.",
            why: "Weights with gain above 1 multiply gradients layer by layer; a too-high learning rate makes each step bigger than the last.",
            fix: "Clip gradients (train.clip_grad_norm), lower the learning rate, fan-in-scaled init.",
            look: "gradient_ratio.png above the dashed exploding threshold, or gradient_norms.png climbing; update_ratio.png far above the 1e-3 line.",
    },
};

/// `exploding-gradients`: lower layers' gradients far above the output
/// layer's, the global gradient norm growing by orders of magnitude, or a
/// non-finite value born in backward or the update from overflow.
pub fn exploding_gradients(ctx: &Context<'_>, th: &Thresholds) -> Option<Diagnosis> {
    let depth = ctx.depth();
    // Growth across depth needs depth: a layer at least two below the
    // output, and the layer above it also above the output's gradient. A
    // large per-weight ratio between a 2-input first layer and the output
    // alone is neither growth across depth nor over time.
    for layer in 1..depth.saturating_sub(1) {
        let (steps, r) = ratios(ctx, layer);
        let (_, above) = ratios(ctx, layer + 1);
        let w = th.window(r.len());
        let chain = |i: usize| {
            above
                .get(i..(i + w).min(above.len()))
                .and_then(median)
                .is_some_and(|m| m > 1.0)
        };
        if let Some((i, med)) = first_sustained(&r, w, |m| m > th.exploding_ratio)
            .filter(|(i, _)| chain(i.saturating_sub(w - 1).min(*i)))
        {
            let step = steps.get(i).copied();
            return Some(
                Diagnosis::new(
                    Code::ExplodingGradients,
                    Severity::Error,
                    format!(
                        "Layer {layer}'s gradient is {med:.3e} times the output layer's (RMS per weight, median over {w} recorded steps from step {}): gradients grow as they flow down the network.",
                        step.unwrap_or(0)
                    ),
                )
                .at(Some(layer), step)
                .with("ratio_to_output_layer_median", med)
                .with("window_rows", w)
                .with("threshold", th.exploding_ratio)
                .suggest("Clip gradients: set train.clip_grad_norm (e.g. 1.0 or 5.0).")
                .suggest("Use fan-in-scaled init (he_normal for relu, xavier_uniform for tanh/sigmoid): weights with gain above 1 multiply gradients layer by layer.")
                .suggest("Lower the learning rate."),
            );
        }
    }
    let (steps, g) = global_grad_norm(ctx.recording);
    let w = th.window(g.len());
    if g.len() >= 2 * w && w > 0 {
        let first = median(&g[..w]).unwrap_or(f64::NAN);
        let last = median(&g[g.len() - w..]).unwrap_or(f64::NAN);
        let growth = last / first;
        if first > 0.0 && growth.is_finite() && growth > th.exploding_growth {
            let at = g
                .iter()
                .position(|&v| v > first * th.exploding_growth.sqrt())
                .unwrap_or(0);
            return Some(
                Diagnosis::new(
                    Code::ExplodingGradients,
                    Severity::Error,
                    format!("The global gradient norm grew {growth:.3e}x over training (median {first:.3e} in the first {w} recorded steps, {last:.3e} in the last)."),
                )
                .at(None, steps.get(at).copied())
                .with("grad_norm_first_window", first)
                .with("grad_norm_last_window", last)
                .with("growth", growth)
                .with("threshold", th.exploding_growth)
                .suggest("Lower the learning rate: the loss surface is being climbed, not descended.")
                .suggest("Clip gradients: set train.clip_grad_norm (e.g. 1.0 or 5.0)."),
            );
        }
    }
    let origin = ctx.nan_origin?;
    let backward = matches!(
        origin.phase,
        Phase::BackwardOutput | Phase::BackwardDelta | Phase::BackwardWeightGrad | Phase::Update
    );
    let grown_forward = origin.phase == Phase::ForwardLinear && origin.step > 1;
    if !(backward || grown_forward) {
        return None;
    }
    Some(
        Diagnosis::new(
            Code::ExplodingGradients,
            Severity::Error,
            format!(
                "Values overflowed to {} in {} at step {}: updates made the numbers grow until they no longer fit.",
                origin.value, origin.phase, origin.step
            ),
        )
        .at(origin.layer, Some(origin.step))
        .with("phase", origin.phase.name())
        .with("kind", origin.kind.clone())
        .suggest("Lower the learning rate.")
        .suggest("Clip gradients: set train.clip_grad_norm (e.g. 1.0 or 5.0)."),
    )
}

#[cfg(test)]
mod tests {
    use super::super::testing::{context_from, recording};
    use super::*;
    use crate::config::LossKind;
    use crate::engine::activation::Activation;

    #[test]
    fn tiny_first_layer_gradient_vanishes() {
        // Layer 1 RMS 1e-22 vs layer 2 1e-4: ratio 1e-18 < 1e-3.
        let rec = recording(
            &[Activation::Sigmoid, Activation::Softmax],
            40,
            |_, layer, row| {
                row.grad_w_norm = if layer == 1 {
                    1e-22 * 10.0
                } else {
                    1e-4 * 10.0
                };
            },
        );
        let d = vanishing_gradients(&context_from(&rec, LossKind::Mse), &Thresholds::default())
            .unwrap();
        assert_eq!(d.layer, Some(1));
        assert!(d.suggestions[0].contains("xavier"));
    }

    #[test]
    fn comparable_gradients_neither_vanish_nor_explode() {
        let rec = recording(
            &[Activation::Relu, Activation::Relu, Activation::Softmax],
            40,
            |step, _, row| {
                row.grad_w_norm = 10.0 * (1.0 + 0.1 * (step % 3) as f64);
            },
        );
        let ctx = context_from(&rec, LossKind::CrossEntropy);
        assert!(vanishing_gradients(&ctx, &Thresholds::default()).is_none());
        assert!(exploding_gradients(&ctx, &Thresholds::default()).is_none());
    }

    #[test]
    fn growing_norm_explodes() {
        let rec = recording(
            &[Activation::Relu, Activation::Linear],
            60,
            |step, _, row| {
                row.grad_w_norm = 10f64.powf(step as f64 / 10.0);
            },
        );
        let d = exploding_gradients(&context_from(&rec, LossKind::Mse), &Thresholds::default())
            .unwrap();
        assert!(d.evidence["growth"].as_f64().unwrap() > 1e3);
    }
}

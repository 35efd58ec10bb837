//! `poor-initialization`: initial weights whose scale or sign pattern pushes
//! pre-activations far from where the activation has slope.

use super::code::Code;
use super::context::Context;
use super::rule::{Explanation, FixKind, Need, Plot, Rule};
use super::thresholds::Thresholds;
use super::types::{Diagnosis, Severity};
use crate::engine::activation::Activation;

/// `poor-initialization`: the descriptor of [`poor_initialization`].
pub const POOR_INITIALIZATION: Rule = Rule {
    code: Code::PoorInitialization,
    name: "poor-initialization",
    thresholds: &["init_gain_high", "init_gain_low", "init_mean_shift"],
    outcome_dependent: true,
    explains: &[Code::SaturatedActivations, Code::DeadRelus, Code::VanishingGradients, Code::ExplodingGradients, Code::NonFinite, Code::LossPlateau, Code::AccuracyAtChance],
    needs: &[Need::InitialWeights],
    unless: &[],
    plot: Some(Plot::PreActivations),
    plot_if_evidence: None,
    fixes: &[FixKind::FanInInit, FixKind::ReluHe],
    run: poor_initialization,
    explanation: Explanation {
                    title: "initial weights are the wrong scale or sign",
            meaning: "A layer's initial weights are all of one sign, all zero (hidden layer), or far too large or small for its fan-in (mean(W^2) x fan_in far from 1-2).",
            why: "Same-sign weights make fan_in terms add up instead of cancelling (the MNIST case: U[0,1) weights give pre-activations near +54); zero weights keep units identical forever; the wrong scale grows or shrinks signals layer by layer.",
            fix: "init = \"xavier_uniform\" for sigmoid/tanh/softmax, \"he_normal\" for relu-family layers; biases 0.",
            look: "pre_activations.png from step 1 (|z| far from 0, above the dashed saturation bound); summary.json evidence: weight mean/std and gain.",
    },
};

/// One diagnosis per badly initialised layer.
pub fn poor_initialization(ctx: &Context<'_>, th: &Thresholds) -> Vec<Diagnosis> {
    let depth = ctx.preflight.layers.len();
    let mut out = Vec::new();
    for s in &ctx.preflight.layers {
        let hidden = s.layer < depth;
        let shifted = s.fan_in >= 10 && s.mean.abs() > th.init_mean_shift * s.std && s.mean != 0.0;
        let problem = if s.all_zero && hidden {
            Some((Severity::Error, format!(
                "Layer {} ({}) starts with all weights zero: every unit computes the same thing and receives the same gradient, so they never become different.",
                s.layer, s.activation)))
        } else if shifted {
            Some((Severity::Error, format!(
                "Layer {} ({}) starts with weights of one sign (mean {:.3}, std {:.3}): its {} inputs add up instead of cancelling, so pre-activations start far from 0.",
                s.layer, s.activation, s.mean, s.std, s.fan_in)))
        } else if !s.all_zero && s.gain > th.init_gain_high {
            Some((Severity::Warning, format!(
                "Layer {} ({}) starts with weights too large for its fan-in: mean(W^2) x fan_in = {:.3} (He init: 2, Xavier: <= 2); pre-activations grow about {:.1}x in scale.",
                s.layer, s.activation, s.gain, s.gain.sqrt())))
        } else if !s.all_zero && s.gain < th.init_gain_low {
            Some((Severity::Warning, format!(
                "Layer {} ({}) starts with weights too small for its fan-in: mean(W^2) x fan_in = {:.2e}; signals shrink about {:.1}x per layer.",
                s.layer, s.activation, s.gain, 1.0 / s.gain.sqrt())))
        } else {
            None
        };
        let Some((severity, message)) = problem else {
            continue;
        };
        let first_rows = ctx.recording.layer_rows(s.layer).next();
        let mut d = Diagnosis::new(Code::PoorInitialization, severity, message)
            .at(Some(s.layer), Some(0))
            .with("weight_mean", s.mean)
            .with("weight_std", s.std)
            .with("fan_in", s.fan_in)
            .with("gain_mean_sq_times_fan_in", s.gain);
        if let Some(r) = first_rows {
            d = d.with("step1_pre_activation_mean_abs", r.pre_mean_abs);
            if let Some(sat) = r.saturated_frac {
                d = d.with("step1_saturated_fraction", sat);
            }
        }
        if let (Some(expected), Some(initial)) =
            (ctx.preflight.expected_initial_loss, ctx.initial_loss())
        {
            d = d
                .with("expected_initial_loss", expected)
                .with("initial_loss", initial);
        }
        let recommended = if s.activation.is_relu_family() {
            "he_normal"
        } else {
            "xavier_uniform"
        };
        d = d.suggest(format!(
            "Use init = \"{recommended}\" on layer {} (zero-mean, variance scaled to fan-in{}).",
            s.layer,
            if recommended == "he_normal" {
                ": 2/fan_in"
            } else {
                " and fan-out: 2/(fan_in + fan_out)"
            }
        ));
        if s.activation == Activation::Sigmoid || s.activation == Activation::Tanh {
            d = d.suggest("Or switch the hidden activation to relu with init = \"he_normal\".");
        }
        out.push(d);
    }
    if out.is_empty() {
        out.extend(shrinking_stack(ctx, th));
    }
    out
}

/// Layers that each pass the per-layer test can still, stacked, shrink the
/// signal to nothing: four tanh layers of 64 units initialised in ±0.05
/// each have mean(W^2) x fan_in = 0.05 and together 6e-6. The product of
/// the hidden layers' gains (halved for the relu family, which zeroes half
/// its inputs: He init's 2 preserves the scale) below `init_gain_low` is a
/// warning at the last hidden layer.
fn shrinking_stack(ctx: &Context<'_>, th: &Thresholds) -> Option<Diagnosis> {
    let layers = &ctx.preflight.layers;
    let hidden = &layers[..layers.len().saturating_sub(1)];
    if hidden.len() < 2 || hidden.iter().any(|l| l.all_zero) {
        return None;
    }
    let product: f64 = hidden
        .iter()
        .map(|l| {
            if l.activation.is_relu_family() {
                l.gain / 2.0
            } else {
                l.gain
            }
        })
        .product();
    if product >= th.init_gain_low || product.is_nan() {
        return None;
    }
    let last = hidden.last()?;
    Some(
        Diagnosis::new(
            Code::PoorInitialization,
            Severity::Warning,
            format!(
                "Layers 1-{} together start by shrinking the signal's scale by a factor of {:.2e} (product of mean(W^2) x fan_in per layer, halved for relu): each layer passes on its own, but the stack leaves almost nothing for layer {} and almost no gradient for layer 1.",
                last.layer,
                product,
                last.layer + 1
            ),
        )
        .at(Some(last.layer), Some(0))
        .with("gain_product", product)
        .with("layers", hidden.len())
        .with("threshold", th.init_gain_low)
        .suggest("Use init = \"xavier_uniform\" (tanh/sigmoid) or \"he_normal\" (relu) in every hidden layer: each then keeps the scale (gain ~1).")
        .suggest("Or use fewer layers."),
    )
}

#[cfg(test)]
mod tests {
    use super::super::testing::{context_with, preflight_with_layers};
    use super::*;
    use crate::diagnose::preflight::InitStats;

    fn stats(layer: usize, mean: f64, std: f64, fan_in: usize) -> InitStats {
        InitStats {
            layer,
            fan_in,
            units: 10,
            activation: Activation::Sigmoid,
            mean,
            std,
            gain: (mean * mean + std * std) * fan_in as f64,
            all_zero: mean == 0.0 && std == 0.0,
        }
    }

    #[test]
    fn all_positive_uniform_is_an_error() {
        // The seed case: U[0,1) has mean 0.5 and std 1/sqrt(12) = 0.289.
        let pf = preflight_with_layers(vec![stats(1, 0.5, 0.289, 784), stats(2, 0.0, 0.03, 1000)]);
        let d = poor_initialization(&context_with(&pf), &Thresholds::default());
        assert_eq!(d.len(), 1);
        assert_eq!((d[0].layer, d[0].severity), (Some(1), Severity::Error));
    }

    #[test]
    fn xavier_scale_passes_and_huge_scale_warns() {
        // Xavier for 784 -> 100: var = 2/884, gain = 784 * 2/884 = 1.77.
        let ok = (2.0f64 / 884.0).sqrt();
        let pf = preflight_with_layers(vec![stats(1, 0.0, ok, 784), stats(2, 0.0, 1.0, 100)]);
        let d = poor_initialization(&context_with(&pf), &Thresholds::default());
        assert_eq!(d.len(), 1);
        assert_eq!((d[0].layer, d[0].severity), (Some(2), Severity::Warning));
    }

    #[test]
    fn zero_hidden_layer_is_an_error_but_zero_output_layer_is_fine() {
        let pf = preflight_with_layers(vec![stats(1, 0.0, 0.0, 20), stats(2, 0.0, 0.0, 10)]);
        let d = poor_initialization(&context_with(&pf), &Thresholds::default());
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].layer, Some(1));
    }

    #[test]
    fn a_stack_of_small_layers_shrinks_the_signal() {
        // Source of truth: U(-0.05, 0.05) has mean(W^2) = 0.05^2 / 3, so a
        // 64-input tanh layer has gain 64 * 8.33e-4 = 0.0533: each passes
        // the per-layer 0.01 floor, three stacked give 1.5e-4.
        let std = 0.05 / 3f64.sqrt();
        let mut layers: Vec<InitStats> = (1..=4).map(|l| stats(l, 0.0, std, 64)).collect();
        for l in &mut layers {
            l.activation = Activation::Tanh;
        }
        let pf = preflight_with_layers(layers);
        let d = poor_initialization(&context_with(&pf), &Thresholds::default());
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!((d[0].layer, d[0].severity), (Some(3), Severity::Warning));
    }
}

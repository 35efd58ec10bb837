//! Rules about the input data: non-finite values and unscaled features.

use super::code::Code;
use super::context::Context;
use super::rule::{Explanation, FixKind, Need, Plot, Rule};
use super::thresholds::Thresholds;
use super::types::{Diagnosis, Severity};

/// `non-finite-data`: the descriptor of [`non_finite_data`].
pub const NON_FINITE_DATA: Rule = Rule {
    code: Code::NonFiniteData,
    name: "non-finite-data",
    thresholds: &[],
    outcome_dependent: false,
    explains: &[],
    needs: &[Need::InputStats],
    unless: &[],
    plot: None,
    plot_if_evidence: None,
    fixes: &[],
    run: |ctx, th| non_finite_data(ctx, th).into_iter().collect(),
    explanation: Explanation {
                    title: "the training data contains NaN or Inf",
            meaning: "Some input features are NaN or Inf; every forward pass through them is NaN, so training is not started.",
            why: "Missing values in a CSV, a division by zero in preprocessing, a corrupted file.",
            fix: "Drop or impute the affected samples; check custom normalisation for a zero standard deviation.",
            look: "summary.json: evidence first_sample / first_feature.",
    },
};

/// `non-finite-data`: NaN or Inf in the training inputs. Training is skipped
/// when this fires: every step would be NaN from the first.
pub fn non_finite_data(ctx: &Context<'_>, _th: &Thresholds) -> Option<Diagnosis> {
    let input = &ctx.preflight.input;
    if input.nonfinite == 0 {
        return None;
    }
    let (s, f) = input.first_nonfinite.unwrap_or((0, 0));
    Some(
        Diagnosis::new(
            Code::NonFiniteData,
            Severity::Error,
            format!(
                "The training inputs hold {} non-finite values (first at sample {s}, feature {f}); every forward pass through them is NaN, so training was not started.",
                input.nonfinite
            ),
        )
        .at(None, Some(0))
        .with("nonfinite_values", input.nonfinite)
        .with("first_sample", s)
        .with("first_feature", f)
        .suggest("Find where the NaN/Inf enter the data (missing values in the CSV, a division by zero in preprocessing) and drop or impute those samples.")
        .suggest("With scale = \"standardize\", constant features are only centred; check any custom normalisation for a division by a zero standard deviation."),
    )
}

/// `unscaled-inputs`: the descriptor of [`unscaled_inputs`].
pub const UNSCALED_INPUTS: Rule = Rule {
    code: Code::UnscaledInputs,
    name: "unscaled-inputs",
    thresholds: &["input_rms", "feature_scale_ratio"],
    outcome_dependent: true,
    explains: &[Code::SaturatedActivations, Code::DeadRelus, Code::ExplodingGradients, Code::NonFinite, Code::LrTooHigh, Code::LossDiverging, Code::LossOscillating, Code::LossPlateau, Code::AccuracyAtChance],
    needs: &[Need::InputStats],
    unless: &[],
    plot: Some(Plot::PreActivations),
    plot_if_evidence: None,
    fixes: &[FixKind::ScaleInputs],
    run: |ctx, th| unscaled_inputs(ctx, th).into_iter().collect(),
    explanation: Explanation {
                    title: "inputs are far from unit scale",
            meaning: "The input features have an RMS well above 1 (raw pixels: ~80), or feature magnitudes differ by orders of magnitude.",
            why: "Large inputs make first-layer pre-activations large: sigmoid/tanh saturate immediately, and the first layer's gradient dominates the others.",
            fix: "[data] scale = \"unit\" for 8-bit pixels, or \"standardize\" for mixed features.",
            look: "pre_activations.png: layer 1's mean and max |z| (also in metrics.csv, pre_min/pre_max/pre_mean_abs).",
    },
};

/// `unscaled-inputs`: features far from unit scale, or of wildly different
/// scales: large inputs saturate sigmoid/tanh units at once and make the
/// first layer's gradient dominate.
pub fn unscaled_inputs(ctx: &Context<'_>, th: &Thresholds) -> Option<Diagnosis> {
    let input = &ctx.preflight.input;
    let spread = input.feature_scale_max / input.feature_scale_min_nonzero;
    let too_large = input.rms > th.input_rms;
    let uneven = spread.is_finite() && spread > th.feature_scale_ratio;
    if !(too_large || uneven) {
        return None;
    }
    let message = if too_large {
        format!(
            "Input features have RMS {:.3} (range {:.4} to {:.4}); networks train best on inputs of order 1 (unit-scaled MNIST: ~0.3).",
            input.rms, input.min, input.max
        )
    } else {
        format!(
            "Feature scales differ by a factor of {spread:.3e} (per-feature max |x| from {:.3e} to {:.3e}): the largest features dominate the first layer.",
            input.feature_scale_min_nonzero, input.feature_scale_max
        )
    };
    let mut d = Diagnosis::new(Code::UnscaledInputs, Severity::Warning, message)
        .at(None, Some(0))
        .with("input_rms", input.rms)
        .with("input_min", input.min)
        .with("input_max", input.max)
        .with("feature_scale_ratio", spread)
        .with("threshold_rms", th.input_rms);
    if input.max > 1.5 && input.min >= 0.0 && input.max <= 255.0 {
        d = d.suggest(
            "Set [data] scale = \"unit\" (divide by 255): the values look like raw 8-bit pixels.",
        );
    }
    Some(
        d.suggest(
            "Set [data] scale = \"standardize\" (per-feature z-score from the training set).",
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::super::testing::{context_with, preflight_with_input};
    use super::*;

    #[test]
    fn raw_pixels_are_unscaled() {
        // Raw MNIST-like pixels: RMS ~ 80 (0..255).
        let pf = preflight_with_input(80.0, 0.0, 255.0, 0);
        let d = unscaled_inputs(&context_with(&pf), &Thresholds::default()).unwrap();
        assert!(d.suggestions[0].contains("unit"));
    }

    #[test]
    fn unit_scaled_inputs_pass() {
        let pf = preflight_with_input(0.3, 0.0, 1.0, 0);
        assert!(unscaled_inputs(&context_with(&pf), &Thresholds::default()).is_none());
    }

    #[test]
    fn nan_in_data_is_an_error() {
        let pf = preflight_with_input(0.3, 0.0, 1.0, 3);
        let d = non_finite_data(&context_with(&pf), &Thresholds::default()).unwrap();
        assert_eq!(d.severity, Severity::Error);
        assert!(non_finite_data(
            &context_with(&preflight_with_input(0.3, 0.0, 1.0, 0)),
            &Thresholds::default()
        )
        .is_none());
    }
}

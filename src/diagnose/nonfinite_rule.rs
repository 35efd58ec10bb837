//! `non-finite`: training produced NaN or Inf; the tracer's origin is the
//! evidence.

use super::code::Code;
use super::context::Context;
use super::rule::{Explanation, FixKind, Need, Plot, Rule};
use super::thresholds::Thresholds;
use super::types::{Diagnosis, Severity};
use crate::monitor::hook::Phase;

/// `non-finite`: the descriptor of [`non_finite`].
pub const NON_FINITE: Rule = Rule {
    code: Code::NonFinite,
    name: "non-finite",
    thresholds: &[],
    outcome_dependent: false,
    explains: &[],
    needs: &[Need::NanWatch],
    unless: &[],
    plot: Some(Plot::GradientNorms),
    plot_if_evidence: None,
    fixes: &[FixKind::LowerLr, FixKind::ClipGradients],
    run: |ctx, th| non_finite(ctx, th).into_iter().collect(),
    explanation: Explanation {
                    title: "a NaN or Inf appeared during training",
            meaning: "An operation produced NaN or Inf from finite inputs. nn-doctor names that operation (phase, layer, element), the kind (overflow, inf-inf, 0*inf, ...) and the largest input magnitudes, then stops training.",
            why: "Values grew past the float range: too high a learning rate, exploding gradients, unscaled inputs, or a numerically naive formula (softmax without subtracting the max, log of a probability that underflowed to 0).",
            fix: "Lower the learning rate, clip gradients (train.clip_grad_norm), scale the inputs, use fan-in-scaled init. Use f64 only to confirm the diagnosis, not as the fix.",
            look: "gradient_norms.png and update_ratio.png climb before the red 'first non-finite' line; activations.png shows ranges widening.",
    },
};

pub fn non_finite(ctx: &Context<'_>, _th: &Thresholds) -> Option<Diagnosis> {
    let o = ctx.nan_origin?;
    let mut d = Diagnosis::new(Code::NonFinite, Severity::Error, o.detail.clone())
        .at(o.layer, Some(o.step))
        .with("phase", o.phase.name())
        .with("kind", o.kind.clone())
        .with("tensor", o.tensor.clone())
        .with("index", o.index.clone())
        .with("value", o.value.clone());
    for i in &o.inputs {
        d = d.with(&format!("max_abs {}", i.name), i.max_abs);
    }
    d = match o.phase {
        Phase::Input => d.suggest("Remove or impute the non-finite values in the data."),
        Phase::Loss => d
            .suggest("Use a bounded output (softmax/sigmoid) or scale the targets.")
            .suggest("Lower the learning rate."),
        _ => d
            .suggest("Lower the learning rate (try 10x lower).")
            .suggest("Clip gradients: set train.clip_grad_norm (e.g. 1.0 or 5.0).")
            .suggest("Scale the inputs and use fan-in-scaled init so values start of order 1."),
    };
    Some(d)
}

#[cfg(test)]
mod tests {
    use super::super::testing::{context_from, recording};
    use super::*;
    use crate::config::LossKind;
    use crate::engine::activation::Activation;
    use crate::monitor::nonfinite::{InputMagnitude, NanOrigin};

    #[test]
    fn the_traced_origin_becomes_the_evidence() {
        let rec = recording(&[Activation::Relu, Activation::Linear], 5, |_, _, _| {});
        let origin = NanOrigin {
            step: 4,
            layer: Some(1),
            phase: Phase::BackwardDelta,
            kind: "0*inf".into(),
            tensor: "delta".into(),
            index: vec![0, 3],
            sample: Some(0),
            unit: Some(3),
            value: "NaN".into(),
            inputs: vec![InputMagnitude {
                name: "upstream delta row 0".into(),
                max_abs: 3e38,
            }],
            detail: "step 4: backward.delta of layer 1 produced NaN".into(),
        };
        let mut ctx = context_from(&rec, LossKind::Mse);
        assert!(non_finite(&ctx, &Thresholds::default()).is_none());
        ctx.nan_origin = Some(&origin);
        let d = non_finite(&ctx, &Thresholds::default()).unwrap();
        assert_eq!(
            (d.layer, d.step, d.severity),
            (Some(1), Some(4), Severity::Error)
        );
        assert_eq!(d.evidence["kind"], "0*inf");
        assert!(d.suggestions[0].contains("learning rate"));
    }
}

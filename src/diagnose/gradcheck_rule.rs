//! `gradient-mismatch`: the analytic gradients disagree with finite
//! differences; evidence is the first wrong tensor and the mistake it
//! matches.

use super::code::Code;
use super::context::Context;
use super::rule::{Explanation, Need, Rule};
use super::thresholds::Thresholds;
use super::types::{Diagnosis, Severity};

/// `gradient-mismatch`: the descriptor of [`gradient_mismatch`].
pub const GRADIENT_MISMATCH: Rule = Rule {
    code: Code::GradientMismatch,
    name: "gradient-mismatch",
    thresholds: &[],
    outcome_dependent: false,
    explains: &[],
    needs: &[Need::GradientCheck],
    unless: &[],
    plot: None,
    plot_if_evidence: None,
    fixes: &[],
    run: |ctx, th| gradient_mismatch(ctx, th).into_iter().collect(),
    explanation: Explanation {
                    title: "analytic gradients disagree with finite differences",
            meaning: "The backward pass computes gradients that central finite differences of the loss contradict. The first wrong tensor (nearest the output) and its worst element are named, with the known backprop mistake it matches when one does.",
            why: "A bug in backward: a missing derivative (e.g. softmax under MSE), a transposed or wrongly-scaled gradient, the wrong layer's activations. No tuning fixes wrong gradients.",
            fix: "Fix the named mistake; `nn-doctor verify-trace` on a dumped step of your own implementation names the first wrong tensor.",
            look: "gradcheck.csv lists every comparison; the JUnit file marks the failing tensors.",
    },
};

pub fn gradient_mismatch(ctx: &Context<'_>, _th: &Thresholds) -> Option<Diagnosis> {
    let report = ctx.gradcheck?;
    if report.passed {
        return None;
    }
    let f = report.first_wrong.as_ref()?;
    let place = f
        .layer
        .map_or("The whole-network direction".to_string(), |l| {
            format!("Layer {l} {}", f.tensor.name())
        });
    let matches =
        f.pattern
            .as_ref()
            .map_or(" It matches no known backprop mistake.".to_string(), |p| {
                let factor = p.factor.map_or(String::new(), |x| {
                    format!(" (factor {})", crate::numfmt::short(x))
                });
                format!(" It matches `{}`{factor}: {}.", p.code, p.explanation)
            });
    let message = format!("{place} (checked at {}): {}.{matches}", f.at, f.message);
    let mut d = Diagnosis::new(Code::GradientMismatch, Severity::Error, message)
        .at(f.layer, None)
        .with("at", f.at.clone())
        .with("tensor", f.tensor.name())
        .with("index", f.index.clone())
        .with("analytic", f.analytic)
        .with("numeric", f.numeric)
        .with("rel_error", f.rel_error);
    if let Some(p) = &f.pattern {
        d = d.with("pattern", p.code.clone());
        if let Some(factor) = p.factor {
            d = d.with("factor", factor);
        }
        d = d.suggest(format!("Fix the backward pass: {}.", p.explanation));
    }
    Some(
        d.suggest("Compare each backward tensor with a reference: `nn-doctor verify-trace` on a dumped step names the first wrong one.")
            .suggest("No learning-rate or initialisation change can fix wrong gradients: fix them first."),
    )
}

#[cfg(test)]
mod tests {
    use super::super::testing::{context_from, recording};
    use super::*;
    use crate::config::LossKind;
    use crate::engine::activation::Activation;
    use crate::gradcheck::types::{Finding, GradcheckReport, PatternMatch, TensorKind};

    fn report(passed: bool) -> GradcheckReport {
        GradcheckReport {
            status: if passed {
                crate::gradcheck::types::Status::Pass
            } else {
                crate::gradcheck::types::Status::Fail
            },
            counts: Default::default(),
            passed,
            max_rel_error: if passed { 1e-9 } else { 1.9 },
            tensors: Vec::new(),
            rows: Vec::new(),
            first_wrong: (!passed).then(|| Finding {
                at: "init".into(),
                layer: Some(2),
                tensor: TensorKind::Weight,
                index: vec![3, 1],
                analytic: 0.2,
                numeric: -0.1,
                rel_error: 1.5,
                pattern: Some(PatternMatch {
                    code: "sign-flipped".into(),
                    explanation: "the gradient has the wrong sign".into(),
                    factor: Some(-1.0),
                }),
                message: "analytic and finite-difference gradients disagree".into(),
            }),
            parameters: 100,
            seconds: 0.1,
            epsilon: 1e-6,
            rtol: 1e-4,
            atol: 1e-7,
        }
    }

    #[test]
    fn a_failed_check_names_layer_tensor_and_pattern() {
        let rec = recording(&[Activation::Tanh, Activation::Softmax], 5, |_, _, _| {});
        let mut ctx = context_from(&rec, LossKind::CrossEntropy);
        let ok = report(true);
        ctx.gradcheck = Some(&ok);
        assert!(gradient_mismatch(&ctx, &Thresholds::default()).is_none());
        let bad = report(false);
        ctx.gradcheck = Some(&bad);
        let d = gradient_mismatch(&ctx, &Thresholds::default()).unwrap();
        assert_eq!((d.layer, d.severity), (Some(2), Severity::Error));
        assert_eq!(d.evidence["pattern"], "sign-flipped");
        assert!(
            d.message.contains("Layer 2 weight") && d.message.contains("sign-flipped"),
            "{}",
            d.message
        );
    }
}

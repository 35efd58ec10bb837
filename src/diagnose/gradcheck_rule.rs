//! `gradient-mismatch`: the analytic gradients disagree with finite
//! differences; evidence is the first wrong tensor and the mistake it
//! matches.

use super::context::Context;
use super::thresholds::Thresholds;
use super::types::{Diagnosis, Severity};

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
    let mut d = Diagnosis::new("gradient-mismatch", Severity::Error, message)
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

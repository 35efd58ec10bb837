//! `non-finite`: training produced NaN or Inf; the tracer's origin is the
//! evidence.

use super::context::Context;
use super::thresholds::Thresholds;
use super::types::{Diagnosis, Severity};
use crate::monitor::hook::Phase;

pub fn non_finite(ctx: &Context<'_>, _th: &Thresholds) -> Option<Diagnosis> {
    let o = ctx.nan_origin?;
    let mut d = Diagnosis::new("non-finite", Severity::Error, o.detail.clone())
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

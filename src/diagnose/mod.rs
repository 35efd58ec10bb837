//! Diagnoses: rules that read a run's recorded series and pre-flight facts
//! and say what is wrong, where, since when, with the numbers behind it and
//! concrete fixes. One file per rule family; thresholds live in
//! [`thresholds`].

mod activation_rules;
pub mod context;
mod data_rules;
pub mod explain;
mod gradcheck_rule;
mod gradient_rules;
mod init_rules;
mod loss_rules;
mod nonfinite_rule;
pub mod preflight;
mod series;
pub mod skipped;
pub mod stats;
#[cfg(test)]
mod testing;
pub mod thresholds;
mod training_rules;
pub mod types;

pub use context::Context;
pub use skipped::Skipped;
pub use thresholds::Thresholds;
pub use types::{Diagnosis, Severity, CODES};

/// Runs every rule. The result is ordered most important first: by
/// severity, then by the step it was first seen, then by layer.
pub fn diagnose(ctx: &Context<'_>, th: &Thresholds) -> Vec<Diagnosis> {
    let mut out: Vec<Diagnosis> = Vec::new();
    out.extend(nonfinite_rule::non_finite(ctx, th));
    out.extend(gradcheck_rule::gradient_mismatch(ctx, th));
    out.extend(data_rules::non_finite_data(ctx, th));
    out.extend(data_rules::unscaled_inputs(ctx, th));
    out.extend(init_rules::poor_initialization(ctx, th));
    out.extend(activation_rules::saturated_activations(ctx, th));
    out.extend(activation_rules::dead_relus(ctx, th));
    out.extend(gradient_rules::vanishing_gradients(ctx, th));
    out.extend(gradient_rules::exploding_gradients(ctx, th));
    out.extend(loss_rules::loss_plateau(ctx, th));
    out.extend(loss_rules::loss_diverging(ctx, th));
    out.extend(training_rules::loss_oscillating(ctx, th));
    out.extend(training_rules::lr_too_high(ctx, th));
    // Tiny updates are the learning rate's fault only when nothing else
    // (saturation, vanishing gradients) already explains them.
    if !out
        .iter()
        .any(|d| matches!(d.code, "saturated-activations" | "vanishing-gradients"))
    {
        out.extend(training_rules::lr_too_low(ctx, th));
    }
    out.extend(training_rules::accuracy_at_chance(ctx, th));
    out.extend(training_rules::output_loss_mismatch(ctx, th));
    sort(&mut out);
    out
}

/// Most important first. Causes seen earlier outrank their later symptoms.
pub fn sort(diagnoses: &mut [Diagnosis]) {
    diagnoses.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then(rank(a.code).cmp(&rank(b.code)))
            .then(a.step.cmp(&b.step))
            .then(a.layer.cmp(&b.layer))
    });
}

/// Causal order of codes: data before init before activations before
/// gradients before the loss curve they produce.
fn rank(code: &str) -> usize {
    CODES.iter().position(|c| *c == code).unwrap_or(CODES.len())
}

/// The worst severity, if any diagnosis was made.
pub fn worst(diagnoses: &[Diagnosis]) -> Option<Severity> {
    diagnoses.iter().map(|d| d.severity).max()
}

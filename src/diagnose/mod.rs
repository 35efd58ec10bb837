//! Diagnoses: rules that read a run's recorded series and pre-flight facts
//! and say what is wrong, where, since when, with the numbers behind it and
//! concrete fixes. One file per rule family; thresholds live in
//! [`thresholds`].

mod activation_rules;
mod architecture_rules;
pub mod certainty;
pub mod context;
mod data_rules;
pub mod explain;
mod fit_rules;
mod gradcheck_rule;
mod gradient_rules;
mod init_rules;
mod layer_kind_rules;
mod loss_rules;
mod nonfinite_rule;
pub mod outcome;
pub mod preflight;
pub mod series;
pub mod skipped;
pub mod stats;
mod task_rules;
#[cfg(test)]
pub(crate) mod testing;
pub use crate::config::thresholds;
mod training_rules;
pub mod types;

pub use context::Context;
pub use layer_kind_rules::DROPOUT_HIGH;
pub use skipped::Skipped;
pub use thresholds::Thresholds;
pub use types::{Diagnosis, Severity, CODES};

/// Runs every rule, then lets severity follow the outcome (a run that
/// trained well gets info, a hurt run's pre-flight cause becomes an error)
/// and orders the result causes first: by severity, then causal rank, then
/// the step it was first seen, then layer.
pub fn diagnose(ctx: &Context<'_>, th: &Thresholds) -> Vec<Diagnosis> {
    let mut out: Vec<Diagnosis> = Vec::new();
    out.extend(nonfinite_rule::non_finite(ctx, th));
    out.extend(gradcheck_rule::gradient_mismatch(ctx, th));
    out.extend(data_rules::non_finite_data(ctx, th));
    out.extend(data_rules::unscaled_inputs(ctx, th));
    out.extend(task_rules::unscaled_targets(ctx, th));
    out.extend(fit_rules::class_imbalance(ctx, th));
    out.extend(init_rules::poor_initialization(ctx, th));
    out.extend(architecture_rules::hidden_softmax(ctx, th));
    out.extend(architecture_rules::one_unit_softmax(ctx, th));
    out.extend(architecture_rules::output_units_mismatch(ctx, th));
    out.extend(architecture_rules::batch_norm_small_batch(ctx, th));
    out.extend(layer_kind_rules::dropout_too_high(ctx, th));
    out.extend(activation_rules::saturated_activations(ctx, th));
    out.extend(activation_rules::dead_relus(ctx, th));
    out.extend(gradient_rules::vanishing_gradients(ctx, th));
    out.extend(gradient_rules::exploding_gradients(ctx, th));
    out.extend(loss_rules::loss_plateau(ctx, th));
    out.extend(loss_rules::loss_diverging(ctx, th));
    out.extend(fit_rules::overfitting(ctx, th));
    // With wrong gradients the learning rate cannot be judged: any rate
    // follows a wrong direction.
    let wrong_gradients = out.iter().any(|d| d.code == "gradient-mismatch");
    if !wrong_gradients {
        out.extend(training_rules::loss_oscillating(ctx, th));
        out.extend(training_rules::lr_too_high(ctx, th));
    }
    // Tiny updates are the learning rate's fault only when nothing else
    // (saturation, vanishing gradients) already explains them.
    if !wrong_gradients
        && !out
            .iter()
            .any(|d| matches!(d.code, "saturated-activations" | "vanishing-gradients"))
    {
        out.extend(training_rules::lr_too_low(ctx, th));
    }
    out.extend(training_rules::accuracy_at_chance(ctx, th));
    out.extend(task_rules::no_better_than_mean(ctx, th));
    out.extend(training_rules::output_loss_mismatch(ctx, th));
    outcome::apply(ctx, th, &mut out);
    sort(&mut out);
    outcome::tidy_suggestions(&mut out);
    out
}

/// Most important first: severity, then causes before the symptoms they
/// produce, then the step first seen, then layer.
pub fn sort(diagnoses: &mut [Diagnosis]) {
    diagnoses.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then(rank(a.code).cmp(&rank(b.code)))
            .then(a.step.cmp(&b.step))
            .then(a.layer.cmp(&b.layer))
    });
}

/// Causal order of codes: a wrong gradient, then the data, then the
/// configuration (init, loss, learning rate), then what they do to units
/// and gradients, then the loss curve and accuracy that result. A learning
/// rate that blew the loss up ranks before the dead units it caused.
pub const CAUSAL_ORDER: [&str; 25] = [
    "gradient-mismatch",
    "non-finite-data",
    "unscaled-inputs",
    "unscaled-targets",
    "class-imbalance",
    "poor-initialization",
    "one-unit-softmax",
    "output-units-mismatch",
    "hidden-softmax",
    "output-loss-mismatch",
    "batch-norm-small-batch",
    "dropout-too-high",
    "lr-too-high",
    "lr-too-low",
    "saturated-activations",
    "dead-relus",
    "vanishing-gradients",
    "exploding-gradients",
    "non-finite",
    "loss-diverging",
    "loss-oscillating",
    "overfitting",
    "loss-plateau",
    "accuracy-at-chance",
    "no-better-than-mean",
];

fn rank(code: &str) -> usize {
    CAUSAL_ORDER
        .iter()
        .position(|c| *c == code)
        .unwrap_or(CAUSAL_ORDER.len())
}

/// The worst severity, if any diagnosis was made.
pub fn worst(diagnoses: &[Diagnosis]) -> Option<Severity> {
    diagnoses.iter().map(|d| d.severity).max()
}

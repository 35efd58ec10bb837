//! Diagnoses: rules that read a run's recorded series and pre-flight facts
//! and say what is wrong, where, since when, with the numbers behind it and
//! concrete fixes. One file per rule family, each rule's [`Rule`]
//! descriptor beside its function, all of them listed once in
//! [`registry::RULES`]; thresholds live in [`thresholds`].

mod activation_rules;
mod architecture_rules;
pub mod certainty;
pub mod code;
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
pub mod registry;
pub mod rule;
pub mod series;
pub mod skipped;
pub mod stats;
mod task_rules;
#[cfg(test)]
pub(crate) mod testing;
pub use crate::config::thresholds;
mod training_rules;
pub mod types;

pub use code::Code;
pub use context::Context;
pub use layer_kind_rules::DROPOUT_HIGH;
pub use registry::RULES;
pub use rule::{FixKind, Plot, Rule};
pub use skipped::Skipped;
pub use thresholds::Thresholds;
pub use types::{Diagnosis, Severity};

/// Runs every rule of the registry (those with an `unless` after the
/// others, skipped when one of their `unless` codes was found), then lets
/// severity follow the outcome (a run that trained well gets info, a hurt
/// run's pre-flight cause becomes an error) and orders the result causes
/// first: by severity, then causal rank, then the step it was first seen,
/// then layer.
pub fn diagnose(ctx: &Context<'_>, th: &Thresholds) -> Vec<Diagnosis> {
    let mut out: Vec<Diagnosis> = Vec::new();
    for rule in RULES.iter().filter(|r| r.unless.is_empty()) {
        out.extend((rule.run)(ctx, th));
    }
    let found: Vec<Code> = out.iter().map(|d| d.code).collect();
    for rule in RULES.iter().filter(|r| !r.unless.is_empty()) {
        if !rule.unless.iter().any(|c| found.contains(c)) {
            out.extend((rule.run)(ctx, th));
        }
    }
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
            .then(a.code.rank().cmp(&b.code.rank()))
            .then(a.step.cmp(&b.step))
            .then(a.layer.cmp(&b.layer))
    });
}

/// The worst severity, if any diagnosis was made.
pub fn worst(diagnoses: &[Diagnosis]) -> Option<Severity> {
    diagnoses.iter().map(|d| d.severity).max()
}

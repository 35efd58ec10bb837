//! Severity follows outcome, and causes come before symptoms. A pre-flight
//! or symptom finding on a run that trained well is info (with the reason);
//! a pre-flight cause on a run that was hurt, alongside an error it
//! explains, is an error itself, so the headline names the cause.

use super::code::Code;
use super::context::Context;
use super::loss_rules::overall_drop;
use super::thresholds::Thresholds;
use super::types::{Diagnosis, Severity};
use crate::numfmt::short;

/// How training went, for the severity of outcome-dependent findings.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainedWell {
    pub loss_drop: f64,
    pub accuracy: f64,
    pub chance: f64,
    /// What `accuracy` is: "accuracy", "R^2" or "exact match".
    pub metric: &'static str,
}

/// Whether the run trained well: the loss fell by more than
/// `trained_well_drop` (first vs last window) and the last accuracy (test,
/// else recent batches) is more than `chance_sigmas` standard errors above
/// chance on the set it was measured on.
pub fn trained_well(ctx: &Context<'_>, th: &Thresholds) -> Option<TrainedWell> {
    if ctx.nan_origin.is_some() {
        return None;
    }
    let steps = &ctx.recording.steps;
    let drop = overall_drop(ctx, th)?;
    if drop <= th.trained_well_drop || drop.is_nan() {
        return None;
    }
    let pf = ctx.preflight;
    if pf.task.task != crate::data::spec::Task::Classification {
        return task_trained_well(ctx, th, drop);
    }
    let (acc, n, chance) = match steps.iter().rev().find_map(|s| s.test_accuracy) {
        Some(a) if pf.test_samples > 0 => {
            let chance = if pf.test_class_counts.iter().sum::<usize>() > 0 {
                super::preflight::chance_from_counts(&pf.test_class_counts)
            } else {
                pf.chance_accuracy
            };
            (a, pf.test_samples, chance)
        }
        _ => {
            let w = th.window(steps.len()).max(1);
            let recent = &steps[steps.len().saturating_sub(w)..];
            let a = recent.iter().map(|s| s.batch_accuracy).sum::<f64>() / recent.len() as f64;
            (a, recent.len() * pf.batch_size.max(1), pf.chance_accuracy)
        }
    };
    let se = (chance * (1.0 - chance) / n.max(1) as f64).sqrt();
    (acc > chance + th.chance_sigmas * se).then_some(TrainedWell {
        loss_drop: drop,
        accuracy: acc,
        chance,
        metric: "accuracy",
    })
}

/// Regression: the held-out gain over the training mean is more than
/// `chance_sigmas` standard errors above 0 (reported as R^2 against 0).
/// Multilabel: exact match more than `chance_sigmas` standard errors above
/// always predicting each label's majority value.
fn task_trained_well(ctx: &Context<'_>, th: &Thresholds, drop: f64) -> Option<TrainedWell> {
    let fit = ctx.preflight.task.held_out.as_ref()?;
    let (good, accuracy, chance, metric) = if let (Some(g), Some(se)) = (fit.gain_mean, fit.gain_se)
    {
        (
            g > th.chance_sigmas * se,
            fit.r2.unwrap_or(f64::NAN),
            0.0,
            "R^2",
        )
    } else {
        let (m, c) = (fit.exact_match?, fit.chance_exact_match?);
        let se = (c * (1.0 - c) / fit.samples.max(1) as f64).sqrt();
        (m > c + th.chance_sigmas * se, m, c, "exact match")
    };
    good.then_some(TrainedWell {
        loss_drop: drop,
        accuracy,
        chance,
        metric,
    })
}

/// Applies severity-follows-outcome to a list of diagnoses.
pub fn apply(ctx: &Context<'_>, th: &Thresholds, diagnoses: &mut [Diagnosis]) {
    if let Some(w) = trained_well(ctx, th) {
        let reason = format!(
            "the run trained well (loss fell {:.0}%, {} {} against chance {})",
            100.0 * w.loss_drop,
            w.metric,
            short(w.accuracy),
            short(w.chance)
        );
        for d in diagnoses.iter_mut() {
            if d.code.rule().outcome_dependent && d.severity > Severity::Info {
                d.evidence
                    .insert("severity_reason".into(), format!("info: {reason}").into());
                d.evidence
                    .insert("severity_before".into(), d.severity.name().into());
                d.severity = Severity::Info;
            }
        }
        return;
    }
    let errors: Vec<Code> = diagnoses
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .map(|d| d.code)
        .collect();
    for d in diagnoses.iter_mut() {
        let symptoms = d.code.rule().explains;
        let explained: Vec<&str> = errors
            .iter()
            .filter(|e| symptoms.contains(e))
            .map(|e| e.name())
            .collect();
        if d.severity < Severity::Error && !explained.is_empty() {
            d.evidence.insert(
                "severity_reason".into(),
                format!(
                    "error: training was hurt, and this explains {}",
                    explained.join(", ")
                )
                .into(),
            );
            d.evidence
                .insert("severity_before".into(), d.severity.name().into());
            d.severity = Severity::Error;
        }
    }
}

/// Drops advice that points at other diagnoses when there is none above.
pub fn tidy_suggestions(diagnoses: &mut [Diagnosis]) {
    let Some(first_error) = diagnoses.iter().position(|d| d.severity == Severity::Error) else {
        for d in diagnoses.iter_mut() {
            d.suggestions
                .retain(|s| !s.starts_with("Fix the errors above first"));
        }
        return;
    };
    for (i, d) in diagnoses.iter_mut().enumerate() {
        if i <= first_error {
            d.suggestions
                .retain(|s| !s.starts_with("Fix the errors above first"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{context_from, recording_with_loss};
    use super::*;
    use crate::config::LossKind;

    fn warning(code: Code) -> Diagnosis {
        Diagnosis::new(code, Severity::Warning, "x")
    }

    #[test]
    fn a_run_that_trained_well_turns_symptoms_into_info() {
        // Loss falls 2.3 -> ~0.1; test accuracy 0.9 against chance 0.1.
        let mut rec = recording_with_loss(300, |s| 2.3 * (-(s as f64) / 50.0).exp() + 0.1);
        rec.steps.last_mut().unwrap().test_accuracy = Some(0.9);
        let ctx = context_from(&rec, LossKind::CrossEntropy);
        let mut d = vec![warning(Code::UnscaledInputs), warning(Code::NonFinite)];
        apply(&ctx, &Thresholds::default(), &mut d);
        assert_eq!(d[0].severity, Severity::Info);
        assert!(d[0].evidence["severity_reason"]
            .as_str()
            .unwrap()
            .contains("trained well"));
        assert_eq!(d[1].severity, Severity::Warning);
    }

    #[test]
    fn a_hurt_run_raises_the_cause_of_its_errors() {
        let mut rec = recording_with_loss(300, |_| 2.3);
        rec.steps.last_mut().unwrap().test_accuracy = Some(0.1);
        let ctx = context_from(&rec, LossKind::CrossEntropy);
        let mut d = vec![
            warning(Code::UnscaledInputs),
            Diagnosis::new(Code::SaturatedActivations, Severity::Error, "x"),
        ];
        apply(&ctx, &Thresholds::default(), &mut d);
        assert_eq!(d[0].severity, Severity::Error);
    }
}

//! Rules about the layer kinds beyond dense that the per-layer series rules
//! do not name: dropout so high the network cannot fit
//! (`dropout-too-high`), read from the pre-flight layer facts and how
//! training went. (Batch norm at batch 1-2, `batch-norm-small-batch`, is
//! read from the layer list in `architecture_rules`.)

use super::code::Code;
use super::context::Context;
use super::outcome::trained_well;
use super::rule::{Explanation, FixKind, Rule};
use super::thresholds::Thresholds;
use super::types::{Diagnosis, Severity};
use crate::numfmt::short;

/// Dropout rates from here on drop at least half of a layer's units on
/// every step: the rate above which a run that does not fit is blamed on
/// dropout. (0.5 is the largest rate in common use, Srivastava et al. 2014;
/// at rates below it a failing run has other causes to look for.)
pub const DROPOUT_HIGH: f64 = 0.5;

/// `dropout-too-high`: the descriptor of [`dropout_too_high`].
pub const DROPOUT_TOO_HIGH: Rule = Rule {
    code: Code::DropoutTooHigh,
    name: "dropout-too-high",
    thresholds: &["chance_sigmas", "trained_well_drop", "window_share", "window_min", "window_max"],
    outcome_dependent: true,
    explains: &[Code::DeadRelus, Code::LossPlateau, Code::AccuracyAtChance],
    needs: &[],
    unless: &[],
    plot: None,
    plot_if_evidence: None,
    fixes: &[FixKind::DropoutLower],
    run: |ctx, th| dropout_too_high(ctx, th).into_iter().collect(),
    explanation: Explanation {
                    title: "dropout so high the network cannot fit",
            meaning: "A dropout layer has rate >= 0.5 and the run did not train well: the training loss did not fall by half, or accuracy stayed near chance. Evidence: the rate, the loss drop and the recent training batches' accuracy against chance. Never raised on a run that trained well, and not for rates below 0.5.",
            why: "Inverted dropout zeroes a share `rate` of the layer's inputs at every training step (and scales the rest by 1/(1 - rate)); at 0.9 only one unit in ten passes, so the layers after it see a different, mostly empty input at each step and the network underfits.",
            fix: "Lower the rate to 0.1-0.5 (0.2 after dense layers is a common start), or remove the dropout until the network fits, then add regularisation back. check --try-fixes verifies rate 0.2 by retraining (dropout-lower).",
            look: "loss.png: the training loss stays high; the test accuracy (measured without dropout) may still be above chance.",
    },
};

/// `dropout-too-high`: a dropout layer with rate >= [`DROPOUT_HIGH`] on a
/// run that did not train well (the loss did not fall by
/// `trained_well_drop`, or accuracy stayed near chance): with most units
/// dropped at every step the network cannot fit even its training batches.
/// Not raised when the run trained well, however high the rate, nor when a
/// non-finite value stopped training (that has its own cause). The
/// `--try-fixes` retrain at a lower rate is the verification.
pub fn dropout_too_high(ctx: &Context<'_>, th: &Thresholds) -> Option<Diagnosis> {
    let pf = ctx.preflight;
    let &(layer, rate) = pf
        .dropout
        .iter()
        .filter(|d| d.1 >= DROPOUT_HIGH)
        .max_by(|a, b| a.1.total_cmp(&b.1))?;
    if ctx.nan_origin.is_some() || trained_well(ctx, th).is_some() {
        return None;
    }
    let steps = &ctx.recording.steps;
    let w = th.window(steps.len()).max(1);
    let recent = &steps[steps.len().saturating_sub(w)..];
    if recent.is_empty() {
        return None;
    }
    let batch_accuracy = recent.iter().map(|s| s.batch_accuracy).sum::<f64>() / recent.len() as f64;
    let drop = super::loss_rules::overall_drop(ctx, th);
    let mut d = Diagnosis::new(
        Code::DropoutTooHigh,
        Severity::Warning,
        format!(
            "Dropout of rate {} (layer {layer}) drops {:.0}% of its inputs on every training step, and the network does not fit: the training loss fell {} and the recent training batches score {} accuracy (chance {}).",
            short(rate),
            100.0 * rate,
            drop.map_or("by an unknown share".into(), |d| format!("{:.0}%", 100.0 * d)),
            short(batch_accuracy),
            short(pf.chance_accuracy)
        ),
    )
    .at(Some(layer), Some(0))
    .with("rate", rate)
    .with("train_batch_accuracy", batch_accuracy)
    .with("chance", pf.chance_accuracy)
    .suggest(format!(
        "Lower rate on layer {layer} to 0.2 (0.1-0.5 is the usual range), or remove the dropout layer until the network fits."
    ));
    if let Some(drop) = drop {
        d = d.with("loss_drop", drop);
    }
    Some(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::diagnose::testing::*;

    /// A run of 60 steps with loss `loss(s)` and batch accuracy `acc`, and
    /// one dropout layer of `rate` at layer 3.
    fn dropout_run(loss: impl Fn(usize) -> f64, acc: f64, rate: f64) -> Option<Diagnosis> {
        let mut rec = recording_with_loss(60, loss);
        rec.steps.iter_mut().for_each(|s| s.batch_accuracy = acc);
        let mut pf = preflight_with_layers(Vec::new());
        pf.test_samples = 0;
        pf.dropout = vec![(3, rate)];
        let ctx = Context {
            recording: &rec,
            preflight: &pf,
            nan_origin: None,
            gradcheck: None,
        };
        dropout_too_high(&ctx, &Thresholds::default())
    }

    #[test]
    fn dropout_needs_a_high_rate_and_a_run_that_did_not_fit() {
        // Source of truth: by construction, a loss that falls 5% with
        // batch accuracy 0.2 (chance 0.1) has not fitted (trained_well
        // needs a 50% fall); one that falls 90% at accuracy 0.95 has.
        let flat = |s: usize| 2.3 - 0.002 * s as f64;
        let d = dropout_run(flat, 0.2, 0.9).unwrap();
        assert_eq!(d.layer, Some(3));
        assert_eq!(d.evidence["rate"], 0.9);
        assert_eq!(d.severity, Severity::Warning);
        // Moderate dropout is not blamed, even on a run that did not fit.
        assert!(dropout_run(flat, 0.2, 0.3).is_none());
        // A run that fitted is not blamed, whatever the rate.
        let fell = |s: usize| 2.3 * (1.0 - 0.9 * (s - 1) as f64 / 59.0);
        assert!(dropout_run(fell, 0.95, 0.9).is_none());
    }
}

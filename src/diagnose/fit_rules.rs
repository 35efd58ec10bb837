//! Rules about fitting the data the network is judged on: overfitting (the
//! test loss climbs while the training loss falls) and class imbalance (a
//! majority class the network can score by always predicting it).

use super::code::Code;
use super::context::Context;
use super::preflight::chance_from_counts;
use super::rule::{Explanation, Plot, Rule};
use super::series::loss_series;
use super::stats::{change, median, trend};
use super::thresholds::Thresholds;
use super::types::{Diagnosis, Severity};
use crate::numfmt::short;

/// `overfitting`: the descriptor of [`overfitting`].
pub const OVERFITTING: Rule = Rule {
    code: Code::Overfitting,
    name: "overfitting",
    thresholds: &["overfit_rise", "overfit_p", "overfit_min_evals", "drop_z", "window_share", "window_min", "window_max", "loss_window_share", "loss_window_min", "loss_window_max"],
    outcome_dependent: false,
    explains: &[],
    needs: &[],
    unless: &[],
    plot: Some(Plot::Loss),
    plot_if_evidence: None,
    fixes: &[],
    run: |ctx, th| overfitting(ctx, th).into_iter().collect(),
    explanation: Explanation {
                    title: "the test loss rises while the training loss falls",
            meaning: "After its minimum, the test loss climbed by more than 10% with a significant upward trend while the training loss kept falling beyond its noise; the generalisation gap (training vs test accuracy) is in the evidence.",
            why: "The network has more capacity than the data constrains: it memorises the training samples (their noise included) instead of the pattern.",
            fix: "Stop at the step where the test loss was lowest, use more data, or a smaller network. Evaluate often enough (train.eval_every) to see the turn.",
            look: "loss.png: the test loss turns upward while the training loss keeps falling; confusion.png for which classes suffer.",
    },
};

/// `overfitting`: after its minimum, the test loss rises by more than
/// `overfit_rise` with a significant upward trend, while the training loss
/// keeps falling beyond its noise. Needs `overfit_min_evals` evaluations.
pub fn overfitting(ctx: &Context<'_>, th: &Thresholds) -> Option<Diagnosis> {
    let evals: Vec<(usize, f64, Option<f64>)> = ctx
        .recording
        .steps
        .iter()
        .filter_map(|s| {
            s.test_loss
                .filter(|l| l.is_finite())
                .map(|l| (s.step, l, s.test_accuracy))
        })
        .collect();
    if evals.len() < th.overfit_min_evals {
        return None;
    }
    let (imin, &(min_step, min_loss, _)) = evals
        .iter()
        .enumerate()
        .min_by(|a, b| a.1 .1.total_cmp(&b.1 .1))?;
    let after = &evals[imin..];
    if after.len() < 3 || min_loss <= 0.0 {
        return None;
    }
    let tail = (after.len() / 3).max(2);
    let end = median(
        &after[after.len() - tail..]
            .iter()
            .map(|e| e.1)
            .collect::<Vec<_>>(),
    )?;
    let rise = end / min_loss - 1.0;
    let xs: Vec<f64> = after.iter().map(|e| e.0 as f64).collect();
    let ys: Vec<f64> = after.iter().map(|e| e.1).collect();
    let t = trend(&xs, &ys)?;
    // The training loss over the same stretch must fall beyond its noise.
    let (steps, loss) = loss_series(ctx.recording);
    let from = steps.iter().position(|&s| s >= min_step)?;
    let seg = &loss[from..];
    let train = change(seg, th.loss_window(seg.len()))?;
    if !(rise >= th.overfit_rise && t.p_increasing < th.overfit_p && train.z > th.drop_z) {
        return None;
    }
    let w = th.window(ctx.recording.steps.len());
    let n = ctx.recording.steps.len();
    let train_acc = ctx.recording.steps[n.saturating_sub(w)..]
        .iter()
        .map(|s| s.batch_accuracy)
        .sum::<f64>()
        / w.max(1) as f64;
    let test_acc = evals.last().and_then(|e| e.2).unwrap_or(f64::NAN);
    let gap = train_acc - test_acc;
    Some(
        Diagnosis::new(
            Code::Overfitting,
            Severity::Warning,
            format!(
                "The test loss rose {:.0}% from its minimum {} at step {min_step} to {} (slope p = {:.1e} over {} evaluations) while the training loss kept falling ({} to {}, {:.1} standard errors): the network memorises the training set. Generalisation gap: training accuracy {} vs test {}.",
                100.0 * rise,
                short(min_loss),
                short(end),
                t.p_increasing,
                after.len(),
                short(train.first),
                short(train.last),
                train.z,
                short(train_acc),
                short(test_acc)
            ),
        )
        .at(None, Some(min_step))
        .with("test_loss_min", min_loss)
        .with("test_loss_min_step", min_step)
        .with("test_loss_end", end)
        .with("test_loss_rise", rise)
        .with("p_value_increasing", t.p_increasing)
        .with("train_loss_drop_z", train.z)
        .with("train_accuracy_recent", train_acc)
        .with("test_accuracy", test_acc)
        .with("generalisation_gap", gap)
        .with("threshold_rise", th.overfit_rise)
        .suggest(format!("Stop earlier: the test loss was lowest at step {min_step} (train.steps = {min_step})."))
        .suggest("Use more training data, or a smaller network (fewer units per layer)."),
    )
}

/// `class-imbalance`: the descriptor of [`class_imbalance`].
pub const CLASS_IMBALANCE: Rule = Rule {
    code: Code::ClassImbalance,
    name: "class-imbalance",
    thresholds: &["chance_sigmas", "imbalance_excess", "window_share", "window_min", "window_max"],
    outcome_dependent: true,
    explains: &[Code::AccuracyAtChance, Code::LossPlateau],
    needs: &[],
    unless: &[],
    plot: Some(Plot::Confusion),
    plot_if_evidence: None,
    fixes: &[],
    run: |ctx, th| class_imbalance(ctx, th).into_iter().collect(),
    explanation: Explanation {
                    title: "one class dominates the training set",
            meaning: "The majority class's share is far above 1/C (by default at least halfway from 1/C to 1), and accuracy is near that share: always predicting the majority class scores about as well as the network does. With accuracy well above it, the finding is info.",
            why: "The cheapest way to lower the loss on imbalanced data is to predict the majority class; minority classes get few gradient contributions.",
            fix: "Balance the training set (oversample minority classes, undersample the majority) and judge by per-class accuracy, not overall accuracy.",
            look: "confusion.png: one column (the majority class) collects the predictions; summary.json per_class_accuracy.",
    },
};

/// `class-imbalance`: the majority class's share of the training set is far
/// above 1/C, and accuracy is near that majority share: the network may
/// have learned only to predict it. With accuracy well above the majority
/// share it is info: the imbalance did not stop learning.
pub fn class_imbalance(ctx: &Context<'_>, th: &Thresholds) -> Option<Diagnosis> {
    let pf = ctx.preflight;
    let counts = &pf.class_counts;
    let c = counts.len();
    let total: usize = counts.iter().sum();
    if c < 2 || total == 0 {
        return None;
    }
    let uniform = 1.0 / c as f64;
    let share = chance_from_counts(counts);
    let limit = uniform + th.imbalance_excess * (1.0 - uniform);
    if share < limit {
        return None;
    }
    let (major, _) = counts
        .iter()
        .enumerate()
        .max_by_key(|(i, n)| (**n, std::cmp::Reverse(*i)))?;
    let steps = &ctx.recording.steps;
    let (acc, n) = match steps.iter().rev().find_map(|s| s.test_accuracy) {
        Some(a) if pf.test_samples > 0 => (a, pf.test_samples),
        _ => {
            let w = th.window(steps.len()).max(1);
            let recent = &steps[steps.len().saturating_sub(w)..];
            if recent.is_empty() {
                return None;
            }
            let a = recent.iter().map(|s| s.batch_accuracy).sum::<f64>() / recent.len() as f64;
            (a, recent.len() * pf.batch_size.max(1))
        }
    };
    let se = (share * (1.0 - share) / n.max(1) as f64).sqrt();
    let near = acc < share + th.chance_sigmas * se;
    let severity = if near {
        Severity::Warning
    } else {
        Severity::Info
    };
    let verdict = if near {
        "and accuracy is near that share: the network may only predict the majority class"
    } else {
        "but accuracy is well above that share, so the imbalance did not stop learning"
    };
    Some(
        Diagnosis::new(
            Code::ClassImbalance,
            severity,
            format!(
                "Class {major} makes up {:.1}% of the training set (uniform would be {:.1}%), {verdict} (accuracy {} over {n} samples).",
                100.0 * share,
                100.0 * uniform,
                short(acc)
            ),
        )
        .at(None, Some(0))
        .with("majority_class", major)
        .with("majority_share", share)
        .with("uniform_share", uniform)
        .with("accuracy", acc)
        .with("threshold_share", limit)
        .suggest("Resample the training set so classes are balanced (oversample the minority classes or undersample the majority).")
        .suggest("Judge the network by per-class accuracy (summary.json per_class_accuracy, confusion.png), not overall accuracy."),
    )
}

#[cfg(test)]
mod tests {
    use super::super::testing::{context_from, recording_with_loss};
    use super::*;
    use crate::config::LossKind;

    #[test]
    fn rising_test_loss_with_falling_train_loss_is_overfitting() {
        // Train loss decays to ~0; test loss bottoms at step 200 and climbs
        // 40% by the end: overfitting by construction.
        let mut rec = recording_with_loss(1000, |s| 2.0 * (-(s as f64) / 150.0).exp() + 0.001);
        for s in &mut rec.steps {
            if s.step % 50 == 0 {
                let x = s.step as f64;
                s.test_loss =
                    Some(0.8 + 0.5 * ((x - 200.0) / 800.0).max(0.0) - 0.3 * (-(x / 100.0)).exp());
                s.test_accuracy = Some(0.75);
            }
        }
        let d = overfitting(
            &context_from(&rec, LossKind::CrossEntropy),
            &Thresholds::default(),
        )
        .unwrap();
        assert_eq!(d.severity, Severity::Warning);
        // The same run with a test loss that keeps falling is not.
        for s in &mut rec.steps {
            if let Some(l) = s.test_loss.as_mut() {
                *l = 0.8 * (-(s.step as f64) / 500.0).exp() + 0.1;
            }
        }
        assert!(overfitting(
            &context_from(&rec, LossKind::CrossEntropy),
            &Thresholds::default()
        )
        .is_none());
    }

    #[test]
    fn majority_class_with_majority_accuracy_is_imbalance() {
        let rec = recording_with_loss(100, |_| 0.5);
        let mut ctx = context_from(&rec, LossKind::CrossEntropy);
        let mut pf = ctx.preflight.clone();
        pf.class_counts = vec![900, 100];
        pf.batch_size = 32;
        ctx.preflight = Box::leak(Box::new(pf.clone()));
        // recording_with_loss has batch accuracy 0.5: below 0.9 -> near.
        let d = class_imbalance(&ctx, &Thresholds::default()).unwrap();
        assert_eq!(d.severity, Severity::Warning);
        // Balanced classes: nothing to say.
        pf.class_counts = vec![500, 500];
        ctx.preflight = Box::leak(Box::new(pf));
        assert!(class_imbalance(&ctx, &Thresholds::default()).is_none());
    }
}

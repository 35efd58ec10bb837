//! Rules about regression targets and fit: targets far from unit scale
//! (`unscaled-targets`), and a regression that does no better than
//! predicting the training mean on held-out data (`no-better-than-mean`,
//! the regression counterpart of `accuracy-at-chance`).

use super::code::Code;
use super::context::Context;
use super::rule::{Explanation, FixKind, Plot, Rule};
use super::thresholds::Thresholds;
use super::types::{Diagnosis, Severity};
use crate::data::spec::Task;
use crate::numfmt::short;

/// `unscaled-targets`: the descriptor of [`unscaled_targets`].
pub const UNSCALED_TARGETS: Rule = Rule {
    code: Code::UnscaledTargets,
    name: "unscaled-targets",
    thresholds: &["target_scale_high", "target_scale_low"],
    outcome_dependent: true,
    explains: &[Code::SaturatedActivations, Code::DeadRelus, Code::ExplodingGradients, Code::NonFinite, Code::LrTooHigh, Code::LossDiverging, Code::LossOscillating, Code::LossPlateau, Code::NoBetterThanMean],
    needs: &[],
    unless: &[],
    plot: Some(Plot::Loss),
    plot_if_evidence: None,
    fixes: &[FixKind::ScaleTargets],
    run: |ctx, th| unscaled_targets(ctx, th).into_iter().collect(),
    explanation: Explanation {
                    title: "regression targets far from unit scale",
            meaning: "A regression target column has an RMS above 10 (e.g. prices in dollars) or a std below 0.01, measured on the training targets the network is trained on. Evidence: the column's mean, std and RMS.",
            why: "The loss and every gradient scale with the targets (MSE with their square): a learning rate that suits unit-scale targets overshoots or diverges, a bounded hidden layer must grow its output weights to reach large values, and tiny targets give tiny updates.",
            fix: "Set [data] scale_targets = \"standardize\" (per-target z-score from the training split; R^2 and RMSE are still reported in the original units). check --try-fixes verifies it.",
            look: "loss.png: the loss starts at the targets' squared scale; summary.json preflight.task has the target statistics.",
    },
};

/// `unscaled-targets`: a regression target column whose RMS is above
/// `target_scale_high` or whose std is below `target_scale_low`. The loss
/// and every gradient scale with the targets (MSE with their square), so a
/// learning rate that suits unit targets is far too large or too small.
pub fn unscaled_targets(ctx: &Context<'_>, th: &Thresholds) -> Option<Diagnosis> {
    let t = &ctx.preflight.task;
    if t.task != Task::Regression || t.scaled {
        return None;
    }
    // The column furthest from unit scale, by |log10(rms)|.
    let (k, rms, std) = t
        .target_mean
        .iter()
        .zip(&t.target_std)
        .enumerate()
        .map(|(k, (m, s))| (k, (m * m + s * s).sqrt(), *s))
        .filter(|(_, rms, _)| rms.is_finite() && *rms > 0.0)
        .max_by(|a, b| a.1.log10().abs().total_cmp(&b.1.log10().abs()))?;
    let large = rms > th.target_scale_high;
    let small = std < th.target_scale_low;
    if !(large || small) {
        return None;
    }
    let mean = t.target_mean.get(k).copied().unwrap_or(f64::NAN);
    let name = t
        .target_names
        .get(k)
        .map_or_else(|| format!("{}", k + 1), |n| format!("'{n}'"));
    let what = if large {
        "the loss and its gradients grow with the square of that scale, so a learning rate that suits unit-scale targets overshoots, and a bounded hidden layer must push its output weights far to reach them"
    } else {
        "the loss and its gradients are tiny, so the updates are too"
    };
    Some(
        Diagnosis::new(
            Code::UnscaledTargets,
            Severity::Warning,
            format!(
                "Regression target {name} has mean {} and std {} (RMS {}), far from unit scale: {what}.",
                short(mean),
                short(std),
                short(rms)
            ),
        )
        .at(None, Some(0))
        .with("target_mean", mean)
        .with("target_std", std)
        .with("target_rms", rms)
        .with("threshold_high", th.target_scale_high)
        .with("threshold_low", th.target_scale_low)
        .suggest("Set [data] scale_targets = \"standardize\" (z-score of each target from the training set; R^2 and RMSE are still reported in the original units)."),
    )
}

/// `no-better-than-mean`: the descriptor of [`no_better_than_mean`].
pub const NO_BETTER_THAN_MEAN: Rule = Rule {
    code: Code::NoBetterThanMean,
    name: "no-better-than-mean",
    thresholds: &["chance_sigmas"],
    outcome_dependent: false,
    explains: &[],
    needs: &[],
    unless: &[],
    plot: Some(Plot::Loss),
    plot_if_evidence: None,
    fixes: &[],
    run: |ctx, th| no_better_than_mean(ctx, th).into_iter().collect(),
    explanation: Explanation {
                    title: "the regression predicts no better than the training mean",
            meaning: "On the test set (else the training set) the per-sample gain (y - set mean)^2 - (y - prediction)^2, whose mean is R^2 times the set's variance, is not significantly above 0: its mean is below 3 standard errors. So R^2 is not significantly above 0. R^2 and RMSE are shown; the regression counterpart of accuracy-at-chance.",
            why: "The network learned nothing usable about the target: see the other diagnoses (unscaled targets, saturation, a learning rate too small or too large), or the features carry no information about the target.",
            fix: "Fix the errors above; check that target_columns names the intended column and that features and targets are aligned.",
            look: "loss.png: the R^2 line stays near 0.",
    },
};

/// `no-better-than-mean`: on held-out data (the test set, else the training
/// set) the per-sample gain over predicting that set's mean,
/// (y - mean)^2 - (y - yhat)^2, is not significantly above 0: its mean
/// (R^2 times the set's variance) is below `chance_sigmas` standard errors.
/// So R^2 is not significantly above 0, judged by its own sampling noise
/// rather than a fixed R^2 cut.
pub fn no_better_than_mean(ctx: &Context<'_>, th: &Thresholds) -> Option<Diagnosis> {
    let fit = ctx.preflight.task.held_out.as_ref()?;
    if fit.task != Task::Regression {
        return None;
    }
    let (gain, se) = (fit.gain_mean?, fit.gain_se?);
    if !gain.is_finite() || !se.is_finite() {
        return None;
    }
    let bound = th.chance_sigmas * se;
    if gain > bound {
        return None;
    }
    let r2 = fit.r2.unwrap_or(f64::NAN);
    Some(
        Diagnosis::new(
            Code::NoBetterThanMean,
            Severity::Error,
            format!(
                "Final {} R^2 {} (RMSE {}): the network predicts no better than the training mean. Its squared error beats the set mean's by {} per sample, not significantly above 0 ({} standard errors over {} samples reach {}).",
                fit.set,
                short(r2),
                fit.rmse.map_or("n/a".into(), short),
                short(gain),
                th.chance_sigmas,
                fit.samples,
                short(bound)
            ),
        )
        .with("r2", r2)
        .with("rmse", fit.rmse.unwrap_or(f64::NAN))
        .with("gain_over_mean", gain)
        .with("gain_standard_error", se)
        .with("samples", fit.samples)
        .with("set", fit.set.clone())
        .suggest("Fix the errors above first: they are why nothing is learned.")
        .suggest("Check that the target column is the one meant and that the features carry information about it."),
    )
}

#[cfg(test)]
mod tests {
    use super::super::testing::{context_with, preflight};
    use super::*;
    use crate::config::LossKind;
    use crate::diagnose::preflight::TaskFacts;
    use crate::monitor::fit::TaskFit;

    fn regression(mean: f64, std: f64) -> crate::diagnose::preflight::Preflight {
        let mut pf = preflight(LossKind::Mse, Vec::new());
        pf.task = TaskFacts {
            task: Task::Regression,
            target_names: vec!["price".into()],
            target_mean: vec![mean],
            target_std: vec![std],
            scaled: false,
            held_out: None,
        };
        pf
    }

    fn fit(gain: f64, se: f64) -> TaskFit {
        TaskFit {
            task: Task::Regression,
            set: "test".into(),
            samples: 200,
            r2: Some(0.01),
            rmse: Some(1.0),
            gain_mean: Some(gain),
            gain_se: Some(se),
            exact_match: None,
            label_accuracy: Vec::new(),
            chance_exact_match: None,
        }
    }

    #[test]
    fn house_prices_are_unscaled_standardized_ones_are_not() {
        // Source of truth: RMS of mean 180000, std 80000 is ~197000 > 10.
        let pf = regression(180_000.0, 80_000.0);
        let d = unscaled_targets(&context_with(&pf), &Thresholds::default()).unwrap();
        assert!(d.message.contains("'price'"), "{}", d.message);
        assert!(d.suggestions[0].contains("scale_targets"));
        let mut pf = regression(0.0, 1.0);
        assert!(unscaled_targets(&context_with(&pf), &Thresholds::default()).is_none());
        pf.task.target_std = vec![0.001];
        assert!(unscaled_targets(&context_with(&pf), &Thresholds::default()).is_some());
        pf.task.scaled = true;
        assert!(unscaled_targets(&context_with(&pf), &Thresholds::default()).is_none());
    }

    #[test]
    fn gain_within_three_standard_errors_is_no_better_than_mean() {
        // Gain 0.05 with SE 0.03: below 3 SE (0.09): not significant.
        let mut pf = regression(0.0, 1.0);
        pf.task.held_out = Some(fit(0.05, 0.03));
        let d = no_better_than_mean(&context_with(&pf), &Thresholds::default()).unwrap();
        assert_eq!(d.severity, Severity::Error);
        // Gain 0.5 with SE 0.03: far above.
        pf.task.held_out = Some(fit(0.5, 0.03));
        assert!(no_better_than_mean(&context_with(&pf), &Thresholds::default()).is_none());
    }
}

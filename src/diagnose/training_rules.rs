//! Rules about how training as a whole goes: the learning rate against the
//! ~1e-3 update/weight rule of thumb together with the loss trend, an
//! oscillating loss, accuracy that never leaves chance, and a loss that does
//! not fit its output activation.

use super::code::Code;
use super::context::Context;
use super::loss_rules::{curve, overall_drop, progressed};
use super::preflight::chance_from_counts;
use super::rule::{Explanation, FixKind, Need, Plot, Rule};
use super::series::{layer_series, loss_series};
use super::stats::{median, trend, Change};
use super::thresholds::Thresholds;
use super::types::{Diagnosis, Severity};
use crate::config::LossKind;
use crate::data::spec::Task;
use crate::engine::activation::Activation;
use crate::numfmt::short;

/// Median update/weight ratio per layer over the second half of the
/// recorded rows: (layer, median).
fn late_update_ratios(ctx: &Context<'_>) -> Vec<(usize, f64)> {
    update_ratios(ctx, |r| &r[r.len() / 2..])
}

/// Median update/weight ratio per layer over the first persistence window
/// (a learning rate that kills ReLUs shows only there).
fn early_update_ratios(ctx: &Context<'_>, th: &Thresholds) -> Vec<(usize, f64)> {
    update_ratios(ctx, |r| &r[..th.window(r.len()).min(r.len())])
}

fn update_ratios(ctx: &Context<'_>, part: impl Fn(&[f64]) -> &[f64]) -> Vec<(usize, f64)> {
    ctx.recording
        .layers
        .iter()
        .filter_map(|l| {
            let (_, r) = layer_series(ctx.recording, l.layer, |row| row.update_ratio);
            median(part(&r)).map(|m| (l.layer, m))
        })
        .collect()
}

/// The loss curve's change and whether it progressed, when there are
/// enough steps to judge.
fn progress(ctx: &Context<'_>, th: &Thresholds) -> Option<(Change, bool)> {
    let c = curve(ctx, th)?.change;
    Some((c, progressed(&c, th)))
}

/// p-value of a decrease of the loss over the second half of training.
fn late_p_decreasing(ctx: &Context<'_>) -> Option<f64> {
    let (steps, loss) = loss_series(ctx.recording);
    let half = loss.len() / 2;
    let xs: Vec<f64> = steps[half..].iter().map(|&s| s as f64).collect();
    trend(&xs, &loss[half..]).map(|t| t.p_decreasing)
}

/// An early spike: within the first `loss_spike_share` of the steps, the
/// loss goes non-finite, or a running median of `loss_spike_window` batch
/// losses (so one unlucky small batch is no spike) exceeds
/// `loss_spike_factor` times the initial level: the first batch's loss, or
/// the loss of uniform outputs (ln C) when that is higher (a batch of one
/// can start far below it). Returns (step, loss, initial level).
fn early_spike(ctx: &Context<'_>, th: &Thresholds) -> Option<(usize, f64, f64)> {
    let steps = &ctx.recording.steps;
    let first = steps.first()?.loss;
    if !(first.is_finite() && first > 0.0) {
        return None;
    }
    let level = first.max(ctx.preflight.expected_initial_loss.unwrap_or(0.0));
    let n = ((steps.len() as f64 * th.loss_spike_share).ceil() as usize).max(2);
    let early = &steps[..n.min(steps.len())];
    if let Some(s) = early.iter().find(|s| !s.loss.is_finite()) {
        return Some((s.step, f64::INFINITY, level));
    }
    let w = th.loss_spike_window.max(1);
    let (step, peak) = early
        .windows(w.min(early.len()))
        .filter_map(|win| {
            let losses: Vec<f64> = win.iter().map(|s| s.loss).collect();
            Some((win.last()?.step, median(&losses)?))
        })
        .max_by(|a, b| a.1.total_cmp(&b.1))?;
    (peak > th.loss_spike_factor * level).then_some((step, peak, level))
}

/// `lr-too-high`: the descriptor of [`lr_too_high`].
pub const LR_TOO_HIGH: Rule = Rule {
    code: Code::LrTooHigh,
    name: "lr-too-high",
    thresholds: &["update_ratio_high", "update_ratio_cause", "loss_spike_factor", "loss_spike_share", "loss_spike_window", "plateau_p", "trained_well_drop", "trend_min_points", "window_share", "window_min", "window_max"],
    outcome_dependent: true,
    explains: &[],
    needs: &[Need::Column("update_ratio"), Need::LearningRate],
    unless: &[Code::GradientMismatch],
    plot: Some(Plot::UpdateRatio),
    plot_if_evidence: None,
    fixes: &[FixKind::LowerLr],
    run: |ctx, th| lr_too_high(ctx, th).into_iter().collect(),
    explanation: Explanation {
                    title: "updates are far too large and the loss does not improve",
            meaning: "A layer's median update/weight ratio is above 1e-1 (100x the ~1e-3 rule of thumb) while the loss makes no progress, or the run overflowed.",
            why: "Steps overshoot the minimum: the loss bounces or climbs instead of descending.",
            fix: "Lower the learning rate (the suggestion gives a factor), clip gradients, or Adam with 1e-3.",
            look: "update_ratio.png far above the dashed 1e-3 line; loss.png noisy or rising.",
    },
};

/// `lr-too-high`: named as a cause whenever an early update is larger than
/// the weights (ratio above `update_ratio_cause`) or the loss spikes early,
/// whatever follows (dead units, overflow, a plateau); otherwise when
/// updates far above 1e-3 of the weights come with a loss that does not
/// improve (or a run that overflowed with such updates).
pub fn lr_too_high(ctx: &Context<'_>, th: &Thresholds) -> Option<Diagnosis> {
    // The cause test looks at the very first recorded steps (median of
    // `loss_spike_window` rows): a rate that kills the units shows only
    // there, before the dead layers stop moving.
    let early = update_ratios(ctx, |r| &r[..th.loss_spike_window.max(1).min(r.len())])
        .into_iter()
        .filter(|r| !r.1.is_nan())
        .max_by(|a, b| a.1.total_cmp(&b.1));
    let (layer, ratio) = late_update_ratios(ctx)
        .into_iter()
        .chain(early_update_ratios(ctx, th))
        .chain(early)
        .filter(|r| !r.1.is_nan())
        .max_by(|a, b| a.1.total_cmp(&b.1))?;
    let spike = early_spike(ctx, th);
    let cause = early.is_some_and(|e| e.1 > th.update_ratio_cause);
    let stuck = match overall_drop(ctx, th) {
        Some(drop) if ctx.recording.steps.len() >= th.trend_min_points => {
            drop < th.trained_well_drop && late_p_decreasing(ctx).is_none_or(|p| p > th.plateau_p)
        }
        _ => ctx.nan_origin.is_some(),
    };
    let symptom = ratio > th.update_ratio_high && (stuck || ctx.nan_origin.is_some());
    if !(cause || spike.is_some() || symptom) {
        return None;
    }
    let lr = ctx.preflight.learning_rate;
    let factor = (ratio / 1e-3).sqrt().max(10.0).round();
    let mut why = format!(
        "layer {layer}'s updates are {} of its weights per step (median), {}x the ~1e-3 rule of thumb",
        short(ratio),
        short(ratio / 1e-3)
    );
    if let Some((s, peak, first)) = spike {
        why = format!(
            "the loss spiked to {} by step {s} (running median), {}x its initial level {}; {why}",
            short(peak),
            short(peak / first),
            short(first)
        );
    }
    let tail = if cause || spike.is_some() {
        "the steps overshoot from the start, and what follows (dead units, overflow, no progress) is their consequence"
    } else {
        "and the loss is not improving"
    };
    let mut d = Diagnosis::new(
        Code::LrTooHigh,
        Severity::Error,
        format!("Learning rate {lr} is too high: {why}; {tail}."),
    )
    .at(Some(layer), spike.map(|s| s.0).or(Some(1)))
    .with("update_ratio_median", ratio)
    .with("learning_rate", lr)
    .with("threshold", th.update_ratio_high)
    .with("threshold_cause", th.update_ratio_cause);
    if let Some((s, peak, first)) = spike {
        d = d
            .with("spike_step", s)
            .with("spike_loss", peak)
            .with("first_loss", first);
    }
    Some(
        d.suggest(format!(
            "Lower the learning rate about {factor:.0}x (to ~{}).",
            short(lr / factor)
        ))
        .suggest("Clip gradients (train.clip_grad_norm) or use optimizer = \"adam\" with learning_rate = 0.001."),
    )
}

/// `lr-too-low`: the descriptor of [`lr_too_low`].
pub const LR_TOO_LOW: Rule = Rule {
    code: Code::LrTooLow,
    name: "lr-too-low",
    thresholds: &["update_ratio_low", "update_ratio_high", "plateau_drop", "slow_drop", "drop_z", "trained_well_drop", "trend_min_points", "window_share", "window_min", "window_max", "loss_window_share", "loss_window_min", "loss_window_max"],
    outcome_dependent: true,
    explains: &[],
    needs: &[Need::Column("update_ratio"), Need::LearningRate],
    unless: &[Code::GradientMismatch, Code::SaturatedActivations, Code::VanishingGradients],
    plot: Some(Plot::UpdateRatio),
    plot_if_evidence: None,
    fixes: &[FixKind::HigherLr],
    run: |ctx, th| lr_too_low(ctx, th).into_iter().collect(),
    explanation: Explanation {
                    title: "updates are far too small and the loss barely moves",
            meaning: "Every layer's median update/weight ratio is below 1e-5 (100x under the rule of thumb) and the loss dropped less than 10%, with no saturation or vanishing gradient to blame.",
            why: "The steps are too small to make progress within the training budget.",
            fix: "Raise the learning rate (the suggestion gives a factor) or use Adam.",
            look: "update_ratio.png far below the dashed 1e-3 line; loss.png almost flat but sloping down.",
    },
};

/// `lr-too-low`: every layer moves by less than 1e-5 of its weights per
/// step and the loss barely moves. Not reported when saturation or
/// vanishing gradients explain the tiny updates (the caller checks).
pub fn lr_too_low(ctx: &Context<'_>, th: &Thresholds) -> Option<Diagnosis> {
    let ratios = late_update_ratios(ctx);
    let max = ratios.iter().map(|r| r.1).fold(f64::NEG_INFINITY, f64::max);
    // Large early steps (a learning rate that killed the units) rule out
    // "too low", whatever the dead network does later.
    let early_max = ctx
        .recording
        .rows
        .iter()
        .filter(|r| r.step <= th.window(ctx.recording.steps.len()))
        .map(|r| r.update_ratio)
        .fold(0.0f64, f64::max);
    if early_max > th.update_ratio_high {
        return None;
    }
    // Exactly zero updates mean no gradient at all (dead units), not a small
    // learning rate; a run that blew up had no small steps either.
    if ratios.is_empty() || !(max > 0.0 && max < th.update_ratio_low) || ctx.nan_origin.is_some() {
        return None;
    }
    // "Barely moves": no real progress, or less than `slow_drop`, and no
    // real rise either.
    let (c, progressed) = progress(ctx, th)?;
    if (progressed && c.relative_drop >= th.slow_drop) || c.z < -th.drop_z {
        return None;
    }
    let drop = c.relative_drop;
    let lr = ctx.preflight.learning_rate;
    let factor = (1e-3 / max.max(1e-12)).sqrt().min(1e3);
    Some(
        Diagnosis::new(
            Code::LrTooLow,
            Severity::Warning,
            format!(
                "Every layer's updates are below {} of its weights per step (largest median {}), far under the ~1e-3 rule of thumb, and the loss moved only {:+.1}% ({:.1} standard errors of its noise): learning rate {lr} is too low.",
                short(th.update_ratio_low),
                short(max),
                -100.0 * drop,
                c.z
            ),
        )
        .with("update_ratio_max_median", max)
        .with("relative_loss_drop", drop)
        .with("drop_z", c.z)
        .with("learning_rate", lr)
        .with("threshold", th.update_ratio_low)
        .suggest(format!("Raise the learning rate about {}x (to ~{}).", short(factor.round()), short(lr * factor)))
        .suggest("Or use optimizer = \"adam\" (learning_rate = 0.001), which scales steps per parameter."),
    )
}

/// The median |ln L(t) - ln L(t-1)| that batch sampling alone gives at this
/// batch size: two independent batch means of per-sample losses with
/// coefficient of variation CV differ by a normal with standard deviation
/// sqrt(2) CV / sqrt(B) in ln, whose median absolute value is 0.6745 times
/// that. CV comes from the probe batch over the second half of training.
fn expected_jump(ctx: &Context<'_>, from_step: usize) -> Option<f64> {
    let cvs: Vec<f64> = ctx
        .recording
        .probes
        .iter()
        .filter(|p| p.step >= from_step && p.loss_mean > 0.0)
        .map(|p| p.loss_std / p.loss_mean)
        .collect();
    let cv = median(&cvs)?;
    let b = ctx.preflight.batch_size.max(1) as f64;
    Some(0.6745 * std::f64::consts::SQRT_2 * cv / b.sqrt())
}

/// `loss-oscillating`: the descriptor of [`loss_oscillating`].
pub const LOSS_OSCILLATING: Rule = Rule {
    code: Code::LossOscillating,
    name: "loss-oscillating",
    thresholds: &["oscillation_log_step", "oscillation_noise_factor", "oscillation_progress", "diverging_growth", "diverging_p", "plateau_p", "trend_min_points"],
    outcome_dependent: true,
    explains: &[],
    needs: &[],
    unless: &[Code::GradientMismatch],
    plot: Some(Plot::Loss),
    plot_if_evidence: None,
    fixes: &[FixKind::LowerLr],
    run: |ctx, th| loss_oscillating(ctx, th).into_iter().collect(),
    explanation: Explanation {
                    title: "the loss jumps back and forth",
            meaning: "In the second half of training consecutive losses differ by a median factor above 1.5, with no trend, while the loss stays at or above half its first value.",
            why: "The optimizer overshoots across a valley: the learning rate is too high for the curvature, or batches are too small and noisy.",
            fix: "Lower the learning rate, larger batches, Adam with 1e-3.",
            look: "loss.png: a thick saw-tooth band with no downward trend.",
    },
};

/// `loss-oscillating`: consecutive losses jump by large factors, far more
/// than batch sampling explains at this batch size, and the loss makes no
/// real progress (a slight drift is allowed; a real climb is divergence).
pub fn loss_oscillating(ctx: &Context<'_>, th: &Thresholds) -> Option<Diagnosis> {
    let (steps, loss) = loss_series(ctx.recording);
    if loss.len() < th.trend_min_points {
        return None;
    }
    let half = loss.len() / 2;
    let late = &loss[half..];
    let jumps: Vec<f64> = late
        .windows(2)
        .filter(|w| w[0] > 0.0 && w[1] > 0.0)
        .map(|w| (w[1].ln() - w[0].ln()).abs())
        .collect();
    let jump = median(&jumps)?;
    let first = ctx.initial_loss()?;
    let late_median = median(late)?;
    let expected = expected_jump(ctx, steps.get(half).copied().unwrap_or(0));
    let beyond_noise = expected.is_none_or(|e| jump > th.oscillation_noise_factor * e);
    let xs: Vec<f64> = steps[half..].iter().map(|&s| s as f64).collect();
    let logs: Vec<f64> = late
        .iter()
        .map(|l| if *l > 0.0 { l.ln() } else { f64::NAN })
        .collect();
    let t = trend(&xs, &logs)?;
    let falling = t.p_decreasing < th.plateau_p;
    let diverging = t.p_increasing < th.diverging_p && late_median > th.diverging_growth * first;
    if !(jump > th.oscillation_log_step
        && beyond_noise
        && !falling
        && !diverging
        && late_median > th.oscillation_progress * first)
    {
        return None;
    }
    let noise_note = expected.map_or(String::new(), |e| {
        format!(
            " (batch sampling at batch size {} explains a factor of about {})",
            ctx.preflight.batch_size,
            short(e.exp())
        )
    });
    let mut d = Diagnosis::new(
        Code::LossOscillating,
        Severity::Error,
        format!(
            "The loss jumps by a median factor of {} between consecutive steps in the second half of training{noise_note}, and has not improved on its first value (median {} vs {} at step 1): the optimizer overshoots back and forth.",
            short(jump.exp()),
            short(late_median),
            short(first)
        ),
    )
    .at(None, Some(half + 1))
    .with("median_step_factor", jump.exp())
    .with("late_loss_median", late_median)
    .with("initial_loss", first)
    .with("threshold_factor", th.oscillation_log_step.exp());
    if let Some(e) = expected {
        d = d.with("expected_step_factor_from_batch_noise", e.exp());
    }
    Some(
        d.suggest("Lower the learning rate (try 3x-10x lower).")
            .suggest("Use a larger batch_size to reduce gradient noise, or optimizer = \"adam\" with learning_rate = 0.001."),
    )
}

/// `accuracy-at-chance`: the descriptor of [`accuracy_at_chance`].
pub const ACCURACY_AT_CHANCE: Rule = Rule {
    code: Code::AccuracyAtChance,
    name: "accuracy-at-chance",
    thresholds: &["chance_sigmas", "trend_min_points", "window_share", "window_min", "window_max"],
    outcome_dependent: false,
    explains: &[],
    needs: &[Need::ChanceAccuracy, Need::Accuracy],
    unless: &[],
    plot: Some(Plot::Loss),
    plot_if_evidence: None,
    fixes: &[],
    run: |ctx, th| accuracy_at_chance(ctx, th).into_iter().collect(),
    explanation: Explanation {
                    title: "accuracy is not above always guessing the majority class",
            meaning: "The final test accuracy (or the recent batch accuracy without a test set) is within 3 standard errors of the majority-class rate.",
            why: "The network learned nothing usable: see the other diagnoses; or the labels do not belong to the inputs.",
            fix: "Fix the errors above; check the data loading and label alignment.",
            look: "loss.png: the accuracy lines stay at the chance level.",
    },
};

/// `accuracy-at-chance`: after training, accuracy is not significantly
/// above always guessing the most frequent class of the set it was
/// measured on. When that set is too small for the test to decide (its
/// bound reaches 1), it says so as info instead of firing.
pub fn accuracy_at_chance(ctx: &Context<'_>, th: &Thresholds) -> Option<Diagnosis> {
    let steps = &ctx.recording.steps;
    if steps.len() < th.trend_min_points {
        return None;
    }
    let pf = ctx.preflight;
    let (acc, n, what, chance) = match steps.iter().rev().find_map(|s| s.test_accuracy) {
        Some(a) if pf.test_samples > 0 => {
            let chance = if pf.test_class_counts.iter().sum::<usize>() > 0 {
                chance_from_counts(&pf.test_class_counts)
            } else {
                pf.chance_accuracy
            };
            (a, pf.test_samples, "test", chance)
        }
        _ => {
            let w = th.window(steps.len());
            let recent: Vec<f64> = steps[steps.len() - w..]
                .iter()
                .map(|s| s.batch_accuracy)
                .collect();
            (
                recent.iter().sum::<f64>() / w as f64,
                w * pf.batch_size.max(1),
                "recent batch",
                pf.chance_accuracy,
            )
        }
    };
    let se = (chance * (1.0 - chance) / n.max(1) as f64).sqrt();
    let bound = chance + th.chance_sigmas * se;
    if acc.is_nan() {
        return None;
    }
    if bound >= 1.0 {
        return Some(
            Diagnosis::new(
                Code::AccuracyAtChance,
                Severity::Info,
                format!(
                    "Too small to decide: with {n} {what} samples and chance {}, {} standard errors reach {} (above 1), so no accuracy could show learning. Final {what} accuracy {}.",
                    short(chance),
                    th.chance_sigmas,
                    short(bound),
                    short(acc)
                ),
            )
            .with("accuracy", acc)
            .with("chance_accuracy", chance)
            .with("samples", n)
            .with("bound", bound)
            .suggest("Evaluate on more samples (a larger test set) to judge accuracy."),
        );
    }
    if acc >= bound {
        return None;
    }
    Some(
        Diagnosis::new(
            Code::AccuracyAtChance,
            Severity::Error,
            format!(
                "Final {what} accuracy {} is not significantly above chance ({} = always the most frequent class of that set; {} standard errors over {n} samples reach {}): the network has learned nothing usable.",
                short(acc),
                short(chance),
                th.chance_sigmas,
                short(bound)
            ),
        )
        .with("accuracy", acc)
        .with("chance_accuracy", chance)
        .with("samples", n)
        .with("bound", bound)
        .suggest("Fix the errors above first: they are why nothing is learned.")
        .suggest("Check that labels match inputs (a shuffled label file also gives chance accuracy)."),
    )
}

/// `output-loss-mismatch`: the descriptor of [`output_loss_mismatch`].
pub const OUTPUT_LOSS_MISMATCH: Rule = Rule {
    code: Code::OutputLossMismatch,
    name: "output-loss-mismatch",
    thresholds: &[],
    outcome_dependent: true,
    explains: &[Code::SaturatedActivations, Code::VanishingGradients, Code::LossPlateau, Code::AccuracyAtChance],
    needs: &[Need::NamedLoss],
    unless: &[],
    plot: Some(Plot::PreActivations),
    plot_if_evidence: None,
    fixes: &[FixKind::CrossEntropy, FixKind::ProbabilityOutput],
    run: |ctx, th| output_loss_mismatch(ctx, th).into_iter().collect(),
    explanation: Explanation {
                    title: "the output activation does not fit the loss",
            meaning: "Softmax or sigmoid outputs trained with MSE: the loss's gradient is multiplied by the output activation's slope, which vanishes when the output saturates. Or a cross-entropy over outputs that are not probabilities (relu, linear, tanh; softmax under binary cross-entropy): nn-doctor clips them to [1e-7, 1] before the log, as Keras does. Or categorical cross-entropy over several sigmoid units with one label per sample: computed as one binary cross-entropy per unit, so each unit learns yes/no alone and the outputs are not class probabilities. For a loss that applies its own softmax (PyTorch's nn.CrossEntropyLoss, which takes logits) the roles turn: a linear last layer is right, and a softmax or sigmoid before the loss is the mistake (the double softmax).",
            why: "With MSE, a confidently wrong output (saturated) gets almost no gradient: it learns slowest exactly when it is most wrong. Cross-entropy's gradient is a - t, independent of saturation. A clipped output passes no gradient at all: a relu output at 0 or a linear output above 1 never moves.",
            fix: "MSE on softmax/sigmoid: train.loss = \"cross_entropy\". Cross-entropy on another output: last layer activation = \"softmax\" (\"sigmoid\" for binary_cross_entropy or independent 0/1 outputs). Several sigmoid units, one label per sample: activation = \"softmax\". Softmax before nn.CrossEntropyLoss: remove the softmax (the loss takes logits).",
            look: "saturation.png: the output layer's saturated share; loss.png: a slow or stalled loss.",
    },
};

/// `output-loss-mismatch`: an output activation that does not fit the loss.
/// Softmax or sigmoid outputs trained with MSE: the MSE gradient passes
/// through the output's flat slope, so a confident wrong output learns
/// slowest exactly when it is most wrong. A cross-entropy over outputs that
/// are not the probabilities it assumes (relu, linear, tanh...; a softmax
/// under binary cross-entropy): the loss is computed on the output clipped
/// into (0, 1] (engine::loss, as Keras), and the clip passes no gradient.
pub fn output_loss_mismatch(ctx: &Context<'_>, _th: &Thresholds) -> Option<Diagnosis> {
    let pf = ctx.preflight;
    let bounded = matches!(pf.output, Activation::Softmax | Activation::Sigmoid);
    if pf.loss.is_cross_entropy() && pf.loss_takes_logits {
        return squashed_logits(ctx);
    }
    let probability = match pf.loss {
        LossKind::CrossEntropy => bounded,
        LossKind::BinaryCrossEntropy => pf.output == Activation::Sigmoid,
        _ => true,
    };
    if !probability {
        let fix = if pf.loss == LossKind::BinaryCrossEntropy {
            "Make the last layer activation = \"sigmoid\" (one unit per independent 0/1 output)."
        } else {
            "Make the last layer activation = \"softmax\" (or \"sigmoid\" for independent 0/1 outputs)."
        };
        return Some(
            Diagnosis::new(
                Code::OutputLossMismatch,
                Severity::Warning,
                format!(
                    "The {} output is trained with {}, which takes the log of a probability: outputs outside (0, 1] are clipped to [1e-7, 1] before the log (as Keras does), and a clipped output gets no gradient at all.",
                    pf.output, pf.loss
                ),
            )
            .at(Some(ctx.recording.layers.len().max(1)), Some(0))
            .with("loss", pf.loss.config_name())
            .with("output", pf.output.name())
            .suggest(fix),
        );
    }
    let units = pf.layers.last().map_or(0, |l| l.units);
    if pf.loss == LossKind::CrossEntropy
        && pf.output == Activation::Sigmoid
        && pf.task.task == Task::Classification
        && units > 1
    {
        return Some(
            Diagnosis::new(
                Code::OutputLossMismatch,
                Severity::Warning,
                format!(
                    "Categorical cross-entropy over {units} sigmoid outputs: each sigmoid is trained as its own yes/no (the loss is computed as {units} binary cross-entropies, as PyTorch's BCEWithLogitsLoss and Keras' binary_crossentropy do), so the outputs need not sum to 1 and are not the class probabilities a one-label-per-sample loss assumes; the classes are never ranked against each other."
                ),
            )
            .at(Some(ctx.recording.layers.len().max(1)), Some(0))
            .with("loss", pf.loss.config_name())
            .with("output", pf.output.name())
            .with("units", units)
            .suggest("Make the last layer activation = \"softmax\" (one label per sample); keep sigmoid only for multi-label targets (task = \"multilabel\", loss = \"binary_cross_entropy\")."),
        );
    }
    if !(pf.loss == LossKind::Mse && bounded) {
        return None;
    }
    Some(
        Diagnosis::new(
            Code::OutputLossMismatch,
            Severity::Warning,
            format!(
                "The {} output is trained with MSE: its gradient is multiplied by the output's slope, which vanishes when the output saturates (a confidently wrong class learns slowest). Cross-entropy's gradient is simply a - t.",
                pf.output
            ),
        )
        .at(Some(ctx.recording.layers.len().max(1)), Some(0))
        .with("loss", pf.loss.config_name())
        .with("output", pf.output.name())
        .suggest("Set train.loss = \"cross_entropy\"."),
    )
}

/// A cross-entropy that applies its own softmax or sigmoid (PyTorch's
/// `nn.CrossEntropyLoss`, `nn.BCEWithLogitsLoss`) is right on logits: a
/// linear last layer is the correct head, and advice to add a softmax would
/// create the bug. The bug is a softmax or sigmoid before it: the loss then
/// scores a second squashing of already squashed values, whose
/// probabilities stay near uniform (or near 0.73 at most, for a sigmoid of
/// a sigmoid), so the gradient is small however wrong the network is.
fn squashed_logits(ctx: &Context<'_>) -> Option<Diagnosis> {
    let pf = ctx.preflight;
    if !matches!(pf.output, Activation::Softmax | Activation::Sigmoid) {
        return None;
    }
    let (torch_loss, squash) = if pf.loss == LossKind::BinaryCrossEntropy {
        ("nn.BCEWithLogitsLoss", "sigmoid")
    } else {
        ("nn.CrossEntropyLoss", "softmax")
    };
    let layer = ctx.recording.layers.len().max(1);
    let module = ctx
        .recording
        .layers
        .last()
        .map_or(String::from("the last layer"), |l| {
            format!("layer {}", l.layer)
        });
    Some(
        Diagnosis::new(
            Code::OutputLossMismatch,
            Severity::Warning,
            format!(
                "The output passes through {} before a loss that applies its own {squash} (PyTorch's {torch_loss} takes logits): the loss scores a second squashing of already squashed values, so its probabilities stay far from 0 and 1 and the gradient stays small however wrong the network is.",
                pf.output
            ),
        )
        .at(Some(layer), Some(0))
        .with("loss", format!("{} (takes logits)", pf.loss.config_name()))
        .with("output", pf.output.name())
        .suggest(format!(
            "Remove the final {} (nn.Softmax / F.softmax / nn.Sigmoid / torch.sigmoid after {module}): {torch_loss} expects raw logits; apply {squash} only when you need probabilities, e.g. at inference.",
            pf.output
        )),
    )
}

#[cfg(test)]
mod tests {
    use super::super::testing::{context_from, recording, recording_with_loss};
    use super::*;

    #[test]
    fn huge_updates_without_progress_mean_lr_too_high() {
        let mut rec = recording(&[Activation::Tanh, Activation::Softmax], 60, |_, _, row| {
            row.update_ratio = 0.5
        });
        for s in &mut rec.steps {
            s.loss = 2.0 + 0.1 * ((s.step * 7 % 5) as f64);
        }
        let d = lr_too_high(
            &context_from(&rec, LossKind::CrossEntropy),
            &Thresholds::default(),
        )
        .unwrap();
        assert_eq!(d.severity, Severity::Error);
        // The same updates with a falling loss are not flagged.
        let falling = recording(&[Activation::Tanh, Activation::Softmax], 60, |_, _, row| {
            row.update_ratio = 0.5
        });
        assert!(lr_too_high(
            &context_from(&falling, LossKind::CrossEntropy),
            &Thresholds::default()
        )
        .is_none());
    }

    #[test]
    fn tiny_updates_and_a_flat_loss_mean_lr_too_low() {
        let mut rec = recording(&[Activation::Relu, Activation::Softmax], 60, |_, _, row| {
            row.update_ratio = 1e-7
        });
        for s in &mut rec.steps {
            s.loss = 2.3 - 1e-4 * s.step as f64;
        }
        assert!(lr_too_low(
            &context_from(&rec, LossKind::CrossEntropy),
            &Thresholds::default()
        )
        .is_some());
        let normal = recording(&[Activation::Relu, Activation::Softmax], 60, |_, _, row| {
            row.update_ratio = 1e-3
        });
        assert!(lr_too_low(
            &context_from(&normal, LossKind::CrossEntropy),
            &Thresholds::default()
        )
        .is_none());
    }

    #[test]
    fn alternating_loss_oscillates() {
        let rec = recording_with_loss(80, |s| if s % 2 == 0 { 9.0 } else { 2.0 });
        assert!(
            loss_oscillating(&context_from(&rec, LossKind::Mse), &Thresholds::default()).is_some()
        );
        // Batch noise around a converged low loss is not oscillation.
        let conv = recording_with_loss(80, |s| {
            if s < 20 {
                2.3
            } else if s % 2 == 0 {
                0.3
            } else {
                0.05
            }
        });
        assert!(
            loss_oscillating(&context_from(&conv, LossKind::Mse), &Thresholds::default()).is_none()
        );
    }

    #[test]
    fn chance_accuracy_is_flagged_and_learning_is_not() {
        // Chance 0.1 with 1000 test samples: 3 standard errors reach 0.1285.
        let mut rec = recording(&[Activation::Relu, Activation::Softmax], 40, |_, _, _| {});
        rec.steps.last_mut().unwrap().test_accuracy = Some(0.11);
        assert!(accuracy_at_chance(
            &context_from(&rec, LossKind::CrossEntropy),
            &Thresholds::default()
        )
        .is_some());
        rec.steps.last_mut().unwrap().test_accuracy = Some(0.9);
        assert!(accuracy_at_chance(
            &context_from(&rec, LossKind::CrossEntropy),
            &Thresholds::default()
        )
        .is_none());
    }

    #[test]
    fn softmax_with_mse_is_a_mismatch() {
        let rec = recording(&[Activation::Softmax], 5, |_, _, _| {});
        assert!(
            output_loss_mismatch(&context_from(&rec, LossKind::Mse), &Thresholds::default())
                .is_some()
        );
        assert!(output_loss_mismatch(
            &context_from(&rec, LossKind::CrossEntropy),
            &Thresholds::default()
        )
        .is_none());
    }

    /// Categorical cross-entropy over several sigmoid units is named; one
    /// sigmoid unit (binary) and multi-label targets are not mistakes.
    #[test]
    fn cross_entropy_over_several_sigmoids_is_a_mismatch_for_one_label_per_sample() {
        use super::super::testing::{context_with, preflight_with_layers};
        use crate::diagnose::preflight::InitStats;
        let out = |units| InitStats {
            layer: 2,
            fan_in: 8,
            units,
            activation: Activation::Sigmoid,
            mean: 0.0,
            std: 0.1,
            gain: 1.0,
            all_zero: false,
        };
        let mut pf = preflight_with_layers(vec![out(4)]);
        pf.output = Activation::Sigmoid;
        let d = output_loss_mismatch(&context_with(&pf), &Thresholds::default()).unwrap();
        assert_eq!(d.code, Code::OutputLossMismatch);
        assert!(d.suggestions[0].contains("softmax"));
        pf.task.task = Task::Multilabel;
        assert!(output_loss_mismatch(&context_with(&pf), &Thresholds::default()).is_none());
        let mut pf = preflight_with_layers(vec![out(1)]);
        pf.output = Activation::Sigmoid;
        assert!(output_loss_mismatch(&context_with(&pf), &Thresholds::default()).is_none());
    }

    /// Truth: PyTorch's documentation of nn.CrossEntropyLoss ("the input is
    /// expected to contain the unnormalized logits for each class"). With a
    /// loss that takes logits, a linear head is correct and nothing may
    /// advise adding a softmax; a softmax head is the double-softmax bug,
    /// and the fix says to remove it.
    #[test]
    fn with_a_loss_that_takes_logits_only_a_squashed_output_is_a_mismatch() {
        use super::super::testing::{context_with, preflight_with_layers};
        let mut pf = preflight_with_layers(Vec::new());
        pf.loss = LossKind::CrossEntropy;
        pf.loss_takes_logits = true;
        pf.output = Activation::Linear;
        assert!(output_loss_mismatch(&context_with(&pf), &Thresholds::default()).is_none());
        pf.output = Activation::Softmax;
        let d = output_loss_mismatch(&context_with(&pf), &Thresholds::default()).unwrap();
        assert_eq!(d.code, Code::OutputLossMismatch);
        assert!(
            d.suggestions[0].starts_with("Remove the final softmax"),
            "{d:?}"
        );
        assert!(d
            .suggestions
            .iter()
            .all(|s| !s.contains("activation = \"softmax\"")));
        // The same linear head under a loss that takes probabilities (nn-doctor's,
        // Keras') is still named: its outputs are clipped before the log.
        pf.loss_takes_logits = false;
        pf.output = Activation::Linear;
        assert!(output_loss_mismatch(&context_with(&pf), &Thresholds::default()).is_some());
    }

    /// Truth: PyTorch's documentation of nn.BCEWithLogitsLoss ("combines a
    /// Sigmoid layer and the BCELoss in one single class"): a sigmoid
    /// before it is applied twice; a linear head is right.
    #[test]
    fn a_sigmoid_before_a_binary_loss_on_logits_is_a_mismatch() {
        use super::super::testing::{context_with, preflight_with_layers};
        let mut pf = preflight_with_layers(Vec::new());
        pf.loss = LossKind::BinaryCrossEntropy;
        pf.loss_takes_logits = true;
        pf.output = Activation::Linear;
        assert!(output_loss_mismatch(&context_with(&pf), &Thresholds::default()).is_none());
        pf.output = Activation::Sigmoid;
        let d = output_loss_mismatch(&context_with(&pf), &Thresholds::default()).unwrap();
        assert!(d.suggestions[0].contains("nn.BCEWithLogitsLoss"), "{d:?}");
        assert!(
            d.suggestions[0].starts_with("Remove the final sigmoid"),
            "{d:?}"
        );
    }
}

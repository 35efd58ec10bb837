//! Rules about how training as a whole goes: the learning rate against the
//! ~1e-3 update/weight rule of thumb together with the loss trend, an
//! oscillating loss, accuracy that never leaves chance, and a loss that does
//! not fit its output activation.

use super::context::Context;
use super::series::{layer_series, loss_series};
use super::stats::{median, trend};
use super::thresholds::Thresholds;
use super::types::{Diagnosis, Severity};
use crate::config::LossKind;
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

/// (relative drop first->last window, p-value of a decrease over the second
/// half) of the loss, when there are enough steps to judge.
fn progress(ctx: &Context<'_>, th: &Thresholds) -> Option<(f64, f64)> {
    let (steps, loss) = loss_series(ctx.recording);
    if loss.len() < th.trend_min_points {
        return None;
    }
    let w = th.window(loss.len());
    let first = median(&loss[..w])?;
    let last = median(&loss[loss.len() - w..])?;
    let half = loss.len() / 2;
    let xs: Vec<f64> = steps.iter().map(|&s| s as f64).collect();
    let late = trend(&xs[half..], &loss[half..])?;
    Some((
        (first - last) / first.abs().max(f64::MIN_POSITIVE),
        late.p_decreasing,
    ))
}

/// `lr-too-high`: updates far above 1e-3 of the weights and a loss that does
/// not improve (or a run that overflowed with such updates).
pub fn lr_too_high(ctx: &Context<'_>, th: &Thresholds) -> Option<Diagnosis> {
    let (layer, ratio) = late_update_ratios(ctx)
        .into_iter()
        .chain(early_update_ratios(ctx, th))
        .max_by(|a, b| a.1.total_cmp(&b.1))?;
    if ratio.is_nan() || ratio <= th.update_ratio_high {
        return None;
    }
    let stuck = match progress(ctx, th) {
        Some((drop, p)) => drop < th.plateau_drop.max(0.5) && p > th.plateau_p,
        None => ctx.nan_origin.is_some(),
    };
    if !(stuck || ctx.nan_origin.is_some()) {
        return None;
    }
    let lr = ctx.preflight.learning_rate;
    Some(
        Diagnosis::new(
            "lr-too-high",
            Severity::Error,
            format!(
                "Layer {layer}'s updates are {} of its weights per step (median, second half), {}x the ~1e-3 rule of thumb, and the loss is not improving: learning rate {lr} is too high.",
                short(ratio),
                short(ratio / 1e-3)
            ),
        )
        .at(Some(layer), None)
        .with("update_ratio_median", ratio)
        .with("learning_rate", lr)
        .with("threshold", th.update_ratio_high)
        .suggest(format!("Lower the learning rate about {}x (to ~{}).", short((ratio / 1e-3).sqrt().max(10.0).round()), short(lr / (ratio / 1e-3).sqrt().max(10.0))))
        .suggest("Clip gradients (train.clip_grad_norm) or use optimizer = \"adam\" with learning_rate = 0.001."),
    )
}

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
    let (drop, _) = progress(ctx, th)?;
    if !(-th.plateau_drop..th.slow_drop).contains(&drop) {
        return None;
    }
    let lr = ctx.preflight.learning_rate;
    let factor = (1e-3 / max.max(1e-12)).sqrt().min(1e3);
    Some(
        Diagnosis::new(
            "lr-too-low",
            Severity::Warning,
            format!(
                "Every layer's updates are below {} of its weights per step (largest median {}), far under the ~1e-3 rule of thumb, and the loss dropped only {:.1}%: learning rate {lr} is too low.",
                short(th.update_ratio_low),
                short(max),
                100.0 * drop
            ),
        )
        .with("update_ratio_max_median", max)
        .with("relative_loss_drop", drop)
        .with("learning_rate", lr)
        .with("threshold", th.update_ratio_low)
        .suggest(format!("Raise the learning rate about {}x (to ~{}).", short(factor.round()), short(lr * factor)))
        .suggest("Or use optimizer = \"adam\" (learning_rate = 0.001), which scales steps per parameter."),
    )
}

/// `loss-oscillating`: consecutive losses jump by large factors and the
/// loss makes no real progress.
pub fn loss_oscillating(ctx: &Context<'_>, th: &Thresholds) -> Option<Diagnosis> {
    let (_, loss) = loss_series(ctx.recording);
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
    // No trend either way in ln(loss) over the second half (a climb is
    // divergence, a fall is progress), and no real progress since step 1.
    let (steps, _) = loss_series(ctx.recording);
    let xs: Vec<f64> = steps[half..].iter().map(|&s| s as f64).collect();
    let logs: Vec<f64> = late
        .iter()
        .map(|l| if *l > 0.0 { l.ln() } else { f64::NAN })
        .collect();
    let flat = trend(&xs, &logs)
        .is_some_and(|t| t.p_increasing > th.diverging_p && t.p_decreasing > th.plateau_p);
    if !(jump > th.oscillation_log_step && flat && late_median > th.oscillation_progress * first) {
        return None;
    }
    Some(
        Diagnosis::new(
            "loss-oscillating",
            Severity::Error,
            format!(
                "The loss jumps by a median factor of {} between consecutive steps in the second half of training with no trend, and has not improved on its first value (median {} vs {} at step 1): the optimizer overshoots back and forth.",
                short(jump.exp()),
                short(late_median),
                short(first)
            ),
        )
        .at(None, Some(half + 1))
        .with("median_step_factor", jump.exp())
        .with("late_loss_median", late_median)
        .with("initial_loss", first)
        .with("threshold_factor", th.oscillation_log_step.exp())
        .suggest("Lower the learning rate (try 3x-10x lower).")
        .suggest("Use a larger batch_size to reduce gradient noise, or optimizer = \"adam\" with learning_rate = 0.001."),
    )
}

/// `accuracy-at-chance`: after training, accuracy is not significantly
/// above always guessing the most frequent class.
pub fn accuracy_at_chance(ctx: &Context<'_>, th: &Thresholds) -> Option<Diagnosis> {
    let steps = &ctx.recording.steps;
    if steps.len() < th.trend_min_points {
        return None;
    }
    let chance = ctx.preflight.chance_accuracy;
    let (acc, n, what) = match steps.iter().rev().find_map(|s| s.test_accuracy) {
        Some(a) if ctx.preflight.test_samples > 0 => (a, ctx.preflight.test_samples, "test"),
        _ => {
            let w = th.window(steps.len());
            let recent: Vec<f64> = steps[steps.len() - w..]
                .iter()
                .map(|s| s.batch_accuracy)
                .collect();
            (
                recent.iter().sum::<f64>() / w as f64,
                w * ctx.preflight.batch_size.max(1),
                "recent batch",
            )
        }
    };
    let se = (chance * (1.0 - chance) / n.max(1) as f64).sqrt();
    let bound = chance + th.chance_sigmas * se;
    if acc.is_nan() || acc >= bound {
        return None;
    }
    Some(
        Diagnosis::new(
            "accuracy-at-chance",
            Severity::Error,
            format!(
                "Final {what} accuracy {} is not significantly above chance ({} = always the most frequent class; {} standard errors over {n} samples reach {}): the network has learned nothing usable.",
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

/// `output-loss-mismatch`: softmax or sigmoid outputs trained with MSE. The
/// MSE gradient passes through the output's flat slope, so a confident
/// wrong output learns slowest exactly when it is most wrong.
pub fn output_loss_mismatch(ctx: &Context<'_>, _th: &Thresholds) -> Option<Diagnosis> {
    let pf = ctx.preflight;
    let bounded = matches!(pf.output, Activation::Softmax | Activation::Sigmoid);
    if !(pf.loss == LossKind::Mse && bounded) {
        return None;
    }
    Some(
        Diagnosis::new(
            "output-loss-mismatch",
            Severity::Warning,
            format!(
                "The {} output is trained with MSE: its gradient is multiplied by the output's slope, which vanishes when the output saturates (a confidently wrong class learns slowest). Cross-entropy's gradient is simply a - t.",
                pf.output
            ),
        )
        .at(Some(ctx.recording.layers.len().max(1)), Some(0))
        .with("loss", "mse")
        .with("output", pf.output.name())
        .suggest("Set train.loss = \"cross_entropy\"."),
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
}

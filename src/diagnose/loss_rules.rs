//! Rules about the loss curve: a plateau (no progress since the start) and
//! divergence (the loss grows). Both use a least-squares trend with its
//! Student-t p-value and window medians, never one-step deltas.

use super::context::Context;
use super::series::loss_series;
use super::stats::{median, trend, Trend};
use super::thresholds::Thresholds;
use super::types::{Diagnosis, Severity};
use crate::numfmt::short;

/// Medians of the first and last windows of the loss, and the trend over
/// the second half of training (where a plateau or climb shows).
struct Curve {
    first: f64,
    last: f64,
    window: usize,
    late: Trend,
    whole: Trend,
    /// Trend of ln(loss): a diverging loss grows geometrically, and a line
    /// through raw values dominated by the last few points is not significant.
    log_whole: Option<Trend>,
}

fn curve(ctx: &Context<'_>, th: &Thresholds) -> Option<Curve> {
    let (steps, loss) = loss_series(ctx.recording);
    if loss.len() < th.trend_min_points {
        return None;
    }
    let w = th.window(loss.len());
    let xs: Vec<f64> = steps.iter().map(|&s| s as f64).collect();
    let half = loss.len() / 2;
    Some(Curve {
        first: median(&loss[..w])?,
        last: median(&loss[loss.len() - w..])?,
        window: w,
        late: trend(&xs[half..], &loss[half..])?,
        whole: trend(&xs, &loss)?,
        log_whole: trend(
            &xs,
            &loss
                .iter()
                .map(|l| if *l > 0.0 { l.ln() } else { f64::NAN })
                .collect::<Vec<_>>(),
        ),
    })
}

/// `loss-plateau`: the loss has not moved since the start of training.
pub fn loss_plateau(ctx: &Context<'_>, th: &Thresholds) -> Option<Diagnosis> {
    let c = curve(ctx, th)?;
    let drop = (c.first - c.last) / c.first.abs().max(f64::MIN_POSITIVE);
    let flat = drop.abs() < th.plateau_drop;
    if !(flat && c.late.p_decreasing > th.plateau_p && c.whole.p_decreasing > th.plateau_p) {
        return None;
    }
    Some(
        Diagnosis::new(
            "loss-plateau",
            Severity::Error,
            format!(
                "The loss has not improved: median {} over the first {} steps, {} over the last {} ({:+.2}%); least-squares slope {:.3e} per step, p = {:.3} for a decrease.",
                short(c.first), c.window, short(c.last), c.window, -100.0 * drop, c.whole.slope, c.whole.p_decreasing
            ),
        )
        .at(None, Some(1))
        .with("loss_first_window", c.first)
        .with("loss_last_window", c.last)
        .with("relative_drop", drop)
        .with("slope", c.whole.slope)
        .with("p_value_decreasing", c.whole.p_decreasing)
        .with("late_slope", c.late.slope)
        .with("late_p_value_decreasing", c.late.p_decreasing)
        .with("threshold_drop", th.plateau_drop)
        .with("threshold_p", th.plateau_p)
        .suggest("Look at the other diagnoses first: saturated units and vanishing gradients stop learning entirely.")
        .suggest("Check the gradients are right: run `nn-doctor gradcheck` on this config.")
        .suggest("If gradients are healthy, raise the learning rate (try 3x-10x) or use optimizer = \"adam\"."),
    )
}

/// `loss-diverging`: the loss grows over training.
pub fn loss_diverging(ctx: &Context<'_>, th: &Thresholds) -> Option<Diagnosis> {
    let c = curve(ctx, th)?;
    let t = c.log_whole.unwrap_or(c.whole);
    if !(c.last > th.diverging_growth * c.first && t.p_increasing < th.diverging_p) {
        return None;
    }
    Some(
        Diagnosis::new(
            "loss-diverging",
            Severity::Error,
            format!(
                "The loss is growing: median {} over the first {} steps, {} over the last ({}x); slope of ln(loss) {:.3e} per step, p = {:.2e} for an increase.",
                short(c.first), c.window, short(c.last), short(c.last / c.first), t.slope, t.p_increasing
            ),
        )
        .at(None, Some(1))
        .with("loss_first_window", c.first)
        .with("loss_last_window", c.last)
        .with("growth", c.last / c.first)
        .with("log_loss_slope", t.slope)
        .with("p_value_increasing", t.p_increasing)
        .with("threshold_growth", th.diverging_growth)
        .with("threshold_p", th.diverging_p)
        .suggest("Lower the learning rate (try 10x lower).")
        .suggest("Clip gradients: set train.clip_grad_norm (e.g. 1.0).")
        .suggest("Check the gradient sign and correctness with `nn-doctor gradcheck`."),
    )
}

#[cfg(test)]
mod tests {
    use super::super::testing::{context_from, recording_with_loss};
    use super::*;
    use crate::config::LossKind;

    #[test]
    fn flat_noisy_loss_is_a_plateau() {
        // Deterministic noise around 0.9 with no trend.
        let rec = recording_with_loss(300, |s| 0.9 + 0.05 * ((s * 7919 % 13) as f64 / 13.0 - 0.5));
        let d = loss_plateau(&context_from(&rec, LossKind::Mse), &Thresholds::default()).unwrap();
        assert!(d.evidence["p_value_decreasing"].as_f64().unwrap() > 0.05);
        assert!(
            loss_diverging(&context_from(&rec, LossKind::Mse), &Thresholds::default()).is_none()
        );
    }

    #[test]
    fn decreasing_loss_is_neither() {
        let rec = recording_with_loss(300, |s| 2.3 * (-(s as f64) / 100.0).exp() + 0.1);
        let ctx = context_from(&rec, LossKind::CrossEntropy);
        assert!(loss_plateau(&ctx, &Thresholds::default()).is_none());
        assert!(loss_diverging(&ctx, &Thresholds::default()).is_none());
    }

    #[test]
    fn growing_loss_diverges() {
        let rec = recording_with_loss(100, |s| 1.0 + 0.05 * s as f64);
        let d = loss_diverging(&context_from(&rec, LossKind::Mse), &Thresholds::default()).unwrap();
        assert!(d.evidence["growth"].as_f64().unwrap() > 1.5);
    }

    #[test]
    fn exploding_loss_diverges_and_is_no_plateau() {
        // Geometric growth with a final blow-up: the raw-value line is not
        // significant, the ln(loss) line is.
        let rec = recording_with_loss(120, |s| 10f64.powf(s as f64 * 0.6));
        let ctx = context_from(&rec, LossKind::Mse);
        assert!(loss_diverging(&ctx, &Thresholds::default()).is_some());
        assert!(loss_plateau(&ctx, &Thresholds::default()).is_none());
    }

    #[test]
    fn too_few_steps_decide_nothing() {
        let rec = recording_with_loss(5, |_| 1.0);
        assert!(loss_plateau(&context_from(&rec, LossKind::Mse), &Thresholds::default()).is_none());
    }
}

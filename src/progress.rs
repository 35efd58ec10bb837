//! The training progress line's text: the current loss and the time left.
//! Kept apart from the terminal bar (main.rs) so the arithmetic is tested
//! on synthetic durations, never on a clock.
//!
//! Time left = the average time per step over the latest half of the steps
//! done, times the steps left. The first steps of a run are slow (warm-up,
//! the gradient check at init): indicatif's own `{eta}` made an 11-second
//! run announce "5m", and an average since the start stays too high for
//! most of a short run. Averaging over the latest half forgets the warm-up
//! progressively yet spans many steps, so the estimate is smooth and
//! converges to the true time left.

use std::collections::VecDeque;
use std::time::Duration;

/// Fewest completed steps before a time left is shown: one step says
/// little about the rate.
pub const MIN_STEPS_FOR_ETA: usize = 3;
/// Samples kept per run at most (about): one every 1/SAMPLES of the run.
const SAMPLES: usize = 200;

/// The time-left estimator of one run: (steps done, seconds) samples over
/// the latest half of the run so far.
#[derive(Debug, Clone)]
pub struct Eta {
    samples: VecDeque<(usize, f64)>,
}

impl Default for Eta {
    fn default() -> Self {
        Self::new()
    }
}

impl Eta {
    /// Starts at step 0, time 0.
    pub fn new() -> Self {
        Eta {
            samples: VecDeque::from([(0, 0.0)]),
        }
    }

    /// Records `done` steps after `elapsed` and returns the seconds left of
    /// `total`, or None before [`MIN_STEPS_FOR_ETA`] steps (or past total).
    pub fn update(&mut self, done: usize, total: usize, elapsed: Duration) -> Option<f64> {
        let t = elapsed.as_secs_f64();
        let spacing = (total / SAMPLES).max(1);
        if self
            .samples
            .back()
            .is_none_or(|&(d, _)| done >= d + spacing)
        {
            self.samples.push_back((done, t));
        }
        // Keep the latest sample at or before done/2 as the window's start.
        while self.samples.get(1).is_some_and(|&(d, _)| d <= done / 2) {
            self.samples.pop_front();
        }
        if done < MIN_STEPS_FOR_ETA || done > total {
            return None;
        }
        let &(d0, t0) = self.samples.front()?;
        let steps = done.checked_sub(d0).filter(|&n| n > 0)?;
        let per_step = (t - t0).max(0.0) / steps as f64;
        Some(per_step * (total - done) as f64)
    }
}

/// A duration as people read it on a progress line: "7s" under a minute,
/// "2m05s" under an hour, "1h02m" beyond. Rounded up to whole seconds, so
/// a run with 0.3 s left says "1s", not "0s".
pub fn format_duration(seconds: f64) -> String {
    if !seconds.is_finite() || seconds < 0.0 {
        return "?".to_string();
    }
    let s = seconds.ceil() as u64;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

/// The bar's message: "loss 0.5133, 7s left" (each part only when known).
pub fn message(
    eta: &mut Eta,
    done: usize,
    total: usize,
    elapsed: Duration,
    loss: Option<f64>,
) -> String {
    let loss = loss.map(|l| format!("loss {}", crate::numfmt::short(l)));
    let left = eta
        .update(done, total, elapsed)
        .map(|s| format!("{} left", format_duration(s)));
    loss.into_iter().chain(left).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds steps 1..=total with per-step durations from `step_time` and
    /// returns (done, estimate, true time left) at every step.
    fn run(total: usize, step_time: impl Fn(usize) -> f64) -> Vec<(usize, Option<f64>, f64)> {
        let times: Vec<f64> = (1..=total).map(&step_time).collect();
        let mut eta = Eta::new();
        let mut elapsed = 0.0;
        let mut out = Vec::new();
        for done in 1..=total {
            elapsed += times[done - 1];
            let truth: f64 = times[done..].iter().sum();
            let est = eta.update(done, total, Duration::from_secs_f64(elapsed));
            out.push((done, est, truth));
        }
        out
    }

    #[test]
    fn steady_rate_gives_the_exact_time_left() {
        // 0.1 s a step: after 100 of 400 steps, 300 left = 30 s.
        for (done, est, truth) in run(400, |_| 0.1) {
            match est {
                None => assert!(done < MIN_STEPS_FOR_ETA),
                Some(e) => assert!((e - truth).abs() < 1e-6, "{done}: {e} vs {truth}"),
            }
        }
    }

    #[test]
    fn eta_converges_after_slow_first_steps() {
        // An 11-second run of 1000 steps whose first 5 steps take 1 s each
        // (warm-up, as measured on the healthy fixture's first steps) and
        // the rest 6 ms: from a tenth of the run on, the estimate is within
        // a second of the truth and never reads minutes.
        let rows = run(1000, |s| if s <= 5 { 1.0 } else { 0.006 });
        for (done, est, truth) in rows {
            let Some(e) = est else { continue };
            if done >= 100 {
                assert!((e - truth).abs() < 1.0, "{done}: {e} vs {truth}");
            }
            if done >= 20 {
                assert!(e < 60.0, "{done}: {}", format_duration(e));
            }
        }
    }

    #[test]
    fn estimator_keeps_a_bounded_window() {
        let mut eta = Eta::new();
        for done in 1..=1_000_000 {
            eta.update(done, 1_000_000, Duration::from_millis(done as u64));
        }
        assert!(eta.samples.len() <= SAMPLES, "{}", eta.samples.len());
    }

    #[test]
    fn durations_read_in_seconds_minutes_hours() {
        assert_eq!(format_duration(0.0), "0s");
        assert_eq!(format_duration(0.3), "1s");
        assert_eq!(format_duration(11.0), "11s");
        assert_eq!(format_duration(59.2), "1m00s");
        assert_eq!(format_duration(125.0), "2m05s");
        assert_eq!(format_duration(3720.0), "1h02m");
        assert_eq!(format_duration(f64::NAN), "?");
    }

    #[test]
    fn message_shows_loss_and_time_left() {
        let mut eta = Eta::new();
        let d = |s| Duration::from_secs(s);
        assert_eq!(message(&mut eta, 1, 200, d(0), Some(f64::NAN)), "loss NaN");
        assert_eq!(message(&mut eta, 2, 200, d(0), None), "");
        // A fresh run: 100 steps in 2 s, 100 left.
        assert_eq!(
            message(&mut Eta::new(), 100, 200, d(2), Some(0.51334)),
            "loss 0.5133, 2s left"
        );
    }
}

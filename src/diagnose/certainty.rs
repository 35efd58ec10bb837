//! Detection time: for each error diagnosis, the first step from which its
//! rule fires on the data seen so far and keeps firing (`certain_at`), and
//! the test `check --stop-when-diagnosed` uses to end training early.
//! Rules read only the recording, so "the data seen so far" is a prefix of
//! it, re-diagnosed at evenly spaced checkpoints.

use super::code::Code;
use super::context::Context;
use super::thresholds::Thresholds;
use super::types::{Diagnosis, Severity};
use crate::monitor::record::Recording;
use std::collections::BTreeSet;

/// Checkpoints per run at which prefixes are re-diagnosed: a resolution of
/// 2% of the run, at 50 x the cost of one diagnosis (milliseconds).
pub const CHECKPOINTS: usize = 50;

/// The recording up to and including `step`.
pub fn prefix(rec: &Recording, step: usize) -> Recording {
    Recording {
        layers: rec.layers.clone(),
        rows: rec
            .rows
            .iter()
            .filter(|r| r.step <= step)
            .cloned()
            .collect(),
        steps: rec
            .steps
            .iter()
            .filter(|s| s.step <= step)
            .cloned()
            .collect(),
        probes: rec
            .probes
            .iter()
            .filter(|p| p.step <= step)
            .cloned()
            .collect(),
        // The rules read the in-memory series only.
        full: Default::default(),
        task_evals: Vec::new(),
        bn_drift: Vec::new(),
        layer_index: Default::default(),
    }
}

/// Error codes the rules give on the prefix up to `step`.
pub fn errors_at(ctx: &Context<'_>, th: &Thresholds, step: usize) -> BTreeSet<Code> {
    let rec = prefix(ctx.recording, step);
    let sub = Context {
        recording: &rec,
        preflight: ctx.preflight,
        nan_origin: ctx.nan_origin.filter(|o| o.step <= step),
        gradcheck: ctx.gradcheck,
    };
    super::diagnose(&sub, th)
        .into_iter()
        .filter(|d| d.severity == Severity::Error)
        .map(|d| d.code)
        .collect()
}

/// Evenly spaced checkpoint steps over a run of `last` steps, ending at it.
pub fn checkpoints(last: usize) -> Vec<usize> {
    let mut out: Vec<usize> = (1..=CHECKPOINTS)
        .map(|i| (i * last).div_ceil(CHECKPOINTS))
        .filter(|&s| s >= 1)
        .collect();
    out.dedup();
    out
}

/// Sets `certain_at` on every error diagnosis: the first checkpoint from
/// which its code is an error on every later prefix.
pub fn set_certain_at(ctx: &Context<'_>, th: &Thresholds, diagnoses: &mut [Diagnosis]) {
    let last = ctx.recording.steps.last().map_or(0, |s| s.step);
    if last == 0 || !diagnoses.iter().any(|d| d.severity == Severity::Error) {
        return;
    }
    let points = checkpoints(last);
    let sets: Vec<BTreeSet<Code>> = points.iter().map(|&s| errors_at(ctx, th, s)).collect();
    for d in diagnoses
        .iter_mut()
        .filter(|d| d.severity == Severity::Error)
    {
        // Walk back from the end while the code holds.
        let mut from = None;
        for (i, set) in sets.iter().enumerate().rev() {
            if set.contains(&d.code) {
                from = Some(points[i]);
            } else {
                break;
            }
        }
        d.certain_at = from;
    }
}

/// `--stop-when-diagnosed`: tracks error sets at checkpoints during
/// training and says when every error diagnosis is certain: the same
/// non-empty set of errors at two consecutive checkpoints (it fired and
/// held), after at least `trend_min_points` steps.
#[derive(Debug, Default)]
pub struct StopRule {
    previous: Option<BTreeSet<Code>>,
}

impl StopRule {
    /// Feeds the error set at a checkpoint; true when training may stop.
    pub fn certain(&mut self, errors: BTreeSet<Code>) -> bool {
        let stop = !errors.is_empty() && self.previous.as_ref() == Some(&errors);
        self.previous = Some(errors);
        stop
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{context_from, recording_with_loss};
    use super::*;
    use crate::config::LossKind;

    #[test]
    fn a_plateau_from_the_start_is_certain_early() {
        // A flat loss: the plateau rule fires as soon as it has enough
        // points (trend_min_points = 20) and holds to the end.
        let mut rec =
            recording_with_loss(400, |s| 2.3 + 0.01 * ((s * 7919 % 13) as f64 / 13.0 - 0.5));
        rec.steps.last_mut().unwrap().test_accuracy = Some(0.1);
        let ctx = context_from(&rec, LossKind::CrossEntropy);
        let th = Thresholds::default();
        let mut d = super::super::diagnose(&ctx, &th);
        set_certain_at(&ctx, &th, &mut d);
        let plateau = d.iter().find(|d| d.code == Code::LossPlateau).unwrap();
        let at = plateau.certain_at.unwrap();
        assert!((20..=40).contains(&at), "{at}");
    }

    #[test]
    fn stop_rule_needs_the_same_errors_twice() {
        let mut r = StopRule::default();
        let set = |c: &[Code]| c.iter().copied().collect::<BTreeSet<_>>();
        assert!(!r.certain(set(&[])));
        assert!(!r.certain(set(&[Code::LossPlateau])));
        assert!(!r.certain(set(&[Code::LossPlateau, Code::AccuracyAtChance])));
        assert!(r.certain(set(&[Code::LossPlateau, Code::AccuracyAtChance])));
    }
}

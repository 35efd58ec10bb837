//! The verdict on a tensor and on a run: a tensor passes only on resolved
//! rows, fails on any failing resolved row, and is otherwise inconclusive
//! with the reason; a run passes only when every tensor passed.

use super::types::{
    CheckKind, CheckRow, Counts, GradcheckReport, RowStatus, State, Status, TensorKind,
    TensorResult,
};
use super::PointResult;
use crate::config::GradcheckConfig;

/// The verdict on one tensor in one state: fail if any resolved row
/// fails, pass if at least one resolved and none failed, else inconclusive
/// with the reason.
pub(super) fn summarise(
    at: &str,
    state: State,
    layer: Option<usize>,
    tensor: TensorKind,
    rows: &[CheckRow],
) -> TensorResult {
    let resolved: Vec<&CheckRow> = rows.iter().filter(|r| r.resolved).collect();
    let status = if resolved.iter().any(|r| r.status == RowStatus::Fail) {
        Status::Fail
    } else if resolved.is_empty() {
        Status::Inconclusive
    } else {
        Status::Pass
    };
    let reason = (status == Status::Inconclusive).then(|| {
        if !rows.is_empty() && rows.iter().all(|r| r.status == RowStatus::Kink) {
            "all-kinks".to_string()
        } else {
            "below-resolution".to_string()
        }
    });
    TensorResult {
        at: at.to_string(),
        layer,
        tensor,
        elements_checked: rows.iter().filter(|r| r.kind == CheckKind::Element).count(),
        directions_checked: rows
            .iter()
            .filter(|r| r.kind == CheckKind::Direction)
            .count(),
        kinks: rows.iter().filter(|r| r.kink).count(),
        resolved: resolved.len(),
        max_rel_error: resolved.iter().map(|r| r.rel_error).fold(0.0, f64::max),
        status,
        reason,
        verified_at: (status != Status::Inconclusive).then_some(state),
        passed: status == Status::Pass,
    }
}

/// Joins the check points of one run into a report.
pub fn assemble(
    points: Vec<PointResult>,
    parameters: usize,
    seconds: f64,
    s: &GradcheckConfig,
) -> GradcheckReport {
    let mut report = GradcheckReport {
        status: Status::Pass,
        counts: Counts::default(),
        passed: true,
        max_rel_error: 0.0,
        tensors: Vec::new(),
        rows: Vec::new(),
        first_wrong: None,
        parameters,
        seconds,
        epsilon: s.epsilon,
        rtol: s.rtol,
        atol: s.atol,
    };
    for p in points {
        report.max_rel_error = p
            .tensors
            .iter()
            .map(|t| t.max_rel_error)
            .fold(report.max_rel_error, f64::max);
        if report.first_wrong.is_none() {
            report.first_wrong = p.first_wrong;
        }
        report.tensors.extend(p.tensors);
        report.rows.extend(p.rows);
    }
    report.counts = Counts::of(&report.tensors);
    // Worst verdict wins: any failure fails, else anything undecided keeps
    // the run from passing.
    report.status = report
        .tensors
        .iter()
        .map(|t| t.status)
        .max()
        .unwrap_or(Status::Inconclusive);
    report.passed = report.status == Status::Pass;
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(status: RowStatus, rel: f64) -> CheckRow {
        CheckRow {
            at: "init".into(),
            layer: Some(1),
            tensor: TensorKind::Weight,
            kind: CheckKind::Element,
            index: vec![0, 0],
            analytic: 1.0,
            numeric: 1.0,
            abs_error: 0.0,
            rel_error: rel,
            kink: status == RowStatus::Kink,
            passed: status == RowStatus::Pass,
            resolved: matches!(status, RowStatus::Pass | RowStatus::Fail),
            status,
            state: State::Point,
        }
    }

    fn verdict(rows: &[CheckRow]) -> TensorResult {
        summarise("init", State::Point, Some(1), TensorKind::Weight, rows)
    }

    /// Truth: the rule: no resolved row is never a pass, the
    /// reason says why, and max rel error ignores unresolved rows (the
    /// issue's rel_error 1.0 of a 1e-22 against 0).
    #[test]
    fn verdicts_follow_the_resolved_rows_only() {
        use RowStatus::*;
        let t = verdict(&[row(BelowResolution, 1.0), row(Kink, 1.0)]);
        assert_eq!(
            (t.status, t.reason.as_deref()),
            (Status::Inconclusive, Some("below-resolution"))
        );
        assert!(!t.passed && t.verified_at.is_none() && t.resolved == 0);
        assert_eq!(t.max_rel_error, 0.0);
        let t = verdict(&[row(Kink, 0.5), row(Kink, 1.0)]);
        assert_eq!(t.reason.as_deref(), Some("all-kinks"));
        assert_eq!(verdict(&[]).status, Status::Inconclusive);
        let t = verdict(&[row(Pass, 1e-8), row(BelowResolution, 1.0)]);
        assert_eq!(
            (t.status, t.resolved, t.max_rel_error),
            (Status::Pass, 1, 1e-8)
        );
        assert_eq!(t.verified_at, Some(State::Point));
        let t = verdict(&[row(Pass, 1e-8), row(Fail, 0.7), row(Kink, 2.0)]);
        assert_eq!((t.status, t.max_rel_error), (Status::Fail, 0.7));
    }

    /// Truth: the worst verdict wins for the run, and an inconclusive run
    /// is not passed.
    #[test]
    fn a_run_passes_only_when_every_tensor_passed() {
        use RowStatus::*;
        let point = |rows: Vec<CheckRow>| PointResult {
            tensors: vec![verdict(&rows)],
            rows,
            first_wrong: None,
        };
        let s = GradcheckConfig::default();
        let r = assemble(
            vec![point(vec![row(Pass, 0.0)]), point(vec![row(Kink, 0.0)])],
            1,
            0.0,
            &s,
        );
        assert_eq!((r.status, r.passed), (Status::Inconclusive, false));
        assert_eq!((r.counts.pass, r.counts.inconclusive), (1, 1));
        let r = assemble(
            vec![point(vec![row(Fail, 0.5)]), point(vec![row(Kink, 0.0)])],
            1,
            0.0,
            &s,
        );
        assert_eq!(r.status, Status::Fail);
        let r = assemble(vec![point(vec![row(Pass, 0.0)])], 1, 0.0, &s);
        assert!(r.passed);
    }
}

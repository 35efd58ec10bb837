//! The terminal table of `nn-doctor gradcheck`: one line per checked
//! tensor, a verdict line, and for a failure the first wrong tensor with
//! the backprop mistake it matches. No colours: it is often piped to CI
//! logs.

use super::{index_label, matches_line, sci, short, tensor_label};
use crate::gradcheck::types::{Finding, GradcheckReport, State, Status, TensorKind, TensorResult};
use std::fmt::Write;

/// Renders the table, verdict and first finding, each line ending in '\n'.
/// The numbers of a tensor come from the state that decided it (the probe
/// state when the check point could not resolve it).
pub fn text_table(report: &GradcheckReport) -> String {
    let at_width = report
        .tensors
        .iter()
        .map(|t| t.at.chars().count())
        .max()
        .unwrap_or(0)
        .max(2);
    let mut t = String::new();
    let _ = writeln!(
        t,
        "{:<at_width$}  {:>5}  {:<7}  {:>8}  {:>10}  {:>5}  {:>8}  {:>13}  result",
        "at", "layer", "tensor", "elements", "directions", "kinks", "resolved", "max rel error"
    );
    for r in &report.tensors {
        t.push_str(&tensor_line(r, at_width));
    }
    t.push_str(&verdict_line(report));
    if let Some(f) = &report.first_wrong {
        t.push_str(&finding_lines(f));
    }
    t
}

fn tensor_line(r: &TensorResult, at_width: usize) -> String {
    // Pad by characters, not bytes, so non-ASCII check points line up.
    let pad = at_width.saturating_sub(r.at.chars().count());
    let rel = if r.resolved > 0 {
        sci(r.max_rel_error)
    } else {
        "-".to_string()
    };
    format!(
        "{}{:pad$}  {:>5}  {:<7}  {:>8}  {:>10}  {:>5}  {:>8}  {:>13}  {}\n",
        r.at,
        "",
        r.layer.map_or("-".to_string(), |l| l.to_string()),
        r.tensor.name(),
        r.elements_checked,
        r.directions_checked,
        r.kinks,
        r.resolved,
        rel,
        result(r)
    )
}

/// "PASS", "FAIL", "PASS at probe (point: below-resolution)" or
/// "INCONCLUSIVE (all-kinks)".
fn result(r: &TensorResult) -> String {
    let word = r.status.name().to_uppercase();
    let reason = r.reason.as_deref().unwrap_or("below-resolution");
    match (r.status, r.verified_at) {
        (Status::Inconclusive, _) => format!("{word} ({reason})"),
        (_, Some(State::Probe)) => format!("{word} at probe (point: {reason})"),
        (_, Some(State::Local)) if r.tensor == TensorKind::Input => format!("{word} locally"),
        (_, Some(State::LocalProbe)) if r.tensor == TensorKind::Input => {
            format!("{word} locally at probe")
        }
        (_, Some(State::Local)) => format!("{word} locally (point, probe: {reason})"),
        (_, Some(State::LocalComplexStep)) => {
            format!("{word} locally by complex step (point, probe: {reason})")
        }
        (_, Some(State::LocalProbe)) => {
            format!("{word} locally at probe (point, probe: {reason})")
        }
        _ => word,
    }
}

fn verdict_line(r: &GradcheckReport) -> String {
    let n = r.tensors.len();
    let tensors = if n == 1 { "tensor" } else { "tensors" };
    let c = &r.counts;
    let count = match r.status {
        Status::Pass => format!("PASS ({n} {tensors}"),
        Status::Fail => format!("FAIL ({} of {n} {tensors} wrong", c.fail),
        Status::Inconclusive => format!(
            "INCONCLUSIVE ({} of {n} {tensors} unresolved at the point, the probe state and locally",
            c.inconclusive
        ),
    };
    let mut probe = if c.resolved_at_probe > 0 {
        format!(", {} decided at the probe state", c.resolved_at_probe)
    } else {
        String::new()
    };
    if c.resolved_locally > 0 {
        probe.push_str(&format!(
            ", {} decided by the layer-local check",
            c.resolved_locally
        ));
    }
    format!(
        "gradcheck: {count}{probe}, max rel error {} over resolved rows, {:.2} s, {} parameters)\n",
        sci(r.max_rel_error),
        r.seconds,
        grouped(r.parameters)
    )
}

/// Where the first wrong tensor is, its worst numbers, and the known
/// mistake it matches: the lines a user acts on.
fn finding_lines(f: &Finding) -> String {
    format!(
        "first wrong: {} at {}: {}\n  worst index {}: analytic {}, numeric {}, rel error {}\n  {}\n",
        tensor_label(f.layer, f.tensor),
        f.at,
        f.message,
        index_label(&f.index),
        short(f.analytic),
        short(f.numeric),
        sci(f.rel_error),
        matches_line(f.pattern.as_ref())
    )
}

/// 795010 -> "795,010": parameter counts are read at a glance.
fn grouped(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{failing, passing};
    use super::*;

    /// Truth: the fixture's three passing tensors, laid out by hand in the
    /// specified columns, and the verdict line format from the spec.
    #[test]
    fn pass_layout() {
        let expected = "\
at    layer  tensor   elements  directions  kinks  resolved  max rel error  result
init      1  weight         12           2      0        14        3.20e-9  PASS
init      1  bias           12           2      0        14       1.50e-10  PASS
init      -  network         0           4      0         4        2.00e-9  PASS
gradcheck: PASS (3 tensors, max rel error 3.20e-9 over resolved rows, 0.41 s, 795,010 parameters)
";
        assert_eq!(text_table(&passing()), expected);
    }

    /// Truth: the failing fixture (two of three wrong, first_wrong = layer
    /// 2 weight, factor-2 pattern) laid out by hand.
    #[test]
    fn fail_layout_with_pattern() {
        let expected = "\
at    layer  tensor   elements  directions  kinks  resolved  max rel error  result
init      2  weight         12           2      0        14        5.00e-1  FAIL
init      1  bias           12           2      1        14        1.00e-9  PASS
init      -  network         0           4      0         4        2.50e-1  FAIL
gradcheck: FAIL (2 of 3 tensors wrong, max rel error 5.00e-1 over resolved rows, 1.50 s, 1,234 parameters)
first wrong: layer 2 weight at init: layer 2 weight is wrong at init
  worst index 12:3: analytic 0.5000, numeric 0.2500, rel error 5.00e-1
  matches: constant-factor — analytic = factor x numeric (factor 2.000)
";
        assert_eq!(text_table(&failing()), expected);
    }

    /// Truth: the spec's wording for a finding without a pattern, and a
    /// pattern without a factor has no "factor" clause.
    #[test]
    fn finding_without_pattern_or_factor() {
        let mut r = failing();
        let f = r.first_wrong.as_mut().unwrap();
        f.pattern = None;
        assert!(text_table(&r).ends_with("\n  matches no known backprop mistake\n"));
        let f = r.first_wrong.as_mut().unwrap();
        f.pattern = Some(crate::gradcheck::types::PatternMatch {
            code: "missing-output-derivative".into(),
            explanation: "the activation derivative is not applied".into(),
            factor: None,
        });
        assert!(text_table(&r).ends_with(
            "\n  matches: missing-output-derivative — the activation derivative is not applied\n"
        ));
    }

    /// Truth: the rule, laid out by hand: a tensor decided at the
    /// probe says so with the point's reason, one with no resolved row is
    /// INCONCLUSIVE with its reason and no max rel error, and the run is
    /// not a pass.
    #[test]
    fn inconclusive_and_probe_layout() {
        let expected = "\
at    layer  tensor   elements  directions  kinks  resolved  max rel error  result
init      1  weight         12           2      0        14        2.00e-7  PASS at probe (point: below-resolution)
init      1  bias           12           2     14         0              -  INCONCLUSIVE (all-kinks)
init      2  weight         12           2      0        14        3.00e-8  PASS
gradcheck: INCONCLUSIVE (1 of 3 tensors unresolved at the point, the probe state and locally, 1 decided at the probe state, max rel error 2.00e-7 over resolved rows, 0.41 s, 795,010 parameters)
";
        assert_eq!(text_table(&super::super::fixtures::undecided()), expected);
    }

    /// Truth: long check-point names widen the first column for every line.
    #[test]
    fn long_check_point_widens_column() {
        let mut r = passing();
        r.tensors[0].at = "last-finite (step 41)".into();
        r.tensors.truncate(1);
        let text = text_table(&r);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("at                     layer"));
        assert!(lines[1].starts_with("last-finite (step 41)      1  weight"));
        assert!(lines[2].starts_with("gradcheck: PASS (1 tensor,"));
    }

    #[test]
    fn grouping_thousands() {
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(1_000), "1,000");
        assert_eq!(grouped(795_010), "795,010");
        assert_eq!(grouped(12_345_678), "12,345,678");
    }
}

//! The terminal report: the first divergence first (what a user acts on),
//! then every compared tensor in computation order with its errors, then
//! the remaining findings.

use super::report::{TraceReport, Verdict};
use super::tensor::tensor_label;
use super::verify::sci;
use std::fmt::Write;

/// Renders the report as text.
pub fn render(r: &TraceReport) -> String {
    let i = &r.info;
    let mut s = String::new();
    let _ = writeln!(s, "nn-doctor verify-trace: {}", i.dir);
    let _ = writeln!(
        s,
        "  network  {} | batch {} | {} | weight_layout {} | {} (rtol {:.0e})",
        i.network, i.batch, i.loss, i.layout, i.precision, i.rtol
    );
    let _ = writeln!(
        s,
        "  reference recomputed in f64, confirmed by {} finite-difference element checks ({} skipped at a ReLU kink) in {:.3} s",
        i.fd_checks, i.fd_kinks, i.seconds
    );
    match (&r.verdict, &r.first_divergence) {
        (Verdict::Match, _) | (_, None) => {
            let _ = writeln!(
                s,
                "verdict: MATCH: every provided tensor agrees with the reference"
            );
        }
        (Verdict::Mismatch, Some(f)) => {
            let _ = writeln!(s, "verdict: MISMATCH ({} finding(s))", r.findings.len());
            let _ = writeln!(
                s,
                "first divergence: {} — {}",
                tensor_label(f.layer, f.tensor),
                f.pattern.as_deref().unwrap_or("no known pattern")
            );
            let _ = writeln!(s, "  {}", f.message);
            let _ = writeln!(s, "  fix: {}", f.suggestion);
        }
    }
    let _ = writeln!(s, "compared tensors (computation order):");
    let width = r
        .tensors
        .iter()
        .map(|t| tensor_label(t.layer, t.tensor).len())
        .max()
        .unwrap_or(0);
    for t in &r.tensors {
        let _ = writeln!(
            s,
            "  {:<4}  {:<width$}  max abs {:>9}  max rel {:>9}  {}",
            if t.passed { "OK" } else { "DIFF" },
            tensor_label(t.layer, t.tensor),
            sci(t.max_abs_error),
            sci(t.max_rel_error),
            t.pattern.as_deref().unwrap_or(""),
        );
    }
    if r.findings.len() > 1 {
        let _ = writeln!(s, "later findings:");
        for f in &r.findings[1..] {
            let _ = writeln!(s, "  {}", f.message);
        }
    }
    s
}

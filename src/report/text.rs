//! The one-screen summary printed on stdout after `check`.

use super::summary::{Summary, Verdict};
use crate::diagnose::Severity;
use std::fmt::Write;

/// Renders the terminal summary (no colours: it is often piped to CI logs).
pub fn render(s: &Summary, command: &str, report_dir: &str) -> String {
    let mut t = String::new();
    let _ = writeln!(t, "nn-doctor {command}: {} ({})", s.name, s.config);
    let _ = writeln!(
        t,
        "  network  {} | {} | loss {} | {} | lr {} | batch {}",
        s.architecture(" -> "),
        s.network.dtype,
        s.network.loss,
        s.network.optimizer,
        s.network.learning_rate,
        s.network.batch_size
    );
    if let Some(names) = s.layer_names() {
        let _ = writeln!(t, "  layers   {names}");
    }
    let _ = writeln!(
        t,
        "  trained  {}/{} steps in {:.1} s ({:.0} samples/s){}",
        s.steps_run,
        s.steps_planned,
        s.timing.seconds,
        s.timing.samples_per_second,
        s.stop_reason
            .as_deref()
            .map_or(String::new(), |r| format!(" — stopped: {r}"))
    );
    let f = &s.final_;
    let show = |v: Option<f64>| v.map_or("n/a".to_string(), crate::numfmt::short);
    match f.fit.task.as_deref() {
        Some("regression") => {
            let _ = writeln!(
                t,
                "  final    loss {}  train R^2 {}  test R^2 {}  test RMSE {}",
                show(f.loss),
                show(f.fit.train_r2),
                show(f.fit.test_r2),
                show(f.fit.test_rmse)
            );
        }
        Some("multilabel") => {
            let _ = writeln!(
                t,
                "  final    loss {}  train exact match {}  test exact match {}",
                show(f.loss),
                show(f.fit.train_exact_match),
                show(f.fit.test_exact_match)
            );
        }
        _ => {
            let _ = writeln!(
                t,
                "  final    loss {}  train acc {}  test acc {}",
                show(f.loss),
                show(f.train_accuracy),
                show(f.test_accuracy)
            );
        }
    }
    let verdict = match s.verdict {
        Verdict::Healthy => "HEALTHY",
        Verdict::Unhealthy => "UNHEALTHY",
    };
    let _ = writeln!(
        t,
        "verdict: {verdict} ({} error, {} warning, {} info)",
        s.count(Severity::Error),
        s.count(Severity::Warning),
        s.count(Severity::Info)
    );
    for d in &s.diagnoses {
        let layer = d.layer.map_or("-".to_string(), |l| format!("L{l}"));
        let step = d.step.map_or(String::new(), |s| format!("step {s}"));
        let _ = writeln!(
            t,
            "  {:<7} {:<22} {:<4} {:<11} {}",
            d.severity.name(),
            d.code,
            layer,
            step,
            first_sentence(&d.message)
        );
    }
    for k in &s.skipped {
        let _ = writeln!(t, "  skipped {:<22} {}", k.code, k.reason);
    }
    if let Some(fix) = super::names::first_fix(s) {
        let _ = writeln!(t, "first fix: {fix}");
    }
    for f in &s.fixes {
        let _ = writeln!(
            t,
            "  fix {:<14} {}; loss {}, test acc {} -> {}",
            f.name,
            super::names::fix_outcome(f),
            super::names::fix_loss(f, "->"),
            show(f.test_accuracy_before),
            show(f.test_accuracy_after)
        );
    }
    let _ = writeln!(t, "report: {report_dir}/report.md");
    t
}

/// The message up to its first sentence end, so each line stays short.
fn first_sentence(m: &str) -> &str {
    match m.find(". ") {
        Some(i) => &m[..=i],
        None => m,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn first_sentence_cuts_at_a_full_stop() {
        assert_eq!(
            super::first_sentence("One 1.5 thing. Two."),
            "One 1.5 thing."
        );
        assert_eq!(super::first_sentence("Only one"), "Only one");
    }
}

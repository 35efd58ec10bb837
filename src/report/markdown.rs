//! report.md: the verdict, the most important diagnosis with its evidence
//! and fixes first, then the rest, each next to the plot that shows it.

use super::summary::{Summary, Verdict};
use crate::diagnose::{Diagnosis, Severity};
use std::fmt::Write;

/// The plot that shows a diagnosis best.
pub fn plot_for(code: &str) -> Option<(&'static str, &'static str)> {
    match code {
        "saturated-activations" | "dead-relus" => {
            Some(("saturation.png", "saturated and dead fractions per layer"))
        }
        "vanishing-gradients" | "exploding-gradients" | "non-finite" => {
            Some(("gradient_norms.png", "gradient norms per layer (log scale)"))
        }
        "poor-initialization" | "unscaled-inputs" => {
            Some(("activations.png", "activation ranges per layer"))
        }
        "loss-plateau" | "loss-diverging" => Some(("loss.png", "loss and accuracy")),
        _ => None,
    }
}

/// Renders report.md.
pub fn render(s: &Summary) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "# nn-doctor report: {}\n", s.name);
    let verdict = match s.verdict {
        Verdict::Healthy => "healthy",
        Verdict::Unhealthy => "unhealthy",
    };
    let _ = writeln!(
        md,
        "**Verdict: {verdict}** — {} error(s), {} warning(s), {} info. Config `{}`; exit code {} (fail on {}).\n",
        s.count(Severity::Error),
        s.count(Severity::Warning),
        s.count(Severity::Info),
        s.config,
        s.exit_code,
        s.fail_on
    );
    run_facts(&mut md, s);
    if let Some(o) = &s.nan_origin {
        let _ = writeln!(md, "## First non-finite value\n\n{}\n", o.detail);
        let _ = writeln!(md, "| step | layer | phase | kind | tensor | index | value |\n|---|---|---|---|---|---|---|");
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {:?} | {} |\n",
            o.step,
            o.layer.map_or("-".into(), |l| l.to_string()),
            o.phase,
            o.kind,
            o.tensor,
            o.index,
            o.value
        );
    }
    match s.diagnoses.split_first() {
        None => {
            let _ = writeln!(md, "## Diagnoses\n\nNo problems found.\n");
        }
        Some((first, rest)) => {
            let _ = writeln!(md, "## Most important: `{}`\n", first.code);
            diagnosis(&mut md, first);
            if !rest.is_empty() {
                let _ = writeln!(md, "## Other diagnoses\n");
                for d in rest {
                    let _ = writeln!(md, "### `{}`\n", d.code);
                    diagnosis(&mut md, d);
                }
            }
        }
    }
    if !s.skipped.is_empty() {
        let _ = writeln!(
            md,
            "## Skipped rules\n\nThe run did not record what these rules read; they were not run (not passed).\n\n| rule | reason |\n|---|---|"
        );
        for k in &s.skipped {
            let _ = writeln!(md, "| `{}` | {} |", k.code, k.reason);
        }
        let _ = writeln!(md);
    }
    fixes(&mut md, s);
    let _ = writeln!(md, "## Plots\n");
    for (file, what) in [
        ("loss.png", "Loss and accuracy"),
        (
            "gradient_norms.png",
            "Weight-gradient L2 norm per layer (log scale)",
        ),
        (
            "activations.png",
            "Activation range (min..max band, mean line) per layer",
        ),
        (
            "saturation.png",
            "Saturated (solid) and dead (dashed) fractions per layer",
        ),
        (
            "update_ratio.png",
            "Update/weight norm ratio per layer (log scale; guide at 1e-3)",
        ),
    ] {
        let _ = writeln!(md, "### {what}\n\n![{what}]({file})\n");
    }
    let _ = writeln!(md, "## Files\n");
    for f in &s.files {
        let _ = writeln!(md, "- [{f}]({f})");
    }
    md
}

fn run_facts(md: &mut String, s: &Summary) {
    let _ = writeln!(md, "| | |\n|---|---|");
    let _ = writeln!(
        md,
        "| network | {} ({} parameters, {:?}) |",
        s.architecture(" → "),
        s.network.parameters,
        s.network.dtype
    );
    let _ = writeln!(
        md,
        "| training | loss {:?}, optimizer {:?}, learning rate {}, batch {} |",
        s.network.loss, s.network.optimizer, s.network.learning_rate, s.network.batch_size
    );
    if let Some(names) = s.layer_names() {
        let _ = writeln!(md, "| layers | {names} |");
    }
    let _ = writeln!(md, "| data | {} |", s.data.description);
    let stop = s
        .stop_reason
        .as_deref()
        .map_or(String::new(), |r| format!(" — stopped early: {r}"));
    let _ = writeln!(
        md,
        "| steps | {} of {}{stop} |",
        s.steps_run, s.steps_planned
    );
    let f = &s.final_;
    let _ = writeln!(
        md,
        "| final | loss {}, train accuracy {}, test accuracy {} |\n",
        fmt_opt(f.loss),
        fmt_opt(f.train_accuracy),
        fmt_opt(f.test_accuracy)
    );
}

/// The `--try-fixes` table: each candidate, what it changed and what it
/// achieved on the same budget.
fn fixes(md: &mut String, s: &Summary) {
    if s.fixes.is_empty() {
        return;
    }
    let _ = writeln!(md, "## Verified fixes (`--try-fixes`)\n");
    let _ = writeln!(
        md,
        "Each candidate was trained for the same {} steps; nothing was applied to your config.\n",
        s.fixes[0].steps
    );
    let _ = writeln!(md, "| candidate | changes | errors left | loss before → after | test accuracy before → after | config |\n|---|---|---|---|---|---|");
    for f in &s.fixes {
        let left = if f.cleared_errors {
            "none ✔".to_string()
        } else {
            f.errors_after.join(", ")
        };
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} → {} | {} → {} | [{}]({}) |",
            f.name,
            f.changes.join("; "),
            left,
            fmt_opt(f.loss_before),
            fmt_opt(f.loss_after),
            fmt_opt(f.test_accuracy_before),
            fmt_opt(f.test_accuracy_after),
            f.config,
            f.config
        );
    }
    md.push('\n');
}

fn fmt_opt(v: Option<f64>) -> String {
    v.map_or("n/a".into(), crate::numfmt::short)
}

fn diagnosis(md: &mut String, d: &Diagnosis) {
    let layer = d.layer.map_or("network".into(), |l| format!("layer {l}"));
    let step = d.step.map_or("-".into(), |s| {
        if s == 0 {
            "before training".into()
        } else {
            format!("step {s}")
        }
    });
    let _ = writeln!(
        md,
        "**{}** · {layer} · first seen {step}\n\n{}\n",
        d.severity, d.message
    );
    if !d.evidence.is_empty() {
        let _ = writeln!(md, "| evidence | value |\n|---|---|");
        for (k, v) in &d.evidence {
            let _ = writeln!(md, "| {k} | {} |", evidence_value(v));
        }
        md.push('\n');
    }
    if !d.suggestions.is_empty() {
        let _ = writeln!(md, "Suggested fixes:\n");
        for (i, s) in d.suggestions.iter().enumerate() {
            let _ = writeln!(md, "{}. {s}", i + 1);
        }
        md.push('\n');
    }
    if let Some((file, what)) = plot_for(d.code) {
        let _ = writeln!(md, "See [{file}]({file}) ({what}).\n");
    }
}

fn evidence_value(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Number(n) => match n.as_f64() {
            Some(x) if n.is_f64() && x != 0.0 && !(1e-3..1e6).contains(&x.abs()) => {
                format!("{x:.4e}")
            }
            Some(x) if n.is_f64() => format!("{x:.6}")
                .trim_end_matches('0')
                .trim_end_matches('.')
                .to_string(),
            _ => n.to_string(),
        },
        serde_json::Value::Null => "non-finite".into(),
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn evidence_values_are_readable() {
        assert_eq!(evidence_value(&json!(7.1e-23)), "7.1000e-23");
        assert_eq!(evidence_value(&json!(0.5)), "0.5");
        assert_eq!(evidence_value(&json!(784)), "784");
        assert_eq!(evidence_value(&json!(null)), "non-finite");
    }

    #[test]
    fn every_code_with_a_plot_names_a_written_file() {
        for code in crate::diagnose::CODES {
            if let Some((file, _)) = plot_for(code) {
                assert!(super::super::PLOT_FILES.contains(&file), "{code}: {file}");
            }
        }
    }
}

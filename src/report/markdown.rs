//! report.md: the verdict, the most important diagnosis with its evidence
//! and fixes first, then the rest, each next to the plot that shows it.

use super::names;
use super::plots::{plot_for, PLOTS};
use super::summary::{Summary, Verdict};
use crate::diagnose::Code;
use crate::diagnose::{Diagnosis, Severity};
use std::fmt::Write;

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
    if let Some(fix) = names::first_fix(s) {
        let _ = writeln!(md, "**First fix:** {fix}\n");
    }
    run_facts(&mut md, s);
    if let Some(o) = &s.nan_origin {
        let _ = writeln!(md, "## First non-finite value\n\n{}\n", o.detail);
        let _ = writeln!(md, "| step | layer | phase | kind | tensor | index | value |\n|---|---|---|---|---|---|---|");
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {} |\n",
            o.step,
            o.layer.map_or("-".into(), |l| l.to_string()),
            o.phase,
            o.kind,
            o.tensor,
            o.index
                .iter()
                .map(|i| i.to_string())
                .collect::<Vec<_>>()
                .join(", "),
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
    gradcheck(&mut md, s);
    fixes(&mut md, s);
    let _ = writeln!(md, "## Plots\n");
    for (file, what) in PLOTS {
        let _ = writeln!(md, "### {what}\n\n![{what}]({file})\n");
    }
    if let Some(c) = &s.confusion {
        let acc: Vec<String> = c
            .per_class_accuracy
            .iter()
            .enumerate()
            .map(|(i, a)| format!("{i}: {}", fmt_opt(*a)))
            .collect();
        let _ = writeln!(
            md,
            "### Confusion matrix ({} set)\n\nPer-class accuracy: {}.\n\n![Confusion matrix](confusion.png)\n",
            c.set,
            acc.join(", ")
        );
    }
    let _ = writeln!(md, "## Files\n");
    for (f, what) in run_files(s) {
        let _ = writeln!(md, "- {} — {what}", md_link(&f));
    }
    md
}

/// Every file of the run directory with what it holds: the summary's list,
/// gradcheck.csv when checks ran, and each `--try-fixes` candidate.
pub fn run_files(s: &Summary) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = s
        .files
        .iter()
        .map(|f| (f.clone(), describe_file(f).to_string()))
        .collect();
    if s.gradcheck.is_some() && !s.files.iter().any(|f| f == "gradcheck.csv") {
        out.push((
            "gradcheck.csv".into(),
            describe_file("gradcheck.csv").into(),
        ));
    }
    for f in &s.fixes {
        out.push((
            f.config.clone(),
            format!("candidate config of fix `{}`", f.name),
        ));
        let dir = f.config.trim_end_matches(".toml");
        out.push((
            format!("{dir}/report.md"),
            format!("full report of fix `{}`", f.name),
        ));
    }
    out
}

/// One line on what a report file holds.
fn describe_file(f: &str) -> &'static str {
    match f {
        "report.md" => "this report",
        "index.html" => "this report as a web page",
        "summary.json" => "machine-readable summary (schema/summary.schema.json)",
        "metrics.csv" => "per step and layer statistics",
        "loss.csv" => "per step loss and accuracy",
        "gradcheck.csv" => "every gradient-check comparison",
        _ => PLOTS
            .iter()
            .find(|(file, _)| *file == f)
            .map_or("", |(_, what)| *what),
    }
}

/// The gradient-check verdict and one row per checked tensor.
fn gradcheck(md: &mut String, s: &Summary) {
    let Some(g) = &s.gradcheck else {
        return;
    };
    let _ = writeln!(md, "## Gradient check\n");
    let _ = writeln!(md, "{}\n", gradcheck_verdict(g));
    let rows = gradcheck_rows(g);
    if !rows.is_empty() {
        let _ = writeln!(
            md,
            "| at | layer | tensor | status | max relative error | kinks |\n|---|---|---|---|---|---|"
        );
        for r in rows {
            let _ = writeln!(md, "| {} |", r.join(" | "));
        }
        md.push('\n');
    }
}

/// One sentence: passed, inconclusive, or the first wrong tensor. A pass
/// says how many tensors were only resolvable at the probe state, so a
/// reader knows which verdicts came from the well-conditioned re-check.
pub fn gradcheck_verdict(g: &serde_json::Value) -> String {
    let first_wrong = g["first_wrong"]["message"].as_str();
    let status = g["status"]
        .as_str()
        .or(g["verdict"].as_str())
        .or(match g["passed"].as_bool() {
            Some(true) => Some("pass"),
            Some(false) => Some("fail"),
            None => None,
        });
    let count = |k: &str| g["counts"][k].as_u64().unwrap_or(0);
    let at_probe = match count("resolved_at_probe") {
        0 => String::new(),
        n => format!("; {n} tensor(s) could not be resolved at the requested point and were verified at the well-conditioned probe state"),
    };
    let max_rel = g["max_rel_error"]
        .as_f64()
        .map_or("n/a".into(), crate::numfmt::short);
    match (status, first_wrong) {
        (_, Some(m)) => format!("**Gradient check: FAILED.** {m}"),
        (Some("pass"), None) => format!(
            "**Gradient check: passed** — analytic and finite-difference gradients agree (largest relative error over resolved comparisons {max_rel}{at_probe})."
        ),
        (Some("inconclusive"), None) => format!(
            "**Gradient check: inconclusive** — {} tensor(s) could not be resolved by finite differences even at the probe state (see the reason per tensor); nothing failed, but they were not verified.",
            count("inconclusive")
        ),
        (Some("fail"), None) => "**Gradient check: FAILED.**".to_string(),
        (Some(other), None) => format!("**Gradient check: {other}.**"),
        (None, None) => "**Gradient check: no result.**".to_string(),
    }
}

/// (at, layer, tensor, status, max rel error, kinks) per checked tensor.
pub fn gradcheck_rows(g: &serde_json::Value) -> Vec<[String; 6]> {
    let Some(checks) = g["checks"].as_array() else {
        return Vec::new();
    };
    checks
        .iter()
        .map(|c| {
            let text = |k: &str| c[k].as_str().unwrap_or("").to_string();
            let status = c["status"].as_str().map_or_else(
                || match c["passed"].as_bool() {
                    Some(true) => "pass".to_string(),
                    Some(false) => "FAIL".to_string(),
                    None => "n/a".to_string(),
                },
                str::to_string,
            );
            let status = match (c["verified_at"].as_str(), c["reason"].as_str()) {
                (Some("probe"), Some(reason)) => format!("{status} at probe (point: {reason})"),
                (Some("probe"), None) => format!("{status} at probe"),
                (_, Some(reason)) if status == "inconclusive" => format!("{status} ({reason})"),
                _ => status,
            };
            [
                text("at"),
                c["layer"]
                    .as_u64()
                    .map_or("network".into(), |l| l.to_string()),
                text("tensor"),
                status,
                c["max_rel_error"].as_f64().map_or("n/a".into(), |v| {
                    if v == 0.0 {
                        "0".to_string()
                    } else {
                        format!("{v:.2e}")
                    }
                }),
                c["kinks"].as_u64().unwrap_or(0).to_string(),
            ]
        })
        .collect()
}

fn run_facts(md: &mut String, s: &Summary) {
    let _ = writeln!(md, "| | |\n|---|---|");
    let _ = writeln!(
        md,
        "| network | {} ({} parameters, {}) |",
        s.architecture(" → "),
        s.network.parameters,
        s.network.dtype
    );
    let _ = writeln!(
        md,
        "| training | loss {}, optimizer {}, learning rate {}, batch {} |",
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
        "| run | seed {}, config digest `{}`, {} {} (summary schema {}) |",
        s.seed.map_or("not recorded".to_string(), |v| v.to_string()),
        s.config_digest.as_deref().unwrap_or("unreadable"),
        s.tool,
        s.tool_version,
        s.schema_version
    );
    let _ = writeln!(
        md,
        "| final | loss {}, {} |\n",
        fmt_opt(f.loss),
        names::final_metrics(f)
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
    if let Some(h) = &s.headline_fix {
        let _ = writeln!(md, "**Best verified fix:** {h}\n");
    }
    let _ = writeln!(md, "Losses are compared only within one loss function: a candidate that changes the loss function reports both values without a comparison.\n");
    let _ = writeln!(md, "| candidate | changes | outcome | loss before → after | test accuracy before → after | config |\n|---|---|---|---|---|---|");
    for f in &s.fixes {
        let outcome = names::fix_outcome(f);
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} → {} | {} |",
            f.name,
            f.changes.join("; "),
            outcome,
            names::fix_loss(f, "→"),
            fmt_opt(f.test_accuracy_before),
            fmt_opt(f.test_accuracy_after),
            md_link(&f.config)
        );
    }
    md.push('\n');
}

/// A link to a file of the report directory, or the name as code when it
/// is not one (see [`super::is_local_link`]).
fn md_link(target: &str) -> String {
    if super::is_local_link(target) {
        format!("[{target}]({target})")
    } else {
        format!("`{}`", target.replace('`', "'"))
    }
}

fn fmt_opt(v: Option<f64>) -> String {
    v.map_or("n/a".into(), crate::numfmt::short)
}

fn diagnosis(md: &mut String, d: &Diagnosis) {
    let layer = names::layer_label(d.layer);
    let seen = names::first_seen(d.step).map_or(String::new(), |s| format!(" · {s}"));
    let _ = writeln!(md, "**{}** · {layer}{seen}\n\n{}\n", d.severity, d.message);
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
    if let Some(look) = where_to_look(d) {
        let _ = writeln!(md, "{look}\n");
    }
}

/// "See saturation.png, panel layer 1, at the dashed line marking step 1."
pub fn where_to_look(d: &Diagnosis) -> Option<String> {
    if d.code == Code::GradientMismatch {
        return Some(
            "Look at the gradient-check table below and [gradcheck.csv](gradcheck.csv).".into(),
        );
    }
    let file = plot_for(d)?;
    if !super::PLOT_FILES.contains(&file) {
        // Not a plot over steps (the confusion matrix): nothing is marked.
        return Some(format!("Look at [{file}]({file})."));
    }
    let place = match d.layer {
        Some(l) => format!("layer {l}"),
        None => "the whole network".to_string(),
    };
    let mark = match d.step {
        Some(s) => format!(", where a dashed line marks step {s}"),
        None => String::new(),
    };
    Some(format!("Look at [{file}]({file}) — {place}{mark}."))
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
        for code in crate::diagnose::Code::all() {
            for layer in [None, Some(1)] {
                let d = Diagnosis::new(code, Severity::Error, "").at(layer, Some(1));
                if let Some(file) = plot_for(&d) {
                    assert!(
                        super::super::PLOT_FILES.contains(&file)
                            || file == super::super::CONFUSION_FILE,
                        "{code}: {file}"
                    );
                }
            }
        }
    }

    #[test]
    fn where_to_look_names_plot_layer_and_step() {
        let d = Diagnosis::new(Code::VanishingGradients, Severity::Error, "").at(Some(1), Some(3));
        assert_eq!(
            where_to_look(&d).unwrap(),
            "Look at [gradient_ratio.png](gradient_ratio.png) — layer 1, where a dashed line marks step 3."
        );
    }

    #[test]
    fn gradcheck_rows_read_status_or_passed() {
        let g = json!({"passed": true, "max_rel_error": 1e-5, "first_wrong": null,
            "checks": [{"at": "init", "layer": 1, "tensor": "weight", "passed": true,
                        "max_rel_error": 1e-5, "kinks": 0},
                       {"at": "end", "layer": null, "tensor": "network", "status": "inconclusive",
                        "max_rel_error": 0.0, "kinks": 2}]});
        let rows = gradcheck_rows(&g);
        assert_eq!(rows[0][3], "pass");
        assert_eq!(rows[1][1], "network");
        assert_eq!(rows[1][3], "inconclusive");
        assert!(gradcheck_verdict(&g).contains("passed"));
    }
}

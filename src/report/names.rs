//! Human-readable phrases shared by the terminal summary, report.md and
//! index.html, so the three say the same thing the same way and none of them
//! leaks Rust debug formatting.

use super::fix_result::FixResult;
use crate::diagnose::Diagnosis;

/// "layer 2" or "network" (a diagnosis about no single layer).
/// The one fix every view puts first: the verified best fix when
/// `--try-fixes` ran, else the first suggestion of the most important
/// diagnosis at warning or error level (an info-level note is not a
/// problem to fix). The terminal, report.md and index.html all use it, so
/// they never name different first fixes.
pub fn first_fix(s: &crate::report::summary::Summary) -> Option<&str> {
    s.headline_fix.as_deref().or_else(|| {
        s.diagnoses
            .iter()
            .find(|d| d.severity >= crate::diagnose::Severity::Warning)
            .and_then(|d| d.suggestions.first())
            .map(String::as_str)
    })
}

pub fn layer_label(layer: Option<usize>) -> String {
    layer.map_or("network".into(), |l| format!("layer {l}"))
}

/// "first seen before training" / "first seen at step 12", or None when
/// the diagnosis has no step (e.g. a judgement on the final accuracy).
pub fn first_seen(step: Option<usize>) -> Option<String> {
    step.map(|s| {
        if s == 0 {
            "first seen before training".to_string()
        } else {
            format!("first seen at step {s}")
        }
    })
}

/// "poor-initialization L1", or the bare code for a network-wide one.
pub fn code_at(code: &str, layer: Option<usize>) -> String {
    match layer {
        Some(l) => format!("{code} L{l}"),
        None => code.to_string(),
    }
}

/// A diagnosis as "code L1".
pub fn diagnosis_at(d: &Diagnosis) -> String {
    code_at(d.code.name(), d.layer)
}

/// "clears all errors" or "leaves saturated-activations L1, loss-plateau".
pub fn fix_outcome(f: &FixResult) -> String {
    let mut parts = Vec::new();
    if !f.clears.is_empty() {
        parts.push(format!("clears {}", f.clears.join(", ")));
    }
    if f.cleared_errors {
        parts.push("clears all errors".to_string());
    } else {
        let left: Vec<String> = if f.errors_left.is_empty() {
            f.errors_after.clone()
        } else {
            f.errors_left
                .iter()
                .map(|e| code_at(&e.code, e.layer))
                .collect()
        };
        parts.push(format!("leaves {}", left.join(", ")));
    }
    if !f.introduces.is_empty() {
        parts.push(format!("introduces {}", f.introduces.join(", ")));
    }
    parts.join("; ")
}

/// The final metrics of the run's task, after its loss: accuracies
/// (classification), R² and RMSE (regression), exact match (multilabel).
pub fn final_metrics(f: &crate::report::summary::Final) -> String {
    let show = |v: Option<f64>| v.map_or("n/a".to_string(), crate::numfmt::short);
    match f.fit.task.as_deref() {
        Some("regression") => format!(
            "train R² {}, test R² {}, test RMSE {}",
            show(f.fit.train_r2),
            show(f.fit.test_r2),
            show(f.fit.test_rmse)
        ),
        Some("multilabel") => format!(
            "train exact match {}, test exact match {}",
            show(f.fit.train_exact_match),
            show(f.fit.test_exact_match)
        ),
        _ => format!(
            "train accuracy {}, test accuracy {}",
            show(f.train_accuracy),
            show(f.test_accuracy)
        ),
    }
}

/// The loss change of a fix, "0.878 -> 0.2741" when both are in the same
/// loss function; otherwise both values with their functions named and no
/// arrow, because an MSE and a cross-entropy value cannot be compared.
pub fn fix_loss(f: &FixResult, arrow: &str) -> String {
    let show = |v: Option<f64>| v.map_or("n/a".to_string(), crate::numfmt::short);
    if f.loss_function_before == f.loss_function_after && f.same_loss_function {
        format!("{} {arrow} {}", show(f.loss_before), show(f.loss_after))
    } else if f.loss_function_before == f.loss_function_after {
        // Same function on targets in other units (scale_targets).
        format!(
            "{}, now {} on standardized targets: not comparable",
            show(f.loss_before),
            show(f.loss_after)
        )
    } else {
        format!(
            "{} ({}), now {} ({}): not comparable",
            show(f.loss_before),
            f.loss_function_before,
            show(f.loss_after),
            f.loss_function_after
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::LossKind;
    use crate::report::fix_result::ErrorAt;

    fn fix(before: LossKind, after: LossKind) -> FixResult {
        FixResult {
            name: "cross-entropy".into(),
            changes: vec![],
            config: "fixes/cross-entropy.toml".into(),
            steps: 10,
            errors_before: vec!["poor-initialization".into(); 2],
            errors_after: vec!["poor-initialization".into(); 2],
            cleared_errors: false,
            clears: vec![],
            leaves: vec![],
            introduces: vec![],
            same_loss_function: before == after,
            loss_before: Some(0.878),
            loss_after: Some(14.245),
            loss_improvement: None,
            test_accuracy_before: None,
            test_accuracy_after: None,
            loss_function_before: before,
            loss_function_after: after,
            errors_left: vec![
                ErrorAt {
                    code: "poor-initialization".into(),
                    layer: Some(1),
                },
                ErrorAt {
                    code: "poor-initialization".into(),
                    layer: Some(2),
                },
            ],
        }
    }

    #[test]
    fn losses_of_different_functions_are_not_compared() {
        let f = fix(LossKind::Mse, LossKind::CrossEntropy);
        let s = fix_loss(&f, "->");
        assert!(!s.contains("->"), "{s}");
        assert!(s.contains("(MSE)") && s.contains("(cross-entropy)"), "{s}");
        let same = fix(LossKind::Mse, LossKind::Mse);
        assert_eq!(fix_loss(&same, "->"), "0.8780 -> 14.2450");
    }

    #[test]
    fn leftover_codes_name_their_layer() {
        let f = fix(LossKind::Mse, LossKind::Mse);
        assert_eq!(
            fix_outcome(&f),
            "leaves poor-initialization L1, poor-initialization L2"
        );
    }

    #[test]
    fn steps_read_as_words() {
        assert_eq!(first_seen(None), None);
        assert_eq!(first_seen(Some(0)).unwrap(), "first seen before training");
        assert_eq!(layer_label(None), "network");
    }
}

#[cfg(test)]
mod first_fix_tests {
    use super::first_fix;
    use crate::diagnose::{Diagnosis, Severity};

    /// Truth: the rule stated on `first_fix`, written out. Every view
    /// names the verified best fix when there is one (index.html's "Fix:"
    /// box once named the first diagnosis's own suggestion instead), and
    /// never an info-level note's suggestion as the fix.
    #[test]
    fn terminal_markdown_and_html_name_the_same_first_fix() {
        let mut s = crate::report::summary::tests::example();
        s.headline_fix = Some("relu + he_normal (verified by --try-fixes)".into());
        let views = |s: &crate::report::summary::Summary| {
            (
                crate::report::text::render(s, "check", "out"),
                crate::report::markdown::render(s),
                crate::report::html::render(s),
            )
        };
        let (text, md, html) = views(&s);
        assert!(
            text.contains("first fix: relu + he_normal (verified"),
            "{text}"
        );
        assert!(
            md.contains("**First fix:** relu + he_normal (verified"),
            "{md}"
        );
        assert!(
            html.contains("<strong>Fix:</strong> relu + he_normal (verified"),
            "{html}"
        );
        // Without verified fixes: the first warning-or-error suggestion,
        // passing over an info note placed first.
        s.headline_fix = None;
        s.diagnoses.insert(
            0,
            Diagnosis::new(
                crate::diagnose::Code::ClassImbalance,
                Severity::Info,
                "A note.",
            )
            .suggest("Not a fix."),
        );
        assert_eq!(first_fix(&s), Some("Use relu."));
        let (text, md, html) = views(&s);
        assert!(text.contains("first fix: Use relu."), "{text}");
        assert!(md.contains("**First fix:** Use relu."), "{md}");
        assert!(html.contains("<strong>Fix:</strong> Use relu."), "{html}");
        assert!(!html.contains("<strong>Fix:</strong> Not a fix."), "{html}");
    }
}

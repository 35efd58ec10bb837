//! The verification itself: load, recompute, confirm the recompute with
//! finite differences, then compare every provided tensor in computation
//! order and turn each divergence into a finding with its pattern.

use super::advice::suggestion;
use super::compare::{compare, Comparison, Element};
use super::confirm::confirm;
use super::convert::{expected, Conventions, Expected};
use super::error::TraceError;
use super::load::{load, LayoutIssue, Provided, Trace};
use super::pattern::{constant_factor, explains, Match, Matcher};
use super::reference::{step, Step};
use super::report::{Finding, TensorResult, TraceInfo, TraceReport, Verdict};
use super::spec::{Precision, Reduction};
use super::tensor::{shape_label, tensor_label, TensorKind};
use super::tolerance::Tolerance;
use crate::config::LossKind;
use crate::engine::Layer;
use crate::numfmt::short;
use ndarray::Axis;
use std::path::Path;
use std::time::Instant;

/// Verifies the trace in `dir`.
pub fn verify(dir: &Path) -> Result<TraceReport, TraceError> {
    let started = Instant::now();
    let trace = load(dir)?;
    let correct = step(
        &trace.net,
        None,
        &trace.x,
        &trace.t,
        trace.spec.loss,
        None,
        &trace.masks,
    );
    let confirmation = confirm(
        dir,
        &trace.net,
        &trace.x,
        &trace.t,
        trace.spec.loss,
        &correct,
        &trace.masks,
    )?;
    let conv = Conventions::new(&trace.spec, trace.batch(), trace.layout);
    let tol = Tolerance::of(trace.precision);
    let mut ctx = Ctx {
        trace: &trace,
        correct: &correct,
        conv,
        tol,
        matcher: Matcher::new(&trace, &correct, conv, tol),
        first: None,
    };
    let mut tensors = Vec::new();
    let mut findings = Vec::new();
    if let Some(issue) = &trace.layout_issue {
        let f = layout_finding(issue);
        tensors.push(TensorResult {
            layer: Some(issue.layer),
            tensor: TensorKind::Weight,
            file: issue.file.clone(),
            passed: false,
            max_abs_error: f64::NAN,
            max_rel_error: f64::NAN,
            pattern: f.pattern.clone(),
        });
        findings.push(f);
    }
    for p in &trace.tensors {
        let (result, finding) = ctx.check(p);
        tensors.push(result);
        findings.extend(finding);
    }
    let mut info = info(&trace, tol);
    info.fd_checks = confirmation.checks;
    info.fd_kinks = confirmation.kinks;
    info.seconds = started.elapsed().as_secs_f64();
    Ok(TraceReport {
        verdict: if findings.is_empty() {
            Verdict::Match
        } else {
            Verdict::Mismatch
        },
        first_divergence: findings.first().cloned(),
        findings,
        tensors,
        info,
    })
}

struct Ctx<'a> {
    trace: &'a Trace,
    correct: &'a Step,
    conv: Conventions,
    tol: Tolerance,
    matcher: Matcher<'a>,
    /// The first catalogue match and its predicted step: later divergences
    /// it explains are reported as its consequences.
    first: Option<(Match, Step)>,
}

impl Ctx<'_> {
    fn check(&mut self, p: &Provided) -> (TensorResult, Option<Finding>) {
        let mut result = TensorResult {
            layer: p.layer,
            tensor: p.kind,
            file: p.file.clone(),
            passed: true,
            max_abs_error: 0.0,
            max_rel_error: 0.0,
            pattern: None,
        };
        let Some(exp) = expected(self.correct, &self.conv, p.layer, p.kind) else {
            return (result, None);
        };
        let actual = match exp.shape[..] {
            // A version 2 activation may keep its [N, C, H, W] shape.
            [r, c] if p.raw.shape.len() > 2 && self.trace.spec.version >= 2 => p
                .raw
                .rows()
                .filter(|m| m.dim() == (r, c))
                .map(|m| m.iter().copied().collect::<Vec<f64>>()),
            [r, c] => p
                .raw
                .matrix(r, c)
                .map(|m| m.iter().copied().collect::<Vec<f64>>()),
            [n] => p.raw.vector(n).map(|v| v.to_vec()),
            // A conv weight gradient: its own shape, or the CSV's 2-D
            // [out, in·kh·kw] (C order).
            ref shape => {
                let n: usize = shape.iter().product();
                let fits = p.raw.shape == shape
                    || (p.raw.shape.len() == 2 && p.raw.shape.first() == shape.first());
                (fits && p.raw.data.len() == n).then(|| p.raw.data.clone())
            }
        };
        let Some(actual) = actual else {
            let f = self.shape_finding(p, &exp);
            result.passed = false;
            result.max_abs_error = f.max_abs_error;
            result.max_rel_error = f.max_rel_error;
            result.pattern = f.pattern.clone();
            return (result, Some(f));
        };
        let cmp = compare(&exp.data, &actual, &exp.shape, &self.tol);
        result.passed = cmp.passed;
        result.max_abs_error = cmp.max_abs_error;
        result.max_rel_error = cmp.max_rel_error;
        if cmp.passed {
            return (result, None);
        }
        let f = self.divergence(p, &exp, &actual, &cmp);
        result.pattern = f.pattern.clone();
        (result, Some(f))
    }

    fn divergence(
        &mut self,
        p: &Provided,
        exp: &Expected,
        actual: &[f64],
        cmp: &Comparison,
    ) -> Finding {
        let label = tensor_label(p.layer, p.kind);
        let where_ = format!("{label} ({})", p.file);
        if let Some(e) = &cmp.first_non_finite {
            let code = if p.kind.is_forward() {
                "non-finite-forward"
            } else {
                "non-finite-backward"
            };
            let msg = format!(
                "{where_} is {} at index {:?} where the reference is finite ({}): the first non-finite element",
                short(e.actual),
                e.index,
                short(e.expected)
            );
            return finding(p, cmp, e, Some(code), msg);
        }
        let worst = cmp.worst.clone().unwrap_or(Element {
            index: vec![],
            expected: f64::NAN,
            actual: f64::NAN,
        });
        let errors = format!(
            "max abs error {}, max rel error {}; worst {:?}: expected {}, actual {}",
            sci(cmp.max_abs_error),
            sci(cmp.max_rel_error),
            worst.index,
            short(worst.expected),
            short(worst.actual)
        );
        if let Some((m, predicted)) = &self.first {
            if explains(predicted, &self.conv, &self.tol, p.layer, p.kind, actual) {
                let msg = format!(
                    "{where_} diverges ({errors}); the {} mistake at layer {} reproduces it (follows from the first divergence)",
                    m.code,
                    m.flaw_layer.unwrap_or(0)
                );
                let code = m.code.clone();
                return finding(p, cmp, &worst, Some(&code), msg);
            }
        }
        if let Some(layer) = p.layer {
            if let Some((m, predicted)) = self.matcher.catalogue(layer, p.kind, actual) {
                let at = m
                    .flaw_layer
                    .filter(|&l| l != layer)
                    .map(|l| format!(" at layer {l}"))
                    .unwrap_or_default();
                let msg = format!(
                    "{where_} diverges ({errors}); matches {}{at}: {}",
                    m.code, m.explanation
                );
                let code = m.code.clone();
                if self.first.is_none() {
                    self.first = Some((m, predicted));
                }
                return finding(p, cmp, &worst, Some(&code), msg);
            }
        }
        if let Some(m) =
            constant_factor(&exp.data, actual, &exp.shape, &self.tol, self.trace.batch())
        {
            let msg = format!("{label} = {} ({errors})", m.explanation);
            return finding(p, cmp, &worst, Some(&m.code), msg);
        }
        let msg = format!("{where_} diverges ({errors}); it matches no known mistake");
        finding(p, cmp, &worst, None, msg)
    }

    /// A computed tensor of the wrong shape: a transposed weight gradient
    /// or a per-sample bias gradient are recognised, anything else is a
    /// plain shape mismatch.
    fn shape_finding(&self, p: &Provided, exp: &Expected) -> Finding {
        let label = tensor_label(p.layer, p.kind);
        let got = shape_label(&p.raw.shape);
        let want = shape_label(&exp.shape);
        let mut pattern = "shape-mismatch";
        let mut msg = format!("{label} ({}) has shape {got}, expected {want}", p.file);
        if let ([r, c], TensorKind::GradWeight) = (&exp.shape[..], p.kind) {
            let transposed = p
                .raw
                .matrix(*c, *r)
                .map(|m| m.t().iter().copied().collect::<Vec<f64>>());
            if transposed.is_some_and(|a| compare(&exp.data, &a, &exp.shape, &self.tol).passed) {
                pattern = "wrong-layout";
                msg.push_str(&format!(
                    ": its transpose matches the reference, so it is stored in the other layout than weight_layout = \"{}\"",
                    self.conv.layout.name()
                ));
            }
        }
        if let (Some(l), TensorKind::GradBias) = (p.layer, p.kind) {
            let per_sample = self.correct.delta.get(l - 1).map(|d| {
                d.sum_axis(Axis(1))
                    .iter()
                    .map(|v| v * self.conv.scale)
                    .collect::<Vec<f64>>()
            });
            let actual = p.raw.vector(self.trace.batch()).map(|v| v.to_vec());
            if let (Some(e), Some(a)) = (per_sample, actual) {
                if compare(&e, &a, &[e.len()], &self.tol).passed {
                    pattern = "bias-gradient-wrong-axis";
                    msg.push_str(": one value per sample, the delta summed over units instead of over the batch");
                }
            }
        }
        Finding {
            layer: p.layer,
            tensor: p.kind,
            pattern: Some(pattern.to_string()),
            max_abs_error: f64::NAN,
            max_rel_error: f64::NAN,
            index: vec![],
            expected: f64::NAN,
            actual: f64::NAN,
            message: msg,
            suggestion: suggestion(Some(pattern)).to_string(),
        }
    }
}

fn finding(
    p: &Provided,
    cmp: &Comparison,
    e: &Element,
    pattern: Option<&str>,
    message: String,
) -> Finding {
    Finding {
        layer: p.layer,
        tensor: p.kind,
        pattern: pattern.map(str::to_string),
        max_abs_error: cmp.max_abs_error,
        max_rel_error: cmp.max_rel_error,
        index: e.index.clone(),
        expected: e.expected,
        actual: e.actual,
        message,
        suggestion: suggestion(pattern).to_string(),
    }
}

fn layout_finding(issue: &LayoutIssue) -> Finding {
    let found = issue.declared.other();
    let message = format!(
        "layer {} weight ({}) has shape {}, which only fits weight_layout = \"{}\", but trace.toml declares \"{}\"; the trace was read as {}",
        issue.layer,
        issue.file,
        shape_label(&issue.shape),
        found.name(),
        issue.declared.name(),
        found.name()
    );
    Finding {
        layer: Some(issue.layer),
        tensor: TensorKind::Weight,
        pattern: Some("wrong-layout".into()),
        max_abs_error: f64::NAN,
        max_rel_error: f64::NAN,
        index: vec![],
        expected: f64::NAN,
        actual: f64::NAN,
        message,
        suggestion: suggestion(Some("wrong-layout")).to_string(),
    }
}

fn info(trace: &Trace, tol: Tolerance) -> TraceInfo {
    let mut network = match trace.net.layers.first() {
        Some(l) if trace.spec.version >= 2 => l.input_shape().to_string(),
        _ => trace.net.input_width().to_string(),
    };
    for l in &trace.net.layers {
        if trace.spec.version >= 2 {
            // "conv2d 3x10x10 relu", "max_pool2d 3x5x5".
            network.push_str(&format!(" -> {} {}", l.kind(), l.output_shape()));
            if l.activation() != crate::engine::activation::Activation::Linear {
                network.push_str(&format!(" {}", l.activation()));
            }
        } else {
            network.push_str(&format!(" -> {} {}", l.output_width(), l.activation()));
        }
    }
    let spec = &trace.spec;
    let reduction = match spec.reduction {
        Reduction::Mean => "mean",
        Reduction::Sum => "sum",
    };
    let loss = match spec.loss {
        LossKind::Mse => format!(
            "mse ({reduction}, {})",
            if spec.mse_half() {
                "with 1/2"
            } else {
                "no 1/2"
            }
        ),
        LossKind::CrossEntropy => format!("cross_entropy ({reduction})"),
        LossKind::BinaryCrossEntropy => format!("binary_cross_entropy ({reduction})"),
        LossKind::Mae => format!("mae ({reduction})"),
        LossKind::Huber { delta } => format!("huber delta {delta} ({reduction})"),
    };
    TraceInfo {
        dir: trace.dir.display().to_string(),
        network,
        batch: trace.batch(),
        loss,
        layout: spec.weight_layout.name().to_string(),
        precision: match trace.precision {
            Precision::F32 => "f32".into(),
            Precision::F64 => "f64".into(),
        },
        rtol: tol.rtol,
        ..TraceInfo::default()
    }
}

/// Errors in scientific notation (they span 1e-17 to 1e3).
pub fn sci(v: f64) -> String {
    if v.is_finite() {
        format!("{v:.2e}")
    } else {
        short(v)
    }
}

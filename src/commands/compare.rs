//! `nn-doctor compare RUN_A RUN_B`: two diagnosed runs (typically before and
//! after a fix) side by side — final metrics, the diagnoses cleared, still
//! present and introduced (by code and layer), overlay plots — and whether B
//! is worse, for CI.
//!
//! B is worse when it has an error diagnosis (code and layer) that A did not
//! have, or when A was healthy and B is not. Losses are shown but not judged:
//! a fix may change the loss function, and losses of different functions are
//! not comparable.

pub mod overlay;

use crate::diagnose::Severity;
use crate::report::plots::PlotError;
use crate::report::summary::{Summary, Verdict};
use crate::report::write::{refuse_run_inside, ReportDir};
use crate::report::ReportError;
use crate::rundir::facts::RunFacts;
use crate::rundir::{read_recording, RunDirError};
use serde::Serialize;
use std::fmt::Write;
use std::path::{Path, PathBuf};

/// The criterion `worse` applies, stated in every output.
pub const CRITERION: &str = "B is worse when it has an error diagnosis (code and layer) that A did not have, or A is healthy and B is not";

#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    #[error(transparent)]
    RunDir(#[from] RunDirError),
    #[error(transparent)]
    Plot(#[from] PlotError),
    #[error(transparent)]
    Report(#[from] ReportError),
    #[error("{0}: not a diagnosed run (summary.json has no `verdict`); run `nn-doctor diagnose` on it first")]
    NotDiagnosed(PathBuf),
}

/// One side's headline numbers.
#[derive(Debug, Clone, Serialize)]
pub struct Side {
    pub dir: String,
    pub name: String,
    pub verdict: Verdict,
    pub errors: usize,
    pub warnings: usize,
    pub loss: Option<f64>,
    pub train_accuracy: Option<f64>,
    pub test_accuracy: Option<f64>,
    pub test_loss: Option<f64>,
    pub steps_run: usize,
}

/// A diagnosis identified by code and layer.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Key {
    pub code: String,
    pub layer: Option<usize>,
    pub severity: Severity,
}

#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub a: Side,
    pub b: Side,
    pub cleared: Vec<Key>,
    pub still_present: Vec<Key>,
    pub introduced: Vec<Key>,
    pub worse: bool,
    pub criterion: &'static str,
    pub plots: Vec<String>,
}

fn summary(dir: &Path) -> Result<(RunFacts, Summary), CompareError> {
    match RunFacts::read_diagnosed(&dir.join("summary.json"))? {
        (facts, Some(summary)) => Ok((facts, summary)),
        (_, None) => Err(CompareError::NotDiagnosed(dir.to_path_buf())),
    }
}

fn side(dir: &Path, s: &Summary) -> Side {
    Side {
        dir: dir.display().to_string(),
        name: s.name.clone(),
        verdict: s.verdict,
        errors: s.count(Severity::Error),
        warnings: s.count(Severity::Warning),
        loss: s.final_.loss,
        train_accuracy: s.final_.train_accuracy,
        test_accuracy: s.final_.test_accuracy,
        test_loss: s.final_.test_loss,
        steps_run: s.steps_run,
    }
}

fn keys(s: &Summary) -> Vec<Key> {
    let mut k: Vec<Key> = s
        .diagnoses
        .iter()
        .map(|d| Key {
            code: d.code.to_string(),
            layer: d.layer,
            severity: d.severity,
        })
        .collect();
    k.sort();
    k.dedup();
    k
}

fn same(x: &Key, y: &Key) -> bool {
    x.code == y.code && x.layer == y.layer
}

/// (cleared, still present, introduced): by code and layer.
fn diff(ka: &[Key], kb: &[Key]) -> (Vec<Key>, Vec<Key>, Vec<Key>) {
    let cleared = ka.iter().filter(|x| !kb.iter().any(|y| same(x, y)));
    let still = kb.iter().filter(|y| ka.iter().any(|x| same(x, y)));
    let introduced = kb.iter().filter(|y| !ka.iter().any(|x| same(x, y)));
    (
        cleared.cloned().collect(),
        still.cloned().collect(),
        introduced.cloned().collect(),
    )
}

/// The [`CRITERION`].
fn is_worse(introduced: &[Key], a: Verdict, b: Verdict) -> bool {
    introduced.iter().any(|k| k.severity == Severity::Error)
        || (a == Verdict::Healthy && b == Verdict::Unhealthy)
}

/// Compares two run directories; overlay plots go to `out` when given,
/// written as every report is (locked, staged, renamed into place), into a
/// directory that holds neither run.
pub fn compare(a_dir: &Path, b_dir: &Path, out: Option<&Path>) -> Result<Comparison, CompareError> {
    let out = match out {
        Some(o) => {
            refuse_run_inside(o, a_dir)?;
            refuse_run_inside(o, b_dir)?;
            Some(ReportDir::open(o)?)
        }
        None => None,
    };
    let (fa, a) = summary(a_dir)?;
    let (fb, b) = summary(b_dir)?;
    let (cleared, still_present, introduced) = diff(&keys(&a), &keys(&b));
    let worse = is_worse(&introduced, a.verdict, b.verdict);
    let mut plots = Vec::new();
    if let Some(out) = &out {
        let ra = read_recording(a_dir, &fa, &a.network.layers)?.recording;
        let rb = read_recording(b_dir, &fb, &b.network.layers)?.recording;
        let run = |rec, s: &Summary| overlay::Run {
            rec,
            loss: s.network.loss.to_string(),
        };
        for staged in overlay::write(out.staging(), &run(&ra, &a), &run(&rb, &b))? {
            let name = staged
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            plots.push(out.commit_file(&name)?.display().to_string());
        }
    }
    Ok(Comparison {
        a: side(a_dir, &a),
        b: side(b_dir, &b),
        cleared,
        still_present,
        introduced,
        worse,
        criterion: CRITERION,
        plots,
    })
}

fn opt(v: Option<f64>) -> String {
    v.map_or("n/a".into(), crate::numfmt::short)
}

fn key_list(keys: &[Key]) -> String {
    if keys.is_empty() {
        return "none".into();
    }
    keys.iter()
        .map(|k| match k.layer {
            Some(l) => format!("{} (L{l}, {})", k.code, k.severity),
            None => format!("{} ({})", k.code, k.severity),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The text output.
pub fn render(c: &Comparison) -> String {
    let mut t = String::new();
    let _ = writeln!(
        t,
        "nn-doctor compare: A = {} ({}), B = {} ({})",
        c.a.name, c.a.dir, c.b.name, c.b.dir
    );
    let _ = writeln!(t, "                 {:>14} {:>14}", "A", "B");
    let verdict = |v: Verdict| match v {
        Verdict::Healthy => "healthy",
        Verdict::Unhealthy => "unhealthy",
    };
    let rows: [(&str, String, String); 7] = [
        (
            "verdict",
            verdict(c.a.verdict).into(),
            verdict(c.b.verdict).into(),
        ),
        ("errors", c.a.errors.to_string(), c.b.errors.to_string()),
        (
            "warnings",
            c.a.warnings.to_string(),
            c.b.warnings.to_string(),
        ),
        (
            "steps",
            c.a.steps_run.to_string(),
            c.b.steps_run.to_string(),
        ),
        ("final loss", opt(c.a.loss), opt(c.b.loss)),
        (
            "train accuracy",
            opt(c.a.train_accuracy),
            opt(c.b.train_accuracy),
        ),
        (
            "test accuracy",
            opt(c.a.test_accuracy),
            opt(c.b.test_accuracy),
        ),
    ];
    for (name, a, b) in rows {
        let _ = writeln!(t, "  {name:<14} {a:>14} {b:>14}");
    }
    let _ = writeln!(t, "cleared:       {}", key_list(&c.cleared));
    let _ = writeln!(t, "still present: {}", key_list(&c.still_present));
    let _ = writeln!(t, "introduced:    {}", key_list(&c.introduced));
    let _ = writeln!(
        t,
        "B is {}worse ({})",
        if c.worse { "" } else { "not " },
        c.criterion
    );
    for p in &c.plots {
        let _ = writeln!(t, "plot: {p}");
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: &str, layer: Option<usize>, severity: Severity) -> Key {
        Key {
            code: code.into(),
            layer,
            severity,
        }
    }

    #[test]
    fn diagnoses_are_matched_by_code_and_layer() {
        let a = [
            key("dead-relus", Some(1), Severity::Error),
            key("loss-plateau", None, Severity::Error),
        ];
        // Same code on another layer is a different diagnosis; a changed
        // severity on the same (code, layer) is still present.
        let b = [
            key("dead-relus", Some(2), Severity::Warning),
            key("loss-plateau", None, Severity::Warning),
        ];
        let (cleared, still, introduced) = diff(&a, &b);
        assert_eq!(cleared, vec![a[0].clone()]);
        assert_eq!(still, vec![b[1].clone()]);
        assert_eq!(introduced, vec![b[0].clone()]);
        // An introduced warning is not worse; an introduced error is.
        assert!(!is_worse(&introduced, Verdict::Unhealthy, Verdict::Healthy));
        assert!(is_worse(
            &[key("non-finite", None, Severity::Error)],
            Verdict::Unhealthy,
            Verdict::Unhealthy
        ));
        assert!(is_worse(&[], Verdict::Healthy, Verdict::Unhealthy));
    }
}

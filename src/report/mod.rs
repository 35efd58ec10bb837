//! Reporters: everything a run writes into its report directory. They read
//! the summary and the recording only, so a report can be re-rendered later.

pub mod csv;
pub mod fix_result;
pub mod html;
pub mod markdown;
pub mod names;
pub mod plots;
pub mod summary;
pub mod text;
pub mod write;

use crate::gradcheck::types::GradcheckReport;
use crate::monitor::record::Recording;
use std::path::{Path, PathBuf};
use summary::Summary;

/// The PNG files `plots::write_plots` writes, in its order.
pub const PLOT_FILES: [&str; 7] = [
    "loss.png",
    "pre_activations.png",
    "gradient_ratio.png",
    "saturation.png",
    "update_ratio.png",
    "gradient_norms.png",
    "activations.png",
];

/// The confusion-matrix plot, written when the run was evaluated on labels.
pub const CONFUSION_FILE: &str = "confusion.png";

/// Every file of a report directory, for summary.json's `files`.
pub const REPORT_FILES: [&str; 12] = [
    "report.md",
    "index.html",
    "summary.json",
    "metrics.csv",
    "loss.csv",
    "loss.png",
    "pre_activations.png",
    "gradient_ratio.png",
    "saturation.png",
    "update_ratio.png",
    "gradient_norms.png",
    "activations.png",
];

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("{path}: cannot write report file: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Plot(#[from] plots::PlotError),
    #[error("cannot serialise summary.json: {0}")]
    Json(#[from] serde_json::Error),
    #[error("{}: this report directory holds {}, which this command reads: writing the report there could replace or remove it; choose another --out", .dir.display(), .input.display())]
    InputInside { dir: PathBuf, input: PathBuf },
    /// The report directory holds the report of another config file with
    /// the same `name`: replacing it would silently destroy that report.
    #[error("{}: holds the report of another config, {}; this config, {}, has the same name \"{name}\". Not replacing that report: give this config its own `name = \"...\"` or pass --out DIR", .dir.display(), .existing, .this.display())]
    OtherConfig {
        dir: PathBuf,
        name: String,
        existing: String,
        this: PathBuf,
    },
    #[error("{}: another nn-doctor run is writing this report directory (it holds {}); wait for it or choose another --out", .dir.display(), write::LOCK_FILE)]
    Locked { dir: PathBuf },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ReportError + '_ {
    move |source| ReportError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Whether `target` may be a link in report.md or index.html: a relative
/// path below the report directory — normal components only, no scheme
/// (`javascript:`), no absolute or `..` path, no query or fragment, no
/// control characters. A summary.json is untrusted input (`nn-doctor report`
/// renders any run directory's), so anything else is shown as text.
pub fn is_local_link(target: &str) -> bool {
    !target.is_empty()
        && target.len() <= 1024
        && !target.contains([':', '\\', '?', '#', '%'])
        && !target
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() && c != ' ')
        && target
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != ".." && c.trim() == c)
}

/// Batch norm's running-statistics drift per recorded step (networks with
/// batch norm only).
pub const BATCH_NORM_FILE: &str = "batch_norm.csv";

/// Writes a report into a directory this run has locked: every file is
/// staged and renamed into place, summary.json last, with `files` set to
/// what this run wrote (plus `fixes` when `--try-fixes` reported
/// candidates written there). A failing plot never costs the numbers: the CSVs, report.md
/// and summary.json are still committed, then the plot error is returned.
/// `summary.files` is set to the list written.
pub fn write_report_in(
    out: &write::ReportDir,
    summary: &mut Summary,
    rec: &Recording,
    gradcheck: Option<&GradcheckReport>,
) -> Result<(), ReportError> {
    let dir = out.staging();
    let metrics = dir.join("metrics.csv");
    csv::write_metrics(rec, &metrics).map_err(io(&metrics))?;
    let loss = dir.join("loss.csv");
    csv::write_loss(rec, &loss).map_err(io(&loss))?;
    if !rec.bn_drift.is_empty() {
        let path = dir.join(BATCH_NORM_FILE);
        csv::write_batch_norm(rec, &path).map_err(io(&path))?;
    }
    if let Some(g) = gradcheck {
        let path = dir.join("gradcheck.csv");
        crate::gradcheck::output::write_csv(g, &path).map_err(io(&path))?;
    }
    let plotted = write_plots_of(dir, summary, rec);
    summary.files = REPORT_FILES
        .iter()
        .copied()
        .chain(gradcheck.map(|_| "gradcheck.csv"))
        .chain((!rec.bn_drift.is_empty()).then_some(BATCH_NORM_FILE))
        .chain(summary.confusion.as_ref().map(|_| CONFUSION_FILE))
        .filter(|f| {
            matches!(*f, "report.md" | "summary.json" | "index.html") || dir.join(f).is_file()
        })
        .chain((!summary.fixes.is_empty()).then_some("fixes"))
        .map(str::to_string)
        .collect();
    let md = dir.join("report.md");
    std::fs::write(&md, markdown::render(summary)).map_err(io(&md))?;
    let html = dir.join("index.html");
    std::fs::write(&html, html::render(summary)).map_err(io(&html))?;
    let json = dir.join(write::SUMMARY);
    std::fs::write(&json, summary.to_json()? + "\n").map_err(io(&json))?;
    out.commit(&summary.files)?;
    plotted?;
    Ok(())
}

/// The PNGs of a run (the confusion matrix when there is one) into `dir`.
fn write_plots_of(dir: &Path, summary: &Summary, rec: &Recording) -> Result<(), ReportError> {
    plots::write_plots(rec, dir, &plot_options(summary))?;
    if let Some(c) = &summary.confusion {
        plots::confusion::write(c, &dir.join(CONFUSION_FILE))?;
    }
    Ok(())
}

/// Renders the views of a finished run — report.md, index.html and the
/// plots — from its summary and recording into `dir`, without touching
/// summary.json or the CSVs (`nn-doctor report`). Returns the names
/// written; a failing plot still leaves report.md and index.html.
pub fn render_views(
    dir: &Path,
    summary: &Summary,
    rec: &Recording,
) -> Result<Vec<String>, ReportError> {
    let plotted = write_plots_of(dir, summary, rec);
    let md = dir.join("report.md");
    std::fs::write(&md, markdown::render(summary)).map_err(io(&md))?;
    let html = dir.join("index.html");
    std::fs::write(&html, html::render(summary)).map_err(io(&html))?;
    let written = REPORT_FILES
        .iter()
        .copied()
        .chain(summary.confusion.as_ref().map(|_| CONFUSION_FILE))
        .filter(|f| dir.join(f).is_file())
        .map(str::to_string)
        .collect();
    plotted?;
    Ok(written)
}

/// What the plots mark for this run: the first non-finite step, each
/// diagnosis where first seen, and the gradient thresholds in effect.
pub fn plot_options(summary: &Summary) -> plots::PlotOptions {
    let mut opts = plots::PlotOptions::new(summary.nan_origin.as_ref().map(|o| o.step))
        .with_diagnoses(&summary.diagnoses);
    opts.vanishing_ratio = summary.thresholds.vanishing_ratio;
    opts.exploding_ratio = summary.thresholds.exploding_ratio;
    opts
}

#[cfg(test)]
mod tests {
    use super::is_local_link;

    #[test]
    fn only_relative_paths_below_the_report_are_links() {
        for ok in ["loss.png", "fixes/relu-he.toml", "fixes/relu-he/report.md"] {
            assert!(is_local_link(ok), "{ok}");
        }
        for bad in [
            "javascript:alert(1)",
            "JaVaScRiPt:alert(1)",
            "data:text/html,x",
            "https://example.com/x",
            "//example.com/x",
            "/etc/passwd",
            "../x",
            "fixes/../../x",
            "a//b",
            "",
            "x\ny",
            "%2e%2e/x",
            "x?y",
            "#top",
            " javascript:x",
            "..\\x",
        ] {
            assert!(!is_local_link(bad), "{bad:?}");
        }
    }
}

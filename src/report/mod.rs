//! Reporters: everything a run writes into its report directory. They read
//! the summary and the recording only, so a report can be re-rendered later.

pub mod csv;
pub mod markdown;
pub mod plots;
pub mod summary;
pub mod text;

use crate::gradcheck::types::GradcheckReport;
use crate::monitor::record::Recording;
use std::path::{Path, PathBuf};
use summary::Summary;

/// The PNG files `plots::write_plots` writes, in its order.
pub const PLOT_FILES: [&str; 5] = [
    "loss.png",
    "gradient_norms.png",
    "activations.png",
    "saturation.png",
    "update_ratio.png",
];

/// Every file of a report directory, for summary.json's `files`.
pub const REPORT_FILES: [&str; 9] = [
    "report.md",
    "summary.json",
    "metrics.csv",
    "loss.csv",
    "loss.png",
    "gradient_norms.png",
    "activations.png",
    "saturation.png",
    "update_ratio.png",
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
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ReportError + '_ {
    move |source| ReportError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes the whole report directory (created if needed). CSVs and the
/// summary go first, so a failing plot never costs the numbers.
pub fn write_report(
    dir: &Path,
    summary: &Summary,
    rec: &Recording,
    gradcheck: Option<&GradcheckReport>,
) -> Result<(), ReportError> {
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let metrics = dir.join("metrics.csv");
    csv::write_metrics(rec, &metrics).map_err(io(&metrics))?;
    let loss = dir.join("loss.csv");
    csv::write_loss(rec, &loss).map_err(io(&loss))?;
    if let Some(g) = gradcheck {
        let path = dir.join("gradcheck.csv");
        crate::gradcheck::output::write_csv(g, &path).map_err(io(&path))?;
    }
    let json = dir.join("summary.json");
    std::fs::write(&json, summary.to_json()? + "\n").map_err(io(&json))?;
    let md = dir.join("report.md");
    std::fs::write(&md, markdown::render(summary)).map_err(io(&md))?;
    let nan_step = summary.nan_origin.as_ref().map(|o| o.step);
    plots::write_plots(rec, dir, nan_step)?;
    if let Some(c) = &summary.confusion {
        plots::confusion::write(c, &dir.join("confusion.png"))?;
    }
    Ok(())
}

//! The `report RUN_DIR` command: re-renders report.md and the plots of a
//! finished run from its summary.json and CSVs (after an upgrade, or for a
//! run diagnosed elsewhere), without re-running or re-judging anything. The
//! recorded files are left untouched.

use crate::report::write::ReportDir;
use crate::report::ReportError;
use crate::rundir::facts::RunFacts;
use crate::rundir::{self, RunDirError};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum RerenderError {
    #[error(transparent)]
    RunDir(#[from] RunDirError),
    #[error(transparent)]
    Report(#[from] ReportError),
    #[error("{path}: this run has not been diagnosed yet (no `verdict`); run `nn-doctor diagnose` on it first")]
    NotDiagnosed { path: PathBuf },
}

/// Writes report.md, index.html and the PNGs into `out` (default: the run
/// directory), staged and renamed into place under the directory's lock.
/// Returns the written report.md's path.
pub fn run(dir: &Path, out: Option<&Path>) -> Result<PathBuf, RerenderError> {
    let path = rundir::summary_path(dir)?;
    if let Some(out) = out {
        crate::report::write::refuse_run_inside(out, dir)?;
    }
    // The run facts are checked (format version, layers) before the rest.
    let (facts, summary) = RunFacts::read_diagnosed(&path)?;
    let Some(mut summary) = summary else {
        return Err(RerenderError::NotDiagnosed { path });
    };
    summary.network.loss = summary.network.loss.with_delta(summary.network.huber_delta);
    let rec = rundir::read_recording(dir, &facts, &facts.layer_infos())?.recording;
    let out = ReportDir::open(out.unwrap_or(dir))?;
    let files = crate::report::render_views(out.staging(), &summary, &rec)?;
    for f in &files {
        out.commit_file(f)?;
    }
    Ok(out.path().join("report.md"))
}

//! Run directories: the versioned format `check` writes and any trainer
//! can produce (docs/run-format.md) — metrics.csv, loss.csv and
//! summary.json's run facts — read back into a [`Recording`] and the
//! pre-flight facts, so `diagnose`, `report` and `compare` judge a run
//! without training it. This module only reads the format; the commands
//! that use it live in `commands`.

mod coverage;
pub mod error;
pub mod facts;
pub mod recording;
mod table;

pub use error::RunDirError;
pub use facts::{RunFacts, RUN_FORMAT};

use crate::diagnose::preflight::Preflight;
use crate::diagnose::Skipped;
use crate::gradcheck::types::GradcheckReport;
use crate::monitor::nonfinite::NanOrigin;
use crate::monitor::record::Recording;
use std::path::Path;

/// Everything the rules read, loaded from a run directory.
#[derive(Debug)]
pub struct LoadedRun {
    pub facts: RunFacts,
    pub recording: Recording,
    pub preflight: Preflight,
    pub nan_origin: Option<NanOrigin>,
    pub gradcheck: Option<GradcheckReport>,
    /// Rules whose inputs the run did not record.
    pub skipped: Vec<Skipped>,
}

/// Reads `dir`/summary.json, metrics.csv and loss.csv.
pub fn load(dir: &Path) -> Result<LoadedRun, RunDirError> {
    let facts = RunFacts::read(&summary_path(dir)?)?;
    load_with(dir, facts)
}

/// `dir`/summary.json, once `dir` is known to be a directory.
pub fn summary_path(dir: &Path) -> Result<std::path::PathBuf, RunDirError> {
    if !dir.is_dir() {
        return Err(RunDirError::format(
            dir,
            "not a directory; expected a run directory holding summary.json, metrics.csv and loss.csv",
        ));
    }
    Ok(dir.join("summary.json"))
}

/// Reads metrics.csv and loss.csv of `dir`, whose summary.json gave `facts`.
pub fn load_with(dir: &Path, facts: RunFacts) -> Result<LoadedRun, RunDirError> {
    let summary_path = dir.join("summary.json");
    let recorded = read_recording(dir, &facts, &facts.layer_infos())?;
    let has_test = recorded
        .recording
        .steps
        .iter()
        .any(|s| s.test_accuracy.is_some());
    let (preflight, skipped) = coverage::preflight_and_skipped(&facts, &recorded.missing, has_test);
    let gradcheck = match facts.gradcheck.as_ref().filter(|g| !g.is_null()) {
        None => None,
        Some(g) => Some(
            serde_json::from_value(g.clone())
                .map_err(|e| RunDirError::format(&summary_path, format!("`gradcheck`: {e}")))?,
        ),
    };
    Ok(LoadedRun {
        nan_origin: facts.nan_origin.clone().flatten(),
        recording: recorded.recording,
        preflight,
        gradcheck,
        skipped,
        facts,
    })
}

/// metrics.csv and loss.csv of `dir`, refused when they belong to another
/// recording than summary.json: a streaming recorder writes its run id as
/// the first line of both CSVs and into summary.json, so a directory where
/// an interrupted close or a second run left files of two runs is never
/// judged as one run.
pub fn read_recording(
    dir: &Path,
    facts: &RunFacts,
    layers: &[crate::monitor::record::LayerInfo],
) -> Result<recording::Recorded, RunDirError> {
    let recorded = recording::read(dir, layers)?;
    let want = facts.run_id.as_deref();
    for (file, got) in ["metrics.csv", "loss.csv"].iter().zip(&recorded.run_ids) {
        if got.as_deref() != want {
            let show = |id: Option<&str>| id.map_or("none".to_string(), |i| format!("{i:?}"));
            return Err(RunDirError::format(
                &dir.join(file),
                format!(
                    "belongs to run {} but summary.json to run {}: this directory holds files of two recordings (an interrupted close, or a run started over an older one); record the run again",
                    show(got.as_deref()),
                    show(want)
                ),
            ));
        }
    }
    Ok(recorded)
}

//! Run directories: the versioned format `check` writes and any trainer
//! can produce (README: "The run format") — metrics.csv, loss.csv and
//! summary.json's run facts — read back into a [`Recording`] and the
//! pre-flight facts, so `diagnose`, `report` and `compare` judge a run
//! without training it.

mod coverage;
pub mod diagnose;
pub mod error;
pub mod facts;
pub mod recording;
pub mod rerender;
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
    if !dir.is_dir() {
        return Err(RunDirError::format(
            dir,
            "not a directory; expected a run directory holding summary.json, metrics.csv and loss.csv",
        ));
    }
    let summary_path = dir.join("summary.json");
    let facts = RunFacts::read(&summary_path)?;
    let recorded = recording::read(dir, &facts.layer_infos())?;
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

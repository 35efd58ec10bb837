//! `nn-doctor verify-trace DIR`: checks one training step dumped by another
//! implementation against nn-doctor's own computation of it, and writes the
//! optional JUnit file.

use crate::report::write::write_atomic;
use crate::trace::{junit_xml, verify, TraceError, TraceReport};
use std::path::Path;

/// Why a trace could not be verified (exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum VerifyTraceError {
    #[error(transparent)]
    Trace(#[from] TraceError),
    #[error("{path}: cannot write: {source}")]
    Junit {
        path: String,
        source: std::io::Error,
    },
}

/// Verifies the trace in `dir`; writes `junit` when given.
pub fn run(dir: &Path, junit: Option<&Path>) -> Result<TraceReport, VerifyTraceError> {
    let report = verify(dir)?;
    if let Some(path) = junit {
        write_atomic(path, junit_xml(&report).as_bytes()).map_err(|source| {
            VerifyTraceError::Junit {
                path: path.display().to_string(),
                source,
            }
        })?;
    }
    Ok(report)
}

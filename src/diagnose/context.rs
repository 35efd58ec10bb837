//! What the rules read: the recorded series, the pre-flight facts and the
//! non-finite origin. Rules never re-run training.

use super::preflight::Preflight;
use crate::gradcheck::types::GradcheckReport;
use crate::monitor::nonfinite::NanOrigin;
use crate::monitor::record::Recording;

/// Inputs of every rule.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub recording: &'a Recording,
    pub preflight: &'a Preflight,
    pub nan_origin: Option<&'a NanOrigin>,
    pub gradcheck: Option<&'a GradcheckReport>,
}

impl Context<'_> {
    /// Number of layers.
    pub fn depth(&self) -> usize {
        self.recording.layers.len()
    }

    /// Loss at the first completed step.
    pub fn initial_loss(&self) -> Option<f64> {
        self.recording.steps.first().map(|s| s.loss)
    }
}

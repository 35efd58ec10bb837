//! What `verify-trace` found: per compared tensor a result, per divergent
//! tensor a finding (the JSON contract of docs/verify-trace.md), and facts about the run
//! for the text and JUnit renderers.

use super::tensor::TensorKind;
use serde::Serialize;

/// match / mismatch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Match,
    Mismatch,
}

/// One divergent tensor, with the mistake it matches.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    pub layer: Option<usize>,
    pub tensor: TensorKind,
    pub pattern: Option<String>,
    pub max_abs_error: f64,
    pub max_rel_error: f64,
    pub index: Vec<usize>,
    /// The reference value at `index` (in the trace's conventions).
    pub expected: f64,
    /// The trace's value at `index`.
    pub actual: f64,
    pub message: String,
    pub suggestion: String,
}

/// The comparison of one tensor the trace provides.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorResult {
    pub layer: Option<usize>,
    pub tensor: TensorKind,
    pub file: String,
    pub passed: bool,
    pub max_abs_error: f64,
    pub max_rel_error: f64,
    pub pattern: Option<String>,
}

/// Facts about the trace and the run, for the renderers.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TraceInfo {
    pub dir: String,
    /// "4-5 sigmoid-3 softmax".
    pub network: String,
    pub batch: usize,
    /// "mse (mean, 1/2)".
    pub loss: String,
    pub layout: String,
    pub precision: String,
    pub rtol: f64,
    pub fd_checks: usize,
    pub fd_kinks: usize,
    pub seconds: f64,
}

/// The whole outcome. Serialises to exactly the JSON.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TraceReport {
    pub verdict: Verdict,
    pub first_divergence: Option<Finding>,
    pub findings: Vec<Finding>,
    #[serde(skip)]
    pub tensors: Vec<TensorResult>,
    #[serde(skip)]
    pub info: TraceInfo,
}

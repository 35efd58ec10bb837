//! What `check --try-fixes` found for each candidate, as plain data: the
//! summary carries it and the report renders it. The candidates themselves
//! are made and trained by `check::fixes`; the types live here so the report
//! does not depend on the command that fills them.

use crate::config::LossKind;
use serde::{Deserialize, Serialize};

/// One candidate and what it achieved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FixResult {
    pub name: String,
    pub changes: Vec<String>,
    /// The candidate config, relative to the report directory.
    pub config: String,
    pub steps: usize,
    pub errors_before: Vec<String>,
    pub errors_after: Vec<String>,
    /// No error diagnosis left.
    pub cleared_errors: bool,
    pub loss_before: Option<f64>,
    pub loss_after: Option<f64>,
    /// (before - after) / before.
    pub loss_improvement: Option<f64>,
    pub test_accuracy_before: Option<f64>,
    pub test_accuracy_after: Option<f64>,
    /// Error and warning codes of the original run this candidate no longer
    /// has, those it still has, and new ones it brings.
    pub clears: Vec<String>,
    pub leaves: Vec<String>,
    pub introduces: Vec<String>,
    /// Whether the losses are comparable: the candidate trains with the
    /// same loss function (cross-entropy and MSE values are not).
    pub same_loss_function: bool,
    /// The loss functions of the run and of the candidate: losses are only
    /// comparable within one (reports say so when they differ).
    pub loss_function_before: LossKind,
    pub loss_function_after: LossKind,
    /// `errors_after` with the layer of each, so a report can say which.
    pub errors_left: Vec<ErrorAt>,
}

/// An error diagnosis code and its layer (None: the whole network).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorAt {
    pub code: String,
    pub layer: Option<usize>,
}

//! What a gradient check produces: one row per comparison, a verdict per
//! (check point, layer, tensor), and the first wrong tensor with the known
//! backprop mistake it matches.

use serde::{Deserialize, Serialize};

/// Which parameter tensor a check perturbs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TensorKind {
    Weight,
    Bias,
    /// A direction over every parameter of the network at once.
    Network,
}

impl TensorKind {
    pub fn name(self) -> &'static str {
        match self {
            TensorKind::Weight => "weight",
            TensorKind::Bias => "bias",
            TensorKind::Network => "network",
        }
    }
}

/// One element, or one random unit direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckKind {
    Element,
    Direction,
}

impl CheckKind {
    pub fn name(self) -> &'static str {
        match self {
            CheckKind::Element => "element",
            CheckKind::Direction => "direction",
        }
    }
}

/// One comparison of analytic and numeric derivative: a row of gradcheck.csv.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckRow {
    /// The check point: "init", "end", "step 120" or "last-finite (step 41)".
    pub at: String,
    /// 1-based layer; None for the whole-network direction.
    pub layer: Option<usize>,
    pub tensor: TensorKind,
    pub kind: CheckKind,
    /// Element index ([row, col] of a weight, [unit] of a bias) or, for a
    /// direction, [direction number].
    pub index: Vec<usize>,
    #[serde(deserialize_with = "crate::nullnum::f64_or_nan")]
    pub analytic: f64,
    #[serde(deserialize_with = "crate::nullnum::f64_or_nan")]
    pub numeric: f64,
    #[serde(deserialize_with = "crate::nullnum::f64_or_nan")]
    pub abs_error: f64,
    /// |a - n| / max(|a|, |n|), 0 when both are 0.
    #[serde(deserialize_with = "crate::nullnum::f64_or_nan")]
    pub rel_error: f64,
    /// The ±epsilon perturbation flipped the sign of a ReLU-family
    /// pre-activation: not counted as a failure.
    pub kink: bool,
    pub passed: bool,
}

/// The verdict for one (check point, layer, tensor): what summary.json lists.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TensorResult {
    pub at: String,
    pub layer: Option<usize>,
    pub tensor: TensorKind,
    pub elements_checked: usize,
    pub directions_checked: usize,
    pub kinks: usize,
    #[serde(deserialize_with = "crate::nullnum::f64_or_nan")]
    pub max_rel_error: f64,
    pub passed: bool,
}

/// A known backprop mistake that explains a wrong tensor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PatternMatch {
    /// Catalogue code, e.g. "missing-output-derivative", or "constant-factor".
    pub code: String,
    pub explanation: String,
    /// For constant factors: analytic = factor x numeric.
    pub factor: Option<f64>,
}

/// The first wrong tensor (the one nearest the output: errors flow down).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub at: String,
    pub layer: Option<usize>,
    pub tensor: TensorKind,
    /// The worst failing element or direction.
    pub index: Vec<usize>,
    #[serde(deserialize_with = "crate::nullnum::f64_or_nan")]
    pub analytic: f64,
    #[serde(deserialize_with = "crate::nullnum::f64_or_nan")]
    pub numeric: f64,
    #[serde(deserialize_with = "crate::nullnum::f64_or_nan")]
    pub rel_error: f64,
    pub pattern: Option<PatternMatch>,
    pub message: String,
}

/// Everything one gradcheck run produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GradcheckReport {
    pub passed: bool,
    #[serde(deserialize_with = "crate::nullnum::f64_or_nan")]
    pub max_rel_error: f64,
    /// Serialised as `checks` in summary.json.
    #[serde(rename = "checks")]
    pub tensors: Vec<TensorResult>,
    #[serde(skip)]
    pub rows: Vec<CheckRow>,
    pub first_wrong: Option<Finding>,
    /// Parameters in the checked network.
    pub parameters: usize,
    /// Wall-clock seconds spent checking (not training).
    #[serde(deserialize_with = "crate::nullnum::f64_or_nan")]
    pub seconds: f64,
    pub epsilon: f64,
    pub rtol: f64,
    pub atol: f64,
}

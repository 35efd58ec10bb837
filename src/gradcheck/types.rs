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
    /// A layer's input gradient dL/dx (what it sends down), checked by the
    /// layer-local check only.
    Input,
}

impl TensorKind {
    /// The kind of a layer's named parameter tensor.
    pub fn of(param: super::probe::Param) -> Self {
        match param {
            super::probe::Param::Weight => TensorKind::Weight,
            super::probe::Param::Bias => TensorKind::Bias,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            TensorKind::Weight => "weight",
            TensorKind::Bias => "bias",
            TensorKind::Network => "network",
            TensorKind::Input => "input",
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

/// What one comparison shows. Only a resolved row (the finite difference
/// can see the gradient and no kink was crossed) is evidence either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RowStatus {
    Pass,
    Fail,
    /// Both values are below the central difference's noise floor: the
    /// difference cannot tell a right gradient from a wrong one.
    BelowResolution,
    /// The perturbation flipped a ReLU-family pre-activation.
    Kink,
}

impl RowStatus {
    pub fn name(self) -> &'static str {
        match self {
            RowStatus::Pass => "pass",
            RowStatus::Fail => "fail",
            RowStatus::BelowResolution => "below-resolution",
            RowStatus::Kink => "kink",
        }
    }
}

/// The verdict on one tensor: a pass needs at least one resolved row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Inconclusive,
    Fail,
}

impl Status {
    pub fn name(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::Inconclusive => "inconclusive",
        }
    }
}

/// Where a row was evaluated: the requested check point, or the
/// well-conditioned probe state the same code is re-checked at when the
/// point could not resolve a tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum State {
    Point,
    Probe,
    /// The layer-local check (gradcheck::local) at the point's values.
    Local,
    /// The layer-local check at the probe state's values.
    LocalProbe,
    /// The layer-local check at the point's values by complex step
    /// (gradcheck::complex_step), where a central difference could not
    /// resolve an element of a dense sigmoid/tanh/linear layer.
    LocalComplexStep,
}

impl State {
    pub fn name(self) -> &'static str {
        match self {
            State::Point => "point",
            State::Probe => "probe",
            State::Local => "local",
            State::LocalProbe => "local-probe",
            State::LocalComplexStep => "local-complex-step",
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
    /// Resolved and within tolerance: evidence the gradient is right.
    pub passed: bool,
    /// The finite difference can see this gradient (above the noise floor,
    /// no kink): only resolved rows count.
    pub resolved: bool,
    pub status: RowStatus,
    pub state: State,
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
    /// Rows that resolved in the state that gave the verdict.
    pub resolved: usize,
    /// Max relative error over resolved rows only (0 when none resolved).
    #[serde(deserialize_with = "crate::nullnum::f64_or_nan")]
    pub max_rel_error: f64,
    pub status: Status,
    /// Why the requested point could not decide ("below-resolution",
    /// "all-kinks"); kept when the probe state then decided.
    pub reason: Option<String>,
    /// The state whose rows gave the verdict: "point" or "probe" (None when
    /// neither resolved a row).
    pub verified_at: Option<State>,
    /// `status == pass`.
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

/// How many tensor verdicts of each kind a run produced.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub pass: usize,
    pub fail: usize,
    pub inconclusive: usize,
    /// Tensors the requested point could not resolve that the probe state
    /// then decided.
    pub resolved_at_probe: usize,
    /// Tensors neither whole-network check resolved that the layer-local
    /// check decided (at the point's or the probe state's values).
    #[serde(default)]
    pub resolved_locally: usize,
}

impl Counts {
    pub fn of(tensors: &[TensorResult]) -> Self {
        let mut c = Counts::default();
        for t in tensors {
            match t.status {
                Status::Pass => c.pass += 1,
                Status::Fail => c.fail += 1,
                Status::Inconclusive => c.inconclusive += 1,
            }
            match t.verified_at {
                Some(State::Probe) => c.resolved_at_probe += 1,
                Some(State::Local | State::LocalProbe | State::LocalComplexStep)
                    if t.tensor != TensorKind::Input =>
                {
                    c.resolved_locally += 1
                }
                _ => {}
            }
        }
        c
    }
}

/// Everything one gradcheck run produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GradcheckReport {
    /// Pass only when every tensor passed (inconclusive is not a pass).
    pub status: Status,
    pub counts: Counts,
    /// `status == pass`.
    pub passed: bool,
    /// Over resolved rows only.
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

//! What a diagnosis rule declares about itself, in one descriptor beside the
//! rule function (as ripgrep keeps one descriptor per flag): its name, how
//! its severity depends on the outcome, which symptoms it explains, which
//! recorded inputs it needs, which rules must not have fired for it to run,
//! the plot that shows its quantity, the fixes `--try-fixes` verifies for
//! it, and the text `nn-doctor explain` prints. Everything that used to
//! list codes (`explain`, coverage of a recorded run, fix candidates, plots,
//! docs/diagnoses.md) reads these descriptors.

use super::code::Code;
use super::context::Context;
use super::thresholds::Thresholds;
use super::types::Diagnosis;

/// One diagnosis rule.
#[derive(Debug)]
pub struct Rule {
    pub code: Code,
    /// The stable name ("dead-relus").
    pub name: &'static str,
    /// The [`Thresholds`] fields the rule compares against (a user's
    /// `[thresholds]` table overrides them); docs/diagnoses.md lists them
    /// with their defaults.
    pub thresholds: &'static [&'static str],
    /// A risk or a symptom, serious only when training was hurt; false for
    /// failures whatever the loss did (NaN, wrong gradients, bad data,
    /// overfitting).
    pub outcome_dependent: bool,
    /// The error symptoms this cause explains: when the run was hurt and
    /// one of them is an error, this finding is raised to an error too.
    pub explains: &'static [Code],
    /// What a recorded run must contain for the rule to run; the first
    /// unmet need is the reason it is listed as skipped.
    pub needs: &'static [Need],
    /// The rule does not run when one of these was found (by rules without
    /// an `unless` of their own): with wrong gradients no learning rate can
    /// be judged, and tiny updates are not the learning rate's fault when
    /// saturation or vanishing gradients explain them.
    pub unless: &'static [Code],
    /// The plot that shows the judged quantity.
    pub plot: Option<Plot>,
    /// A different plot when the finding's evidence has this key (the
    /// layer-ratio variant of exploding gradients).
    pub plot_if_evidence: Option<(&'static str, Plot)>,
    /// The config changes `--try-fixes` verifies when this code is found.
    pub fixes: &'static [FixKind],
    pub explanation: Explanation,
    /// The rule itself.
    pub run: fn(&Context<'_>, &Thresholds) -> Vec<Diagnosis>,
}

impl Rule {
    /// The plot that shows what `d` judged.
    pub fn plot_for(&self, d: &Diagnosis) -> Option<Plot> {
        match self.plot_if_evidence {
            Some((key, plot)) if d.evidence.contains_key(key) => Some(plot),
            _ => self.plot,
        }
    }
}

/// What `nn-doctor explain CODE` prints, section by section.
#[derive(Debug, Clone, Copy)]
pub struct Explanation {
    pub title: &'static str,
    pub meaning: &'static str,
    pub why: &'static str,
    pub fix: &'static str,
    pub look: &'static str,
}

/// A recorded input a rule reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Whether the run watched for NaN/Inf (`nan_origin`).
    NanWatch,
    /// A gradient check's result.
    GradientCheck,
    /// Input statistics (`preflight.input`).
    InputStats,
    /// Initial weight statistics (`preflight.layers`).
    InitialWeights,
    /// A metrics.csv column.
    Column(&'static str),
    /// The learning rate (`network.learning_rate`).
    LearningRate,
    /// A loss nn-doctor names (`network.loss`).
    NamedLoss,
    /// The majority-class rate (`preflight.chance_accuracy`).
    ChanceAccuracy,
    /// Some accuracy: batch accuracy with the batch size, or test accuracy
    /// with the test set size.
    Accuracy,
}

/// The quantity a diagnosis judged, as a plot shows it (the report owns
/// the file names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plot {
    Loss,
    PreActivations,
    Saturation,
    GradientRatio,
    GradientNorms,
    UpdateRatio,
    Confusion,
}

/// A config change `--try-fixes` can verify. The order here is the order
/// candidates are tried and combined in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum FixKind {
    /// Fan-in-scaled init (xavier_uniform, he_normal for relu-family), bias 0.
    FanInInit,
    /// Hidden sigmoid/tanh layers to relu with he_normal.
    ReluHe,
    /// MSE on a softmax/sigmoid output to cross-entropy.
    CrossEntropy,
    /// The output activation the loss expects.
    ProbabilityOutput,
    /// Input scaling.
    ScaleInputs,
    /// One output unit per class.
    UnitsPerClass,
    /// A one-unit softmax output to sigmoid.
    SigmoidOutput,
    /// A hidden softmax to relu.
    HiddenRelu,
    /// Standardised regression targets.
    ScaleTargets,
    /// A batch large enough for batch statistics.
    BnBatchSize,
    /// A lower dropout rate.
    DropoutLower,
    /// Zero biases on relu-family layers whose biases start negative.
    ZeroBias,
    /// A 10x lower learning rate.
    LowerLr,
    /// A 10x higher learning rate (only when no rule asks for a lower one).
    HigherLr,
    /// Gradient-norm clipping.
    ClipGradients,
}

impl FixKind {
    /// The candidate's name in reports and its directory under `fixes/`.
    pub fn name(self) -> &'static str {
        match self {
            FixKind::FanInInit => "fan-in-init",
            FixKind::ReluHe => "relu-he",
            FixKind::CrossEntropy => "cross-entropy",
            FixKind::ProbabilityOutput => "probability-output",
            FixKind::ScaleInputs => "scale-inputs",
            FixKind::UnitsPerClass => "units-per-class",
            FixKind::SigmoidOutput => "sigmoid-output",
            FixKind::HiddenRelu => "hidden-relu",
            FixKind::ScaleTargets => "scale-targets",
            FixKind::BnBatchSize => "bn-batch-size",
            FixKind::DropoutLower => "dropout-lower",
            FixKind::ZeroBias => "zero-bias",
            FixKind::LowerLr => "lower-lr",
            FixKind::HigherLr => "higher-lr",
            FixKind::ClipGradients => "clip-gradients",
        }
    }
}

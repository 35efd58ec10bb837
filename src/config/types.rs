//! The validated run configuration that the rest of the program consumes.
//! Built from the TOML file by `config::load`; every field here has already
//! been checked (ranges, layer rules), so consumers never re-validate.

use crate::data::spec::DataConfig;
use crate::kinds::Activation;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Floating-point precision used for training.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DType {
    F32,
    F64,
}

/// Weight initialisation scheme of one layer.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Init {
    /// U(-a, a), a = sqrt(6 / (fan_in + fan_out)).
    XavierUniform,
    /// N(0, 2 / (fan_in + fan_out)).
    XavierNormal,
    /// U(-a, a), a = sqrt(6 / fan_in).
    HeUniform,
    /// N(0, 2 / fan_in).
    HeNormal,
    /// N(0, std^2).
    Normal { std: f64 },
    /// U[low, high).
    Uniform { low: f64, high: f64 },
    /// All zeros.
    Zeros,
}

/// One dense layer: `units` outputs, then `activation`.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerConfig {
    pub units: usize,
    pub activation: Activation,
    pub init: Init,
    pub bias_init: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ModelConfig {
    pub dtype: DType,
    pub layers: Vec<LayerConfig>,
}

/// Training loss. Every loss is summed over the output units of a sample and
/// averaged over the batch (reduction "mean" over samples, not elements:
/// PyTorch's element-mean losses equal ours divided by the output width).
/// Formulas and the handling of outputs that are not probabilities are in
/// `engine::loss`.
/// Serialized (summary.json) as its config name alone, `"huber"` included:
/// the delta is a parameter, not part of the loss's name.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LossKind {
    /// Mean over the batch of 1/2 * sum_k (y_k - t_k)^2 (halved).
    Mse,
    /// Mean over the batch of -sum_k t_k ln y_k (softmax outputs) or the
    /// binary cross-entropy summed over units (sigmoid outputs).
    CrossEntropy,
    /// Mean over the batch of -sum_k [t_k ln y_k + (1 - t_k) ln(1 - y_k)].
    BinaryCrossEntropy,
    /// Mean over the batch of sum_k |y_k - t_k| (not halved).
    Mae,
    /// Mean over the batch of sum_k huber(y_k - t_k): 1/2 d^2 for
    /// |d| <= delta, delta (|d| - delta / 2) beyond (PyTorch's HuberLoss).
    Huber { delta: f64 },
}

impl LossKind {
    /// The name a config selects this loss by.
    pub fn config_name(self) -> &'static str {
        match self {
            LossKind::Mse => "mse",
            LossKind::CrossEntropy => "cross_entropy",
            LossKind::BinaryCrossEntropy => "binary_cross_entropy",
            LossKind::Mae => "mae",
            LossKind::Huber { .. } => "huber",
        }
    }

    /// Whether the loss reads its targets as probabilities (0/1 or one-hot)
    /// rather than as continuous values.
    pub fn is_cross_entropy(self) -> bool {
        matches!(self, LossKind::CrossEntropy | LossKind::BinaryCrossEntropy)
    }
}

/// Optimizer and its hyper-parameters, defined as PyTorch defines them
/// (the update equations are written out in `engine::optim`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum OptimizerConfig {
    Sgd,
    Momentum {
        momentum: f64,
    },
    Adam {
        beta1: f64,
        beta2: f64,
        eps: f64,
    },
    /// torch.optim.RMSprop without momentum, not centered.
    Rmsprop {
        alpha: f64,
        eps: f64,
    },
    /// torch.optim.Adagrad with initial_accumulator_value 0.
    Adagrad {
        lr_decay: f64,
        eps: f64,
    },
    /// torch.optim.Adamax.
    Adamax {
        beta1: f64,
        beta2: f64,
        eps: f64,
    },
}

impl std::fmt::Display for DType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DType::F32 => "f32",
            DType::F64 => "f64",
        })
    }
}

impl Serialize for LossKind {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.config_name())
    }
}

/// Read back by its config name (summary.json: `"huber"` with the default
/// delta 1.0; readers that have `network.huber_delta` put the recorded delta
/// back with [`LossKind::with_delta`]) or in the tagged form trace.toml
/// uses (`{ huber = { delta = 0.5 } }`).
impl<'de> Deserialize<'de> for LossKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(rename_all = "snake_case")]
        enum Tagged {
            Mse,
            CrossEntropy,
            BinaryCrossEntropy,
            Mae,
            Huber { delta: f64 },
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Repr {
            Name(String),
            Tagged(Tagged),
        }
        Ok(match Repr::deserialize(d)? {
            Repr::Name(name) => match name.as_str() {
                "mse" => LossKind::Mse,
                "cross_entropy" => LossKind::CrossEntropy,
                "binary_cross_entropy" => LossKind::BinaryCrossEntropy,
                "mae" => LossKind::Mae,
                "huber" => LossKind::Huber { delta: 1.0 },
                other => {
                    return Err(serde::de::Error::custom(format!(
                        "unknown loss {other:?}: expected mse, cross_entropy, binary_cross_entropy, mae or huber"
                    )))
                }
            },
            Repr::Tagged(Tagged::Mse) => LossKind::Mse,
            Repr::Tagged(Tagged::CrossEntropy) => LossKind::CrossEntropy,
            Repr::Tagged(Tagged::BinaryCrossEntropy) => LossKind::BinaryCrossEntropy,
            Repr::Tagged(Tagged::Mae) => LossKind::Mae,
            Repr::Tagged(Tagged::Huber { delta }) => LossKind::Huber { delta },
        })
    }
}

impl LossKind {
    /// This loss with a recorded Huber delta put back (other losses unchanged).
    pub fn with_delta(self, delta: Option<f64>) -> Self {
        match (self, delta) {
            (LossKind::Huber { .. }, Some(delta)) => LossKind::Huber { delta },
            (other, _) => other,
        }
    }
}

impl std::fmt::Display for LossKind {
    /// The name a person reads in a report ("cross-entropy", "MSE").
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LossKind::Mse => "MSE",
            LossKind::CrossEntropy => "cross-entropy",
            LossKind::BinaryCrossEntropy => "binary cross-entropy",
            LossKind::Mae => "MAE",
            LossKind::Huber { delta } => return write!(f, "Huber (delta {delta})"),
        })
    }
}

impl std::fmt::Display for OptimizerConfig {
    /// "SGD", "momentum 0.9", "Adam (beta1 0.9, beta2 0.999, eps 1e-8)".
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OptimizerConfig::Sgd => f.write_str("SGD"),
            OptimizerConfig::Momentum { momentum } => write!(f, "momentum {momentum}"),
            OptimizerConfig::Adam { beta1, beta2, eps } => {
                write!(f, "Adam (beta1 {beta1}, beta2 {beta2}, eps {eps:e})")
            }
            OptimizerConfig::Rmsprop { alpha, eps } => {
                write!(f, "RMSprop (alpha {alpha}, eps {eps:e})")
            }
            OptimizerConfig::Adagrad { lr_decay, eps } => {
                write!(f, "Adagrad (lr_decay {lr_decay}, eps {eps:e})")
            }
            OptimizerConfig::Adamax { beta1, beta2, eps } => {
                write!(f, "Adamax (beta1 {beta1}, beta2 {beta2}, eps {eps:e})")
            }
        }
    }
}

/// How long to train: `steps` wins when both were given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Duration {
    Steps(usize),
    Epochs(usize),
}

#[derive(Debug, Clone, PartialEq)]
pub struct TrainConfig {
    pub loss: LossKind,
    pub optimizer: OptimizerConfig,
    pub learning_rate: f64,
    /// L2 penalty added to every gradient, g + weight_decay * w, as PyTorch's
    /// `weight_decay` does for all its optimizers (Adam's is not AdamW's).
    pub weight_decay: f64,
    pub batch_size: usize,
    pub duration: Duration,
    pub clip_grad_norm: Option<f64>,
    pub eval_every: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MonitorConfig {
    /// Record layer statistics every `every` steps (the non-finite tracer
    /// always watches every step).
    pub every: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ReportConfig {
    /// `None`: `reports/<name>` relative to the working directory.
    pub dir: Option<PathBuf>,
}

/// When a gradient check runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum CheckPoint {
    /// Before the first step.
    Init,
    /// After this many steps.
    Step(usize),
    /// After the last step.
    End,
}

impl CheckPoint {
    /// The step number of a `Step` point.
    pub fn step(self) -> Option<usize> {
        match self {
            CheckPoint::Step(s) => Some(s),
            _ => None,
        }
    }
}

impl std::fmt::Display for CheckPoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CheckPoint::Init => f.write_str("init"),
            CheckPoint::Step(s) => write!(f, "step {s}"),
            CheckPoint::End => f.write_str("end"),
        }
    }
}

/// The validated `[gradcheck]` table; defaults are documented in README.md
/// and `gradcheck::settings`.
#[derive(Debug, Clone, PartialEq)]
pub struct GradcheckConfig {
    pub at: Vec<CheckPoint>,
    /// Fixed samples the loss is evaluated on.
    pub batch: usize,
    /// Random elements checked per tensor (the largest-|gradient| elements
    /// are checked on top of these).
    pub samples_per_tensor: usize,
    /// Random unit directions per tensor.
    pub directions: usize,
    pub epsilon: f64,
    pub rtol: f64,
    pub atol: f64,
}

impl Default for GradcheckConfig {
    /// Central differences in f64 with epsilon 1e-6 have round-off of about
    /// 1e-16 |L| / 1e-6 = 1e-10 |L| and truncation of order 1e-12 |L'''|:
    /// atol 1e-7 leaves a 1000x margin for losses of order 1, and rtol 1e-4
    /// is far below the relative errors any real backprop bug produces
    /// (CS231n: > 1e-2 means wrong) while well above f64 noise.
    fn default() -> Self {
        GradcheckConfig {
            at: vec![CheckPoint::Init, CheckPoint::End],
            batch: 16,
            samples_per_tensor: 8,
            directions: 2,
            epsilon: 1e-6,
            rtol: 1e-4,
            atol: 1e-7,
        }
    }
}

/// A whole validated config file.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it was read from.
    pub path: PathBuf,
    /// Its text, kept so that checks made after loading the data (batch size
    /// against sample count, output units against classes) can still point at
    /// the right line.
    pub source: String,
    pub name: String,
    pub seed: u64,
    pub data: DataConfig,
    pub model: ModelConfig,
    pub train: TrainConfig,
    pub monitor: MonitorConfig,
    pub report: ReportConfig,
    pub gradcheck: GradcheckConfig,
    /// `[thresholds]` overrides of the diagnosis thresholds, by name.
    pub thresholds: Vec<(String, f64)>,
}

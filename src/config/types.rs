//! The validated run configuration that the rest of the program consumes.
//! Built from the TOML file by `config::load`; every field here has already
//! been checked (ranges, layer rules), so consumers never re-validate.

use crate::data::spec::DataConfig;
pub use crate::engine::layers::conv2d::Padding;
pub use crate::engine::layers::pool2d::PoolKind;
pub use crate::engine::layers::{KindConfig, LayerConfig};
pub use crate::kinds::Shape;
pub use crate::kinds::{DType, Init, LossKind, OptimizerConfig};
use serde::Serialize;
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq)]
pub struct ModelConfig {
    pub dtype: DType,
    pub layers: Vec<LayerConfig>,
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

/// The validated `[gradcheck]` table; defaults are documented in docs/configs.md
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

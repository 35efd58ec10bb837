//! The validated run configuration that the rest of the program consumes.
//! Built from the TOML file by `config::load`; every field here has already
//! been checked (ranges, layer rules), so consumers never re-validate.

use crate::data::spec::DataConfig;
use crate::engine::activation::Activation;
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

/// Training loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LossKind {
    /// Mean over the batch of 1/2 * sum_k (y_k - t_k)^2.
    Mse,
    /// Mean over the batch of -sum_k t_k ln y_k (softmax outputs) or the
    /// binary cross-entropy summed over units (sigmoid outputs).
    CrossEntropy,
}

/// Optimizer and its hyper-parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum OptimizerConfig {
    Sgd,
    Momentum { momentum: f64 },
    Adam { beta1: f64, beta2: f64, eps: f64 },
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
}

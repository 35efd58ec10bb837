//! What a config asks of the data: where it comes from and how it is scaled.
//! Paths here are already resolved against the config file's directory.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// How input features are scaled before training.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scale {
    /// Raw values, as stored.
    None,
    /// Divide by 255 (uint8 pixels to [0, 1]).
    Unit,
    /// Per-feature z-score with mean and std taken from the training set.
    Standardize,
}

/// What the network is asked to predict (`[data] task`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    /// One class per sample (integer or string labels); accuracy.
    #[default]
    Classification,
    /// Continuous targets, one per output unit; R^2 and RMSE.
    Regression,
    /// A 0/1 target per label, several may be 1; per-label accuracy and
    /// exact match.
    Multilabel,
}

impl Task {
    /// The config spelling.
    pub fn name(self) -> &'static str {
        match self {
            Task::Classification => "classification",
            Task::Regression => "regression",
            Task::Multilabel => "multilabel",
        }
    }
}

/// How regression targets are scaled before training (`scale_targets`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum TargetScale {
    /// Targets as stored.
    #[default]
    None,
    /// Per-target z-score from the training split; metrics are reported in
    /// the original units.
    Standardize,
}

/// Synthetic 2-D data generators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Generator {
    Spirals,
    Blobs,
    Xor,
    Circles,
    /// Regression: y = sin(x) + noise, x uniform in [-pi, pi] (one feature).
    Sine,
    /// Regression: y = 2 x1 - 3 x2 + 0.5 + noise, x ~ N(0, 1)^2.
    Linear,
}

impl Generator {
    /// Whether the generator makes continuous targets (task = "regression").
    pub fn is_regression(self) -> bool {
        matches!(self, Generator::Sine | Generator::Linear)
    }
}

/// Where the samples come from.
#[derive(Debug, Clone, PartialEq)]
pub enum DataSpec {
    Idx {
        train_images: PathBuf,
        train_labels: PathBuf,
        test_images: Option<PathBuf>,
        test_labels: Option<PathBuf>,
    },
    Csv {
        train: PathBuf,
        test: Option<PathBuf>,
        /// Header name of the label column; `None` means the last column.
        label_column: Option<String>,
        /// Header names of the target columns (regression, multilabel);
        /// `None` means the last column.
        target_columns: Option<Vec<String>>,
    },
    Synthetic {
        generator: Generator,
        samples: usize,
        classes: usize,
        noise: f64,
        test_fraction: f64,
    },
}

/// The validated `[data]` table.
#[derive(Debug, Clone, PartialEq)]
pub struct DataConfig {
    pub spec: DataSpec,
    pub scale: Scale,
    pub train_limit: Option<usize>,
    pub task: Task,
    pub scale_targets: TargetScale,
    /// CSV: the shape of one sample's feature columns as an image
    /// (`input_shape = [C, H, W]`, channel-first); checked against the
    /// column count once the data is loaded.
    pub input_shape: Option<crate::kinds::Shape>,
}

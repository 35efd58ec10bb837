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

/// Synthetic 2-D data generators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Generator {
    Spirals,
    Blobs,
    Xor,
    Circles,
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
}

//! summary.json: the machine-readable result of a run. Other tools (CI, a
//! later `report` command) read this rather than re-running anything.

use crate::config::{DType, LossKind, OptimizerConfig};
use crate::diagnose::preflight::Preflight;
use crate::diagnose::{Diagnosis, Severity};
use crate::monitor::nonfinite::NanOrigin;
use crate::monitor::record::LayerInfo;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Healthy,
    Unhealthy,
}

/// Final loss and accuracies; None when not measurable (e.g. NaN weights).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Final {
    /// Loss on the whole training set after the last step (the last finite
    /// batch loss when training died).
    pub loss: Option<f64>,
    pub train_accuracy: Option<f64>,
    pub test_accuracy: Option<f64>,
    pub test_loss: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataSummary {
    pub description: String,
    pub train_samples: usize,
    pub test_samples: usize,
    pub features: usize,
    pub classes: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NetworkSummary {
    pub dtype: DType,
    pub layers: Vec<LayerInfo>,
    pub parameters: usize,
    pub loss: LossKind,
    pub optimizer: OptimizerConfig,
    pub learning_rate: f64,
    pub batch_size: usize,
    /// Each layer's name and kind in the trainer that recorded it (runs
    /// read by `diagnose`); absent for nn-doctor's own dense layers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub names: Vec<LayerName>,
}

/// A layer as another trainer calls it, e.g. PyTorch's `features.3`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerName {
    pub layer: usize,
    pub name: String,
    /// "dense", "conv2d", "lstm", ...
    pub kind: Option<String>,
}

/// Wall-clock figures (the only non-deterministic part of a report).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Timing {
    pub seconds: f64,
    pub samples_per_second: f64,
}

/// The whole summary.json.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// The run format version (README: "The run format"): a directory
    /// holding this summary and its CSVs can be read by `diagnose`,
    /// `report` and `compare`.
    #[serde(default = "run_format_1")]
    pub run_format: u32,
    pub name: String,
    pub config: String,
    pub verdict: Verdict,
    pub exit_code: i32,
    pub fail_on: String,
    pub steps_run: usize,
    pub steps_planned: usize,
    pub stopped_early: bool,
    pub stop_reason: Option<String>,
    #[serde(rename = "final")]
    pub final_: Final,
    pub diagnoses: Vec<Diagnosis>,
    pub nan_origin: Option<NanOrigin>,
    /// Filled by gradient checks (a later feature); null until then.
    pub gradcheck: Option<serde_json::Value>,
    pub data: DataSummary,
    pub network: NetworkSummary,
    pub preflight: Preflight,
    pub timing: Timing,
    pub files: Vec<String>,
    /// `--try-fixes` results (empty unless asked for).
    pub fixes: Vec<crate::fixes::FixResult>,
    /// Rules whose inputs the run did not record (`diagnose` on a run from
    /// another trainer); absent when every rule ran.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<crate::diagnose::Skipped>,
}

fn run_format_1() -> u32 {
    1
}

impl Summary {
    /// Number of diagnoses of a severity.
    pub fn count(&self, severity: Severity) -> usize {
        self.diagnoses
            .iter()
            .filter(|d| d.severity == severity)
            .count()
    }

    /// "784 -> 1000 sigmoid -> 10 softmax", joined by `sep`.
    pub fn architecture(&self, sep: &str) -> String {
        std::iter::once(self.data.features.to_string())
            .chain(
                self.network
                    .layers
                    .iter()
                    .map(|l| format!("{} {}", l.units, l.activation)),
            )
            .collect::<Vec<_>>()
            .join(sep)
    }

    /// "L1 = fc1 (dense), L2 = ..." for runs whose layers have names.
    pub fn layer_names(&self) -> Option<String> {
        if self.network.names.is_empty() {
            return None;
        }
        let names: Vec<String> = self
            .network
            .names
            .iter()
            .map(|n| match &n.kind {
                Some(k) => format!("L{} = {} ({k})", n.layer, n.name),
                None => format!("L{} = {}", n.layer, n.name),
            })
            .collect();
        Some(names.join(", "))
    }

    /// Pretty JSON (serde_json writes non-finite floats as null).
    pub fn to_json(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string_pretty(self)
    }
}

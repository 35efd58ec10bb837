//! summary.json: the machine-readable result of a run. Other tools (CI, a
//! later `report` command) read this rather than re-running anything.

use crate::config::{DType, LossKind, OptimizerConfig};
use crate::diagnose::preflight::Preflight;
use crate::diagnose::{Diagnosis, Severity};
use crate::kinds::Activation;
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
    /// Regression and multilabel metrics (absent for classification).
    #[serde(flatten)]
    pub fit: FinalFit,
}

/// The task's own metrics in `final`: R^2 and RMSE (regression, RMSE in the
/// targets' original units), exact match and per-label accuracy
/// (multilabel). Every field is left out when it does not apply.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FinalFit {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_r2: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_rmse: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_r2: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_rmse: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_exact_match: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_exact_match: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_label_accuracy: Option<Vec<f64>>,
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
    /// `[train] weight_decay` (0 when unset); added after the existing fields.
    #[serde(default)]
    pub weight_decay: f64,
    /// `[train] huber_delta` when the loss is Huber.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub huber_delta: Option<f64>,
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

/// Version of summary.json's layout and of the metrics.csv / loss.csv
/// columns. Adding a field or appending a CSV column keeps it; renaming,
/// removing or changing the meaning of one bumps it.
pub const SCHEMA_VERSION: u32 = 1;

/// The run format version this build reads and writes (summary.json's
/// `run_format`; `rundir` checks it when reading a run back).
pub const RUN_FORMAT: u32 = 1;

/// The whole summary.json.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// [`SCHEMA_VERSION`] of the program that wrote the file.
    #[serde(default = "schema_version_1")]
    pub schema_version: u32,
    /// "nn-doctor".
    #[serde(default)]
    pub tool: String,
    /// The writing program's version (Cargo package version).
    #[serde(default)]
    pub tool_version: String,
    /// The run format version (docs/run-format.md): a directory
    /// holding this summary and its CSVs can be read by `diagnose`,
    /// `report` and `compare`.
    #[serde(default = "run_format_1")]
    pub run_format: u32,
    pub name: String,
    pub config: String,
    /// "sha256:<hex>" of the config file's bytes, so two runs can be told
    /// apart or matched without diffing configs; None if it could not be read.
    #[serde(default)]
    pub config_digest: Option<String>,
    /// The config file's canonical path (absolute, symlinks resolved), so
    /// that `check` can tell a rerun of the same config (its report is
    /// replaced) from another config with the same `name` (refused); None
    /// for runs recorded by another trainer or before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_path: Option<String>,
    /// The config's seed: with the digest it pins down the metrics exactly
    /// (None for a run recorded by another trainer that did not say).
    #[serde(default)]
    pub seed: Option<u64>,
    /// The diagnosis thresholds in effect (defaults plus `[thresholds]`).
    #[serde(default)]
    pub thresholds: crate::diagnose::Thresholds,
    pub verdict: Verdict,
    pub exit_code: i32,
    pub fail_on: String,
    pub steps_run: usize,
    pub steps_planned: usize,
    pub stopped_early: bool,
    /// True when SIGINT/SIGTERM cut the run short (exit code 130): training
    /// ended early and the report covers the steps that ran, or `--try-fixes`
    /// stopped and `fixes` lists the candidates that finished.
    #[serde(default)]
    pub interrupted: bool,
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
    pub fixes: Vec<super::fix_result::FixResult>,
    /// After `--try-fixes`: the verified best candidate's changes (what
    /// clears the most problems), which heads the advice.
    #[serde(default)]
    pub headline_fix: Option<String>,
    /// The final network's confusion matrix and per-class accuracy on the
    /// test set (else the training set); null when training blew up.
    #[serde(default)]
    pub confusion: Option<crate::monitor::confusion::Confusion>,
    /// Rules whose inputs the run did not record (`diagnose` on a run from
    /// another trainer); absent when every rule ran.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<crate::diagnose::Skipped>,
}

/// What a run says about itself, whoever ran it (`check` trained it,
/// `diagnose` read it); [`Summary::new`] adds what every summary carries.
#[derive(Debug, Clone)]
pub struct RunParts {
    pub name: String,
    pub config: String,
    pub config_digest: Option<String>,
    /// The config file's resolved path (`check`), to tell a rerun from
    /// another config of the same name.
    pub config_path: Option<String>,
    pub seed: Option<u64>,
    pub thresholds: crate::diagnose::Thresholds,
    pub fail_on: String,
    pub steps_run: usize,
    pub steps_planned: usize,
    pub stopped_early: bool,
    pub interrupted: bool,
    pub stop_reason: Option<String>,
    pub final_: Final,
    pub nan_origin: Option<NanOrigin>,
    pub gradcheck: Option<serde_json::Value>,
    pub data: DataSummary,
    pub network: NetworkSummary,
    pub preflight: Preflight,
    pub timing: Timing,
    pub confusion: Option<crate::monitor::confusion::Confusion>,
}

/// "sha256:<hex>" of `bytes`.
pub fn digest(bytes: &[u8]) -> String {
    use sha2::Digest;
    let hash = sha2::Sha256::digest(bytes);
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// The digest of the config file at `path`, None if it can't be read.
pub fn config_digest(path: &std::path::Path) -> Option<String> {
    // Bounded, regular files only: a run directory's summary.json may point
    // `config` at a FIFO or a device.
    crate::input::read_bounded(path, crate::input::MAX_TEXT_FILE)
        .ok()
        .map(|b| digest(&b))
}

fn run_format_1() -> u32 {
    1
}

fn schema_version_1() -> u32 {
    1
}

impl Summary {
    /// The one constructor: the run's parts, this program's identity and
    /// formats, the files its report holds, and an open verdict (no
    /// diagnoses, healthy, exit 0) that `assess` settles.
    pub fn new(p: RunParts) -> Summary {
        let files = super::REPORT_FILES
            .iter()
            .copied()
            .chain(p.confusion.as_ref().map(|_| super::CONFUSION_FILE))
            .map(str::to_string)
            .collect();
        Summary {
            schema_version: SCHEMA_VERSION,
            tool: env!("CARGO_PKG_NAME").to_string(),
            tool_version: env!("CARGO_PKG_VERSION").to_string(),
            run_format: RUN_FORMAT,
            name: p.name,
            config: p.config,
            config_digest: p.config_digest,
            config_path: p.config_path,
            seed: p.seed,
            thresholds: p.thresholds,
            verdict: Verdict::Healthy,
            exit_code: 0,
            fail_on: p.fail_on,
            steps_run: p.steps_run,
            steps_planned: p.steps_planned,
            stopped_early: p.stopped_early,
            interrupted: p.interrupted,
            stop_reason: p.stop_reason,
            final_: p.final_,
            diagnoses: Vec::new(),
            nan_origin: p.nan_origin,
            gradcheck: p.gradcheck,
            data: p.data,
            network: p.network,
            preflight: p.preflight,
            timing: p.timing,
            files,
            fixes: Vec::new(),
            headline_fix: None,
            confusion: p.confusion,
            skipped: Vec::new(),
        }
    }

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
            .chain(self.network.layers.iter().map(|l| match l.kind.as_deref() {
                // Image and shape layers name their kind: "conv2d
                // 4 relu", "max_pool2d 4" (units are channels).
                Some(k) if k != "dense" => match l.activation {
                    Activation::Linear => format!("{k} {}", l.units),
                    a => format!("{k} {} {a}", l.units),
                },
                _ => format!("{} {}", l.units, l.activation),
            }))
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::engine::activation::Activation;

    /// A small unhealthy summary for renderer tests (values are made up;
    /// nothing here is checked against a computation).
    pub(crate) fn example() -> Summary {
        let layer = |layer, units, fan_in, activation| LayerInfo {
            kind: None,
            layer,
            units,
            fan_in,
            activation,
        };
        Summary {
            schema_version: SCHEMA_VERSION,
            tool: "nn-doctor".into(),
            tool_version: "0.0.0".into(),
            run_format: 1,
            name: "example <&>".into(),
            config: "example.toml".into(),
            config_digest: Some(digest(b"")),
            config_path: None,
            seed: Some(7),
            thresholds: crate::diagnose::Thresholds::default(),
            verdict: Verdict::Unhealthy,
            exit_code: 1,
            fail_on: "error".into(),
            steps_run: 10,
            steps_planned: 10,
            stopped_early: false,
            interrupted: false,
            stop_reason: None,
            final_: Final {
                loss: Some(0.9),
                train_accuracy: Some(0.1),
                test_accuracy: None,
                test_loss: None,
                fit: FinalFit::default(),
            },
            diagnoses: vec![Diagnosis::new(
                crate::diagnose::Code::VanishingGradients,
                Severity::Error,
                "Layer 1 receives a tiny gradient.",
            )
            .at(Some(1), Some(1))
            .with("ratio_to_output_layer_median", 1e-11)
            .suggest("Use relu.")],
            nan_origin: None,
            gradcheck: None,
            data: DataSummary {
                description: "synthetic".into(),
                train_samples: 10,
                test_samples: 0,
                features: 4,
                classes: 2,
            },
            network: NetworkSummary {
                dtype: DType::F64,
                layers: vec![
                    layer(1, 8, 4, Activation::Sigmoid),
                    layer(2, 2, 8, Activation::Softmax),
                ],
                parameters: 58,
                loss: LossKind::Mse,
                optimizer: OptimizerConfig::Momentum { momentum: 0.9 },
                learning_rate: 0.1,
                weight_decay: 0.0,
                huber_delta: None,
                batch_size: 5,
                names: Vec::new(),
            },
            preflight: crate::diagnose::testing::preflight(LossKind::Mse, Vec::new()),
            timing: Timing {
                seconds: 1.0,
                samples_per_second: 50.0,
            },
            files: crate::report::REPORT_FILES
                .iter()
                .map(|f| f.to_string())
                .collect(),
            fixes: Vec::new(),
            headline_fix: None,
            confusion: None,
            skipped: Vec::new(),
        }
    }

    #[test]
    fn text_names_are_human_readable() {
        let md = crate::report::markdown::render(&example());
        for name in ["momentum 0.9", "MSE", "f64"] {
            assert!(md.contains(name), "{name} missing");
        }
        for debug in ["Momentum {", "Mse", "F64", "first seen -"] {
            assert!(!md.contains(debug), "{debug} leaked");
        }
    }

    #[test]
    fn digest_matches_the_sha256_test_vector() {
        // FIPS 180-2, appendix B.1: SHA-256("abc").
        assert_eq!(
            super::digest(b"abc"),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}

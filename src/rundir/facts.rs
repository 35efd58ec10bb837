//! The run facts of summary.json that `diagnose` reads: the network's
//! layers, the loss and optimizer, the data and the pre-flight facts. A
//! trainer other than nn-doctor writes only these keys; nn-doctor's own
//! summary.json holds them among its results. Everything except
//! `run_format` and `network.layers` may be left out, and each rule that
//! needs a missing fact is then listed as skipped.

use super::error::RunDirError;
use crate::config::{DType, LossKind, OptimizerConfig};
use crate::diagnose::preflight::{InitStats, InputStats};
use crate::diagnose::Skipped;
use crate::engine::activation::Activation;
use crate::monitor::nonfinite::NanOrigin;
use crate::monitor::record::LayerInfo;
use crate::report::summary::{DataSummary, Final, LayerName, Timing};
use serde::Deserialize;
use std::path::Path;

pub use crate::report::summary::RUN_FORMAT;

/// summary.json as the run format defines it.
#[derive(Debug, Clone, Deserialize)]
pub struct RunFacts {
    pub run_format: u32,
    pub name: Option<String>,
    /// What produced the run ("nn-doctor check", "nn_doctor_torch 1").
    pub producer: Option<String>,
    pub steps_planned: Option<usize>,
    pub stop_reason: Option<String>,
    #[serde(rename = "final")]
    pub final_: Option<Final>,
    /// Present (even as null) when the trainer watched for non-finite
    /// values: null then means "none happened", absent means "not watched".
    #[serde(default, deserialize_with = "present")]
    pub nan_origin: Option<Option<NanOrigin>>,
    pub gradcheck: Option<serde_json::Value>,
    pub data: Option<DataSummary>,
    pub network: NetworkFacts,
    pub preflight: Option<PreflightFacts>,
    pub timing: Option<Timing>,
    /// Rules an earlier `diagnose` skipped: their placeholder inputs in this
    /// summary must not be read as recorded facts, so they stay skipped.
    #[serde(default)]
    pub skipped: Vec<Skipped>,
    /// Carried over from a `check` run's summary, when present.
    pub config: Option<String>,
    pub seed: Option<u64>,
    pub config_digest: Option<String>,
    pub thresholds: Option<crate::diagnose::Thresholds>,
    #[serde(default)]
    pub interrupted: bool,
    pub confusion: Option<crate::monitor::confusion::Confusion>,
    /// The recording this summary belongs to; when present, metrics.csv and
    /// loss.csv must carry the same `# run_id=` line (a recorder that
    /// streams its rows writes it), so two runs' files are never mixed.
    pub run_id: Option<String>,
    /// False while a streaming recorder is still writing (or crashed before
    /// closing); absent means a run written whole (complete).
    pub complete: Option<bool>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct NetworkFacts {
    pub dtype: Option<DType>,
    pub layers: Vec<LayerFacts>,
    pub loss: Option<LossKind>,
    pub optimizer: Option<OptimizerConfig>,
    pub learning_rate: Option<f64>,
    pub batch_size: Option<usize>,
    pub parameters: Option<usize>,
    /// Names as nn-doctor's own summary.json keeps them (`diagnose` output).
    #[serde(default)]
    pub names: Vec<LayerName>,
    #[serde(default)]
    pub weight_decay: f64,
    pub huber_delta: Option<f64>,
    /// What the loss takes from the network's last layer: "logits" (it
    /// applies its own softmax, as `nn.CrossEntropyLoss` does) or
    /// "probabilities" (nn-doctor's and Keras' default); absent: taken from
    /// the producer (the PyTorch recorder's `cross_entropy` is
    /// `nn.CrossEntropyLoss`), else probabilities.
    #[serde(default)]
    pub loss_input: Option<LossInput>,
}

/// What a loss takes from the network's last layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LossInput {
    /// Raw scores; the loss applies its own (log-)softmax or sigmoid.
    Logits,
    /// Probabilities (the output layer applies softmax or sigmoid).
    Probabilities,
}

/// One layer: a module with parameters and the activation after it.
#[derive(Debug, Clone, Deserialize)]
pub struct LayerFacts {
    pub layer: usize,
    pub units: usize,
    pub fan_in: usize,
    pub activation: Activation,
    /// "dense" (default), "conv2d", "lstm", "residual", ...
    pub kind: Option<String>,
    /// The trainer's own name for it, e.g. PyTorch's "features.3".
    pub name: Option<String>,
}

/// Facts known before step 1 (all optional).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PreflightFacts {
    pub input: Option<InputStats>,
    pub layers: Option<Vec<InitStats>>,
    pub classes: Option<usize>,
    pub expected_initial_loss: Option<f64>,
    pub chance_accuracy: Option<f64>,
    pub test_samples: Option<usize>,
    pub batch_size: Option<usize>,
    pub class_counts: Option<Vec<usize>>,
    pub test_class_counts: Option<Vec<usize>>,
    /// Regression / multilabel facts (absent: classification).
    pub task: Option<crate::diagnose::preflight::TaskFacts>,
    /// Dropout layers as (layer, rate) (absent: none).
    pub dropout: Option<Vec<(usize, f64)>>,
    /// Whether the loss takes logits (a re-read nn-doctor summary).
    #[serde(default)]
    pub loss_takes_logits: Option<bool>,
}

/// The largest summary.json read (a real one is a few hundred kilobytes).
pub const MAX_SUMMARY_BYTES: u64 = 64 << 20;

/// The most layers a run directory may list (time and plots stay bounded).
pub const MAX_LAYERS: usize = 20_000;

/// summary.json's text: a regular file of at most [`MAX_SUMMARY_BYTES`],
/// UTF-8 (a FIFO, a device or a huge file is refused before reading).
pub fn read_summary_text(path: &Path) -> Result<String, RunDirError> {
    let io = |source| RunDirError::Io {
        path: path.to_path_buf(),
        source,
    };
    let bytes = crate::input::read_bounded(path, MAX_SUMMARY_BYTES).map_err(io)?;
    String::from_utf8(bytes).map_err(|_| {
        io(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "not UTF-8 text",
        ))
    })
}

fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<NanOrigin>>, D::Error> {
    Ok(Some(Option::deserialize(d)?))
}

impl RunFacts {
    /// Reads and checks summary.json.
    pub fn read(path: &Path) -> Result<RunFacts, RunDirError> {
        Self::parse(path, &read_summary_text(path)?)
    }

    fn parse(path: &Path, text: &str) -> Result<RunFacts, RunDirError> {
        let facts: RunFacts =
            serde_json::from_str(text).map_err(|e| RunDirError::json(path, &e))?;
        if facts.run_format != RUN_FORMAT {
            return Err(RunDirError::format(
                path,
                format!(
                    "`run_format`: this nn-doctor reads run format {RUN_FORMAT}, found {}",
                    facts.run_format
                ),
            ));
        }
        facts.check_layers(path)?;
        Ok(facts)
    }

    /// Reads summary.json once: the run facts (checked as [`RunFacts::read`]
    /// does) and, when it holds a `verdict`, the whole summary of a
    /// diagnosed run (None: not diagnosed yet).
    pub fn read_diagnosed(
        path: &Path,
    ) -> Result<(RunFacts, Option<crate::report::summary::Summary>), RunDirError> {
        let text = read_summary_text(path)?;
        let facts = Self::parse(path, &text)?;
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| RunDirError::json(path, &e))?;
        if value.get("verdict").is_none() {
            return Ok((facts, None));
        }
        let summary =
            serde_json::from_value(value).map_err(|e| RunDirError::format(path, e.to_string()))?;
        Ok((facts, Some(summary)))
    }

    /// Layers must be numbered 1, 2, ... in order, each with units >= 1.
    fn check_layers(&self, path: &Path) -> Result<(), RunDirError> {
        if self.network.layers.is_empty() {
            return Err(RunDirError::format(
                path,
                "`network.layers`: expected at least one layer, found none",
            ));
        }
        if self.network.layers.len() > MAX_LAYERS {
            return Err(RunDirError::format(
                path,
                format!(
                    "`network.layers`: {} layers; this nn-doctor reads at most {MAX_LAYERS}",
                    self.network.layers.len()
                ),
            ));
        }
        for (i, l) in self.network.layers.iter().enumerate() {
            if l.layer != i + 1 {
                return Err(RunDirError::format(
                    path,
                    format!("`network.layers[{i}].layer`: expected {}, found {} (layers are numbered 1, 2, ... in order)", i + 1, l.layer),
                ));
            }
            if l.units == 0 || l.fan_in == 0 {
                return Err(RunDirError::format(
                    path,
                    format!("`network.layers[{i}]`: units and fan_in must be at least 1"),
                ));
            }
        }
        Ok(())
    }

    /// The layers as the recording describes them.
    pub fn layer_infos(&self) -> Vec<LayerInfo> {
        self.network
            .layers
            .iter()
            .map(|l| LayerInfo {
                kind: l.kind.clone(),
                layer: l.layer,
                units: l.units,
                fan_in: l.fan_in,
                activation: l.activation,
            })
            .collect()
    }

    /// The trainer's layer names, from the layers or `network.names`.
    pub fn layer_names(&self) -> Vec<LayerName> {
        let inline = self.network.layers.iter().filter_map(|l| {
            Some(LayerName {
                layer: l.layer,
                name: l.name.clone()?,
                kind: l.kind.clone(),
            })
        });
        inline.chain(self.network.names.iter().cloned()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(json: &str) -> Result<RunFacts, RunDirError> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("summary.json");
        std::fs::write(&p, json).unwrap();
        RunFacts::read(&p)
    }

    const MINIMAL: &str = r#"{"run_format": 1, "network": {"layers": [
        {"layer": 1, "units": 4, "fan_in": 2, "activation": "relu", "kind": "dense", "name": "fc1"}]}}"#;

    #[test]
    fn minimal_facts_read_and_nan_tracing_defaults_to_unknown() {
        let f = read(MINIMAL).unwrap();
        assert_eq!(f.layer_infos()[0].activation, Activation::Relu);
        assert!(f.nan_origin.is_none());
        let names = f.layer_names();
        assert_eq!(
            (names[0].name.as_str(), names[0].kind.as_deref()),
            ("fc1", Some("dense"))
        );
        let traced = MINIMAL.replacen('{', "{\"nan_origin\": null, ", 1);
        assert_eq!(read(&traced).unwrap().nan_origin, Some(None));
    }

    #[test]
    fn wrong_version_and_bad_json_name_the_place() {
        let e = read(&MINIMAL.replace("\"run_format\": 1", "\"run_format\": 7")).unwrap_err();
        assert!(e.to_string().contains("found 7"), "{e}");
        let e = read("{\"run_format\": 1,\n \"network\": {\"layers\": 3}}").unwrap_err();
        assert!(e.to_string().contains("summary.json:2:"), "{e}");
        let e = read(&MINIMAL.replace("\"layer\": 1", "\"layer\": 2")).unwrap_err();
        assert!(e.to_string().contains("network.layers[0].layer"), "{e}");
    }
}

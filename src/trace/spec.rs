//! `trace.toml`: the declared conventions of a dumped step and the files
//! that hold its tensors. The conventions are the contract: the reference is
//! converted to them before any comparison, so a trace that silently uses
//! another convention shows up as a finding. Unknown keys are errors (a
//! misspelt `grad_wieght` must not silently skip a check).

use super::error::TraceError;
use crate::config::locate::line_col;
use crate::config::LossKind;
use crate::engine::activation::Activation;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// How weight matrices are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Layout {
    /// weight[j][i] connects input i to unit j: [units, fan_in] (PyTorch).
    OutIn,
    /// y = x . W: [fan_in, units] (NumPy `x @ W`, hmatrix, the engine).
    InOut,
}

impl Layout {
    pub fn name(self) -> &'static str {
        match self {
            Layout::OutIn => "out_in",
            Layout::InOut => "in_out",
        }
    }
    pub fn other(self) -> Layout {
        match self {
            Layout::OutIn => Layout::InOut,
            Layout::InOut => Layout::OutIn,
        }
    }
}

/// How the loss combines the samples of the batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reduction {
    #[default]
    Mean,
    Sum,
}

/// The precision the implementation computed in (sets the tolerances).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Precision {
    F32,
    F64,
}

/// The whole `trace.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TraceSpec {
    pub loss: LossKind,
    #[serde(default)]
    pub reduction: Reduction,
    /// MSE only (ignored for cross-entropy); default true.
    pub mse_half: Option<bool>,
    pub weight_layout: Layout,
    pub input: String,
    pub target: String,
    pub loss_value: Option<f64>,
    /// Optional: "f32" or "f64". Default: f32 when any `.npy` file is
    /// float32, or when every CSV input and parameter is exactly a float32.
    pub precision: Option<Precision>,
    pub layers: Vec<LayerSpec>,
}

/// One `[[layers]]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayerSpec {
    pub activation: Activation,
    pub weight: String,
    pub bias: String,
    pub pre_activation: Option<String>,
    pub output: Option<String>,
    pub delta: Option<String>,
    pub grad_weight: Option<String>,
    pub grad_bias: Option<String>,
}

impl TraceSpec {
    /// Reads and validates `path`; errors name the file and line.
    pub fn read(path: &Path) -> Result<Self, TraceError> {
        let bytes = crate::input::read_bounded(path, crate::input::MAX_TEXT_FILE)
            .map_err(|e| TraceError::file(path, format!("cannot read: {e}")))?;
        let text = String::from_utf8(bytes)
            .map_err(|_| TraceError::file(path, "cannot read: not UTF-8 text"))?;
        Self::parse(path, &text)
    }

    /// Parses and validates the text of a trace.toml read from `path` (the
    /// path only names the file in errors).
    pub fn parse(path: &Path, text: &str) -> Result<Self, TraceError> {
        let spec: TraceSpec = toml::from_str(text).map_err(|e| {
            let at = e
                .span()
                .map(|s| {
                    let (line, col) = line_col(text, s.start);
                    format!("line {line}, column {col}: ")
                })
                .unwrap_or_default();
            TraceError::file(path, format!("{at}{}", e.message().trim()))
        })?;
        spec.validate().map_err(|m| TraceError::file(path, m))?;
        Ok(spec)
    }

    fn validate(&self) -> Result<(), String> {
        if self.layers.is_empty() {
            return Err("no [[layers]]: a trace needs at least one layer".into());
        }
        let last = self.layers.len() - 1;
        if let Some(i) = self.layers[..last]
            .iter()
            .position(|l| l.activation == Activation::Softmax)
        {
            return Err(format!(
                "layers[{}]: softmax is only supported on the last layer",
                i + 1
            ));
        }
        Ok(())
    }

    /// Whether the declared MSE carries the 1/2.
    pub fn mse_half(&self) -> bool {
        self.mse_half.unwrap_or(true)
    }
}

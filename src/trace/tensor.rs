//! A tensor as read from a trace file, before we know what it should be:
//! its shape (1-D to 4-D, row-major values), its stored type, and the
//! coercions to the shape a trace slot expects (a vector may arrive as one
//! row or one column, as the format allows).

use super::csvtext;
use super::error::TraceError;
use super::npy;
use ndarray::{Array1, Array2};
use std::path::Path;

/// The most dimensions a trace tensor may have ([N, C, H, W]).
pub const MAX_DIMS: usize = 4;

/// How the values were stored; f32 storage loosens the tolerances.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dtype {
    F32,
    F64,
    Int,
    /// CSV text: precision unknown until the values are inspected.
    Text,
}

/// A 1-D to 4-D array of values in row-major order (version 1 slots take
/// 1-D or 2-D; version 2 activations and conv weights up to 4-D).
#[derive(Debug, Clone, PartialEq)]
pub struct RawTensor {
    pub shape: Vec<usize>,
    pub data: Vec<f64>,
    pub dtype: Dtype,
}

impl RawTensor {
    pub fn new(shape: Vec<usize>, data: Vec<f64>, dtype: Dtype) -> Result<Self, String> {
        if shape.is_empty() || shape.len() > MAX_DIMS {
            return Err(format!(
                "has {} dimensions (shape {shape:?}); expected a 1-D to {MAX_DIMS}-D array",
                shape.len()
            ));
        }
        Ok(RawTensor { shape, data, dtype })
    }

    /// The tensor as a [rows, cols] matrix, if it has exactly that shape.
    pub fn matrix(&self, rows: usize, cols: usize) -> Option<Array2<f64>> {
        (self.shape == [rows, cols])
            .then(|| Array2::from_shape_vec((rows, cols), self.data.clone()).ok())
            .flatten()
    }

    /// The tensor as [shape[0], product of the other dimensions] rows: a
    /// [N, C, H, W] activation as the engine's [N, C*H*W] (C order).
    pub fn rows(&self) -> Option<Array2<f64>> {
        let r = *self.shape.first()?;
        let c: usize = self.shape.iter().skip(1).product();
        Array2::from_shape_vec(
            (r, if self.shape.len() == 1 { 1 } else { c }),
            self.data.clone(),
        )
        .ok()
    }

    /// The tensor as a vector of `n` values: 1-D, one row or one column.
    pub fn vector(&self, n: usize) -> Option<Array1<f64>> {
        let fits = match self.shape[..] {
            [len] => len == n,
            [r, c] => (r == 1 && c == n) || (c == 1 && r == n),
            _ => false,
        };
        fits.then(|| Array1::from(self.data.clone()))
    }

    /// The vector length if the tensor is 1-D, one row or one column.
    pub fn vector_len(&self) -> Option<usize> {
        match self.shape[..] {
            [len] => Some(len),
            [1, c] => Some(c),
            [r, 1] => Some(r),
            _ => None,
        }
    }
}

/// Reads `dir/rel` as `.npy` or `.csv` (by extension).
pub fn read(dir: &Path, rel: &str) -> Result<RawTensor, TraceError> {
    let path = dir.join(rel);
    // A trace names files inside its own directory; anything else (an
    // absolute path, `..`) could make verify-trace read and quote any file.
    let inside = Path::new(rel)
        .components()
        .all(|c| matches!(c, std::path::Component::Normal(_)));
    if !inside || rel.is_empty() {
        return Err(TraceError::file(
            &path,
            "tensor files must be relative paths inside the trace directory (no absolute paths, no `..`)",
        ));
    }
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    if !matches!(ext.as_deref(), Some("npy" | "csv")) {
        return Err(TraceError::file(
            &path,
            "unknown tensor file type; expected .npy or .csv",
        ));
    }
    let bytes = crate::input::read_bounded(&path, crate::input::MAX_TRACE_FILE)
        .map_err(|e| TraceError::file(&path, format!("cannot read: {e}")))?;
    match ext.as_deref() {
        Some("npy") => npy::parse(&path, &bytes),
        Some("csv") => csvtext::parse(&path, &bytes),
        _ => Err(TraceError::file(
            &path,
            "unknown tensor file type; expected .npy or .csv",
        )),
    }
}

/// "[4, 5]" for messages.
pub fn shape_label(shape: &[usize]) -> String {
    let dims: Vec<String> = shape.iter().map(usize::to_string).collect();
    format!("[{}]", dims.join(", "))
}

/// Which tensor of a trace, in the order of the computation within a layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TensorKind {
    Weight,
    PreActivation,
    Output,
    LossValue,
    Delta,
    GradWeight,
    GradBias,
    /// Version 2: dL/d(layer input), what the layer sends down.
    GradInput,
}

impl TensorKind {
    /// The trace.toml key.
    pub fn name(self) -> &'static str {
        match self {
            TensorKind::Weight => "weight",
            TensorKind::PreActivation => "pre_activation",
            TensorKind::Output => "output",
            TensorKind::LossValue => "loss_value",
            TensorKind::Delta => "delta",
            TensorKind::GradWeight => "grad_weight",
            TensorKind::GradBias => "grad_bias",
            TensorKind::GradInput => "grad_input",
        }
    }

    /// Forward tensors (non-finite ones there are `non-finite-forward`).
    pub fn is_forward(self) -> bool {
        matches!(
            self,
            TensorKind::Weight
                | TensorKind::PreActivation
                | TensorKind::Output
                | TensorKind::LossValue
        )
    }
}

/// "layer 2 delta", or "loss_value".
pub fn tensor_label(layer: Option<usize>, kind: TensorKind) -> String {
    match layer {
        Some(l) => format!("layer {l} {}", kind.name()),
        None => kind.name().to_string(),
    }
}

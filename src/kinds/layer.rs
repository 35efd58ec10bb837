//! The layer kinds a config can name (`kind = "conv2d"`, ...) with their
//! settings, as plain data, and the per-sample shape a layer reads and
//! writes. The engine implements them (`engine::layers`); keeping the enum
//! here lets the config describe a layer without depending on the engine.

use serde::{Deserialize, Serialize};

/// How a convolution pads its input: `valid` (none), `same` (output as large
/// as the input at stride 1; the odd pixel goes right/bottom, as PyTorch's
/// `padding="same"`), or `n` zeros on every side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Padding {
    Valid,
    Same,
    Zeros(usize),
}

/// Max or average pooling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PoolKind {
    Max,
    Avg,
}

/// What a layer is, with the settings of its kind.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LayerKind {
    /// Fully connected; its width is the layer's `units`.
    Dense,
    /// 2-D convolution, NCHW, weight [filters, in, kh, kw].
    Conv2d {
        filters: usize,
        kernel: (usize, usize),
        stride: usize,
        padding: Padding,
    },
    /// Max or average pooling over size x size windows, no padding.
    Pool2d {
        pool: PoolKind,
        size: usize,
        stride: usize,
    },
    /// C x H x W -> C·H·W (the order PyTorch's `flatten` keeps).
    Flatten,
    /// Inverted dropout of `rate` in training, identity in evaluation.
    Dropout { rate: f64 },
    /// Batch normalisation per feature (flat) or per channel (image).
    BatchNorm { momentum: f64, eps: f64 },
    /// A standalone activation (the layer's `activation`).
    Activation,
}

impl LayerKind {
    /// The kinds' names, as configs spell them.
    pub const NAMES: [&'static str; 8] = [
        "dense",
        "conv2d",
        "max_pool2d",
        "avg_pool2d",
        "flatten",
        "dropout",
        "batch_norm",
        "activation",
    ];

    /// The name a config uses for this kind.
    pub fn name(&self) -> &'static str {
        match self {
            LayerKind::Dense => "dense",
            LayerKind::Conv2d { .. } => "conv2d",
            LayerKind::Pool2d {
                pool: PoolKind::Max,
                ..
            } => "max_pool2d",
            LayerKind::Pool2d {
                pool: PoolKind::Avg,
                ..
            } => "avg_pool2d",
            LayerKind::Flatten => "flatten",
            LayerKind::Dropout { .. } => "dropout",
            LayerKind::BatchNorm { .. } => "batch_norm",
            LayerKind::Activation => "activation",
        }
    }
}

impl std::fmt::Display for LayerKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The shape of one sample: a flat vector of features, or an image of
/// channels x height x width stored row-major channel-first (NCHW, as
/// PyTorch's `x.reshape(N, -1)` lays it out) in one row of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Shape {
    Flat(usize),
    Image { c: usize, h: usize, w: usize },
}

impl Shape {
    /// Values per sample.
    pub fn width(self) -> usize {
        match self {
            Shape::Flat(n) => n,
            Shape::Image { c, h, w } => c.saturating_mul(h).saturating_mul(w),
        }
    }

    /// Channels (features for a flat shape): the "units" recorders count.
    pub fn channels(self) -> usize {
        match self {
            Shape::Flat(n) => n,
            Shape::Image { c, .. } => c,
        }
    }

    /// Positions per channel (1 for a flat shape).
    pub fn positions(self) -> usize {
        match self {
            Shape::Flat(_) => 1,
            Shape::Image { h, w, .. } => h.saturating_mul(w),
        }
    }
}

impl std::fmt::Display for Shape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Shape::Flat(n) => write!(f, "{n}"),
            Shape::Image { c, h, w } => write!(f, "{c}x{h}x{w}"),
        }
    }
}

impl From<usize> for Shape {
    /// A bare width is a flat sample.
    fn from(n: usize) -> Self {
        Shape::Flat(n)
    }
}

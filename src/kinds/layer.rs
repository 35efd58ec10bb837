//! The per-sample shape a layer reads and writes, which data, config,
//! engine and reports all name. The layer kinds themselves (their settings
//! and code) live in `engine::layers`, one file each.

use serde::{Deserialize, Serialize};

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

//! Per-step state of one layer, kept in the training workspace rather than
//! in the layer so that forward stays `&self` and one network can run
//! several passes at once (training, a gradient check's probe). Only the
//! kinds that need state fill their fields; the rest leave them empty.

use crate::engine::float::Float;
use ndarray::{Array1, Array2};
use std::sync::{Mutex, PoisonError};

/// What a layer's forward pass leaves for its backward pass and for the
/// update phase.
#[derive(Debug, Clone, PartialEq)]
pub struct Cache<F> {
    /// Seed of this step's random draws for this layer (dropout's mask);
    /// the training loop derives it from (seed, step, layer).
    pub seed: u64,
    /// Dropout: the mask applied, already scaled (0 or 1/(1 - rate)).
    pub mask: Array2<F>,
    /// Dropout: use `mask` as given instead of drawing one (a gradient
    /// check holds the mask fixed between its perturbed passes).
    pub fixed_mask: bool,
    /// Whether the last forward pass ran in training mode.
    pub train: bool,
    /// Batch norm: the batch mean and biased variance per channel, and
    /// 1/sqrt(var + eps) of the statistics used for normalising.
    pub mean: Array1<F>,
    pub var: Array1<F>,
    pub inv_std: Array1<F>,
    /// Batch norm: values per channel the statistics were taken over
    /// (batch x positions).
    pub count: usize,
    /// Batch norm: the normalised input x_hat, [batch, width].
    pub xhat: Array2<F>,
    /// Max pooling: for each output value, the flat index (within the
    /// sample's row) of the input it took, so the gradient goes there.
    pub argmax: Vec<usize>,
    /// Convolution: buffers for columns, reused from step to step instead
    /// of allocated (and zeroed) for every product.
    pub scratch: Scratch<F>,
}

/// A pool of buffers the parts of a kernel running on several threads take
/// and give back. Only a workspace: what a buffer holds between uses means
/// nothing, so a copy starts empty and any two compare equal.
pub struct Scratch<F>(Mutex<Vec<Vec<F>>>);

impl<F: Float> Scratch<F> {
    /// A buffer of at least `len` values (their contents are left over from
    /// earlier uses: the caller writes before it reads).
    pub fn take(&self, len: usize) -> Vec<F> {
        let mut buf = self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop()
            .unwrap_or_default();
        if buf.len() < len {
            buf.resize(len, F::zero());
        }
        buf
    }

    /// Returns a buffer for later [`Scratch::take`]s.
    pub fn give(&self, buf: Vec<F>) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(buf);
    }
}

impl<F> Clone for Scratch<F> {
    fn clone(&self) -> Self {
        Scratch(Mutex::new(Vec::new()))
    }
}

impl<F> PartialEq for Scratch<F> {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl<F> std::fmt::Debug for Scratch<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Scratch")
    }
}

impl<F: Float> Cache<F> {
    /// An empty cache.
    pub fn new() -> Self {
        Cache {
            seed: 0,
            mask: Array2::zeros((0, 0)),
            fixed_mask: false,
            train: false,
            mean: Array1::zeros(0),
            var: Array1::zeros(0),
            inv_std: Array1::zeros(0),
            count: 0,
            xhat: Array2::zeros((0, 0)),
            argmax: Vec::new(),
            scratch: Scratch(Mutex::new(Vec::new())),
        }
    }

    /// Holds `mask` (scaled: 0 or 1/(1 - rate)) fixed for the following
    /// forward passes of a dropout layer.
    pub fn fix_mask(&mut self, mask: Array2<F>) {
        self.mask = mask;
        self.fixed_mask = true;
    }
}

impl<F: Float> Default for Cache<F> {
    fn default() -> Self {
        Self::new()
    }
}

//! Per-step state of one layer, kept in the training workspace rather than
//! in the layer so that forward stays `&self` and one network can run
//! several passes at once (training, a gradient check's probe). What is
//! kind-specific (dropout's mask, batch norm's batch statistics, max
//! pooling's selection, a convolution's buffers) is the kind's own typed
//! state ([`super::Kind::State`], defined in the kind's file) inside
//! [`KindState`]; the cache itself only holds what every kind may use.

use super::registry::KindState;
use crate::engine::float::Float;
use ndarray::Array2;

/// What a layer's forward pass leaves for its backward pass and for the
/// update phase.
#[derive(Debug, Clone, PartialEq)]
pub struct Cache<F: Float> {
    /// Seed of this step's random draws for this layer (dropout's mask);
    /// the training loop derives it from (seed, step, layer).
    pub seed: u64,
    /// Whether the last forward pass ran in training mode.
    pub train: bool,
    /// A random draw given from outside and used instead of drawing (a
    /// gradient check or a trace holds dropout's mask fixed between its
    /// passes); a kind that draws uses it when its shape fits.
    pub held: Option<Array2<F>>,
    /// The kind's typed state, made the kind's on its first forward pass.
    pub state: KindState<F>,
}

impl<F: Float> Cache<F> {
    /// An empty cache.
    pub fn new() -> Self {
        Cache {
            seed: 0,
            train: false,
            held: None,
            state: KindState::Empty,
        }
    }

    /// Holds `draw` (dropout: the mask, scaled 0 or 1/(1 - rate)) fixed
    /// for the following forward passes.
    pub fn hold(&mut self, draw: Array2<F>) {
        self.held = Some(draw);
    }
}

impl<F: Float> Default for Cache<F> {
    fn default() -> Self {
        Self::new()
    }
}

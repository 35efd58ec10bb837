//! What a layer kind declares besides its forward and backward passes
//! ([`super::Layer`]): the settings of its config entry ([`Settings`]: keys,
//! parsing, shapes, parameter count) and its per-step state ([`Kind`]).
//! Each kind's file implements both; `registry` lists the kinds, one line
//! each, and everything that needs "all kinds" goes through that list.

use super::{Cache, Layer, Shape};
use crate::engine::float::Float;
use crate::engine::hook::Phase;
use crate::kinds::{Activation, Init};
use rand_chacha::ChaCha8Rng;
use std::fmt::Debug;

/// Cap on a layer's units or filters (a billion): far above any real
/// network; the memory estimate (`guard`) decides what actually fits.
pub const MAX_UNITS: usize = 1_000_000_000;

/// Cap on a convolution's or pooling window's size, stride and padding
/// (far above any real image; the memory estimate decides what fits).
pub const MAX_KERNEL: usize = 4096;

/// One `[[model.layers]]` entry, validated: the kind with its own settings,
/// then what every kind may carry (`activation` after the layer, Linear
/// for the kinds that take none; `init` and `bias_init` for the kinds with
/// weights).
#[derive(Debug, Clone, PartialEq)]
pub struct LayerConfig {
    pub kind: super::KindConfig,
    /// Output units of a dense layer, filters of a convolution, else 0
    /// (the kind's [`Settings::units`], kept as a field for its readers).
    pub units: usize,
    pub activation: Activation,
    pub init: Init,
    pub bias_init: f64,
}

impl LayerConfig {
    /// An entry of kind `kind`; `units` follows from the kind.
    pub fn new(
        kind: super::KindConfig,
        activation: Activation,
        init: Init,
        bias_init: f64,
    ) -> Self {
        LayerConfig {
            units: kind.units(),
            kind,
            activation,
            init,
            bias_init,
        }
    }
}

/// A name or a count, for keys that take either (`padding = "same"` or 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameOrCount<T> {
    Name(T),
    Count(usize),
}

/// The keys of one `[[model.layers]]` entry as a kind reads them. The
/// config loader implements it over the TOML table, so every error keeps
/// its file, line, column and key path while the kind's file only says
/// which keys it takes and what they may hold. Every reader returns `None`
/// for an absent key; a required one is `ok_or_else(|| e.missing(key))`.
pub trait Entry {
    type Error;
    /// An integer in `min..=max`.
    fn count(&self, key: &str, min: usize, max: usize) -> Result<Option<usize>, Self::Error>;
    /// One size for both, or `[first, second]`, each in `min..=max`.
    fn count_pair(
        &self,
        key: &str,
        min: usize,
        max: usize,
    ) -> Result<Option<(usize, usize)>, Self::Error>;
    /// A number that `ok` accepts, else "must be {what}, found ...".
    fn number(
        &self,
        key: &str,
        ok: fn(f64) -> bool,
        what: &str,
    ) -> Result<Option<f64>, Self::Error>;
    /// One of `names`, or an integer in `0..=max`.
    fn name_or_count<T: Copy>(
        &self,
        key: &str,
        names: &[(&str, T)],
        max: usize,
    ) -> Result<Option<NameOrCount<T>>, Self::Error>;
    /// "missing required key `key`", at the entry's header.
    fn missing(&self, key: &str) -> Self::Error;
}

/// Why a layer cannot take the shape it is given.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanError {
    /// 0-based layer index.
    pub index: usize,
    /// The key the error is about ("kind", "kernel", "size", ...).
    pub key: &'static str,
    pub message: String,
}

/// Where in the stack a kind's shape is being planned, for its messages.
pub struct At {
    /// 0-based layer index.
    pub index: usize,
    /// The layer's input shape.
    pub input: Shape,
    /// What gives that input: "the data" or "layer 2 (conv2d)".
    pub from: String,
}

impl At {
    /// An error about `key` of this layer.
    pub fn error(&self, key: &'static str, message: String) -> PlanError {
        PlanError {
            index: self.index,
            key,
            message,
        }
    }

    /// The input as channels x height x width, or the error that `what`
    /// needs an image.
    pub fn image(&self, what: &str) -> Result<(usize, usize, usize), PlanError> {
        match self.input {
            Shape::Image { c, h, w } => Ok((c, h, w)),
            Shape::Flat(n) => Err(self.error(
                "kind",
                format!(
                    "{what} needs an image input (channels x height x width), but {} gives {n} flat features{}",
                    self.from,
                    if self.index == 0 {
                        "; CSV data can declare `input_shape = [C, H, W]` under [data]"
                    } else {
                        ""
                    }
                ),
            )),
        }
    }
}

/// A kind's config entry: its names, keys, parsing and what follows from
/// the settings alone (shapes, parameter count, working memory).
pub trait Settings: Copy + Debug + PartialEq {
    /// The names `kind = "..."` takes for this kind (pooling has two).
    const NAMES: &'static [&'static str];
    /// The keys its entry takes besides `kind` and the weight keys.
    const KEYS: &'static [&'static str];
    /// Whether it has weights drawn by an initialiser (so it takes
    /// `activation`, `init`, `init_low`, ..., `bias_init`).
    const WEIGHTS: bool = false;
    /// Whether it has parameters at all (recorders leave the gradient,
    /// weight and update columns of a kind without any empty).
    const PARAMS: bool = Self::WEIGHTS;
    /// Whether it normalises by batch statistics (a batch of one leaves
    /// it nothing to normalise by: `batch-norm-small-batch`).
    const BATCH_STATISTICS: bool = false;
    /// The phases its forward operation and its backward operation to the
    /// input are reported under; a kind computing z = x W + b keeps
    /// `forward.linear` and `backward.delta`.
    const PHASES: (Phase, Phase) = (Phase::ForwardLinear, Phase::BackwardDelta);

    /// The settings of an entry of kind `name` (one of [`Self::NAMES`]).
    fn parse<E: Entry>(name: &str, entry: &E) -> Result<Self, E::Error>;
    /// The name a config uses for these settings.
    fn name(&self) -> &'static str;
    /// Output units (dense) or filters (conv2d); 0 for the other kinds.
    fn units(&self) -> usize {
        0
    }
    /// The output shape for the input `at.input`, or why it does not fit.
    fn output_shape(&self, at: &At) -> Result<Shape, PlanError>;
    /// Scalar parameters on samples of shape `input`.
    fn param_count(&self, _input: Shape) -> usize {
        0
    }
    /// Extra values per sample its passes hold at once besides outputs.
    /// The share of units a training pass drops (dropout's `rate`).
    fn drop_rate(&self) -> Option<f64> {
        None
    }
    fn scratch_per_sample(&self, _input: Shape, _output: Shape) -> usize {
        0
    }
}

/// What the training loop asks of a kind beyond [`Layer`]: its typed
/// per-step state and how it is built from its settings.
pub trait Kind<F: Float>: Layer<F> + Sized {
    /// The kind's settings.
    type Config: Settings;
    /// What a forward pass leaves for the backward pass and the update
    /// phase (`()` for none); kept in the step's [`Cache`], reused from
    /// step to step.
    type State: Debug + Clone + PartialEq + Default + Send + Sync;
    /// The layer `config` describes on samples of shape `input` (shapes
    /// were planned before), weights drawn from `rng`.
    fn build(
        config: &Self::Config,
        input: Shape,
        layer: &LayerConfig,
        rng: &mut ChaCha8Rng,
    ) -> Self;
}

/// The typed state of a kind inside a [`Cache`] (implemented by the
/// registry for every kind).
pub trait Stateful<F: Float>: Kind<F> {
    /// The state, if the cache holds this kind's.
    fn state(cache: &Cache<F>) -> Option<&Self::State>;
    /// The state, made this kind's (empty) if the cache held none or
    /// another kind's; a cache serves one layer, so that happens once.
    fn state_mut(cache: &mut Cache<F>) -> &mut Self::State;
}

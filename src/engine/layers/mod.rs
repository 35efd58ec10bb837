//! Layers behind one trait, one file per layer kind (as candle-nn keeps one
//! file per module, and burn keeps `XConfig` beside `X`). The training
//! loop, evaluation (`Network::predict`), the gradient-check probe and the
//! trace recompute all run a layer through these methods, so each kind has
//! exactly one forward and one backward implementation.
//!
//! A new kind is its file here plus one line in `registry.rs`'s `kinds!`
//! list (and a `pub mod` line below). The file holds:
//! - its settings type implementing [`Settings`]: the names `kind = "..."`
//!   takes, its keys, how it reads them ([`Entry`], so config errors keep
//!   file:line:col), its output shape and checks on the input shape,
//!   parameter count, working memory, whether it has parameters or batch
//!   statistics, and the phase names reports use for its operations;
//! - its layer type implementing [`Layer`] (forward, backward, named
//!   parameters, and the hooks gradient checks and recorders ask:
//!   `selection` for a kink, `draw` for a random mask to hold fixed,
//!   `per_batch`, `step_drift`, `drop_rate`) and [`Kind`] (its typed
//!   per-step state, kept in the [`Cache`], and how it is built), plus a
//!   `cast` method (to another precision).
//!
//! Config validation, the network builder, the trace builder, recorders and
//! diagnoses reach kinds only through the registry and these traits;
//! `tests/module_graph.rs` checks that no other file names a concrete kind.
//!
//! A layer's forward is two operations, pre-activation then activation,
//! because recorders and the non-finite tracer look at both (they are the
//! statistics a layer exposes). Its backward is three: through the
//! activation (dL/da -> dL/dz, a per-row Jacobian-vector product for
//! softmax), to the input (dL/dz -> dL/dx, what the layer below receives)
//! and to its parameters. Parameters are a list of named tensors
//! ("weight", "bias", ...), in a fixed order that gradient buffers follow.

pub mod activation;
pub mod batch_norm;
pub mod cache;
pub mod conv2d;
pub mod dense;
pub mod dropout;
pub mod flatten;
pub mod kind;
pub mod plan;
pub mod pool2d;
pub mod registry;
#[cfg(test)]
pub(crate) mod testing;

pub use crate::kinds::Shape;
pub use activation::ActivationLayer;
pub use batch_norm::BatchNorm;
pub use cache::Cache;
pub use conv2d::Conv2d;
pub use dense::Dense;
pub use dropout::Dropout;
pub use flatten::Flatten;
pub use kind::{Entry, Kind, LayerConfig, NameOrCount, PlanError, Settings, Stateful};
pub use pool2d::Pool2d;
pub use registry::{AnyLayer, KindConfig, KindState, KINDS};

use super::activation::Activation;
use super::float::Float;
use super::loss::output_delta;
use crate::kinds::LossKind;
use ndarray::{Array, Array1, Array2, ArrayView2, ArrayViewD, ArrayViewMutD, Dimension};

/// Whether a forward pass trains or evaluates. Dense and convolution layers
/// behave the same in both; dropout (off) and batch norm (running
/// statistics) do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Train,
    Eval,
}

/// One parameter tensor of a layer, by name.
#[derive(Debug)]
pub struct NamedParam<'a, F> {
    pub name: &'static str,
    pub value: ArrayViewD<'a, F>,
}

/// One parameter tensor of a layer, by name, writable (the optimizer's view).
#[derive(Debug)]
pub struct NamedParamMut<'a, F> {
    pub name: &'static str,
    pub value: ArrayViewMutD<'a, F>,
}

/// A layer of a network. Shapes are per sample; batches are rows, and an
/// image sample is one row read as C x H x W (see [`Shape`]). Per-step state
/// (a dropout mask, batch norm's batch statistics, max-pool's argmax) lives
/// in the [`Cache`] the caller passes, so forward stays `&self`.
pub trait Layer<F: Float> {
    /// The kind's config name ("dense", "conv2d", ...).
    fn kind(&self) -> &'static str;
    /// The shape of one input sample.
    fn input_shape(&self) -> Shape;
    /// The shape of one output sample.
    fn output_shape(&self) -> Shape;
    /// Features per sample in.
    fn input_width(&self) -> usize {
        self.input_shape().width()
    }
    /// Features per sample out.
    fn output_width(&self) -> usize {
        self.output_shape().width()
    }
    /// A unit's inputs (in·kh·kw for a convolution): what initialisation
    /// and the recorders' fan-in statistics count.
    fn fan_in(&self) -> usize {
        self.input_width()
    }
    /// Whether its forward pass couples the samples of a batch (batch
    /// statistics, a mask drawn per batch): a gradient check may then not
    /// stack two perturbed batches into one pass.
    fn per_batch(&self) -> bool {
        false
    }
    /// Whether its backward pass is a pair of GEMMs the training loop may
    /// run side by side or pipeline with its neighbours' (dense layers).
    fn fused_with_next(&self) -> bool {
        false
    }
    /// The activation applied after the pre-activation (Linear for the
    /// parameter-free kinds other than the activation layer).
    fn activation(&self) -> Activation;

    /// forward, first operation: the pre-activation of `input` into `pre`
    /// (shape [batch, output_width]); state the backward pass needs goes
    /// into `cache`.
    fn forward_pre(
        &self,
        input: ArrayView2<'_, F>,
        mode: Mode,
        cache: &mut Cache<F>,
        pre: &mut Array2<F>,
    );

    /// forward, second operation: the activation of `pre` into `act`.
    fn forward_act(&self, pre: &Array2<F>, act: &mut Array2<F>) {
        self.activation().forward(pre, act);
    }

    /// Both forward operations into new buffers: (pre, act).
    fn forward(&self, input: ArrayView2<'_, F>, mode: Mode) -> (Array2<F>, Array2<F>) {
        let mut pre = Array2::zeros((input.nrows(), self.output_width()));
        self.forward_pre(input, mode, &mut Cache::new(), &mut pre);
        let mut act = Array2::zeros(pre.raw_dim());
        self.forward_act(&pre, &mut act);
        (pre, act)
    }

    /// backward through the activation, in place: `grad` holds dL/da on
    /// entry and dL/dz on return.
    fn backward_act(&self, pre: &Array2<F>, act: &Array2<F>, grad: &mut Array2<F>) {
        self.activation().scale_by_derivative(pre, act, grad);
    }

    /// backward from the loss, for the output layer: dL/dz from the
    /// targets (the loss's gradient and the activation's Jacobian together,
    /// fused where that is exact, as for softmax with cross-entropy).
    fn output_delta(
        &self,
        loss: LossKind,
        pre: &Array2<F>,
        act: &Array2<F>,
        targets: &Array2<F>,
        out: &mut Array2<F>,
    ) {
        output_delta(loss, self.activation(), pre, act, targets, out);
    }

    /// backward to the input: dL/dx from dL/dz (`delta`) into `grad_in`,
    /// given the forward pass's `input` and `cache`.
    fn backward_input(
        &self,
        input: ArrayView2<'_, F>,
        delta: &Array2<F>,
        cache: &Cache<F>,
        grad_in: &mut Array2<F>,
    );

    /// backward to the parameters: one gradient per tensor of
    /// [`Layer::params`], in that order, from the layer's input and dL/dz
    /// (the 1/batch is already inside `delta`). Parameter-less kinds
    /// (pooling, flatten, dropout, a standalone activation) keep the
    /// defaults: nothing to compute, no tensors.
    fn backward_params(
        &self,
        _input: ArrayView2<'_, F>,
        _delta: &Array2<F>,
        _cache: &Cache<F>,
        _grads: &mut [ArrayViewMutD<'_, F>],
    ) {
    }

    /// The parameter tensors, by name, in a fixed order.
    fn params(&self) -> Vec<NamedParam<'_, F>> {
        Vec::new()
    }

    /// The same tensors, writable, in the same order.
    fn params_mut(&mut self) -> Vec<NamedParamMut<'_, F>> {
        Vec::new()
    }

    /// Number of scalar parameters.
    fn param_count(&self) -> usize {
        self.params().iter().map(|p| p.value.len()).sum()
    }

    /// Updates state that is not a parameter from a training step's cache
    /// (batch norm's running statistics); called in the update phase.
    fn update_state(&mut self, _cache: &Cache<F>) {}

    /// A per-step diagnostic of state that is not a parameter, measured
    /// before the update phase (batch norm: how far the running statistics
    /// are from the batch's); recorded as the layer's drift.
    fn step_drift(&self, _cache: &Cache<F>) -> Option<f64> {
        None
    }

    /// Which input each output took in the last forward pass, for kinds
    /// that select (max pooling): a gradient check compares it between
    /// perturbed passes, since a changed selection crossed a kink.
    fn selection<'c>(&self, _cache: &'c Cache<F>) -> &'c [usize] {
        &[]
    }

    /// The random draw the last training pass applied (dropout's scaled
    /// mask), for a gradient check or trace to hold fixed through
    /// [`Cache::hold`].
    fn draw<'c>(&self, _cache: &'c Cache<F>) -> Option<&'c Array2<F>> {
        None
    }

    /// The share of its inputs a training pass zeroes (dropout's rate),
    /// which `dropout-too-high` reads.
    fn drop_rate(&self) -> Option<f64> {
        None
    }
}

/// forward_pre of a kind whose values pass through unchanged (flatten, a
/// standalone activation): the pre-activation is a copy of the input.
pub(crate) fn pass_through_forward<F: Float>(
    input: ArrayView2<'_, F>,
    mode: Mode,
    cache: &mut Cache<F>,
    pre: &mut Array2<F>,
) {
    cache.train = mode == Mode::Train;
    pre.assign(&input);
}

/// backward_input of the same kinds: dL/dx is dL/dz.
pub(crate) fn pass_through_backward<F: Float>(delta: &Array2<F>, grad_in: &mut Array2<F>) {
    grad_in.assign(delta);
}

/// The names of a weight and bias pair, as PyTorch names them for dense,
/// convolution and batch norm (gamma and beta), so metrics.csv's weight and
/// bias columns mean the same for every kind that has them.
pub const WEIGHT_AND_BIAS: [&str; 2] = ["weight", "bias"];

/// A weight and a bias as the two named tensors of [`Layer::params`].
pub(crate) fn weight_and_bias<'a, F, D: Dimension>(
    weight: &'a Array<F, D>,
    bias: &'a Array1<F>,
) -> Vec<NamedParam<'a, F>> {
    vec![
        NamedParam {
            name: WEIGHT_AND_BIAS[0],
            value: weight.view().into_dyn(),
        },
        NamedParam {
            name: WEIGHT_AND_BIAS[1],
            value: bias.view().into_dyn(),
        },
    ]
}

/// The same pair, writable ([`Layer::params_mut`]).
pub(crate) fn weight_and_bias_mut<'a, F, D: Dimension>(
    weight: &'a mut Array<F, D>,
    bias: &'a mut Array1<F>,
) -> Vec<NamedParamMut<'a, F>> {
    vec![
        NamedParamMut {
            name: WEIGHT_AND_BIAS[0],
            value: weight.view_mut().into_dyn(),
        },
        NamedParamMut {
            name: WEIGHT_AND_BIAS[1],
            value: bias.view_mut().into_dyn(),
        },
    ]
}

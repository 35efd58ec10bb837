//! Layers behind one trait, one file per layer kind (as candle-nn keeps one
//! file per module). The training loop, evaluation (`Network::predict`),
//! the gradient-check probe and the trace recompute all run a layer through
//! these methods, so each layer kind has exactly one forward and one
//! backward implementation; a new kind is a new file here plus its config
//! entry.
//!
//! A layer's forward is two operations, pre-activation then activation,
//! because recorders and the non-finite tracer look at both (they are the
//! statistics a layer exposes). Its backward is three: through the
//! activation (dL/da -> dL/dz, a per-row Jacobian-vector product for
//! softmax), to the input (dL/dz -> dL/dx, what the layer below receives)
//! and to its parameters. Parameters are a list of named tensors
//! ("weight", "bias", ...), in a fixed order that gradient buffers follow.

pub mod dense;

pub use dense::Dense;

use super::activation::Activation;
use super::float::Float;
use super::loss::output_delta;
use crate::kinds::LossKind;
use ndarray::{Array2, ArrayView2, ArrayViewD, ArrayViewMutD};

/// Whether a forward pass trains or evaluates. Dense layers behave the same
/// in both; dropout and batch norm will not.
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

/// A layer of a network. Widths are per sample; batches are rows.
pub trait Layer<F: Float> {
    /// The kind's config name ("dense").
    fn kind(&self) -> &'static str;
    /// Features per sample in.
    fn input_width(&self) -> usize;
    /// Features per sample out.
    fn output_width(&self) -> usize;
    /// The activation applied after the pre-activation.
    fn activation(&self) -> Activation;

    /// forward, first operation: the pre-activation of `input` into `pre`
    /// (shape [batch, output_width]).
    fn forward_pre(&self, input: ArrayView2<'_, F>, mode: Mode, pre: &mut Array2<F>);

    /// forward, second operation: the activation of `pre` into `act`.
    fn forward_act(&self, pre: &Array2<F>, act: &mut Array2<F>) {
        self.activation().forward(pre, act);
    }

    /// Both forward operations into new buffers: (pre, act).
    fn forward(&self, input: ArrayView2<'_, F>, mode: Mode) -> (Array2<F>, Array2<F>) {
        let mut pre = Array2::zeros((input.nrows(), self.output_width()));
        self.forward_pre(input, mode, &mut pre);
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

    /// backward to the input: dL/dx from dL/dz (`delta`) into `grad_in`.
    fn backward_input(&self, delta: &Array2<F>, grad_in: &mut Array2<F>);

    /// backward to the parameters: one gradient per tensor of
    /// [`Layer::params`], in that order, from the layer's input and dL/dz
    /// (the 1/batch is already inside `delta`).
    fn backward_params(
        &self,
        input: ArrayView2<'_, F>,
        delta: &Array2<F>,
        grads: &mut [ArrayViewMutD<'_, F>],
    );

    /// The parameter tensors, by name, in a fixed order.
    fn params(&self) -> Vec<NamedParam<'_, F>>;

    /// The same tensors, writable, in the same order.
    fn params_mut(&mut self) -> Vec<NamedParamMut<'_, F>>;

    /// Number of scalar parameters.
    fn param_count(&self) -> usize {
        self.params().iter().map(|p| p.value.len()).sum()
    }
}

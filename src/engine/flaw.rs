//! Deliberate backprop mistakes the engine can reproduce. They exist to prove
//! that gradient checks catch real bugs: each is a transformation of the
//! correct backward pass, applied at one layer, exactly as a hand-written
//! implementation would get it wrong. `gradcheck::catalogue` names and
//! explains them; nothing in normal training ever sets one.
//!
//! A flaw is injected from outside the production code: [`Flawed`] wraps
//! one layer and implements the same [`Layer`] trait, forwarding exactly as
//! the wrapped layer and perturbing its backward result as the flaw says.
//! The backward pass itself has no branch for flaws; it is handed a layer
//! list in which one layer is the wrapper.

pub mod cnn;

use super::activation::Activation;
use super::float::Float;
use super::layers::{AnyLayer, Cache, Layer, Mode, NamedParam, NamedParamMut, Shape};
use super::loss::output_delta;
use crate::kinds::LossKind;
use ndarray::linalg::general_mat_mul;
use ndarray::{Array2, ArrayView2, ArrayViewMutD, Axis, Ix1, Ix2, Zip};
use serde::Serialize;

/// How the backward pass goes wrong.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FlawKind {
    /// Hidden delta not multiplied by f'(z).
    MissingActivationDerivative,
    /// Output delta is dL/dy, without the output activation's Jacobian.
    MissingOutputDerivative,
    /// f' evaluated at the activation a instead of the pre-activation z.
    DerivativeAtWrongPoint,
    /// dW computed as delta^T x ([units, fan_in]) and stored row-major into
    /// the [fan_in, units] buffer.
    TransposedWeightGradient,
    /// The layer's gradients have the wrong sign.
    SignFlipped,
    /// The layer's gradients are summed over the batch, not averaged.
    BatchSumNotMean,
    /// The layer's gradients are off by a constant factor.
    ConstantFactor(f64),
    /// The bias gradient sums over units instead of over samples.
    BiasGradientWrongAxis,
    /// dW built from the wrong layer's activations (or the pre-activations).
    WrongLayerInput,
    /// The delta is propagated through the next layer's weights read in the
    /// wrong layout (reshaped instead of transposed).
    WrongWeightsInBackprop,
    /// A convolutional layer kind's input gradient computed wrongly
    /// (flaw::cnn).
    Cnn(cnn::CnnMistake),
}

/// A mistake at one layer (1-based).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Flaw {
    pub kind: FlawKind,
    pub layer: usize,
}

impl Flaw {
    /// The 0-based index of the layer whose code makes the mistake. It is
    /// the flawed layer itself, except for a misread weight: layer l's delta
    /// is wrong because layer l + 1 sends its input gradient through its
    /// weights read in the wrong layout.
    fn wrapped_index(&self) -> Option<usize> {
        let l = self.layer.checked_sub(1)?;
        Some(match self.kind {
            FlawKind::WrongWeightsInBackprop => l + 1,
            _ => l,
        })
    }

    /// The decorator reproducing this flaw in `net`, with the index of the
    /// layer it stands in for (None when that layer does not exist).
    /// `act`, `pre` and `x` are the forward pass's tensors: a "wrong layer
    /// input" takes another layer's tensor, copied here.
    pub fn wrap<'a, F: Float>(
        &self,
        layers: &'a [AnyLayer<F>],
        act: &[Array2<F>],
        pre: &[Array2<F>],
        x: &Array2<F>,
    ) -> Option<(usize, Flawed<'a, F>)> {
        let index = self.wrapped_index()?;
        let inner = layers.get(index)?;
        let wrong_input = match self.kind {
            FlawKind::WrongLayerInput => {
                wrong_layer_input(index, layers, act, pre, x).map(|v| v.to_owned())
            }
            _ => None,
        };
        Some((
            index,
            Flawed {
                inner,
                kind: self.kind,
                wrong_input,
            },
        ))
    }
}

/// A layer whose backward pass makes one of the catalogue's mistakes. Its
/// forward and parameters are the wrapped layer's.
#[derive(Debug)]
pub struct Flawed<'a, F> {
    inner: &'a AnyLayer<F>,
    kind: FlawKind,
    /// The tensor a "wrong layer input" uses in place of the true input.
    wrong_input: Option<Array2<F>>,
}

impl<F: Float> Layer<F> for Flawed<'_, F> {
    fn kind(&self) -> &'static str {
        self.inner.kind()
    }

    fn input_shape(&self) -> Shape {
        self.inner.input_shape()
    }

    fn output_shape(&self) -> Shape {
        self.inner.output_shape()
    }

    fn activation(&self) -> Activation {
        self.inner.activation()
    }

    fn forward_pre(
        &self,
        input: ArrayView2<'_, F>,
        mode: Mode,
        cache: &mut Cache<F>,
        pre: &mut Array2<F>,
    ) {
        self.inner.forward_pre(input, mode, cache, pre);
    }

    /// Missing output derivative: dL/dy, without the output activation's
    /// Jacobian (the mean-reduced MSE gradient y - t).
    fn output_delta(
        &self,
        loss: LossKind,
        pre: &Array2<F>,
        act: &Array2<F>,
        targets: &Array2<F>,
        out: &mut Array2<F>,
    ) {
        if self.kind == FlawKind::MissingOutputDerivative {
            let inv_n = F::of(1.0 / targets.nrows().max(1) as f64);
            let grad_a = (act - targets) * inv_n;
            out.assign(&grad_a);
        } else {
            output_delta(loss, self.inner.activation(), pre, act, targets, out);
        }
    }

    /// Missing activation derivative: dL/da passed on as dL/dz. Derivative
    /// at the wrong point: f' evaluated at a instead of z.
    fn backward_act(&self, pre: &Array2<F>, act: &Array2<F>, grad: &mut Array2<F>) {
        let activation = self.inner.activation();
        match self.kind {
            FlawKind::MissingActivationDerivative => {}
            FlawKind::DerivativeAtWrongPoint => {
                Zip::from(grad)
                    .and(act)
                    .for_each(|d, &a| *d *= activation.derivative(a));
            }
            _ => self.inner.backward_act(pre, act, grad),
        }
    }

    /// Wrong weights in backprop: the weights read [units, fan_in] from
    /// their [fan_in, units] memory (reshaped, not transposed).
    fn backward_input(
        &self,
        input: ArrayView2<'_, F>,
        delta: &Array2<F>,
        cache: &Cache<F>,
        grad_in: &mut Array2<F>,
    ) {
        if let FlawKind::Cnn(m) = self.kind {
            if let Some(g) = cnn::flawed_input_grad(m, self.inner, input, delta, cache) {
                grad_in.assign(&g);
                return;
            }
        }
        let dense = self.inner.as_dense();
        if let (FlawKind::WrongWeightsInBackprop, Some(dense)) = (self.kind, dense) {
            let weight = &dense.weight;
            let (fan_in, units) = weight.dim();
            let flat: Vec<F> = weight.iter().copied().collect();
            let misread = Array2::from_shape_vec((units, fan_in), flat)
                .unwrap_or_else(|_| weight.t().to_owned());
            general_mat_mul(F::one(), delta, &misread, F::zero(), grad_in);
        } else {
            self.inner.backward_input(input, delta, cache, grad_in);
        }
    }

    fn backward_params(
        &self,
        input: ArrayView2<'_, F>,
        delta: &Array2<F>,
        cache: &Cache<F>,
        grads: &mut [ArrayViewMutD<'_, F>],
    ) {
        match self.kind {
            FlawKind::WrongLayerInput => {
                let wrong = self.wrong_input.as_ref().map_or(input, |w| w.view());
                self.inner.backward_params(wrong, delta, cache, grads);
            }
            FlawKind::TransposedWeightGradient => {
                // dW computed as delta^T x ([units, fan_in]) and stored
                // row-major into the [fan_in, units] buffer.
                self.inner.backward_params(input, delta, cache, grads);
                if let Some(gw) = grads.first_mut() {
                    let g = delta.t().dot(&input);
                    if let Ok(mut gw) = gw.view_mut().into_dimensionality::<Ix2>() {
                        let flat: Vec<F> = g.iter().copied().collect();
                        if let Ok(m) = Array2::from_shape_vec(gw.raw_dim(), flat) {
                            gw.assign(&m);
                        }
                    }
                }
            }
            _ => self.inner.backward_params(input, delta, cache, grads),
        }
        let scale = match self.kind {
            FlawKind::SignFlipped => Some(-1.0),
            FlawKind::BatchSumNotMean => Some(input.nrows() as f64),
            FlawKind::ConstantFactor(c) => Some(c),
            _ => None,
        };
        if let Some(c) = scale {
            let c = F::of(c);
            for g in grads.iter_mut() {
                g.mapv_inplace(|v| v * c);
            }
        }
        if self.kind == FlawKind::BiasGradientWrongAxis {
            // Sums over units (axis 1) give one value per sample; the
            // buffer is filled cyclically from them, as an unchecked copy
            // would.
            if let Some(Ok(mut gb)) = grads
                .get_mut(1)
                .map(|g| g.view_mut().into_dimensionality::<Ix1>())
            {
                let per_sample = delta.sum_axis(Axis(1));
                let b = per_sample.len().max(1);
                for (j, g) in gb.iter_mut().enumerate() {
                    *g = per_sample.get(j % b).copied().unwrap_or_else(F::zero);
                }
            }
        }
    }

    fn params(&self) -> Vec<NamedParam<'_, F>> {
        self.inner.params()
    }

    /// A flawed layer is a backward-pass stand-in; it owns no parameters
    /// an optimizer could write (the wrapped layer's stay with it).
    fn params_mut(&mut self) -> Vec<NamedParamMut<'_, F>> {
        Vec::new()
    }
}

/// The tensor a "wrong layer input" bug uses in place of layer `l`'s true
/// input: the layer's own output (an off-by-one index), the network input,
/// the activations two layers down, or the previous pre-activations —
/// the first of these with the right shape that differs from the truth.
pub fn wrong_layer_input<'a, F: Float>(
    l: usize,
    layers: &[AnyLayer<F>],
    act: &'a [Array2<F>],
    pre: &'a [Array2<F>],
    x: &'a Array2<F>,
) -> Option<ArrayView2<'a, F>> {
    let fan_in = layers.get(l)?.input_width();
    let mut candidates: Vec<ArrayView2<'a, F>> = vec![act.get(l)?.view()];
    if l >= 1 {
        candidates.push(x.view());
    }
    if l >= 2 {
        candidates.push(act[l - 2].view());
    }
    if l >= 1 && layers[l - 1].activation() != Activation::Linear {
        candidates.push(pre[l - 1].view());
    }
    candidates
        .into_iter()
        .find(|c| c.ncols() == fan_in && c.nrows() == x.nrows())
}

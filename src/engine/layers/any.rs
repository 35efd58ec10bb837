//! Any layer kind, as one enum with static dispatch: a network is a
//! `Vec<AnyLayer<F>>` that clones, compares, prints and changes precision
//! like the dense-only network did, and each method forwards to the kind's
//! own file. Building a layer from its config entry is here too.

use super::{
    ActivationLayer, BatchNorm, Cache, Conv2d, Dense, Dropout, Flatten, Layer, Mode, NamedParam,
    NamedParamMut, Pool2d, Shape,
};
use crate::config::LayerConfig;
use crate::engine::activation::Activation;
use crate::engine::float::Float;
use crate::kinds::{LayerKind, LossKind};
use ndarray::{Array2, ArrayView2, ArrayViewMutD};
use rand_chacha::ChaCha8Rng;

/// One layer of any kind.
#[derive(Debug, Clone, PartialEq)]
pub enum AnyLayer<F> {
    Dense(Dense<F>),
    Conv2d(Conv2d<F>),
    Pool2d(Pool2d),
    Flatten(Flatten),
    Dropout(Dropout),
    BatchNorm(BatchNorm<F>),
    Activation(ActivationLayer),
}

/// Runs `$body` with `$l` bound to the kind's struct.
macro_rules! each {
    ($self:expr, $l:ident => $body:expr) => {
        match $self {
            AnyLayer::Dense($l) => $body,
            AnyLayer::Conv2d($l) => $body,
            AnyLayer::Pool2d($l) => $body,
            AnyLayer::Flatten($l) => $body,
            AnyLayer::Dropout($l) => $body,
            AnyLayer::BatchNorm($l) => $body,
            AnyLayer::Activation($l) => $body,
        }
    };
}

impl<F: Float> AnyLayer<F> {
    /// The layer `config` describes on samples of shape `input`, weights
    /// drawn from `rng`. Shapes were checked when the config was loaded
    /// (`engine::layers::plan`); a flat layer on an image (only the first
    /// layer may have one) reads it flattened, as the MLPs always have.
    pub fn init(input: Shape, config: &LayerConfig, rng: &mut ChaCha8Rng) -> Self {
        let image = match input {
            Shape::Image { c, h, w } => (c, h, w),
            Shape::Flat(n) => (1, 1, n),
        };
        match config.kind {
            LayerKind::Dense => AnyLayer::Dense(Dense::init(input.width(), config, rng)),
            LayerKind::Conv2d {
                filters,
                kernel,
                stride,
                padding,
            } => AnyLayer::Conv2d(Conv2d::init(
                super::conv2d::sweep(image, kernel, stride, padding),
                filters,
                config,
                rng,
            )),
            LayerKind::Pool2d { pool, size, stride } => {
                AnyLayer::Pool2d(Pool2d::new(pool, image, size, stride))
            }
            LayerKind::Flatten => AnyLayer::Flatten(Flatten { input }),
            LayerKind::Dropout { rate } => AnyLayer::Dropout(Dropout { shape: input, rate }),
            LayerKind::BatchNorm { momentum, eps } => {
                AnyLayer::BatchNorm(BatchNorm::new(input, momentum, eps))
            }
            LayerKind::Activation => AnyLayer::Activation(ActivationLayer {
                shape: input,
                activation: config.activation,
            }),
        }
    }

    /// The same layer in another precision (through f64).
    pub fn cast<G: Float>(&self) -> AnyLayer<G> {
        match self {
            AnyLayer::Dense(l) => AnyLayer::Dense(l.cast()),
            AnyLayer::Conv2d(l) => AnyLayer::Conv2d(l.cast()),
            AnyLayer::Pool2d(l) => AnyLayer::Pool2d(l.clone()),
            AnyLayer::Flatten(l) => AnyLayer::Flatten(l.clone()),
            AnyLayer::Dropout(l) => AnyLayer::Dropout(l.clone()),
            AnyLayer::BatchNorm(l) => AnyLayer::BatchNorm(l.cast()),
            AnyLayer::Activation(l) => AnyLayer::Activation(l.clone()),
        }
    }

    /// The dense layer, if this is one (code that only knows dense layers,
    /// such as the dense gradient-check probe, asks this).
    pub fn as_dense(&self) -> Option<&Dense<F>> {
        match self {
            AnyLayer::Dense(l) => Some(l),
            _ => None,
        }
    }

    /// The dense layer, writable, if this is one.
    pub fn as_dense_mut(&mut self) -> Option<&mut Dense<F>> {
        match self {
            AnyLayer::Dense(l) => Some(l),
            _ => None,
        }
    }
}

impl<F: Float> From<Dense<F>> for AnyLayer<F> {
    fn from(l: Dense<F>) -> Self {
        AnyLayer::Dense(l)
    }
}

impl<F: Float> Layer<F> for AnyLayer<F> {
    fn kind(&self) -> &'static str {
        each!(self, l => Layer::<F>::kind(l))
    }
    fn input_shape(&self) -> Shape {
        each!(self, l => Layer::<F>::input_shape(l))
    }
    fn output_shape(&self) -> Shape {
        each!(self, l => Layer::<F>::output_shape(l))
    }
    fn activation(&self) -> Activation {
        each!(self, l => Layer::<F>::activation(l))
    }
    fn forward_pre(
        &self,
        input: ArrayView2<'_, F>,
        mode: Mode,
        cache: &mut Cache<F>,
        pre: &mut Array2<F>,
    ) {
        each!(self, l => l.forward_pre(input, mode, cache, pre))
    }
    fn forward_act(&self, pre: &Array2<F>, act: &mut Array2<F>) {
        each!(self, l => l.forward_act(pre, act))
    }
    fn backward_act(&self, pre: &Array2<F>, act: &Array2<F>, grad: &mut Array2<F>) {
        each!(self, l => l.backward_act(pre, act, grad))
    }
    fn output_delta(
        &self,
        loss: LossKind,
        pre: &Array2<F>,
        act: &Array2<F>,
        targets: &Array2<F>,
        out: &mut Array2<F>,
    ) {
        each!(self, l => l.output_delta(loss, pre, act, targets, out))
    }
    fn backward_input(
        &self,
        input: ArrayView2<'_, F>,
        delta: &Array2<F>,
        cache: &Cache<F>,
        grad_in: &mut Array2<F>,
    ) {
        each!(self, l => l.backward_input(input, delta, cache, grad_in))
    }
    fn backward_params(
        &self,
        input: ArrayView2<'_, F>,
        delta: &Array2<F>,
        cache: &Cache<F>,
        grads: &mut [ArrayViewMutD<'_, F>],
    ) {
        each!(self, l => l.backward_params(input, delta, cache, grads))
    }
    fn params(&self) -> Vec<NamedParam<'_, F>> {
        each!(self, l => l.params())
    }
    fn params_mut(&mut self) -> Vec<NamedParamMut<'_, F>> {
        each!(self, l => l.params_mut())
    }
    fn update_state(&mut self, cache: &Cache<F>) {
        each!(self, l => l.update_state(cache))
    }
}

//! A standalone activation layer (`kind = "activation"`), so that conv ->
//! batch_norm -> relu can be written. Its pre-activation is its input
//! (copied); the activation and its backward are the shared ones of
//! `engine::activation`. No parameters; the shape passes through. Config:
//! `kind = "activation"` with `activation`.

use super::kind::{At, Entry, Kind, LayerConfig, PlanError, Settings};
use super::{pass_through_backward, pass_through_forward, Cache, Layer, Mode, Shape};
use crate::engine::activation::Activation;
use crate::engine::float::Float;
use crate::engine::hook::Phase;
use ndarray::{Array2, ArrayView2};
use rand_chacha::ChaCha8Rng;

/// An activation layer's settings: none of its own (its `activation` key
/// is the entry's, read with every kind's).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ActivationConfig;

impl Settings for ActivationConfig {
    const NAMES: &'static [&'static str] = &["activation"];
    const KEYS: &'static [&'static str] = &["activation"];
    const PHASES: (Phase, Phase) = (Phase::ForwardCopy, Phase::BackwardDelta);

    fn parse<E: Entry>(_name: &str, _: &E) -> Result<Self, E::Error> {
        Ok(ActivationConfig)
    }

    fn name(&self) -> &'static str {
        "activation"
    }

    fn output_shape(&self, at: &At) -> Result<Shape, PlanError> {
        Ok(at.input)
    }
}

/// One activation layer.
#[derive(Debug, Clone, PartialEq)]
pub struct ActivationLayer {
    pub shape: Shape,
    pub activation: Activation,
}

impl ActivationLayer {
    /// The same layer (it holds no numbers) in any precision.
    pub fn cast(&self) -> Self {
        self.clone()
    }
}

impl<F: Float> Kind<F> for ActivationLayer {
    type Config = ActivationConfig;
    type State = ();

    fn build(_: &ActivationConfig, input: Shape, layer: &LayerConfig, _: &mut ChaCha8Rng) -> Self {
        ActivationLayer {
            shape: input,
            activation: layer.activation,
        }
    }
}

impl<F: Float> Layer<F> for ActivationLayer {
    fn kind(&self) -> &'static str {
        "activation"
    }

    fn input_shape(&self) -> Shape {
        self.shape
    }

    fn output_shape(&self) -> Shape {
        self.shape
    }

    fn activation(&self) -> Activation {
        self.activation
    }

    fn forward_pre(
        &self,
        input: ArrayView2<'_, F>,
        mode: Mode,
        cache: &mut Cache<F>,
        pre: &mut Array2<F>,
    ) {
        pass_through_forward(input, mode, cache, pre);
    }

    fn backward_input(
        &self,
        _input: ArrayView2<'_, F>,
        delta: &Array2<F>,
        _cache: &Cache<F>,
        grad_in: &mut Array2<F>,
    ) {
        pass_through_backward(delta, grad_in);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::layers::testing::{check_gradients, random};

    /// Truth: central finite differences through tanh and elu.
    #[test]
    fn gradients_match_finite_differences() {
        for activation in [Activation::Tanh, Activation::Elu, Activation::Sigmoid] {
            let l = ActivationLayer {
                shape: Shape::Flat(5),
                activation,
            };
            let x = Array2::from_shape_vec((3, 5), random(15, 3)).unwrap();
            check_gradients(&l, &x, Mode::Train, Cache::new());
        }
    }
}

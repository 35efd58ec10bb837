//! Flatten: an image sample C x H x W becomes C·H·W features in the same
//! (channel-first) order, as PyTorch's `nn.Flatten`. Rows already hold the
//! values in that order, so only the declared shape changes; forward and
//! backward copy. No parameters; activation Linear. Config: `kind =
//! "flatten"`, no keys.

use super::kind::{At, Entry, Kind, LayerConfig, PlanError, Settings};
use super::{pass_through_backward, pass_through_forward, Cache, Layer, Mode, Shape};
use crate::engine::activation::Activation;
use crate::engine::float::Float;
use crate::engine::hook::Phase;
use ndarray::{Array2, ArrayView2};
use rand_chacha::ChaCha8Rng;

/// Flatten takes no settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FlattenConfig;

impl Settings for FlattenConfig {
    const NAMES: &'static [&'static str] = &["flatten"];
    const KEYS: &'static [&'static str] = &[];
    const PHASES: (Phase, Phase) = (Phase::ForwardCopy, Phase::BackwardDelta);

    fn parse<E: Entry>(_name: &str, _: &E) -> Result<Self, E::Error> {
        Ok(FlattenConfig)
    }

    fn name(&self) -> &'static str {
        "flatten"
    }

    fn output_shape(&self, at: &At) -> Result<Shape, PlanError> {
        Ok(Shape::Flat(at.input.width()))
    }
}

/// One flatten layer over `input`.
#[derive(Debug, Clone, PartialEq)]
pub struct Flatten {
    pub input: Shape,
}

impl Flatten {
    /// The same layer (it holds no numbers) in any precision.
    pub fn cast(&self) -> Self {
        self.clone()
    }
}

impl<F: Float> Kind<F> for Flatten {
    type Config = FlattenConfig;
    type State = ();

    fn build(_: &FlattenConfig, input: Shape, _: &LayerConfig, _: &mut ChaCha8Rng) -> Self {
        Flatten { input }
    }
}

impl<F: Float> Layer<F> for Flatten {
    fn kind(&self) -> &'static str {
        "flatten"
    }

    fn input_shape(&self) -> Shape {
        self.input
    }

    fn output_shape(&self) -> Shape {
        Shape::Flat(self.input.width())
    }

    fn activation(&self) -> Activation {
        Activation::Linear
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
    use ndarray::array;

    #[test]
    fn flatten_keeps_values_and_changes_the_shape() {
        let l = Flatten {
            input: Shape::Image { c: 2, h: 1, w: 2 },
        };
        let x = array![[1.0, 2.0, 3.0, 4.0]];
        let (pre, act) = Layer::<f64>::forward(&l, x.view(), Mode::Train);
        assert_eq!(pre, x);
        assert_eq!(act, x);
        assert_eq!(Layer::<f64>::output_shape(&l), Shape::Flat(4));
        let mut g = Array2::zeros((1, 4));
        l.backward_input(
            x.view(),
            &array![[4.0, 3.0, 2.0, 1.0]],
            &Cache::new(),
            &mut g,
        );
        assert_eq!(g, array![[4.0, 3.0, 2.0, 1.0]]);
    }
}

//! Flatten: an image sample C x H x W becomes C·H·W features in the same
//! (channel-first) order, as PyTorch's `nn.Flatten`. Rows already hold the
//! values in that order, so only the declared shape changes; forward and
//! backward copy. No parameters; activation Linear.

use super::{pass_through_backward, pass_through_forward, Cache, Layer, Mode, Shape};
use crate::engine::activation::Activation;
use crate::engine::float::Float;
use ndarray::{Array2, ArrayView2};

/// One flatten layer over `input`.
#[derive(Debug, Clone, PartialEq)]
pub struct Flatten {
    pub input: Shape,
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

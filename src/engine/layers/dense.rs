//! The dense (fully connected) layer: z = x W + b, a = f(z), with `weight`
//! [fan_in, units] (in_out, so a batch is one GEMM) and `bias` [units].
//! Its parameters are named "weight" and "bias", in that order. Config:
//! `kind = "dense"` (the default) with `units` and the weight keys.

use super::kind::{At, Entry, Kind, LayerConfig, PlanError, Settings, MAX_UNITS};
use super::{
    weight_and_bias, weight_and_bias_mut, Cache, Layer, Mode, NamedParam, NamedParamMut, Shape,
};
use crate::engine::activation::Activation;
use crate::engine::float::Float;
use crate::engine::init::draw_weights;
use crate::engine::kernels::gemm::gemm;
use crate::engine::kernels::threads::threads;
use ndarray::{Array1, Array2, ArrayView2, ArrayViewMutD, Axis, Ix1, Ix2};
use rand_chacha::ChaCha8Rng;

/// A dense layer's settings: its width.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DenseConfig {
    pub units: usize,
}

impl Settings for DenseConfig {
    const NAMES: &'static [&'static str] = &["dense"];
    const KEYS: &'static [&'static str] = &["units"];
    const WEIGHTS: bool = true;

    fn parse<E: Entry>(_name: &str, e: &E) -> Result<Self, E::Error> {
        Ok(DenseConfig {
            units: e
                .count("units", 1, MAX_UNITS)?
                .ok_or_else(|| e.missing("units"))?,
        })
    }

    fn name(&self) -> &'static str {
        "dense"
    }

    fn units(&self) -> usize {
        self.units
    }

    /// Flat input only: after an image layer a dense layer needs an
    /// explicit flatten (flattening silently would guess the user's
    /// intent); as the first layer it reads an image flattened, as the
    /// MLPs always have.
    fn output_shape(&self, at: &At) -> Result<Shape, PlanError> {
        match at.input {
            Shape::Image { .. } if at.index > 0 => Err(at.error(
                "kind",
                format!(
                    "a dense layer needs flat input, but {} gives images of {}; add a [[model.layers]] with kind = \"flatten\" before it",
                    at.from, at.input
                ),
            )),
            _ => Ok(Shape::Flat(self.units)),
        }
    }

    /// (fan_in + 1)·units.
    fn param_count(&self, input: Shape) -> usize {
        (input.width().saturating_add(1)).saturating_mul(self.units)
    }
}

/// One dense layer. `weight` is [fan_in, units].
#[derive(Debug, Clone, PartialEq)]
pub struct Dense<F> {
    pub weight: Array2<F>,
    pub bias: Array1<F>,
    pub activation: Activation,
}

impl<F: Float> Dense<F> {
    /// A layer of `config.units` units on `fan_in` inputs: weights drawn
    /// from `rng` as `config.init` says, biases all `config.bias_init`.
    pub fn init(fan_in: usize, config: &LayerConfig, rng: &mut ChaCha8Rng) -> Self {
        let w = draw_weights(config.init, fan_in, config.units, rng);
        Dense {
            weight: w.mapv(F::of),
            bias: Array1::from_elem(config.units, F::of(config.bias_init)),
            activation: config.activation,
        }
    }

    /// The same layer in another precision (through f64).
    pub fn cast<G: Float>(&self) -> Dense<G> {
        Dense {
            weight: self.weight.mapv(|v| G::of(v.f64())),
            bias: self.bias.mapv(|v| G::of(v.f64())),
            activation: self.activation,
        }
    }
}

impl<F: Float> Kind<F> for Dense<F> {
    type Config = DenseConfig;
    type State = ();

    fn build(_: &DenseConfig, input: Shape, layer: &LayerConfig, rng: &mut ChaCha8Rng) -> Self {
        Dense::init(input.width(), layer, rng)
    }
}

impl<F: Float> Layer<F> for Dense<F> {
    fn kind(&self) -> &'static str {
        "dense"
    }

    fn fused_with_next(&self) -> bool {
        true
    }

    fn input_shape(&self) -> Shape {
        Shape::Flat(self.weight.nrows())
    }

    fn output_shape(&self) -> Shape {
        Shape::Flat(self.weight.ncols())
    }

    fn activation(&self) -> Activation {
        self.activation
    }

    /// forward.linear: pre = input W + b, through ndarray's GEMM (the bias
    /// is written first and the product accumulated onto it).
    fn forward_pre(
        &self,
        input: ArrayView2<'_, F>,
        _mode: Mode,
        _cache: &mut Cache<F>,
        pre: &mut Array2<F>,
    ) {
        // The bias copied into each row (contiguous rows, the usual case).
        let units = pre.ncols();
        match (self.bias.as_slice(), pre.as_slice_mut()) {
            (Some(b), Some(p)) if !b.is_empty() && b.len() == units => {
                p.chunks_exact_mut(b.len())
                    .for_each(|row| row.copy_from_slice(b));
            }
            _ => pre.assign(&self.bias.view().insert_axis(Axis(0))),
        }
        gemm(
            F::one(),
            &input,
            &self.weight.view(),
            F::one(),
            &mut pre.view_mut(),
            threads(),
        );
    }

    /// dL/dx = delta W^T.
    fn backward_input(
        &self,
        _input: ArrayView2<'_, F>,
        delta: &Array2<F>,
        _cache: &Cache<F>,
        grad_in: &mut Array2<F>,
    ) {
        gemm(
            F::one(),
            &delta.view(),
            &self.weight.t(),
            F::zero(),
            &mut grad_in.view_mut(),
            threads(),
        );
    }

    /// dW = input^T delta, db = column sums of delta. A gradient buffer of
    /// the wrong shape is filled with NaN, so the mistake shows at once.
    fn backward_params(
        &self,
        input: ArrayView2<'_, F>,
        delta: &Array2<F>,
        _cache: &Cache<F>,
        grads: &mut [ArrayViewMutD<'_, F>],
    ) {
        if let [gw, gb, ..] = grads {
            match gw.view_mut().into_dimensionality::<Ix2>() {
                Ok(mut gw) if gw.dim() == self.weight.dim() => gemm(
                    F::one(),
                    &input.t(),
                    &delta.view(),
                    F::zero(),
                    &mut gw,
                    threads(),
                ),
                _ => gw.fill(F::of(f64::NAN)),
            }
            match gb.view_mut().into_dimensionality::<Ix1>() {
                Ok(mut gb) if gb.len() == self.bias.len() => column_sums(delta, &mut gb),
                _ => gb.fill(F::of(f64::NAN)),
            }
        }
    }

    fn params(&self) -> Vec<NamedParam<'_, F>> {
        weight_and_bias(&self.weight, &self.bias)
    }

    fn params_mut(&mut self) -> Vec<NamedParamMut<'_, F>> {
        weight_and_bias_mut(&mut self.weight, &mut self.bias)
    }
}

/// out = the column sums of `delta`, with the bits of ndarray's
/// `sum_axis(Axis(0))` (which adds the rows in order onto zeros when the
/// rows are contiguous and longer than one) but without its generic
/// element-wise loop; any other layout goes through `sum_axis` itself.
fn column_sums<F: Float>(delta: &Array2<F>, out: &mut ndarray::ArrayViewMut1<'_, F>) {
    let cols = delta.ncols();
    match (delta.as_slice(), out.as_slice_mut()) {
        (Some(d), Some(o)) if cols >= 2 && o.len() == cols => {
            o.fill(F::zero());
            for row in d.chunks_exact(cols) {
                for (o, &v) in o.iter_mut().zip(row) {
                    *o += v;
                }
            }
        }
        _ => out.assign(&delta.sum_axis(Axis(0))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    fn layer() -> Dense<f64> {
        Dense {
            weight: array![[1.0, 0.0, 2.0], [0.0, 1.0, 3.0]],
            bias: array![0.5, 0.5, 0.5],
            activation: Activation::Linear,
        }
    }

    #[test]
    fn forward_matches_hand_computation() {
        // By hand: [1 2] [[1 0 2] [0 1 3]] + [0.5 0.5 0.5] = [1.5 2.5 8.5].
        let (pre, act) = layer().forward(array![[1.0, 2.0]].view(), Mode::Eval);
        assert_eq!(pre, array![[1.5, 2.5, 8.5]]);
        assert_eq!(act, pre);
    }

    /// Truth: the textbook dense gradients written out by hand for one
    /// sample x = [1, 2], delta = [1, -1, 0.5]: dx = delta W^T, dW = x^T
    /// delta, db = delta.
    #[test]
    fn backward_matches_hand_computation() {
        let l = layer();
        let delta = array![[1.0, -1.0, 0.5]];
        let mut dx = Array2::zeros((1, 2));
        l.backward_input(array![[1.0, 2.0]].view(), &delta, &Cache::new(), &mut dx);
        assert_eq!(dx, array![[1.0 + 1.0, -1.0 + 1.5]]);
        let mut gw = Array2::zeros((2, 3));
        let mut gb = Array1::zeros(3);
        l.backward_params(
            array![[1.0, 2.0]].view(),
            &delta,
            &Cache::new(),
            &mut [gw.view_mut().into_dyn(), gb.view_mut().into_dyn()],
        );
        assert_eq!(gw, array![[1.0, -1.0, 0.5], [2.0, -2.0, 1.0]]);
        assert_eq!(gb, array![1.0, -1.0, 0.5]);
        let names: Vec<_> = l.params().iter().map(|p| p.name).collect();
        assert_eq!(names, super::super::WEIGHT_AND_BIAS);
        assert_eq!(l.param_count(), 9);
    }

    /// Source of truth: ndarray's `sum_axis(Axis(0))`, which the bias
    /// gradient used before; same bits for several widths (1 takes the
    /// fallback), including -0.0 and a NaN.
    #[test]
    fn column_sums_give_the_bits_of_sum_axis() {
        for cols in [1, 2, 3, 10, 256] {
            let delta = Array2::from_shape_fn((64, cols), |(i, j)| match (i + j) % 7 {
                0 => -0.0f32,
                1 if i == 5 && j == 1 => f32::NAN,
                k => (k as f32 - 3.3) * 1e-3 * (i as f32 + 1.0) / (j as f32 + 1.0),
            });
            let want = delta.sum_axis(Axis(0));
            let mut got = Array1::from_elem(cols, 7.0f32);
            column_sums(&delta, &mut got.view_mut());
            assert!(
                got.iter()
                    .zip(&want)
                    .all(|(x, y)| x.to_bits() == y.to_bits()),
                "{cols}"
            );
        }
    }

    #[test]
    fn a_gradient_buffer_of_the_wrong_shape_turns_nan() {
        let mut gw = Array2::zeros((3, 2));
        let mut gb = Array1::zeros(3);
        layer().backward_params(
            array![[1.0, 2.0]].view(),
            &array![[1.0, -1.0, 0.5]],
            &Cache::new(),
            &mut [gw.view_mut().into_dyn(), gb.view_mut().into_dyn()],
        );
        assert!(gw.iter().all(|v: &f64| v.is_nan()));
        assert!(gb.iter().all(|v: &f64| v.is_finite()));
    }
}

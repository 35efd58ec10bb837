//! A dense network and the operations backprop is made of. Each operation is
//! one function here; the training loop sequences them and emits an event
//! after each, so the tracer can tell which operation made the first NaN.

use super::activation::Activation;
use super::float::Float;
use super::init::draw_weights;
use crate::config::LayerConfig;
use crate::monitor::record::LayerInfo;
use ndarray::linalg::general_mat_mul;
use ndarray::{Array1, Array2, ArrayView2, Axis};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Stream tag mixed into the seed for initialisation, so init does not share
/// a random stream with data generation or shuffling.
const INIT_STREAM: u64 = 0x1A17_0000_0000_0003;

/// One dense layer: z = x W + b, a = f(z). `weight` is [fan_in, units].
#[derive(Debug, Clone, PartialEq)]
pub struct Layer<F> {
    pub weight: Array2<F>,
    pub bias: Array1<F>,
    pub activation: Activation,
}

/// A stack of dense layers.
#[derive(Debug, Clone, PartialEq)]
pub struct Network<F> {
    pub layers: Vec<Layer<F>>,
}

impl<F: Float> Network<F> {
    /// Initialises every layer from `seed` (layer by layer, one stream).
    pub fn init(input_width: usize, configs: &[LayerConfig], seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ INIT_STREAM);
        let mut fan_in = input_width;
        let mut layers = Vec::with_capacity(configs.len());
        for c in configs {
            let w = draw_weights(c.init, fan_in, c.units, &mut rng);
            layers.push(Layer {
                weight: w.mapv(F::of),
                bias: Array1::from_elem(c.units, F::of(c.bias_init)),
                activation: c.activation,
            });
            fan_in = c.units;
        }
        Network { layers }
    }

    /// The same network in another precision (gradient checks run in f64).
    pub fn cast<G: Float>(&self) -> Network<G> {
        Network {
            layers: self
                .layers
                .iter()
                .map(|l| Layer {
                    weight: l.weight.mapv(|v| G::of(v.f64())),
                    bias: l.bias.mapv(|v| G::of(v.f64())),
                    activation: l.activation,
                })
                .collect(),
        }
    }

    pub fn input_width(&self) -> usize {
        self.layers.first().map_or(0, |l| l.weight.nrows())
    }

    pub fn output_width(&self) -> usize {
        self.layers.last().map_or(0, |l| l.weight.ncols())
    }

    pub fn param_count(&self) -> usize {
        self.layers
            .iter()
            .map(|l| l.weight.len() + l.bias.len())
            .sum()
    }

    /// The output activation (the last layer's).
    pub fn output_activation(&self) -> Activation {
        self.layers
            .last()
            .map_or(Activation::Linear, |l| l.activation)
    }

    /// Static layer facts for recordings and reports.
    pub fn layer_infos(&self) -> Vec<LayerInfo> {
        self.layers
            .iter()
            .enumerate()
            .map(|(i, l)| LayerInfo {
                layer: i + 1,
                units: l.weight.ncols(),
                fan_in: l.weight.nrows(),
                activation: l.activation,
            })
            .collect()
    }

    /// Forward pass without hooks, for evaluation: returns (pre, act) of the
    /// last layer.
    pub fn predict(&self, x: ArrayView2<F>) -> (Array2<F>, Array2<F>) {
        let mut input = x.to_owned();
        let mut pre = Array2::zeros((x.nrows(), 0));
        for layer in &self.layers {
            pre = Array2::zeros((input.nrows(), layer.weight.ncols()));
            linear(input.view(), layer, &mut pre);
            let mut act = Array2::zeros(pre.raw_dim());
            layer.activation.forward(&pre, &mut act);
            input = act;
        }
        (pre, input)
    }
}

/// Buffers for one batch, reused across steps so the loop allocates nothing
/// large. Index i holds layer i + 1.
#[derive(Debug, Clone)]
pub struct Workspace<F> {
    pub pre: Vec<Array2<F>>,
    pub act: Vec<Array2<F>>,
    pub delta: Vec<Array2<F>>,
    pub grad_w: Vec<Array2<F>>,
    pub grad_b: Vec<Array1<F>>,
    pub update_w: Vec<Array2<F>>,
    pub update_b: Vec<Array1<F>>,
}

impl<F: Float> Workspace<F> {
    pub fn new(net: &Network<F>, batch: usize) -> Self {
        let per_layer = |f: &dyn Fn(&Layer<F>) -> Array2<F>| net.layers.iter().map(f).collect();
        let units = |l: &Layer<F>| Array2::zeros((batch, l.weight.ncols()));
        Workspace {
            pre: per_layer(&units),
            act: per_layer(&units),
            delta: per_layer(&units),
            grad_w: per_layer(&|l| Array2::zeros(l.weight.raw_dim())),
            grad_b: net
                .layers
                .iter()
                .map(|l| Array1::zeros(l.bias.len()))
                .collect(),
            update_w: per_layer(&|l| Array2::zeros(l.weight.raw_dim())),
            update_b: net
                .layers
                .iter()
                .map(|l| Array1::zeros(l.bias.len()))
                .collect(),
        }
    }
}

/// forward.linear: out = input W + b, through ndarray's GEMM.
pub fn linear<F: Float>(input: ArrayView2<F>, layer: &Layer<F>, out: &mut Array2<F>) {
    out.assign(&layer.bias.view().insert_axis(Axis(0)));
    general_mat_mul(F::one(), &input, &layer.weight, F::one(), out);
}

/// backward.delta: out = (delta_next W_next^T) * f'(z), the hidden layer's
/// dL/dz.
pub fn hidden_delta<F: Float>(
    delta_next: &Array2<F>,
    weight_next: &Array2<F>,
    activation: Activation,
    pre: &Array2<F>,
    act: &Array2<F>,
    out: &mut Array2<F>,
) {
    general_mat_mul(F::one(), delta_next, &weight_next.t(), F::zero(), out);
    activation.scale_by_derivative(pre, act, out);
}

/// backward.weight_grad: dW = input^T delta, db = column sums of delta (the
/// 1/batch is already inside delta).
pub fn weight_grad<F: Float>(
    input: ArrayView2<F>,
    delta: &Array2<F>,
    grad_w: &mut Array2<F>,
    grad_b: &mut Array1<F>,
) {
    general_mat_mul(F::one(), &input.t(), delta, F::zero(), grad_w);
    grad_b.assign(&delta.sum_axis(Axis(0)));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Init;
    use ndarray::array;

    fn layer(units: usize, activation: Activation) -> LayerConfig {
        LayerConfig {
            units,
            activation,
            init: Init::XavierUniform,
            bias_init: 0.1,
        }
    }

    #[test]
    fn linear_matches_hand_computation() {
        // By hand: [1 2] [[1 0 2] [0 1 3]] + [0.5 0.5 0.5] = [1.5 2.5 8.5].
        let l = Layer {
            weight: array![[1.0, 0.0, 2.0], [0.0, 1.0, 3.0]],
            bias: array![0.5, 0.5, 0.5],
            activation: Activation::Linear,
        };
        let mut out = Array2::zeros((1, 3));
        linear(array![[1.0, 2.0]].view(), &l, &mut out);
        assert_eq!(out, array![[1.5, 2.5, 8.5]]);
    }

    #[test]
    fn f32_and_f64_networks_start_from_the_same_draws() {
        let cfg = [layer(5, Activation::Tanh), layer(3, Activation::Softmax)];
        let a = Network::<f32>::init(4, &cfg, 9);
        let b = Network::<f64>::init(4, &cfg, 9);
        assert_eq!(
            a.cast::<f64>().layers[1].weight,
            b.cast::<f32>().cast::<f64>().layers[1].weight
        );
        assert_eq!(a.param_count(), 4 * 5 + 5 + 5 * 3 + 3);
        assert_eq!(b.layers[0].bias[0], 0.1);
    }

    #[test]
    fn predict_rows_sum_to_one_under_softmax() {
        let cfg = [layer(6, Activation::Relu), layer(3, Activation::Softmax)];
        let net = Network::<f64>::init(2, &cfg, 1);
        let (_, y) = net.predict(array![[0.3, -0.2], [1.0, 2.0]].view());
        for row in y.rows() {
            assert!((row.sum() - 1.0).abs() < 1e-12);
        }
    }
}

//! A network: a stack of layers (dense for now, each run through the
//! [`Layer`] trait), its initialisation, evaluation-mode forward pass and
//! the training workspace. The operations themselves live with each layer
//! kind in `engine::layers`; the training loop sequences them and emits an
//! event after each, so the tracer can tell which operation made the first
//! NaN.

use super::activation::Activation;
use super::float::Float;
use super::hook::LayerInfo;
use super::layers::{Dense, Layer, Mode};
use crate::config::LayerConfig;
use ndarray::{Array1, Array2, ArrayView2};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Stream tag mixed into the seed for initialisation, so init does not share
/// a random stream with data generation or shuffling.
const INIT_STREAM: u64 = 0x1A17_0000_0000_0003;

/// A stack of layers (dense for now).
#[derive(Debug, Clone, PartialEq)]
pub struct Network<F> {
    pub layers: Vec<Dense<F>>,
}

impl<F: Float> Network<F> {
    /// Initialises every layer from `seed` (layer by layer, one stream).
    pub fn init(input_width: usize, configs: &[LayerConfig], seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ INIT_STREAM);
        let mut fan_in = input_width;
        let mut layers = Vec::with_capacity(configs.len());
        for c in configs {
            let layer = Dense::init(fan_in, c, &mut rng);
            fan_in = layer.output_width();
            layers.push(layer);
        }
        Network { layers }
    }

    /// The same network in another precision (gradient checks run in f64).
    pub fn cast<G: Float>(&self) -> Network<G> {
        Network {
            layers: self.layers.iter().map(Dense::cast).collect(),
        }
    }

    pub fn input_width(&self) -> usize {
        self.layers.first().map_or(0, Layer::input_width)
    }

    pub fn output_width(&self) -> usize {
        self.layers.last().map_or(0, Layer::output_width)
    }

    pub fn param_count(&self) -> usize {
        self.layers.iter().map(Layer::param_count).sum()
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
                units: l.output_width(),
                fan_in: l.input_width(),
                activation: l.activation,
            })
            .collect()
    }

    /// Forward pass without hooks, in evaluation mode, through each layer's
    /// own forward: returns (pre, act) of the last layer.
    pub fn predict(&self, x: ArrayView2<F>) -> (Array2<F>, Array2<F>) {
        let mut input = x.to_owned();
        let mut pre = Array2::zeros((x.nrows(), 0));
        for layer in &self.layers {
            let (z, a) = layer.forward(input.view(), Mode::Eval);
            pre = z;
            input = a;
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
        let per_layer = |f: &dyn Fn(&Dense<F>) -> Array2<F>| net.layers.iter().map(f).collect();
        let units = |l: &Dense<F>| Array2::zeros((batch, l.output_width()));
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

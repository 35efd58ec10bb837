//! A network: a stack of layers of any kind (each run through the
//! [`Layer`] trait), its initialisation, evaluation-mode forward pass and
//! the training workspace. The operations themselves live with each layer
//! kind in `engine::layers`; the training loop sequences them and emits an
//! event after each, so the tracer can tell which operation made the first
//! NaN.

use super::activation::Activation;
use super::float::Float;
use super::hook::LayerInfo;
use super::layers::{AnyLayer, Cache, Layer, LayerConfig, Mode, Shape};

use ndarray::{Array2, ArrayD, ArrayView2};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Stream tag mixed into the seed for initialisation, so init does not share
/// a random stream with data generation or shuffling.
const INIT_STREAM: u64 = 0x1A17_0000_0000_0003;

/// A stack of layers.
#[derive(Debug, Clone, PartialEq)]
pub struct Network<F> {
    pub layers: Vec<AnyLayer<F>>,
}

impl<F: Float> Network<F> {
    /// Initialises every layer from `seed` (layer by layer, one stream) for
    /// samples of shape `input` (a bare width is a flat sample). The shapes
    /// were checked when the config was loaded (`layers::plan`).
    pub fn init(input: impl Into<Shape>, configs: &[LayerConfig], seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ INIT_STREAM);
        let mut shape = input.into();
        let mut layers = Vec::with_capacity(configs.len());
        for c in configs {
            let layer = AnyLayer::init(shape, c, &mut rng);
            shape = layer.output_shape();
            layers.push(layer);
        }
        Network { layers }
    }

    /// The same network in another precision (gradient checks run in f64).
    pub fn cast<G: Float>(&self) -> Network<G> {
        Network {
            layers: self.layers.iter().map(AnyLayer::cast).collect(),
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

    /// Whether every layer is dense (the MLPs the dense-only tools know).
    pub fn is_dense(&self) -> bool {
        self.layers.iter().all(|l| l.as_dense().is_some())
    }

    /// The output activation (the last layer's).
    pub fn output_activation(&self) -> Activation {
        self.layers
            .last()
            .map_or(Activation::Linear, Layer::activation)
    }

    /// Static layer facts for recordings and reports. `units` counts
    /// channels for image layers (recorders count dead and saturated
    /// channels as units); `fan_in` is a unit's inputs (in·kh·kw for a
    /// convolution).
    pub fn layer_infos(&self) -> Vec<LayerInfo> {
        self.layers
            .iter()
            .enumerate()
            .map(|(i, l)| LayerInfo {
                layer: i + 1,
                units: l.output_shape().channels(),
                fan_in: l.fan_in(),
                activation: l.activation(),
                kind: Some(l.kind().to_string()),
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
/// large. Index i holds layer i + 1; `grads[i][k]` and `updates[i][k]` are
/// for the layer's k-th named parameter (its `params()` order), and
/// `caches[i]` its per-step state.
#[derive(Debug, Clone)]
pub struct Workspace<F: Float> {
    pub pre: Vec<Array2<F>>,
    pub act: Vec<Array2<F>>,
    pub delta: Vec<Array2<F>>,
    pub grads: Vec<Vec<ArrayD<F>>>,
    pub updates: Vec<Vec<ArrayD<F>>>,
    pub caches: Vec<Cache<F>>,
}

impl<F: Float> Workspace<F> {
    pub fn new(net: &Network<F>, batch: usize) -> Self {
        let units = |l: &AnyLayer<F>| Array2::zeros((batch, l.output_width()));
        let per_param = |l: &AnyLayer<F>| -> Vec<ArrayD<F>> {
            l.params()
                .iter()
                .map(|p| ArrayD::zeros(p.value.raw_dim()))
                .collect()
        };
        Workspace {
            pre: net.layers.iter().map(units).collect(),
            act: net.layers.iter().map(units).collect(),
            delta: net.layers.iter().map(units).collect(),
            grads: net.layers.iter().map(per_param).collect(),
            updates: net.layers.iter().map(per_param).collect(),
            caches: net.layers.iter().map(|_| Cache::new()).collect(),
        }
    }

    /// The gradient of layer `l`'s parameter `name` ("weight", "bias").
    pub fn grad(&self, net: &Network<F>, l: usize, name: &str) -> Option<&ArrayD<F>> {
        let k = net
            .layers
            .get(l)?
            .params()
            .iter()
            .position(|p| p.name == name)?;
        self.grads.get(l)?.get(k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Init;
    use ndarray::array;

    fn layer(units: usize, activation: Activation) -> LayerConfig {
        LayerConfig {
            kind: crate::engine::layers::KindConfig::Dense(
                crate::engine::layers::dense::DenseConfig { units },
            ),
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
            a.cast::<f64>().layers[1],
            b.cast::<f32>().cast::<f64>().layers[1]
        );
        assert_eq!(a.param_count(), 4 * 5 + 5 + 5 * 3 + 3);
        assert_eq!(b.layers[0].as_dense().map(|d| d.bias[0]), Some(0.1));
    }

    /// summary.json's layer list reads these: a dense layer names its
    /// kind like every other (it used to be left out).
    #[test]
    fn layer_infos_name_the_kind_of_dense_layers_too() {
        let cfg = [layer(5, Activation::Tanh), layer(3, Activation::Softmax)];
        let infos = Network::<f64>::init(4, &cfg, 9).layer_infos();
        let kinds: Vec<_> = infos.iter().map(|i| i.kind.as_deref()).collect();
        assert_eq!(kinds, [Some("dense"), Some("dense")]);
        assert_eq!((infos[0].fan_in, infos[1].fan_in), (4, 5));
        assert!(infos.iter().all(|i| i.has_params()));
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

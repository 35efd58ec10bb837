//! The networks the gradient-check benches check, defined once so
//! `gradcheck` and `complex_step` measure the same layers (a file under a
//! folder, so Cargo does not take it for a bench target of its own).

use nn_doctor::config::{Init, LayerConfig};
use nn_doctor::engine::activation::Activation;

/// A dense layer with `init` and zero biases.
pub fn layer(units: usize, activation: Activation, init: Init) -> LayerConfig {
    LayerConfig {
        kind: nn_doctor::engine::layers::KindConfig::Dense(
            nn_doctor::engine::layers::dense::DenseConfig { units },
        ),
        units,
        activation,
        init,
        bias_init: 0.0,
    }
}

/// The seed network as the issue wrote it: 784-1000-10, sigmoid hidden,
/// softmax output, every weight uniform in [0, 1) (saturated).
pub fn seed_u01() -> Vec<LayerConfig> {
    let u01 = Init::Uniform {
        low: 0.0,
        high: 1.0,
    };
    vec![
        layer(1000, Activation::Sigmoid, u01),
        layer(10, Activation::Softmax, u01),
    ]
}

/// 784-64 x `depth`-10: xavier sigmoid layers of width 64, softmax output.
pub fn sigmoid_stack(depth: usize) -> Vec<LayerConfig> {
    let mut layers: Vec<LayerConfig> = (0..depth)
        .map(|_| layer(64, Activation::Sigmoid, Init::XavierUniform))
        .collect();
    layers.push(layer(10, Activation::Softmax, Init::XavierUniform));
    layers
}

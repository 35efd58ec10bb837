//! The networks the throughput bench and the interleaved peer worker train,
//! defined once so both measure the same layers (a file under a folder, so
//! Cargo does not take it for a bench target of its own).

use nn_doctor::config::{Init, KindConfig, LayerConfig, Padding, PoolKind};
use nn_doctor::engine::activation::Activation;
use nn_doctor::engine::layers::conv2d::Conv2dConfig;
use nn_doctor::engine::layers::flatten::FlattenConfig;
use nn_doctor::engine::layers::pool2d::Pool2dConfig;

/// A dense layer. Zero-mean init so the numbers stay in range for the whole
/// run; the arithmetic cost is the same as the seed's U[0,1).
pub fn dense(units: usize, activation: Activation) -> LayerConfig {
    LayerConfig {
        kind: nn_doctor::engine::layers::KindConfig::Dense(
            nn_doctor::engine::layers::dense::DenseConfig { units },
        ),
        units,
        activation,
        init: Init::XavierUniform,
        bias_init: 0.0,
    }
}

/// The seed network's layers: 784-1000-10, sigmoid hidden, softmax output.
pub fn seed() -> Vec<LayerConfig> {
    vec![
        dense(1000, Activation::Sigmoid),
        dense(10, Activation::Softmax),
    ]
}

/// The deep net: 784-256x4-10, ReLU hidden, softmax output.
pub fn deep() -> Vec<LayerConfig> {
    let mut layers: Vec<_> = (0..4).map(|_| dense(256, Activation::Relu)).collect();
    layers.push(dense(10, Activation::Softmax));
    layers
}

/// examples/mnist_cnn.toml's network: conv 8@5x5 relu -> max pool 2 ->
/// conv 16@5x5 relu -> max pool 2 -> flatten -> dense 10 softmax.
pub fn cnn() -> Vec<LayerConfig> {
    let kind = |kind| LayerConfig {
        kind,
        ..dense(0, Activation::Linear)
    };
    let conv = |filters| LayerConfig {
        kind: KindConfig::Conv2d(Conv2dConfig {
            filters,
            kernel: (5, 5),
            stride: 1,
            padding: Padding::Valid,
        }),
        init: Init::HeNormal,
        ..dense(filters, Activation::Relu)
    };
    let pool = || {
        kind(KindConfig::Pool2d(Pool2dConfig {
            pool: PoolKind::Max,
            size: 2,
            stride: 2,
        }))
    };
    vec![
        conv(8),
        pool(),
        conv(16),
        pool(),
        kind(KindConfig::Flatten(FlattenConfig)),
        dense(10, Activation::Softmax),
    ]
}

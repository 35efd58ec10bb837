//! Test support for the layer kinds: seeded random tensors and a check of a
//! layer's backward pass (input and every parameter) against central finite
//! differences in f64, the source of truth for every kind's gradient tests.

use super::dense::DenseConfig;
use super::{Cache, KindConfig, Layer, LayerConfig, Mode};
use crate::engine::activation::Activation;
use crate::kinds::Init;
use ndarray::{Array2, ArrayD};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A dense layer's config (Xavier-uniform weights, bias 0.1), for the
/// engine's tests that build small dense networks.
pub fn dense(units: usize, activation: Activation) -> LayerConfig {
    LayerConfig::new(
        KindConfig::Dense(DenseConfig { units }),
        activation,
        Init::XavierUniform,
        0.1,
    )
}

/// The network's layers as the backward pass takes them.
pub fn as_layers<F: crate::engine::Float>(
    net: &crate::engine::Network<F>,
) -> Vec<&(dyn Layer<F> + Sync)> {
    net.layers
        .iter()
        .map(|l| l as &(dyn Layer<F> + Sync))
        .collect()
}

/// `n` values uniform in [-1, 1) from `seed`.
pub fn random(n: usize, seed: u64) -> Vec<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n).map(|_| rng.random::<f64>() * 2.0 - 1.0).collect()
}

/// L = sum(g ⊙ act(layer(x))) for a fixed random g: its gradient with
/// respect to the input and every parameter, from the layer's backward
/// pass, must match central differences (eps 1e-6; f64 round-off is about
/// 1e-10 there, so 1e-6 relative + 1e-8 absolute is a wide margin and far
/// below any real backward bug). `cache` is the starting cache of every
/// pass (a fixed dropout mask rides in it).
pub fn check_gradients<L: Layer<f64> + Clone>(
    layer: &L,
    x: &Array2<f64>,
    mode: Mode,
    cache: Cache<f64>,
) {
    let n = x.nrows();
    let width = layer.output_width();
    let g = Array2::from_shape_vec((n, width), random(n * width, 999)).unwrap();
    let loss = |l: &L, x: &Array2<f64>| {
        let mut c = cache.clone();
        let mut pre = Array2::zeros((n, width));
        l.forward_pre(x.view(), mode, &mut c, &mut pre);
        let mut act = Array2::zeros((n, width));
        l.forward_act(&pre, &mut act);
        (&act * &g).sum()
    };
    // Analytic.
    let mut c = cache.clone();
    let mut pre = Array2::zeros((n, width));
    layer.forward_pre(x.view(), mode, &mut c, &mut pre);
    let mut act = Array2::zeros((n, width));
    layer.forward_act(&pre, &mut act);
    let mut delta = g.clone();
    layer.backward_act(&pre, &act, &mut delta);
    let mut gin = Array2::zeros(x.raw_dim());
    layer.backward_input(x.view(), &delta, &c, &mut gin);
    let mut grads: Vec<ArrayD<f64>> = layer
        .params()
        .iter()
        .map(|p| ArrayD::zeros(p.value.raw_dim()))
        .collect();
    {
        let mut views: Vec<_> = grads.iter_mut().map(|g| g.view_mut()).collect();
        layer.backward_params(x.view(), &delta, &c, &mut views);
    }
    let eps = 1e-6;
    let close = |a: f64, b: f64, what: &str| {
        assert!(
            (a - b).abs() <= 1e-6 * a.abs().max(b.abs()) + 1e-8,
            "{} {what}: analytic {a} vs numeric {b}",
            layer.kind()
        );
    };
    for i in 0..x.len() {
        let mut xp = x.clone();
        let mut xm = x.clone();
        xp.as_slice_mut().unwrap()[i] += eps;
        xm.as_slice_mut().unwrap()[i] -= eps;
        let num = (loss(layer, &xp) - loss(layer, &xm)) / (2.0 * eps);
        close(gin.as_slice().unwrap()[i], num, &format!("input[{i}]"));
    }
    for (p, grad) in grads.iter().enumerate() {
        for i in 0..grad.len() {
            let shifted = |by: f64| {
                let mut l = layer.clone();
                let mut params = l.params_mut();
                params[p].value.as_slice_mut().unwrap()[i] += by;
                drop(params);
                loss(&l, x)
            };
            let num = (shifted(eps) - shifted(-eps)) / (2.0 * eps);
            let name = layer.params()[p].name;
            close(grad.as_slice().unwrap()[i], num, &format!("{name}[{i}]"));
        }
    }
}

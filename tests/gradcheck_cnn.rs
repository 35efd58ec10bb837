//! Proof that gradcheck covers every parameter tensor of every layer kind:
//! on random small CNNs (conv2d with stride and padding, batch norm in
//! training mode with its batch-statistic dependence, max/avg pooling,
//! flatten, dropout with its mask held fixed, dense) the correct backward
//! pass is never flagged, and each convolutional catalogue mistake injected
//! into the engine (`Flawed`) is caught below its layer and named. Source of
//! truth: central finite differences of the loss, which never see the flaw.
//! The injector's forms equal the independent NumPy forms
//! (tests/conv_catalogue_forms.rs).

use ndarray::Array2;
use nn_doctor::config::{GradcheckConfig, Init, LayerConfig, LossKind};
use nn_doctor::engine::activation::Activation;
use nn_doctor::engine::flaw::{Flaw, FlawKind};
use nn_doctor::engine::layers::batch_norm::BatchNormConfig;
use nn_doctor::engine::layers::conv2d::{Conv2dConfig, Padding};
use nn_doctor::engine::layers::dense::DenseConfig;
use nn_doctor::engine::layers::dropout::DropoutConfig;
use nn_doctor::engine::layers::flatten::FlattenConfig;
use nn_doctor::engine::layers::pool2d::{Pool2dConfig, PoolKind};
use nn_doctor::engine::layers::KindConfig;
use nn_doctor::engine::{Layer, Network};
use nn_doctor::gradcheck::analytic::gradients;
use nn_doctor::gradcheck::catalogue::applicable;
use nn_doctor::gradcheck::types::Status;
use nn_doctor::gradcheck::{arch, check_point, Batch};
use nn_doctor::kinds::Shape;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const BATCH: usize = 4;

fn layer(kind: KindConfig, units: usize, activation: Activation) -> LayerConfig {
    LayerConfig {
        kind,
        units,
        activation,
        init: Init::HeNormal,
        bias_init: 0.05,
    }
}

/// A random CNN on [c, 8, 8] images: conv (stride 1 or 2, padding 0-1),
/// batch norm, max or avg pool, a second conv, flatten, dropout, dense.
fn random_cnn(seed: u64) -> (Network<f64>, Array2<f64>, Array2<f64>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let c = rng.random_range(1..=2);
    let act = [Activation::Tanh, Activation::Sigmoid, Activation::Relu][rng.random_range(0..3)];
    let pool = if rng.random_bool(0.5) {
        PoolKind::Max
    } else {
        PoolKind::Avg
    };
    let stride = rng.random_range(1..=2);
    let layers = vec![
        layer(
            KindConfig::Conv2d(Conv2dConfig {
                filters: 3,
                kernel: (3, 3),
                stride: 1,
                padding: Padding::Zeros(1),
            }),
            0,
            act,
        ),
        layer(
            KindConfig::BatchNorm(BatchNormConfig {
                momentum: 0.1,
                eps: 1e-5,
            }),
            0,
            Activation::Linear,
        ),
        layer(
            KindConfig::Pool2d(Pool2dConfig {
                pool,
                size: 2,
                stride: 2,
            }),
            0,
            Activation::Linear,
        ),
        layer(
            KindConfig::Conv2d(Conv2dConfig {
                filters: 2,
                kernel: (2, 2),
                stride,
                padding: Padding::Zeros(rng.random_range(0..=1)),
            }),
            0,
            Activation::Tanh,
        ),
        layer(KindConfig::Flatten(FlattenConfig), 0, Activation::Linear),
        layer(
            KindConfig::Dropout(DropoutConfig { rate: 0.25 }),
            0,
            Activation::Linear,
        ),
        layer(
            KindConfig::Dense(DenseConfig { units: 3 }),
            3,
            Activation::Softmax,
        ),
    ];
    let net = Network::<f64>::init(Shape::Image { c, h: 8, w: 8 }, &layers, seed);
    let x = Array2::from_shape_fn((BATCH, c * 64), |_| rng.random_range(-1.0..1.0));
    let t = Array2::from_shape_fn((BATCH, 3), |(r, k)| f64::from(u8::from(r % 3 == k)));
    (net, x, t)
}

fn settings() -> GradcheckConfig {
    GradcheckConfig::default()
}

#[test]
fn correct_cnn_backprop_is_never_flagged_and_every_kind_is_checked() {
    let s = settings();
    let mut checked_kinds = std::collections::BTreeSet::new();
    let mut nets = 0;
    for seed in 0..12 {
        let (net, x, t) = random_cnn(seed);
        let loss = LossKind::CrossEntropy;
        let r = check_point(&net, Batch { x: &x, t: &t, loss }, &s, "init", None, seed);
        for tr in &r.tensors {
            assert_ne!(tr.status, Status::Fail, "seed {seed}: {tr:?}");
            // Resolved at the point, the probe or by the layer-local check.
            assert_ne!(tr.status, Status::Inconclusive, "seed {seed}: {tr:?}");
            if let Some(l) = tr.layer {
                if tr.status == Status::Pass {
                    checked_kinds.insert(net.layers[l - 1].kind());
                }
            }
        }
        assert!(r.first_wrong.is_none(), "seed {seed}");
        nets += 1;
    }
    println!(
        "false alarms: 0 of {nets} random CNNs, no tensor inconclusive; kinds with passing tensors: {checked_kinds:?}"
    );
    for kind in ["conv2d", "batch_norm", "dense"] {
        assert!(checked_kinds.contains(kind), "{kind} never checked");
    }
}

#[test]
fn every_conv_catalogue_mistake_is_caught_and_named() {
    let s = settings();
    let (mut injected, mut caught, mut named, mut skipped) = (0, 0, 0, 0);
    let mut misses = Vec::new();
    let mut codes = std::collections::BTreeSet::new();
    for seed in 0..12 {
        let (net, x, t) = random_cnn(seed);
        let loss = LossKind::CrossEntropy;
        let a = arch(&net, loss, BATCH);
        for k in 1..=net.layers.len() {
            for entry in applicable(&a, k).filter(|e| matches!(e.kind, FlawKind::Cnn(_))) {
                let flaw = Flaw {
                    kind: entry.kind,
                    layer: k,
                };
                if gradients(&net, &x, &t, loss, Some(&flaw)) == gradients(&net, &x, &t, loss, None)
                {
                    skipped += 1;
                    continue;
                }
                injected += 1;
                codes.insert(entry.code);
                let r = check_point(
                    &net,
                    Batch { x: &x, t: &t, loss },
                    &s,
                    "init",
                    Some(&flaw),
                    7,
                );
                // The wrong input gradient first shows in the nearest layer
                // below with parameters.
                let below = (1..k).rev().find(|&l| net.layers[l - 1].param_count() > 0);
                let f = r.first_wrong.as_ref();
                if f.is_some_and(|f| f.layer == below) {
                    caught += 1;
                    if f.and_then(|f| f.pattern.as_ref())
                        .is_some_and(|p| p.code == entry.code)
                    {
                        named += 1;
                    } else {
                        misses.push(format!(
                            "seed {seed}: {}@{k} named {:?}",
                            entry.code,
                            f.and_then(|f| f.pattern.as_ref()).map(|p| &p.code)
                        ));
                    }
                } else {
                    misses.push(format!(
                        "seed {seed}: {}@{k} -> {:?}",
                        entry.code,
                        f.map(|f| f.layer)
                    ));
                }
            }
        }
    }
    println!("conv catalogue: {caught}/{injected} caught at the layer below, {named}/{injected} named ({skipped} changed no gradient); codes: {codes:?}");
    assert!(misses.is_empty(), "{}", misses.join("\n"));
    assert!(codes.len() >= 8, "{codes:?}");
}

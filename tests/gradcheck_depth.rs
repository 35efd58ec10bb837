//! Gradient checks that resolve at any depth: a whole-network finite
//! difference cannot see the first layer of a deep sigmoid stack (its
//! gradient is ~1e-9 of the loss's scale), at the point or at the probe
//! state; the layer-local check (src/gradcheck/local.rs) can. Source of
//! truth: central finite differences of one layer's forward, f = <U, layer(x)>
//! for a fixed Gaussian U (and the loss for the output layer), which never
//! see an injected flaw; the whole-network direction still checks the
//! composition. Also: finite differences across max-pool ties are kinks,
//! never failures.

use ndarray::Array2;
use nn_doctor::config::{GradcheckConfig, Init, LayerConfig, LossKind};
use nn_doctor::engine::activation::Activation;
use nn_doctor::engine::flaw::Flaw;
use nn_doctor::engine::layers::conv2d::{Conv2dConfig, Padding};
use nn_doctor::engine::layers::dense::DenseConfig;
use nn_doctor::engine::layers::flatten::FlattenConfig;
use nn_doctor::engine::layers::pool2d::{Pool2dConfig, PoolKind};
use nn_doctor::engine::layers::KindConfig;
use nn_doctor::engine::{Layer, Network};
use nn_doctor::gradcheck::analytic::gradients;
use nn_doctor::gradcheck::catalogue::applicable;
use nn_doctor::gradcheck::types::{State, Status, TensorKind};
use nn_doctor::gradcheck::{arch, check_point, Batch, PointResult};
use nn_doctor::kinds::Shape;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const BATCH: usize = 16;
const INPUT: usize = 64;
const CLASSES: usize = 10;

fn dense(units: usize, activation: Activation, bias_init: f64) -> LayerConfig {
    LayerConfig {
        kind: nn_doctor::engine::layers::KindConfig::Dense(
            nn_doctor::engine::layers::dense::DenseConfig { units },
        ),
        units,
        activation,
        init: if activation.is_relu_family() {
            Init::HeNormal
        } else {
            Init::XavierUniform
        },
        bias_init,
    }
}

/// A `depth`-hidden-layer MLP of width 64 with a softmax output, and a
/// fixed batch of inputs in [0, 1) (pixel-like) with one-hot targets.
fn deep_mlp(
    depth: usize,
    act: Activation,
    bias_init: f64,
    seed: u64,
) -> (Network<f64>, Array2<f64>, Array2<f64>) {
    let mut layers: Vec<LayerConfig> = (0..depth).map(|_| dense(64, act, bias_init)).collect();
    layers.push(dense(CLASSES, Activation::Softmax, 0.0));
    let net = Network::<f64>::init(INPUT, &layers, seed);
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0xDA7A);
    let x = Array2::from_shape_fn((BATCH, INPUT), |_| rng.random_range(0.0..1.0));
    let t = Array2::from_shape_fn((BATCH, CLASSES), |(r, k)| {
        f64::from(u8::from(r % CLASSES == k))
    });
    (net, x, t)
}

fn run(net: &Network<f64>, x: &Array2<f64>, t: &Array2<f64>, flaw: Option<&Flaw>) -> PointResult {
    let batch = Batch {
        x,
        t,
        loss: LossKind::CrossEntropy,
    };
    check_point(net, batch, &GradcheckConfig::default(), "init", flaw, 7)
}

/// (inconclusive, failing, decided by the layer-local check) tensors.
fn tally(r: &PointResult) -> (usize, usize, usize) {
    let n = |s: Status| r.tensors.iter().filter(|t| t.status == s).count();
    let local = r
        .tensors
        .iter()
        .filter(|t| matches!(t.verified_at, Some(State::Local | State::LocalProbe)))
        .filter(|t| t.tensor != TensorKind::Input)
        .count();
    (n(Status::Inconclusive), n(Status::Fail), local)
}

#[test]
fn deep_sigmoid_and_tanh_stacks_resolve_every_tensor_without_a_false_alarm() {
    for (depth, act) in [
        (8, Activation::Sigmoid),
        (16, Activation::Sigmoid),
        (32, Activation::Sigmoid),
        (8, Activation::Tanh),
        (32, Activation::Tanh),
    ] {
        for seed in [1, 2] {
            let (net, x, t) = deep_mlp(depth, act, 0.0, seed);
            let r = run(&net, &x, &t, None);
            let (inconclusive, fail, local) = tally(&r);
            println!("{depth} x {act}, seed {seed}: {} tensors, {inconclusive} inconclusive, {fail} failing, {local} decided locally", r.tensors.len());
            assert_eq!(
                (inconclusive, fail),
                (0, 0),
                "{depth} x {act}, seed {seed}: {:#?}",
                r.tensors
                    .iter()
                    .filter(|t| t.status != Status::Pass)
                    .collect::<Vec<_>>()
            );
            assert!(r.first_wrong.is_none());
            // Every parameter tensor has a verdict, and the deep ones
            // needed the local check (the point and probe cannot see them).
            let params = r
                .tensors
                .iter()
                .filter(|t| matches!(t.tensor, TensorKind::Weight | TensorKind::Bias))
                .count();
            assert_eq!(params, 2 * (depth + 1));
            if act == Activation::Sigmoid && depth >= 8 {
                assert!(
                    local > 0,
                    "{depth}: the whole-network checks alone resolved everything"
                );
            }
        }
    }
}

#[test]
fn every_catalogue_mistake_in_a_deep_sigmoid_stack_is_caught_at_its_layer_and_named() {
    catalogue_in_deep_stacks(
        &[(8, (1..=9).collect()), (32, vec![1, 2, 3, 16, 31, 32, 33])],
        60,
    );
}

/// Every layer of the 32-layer stack too (a few minutes):
/// `cargo test --release --test gradcheck_depth -- --ignored --nocapture`.
#[test]
#[ignore = "measurement: every layer of a 32-layer stack"]
fn every_catalogue_mistake_at_every_layer_of_a_32_layer_stack() {
    catalogue_in_deep_stacks(&[(32, (1..=33).collect())], 250);
}

fn catalogue_in_deep_stacks(cases: &[(usize, Vec<usize>)], at_least: usize) {
    let (mut injected, mut caught, mut named) = (0, 0, 0);
    let mut misses = Vec::new();
    for (depth, layers_to_try) in cases.iter().cloned() {
        let (net, x, t) = deep_mlp(depth, Activation::Sigmoid, 0.0, 3);
        let a = arch(&net, LossKind::CrossEntropy, BATCH);
        for &layer in &layers_to_try {
            for entry in applicable(&a, layer) {
                let flaw = Flaw {
                    kind: entry.kind,
                    layer,
                };
                if gradients(&net, &x, &t, LossKind::CrossEntropy, Some(&flaw))
                    == gradients(&net, &x, &t, LossKind::CrossEntropy, None)
                {
                    continue;
                }
                injected += 1;
                let r = run(&net, &x, &t, Some(&flaw));
                let f = r.first_wrong.as_ref();
                let want = if entry.kind == nn_doctor::engine::flaw::FlawKind::BiasGradientWrongAxis
                {
                    TensorKind::Bias
                } else {
                    TensorKind::Weight
                };
                if f.is_some_and(|f| f.layer == Some(layer) && f.tensor == want) {
                    caught += 1;
                    if f.and_then(|f| f.pattern.as_ref())
                        .is_some_and(|p| p.code == entry.code)
                    {
                        named += 1;
                    } else {
                        misses.push(format!(
                            "{depth}: {} @{layer} caught, named {:?}",
                            entry.code,
                            f.and_then(|f| f.pattern.as_ref()).map(|p| p.code.clone())
                        ));
                    }
                } else {
                    misses.push(format!(
                        "{depth}: {} @{layer} -> {:?}",
                        entry.code,
                        f.map(|f| (f.layer, f.tensor, f.message.clone()))
                    ));
                }
            }
        }
    }
    println!("deep sigmoid stacks: {caught}/{injected} caught at their layer and tensor, {named}/{injected} named");
    assert!(injected >= at_least, "only {injected} injections");
    assert!(
        misses.is_empty(),
        "{} misses:\n{}",
        misses.len(),
        misses.join("\n")
    );
}

#[test]
fn a_deep_relu_stack_sitting_on_its_kinks_is_never_flagged_and_resolves() {
    for seed in [4, 5, 6] {
        // Zero biases and inputs of both signs around 0: many pre-activations
        // sit within a finite difference of their kink.
        let (net, mut x, t) = deep_mlp(20, Activation::Relu, 0.0, seed);
        x.mapv_inplace(|v| (v - 0.5) * 1e-3);
        let r = run(&net, &x, &t, None);
        let (inconclusive, fail, local) = tally(&r);
        let kinks: usize = r.tensors.iter().map(|t| t.kinks).sum();
        println!("20 x relu, seed {seed}: {inconclusive} inconclusive, {fail} failing, {local} decided locally, {kinks} kink rows");
        assert_eq!((inconclusive, fail), (0, 0), "seed {seed}");
    }
}

/// A CNN with linear convolutions and max pooling on inputs full of equal
/// values (a binary image), so pooling windows hold ties.
fn tied_cnn(seed: u64) -> (Network<f64>, Array2<f64>, Array2<f64>) {
    let cfg = |kind, units, activation| LayerConfig {
        kind,
        units,
        activation,
        init: Init::XavierUniform,
        bias_init: 0.0,
    };
    let layers = vec![
        cfg(
            KindConfig::Conv2d(Conv2dConfig {
                filters: 3,
                kernel: (1, 1),
                stride: 1,
                padding: Padding::Zeros(0),
            }),
            0,
            Activation::Linear,
        ),
        cfg(
            KindConfig::Pool2d(Pool2dConfig {
                pool: PoolKind::Max,
                size: 2,
                stride: 2,
            }),
            0,
            Activation::Linear,
        ),
        cfg(
            KindConfig::Conv2d(Conv2dConfig {
                filters: 2,
                kernel: (3, 3),
                stride: 1,
                padding: Padding::Zeros(1),
            }),
            0,
            Activation::Linear,
        ),
        cfg(
            KindConfig::Pool2d(Pool2dConfig {
                pool: PoolKind::Max,
                size: 2,
                stride: 2,
            }),
            0,
            Activation::Linear,
        ),
        cfg(KindConfig::Flatten(FlattenConfig), 0, Activation::Linear),
        cfg(
            KindConfig::Dense(DenseConfig { units: 3 }),
            3,
            Activation::Softmax,
        ),
    ];
    let mut net = Network::<f64>::init(Shape::Image { c: 2, h: 8, w: 8 }, &layers, seed);
    // Each filter of the first convolution weighs both channels alike, so
    // a pixel (1, 0) and a pixel (0, 1) in one pooling window tie exactly,
    // and perturbing one channel's weight breaks the tie either way.
    if let Some(w) = net.layers[0].params_mut().into_iter().next() {
        let mut w = w.value;
        for (f, mut filter) in w.outer_iter_mut().enumerate() {
            filter.fill(0.3 + 0.2 * f as f64);
        }
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let x = Array2::from_shape_fn((6, 2 * 64), |_| f64::from(u8::from(rng.random_bool(0.4))));
    let t = Array2::from_shape_fn((6, 3), |(r, k)| f64::from(u8::from(r % 3 == k)));
    (net, x, t)
}

#[test]
fn max_pool_ties_are_kinks_never_a_gradient_mismatch() {
    let mut crossed = 0;
    for seed in 1..=6 {
        let (net, x, t) = tied_cnn(seed);
        let r = run(&net, &x, &t, None);
        let (inconclusive, fail, _) = tally(&r);
        assert_eq!(fail, 0, "seed {seed}: {:?}", r.first_wrong);
        assert_eq!(
            inconclusive,
            0,
            "seed {seed}: {:#?}",
            r.tensors
                .iter()
                .filter(|t| t.status != Status::Pass)
                .collect::<Vec<_>>()
        );
        // A kink row whose numbers disagree is a difference that crossed a
        // tie: judged, it would have been a false failure.
        crossed += r
            .rows
            .iter()
            .filter(|row| row.kink && row.rel_error > 0.1)
            .count();
    }
    assert!(
        crossed > 0,
        "no difference crossed a tie: the test shows nothing"
    );
}

#[test]
fn a_saturated_deep_stack_is_decided_at_its_point_by_complex_step() {
    // Weights uniform in [0, 1): every sigmoid pinned (|z| ~ 16-30), the
    // seed network's mistake at depth 8. Neither whole-network check nor a
    // central difference of one layer can see those slopes at the point;
    // the complex step can.
    let u01 = Init::Uniform {
        low: 0.0,
        high: 1.0,
    };
    let mut layers: Vec<LayerConfig> = (0..8)
        .map(|_| LayerConfig {
            init: u01,
            ..dense(64, Activation::Sigmoid, 0.0)
        })
        .collect();
    layers.push(LayerConfig {
        init: u01,
        ..dense(CLASSES, Activation::Softmax, 0.0)
    });
    let net = Network::<f64>::init(INPUT, &layers, 8);
    let (_, x, t) = deep_mlp(1, Activation::Sigmoid, 0.0, 8);
    let r = run(&net, &x, &t, None);
    let (inconclusive, fail, _) = tally(&r);
    let exact = r
        .tensors
        .iter()
        .filter(|t| t.verified_at == Some(State::LocalComplexStep))
        .count();
    println!("saturated 8 x sigmoid: {inconclusive} inconclusive, {fail} failing, {exact} decided by complex step");
    assert_eq!(
        (inconclusive, fail),
        (0, 0),
        "{:#?}",
        r.tensors
            .iter()
            .filter(|t| t.status != Status::Pass)
            .collect::<Vec<_>>()
    );
    assert!(exact > 0, "complex step decided nothing");
    // And a mistake there is still caught at its layer.
    let flaw = Flaw {
        kind: nn_doctor::engine::flaw::FlawKind::SignFlipped,
        layer: 2,
    };
    let r = run(&net, &x, &t, Some(&flaw));
    let f = r.first_wrong.expect("caught");
    assert_eq!(
        (f.layer, f.tensor),
        (Some(2), TensorKind::Weight),
        "{}",
        f.message
    );
    assert_eq!(f.pattern.map(|p| p.code).as_deref(), Some("sign-flipped"));
}

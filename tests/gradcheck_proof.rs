//! Proof that the gradient checker works: every catalogue mistake, injected
//! into the engine's backward pass, is caught at the right layer and tensor
//! and named; the correct backward pass is never flagged, on random
//! architectures trained in f32 and f64, including ReLU units sitting on a
//! kink. Source of truth: central finite differences of the loss (the
//! checker's numeric side), which never see the injected flaw.

use ndarray::Array2;
use nn_doctor::config::{GradcheckConfig, Init, LayerConfig, LossKind, OptimizerConfig};
use nn_doctor::data::one_hot;
use nn_doctor::engine::activation::Activation;
use nn_doctor::engine::flaw::{Flaw, FlawKind};
use nn_doctor::engine::optim::Optimizer;
use nn_doctor::engine::train::{train, Plan, Split};
use nn_doctor::engine::{Float, Layer, Network};
use nn_doctor::gradcheck::analytic::gradients;
use nn_doctor::gradcheck::catalogue::{applicable, CATALOGUE};
use nn_doctor::gradcheck::types::TensorKind;
use nn_doctor::gradcheck::{arch, check_point, Batch};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const BATCH: usize = 6;

struct Case {
    layers: Vec<LayerConfig>,
    input: usize,
    loss: LossKind,
    x: Array2<f64>,
    labels: Vec<usize>,
}

fn layer(units: usize, activation: Activation) -> LayerConfig {
    let init = if activation.is_relu_family() {
        Init::HeNormal
    } else {
        Init::XavierUniform
    };
    LayerConfig {
        kind: nn_doctor::engine::layers::KindConfig::Dense(
            nn_doctor::engine::layers::dense::DenseConfig { units },
        ),
        units,
        activation,
        init,
        bias_init: 0.05,
    }
}

fn case(
    hidden: &[(usize, Activation)],
    output: Activation,
    classes: usize,
    loss: LossKind,
    seed: u64,
) -> Case {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let input = 3;
    let x = Array2::from_shape_fn((BATCH * 4, input), |_| rng.random_range(-1.5..1.5));
    let labels = (0..BATCH * 4).map(|i| i % classes).collect();
    let mut layers: Vec<LayerConfig> = hidden.iter().map(|&(u, a)| layer(u, a)).collect();
    layers.push(layer(classes, output));
    Case {
        layers,
        input,
        loss,
        x,
        labels,
    }
}

/// Trains `steps` steps in precision F and returns the f64 copy.
fn trained<F: Float>(c: &Case, steps: usize, seed: u64) -> Network<f64> {
    let mut net = Network::<F>::init(c.input, &c.layers, seed);
    if steps > 0 {
        let classes = c.layers.last().unwrap().units;
        let split = Split::<F> {
            x: c.x.mapv(F::of),
            targets: one_hot(&c.labels, classes).mapv(F::of),
            labels: c.labels.clone(),
        };
        let mut opt = Optimizer::for_layers(
            OptimizerConfig::Adam {
                beta1: 0.9,
                beta2: 0.999,
                eps: 1e-8,
            },
            0.01,
            &net.layers,
        );
        let plan = Plan {
            steps,
            batch_size: BATCH,
            loss: c.loss,
            clip_grad_norm: None,
            eval_every: usize::MAX,
            seed,
            flaw: None,
        };
        train(
            &mut net,
            &mut opt,
            &split,
            None,
            &plan,
            &mut [],
            &mut |_, _| {},
        )
        .unwrap();
    }
    net.cast::<f64>()
}

fn fixed_batch(c: &Case) -> (Array2<f64>, Array2<f64>) {
    let classes = c.layers.last().unwrap().units;
    let x = c.x.slice(ndarray::s![..BATCH, ..]).to_owned();
    (x, one_hot(&c.labels[..BATCH], classes))
}

fn settings() -> GradcheckConfig {
    GradcheckConfig {
        samples_per_tensor: 8,
        directions: 2,
        ..GradcheckConfig::default()
    }
}

/// Architectures for the catch-rate test: depths 1 to 4, sigmoid / tanh /
/// relu hidden layers, softmax / sigmoid / linear outputs, mse and
/// cross-entropy. Widths of 3 and 4 keep every element checked.
fn catch_cases() -> Vec<Case> {
    use Activation::*;
    vec![
        case(&[], Softmax, 3, LossKind::Mse, 1),
        case(&[], Sigmoid, 2, LossKind::CrossEntropy, 2),
        case(&[(4, Sigmoid)], Softmax, 3, LossKind::Mse, 3),
        case(&[(4, Tanh)], Softmax, 3, LossKind::CrossEntropy, 4),
        case(&[(4, Relu)], Linear, 3, LossKind::Mse, 5),
        case(&[(4, Tanh), (3, Sigmoid)], Sigmoid, 2, LossKind::Mse, 6),
        case(
            &[(4, Relu), (4, Tanh)],
            Softmax,
            3,
            LossKind::CrossEntropy,
            7,
        ),
        case(
            &[(4, Sigmoid), (3, Relu), (4, Tanh)],
            Softmax,
            3,
            LossKind::Mse,
            8,
        ),
        case(
            &[(3, Tanh), (4, Relu), (3, Sigmoid)],
            Sigmoid,
            2,
            LossKind::CrossEntropy,
            9,
        ),
    ]
}

fn expected_tensor(kind: FlawKind) -> TensorKind {
    if kind == FlawKind::BiasGradientWrongAxis {
        TensorKind::Bias
    } else {
        TensorKind::Weight
    }
}

#[test]
fn every_catalogue_mistake_is_caught_at_its_layer_and_named() {
    let s = settings();
    let (mut injected, mut caught, mut named, mut unobservable) = (0, 0, 0, 0);
    let mut misses = Vec::new();
    for (i, c) in catch_cases().iter().enumerate() {
        for (f64_training, steps) in [(true, 0), (false, 5)] {
            let net = if f64_training {
                trained::<f64>(c, steps, i as u64)
            } else {
                trained::<f32>(c, steps, i as u64)
            };
            let (x, t) = fixed_batch(c);
            let a = arch(&net, c.loss, BATCH);
            for layer in 1..=net.layers.len() {
                for entry in applicable(&a, layer) {
                    let flaw = Flaw {
                        kind: entry.kind,
                        layer,
                    };
                    // A mistake that changes no gradient on this batch (a
                    // missing relu' where every unit is active) is no bug here.
                    if gradients(&net, &x, &t, c.loss, Some(&flaw))
                        == gradients(&net, &x, &t, c.loss, None)
                    {
                        unobservable += 1;
                        continue;
                    }
                    injected += 1;
                    let r = check_point(
                        &net,
                        Batch {
                            x: &x,
                            t: &t,
                            loss: c.loss,
                        },
                        &s,
                        "init",
                        Some(&flaw),
                        7,
                    );
                    let f = r.first_wrong.as_ref();
                    let at_place = f.is_some_and(|f| {
                        f.layer == Some(layer) && f.tensor == expected_tensor(entry.kind)
                    });
                    if at_place {
                        caught += 1;
                        if f.and_then(|f| f.pattern.as_ref())
                            .is_some_and(|p| p.code == entry.code)
                        {
                            named += 1;
                        } else {
                            misses.push(format!(
                                "case {i}: {} @{layer} caught but named {:?}",
                                entry.code,
                                f.and_then(|f| f.pattern.as_ref()).map(|p| &p.code)
                            ));
                        }
                    } else {
                        misses.push(format!(
                            "case {i} (f64 {f64_training}): {} @{layer} -> {:?}",
                            entry.code,
                            f.map(|f| (f.layer, f.tensor))
                        ));
                    }
                }
            }
        }
    }
    println!("catalogue catch rate: {caught}/{injected} at the right layer and tensor, {named}/{injected} named ({unobservable} injections changed no gradient and were skipped)");
    assert!(injected >= 100, "only {injected} injections");
    assert!(
        misses.is_empty(),
        "{} misses:\n{}",
        misses.len(),
        misses.join("\n")
    );
    // Every dense catalogue entry was exercised somewhere (the
    // convolutional ones on CNNs: tests/gradcheck_cnn.rs).
    for e in CATALOGUE
        .iter()
        .filter(|e| !matches!(e.kind, nn_doctor::engine::flaw::FlawKind::Cnn(_)))
    {
        assert!(
            catch_cases().iter().any(|c| {
                let net = trained::<f64>(c, 0, 0);
                (1..=net.layers.len()).any(|l| e.shows(&arch(&net, c.loss, BATCH), l))
            }),
            "{} never applies",
            e.code
        );
    }
}

#[test]
fn correct_backprop_is_never_flagged_on_random_architectures() {
    let s = settings();
    let hidden_acts = [
        Activation::Sigmoid,
        Activation::Tanh,
        Activation::Relu,
        Activation::LeakyRelu,
        Activation::Elu,
        Activation::Softplus,
        Activation::Linear,
    ];
    let mut rng = ChaCha8Rng::seed_from_u64(2024);
    let (mut nets, mut kinks) = (0, 0);
    for seed in 0..60u64 {
        let depth = rng.random_range(0..4);
        let hidden: Vec<(usize, Activation)> = (0..depth)
            .map(|_| {
                (
                    rng.random_range(2..9),
                    hidden_acts[rng.random_range(0..hidden_acts.len())],
                )
            })
            .collect();
        let (output, loss) = match rng.random_range(0..4) {
            0 => (Activation::Softmax, LossKind::CrossEntropy),
            1 => (Activation::Sigmoid, LossKind::CrossEntropy),
            2 => (Activation::Softmax, LossKind::Mse),
            _ => (Activation::Linear, LossKind::Mse),
        };
        let classes = rng.random_range(2..5);
        let c = case(&hidden, output, classes, loss, seed);
        let steps = rng.random_range(0..30);
        let mut net = if seed % 2 == 0 {
            trained::<f64>(&c, steps, seed)
        } else {
            trained::<f32>(&c, steps, seed)
        };
        let (x, t) = fixed_batch(&c);
        // Put a ReLU-family unit exactly on its kink for sample 0: shift its
        // bias so that z = 1e-9, inside +-epsilon of any weight change.
        if let Some(l) = net
            .layers
            .iter()
            .position(|l| l.activation().is_relu_family())
        {
            let (pre, _) = Network {
                layers: net.layers[..=l].to_vec(),
            }
            .predict(x.view());
            net.layers[l].as_dense_mut().unwrap().bias[0] -= pre[[0, 0]] - 1e-9;
        }
        let r = check_point(&net, Batch { x: &x, t: &t, loss }, &s, "init", None, seed);
        nets += 1;
        kinks += r.tensors.iter().map(|t| t.kinks).sum::<usize>();
        assert!(
            r.tensors.iter().all(|t| t.passed),
            "false alarm on seed {seed} ({hidden:?} -> {output:?}/{loss:?}): {:?}",
            r.first_wrong
        );
    }
    println!("false alarms: 0 of {nets} random networks ({kinks} kink checks excluded)");
    assert!(nets >= 50);
}

/// The losses added for regression and binary tasks go through the same
/// checker: the engine's backward pass for each of them agrees with central
/// differences of the loss it trains, trained or not, in f32 and f64.
#[test]
fn correct_backprop_is_never_flagged_for_every_loss() {
    let s = settings();
    let pairs = [
        (Activation::Sigmoid, LossKind::BinaryCrossEntropy),
        (Activation::Linear, LossKind::Mae),
        (Activation::Tanh, LossKind::Mae),
        (Activation::Linear, LossKind::Huber { delta: 1.0 }),
        (Activation::Sigmoid, LossKind::Huber { delta: 0.2 }),
    ];
    let mut nets = 0;
    for (i, &(output, loss)) in pairs.iter().enumerate() {
        for seed in 0..6u64 {
            let c = case(
                &[(5, Activation::Tanh), (4, Activation::Sigmoid)],
                output,
                2 + (seed as usize) % 2,
                loss,
                100 + 10 * i as u64 + seed,
            );
            let net = if seed % 2 == 0 {
                trained::<f64>(&c, 20, seed)
            } else {
                trained::<f32>(&c, 5, seed)
            };
            let (x, t) = fixed_batch(&c);
            let r = check_point(&net, Batch { x: &x, t: &t, loss }, &s, "init", None, seed);
            nets += 1;
            assert!(
                r.tensors.iter().all(|t| t.passed),
                "false alarm on {output:?}/{loss:?} seed {seed}: {:?}",
                r.first_wrong
            );
        }
    }
    assert_eq!(nets, 30);
}

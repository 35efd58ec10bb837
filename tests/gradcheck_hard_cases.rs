//! Proof that gradient checks catch bugs in exactly the networks that
//! misbehave (issue 8): the seed network (saturated sigmoid layer, layer-1
//! gradients of 1e-11 to 1e-25) and a 300-unit variant, against a
//! well-conditioned twin of each; saturated, dead-ReLU and tiny-init
//! networks at widths of 256 and more with the default sampling; and a
//! network whose every ReLU sits on a kink. Source of truth: central finite
//! differences of the loss (the checker's numeric side never sees the
//! injected flaw), and the rule that a tensor with no resolved comparison
//! is never a pass.

use ndarray::{s, Array2};
use nn_doctor::config::{GradcheckConfig, Init, LayerConfig, LossKind};
use nn_doctor::data::one_hot;
use nn_doctor::engine::activation::Activation;
use nn_doctor::engine::flaw::{Flaw, FlawKind};
use nn_doctor::engine::Network;
use nn_doctor::gradcheck::analytic::gradients;
use nn_doctor::gradcheck::catalogue::applicable;
use nn_doctor::gradcheck::types::{State, Status, TensorKind};
use nn_doctor::gradcheck::{arch, check_point, Batch, PointResult};
use nn_doctor::prepare::load_inputs;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A network and its fixed check batch.
struct Net {
    name: String,
    net: Network<f64>,
    x: Array2<f64>,
    t: Array2<f64>,
    loss: LossKind,
}

fn expected_tensor(kind: FlawKind) -> TensorKind {
    if kind == FlawKind::BiasGradientWrongAxis {
        TensorKind::Bias
    } else {
        TensorKind::Weight
    }
}

/// No tensor may pass on zero resolved comparisons.
fn assert_no_blind_pass(r: &PointResult, what: &str) {
    for t in &r.tensors {
        assert!(
            t.status != Status::Pass || t.resolved > 0,
            "{what}: {t:?} passed with no resolved row"
        );
        assert_eq!(t.passed, t.status == Status::Pass);
    }
}

/// Outcome of one injection.
#[derive(Debug, Clone, PartialEq)]
struct Outcome {
    /// First wrong tensor at the injected layer and expected tensor.
    caught: bool,
    named: bool,
    /// The verdict came from the probe state.
    at_probe: bool,
}

fn inject(n: &Net, flaw: Flaw, s: &GradcheckConfig) -> Outcome {
    let r = check_point(
        &n.net,
        Batch {
            x: &n.x,
            t: &n.t,
            loss: n.loss,
        },
        s,
        "init",
        Some(&flaw),
        11,
    );
    assert_no_blind_pass(&r, &n.name);
    let f = r.first_wrong.as_ref();
    let caught =
        f.is_some_and(|f| f.layer == Some(flaw.layer) && f.tensor == expected_tensor(flaw.kind));
    let code = nn_doctor::gradcheck::catalogue::CATALOGUE
        .iter()
        .find(|e| e.kind == flaw.kind)
        .map(|e| e.code);
    let named = caught && f.and_then(|f| f.pattern.as_ref()).map(|p| p.code.as_str()) == code;
    let at_probe = r.tensors.iter().any(|t| {
        t.layer == Some(flaw.layer)
            && t.tensor == expected_tensor(flaw.kind)
            && t.verified_at == Some(State::Probe)
    });
    Outcome {
        caught,
        named,
        at_probe,
    }
}

/// Whether the flaw changes any gradient of `n` at all.
fn observable(n: &Net, flaw: &Flaw) -> bool {
    gradients(&n.net, &n.x, &n.t, n.loss, Some(flaw)) != gradients(&n.net, &n.x, &n.t, n.loss, None)
}

/// Every applicable catalogue injection at every layer.
fn injections(n: &Net) -> Vec<Flaw> {
    let a = arch(&n.net, n.loss, n.x.nrows());
    (1..=n.net.layers.len())
        .flat_map(|layer| {
            applicable(&a, layer)
                .map(move |e| Flaw {
                    kind: e.kind,
                    layer,
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The seed config's network and its first 16 training samples, with the
/// hidden width replaced by `hidden`; and its well-conditioned twin (same
/// layers, xavier init, the same unit-scaled inputs).
fn seed_pair(hidden: usize) -> (Net, Net) {
    let (cfg, data) = load_inputs(&std::path::PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/configs/seed.toml"
    )))
    .expect("seed config loads");
    let mut layers = cfg.model.layers.clone();
    layers[0].units = hidden;
    let x = data.train.features.slice(s![..16, ..]).to_owned();
    let t = one_hot(&data.train.labels[..16], data.classes);
    let twin_layers: Vec<LayerConfig> = layers
        .iter()
        .map(|l| LayerConfig {
            kind: nn_doctor::engine::layers::KindConfig::Dense(
                nn_doctor::engine::layers::dense::DenseConfig { units: l.units },
            ),
            init: Init::XavierUniform,
            bias_init: 0.0,
            ..l.clone()
        })
        .collect();
    let original = Net {
        name: format!("seed {hidden}"),
        net: Network::init(784, &layers, cfg.seed),
        x: x.clone(),
        t: t.clone(),
        loss: cfg.train.loss,
    };
    let twin = Net {
        name: format!("twin {hidden}"),
        net: Network::init(784, &twin_layers, cfg.seed),
        x,
        t,
        loss: cfg.train.loss,
    };
    (original, twin)
}

#[test]
fn the_seed_network_catches_what_its_well_conditioned_twin_catches() {
    let s = GradcheckConfig::default();
    for hidden in [1000, 300] {
        let (original, twin) = seed_pair(hidden);
        // The seed's defect: layer-1 gradients below what a difference sees.
        let clean = check_point(
            &original.net,
            Batch {
                x: &original.x,
                t: &original.t,
                loss: original.loss,
            },
            &s,
            "init",
            None,
            11,
        );
        assert_no_blind_pass(&clean, &original.name);
        assert_eq!(clean.first_wrong, None, "{}: false alarm", original.name);
        let layer1 = &clean.tensors[0];
        assert_eq!(layer1.reason.as_deref(), Some("below-resolution"));
        assert_eq!(layer1.verified_at, Some(State::Probe));
        let (mut on_twin, mut on_original, mut named, mut probe) = (0, 0, 0, 0);
        let mut misses = Vec::new();
        for flaw in injections(&twin) {
            let t = inject(&twin, flaw, &s);
            if !t.caught {
                continue;
            }
            on_twin += 1;
            let o = inject(&original, flaw, &s);
            if o.caught {
                on_original += 1;
                named += usize::from(o.named);
                probe += usize::from(o.at_probe);
            } else {
                misses.push(format!("{:?}", flaw));
            }
        }
        println!(
            "seed network, hidden {hidden}: {on_original}/{on_twin} injections caught on the twin are caught on the original at the same layer ({probe} decided at the probe state), {named}/{on_twin} named"
        );
        assert!(on_twin >= 12, "{on_twin}");
        assert!(misses.is_empty(), "missed on the original: {misses:?}");
    }
}

fn dense(units: usize, activation: Activation, init: Init, bias_init: f64) -> LayerConfig {
    LayerConfig {
        kind: nn_doctor::engine::layers::KindConfig::Dense(
            nn_doctor::engine::layers::dense::DenseConfig { units },
        ),
        units,
        activation,
        init,
        bias_init,
    }
}

fn batch(
    rows: usize,
    cols: usize,
    classes: usize,
    seed: u64,
    lo: f64,
    hi: f64,
) -> (Array2<f64>, Array2<f64>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let x = Array2::from_shape_fn((rows, cols), |_| rng.random_range(lo..hi));
    let labels: Vec<usize> = (0..rows).map(|i| i % classes).collect();
    (x, one_hot(&labels, classes))
}

/// Networks that misbehave, at realistic widths (>= 256 units), checked
/// with the default sampling (8 random + 4 largest elements per tensor).
fn hard_cases() -> Vec<Net> {
    use Activation::*;
    let (x01, t4) = batch(16, 32, 4, 1, 0.0, 1.0);
    let (xs, t5) = batch(16, 32, 5, 2, -1.5, 1.5);
    let make = |name: &str, layers: Vec<LayerConfig>, x: &Array2<f64>, t: &Array2<f64>, loss| Net {
        name: name.to_string(),
        net: Network::init(32, &layers, 5),
        x: x.clone(),
        t: t.clone(),
        loss,
    };
    let uniform01 = Init::Uniform {
        low: 0.0,
        high: 1.0,
    };
    vec![
        make(
            "saturated sigmoid/tanh 256-256",
            vec![
                dense(256, Sigmoid, uniform01, 0.0),
                dense(256, Tanh, uniform01, 0.0),
                dense(4, Softmax, uniform01, 0.0),
            ],
            &x01,
            &t4,
            LossKind::Mse,
        ),
        make(
            "mostly dead relu 300-256",
            vec![
                dense(300, Relu, Init::HeNormal, -1.5),
                dense(256, Relu, Init::HeNormal, -0.2),
                dense(5, Softmax, Init::XavierUniform, 0.0),
            ],
            &xs,
            &t5,
            LossKind::CrossEntropy,
        ),
        make(
            "fully dead relu layer 2, 300-256",
            vec![
                dense(300, Relu, Init::HeNormal, -2.0),
                dense(256, Relu, Init::HeNormal, -1.5),
                dense(5, Softmax, Init::XavierUniform, 0.0),
            ],
            &xs,
            &t5,
            LossKind::CrossEntropy,
        ),
        make(
            "tiny init tanh 256-256",
            vec![
                dense(256, Tanh, Init::Normal { std: 1e-7 }, 0.0),
                dense(256, Tanh, Init::Normal { std: 1e-7 }, 0.0),
                dense(5, Softmax, Init::Normal { std: 1e-7 }, 0.0),
            ],
            &xs,
            &t5,
            LossKind::CrossEntropy,
        ),
        make(
            "healthy relu/sigmoid 512-256",
            vec![
                dense(512, Relu, Init::HeNormal, 0.0),
                dense(256, Sigmoid, Init::XavierUniform, 0.0),
                dense(5, Softmax, Init::XavierUniform, 0.0),
            ],
            &xs,
            &t5,
            LossKind::Mse,
        ),
    ]
}

#[test]
fn saturated_dead_and_tiny_networks_at_realistic_widths_catch_every_injection() {
    let s = GradcheckConfig::default();
    let (mut total, mut caught, mut named, mut probe, mut skipped) = (0, 0, 0, 0, 0);
    let mut misses = Vec::new();
    for n in hard_cases() {
        let clean = check_point(
            &n.net,
            Batch {
                x: &n.x,
                t: &n.t,
                loss: n.loss,
            },
            &s,
            "init",
            None,
            3,
        );
        assert_no_blind_pass(&clean, &n.name);
        assert!(
            clean.tensors.iter().all(|t| t.status == Status::Pass),
            "{}: clean backward not passed: {:?}",
            n.name,
            clean.tensors
        );
        let (mut c, mut m, mut p, mut k, mut u) = (0, 0, 0, 0, 0);
        for flaw in injections(&n) {
            if !observable(&n, &flaw) {
                u += 1;
                continue;
            }
            k += 1;
            let o = inject(&n, flaw, &s);
            if o.caught {
                c += 1;
                m += usize::from(o.named);
                p += usize::from(o.at_probe);
            } else {
                misses.push(format!("{}: {:?}", n.name, flaw));
            }
        }
        println!(
            "{}: {c}/{k} caught at the right layer ({p} decided at the probe state), {m}/{k} named ({u} changed no gradient)",
            n.name
        );
        skipped += u;
        total += k;
        caught += c;
        named += m;
        probe += p;
    }
    println!(
        "hard cases at widths >= 256, default sampling: {caught}/{total} caught, {named}/{total} named, {probe} decided at the probe state ({skipped} injections changed no gradient)"
    );
    assert!(total >= 40, "{total}");
    assert!(
        misses.is_empty(),
        "{} missed:\n{}",
        misses.len(),
        misses.join("\n")
    );
}

/// Every hidden ReLU input exactly 0 (zero hidden weights and biases), so
/// every perturbation of the first layer crosses the kink.
fn all_on_kinks() -> Net {
    let (x, t) = batch(8, 6, 3, 9, -1.0, 1.0);
    let mut net = Network::init(
        6,
        &[
            dense(5, Activation::Relu, Init::Zeros, 0.0),
            dense(3, Activation::Softmax, Init::XavierUniform, 0.0),
        ],
        4,
    );
    net.layers[1].as_dense_mut().unwrap().bias.fill(0.1);
    Net {
        name: "all relus on kinks".into(),
        net,
        x,
        t,
        loss: LossKind::CrossEntropy,
    }
}

#[test]
fn a_bug_under_relus_on_their_kinks_is_inconclusive_at_the_point_then_caught_at_the_probe() {
    let s = GradcheckConfig::default();
    let n = all_on_kinks();
    let b = Batch {
        x: &n.x,
        t: &n.t,
        loss: n.loss,
    };
    let clean = check_point(&n.net, b, &s, "init", None, 1);
    assert_no_blind_pass(&clean, &n.name);
    let layer1 = |r: &PointResult, kind| {
        r.tensors
            .iter()
            .find(|t| t.layer == Some(1) && t.tensor == kind)
            .cloned()
            .expect("layer 1 checked")
    };
    for kind in [TensorKind::Weight, TensorKind::Bias] {
        let t = layer1(&clean, kind);
        assert_eq!(t.reason.as_deref(), Some("all-kinks"), "{t:?}");
        assert_eq!(
            (t.status, t.verified_at),
            (Status::Pass, Some(State::Probe))
        );
        // Every comparison at the point was a kink.
        assert!(clean
            .rows
            .iter()
            .filter(|r| r.layer == Some(1) && r.tensor == kind && r.state == State::Point)
            .all(|r| r.kink && !r.passed));
    }
    for kind in [
        FlawKind::SignFlipped,
        FlawKind::BatchSumNotMean,
        FlawKind::MissingActivationDerivative,
    ] {
        let flaw = Flaw { kind, layer: 1 };
        let r = check_point(&n.net, b, &s, "init", Some(&flaw), 1);
        assert_no_blind_pass(&r, &n.name);
        let t = layer1(&r, TensorKind::Weight);
        assert_eq!(t.reason.as_deref(), Some("all-kinks"), "{kind:?}");
        assert_eq!(
            (t.status, t.verified_at),
            (Status::Fail, Some(State::Probe)),
            "{kind:?}"
        );
        let f = r.first_wrong.expect("caught");
        assert_eq!((f.layer, f.tensor), (Some(1), TensorKind::Weight));
    }
}

/// Without a probe-state fallback the rule still holds: the old blind
/// pass (every row of layer 1 "within atol") is now inconclusive.
#[test]
fn the_issue_rows_are_not_a_pass_at_the_point() {
    let (original, _) = seed_pair(1000);
    let flaw = Flaw {
        kind: FlawKind::SignFlipped,
        layer: 1,
    };
    let r = check_point(
        &original.net,
        Batch {
            x: &original.x,
            t: &original.t,
            loss: original.loss,
        },
        &GradcheckConfig::default(),
        "init",
        Some(&flaw),
        11,
    );
    let at_point: Vec<_> = r
        .rows
        .iter()
        .filter(|r| r.layer == Some(1) && r.state == State::Point)
        .collect();
    assert!(!at_point.is_empty());
    assert!(at_point.iter().all(|r| !r.resolved && !r.passed));
    let t = &r.tensors[0];
    assert_eq!(t.status, Status::Fail);
    assert_eq!(t.verified_at, Some(State::Probe));
}

//! Bug forms written independently of the engine's flaw injector (issue 8):
//! a separate, plain backward pass for dense softmax networks, written the
//! way a person writes one, with the mistakes people make written into it
//! the way they make them (bias gradient as a broadcast total sum, the
//! weight gradient from z instead of a, tanh' as 1 - z^2, weight decay
//! folded into the gradient, delta = target - output, ...): at least one
//! per catalogue entry. Each is checked through the same gradient checker
//! as the engine; *caught* (first wrong tensor at the bug's layer) and
//! *named* (the catalogue code the form is an instance of) are counted
//! apart, and a name other than the intended one is a failure: the matcher
//! may leave a bug unnamed, never misname it.
//!
//! Source of truth: central finite differences of the loss (the checker's
//! numeric side), and the hand-written correct backward, which must pass on
//! every network before its buggy variants mean anything.

use ndarray::{Array1, Array2, Axis};
use nn_doctor::config::{GradcheckConfig, Init, LayerConfig, LossKind};
use nn_doctor::data::one_hot;
use nn_doctor::engine::activation::Activation;
use nn_doctor::engine::Network;
use nn_doctor::gradcheck::analytic::Gradients;
use nn_doctor::gradcheck::types::{Status, TensorKind};
use nn_doctor::gradcheck::{check_point_with, Backward, Batch};
use nn_doctor::prepare::load_inputs;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A mistake in the hand-written backward, at a 1-based layer where it has
/// one.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Bug {
    None,
    /// MSE on softmax, "the softmax derivative is not needed":
    /// delta = (a - t) / n.
    OutputDeltaWithoutSoftmax,
    /// delta_l = delta_{l+1} W^T, the f'(z) factor forgotten.
    NoActivationDerivative(usize),
    /// sigmoid_prime(a) where sigmoid_prime(v) = s(v)(1 - s(v)).
    SigmoidPrimeOfActivation(usize),
    /// tanh' written as 1 - z^2 (the formula 1 - a^2 with z typed for a).
    TanhPrimeOneMinusZSquared(usize),
    /// W_{l+1} reshaped to [units, fan_in] instead of transposed.
    BackpropThroughReshapedWeights(usize),
    /// dW = delta^T a_prev ([units, fan_in]) copied into the [fan_in,
    /// units] buffer.
    WeightGradTransposedCopy(usize),
    /// dW = z_prev^T delta: the pre-activations instead of the
    /// activations.
    WeightGradFromZ(usize),
    /// db_j = sum of every entry of delta, broadcast to every unit.
    BiasGradTotalSum(usize),
    /// delta = (t - a) / n at the output ("error = target - output"), so
    /// every layer's gradient points uphill.
    TargetMinusOutput,
    /// delta = a - t at the output: the 1/n of the mean forgotten.
    NoBatchMean,
    /// dW += lambda W: weight decay folded into the gradient (not a
    /// catalogue entry: must be caught, cannot be named).
    WeightDecayFolded(usize),
}

impl Bug {
    /// The catalogue code this form is an instance of, if any.
    fn intended(self) -> Option<&'static str> {
        Some(match self {
            Bug::None | Bug::WeightDecayFolded(_) => return None,
            Bug::OutputDeltaWithoutSoftmax => "missing-output-derivative",
            Bug::NoActivationDerivative(_) => "missing-activation-derivative",
            Bug::SigmoidPrimeOfActivation(_) | Bug::TanhPrimeOneMinusZSquared(_) => {
                "derivative-at-wrong-point"
            }
            Bug::BackpropThroughReshapedWeights(_) => "wrong-weights-in-backprop",
            Bug::WeightGradTransposedCopy(_) => "transposed-weight-gradient",
            Bug::WeightGradFromZ(_) => "wrong-layer-input",
            Bug::BiasGradTotalSum(_) => "bias-gradient-wrong-axis",
            Bug::TargetMinusOutput => "sign-flipped",
            Bug::NoBatchMean => "batch-sum-not-mean",
        })
    }

    /// The layer whose gradient is first wrong (nearest the output).
    fn layer(self, depth: usize) -> usize {
        match self {
            Bug::NoActivationDerivative(l)
            | Bug::SigmoidPrimeOfActivation(l)
            | Bug::TanhPrimeOneMinusZSquared(l)
            | Bug::BackpropThroughReshapedWeights(l)
            | Bug::WeightGradTransposedCopy(l)
            | Bug::WeightGradFromZ(l)
            | Bug::BiasGradTotalSum(l)
            | Bug::WeightDecayFolded(l) => l,
            _ => depth,
        }
    }

    fn tensor(self) -> TensorKind {
        match self {
            Bug::BiasGradTotalSum(_) => TensorKind::Bias,
            _ => TensorKind::Weight,
        }
    }
}

fn sigmoid(v: f64) -> f64 {
    1.0 / (1.0 + (-v).exp())
}

fn sigmoid_prime(v: f64) -> f64 {
    sigmoid(v) * (1.0 - sigmoid(v))
}

fn apply(act: Activation, z: &Array2<f64>) -> Array2<f64> {
    match act {
        Activation::Sigmoid => z.mapv(sigmoid),
        Activation::Tanh => z.mapv(f64::tanh),
        Activation::Relu => z.mapv(|v| v.max(0.0)),
        Activation::Softmax => {
            let mut a = z.clone();
            for mut row in a.rows_mut() {
                let m = row.fold(f64::NEG_INFINITY, |m, &v| m.max(v));
                row.mapv_inplace(|v| (v - m).exp());
                let s = row.sum();
                row.mapv_inplace(|v| v / s);
            }
            a
        }
        other => panic!("the hand-written backward has no {other:?}"),
    }
}

/// f'(z), with the bug's wrong version at its layer.
fn prime(act: Activation, z: &Array2<f64>, a: &Array2<f64>, bug: Bug, layer: usize) -> Array2<f64> {
    match (act, bug) {
        (_, Bug::SigmoidPrimeOfActivation(l)) if l == layer => a.mapv(sigmoid_prime),
        (_, Bug::TanhPrimeOneMinusZSquared(l)) if l == layer => z.mapv(|v| 1.0 - v * v),
        (Activation::Sigmoid, _) => a.mapv(|s| s * (1.0 - s)),
        (Activation::Tanh, _) => a.mapv(|t| 1.0 - t * t),
        (Activation::Relu, _) => z.mapv(|v| if v > 0.0 { 1.0 } else { 0.0 }),
        (other, _) => panic!("no derivative for {other:?}"),
    }
}

/// A plain backward for dense networks with a softmax output.
struct Hand(Bug);

impl Backward for Hand {
    fn gradients(
        &self,
        net: &Network<f64>,
        x: &Array2<f64>,
        t: &Array2<f64>,
        loss: LossKind,
    ) -> Gradients {
        let bug = self.0;
        let n = x.nrows() as f64;
        let depth = net.layers.len();
        // Forward, keeping z and a of every layer.
        let mut zs = Vec::new();
        let mut acts = vec![x.clone()];
        for layer in net.layers.iter().map(|l| l.as_dense().unwrap()) {
            let z = acts.last().unwrap().dot(&layer.weight) + &layer.bias;
            acts.push(apply(layer.activation, &z));
            zs.push(z);
        }
        let a_out = acts[depth].clone();
        // dL/da of the mean loss ("error = output - target", over n).
        let g = match bug {
            Bug::TargetMinusOutput => (t - &a_out) / n,
            Bug::NoBatchMean => &a_out - t,
            _ => (&a_out - t) / n,
        };
        // Output delta dL/dz: softmax + cross-entropy cancel to dL/da; MSE
        // needs the softmax Jacobian, a * (g - sum(g * a)) per row.
        let mut delta = match (loss, bug) {
            (LossKind::CrossEntropy, _) | (LossKind::Mse, Bug::OutputDeltaWithoutSoftmax) => g,
            (LossKind::Mse, _) => {
                let dot = (&g * &a_out).sum_axis(Axis(1)).insert_axis(Axis(1));
                &a_out * &(&g - &dot)
            }
            (other, _) => panic!("this independent backprop covers MSE and CE only, not {other}"),
        };
        let mut w = vec![Array2::zeros((0, 0)); depth];
        let mut b = vec![Array1::zeros(0); depth];
        for l in (0..depth).rev() {
            let layer_no = l + 1;
            let a_prev = &acts[l];
            w[l] = match bug {
                Bug::WeightGradTransposedCopy(k) if k == layer_no => {
                    let g = delta.t().dot(a_prev);
                    let flat: Vec<f64> = g.iter().copied().collect();
                    Array2::from_shape_vec(net.layers[l].as_dense().unwrap().weight.raw_dim(), flat)
                        .unwrap()
                }
                Bug::WeightGradFromZ(k) if k == layer_no => zs[l - 1].t().dot(&delta),
                Bug::WeightDecayFolded(k) if k == layer_no => {
                    a_prev.t().dot(&delta) + &(&net.layers[l].as_dense().unwrap().weight * 1e-2)
                }
                _ => a_prev.t().dot(&delta),
            };
            b[l] = match bug {
                Bug::BiasGradTotalSum(k) if k == layer_no => {
                    Array1::from_elem(delta.ncols(), delta.sum())
                }
                _ => delta.sum_axis(Axis(0)),
            };
            if l == 0 {
                break;
            }
            let below = l; // 1-based number of the layer below
            let w_here = &net.layers[l].as_dense().unwrap().weight;
            let back = match bug {
                Bug::BackpropThroughReshapedWeights(k) if k == below => {
                    let (fan_in, units) = w_here.dim();
                    let flat: Vec<f64> = w_here.iter().copied().collect();
                    delta.dot(&Array2::from_shape_vec((units, fan_in), flat).unwrap())
                }
                _ => delta.dot(&w_here.t()),
            };
            delta = match bug {
                Bug::NoActivationDerivative(k) if k == below => back,
                _ => {
                    back * prime(
                        net.layers[l - 1].as_dense().unwrap().activation,
                        &zs[l - 1],
                        &acts[l],
                        bug,
                        below,
                    )
                }
            };
        }
        // One (weight, bias) pair per layer, as the engine lists them.
        let grads = w
            .into_iter()
            .zip(b)
            .map(|(w, b)| vec![w.into_dyn(), b.into_dyn()])
            .collect();
        Gradients { grads }
    }
}

struct Case {
    name: &'static str,
    net: Network<f64>,
    x: Array2<f64>,
    t: Array2<f64>,
    loss: LossKind,
}

fn layer(units: usize, activation: Activation, init: Init) -> LayerConfig {
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

fn cases() -> Vec<Case> {
    use Activation::*;
    let data = |rows, cols, classes, lo: f64, hi: f64, seed| {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let x = Array2::from_shape_fn((rows, cols), |_| rng.random_range(lo..hi));
        let labels: Vec<usize> = (0..rows).map(|i| (i * 7 + 3) % classes).collect();
        (x, one_hot(&labels, classes))
    };
    let (x1, t1) = data(16, 12, 4, -1.0, 1.0, 1);
    let (x2, t2) = data(16, 32, 4, 0.0, 1.0, 2);
    let (x3, t3) = data(16, 32, 5, -1.5, 1.5, 3);
    let u01 = Init::Uniform {
        low: 0.0,
        high: 1.0,
    };
    let (cfg, mnist) = load_inputs(&std::path::PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/configs/seed.toml"
    )))
    .expect("seed config loads");
    vec![
        Case {
            name: "the seed network (fixtures/configs/seed.toml, MNIST)",
            net: Network::init(784, &cfg.model.layers, cfg.seed),
            x: mnist.train.features.slice(ndarray::s![..16, ..]).to_owned(),
            t: one_hot(&mnist.train.labels[..16], mnist.classes),
            loss: cfg.train.loss,
        },
        Case {
            name: "healthy tanh/sigmoid 12-16-10-4, MSE",
            net: Network::init(
                12,
                &[
                    layer(16, Tanh, Init::XavierUniform),
                    layer(10, Sigmoid, Init::XavierUniform),
                    layer(4, Softmax, Init::XavierUniform),
                ],
                1,
            ),
            x: x1,
            t: t1,
            loss: LossKind::Mse,
        },
        Case {
            name: "saturated sigmoid/tanh 32-256-64-4 (U[0,1) init), MSE",
            net: Network::init(
                32,
                &[
                    layer(256, Sigmoid, u01),
                    layer(64, Tanh, u01),
                    layer(4, Softmax, u01),
                ],
                2,
            ),
            x: x2,
            t: t2,
            loss: LossKind::Mse,
        },
        Case {
            name: "wide relu/tanh 32-300-256-5, cross-entropy",
            net: Network::init(
                32,
                &[
                    layer(300, Relu, Init::HeNormal),
                    layer(256, Tanh, Init::XavierUniform),
                    layer(5, Softmax, Init::XavierUniform),
                ],
                3,
            ),
            x: x3,
            t: t3,
            loss: LossKind::CrossEntropy,
        },
    ]
}

/// Every bug form that applies to `c`.
fn bugs(c: &Case) -> Vec<Bug> {
    let depth = c.net.layers.len();
    let mut out = vec![Bug::TargetMinusOutput, Bug::NoBatchMean];
    if c.loss == LossKind::Mse {
        out.push(Bug::OutputDeltaWithoutSoftmax);
    }
    for l in 1..=depth {
        out.push(Bug::BiasGradTotalSum(l));
        out.push(Bug::WeightGradTransposedCopy(l));
        out.push(Bug::WeightDecayFolded(l));
        if l >= 2 {
            out.push(Bug::WeightGradFromZ(l));
        }
        if l < depth {
            let act = c.net.layers[l - 1].as_dense().unwrap().activation;
            out.push(Bug::NoActivationDerivative(l));
            out.push(Bug::BackpropThroughReshapedWeights(l));
            match act {
                Activation::Sigmoid => out.push(Bug::SigmoidPrimeOfActivation(l)),
                Activation::Tanh => out.push(Bug::TanhPrimeOneMinusZSquared(l)),
                _ => {}
            }
        }
    }
    out
}

#[test]
fn independently_written_bugs_are_caught_and_never_misnamed() {
    let s = GradcheckConfig::default();
    let (mut total, mut caught, mut named, mut unnamed_catalogue) = (0, 0, 0, 0);
    let mut problems = Vec::new();
    let mut unnamed_forms = std::collections::BTreeSet::new();
    for c in cases() {
        let batch = Batch {
            x: &c.x,
            t: &c.t,
            loss: c.loss,
        };
        let clean = check_point_with(&c.net, batch, &s, "init", &Hand(Bug::None), 5);
        assert!(
            clean.tensors.iter().all(|t| t.status == Status::Pass),
            "{}: the hand-written correct backward must pass: {:?}",
            c.name,
            clean.first_wrong
        );
        let depth = c.net.layers.len();
        for bug in bugs(&c) {
            total += 1;
            let r = check_point_with(&c.net, batch, &s, "init", &Hand(bug), 5);
            for t in &r.tensors {
                assert!(t.status != Status::Pass || t.resolved > 0);
            }
            let f = r.first_wrong.as_ref();
            let at_place =
                f.is_some_and(|f| f.layer == Some(bug.layer(depth)) && f.tensor == bug.tensor());
            if !at_place {
                problems.push(format!(
                    "{}: {bug:?} not caught at its layer: {:?}",
                    c.name,
                    f.map(|f| (f.layer, f.tensor))
                ));
                continue;
            }
            caught += 1;
            let code = f.and_then(|f| f.pattern.as_ref()).map(|p| p.code.clone());
            match (code.as_deref(), bug.intended()) {
                (Some(got), Some(want)) if got == want => named += 1,
                (None, want) => {
                    unnamed_catalogue += usize::from(want.is_some());
                    if want.is_some() {
                        println!("caught but unnamed: {}: {bug:?}", c.name);
                    }
                    unnamed_forms.insert(
                        format!("{bug:?}")
                            .split('(')
                            .next()
                            .unwrap_or("")
                            .to_string(),
                    );
                }
                (Some(got), want) => {
                    problems.push(format!("{}: {bug:?} misnamed {got} (is {want:?})", c.name))
                }
            }
        }
    }
    println!(
        "independent bug forms: {caught}/{total} caught at their layer, {named}/{total} named; {unnamed_catalogue} instances of catalogue entries caught but unnamed; forms left unnamed somewhere: {unnamed_forms:?}"
    );
    assert!(total >= 50, "{total}");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

//! Pre-flight facts: what the data and the freshly initialised weights look
//! like before step 1. Computing them costs one pass over each; rules read
//! them to name problems that exist before any training happens.

use crate::config::{LossKind, OptimizerConfig};
use crate::data::spec::Task;
use crate::engine::activation::Activation;
use crate::engine::{AnyLayer, Float, Layer, Network};
use crate::monitor::fit::TaskFit;
use ndarray::Array2;
use serde::{Deserialize, Serialize};

/// The training inputs as the network will see them (after scaling).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputStats {
    pub samples: usize,
    pub features: usize,
    pub nonfinite: usize,
    /// (sample, feature) of the first non-finite value.
    pub first_nonfinite: Option<(usize, usize)>,
    #[serde(deserialize_with = "crate::nullnum::f64_or_nan")]
    pub min: f64,
    #[serde(deserialize_with = "crate::nullnum::f64_or_nan")]
    pub max: f64,
    /// Root mean square over all finite entries.
    #[serde(deserialize_with = "crate::nullnum::f64_or_nan")]
    pub rms: f64,
    /// Largest and smallest non-zero per-feature magnitude (max |x| of a
    /// feature). Magnitudes, not standard deviations: an image's border
    /// pixels are almost always 0 and have a tiny std, yet share the scale
    /// of every other pixel.
    #[serde(deserialize_with = "crate::nullnum::f64_or_nan")]
    pub feature_scale_max: f64,
    #[serde(deserialize_with = "crate::nullnum::f64_or_nan")]
    pub feature_scale_min_nonzero: f64,
}

/// The initial weights of one layer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InitStats {
    pub layer: usize,
    pub fan_in: usize,
    pub units: usize,
    pub activation: Activation,
    #[serde(deserialize_with = "crate::nullnum::f64_or_nan")]
    pub mean: f64,
    #[serde(deserialize_with = "crate::nullnum::f64_or_nan")]
    pub std: f64,
    /// mean(W^2) * fan_in: the factor by which a layer scales the second
    /// moment of its input (He init: 2).
    #[serde(deserialize_with = "crate::nullnum::f64_or_nan")]
    pub gain: f64,
    pub all_zero: bool,
}

/// Everything known before step 1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Preflight {
    pub input: InputStats,
    pub layers: Vec<InitStats>,
    pub classes: usize,
    pub loss: LossKind,
    pub learning_rate: f64,
    pub optimizer: OptimizerConfig,
    /// The loss an untrained network with uniform outputs would have
    /// (ln C for softmax + cross-entropy), when it is known.
    pub expected_initial_loss: Option<f64>,
    /// Accuracy of always guessing the most frequent training class (at
    /// least 1/C): what "learned nothing" scores.
    pub chance_accuracy: f64,
    /// The output activation, for the loss/output pairing check.
    pub output: Activation,
    /// Samples in the test set (0 without one) and per training batch: the
    /// sample sizes behind accuracy estimates.
    pub test_samples: usize,
    pub batch_size: usize,
    /// Samples per class in the training set (index = label).
    pub class_counts: Vec<usize>,
    /// Samples per class in the test set (empty without one): chance on the
    /// test set comes from its own labels, not the training set's.
    pub test_class_counts: Vec<usize>,
    /// The task and, for regression and multilabel, its targets.
    #[serde(default)]
    pub task: TaskFacts,
    /// Dropout layers as (layer, rate): what `dropout-too-high` reads.
    /// Empty (and absent from summary.json) without dropout.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dropout: Vec<(usize, f64)>,
    /// The cross-entropy applies its own (log-)softmax to the network's
    /// output, as PyTorch's `nn.CrossEntropyLoss` does: the output should be
    /// logits. False for nn-doctor's and Keras' cross-entropy, which take
    /// probabilities. Absent from summary.json when false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub loss_takes_logits: bool,
}

/// What the network is asked to predict. The target statistics are of the
/// targets it trains on (after `scale_targets`); `held_out` is filled after
/// training, as `test_samples` is.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TaskFacts {
    pub task: Task,
    /// Target column names (regression, multilabel).
    #[serde(default)]
    pub target_names: Vec<String>,
    /// Mean and population std of each trained target column.
    #[serde(default)]
    pub target_mean: Vec<f64>,
    #[serde(default)]
    pub target_std: Vec<f64>,
    /// Whether `scale_targets = "standardize"` was applied.
    #[serde(default)]
    pub scaled: bool,
    /// The final network's fit on the test set (else the training set).
    #[serde(default)]
    pub held_out: Option<TaskFit>,
}

impl TaskFacts {
    /// Target statistics of a regression or multilabel training set.
    pub fn of(task: Task, names: &[String], targets: Option<&Array2<f64>>, scaled: bool) -> Self {
        let (target_mean, target_std) = targets.map_or((Vec::new(), Vec::new()), |t| {
            t.columns()
                .into_iter()
                .map(|c| {
                    let n = c.len().max(1) as f64;
                    let m = c.sum() / n;
                    (m, (c.mapv(|v| (v - m).powi(2)).sum() / n).sqrt())
                })
                .unzip()
        });
        TaskFacts {
            task,
            target_names: names.to_vec(),
            target_mean,
            target_std,
            scaled,
            held_out: None,
        }
    }
}

/// Computes the pre-flight facts.
pub fn preflight<F: Float>(
    features: &Array2<f64>,
    labels: &[usize],
    net: &Network<F>,
    classes: usize,
    loss: LossKind,
    learning_rate: f64,
    optimizer: OptimizerConfig,
) -> Preflight {
    Preflight {
        input: input_stats(features),
        layers: net
            .layers
            .iter()
            .enumerate()
            .map(|(i, l)| layer_init_stats(i + 1, l))
            .collect(),
        classes,
        loss,
        learning_rate,
        optimizer,
        expected_initial_loss: expected_initial_loss(loss, net.output_activation(), classes),
        chance_accuracy: chance_accuracy(labels, classes),
        output: net.output_activation(),
        test_samples: 0,
        batch_size: 1,
        class_counts: class_counts(labels, classes),
        test_class_counts: Vec::new(),
        task: TaskFacts::default(),
        dropout: net
            .layers
            .iter()
            .enumerate()
            .filter_map(|(i, l)| Some((i + 1, l.drop_rate()?)))
            .collect(),
        loss_takes_logits: false,
    }
}

fn input_stats(x: &Array2<f64>) -> InputStats {
    let (n, d) = x.dim();
    let mut nonfinite = 0;
    let mut first_nonfinite = None;
    let (mut min, mut max, mut sq, mut count) = (f64::INFINITY, f64::NEG_INFINITY, 0.0, 0usize);
    for ((s, f), &v) in x.indexed_iter() {
        if !v.is_finite() {
            nonfinite += 1;
            first_nonfinite.get_or_insert((s, f));
            continue;
        }
        min = min.min(v);
        max = max.max(v);
        sq += v * v;
        count += 1;
    }
    let scales: Vec<f64> = x
        .columns()
        .into_iter()
        .map(|c| {
            c.iter()
                .filter(|v| v.is_finite())
                .fold(0.0f64, |m, v| m.max(v.abs()))
        })
        .collect();
    let nonzero = scales.iter().copied().filter(|&s| s > 0.0);
    InputStats {
        samples: n,
        features: d,
        nonfinite,
        first_nonfinite,
        min,
        max,
        rms: if count > 0 {
            (sq / count as f64).sqrt()
        } else {
            f64::NAN
        },
        feature_scale_max: scales.iter().copied().fold(0.0, f64::max),
        feature_scale_min_nonzero: nonzero.fold(f64::INFINITY, f64::min),
    }
}

/// A layer's initial weight statistics. A convolution's kernel is read as
/// [in·kh·kw, out] (its fan-in and units); the kinds without weights
/// (pooling, flatten, dropout, activation, and batch norm, which rescales
/// its input itself) pass the scale on: gain 1, mean 0.
fn layer_init_stats<F: Float>(layer: usize, l: &AnyLayer<F>) -> InitStats {
    match l {
        AnyLayer::Dense(d) => init_stats(layer, d.activation, &d.weight),
        AnyLayer::Conv2d(c) => {
            let (o, ch, kh, kw) = c.weight.dim();
            let w = Array2::from_shape_fn((ch * kh * kw, o), |(i, j)| {
                c.weight
                    .as_slice()
                    .map_or(F::zero(), |s| s[j * ch * kh * kw + i])
            });
            init_stats(layer, c.activation, &w)
        }
        _ => InitStats {
            layer,
            fan_in: l.input_width(),
            units: l.output_shape().channels(),
            activation: l.activation(),
            mean: 0.0,
            std: 0.0,
            gain: 1.0,
            all_zero: false,
        },
    }
}

fn init_stats<F: Float>(layer: usize, activation: Activation, w: &Array2<F>) -> InitStats {
    let n = w.len().max(1) as f64;
    let mean = w.iter().map(|v| v.f64()).sum::<f64>() / n;
    let m2 = w.iter().map(|v| v.f64() * v.f64()).sum::<f64>() / n;
    InitStats {
        layer,
        fan_in: w.nrows(),
        units: w.ncols(),
        activation,
        mean,
        std: (m2 - mean * mean).max(0.0).sqrt(),
        gain: m2 * w.nrows() as f64,
        all_zero: w.iter().all(|v| *v == F::zero()),
    }
}

/// The majority-class rate, at least 1/C.
pub fn chance_accuracy(labels: &[usize], classes: usize) -> f64 {
    chance_from_counts(&class_counts(labels, classes))
}

/// Samples per class (labels out of range are not counted).
pub fn class_counts(labels: &[usize], classes: usize) -> Vec<usize> {
    let mut counts = vec![0usize; classes.max(1)];
    for &l in labels {
        if let Some(c) = counts.get_mut(l) {
            *c += 1;
        }
    }
    counts
}

/// The majority share of `counts`, at least 1/C.
pub fn chance_from_counts(counts: &[usize]) -> f64 {
    let total: usize = counts.iter().sum();
    let top = counts.iter().copied().max().unwrap_or(0) as f64 / total.max(1) as f64;
    top.max(1.0 / counts.len().max(1) as f64)
}

/// Loss of uniform predictions: ln C for softmax + cross-entropy,
/// (1 - 1/C) / 2 for softmax + MSE (1/2 sum_k (1/C - t_k)^2).
pub fn expected_initial_loss(loss: LossKind, output: Activation, classes: usize) -> Option<f64> {
    let c = classes as f64;
    match (loss, output) {
        _ if classes < 2 => None,
        (LossKind::CrossEntropy, Activation::Softmax) => Some(c.ln()),
        (LossKind::Mse, Activation::Softmax) => Some(0.5 * (1.0 - 1.0 / c)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn input_stats_by_hand() {
        // By hand: entries 0, 3, 4, NaN -> rms sqrt(25/3); feature 0's
        // magnitude is 0 (ignored), feature 1's is 4.
        let x = array![[0.0, 3.0], [f64::NAN, 4.0]];
        let s = input_stats(&x);
        assert_eq!((s.nonfinite, s.first_nonfinite), (1, Some((1, 0))));
        assert!((s.rms - (25.0f64 / 3.0).sqrt()).abs() < 1e-12);
        assert_eq!(
            (s.feature_scale_max, s.feature_scale_min_nonzero),
            (4.0, 4.0)
        );
    }

    #[test]
    fn uniform_zero_one_gain_is_fan_in_over_three() {
        // Analytic: E[W^2] = 1/3 for U[0,1); here exactly the sample moments.
        let w = array![[0.0, 1.0], [0.5, 0.5]];
        let s = init_stats(1, Activation::Sigmoid, &w);
        assert!((s.gain - 2.0 * 1.5 / 4.0).abs() < 1e-12);
        assert!((s.mean - 0.5).abs() < 1e-12);
    }

    #[test]
    fn chance_is_the_majority_rate_or_one_over_c() {
        // By hand: 3 of 4 labels are class 0; with 10 balanced classes, 1/10.
        assert_eq!(chance_accuracy(&[0, 0, 0, 1], 2), 0.75);
        let balanced: Vec<usize> = (0..100).map(|i| i % 10).collect();
        assert!((chance_accuracy(&balanced, 10) - 0.1).abs() < 1e-12);
    }

    #[test]
    fn expected_losses() {
        // ln 10 = 2.302585; MSE: (1 - 1/10)/2 = 0.45.
        let ce = expected_initial_loss(LossKind::CrossEntropy, Activation::Softmax, 10).unwrap();
        assert!((ce - std::f64::consts::LN_10).abs() < 1e-12);
        assert_eq!(
            expected_initial_loss(LossKind::Mse, Activation::Softmax, 10),
            Some(0.45)
        );
    }
}

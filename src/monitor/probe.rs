//! The probe batch: a fixed set of training samples pushed through the
//! network (no hooks, no update) at recorded steps, so dead and saturated
//! shares do not depend on the batch size. "Dead for every sample of the
//! batch" is meaningless for a batch of one (half of a healthy ReLU layer
//! is inactive for any single sample); on the same 256 samples at every
//! step it is the AUTOTRAINER/DeepDiagnosis notion of a dead unit. The
//! probe also measures the per-sample loss spread, from which the loss
//! noise expected at the training batch size follows.

use super::record::{Probe, ProbeLayer};
use crate::config::LossKind;
use crate::engine::loss::sample_loss;
use crate::engine::{Float, Network};
use crate::engine::{Layer, Mode};
use ndarray::{Array2, Axis};

/// Samples in the probe batch (all of them when the training set is
/// smaller): enough that a unit active for 1% of the data is seen active
/// (P(miss) = 0.99^256 = 8%), small enough to cost little.
pub const PROBE_SAMPLES: usize = 256;

/// At most about this many probes per run: the probe costs a forward pass
/// of 256 samples, which would dominate a run with small batches if taken
/// at every recorded step.
pub const MAX_PROBES: usize = 60;

/// Runs the probe batch at a fixed cadence and keeps the results.
#[derive(Debug)]
pub struct Prober<F> {
    x: Array2<F>,
    targets: Array2<F>,
    loss: LossKind,
    every: usize,
    probes: Vec<Probe>,
    /// Time spent probing (not training time).
    seconds: f64,
}

impl<F: Float> Prober<F> {
    /// A probe over evenly spaced rows of the training set (deterministic,
    /// and spread over the whole file rather than its first class), taken
    /// every `every` steps where `every` is the smallest multiple of the
    /// recorder's interval giving at most [`MAX_PROBES`] probes.
    pub fn new(
        x: &Array2<F>,
        targets: &Array2<F>,
        loss: LossKind,
        record_every: usize,
        steps: usize,
    ) -> Self {
        let n = x.nrows();
        let k = n.min(PROBE_SAMPLES);
        let idx: Vec<usize> = (0..k).map(|i| i * n / k.max(1)).collect();
        let record_every = record_every.max(1);
        let recorded = steps.div_ceil(record_every);
        let every = record_every * recorded.div_ceil(MAX_PROBES).max(1);
        Prober {
            x: x.select(Axis(0), &idx),
            targets: targets.select(Axis(0), &idx),
            loss,
            every,
            probes: Vec::new(),
            seconds: 0.0,
        }
    }

    /// Whether the probe runs after `step` (step 1 always does).
    pub fn probes(&self, step: usize) -> bool {
        step.saturating_sub(1).is_multiple_of(self.every)
    }

    /// Probes the network after `step` if the cadence says so.
    pub fn after_step(&mut self, step: usize, net: &Network<F>) {
        if self.probes(step) && self.x.nrows() > 0 {
            let started = std::time::Instant::now();
            let p = probe(step, net, &self.x, &self.targets, self.loss);
            self.probes.push(p);
            self.seconds += started.elapsed().as_secs_f64();
        }
    }

    /// Seconds spent probing so far.
    pub fn seconds(&self) -> f64 {
        self.seconds
    }

    /// The probes taken so far.
    pub fn probes_so_far(&self) -> &[Probe] {
        &self.probes
    }

    pub fn into_probes(self) -> Vec<Probe> {
        self.probes
    }
}

/// One forward pass of the probe batch with per-layer shares and the
/// per-sample loss mean and standard deviation.
pub fn probe<F: Float>(
    step: usize,
    net: &Network<F>,
    x: &Array2<F>,
    targets: &Array2<F>,
    loss: LossKind,
) -> Probe {
    let mut input = x.clone();
    let mut layers = Vec::with_capacity(net.layers.len());
    let mut last_pre = Array2::zeros((0, 0));
    for layer in &net.layers {
        let (pre, act) = layer.forward(input.view(), Mode::Eval);
        let channels = layer.output_shape().channels();
        layers.push(layer_shares(layer.activation(), channels, &pre, &act));
        last_pre = pre;
        input = act;
    }
    let output = net.output_activation();
    let losses: Vec<f64> = (0..input.nrows())
        .map(|i| sample_loss(loss, output, last_pre.row(i), input.row(i), targets.row(i)))
        .filter(|l| l.is_finite())
        .collect();
    let n = losses.len().max(1) as f64;
    let mean = losses.iter().sum::<f64>() / n;
    let var = losses.iter().map(|l| (l - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
    Probe {
        step,
        loss_mean: if losses.is_empty() { f64::NAN } else { mean },
        loss_std: if losses.len() > 1 {
            var.sqrt()
        } else {
            f64::NAN
        },
        layers,
    }
}

/// Saturated share of unit x sample entries and dead share of units (no
/// probe sample activates them), for the activations where each applies.
/// Dead units are counted per channel (an image layer's columns are
/// channels x positions; a dense layer's channels are its units).
fn layer_shares<F: Float>(
    activation: crate::engine::activation::Activation,
    channels: usize,
    pre: &Array2<F>,
    act: &Array2<F>,
) -> ProbeLayer {
    let saturated_frac = activation.is_saturating().then(|| {
        let mut sat = 0usize;
        let mut finite = 0usize;
        for (&z, &a) in pre.iter().zip(act.iter()) {
            let (z, a) = (z.f64(), a.f64());
            if z.is_finite() && a.is_finite() {
                finite += 1;
                sat += usize::from(activation.is_saturated(z, a));
            }
        }
        if finite > 0 {
            sat as f64 / finite as f64
        } else {
            f64::NAN
        }
    });
    let dead_frac = (activation.is_relu_family() && pre.nrows() > 0).then(|| {
        let channels = channels.clamp(1, pre.ncols().max(1));
        let positions = (pre.ncols() / channels).max(1);
        let dead = (0..channels)
            .filter(|c| {
                pre.slice(ndarray::s![.., c * positions..(c + 1) * positions])
                    .iter()
                    .all(|&z| z.f64() <= 0.0)
            })
            .count();
        dead as f64 / channels as f64
    });
    ProbeLayer {
        saturated_frac,
        dead_frac,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Init, LayerConfig};
    use crate::engine::activation::Activation;

    fn layer(units: usize, activation: Activation) -> LayerConfig {
        LayerConfig {
            kind: crate::engine::layers::KindConfig::Dense(
                crate::engine::layers::dense::DenseConfig { units },
            ),
            units,
            activation,
            init: Init::XavierUniform,
            bias_init: 0.0,
        }
    }

    fn relu_net(bias: f64) -> Network<f64> {
        let mut net = Network::<f64>::init(
            2,
            &[layer(4, Activation::Relu), layer(2, Activation::Softmax)],
            1,
        );
        net.layers[0].as_dense_mut().unwrap().bias.fill(bias);
        net
    }

    #[test]
    fn dead_share_is_over_the_whole_probe_not_one_sample() {
        // Source of truth: the definition. With biases of -100 no input in
        // [-1, 1] activates a unit: all 4 are dead. With biases of +100
        // every unit is active for every sample: none is.
        let x = Array2::from_shape_fn((50, 2), |(i, j)| ((i * 7 + j * 3) % 11) as f64 / 5.5 - 1.0);
        let t = Array2::from_shape_fn((50, 2), |(i, j)| f64::from(u8::from(i % 2 == j)));
        let p = probe(1, &relu_net(-100.0), &x, &t, LossKind::CrossEntropy);
        assert_eq!(p.layers[0].dead_frac, Some(1.0));
        assert_eq!(p.layers[0].saturated_frac, None);
        let p = probe(1, &relu_net(100.0), &x, &t, LossKind::CrossEntropy);
        assert_eq!(p.layers[0].dead_frac, Some(0.0));
        assert!(p.loss_mean.is_finite() && p.loss_std >= 0.0);
    }

    #[test]
    fn cadence_caps_the_number_of_probes() {
        let x = Array2::<f64>::zeros((10, 2));
        let t = Array2::<f64>::zeros((10, 2));
        let p = Prober::new(&x, &t, LossKind::Mse, 1, 600);
        let n = (1..=600).filter(|&s| p.probes(s)).count();
        assert!((MAX_PROBES / 2..=MAX_PROBES).contains(&n), "{n}");
        assert!(p.probes(1));
        assert_eq!(Prober::new(&x, &t, LossKind::Mse, 1, 30).every, 1);
    }
}

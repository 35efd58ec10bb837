//! The probe state: a well-conditioned twin of the checked network on which
//! the same backward code is checked again when the requested check point
//! cannot resolve a tensor. Whether backprop code is right does not depend
//! on where it is evaluated, but a finite difference can only see gradients
//! above its noise floor: a saturated sigmoid layer (slopes of 1e-22), a
//! tiny initialisation or a ReLU layer sitting on its kink hides every bug
//! below it. The probe keeps the architecture, loss and targets and
//! redraws what conditions the problem: weights with unit gain (so
//! pre-activations are O(1)), small random biases (so no ReLU input sits
//! exactly on 0), and the batch standardised per feature. Everything is
//! drawn from a fixed seed, so the probe is reproducible.

use crate::engine::layers::AnyLayer;
use crate::engine::Network;
use ndarray::{Array1, Array2, Axis};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

/// Tag mixed into the seed for the probe state's draws.
const PROBE_STREAM: u64 = 0x6C4E_C0DE_0000_0008;

/// Standard deviation of the probe's biases: enough to move every
/// pre-activation off 0, small against the O(1) weight contribution.
const BIAS_STD: f64 = 0.1;

/// The probe network and batch for `net` evaluated on `x`.
pub fn probe_state(net: &Network<f64>, x: &Array2<f64>, seed: u64) -> (Network<f64>, Array2<f64>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ PROBE_STREAM);
    let x = standardise(x, &mut rng);
    let mut probe = net.clone();
    for layer in probe.layers.iter_mut() {
        match layer {
            AnyLayer::Dense(d) => {
                let fan_in = d.weight.nrows();
                redraw(
                    d.weight.iter_mut(),
                    &mut d.bias,
                    fan_in,
                    d.activation,
                    &mut rng,
                );
            }
            // Convolutions too: their weights may hold exact symmetries
            // (equal kernels give exact ties in a max-pool window) that no
            // finite difference can step across.
            AnyLayer::Conv2d(c) => {
                let (_, cin, kh, kw) = c.weight.dim();
                redraw(
                    c.weight.iter_mut(),
                    &mut c.bias,
                    cin * kh * kw,
                    c.activation,
                    &mut rng,
                );
            }
            _ => {}
        }
    }
    (probe, x)
}

/// New weights of gain 1 (2 for ReLU-family units, which pass half their
/// input), so unit-variance inputs give unit-variance pre-activations, and
/// small random biases.
fn redraw<'a>(
    weights: impl Iterator<Item = &'a mut f64>,
    bias: &mut Array1<f64>,
    fan_in: usize,
    activation: crate::engine::activation::Activation,
    rng: &mut ChaCha8Rng,
) {
    let gain = if activation.is_relu_family() {
        2.0
    } else {
        1.0
    };
    let std = (gain / fan_in.max(1) as f64).sqrt();
    for w in weights {
        let v: f64 = StandardNormal.sample(&mut *rng);
        *w = std * v;
    }
    *bias = Array1::from_shape_fn(bias.len(), |_| {
        let v: f64 = StandardNormal.sample(&mut *rng);
        BIAS_STD * v
    });
}

/// Each feature shifted to mean 0 and scaled to standard deviation 1 over
/// the batch. A feature that is constant over the batch (a border pixel,
/// a batch of one) carries no direction to check a weight against, so it
/// is replaced by standard normal draws.
fn standardise(x: &Array2<f64>, rng: &mut ChaCha8Rng) -> Array2<f64> {
    let mut out = x.clone();
    let n = x.nrows() as f64;
    for mut col in out.axis_iter_mut(Axis(1)) {
        let finite = col.iter().all(|v| v.is_finite());
        let mean = col.sum() / n;
        let var = col.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
        if finite && var > 1e-24 * mean.abs().max(1.0).powi(2) {
            let sd = var.sqrt();
            col.mapv_inplace(|v| (v - mean) / sd);
        } else {
            col.mapv_inplace(|_| StandardNormal.sample(&mut *rng));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Init, LayerConfig};
    use crate::engine::activation::Activation;

    fn seed_like() -> Network<f64> {
        let layer = |units, activation| LayerConfig {
            kind: crate::engine::layers::KindConfig::Dense(
                crate::engine::layers::dense::DenseConfig { units },
            ),
            units,
            activation,
            init: Init::Uniform {
                low: 0.0,
                high: 1.0,
            },
            bias_init: 0.0,
        };
        Network::init(
            50,
            &[
                layer(40, Activation::Sigmoid),
                layer(3, Activation::Softmax),
            ],
            1,
        )
    }

    /// Truth: the probe's purpose, stated in the module doc: O(1)
    /// pre-activations (a saturated sigmoid needs |z| > 6) from
    /// standardised inputs, with the architecture unchanged.
    #[test]
    fn the_probe_unsaturates_a_seed_like_network() {
        let net = seed_like();
        let x = Array2::from_shape_fn((16, 50), |(i, j)| ((i * 7 + j * 3) % 11) as f64 / 11.0);
        let (before, _) = Network {
            layers: net.layers[..1].to_vec(),
        }
        .predict(x.view());
        assert!(before.iter().all(|z| *z > 6.0), "the original is saturated");
        let (p, px) = probe_state(&net, &x, 3);
        assert_eq!(p.layers.len(), net.layers.len());
        for (a, b) in p.layers.iter().zip(&net.layers) {
            let (a, b) = (a.as_dense().unwrap(), b.as_dense().unwrap());
            assert_eq!(a.weight.dim(), b.weight.dim());
            assert_eq!(a.activation, b.activation);
        }
        let (z, _) = Network {
            layers: p.layers[..1].to_vec(),
        }
        .predict(px.view());
        let rms = (z.iter().map(|v| v * v).sum::<f64>() / z.len() as f64).sqrt();
        assert!((0.5..2.0).contains(&rms), "rms pre-activation {rms}");
        let saturated = z.iter().filter(|v| v.abs() > 6.0).count();
        assert!(saturated * 100 < z.len(), "{saturated} saturated");
        for col in px.axis_iter(Axis(1)) {
            let m = col.sum() / 16.0;
            assert!(m.abs() < 1.0, "column mean {m}");
        }
        // Fixed seed: the same probe every time.
        assert_eq!(probe_state(&net, &x, 3).0, p);
    }

    #[test]
    fn constant_features_are_replaced_by_draws() {
        let x = Array2::from_elem((4, 3), 0.0);
        let (_, px) = probe_state(&seed_like_small(), &x, 1);
        assert!(px.iter().all(|v| v.is_finite()));
        assert!(px.iter().any(|v| *v != 0.0));
    }

    fn seed_like_small() -> Network<f64> {
        let layer = |units, activation| LayerConfig {
            kind: crate::engine::layers::KindConfig::Dense(
                crate::engine::layers::dense::DenseConfig { units },
            ),
            units,
            activation,
            init: Init::XavierUniform,
            bias_init: 0.0,
        };
        Network::init(
            3,
            &[layer(2, Activation::Relu), layer(2, Activation::Softmax)],
            1,
        )
    }
}

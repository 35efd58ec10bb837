//! Weight initialisation. Values are drawn in f64 and then rounded, so an
//! f32 network and its f64 copy (used by gradient checks) start from the same
//! numbers for the same seed.

use crate::kinds::Init;
use ndarray::Array2;
use rand::Rng;
use rand_distr::{Distribution, StandardNormal};

/// Draws a [fan_in, fan_out] weight matrix.
pub fn draw_weights<R: Rng>(init: Init, fan_in: usize, fan_out: usize, rng: &mut R) -> Array2<f64> {
    let values = draw_values(init, fan_in, fan_out, fan_in * fan_out, rng);
    Array2::from_shape_vec((fan_in, fan_out), values)
        .unwrap_or_else(|_| Array2::zeros((fan_in, fan_out)))
}

/// Draws `count` weights for a layer with the given fans (a convolution's
/// are in·kh·kw and out·kh·kw, as PyTorch computes them), in order.
pub fn draw_values<R: Rng>(
    init: Init,
    fan_in: usize,
    fan_out: usize,
    count: usize,
    rng: &mut R,
) -> Vec<f64> {
    let (fi, fo) = (fan_in as f64, fan_out as f64);
    let uniform = |a: f64, b: f64, rng: &mut R| a + (b - a) * rng.random::<f64>();
    let normal = |std: f64, rng: &mut R| {
        let z: f64 = StandardNormal.sample(rng);
        z * std
    };
    let draw = |rng: &mut R| -> f64 {
        match init {
            Init::XavierUniform => {
                let a = (6.0 / (fi + fo)).sqrt();
                uniform(-a, a, rng)
            }
            Init::XavierNormal => normal((2.0 / (fi + fo)).sqrt(), rng),
            Init::HeUniform => {
                let a = (6.0 / fi).sqrt();
                uniform(-a, a, rng)
            }
            Init::HeNormal => normal((2.0 / fi).sqrt(), rng),
            Init::Normal { std } => normal(std, rng),
            Init::Uniform { low, high } => uniform(low, high, rng),
            Init::Zeros => 0.0,
        }
    };
    // Row-major order of draws is part of the determinism contract.
    (0..count).map(|_| draw(rng)).collect()
}

/// The variance an init scheme aims for, for the pre-flight comparison of
/// the drawn weights against fan-in.
pub fn target_variance(init: Init, fan_in: usize, fan_out: usize) -> f64 {
    let (fi, fo) = (fan_in as f64, fan_out as f64);
    match init {
        Init::XavierUniform | Init::XavierNormal => 2.0 / (fi + fo),
        Init::HeUniform | Init::HeNormal => 2.0 / fi,
        Init::Normal { std } => std * std,
        Init::Uniform { low, high } => (high - low).powi(2) / 12.0,
        Init::Zeros => 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn moments(w: &Array2<f64>) -> (f64, f64) {
        let n = w.len() as f64;
        let mean = w.sum() / n;
        let var = w.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
        (mean, var)
    }

    #[test]
    fn drawn_variance_matches_the_scheme() {
        // Source of truth: the schemes' analytic variances (target_variance);
        // 200k draws give a relative standard error of about 0.3%.
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for init in [
            Init::XavierUniform,
            Init::XavierNormal,
            Init::HeUniform,
            Init::HeNormal,
            Init::Normal { std: 0.3 },
            Init::Uniform {
                low: 0.0,
                high: 1.0,
            },
        ] {
            let w = draw_weights(init, 400, 500, &mut rng);
            let (_, var) = moments(&w);
            let target = target_variance(init, 400, 500);
            assert!(
                (var / target - 1.0).abs() < 0.02,
                "{init:?}: {var} vs {target}"
            );
        }
    }

    #[test]
    fn uniform_zero_one_has_mean_one_half() {
        // The seed case: U[0,1) has mean 1/2.
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let w = draw_weights(
            Init::Uniform {
                low: 0.0,
                high: 1.0,
            },
            300,
            300,
            &mut rng,
        );
        assert!((moments(&w).0 - 0.5).abs() < 0.01);
        assert!(w.iter().all(|&v| (0.0..1.0).contains(&v)));
    }

    #[test]
    fn same_seed_same_weights() {
        let a = draw_weights(Init::HeNormal, 10, 7, &mut ChaCha8Rng::seed_from_u64(3));
        let b = draw_weights(Init::HeNormal, 10, 7, &mut ChaCha8Rng::seed_from_u64(3));
        assert_eq!(a, b);
    }
}

//! Losses: the value of a batch and the output layer's delta dL/dz. Both are
//! computed from the pre-activations where that is what keeps them finite
//! (log-softmax, softplus), so a saturated output never yields log(0).

use super::activation::Activation;
use super::float::Float;
use crate::config::LossKind;
use ndarray::{Array2, ArrayView1, Zip};

/// Mean loss over the batch, in f64 (a report value: gradients never depend
/// on it, so widening it costs the engine nothing).
pub fn batch_loss<F: Float>(
    kind: LossKind,
    output: Activation,
    pre: &Array2<F>,
    act: &Array2<F>,
    targets: &Array2<F>,
) -> f64 {
    let n = act.nrows().max(1) as f64;
    let total: f64 = (0..act.nrows())
        .map(|s| sample_loss(kind, output, pre.row(s), act.row(s), targets.row(s)))
        .sum();
    // + 0.0 turns the -0.0 a perfectly fitted cross-entropy sums to into 0.
    total / n + 0.0
}

/// The loss of one sample (before averaging over the batch).
pub fn sample_loss<F: Float>(
    kind: LossKind,
    output: Activation,
    pre: ArrayView1<F>,
    act: ArrayView1<F>,
    target: ArrayView1<F>,
) -> f64 {
    match (kind, output) {
        (LossKind::Mse, _) => {
            0.5 * act
                .iter()
                .zip(target)
                .map(|(&y, &t)| (y.f64() - t.f64()).powi(2))
                .sum::<f64>()
        }
        (LossKind::CrossEntropy, Activation::Softmax) => {
            // -sum_k t_k (z_k - max - ln sum_j e^(z_j - max))
            let max = pre.iter().fold(f64::NEG_INFINITY, |m, &z| m.max(z.f64()));
            let lse = pre.iter().map(|&z| (z.f64() - max).exp()).sum::<f64>().ln() + max;
            -pre.iter()
                .zip(target)
                .map(|(&z, &t)| t.f64() * (z.f64() - lse))
                .sum::<f64>()
        }
        (LossKind::CrossEntropy, _) => {
            // Binary cross-entropy of sigmoid(z) per unit:
            // max(z, 0) - t z + ln(1 + e^-|z|).
            pre.iter()
                .zip(target)
                .map(|(&z, &t)| {
                    let (z, t) = (z.f64(), t.f64());
                    z.max(0.0) - t * z + (-z.abs()).exp().ln_1p()
                })
                .sum()
        }
    }
}

/// dL/dz of the output layer into `out` (the 1/batch of the mean included).
/// Cross-entropy with its matching output collapses to (a - t)/n; MSE goes
/// through the activation's own Jacobian, which is exactly the step the
/// MNIST case in DESIGN.md left out.
pub fn output_delta<F: Float>(
    kind: LossKind,
    output: Activation,
    pre: &Array2<F>,
    act: &Array2<F>,
    targets: &Array2<F>,
    out: &mut Array2<F>,
) {
    let inv_n = F::of(1.0 / act.nrows().max(1) as f64);
    match kind {
        LossKind::CrossEntropy => {
            Zip::from(out)
                .and(act)
                .and(targets)
                .for_each(|o, &a, &t| *o = (a - t) * inv_n);
        }
        LossKind::Mse => {
            let grad_a = (act - targets) * inv_n;
            output.backward(pre, act, &grad_a, out);
        }
    }
}

/// How many rows' argmax equals the label.
pub fn count_correct<F: Float>(act: &Array2<F>, labels: &[usize]) -> usize {
    act.rows()
        .into_iter()
        .zip(labels)
        .filter(|(row, &label)| argmax(row) == Some(label))
        .count()
}

/// Index of the largest finite entry (NaN never wins).
pub fn argmax<F: Float>(row: &ArrayView1<F>) -> Option<usize> {
    let mut best: Option<(usize, F)> = None;
    for (i, &v) in row.iter().enumerate() {
        if v.is_nan() {
            continue;
        }
        if best.is_none_or(|(_, b)| v > b) {
            best = Some((i, v));
        }
    }
    best.map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    fn forward(act: Activation, z: &Array2<f64>) -> Array2<f64> {
        let mut a = Array2::zeros(z.raw_dim());
        act.forward(z, &mut a);
        a
    }

    #[test]
    fn output_delta_matches_finite_differences_for_every_pairing() {
        // Source of truth: central differences of batch_loss w.r.t. z.
        let z = array![[0.4, -1.3, 2.2], [-0.7, 0.1, 0.9]];
        let t = array![[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]];
        let pairs = [
            (LossKind::Mse, Activation::Softmax),
            (LossKind::Mse, Activation::Sigmoid),
            (LossKind::Mse, Activation::Linear),
            (LossKind::Mse, Activation::Tanh),
            (LossKind::CrossEntropy, Activation::Softmax),
            (LossKind::CrossEntropy, Activation::Sigmoid),
        ];
        for (kind, act) in pairs {
            let a = forward(act, &z);
            let mut delta = Array2::zeros(z.raw_dim());
            output_delta(kind, act, &z, &a, &t, &mut delta);
            let h = 1e-6;
            for s in 0..2 {
                for k in 0..3 {
                    let (mut zp, mut zm) = (z.clone(), z.clone());
                    zp[[s, k]] += h;
                    zm[[s, k]] -= h;
                    let lp = batch_loss(kind, act, &zp, &forward(act, &zp), &t);
                    let lm = batch_loss(kind, act, &zm, &forward(act, &zm), &t);
                    let numeric = (lp - lm) / (2.0 * h);
                    assert!(
                        (numeric - delta[[s, k]]).abs() < 1e-8,
                        "{kind:?}/{act}: [{s},{k}] analytic {} numeric {numeric}",
                        delta[[s, k]]
                    );
                }
            }
        }
    }

    #[test]
    fn cross_entropy_of_uniform_softmax_is_ln_classes() {
        // Analytic: all-equal logits give p = 1/10, loss = ln 10.
        let z = Array2::<f64>::zeros((3, 10));
        let mut t = Array2::zeros((3, 10));
        t[[0, 1]] = 1.0;
        t[[1, 4]] = 1.0;
        t[[2, 9]] = 1.0;
        let a = forward(Activation::Softmax, &z);
        let l = batch_loss(LossKind::CrossEntropy, Activation::Softmax, &z, &a, &t);
        assert!((l - 10f64.ln()).abs() < 1e-12);
    }

    #[test]
    fn cross_entropy_stays_finite_for_saturated_outputs() {
        // log(softmax) of a logit 1000 below the max is -1000, not log(0).
        let z = array![[1000.0f32, 0.0]];
        let t = array![[0.0f32, 1.0]];
        let a = {
            let mut a = Array2::zeros((1, 2));
            Activation::Softmax.forward(&z, &mut a);
            a
        };
        let l = batch_loss(LossKind::CrossEntropy, Activation::Softmax, &z, &a, &t);
        assert!((l - 1000.0).abs() < 1e-3);
    }

    #[test]
    fn mse_is_half_sum_of_squares_averaged() {
        // By the definition in the config reference.
        let y = array![[1.0, 2.0], [0.0, 0.0]];
        let t = array![[0.0, 0.0], [0.0, 1.0]];
        let l = batch_loss(LossKind::Mse, Activation::Linear, &y, &y, &t);
        assert!((l - (0.5 * 5.0 + 0.5 * 1.0) / 2.0).abs() < 1e-12);
    }

    #[test]
    fn argmax_skips_nan() {
        let r = array![f64::NAN, 0.2, 0.9, 0.1];
        assert_eq!(argmax(&r.view()), Some(2));
        let all_nan = array![f64::NAN, f64::NAN];
        assert_eq!(argmax(&all_nan.view()), None);
    }
}

//! Losses: the value of a batch and the output layer's delta dL/dz. Both are
//! computed from the pre-activations where that is what keeps them finite
//! (log-softmax, softplus), so a saturated output never yields log(0).
//!
//! Conventions (all losses): summed over the output units of a sample, then
//! averaged over the samples of the batch. MSE is halved, MAE and Huber are
//! not (Huber is already 1/2 d^2 near zero, so it equals MSE there).
//!
//! Cross-entropies over outputs that are not the probabilities they assume
//! (a relu, linear or tanh output; a softmax under binary cross-entropy) are
//! computed the way Keras computes them on probabilities: the output is
//! clipped to [`CLIP_EPS`, 1] (categorical) or [`CLIP_EPS`, 1 - `CLIP_EPS`]
//! (binary) before the log, and the clip passes no gradient outside that
//! range. Keras additionally renormalises categorical outputs to sum 1; we do
//! not, since a relu row that is all zero would divide by zero. That is the
//! network the user wrote, trained as it would be, so the diagnosis of such a
//! run explains what the user saw.

use super::activation::Activation;
use super::float::Float;
use crate::kinds::LossKind;
use ndarray::{Array2, ArrayView1, Zip};

/// Keras' `epsilon()`: the floor of a clipped probability.
pub const CLIP_EPS: f64 = 1e-7;

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

/// Whether cross-entropy is computed from the logits (the output is the
/// probability it assumes) rather than from clipped outputs.
fn from_logits(kind: LossKind, output: Activation) -> bool {
    matches!(
        (kind, output),
        (
            LossKind::CrossEntropy,
            Activation::Softmax | Activation::Sigmoid
        ) | (LossKind::BinaryCrossEntropy, Activation::Sigmoid)
    )
}

/// Binary cross-entropy of sigmoid(z) against t, from the logit:
/// max(z, 0) - t z + ln(1 + e^-|z|).
fn bce_logit(z: f64, t: f64) -> f64 {
    z.max(0.0) - t * z + (-z.abs()).exp().ln_1p()
}

/// Huber of one residual (PyTorch's HuberLoss element).
fn huber(d: f64, delta: f64) -> f64 {
    if d.abs() <= delta {
        0.5 * d * d
    } else {
        delta * (d.abs() - 0.5 * delta)
    }
}

/// The loss of one sample (before averaging over the batch).
pub fn sample_loss<F: Float>(
    kind: LossKind,
    output: Activation,
    pre: ArrayView1<F>,
    act: ArrayView1<F>,
    target: ArrayView1<F>,
) -> f64 {
    let pairs = || act.iter().zip(target).map(|(&y, &t)| (y.f64(), t.f64()));
    match (kind, output) {
        (LossKind::Mse, _) => 0.5 * pairs().map(|(y, t)| (y - t).powi(2)).sum::<f64>(),
        (LossKind::Mae, _) => pairs().map(|(y, t)| (y - t).abs()).sum(),
        (LossKind::Huber { delta }, _) => pairs().map(|(y, t)| huber(y - t, delta)).sum(),
        (LossKind::CrossEntropy, Activation::Softmax) => {
            // -sum_k t_k (z_k - max - ln sum_j e^(z_j - max))
            let max = pre.iter().fold(f64::NEG_INFINITY, |m, &z| m.max(z.f64()));
            let lse = pre.iter().map(|&z| (z.f64() - max).exp()).sum::<f64>().ln() + max;
            -pre.iter()
                .zip(target)
                .map(|(&z, &t)| t.f64() * (z.f64() - lse))
                .sum::<f64>()
        }
        (LossKind::CrossEntropy | LossKind::BinaryCrossEntropy, Activation::Sigmoid) => pre
            .iter()
            .zip(target)
            .map(|(&z, &t)| bce_logit(z.f64(), t.f64()))
            .sum(),
        (LossKind::CrossEntropy, _) => -pairs()
            .map(|(y, t)| t * y.clamp(CLIP_EPS, 1.0).ln())
            .sum::<f64>(),
        (LossKind::BinaryCrossEntropy, _) => -pairs()
            .map(|(y, t)| {
                let p = y.clamp(CLIP_EPS, 1.0 - CLIP_EPS);
                t * p.ln() + (1.0 - t) * (1.0 - p).ln()
            })
            .sum::<f64>(),
    }
}

/// dL/dy of one element for the losses that go through the output's own
/// Jacobian (the 1/batch of the mean not included). A clipped probability
/// passes no gradient outside its range, as `clip_by_value` does.
fn grad_wrt_output(kind: LossKind, y: f64, t: f64) -> f64 {
    match kind {
        LossKind::Mse => y - t,
        LossKind::Mae => {
            // Subgradient 0 at an exact fit, as torch.sign gives.
            if y > t {
                1.0
            } else if y < t {
                -1.0
            } else {
                0.0
            }
        }
        LossKind::Huber { delta } => (y - t).clamp(-delta, delta),
        LossKind::CrossEntropy => {
            if (CLIP_EPS..=1.0).contains(&y) {
                -t / y
            } else {
                0.0
            }
        }
        LossKind::BinaryCrossEntropy => {
            if (CLIP_EPS..=1.0 - CLIP_EPS).contains(&y) {
                -t / y + (1.0 - t) / (1.0 - y)
            } else {
                0.0
            }
        }
    }
}

/// dL/dz of the output layer into `out` (the 1/batch of the mean included).
/// Cross-entropy with its matching output collapses to (a - t)/n; every
/// other pairing goes through the activation's own Jacobian, which is
/// exactly the step the MNIST case in DESIGN.md left out.
pub fn output_delta<F: Float>(
    kind: LossKind,
    output: Activation,
    pre: &Array2<F>,
    act: &Array2<F>,
    targets: &Array2<F>,
    out: &mut Array2<F>,
) {
    let inv_n = F::of(1.0 / act.nrows().max(1) as f64);
    if from_logits(kind, output) {
        Zip::from(out)
            .and(act)
            .and(targets)
            .for_each(|o, &a, &t| *o = (a - t) * inv_n);
    } else if kind == LossKind::Mse {
        // Kept as one array expression: the values (and so every existing
        // CSV) stay bit-identical to the engine before the other losses.
        let grad_a = (act - targets) * inv_n;
        output.backward(pre, act, &grad_a, out);
    } else {
        let mut grad_a = Array2::zeros(act.raw_dim());
        Zip::from(&mut grad_a)
            .and(act)
            .and(targets)
            .for_each(|g, &a, &t| *g = F::of(grad_wrt_output(kind, a.f64(), t.f64())) * inv_n);
        output.backward(pre, act, &grad_a, out);
    }
}

/// How many rows' predicted class equals the label.
pub fn count_correct<F: Float>(act: &Array2<F>, labels: &[usize]) -> usize {
    act.rows()
        .into_iter()
        .zip(labels)
        .filter(|(row, &label)| predicted_class(row) == Some(label))
        .count()
}

/// The class a row of outputs predicts: the argmax, or for a single unit
/// (two classes trained on 0/1) class 1 when the output exceeds 1/2, the
/// threshold of a sigmoid's probability and of a regression onto 0/1 alike.
pub fn predicted_class<F: Float>(row: &ArrayView1<F>) -> Option<usize> {
    match row.len() {
        1 => {
            let v = row[0].f64();
            (!v.is_nan()).then_some(usize::from(v > 0.5))
        }
        _ => argmax(row),
    }
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
            (LossKind::BinaryCrossEntropy, Activation::Sigmoid),
            (LossKind::Mae, Activation::Linear),
            (LossKind::Mae, Activation::Tanh),
            (LossKind::Mae, Activation::Sigmoid),
            (LossKind::Huber { delta: 1.0 }, Activation::Linear),
            (LossKind::Huber { delta: 0.3 }, Activation::Tanh),
            (LossKind::Huber { delta: 0.5 }, Activation::Softmax),
            // Clipped probabilities: the mistakes a user makes.
            (LossKind::CrossEntropy, Activation::Linear),
            (LossKind::CrossEntropy, Activation::Relu),
            (LossKind::CrossEntropy, Activation::Tanh),
            (LossKind::BinaryCrossEntropy, Activation::Softmax),
            (LossKind::BinaryCrossEntropy, Activation::Linear),
            (LossKind::BinaryCrossEntropy, Activation::Tanh),
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
    fn mae_and_huber_by_hand() {
        // By the definitions: residuals 2 and -0.5 (sample 1), 0 and 3
        // (sample 2). MAE: (2.5 + 3) / 2. Huber delta 1: sample 1 is
        // 1 (2 - 0.5) + 0.5 * 0.25, sample 2 is 1 (3 - 0.5); mean of those.
        let y = array![[2.0, -0.5], [0.0, 3.0]];
        let t = Array2::zeros((2, 2));
        let mae = batch_loss(LossKind::Mae, Activation::Linear, &y, &y, &t);
        assert!((mae - 2.75).abs() < 1e-12);
        let h = batch_loss(
            LossKind::Huber { delta: 1.0 },
            Activation::Linear,
            &y,
            &y,
            &t,
        );
        assert!((h - (1.5 + 0.125 + 2.5) / 2.0).abs() < 1e-12);
    }

    #[test]
    fn binary_cross_entropy_is_stable_and_matches_the_definition() {
        // Definition: -(t ln p + (1 - t) ln(1 - p)) with p = sigmoid(z).
        let z = array![[0.3], [-2.0]];
        let t = array![[1.0], [0.0]];
        let a = forward(Activation::Sigmoid, &z);
        let want = (-(a[[0, 0]] as f64).ln() - (1.0 - a[[1, 0]]).ln()) / 2.0;
        let l = batch_loss(
            LossKind::BinaryCrossEntropy,
            Activation::Sigmoid,
            &z,
            &a,
            &t,
        );
        assert!((l - want).abs() < 1e-12);
        // A logit of -800 against t = 1 costs 800, not ln(0).
        let z = array![[-800.0]];
        let a = forward(Activation::Sigmoid, &z);
        let l = batch_loss(
            LossKind::BinaryCrossEntropy,
            Activation::Sigmoid,
            &z,
            &a,
            &array![[1.0]],
        );
        assert!((l - 800.0).abs() < 1e-9);
    }

    #[test]
    fn clipped_cross_entropy_of_a_dead_relu_is_finite_and_flat() {
        // A relu output of 0 is clipped to 1e-7: loss -ln 1e-7, gradient 0
        // (as Keras' clip_by_value gives), so the run stalls as the user saw.
        let z = array![[-1.0, 2.0]];
        let a = forward(Activation::Relu, &z);
        let t = array![[1.0, 0.0]];
        let l = batch_loss(LossKind::CrossEntropy, Activation::Relu, &z, &a, &t);
        assert!((l - -(CLIP_EPS.ln())).abs() < 1e-9);
        let mut d = Array2::zeros((1, 2));
        output_delta(LossKind::CrossEntropy, Activation::Relu, &z, &a, &t, &mut d);
        assert_eq!(d, array![[0.0, 0.0]]);
    }

    #[test]
    fn one_unit_predicts_class_one_above_a_half() {
        // Keras' binary accuracy: threshold 0.5 on the sigmoid's output.
        let act = array![[0.7], [0.2], [0.5], [f64::NAN]];
        assert_eq!(count_correct(&act, &[1, 0, 1, 0]), 2);
        assert_eq!(predicted_class(&act.row(2)), Some(0));
        assert_eq!(predicted_class(&act.row(3)), None);
    }

    #[test]
    fn argmax_skips_nan() {
        let r = array![f64::NAN, 0.2, 0.9, 0.1];
        assert_eq!(argmax(&r.view()), Some(2));
        let all_nan = array![f64::NAN, f64::NAN];
        assert_eq!(argmax(&all_nan.view()), None);
    }
}

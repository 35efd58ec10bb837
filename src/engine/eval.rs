//! Evaluation of a network on a whole data set, outside the training loop
//! (no hooks fire: evaluating is not an operation of training).

use super::float::Float;
use super::loss::{batch_loss, count_correct};
use super::network::Network;
use crate::kinds::LossKind;
use ndarray::{Array2, Axis};

/// Rows evaluated at once, to bound memory on large test sets.
const CHUNK: usize = 512;

/// Mean loss and accuracy of a data set.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EvalStats {
    pub loss: f64,
    pub accuracy: f64,
}

/// Evaluates `net` on features `x`, one-hot `targets` and `labels`.
pub fn evaluate<F: Float>(
    net: &Network<F>,
    loss: LossKind,
    x: &Array2<F>,
    targets: &Array2<F>,
    labels: &[usize],
) -> EvalStats {
    let n = x.nrows();
    if n == 0 {
        return EvalStats {
            loss: f64::NAN,
            accuracy: f64::NAN,
        };
    }
    let (mut total, mut correct) = (0.0, 0usize);
    let output = net.output_activation();
    for start in (0..n).step_by(CHUNK) {
        let end = (start + CHUNK).min(n);
        let xs = x.slice_axis(Axis(0), (start..end).into());
        let ts = targets.slice_axis(Axis(0), (start..end).into()).to_owned();
        let (pre, act) = net.predict(xs);
        total += batch_loss(loss, output, &pre, &act, &ts) * (end - start) as f64;
        correct += count_correct(&act, labels.get(start..end).unwrap_or(&[]));
    }
    EvalStats {
        loss: total / n as f64,
        accuracy: correct as f64 / n as f64,
    }
}

//! The confusion matrix of the final network on the evaluated set (the test
//! set, else the training set), with per-class accuracy and that set's own
//! chance level: overall accuracy hides a class the network never predicts.

use crate::engine::loss::predicted_class;
use crate::engine::{Float, Network};
use ndarray::{Array2, Axis};
use serde::{Deserialize, Serialize};

/// Rows evaluated at once, to bound memory on large sets.
const CHUNK: usize = 512;

/// Counts of (true class, predicted class) on one data set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Confusion {
    /// "test" or "train": the set that was evaluated.
    pub set: String,
    /// matrix[true][predicted].
    pub matrix: Vec<Vec<usize>>,
    /// Per true class: correct / samples of that class (null when the set
    /// has none of it).
    pub per_class_accuracy: Vec<Option<f64>>,
    /// Samples whose outputs were not finite (not counted in the matrix).
    pub nonfinite: usize,
    /// Majority-class share of this set's own labels.
    pub chance_accuracy: f64,
}

/// The confusion matrix of `net` on features `x` with `labels`.
pub fn confusion<F: Float>(
    net: &Network<F>,
    x: &Array2<F>,
    labels: &[usize],
    classes: usize,
    set: &str,
) -> Confusion {
    let mut matrix = vec![vec![0usize; classes]; classes];
    let mut nonfinite = 0;
    for start in (0..x.nrows()).step_by(CHUNK) {
        let end = (start + CHUNK).min(x.nrows());
        let (_, act) = net.predict(x.slice_axis(Axis(0), (start..end).into()));
        for (row, &label) in act
            .rows()
            .into_iter()
            .zip(labels.get(start..end).unwrap_or(&[]))
        {
            // Any non-finite output makes the row unclassifiable; otherwise
            // the engine's own prediction (argmax, or 0.5 on one unit).
            let best = if row.iter().all(|v| v.f64().is_finite()) {
                predicted_class(&row)
            } else {
                None
            };
            match (best, matrix.get_mut(label)) {
                (Some(k), Some(r)) => {
                    if let Some(c) = r.get_mut(k) {
                        *c += 1;
                    }
                }
                _ => nonfinite += 1,
            }
        }
    }
    from_matrix(matrix, nonfinite, set)
}

/// Per-class accuracy and chance level of a count matrix.
pub fn from_matrix(matrix: Vec<Vec<usize>>, nonfinite: usize, set: &str) -> Confusion {
    let per_class_accuracy = matrix
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let n: usize = r.iter().sum();
            (n > 0).then(|| r.get(i).copied().unwrap_or(0) as f64 / n as f64)
        })
        .collect();
    let totals: Vec<usize> = matrix.iter().map(|r| r.iter().sum()).collect();
    let all: usize = totals.iter().sum();
    let top = totals.iter().copied().max().unwrap_or(0) as f64 / all.max(1) as f64;
    Confusion {
        set: set.to_string(),
        per_class_accuracy,
        nonfinite,
        chance_accuracy: top.max(1.0 / totals.len().max(1) as f64),
        matrix,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_class_accuracy_and_chance_follow_the_rows() {
        // Source of truth: the definitions. Class 0: 8 of 10 right; class
        // 1: 0 of 2 right (always predicted 0); class 2 absent.
        let c = from_matrix(vec![vec![8, 2, 0], vec![2, 0, 0], vec![0, 0, 0]], 0, "test");
        assert_eq!(c.per_class_accuracy, vec![Some(0.8), Some(0.0), None]);
        assert!((c.chance_accuracy - 10.0 / 12.0).abs() < 1e-12);
    }
}

//! Feature scaling applied after loading and `train_limit`: none, divide by
//! 255, or per-feature standardization with statistics from the training
//! set only (the test set gets the same transform, so no test information
//! leaks into training).

use super::spec::Scale;
use super::Dataset;
use ndarray::{Array1, Array2, Axis};

/// Below this standard deviation a feature is treated as constant and only
/// centred: dividing by a tiny std would turn rounding noise into huge
/// inputs (MNIST border pixels are exactly constant).
pub const MIN_STD: f64 = 1e-12;

/// Applies `scale` to the training set and, identically, to the test set.
pub fn apply(scale: Scale, train: &mut Dataset, test: Option<&mut Dataset>) {
    match scale {
        Scale::None => {}
        Scale::Unit => {
            train.features /= 255.0;
            if let Some(t) = test {
                t.features /= 255.0;
            }
        }
        Scale::Standardize => {
            let s = Standardizer::fit(&train.features);
            s.apply(&mut train.features);
            if let Some(t) = test {
                s.apply(&mut t.features);
            }
        }
    }
}

/// Per-feature z-score transform: `(x - mean) / std`, or `x - mean` where
/// `std < MIN_STD` (or the std overflowed to a non-finite value).
#[derive(Debug, Clone, PartialEq)]
pub struct Standardizer {
    pub mean: Array1<f64>,
    /// Population standard deviation (divides by n, not n - 1).
    pub std: Array1<f64>,
}

impl Standardizer {
    /// Mean and population std of each column over its finite values.
    /// Non-finite values are ignored so one NaN does not poison a whole
    /// feature; a column with no finite value gets mean 0 and std 0 (left
    /// unchanged).
    pub fn fit(x: &Array2<f64>) -> Self {
        let (mean, std) = x
            .axis_iter(Axis(1))
            .map(|col| finite_mean_std(col.iter().copied()))
            .unzip();
        Self {
            mean: Array1::from_vec(mean),
            std: Array1::from_vec(std),
        }
    }

    /// Transforms `x` in place; non-finite values stay non-finite. Columns
    /// beyond those fitted are left alone.
    pub fn apply(&self, x: &mut Array2<f64>) {
        for ((mut col, &m), &s) in x.axis_iter_mut(Axis(1)).zip(&self.mean).zip(&self.std) {
            if s.is_finite() && s >= MIN_STD {
                col.mapv_inplace(|v| (v - m) / s);
            } else {
                col.mapv_inplace(|v| v - m);
            }
        }
    }
}

/// Two-pass mean and population std of the finite values (two passes
/// avoid the cancellation of the sum-of-squares formula).
fn finite_mean_std(values: impl Iterator<Item = f64> + Clone) -> (f64, f64) {
    let finite = values.filter(|v| v.is_finite());
    let (n, sum) = finite
        .clone()
        .fold((0usize, 0.0), |(n, s), v| (n + 1, s + v));
    if n == 0 {
        return (0.0, 0.0);
    }
    let mean = sum / n as f64;
    let var = finite.map(|v| (v - mean) * (v - mean)).sum::<f64>() / n as f64;
    (mean, var.sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    /// Independent mean / population std (definition), for checking.
    fn stats(col: &[f64]) -> (f64, f64) {
        let n = col.len() as f64;
        let mean = col.iter().sum::<f64>() / n;
        let var = col.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
        (mean, var.sqrt())
    }

    #[test]
    fn standardized_train_has_zero_mean_unit_std() {
        // Source of truth: the definition of mean and population std,
        // computed independently by `stats`.
        let mut x = array![
            [1.0, 100.0, 5.0],
            [2.0, 300.0, 5.0],
            [4.0, 200.0, 5.0],
            [9.0, 0.0, 5.0]
        ];
        let s = Standardizer::fit(&x);
        s.apply(&mut x);
        for j in 0..2 {
            let (m, sd) = stats(&x.column(j).to_vec());
            assert!(m.abs() < 1e-12, "col {j} mean {m}");
            assert!((sd - 1.0).abs() < 1e-12, "col {j} std {sd}");
        }
        // Constant column: only centred, std stays 0 (no division).
        assert_eq!(x.column(2).to_vec(), vec![0.0; 4]);
        assert_eq!(s.std[2], 0.0);
    }

    #[test]
    fn fitted_values_match_definition() {
        // Source of truth: hand calculation; column [1, 2, 4, 9] has mean 4
        // and population variance (9 + 4 + 0 + 25) / 4 = 9.5.
        let x = array![[1.0], [2.0], [4.0], [9.0]];
        let s = Standardizer::fit(&x);
        assert_eq!(s.mean[0], 4.0);
        assert!((s.std[0] - 9.5f64.sqrt()).abs() < 1e-15);
    }

    #[test]
    fn non_finite_values_ignored_in_fit_and_kept() {
        let mut x = array![[1.0], [f64::NAN], [3.0], [f64::INFINITY]];
        let s = Standardizer::fit(&x);
        // Source of truth: finite values [1, 3] have mean 2, std 1.
        assert_eq!((s.mean[0], s.std[0]), (2.0, 1.0));
        s.apply(&mut x);
        assert_eq!(x[[0, 0]], -1.0);
        assert!(x[[1, 0]].is_nan());
        assert_eq!(x[[3, 0]], f64::INFINITY);
        let all_nan = Standardizer::fit(&array![[f64::NAN], [f64::NAN]]);
        assert_eq!((all_nan.mean[0], all_nan.std[0]), (0.0, 0.0));
    }

    #[test]
    fn nearly_constant_feature_only_centred() {
        let mut x = array![[1.0], [1.0 + 1e-14], [1.0]];
        let s = Standardizer::fit(&x);
        assert!(s.std[0] < MIN_STD);
        s.apply(&mut x);
        assert!(x.iter().all(|v| v.abs() < 1e-13));
    }

    #[test]
    fn apply_uses_train_statistics_for_test() {
        let mut train = Dataset {
            features: array![[0.0], [2.0]],
            labels: vec![0, 1],
            targets: None,
        };
        let mut test = Dataset {
            features: array![[4.0]],
            labels: vec![0],
            targets: None,
        };
        apply(Scale::Standardize, &mut train, Some(&mut test));
        // Source of truth: train mean 1, std 1, so 4 -> 3.
        assert_eq!(test.features[[0, 0]], 3.0);
        assert_eq!(train.features.column(0).to_vec(), vec![-1.0, 1.0]);
    }

    #[test]
    fn unit_and_none() {
        let mut train = Dataset {
            features: array![[255.0, 51.0]],
            labels: vec![0],
            targets: None,
        };
        let mut test = Dataset {
            features: array![[0.0, 510.0]],
            labels: vec![0],
            targets: None,
        };
        apply(Scale::None, &mut train, Some(&mut test));
        assert_eq!(train.features, array![[255.0, 51.0]]);
        apply(Scale::Unit, &mut train, Some(&mut test));
        // Source of truth: x / 255.
        assert_eq!(train.features, array![[1.0, 0.2]]);
        assert_eq!(test.features, array![[0.0, 2.0]]);
    }
}

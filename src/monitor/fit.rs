//! How well a regression or multilabel network fits a data set: what
//! accuracy is for a classifier. Regression: R^2 and RMSE (in the targets'
//! original units when they were standardized), and the per-sample gain
//! over predicting the set's own mean with its standard error, which is
//! what `no-better-than-mean` tests (its mean is R^2 times the set's
//! variance, so "gain significantly above 0" is "R^2 significantly above 0"). Multilabel: exact match (every label
//! of a sample right) and accuracy per label, an output above 1/2 meaning 1.

use crate::data::spec::Task;
use crate::engine::{Float, Network};
use ndarray::{Array2, Axis};
use serde::{Deserialize, Serialize};

/// The fit of the final network on one set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskFit {
    pub task: Task,
    /// `"test"`, or `"train"` without a test set.
    pub set: String,
    pub samples: usize,
    /// Regression: 1 - SSE / SST, pooled over the target columns, SST
    /// around the set's own mean.
    #[serde(default)]
    pub r2: Option<f64>,
    /// Regression: root mean squared error per target value, original units.
    #[serde(default)]
    pub rmse: Option<f64>,
    /// Regression: mean over samples of (y - set mean)^2 - (y - yhat)^2
    /// (summed over targets, training units): how much better than the
    /// mean. The set's own mean, not the training mean: against the
    /// training mean a constant prediction nearer the test mean would
    /// "beat" it, while against the set mean no constant can.
    #[serde(default)]
    pub gain_mean: Option<f64>,
    /// Its standard error (sample std / sqrt(n)).
    #[serde(default)]
    pub gain_se: Option<f64>,
    /// Multilabel: share of samples with every label right.
    #[serde(default)]
    pub exact_match: Option<f64>,
    /// Multilabel: accuracy of each label.
    #[serde(default)]
    pub label_accuracy: Vec<f64>,
    /// Multilabel: share of samples whose every label is the training set's
    /// most frequent value of that label (what "learned nothing" scores).
    #[serde(default)]
    pub chance_exact_match: Option<f64>,
}

/// The fit at one evaluation step (loss.csv's task columns, loss.png).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskEval {
    pub step: usize,
    pub fit: TaskFit,
}

impl TaskEval {
    /// The headline metric: R^2 (regression) or exact match (multilabel).
    pub fn headline(&self) -> Option<f64> {
        self.fit.r2.or(self.fit.exact_match)
    }

    /// Its name for axes and legends.
    pub fn headline_name(&self) -> &'static str {
        if self.fit.task == Task::Multilabel {
            "exact match"
        } else {
            "R²"
        }
    }
}

/// Evaluates `net` on `x` against `targets` (training units). `train_mean`
/// is the training targets' column mean (multilabel chance); `scaler` the standardization's
/// (mean, std), so RMSE is reported in the original units.
pub fn task_fit<F: Float>(
    net: &Network<F>,
    x: &Array2<F>,
    targets: &Array2<F>,
    task: Task,
    set: &str,
    train_mean: &[f64],
    scaler: Option<&(Vec<f64>, Vec<f64>)>,
) -> TaskFit {
    let (_, act) = net.predict(x.view());
    let y = act.mapv(|v| v.f64());
    let t = targets.mapv(|v| v.f64());
    let mut fit = TaskFit {
        task,
        set: set.to_string(),
        samples: t.nrows(),
        r2: None,
        rmse: None,
        gain_mean: None,
        gain_se: None,
        exact_match: None,
        label_accuracy: Vec::new(),
        chance_exact_match: None,
    };
    match task {
        Task::Regression => regression(&y, &t, scaler, &mut fit),
        Task::Multilabel => multilabel(&y, &t, train_mean, &mut fit),
        Task::Classification => {}
    }
    fit
}

fn regression(
    y: &Array2<f64>,
    t: &Array2<f64>,
    scaler: Option<&(Vec<f64>, Vec<f64>)>,
    fit: &mut TaskFit,
) {
    let n = t.nrows();
    if n == 0 || y.dim() != t.dim() {
        return;
    }
    let set_mean = t.mean_axis(Axis(0));
    let (mut sse, mut sst, mut sse_orig) = (0.0, 0.0, 0.0);
    let mut gains = Vec::with_capacity(n);
    for (yr, tr) in y.rows().into_iter().zip(t.rows()) {
        let mut gain = 0.0;
        for (k, (&p, &v)) in yr.iter().zip(tr.iter()).enumerate() {
            let e = v - p;
            sse += e * e;
            let m = set_mean.as_ref().map_or(0.0, |m| m[k]);
            sst += (v - m) * (v - m);
            let unit = scaler.and_then(|s| s.1.get(k)).copied().unwrap_or(1.0);
            sse_orig += (e * unit) * (e * unit);
            gain += (v - m) * (v - m) - e * e;
        }
        gains.push(gain);
    }
    let values = (n * t.ncols()).max(1) as f64;
    fit.r2 = (sst > 0.0).then(|| 1.0 - sse / sst);
    fit.rmse = Some((sse_orig / values).sqrt());
    let mean = gains.iter().sum::<f64>() / n as f64;
    fit.gain_mean = Some(mean);
    if n > 1 {
        let var = gains.iter().map(|g| (g - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
        fit.gain_se = Some((var / n as f64).sqrt());
    }
}

fn multilabel(y: &Array2<f64>, t: &Array2<f64>, train_mean: &[f64], fit: &mut TaskFit) {
    let n = t.nrows();
    if n == 0 || y.dim() != t.dim() {
        return;
    }
    let mut right = vec![0usize; t.ncols()];
    let (mut exact, mut chance) = (0usize, 0usize);
    for (yr, tr) in y.rows().into_iter().zip(t.rows()) {
        let mut all = true;
        let mut all_majority = true;
        for (k, (&p, &v)) in yr.iter().zip(tr.iter()).enumerate() {
            let predicted = if p > 0.5 { 1.0 } else { 0.0 };
            if predicted == v {
                right[k] += 1;
            } else {
                all = false;
            }
            let majority = if train_mean.get(k).copied().unwrap_or(0.0) > 0.5 {
                1.0
            } else {
                0.0
            };
            all_majority &= majority == v;
        }
        exact += usize::from(all);
        chance += usize::from(all_majority);
    }
    fit.exact_match = Some(exact as f64 / n as f64);
    fit.chance_exact_match = Some(chance as f64 / n as f64);
    fit.label_accuracy = right.iter().map(|&r| r as f64 / n as f64).collect();
}

/// Column means of the training targets (the mean predictor's output).
pub fn column_means(t: &Array2<f64>) -> Vec<f64> {
    t.mean_axis(Axis(0)).map_or_else(Vec::new, |m| m.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn regression_metrics_by_hand() {
        // Source of truth: hand arithmetic. t = [1, 2, 3], y = [1, 2, 4]:
        // SSE 1, SST 2 (mean 2) -> R^2 0.5; RMSE sqrt(1/3); gains over the
        // set mean 2: (1-0)=1, (0-0)=0, (1-1)=0 -> mean 1/3 = R^2 * SST / n.
        let mut fit = TaskFit {
            task: Task::Regression,
            set: "test".into(),
            samples: 3,
            r2: None,
            rmse: None,
            gain_mean: None,
            gain_se: None,
            exact_match: None,
            label_accuracy: Vec::new(),
            chance_exact_match: None,
        };
        let t = array![[1.0], [2.0], [3.0]];
        let y = array![[1.0], [2.0], [4.0]];
        regression(&y, &t, None, &mut fit);
        assert!((fit.r2.unwrap() - 0.5).abs() < 1e-12);
        assert!((fit.rmse.unwrap() - (1.0f64 / 3.0).sqrt()).abs() < 1e-12);
        assert!((fit.gain_mean.unwrap() - 1.0 / 3.0).abs() < 1e-12);
        // Standardized targets with std 10: RMSE in original units x10.
        regression(&y, &t, Some(&(vec![0.0], vec![10.0])), &mut fit);
        assert!((fit.rmse.unwrap() - 10.0 * (1.0f64 / 3.0).sqrt()).abs() < 1e-12);
        // Multilabel: rows (1,0) right, (1,1) half right.
        let t = array![[1.0, 0.0], [1.0, 1.0]];
        let y = array![[0.9, 0.2], [0.7, 0.1]];
        multilabel(&y, &t, &[1.0, 0.0], &mut fit);
        assert_eq!(fit.exact_match, Some(0.5));
        assert_eq!(fit.label_accuracy, vec![1.0, 0.5]);
        assert_eq!(fit.chance_exact_match, Some(0.5));
    }
}

//! Regression and multilabel data: seeded synthetic regression problems
//! (a noisy sine and a noisy linear function), target standardization from
//! the training split, and the check that the data fits the task the config
//! names (a value that does not fit is refused with the task that would).

use super::scale::Standardizer;
use super::spec::{DataConfig, DataSpec, Generator, Task};
use super::synthetic::{generator_name, DATA_STREAM, MAX_SAMPLES};
use super::{Data, DataError, Dataset};
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use std::f64::consts::PI;

/// What to generate; mirrors `DataSpec::Synthetic` plus the run seed.
#[derive(Debug, Clone, PartialEq)]
pub struct RegressionParams {
    pub generator: Generator,
    pub samples: usize,
    pub noise: f64,
    pub test_fraction: f64,
    pub seed: u64,
}

/// The noiseless function of a generator at one input.
pub fn truth(generator: Generator, x: &[f64]) -> f64 {
    match (generator, x) {
        (Generator::Sine, [x0, ..]) => x0.sin(),
        (Generator::Linear, [x0, x1, ..]) => 2.0 * x0 - 3.0 * x1 + 0.5,
        _ => 0.0,
    }
}

/// Input width of a regression generator.
fn width(generator: Generator) -> usize {
    if generator == Generator::Sine {
        1
    } else {
        2
    }
}

/// Generates a regression set: inputs (sine: x uniform in [-pi, pi];
/// linear: x ~ N(0, 1)^2), target = truth + noise * N(0, 1). The first
/// `round(samples * test_fraction)` samples are the test set (the samples
/// are independent draws, so no shuffle is needed).
pub fn generate(p: &RegressionParams) -> Result<Data, DataError> {
    let name = generator_name(p.generator);
    if !(2..=MAX_SAMPLES).contains(&p.samples) {
        return Err(DataError::Synthetic(format!(
            "{name}: samples must be in 2..={MAX_SAMPLES}, found {}",
            p.samples
        )));
    }
    if !(p.test_fraction.is_finite() && (0.0..1.0).contains(&p.test_fraction)) {
        return Err(DataError::Synthetic(format!(
            "{name}: test_fraction must be in [0, 1), found {}",
            p.test_fraction
        )));
    }
    let n_test = (p.samples as f64 * p.test_fraction).round() as usize;
    if n_test >= p.samples {
        return Err(DataError::Synthetic(format!(
            "{name}: test_fraction {} leaves no training samples",
            p.test_fraction
        )));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(p.seed ^ DATA_STREAM);
    let w = width(p.generator);
    let mut x = Array2::zeros((p.samples, w));
    let mut y = Array2::zeros((p.samples, 1));
    for i in 0..p.samples {
        let row: Vec<f64> = (0..w)
            .map(|_| match p.generator {
                Generator::Sine => rng.random_range(-PI..PI),
                _ => rng.sample(StandardNormal),
            })
            .collect();
        let noise: f64 = rng.sample(StandardNormal);
        y[[i, 0]] = truth(p.generator, &row) + p.noise * noise;
        for (j, v) in row.into_iter().enumerate() {
            x[[i, j]] = v;
        }
    }
    let part = |from: usize, to: usize| Dataset {
        features: x.slice(ndarray::s![from..to, ..]).to_owned(),
        labels: Vec::new(),
        targets: Some(y.slice(ndarray::s![from..to, ..]).to_owned()),
    };
    let train = part(n_test, p.samples);
    let test = (n_test > 0).then(|| part(0, n_test));
    Ok(Data {
        description: format!(
            "synthetic: {name} regression ({} samples, noise {}), train {}, test {}",
            p.samples,
            p.noise,
            train.len(),
            n_test
        ),
        train,
        test,
        classes: 1,
        class_names: None,
        shape: None,
        task: Task::Regression,
        target_names: vec!["y".to_string()],
        target_scaler: None,
    })
}

/// Refuses data whose targets do not fit `[data] task`, naming the task
/// that would fit.
pub fn check_task(data: &Data, cfg: &DataConfig) -> Result<(), DataError> {
    if data.task == cfg.task {
        return Ok(());
    }
    let what = match &cfg.spec {
        DataSpec::Synthetic { generator, .. } => {
            format!("generator \"{}\"", generator_name(*generator))
        }
        DataSpec::Idx { .. } => "IDX label files".to_string(),
        DataSpec::Csv { .. } => "this CSV".to_string(),
    };
    let makes = match data.task {
        Task::Regression => "continuous targets",
        Task::Multilabel => "0/1 targets per label",
        Task::Classification => "class labels",
    };
    Err(DataError::Synthetic(format!(
        "[data] task = \"{}\", but {what} makes {makes}: set task = \"{}\"",
        cfg.task.name(),
        data.task.name()
    )))
}

/// Standardizes each target column with the training split's mean and
/// population std (also applied to the test split); returns them so
/// predictions can be reported in the original units.
pub fn standardize_targets(
    train: &mut Dataset,
    test: Option<&mut Dataset>,
) -> Option<(Vec<f64>, Vec<f64>)> {
    let t = train.targets.as_mut()?;
    let s = Standardizer::fit(t);
    s.apply(t);
    if let Some(tt) = test.and_then(|d| d.targets.as_mut()) {
        s.apply(tt);
    }
    Some((s.mean.to_vec(), s.std.to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(generator: Generator) -> RegressionParams {
        RegressionParams {
            generator,
            samples: 500,
            noise: 0.0,
            test_fraction: 0.2,
            seed: 3,
        }
    }

    #[test]
    fn noiseless_targets_are_the_function() {
        // Source of truth: y = sin(x) and y = 2 x1 - 3 x2 + 0.5 by definition.
        for g in [Generator::Sine, Generator::Linear] {
            let d = generate(&params(g)).unwrap();
            assert_eq!((d.train.len(), d.test.as_ref().unwrap().len()), (400, 100));
            let t = d.train.targets.as_ref().unwrap();
            for (row, y) in d.train.features.rows().into_iter().zip(t.column(0)) {
                let x = row.to_vec();
                let want = match g {
                    Generator::Sine => x[0].sin(),
                    _ => 2.0 * x[0] - 3.0 * x[1] + 0.5,
                };
                assert!((y - want).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn seeded_and_noisy() {
        let p = RegressionParams {
            noise: 0.1,
            ..params(Generator::Sine)
        };
        assert_eq!(generate(&p).unwrap(), generate(&p).unwrap());
        let other = generate(&RegressionParams {
            seed: 4,
            ..p.clone()
        })
        .unwrap();
        assert_ne!(generate(&p).unwrap(), other);
        // Residual std of the noise is near 0.1 (400 draws: within 20%).
        let d = generate(&p).unwrap();
        let t = d.train.targets.unwrap();
        let r: Vec<f64> = d
            .train
            .features
            .column(0)
            .iter()
            .zip(t.column(0))
            .map(|(x, y)| y - x.sin())
            .collect();
        let sd = (r.iter().map(|v| v * v).sum::<f64>() / r.len() as f64).sqrt();
        assert!((sd - 0.1).abs() < 0.02, "{sd}");
    }

    #[test]
    fn standardized_targets_have_train_mean_zero_std_one() {
        let mut d = generate(&params(Generator::Linear)).unwrap();
        let (m, s) = standardize_targets(&mut d.train, d.test.as_mut()).unwrap();
        let t = d.train.targets.unwrap();
        let mean = t.column(0).sum() / t.nrows() as f64;
        let var = t.column(0).mapv(|v| (v - mean).powi(2)).sum() / t.nrows() as f64;
        assert!(mean.abs() < 1e-12 && (var - 1.0).abs() < 1e-12);
        assert!(s[0] > 1.0 && m[0].is_finite());
    }
}

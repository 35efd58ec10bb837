//! Seeded 2-D toy data sets (spirals, blobs, xor, circles), used to check a
//! network on a problem whose difficulty is known.
//!
//! Samples are split as equally as possible among classes (the remainder
//! goes to the first classes), generated class by class, shuffled, and the
//! first `round(samples * test_fraction)` of the shuffled order become the
//! test set. The random stream is seeded from the run seed mixed with
//! [`DATA_STREAM`], so changing data never shifts weight initialisation or
//! batch order, and the same seed always gives identical data.

use super::spec::Generator;
use super::{Data, DataError, Dataset, MAX_CLASSES};
use ndarray::Array2;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use std::f64::consts::{PI, TAU};

/// Tag mixed into the run seed for the data stream.
pub const DATA_STREAM: u64 = 0xD1A7_A5EE_D000_0001;

/// Blob standard deviation used when `noise` is smaller, so that `noise = 0`
/// still gives blobs rather than one repeated point per class.
pub const BLOB_MIN_STD: f64 = 0.1;

/// Radius of the circle the blob centres sit on (evenly spaced by angle).
/// With the minimum std the blobs are well separated for up to ~90 classes.
pub const BLOB_RING_RADIUS: f64 = 3.0;

/// Turns each spiral arm makes from the centre to radius 1.
pub const SPIRAL_TURNS: f64 = 0.75;

/// Upper bound on `samples`, so a typo in a config is an error rather than
/// an allocation that kills the process.
pub const MAX_SAMPLES: usize = 10_000_000;

/// What to generate; mirrors `DataSpec::Synthetic` plus the run seed.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntheticParams {
    pub generator: Generator,
    pub samples: usize,
    pub classes: usize,
    pub noise: f64,
    pub test_fraction: f64,
    pub seed: u64,
}

/// The config spelling of a generator, for descriptions and errors.
pub fn generator_name(g: Generator) -> &'static str {
    match g {
        Generator::Spirals => "spirals",
        Generator::Blobs => "blobs",
        Generator::Xor => "xor",
        Generator::Circles => "circles",
        Generator::Sine => "sine",
        Generator::Linear => "linear",
    }
}

fn invalid(message: String) -> DataError {
    DataError::Synthetic(message)
}

/// Rejects parameters the generators cannot honour; returns the test size.
fn validate(p: &SyntheticParams) -> Result<usize, DataError> {
    let name = generator_name(p.generator);
    if p.classes < 2 {
        return Err(invalid(format!(
            "{name}: classes must be at least 2, found {}",
            p.classes
        )));
    }
    if p.generator == Generator::Xor && p.classes != 2 {
        return Err(invalid(format!(
            "xor has exactly 2 classes, found classes = {}",
            p.classes
        )));
    }
    if p.classes > MAX_CLASSES {
        return Err(invalid(format!(
            "{name}: classes must be at most {MAX_CLASSES}, found {}",
            p.classes
        )));
    }
    if p.samples < p.classes {
        return Err(invalid(format!(
            "{name}: samples ({}) must be at least classes ({})",
            p.samples, p.classes
        )));
    }
    if p.samples > MAX_SAMPLES {
        return Err(invalid(format!(
            "{name}: samples must be at most {MAX_SAMPLES}, found {}",
            p.samples
        )));
    }
    if !p.noise.is_finite() || p.noise < 0.0 {
        return Err(invalid(format!(
            "{name}: noise must be a finite number >= 0, found {}",
            p.noise
        )));
    }
    if !(p.test_fraction.is_finite() && (0.0..1.0).contains(&p.test_fraction)) {
        return Err(invalid(format!(
            "{name}: test_fraction must be in [0, 1), found {}",
            p.test_fraction
        )));
    }
    let n_test = test_size(p.samples, p.test_fraction);
    if n_test >= p.samples {
        return Err(invalid(format!(
            "{name}: test_fraction {} of {} samples puts all {n_test} in the test set, leaving none to train on",
            p.test_fraction, p.samples
        )));
    }
    Ok(n_test)
}

/// `round(samples * fraction)`; fraction is already checked to be in [0, 1).
fn test_size(samples: usize, fraction: f64) -> usize {
    (samples as f64 * fraction).round() as usize
}

/// Samples per class: equal shares, remainder to the first classes.
pub fn class_sizes(samples: usize, classes: usize) -> Vec<usize> {
    if classes == 0 {
        return Vec::new();
    }
    let (base, extra) = (samples / classes, samples % classes);
    (0..classes)
        .map(|k| base + usize::from(k < extra))
        .collect()
}

/// Generates the data set described by `p`.
pub fn generate(p: &SyntheticParams) -> Result<Data, DataError> {
    if p.generator.is_regression() {
        // `data::load` sends these to `regression::generate`.
        return Err(invalid(format!(
            "{} makes continuous targets, not classes",
            generator_name(p.generator)
        )));
    }
    let n_test = validate(p)?;
    let mut rng = ChaCha8Rng::seed_from_u64(p.seed ^ DATA_STREAM);
    let mut points = Vec::with_capacity(p.samples);
    for (k, &n_k) in class_sizes(p.samples, p.classes).iter().enumerate() {
        for i in 0..n_k {
            let [x, y] = point(p, k, i, n_k, &mut rng);
            points.push((x, y, k));
        }
    }
    points.shuffle(&mut rng);
    let (test_pts, train_pts) = points.split_at(n_test.min(points.len()));
    let train = to_dataset(train_pts);
    let test = (!test_pts.is_empty()).then(|| to_dataset(test_pts));
    let description = format!(
        "synthetic: {} ({} classes, {} samples, noise {}), train {}, test {}",
        generator_name(p.generator),
        p.classes,
        p.samples,
        p.noise,
        train.len(),
        test.as_ref()
            .map_or("none".to_string(), |t| t.len().to_string())
    );
    Ok(Data {
        train,
        test,
        classes: p.classes,
        class_names: None,
        task: super::spec::Task::Classification,
        target_names: Vec::new(),
        target_scaler: None,
        description,
        shape: None,
    })
}

fn to_dataset(points: &[(f64, f64, usize)]) -> Dataset {
    let mut features = Array2::zeros((points.len(), 2));
    for (mut row, &(x, y, _)) in features.rows_mut().into_iter().zip(points) {
        row.assign(&ndarray::arr1(&[x, y]));
    }
    Dataset {
        features,
        labels: points.iter().map(|&(_, _, k)| k).collect(),
        targets: None,
    }
}

/// The `i`-th of `n_k` points of class `k`, noise included.
fn point(p: &SyntheticParams, k: usize, i: usize, n_k: usize, rng: &mut ChaCha8Rng) -> [f64; 2] {
    let [x, y] = match p.generator {
        Generator::Spirals => spiral_point(k, p.classes, i, n_k),
        Generator::Blobs => return blob_point(k, p.classes, p.noise, rng),
        Generator::Xor => xor_point(k, rng),
        Generator::Circles => circle_point(k, rng),
        // Refused by `generate` before any point is drawn.
        Generator::Sine | Generator::Linear => [0.0, 0.0],
    };
    [x + p.noise * gauss(rng), y + p.noise * gauss(rng)]
}

fn gauss(rng: &mut ChaCha8Rng) -> f64 {
    rng.sample(StandardNormal)
}

/// Arm `k` of `classes`: radius grows linearly with angle from near 0 to 1
/// over [`SPIRAL_TURNS`] turns; arms are rotated by `2π k / classes` so they
/// interleave. Points are evenly spaced along the arm.
fn spiral_point(k: usize, classes: usize, i: usize, n_k: usize) -> [f64; 2] {
    let t = (i as f64 + 0.5) / n_k as f64;
    let theta = TAU * k as f64 / classes as f64 + TAU * SPIRAL_TURNS * t;
    [t * theta.cos(), t * theta.sin()]
}

/// Isotropic Gaussian around centre `k` of `classes` evenly spaced on the
/// circle of radius [`BLOB_RING_RADIUS`], std `max(noise, BLOB_MIN_STD)`.
/// The noise is the blob's spread, not added on top of it.
fn blob_point(k: usize, classes: usize, noise: f64, rng: &mut ChaCha8Rng) -> [f64; 2] {
    let angle = TAU * k as f64 / classes as f64;
    let std = noise.max(BLOB_MIN_STD);
    [
        BLOB_RING_RADIUS * angle.cos() + std * gauss(rng),
        BLOB_RING_RADIUS * angle.sin() + std * gauss(rng),
    ]
}

/// The xor label of a point: 1 when exactly one coordinate is positive.
pub fn xor_label(x: f64, y: f64) -> usize {
    usize::from((x > 0.0) != (y > 0.0))
}

/// A point uniform over the part of [-1, 1]² whose xor label is `k`: the
/// sign of y is random, the sign of x follows from the label, and the
/// magnitudes are uniform in (0, 1] (so neither coordinate is exactly 0,
/// where the label would be ambiguous).
fn xor_point(k: usize, rng: &mut ChaCha8Rng) -> [f64; 2] {
    let y_pos = rng.random::<bool>();
    let x_pos = y_pos != (k == 1);
    let mag = |rng: &mut ChaCha8Rng| 1.0 - rng.random::<f64>();
    let x = if x_pos { mag(rng) } else { -mag(rng) };
    let y = if y_pos { mag(rng) } else { -mag(rng) };
    [x, y]
}

/// A point on the ring of radius `k + 1` at a uniform angle.
fn circle_point(k: usize, rng: &mut ChaCha8Rng) -> [f64; 2] {
    let angle = rng.random_range(0.0..2.0 * PI);
    let r = (k + 1) as f64;
    [r * angle.cos(), r * angle.sin()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(generator: Generator, samples: usize, classes: usize) -> SyntheticParams {
        SyntheticParams {
            generator,
            samples,
            classes,
            noise: 0.1,
            test_fraction: 0.2,
            seed: 42,
        }
    }

    const ALL: [Generator; 4] = [
        Generator::Spirals,
        Generator::Blobs,
        Generator::Xor,
        Generator::Circles,
    ];

    fn classes_for(g: Generator) -> usize {
        if g == Generator::Xor {
            2
        } else {
            3
        }
    }

    #[test]
    fn same_seed_same_data_other_seed_other_data() {
        for g in ALL {
            let p = params(g, 101, classes_for(g));
            assert_eq!(generate(&p).unwrap(), generate(&p).unwrap(), "{g:?}");
            let q = SyntheticParams {
                seed: 43,
                ..p.clone()
            };
            assert_ne!(
                generate(&p).unwrap().train,
                generate(&q).unwrap().train,
                "{g:?}"
            );
        }
    }

    #[test]
    fn classes_balanced_remainder_first() {
        // Source of truth: 101 = 3 * 33 + 2, so the first two classes get 34.
        assert_eq!(class_sizes(101, 3), vec![34, 34, 33]);
        for g in ALL {
            let c = classes_for(g);
            let d = generate(&params(g, 101, c)).unwrap();
            let mut counts = d.train.class_counts(c);
            for (n, t) in counts
                .iter_mut()
                .zip(d.test.as_ref().unwrap().class_counts(c))
            {
                *n += t;
            }
            assert_eq!(counts, class_sizes(101, c), "{g:?}");
            assert_eq!(d.classes, c);
            assert_eq!(d.train.width(), 2);
        }
    }

    #[test]
    fn split_sizes() {
        // Source of truth: round(101 * 0.2) = round(20.2) = 20.
        let d = generate(&params(Generator::Blobs, 101, 3)).unwrap();
        assert_eq!(d.test.as_ref().unwrap().len(), 20);
        assert_eq!(d.train.len(), 81);
        // round(10 * 0.25) = round(2.5) = 3 (half away from zero).
        let p = SyntheticParams {
            samples: 10,
            test_fraction: 0.25,
            ..params(Generator::Xor, 10, 2)
        };
        assert_eq!(generate(&p).unwrap().test.unwrap().len(), 3);
        let p = SyntheticParams {
            test_fraction: 0.0,
            ..p
        };
        let d = generate(&p).unwrap();
        assert!(d.test.is_none());
        assert_eq!(d.train.len(), 10);
    }

    #[test]
    fn data_is_shuffled() {
        let d = generate(&params(Generator::Circles, 300, 3)).unwrap();
        let sorted = d.train.labels.windows(2).all(|w| w[0] <= w[1]);
        assert!(!sorted);
    }

    #[test]
    fn xor_labels_match_quadrants_without_noise() {
        // Source of truth: label = (x > 0) xor (y > 0), computed here.
        let p = SyntheticParams {
            noise: 0.0,
            ..params(Generator::Xor, 500, 2)
        };
        let d = generate(&p).unwrap();
        for ds in [&d.train, d.test.as_ref().unwrap()] {
            for (row, &l) in ds.features.rows().into_iter().zip(&ds.labels) {
                let (x, y) = (row[0], row[1]);
                assert!((-1.0..=1.0).contains(&x) && (-1.0..=1.0).contains(&y));
                assert_eq!(l, usize::from((x > 0.0) ^ (y > 0.0)), "({x}, {y})");
            }
        }
    }

    #[test]
    fn circles_radius_is_class_plus_one_without_noise() {
        // Source of truth: generator definition, radius k + 1.
        let p = SyntheticParams {
            noise: 0.0,
            ..params(Generator::Circles, 60, 3)
        };
        let d = generate(&p).unwrap();
        for (row, &l) in d.train.features.rows().into_iter().zip(&d.train.labels) {
            let r = (row[0] * row[0] + row[1] * row[1]).sqrt();
            assert!((r - (l + 1) as f64).abs() < 1e-12);
        }
    }

    #[test]
    fn blobs_centred_on_ring() {
        // Source of truth: centres at 3 (cos 2πk/C, sin 2πk/C); the sample
        // mean of 2000 points with std 0.1 is within ~0.01 of it.
        let p = SyntheticParams {
            noise: 0.0,
            test_fraction: 0.0,
            ..params(Generator::Blobs, 4000, 2)
        };
        let d = generate(&p).unwrap();
        for k in 0..2 {
            let rows: Vec<_> = d
                .train
                .labels
                .iter()
                .enumerate()
                .filter(|(_, &l)| l == k)
                .map(|(i, _)| i)
                .collect();
            let sub = d.train.select(&rows);
            let mx = sub.features.column(0).mean().unwrap();
            let my = sub.features.column(1).mean().unwrap();
            let a = TAU * k as f64 / 2.0;
            assert!((mx - 3.0 * a.cos()).abs() < 0.02 && (my - 3.0 * a.sin()).abs() < 0.02);
        }
    }

    #[test]
    fn spiral_radius_grows_with_position() {
        // Source of truth: radius t = (i + 0.5) / n_k on arm k.
        let [x, y] = spiral_point(1, 3, 9, 10);
        assert!(((x * x + y * y).sqrt() - 0.95).abs() < 1e-12);
        let [x, y] = spiral_point(0, 3, 0, 10);
        assert!(((x * x + y * y).sqrt() - 0.05).abs() < 1e-12);
    }

    fn expect_err(p: SyntheticParams, needle: &str) {
        let msg = generate(&p).unwrap_err().to_string();
        assert!(
            msg.starts_with("invalid synthetic data parameters"),
            "{msg}"
        );
        assert!(msg.contains(needle), "{msg}");
    }

    #[test]
    fn error_cases_for_every_generator() {
        for g in ALL {
            let c = classes_for(g);
            expect_err(params(g, 1, 1), "at least 2");
            expect_err(params(g, c - 1, c), "must be at least classes");
            expect_err(
                SyntheticParams {
                    noise: -0.1,
                    ..params(g, 50, c)
                },
                "noise",
            );
            expect_err(
                SyntheticParams {
                    noise: f64::NAN,
                    ..params(g, 50, c)
                },
                "noise",
            );
            expect_err(
                SyntheticParams {
                    noise: f64::INFINITY,
                    ..params(g, 50, c)
                },
                "noise",
            );
            expect_err(
                SyntheticParams {
                    test_fraction: 1.0,
                    ..params(g, 50, c)
                },
                "[0, 1)",
            );
            expect_err(
                SyntheticParams {
                    test_fraction: -0.1,
                    ..params(g, 50, c)
                },
                "[0, 1)",
            );
            expect_err(
                SyntheticParams {
                    test_fraction: f64::NAN,
                    ..params(g, 50, c)
                },
                "[0, 1)",
            );
            expect_err(
                SyntheticParams {
                    test_fraction: 0.9,
                    ..params(g, 3, 2)
                },
                "leaving none",
            );
            expect_err(params(g, MAX_SAMPLES + 1, c), "at most");
        }
        expect_err(params(Generator::Xor, 30, 3), "exactly 2 classes");
        expect_err(
            params(Generator::Blobs, usize::MAX, MAX_CLASSES + 1),
            "at most",
        );
    }
}

//! The data module owns everything between a `[data]` table and the arrays
//! the trainer consumes: reading IDX / CSV files or generating synthetic
//! sets, applying `train_limit` and scaling, one-hot targets, and seeded
//! mini-batch order. Bad input is reported as a [`DataError`] that names the
//! file and says what was expected versus found; nothing here panics on it.

pub mod batch;
pub mod csvfile;
pub mod idx;
pub mod regression;
pub mod scale;
pub mod spec;
pub mod synthetic;

use ndarray::{Array2, Axis};
use std::path::{Path, PathBuf};

/// Largest number of classes accepted from a file or config. A label of
/// two billion would otherwise make the one-hot targets an allocation the
/// process cannot survive, so it is refused as an invalid label instead.
pub const MAX_CLASSES: usize = 1 << 16;

/// Everything that can go wrong while loading or batching data.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The file could not be opened or read.
    #[error("{}: cannot read: {source}", .path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A data file named in the config could not be opened or read: the
    /// message names the key and the path as resolved, since a relative
    /// path that works from one directory fails from another only when the
    /// reader does not know it is taken from the config's directory.
    #[error(
        "[data] {key}: cannot read {}: {source} (a relative path in a config is resolved against the config file's directory)",
        .path.display()
    )]
    ConfigFile {
        key: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file is not a well-formed IDX file.
    #[error("{}: {message}", .path.display())]
    Idx { path: PathBuf, message: String },
    /// The file is not a usable CSV file; `line` is 1-based when known.
    #[error("{}{}: {message}", .path.display(), line_suffix(*.line))]
    Csv {
        path: PathBuf,
        line: Option<u64>,
        message: String,
    },
    /// An images file and its labels file disagree on the sample count.
    #[error(
        "image/label count mismatch: {} has {images} images but {} has {labels} labels",
        .images_path.display(),
        .labels_path.display()
    )]
    CountMismatch {
        images_path: PathBuf,
        images: usize,
        labels_path: PathBuf,
        labels: usize,
    },
    /// Train and test samples have a different number of features.
    #[error(
        "feature width mismatch: train data {} has {train_width} features per sample but test data {} has {test_width}",
        .train_path.display(),
        .test_path.display()
    )]
    WidthMismatch {
        train_path: PathBuf,
        train_width: usize,
        test_path: PathBuf,
        test_width: usize,
    },
    /// A label is negative, fractional, of a non-integer type, or too large.
    #[error("{}: invalid label: {message}", .path.display())]
    InvalidLabel { path: PathBuf, message: String },
    /// The synthetic generator was asked for something it cannot produce.
    #[error("invalid synthetic data parameters: {0}")]
    Synthetic(String),
    /// No training samples remain (empty file or `train_limit = 0`).
    #[error("no training samples: {0}")]
    EmptyTrain(String),
    /// A batcher was asked for a batch size it cannot serve.
    #[error("batch size {batch_size} is invalid for {samples} training samples: {reason}")]
    BatchSize {
        batch_size: usize,
        samples: usize,
        reason: &'static str,
    },
}

/// `":17"` for a known line, nothing otherwise.
fn line_suffix(line: Option<u64>) -> String {
    line.map(|l| format!(":{l}")).unwrap_or_default()
}

/// Samples as rows; labels are class indices `0..classes`. Regression and
/// multilabel data have no labels but a target row per sample.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    pub features: Array2<f64>,
    pub labels: Vec<usize>,
    /// Continuous (regression) or 0/1 (multilabel) targets, one column per
    /// output unit; `None` for classification.
    pub targets: Option<Array2<f64>>,
}

impl Dataset {
    /// Number of samples.
    pub fn len(&self) -> usize {
        self.features.nrows()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of features per sample.
    pub fn width(&self) -> usize {
        self.features.ncols()
    }

    /// NaN and infinite feature values; loading keeps them so that the
    /// diagnosis can report them instead of the loader refusing the file.
    pub fn count_nonfinite(&self) -> usize {
        self.features.iter().filter(|v| !v.is_finite()).count()
    }

    /// Samples per class, for class-balance checks. Labels `>= classes`
    /// are not counted.
    pub fn class_counts(&self, classes: usize) -> Vec<usize> {
        let mut counts = vec![0; classes];
        for &l in &self.labels {
            if let Some(c) = counts.get_mut(l) {
                *c += 1;
            }
        }
        counts
    }

    /// Keeps only the first `n` samples (all of them when `n >= len`).
    pub fn truncate(&mut self, n: usize) {
        if n < self.len() {
            self.features = self.features.slice(ndarray::s![..n, ..]).to_owned();
            self.labels.truncate(n);
            if let Some(t) = self.targets.as_mut() {
                *t = t.slice(ndarray::s![..n, ..]).to_owned();
            }
        }
    }

    /// The samples at `indices`, in that order. Out-of-range indices are
    /// skipped, so a caller bug yields a short batch rather than a panic.
    pub fn select(&self, indices: &[usize]) -> Dataset {
        let valid: Vec<usize> = indices
            .iter()
            .copied()
            .filter(|&i| i < self.len())
            .collect();
        Dataset {
            features: self.features.select(Axis(0), &valid),
            labels: valid
                .iter()
                .filter_map(|&i| self.labels.get(i).copied())
                .collect(),
            targets: self.targets.as_ref().map(|t| t.select(Axis(0), &valid)),
        }
    }
}

/// A loaded, limited and scaled data set, ready for training.
#[derive(Debug, Clone, PartialEq)]
pub struct Data {
    pub train: Dataset,
    pub test: Option<Dataset>,
    pub classes: usize,
    /// Names of classes when the labels were strings (CSV), in index order.
    pub class_names: Option<Vec<String>>,
    /// What the targets are; regression and multilabel sets carry
    /// `Dataset::targets` and `classes` is their number of columns.
    pub task: spec::Task,
    /// Names of the target columns (regression, multilabel).
    pub target_names: Vec<String>,
    /// Mean and std per target column when `scale_targets = "standardize"`
    /// (training split only): predictions times std plus mean are in the
    /// original units.
    pub target_scaler: Option<(Vec<f64>, Vec<f64>)>,
    /// One line describing where the data came from, for reports
    /// ("idx: fixtures/.../train-images-idx3-ubyte.gz (8000 x 784), test 2000").
    pub description: String,
    /// The shape of one sample when it is an image (IDX images [N, H, W]
    /// are 1 x H x W; CSV data may declare `input_shape`); `None` is flat.
    pub shape: Option<crate::kinds::Shape>,
}

impl Data {
    /// The shape of one sample: the declared image shape, else flat.
    pub fn sample_shape(&self) -> crate::kinds::Shape {
        self.shape
            .unwrap_or(crate::kinds::Shape::Flat(self.train.width()))
    }
}

/// Loads the data a config asks for, then applies `train_limit` (first N
/// training samples) and finally scaling, whose statistics therefore come
/// from exactly the samples that will be trained on.
pub fn load(cfg: &spec::DataConfig, seed: u64) -> Result<Data, DataError> {
    load_files(cfg, seed).map_err(|e| name_config_key(e, &cfg.spec))
}

/// An I/O error on a file the config names becomes [`DataError::ConfigFile`]
/// naming its `[data]` key.
fn name_config_key(e: DataError, spec: &spec::DataSpec) -> DataError {
    let DataError::Io { path, source } = e else {
        return e;
    };
    let keys: Vec<(&'static str, &Path)> = match spec {
        spec::DataSpec::Idx {
            train_images,
            train_labels,
            test_images,
            test_labels,
        } => [
            Some(("train_images", train_images.as_path())),
            Some(("train_labels", train_labels.as_path())),
            test_images.as_deref().map(|p| ("test_images", p)),
            test_labels.as_deref().map(|p| ("test_labels", p)),
        ]
        .into_iter()
        .flatten()
        .collect(),
        spec::DataSpec::Csv { train, test, .. } => [
            Some(("train", train.as_path())),
            test.as_deref().map(|p| ("test", p)),
        ]
        .into_iter()
        .flatten()
        .collect(),
        spec::DataSpec::Synthetic { .. } => Vec::new(),
    };
    match keys.iter().find(|(_, p)| *p == path.as_path()) {
        Some(&(key, _)) => DataError::ConfigFile { key, path, source },
        None => DataError::Io { path, source },
    }
}

fn load_files(cfg: &spec::DataConfig, seed: u64) -> Result<Data, DataError> {
    let mut data = match &cfg.spec {
        spec::DataSpec::Idx {
            train_images,
            train_labels,
            test_images,
            test_labels,
        } => idx::load_idx(
            train_images,
            train_labels,
            test_images.as_deref(),
            test_labels.as_deref(),
            cfg.train_limit.filter(|&n| n > 0),
        )?,
        spec::DataSpec::Csv {
            train,
            test,
            label_column,
            target_columns,
        } => csvfile::load_csv(
            train,
            test.as_deref(),
            &csvfile::Columns {
                label: label_column.as_deref(),
                targets: target_columns.as_deref(),
                task: cfg.task,
            },
            cfg.train_limit.filter(|&n| n > 0),
        )?,
        spec::DataSpec::Synthetic {
            generator,
            samples,
            noise,
            test_fraction,
            ..
        } if generator.is_regression() => regression::generate(&regression::RegressionParams {
            generator: *generator,
            samples: *samples,
            noise: *noise,
            test_fraction: *test_fraction,
            seed,
        })?,
        spec::DataSpec::Synthetic {
            generator,
            samples,
            classes,
            noise,
            test_fraction,
        } => synthetic::generate(&synthetic::SyntheticParams {
            generator: *generator,
            samples: *samples,
            classes: *classes,
            noise: *noise,
            test_fraction: *test_fraction,
            seed,
        })?,
    };
    apply_limit(&mut data, cfg.train_limit)?;
    if cfg.input_shape.is_some() {
        data.shape = cfg.input_shape;
    }
    regression::check_task(&data, cfg)?;
    if let Some(path) = labels_path(&cfg.spec).filter(|_| data.task == spec::Task::Classification) {
        check_classes(&data, path)?;
    }
    scale::apply(cfg.scale, &mut data.train, data.test.as_mut());
    if cfg.scale_targets == spec::TargetScale::Standardize {
        data.target_scaler = regression::standardize_targets(&mut data.train, data.test.as_mut());
    }
    Ok(data)
}

/// The file the training labels come from (synthetic data has none).
fn labels_path(spec: &spec::DataSpec) -> Option<&Path> {
    match spec {
        spec::DataSpec::Idx { train_labels, .. } => Some(train_labels),
        spec::DataSpec::Csv { train, .. } => Some(train),
        spec::DataSpec::Synthetic { .. } => None,
    }
}

/// Labels are class indices 0..classes: every class needs training samples.
/// A single class leaves nothing to learn; a class only the test set has
/// can never be predicted; a class no split has (labels 1..K leave class 0
/// empty) makes an output unit that nothing trains, and a run that looks
/// healthy.
fn check_classes(data: &Data, path: &Path) -> Result<(), DataError> {
    let mut train_counts = vec![0usize; data.classes];
    for &l in &data.train.labels {
        if let Some(c) = train_counts.get_mut(l) {
            *c += 1;
        }
    }
    let bad = |message: String| DataError::InvalidLabel {
        path: path.to_path_buf(),
        message,
    };
    let present: Vec<usize> = (0..data.classes).filter(|&c| train_counts[c] > 0).collect();
    if present.len() < 2 {
        return Err(bad(format!(
            "the training data holds a single class ({}): there is nothing to tell apart; \
             check the label column and train_limit",
            class_name(data, present.first().copied().unwrap_or(0))
        )));
    }
    let absent: Vec<usize> = (0..data.classes)
        .filter(|&c| train_counts[c] == 0)
        .collect();
    if absent.is_empty() {
        return Ok(());
    }
    let names: Vec<String> = absent.iter().map(|&c| class_name(data, c)).collect();
    let in_test = data
        .test
        .as_ref()
        .is_some_and(|t| t.labels.iter().any(|l| absent.contains(l)));
    Err(bad(if in_test {
        format!(
            "the test data has classes the training data lacks: {}; the network cannot learn them \
             (a larger train_limit or a stratified split helps)",
            names.join(", ")
        )
    } else {
        format!(
            "labels are class indices 0..{}, but class {} has no samples; number classes from 0 \
             without gaps (labels 1..K: subtract 1)",
            data.classes - 1,
            names.join(", ")
        )
    }))
}

/// A class's name for messages: its label string, else its index.
fn class_name(data: &Data, c: usize) -> String {
    data.class_names
        .as_ref()
        .and_then(|n| n.get(c))
        .map_or_else(|| c.to_string(), |n| format!("'{n}'"))
}

/// Keeps the first `limit` training samples and notes it in the description.
fn apply_limit(data: &mut Data, limit: Option<usize>) -> Result<(), DataError> {
    let Some(n) = limit else { return Ok(()) };
    if n == 0 {
        return Err(DataError::EmptyTrain(format!(
            "train_limit = 0 leaves none of the {} training samples of {}",
            data.train.len(),
            data.description
        )));
    }
    if n < data.train.len() {
        data.train.truncate(n);
        data.description
            .push_str(&format!(", train limited to the first {n}"));
    }
    Ok(())
}

/// One row per label with a 1 in the label's column. A label `>= classes`
/// gives an all-zero row (loading never produces one).
pub fn one_hot(labels: &[usize], classes: usize) -> Array2<f64> {
    let mut out = Array2::zeros((labels.len(), classes));
    for (mut row, &l) in out.rows_mut().into_iter().zip(labels) {
        if let Some(v) = row.get_mut(l) {
            *v = 1.0;
        }
    }
    out
}

/// The training targets of class labels for an output layer of `units`:
/// one-hot rows, or for one unit the label itself in a single column: 0/1
/// for two classes (the usual sigmoid binary classifier), and for more
/// classes the class index, as Keras trains a Dense(1) on integer labels
/// (a mistake, diagnosed as `output-units-mismatch`).
pub fn targets_for(labels: &[usize], classes: usize, units: usize) -> Array2<f64> {
    if units == 1 && classes >= 2 {
        Array2::from_shape_fn((labels.len(), 1), |(i, _)| labels[i] as f64)
    } else {
        one_hot(labels, classes)
    }
}

/// Number of classes implied by the largest label over train and test.
pub(crate) fn classes_from_labels(train: &[usize], test: Option<&[usize]>) -> usize {
    let max = train.iter().chain(test.unwrap_or(&[])).copied().max();
    max.map_or(0, |m| m + 1)
}

/// Refuses an empty training set with a message naming its source.
pub(crate) fn ensure_nonempty_train(train: &Dataset, source: &Path) -> Result<(), DataError> {
    if train.is_empty() {
        return Err(DataError::EmptyTrain(format!(
            "{} contains no samples",
            source.display()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn one_unit_binary_targets_are_the_labels() {
        // A sigmoid unit trained on 0/1 (Keras' binary_crossentropy setup).
        assert_eq!(targets_for(&[1, 0, 1], 2, 1), array![[1.0], [0.0], [1.0]]);
        assert_eq!(targets_for(&[1, 0], 2, 2), array![[0.0, 1.0], [1.0, 0.0]]);
    }

    #[test]
    fn one_hot_marks_each_label() {
        // Source of truth: the definition of one-hot encoding.
        let m = one_hot(&[2, 0, 1], 3);
        assert_eq!(m, array![[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]);
    }

    #[test]
    fn one_hot_out_of_range_label_is_zero_row() {
        let m = one_hot(&[5], 3);
        assert_eq!(m, array![[0.0, 0.0, 0.0]]);
    }

    #[test]
    fn dataset_helpers() {
        let mut d = Dataset {
            features: array![[1.0, f64::NAN], [f64::INFINITY, 2.0], [3.0, 4.0]],
            labels: vec![0, 1, 1],
            targets: None,
        };
        assert_eq!((d.len(), d.width(), d.is_empty()), (3, 2, false));
        assert_eq!(d.count_nonfinite(), 2);
        assert_eq!(d.class_counts(2), vec![1, 2]);
        let s = d.select(&[2, 0, 9]);
        assert_eq!(s.labels, vec![1, 0]);
        assert_eq!(s.features.row(0).to_vec(), vec![3.0, 4.0]);
        d.truncate(1);
        assert_eq!(d.len(), 1);
        assert_eq!(d.features.nrows(), 1);
        d.truncate(10);
        assert_eq!(d.len(), 1);
    }

    #[test]
    fn load_applies_limit_then_scale() {
        let cfg = spec::DataConfig {
            input_shape: None,
            spec: spec::DataSpec::Synthetic {
                generator: spec::Generator::Blobs,
                samples: 100,
                classes: 2,
                noise: 0.5,
                test_fraction: 0.2,
            },
            scale: spec::Scale::Standardize,
            train_limit: Some(30),
            task: spec::Task::Classification,
            scale_targets: spec::TargetScale::None,
        };
        let data = load(&cfg, 7).unwrap();
        assert_eq!(data.train.len(), 30);
        assert_eq!(data.test.as_ref().map(Dataset::len), Some(20));
        assert!(
            data.description.contains("first 30"),
            "{}",
            data.description
        );
        // Source of truth: standardization definition — mean of the 30
        // kept samples is 0 after scaling.
        for col in data.train.features.columns() {
            let mean = col.sum() / col.len() as f64;
            assert!(mean.abs() < 1e-9, "mean {mean}");
        }
    }

    #[test]
    fn load_mnist_fixture_limited_and_unit_scaled() {
        let p = |f: &str| {
            PathBuf::from(format!(
                "{}/fixtures/data/mnist/{f}",
                env!("CARGO_MANIFEST_DIR")
            ))
        };
        let cfg = spec::DataConfig {
            input_shape: None,
            spec: spec::DataSpec::Idx {
                train_images: p("train-images-idx3-ubyte.gz"),
                train_labels: p("train-labels-idx1-ubyte.gz"),
                test_images: Some(p("t10k-images-idx3-ubyte.gz")),
                test_labels: Some(p("t10k-labels-idx1-ubyte.gz")),
            },
            scale: spec::Scale::Unit,
            train_limit: Some(100),
            task: spec::Task::Classification,
            scale_targets: spec::TargetScale::None,
        };
        let data = load(&cfg, 0).unwrap();
        assert_eq!(data.train.features.dim(), (100, 784));
        assert_eq!(data.test.as_ref().map(Dataset::len), Some(2000));
        assert_eq!(data.classes, 10);
        // Source of truth: uint8 pixels / 255 lie in [0, 1] and 255 occurs.
        let max = data.train.features.iter().cloned().fold(0.0, f64::max);
        assert_eq!(max, 1.0);
        assert!(data.train.features.iter().all(|v| (0.0..=1.0).contains(v)));
    }

    #[test]
    fn load_rejects_zero_limit() {
        let cfg = spec::DataConfig {
            input_shape: None,
            spec: spec::DataSpec::Synthetic {
                generator: spec::Generator::Xor,
                samples: 10,
                classes: 2,
                noise: 0.0,
                test_fraction: 0.0,
            },
            scale: spec::Scale::None,
            train_limit: Some(0),
            task: spec::Task::Classification,
            scale_targets: spec::TargetScale::None,
        };
        let err = load(&cfg, 1).unwrap_err();
        assert!(matches!(err, DataError::EmptyTrain(_)), "{err}");
    }

    #[test]
    fn error_messages_name_paths_and_lines() {
        let e = DataError::Csv {
            path: "a.csv".into(),
            line: Some(17),
            message: "expected 5 columns like the header, found 4".into(),
        };
        assert_eq!(
            e.to_string(),
            "a.csv:17: expected 5 columns like the header, found 4"
        );
        let e = DataError::CountMismatch {
            images_path: "ti".into(),
            images: 8000,
            labels_path: "tl".into(),
            labels: 7999,
        };
        assert_eq!(
            e.to_string(),
            "image/label count mismatch: ti has 8000 images but tl has 7999 labels"
        );
    }
}

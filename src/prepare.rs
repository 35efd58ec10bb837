//! What every command that trains a config shares: the config and its data
//! loaded and checked against each other, the steps planned, the memory
//! guarded, the report directory chosen, the data converted to the training
//! precision, the optimizer and the loop's plan. `check` and `gradcheck`
//! both start here.

use crate::config::{self, Config, ConfigError, Duration};
use crate::data::{self, Data, DataError};
use crate::engine::flaw::Flaw;
use crate::engine::optim::Optimizer;
use crate::engine::train::{Plan, Split, TrainError};
use crate::engine::{Float, Network};
use crate::report::ReportError;
use std::path::{Path, PathBuf};

/// Why a command that trains a config could not run (exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Data(#[from] DataError),
    #[error(transparent)]
    Train(#[from] TrainError),
    #[error(transparent)]
    Report(#[from] ReportError),
}

/// Loads the config and its data and runs the checks that need both.
pub fn load_inputs(path: &Path) -> Result<(Config, Data), RunError> {
    load_inputs_seeded(path, None)
}

/// [`load_inputs`] with the config's seed replaced (`check --seed`).
pub fn load_inputs_seeded(path: &Path, seed: Option<u64>) -> Result<(Config, Data), RunError> {
    let mut cfg = config::load(path)?;
    if let Some(s) = seed {
        cfg.seed = s;
    }
    let data = load_data(&cfg)?;
    Ok((cfg, data))
}

/// Loads a config's data and runs the checks that need both, including the
/// memory estimate of network, optimizer and data (`run` adds the recorder
/// for its steps).
pub fn load_data(cfg: &Config) -> Result<Data, RunError> {
    let data = data::load(&cfg.data, cfg.seed)?;
    validate_against_data(cfg, &data)?;
    memory_guard(cfg, &data, 0)?;
    Ok(data)
}

/// Steps to train: the override, else `steps`, else `epochs` x batches.
pub fn planned_steps(cfg: &Config, data: &Data, over: Option<usize>) -> usize {
    over.unwrap_or(match cfg.train.duration {
        Duration::Steps(s) => s,
        Duration::Epochs(e) => e.saturating_mul(data.train.len() / cfg.train.batch_size.max(1)),
    })
}

/// Refuses (exit 2) a run whose estimated memory exceeds the limit, before
/// the network is allocated; `steps` sizes the recorder (0: none).
pub fn memory_guard(cfg: &Config, data: &Data, steps: usize) -> Result<(), ConfigError> {
    let test = data.test.as_ref().map_or(0, |d| d.len());
    let est = crate::guard::estimate(
        cfg,
        data.sample_shape(),
        data.train.len(),
        test,
        data.classes,
        steps,
    );
    crate::guard::check(cfg, &est, crate::limits::memory_limit())
}

/// `--out`, else `[report] dir`, else reports/<name> for a safe name
/// (`crate::safe_name`): a name that is not one is refused, naming the key
/// or the file stem it came from.
pub fn report_dir(cfg: &Config, out: Option<&PathBuf>) -> Result<PathBuf, ConfigError> {
    if let Some(dir) = out.cloned().or_else(|| cfg.report.dir.clone()) {
        return Ok(dir);
    }
    // A `name` key was checked when the config was read: only a name taken
    // from the file's stem can fail here.
    crate::safe_name::default_report_dir(&cfg.name).map_err(|e| {
        ConfigError::new(
            &cfg.path,
            &cfg.source,
            None,
            None,
            format!(
                "the config has no `name`, and its file name gives no usable report directory: {e}; add `name = \"...\"` or pass --out"
            ),
        )
    })
}

/// Checks that need both the config and the data; errors point at the key.
fn validate_against_data(cfg: &Config, data: &Data) -> Result<(), ConfigError> {
    let n = data.train.len();
    if cfg.train.batch_size > n {
        return Err(cfg.error_at(
            "train.batch_size",
            format!(
                "must not exceed the number of training samples ({n}), found {}",
                cfg.train.batch_size
            ),
        ));
    }
    if let Some(shape) = cfg.data.input_shape {
        let columns = data.train.width();
        if shape.width() != columns {
            return Err(cfg.error_at(
                "data.input_shape",
                format!(
                    "{shape} is {} values per sample, but the data has {columns} feature columns",
                    shape.width()
                ),
            ));
        }
    }
    // Shapes: every layer must fit what the one below gives it.
    let shapes = crate::engine::layers::plan::plan(data.sample_shape(), &cfg.model.layers)
        .map_err(|e| {
            cfg.error_at(
                &format!("model.layers[{}].{}", e.index + 1, e.key),
                e.message,
            )
        })?;
    let last = cfg.model.layers.len();
    let units = shapes.last().map_or(0, |s| s.width());
    if data.task != data::spec::Task::Classification {
        if units != data.classes {
            return Err(cfg.error_at(
                &format!("model.layers[{last}].units"),
                format!(
                    "the output layer must have one unit per target column ({} targets: {}), found {units} units",
                    data.classes,
                    data.target_names.join(", ")
                ),
            ));
        }
        return Ok(());
    }
    // Two classes may also be one unit trained on 0/1 (targets_for). A
    // one-unit softmax (the constant 1) trains too and is diagnosed
    // (`one-unit-softmax`).
    // One unit for more classes trains on the class index and is diagnosed
    // (`output-units-mismatch`).
    let one_unit_binary = units == 1;
    if units != data.classes && !one_unit_binary {
        return Err(cfg.error_at(
            &format!("model.layers[{last}].units"),
            format!(
                "the output layer must have one unit per class: the data has {} classes, found {units} units; set units = {} (or 1 for two classes)",
                data.classes, data.classes
            ),
        ));
    }
    Ok(())
}

/// Converts a data split to the training precision with the targets an
/// output of `units` trains on (see `data::targets_for`).
pub fn split<F: Float>(d: &data::Dataset, classes: usize, units: usize) -> Split<F> {
    let targets = match &d.targets {
        Some(t) => t.mapv(F::of),
        None => data::targets_for(&d.labels, classes, units).mapv(F::of),
    };
    Split {
        x: d.features.mapv(F::of),
        targets,
        labels: d.labels.clone(),
    }
}

/// A fresh optimizer for `net` as `[train]` configures it.
pub fn optimizer_for<F: Float>(cfg: &Config, net: &Network<F>) -> Optimizer<F> {
    Optimizer::for_layers(cfg.train.optimizer, cfg.train.learning_rate, &net.layers)
        .with_weight_decay(cfg.train.weight_decay)
}

/// The training loop's plan for `steps` steps of this config.
pub fn plan_for(cfg: &Config, steps: usize, flaw: Option<Flaw>) -> Plan {
    let t = &cfg.train;
    Plan {
        steps,
        batch_size: t.batch_size,
        loss: t.loss,
        clip_grad_norm: t.clip_grad_norm,
        eval_every: t.eval_every,
        seed: cfg.seed,
        flaw,
    }
}

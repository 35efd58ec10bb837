//! Resource guards: before anything large is allocated, estimate what a run
//! needs and refuse (exit 2, naming the estimate and the limit) when it does
//! not fit, instead of aborting in the allocator or meeting the OOM killer.
//!
//! The limit comes from [`crate::limits`]: MemAvailable, or `--max-memory`.

use crate::config::{Config, ConfigError, DType, Duration, OptimizerConfig, Shape};
use crate::engine::layers::plan::{param_count, plan, scratch_per_sample};
use crate::limits::bytes;
use crate::monitor::record::{LayerRow, StepRow};
use crate::monitor::recorder::MAX_ROWS;

/// A run's estimated peak memory, by part (bytes, as f64 so that absurd
/// configs cannot overflow the arithmetic).
#[derive(Debug, Clone, PartialEq)]
pub struct MemoryEstimate {
    /// Weights, gradients and update buffers.
    pub parameters: f64,
    /// Optimizer state (momentum, Adam moments).
    pub optimizer: f64,
    /// Pre-activations, activations and deltas for one batch, plus the
    /// chunked evaluation.
    pub activations: f64,
    /// The data set as loaded plus its copy in the training precision.
    pub data: f64,
    /// The recorder's rows for every recorded step.
    pub recorder: f64,
}

impl MemoryEstimate {
    pub fn total(&self) -> f64 {
        self.parameters + self.optimizer + self.activations + self.data + self.recorder
    }
}

/// Rows evaluated at once by `engine::eval` (kept in step with its CHUNK).
const EVAL_CHUNK: f64 = 512.0;

/// Estimates the memory of training `cfg` for `steps` steps on data with
/// `train`/`test` samples of shape `input` (a bare width is flat) and
/// `classes` classes. Parameters and widths come from the layers' planned
/// shapes (`engine::layers::plan`).
pub fn estimate(
    cfg: &Config,
    input: impl Into<Shape>,
    train: usize,
    test: usize,
    classes: usize,
    steps: usize,
) -> MemoryEstimate {
    let w = match cfg.model.dtype {
        DType::F32 => 4.0,
        DType::F64 => 8.0,
    };
    let input: Shape = input.into();
    let width = input.width();
    let (mut params, mut units_sum, mut units_max) = (0.0, 0.0, 0.0f64);
    let mut scratch_max = 0.0f64;
    let mut shape = input;
    for l in &cfg.model.layers {
        // Shapes were checked against the data before the guard runs; a
        // layer that does not fit counts as its `units` wide.
        let out = plan(shape, std::slice::from_ref(l))
            .ok()
            .and_then(|s| s.first().copied())
            .unwrap_or(Shape::Flat(l.units));
        params += param_count(shape, l) as f64;
        scratch_max = scratch_max.max(scratch_per_sample(shape, out, l) as f64);
        let units = out.width() as f64;
        units_sum += units;
        units_max = units_max.max(units);
        shape = out;
    }
    let states = match cfg.train.optimizer {
        OptimizerConfig::Sgd => 0.0,
        OptimizerConfig::Momentum { .. }
        | OptimizerConfig::Rmsprop { .. }
        | OptimizerConfig::Adagrad { .. } => 1.0,
        OptimizerConfig::Adam { .. } | OptimizerConfig::Adamax { .. } => 2.0,
    };
    let batch = cfg.train.batch_size as f64;
    let samples = (train + test) as f64;
    let recorded = steps as f64 / cfg.monitor.every.max(1) as f64;
    let layers = cfg.model.layers.len() as f64;
    // The recorder thins its series past this many rows (monitor::recorder).
    let cap = MAX_ROWS as f64;
    MemoryEstimate {
        parameters: 3.0 * params * w,
        optimizer: states * params * w,
        activations: 3.0 * batch * units_sum * w
            + 2.0 * EVAL_CHUNK * units_max * w
            + EVAL_CHUNK.max(batch) * scratch_max * w,
        data: samples * (width as f64 * (8.0 + w) + classes as f64 * w + 8.0),
        recorder: (recorded * layers).min(cap + layers) * std::mem::size_of::<LayerRow>() as f64
            + (steps as f64).min(cap + 1.0) * std::mem::size_of::<StepRow>() as f64,
    }
}

/// Refuses a run whose estimate exceeds `limit`; the error points at the
/// widest layer, the usual culprit, and spells out the parts.
pub fn check(
    cfg: &Config,
    est: &MemoryEstimate,
    limit: Option<(u64, &str)>,
) -> Result<(), ConfigError> {
    let Some((limit, source)) = limit else {
        return Ok(());
    };
    if est.total() <= limit as f64 {
        return Ok(());
    }
    let widest = cfg
        .model
        .layers
        .iter()
        .enumerate()
        .max_by_key(|(_, l)| l.units)
        .map_or(1, |(i, _)| i + 1);
    let key = if est.recorder > est.total() / 2.0 {
        match cfg.train.duration {
            Duration::Steps(_) => "train.steps".to_string(),
            Duration::Epochs(_) => "train.epochs".to_string(),
        }
    } else {
        format!("model.layers[{widest}].units")
    };
    Err(cfg.error_at(
        &key,
        format!(
            "this run needs an estimated {} of memory (parameters {}, optimizer state {}, \
             activations {}, data {}, recorder {}), more than the limit of {} ({source}); \
             use smaller layers, fewer steps or a larger [monitor] every, or raise --max-memory",
            bytes(est.total()),
            bytes(est.parameters),
            bytes(est.optimizer),
            bytes(est.activations),
            bytes(est.data),
            bytes(est.recorder),
            bytes(limit as f64),
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(layers: &str, steps: u64) -> Config {
        let text = format!(
            "[data]\nsource = \"synthetic\"\ngenerator = \"blobs\"\nclasses = 2\nsamples = 10\n\
             [model]\n{layers}\n[train]\nloss = \"cross_entropy\"\noptimizer = \"adam\"\n\
             learning_rate = 0.01\nbatch_size = 4\nsteps = {steps}\n"
        );
        crate::config::parse(std::path::Path::new("t.toml"), &text).unwrap()
    }

    #[test]
    fn parameters_follow_the_layer_sizes() {
        // 784 -> 1000 -> 10 in f32: (785*1000 + 1001*10) = 795,010 parameters,
        // times weights + gradients + updates (3) and Adam's two moments (2).
        let c = cfg(
            "[[model.layers]]\nunits = 1000\nactivation = \"sigmoid\"\n\
             [[model.layers]]\nunits = 10\nactivation = \"softmax\"",
            100,
        );
        let e = estimate(&c, 784, 60_000, 10_000, 10, 100);
        assert_eq!(e.parameters, 3.0 * 795_010.0 * 4.0);
        assert_eq!(e.optimizer, 2.0 * 795_010.0 * 4.0);
        assert!(check(&c, &e, Some((8 << 30, "test"))).is_ok());
    }

    #[test]
    fn a_huge_layer_is_refused_naming_the_estimate() {
        let c = cfg(
            "[[model.layers]]\nunits = 100000000\nactivation = \"relu\"\n\
             [[model.layers]]\nunits = 2\nactivation = \"softmax\"",
            10,
        );
        let e = estimate(&c, 784, 100, 0, 2, 10);
        let err = check(&c, &e, Some((16 << 30, "test")))
            .unwrap_err()
            .to_string();
        assert!(err.contains("model.layers[1].units"), "{err}");
        assert!(err.contains("needs an estimated"), "{err}");
        assert!(err.contains("17.2 GB (test)"), "{err}");
    }

    #[test]
    fn the_recorder_is_bounded_for_any_step_count() {
        // The recorder thins past MAX_ROWS rows per series, so 10^12 steps
        // cost what about MAX_ROWS rows cost (one layer here).
        let c = cfg(
            "[[model.layers]]\nunits = 2\nactivation = \"softmax\"",
            1_000_000_000_000,
        );
        let e = estimate(&c, 2, 10, 0, 2, 1_000_000_000_000);
        let per_row = (std::mem::size_of::<LayerRow>() + std::mem::size_of::<StepRow>()) as f64;
        assert!(e.recorder <= (MAX_ROWS as f64 + 1.0) * per_row, "{e:?}");
        assert!(check(&c, &e, Some((1 << 30, "test"))).is_ok());
    }
}

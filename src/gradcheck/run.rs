//! Running gradient checks around training: at init, after given steps, at
//! the end, and at the last finite state when a NaN stopped training. Both
//! `check` and the `gradcheck` command drive a [`Checker`].

use super::types::GradcheckReport;
use super::{assemble, check_point, Batch, PointResult};
use crate::config::{CheckPoint, GradcheckConfig, LossKind};
use crate::data::{targets_for, Data};
use crate::engine::flaw::Flaw;
use crate::engine::{Float, Layer, Network};
use ndarray::{Array2, Axis};
use rand::seq::index::sample;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::time::Instant;

/// Tag mixed into the seed for choosing the fixed batch.
const BATCH_STREAM: u64 = 0x6C4E_CBA7_0000_0006;

/// Collects check points while a network trains.
#[derive(Debug)]
pub struct Checker {
    x: Array2<f64>,
    /// The batch's labels and class count: the targets depend on the
    /// output width of the network checked (`data::targets_for`).
    labels: Vec<usize>,
    classes: usize,
    /// The batch's regression or multilabel targets (used as they are).
    targets: Option<Array2<f64>>,
    loss: LossKind,
    settings: GradcheckConfig,
    /// Step numbers to check after (sorted); `End` and `Init` handled apart.
    steps: Vec<usize>,
    init: bool,
    end: bool,
    flaw: Option<Flaw>,
    seed: u64,
    results: Vec<PointResult>,
    seconds: f64,
    parameters: usize,
    /// Told when a check point starts and ends (terminal progress).
    notify: Option<fn(&str)>,
    /// False for `at = []` (and `check --no-gradcheck`): no checks at all,
    /// not even on the last finite weights.
    enabled: bool,
}

impl Checker {
    /// A checker on a fixed, seeded batch of the training data.
    pub fn new(
        data: &Data,
        loss: LossKind,
        settings: &GradcheckConfig,
        points: &[CheckPoint],
        seed: u64,
        flaw: Option<Flaw>,
    ) -> Self {
        let n = data.train.len();
        let k = settings.batch.min(n);
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ BATCH_STREAM);
        let mut idx = sample(&mut rng, n, k).into_vec();
        idx.sort_unstable();
        let x = data.train.features.select(Axis(0), &idx);
        let labels: Vec<usize> = idx
            .iter()
            .filter_map(|&i| data.train.labels.get(i).copied())
            .collect();
        let mut steps: Vec<usize> = points.iter().filter_map(|p| p.step()).collect();
        steps.sort_unstable();
        steps.dedup();
        Checker {
            x,
            labels,
            classes: data.classes,
            targets: data.train.targets.as_ref().map(|t| t.select(Axis(0), &idx)),
            loss,
            settings: settings.clone(),
            steps,
            init: points.contains(&CheckPoint::Init),
            end: points.contains(&CheckPoint::End),
            flaw,
            seed,
            results: Vec::new(),
            seconds: 0.0,
            parameters: 0,
            notify: None,
            enabled: !points.is_empty(),
        }
    }

    /// Reports each check point's start and verdict to `notify` (the
    /// binary prints them on a terminal: a check of a large network takes
    /// seconds).
    pub fn with_notify(mut self, notify: Option<fn(&str)>) -> Self {
        self.notify = notify;
        self
    }

    /// Whether any check needs the network trained.
    pub fn needs_training(&self) -> bool {
        self.end || !self.steps.is_empty()
    }

    fn run<F: Float>(&mut self, net: &Network<F>, at: &str) {
        let started = Instant::now();
        let net64 = net.cast::<f64>();
        self.parameters = net64.param_count();
        if let Some(notify) = self.notify {
            notify(&format!(
                "gradcheck at {at}: checking {} parameters ...",
                self.parameters
            ));
        }
        let t = match &self.targets {
            Some(t) => t.clone(),
            None => targets_for(&self.labels, self.classes, net64.output_width()),
        };
        let batch = Batch {
            x: &self.x,
            t: &t,
            loss: self.loss,
        };
        let seed = self.seed.wrapping_add(self.results.len() as u64);
        self.results.push(check_point(
            &net64,
            batch,
            &self.settings,
            at,
            self.flaw.as_ref(),
            seed,
        ));
        let took = started.elapsed().as_secs_f64();
        self.seconds += took;
        if let (Some(notify), Some(done)) = (self.notify, self.results.last()) {
            let worst = done.tensors.iter().map(|t| t.status).max();
            let probe = done
                .tensors
                .iter()
                .filter(|t| t.verified_at == Some(super::types::State::Probe))
                .count();
            notify(&format!(
                "gradcheck at {at}: {} ({} tensors, {probe} decided at the probe state) in {took:.2} s",
                worst.map_or("nothing checked", |s| s.name()),
                done.tensors.len()
            ));
        }
    }

    /// Before training.
    pub fn at_init<F: Float>(&mut self, net: &Network<F>) {
        if self.init {
            self.run(net, "init");
        }
    }

    /// After a completed step.
    pub fn after_step<F: Float>(&mut self, step: usize, net: &Network<F>) {
        if self.steps.binary_search(&step).is_ok() {
            self.run(net, &format!("step {step}"));
        }
    }

    /// After training: at the end, or, when a non-finite value stopped it at
    /// `stopped_at`, on the last finite weights (skipped if the update that
    /// failed already wrote NaN into them, or when no check point was asked
    /// for at all).
    pub fn at_end<F: Float>(&mut self, net: &Network<F>, stopped_at: Option<usize>) {
        match stopped_at {
            None if self.end => self.run(net, "end"),
            Some(step) if self.enabled && all_weights_finite(net) => {
                self.run(net, &format!("last-finite (step {})", step - 1))
            }
            _ => {}
        }
    }

    /// Seconds spent checking so far.
    pub fn seconds(&self) -> f64 {
        self.seconds
    }

    /// Whether any check point ran.
    pub fn ran(&self) -> bool {
        !self.results.is_empty()
    }

    pub fn finish(self) -> GradcheckReport {
        assemble(self.results, self.parameters, self.seconds, &self.settings)
    }
}

fn all_weights_finite<F: Float>(net: &Network<F>) -> bool {
    net.layers.iter().all(|l| {
        l.params()
            .iter()
            .all(|p| p.value.iter().all(|v| v.is_finite()))
    })
}

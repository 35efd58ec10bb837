//! The `check` command: load, pre-flight, train with recorders, diagnose and
//! write the report. Data flows one way through it; nothing here computes
//! numbers itself, it only sequences the modules.

/// `check --try-fixes`: candidate configs from the suggestions, verified by training
/// (it runs `check` itself, so it lives inside it).
pub mod fixes;

use crate::assess::{assess, drop_noop_suggestions, Assessed, FailOn};
use crate::config::{self, Config, DType};
use crate::data::{self, Data};
use crate::diagnose::certainty::StopRule;
use crate::diagnose::preflight::{preflight, Preflight};
use crate::diagnose::{Context, Thresholds};
use crate::engine::eval::evaluate;
use crate::engine::flaw::Flaw;
use crate::engine::train::{train, Outcome, Split, TrainError};
use crate::engine::{Float, Network};
use crate::gradcheck::run::Checker;
use crate::gradcheck::types::GradcheckReport;
use crate::monitor::confusion::{confusion, Confusion};
use crate::monitor::hook::{Flow, Hook};
use crate::monitor::nonfinite::{NanOrigin, NonFiniteTracer};
use crate::monitor::probe::Prober;
use crate::monitor::record::Recording;
use crate::monitor::recorder::Recorder;
use crate::prepare::{
    load_data, memory_guard, optimizer_for, plan_for, planned_steps, report_dir, split, RunError,
};
use crate::report;
use crate::report::summary::{
    DataSummary, Final, NetworkSummary, RunParts, Summary, Timing, Verdict,
};
use crate::report::write::ReportDir;
use std::cell::{Cell, RefCell};
use std::path::PathBuf;
use std::time::Instant;

/// What the command line asked for.
#[derive(Debug, Clone)]
pub struct CheckOptions {
    pub config: PathBuf,
    /// Overrides `[report] dir`.
    pub out: Option<PathBuf>,
    /// Overrides `train.steps` / `train.epochs`.
    pub steps: Option<usize>,
    pub fail_on: FailOn,
    /// A deliberate backprop mistake (the `--inject-bug` test hook).
    pub flaw: Option<Flaw>,
    /// Derive candidate fixes from the diagnoses and verify each by training.
    pub try_fixes: bool,
    /// Skip the gradient checks (`--no-gradcheck`); summary.json's
    /// `gradcheck` is then null.
    pub no_gradcheck: bool,
    /// Told when a gradient check point starts and ends (terminal progress).
    pub gradcheck_notify: Option<fn(&str)>,
    /// Overrides the config's `seed`.
    pub seed: Option<u64>,
    /// End training once every error diagnosis is certain.
    pub stop_when_diagnosed: bool,
}

/// The raw results of training, before diagnosis.
struct Trained {
    recording: Recording,
    /// Scalar parameters of the network (`Network::param_count`).
    parameters: usize,
    preflight: Preflight,
    nan_origin: Option<NanOrigin>,
    outcome: Outcome,
    final_: Final,
    seconds: f64,
    gradcheck: Option<GradcheckReport>,
    /// The step after which `--stop-when-diagnosed` ended training.
    stopped_by_diagnosis: Option<usize>,
    confusion: Option<Confusion>,
}

/// Runs a whole check. `progress(step, total, loss)` is called after each
/// step with that step's training loss (for the progress line).
pub fn run(
    opts: &CheckOptions,
    progress: &mut dyn FnMut(usize, usize, Option<f64>),
) -> Result<Assessed, RunError> {
    let mut cfg = config::load(&opts.config)?;
    if let Some(s) = opts.seed {
        cfg.seed = s;
    }
    // The report directory is checked, locked and staged before any data is
    // read, so an unwritable or busy --out fails in a second, not after training.
    let report_dir = report_dir(&cfg, opts.out.as_ref())?;
    if opts.out.is_none() && cfg.report.dir.is_none() {
        // reports/<name> is shared by every config with that name.
        crate::report::write::refuse_other_config(&report_dir, &cfg.path, &cfg.name)?;
    }
    crate::report::write::refuse_inputs_inside(&cfg, &report_dir)?;
    let out = ReportDir::open(&report_dir)?;
    let data = load_data(&cfg)?;
    let steps = planned_steps(&cfg, &data, opts.steps);
    memory_guard(&cfg, &data, steps)?;
    let trained = match cfg.model.dtype {
        DType::F32 => train_typed::<f32>(&cfg, &data, steps, opts, progress)?,
        DType::F64 => train_typed::<f64>(&cfg, &data, steps, opts, progress)?,
    };
    let ctx = Context {
        recording: &trained.recording,
        preflight: &trained.preflight,
        nan_origin: trained.nan_origin.as_ref(),
        gradcheck: trained.gradcheck.as_ref(),
    };
    let thresholds = Thresholds::with_overrides(&cfg.thresholds);
    let summary = summarise(&cfg, &data, opts, steps, &trained, thresholds);
    let summary = assess(
        summary,
        &ctx,
        Vec::new(),
        opts.fail_on,
        &|d| drop_noop_suggestions(&cfg, d),
        &out,
    )?;
    let gradcheck = trained.gradcheck.as_ref();
    let mut done = Assessed {
        summary,
        report_dir,
    };
    if opts.try_fixes && done.summary.verdict == Verdict::Unhealthy && !done.summary.interrupted {
        done.summary.fixes = fixes::try_fixes(&cfg, &done, &out, steps);
        // Ctrl-C during the candidates: `fixes` holds the finished ones.
        done.summary.interrupted = crate::interrupt::requested();
        done.summary.headline_fix = fixes::best(&done.summary.fixes).map(|f| {
            format!(
                "{} (verified by --try-fixes: clears {})",
                f.changes.join("; "),
                f.clears.join(", ")
            )
        });
        report::write_report_in(&out, &mut done.summary, &trained.recording, gradcheck)?;
    }
    Ok(done)
}

fn train_typed<F: Float>(
    cfg: &Config,
    data: &Data,
    steps: usize,
    opts: &CheckOptions,
    progress: &mut dyn FnMut(usize, usize, Option<f64>),
) -> Result<Trained, TrainError> {
    let flaw = opts.flaw;
    let mut net = Network::<F>::init(data.sample_shape(), &cfg.model.layers, cfg.seed);
    let t = &cfg.train;
    let mut pf = preflight_of(cfg, data, &net);
    let recorder = Recorder::new(net.layer_infos(), cfg.monitor.every);
    let mut tracer = NonFiniteTracer::new();
    let started = Instant::now();
    if pf.input.nonfinite > 0 {
        // Every step would be NaN from the first: report the data instead.
        return Ok(untrained(&net, recorder, pf));
    }
    let units = net.output_width();
    let train_split = split::<F>(&data.train, data.classes, units);
    let test_split = data
        .test
        .as_ref()
        .map(|d| split::<F>(d, data.classes, units));
    let mut optimizer = optimizer_for(cfg, &net);
    let plan = plan_for(cfg, steps, flaw);
    let points = if opts.no_gradcheck {
        &[][..]
    } else {
        &cfg.gradcheck.at[..]
    };
    let mut checker = Checker::new(data, t.loss, &cfg.gradcheck, points, cfg.seed, flaw)
        .with_notify(opts.gradcheck_notify);
    checker.at_init(&net);
    let mut prober = Prober::new(
        &train_split.x,
        &train_split.targets,
        t.loss,
        cfg.monitor.every,
        steps,
    );
    // `--stop-when-diagnosed`: the recorder is shared so the prefix can be
    // diagnosed between steps; a flag hook ends training at the next event.
    let shared = RefCell::new(recorder);
    let stop = Cell::new(false);
    let mut stopped_by_diagnosis = None;
    let th = Thresholds::with_overrides(&cfg.thresholds);
    let checkpoints = crate::diagnose::certainty::checkpoints(steps);
    let mut stop_rule = StopRule::default();
    // Regression / multilabel: the task's metric at every evaluation step,
    // on the test set (else the training set), as the loop evaluates loss.
    let mut task_evals = Vec::new();
    let target_mean = crate::monitor::fit::column_means(&train_split.targets.mapv(|v| v.f64()));
    let eval_split = test_split
        .as_ref()
        .filter(|s| !s.is_empty())
        .map_or((&train_split, "train"), |s| (s, "test"));
    let outcome = {
        let mut flag = StopFlag(&stop);
        let mut rec_hook = SharedRecorder(&shared);
        let mut hooks: [&mut dyn Hook<F>; 3] = [&mut flag, &mut tracer, &mut rec_hook];
        train(
            &mut net,
            &mut optimizer,
            &train_split,
            test_split.as_ref(),
            &plan,
            &mut hooks,
            &mut |s, n| {
                checker.after_step(s, n);
                prober.after_step(s, n);
                if data.task != data::spec::Task::Classification
                    && (s % plan.eval_every == 0 || s == steps)
                {
                    let (split, set) = eval_split;
                    task_evals.push(crate::monitor::fit::TaskEval {
                        step: s,
                        fit: crate::monitor::fit::task_fit(
                            n,
                            &split.x,
                            &split.targets,
                            data.task,
                            set,
                            &target_mean,
                            data.target_scaler.as_ref(),
                        ),
                    });
                }
                if opts.stop_when_diagnosed
                    && s < steps
                    && s >= th.trend_min_points
                    && checkpoints.binary_search(&s).is_ok()
                {
                    let mut rec = shared.borrow().recording().clone();
                    rec.probes = prober.probes_so_far().to_vec();
                    let ctx = Context {
                        recording: &rec,
                        preflight: &pf,
                        nan_origin: None,
                        gradcheck: None,
                    };
                    let errors = crate::diagnose::certainty::errors_at(&ctx, &th, s);
                    if stop_rule.certain(errors) {
                        stop.set(true);
                        stopped_by_diagnosis = Some(s);
                    }
                }
                let loss = shared.borrow().recording().steps.last().map(|r| r.loss);
                progress(s, steps, loss)
            },
        )?
    };
    let recorder = shared.into_inner();
    // Time spent checking gradients or probing is not training time.
    let seconds = started.elapsed().as_secs_f64() - checker.seconds() - prober.seconds();
    checker.at_end(&net, outcome.stopped_at);
    let blew_up = outcome.stopped_at.is_some() && stopped_by_diagnosis.is_none();
    let Evaluated {
        final_,
        held_out,
        confusion,
    } = evaluate_trained(
        &net,
        data,
        t.loss,
        &train_split,
        test_split.as_ref(),
        &outcome,
        blew_up,
    );
    pf.task.held_out = held_out;
    let mut recording = recorder.into_recording_with(prober.into_probes());
    recording.task_evals = task_evals;
    Ok(Trained {
        parameters: net.param_count(),
        recording,
        preflight: pf,
        nan_origin: tracer.into_origin(),
        outcome,
        final_,
        seconds,
        gradcheck: checker.ran().then(|| checker.finish()),
        stopped_by_diagnosis,
        confusion,
    })
}

/// The pre-flight facts of a config's data and freshly initialised network.
fn preflight_of<F: Float>(cfg: &Config, data: &Data, net: &Network<F>) -> Preflight {
    let t = &cfg.train;
    let mut pf = preflight(
        &data.train.features,
        &data.train.labels,
        net,
        data.classes,
        t.loss,
        t.learning_rate,
        t.optimizer,
    );
    pf.test_samples = data.test.as_ref().map_or(0, |d| d.len());
    pf.test_class_counts = data.test.as_ref().map_or(Vec::new(), |d| {
        crate::diagnose::preflight::class_counts(&d.labels, data.classes)
    });
    pf.batch_size = t.batch_size;
    pf.task = crate::diagnose::preflight::TaskFacts::of(
        data.task,
        &data.target_names,
        data.train.targets.as_ref(),
        data.target_scaler.is_some(),
    );
    pf
}

/// A run that never trained (its data holds NaN/Inf): the pre-flight facts
/// and an empty recording, for the data diagnosis to report.
fn untrained<F: Float>(net: &Network<F>, recorder: Recorder, pf: Preflight) -> Trained {
    Trained {
        parameters: net.param_count(),
        recording: recorder.into_recording(),
        preflight: pf,
        nan_origin: None,
        outcome: Outcome {
            steps_run: 0,
            stopped_at: None,
            last: None,
            last_eval: None,
        },
        final_: Final {
            loss: None,
            train_accuracy: None,
            test_accuracy: None,
            test_loss: None,
            fit: Default::default(),
        },
        seconds: 0.0,
        gradcheck: None,
        stopped_by_diagnosis: None,
        confusion: None,
    }
}

/// What the trained network scores after training.
struct Evaluated {
    final_: Final,
    /// Regression / multilabel: the fit on the test set, else the training set.
    held_out: Option<crate::monitor::fit::TaskFit>,
    confusion: Option<Confusion>,
}

/// Evaluates the network training left: final loss and accuracy (the last
/// step's figures when training blew up), the task's fit, the confusion
/// matrix.
fn evaluate_trained<F: Float>(
    net: &Network<F>,
    data: &Data,
    loss: crate::config::LossKind,
    train_split: &Split<F>,
    test_split: Option<&Split<F>>,
    outcome: &Outcome,
    blew_up: bool,
) -> Evaluated {
    let classification = data.task == data::spec::Task::Classification;
    let fits = (!blew_up && !classification).then(|| {
        let mean = crate::monitor::fit::column_means(&train_split.targets.mapv(|v| v.f64()));
        let fit = |s: &Split<F>, set: &str| {
            crate::monitor::fit::task_fit(
                net,
                &s.x,
                &s.targets,
                data.task,
                set,
                &mean,
                data.target_scaler.as_ref(),
            )
        };
        let train_fit = fit(train_split, "train");
        let test_fit = test_split.filter(|s| !s.is_empty()).map(|s| fit(s, "test"));
        (train_fit, test_fit)
    });
    let held_out = fits
        .as_ref()
        .map(|(tr, te)| te.clone().unwrap_or_else(|| tr.clone()));
    let confusion = (!blew_up && classification).then(|| match test_split {
        Some(t) if !t.is_empty() => confusion(net, &t.x, &t.labels, data.classes, "test"),
        _ => confusion(
            net,
            &train_split.x,
            &train_split.labels,
            data.classes,
            "train",
        ),
    });
    let final_ = if blew_up {
        Final {
            loss: outcome.last.map(|s| s.loss).filter(|l| l.is_finite()),
            train_accuracy: outcome.last.map(|s| s.batch_accuracy),
            test_accuracy: outcome.last_eval.map(|e| e.accuracy),
            test_loss: outcome.last_eval.map(|e| e.loss),
            fit: Default::default(),
        }
    } else {
        let tr = evaluate(
            net,
            loss,
            &train_split.x,
            &train_split.targets,
            &train_split.labels,
        );
        Final {
            loss: Some(tr.loss).filter(|l| l.is_finite()),
            train_accuracy: Some(tr.accuracy),
            test_accuracy: outcome.last_eval.map(|e| e.accuracy),
            test_loss: outcome.last_eval.map(|e| e.loss).filter(|l| l.is_finite()),
            fit: final_fit(data.task, fits.as_ref()),
        }
    };
    let final_ = if classification {
        final_
    } else {
        // Accuracy does not apply to regression or multilabel targets.
        Final {
            train_accuracy: None,
            test_accuracy: None,
            ..final_
        }
    };
    Evaluated {
        final_,
        held_out,
        confusion,
    }
}

/// `final`'s task metrics from the final network's fits.
fn final_fit(
    task: data::spec::Task,
    fits: Option<&(
        crate::monitor::fit::TaskFit,
        Option<crate::monitor::fit::TaskFit>,
    )>,
) -> crate::report::summary::FinalFit {
    let Some((train, test)) = fits else {
        return Default::default();
    };
    crate::report::summary::FinalFit {
        task: Some(task.name().to_string()),
        train_r2: train.r2,
        train_rmse: train.rmse,
        test_r2: test.as_ref().and_then(|t| t.r2),
        test_rmse: test.as_ref().and_then(|t| t.rmse),
        train_exact_match: train.exact_match,
        test_exact_match: test.as_ref().and_then(|t| t.exact_match),
        test_label_accuracy: test
            .as_ref()
            .filter(|t| !t.label_accuracy.is_empty())
            .map(|t| t.label_accuracy.clone()),
    }
}

/// Ends training at the next event once set (`--stop-when-diagnosed`).
struct StopFlag<'a>(&'a Cell<bool>);

impl<F: Float> Hook<F> for StopFlag<'_> {
    fn on_event(&mut self, _step: usize, _event: &crate::monitor::hook::Event<'_, F>) -> Flow {
        if self.0.get() {
            Flow::Stop
        } else {
            Flow::Continue
        }
    }
}

/// The recorder behind a RefCell, so the prefix can be read between steps.
struct SharedRecorder<'a>(&'a RefCell<Recorder>);

impl<F: Float> Hook<F> for SharedRecorder<'_> {
    fn on_event(&mut self, step: usize, event: &crate::monitor::hook::Event<'_, F>) -> Flow {
        self.0.borrow_mut().on_event(step, event)
    }
    fn on_step_end(&mut self, step: usize, stats: &crate::monitor::hook::StepStats) {
        Hook::<F>::on_step_end(&mut *self.0.borrow_mut(), step, stats)
    }
    fn on_eval(&mut self, step: usize, stats: &crate::engine::eval::EvalStats) {
        Hook::<F>::on_eval(&mut *self.0.borrow_mut(), step, stats)
    }
}

fn summarise(
    cfg: &Config,
    data: &Data,
    opts: &CheckOptions,
    steps: usize,
    t: &Trained,
    thresholds: Thresholds,
) -> Summary {
    let interrupted = crate::interrupt::requested() && t.outcome.steps_run < steps;
    let stop_reason = if interrupted {
        Some(format!(
            "interrupted (SIGINT/SIGTERM) after step {}",
            t.outcome.steps_run
        ))
    } else if let Some(o) = &t.nan_origin {
        Some(format!(
            "non-finite value in {} at step {}",
            o.phase, o.step
        ))
    } else if t.preflight.input.nonfinite > 0 {
        Some("non-finite values in the training data".to_string())
    } else {
        t.stopped_by_diagnosis.map(|s| {
            format!("--stop-when-diagnosed: every error diagnosis was certain at step {s}")
        })
    };
    let samples = t.outcome.steps_run as f64 * cfg.train.batch_size as f64;
    // Verdict, exit code and diagnoses are set by `assess`.
    Summary::new(RunParts {
        name: cfg.name.clone(),
        config: cfg.path.display().to_string(),
        config_digest: crate::report::summary::config_digest(&cfg.path),
        config_path: crate::report::write::canonical_config(&cfg.path),
        seed: Some(cfg.seed),
        thresholds,
        fail_on: opts.fail_on.name().to_string(),
        steps_run: t.outcome.steps_run,
        steps_planned: steps,
        stopped_early: t.outcome.steps_run < steps,
        interrupted,
        stop_reason,
        final_: t.final_.clone(),
        nan_origin: t.nan_origin.clone(),
        gradcheck: t
            .gradcheck
            .as_ref()
            .and_then(|g| serde_json::to_value(g).ok()),
        data: DataSummary {
            description: data.description.clone(),
            train_samples: data.train.len(),
            test_samples: data.test.as_ref().map_or(0, |d| d.len()),
            features: data.train.width(),
            classes: data.classes,
        },
        network: NetworkSummary {
            dtype: cfg.model.dtype,
            layers: t.recording.layers.clone(),
            parameters: t.parameters,
            loss: cfg.train.loss,
            optimizer: cfg.train.optimizer,
            learning_rate: cfg.train.learning_rate,
            batch_size: cfg.train.batch_size,
            names: Vec::new(),
            weight_decay: cfg.train.weight_decay,
            huber_delta: match cfg.train.loss {
                crate::config::LossKind::Huber { delta } => Some(delta),
                _ => None,
            },
        },
        preflight: t.preflight.clone(),
        timing: Timing {
            seconds: t.seconds,
            samples_per_second: if t.seconds > 0.0 {
                samples / t.seconds
            } else {
                0.0
            },
        },
        confusion: t.confusion.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::Severity;

    #[test]
    fn fail_on_levels() {
        assert!(FailOn::Error.fails(Some(Severity::Error)));
        assert!(!FailOn::Error.fails(Some(Severity::Warning)));
        assert!(FailOn::Warning.fails(Some(Severity::Warning)));
        assert!(!FailOn::Never.fails(Some(Severity::Error)));
        assert!(!FailOn::Warning.fails(None));
    }
}

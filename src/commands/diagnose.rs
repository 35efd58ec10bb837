//! The `diagnose RUN_DIR` command: a recorded run (from `check` or any
//! trainer writing the run format) judged by the same [`assess`] that
//! `check` uses, with the report written to another directory.

use crate::assess::assess;
use crate::assess::{drop_noop_suggestions, Assessed, FailOn};
use crate::config::DType;
use crate::diagnose::Context;
use crate::report::summary::{DataSummary, Final, NetworkSummary, RunParts, Summary, Timing};
use crate::report::write::ReportDir;
use crate::report::ReportError;
use crate::rundir::{self, LoadedRun, RunDirError};
use std::path::{Path, PathBuf};

/// What the command line asked for.
#[derive(Debug, Clone)]
pub struct DiagnoseOptions {
    pub dir: PathBuf,
    /// Default: reports/<name>.
    pub out: Option<PathBuf>,
    pub fail_on: FailOn,
}

#[derive(Debug, thiserror::Error)]
pub enum DiagnoseError {
    #[error(transparent)]
    RunDir(#[from] RunDirError),
    #[error(transparent)]
    Report(#[from] ReportError),
}

/// Loads, diagnoses and reports one run directory.
pub fn run(opts: &DiagnoseOptions) -> Result<Assessed, DiagnoseError> {
    // The output location is settled, checked and locked before the CSVs
    // are read (only summary.json's `name` is needed for it): a bad --out
    // costs nothing, and nothing is written anywhere else.
    let summary_path = rundir::summary_path(&opts.dir)?;
    if let Some(out) = &opts.out {
        crate::report::write::refuse_run_inside(out, &opts.dir)?;
    }
    let facts = rundir::facts::RunFacts::read(&summary_path)?;
    let name = match facts.name.clone() {
        Some(name) => name,
        None => opts
            .dir
            .canonicalize()
            .ok()
            .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "run".into()),
    };
    let report_dir = match &opts.out {
        Some(out) => out.clone(),
        None => crate::safe_name::default_report_dir(&name).map_err(|e| {
            let origin = if facts.name.is_some() {
                "`name`"
            } else {
                "no `name`, and the run directory's own name"
            };
            RunDirError::format(
                &summary_path,
                format!("{origin}: {e}; pass --out to choose the report directory"),
            )
        })?,
    };
    crate::report::write::refuse_run_inside(&report_dir, &opts.dir)?;
    let out = ReportDir::open(&report_dir)?;
    let run = rundir::load_with(&opts.dir, facts)?;
    let summary = summarise(&run, name, &opts.dir, opts.fail_on);
    let ctx = Context {
        recording: &run.recording,
        preflight: &run.preflight,
        nan_origin: run.nan_origin.as_ref(),
        gradcheck: run.gradcheck.as_ref(),
    };
    let cfg = recorded_config(&run);
    let summary = assess(
        summary,
        &ctx,
        run.skipped.clone(),
        opts.fail_on,
        &|d| {
            if let Some(cfg) = &cfg {
                drop_noop_suggestions(cfg, d);
            }
        },
        &out,
    )?;
    Ok(Assessed {
        summary,
        report_dir,
    })
}

/// The config a `check` run was made from, when it is still there
/// unchanged (its digest matches the summary's): with it, suggestions that
/// equal the current setting are dropped exactly as `check` dropped them.
/// Any other run (another trainer, an edited or missing config) keeps every
/// suggestion.
fn recorded_config(run: &LoadedRun) -> Option<crate::config::Config> {
    let path = Path::new(run.facts.config.as_deref()?);
    let want = run.facts.config_digest.as_deref()?;
    if crate::report::summary::config_digest(path).as_deref() != Some(want) {
        return None;
    }
    crate::config::load(path).ok()
}

/// The summary of a recorded run, before diagnosis.
fn summarise(run: &LoadedRun, name: String, dir: &Path, fail_on: FailOn) -> Summary {
    let f = &run.facts;
    let rec = &run.recording;
    let steps_run = rec.steps.last().map_or(0, |s| s.step);
    let steps_planned = f.steps_planned.unwrap_or(steps_run).max(steps_run);
    let last = rec.steps.iter().rev().find(|s| s.loss.is_finite());
    let final_ = f.final_.clone().unwrap_or_else(|| Final {
        loss: last.map(|s| s.loss),
        train_accuracy: None,
        test_accuracy: rec.steps.iter().rev().find_map(|s| s.test_accuracy),
        test_loss: rec.steps.iter().rev().find_map(|s| s.test_loss),
        fit: Default::default(),
    });
    let stop_reason = f.stop_reason.clone().or_else(|| {
        run.nan_origin
            .as_ref()
            .map(|o| format!("non-finite value in {} at step {}", o.phase, o.step))
    });
    // A streaming recorder that never closed: the loop raised, was killed,
    // or is still running. The rows up to its last flush are judged.
    let stop_reason = match f.complete {
        Some(false) => Some(format!(
            "incomplete run: the recording stopped at step {steps_run} without being closed (the training loop raised, was killed, or is still running){}",
            stop_reason.map_or(String::new(), |r| format!("; {r}"))
        )),
        _ => stop_reason,
    };
    let net = &f.network;
    let data = f.data.clone().unwrap_or_else(|| DataSummary {
        description: "not recorded".into(),
        train_samples: 0,
        test_samples: 0,
        features: run.recording.layers.first().map_or(0, |l| l.fan_in),
        classes: run.preflight.classes,
    });
    Summary::new(RunParts {
        name,
        config: match &f.producer {
            Some(p) => format!("{} ({p})", dir.display()),
            None => dir.display().to_string(),
        },
        config_digest: f.config_digest.clone(),
        config_path: None,
        seed: f.seed,
        // A recorded run is judged by the thresholds its summary says were
        // in effect (a `check` run's `[thresholds]`), else the defaults.
        thresholds: f.thresholds.clone().unwrap_or_default(),
        fail_on: fail_on.name().to_string(),
        steps_run,
        steps_planned,
        stopped_early: steps_run < steps_planned || f.complete == Some(false),
        interrupted: f.interrupted,
        stop_reason,
        final_,
        nan_origin: run.nan_origin.clone(),
        gradcheck: f.gradcheck.clone().filter(|g| !g.is_null()),
        data,
        network: NetworkSummary {
            dtype: net.dtype.unwrap_or(DType::F32),
            layers: rec.layers.clone(),
            // Without the trainer's count: weights and biases of the layers
            // that have parameters (fan_in counts a kernel's weights).
            parameters: net.parameters.unwrap_or_else(|| {
                rec.layers
                    .iter()
                    .filter(|l| l.has_params())
                    .map(|l| (l.fan_in + 1) * l.units)
                    .sum()
            }),
            loss: run.preflight.loss,
            optimizer: run.preflight.optimizer,
            learning_rate: run.preflight.learning_rate,
            batch_size: run.preflight.batch_size,
            names: f.layer_names(),
            weight_decay: net.weight_decay,
            huber_delta: net.huber_delta,
        },
        preflight: run.preflight.clone(),
        timing: f.timing.clone().unwrap_or(Timing {
            seconds: 0.0,
            samples_per_second: 0.0,
        }),
        confusion: f.confusion.clone(),
    })
}

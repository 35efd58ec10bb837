//! The `gradcheck` command: train as the config says (only as far as the
//! check points need), check gradients at each point, write gradcheck.csv.

use crate::config::{CheckPoint, Config, DType};
use crate::data::Data;
use crate::engine::flaw::Flaw;
use crate::engine::train::{train, Plan};
use crate::engine::{Float, Network};
use crate::gradcheck::run::Checker;
use crate::gradcheck::types::GradcheckReport;
use crate::monitor::hook::Hook;
use crate::monitor::nonfinite::NonFiniteTracer;
use crate::prepare::{
    load_data, optimizer_for, plan_for, planned_steps, report_dir, split, RunError,
};
use std::path::PathBuf;

/// What the command line asked for.
#[derive(Debug, Clone)]
pub struct GradcheckOptions {
    pub config: PathBuf,
    /// Overrides `[gradcheck] at`.
    pub at: Option<Vec<CheckPoint>>,
    pub out: Option<PathBuf>,
    /// Also write a JUnit XML file here (one test case per checked tensor).
    pub junit: Option<PathBuf>,
    /// The `--inject-bug` test hook.
    pub flaw: Option<Flaw>,
    /// Told when each check point starts and ends (terminal progress).
    pub notify: Option<fn(&str)>,
}

/// A finished gradient check.
#[derive(Debug, Clone)]
pub struct GradcheckRun {
    pub report: GradcheckReport,
    pub name: String,
    pub csv: PathBuf,
}

/// Runs the gradient checks the options ask for and writes gradcheck.csv
/// (and the JUnit file).
pub fn run(opts: &GradcheckOptions) -> Result<GradcheckRun, RunError> {
    let cfg = crate::config::load(&opts.config)?;
    // Locked and staged before any data is read or any step trained, like
    // a check report: a busy or unwritable --out fails at once.
    let dir = report_dir(&cfg, opts.out.as_ref())?;
    crate::report::write::refuse_inputs_inside(&cfg, &dir)?;
    let out = crate::report::write::ReportDir::open(&dir)?;
    let data = load_data(&cfg)?;
    let points = opts.at.clone().unwrap_or_else(|| cfg.gradcheck.at.clone());
    refuse_points_beyond_the_run(&cfg, &data, &points)?;
    let report = match cfg.model.dtype {
        DType::F32 => check_typed::<f32>(&cfg, &data, &points, opts)?,
        DType::F64 => check_typed::<f64>(&cfg, &data, &points, opts)?,
    };
    let staged = out.staging().join("gradcheck.csv");
    crate::gradcheck::output::write_csv(&report, &staged).map_err(|source| {
        crate::report::ReportError::Io {
            path: staged.clone(),
            source,
        }
    })?;
    let csv = out.commit_file("gradcheck.csv")?;
    if let Some(path) = &opts.junit {
        let xml = crate::gradcheck::output::junit_xml(&report, &cfg.name);
        crate::report::write::write_atomic(path, xml.as_bytes()).map_err(|source| {
            crate::report::ReportError::Io {
                path: path.clone(),
                source,
            }
        })?;
    }
    Ok(GradcheckRun {
        report,
        name: cfg.name.clone(),
        csv,
    })
}

/// A check point past the steps the config trains would train that far
/// (`--at 100000000000` ran for ever): refuse it, naming the run's length.
fn refuse_points_beyond_the_run(
    cfg: &Config,
    data: &Data,
    points: &[CheckPoint],
) -> Result<(), RunError> {
    let planned = planned_steps(cfg, data, None);
    match points
        .iter()
        .filter_map(|p| p.step())
        .find(|&s| s > planned)
    {
        Some(step) => Err(RunError::Config(crate::config::ConfigError::new(
            &cfg.path,
            &cfg.source,
            None,
            Some("gradcheck.at".into()),
            format!(
                "check point step {step} is beyond the {planned} steps this config trains; \
                 use a step in 1..={planned}, or end"
            ),
        ))),
        None => Ok(()),
    }
}

fn check_typed<F: Float>(
    cfg: &Config,
    data: &Data,
    points: &[CheckPoint],
    opts: &GradcheckOptions,
) -> Result<GradcheckReport, RunError> {
    let t = &cfg.train;
    let flaw = opts.flaw;
    let mut net = Network::<F>::init(data.sample_shape(), &cfg.model.layers, cfg.seed);
    let mut checker =
        Checker::new(data, t.loss, &cfg.gradcheck, points, cfg.seed, flaw).with_notify(opts.notify);
    checker.at_init(&net);
    if checker.needs_training() {
        let planned = planned_steps(cfg, data, None);
        let last_point = points.iter().filter_map(|p| p.step()).max();
        let steps = if points.contains(&CheckPoint::End) {
            planned.max(last_point.unwrap_or(0))
        } else {
            last_point.unwrap_or(planned)
        };
        let train_split = split::<F>(&data.train, data.classes, net.output_width());
        let mut optimizer = optimizer_for(cfg, &net);
        // No test-set evaluation: only the gradients matter here.
        let plan = Plan {
            eval_every: usize::MAX,
            ..plan_for(cfg, steps, flaw)
        };
        let mut tracer = NonFiniteTracer::new();
        let mut hooks: [&mut dyn Hook<F>; 1] = [&mut tracer];
        let outcome = train(
            &mut net,
            &mut optimizer,
            &train_split,
            None,
            &plan,
            &mut hooks,
            &mut |s, n| checker.after_step(s, n),
        )?;
        // Ctrl-C stopped training before its end: there is no "end" state to
        // check, and checking the cut-short network under that name would
        // mislabel it. The points that ran are reported; main exits 130.
        if !crate::interrupt::requested() {
            checker.at_end(&net, outcome.stopped_at);
        }
    }
    Ok(checker.finish())
}

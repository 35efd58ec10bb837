//! The half that `check` and `diagnose` share: run every rule on a
//! recorded run, drop the rules whose inputs were not recorded (listing
//! them as skipped), date each error (`certain_at`), set the verdict and
//! exit code, and write the report. `check` is training plus this;
//! `diagnose RUN_DIR` is reading a run directory plus this, so both judge a
//! run identically.

use crate::config::{Config, LossKind};
use crate::diagnose::skipped::drop_skipped;
use crate::diagnose::{self, Context, Diagnosis, Severity, Skipped};
use crate::report::summary::{Summary, Verdict};
use crate::report::write::ReportDir;
use crate::report::{self, ReportError};

/// A judged run: its summary and where the report went (what `check` and
/// `diagnose` return).
#[derive(Debug, Clone)]
pub struct Assessed {
    pub summary: Summary,
    pub report_dir: std::path::PathBuf,
}

/// Diagnoses `ctx` with `summary.thresholds`, completes `summary`
/// (diagnoses, skipped rules, verdict, exit code) and writes the report
/// into the locked directory `out`. `refine` edits the diagnoses before
/// they are judged (`check` drops suggestions that equal the config; a
/// recorded run has no config to compare with).
pub fn assess(
    mut summary: Summary,
    ctx: &Context<'_>,
    skipped: Vec<Skipped>,
    fail_on: FailOn,
    refine: &dyn Fn(&mut Vec<Diagnosis>),
    out: &ReportDir,
) -> Result<Summary, ReportError> {
    let thresholds = summary.thresholds.clone();
    let mut diagnoses = diagnose::diagnose(ctx, &thresholds);
    drop_skipped(&mut diagnoses, &skipped);
    diagnose::certainty::set_certain_at(ctx, &thresholds, &mut diagnoses);
    refine(&mut diagnoses);
    let worst = diagnose::worst(&diagnoses);
    summary.verdict = if worst == Some(Severity::Error) {
        Verdict::Unhealthy
    } else {
        Verdict::Healthy
    };
    summary.exit_code = i32::from(fail_on.fails(worst));
    summary.fail_on = fail_on.name().to_string();
    summary.diagnoses = diagnoses;
    summary.skipped = skipped;
    report::write_report_in(out, &mut summary, ctx.recording, ctx.gradcheck)?;
    Ok(summary)
}

/// Which severity makes `check` exit 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailOn {
    Error,
    Warning,
    Never,
}

impl FailOn {
    pub fn name(self) -> &'static str {
        match self {
            FailOn::Error => "error",
            FailOn::Warning => "warning",
            FailOn::Never => "never",
        }
    }

    /// Whether a run with these diagnoses fails.
    pub fn fails(self, worst: Option<Severity>) -> bool {
        match (self, worst) {
            (FailOn::Never, _) | (_, None) => false,
            (FailOn::Error, Some(s)) => s >= Severity::Error,
            (FailOn::Warning, Some(s)) => s >= Severity::Warning,
        }
    }
}

/// Drops suggestions that name the setting the config already has (they
/// would change nothing): `init = "X"` when every layer it applies to
/// already uses X, `loss = "cross_entropy"`, `scale = "unit"` or
/// `"standardize"`, and `optimizer = "adam"` at `learning_rate = 0.001`.
pub fn drop_noop_suggestions(cfg: &Config, diagnoses: &mut [Diagnosis]) {
    use crate::config::{Init, OptimizerConfig};
    use crate::data::spec::Scale;
    let layers = &cfg.model.layers;
    let hidden = &layers[..layers.len().saturating_sub(1)];
    let all_init = |init: Init, relu: bool| {
        hidden
            .iter()
            .filter(|l| l.activation.is_relu_family() == relu)
            .all(|l| l.init == init)
    };
    let relu_biases_non_negative = hidden
        .iter()
        .filter(|l| l.activation.is_relu_family())
        .all(|l| l.bias_init >= 0.0);
    let noop = |s: &str| {
        (s.contains("init = \"xavier_uniform\"") && all_init(Init::XavierUniform, false))
            || (s.contains("init = \"he_normal\"")
                && !s.contains("activation")
                && all_init(Init::HeNormal, true)
                // "... and bias_init = 0.0" still changes a negative bias.
                && (!s.contains("bias_init") || relu_biases_non_negative))
            || (s.contains("loss = \"cross_entropy\"") && cfg.train.loss == LossKind::CrossEntropy)
            || (s.contains("scale = \"unit\"") && cfg.data.scale == Scale::Unit)
            || (s.contains("scale = \"standardize\"") && cfg.data.scale == Scale::Standardize)
            || (s.contains("optimizer = \"adam\"")
                && matches!(cfg.train.optimizer, OptimizerConfig::Adam { .. })
                && (cfg.train.learning_rate - 0.001).abs() < 1e-12)
    };
    for d in diagnoses.iter_mut() {
        d.suggestions.retain(|s| !noop(s));
    }
}

//! The half that `check` and `diagnose` share: run every rule on a
//! recorded run, drop the rules whose inputs were not recorded (listing
//! them as skipped), date each error (`certain_at`), set the verdict and
//! exit code, and write the report. `check` is training plus this;
//! `diagnose RUN_DIR` is reading a run directory plus this, so both judge a
//! run identically.

use crate::diagnose::skipped::drop_skipped;
use crate::diagnose::{self, Context, Diagnosis, Severity, Skipped};
use crate::report::summary::{Summary, Verdict};
use crate::report::write::ReportDir;
use crate::report::{self, ReportError};

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

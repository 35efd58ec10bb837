//! The half that `check` and `diagnose` share: run every rule on a
//! recorded run, drop the rules whose inputs were not recorded (listing
//! them as skipped), set the verdict and exit code, and write the report.
//! `check` is training plus this; `diagnose RUN_DIR` is reading a run
//! directory plus this, so both judge a run identically.

use crate::check::FailOn;
use crate::diagnose::skipped::drop_skipped;
use crate::diagnose::{self, Context, Severity, Skipped, Thresholds};
use crate::report::summary::{Summary, Verdict};
use crate::report::{self, ReportError};
use std::path::Path;

/// Diagnoses `ctx`, completes `summary` (diagnoses, skipped rules, verdict,
/// exit code) and writes the report into `dir`.
pub fn assess(
    mut summary: Summary,
    ctx: &Context<'_>,
    skipped: Vec<Skipped>,
    thresholds: &Thresholds,
    fail_on: FailOn,
    dir: &Path,
) -> Result<Summary, ReportError> {
    let mut diagnoses = diagnose::diagnose(ctx, thresholds);
    drop_skipped(&mut diagnoses, &skipped);
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
    report::write_report(dir, &summary, ctx.recording, ctx.gradcheck)?;
    Ok(summary)
}

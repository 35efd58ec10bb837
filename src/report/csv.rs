//! metrics.csv and loss.csv. Numbers are written in Rust's shortest
//! round-trip form (scientific outside [1e-4, 1e15)), which is exact and
//! deterministic: the same run gives byte-identical files.

use crate::monitor::record::{LayerInfo, LayerRow, Recording, StepRow};
use std::path::Path;

/// Columns of metrics.csv, in order (documented in docs/run-format.md).
/// The last two come from the fixed probe batch (monitor::probe), after the
/// step's update, and are empty at steps it did not run.
pub const METRICS_HEADER: [&str; 20] = [
    "step",
    "layer",
    "activation",
    "act_min",
    "act_max",
    "act_mean",
    "act_std",
    "pre_min",
    "pre_max",
    "pre_mean_abs",
    "saturated_frac",
    "dead_frac",
    "grad_w_norm",
    "grad_b_norm",
    "weight_norm",
    "update_ratio",
    "nonfinite",
    "units",
    "probe_saturated_frac",
    "probe_dead_frac",
];

/// Columns of loss.csv.
/// The last two come from the fixed probe batch (monitor::probe) at the
/// steps it was evaluated (empty elsewhere): the per-sample loss's mean and
/// standard deviation, which `loss-oscillating` compares batch noise with.
pub const LOSS_HEADER: [&str; 7] = [
    "step",
    "loss",
    "batch_accuracy",
    "test_loss",
    "test_accuracy",
    "probe_loss_mean",
    "probe_loss_std",
];

pub use crate::numfmt::csv as num;

fn opt(v: Option<f64>) -> String {
    v.map(num).unwrap_or_default()
}

/// Writes metrics.csv: one row per recorded step and layer — every row of
/// the run, from the spill file when the in-memory series were thinned.
pub fn write_metrics(rec: &Recording, path: &Path) -> std::io::Result<()> {
    let mut w = csv::Writer::from_path(path)?;
    w.write_record(METRICS_HEADER)?;
    let mut write = |r: LayerRow| -> std::io::Result<()> {
        let info = rec.layers.iter().find(|l| l.layer == r.layer);
        let has_params = info.is_none_or(LayerInfo::has_params);
        let params = |v: f64| if has_params { num(v) } else { String::new() };
        let probe = rec
            .probe_at(r.step)
            .and_then(|p| p.layers.get(r.layer.wrapping_sub(1)));
        w.write_record([
            r.step.to_string(),
            r.layer.to_string(),
            info.map_or(String::new(), |l| l.activation.to_string()),
            num(r.act_min),
            num(r.act_max),
            num(r.act_mean),
            num(r.act_std),
            num(r.pre_min),
            num(r.pre_max),
            num(r.pre_mean_abs),
            opt(r.saturated_frac),
            opt(r.dead_frac),
            // Layers without parameters: not applicable (empty).
            params(r.grad_w_norm),
            params(r.grad_b_norm),
            params(r.weight_norm),
            params(r.update_ratio),
            r.nonfinite.to_string(),
            info.map_or(String::new(), |l| l.units.to_string()),
            opt(probe.and_then(|p| p.saturated_frac)),
            opt(probe.and_then(|p| p.dead_frac)),
        ])?;
        Ok(())
    };
    match &rec.full.rows {
        Some(spill) => spill.for_each(&mut write)?,
        None => rec.rows.iter().cloned().try_for_each(&mut write)?,
    }
    w.flush()?;
    Ok(())
}

/// Writes batch_norm.csv (only for networks with batch norm): one row per
/// recorded step and batch-norm layer, `step,layer,running_stat_drift`.
pub fn write_batch_norm(rec: &Recording, path: &Path) -> std::io::Result<()> {
    let mut w = csv::Writer::from_path(path)?;
    w.write_record(["step", "layer", "running_stat_drift"])?;
    for &(step, layer, drift) in &rec.bn_drift {
        w.write_record([step.to_string(), layer.to_string(), num(drift)])?;
    }
    w.flush()?;
    Ok(())
}

/// Writes loss.csv: one row per step — every step of the run, from the
/// spill file when the in-memory series was thinned.
pub fn write_loss(rec: &Recording, path: &Path) -> std::io::Result<()> {
    let mut w = csv::Writer::from_path(path)?;
    // Regression / multilabel runs append their metric's columns (only
    // then: a classification loss.csv is unchanged).
    let task = task_columns(rec);
    let mut header: Vec<String> = LOSS_HEADER.iter().map(|s| s.to_string()).collect();
    header.extend(task.iter().map(|(name, _)| name.clone()));
    w.write_record(&header)?;
    let mut write = |s: StepRow| -> std::io::Result<()> {
        let probe = rec.probe_at(s.step);
        let eval = rec
            .task_evals
            .binary_search_by_key(&s.step, |e| e.step)
            .ok()
            .and_then(|i| rec.task_evals.get(i));
        let mut row = vec![
            s.step.to_string(),
            num(s.loss),
            num(s.batch_accuracy),
            opt(s.test_loss),
            opt(s.test_accuracy),
            opt(probe.map(|p| p.loss_mean)),
            opt(probe.map(|p| p.loss_std)),
        ];
        row.extend(
            task.iter()
                .map(|(_, get)| opt(eval.and_then(|e| get(&e.fit)))),
        );
        w.write_record(&row)?;
        Ok(())
    };
    match &rec.full.steps {
        Some(spill) => spill.for_each(&mut write)?,
        None => rec.steps.iter().cloned().try_for_each(&mut write)?,
    }
    w.flush()?;
    Ok(())
}

/// How one task column reads its value from a fit.
type TaskColumn = (String, fn(&crate::monitor::fit::TaskFit) -> Option<f64>);

/// The task columns of loss.csv, named by the set they were measured on:
/// `test_r2, test_rmse` (regression), `test_exact_match` (multilabel).
fn task_columns(rec: &Recording) -> Vec<TaskColumn> {
    let Some(first) = rec.task_evals.first() else {
        return Vec::new();
    };
    let set = &first.fit.set;
    match first.fit.task {
        crate::data::spec::Task::Regression => vec![
            (format!("{set}_r2"), |f| f.r2),
            (format!("{set}_rmse"), |f| f.rmse),
        ],
        crate::data::spec::Task::Multilabel => {
            vec![(format!("{set}_exact_match"), |f| f.exact_match)]
        }
        crate::data::spec::Task::Classification => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitor::record::StepRow;

    #[test]
    fn numbers_round_trip_and_spell_non_finite() {
        for v in [0.1, 7.1e-23, 1e300, -3.5, 123456.0, 5e-5] {
            assert_eq!(num(v).parse::<f64>().unwrap(), v);
        }
        assert_eq!(num(7.1e-23), "7.1e-23");
        assert_eq!(num(0.5), "0.5");
        assert_eq!(
            (num(f64::NAN).as_str(), num(f64::NEG_INFINITY).as_str()),
            ("NaN", "-inf")
        );
    }

    #[test]
    fn loss_csv_leaves_missing_evaluations_empty() {
        let rec = Recording {
            steps: vec![
                StepRow {
                    step: 1,
                    loss: 2.5,
                    batch_accuracy: 0.1,
                    test_loss: None,
                    test_accuracy: None,
                },
                StepRow {
                    step: 2,
                    loss: 2.0,
                    batch_accuracy: 0.2,
                    test_loss: Some(2.1),
                    test_accuracy: Some(0.3),
                },
            ],
            ..Recording::default()
        };
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("loss.csv");
        write_loss(&rec, &p).unwrap();
        let text = std::fs::read_to_string(p).unwrap();
        assert_eq!(
            text,
            "step,loss,batch_accuracy,test_loss,test_accuracy,probe_loss_mean,probe_loss_std\n1,2.5,0.1,,,,\n2,2,0.2,2.1,0.3,,\n"
        );
    }
}

//! metrics.csv and loss.csv read back into a [`Recording`]: the series the
//! rules read. Columns are looked up by name; a column this version knows
//! but the file lacks is remembered, so the rules that need it are skipped
//! rather than fed made-up numbers.

use super::error::RunDirError;
use super::table::{Row, Table};
use crate::monitor::record::{LayerInfo, LayerRow, Probe, ProbeLayer, Recording, StepRow};
use crate::report::csv::METRICS_HEADER;
use std::collections::BTreeSet;
use std::path::Path;

/// Optional metrics.csv columns: each feeds some rules. They are the
/// statistics of `report::csv::METRICS_HEADER`, between `activation` and
/// `units`, so a column added there is known here too.
pub const METRIC_COLUMNS: &[&str] = METRICS_HEADER.split_at(3).1.split_at(14).0;

/// A recording and the columns its files did not have.
#[derive(Debug)]
pub struct Recorded {
    pub recording: Recording,
    pub missing: BTreeSet<&'static str>,
}

/// Reads both files of `dir` for a network of `layers`.
pub fn read(dir: &Path, layers: &[LayerInfo]) -> Result<Recorded, RunDirError> {
    let metrics = Table::read(&dir.join("metrics.csv"))?;
    metrics.require(&["step", "layer"])?;
    let loss = Table::read(&dir.join("loss.csv"))?;
    loss.require(&["step", "loss"])?;
    let mut missing: BTreeSet<&'static str> = METRIC_COLUMNS
        .iter()
        .copied()
        .filter(|c| !metrics.has(c))
        .collect();
    if !loss.has("batch_accuracy") {
        missing.insert("batch_accuracy");
    }
    let rows = metrics
        .rows()
        .map(|r| layer_row(&r, layers))
        .collect::<Result<Vec<_>, _>>()?;
    check_order(&metrics, rows.iter().map(|r| (r.step, r.layer)))?;
    let steps = loss
        .rows()
        .map(|r| step_row(&r))
        .collect::<Result<Vec<_>, _>>()?;
    check_order(&loss, steps.iter().map(|s| (s.step, 0)))?;
    let probes = probes(&metrics, &loss, layers)?;
    Ok(Recorded {
        recording: Recording {
            layers: layers.to_vec(),
            rows,
            steps,
            probes,
            full: Default::default(),
            task_evals: Vec::new(),
            bn_drift: Vec::new(),
        },
        missing,
    })
}

/// The fixed probe batch's statistics, where the run recorded them: the
/// per-sample loss in loss.csv (`probe_loss_mean`, `probe_loss_std`) and
/// the per-layer shares in metrics.csv (`probe_saturated_frac`,
/// `probe_dead_frac`). A trainer without a probe batch writes none, and the
/// rules then judge the training batches, as `check` does on such runs.
fn probes(metrics: &Table, loss: &Table, layers: &[LayerInfo]) -> Result<Vec<Probe>, RunDirError> {
    let mut out: Vec<Probe> = Vec::new();
    for r in loss.rows() {
        let (Some(mean), Some(std)) = (r.number("probe_loss_mean")?, r.number("probe_loss_std")?)
        else {
            continue;
        };
        out.push(Probe {
            step: r.count("step")?,
            loss_mean: mean,
            loss_std: std,
            layers: vec![
                ProbeLayer {
                    saturated_frac: None,
                    dead_frac: None,
                };
                layers.len()
            ],
        });
    }
    for r in metrics.rows() {
        let step = r.count("step")?;
        let layer = r.count("layer")?;
        let Ok(i) = out.binary_search_by_key(&step, |p| p.step) else {
            continue;
        };
        if let Some(slot) = layer.checked_sub(1).and_then(|l| out[i].layers.get_mut(l)) {
            slot.saturated_frac = r.number("probe_saturated_frac")?;
            slot.dead_frac = r.number("probe_dead_frac")?;
        }
    }
    Ok(out)
}

fn layer_row(r: &Row<'_>, layers: &[LayerInfo]) -> Result<LayerRow, RunDirError> {
    let layer = r.count("layer")?;
    if !layers.iter().any(|l| l.layer == layer) {
        return Err(r.error(
            "layer",
            format!(
                "layer {layer} is not among summary.json's network.layers (1..={})",
                layers.len()
            ),
        ));
    }
    let n = |c: &str| -> Result<f64, RunDirError> {
        if r.text(c).is_none() {
            Ok(f64::NAN)
        } else {
            r.required_number(c)
        }
    };
    let frac = |c: &str| -> Result<Option<f64>, RunDirError> {
        let v = r.number(c)?;
        match v {
            Some(x) if !(0.0..=1.0).contains(&x) => {
                Err(r.error(c, format!("expected a share between 0 and 1, found {x}")))
            }
            _ => Ok(v),
        }
    };
    Ok(LayerRow {
        step: r.count("step")?,
        layer,
        act_min: n("act_min")?,
        act_max: n("act_max")?,
        act_mean: n("act_mean")?,
        act_std: n("act_std")?,
        pre_min: n("pre_min")?,
        pre_max: n("pre_max")?,
        pre_mean_abs: n("pre_mean_abs")?,
        saturated_frac: frac("saturated_frac")?,
        dead_frac: frac("dead_frac")?,
        grad_w_norm: n("grad_w_norm")?,
        grad_b_norm: n("grad_b_norm")?,
        weight_norm: n("weight_norm")?,
        update_ratio: n("update_ratio")?,
        nonfinite: match r.text("nonfinite") {
            None => 0,
            Some(_) => r.count("nonfinite")? as u64,
        },
    })
}

fn step_row(r: &Row<'_>) -> Result<StepRow, RunDirError> {
    Ok(StepRow {
        step: r.count("step")?,
        loss: r.required_number("loss")?,
        batch_accuracy: r.number("batch_accuracy")?.unwrap_or(f64::NAN),
        test_loss: r.number("test_loss")?,
        test_accuracy: r.number("test_accuracy")?,
    })
}

/// Rows must come in (step, layer) order, as the rules' windows assume.
fn check_order(t: &Table, keys: impl Iterator<Item = (usize, usize)>) -> Result<(), RunDirError> {
    let mut last: Option<(usize, usize)> = None;
    for (i, k) in keys.enumerate() {
        if last.is_some_and(|l| k <= l) {
            return Err(RunDirError::Csv {
                path: t.path().to_path_buf(),
                line: i + 2,
                column: "step".into(),
                message: format!(
                    "rows must be ordered by step (then layer) without repeats; (step, layer) {k:?} follows {:?}",
                    last.unwrap_or_default()
                ),
            });
        }
        last = Some(k);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_columns_are_the_statistics_between_activation_and_units() {
        assert_eq!(METRIC_COLUMNS.first(), Some(&"act_min"));
        assert_eq!(METRIC_COLUMNS.last(), Some(&"nonfinite"));
        assert_eq!(METRIC_COLUMNS.len(), 14);
    }
    use crate::engine::activation::Activation;

    fn layers() -> Vec<LayerInfo> {
        vec![LayerInfo {
            kind: None,
            layer: 1,
            units: 3,
            fan_in: 2,
            activation: Activation::Relu,
        }]
    }

    fn write(metrics: &str, loss: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("metrics.csv"), metrics).unwrap();
        std::fs::write(dir.path().join("loss.csv"), loss).unwrap();
        dir
    }

    #[test]
    fn reads_known_columns_and_remembers_missing_ones() {
        let d = write(
            "step,layer,dead_frac,grad_w_norm,my_extra\n1,1,0.5,0.25,x\n2,1,,0.5,y\n",
            "step,loss\n1,2.5\n2,2\n",
        );
        let r = read(d.path(), &layers()).unwrap();
        assert_eq!(r.recording.rows[0].dead_frac, Some(0.5));
        assert_eq!(r.recording.rows[1].dead_frac, None);
        assert!(r.recording.rows[0].act_min.is_nan());
        assert!(r.missing.contains("update_ratio") && r.missing.contains("batch_accuracy"));
        assert!(!r.missing.contains("grad_w_norm"));
    }

    #[test]
    fn bad_rows_are_named() {
        let d = write("step,layer,dead_frac\n1,2,0.5\n", "step,loss\n1,1\n");
        let e = read(d.path(), &layers()).unwrap_err().to_string();
        assert!(e.contains("metrics.csv:2: column `layer`"), "{e}");
        let d = write("step,layer,dead_frac\n1,1,1.5\n", "step,loss\n1,1\n");
        let e = read(d.path(), &layers()).unwrap_err().to_string();
        assert!(e.contains("column `dead_frac`: expected a share"), "{e}");
        let d = write("step,layer\n2,1\n1,1\n", "step,loss\n1,1\n");
        let e = read(d.path(), &layers()).unwrap_err().to_string();
        assert!(e.contains("metrics.csv:3: column `step`"), "{e}");
        let d = write("step,layer\n1,1\n", "step\n1\n");
        let e = read(d.path(), &layers()).unwrap_err().to_string();
        assert!(e.contains("loss.csv:1: column `loss`"), "{e}");
    }
}

//! metrics.csv and loss.csv read back into a [`Recording`]: the series the
//! rules read. Columns are looked up by name; a column this version knows
//! but the file lacks is remembered, so the rules that need it are skipped
//! rather than fed made-up numbers.

use super::error::RunDirError;
use super::table::{Row, Table};
use crate::monitor::record::{LayerInfo, LayerRow, Probe, ProbeLayer, Recording, StepRow};
use crate::monitor::recorder::MAX_ROWS;
use crate::monitor::spill::{FullSeries, Thinned};
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
    /// The `# run_id=` of metrics.csv and loss.csv (None: the file has none).
    pub run_ids: [Option<String>; 2],
}

/// Reads both files of `dir` for a network of `layers`, streaming: past
/// [`MAX_ROWS`] rows a series is thinned in memory (every row is still
/// kept in a spill file, from which a report's CSVs are written whole), so
/// memory stays bounded in the length of the files.
pub fn read(dir: &Path, layers: &[LayerInfo]) -> Result<Recorded, RunDirError> {
    let mut metrics = Table::open(&dir.join("metrics.csv"))?;
    metrics.require(&["step", "layer"])?;
    let mut loss = Table::open(&dir.join("loss.csv"))?;
    loss.require(&["step", "loss"])?;
    let mut missing: BTreeSet<&'static str> = METRIC_COLUMNS
        .iter()
        .copied()
        .filter(|c| !metrics.has(c))
        .collect();
    if !loss.has("batch_accuracy") {
        missing.insert("batch_accuracy");
    }
    let run_ids = [
        metrics.run_id().map(str::to_string),
        loss.run_id().map(str::to_string),
    ];
    // loss.csv first: its probe statistics make the probes that
    // metrics.csv's probe columns fill in.
    let mut steps = Thinned::new(MAX_ROWS, true);
    let probe_cap = MAX_ROWS / layers.len().max(1);
    let mut probes = Thinned::new(probe_cap, false);
    let mut order = Order::default();
    loss.for_each_row(|r| {
        let s = step_row(r)?;
        order.check(r, (s.step, 0))?;
        if let (Some(mean), Some(std)) = (r.number("probe_loss_mean")?, r.number("probe_loss_std")?)
        {
            probes.push(Probe {
                step: s.step,
                loss_mean: mean,
                loss_std: std,
                layers: Vec::new(),
            });
        }
        steps.push(s);
        Ok(())
    })?;
    let (steps, full_steps) = steps.finish();
    let (mut probes, _) = probes.finish();
    for p in &mut probes {
        p.layers = vec![
            ProbeLayer {
                saturated_frac: None,
                dead_frac: None,
            };
            layers.len()
        ];
    }
    let mut rows = Thinned::new(MAX_ROWS, true);
    let mut order = Order::default();
    metrics.for_each_row(|r| {
        let row = layer_row(r, layers)?;
        order.check(r, (row.step, row.layer))?;
        if let Ok(i) = probes.binary_search_by_key(&row.step, |p| p.step) {
            if let Some(slot) = row
                .layer
                .checked_sub(1)
                .and_then(|l| probes[i].layers.get_mut(l))
            {
                slot.saturated_frac = r.number("probe_saturated_frac")?;
                slot.dead_frac = r.number("probe_dead_frac")?;
            }
        }
        rows.push(row);
        Ok(())
    })?;
    let (rows, full_rows) = rows.finish();
    Ok(Recorded {
        recording: Recording {
            layers: layers.to_vec(),
            rows,
            steps,
            probes,
            full: FullSeries {
                rows: full_rows,
                steps: full_steps,
            },
            task_evals: Vec::new(),
            bn_drift: Vec::new(),
            layer_index: Default::default(),
        },
        missing,
        run_ids,
    })
}

fn layer_row(r: &Row<'_>, layers: &[LayerInfo]) -> Result<LayerRow, RunDirError> {
    let layer = r.count("layer")?;
    // Layers are numbered 1, 2, ... in order: index first, search as a
    // fallback (a run of `check` lists them so too).
    let known = layer
        .checked_sub(1)
        .and_then(|i| layers.get(i))
        .is_some_and(|l| l.layer == layer)
        || layers.iter().any(|l| l.layer == layer);
    if !known {
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
    // The parameter columns are empty for layers without parameters
    // (pooling, flatten, dropout, activation): not applicable, read as NaN.
    let param = |c: &str| -> Result<f64, RunDirError> { Ok(r.number(c)?.unwrap_or(f64::NAN)) };
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
        grad_w_norm: param("grad_w_norm")?,
        grad_b_norm: param("grad_b_norm")?,
        weight_norm: param("weight_norm")?,
        update_ratio: param("update_ratio")?,
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
#[derive(Default)]
struct Order {
    last: Option<(usize, usize)>,
}

impl Order {
    fn check(&mut self, r: &Row<'_>, k: (usize, usize)) -> Result<(), RunDirError> {
        if let Some(last) = self.last.filter(|&l| k <= l) {
            return Err(r.error(
                "step",
                format!(
                    "rows must be ordered by step (then layer) without repeats; (step, layer) {k:?} follows {last:?}"
                ),
            ));
        }
        self.last = Some(k);
        Ok(())
    }
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

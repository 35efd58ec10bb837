//! The recorded series of a run: what recorders produce and what diagnoses,
//! CSV writers and plots read. Plain data, so a report can be re-rendered and
//! a diagnosis unit-tested on a hand-made series without training anything.

pub use crate::engine::hook::LayerInfo;
use serde::{Deserialize, Serialize};

/// Statistics of one layer at one recorded step: one row of metrics.csv.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerRow {
    pub step: usize,
    pub layer: usize,
    pub act_min: f64,
    pub act_max: f64,
    pub act_mean: f64,
    pub act_std: f64,
    pub pre_min: f64,
    pub pre_max: f64,
    pub pre_mean_abs: f64,
    /// Share of unit x sample entries whose local derivative is below 1% of
    /// its maximum; `None` for activations that do not saturate.
    pub saturated_frac: Option<f64>,
    /// Share of units inactive (pre-activation <= 0) for every sample of the
    /// batch; `None` outside the ReLU family.
    pub dead_frac: Option<f64>,
    pub grad_w_norm: f64,
    pub grad_b_norm: f64,
    pub weight_norm: f64,
    /// ||update of W|| / ||W before the update||.
    pub update_ratio: f64,
    /// Non-finite entries among this layer's tensors at this step.
    pub nonfinite: u64,
}

/// One training step: one row of loss.csv.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRow {
    pub step: usize,
    pub loss: f64,
    pub batch_accuracy: f64,
    /// Only at evaluation steps.
    pub test_loss: Option<f64>,
    pub test_accuracy: Option<f64>,
}

/// Everything recorded during one run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Recording {
    pub layers: Vec<LayerInfo>,
    /// Ordered by step, then layer.
    pub rows: Vec<LayerRow>,
    /// Ordered by step.
    pub steps: Vec<StepRow>,
    /// The fixed probe batch at its steps (monitor::probe), ordered by step.
    #[serde(default)]
    pub probes: Vec<Probe>,
    /// Every row of a run whose in-memory series were thinned,
    /// on disk; the CSVs are written from it.
    #[serde(skip)]
    pub full: super::spill::FullSeries,
    /// Regression / multilabel fit at each evaluation step (on the test
    /// set, else the training set); empty for classification.
    #[serde(default)]
    pub task_evals: Vec<super::fit::TaskEval>,
    /// Batch norm layers' running-statistics drift at recorded steps:
    /// (step, layer, the largest over channels of |running mean − batch
    /// mean| / sqrt(running var plus eps)). Empty without batch norm;
    /// written to batch_norm.csv.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bn_drift: Vec<(usize, usize, f64)>,
    /// Which rows belong to which layer, built on first use.
    #[serde(skip)]
    pub layer_index: LayerIndex,
}

/// The positions of each layer's rows in `Recording::rows`, so the rules
/// and plots read one layer in time proportional to its rows, not to the
/// whole recording (a 3,000-layer run has 3,000 times more rows than any
/// one layer). Built on first use and rebuilt whenever the rows changed
/// (their count, buffer or first/last step: the recorder appends and thins
/// them during training). A clone starts empty; it never affects equality.
#[derive(Default)]
pub struct LayerIndex(std::sync::Mutex<Option<(IndexKey, RowsByLayer)>>);

/// What the index was built from: row count, buffer address, first and last step.
type IndexKey = (usize, usize, usize, usize);
/// Row positions per layer number (index 0 unused).
type RowsByLayer = std::sync::Arc<Vec<Vec<u32>>>;

impl Clone for LayerIndex {
    fn clone(&self) -> Self {
        LayerIndex::default()
    }
}

impl PartialEq for LayerIndex {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl std::fmt::Debug for LayerIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LayerIndex")
    }
}

impl LayerIndex {
    fn get(&self, rows: &[LayerRow]) -> RowsByLayer {
        let key = (
            rows.len(),
            rows.as_ptr() as usize,
            rows.first().map_or(0, |r| r.step),
            rows.last().map_or(0, |r| r.step),
        );
        let mut slot = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((k, index)) = slot.as_ref() {
            if *k == key {
                return index.clone();
            }
        }
        let mut index: Vec<Vec<u32>> = Vec::new();
        for (i, r) in rows.iter().enumerate() {
            if r.layer >= index.len() {
                index.resize_with(r.layer + 1, Vec::new);
            }
            index[r.layer].push(u32::try_from(i).unwrap_or(u32::MAX));
        }
        let index = std::sync::Arc::new(index);
        *slot = Some((key, index.clone()));
        index
    }
}

/// The fixed probe batch after one step's update.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Probe {
    pub step: usize,
    /// Mean and standard deviation of the per-sample loss on the probe.
    pub loss_mean: f64,
    pub loss_std: f64,
    /// Index i is layer i + 1.
    pub layers: Vec<ProbeLayer>,
}

/// One layer on the probe batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeLayer {
    /// As `LayerRow::saturated_frac`, over the probe batch.
    pub saturated_frac: Option<f64>,
    /// Share of units that no probe sample activates.
    pub dead_frac: Option<f64>,
}

impl Recording {
    /// The rows of one layer, in step order.
    pub fn layer_rows(&self, layer: usize) -> impl Iterator<Item = &LayerRow> + '_ {
        // Few rows: a scan is cheaper than an index.
        let index = (self.rows.len() > 4096).then(|| self.layer_index.get(&self.rows));
        let positions = index.map(|ix| {
            let n = ix.get(layer).map_or(0, Vec::len);
            (0..n).map(move |k| ix[layer][k] as usize)
        });
        let (scan, indexed) = match positions {
            Some(p) => (None, Some(p)),
            None => (
                Some(self.rows.iter().filter(move |r| r.layer == layer)),
                None,
            ),
        };
        scan.into_iter().flatten().chain(
            indexed
                .into_iter()
                .flatten()
                .filter_map(|i| self.rows.get(i)),
        )
    }

    /// The probe's shares of one layer: (steps, values) in step order.
    pub fn probe_series(
        &self,
        layer: usize,
        field: impl Fn(&ProbeLayer) -> Option<f64>,
    ) -> (Vec<usize>, Vec<f64>) {
        self.probes
            .iter()
            .filter_map(|p| {
                let l = p.layers.get(layer.checked_sub(1)?)?;
                field(l).map(|v| (p.step, v))
            })
            .unzip()
    }

    /// The probe taken at `step`, if any.
    pub fn probe_at(&self, step: usize) -> Option<&Probe> {
        self.probes
            .binary_search_by_key(&step, |p| p.step)
            .ok()
            .and_then(|i| self.probes.get(i))
    }
}

//! Pulls per-layer and per-step series out of a recording for the rules.

use crate::monitor::record::{LayerRow, ProbeLayer, Recording};

/// (steps, values) of one field of one layer, in step order.
pub fn layer_series(
    rec: &Recording,
    layer: usize,
    field: impl Fn(&LayerRow) -> f64,
) -> (Vec<usize>, Vec<f64>) {
    rec.layer_rows(layer).map(|r| (r.step, field(r))).unzip()
}

/// RMS of a layer's weight gradient: the norm divided by sqrt(#weights), so
/// layers of different sizes compare fairly.
pub fn grad_rms(rec: &Recording, layer: usize) -> (Vec<usize>, Vec<f64>) {
    let count = rec
        .layers
        .iter()
        .find(|l| l.layer == layer)
        .map_or(1.0, |l| (l.units * l.fan_in).max(1) as f64);
    layer_series(rec, layer, |r| r.grad_w_norm / count.sqrt())
}

/// The global weight-gradient norm per recorded step.
pub fn global_grad_norm(rec: &Recording) -> (Vec<usize>, Vec<f64>) {
    let mut out: Vec<(usize, f64)> = Vec::new();
    for r in &rec.rows {
        match out.last_mut() {
            Some((s, sq)) if *s == r.step => *sq += r.grad_w_norm * r.grad_w_norm,
            _ => out.push((r.step, r.grad_w_norm * r.grad_w_norm)),
        }
    }
    out.into_iter().map(|(s, sq)| (s, sq.sqrt())).unzip()
}

/// (steps, losses) of every completed step.
pub fn loss_series(rec: &Recording) -> (Vec<usize>, Vec<f64>) {
    rec.steps.iter().map(|s| (s.step, s.loss)).unzip()
}

/// Where a share series came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShareSource {
    /// The fixed probe batch: independent of the batch size.
    Probe,
    /// The training batches (runs without probes, e.g. hand-made series).
    Batch,
}

/// A layer's dead or saturated share per recorded step: from the probe batch
/// when it ran at least 3 times, else from the training batches.
pub fn share_series(
    rec: &Recording,
    layer: usize,
    probe: impl Fn(&ProbeLayer) -> Option<f64>,
    batch: impl Fn(&LayerRow) -> Option<f64>,
) -> (Vec<usize>, Vec<f64>, ShareSource) {
    let (steps, values) = rec.probe_series(layer, probe);
    if values.len() >= 3 {
        return (steps, values, ShareSource::Probe);
    }
    let (steps, values) = layer_series(rec, layer, |r| batch(r).unwrap_or(f64::NAN));
    (steps, values, ShareSource::Batch)
}

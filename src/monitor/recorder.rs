//! The layer-statistics recorder: turns events into the rows of metrics.csv
//! and loss.csv (a [`Recording`]). It reads tensors the loop hands it and the
//! norms the loop already computed; it never touches the network.

use super::hook::{Event, Flow, Hook, StepStats};
use super::record::{LayerInfo, LayerRow, Recording, StepRow};
use super::spill::{FullSeries, SpillWriter};
use crate::engine::activation::Activation;
use crate::engine::eval::EvalStats;
use crate::engine::float::all_finite;
use crate::engine::Float;
use ndarray::{Array2, ArrayViewD};

/// Records every layer at steps 1, 1 + every, 1 + 2 every, ... and every
/// step's loss.
#[derive(Debug)]
pub struct Recorder {
    /// Layer statistics are taken at steps 1, 1 + every, ...
    every: usize,
    /// Layer rows are kept in memory at steps 1, 1 + keep_every, ... (every
    /// until thinned).
    keep_every: usize,
    /// Loss rows are kept at steps 1, 1 + loss_every, ... (1 until thinned).
    loss_every: usize,
    /// Row caps: past them the in-memory series are thinned, so
    /// memory stays bounded for any step count, and every row from then on
    /// is streamed to a spill file instead (monitor::spill), from which the
    /// CSVs are written whole.
    max_rows: usize,
    rows_spill: Option<SpillWriter>,
    steps_spill: Option<SpillWriter>,
    /// The newest loss row, spilled at the next step (an evaluation may
    /// still fill its test columns).
    pending_step: Option<StepRow>,
    /// A spill file could not be written (disk full): the CSVs then hold
    /// the thinned series.
    spill_failed: bool,
    recording: Recording,
    /// Rows of the step in progress, one per layer.
    pending: Vec<LayerRow>,
    active: bool,
}

impl Recorder {
    pub fn new(layers: Vec<LayerInfo>, every: usize) -> Self {
        Recorder {
            every: every.max(1),
            keep_every: every.max(1),
            loss_every: 1,
            max_rows: MAX_ROWS,
            rows_spill: None,
            steps_spill: None,
            pending_step: None,
            spill_failed: false,
            recording: Recording {
                layers,
                ..Recording::default()
            },
            pending: Vec::new(),
            active: false,
        }
    }

    /// Whether layer statistics are taken at `step` (step 1 always is: the
    /// initial state is where bad initialisation shows).
    pub fn records(&self, step: usize) -> bool {
        step.saturating_sub(1).is_multiple_of(self.every)
    }

    pub fn recording(&self) -> &Recording {
        &self.recording
    }

    /// The recording, with its spill files (if the run outgrew the caps)
    /// finished and attached as the full-resolution series.
    pub fn into_recording(mut self) -> Recording {
        if let (Some(w), Some(last)) = (self.steps_spill.as_mut(), self.pending_step.take()) {
            if w.push(&last).is_err() {
                self.steps_spill = None;
            }
        }
        let finish = |w: Option<SpillWriter>| w.and_then(|w| w.finish().ok());
        self.recording.full = FullSeries {
            rows: finish(self.rows_spill.take()),
            steps: finish(self.steps_spill.take()),
        };
        self.recording
    }

    /// The recording with the probe batch's results attached.
    pub fn into_recording_with(self, probes: Vec<super::record::Probe>) -> Recording {
        let mut r = self.into_recording();
        r.probes = probes;
        r
    }

    fn start_step(&mut self, step: usize) {
        self.active = self.records(step);
        self.pending = if self.active {
            self.recording
                .layers
                .iter()
                .map(|l| empty_row(step, l.layer))
                .collect()
        } else {
            Vec::new()
        };
    }

    fn row(&mut self, layer: usize) -> Option<&mut LayerRow> {
        self.pending.get_mut(layer.checked_sub(1)?)
    }

    /// Lowers the row caps (tests).
    pub fn with_max_rows(mut self, max_rows: usize) -> Self {
        self.max_rows = max_rows.max(2);
        self
    }

    /// Keeps each in-memory series under `max_rows`: when one passes it,
    /// every row so far is written to a spill file (once) and streamed there
    /// from then on, and the in-memory interval doubles, dropping the rows
    /// off the new grid (steps 1, 1 + 2k every, ...). A run shorter than the
    /// cap is untouched, so reports of ordinary runs stay byte-identical; a
    /// billion-step run keeps an evenly thinned series for the rules and
    /// plots, and its CSVs are written whole from the spill.
    fn thin(&mut self) {
        if self.recording.rows.len() > self.max_rows {
            if self.rows_spill.is_none() && !self.spill_failed {
                let started = start_spill(&self.recording.rows);
                self.spill_failed |= started.is_none();
                self.rows_spill = started;
            }
            self.keep_every = self.keep_every.saturating_mul(2);
            let every = self.keep_every;
            self.recording
                .rows
                .retain(|r| r.step.saturating_sub(1).is_multiple_of(every));
        }
        if self.recording.steps.len() > self.max_rows {
            if self.steps_spill.is_none() && !self.spill_failed {
                // The newest row waits in `pending_step` for its evaluation.
                let n = self.recording.steps.len().saturating_sub(1);
                let started = start_spill(&self.recording.steps[..n]);
                self.spill_failed |= started.is_none();
                self.steps_spill = started;
                if self.steps_spill.is_some() {
                    self.pending_step = self.recording.steps.last().cloned();
                }
            }
            self.loss_every = self.loss_every.saturating_mul(2);
            let every = self.loss_every;
            self.recording
                .steps
                .retain(|r| r.step.saturating_sub(1).is_multiple_of(every));
        }
    }

    /// Streams the rows of a finished step to the spill files, if spilling.
    fn spill_step(&mut self, rows: &[LayerRow], step: Option<StepRow>) {
        if let Some(w) = self.rows_spill.as_mut() {
            if rows.iter().try_for_each(|r| w.push(r)).is_err() {
                self.rows_spill = None;
                self.spill_failed = true;
            }
        }
        if let Some(w) = self.steps_spill.as_mut() {
            if let Some(prev) = self.pending_step.take() {
                if w.push(&prev).is_err() {
                    self.steps_spill = None;
                    self.spill_failed = true;
                }
            }
            self.pending_step = step;
        }
    }
}

/// A spill file holding `rows`; None when the temporary directory cannot
/// take it (the caller then stops trying and keeps the thinned series).
fn start_spill<T: super::spill::SpillRow>(rows: &[T]) -> Option<SpillWriter> {
    SpillWriter::new()
        .and_then(|mut w| {
            rows.iter().try_for_each(|r| w.push(r))?;
            Ok(w)
        })
        .ok()
}

/// Rows of each series kept in memory (about 150 MB of layer rows).
pub const MAX_ROWS: usize = 1 << 20;

fn empty_row(step: usize, layer: usize) -> LayerRow {
    LayerRow {
        step,
        layer,
        act_min: f64::NAN,
        act_max: f64::NAN,
        act_mean: f64::NAN,
        act_std: f64::NAN,
        pre_min: f64::NAN,
        pre_max: f64::NAN,
        pre_mean_abs: f64::NAN,
        saturated_frac: None,
        dead_frac: None,
        grad_w_norm: f64::NAN,
        grad_b_norm: f64::NAN,
        weight_norm: f64::NAN,
        update_ratio: f64::NAN,
        nonfinite: 0,
    }
}

impl<F: Float> Hook<F> for Recorder {
    fn on_event(&mut self, step: usize, event: &Event<'_, F>) -> Flow {
        if let Event::ForwardLinear { layer: 1, .. } = event {
            self.start_step(step);
        }
        if !self.active {
            return Flow::Continue;
        }
        match *event {
            Event::ForwardActivation {
                layer,
                activation,
                pre,
                act,
            } => {
                let channels = layer
                    .checked_sub(1)
                    .and_then(|l| self.recording.layers.get(l))
                    .map_or(pre.ncols(), |info| info.units);
                if let Some(row) = self.row(layer) {
                    activation_stats(row, activation, channels, pre, act);
                }
            }
            Event::BackwardOutput { layer, delta, .. }
            | Event::BackwardDelta { layer, delta, .. } => {
                if let Some(row) = self.row(layer) {
                    row.nonfinite += count_nonfinite2(delta);
                }
            }
            Event::WeightGrad {
                layer,
                ref grad_w,
                ref grad_b,
                grad_w_norm,
                grad_b_norm,
                ..
            } => {
                if let Some(row) = self.row(layer) {
                    row.grad_w_norm = grad_w_norm;
                    row.grad_b_norm = grad_b_norm;
                    if !(grad_w_norm + grad_b_norm).is_finite() {
                        row.nonfinite += count_nonfinite(grad_w) + count_nonfinite(grad_b);
                    }
                }
            }
            Event::Update {
                layer,
                ref weight,
                ref bias,
                norms,
                drift,
                ..
            } => {
                // Bounded like the other series (a long run keeps the
                // first MAX_ROWS values).
                if let Some(d) = drift.filter(|_| self.recording.bn_drift.len() < MAX_ROWS) {
                    self.recording.bn_drift.push((step, layer, d));
                }
                if let Some(row) = self.row(layer) {
                    row.weight_norm = norms.weight_after;
                    row.update_ratio = ratio(norms.update_w, norms.weight_before);
                    if !(norms.weight_after + norms.bias_after).is_finite() {
                        row.nonfinite += count_nonfinite(weight) + count_nonfinite(bias);
                    }
                }
            }
            _ => {}
        }
        Flow::Continue
    }

    fn on_step_end(&mut self, step: usize, stats: &StepStats) {
        let row = StepRow {
            step,
            loss: stats.loss,
            batch_accuracy: stats.batch_accuracy,
            test_loss: None,
            test_accuracy: None,
        };
        let rows = if self.active {
            std::mem::take(&mut self.pending)
        } else {
            Vec::new()
        };
        self.active = false;
        self.spill_step(&rows, Some(row.clone()));
        if step.saturating_sub(1).is_multiple_of(self.keep_every) {
            self.recording.rows.extend(rows);
        }
        if step.saturating_sub(1).is_multiple_of(self.loss_every) {
            self.recording.steps.push(row);
        }
        self.thin();
    }

    fn on_eval(&mut self, step: usize, stats: &EvalStats) {
        if let Some(p) = self.pending_step.as_mut().filter(|p| p.step == step) {
            p.test_loss = Some(stats.loss);
            p.test_accuracy = Some(stats.accuracy);
        }
        if let Some(row) = self
            .recording
            .steps
            .iter_mut()
            .rev()
            .find(|r| r.step == step)
        {
            row.test_loss = Some(stats.loss);
            row.test_accuracy = Some(stats.accuracy);
        }
    }
}

/// ||update|| / ||weight||; a zero weight with a non-zero update is an
/// infinite ratio, nothing over nothing is 0.
fn ratio(update: f64, weight: f64) -> f64 {
    if weight > 0.0 {
        update / weight
    } else if update > 0.0 {
        f64::INFINITY
    } else {
        0.0
    }
}

fn count_nonfinite2<F: Float>(a: &Array2<F>) -> u64 {
    match a.as_slice() {
        Some(s) if all_finite(s) => 0,
        _ => a.iter().filter(|v| !v.is_finite()).count() as u64,
    }
}

/// Non-finite entries of a parameter tensor (0 when the layer has none).
fn count_nonfinite<F: Float>(a: &Option<ArrayViewD<'_, F>>) -> u64 {
    a.as_ref()
        .map_or(0, |a| a.iter().filter(|v| !v.is_finite()).count() as u64)
}

/// Running totals of one layer's statistics, in f64.
#[derive(Default)]
struct Totals {
    amin: f64,
    amax: f64,
    asum: f64,
    asq: f64,
    zmin: f64,
    zmax: f64,
    zabs: f64,
    finite: u64,
    saturated: u64,
    nonfinite: u64,
}

impl Totals {
    fn new() -> Self {
        Totals {
            amin: f64::INFINITY,
            amax: f64::NEG_INFINITY,
            zmin: f64::INFINITY,
            zmax: f64::NEG_INFINITY,
            ..Totals::default()
        }
    }

    /// One entry, with the non-finite check (the slow path).
    fn add(&mut self, z: f64, a: f64, saturated: bool) {
        if !(z.is_finite() && a.is_finite()) {
            self.nonfinite += 1;
            return;
        }
        self.finite += 1;
        self.amin = self.amin.min(a);
        self.amax = self.amax.max(a);
        self.asum += a;
        self.asq += a * a;
        self.zmin = self.zmin.min(z);
        self.zmax = self.zmax.max(z);
        self.zabs += z.abs();
        self.saturated += u64::from(saturated);
    }
}

/// Ranges, moments, saturated and dead shares of a layer's batch. Rows with
/// no NaN/Inf (all of them, normally) go through an 8-lane loop in the
/// training precision, folded into f64 once per row: the recorder runs on
/// every unit of every sample at every step, and a scalar loop with ten
/// serial f64 accumulations cost more than the rest of the recorder.
///
/// Dead units are counted per channel: an image layer's columns are
/// channels x positions, and a channel is dead when its pre-activation is
/// <= 0 at every position of every sample (a dense layer's channels are its
/// units, one position each).
fn activation_stats<F: Float>(
    row: &mut LayerRow,
    activation: Activation,
    channels: usize,
    pre: &Array2<F>,
    act: &Array2<F>,
) {
    let units = pre.ncols();
    let mut active = vec![false; units];
    let mut t = Totals::new();
    let saturating = activation.is_saturating();
    let sat_test = |z: f64, a: f64| saturating && activation.is_saturated(z, a);
    for (zr, ar) in pre.rows().into_iter().zip(act.rows()) {
        match (zr.as_slice(), ar.as_slice()) {
            // clean_row tests the row's finiteness in the same pass and
            // leaves `t` alone when it is not (the slow path then takes it;
            // `active` only gains what that path sets anyway).
            (Some(z), Some(a)) if clean_row(z, a, &mut active, &mut t, activation) => {}
            _ => {
                for ((&z, &a), on) in zr.iter().zip(ar.iter()).zip(active.iter_mut()) {
                    let (z, a) = (z.f64(), a.f64());
                    *on |= z > 0.0;
                    t.add(z, a, sat_test(z, a));
                }
            }
        }
    }
    row.nonfinite += t.nonfinite;
    if t.finite > 0 {
        let n = t.finite as f64;
        let mean = t.asum / n;
        row.act_min = t.amin;
        row.act_max = t.amax;
        row.act_mean = mean;
        row.act_std = (t.asq / n - mean * mean).max(0.0).sqrt();
        row.pre_min = t.zmin;
        row.pre_max = t.zmax;
        row.pre_mean_abs = t.zabs / n;
    }
    if saturating {
        row.saturated_frac = Some(if t.finite > 0 {
            t.saturated as f64 / t.finite as f64
        } else {
            f64::NAN
        });
    }
    if activation.is_relu_family() && pre.nrows() > 0 {
        let channels = channels.clamp(1, units.max(1));
        let positions = (units / channels).max(1);
        let dead = active
            .chunks(positions)
            .filter(|c| !c.iter().any(|&on| on))
            .count();
        row.dead_frac = Some(dead as f64 / channels as f64);
    }
}

crate::multiversion!(
    /// [`clean_row_lanes`] through its AVX2 build where the CPU has it
    /// (same bits: the lanes are explicit and no multiply-add is fused,
    /// engine::kernels::simd).
    fn clean_row<F: Float>(
        z: &[F],
        a: &[F],
        active: &mut [bool],
        t: &mut Totals,
        activation: Activation,
    ) -> bool => clean_row_lanes
);

/// One row: lane-wise min/max/sums in F, then into `t`, if every element
/// of `z` and `a` is finite (tested in the same pass: x - x is 0 for a
/// finite x and NaN otherwise, as `all_finite`, which used to take two
/// more passes over the row first). Returns false and leaves `t` alone
/// otherwise.
#[inline(always)]
fn clean_row_lanes<F: Float>(
    z: &[F],
    a: &[F],
    active: &mut [bool],
    t: &mut Totals,
    activation: Activation,
) -> bool {
    const L: usize = 8;
    let (inf, zero) = (F::infinity(), F::zero());
    let (mut amin, mut amax, mut asum, mut asq) = ([inf; L], [-inf; L], [zero; L], [zero; L]);
    let (mut zmin, mut zmax, mut zabs) = ([inf; L], [-inf; L], [zero; L]);
    let mut sat = [0u32; L];
    let mut off = [zero; L];
    // The saturation test on |z| (sigmoid, tanh) or a (softmax), in F.
    let bound = F::of(match activation {
        Activation::Sigmoid => crate::engine::activation::SIGMOID_SATURATION_Z,
        Activation::Tanh => crate::engine::activation::TANH_SATURATION_Z,
        _ => f64::INFINITY,
    });
    let softmax = activation == Activation::Softmax;
    let slope_floor = F::of(crate::engine::activation::SATURATION_SHARE * 0.25);
    let n = z.len().min(a.len()).min(active.len());
    let full = n / L * L;
    for start in (0..full).step_by(L) {
        let (zc, ac, on) = (
            &z[start..start + L],
            &a[start..start + L],
            &mut active[start..start + L],
        );
        for i in 0..L {
            let (zi, ai) = (zc[i], ac[i]);
            amin[i] = amin[i].min(ai);
            amax[i] = amax[i].max(ai);
            asum[i] += ai;
            asq[i] += ai * ai;
            zmin[i] = zmin[i].min(zi);
            zmax[i] = zmax[i].max(zi);
            zabs[i] += zi.abs();
            on[i] |= zi > zero;
            let s = if softmax {
                ai * (F::one() - ai) < slope_floor
            } else {
                zi.abs() > bound
            };
            sat[i] += u32::from(s);
            #[allow(clippy::eq_op)]
            let d = (zi - zi) + (ai - ai);
            off[i] += d;
        }
    }
    let (tz, ta) = (&z[full..n], &a[full..n]);
    if off.iter().any(|&d| d != zero) || !all_finite(tz) || !all_finite(ta) {
        return false;
    }
    for i in 0..L {
        t.amin = t.amin.min(amin[i].f64());
        t.amax = t.amax.max(amax[i].f64());
        t.asum += asum[i].f64();
        t.asq += asq[i].f64();
        t.zmin = t.zmin.min(zmin[i].f64());
        t.zmax = t.zmax.max(zmax[i].f64());
        t.zabs += zabs[i].f64();
        t.saturated += u64::from(sat[i]);
    }
    t.finite += full as u64;
    let saturating = activation.is_saturating();
    for k in full..n {
        let (zk, ak) = (z[k].f64(), a[k].f64());
        active[k] |= zk > 0.0;
        t.add(zk, ak, saturating && activation.is_saturated(zk, ak));
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn activation_stats_by_hand() {
        // By hand: a = [0.5, 1.0, 0.0, 2.0] -> min 0, max 2, mean 0.875,
        // population std sqrt(mean(a^2) - mean^2) = sqrt(1.3125 - 0.765625).
        let pre = array![[0.5, 1.0], [-3.0, 2.0]];
        let act = array![[0.5, 1.0], [0.0, 2.0]];
        let mut row = empty_row(1, 1);
        activation_stats(&mut row, Activation::Relu, pre.ncols(), &pre, &act);
        assert_eq!((row.act_min, row.act_max, row.act_mean), (0.0, 2.0, 0.875));
        assert!((row.act_std - (1.3125f64 - 0.765625).sqrt()).abs() < 1e-12);
        assert_eq!(
            (row.pre_min, row.pre_max, row.pre_mean_abs),
            (-3.0, 2.0, 1.625)
        );
        assert_eq!(row.dead_frac, Some(0.0));
        assert_eq!(row.saturated_frac, None);
    }

    #[test]
    fn dead_units_are_inactive_for_every_sample() {
        // Unit 2 is <= 0 in both samples, unit 1 only in one: 1 of 2 dead.
        let pre = array![[1.0, -1.0], [-1.0, 0.0]];
        let act = pre.mapv(|v: f64| v.max(0.0));
        let mut row = empty_row(1, 1);
        activation_stats(&mut row, Activation::Relu, pre.ncols(), &pre, &act);
        assert_eq!(row.dead_frac, Some(0.5));
    }

    #[test]
    fn saturated_share_of_sigmoid_and_nonfinite_count() {
        // z = 51 and -8 are beyond the 5.99 bound; 0.1 is not; NaN is counted
        // as non-finite and left out: 2 of 3 finite entries saturated.
        let pre = array![[51.0, -8.0], [0.1, f64::NAN]];
        let act = pre.mapv(crate::engine::activation::sigmoid);
        let mut row = empty_row(1, 1);
        activation_stats(&mut row, Activation::Sigmoid, pre.ncols(), &pre, &act);
        assert_eq!(row.nonfinite, 1);
        assert!((row.saturated_frac.unwrap() - 2.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn rows_with_nonfinite_entries_in_the_lanes_take_the_exact_path() {
        // Source of truth: the definitions over the finite entries. The
        // NaN and the infinity sit inside the 8-lane part of 37-wide rows,
        // where the one-pass finiteness test must send their rows to the
        // element-by-element path without counting anything twice.
        let mut pre = Array2::from_shape_fn((3, 37), |(i, j)| ((i * 37 + j) as f64 * 0.37).cos());
        pre[[1, 5]] = f64::NAN;
        pre[[2, 20]] = f64::INFINITY;
        let act = pre.mapv(|z| z.max(0.0));
        let mut row = empty_row(1, 1);
        activation_stats(&mut row, Activation::Relu, pre.ncols(), &pre, &act);
        assert_eq!(row.nonfinite, 2);
        let finite: Vec<(f64, f64)> = pre
            .iter()
            .zip(act.iter())
            .filter(|(z, a)| z.is_finite() && a.is_finite())
            .map(|(&z, &a)| (z, a))
            .collect();
        let n = finite.len() as f64;
        let mean = finite.iter().map(|p| p.1).sum::<f64>() / n;
        assert!((row.act_mean - mean).abs() < 1e-12);
        assert!(
            (row.pre_mean_abs - finite.iter().map(|p| p.0.abs()).sum::<f64>() / n).abs() < 1e-12
        );
        let zmax = finite.iter().map(|p| p.0).fold(f64::NEG_INFINITY, f64::max);
        assert_eq!(row.pre_max, zmax);
    }

    #[test]
    fn lane_path_matches_the_definitions() {
        // Source of truth: the statistics computed naively from their
        // definitions, entry by entry, over a 7 x 37 batch (37 = four
        // 8-lane chunks plus a tail of 5).
        for act in [
            Activation::Sigmoid,
            Activation::Tanh,
            Activation::Softmax,
            Activation::Relu,
        ] {
            let pre =
                Array2::from_shape_fn((7, 37), |(i, j)| ((i * 37 + j) as f64 * 0.73).sin() * 9.0);
            let mut a = Array2::zeros(pre.raw_dim());
            act.forward(&pre, &mut a);
            let mut row = empty_row(1, 1);
            activation_stats(&mut row, act, pre.ncols(), &pre, &a);
            let n = pre.len() as f64;
            let mean = a.sum() / n;
            let std = (a.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
            assert!(
                (row.act_mean - mean).abs() < 1e-12 && (row.act_std - std).abs() < 1e-12,
                "{act}"
            );
            assert_eq!(row.act_min, a.iter().copied().fold(f64::INFINITY, f64::min));
            assert_eq!(
                row.pre_max,
                pre.iter().copied().fold(f64::NEG_INFINITY, f64::max)
            );
            assert!(
                (row.pre_mean_abs - pre.iter().map(|z| z.abs()).sum::<f64>() / n).abs() < 1e-12
            );
            if act.is_saturating() {
                let sat = pre
                    .iter()
                    .zip(a.iter())
                    .filter(|(&z, &y)| act.is_saturated(z, y))
                    .count() as f64
                    / n;
                assert!((row.saturated_frac.unwrap() - sat).abs() < 1e-12, "{act}");
            }
            if act == Activation::Relu {
                let dead = (0..37)
                    .filter(|&j| (0..7).all(|i| pre[[i, j]] <= 0.0))
                    .count() as f64
                    / 37.0;
                assert_eq!(row.dead_frac, Some(dead));
            }
        }
    }

    #[test]
    fn records_step_one_then_every_nth() {
        let r = Recorder::new(Vec::new(), 10);
        let recorded: Vec<usize> = (1..=25).filter(|&s| r.records(s)).collect();
        assert_eq!(recorded, vec![1, 11, 21]);
    }

    #[test]
    fn update_ratio_edge_cases() {
        assert_eq!(ratio(1e-3, 1.0), 1e-3);
        assert_eq!(ratio(0.0, 0.0), 0.0);
        assert_eq!(ratio(1.0, 0.0), f64::INFINITY);
    }

    #[test]
    fn long_runs_are_thinned_to_a_bounded_grid() {
        // Issue 11: memory must stay bounded for any step count. With a cap
        // of 8 rows, 1 layer recorded every step: after 20 steps the grid
        // has doubled until at most 8 rows remain, all on steps 1 + k*every.
        let info = vec![LayerInfo {
            kind: None,
            layer: 1,
            units: 1,
            fan_in: 1,
            activation: Activation::Relu,
        }];
        let mut r = Recorder::new(info, 1).with_max_rows(8);
        let stats = StepStats {
            loss: 1.0,
            batch_accuracy: 0.5,
        };
        for step in 1..=20 {
            r.start_step(step);
            Hook::<f64>::on_step_end(&mut r, step, &stats);
        }
        let rec = r.into_recording();
        let steps: Vec<usize> = rec.rows.iter().map(|x| x.step).collect();
        // Doubling at 9 rows (every 2) then at 9 again... ends on every 4.
        assert_eq!(steps, vec![1, 5, 9, 13, 17]);
        let loss: Vec<usize> = rec.steps.iter().map(|x| x.step).collect();
        assert_eq!(loss, vec![1, 5, 9, 13, 17]);
    }

    #[test]
    fn thinned_runs_still_write_every_row_from_the_spill() {
        // Issue 11: memory is bounded, but the CSVs stay whole. The same
        // events through a recorder capped at 8 rows and an uncapped one
        // must give byte-identical metrics.csv and loss.csv (the uncapped
        // recorder is the source of truth), while the capped one holds at
        // most about 8 rows of each series in memory.
        let info = vec![
            LayerInfo {
                kind: None,
                layer: 1,
                units: 1,
                fan_in: 1,
                activation: Activation::Relu,
            },
            LayerInfo {
                kind: None,
                layer: 2,
                units: 1,
                fan_in: 1,
                activation: Activation::Sigmoid,
            },
        ];
        let drive = |mut r: Recorder| {
            for step in 1..=40 {
                r.start_step(step);
                for row in &mut r.pending {
                    row.act_mean = step as f64 / 7.0;
                    row.grad_w_norm = 1.0 / step as f64;
                }
                let stats = StepStats {
                    loss: 1.0 / step as f64,
                    batch_accuracy: 0.5,
                };
                Hook::<f64>::on_step_end(&mut r, step, &stats);
                if step % 6 == 0 {
                    let e = EvalStats {
                        loss: 2.0 / step as f64,
                        accuracy: 0.25,
                    };
                    Hook::<f64>::on_eval(&mut r, step, &e);
                }
            }
            r.into_recording()
        };
        let capped = drive(Recorder::new(info.clone(), 3).with_max_rows(8));
        let whole = drive(Recorder::new(info, 3));
        assert!(capped.rows.len() <= 9 && capped.steps.len() <= 9);
        assert!(capped.full.rows.is_some() && capped.full.steps.is_some());
        assert!(whole.full.rows.is_none() && whole.full.steps.is_none());
        let dir = tempfile::tempdir().unwrap();
        for (name, write) in [
            (
                "metrics",
                crate::report::csv::write_metrics
                    as fn(&Recording, &std::path::Path) -> std::io::Result<()>,
            ),
            ("loss", crate::report::csv::write_loss),
        ] {
            let a = dir.path().join(format!("{name}-capped.csv"));
            let b = dir.path().join(format!("{name}-whole.csv"));
            write(&capped, &a).unwrap();
            write(&whole, &b).unwrap();
            let (a, b) = (std::fs::read(a).unwrap(), std::fs::read(b).unwrap());
            assert_eq!(a, b, "{name}.csv differs");
        }
        // 40 loss rows (with the evaluations at 6, 12, ...) and 14 recorded
        // steps x 2 layers.
        let loss = std::fs::read_to_string(dir.path().join("loss-capped.csv")).unwrap();
        assert_eq!(loss.lines().count(), 41);
        assert!(loss.contains("\n36,"), "{loss}");
        let metrics = std::fs::read_to_string(dir.path().join("metrics-capped.csv")).unwrap();
        assert_eq!(metrics.lines().count(), 1 + 14 * 2);
    }

    /// A channel of an image layer is dead only when it is <= 0 at every
    /// position of every sample: here channel 0 (columns 0-1) is, channel 1
    /// (columns 2-3) is not, so 1 of 2 channels (not 3 of 4 columns).
    #[test]
    fn dead_fraction_counts_channels_of_image_layers() {
        let pre = array![[-1.0f64, -2.0, 3.0, -1.0], [-0.5, 0.0, -1.0, -1.0]];
        let act = pre.mapv(|v: f64| v.max(0.0));
        let mut row = empty_row(1, 1);
        activation_stats(&mut row, Activation::Relu, 2, &pre, &act);
        assert_eq!(row.dead_frac, Some(0.5));
        let mut row = empty_row(1, 1);
        activation_stats(&mut row, Activation::Relu, 4, &pre, &act);
        assert_eq!(row.dead_frac, Some(0.75));
    }
}

//! Full-resolution rows of a long run, kept on disk instead of in memory
//! so that memory stays bounded. A run whose series outgrow the recorder's row cap keeps
//! thinned series in memory for the rules and plots, and streams every row
//! to an anonymous temporary file; metrics.csv and loss.csv are then written
//! from that file, so the CSVs stay complete for any step count while memory
//! stays bounded.
//!
//! Rows are stored as fixed little-endian records (exact f64 bits, so the
//! CSV written from the spill is byte-identical to one written from memory).

use super::record::{LayerRow, Probe, ProbeLayer, StepRow};
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// A row type that can be stored in a spill file.
pub trait SpillRow: Sized {
    fn encode(&self, out: &mut Vec<u8>);
    fn decode(r: &mut impl Read) -> std::io::Result<Self>;
}

/// Rows being written during the run.
#[derive(Debug)]
pub struct SpillWriter {
    file: BufWriter<File>,
    rows: usize,
    buf: Vec<u8>,
}

impl SpillWriter {
    /// An anonymous temporary file: created with a unique name in the
    /// system's temporary directory and unlinked at once, so nothing is left
    /// behind however the process ends.
    pub fn new() -> std::io::Result<Self> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("nn-doctor-spill-{}-{n}", std::process::id()));
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)?;
        std::fs::remove_file(&path)?;
        Ok(SpillWriter {
            file: BufWriter::new(file),
            rows: 0,
            buf: Vec::new(),
        })
    }

    pub fn push<T: SpillRow>(&mut self, row: &T) -> std::io::Result<()> {
        self.buf.clear();
        row.encode(&mut self.buf);
        self.file.write_all(&self.buf)?;
        self.rows += 1;
        Ok(())
    }

    /// Flushes and hands the file over for reading.
    pub fn finish(self) -> std::io::Result<Spill> {
        let rows = self.rows;
        let file = self.file.into_inner().map_err(|e| e.into_error())?;
        Ok(Spill {
            file: Arc::new(file),
            rows,
        })
    }
}

/// A finished spill file, shared by the clones of a recording.
#[derive(Debug, Clone)]
pub struct Spill {
    file: Arc<File>,
    rows: usize,
}

impl PartialEq for Spill {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.file, &other.file)
    }
}

impl Spill {
    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Calls `each` on every row, in the order written.
    pub fn for_each<T: SpillRow>(
        &self,
        mut each: impl FnMut(T) -> std::io::Result<()>,
    ) -> std::io::Result<()> {
        let mut f: &File = &self.file;
        f.seek(SeekFrom::Start(0))?;
        let mut r = BufReader::new(f);
        for _ in 0..self.rows {
            each(T::decode(&mut r)?)?;
        }
        Ok(())
    }
}

/// The full-resolution series of a recording whose in-memory series were
/// thinned (None fields: that series fitted in memory).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FullSeries {
    pub rows: Option<Spill>,
    pub steps: Option<Spill>,
}

/// A row of a series ordered by step (several rows may share a step).
pub trait Stepped {
    fn step(&self) -> usize;
}

impl Stepped for LayerRow {
    fn step(&self) -> usize {
        self.step
    }
}

impl Stepped for StepRow {
    fn step(&self) -> usize {
        self.step
    }
}

impl Stepped for Probe {
    fn step(&self) -> usize {
        self.step
    }
}

/// A series read from outside (a run directory) kept in memory up to a cap:
/// past it, every other recorded step is dropped (the kept steps stay
/// evenly spaced in recorded-step order, whatever the step numbers are) and,
/// when asked, every row is streamed to a spill file so the full series can
/// still be written. Memory stays bounded in the number of rows read.
#[derive(Debug)]
pub struct Thinned<T> {
    cap: usize,
    keep_full: bool,
    /// Rows are kept when their step's ordinal is a multiple of this.
    stride: u64,
    /// Ordinal of the current step among the distinct steps seen.
    ordinal: u64,
    last_step: Option<usize>,
    kept: Vec<T>,
    spill: Option<SpillWriter>,
    /// The spill file could not be written: only the thinned series is kept.
    spill_failed: bool,
}

impl<T: Stepped + SpillRow> Thinned<T> {
    /// At most `cap` (at least 2) rows in memory; `keep_full` streams every
    /// row to a spill file once the cap is passed.
    pub fn new(cap: usize, keep_full: bool) -> Self {
        Thinned {
            cap: cap.max(2),
            keep_full,
            stride: 1,
            ordinal: 0,
            last_step: None,
            kept: Vec::new(),
            spill: None,
            spill_failed: false,
        }
    }

    pub fn push(&mut self, row: T) {
        match self.last_step {
            None => {}
            Some(s) if s == row.step() => {}
            Some(_) => self.ordinal += 1,
        }
        self.last_step = Some(row.step());
        if let Some(w) = self.spill.as_mut() {
            if w.push(&row).is_err() {
                self.spill = None;
                self.spill_failed = true;
            }
        }
        if self.ordinal.is_multiple_of(self.stride) {
            self.kept.push(row);
        }
        if self.kept.len() > self.cap {
            self.thin();
        }
    }

    fn thin(&mut self) {
        // One step alone over the cap cannot be halved by dropping steps.
        let steps_kept = (
            self.kept.first().map(T::step),
            self.kept.last().map(T::step),
        );
        if steps_kept.0 == steps_kept.1 {
            return;
        }
        if self.keep_full && self.spill.is_none() && !self.spill_failed {
            // First overflow: the stride is still 1, so `kept` is every row.
            let started = SpillWriter::new().and_then(|mut w| {
                self.kept.iter().try_for_each(|r| w.push(r))?;
                Ok(w)
            });
            match started {
                Ok(w) => self.spill = Some(w),
                Err(_) => self.spill_failed = true,
            }
        }
        self.stride = self.stride.saturating_mul(2);
        let mut j: u64 = 0;
        let mut last = None;
        self.kept.retain(|r| {
            if last.is_some_and(|s| s != r.step()) {
                j += 1;
            }
            last = Some(r.step());
            j.is_multiple_of(2)
        });
    }

    /// The rows kept in memory and, if the series was thinned and spilled,
    /// the full series.
    pub fn finish(self) -> (Vec<T>, Option<Spill>) {
        (self.kept, self.spill.and_then(|w| w.finish().ok()))
    }
}

fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_f64(out: &mut Vec<u8>, v: f64) {
    put_u64(out, v.to_bits());
}

fn put_opt(out: &mut Vec<u8>, v: Option<f64>) {
    out.push(u8::from(v.is_some()));
    put_f64(out, v.unwrap_or(0.0));
}

fn get_u64(r: &mut impl Read) -> std::io::Result<u64> {
    let mut b = [0u8; 8];
    r.read_exact(&mut b)?;
    Ok(u64::from_le_bytes(b))
}

fn get_usize(r: &mut impl Read) -> std::io::Result<usize> {
    usize::try_from(get_u64(r)?)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

fn get_f64(r: &mut impl Read) -> std::io::Result<f64> {
    Ok(f64::from_bits(get_u64(r)?))
}

fn get_opt(r: &mut impl Read) -> std::io::Result<Option<f64>> {
    let mut flag = [0u8; 1];
    r.read_exact(&mut flag)?;
    let v = get_f64(r)?;
    Ok((flag[0] != 0).then_some(v))
}

impl SpillRow for LayerRow {
    fn encode(&self, out: &mut Vec<u8>) {
        put_u64(out, self.step as u64);
        put_u64(out, self.layer as u64);
        for v in [
            self.act_min,
            self.act_max,
            self.act_mean,
            self.act_std,
            self.pre_min,
            self.pre_max,
            self.pre_mean_abs,
        ] {
            put_f64(out, v);
        }
        put_opt(out, self.saturated_frac);
        put_opt(out, self.dead_frac);
        for v in [
            self.grad_w_norm,
            self.grad_b_norm,
            self.weight_norm,
            self.update_ratio,
        ] {
            put_f64(out, v);
        }
        put_u64(out, self.nonfinite);
    }

    fn decode(r: &mut impl Read) -> std::io::Result<Self> {
        Ok(LayerRow {
            step: get_usize(r)?,
            layer: get_usize(r)?,
            act_min: get_f64(r)?,
            act_max: get_f64(r)?,
            act_mean: get_f64(r)?,
            act_std: get_f64(r)?,
            pre_min: get_f64(r)?,
            pre_max: get_f64(r)?,
            pre_mean_abs: get_f64(r)?,
            saturated_frac: get_opt(r)?,
            dead_frac: get_opt(r)?,
            grad_w_norm: get_f64(r)?,
            grad_b_norm: get_f64(r)?,
            weight_norm: get_f64(r)?,
            update_ratio: get_f64(r)?,
            nonfinite: get_u64(r)?,
        })
    }
}

impl SpillRow for StepRow {
    fn encode(&self, out: &mut Vec<u8>) {
        put_u64(out, self.step as u64);
        put_f64(out, self.loss);
        put_f64(out, self.batch_accuracy);
        put_opt(out, self.test_loss);
        put_opt(out, self.test_accuracy);
    }

    fn decode(r: &mut impl Read) -> std::io::Result<Self> {
        Ok(StepRow {
            step: get_usize(r)?,
            loss: get_f64(r)?,
            batch_accuracy: get_f64(r)?,
            test_loss: get_opt(r)?,
            test_accuracy: get_opt(r)?,
        })
    }
}

impl SpillRow for Probe {
    fn encode(&self, out: &mut Vec<u8>) {
        put_u64(out, self.step as u64);
        put_f64(out, self.loss_mean);
        put_f64(out, self.loss_std);
        put_u64(out, self.layers.len() as u64);
        for l in &self.layers {
            put_opt(out, l.saturated_frac);
            put_opt(out, l.dead_frac);
        }
    }

    fn decode(r: &mut impl Read) -> std::io::Result<Self> {
        let step = get_usize(r)?;
        let loss_mean = get_f64(r)?;
        let loss_std = get_f64(r)?;
        let n = get_usize(r)?;
        let mut layers = Vec::new();
        for _ in 0..n {
            layers.push(ProbeLayer {
                saturated_frac: get_opt(r)?,
                dead_frac: get_opt(r)?,
            });
        }
        Ok(Probe {
            step,
            loss_mean,
            loss_std,
            layers,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_round_trip_bit_exactly_including_nan_and_absent_values() {
        let row = LayerRow {
            step: 7,
            layer: 2,
            act_min: f64::NAN,
            act_max: f64::INFINITY,
            act_mean: -0.0,
            act_std: 1e-300,
            pre_min: -3.5,
            pre_max: 54.1,
            pre_mean_abs: 0.1,
            saturated_frac: None,
            dead_frac: Some(0.25),
            grad_w_norm: 6.65e-11,
            grad_b_norm: 0.0,
            weight_norm: 12.0,
            update_ratio: 1e-3,
            nonfinite: 3,
        };
        let step = StepRow {
            step: 9,
            loss: 0.878,
            batch_accuracy: 0.1,
            test_loss: Some(0.9),
            test_accuracy: None,
        };
        let mut w = SpillWriter::new().unwrap();
        w.push(&row).unwrap();
        w.push(&row).unwrap();
        let spill = w.finish().unwrap();
        assert_eq!(spill.len(), 2);
        let mut back = Vec::new();
        spill
            .for_each(|r: LayerRow| {
                back.push(r);
                Ok(())
            })
            .unwrap();
        assert_eq!(back.len(), 2);
        assert!(back[0].act_min.is_nan());
        assert_eq!(back[0].act_mean.to_bits(), (-0.0f64).to_bits());
        let (mut a, mut b) = (row.clone(), back[1].clone());
        a.act_min = 0.0;
        b.act_min = 0.0;
        assert_eq!(a, b);
        let mut w = SpillWriter::new().unwrap();
        w.push(&step).unwrap();
        let spill = w.finish().unwrap();
        spill
            .for_each(|s: StepRow| {
                assert_eq!(s, step);
                Ok(())
            })
            .unwrap();
    }

    fn step_row(step: usize) -> StepRow {
        StepRow {
            step,
            loss: step as f64,
            batch_accuracy: f64::NAN,
            test_loss: None,
            test_accuracy: None,
        }
    }

    #[test]
    fn thinned_series_stay_under_the_cap_evenly_and_spill_every_row() {
        // Irregular step numbers: thinning follows the order of steps, so
        // it never empties the series whatever the numbers are.
        let steps: Vec<usize> = (0..1000).map(|i| 3 + 4 * i + (i % 3)).collect();
        let mut t = Thinned::new(100, true);
        for &s in &steps {
            t.push(step_row(s));
        }
        let (kept, spill) = t.finish();
        assert!(kept.len() <= 100 && kept.len() > 50, "{}", kept.len());
        assert_eq!(kept[0].step, steps[0], "the first step is always kept");
        let gaps: Vec<usize> = kept
            .windows(2)
            .map(|w| {
                steps.iter().position(|&s| s == w[1].step).unwrap()
                    - steps.iter().position(|&s| s == w[0].step).unwrap()
            })
            .collect();
        assert!(
            gaps.iter().all(|&g| g == gaps[0]),
            "evenly spaced: {gaps:?}"
        );
        let spill = spill.expect("spilled");
        let mut all = Vec::new();
        spill
            .for_each(|r: StepRow| {
                all.push(r.step);
                Ok(())
            })
            .unwrap();
        assert_eq!(all, steps);
    }

    #[test]
    fn rows_sharing_a_step_are_kept_or_dropped_together() {
        let mut t = Thinned::new(10, false);
        for step in 1..=100 {
            for layer in 1..=3 {
                let mut r = step_row(step);
                r.loss = layer as f64;
                t.push(r);
            }
        }
        let (kept, spill) = t.finish();
        assert!(spill.is_none());
        assert!(kept.len() <= 10);
        for c in kept.chunks(3) {
            assert!(c.iter().all(|r| r.step == c[0].step), "{c:?}");
            assert_eq!(c.len(), 3);
        }
    }

    #[test]
    fn probes_round_trip() {
        let p = Probe {
            step: 4,
            loss_mean: 0.5,
            loss_std: f64::NAN,
            layers: vec![
                ProbeLayer {
                    saturated_frac: Some(0.25),
                    dead_frac: None,
                };
                3
            ],
        };
        let mut w = SpillWriter::new().unwrap();
        w.push(&p).unwrap();
        let spill = w.finish().unwrap();
        spill
            .for_each(|q: Probe| {
                assert_eq!((q.step, q.layers.clone()), (p.step, p.layers.clone()));
                assert!(q.loss_std.is_nan());
                Ok(())
            })
            .unwrap();
    }
}

//! Full-resolution rows of a long run, kept on disk instead of in memory
//! (issue 11). A run whose series outgrow the recorder's row cap keeps
//! thinned series in memory for the rules and plots, and streams every row
//! to an anonymous temporary file; metrics.csv and loss.csv are then written
//! from that file, so the CSVs stay complete for any step count while memory
//! stays bounded.
//!
//! Rows are stored as fixed little-endian records (exact f64 bits, so the
//! CSV written from the spill is byte-identical to one written from memory).

use super::record::{LayerRow, StepRow};
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
}

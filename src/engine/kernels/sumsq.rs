//! The sum of squares of a long tensor (a gradient's squared norm) over
//! fixed chunks shared among the kernel threads.
//!
//! The backward pass sums the squares of every gradient it produces, the
//! input of the recorded gradient norms and of clipping. On the seed
//! network the first layer's 784x1000 weight gradient made that a
//! single-threaded pass over 3 MB after the threaded product that wrote it
//! (about 2.5% of an instrumented step under `perf`). As with the
//! optimizer's chunked update (`engine::optim`), the chunks depend only on
//! the length, each is summed the same way whichever thread takes it, and
//! their sums are added in chunk order: the result has the same bits for
//! every thread count. A tensor up to one chunk is summed exactly as
//! before chunking existed.

use super::pool::for_each_part;
use crate::engine::float::{sum_sq, sum_sq_wide, Float};
use std::sync::atomic::{AtomicU64, Ordering};

/// Elements per chunk: 2^16, as the optimizer's (a chunk of the seed
/// network's first weight gradient takes a few microseconds, so a long
/// tensor has enough chunks to share and each outlasts a worker's wake).
pub const CHUNK: usize = 1 << 16;

/// Sum of squares in f64 of `xs` on up to `threads` threads.
pub fn sum_sq_chunked<F: Float>(xs: &[F], threads: usize) -> f64 {
    if xs.len() <= CHUNK {
        return sum_sq(xs);
    }
    let sums: Vec<AtomicU64> = (0..xs.len().div_ceil(CHUNK))
        .map(|_| AtomicU64::new(0))
        .collect();
    let parts: Vec<(usize, &[F])> = xs.chunks(CHUNK).enumerate().collect();
    for_each_part(threads, parts, &|(i, chunk)| {
        if let Some(slot) = sums.get(i) {
            slot.store(sum_sq_wide(chunk).to_bits(), Ordering::Relaxed);
        }
    });
    // for_each_part returns after every part's run returned (the pool's
    // lock orders the stores before these loads).
    sums.iter().fold(0.0, |acc, s| {
        acc + f64::from_bits(s.load(Ordering::Relaxed))
    })
}

/// Each tensor's sum of squares ([`sum_sq_chunked`]; NaN for a tensor that
/// is not contiguous): what the backward pass reports for a layer's
/// gradients.
pub fn sums_of_squares<F: Float>(tensors: &[ndarray::ArrayD<F>], threads: usize) -> Vec<f64> {
    tensors
        .iter()
        .map(|g| {
            g.as_slice()
                .map_or(f64::NAN, |s| sum_sq_chunked(s, threads))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Source of truth: the chunk sums computed here one after another on
    /// one thread and added in order; every thread count must give their
    /// bits, and the naive f64 sum to rounding.
    #[test]
    fn every_thread_count_gives_the_same_bits() {
        let n = 3 * CHUNK + 777;
        let xs: Vec<f32> = (0..n).map(|i| (i as f32 * 0.37).sin() * 3.0).collect();
        let want = xs
            .chunks(CHUNK)
            .map(sum_sq_wide)
            .fold(0.0, |a: f64, s| a + s);
        for threads in 1..=4 {
            assert_eq!(sum_sq_chunked(&xs, threads).to_bits(), want.to_bits());
        }
        let naive: f64 = xs.iter().map(|&x| f64::from(x) * f64::from(x)).sum();
        assert!((want - naive).abs() <= 1e-12 * naive);
    }

    /// Up to one chunk nothing changes: the bits of the one-pass sum.
    #[test]
    fn a_short_tensor_is_summed_as_before() {
        let xs: Vec<f64> = (0..CHUNK).map(|i| (i as f64 * 0.11).cos()).collect();
        assert_eq!(sum_sq_chunked(&xs, 2).to_bits(), sum_sq(&xs).to_bits());
    }

    /// A NaN anywhere still makes the sum NaN (the tracer's flag).
    #[test]
    fn a_nan_in_any_chunk_shows() {
        let mut xs = vec![1.0f32; 2 * CHUNK + 5];
        xs[CHUNK + 3] = f32::NAN;
        assert!(sum_sq_chunked(&xs, 2).is_nan());
    }
}

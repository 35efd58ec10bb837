//! C = alpha A B + beta C split over threads by output columns.
//!
//! matrixmultiply's own threading loses on the engine's shapes (on 2 cores
//! the seed network's step was slower with its two threads than with one,
//! its idle worker spinning in `sched_yield`). Here C's columns (and the
//! same columns of B) are cut into contiguous blocks, and each thread takes
//! blocks from a shared counter and runs the single-threaded GEMM on them;
//! the threads are the parked workers of `pool`, so nothing waits busily
//! between products and no thread is spawned per product. Every entry of C is the same dot product
//! in the same order whichever block holds it (matrixmultiply blocks k the
//! same way for any n), so the result is bit-identical for every thread
//! count, which the tests check.

use super::pool::broadcast;
use crate::engine::float::Float;
use ndarray::linalg::general_mat_mul;
use ndarray::{ArrayView2, ArrayViewMut2, Axis};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// A product gets one thread per this many multiply-adds (up to the thread
/// count), so the first split is at twice this: products of a few million
/// multiply-adds lose more to waking a worker and packing A twice than the
/// split saves, larger ones gain (`cargo bench --bench gemm_shapes`;
/// bench/RESULTS.md).
pub const MIN_PARALLEL_MACS: usize = 1 << 22;

/// The threads [`gemm`] uses for an `m` x `k` x `n` product when
/// `threads` are available (at least 1).
pub fn threads_for(m: usize, k: usize, n: usize, threads: usize) -> usize {
    threads
        .min(m.saturating_mul(n).saturating_mul(k) / MIN_PARALLEL_MACS)
        .max(1)
}

/// Column blocks are multiples of this (the widest micro-kernel's columns),
/// so no block ends in a partial tile that a single thread would not have.
const COLUMN_ALIGN: usize = 16;

/// Column blocks per thread. The blocks are handed out from a shared
/// counter, so when a worker is slow to get a core (a loaded machine) the
/// caller takes its block instead of waiting for it. One block each: every
/// block packs all of A again (the seed network's 64x784 input, or its
/// 784x64 transpose for the weight gradient), and with two per thread that
/// packing cost more than the balance gained (bench/RESULTS.md).
const BLOCKS_PER_THREAD: usize = 1;

/// C = alpha A B + beta C over `threads` threads (1 = the caller's only).
/// Shapes must agree as for `general_mat_mul`, which panics otherwise; the
/// layers guarantee them.
pub fn gemm<F: Float>(
    alpha: F,
    a: &ArrayView2<'_, F>,
    b: &ArrayView2<'_, F>,
    beta: F,
    c: &mut ArrayViewMut2<'_, F>,
    threads: usize,
) {
    let (m, k) = a.dim();
    let threads = threads_for(m, k, b.ncols(), threads);
    gemm_split(alpha, a, b, beta, c, threads);
}

/// [`gemm`] split over exactly `threads` threads whatever its size (the
/// `gemm_shapes` bench measures where splitting starts to pay).
pub fn gemm_split<F: Float>(
    alpha: F,
    a: &ArrayView2<'_, F>,
    b: &ArrayView2<'_, F>,
    beta: F,
    c: &mut ArrayViewMut2<'_, F>,
    threads: usize,
) {
    let n = b.ncols();
    let blocks = (threads * BLOCKS_PER_THREAD).min(n / COLUMN_ALIGN);
    if threads <= 1 || blocks <= 1 {
        general_mat_mul(alpha, a, b, beta, c);
        return;
    }
    let width = n.div_ceil(blocks).div_ceil(COLUMN_ALIGN) * COLUMN_ALIGN;
    // Each block's columns of B and C, taken (once) by whoever gets there
    // first.
    let mut parts = Vec::with_capacity(blocks);
    let (mut rest_c, mut rest_b) = (c.view_mut(), b.view());
    while rest_c.ncols() > 0 {
        let w = width.min(rest_c.ncols());
        let (bc, tail_c) = rest_c.split_at(Axis(1), w);
        let (bb, tail_b) = rest_b.split_at(Axis(1), w);
        parts.push(Mutex::new(Some((bb, bc))));
        rest_c = tail_c;
        rest_b = tail_b;
    }
    let next = AtomicUsize::new(0);
    let work = || loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        let Some(part) = parts.get(i) else { break };
        let taken = part.lock().map(|mut p| p.take()).unwrap_or(None);
        if let Some((bb, mut bc)) = taken {
            general_mat_mul(alpha, a, &bb, beta, &mut bc);
        }
    };
    broadcast(threads, &work);
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn random(rows: usize, cols: usize, seed: u64) -> Array2<f32> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        Array2::from_shape_fn((rows, cols), |_| rng.random_range(-1.0f32..1.0))
    }

    /// Source of truth: ndarray's single-threaded `general_mat_mul` on the
    /// whole matrix. Every thread count must give its bits exactly, on
    /// shapes of the seed network (forward, and the transposed weight
    /// gradient) with widths that do not divide evenly.
    #[test]
    fn every_thread_count_gives_the_single_threaded_bits() {
        for (m, k, n) in [
            (64, 784, 1000),
            (784, 64, 1000),
            (33, 300, 1001),
            (256, 784, 256),
        ] {
            let a = random(m, k, 1);
            let b = random(k, n, 2);
            let c0 = random(m, n, 3);
            let mut want = c0.clone();
            general_mat_mul(0.5, &a, &b, 1.0, &mut want);
            for t in 1..=5 {
                let mut got = c0.clone();
                gemm(0.5, &a.view(), &b.view(), 1.0, &mut got.view_mut(), t);
                assert!(
                    got.iter()
                        .zip(&want)
                        .all(|(x, y)| x.to_bits() == y.to_bits()),
                    "{m}x{k}x{n} with {t} threads differs"
                );
            }
        }
    }

    /// Transposed (strided) operands, as the backward products pass them.
    #[test]
    fn transposed_operands_split_the_same_way() {
        let x = random(64, 784, 4);
        let d = random(64, 1000, 5);
        let mut want = Array2::<f32>::zeros((784, 1000));
        general_mat_mul(1.0, &x.t(), &d, 0.0, &mut want);
        let mut got = Array2::<f32>::zeros((784, 1000));
        gemm(1.0, &x.t(), &d.view(), 0.0, &mut got.view_mut(), 2);
        assert_eq!(got, want);
    }
}

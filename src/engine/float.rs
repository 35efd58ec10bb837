//! The scalar type the engine is generic over. One implementation serves f32
//! and f64 training, so a bug fixed in one precision is fixed in both.

use ndarray::{LinalgScalar, ScalarOperand};
use std::fmt::{Debug, Display};

/// f32 or f64: what a network's weights and activations are stored in.
pub trait Float:
    num_traits::Float
    + LinalgScalar
    + ScalarOperand
    + Debug
    + Display
    + Default
    + Send
    + Sync
    + std::ops::AddAssign
    + std::ops::SubAssign
    + std::ops::MulAssign
    + std::ops::DivAssign
    + super::kernels::exp::VecMath
    + 'static
{
    /// "f32" or "f64", as in configs.
    const NAME: &'static str;
    /// Converts (rounding for f32); the engine's one way in from f64.
    fn of(x: f64) -> Self;
    /// Widens to f64 for statistics and reports.
    fn f64(self) -> f64;
}

impl Float for f32 {
    const NAME: &'static str = "f32";
    fn of(x: f64) -> Self {
        x as f32
    }
    fn f64(self) -> f64 {
        f64::from(self)
    }
}

impl Float for f64 {
    const NAME: &'static str = "f64";
    fn of(x: f64) -> Self {
        x
    }
    fn f64(self) -> f64 {
        self
    }
}

crate::multiversion!(
    /// Sum of squares accumulated in f64 with several independent
    /// accumulators, so the loop vectorises and f32 squares cannot overflow;
    /// through its AVX2 build where the CPU has it (same bits:
    /// engine::kernels::simd).
    pub fn sum_sq<F: Float>(xs: &[F]) -> f64 => sum_sq_lanes
);

crate::multiversion!(
    /// [`sum_sq`] with sixteen accumulator lanes, for the fixed chunks of a
    /// long tensor (`kernels::sumsq`): eight lanes of dependent f64
    /// additions bound the pass by their latency, as the optimizer's norms
    /// found (`engine::optim`, `WIDE_LANES`).
    pub fn sum_sq_wide<F: Float>(xs: &[F]) -> f64 => sum_sq_lanes16
);

#[inline(always)]
fn sum_sq_lanes<F: Float>(xs: &[F]) -> f64 {
    sum_sq_in::<F, 8>(xs)
}

#[inline(always)]
fn sum_sq_lanes16<F: Float>(xs: &[F]) -> f64 {
    sum_sq_in::<F, 16>(xs)
}

/// The sum of squares in `L` lanes, the lanes added in order, then the tail.
#[inline(always)]
fn sum_sq_in<F: Float, const L: usize>(xs: &[F]) -> f64 {
    let mut acc = [0.0f64; L];
    let mut chunks = xs.chunks_exact(L);
    for c in &mut chunks {
        for (a, x) in acc.iter_mut().zip(c) {
            let v = x.f64();
            *a += v * v;
        }
    }
    let tail: f64 = chunks.remainder().iter().map(|x| x.f64() * x.f64()).sum();
    acc.iter().sum::<f64>() + tail
}

/// True when every element is finite. Eight independent lanes keep the
/// reduction vectorisable, because the tracer calls it on every tensor of
/// every step.
pub fn all_finite<F: Float>(xs: &[F]) -> bool {
    // x - x is 0 for finite x and NaN for NaN/Inf; NaN poisons the sum.
    let mut acc = [F::zero(); 8];
    let mut chunks = xs.chunks_exact(8);
    for c in &mut chunks {
        for (a, &x) in acc.iter_mut().zip(c) {
            #[allow(clippy::eq_op)]
            let d = x - x;
            *a += d;
        }
    }
    #[allow(clippy::eq_op)]
    let tail = chunks
        .remainder()
        .iter()
        .fold(F::zero(), |a, &x| a + (x - x));
    acc.iter().fold(tail, |a, &b| a + b) == F::zero()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sum_sq_matches_naive_sum() {
        // Source of truth: the definition, summed naively in f64.
        let xs: Vec<f32> = (0..37).map(|i| i as f32 * 0.5 - 7.0).collect();
        let naive: f64 = xs.iter().map(|&x| f64::from(x) * f64::from(x)).sum();
        assert!((sum_sq(&xs) - naive).abs() < 1e-9);
    }

    #[test]
    fn sum_sq_avx2_and_portable_builds_agree_bit_for_bit() {
        // The dispatched build (AVX2 where the CPU has it) against the
        // portable one called directly: same bits (engine::kernels::simd).
        let xs: Vec<f32> = (0..1001).map(|i| (i as f32 * 0.731).sin()).collect();
        assert_eq!(sum_sq(&xs).to_bits(), sum_sq_lanes(&xs).to_bits());
        assert_eq!(sum_sq_wide(&xs).to_bits(), sum_sq_lanes16(&xs).to_bits());
        let naive: f64 = xs.iter().map(|&x| f64::from(x) * f64::from(x)).sum();
        assert!((sum_sq_wide(&xs) - naive).abs() < 1e-9);
    }

    #[test]
    fn sum_sq_of_large_f32_does_not_overflow() {
        // 3e38^2 overflows f32 but not f64.
        let xs = [3.0e38f32, 3.0e38];
        assert!(sum_sq(&xs).is_finite());
    }

    #[test]
    fn all_finite_detects_nan_and_inf() {
        assert!(all_finite(&[1.0f64, -2.0, 0.0]));
        assert!(!all_finite(&[1.0f64, f64::NAN]));
        assert!(!all_finite(&[f32::INFINITY, 1.0]));
        assert!(!all_finite(&[f32::MAX, f32::NEG_INFINITY]));
        assert!(all_finite::<f32>(&[]));
    }
}

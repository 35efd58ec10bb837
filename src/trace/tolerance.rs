//! Every tolerance `verify-trace` uses, in one place.
//!
//! A trace element passes when |actual − expected| ≤ rtol·|expected| +
//! scaled·max|expected over the tensor|. The second term is there because
//! elements near zero inherit the rounding of the large terms they were
//! summed from (a delta of 1e-9 computed from products of order 1), so a
//! purely relative test would flag round-off. f32 implementations round
//! at ~6e-8 per operation and sum hundreds of terms: 1e-4 leaves a wide
//! margin while any catalogue mistake is off by 1e-2 or more. f64 ones
//! agree with our f64 recompute to ~1e-13 (summation order only): 1e-9.

use super::spec::Precision;

/// Comparison tolerance for one precision.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tolerance {
    /// Share of the element's own expected magnitude.
    pub rtol: f64,
    /// Share of the tensor's largest expected magnitude.
    pub scaled: f64,
}

impl Tolerance {
    pub fn of(p: Precision) -> Self {
        match p {
            Precision::F64 => Tolerance {
                rtol: 1e-9,
                scaled: 1e-9,
            },
            Precision::F32 => Tolerance {
                rtol: 1e-4,
                scaled: 1e-4,
            },
        }
    }

    /// The allowed |actual − expected| for an element of magnitude `e` in a
    /// tensor whose largest expected magnitude is `scale`. A tiny absolute
    /// floor keeps all-zero tensors (a dead layer's gradient) comparable.
    pub fn bound(&self, e: f64, scale: f64) -> f64 {
        self.rtol * e.abs() + self.scaled * scale + 1e-300
    }
}

/// Finite differences that confirm our reference gradients: central
/// differences with this step (round-off ~1e-10·|L|, truncation ~1e-12).
pub const FD_EPSILON: f64 = 1e-6;
/// Pass rule of a finite-difference check: |a − n| ≤ FD_ATOL·max(1, |L|) +
/// FD_RTOL·max(|a|, |n|), the gradcheck defaults scaled to the loss.
pub const FD_RTOL: f64 = 1e-4;
pub const FD_ATOL: f64 = 1e-7;
/// Elements checked per weight or bias tensor: the largest |gradient| ones
/// (where a wrong reference would show most) plus first, middle and last.
pub const FD_LARGEST: usize = 3;

/// A fitted constant factor within this relative distance of the batch
/// size or of −1 is reported as exactly that (batch-sum / sign).
pub const FACTOR_SNAP: f64 = 1e-3;

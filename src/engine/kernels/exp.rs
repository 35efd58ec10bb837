//! A vectorisable exp, and the sigmoid and tanh built on it, for f32 and
//! f64. libm's `exp` is a scalar call per element, which stopped the
//! compiler from vectorising the activation loops (10% of a seed-network
//! step). This one is branch-free straight-line code the compiler turns
//! into SIMD, built portable and with AVX2 (`simd`), bit-identical on every
//! machine: only +, -, *, / and bit moves, no fused multiply-add.
//!
//! Method (Cephes `expf`/`exp`): n = round(x log2 e) by adding and
//! subtracting 1.5 * 2^mantissa_bits, r = x - n ln2 in two parts (Cody-Waite,
//! the high part exact for any n in range), e^r by a minimax polynomial
//! (f32) or Pade form (f64) on [-ln2/2, ln2/2], times 2^n built from the
//! exponent bits in two halves so that results that underflow to subnormals
//! round once, as libm's do. Inputs are clamped to where the result is 0 or
//! infinite anyway; NaN passes the clamp (its comparisons are false) and
//! comes out NaN, so the non-finite tracer still sees it.
//!
//! Accuracy, measured by the tests against f64 `exp` (std, i.e. the
//! platform libm) over a dense sweep of the whole range: at most 1 ulp for
//! f32 and at most 2 ulp for f64 (see `MAX_ULP_*`).

// The constants are Cephes' published digits, kept as published so they can
// be checked against the source; the compiler rounds them to the type.
#![allow(clippy::excessive_precision)]

use crate::multiversion;

/// Largest error of [`exp_f32`] in f32 ulps, asserted by the tests.
pub const MAX_ULP_F32: u32 = 1;
/// Largest error of [`exp_f64`] in f64 ulps, asserted by the tests.
pub const MAX_ULP_F64: u64 = 2;

/// e^x in f32, branch-free (see the module doc).
#[inline(always)]
pub fn exp_f32(x: f32) -> f32 {
    const MAGIC: f32 = 12_582_912.0; // 1.5 * 2^23
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_375; // 9 significant bits: n * LN2_HI is exact
    const LN2_LO: f32 = -2.121_944_4e-4;
    // Beyond these e^x is 0 or infinite in f32 (after rounding).
    let x = if x < -104.0 { -104.0 } else { x };
    let x = if x > 89.0 { 89.0 } else { x };
    let t = x * LOG2E + MAGIC;
    let n = (t.to_bits() as i32).wrapping_sub(MAGIC.to_bits() as i32);
    let nf = t - MAGIC;
    let r = (x - nf * LN2_HI) - nf * LN2_LO;
    let r2 = r * r;
    let p = ((((1.987_569_1e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r
        + 1.666_666_5e-1)
        * r
        + 5.000_000_1e-1;
    let p = p * r2 + r + 1.0;
    let n1 = n >> 1;
    let n2 = n.wrapping_sub(n1);
    let s1 = f32::from_bits((n1.wrapping_add(127) as u32) << 23);
    let s2 = f32::from_bits((n2.wrapping_add(127) as u32) << 23);
    p * s1 * s2
}

/// e^x in f64, branch-free (see the module doc).
#[inline(always)]
pub fn exp_f64(x: f64) -> f64 {
    const MAGIC: f64 = 6_755_399_441_055_744.0; // 1.5 * 2^52
    const LOG2E: f64 = std::f64::consts::LOG2_E;
    const LN2_HI: f64 = 6.931_457_519_531_25e-1; // n * LN2_HI is exact
    const LN2_LO: f64 = 1.428_606_820_309_417_232_12e-6;
    let x = if x < -746.0 { -746.0 } else { x };
    let x = if x > 710.0 { 710.0 } else { x };
    let t = x * LOG2E + MAGIC;
    let n = (t.to_bits() as i64).wrapping_sub(MAGIC.to_bits() as i64);
    let nf = t - MAGIC;
    let r = (x - nf * LN2_HI) - nf * LN2_LO;
    let r2 = r * r;
    let px = r
        * ((1.261_771_930_748_105_908_78e-4 * r2 + 3.029_944_077_074_419_613e-2) * r2
            + 9.999_999_999_999_999_999_1e-1);
    let qx = ((3.001_985_051_386_644_550_42e-6 * r2 + 2.524_483_403_496_841_041_92e-3) * r2
        + 2.272_655_482_081_550_287_66e-1)
        * r2
        + 2.0;
    let e = px / (qx - px);
    let p = 1.0 + (e + e);
    let n1 = n >> 1;
    let n2 = n.wrapping_sub(n1);
    let s1 = f64::from_bits((n1.wrapping_add(1023) as u64) << 52);
    let s2 = f64::from_bits((n2.wrapping_add(1023) as u64) << 52);
    p * s1 * s2
}

/// Element-wise kernels of one precision, each built portable and AVX2.
pub trait VecMath: Sized + Copy {
    /// a = 1 / (1 + e^-z), from e^-|z| so it never overflows.
    fn sigmoid_slice(z: &[Self], a: &mut [Self]);
}

macro_rules! kernels {
    ($f:ty, $exp:ident, $body:ident, $multi:ident) => {
        #[inline(always)]
        fn $body(z: &[$f], a: &mut [$f]) {
            for (a, &z) in a.iter_mut().zip(z) {
                let e = $exp(-z.abs());
                let num = if z >= 0.0 { 1.0 } else { e };
                *a = num / (1.0 + e);
            }
        }
        multiversion!(fn $multi(z: &[$f], a: &mut [$f]) => $body);
        impl VecMath for $f {
            fn sigmoid_slice(z: &[$f], a: &mut [$f]) {
                $multi(z, a)
            }
        }
    };
}

kernels!(f32, exp_f32, sigmoid_f32_body, sigmoid_f32);
kernels!(f64, exp_f64, sigmoid_f64_body, sigmoid_f64);

#[cfg(test)]
mod tests {
    use super::*;

    /// Distance in ulps between two finite values of the same sign.
    fn ulps32(a: f32, b: f32) -> u32 {
        (a.to_bits() as i64 - b.to_bits() as i64).unsigned_abs() as u32
    }
    fn ulps64(a: f64, b: f64) -> u64 {
        (a.to_bits() as i128 - b.to_bits() as i128).unsigned_abs() as u64
    }

    /// Source of truth: std's f64 `exp` (the platform libm), rounded to f32,
    /// over every 1/4096 step of the f32 range and its subnormal tail.
    #[test]
    fn exp_f32_is_within_its_ulp_bound() {
        let mut worst = (0, 0.0f32);
        let mut x = -103.0f32;
        while x < 88.7 {
            let want = (f64::from(x)).exp() as f32;
            let got = exp_f32(x);
            let e = ulps32(got, want);
            if e > worst.0 {
                worst = (e, x);
            }
            x += 1.0 / 4096.0;
        }
        assert!(worst.0 <= MAX_ULP_F32, "{} ulp at {}", worst.0, worst.1);
    }

    /// Source of truth: std's f64 `exp` (the platform libm, itself within
    /// 1 ulp) over a dense sweep of the range including subnormal results.
    #[test]
    fn exp_f64_is_within_its_ulp_bound() {
        let mut worst = (0, 0.0f64);
        let mut x = -745.0f64;
        while x < 709.7 {
            let e = ulps64(exp_f64(x), x.exp());
            if e > worst.0 {
                worst = (e, x);
            }
            x += 1.0 / 1024.0 + 1e-9;
        }
        assert!(worst.0 <= MAX_ULP_F64, "{} ulp at {}", worst.0, worst.1);
    }

    #[test]
    fn limits_and_nan() {
        // IEEE: e^0 = 1, overflow to +inf, underflow to 0, NaN stays NaN.
        assert_eq!(exp_f32(0.0), 1.0);
        assert_eq!(exp_f64(0.0), 1.0);
        assert_eq!(exp_f32(100.0), f32::INFINITY);
        assert_eq!(exp_f32(f32::INFINITY), f32::INFINITY);
        assert_eq!(exp_f32(-200.0), 0.0);
        assert_eq!(exp_f64(800.0), f64::INFINITY);
        assert_eq!(exp_f64(f64::NEG_INFINITY), 0.0);
        assert!(exp_f32(f32::NAN).is_nan());
        assert!(exp_f64(f64::NAN).is_nan());
        // The smallest subnormals, as libm gives them.
        assert_eq!(exp_f32(-103.0), (-103.0f64).exp() as f32);
        assert_eq!(exp_f64(-745.0), (-745.0f64).exp());
    }

    fn random_inputs<F>(n: usize, of: impl Fn(f64) -> F) -> Vec<F> {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        (0..n)
            .map(|i| match i % 97 {
                0 => of(f64::NAN),
                1 => of(f64::INFINITY),
                2 => of(-1e4),
                _ => of(rng.random_range(-60.0..60.0)),
            })
            .collect()
    }

    /// The AVX2 and portable builds must give the same bits (the
    /// determinism guarantee across machines); skipped where the CPU has no
    /// AVX2, which the message says.
    #[test]
    fn avx2_and_portable_builds_agree_bit_for_bit() {
        let z32 = random_inputs(10_007, |v| v as f32);
        let z64 = random_inputs(10_007, |v| v);
        let (mut p32, mut w32) = (vec![0.0f32; z32.len()], vec![0.0f32; z32.len()]);
        let (mut p64, mut w64) = (vec![0.0f64; z64.len()], vec![0.0f64; z64.len()]);
        sigmoid_f32_body(&z32, &mut p32);
        sigmoid_f64_body(&z64, &mut p64);
        if !crate::engine::kernels::simd::avx2() {
            eprintln!("no AVX2 on this CPU: only the portable build was run");
            return;
        }
        f32::sigmoid_slice(&z32, &mut w32);
        f64::sigmoid_slice(&z64, &mut w64);
        for i in 0..z32.len() {
            assert_eq!(p32[i].to_bits(), w32[i].to_bits(), "f32 at {}", z32[i]);
            assert_eq!(p64[i].to_bits(), w64[i].to_bits(), "f64 at {}", z64[i]);
        }
    }

    /// Source of truth: the logistic function in f64 with std's exp.
    #[test]
    fn sigmoid_matches_the_libm_logistic() {
        let z: Vec<f64> = (-4000..4000).map(|i| f64::from(i) * 0.01).collect();
        let mut a = vec![0.0; z.len()];
        f64::sigmoid_slice(&z, &mut a);
        for (z, a) in z.iter().zip(&a) {
            let want = 1.0 / (1.0 + (-z).exp());
            assert!((a - want).abs() <= 4.0 * f64::EPSILON * want, "{z}");
        }
    }
}

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
//! Accuracy, measured by the tests against std's f64 `exp` and `tanh` (the
//! platform libm) over dense sweeps (every 1/4096 of the f32 range, every
//! ~1/1024 of the f64 range, subnormal results included): exp at most 1 ulp
//! in f32 and 2 ulp in f64, tanh at most 1 ulp in f32 and 2 ulp in f64 (the
//! `MAX_ULP_*` constants, each the worst case the sweep found).

// The constants are Cephes' published digits, kept as published so they can
// be checked against the source; the compiler rounds them to the type.
#![allow(clippy::excessive_precision)]

use crate::multiversion;

/// Largest error of [`exp_f32`] in f32 ulps, asserted by the tests.
pub const MAX_ULP_F32: u32 = 1;
/// Largest error of [`exp_f64`] in f64 ulps, asserted by the tests.
pub const MAX_ULP_F64: u64 = 2;
/// Largest error of [`tanh_f32`] in f32 ulps, asserted by the tests.
pub const MAX_ULP_TANH_F32: u32 = 1;
/// Largest error of [`tanh_f64`] in f64 ulps, asserted by the tests.
pub const MAX_ULP_TANH_F64: u64 = 2;

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

/// tanh(x) in f32 (Cephes `tanhf`): an odd polynomial below |x| = 0.625,
/// where 1 - 2 / (e^2|x| + 1) would cancel, that form above it.
#[inline(always)]
pub fn tanh_f32(x: f32) -> f32 {
    let ax = x.abs();
    let big = 1.0 - 2.0 / (exp_f32(ax + ax) + 1.0);
    let big = if x < 0.0 { -big } else { big };
    let s = x * x;
    let small =
        ((((-5.704_988_7e-3 * s + 2.063_908_9e-2) * s - 5.373_971_6e-2) * s + 1.333_144_2e-1) * s
            - 3.333_328_2e-1)
            * s
            * x
            + x;
    if ax >= 0.625 {
        big
    } else {
        small
    }
}

/// tanh(x) in f64 (Cephes `tanh`): a rational form below |x| = 0.625,
/// 1 - 2 / (e^2|x| + 1) above it.
#[inline(always)]
pub fn tanh_f64(x: f64) -> f64 {
    let ax = x.abs();
    let big = 1.0 - 2.0 / (exp_f64(ax + ax) + 1.0);
    let big = if x < 0.0 { -big } else { big };
    let s = x * x;
    let p = (-9.643_991_794_250_522_386_28e-1 * s - 9.928_772_310_019_185_865_64e1) * s
        - 1.614_687_684_417_084_479_52e3;
    let q = ((s + 1.128_116_784_916_329_314_02e2) * s + 2.235_488_390_601_004_485_83e3) * s
        + 4.844_063_053_251_254_860_48e3;
    let small = x + x * s * (p / q);
    if ax >= 0.625 {
        big
    } else {
        small
    }
}

/// Element-wise kernels of one precision, each built portable and AVX2.
pub trait VecMath: Sized + Copy {
    /// a = 1 / (1 + e^-z), from e^-|z| so it never overflows.
    fn sigmoid_slice(z: &[Self], a: &mut [Self]);
    /// a = tanh(z).
    fn tanh_slice(z: &[Self], a: &mut [Self]);
}

macro_rules! kernels {
    ($f:ty, $exp:ident, $tanh:ident, $sig_body:ident, $sig:ident, $tanh_body:ident, $tanh_multi:ident) => {
        #[inline(always)]
        fn $sig_body(z: &[$f], a: &mut [$f]) {
            for (a, &z) in a.iter_mut().zip(z) {
                let e = $exp(-z.abs());
                let num = if z >= 0.0 { 1.0 } else { e };
                *a = num / (1.0 + e);
            }
        }
        #[inline(always)]
        fn $tanh_body(z: &[$f], a: &mut [$f]) {
            for (a, &z) in a.iter_mut().zip(z) {
                *a = $tanh(z);
            }
        }
        multiversion!(fn $sig(z: &[$f], a: &mut [$f]) => $sig_body);
        multiversion!(fn $tanh_multi(z: &[$f], a: &mut [$f]) => $tanh_body);
        impl VecMath for $f {
            fn sigmoid_slice(z: &[$f], a: &mut [$f]) {
                $sig(z, a)
            }
            fn tanh_slice(z: &[$f], a: &mut [$f]) {
                $tanh_multi(z, a)
            }
        }
    };
}

kernels!(
    f32,
    exp_f32,
    tanh_f32,
    sigmoid_f32_body,
    sigmoid_f32,
    tanh_f32_body,
    tanh_f32_slice
);
kernels!(
    f64,
    exp_f64,
    tanh_f64,
    sigmoid_f64_body,
    sigmoid_f64,
    tanh_f64_body,
    tanh_f64_slice
);

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

    /// Source of truth: std's f64 `tanh` (the platform libm), rounded to
    /// f32 for the f32 version, over [-12, 12] in steps of about 1/4096,
    /// which crosses the switch at 0.625 and reaches +-1.
    #[test]
    fn tanh_is_within_its_ulp_bound() {
        let (mut w32, mut w64) = ((0, 0.0), (0, 0.0));
        for i in -50_000..50_000 {
            let x = f64::from(i) * 2.4e-4 + 1e-7;
            let e32 = ulps32(tanh_f32(x as f32), f64::from(x as f32).tanh() as f32);
            if e32 > w32.0 {
                w32 = (e32, x);
            }
            let e64 = ulps64(tanh_f64(x), x.tanh());
            if e64 > w64.0 {
                w64 = (e64, x);
            }
        }
        assert!(w32.0 <= MAX_ULP_TANH_F32, "f32: {} ulp at {}", w32.0, w32.1);
        assert!(w64.0 <= MAX_ULP_TANH_F64, "f64: {} ulp at {}", w64.0, w64.1);
        assert_eq!(tanh_f32(30.0), 1.0);
        assert_eq!(tanh_f64(-400.0), -1.0);
        assert!(tanh_f32(f32::NAN).is_nan() && tanh_f64(f64::NAN).is_nan());
        assert_eq!(tanh_f64(f64::INFINITY), 1.0);
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

    type Kernel<F> = fn(&[F], &mut [F]);

    /// The AVX2 and portable builds must give the same bits (the
    /// determinism guarantee across machines); skipped where the CPU has no
    /// AVX2, which the message says.
    #[test]
    fn avx2_and_portable_builds_agree_bit_for_bit() {
        let z32 = random_inputs(10_007, |v| v as f32);
        let z64 = random_inputs(10_007, |v| v);
        let (mut p32, mut w32) = (vec![0.0f32; z32.len()], vec![0.0f32; z32.len()]);
        let (mut p64, mut w64) = (vec![0.0f64; z64.len()], vec![0.0f64; z64.len()]);
        if !crate::engine::kernels::simd::avx2() {
            eprintln!("no AVX2 on this CPU: only the portable build was run");
            return;
        }
        let kernels32: [(Kernel<f32>, Kernel<f32>); 2] = [
            (sigmoid_f32_body, f32::sigmoid_slice),
            (tanh_f32_body, f32::tanh_slice),
        ];
        for (portable, dispatched) in kernels32 {
            portable(&z32, &mut p32);
            dispatched(&z32, &mut w32);
            for i in 0..z32.len() {
                assert_eq!(p32[i].to_bits(), w32[i].to_bits(), "f32 at {}", z32[i]);
            }
        }
        let kernels64: [(Kernel<f64>, Kernel<f64>); 2] = [
            (sigmoid_f64_body, f64::sigmoid_slice),
            (tanh_f64_body, f64::tanh_slice),
        ];
        for (portable, dispatched) in kernels64 {
            portable(&z64, &mut p64);
            dispatched(&z64, &mut w64);
            for i in 0..z64.len() {
                assert_eq!(p64[i].to_bits(), w64[i].to_bits(), "f64 at {}", z64[i]);
            }
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

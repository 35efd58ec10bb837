//! The products of a convolution, per sample and without packing.
//!
//! A convolution's GEMMs are long and thin: 8 or 16 output channels against
//! a column matrix of 25 or 200 rows and one column per output position.
//! matrixmultiply copies ("packs") both operands into its own layout on
//! every call, and for these shapes copying the long column matrix cost
//! more than the multiply (`perf` of the MNIST CNN: packing 18% of a step,
//! its kernel 13%). Here the small operand is read in place (one value
//! broadcast at a time) and the long one row by row, contiguously, one
//! sample at a time, so a sample's columns stay in L2 between the im2col
//! that writes them and the product that reads them.
//!
//! Exact arithmetic: every output is a sum over its terms in one fixed
//! order (a running sum from zero, or a fixed set of lanes summed by a
//! fixed tree), with separate multiplies and adds (no FMA), so the bits do
//! not depend on the tile sizes, the instruction set the runtime picks
//! (AVX-512, AVX2 or the baseline build, which the tests compare) or the
//! thread count (the callers split by samples, and sum the partial weight
//! gradients of fixed groups of samples in group order).

use crate::engine::float::Float;

/// Lanes of the dot-product accumulators in [`dots`] and [`lane_sum`]:
/// written out in the source, so the summation order is the same whatever
/// vector width the compiler maps them onto.
pub const LANES: usize = 16;

/// c = a · b for row-major a [m, r], b [r, n], c [m, n] (overwritten).
/// Each c[i][j] is Σ_k a[i][k] · b[k][j] summed from zero in k order.
/// Meant for a small a (weights) and a long b (columns): b's rows are read
/// contiguously, a's values broadcast.
pub fn product<F: Float>(a: &[F], b: &[F], c: &mut [F], (m, r, n): (usize, usize, usize)) {
    let (a, b, c) = (&a[..m * r], &b[..r * n], &mut c[..m * n]);
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU reported AVX-512F just above.
            return unsafe { product_avx512(a, b, c, (m, r, n)) };
        }
        if super::simd::avx2() {
            // SAFETY: the CPU reported AVX2 just above.
            return unsafe { product_avx2(a, b, c, (m, r, n)) };
        }
    }
    product_tiles::<F, 4, 8>(a, b, c, (m, r, n));
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn product_avx512<F: Float>(a: &[F], b: &[F], c: &mut [F], shape: (usize, usize, usize)) {
    product_tiles::<F, 4, 32>(a, b, c, shape);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn product_avx2<F: Float>(a: &[F], b: &[F], c: &mut [F], shape: (usize, usize, usize)) {
    product_tiles::<F, 4, 16>(a, b, c, shape);
}

/// [`product`] in tiles of MB rows x NB columns held in registers.
#[inline(always)]
fn product_tiles<F: Float, const MB: usize, const NB: usize>(
    a: &[F],
    b: &[F],
    c: &mut [F],
    (m, r, n): (usize, usize, usize),
) {
    let mut i = 0;
    while i + MB <= m {
        product_rows::<F, MB, NB>(a, b, c, i, (r, n));
        i += MB;
    }
    while i < m {
        product_rows::<F, 1, NB>(a, b, c, i, (r, n));
        i += 1;
    }
}

/// Rows i0..i0+MB of [`product`].
#[inline(always)]
fn product_rows<F: Float, const MB: usize, const NB: usize>(
    a: &[F],
    b: &[F],
    c: &mut [F],
    i0: usize,
    (r, n): (usize, usize),
) {
    let a = &a[i0 * r..(i0 + MB) * r];
    let c = &mut c[i0 * n..(i0 + MB) * n];
    let mut j = 0;
    while j + NB <= n {
        let mut acc = [[F::zero(); NB]; MB];
        for (k, brow) in b.chunks_exact(n).enumerate() {
            let bk = &brow[j..j + NB];
            for (ii, row) in acc.iter_mut().enumerate() {
                let aik = a[ii * r + k];
                for (s, &v) in row.iter_mut().zip(bk) {
                    *s += aik * v;
                }
            }
        }
        for (ii, row) in acc.iter().enumerate() {
            c[ii * n + j..ii * n + j + NB].copy_from_slice(row);
        }
        j += NB;
    }
    for jj in j..n {
        for ii in 0..MB {
            let mut s = F::zero();
            for k in 0..r {
                s += a[ii * r + k] * b[k * n + jj];
            }
            c[ii * n + jj] = s;
        }
    }
}

/// out[i·n + j] = Σ over the pairs (a, b) and t < q of a[i·q + t] ·
/// b[j·q + t]: a sum of products of rows, a as [m, q] and b as [n, q]
/// (row-major), over several pairs (the samples of a group). The weight
/// gradient of a convolution: a = a sample's delta [out, positions], b its
/// columns [in·kh·kw, positions]. Term t of every pair goes to lane t mod
/// LANES (pairs in order), and the lanes are added by a fixed tree.
pub fn dots<F: Float>(pairs: &[(&[F], &[F])], (m, n, q): (usize, usize, usize), out: &mut [F]) {
    let out = &mut out[..m * n];
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU reported AVX-512F just above.
            return unsafe { dots_avx512(pairs, (m, n, q), out) };
        }
        if super::simd::avx2() {
            // SAFETY: the CPU reported AVX2 just above.
            return unsafe { dots_avx2(pairs, (m, n, q), out) };
        }
    }
    dots_tiles::<F, 2, 2>(pairs, (m, n, q), out);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn dots_avx512<F: Float>(
    pairs: &[(&[F], &[F])],
    shape: (usize, usize, usize),
    out: &mut [F],
) {
    dots_tiles::<F, 4, 2>(pairs, shape, out);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn dots_avx2<F: Float>(pairs: &[(&[F], &[F])], shape: (usize, usize, usize), out: &mut [F]) {
    dots_tiles::<F, 2, 2>(pairs, shape, out);
}

/// [`dots`] in tiles of MB x NB outputs, each with its LANES accumulators.
#[inline(always)]
fn dots_tiles<F: Float, const MB: usize, const NB: usize>(
    pairs: &[(&[F], &[F])],
    (m, n, q): (usize, usize, usize),
    out: &mut [F],
) {
    let mut i = 0;
    while i < m {
        let rows = if i + MB <= m { MB } else { 1 };
        let mut j = 0;
        while j < n {
            let cols = if j + NB <= n { NB } else { 1 };
            match (rows == MB, cols == NB) {
                (true, true) => dots_tile::<F, MB, NB>(pairs, (i, j), (m, n, q), out),
                (true, false) => dots_tile::<F, MB, 1>(pairs, (i, j), (m, n, q), out),
                (false, true) => dots_tile::<F, 1, NB>(pairs, (i, j), (m, n, q), out),
                (false, false) => dots_tile::<F, 1, 1>(pairs, (i, j), (m, n, q), out),
            }
            j += cols;
        }
        i += rows;
    }
}

/// Outputs (i0.., j0..) of [`dots`], MB x NB of them.
#[inline(always)]
fn dots_tile<F: Float, const MB: usize, const NB: usize>(
    pairs: &[(&[F], &[F])],
    (i0, j0): (usize, usize),
    (m, n, q): (usize, usize, usize),
    out: &mut [F],
) {
    let mut acc = [[[F::zero(); LANES]; NB]; MB];
    let whole = q - q % LANES;
    for &(a, b) in pairs {
        let (a, b) = (&a[..m * q], &b[..n * q]);
        let mut t = 0;
        while t < whole {
            let mut xs = [[F::zero(); LANES]; MB];
            let mut ys = [[F::zero(); LANES]; NB];
            for (ii, x) in xs.iter_mut().enumerate() {
                x.copy_from_slice(&a[(i0 + ii) * q + t..(i0 + ii) * q + t + LANES]);
            }
            for (jj, y) in ys.iter_mut().enumerate() {
                y.copy_from_slice(&b[(j0 + jj) * q + t..(j0 + jj) * q + t + LANES]);
            }
            mul_add_tile(&mut acc, &xs, &ys);
            t += LANES;
        }
        if whole < q {
            // The tail, zero-padded to a full set of lanes: a padded lane
            // adds 0 (exactly: it can only turn a -0 sum into +0).
            let mut ap = [[F::zero(); LANES]; MB];
            let mut bp = [[F::zero(); LANES]; NB];
            for (ii, pad) in ap.iter_mut().enumerate() {
                pad[..q - whole].copy_from_slice(&a[(i0 + ii) * q + whole..(i0 + ii + 1) * q]);
            }
            for (jj, pad) in bp.iter_mut().enumerate() {
                pad[..q - whole].copy_from_slice(&b[(j0 + jj) * q + whole..(j0 + jj + 1) * q]);
            }
            mul_add_tile(&mut acc, &ap, &bp);
        }
    }
    for (ii, row) in acc.iter_mut().enumerate() {
        for (jj, lanes) in row.iter_mut().enumerate() {
            out[(i0 + ii) * n + j0 + jj] = fold(lanes);
        }
    }
}

/// acc[i][j][l] += x[i][l] · y[j][l], every bound a constant so the
/// compiler unrolls it into vector operations on registers.
#[inline(always)]
fn mul_add_tile<F: Float, const MB: usize, const NB: usize>(
    acc: &mut [[[F; LANES]; NB]; MB],
    xs: &[[F; LANES]; MB],
    ys: &[[F; LANES]; NB],
) {
    for i in 0..MB {
        for j in 0..NB {
            for l in 0..LANES {
                acc[i][j][l] += xs[i][l] * ys[j][l];
            }
        }
    }
}

/// The sum of LANES lanes by a fixed tree (halves added pairwise).
#[inline(always)]
fn fold<F: Float>(lanes: &mut [F; LANES]) -> F {
    let mut width = LANES / 2;
    while width > 0 {
        for l in 0..width {
            lanes[l] += lanes[l + width];
        }
        width /= 2;
    }
    lanes[0]
}

/// The sum of every value of `rows`: value t of each row goes to lane t mod
/// LANES (rows in order), the lanes added as in [`dots`]. A convolution's
/// bias gradient (one channel's deltas over a group of samples).
pub fn lane_sum<'a, F: Float>(rows: impl Iterator<Item = &'a [F]>) -> F {
    let mut lanes = [F::zero(); LANES];
    for row in rows {
        let mut chunks = row.chunks_exact(LANES);
        for chunk in &mut chunks {
            for (s, &v) in lanes.iter_mut().zip(chunk) {
                *s += v;
            }
        }
        for (s, &v) in lanes.iter_mut().zip(chunks.remainder()) {
            *s += v;
        }
    }
    fold(&mut lanes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn random(len: usize, seed: u64) -> Vec<f32> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (0..len).map(|_| rng.random_range(-1.0f32..1.0)).collect()
    }

    /// Source of truth: the textbook triple loop, summing each output from
    /// zero in k order as the kernel promises, so the bits must agree
    /// exactly; and the baseline build (no AVX) against the runtime's pick.
    /// Shapes with row and column tails, and the MNIST CNN's.
    #[test]
    fn product_matches_the_triple_loop_bit_for_bit() {
        for (m, r, n) in [
            (16, 200, 64),
            (8, 25, 576),
            (200, 16, 64),
            (5, 7, 37),
            (1, 3, 5),
        ] {
            let a = random(m * r, 1);
            let b = random(r * n, 2);
            let mut want = vec![0.0f32; m * n];
            for i in 0..m {
                for j in 0..n {
                    let mut s = 0.0f32;
                    for k in 0..r {
                        s += a[i * r + k] * b[k * n + j];
                    }
                    want[i * n + j] = s;
                }
            }
            let mut got = vec![f32::NAN; m * n];
            product(&a, &b, &mut got, (m, r, n));
            assert_eq!(got, want, "{m}x{r}x{n}");
            let mut base = vec![f32::NAN; m * n];
            product_tiles::<f32, 4, 8>(&a, &b, &mut base, (m, r, n));
            assert_eq!(base, want, "{m}x{r}x{n} baseline build");
        }
    }

    /// Source of truth: the lane rule written out plainly (term t of each
    /// pair into lane t mod LANES, pairs in order, then the halving tree),
    /// bit for bit; and close to the f64 sum, so the rule sums the right
    /// terms.
    #[test]
    fn dots_follow_the_lane_rule() {
        for (m, n, q, count) in [
            (16, 200, 64, 3),
            (8, 25, 576, 2),
            (3, 5, 21, 2),
            (1, 1, 7, 1),
        ] {
            let a: Vec<Vec<f32>> = (0..count).map(|s| random(m * q, 10 + s)).collect();
            let b: Vec<Vec<f32>> = (0..count).map(|s| random(n * q, 20 + s)).collect();
            let pairs: Vec<(&[f32], &[f32])> = a
                .iter()
                .zip(&b)
                .map(|(a, b)| (a.as_slice(), b.as_slice()))
                .collect();
            let mut got = vec![f32::NAN; m * n];
            dots(&pairs, (m, n, q), &mut got);
            let mut base = vec![f32::NAN; m * n];
            dots_tiles::<f32, 2, 2>(&pairs, (m, n, q), &mut base);
            assert_eq!(base, got, "{m}x{n}x{q} baseline build");
            for i in 0..m {
                for j in 0..n {
                    let mut lanes = [0.0f32; LANES];
                    let mut exact = 0.0f64;
                    for (a, b) in &pairs {
                        for t in 0..q {
                            let v = a[i * q + t] * b[j * q + t];
                            lanes[t % LANES] += v;
                            exact += a[i * q + t] as f64 * b[j * q + t] as f64;
                        }
                    }
                    let want = fold(&mut lanes);
                    assert_eq!(got[i * n + j].to_bits(), want.to_bits(), "{i},{j}");
                    assert!((want as f64 - exact).abs() < 1e-4 * (q * count as usize) as f64);
                }
            }
        }
    }

    /// Source of truth: the same lane rule; 1..=16+5 values per row.
    #[test]
    fn lane_sum_follows_the_lane_rule() {
        let v = random(3 * 21, 5);
        let rows: Vec<&[f32]> = v.chunks(21).collect();
        let mut lanes = [0.0f32; LANES];
        for row in &rows {
            for (t, &x) in row.iter().enumerate() {
                lanes[t % LANES] += x;
            }
        }
        assert_eq!(lane_sum(rows.iter().copied()), fold(&mut lanes));
    }
}

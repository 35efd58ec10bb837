//! im2col and col2im: a convolution as one GEMM. Each output position's
//! receptive field (in·kh·kw values, zero where it hangs over the padding)
//! becomes a column, so the convolution is weight[out, in·kh·kw] times the
//! column matrix; col2im adds such columns back onto the input positions
//! they came from (the input gradient, where windows overlap).

use crate::engine::float::Float;
use ndarray::{ArrayView2, ArrayViewMut2};

/// The geometry of one convolution or pooling window sweep over an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub kh: usize,
    pub kw: usize,
    pub stride: usize,
    pub pad_top: usize,
    pub pad_left: usize,
    pub out_h: usize,
    pub out_w: usize,
}

impl Geometry {
    /// Output positions per channel.
    pub fn positions(&self) -> usize {
        self.out_h * self.out_w
    }

    /// Rows of the column matrix: in·kh·kw.
    pub fn patch(&self) -> usize {
        self.c * self.kh * self.kw
    }

    /// The input index (within a sample) that row `r`, output position
    /// (oy, ox) reads, or None in the padding.
    #[inline]
    fn source(&self, ci: usize, ki: usize, kj: usize, oy: usize, ox: usize) -> Option<usize> {
        let iy = (oy * self.stride + ki).checked_sub(self.pad_top)?;
        let ix = (ox * self.stride + kj).checked_sub(self.pad_left)?;
        (iy < self.h && ix < self.w).then(|| (ci * self.h + iy) * self.w + ix)
    }
}

/// The output columns `lo..hi` of one output row whose window column `kj`
/// lands inside the image (the rest read the left/right padding).
#[inline]
fn inside(g: &Geometry, kj: usize) -> (usize, usize) {
    let st = g.stride.max(1);
    let lo = g.pad_left.saturating_sub(kj).div_ceil(st).min(g.out_w);
    let hi = (g.w + g.pad_left)
        .saturating_sub(kj)
        .div_ceil(st)
        .clamp(lo, g.out_w);
    (lo, hi)
}

/// Writes the columns of one sample `x` (c·h·w values) into `cols`
/// ([in·kh·kw, out_h·out_w], any strides). Rows laid out contiguously (the
/// usual case) are filled by ranges — whole-row copies at stride 1, the
/// padding zeroed by range — rather than element by element.
pub fn im2col<F: Float>(g: &Geometry, x: &[F], cols: &mut ArrayViewMut2<'_, F>) {
    let area = g.h * g.w;
    let whole = x.len() >= g.c * area && g.out_w > 0;
    for ci in 0..g.c {
        for ki in 0..g.kh {
            for kj in 0..g.kw {
                let r = (ci * g.kh + ki) * g.kw + kj;
                let mut row = cols.row_mut(r);
                match (whole, row.as_slice_mut()) {
                    (true, Some(dst)) => {
                        fill_row(g, &x[ci * area..(ci + 1) * area], ki, kj, dst);
                    }
                    _ => {
                        for oy in 0..g.out_h {
                            for ox in 0..g.out_w {
                                row[oy * g.out_w + ox] = g
                                    .source(ci, ki, kj, oy, ox)
                                    .and_then(|i| x.get(i).copied())
                                    .unwrap_or_else(F::zero);
                            }
                        }
                    }
                }
            }
        }
    }
}

/// One row of the column matrix: kernel element (ki, kj) of channel plane
/// `plane` (h·w values) over every output position, into `dst`
/// (out_h·out_w values).
fn fill_row<F: Float>(g: &Geometry, plane: &[F], ki: usize, kj: usize, dst: &mut [F]) {
    let (lo, hi) = inside(g, kj);
    let st = g.stride.max(1);
    for (oy, out) in dst.chunks_exact_mut(g.out_w).enumerate() {
        let iy = (oy * st + ki).checked_sub(g.pad_top).filter(|&iy| iy < g.h);
        let Some(iy) = iy else {
            out.fill(F::zero());
            continue;
        };
        out[..lo].fill(F::zero());
        out[hi..].fill(F::zero());
        if hi > lo {
            let first = iy * g.w + lo * st + kj - g.pad_left;
            if st == 1 {
                copy_short(&mut out[lo..hi], &plane[first..first + (hi - lo)]);
            } else {
                for (o, &v) in out[lo..hi]
                    .iter_mut()
                    .zip(plane[first..].iter().step_by(st))
                {
                    *o = v;
                }
            }
        }
    }
}

/// `dst` = `src` (equal lengths) for the short runs of an image row
/// (8 to 28 values for MNIST): blocks of 8 become a few vector moves,
/// where `copy_from_slice` called `memmove` for every run (`perf`: 7% of a
/// CNN step in the call alone).
#[inline(always)]
fn copy_short<F: Float>(dst: &mut [F], src: &[F]) {
    let mut d = dst.chunks_exact_mut(8);
    let mut s = src.chunks_exact(8);
    for (d, s) in (&mut d).zip(&mut s) {
        d.copy_from_slice(s);
    }
    for (d, s) in d.into_remainder().iter_mut().zip(s.remainder()) {
        *d = *s;
    }
}

/// Adds the columns `cols` ([in·kh·kw, out_h·out_w]) of one sample back
/// onto its input positions in `x` (c·h·w values; not cleared here).
/// Every input position receives its terms in the same order as the plain
/// element-by-element loop (channel, kernel row, kernel column, output
/// position), so the sums are bit-identical to it.
pub fn col2im<F: Float>(g: &Geometry, cols: &ArrayView2<'_, F>, x: &mut [F]) {
    let area = g.h * g.w;
    let whole = x.len() >= g.c * area && g.out_w > 0;
    let st = g.stride.max(1);
    for ci in 0..g.c {
        for ki in 0..g.kh {
            for kj in 0..g.kw {
                let r = (ci * g.kh + ki) * g.kw + kj;
                let row = cols.row(r);
                match (whole, row.as_slice()) {
                    (true, Some(src)) => {
                        let plane = &mut x[ci * area..(ci + 1) * area];
                        let (lo, hi) = inside(g, kj);
                        if hi <= lo {
                            continue;
                        }
                        for (oy, from) in src.chunks_exact(g.out_w).enumerate() {
                            let Some(iy) =
                                (oy * st + ki).checked_sub(g.pad_top).filter(|&iy| iy < g.h)
                            else {
                                continue;
                            };
                            let first = iy * g.w + lo * st + kj - g.pad_left;
                            if st == 1 {
                                for (d, &v) in plane[first..first + (hi - lo)]
                                    .iter_mut()
                                    .zip(&from[lo..hi])
                                {
                                    *d += v;
                                }
                            } else {
                                for (d, &v) in
                                    plane[first..].iter_mut().step_by(st).zip(&from[lo..hi])
                                {
                                    *d += v;
                                }
                            }
                        }
                    }
                    _ => {
                        for oy in 0..g.out_h {
                            for ox in 0..g.out_w {
                                if let Some(v) =
                                    g.source(ci, ki, kj, oy, ox).and_then(|i| x.get_mut(i))
                                {
                                    *v += row[oy * g.out_w + ox];
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{array, Array2, ShapeBuilder};

    fn geometry(pad: usize, stride: usize) -> Geometry {
        let (h, w, k) = (3, 3, 2);
        let out = (h + 2 * pad - k) / stride + 1;
        Geometry {
            c: 1,
            h,
            w,
            kh: k,
            kw: k,
            stride,
            pad_top: pad,
            pad_left: pad,
            out_h: out,
            out_w: out,
        }
    }

    /// Truth: the 2x2 windows of [[1 2 3] [4 5 6] [7 8 9]] written out by
    /// hand, one column per window in row-major window order.
    #[test]
    fn columns_are_the_windows() {
        let g = geometry(0, 1);
        let x = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0];
        let mut cols = Array2::zeros((4, 4));
        im2col(&g, &x, &mut cols.view_mut());
        assert_eq!(
            cols,
            array![
                [1.0, 2.0, 4.0, 5.0],
                [2.0, 3.0, 5.0, 6.0],
                [4.0, 5.0, 7.0, 8.0],
                [5.0, 6.0, 8.0, 9.0]
            ]
        );
        // col2im of all ones counts how many windows cover each pixel.
        let mut back = [0.0; 9];
        col2im(&g, &Array2::ones((4, 4)).view(), &mut back);
        assert_eq!(back, [1.0, 2.0, 1.0, 2.0, 4.0, 2.0, 1.0, 2.0, 1.0]);
    }

    #[test]
    fn padding_reads_zeros_and_stride_skips() {
        let g = geometry(1, 2);
        assert_eq!((g.out_h, g.out_w), (2, 2));
        let x = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0];
        let mut cols = Array2::zeros((4, 4));
        im2col(&g, &x, &mut cols.view_mut());
        // Top-left window sits over the padding except its last element.
        assert_eq!(cols.column(0).to_vec(), vec![0.0, 0.0, 0.0, 1.0]);
        assert_eq!(cols.column(3).to_vec(), vec![5.0, 6.0, 8.0, 9.0]);
    }

    /// Truth: the element-by-element loop, which a column matrix in
    /// column-major layout (rows not contiguous) still takes. The range
    /// paths must give the same columns, and col2im the same sums bit for
    /// bit, for every stride, padding and kernel shape tried.
    #[test]
    fn range_paths_match_the_element_loop() {
        for (c, h, w, kh, kw, stride, pt, pl) in [
            (2, 5, 7, 3, 2, 1, 0, 0),
            (1, 6, 5, 3, 3, 2, 1, 1),
            (3, 4, 4, 2, 3, 3, 1, 2),
            (2, 5, 5, 5, 5, 1, 2, 2),
            (1, 3, 8, 1, 4, 2, 0, 3),
        ] {
            let out = |n: usize, k: usize, p: usize| (n + 2 * p - k) / stride + 1;
            let g = Geometry {
                c,
                h,
                w,
                kh,
                kw,
                stride,
                pad_top: pt,
                pad_left: pl,
                out_h: out(h, kh, pt),
                out_w: out(w, kw, pl),
            };
            let x: Vec<f64> = (0..c * h * w).map(|i| (i as f64 * 0.37).sin()).collect();
            let shape = (g.patch(), g.positions());
            let mut fast = Array2::zeros(shape);
            im2col(&g, &x, &mut fast.view_mut());
            let mut slow = Array2::zeros(shape.f());
            im2col(&g, &x, &mut slow.view_mut());
            assert_eq!(fast, slow);
            let d = fast.mapv(|v| v * 1.3 + 0.1);
            let mut back_fast = vec![0.0; x.len()];
            col2im(&g, &d.view(), &mut back_fast);
            let mut df = Array2::zeros(shape.f());
            df.assign(&d);
            let mut back_slow = vec![0.0; x.len()];
            col2im(&g, &df.view(), &mut back_slow);
            assert_eq!(back_fast, back_slow);
        }
    }
}

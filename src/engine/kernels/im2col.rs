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

/// Writes the columns of one sample `x` (c·h·w values) into `cols`
/// ([in·kh·kw, out_h·out_w], any strides).
pub fn im2col<F: Float>(g: &Geometry, x: &[F], cols: &mut ArrayViewMut2<'_, F>) {
    for ci in 0..g.c {
        for ki in 0..g.kh {
            for kj in 0..g.kw {
                let r = (ci * g.kh + ki) * g.kw + kj;
                let mut row = cols.row_mut(r);
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

/// Adds the columns `cols` ([in·kh·kw, out_h·out_w]) of one sample back
/// onto its input positions in `x` (c·h·w values; not cleared here).
pub fn col2im<F: Float>(g: &Geometry, cols: &ArrayView2<'_, F>, x: &mut [F]) {
    for ci in 0..g.c {
        for ki in 0..g.kh {
            for kj in 0..g.kw {
                let r = (ci * g.kh + ki) * g.kw + kj;
                let row = cols.row(r);
                for oy in 0..g.out_h {
                    for ox in 0..g.out_w {
                        if let Some(v) = g.source(ci, ki, kj, oy, ox).and_then(|i| x.get_mut(i)) {
                            *v += row[oy * g.out_w + ox];
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
    use ndarray::{array, Array2};

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
}

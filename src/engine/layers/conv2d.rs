//! The 2-D convolution layer (PyTorch's `Conv2d`, NCHW): weight [out, in,
//! kh, kw], bias [out], stride, zero padding. The whole batch is one GEMM:
//! im2col lays every receptive field of every sample side by side as the
//! columns of [in·kh·kw, batch·positions], and weight viewed as [out,
//! in·kh·kw] multiplies it. Backward: dW = delta · colsᵀ, db = sums of
//! delta, and the input gradient is col2im(Wᵀ · delta) — the transposed
//! convolution, which is the convolution with the kernel rotated 180° with
//! padding and stride undone. Parameters "weight" and "bias".

use super::{
    weight_and_bias, weight_and_bias_mut, Cache, Layer, Mode, NamedParam, NamedParamMut, Shape,
};
use crate::config::LayerConfig;
use crate::engine::activation::Activation;
use crate::engine::float::Float;
use crate::engine::init::draw_values;
use crate::engine::kernels::gemm::gemm;
use crate::engine::kernels::im2col::{col2im, im2col, Geometry};
use crate::engine::kernels::pool::{for_each_part, samples_per_part};
use crate::engine::kernels::threads::threads;
use crate::kinds::Padding;
use ndarray::{s, Array1, Array2, Array4, ArrayView2, ArrayViewMutD, Axis, Ix1, Ix4};
use rand_chacha::ChaCha8Rng;

/// One convolution layer.
#[derive(Debug, Clone, PartialEq)]
pub struct Conv2d<F> {
    /// [out, in, kh, kw].
    pub weight: Array4<F>,
    pub bias: Array1<F>,
    pub activation: Activation,
    pub geometry: Geometry,
}

/// The window sweep of a kernel over an image: output size from input,
/// kernel, stride and padding (PyTorch's floor((h + pads - k) / s) + 1).
/// "same" pads k - 1 in total, the odd one right/bottom. A kernel larger
/// than the padded input gives 0 outputs (the config refuses that before).
pub fn sweep(
    (c, h, w): (usize, usize, usize),
    (kh, kw): (usize, usize),
    stride: usize,
    padding: Padding,
) -> Geometry {
    let stride = stride.max(1);
    let (pt, pb, pl, pr) = match padding {
        Padding::Valid => (0, 0, 0, 0),
        Padding::Zeros(p) => (p, p, p, p),
        Padding::Same => {
            let (th, tw) = (kh.saturating_sub(1), kw.saturating_sub(1));
            (th / 2, th - th / 2, tw / 2, tw - tw / 2)
        }
    };
    let out = |n: usize, a: usize, b: usize, k: usize| {
        (n + a + b)
            .checked_sub(k)
            .map_or(0, |span| span / stride + 1)
    };
    Geometry {
        c,
        h,
        w,
        kh,
        kw,
        stride,
        pad_top: pt,
        pad_left: pl,
        out_h: out(h, pt, pb, kh),
        out_w: out(w, pl, pr, kw),
    }
}

impl<F: Float> Conv2d<F> {
    /// A layer of `filters` kernels over `geometry`'s input; weights drawn
    /// from `rng` as `config.init` says with fan_in = in·kh·kw and fan_out =
    /// out·kh·kw (PyTorch's fans), biases all `config.bias_init`.
    pub fn init(
        geometry: Geometry,
        filters: usize,
        config: &LayerConfig,
        rng: &mut ChaCha8Rng,
    ) -> Self {
        let g = geometry;
        let area = g.kh * g.kw;
        let count = filters * g.c * area;
        let values = draw_values(config.init, g.c * area, filters * area, count, rng);
        let weight = Array4::from_shape_vec((filters, g.c, g.kh, g.kw), values)
            .unwrap_or_else(|_| Array4::zeros((filters, g.c, g.kh, g.kw)));
        Conv2d {
            weight: weight.mapv(F::of),
            bias: Array1::from_elem(filters, F::of(config.bias_init)),
            activation: config.activation,
            geometry,
        }
    }

    /// The same layer in another precision (through f64).
    pub fn cast<G: Float>(&self) -> Conv2d<G> {
        Conv2d {
            weight: self.weight.mapv(|v| G::of(v.f64())),
            bias: self.bias.mapv(|v| G::of(v.f64())),
            activation: self.activation,
            geometry: self.geometry,
        }
    }

    fn filters(&self) -> usize {
        self.weight.dim().0
    }

    /// The weight as the GEMM's [out, in·kh·kw] matrix.
    /// (None only if the tensor lost its standard layout, which nothing
    /// here does; callers then write NaN so the fault shows.)
    fn weight_matrix(&self) -> Option<ArrayView2<'_, F>> {
        let (o, c, kh, kw) = self.weight.dim();
        self.weight
            .view()
            .into_shape_with_order((o, c * kh * kw))
            .ok()
    }

    /// The columns of a batch: [in·kh·kw, batch·positions], groups of
    /// samples filled in parallel (each sample's columns are a copy, so
    /// the split changes nothing).
    fn columns(&self, input: ArrayView2<'_, F>) -> Array2<F> {
        let g = &self.geometry;
        let p = g.positions();
        let n = input.nrows();
        let mut cols = Array2::zeros((g.patch(), n * p));
        if n == 0 || p == 0 {
            return cols;
        }
        let per = samples_per_part(n, threads(), 4);
        let parts: Vec<_> = input
            .axis_chunks_iter(Axis(0), per)
            .zip(cols.axis_chunks_iter_mut(Axis(1), per * p))
            .collect();
        for_each_part(threads(), parts, &|(rows, mut block)| {
            for (s, row) in rows.rows().into_iter().enumerate() {
                let mut view = block.slice_mut(s![.., s * p..(s + 1) * p]);
                match row.as_slice() {
                    Some(x) => im2col(g, x, &mut view),
                    None => im2col(g, &row.to_vec(), &mut view),
                }
            }
        });
        cols
    }

    /// delta [batch, out·positions] as [out, batch·positions] (the layout
    /// of the GEMM's output).
    fn delta_matrix(&self, delta: &Array2<F>) -> Array2<F> {
        let p = self.geometry.positions();
        let o = self.filters();
        let n = delta.nrows();
        let mut d = Array2::zeros((o, n * p));
        for (s, row) in delta.rows().into_iter().enumerate() {
            for oc in 0..o {
                d.slice_mut(s![oc, s * p..(s + 1) * p])
                    .assign(&row.slice(s![oc * p..(oc + 1) * p]));
            }
        }
        d
    }
}

impl<F: Float> Layer<F> for Conv2d<F> {
    fn kind(&self) -> &'static str {
        "conv2d"
    }

    fn input_shape(&self) -> Shape {
        let g = &self.geometry;
        Shape::Image {
            c: g.c,
            h: g.h,
            w: g.w,
        }
    }

    fn output_shape(&self) -> Shape {
        Shape::Image {
            c: self.filters(),
            h: self.geometry.out_h,
            w: self.geometry.out_w,
        }
    }

    fn activation(&self) -> Activation {
        self.activation
    }

    /// forward.conv: out = W · im2col(x) + b, one GEMM for the batch,
    /// scattered back to one NCHW row per sample.
    fn forward_pre(
        &self,
        input: ArrayView2<'_, F>,
        mode: Mode,
        cache: &mut Cache<F>,
        pre: &mut Array2<F>,
    ) {
        cache.train = mode == Mode::Train;
        let p = self.geometry.positions();
        let o = self.filters();
        let Some(w) = self.weight_matrix() else {
            pre.fill(F::of(f64::NAN));
            return;
        };
        let cols = self.columns(input);
        let mut out = Array2::zeros((o, input.nrows() * p));
        gemm(
            F::one(),
            &w,
            &cols.view(),
            F::zero(),
            &mut out.view_mut(),
            threads(),
        );
        for (s, mut row) in pre.rows_mut().into_iter().enumerate() {
            for oc in 0..o {
                let b = self.bias[oc];
                row.slice_mut(s![oc * p..(oc + 1) * p])
                    .zip_mut_with(&out.slice(s![oc, s * p..(s + 1) * p]), |d, &v| *d = v + b);
            }
        }
    }

    /// dL/dx = col2im(Wᵀ · delta): every output position sends its delta
    /// back through the kernel to the inputs its window read.
    fn backward_input(
        &self,
        _input: ArrayView2<'_, F>,
        delta: &Array2<F>,
        _cache: &Cache<F>,
        grad_in: &mut Array2<F>,
    ) {
        let g = &self.geometry;
        let p = g.positions();
        let Some(w) = self.weight_matrix() else {
            grad_in.fill(F::of(f64::NAN));
            return;
        };
        let d = self.delta_matrix(delta);
        let mut dcols = Array2::zeros((g.patch(), delta.nrows() * p));
        gemm(
            F::one(),
            &w.t(),
            &d.view(),
            F::zero(),
            &mut dcols.view_mut(),
            threads(),
        );
        grad_in.fill(F::zero());
        let n = grad_in.nrows();
        if n == 0 || p == 0 {
            return;
        }
        let per = samples_per_part(n, threads(), 4);
        let parts: Vec<_> = grad_in
            .axis_chunks_iter_mut(Axis(0), per)
            .zip(dcols.axis_chunks_iter(Axis(1), per * p))
            .collect();
        for_each_part(threads(), parts, &|(mut rows, block)| {
            for (s, mut row) in rows.rows_mut().into_iter().enumerate() {
                if let Some(x) = row.as_slice_mut() {
                    col2im(g, &block.slice(s![.., s * p..(s + 1) * p]), x);
                }
            }
        });
    }

    /// dW = delta · colsᵀ (as [out, in·kh·kw]), db = sum of delta over
    /// samples and positions. A buffer of the wrong shape turns NaN.
    fn backward_params(
        &self,
        input: ArrayView2<'_, F>,
        delta: &Array2<F>,
        _cache: &Cache<F>,
        grads: &mut [ArrayViewMutD<'_, F>],
    ) {
        if let [gw, gb, ..] = grads {
            let d = self.delta_matrix(delta);
            match gw.view_mut().into_dimensionality::<Ix4>() {
                Ok(gw4) if gw4.dim() == self.weight.dim() => {
                    let (o, c, kh, kw) = self.weight.dim();
                    let cols = self.columns(input);
                    match gw4.into_shape_with_order((o, c * kh * kw)) {
                        Ok(mut gw2) => gemm(
                            F::one(),
                            &d.view(),
                            &cols.t(),
                            F::zero(),
                            &mut gw2,
                            threads(),
                        ),
                        Err(_) => gw.fill(F::of(f64::NAN)),
                    }
                }
                _ => gw.fill(F::of(f64::NAN)),
            }
            match gb.view_mut().into_dimensionality::<Ix1>() {
                Ok(mut gb) if gb.len() == self.bias.len() => gb.assign(&d.sum_axis(Axis(1))),
                _ => gb.fill(F::of(f64::NAN)),
            }
        }
    }

    fn params(&self) -> Vec<NamedParam<'_, F>> {
        weight_and_bias(&self.weight, &self.bias)
    }

    fn params_mut(&mut self) -> Vec<NamedParamMut<'_, F>> {
        weight_and_bias_mut(&mut self.weight, &mut self.bias)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::layers::testing::{check_gradients, random};
    use ndarray::array;

    fn conv(
        input: (usize, usize, usize),
        filters: usize,
        kernel: (usize, usize),
        stride: usize,
        padding: Padding,
        seed: u64,
    ) -> Conv2d<f64> {
        let g = sweep(input, kernel, stride, padding);
        let count = filters * input.0 * kernel.0 * kernel.1;
        Conv2d {
            weight: Array4::from_shape_vec(
                (filters, input.0, kernel.0, kernel.1),
                random(count, seed),
            )
            .unwrap(),
            bias: Array1::from_vec(random(filters, seed + 1)),
            activation: Activation::Tanh,
            geometry: g,
        }
    }

    /// Truth: a 2x2 kernel [[1 0] [0 -1]] (x[i][j] - x[i+1][j+1]) slid by
    /// hand over [[1 2 3] [4 5 6] [7 8 9]] gives -4 everywhere, plus bias.
    #[test]
    fn forward_matches_hand_computation() {
        let l = Conv2d {
            weight: Array4::from_shape_vec((1, 1, 2, 2), vec![1.0, 0.0, 0.0, -1.0]).unwrap(),
            bias: array![0.5],
            activation: Activation::Linear,
            geometry: sweep((1, 3, 3), (2, 2), 1, Padding::Valid),
        };
        let x = array![[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]];
        let (pre, _) = l.forward(x.view(), Mode::Train);
        assert_eq!(pre, array![[-3.5, -3.5, -3.5, -3.5]]);
        assert_eq!(l.output_shape(), Shape::Image { c: 1, h: 2, w: 2 });
        // Padding "same" keeps 3x3; the corner (0,0) sees x[0][0] - x[1][1].
        let same = Conv2d {
            geometry: sweep((1, 3, 3), (2, 2), 1, Padding::Same),
            ..l.clone()
        };
        let (pre, _) = same.forward(x.view(), Mode::Eval);
        assert_eq!(pre.ncols(), 9);
        assert_eq!(pre[[0, 0]], 1.0 - 5.0 + 0.5);
        // The last column and row hang over the right/bottom padding.
        assert_eq!(pre[[0, 8]], 9.0 + 0.5);
    }

    /// Truth: central finite differences in f64 (testing::check_gradients)
    /// for the input and both parameters.
    #[test]
    fn gradients_match_finite_differences() {
        let cases = [
            ((2, 5, 5), 3, (3, 3), 1, Padding::Valid),
            ((2, 5, 5), 3, (3, 3), 2, Padding::Valid),
            ((1, 4, 6), 2, (3, 3), 1, Padding::Same),
            ((2, 4, 6), 2, (2, 3), 1, Padding::Same),
            ((3, 5, 4), 2, (3, 2), 2, Padding::Zeros(1)),
        ];
        for (i, (input, f, k, s, p)) in cases.into_iter().enumerate() {
            let l = conv(input, f, k, s, p, 10 + i as u64);
            let x = Array2::from_shape_vec(
                (3, input.0 * input.1 * input.2),
                random(3 * input.0 * input.1 * input.2, 50 + i as u64),
            )
            .unwrap();
            check_gradients(&l, &x, Mode::Train, Cache::new());
        }
    }
}

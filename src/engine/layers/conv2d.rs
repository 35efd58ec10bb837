//! The 2-D convolution layer (PyTorch's `Conv2d`, NCHW): weight [out, in,
//! kh, kw], bias [out], stride, zero padding. A convolution is a matrix
//! product: im2col lays every receptive field of a sample side by side as
//! the columns of [in·kh·kw, positions], and the weight viewed as [out,
//! in·kh·kw] multiplies it. Backward: dW = Σ delta · colsᵀ, db = sums of
//! delta, and the input gradient is col2im(Wᵀ · delta) — the transposed
//! convolution, which is the convolution with the kernel rotated 180° with
//! padding and stride undone. Parameters "weight" and "bias".
//!
//! The products run sample by sample with the kernels of `kernels::conv`
//! (no packing; a sample's columns stay in cache) rather than as one
//! batch-wide GEMM: see that module for why, and for the fixed summation
//! orders that keep the results independent of the thread count.
//!
//! Config: `kind = "conv2d"` with `filters`, `kernel` (one size or [h, w]),
//! `stride` (default 1), `padding` ("valid", "same" or a number) and the
//! weight keys.

use super::kind::{
    At, Entry, Kind, LayerConfig, NameOrCount, PlanError, Settings, Stateful, MAX_KERNEL, MAX_UNITS,
};
use super::{
    weight_and_bias, weight_and_bias_mut, Cache, Layer, Mode, NamedParam, NamedParamMut, Shape,
};
use crate::engine::activation::Activation;
use crate::engine::float::Float;
use crate::engine::hook::Phase;
use crate::engine::init::draw_values;
use crate::engine::kernels::conv::{dots, lane_sum, product};
use crate::engine::kernels::im2col::{col2im, im2col, Geometry};
use crate::engine::kernels::pool::{for_each_part, samples_per_part};
use crate::engine::kernels::threads::threads;
use ndarray::{Array1, Array2, Array4, ArrayView2, ArrayViewMut2, ArrayViewMutD};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::sync::{Mutex, PoisonError};

/// How a convolution pads its input: `valid` (none), `same` (output as large
/// as the input at stride 1; the odd pixel goes right/bottom, as PyTorch's
/// `padding="same"`), or `n` zeros on every side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Padding {
    Valid,
    Same,
    Zeros(usize),
}

/// A convolution's settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Conv2dConfig {
    pub filters: usize,
    pub kernel: (usize, usize),
    pub stride: usize,
    pub padding: Padding,
}

impl Settings for Conv2dConfig {
    const NAMES: &'static [&'static str] = &["conv2d"];
    const KEYS: &'static [&'static str] = &["filters", "kernel", "stride", "padding"];
    const WEIGHTS: bool = true;
    const PHASES: (Phase, Phase) = (Phase::ForwardConv, Phase::BackwardConv);

    fn parse<E: Entry>(_name: &str, e: &E) -> Result<Self, E::Error> {
        let filters = e.count("filters", 1, MAX_UNITS)?;
        let filters = filters.ok_or_else(|| e.missing("filters"))?;
        let kernel = e.count_pair("kernel", 1, MAX_KERNEL)?;
        let kernel = kernel.ok_or_else(|| e.missing("kernel"))?;
        let stride = e.count("stride", 1, MAX_KERNEL)?.unwrap_or(1);
        let names = [("valid", Padding::Valid), ("same", Padding::Same)];
        let padding = match e.name_or_count("padding", &names, MAX_KERNEL)? {
            None => Padding::Valid,
            Some(NameOrCount::Name(p)) => p,
            Some(NameOrCount::Count(n)) => Padding::Zeros(n),
        };
        Ok(Conv2dConfig {
            filters,
            kernel,
            stride,
            padding,
        })
    }

    fn name(&self) -> &'static str {
        "conv2d"
    }

    fn units(&self) -> usize {
        self.filters
    }

    /// An image in; the kernel must fit it, and "same" needs stride 1.
    fn output_shape(&self, at: &At) -> Result<Shape, PlanError> {
        let (ch, h, w) = at.image("conv2d")?;
        if self.padding == Padding::Same && self.stride > 1 {
            return Err(at.error(
                "padding",
                "padding = \"same\" needs stride = 1 (as in PyTorch); give the padding as a number instead".into(),
            ));
        }
        let g = sweep((ch, h, w), self.kernel, self.stride, self.padding);
        if g.out_h == 0 || g.out_w == 0 {
            return Err(at.error(
                "kernel",
                format!(
                    "a {}x{} kernel does not fit the {h}x{w} input from {} with this padding; use a smaller kernel or pad it",
                    self.kernel.0, self.kernel.1, at.from
                ),
            ));
        }
        Ok(Shape::Image {
            c: self.filters,
            h: g.out_h,
            w: g.out_w,
        })
    }

    /// filters·(in·kh·kw + 1).
    fn param_count(&self, input: Shape) -> usize {
        self.filters.saturating_mul(
            input
                .channels()
                .saturating_mul(self.kernel.0)
                .saturating_mul(self.kernel.1)
                .saturating_add(1),
        )
    }

    /// The im2col columns (in·kh·kw per output position), both ways.
    fn scratch_per_sample(&self, input: Shape, output: Shape) -> usize {
        input
            .channels()
            .saturating_mul(self.kernel.0)
            .saturating_mul(self.kernel.1)
            .saturating_mul(output.positions())
            .saturating_mul(2)
    }
}

/// A pool of buffers the parts of a kernel running on several threads take
/// and give back: a convolution's state, reused from step to step instead
/// of allocated (and zeroed) for every product. Only a workspace: what a
/// buffer holds between uses means nothing, so a copy starts empty and any
/// two compare equal.
pub struct Scratch<F>(Mutex<Vec<Vec<F>>>);

impl<F: Float> Scratch<F> {
    /// A buffer of at least `len` values (their contents are left over from
    /// earlier uses: the caller writes before it reads).
    pub fn take(&self, len: usize) -> Vec<F> {
        let mut buf = self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop()
            .unwrap_or_default();
        if buf.len() < len {
            buf.resize(len, F::zero());
        }
        buf
    }

    /// Returns a buffer for later [`Scratch::take`]s.
    pub fn give(&self, buf: Vec<F>) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(buf);
    }
}

impl<F> Default for Scratch<F> {
    fn default() -> Self {
        Scratch(Mutex::new(Vec::new()))
    }
}

impl<F> Clone for Scratch<F> {
    fn clone(&self) -> Self {
        Scratch::default()
    }
}

impl<F> PartialEq for Scratch<F> {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl<F> std::fmt::Debug for Scratch<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Scratch")
    }
}

/// An empty scratch for the backward passes that find no forward state
/// (a gradient check may call them on a fresh cache).
fn scratch_of<F: Float>(cache: &Cache<F>) -> std::borrow::Cow<'_, Scratch<F>> {
    match <Conv2d<F> as Stateful<F>>::state(cache) {
        Some(s) => std::borrow::Cow::Borrowed(s),
        None => std::borrow::Cow::Owned(Scratch::default()),
    }
}

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

    /// The weight as a row-major [out, in·kh·kw] matrix (None only if the
    /// tensor lost its standard layout, which nothing here does; callers
    /// then write NaN so the fault shows).
    fn weight_matrix(&self) -> Option<&[F]> {
        self.weight.as_slice()
    }

    /// The columns of one sample `x` into `cols` ([in·kh·kw, positions],
    /// row-major).
    fn columns(&self, x: &[F], cols: &mut [F]) {
        let g = &self.geometry;
        if let Ok(mut view) = ArrayViewMut2::from_shape((g.patch(), g.positions()), cols) {
            im2col(g, x, &mut view);
        }
    }
}

/// Samples per group of the weight gradient: each group's partial sums are
/// computed whole by one thread and the groups added in order, so the
/// thread count never changes the bits. 8 samples' columns (200 x 64 or 25
/// x 576 values each for the MNIST CNN) stay within L2.
const GROUP: usize = 8;

impl<F: Float> Kind<F> for Conv2d<F> {
    type Config = Conv2dConfig;
    type State = Scratch<F>;

    /// A flat input (only the first layer may have one) is read as a 1 x 1
    /// x n image.
    fn build(c: &Conv2dConfig, input: Shape, layer: &LayerConfig, rng: &mut ChaCha8Rng) -> Self {
        let image = match input {
            Shape::Image { c, h, w } => (c, h, w),
            Shape::Flat(n) => (1, 1, n),
        };
        let g = sweep(image, c.kernel, c.stride, c.padding);
        Conv2d::init(g, c.filters, layer, rng)
    }
}

impl<F: Float> Layer<F> for Conv2d<F> {
    fn kind(&self) -> &'static str {
        "conv2d"
    }

    fn fan_in(&self) -> usize {
        self.geometry.patch()
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

    /// forward.conv: out = W · im2col(x) + b, sample by sample (groups
    /// of samples in parallel; each sample's output is its own, so the
    /// split changes nothing), written straight into the NCHW rows.
    fn forward_pre(
        &self,
        input: ArrayView2<'_, F>,
        mode: Mode,
        cache: &mut Cache<F>,
        pre: &mut Array2<F>,
    ) {
        cache.train = mode == Mode::Train;
        let g = &self.geometry;
        let (p, k, o) = (g.positions(), g.patch(), self.filters());
        let input = input.as_standard_layout();
        let (Some(w), Some(xs), Some(out)) =
            (self.weight_matrix(), input.as_slice(), pre.as_slice_mut())
        else {
            pre.fill(F::of(f64::NAN));
            return;
        };
        let n = input.nrows();
        let (width, fan) = (o * p, g.c * g.h * g.w);
        if n == 0 || width == 0 || fan == 0 || out.len() != n * width {
            return;
        }
        let scratch = &*<Self as Stateful<F>>::state_mut(cache);
        let per = samples_per_part(n, threads(), 4);
        let parts: Vec<_> = xs
            .chunks(per * fan)
            .zip(out.chunks_mut(per * width))
            .collect();
        for_each_part(threads(), parts, &|(xs, outs)| {
            let mut cols = scratch.take(k * p);
            for (x, out) in xs.chunks_exact(fan).zip(outs.chunks_exact_mut(width)) {
                self.columns(x, &mut cols);
                product(w, &cols, out, (o, k, p));
                for (plane, &b) in out.chunks_exact_mut(p).zip(&self.bias) {
                    plane.iter_mut().for_each(|v| *v += b);
                }
            }
            scratch.give(cols);
        });
    }

    /// dL/dx = col2im(Wᵀ · delta): every output position sends its delta
    /// back through the kernel to the inputs its window read. Sample by
    /// sample, groups of samples in parallel.
    fn backward_input(
        &self,
        _input: ArrayView2<'_, F>,
        delta: &Array2<F>,
        cache: &Cache<F>,
        grad_in: &mut Array2<F>,
    ) {
        let g = &self.geometry;
        let (p, k, o) = (g.positions(), g.patch(), self.filters());
        let delta = delta.as_standard_layout();
        let (Some(w), Some(ds), Some(gin)) = (
            self.weight_matrix(),
            delta.as_slice(),
            grad_in.as_slice_mut(),
        ) else {
            grad_in.fill(F::of(f64::NAN));
            return;
        };
        gin.fill(F::zero());
        let n = delta.nrows();
        let (width, fan) = (o * p, g.c * g.h * g.w);
        if n == 0 || width == 0 || fan == 0 || ds.len() != n * width || gin.len() != n * fan {
            return;
        }
        // Wᵀ as row-major [in·kh·kw, out].
        let mut wt = vec![F::zero(); k * o];
        for (oc, row) in w.chunks_exact(k).enumerate() {
            for (r, &v) in row.iter().enumerate() {
                wt[r * o + oc] = v;
            }
        }
        let scratch = &*scratch_of(cache);
        let per = samples_per_part(n, threads(), 4);
        let parts: Vec<_> = ds
            .chunks(per * width)
            .zip(gin.chunks_mut(per * fan))
            .collect();
        for_each_part(threads(), parts, &|(ds, gins)| {
            let mut dcols = scratch.take(k * p);
            for (d, gi) in ds.chunks_exact(width).zip(gins.chunks_exact_mut(fan)) {
                product(&wt, d, &mut dcols, (k, o, p));
                if let Ok(view) = ArrayView2::from_shape((k, p), &dcols[..k * p]) {
                    col2im(g, &view, gi);
                }
            }
            scratch.give(dcols);
        });
    }

    /// dW = Σ over samples of delta · colsᵀ (as [out, in·kh·kw]), db = sum
    /// of delta over samples and positions: partial sums of fixed groups of
    /// [`GROUP`] samples (in parallel), added in group order. The columns
    /// are rebuilt from `input` (not kept from forward: a gradient check
    /// may pass another input than the cache saw). A buffer of the wrong
    /// shape turns NaN.
    fn backward_params(
        &self,
        input: ArrayView2<'_, F>,
        delta: &Array2<F>,
        cache: &Cache<F>,
        grads: &mut [ArrayViewMutD<'_, F>],
    ) {
        let [gw, gb, ..] = grads else { return };
        let g = &self.geometry;
        let (p, k, o) = (g.positions(), g.patch(), self.filters());
        let (width, fan) = (o * p, g.c * g.h * g.w);
        let n = delta.nrows();
        let input = input.as_standard_layout();
        let delta = delta.as_standard_layout();
        let ok = gw.len() == o * k
            && gb.len() == o
            && input.nrows() == n
            && input.ncols() == fan
            && delta.ncols() == width
            && width > 0
            && fan > 0;
        let (Some(xs), Some(ds), true) = (input.as_slice(), delta.as_slice(), ok) else {
            gw.fill(F::of(f64::NAN));
            gb.fill(F::of(f64::NAN));
            return;
        };
        let size = o * k + o;
        let mut partials = vec![F::zero(); n.div_ceil(GROUP).max(1) * size];
        let scratch = &*scratch_of(cache);
        let parts: Vec<_> = partials
            .chunks_mut(size)
            .zip(xs.chunks(GROUP * fan).zip(ds.chunks(GROUP * width)))
            .collect();
        for_each_part(threads(), parts, &|(part, (xs, ds))| {
            let count = xs.len() / fan;
            let mut cols = scratch.take(count * k * p);
            for (x, c) in xs.chunks_exact(fan).zip(cols.chunks_exact_mut(k * p)) {
                self.columns(x, c);
            }
            let pairs: Vec<(&[F], &[F])> = ds
                .chunks_exact(width)
                .zip(cols.chunks_exact(k * p))
                .collect();
            let (pw, pb) = part.split_at_mut(o * k);
            dots(&pairs, (o, k, p), pw);
            for (oc, b) in pb.iter_mut().enumerate() {
                *b = lane_sum(ds.chunks_exact(width).map(|d| &d[oc * p..(oc + 1) * p]));
            }
            drop(pairs);
            scratch.give(cols);
        });
        let mut groups = partials.chunks_exact(size);
        let mut total = groups.next().map(<[F]>::to_vec).unwrap_or_default();
        for part in groups {
            for (t, &v) in total.iter_mut().zip(part) {
                *t += v;
            }
        }
        for (dst, &v) in gw.iter_mut().zip(&total[..o * k]) {
            *dst = v;
        }
        for (dst, &v) in gb.iter_mut().zip(&total[o * k..]) {
            *dst = v;
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

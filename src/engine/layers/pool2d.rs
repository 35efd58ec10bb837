//! Max and average pooling over size x size windows moved by `stride`, no
//! padding (PyTorch's `MaxPool2d`/`AvgPool2d` defaults). Max pooling
//! remembers, per output, which input it took (the first maximum in the
//! window in row-major order, PyTorch's tie rule; a NaN wins, so it
//! propagates) and sends the gradient there alone; average pooling spreads
//! it evenly over the window. No parameters; activation Linear. Config:
//! `kind = "max_pool2d"` or `"avg_pool2d"` with `size` and `stride`
//! (default: the size). Max pooling's selection is a kink a gradient check
//! watches ([`Layer::selection`]).

use super::kind::{At, Entry, Kind, LayerConfig, PlanError, Settings, Stateful, MAX_KERNEL};
use super::{Cache, Layer, Mode, Shape};
use crate::engine::activation::Activation;
use crate::engine::float::Float;
use crate::engine::hook::Phase;
use crate::engine::kernels::im2col::Geometry;
use crate::engine::kernels::pool::{for_each_part, samples_per_part};
use crate::engine::kernels::threads::threads;
use ndarray::{Array2, ArrayView2, Axis};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// Max or average pooling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PoolKind {
    Max,
    Avg,
}

/// A pooling layer's settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pool2dConfig {
    pub pool: PoolKind,
    pub size: usize,
    pub stride: usize,
}

impl Settings for Pool2dConfig {
    const NAMES: &'static [&'static str] = &["max_pool2d", "avg_pool2d"];
    const KEYS: &'static [&'static str] = &["size", "stride"];
    const PHASES: (Phase, Phase) = (Phase::ForwardPool, Phase::BackwardPool);

    fn parse<E: Entry>(name: &str, e: &E) -> Result<Self, E::Error> {
        let pool = if name == "avg_pool2d" {
            PoolKind::Avg
        } else {
            PoolKind::Max
        };
        let size = e.count("size", 1, MAX_KERNEL)?;
        let size = size.ok_or_else(|| e.missing("size"))?;
        let stride = e.count("stride", 1, MAX_KERNEL)?.unwrap_or(size);
        Ok(Pool2dConfig { pool, size, stride })
    }

    fn name(&self) -> &'static str {
        match self.pool {
            PoolKind::Max => "max_pool2d",
            PoolKind::Avg => "avg_pool2d",
        }
    }

    /// An image in; the window must fit it.
    fn output_shape(&self, at: &At) -> Result<Shape, PlanError> {
        let (ch, h, w) = at.image(self.name())?;
        let size = self.size;
        if size > h || size > w {
            return Err(at.error(
                "size",
                format!(
                    "a {size}x{size} window does not fit the {h}x{w} input from {}",
                    at.from
                ),
            ));
        }
        let stride = self.stride.max(1);
        Ok(Shape::Image {
            c: ch,
            h: (h - size) / stride + 1,
            w: (w - size) / stride + 1,
        })
    }
}

/// Max pooling's state: for each output value, the flat index (within the
/// sample's row) of the input it took, so the gradient goes there.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PoolState {
    pub argmax: Vec<usize>,
}

/// One pooling layer.
#[derive(Debug, Clone, PartialEq)]
pub struct Pool2d {
    pub pool: PoolKind,
    /// The window sweep (kh = kw = size, no padding).
    pub geometry: Geometry,
}

impl Pool2d {
    /// Pooling of `size` windows every `stride` over a c x h x w image.
    pub fn new(
        pool: PoolKind,
        (c, h, w): (usize, usize, usize),
        size: usize,
        stride: usize,
    ) -> Self {
        let stride = stride.max(1);
        let out = |n: usize| n.checked_sub(size).map_or(0, |span| span / stride + 1);
        Pool2d {
            pool,
            geometry: Geometry {
                c,
                h,
                w,
                kh: size,
                kw: size,
                stride,
                pad_top: 0,
                pad_left: 0,
                out_h: out(h),
                out_w: out(w),
            },
        }
    }

    /// Calls `f(out_index, in_index)` for every input of every window of
    /// one sample, windows in output order and inputs in row-major order.
    fn windows(&self, mut f: impl FnMut(usize, usize)) {
        let g = &self.geometry;
        for ci in 0..g.c {
            for oy in 0..g.out_h {
                for ox in 0..g.out_w {
                    let o = (ci * g.out_h + oy) * g.out_w + ox;
                    for ki in 0..g.kh {
                        for kj in 0..g.kw {
                            let (iy, ix) = (oy * g.stride + ki, ox * g.stride + kj);
                            f(o, (ci * g.h + iy) * g.w + ix);
                        }
                    }
                }
            }
        }
    }
}

impl Pool2d {
    /// Max pooling of one contiguous sample: the same windows, visiting
    /// order and tie/NaN rule as the [`Pool2d::windows`] sweep, computed a
    /// row of outputs at a time: the running maxima of a whole output row
    /// start at each window's first element, and every later element of
    /// the windows (in row-major window order) replaces them where it is
    /// larger, or a NaN over a number, by selects rather than branches.
    fn max_row<F: Float>(&self, x: &[F], out: &mut [F], arg: &mut [usize]) {
        max_rows(&self.geometry, x, out, arg);
    }
}

crate::multiversion!(
    /// [`Pool2d::max_row`], through the AVX2 build when the CPU has it.
    fn max_rows<F: Float>(g: &Geometry, x: &[F], out: &mut [F], arg: &mut [usize]) => max_rows_body
);

/// The body of [`Pool2d::max_row`].
#[inline(always)]
fn max_rows_body<F: Float>(g: &Geometry, x: &[F], out: &mut [F], arg: &mut [usize]) {
    let (ow, st) = (g.out_w, g.stride);
    if ow == 0 || g.kh == 0 || g.kw == 0 {
        return;
    }
    for (row, (best, at)) in out
        .chunks_exact_mut(ow)
        .zip(arg.chunks_exact_mut(ow))
        .enumerate()
    {
        let (ci, oy) = (row / g.out_h.max(1), row % g.out_h.max(1));
        let top = (ci * g.h + oy * st) * g.w;
        for (ox, (b, a)) in best.iter_mut().zip(at.iter_mut()).enumerate() {
            *a = top + ox * st;
            *b = x[*a];
        }
        for ki in 0..g.kh {
            for kj in 0..g.kw {
                if ki == 0 && kj == 0 {
                    continue;
                }
                let base = top + ki * g.w + kj;
                // Stride 2 (the usual 2x2 pooling) as a constant, so
                // the strided reads and selects vectorise.
                match st {
                    2 => max_pass::<F, 2>(x, base, st, best, at),
                    _ => max_pass::<F, 0>(x, base, st, best, at),
                }
            }
        }
    }
}

/// One element of every window of an output row: best[ox] and at[ox]
/// become x[base + ox·stride] and its index where that is larger, or a NaN
/// over a number. ST is the stride when known at compile time, else 0 and
/// `stride` is used.
#[inline(always)]
fn max_pass<F: Float, const ST: usize>(
    x: &[F],
    base: usize,
    stride: usize,
    best: &mut [F],
    at: &mut [usize],
) {
    let st = if ST > 0 { ST } else { stride };
    let n = best.len().min(at.len());
    if n == 0 {
        return;
    }
    let xs = &x[base..base + (n - 1) * st + 1];
    // Blocks of 8, then 4, outputs in fixed-size arrays, every bound a
    // constant, so the compares and selects become vector blends (branches
    // would mispredict on half the elements of random data).
    let full = max_block::<F, 8>(xs, base, st, 0, best, at);
    let full = max_block::<F, 4>(xs, base, st, full, best, at);
    for ox in full..n {
        let (v, b) = (xs[ox * st], best[ox]);
        if (v > b) | (v.is_nan() & !b.is_nan()) {
            best[ox] = v;
            at[ox] = base + ox * st;
        }
    }
}

/// [`max_pass`] on outputs `from..` in blocks of W while whole blocks
/// remain; returns where the blocks ended.
#[inline(always)]
fn max_block<F: Float, const W: usize>(
    xs: &[F],
    base: usize,
    st: usize,
    from: usize,
    best: &mut [F],
    at: &mut [usize],
) -> usize {
    let n = best.len().min(at.len());
    let mut o = from;
    while o + W <= n {
        let mut v = [F::zero(); W];
        for (l, v) in v.iter_mut().enumerate() {
            *v = xs[(o + l) * st];
        }
        let mut bb = [F::zero(); W];
        bb.copy_from_slice(&best[o..o + W]);
        let mut aa = [0usize; W];
        aa.copy_from_slice(&at[o..o + W]);
        for l in 0..W {
            let take = (v[l] > bb[l]) | (v[l].is_nan() & !bb[l].is_nan());
            bb[l] = if take { v[l] } else { bb[l] };
            aa[l] = if take { base + (o + l) * st } else { aa[l] };
        }
        best[o..o + W].copy_from_slice(&bb);
        at[o..o + W].copy_from_slice(&aa);
        o += W;
    }
    o
}

impl Pool2d {
    /// The same layer (it holds no numbers) in any precision.
    pub fn cast(&self) -> Self {
        self.clone()
    }
}

impl<F: Float> Kind<F> for Pool2d {
    type Config = Pool2dConfig;
    type State = PoolState;

    fn build(c: &Pool2dConfig, input: Shape, _: &LayerConfig, _: &mut ChaCha8Rng) -> Self {
        let image = match input {
            Shape::Image { c, h, w } => (c, h, w),
            Shape::Flat(n) => (1, 1, n),
        };
        Pool2d::new(c.pool, image, c.size, c.stride)
    }
}

impl<F: Float> Layer<F> for Pool2d {
    fn kind(&self) -> &'static str {
        match self.pool {
            PoolKind::Max => "max_pool2d",
            PoolKind::Avg => "avg_pool2d",
        }
    }

    fn selection<'c>(&self, cache: &'c Cache<F>) -> &'c [usize] {
        <Self as Stateful<F>>::state(cache).map_or(&[], |s| &s.argmax)
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
        let g = &self.geometry;
        Shape::Image {
            c: g.c,
            h: g.out_h,
            w: g.out_w,
        }
    }

    fn activation(&self) -> Activation {
        Activation::Linear
    }

    /// forward.pool: the maximum (with its position kept in the cache) or
    /// the mean of each window.
    fn forward_pre(
        &self,
        input: ArrayView2<'_, F>,
        mode: Mode,
        cache: &mut Cache<F>,
        pre: &mut Array2<F>,
    ) {
        cache.train = mode == Mode::Train;
        let per = <Self as Layer<F>>::output_width(self);
        let n = input.nrows();
        match self.pool {
            PoolKind::Max => {
                let argmax = &mut <Self as Stateful<F>>::state_mut(cache).argmax;
                argmax.clear();
                argmax.resize(n * per, 0);
                if n == 0 || per == 0 {
                    return;
                }
                // Groups of samples in parallel: each sample's maxima are
                // its own, so the split changes nothing.
                let t = threads();
                let chunk = samples_per_part(n, t, 4);
                let parts: Vec<_> = input
                    .axis_chunks_iter(Axis(0), chunk)
                    .zip(pre.axis_chunks_iter_mut(Axis(0), chunk))
                    .zip(argmax.chunks_mut(chunk * per))
                    .collect();
                for_each_part(t, parts, &|((xs, mut outs), args)| {
                    let mut first = vec![true; per];
                    let rows = xs.rows().into_iter().zip(outs.rows_mut());
                    for ((x, mut out), arg) in rows.zip(args.chunks_mut(per)) {
                        if let (Some(x), Some(out)) = (x.as_slice(), out.as_slice_mut()) {
                            self.max_row(x, out, arg);
                            continue;
                        }
                        first.fill(true);
                        self.windows(|o, i| {
                            let v = x[i];
                            if first[o] || v > out[o] || (v.is_nan() && !out[o].is_nan()) {
                                out[o] = v;
                                arg[o] = i;
                                first[o] = false;
                            }
                        });
                    }
                });
            }
            PoolKind::Avg => {
                let inv = F::of(1.0 / (self.geometry.kh * self.geometry.kw).max(1) as f64);
                pre.fill(F::zero());
                for (x, mut out) in input.rows().into_iter().zip(pre.rows_mut()) {
                    self.windows(|o, i| out[o] += x[i]);
                    out.mapv_inplace(|v| v * inv);
                }
            }
        }
    }

    /// backward.pool: the gradient to the remembered maximum, or spread
    /// evenly over the window (overlapping windows add up).
    fn backward_input(
        &self,
        _input: ArrayView2<'_, F>,
        delta: &Array2<F>,
        cache: &Cache<F>,
        grad_in: &mut Array2<F>,
    ) {
        grad_in.fill(F::zero());
        let per = delta.ncols();
        match self.pool {
            PoolKind::Max => {
                let argmax = self.selection(cache);
                for (s, (d, mut gi)) in delta.rows().into_iter().zip(grad_in.rows_mut()).enumerate()
                {
                    let Some(arg) = argmax.get(s * per..(s + 1) * per) else {
                        gi.fill(F::of(f64::NAN));
                        continue;
                    };
                    for (o, &i) in arg.iter().enumerate() {
                        if let Some(g) = gi.get_mut(i) {
                            *g += d[o];
                        }
                    }
                }
            }
            PoolKind::Avg => {
                let inv = F::of(1.0 / (self.geometry.kh * self.geometry.kw).max(1) as f64);
                for (d, mut gi) in delta.rows().into_iter().zip(grad_in.rows_mut()) {
                    self.windows(|o, i| gi[i] += d[o] * inv);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::layers::testing::{check_gradients, random};
    use ndarray::array;

    /// Truth: 2x2 max and mean of the four quadrants of a 4x4 image, by
    /// hand.
    #[test]
    fn forward_matches_hand_computation() {
        let x = array![[
            1.0, 2.0, 0.0, 0.0, //
            3.0, 4.0, 0.0, 1.0, //
            5.0, 5.0, -1.0, -2.0, //
            5.0, 5.0, -3.0, -4.0
        ]];
        let max = Pool2d::new(PoolKind::Max, (1, 4, 4), 2, 2);
        let (pre, act) = Layer::<f64>::forward(&max, x.view(), Mode::Train);
        assert_eq!(pre, array![[4.0, 1.0, 5.0, -1.0]]);
        assert_eq!(act, pre);
        let avg = Pool2d::new(PoolKind::Avg, (1, 4, 4), 2, 2);
        let (pre, _) = Layer::<f64>::forward(&avg, x.view(), Mode::Train);
        assert_eq!(pre, array![[2.5, 0.25, 5.0, -2.5]]);
    }

    /// Truth: PyTorch's max_pool2d sends the gradient of a window with tied
    /// maxima to the first one in row-major order (index 8 here, not 9,
    /// 12 or 13), and all zero windows to their first element.
    #[test]
    fn max_pool_ties_route_to_the_first_maximum() {
        let x = array![[
            1.0, 2.0, 0.0, 0.0, //
            3.0, 4.0, 0.0, 0.0, //
            5.0, 5.0, -1.0, -2.0, //
            5.0, 5.0, -3.0, -4.0
        ]];
        let max = Pool2d::new(PoolKind::Max, (1, 4, 4), 2, 2);
        let mut cache = Cache::new();
        let mut pre = Array2::zeros((1, 4));
        max.forward_pre(x.view(), Mode::Train, &mut cache, &mut pre);
        let mut gin = Array2::zeros((1, 16));
        max.backward_input(x.view(), &array![[1.0, 2.0, 3.0, 4.0]], &cache, &mut gin);
        let mut want = Array2::zeros((1, 16));
        want[[0, 5]] = 1.0;
        want[[0, 2]] = 2.0;
        want[[0, 8]] = 3.0;
        want[[0, 10]] = 4.0;
        assert_eq!(gin, want);
    }

    /// Truth: the element-by-element [`Pool2d::windows`] sweep with its
    /// tie and NaN rule, on inputs full of ties and a few NaNs, for
    /// several sizes and strides: same maxima (bits) and same indices.
    #[test]
    fn row_sweep_matches_the_window_sweep() {
        for (size, stride) in [(2, 2), (3, 1), (2, 3), (3, 2)] {
            let l = Pool2d::new(PoolKind::Max, (2, 7, 21), size, stride);
            let x: Vec<f64> = (0..294)
                .map(|i| match i % 13 {
                    5 => f64::NAN,
                    r => (r % 4) as f64,
                })
                .collect();
            let per = 2 * l.geometry.out_h * l.geometry.out_w;
            let (mut out, mut arg) = (vec![0.0; per], vec![0; per]);
            l.max_row(&x, &mut out, &mut arg);
            let (mut want, mut want_arg) = (vec![0.0f64; per], vec![0; per]);
            let mut first = vec![true; per];
            l.windows(|o, i| {
                let v = x[i];
                if first[o] || v > want[o] || (v.is_nan() && !want[o].is_nan()) {
                    want[o] = v;
                    want_arg[o] = i;
                    first[o] = false;
                }
            });
            let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&out), bits(&want), "{size}/{stride}");
            assert_eq!(arg, want_arg, "{size}/{stride}");
        }
    }

    /// Truth: central finite differences (no ties in random inputs), with
    /// stride 1 (overlapping windows), stride 2 and a window not dividing
    /// the image.
    #[test]
    fn gradients_match_finite_differences() {
        for (i, (pool, size, stride)) in [
            (PoolKind::Max, 2, 2),
            (PoolKind::Max, 3, 1),
            (PoolKind::Avg, 2, 2),
            (PoolKind::Avg, 3, 2),
        ]
        .into_iter()
        .enumerate()
        {
            let l = Pool2d::new(pool, (2, 5, 5), size, stride);
            let x = Array2::from_shape_vec((2, 50), random(100, 70 + i as u64)).unwrap();
            check_gradients(&l, &x, Mode::Train, Cache::new());
        }
    }
}

//! The convolutional catalogue's backward mistakes as plain functions of a
//! layer's input, its output gradient and its settings, on the engine's
//! row layout (one sample per row, NCHW flattened). The `Flawed` decorator
//! calls them in place of a layer's correct input gradient. Each is written
//! as the mistake a hand-written backward makes (a tap index, an offset, a
//! routing rule), next to the correct form it departs from; the unit tests
//! check the correct forms against finite differences of a naive forward
//! and that every mistake changes the result.

use crate::engine::float::Float;
use crate::engine::layers::pool2d::PoolKind;
use crate::engine::layers::{AnyLayer, Cache, Layer, Shape};
use ndarray::{Array2, ArrayView2};
use serde::Serialize;

/// The convolutional catalogue: one mistake in one layer kind's backward
/// pass to its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CnnMistake {
    ConvKernelNotRotated,
    ConvBackwardPadding,
    ConvBackwardStride,
    MaxpoolWrongElement,
    MaxpoolSpread,
    BatchnormStatsConstant,
    DropoutNoMask,
    DropoutNoScale,
    FlattenOrder,
}

impl CnnMistake {
    pub const ALL: [CnnMistake; 9] = [
        CnnMistake::ConvKernelNotRotated,
        CnnMistake::ConvBackwardPadding,
        CnnMistake::ConvBackwardStride,
        CnnMistake::MaxpoolWrongElement,
        CnnMistake::MaxpoolSpread,
        CnnMistake::BatchnormStatsConstant,
        CnnMistake::DropoutNoMask,
        CnnMistake::DropoutNoScale,
        CnnMistake::FlattenOrder,
    ];

    /// The stable catalogue code (also the NumPy exporter's `--bug` name).
    pub const fn code(self) -> &'static str {
        match self {
            CnnMistake::ConvKernelNotRotated => "conv-kernel-not-rotated",
            CnnMistake::ConvBackwardPadding => "conv-backward-padding",
            CnnMistake::ConvBackwardStride => "conv-backward-stride",
            CnnMistake::MaxpoolWrongElement => "maxpool-wrong-element",
            CnnMistake::MaxpoolSpread => "maxpool-spread",
            CnnMistake::BatchnormStatsConstant => "batchnorm-stats-constant",
            CnnMistake::DropoutNoMask => "dropout-no-mask",
            CnnMistake::DropoutNoScale => "dropout-no-scale",
            CnnMistake::FlattenOrder => "flatten-order",
        }
    }

    /// The layer kind (config name) whose backward makes the mistake.
    pub const fn layer_kind(self) -> &'static str {
        match self {
            CnnMistake::ConvKernelNotRotated
            | CnnMistake::ConvBackwardPadding
            | CnnMistake::ConvBackwardStride => "conv2d",
            CnnMistake::MaxpoolWrongElement | CnnMistake::MaxpoolSpread => "max_pool2d",
            CnnMistake::BatchnormStatsConstant => "batch_norm",
            CnnMistake::DropoutNoMask | CnnMistake::DropoutNoScale => "dropout",
            CnnMistake::FlattenOrder => "flatten",
        }
    }

    /// One line on what the code does wrong.
    pub const fn explanation(self) -> &'static str {
        match self {
            CnnMistake::ConvKernelNotRotated => "the input gradient correlates the output gradient with the kernel as stored; it must use the kernel rotated by 180 degrees",
            CnnMistake::ConvBackwardPadding => "the input gradient ignores the forward padding: it is shifted by the padding and its border rows/columns are lost",
            CnnMistake::ConvBackwardStride => "the input gradient ignores the stride: the output gradient is scattered as if the stride were 1 (not dilated)",
            CnnMistake::MaxpoolWrongElement => "the max-pool gradient goes to the wrong element of the window (the maximum's position transposed)",
            CnnMistake::MaxpoolSpread => "the max-pool gradient is spread evenly over the window (average pooling's rule) instead of routed to the maximum",
            CnnMistake::BatchnormStatsConstant => "the batch-norm backward treats the batch mean and variance as constants: the two terms through them are missing",
            CnnMistake::DropoutNoMask => "the dropout backward does not apply the mask: dropped units receive a gradient",
            CnnMistake::DropoutNoScale => "the dropout backward misses the 1/(1 - rate) scale of inverted dropout",
            CnnMistake::FlattenOrder => "the flatten backward unflattens channels-last (NHWC) while the forward flattened channels-first (NCHW)",
        }
    }
}

/// A convolution's geometry on one sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvShape {
    /// Input channels, height, width.
    pub c: usize,
    pub h: usize,
    pub w: usize,
    /// Output channels (filters), height, width.
    pub o: usize,
    pub ho: usize,
    pub wo: usize,
    pub kh: usize,
    pub kw: usize,
    pub stride: usize,
    /// Zeros before the first row / column (the forward's offset).
    pub pad_top: usize,
    pub pad_left: usize,
}

/// How a convolution's input gradient is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConvBack {
    /// dX = full correlation of the stride-dilated dZ with the kernel
    /// rotated by 180 degrees, cropped by the padding.
    Correct,
    /// The kernel used as stored, not rotated.
    KernelNotRotated,
    /// The forward padding ignored when mapping back (no offset).
    PaddingIgnored,
    /// dZ not dilated by the stride (scattered as if stride 1).
    StrideIgnored,
}

/// dL/dX [n, c*h*w] from dL/dZ `delta` [n, o*ho*wo] and the weight
/// flattened [o, c*kh*kw] (PyTorch's [o, c, kh, kw] in C order), written as
/// the scatter of each output position back to the inputs it read.
pub fn conv_input_grad(
    delta: ArrayView2<'_, f64>,
    weight: &[f64],
    g: &ConvShape,
    how: ConvBack,
) -> Array2<f64> {
    let n = delta.nrows();
    let mut dx = Array2::zeros((n, g.c * g.h * g.w));
    let s = match how {
        ConvBack::StrideIgnored => 1,
        _ => g.stride,
    };
    let (pt, pl) = match how {
        ConvBack::PaddingIgnored => (0, 0),
        _ => (g.pad_top, g.pad_left),
    };
    for b in 0..n {
        for o in 0..g.o {
            for i in 0..g.ho {
                for j in 0..g.wo {
                    let d = delta[[b, (o * g.ho + i) * g.wo + j]];
                    if d == 0.0 {
                        continue;
                    }
                    for u in 0..g.kh {
                        // The input row this tap read (before the offset).
                        let Some(r) = (i * s + u).checked_sub(pt).filter(|&r| r < g.h) else {
                            continue;
                        };
                        for v in 0..g.kw {
                            let Some(col) = (j * s + v).checked_sub(pl).filter(|&q| q < g.w) else {
                                continue;
                            };
                            let (ku, kv) = match how {
                                ConvBack::KernelNotRotated => (g.kh - 1 - u, g.kw - 1 - v),
                                _ => (u, v),
                            };
                            for ch in 0..g.c {
                                let k = weight[((o * g.c + ch) * g.kh + ku) * g.kw + kv];
                                dx[[b, (ch * g.h + r) * g.w + col]] += d * k;
                            }
                        }
                    }
                }
            }
        }
    }
    dx
}

/// A pooling layer's geometry on one sample (square windows, no padding).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolShape {
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub ho: usize,
    pub wo: usize,
    pub size: usize,
    pub stride: usize,
}

/// How a max-pool's gradient is routed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolBack {
    /// To the window's maximum (the first, in row-major order, on a tie).
    Correct,
    /// To the transposed window position of the maximum: the flat argmax
    /// unravelled column-major.
    WrongElement,
    /// Spread evenly over the window (average pooling's gradient).
    Spread,
}

/// dL/dX of a max pool from its input `x` and output gradient `delta`.
pub fn max_pool_input_grad(
    x: ArrayView2<'_, f64>,
    delta: ArrayView2<'_, f64>,
    g: &PoolShape,
    how: PoolBack,
) -> Array2<f64> {
    let n = x.nrows();
    let k = g.size;
    let mut dx = Array2::zeros((n, g.c * g.h * g.w));
    let at = |ch: usize, r: usize, q: usize| (ch * g.h + r) * g.w + q;
    for b in 0..n {
        for ch in 0..g.c {
            for i in 0..g.ho {
                for j in 0..g.wo {
                    let d = delta[[b, (ch * g.ho + i) * g.wo + j]];
                    let (r0, q0) = (i * g.stride, j * g.stride);
                    if how == PoolBack::Spread {
                        for u in 0..k {
                            for v in 0..k {
                                dx[[b, at(ch, r0 + u, q0 + v)]] += d / (k * k) as f64;
                            }
                        }
                        continue;
                    }
                    let mut best = (0, 0);
                    for u in 0..k {
                        for v in 0..k {
                            if x[[b, at(ch, r0 + u, q0 + v)]]
                                > x[[b, at(ch, r0 + best.0, q0 + best.1)]]
                            {
                                best = (u, v);
                            }
                        }
                    }
                    let (u, v) = match how {
                        PoolBack::WrongElement => (best.1, best.0),
                        _ => best,
                    };
                    dx[[b, at(ch, r0 + u, q0 + v)]] += d;
                }
            }
        }
    }
    dx
}

/// Batch norm's input gradient with the batch mean and variance treated as
/// constants: dy * gamma / sqrt(var + eps), per channel (`positions` values
/// per channel and sample; 1 for a flat layer).
pub fn batch_norm_stats_constant(
    x: ArrayView2<'_, f64>,
    delta: ArrayView2<'_, f64>,
    gamma: &[f64],
    positions: usize,
    eps: f64,
) -> Array2<f64> {
    let count = (x.nrows() * positions) as f64;
    let mut dx = Array2::zeros(x.raw_dim());
    for (ch, gain) in gamma.iter().enumerate() {
        let cols = ch * positions..(ch + 1) * positions;
        let values = || {
            x.rows()
                .into_iter()
                .flat_map(|r| r.to_vec()[cols.clone()].to_vec())
        };
        let mean = values().sum::<f64>() / count;
        let var = values().map(|v| (v - mean) * (v - mean)).sum::<f64>() / count;
        let scale = gain / (var + eps).sqrt();
        for b in 0..x.nrows() {
            for p in cols.clone() {
                dx[[b, p]] = delta[[b, p]] * scale;
            }
        }
    }
    dx
}

/// How a dropout backward goes wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropoutBack {
    /// dy * mask / (1 - rate).
    Correct,
    /// dy / (1 - rate): every unit gets a gradient, dropped or not.
    NoMask,
    /// dy * mask: the forward's 1/(1 - rate) scale is missing.
    NoScale,
}

/// dL/dX of inverted dropout with the 0/1 `mask` of the step.
pub fn dropout_input_grad(
    delta: ArrayView2<'_, f64>,
    mask: ArrayView2<'_, f64>,
    rate: f64,
    how: DropoutBack,
) -> Array2<f64> {
    let scale = 1.0 / (1.0 - rate);
    match how {
        DropoutBack::Correct => &delta * &mask * scale,
        DropoutBack::NoMask => &delta * scale,
        DropoutBack::NoScale => &delta * &mask,
    }
}

/// Flatten's backward unflattening channels-last: input element (c, h, w)
/// takes the gradient of flat position (h * W + w) * C + c, while the
/// forward flattened channels-first ((c * H + h) * W + w).
pub fn flatten_channels_last(
    delta: ArrayView2<'_, f64>,
    c: usize,
    h: usize,
    w: usize,
) -> Array2<f64> {
    let mut dx = Array2::zeros(delta.raw_dim());
    for b in 0..delta.nrows() {
        for ch in 0..c {
            for r in 0..h {
                for q in 0..w {
                    dx[[b, (ch * h + r) * w + q]] = delta[[b, (r * w + q) * c + ch]];
                }
            }
        }
    }
    dx
}

/// The input gradient `layer` sends down under mistake `m`, from its input,
/// its output gradient and what its forward pass cached; None when the
/// layer is not of the mistake's kind (the decorator then runs the correct
/// backward). Computed in f64, as the gradient checks run.
pub fn flawed_input_grad<F: Float>(
    m: CnnMistake,
    layer: &AnyLayer<F>,
    input: ArrayView2<'_, F>,
    delta: &Array2<F>,
    cache: &Cache<F>,
) -> Option<Array2<F>> {
    let d = delta.mapv(|v| v.f64());
    let out = match (m, layer) {
        (
            CnnMistake::ConvKernelNotRotated
            | CnnMistake::ConvBackwardPadding
            | CnnMistake::ConvBackwardStride,
            AnyLayer::Conv2d(c),
        ) => {
            let g = &c.geometry;
            let shape = ConvShape {
                c: g.c,
                h: g.h,
                w: g.w,
                o: c.weight.dim().0,
                ho: g.out_h,
                wo: g.out_w,
                kh: g.kh,
                kw: g.kw,
                stride: g.stride,
                pad_top: g.pad_top,
                pad_left: g.pad_left,
            };
            let how = match m {
                CnnMistake::ConvKernelNotRotated => ConvBack::KernelNotRotated,
                CnnMistake::ConvBackwardPadding => ConvBack::PaddingIgnored,
                _ => ConvBack::StrideIgnored,
            };
            let w: Vec<f64> = c.weight.iter().map(|v| v.f64()).collect();
            conv_input_grad(d.view(), &w, &shape, how)
        }
        (CnnMistake::MaxpoolWrongElement | CnnMistake::MaxpoolSpread, AnyLayer::Pool2d(p))
            if p.pool == PoolKind::Max =>
        {
            let g = &p.geometry;
            let shape = PoolShape {
                c: g.c,
                h: g.h,
                w: g.w,
                ho: g.out_h,
                wo: g.out_w,
                size: g.kh,
                stride: g.stride,
            };
            let how = if m == CnnMistake::MaxpoolSpread {
                PoolBack::Spread
            } else {
                PoolBack::WrongElement
            };
            max_pool_input_grad(input.mapv(|v| v.f64()).view(), d.view(), &shape, how)
        }
        (CnnMistake::BatchnormStatsConstant, AnyLayer::BatchNorm(b)) => {
            let gamma: Vec<f64> = b.weight.iter().map(|v| v.f64()).collect();
            batch_norm_stats_constant(
                input.mapv(|v| v.f64()).view(),
                d.view(),
                &gamma,
                b.shape.positions(),
                b.eps,
            )
        }
        (CnnMistake::DropoutNoMask | CnnMistake::DropoutNoScale, AnyLayer::Dropout(dr)) => {
            // The engine keeps the mask scaled (0 or 1/(1 - rate)).
            let mask = match Layer::<F>::draw(dr, cache) {
                Some(mask) if mask.dim() == delta.dim() => mask.mapv(|v| v.f64() * (1.0 - dr.rate)),
                _ => Array2::ones(delta.dim()),
            };
            let how = if m == CnnMistake::DropoutNoMask {
                DropoutBack::NoMask
            } else {
                DropoutBack::NoScale
            };
            dropout_input_grad(d.view(), mask.view(), dr.rate, how)
        }
        (CnnMistake::FlattenOrder, AnyLayer::Flatten(f)) => match f.input {
            Shape::Image { c, h, w } => flatten_channels_last(d.view(), c, h, w),
            Shape::Flat(_) => return None,
        },
        _ => return None,
    };
    Some(out.mapv(F::of))
}

/// The mistakes that change `layer`'s input gradient: those of its kind,
/// less a stride, padding, channel order or scale it does not have.
pub fn can_show<F: Float>(layer: &AnyLayer<F>) -> Vec<CnnMistake> {
    let shows = |m: CnnMistake| match (m, layer) {
        (CnnMistake::ConvKernelNotRotated, AnyLayer::Conv2d(_)) => true,
        (CnnMistake::ConvBackwardPadding, AnyLayer::Conv2d(c)) => {
            c.geometry.pad_top + c.geometry.pad_left > 0
        }
        (CnnMistake::ConvBackwardStride, AnyLayer::Conv2d(c)) => c.geometry.stride > 1,
        (CnnMistake::MaxpoolWrongElement, AnyLayer::Pool2d(p)) => {
            p.pool == PoolKind::Max && p.geometry.kh > 1
        }
        (CnnMistake::MaxpoolSpread, AnyLayer::Pool2d(p)) => {
            p.pool == PoolKind::Max && p.geometry.kh > 1
        }
        (CnnMistake::BatchnormStatsConstant, AnyLayer::BatchNorm(_)) => true,
        (CnnMistake::DropoutNoMask, AnyLayer::Dropout(d)) => d.rate > 0.0,
        (CnnMistake::DropoutNoScale, AnyLayer::Dropout(d)) => d.rate > 0.0,
        (CnnMistake::FlattenOrder, AnyLayer::Flatten(f)) => {
            matches!(f.input, Shape::Image { c, h, w } if c > 1 && h * w > 1)
        }
        _ => false,
    };
    let _ = Layer::<F>::kind(layer);
    CnnMistake::ALL.into_iter().filter(|&m| shows(m)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn random(rows: usize, cols: usize, rng: &mut ChaCha8Rng) -> Array2<f64> {
        Array2::from_shape_fn((rows, cols), |_| rng.random_range(-1.0..1.0))
    }

    /// A naive convolution forward (the definition, by loops): the truth the
    /// input gradient is differentiated against.
    fn conv_forward(x: &Array2<f64>, weight: &[f64], g: &ConvShape) -> Array2<f64> {
        let mut z = Array2::zeros((x.nrows(), g.o * g.ho * g.wo));
        for b in 0..x.nrows() {
            for o in 0..g.o {
                for i in 0..g.ho {
                    for j in 0..g.wo {
                        let mut acc = 0.0;
                        for ch in 0..g.c {
                            for u in 0..g.kh {
                                for v in 0..g.kw {
                                    let r = (i * g.stride + u) as isize - g.pad_top as isize;
                                    let q = (j * g.stride + v) as isize - g.pad_left as isize;
                                    if r >= 0 && q >= 0 && (r as usize) < g.h && (q as usize) < g.w
                                    {
                                        acc += weight[((o * g.c + ch) * g.kh + u) * g.kw + v]
                                            * x[[b, (ch * g.h + r as usize) * g.w + q as usize]];
                                    }
                                }
                            }
                        }
                        z[[b, (o * g.ho + i) * g.wo + j]] = acc;
                    }
                }
            }
        }
        z
    }

    /// d/dx of sum(delta * f(x)) by central differences (f linear in x for
    /// the convolution, so this is exact up to rounding).
    fn numeric(
        x: &Array2<f64>,
        delta: &Array2<f64>,
        f: impl Fn(&Array2<f64>) -> Array2<f64>,
    ) -> Array2<f64> {
        let mut g = Array2::zeros(x.raw_dim());
        let eps = 1e-6;
        for idx in 0..x.len() {
            let (r, c) = (idx / x.ncols(), idx % x.ncols());
            let mut p = x.clone();
            p[[r, c]] += eps;
            let mut m = x.clone();
            m[[r, c]] -= eps;
            g[[r, c]] = ((&f(&p) - &f(&m)) * delta).sum() / (2.0 * eps);
        }
        g
    }

    fn max_abs(a: &Array2<f64>, b: &Array2<f64>) -> f64 {
        (a - b).iter().fold(0.0, |m, v| m.max(v.abs()))
    }

    #[test]
    fn conv_input_gradient_matches_finite_differences_and_each_mistake_differs() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        // Stride 2, padding 1, a 3x2 kernel: every offset matters.
        let g = ConvShape {
            c: 2,
            h: 5,
            w: 6,
            o: 3,
            ho: 3,
            wo: 4,
            kh: 3,
            kw: 2,
            stride: 2,
            pad_top: 1,
            pad_left: 1,
        };
        let x = random(2, g.c * g.h * g.w, &mut rng);
        let w: Vec<f64> = random(1, g.o * g.c * g.kh * g.kw, &mut rng)
            .iter()
            .copied()
            .collect();
        let delta = random(2, g.o * g.ho * g.wo, &mut rng);
        let truth = numeric(&x, &delta, |x| conv_forward(x, &w, &g));
        let ours = conv_input_grad(delta.view(), &w, &g, ConvBack::Correct);
        assert!(max_abs(&ours, &truth) < 1e-8, "{}", max_abs(&ours, &truth));
        for how in [
            ConvBack::KernelNotRotated,
            ConvBack::PaddingIgnored,
            ConvBack::StrideIgnored,
        ] {
            let wrong = conv_input_grad(delta.view(), &w, &g, how);
            assert!(max_abs(&wrong, &truth) > 1e-2, "{how:?}");
        }
    }

    fn max_pool(x: &Array2<f64>, g: &PoolShape) -> Array2<f64> {
        let mut y = Array2::from_elem((x.nrows(), g.c * g.ho * g.wo), f64::NEG_INFINITY);
        for b in 0..x.nrows() {
            for ch in 0..g.c {
                for i in 0..g.ho {
                    for j in 0..g.wo {
                        for u in 0..g.size {
                            for v in 0..g.size {
                                let at = (ch * g.h + i * g.stride + u) * g.w + j * g.stride + v;
                                let o = (ch * g.ho + i) * g.wo + j;
                                y[[b, o]] = y[[b, o]].max(x[[b, at]]);
                            }
                        }
                    }
                }
            }
        }
        y
    }

    #[test]
    fn max_pool_routing_matches_finite_differences_and_each_mistake_differs() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let g = PoolShape {
            c: 2,
            h: 6,
            w: 6,
            ho: 3,
            wo: 3,
            size: 2,
            stride: 2,
        };
        let x = random(2, g.c * g.h * g.w, &mut rng);
        let delta = random(2, g.c * g.ho * g.wo, &mut rng);
        let truth = numeric(&x, &delta, |x| max_pool(x, &g));
        let ours = max_pool_input_grad(x.view(), delta.view(), &g, PoolBack::Correct);
        assert!(max_abs(&ours, &truth) < 1e-8);
        for how in [PoolBack::WrongElement, PoolBack::Spread] {
            let wrong = max_pool_input_grad(x.view(), delta.view(), &g, how);
            assert!(max_abs(&wrong, &truth) > 1e-2, "{how:?}");
        }
    }

    #[test]
    fn batch_norm_with_constant_statistics_misses_the_mean_and_variance_terms() {
        // Truth: the exact input gradient of y = gamma (x - mean) / sqrt(var + eps)
        // over the batch, by central differences; treating the statistics
        // as constants leaves out d mean/dx and d var/dx.
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let (positions, gamma, eps) = (3, [0.7, 1.3], 1e-5);
        let x = random(4, 2 * positions, &mut rng);
        let delta = random(4, 2 * positions, &mut rng);
        // Normalise `p` with the statistics of `stats` (p itself: the real
        // layer; the fixed batch x: statistics frozen).
        let bn = |p: &Array2<f64>, stats: &Array2<f64>| {
            let mut y = p.clone();
            for (ch, gain) in gamma.iter().enumerate() {
                let cols = ch * positions..(ch + 1) * positions;
                let v: Vec<f64> = stats
                    .rows()
                    .into_iter()
                    .flat_map(|r| r.to_vec()[cols.clone()].to_vec())
                    .collect();
                let mean = v.iter().sum::<f64>() / v.len() as f64;
                let var = v.iter().map(|a| (a - mean) * (a - mean)).sum::<f64>() / v.len() as f64;
                for b in 0..p.nrows() {
                    for c in cols.clone() {
                        y[[b, c]] = gain * (p[[b, c]] - mean) / (var + eps).sqrt();
                    }
                }
            }
            y
        };
        let truth = numeric(&x, &delta, |p| bn(p, p));
        let frozen = numeric(&x, &delta, |p| bn(p, &x));
        let wrong = batch_norm_stats_constant(x.view(), delta.view(), &gamma, positions, eps);
        assert!(
            max_abs(&wrong, &frozen) < 1e-7,
            "{}",
            max_abs(&wrong, &frozen)
        );
        assert!(max_abs(&wrong, &truth) > 1e-2);
    }

    #[test]
    fn dropout_and_flatten_mistakes_differ_from_the_correct_backward() {
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let delta = random(3, 12, &mut rng);
        let mask = Array2::from_shape_fn((3, 12), |(r, c)| f64::from(u8::from((r + c) % 3 != 0)));
        let right = dropout_input_grad(delta.view(), mask.view(), 0.25, DropoutBack::Correct);
        // Truth: y = x * mask / 0.75 is linear, so dL/dx = delta * mask / 0.75.
        assert!(max_abs(&right, &(&delta * &mask / 0.75)) < 1e-15);
        for how in [DropoutBack::NoMask, DropoutBack::NoScale] {
            let wrong = dropout_input_grad(delta.view(), mask.view(), 0.25, how);
            assert!(max_abs(&wrong, &right) > 1e-2, "{how:?}");
        }
        let wrong = flatten_channels_last(delta.view(), 3, 2, 2);
        assert!(max_abs(&wrong, &delta) > 1e-2);
        // One channel: channels-last and channels-first are the same order.
        assert_eq!(flatten_channels_last(delta.view(), 1, 3, 4), delta);
    }
}

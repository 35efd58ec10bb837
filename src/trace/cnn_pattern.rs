//! Names a convolutional-catalogue mistake behind a layer's divergent input
//! gradient (version 2 traces). When a layer's `grad_input` is the first
//! tensor that diverges, the layer's own backward to its input is wrong;
//! each mistake of its kind (engine::flaw::cnn, the injector's forms) is
//! recomputed from the reference's input and output gradient of that layer
//! (which still agree with the trace) and the one that reproduces the
//! trace's tensor within tolerance names it.

use super::compare::fits;
use super::spec::{LayerKind, LayerSpec, Padding};
use super::tolerance::Tolerance;
use crate::engine::flaw::cnn::{
    batch_norm_stats_constant, conv_input_grad, dropout_input_grad, flatten_channels_last,
    max_pool_input_grad, CnnMistake, ConvBack, ConvShape, DropoutBack, PoolBack, PoolShape,
};
use ndarray::{Array2, ArrayView2};

/// One sample's shape: channels, height, width (a flat vector is [n, 1, 1]).
pub type Chw = [usize; 3];

/// Default batch-norm epsilon (PyTorch's, the config's).
pub const BN_EPS: f64 = 1e-5;

/// The per-sample output shape of a layer on input `s`, None when the
/// layer does not fit it.
pub fn output_shape(l: &LayerSpec, s: Chw) -> Option<Chw> {
    let [c, h, w] = s;
    Some(match l.kind() {
        LayerKind::Dense => [l.units?, 1, 1],
        LayerKind::Conv2d => {
            let g = conv_shape(l, s)?;
            [g.o, g.ho, g.wo]
        }
        LayerKind::MaxPool2d | LayerKind::AvgPool2d => {
            let g = pool_shape(l, s)?;
            [c, g.ho, g.wo]
        }
        LayerKind::Flatten => [c * h * w, 1, 1],
        LayerKind::Dropout | LayerKind::BatchNorm | LayerKind::Activation => s,
    })
}

/// The input shape of every layer, from the trace's per-sample input shape
/// ([features] or [C, H, W]).
pub fn input_shapes(layers: &[LayerSpec], input: &[usize]) -> Option<Vec<Chw>> {
    let mut s = match *input {
        [n] => [n, 1, 1],
        [c, h, w] => [c, h, w],
        _ => return None,
    };
    let mut out = Vec::with_capacity(layers.len());
    for l in layers {
        out.push(s);
        s = output_shape(l, s)?;
    }
    Some(out)
}

/// A conv2d layer's geometry on input `s`. "same" pads (k - 1) / 2 before
/// and the rest after (PyTorch's rule at stride 1).
pub fn conv_shape(l: &LayerSpec, [c, h, w]: Chw) -> Option<ConvShape> {
    let [kh, kw] = l.kernel?.hw();
    let stride = l.stride.unwrap_or(1).max(1);
    let (pt, pb, pl, pr) = match &l.padding {
        None => (0, 0, 0, 0),
        Some(Padding::Zeros(p)) => (*p, *p, *p, *p),
        Some(Padding::Named(n)) if n == "same" => (
            (kh - 1) / 2,
            kh - 1 - (kh - 1) / 2,
            (kw - 1) / 2,
            kw - 1 - (kw - 1) / 2,
        ),
        Some(Padding::Named(_)) => (0, 0, 0, 0),
    };
    let ho = (h + pt + pb).checked_sub(kh)? / stride + 1;
    let wo = (w + pl + pr).checked_sub(kw)? / stride + 1;
    Some(ConvShape {
        c,
        h,
        w,
        o: l.filters?,
        ho,
        wo,
        kh,
        kw,
        stride,
        pad_top: pt,
        pad_left: pl,
    })
}

/// A pooling layer's geometry on input `s`.
pub fn pool_shape(l: &LayerSpec, [c, h, w]: Chw) -> Option<PoolShape> {
    let size = l.size?;
    let stride = l.stride.unwrap_or(size).max(1);
    Some(PoolShape {
        c,
        h,
        w,
        ho: h.checked_sub(size)? / stride + 1,
        wo: w.checked_sub(size)? / stride + 1,
        size,
        stride,
    })
}

/// What the mistake-matching needs of one layer of the reference step.
pub struct LayerState<'a> {
    pub spec: &'a LayerSpec,
    pub input_shape: Chw,
    /// The layer's input and dL/d(pre-activation) in the reference.
    pub input: ArrayView2<'a, f64>,
    pub delta: ArrayView2<'a, f64>,
    /// The weight (conv: [o, c, kh, kw] flat; batch norm: gamma).
    pub weight: Option<&'a [f64]>,
    /// Dropout: the step's 0/1 mask.
    pub mask: Option<ArrayView2<'a, f64>>,
}

/// The input gradient the layer would send down under catalogue mistake
/// `code`, None when the code is not of the layer's kind.
pub fn predict(code: &str, s: &LayerState<'_>) -> Option<Array2<f64>> {
    let l = s.spec;
    let [c, h, w] = s.input_shape;
    Some(match code {
        "conv-kernel-not-rotated" | "conv-backward-padding" | "conv-backward-stride" => {
            let g = conv_shape(l, s.input_shape)?;
            let how = match code {
                "conv-kernel-not-rotated" => ConvBack::KernelNotRotated,
                "conv-backward-padding" => ConvBack::PaddingIgnored,
                _ => ConvBack::StrideIgnored,
            };
            conv_input_grad(s.delta, s.weight?, &g, how)
        }
        "maxpool-wrong-element" | "maxpool-spread" => {
            let g = pool_shape(l, s.input_shape)?;
            let how = if code == "maxpool-spread" {
                PoolBack::Spread
            } else {
                PoolBack::WrongElement
            };
            max_pool_input_grad(s.input, s.delta, &g, how)
        }
        "batchnorm-stats-constant" => {
            batch_norm_stats_constant(s.input, s.delta, s.weight?, h * w, l.eps.unwrap_or(BN_EPS))
        }
        "dropout-no-mask" | "dropout-no-scale" => {
            let how = if code == "dropout-no-mask" {
                DropoutBack::NoMask
            } else {
                DropoutBack::NoScale
            };
            dropout_input_grad(s.delta, s.mask?, l.rate?, how)
        }
        "flatten-order" => flatten_channels_last(s.delta, c, h, w),
        _ => return None,
    })
}

/// Whether mistake `code` changes anything on this layer: a stride, a
/// padding, a channel order or a scale that is not there cannot be wrong.
pub fn applies(code: &str, s: &LayerState<'_>) -> bool {
    let [c, h, w] = s.input_shape;
    let conv = conv_shape(s.spec, s.input_shape);
    match code {
        "conv-backward-padding" => conv.is_some_and(|g| g.pad_top + g.pad_left > 0),
        "conv-backward-stride" => conv.is_some_and(|g| g.stride > 1),
        "flatten-order" => c > 1 && h * w > 1,
        "dropout-no-scale" => s.spec.rate.is_some_and(|r| r > 0.0),
        _ => true,
    }
}

/// The catalogue entry of the layer's kind whose input gradient, scaled by
/// `scale` (the trace's loss conventions), reproduces `actual`: (code,
/// explanation).
pub fn match_input_gradient(
    s: &LayerState<'_>,
    actual: &[f64],
    scale: f64,
    tol: &Tolerance,
) -> Option<(&'static str, &'static str)> {
    CnnMistake::ALL
        .iter()
        .filter(|m| m.layer_kind() == s.spec.kind().name() && applies(m.code(), s))
        .find_map(|m| {
            let p = predict(m.code(), s)?;
            let data: Vec<f64> = p.iter().map(|v| v * scale).collect();
            let shape = [p.nrows(), p.ncols()];
            fits(&data, actual, &shape, tol).then_some((m.code(), m.explanation()))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::spec::Pair;

    #[test]
    fn shapes_follow_pytorch_output_size_rules() {
        // Truth: torch.nn.Conv2d(2, 3, 3, stride=2, padding=1) on 5x5 gives
        // 3x3; MaxPool2d(2) on 5x5 gives 2x2 (floor); padding="same" keeps 7x6.
        let conv = LayerSpec {
            kind: Some(LayerKind::Conv2d),
            filters: Some(3),
            kernel: Some(Pair::One(3)),
            stride: Some(2),
            padding: Some(Padding::Zeros(1)),
            ..LayerSpec::default()
        };
        assert_eq!(output_shape(&conv, [2, 5, 5]), Some([3, 3, 3]));
        let pool = LayerSpec {
            kind: Some(LayerKind::MaxPool2d),
            size: Some(2),
            ..LayerSpec::default()
        };
        assert_eq!(output_shape(&pool, [3, 5, 5]), Some([3, 2, 2]));
        let same = LayerSpec {
            kind: Some(LayerKind::Conv2d),
            filters: Some(4),
            kernel: Some(Pair::Two([4, 3])),
            padding: Some(Padding::Named("same".into())),
            ..LayerSpec::default()
        };
        let g = conv_shape(&same, [1, 7, 6]).unwrap();
        assert_eq!((g.ho, g.wo, g.pad_top, g.pad_left), (7, 6, 1, 1));
        let flat = LayerSpec {
            kind: Some(LayerKind::Flatten),
            ..LayerSpec::default()
        };
        assert_eq!(
            input_shapes(&[conv, pool.clone(), flat], &[2, 5, 5]),
            Some(vec![[2, 5, 5], [3, 3, 3], [3, 1, 1]])
        );
        assert_eq!(output_shape(&pool, [3, 1, 1]), None);
    }
}

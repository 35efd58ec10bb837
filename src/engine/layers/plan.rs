//! The shapes a layer stack produces from an input shape, checked before
//! anything is built: a convolution or pooling needs an image, a kernel or
//! window must fit its input, no shape may shrink to nothing, and a dense
//! layer after an image layer needs an explicit flatten (flattening
//! silently would guess the user's intent). The config loader turns a
//! [`PlanError`] into an error naming the file, line and key.

use super::conv2d::sweep;
use crate::config::LayerConfig;
use crate::kinds::{LayerKind, Padding, Shape};

/// Why a layer cannot take the shape it is given.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanError {
    /// 0-based layer index.
    pub index: usize,
    /// The key the error is about ("kind", "kernel", "size", ...).
    pub key: &'static str,
    pub message: String,
}

/// The output shape of every layer, in order, for samples of `input`.
pub fn plan(input: Shape, configs: &[LayerConfig]) -> Result<Vec<Shape>, PlanError> {
    let mut shape = input;
    let mut shapes = Vec::with_capacity(configs.len());
    for (index, c) in configs.iter().enumerate() {
        let err = |key: &'static str, message: String| PlanError {
            index,
            key,
            message,
        };
        let from = if index == 0 {
            "the data".to_string()
        } else {
            format!("layer {index} ({})", configs[index - 1].kind)
        };
        let image = |what: &str| {
            match shape {
            Shape::Image { c, h, w } => Ok((c, h, w)),
            Shape::Flat(n) => Err(err(
                "kind",
                format!(
                    "{what} needs an image input (channels x height x width), but {from} gives {n} flat features{}",
                    if index == 0 {
                        "; CSV data can declare `input_shape = [C, H, W]` under [data]"
                    } else {
                        ""
                    }
                ),
            )),
        }
        };
        shape = match c.kind {
            LayerKind::Dense => match shape {
                Shape::Image { .. } if index > 0 => {
                    return Err(err(
                        "kind",
                        format!(
                            "a dense layer needs flat input, but {from} gives images of {shape}; add a [[model.layers]] with kind = \"flatten\" before it"
                        ),
                    ))
                }
                _ => Shape::Flat(c.units),
            },
            LayerKind::Conv2d {
                filters,
                kernel,
                stride,
                padding,
            } => {
                let (ch, h, w) = image("conv2d")?;
                if padding == Padding::Same && stride > 1 {
                    return Err(err(
                        "padding",
                        "padding = \"same\" needs stride = 1 (as in PyTorch); give the padding as a number instead".into(),
                    ));
                }
                let g = sweep((ch, h, w), kernel, stride, padding);
                if g.out_h == 0 || g.out_w == 0 {
                    return Err(err(
                        "kernel",
                        format!(
                            "a {}x{} kernel does not fit the {h}x{w} input from {from} with this padding; use a smaller kernel or pad it",
                            kernel.0, kernel.1
                        ),
                    ));
                }
                Shape::Image {
                    c: filters,
                    h: g.out_h,
                    w: g.out_w,
                }
            }
            LayerKind::Pool2d { size, stride, .. } => {
                let (ch, h, w) = image(c.kind.name())?;
                if size > h || size > w {
                    return Err(err(
                        "size",
                        format!("a {size}x{size} window does not fit the {h}x{w} input from {from}"),
                    ));
                }
                let stride = stride.max(1);
                Shape::Image {
                    c: ch,
                    h: (h - size) / stride + 1,
                    w: (w - size) / stride + 1,
                }
            }
            LayerKind::Flatten => Shape::Flat(shape.width()),
            LayerKind::Dropout { .. } | LayerKind::BatchNorm { .. } | LayerKind::Activation => shape,
        };
        if shape.width() == 0 {
            return Err(err(
                "kind",
                format!("this layer's output has no values ({shape})"),
            ));
        }
        shapes.push(shape);
    }
    Ok(shapes)
}

/// Scalar parameters of the layer `config` describes on samples of shape
/// `input` (dense: (fan_in + 1)·units; conv2d: filters·(in·kh·kw + 1);
/// batch norm: 2 per channel; the others none).
pub fn param_count(input: Shape, config: &LayerConfig) -> usize {
    match config.kind {
        LayerKind::Dense => (input.width().saturating_add(1)).saturating_mul(config.units),
        LayerKind::Conv2d {
            filters, kernel, ..
        } => filters.saturating_mul(
            input
                .channels()
                .saturating_mul(kernel.0)
                .saturating_mul(kernel.1)
                .saturating_add(1),
        ),
        LayerKind::BatchNorm { .. } => input.channels().saturating_mul(2),
        _ => 0,
    }
}

/// Extra values per sample a layer's forward or backward pass holds at
/// once besides its outputs: a convolution's im2col columns (in·kh·kw per
/// output position), both ways.
pub fn scratch_per_sample(input: Shape, output: Shape, config: &LayerConfig) -> usize {
    match config.kind {
        LayerKind::Conv2d { kernel, .. } => input
            .channels()
            .saturating_mul(kernel.0)
            .saturating_mul(kernel.1)
            .saturating_mul(output.positions())
            .saturating_mul(2),
        _ => 0,
    }
}

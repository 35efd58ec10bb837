//! The shapes a layer stack produces from an input shape, checked before
//! anything is built. Each kind checks its own input ([`Settings::output_shape`]:
//! a convolution or pooling needs an image, a kernel or window must fit, a
//! dense layer after an image layer needs an explicit flatten); here only
//! what holds for every kind: no shape may shrink to nothing. The config
//! loader turns a [`PlanError`] into an error naming the file, line and key.

use super::kind::{At, LayerConfig, PlanError};
use crate::kinds::Shape;

/// The output shape of every layer, in order, for samples of `input`.
pub fn plan(input: Shape, configs: &[LayerConfig]) -> Result<Vec<Shape>, PlanError> {
    let mut shape = input;
    let mut shapes = Vec::with_capacity(configs.len());
    for (index, c) in configs.iter().enumerate() {
        let from = match index.checked_sub(1) {
            None => "the data".to_string(),
            Some(below) => format!("layer {index} ({})", configs[below].kind.name()),
        };
        let at = At {
            index,
            input: shape,
            from,
        };
        shape = c.kind.output_shape(&at)?;
        if shape.width() == 0 {
            return Err(at.error(
                "kind",
                format!("this layer's output has no values ({shape})"),
            ));
        }
        shapes.push(shape);
    }
    Ok(shapes)
}

/// Scalar parameters of the layer `config` describes on samples of shape
/// `input` (the kind's [`super::Settings::param_count`]).
pub fn param_count(input: Shape, config: &LayerConfig) -> usize {
    config.kind.param_count(input)
}

/// Extra values per sample a layer's forward or backward pass holds at
/// once besides its outputs (a convolution's im2col columns).
pub fn scratch_per_sample(input: Shape, output: Shape, config: &LayerConfig) -> usize {
    config.kind.scratch_per_sample(input, output)
}

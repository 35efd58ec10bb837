//! Builds the engine network a version 2 trace describes: one layer per
//! `[[layers]]` table through the engine's own constructors (the run
//! config's layer kinds, shapes checked by the engine's planner), then every
//! named parameter tensor read from its file into the layer, and each
//! dropout layer's mask, scaled as the engine keeps it (0 or 1/(1 - rate)).

use super::error::TraceError;
use super::spec::{LayerKind as SpecKind, LayerSpec, Padding, TraceSpec};
use super::tensor::{read, shape_label};
use crate::config::{Init, LayerConfig};
use crate::engine::layers::plan::plan;
use crate::engine::layers::Layer;
use crate::engine::Network;
use crate::kinds::{LayerKind, Padding as EnginePadding, PoolKind, Shape};
use ndarray::{Array2, ArrayD, IxDyn};
use std::path::Path;

/// The network, the per-layer dropout masks (engine scale) and the layer
/// and file of a dense weight stored in the other layout than declared.
pub struct Built {
    pub net: Network<f64>,
    pub masks: Vec<Option<Array2<f64>>>,
    pub layout_issue: Option<(usize, String, Vec<usize>)>,
    pub exact_f32: bool,
    pub dtypes: Vec<super::tensor::Dtype>,
}

/// The engine's config entry for one trace layer.
fn config(l: &LayerSpec) -> LayerConfig {
    let kind = match l.kind() {
        SpecKind::Dense => LayerKind::Dense,
        SpecKind::Conv2d => LayerKind::Conv2d {
            filters: l.filters.unwrap_or(0),
            kernel: l.kernel.map_or((0, 0), |k| {
                let [h, w] = k.hw();
                (h, w)
            }),
            stride: l.stride.unwrap_or(1),
            padding: match &l.padding {
                None => EnginePadding::Valid,
                Some(Padding::Zeros(p)) => EnginePadding::Zeros(*p),
                Some(Padding::Named(n)) if n == "same" => EnginePadding::Same,
                Some(Padding::Named(_)) => EnginePadding::Valid,
            },
        },
        SpecKind::MaxPool2d | SpecKind::AvgPool2d => LayerKind::Pool2d {
            pool: if l.kind() == SpecKind::MaxPool2d {
                PoolKind::Max
            } else {
                PoolKind::Avg
            },
            size: l.size.unwrap_or(0),
            stride: l.stride.or(l.size).unwrap_or(0),
        },
        SpecKind::Flatten => LayerKind::Flatten,
        SpecKind::Dropout => LayerKind::Dropout {
            rate: l.rate.unwrap_or(0.0),
        },
        SpecKind::BatchNorm => LayerKind::BatchNorm {
            momentum: l.momentum.unwrap_or(0.1),
            eps: l.eps.unwrap_or(super::cnn_pattern::BN_EPS),
        },
        SpecKind::Activation => LayerKind::Activation,
    };
    LayerConfig {
        kind,
        units: l.units.unwrap_or(0),
        activation: l.activation(),
        init: Init::XavierUniform,
        bias_init: 0.0,
    }
}

/// The per-sample input shape: declared, else the input file's trailing
/// dimensions ([C, H, W] for a 4-D file).
pub fn input_shape(declared: Option<&[usize]>, raw_shape: &[usize]) -> Shape {
    let dims = declared.unwrap_or(raw_shape.get(1..).unwrap_or(&[]));
    match *dims {
        [c, h, w] => Shape::Image { c, h, w },
        _ => Shape::Flat(dims.iter().product()),
    }
}

pub fn build(
    dir: &Path,
    spec: &TraceSpec,
    input: Shape,
    batch: usize,
) -> Result<Built, TraceError> {
    let toml = dir.join("trace.toml");
    let configs: Vec<LayerConfig> = spec.layers.iter().map(config).collect();
    plan(input, &configs).map_err(|e| {
        TraceError::file(
            &toml,
            format!("layers[{}]: {}: {}", e.index + 1, e.key, e.message),
        )
    })?;
    let mut net = Network::<f64>::init(input, &configs, 0);
    let mut masks = Vec::new();
    let mut layout_issue = None;
    let mut exact_f32 = true;
    let mut dtypes = Vec::new();
    for (i, (ls, layer)) in spec.layers.iter().zip(net.layers.iter_mut()).enumerate() {
        let dense = ls.kind() == SpecKind::Dense;
        for p in layer.params_mut() {
            let mut value = p.value;
            let Some(file) = ls.param_file(p.name) else {
                return Err(TraceError::file(
                    &toml,
                    format!("layers[{}]: missing params.{}", i + 1, p.name),
                ));
            };
            let raw = read(dir, file)?;
            super::load::finite(dir, file, &raw)?;
            dtypes.push(raw.dtype);
            exact_f32 &= super::load::is_f32_exact(&raw);
            let want = value.shape().to_vec();
            let data: Option<Vec<f64>> = if dense && want.len() == 2 {
                // The engine keeps dense weights [fan_in, units].
                let (fan_in, units) = (want[0], want[1]);
                let (m, fitted) =
                    super::load::weight_in_out(dir, file, &raw, fan_in, units, spec.weight_layout)?;
                if fitted != spec.weight_layout && layout_issue.is_none() {
                    layout_issue = Some((i + 1, file.clone(), raw.shape.clone()));
                }
                Some(m.iter().copied().collect())
            } else if raw.data.len() == value.len()
                && (raw.shape == want
                    || raw.vector_len() == Some(value.len()) && want.len() == 1
                    || raw.shape.len() == 2 && raw.shape[0] == want[0])
            {
                // Exact shape, a vector as row/column, or a CSV's 2-D
                // [out, in·kh·kw] form of a conv weight (C order).
                Some(raw.data.clone())
            } else {
                None
            };
            let Some(data) = data else {
                return Err(TraceError::file(
                    &dir.join(file),
                    format!(
                        "shape {}, expected {} for the {} of layer {} ({})",
                        shape_label(&raw.shape),
                        shape_label(&want),
                        p.name,
                        i + 1,
                        ls.kind().name()
                    ),
                ));
            };
            let arr = ArrayD::from_shape_vec(IxDyn(&want), data)
                .map_err(|e| TraceError::file(&dir.join(file), e.to_string()))?;
            value.assign(&arr);
        }
        let mask = match (&ls.mask, ls.rate) {
            (Some(file), Some(rate)) => {
                let raw = read(dir, file)?;
                super::load::finite(dir, file, &raw)?;
                let m = raw
                    .rows()
                    .filter(|m| m.dim() == (batch, layer.input_width()));
                let Some(m) = m else {
                    return Err(TraceError::file(
                        &dir.join(file),
                        format!(
                            "shape {}, expected the layer input's shape ({batch} samples x {} values)",
                            shape_label(&raw.shape),
                            layer.input_width()
                        ),
                    ));
                };
                if let Some(v) = m.iter().find(|v| **v != 0.0 && **v != 1.0) {
                    return Err(TraceError::file(
                        &dir.join(file),
                        format!("value {v}: a dropout mask holds 0 (dropped) and 1 (kept)"),
                    ));
                }
                Some(m.mapv(|v| v / (1.0 - rate)))
            }
            _ => None,
        };
        masks.push(mask);
    }
    Ok(Built {
        net,
        masks,
        layout_issue,
        exact_f32,
        dtypes,
    })
}

//! Builds the engine network a version 2 trace describes: one layer per
//! `[[layers]]` table through the engine's own constructors (the run
//! config's layer kinds, shapes checked by the engine's planner), then every
//! named parameter tensor read from its file into the layer, and each
//! dropout layer's mask, scaled as the engine keeps it (0 or 1/(1 - rate)).

use super::error::TraceError;
use super::spec::{LayerSpec, Padding, TraceSpec};
use super::tensor::{read, shape_label};
use crate::engine::layers::plan::plan;
use crate::engine::layers::{registry, Entry, Layer, LayerConfig, NameOrCount};
use crate::engine::Network;
use crate::kinds::{Init, Shape};
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

/// The engine's config entry for one trace layer: the kind (named as in
/// a run config) reads its own keys from the spec through [`SpecEntry`].
fn config(l: &LayerSpec) -> Result<LayerConfig, String> {
    let name = l.kind().name();
    let kind = registry::parse(name, &SpecEntry(l))
        .ok_or_else(|| format!("unknown layer kind {name:?}"))??;
    Ok(LayerConfig::new(
        kind,
        l.activation(),
        Init::XavierUniform,
        0.0,
    ))
}

/// A trace layer's keys as a layer kind reads them. Ranges were checked
/// when the spec was read (`spec::validate`); a value out of range here is
/// reported all the same.
struct SpecEntry<'a>(&'a LayerSpec);

impl Entry for SpecEntry<'_> {
    type Error = String;

    fn count(&self, key: &str, min: usize, max: usize) -> Result<Option<usize>, String> {
        let value = match key {
            "units" => self.0.units,
            "filters" => self.0.filters,
            "stride" => self.0.stride,
            "size" => self.0.size,
            _ => None,
        };
        match value {
            Some(n) if n < min || n > max => Err(format!("{key}: {n} is not in {min}..={max}")),
            other => Ok(other),
        }
    }

    fn count_pair(
        &self,
        key: &str,
        min: usize,
        max: usize,
    ) -> Result<Option<(usize, usize)>, String> {
        let value = match key {
            "kernel" => self.0.kernel.map(|k| k.hw()),
            _ => None,
        };
        match value {
            Some(hw) if hw.iter().any(|&n| n < min || n > max) => {
                Err(format!("{key}: {hw:?} is not in {min}..={max}"))
            }
            other => Ok(other.map(|[h, w]| (h, w))),
        }
    }

    fn number(&self, key: &str, ok: fn(f64) -> bool, what: &str) -> Result<Option<f64>, String> {
        let value = match key {
            "rate" => self.0.rate,
            "eps" => self.0.eps,
            "momentum" => self.0.momentum,
            _ => None,
        };
        match value {
            Some(x) if !ok(x) => Err(format!("{key}: must be {what}, found {x}")),
            other => Ok(other),
        }
    }

    fn name_or_count<T: Copy>(
        &self,
        key: &str,
        names: &[(&str, T)],
        max: usize,
    ) -> Result<Option<NameOrCount<T>>, String> {
        match (key, &self.0.padding) {
            ("padding", Some(Padding::Zeros(n))) if *n <= max => Ok(Some(NameOrCount::Count(*n))),
            ("padding", Some(Padding::Zeros(n))) => Err(format!("{key}: {n} is above {max}")),
            ("padding", Some(Padding::Named(name))) => names
                .iter()
                .find(|(n, _)| n == name)
                .map(|&(_, v)| Some(NameOrCount::Name(v)))
                .ok_or_else(|| format!("{key}: unknown value {name:?}")),
            _ => Ok(None),
        }
    }

    fn missing(&self, key: &str) -> String {
        format!("missing `{key}`")
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
    let configs = spec
        .layers
        .iter()
        .enumerate()
        .map(|(i, l)| {
            config(l).map_err(|m| TraceError::file(&toml, format!("layers[{}]: {m}", i + 1)))
        })
        .collect::<Result<Vec<LayerConfig>, TraceError>>()?;
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
        let dense = layer.as_dense().is_some();
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

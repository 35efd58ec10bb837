//! Loads a trace directory into what the recompute needs: the network in
//! the engine's layout (in_out), the batch, the declared conventions and
//! the computed tensors the trace provides, in computation order. Inputs
//! and parameters must be consistent and finite (else exit 2); a weight
//! that only fits the other layout is accepted and recorded, because that
//! is a finding about the exporter, not an unreadable trace.

use super::error::TraceError;
use super::spec::{Layout, Precision, TraceSpec};
use super::tensor::{read, shape_label, Dtype, RawTensor, TensorKind};
use crate::engine::network::Network;
use crate::engine::{AnyLayer, Dense};
use ndarray::{Array1, Array2};
use std::path::{Path, PathBuf};

/// A computed tensor the trace provides.
#[derive(Debug, Clone)]
pub struct Provided {
    /// 1-based layer; None for the loss value.
    pub layer: Option<usize>,
    pub kind: TensorKind,
    /// The file, relative to the trace directory ("trace.toml" for the loss).
    pub file: String,
    pub raw: RawTensor,
}

/// A layer whose weight only fits the layout that was not declared.
#[derive(Debug, Clone, PartialEq)]
pub struct LayoutIssue {
    pub layer: usize,
    pub file: String,
    pub shape: Vec<usize>,
    pub declared: Layout,
}

/// A loaded trace.
#[derive(Debug, Clone)]
pub struct Trace {
    pub dir: PathBuf,
    pub spec: TraceSpec,
    pub precision: Precision,
    /// The network in the engine's in_out layout, in f64.
    pub net: Network<f64>,
    pub x: Array2<f64>,
    pub t: Array2<f64>,
    /// The layout the weights are actually stored in.
    pub layout: Layout,
    pub layout_issue: Option<LayoutIssue>,
    /// Computed tensors in computation order.
    pub tensors: Vec<Provided>,
    /// Each dropout layer's mask (engine scale: 0 or 1/(1 - rate)); empty
    /// for version 1.
    pub masks: Vec<Option<Array2<f64>>>,
}

impl Trace {
    pub fn batch(&self) -> usize {
        self.x.nrows()
    }
}

/// Reads `dir/trace.toml` and every file it names.
pub fn load(dir: &Path) -> Result<Trace, TraceError> {
    let toml_path = dir.join("trace.toml");
    let spec = TraceSpec::read(&toml_path)?;
    let x_raw = read(dir, &spec.input)?;
    let x = if spec.version == 1 {
        matrix_any(dir, &spec.input, &x_raw, "[batch, features]")?
    } else {
        batch_rows(dir, &spec.input, &x_raw, spec.input_shape.as_deref())?
    };
    finite(dir, &spec.input, &x_raw)?;
    let mut dtypes = vec![x_raw.dtype];
    let mut exact_f32 = is_f32_exact(&x_raw);
    let (net, masks, issue, fan_in) = if spec.version == 1 {
        let mut layers = Vec::new();
        let mut issue = None;
        let mut fan_in = x.ncols();
        for (i, ls) in spec.layers.iter().enumerate() {
            let (Some(bias), Some(weight)) = (ls.param_file("bias"), ls.param_file("weight"))
            else {
                return Err(TraceError::file(
                    &toml_path,
                    format!("layers[{}]: missing the weight or bias file", i + 1),
                ));
            };
            let b_raw = read(dir, bias)?;
            let units = b_raw.vector_len().ok_or_else(|| {
                TraceError::file(
                    &dir.join(bias),
                    format!(
                        "shape {}: a bias must be a vector",
                        shape_label(&b_raw.shape)
                    ),
                )
            })?;
            finite(dir, bias, &b_raw)?;
            let w_raw = read(dir, weight)?;
            finite(dir, weight, &w_raw)?;
            let (weight_m, fitted) =
                weight_in_out(dir, weight, &w_raw, fan_in, units, spec.weight_layout)?;
            if fitted != spec.weight_layout && issue.is_none() {
                issue = Some(LayoutIssue {
                    layer: i + 1,
                    file: weight.clone(),
                    shape: w_raw.shape.clone(),
                    declared: spec.weight_layout,
                });
            }
            dtypes.extend([w_raw.dtype, b_raw.dtype]);
            exact_f32 &= is_f32_exact(&w_raw) && is_f32_exact(&b_raw);
            layers.push(Dense {
                weight: weight_m,
                bias: Array1::from(b_raw.data),
                activation: ls.activation(),
            });
            fan_in = units;
        }
        let net = Network {
            layers: layers.into_iter().map(AnyLayer::Dense).collect(),
        };
        (net, Vec::new(), issue, fan_in)
    } else {
        let input = super::build::input_shape(spec.input_shape.as_deref(), &x_raw.shape);
        let b = super::build::build(dir, &spec, input, x.nrows())?;
        dtypes.extend(b.dtypes);
        exact_f32 &= b.exact_f32;
        let issue = b.layout_issue.map(|(layer, file, shape)| LayoutIssue {
            layer,
            file,
            shape,
            declared: spec.weight_layout,
        });
        let fan_in = b.net.output_width();
        (b.net, b.masks, issue, fan_in)
    };
    let t_raw = read(dir, &spec.target)?;
    finite(dir, &spec.target, &t_raw)?;
    let t = t_raw.matrix(x.nrows(), fan_in).ok_or_else(|| {
        TraceError::file(
            &dir.join(&spec.target),
            format!(
                "shape {}, expected [batch, outputs] = [{}, {fan_in}] ({} rows in {}, {fan_in} units in the last layer)",
                shape_label(&t_raw.shape),
                x.nrows(),
                x.nrows(),
                spec.input
            ),
        )
    })?;
    let tensors = provided(dir, &spec)?;
    dtypes.extend(tensors.iter().map(|p| p.raw.dtype));
    let precision = spec.precision.unwrap_or(
        if dtypes.contains(&Dtype::F32) || (!dtypes.contains(&Dtype::F64) && exact_f32) {
            Precision::F32
        } else {
            Precision::F64
        },
    );
    let layout = issue
        .as_ref()
        .map_or(spec.weight_layout, |_| spec.weight_layout.other());
    Ok(Trace {
        dir: dir.to_path_buf(),
        spec,
        precision,
        net,
        masks,
        x,
        t,
        layout,
        layout_issue: issue,
        tensors,
    })
}

/// The weight as [fan_in, units] and the layout it was found in.
pub(super) fn weight_in_out(
    dir: &Path,
    file: &str,
    raw: &RawTensor,
    fan_in: usize,
    units: usize,
    declared: Layout,
) -> Result<(Array2<f64>, Layout), TraceError> {
    let as_layout = |layout| match layout {
        Layout::InOut => raw.matrix(fan_in, units),
        // Standard (row-major) layout: the finite-difference probe perturbs
        // the weight through its contiguous slice.
        Layout::OutIn => raw
            .matrix(units, fan_in)
            .map(|w| w.t().as_standard_layout().into_owned()),
    };
    if let Some(w) = as_layout(declared) {
        return Ok((w, declared));
    }
    if let Some(w) = as_layout(declared.other()) {
        return Ok((w, declared.other()));
    }
    let expected = match declared {
        Layout::OutIn => [units, fan_in],
        Layout::InOut => [fan_in, units],
    };
    Err(TraceError::file(
        &dir.join(file),
        format!(
            "shape {}, expected {} for weight_layout {} (fan_in {fan_in} from the previous layer or the input, {units} units from the bias)",
            shape_label(&raw.shape),
            shape_label(&expected),
            declared.name()
        ),
    ))
}

/// Version 2 input: [batch, ...] with any per-sample shape (NCHW images
/// arrive 4-D), as the engine's [batch, features] rows in C order; the
/// declared `input_shape` must hold as many values per sample.
fn batch_rows(
    dir: &Path,
    file: &str,
    raw: &RawTensor,
    declared: Option<&[usize]>,
) -> Result<Array2<f64>, TraceError> {
    let per_sample: usize = raw.shape.iter().skip(1).product();
    let rows = raw.shape.first().copied().unwrap_or(0);
    if raw.shape.len() < 2 || rows == 0 || per_sample == 0 {
        return Err(TraceError::file(
            &dir.join(file),
            format!(
                "shape {}, expected [batch, features] or [batch, C, H, W]",
                shape_label(&raw.shape)
            ),
        ));
    }
    if let Some(d) = declared {
        let want: usize = d.iter().product();
        if want != per_sample || (raw.shape.len() > 2 && raw.shape[1..] != *d) {
            return Err(TraceError::file(
                &dir.join(file),
                format!(
                    "shape {}, but trace.toml declares input_shape = {} per sample",
                    shape_label(&raw.shape),
                    shape_label(d)
                ),
            ));
        }
    }
    raw.rows()
        .ok_or_else(|| TraceError::file(&dir.join(file), "inconsistent data length"))
}

fn matrix_any(
    dir: &Path,
    file: &str,
    raw: &RawTensor,
    what: &str,
) -> Result<Array2<f64>, TraceError> {
    match raw.shape[..] {
        [r, c] if r > 0 && c > 0 => raw
            .matrix(r, c)
            .ok_or_else(|| TraceError::file(&dir.join(file), "inconsistent data length")),
        _ => Err(TraceError::file(
            &dir.join(file),
            format!(
                "shape {}, expected a 2-D {what} array",
                shape_label(&raw.shape)
            ),
        )),
    }
}

/// Inputs and parameters must be finite: the step cannot be recomputed
/// from NaN, and a NaN there is not a backprop bug.
pub(super) fn finite(dir: &Path, file: &str, raw: &RawTensor) -> Result<(), TraceError> {
    match raw.data.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(flat) => Err(TraceError::file(
            &dir.join(file),
            format!(
                "non-finite value {} at index {:?}: inputs, targets and parameters must be finite to recompute the step",
                raw.data[flat],
                super::compare::unravel(flat, &raw.shape)
            ),
        )),
    }
}

/// Whether every value is a float32 written in decimal (CSV from an f32
/// implementation): within 1e-8 relative of the nearest f32, where 9
/// significant digits put it (at most 5e-9 off). f32 values are 1.2e-7
/// apart (relative), so a random f64 lies that close to one with
/// probability ~1/6 per value: a whole trace never does by chance.
pub(super) fn is_f32_exact(raw: &RawTensor) -> bool {
    raw.data
        .iter()
        .all(|&v| (f64::from(v as f32) - v).abs() <= 1e-8 * v.abs())
}

/// The computed tensors named in the spec, in computation order: forward
/// per layer, the loss, then backward from the output layer down.
fn provided(dir: &Path, spec: &TraceSpec) -> Result<Vec<Provided>, TraceError> {
    let mut out = Vec::new();
    let mut add =
        |layer: usize, kind: TensorKind, file: &Option<String>| -> Result<(), TraceError> {
            if let Some(f) = file {
                out.push(Provided {
                    layer: Some(layer),
                    kind,
                    file: f.clone(),
                    raw: read(dir, f)?,
                });
            }
            Ok(())
        };
    for (i, l) in spec.layers.iter().enumerate() {
        add(i + 1, TensorKind::PreActivation, &l.pre_activation)?;
        add(i + 1, TensorKind::Output, &l.output)?;
    }
    for (i, l) in spec.layers.iter().enumerate().rev() {
        add(i + 1, TensorKind::Delta, &l.delta)?;
        add(
            i + 1,
            TensorKind::GradWeight,
            &l.grad_file("weight").cloned(),
        )?;
        add(i + 1, TensorKind::GradBias, &l.grad_file("bias").cloned())?;
        add(i + 1, TensorKind::GradInput, &l.grad_input)?;
    }
    if let Some(v) = spec.loss_value {
        let loss = Provided {
            layer: None,
            kind: TensorKind::LossValue,
            file: "trace.toml".into(),
            raw: RawTensor {
                shape: vec![1],
                data: vec![v],
                dtype: Dtype::Text,
            },
        };
        let at = 2 * spec.layers.len();
        let forward = out
            .iter()
            .take_while(|p| p.kind.is_forward())
            .count()
            .min(at);
        out.insert(forward, loss);
    }
    Ok(out)
}

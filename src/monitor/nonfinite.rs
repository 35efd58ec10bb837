//! The non-finite tracer: watches every operation's output and, at the first
//! NaN or Inf, names the operation that produced it from finite inputs, the
//! element, what went wrong numerically and how large the inputs were. It
//! then stops training, because every later number is poisoned.
//!
//! Because every operation's output is checked in computation order, the
//! first non-finite output found always comes from finite inputs: its origin
//! rather than a downstream symptom (PyTorch's anomaly mode, by contrast,
//! only watches backward and can blame a node downstream of the source).

use super::hook::{Event, Flow, Hook, Phase};
use crate::config::LossKind;
use crate::engine::activation::Activation;
use crate::engine::float::all_finite;
use crate::engine::loss::sample_loss;
use crate::engine::Float;
use ndarray::{ArrayView1, ArrayView2, ArrayViewD, Ix2};
use serde::{Deserialize, Serialize};

/// The largest finite magnitude among one input of the failing operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputMagnitude {
    pub name: String,
    #[serde(deserialize_with = "crate::nullnum::f64_or_nan")]
    pub max_abs: f64,
}

/// Where the first non-finite value came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NanOrigin {
    pub step: usize,
    /// 1-based; `None` for the loss.
    pub layer: Option<usize>,
    pub phase: Phase,
    /// overflow, inf-inf, 0*inf, 0/0, inf/inf, log of 0, non-finite input.
    pub kind: String,
    /// The tensor that first held a non-finite value.
    pub tensor: String,
    /// Its element index (row, column).
    pub index: Vec<usize>,
    pub sample: Option<usize>,
    pub unit: Option<usize>,
    /// "NaN", "inf" or "-inf".
    pub value: String,
    pub inputs: Vec<InputMagnitude>,
    /// One sentence a person can act on.
    pub detail: String,
}

/// Finds the first non-finite value and stops training there.
#[derive(Debug, Default)]
pub struct NonFiniteTracer {
    origin: Option<NanOrigin>,
}

impl NonFiniteTracer {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn origin(&self) -> Option<&NanOrigin> {
        self.origin.as_ref()
    }

    pub fn into_origin(self) -> Option<NanOrigin> {
        self.origin
    }
}

impl<F: Float> Hook<F> for NonFiniteTracer {
    fn on_event(&mut self, step: usize, event: &Event<'_, F>) -> Flow {
        if self.origin.is_some() {
            return Flow::Stop;
        }
        self.origin = trace(step, event);
        if self.origin.is_some() {
            Flow::Stop
        } else {
            Flow::Continue
        }
    }
}

fn trace<F: Float>(step: usize, event: &Event<'_, F>) -> Option<NanOrigin> {
    match *event {
        Event::ForwardLinear {
            layer,
            kind,
            input,
            ref weight,
            ref bias,
            pre,
        } => {
            if layer == 1 {
                if let Some((s, i)) = first_nonfinite(input) {
                    return Some(input_origin(step, s, i, input[[s, i]]));
                }
            }
            let (s, j) = first_nonfinite(pre.view())?;
            let phase = Phase::forward_of(kind);
            let (class, inputs) = match (weight, bias) {
                (Some(weight), Some(bias)) => (
                    classify_dot(input.row(s), weight.column(j), bias[j]),
                    vec![
                        mag(format!("input row {s}"), input.row(s)),
                        mag(format!("weight column {j}"), weight.column(j)),
                        mag(format!("bias[{j}]"), bias.slice(ndarray::s![j..=j])),
                    ],
                ),
                // Other kinds: a sum that overflowed, or (batch norm) a
                // variance that did.
                _ => (
                    if pre[[s, j]].is_nan() {
                        "inf-inf"
                    } else {
                        "overflow"
                    },
                    vec![mag(format!("input row {s}"), input.row(s))],
                ),
            };
            Some(origin(
                step,
                Some(layer),
                phase,
                class,
                "pre_activation",
                (s, j),
                pre[[s, j]],
                inputs,
            ))
        }
        Event::ForwardActivation {
            layer,
            activation,
            pre,
            act,
        } => {
            let (s, j) = first_nonfinite(act.view())?;
            let kind = if act[[s, j]].is_nan() {
                activation_nan_kind(activation)
            } else {
                "overflow"
            };
            let inputs = vec![mag(format!("pre-activation row {s}"), pre.row(s))];
            Some(origin(
                step,
                Some(layer),
                Phase::ForwardActivation,
                kind,
                "activation",
                (s, j),
                act[[s, j]],
                inputs,
            ))
        }
        Event::Loss {
            kind,
            output,
            pre,
            act,
            targets,
            loss,
        } => {
            if loss.is_finite() {
                return None;
            }
            let s = (0..act.nrows())
                .find(|&s| {
                    !sample_loss(kind, output, pre.row(s), act.row(s), targets.row(s)).is_finite()
                })
                .unwrap_or(0);
            let what = loss_kind(kind, output, act.row(s), targets.row(s));
            let inputs = vec![
                mag(format!("output row {s}"), act.row(s)),
                mag(format!("pre-activation row {s}"), pre.row(s)),
            ];
            let mut o = origin(
                step,
                None,
                Phase::Loss,
                what,
                "loss",
                (s, 0),
                F::of(loss),
                inputs,
            );
            o.index = vec![s];
            o.unit = None;
            Some(o)
        }
        Event::BackwardOutput {
            layer,
            act,
            targets,
            delta,
            ..
        } => {
            let (s, j) = first_nonfinite(delta.view())?;
            let kind = if delta[[s, j]].is_nan() {
                "inf-inf"
            } else {
                "overflow"
            };
            let inputs = vec![
                mag(format!("output row {s}"), act.row(s)),
                mag(format!("target row {s}"), targets.row(s)),
            ];
            Some(origin(
                step,
                Some(layer),
                Phase::BackwardOutput,
                kind,
                "delta",
                (s, j),
                delta[[s, j]],
                inputs,
            ))
        }
        Event::BackwardDelta {
            layer,
            activation,
            next_kind,
            delta_next,
            ref weight_next,
            pre,
            delta,
        } => {
            let (s, j) = first_nonfinite(delta.view())?;
            let slope = activation.derivative(pre[[s, j]]);
            let mut inputs = vec![mag(format!("upstream delta row {s}"), delta_next.row(s))];
            let mut kind = match weight_next {
                Some(w) => {
                    inputs.push(mag(format!("next weight row {j}"), w.row(j)));
                    classify_dot(delta_next.row(s), w.row(j), F::zero())
                }
                None => "overflow",
            };
            if kind == "overflow" && slope == F::zero() {
                kind = "0*inf";
            }
            inputs.push(InputMagnitude {
                name: "activation slope f'(z)".into(),
                max_abs: slope.f64().abs(),
            });
            Some(origin(
                step,
                Some(layer),
                Phase::backward_of(next_kind),
                kind,
                "delta",
                (s, j),
                delta[[s, j]],
                inputs,
            ))
        }
        Event::WeightGrad {
            layer,
            input,
            delta,
            ref grad_w,
            ref grad_b,
            grad_w_norm,
            grad_b_norm,
            ..
        } => {
            // A finite sum of squares proves every element finite (a NaN or
            // Inf element makes it non-finite), so the big tensors are only
            // scanned when the loop's norm says something is wrong.
            if (grad_w_norm + grad_b_norm).is_finite() {
                return None;
            }
            let dense_w = grad_w
                .as_ref()
                .and_then(|g| g.view().into_dimensionality::<Ix2>().ok())
                .filter(|g| g.nrows() == input.ncols() && g.ncols() == delta.ncols());
            if let Some(grad_w) = dense_w {
                if let Some((i, j)) = first_nonfinite(grad_w.view()) {
                    let kind = classify_dot(input.column(i), delta.column(j), F::zero());
                    let inputs = vec![
                        mag(format!("input column {i}"), input.column(i)),
                        mag(format!("delta column {j}"), delta.column(j)),
                    ];
                    let mut o = origin(
                        step,
                        Some(layer),
                        Phase::BackwardWeightGrad,
                        kind,
                        "grad_weight",
                        (i, j),
                        grad_w[[i, j]],
                        inputs,
                    );
                    o.sample = None;
                    o.unit = Some(j);
                    return Some(o);
                }
            } else if let Some(o) = grad_w.as_ref().and_then(|g| {
                param_origin(
                    step,
                    layer,
                    Phase::BackwardWeightGrad,
                    "grad_weight",
                    g,
                    None,
                    None,
                )
            }) {
                return Some(o);
            }
            let grad_b = grad_b.as_ref()?;
            let j = grad_b.iter().position(|v| !v.is_finite())?;
            let inputs = if j < delta.ncols() {
                vec![mag(format!("delta column {j}"), delta.column(j))]
            } else {
                vec![mag("delta".to_string(), delta.row(0))]
            };
            let mut o = origin(
                step,
                Some(layer),
                Phase::BackwardWeightGrad,
                "overflow",
                "grad_bias",
                (0, j),
                grad_b.iter().nth(j).copied().unwrap_or_else(F::zero),
                inputs,
            );
            o.index = vec![j];
            o.sample = None;
            Some(o)
        }
        Event::Update {
            layer,
            ref weight,
            ref bias,
            ref grad_w,
            ref grad_b,
            ref update_w,
            ref update_b,
            norms,
            ..
        } => {
            if (norms.weight_after + norms.bias_after).is_finite() {
                return None;
            }
            if let Some(o) = weight.as_ref().and_then(|w| {
                param_origin(
                    step,
                    layer,
                    Phase::Update,
                    "weight",
                    w,
                    grad_w.as_ref(),
                    update_w.as_ref(),
                )
            }) {
                return Some(o);
            }
            bias.as_ref().and_then(|b| {
                param_origin(
                    step,
                    layer,
                    Phase::Update,
                    "bias",
                    b,
                    grad_b.as_ref(),
                    update_b.as_ref(),
                )
            })
        }
    }
}

/// The first non-finite element of a parameter tensor (or its gradient)
/// of any shape, with the gradient and update there and the tensor's
/// largest finite magnitude. The index is the tensor's own (e.g. [i, j] of
/// a dense weight, [out, in, y, x] of a kernel); a [i, j] element also
/// names unit j, as the dense tracer always has.
fn param_origin<F: Float>(
    step: usize,
    layer: usize,
    phase: Phase,
    tensor: &str,
    value: &ArrayViewD<'_, F>,
    grad: Option<&ArrayViewD<'_, F>>,
    update: Option<&ArrayViewD<'_, F>>,
) -> Option<NanOrigin> {
    let (flat, v) = value.iter().enumerate().find(|(_, v)| !v.is_finite())?;
    let index = unravel(flat, value.shape());
    let label = index
        .iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let at = |t: Option<&ArrayViewD<'_, F>>| {
        t.and_then(|t| t.iter().nth(flat))
            .map_or(f64::NAN, |g| g.f64().abs())
    };
    let mut inputs = Vec::new();
    if phase == Phase::Update {
        inputs.push(InputMagnitude {
            name: format!("gradient [{label}]"),
            max_abs: at(grad),
        });
        inputs.push(InputMagnitude {
            name: format!("largest {tensor}"),
            max_abs: max_abs(value.iter()),
        });
        inputs.push(InputMagnitude {
            name: format!("update [{label}]"),
            max_abs: at(update),
        });
    }
    let kind = if v.is_nan() && phase == Phase::Update && tensor == "weight" {
        "inf-inf"
    } else {
        "overflow"
    };
    let (row, col) = match index.as_slice() {
        [i, j] => (*i, *j),
        [j] => (0, *j),
        _ => (flat, 0),
    };
    let mut o = origin(
        step,
        Some(layer),
        phase,
        kind,
        tensor,
        (row, col),
        *v,
        inputs,
    );
    o.sample = None;
    o.unit = match index.as_slice() {
        [_, j] | [j] => Some(*j),
        [out, ..] => Some(*out),
        [] => None,
    };
    o.index = index;
    Some(o)
}

/// Row-major multi-index of flat position `flat` in `shape`.
fn unravel(mut flat: usize, shape: &[usize]) -> Vec<usize> {
    let mut index = vec![0; shape.len()];
    for (i, &n) in shape.iter().enumerate().rev() {
        let n = n.max(1);
        index[i] = flat % n;
        flat /= n;
    }
    index
}

#[allow(clippy::too_many_arguments)]
fn origin<F: Float>(
    step: usize,
    layer: Option<usize>,
    phase: Phase,
    kind: &str,
    tensor: &str,
    (row, col): (usize, usize),
    value: F,
    inputs: Vec<InputMagnitude>,
) -> NanOrigin {
    let value = value_name(value.f64());
    let where_ = layer.map_or(String::new(), |l| format!(" of layer {l}"));
    let biggest = inputs
        .iter()
        .map(|i| format!("{} {:.3e}", i.name, i.max_abs))
        .collect::<Vec<_>>()
        .join(", ");
    let detail = format!(
        "step {step}: {phase}{where_} produced {value} in {tensor}[{row}, {col}] from finite inputs ({kind}); largest input magnitudes: {biggest}. {}",
        advice(phase, kind, F::NAME)
    );
    NanOrigin {
        step,
        layer,
        phase,
        kind: kind.to_string(),
        tensor: tensor.to_string(),
        index: vec![row, col],
        sample: Some(row),
        unit: Some(col),
        value,
        inputs,
        detail,
    }
}

fn input_origin<F: Float>(step: usize, s: usize, i: usize, v: F) -> NanOrigin {
    let value = value_name(v.f64());
    NanOrigin {
        step,
        layer: Some(1),
        phase: Phase::Input,
        kind: "non-finite input".into(),
        tensor: "input".into(),
        index: vec![s, i],
        sample: Some(s),
        unit: Some(i),
        value: value.clone(),
        inputs: Vec::new(),
        detail: format!(
            "step {step}: the input batch already holds {value} at [{s}, {i}] (feature {i}): the data, not the network, is the source. Clean or impute the data."
        ),
    }
}

fn advice(phase: Phase, kind: &str, dtype: &str) -> String {
    match (phase, kind) {
        (Phase::ForwardLinear, _) => format!(
            "Weights or inputs grew too large for {dtype}: lower the learning rate, clip gradients (train.clip_grad_norm), scale the inputs and check the initialisation."
        ),
        (Phase::BackwardDelta, "0*inf") => "An overflowing upstream gradient met a zero activation slope: the gradient exploded before this layer; lower the learning rate or clip gradients.".into(),
        (Phase::Update, _) => "The optimizer step overflowed: lower the learning rate or clip gradients.".into(),
        (Phase::Loss, _) => "The outputs are too large for the loss: scale the targets/inputs, lower the learning rate, or use a bounded output activation.".into(),
        _ => "Gradients exploded: lower the learning rate, clip gradients (train.clip_grad_norm) or use a better-scaled initialisation.".into(),
    }
}

fn value_name(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v > 0.0 {
        "inf".into()
    } else {
        "-inf".into()
    }
}

/// Re-does one dot product (plus a bias) in the training precision, in
/// order, to name what broke: a product or sum that overflowed, or
/// overflowed partial sums of opposite signs meeting (inf - inf). GEMM sums
/// in another order, so a NaN with no opposite-sign overflow in this order is
/// still an inf - inf of GEMM's partial sums.
fn classify_dot<F: Float>(a: ArrayView1<F>, b: ArrayView1<F>, bias: F) -> &'static str {
    let mut acc = bias;
    let mut pos = false;
    let mut neg = false;
    for (&x, &y) in a.iter().zip(b.iter()) {
        let p = x * y;
        if p.is_nan() {
            return "0*inf";
        }
        pos |= p == F::infinity();
        neg |= p == F::neg_infinity();
        acc += p;
        if acc.is_nan() {
            return "inf-inf";
        }
    }
    if pos && neg {
        "inf-inf"
    } else if acc.is_infinite() || pos || neg {
        "overflow"
    } else {
        "inf-inf"
    }
}

fn activation_nan_kind(activation: Activation) -> &'static str {
    match activation {
        Activation::Softmax => "inf/inf",
        _ => "0/0",
    }
}

fn loss_kind<F: Float>(
    kind: LossKind,
    output: Activation,
    act: ArrayView1<F>,
    target: ArrayView1<F>,
) -> &'static str {
    let zero_prob = act
        .iter()
        .zip(target.iter())
        .any(|(&y, &t)| y == F::zero() && t > F::zero());
    match kind {
        LossKind::CrossEntropy if zero_prob && output != Activation::Softmax => "log of 0",
        _ => "overflow",
    }
}

fn mag<F: Float>(name: String, v: ArrayView1<F>) -> InputMagnitude {
    InputMagnitude {
        name,
        max_abs: max_abs(v.iter()),
    }
}

/// Largest finite |x| (0 when none is finite).
fn max_abs<'a, F: Float>(it: impl Iterator<Item = &'a F>) -> f64 {
    it.map(|v| v.f64().abs())
        .filter(|v| v.is_finite())
        .fold(0.0, f64::max)
}

fn first_nonfinite<F: Float>(a: ArrayView2<F>) -> Option<(usize, usize)> {
    if a.as_slice().is_some_and(all_finite) {
        return None;
    }
    a.indexed_iter()
        .find(|(_, v)| !v.is_finite())
        .map(|(ix, _)| ix)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn overflowing_product_is_overflow() {
        // 1e30 * 1e30 = 1e60 overflows f32 (max ~3.4e38).
        let a = array![1e30f32, 1.0];
        let b = array![1e30f32, 1.0];
        assert_eq!(classify_dot(a.view(), b.view(), 0.0), "overflow");
    }

    #[test]
    fn opposite_overflows_are_inf_minus_inf() {
        let a = array![1e30f32, -1e30];
        let b = array![1e30f32, 1e30];
        assert_eq!(classify_dot(a.view(), b.view(), 0.0), "inf-inf");
    }

    #[test]
    fn forward_linear_origin_names_element_and_inputs() {
        let input = array![[1.0f32, 2.0], [1e20, 1e20]];
        let weight = array![[1e20f32], [1e20]];
        let bias = array![0.0f32];
        let pre = array![[3e20f32], [f32::INFINITY]];
        let ev = Event::ForwardLinear {
            layer: 2,
            kind: "dense",
            input: input.view(),
            weight: Some(weight.view()),
            bias: Some(bias.view()),
            pre: &pre,
        };
        let o = trace(5, &ev).unwrap();
        assert_eq!(
            (o.step, o.layer, o.phase),
            (5, Some(2), Phase::ForwardLinear)
        );
        assert_eq!(
            (o.kind.as_str(), o.sample, o.unit),
            ("overflow", Some(1), Some(0))
        );
        assert_eq!(o.inputs[0].max_abs, 1e20f32 as f64);
        assert!(
            o.detail.contains("forward.linear of layer 2"),
            "{}",
            o.detail
        );
    }

    #[test]
    fn zero_slope_times_overflow_is_zero_times_inf() {
        let delta_next = array![[f32::MAX, f32::MAX]];
        let weight_next = array![[2.0f32, 2.0]];
        let pre = array![[-1.0f32]];
        let delta = array![[f32::NAN]];
        let ev = Event::BackwardDelta {
            layer: 1,
            activation: Activation::Relu,
            next_kind: "dense",
            delta_next: &delta_next,
            weight_next: Some(weight_next.view()),
            pre: &pre,
            delta: &delta,
        };
        let o = trace(3, &ev).unwrap();
        assert_eq!(o.kind, "0*inf");
        assert_eq!(o.phase, Phase::BackwardDelta);
    }

    #[test]
    fn finite_events_pass() {
        let pre = array![[0.5f64, 1.0]];
        let ev = Event::ForwardActivation {
            layer: 1,
            activation: Activation::Tanh,
            pre: &pre,
            act: &pre,
        };
        assert!(trace(1, &ev).is_none());
    }

    #[test]
    fn non_finite_input_is_blamed_on_the_data() {
        let input = array![[1.0f64, f64::NAN]];
        let weight = array![[1.0], [1.0]];
        let bias = array![0.0];
        let pre = array![[f64::NAN]];
        let ev = Event::ForwardLinear {
            layer: 1,
            kind: "dense",
            input: input.view(),
            weight: Some(weight.view()),
            bias: Some(bias.view()),
            pre: &pre,
        };
        let o = trace(1, &ev).unwrap();
        assert_eq!(o.phase, Phase::Input);
        assert_eq!(o.index, vec![0, 1]);
    }

    /// Image layers name their own operation: the first NaN of a
    /// convolution is `forward.conv`, a gradient broken on its way back
    /// through a pool is `backward.pool` (dense keeps its old names).
    #[test]
    fn conv_and_pool_origins_name_their_operation() {
        let input = array![[1.0f32, 2.0]];
        let pre = array![[f32::INFINITY, 1.0]];
        let ev = Event::ForwardLinear {
            layer: 2,
            kind: "conv2d",
            input: input.view(),
            weight: None,
            bias: None,
            pre: &pre,
        };
        let o = trace(4, &ev).unwrap();
        assert_eq!((o.phase, o.kind.as_str()), (Phase::ForwardConv, "overflow"));
        assert!(o.detail.contains("forward.conv of layer 2"), "{}", o.detail);
        let delta_next = array![[f32::MAX]];
        let delta = array![[f32::INFINITY, 0.0]];
        let ev = Event::BackwardDelta {
            layer: 1,
            activation: Activation::Relu,
            next_kind: "max_pool2d",
            delta_next: &delta_next,
            weight_next: None,
            pre: &pre,
            delta: &delta,
        };
        let o = trace(4, &ev).unwrap();
        assert_eq!(o.phase, Phase::BackwardPool);
        assert_eq!(o.phase.name(), "backward.pool");
    }
}

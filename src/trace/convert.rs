//! Converts our reference (engine conventions) into the trace's declared
//! conventions before anything is compared: out_in weight gradients are
//! transposed, a summed loss multiplies loss, deltas and gradients by the
//! batch size, and an MSE without the 1/2 doubles them.

use super::reference::Step;
use super::spec::{Layout, Reduction, TraceSpec};
use super::tensor::TensorKind;
use crate::config::LossKind;

/// The declared conventions, as far as values depend on them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Conventions {
    /// The layout weight gradients are stored in.
    pub layout: Layout,
    /// Factor from the engine's mean, half-MSE loss to the declared one.
    pub scale: f64,
}

impl Conventions {
    pub fn new(spec: &TraceSpec, batch: usize, layout: Layout) -> Self {
        let sum = if spec.reduction == Reduction::Sum {
            batch as f64
        } else {
            1.0
        };
        let half = if spec.loss == LossKind::Mse && !spec.mse_half() {
            2.0
        } else {
            1.0
        };
        Conventions {
            layout,
            scale: sum * half,
        }
    }
}

/// A reference tensor in trace conventions: row-major values and shape.
#[derive(Debug, Clone, PartialEq)]
pub struct Expected {
    pub shape: Vec<usize>,
    pub data: Vec<f64>,
}

/// The tensor `kind` of 1-based `layer` of `step`, in the trace's
/// conventions; None if the step has no such layer.
pub fn expected(
    step: &Step,
    conv: &Conventions,
    layer: Option<usize>,
    kind: TensorKind,
) -> Option<Expected> {
    let s = conv.scale;
    let matrix = |m: &ndarray::Array2<f64>, factor: f64| Expected {
        shape: vec![m.nrows(), m.ncols()],
        data: m.iter().map(|v| v * factor).collect(),
    };
    if kind == TensorKind::LossValue {
        return Some(Expected {
            shape: vec![1],
            data: vec![step.loss * s],
        });
    }
    let l = layer?.checked_sub(1)?;
    Some(match kind {
        TensorKind::PreActivation => matrix(step.pre.get(l)?, 1.0),
        TensorKind::Output => matrix(step.act.get(l)?, 1.0),
        TensorKind::Delta => matrix(step.delta.get(l)?, s),
        TensorKind::GradInput => matrix(step.grad_input.get(l)?, s),
        TensorKind::GradWeight if step.grad_w.get(l).is_none_or(|g| g.is_empty()) => {
            // Not a dense layer: the tensor in its own shape (conv weights
            // [out, in, kh, kw], batch norm's gamma).
            let g = step.grads.get(l)?.first()?;
            Expected {
                shape: g.shape().to_vec(),
                data: g.iter().map(|v| v * s).collect(),
            }
        }
        TensorKind::GradWeight => {
            let g = step.grad_w.get(l)?;
            match conv.layout {
                Layout::InOut => matrix(g, s),
                Layout::OutIn => matrix(&g.t().to_owned(), s),
            }
        }
        TensorKind::GradBias => {
            let b = step.grads.get(l)?.get(1)?;
            Expected {
                shape: vec![b.len()],
                data: b.iter().map(|v| v * s).collect(),
            }
        }
        TensorKind::Weight | TensorKind::LossValue => return None,
    })
}

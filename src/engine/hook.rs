//! The seam between the training loop and everything that watches it. The
//! loop emits an [`Event`] after every operation; hooks (recorders, the
//! non-finite tracer) look at the tensors and never reach into the engine.
//! The engine defines this interface and `monitor` implements it, so the
//! dependency runs one way (monitor -> engine); `monitor::hook` re-exports it.

use super::activation::Activation;
use super::optim::UpdateNorms;
use super::Float;
use crate::kinds::LossKind;
use ndarray::{Array1, Array2, ArrayView2};
use serde::{Deserialize, Serialize};

/// Static facts about one layer (layer numbers are 1-based everywhere).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerInfo {
    pub layer: usize,
    pub units: usize,
    pub fan_in: usize,
    pub activation: Activation,
}

/// The operation an event follows, named as in reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Phase {
    #[serde(rename = "input")]
    Input,
    #[serde(rename = "forward.linear")]
    ForwardLinear,
    #[serde(rename = "forward.activation")]
    ForwardActivation,
    #[serde(rename = "loss")]
    Loss,
    #[serde(rename = "backward.output")]
    BackwardOutput,
    #[serde(rename = "backward.delta")]
    BackwardDelta,
    #[serde(rename = "backward.weight_grad")]
    BackwardWeightGrad,
    #[serde(rename = "update")]
    Update,
}

impl Phase {
    pub fn name(self) -> &'static str {
        match self {
            Phase::Input => "input",
            Phase::ForwardLinear => "forward.linear",
            Phase::ForwardActivation => "forward.activation",
            Phase::Loss => "loss",
            Phase::BackwardOutput => "backward.output",
            Phase::BackwardDelta => "backward.delta",
            Phase::BackwardWeightGrad => "backward.weight_grad",
            Phase::Update => "update",
        }
    }
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What just happened inside a training step, with the operation's inputs
/// and outputs. Layer numbers are 1-based.
#[derive(Debug)]
pub enum Event<'a, F> {
    /// z = input W + b.
    ForwardLinear {
        layer: usize,
        input: ArrayView2<'a, F>,
        weight: &'a Array2<F>,
        bias: &'a Array1<F>,
        pre: &'a Array2<F>,
    },
    /// a = f(z).
    ForwardActivation {
        layer: usize,
        activation: Activation,
        pre: &'a Array2<F>,
        act: &'a Array2<F>,
    },
    /// The batch loss (f64 mean over the batch).
    Loss {
        kind: LossKind,
        output: Activation,
        pre: &'a Array2<F>,
        act: &'a Array2<F>,
        targets: &'a Array2<F>,
        loss: f64,
    },
    /// dL/dz of the output layer.
    BackwardOutput {
        layer: usize,
        kind: LossKind,
        output: Activation,
        pre: &'a Array2<F>,
        act: &'a Array2<F>,
        targets: &'a Array2<F>,
        delta: &'a Array2<F>,
    },
    /// delta = (delta_next W_next^T) * f'(z) of a hidden layer.
    BackwardDelta {
        layer: usize,
        activation: Activation,
        delta_next: &'a Array2<F>,
        weight_next: &'a Array2<F>,
        pre: &'a Array2<F>,
        delta: &'a Array2<F>,
    },
    /// dW = input^T delta, db = sum of delta; norms before clipping.
    WeightGrad {
        layer: usize,
        input: ArrayView2<'a, F>,
        delta: &'a Array2<F>,
        grad_w: &'a Array2<F>,
        grad_b: &'a Array1<F>,
        grad_w_norm: f64,
        grad_b_norm: f64,
    },
    /// Parameters after the optimizer step; `grad_*` as applied (after
    /// clipping by `clip_scale`).
    Update {
        layer: usize,
        weight: &'a Array2<F>,
        bias: &'a Array1<F>,
        grad_w: &'a Array2<F>,
        grad_b: &'a Array1<F>,
        update_w: &'a Array2<F>,
        update_b: &'a Array1<F>,
        norms: UpdateNorms,
        clip_scale: f64,
    },
}

impl<F> Event<'_, F> {
    pub fn phase(&self) -> Phase {
        match self {
            Event::ForwardLinear { .. } => Phase::ForwardLinear,
            Event::ForwardActivation { .. } => Phase::ForwardActivation,
            Event::Loss { .. } => Phase::Loss,
            Event::BackwardOutput { .. } => Phase::BackwardOutput,
            Event::BackwardDelta { .. } => Phase::BackwardDelta,
            Event::WeightGrad { .. } => Phase::BackwardWeightGrad,
            Event::Update { .. } => Phase::Update,
        }
    }
}

/// Whether training should go on after an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Stop,
}

/// Loss and accuracy of the training batch at the end of a step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepStats {
    pub loss: f64,
    pub batch_accuracy: f64,
}

/// A watcher of training. Every method has a do-nothing default.
pub trait Hook<F: Float> {
    /// Called after every operation of every step.
    fn on_event(&mut self, _step: usize, _event: &Event<'_, F>) -> Flow {
        Flow::Continue
    }
    /// Called after a step has completed (its update applied).
    fn on_step_end(&mut self, _step: usize, _stats: &StepStats) {}
    /// Called after a test-set evaluation.
    fn on_eval(&mut self, _step: usize, _stats: &super::eval::EvalStats) {}
}

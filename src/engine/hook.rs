//! The seam between the training loop and everything that watches it. The
//! loop emits an [`Event`] after every operation; hooks (recorders, the
//! non-finite tracer) look at the tensors and never reach into the engine.
//! The engine defines this interface and `monitor` implements it, so the
//! dependency runs one way (monitor -> engine); `monitor::hook` re-exports it.

use super::activation::Activation;
use super::layers::registry;
use super::optim::UpdateNorms;
use super::Float;
use crate::kinds::LossKind;
use ndarray::{Array2, ArrayView1, ArrayView2, ArrayViewD};
use serde::{Deserialize, Serialize};

/// Static facts about one layer (layer numbers are 1-based everywhere).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerInfo {
    pub layer: usize,
    /// Units, or channels of an image layer.
    pub units: usize,
    pub fan_in: usize,
    pub activation: Activation,
    /// The layer kind ("dense", "conv2d", ...); absent in runs recorded
    /// before kinds were named, which were all dense.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

impl LayerInfo {
    /// Whether the layer has parameters: false only for the kinds the
    /// registry knows to have none (pooling, flatten, dropout, a standalone
    /// activation), whose gradient, weight and update columns are left
    /// empty. Kinds other trainers name ("lstm", ...) keep their numbers.
    pub fn has_params(&self) -> bool {
        self.kind
            .as_deref()
            .and_then(registry::info)
            .is_none_or(|k| k.params)
    }
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
    #[serde(rename = "forward.conv")]
    ForwardConv,
    #[serde(rename = "forward.pool")]
    ForwardPool,
    #[serde(rename = "forward.batch_norm")]
    ForwardBatchNorm,
    #[serde(rename = "forward.dropout")]
    ForwardDropout,
    /// A flatten or standalone activation layer's input copied to its
    /// pre-activation.
    #[serde(rename = "forward.copy")]
    ForwardCopy,
    #[serde(rename = "backward.conv")]
    BackwardConv,
    #[serde(rename = "backward.pool")]
    BackwardPool,
    #[serde(rename = "backward.batch_norm")]
    BackwardBatchNorm,
    #[serde(rename = "backward.dropout")]
    BackwardDropout,
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
            Phase::ForwardConv => "forward.conv",
            Phase::ForwardPool => "forward.pool",
            Phase::ForwardBatchNorm => "forward.batch_norm",
            Phase::ForwardDropout => "forward.dropout",
            Phase::ForwardCopy => "forward.copy",
            Phase::BackwardConv => "backward.conv",
            Phase::BackwardPool => "backward.pool",
            Phase::BackwardBatchNorm => "backward.batch_norm",
            Phase::BackwardDropout => "backward.dropout",
        }
    }

    /// The phase of a layer kind's first forward operation, as the kind
    /// declares it (`forward.linear` for dense and unknown kinds).
    pub fn forward_of(kind: &str) -> Phase {
        registry::info(kind).map_or(Phase::ForwardLinear, |k| k.phases.0)
    }

    /// The phase of the backward operation through a layer kind to its
    /// input, as the kind declares it (`backward.delta` by default).
    pub fn backward_of(kind: &str) -> Phase {
        registry::info(kind).map_or(Phase::BackwardDelta, |k| k.phases.1)
    }
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What just happened inside a training step, with the operation's inputs
/// and outputs. Layer numbers are 1-based. Parameters are a layer's
/// "weight" and "bias" tensors where it has them (dense [fan_in, units],
/// conv2d [out, in, kh, kw], batch_norm gamma); `kind` names the layer kind.
///
/// The variants differ in size (an update carries six tensor views); an
/// event lives on the stack for one call, so boxing the large ones would
/// only add an allocation per operation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Event<'a, F> {
    /// The layer's first operation: z = input W + b for dense, the
    /// convolution, pooling, normalisation, dropout or copy for the others.
    ForwardLinear {
        layer: usize,
        kind: &'static str,
        input: ArrayView2<'a, F>,
        /// Dense only: [fan_in, units] and [units].
        weight: Option<ArrayView2<'a, F>>,
        bias: Option<ArrayView1<'a, F>>,
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
    /// delta = (the next layer's input gradient) * f'(z) of a hidden layer;
    /// for a dense next layer that is delta_next W_nextᵀ.
    BackwardDelta {
        layer: usize,
        activation: Activation,
        /// The kind of the layer the gradient came back through.
        next_kind: &'static str,
        delta_next: &'a Array2<F>,
        /// Dense next layer only.
        weight_next: Option<ArrayView2<'a, F>>,
        pre: &'a Array2<F>,
        delta: &'a Array2<F>,
    },
    /// The parameter gradients of a layer with parameters; norms before
    /// clipping.
    WeightGrad {
        layer: usize,
        kind: &'static str,
        input: ArrayView2<'a, F>,
        delta: &'a Array2<F>,
        grad_w: Option<ArrayViewD<'a, F>>,
        grad_b: Option<ArrayViewD<'a, F>>,
        grad_w_norm: f64,
        grad_b_norm: f64,
    },
    /// Parameters after the optimizer step; `grad_*` as applied (after
    /// clipping by `clip_scale`). Only for layers with parameters; every
    /// layer of the step is updated before the first of these events.
    /// `update_*` hold the applied update for every rule except plain SGD,
    /// which writes them only when the new values are not all finite (the
    /// non-finite tracer's case; a finite run never reads them).
    Update {
        layer: usize,
        weight: Option<ArrayViewD<'a, F>>,
        bias: Option<ArrayViewD<'a, F>>,
        grad_w: Option<ArrayViewD<'a, F>>,
        grad_b: Option<ArrayViewD<'a, F>>,
        update_w: Option<ArrayViewD<'a, F>>,
        update_b: Option<ArrayViewD<'a, F>>,
        norms: UpdateNorms,
        clip_scale: f64,
        /// Batch norm: the running-statistics drift of this step (largest
        /// |running mean − batch mean| / sqrt(running var + eps) over
        /// channels, before the running statistics moved).
        drift: Option<f64>,
    },
}

impl<F> Event<'_, F> {
    pub fn phase(&self) -> Phase {
        match self {
            Event::ForwardLinear { kind, .. } => Phase::forward_of(kind),
            Event::ForwardActivation { .. } => Phase::ForwardActivation,
            Event::Loss { .. } => Phase::Loss,
            Event::BackwardOutput { .. } => Phase::BackwardOutput,
            Event::BackwardDelta { next_kind, .. } => Phase::backward_of(next_kind),
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

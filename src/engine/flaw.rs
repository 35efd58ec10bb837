//! Deliberate backprop mistakes the engine can reproduce. They exist to prove
//! that gradient checks catch real bugs: each is a transformation of the
//! correct backward pass, applied at one layer, exactly as a hand-written
//! implementation would get it wrong. `gradcheck::catalogue` names and
//! explains them; nothing in normal training ever sets one.

use serde::Serialize;

/// How the backward pass goes wrong.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FlawKind {
    /// Hidden delta not multiplied by f'(z).
    MissingActivationDerivative,
    /// Output delta is dL/dy, without the output activation's Jacobian.
    MissingOutputDerivative,
    /// f' evaluated at the activation a instead of the pre-activation z.
    DerivativeAtWrongPoint,
    /// dW computed as delta^T x ([units, fan_in]) and stored row-major into
    /// the [fan_in, units] buffer.
    TransposedWeightGradient,
    /// The layer's gradients have the wrong sign.
    SignFlipped,
    /// The layer's gradients are summed over the batch, not averaged.
    BatchSumNotMean,
    /// The layer's gradients are off by a constant factor.
    ConstantFactor(f64),
    /// The bias gradient sums over units instead of over samples.
    BiasGradientWrongAxis,
    /// dW built from the wrong layer's activations (or the pre-activations).
    WrongLayerInput,
    /// The delta is propagated through the next layer's weights read in the
    /// wrong layout (reshaped instead of transposed).
    WrongWeightsInBackprop,
}

/// A mistake at one layer (1-based).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Flaw {
    pub kind: FlawKind,
    pub layer: usize,
}

impl Flaw {
    /// Whether this flaw is at 0-based layer index `l`.
    pub fn at(flaw: Option<&Flaw>, l: usize) -> Option<FlawKind> {
        flaw.filter(|f| f.layer == l + 1).map(|f| f.kind)
    }
}

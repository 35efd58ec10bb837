//! Analytic gradients of the fixed batch from the engine's own backward pass
//! (optionally with an injected flaw), in f64.

use super::probe::Param;
use crate::config::LossKind;
use crate::engine::backprop::{backward, forward};
use crate::engine::flaw::Flaw;
use crate::engine::network::Workspace;
use crate::engine::Network;
use crate::monitor::hook::Flow;
use ndarray::{Array1, Array2, ArrayD, Ix1, Ix2};

/// dL/dW and dL/db of every layer.
#[derive(Debug, Clone, PartialEq)]
pub struct Gradients {
    pub w: Vec<Array2<f64>>,
    pub b: Vec<Array1<f64>>,
}

impl Gradients {
    /// The flat (row-major) gradient of one parameter tensor of 0-based
    /// `layer`; empty when there is no such tensor.
    pub fn tensor(&self, layer: usize, param: Param) -> &[f64] {
        let flat = match param {
            Param::Weight => self.w.get(layer).and_then(|g| g.as_slice()),
            Param::Bias => self.b.get(layer).and_then(|g| g.as_slice()),
        };
        flat.unwrap_or(&[])
    }
}

/// Runs the engine's forward and backward on (x, t).
pub fn gradients(
    net: &Network<f64>,
    x: &Array2<f64>,
    t: &Array2<f64>,
    loss: LossKind,
    flaw: Option<&Flaw>,
) -> Gradients {
    let mut ws = Workspace::new(net, x.nrows());
    let mut none = |_, _: &Workspace<f64>| Flow::Continue;
    forward(net, &mut ws, x, &mut none);
    backward(net, &mut ws, x, t, loss, flaw, &mut none);
    // Dense layers' "weight" [fan_in, units] and "bias" [units]; other
    // kinds' tensors are not covered here (empty).
    let two = |g: Option<&ArrayD<f64>>| {
        g.and_then(|g| g.clone().into_dimensionality::<Ix2>().ok())
            .unwrap_or_else(|| Array2::zeros((0, 0)))
    };
    let one = |g: Option<&ArrayD<f64>>| {
        g.and_then(|g| g.clone().into_dimensionality::<Ix1>().ok())
            .unwrap_or_else(|| Array1::zeros(0))
    };
    Gradients {
        w: ws.grads.iter().map(|g| two(g.first())).collect(),
        b: ws.grads.iter().map(|g| one(g.get(1))).collect(),
    }
}

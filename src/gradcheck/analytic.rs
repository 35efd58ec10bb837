//! Analytic gradients of the fixed batch from the engine's own backward pass
//! (optionally with an injected flaw), in f64.

use super::probe::Param;
use crate::config::LossKind;
use crate::engine::backprop::{backward, forward};
use crate::engine::flaw::Flaw;
use crate::engine::network::Workspace;
use crate::engine::Network;
use crate::monitor::hook::Flow;
use ndarray::{Array2, ArrayD};

/// Every layer's parameter gradients, in its `params()` order.
#[derive(Debug, Clone, PartialEq)]
pub struct Gradients {
    pub grads: Vec<Vec<ArrayD<f64>>>,
}

impl Gradients {
    /// The flat (row-major) gradient of one parameter tensor of 0-based
    /// `layer`; empty when there is no such tensor.
    pub fn tensor(&self, layer: usize, param: Param) -> &[f64] {
        let k = match param {
            Param::Weight => 0,
            Param::Bias => 1,
        };
        self.grads
            .get(layer)
            .and_then(|g| g.get(k))
            .and_then(|g| g.as_slice())
            .unwrap_or(&[])
    }
}

/// Runs the engine's forward and backward on (x, t). Dropout layers draw
/// their mask from a fresh cache's seed, as the probe's passes do, so both
/// see the same mask.
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
    Gradients { grads: ws.grads }
}

//! Our independent recompute of the step, in f64, with the engine's one
//! forward/backward implementation: every intermediate tensor in the
//! engine's conventions (in_out weights, mean reduction, MSE with 1/2).
//! With a [`Flaw`] it predicts what a known mistake would have produced.

use crate::config::LossKind;
use crate::engine::backprop::{backward, forward};
use crate::engine::flaw::Flaw;
use crate::engine::layers::Layer;
use crate::engine::loss::batch_loss;
use crate::engine::network::{Network, Workspace};
use crate::gradcheck::probe::Param;
use crate::monitor::hook::Flow;
use ndarray::{Array1, Array2};

/// Every tensor of one step (index i is layer i + 1).
#[derive(Debug, Clone)]
pub struct Step {
    pub pre: Vec<Array2<f64>>,
    pub act: Vec<Array2<f64>>,
    pub delta: Vec<Array2<f64>>,
    /// dL/d(layer input): what each layer's backward sends down.
    pub grad_input: Vec<Array2<f64>>,
    pub grad_w: Vec<Array2<f64>>,
    pub grad_b: Vec<Array1<f64>>,
    pub loss: f64,
}

impl Step {
    /// The flat (row-major) gradient of one named parameter tensor of
    /// 0-based layer `l`; empty when there is none.
    pub fn grad(&self, l: usize, param: Param) -> Vec<f64> {
        match param {
            Param::Weight => self
                .grad_w
                .get(l)
                .map(|g| g.iter().copied().collect())
                .unwrap_or_default(),
            Param::Bias => self.grad_b.get(l).map(|g| g.to_vec()).unwrap_or_default(),
        }
    }
}

/// Forward with `net`, backward with `back_net` (default `net`): a flaw
/// that misreads a weight's memory is reproduced by handing the backward
/// pass the misread matrix while the forward pass keeps the true one.
pub fn step(
    net: &Network<f64>,
    back_net: Option<&Network<f64>>,
    x: &Array2<f64>,
    t: &Array2<f64>,
    loss: LossKind,
    flaw: Option<&Flaw>,
) -> Step {
    let mut ws = Workspace::new(net, x.nrows());
    let mut go_on = |_, _: &Workspace<f64>| Flow::Continue;
    forward(net, &mut ws, x, &mut go_on);
    let value = match (ws.pre.last(), ws.act.last()) {
        (Some(z), Some(a)) => batch_loss(loss, net.output_activation(), z, a, t),
        _ => f64::NAN,
    };
    let back = back_net.unwrap_or(net);
    backward(back, &mut ws, x, t, loss, flaw, &mut go_on);
    let grad_input = grad_inputs(back, &ws, x, flaw);
    Step {
        pre: ws.pre,
        act: ws.act,
        delta: ws.delta,
        grad_input,
        grad_w: ws.grad_w,
        grad_b: ws.grad_b,
        loss: value,
    }
}

/// Each layer's input gradient from its delta, through the same layer the
/// backward pass used (the flaw's wrapper at its layer).
fn grad_inputs(
    net: &Network<f64>,
    ws: &Workspace<f64>,
    x: &Array2<f64>,
    flaw: Option<&Flaw>,
) -> Vec<Array2<f64>> {
    let flawed = flaw.and_then(|f| f.wrap(&net.layers, &ws.act, &ws.pre, x));
    net.layers
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let layer: &dyn Layer<f64> = match &flawed {
                Some((j, w)) if *j == i => w,
                _ => l,
            };
            let mut g = Array2::zeros((x.nrows(), layer.input_width()));
            if let Some(d) = ws.delta.get(i) {
                layer.backward_input(d, &mut g);
            }
            g
        })
        .collect()
}

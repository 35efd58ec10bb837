//! Our independent recompute of the step, in f64, with the engine's one
//! forward/backward implementation: every intermediate tensor in the
//! engine's conventions (in_out weights, mean reduction, MSE with 1/2).
//! With a [`Flaw`] it predicts what a known mistake would have produced.
//! Dropout layers use the trace's mask (held fixed, as the engine's
//! gradient checks hold theirs).

use crate::config::LossKind;
use crate::engine::backprop::{backward, forward};
use crate::engine::flaw::Flaw;
use crate::engine::layers::Layer;
use crate::engine::loss::batch_loss;
use crate::engine::network::{Network, Workspace};
use crate::gradcheck::probe::Param;
use crate::monitor::hook::Flow;
use ndarray::{Array1, Array2, ArrayD};

/// Every tensor of one step (index i is layer i + 1).
#[derive(Debug, Clone)]
pub struct Step {
    pub pre: Vec<Array2<f64>>,
    pub act: Vec<Array2<f64>>,
    pub delta: Vec<Array2<f64>>,
    /// dL/d(layer input): what each layer's backward sends down.
    pub grad_input: Vec<Array2<f64>>,
    /// Each layer's parameter gradients, in its `params()` order (dense,
    /// conv2d and batch norm: "weight", "bias").
    pub grads: Vec<Vec<ArrayD<f64>>>,
    /// Dense layers' "weight" [fan_in, units] and "bias" (empty elsewhere).
    pub grad_w: Vec<Array2<f64>>,
    pub grad_b: Vec<Array1<f64>>,
    pub loss: f64,
}

impl Step {
    /// The flat (row-major) gradient of one named parameter tensor of
    /// 0-based layer `l`; empty when there is none.
    pub fn grad(&self, l: usize, param: Param) -> Vec<f64> {
        let k = match param {
            Param::Weight => 0,
            Param::Bias => 1,
        };
        self.grads
            .get(l)
            .and_then(|g| g.get(k))
            .map(|g| g.iter().copied().collect())
            .unwrap_or_default()
    }
}

/// Forward with `net`, backward with `back_net` (default `net`): a flaw
/// that misreads a weight's memory is reproduced by handing the backward
/// pass the misread matrix while the forward pass keeps the true one.
/// `masks` holds each dropout layer's mask (engine scale) or None.
pub fn step(
    net: &Network<f64>,
    back_net: Option<&Network<f64>>,
    x: &Array2<f64>,
    t: &Array2<f64>,
    loss: LossKind,
    flaw: Option<&Flaw>,
    masks: &[Option<Array2<f64>>],
) -> Step {
    let mut ws = Workspace::new(net, x.nrows());
    for (cache, mask) in ws.caches.iter_mut().zip(masks) {
        if let Some(m) = mask {
            cache.hold(m.clone());
        }
    }
    let mut go_on = |_, _: &Workspace<f64>| Flow::Continue;
    forward(net, &mut ws, x, &mut go_on);
    let value = match (ws.pre.last(), ws.act.last()) {
        (Some(z), Some(a)) => batch_loss(loss, net.output_activation(), z, a, t),
        _ => f64::NAN,
    };
    let back = back_net.unwrap_or(net);
    backward(back, &mut ws, x, t, loss, flaw, &mut go_on);
    let grad_input = grad_inputs(back, &ws, x, flaw);
    // Dense layers: "weight" [fan_in, units], "bias".
    let grad_w = ws
        .grads
        .iter()
        .map(|g| {
            g.first()
                .and_then(|g| g.clone().into_dimensionality::<ndarray::Ix2>().ok())
                .unwrap_or_else(|| Array2::zeros((0, 0)))
        })
        .collect();
    let grad_b = ws
        .grads
        .iter()
        .map(|g| {
            g.get(1)
                .and_then(|g| g.clone().into_dimensionality::<ndarray::Ix1>().ok())
                .unwrap_or_else(|| Array1::zeros(0))
        })
        .collect();
    Step {
        pre: ws.pre,
        act: ws.act,
        delta: ws.delta,
        grad_input,
        grads: ws.grads,
        grad_w,
        grad_b,
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
            let input = if i == 0 {
                x.view()
            } else {
                ws.act[i - 1].view()
            };
            let mut g = Array2::zeros((x.nrows(), layer.input_width()));
            if let (Some(d), Some(c)) = (ws.delta.get(i), ws.caches.get(i)) {
                layer.backward_input(input, d, c, &mut g);
            }
            g
        })
        .collect()
}

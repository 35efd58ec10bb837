//! One forward and one backward pass over a network's layers, the single
//! sequence the training loop, the gradient checker and the trace recompute
//! share (each step is a [`Layer`] method). After each operation a callback
//! sees the workspace, so the loop can emit events (and stop) without a
//! second copy of the sequence. An optional [`Flaw`] reproduces a known
//! backprop mistake at one layer by wrapping that layer (engine::flaw), for
//! proving the checker; the pass has no branch for it.

use super::flaw::{Flaw, Flawed};
use super::float::{sum_sq, Float};
use super::hook::Flow;
use super::layers::{Layer, Mode};
use super::network::{Network, Workspace};
use crate::kinds::LossKind;
use ndarray::{Array2, ArrayView2};

/// The operation just completed (layer indices 0-based here).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Op {
    ForwardLinear(usize),
    ForwardActivation(usize),
    BackwardOutput,
    BackwardDelta(usize),
    /// With the squared norms of the "weight" and "bias" gradients (only
    /// for layers with parameters).
    WeightGrad {
        layer: usize,
        w_sq: f64,
        b_sq: f64,
    },
}

/// Forward pass over `x`, filling `ws.pre` and `ws.act`.
pub fn forward<F: Float>(
    net: &Network<F>,
    ws: &mut Workspace<F>,
    x: &Array2<F>,
    on: &mut dyn FnMut(Op, &Workspace<F>) -> Flow,
) -> Flow {
    for (l, layer) in net.layers.iter().enumerate() {
        {
            let (done, _) = ws.act.split_at(l);
            let input = if l == 0 { x.view() } else { done[l - 1].view() };
            layer.forward_pre(input, Mode::Train, &mut ws.caches[l], &mut ws.pre[l]);
        }
        if on(Op::ForwardLinear(l), ws) == Flow::Stop {
            return Flow::Stop;
        }
        layer.forward_act(&ws.pre[l], &mut ws.act[l]);
        if on(Op::ForwardActivation(l), ws) == Flow::Stop {
            return Flow::Stop;
        }
    }
    Flow::Continue
}

/// Backward pass after [`forward`]: deltas, then the gradient of every
/// named parameter per layer, from the output down. Returns the flow and the squared global gradient norm.
/// With a flaw, its layer is replaced by the [`Flawed`] decorator in the
/// layer list [`backward_layers`] runs; the pass itself is the same.
pub fn backward<F: Float>(
    net: &Network<F>,
    ws: &mut Workspace<F>,
    x: &Array2<F>,
    targets: &Array2<F>,
    loss: LossKind,
    flaw: Option<&Flaw>,
    on: &mut dyn FnMut(Op, &Workspace<F>) -> Flow,
) -> (Flow, f64) {
    let flawed: Option<(usize, Flawed<'_, F>)> =
        flaw.and_then(|f| f.wrap(&net.layers, &ws.act, &ws.pre, x));
    let layers: Vec<&dyn Layer<F>> = net
        .layers
        .iter()
        .enumerate()
        .map(|(i, l)| match &flawed {
            Some((j, w)) if *j == i => w as &dyn Layer<F>,
            _ => l as &dyn Layer<F>,
        })
        .collect();
    backward_layers(&layers, ws, x, targets, loss, on)
}

/// The backward pass over a list of layers: the output layer's delta from
/// the loss, then for each layer from the top the delta (the layer above
/// sends dL/da down through its input gradient, this layer takes it
/// through its activation) and its parameter gradients.
pub fn backward_layers<F: Float>(
    layers: &[&dyn Layer<F>],
    ws: &mut Workspace<F>,
    x: &Array2<F>,
    targets: &Array2<F>,
    loss: LossKind,
    on: &mut dyn FnMut(Op, &Workspace<F>) -> Flow,
) -> (Flow, f64) {
    let n = layers.len();
    let Some(last) = n.checked_sub(1) else {
        return (Flow::Continue, 0.0);
    };
    layers[last].output_delta(
        loss,
        &ws.pre[last],
        &ws.act[last],
        targets,
        &mut ws.delta[last],
    );
    if on(Op::BackwardOutput, ws) == Flow::Stop {
        return (Flow::Stop, 0.0);
    }
    let mut grad_sq = 0.0;
    for l in (0..n).rev() {
        if l < last {
            let (lower, upper) = ws.delta.split_at_mut(l + 1);
            layers[l + 1].backward_input(
                ws.act[l].view(),
                &upper[0],
                &ws.caches[l + 1],
                &mut lower[l],
            );
            layers[l].backward_act(&ws.pre[l], &ws.act[l], &mut lower[l]);
            if on(Op::BackwardDelta(l), ws) == Flow::Stop {
                return (Flow::Stop, grad_sq);
            }
        }
        if ws.grads[l].is_empty() {
            // A parameter-free layer (pool, flatten, dropout, activation).
            continue;
        }
        {
            let input: ArrayView2<F> = if l == 0 {
                x.view()
            } else {
                ws.act[l - 1].view()
            };
            let mut views: Vec<_> = ws.grads[l].iter_mut().map(|g| g.view_mut()).collect();
            layers[l].backward_params(input, &ws.delta[l], &ws.caches[l], &mut views);
        }
        // "weight" and "bias" are the first two tensors of every kind that
        // has parameters (dense, conv2d, batch_norm).
        let sq = |k: usize| {
            ws.grads[l]
                .get(k)
                .map_or(0.0, |g| g.as_slice().map_or(f64::NAN, sum_sq))
        };
        let (w_sq, b_sq) = (sq(0), sq(1));
        grad_sq += (0..ws.grads[l].len()).map(sq).sum::<f64>();
        if on(
            Op::WeightGrad {
                layer: l,
                w_sq,
                b_sq,
            },
            ws,
        ) == Flow::Stop
        {
            return (Flow::Stop, grad_sq);
        }
    }
    (Flow::Continue, grad_sq)
}

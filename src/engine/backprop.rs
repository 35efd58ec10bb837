//! One forward and one backward pass, the single implementation the training
//! loop and the gradient checker share. After each operation a callback
//! sees the workspace, so the loop can emit events (and stop) without a
//! second copy of the sequence. An optional [`Flaw`] reproduces a known
//! backprop mistake at one layer, for proving the checker.

use super::activation::Activation;
use super::flaw::{Flaw, FlawKind};
use super::float::{sum_sq, Float};
use super::loss::output_delta;
use super::network::{hidden_delta, linear, weight_grad, Network, Workspace};
use crate::config::LossKind;
use crate::monitor::hook::Flow;
use ndarray::linalg::general_mat_mul;
use ndarray::{Array2, ArrayView2, Axis, Zip};

/// The operation just completed (layer indices 0-based here).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Op {
    ForwardLinear(usize),
    ForwardActivation(usize),
    BackwardOutput,
    BackwardDelta(usize),
    /// With the squared norms of dW and db.
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
            linear(input, layer, &mut ws.pre[l]);
        }
        if on(Op::ForwardLinear(l), ws) == Flow::Stop {
            return Flow::Stop;
        }
        layer.activation.forward(&ws.pre[l], &mut ws.act[l]);
        if on(Op::ForwardActivation(l), ws) == Flow::Stop {
            return Flow::Stop;
        }
    }
    Flow::Continue
}

/// Backward pass after [`forward`]: deltas, then dW and db per layer, from
/// the output down. Returns the flow and the squared global gradient norm.
pub fn backward<F: Float>(
    net: &Network<F>,
    ws: &mut Workspace<F>,
    x: &Array2<F>,
    targets: &Array2<F>,
    loss: LossKind,
    flaw: Option<&Flaw>,
    on: &mut dyn FnMut(Op, &Workspace<F>) -> Flow,
) -> (Flow, f64) {
    let n = net.layers.len();
    let Some(last) = n.checked_sub(1) else {
        return (Flow::Continue, 0.0);
    };
    let output = net.layers[last].activation;
    if Flaw::at(flaw, last) == Some(FlawKind::MissingOutputDerivative) {
        let inv_n = F::of(1.0 / targets.nrows().max(1) as f64);
        let grad_a = (&ws.act[last] - targets) * inv_n;
        ws.delta[last].assign(&grad_a);
    } else {
        output_delta(
            loss,
            output,
            &ws.pre[last],
            &ws.act[last],
            targets,
            &mut ws.delta[last],
        );
    }
    if on(Op::BackwardOutput, ws) == Flow::Stop {
        return (Flow::Stop, 0.0);
    }
    let mut grad_sq = 0.0;
    for l in (0..n).rev() {
        if l < last {
            let kind = Flaw::at(flaw, l);
            let (lower, upper) = ws.delta.split_at_mut(l + 1);
            let act = net.layers[l].activation;
            let w_next = &net.layers[l + 1].weight;
            delta_with_flaw(
                kind,
                &upper[0],
                w_next,
                act,
                &ws.pre[l],
                &ws.act[l],
                &mut lower[l],
            );
            if on(Op::BackwardDelta(l), ws) == Flow::Stop {
                return (Flow::Stop, grad_sq);
            }
        }
        grads_with_flaw(Flaw::at(flaw, l), l, net, ws, x);
        let w_sq = ws.grad_w[l].as_slice().map_or(f64::NAN, sum_sq);
        let b_sq = ws.grad_b[l].as_slice().map_or(f64::NAN, sum_sq);
        grad_sq += w_sq + b_sq;
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

/// The hidden delta of one layer, correct or with its flaw.
fn delta_with_flaw<F: Float>(
    kind: Option<FlawKind>,
    delta_next: &Array2<F>,
    weight_next: &Array2<F>,
    activation: Activation,
    pre: &Array2<F>,
    act: &Array2<F>,
    out: &mut Array2<F>,
) {
    match kind {
        Some(FlawKind::MissingActivationDerivative) => {
            general_mat_mul(F::one(), delta_next, &weight_next.t(), F::zero(), out);
        }
        Some(FlawKind::DerivativeAtWrongPoint) => {
            general_mat_mul(F::one(), delta_next, &weight_next.t(), F::zero(), out);
            Zip::from(out)
                .and(act)
                .for_each(|d, &a| *d *= activation.derivative(a));
        }
        Some(FlawKind::WrongWeightsInBackprop) => {
            let (fan_in, units) = weight_next.dim();
            let flat: Vec<F> = weight_next.iter().copied().collect();
            let misread = Array2::from_shape_vec((units, fan_in), flat)
                .unwrap_or_else(|_| weight_next.t().to_owned());
            general_mat_mul(F::one(), delta_next, &misread, F::zero(), out);
            activation.scale_by_derivative(pre, act, out);
        }
        _ => hidden_delta(delta_next, weight_next, activation, pre, act, out),
    }
}

/// dW and db of layer `l`, correct or with its flaw.
fn grads_with_flaw<F: Float>(
    kind: Option<FlawKind>,
    l: usize,
    net: &Network<F>,
    ws: &mut Workspace<F>,
    x: &Array2<F>,
) {
    let input: ArrayView2<F> = if l == 0 {
        x.view()
    } else {
        ws.act[l - 1].view()
    };
    match kind {
        Some(FlawKind::WrongLayerInput) => {
            let wrong = wrong_layer_input(l, net, &ws.act, &ws.pre, x).unwrap_or(input);
            weight_grad(wrong, &ws.delta[l], &mut ws.grad_w[l], &mut ws.grad_b[l]);
        }
        Some(FlawKind::TransposedWeightGradient) => {
            let g = ws.delta[l].t().dot(&input);
            let flat: Vec<F> = g.iter().copied().collect();
            if let Ok(m) = Array2::from_shape_vec(ws.grad_w[l].raw_dim(), flat) {
                ws.grad_w[l] = m;
            }
            ws.grad_b[l].assign(&ws.delta[l].sum_axis(Axis(0)));
        }
        _ => weight_grad(input, &ws.delta[l], &mut ws.grad_w[l], &mut ws.grad_b[l]),
    }
    let scale = match kind {
        Some(FlawKind::SignFlipped) => Some(-1.0),
        Some(FlawKind::BatchSumNotMean) => Some(x.nrows() as f64),
        Some(FlawKind::ConstantFactor(c)) => Some(c),
        _ => None,
    };
    if let Some(c) = scale {
        let c = F::of(c);
        ws.grad_w[l].mapv_inplace(|v| v * c);
        ws.grad_b[l].mapv_inplace(|v| v * c);
    }
    if kind == Some(FlawKind::BiasGradientWrongAxis) {
        // Sums over units (axis 1) give one value per sample; the buffer is
        // filled cyclically from them, as an unchecked copy would.
        let per_sample = ws.delta[l].sum_axis(Axis(1));
        let b = per_sample.len().max(1);
        for (j, g) in ws.grad_b[l].iter_mut().enumerate() {
            *g = per_sample.get(j % b).copied().unwrap_or_else(F::zero);
        }
    }
}

/// The tensor a "wrong layer input" bug uses in place of layer `l`'s true
/// input: the layer's own output (an off-by-one index), the network input,
/// the activations two layers down, or the previous pre-activations —
/// the first of these with the right shape that differs from the truth.
pub fn wrong_layer_input<'a, F: Float>(
    l: usize,
    net: &Network<F>,
    act: &'a [Array2<F>],
    pre: &'a [Array2<F>],
    x: &'a Array2<F>,
) -> Option<ArrayView2<'a, F>> {
    let fan_in = net.layers.get(l)?.weight.nrows();
    let mut candidates: Vec<ArrayView2<'a, F>> = vec![act.get(l)?.view()];
    if l >= 1 {
        candidates.push(x.view());
    }
    if l >= 2 {
        candidates.push(act[l - 2].view());
    }
    if l >= 1 && net.layers[l - 1].activation != Activation::Linear {
        candidates.push(pre[l - 1].view());
    }
    candidates
        .into_iter()
        .find(|c| c.ncols() == fan_in && c.nrows() == x.nrows())
}

//! One forward and one backward pass over a network's layers, the single
//! sequence the training loop, the gradient checker and the trace recompute
//! share (each step is a [`Layer`] method). After each operation a callback
//! sees the workspace, so the loop can emit events (and stop) without a
//! second copy of the sequence. An optional [`Flaw`] reproduces a known
//! backprop mistake at one layer by wrapping that layer (engine::flaw), for
//! proving the checker; the pass has no branch for it.

use super::batch_split;
use super::flaw::{Flaw, Flawed};
use super::float::Float;
use super::hook::Flow;
use super::kernels::pool::{join, MIN_WAKE_MACS};
use super::kernels::sumsq::sums_of_squares;
use super::kernels::threads::threads;
use super::layers::{Layer, Mode};
use super::network::{Network, Workspace};
use super::pipeline;
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

/// Forward pass over `x`, filling `ws.pre` and `ws.act`. A run of dense
/// layers whose products are each too small to split goes through
/// [`batch_split`] (the batch's rows on every kernel thread at once, the
/// same bits); its operations' callbacks follow in order once the run is
/// done, so a hook still sees each layer's output before it reads the next
/// layer's and can stop the step there.
pub fn forward<F: Float>(
    net: &Network<F>,
    ws: &mut Workspace<F>,
    x: &Array2<F>,
    on: &mut dyn FnMut(Op, &Workspace<F>) -> Flow,
) -> Flow {
    let threads = threads();
    let mut next = 0;
    for (l, layer) in net.layers.iter().enumerate() {
        if l < next {
            continue; // computed by the split run below
        }
        let run = batch_split::dense_run(net, l, x.nrows(), threads);
        if !run.is_empty() {
            next = run.end;
            batch_split::forward_rows(net, ws, x, run.clone(), threads);
            for k in run {
                if on(Op::ForwardLinear(k), ws) == Flow::Stop
                    || on(Op::ForwardActivation(k), ws) == Flow::Stop
                {
                    return Flow::Stop;
                }
            }
            continue;
        }
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
    let layers: Vec<&(dyn Layer<F> + Sync)> = net
        .layers
        .iter()
        .enumerate()
        .map(|(i, l)| match &flawed {
            Some((j, w)) if *j == i => w as &(dyn Layer<F> + Sync),
            _ => l as &(dyn Layer<F> + Sync),
        })
        .collect();
    backward_layers(&layers, ws, x, targets, loss, on)
}

/// The backward pass over a list of layers: the output layer's delta from
/// the loss, then for each layer from the top the delta (the layer above
/// sends dL/da down through its input gradient, this layer takes it
/// through its activation) and its parameter gradients.
pub fn backward_layers<F: Float>(
    layers: &[&(dyn Layer<F> + Sync)],
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
    let threads = threads();
    let mut grad_sq = 0.0;
    // Each layer's sums of squares, computed ahead by a pipelined run.
    let mut ahead: Vec<Option<Vec<f64>>> = vec![None; n];
    for l in (0..n).rev() {
        if l < last && on(Op::BackwardDelta(l), ws) == Flow::Stop {
            return (Flow::Stop, grad_sq);
        }
        let sums = match ahead.get_mut(l).and_then(Option::take) {
            Some(sums) => Some(sums),
            None => match pipeline::run(layers, l, x.nrows(), threads) {
                // The run's deltas and gradients at once (`pipeline`); its
                // events follow in this loop's order, as if layer by layer.
                Some(run) => {
                    let all = pipeline::backward(layers, ws, x, run.clone(), threads);
                    for (k, sums) in run.rev().zip(all) {
                        if let Some(slot) = ahead.get_mut(k) {
                            *slot = Some(sums);
                        }
                    }
                    ahead.get_mut(l).and_then(Option::take)
                }
                None => layer_backward(layers, ws, x, l, threads),
            },
        };
        let Some(sums) = sums else {
            // A parameter-free layer (pool, flatten, dropout, activation).
            continue;
        };
        // "weight" and "bias" are the first two tensors of every kind that
        // has parameters (dense, conv2d, batch_norm).
        let (w_sq, b_sq) = (
            sums.first().copied().unwrap_or(0.0),
            sums.get(1).copied().unwrap_or(0.0),
        );
        grad_sq += sums.iter().sum::<f64>();
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

/// Both backward products of a dense layer below this many multiply-adds
/// run in turn on the caller, each split by `gemm` as it sees fit; from
/// here on they run at once on two threads, each product whole: mid-sized
/// products lose when split by columns but gain as a pair, and small ones
/// cost less than waking a worker (`cargo bench --bench gemm_shapes --
/// --pairs`; bench/RESULTS.md): [`MIN_WAKE_MACS`].
pub const PAIR_MIN_MACS: usize = MIN_WAKE_MACS;

/// Layer `l`'s share of the backward pass: its parameter gradients (with
/// the sum of squares of each tensor, returned; None for a parameter-free
/// layer) and, below the first layer, the delta of layer `l - 1` (its
/// input gradient through layer `l - 1`'s activation). The two are
/// independent (both read only layer `l`'s delta), so for a large enough
/// dense layer they run at once on two kernel threads ([`PAIR_MIN_MACS`]);
/// each is computed the same way on either thread, so the results do not
/// depend on the thread count.
fn layer_backward<F: Float>(
    layers: &[&(dyn Layer<F> + Sync)],
    ws: &mut Workspace<F>,
    x: &Array2<F>,
    l: usize,
    threads: usize,
) -> Option<Vec<f64>> {
    let Workspace {
        pre,
        act,
        delta,
        grads,
        caches,
        ..
    } = ws;
    let (lower, upper) = delta.split_at_mut(l);
    let d = &upper[0];
    let input: ArrayView2<F> = if l == 0 { x.view() } else { act[l - 1].view() };
    let layer = layers[l];
    let cache = &caches[l];
    let grads = &mut grads[l];
    let has_params = !grads.is_empty();
    let mut params = move || {
        if !has_params {
            return None;
        }
        {
            let mut views: Vec<_> = grads.iter_mut().map(|g| g.view_mut()).collect();
            layer.backward_params(input, d, cache, &mut views);
        }
        Some(sums_of_squares(grads, threads))
    };
    let Some((below, below_delta)) = l.checked_sub(1).zip(lower.last_mut()) else {
        return params();
    };
    let (pre, act) = (&pre[below], &act[below]);
    let below_layer = layers[below];
    let mut delta_below = move || {
        layer.backward_input(act.view(), d, cache, below_delta);
        below_layer.backward_act(pre, act, below_delta);
    };
    let pair = threads > 1
        && has_params
        && layer.fused_with_next()
        && d.len().saturating_mul(input.ncols()) >= PAIR_MIN_MACS;
    if pair {
        join(threads, params, delta_below).0
    } else {
        let sums = params();
        delta_below();
        sums
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::activation::Activation;
    use crate::engine::layers::testing::{as_layers, dense};
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// A dense layer's two backward products run at once on two threads
    /// (a 64 x 256 x 160 layer is above [`PAIR_MIN_MACS`]) or in turn on
    /// one: source of truth is the one-thread run; every delta, gradient
    /// and sum of squares must have the same bits.
    #[test]
    fn pairing_the_backward_products_changes_no_bit() {
        let cfg = [
            dense(256, Activation::Relu),
            dense(160, Activation::Sigmoid),
            dense(10, Activation::Softmax),
        ];
        let net = Network::<f32>::init(300, &cfg, 3);
        let layers = as_layers(&net);
        const { assert!(64 * 256 * 160 >= PAIR_MIN_MACS) };
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let x = Array2::from_shape_fn((64, 300), |_| rng.random_range(-1.0f32..1.0));
        let delta_top = Array2::from_shape_fn((64, 10), |_| rng.random_range(-0.1f32..0.1));
        let run = |threads: usize| {
            let mut ws = Workspace::new(&net, 64);
            forward(&net, &mut ws, &x, &mut |_, _| Flow::Continue);
            ws.delta[2].assign(&delta_top);
            let sums: Vec<_> = (0..3)
                .rev()
                .map(|l| layer_backward(&layers, &mut ws, &x, l, threads))
                .collect();
            (sums, ws.delta, ws.grads)
        };
        let bits = |a: &[Array2<f32>]| -> Vec<u32> {
            a.iter()
                .flat_map(|t| t.iter().map(|v| v.to_bits()))
                .collect()
        };
        let (want_sums, want_delta, want_grads) = run(1);
        for threads in [2, 3] {
            let (sums, delta, grads) = run(threads);
            assert_eq!(format!("{sums:?}"), format!("{want_sums:?}"));
            assert_eq!(bits(&delta), bits(&want_delta));
            for (g, w) in grads.iter().flatten().zip(want_grads.iter().flatten()) {
                assert!(g.iter().zip(w).all(|(a, b)| a.to_bits() == b.to_bits()));
            }
        }
    }

    /// Source of truth: the layer-by-layer backward pass on one thread.
    /// The pipelined run (`pipeline`: the delta chain and the parameter
    /// gradients as two tasks) followed by the first layer must give its
    /// bits for 2 and 3 threads: every delta, every gradient and every sum
    /// of squares; and the run is the documented one.
    #[test]
    fn pipelined_run_gives_the_layer_by_layer_bits() {
        let cfg = [
            dense(200, Activation::Relu),
            dense(192, Activation::Sigmoid),
            dense(160, Activation::Tanh),
            dense(10, Activation::Softmax),
        ];
        let net = Network::<f32>::init(300, &cfg, 7);
        let layers = as_layers(&net);
        assert_eq!(pipeline::run(&layers, 3, 64, 2), Some(1..=3));
        assert_eq!(pipeline::run(&layers, 3, 64, 1), None);
        assert_eq!(
            pipeline::run(&layers, 1, 64, 2),
            None,
            "one layer: the pair"
        );
        assert_eq!(pipeline::run(&layers, 3, 2, 2), None, "too little work");
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        let x = Array2::from_shape_fn((64, 300), |_| rng.random_range(-1.0f32..1.0));
        let delta_top = Array2::from_shape_fn((64, 10), |_| rng.random_range(-0.1f32..0.1));
        let start = || {
            let mut ws = Workspace::new(&net, 64);
            forward(&net, &mut ws, &x, &mut |_, _| Flow::Continue);
            ws.delta[3].assign(&delta_top);
            ws
        };
        let mut ws = start();
        let want: Vec<_> = (0..4)
            .rev()
            .map(|l| layer_backward(&layers, &mut ws, &x, l, 1))
            .collect();
        let (want_delta, want_grads) = (ws.delta, ws.grads);
        let bits = |a: &Array2<f32>| a.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        for threads in [2, 3] {
            let mut ws = start();
            let mut got: Vec<_> = pipeline::backward(&layers, &mut ws, &x, 1..=3, threads)
                .into_iter()
                .map(Some)
                .collect();
            got.push(layer_backward(&layers, &mut ws, &x, 0, threads));
            assert_eq!(format!("{got:?}"), format!("{want:?}"), "{threads} threads");
            for (d, w) in ws.delta.iter().zip(&want_delta) {
                assert_eq!(bits(d), bits(w), "{threads} threads");
            }
            for (g, w) in ws.grads.iter().flatten().zip(want_grads.iter().flatten()) {
                assert!(g.iter().zip(w).all(|(a, b)| a.to_bits() == b.to_bits()));
            }
        }
    }
}

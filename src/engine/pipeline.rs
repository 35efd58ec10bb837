//! The backward pass of a run of dense layers as two tasks on two threads
//! at once, one wake of the pool for the whole run: the delta chain (each
//! layer's input gradient, then the activation's slope of the layer below)
//! on one, every layer's parameter gradients on the other, each layer's as
//! soon as its delta is complete.
//!
//! Why: pairing a layer's two products (`backprop`) woke the parked worker
//! once per layer, and each wake cost both cores kernel time and the
//! worker's start-up latency (20-30 us, `kernels::pool`); on the deep ReLU
//! net that was four wakes per step for four 64x256x256 layers. Only the
//! delta chain is sequential: a layer's weight gradient needs only its own
//! delta, so it can trail the chain on the other thread.
//!
//! Every tensor is computed by the same calls as in the layer-by-layer
//! pass, each by one thread, so the bits do not change (the tests compare
//! both passes); the caller emits the hook events afterwards, in the
//! layer-by-layer order.

use super::kernels::gemm::threads_for;
use super::kernels::pool::{join, MIN_WAKE_MACS};
use super::kernels::sumsq::sums_of_squares;
use super::layers::Layer;
use super::network::Workspace;
use super::Float;
use ndarray::{Array2, ArrayView2};
use std::ops::RangeInclusive;
use std::sync::{Condvar, Mutex, RwLock};

/// A run is pipelined only when its products total this many
/// multiply-adds: below that the wake costs about what the second thread
/// saves (`kernels::pool::MIN_WAKE_MACS`).
pub const MIN_RUN_MACS: usize = MIN_WAKE_MACS;

/// The layers from `top` down that one pipelined pass should take: dense
/// layers above the first (each has a layer below to send its delta to),
/// none with a product large enough for `gemm` to split by columns (those
/// use both threads already; inside a task they would run on one). Empty
/// (None) when the run has fewer than two layers (one layer's two products
/// are the pair `backprop` already runs at once) or too little work.
pub fn run<F: Float>(
    layers: &[&(dyn Layer<F> + Sync)],
    top: usize,
    batch: usize,
    threads: usize,
) -> Option<RangeInclusive<usize>> {
    if threads < 2 {
        return None;
    }
    let mut low = top + 1;
    let mut macs = 0usize;
    while low > 1 {
        let l = low - 1;
        let layer = layers.get(l)?;
        if !layer.fused_with_next() {
            break;
        }
        let (fan_in, units) = (layer.input_shape().width(), layer.output_shape().width());
        // The weight gradient (fan_in x batch x units) and the input
        // gradient (batch x units x fan_in) have the same size.
        if threads_for(fan_in, batch, units, threads) > 1 {
            break;
        }
        macs = macs.saturating_add(2 * batch.saturating_mul(fan_in).saturating_mul(units));
        low = l;
    }
    if low + 1 > top || macs < MIN_RUN_MACS {
        return None;
    }
    Some(low..=top)
}

/// The lowest layer whose delta is complete, and the condition variable
/// the parameter task waits on for it to move down.
struct Ready {
    lowest: Mutex<usize>,
    moved: Condvar,
}

impl Ready {
    fn set(&self, l: usize) {
        let mut lowest = self.lowest.lock().unwrap_or_else(|e| e.into_inner());
        *lowest = l;
        self.moved.notify_all();
    }

    fn wait_for(&self, l: usize) {
        let mut lowest = self.lowest.lock().unwrap_or_else(|e| e.into_inner());
        while *lowest > l {
            lowest = self.moved.wait(lowest).unwrap_or_else(|e| e.into_inner());
        }
    }
}

/// Releases the parameter task if the delta chain unwinds (kernels do not
/// panic; this keeps a bug from becoming a hang).
struct Release<'a>(&'a Ready);

impl Drop for Release<'_> {
    fn drop(&mut self) {
        self.0.set(0);
    }
}

/// Runs layers `run`'s backward (from [`run`]; the delta of its top layer
/// is complete): fills the delta of every layer from `run.start() - 1` to
/// `run.end() - 1` and every gradient of the run's layers, and returns each
/// layer's per-tensor sums of squares, top layer first.
pub fn backward<F: Float>(
    layers: &[&(dyn Layer<F> + Sync)],
    ws: &mut Workspace<F>,
    x: &Array2<F>,
    run: RangeInclusive<usize>,
    threads: usize,
) -> Vec<Vec<f64>> {
    let (low, top) = (*run.start(), *run.end());
    let Workspace {
        pre,
        act,
        delta,
        grads,
        caches,
        ..
    } = ws;
    let deltas: Vec<RwLock<&mut Array2<F>>> = delta.iter_mut().map(RwLock::new).collect();
    let ready = Ready {
        lowest: Mutex::new(top),
        moved: Condvar::new(),
    };
    let input = |l: usize| -> ArrayView2<'_, F> {
        match l.checked_sub(1).and_then(|b| act.get(b)) {
            Some(a) => a.view(),
            None => x.view(),
        }
    };
    let (pre, caches) = (&*pre, &*caches);
    let chain = || {
        let _release = Release(&ready);
        for l in (low..=top).rev() {
            let Some(b) = l.checked_sub(1) else { break };
            let (Some(d), Some(below), Some(layer), Some(below_layer)) =
                (deltas.get(l), deltas.get(b), layers.get(l), layers.get(b))
            else {
                break;
            };
            {
                let d = d.read().unwrap_or_else(|e| e.into_inner());
                let mut below = below.write().unwrap_or_else(|e| e.into_inner());
                layer.backward_input(input(l), &d, &caches[l], &mut below);
                below_layer.backward_act(&pre[b], &act[b], &mut below);
            }
            ready.set(b);
        }
    };
    let params = || {
        let mut sums = Vec::with_capacity(top + 1 - low);
        for (l, grads) in grads.iter_mut().enumerate().take(top + 1).skip(low).rev() {
            ready.wait_for(l);
            let (Some(d), Some(layer)) = (deltas.get(l), layers.get(l)) else {
                break;
            };
            let d = d.read().unwrap_or_else(|e| e.into_inner());
            {
                let mut views: Vec<_> = grads.iter_mut().map(|g| g.view_mut()).collect();
                layer.backward_params(input(l), &d, &caches[l], &mut views);
            }
            sums.push(sums_of_squares(grads, threads));
        }
        sums
    };
    join(threads, chain, params).1
}

//! The forward pass of a run of consecutive dense layers with the batch
//! cut into row blocks, one block per kernel thread, each block carried
//! through every layer of the run by one thread: one wake of the pool for
//! the whole run instead of one per product.
//!
//! Why: the deep ReLU net's 64x256x256 products (~90 us) lose when split by
//! columns, because waking a parked worker costs 20-30 us (`kernels::pool`),
//! so they ran on one core while the other idled (`perf`: the main thread
//! did ~80% of the step's GEMM samples). A dense layer's output rows depend
//! only on the same rows of its input, so two halves of the batch can go
//! through all the layers at once, activations included, without meeting.
//! Every element is computed as in the whole-batch pass (the same dot
//! product in the same order, the same bias copy, the same per-element or
//! per-row activation), so the bits do not depend on the split, which the
//! tests check.
//!
//! Only dense layers qualify: batch norm needs the whole batch, dropout
//! draws its mask over it, and convolution splits its own samples.

use super::kernels::gemm::threads_for;
use super::kernels::pool::{for_each_part, MIN_WAKE_MACS};
use super::layers::{Layer, Mode};
use super::network::{Network, Workspace};
use super::Float;
use ndarray::{Array2, ArrayView2, ArrayViewMut2, Axis};
use std::ops::Range;

/// A run is split only when its products total this many multiply-adds:
/// below that a wake of the pool costs about what the second core saves
/// (`kernels::pool::MIN_WAKE_MACS`).
pub const MIN_RUN_MACS: usize = MIN_WAKE_MACS;

/// Fewest rows per block: below this the products' micro-kernel tiles go
/// mostly empty.
pub const MIN_ROWS: usize = 8;

/// The dense layers from `start` that one split pass should run, as a
/// range (empty when layer `start` should run on its own). A run stops at
/// the first layer that is not dense and before a product large enough
/// for `gemm` to split by columns itself (`gemm::threads_for`): that one
/// already uses every core, with its weight packed once instead of once
/// per block. (Taking such a product into the run by rows saves a wake but
/// packs the whole weight in every block, which costs more.)
pub fn dense_run<F: Float>(
    net: &Network<F>,
    start: usize,
    batch: usize,
    threads: usize,
) -> Range<usize> {
    if threads < 2 || batch < 2 * MIN_ROWS {
        return start..start;
    }
    let mut end = start;
    let mut macs = 0usize;
    while let Some(dense) = net.layers.get(end).and_then(|l| l.as_dense()) {
        let (fan_in, units) = dense.weight.dim();
        if threads_for(batch, fan_in, units, threads) > 1 {
            break;
        }
        let product = batch.saturating_mul(fan_in).saturating_mul(units);
        macs = macs.saturating_add(product);
        end += 1;
    }
    if macs < MIN_RUN_MACS {
        return start..start;
    }
    start..end
}

/// One block of rows: its input rows and, per layer of the run, its rows
/// of the layer's pre-activation and activation.
type Block<'a, F> = (
    ArrayView2<'a, F>,
    Vec<(ArrayViewMut2<'a, F>, ArrayViewMut2<'a, F>)>,
);

/// Fills `ws.pre[k]` and `ws.act[k]` for every layer k of `run` (from
/// [`dense_run`]) in training mode, the batch cut into up to `threads`
/// row blocks computed at once.
pub fn forward_rows<F: Float>(
    net: &Network<F>,
    ws: &mut Workspace<F>,
    x: &Array2<F>,
    run: Range<usize>,
    threads: usize,
) {
    let Some(layers) = net.layers.get(run.clone()) else {
        return;
    };
    let Workspace { pre, act, .. } = ws;
    let (done, rest) = act.split_at_mut(run.start);
    let input = match run.start.checked_sub(1) {
        None => x.view(),
        Some(below) => match done.get(below) {
            Some(a) => a.view(),
            None => return,
        },
    };
    let rows = input.nrows().div_ceil(threads.max(1)).max(1);
    let mut blocks: Vec<Block<'_, F>> = input
        .axis_chunks_iter(Axis(0), rows)
        .map(|i| (i, Vec::with_capacity(layers.len())))
        .collect();
    for (p, a) in pre[run.clone()].iter_mut().zip(rest.iter_mut()) {
        let views = p
            .axis_chunks_iter_mut(Axis(0), rows)
            .zip(a.axis_chunks_iter_mut(Axis(0), rows));
        for (block, pa) in blocks.iter_mut().zip(views) {
            block.1.push(pa);
        }
    }
    for_each_part(threads, blocks, &|(input, outs)| {
        let mut below: Option<Array2<F>> = None;
        for (layer, (mut p, mut a)) in layers.iter().zip(outs) {
            let (z, y) = match &below {
                None => layer.forward(input.view(), Mode::Train),
                Some(b) => layer.forward(b.view(), Mode::Train),
            };
            p.assign(&z);
            a.assign(&y);
            below = Some(y);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::activation::Activation;
    use crate::engine::layers::testing::dense;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// Source of truth: each layer's own whole-batch forward on one thread
    /// (`Layer::forward`, the pass the training loop ran before). The split
    /// pass must give its bits for every thread count, with batches that
    /// do not divide evenly, sigmoid/tanh (the vectorised exp) and softmax
    /// (per row).
    #[test]
    fn split_rows_give_the_whole_batch_bits() {
        let cfg = [
            dense(96, Activation::Relu),
            dense(80, Activation::Sigmoid),
            dense(64, Activation::Tanh),
            dense(10, Activation::Softmax),
        ];
        let net = Network::<f32>::init(120, &cfg, 5);
        for batch in [16, 37, 64] {
            let mut rng = ChaCha8Rng::seed_from_u64(batch as u64);
            let x = Array2::from_shape_fn((batch, 120), |_| rng.random_range(-2.0f32..2.0));
            let mut want = Vec::new();
            let mut input = x.clone();
            for layer in &net.layers {
                let (z, a) = layer.forward(input.view(), Mode::Train);
                want.push((z, a.clone()));
                input = a;
            }
            for threads in [2, 3, 4] {
                let mut ws = Workspace::new(&net, batch);
                forward_rows(&net, &mut ws, &x, 0..4, threads);
                let bits = |a: &Array2<f32>| a.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
                for (k, (z, a)) in want.iter().enumerate() {
                    assert_eq!(
                        bits(&ws.pre[k]),
                        bits(z),
                        "pre {k}, batch {batch}, {threads} threads"
                    );
                    assert_eq!(
                        bits(&ws.act[k]),
                        bits(a),
                        "act {k}, batch {batch}, {threads} threads"
                    );
                }
            }
        }
    }

    /// A run starts after its input layer's activation and ends before a
    /// product that `gemm` splits itself; one thread, a small batch or a
    /// run too small to pay for a wake gives an empty run.
    #[test]
    fn runs_follow_the_bounds() {
        let cfg = [
            dense(256, Activation::Relu),
            dense(256, Activation::Relu),
            dense(256, Activation::Relu),
            dense(10, Activation::Softmax),
        ];
        let net = Network::<f32>::init(784, &cfg, 1);
        // 64 x 784 x 256: gemm splits it by columns itself.
        assert_eq!(dense_run(&net, 0, 64, 2), 0..0);
        assert_eq!(dense_run(&net, 1, 64, 2), 1..4);
        assert_eq!(dense_run(&net, 1, 64, 1), 1..1);
        assert_eq!(dense_run(&net, 1, 8, 2), 1..1);
        // 16 x (256 x 256 + 256 x 10) multiply-adds < MIN_RUN_MACS.
        assert_eq!(dense_run(&net, 2, 16, 2), 2..2);
        assert_eq!(dense_run(&net, 3, 64, 2), 3..3);
    }
}

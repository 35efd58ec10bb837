//! Optimizers. Each update is one fused pass over a tensor that also
//! accumulates the norms the recorders need (old weight, update, new
//! weight), so instrumentation does not cost extra sweeps over memory.
//!
//! The source of truth is PyTorch's documentation of `torch.optim` (the
//! "Algorithm" box of each optimizer), with its defaults for unset flags
//! (no nesterov, no dampening, no amsgrad, RMSprop neither centered nor with
//! momentum, Adagrad's initial accumulator 0). Per element, with gradient g,
//! parameter w, step count t (from 1), learning rate lr and weight decay wd:
//!
//! ```text
//! all:      g <- g + wd w                       (only when wd != 0)
//! sgd:      w <- w - lr g
//! momentum: b <- mu b + g;  w <- w - lr b      (b_1 = g, as b starts at 0)
//! adam:     m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2
//!           w <- w - lr (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
//! rmsprop:  v <- alpha v + (1 - alpha) g^2;  w <- w - lr g / (sqrt(v) + eps)
//! adagrad:  s <- s + g^2;  w <- w - lr / (1 + (t - 1) lr_decay) g / (sqrt(s) + eps)
//! adamax:   m <- b1 m + (1 - b1) g;  u <- max(b2 u, |g| + eps)
//!           w <- w - lr / (1 - b1^t) m / u
//! ```

use super::float::Float;
use super::kernels::pool::broadcast;
use super::kernels::threads::threads;
use super::layers::Layer;
use crate::kinds::OptimizerConfig;

/// L2 norms gathered while updating one named parameter tensor: the tensor
/// before, the applied update, the tensor after.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ParamNorms {
    pub before: f64,
    pub update: f64,
    pub after: f64,
}

/// L2 norms gathered while updating one layer, as the recorders and
/// metrics.csv columns name them (a layer's "weight" and "bias" tensors).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct UpdateNorms {
    pub weight_before: f64,
    pub weight_after: f64,
    pub update_w: f64,
    pub bias_after: f64,
    pub update_b: f64,
}

/// Per-tensor optimizer state (velocity, or Adam's two moments).
#[derive(Debug, Clone)]
struct Slots<F> {
    first: Vec<F>,
    second: Vec<F>,
}

impl<F: Float> Slots<F> {
    fn new(n: usize, config: OptimizerConfig) -> Self {
        let (a, b) = match config {
            OptimizerConfig::Sgd => (0, 0),
            OptimizerConfig::Momentum { .. } => (n, 0),
            OptimizerConfig::Adam { .. } | OptimizerConfig::Adamax { .. } => (n, n),
            OptimizerConfig::Rmsprop { .. } | OptimizerConfig::Adagrad { .. } => (0, n),
        };
        Slots {
            first: vec![F::zero(); a],
            second: vec![F::zero(); b],
        }
    }
}

impl UpdateNorms {
    /// The layer's norms from its named tensors' norms: "weight" and "bias"
    /// fill the columns they always have; a layer without one reports 0.
    pub fn from_named(named: &[(&str, ParamNorms)]) -> Self {
        let find = |name: &str| {
            named
                .iter()
                .find(|(n, _)| *n == name)
                .map_or_else(ParamNorms::default, |(_, p)| *p)
        };
        let (w, b) = (find("weight"), find("bias"));
        UpdateNorms {
            weight_before: w.before,
            weight_after: w.after,
            update_w: w.update,
            bias_after: b.after,
            update_b: b.update,
        }
    }
}

/// An optimizer with its state for every named parameter tensor of every
/// layer (indexed by layer, then by the tensor's place in the layer's
/// [`Layer::params`] list).
#[derive(Debug, Clone)]
pub struct Optimizer<F> {
    config: OptimizerConfig,
    learning_rate: f64,
    weight_decay: f64,
    slots: Vec<Vec<Slots<F>>>,
    /// Update count, for Adam's bias correction.
    t: i32,
}

/// Squared norms of the three tensors one update pass touches.
#[derive(Default)]
struct Sums {
    before: f64,
    update: f64,
    after: f64,
}

impl<F: Float> Optimizer<F> {
    /// `sizes`: per layer, the element count of each named parameter tensor
    /// in [`Layer::params`] order.
    pub fn new(config: OptimizerConfig, learning_rate: f64, sizes: &[Vec<usize>]) -> Self {
        Optimizer {
            config,
            learning_rate,
            weight_decay: 0.0,
            slots: sizes
                .iter()
                .map(|layer| layer.iter().map(|&n| Slots::new(n, config)).collect())
                .collect(),
            t: 0,
        }
    }

    /// An optimizer with state for every parameter tensor of `layers`.
    pub fn for_layers<L: Layer<F>>(
        config: OptimizerConfig,
        learning_rate: f64,
        layers: &[L],
    ) -> Self {
        let sizes: Vec<Vec<usize>> = layers
            .iter()
            .map(|l| l.params().iter().map(|p| p.value.len()).collect())
            .collect();
        Self::new(config, learning_rate, &sizes)
    }

    /// The same optimizer with an L2 penalty `weight_decay * w` added to
    /// every gradient (PyTorch's `weight_decay`).
    pub fn with_weight_decay(mut self, weight_decay: f64) -> Self {
        self.weight_decay = weight_decay;
        self
    }

    /// Starts a new step (Adam's bias correction counts steps, not layers).
    pub fn begin_step(&mut self) {
        self.t = self.t.saturating_add(1);
    }

    /// Updates parameter tensor `index` of 0-based `layer` in place (flat,
    /// contiguous); the applied update is written to `update` for the hooks
    /// (plain SGD writes it only where the new weights are not all finite,
    /// the one case a hook reads it: see `sgd`). One tensor of
    /// [`Optimizer::update_all`].
    pub fn update_param(
        &mut self,
        layer: usize,
        index: usize,
        param: Option<&mut [F]>,
        grad: Option<&[F]>,
        update: Option<&mut [F]>,
    ) -> ParamNorms {
        let (Some(param), Some(grad), Some(update)) = (param, grad, update) else {
            return ParamNorms::default();
        };
        let one = ParamUpdate {
            layer,
            index,
            param,
            grad,
            update,
        };
        self.update_all(vec![one], threads())
            .pop()
            .unwrap_or_default()
    }

    /// Updates every tensor of `tensors` in place, all in one job on up to
    /// `threads` kernel threads, and returns their norms in the same order.
    /// Each tensor is cut as [`CHUNK`] says whatever else is in the job, so
    /// its bits are those of updating it alone. One job for the whole step
    /// instead of one per long tensor, with the short tensors shared too:
    /// the deep ReLU net's three 256x256 weights (2^16 elements each, one
    /// chunk apiece) were updated one after another on the caller while
    /// the other core idled. A tensor the optimizer has no state for is
    /// left alone (all zeros): shapes come from the same network, so that
    /// would be a bug upstream, and skipping is safer than a panic.
    pub fn update_all(
        &mut self,
        tensors: Vec<ParamUpdate<'_, F>>,
        threads: usize,
    ) -> Vec<ParamNorms> {
        let rule = Rule {
            config: self.config,
            lr: F::of(self.learning_rate),
            wd: F::of(self.weight_decay),
            t: self.t.max(1),
        };
        let mut slots: std::collections::BTreeMap<(usize, usize), &mut Slots<F>> = self
            .slots
            .iter_mut()
            .enumerate()
            .flat_map(|(l, layer)| layer.iter_mut().enumerate().map(move |(i, s)| ((l, i), s)))
            .collect();
        let mut known = Vec::with_capacity(tensors.len());
        let mut whole: Vec<Whole<'_, F>> = Vec::with_capacity(tensors.len());
        for t in tensors {
            match slots.remove(&(t.layer, t.index)) {
                Some(s) => {
                    known.push(true);
                    whole.push((t.param, t.grad, t.update, &mut s.first, &mut s.second));
                }
                None => known.push(false),
            }
        }
        let mut sums = apply_pieces(rule, whole, threads).into_iter();
        known
            .into_iter()
            .map(|k| match (k, sums.next()) {
                (true, Some(s)) => ParamNorms {
                    before: s.before.sqrt(),
                    update: s.update.sqrt(),
                    after: s.after.sqrt(),
                },
                _ => ParamNorms::default(),
            })
            .collect()
    }
}

/// One parameter tensor for [`Optimizer::update_all`]: its 0-based layer,
/// its place in the layer's [`Layer::params`] list, and its flat slices
/// (parameter, gradient, and the buffer for the applied update).
pub struct ParamUpdate<'a, F> {
    pub layer: usize,
    pub index: usize,
    pub param: &'a mut [F],
    pub grad: &'a [F],
    pub update: &'a mut [F],
}

/// Tensors longer than this are updated in chunks of this many elements,
/// each with its own lane sums, the chunks' sums added in chunk order, and
/// the chunks shared among the kernel threads (`kernels::pool`). The
/// chunking depends only on the length, never on the thread count, so the
/// norms have the same bits for every thread count; a tensor up to this
/// length is summed exactly as before chunking existed. 2^16 elements: a
/// chunk of the seed network's 784x1000 weight takes tens of microseconds,
/// well above the cost of waking a worker.
pub const CHUNK: usize = 1 << 16;

/// What one update applies, shared by every chunk.
#[derive(Clone, Copy)]
struct Rule<F> {
    config: OptimizerConfig,
    lr: F,
    wd: F,
    t: i32,
}

impl<F: Float> Rule<F> {
    fn apply(
        self,
        many_lanes: bool,
        param: &mut [F],
        grad: &[F],
        update: &mut [F],
        first: &mut [F],
        second: &mut [F],
    ) -> Sums {
        apply_rule_dispatch(
            self.config,
            self.lr,
            self.wd,
            self.t,
            many_lanes,
            param,
            grad,
            update,
            first,
            second,
        )
    }
}

/// One chunk's slices: parameter, gradient, update, and the two state
/// slices (empty when the optimizer has no such state).
type Piece<'a, F> = (&'a mut [F], &'a [F], &'a mut [F], &'a mut [F], &'a mut [F]);

/// A whole tensor's slices, in the same order as a [`Piece`]'s.
type Whole<'a, F> = Piece<'a, F>;

/// A piece waiting to be taken by a thread, with whether it sums in many
/// lanes (a chunk of a long tensor).
type Slot<'a, F> = std::sync::Mutex<Option<(bool, Piece<'a, F>)>>;

/// Splits `s` at `at` if it is longer, else leaves an empty tail (for the
/// state slices an optimizer does not have).
fn split_mut<F>(s: &mut [F], at: usize) -> (&mut [F], &mut [F]) {
    let at = at.min(s.len());
    s.split_at_mut(at)
}

/// [`Rule::apply`] over every tensor of `tensors` in one job on the kernel
/// threads: a tensor longer than [`CHUNK`] in fixed chunks of [`CHUNK`]
/// (many lanes each) whose sums are combined in chunk order, a shorter one
/// as one piece (four lanes, as before chunking existed). Returns each
/// tensor's sums, in order.
fn apply_pieces<F: Float>(rule: Rule<F>, tensors: Vec<Whole<'_, F>>, threads: usize) -> Vec<Sums> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;
    // (tensor, many lanes, slices) per piece, tensors in order.
    let mut pieces: Vec<Slot<'_, F>> = Vec::new();
    let mut owner = Vec::new();
    let count = tensors.len();
    for (k, (param, grad, update, first, second)) in tensors.into_iter().enumerate() {
        let n = param.len().min(grad.len()).min(update.len());
        let many = n > CHUNK;
        let (mut p, mut g, mut u) = (&mut param[..n], &grad[..n], &mut update[..n]);
        let (mut s1, mut s2) = (first, second);
        loop {
            let w = if many { CHUNK.min(p.len()) } else { p.len() };
            let (ph, pt) = p.split_at_mut(w);
            let (gh, gt) = g.split_at(w);
            let (uh, ut) = u.split_at_mut(w);
            let (ah, at) = split_mut(s1, w);
            let (bh, bt) = split_mut(s2, w);
            pieces.push(Mutex::new(Some((many, (ph, gh, uh, ah, bh)))));
            owner.push(k);
            (p, g, u, s1, s2) = (pt, gt, ut, at, bt);
            if p.is_empty() {
                break;
            }
        }
    }
    let sums: Vec<Mutex<Sums>> = pieces.iter().map(|_| Mutex::default()).collect();
    let next = AtomicUsize::new(0);
    let work = || loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        let (Some(piece), Some(out)) = (pieces.get(i), sums.get(i)) else {
            break;
        };
        let taken = piece.lock().map(|mut p| p.take()).unwrap_or(None);
        if let Some((many, (p, g, u, a, b))) = taken {
            let s = rule.apply(many, p, g, u, a, b);
            if let Ok(mut o) = out.lock() {
                *o = s;
            }
        }
    };
    // One piece (a short tensor alone) needs no wake of the pool.
    broadcast(threads.min(pieces.len()), &work);
    let mut total: Vec<Sums> = (0..count).map(|_| Sums::default()).collect();
    for (k, s) in owner.into_iter().zip(sums) {
        let s = s.into_inner().unwrap_or_default();
        if let Some(t) = total.get_mut(k) {
            t.before += s.before;
            t.update += s.update;
            t.after += s.after;
        }
    }
    total
}

crate::multiversion!(
    /// [`apply_rule`] through its AVX2 build where the CPU has it (same
    /// bits: kernels::simd).
    #[allow(clippy::too_many_arguments)]
    fn apply_rule_dispatch<F: Float>(
        config: OptimizerConfig,
        lr: F,
        wd: F,
        t: i32,
        many_lanes: bool,
        param: &mut [F],
        grad: &[F],
        update: &mut [F],
        first: &mut [F],
        second: &mut [F],
    ) -> Sums => apply_rule
);

/// One optimizer rule over one contiguous range, summing the norms in
/// [`WIDE_LANES`] lanes when `many_lanes` (the chunks of a long tensor), else in
/// [`LANES`] (a tensor up to [`CHUNK`] elements, as before chunking).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn apply_rule<F: Float>(
    config: OptimizerConfig,
    lr: F,
    wd: F,
    t: i32,
    many_lanes: bool,
    param: &mut [F],
    grad: &[F],
    update: &mut [F],
    first: &mut [F],
    second: &mut [F],
) -> Sums {
    if many_lanes {
        apply_rule_lanes::<F, WIDE_LANES>(config, lr, wd, t, param, grad, update, first, second)
    } else {
        apply_rule_lanes::<F, LANES>(config, lr, wd, t, param, grad, update, first, second)
    }
}

/// Accumulator lanes per norm of a tensor up to [`CHUNK`] elements: four
/// lanes of three sums fit the SSE registers of a baseline x86-64 build.
const LANES: usize = 4;

/// Accumulator lanes per norm in the chunks of a longer tensor. With four,
/// each lane's sum is one chain of dependent f64 additions, and that
/// latency bounded the pass (about one element per cycle); sixteen
/// independent chains keep the adder busy (`cargo bench --bench update`;
/// bench/RESULTS.md).
const WIDE_LANES: usize = 16;

/// [`apply_rule`] with `L` accumulator lanes per norm.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn apply_rule_lanes<F: Float, const L: usize>(
    config: OptimizerConfig,
    lr: F,
    wd: F,
    t: i32,
    param: &mut [F],
    grad: &[F],
    update: &mut [F],
    first: &mut [F],
    second: &mut [F],
) -> Sums {
    let one = F::one();
    match config {
        OptimizerConfig::Sgd if wd == F::zero() => sgd::<F, L>(param, grad, update, lr),
        OptimizerConfig::Sgd => {
            fused::<F, L, _>(param, grad, update, &mut [], &mut [], wd, |g, _, _| -lr * g)
        }
        OptimizerConfig::Momentum { momentum } => {
            let mu = F::of(momentum);
            fused::<F, L, _>(param, grad, update, first, &mut [], wd, |g, v, _| {
                *v = mu * *v + g;
                -lr * *v
            })
        }
        OptimizerConfig::Adam { beta1, beta2, eps } => {
            let (b1, b2, e) = (F::of(beta1), F::of(beta2), F::of(eps));
            let c1 = F::of(1.0 - beta1.powi(t));
            let c2 = F::of(1.0 - beta2.powi(t));
            fused::<F, L, _>(param, grad, update, first, second, wd, |g, m, v| {
                *m = b1 * *m + (one - b1) * g;
                *v = b2 * *v + (one - b2) * g * g;
                -lr * (*m / c1) / ((*v / c2).sqrt() + e)
            })
        }
        OptimizerConfig::Rmsprop { alpha, eps } => {
            let (al, e) = (F::of(alpha), F::of(eps));
            fused::<F, L, _>(param, grad, update, first, second, wd, |g, _, v| {
                *v = al * *v + (one - al) * g * g;
                -lr * g / (v.sqrt() + e)
            })
        }
        OptimizerConfig::Adagrad { lr_decay, eps } => {
            let clr = lr / F::of(1.0 + f64::from(t - 1) * lr_decay);
            let e = F::of(eps);
            fused::<F, L, _>(param, grad, update, first, second, wd, |g, _, s| {
                *s += g * g;
                -clr * g / (s.sqrt() + e)
            })
        }
        OptimizerConfig::Adamax { beta1, beta2, eps } => {
            let (b1, b2, e) = (F::of(beta1), F::of(beta2), F::of(eps));
            let clr = lr / F::of(1.0 - beta1.powi(t));
            fused::<F, L, _>(param, grad, update, first, second, wd, |g, m, u| {
                *m = b1 * *m + (one - b1) * g;
                let bound = g.abs() + e;
                let decayed = b2 * *u;
                // max that keeps a NaN gradient visible rather than dropping it.
                *u = if decayed > bound { decayed } else { bound };
                -clr * *m / *u
            })
        }
    }
}

/// Plain SGD without weight decay, the most common rule: the same
/// arithmetic, lanes and summation order as [`fused`] (so the same bits),
/// written over fixed chunks without state slices so that the compiler
/// vectorises it (the general form stayed mostly scalar: a fifth of a
/// seed-network step).
///
/// The update -lr g is not stored on the way: its only reader is the
/// non-finite tracer, and only when a new weight is not finite
/// (`monitor::nonfinite`, the update at that element). Storing it was a
/// fourth stream of the pass (a write, and the read that brings each line
/// into the cache first), on a pass bound by memory. So `update` is
/// written only when this range's new weights are not all finite, by the
/// same expression (the same bits); elsewhere it keeps what it held.
#[inline(always)]
fn sgd<F: Float, const LANES: usize>(param: &mut [F], grad: &[F], update: &mut [F], lr: F) -> Sums {
    let n = param.len().min(grad.len()).min(update.len());
    let (param, grad, update) = (&mut param[..n], &grad[..n], &mut update[..n]);
    let (mut b, mut u2, mut a) = ([0.0f64; LANES], [0.0f64; LANES], [0.0f64; LANES]);
    let mut pc = param.chunks_exact_mut(LANES);
    let mut gc = grad.chunks_exact(LANES);
    for (p, g) in (&mut pc).zip(&mut gc) {
        for i in 0..LANES {
            let old = p[i];
            let du = -lr * g[i];
            let new = old + du;
            p[i] = new;
            let (o, d, w) = (old.f64(), du.f64(), new.f64());
            b[i] += o * o;
            u2[i] += d * d;
            a[i] += w * w;
        }
    }
    let mut sums = Sums {
        before: b.iter().sum(),
        update: u2.iter().sum(),
        after: a.iter().sum(),
    };
    for (p, &g) in pc.into_remainder().iter_mut().zip(gc.remainder()) {
        let old = *p;
        let du = -lr * g;
        *p = old + du;
        sums.before += old.f64() * old.f64();
        sums.update += du.f64() * du.f64();
        sums.after += p.f64() * p.f64();
    }
    if !sums.after.is_finite() {
        for (u, &g) in update.iter_mut().zip(grad.iter()) {
            *u = -lr * g;
        }
    }
    sums
}

/// Applies `rule(g, state1, state2) -> update` to every element and sums the
/// squares of old weight, update and new weight on the way. Works in chunks
/// of four with one accumulator per lane: a single f64 accumulator would be
/// a serial dependency chain that no compiler vectorises, and on the seed
/// network that chain alone cost more than the rest of the update. Four
/// lanes of three sums fit the SSE registers of a baseline x86-64 build;
/// eight spilled to the stack.
/// Empty state slices stand for optimizers without that state. `wd` is
/// added as `g + wd w` only when non-zero, so a run without weight decay
/// computes exactly what it did before (0 * inf would be NaN).
#[inline(always)]
fn fused<F: Float, const LANES: usize, R: Fn(F, &mut F, &mut F) -> F>(
    param: &mut [F],
    grad: &[F],
    update: &mut [F],
    first: &mut [F],
    second: &mut [F],
    wd: F,
    rule: R,
) -> Sums {
    let decay = wd != F::zero();
    let rule = |g: F, old: F, s1: &mut F, s2: &mut F| {
        let g = if decay { g + wd * old } else { g };
        rule(g, s1, s2)
    };
    let n = param.len().min(grad.len()).min(update.len());
    let (mut b, mut u2, mut a) = ([0.0f64; LANES], [0.0f64; LANES], [0.0f64; LANES]);
    let mut dummy1 = [F::zero(); LANES];
    let mut dummy2 = [F::zero(); LANES];
    let full = n / LANES * LANES;
    for start in (0..full).step_by(LANES) {
        let p = &mut param[start..start + LANES];
        let g = &grad[start..start + LANES];
        let u = &mut update[start..start + LANES];
        let s1 = match first.get_mut(start..start + LANES) {
            Some(s) => s,
            None => &mut dummy1[..],
        };
        let s2 = match second.get_mut(start..start + LANES) {
            Some(s) => s,
            None => &mut dummy2[..],
        };
        for i in 0..LANES {
            let old = p[i];
            let du = rule(g[i], old, &mut s1[i], &mut s2[i]);
            u[i] = du;
            let new = old + du;
            p[i] = new;
            let (o, d, w) = (old.f64(), du.f64(), new.f64());
            b[i] += o * o;
            u2[i] += d * d;
            a[i] += w * w;
        }
    }
    let mut sums = Sums {
        before: b.iter().sum(),
        update: u2.iter().sum(),
        after: a.iter().sum(),
    };
    for k in full..n {
        let (mut z1, mut z2) = (F::zero(), F::zero());
        let s1 = first.get_mut(k).unwrap_or(&mut z1);
        let s2 = second.get_mut(k).unwrap_or(&mut z2);
        let old = param[k];
        let du = rule(grad[k], old, s1, s2);
        update[k] = du;
        param[k] = old + du;
        sums.before += old.f64() * old.f64();
        sums.update += du.f64() * du.f64();
        sums.after += param[k].f64() * param[k].f64();
    }
    sums
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{array, Array1, Array2};

    /// One dense layer's update through the named-parameter interface, as
    /// the training loop makes it ("weight" then "bias").
    #[allow(clippy::too_many_arguments)]
    fn update_layer(
        opt: &mut Optimizer<f64>,
        layer: usize,
        w: &mut Array2<f64>,
        b: &mut Array1<f64>,
        gw: &Array2<f64>,
        gb: &Array1<f64>,
        uw: &mut Array2<f64>,
        ub: &mut Array1<f64>,
    ) -> UpdateNorms {
        let nw = opt.update_param(layer, 0, w.as_slice_mut(), gw.as_slice(), uw.as_slice_mut());
        let nb = opt.update_param(layer, 1, b.as_slice_mut(), gb.as_slice(), ub.as_slice_mut());
        UpdateNorms::from_named(&[("weight", nw), ("bias", nb)])
    }

    fn one_step(config: OptimizerConfig, steps: usize) -> (Array2<f64>, UpdateNorms) {
        decayed_steps(config, 0.0, steps)
    }

    /// `steps` updates of w = [1, -2], b = 0.5 with constant gradients
    /// gw = [0.5, 1], gb = 2 at learning rate 0.1.
    fn decayed_steps(
        config: OptimizerConfig,
        weight_decay: f64,
        steps: usize,
    ) -> (Array2<f64>, UpdateNorms) {
        let mut opt =
            Optimizer::<f64>::new(config, 0.1, &[vec![2, 1]]).with_weight_decay(weight_decay);
        let mut w = array![[1.0], [-2.0]];
        let mut b = array![0.5];
        let gw = array![[0.5], [1.0]];
        let gb = array![2.0];
        let (mut uw, mut ub) = (Array2::zeros((2, 1)), Array1::zeros(1));
        let mut norms = UpdateNorms::default();
        for _ in 0..steps {
            opt.begin_step();
            norms = update_layer(&mut opt, 0, &mut w, &mut b, &gw, &gb, &mut uw, &mut ub);
        }
        (w, norms)
    }

    /// The AVX2 build of every rule gives the portable build's bits, norms
    /// included (kernels::simd); only the portable build runs where the CPU
    /// has no AVX2.
    #[test]
    fn avx2_and_portable_updates_agree_bit_for_bit() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let n = 1003;
        let w: Vec<f32> = (0..n).map(|_| rng.random_range(-1.0..1.0)).collect();
        let g: Vec<f32> = (0..n).map(|_| rng.random_range(-0.1..0.1)).collect();
        let configs = [
            OptimizerConfig::Sgd,
            OptimizerConfig::Momentum { momentum: 0.9 },
            OptimizerConfig::Adam {
                beta1: 0.9,
                beta2: 0.999,
                eps: 1e-8,
            },
            OptimizerConfig::Rmsprop {
                alpha: 0.99,
                eps: 1e-8,
            },
        ];
        let cases = configs
            .iter()
            .flat_map(|&c| [(c, 0.0f32), (c, 1e-4)])
            .flat_map(|(c, wd)| [(c, wd, false), (c, wd, true)]);
        for (config, wd, many) in cases {
            let run = |dispatch: bool| {
                let (mut p, mut u) = (w.clone(), vec![0.0f32; n]);
                let (mut s1, mut s2) = (vec![0.01f32; n], vec![0.02f32; n]);
                let f = if dispatch {
                    apply_rule_dispatch
                } else {
                    apply_rule
                };
                let sums = f(
                    config, 0.01, wd, 3, many, &mut p, &g, &mut u, &mut s1, &mut s2,
                );
                (p, u, [sums.before, sums.update, sums.after])
            };
            let (a, b) = (run(false), run(true));
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&a.0), bits(&b.0), "{config:?}");
            assert_eq!(bits(&a.1), bits(&b.1), "{config:?}");
            assert_eq!(a.2.map(f64::to_bits), b.2.map(f64::to_bits), "{config:?}");
        }
    }

    /// Source of truth: the general fused pass with the SGD rule. The fast
    /// path must give its bits (weights and norms), so CSVs of SGD runs did
    /// not change; its update buffer is left alone while the new weights
    /// are finite and holds the general pass's bits when one is not (the
    /// tracer's case: an element pushed past f32::MAX).
    #[test]
    fn sgd_fast_path_gives_the_general_pass_bits() {
        fn check<const L: usize>() {
            let n = 1003;
            let w: Vec<f32> = (0..n).map(|i| (i as f32 * 0.37).sin()).collect();
            let g: Vec<f32> = (0..n).map(|i| (i as f32 * 0.11).cos() * 0.1).collect();
            let lr = 0.05f32;
            let run = |w: &[f32], g: &[f32]| {
                let (mut p1, mut u1) = (w.to_vec(), vec![7.0f32; n]);
                let s1 = sgd::<f32, L>(&mut p1, g, &mut u1, lr);
                let (mut p2, mut u2) = (w.to_vec(), vec![0.0f32; n]);
                let s2 =
                    fused::<f32, L, _>(&mut p2, g, &mut u2, &mut [], &mut [], 0.0, |g, _, _| {
                        -lr * g
                    });
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&p1), bits(&p2), "{L} lanes");
                assert_eq!(
                    [s1.before, s1.update, s1.after].map(f64::to_bits),
                    [s2.before, s2.update, s2.after].map(f64::to_bits),
                    "{L} lanes"
                );
                (u1, u2)
            };
            let (u1, _) = run(&w, &g);
            assert!(u1.iter().all(|&u| u == 7.0), "finite run: update untouched");
            let (mut w, mut g) = (w, g);
            w[500] = f32::MAX;
            g[500] = -f32::MAX;
            let (u1, u2) = run(&w, &g);
            assert!(u1.iter().zip(&u2).all(|(a, b)| a.to_bits() == b.to_bits()));
            assert!(u1[500] > 0.0 && u1[500].is_finite());
        }
        check::<LANES>();
        check::<WIDE_LANES>();
    }

    /// Source of truth: the same rule applied to the whole tensor in one
    /// pass. Chunked over any thread count, parameters, updates and state
    /// come out with the same bits and the norms with the same bits for
    /// every thread count (within rounding of the one-pass norms, whose
    /// summation order differs).
    #[test]
    fn chunked_update_is_the_same_for_every_thread_count() {
        let n = 3 * CHUNK + 1234;
        let w0: Vec<f32> = (0..n).map(|i| (i as f32 * 0.37).sin()).collect();
        let g: Vec<f32> = (0..n).map(|i| (i as f32 * 0.11).cos()).collect();
        let rule = Rule {
            config: OptimizerConfig::Adam {
                beta1: 0.9,
                beta2: 0.999,
                eps: 1e-8,
            },
            lr: 0.01f32,
            wd: 0.001,
            t: 3,
        };
        let run = |threads: Option<usize>| {
            let (mut p, mut u) = (w0.clone(), vec![0.0f32; n]);
            let (mut m, mut v) = (vec![0.1f32; n], vec![0.2f32; n]);
            let s = match threads {
                Some(t) => apply_pieces(rule, vec![(&mut p, &g, &mut u, &mut m, &mut v)], t)
                    .pop()
                    .unwrap_or_default(),
                None => rule.apply(false, &mut p, &g, &mut u, &mut m, &mut v),
            };
            (p, u, m, v, [s.before, s.update, s.after])
        };
        let whole = run(None);
        let one = run(Some(1));
        assert_eq!(
            (&one.0, &one.1, &one.2, &one.3),
            (&whole.0, &whole.1, &whole.2, &whole.3)
        );
        for (a, b) in one.4.iter().zip(&whole.4) {
            assert!((a - b).abs() <= 1e-12 * b, "{a} vs {b}");
        }
        for t in [2, 3, 5] {
            let got = run(Some(t));
            assert_eq!(
                (&got.0, &got.1, &got.2, &got.3),
                (&one.0, &one.1, &one.2, &one.3)
            );
            assert_eq!(
                got.4.map(f64::to_bits),
                one.4.map(f64::to_bits),
                "{t} threads"
            );
        }
    }

    #[test]
    fn chunked_update_matches_the_scalar_formula() {
        // Source of truth: momentum SGD written out per element, over a
        // length (23) that exercises both the chunked body and the tail.
        let n = 23;
        let w0: Vec<f64> = (0..n).map(|i| (i as f64 * 0.37).sin()).collect();
        let g: Vec<f64> = (0..n).map(|i| (i as f64 * 0.11).cos()).collect();
        let mut opt = Optimizer::<f64>::new(
            OptimizerConfig::Momentum { momentum: 0.5 },
            0.1,
            &[vec![n, 1]],
        );
        let mut w = Array2::from_shape_vec((n, 1), w0.clone()).unwrap();
        let gw = Array2::from_shape_vec((n, 1), g.clone()).unwrap();
        let (mut b, gb) = (array![0.0], array![0.0]);
        let (mut uw, mut ub) = (Array2::zeros((n, 1)), Array1::zeros(1));
        for _ in 0..2 {
            opt.begin_step();
            update_layer(&mut opt, 0, &mut w, &mut b, &gw, &gb, &mut uw, &mut ub);
        }
        for i in 0..n {
            // v1 = g, v2 = 1.5 g: w = w0 - 0.1 g - 0.15 g.
            assert!(
                (w[[i, 0]] - (w0[i] - 0.25 * g[i])).abs() < 1e-12,
                "element {i}"
            );
            assert!((uw[[i, 0]] - -0.15 * g[i]).abs() < 1e-12);
        }
    }

    #[test]
    fn sgd_step_and_norms() {
        // By hand: w - 0.1 g = [0.95, -2.1]; ||update|| = 0.1 * sqrt(1.25).
        let (w, n) = one_step(OptimizerConfig::Sgd, 1);
        assert_eq!(w, array![[0.95], [-2.1]]);
        assert!((n.update_w - 0.1 * 1.25f64.sqrt()).abs() < 1e-12);
        assert!((n.weight_before - 5f64.sqrt()).abs() < 1e-12);
        assert!((n.weight_after - (0.95f64.powi(2) + 2.1f64.powi(2)).sqrt()).abs() < 1e-12);
    }

    #[test]
    fn momentum_accumulates_velocity() {
        // By hand, two steps with constant g: v1 = g, v2 = 0.9 g + g = 1.9 g,
        // so w = w0 - 0.1 (1 + 1.9) g.
        let (w, _) = one_step(OptimizerConfig::Momentum { momentum: 0.9 }, 2);
        assert!((w[[0, 0]] - (1.0 - 0.1 * 2.9 * 0.5)).abs() < 1e-12);
    }

    #[test]
    fn adam_first_step_moves_by_learning_rate() {
        // Analytic: with bias correction, Adam's first update is
        // -lr * g / (|g| + eps) = -lr * sign(g) (up to eps).
        let adam = OptimizerConfig::Adam {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
        };
        let (w, _) = one_step(adam, 1);
        assert!((w[[0, 0]] - 0.9).abs() < 1e-6);
        assert!((w[[1, 0]] - -2.1).abs() < 1e-6);
    }

    #[test]
    fn rmsprop_two_steps_by_hand() {
        // PyTorch's RMSprop, alpha 0.9, eps 0, g = 0.5 (w[0] = 1):
        // v1 = 0.1 * 0.25 = 0.025, w1 = 1 - 0.1 * 0.5 / sqrt(0.025);
        // v2 = 0.9 * 0.025 + 0.025 = 0.0475, w2 = w1 - 0.1 * 0.5 / sqrt(0.0475).
        let (w, _) = one_step(
            OptimizerConfig::Rmsprop {
                alpha: 0.9,
                eps: 0.0,
            },
            2,
        );
        let want = 1.0 - 0.05 / 0.025f64.sqrt() - 0.05 / 0.0475f64.sqrt();
        assert!((w[[0, 0]] - want).abs() < 1e-12, "{} vs {want}", w[[0, 0]]);
    }

    #[test]
    fn adagrad_two_steps_by_hand() {
        // PyTorch's Adagrad, lr_decay 0.5, eps 0, g = 1 (w[1] = -2):
        // s1 = 1, w1 = -2 - 0.1 * 1 / 1; s2 = 2, clr = 0.1 / 1.5,
        // w2 = w1 - clr * 1 / sqrt(2).
        let (w, _) = one_step(
            OptimizerConfig::Adagrad {
                lr_decay: 0.5,
                eps: 0.0,
            },
            2,
        );
        let want = -2.1 - 0.1 / 1.5 / 2f64.sqrt();
        assert!((w[[1, 0]] - want).abs() < 1e-12, "{} vs {want}", w[[1, 0]]);
    }

    #[test]
    fn adamax_two_steps_by_hand() {
        // PyTorch's Adamax, betas (0.9, 0.999), eps 0, g = 0.5 (w[0] = 1):
        // m1 = 0.05, u1 = 0.5, w1 = 1 - 0.1 / 0.1 * 0.05 / 0.5 = 0.9;
        // m2 = 0.095, u2 = max(0.4995, 0.5) = 0.5, clr = 0.1 / 0.19,
        // w2 = 0.9 - clr * 0.095 / 0.5 = 0.8.
        let (w, _) = one_step(
            OptimizerConfig::Adamax {
                beta1: 0.9,
                beta2: 0.999,
                eps: 0.0,
            },
            2,
        );
        assert!((w[[0, 0]] - 0.8).abs() < 1e-12, "{}", w[[0, 0]]);
    }

    #[test]
    fn weight_decay_adds_the_l2_gradient_for_every_optimizer() {
        // PyTorch: g <- g + wd w before the rule. With wd 0.5 and w = [1, -2]
        // the effective gradient of SGD is [0.5 + 0.5, 1 - 1] = [1, 0].
        let (w, _) = decayed_steps(OptimizerConfig::Sgd, 0.5, 1);
        assert!((w[[0, 0]] - 0.9).abs() < 1e-12);
        assert!((w[[1, 0]] - -2.0).abs() < 1e-12);
        // Every other optimizer sees the same zero effective gradient on w[1]
        // at its first step and so leaves it alone (adaptive ones divide 0 by
        // eps > 0), while without decay they all move it.
        let others = [
            OptimizerConfig::Momentum { momentum: 0.9 },
            OptimizerConfig::Adam {
                beta1: 0.9,
                beta2: 0.999,
                eps: 1e-8,
            },
            OptimizerConfig::Rmsprop {
                alpha: 0.99,
                eps: 1e-8,
            },
            OptimizerConfig::Adagrad {
                lr_decay: 0.0,
                eps: 1e-10,
            },
            OptimizerConfig::Adamax {
                beta1: 0.9,
                beta2: 0.999,
                eps: 1e-8,
            },
        ];
        for config in others {
            let (w, _) = decayed_steps(config, 0.5, 1);
            assert!((w[[1, 0]] - -2.0).abs() < 1e-12, "{config}: {}", w[[1, 0]]);
            let (w, _) = decayed_steps(config, 0.0, 1);
            assert!(w[[1, 0]] < -2.05, "{config}: {}", w[[1, 0]]);
        }
    }
}

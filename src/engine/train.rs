//! The training loop: one step is forward, loss, backward, clipping and
//! update, with an event after each operation. With no hooks attached it is
//! the same loop, so an uninstrumented run measures the same code.

use super::backprop::{backward, forward, Op};
use super::eval::{evaluate, EvalStats};
use super::flaw::Flaw;
use super::float::Float;
use super::hook::{Event, Flow, Hook, StepStats};
use super::kernels::threads::threads;
use super::layers::{AnyLayer, Layer};
use super::loss::{batch_loss, count_correct};
use super::network::{Network, Workspace};
use super::optim::{Optimizer, ParamNorms, ParamUpdate, UpdateNorms};
use crate::data::batch::Batcher;
use crate::kinds::LossKind;
use ndarray::{Array2, ArrayViewD};

/// Features, one-hot targets and labels of one split, already in the
/// training precision.
#[derive(Debug, Clone)]
pub struct Split<F> {
    pub x: Array2<F>,
    pub targets: Array2<F>,
    pub labels: Vec<usize>,
}

impl<F> Split<F> {
    /// Samples (rows of `x`: regression and multilabel splits have no
    /// class labels).
    pub fn len(&self) -> usize {
        self.x.nrows()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What to run: validated settings the loop needs.
#[derive(Debug, Clone)]
pub struct Plan {
    pub steps: usize,
    pub batch_size: usize,
    pub loss: LossKind,
    pub clip_grad_norm: Option<f64>,
    pub eval_every: usize,
    pub seed: u64,
    /// A deliberate backprop mistake (tests and `--inject-bug` only).
    pub flaw: Option<Flaw>,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// Steps that completed (update applied).
    pub steps_run: usize,
    /// The step a hook stopped, if one did.
    pub stopped_at: Option<usize>,
    /// Loss and accuracy of the last completed step's batch.
    pub last: Option<StepStats>,
    /// The last test-set evaluation.
    pub last_eval: Option<EvalStats>,
}

/// Errors the loop itself can raise (bad plans; data problems are caught
/// before training).
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("cannot batch the training data: {0}")]
    Batch(#[from] crate::data::DataError),
    #[error("the network expects {expected} input features but the data has {found}")]
    Width { expected: usize, found: usize },
}

/// Emits one event to every hook; all hooks see it even when one stops.
fn emit<F: Float>(hooks: &mut [&mut dyn Hook<F>], step: usize, event: Event<'_, F>) -> Flow {
    let mut flow = Flow::Continue;
    for h in hooks.iter_mut() {
        if h.on_event(step, &event) == Flow::Stop {
            flow = Flow::Stop;
        }
    }
    flow
}

/// Stops the step (returning from the enclosing fn) when a hook asked to.
macro_rules! emit_or_stop {
    ($hooks:expr, $step:expr, $event:expr) => {
        if emit($hooks, $step, $event) == Flow::Stop {
            return StepEnd::Stopped;
        }
    };
}

enum StepEnd {
    Done(StepStats),
    Stopped,
}

/// Trains `net` in place for `plan.steps` steps (or until a hook stops it).
/// `progress` is called after each completed step with read-only access to
/// the network (gradient checks at given steps use it).
pub fn train<F: Float>(
    net: &mut Network<F>,
    optimizer: &mut Optimizer<F>,
    train: &Split<F>,
    test: Option<&Split<F>>,
    plan: &Plan,
    hooks: &mut [&mut dyn Hook<F>],
    progress: &mut dyn FnMut(usize, &Network<F>),
) -> Result<Outcome, TrainError> {
    if train.x.ncols() != net.input_width() {
        return Err(TrainError::Width {
            expected: net.input_width(),
            found: train.x.ncols(),
        });
    }
    let mut batcher = Batcher::new(train.len(), plan.batch_size, plan.seed)?;
    let mut ws = Workspace::new(net, plan.batch_size);
    let mut outcome = Outcome {
        steps_run: 0,
        stopped_at: None,
        last: None,
        last_eval: None,
    };
    let (mut x, mut t) = (Array2::zeros((0, 0)), Array2::zeros((0, 0)));
    for step in 1..=plan.steps {
        if crate::interrupt::requested() {
            // Ctrl-C: end at this step boundary; the caller reports what ran.
            break;
        }
        let idx = batcher.next_batch();
        gather_rows(&train.x, idx, &mut x);
        gather_rows(&train.targets, idx, &mut t);
        let labels: Vec<usize> = idx
            .iter()
            .filter_map(|&i| train.labels.get(i).copied())
            .collect();
        optimizer.begin_step();
        match run_step(net, optimizer, &mut ws, plan, step, &x, &t, &labels, hooks) {
            StepEnd::Stopped => {
                outcome.stopped_at = Some(step);
                return Ok(outcome);
            }
            StepEnd::Done(stats) => {
                for h in hooks.iter_mut() {
                    h.on_step_end(step, &stats);
                }
                outcome.steps_run = step;
                outcome.last = Some(stats);
            }
        }
        if let Some(test) = test.filter(|t| !t.is_empty()) {
            if step % plan.eval_every == 0 || step == plan.steps {
                let stats = evaluate(net, plan.loss, &test.x, &test.targets, &test.labels);
                for h in hooks.iter_mut() {
                    h.on_eval(step, &stats);
                }
                outcome.last_eval = Some(stats);
            }
        }
        progress(step, net);
    }
    Ok(outcome)
}

/// Rows `idx` of `src` into `dst`, reshaped only when the batch's shape
/// changes: the batch buffers are reused across steps, and each row is one
/// contiguous copy (ndarray's `select` allocated and went element by
/// element, ~2% of a seed-network step under `perf`).
fn gather_rows<F: Float>(src: &Array2<F>, idx: &[usize], dst: &mut Array2<F>) {
    if dst.dim() != (idx.len(), src.ncols()) {
        *dst = Array2::zeros((idx.len(), src.ncols()));
    }
    let width = src.ncols();
    match (src.as_slice(), dst.as_slice_mut()) {
        (Some(s), Some(d)) if width > 0 => {
            for (row, &i) in d.chunks_exact_mut(width).zip(idx) {
                if let Some(from) = s.get(i * width..(i + 1) * width) {
                    row.copy_from_slice(from);
                }
            }
        }
        _ => {
            for (mut row, &i) in dst.rows_mut().into_iter().zip(idx) {
                row.assign(&src.row(i));
            }
        }
    }
}

/// One step: forward, loss, backward, clip, update.
#[allow(clippy::too_many_arguments)]
fn run_step<F: Float>(
    net: &mut Network<F>,
    optimizer: &mut Optimizer<F>,
    ws: &mut Workspace<F>,
    plan: &Plan,
    step: usize,
    x: &Array2<F>,
    t: &Array2<F>,
    labels: &[usize],
    hooks: &mut [&mut dyn Hook<F>],
) -> StepEnd {
    let Some(last) = net.layers.len().checked_sub(1) else {
        return StepEnd::Stopped;
    };
    let output = net.layers[last].activation();
    for (l, cache) in ws.caches.iter_mut().enumerate() {
        cache.seed = step_seed(plan.seed, step, l);
    }
    let (loss, correct, grad_sq) = {
        let netr: &Network<F> = net;
        let mut on =
            |op: Op, ws: &Workspace<F>| emit(hooks, step, event(op, netr, ws, x, t, plan.loss));
        if forward(netr, ws, x, &mut on) == Flow::Stop {
            return StepEnd::Stopped;
        }
        let loss = batch_loss(plan.loss, output, &ws.pre[last], &ws.act[last], t);
        let correct = count_correct(&ws.act[last], labels);
        let loss_event = Event::Loss {
            kind: plan.loss,
            output,
            pre: &ws.pre[last],
            act: &ws.act[last],
            targets: t,
            loss,
        };
        if emit(hooks, step, loss_event) == Flow::Stop {
            return StepEnd::Stopped;
        }
        let mut on =
            |op: Op, ws: &Workspace<F>| emit(hooks, step, event(op, netr, ws, x, t, plan.loss));
        let (flow, grad_sq) = backward(netr, ws, x, t, plan.loss, plan.flaw.as_ref(), &mut on);
        if flow == Flow::Stop {
            return StepEnd::Stopped;
        }
        (loss, correct, grad_sq)
    };
    // Clip by the global norm, then update.
    let clip_scale = clip_scale(plan.clip_grad_norm, grad_sq.sqrt());
    if clip_scale < 1.0 {
        let s = F::of(clip_scale);
        for g in ws.grads.iter_mut().flatten() {
            g.mapv_inplace(|v| v * s);
        }
    }
    // Batch norm's running statistics move from this step's batch
    // statistics (its drift is measured before they do).
    let drifts: Vec<Option<f64>> = net
        .layers
        .iter_mut()
        .zip(&ws.caches)
        .map(|(layer, cache)| {
            let drift = layer.step_drift(cache);
            layer.update_state(cache);
            drift
        })
        .collect();
    // Every named tensor of every layer with its gradient and update
    // buffer, in the layers' params() order ("weight", "bias"), updated in
    // one job on the kernel threads (`Optimizer::update_all`); a tensor
    // that is not contiguous is left alone with zero norms, as before. The
    // Update events follow layer by layer, so a hook that stops the step at
    // one finds the later layers already updated (the run ends there).
    let mut named: Vec<(usize, &'static str, Option<usize>)> = Vec::new();
    let mut tensors: Vec<ParamUpdate<'_, F>> = Vec::new();
    for (l, ((layer, grads), updates)) in net
        .layers
        .iter_mut()
        .zip(&ws.grads)
        .zip(ws.updates.iter_mut())
        .enumerate()
    {
        if grads.is_empty() {
            continue;
        }
        let params = layer
            .params_mut()
            .into_iter()
            .zip(grads)
            .zip(updates.iter_mut());
        for (index, ((p, g), u)) in params.enumerate() {
            let slices = (p.value.into_slice(), g.as_slice(), u.as_slice_mut());
            let at = match slices {
                (Some(param), Some(grad), Some(update)) => {
                    tensors.push(ParamUpdate {
                        layer: l,
                        index,
                        param,
                        grad,
                        update,
                    });
                    Some(tensors.len() - 1)
                }
                _ => None,
            };
            named.push((l, p.name, at));
        }
    }
    let norms = optimizer.update_all(tensors, threads());
    for (l, drift) in drifts.into_iter().enumerate() {
        if ws.grads[l].is_empty() {
            continue;
        }
        let of_layer: Vec<(&str, ParamNorms)> = named
            .iter()
            .filter(|(k, _, _)| *k == l)
            .map(|&(_, name, at)| {
                let n = at.and_then(|i| norms.get(i)).copied().unwrap_or_default();
                (name, n)
            })
            .collect();
        let norms = UpdateNorms::from_named(&of_layer);
        let params = net.layers[l].params();
        let value = |k: usize| params.get(k).map(|p| p.value.view());
        let grad = |k: usize| ws.grads[l].get(k).map(|g| g.view());
        let update = |k: usize| ws.updates[l].get(k).map(|u| u.view());
        emit_or_stop!(
            hooks,
            step,
            Event::Update {
                layer: l + 1,
                weight: value(0),
                bias: value(1),
                grad_w: grad(0),
                grad_b: grad(1),
                update_w: update(0),
                update_b: update(1),
                norms,
                clip_scale,
                drift,
            }
        );
    }
    // No class labels (regression, multilabel): accuracy does not apply.
    let batch_accuracy = if labels.is_empty() {
        f64::NAN
    } else {
        correct as f64 / labels.len() as f64
    };
    StepEnd::Done(StepStats {
        loss,
        batch_accuracy,
    })
}

/// The seed of layer `l`'s random draws (dropout's mask) at `step`: one
/// stream per (seed, step, layer), so runs repeat exactly.
pub fn step_seed(seed: u64, step: usize, l: usize) -> u64 {
    const DROPOUT_STREAM: u64 = 0xD409_0000_0000_0005;
    let mut z = seed ^ DROPOUT_STREAM;
    for v in [step as u64, l as u64] {
        // splitmix64 of the running value and the next key.
        z = z.wrapping_add(v).wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
    }
    z
}

/// A dense layer's weight [fan_in, units], if `layer` is dense.
fn dense_weight<F: Float>(layer: &AnyLayer<F>) -> Option<ndarray::ArrayView2<'_, F>> {
    layer.as_dense().map(|d| d.weight.view())
}

/// The hook event for a forward/backward operation, built from the
/// workspace the operation just wrote.
fn event<'a, F: Float>(
    op: Op,
    net: &'a Network<F>,
    ws: &'a Workspace<F>,
    x: &'a Array2<F>,
    t: &'a Array2<F>,
    loss: LossKind,
) -> Event<'a, F> {
    let input = |l: usize| {
        if l == 0 {
            x.view()
        } else {
            ws.act[l - 1].view()
        }
    };
    let last = net.layers.len() - 1;
    match op {
        Op::ForwardLinear(l) => Event::ForwardLinear {
            layer: l + 1,
            kind: net.layers[l].kind(),
            input: input(l),
            weight: dense_weight(&net.layers[l]),
            bias: net.layers[l].as_dense().map(|d| d.bias.view()),
            pre: &ws.pre[l],
        },
        Op::ForwardActivation(l) => Event::ForwardActivation {
            layer: l + 1,
            activation: net.layers[l].activation(),
            pre: &ws.pre[l],
            act: &ws.act[l],
        },
        Op::BackwardOutput => Event::BackwardOutput {
            layer: last + 1,
            kind: loss,
            output: net.layers[last].activation(),
            pre: &ws.pre[last],
            act: &ws.act[last],
            targets: t,
            delta: &ws.delta[last],
        },
        Op::BackwardDelta(l) => Event::BackwardDelta {
            layer: l + 1,
            activation: net.layers[l].activation(),
            next_kind: net.layers[l + 1].kind(),
            delta_next: &ws.delta[l + 1],
            weight_next: dense_weight(&net.layers[l + 1]),
            pre: &ws.pre[l],
            delta: &ws.delta[l],
        },
        Op::WeightGrad {
            layer: l,
            w_sq,
            b_sq,
        } => {
            let grad =
                |k: usize| -> Option<ArrayViewD<'a, F>> { ws.grads[l].get(k).map(|g| g.view()) };
            Event::WeightGrad {
                layer: l + 1,
                kind: net.layers[l].kind(),
                input: input(l),
                delta: &ws.delta[l],
                grad_w: grad(0),
                grad_b: grad(1),
                grad_w_norm: w_sq.sqrt(),
                grad_b_norm: b_sq.sqrt(),
            }
        }
    }
}

/// Factor applied to all gradients: max_norm / norm when the global norm is
/// above the limit, else 1. A non-finite norm is left alone: the tracer has
/// already stopped the step, and scaling NaN helps nobody.
fn clip_scale(max_norm: Option<f64>, norm: f64) -> f64 {
    match max_norm {
        Some(m) if norm.is_finite() && norm > m => m / norm,
        _ => 1.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Init, LayerConfig, OptimizerConfig};
    use crate::data::one_hot;
    use crate::engine::activation::Activation;
    use crate::engine::layers::dense::DenseConfig;
    use crate::engine::layers::KindConfig;
    use ndarray::Array2;

    /// Source of truth: ndarray's `select`, which the loop used before.
    /// The reused buffer must hold the same rows, also when the batch
    /// shrinks or grows and with repeated indices.
    #[test]
    fn gather_rows_matches_select() {
        use ndarray::Axis;
        let src = Array2::from_shape_fn((9, 5), |(i, j)| (i * 10 + j) as f32);
        let mut dst = Array2::zeros((0, 0));
        for idx in [vec![3, 1, 8, 3], vec![0], vec![8, 7, 6, 5, 4, 2]] {
            gather_rows(&src, &idx, &mut dst);
            assert_eq!(dst, src.select(Axis(0), &idx));
        }
    }

    /// A linearly separable 2-class toy problem.
    fn toy_split() -> Split<f64> {
        let n = 64;
        let mut x = Array2::zeros((n, 2));
        let mut labels = Vec::new();
        for i in 0..n {
            let a = i as f64 / n as f64 * std::f64::consts::TAU;
            let label = i % 2;
            let r = if label == 0 { 1.0 } else { -1.0 };
            x[[i, 0]] = r + 0.3 * a.cos();
            x[[i, 1]] = r + 0.3 * a.sin();
            labels.push(label);
        }
        Split {
            targets: one_hot(&labels, 2),
            x,
            labels,
        }
    }

    fn net(act: Activation) -> Network<f64> {
        let cfg = [
            LayerConfig {
                kind: KindConfig::Dense(DenseConfig { units: 8 }),
                units: 8,
                activation: act,
                init: Init::XavierUniform,
                bias_init: 0.0,
            },
            LayerConfig {
                kind: KindConfig::Dense(DenseConfig { units: 2 }),
                units: 2,
                activation: Activation::Softmax,
                init: Init::XavierUniform,
                bias_init: 0.0,
            },
        ];
        Network::init(2, &cfg, 5)
    }

    fn plan(steps: usize) -> Plan {
        Plan {
            steps,
            batch_size: 16,
            loss: LossKind::CrossEntropy,
            clip_grad_norm: None,
            eval_every: 10,
            seed: 1,
            flaw: None,
        }
    }

    #[test]
    fn training_a_separable_problem_reduces_the_loss() {
        let data = toy_split();
        let mut n = net(Activation::Tanh);
        let mut opt = Optimizer::for_layers(OptimizerConfig::Sgd, 0.5, &n.layers);
        let before = evaluate(
            &n,
            LossKind::CrossEntropy,
            &data.x,
            &data.targets,
            &data.labels,
        );
        let out = train(
            &mut n,
            &mut opt,
            &data,
            Some(&data),
            &plan(200),
            &mut [],
            &mut |_, _| {},
        )
        .unwrap();
        assert_eq!(out.steps_run, 200);
        let after = out.last_eval.unwrap();
        assert!(after.loss < before.loss / 4.0, "{before:?} -> {after:?}");
        assert_eq!(after.accuracy, 1.0);
    }

    #[test]
    fn same_seed_gives_identical_weights() {
        let data = toy_split();
        let run = || {
            let mut n = net(Activation::Relu);
            let mut opt =
                Optimizer::for_layers(OptimizerConfig::Momentum { momentum: 0.9 }, 0.1, &n.layers);
            train(
                &mut n,
                &mut opt,
                &data,
                None,
                &plan(30),
                &mut [],
                &mut |_, _| {},
            )
            .unwrap();
            n
        };
        assert_eq!(run(), run());
    }

    struct StopAt(usize);
    impl<F: Float> Hook<F> for StopAt {
        fn on_event(&mut self, step: usize, e: &Event<'_, F>) -> Flow {
            if step == self.0 && matches!(e, Event::BackwardOutput { .. }) {
                Flow::Stop
            } else {
                Flow::Continue
            }
        }
    }

    #[test]
    fn a_hook_can_stop_training_mid_step() {
        let data = toy_split();
        let mut n = net(Activation::Tanh);
        let mut opt = Optimizer::for_layers(OptimizerConfig::Sgd, 0.1, &n.layers);
        let mut stop = StopAt(7);
        let mut hooks: [&mut dyn Hook<f64>; 1] = [&mut stop];
        let out = train(
            &mut n,
            &mut opt,
            &data,
            None,
            &plan(50),
            &mut hooks,
            &mut |_, _| {},
        )
        .unwrap();
        assert_eq!(out.steps_run, 6);
        assert_eq!(out.stopped_at, Some(7));
    }

    #[test]
    fn clipping_scales_to_the_limit() {
        assert_eq!(clip_scale(Some(5.0), 10.0), 0.5);
        assert_eq!(clip_scale(Some(5.0), 4.0), 1.0);
        assert_eq!(clip_scale(None, 1e9), 1.0);
        assert_eq!(clip_scale(Some(5.0), f64::NAN), 1.0);
    }
}

//! The training loop: one step is forward, loss, backward, clipping and
//! update, with an event after each operation. With no hooks attached it is
//! the same loop, so an uninstrumented run measures the same code.

use super::backprop::{backward, forward, Op};
use super::eval::{evaluate, EvalStats};
use super::flaw::Flaw;
use super::float::Float;
use super::hook::{Event, Flow, Hook, StepStats};
use super::layers::Layer;
use super::loss::{batch_loss, count_correct};
use super::network::{Network, Workspace};
use super::optim::{Optimizer, ParamNorms, UpdateNorms};
use crate::data::batch::Batcher;
use crate::kinds::LossKind;
use ndarray::{Array2, Axis};

/// Features, one-hot targets and labels of one split, already in the
/// training precision.
#[derive(Debug, Clone)]
pub struct Split<F> {
    pub x: Array2<F>,
    pub targets: Array2<F>,
    pub labels: Vec<usize>,
}

impl<F> Split<F> {
    pub fn len(&self) -> usize {
        self.labels.len()
    }
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
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
    for step in 1..=plan.steps {
        if crate::interrupt::requested() {
            // Ctrl-C: end at this step boundary; the caller reports what ran.
            break;
        }
        let idx = batcher.next_batch();
        let x = train.x.select(Axis(0), idx);
        let t = train.targets.select(Axis(0), idx);
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
    let output = net.layers[last].activation;
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
        for (gw, gb) in ws.grad_w.iter_mut().zip(ws.grad_b.iter_mut()) {
            gw.mapv_inplace(|v| v * s);
            gb.mapv_inplace(|v| v * s);
        }
    }
    for l in 0..net.layers.len() {
        let layer = &mut net.layers[l];
        // Each named tensor with its gradient and update buffer, in the
        // layer's params() order ("weight", "bias").
        let grads = [ws.grad_w[l].as_slice(), ws.grad_b[l].as_slice()];
        let updates = [ws.update_w[l].as_slice_mut(), ws.update_b[l].as_slice_mut()];
        let named: Vec<(&str, ParamNorms)> = layer
            .params_mut()
            .into_iter()
            .zip(grads)
            .zip(updates)
            .enumerate()
            .map(|(i, ((mut p, g), u))| {
                (
                    p.name,
                    optimizer.update_param(l, i, p.value.as_slice_mut(), g, u),
                )
            })
            .collect();
        let norms = UpdateNorms::from_named(&named);
        emit_or_stop!(
            hooks,
            step,
            Event::Update {
                layer: l + 1,
                weight: &layer.weight,
                bias: &layer.bias,
                grad_w: &ws.grad_w[l],
                grad_b: &ws.grad_b[l],
                update_w: &ws.update_w[l],
                update_b: &ws.update_b[l],
                norms,
                clip_scale,
            }
        );
    }
    let batch = labels.len().max(1) as f64;
    StepEnd::Done(StepStats {
        loss,
        batch_accuracy: correct as f64 / batch,
    })
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
            input: input(l),
            weight: &net.layers[l].weight,
            bias: &net.layers[l].bias,
            pre: &ws.pre[l],
        },
        Op::ForwardActivation(l) => Event::ForwardActivation {
            layer: l + 1,
            activation: net.layers[l].activation,
            pre: &ws.pre[l],
            act: &ws.act[l],
        },
        Op::BackwardOutput => Event::BackwardOutput {
            layer: last + 1,
            kind: loss,
            output: net.layers[last].activation,
            pre: &ws.pre[last],
            act: &ws.act[last],
            targets: t,
            delta: &ws.delta[last],
        },
        Op::BackwardDelta(l) => Event::BackwardDelta {
            layer: l + 1,
            activation: net.layers[l].activation,
            delta_next: &ws.delta[l + 1],
            weight_next: &net.layers[l + 1].weight,
            pre: &ws.pre[l],
            delta: &ws.delta[l],
        },
        Op::WeightGrad {
            layer: l,
            w_sq,
            b_sq,
        } => Event::WeightGrad {
            layer: l + 1,
            input: input(l),
            delta: &ws.delta[l],
            grad_w: &ws.grad_w[l],
            grad_b: &ws.grad_b[l],
            grad_w_norm: w_sq.sqrt(),
            grad_b_norm: b_sq.sqrt(),
        },
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
    use ndarray::Array2;

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
                units: 8,
                activation: act,
                init: Init::XavierUniform,
                bias_init: 0.0,
            },
            LayerConfig {
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

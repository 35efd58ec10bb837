//! Layer-local gradient checks: one layer's backward in isolation. A finite
//! difference of the whole network's loss cannot see a gradient that depth
//! has shrunk below its noise floor (an 8-layer sigmoid stack's first layer
//! receives ~1e-9 of the loss's scale), at any state. Locally it can: given
//! the layer's input x and a fixed upstream gradient U (a seeded Gaussian,
//! O(1) whatever the depth), the layer's parameter gradients and its input
//! gradient are the derivatives of f = <U, layer(x)>, which central
//! differences of one layer's forward resolve. The output layer is checked
//! on its own loss instead, through its `output_delta` (where a missing
//! output derivative lives). The whole-network direction still proves that
//! the layers compose; this proves each layer's backward, and a layer's
//! input-gradient check proves the delta it sends down.

use super::complex_step::{dense_derivative, Element};
use super::probe::Difference;
use super::resolution::Resolution;
use super::types::{CheckKind, CheckRow, RowStatus, State, Status, TensorKind, TensorResult};
use super::{pick_elements, summarise, unit_direction, Backward, RowContext};
use crate::config::{GradcheckConfig, LossKind};
use crate::engine::backprop::forward;
use crate::engine::flaw::Flaw;
use crate::engine::layers::{AnyLayer, Cache};
use crate::engine::loss::batch_loss;
use crate::engine::network::Workspace;
use crate::engine::{Layer, Mode, Network};
use crate::monitor::hook::Flow;
use ndarray::{Array2, ArrayD, ArrayViewMutD};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

/// Tag mixed into the seed for the upstream gradients and the choices.
const LOCAL_STREAM: u64 = 0x6C4E_C000_0000_1A1A;

/// What a layer's backward receives from above in a local check.
#[derive(Debug, Clone, Copy)]
pub enum Upstream<'a> {
    /// dL/da of a hidden layer: a fixed array of the layer's output shape.
    Given(&'a Array2<f64>),
    /// The output layer: its loss on these targets.
    Loss { t: &'a Array2<f64>, loss: LossKind },
}

/// One layer's analytic gradients for a given upstream: each parameter
/// tensor (in `params()` order) and the input gradient.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalGradients {
    pub params: Vec<ArrayD<f64>>,
    pub input: Array2<f64>,
}

/// The engine's backward of 0-based `layer` alone at (net, x), with `flaw`
/// applied when the flaw is in this layer's code (the decorator the whole
/// backward pass would use in its place).
pub fn engine_local(
    net: &Network<f64>,
    x: &Array2<f64>,
    layer: usize,
    upstream: Upstream<'_>,
    flaw: Option<&Flaw>,
) -> Option<LocalGradients> {
    let plain = net.layers.get(layer)?;
    let mut ws = Workspace::new(net, x.nrows());
    forward(net, &mut ws, x, &mut |_, _: &Workspace<f64>| Flow::Continue);
    let flawed = flaw.and_then(|f| f.wrap(&net.layers, &ws.act, &ws.pre, x));
    let l: &dyn Layer<f64> = match &flawed {
        Some((j, w)) if *j == layer => w,
        _ => plain,
    };
    let input = match layer.checked_sub(1) {
        None => x.view(),
        Some(below) => ws.act.get(below)?.view(),
    };
    let (pre, act, cache) = (&ws.pre[layer], &ws.act[layer], &ws.caches[layer]);
    let mut delta = Array2::zeros(pre.raw_dim());
    match upstream {
        Upstream::Given(u) => {
            delta.assign(u);
            l.backward_act(pre, act, &mut delta);
        }
        Upstream::Loss { t, loss } => l.output_delta(loss, pre, act, t, &mut delta),
    }
    let mut params: Vec<ArrayD<f64>> = l
        .params()
        .iter()
        .map(|p| ArrayD::zeros(p.value.raw_dim()))
        .collect();
    {
        let mut views: Vec<ArrayViewMutD<'_, f64>> =
            params.iter_mut().map(|g| g.view_mut()).collect();
        l.backward_params(input, &delta, cache, &mut views);
    }
    let mut grad_in = Array2::zeros(input.raw_dim());
    l.backward_input(input, &delta, cache, &mut grad_in);
    Some(LocalGradients {
        params,
        input: grad_in,
    })
}

/// Which tensor of a layer a local check perturbs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    /// The k-th tensor of `params()`.
    Param(usize),
    Input,
}

/// The local function f(params, x) of one layer, on owned copies that the
/// checks perturb in place and restore.
struct LocalFn<'a> {
    layer: AnyLayer<f64>,
    input: Array2<f64>,
    upstream: Upstream<'a>,
    /// The random draw of the base pass (dropout's mask), held fixed.
    mask: Option<Array2<f64>>,
    base_pre: Array2<f64>,
    /// The selection of the base pass (max pooling's argmax).
    base_argmax: Vec<usize>,
}

impl LocalFn<'_> {
    fn cache(&self) -> Cache<f64> {
        let mut c = Cache::new();
        if let Some(m) = &self.mask {
            c.hold(m.clone());
        }
        c
    }

    /// f at the current values, and whether the pass crossed a kink
    /// (a ReLU-family pre-activation changed sign, or max pooling took
    /// another input).
    fn value(&self) -> (f64, bool) {
        let mut cache = self.cache();
        let mut pre = Array2::zeros(self.base_pre.raw_dim());
        self.layer
            .forward_pre(self.input.view(), Mode::Train, &mut cache, &mut pre);
        let mut act = Array2::zeros(pre.raw_dim());
        self.layer.forward_act(&pre, &mut act);
        let relu_kink = self.layer.activation().is_relu_family()
            && pre
                .iter()
                .zip(&self.base_pre)
                .any(|(&a, &b)| (a > 0.0) != (b > 0.0));
        let pool_kink =
            !self.base_argmax.is_empty() && self.layer.selection(&cache) != self.base_argmax;
        let f = match self.upstream {
            Upstream::Given(u) => u.iter().zip(&act).map(|(u, a)| u * a).sum(),
            Upstream::Loss { t, loss } => batch_loss(loss, self.layer.activation(), &pre, &act, t),
        };
        (f, relu_kink || pool_kink)
    }

    /// The round-off scale of f: the sum of |U a| (cancellation in the
    /// sum does not cancel its rounding), or |loss|.
    fn magnitude(&self) -> f64 {
        let mut pre = Array2::zeros(self.base_pre.raw_dim());
        self.layer
            .forward_pre(self.input.view(), Mode::Train, &mut self.cache(), &mut pre);
        let mut act = Array2::zeros(pre.raw_dim());
        self.layer.forward_act(&pre, &mut act);
        match self.upstream {
            Upstream::Given(u) => u.iter().zip(&act).map(|(u, a)| (u * a).abs()).sum(),
            Upstream::Loss { t, loss } => {
                batch_loss(loss, self.layer.activation(), &pre, &act, t).abs()
            }
        }
    }

    /// Adds `delta[i]` to the target's flat elements (a single element when
    /// `delta` has one entry and `at` is given).
    fn shift(&mut self, target: Target, at: Option<usize>, delta: &[f64], sign: f64) {
        let apply = |slice: &mut [f64]| match at {
            Some(i) => {
                if let (Some(v), Some(d)) = (slice.get_mut(i), delta.first()) {
                    *v += sign * d;
                }
            }
            None => {
                for (v, d) in slice.iter_mut().zip(delta) {
                    *v += sign * d;
                }
            }
        };
        match target {
            Target::Input => {
                if let Some(s) = self.input.as_slice_mut() {
                    apply(s);
                }
            }
            Target::Param(k) => {
                if let Some(p) = self.layer.params_mut().get_mut(k) {
                    if let Some(s) = p.value.as_slice_mut() {
                        apply(s);
                    }
                }
            }
        }
    }

    /// The central difference of f along `delta` (scaled by eps) applied at
    /// `at` (one element) or over the whole target; values restored.
    fn difference(
        &mut self,
        target: Target,
        at: Option<usize>,
        dir: &[f64],
        eps: f64,
    ) -> Difference {
        let saved = self.snapshot(target);
        let step: Vec<f64> = dir.iter().map(|d| d * eps).collect();
        self.shift(target, at, &step, 1.0);
        let (fp, kp) = self.value();
        self.restore(target, &saved);
        self.shift(target, at, &step, -1.0);
        let (fm, km) = self.value();
        self.restore(target, &saved);
        Difference {
            numeric: (fp - fm) / (2.0 * eps),
            kink: kp || km,
        }
    }

    fn snapshot(&mut self, target: Target) -> Vec<f64> {
        match target {
            Target::Input => self.input.iter().copied().collect(),
            Target::Param(k) => self
                .layer
                .params_mut()
                .get(k)
                .map(|p| p.value.iter().copied().collect())
                .unwrap_or_default(),
        }
    }

    /// Puts back exactly the values of [`LocalFn::snapshot`] (adding and
    /// subtracting eps does not always round back to the same bits).
    fn restore(&mut self, target: Target, saved: &[f64]) {
        match target {
            Target::Input => {
                for (v, s) in self.input.iter_mut().zip(saved) {
                    *v = *s;
                }
            }
            Target::Param(k) => {
                if let Some(p) = self.layer.params_mut().get_mut(k) {
                    for (v, s) in p.value.iter_mut().zip(saved) {
                        *v = *s;
                    }
                }
            }
        }
    }
}

/// What to check of one layer: some of its parameter tensors and/or its
/// input gradient (1-based layer, as reports number them).
#[derive(Debug, Clone, PartialEq)]
pub struct LayerPlan {
    pub layer: usize,
    pub tensors: Vec<TensorKind>,
}

/// The layer-local checks of `plans` at (net, x), with `backward`'s
/// per-layer code. Layers whose backward cannot be called per layer
/// (`Backward::local` gives None) are left out.
#[allow(clippy::too_many_arguments)]
pub(super) fn check(
    net: &Network<f64>,
    x: &Array2<f64>,
    batch: super::Batch<'_>,
    s: &GradcheckConfig,
    at: &str,
    state: State,
    backward: &dyn Backward,
    seed: u64,
    plans: &[LayerPlan],
) -> (Vec<CheckRow>, Vec<TensorResult>) {
    let mut rows = Vec::new();
    let mut tensors = Vec::new();
    if plans.is_empty() {
        return (rows, tensors);
    }
    let mut ws = Workspace::new(net, x.nrows());
    forward(net, &mut ws, x, &mut |_, _: &Workspace<f64>| Flow::Continue);
    let last = net.layers.len().saturating_sub(1);
    for plan in plans {
        let Some(l) = plan.layer.checked_sub(1).filter(|&l| l <= last) else {
            continue;
        };
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ LOCAL_STREAM ^ ((plan.layer as u64) << 8));
        let u: Array2<f64> =
            Array2::from_shape_fn(ws.act[l].raw_dim(), |_| StandardNormal.sample(&mut rng));
        let upstream = if l == last {
            Upstream::Loss {
                t: batch.t,
                loss: batch.loss,
            }
        } else {
            Upstream::Given(&u)
        };
        let Some(analytic) = backward.local(net, x, l, upstream) else {
            continue;
        };
        let input = match l.checked_sub(1) {
            None => x.clone(),
            Some(below) => ws.act[below].clone(),
        };
        let cache = &ws.caches[l];
        let mut f = LocalFn {
            layer: net.layers[l].clone(),
            input,
            upstream,
            mask: net.layers[l].draw(cache).cloned(),
            base_pre: ws.pre[l].clone(),
            base_argmax: net.layers[l].selection(cache).to_vec(),
        };
        let res = Resolution::new(f.magnitude(), s);
        let ctx = RowContext {
            at,
            state,
            res: &res,
        };
        // A complex step has no cancellation: nothing but an exact zero is
        // below its resolution.
        let exact_res = Resolution {
            floor: 0.0,
            rtol: s.rtol,
        };
        let exact_ctx = RowContext {
            at,
            state: State::LocalComplexStep,
            res: &exact_res,
        };
        let names: Vec<&'static str> = net.layers[l].params().iter().map(|p| p.name).collect();
        for &kind in &plan.tensors {
            let (target, grad, shape): (Target, &[f64], Vec<usize>) = match kind {
                TensorKind::Input => (
                    Target::Input,
                    analytic.input.as_slice().unwrap_or(&[]),
                    analytic.input.shape().to_vec(),
                ),
                TensorKind::Weight | TensorKind::Bias => {
                    let name = kind.name();
                    let Some(k) = names.iter().position(|n| *n == name) else {
                        continue;
                    };
                    let Some(g) = analytic.params.get(k) else {
                        continue;
                    };
                    (
                        Target::Param(k),
                        g.as_slice().unwrap_or(&[]),
                        g.shape().to_vec(),
                    )
                }
                TensorKind::Network => continue,
            };
            if grad.is_empty() {
                continue;
            }
            let cols = match shape.as_slice() {
                [_, c] => *c,
                _ => 0,
            };
            let start = rows.len();
            let mut exact = Vec::new();
            for flat in pick_elements(grad, s.samples_per_tensor, &mut rng) {
                let d = f.difference(target, Some(flat), &[1.0], s.epsilon);
                let index = match flat.checked_div(cols) {
                    Some(row) => vec![row, flat % cols],
                    None => vec![flat],
                };
                let row = ctx.row(
                    Some(plan.layer),
                    kind,
                    CheckKind::Element,
                    index.clone(),
                    grad[flat],
                    d,
                );
                // Below the difference's floor (not a kink): the complex
                // step, where the layer allows one, resolves it at the point.
                if row.status == RowStatus::BelowResolution && state == State::Local {
                    if let Some(cs) = complex(&net.layers[l], upstream, &f.input, kind, &index) {
                        exact.push(exact_ctx.row(
                            Some(plan.layer),
                            kind,
                            CheckKind::Element,
                            index,
                            grad[flat],
                            Difference {
                                numeric: cs,
                                kink: false,
                            },
                        ));
                    }
                }
                rows.push(row);
            }
            for k in 0..s.directions {
                let dir = unit_direction(&[grad.len()], &mut rng).remove(0);
                let a = dir.iter().zip(grad).map(|(d, g)| d * g).sum();
                let d = f.difference(target, None, dir.as_slice().unwrap_or(&[]), s.epsilon);
                rows.push(ctx.row(Some(plan.layer), kind, CheckKind::Direction, vec![k], a, d));
            }
            let verdict = summarise(at, state, Some(plan.layer), kind, &rows[start..]);
            let by_complex_step =
                summarise(at, State::LocalComplexStep, Some(plan.layer), kind, &exact);
            rows.extend(exact);
            tensors.push(
                if verdict.status == Status::Inconclusive
                    && by_complex_step.status != Status::Inconclusive
                {
                    by_complex_step
                } else {
                    verdict
                },
            );
        }
    }
    (rows, tensors)
}

/// The complex-step derivative of one parameter element of a dense layer
/// with an element-wise analytic activation, for a hidden layer's local
/// function (the output layer's loss is not taken through it).
fn complex(
    layer: &AnyLayer<f64>,
    upstream: Upstream<'_>,
    input: &Array2<f64>,
    kind: TensorKind,
    index: &[usize],
) -> Option<f64> {
    let (AnyLayer::Dense(d), Upstream::Given(u)) = (layer, upstream) else {
        return None;
    };
    let element = match (kind, index) {
        (TensorKind::Weight, [r, c]) => Element::Weight(*r, *c),
        (TensorKind::Bias, [c]) => Element::Bias(*c),
        _ => return None,
    };
    dense_derivative(d, input, u, element)
}

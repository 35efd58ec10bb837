//! Gradient checks: a backward pass's analytic gradients against central
//! finite differences of the training loss, in f64, on a fixed batch. Every
//! tensor is covered by element checks (random elements plus the largest
//! gradients) and random-direction checks, plus one direction over the whole
//! network. A comparison counts only when it resolves (the difference can
//! see the gradient, no kink): a tensor without one is inconclusive, never a
//! pass, and is checked again, with the same backward code, at a
//! well-conditioned probe state. A failure names the tensor nearest the
//! output that is wrong and the known backprop mistake it matches.

pub mod analytic;
pub mod catalogue;
pub mod complex_step;
pub mod conditioned;
mod finding;
pub mod local;
mod matcher;
pub mod output;
pub mod probe;
pub mod resolution;
pub mod run;
pub mod types;
pub mod verdict;

use crate::config::{GradcheckConfig, LossKind};
use crate::engine::flaw::Flaw;
use crate::engine::{Layer, Network};
use analytic::{gradients, Gradients};
use catalogue::Arch;
use ndarray::{Array1, Array2};
use probe::{Param, Probe};
use rand::seq::index::sample;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use resolution::Resolution;
use std::borrow::Cow;
use types::{CheckKind, CheckRow, Finding, RowStatus, State, Status, TensorKind, TensorResult};

/// Largest-|gradient| elements checked per tensor on top of the random
/// ones: where a wrong formula shows most.
pub const LARGEST_PER_TENSOR: usize = 4;

/// Tag mixed into the seed for choosing elements and directions.
const CHECK_STREAM: u64 = 0x6C4E_C000_0000_0005;

/// The fixed batch and loss a check evaluates.
#[derive(Debug, Clone, Copy)]
pub struct Batch<'a> {
    pub x: &'a Array2<f64>,
    pub t: &'a Array2<f64>,
    pub loss: LossKind,
}

/// The backward code under test: analytic gradients of the loss of any
/// network of the checked architecture on any batch. It is a function of
/// the state, not a fixed tensor, so the same code can be checked at the
/// probe state when the requested point cannot resolve it.
pub trait Backward {
    fn gradients(
        &self,
        net: &Network<f64>,
        x: &Array2<f64>,
        t: &Array2<f64>,
        loss: LossKind,
    ) -> Gradients;

    /// The same code's backward of 0-based `layer` alone, from `upstream`
    /// at its input in the forward pass of (net, x): what the layer-local
    /// check ([`local`]) compares. None when the code under test cannot be
    /// called per layer; its tensors then get no local check.
    fn local(
        &self,
        _net: &Network<f64>,
        _x: &Array2<f64>,
        _layer: usize,
        _upstream: local::Upstream<'_>,
    ) -> Option<local::LocalGradients> {
        None
    }
}

/// The engine's own backward pass, optionally with an injected catalogue
/// flaw (tests and `--inject-bug`): the flaw is in the code, so it is
/// applied at the probe state too.
#[derive(Debug, Clone, Copy, Default)]
pub struct EngineBackward<'a> {
    pub flaw: Option<&'a Flaw>,
}

impl Backward for EngineBackward<'_> {
    fn gradients(
        &self,
        net: &Network<f64>,
        x: &Array2<f64>,
        t: &Array2<f64>,
        loss: LossKind,
    ) -> Gradients {
        gradients(net, x, t, loss, self.flaw)
    }

    fn local(
        &self,
        net: &Network<f64>,
        x: &Array2<f64>,
        layer: usize,
        upstream: local::Upstream<'_>,
    ) -> Option<local::LocalGradients> {
        local::engine_local(net, x, layer, upstream, self.flaw)
    }
}

/// The checks of one check point.
#[derive(Debug, Clone, PartialEq)]
pub struct PointResult {
    pub rows: Vec<CheckRow>,
    pub tensors: Vec<TensorResult>,
    pub first_wrong: Option<Finding>,
}

fn rel_error(a: f64, n: f64) -> f64 {
    let m = a.abs().max(n.abs());
    if m == 0.0 {
        0.0
    } else {
        (a - n).abs() / m
    }
}

/// The architecture facts the catalogue's rules need.
pub fn arch(net: &Network<f64>, loss: LossKind, batch: usize) -> Arch {
    let mut widths = vec![net.input_width()];
    widths.extend(net.layers.iter().map(|l| l.output_width()));
    let mut arch = Arch::dense(
        net.layers.iter().map(|l| l.activation()).collect(),
        widths,
        loss,
        batch,
    );
    arch.kinds = net.layers.iter().map(|l| l.kind()).collect();
    arch.cnn = net
        .layers
        .iter()
        .map(crate::engine::flaw::cnn::can_show)
        .collect();
    arch
}

/// Checks every tensor of `net` at one check point with the engine's
/// backward pass. `flaw` injects a known mistake into the analytic side
/// (tests and `--inject-bug` only).
pub fn check_point(
    net: &Network<f64>,
    batch: Batch<'_>,
    s: &GradcheckConfig,
    at: &str,
    flaw: Option<&Flaw>,
    seed: u64,
) -> PointResult {
    check_point_with(net, batch, s, at, &EngineBackward { flaw }, seed)
}

/// Which tensor: 0-based layer (None for the whole-network direction) and
/// kind.
type Slot = (Option<usize>, TensorKind);

/// The checks of one state, with what naming a failure there needs (the
/// point's network and batch are borrowed, the probe's owned).
struct StateChecks<'a> {
    net: Cow<'a, Network<f64>>,
    x: Cow<'a, Array2<f64>>,
    g: Gradients,
    rows: Vec<CheckRow>,
    tensors: Vec<TensorResult>,
}

pub use verdict::assemble;
use verdict::summarise;

/// Checks every tensor of `net` at one check point with any backward code.
/// Tensors the point cannot resolve are checked again at the probe state
/// ([`conditioned::probe_state`]) and carry `verified_at = probe`.
pub fn check_point_with(
    net: &Network<f64>,
    batch: Batch<'_>,
    s: &GradcheckConfig,
    at: &str,
    backward: &dyn Backward,
    seed: u64,
) -> PointResult {
    let point = check_state(
        Cow::Borrowed(net),
        Cow::Borrowed(batch.x),
        batch,
        s,
        at,
        State::Point,
        backward,
        seed,
        None,
    );
    let undecided: Vec<Slot> = point
        .tensors
        .iter()
        .filter(|t| t.status == Status::Inconclusive)
        .map(|t| (t.layer, t.tensor))
        .collect();
    let probe = (!undecided.is_empty()).then(|| {
        let (pnet, px) = conditioned::probe_state(net, batch.x, seed);
        check_state(
            Cow::Owned(pnet),
            Cow::Owned(px),
            batch,
            s,
            at,
            State::Probe,
            backward,
            seed,
            Some(&undecided),
        )
    });
    let mut tensors = point.tensors.clone();
    let mut rows = point.rows.clone();
    if let Some(p) = &probe {
        for t in &mut tensors {
            if let Some(pt) = p
                .tensors
                .iter()
                .find(|pt| pt.layer == t.layer && pt.tensor == t.tensor)
            {
                let reason = t.reason.take();
                *t = TensorResult {
                    reason,
                    ..pt.clone()
                };
            }
        }
        rows.extend(p.rows.iter().cloned());
    }
    if let Some(p) = &probe {
        local_checks(
            &mut tensors,
            &mut rows,
            (net, batch.x),
            p,
            batch,
            s,
            at,
            backward,
            seed,
        );
    }
    // Report order: by layer, each layer's weight, bias, then input
    // gradient; the whole-network direction last.
    tensors.sort_by_key(|t| {
        let kind = match t.tensor {
            TensorKind::Weight => 0,
            TensorKind::Bias => 1,
            TensorKind::Input => 2,
            TensorKind::Network => 3,
        };
        (t.layer.unwrap_or(usize::MAX), kind)
    });
    let first_wrong = finding::first_wrong(&tensors, &rows, &point, probe.as_ref(), batch);
    PointResult {
        rows,
        tensors,
        first_wrong,
    }
}

/// The layer-local checks ([`local`]) of what neither whole-network check
/// resolved: every still-inconclusive parameter tensor, and the input
/// gradient of every layer above the lowest of them (the deltas that reach
/// it), first at the point's values, then what is still undecided at the
/// probe state's. Decided tensors replace the inconclusive verdicts;
/// input-gradient verdicts are added.
#[allow(clippy::too_many_arguments)]
fn local_checks(
    tensors: &mut Vec<TensorResult>,
    rows: &mut Vec<CheckRow>,
    (net, x): (&Network<f64>, &Array2<f64>),
    probe: &StateChecks<'_>,
    batch: Batch<'_>,
    s: &GradcheckConfig,
    at: &str,
    backward: &dyn Backward,
    seed: u64,
) {
    let undecided = |t: &TensorResult| {
        t.status == Status::Inconclusive
            && matches!(t.tensor, TensorKind::Weight | TensorKind::Bias)
    };
    let Some(lowest) = tensors
        .iter()
        .filter(|t| undecided(t))
        .filter_map(|t| t.layer)
        .min()
    else {
        return;
    };
    let n = net.layers.len();
    let mut plans: Vec<local::LayerPlan> = (1..=n)
        .map(|layer| {
            let mut kinds: Vec<TensorKind> = tensors
                .iter()
                .filter(|t| undecided(t) && t.layer == Some(layer))
                .map(|t| t.tensor)
                .collect();
            // Layer 1's input gradient feeds nothing.
            if layer > lowest && layer >= 2 {
                kinds.push(TensorKind::Input);
            }
            local::LayerPlan {
                layer,
                tensors: kinds,
            }
        })
        .filter(|p| !p.tensors.is_empty())
        .collect();
    let mut decided: Vec<TensorResult> = Vec::new();
    for (state, (snet, sx)) in [
        (State::Local, (net, x)),
        (State::LocalProbe, (probe.net.as_ref(), probe.x.as_ref())),
    ] {
        if plans.is_empty() {
            break;
        }
        let (r, ts) = local::check(snet, sx, batch, s, at, state, backward, seed, &plans);
        rows.extend(r);
        for t in ts {
            if t.status != Status::Inconclusive {
                for p in &mut plans {
                    if Some(p.layer) == t.layer {
                        p.tensors.retain(|k| *k != t.tensor);
                    }
                }
                decided.push(t);
            } else if state == State::LocalProbe {
                decided.push(t);
            }
        }
        plans.retain(|p| !p.tensors.is_empty());
    }
    for d in decided {
        match tensors
            .iter_mut()
            .find(|t| t.layer == d.layer && t.tensor == d.tensor)
        {
            Some(t) if d.status != Status::Inconclusive => {
                let reason = t.reason.take();
                *t = TensorResult { reason, ..d };
            }
            Some(_) => {}
            None => tensors.push(d),
        }
    }
}

/// The checks of one state; `only` restricts them to some tensors (the
/// probe re-checks only what the point could not resolve).
#[allow(clippy::too_many_arguments)]
fn check_state<'a>(
    net: Cow<'a, Network<f64>>,
    x: Cow<'a, Array2<f64>>,
    batch: Batch<'_>,
    s: &GradcheckConfig,
    at: &str,
    state: State,
    backward: &dyn Backward,
    seed: u64,
    only: Option<&[Slot]>,
) -> StateChecks<'a> {
    let g = backward.gradients(&net, &x, batch.t, batch.loss);
    let mut probe = Probe::new(&net, &x, batch.t, batch.loss);
    let res = Resolution::new(probe.base_loss(), s);
    let wanted = |slot: Slot| only.is_none_or(|o| o.contains(&slot));
    // One stream per state, so the point's choices do not depend on
    // whether a probe follows.
    let stream = match state {
        State::Point | State::Local | State::LocalComplexStep => 0,
        State::Probe | State::LocalProbe => 1,
    };
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ CHECK_STREAM ^ stream);
    let mut rows = Vec::new();
    let mut tensors = Vec::new();
    let ctx = RowContext {
        at,
        state,
        res: &res,
    };
    for l in 0..net.layers.len() {
        // Every named parameter tensor of the layer, in its params() order
        // (each name has a handle: probe::every_layer_parameter_has_a_handle).
        for named in net.layers[l].params() {
            let Some(param) = Param::of_name(named.name) else {
                continue;
            };
            let kind = TensorKind::of(param);
            if !wanted((Some(l + 1), kind)) {
                continue;
            }
            let analytic = g.tensor(l, param);
            // Row-major element index as [row, col] for a matrix, [i] else.
            let cols = match named.value.shape() {
                [_, c] => *c,
                _ => 0,
            };
            let start = rows.len();
            for flat in pick_elements(analytic, s.samples_per_tensor, &mut rng) {
                let d = probe.element(l, param, flat, s.epsilon);
                let index = match flat.checked_div(cols) {
                    Some(row) => vec![row, flat % cols],
                    None => vec![flat],
                };
                rows.push(ctx.row(
                    Some(l + 1),
                    kind,
                    CheckKind::Element,
                    index,
                    analytic[flat],
                    d,
                ));
            }
            for k in 0..s.directions {
                let dir = unit_direction(&[analytic.len()], &mut rng).remove(0);
                let a = dir.iter().zip(analytic).map(|(d, g)| d * g).sum();
                let d = probe.tensor_direction(l, param, &dir, s.epsilon);
                rows.push(ctx.row(Some(l + 1), kind, CheckKind::Direction, vec![k], a, d));
            }
            tensors.push(summarise(at, state, Some(l + 1), kind, &rows[start..]));
        }
    }
    if wanted((None, TensorKind::Network)) {
        let start = rows.len();
        let around = Around {
            x: &x,
            batch,
            backward,
        };
        rows.push(network_direction(
            &net, &mut probe, &g, &ctx, &mut rng, s, &around,
        ));
        tensors.push(summarise(
            at,
            state,
            None,
            TensorKind::Network,
            &rows[start..],
        ));
    }
    drop(probe);
    StateChecks {
        net,
        x,
        g,
        rows,
        tensors,
    }
}

/// What every row of one state shares.
struct RowContext<'a> {
    at: &'a str,
    state: State,
    res: &'a Resolution,
}

impl RowContext<'_> {
    fn row(
        &self,
        layer: Option<usize>,
        tensor: TensorKind,
        kind: CheckKind,
        index: Vec<usize>,
        analytic: f64,
        d: probe::Difference,
    ) -> CheckRow {
        let status = self.res.status(analytic, d.numeric, d.kink);
        CheckRow {
            at: self.at.to_string(),
            layer,
            tensor,
            kind,
            index,
            analytic,
            numeric: d.numeric,
            abs_error: (analytic - d.numeric).abs(),
            rel_error: rel_error(analytic, d.numeric),
            kink: d.kink,
            passed: status == RowStatus::Pass,
            resolved: matches!(status, RowStatus::Pass | RowStatus::Fail),
            status,
            state: self.state,
        }
    }
}

/// Seeded random distinct elements plus the largest |gradient| ones; every
/// element when the tensor is that small.
fn pick_elements(g: &[f64], random: usize, rng: &mut ChaCha8Rng) -> Vec<usize> {
    let n = g.len();
    if n <= random + LARGEST_PER_TENSOR {
        return (0..n).collect();
    }
    let mut picked: Vec<usize> = sample(rng, n, random).into_vec();
    for i in largest(g, LARGEST_PER_TENSOR) {
        if !picked.contains(&i) {
            picked.push(i);
        }
    }
    picked
}

/// Indices of the `k` largest |g| (NaN counts as largest, ties go to the
/// lower index), in one pass without sorting a 16-million-entry tensor.
fn largest(g: &[f64], k: usize) -> Vec<usize> {
    let mut top: Vec<usize> = Vec::with_capacity(k + 1);
    for (i, v) in g.iter().enumerate() {
        let bigger = |&j: &usize| v.abs().total_cmp(&g[j].abs()).is_gt();
        if top.len() < k || top.last().is_some_and(bigger) {
            let at = top.iter().position(bigger).unwrap_or(top.len());
            top.insert(at, i);
            top.truncate(k);
        }
    }
    top
}

/// Gaussian vectors of the given lengths, normalised together to unit
/// length (one direction over all of them).
fn unit_direction(lens: &[usize], rng: &mut ChaCha8Rng) -> Vec<Array1<f64>> {
    let mut parts: Vec<Array1<f64>> = lens
        .iter()
        .map(|&n| Array1::from_iter((0..n).map(|_| StandardNormal.sample(rng))))
        .collect();
    let norm = parts.iter().map(|p| p.dot(p)).sum::<f64>().sqrt();
    if norm > 0.0 {
        for p in &mut parts {
            p.mapv_inplace(|v| v / norm);
        }
    }
    parts
}

/// What checking a direction at a nearby point needs.
struct Around<'a> {
    x: &'a Array2<f64>,
    batch: Batch<'a>,
    backward: &'a dyn Backward,
}

/// Steps (in units of epsilon) the whole-network direction moves its base
/// point along itself when the difference at the point crosses a kink:
/// both evaluations then lie on one side of a kink at the point.
const AROUND_STEPS: [f64; 4] = [5.0, -5.0, 13.0, -13.0];

fn network_direction(
    net: &Network<f64>,
    probe: &mut Probe<'_>,
    g: &Gradients,
    ctx: &RowContext<'_>,
    rng: &mut ChaCha8Rng,
    s: &GradcheckConfig,
    around: &Around<'_>,
) -> CheckRow {
    let mut lens = Vec::new();
    let mut slots = Vec::new();
    for (l, layer) in net.layers.iter().enumerate() {
        for param in Param::of_layer(layer) {
            lens.push(g.tensor(l, param).len());
            slots.push((l, param));
        }
    }
    let parts = unit_direction(&lens, rng);
    let mut dir = Vec::new();
    for ((l, p), d) in slots.into_iter().zip(parts) {
        dir.push((l, p, d));
    }
    let along = |g: &Gradients| -> f64 {
        dir.iter()
            .map(|(l, p, d)| {
                d.iter()
                    .zip(g.tensor(*l, *p))
                    .map(|(a, b)| a * b)
                    .sum::<f64>()
            })
            .sum()
    };
    let d = probe.direction(&dir, s.epsilon);
    let row = ctx.row(
        None,
        TensorKind::Network,
        CheckKind::Direction,
        vec![0],
        along(g),
        d,
    );
    if !d.kink {
        return row;
    }
    // Perturbed around the kink (a tie in a max-pool window, a ReLU input
    // at 0): the same direction, the same backward code, checked at points
    // a few steps along it, analytic and numeric both there. The row's
    // index says which step ([0, k]).
    for (k, step) in AROUND_STEPS.iter().enumerate() {
        let mut moved = net.clone();
        for (l, p, d) in &dir {
            if let Some(layer) = moved.layers.get_mut(*l) {
                for named in layer.params_mut() {
                    if named.name == p.name() {
                        let mut v = named.value;
                        for (w, di) in v.iter_mut().zip(d.iter()) {
                            *w += step * s.epsilon * di;
                        }
                    }
                }
            }
        }
        let g2 = around
            .backward
            .gradients(&moved, around.x, around.batch.t, around.batch.loss);
        let mut p2 = Probe::new(&moved, around.x, around.batch.t, around.batch.loss);
        let d2 = p2.direction(&dir, s.epsilon);
        if !d2.kink {
            return ctx.row(
                None,
                TensorKind::Network,
                CheckKind::Direction,
                vec![0, k + 1],
                along(&g2),
                d2,
            );
        }
    }
    row
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Truth: the values written out, sorted by hand.
    #[test]
    fn largest_picks_the_biggest_magnitudes() {
        let g = [0.1, -5.0, 3.0, 0.0, -3.0, 7.0, f64::NAN];
        assert_eq!(largest(&g, 4), vec![6, 5, 1, 2]);
        assert_eq!(largest(&g[..3], 4), vec![1, 2, 0]);
        assert!(largest(&g, 0).is_empty());
    }
}

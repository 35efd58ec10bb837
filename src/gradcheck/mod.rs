//! Gradient checks: the engine's analytic gradients against central finite
//! differences of the training loss, in f64, on a fixed batch. Every tensor
//! is covered by element checks (random elements plus the largest gradients)
//! and random-direction checks, plus one direction over the whole network;
//! a failure names the tensor nearest the output that is wrong and the known
//! backprop mistake it matches.

pub mod analytic;
pub mod catalogue;
pub mod command;
mod matcher;
pub mod output;
pub mod probe;
pub mod run;
pub mod types;

use crate::config::{GradcheckConfig, LossKind};
use crate::engine::flaw::Flaw;
use crate::engine::Network;
use analytic::gradients;
use catalogue::Arch;
use ndarray::{Array1, Array2};
use probe::{Param, Probe};
use rand::seq::index::sample;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use types::{CheckKind, CheckRow, Finding, GradcheckReport, TensorKind, TensorResult};

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

/// The checks of one check point.
#[derive(Debug, Clone, PartialEq)]
pub struct PointResult {
    pub rows: Vec<CheckRow>,
    pub tensors: Vec<TensorResult>,
    pub first_wrong: Option<Finding>,
}

/// |a - n| <= atol + rtol max(|a|, |n|) + round-off; anything non-finite
/// fails. The round-off term, 100 x machine epsilon x |L| / epsilon, is what
/// a central difference of a loss of size |L| cannot resolve: negligible for
/// losses of order 1, but it keeps checks of blown-up networks (|L| ~ 1e10,
/// the last finite state before a NaN) from false alarms.
pub fn close(a: f64, n: f64, loss: f64, s: &GradcheckConfig) -> bool {
    let err = (a - n).abs();
    let roundoff = 100.0 * f64::EPSILON * loss.abs() / s.epsilon;
    err.is_finite() && err <= s.atol + roundoff + s.rtol * a.abs().max(n.abs())
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
    widths.extend(net.layers.iter().map(|l| l.weight.ncols()));
    Arch {
        activations: net.layers.iter().map(|l| l.activation).collect(),
        widths,
        loss,
        batch,
    }
}

/// Checks every tensor of `net` at one check point. `flaw` injects a known
/// mistake into the analytic side (tests and `--inject-bug` only).
pub fn check_point(
    net: &Network<f64>,
    batch: Batch<'_>,
    s: &GradcheckConfig,
    at: &str,
    flaw: Option<&Flaw>,
    seed: u64,
) -> PointResult {
    let g = gradients(net, batch.x, batch.t, batch.loss, flaw);
    let mut probe = Probe::new(net, batch.x, batch.t, batch.loss);
    let base_loss = probe.base_loss();
    let s = &GradcheckConfig {
        atol: s.atol + 100.0 * f64::EPSILON * base_loss.abs() / s.epsilon,
        ..s.clone()
    };
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ CHECK_STREAM);
    let mut rows = Vec::new();
    let mut tensors = Vec::new();
    for l in 0..net.layers.len() {
        for (param, kind) in [
            (Param::Weight, TensorKind::Weight),
            (Param::Bias, TensorKind::Bias),
        ] {
            let (analytic, cols) = match param {
                Param::Weight => (g.w[l].as_slice().unwrap_or(&[]), g.w[l].ncols()),
                Param::Bias => (g.b[l].as_slice().unwrap_or(&[]), 0),
            };
            let start = rows.len();
            for flat in pick_elements(analytic, s.samples_per_tensor, &mut rng) {
                let d = probe.element(l, param, flat, s.epsilon);
                let index = match flat.checked_div(cols) {
                    Some(row) => vec![row, flat % cols],
                    None => vec![flat],
                };
                rows.push(row(
                    at,
                    Some(l + 1),
                    kind,
                    CheckKind::Element,
                    index,
                    analytic[flat],
                    d.numeric,
                    d.kink,
                    s,
                ));
            }
            for k in 0..s.directions {
                let dir = unit_direction(&[analytic.len()], &mut rng).remove(0);
                let a = dir.iter().zip(analytic).map(|(d, g)| d * g).sum();
                let d = probe.direction(&[(l, param, dir)], s.epsilon);
                rows.push(row(
                    at,
                    Some(l + 1),
                    kind,
                    CheckKind::Direction,
                    vec![k],
                    a,
                    d.numeric,
                    d.kink,
                    s,
                ));
            }
            tensors.push(summarise(at, Some(l + 1), kind, &rows[start..], s));
        }
    }
    let start = rows.len();
    rows.push(network_direction(&mut probe, &g, at, &mut rng, s));
    tensors.push(summarise(at, None, TensorKind::Network, &rows[start..], s));
    let first_wrong = first_wrong(net, batch, &g, &rows, &tensors);
    PointResult {
        rows,
        tensors,
        first_wrong,
    }
}

#[allow(clippy::too_many_arguments)]
fn row(
    at: &str,
    layer: Option<usize>,
    tensor: TensorKind,
    kind: CheckKind,
    index: Vec<usize>,
    analytic: f64,
    numeric: f64,
    kink: bool,
    s: &GradcheckConfig,
) -> CheckRow {
    CheckRow {
        at: at.to_string(),
        layer,
        tensor,
        kind,
        index,
        analytic,
        numeric,
        abs_error: (analytic - numeric).abs(),
        rel_error: rel_error(analytic, numeric),
        kink,
        passed: close(analytic, numeric, 0.0, s),
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
    let mut order: Vec<usize> = (0..n).collect();
    let largest = LARGEST_PER_TENSOR.min(n);
    order.select_nth_unstable_by(largest.saturating_sub(1), |&a, &b| {
        g[b].abs().total_cmp(&g[a].abs())
    });
    for &i in &order[..largest] {
        if !picked.contains(&i) {
            picked.push(i);
        }
    }
    picked
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

fn network_direction(
    probe: &mut Probe<'_>,
    g: &analytic::Gradients,
    at: &str,
    rng: &mut ChaCha8Rng,
    s: &GradcheckConfig,
) -> CheckRow {
    let mut lens = Vec::new();
    let mut slots = Vec::new();
    for l in 0..g.w.len() {
        lens.push(g.w[l].len());
        slots.push((l, Param::Weight));
        lens.push(g.b[l].len());
        slots.push((l, Param::Bias));
    }
    let parts = unit_direction(&lens, rng);
    let mut analytic = 0.0;
    let mut dir = Vec::new();
    for ((l, p), d) in slots.into_iter().zip(parts) {
        let grad = match p {
            Param::Weight => g.w[l].as_slice().unwrap_or(&[]),
            Param::Bias => g.b[l].as_slice().unwrap_or(&[]),
        };
        analytic += d.iter().zip(grad).map(|(a, b)| a * b).sum::<f64>();
        dir.push((l, p, d));
    }
    let d = probe.direction(&dir, s.epsilon);
    row(
        at,
        None,
        TensorKind::Network,
        CheckKind::Direction,
        vec![0],
        analytic,
        d.numeric,
        d.kink,
        s,
    )
}

fn summarise(
    at: &str,
    layer: Option<usize>,
    tensor: TensorKind,
    rows: &[CheckRow],
    s: &GradcheckConfig,
) -> TensorResult {
    let counted = rows.iter().filter(|r| !r.kink);
    // Relative error is noise where both values are below atol (a saturated
    // unit's 1e-22 against a round-off 1e-11): those rows pass on atol and
    // would otherwise report a meaningless 1.0.
    let meaningful = |r: &&CheckRow| r.analytic.abs().max(r.numeric.abs()) > s.atol || !r.passed;
    TensorResult {
        at: at.to_string(),
        layer,
        tensor,
        elements_checked: rows.iter().filter(|r| r.kind == CheckKind::Element).count(),
        directions_checked: rows
            .iter()
            .filter(|r| r.kind == CheckKind::Direction)
            .count(),
        kinks: rows.iter().filter(|r| r.kink).count(),
        max_rel_error: counted
            .clone()
            .filter(meaningful)
            .map(|r| r.rel_error)
            .fold(0.0, f64::max),
        passed: counted.clone().all(|r| r.passed),
    }
}

/// The failing tensor nearest the output (a wrong delta makes every layer
/// below it wrong too), its worst row and the mistake it matches.
fn first_wrong(
    net: &Network<f64>,
    batch: Batch<'_>,
    g: &analytic::Gradients,
    rows: &[CheckRow],
    tensors: &[TensorResult],
) -> Option<Finding> {
    let failing = |t: &&TensorResult| !t.passed;
    let bad = tensors
        .iter()
        .filter(failing)
        .filter(|t| t.tensor != TensorKind::Network)
        .max_by_key(|t| (t.layer, t.tensor == TensorKind::Weight))
        .or_else(|| tensors.iter().find(failing))?;
    let of_tensor: Vec<&CheckRow> = rows
        .iter()
        .filter(|r| r.layer == bad.layer && r.tensor == bad.tensor)
        .collect();
    let worst = of_tensor
        .iter()
        .filter(|r| !r.kink && !r.passed)
        .max_by(|a, b| {
            a.rel_error
                .total_cmp(&b.rel_error)
                .then(a.abs_error.total_cmp(&b.abs_error))
        })?;
    let pattern = bad.layer.and_then(|layer| {
        let l = layer - 1;
        let (param, observed) = match bad.tensor {
            TensorKind::Bias => (Param::Bias, g.b[l].as_slice().unwrap_or(&[])),
            _ => (Param::Weight, g.w[l].as_slice().unwrap_or(&[])),
        };
        let arch = arch(net, batch.loss, batch.x.nrows());
        matcher::match_catalogue(net, batch.x, batch.t, batch.loss, &arch, l, param, observed)
            .or_else(|| matcher::constant_factor(&of_tensor))
    });
    let message = format!(
        "analytic and finite-difference gradients disagree (worst {} {:?}: analytic {}, numeric {}, rel error {:.2e})",
        worst.kind.name(),
        worst.index,
        crate::numfmt::short(worst.analytic),
        crate::numfmt::short(worst.numeric),
        worst.rel_error
    );
    Some(Finding {
        at: bad.at.clone(),
        layer: bad.layer,
        tensor: bad.tensor,
        index: worst.index.clone(),
        analytic: worst.analytic,
        numeric: worst.numeric,
        rel_error: worst.rel_error,
        pattern,
        message,
    })
}

/// Joins the check points of one run into a report.
pub fn assemble(
    points: Vec<PointResult>,
    parameters: usize,
    seconds: f64,
    s: &GradcheckConfig,
) -> GradcheckReport {
    let mut report = GradcheckReport {
        passed: true,
        max_rel_error: 0.0,
        tensors: Vec::new(),
        rows: Vec::new(),
        first_wrong: None,
        parameters,
        seconds,
        epsilon: s.epsilon,
        rtol: s.rtol,
        atol: s.atol,
    };
    for p in points {
        report.passed &= p.tensors.iter().all(|t| t.passed);
        report.max_rel_error = p
            .tensors
            .iter()
            .map(|t| t.max_rel_error)
            .fold(report.max_rel_error, f64::max);
        if report.first_wrong.is_none() {
            report.first_wrong = p.first_wrong;
        }
        report.tensors.extend(p.tensors);
        report.rows.extend(p.rows);
    }
    report
}

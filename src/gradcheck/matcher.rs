//! Names the mistake behind a wrong gradient tensor: the catalogue entry
//! whose transformation of the correct backward pass reproduces the whole
//! tensor, or else a constant factor times the correct tensor. A name is
//! only given when it reproduces every element: a bug written differently
//! from the catalogue's form stays unnamed (caught, but not named) rather
//! than misnamed.

use super::analytic::gradients;
use super::catalogue::{applicable, Arch};
use super::probe::Param;
use super::types::PatternMatch;
use crate::config::LossKind;
use crate::engine::flaw::{Flaw, FlawKind};
use crate::engine::{Layer, Network};
use ndarray::Array2;

/// Relative tolerance for "reproduces exactly" (both sides are f64
/// computations of the same formula, so they agree to rounding).
const SAME: f64 = 1e-9;

/// The state a wrong tensor was found at.
#[derive(Debug, Clone, Copy)]
pub struct Sample<'a> {
    pub net: &'a Network<f64>,
    pub x: &'a Array2<f64>,
    pub t: &'a Array2<f64>,
    pub loss: LossKind,
}

/// The engine's `param` gradient of 0-based `layer`, with `flaw` if any.
fn engine_tensor(
    s: &Sample<'_>,
    flaw: Option<&Flaw>,
    layer: usize,
    param: Param,
) -> Option<Vec<f64>> {
    let g = gradients(s.net, s.x, s.t, s.loss, flaw);
    let flat = g.tensor(layer, param);
    (!flat.is_empty()).then(|| flat.to_vec())
}

/// The catalogue entry at 0-based `layer` whose flaw makes the clean backward
/// produce `observed` for `param`.
pub fn match_catalogue(
    s: &Sample<'_>,
    arch: &Arch,
    layer: usize,
    param: Param,
    observed: &[f64],
) -> Option<PatternMatch> {
    for entry in applicable(arch, layer + 1) {
        let flaw = Flaw {
            kind: entry.kind,
            layer: layer + 1,
        };
        let candidate = engine_tensor(s, Some(&flaw), layer, param);
        let reproduced = candidate.is_some_and(|c| same(&c, observed))
            || close_variant(s, entry.kind, layer, param).is_some_and(|c| same(&c, observed));
        if reproduced {
            let factor = match entry.kind {
                FlawKind::SignFlipped => Some(-1.0),
                FlawKind::BatchSumNotMean => Some(s.x.nrows() as f64),
                _ => None,
            };
            return Some(PatternMatch {
                code: entry.code.to_string(),
                explanation: entry.explanation.to_string(),
                factor,
            });
        }
    }
    above(s, arch, layer, param, observed)
}

/// A convolutional mistake in a layer above `layer` (0-based) whose wrong
/// input gradient reaches this tensor first: the layers up to and including
/// the next one with parameters (whose own gradients stay right). The
/// explanation names the layer that makes the mistake.
fn above(
    s: &Sample<'_>,
    arch: &Arch,
    layer: usize,
    param: Param,
    observed: &[f64],
) -> Option<PatternMatch> {
    for k in layer + 2..=arch.depth() {
        for entry in applicable(arch, k).filter(|e| matches!(e.kind, FlawKind::Cnn(_))) {
            let flaw = Flaw {
                kind: entry.kind,
                layer: k,
            };
            if engine_tensor(s, Some(&flaw), layer, param).is_some_and(|c| same(&c, observed)) {
                return Some(PatternMatch {
                    code: entry.code.to_string(),
                    explanation: format!(
                        "at layer {k} ({}): {}",
                        arch.kinds.get(k - 1).copied().unwrap_or("?"),
                        entry.explanation
                    ),
                    factor: None,
                });
            }
        }
        if s.net.layers.get(k - 1).is_some_and(|l| l.param_count() > 0) {
            break;
        }
    }
    None
}

/// Other common spellings of an entry that are reproduced exactly from the
/// correct gradient: the bias gradient reduced over every axis (`sum(delta)`
/// without an axis, broadcast to each unit) is the same wrong-axis mistake
/// as the injector's per-sample sums.
fn close_variant(s: &Sample<'_>, kind: FlawKind, layer: usize, param: Param) -> Option<Vec<f64>> {
    match (kind, param) {
        (FlawKind::BiasGradientWrongAxis, Param::Bias) => {
            let truth = engine_tensor(s, None, layer, param)?;
            // sum_j db_j = sum over samples and units of delta.
            let total: f64 = truth.iter().sum();
            Some(vec![total; truth.len()])
        }
        _ => None,
    }
}

fn same(a: &[f64], b: &[f64]) -> bool {
    let scale = a.iter().chain(b).fold(0.0f64, |m, v| m.max(v.abs()));
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| (x - y).abs() <= SAME * scale + 1e-300)
}

/// `observed` = c x the correct tensor for one constant c != 1, over every
/// element (c fitted by least squares, then checked element by element).
pub fn constant_factor(
    s: &Sample<'_>,
    layer: usize,
    param: Param,
    observed: &[f64],
) -> Option<PatternMatch> {
    let truth = engine_tensor(s, None, layer, param)?;
    let gg: f64 = truth.iter().map(|v| v * v).sum();
    if gg == 0.0 || !gg.is_finite() {
        return None;
    }
    let c = truth.iter().zip(observed).map(|(g, o)| g * o).sum::<f64>() / gg;
    let scaled: Vec<f64> = truth.iter().map(|g| c * g).collect();
    let distinct = (c - 1.0).abs() > 1e-3 && c.is_finite();
    (distinct && same(&scaled, observed)).then(|| PatternMatch {
        code: "constant-factor".to_string(),
        explanation: format!("the analytic gradient is the true gradient times {c:.6}"),
        factor: Some(c),
    })
}

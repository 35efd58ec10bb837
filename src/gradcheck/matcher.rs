//! Names the mistake behind a wrong gradient tensor: the catalogue entry
//! whose transformation of the correct backward pass reproduces the tensor
//! exactly, or else a constant factor between it and the numeric gradient.

use super::analytic::gradients;
use super::catalogue::{applicable, Arch};
use super::probe::Param;
use super::types::{CheckRow, PatternMatch};
use crate::config::LossKind;
use crate::engine::flaw::{Flaw, FlawKind};
use crate::engine::Network;
use ndarray::Array2;

/// Relative tolerance for "reproduces exactly" (both sides are f64
/// computations of the same formula, so they agree to rounding).
const SAME: f64 = 1e-9;

/// The catalogue entry at 0-based `layer` whose flaw makes the clean backward
/// produce `observed` for `param`.
#[allow(clippy::too_many_arguments)]
pub fn match_catalogue(
    net: &Network<f64>,
    x: &Array2<f64>,
    t: &Array2<f64>,
    loss: LossKind,
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
        let g = gradients(net, x, t, loss, Some(&flaw));
        let candidate = match param {
            Param::Weight => {
                g.w.get(layer)
                    .and_then(|w| w.as_slice().map(<[f64]>::to_vec))
            }
            Param::Bias => {
                g.b.get(layer)
                    .and_then(|b| b.as_slice().map(<[f64]>::to_vec))
            }
        };
        if candidate.is_some_and(|c| same(&c, observed)) {
            let factor = match entry.kind {
                FlawKind::SignFlipped => Some(-1.0),
                FlawKind::BatchSumNotMean => Some(x.nrows() as f64),
                _ => None,
            };
            return Some(PatternMatch {
                code: entry.code.to_string(),
                explanation: entry.explanation.to_string(),
                factor,
            });
        }
    }
    None
}

fn same(a: &[f64], b: &[f64]) -> bool {
    let scale = a.iter().chain(b).fold(0.0f64, |m, v| m.max(v.abs()));
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| (x - y).abs() <= SAME * scale + 1e-300)
}

/// A constant ratio analytic / numeric over the checked rows of one tensor
/// (at least two rows with clear numeric values, all agreeing to 1e-4).
pub fn constant_factor(rows: &[&CheckRow]) -> Option<PatternMatch> {
    let scale = rows.iter().fold(0.0f64, |m, r| m.max(r.numeric.abs()));
    let ratios: Vec<f64> = rows
        .iter()
        .filter(|r| !r.kink && r.numeric.abs() > 1e-6 * scale && r.numeric.abs() > 1e-12)
        .map(|r| r.analytic / r.numeric)
        .collect();
    let first = *ratios.first()?;
    let consistent = ratios.len() >= 2
        && ratios
            .iter()
            .all(|r| (r - first).abs() <= 1e-4 * first.abs());
    (consistent && (first - 1.0).abs() > 1e-3).then(|| PatternMatch {
        code: "constant-factor".to_string(),
        explanation: format!("the analytic gradient is the true gradient times {first:.6}"),
        factor: Some(first),
    })
}

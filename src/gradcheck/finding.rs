//! The first wrong tensor of a check point: the failing tensor nearest the
//! output, its worst resolved row, and the known mistake it matches,
//! named on the state (point or probe) where it failed.

use super::matcher;
use super::probe::Param;
use super::types::{CheckRow, Finding, RowStatus, State, Status, TensorKind, TensorResult};
use super::{arch, Batch, StateChecks};

/// The failing tensor nearest the output (a wrong delta makes every layer
/// below it wrong too), its worst row and the mistake it matches, named
/// on the state where it failed.
pub(super) fn first_wrong(
    tensors: &[TensorResult],
    rows: &[CheckRow],
    point: &StateChecks<'_>,
    probe: Option<&StateChecks<'_>>,
    batch: Batch<'_>,
) -> Option<Finding> {
    let failing = |t: &&TensorResult| t.status == Status::Fail;
    // A wrong input gradient (layer-local check) makes the layers below it
    // wrong: it counts at the nearest layer below with parameters.
    let place = |t: &TensorResult| -> (Option<usize>, TensorKind) {
        match (t.tensor, t.layer) {
            (TensorKind::Input, Some(m)) => (
                below_with_params(&point.net, m).or(Some(m)),
                TensorKind::Weight,
            ),
            _ => (t.layer, t.tensor),
        }
    };
    let bad = tensors
        .iter()
        .filter(failing)
        .filter(|t| t.tensor != TensorKind::Network)
        .max_by_key(|t| {
            let (layer, tensor) = place(t);
            (
                layer,
                tensor == TensorKind::Weight,
                t.tensor != TensorKind::Input,
            )
        })
        .or_else(|| tensors.iter().find(failing))?;
    let state = match (bad.verified_at, probe) {
        (Some(State::Probe | State::LocalProbe), Some(p)) => p,
        _ => point,
    };
    let worst = rows
        .iter()
        .filter(|r| {
            r.layer == bad.layer
                && r.tensor == bad.tensor
                && Some(r.state) == bad.verified_at
                && r.status == RowStatus::Fail
        })
        .max_by(|a, b| {
            a.rel_error
                .total_cmp(&b.rel_error)
                .then(a.abs_error.total_cmp(&b.abs_error))
        })?;
    let (named_layer, named_tensor) = place(bad);
    let pattern = named_layer.and_then(|layer| {
        let l = layer.checked_sub(1)?;
        let param = match named_tensor {
            TensorKind::Bias => Param::Bias,
            _ => Param::Weight,
        };
        let observed = state.g.tensor(l, param);
        let arch = arch(&state.net, batch.loss, state.x.nrows());
        let sample = matcher::Sample {
            net: &state.net,
            x: &state.x,
            t: batch.t,
            loss: batch.loss,
        };
        matcher::match_catalogue(&sample, &arch, l, param, observed)
            .or_else(|| matcher::constant_factor(&sample, l, param, observed))
    });
    let place =
        match (bad.verified_at, bad.tensor, bad.layer) {
            (Some(State::Probe), _, _) => " at the probe state".to_string(),
            (Some(State::Local | State::LocalProbe), TensorKind::Input, Some(m)) => format!(
            " in the layer-local check of layer {m}'s input gradient (the delta it sends down){}",
            if bad.verified_at == Some(State::LocalProbe) { ", at the probe state" } else { "" }
        ),
            (Some(State::Local), _, _) => " in the layer-local check".to_string(),
            (Some(State::LocalComplexStep), _, _) => {
                " in the layer-local check by complex step".to_string()
            }
            (Some(State::LocalProbe), _, _) => {
                " in the layer-local check at the probe state".to_string()
            }
            _ => String::new(),
        };
    let message = format!(
        "analytic and finite-difference gradients disagree{place} (worst {} {:?}: analytic {}, numeric {}, rel error {:.2e})",
        worst.kind.name(),
        worst.index,
        crate::numfmt::short(worst.analytic),
        crate::numfmt::short(worst.numeric),
        worst.rel_error
    );
    Some(Finding {
        at: bad.at.clone(),
        layer: named_layer,
        tensor: named_tensor,
        index: worst.index.clone(),
        analytic: worst.analytic,
        numeric: worst.numeric,
        rel_error: worst.rel_error,
        pattern,
        message,
    })
}

/// The nearest layer below 1-based `m` that has parameters (1-based).
fn below_with_params(net: &crate::engine::Network<f64>, m: usize) -> Option<usize> {
    use crate::engine::Layer;
    (1..m).rev().find(|&k| {
        net.layers
            .get(k - 1)
            .is_some_and(|l| !l.params().is_empty())
    })
}

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
    point: &StateChecks<'_>,
    probe: Option<&StateChecks<'_>>,
    batch: Batch<'_>,
) -> Option<Finding> {
    let failing = |t: &&TensorResult| t.status == Status::Fail;
    let bad = tensors
        .iter()
        .filter(failing)
        .filter(|t| t.tensor != TensorKind::Network)
        .max_by_key(|t| (t.layer, t.tensor == TensorKind::Weight))
        .or_else(|| tensors.iter().find(failing))?;
    let state = match (bad.verified_at, probe) {
        (Some(State::Probe), Some(p)) => p,
        _ => point,
    };
    let of_tensor: Vec<&CheckRow> = state
        .rows
        .iter()
        .filter(|r| r.layer == bad.layer && r.tensor == bad.tensor)
        .collect();
    let worst = of_tensor
        .iter()
        .filter(|r| r.status == RowStatus::Fail)
        .max_by(|a, b| {
            a.rel_error
                .total_cmp(&b.rel_error)
                .then(a.abs_error.total_cmp(&b.abs_error))
        })?;
    let pattern = bad.layer.and_then(|layer| {
        let l = layer - 1;
        let param = match bad.tensor {
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
    let place = match bad.verified_at {
        Some(State::Probe) => " at the probe state",
        _ => "",
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

//! Confirms our reference gradients with central finite differences of the
//! loss, a few elements per weight and bias tensor, so a verdict never rests
//! on our own backprop alone. Disagreement means we cannot judge the trace
//! (exit 2); it has never been seen and would be a bug in nn-doctor.

use super::error::TraceError;
use super::reference::Step;
use super::tolerance::{FD_ATOL, FD_EPSILON, FD_LARGEST, FD_RTOL};
use crate::config::LossKind;
use crate::engine::Network;
use crate::gradcheck::probe::{Param, Probe};
use ndarray::Array2;
use std::path::Path;

/// How many element checks ran and how many straddled a ReLU kink.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Confirmation {
    pub checks: usize,
    pub kinks: usize,
}

/// Checks `step`'s gradients (engine conventions) against finite
/// differences on `net` at (x, t).
pub fn confirm(
    dir: &Path,
    net: &Network<f64>,
    x: &Array2<f64>,
    t: &Array2<f64>,
    loss: LossKind,
    step: &Step,
    masks: &[Option<Array2<f64>>],
) -> Result<Confirmation, TraceError> {
    let mut probe = Probe::with_masks(net, x, t, loss, masks.to_vec());
    let loss_scale = probe.base_loss().abs().max(1.0);
    let mut done = Confirmation::default();
    for l in 0..net.layers.len() {
        for param in Param::of_layer(&net.layers[l]) {
            let grads = step.grad(l, param);
            for flat in elements(&grads) {
                let d = probe.element(l, param, flat, FD_EPSILON);
                if d.kink {
                    done.kinks += 1;
                    continue;
                }
                done.checks += 1;
                let a = grads[flat];
                let err = (a - d.numeric).abs();
                let bound = FD_ATOL * loss_scale + FD_RTOL * a.abs().max(d.numeric.abs());
                // NaN fails too.
                if err.is_nan() || err > bound {
                    return Err(TraceError::Unconfirmed {
                        dir: dir.to_path_buf(),
                        message: format!(
                            "layer {} {:?} element {flat}: our gradient {a:e}, finite differences {:e}",
                            l + 1,
                            param,
                            d.numeric
                        ),
                    });
                }
            }
        }
    }
    Ok(done)
}

/// The largest-|g| elements plus the first, middle and last.
fn elements(g: &[f64]) -> Vec<usize> {
    let n = g.len();
    let mut order: Vec<usize> = (0..n).collect();
    let k = FD_LARGEST.min(n);
    if k > 0 {
        order.select_nth_unstable_by(k - 1, |&a, &b| g[b].abs().total_cmp(&g[a].abs()));
    }
    let mut picked: Vec<usize> = order.into_iter().take(k).collect();
    for i in [0, n / 2, n.saturating_sub(1)] {
        if i < n && !picked.contains(&i) {
            picked.push(i);
        }
    }
    picked
}

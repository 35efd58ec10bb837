//! Names the mistake behind a divergent tensor. Catalogue entries are tried
//! by predicting the whole step with the mistake injected (at the tensor's
//! layer first, then the layers above it, whose mistakes flow down) and
//! converting the prediction to the trace's conventions; the one that
//! reproduces the tensor within tolerance is the match. Two entries depend
//! on the memory layout of the weights, so under `out_in` their native
//! out_in form is tried first. Otherwise a constant factor is fitted.

use super::compare::fits;
use super::convert::{expected, Conventions};
use super::load::Trace;
use super::reference::{step, Step};
use super::tensor::TensorKind;
use super::tolerance::{Tolerance, FACTOR_SNAP};
use crate::engine::flaw::{Flaw, FlawKind};
use crate::engine::{AnyLayer, Network};
use crate::gradcheck::catalogue::{applicable, Arch, Entry};
use ndarray::Array2;

/// What a divergent tensor matches.
#[derive(Debug, Clone, PartialEq)]
pub struct Match {
    pub code: String,
    pub explanation: String,
    pub factor: Option<f64>,
    /// 1-based layer of the mistake, for catalogue matches.
    pub flaw_layer: Option<usize>,
}

/// Predictions of the step under each catalogue mistake, computed lazily.
pub struct Matcher<'a> {
    trace: &'a Trace,
    correct: &'a Step,
    conv: Conventions,
    tol: Tolerance,
    arch: Arch,
    /// (entry code, 1-based layer, variant) -> predicted step.
    cache: Vec<((&'static str, usize, usize), Step)>,
}

impl<'a> Matcher<'a> {
    pub fn new(trace: &'a Trace, correct: &'a Step, conv: Conventions, tol: Tolerance) -> Self {
        let arch = crate::gradcheck::arch(&trace.net, trace.spec.loss, trace.batch());
        Matcher {
            trace,
            correct,
            conv,
            tol,
            arch,
            cache: Vec::new(),
        }
    }

    /// The catalogue entry (and the prediction that reproduces it) for the
    /// tensor `kind` of `layer` holding `actual`.
    pub fn catalogue(
        &mut self,
        layer: usize,
        kind: TensorKind,
        actual: &[f64],
    ) -> Option<(Match, Step)> {
        if kind.is_forward() {
            return None;
        }
        for flaw_layer in layer..=self.arch.depth() {
            let entries: Vec<&'static Entry> = applicable(&self.arch, flaw_layer).collect();
            for entry in entries {
                for variant in 0..self.variants(entry.kind) {
                    let predicted = self.predict(entry, flaw_layer, variant);
                    let hit = expected(&predicted, &self.conv, Some(layer), kind)
                        .is_some_and(|e| fits(&e.data, actual, &e.shape, &self.tol));
                    if hit {
                        let factor = match entry.kind {
                            FlawKind::SignFlipped => Some(-1.0),
                            FlawKind::BatchSumNotMean => Some(self.trace.batch() as f64),
                            _ => None,
                        };
                        let explanation = match factor {
                            Some(c) if c > 1.0 => format!(
                                "reference x {} = batch size: summed over the batch, declared mean",
                                fmt_factor(c)
                            ),
                            Some(_) => "reference x -1: the sign is flipped".to_string(),
                            None => entry.explanation.to_string(),
                        };
                        let m = Match {
                            code: entry.code.to_string(),
                            explanation,
                            factor,
                            flaw_layer: Some(flaw_layer),
                        };
                        return Some((m, predicted));
                    }
                }
            }
        }
        None
    }

    /// Layout-dependent mistakes have a native out_in form (variant 0)
    /// besides the engine's in_out one.
    fn variants(&self, kind: FlawKind) -> usize {
        let layout_dependent = matches!(
            kind,
            FlawKind::TransposedWeightGradient | FlawKind::WrongWeightsInBackprop
        );
        if layout_dependent && self.conv.layout == super::spec::Layout::OutIn {
            2
        } else {
            1
        }
    }

    fn predict(&mut self, entry: &'static Entry, layer: usize, variant: usize) -> Step {
        let key = (entry.code, layer, variant);
        if let Some((_, s)) = self.cache.iter().find(|(k, _)| *k == key) {
            return s.clone();
        }
        let t = self.trace;
        let flaw = Flaw {
            kind: entry.kind,
            layer,
        };
        let native = self.variants(entry.kind) == 2 && variant == 0;
        let s = match entry.kind {
            FlawKind::TransposedWeightGradient if native => {
                let mut s = self.correct.clone();
                if let Some(g) = s.grad_w.get_mut(layer - 1) {
                    *g = out_in_transposed_gradient(g);
                }
                s
            }
            FlawKind::WrongWeightsInBackprop if native => {
                let back = out_in_misread_net(&t.net, layer);
                step(
                    &t.net,
                    Some(&back),
                    &t.x,
                    &t.t,
                    t.spec.loss,
                    Some(&flaw),
                    &t.masks,
                )
            }
            _ => step(&t.net, None, &t.x, &t.t, t.spec.loss, Some(&flaw), &t.masks),
        };
        self.cache.push((key, s.clone()));
        s
    }
}

/// Whether `predicted` also reproduces the tensor `kind` of `layer`.
pub fn explains(
    predicted: &Step,
    conv: &Conventions,
    tol: &Tolerance,
    layer: Option<usize>,
    kind: TensorKind,
    actual: &[f64],
) -> bool {
    expected(predicted, conv, layer, kind).is_some_and(|e| fits(&e.data, actual, &e.shape, tol))
}

/// out_in form of transposed-weight-gradient: x^T delta ([fan_in, units])
/// stored row-major into the [units, fan_in] buffer. Returned in the
/// engine's in_out orientation so the usual conversion applies.
fn out_in_transposed_gradient(g: &Array2<f64>) -> Array2<f64> {
    let (fan_in, units) = g.dim();
    let flat: Vec<f64> = g.iter().copied().collect();
    Array2::from_shape_vec((units, fan_in), flat)
        .map(|m| m.t().as_standard_layout().into_owned())
        .unwrap_or_else(|_| g.clone())
}

/// A copy of `net` whose weight above 1-based `layer` is arranged so that
/// the engine's wrong-weights-in-backprop flaw reads it as an out_in
/// implementation would: delta · reshape(W_oi, [fan_in, units])^T.
fn out_in_misread_net(net: &Network<f64>, layer: usize) -> Network<f64> {
    let mut back = net.clone();
    if let Some(next) = back.layers.get_mut(layer).and_then(AnyLayer::as_dense_mut) {
        let (fan_in, units) = next.weight.dim();
        let oi: Vec<f64> = next.weight.t().iter().copied().collect();
        let wanted = Array2::from_shape_vec((fan_in, units), oi)
            .map(|r| r.t().iter().copied().collect::<Vec<f64>>());
        if let Ok(flat) = wanted {
            if let Ok(w) = Array2::from_shape_vec((fan_in, units), flat) {
                next.weight = w;
            }
        }
    }
    back
}

/// actual ≈ c · expected for one c ≠ 1 (least squares, then verified
/// element-wise); c is snapped to the batch size or −1 when that close.
pub fn constant_factor(
    expected: &[f64],
    actual: &[f64],
    shape: &[usize],
    tol: &Tolerance,
    batch: usize,
) -> Option<Match> {
    let ee: f64 = expected.iter().map(|e| e * e).sum();
    let ea: f64 = expected.iter().zip(actual).map(|(e, a)| e * a).sum();
    if ee.is_nan() || ee <= 0.0 || !ea.is_finite() {
        return None;
    }
    let fitted = ea / ee;
    let n = batch as f64;
    let c = [n, -1.0, 1.0 / n, 2.0, 0.5, -n]
        .into_iter()
        .find(|t| (fitted - t).abs() <= FACTOR_SNAP * t.abs())
        .unwrap_or(fitted);
    if (c - 1.0).abs() <= FACTOR_SNAP || c == 0.0 {
        return None;
    }
    let scaled: Vec<f64> = expected.iter().map(|e| e * c).collect();
    if !fits(&scaled, actual, shape, tol) {
        return None;
    }
    let (code, explanation) = if c == n && batch > 1 {
        (
            "batch-sum-not-mean",
            format!(
                "reference x {} = batch size: summed over the batch, declared mean",
                fmt_factor(c)
            ),
        )
    } else if c == -1.0 {
        (
            "sign-flipped",
            "reference x -1: the sign is flipped".to_string(),
        )
    } else if c == 1.0 / n && batch > 1 {
        (
            "constant-factor",
            format!("reference x 1/{batch} = 1/batch size: averaged over the batch, declared sum"),
        )
    } else {
        ("constant-factor", format!("reference x {}", fmt_factor(c)))
    };
    Some(Match {
        code: code.to_string(),
        explanation,
        factor: Some(c),
        flaw_layer: None,
    })
}

/// "20", "0.5", "1.732".
pub fn fmt_factor(c: f64) -> String {
    if c == c.round() && c.abs() < 1e9 {
        format!("{c:.0}")
    } else {
        format!("{}", (c * 1e4).round() / 1e4)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::spec::Precision;

    #[test]
    fn factor_equal_to_the_batch_is_batch_sum() {
        // By construction: actual = 4 x expected with batch 4.
        let tol = Tolerance::of(Precision::F64);
        let e = [0.1, -0.2, 0.3];
        let a: Vec<f64> = e.iter().map(|v| v * 4.0).collect();
        let m = constant_factor(&e, &a, &[3], &tol, 4).unwrap();
        assert_eq!(m.code, "batch-sum-not-mean");
        assert!(m.explanation.contains("x 4 = batch size"));
        let m = constant_factor(&e, &[0.3, -0.6, 0.9], &[3], &tol, 4).unwrap();
        assert_eq!((m.code.as_str(), m.factor), ("constant-factor", Some(3.0)));
        assert!(constant_factor(&e, &e, &[3], &tol, 4).is_none());
        assert!(constant_factor(&e, &[0.1, 0.2, 0.3], &[3], &tol, 4).is_none());
    }
}

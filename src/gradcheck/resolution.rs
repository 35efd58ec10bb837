//! When a comparison of analytic and numeric derivative is evidence. A
//! central difference (L(p + h) - L(p - h)) / 2h of a loss of size |L|
//! carries a round-off error of about eps_machine |L| / h (each loss is
//! rounded once at least; sums over the batch and classes add a few ulps
//! more). Below that floor the difference reads 0 or noise whatever the
//! true gradient is, so a row there can neither pass nor fail: a saturated
//! layer's 1e-22 gradient against a numeric 0 says nothing about the code.
//! A row *resolves* when max(|analytic|, |numeric|) is clearly above the
//! floor and no kink was crossed; only resolved rows count.

use super::types::RowStatus;
use crate::config::GradcheckConfig;

/// Round-off of one loss evaluation in units of eps_machine |L|: a
/// conservative bound for losses summed over a batch of tens of samples
/// and classes (the same factor the previous pass rule used).
pub const ROUNDOFF_ULPS: f64 = 100.0;

/// How far above the floor a value must be to resolve. At 10x, a resolved
/// row passes only with a relative error below about 0.2 + rtol, so no
/// sign flip, factor of 2 or zeroed gradient passes on the absolute
/// tolerance.
pub const RESOLVE_FACTOR: f64 = 10.0;

/// The noise floor and tolerances of one state (one base loss).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Resolution {
    /// atol + ROUNDOFF_ULPS eps_machine |L| / h: what the difference cannot
    /// distinguish from 0.
    pub floor: f64,
    pub rtol: f64,
}

impl Resolution {
    pub fn new(base_loss: f64, s: &GradcheckConfig) -> Self {
        let roundoff = ROUNDOFF_ULPS * f64::EPSILON * base_loss.abs() / s.epsilon;
        Resolution {
            floor: s.atol + if roundoff.is_finite() { roundoff } else { 0.0 },
            rtol: s.rtol,
        }
    }

    /// Pass, fail, below resolution or kink. A non-finite value on either
    /// side is a failure: it must show.
    pub fn status(&self, analytic: f64, numeric: f64, kink: bool) -> RowStatus {
        let err = (analytic - numeric).abs();
        let scale = analytic.abs().max(numeric.abs());
        if !err.is_finite() {
            RowStatus::Fail
        } else if kink {
            RowStatus::Kink
        } else if scale <= RESOLVE_FACTOR * self.floor {
            RowStatus::BelowResolution
        } else if err <= self.floor + self.rtol * scale {
            RowStatus::Pass
        } else {
            RowStatus::Fail
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(loss: f64) -> Resolution {
        Resolution::new(loss, &GradcheckConfig::default())
    }

    /// Truth: the seed issue's rows (gradcheck.csv of the issue): analytic
    /// 4.5e-22 against numeric 0 is noise, not a pass; a sign flip of a
    /// visible gradient fails; a match passes.
    #[test]
    fn tiny_gradients_do_not_resolve() {
        let r = res(0.45);
        assert_eq!(r.status(-4.5e-22, 0.0, false), RowStatus::BelowResolution);
        assert_eq!(r.status(0.0, 0.0, false), RowStatus::BelowResolution);
        assert_eq!(r.status(-3.0e-3, 3.0e-3, false), RowStatus::Fail);
        assert_eq!(
            r.status(3.0e-3, 3.0e-3 * (1.0 + 1e-6), false),
            RowStatus::Pass
        );
        assert_eq!(r.status(3.0e-3, 0.0, true), RowStatus::Kink);
        assert_eq!(r.status(f64::NAN, 0.0, true), RowStatus::Fail);
    }

    /// Truth: the floor formula, 1e-7 + 100 x 2.22e-16 x |L| / 1e-6.
    #[test]
    fn the_floor_grows_with_the_loss() {
        assert!((res(0.0).floor - 1e-7).abs() < 1e-20);
        let big = res(1e6).floor;
        assert!((big - (1e-7 + 100.0 * f64::EPSILON * 1e12)).abs() < 1e-9 * big);
        // A gradient of 1 is below the resolution of a 1e12 loss.
        assert_eq!(
            res(1e12).status(1.0, 0.0, false),
            RowStatus::BelowResolution
        );
    }

    /// Truth: with RESOLVE_FACTOR 10, the smallest resolved value fails
    /// when the other side is 0 (the absolute tolerance cannot absorb it).
    #[test]
    fn a_resolved_row_cannot_pass_on_atol() {
        let r = res(1.0);
        let just = RESOLVE_FACTOR * r.floor * 1.01;
        assert_eq!(r.status(just, 0.0, false), RowStatus::Fail);
        assert_eq!(r.status(just, -just, false), RowStatus::Fail);
        assert_eq!(r.status(just, 2.0 * just, false), RowStatus::Fail);
    }
}

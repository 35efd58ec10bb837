//! Complex-step differentiation of a dense layer's local function
//! f = <U, act(x W + b)> for an element-wise analytic activation (sigmoid,
//! tanh, linear): f(p + i h) = f(p) + i h f'(p) + O(h^2), so f'(p) =
//! Im f(p + i h) / h with no subtraction and so no cancellation. Where a
//! central difference cannot see a gradient (a saturated sigmoid's slope
//! of 1e-23 under a loss of order 1), the complex step still gives it to
//! about machine precision (`cargo bench --bench complex_step`).

use crate::engine::activation::Activation;
use crate::engine::layers::Dense;
use ndarray::Array2;

/// The step: small enough that h^2 terms vanish below f64's precision.
pub const STEP: f64 = 1e-30;

/// A complex number a + ib, with what the activations need.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct C(pub f64, pub f64);

impl std::ops::Add for C {
    type Output = C;
    fn add(self, o: C) -> C {
        C(self.0 + o.0, self.1 + o.1)
    }
}

impl std::ops::Mul for C {
    type Output = C;
    fn mul(self, o: C) -> C {
        C(self.0 * o.0 - self.1 * o.1, self.0 * o.1 + self.1 * o.0)
    }
}

impl C {
    pub fn exp(self) -> C {
        let m = self.0.exp();
        C(m * self.1.cos(), m * self.1.sin())
    }
    pub fn recip(self) -> C {
        let d = self.0 * self.0 + self.1 * self.1;
        C(self.0 / d, -self.1 / d)
    }
    /// 1 / (1 + e^-z), in the form that does not overflow for large |Re z|.
    pub fn sigmoid(self) -> C {
        if self.0 >= 0.0 {
            (C(1.0, 0.0) + C(-self.0, -self.1).exp()).recip()
        } else {
            let e = self.exp();
            e * (C(1.0, 0.0) + e).recip()
        }
    }
    /// (1 - e^-2z) / (1 + e^-2z), mirrored for Re z < 0.
    pub fn tanh(self) -> C {
        if self.0 < 0.0 {
            let t = C(-self.0, -self.1).tanh();
            return C(-t.0, -t.1);
        }
        let e = C(-2.0 * self.0, -2.0 * self.1).exp();
        C(1.0 - e.0, -e.1) * C(1.0 + e.0, e.1).recip()
    }
}

/// Which parameter element the derivative is taken for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Element {
    /// weight[row, col] of the [fan_in, units] weight.
    Weight(usize, usize),
    Bias(usize),
}

/// df/dp of one element of a dense layer's parameters, for f = <U, act(x W
/// + b)>; None for an activation that is not element-wise analytic.
pub fn dense_derivative(
    d: &Dense<f64>,
    x: &Array2<f64>,
    u: &Array2<f64>,
    element: Element,
) -> Option<f64> {
    let act = |z: C| match d.activation {
        Activation::Sigmoid => Some(z.sigmoid()),
        Activation::Tanh => Some(z.tanh()),
        Activation::Linear => Some(z),
        _ => None,
    };
    let unit = match element {
        Element::Weight(_, c) | Element::Bias(c) => c,
    };
    let column = d.weight.column(unit);
    let mut im = 0.0;
    for (n, xs) in x.rows().into_iter().enumerate() {
        // Only this unit's pre-activation moves off the real axis.
        let re = xs.dot(&column) + d.bias.get(unit).copied().unwrap_or(0.0);
        let bump = match element {
            Element::Weight(r, _) => xs.get(r).copied().unwrap_or(0.0) * STEP,
            Element::Bias(_) => STEP,
        };
        im += u.get((n, unit)).copied().unwrap_or(0.0) * act(C(re, bump))?.1;
    }
    Some(im / STEP)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Truth: the analytic derivatives, written without cancellation:
    /// sigma'(z) = e^-|z| / (1 + e^-|z|)^2 and tanh'(z) = 4 e^-2|z| / (1 +
    /// e^-2|z|)^2, including far in the saturated tails where a finite
    /// difference (and s(1 - s) itself) reads 0.
    #[test]
    fn complex_step_gives_the_derivative_without_cancellation() {
        for z in [-60.0f64, -5.0, 0.0, 0.3, 7.0, 54.0] {
            let e = (-z.abs()).exp();
            let want = e / ((1.0 + e) * (1.0 + e));
            let cs = C(z, STEP).sigmoid().1 / STEP;
            assert!(
                (cs - want).abs() <= 1e-12 * want,
                "sigmoid'({z}) {cs} vs {want}"
            );
            let e2 = (-2.0 * z.abs()).exp();
            let want = 4.0 * e2 / ((1.0 + e2) * (1.0 + e2));
            let cs = C(z, STEP).tanh().1 / STEP;
            assert!(
                (cs - want).abs() <= 1e-12 * want,
                "tanh'({z}) {cs} vs {want}"
            );
        }
    }
}

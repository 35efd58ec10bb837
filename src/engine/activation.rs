//! Activation functions: the value, the derivative and the saturation test of
//! each live together here, so a change to one can't silently desync the others.

pub use crate::kinds::Activation;

use super::float::Float;
use ndarray::{Array2, Zip};

/// Slope of leaky_relu for negative inputs.
pub const LEAKY_SLOPE: f64 = 0.01;

/// An entry counts as saturated when its local derivative is below this
/// share of the derivative's maximum (the 1% rule).
pub const SATURATION_SHARE: f64 = 0.01;

impl Activation {
    /// Sigmoid, tanh and softmax flatten out for large |z|: their saturated
    /// share is recorded.
    pub fn is_saturating(self) -> bool {
        matches!(
            self,
            Activation::Sigmoid | Activation::Tanh | Activation::Softmax
        )
    }

    /// ReLU-like units can be inactive (z <= 0) for a whole batch: their dead
    /// share is recorded.
    pub fn is_relu_family(self) -> bool {
        matches!(
            self,
            Activation::Relu | Activation::LeakyRelu | Activation::Elu
        )
    }

    /// f(z) for the element-wise activations (softmax is row-wise: see
    /// [`Activation::forward`]; here it is the identity).
    pub fn value<F: Float>(self, z: F) -> F {
        match self {
            Activation::Sigmoid => sigmoid(z),
            Activation::Tanh => tanh(z),
            Activation::Relu => z.max(F::zero()),
            Activation::LeakyRelu => {
                if z > F::zero() {
                    z
                } else {
                    z * F::of(LEAKY_SLOPE)
                }
            }
            Activation::Elu => {
                if z > F::zero() {
                    z
                } else {
                    z.exp_m1()
                }
            }
            // max(z, 0) + ln(1 + e^-|z|): never overflows.
            Activation::Softplus => z.max(F::zero()) + (-z.abs()).exp().ln_1p(),
            Activation::Linear | Activation::Softmax => z,
        }
    }

    /// f'(z) for the element-wise activations, computed from z so it stays
    /// accurate where the activation itself has rounded to its limit (a
    /// sigmoid at z = 51 is 1.0 in f64, yet its slope is 7e-23, not 0).
    /// Softmax has a Jacobian, not a slope: see [`Activation::backward`].
    pub fn derivative<F: Float>(self, z: F) -> F {
        let one = F::one();
        match self {
            Activation::Sigmoid => {
                let e = (-z.abs()).exp();
                e / ((one + e) * (one + e))
            }
            Activation::Tanh => {
                let e = (-(z.abs() + z.abs())).exp();
                F::of(4.0) * e / ((one + e) * (one + e))
            }
            Activation::Relu => {
                if z > F::zero() {
                    one
                } else {
                    F::zero()
                }
            }
            Activation::LeakyRelu => {
                if z > F::zero() {
                    one
                } else {
                    F::of(LEAKY_SLOPE)
                }
            }
            Activation::Elu => {
                if z > F::zero() {
                    one
                } else {
                    z.exp()
                }
            }
            Activation::Softplus => sigmoid(z),
            Activation::Linear | Activation::Softmax => one,
        }
    }

    /// The local slope as a share of its maximum, for the saturation test;
    /// `None` for activations that do not saturate. For softmax the diagonal
    /// of the Jacobian, a(1 - a), is used.
    pub fn relative_slope(self, z: f64, a: f64) -> Option<f64> {
        match self {
            Activation::Sigmoid => Some(self.derivative(z) / 0.25),
            Activation::Tanh => Some(self.derivative(z)),
            Activation::Softmax => Some(a * (1.0 - a) / 0.25),
            _ => None,
        }
    }

    /// Whether an entry counts as saturated: its local slope is below
    /// [`SATURATION_SHARE`] of the maximum. Equivalent to
    /// `relative_slope(z, a) < SATURATION_SHARE`, but compares |z| against
    /// the precomputed bound instead of evaluating exp per entry, because the
    /// recorder runs it on every unit of every sample.
    pub fn is_saturated(self, z: f64, a: f64) -> bool {
        match self {
            // sigmoid'(z)/0.25 = 0.01  <=>  |z| = ln(s / (1 - s)),
            // s = (1 + sqrt(1 - 0.01)) / 2.
            Activation::Sigmoid => z.abs() > SIGMOID_SATURATION_Z,
            // 1 - tanh(z)^2 = 0.01  <=>  |z| = atanh(sqrt(0.99)).
            Activation::Tanh => z.abs() > TANH_SATURATION_Z,
            Activation::Softmax => a * (1.0 - a) < SATURATION_SHARE * 0.25,
            _ => false,
        }
    }

    /// a = f(z) for a batch (rows are samples). Softmax subtracts each row's
    /// maximum first, so exp never overflows. The match sits outside the
    /// element loop so each arm compiles to its own tight loop.
    pub fn forward<F: Float>(self, z: &Array2<F>, a: &mut Array2<F>) {
        match self {
            Activation::Softmax => softmax_rows(z, a),
            Activation::Linear => a.assign(z),
            Activation::Sigmoid => match (z.as_slice(), a.as_slice_mut()) {
                (Some(z), Some(a)) => F::sigmoid_slice(z, a),
                _ => Zip::from(a).and(z).for_each(|a, &z| *a = sigmoid(z)),
            },
            Activation::Tanh => match (z.as_slice(), a.as_slice_mut()) {
                (Some(z), Some(a)) => F::tanh_slice(z, a),
                _ => Zip::from(a).and(z).for_each(|a, &z| *a = tanh(z)),
            },
            Activation::Relu => Zip::from(a).and(z).for_each(|a, &z| *a = z.max(F::zero())),
            Activation::LeakyRelu | Activation::Elu | Activation::Softplus => {
                Zip::from(a).and(z).for_each(|a, &z| *a = self.value(z))
            }
        }
    }

    /// dL/dz from dL/da: g * f'(z) element-wise, or for softmax the
    /// Jacobian-vector product a * (g - sum(g * a)) per row.
    pub fn backward<F: Float>(
        self,
        z: &Array2<F>,
        a: &Array2<F>,
        grad_a: &Array2<F>,
        out: &mut Array2<F>,
    ) {
        match self {
            Activation::Softmax => {
                for ((mut o, a), g) in out.rows_mut().into_iter().zip(a.rows()).zip(grad_a.rows()) {
                    let dot = a.iter().zip(g).fold(F::zero(), |s, (&a, &g)| s + a * g);
                    Zip::from(&mut o)
                        .and(&a)
                        .and(&g)
                        .for_each(|o, &a, &g| *o = a * (g - dot));
                }
            }
            Activation::Linear => out.assign(grad_a),
            _ => Zip::from(out)
                .and(z)
                .and(grad_a)
                .for_each(|o, &z, &g| *o = g * self.derivative(z)),
        }
    }

    /// Multiplies `delta` (dL/da on entry) by f'(z) in place: the hidden-layer
    /// step of backprop. `act` is f(z), used where it gives the slope exactly
    /// and cheaply. A softmax in a hidden layer (a mistake nn-doctor
    /// diagnoses, `hidden-softmax`) is not element-wise: its step is the
    /// per-row Jacobian-vector product g -> s * (g - sum(g * s)).
    pub fn scale_by_derivative<F: Float>(
        self,
        z: &Array2<F>,
        act: &Array2<F>,
        delta: &mut Array2<F>,
    ) {
        if self == Activation::Softmax {
            for (mut d, s) in delta.rows_mut().into_iter().zip(act.rows()) {
                let dot = s
                    .iter()
                    .zip(d.iter())
                    .fold(F::zero(), |acc, (&s, &g)| acc + s * g);
                Zip::from(&mut d)
                    .and(&s)
                    .for_each(|g, &s| *g = s * (*g - dot));
            }
            return;
        }
        if let (Some(zs), Some(a), Some(d)) = (z.as_slice(), act.as_slice(), delta.as_slice_mut()) {
            match self {
                Activation::Relu => return relu_backward(d, zs),
                Activation::Sigmoid => {
                    // Entries in the tails (where a(1 - a) loses precision)
                    // take the exp form afterwards, one by one.
                    if sigmoid_backward_inside(d, a) {
                        for ((d, &z), &a) in d.iter_mut().zip(zs).zip(a) {
                            if !sigmoid_inside(a) {
                                *d *= Activation::Sigmoid.derivative(z);
                            }
                        }
                    }
                    return;
                }
                _ => {}
            }
        }
        let zip = Zip::from(delta).and(z).and(act);
        match self {
            Activation::Linear | Activation::Softmax => {}
            Activation::Sigmoid => zip.for_each(|d, &z, &a| *d *= sigmoid_slope(z, a)),
            Activation::Relu => zip.for_each(|d, &z, _| {
                if z <= F::zero() {
                    *d = F::zero();
                }
            }),
            _ => zip.for_each(|d, &z, _| *d *= self.derivative(z)),
        }
    }
}

crate::multiversion!(
    /// ReLU's backward step on contiguous buffers: `d` is zeroed where
    /// z <= 0, through its AVX2 build where the CPU has it. The same values
    /// as the element-wise loop it replaces (a zero or `d` unchanged), but
    /// written as a select, not a conditional store, so it vectorises: the
    /// branch on a sign that is random per unit mispredicted about every
    /// other element (6% of a deep-net step under `perf`).
    fn relu_backward<F: Float>(d: &mut [F], z: &[F]) => relu_backward_select
);

#[inline(always)]
fn relu_backward_select<F: Float>(d: &mut [F], z: &[F]) {
    for (d, &z) in d.iter_mut().zip(z) {
        *d = if z <= F::zero() { F::zero() } else { *d };
    }
}

crate::multiversion!(
    /// The sigmoid's backward step on contiguous buffers for the entries
    /// whose a(1 - a) is exact enough ([`sigmoid_inside`]): d *= a(1 - a)
    /// there, as a select so it vectorises, through its AVX2 build where the
    /// CPU has it; the other entries are left for the caller, and the
    /// return says whether there are any. Each entry is multiplied once by
    /// the slope [`sigmoid_slope`] gives, so the bits are those of the
    /// element-wise loop.
    fn sigmoid_backward_inside<F: Float>(d: &mut [F], a: &[F]) -> bool => sigmoid_backward_select
);

#[inline(always)]
fn sigmoid_backward_select<F: Float>(d: &mut [F], a: &[F]) -> bool {
    let mut outside = false;
    for (d, &a) in d.iter_mut().zip(a) {
        let inside = sigmoid_inside(a);
        outside |= !inside;
        *d = if inside {
            *d * (a * (F::one() - a))
        } else {
            *d
        };
    }
    outside
}

/// Whether a(1 - a) gives the sigmoid's slope at full precision: a away
/// from 0 and 1 (false for NaN, which takes the exp form).
#[inline(always)]
fn sigmoid_inside<F: Float>(a: F) -> bool {
    let lo = F::of(1e-3);
    a > lo && a < F::one() - lo
}

/// sigmoid'(z) from a = sigmoid(z): a(1 - a) while both factors keep full
/// precision, the exp form in the tails where a rounds towards 0 or 1 (a
/// sigmoid at z = 51 is 1.0, yet its slope is 7e-23, not 0).
fn sigmoid_slope<F: Float>(z: F, a: F) -> F {
    if sigmoid_inside(a) {
        a * (F::one() - a)
    } else {
        Activation::Sigmoid.derivative(z)
    }
}

/// |z| beyond which a sigmoid's slope is under 1% of its maximum.
pub const SIGMOID_SATURATION_Z: f64 = 5.986_445_692_252_742;
/// |z| beyond which tanh's slope is under 1% of its maximum.
pub const TANH_SATURATION_Z: f64 = 2.993_222_846_126_382;

/// Logistic function, evaluated on the side where exp cannot overflow,
/// with the engine's vectorised exp (kernels::exp), so one value and a
/// batch of them give the same bits.
pub fn sigmoid<F: Float>(z: F) -> F {
    let mut a = [F::zero()];
    F::sigmoid_slice(&[z], &mut a);
    a[0]
}

/// tanh with the engine's vectorised kernel (kernels::exp), so one value
/// and a batch of them give the same bits.
pub fn tanh<F: Float>(z: F) -> F {
    let mut a = [F::zero()];
    F::tanh_slice(&[z], &mut a);
    a[0]
}

fn softmax_rows<F: Float>(z: &Array2<F>, a: &mut Array2<F>) {
    for (zr, mut ar) in z.rows().into_iter().zip(a.rows_mut()) {
        let max = zr.iter().fold(F::neg_infinity(), |m, &v| m.max(v));
        let mut sum = F::zero();
        Zip::from(&mut ar).and(&zr).for_each(|a, &z| {
            *a = (z - max).exp();
            sum += *a;
        });
        ar.mapv_inplace(|v| v / sum);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    const POINTS: [f64; 9] = [-6.0, -2.5, -1.0, -0.3, 0.2, 0.7, 1.5, 3.0, 8.0];

    #[test]
    fn every_derivative_matches_central_differences() {
        // Source of truth: central finite differences of `value`, in f64.
        let h = 1e-6;
        for act in Activation::ALL {
            if act == Activation::Softmax {
                continue;
            }
            for &z in &POINTS {
                let numeric = (act.value(z + h) - act.value(z - h)) / (2.0 * h);
                let analytic = act.derivative(z);
                assert!(
                    (numeric - analytic).abs() <= 1e-7 + 1e-6 * numeric.abs(),
                    "{act} at {z}: analytic {analytic}, numeric {numeric}"
                );
            }
        }
    }

    #[test]
    fn softmax_jacobian_matches_central_differences() {
        // Source of truth: finite differences of L(z) = sum_k g_k softmax(z)_k.
        let z = array![[0.3, -1.2, 2.0, 0.5]];
        let g = array![[0.7, -0.4, 1.1, 0.2]];
        let mut a = Array2::zeros((1, 4));
        Activation::Softmax.forward(&z, &mut a);
        let mut analytic = Array2::zeros((1, 4));
        Activation::Softmax.backward(&z, &a, &g, &mut analytic);
        let loss = |z: &Array2<f64>| {
            let mut a = Array2::zeros((1, 4));
            Activation::Softmax.forward(z, &mut a);
            (&a * &g).sum()
        };
        let h = 1e-6;
        for k in 0..4 {
            let (mut zp, mut zm) = (z.clone(), z.clone());
            zp[[0, k]] += h;
            zm[[0, k]] -= h;
            let numeric = (loss(&zp) - loss(&zm)) / (2.0 * h);
            assert!((numeric - analytic[[0, k]]).abs() < 1e-8, "unit {k}");
        }
    }

    #[test]
    fn softmax_is_stable_for_huge_inputs() {
        // exp(1000) overflows; subtracting the row max keeps it finite.
        let z = array![[1000.0f32, 999.0, -1000.0]];
        let mut a = Array2::zeros((1, 3));
        Activation::Softmax.forward(&z, &mut a);
        assert!(a.iter().all(|v| v.is_finite()));
        assert!((a.sum() - 1.0).abs() < 1e-6);
        // Analytic: 1 / (1 + e^-1) for the largest entry.
        assert!((a[[0, 0]] - 0.731_058_6).abs() < 1e-6);
    }

    #[test]
    fn saturated_sigmoid_keeps_a_tiny_nonzero_slope() {
        // Analytic: sigmoid'(51) = e^-51 / (1 + e^-51)^2 ~ 7.1e-23, although
        // sigmoid(51) rounds to exactly 1.0 in f64.
        assert_eq!(sigmoid(51.0f64), 1.0);
        let d = Activation::Sigmoid.derivative(51.0f64);
        assert!((d / (-51.0f64).exp() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn relative_slope_marks_saturation_at_one_percent() {
        // sigmoid'(z)/0.25 < 0.01 once |z| > ~5.99 (analytic).
        let s = |z: f64| Activation::Sigmoid.relative_slope(z, sigmoid(z)).unwrap();
        assert!(s(5.9) > SATURATION_SHARE && s(6.1) < SATURATION_SHARE);
        assert!(Activation::Relu.relative_slope(1.0, 1.0).is_none());
    }

    #[test]
    fn saturation_bounds_agree_with_the_slope_rule() {
        // Source of truth: relative_slope, which evaluates the derivative.
        for act in [Activation::Sigmoid, Activation::Tanh] {
            for i in -800..800 {
                let z = i as f64 * 0.01 + 0.005;
                let a = act.value(z);
                let by_slope = act.relative_slope(z, a).unwrap() < SATURATION_SHARE;
                assert_eq!(act.is_saturated(z, a), by_slope, "{act} at {z}");
            }
        }
    }

    /// Source of truth: the element-wise rule, d * relu'(z) with relu'(z) =
    /// 0 for z <= 0 (also -0.0) and 1 above, applied on a strided copy
    /// (which takes the generic path) and on the contiguous buffer (the
    /// slice kernel); also the portable build called directly.
    #[test]
    fn relu_backward_kernel_matches_the_elementwise_rule() {
        let z = Array2::from_shape_fn((7, 37), |(i, j)| match (i * 37 + j) % 5 {
            0 => -0.0f32,
            1 => 0.0,
            k => (k as f32 - 3.0) * (i as f32 + 0.5) * if j % 2 == 0 { 1.0 } else { -1.0 },
        });
        let d0 = Array2::from_shape_fn((7, 37), |(i, j)| (i as f32 - 3.0) * 0.7 + j as f32);
        let want = Array2::from_shape_fn(
            (7, 37),
            |(i, j)| {
                if z[[i, j]] > 0.0 {
                    d0[[i, j]]
                } else {
                    0.0
                }
            },
        );
        let a = z.mapv(|v| v.max(0.0));
        let mut fast = d0.clone();
        Activation::Relu.scale_by_derivative(&z, &a, &mut fast);
        let mut strided = d0.t().to_owned();
        strided.swap_axes(0, 1);
        Activation::Relu.scale_by_derivative(&z, &a, &mut strided);
        let mut portable = d0.clone();
        relu_backward_select(portable.as_slice_mut().unwrap(), z.as_slice().unwrap());
        for got in [&fast, &strided, &portable] {
            assert!(got
                .iter()
                .zip(&want)
                .all(|(x, y)| x.to_bits() == y.to_bits()));
        }
    }

    /// Source of truth: the element-wise rule d * sigmoid_slope(z, a), on
    /// a strided copy (the generic path) against the contiguous buffer (the
    /// vectorised select plus the tail fix-up), with pre-activations that
    /// reach both tails and a NaN.
    #[test]
    fn sigmoid_backward_kernel_matches_the_elementwise_rule() {
        let z = Array2::from_shape_fn((9, 41), |(i, j)| {
            if i == 4 && j == 7 {
                f32::NAN
            } else {
                (i as f32 * 41.0 + j as f32) * 0.05 - 9.0
            }
        });
        let mut a = Array2::zeros(z.raw_dim());
        Activation::Sigmoid.forward(&z, &mut a);
        let d0 = Array2::from_shape_fn((9, 41), |(i, j)| (i as f32 - 4.0) * 0.3 + j as f32 * 0.01);
        let want = Array2::from_shape_fn((9, 41), |(i, j)| {
            d0[[i, j]] * sigmoid_slope(z[[i, j]], a[[i, j]])
        });
        let mut fast = d0.clone();
        Activation::Sigmoid.scale_by_derivative(&z, &a, &mut fast);
        let mut strided = d0.t().to_owned();
        strided.swap_axes(0, 1);
        Activation::Sigmoid.scale_by_derivative(&z, &a, &mut strided);
        for got in [&fast, &strided] {
            assert!(got
                .iter()
                .zip(&want)
                .all(|(x, y)| x.to_bits() == y.to_bits()));
        }
        assert!(z.iter().any(|&v| v.abs() > 8.0), "the tails are covered");
    }

    #[test]
    fn softplus_is_stable_for_large_inputs() {
        assert_eq!(Activation::Softplus.value(1000.0f64), 1000.0);
        assert!(Activation::Softplus.value(-1000.0f64) >= 0.0);
    }
}

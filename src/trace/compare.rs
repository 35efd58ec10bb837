//! Element-wise comparison of a trace tensor with the reference: the
//! largest absolute and relative errors, the worst element (the one furthest
//! outside its tolerance, with both values), and the first element that is
//! non-finite in the trace but finite in the reference.

use super::tolerance::Tolerance;

/// An element position with both values.
#[derive(Debug, Clone, PartialEq)]
pub struct Element {
    pub index: Vec<usize>,
    pub expected: f64,
    pub actual: f64,
}

/// The outcome of comparing one tensor.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    pub passed: bool,
    pub max_abs_error: f64,
    pub max_rel_error: f64,
    /// The element with the largest error relative to its tolerance.
    pub worst: Option<Element>,
    /// The first (row-major) element non-finite in the trace only.
    pub first_non_finite: Option<Element>,
}

/// Compares `actual` against `expected`, both row-major over `shape`.
pub fn compare(expected: &[f64], actual: &[f64], shape: &[usize], tol: &Tolerance) -> Comparison {
    let scale = expected
        .iter()
        .filter(|v| v.is_finite())
        .fold(0.0f64, |m, v| m.max(v.abs()));
    let mut c = Comparison {
        passed: true,
        max_abs_error: 0.0,
        max_rel_error: 0.0,
        worst: None,
        first_non_finite: None,
    };
    let mut worst_excess: f64 = 1.0;
    let noise = tol.bound(0.0, scale);
    for (flat, (&e, &a)) in expected.iter().zip(actual).enumerate() {
        let element = || Element {
            index: unravel(flat, shape),
            expected: e,
            actual: a,
        };
        if !e.is_finite() || !a.is_finite() {
            let same = e == a || (e.is_nan() && a.is_nan());
            if !same {
                c.passed = false;
                c.max_abs_error = f64::INFINITY;
                c.max_rel_error = f64::INFINITY;
                if c.first_non_finite.is_none() && e.is_finite() {
                    c.first_non_finite = Some(element());
                }
                if worst_excess.is_finite() {
                    worst_excess = f64::INFINITY;
                    c.worst = Some(element());
                }
            }
            continue;
        }
        let err = (a - e).abs();
        c.max_abs_error = c.max_abs_error.max(err);
        let m = a.abs().max(e.abs());
        if m > noise {
            c.max_rel_error = c.max_rel_error.max(err / m);
        }
        let excess = err / tol.bound(e, scale);
        if excess > worst_excess {
            c.passed = false;
            worst_excess = excess;
            c.worst = Some(element());
        }
    }
    c
}

/// Whether `actual` matches `expected` within `tol` (a prediction test).
pub fn fits(expected: &[f64], actual: &[f64], shape: &[usize], tol: &Tolerance) -> bool {
    expected.len() == actual.len() && compare(expected, actual, shape, tol).passed
}

/// Row-major flat index to a multi-index over `shape` ([] for a scalar).
pub fn unravel(mut flat: usize, shape: &[usize]) -> Vec<usize> {
    let mut index = vec![0; shape.len()];
    for (i, &d) in shape.iter().enumerate().rev() {
        if d > 0 {
            index[i] = flat % d;
            flat /= d;
        }
    }
    index
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::spec::Precision;

    #[test]
    fn worst_element_and_errors_by_hand() {
        // By hand: errors 0, 0.5 (rel 0.5/1.0), 1e-12 (within f64 tolerance).
        let tol = Tolerance::of(Precision::F64);
        let c = compare(
            &[1.0, 0.5, 2.0, 3.0],
            &[1.0, 1.0, 2.0 + 1e-12, 3.0],
            &[2, 2],
            &tol,
        );
        assert!(!c.passed);
        assert_eq!(c.max_abs_error, 0.5);
        assert_eq!(c.max_rel_error, 0.5);
        let w = c.worst.unwrap();
        assert_eq!((w.index, w.expected, w.actual), (vec![0, 1], 0.5, 1.0));
        assert!(c.first_non_finite.is_none());
    }

    #[test]
    fn first_non_finite_is_reported_and_shared_nan_is_not() {
        let tol = Tolerance::of(Precision::F32);
        let c = compare(
            &[1.0, 2.0, 3.0],
            &[1.0, f64::NAN, f64::INFINITY],
            &[3],
            &tol,
        );
        assert_eq!(c.first_non_finite.unwrap().index, vec![1]);
        assert!(compare(&[f64::NAN], &[f64::NAN], &[1], &tol).passed);
        assert_eq!(unravel(7, &[2, 3, 2]), vec![1, 0, 1]);
    }
}

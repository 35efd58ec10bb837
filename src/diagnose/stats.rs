//! Small statistics the rules share: medians over sliding windows (so one
//! noisy step never decides) and a least-squares trend with its p-value.

use statrs::distribution::{ContinuousCDF, StudentsT};

/// Median of the finite values (None when there are none).
pub fn median(values: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    Some(if v.len().is_multiple_of(2) {
        (v[m - 1] + v[m]) / 2.0
    } else {
        v[m]
    })
}

/// The first window of `w` consecutive points whose median satisfies `pred`:
/// returns the onset (the first point inside that window that satisfies
/// `pred` itself) and the window's median.
pub fn first_sustained(
    values: &[f64],
    w: usize,
    pred: impl Fn(f64) -> bool,
) -> Option<(usize, f64)> {
    let w = w.max(1);
    if values.len() < w {
        return None;
    }
    (0..=values.len() - w).find_map(|i| {
        let window = &values[i..i + w];
        let m = median(window)?;
        if !pred(m) {
            return None;
        }
        let onset = window.iter().position(|&v| pred(v)).unwrap_or(0);
        Some((i + onset, m))
    })
}

/// Robust standard deviation of the step-to-step noise of a series:
/// 1.4826 x the median absolute deviation of its first differences, over
/// sqrt 2 (a difference of two independent noises has twice the variance).
/// Differencing removes a slow trend, the median ignores rare spikes.
pub fn step_noise(values: &[f64]) -> Option<f64> {
    let d: Vec<f64> = values
        .windows(2)
        .map(|w| w[1] - w[0])
        .filter(|x| x.is_finite())
        .collect();
    let m = median(&d)?;
    let dev: Vec<f64> = d.iter().map(|x| (x - m).abs()).collect();
    Some(1.4826 * median(&dev)? / std::f64::consts::SQRT_2)
}

/// The change of a series from its first to its last window, judged
/// against its own noise.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Change {
    /// Medians of the first and last `window` values.
    pub first: f64,
    pub last: f64,
    pub window: usize,
    /// (first - last) / |first|: positive when the series fell.
    pub relative_drop: f64,
    /// first - last in standard errors of a difference of two window
    /// medians (a median's standard error is sqrt(pi/2) sigma / sqrt(n)):
    /// above +z the fall is real, below -z the rise is.
    pub z: f64,
    /// The step-to-step noise the standard error came from.
    pub noise: f64,
    /// The standard error of first - last.
    pub se: f64,
}

/// [`Change`] over windows of `w` values (None with fewer than 2w values).
pub fn change(values: &[f64], w: usize) -> Option<Change> {
    let w = w.max(1);
    if values.len() < 2 * w {
        return None;
    }
    let first = median(&values[..w])?;
    let last = median(&values[values.len() - w..])?;
    let noise = step_noise(values)?;
    let se = (std::f64::consts::PI / 2.0).sqrt() * noise * (2.0 / w as f64).sqrt();
    let diff = first - last;
    let z = if se > 0.0 {
        diff / se
    } else if diff == 0.0 {
        0.0
    } else {
        diff.signum() * f64::INFINITY
    };
    Some(Change {
        first,
        last,
        window: w,
        relative_drop: diff / first.abs().max(f64::MIN_POSITIVE),
        z,
        noise,
        se,
    })
}

/// A least-squares line through (x, y) and the significance of its slope.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Trend {
    pub slope: f64,
    /// Standard error of the slope.
    pub stderr: f64,
    /// One-sided p-value for "the slope is below zero".
    pub p_decreasing: f64,
    /// One-sided p-value for "the slope is above zero".
    pub p_increasing: f64,
    pub n: usize,
}

/// Fits y = a + b x over the finite points. None with fewer than 3 points
/// or no spread in x. statrs has no regression, so the slope's t statistic
/// is computed here and its p-value taken from Student's t (n - 2 dof).
pub fn trend(xs: &[f64], ys: &[f64]) -> Option<Trend> {
    let pts: Vec<(f64, f64)> = xs
        .iter()
        .zip(ys)
        .filter(|(x, y)| x.is_finite() && y.is_finite())
        .map(|(&x, &y)| (x, y))
        .collect();
    let n = pts.len();
    if n < 3 {
        return None;
    }
    let nf = n as f64;
    let mx = pts.iter().map(|p| p.0).sum::<f64>() / nf;
    let my = pts.iter().map(|p| p.1).sum::<f64>() / nf;
    let sxx: f64 = pts.iter().map(|p| (p.0 - mx).powi(2)).sum();
    if sxx <= 0.0 {
        return None;
    }
    let sxy: f64 = pts.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let slope = sxy / sxx;
    let intercept = my - slope * mx;
    let sse: f64 = pts
        .iter()
        .map(|p| (p.1 - intercept - slope * p.0).powi(2))
        .sum();
    let stderr = (sse / (nf - 2.0) / sxx).sqrt();
    let (p_dec, p_inc) = if stderr > 0.0 {
        let t = slope / stderr;
        match StudentsT::new(0.0, 1.0, nf - 2.0) {
            Ok(dist) => (dist.cdf(t), dist.sf(t)),
            Err(_) => (0.5, 0.5),
        }
    } else if slope < 0.0 {
        (0.0, 1.0)
    } else if slope > 0.0 {
        (1.0, 0.0)
    } else {
        (1.0, 1.0)
    };
    Some(Trend {
        slope,
        stderr,
        p_decreasing: p_dec,
        p_increasing: p_inc,
        n,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_ignores_nan() {
        assert_eq!(median(&[3.0, f64::NAN, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0]), Some(2.5));
        assert_eq!(median(&[f64::NAN]), None);
    }

    #[test]
    fn one_spike_is_not_sustained() {
        let mut v = vec![0.1; 30];
        v[10] = 0.99;
        assert_eq!(first_sustained(&v, 5, |m| m > 0.5), None);
        for x in &mut v[12..20] {
            *x = 0.9;
        }
        assert_eq!(first_sustained(&v, 5, |m| m > 0.5).map(|r| r.0), Some(10));
    }

    #[test]
    fn trend_matches_scipy_linregress() {
        // Source of truth: scipy.stats.linregress(x, y) with
        // x = [0..9], y = [2.1, 1.9, 2.2, 1.7, 1.8, 1.5, 1.6, 1.2, 1.4, 1.0]
        // gives slope -0.1151515, stderr 0.0178402, two-sided p 1.9735e-04,
        // so the one-sided p for a decrease is 9.867e-05.
        let x: Vec<f64> = (0..10).map(f64::from).collect();
        let y = [2.1, 1.9, 2.2, 1.7, 1.8, 1.5, 1.6, 1.2, 1.4, 1.0];
        let t = trend(&x, &y).unwrap();
        assert!((t.slope - -0.115_151_515).abs() < 1e-8, "{t:?}");
        assert!((t.stderr - 0.017_840_225).abs() < 1e-8, "{t:?}");
        assert!((t.p_decreasing / 9.867_337e-5 - 1.0).abs() < 1e-4, "{t:?}");
        assert!(t.p_increasing > 0.999);
    }

    #[test]
    fn step_noise_recovers_a_known_sigma() {
        // Source of truth: the definition. Alternating +-1 around a line has
        // first differences of +-2 plus the slope; their MAD is 2, so the
        // estimate is 1.4826 * 2 / sqrt 2 = 2.0967 (not 1: alternation is
        // the worst case, perfectly anti-correlated noise).
        let v: Vec<f64> = (0..41)
            .map(|i| 0.01 * i as f64 + if i % 2 == 0 { 1.0 } else { -1.0 })
            .collect();
        let n = step_noise(&v).unwrap();
        assert!((n - 1.4826 * 2.0 / 2f64.sqrt()).abs() < 1e-9, "{n}");
    }

    #[test]
    fn change_is_scaled_by_noise() {
        // The same 5% fall is significant on a quiet series and not on a
        // noisy one.
        let u = super::super::testing::uniform_noise(100, 1);
        let quiet: Vec<f64> = (0..100)
            .map(|i| 1.0 - 0.0005 * i as f64 + 0.001 * u[i])
            .collect();
        assert!(change(&quiet, 20).unwrap().z > 3.0);
        let noisy: Vec<f64> = (0..100)
            .map(|i| 1.0 - 0.0005 * i as f64 + 0.5 * u[i])
            .collect();
        let c = change(&noisy, 20).unwrap();
        assert!(c.z.abs() < 3.0, "{c:?}");
        assert!(change(&noisy[..30], 20).is_none());
    }

    #[test]
    fn flat_series_has_no_significant_trend() {
        let x: Vec<f64> = (0..10).map(f64::from).collect();
        let t = trend(&x, &[1.0; 10]).unwrap();
        assert_eq!((t.p_decreasing, t.p_increasing), (1.0, 1.0));
    }
}

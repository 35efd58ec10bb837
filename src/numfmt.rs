//! Human-readable numbers for messages and terminal output: fixed-point in
//! the everyday range, scientific outside it, so 7e-23 and 8e74 stay short.

/// Formats a number for CSV: NaN, inf and -inf spelled out (pandas and R
/// read them), everything else round-trip exact.
pub fn csv(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 {
            "inf".into()
        } else {
            "-inf".into()
        }
    } else if v == 0.0 || (1e-4..1e15).contains(&v.abs()) {
        format!("{v}")
    } else {
        format!("{v:e}")
    }
}

/// Four decimals in the everyday range, four significant digits outside it:
/// `0.8964`, `54.1360`, `7.100e-23`, `8.556e74`.
pub fn short(v: f64) -> String {
    if !v.is_finite() {
        return if v.is_nan() {
            "NaN".into()
        } else if v > 0.0 {
            "inf".into()
        } else {
            "-inf".into()
        };
    }
    let a = v.abs();
    if a == 0.0 {
        "0".into()
    } else if (1e-3..1e5).contains(&a) {
        format!("{v:.4}")
    } else {
        format!("{v:.3e}")
    }
}

#[cfg(test)]
mod tests {
    use super::short;

    #[test]
    fn short_forms() {
        assert_eq!(short(0.896_44), "0.8964");
        assert_eq!(short(7.1e-23), "7.100e-23");
        assert_eq!(short(8.556e74), "8.556e74");
        assert_eq!(short(0.0), "0");
        assert_eq!(short(f64::NAN), "NaN");
    }
}

//! The output formats of `nn-doctor gradcheck`: gradcheck.csv (every
//! comparison, exact numbers), a JUnit XML file (one test case per checked
//! tensor, so CI systems show gradient bugs as failed tests) and the
//! plain-text table printed on the terminal. This module owns only the
//! rendering; the checking itself lives beside it in `gradcheck`.

mod csv_file;
#[cfg(test)]
mod fixtures;
mod junit;
mod table;

pub use csv_file::{write_csv, CSV_HEADER};
pub use junit::junit_xml;
/// Shared with `verify-trace`'s JUnit report.
pub(crate) use junit::{esc, esc_text};
pub use table::text_table;

use super::types::{PatternMatch, TensorKind};

use crate::numfmt::csv as num;

/// Spells non-finite numbers the way `num` does; None for finite ones.
fn non_finite(v: f64) -> Option<String> {
    if v.is_nan() {
        Some("NaN".into())
    } else if v.is_infinite() {
        Some(if v > 0.0 { "inf" } else { "-inf" }.into())
    } else {
        None
    }
}

/// Four significant digits for people: fixed-point in [1e-3, 1e5),
/// scientific outside it, so 7e-23 and 8e74 stay short. Rounds first, so
/// 9.99996 becomes "10.00" rather than "10.000".
fn short(v: f64) -> String {
    if let Some(s) = non_finite(v) {
        return s;
    }
    if v == 0.0 {
        return "0".into();
    }
    let sci = format!("{v:.3e}");
    let rounded: f64 = sci.parse().unwrap_or(v);
    let a = rounded.abs();
    if (1e-3..1e5).contains(&a) {
        let decimals = (3 - a.log10().floor() as i32).max(0) as usize;
        format!("{rounded:.decimals$}")
    } else {
        sci
    }
}

/// Relative errors always in scientific form (`3.20e-9`): they span many
/// decades and are compared by exponent.
fn sci(v: f64) -> String {
    non_finite(v).unwrap_or_else(|| format!("{v:.2e}"))
}

/// An element index or direction number, joined with ':' ("12:3", "7").
fn index_label(index: &[usize]) -> String {
    index
        .iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(":")
}

/// "layer 2 weight", or "network direction" for the whole-network check.
fn tensor_label(layer: Option<usize>, tensor: TensorKind) -> String {
    match layer {
        Some(l) => format!("layer {l} {}", tensor.name()),
        None => format!("{} direction", tensor.name()),
    }
}

/// What a wrong tensor's numbers look like ("matches: constant-factor —
/// ... (factor 2.000)"), or an explicit "no match" so readers know the
/// catalogue was consulted.
fn matches_line(pattern: Option<&PatternMatch>) -> String {
    match pattern {
        Some(p) => {
            let factor = p
                .factor
                .map_or(String::new(), |x| format!(" (factor {})", short(x)));
            format!("matches: {} — {}{factor}", p.code, p.explanation)
        }
        None => "matches no known backprop mistake".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_keeps_four_significant_digits() {
        assert_eq!(short(0.896_44), "0.8964");
        assert_eq!(short(54.14), "54.14");
        assert_eq!(short(0.001_234_56), "0.001235");
        assert_eq!(short(12_345.6), "12350");
        assert_eq!(short(9.999_96), "10.00");
        assert_eq!(short(-2.0), "-2.000");
        assert_eq!(short(7.1e-23), "7.100e-23");
        assert_eq!(short(8.556e74), "8.556e74");
        assert_eq!(short(0.0), "0");
        assert_eq!(short(f64::NEG_INFINITY), "-inf");
    }

    #[test]
    fn sci_and_num_spell_every_value() {
        assert_eq!(sci(3.2e-9), "3.20e-9");
        assert_eq!(sci(0.5), "5.00e-1");
        assert_eq!(sci(f64::NAN), "NaN");
        assert_eq!(num(7.1e-23), "7.1e-23");
        assert_eq!(num(0.5), "0.5");
        assert_eq!(num(f64::INFINITY), "inf");
    }

    #[test]
    fn labels_name_tensors_and_indices() {
        assert_eq!(index_label(&[12, 3]), "12:3");
        assert_eq!(index_label(&[7]), "7");
        assert_eq!(tensor_label(Some(2), TensorKind::Bias), "layer 2 bias");
        assert_eq!(tensor_label(None, TensorKind::Network), "network direction");
    }
}

//! Reading summary.json back: serde_json writes non-finite numbers as
//! `null`, so a field that may hold NaN or an infinity reads `null` as NaN
//! rather than refusing the file.

use serde::{Deserialize, Deserializer};

/// A number, with `null` read as NaN.
pub fn f64_or_nan<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

#[cfg(test)]
mod tests {
    #[derive(serde::Deserialize)]
    struct T {
        #[serde(deserialize_with = "super::f64_or_nan")]
        x: f64,
    }

    #[test]
    fn null_is_nan_and_numbers_are_kept() {
        let t: T = serde_json::from_str(r#"{"x": null}"#).unwrap();
        assert!(t.x.is_nan());
        let t: T = serde_json::from_str(r#"{"x": 2.5}"#).unwrap();
        assert_eq!(t.x, 2.5);
    }
}

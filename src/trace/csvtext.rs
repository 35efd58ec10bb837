//! The CSV tensor format: comma-separated numbers, no header, one matrix
//! row per line (a vector may be one row or one column). `nan` and `inf`
//! are accepted, since a trace that holds them is a finding, not an
//! unreadable file; ragged rows and non-numbers are errors with line numbers.

use super::error::TraceError;
use super::tensor::{Dtype, RawTensor};
use std::path::Path;

/// Parses the bytes of a CSV tensor file read from `path`.
pub fn parse(path: &Path, bytes: &[u8]) -> Result<RawTensor, TraceError> {
    let text = std::str::from_utf8(bytes).map_err(|_| TraceError::file(path, "not UTF-8 text"))?;
    let mut data = Vec::new();
    let mut cols: Option<(usize, usize)> = None;
    let mut rows = 0;
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        let before = data.len();
        for (k, field) in line.split(',').enumerate() {
            let v = number(field.trim()).ok_or_else(|| {
                TraceError::file(
                    path,
                    format!(
                        "line {line_no}, column {}: {} is not a number",
                        k + 1,
                        quote_short(field.trim())
                    ),
                )
            })?;
            data.push(v);
        }
        let n = data.len() - before;
        match cols {
            None => cols = Some((n, line_no)),
            Some((c, first)) if c != n => {
                return Err(TraceError::file(
                    path,
                    format!("line {line_no}: {n} values, but line {first} has {c} (ragged rows)"),
                ))
            }
            Some(_) => {}
        }
        rows += 1;
    }
    let (cols, _) = cols.ok_or_else(|| TraceError::file(path, "empty file: no values"))?;
    RawTensor::new(vec![rows, cols], data, Dtype::Text).map_err(|m| TraceError::file(path, m))
}

/// The field quoted when it is short and plain (a typo worth showing), else
/// only its length: an error must not quote lines of a file that is not a
/// tensor at all.
fn quote_short(field: &str) -> String {
    let plain = field
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '+' | '-' | '_'));
    if plain && field.len() <= 24 {
        format!("{field:?}")
    } else {
        format!("a field of {} characters", field.chars().count())
    }
}

/// A number, or nan / inf / -inf in any case (NumPy writes `nan`, `inf`).
fn number(s: &str) -> Option<f64> {
    if let Ok(v) = s.parse::<f64>() {
        return Some(v);
    }
    match s.to_ascii_lowercase().as_str() {
        "nan" | "+nan" | "-nan" => Some(f64::NAN),
        "inf" | "+inf" | "infinity" => Some(f64::INFINITY),
        "-inf" | "-infinity" => Some(f64::NEG_INFINITY),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_matrix_with_non_finite_tokens() {
        let t = parse(Path::new("a.csv"), b"1,2.5e-3,nan\n-inf, 4 ,5\n\n").unwrap();
        assert_eq!(t.shape, vec![2, 3]);
        assert!(t.data[2].is_nan());
        assert_eq!(t.data[3], f64::NEG_INFINITY);
        assert_eq!(t.data[4], 4.0);
    }

    #[test]
    fn ragged_rows_and_words_name_the_line() {
        let e = parse(Path::new("d1.csv"), b"1,2,3\n4,5\n")
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "d1.csv: line 2: 2 values, but line 1 has 3 (ragged rows)"
        );
        let e = parse(Path::new("x.csv"), b"1,2\n3,abc\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("line 2, column 2: \"abc\" is not a number"),
            "{e}"
        );
        assert!(parse(Path::new("e.csv"), b"\n").is_err());
    }
}

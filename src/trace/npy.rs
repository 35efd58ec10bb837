//! A small reader (and writer) for NumPy's `.npy` format, versions 1.0, 2.0
//! and 3.0: little-endian `<f4`, `<f8`, `<i4`, `<i8`, C or Fortran order,
//! 1-D to 4-D. Hand-rolled rather than a crate so every way a file can be
//! wrong gets a message that names the file and says what was expected.
//! Format: <https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html>

use super::error::TraceError;
use super::tensor::{Dtype, RawTensor};
use std::path::Path;

const MAGIC: &[u8] = b"\x93NUMPY";

/// Parses the bytes of a `.npy` file read from `path` (the path only names
/// the file in errors).
pub fn parse(path: &Path, bytes: &[u8]) -> Result<RawTensor, TraceError> {
    let bad = |m: String| TraceError::file(path, m);
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        return Err(bad("not a .npy file (missing the \\x93NUMPY magic)".into()));
    }
    let major = bytes[6];
    let (header_len, start): (usize, usize) = match major {
        1 => (usize::from(u16::from_le_bytes([bytes[8], bytes[9]])), 10),
        2 | 3 => {
            let b = bytes
                .get(8..12)
                .ok_or_else(|| bad("truncated .npy header".into()))?;
            let len = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            (usize::try_from(len).unwrap_or(usize::MAX), 12)
        }
        v => return Err(bad(format!("unsupported .npy version {v}.{}", bytes[7]))),
    };
    let header = bytes
        .get(start..start.saturating_add(header_len))
        .ok_or_else(|| bad("truncated .npy header".into()))?;
    let header = std::str::from_utf8(header).map_err(|_| bad("header is not text".into()))?;
    let h = Header::parse(header).map_err(|m| {
        // The header is the file's own text: show a bounded, printable part.
        let shown: String = header
            .chars()
            .take(120)
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        bad(format!("bad .npy header ({m}): {shown}"))
    })?;
    let (dtype, size) = dtype(&h.descr).map_err(bad)?;
    // Checked: a shape like (2**40, 2**40) must be an error, not a wrapped
    // product that then indexes out of bounds.
    let need = h
        .shape
        .iter()
        .try_fold(size, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| bad(format!("shape {:?} is impossibly large", h.shape)))?;
    let data = bytes.get(start + header_len..).unwrap_or(&[]);
    if data.len() < need {
        return Err(bad(format!(
            "truncated: shape {:?} of {} needs {need} bytes of data, the file has {}",
            h.shape,
            h.descr,
            data.len()
        )));
    }
    let mut values: Vec<f64> = data
        .get(..need)
        .unwrap_or(&[])
        .chunks_exact(size)
        .map(|c| decode(dtype, c))
        .collect();
    if h.fortran_order && h.shape.len() >= 2 {
        values = fortran_to_c(&values, &h.shape);
    }
    RawTensor::new(h.shape, values, dtype).map_err(bad)
}

/// The parts of the header dict we need.
struct Header {
    descr: String,
    fortran_order: bool,
    shape: Vec<usize>,
}

impl Header {
    /// Parses `{'descr': '<f8', 'fortran_order': False, 'shape': (4, 5), }`.
    fn parse(h: &str) -> Result<Self, String> {
        let descr = value_after(h, "descr")?;
        let descr = descr
            .trim_start_matches(['\'', '"'])
            .split(['\'', '"'])
            .next()
            .unwrap_or("")
            .to_string();
        let fortran_order = value_after(h, "fortran_order")?.starts_with("True");
        let shape_text = value_after(h, "shape")?;
        let inner = shape_text
            .strip_prefix('(')
            .and_then(|s| s.split(')').next())
            .ok_or("shape is not a tuple")?;
        let shape = inner
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<usize>()
                    .map_err(|_| format!("bad dimension {s:?}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Header {
            descr,
            fortran_order,
            shape,
        })
    }
}

/// The text after `'key':`, left-trimmed.
fn value_after<'a>(h: &'a str, key: &str) -> Result<&'a str, String> {
    let at = h
        .find(&format!("'{key}'"))
        .or_else(|| h.find(&format!("\"{key}\"")))
        .ok_or_else(|| format!("no {key}"))?;
    let rest = &h[at + key.len() + 2..];
    let colon = rest
        .find(':')
        .ok_or_else(|| format!("no value for {key}"))?;
    Ok(rest[colon + 1..].trim_start())
}

fn dtype(descr: &str) -> Result<(Dtype, usize), String> {
    match descr {
        "<f8" | "=f8" => Ok((Dtype::F64, 8)),
        "<f4" | "=f4" => Ok((Dtype::F32, 4)),
        "<i8" | "=i8" => Ok((Dtype::Int, 8)),
        "<i4" | "=i4" => Ok((Dtype::Int, 4)),
        d if d.starts_with('>') => Err(format!(
            "dtype {d} is big-endian; save it as little-endian (arr.astype('<f8'))"
        )),
        d => Err(format!(
            "unsupported dtype {d:?}; expected float32 or float64 ('<f4', '<f8'), or int32/int64"
        )),
    }
}

fn decode(dtype: Dtype, c: &[u8]) -> f64 {
    match (dtype, c.len()) {
        (Dtype::F32, 4) => f64::from(f32::from_le_bytes([c[0], c[1], c[2], c[3]])),
        (Dtype::Int, 4) => f64::from(i32::from_le_bytes([c[0], c[1], c[2], c[3]])),
        (_, 8) => {
            let b = [c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]];
            match dtype {
                Dtype::Int => i64::from_le_bytes(b) as f64,
                _ => f64::from_le_bytes(b),
            }
        }
        _ => f64::NAN,
    }
}

/// Column-major (first index fastest) values of `shape` in row-major order.
fn fortran_to_c(v: &[f64], shape: &[usize]) -> Vec<f64> {
    let n: usize = shape.iter().product();
    let mut out = Vec::with_capacity(n);
    let mut index = vec![0usize; shape.len()];
    for _ in 0..n {
        // The Fortran offset of the current row-major index.
        let (mut offset, mut stride) = (0, 1);
        for (i, d) in index.iter().zip(shape) {
            offset += i * stride;
            stride *= d;
        }
        out.push(v.get(offset).copied().unwrap_or(f64::NAN));
        // Next row-major index: the last dimension fastest.
        for k in (0..shape.len()).rev() {
            index[k] += 1;
            if index[k] < shape[k] {
                break;
            }
            index[k] = 0;
        }
    }
    out
}

/// Writes a little-endian f64 `.npy` (version 1.0, C order) of `shape`:
/// for traces written from Rust (tests, the seed-size benchmark).
pub fn write_f64(path: &Path, shape: &[usize], data: &[f64]) -> std::io::Result<()> {
    let dims: Vec<String> = shape.iter().map(usize::to_string).collect();
    let tuple = match dims.len() {
        1 => format!("({},)", dims[0]),
        _ => format!("({})", dims.join(", ")),
    };
    let mut header = format!("{{'descr': '<f8', 'fortran_order': False, 'shape': {tuple}, }}");
    // Magic (6) + version (2) + length (2) + header + '\n' is a multiple of 64.
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = Vec::with_capacity(10 + header.len() + data.len() * 8);
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&[1, 0]);
    bytes.extend_from_slice(
        &u16::try_from(header.len())
            .unwrap_or(u16::MAX)
            .to_le_bytes(),
    );
    bytes.extend_from_slice(header.as_bytes());
    for v in data {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    std::fs::write(path, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(descr: &str, fortran: bool, shape: &str, data: &[u8]) -> Vec<u8> {
        let h = format!(
            "{{'descr': '{descr}', 'fortran_order': {}, 'shape': {shape}, }}\n",
            if fortran { "True" } else { "False" }
        );
        let mut b = MAGIC.to_vec();
        b.extend_from_slice(&[1, 0]);
        b.extend_from_slice(&(h.len() as u16).to_le_bytes());
        b.extend_from_slice(h.as_bytes());
        b.extend_from_slice(data);
        b
    }

    fn f32s(v: &[f32]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    #[test]
    fn reads_fortran_order_f32_as_row_major() {
        // Truth: np.asfortranarray([[1, 2, 3], [4, 5, 6]]) stores 1 4 2 5 3 6.
        let b = file("<f4", true, "(2, 3)", &f32s(&[1., 4., 2., 5., 3., 6.]));
        let t = parse(Path::new("a.npy"), &b).unwrap();
        assert_eq!(t.shape, vec![2, 3]);
        assert_eq!(t.data, vec![1., 2., 3., 4., 5., 6.]);
        assert_eq!(t.dtype, Dtype::F32);
    }

    #[test]
    fn reads_a_4d_fortran_array_as_row_major() {
        // Truth: np.asfortranarray(np.arange(24.).reshape(2, 3, 2, 2))
        // .tobytes(order="A") stores element [a, b, c, d] at offset
        // a + 2b + 6c + 12d; row-major order is 0, 1, ..., 23.
        let mut fortran = vec![0f32; 24];
        for (flat, v) in fortran.iter_mut().enumerate() {
            let (a, b, c, d) = (flat % 2, flat / 2 % 3, flat / 6 % 2, flat / 12);
            *v = (a * 12 + b * 4 + c * 2 + d) as f32;
        }
        let b = file("<f4", true, "(2, 3, 2, 2)", &f32s(&fortran));
        let t = parse(Path::new("w.npy"), &b).unwrap();
        assert_eq!(t.shape, vec![2, 3, 2, 2]);
        assert_eq!(t.data, (0..24).map(f64::from).collect::<Vec<_>>());
        let b = file("<f4", false, "(1, 1, 1, 1, 1)", &f32s(&[1.0]));
        let e = parse(Path::new("v.npy"), &b).unwrap_err().to_string();
        assert!(e.contains("has 5 dimensions"), "{e}");
    }

    #[test]
    fn writer_and_reader_round_trip_a_vector() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("v.npy");
        write_f64(&p, &[3], &[0.1, -2.0, 1e300]).unwrap();
        let t = parse(&p, &std::fs::read(&p).unwrap()).unwrap();
        assert_eq!((t.shape, t.data), (vec![3], vec![0.1, -2.0, 1e300]));
    }

    #[test]
    fn truncated_and_foreign_files_are_named_errors() {
        let b = file("<f8", false, "(2, 2)", &[0u8; 24]);
        let e = parse(Path::new("w1.npy"), &b).unwrap_err().to_string();
        assert!(e.starts_with("w1.npy: truncated"), "{e}");
        assert!(e.contains("needs 32 bytes"), "{e}");
        let b = file("<c16", false, "(1,)", &[0u8; 16]);
        let e = parse(Path::new("z.npy"), &b).unwrap_err().to_string();
        assert!(e.contains("unsupported dtype \"<c16\""), "{e}");
        let e = parse(Path::new("x.npy"), b"hello world")
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a .npy file"), "{e}");
    }
}

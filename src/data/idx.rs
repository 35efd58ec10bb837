//! Reading IDX files (the MNIST format), raw or gzip-compressed, and turning
//! an images/labels pair into a [`Dataset`].
//!
//! Layout (big-endian): two zero bytes, a type byte, a dimension-count byte,
//! one u32 size per dimension, then exactly `product(sizes)` elements. The
//! header is checked before any data is read, and the data length must match
//! it exactly, because a silently truncated MNIST file trains "fine" on
//! garbage.

use super::{DataError, Dataset, MAX_CLASSES};
use crate::kinds::Shape;
use flate2::read::MultiGzDecoder;
use ndarray::Array2;
use std::fmt;
use std::io::{self, BufReader, Read};
use std::path::Path;

/// Element type declared by the third header byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdxType {
    U8,
    I8,
    I16,
    I32,
    F32,
    F64,
}

impl IdxType {
    /// The type for a header code, if the format defines one.
    pub fn from_code(code: u8) -> Option<Self> {
        match code {
            0x08 => Some(Self::U8),
            0x09 => Some(Self::I8),
            0x0B => Some(Self::I16),
            0x0C => Some(Self::I32),
            0x0D => Some(Self::F32),
            0x0E => Some(Self::F64),
            _ => None,
        }
    }

    /// The header code of this type.
    pub fn code(self) -> u8 {
        match self {
            Self::U8 => 0x08,
            Self::I8 => 0x09,
            Self::I16 => 0x0B,
            Self::I32 => 0x0C,
            Self::F32 => 0x0D,
            Self::F64 => 0x0E,
        }
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            Self::U8 | Self::I8 => 1,
            Self::I16 => 2,
            Self::I32 | Self::F32 => 4,
            Self::F64 => 8,
        }
    }

    /// Whether values of this type are always integral (usable as labels).
    pub fn is_integer(self) -> bool {
        !matches!(self, Self::F32 | Self::F64)
    }

    /// Decodes one big-endian element; `bytes` has exactly `size()` bytes.
    fn decode(self, bytes: &[u8]) -> f64 {
        match (self, bytes) {
            (Self::U8, [a]) => f64::from(*a),
            (Self::I8, [a]) => f64::from(i8::from_be_bytes([*a])),
            (Self::I16, [a, b]) => f64::from(i16::from_be_bytes([*a, *b])),
            (Self::I32, [a, b, c, d]) => f64::from(i32::from_be_bytes([*a, *b, *c, *d])),
            (Self::F32, [a, b, c, d]) => f64::from(f32::from_be_bytes([*a, *b, *c, *d])),
            (Self::F64, [a, b, c, d, e, f, g, h]) => {
                f64::from_be_bytes([*a, *b, *c, *d, *e, *f, *g, *h])
            }
            // Unreachable: chunks_exact(size()) always yields size() bytes.
            _ => f64::NAN,
        }
    }
}

impl fmt::Display for IdxType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Self::U8 => "uint8",
            Self::I8 => "int8",
            Self::I16 => "int16",
            Self::I32 => "int32",
            Self::F32 => "float32",
            Self::F64 => "float64",
        };
        f.write_str(name)
    }
}

/// The decoded contents of one IDX file; `data` is row-major over `dims`.
#[derive(Debug, Clone, PartialEq)]
pub struct IdxArray {
    pub dims: Vec<usize>,
    pub dtype: IdxType,
    pub data: Vec<f64>,
}

/// Header fields, before the data is read.
struct Header {
    dtype: IdxType,
    dims: Vec<usize>,
    data_bytes: usize,
}

impl Header {
    /// "8000 x 28 x 28 uint8 (6272000 data bytes)", for messages.
    fn describe(&self) -> String {
        let dims: Vec<String> = self.dims.iter().map(usize::to_string).collect();
        format!(
            "{} {} ({} data bytes)",
            dims.join(" x "),
            self.dtype,
            self.data_bytes
        )
    }
}

/// Gzip streams start with these two bytes.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Reads and validates one IDX file, gzip-compressed or raw (detected by
/// content, not by extension).
pub fn read_idx(path: &Path) -> Result<IdxArray, DataError> {
    read_idx_rows(path, None).map(|(arr, _)| arr)
}

/// Reads at most `max_rows` entries along the first dimension (all when
/// None) and returns them with the count the header declares. Reading stops
/// there: a `train_limit` of 1000 on a file declaring 600M images reads
/// 1000 of them, and what is read must fit the memory limit.
pub fn read_idx_rows(path: &Path, max_rows: Option<usize>) -> Result<(IdxArray, usize), DataError> {
    let io_err = |source| DataError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = BufReader::new(crate::input::open_regular(path).map_err(io_err)?);
    read_stream(path, file, max_rows)
}

/// Parses the bytes of an IDX file (raw or gzip) read from `path`, which
/// only names it in errors: the fuzz harness's entry point.
pub fn parse_idx(path: &Path, bytes: &[u8]) -> Result<IdxArray, DataError> {
    read_stream(path, bytes, None).map(|(arr, _)| arr)
}

/// Detects gzip by content and parses the stream.
fn read_stream(
    path: &Path,
    mut file: impl Read,
    max_rows: Option<usize>,
) -> Result<(IdxArray, usize), DataError> {
    let io_err = |source| DataError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut magic = [0u8; 2];
    let got = read_up_to(&mut file, &mut magic).map_err(io_err)?;
    let prefix = io::Cursor::new(magic.get(..got).unwrap_or(&[]).to_vec());
    if got == 2 && magic == GZIP_MAGIC {
        let decoder = MultiGzDecoder::new(prefix.chain(file));
        parse(path, decoder, true, max_rows)
    } else {
        parse(path, prefix.chain(file), false, max_rows)
    }
}

/// Parses an IDX stream; `gz` only changes how read errors are worded.
fn parse(
    path: &Path,
    mut r: impl Read,
    gz: bool,
    max_rows: Option<usize>,
) -> Result<(IdxArray, usize), DataError> {
    let read_err = |e: io::Error| {
        if gz {
            idx_err(path, format!("corrupt gzip data: {e}"))
        } else {
            DataError::Io {
                path: path.to_path_buf(),
                source: e,
            }
        }
    };
    let mut header = read_header(path, &mut r, read_err)?;
    let declared = header.dims.first().copied().unwrap_or(0);
    let limited = max_rows.filter(|&m| m < declared);
    if let Some(rows) = limited {
        // Cannot overflow: fewer rows than the product that already fitted.
        header.data_bytes = header.data_bytes / declared * rows;
        if let Some(d) = header.dims.first_mut() {
            *d = rows;
        }
    }
    check_decoded_size(path, &header)?;
    let bytes = read_data(path, &mut r, &header, read_err, limited.is_none())?;
    let data = bytes
        .chunks_exact(header.dtype.size())
        .map(|c| header.dtype.decode(c))
        .collect();
    let arr = IdxArray {
        dims: header.dims,
        dtype: header.dtype,
        data,
    };
    Ok((arr, declared))
}

/// Refuses data whose decoded form (f64 per element) exceeds the memory
/// limit before reading it, so a small gzip file declaring 600M images is
/// an error rather than gigabytes of zeros.
fn check_decoded_size(path: &Path, header: &Header) -> Result<(), DataError> {
    let Some((limit, source)) = crate::limits::memory_limit() else {
        return Ok(());
    };
    let decoded = (header.data_bytes / header.dtype.size()) as f64 * 8.0;
    if decoded > limit as f64 {
        return Err(idx_err(
            path,
            format!(
                "header declares {}; decoded that needs {}, more than the limit of {} ({source}); \
                 set [data] train_limit to read fewer samples, or raise --max-memory",
                header.describe(),
                crate::limits::bytes(decoded),
                crate::limits::bytes(limit as f64)
            ),
        ));
    }
    Ok(())
}

fn idx_err(path: &Path, message: String) -> DataError {
    DataError::Idx {
        path: path.to_path_buf(),
        message,
    }
}

/// Reads magic, type, dimension count and sizes, and computes the data size
/// with overflow checks so an absurd header is an error, not a panic.
fn read_header(
    path: &Path,
    r: &mut impl Read,
    read_err: impl Fn(io::Error) -> DataError,
) -> Result<Header, DataError> {
    let mut magic = [0u8; 4];
    let got = read_up_to(r, &mut magic).map_err(&read_err)?;
    if got < 4 {
        return Err(idx_err(
            path,
            format!("not an IDX file: expected a 4-byte magic number, found only {got} bytes"),
        ));
    }
    let [z0, z1, code, ndims] = magic;
    if z0 != 0 || z1 != 0 {
        return Err(idx_err(
            path,
            format!(
                "not an IDX file: magic must start with two zero bytes, found {z0:#04x} {z1:#04x}"
            ),
        ));
    }
    let dtype = IdxType::from_code(code).ok_or_else(|| {
        idx_err(
            path,
            format!(
                "unknown IDX element type {code:#04x} (expected 0x08, 0x09, 0x0b, 0x0c, 0x0d or 0x0e)"
            ),
        )
    })?;
    if ndims == 0 {
        return Err(idx_err(
            path,
            "IDX header declares 0 dimensions (expected at least 1)".into(),
        ));
    }
    let dims = read_dims(path, r, ndims, &read_err)?;
    let data_bytes = data_size(&dims, dtype).ok_or_else(|| {
        let d: Vec<String> = dims.iter().map(usize::to_string).collect();
        idx_err(
            path,
            format!(
                "IDX header declares an impossibly large array: {} {dtype}",
                d.join(" x ")
            ),
        )
    })?;
    Ok(Header {
        dtype,
        dims,
        data_bytes,
    })
}

/// Reads `ndims` big-endian u32 sizes.
fn read_dims(
    path: &Path,
    r: &mut impl Read,
    ndims: u8,
    read_err: &impl Fn(io::Error) -> DataError,
) -> Result<Vec<usize>, DataError> {
    let mut raw = vec![0u8; 4 * usize::from(ndims)];
    let got = read_up_to(r, &mut raw).map_err(read_err)?;
    if got < raw.len() {
        return Err(idx_err(
            path,
            format!(
                "truncated IDX header: {ndims} dimensions need {} size bytes but only {got} follow",
                raw.len()
            ),
        ));
    }
    raw.chunks_exact(4)
        .map(|c| {
            let v = <[u8; 4]>::try_from(c).map_or(0, u32::from_be_bytes);
            usize::try_from(v).map_err(|_| idx_err(path, format!("dimension {v} too large")))
        })
        .collect()
}

/// Bytes of data the header promises, `None` on overflow.
fn data_size(dims: &[usize], dtype: IdxType) -> Option<usize> {
    dims.iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))?
        .checked_mul(dtype.size())
}

/// Reads exactly the declared data, reporting truncation and trailing bytes.
fn read_data(
    path: &Path,
    r: &mut impl Read,
    header: &Header,
    read_err: impl Fn(io::Error) -> DataError,
    check_trailing: bool,
) -> Result<Vec<u8>, DataError> {
    // Never trust the header for the allocation size: a lying header on a
    // tiny file must not reserve gigabytes.
    let mut bytes = Vec::with_capacity(header.data_bytes.min(1 << 26));
    let want = u64::try_from(header.data_bytes).unwrap_or(u64::MAX);
    r.by_ref()
        .take(want)
        .read_to_end(&mut bytes)
        .map_err(&read_err)?;
    if bytes.len() < header.data_bytes {
        return Err(idx_err(
            path,
            format!(
                "truncated IDX file: header declares {} but only {} follow",
                header.describe(),
                bytes.len()
            ),
        ));
    }
    if !check_trailing {
        return Ok(bytes);
    }
    let trailing = io::copy(r, &mut io::sink()).map_err(&read_err)?;
    if trailing > 0 {
        return Err(idx_err(
            path,
            format!(
                "IDX file has {trailing} trailing bytes: header declares {} but {} follow",
                header.describe(),
                header.data_bytes as u64 + trailing
            ),
        ));
    }
    Ok(bytes)
}

/// Fills as much of `buf` as the stream provides; returns the count.
fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        let rest = buf.get_mut(filled..).unwrap_or(&mut []);
        match r.read(rest) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// An images file as a `[samples, features]` matrix.
pub fn read_images(path: &Path) -> Result<Array2<f64>, DataError> {
    read_images_rows(path, None).map(|(a, _, _)| a)
}

/// The sample shape of an images file's dimensions after the count:
/// [H, W] is one channel, [C, H, W] channel-first, anything else flat.
fn sample_shape(rest: &[usize]) -> Shape {
    match *rest {
        [h, w] => Shape::Image { c: 1, h, w },
        [c, h, w] => Shape::Image { c, h, w },
        _ => Shape::Flat(rest.iter().product()),
    }
}

/// At most `max_rows` images, with the count the header declares and the
/// shape of one sample.
fn read_images_rows(
    path: &Path,
    max_rows: Option<usize>,
) -> Result<(Array2<f64>, usize, Shape), DataError> {
    let (arr, declared) = read_idx_rows(path, max_rows)?;
    let Some((&n, rest)) = arr.dims.split_first().filter(|_| arr.dims.len() >= 2) else {
        return Err(idx_err(
            path,
            format!(
                "expected an images file with at least 2 dimensions, found {} dimension(s)",
                arr.dims.len()
            ),
        ));
    };
    // Cannot overflow: the product of all dims already fitted.
    let width = rest.iter().product();
    let shape = sample_shape(rest);
    Array2::from_shape_vec((n, width), arr.data)
        .map(|a| (a, declared, shape))
        .map_err(|e| idx_err(path, format!("cannot shape data as {n} x {width}: {e}")))
}

/// A labels file as class indices.
pub fn read_labels(path: &Path) -> Result<Vec<usize>, DataError> {
    read_labels_rows(path, None).map(|(l, _)| l)
}

/// At most `max_rows` labels, with the count the header declares.
fn read_labels_rows(
    path: &Path,
    max_rows: Option<usize>,
) -> Result<(Vec<usize>, usize), DataError> {
    let (arr, declared) = read_idx_rows(path, max_rows)?;
    if arr.dims.len() != 1 {
        return Err(idx_err(
            path,
            format!(
                "expected a 1-dimensional labels file, found {} dimensions",
                arr.dims.len()
            ),
        ));
    }
    if !arr.dtype.is_integer() {
        return Err(DataError::InvalidLabel {
            path: path.to_path_buf(),
            message: format!("labels must have an integer type, found {}", arr.dtype),
        });
    }
    let labels = arr
        .data
        .iter()
        .enumerate()
        .map(|(i, &v)| label_index(path, i, v))
        .collect::<Result<_, _>>()?;
    Ok((labels, declared))
}

/// Checks one label value (already integral) is in `0..MAX_CLASSES`.
fn label_index(path: &Path, i: usize, v: f64) -> Result<usize, DataError> {
    if v < 0.0 || v >= MAX_CLASSES as f64 {
        return Err(DataError::InvalidLabel {
            path: path.to_path_buf(),
            message: format!("label #{i} is {v}; expected an integer in 0..{MAX_CLASSES}"),
        });
    }
    Ok(v as usize)
}

/// Reads an images/labels pair and checks the counts agree.
/// At most `max_rows` samples are read; the counts compared are the ones
/// the headers declare.
fn read_pair(
    images: &Path,
    labels: &Path,
    max_rows: Option<usize>,
) -> Result<(Dataset, usize, Shape), DataError> {
    let (features, n_images, shape) = read_images_rows(images, max_rows)?;
    let (labels_v, n_labels) = read_labels_rows(labels, max_rows)?;
    if n_images != n_labels {
        return Err(DataError::CountMismatch {
            images_path: images.to_path_buf(),
            images: n_images,
            labels_path: labels.to_path_buf(),
            labels: n_labels,
        });
    }
    let set = Dataset {
        features,
        labels: labels_v,
        targets: None,
    };
    Ok((set, n_images, shape))
}

/// Loads train (and optionally test) IDX pairs into [`super::Data`].
/// A test split needs both files; with only one of them given the
/// missing half is reported rather than the test split dropped silently.
pub fn load_idx(
    train_images: &Path,
    train_labels: &Path,
    test_images: Option<&Path>,
    test_labels: Option<&Path>,
    train_limit: Option<usize>,
) -> Result<super::Data, DataError> {
    let (train, declared, shape) = read_pair(train_images, train_labels, train_limit)?;
    super::ensure_nonempty_train(&train, train_images)?;
    let test = match (test_images, test_labels) {
        (Some(ti), Some(tl)) => Some((ti, read_pair(ti, tl, None)?.0)),
        (None, None) => None,
        (Some(p), None) | (None, Some(p)) => {
            return Err(idx_err(
                p,
                "a test split needs both test_images and test_labels, only this one is given"
                    .into(),
            ))
        }
    };
    if let Some((ti, t)) = &test {
        if t.width() != train.width() {
            return Err(DataError::WidthMismatch {
                train_path: train_images.to_path_buf(),
                train_width: train.width(),
                test_path: ti.to_path_buf(),
                test_width: t.width(),
            });
        }
    }
    let test = test.map(|(_, t)| t);
    let classes = super::classes_from_labels(&train.labels, test.as_ref().map(|t| &t.labels[..]));
    let mut description = format!(
        "idx: {} ({} x {}), test {}",
        train_images.display(),
        declared,
        train.width(),
        test.as_ref()
            .map_or("none".to_string(), |t| t.len().to_string())
    );
    if train.len() < declared {
        // Worded as `apply_limit` words it for the other sources.
        description.push_str(&format!(", train limited to the first {}", train.len()));
    }
    Ok(super::Data {
        train,
        test,
        classes,
        class_names: None,
        task: super::spec::Task::Classification,
        target_names: Vec::new(),
        target_scaler: None,
        description,
        shape: Some(shape),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::GzEncoder;
    use flate2::Compression;
    use std::collections::BTreeMap;
    use std::io::Write;
    use std::path::PathBuf;

    const MNIST_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/data/mnist");

    /// Minimal IDX writer: the format as described in the module docs.
    fn idx_bytes(dtype: IdxType, dims: &[u32], values: &[f64]) -> Vec<u8> {
        let mut out = vec![0, 0, dtype.code(), dims.len() as u8];
        for d in dims {
            out.extend_from_slice(&d.to_be_bytes());
        }
        for &v in values {
            match dtype {
                IdxType::U8 => out.push(v as u8),
                IdxType::I8 => out.extend_from_slice(&(v as i8).to_be_bytes()),
                IdxType::I16 => out.extend_from_slice(&(v as i16).to_be_bytes()),
                IdxType::I32 => out.extend_from_slice(&(v as i32).to_be_bytes()),
                IdxType::F32 => out.extend_from_slice(&(v as f32).to_be_bytes()),
                IdxType::F64 => out.extend_from_slice(&v.to_be_bytes()),
            }
        }
        out
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut enc = GzEncoder::new(Vec::new(), Compression::default());
        enc.write_all(bytes).unwrap();
        enc.finish().unwrap()
    }

    fn write(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> PathBuf {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    fn err_text(r: Result<impl std::fmt::Debug, DataError>) -> String {
        r.unwrap_err().to_string()
    }

    #[test]
    fn round_trips_every_type_raw_and_gzip() {
        // Source of truth: the values written by the test's own IDX writer.
        let dir = tempfile::tempdir().unwrap();
        let cases: [(IdxType, Vec<f64>); 6] = [
            (IdxType::U8, vec![0.0, 1.0, 128.0, 255.0, 7.0, 9.0]),
            (IdxType::I8, vec![-128.0, -1.0, 0.0, 1.0, 127.0, 5.0]),
            (IdxType::I16, vec![-32768.0, -2.0, 0.0, 300.0, 32767.0, 1.0]),
            (
                IdxType::I32,
                vec![i32::MIN as f64, -5.0, 0.0, 70000.0, i32::MAX as f64, 3.0],
            ),
            (
                IdxType::F32,
                vec![-1.5, 0.0, 0.25, 1e10, f64::INFINITY, 3.0],
            ),
            (
                IdxType::F64,
                vec![-1.5e300, 0.1, 0.0, 1e-300, f64::NEG_INFINITY, 3.0],
            ),
        ];
        for (dtype, values) in cases {
            let raw = idx_bytes(dtype, &[2, 3], &values);
            for (name, bytes) in [("raw.idx", raw.clone()), ("packed.idx", gzip(&raw))] {
                let p = write(&dir, name, &bytes);
                let arr = read_idx(&p).unwrap();
                assert_eq!(arr.dims, vec![2, 3], "{dtype} {name}");
                assert_eq!(arr.dtype, dtype);
                assert_eq!(arr.data, values, "{dtype} {name}");
            }
        }
    }

    #[test]
    fn gzip_detected_by_content_not_extension() {
        let dir = tempfile::tempdir().unwrap();
        let raw = idx_bytes(IdxType::U8, &[3], &[1.0, 2.0, 3.0]);
        let p = write(&dir, "labels.gz", &raw);
        assert_eq!(read_idx(&p).unwrap().data, vec![1.0, 2.0, 3.0]);
        let p = write(&dir, "labels.raw", &gzip(&raw));
        assert_eq!(read_idx(&p).unwrap().data, vec![1.0, 2.0, 3.0]);
    }

    #[test]
    fn truncated_file_names_expected_and_actual_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let mut raw = idx_bytes(IdxType::U8, &[4, 2, 2], &[0.0; 16]);
        raw.truncate(raw.len() - 6);
        let p = write(&dir, "t.idx.gz", &gzip(&raw));
        let msg = err_text(read_idx(&p));
        assert!(msg.contains("t.idx.gz"), "{msg}");
        assert!(
            msg.contains("truncated IDX file: header declares 4 x 2 x 2 uint8 (16 data bytes) but only 10 follow"),
            "{msg}"
        );
    }

    #[test]
    fn truncated_header() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(&dir, "h", &[0, 0, 8, 3, 0, 0, 0, 1]);
        assert!(err_text(read_idx(&p)).contains("truncated IDX header"));
        let p = write(&dir, "e", &[]);
        assert!(err_text(read_idx(&p)).contains("found only 0 bytes"));
        let p = write(&dir, "one", &[0]);
        assert!(err_text(read_idx(&p)).contains("found only 1 bytes"));
    }

    #[test]
    fn trailing_bytes_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let mut raw = idx_bytes(IdxType::I16, &[2], &[1.0, 2.0]);
        raw.extend_from_slice(&[9, 9, 9]);
        let p = write(&dir, "t.idx", &raw);
        let msg = err_text(read_idx(&p));
        assert!(msg.contains("3 trailing bytes"), "{msg}");
        assert!(msg.contains("(4 data bytes) but 7 follow"), "{msg}");
    }

    #[test]
    fn bad_magic_unknown_type_zero_dims() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(&dir, "m", &[1, 0, 8, 1, 0, 0, 0, 0]);
        assert!(err_text(read_idx(&p)).contains("two zero bytes"));
        let p = write(&dir, "ty", &[0, 0, 0x0A, 1, 0, 0, 0, 0]);
        assert!(err_text(read_idx(&p)).contains("unknown IDX element type 0x0a"));
        let p = write(&dir, "z", &[0, 0, 8, 0]);
        assert!(err_text(read_idx(&p)).contains("0 dimensions"));
    }

    #[test]
    fn absurd_dimensions_do_not_panic() {
        // 255 dims of 0xFFFFFFFF overflows any usize product.
        let dir = tempfile::tempdir().unwrap();
        let mut raw = vec![0, 0, 0x0E, 255];
        raw.extend(std::iter::repeat_n(0xFF, 4 * 255));
        let p = write(&dir, "big", &raw);
        assert!(err_text(read_idx(&p)).contains("impossibly large"));
        // Large but representable: reported as truncated, nothing reserved.
        let raw = [
            0, 0, 0x0E, 2, 0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0xFF, 0xFF,
        ];
        let p = write(&dir, "lying", &raw);
        let msg = err_text(read_idx(&p));
        // Refused by the memory limit (2.25 PB decoded) before reading, or,
        // where no limit is known, reported as truncated.
        assert!(
            msg.contains("more than the limit") || msg.contains("but only 0 follow"),
            "{msg}"
        );
    }

    #[test]
    fn corrupt_gzip_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let mut gz = gzip(&idx_bytes(IdxType::U8, &[100], &[3.0; 100]));
        gz.truncate(gz.len() / 2);
        let p = write(&dir, "c.gz", &gz);
        let msg = err_text(read_idx(&p));
        assert!(msg.contains("c.gz"), "{msg}");
    }

    #[test]
    fn missing_file_is_io_error_with_path() {
        let r = read_idx(Path::new("/nonexistent/x.idx"));
        let e = r.unwrap_err();
        assert!(matches!(e, DataError::Io { .. }));
        assert!(e.to_string().starts_with("/nonexistent/x.idx: cannot read"));
    }

    #[test]
    fn images_and_labels_shapes_and_checks() {
        let dir = tempfile::tempdir().unwrap();
        let img = write(&dir, "img", &idx_bytes(IdxType::U8, &[3, 2, 2], &[1.0; 12]));
        assert_eq!(read_images(&img).unwrap().dim(), (3, 4));
        let one_d = write(&dir, "oned", &idx_bytes(IdxType::U8, &[3], &[1.0; 3]));
        assert!(err_text(read_images(&one_d)).contains("at least 2 dimensions"));
        assert!(err_text(read_labels(&img)).contains("1-dimensional"));
        let neg = write(&dir, "neg", &idx_bytes(IdxType::I8, &[2], &[1.0, -1.0]));
        assert!(err_text(read_labels(&neg)).contains("label #1 is -1"));
        let fl = write(&dir, "fl", &idx_bytes(IdxType::F32, &[2], &[1.0, 0.5]));
        assert!(err_text(read_labels(&fl)).contains("integer type"));
        let huge = write(&dir, "huge", &idx_bytes(IdxType::I32, &[1], &[2e9]));
        assert!(err_text(read_labels(&huge)).contains("label #0"));
    }

    #[test]
    fn count_and_width_mismatch() {
        let dir = tempfile::tempdir().unwrap();
        let img = write(&dir, "img", &idx_bytes(IdxType::U8, &[3, 2, 2], &[1.0; 12]));
        let lab2 = write(&dir, "lab2", &idx_bytes(IdxType::U8, &[2], &[0.0, 1.0]));
        let lab3 = write(
            &dir,
            "lab3",
            &idx_bytes(IdxType::U8, &[3], &[0.0, 1.0, 4.0]),
        );
        let msg = err_text(load_idx(&img, &lab2, None, None, None));
        assert!(msg.contains("img has 3 images but"), "{msg}");
        assert!(msg.contains("lab2 has 2 labels"), "{msg}");
        let wide = write(&dir, "wide", &idx_bytes(IdxType::U8, &[3, 5], &[1.0; 15]));
        let msg = err_text(load_idx(&img, &lab3, Some(&wide), Some(&lab3), None));
        assert!(msg.contains("4 features per sample but test data"), "{msg}");
        assert!(msg.contains("has 5"), "{msg}");
        let msg = err_text(load_idx(&img, &lab3, Some(&img), Some(&lab2), None));
        assert!(msg.contains("count mismatch"), "{msg}");
        let msg = err_text(load_idx(&img, &lab3, Some(&img), None, None));
        assert!(msg.contains("both test_images and test_labels"), "{msg}");
        let data = load_idx(&img, &lab3, None, None, None).unwrap();
        // Source of truth: largest label written (4) + 1.
        assert_eq!(data.classes, 5);
        assert!(data.test.is_none());
        let empty = write(&dir, "empty", &idx_bytes(IdxType::U8, &[0, 2], &[]));
        let nolab = write(&dir, "nolab", &idx_bytes(IdxType::U8, &[0], &[]));
        assert!(matches!(
            load_idx(&empty, &nolab, None, None, None),
            Err(DataError::EmptyTrain(_))
        ));
    }

    /// Per-split class counts from provenance.tsv (split, pos, label, ...).
    fn provenance_counts() -> BTreeMap<String, Vec<usize>> {
        let text = std::fs::read_to_string(format!("{MNIST_DIR}/provenance.tsv")).unwrap();
        let mut counts: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for line in text.lines().skip(1) {
            let cols: Vec<&str> = line.split('\t').collect();
            let label: usize = cols[2].parse().unwrap();
            let c = counts
                .entry(cols[0].to_string())
                .or_insert_with(|| vec![0; 10]);
            c[label] += 1;
        }
        counts
    }

    #[test]
    fn real_mnist_fixture() {
        let p = |f: &str| PathBuf::from(format!("{MNIST_DIR}/{f}"));
        let data = load_idx(
            &p("train-images-idx3-ubyte.gz"),
            &p("train-labels-idx1-ubyte.gz"),
            Some(&p("t10k-images-idx3-ubyte.gz")),
            Some(&p("t10k-labels-idx1-ubyte.gz")),
            None,
        )
        .unwrap();
        // Source of truth: fixtures/data/mnist/README.md (shapes, uint8).
        assert_eq!(data.train.features.dim(), (8000, 784));
        let test = data.test.as_ref().unwrap();
        assert_eq!(test.features.dim(), (2000, 784));
        assert_eq!(data.classes, 10);
        for v in data.train.features.iter().chain(test.features.iter()) {
            assert!((0.0..=255.0).contains(v) && v.fract() == 0.0, "{v}");
        }
        assert_eq!(
            data.train.features.iter().cloned().fold(0.0, f64::max),
            255.0
        );
        // Source of truth: provenance.tsv, counted independently here.
        let counts = provenance_counts();
        assert_eq!(data.train.class_counts(10), counts["train"]);
        assert_eq!(test.class_counts(10), counts["test"]);
        assert!(
            data.description.starts_with("idx: "),
            "{}",
            data.description
        );
        assert!(
            data.description.ends_with("(8000 x 784), test 2000"),
            "{}",
            data.description
        );
    }

    #[test]
    fn real_mnist_labels_follow_provenance_order() {
        // Source of truth: provenance.tsv lists the label at each position.
        let text = std::fs::read_to_string(format!("{MNIST_DIR}/provenance.tsv")).unwrap();
        let expected: Vec<usize> = text
            .lines()
            .skip(1)
            .filter(|l| l.starts_with("test\t"))
            .map(|l| l.split('\t').nth(2).unwrap().parse().unwrap())
            .collect();
        let labels = read_labels(&PathBuf::from(format!(
            "{MNIST_DIR}/t10k-labels-idx1-ubyte.gz"
        )))
        .unwrap();
        assert_eq!(labels, expected);
    }
}

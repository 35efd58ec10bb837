//! Header-addressed CSV reading: columns are found by name, so a writer may
//! order them freely and append columns this version does not know; every
//! parse error names the file, the line (1-based, counting every line of
//! the file) and the column.
//!
//! A run directory is untrusted input, so a table is streamed, never read
//! whole: regular files only (a FIFO or `/dev/zero` is refused before
//! reading), a bounded line length (a file without newlines cannot make one
//! huge allocation), and rows handed to the caller one at a time, so memory
//! is what the caller keeps. Leading `#` lines are comments; `# run_id=ID`
//! among them names the recording the file belongs to.

use super::error::RunDirError;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

/// The longest line read, in bytes (a metrics row is about 300).
pub const MAX_LINE: usize = 1 << 20;
/// Leading comment lines read before the header.
const MAX_COMMENT_LINES: usize = 64;

/// An open CSV file with its header indexed, positioned at the first row.
pub struct Table {
    path: PathBuf,
    columns: HashMap<String, usize>,
    width: usize,
    /// Lines before the header (comments), added to the reader's line numbers.
    skipped: usize,
    run_id: Option<String>,
    reader: csv::Reader<LineLimited<BufReader<std::fs::File>>>,
}

/// One row and where it came from.
pub struct Row<'a> {
    table: &'a Table,
    line: usize,
    record: &'a csv::StringRecord,
}

impl Table {
    /// Opens `path`, reads its leading comments and its header.
    pub fn open(path: &Path) -> Result<Table, RunDirError> {
        let io = |source| RunDirError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = crate::input::open_regular(path).map_err(io)?;
        let mut buf = BufReader::new(file);
        let (skipped, run_id) = comments(&mut buf).map_err(io)?;
        let mut reader = csv::ReaderBuilder::new()
            .flexible(true)
            .from_reader(LineLimited::new(buf));
        let header = reader
            .headers()
            .map_err(|e| csv_error(path, &e, skipped, "cannot read the header"))?
            .clone();
        let columns = header
            .iter()
            .enumerate()
            .map(|(i, name)| (name.trim().to_string(), i))
            .collect();
        Ok(Table {
            path: path.to_path_buf(),
            columns,
            width: header.len(),
            skipped,
            run_id,
            reader,
        })
    }

    /// The `# run_id=ID` comment before the header, if the file has one.
    pub fn run_id(&self) -> Option<&str> {
        self.run_id.as_deref()
    }

    pub fn has(&self, column: &str) -> bool {
        self.columns.contains_key(column)
    }

    /// Fails unless every one of `columns` is in the header.
    pub fn require(&self, columns: &[&str]) -> Result<(), RunDirError> {
        match columns.iter().find(|c| !self.has(c)) {
            None => Ok(()),
            Some(c) => Err(RunDirError::Csv {
                path: self.path.clone(),
                line: self.skipped + 1,
                column: (*c).to_string(),
                message: "required column missing from the header".into(),
            }),
        }
    }

    /// Calls `each` on every row in file order; stops at the first error.
    pub fn for_each_row(
        &mut self,
        mut each: impl FnMut(&Row<'_>) -> Result<(), RunDirError>,
    ) -> Result<(), RunDirError> {
        let mut record = csv::StringRecord::new();
        loop {
            let more = self
                .reader
                .read_record(&mut record)
                .map_err(|e| csv_error(&self.path, &e, self.skipped, "malformed row"))?;
            if !more {
                return Ok(());
            }
            let line = self.skipped + record.position().map_or(0, |p| p.line() as usize);
            if record.len() != self.width {
                return Err(RunDirError::Csv {
                    path: self.path.clone(),
                    line,
                    column: "-".into(),
                    message: format!(
                        "expected {} fields like the header, found {}",
                        self.width,
                        record.len()
                    ),
                });
            }
            each(&Row {
                table: self,
                line,
                record: &record,
            })?;
        }
    }
}

/// Reads the leading `#` lines: how many, and the run id among them.
fn comments(buf: &mut BufReader<std::fs::File>) -> std::io::Result<(usize, Option<String>)> {
    let mut skipped = 0;
    let mut run_id = None;
    while skipped < MAX_COMMENT_LINES && buf.fill_buf()?.first() == Some(&b'#') {
        let mut line = Vec::new();
        (&mut *buf)
            .take(MAX_LINE as u64)
            .read_until(b'\n', &mut line)?;
        if line.last() != Some(&b'\n') && line.len() >= MAX_LINE {
            return Err(long_line());
        }
        skipped += 1;
        let text = String::from_utf8_lossy(&line);
        if let Some(id) = text.trim().strip_prefix('#').map(str::trim) {
            if let Some(id) = id.strip_prefix("run_id=") {
                run_id.get_or_insert_with(|| id.trim().to_string());
            }
        }
    }
    Ok((skipped, run_id))
}

fn long_line() -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!("a line longer than {MAX_LINE} bytes: not a run-format CSV"),
    )
}

/// A reader that fails on a line longer than [`MAX_LINE`], before the CSV
/// parser buffers it.
struct LineLimited<R> {
    inner: R,
    line: usize,
}

impl<R> LineLimited<R> {
    fn new(inner: R) -> Self {
        LineLimited { inner, line: 0 }
    }
}

impl<R: Read> Read for LineLimited<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(out)?;
        for &b in &out[..n] {
            if b == b'\n' {
                self.line = 0;
            } else {
                self.line += 1;
                if self.line > MAX_LINE {
                    return Err(long_line());
                }
            }
        }
        Ok(n)
    }
}

impl Row<'_> {
    /// The raw text of a column; None when the header lacks it.
    pub fn text(&self, column: &str) -> Option<&str> {
        let i = *self.table.columns.get(column)?;
        self.record.get(i).map(str::trim)
    }

    pub fn error(&self, column: &str, message: impl Into<String>) -> RunDirError {
        RunDirError::Csv {
            path: self.table.path.clone(),
            line: self.line,
            column: column.to_string(),
            message: message.into(),
        }
    }

    /// A number; `NaN`, `inf` and `-inf` are numbers. Missing column or
    /// empty field: None.
    pub fn number(&self, column: &str) -> Result<Option<f64>, RunDirError> {
        match self.text(column) {
            None | Some("") => Ok(None),
            Some(t) => t.parse::<f64>().map(Some).map_err(|_| {
                self.error(
                    column,
                    format!("expected a number (or NaN, inf, -inf), found {t:?}"),
                )
            }),
        }
    }

    /// A number that must be present.
    pub fn required_number(&self, column: &str) -> Result<f64, RunDirError> {
        self.number(column)?
            .ok_or_else(|| self.error(column, "expected a number, found an empty field"))
    }

    /// A non-negative integer that must be present.
    pub fn count(&self, column: &str) -> Result<usize, RunDirError> {
        let t = self.text(column).unwrap_or("");
        t.parse::<usize>().map_err(|_| {
            self.error(
                column,
                format!("expected a non-negative integer, found {t:?}"),
            )
        })
    }
}

fn csv_error(path: &Path, e: &csv::Error, skipped: usize, what: &str) -> RunDirError {
    let line = skipped + e.position().map_or(0, |p| p.line() as usize);
    RunDirError::Csv {
        path: path.to_path_buf(),
        line,
        column: "-".into(),
        message: format!("{what}: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_table<T>(text: &str, f: impl FnOnce(&mut Table) -> T) -> T {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.csv");
        std::fs::write(&p, text).unwrap();
        f(&mut Table::open(&p).unwrap())
    }

    /// The results of `each` on every row, with the first error.
    fn rows<T>(
        t: &mut Table,
        each: impl Fn(&Row<'_>) -> Result<T, RunDirError>,
    ) -> Result<Vec<T>, RunDirError> {
        let mut out = Vec::new();
        t.for_each_row(|r| {
            out.push(each(r)?);
            Ok(())
        })?;
        Ok(out)
    }

    #[test]
    fn columns_by_name_and_extra_columns_ignored() {
        let v = with_table("b,a,extra\n2,1,x\n", |t| {
            rows(t, |r| Ok((r.required_number("a")?, r.count("b")?))).unwrap()
        });
        assert_eq!(v, vec![(1.0, 2)]);
    }

    #[test]
    fn errors_name_line_and_column() {
        let msg = with_table("step,loss\n1,0.5\n2,abc\n", |t| {
            assert!(t
                .require(&["step", "units"])
                .unwrap_err()
                .to_string()
                .contains("`units`"));
            rows(t, |r| r.required_number("loss"))
                .unwrap_err()
                .to_string()
        });
        assert!(
            msg.ends_with(
                "t.csv:3: column `loss`: expected a number (or NaN, inf, -inf), found \"abc\""
            ),
            "{msg}"
        );
    }

    #[test]
    fn non_finite_spellings_parse() {
        let v = with_table("x,y,z\nNaN,inf,-inf\n", |t| {
            rows(t, |r| {
                Ok((r.required_number("x")?, r.required_number("z")?))
            })
            .unwrap()
        });
        assert!(v[0].0.is_nan());
        assert_eq!(v[0].1, f64::NEG_INFINITY);
    }

    #[test]
    fn leading_comments_give_the_run_id_and_shift_line_numbers() {
        let (id, msg) = with_table("# run_id=abc123\n# other\nstep,loss\n1,x\n", |t| {
            let id = t.run_id().map(str::to_string);
            (
                id,
                rows(t, |r| r.required_number("loss"))
                    .unwrap_err()
                    .to_string(),
            )
        });
        assert_eq!(id.as_deref(), Some("abc123"));
        assert!(msg.contains("t.csv:4: column `loss`"), "{msg}");
    }

    #[test]
    fn a_line_without_end_is_refused_before_it_is_buffered() {
        let long = format!("step,loss\n1,{}", "9".repeat(MAX_LINE + 10));
        let e = with_table(&long, |t| rows(t, |r| r.number("loss")).unwrap_err());
        assert!(e.to_string().contains("longer than"), "{e}");
    }

    #[test]
    fn fifos_and_devices_are_refused_without_blocking() {
        let e = Table::open(Path::new("/dev/zero")).err().unwrap();
        assert!(e.to_string().contains("not a regular file"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("metrics.csv");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path; mkfifo has no other preconditions.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let e = Table::open(&fifo).err().unwrap();
        assert!(e.to_string().contains("not a regular file"), "{e}");
    }
}

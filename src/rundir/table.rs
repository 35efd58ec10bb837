//! Header-addressed CSV reading: columns are found by name, so a writer may
//! order them freely and append columns this version does not know; every
//! parse error names the file, the line (1-based, the header is line 1) and
//! the column.

use super::error::RunDirError;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// A CSV file read whole, with its header indexed.
pub struct Table {
    path: PathBuf,
    columns: HashMap<String, usize>,
    rows: Vec<(usize, csv::StringRecord)>,
}

/// One row and where it came from.
pub struct Row<'a> {
    table: &'a Table,
    line: usize,
    record: &'a csv::StringRecord,
}

impl Table {
    pub fn read(path: &Path) -> Result<Table, RunDirError> {
        let file = std::fs::File::open(path).map_err(|source| RunDirError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(file);
        let header = reader
            .headers()
            .map_err(|e| csv_error(path, &e, "cannot read the header"))?
            .clone();
        let columns = header
            .iter()
            .enumerate()
            .map(|(i, name)| (name.trim().to_string(), i))
            .collect();
        let mut rows = Vec::new();
        for record in reader.records() {
            let record = record.map_err(|e| csv_error(path, &e, "malformed row"))?;
            let line = record.position().map_or(0, |p| p.line() as usize);
            if record.len() != header.len() {
                return Err(RunDirError::Csv {
                    path: path.to_path_buf(),
                    line,
                    column: "-".into(),
                    message: format!(
                        "expected {} fields like the header, found {}",
                        header.len(),
                        record.len()
                    ),
                });
            }
            rows.push((line, record));
        }
        Ok(Table {
            path: path.to_path_buf(),
            columns,
            rows,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
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
                line: 1,
                column: (*c).to_string(),
                message: "required column missing from the header".into(),
            }),
        }
    }

    pub fn rows(&self) -> impl Iterator<Item = Row<'_>> {
        self.rows.iter().map(move |(line, record)| Row {
            table: self,
            line: *line,
            record,
        })
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

fn csv_error(path: &Path, e: &csv::Error, what: &str) -> RunDirError {
    let line = e.position().map_or(0, |p| p.line() as usize);
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

    fn table(text: &str) -> (tempfile::TempDir, Table) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.csv");
        std::fs::write(&p, text).unwrap();
        let t = Table::read(&p).unwrap();
        (dir, t)
    }

    #[test]
    fn columns_by_name_and_extra_columns_ignored() {
        let (_d, t) = table("b,a,extra\n2,1,x\n");
        let row = t.rows().next().unwrap();
        assert_eq!(row.required_number("a").unwrap(), 1.0);
        assert_eq!(row.count("b").unwrap(), 2);
    }

    #[test]
    fn errors_name_line_and_column() {
        let (_d, t) = table("step,loss\n1,0.5\n2,abc\n");
        let bad = t
            .rows()
            .nth(1)
            .unwrap()
            .required_number("loss")
            .unwrap_err();
        let msg = bad.to_string();
        assert!(
            msg.ends_with(
                "t.csv:3: column `loss`: expected a number (or NaN, inf, -inf), found \"abc\""
            ),
            "{msg}"
        );
        assert!(t
            .require(&["step", "units"])
            .unwrap_err()
            .to_string()
            .contains("`units`"));
    }

    #[test]
    fn non_finite_spellings_parse() {
        let (_d, t) = table("x,y,z\nNaN,inf,-inf\n");
        let r = t.rows().next().unwrap();
        assert!(r.required_number("x").unwrap().is_nan());
        assert_eq!(r.required_number("z").unwrap(), f64::NEG_INFINITY);
    }
}

//! Reading labelled CSV files: a header row, one label column (by name,
//! default the last), every other column a numeric feature.
//!
//! Non-finite values written as `nan` or `inf` are kept, because reporting
//! them is the diagnosis's job; anything that is not a number at all is an
//! error naming the line and column. Labels that are all non-negative
//! integers are used as class indices; otherwise the distinct strings are
//! sorted and numbered, and their names kept for reports.

use super::spec::Task;
use super::{Data, DataError, Dataset, MAX_CLASSES};
use ndarray::Array2;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufReader;
use std::path::Path;

/// One file as read, before labels are turned into indices (that needs
/// both train and test, so string labels get one shared numbering).
struct RawCsv {
    header: Vec<String>,
    /// The label column (classification) or the target columns.
    target_cols: Vec<usize>,
    features: Array2<f64>,
    /// Label text and its 1-based line, per row (classification).
    labels: Vec<(String, u64)>,
    /// Target values, row-major over `target_cols` (regression, multilabel).
    targets: Vec<f64>,
    /// Data rows read.
    rows: usize,
}

/// Which columns hold what the network predicts, and as what.
#[derive(Debug, Clone, Copy)]
pub struct Columns<'a> {
    /// `label_column` (classification).
    pub label: Option<&'a str>,
    /// `target_columns` (regression, multilabel).
    pub targets: Option<&'a [String]>,
    pub task: Task,
}

fn csv_err(path: &Path, line: Option<u64>, message: String) -> DataError {
    DataError::Csv {
        path: path.to_path_buf(),
        line,
        message,
    }
}

/// Loads a train CSV and an optional test CSV sharing its header.
pub fn load_csv(
    train_path: &Path,
    test_path: Option<&Path>,
    columns: &Columns<'_>,
    train_limit: Option<usize>,
) -> Result<Data, DataError> {
    let train = read_raw(train_path, columns, train_limit)?;
    let test = match test_path {
        Some(p) => Some((p, read_raw(p, columns, None)?)),
        None => None,
    };
    if let Some((p, t)) = &test {
        check_same_header(train_path, &train, p, t)?;
    }
    let names: Vec<String> = train
        .target_cols
        .iter()
        .filter_map(|&c| train.header.get(c).cloned())
        .collect();
    if columns.task != Task::Classification {
        return Ok(target_data(
            train_path,
            train,
            test,
            names,
            columns.task,
            train_limit,
        ));
    }
    let label_name = names.first().cloned().unwrap_or_default();
    let (train_labels, test_labels, class_names) = encode_labels(
        (train_path, &train.labels),
        test.as_ref().map(|(p, t)| (*p, &t.labels[..])),
        &label_name,
    )?;
    let train = Dataset {
        features: train.features,
        labels: train_labels,
        targets: None,
    };
    let test = test.zip(test_labels).map(|((_, t), labels)| Dataset {
        features: t.features,
        labels,
        targets: None,
    });
    let classes = match &class_names {
        Some(names) => names.len(),
        None => super::classes_from_labels(&train.labels, test.as_ref().map(|t| &t.labels[..])),
    };
    let mut description = format!(
        "csv: {} ({} x {}, label column '{label_name}'), test {}",
        train_path.display(),
        train.len(),
        train.width(),
        test.as_ref()
            .map_or("none".to_string(), |t| t.len().to_string())
    );
    if train_limit == Some(train.len()) {
        // Reading stopped there; worded as `apply_limit` words it.
        description.push_str(&format!(", train limited to the first {}", train.len()));
    }
    Ok(Data {
        train,
        test,
        classes,
        class_names,
        task: Task::Classification,
        target_names: Vec::new(),
        target_scaler: None,
        description,
        shape: None,
    })
}

/// Regression or multilabel data: the target columns as they are.
fn target_data(
    train_path: &Path,
    train: RawCsv,
    test: Option<(&Path, RawCsv)>,
    names: Vec<String>,
    task: Task,
    train_limit: Option<usize>,
) -> Data {
    let to_set = |r: RawCsv| {
        let k = r.target_cols.len();
        Dataset {
            targets: Array2::from_shape_vec((r.rows, k), r.targets).ok(),
            features: r.features,
            labels: Vec::new(),
        }
    };
    let train = to_set(train);
    let test = test.map(|(_, t)| to_set(t));
    let mut description = format!(
        "csv: {} ({} x {}, {} targets [{}]), test {}",
        train_path.display(),
        train.len(),
        train.width(),
        task.name(),
        names.join(", "),
        test.as_ref()
            .map_or("none".to_string(), |t| t.len().to_string())
    );
    if train_limit == Some(train.len()) {
        description.push_str(&format!(", train limited to the first {}", train.len()));
    }
    Data {
        train,
        test,
        classes: names.len(),
        class_names: None,
        task,
        target_names: names,
        target_scaler: None,
        description,
        shape: None,
    }
}

/// Test data must have the train header exactly, so column `k` means the
/// same feature in both.
fn check_same_header(
    train_path: &Path,
    train: &RawCsv,
    test_path: &Path,
    test: &RawCsv,
) -> Result<(), DataError> {
    if test.features.ncols() != train.features.ncols() {
        return Err(DataError::WidthMismatch {
            train_path: train_path.to_path_buf(),
            train_width: train.features.ncols(),
            test_path: test_path.to_path_buf(),
            test_width: test.features.ncols(),
        });
    }
    if test.header != train.header {
        return Err(csv_err(
            test_path,
            Some(1),
            format!(
                "header differs from the training file's: expected [{}], found [{}]",
                train.header.join(", "),
                test.header.join(", ")
            ),
        ));
    }
    Ok(())
}

/// Reads one CSV file into features and raw label strings, stopping after
/// `max_rows` data rows (the `train_limit`), so the rest is never parsed.
fn read_raw(
    path: &Path,
    columns: &Columns<'_>,
    max_rows: Option<usize>,
) -> Result<RawCsv, DataError> {
    let io_err = |source| DataError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = crate::input::open_regular(path).map_err(io_err)?;
    check_text_size(path, &file, max_rows)?;
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(BufReader::new(file));
    let header: Vec<String> = rdr
        .headers()
        .map_err(|e| from_csv_error(path, &e))?
        .iter()
        .map(str::to_string)
        .collect();
    let target_cols = match (columns.task, columns.targets) {
        (Task::Classification, _) | (_, None) => {
            vec![find_label_column(path, &header, columns.label)?]
        }
        (_, Some(names)) => names
            .iter()
            .map(|n| find_label_column(path, &header, Some(n)))
            .collect::<Result<Vec<_>, _>>()?,
    };
    if target_cols.len() >= header.len() {
        return Err(csv_err(
            path,
            Some(1),
            format!(
                "every column is a target ({}): at least one feature column is needed",
                header.join(", ")
            ),
        ));
    }
    refuse_numeric_header(path, &header, &target_cols)?;
    let width = header.len() - target_cols.len();
    let mut out = Parsed::default();
    for record in rdr.records().take(max_rows.unwrap_or(usize::MAX)) {
        let record = record.map_err(|e| from_csv_error(path, &e))?;
        let line = record.position().map_or(0, |p| p.line());
        parse_row(
            path,
            line,
            &header,
            &target_cols,
            columns.task,
            &record,
            &mut out,
        )?;
    }
    if out.rows == 0 {
        return Err(csv_err(path, None, "no data rows after the header".into()));
    }
    let features = Array2::from_shape_vec((out.rows, width), out.features)
        .map_err(|e| csv_err(path, None, format!("internal shape error: {e}")))?;
    Ok(RawCsv {
        header,
        target_cols,
        features,
        labels: out.labels,
        targets: out.targets,
        rows: out.rows,
    })
}

/// What the rows of one file parse to.
#[derive(Default)]
struct Parsed {
    features: Vec<f64>,
    labels: Vec<(String, u64)>,
    targets: Vec<f64>,
    rows: usize,
}

/// Refuses a file whose parsed form (8 bytes per value, each value taking
/// at least 2 bytes of text) could exceed the memory limit. With a row
/// limit only the rows read count, so the file size alone does not decide.
fn check_text_size(path: &Path, file: &File, max_rows: Option<usize>) -> Result<(), DataError> {
    let Some((limit, source)) = crate::limits::memory_limit() else {
        return Ok(());
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let parsed = len as f64 * 4.0;
    if max_rows.is_none() && parsed > limit as f64 {
        return Err(csv_err(
            path,
            None,
            format!(
                "{len} bytes of CSV may parse to {}, more than the limit of {} ({source}); \
                 set [data] train_limit or raise --max-memory",
                crate::limits::bytes(parsed),
                crate::limits::bytes(limit as f64)
            ),
        ));
    }
    Ok(())
}

/// The first row must name the columns. When every feature column's name
/// is a number, the file most likely has no header and its first sample
/// would silently become the column names.
fn refuse_numeric_header(
    path: &Path,
    header: &[String],
    target_cols: &[usize],
) -> Result<(), DataError> {
    let numeric = header
        .iter()
        .enumerate()
        .filter(|(i, _)| !target_cols.contains(i))
        .all(|(_, h)| h.parse::<f64>().is_ok());
    if numeric {
        return Err(csv_err(
            path,
            Some(1),
            format!(
                "the first row looks like data, not a header (all feature columns are numbers: {}); \
                 add a header row naming the columns",
                header.join(", ")
            ),
        ));
    }
    Ok(())
}

fn from_csv_error(path: &Path, e: &csv::Error) -> DataError {
    csv_err(path, e.position().map(|p| p.line()), e.to_string())
}

/// Index of the label column; the header must also leave at least one
/// feature column.
fn find_label_column(
    path: &Path,
    header: &[String],
    label_column: Option<&str>,
) -> Result<usize, DataError> {
    if header.iter().all(String::is_empty) {
        return Err(csv_err(
            path,
            Some(1),
            "empty file: expected a header row".into(),
        ));
    }
    if header.len() < 2 {
        return Err(csv_err(
            path,
            Some(1),
            format!(
                "expected a label column and at least one feature column, found 1 column ({})",
                header.join(", ")
            ),
        ));
    }
    let Some(name) = label_column else {
        return Ok(header.len() - 1);
    };
    let mut hits = header
        .iter()
        .enumerate()
        .filter(|(_, h)| h.as_str() == name);
    match (hits.next(), hits.next()) {
        (Some((i, _)), None) => Ok(i),
        (Some(_), Some(_)) => Err(csv_err(
            path,
            Some(1),
            format!("label column '{name}' appears more than once in the header"),
        )),
        (None, _) => Err(csv_err(
            path,
            Some(1),
            format!(
                "label column '{name}' not found; the header has: {}",
                header.join(", ")
            ),
        )),
    }
}

/// Appends one record's features and label, checking its width and tokens.
fn parse_row(
    path: &Path,
    line: u64,
    header: &[String],
    target_cols: &[usize],
    task: Task,
    record: &csv::StringRecord,
    out: &mut Parsed,
) -> Result<(), DataError> {
    if record.len() != header.len() {
        return Err(csv_err(
            path,
            Some(line),
            format!(
                "expected {} columns like the header, found {}",
                header.len(),
                record.len()
            ),
        ));
    }
    out.rows += 1;
    for &col in target_cols {
        let field = record.get(col).unwrap_or_default();
        let name = header.get(col).map_or("", String::as_str);
        match task {
            Task::Classification => out.labels.push((field.to_string(), line)),
            _ => out
                .targets
                .push(target_value(path, line, name, field, task)?),
        }
    }
    for (col, (field, name)) in record.iter().zip(header).enumerate() {
        if target_cols.contains(&col) {
            continue;
        }
        // Rust's float parser accepts "nan", "inf", "-inf", "infinity".
        let v: f64 = field.parse().map_err(|_| {
            csv_err(
                path,
                Some(line),
                format!("column '{name}': expected a number, found '{field}'"),
            )
        })?;
        out.features.push(v);
    }
    Ok(())
}

/// A regression or multilabel target; a value the task cannot use says
/// which task it would fit.
fn target_value(
    path: &Path,
    line: u64,
    name: &str,
    field: &str,
    task: Task,
) -> Result<f64, DataError> {
    let bad = |message: String| DataError::InvalidLabel {
        path: path.to_path_buf(),
        message: format!("line {line}: column '{name}': {message}"),
    };
    let Ok(v) = field.parse::<f64>() else {
        return Err(bad(format!(
            "{} targets are numbers, found '{field}'; text labels are classes: set task = \"classification\"",
            task.name()
        )));
    };
    if !v.is_finite() {
        return Err(bad(format!(
            "a target must be a finite number, found '{field}' (no loss can be computed on it)"
        )));
    }
    if task == Task::Multilabel && v != 0.0 && v != 1.0 {
        return Err(bad(format!(
            "multilabel targets are 0 or 1 per label, found '{field}'; {}",
            if v.fract() == 0.0 && v > 1.0 {
                "integer class indices: set task = \"classification\""
            } else {
                "continuous values: set task = \"regression\""
            }
        )));
    }
    Ok(v)
}

/// Train labels, test labels and (for string labels) the class names.
type Encoded = (Vec<usize>, Option<Vec<usize>>, Option<Vec<String>>);

/// Turns label strings into class indices, shared between train and test.
fn encode_labels(
    train: (&Path, &[(String, u64)]),
    test: Option<(&Path, &[(String, u64)])>,
    column: &str,
) -> Result<Encoded, DataError> {
    let all = || train.1.iter().chain(test.map_or(&[][..], |t| t.1));
    if all().all(|(s, _)| s.parse::<u64>().is_ok()) {
        let tr = numeric_labels(train.0, train.1)?;
        let te = test.map(|(p, l)| numeric_labels(p, l)).transpose()?;
        return Ok((tr, te, None));
    }
    refuse_float_labels(train.0, column, all())?;
    refuse_numeric_looking_strings(train.0, all())?;
    let names: BTreeMap<&str, usize> = all().map(|(s, _)| (s.as_str(), 0)).collect();
    if names.len() > MAX_CLASSES {
        return Err(DataError::InvalidLabel {
            path: train.0.to_path_buf(),
            message: format!(
                "{} distinct label strings; at most {MAX_CLASSES} classes are supported",
                names.len()
            ),
        });
    }
    let index: BTreeMap<&str, usize> = names.keys().enumerate().map(|(i, &s)| (s, i)).collect();
    let lookup = |l: &[(String, u64)]| -> Vec<usize> {
        l.iter()
            .map(|(s, _)| index.get(s.as_str()).copied().unwrap_or(0))
            .collect()
    };
    let tr = lookup(train.1);
    let te = test.map(|(_, l)| lookup(l));
    let class_names = index.keys().map(|s| s.to_string()).collect();
    Ok((tr, te, Some(class_names)))
}

/// Fractional numbers in the label column are continuous targets, not
/// classes: read as strings they would each become a class of their own
/// (the "786 classes" of a price column), so refuse and name the task.
fn refuse_float_labels<'a>(
    path: &Path,
    column: &str,
    labels: impl Iterator<Item = &'a (String, u64)> + Clone,
) -> Result<(), DataError> {
    let fractional = |s: &str| {
        s.parse::<f64>()
            .is_ok_and(|v| v.is_finite() && v.fract() != 0.0)
    };
    let Some((first, line)) = labels.clone().find(|(s, _)| fractional(s)) else {
        return Ok(());
    };
    let distinct: std::collections::BTreeSet<&str> = labels
        .filter(|(s, _)| s.parse::<f64>().is_ok())
        .map(|(s, _)| s.as_str())
        .collect();
    Err(DataError::InvalidLabel {
        path: path.to_path_buf(),
        message: format!(
            "column '{column}': found {} distinct float labels (first '{first}' on line {line}): \
             set task = \"regression\" for continuous targets (classes need integer or text labels)",
            distinct.len()
        ),
    })
}

/// String labels are numbered by sorting, so "1.0" beside "1", or "-1",
/// would become unrelated classes. When any label is a number but not all
/// are class indices, refuse and show both kinds.
fn refuse_numeric_looking_strings<'a>(
    path: &Path,
    mut labels: impl Iterator<Item = &'a (String, u64)> + Clone,
) -> Result<(), DataError> {
    let Some((odd, odd_line)) = labels
        .clone()
        .find(|(s, _)| s.parse::<f64>().is_ok() && s.parse::<u64>().is_err())
    else {
        return Ok(());
    };
    let other = labels
        .find(|(s, _)| s != odd)
        .map_or(String::new(), |(s, l)| format!(" beside '{s}' (line {l})"));
    Err(DataError::InvalidLabel {
        path: path.to_path_buf(),
        message: format!(
            "label '{odd}' (line {odd_line}) is a number but not a class index{other}; \
             numeric labels must be integers 0, 1, 2, ... (or use names such as 'cat')"
        ),
    })
}

/// Integer labels used directly, refusing ones too large to one-hot encode.
fn numeric_labels(path: &Path, labels: &[(String, u64)]) -> Result<Vec<usize>, DataError> {
    labels
        .iter()
        .map(|(s, line)| {
            s.parse::<usize>()
                .ok()
                .filter(|&v| v < MAX_CLASSES)
                .ok_or_else(|| DataError::InvalidLabel {
                    path: path.to_path_buf(),
                    message: format!(
                        "line {line}: label '{s}' is too large; expected an integer in 0..{MAX_CLASSES}"
                    ),
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    /// Classification columns: `label_column` or the last column.
    fn cls(label: Option<&str>) -> Columns<'_> {
        Columns {
            label,
            targets: None,
            task: Task::Classification,
        }
    }

    fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    fn err(dir: &tempfile::TempDir, text: &str, label: Option<&str>) -> String {
        let p = write(dir, "bad.csv", text);
        load_csv(&p, None, &cls(label), None)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn numeric_labels_last_column() {
        // Source of truth: the literal CSV text below.
        let dir = tempfile::tempdir().unwrap();
        let p = write(&dir, "a.csv", "x,y,label\n1,2,0\n3.5,-4e1,2\n 5 , 6 ,1\n");
        let d = load_csv(&p, None, &cls(None), None).unwrap();
        assert_eq!(d.train.features.dim(), (3, 2));
        assert_eq!(d.train.features.row(1).to_vec(), vec![3.5, -40.0]);
        assert_eq!(d.train.features.row(2).to_vec(), vec![5.0, 6.0]);
        assert_eq!(d.train.labels, vec![0, 2, 1]);
        assert_eq!(d.classes, 3);
        assert!(d.class_names.is_none());
        assert!(d.test.is_none());
        assert!(d
            .description
            .contains("(3 x 2, label column 'label'), test none"));
    }

    #[test]
    fn string_labels_sorted_and_shared_with_test() {
        let dir = tempfile::tempdir().unwrap();
        let tr = write(
            &dir,
            "tr.csv",
            "a,b,species\n1,2,virginica\n3,4,setosa\n5,6,setosa\n",
        );
        let te = write(
            &dir,
            "te.csv",
            "a,b,species\n1,1,versicolor\n2,2,virginica\n",
        );
        let d = load_csv(&tr, Some(&te), &cls(None), None).unwrap();
        // Source of truth: sorted distinct strings over train and test.
        let names = vec!["setosa", "versicolor", "virginica"];
        assert_eq!(d.class_names.as_ref().unwrap(), &names);
        assert_eq!(d.train.labels, vec![2, 0, 0]);
        assert_eq!(d.test.as_ref().unwrap().labels, vec![1, 2]);
        assert_eq!(d.classes, 3);
        assert!(d.description.ends_with("test 2"), "{}", d.description);
    }

    #[test]
    fn numeric_looking_labels_that_are_not_indices_are_refused() {
        // Issue 11: "-1" or "1.0" beside "1" would silently become unrelated
        // string classes.
        let dir = tempfile::tempdir().unwrap();
        let msg = err(&dir, "a,l\n1,-1\n2,3\n", None);
        assert!(
            msg.contains(
                "label '-1' (line 2) is a number but not a class index beside '3' (line 3)"
            ),
            "{msg}"
        );
        let msg = err(&dir, "a,l\n1,1\n2,1.0\n", None);
        assert!(msg.contains("label '1.0' (line 3)"), "{msg}");
        assert!(msg.contains("beside '1' (line 2)"), "{msg}");
        // Names that are not numbers stay string classes.
        let p = write(&dir, "m.csv", "a,l\n1,cat\n2,dog\n");
        let d = load_csv(&p, None, &cls(None), None).unwrap();
        assert_eq!(d.class_names.unwrap(), vec!["cat", "dog"]);
    }

    #[test]
    fn a_first_row_of_numbers_is_not_a_header() {
        let dir = tempfile::tempdir().unwrap();
        let msg = err(&dir, "0.5,1.5,0\n2,3,1\n", None);
        assert!(
            msg.contains("bad.csv:1: the first row looks like data"),
            "{msg}"
        );
    }

    #[test]
    fn train_limit_stops_reading() {
        // The third row is not valid CSV data: with a limit of 2 it is never parsed.
        let dir = tempfile::tempdir().unwrap();
        let p = write(&dir, "l.csv", "x,l\n1,0\n2,1\noops,9\n");
        let d = load_csv(&p, None, &cls(None), Some(2)).unwrap();
        assert_eq!(d.train.labels, vec![0, 1]);
        assert!(
            d.description.ends_with("train limited to the first 2"),
            "{}",
            d.description
        );
        assert!(load_csv(&p, None, &cls(None), None).is_err());
    }

    #[test]
    fn custom_label_column() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(&dir, "c.csv", "cls,f1,f2\n1,0.5,0.25\n0,1,2\n");
        let d = load_csv(&p, None, &cls(Some("cls")), None).unwrap();
        assert_eq!(d.train.labels, vec![1, 0]);
        assert_eq!(d.train.features.row(0).to_vec(), vec![0.5, 0.25]);
        let msg = err(&dir, "cls,f1\n1,2\n", Some("klass"));
        assert!(
            msg.contains("label column 'klass' not found; the header has: cls, f1"),
            "{msg}"
        );
        let msg = err(&dir, "c,c\n1,2\n", Some("c"));
        assert!(msg.contains("more than once"), "{msg}");
    }

    #[test]
    fn ragged_row_names_line() {
        let dir = tempfile::tempdir().unwrap();
        let msg = err(&dir, "a,b,c,d,l\n1,2,3,4,0\n1,2,3,0\n", None);
        assert!(
            msg.ends_with("bad.csv:3: expected 5 columns like the header, found 4"),
            "{msg}"
        );
    }

    #[test]
    fn bad_token_names_line_and_column() {
        let dir = tempfile::tempdir().unwrap();
        let msg = err(&dir, "a,b,l\n1,2,0\n1,abc,1\n", None);
        assert!(
            msg.ends_with("bad.csv:3: column 'b': expected a number, found 'abc'"),
            "{msg}"
        );
        let msg = err(&dir, "a,b,l\n1,,0\n", None);
        assert!(msg.contains("found ''"), "{msg}");
    }

    #[test]
    fn missing_header_or_rows() {
        let dir = tempfile::tempdir().unwrap();
        assert!(err(&dir, "", None).contains("empty file"));
        assert!(err(&dir, "a,b,l\n", None).contains("no data rows"));
        assert!(err(&dir, "label\n1\n", None).contains("at least one feature column"));
        let msg = load_csv(Path::new("/nope/x.csv"), None, &cls(None), None)
            .unwrap_err()
            .to_string();
        assert!(msg.starts_with("/nope/x.csv: cannot read"), "{msg}");
    }

    #[test]
    fn nan_and_inf_kept_and_counted() {
        // Source of truth: the 4 non-finite tokens written below.
        let dir = tempfile::tempdir().unwrap();
        let p = write(&dir, "n.csv", "a,b,l\nnan,1,0\ninf,-inf,1\n2,NaN,1\n");
        let d = load_csv(&p, None, &cls(None), None).unwrap();
        assert_eq!(d.train.count_nonfinite(), 4);
        assert!(d.train.features[[0, 0]].is_nan());
        assert_eq!(d.train.features[[1, 1]], f64::NEG_INFINITY);
    }

    #[test]
    fn test_header_must_match() {
        let dir = tempfile::tempdir().unwrap();
        let tr = write(&dir, "tr.csv", "a,b,l\n1,2,0\n");
        let te = write(&dir, "te.csv", "a,l\n1,0\n");
        let msg = load_csv(&tr, Some(&te), &cls(None), None)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("2 features per sample but test data"), "{msg}");
        let te = write(&dir, "te2.csv", "a,c,l\n1,2,0\n");
        let msg = load_csv(&tr, Some(&te), &cls(None), None)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("te2.csv:1: header differs"), "{msg}");
    }

    #[test]
    fn huge_numeric_label_is_invalid() {
        let dir = tempfile::tempdir().unwrap();
        let msg = err(&dir, "a,l\n1,0\n2,99999999999\n", None);
        assert!(
            msg.contains("line 3: label '99999999999' is too large"),
            "{msg}"
        );
    }
}

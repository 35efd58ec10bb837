//! The config as written: typed views over the parsed TOML tree in which every
//! table and value keeps its dotted key path and byte span. All "wrong type",
//! "unknown key" and "missing key" errors are produced here, so their wording
//! and positions are uniform; `validate` only decides what the values mean.
//!
//! This reads toml's span-preserving `DeTable` directly instead of deriving
//! serde structs: serde stops at the first mismatch with a message meant for
//! programmers ("invalid type: floating point `2.5`, expected usize") and no
//! key path, whereas these views give the key, its line and what was expected.

use super::locate::Span;
use super::ConfigError;
use std::path::Path;
use toml::de::{DeTable, DeValue};
use toml::Spanned;

/// The file being validated: what every error needs to locate itself.
#[derive(Clone, Copy)]
pub(crate) struct Source<'s> {
    pub file: &'s Path,
    pub text: &'s str,
}

impl Source<'_> {
    /// An error at `span` (or at no line) about `key`.
    pub fn error(
        &self,
        span: Option<Span>,
        key: Option<String>,
        message: impl Into<String>,
    ) -> ConfigError {
        ConfigError::new(self.file, self.text, span, key, message)
    }
}

/// One table of the config (the root, `[train]`, a `[[model.layers]]` entry).
pub(crate) struct Table<'a, 'i> {
    src: Source<'a>,
    /// Dotted path: "" for the root, "train", "model.layers[2]".
    path: String,
    /// Where the table is declared (its header); `None` for the root.
    span: Option<Span>,
    entries: &'a DeTable<'i>,
}

impl<'a, 'i> Table<'a, 'i> {
    /// The document root.
    pub fn root(src: Source<'a>, entries: &'a DeTable<'i>) -> Self {
        Table {
            src,
            path: String::new(),
            span: None,
            entries,
        }
    }

    /// The dotted path of `key` inside this table.
    pub fn key_path(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    /// How messages name this table: `[train]`, or `model.layers[2]` for an
    /// entry of an array of tables.
    fn label(&self) -> String {
        if self.path.ends_with(']') {
            self.path.clone()
        } else {
            format!("[{}]", self.path)
        }
    }

    /// The value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<Value<'a, 'i>> {
        let (name, node) = self.entries.get_key_value(key)?;
        Some(Value {
            src: self.src,
            key: self.key_path(key),
            key_span: name.span(),
            node,
        })
    }

    /// Reads `key` with `read` if it is present.
    pub fn opt<T>(
        &self,
        key: &str,
        read: impl FnOnce(&Value<'a, 'i>) -> Result<T, ConfigError>,
    ) -> Result<Option<T>, ConfigError> {
        self.get(key).as_ref().map(read).transpose()
    }

    /// Reads `key` with `read`; its absence is an error at this table's header.
    pub fn req<T>(
        &self,
        key: &str,
        read: impl FnOnce(&Value<'a, 'i>) -> Result<T, ConfigError>,
    ) -> Result<T, ConfigError> {
        match self.get(key) {
            Some(value) => read(&value),
            None => Err(self.missing_key(key)),
        }
    }

    /// "missing required key", pointing at this table's header.
    pub fn missing_key(&self, key: &str) -> ConfigError {
        self.error_here(format!("missing required key `{key}`"))
    }

    /// An error about the table as a whole, at its header.
    pub fn error_here(&self, message: impl Into<String>) -> ConfigError {
        let key = (!self.path.is_empty()).then(|| self.label());
        self.src.error(self.span.clone(), key, message)
    }

    /// Rejects every key not in `allowed`, reporting the first one in the
    /// file (not in alphabetical order, which is how the map stores them).
    pub fn deny_unknown(&self, allowed: &[&str]) -> Result<(), ConfigError> {
        let unknown = self
            .entries
            .keys()
            .filter(|key| !allowed.contains(&key.get_ref().as_ref()))
            .min_by_key(|key| key.span().start);
        match unknown.and_then(|key| Some((key, self.get(key.get_ref())?))) {
            Some((key, value)) => Err(value.key_error(super::suggest::unknown(
                "unknown key",
                key.get_ref(),
                allowed,
                &format!(": {}", allowed.join(", ")),
            ))),
            None => Ok(()),
        }
    }

    /// The sub-table `key`, if present.
    pub fn table(&self, key: &str) -> Result<Option<Table<'a, 'i>>, ConfigError> {
        self.opt(key, Value::table)
    }

    /// The sub-table `key`; on the root its absence has no line to point at.
    pub fn required_table(&self, key: &str) -> Result<Table<'a, 'i>, ConfigError> {
        match self.table(key)? {
            Some(table) => Ok(table),
            None if self.path.is_empty() => {
                Err(self
                    .src
                    .error(None, None, format!("missing required table [{key}]")))
            }
            None => {
                Err(self.error_here(format!("missing required table [{}]", self.key_path(key))))
            }
        }
    }
}

/// One key's value with its path and spans.
pub(crate) struct Value<'a, 'i> {
    src: Source<'a>,
    /// Full dotted path, e.g. "train.batch_size".
    key: String,
    key_span: Span,
    node: &'a Spanned<DeValue<'i>>,
}

impl<'a, 'i> Value<'a, 'i> {
    /// An error about the value (wrong type, out of range): points at it.
    pub fn error(&self, message: impl Into<String>) -> ConfigError {
        self.src
            .error(Some(self.node.span()), Some(self.key.clone()), message)
    }

    /// An error about the key being there at all: points at the start of
    /// the line that declares it (`key = ...` or its `[header]`).
    pub fn key_error(&self, message: impl Into<String>) -> ConfigError {
        let start = self.key_start();
        self.src
            .error(Some(start..start), Some(self.key.clone()), message)
    }

    /// Where the declaration starts: a `[table]` header comes before its key.
    pub fn key_start(&self) -> usize {
        self.key_span.start.min(self.node.span().start)
    }

    /// The value as written in the file, for "found ..." in messages.
    pub fn literal(&self) -> String {
        match self.node.get_ref() {
            DeValue::Integer(_) | DeValue::Float(_) => self
                .src
                .text
                .get(self.node.span())
                .map_or_else(|| self.describe(), str::to_string),
            _ => self.describe(),
        }
    }

    /// The value's type and contents, for "expected X, found Y".
    pub fn describe(&self) -> String {
        let literal = |fallback: &str| {
            self.src
                .text
                .get(self.node.span())
                .unwrap_or(fallback)
                .to_string()
        };
        match self.node.get_ref() {
            DeValue::String(s) => format!("string {s:?}"),
            DeValue::Integer(i) => format!("integer {}", literal(i.as_str())),
            DeValue::Float(f) => format!("float {}", literal(f.as_str())),
            DeValue::Boolean(b) => format!("boolean {b}"),
            DeValue::Datetime(d) => format!("datetime {d}"),
            DeValue::Array(_) => "an array".to_string(),
            DeValue::Table(_) => "a table".to_string(),
        }
    }

    /// "expected X, found Y" at the value.
    fn expected(&self, what: &str) -> ConfigError {
        self.error(format!("expected {what}, found {}", self.describe()))
    }

    /// A string.
    pub fn string(&self) -> Result<&'a str, ConfigError> {
        match self.node.get_ref() {
            DeValue::String(s) => Ok(s.as_ref()),
            _ => Err(self.expected("a string")),
        }
    }

    /// A string with at least one non-blank character.
    pub fn non_empty_string(&self) -> Result<&'a str, ConfigError> {
        let s = self.string()?;
        if s.trim().is_empty() {
            return Err(self.error("must not be empty"));
        }
        Ok(s)
    }

    /// One of a fixed set of names.
    pub fn choice<T: Copy>(&self, choices: &[(&str, T)]) -> Result<T, ConfigError> {
        let names = choices
            .iter()
            .map(|(name, _)| format!("\"{name}\""))
            .collect::<Vec<_>>()
            .join(", ");
        let DeValue::String(s) = self.node.get_ref() else {
            return Err(self.expected(&format!("one of {names}")));
        };
        choices
            .iter()
            .find(|(name, _)| *name == s.as_ref())
            .map(|&(_, value)| value)
            .ok_or_else(|| {
                let all: Vec<&str> = choices.iter().map(|(name, _)| *name).collect();
                self.error(super::suggest::unknown(
                    &format!("unknown value {s:?}"),
                    s,
                    &all,
                    &format!(" {names}"),
                ))
            })
    }

    /// The elements of an array, each addressable like a key (`at[2]`,
    /// 1-based like layers) so its errors point at the element.
    pub fn items(&self) -> Result<Vec<Value<'a, 'i>>, ConfigError> {
        let DeValue::Array(items) = self.node.get_ref() else {
            return Err(self.expected("an array"));
        };
        Ok(items
            .iter()
            .enumerate()
            .map(|(i, node)| Value {
                src: self.src,
                key: format!("{}[{}]", self.key, i + 1),
                key_span: self.key_span.clone(),
                node,
            })
            .collect())
    }

    /// Whether the value is a string (for keys that take a name or a number).
    pub fn is_string(&self) -> bool {
        matches!(self.node.get_ref(), DeValue::String(_))
    }

    /// The value as an integer; `Ok(None)` if it is not an integer at all.
    fn parsed_integer(&self) -> Result<Option<i128>, ConfigError> {
        let DeValue::Integer(int) = self.node.get_ref() else {
            return Ok(None);
        };
        let radix = int.radix();
        (2..=36)
            .contains(&radix)
            .then(|| i128::from_str_radix(int.as_str(), radix).ok())
            .flatten()
            .map(Some)
            .ok_or_else(|| self.error(format!("integer out of range: {}", self.literal())))
    }

    /// An integer (not a float) of at least `min`.
    pub fn integer(&self, min: u64) -> Result<u64, ConfigError> {
        let Some(parsed) = self.parsed_integer()? else {
            return Err(self.expected(&format!("an integer >= {min}")));
        };
        match u64::try_from(parsed) {
            Ok(n) if n >= min => Ok(n),
            _ if parsed > i128::from(u64::MAX) => Err(self.error(format!(
                "too large: {} (at most {})",
                self.literal(),
                u64::MAX
            ))),
            _ => Err(self.error(format!("must be at least {min}, found {}", self.literal()))),
        }
    }

    /// A count in `min..=max`: sizes that allocate or loop that many times
    /// get a cap, so a typo cannot ask for 10^19 of anything.
    pub fn count_in(&self, min: usize, max: usize) -> Result<usize, ConfigError> {
        let n = self.count(min)?;
        if n > max {
            return Err(self.error(format!("too large: {} (at most {max})", self.literal())));
        }
        Ok(n)
    }

    /// A count (sizes, steps) of at least `min`.
    pub fn count(&self, min: usize) -> Result<usize, ConfigError> {
        let n = self.integer(min as u64)?;
        usize::try_from(n).map_err(|_| self.error(format!("too large: {}", self.literal())))
    }

    /// A number: integers are accepted where floats are expected.
    pub fn number(&self) -> Result<f64, ConfigError> {
        if let DeValue::Float(f) = self.node.get_ref() {
            return f
                .as_str()
                .parse::<f64>()
                .map_err(|_| self.error(format!("not a valid number: {}", self.literal())));
        }
        match self.parsed_integer()? {
            Some(n) => Ok(n as f64),
            None => Err(self.expected("a number")),
        }
    }

    /// A finite number.
    pub fn finite(&self) -> Result<f64, ConfigError> {
        self.number_where(f64::is_finite, "a finite number")
    }

    /// A finite number > 0.
    pub fn positive(&self) -> Result<f64, ConfigError> {
        self.number_where(|x| x.is_finite() && x > 0.0, "a positive finite number")
    }

    /// A finite number >= 0.
    pub fn non_negative(&self) -> Result<f64, ConfigError> {
        self.number_where(|x| x.is_finite() && x >= 0.0, "a finite number >= 0")
    }

    /// A number in [0, 1) (decay rates, held-out fractions).
    pub fn fraction(&self) -> Result<f64, ConfigError> {
        self.number_where(|x| (0.0..1.0).contains(&x), "a number in [0, 1)")
    }

    /// A number satisfying `ok`, else "must be {what}, found ...".
    fn number_where(&self, ok: impl Fn(f64) -> bool, what: &str) -> Result<f64, ConfigError> {
        let x = self.number()?;
        if ok(x) {
            Ok(x)
        } else {
            Err(self.error(format!("must be {what}, found {}", self.literal())))
        }
    }

    /// A sub-table.
    pub fn table(&self) -> Result<Table<'a, 'i>, ConfigError> {
        match self.node.get_ref() {
            DeValue::Table(entries) => Ok(Table {
                src: self.src,
                path: self.key.clone(),
                span: Some(self.node.span()),
                entries,
            }),
            _ => Err(self.expected(&format!("a table [{}]", self.key))),
        }
    }

    /// An array of tables (`[[key]]` entries or an inline array of inline
    /// tables), each named `key[i]` with 1-based `i`.
    pub fn tables(&self) -> Result<Vec<Table<'a, 'i>>, ConfigError> {
        let DeValue::Array(items) = self.node.get_ref() else {
            return Err(self.expected(&format!("an array of tables [[{}]]", self.key)));
        };
        items
            .iter()
            .enumerate()
            .map(|(i, item)| self.element_table(i, item))
            .collect()
    }

    /// The `i`-th (0-based) element of an array of tables.
    fn element_table(
        &self,
        i: usize,
        item: &'a Spanned<DeValue<'i>>,
    ) -> Result<Table<'a, 'i>, ConfigError> {
        let path = format!("{}[{}]", self.key, i + 1);
        match item.get_ref() {
            DeValue::Table(entries) => Ok(Table {
                src: self.src,
                path,
                span: Some(item.span()),
                entries,
            }),
            _ => Err(self.src.error(
                Some(item.span()),
                Some(path),
                format!("expected a table, found {}", describe_node(item.get_ref())),
            )),
        }
    }
}

/// Short description of a non-table array element.
fn describe_node(value: &DeValue<'_>) -> &'static str {
    match value {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a datetime",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}

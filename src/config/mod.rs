//! The run configuration: reading the TOML file, validating every key, and
//! reporting each problem with its file, line, column and key so that users
//! can fix configs without guessing. `types` holds the validated result,
//! `starter` the commented template written by `nn-doctor init`.

pub mod locate;
mod raw;
pub mod starter;
mod suggest;
/// The diagnosis thresholds a `[thresholds]` table overrides (read by `diagnose`).
pub mod thresholds;
pub mod types;
mod validate;

#[cfg(test)]
mod tests;

pub use types::*;

use locate::{Span, Target};
use std::fmt;
use std::path::{Path, PathBuf};

/// Reads and validates a config file.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let bytes = crate::input::read_bounded(path, crate::input::MAX_TEXT_FILE)
        .map_err(|err| ConfigError::io(path, &err))?;
    let text = String::from_utf8(bytes).map_err(|_| {
        ConfigError::io(
            path,
            &std::io::Error::new(std::io::ErrorKind::InvalidData, "not UTF-8 text"),
        )
    })?;
    parse(path, &text)
}

/// The same from text already in memory (path is used for messages and to
/// resolve relative data paths).
pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
    validate::config(path, text)
}

impl Config {
    /// An error pointing at `key` (dotted path such as "train.batch_size" or
    /// "model.layers[2].units", 1-based layer index) in this config's source,
    /// for checks that can only run later (e.g. batch size vs. number of
    /// samples once data is loaded). Line is None if the key isn't in the
    /// file (then point at its table header if that exists).
    pub fn error_at(&self, key: &str, message: impl Into<String>) -> ConfigError {
        let span = match locate::locate(&self.source, key) {
            Target::Value(span) | Target::Parent(span) => Some(span),
            Target::Nowhere => None,
        };
        ConfigError::new(
            &self.path,
            &self.source,
            span,
            Some(key.to_string()),
            message,
        )
    }
}

/// A problem with a config file, located as precisely as the file allows.
#[derive(Debug, thiserror::Error)]
#[error("{}", self.render())]
pub struct ConfigError {
    pub file: PathBuf,
    /// 1-based; `None` when the problem has no place in the file (missing
    /// file, missing table).
    pub line: Option<usize>,
    /// 1-based, in characters.
    pub column: Option<usize>,
    /// Dotted key path (`train.batch_size`), or a table (`[train]`).
    pub key: Option<String>,
    pub message: String,
}

impl ConfigError {
    /// An error at byte span `span` of `text` (the file's contents).
    pub(crate) fn new(
        file: &Path,
        text: &str,
        span: Option<Span>,
        key: Option<String>,
        message: impl Into<String>,
    ) -> Self {
        let position = span.map(|span| locate::line_col(text, span.start));
        ConfigError {
            file: file.to_path_buf(),
            line: position.map(|(line, _)| line),
            column: position.map(|(_, column)| column),
            key,
            message: message.into(),
        }
    }

    /// The file could not be read at all.
    fn io(file: &Path, err: &std::io::Error) -> Self {
        ConfigError {
            file: file.to_path_buf(),
            line: None,
            column: None,
            key: None,
            message: format!("cannot read config file: {err}"),
        }
    }

    /// "{file}:{line}:{column}: `{key}`: {message}", dropping absent parts.
    fn render(&self) -> Rendered<'_> {
        Rendered(self)
    }
}

/// Display helper for `ConfigError`, so the optional parts are dropped
/// without allocating.
struct Rendered<'a>(&'a ConfigError);

impl fmt::Display for Rendered<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let err = self.0;
        write!(f, "{}", err.file.display())?;
        if let Some(line) = err.line {
            write!(f, ":{line}")?;
            if let Some(column) = err.column {
                write!(f, ":{column}")?;
            }
        }
        if let Some(key) = &err.key {
            write!(f, ": `{key}`")?;
        }
        write!(f, ": {}", err.message)
    }
}

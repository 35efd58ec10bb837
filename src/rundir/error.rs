//! Why a run directory could not be read: always the file, and the line and
//! column (or JSON key) where it went wrong, so a trainer's author can fix
//! their writer. Every one of these is exit code 2.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum RunDirError {
    #[error("{path}: cannot read: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// summary.json is not valid JSON or does not match the run format.
    #[error("{path}:{line}:{column}: {message}")]
    Json {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    /// A CSV file is malformed: `line` is 1-based and counts the header.
    #[error("{path}:{line}: column `{column}`: {message}")]
    Csv {
        path: PathBuf,
        line: usize,
        column: String,
        message: String,
    },
    /// Something the format requires is missing or inconsistent.
    #[error("{path}: {message}")]
    Format { path: PathBuf, message: String },
}

impl RunDirError {
    pub(crate) fn json(path: &std::path::Path, e: &serde_json::Error) -> Self {
        // serde_json's message already ends with "at line L column C".
        let message = e.to_string();
        let message = message
            .rsplit_once(" at line ")
            .map_or(message.clone(), |(m, _)| m.to_string());
        RunDirError::Json {
            path: path.to_path_buf(),
            line: e.line(),
            column: e.column(),
            message,
        }
    }

    pub(crate) fn format(path: &std::path::Path, message: impl Into<String>) -> Self {
        RunDirError::Format {
            path: path.to_path_buf(),
            message: message.into(),
        }
    }
}

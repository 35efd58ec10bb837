//! The one error type of `verify-trace`: a trace that cannot be read or does
//! not describe one consistent step (exit 2). Every message starts with the
//! file it is about, so a user knows which array their exporter got wrong.

use std::path::{Path, PathBuf};

/// Why a trace could not be verified at all (as opposed to a finding).
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    /// A file is missing, unreadable, malformed or inconsistent.
    #[error("{}: {message}", path.display())]
    File { path: PathBuf, message: String },
    /// Finite differences disagree with our own recomputed gradients: the
    /// verdict would rest on our backprop alone, so none is given.
    #[error("{}: reference could not be confirmed: {message}", dir.display())]
    Unconfirmed { dir: PathBuf, message: String },
}

impl TraceError {
    /// A problem with the file at `path`.
    pub fn file(path: &Path, message: impl Into<String>) -> Self {
        TraceError::File {
            path: path.to_path_buf(),
            message: message.into(),
        }
    }
}

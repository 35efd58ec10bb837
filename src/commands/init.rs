//! `nn-doctor init [PATH]`: writes a commented starter config whose run is
//! named after the file, refusing to overwrite one without `--force`.

use crate::config::starter::starter_for;
use crate::report::write::write_atomic;
use std::path::Path;

/// Why no starter config was written.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("{0}: already exists; not overwriting it (use --force)")]
    Exists(String),
    #[error("{path}: cannot write: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
}

/// Writes the starter config; returns the line to print.
pub fn run(path: &Path, force: bool) -> Result<String, InitError> {
    let shown = path.display().to_string();
    if path.exists() && !force {
        return Err(InitError::Exists(shown));
    }
    write_atomic(path, starter_for(path).as_bytes()).map_err(|source| InitError::Write {
        path: shown.clone(),
        source,
    })?;
    Ok(format!("wrote {shown}; run: nn-doctor check {shown}\n"))
}

//! The one rule for a name that becomes a directory: `reports/<name>`. A
//! run's name comes from places nn-doctor does not control — a config's
//! `name` or file stem, a run directory's summary.json, a recorder's
//! argument — so it is accepted only as a single, ordinary path component;
//! anything else is refused, never cleaned up into something else.

use std::path::{Path, PathBuf};

/// The longest name accepted, in bytes.
pub const MAX_NAME_BYTES: usize = 200;

/// Where reports go when no `--out` is given.
pub const REPORTS_DIR: &str = "reports";

/// Why a name cannot be a directory name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{name:?} is not a safe report name ({why}); a name is one label of printable characters, not `.`, `..` or a path, at most {MAX_NAME_BYTES} bytes")]
pub struct UnsafeName {
    pub name: String,
    pub why: &'static str,
}

/// Checks that `name` is one path component of printable characters other
/// than `.` and `..`, not hidden (a leading `.` would hide the report and
/// could collide with nn-doctor's own `.nn-doctor-*` entries).
pub fn check(name: &str) -> Result<&str, UnsafeName> {
    let why = if name.is_empty() {
        Some("empty")
    } else if name.len() > MAX_NAME_BYTES {
        Some("too long")
    } else if name == "." || name == ".." {
        Some("a relative path")
    } else if name.starts_with('.') {
        Some("starts with '.'")
    } else if name.contains('/') || name.contains('\\') {
        Some("contains a path separator")
    } else if name.chars().any(|c| c.is_control() || is_invisible(c)) {
        Some("contains a control or invisible character")
    } else if name.trim() != name {
        Some("leading or trailing white space")
    } else {
        None
    };
    match why {
        None => Ok(name),
        Some(why) => Err(UnsafeName {
            name: name.chars().take(80).collect(),
            why,
        }),
    }
}

/// Characters that print as nothing or reorder text (bidirectional
/// controls, zero-width joiners): a name holding them can pose as another.
fn is_invisible(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}')
}

/// `reports/<name>` for a safe name.
pub fn default_report_dir(name: &str) -> Result<PathBuf, UnsafeName> {
    Ok(Path::new(REPORTS_DIR).join(check(name)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_labels_pass() {
        for ok in ["seed", "my run 2", "résumé-net_v1.5", "a..b", "x.toml"] {
            assert_eq!(check(ok), Ok(ok), "{ok}");
        }
        assert_eq!(
            default_report_dir("seed").unwrap(),
            Path::new("reports/seed")
        );
    }

    #[test]
    fn paths_and_hidden_or_invisible_names_are_refused() {
        let long = "x".repeat(MAX_NAME_BYTES + 1);
        for bad in [
            "",
            ".",
            "..",
            ".hidden",
            "../../x",
            "/abs",
            "a/b",
            "a\\b",
            "a\0b",
            "a\nb",
            "\u{202E}gnp.exe",
            " padded",
            long.as_str(),
        ] {
            let e = check(bad).unwrap_err();
            assert!(e.to_string().contains("not a safe report name"), "{bad:?}");
        }
        assert_eq!(check("..").unwrap_err().why, "a relative path");
    }
}

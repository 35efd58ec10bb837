//! Safe writing of a report directory. A run:
//!
//! 1. [`ReportDir::open`] creates the directory, takes an exclusive lock on
//!    `.nn-doctor.lock` inside it for the whole run (a second run into the
//!    same directory fails at once) and creates a private staging directory
//!    — all before any data is loaded, so an unwritable `--out` costs nothing.
//! 2. The reporters write every file into the staging directory, which this
//!    run created itself, so no path in it can be a planted symlink.
//! 3. [`ReportDir::commit`] renames each file into place (a rename replaces
//!    a symlink at the destination instead of writing through it), removes
//!    the files the previous report listed that this one does not, and
//!    renames summary.json last: a summary.json beside the files means the
//!    report is complete and `files` lists exactly what belongs to it.

use super::ReportError;
use crate::config::{Config, ConfigError};
use crate::data::spec::DataSpec;
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

/// The lock file's name (kept after the run; deleting a lock file races).
pub const LOCK_FILE: &str = ".nn-doctor.lock";
/// Where a run stages its files before renaming them into place.
const STAGING_DIR: &str = ".nn-doctor-staging";
/// The marker written last.
pub const SUMMARY: &str = "summary.json";
/// Every name a report may own. Removal of a previous run's files is
/// limited to these, whatever its summary.json says.
pub fn is_owned(name: &str) -> bool {
    super::REPORT_FILES.contains(&name)
        || matches!(
            name,
            super::CONFUSION_FILE | super::BATCH_NORM_FILE | "gradcheck.csv" | "fixes"
        )
}

/// Every entry of a report directory that a run may replace or remove: the
/// owned names, the staging directory and the lock file.
fn touched_names() -> impl Iterator<Item = &'static str> {
    super::REPORT_FILES.iter().copied().chain([
        super::CONFUSION_FILE,
        super::BATCH_NORM_FILE,
        "gradcheck.csv",
        "fixes",
        STAGING_DIR,
        LOCK_FILE,
    ])
}

/// A locked report directory with its staging area; dropping it removes the
/// staging directory and releases the lock.
#[derive(Debug)]
pub struct ReportDir {
    dir: PathBuf,
    staging: PathBuf,
    _lock: File,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ReportError + '_ {
    move |source| ReportError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl ReportDir {
    /// Creates `dir` if needed, locks it and prepares the staging area.
    pub fn open(dir: &Path) -> Result<Self, ReportError> {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let lock_path = dir.join(LOCK_FILE);
        let lock = open_no_follow(&lock_path).map_err(io(&lock_path))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(ReportError::Locked {
                    dir: dir.to_path_buf(),
                })
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io(&lock_path)(e)),
        }
        let staging = dir.join(STAGING_DIR);
        // We hold the lock, so a staging directory left here is a crashed
        // run's; remove it (never following a symlink) and start afresh.
        remove_entry(&staging).map_err(io(&staging))?;
        std::fs::create_dir(&staging).map_err(io(&staging))?;
        Ok(ReportDir {
            dir: dir.to_path_buf(),
            staging,
            _lock: lock,
        })
    }

    /// The report directory.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Where reporters write this run's files.
    pub fn staging(&self) -> &Path {
        &self.staging
    }

    /// Moves the staged `files` into place, summary.json last, after
    /// removing what the previous report listed and this one does not.
    /// Names in `files` that were not staged (e.g. `fixes`, written in
    /// place by `--try-fixes`) are kept, not moved.
    pub fn commit(&self, files: &[String]) -> Result<(), ReportError> {
        let summary = self.dir.join(SUMMARY);
        let previous = previous_files(&summary);
        // First withdraw the old marker: from here until the new one is in
        // place the directory holds no summary.json claiming completeness.
        remove_entry(&summary).map_err(io(&summary))?;
        for name in previous.iter().filter(|n| !files.contains(n)) {
            let path = self.dir.join(name);
            remove_entry(&path).map_err(io(&path))?;
        }
        for name in files.iter().filter(|n| n.as_str() != SUMMARY) {
            let from = self.staging.join(name);
            if std::fs::symlink_metadata(&from).is_ok() {
                let to = self.dir.join(name);
                std::fs::rename(&from, &to).map_err(io(&to))?;
            }
        }
        let from = self.staging.join(SUMMARY);
        std::fs::rename(&from, &summary).map_err(io(&summary))?;
        sync_dir(&self.dir);
        Ok(())
    }
}

impl ReportDir {
    /// Replaces the owned subdirectory `name` (`fixes`) with a new, empty
    /// one and returns its path. Whatever stood there (a previous run's
    /// candidates, a planted symlink) is removed without being followed, so
    /// everything written below it afterwards stays inside this directory.
    pub fn fresh_subdir(&self, name: &str) -> Result<PathBuf, ReportError> {
        debug_assert!(is_owned(name));
        let path = self.dir.join(name);
        remove_entry(&path).map_err(io(&path))?;
        std::fs::create_dir(&path).map_err(io(&path))?;
        Ok(path)
    }

    /// Moves one staged file into place on its own (commands that write a
    /// single file, such as `gradcheck`, and leave the report's summary.json
    /// alone).
    pub fn commit_file(&self, name: &str) -> Result<PathBuf, ReportError> {
        let to = self.dir.join(name);
        std::fs::rename(self.staging.join(name), &to).map_err(io(&to))?;
        sync_dir(&self.dir);
        Ok(to)
    }
}

/// Writes one file the user named on the command line (`--junit FILE`,
/// `init FILE`) the way report files are written: into a temporary file in
/// the same directory, then renamed into place. A crash never leaves half a
/// file, and a symlink at `path` is replaced instead of written through.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a file name"))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".{}.tmp", std::process::id()));
    let tmp = dir.join(tmp_name);
    let written = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .and_then(|mut f| f.write_all(bytes).and_then(|()| f.sync_all()))
        .and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

impl Drop for ReportDir {
    fn drop(&mut self) {
        let _ = remove_entry(&self.staging);
    }
}

/// Opens (creating) a file without following a symlink at `path`.
fn open_no_follow(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
}

/// The report names a previous summary.json listed, limited to names a
/// report owns: a doctored `files` list cannot make us delete anything else.
fn previous_files(summary: &Path) -> Vec<String> {
    let Ok(meta) = std::fs::symlink_metadata(summary) else {
        return Vec::new();
    };
    if !meta.is_file() || meta.len() > 64 << 20 {
        return Vec::new();
    }
    let Ok(bytes) = crate::input::read_bounded(summary, 64 << 20) else {
        return Vec::new();
    };
    let Ok(text) = String::from_utf8(bytes) else {
        return Vec::new();
    };
    let Ok(json) = serde_json::from_str::<serde_json::Value>(&text) else {
        return Vec::new();
    };
    json.get("files")
        .and_then(|f| f.as_array())
        .map(|names| {
            names
                .iter()
                .filter_map(|n| n.as_str())
                .filter(|n| is_owned(n))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// Removes a file, a symlink (not its target) or a directory tree; a
/// missing entry is fine.
fn remove_entry(path: &Path) -> std::io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
    }
}

/// Makes the renames durable where the platform allows (best effort: a
/// failure here loses nothing that is not already on disk).
fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Refuses a report directory that directly holds one of the run's inputs:
/// a report file could overwrite it (`train = "loss.csv"` with `--out .`)
/// and removing a previous report's files could delete it.
pub fn refuse_inputs_inside(cfg: &Config, dir: &Path) -> Result<(), ConfigError> {
    let mut inputs: Vec<(&str, &Path)> = vec![("config", cfg.path.as_path())];
    match &cfg.data.spec {
        DataSpec::Idx {
            train_images,
            train_labels,
            test_images,
            test_labels,
        } => {
            inputs.push(("data.train_images", train_images));
            inputs.push(("data.train_labels", train_labels));
            inputs.extend(test_images.as_deref().map(|p| ("data.test_images", p)));
            inputs.extend(test_labels.as_deref().map(|p| ("data.test_labels", p)));
        }
        DataSpec::Csv { train, test, .. } => {
            inputs.push(("data.train", train));
            inputs.extend(test.as_deref().map(|p| ("data.test", p)));
        }
        DataSpec::Synthetic { .. } => {}
    }
    for (key, path) in inputs {
        if holds(dir, path) {
            let message = format!(
                "the report directory {} contains this input ({}); report files could overwrite it: choose another --out or [report] dir",
                dir.display(),
                path.display()
            );
            return Err(if key == "config" {
                ConfigError::new(&cfg.path, &cfg.source, None, None, message)
            } else {
                cfg.error_at(key, message)
            });
        }
    }
    Ok(())
}

/// Whether report directory `dir` holds `input` where a report writes or
/// removes files: `dir` itself, an entry a report owns (its files, `fixes/`
/// and everything below it, the staging directory, the lock), or any file
/// directly in `dir` (paths made absolute and resolved where they exist).
/// Inputs in other subdirectories are safe: a report never touches them.
pub fn holds(dir: &Path, input: &Path) -> bool {
    let (Ok(i), Ok(d)) = (std::fs::canonicalize(input), resolve(dir)) else {
        return false;
    };
    i == d
        || (!i.is_dir() && i.parent() == Some(d.as_path()))
        || touched_names().any(|n| i.starts_with(d.join(n)))
}

/// Refuses a report directory that holds (see [`holds`]) the run directory
/// a command reads, or any of its files (which may be symlinks into `dir`):
/// `diagnose RUN/fixes/X --out RUN` would otherwise remove the run it reads.
pub fn refuse_run_inside(dir: &Path, run: &Path) -> Result<(), ReportError> {
    let files = ["summary.json", "metrics.csv", "loss.csv"].map(|f| run.join(f));
    let inside = std::iter::once(run)
        .chain(files.iter().map(PathBuf::as_path))
        .find(|p| holds(dir, p));
    match inside {
        None => Ok(()),
        Some(input) => Err(ReportError::InputInside {
            dir: dir.to_path_buf(),
            input: input.to_path_buf(),
        }),
    }
}

/// Canonical form of a path that may not exist yet: resolved component by
/// component, symlinks followed where they exist, `..` applied as the
/// kernel would.
fn resolve(path: &Path) -> std::io::Result<PathBuf> {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in std::path::absolute(path)?.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => {
                out.push(other);
                if let Ok(real) = std::fs::canonicalize(&out) {
                    out = real;
                }
            }
        }
    }
    Ok(out)
}

/// The config file's canonical path (absolute, symlinks resolved), as
/// summary.json's `config_path` records it; None if it cannot be resolved.
pub fn canonical_config(path: &Path) -> Option<String> {
    std::fs::canonicalize(path)
        .ok()
        .map(|p| p.display().to_string())
}

/// Refuses to write `config`'s report into `dir` when `dir` already holds a
/// report made from a different config file (two configs with the same
/// `name` share reports/<name>). A report of the same config is replaced as
/// usual; so is one that records no `config_path` (written before it was
/// recorded: which config made it cannot be told) or no readable summary.
pub fn refuse_other_config(dir: &Path, config: &Path, name: &str) -> Result<(), ReportError> {
    let Ok(text) = std::fs::read_to_string(dir.join("summary.json")) else {
        return Ok(());
    };
    let existing = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v.get("config_path")?.as_str().map(str::to_string));
    let (Some(existing), Some(this)) = (existing, canonical_config(config)) else {
        return Ok(());
    };
    if existing == this {
        return Ok(());
    }
    Err(ReportError::OtherConfig {
        dir: dir.to_path_buf(),
        name: name.to_string(),
        existing,
        this: config.to_path_buf(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_atomic_replaces_a_symlink_instead_of_writing_through_it() {
        let d = tempfile::tempdir().unwrap();
        let target = d.path().join("precious.txt");
        std::fs::write(&target, "precious").unwrap();
        let link = d.path().join("out.xml");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        write_atomic(&link, b"<new/>").unwrap();
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "precious");
        assert_eq!(std::fs::read_to_string(&link).unwrap(), "<new/>");
        assert!(!std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        let left: Vec<_> = std::fs::read_dir(d.path()).unwrap().collect();
        assert_eq!(left.len(), 2, "no temporary file left behind");
    }

    fn stage(d: &ReportDir, name: &str, text: &str) {
        std::fs::write(d.staging().join(name), text).unwrap();
    }

    #[test]
    fn commit_replaces_a_symlink_instead_of_writing_through_it() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out");
        std::fs::create_dir(&out).unwrap();
        let target = tmp.path().join("elsewhere.txt");
        std::fs::write(&target, "precious").unwrap();
        std::os::unix::fs::symlink(&target, out.join("summary.json")).unwrap();
        let d = ReportDir::open(&out).unwrap();
        stage(&d, "summary.json", "{}");
        d.commit(&["summary.json".into()]).unwrap();
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "precious");
        assert_eq!(
            std::fs::read_to_string(out.join("summary.json")).unwrap(),
            "{}"
        );
    }

    #[test]
    fn a_second_lock_on_the_same_directory_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let first = ReportDir::open(tmp.path()).unwrap();
        let err = ReportDir::open(tmp.path()).unwrap_err();
        assert!(matches!(err, ReportError::Locked { .. }), "{err}");
        drop(first);
        assert!(ReportDir::open(tmp.path()).is_ok());
    }

    #[test]
    fn stale_files_of_the_previous_report_go_and_nothing_else() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path();
        std::fs::write(
            out.join("summary.json"),
            r#"{"files": ["summary.json", "gradcheck.csv", "notes.txt", "../x"]}"#,
        )
        .unwrap();
        for f in ["gradcheck.csv", "notes.txt"] {
            std::fs::write(out.join(f), "old").unwrap();
        }
        let d = ReportDir::open(out).unwrap();
        stage(&d, "summary.json", "{}");
        stage(&d, "loss.csv", "new");
        d.commit(&["summary.json".into(), "loss.csv".into()])
            .unwrap();
        drop(d);
        assert!(
            !out.join("gradcheck.csv").exists(),
            "listed and not rewritten"
        );
        assert!(out.join("notes.txt").exists(), "not a report name: kept");
        assert_eq!(
            std::fs::read_to_string(out.join("loss.csv")).unwrap(),
            "new"
        );
        assert!(!out.join(STAGING_DIR).exists());
    }

    #[test]
    fn every_file_a_report_writes_is_owned_so_a_later_report_removes_it() {
        for f in super::super::REPORT_FILES {
            assert!(is_owned(f), "{f}");
        }
        for f in [super::super::BATCH_NORM_FILE, super::super::CONFUSION_FILE] {
            assert!(is_owned(f), "{f}");
        }
        assert!(!is_owned("../x") && !is_owned("data.csv"));
    }

    #[test]
    fn a_run_directory_below_an_owned_entry_or_equal_to_the_report_is_held() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out");
        for sub in ["fixes/x", "loss.png", "plain"] {
            std::fs::create_dir_all(out.join(sub)).unwrap();
        }
        assert!(holds(&out, &out));
        assert!(holds(&out, &out.join("fixes/x")));
        assert!(
            holds(&out, &out.join("loss.png")),
            "an owned name, even a directory"
        );
        assert!(
            !holds(&out, &out.join("plain")),
            "a report never touches it"
        );
        let e = refuse_run_inside(&out, &out.join("fixes/x")).unwrap_err();
        assert!(e.to_string().contains("which this command reads"), "{e}");
        assert!(refuse_run_inside(&out, &out.join("plain")).is_ok());
    }

    #[test]
    fn fresh_subdir_removes_a_planted_link_without_following_it() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out");
        let elsewhere = tmp.path().join("elsewhere");
        std::fs::create_dir_all(&out).unwrap();
        std::fs::create_dir_all(&elsewhere).unwrap();
        std::fs::write(elsewhere.join("keep.txt"), "precious").unwrap();
        std::os::unix::fs::symlink(&elsewhere, out.join("fixes")).unwrap();
        let d = ReportDir::open(&out).unwrap();
        let fixes = d.fresh_subdir("fixes").unwrap();
        assert!(std::fs::symlink_metadata(&fixes).unwrap().is_dir());
        assert_eq!(
            std::fs::read_to_string(elsewhere.join("keep.txt")).unwrap(),
            "precious"
        );
    }

    #[test]
    fn holds_resolves_paths_that_do_not_exist_yet() {
        let tmp = tempfile::tempdir().unwrap();
        let input = tmp.path().join("train.csv");
        std::fs::write(&input, "x").unwrap();
        assert!(holds(tmp.path(), &input));
        assert!(holds(&tmp.path().join("sub/.."), &input));
        assert!(!holds(&tmp.path().join("new/out"), &input));
        std::fs::create_dir(tmp.path().join("data")).unwrap();
        let deeper = tmp.path().join("data/t.csv");
        std::fs::write(&deeper, "x").unwrap();
        assert!(
            !holds(tmp.path(), &deeper),
            "a report never writes into data/"
        );
    }
}

//! Structure fuzzing of run directories: not the bytes of one file (the
//! content fuzzer in harness.rs does that) but what a hostile or broken run
//! directory is made of — its `name`, the paths its summary points at, files
//! replaced by links (into a sentinel tree, to devices, dangling, in loops),
//! FIFOs and directories, report directories with planted links, files of two
//! recordings — fed to `diagnose`, `report` and `compare` in-process.
//!
//! Each case is built in a fresh sandbox: `work/` (the working directory,
//! with the run in `work/run` and a diagnosed report in `work/diag`) and
//! `outside/`, a sentinel tree shaped like a report directory. Everything in
//! the sandbox except the report directory the case chose is snapshotted
//! before and after (contents, link targets, file types): any difference
//! is an *escape*. A panic is a *crash*; a case that takes longer than the
//! watchdog allows is a *hang* and aborts the run with the case named.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// What a run of the structure fuzzer found.
#[derive(Debug, Default)]
pub struct Outcome {
    pub cases: u64,
    /// Cases whose command succeeded (wrote a report).
    pub accepted: u64,
    /// Escapes: a case (its description) and what changed outside.
    pub escapes: Vec<String>,
    /// Panics: a case and the panic message.
    pub crashes: Vec<String>,
}

/// The commands a case runs.
#[derive(Debug, Clone, Copy)]
enum Cmd {
    Diagnose,
    Report,
    Compare,
}

/// Every entry below `dir` without following links: its path relative to
/// `dir` and what it is (a content hash, a link target, a directory, a
/// special file).
pub fn snapshot(dir: &Path) -> BTreeMap<PathBuf, String> {
    use std::hash::{Hash, Hasher};
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            let rel = p.strip_prefix(dir).unwrap_or(&p).to_path_buf();
            let Ok(meta) = std::fs::symlink_metadata(&p) else {
                continue;
            };
            let what = if meta.file_type().is_symlink() {
                format!("link -> {:?}", std::fs::read_link(&p).ok())
            } else if meta.is_dir() {
                stack.push(p.clone());
                "dir".to_string()
            } else if meta.is_file() {
                let bytes = std::fs::read(&p).unwrap_or_default();
                let mut h = std::collections::hash_map::DefaultHasher::new();
                bytes.hash(&mut h);
                format!("file {} {:x}", bytes.len(), h.finish())
            } else {
                "special".to_string()
            };
            out.insert(rel, what);
        }
    }
    out
}

fn mkfifo(path: &Path) {
    if let Some(c) = path.to_str().and_then(|s| std::ffi::CString::new(s).ok()) {
        // SAFETY: a valid NUL-terminated path; mkfifo has no other preconditions.
        unsafe {
            libc::mkfifo(c.as_ptr(), 0o600);
        }
    }
}

/// Templates built once: the committed runs, and one of them diagnosed.
pub struct Templates {
    dir: tempfile::TempDir,
}

impl Templates {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/runs");
        for name in [
            "torch_seed_mlp",
            "torch_nan_overflow",
            "torch_dead_relu_cnn",
        ] {
            let to = dir.path().join(name);
            std::fs::create_dir_all(&to).expect("template dir");
            for f in ["summary.json", "metrics.csv", "loss.csv"] {
                std::fs::copy(root.join(name).join(f), to.join(f)).expect("fixture copy");
            }
        }
        let opts = nn_doctor::commands::diagnose::DiagnoseOptions {
            dir: dir.path().join("torch_nan_overflow"),
            out: Some(dir.path().join("diag")),
            fail_on: nn_doctor::assess::FailOn::Error,
        };
        nn_doctor::commands::diagnose::run(&opts).expect("the template run diagnoses");
        Templates { dir }
    }

    fn run(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

impl Default for Templates {
    fn default() -> Self {
        Self::new()
    }
}

fn copy_dir(from: &Path, to: &Path) {
    let _ = std::fs::create_dir_all(to);
    if let Ok(entries) = std::fs::read_dir(from) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_file() {
                if let Some(n) = p.file_name() {
                    let _ = std::fs::copy(&p, to.join(n));
                }
            }
        }
    }
}

/// Names a summary may give its run: safe ones, paths into the sentinel
/// tree, nn-doctor's own entries and control characters.
fn hostile_name(rng: &mut ChaCha8Rng, outside: &Path) -> serde_json::Value {
    let abs = outside.join("report").to_string_lossy().into_owned();
    let names = [
        abs.as_str(),
        "../outside/report",
        "../../outside/report",
        "..",
        ".",
        "",
        "a/b",
        "x\ny",
        ".nn-doctor-staging",
        ".nn-doctor.lock",
        "fixes",
        "summary.json",
        "ok-name",
        "../work/run",
        "run",
        "reports/../../outside",
    ];
    match rng.random_range(0..20) {
        0 => serde_json::Value::Null,
        1 => serde_json::Value::from(17),
        i => serde_json::Value::from(names[(i as usize) % names.len()]),
    }
}

/// Replaces `path` (a file of the run) with something else.
fn replace_entry(rng: &mut ChaCha8Rng, path: &Path, outside: &Path, other: &Path) {
    let _ = std::fs::remove_file(path);
    let link = |to: &Path| {
        let _ = std::os::unix::fs::symlink(to, path);
    };
    match rng.random_range(0..10) {
        0 => link(&outside.join("file.txt")),
        1 => link(&outside.join("report/summary.json")),
        2 => link(Path::new("/dev/zero")),
        3 => mkfifo(path),
        4 => {
            let _ = std::fs::create_dir(path);
        }
        5 => link(&outside.join("missing")),
        6 => link(path),
        7 => link(other),
        8 => {}
        _ => {
            let _ = std::fs::write(path, b"");
        }
    }
}

/// Plants hostile entries in a report directory before a command writes it.
fn plant(rng: &mut ChaCha8Rng, out: &Path, outside: &Path) {
    let _ = std::fs::create_dir_all(out);
    let link = |name: &str, to: &Path| {
        let _ = std::os::unix::fs::symlink(to, out.join(name));
    };
    for _ in 0..rng.random_range(1..5) {
        match rng.random_range(0..8) {
            0 => link("loss.png", &outside.join("file.txt")),
            1 => link("fixes", &outside.join("report/fixes")),
            2 => link(".nn-doctor-staging", &outside.join("report")),
            3 => link(".nn-doctor.lock", &outside.join("file.txt")),
            4 => link("summary.json", &outside.join("report/summary.json")),
            5 => {
                let _ = std::fs::write(
                    out.join("summary.json"),
                    r#"{"files": ["summary.json", "fixes", "../outside/file.txt", "/etc", "loss.png", "batch_norm.csv"]}"#,
                );
            }
            6 => link("report.md", &outside.join("report/report.md")),
            _ => link("index.html", &outside.join("report")),
        }
    }
}

/// Flips, inserts or cuts a few bytes of a regular file.
fn garble(rng: &mut ChaCha8Rng, path: &Path) {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return;
    };
    if !meta.is_file() {
        return;
    }
    let Ok(mut bytes) = std::fs::read(path) else {
        return;
    };
    if bytes.is_empty() {
        return;
    }
    for _ in 0..rng.random_range(1..4) {
        let i = rng.random_range(0..bytes.len());
        match rng.random_range(0..3) {
            0 => bytes[i] = rng.random(),
            1 => bytes.insert(
                i,
                b"0,#\n\"9e999-"
                    .get(rng.random_range(0..11))
                    .copied()
                    .unwrap_or(b'0'),
            ),
            _ => bytes.truncate(i.max(1)),
        }
    }
    let _ = std::fs::write(path, bytes);
}

/// Edits the run's summary.json (when it is still a readable regular file).
fn edit_summary(path: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return;
    };
    if !meta.is_file() {
        return;
    }
    let Ok(mut v) = std::fs::read(path).map(|b| serde_json::from_slice::<serde_json::Value>(&b))
    else {
        return;
    };
    if let Ok(v) = v.as_mut() {
        edit(v);
        let _ = std::fs::write(path, serde_json::to_vec(v).unwrap_or_default());
    }
}

/// Writes `# run_id=ID` before the header of a CSV.
fn stamp(path: &Path, id: &str) {
    if let Ok(text) = std::fs::read_to_string(path) {
        let _ = std::fs::write(path, format!("# run_id={id}\n{text}"));
    }
}

/// One case: builds the sandbox under `root`, runs the command, compares.
/// Returns (accepted, escape, crash) descriptions.
fn one_case(
    rng: &mut ChaCha8Rng,
    root: &Path,
    templates: &Templates,
) -> (bool, Option<String>, Option<String>) {
    let _ = std::fs::remove_dir_all(root);
    let work = root.join("work");
    let outside = root.join("outside");
    let _ = std::fs::create_dir_all(outside.join("report/fixes/keep"));
    let _ = std::fs::create_dir_all(&work);
    let _ = std::fs::write(outside.join("file.txt"), "precious");
    let _ = std::fs::write(
        outside.join("report/summary.json"),
        r#"{"files": ["summary.json", "report.md", "loss.png", "fixes"]}"#,
    );
    let _ = std::fs::write(outside.join("report/report.md"), "precious report");
    let _ = std::fs::write(outside.join("report/loss.png"), "precious plot");
    let _ = std::fs::write(outside.join("report/fixes/keep/data.txt"), "precious");
    let template = [
        "torch_seed_mlp",
        "torch_nan_overflow",
        "torch_dead_relu_cnn",
    ][rng.random_range(0..3)];
    let run = work.join("run");
    copy_dir(&templates.run(template), &run);
    let diag = work.join("diag");
    copy_dir(&templates.run("diag"), &diag);
    let cmd = match rng.random_range(0..10) {
        0..=5 => Cmd::Diagnose,
        6 | 7 => Cmd::Report,
        _ => Cmd::Compare,
    };
    // For report and compare the input is a diagnosed report directory.
    let input = match cmd {
        Cmd::Diagnose => run.clone(),
        Cmd::Report | Cmd::Compare => diag.clone(),
    };
    let mut what = vec![format!("{cmd:?} of {template}")];
    // The run's summary: name, config, run id, completeness.
    let summary = input.join("summary.json");
    if rng.random_bool(0.6) {
        let name = hostile_name(rng, &outside);
        what.push(format!("name {name}"));
        edit_summary(&summary, |v| v["name"] = name);
    }
    if rng.random_bool(0.15) {
        let fifo = root.join("config.fifo");
        mkfifo(&fifo);
        let config = [
            fifo.clone(),
            PathBuf::from("/dev/zero"),
            outside.join("file.txt"),
            outside.join("nothing"),
        ][rng.random_range(0..4)]
        .to_string_lossy()
        .into_owned();
        what.push(format!("config {config}"));
        edit_summary(&summary, |v| {
            v["config"] = config.into();
            v["config_digest"] = "00".into();
        });
    }
    if rng.random_bool(0.15) {
        let ids = ["a", "b"];
        let (s, m, l) = (
            ids[rng.random_range(0..2)],
            ids[rng.random_range(0..2)],
            ids[rng.random_range(0..2)],
        );
        what.push(format!("run ids {s}/{m}/{l}"));
        edit_summary(&summary, |v| {
            v["run_id"] = s.into();
            v["complete"] = rng.random_bool(0.5).into();
        });
        stamp(&input.join("metrics.csv"), m);
        stamp(&input.join("loss.csv"), l);
    }
    // Files of the input replaced by links, FIFOs, directories; or garbled.
    for f in ["summary.json", "metrics.csv", "loss.csv"] {
        if rng.random_bool(0.12) {
            what.push(format!("{f} replaced"));
            replace_entry(rng, &input.join(f), &outside, &diag.join(f));
        } else if rng.random_bool(0.05) {
            what.push(format!("{f} garbled"));
            garble(rng, &input.join(f));
        }
    }
    // The input directory itself a link into the sentinel tree.
    let input_arg = if rng.random_bool(0.05) {
        let l = work.join("linked");
        let _ = std::os::unix::fs::symlink(outside.join("report"), &l);
        what.push("input is a link to outside/report".into());
        l
    } else {
        input.clone()
    };
    // Where the report goes.
    let fresh = work.join("out");
    let out: Option<PathBuf> = match rng.random_range(0..12) {
        0..=3 => None,
        4..=6 => Some(fresh.clone()),
        7 => {
            plant(rng, &fresh, &outside);
            Some(fresh.clone())
        }
        8 => Some(input.clone()),
        9 => Some(work.clone()),
        10 => Some(input.join("fixes")),
        _ => Some(outside.join("report")),
    };
    what.push(format!("out {out:?}"));
    // The directory the command may write: everything else must not change.
    let report_dir: Option<PathBuf> = match (&out, cmd) {
        (Some(o), _) => Some(o.clone()),
        (None, Cmd::Diagnose) => Some(work.join("reports")),
        (None, Cmd::Report) => Some(input.clone()),
        (None, Cmd::Compare) => None,
    };
    let keep = |snap: BTreeMap<PathBuf, String>| -> BTreeMap<PathBuf, String> {
        let rel = report_dir
            .as_ref()
            .and_then(|d| d.strip_prefix(root).ok().map(Path::to_path_buf));
        snap.into_iter()
            .filter(|(p, _)| {
                // A report's own directory and, for the default location,
                // the `reports/` it creates; the case's own scratch FIFO.
                !rel.as_ref().is_some_and(|r| p.starts_with(r)) && p != Path::new("work/reports")
            })
            .collect()
    };
    let before = keep(snapshot(root));
    // The input itself must stay intact even where the report directory
    // holds it (`--out` the parent of the run), unless it is the report
    // directory (`report` re-renders in place).
    let input_is_report = report_dir.as_ref() == Some(&input);
    // A report directory chosen below the input (`--out RUN/sub`) is the
    // report's, not the input's.
    let inner = report_dir
        .as_ref()
        .and_then(|d| d.strip_prefix(&input).ok().map(Path::to_path_buf))
        .filter(|r| !r.as_os_str().is_empty());
    let input_snapshot = || -> BTreeMap<PathBuf, String> {
        snapshot(&input)
            .into_iter()
            .filter(|(p, _)| !inner.as_ref().is_some_and(|r| p.starts_with(r)))
            .collect()
    };
    let input_before = input_snapshot();
    let _ = std::env::set_current_dir(&work);
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match cmd {
        Cmd::Diagnose => {
            nn_doctor::commands::diagnose::run(&nn_doctor::commands::diagnose::DiagnoseOptions {
                dir: input_arg.clone(),
                out: out.clone(),
                fail_on: nn_doctor::assess::FailOn::Error,
            })
            .is_ok()
        }
        Cmd::Report => nn_doctor::commands::report::run(&input_arg, out.as_deref()).is_ok(),
        Cmd::Compare => nn_doctor::commands::compare::compare(
            &input_arg,
            &templates.run("diag"),
            out.as_deref(),
        )
        .is_ok(),
    }));
    let after = keep(snapshot(root));
    let input_after = input_snapshot();
    let desc = what.join("; ");
    let crash = result.as_ref().err().map(|e| {
        let msg = e
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        format!("{desc}: panicked: {msg}")
    });
    let changed = |a: &BTreeMap<PathBuf, String>, b: &BTreeMap<PathBuf, String>| -> Vec<String> {
        a.keys()
            .chain(b.keys())
            .filter(|k| a.get(*k) != b.get(*k))
            .map(|k| k.display().to_string())
            .collect()
    };
    let escape = if before != after {
        Some(format!("{desc}: changed {:?}", changed(&before, &after)))
    } else if !input_is_report && input_before != input_after {
        Some(format!(
            "{desc}: changed the input {:?}",
            changed(&input_before, &input_after)
        ))
    } else {
        None
    };
    (matches!(result, Ok(true)), escape, crash)
}

/// Runs `cases` seeded cases (case i uses seed + i) in a scratch directory,
/// aborting the process if one case takes longer than `watchdog`.
pub fn run(
    cases: u64,
    seed: u64,
    watchdog: Duration,
    mut progress: impl FnMut(&Outcome),
) -> Outcome {
    let templates = Templates::new();
    let scratch = tempfile::tempdir().expect("a temporary directory");
    let previous_dir = std::env::current_dir().ok();
    static CASE_STARTED_MS: AtomicU64 = AtomicU64::new(0);
    static CURRENT: AtomicU64 = AtomicU64::new(u64::MAX);
    let epoch = Instant::now();
    let limit_ms = u64::try_from(watchdog.as_millis()).unwrap_or(u64::MAX);
    std::thread::spawn(move || loop {
        std::thread::sleep(Duration::from_millis(500));
        let case = CURRENT.load(Ordering::SeqCst);
        let since = CASE_STARTED_MS.load(Ordering::SeqCst);
        let now = u64::try_from(epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        if case != u64::MAX && now.saturating_sub(since) > limit_ms {
            eprintln!(
                "structure fuzz: case {case} (seed {}) hangs",
                seed.wrapping_add(case)
            );
            std::process::abort();
        }
    });
    let mut out = Outcome::default();
    for i in 0..cases {
        CASE_STARTED_MS.store(
            u64::try_from(epoch.elapsed().as_millis()).unwrap_or(u64::MAX),
            Ordering::SeqCst,
        );
        CURRENT.store(i, Ordering::SeqCst);
        let mut rng = ChaCha8Rng::seed_from_u64(seed.wrapping_add(i));
        let root = scratch.path().join("case");
        let (accepted, escape, crash) = one_case(&mut rng, &root, &templates);
        out.cases += 1;
        out.accepted += u64::from(accepted);
        out.escapes.extend(escape.map(|e| format!("case {i}: {e}")));
        out.crashes.extend(crash.map(|c| format!("case {i}: {c}")));
        if (i + 1) % 1000 == 0 {
            progress(&out);
        }
    }
    CURRENT.store(u64::MAX, Ordering::SeqCst);
    if let Some(d) = previous_dir {
        let _ = std::env::set_current_dir(d);
    }
    out
}

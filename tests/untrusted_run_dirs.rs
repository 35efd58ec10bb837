//! A run directory, a config's name and a path are untrusted input: a
//! colleague's PyTorch run, a CI artifact or a downloaded example may hold
//! any name, any file type and any link. These tests build each hostile
//! case in a sacrificial sandbox, run the built binary on it, and compare
//! a snapshot of every file outside the chosen report directory (contents,
//! link targets, file types) before and after: nothing there may change,
//! the input must stay intact, and refusals exit 2 with a message.

mod common;
#[path = "../fuzz/structure.rs"]
#[allow(dead_code)] // the fuzzer's cases are the smoke test's
mod structure;

use common::{code, stderr, stdout};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};
use structure::snapshot;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_nn-doctor"))
}

/// The snapshot without the entries below `except` (the report directory).
fn outside(dir: &Path, except: &Path) -> BTreeMap<PathBuf, String> {
    let except = except.strip_prefix(dir).unwrap_or(except).to_path_buf();
    snapshot(dir)
        .into_iter()
        .filter(|(p, _)| !p.starts_with(&except))
        .collect()
}

/// Copies a committed PyTorch run into `to`.
fn copy_run(name: &str, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    let from = common::fixture("runs").join(name);
    for f in ["summary.json", "metrics.csv", "loss.csv"] {
        std::fs::copy(from.join(f), to.join(f)).unwrap();
    }
}

/// Rewrites summary.json with `edit` applied to its JSON.
fn edit_summary(dir: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let p = dir.join("summary.json");
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
    edit(&mut v);
    std::fs::write(&p, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
}

/// `nn-doctor diagnose RUN --out OUT`.
fn diagnose(run: &Path, out: &Path) -> Output {
    bin()
        .arg("diagnose")
        .arg(run)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap()
}

fn refused(o: &Output, needles: &[&str]) {
    assert_eq!(code(o), 2, "stdout: {}\nstderr: {}", stdout(o), stderr(o));
    let e = stderr(o);
    assert!(!e.contains("panicked"), "{e}");
    for n in needles {
        assert!(e.contains(n), "expected {n:?} in: {e}");
    }
}

fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path; mkfifo has no other preconditions.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
}

/// Runs the binary and fails (killing it) if it has not ended in `limit`:
/// a FIFO read would block forever.
fn run_bounded(cmd: &mut Command, limit: Duration) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let o = child.wait_with_output().unwrap();
            panic!("hung for {limit:?}: {}", stderr(&o));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A sandbox: `work/` (the working directory, with the run in `work/run`)
/// and `outside/`, a sentinel tree holding a summary.json that lists
/// `fixes` and a `fixes/` directory, as a report directory would.
fn sandbox() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().join("work");
    let outside = tmp.path().join("outside");
    std::fs::create_dir_all(outside.join("fixes/keep")).unwrap();
    std::fs::write(
        outside.join("summary.json"),
        r#"{"files": ["summary.json", "report.md", "fixes"]}"#,
    )
    .unwrap();
    std::fs::write(outside.join("report.md"), "precious report").unwrap();
    std::fs::write(outside.join("fixes/keep/data.txt"), "precious").unwrap();
    copy_run("torch_seed_mlp", &work.join("run"));
    (tmp, work, outside)
}

#[test]
fn e1_a_run_name_that_is_a_path_is_refused_and_nothing_is_written() {
    for name in [
        "/ABS/outside".to_string(),
        "../../outside".to_string(),
        "../outside".to_string(),
        "..".to_string(),
        ".".to_string(),
        "a/b".to_string(),
        "x\ny".to_string(),
        ".hidden".to_string(),
    ] {
        let (tmp, work, outside) = sandbox();
        let name = name.replace("/ABS/outside", outside.to_str().unwrap());
        edit_summary(&work.join("run"), |v| v["name"] = name.clone().into());
        let before = snapshot(tmp.path());
        let o = bin()
            .args(["diagnose", "run"])
            .current_dir(&work)
            .output()
            .unwrap();
        refused(&o, &["not a safe report name", "--out"]);
        assert_eq!(snapshot(tmp.path()), before, "name {name:?} changed files");
    }
}

#[test]
fn e1_a_safe_run_name_reports_into_reports_of_the_working_directory() {
    let (tmp, work, _) = sandbox();
    let before = outside(tmp.path(), &work.join("reports"));
    let o = bin()
        .args(["diagnose", "run"])
        .current_dir(&work)
        .output()
        .unwrap();
    assert!(code(&o) < 2, "{}", stderr(&o));
    assert!(work.join("reports/torch_seed_mlp/summary.json").is_file());
    assert_eq!(outside(tmp.path(), &work.join("reports")), before);
    let reports: Vec<_> = std::fs::read_dir(work.join("reports")).unwrap().collect();
    assert_eq!(reports.len(), 1, "only reports/torch_seed_mlp");
}

#[test]
fn e2_diagnosing_a_run_below_the_report_directory_is_refused() {
    // The documented compare workflow one step on: a check report DIR with a
    // candidate run in DIR/fixes/X, diagnosed with --out DIR.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("report");
    copy_run("torch_seed_mlp", &dir.join("fixes/relu-he"));
    std::fs::write(
        dir.join("summary.json"),
        r#"{"files": ["summary.json", "fixes"]}"#,
    )
    .unwrap();
    for (run, out) in [
        (dir.join("fixes/relu-he"), dir.clone()),
        (dir.join("fixes/relu-he"), dir.join("fixes/relu-he")),
        (dir.join("fixes"), dir.clone()),
    ] {
        let before = snapshot(tmp.path());
        let o = diagnose(&run, &out);
        refused(&o, &["which this command reads"]);
        assert_eq!(snapshot(tmp.path()), before);
    }
    // A run file that is a link into the report directory is protected too.
    let run = tmp.path().join("run");
    copy_run("torch_seed_mlp", &run);
    let out = tmp.path().join("out");
    std::fs::create_dir(&out).unwrap();
    std::fs::rename(run.join("loss.csv"), out.join("loss.csv")).unwrap();
    std::os::unix::fs::symlink(out.join("loss.csv"), run.join("loss.csv")).unwrap();
    let before = snapshot(tmp.path());
    let o = diagnose(&run, &out);
    refused(&o, &["loss.csv"]);
    assert_eq!(snapshot(tmp.path()), before);
}

/// Two diagnosed runs in `tmp`/a and `tmp`/b.
fn two_reports(tmp: &Path) -> (PathBuf, PathBuf) {
    let (a, b) = (tmp.join("a"), tmp.join("b"));
    for (name, out) in [("torch_seed_mlp", &a), ("torch_dead_relu_cnn", &b)] {
        let run = tmp.join(format!("run-{name}"));
        copy_run(name, &run);
        let o = diagnose(&run, out);
        assert!(code(&o) < 2, "{}", stderr(&o));
    }
    (a, b)
}

#[test]
fn e3_compare_writes_through_no_link_replaces_no_input_and_respects_the_lock() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = two_reports(tmp.path());
    let out = tmp.path().join("cmp");
    std::fs::create_dir(&out).unwrap();
    let sentinel = tmp.path().join("sentinel.png");
    std::fs::write(&sentinel, "precious").unwrap();
    std::os::unix::fs::symlink(&sentinel, out.join("loss.png")).unwrap();
    let before = outside(tmp.path(), &out);
    let o = bin()
        .arg("compare")
        .arg(&a)
        .arg(&b)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(code(&o) < 2, "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(&sentinel).unwrap(), "precious");
    let png = std::fs::symlink_metadata(out.join("loss.png")).unwrap();
    assert!(png.is_file(), "the link is replaced by the plot");
    assert_eq!(outside(tmp.path(), &out), before);
    // --out A (or B) would replace the run's own plots: refused.
    for o_dir in [&a, &b] {
        let before = snapshot(tmp.path());
        let o = bin()
            .arg("compare")
            .arg(&a)
            .arg(&b)
            .arg("--out")
            .arg(o_dir)
            .output()
            .unwrap();
        refused(&o, &["which this command reads"]);
        assert_eq!(snapshot(tmp.path()), before);
    }
    // A directory another nn-doctor run holds is refused.
    let lock = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(out.join(".nn-doctor.lock"))
        .unwrap();
    lock.try_lock().unwrap();
    let before = snapshot(tmp.path());
    let o = bin()
        .arg("compare")
        .arg(&a)
        .arg(&b)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    refused(&o, &["another nn-doctor run"]);
    assert_eq!(snapshot(tmp.path()), before);
}

#[test]
fn e4_a_config_stem_that_is_not_a_safe_name_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().join("work");
    let elsewhere = tmp.path().join("elsewhere");
    std::fs::create_dir_all(&work).unwrap();
    std::fs::create_dir_all(&elsewhere).unwrap();
    let text = std::fs::read_to_string(common::fixture("configs/xor_diverging.toml")).unwrap();
    let text: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("name"))
        .map(|l| format!("{l}\n"))
        .collect();
    let cfg = elsewhere.join("...toml");
    std::fs::write(&cfg, text).unwrap();
    let before = snapshot(tmp.path());
    let o = bin()
        .arg("check")
        .arg(&cfg)
        .arg("--quiet")
        .current_dir(&work)
        .output()
        .unwrap();
    refused(&o, &["...toml", "not a safe report name", "--out"]);
    assert_eq!(snapshot(tmp.path()), before);
}

#[test]
fn fifos_devices_and_directories_in_a_run_never_block_or_abort() {
    let limit = Duration::from_secs(60);
    type Make = fn(&Path);
    let cases: [(&str, Make); 6] = [
        ("metrics.csv", |p| mkfifo(p)),
        ("loss.csv", |p| mkfifo(p)),
        ("summary.json", |p| mkfifo(p)),
        ("metrics.csv", |p| {
            std::os::unix::fs::symlink("/dev/zero", p).unwrap()
        }),
        ("summary.json", |p| {
            std::os::unix::fs::symlink("/dev/zero", p).unwrap()
        }),
        ("loss.csv", |p| std::fs::create_dir(p).unwrap()),
    ];
    for (file, make) in cases {
        let tmp = tempfile::tempdir().unwrap();
        let run = tmp.path().join("run");
        copy_run("torch_seed_mlp", &run);
        std::fs::remove_file(run.join(file)).unwrap();
        make(&run.join(file));
        for cmd in ["diagnose", "report"] {
            let mut c = bin();
            c.arg(cmd)
                .arg(&run)
                .arg("--out")
                .arg(tmp.path().join("out"));
            let o = run_bounded(&mut c, limit);
            // `report` first refuses the fixture as not yet diagnosed.
            let names = [file];
            let needles: &[&str] = if cmd == "diagnose" || file == "summary.json" {
                &names
            } else {
                &[]
            };
            refused(&o, needles);
        }
    }
    // summary.json's `config` pointing at a FIFO is not read at all.
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    copy_run("torch_seed_mlp", &run);
    mkfifo(&tmp.path().join("fifo.toml"));
    let fifo = tmp.path().join("fifo.toml");
    edit_summary(&run, |v| {
        v["config"] = fifo.to_str().unwrap().into();
        v["config_digest"] = "0123".into();
    });
    let mut c = bin();
    c.arg("diagnose")
        .arg(&run)
        .arg("--out")
        .arg(tmp.path().join("out"));
    let o = run_bounded(&mut c, limit);
    assert!(code(&o) < 2, "{}", stderr(&o));
}

#[test]
fn run_directory_commands_never_panic_on_a_closed_or_full_stdout() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = two_reports(tmp.path());
    let run = tmp.path().join("run-torch_seed_mlp");
    let out = tmp.path().join("o");
    let commands: Vec<Vec<&std::ffi::OsStr>> = vec![
        vec![
            "diagnose".as_ref(),
            run.as_os_str(),
            "--out".as_ref(),
            out.as_os_str(),
        ],
        vec!["report".as_ref(), a.as_os_str()],
        vec!["compare".as_ref(), a.as_os_str(), b.as_os_str()],
    ];
    for args in &commands {
        let mut child = bin()
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let o = child.wait_with_output().unwrap();
        assert!(
            matches!(o.status.code(), Some(0 | 1)),
            "{args:?}: {:?} {}",
            o.status,
            stderr(&o)
        );
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let o = bin().args(args).stdout(full).output().unwrap();
        refused(&o, &["cannot write to standard output"]);
    }
}

#[test]
fn a_summary_link_that_is_not_a_report_file_is_shown_as_text() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, _) = two_reports(tmp.path());
    edit_summary(&a, |v| {
        v["fixes"] = serde_json::json!([{
            "name": "evil", "changes": ["x"], "config": "javascript:alert(document.domain)",
            "steps": 1, "errors_before": [], "errors_after": [], "cleared_errors": true,
            "loss_before": 1.0, "loss_after": 0.5, "loss_improvement": 0.5,
            "test_accuracy_before": null, "test_accuracy_after": null,
            "loss_function_before": "mse", "loss_function_after": "mse",
            "errors_left": [], "clears": [], "leaves": [], "introduces": [],
            "same_loss_function": true
        }]);
        v["files"] = serde_json::json!(["summary.json", "../../etc/passwd", "https://x.example/a"]);
    });
    let o = bin().arg("report").arg(&a).output().unwrap();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let html = std::fs::read_to_string(a.join("index.html")).unwrap();
    let md = std::fs::read_to_string(a.join("report.md")).unwrap();
    assert!(html.contains("javascript:alert"), "shown as text");
    for bad in ["javascript:", "../../etc", "https://"] {
        assert!(
            !html.contains(&format!("href=\"{bad}")),
            "{bad} linked in index.html"
        );
        assert!(
            !md.contains(&format!("]({bad}")),
            "{bad} linked in report.md"
        );
    }
}

/// Writes `# run_id=ID` before the header of both CSVs of `run`.
fn stamp(run: &Path, metrics: &str, loss: &str) {
    for (f, id) in [("metrics.csv", metrics), ("loss.csv", loss)] {
        let p = run.join(f);
        let text = std::fs::read_to_string(&p).unwrap();
        std::fs::write(&p, format!("# run_id={id}\n{text}")).unwrap();
    }
}

#[test]
fn files_of_two_recordings_are_refused_and_an_unclosed_run_is_called_incomplete() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    copy_run("torch_seed_mlp", &run);
    stamp(&run, "aaa", "bbb");
    edit_summary(&run, |v| v["run_id"] = "aaa".into());
    let o = diagnose(&run, &tmp.path().join("o"));
    refused(&o, &["loss.csv", "two recordings", "\"bbb\""]);
    // An older summary without a run id beside streamed CSVs: refused too.
    edit_summary(&run, |v| {
        v.as_object_mut().unwrap().remove("run_id");
    });
    let o = diagnose(&run, &tmp.path().join("o"));
    refused(&o, &["metrics.csv", "two recordings"]);
    // One recording that never closed: judged, and said to be incomplete.
    let run = tmp.path().join("run2");
    copy_run("torch_seed_mlp", &run);
    stamp(&run, "ccc", "ccc");
    edit_summary(&run, |v| {
        v["run_id"] = "ccc".into();
        v["complete"] = false.into();
    });
    let out = tmp.path().join("o2");
    let o = diagnose(&run, &out);
    assert!(code(&o) < 2, "{}", stderr(&o));
    assert!(
        stdout(&o).contains("incomplete run: the recording stopped at step 300"),
        "{}",
        stdout(&o)
    );
    let s = common::summary(&out);
    assert_eq!(s["stopped_early"], true);
}

/// Width and height from a PNG's IHDR chunk.
fn png_size(path: &Path) -> (u32, u32) {
    let b = std::fs::read(path).unwrap();
    let be = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    (be(16), be(20))
}

#[test]
fn a_summary_with_thousands_of_layers_gives_bounded_plots() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    std::fs::create_dir(&run).unwrap();
    let layers = 3000;
    let list: Vec<serde_json::Value> = (1..=layers)
        .map(|l| {
            serde_json::json!({"layer": l, "units": 4, "fan_in": 4,
                "activation": if l < layers { "relu" } else { "softmax" }})
        })
        .collect();
    std::fs::write(
        run.join("summary.json"),
        serde_json::to_vec(&serde_json::json!({"run_format": 1, "name": "deep",
            "network": {"layers": list, "loss": "cross_entropy"}}))
        .unwrap(),
    )
    .unwrap();
    let mut metrics = String::from("step,layer,act_min,act_max,act_mean,grad_w_norm,dead_frac\n");
    let mut loss = String::from("step,loss\n");
    for step in 1..=4 {
        for l in 1..=layers {
            metrics.push_str(&format!("{step},{l},0,1,0.5,{},0.1\n", 0.01 * l as f64));
        }
        loss.push_str(&format!("{step},{}\n", 2.3 - 0.01 * step as f64));
    }
    std::fs::write(run.join("metrics.csv"), metrics).unwrap();
    std::fs::write(run.join("loss.csv"), loss).unwrap();
    let out = tmp.path().join("out");
    let mut c = bin();
    c.arg("diagnose").arg(&run).arg("--out").arg(&out);
    let o = run_bounded(&mut c, Duration::from_secs(300));
    assert!(code(&o) < 2, "{}", stderr(&o));
    for png in [
        "activations.png",
        "gradient_norms.png",
        "saturation.png",
        "pre_activations.png",
    ] {
        let (w, h) = png_size(&out.join(png));
        assert!(w <= 1000 && h <= 50 + 16 * 260, "{png}: {w}x{h}");
    }
}

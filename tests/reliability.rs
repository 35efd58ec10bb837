//! Issue 11 (reliability), end to end on the built binary: Ctrl-C keeps the
//! report, report files are contained and atomic, huge inputs are refused
//! with exit 2 and a message, a closed stdout never panics.

mod common;

use common::{code, fixture, root, stderr, summary};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_nn-doctor"));
    c.current_dir(root());
    c
}

/// A small synthetic config in `dir` (2 classes, 16 relu units, `extra`
/// appended to [train]).
fn synthetic_config(dir: &Path, name: &str, units: &str, steps: &str) -> PathBuf {
    let text = format!(
        "name = \"{name}\"\nseed = 1\n[data]\nsource = \"synthetic\"\ngenerator = \"blobs\"\n\
         samples = 200\nclasses = 2\n[model]\n[[model.layers]]\nunits = {units}\nactivation = \"relu\"\n\
         [[model.layers]]\nunits = 2\nactivation = \"softmax\"\n[train]\nloss = \"cross_entropy\"\n\
         optimizer = \"adam\"\nlearning_rate = 0.01\nbatch_size = 16\nsteps = {steps}\n"
    );
    let p = dir.join(format!("{name}.toml"));
    std::fs::write(&p, text).unwrap();
    p
}

/// Waits (up to a minute) until `path` exists: the run has installed its
/// signal handlers and locked its report directory.
fn wait_for(path: &Path) {
    let start = Instant::now();
    while !path.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Every file summary.json lists exists, and it lists summary.json itself.
fn assert_complete(out: &Path) -> serde_json::Value {
    let s = summary(out);
    let files: Vec<&str> = s["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    assert!(
        files.contains(&"summary.json") && files.contains(&"metrics.csv"),
        "{files:?}"
    );
    for f in &files {
        assert!(out.join(f).exists(), "{f} is listed but missing");
    }
    assert!(
        !out.join(".nn-doctor-staging").exists(),
        "staging directory left behind"
    );
    s
}

/// Starts `check CONFIG --out OUT extra...`, waits until it has locked its
/// report directory and trained a little, sends `signal`, and returns its
/// output (stdout captured).
fn interrupted_check(
    config: &Path,
    out: &Path,
    extra: &[&str],
    signal: i32,
) -> std::process::Output {
    interrupted("check", config, out, extra, signal)
}

/// [`interrupted_check`] for any command that takes `CONFIG --out OUT`.
fn interrupted(
    command: &str,
    config: &Path,
    out: &Path,
    extra: &[&str],
    signal: i32,
) -> std::process::Output {
    let child = bin()
        .arg(command)
        .arg(config)
        .arg("--out")
        .arg(out)
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for(&out.join(".nn-doctor.lock"));
    // Let training get going (no timing is asserted: a signal before the
    // first step must give the same complete, interrupted report).
    std::thread::sleep(Duration::from_millis(1500));
    let pid = i32::try_from(child.id()).unwrap();
    // SAFETY: kill(2) on our own child's pid; no memory is involved.
    assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
    child.wait_with_output().unwrap()
}

#[test]
fn sigint_mid_training_writes_the_whole_report_and_exits_130() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let cfg = fixture("configs/healthy.toml");
    let o = interrupted_check(&cfg, &out, &["--steps", "1000000", "--quiet"], libc::SIGINT);
    assert_eq!(o.status.code(), Some(130));
    let s = assert_complete(&out);
    assert_eq!(s["interrupted"], true);
    assert_eq!(s["stopped_early"], true);
    assert!(s["steps_run"].as_u64().unwrap() < 1_000_000);
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("interrupted (SIGINT/SIGTERM)"), "{md}");
    // metrics.csv is whole: header plus complete rows only.
    let csv = std::fs::read_to_string(out.join("metrics.csv")).unwrap();
    assert!(csv.ends_with('\n'));
}

#[test]
fn sigint_during_gradcheck_training_reports_the_points_that_ran_and_exits_130() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let cfg = synthetic_config(tmp.path(), "gc", "16", "100000000");
    let o = interrupted("gradcheck", &cfg, &out, &[], libc::SIGINT);
    assert_eq!(o.status.code(), Some(130));
    // The init check ran and is reported; the "end" of a run that never
    // ended is not checked under that name.
    let csv = std::fs::read_to_string(out.join("gradcheck.csv")).unwrap();
    let ats: std::collections::BTreeSet<&str> = csv
        .lines()
        .skip(1)
        .filter_map(|l| l.split(',').next())
        .collect();
    assert_eq!(ats, ["init"].into_iter().collect(), "{csv}");
}

#[test]
fn sigterm_prints_the_summary_of_what_ran() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let cfg = synthetic_config(tmp.path(), "term", "64", "100000000");
    let o = interrupted_check(&cfg, &out, &["--format", "json"], libc::SIGTERM);
    assert_eq!(o.status.code(), Some(130));
    let printed: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(printed["interrupted"], true);
    assert_eq!(
        printed,
        assert_complete(&out),
        "stdout and summary.json agree"
    );
}

#[test]
fn sigint_during_try_fixes_reports_the_finished_candidates() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let child = bin()
        .args([
            "check",
            fixture("configs/seed.toml").to_str().unwrap(),
            "--try-fixes",
            "--fail-on",
            "never",
            "--format",
            "json",
            "--out",
        ])
        .arg(&out)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // fixes/ appears when the candidates start (the unhealthy seed case
    // always has some).
    wait_for(&out.join("fixes"));
    std::thread::sleep(Duration::from_millis(500));
    let pid = i32::try_from(child.id()).unwrap();
    // SAFETY: kill(2) on our own child's pid.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(130));
    let printed: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let s = assert_complete(&out);
    assert_eq!(printed, s, "stdout and summary.json agree");
    assert_eq!(s["interrupted"], true);
    assert_eq!(
        s["steps_run"], s["steps_planned"],
        "the run itself finished"
    );
    for f in s["fixes"].as_array().unwrap() {
        let config = f["config"].as_str().unwrap();
        assert!(out.join(config).is_file(), "{config}");
    }
}

#[test]
fn a_symlink_at_a_report_path_is_replaced_not_written_through() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let target = tmp.path().join("precious.txt");
    std::fs::write(&target, "do not touch").unwrap();
    std::os::unix::fs::symlink(&target, out.join("summary.json")).unwrap();
    // A dangling link must not create its target either.
    let dangling = tmp.path().join("created-by-mistake.csv");
    std::os::unix::fs::symlink(&dangling, out.join("metrics.csv")).unwrap();
    let cfg = synthetic_config(tmp.path(), "link", "8", "20");
    let o = common::check(&cfg, &out, &[]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "do not touch");
    assert!(!dangling.exists());
    assert!(!std::fs::symlink_metadata(out.join("summary.json"))
        .unwrap()
        .file_type()
        .is_symlink());
    assert_complete(&out);
}

#[test]
fn a_second_run_into_a_busy_directory_exits_2_and_the_report_stays_consistent() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let slow = synthetic_config(tmp.path(), "slow", "64", "20000");
    let fast = synthetic_config(tmp.path(), "fast", "8", "20");
    let mut first = bin()
        .args([
            "check",
            slow.to_str().unwrap(),
            "--quiet",
            "--fail-on",
            "never",
            "--out",
        ])
        .arg(&out)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    wait_for(&out.join(".nn-doctor.lock"));
    std::thread::sleep(Duration::from_millis(300));
    let second = common::check(&fast, &out, &[]);
    let first_code = first.wait().unwrap().code();
    if first_code == Some(0) && second.status.code() == Some(0) {
        // The first run finished before the second started (a very fast
        // machine): nothing overlapped, and the later report is whole.
        assert_eq!(summary(&out)["name"], "fast");
        return;
    }
    assert_eq!(first_code, Some(0));
    assert_eq!(code(&second), 2, "{}", stderr(&second));
    assert!(
        stderr(&second).contains("another nn-doctor run is writing this report directory"),
        "{}",
        stderr(&second)
    );
    let s = assert_complete(&out);
    assert_eq!(s["name"], "slow");
    assert_eq!(s["steps_run"], 20000);
}

#[test]
fn stale_files_of_an_earlier_report_are_removed() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let cfg = synthetic_config(tmp.path(), "stale", "8", "20");
    assert_eq!(code(&common::check(&cfg, &out, &[])), 0);
    // Pretend the earlier run also tried fixes, and leave a user file.
    let mut s = summary(&out);
    s["files"].as_array_mut().unwrap().push("fixes".into());
    std::fs::write(out.join("summary.json"), s.to_string()).unwrap();
    std::fs::create_dir(out.join("fixes")).unwrap();
    std::fs::write(out.join("fixes/old.toml"), "old").unwrap();
    std::fs::write(out.join("notes.txt"), "mine").unwrap();
    assert_eq!(code(&common::check(&cfg, &out, &[])), 0);
    assert!(!out.join("fixes").exists());
    assert!(out.join("notes.txt").exists());
    assert_complete(&out);
}

fn refused(o: &std::process::Output, needles: &[&str]) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    for n in needles {
        assert!(err.contains(n), "missing {n:?} in: {err}");
    }
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn absurd_sizes_are_refused_with_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let huge = synthetic_config(tmp.path(), "huge", "18446744073709551615", "10");
    refused(
        &common::check(&huge, &out, &[]),
        &["model.layers[1].units", "too large", "at most 1000000000"],
    );
    let wide = synthetic_config(tmp.path(), "wide", "100000000", "10");
    let o = common::check(&wide, &out, &["--max-memory", "8G"]);
    refused(
        &o,
        &[
            "model.layers[1].units",
            "needs an estimated",
            "parameters",
            "8.6 GB (--max-memory)",
        ],
    );
    let long = synthetic_config(tmp.path(), "long", "8", "100000000000000000000");
    refused(
        &common::check(&long, &out, &[]),
        &["train.steps", "too large: 100000000000000000000"],
    );
    let float = synthetic_config(tmp.path(), "float", "8", "1e20");
    refused(
        &common::check(&float, &out, &[]),
        &["train.steps", "expected an integer >= 1, found float 1e20"],
    );
}

#[test]
fn a_name_is_a_label_not_a_path() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = synthetic_config(tmp.path(), "x", "8", "10");
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("name = \"x\"", "name = \"../../x\"");
    std::fs::write(&cfg, text).unwrap();
    let o = bin()
        .args(["check", cfg.to_str().unwrap(), "--quiet"])
        .current_dir(tmp.path())
        .output()
        .unwrap();
    refused(&o, &["`name`", "a name is a label, not a path"]);
    assert!(!tmp.path().join("x").exists() && !tmp.path().join("reports").exists());
}

#[test]
fn an_out_that_holds_an_input_is_refused_before_training() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("loss.csv"),
        "a,b,label\n1,2,0\n3,4,1\n5,6,0\n7,8,1\n",
    )
    .unwrap();
    std::fs::create_dir(tmp.path().join("cfg")).unwrap();
    let cfg = synthetic_config(&tmp.path().join("cfg"), "own", "8", "10");
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace(
            "source = \"synthetic\"\ngenerator = \"blobs\"\nsamples = 200\nclasses = 2",
            "source = \"csv\"\ntrain = \"../loss.csv\"",
        )
        .replace("batch_size = 16", "batch_size = 2");
    std::fs::write(&cfg, text).unwrap();
    let o = common::check(&cfg, tmp.path(), &[]);
    refused(&o, &["contains this input", "loss.csv"]);
    assert_eq!(
        std::fs::read_to_string(tmp.path().join("loss.csv")).unwrap(),
        "a,b,label\n1,2,0\n3,4,1\n5,6,0\n7,8,1\n"
    );
}

/// A CSV config in `dir` reading `train` (relative), batch 2.
fn csv_config(dir: &Path, train: &str, extra_data: &str) -> PathBuf {
    let cfg = synthetic_config(dir, "csvdata", "8", "10");
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace(
            "source = \"synthetic\"\ngenerator = \"blobs\"\nsamples = 200\nclasses = 2",
            &format!("source = \"csv\"\ntrain = \"{train}\"\n{extra_data}"),
        )
        .replace("batch_size = 16", "batch_size = 2");
    std::fs::write(&cfg, text).unwrap();
    cfg
}

#[test]
fn devices_and_fifos_are_refused_not_read() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let cfg = csv_config(tmp.path(), "/dev/zero", "");
    refused(
        &common::check(&cfg, &out, &[]),
        &["/dev/zero", "not a regular file"],
    );
    let fifo = tmp.path().join("pipe.csv");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let cfg = csv_config(tmp.path(), "pipe.csv", "");
    refused(
        &common::check(&cfg, &out, &[]),
        &["pipe.csv", "not a regular file"],
    );
}

#[test]
fn suspicious_labels_and_headers_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let cases = [
        ("x,label\n1,0\n2,0\n3,0\n", "single class (0)"),
        ("x,label\n1,1\n2,2\n3,1\n", "class 0 has no samples"),
        (
            "x,label\n1,1\n2,1.0\n3,0\n",
            "label '1.0' (line 3) is a number but not a class index",
        ),
        ("x,label\n1,-1\n2,1\n3,0\n", "label '-1' (line 2)"),
        ("0.5,1\n1,0\n2,1\n", "the first row looks like data"),
    ];
    for (i, (text, needle)) in cases.iter().enumerate() {
        let name = format!("d{i}.csv");
        std::fs::write(tmp.path().join(&name), text).unwrap();
        let cfg = csv_config(tmp.path(), &name, "");
        refused(&common::check(&cfg, &out, &[]), &[&name, needle]);
    }
    std::fs::write(tmp.path().join("tr.csv"), "x,label\n1,0\n2,1\n3,0\n").unwrap();
    std::fs::write(tmp.path().join("te.csv"), "x,label\n1,0\n2,2\n").unwrap();
    let cfg = csv_config(tmp.path(), "tr.csv", "test = \"te.csv\"");
    refused(
        &common::check(&cfg, &out, &[]),
        &["test data has classes the training data lacks: 2"],
    );
}

/// An IDX file declaring `n` items of `item` bytes, holding only `held` of
/// them, gzip-compressed.
fn idx_bomb(dims: &[u32], held: &[u8]) -> Vec<u8> {
    let mut raw = vec![0, 0, 0x08, dims.len() as u8];
    for d in dims {
        raw.extend_from_slice(&d.to_be_bytes());
    }
    raw.extend_from_slice(held);
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(&raw).unwrap();
    e.finish().unwrap()
}

#[test]
fn a_gzip_file_declaring_600m_images_is_refused_or_read_only_as_far_as_train_limit() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let n = 600_000_000u32;
    let images: Vec<u8> = (0..100 * 784).map(|i| (i % 251) as u8).collect();
    let labels: Vec<u8> = (0..100).map(|i| (i % 2) as u8).collect();
    std::fs::write(tmp.path().join("img.gz"), idx_bomb(&[n, 28, 28], &images)).unwrap();
    std::fs::write(tmp.path().join("lab.gz"), idx_bomb(&[n], &labels)).unwrap();
    let cfg = synthetic_config(tmp.path(), "bomb", "8", "10");
    let idx = "source = \"idx\"\ntrain_images = \"img.gz\"\ntrain_labels = \"lab.gz\"";
    let text = std::fs::read_to_string(&cfg).unwrap().replace(
        "source = \"synthetic\"\ngenerator = \"blobs\"\nsamples = 200\nclasses = 2",
        idx,
    );
    std::fs::write(&cfg, &text).unwrap();
    let o = common::check(&cfg, &out, &["--max-memory", "4G"]);
    refused(
        &o,
        &[
            "img.gz",
            "600000000 x 28 x 28 uint8",
            "more than the limit of 4.3 GB (--max-memory)",
            "train_limit",
        ],
    );
    std::fs::write(
        &cfg,
        text.replace(idx, &format!("{idx}\ntrain_limit = 100")),
    )
    .unwrap();
    let o = common::check(&cfg, &out, &["--max-memory", "4G", "--fail-on", "never"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let s = summary(&out);
    assert_eq!(s["data"]["train_samples"], 100);
    assert!(s["data"]["description"]
        .as_str()
        .unwrap()
        .contains("(600000000 x 784)"));
}

#[test]
fn an_npy_shape_whose_product_overflows_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("trace");
    let src = fixture("traces/correct-out_in-npy");
    std::fs::create_dir(&dir).unwrap();
    for e in std::fs::read_dir(&src).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), dir.join(e.file_name())).unwrap();
    }
    let npy = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "npy"))
        .unwrap();
    let mut header =
        "{'descr': '<f8', 'fortran_order': True, 'shape': (4294967296, 4294967297), }".to_string();
    while !(10 + header.len() + 1).is_multiple_of(64) {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend_from_slice(&[0u8; 64]);
    std::fs::write(&npy, bytes).unwrap();
    let o = bin().args(["verify-trace"]).arg(&dir).output().unwrap();
    refused(&o, &["impossibly large"]);
}

#[test]
fn a_closed_or_full_stdout_never_panics() {
    // `explain | head -0`: the reader is gone before anything is written.
    for args in [vec!["explain"], vec!["explain", "saturated-activations"]] {
        let mut child = bin()
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let o = child.wait_with_output().unwrap();
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    }
    let tmp = tempfile::tempdir().unwrap();
    let cfg = synthetic_config(tmp.path(), "pipe", "8", "20");
    let mut child = bin()
        .args(["check", cfg.to_str().unwrap(), "--out"])
        .arg(tmp.path().join("out"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let o = child.wait_with_output().unwrap();
    assert!(
        matches!(o.status.code(), Some(0 | 1)),
        "{:?} {}",
        o.status,
        stderr(&o)
    );
    assert_complete(&tmp.path().join("out"));
    // `explain > /dev/full`: a write error is reported, exit 2.
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let o = bin().arg("explain").stdout(full).output().unwrap();
    refused(
        &o,
        &["cannot write to standard output", "No space left on device"],
    );
}

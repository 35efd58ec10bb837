//! Every command that prints a result takes the same output flags with the
//! same meaning: `--quiet` drops the text result (files are still written,
//! the exit code stands), `--format json` prints JSON whatever `--quiet`
//! says. Source of truth: the flags' documented meaning in `main.rs`'s
//! `Output`, checked on the built binary.

mod common;
use common::*;

fn out_dir(t: &tempfile::TempDir) -> String {
    t.path().join("out").display().to_string()
}

#[test]
fn diagnose_takes_quiet_and_names_itself_in_its_text() {
    let run = fixture("runs/torch_seed_mlp").display().to_string();
    let t = tempfile::tempdir().unwrap();
    let text = run_in(&root(), &["diagnose", &run, "--out", &out_dir(&t)]);
    assert!(
        stdout(&text).starts_with("nn-doctor diagnose: "),
        "{}",
        stdout(&text)
    );
    let t2 = tempfile::tempdir().unwrap();
    let quiet = run_in(
        &root(),
        &["diagnose", &run, "--out", &out_dir(&t2), "--quiet"],
    );
    assert_eq!(stdout(&quiet), "", "{}", stderr(&quiet));
    assert_eq!(code(&quiet), code(&text));
    assert!(t2.path().join("out/report.md").is_file());
    let t3 = tempfile::tempdir().unwrap();
    let json = run_in(
        &root(),
        &[
            "diagnose",
            &run,
            "--out",
            &out_dir(&t3),
            "--quiet",
            "--format",
            "json",
        ],
    );
    let v: serde_json::Value = serde_json::from_str(&stdout(&json)).unwrap();
    assert!(v["diagnoses"].is_array());
}

#[test]
fn quiet_silences_every_printing_command() {
    let run = fixture("runs/torch_seed_mlp").display().to_string();
    let t = tempfile::tempdir().unwrap();
    let diag = out_dir(&t);
    let o = run_in(&root(), &["diagnose", &run, "--out", &diag, "-q"]);
    assert!(code(&o) <= 1, "{}", stderr(&o));
    let t2 = tempfile::tempdir().unwrap();
    let cases: Vec<Vec<String>> = vec![
        vec!["report".into(), diag.clone(), "--out".into(), out_dir(&t2)],
        vec!["compare".into(), diag.clone(), diag.clone()],
        vec![
            "verify-trace".into(),
            fixture("traces/correct-in_out-csv").display().to_string(),
        ],
    ];
    for args in cases {
        let mut args: Vec<&str> = args.iter().map(String::as_str).collect();
        let loud = run_in(&root(), &args);
        assert!(
            !stdout(&loud).is_empty(),
            "{args:?} printed nothing without --quiet"
        );
        args.push("--quiet");
        let quiet = run_in(&root(), &args);
        assert_eq!(stdout(&quiet), "", "{args:?}");
        assert_eq!(code(&quiet), code(&loud), "{args:?}: {}", stderr(&quiet));
    }
}

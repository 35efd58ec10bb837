//! End-to-end: `nn-doctor init` writes a starter config that runs as is.

mod common;
use common::*;

#[test]
fn init_writes_a_config_that_checks_healthy() {
    let dir = tempfile::tempdir().unwrap();
    let o = run_in(dir.path(), &["init", "start.toml"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let o = run_in(
        dir.path(),
        &["check", "start.toml", "--quiet", "--out", "rep"],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(dir.path().join("rep/summary.json").exists());
}

#[test]
fn init_refuses_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("nn-doctor.toml"), "keep me").unwrap();
    let o = run_in(dir.path(), &["init"]);
    assert_invalid(&o, &["nn-doctor.toml", "already exists"]);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("nn-doctor.toml")).unwrap(),
        "keep me"
    );
}

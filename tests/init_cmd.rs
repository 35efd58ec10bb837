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

#[test]
fn each_init_config_is_named_after_its_file_so_reports_do_not_collide() {
    let dir = tempfile::tempdir().unwrap();
    for f in ["first.toml", "second.toml", "..toml"] {
        let o = run_in(dir.path(), &["init", f]);
        assert_eq!(code(&o), 0, "{}", stderr(&o));
    }
    let name = |f: &str| {
        let text = std::fs::read_to_string(dir.path().join(f)).unwrap();
        let v: toml::Value = toml::from_str(&text).unwrap();
        v["name"].as_str().unwrap().to_string()
    };
    assert_eq!(name("first.toml"), "first");
    assert_eq!(name("second.toml"), "second");
    // A stem that is no safe report name keeps the starter's own name.
    assert_eq!(name("..toml"), "starter");
    // The comment column of the name line is kept (the starter's own).
    let hash_column = |f: &str| {
        let text = std::fs::read_to_string(dir.path().join(f)).unwrap();
        let line = text
            .lines()
            .find(|l| l.starts_with("name"))
            .unwrap()
            .to_string();
        line.find('#').unwrap()
    };
    assert_eq!(hash_column("first.toml"), hash_column("..toml"));
}

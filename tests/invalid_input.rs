//! End-to-end: invalid configs, data files and arguments exit 2 with a
//! message naming the file, the line or key, and what was expected; never a
//! panic.

mod common;
use common::*;
use std::io::Write;
use std::path::Path;

/// A small valid synthetic config body; tests replace parts of it.
const BASE: &str = r#"name = "t"
[data]
source = "synthetic"
generator = "blobs"
samples = 50
classes = 2
test_fraction = 0.2
[model]
[[model.layers]]
units = 4
activation = "tanh"
[[model.layers]]
units = 2
activation = "softmax"
[train]
loss = "cross_entropy"
learning_rate = 0.1
batch_size = 8
steps = 5
"#;

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn check_text(text: &str) -> (std::process::Output, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write(dir.path(), "bad.toml", text);
    let o = check(&cfg, &dir.path().join("out"), &[]);
    (o, dir)
}

#[test]
fn base_config_is_valid() {
    let (o, _d) = check_text(BASE);
    assert_ne!(code(&o), 2, "{}", stderr(&o));
}

#[test]
fn missing_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let o = check(&dir.path().join("nope.toml"), &dir.path().join("out"), &[]);
    assert_invalid(&o, &["nope.toml", "cannot read"]);
}

#[test]
fn unknown_key_names_line_and_key() {
    let (o, _d) = check_text(&BASE.replace("learning_rate = 0.1", "lerning_rate = 0.1"));
    assert_invalid(&o, &["bad.toml:17", "lerning_rate", "unknown key"]);
}

#[test]
fn softmax_on_a_hidden_layer_is_diagnosed_not_refused() {
    // Issue 10: a mistake in the network trains and gets its code.
    let (o, d) = check_text(&BASE.replace("activation = \"tanh\"", "activation = \"softmax\""));
    assert!([0, 1].contains(&code(&o)), "{}", stderr(&o));
    let s = summary(&d.path().join("out"));
    assert!(
        diagnoses(&s).contains(&("hidden-softmax".to_string(), Some(1))),
        "{s}"
    );
}

#[test]
fn zero_units() {
    let (o, _d) = check_text(&BASE.replace("units = 4", "units = 0"));
    assert_invalid(&o, &["bad.toml:10", "model.layers[1].units", "at least 1"]);
}

#[test]
fn negative_learning_rate() {
    let (o, _d) = check_text(&BASE.replace("learning_rate = 0.1", "learning_rate = -0.1"));
    assert_invalid(&o, &["bad.toml:17", "train.learning_rate", "-0.1"]);
}

#[test]
fn batch_size_larger_than_the_data_set() {
    // 50 samples, 20% test: 40 training samples.
    let (o, _d) = check_text(&BASE.replace("batch_size = 8", "batch_size = 64"));
    assert_invalid(&o, &["bad.toml:18", "train.batch_size", "40"]);
}

#[test]
fn output_units_must_match_classes() {
    let (o, _d) = check_text(&BASE.replace(
        "units = 2\nactivation = \"softmax\"",
        "units = 3\nactivation = \"softmax\"",
    ));
    assert_invalid(&o, &["bad.toml:13", "model.layers[2].units", "2 classes"]);
}

/// An IDX header for `n` 2x2 uint8 images, and `bytes` data bytes.
fn idx_images(n: u32, bytes: usize) -> Vec<u8> {
    let mut v = vec![0, 0, 0x08, 3];
    for d in [n, 2, 2] {
        v.extend_from_slice(&d.to_be_bytes());
    }
    v.extend(std::iter::repeat_n(7u8, bytes));
    v
}

fn idx_labels(n: u32) -> Vec<u8> {
    let mut v = vec![0, 0, 0x08, 1];
    v.extend_from_slice(&n.to_be_bytes());
    v.extend((0..n).map(|i| (i % 2) as u8));
    v
}

fn idx_config(dir: &Path, images: &[u8], labels: &[u8]) -> std::process::Output {
    std::fs::File::create(dir.join("img.idx"))
        .unwrap()
        .write_all(images)
        .unwrap();
    std::fs::File::create(dir.join("lab.idx"))
        .unwrap()
        .write_all(labels)
        .unwrap();
    let text = BASE
        .replace("source = \"synthetic\"\ngenerator = \"blobs\"\nsamples = 50\nclasses = 2\ntest_fraction = 0.2", "source = \"idx\"\ntrain_images = \"img.idx\"\ntrain_labels = \"lab.idx\"")
        .replace("batch_size = 8", "batch_size = 2");
    let cfg = write(dir, "idx.toml", &text);
    check(&cfg, &dir.join("out"), &[])
}

#[test]
fn idx_config_with_good_files_runs() {
    let dir = tempfile::tempdir().unwrap();
    let o = idx_config(dir.path(), &idx_images(10, 40), &idx_labels(10));
    assert_ne!(code(&o), 2, "{}", stderr(&o));
}

#[test]
fn truncated_idx_file() {
    let dir = tempfile::tempdir().unwrap();
    let o = idx_config(dir.path(), &idx_images(10, 13), &idx_labels(10));
    assert_invalid(&o, &["img.idx", "truncated"]);
}

#[test]
fn image_label_count_mismatch() {
    let dir = tempfile::tempdir().unwrap();
    let o = idx_config(dir.path(), &idx_images(10, 40), &idx_labels(9));
    assert_invalid(&o, &["img.idx", "lab.idx", "10", "9"]);
}

#[test]
fn missing_data_file() {
    let (o, _d) = check_text(&BASE.replace(
        "source = \"synthetic\"\ngenerator = \"blobs\"\nsamples = 50\nclasses = 2\ntest_fraction = 0.2",
        "source = \"csv\"\ntrain = \"absent.csv\"",
    ));
    assert_invalid(&o, &["absent.csv"]);
}

#[test]
fn bad_arguments_exit_2() {
    let o = run_in(&root(), &["check", "x.toml", "--fail-on", "sometimes"]);
    assert_eq!(code(&o), 2);
    let o = run_in(&root(), &["check", "x.toml", "--steps", "0"]);
    assert_eq!(code(&o), 2);
}

#[test]
fn toml_syntax_error_names_the_line() {
    let (o, _d) = check_text(&BASE.replace("steps = 5", "steps = = 5"));
    assert_invalid(&o, &["bad.toml:19"]);
}

#[test]
fn missing_data_file_names_the_key_and_the_resolved_path() {
    // Issue (new user): "data/x.gz: cannot read: No such file" did not say
    // which key named the file, nor that a relative path is taken from the
    // config's directory (not the working directory, where it existed).
    // Truth: config::validate::data_path joins relative paths to the
    // config file's directory.
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("configs");
    std::fs::create_dir(&sub).unwrap();
    let idx = BASE
        .replace("source = \"synthetic\"", "source = \"idx\"\ntrain_images = \"data/train-images.gz\"\ntrain_labels = \"data/train-labels.gz\"")
        .replace("generator = \"blobs\"\nsamples = 50\nclasses = 2\ntest_fraction = 0.2\n", "");
    let cfg = write(&sub, "idx.toml", &idx);
    let o = check(&cfg, &dir.path().join("out"), &[]);
    let resolved = sub.join("data/train-images.gz");
    assert_invalid(
        &o,
        &[
            "[data] train_images",
            &resolved.display().to_string(),
            "resolved against the config file's directory",
        ],
    );
    // A CSV source names its key too.
    let csv = BASE
        .replace(
            "source = \"synthetic\"",
            "source = \"csv\"\ntrain = \"nope.csv\"",
        )
        .replace(
            "generator = \"blobs\"\nsamples = 50\nclasses = 2\ntest_fraction = 0.2\n",
            "",
        );
    let cfg = write(&sub, "csv.toml", &csv);
    let o = check(&cfg, &dir.path().join("out"), &[]);
    assert_invalid(
        &o,
        &["[data] train", &sub.join("nope.csv").display().to_string()],
    );
}

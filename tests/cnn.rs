//! End-to-end: convolutional networks through `nn-doctor check`, run as a
//! user would (issue 13, stage 2).

mod common;
use common::*;

/// Truth: a 10-class problem has chance accuracy about 0.1; the small CNN
/// (fixtures/cnn/small_cnn.toml) measured 0.9+ on the 2000 test images, so
/// 0.85 leaves room for platform rounding while still proving it learns.
#[test]
fn a_small_cnn_trains_healthy_and_repeats_byte_for_byte() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let o = check(
        &fixture("cnn/small_cnn.toml"),
        a.path(),
        &["--fail-on", "warning"],
    );
    let s = summary(a.path());
    assert_eq!(code(&o), 0, "{} {:?}", stderr(&o), diagnoses(&s));
    assert!(
        s["diagnoses"].as_array().unwrap().is_empty(),
        "{:?}",
        diagnoses(&s)
    );
    let acc = s["final"]["test_accuracy"].as_f64().unwrap();
    assert!(acc >= 0.85, "test accuracy {acc}");
    // summary.json names every layer's kind, the dense head's too.
    let kinds: Vec<&str> = s["network"]["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["kind"].as_str().unwrap_or("(none)"))
        .collect();
    assert_eq!(kinds.last(), Some(&"dense"), "{kinds:?}");
    assert!(!kinds.contains(&"(none)"), "{kinds:?}");
    // Per-layer rows for every layer (4), parameter-free layers with empty
    // gradient cells.
    let metrics = std::fs::read_to_string(a.path().join("metrics.csv")).unwrap();
    let header: Vec<&str> = metrics.lines().next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (layer, grad_w) = (col("layer"), col("grad_w_norm"));
    let step1: Vec<Vec<&str>> = metrics
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect::<Vec<_>>())
        .filter(|r| r[0] == "1")
        .collect();
    assert_eq!(step1.len(), 4, "{metrics}");
    let pool = step1.iter().find(|r| r[layer] == "2").unwrap();
    assert_eq!(pool[grad_w], "", "a pool layer has no weight gradient");
    let conv = step1.iter().find(|r| r[layer] == "1").unwrap();
    assert!(conv[grad_w].parse::<f64>().unwrap() > 0.0);
    check(
        &fixture("cnn/small_cnn.toml"),
        b.path(),
        &["--fail-on", "never"],
    );
    for f in ["metrics.csv", "loss.csv"] {
        let x = std::fs::read(a.path().join(f)).unwrap();
        let y = std::fs::read(b.path().join(f)).unwrap();
        assert_eq!(x, y, "{f} differs between runs");
    } // The run directory reads back (empty parameter cells are "not
      // applicable") and re-diagnoses to the same verdict.
    let o = run_in(b.path(), &["diagnose", a.path().to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stdout(&o).contains("HEALTHY"), "{}", stdout(&o));
}

#[test]
fn shape_mistakes_are_refused_naming_the_layer_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let base = std::fs::read_to_string(fixture("cnn/small_cnn.toml")).unwrap();
    let data = fixture("data/mnist");
    let base = base.replace("../data/mnist", data.to_str().unwrap());
    for (from, to, needles) in [
        (
            "[[model.layers]]\nkind = \"flatten\"\n",
            "",
            &[
                "model.layers[3].kind",
                "add a [[model.layers]] with kind = \"flatten\"",
            ][..],
        ),
        (
            "kernel = 5",
            "kernel = 29",
            &["model.layers[1].kernel", "does not fit the 28x28 input"][..],
        ),
        (
            "size = 2",
            "size = 2\nfilters = 3",
            &[
                "model.layers[2].filters",
                "applies only to kind = \"conv2d\"",
            ][..],
        ),
    ] {
        assert!(base.contains(from), "{from}");
        let path = dir.path().join("bad.toml");
        std::fs::write(&path, base.replacen(from, to, 1)).unwrap();
        let o = check(&path, &dir.path().join("out"), &[]);
        assert_invalid(&o, needles);
    }
}

/// The figure in bench/RESULTS.md: examples/mnist_cnn.toml reaches a test accuracy of
/// at least 0.97 (the target; measured 0.9705). About 20 s of
/// training, so not part of the default run.
#[test]
#[ignore]
fn the_mnist_cnn_example_reaches_097() {
    let out = tempfile::tempdir().unwrap();
    let o = check(
        &root().join("examples/mnist_cnn.toml"),
        out.path(),
        &["--fail-on", "warning"],
    );
    let s = summary(out.path());
    assert_eq!(code(&o), 0, "{} {:?}", stderr(&o), diagnoses(&s));
    let acc = s["final"]["test_accuracy"].as_f64().unwrap();
    assert!(acc >= 0.97, "test accuracy {acc}");
}

/// CSV rows read as images through `input_shape = [C, H, W]`, checked
/// against the column count (exit 2 naming the key when it does not fit).
#[test]
fn csv_data_declares_an_image_shape() {
    let dir = tempfile::tempdir().unwrap();
    let mut csv = String::from("a,b,c,d,label\n");
    for i in 0..40 {
        let label = i % 2;
        let v = if label == 1 { 1.0 } else { -1.0 };
        csv.push_str(&format!("{v},{},{},{v},{label}\n", -v, -v));
    }
    std::fs::write(dir.path().join("train.csv"), csv).unwrap();
    let config = |shape: &str| {
        format!(
            "[data]\nsource = \"csv\"\ntrain = \"train.csv\"\ninput_shape = {shape}\n\n[model]\n\
             [[model.layers]]\nkind = \"conv2d\"\nfilters = 2\nkernel = 2\nactivation = \"tanh\"\n\n\
             [[model.layers]]\nkind = \"flatten\"\n\n[[model.layers]]\nunits = 2\nactivation = \"softmax\"\n\n\
             [train]\nloss = \"cross_entropy\"\noptimizer = \"adam\"\nlearning_rate = 0.05\nbatch_size = 8\nsteps = 40\n"
        )
    };
    let path = dir.path().join("img.toml");
    std::fs::write(&path, config("[1, 2, 2]")).unwrap();
    let o = check(&path, &dir.path().join("ok"), &["--fail-on", "never"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let s = summary(&dir.path().join("ok"));
    assert_eq!(s["steps_run"], 40);
    std::fs::write(&path, config("[1, 3, 2]")).unwrap();
    let o = check(&path, &dir.path().join("bad"), &[]);
    assert_invalid(
        &o,
        &["data.input_shape", "1x3x2 is 6 values", "4 feature columns"],
    );
}

//! summary.json's `network.parameters` is the network's real parameter
//! count for every bundled config, dense and convolutional (it once summed
//! (fan_in + 1) x units over every layer, 125,058 for a CNN of a few
//! thousand). Source of truth: the count worked out here from each config's
//! layer list with the usual shape arithmetic (dense (in + 1) x units;
//! conv (c k² + 1) x filters with "same"/valid padding; pooling shrinks the
//! image; batch norm has gamma and beta per channel), independent of the
//! engine.

mod common;

use std::path::{Path, PathBuf};

/// The independent count for `config`, whose input is `features` values
/// (an MNIST image when a convolution reads it).
fn expected(config: &Path, features: usize) -> usize {
    let text = std::fs::read_to_string(config).unwrap();
    let v: toml::Value = toml::from_str(&text).unwrap();
    let layers = v["model"]["layers"].as_array().unwrap();
    let image = layers
        .iter()
        .any(|l| l.get("kind").and_then(|k| k.as_str()) == Some("conv2d"));
    // (channels, height, width) of an image, or (width, 1, 1).
    let (mut c, mut h, mut w) = if image {
        assert_eq!(
            features,
            784,
            "{}: an image input other than MNIST",
            config.display()
        );
        (1, 28, 28)
    } else {
        (features, 1, 1)
    };
    let int = |l: &toml::Value, k: &str, default: usize| {
        l.get(k)
            .and_then(|v| v.as_integer())
            .map_or(default, |v| v as usize)
    };
    let mut total = 0;
    for l in layers {
        match l.get("kind").and_then(|k| k.as_str()).unwrap_or("dense") {
            "dense" => {
                let units = int(l, "units", 0);
                total += (c * h * w + 1) * units;
                (c, h, w) = (units, 1, 1);
            }
            "conv2d" => {
                let (f, k, s) = (
                    int(l, "filters", 0),
                    int(l, "kernel", 0),
                    int(l, "stride", 1),
                );
                total += (c * k * k + 1) * f;
                let same = l.get("padding").and_then(|p| p.as_str()) == Some("same");
                let out = |n: usize| if same { n.div_ceil(s) } else { (n - k) / s + 1 };
                (c, h, w) = (f, out(h), out(w));
            }
            "max_pool2d" | "avg_pool2d" => {
                let size = int(l, "size", 2);
                let s = int(l, "stride", size);
                (h, w) = ((h - size) / s + 1, (w - size) / s + 1);
            }
            "batch_norm" => total += 2 * c,
            "flatten" => (c, h, w) = (c * h * w, 1, 1),
            "dropout" | "activation" => {}
            other => panic!("{}: unknown kind {other}", config.display()),
        }
    }
    total
}

fn bundled() -> Vec<PathBuf> {
    let mut out = Vec::new();
    for dir in ["fixtures/configs", "fixtures/cnn", "fixtures/scenarios"] {
        for e in std::fs::read_dir(common::root().join(dir)).unwrap() {
            let p = e.unwrap().path();
            // expected.toml is the scenario corpus's label table, not a config.
            if p.extension().is_some_and(|x| x == "toml") && !p.ends_with("expected.toml") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn summary_parameters_match_an_independent_count_for_every_bundled_config() {
    let tmp = tempfile::tempdir().unwrap();
    let mut checked = 0;
    let mut cnns = 0;
    for config in bundled() {
        let out = tmp.path().join(config.file_stem().unwrap());
        let o = common::check(&config, &out, &["--steps", "1", "--no-gradcheck"]);
        assert!(
            common::code(&o) < 2,
            "{}: {}",
            config.display(),
            common::stderr(&o)
        );
        let s = common::summary(&out);
        let features = s["data"]["features"].as_u64().unwrap() as usize;
        let want = expected(&config, features);
        assert_eq!(
            s["network"]["parameters"].as_u64().unwrap() as usize,
            want,
            "{}",
            config.display()
        );
        checked += 1;
        cnns += usize::from(std::fs::read_to_string(&config).unwrap().contains("conv2d"));
    }
    assert!(
        checked >= 80 && cnns >= 10,
        "{checked} configs, {cnns} CNNs"
    );
}

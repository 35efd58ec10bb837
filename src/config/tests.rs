//! Tests of the config module as users meet it: whole files in, `Config`
//! or a located `ConfigError` out. Line numbers are asserted exactly because
//! pointing at the right line is the point of this module.

use super::*;
use crate::data::spec::{DataSpec, Generator, Scale};
use crate::engine::layers::batch_norm::BatchNormConfig;
use crate::engine::layers::conv2d::Conv2dConfig;
use crate::engine::layers::dense::DenseConfig;
use crate::engine::layers::dropout::DropoutConfig;
use crate::engine::layers::flatten::FlattenConfig;
use crate::engine::layers::pool2d::Pool2dConfig;
use crate::kinds::Activation;
use std::path::Path;

/// The example from the issue, saved as `fixtures/configs/seed.toml`.
const ISSUE_EXAMPLE: &str = r#"name = "seed"                  # optional; default: the config file's stem
seed = 42                      # optional; default 0 (u64)

[data]                         # required
source = "idx"                 # required: "idx" | "csv" | "synthetic"
train_images = "../data/mnist/train-images-idx3-ubyte.gz"   # idx: required; paths relative to the config file's directory; .gz or raw
train_labels = "../data/mnist/train-labels-idx1-ubyte.gz"   # idx: required
test_images = "../data/mnist/t10k-images-idx3-ubyte.gz"     # idx: optional (both test keys or neither)
test_labels = "../data/mnist/t10k-labels-idx1-ubyte.gz"
scale = "unit"                 # "none" | "unit" | "standardize"; default "none"
train_limit = 2000             # optional, >= 1

[model]                        # required
dtype = "f32"                  # "f32" | "f64"; default "f32"

[[model.layers]]               # at least one; layer 1 = first weight matrix
units = 1000                   # required, >= 1
activation = "sigmoid"
init = "uniform"
init_low = 0.0
init_high = 1.0
bias_init = 0.0

[[model.layers]]
units = 10
activation = "softmax"

[train]                        # required
loss = "mse"
optimizer = "sgd"
learning_rate = 0.05
batch_size = 20
steps = 300
clip_grad_norm = 5.0
eval_every = 100

[monitor]                      # optional
every = 1

[report]                       # optional
dir = "reports/seed"
"#;

/// A small valid config; the tests below edit single lines of it, so its
/// line numbers matter:
///  1 [data] / 5 [model] / 6, 10 [[model.layers]] / 14 [train].
const BASE: &str = r#"[data]
source = "synthetic"
generator = "spirals"

[model]
[[model.layers]]
units = 8
activation = "relu"

[[model.layers]]
units = 3
activation = "softmax"

[train]
loss = "cross_entropy"
learning_rate = 0.1
batch_size = 16
steps = 10
"#;

fn ok(text: &str) -> Config {
    match parse(Path::new("bad.toml"), text) {
        Ok(config) => config,
        Err(err) => panic!("expected a valid config, got: {err}"),
    }
}

fn err(text: &str) -> ConfigError {
    match parse(Path::new("bad.toml"), text) {
        Ok(_) => panic!("expected an error for:\n{text}"),
        Err(err) => err,
    }
}

/// BASE with the first occurrence of `from` replaced by `to`.
fn edit(from: &str, to: &str) -> String {
    assert!(BASE.contains(from), "BASE has no {from:?}");
    BASE.replacen(from, to, 1)
}

/// BASE with `line` inserted after 1-based line `after`.
fn insert(after: usize, line: &str) -> String {
    let mut lines: Vec<&str> = BASE.lines().collect();
    lines.insert(after, line);
    lines.join("\n") + "\n"
}

/// BASE with both `[[model.layers]]` tables replaced by `line`.
fn without_layers(line: &str) -> String {
    BASE.replacen(
        "[[model.layers]]\nunits = 8\nactivation = \"relu\"\n\n[[model.layers]]\nunits = 3\nactivation = \"softmax\"",
        line,
        1,
    )
}

/// Asserts the error's full rendering.
fn assert_message(text: &str, expected: &str) {
    assert_eq!(err(text).to_string(), expected);
}

/// Asserts the error's line, key and that the message contains `contains`.
fn assert_at(text: &str, line: usize, key: &str, contains: &str) {
    let e = err(text);
    assert_eq!(e.line, Some(line), "{e}");
    assert_eq!(e.key.as_deref(), Some(key), "{e}");
    assert!(e.message.contains(contains), "{e}");
}

// ----- valid configs -----

#[test]
fn issue_example_parses_to_expected_values() {
    let config = match parse(Path::new("fixtures/configs/seed.toml"), ISSUE_EXAMPLE) {
        Ok(config) => config,
        Err(err) => panic!("{err}"),
    };
    let base = Path::new("fixtures/configs");
    assert_eq!(config.name, "seed");
    assert_eq!(config.seed, 42);
    assert_eq!(config.source, ISSUE_EXAMPLE);
    assert_eq!(config.path, Path::new("fixtures/configs/seed.toml"));
    assert_eq!(
        config.data.spec,
        DataSpec::Idx {
            train_images: base.join("../data/mnist/train-images-idx3-ubyte.gz"),
            train_labels: base.join("../data/mnist/train-labels-idx1-ubyte.gz"),
            test_images: Some(base.join("../data/mnist/t10k-images-idx3-ubyte.gz")),
            test_labels: Some(base.join("../data/mnist/t10k-labels-idx1-ubyte.gz")),
        }
    );
    assert_eq!(config.data.scale, Scale::Unit);
    assert_eq!(config.data.train_limit, Some(2000));
    assert_eq!(
        config.model,
        ModelConfig {
            dtype: DType::F32,
            layers: vec![
                LayerConfig {
                    kind: KindConfig::Dense(DenseConfig { units: 1000 }),
                    units: 1000,
                    activation: Activation::Sigmoid,
                    init: Init::Uniform {
                        low: 0.0,
                        high: 1.0
                    },
                    bias_init: 0.0,
                },
                LayerConfig {
                    kind: KindConfig::Dense(DenseConfig { units: 10 }),
                    units: 10,
                    activation: Activation::Softmax,
                    init: Init::XavierUniform,
                    bias_init: 0.0,
                },
            ],
        }
    );
    assert_eq!(
        config.train,
        TrainConfig {
            loss: LossKind::Mse,
            optimizer: OptimizerConfig::Sgd,
            learning_rate: 0.05,
            weight_decay: 0.0,
            batch_size: 20,
            duration: Duration::Steps(300),
            clip_grad_norm: Some(5.0),
            eval_every: 100,
        }
    );
    assert_eq!(config.monitor, MonitorConfig { every: 1 });
    assert_eq!(
        config.report,
        ReportConfig {
            dir: Some("reports/seed".into())
        }
    );
}

#[test]
fn defaults_fill_optional_keys() {
    let config = ok(BASE);
    assert_eq!(config.name, "bad");
    assert_eq!(config.seed, 0);
    assert_eq!(
        config.data.spec,
        DataSpec::Synthetic {
            generator: Generator::Spirals,
            samples: 1000,
            classes: 3,
            noise: 0.1,
            test_fraction: 0.2,
        }
    );
    assert_eq!(config.data.scale, Scale::None);
    assert_eq!(config.data.train_limit, None);
    assert_eq!(config.model.dtype, DType::F32);
    assert_eq!(config.model.layers[0].init, Init::HeNormal);
    assert_eq!(config.model.layers[1].init, Init::XavierUniform);
    assert_eq!(config.model.layers[0].bias_init, 0.0);
    assert_eq!(config.train.optimizer, OptimizerConfig::Sgd);
    assert_eq!(config.train.clip_grad_norm, None);
    assert_eq!(config.train.eval_every, 100);
    assert_eq!(config.monitor.every, 1);
    assert_eq!(config.report.dir, None);
}

#[test]
fn parameter_defaults_per_choice() {
    let momentum = ok(&insert(15, "optimizer = \"momentum\""));
    assert_eq!(
        momentum.train.optimizer,
        OptimizerConfig::Momentum { momentum: 0.9 }
    );
    let adam = ok(&insert(15, "optimizer = \"adam\"\nbeta2 = 0.99"));
    assert_eq!(
        adam.train.optimizer,
        OptimizerConfig::Adam {
            beta1: 0.9,
            beta2: 0.99,
            eps: 1e-8
        }
    );
    let uniform = ok(&insert(8, "init = \"uniform\""));
    assert_eq!(
        uniform.model.layers[0].init,
        Init::Uniform {
            low: -0.05,
            high: 0.05
        }
    );
    let normal = ok(&insert(8, "init = \"normal\""));
    assert_eq!(normal.model.layers[0].init, Init::Normal { std: 0.01 });
    let normal = ok(&insert(8, "init = \"normal\"\ninit_std = 1"));
    assert_eq!(normal.model.layers[0].init, Init::Normal { std: 1.0 });
    let xor = ok(&edit("\"spirals\"", "\"xor\""));
    assert!(matches!(
        xor.data.spec,
        DataSpec::Synthetic { classes: 2, .. }
    ));
}

#[test]
fn steps_win_over_epochs_and_epochs_alone_work() {
    let both = ok(&insert(18, "epochs = 3"));
    assert_eq!(both.train.duration, Duration::Steps(10));
    let epochs = ok(&edit("steps = 10", "epochs = 3"));
    assert_eq!(epochs.train.duration, Duration::Epochs(3));
}

#[test]
fn integer_forms_and_integers_for_floats_are_accepted() {
    let config = ok(&format!(
        "seed = 0xff\n{}",
        edit("steps = 10", "steps = 1_000")
    ));
    assert_eq!(config.seed, 255);
    assert_eq!(config.train.duration, Duration::Steps(1000));
    let config = ok(&edit("learning_rate = 0.1", "learning_rate = 1"));
    assert_eq!(config.train.learning_rate, 1.0);
}

#[test]
fn csv_source_and_absolute_paths() {
    let text = BASE.replacen(
        "source = \"synthetic\"\ngenerator = \"spirals\"",
        "source = \"csv\"\ntrain = \"/abs/train.csv\"\ntest = \"t.csv\"",
        1,
    );
    let config = match parse(Path::new("dir/c.toml"), &text) {
        Ok(config) => config,
        Err(err) => panic!("{err}"),
    };
    assert_eq!(
        config.data.spec,
        DataSpec::Csv {
            train: "/abs/train.csv".into(),
            test: Some("dir/t.csv".into()),
            label_column: None,
            target_columns: None,
        }
    );
}

#[test]
fn inline_layers_are_accepted() {
    let config = ok(&without_layers(
        "layers = [{ units = 4, activation = \"tanh\" }, { units = 3, activation = \"softmax\" }]",
    ));
    assert_eq!(config.model.layers.len(), 2);
    assert_eq!(config.model.layers[0].units, 4);
}

#[test]
fn starter_parses_and_validates() {
    let config = match parse(Path::new("nn-doctor.toml"), starter::STARTER) {
        Ok(config) => config,
        Err(err) => panic!("{err}"),
    };
    assert_eq!(config.name, "starter");
    assert!(matches!(
        config.data.spec,
        DataSpec::Synthetic {
            generator: Generator::Spirals,
            classes: 3,
            ..
        }
    ));
    assert_eq!(config.model.layers.len(), 3);
    assert_eq!(config.model.layers[2].activation, Activation::Softmax);
    assert_eq!(config.model.layers[2].units, 3);
    assert_eq!(config.train.loss, LossKind::CrossEntropy);
    assert!(matches!(
        config.train.optimizer,
        OptimizerConfig::Adam { .. }
    ));
}

/// The starter's commented-out layer blocks: each starts at a
/// `# [[model.layers]]` line and runs to the next line that is only "#".
fn starter_layer_blocks() -> Vec<(usize, usize)> {
    let lines: Vec<&str> = starter::STARTER.lines().collect();
    let mut blocks = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        if *l == "# [[model.layers]]" {
            let end = (i..lines.len())
                .find(|&j| lines[j] == "#" || lines[j].is_empty())
                .unwrap_or(lines.len());
            blocks.push((i, end));
        }
    }
    blocks
}

/// The starter with lines `from..to` uncommented and, when given, the
/// block's `kind` line set to `kind`.
fn starter_with_block((from, to): (usize, usize), kind: Option<&str>) -> String {
    let mut out = String::new();
    for (i, l) in starter::STARTER.lines().enumerate() {
        let line = if (from..to).contains(&i) {
            let l = l.strip_prefix("# ").unwrap_or(l);
            match kind {
                Some(k) if l.starts_with("kind = ") => format!("kind = \"{k}\""),
                _ => l.to_string(),
            }
        } else {
            l.to_string()
        };
        out.push_str(&line);
        out.push('\n');
    }
    out
}

#[test]
fn starter_documents_every_layer_kind_and_each_block_validates() {
    // A new user found the starter documented dense layers only. Truth for
    // "every kind": the layer registry's names, the list the validator accepts.
    let blocks = starter_layer_blocks();
    assert!(blocks.len() >= 6, "{blocks:?}");
    let text = starter::STARTER;
    for name in crate::engine::layers::registry::names() {
        assert!(
            text.contains(&format!("\"{name}\"")),
            "kind {name:?} is not documented"
        );
        if name == "dense" {
            continue; // the default kind: the uncommented layers are dense
        }
        // The block whose kind line names this kind, uncommented with it.
        let block = blocks
            .iter()
            .copied()
            .find(|&(from, to)| {
                text.lines()
                    .skip(from)
                    .take(to - from)
                    .any(|l| l.starts_with("# kind = ") && l.contains(&format!("\"{name}\"")))
            })
            .unwrap_or_else(|| panic!("no layer block for kind {name:?}"));
        let edited = starter_with_block(block, Some(name));
        let config = match parse(Path::new("nn-doctor.toml"), &edited) {
            Ok(c) => c,
            Err(e) => panic!("kind {name}: {e}\n{edited}"),
        };
        assert_eq!(config.model.layers.len(), 4, "kind {name}");
        assert_eq!(config.model.layers[2].kind.name(), name);
    }
}

#[test]
fn starter_validates_with_every_optimizer_and_its_own_keys() {
    // Issue (new user): the starter set beta1/beta2/eps uncommented, so
    // `optimizer = "sgd"` failed on an Adam-only key. Truth for "every
    // optimizer" and its keys: the validator's OPTIMIZERS and
    // OPTIMIZER_KEYS tables.
    let line = "optimizer = \"adam\"";
    assert!(starter::STARTER.contains(line));
    for (name, _) in super::validate::OPTIMIZERS {
        let switched = starter::STARTER.replacen(line, &format!("optimizer = \"{name}\""), 1);
        if let Err(e) = parse(Path::new("nn-doctor.toml"), &switched) {
            panic!("optimizer = {name:?}: {e}");
        }
        // Its own keys, uncommented, are accepted too.
        let own = super::validate::OPTIMIZER_KEYS
            .iter()
            .find(|(o, _)| o == name)
            .map_or(&[][..], |(_, keys)| *keys);
        // Only in [train]: batch_norm's block has a `momentum` key too.
        let at = switched.find("\n[train]").expect("a [train] table");
        let (head, mut train) = (&switched[..at], switched[at..].to_string());
        for key in own {
            let commented = format!("\n# {key} = ");
            assert!(train.contains(&commented), "{key} is not documented");
            train = train.replacen(&commented, &format!("\n{key} = "), 1);
        }
        let text = format!("{head}{train}");
        if let Err(e) = parse(Path::new("nn-doctor.toml"), &text) {
            panic!("optimizer = {name:?} with {own:?}: {e}");
        }
    }
}

#[test]
fn starter_does_not_restrict_softmax_to_the_last_layer() {
    // The validator accepts a hidden softmax (it is diagnosed, not
    // refused: validate::activation), so the starter must not say
    // "last layer only".
    let hidden = BASE.replacen("activation = \"relu\"", "activation = \"softmax\"", 1);
    assert!(parse(Path::new("bad.toml"), &hidden).is_ok());
    assert!(!starter::STARTER.contains("last layer only"));
}

#[test]
fn load_reads_files_and_resolves_paths_against_their_directory() {
    let dir = match tempfile::tempdir() {
        Ok(dir) => dir,
        Err(err) => panic!("{err}"),
    };
    let path = dir.path().join("run.toml");
    let text = BASE.replacen(
        "source = \"synthetic\"\ngenerator = \"spirals\"",
        "source = \"csv\"\ntrain = \"train.csv\"",
        1,
    );
    if let Err(err) = std::fs::write(&path, text) {
        panic!("{err}");
    }
    let config = match load(&path) {
        Ok(config) => config,
        Err(err) => panic!("{err}"),
    };
    assert_eq!(config.name, "run");
    assert!(
        matches!(config.data.spec, DataSpec::Csv { ref train, .. } if *train == dir.path().join("train.csv"))
    );
}

// ----- errors -----

#[test]
fn missing_file_is_reported_without_a_line() {
    let Err(e) = load(Path::new("/nonexistent/dir/nope.toml")) else {
        panic!("loaded a missing file");
    };
    assert_eq!(e.line, None);
    assert_eq!(e.key, None);
    assert!(e.message.contains("cannot read config file"), "{e}");
    assert!(
        e.to_string()
            .starts_with("/nonexistent/dir/nope.toml: cannot read"),
        "{e}"
    );
}

#[test]
fn syntax_errors_have_their_line() {
    let e = err(&edit("batch_size = 16", "batch_size = "));
    assert_eq!(e.line, Some(17), "{e}");
    assert_eq!(e.key.as_deref(), Some("train.batch_size"), "{e}");
    assert!(e.message.starts_with("invalid TOML"), "{e}");
    let e = err(&edit("[train]", "[train"));
    assert_eq!(e.line, Some(14), "{e}");
    let e = err(&insert(17, "batch_size = 3"));
    assert_eq!(e.line, Some(18), "{e}");
    assert!(e.message.contains("duplicate key"), "{e}");
}

#[test]
fn unknown_key_at_top_level() {
    assert_message(
        &format!("seeed = 1\n{BASE}"),
        "bad.toml:1:1: `seeed`: unknown key; did you mean \"seed\"? (expected one of: name, seed, data, model, train, monitor, report, gradcheck, thresholds)",
    );
    assert_at(
        &format!("{BASE}[gradchecks]\neps = 1\n"),
        19,
        "gradchecks",
        "unknown key",
    );
}

#[test]
fn unknown_key_in_each_table() {
    assert_message(
        &insert(15, "lerning_rate = 0.1"),
        "bad.toml:16:1: `train.lerning_rate`: unknown key; did you mean \"learning_rate\"? (expected one of: loss, optimizer, momentum, beta1, beta2, eps, alpha, lr_decay, weight_decay, huber_delta, learning_rate, batch_size, steps, epochs, clip_grad_norm, eval_every)",
    );
    assert_at(
        &insert(2, "sorce = \"idx\""),
        3,
        "data.sorce",
        "expected one of: source,",
    );
    assert_at(
        &insert(5, "dtyp = \"f32\""),
        6,
        "model.dtyp",
        "expected one of: dtype, layers",
    );
    assert_at(
        &insert(11, "unit = 3"),
        12,
        "model.layers[2].unit",
        "expected one of: units, activation,",
    );
    assert_at(
        &format!("{BASE}[monitor]\nevery = 1\nevrey = 2\n"),
        21,
        "monitor.evrey",
        "expected one of: every",
    );
    assert_at(
        &format!("{BASE}[report]\ndirectory = \"x\"\n"),
        20,
        "report.directory",
        "expected one of: dir",
    );
}

#[test]
fn unknown_keys_and_kinds_suggest_the_closest_name() {
    // Issue (new user): a typo got the whole key list but no hint. The
    // candidates are the validator's own key lists (validate::*_KEYS).
    let top = format!("seeed = 1\n{BASE}");
    assert_message(
        &top,
        "bad.toml:1:1: `seeed`: unknown key; did you mean \"seed\"? (expected one of: name, seed, data, model, train, monitor, report, gradcheck, thresholds)",
    );
    let train = edit("learning_rate = 0.1", "learning_rat = 0.1");
    let e = err(&train).to_string();
    assert!(
        e.starts_with(
            "bad.toml:16:1: `train.learning_rat`: unknown key; did you mean \"learning_rate\"?"
        ),
        "{e}"
    );
    let layer = edit("units = 8", "unitz = 8");
    let e = err(&layer).to_string();
    assert!(
        e.starts_with(
            "bad.toml:7:1: `model.layers[1].unitz`: unknown key; did you mean \"units\"?"
        ),
        "{e}"
    );
    let kind = edit("units = 8", "kind = \"dropuot\"\nrate = 0.1");
    let e = err(&kind).to_string();
    assert!(
        e.contains("unknown value \"dropuot\"; did you mean \"dropout\"?"),
        "{e}"
    );
    let pool = edit("units = 8", "kind = \"maxpool2d\"\nsize = 2");
    let e = err(&pool).to_string();
    assert!(e.contains("did you mean \"max_pool2d\"?"), "{e}");
    // No hint for a word that is not a near miss.
    let far = edit("learning_rate = 0.1", "learning_rate = 0.1\nwarmup = 3");
    assert!(!err(&far).to_string().contains("did you mean"));
}

#[test]
fn unknown_keys_are_reported_in_file_order() {
    let text = insert(15, "zzz = 1\naaa = 2");
    assert_at(&text, 16, "train.zzz", "unknown key");
}

#[test]
fn wrong_types_say_what_was_expected() {
    assert_message(
        &edit("batch_size = 16", "batch_size = 2.5"),
        "bad.toml:17:14: `train.batch_size`: expected an integer >= 1, found float 2.5",
    );
    assert_message(
        &edit("units = 8", "units = -3"),
        "bad.toml:7:9: `model.layers[1].units`: must be at least 1, found -3",
    );
    assert_at(
        &edit("learning_rate = 0.1", "learning_rate = \"fast\""),
        16,
        "train.learning_rate",
        "expected a number, found string \"fast\"",
    );
    assert_at(
        &edit("activation = \"relu\"", "activation = 3"),
        8,
        "model.layers[1].activation",
        "expected one of \"sigmoid\", \"tanh\"",
    );
    assert_at(
        &format!("seed = -1\n{BASE}"),
        1,
        "seed",
        "must be at least 0, found -1",
    );
    assert_at(
        &format!("name = 5\n{BASE}"),
        1,
        "name",
        "expected a string, found integer 5",
    );
    assert_at(
        &format!("name = \" \"\n{BASE}"),
        1,
        "name",
        "must not be empty",
    );
    assert_at(
        &format!("monitor = 5\n{BASE}"),
        1,
        "monitor",
        "expected a table [monitor], found integer 5",
    );
    assert_at(
        &edit(
            "steps = 10",
            "steps = 99999999999999999999999999999999999999999",
        ),
        18,
        "train.steps",
        "out of range",
    );
    assert_at(
        &without_layers("layers = 4"),
        6,
        "model.layers",
        "expected an array of tables",
    );
    assert_at(
        &without_layers("layers = [1]"),
        6,
        "model.layers[1]",
        "expected a table, found an integer",
    );
}

#[test]
fn unknown_enum_value_lists_the_choices() {
    let text = insert(3, "scale = \"unitt\"");
    assert_message(
        &text,
        "bad.toml:4:9: `data.scale`: unknown value \"unitt\"; did you mean \"unit\"? (expected one of \"none\", \"unit\", \"standardize\")",
    );
}

#[test]
fn out_of_range_values() {
    assert_message(
        &edit("units = 8", "units = 0"),
        "bad.toml:7:9: `model.layers[1].units`: must be at least 1, found 0",
    );
    assert_message(
        &edit("learning_rate = 0.1", "learning_rate = -0.1"),
        "bad.toml:16:17: `train.learning_rate`: must be a positive finite number, found -0.1",
    );
    assert_at(
        &edit("learning_rate = 0.1", "learning_rate = inf"),
        16,
        "train.learning_rate",
        "positive finite",
    );
    assert_at(
        &edit("batch_size = 16", "batch_size = 0"),
        17,
        "train.batch_size",
        "must be at least 1, found 0",
    );
    assert_at(
        &insert(15, "optimizer = \"adam\"\nbeta1 = 1.0"),
        17,
        "train.beta1",
        "must be a number in [0, 1), found 1.0",
    );
    assert_at(
        &insert(15, "optimizer = \"adam\"\neps = 0"),
        17,
        "train.eps",
        "positive",
    );
    assert_at(
        &insert(15, "optimizer = \"momentum\"\nmomentum = 1.5"),
        17,
        "train.momentum",
        "[0, 1)",
    );
    assert_at(
        &insert(15, "clip_grad_norm = 0"),
        16,
        "train.clip_grad_norm",
        "positive",
    );
    assert_at(
        &insert(3, "noise = nan"),
        4,
        "data.noise",
        "finite number >= 0",
    );
    assert_at(
        &insert(3, "test_fraction = 1.0"),
        4,
        "data.test_fraction",
        "[0, 1)",
    );
    assert_at(&insert(3, "samples = 1"), 4, "data.samples", "at least 2");
    assert_at(&insert(3, "classes = 1"), 4, "data.classes", "at least 2");
    assert_at(
        &insert(3, "train_limit = 0"),
        4,
        "data.train_limit",
        "at least 1",
    );
    assert_at(
        &format!("{BASE}[monitor]\nevery = 0\n"),
        20,
        "monitor.every",
        "at least 1",
    );
    assert_at(
        &insert(8, "bias_init = inf"),
        9,
        "model.layers[1].bias_init",
        "finite",
    );
}

#[test]
fn xor_needs_two_classes() {
    let text = edit(
        "generator = \"spirals\"",
        "generator = \"xor\"\nclasses = 3",
    );
    assert_at(&text, 4, "data.classes", "exactly 2 classes, found 3");
}

#[test]
fn init_low_must_be_below_init_high() {
    let text = insert(8, "init = \"uniform\"\ninit_low = 1.0\ninit_high = 1.0");
    assert_message(
        &text,
        "bad.toml:10:12: `model.layers[1].init_low`: must be less than init_high (1.0), found 1.0",
    );
    let text = insert(8, "init = \"uniform\"\ninit_high = -1");
    assert_at(
        &text,
        10,
        "model.layers[1].init_high",
        "must be greater than init_low (-0.05 by default), found -1",
    );
}

#[test]
fn softmax_on_a_hidden_layer_is_accepted_and_left_to_the_diagnosis() {
    // Issue 10: a hidden softmax is a mistake to diagnose (`hidden-softmax`),
    // not bad input.
    let cfg = ok(&edit("activation = \"relu\"", "activation = \"softmax\""));
    assert_eq!(
        cfg.model.layers[0].activation,
        crate::engine::activation::Activation::Softmax
    );
}

#[test]
fn missing_required_tables_and_keys() {
    let without_train = &BASE[..BASE.find("[train]").unwrap_or(0)];
    assert_message(without_train, "bad.toml: missing required table [train]");
    assert_message(&BASE.replacen("[data]", "[dataa]", 1), "bad.toml:1:1: `dataa`: unknown key; did you mean \"data\"? (expected one of: name, seed, data, model, train, monitor, report, gradcheck, thresholds)");
    assert_message(
        &edit("loss = \"cross_entropy\"", ""),
        "bad.toml:14:1: `[train]`: missing required key `loss`",
    );
    assert_message(
        &edit("units = 3", ""),
        "bad.toml:10:1: `model.layers[2]`: missing required key `units`",
    );
    assert_at(
        &edit("source = \"synthetic\"", ""),
        1,
        "[data]",
        "missing required key `source`",
    );
    assert_at(
        &edit("generator = \"spirals\"", ""),
        1,
        "[data]",
        "missing required key `generator`",
    );
    assert_at(
        &edit("steps = 10", ""),
        14,
        "[train]",
        "missing required key `steps` (or `epochs`)",
    );
    assert_at(
        &edit("batch_size = 16", ""),
        14,
        "[train]",
        "missing required key `batch_size`",
    );
    assert_at(
        &without_layers("dtype = \"f64\""),
        5,
        "[model]",
        "missing required key `layers`",
    );
    assert_at(
        &without_layers("layers = []"),
        6,
        "model.layers",
        "at least one layer",
    );
}

#[test]
fn idx_requires_its_files_and_both_test_keys() {
    let idx = BASE.replacen(
        "source = \"synthetic\"\ngenerator = \"spirals\"",
        "source = \"idx\"\ntrain_images = \"a\"\ntrain_labels = \"b\"",
        1,
    );
    assert!(
        ok(&idx).data.spec
            != DataSpec::Csv {
                train: "".into(),
                test: None,
                label_column: None,
                target_columns: None,
            }
    );
    assert_at(
        &idx.replacen("train_labels = \"b\"", "", 1),
        1,
        "[data]",
        "missing required key `train_labels`",
    );
    let half = idx.replacen(
        "train_labels = \"b\"",
        "train_labels = \"b\"\ntest_labels = \"c\"",
        1,
    );
    assert_at(
        &half,
        5,
        "data.test_labels",
        "needs `data.test_images` as well",
    );
    assert_at(
        &idx.replacen("\"a\"", "\"\"", 1),
        3,
        "data.train_images",
        "must not be empty",
    );
}

#[test]
fn key_of_another_source() {
    let text = edit("source = \"synthetic\"", "source = \"idx\"");
    assert_message(
        &text,
        "bad.toml:3:1: `data.generator`: applies only to source = \"synthetic\"; this config has source = \"idx\"",
    );
    assert_at(
        &insert(3, "label_column = \"y\""),
        4,
        "data.label_column",
        "applies only to source = \"csv\"",
    );
}

#[test]
fn cross_entropy_on_any_output_is_accepted_and_diagnosed_later() {
    // A real but wrong network: it trains (on clipped outputs) and gets
    // `output-loss-mismatch`, instead of exit 2.
    ok(&edit("activation = \"softmax\"", "activation = \"linear\""));
    ok(
        &edit("activation = \"softmax\"", "activation = \"relu\"").replacen(
            "\"cross_entropy\"",
            "\"binary_cross_entropy\"",
            1,
        ),
    );
    ok(&edit(
        "activation = \"softmax\"",
        "activation = \"sigmoid\"",
    ));
    ok(
        &edit("activation = \"softmax\"", "activation = \"linear\"").replacen(
            "\"cross_entropy\"",
            "\"mse\"",
            1,
        ),
    );
}

#[test]
fn optimizer_and_init_specific_keys_need_their_choice() {
    assert_message(
        &insert(15, "beta1 = 0.9"),
        "bad.toml:16:1: `train.beta1`: applies only to optimizer = \"adam\"; this config has optimizer = \"sgd\"",
    );
    assert_at(
        &insert(15, "optimizer = \"adam\"\nmomentum = 0.9"),
        17,
        "train.momentum",
        "applies only to optimizer = \"momentum\"",
    );
    assert_at(
        &insert(8, "init = \"uniform\"\ninit_std = 0.1"),
        10,
        "model.layers[1].init_std",
        "applies only to init = \"normal\"; this config has init = \"uniform\"",
    );
    assert_at(
        &insert(8, "init_low = 0.1"),
        9,
        "model.layers[1].init_low",
        "this config has init = \"he_normal\"",
    );
}

// ----- error_at and rendering -----

#[test]
fn error_at_points_at_present_keys_and_headers() {
    let config = ok(BASE);
    let e = config.error_at("train.batch_size", "16 is more than the 10 samples");
    assert_eq!(
        e.to_string(),
        "bad.toml:17:14: `train.batch_size`: 16 is more than the 10 samples"
    );
    let e = config.error_at("model.layers[2].units", "3 outputs but 4 classes");
    assert_eq!((e.line, e.column), (Some(11), Some(9)));
    // Absent key: its table's header.
    let e = config.error_at("train.clip_grad_norm", "gradients exploded");
    assert_eq!((e.line, e.column), (Some(14), Some(1)));
    let e = config.error_at("model.layers[1].init", "saturated");
    assert_eq!(e.line, Some(6));
}

#[test]
fn error_at_absent_key_and_table_has_no_line() {
    let config = ok(BASE);
    let e = config.error_at("monitor.every", "too slow");
    assert_eq!((e.line, e.column), (None, None));
    assert_eq!(e.to_string(), "bad.toml: `monitor.every`: too slow");
    assert_eq!(config.error_at("seed", "x").line, None);
    assert_eq!(config.error_at("model.layers[9].units", "x").line, None);
    assert_eq!(config.error_at("not a path[", "x").line, None);
}

// ----- robustness -----

/// Deterministic xorshift generator: mutations without a new dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Fragments that tend to produce interesting (almost valid) TOML.
const FRAGMENTS: &[&str] = &[
    "[",
    "]",
    "[[",
    "]]",
    "=",
    "\"",
    "'",
    ".",
    ",",
    "{",
    "}",
    "\n",
    "#",
    "-",
    "0",
    "1e999",
    "nan",
    "-1",
    "2.5",
    "true",
    "é",
    "\\",
    "\"\"\"",
    "[train]",
    "[[model.layers]]",
    "units = 0",
    "activation = \"softmax\"",
    "x.y = 1",
    "1979-05-27",
    "0x",
    "_",
    "steps = 1e3",
];

/// One random edit of `text`, always cutting at character boundaries.
fn mutate(text: &str, rng: &mut Rng) -> String {
    let boundaries: Vec<usize> = text
        .char_indices()
        .map(|(i, _)| i)
        .chain([text.len()])
        .collect();
    let at = boundaries[rng.below(boundaries.len())];
    let fragment = FRAGMENTS[rng.below(FRAGMENTS.len())];
    match rng.below(5) {
        0 => text[..at].to_string(),
        1 => {
            let end = boundaries.iter().copied().find(|&b| b > at).unwrap_or(at);
            format!("{}{}", &text[..at], &text[end..])
        }
        2 => format!("{}{fragment}{}", &text[..at], &text[at..]),
        3 => {
            let lines: Vec<&str> = text.lines().collect();
            let mut out = lines.clone();
            out.swap(rng.below(lines.len()), rng.below(lines.len()));
            out.join("\n")
        }
        _ => {
            let lines: Vec<&str> = text.lines().collect();
            let mut out = lines.clone();
            out.remove(rng.below(lines.len()).min(out.len().saturating_sub(1)));
            out.join("\n")
        }
    }
}

#[test]
fn mutated_configs_never_panic() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let bases = [BASE, ISSUE_EXAMPLE, starter::STARTER];
    let mut rejected = 0;
    for round in 0..600 {
        let mut text = bases[round % bases.len()].to_string();
        for _ in 0..1 + rng.below(3) {
            text = mutate(&text, &mut rng);
        }
        match parse(Path::new("m.toml"), &text) {
            Ok(config) => {
                let _ = config.error_at("train.batch_size", "x").to_string();
                let _ = config.error_at("model.layers[1].units", "x").to_string();
            }
            Err(e) => {
                rejected += 1;
                assert!(!e.to_string().is_empty());
            }
        }
    }
    assert!(
        rejected > 100,
        "mutations should mostly break configs, {rejected} did"
    );
}

#[test]
fn display_drops_absent_parts() {
    let e = ConfigError {
        file: "a.toml".into(),
        line: Some(3),
        column: Some(7),
        key: Some("train.steps".into()),
        message: "must be at least 1, found 0".into(),
    };
    assert_eq!(
        e.to_string(),
        "a.toml:3:7: `train.steps`: must be at least 1, found 0"
    );
    let e = ConfigError {
        line: None,
        column: None,
        key: None,
        ..e
    };
    assert_eq!(e.to_string(), "a.toml: must be at least 1, found 0");
}

#[test]
fn gradcheck_table_defaults_and_values() {
    let d = ok(BASE).gradcheck;
    assert_eq!(d, GradcheckConfig::default());
    assert_eq!(d.at, vec![CheckPoint::Init, CheckPoint::End]);
    let text =
        format!("{BASE}\n[gradcheck]\nat = [\"init\", 50, \"end\"]\nbatch = 8\nepsilon = 1e-5\n");
    let g = ok(&text).gradcheck;
    assert_eq!(
        g.at,
        vec![CheckPoint::Init, CheckPoint::Step(50), CheckPoint::End]
    );
    assert_eq!((g.batch, g.epsilon), (8, 1e-5));
}

#[test]
fn gradcheck_table_errors_name_the_element() {
    let text = format!("{BASE}\n[gradcheck]\nat = [\"init\", \"middle\"]\n");
    let e = err(&text);
    assert_eq!(e.key.as_deref(), Some("gradcheck.at[2]"), "{e}");
    assert!(e.to_string().contains("\"middle\""), "{e}");
    let e = err(&format!("{BASE}\n[gradcheck]\nrtol = -1\n"));
    assert_eq!(e.key.as_deref(), Some("gradcheck.rtol"), "{e}");
    let e = err(&format!("{BASE}\n[gradcheck]\nsteps = 3\n"));
    assert!(e.to_string().contains("unknown key"), "{e}");
}

#[test]
fn thresholds_table_overrides_by_name() {
    let c = ok(&format!(
        "{BASE}\n[thresholds]\nsaturation_warning = 0.7\nwindow_max = 40\n"
    ));
    // In the order of `NAMES`, whatever the file order.
    assert_eq!(
        c.thresholds,
        vec![
            ("window_max".to_string(), 40.0),
            ("saturation_warning".to_string(), 0.7)
        ]
    );
    let e = err(&format!("{BASE}\n[thresholds]\nsaturation = 0.7\n"));
    assert!(
        e.to_string().contains("unknown key") && e.to_string().contains("saturation_warning"),
        "{e}"
    );
    let e = err(&format!("{BASE}\n[thresholds]\nplateau_p = -1\n"));
    assert_eq!(e.key.as_deref(), Some("thresholds.plateau_p"));
}

#[test]
fn new_optimizers_losses_and_weight_decay() {
    // Defaults are PyTorch's (torch.optim docs).
    let rms = ok(&insert(15, "optimizer = \"rmsprop\"\neps = 1e-6"));
    assert_eq!(
        rms.train.optimizer,
        OptimizerConfig::Rmsprop {
            alpha: 0.99,
            eps: 1e-6
        }
    );
    let ada = ok(&insert(15, "optimizer = \"adagrad\"\nweight_decay = 0.01"));
    assert_eq!(
        ada.train.optimizer,
        OptimizerConfig::Adagrad {
            lr_decay: 0.0,
            eps: 1e-10
        }
    );
    assert_eq!(ada.train.weight_decay, 0.01);
    let max = ok(&insert(15, "optimizer = \"adamax\"\nbeta1 = 0.8"));
    assert_eq!(
        max.train.optimizer,
        OptimizerConfig::Adamax {
            beta1: 0.8,
            beta2: 0.999,
            eps: 1e-8
        }
    );
    assert_eq!(max.train.weight_decay, 0.0);
    // eps is shared by four optimizers; alpha is RMSprop's alone.
    assert_at(
        &insert(15, "optimizer = \"adagrad\"\nalpha = 0.9"),
        17,
        "train.alpha",
        "applies only to optimizer = \"rmsprop\"",
    );
    assert_at(
        &insert(15, "weight_decay = -1"),
        16,
        "train.weight_decay",
        "",
    );
    let huber = edit(
        "loss = \"cross_entropy\"",
        "loss = \"huber\"\nhuber_delta = 0.5",
    );
    assert_eq!(ok(&huber).train.loss, LossKind::Huber { delta: 0.5 });
    let mae = edit("loss = \"cross_entropy\"", "loss = \"mae\"");
    assert_eq!(ok(&mae).train.loss, LossKind::Mae);
    assert_at(
        &insert(15, "huber_delta = 2"),
        16,
        "train.huber_delta",
        "applies only to loss = \"huber\"",
    );
}

// ----- layer kinds -----

#[test]
fn layer_kinds_parse_with_their_defaults() {
    let cfg = ok(&edit(
        "[[model.layers]]\nunits = 8\nactivation = \"relu\"",
        "[[model.layers]]\nkind = \"conv2d\"\nfilters = 4\nkernel = [3, 2]\npadding = \"same\"\nactivation = \"relu\"\n\n[[model.layers]]\nkind = \"max_pool2d\"\nsize = 2\n\n[[model.layers]]\nkind = \"batch_norm\"\n\n[[model.layers]]\nkind = \"dropout\"\nrate = 0.25\n\n[[model.layers]]\nkind = \"flatten\"",
    ));
    let kinds: Vec<KindConfig> = cfg.model.layers.iter().map(|l| l.kind).collect();
    assert_eq!(
        kinds,
        vec![
            KindConfig::Conv2d(Conv2dConfig {
                filters: 4,
                kernel: (3, 2),
                stride: 1,
                padding: Padding::Same
            }),
            KindConfig::Pool2d(Pool2dConfig {
                pool: PoolKind::Max,
                size: 2,
                stride: 2
            }),
            KindConfig::BatchNorm(BatchNormConfig {
                momentum: 0.1,
                eps: 1e-5
            }),
            KindConfig::Dropout(DropoutConfig { rate: 0.25 }),
            KindConfig::Flatten(FlattenConfig),
            KindConfig::Dense(DenseConfig { units: 3 }),
        ]
    );
    assert_eq!(cfg.model.layers[1].activation, Activation::Linear);
}

#[test]
fn a_key_of_another_kind_is_refused_at_its_line() {
    let e = err(&edit(
        "units = 8",
        "kind = \"max_pool2d\"\nsize = 2\nunits = 8",
    ));
    assert_eq!(e.line, Some(9), "{e}");
    let text = e.to_string();
    assert!(text.contains("model.layers[1].units"), "{text}");
    assert!(text.contains("applies only to kind = \"dense\""), "{text}");
    let e = err(&edit(
        "units = 8\nactivation = \"relu\"",
        "kind = \"dropout\"\nrate = 1.0",
    ));
    assert!(e.to_string().contains("model.layers[1].rate"), "{e}");
    let e = err(&edit("units = 8", "kind = \"conv\""));
    assert!(e.to_string().contains("model.layers[1].kind"), "{e}");
}

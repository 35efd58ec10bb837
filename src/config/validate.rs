//! Turns the parsed TOML into a `types::Config`. One function per table; each
//! lists the keys its table allows, reads them through `raw`'s typed views and
//! enforces ranges and cross-key rules, so every rule sits next to its key.
//!
//! To add a table (`[gradcheck]`, `[thresholds]`): add its name to
//! `ROOT_KEYS`, write a function like `monitor` (taking `Option<&Table>` when
//! the table is optional) and call it from `config`.

use super::locate;
use super::raw::{Source, Table, Value};
use super::types::{
    CheckPoint, Config, DType, Duration, GradcheckConfig, Init, LayerConfig, LossKind, ModelConfig,
    MonitorConfig, OptimizerConfig, ReportConfig, TrainConfig,
};
use super::ConfigError;
use crate::data::spec::{DataConfig, DataSpec, Generator, Scale, TargetScale, Task};
use crate::engine::layers::{self, Entry, NameOrCount};
use crate::kinds::{Activation, Shape};
use std::mem::discriminant;
use std::path::{Path, PathBuf};
use toml::de::DeTable;

/// Keys allowed at the top level of the file.
const ROOT_KEYS: &[&str] = &[
    "name",
    "seed",
    "data",
    "model",
    "train",
    "monitor",
    "report",
    "gradcheck",
    "thresholds",
];

/// Parses and validates a whole config file.
pub(crate) fn config(path: &Path, text: &str) -> Result<Config, ConfigError> {
    let src = Source { file: path, text };
    let doc = DeTable::parse(text).map_err(|err| syntax_error(src, &err))?;
    let root = Table::root(src, doc.get_ref());
    root.deny_unknown(ROOT_KEYS)?;
    let name = match root.opt("name", run_name)? {
        Some(name) => name.to_string(),
        None => default_name(path),
    };
    let seed = root.opt("seed", |v| v.integer(0))?.unwrap_or(0);
    let data = data(&root.required_table("data")?, path)?;
    let model = model(&root.required_table("model")?)?;
    let train = train(&root.required_table("train")?)?;
    let monitor = monitor(root.table("monitor")?.as_ref())?;
    let report = report(root.table("report")?.as_ref())?;
    let gradcheck = gradcheck(root.table("gradcheck")?.as_ref())?;
    let thresholds = thresholds(root.table("thresholds")?.as_ref())?;
    Ok(Config {
        path: path.to_path_buf(),
        source: text.to_string(),
        name,
        seed,
        data,
        model,
        train,
        monitor,
        report,
        gradcheck,
        thresholds,
    })
}

/// A TOML syntax error, at the position the parser reports.
/// The key is guessed from the line's text (there is no parse tree), so
/// that syntax errors name a key too when the line has a plain one.
fn syntax_error(src: Source<'_>, err: &toml::de::Error) -> ConfigError {
    let span = err.span();
    let key = span.as_ref().and_then(|span| {
        let (line, _) = locate::line_col(src.text, span.start);
        locate::key_at_line(src.text, line)
    });
    src.error(
        span,
        key,
        format!("invalid TOML: {}", err.message().trim_end()),
    )
}

/// `name`: a label that becomes one directory under reports/, so it must
/// be a safe name (`crate::safe_name`): one path component, not hidden.
fn run_name<'a>(v: &Value<'a, '_>) -> Result<&'a str, ConfigError> {
    let s = v.non_empty_string()?;
    crate::safe_name::check(s).map_err(|e| v.error(format!("a name is a label, not a path: {e}")))
}

/// The run's name when the file gives none: the config file's stem.
fn default_name(path: &Path) -> String {
    path.file_stem()
        .and_then(|stem| stem.to_str())
        .filter(|stem| !stem.is_empty())
        .unwrap_or("config")
        .to_string()
}

/// The name a value was chosen by, for messages ("optimizer is \"sgd\"").
/// Compares variants only, so choice tables may carry default parameters.
fn name_of<T>(choices: &[(&'static str, T)], value: &T) -> &'static str {
    choices
        .iter()
        .find(|(_, choice)| discriminant(choice) == discriminant(value))
        .map_or("?", |(name, _)| name)
}

/// Whether `owner` is among the owners of `key`.
fn owns(owners: &[(&str, &[&str])], owner: &str, key: &str) -> bool {
    owners
        .iter()
        .any(|(o, keys)| *o == owner && keys.contains(&key))
}

/// Keys that only make sense for one value of a selector key (`source`,
/// `optimizer`, `init`): the first one present for another value is an error.
fn reject_inapplicable(
    table: &Table<'_, '_>,
    selector: &str,
    current: &str,
    owners: &[(&str, &[&str])],
) -> Result<(), ConfigError> {
    let misplaced = owners
        .iter()
        .filter(|(owner, _)| *owner != current)
        .flat_map(|(owner, keys)| {
            keys.iter()
                .filter(|key| !owns(owners, current, key))
                .filter_map(|key| Some((*owner, table.get(key)?)))
        })
        .min_by_key(|(_, value)| value.key_start());
    match misplaced {
        Some((owner, value)) => Err(value.key_error(format!(
            "applies only to {selector} = \"{owner}\"; this config has {selector} = \"{current}\""
        ))),
        None => Ok(()),
    }
}

// ----- [data] -----

/// Keys allowed in `[data]`, in the order the docs list them.
const DATA_KEYS: &[&str] = &[
    "source",
    "train_images",
    "train_labels",
    "test_images",
    "test_labels",
    "scale",
    "train_limit",
    "train",
    "test",
    "label_column",
    "task",
    "target_columns",
    "scale_targets",
    "generator",
    "samples",
    "classes",
    "noise",
    "test_fraction",
    "input_shape",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SourceKind {
    Idx,
    Csv,
    Synthetic,
}

const SOURCES: &[(&str, SourceKind)] = &[
    ("idx", SourceKind::Idx),
    ("csv", SourceKind::Csv),
    ("synthetic", SourceKind::Synthetic),
];

/// The keys that belong to one source only.
const SOURCE_KEYS: &[(&str, &[&str])] = &[
    (
        "idx",
        &["train_images", "train_labels", "test_images", "test_labels"],
    ),
    (
        "csv",
        &[
            "train",
            "test",
            "label_column",
            "target_columns",
            "input_shape",
        ],
    ),
    (
        "synthetic",
        &["generator", "samples", "classes", "noise", "test_fraction"],
    ),
];

const SCALES: &[(&str, Scale)] = &[
    ("none", Scale::None),
    ("unit", Scale::Unit),
    ("standardize", Scale::Standardize),
];

const GENERATORS: &[(&str, Generator)] = &[
    ("spirals", Generator::Spirals),
    ("blobs", Generator::Blobs),
    ("xor", Generator::Xor),
    ("circles", Generator::Circles),
    ("sine", Generator::Sine),
    ("linear", Generator::Linear),
];

const TASKS: &[(&str, Task)] = &[
    ("classification", Task::Classification),
    ("regression", Task::Regression),
    ("multilabel", Task::Multilabel),
];

const TARGET_SCALES: &[(&str, TargetScale)] = &[
    ("none", TargetScale::None),
    ("standardize", TargetScale::Standardize),
];

/// `[data]`: where the samples come from and how they are scaled.
fn data(table: &Table<'_, '_>, config_path: &Path) -> Result<DataConfig, ConfigError> {
    table.deny_unknown(DATA_KEYS)?;
    let kind = table.req("source", |v| v.choice(SOURCES))?;
    reject_inapplicable(table, "source", name_of(SOURCES, &kind), SOURCE_KEYS)?;
    let base = config_path.parent().unwrap_or(Path::new(""));
    let spec = match kind {
        SourceKind::Idx => idx(table, base)?,
        SourceKind::Csv => csv(table, base)?,
        SourceKind::Synthetic => synthetic(table)?,
    };
    let task = table
        .opt("task", |v| v.choice(TASKS))?
        .unwrap_or(Task::Classification);
    task_keys(table, task)?;
    Ok(DataConfig {
        spec,
        scale: table
            .opt("scale", |v| v.choice(SCALES))?
            .unwrap_or(Scale::None),
        train_limit: table.opt("train_limit", |v| v.count(1))?,
        task,
        scale_targets: table
            .opt("scale_targets", |v| v.choice(TARGET_SCALES))?
            .unwrap_or(TargetScale::None),
        input_shape: table.opt("input_shape", input_shape)?,
    })
}

/// `input_shape = [C, H, W]`: three sizes of at least 1.
fn input_shape(value: &Value<'_, '_>) -> Result<Shape, ConfigError> {
    match value.items()?.as_slice() {
        [c, h, w] => Ok(Shape::Image {
            c: c.count_in(1, MAX_UNITS)?,
            h: h.count_in(1, MAX_UNITS)?,
            w: w.count_in(1, MAX_UNITS)?,
        }),
        _ => Err(value.error(format!(
            "expected [channels, height, width], found {}",
            value.literal()
        ))),
    }
}

/// Keys that belong to one task: `label_column` names a class label,
/// `target_columns` regression or multilabel targets, `scale_targets`
/// continuous ones.
fn task_keys(table: &Table<'_, '_>, task: Task) -> Result<(), ConfigError> {
    let wrong = |key: &str, fits: &str| {
        table.get(key).map(|v| {
            Err(v.key_error(format!(
                "applies to task = {fits}; this config has task = \"{}\"",
                task.name()
            )))
        })
    };
    let check = match task {
        Task::Classification => wrong("target_columns", "\"regression\" or \"multilabel\"")
            .or_else(|| wrong("scale_targets", "\"regression\"")),
        Task::Regression => wrong("label_column", "\"classification\" (use target_columns)"),
        Task::Multilabel => wrong("label_column", "\"classification\" (use target_columns)")
            .or_else(|| wrong("scale_targets", "\"regression\"")),
    };
    check.unwrap_or(Ok(()))
}

/// A data file path; relative ones are taken from the config's directory
/// so that a config keeps working wherever nn-doctor is started from.
fn data_path(value: &Value<'_, '_>, base: &Path) -> Result<PathBuf, ConfigError> {
    let path = Path::new(value.non_empty_string()?);
    Ok(if path.is_absolute() {
        path.to_path_buf()
    } else {
        base.join(path)
    })
}

/// `source = "idx"`: MNIST-style image and label files.
fn idx(table: &Table<'_, '_>, base: &Path) -> Result<DataSpec, ConfigError> {
    let read = |v: &Value<'_, '_>| data_path(v, base);
    let train_images = table.req("train_images", read)?;
    let train_labels = table.req("train_labels", read)?;
    let test_images = table.opt("test_images", read)?;
    let test_labels = table.opt("test_labels", read)?;
    require_pair(table, "test_images", "test_labels")?;
    Ok(DataSpec::Idx {
        train_images,
        train_labels,
        test_images,
        test_labels,
    })
}

/// Two keys that only make sense together: both or neither.
fn require_pair(table: &Table<'_, '_>, a: &str, b: &str) -> Result<(), ConfigError> {
    match (table.get(a), table.get(b)) {
        (Some(present), None) => Err(present.key_error(format!(
            "needs `{}` as well (give both or neither)",
            table.key_path(b)
        ))),
        (None, Some(present)) => Err(present.key_error(format!(
            "needs `{}` as well (give both or neither)",
            table.key_path(a)
        ))),
        _ => Ok(()),
    }
}

/// `source = "csv"`: one row per sample, with a label column.
fn csv(table: &Table<'_, '_>, base: &Path) -> Result<DataSpec, ConfigError> {
    let read = |v: &Value<'_, '_>| data_path(v, base);
    Ok(DataSpec::Csv {
        train: table.req("train", read)?,
        test: table.opt("test", read)?,
        label_column: table
            .opt("label_column", Value::non_empty_string)?
            .map(str::to_string),
        target_columns: table.opt("target_columns", target_columns)?,
    })
}

/// `target_columns = ["y", ...]`: at least one header name, no repeats.
fn target_columns(value: &Value<'_, '_>) -> Result<Vec<String>, ConfigError> {
    let items = value.items()?;
    if items.is_empty() {
        return Err(value.error("expected at least one column name, found []"));
    }
    let mut names: Vec<String> = Vec::new();
    for item in &items {
        let name = item.non_empty_string()?.to_string();
        if names.contains(&name) {
            return Err(item.error(format!("column '{name}' is listed twice")));
        }
        names.push(name);
    }
    Ok(names)
}

/// `source = "synthetic"`: generated 2-D toy problems.
fn synthetic(table: &Table<'_, '_>) -> Result<DataSpec, ConfigError> {
    let generator = table.req("generator", |v| v.choice(GENERATORS))?;
    Ok(DataSpec::Synthetic {
        generator,
        samples: table.opt("samples", |v| v.count(2))?.unwrap_or(1000),
        classes: classes(table, generator)?,
        noise: table.opt("noise", Value::non_negative)?.unwrap_or(0.1),
        test_fraction: table.opt("test_fraction", Value::fraction)?.unwrap_or(0.2),
    })
}

/// Number of classes: xor is a two-class problem by construction.
fn classes(table: &Table<'_, '_>, generator: Generator) -> Result<usize, ConfigError> {
    let Some(value) = table.get("classes") else {
        return Ok(if generator == Generator::Xor { 2 } else { 3 });
    };
    let classes = value.count(2)?;
    if generator == Generator::Xor && classes != 2 {
        return Err(value.error(format!(
            "generator \"xor\" makes exactly 2 classes, found {classes}"
        )));
    }
    Ok(classes)
}

// ----- [model] -----

const MODEL_KEYS: &[&str] = &["dtype", "layers"];

/// Keys of the kinds with weights, besides their own.
const WEIGHT_KEYS: &[&str] = &[
    "activation",
    "init",
    "init_low",
    "init_high",
    "init_std",
    "bias_init",
];

/// Every key a layer entry may have: the kinds' own keys in registration
/// order, with the weight keys and `kind` after the first kind's (so that
/// messages list `units, activation, init, ..., kind, filters, ...`).
fn layer_keys() -> Vec<&'static str> {
    let mut keys: Vec<&'static str> = Vec::new();
    for (i, kind) in layers::KINDS.iter().enumerate() {
        let own = kind.keys.iter().copied();
        let shared = WEIGHT_KEYS.iter().copied().chain(["kind"]);
        for key in own.chain(shared.filter(|_| i == 0)) {
            if !keys.contains(&key) {
                keys.push(key);
            }
        }
    }
    keys
}

/// The keys a layer kind takes (besides `kind`).
fn kind_keys(kind: &str) -> Vec<&'static str> {
    let Some(info) = layers::registry::info(kind) else {
        return Vec::new();
    };
    let mut keys = info.keys.to_vec();
    if info.weights {
        keys.extend_from_slice(WEIGHT_KEYS);
    }
    keys
}

const DTYPES: &[(&str, DType)] = &[("f32", DType::F32), ("f64", DType::F64)];

/// Initialisers, carrying the default parameters of the parametrised ones.
const INITS: &[(&str, Init)] = &[
    ("xavier_uniform", Init::XavierUniform),
    ("xavier_normal", Init::XavierNormal),
    ("he_uniform", Init::HeUniform),
    ("he_normal", Init::HeNormal),
    ("normal", Init::Normal { std: 0.01 }),
    (
        "uniform",
        Init::Uniform {
            low: -0.05,
            high: 0.05,
        },
    ),
    ("zeros", Init::Zeros),
];

/// The keys that belong to one initialiser only.
const INIT_KEYS: &[(&str, &[&str])] = &[
    ("uniform", &["init_low", "init_high"]),
    ("normal", &["init_std"]),
];

/// `[model]`: precision and the layer stack.
fn model(table: &Table<'_, '_>) -> Result<ModelConfig, ConfigError> {
    table.deny_unknown(MODEL_KEYS)?;
    let dtype = table
        .opt("dtype", |v| v.choice(DTYPES))?
        .unwrap_or(DType::F32);
    let Some(value) = table.get("layers") else {
        return Err(table
            .error_here("missing required key `layers`; add at least one [[model.layers]] table"));
    };
    let tables = value.tables()?;
    if tables.is_empty() {
        return Err(value.error("at least one layer is required"));
    }
    if tables.len() > MAX_LAYERS {
        return Err(value.error(format!(
            "too many layers: {} (at most {MAX_LAYERS})",
            tables.len()
        )));
    }
    let layers = tables.iter().map(layer).collect::<Result<Vec<_>, _>>()?;
    Ok(ModelConfig { dtype, layers })
}

/// Caps on counts that size allocations or loops. They are far above any
/// real MLP; the memory estimate (`guard`) decides what actually fits.
pub const MAX_LAYERS: usize = 1000;
/// Units of one layer, and the window caps: the kinds' own.
pub use crate::engine::layers::kind::MAX_UNITS;
/// `[gradcheck] directions` and `samples_per_tensor`: each costs two forward
/// passes, so more than this would run for hours with no gain in power.
pub const MAX_GRADCHECK_COUNT: usize = 10_000;

/// One `[[model.layers]]` entry. `kind` (default "dense") decides which
/// keys apply; a key of another kind is an error naming the kinds it
/// belongs to. The kind reads its own keys (`Settings::parse` in its file,
/// through [`LayerEntry`]); whether shapes fit is checked once the data's
/// shape is known (`check_shapes`).
fn layer(table: &Table<'_, '_>) -> Result<LayerConfig, ConfigError> {
    let all_keys = layer_keys();
    table.deny_unknown(&all_keys)?;
    let kind_name = table
        .opt("kind", |v| {
            let choices: Vec<(&str, &str)> = layers::registry::names().map(|n| (n, n)).collect();
            v.choice(&choices)
        })?
        .unwrap_or("dense");
    let allowed = kind_keys(kind_name);
    let misplaced = all_keys
        .iter()
        .filter(|k| **k != "kind" && !allowed.contains(k))
        .filter_map(|k| Some((*k, table.get(k)?)))
        .min_by_key(|(_, v)| v.key_start());
    if let Some((key, value)) = misplaced {
        let owners: Vec<String> = layers::registry::names()
            .filter(|n| kind_keys(n).contains(&key))
            .map(|n| format!("\"{n}\""))
            .collect();
        return Err(value.key_error(format!(
            "applies only to kind = {}; this layer has kind = \"{kind_name}\"",
            owners.join(" or ")
        )));
    }
    let kind = match layers::registry::parse(kind_name, &LayerEntry(table)) {
        Some(kind) => kind?,
        // `kind` was one of the registry's names just above.
        None => return Err(table.error_here(format!("unknown layer kind {kind_name:?}"))),
    };
    let activation = if allowed.contains(&"activation") {
        table.req("activation", activation)?
    } else {
        Activation::Linear
    };
    Ok(LayerConfig::new(
        kind,
        activation,
        init(table, activation)?,
        table.opt("bias_init", Value::finite)?.unwrap_or(0.0),
    ))
}

/// A layer entry as the kinds read it (`engine::layers::Entry`): the same
/// typed views and messages as every other key of the file.
struct LayerEntry<'t, 'a, 'i>(&'t Table<'a, 'i>);

impl Entry for LayerEntry<'_, '_, '_> {
    type Error = ConfigError;

    fn count(&self, key: &str, min: usize, max: usize) -> Result<Option<usize>, ConfigError> {
        self.0.opt(key, |v| v.count_in(min, max))
    }

    /// One size, or `[height, width]`.
    fn count_pair(
        &self,
        key: &str,
        min: usize,
        max: usize,
    ) -> Result<Option<(usize, usize)>, ConfigError> {
        self.0.opt(key, |value| {
            if let Ok(items) = value.items() {
                return match items.as_slice() {
                    [h, w] => Ok((h.count_in(min, max)?, w.count_in(min, max)?)),
                    _ => Err(value.error(format!(
                        "expected one size or [height, width], found {}",
                        value.literal()
                    ))),
                };
            }
            let k = value.count_in(min, max)?;
            Ok((k, k))
        })
    }

    fn number(
        &self,
        key: &str,
        ok: fn(f64) -> bool,
        what: &str,
    ) -> Result<Option<f64>, ConfigError> {
        self.0.opt(key, |v| {
            let x = v.number()?;
            if ok(x) {
                Ok(x)
            } else {
                Err(v.error(format!("must be {what}, found {}", v.literal())))
            }
        })
    }

    fn name_or_count<T: Copy>(
        &self,
        key: &str,
        names: &[(&str, T)],
        max: usize,
    ) -> Result<Option<NameOrCount<T>>, ConfigError> {
        self.0.opt(key, |value| {
            if value.is_string() {
                return value.choice(names).map(NameOrCount::Name);
            }
            let n = value.integer(0)?;
            usize::try_from(n)
                .ok()
                .filter(|&n| n <= max)
                .map(NameOrCount::Count)
                .ok_or_else(|| {
                    value.error(format!("too large: {} (at most {max})", value.literal()))
                })
        })
    }

    fn missing(&self, key: &str) -> ConfigError {
        self.0.missing_key(key)
    }
}

/// A layer's activation. A softmax on a hidden layer is a mistake, not bad
/// input: it trains and is diagnosed (`hidden-softmax`).
fn activation(value: &Value<'_, '_>) -> Result<Activation, ConfigError> {
    let choices = Activation::ALL.map(|a| (a.name(), a));
    value.choice(&choices)
}

/// The default initialiser suits the activation: He for the ReLU family,
/// Xavier for the rest.
fn default_init(activation: Activation) -> Init {
    match activation {
        Activation::Relu | Activation::LeakyRelu | Activation::Elu => Init::HeNormal,
        _ => Init::XavierUniform,
    }
}

/// A layer's weight initialiser and its parameters.
fn init(table: &Table<'_, '_>, activation: Activation) -> Result<Init, ConfigError> {
    let init = table
        .opt("init", |v| v.choice(INITS))?
        .unwrap_or_else(|| default_init(activation));
    reject_inapplicable(table, "init", name_of(INITS, &init), INIT_KEYS)?;
    match init {
        Init::Normal { std } => Ok(Init::Normal {
            std: table.opt("init_std", Value::positive)?.unwrap_or(std),
        }),
        Init::Uniform { low, high } => uniform(table, low, high),
        other => Ok(other),
    }
}

/// `init = "uniform"`: U[low, high) needs low < high.
fn uniform(table: &Table<'_, '_>, low: f64, high: f64) -> Result<Init, ConfigError> {
    let low = table.opt("init_low", Value::finite)?.unwrap_or(low);
    let high = table.opt("init_high", Value::finite)?.unwrap_or(high);
    if low < high {
        return Ok(Init::Uniform { low, high });
    }
    let shown = |key: &str, value: f64| {
        table
            .get(key)
            .map_or_else(|| format!("{value} by default"), |v| v.literal())
    };
    Err(match (table.get("init_low"), table.get("init_high")) {
        (Some(v), _) => v.error(format!(
            "must be less than init_high ({}), found {}",
            shown("init_high", high),
            v.literal()
        )),
        (None, Some(v)) => v.error(format!(
            "must be greater than init_low ({}), found {}",
            shown("init_low", low),
            v.literal()
        )),
        (None, None) => table.error_here("init_low must be less than init_high"),
    })
}

// ----- [train] -----

const TRAIN_KEYS: &[&str] = &[
    "loss",
    "optimizer",
    "momentum",
    "beta1",
    "beta2",
    "eps",
    "alpha",
    "lr_decay",
    "weight_decay",
    "huber_delta",
    "learning_rate",
    "batch_size",
    "steps",
    "epochs",
    "clip_grad_norm",
    "eval_every",
];

const LOSSES: &[(&str, LossKind)] = &[
    ("mse", LossKind::Mse),
    ("cross_entropy", LossKind::CrossEntropy),
    ("binary_cross_entropy", LossKind::BinaryCrossEntropy),
    ("mae", LossKind::Mae),
    ("huber", LossKind::Huber { delta: 1.0 }),
];

/// The keys that belong to one loss only.
const LOSS_KEYS: &[(&str, &[&str])] = &[("huber", &["huber_delta"])];

/// Optimizers, carrying their default hyper-parameters.
pub(super) const OPTIMIZERS: &[(&str, OptimizerConfig)] = &[
    ("sgd", OptimizerConfig::Sgd),
    ("momentum", OptimizerConfig::Momentum { momentum: 0.9 }),
    (
        "adam",
        OptimizerConfig::Adam {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
        },
    ),
    (
        "rmsprop",
        OptimizerConfig::Rmsprop {
            alpha: 0.99,
            eps: 1e-8,
        },
    ),
    (
        "adagrad",
        OptimizerConfig::Adagrad {
            lr_decay: 0.0,
            eps: 1e-10,
        },
    ),
    (
        "adamax",
        OptimizerConfig::Adamax {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
        },
    ),
];

/// The keys that belong to some optimizers only (a key may have several
/// owners: `eps` is Adam's, RMSprop's, Adagrad's and Adamax's).
pub(super) const OPTIMIZER_KEYS: &[(&str, &[&str])] = &[
    ("momentum", &["momentum"]),
    ("adam", &["beta1", "beta2", "eps"]),
    ("rmsprop", &["alpha", "eps"]),
    ("adagrad", &["lr_decay", "eps"]),
    ("adamax", &["beta1", "beta2", "eps"]),
];

/// `[train]`: loss, optimizer and schedule. Whether the loss fits the output
/// layer is diagnosed after training (`output-loss-mismatch`), not refused.
fn train(table: &Table<'_, '_>) -> Result<TrainConfig, ConfigError> {
    table.deny_unknown(TRAIN_KEYS)?;
    Ok(TrainConfig {
        loss: loss_with_parameters(table)?,
        optimizer: optimizer(table)?,
        learning_rate: table.req("learning_rate", Value::positive)?,
        weight_decay: table
            .opt("weight_decay", Value::non_negative)?
            .unwrap_or(0.0),
        batch_size: table.req("batch_size", |v| v.count(1))?,
        duration: duration(table)?,
        clip_grad_norm: table.opt("clip_grad_norm", Value::positive)?,
        eval_every: table.opt("eval_every", |v| v.count(1))?.unwrap_or(100),
    })
}

/// The loss. Any output activation is accepted: a cross-entropy over an
/// output that is not a probability is a mistake the run diagnoses
/// (`output-loss-mismatch`), computed on the clipped output as Keras does.
fn loss(value: &Value<'_, '_>) -> Result<LossKind, ConfigError> {
    value.choice(LOSSES)
}

/// The loss and its parameter (`huber_delta`, default 1 as in PyTorch).
fn loss_with_parameters(table: &Table<'_, '_>) -> Result<LossKind, ConfigError> {
    let loss = table.req("loss", loss)?;
    reject_inapplicable(table, "loss", name_of(LOSSES, &loss), LOSS_KEYS)?;
    Ok(match loss {
        LossKind::Huber { delta } => LossKind::Huber {
            delta: table.opt("huber_delta", Value::positive)?.unwrap_or(delta),
        },
        other => other,
    })
}

/// The optimizer and its hyper-parameters (defaults from `OPTIMIZERS`).
fn optimizer(table: &Table<'_, '_>) -> Result<OptimizerConfig, ConfigError> {
    let optimizer = table
        .opt("optimizer", |v| v.choice(OPTIMIZERS))?
        .unwrap_or(OptimizerConfig::Sgd);
    reject_inapplicable(
        table,
        "optimizer",
        name_of(OPTIMIZERS, &optimizer),
        OPTIMIZER_KEYS,
    )?;
    Ok(match optimizer {
        OptimizerConfig::Sgd => OptimizerConfig::Sgd,
        OptimizerConfig::Momentum { momentum } => OptimizerConfig::Momentum {
            momentum: table.opt("momentum", Value::fraction)?.unwrap_or(momentum),
        },
        OptimizerConfig::Adam { beta1, beta2, eps } => OptimizerConfig::Adam {
            beta1: table.opt("beta1", Value::fraction)?.unwrap_or(beta1),
            beta2: table.opt("beta2", Value::fraction)?.unwrap_or(beta2),
            eps: table.opt("eps", Value::positive)?.unwrap_or(eps),
        },
        OptimizerConfig::Rmsprop { alpha, eps } => OptimizerConfig::Rmsprop {
            alpha: table.opt("alpha", Value::fraction)?.unwrap_or(alpha),
            eps: table.opt("eps", Value::positive)?.unwrap_or(eps),
        },
        OptimizerConfig::Adagrad { lr_decay, eps } => OptimizerConfig::Adagrad {
            lr_decay: table
                .opt("lr_decay", Value::non_negative)?
                .unwrap_or(lr_decay),
            eps: table.opt("eps", Value::positive)?.unwrap_or(eps),
        },
        OptimizerConfig::Adamax { beta1, beta2, eps } => OptimizerConfig::Adamax {
            beta1: table.opt("beta1", Value::fraction)?.unwrap_or(beta1),
            beta2: table.opt("beta2", Value::fraction)?.unwrap_or(beta2),
            eps: table.opt("eps", Value::positive)?.unwrap_or(eps),
        },
    })
}

/// Training length: `steps` wins over `epochs`; one of them is required.
fn duration(table: &Table<'_, '_>) -> Result<Duration, ConfigError> {
    let steps = table.opt("steps", |v| v.count(1))?;
    let epochs = table.opt("epochs", |v| v.count(1))?;
    match (steps, epochs) {
        (Some(steps), _) => Ok(Duration::Steps(steps)),
        (None, Some(epochs)) => Ok(Duration::Epochs(epochs)),
        (None, None) => Err(table.error_here("missing required key `steps` (or `epochs`)")),
    }
}

// ----- [monitor], [report] -----

const MONITOR_KEYS: &[&str] = &["every"];

/// `[monitor]` (optional): how often layer statistics are recorded.
fn monitor(table: Option<&Table<'_, '_>>) -> Result<MonitorConfig, ConfigError> {
    let Some(table) = table else {
        return Ok(MonitorConfig { every: 1 });
    };
    table.deny_unknown(MONITOR_KEYS)?;
    Ok(MonitorConfig {
        every: table.opt("every", |v| v.count(1))?.unwrap_or(1),
    })
}

const REPORT_KEYS: &[&str] = &["dir"];

/// `[report]` (optional): where the report goes. The directory stays
/// relative to the working directory, like any output path on a command line.
fn report(table: Option<&Table<'_, '_>>) -> Result<ReportConfig, ConfigError> {
    let Some(table) = table else {
        return Ok(ReportConfig { dir: None });
    };
    table.deny_unknown(REPORT_KEYS)?;
    Ok(ReportConfig {
        dir: table
            .opt("dir", Value::non_empty_string)?
            .map(PathBuf::from),
    })
}

const GRADCHECK_KEYS: &[&str] = &[
    "at",
    "batch",
    "samples_per_tensor",
    "directions",
    "epsilon",
    "rtol",
    "atol",
];

/// `[gradcheck]`: when and how finely gradients are checked.
fn gradcheck(table: Option<&Table<'_, '_>>) -> Result<GradcheckConfig, ConfigError> {
    let d = GradcheckConfig::default();
    let Some(table) = table else {
        return Ok(d);
    };
    table.deny_unknown(GRADCHECK_KEYS)?;
    let at = match table.get("at") {
        Some(v) => v
            .items()?
            .iter()
            .map(check_point)
            .collect::<Result<Vec<_>, _>>()?,
        None => d.at,
    };
    Ok(GradcheckConfig {
        at,
        batch: table.opt("batch", |v| v.count(1))?.unwrap_or(d.batch),
        samples_per_tensor: table
            .opt("samples_per_tensor", |v| v.count_in(0, MAX_GRADCHECK_COUNT))?
            .unwrap_or(d.samples_per_tensor),
        directions: table
            .opt("directions", |v| v.count_in(0, MAX_GRADCHECK_COUNT))?
            .unwrap_or(d.directions),
        epsilon: table.opt("epsilon", Value::positive)?.unwrap_or(d.epsilon),
        rtol: table.opt("rtol", Value::positive)?.unwrap_or(d.rtol),
        atol: table.opt("atol", Value::positive)?.unwrap_or(d.atol),
    })
}

/// "init", "end", or a step number (>= 1).
fn check_point(v: &Value<'_, '_>) -> Result<CheckPoint, ConfigError> {
    if v.is_string() {
        v.choice(&[("init", CheckPoint::Init), ("end", CheckPoint::End)])
    } else {
        v.count(1).map(CheckPoint::Step)
    }
}

/// `[thresholds]`: overrides of the diagnosis thresholds, each a positive
/// number named like a field of `diagnose::Thresholds`.
fn thresholds(table: Option<&Table<'_, '_>>) -> Result<Vec<(String, f64)>, ConfigError> {
    let Some(table) = table else {
        return Ok(Vec::new());
    };
    let names = super::thresholds::NAMES;
    table.deny_unknown(&names)?;
    let mut out = Vec::new();
    for name in names {
        if let Some(v) = table.opt(name, Value::positive)? {
            out.push((name.to_string(), v));
        }
    }
    if let Err((name, msg)) = super::thresholds::Thresholds::with_overrides(&out).validate() {
        return Err(match table.get(name) {
            Some(v) => v.error(msg),
            None => table.error_here(msg),
        });
    }
    Ok(out)
}

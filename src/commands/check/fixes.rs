//! `check --try-fixes`: turns the suggestions of an unhealthy run into
//! candidate configs, trains each for the same short budget, and reports
//! which clear the error diagnoses and how much the loss improves. Nothing
//! is applied silently: every candidate is written next to the report as a
//! config the user can read and run.

use super::CheckOptions;
use crate::assess::{Assessed, FailOn};
use crate::config::{Config, LossKind};
use crate::data::spec::{DataSpec, Task};
use crate::diagnose::{Code, Diagnosis, FixKind, Severity};
use crate::engine::activation::Activation;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use toml::{Table, Value};

/// Longest budget a candidate trains for, in steps.
pub const MAX_BUDGET: usize = 1000;

pub use crate::report::fix_result::{ErrorAt, FixResult};

/// A change to the config's TOML, derived from the diagnoses.
struct Fix {
    name: &'static str,
    changes: Vec<String>,
    apply: Box<dyn Fn(&mut Table)>,
}

/// The fixes the found codes' rules call for (their descriptors'
/// `fixes`).
fn wanted(diagnoses: &[Diagnosis]) -> BTreeSet<FixKind> {
    diagnoses
        .iter()
        .flat_map(|d| d.code.rule().fixes.iter().copied())
        .collect()
}

fn layers_mut(t: &mut Table) -> Vec<&mut Table> {
    t.get_mut("model")
        .and_then(Value::as_table_mut)
        .and_then(|m| m.get_mut("layers"))
        .and_then(Value::as_array_mut)
        .map(|a| a.iter_mut().filter_map(Value::as_table_mut).collect())
        .unwrap_or_default()
}

fn set(t: &mut Table, table: &str, key: &str, v: Value) {
    if let Some(tab) = t
        .entry(table)
        .or_insert_with(|| Value::Table(Table::new()))
        .as_table_mut()
    {
        tab.insert(key.to_string(), v);
    }
}

fn set_init(layer: &mut Table, init: &str) {
    layer.insert("init".into(), Value::String(init.into()));
    for k in ["init_low", "init_high", "init_std"] {
        layer.remove(k);
    }
    layer.insert("bias_init".into(), Value::Float(0.0));
}

/// The candidate fixes the diagnoses call for, plus all of them combined.
fn candidates(cfg: &Config, diagnoses: &[Diagnosis], input_max: f64, input_min: f64) -> Vec<Fix> {
    let mut fixes = single_fixes(cfg, diagnoses, input_max, input_min);
    if fixes.len() > 1 {
        // Boxed edits do not clone: build a second set to chain. relu-he
        // comes after fan-in-init, so it wins where both apply.
        let parts = single_fixes(cfg, diagnoses, input_max, input_min);
        let names: Vec<&str> = parts.iter().map(|f| f.name).collect();
        let changes: Vec<String> = std::iter::once(format!("all of: {}", names.join(", ")))
            .chain(parts.iter().flat_map(|f| f.changes.clone()))
            .collect();
        fixes.push(Fix {
            name: "combined",
            changes,
            apply: Box::new(move |t| parts.iter().for_each(|p| (p.apply)(t))),
        });
    }
    fixes
}

/// Each fix the diagnoses call for, on its own.
fn single_fixes(cfg: &Config, diagnoses: &[Diagnosis], input_max: f64, input_min: f64) -> Vec<Fix> {
    let mut fixes = Vec::new();
    let hidden_saturating = cfg
        .model
        .layers
        .iter()
        .rev()
        .skip(1)
        .any(|l| matches!(l.activation, Activation::Sigmoid | Activation::Tanh));
    let bounded_output = matches!(
        cfg.model.layers.last().map(|l| l.activation),
        Some(Activation::Softmax | Activation::Sigmoid)
    );
    let wanted = wanted(diagnoses);
    let want = |k: FixKind| wanted.contains(&k);
    if want(FixKind::FanInInit) {
        fixes.push(Fix {
            name: FixKind::FanInInit.name(),
            changes: vec![
                "init = xavier_uniform (he_normal for relu-family layers), bias_init = 0".into(),
            ],
            apply: Box::new(|t| {
                for l in layers_mut(t) {
                    let relu = matches!(
                        l.get("activation").and_then(Value::as_str),
                        Some("relu" | "leaky_relu" | "elu")
                    );
                    set_init(l, if relu { "he_normal" } else { "xavier_uniform" });
                }
            }),
        });
    }
    if want(FixKind::ReluHe) && hidden_saturating {
        fixes.push(Fix {
            name: FixKind::ReluHe.name(),
            changes: vec!["hidden sigmoid/tanh layers -> relu with init = he_normal; output layer init = xavier_uniform".into()],
            apply: Box::new(|t| {
                let mut layers = layers_mut(t);
                let n = layers.len();
                for (i, l) in layers.iter_mut().enumerate() {
                    if i + 1 < n {
                        l.insert("activation".into(), Value::String("relu".into()));
                        set_init(l, "he_normal");
                    } else {
                        set_init(l, "xavier_uniform");
                    }
                }
            }),
        });
    }
    if cfg.train.loss == LossKind::Mse && bounded_output && want(FixKind::CrossEntropy) {
        fixes.push(Fix {
            name: FixKind::CrossEntropy.name(),
            changes: vec!["loss = cross_entropy".into()],
            apply: Box::new(|t| set(t, "train", "loss", Value::String("cross_entropy".into()))),
        });
    }
    // A cross-entropy over an output that is not its probability: give the
    // last layer the activation the loss assumes.
    let output = cfg.model.layers.last().map(|l| l.activation);
    let wanted_output = match cfg.train.loss {
        LossKind::CrossEntropy if !bounded_output => Some("softmax"),
        // Categorical cross-entropy over several sigmoid units, one label
        // per sample: the softmax it assumes.
        LossKind::CrossEntropy
            if output == Some(Activation::Sigmoid)
                && cfg.data.task == Task::Classification
                && cfg.model.layers.last().is_some_and(|l| l.units > 1) =>
        {
            Some("softmax")
        }
        LossKind::BinaryCrossEntropy if output != Some(Activation::Sigmoid) => Some("sigmoid"),
        _ => None,
    };
    if let Some(activation) = wanted_output.filter(|_| want(FixKind::ProbabilityOutput)) {
        fixes.push(Fix {
            name: FixKind::ProbabilityOutput.name(),
            changes: vec![format!("output layer activation = {activation}")],
            apply: Box::new(move |t| {
                if let Some(last) = layers_mut(t).pop() {
                    last.insert("activation".into(), Value::String(activation.into()));
                }
            }),
        });
    }
    if want(FixKind::ScaleInputs) {
        let scale = if input_min >= 0.0 && input_max <= 255.0 {
            "unit"
        } else {
            "standardize"
        };
        fixes.push(Fix {
            name: FixKind::ScaleInputs.name(),
            changes: vec![format!("[data] scale = {scale}")],
            apply: Box::new(move |t| set(t, "data", "scale", Value::String(scale.into()))),
        });
    }
    let classes = cfg_classes(diagnoses);
    if let Some(classes) = classes.filter(|_| want(FixKind::UnitsPerClass)) {
        fixes.push(Fix {
            name: FixKind::UnitsPerClass.name(),
            changes: vec![format!(
                "output units = {classes}, activation = softmax, loss = cross_entropy"
            )],
            apply: Box::new(move |t| {
                if let Some(last) = layers_mut(t).pop() {
                    last.insert("units".into(), Value::Integer(classes as i64));
                    last.insert("activation".into(), Value::String("softmax".into()));
                }
                set(t, "train", "loss", Value::String("cross_entropy".into()));
            }),
        });
    }
    if want(FixKind::SigmoidOutput) {
        fixes.push(Fix {
            name: FixKind::SigmoidOutput.name(),
            changes: vec!["output activation = sigmoid".into()],
            apply: Box::new(|t| {
                if let Some(last) = layers_mut(t).pop() {
                    last.insert("activation".into(), Value::String("sigmoid".into()));
                }
            }),
        });
    }
    let hidden_softmax: Vec<usize> = cfg
        .model
        .layers
        .iter()
        .enumerate()
        .take(cfg.model.layers.len().saturating_sub(1))
        .filter(|(_, l)| l.activation == Activation::Softmax)
        .map(|(i, _)| i)
        .collect();
    if want(FixKind::HiddenRelu) && !hidden_softmax.is_empty() {
        fixes.push(Fix {
            name: FixKind::HiddenRelu.name(),
            changes: vec!["hidden softmax layers -> relu with init = he_normal".into()],
            apply: Box::new(move |t| {
                for (i, layer) in layers_mut(t).into_iter().enumerate() {
                    if hidden_softmax.contains(&i) {
                        layer.insert("activation".into(), Value::String("relu".into()));
                        set_init(layer, "he_normal");
                    }
                }
            }),
        });
    }
    if want(FixKind::ScaleTargets) {
        fixes.push(Fix {
            name: FixKind::ScaleTargets.name(),
            changes: vec!["[data] scale_targets = standardize".into()],
            apply: Box::new(|t| {
                set(
                    t,
                    "data",
                    "scale_targets",
                    Value::String("standardize".into()),
                )
            }),
        });
    }
    if want(FixKind::BnBatchSize) {
        fixes.push(Fix {
            name: FixKind::BnBatchSize.name(),
            changes: vec!["batch_size = 32 (batch norm needs batch statistics)".into()],
            apply: Box::new(|t| set(t, "train", "batch_size", Value::Integer(32))),
        });
    }
    let high_dropout: Vec<bool> = cfg
        .model
        .layers
        .iter()
        .map(|l| {
            l.kind
                .drop_rate()
                .is_some_and(|r| r >= crate::diagnose::DROPOUT_HIGH)
        })
        .collect();
    if want(FixKind::DropoutLower) {
        fixes.push(Fix {
            name: FixKind::DropoutLower.name(),
            changes: vec!["rate = 0.2 on the dropout layers with rate >= 0.5".into()],
            apply: Box::new(move |t| {
                // The config's entries, in order, are the TOML's `[[model.layers]]`.
                for (l, high) in layers_mut(t).into_iter().zip(&high_dropout) {
                    if *high {
                        l.insert("rate".into(), Value::Float(0.2));
                    }
                }
            }),
        });
    }
    let lr = cfg.train.learning_rate;
    // Units dead because their biases start negative: the init, not a step,
    // killed them, so zeroing those biases is the candidate to verify.
    let negative_relu_bias = cfg
        .model
        .layers
        .iter()
        .any(|l| l.activation.is_relu_family() && l.bias_init < 0.0);
    if want(FixKind::ZeroBias) && negative_relu_bias {
        fixes.push(Fix {
            name: FixKind::ZeroBias.name(),
            changes: vec!["bias_init = 0.0 on the relu-family layers".into()],
            apply: Box::new(|t| {
                for l in layers_mut(t) {
                    let relu = matches!(
                        l.get("activation").and_then(Value::as_str),
                        Some("relu" | "leaky_relu" | "elu")
                    );
                    let negative = l
                        .get("bias_init")
                        .and_then(|v| v.as_float().or_else(|| v.as_integer().map(|i| i as f64)))
                        .is_some_and(|b| b < 0.0);
                    if relu && negative {
                        l.insert("bias_init".into(), Value::Float(0.0));
                    }
                }
            }),
        });
    }
    if want(FixKind::LowerLr) {
        fixes.push(Fix {
            name: FixKind::LowerLr.name(),
            changes: vec![format!("learning_rate = {} (10x lower)", lr / 10.0)],
            apply: Box::new(move |t| set(t, "train", "learning_rate", Value::Float(lr / 10.0))),
        });
    } else if want(FixKind::HigherLr) {
        fixes.push(Fix {
            name: FixKind::HigherLr.name(),
            changes: vec![format!("learning_rate = {} (10x higher)", lr * 10.0)],
            apply: Box::new(move |t| set(t, "train", "learning_rate", Value::Float(lr * 10.0))),
        });
    }
    if want(FixKind::ClipGradients) {
        fixes.push(Fix {
            name: FixKind::ClipGradients.name(),
            changes: vec!["clip_grad_norm = 1.0".into()],
            apply: Box::new(|t| set(t, "train", "clip_grad_norm", Value::Float(1.0))),
        });
    }
    fixes
}

/// The class count `output-units-mismatch` recorded in its evidence.
fn cfg_classes(diagnoses: &[Diagnosis]) -> Option<u64> {
    diagnoses
        .iter()
        .find(|d| d.code == Code::OutputUnitsMismatch)
        .and_then(|d| d.evidence.get("classes"))
        .and_then(|v| v.as_u64())
}

/// The original config as a TOML table with data paths made absolute (the
/// candidate lives in the report directory, not beside the original).
fn base_table(cfg: &Config) -> Option<Table> {
    let mut t: Table = toml::from_str(&cfg.source).ok()?;
    let absolute = |p: &Path| {
        Value::String(
            std::path::absolute(p)
                .unwrap_or_else(|_| p.to_path_buf())
                .display()
                .to_string(),
        )
    };
    match &cfg.data.spec {
        DataSpec::Idx {
            train_images,
            train_labels,
            test_images,
            test_labels,
        } => {
            set(&mut t, "data", "train_images", absolute(train_images));
            set(&mut t, "data", "train_labels", absolute(train_labels));
            if let (Some(i), Some(l)) = (test_images, test_labels) {
                set(&mut t, "data", "test_images", absolute(i));
                set(&mut t, "data", "test_labels", absolute(l));
            }
        }
        DataSpec::Csv { train, test, .. } => {
            set(&mut t, "data", "train", absolute(train));
            if let Some(p) = test {
                set(&mut t, "data", "test", absolute(p));
            }
        }
        DataSpec::Synthetic { .. } => {}
    }
    t.remove("report");
    Some(t)
}

/// Error and warning codes (what a fix should clear).
fn serious(d: &[Diagnosis]) -> std::collections::BTreeSet<String> {
    d.iter()
        .filter(|d| d.severity >= Severity::Warning)
        .map(|d| d.code.to_string())
        .collect()
}

/// Whether a candidate's text describes the same training as `cfg` (model,
/// training settings, scaling): parsed, so `init = "xavier_uniform"` equals
/// an absent key whose default it is.
fn same_setup(cfg: &Config, path: &Path, text: &str) -> bool {
    match crate::config::parse(path, text) {
        Ok(c) => {
            c.model == cfg.model
                && c.train == cfg.train
                && c.data.scale == cfg.data.scale
                && c.data.train_limit == cfg.data.train_limit
                && c.data.scale_targets == cfg.data.scale_targets
                && c.data.task == cfg.data.task
        }
        Err(_) => false,
    }
}

/// The verified best candidate: it clears the most error and warning codes
/// of the original run, then introduces the fewest, then is the smallest
/// change (a single fix before the combination), then reaches the best test
/// accuracy. None when no candidate cleared anything.
pub fn best(fixes: &[FixResult]) -> Option<&FixResult> {
    fixes
        .iter()
        .filter(|f| !f.clears.is_empty())
        .max_by(|a, b| {
            (a.cleared_errors, a.clears.len())
                .cmp(&(b.cleared_errors, b.clears.len()))
                .then(b.introduces.len().cmp(&a.introduces.len()))
                .then(b.changes.len().cmp(&a.changes.len()))
                .then(
                    a.test_accuracy_after
                        .unwrap_or(f64::NEG_INFINITY)
                        .total_cmp(&b.test_accuracy_after.unwrap_or(f64::NEG_INFINITY)),
                )
        })
}

fn errors(d: &[Diagnosis]) -> Vec<String> {
    d.iter()
        .filter(|d| d.severity == Severity::Error)
        .map(|d| d.code.to_string())
        .collect()
}

/// Runs every candidate the diagnoses call for; writes `fixes/<name>.toml`
/// and `fixes/<name>/` (a full report) under `report_dir`.
pub fn try_fixes(
    cfg: &Config,
    before: &Assessed,
    out: &crate::report::write::ReportDir,
    steps: usize,
) -> Vec<FixResult> {
    let s = &before.summary;
    let Some(base) = base_table(cfg) else {
        return Vec::new();
    };
    let Ok(dir) = out.fresh_subdir("fixes") else {
        return Vec::new();
    };
    let budget = steps.clamp(1, MAX_BUDGET);
    let pf = &s.preflight.input;
    let mut out = Vec::new();
    for fix in candidates(cfg, &s.diagnoses, pf.max, pf.min) {
        let mut t = base.clone();
        (fix.apply)(&mut t);
        // The candidate's name must itself be a safe name (a config named
        // by an odd file stem, or a long one, would not give one).
        let name = format!("{}-{}", cfg.name, fix.name);
        let name = match crate::safe_name::check(&name) {
            Ok(_) => name,
            Err(_) => fix.name.to_string(),
        };
        t.insert("name".into(), Value::String(name));
        let path: PathBuf = dir.join(format!("{}.toml", fix.name));
        let header = format!("# Candidate fix \"{}\" for {} (written by nn-doctor check --try-fixes)\n# Changes: {}\n", fix.name, cfg.path.display(), fix.changes.join("; "));
        let Ok(text) = toml::to_string(&t) else {
            continue;
        };
        // A candidate identical to the config would train the same network
        // again: it is not a fix, so it is not trained.
        if same_setup(cfg, &path, &text) {
            continue;
        }
        if crate::report::write::write_atomic(&path, (header + &text).as_bytes()).is_err() {
            continue;
        }
        let opts = CheckOptions {
            config: path,
            out: Some(dir.join(fix.name)),
            steps: Some(budget),
            fail_on: FailOn::Never,
            flaw: None,
            try_fixes: false,
            // The candidates run the checks the original ran: a run checked
            // with --no-gradcheck is compared with unchecked candidates.
            no_gradcheck: s.gradcheck.is_none(),
            gradcheck_notify: None,
            seed: Some(cfg.seed),
            stop_when_diagnosed: false,
        };
        let Ok(after) = super::run(&opts, &mut |_, _, _| {}) else {
            continue;
        };
        if after.summary.interrupted {
            // Ctrl-C: report the candidates that finished, not a cut-short one.
            break;
        }
        let a = &after.summary;
        let (lb, la) = (s.final_.loss, a.final_.loss);
        // Standardized targets put the loss in other units: not comparable.
        let same_loss =
            a.network.loss == s.network.loss && a.preflight.task.scaled == s.preflight.task.scaled;
        let before_codes = serious(&s.diagnoses);
        let after_codes = serious(&a.diagnoses);
        out.push(FixResult {
            name: fix.name.to_string(),
            changes: fix.changes,
            config: format!("fixes/{}.toml", fix.name),
            steps: budget,
            errors_before: errors(&s.diagnoses),
            errors_after: errors(&a.diagnoses),
            cleared_errors: errors(&a.diagnoses).is_empty(),
            loss_before: lb,
            loss_after: la,
            loss_improvement: lb
                .zip(la)
                .filter(|_| same_loss)
                .map(|(b, a)| (b - a) / b.abs().max(f64::MIN_POSITIVE)),
            test_accuracy_before: s.final_.test_accuracy,
            test_accuracy_after: a.final_.test_accuracy,
            loss_function_before: s.network.loss,
            loss_function_after: a.network.loss,
            errors_left: a
                .diagnoses
                .iter()
                .filter(|d| d.severity == Severity::Error)
                .map(|d| ErrorAt {
                    code: d.code.to_string(),
                    layer: d.layer,
                })
                .collect(),
            clears: before_codes.difference(&after_codes).cloned().collect(),
            leaves: before_codes.intersection(&after_codes).cloned().collect(),
            introduces: after_codes.difference(&before_codes).cloned().collect(),
            same_loss_function: same_loss,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = r#"
name = "drop"
[data]
source = "synthetic"
generator = "spirals"
samples = 60
classes = 3
[[model.layers]]
units = 8
activation = "relu"
[[model.layers]]
kind = "dropout"
rate = 0.9
[[model.layers]]
kind = "dropout"
rate = 0.1
[[model.layers]]
units = 3
activation = "softmax"
[train]
loss = "cross_entropy"
learning_rate = 0.01
batch_size = 8
steps = 10
"#;

    /// Truth: the config text above; only the dropout entry at or above
    /// DROPOUT_HIGH is lowered, the others keep their keys.
    #[test]
    fn dropout_lower_edits_only_the_high_dropout_entries() {
        let cfg = crate::config::parse(Path::new("drop.toml"), CONFIG).unwrap();
        let d = Diagnosis::new(Code::DropoutTooHigh, Severity::Error, "x");
        let fixes = candidates(&cfg, &[d], 1.0, -1.0);
        let fix = fixes
            .iter()
            .find(|f| f.name == FixKind::DropoutLower.name())
            .expect("dropout-lower is a candidate");
        let mut t = base_table(&cfg).unwrap();
        (fix.apply)(&mut t);
        let rates: Vec<Option<f64>> = layers_mut(&mut t)
            .iter()
            .map(|l| l.get("rate").and_then(Value::as_float))
            .collect();
        assert_eq!(rates, [None, Some(0.2), Some(0.1), None]);
    }
}

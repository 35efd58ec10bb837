//! Which rules a recorded run supports. Each rule needs certain facts or
//! columns; when the run lacks them the rule is listed as skipped with the
//! reason, and the pre-flight facts it would have read are filled with
//! neutral placeholders that no rule output is kept from.

use super::facts::{LossInput, RunFacts};
use crate::config::{LossKind, OptimizerConfig};
use crate::diagnose::preflight::{expected_initial_loss, InputStats, Preflight};
use crate::diagnose::rule::Need;
use crate::diagnose::{Skipped, RULES};
use crate::engine::activation::Activation;
use std::collections::BTreeSet;

/// The pre-flight facts the rules read, and the rules that cannot run.
pub fn preflight_and_skipped(
    facts: &RunFacts,
    missing_columns: &BTreeSet<&'static str>,
    has_test_accuracy: bool,
) -> (Preflight, Vec<Skipped>) {
    let mut skipped = Vec::new();
    let pf = facts.preflight.clone().unwrap_or_default();
    let net = &facts.network;
    let output = net
        .layers
        .last()
        .map_or(Activation::Linear, |l| l.activation);
    let classes = pf
        .classes
        .or(facts.data.as_ref().map(|d| d.classes))
        .unwrap_or(0);
    let batch_size = pf.batch_size.or(net.batch_size);
    let test_samples = pf
        .test_samples
        .or(facts.data.as_ref().map(|d| d.test_samples))
        .unwrap_or(0);

    let chance = pf.chance_accuracy;
    let accuracy_known = (has_test_accuracy && test_samples > 0)
        || (!missing_columns.contains("batch_accuracy") && batch_size.is_some());
    // Each rule's first unmet need is its reason for being skipped.
    let unmet = |need: &Need| -> Option<String> {
        match *need {
            Need::NanWatch => facts.nan_origin.is_none().then(|| "the run does not say whether it watched for NaN/Inf (no `nan_origin` key in summary.json)".into()),
            Need::GradientCheck => facts.gradcheck.as_ref().is_none_or(|g| g.is_null()).then(|| "no gradient check was recorded (`nn-doctor gradcheck` checks a config's backward pass; autograd frameworks are not finite-difference checked here)".into()),
            Need::InputStats => pf.input.is_none().then(|| "no input statistics recorded (`preflight.input`)".into()),
            Need::InitialWeights => pf.layers.is_none().then(|| "no initial weight statistics recorded (`preflight.layers`)".into()),
            Need::Column(column) => missing_columns.contains(column).then(|| format!("metrics.csv has no `{column}` column")),
            Need::LearningRate => net.learning_rate.is_none().then(|| "no learning rate recorded (`network.learning_rate`)".into()),
            Need::NamedLoss => net.loss.is_none().then(|| "the loss is not one nn-doctor names (`network.loss`: mse, cross_entropy or binary_cross_entropy) or was not recorded".into()),
            Need::ChanceAccuracy => chance.is_none().then(|| "no chance accuracy recorded (`preflight.chance_accuracy`: the majority-class rate)".into()),
            Need::Accuracy => (!accuracy_known).then(|| "no accuracy recorded (loss.csv `batch_accuracy` with `network.batch_size`, or `test_accuracy` with the test set size)".into()),
        }
    };
    for rule in RULES {
        if let Some(reason) = rule.needs.iter().find_map(unmet) {
            skipped.push(Skipped {
                code: rule.name.to_string(),
                reason,
            });
        }
    }
    for earlier in &facts.skipped {
        if !skipped.iter().any(|s| s.code == earlier.code) {
            skipped.push(earlier.clone());
        }
    }
    let loss = net
        .loss
        .unwrap_or(LossKind::CrossEntropy)
        .with_delta(net.huber_delta);
    // PyTorch's nn.CrossEntropyLoss and nn.BCEWithLogitsLoss apply their own
    // softmax / sigmoid; the recorder's `cross_entropy` names the first. Its loss over a linear output is softmax +
    // cross-entropy, so the expected initial loss is the softmax one.
    let from_torch = facts
        .producer
        .as_deref()
        .is_some_and(|p| p.starts_with("nn_doctor_torch"));
    let loss_takes_logits = loss.is_cross_entropy()
        && match net.loss_input {
            Some(input) => input == LossInput::Logits,
            None => pf.loss_takes_logits.unwrap_or(from_torch),
        };
    let as_scored = if loss_takes_logits && output == Activation::Linear {
        Activation::Softmax
    } else {
        output
    };
    let preflight = Preflight {
        input: pf.input.unwrap_or_else(no_input),
        layers: pf.layers.unwrap_or_default(),
        classes,
        loss,
        learning_rate: net.learning_rate.unwrap_or(f64::NAN),
        optimizer: net.optimizer.unwrap_or(OptimizerConfig::Sgd),
        expected_initial_loss: pf.expected_initial_loss.or_else(|| {
            expected_initial_loss(loss, as_scored, classes).filter(|_| net.loss.is_some())
        }),
        chance_accuracy: chance.unwrap_or(f64::NAN),
        output,
        test_samples,
        batch_size: batch_size.unwrap_or(1),
        class_counts: pf.class_counts.unwrap_or_default(),
        test_class_counts: pf.test_class_counts.unwrap_or_default(),
        task: pf.task.unwrap_or_default(),
        dropout: pf.dropout.unwrap_or_default(),
        loss_takes_logits,
    };
    (preflight, skipped)
}

/// Placeholder input statistics; the rules reading them are skipped.
fn no_input() -> InputStats {
    InputStats {
        samples: 0,
        features: 0,
        nonfinite: 0,
        first_nonfinite: None,
        min: f64::NAN,
        max: f64::NAN,
        rms: f64::NAN,
        feature_scale_max: f64::NAN,
        feature_scale_min_nonzero: f64::NAN,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(json: &str) -> RunFacts {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn a_bare_run_skips_every_rule_it_cannot_feed() {
        let f = facts(
            r#"{"run_format": 1, "network": {"layers": [
            {"layer": 1, "units": 2, "fan_in": 3, "activation": "relu"}]}}"#,
        );
        let missing: BTreeSet<&str> = ["dead_frac", "batch_accuracy"].into_iter().collect();
        let (_, skipped) = preflight_and_skipped(&f, &missing, false);
        let codes: Vec<&str> = skipped.iter().map(|s| s.code.as_str()).collect();
        for c in [
            "non-finite",
            "gradient-mismatch",
            "non-finite-data",
            "unscaled-inputs",
            "poor-initialization",
            "dead-relus",
            "lr-too-high",
            "lr-too-low",
            "output-loss-mismatch",
            "accuracy-at-chance",
        ] {
            assert!(codes.contains(&c), "{c} not skipped: {codes:?}");
        }
        assert!(!codes.contains(&"vanishing-gradients") && !codes.contains(&"loss-plateau"));
    }

    #[test]
    fn a_full_run_skips_nothing_but_the_gradient_check() {
        let f = facts(
            r#"{"run_format": 1, "nan_origin": null,
            "network": {"layers": [{"layer": 1, "units": 2, "fan_in": 3, "activation": "softmax"}],
                        "loss": "mse", "learning_rate": 0.1, "batch_size": 4},
            "preflight": {"chance_accuracy": 0.5, "classes": 2, "layers": [],
                          "input": {"samples": 4, "features": 3, "nonfinite": 0, "first_nonfinite": null,
                                    "min": 0, "max": 1, "rms": 0.5, "feature_scale_max": 1,
                                    "feature_scale_min_nonzero": 1}}}"#,
        );
        let (pf, skipped) = preflight_and_skipped(&f, &BTreeSet::new(), false);
        let codes: Vec<&str> = skipped.iter().map(|s| s.code.as_str()).collect();
        assert_eq!(codes, vec!["gradient-mismatch"]);
        // Analytic: softmax + MSE over 2 classes, (1 - 1/2) / 2.
        assert_eq!(pf.expected_initial_loss, Some(0.25));
        assert_eq!(pf.output, Activation::Softmax);
    }

    /// Truth: the run format's `network.loss_input` and the producer (the
    /// PyTorch recorder's `cross_entropy` is nn.CrossEntropyLoss, which
    /// takes logits); an explicit value wins, an unknown one is refused.
    #[test]
    fn a_loss_takes_logits_as_the_run_says_or_its_producer_implies() {
        let logits = |f: &RunFacts| {
            preflight_and_skipped(f, &BTreeSet::new(), false)
                .0
                .loss_takes_logits
        };
        let own = facts(
            r#"{"run_format": 1, "network": {"layers": [
            {"layer": 1, "units": 3, "fan_in": 2, "activation": "linear"}], "loss": "cross_entropy"}}"#,
        );
        assert!(
            !logits(&own),
            "nn-doctor's cross-entropy takes probabilities"
        );
        let torch = facts(
            r#"{"run_format": 1, "producer": "nn_doctor_torch 1", "network": {"layers": [
            {"layer": 1, "units": 3, "fan_in": 2, "activation": "linear"}], "loss": "cross_entropy"},
            "preflight": {"classes": 3}}"#,
        );
        assert!(logits(&torch));
        let (pf, _) = preflight_and_skipped(&torch, &BTreeSet::new(), false);
        assert_eq!(
            pf.expected_initial_loss,
            Some(3f64.ln()),
            "softmax + CE over 3 classes"
        );
        let said = facts(
            r#"{"run_format": 1, "producer": "nn_doctor_torch 1", "network": {"layers": [
            {"layer": 1, "units": 3, "fan_in": 2, "activation": "linear"}], "loss": "cross_entropy",
            "loss_input": "probabilities"}}"#,
        );
        assert!(!logits(&said));
        let bad: Result<RunFacts, _> = serde_json::from_str(
            r#"{"run_format": 1, "network": {"layers": [], "loss_input": "logit"}}"#,
        );
        assert!(bad.unwrap_err().to_string().contains("logit"));
    }
}

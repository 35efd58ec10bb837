//! The rule registry: every diagnosis rule's descriptor, one line each, in
//! causal order (the order of [`Code`](super::code::Code); a test checks
//! it). A new rule is its function and descriptor in a family file plus a
//! variant and one line here.

use super::rule::Rule;
use super::{
    activation_rules, architecture_rules, data_rules, fit_rules, gradcheck_rule, gradient_rules,
    init_rules, layer_kind_rules, loss_rules, nonfinite_rule, task_rules, training_rules,
};

pub const RULES: [&Rule; 25] = [
    &gradcheck_rule::GRADIENT_MISMATCH,
    &data_rules::NON_FINITE_DATA,
    &data_rules::UNSCALED_INPUTS,
    &task_rules::UNSCALED_TARGETS,
    &fit_rules::CLASS_IMBALANCE,
    &init_rules::POOR_INITIALIZATION,
    &architecture_rules::ONE_UNIT_SOFTMAX,
    &architecture_rules::OUTPUT_UNITS_MISMATCH,
    &architecture_rules::HIDDEN_SOFTMAX,
    &training_rules::OUTPUT_LOSS_MISMATCH,
    &architecture_rules::BATCH_NORM_SMALL_BATCH,
    &layer_kind_rules::DROPOUT_TOO_HIGH,
    &training_rules::LR_TOO_HIGH,
    &training_rules::LR_TOO_LOW,
    &activation_rules::SATURATED_ACTIVATIONS,
    &activation_rules::DEAD_RELUS,
    &gradient_rules::VANISHING_GRADIENTS,
    &gradient_rules::EXPLODING_GRADIENTS,
    &nonfinite_rule::NON_FINITE,
    &loss_rules::LOSS_DIVERGING,
    &training_rules::LOSS_OSCILLATING,
    &fit_rules::OVERFITTING,
    &loss_rules::LOSS_PLATEAU,
    &training_rules::ACCURACY_AT_CHANCE,
    &task_rules::NO_BETTER_THAN_MEAN,
];

//! The catalogue of known backprop mistakes. Each entry is a stable code, a
//! one-line explanation, the engine [`FlawKind`] that reproduces it (a
//! transformation of the correct backward pass) and the rule for when it can
//! show at all (a missing ReLU... derivative at a linear layer changes
//! nothing). Gradient checks use it to name the mistake a wrong tensor
//! matches, tests inject every entry to prove it is caught, and
//! `verify-trace` reuses it for other people's code.

use crate::config::LossKind;
use crate::engine::activation::Activation;
use crate::engine::flaw::FlawKind;

/// The shape of a network, as far as the catalogue's rules need it.
#[derive(Debug, Clone, PartialEq)]
pub struct Arch {
    /// Activation of each layer, layer 1 first.
    pub activations: Vec<Activation>,
    /// Input width, then the units of each layer.
    pub widths: Vec<usize>,
    pub loss: LossKind,
    pub batch: usize,
}

impl Arch {
    pub fn depth(&self) -> usize {
        self.activations.len()
    }
    fn units(&self, layer: usize) -> usize {
        self.widths.get(layer).copied().unwrap_or(0)
    }
    fn fan_in(&self, layer: usize) -> usize {
        self.widths.get(layer - 1).copied().unwrap_or(0)
    }
    fn activation(&self, layer: usize) -> Activation {
        self.activations
            .get(layer - 1)
            .copied()
            .unwrap_or(Activation::Linear)
    }
}

/// One known mistake.
#[derive(Debug, Clone, Copy)]
pub struct Entry {
    pub code: &'static str,
    pub explanation: &'static str,
    pub kind: FlawKind,
    /// Whether the mistake changes any gradient at 1-based `layer` of `arch`.
    pub applies: fn(&Arch, usize) -> bool,
}

/// Every entry, in the order they are tried when naming a mismatch (exact
/// structural mistakes first, plain factors last).
pub const CATALOGUE: [Entry; 9] = [
    Entry {
        code: "missing-output-derivative",
        explanation: "the output delta is dL/dy without the output activation's Jacobian (e.g. softmax + MSE with the softmax derivative set to 1)",
        kind: FlawKind::MissingOutputDerivative,
        applies: |a, l| l == a.depth() && a.loss == LossKind::Mse && a.activation(l) != Activation::Linear,
    },
    Entry {
        code: "missing-activation-derivative",
        explanation: "a hidden layer's delta is not multiplied by f'(z)",
        kind: FlawKind::MissingActivationDerivative,
        applies: |a, l| l < a.depth() && a.activation(l) != Activation::Linear,
    },
    Entry {
        code: "derivative-at-wrong-point",
        explanation: "f' is evaluated at the activation a = f(z) instead of at the pre-activation z",
        kind: FlawKind::DerivativeAtWrongPoint,
        applies: |a, l| {
            l < a.depth()
                && matches!(a.activation(l), Activation::Sigmoid | Activation::Tanh | Activation::Elu | Activation::Softplus)
        },
    },
    Entry {
        code: "wrong-weights-in-backprop",
        explanation: "the delta is propagated through the next layer's weights read in the wrong layout (reshaped, not transposed)",
        kind: FlawKind::WrongWeightsInBackprop,
        applies: |a, l| l < a.depth() && a.units(l) > 1 && a.units(l + 1) > 1,
    },
    Entry {
        code: "transposed-weight-gradient",
        explanation: "the weight gradient is computed as delta^T x and stored without transposing",
        kind: FlawKind::TransposedWeightGradient,
        applies: |a, l| a.fan_in(l) > 1 && a.units(l) > 1,
    },
    Entry {
        code: "wrong-layer-input",
        explanation: "the weight gradient is built from the wrong layer's activations (or from pre-activations instead of activations)",
        kind: FlawKind::WrongLayerInput,
        applies: |a, l| {
            let own_output_fits = a.units(l) == a.fan_in(l);
            let input_fits = l >= 2 && a.widths.first() == Some(&a.fan_in(l));
            let two_down_fits = l >= 3 && a.units(l - 2) == a.fan_in(l);
            let pre_differs = l >= 2 && a.activation(l - 1) != Activation::Linear;
            own_output_fits || input_fits || two_down_fits || pre_differs
        },
    },
    Entry {
        code: "bias-gradient-wrong-axis",
        explanation: "the bias gradient sums the delta over units instead of over the samples of the batch",
        kind: FlawKind::BiasGradientWrongAxis,
        applies: |_, _| true,
    },
    Entry {
        code: "sign-flipped",
        explanation: "the gradient has the wrong sign (the update climbs the loss)",
        kind: FlawKind::SignFlipped,
        applies: |_, _| true,
    },
    Entry {
        code: "batch-sum-not-mean",
        explanation: "the gradient is summed over the batch although the loss is a mean (too large by the batch size)",
        kind: FlawKind::BatchSumNotMean,
        applies: |a, _| a.batch > 1,
    },
];

/// The entry with this code.
pub fn entry(code: &str) -> Option<&'static Entry> {
    CATALOGUE.iter().find(|e| e.code == code)
}

/// Entries that can show at `layer` of `arch`.
pub fn applicable(arch: &Arch, layer: usize) -> impl Iterator<Item = &'static Entry> + '_ {
    CATALOGUE.iter().filter(move |e| (e.applies)(arch, layer))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seed_arch() -> Arch {
        Arch {
            activations: vec![Activation::Sigmoid, Activation::Softmax],
            widths: vec![784, 1000, 10],
            loss: LossKind::Mse,
            batch: 20,
        }
    }

    #[test]
    fn codes_are_unique_and_stable() {
        let mut codes: Vec<&str> = CATALOGUE.iter().map(|e| e.code).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), CATALOGUE.len());
        assert!(entry("missing-output-derivative").is_some());
    }

    #[test]
    fn the_mnist_case_applies_at_the_output_layer_only() {
        let a = seed_arch();
        let e = entry("missing-output-derivative").unwrap();
        assert!((e.applies)(&a, 2));
        assert!(!(e.applies)(&a, 1));
        // Under cross-entropy the output delta is a - t either way.
        let ce = Arch {
            loss: LossKind::CrossEntropy,
            ..a
        };
        assert!(!(e.applies)(&ce, 2));
    }

    #[test]
    fn relu_derivative_at_a_is_not_a_mistake() {
        // relu'(relu(z)) = relu'(z) for every z: nothing to catch.
        let a = Arch {
            activations: vec![Activation::Relu, Activation::Softmax],
            ..seed_arch()
        };
        assert!(!(entry("derivative-at-wrong-point").unwrap().applies)(
            &a, 1
        ));
    }
}

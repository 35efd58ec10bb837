//! The catalogue of known backprop mistakes. Each entry is a stable code, a
//! one-line explanation, the engine [`FlawKind`] that reproduces it (a
//! transformation of the correct backward pass) and the rule for when it can
//! show at all (a missing ReLU... derivative at a linear layer changes
//! nothing). Gradient checks use it to name the mistake a wrong tensor
//! matches, tests inject every entry to prove it is caught, and
//! `verify-trace` reuses it for other people's code.

use crate::config::LossKind;
use crate::engine::activation::Activation;
use crate::engine::flaw::cnn::CnnMistake;
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
    /// Kind of each layer ("dense", "conv2d", ...), layer 1 first.
    pub kinds: Vec<&'static str>,
    /// The convolutional mistakes that change the input gradient of each
    /// layer (a stride of 1 has no stride to get wrong), layer 1 first.
    pub cnn: Vec<Vec<CnnMistake>>,
}

impl Arch {
    /// Facts of an MLP (every layer dense).
    pub fn dense(
        activations: Vec<Activation>,
        widths: Vec<usize>,
        loss: LossKind,
        batch: usize,
    ) -> Self {
        let n = activations.len();
        Arch {
            activations,
            widths,
            loss,
            batch,
            kinds: vec!["dense"; n],
            cnn: vec![Vec::new(); n],
        }
    }

    pub fn depth(&self) -> usize {
        self.activations.len()
    }
    /// Whether 1-based `layer` is a dense layer.
    fn is_dense(&self, layer: usize) -> bool {
        self.kinds.get(layer.wrapping_sub(1)) == Some(&"dense")
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
    /// The entry's own rule (see [`Entry::shows`], which adds the layer
    /// kind's).
    pub applies: fn(&Arch, usize) -> bool,
}

impl Entry {
    /// Whether the mistake changes any gradient at 1-based `layer` of
    /// `arch`: a convolutional mistake where its layer kind can show it, a
    /// dense one at a dense layer (and a misread next layer that is dense)
    /// where its rule says so.
    pub fn shows(&self, arch: &Arch, layer: usize) -> bool {
        match self.kind {
            FlawKind::Cnn(m) => arch
                .cnn
                .get(layer.wrapping_sub(1))
                .is_some_and(|ms| ms.contains(&m)),
            FlawKind::WrongWeightsInBackprop => {
                arch.is_dense(layer) && arch.is_dense(layer + 1) && (self.applies)(arch, layer)
            }
            _ => arch.is_dense(layer) && (self.applies)(arch, layer),
        }
    }
}

/// The catalogue entry of a convolutional mistake.
const fn cnn(m: CnnMistake) -> Entry {
    Entry {
        code: m.code(),
        explanation: m.explanation(),
        kind: FlawKind::Cnn(m),
        applies: |_, _| true,
    }
}

/// Every entry, in the order they are tried when naming a mismatch (exact
/// structural mistakes first, plain factors last).
pub const CATALOGUE: [Entry; 18] = [
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
    cnn(CnnMistake::ConvKernelNotRotated),
    cnn(CnnMistake::ConvBackwardPadding),
    cnn(CnnMistake::ConvBackwardStride),
    cnn(CnnMistake::MaxpoolWrongElement),
    cnn(CnnMistake::MaxpoolSpread),
    cnn(CnnMistake::BatchnormStatsConstant),
    cnn(CnnMistake::DropoutNoMask),
    cnn(CnnMistake::DropoutNoScale),
    cnn(CnnMistake::FlattenOrder),
];

/// The entry with this code.
pub fn entry(code: &str) -> Option<&'static Entry> {
    CATALOGUE.iter().find(|e| e.code == code)
}

/// Entries that can show at `layer` of `arch`.
pub fn applicable(arch: &Arch, layer: usize) -> impl Iterator<Item = &'static Entry> + '_ {
    CATALOGUE.iter().filter(move |e| e.shows(arch, layer))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seed_arch() -> Arch {
        Arch::dense(
            vec![Activation::Sigmoid, Activation::Softmax],
            vec![784, 1000, 10],
            LossKind::Mse,
            20,
        )
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
        assert!(e.shows(&a, 2));
        assert!(!e.shows(&a, 1));
        // Under cross-entropy the output delta is a - t either way.
        let ce = Arch {
            loss: LossKind::CrossEntropy,
            ..a
        };
        assert!(!e.shows(&ce, 2));
    }

    #[test]
    fn relu_derivative_at_a_is_not_a_mistake() {
        // relu'(relu(z)) = relu'(z) for every z: nothing to catch.
        let a = Arch {
            activations: vec![Activation::Relu, Activation::Softmax],
            ..seed_arch()
        };
        assert!(!entry("derivative-at-wrong-point").unwrap().shows(&a, 1));
    }
}
